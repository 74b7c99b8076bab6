/*
 * tnd_record.c: the opening record. Once every current bid has its
 * outcome, the record lists every bid received (bidder name, USCC,
 * arrival by its time-stamp, SHA-256, size, whether it was current,
 * superseded or withdrawn, its outcome with the reason, and the fields
 * announced from its summary), is signed by the instance seal with a
 * signature time-stamp (CAdES B-T) and kept as version 1. Bidders may
 * confirm it (Measures for Electronic Bidding: the record is signed and
 * bidders may confirm it with theirs): a confirmation is the latest
 * version with one more SignerInfo (`govpki sign --add-to`), which
 * becomes the next version, so GET returns the record with every
 * confirmation and no version is ever rewritten.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>

#include "signer/signer.h"
#include "tender/internal.h"

int
tnd_record_make(const struct tender_ctx *tc, const struct ca_actor *who,
    const struct store_tender *t, const struct tnd_events *ev)
{
	struct store_tender_record rec, have;
	struct store_tender_event oe;
	struct audit_event ae;
	json_t *bids = NULL, *doc = NULL, *d = NULL, *e;
	uint8_t *der = NULL, md[32];
	size_t der_len = 0, i, n[4] = {0, 0, 0, 0};
	char a[40], dl[40], op[40], hex[65];
	const char *oc;
	int r, in_tx = 0;

	memset(&have, 0, sizeof(have));
	r = store_tender_record_last(tc->st, t->id, &have);
	store_tender_record_clear(&have);
	if (r == 0)
		return 0;
	if (r != GP_ERR_NOT_FOUND)
		return r;
	GUARD(tnd_bids_view(tc, t->id, &bids));
	json_array_foreach(bids, i, e) {
		oc = json_string_value(json_object_get(e, "outcome"));
		if (oc == NULL)
			continue;
		n[strcmp(oc, "opened") == 0 ? 0 : strcmp(oc, "revoked") == 0 ?
		    1 : 2]++;
	}
	tender_time_fmt(ev->approve.time_ms, a, sizeof(a));
	tender_time_fmt(t->deadline_ms, dl, sizeof(dl));
	tender_time_fmt(t->opening_ms, op, sizeof(op));
	ENSURE((doc = json_pack("{s:s, s:i, s:{s:s, s:s, s:s, s:s, s:s}, "
	    "s:s, s:s?, s:s?, s:O, s:{s:I, s:I, s:I, s:I}}",
	    "type", "govpki-opening-record", "version", 1,
	    "tender", "id", t->id, "title", t->title, "mode", t->mode,
	    "deadline", dl, "opening_time", op,
	    "opened_at", a, "requested_by", ev->request.actor,
	    "approved_by", ev->approve.actor, "bids", bids,
	    "counts", "received", (json_int_t)json_array_size(bids),
	    "opened", (json_int_t)n[0], "revoked", (json_int_t)n[1],
	    "withdrawn", (json_int_t)n[2])) != NULL, GP_ERR_NOMEM);
	GUARD(tnd_seal_json(tc, doc, 1, &der, &der_len));
	ENSURE(EVP_Digest(der, der_len, md, NULL, EVP_sha256(), NULL) == 1,
	    GP_ERR_CRYPTO);
	tnd_hex32(md, hex);
	memset(&rec, 0, sizeof(rec));
	rec.tender_id = t->id;
	rec.version = 1;
	rec.der = der;
	rec.der_len = der_len;
	memset(&oe, 0, sizeof(oe));
	oe.tender_id = t->id;
	oe.event = (char *)"opened";
	oe.time_ms = ev->approve.time_ms;
	oe.actor = (char *)who->actor;
	ENSURE((d = json_pack("{s:s, s:I, s:I, s:I, s:I}", "record_sha256",
	    hex, "received", (json_int_t)json_array_size(bids), "opened",
	    (json_int_t)n[0], "revoked", (json_int_t)n[1], "withdrawn",
	    (json_int_t)n[2])) != NULL, GP_ERR_NOMEM);
	tnd_event_of(&ae, who, "tender.record", t->id, "success", d);
	GUARD(store_begin(tc->st));
	in_tx = 1;
	GUARD(store_tender_record_add(tc->st, &rec));
	GUARD(store_tender_event_add(tc->st, &oe));
	GUARD(audit_append_tx(tc->audit, &ae, NULL));
	in_tx = 0;
	GUARD(store_commit(tc->st));
	r = 0;
out:
	if (in_tx)
		store_rollback(tc->st);
	OPENSSL_free(der);
	json_decref(bids);
	json_decref(doc);
	json_decref(d);
	return r;
}

int
tender_record_get(const struct tender_ctx *tc, const char *id, uint8_t **out,
    size_t *out_len)
{
	struct store_tender_record rec;
	int r;

	*out = NULL;
	*out_len = 0;
	if (!tender_id_ok(id))
		return gp_err_set(GP_ERR_NOT_FOUND, "tender: no such tender");
	GUARD(store_tender_record_last(tc->st, id, &rec));
	*out = rec.der;
	*out_len = rec.der_len;
	rec.der = NULL; /* transferred */
	r = 0;
out:
	store_tender_record_clear(&rec);
	return r;
}

/* 1 when the SignerInfo |si| has the same signature value as one of
 * |sis|. */
static int
tnd_si_in(CMS_SignerInfo *si, STACK_OF(CMS_SignerInfo) *sis)
{
	ASN1_OCTET_STRING *a = CMS_SignerInfo_get0_signature(si);
	int i;

	for (i = 0; i < sk_CMS_SignerInfo_num(sis); i++)
		if (ASN1_OCTET_STRING_cmp(a, CMS_SignerInfo_get0_signature(
		    sk_CMS_SignerInfo_value(sis, i))) == 0)
			return 1;
	return 0;
}

/* 1 when a bid of |uscc| was received in tender |id|. */
struct tnd_bidder_find {
	const char *uscc;
	int found;
};

static int
tnd_bidder_match(void *arg, const struct store_bid *b)
{
	struct tnd_bidder_find *f = arg;

	if (strcmp(b->uscc, f->uscc) == 0)
		f->found = 1;
	return 0;
}

int
tender_record_confirm(const struct tender_ctx *tc, const char *id,
    const uint8_t *p7s, size_t p7s_len, const char *client,
    const char *request_id, struct tender_refusal *why)
{
	struct store_tender t;
	struct store_tender_record last, rec;
	struct store_cert sc;
	struct tnd_bidder_find bf;
	struct audit_event ae;
	struct ca_actor who;
	CMS_ContentInfo *old = NULL, *cms = NULL;
	STACK_OF(CMS_SignerInfo) *osis, *nsis;
	STACK_OF(X509) *certs = NULL;
	CMS_SignerInfo *nsi = NULL;
	ASN1_OCTET_STRING **oc, **nc;
	X509 *signer = NULL;
	const unsigned char *p;
	json_t *spec = NULL, *d = NULL;
	char *serial = NULL, subject[1024];
	int64_t now = 0;
	int i, r, in_tx = 0;

	memset(&t, 0, sizeof(t));
	memset(&last, 0, sizeof(last));
	memset(&sc, 0, sizeof(sc));
	memset(why, 0, sizeof(*why));
	memset(&who, 0, sizeof(who));
	who.client = client;
	who.request_id = request_id;
	GUARD(tnd_tender_load(tc, id, &t, why));
	spec = tnd_spec(&t);
	if (store_tender_record_last(tc->st, id, &last) != 0) {
		r = tnd_refuse(why, "no_record", 409, "tender %s has no "
		    "opening record yet", id);
		goto out;
	}
	p = p7s;
	if (p7s_len == 0 || p7s_len > TND_MAX_RECORD || (cms =
	    d2i_CMS_ContentInfo(NULL, &p, (long)p7s_len)) == NULL || p != p7s +
	    p7s_len) {
		ERR_clear_error();
		r = tnd_refuse(why, "malformed", 400, "a confirmation is the "
		    "record's DER SignedData with one more signature (`govpki "
		    "sign --add-to`)");
		goto out;
	}
	p = last.der;
	ENSURE((old = d2i_CMS_ContentInfo(NULL, &p, (long)last.der_len)) !=
	    NULL, gp_err_ssl(GP_ERR_STORE, "opening record"));
	oc = CMS_get0_content(old);
	nc = CMS_get0_content(cms);
	osis = CMS_get0_SignerInfos(old);
	nsis = CMS_get0_SignerInfos(cms);
	if (nc == NULL || *nc == NULL || oc == NULL || *oc == NULL ||
	    ASN1_OCTET_STRING_cmp(*oc, *nc) != 0) {
		r = tnd_refuse(why, "not_the_record", 400, "the confirmation "
		    "does not carry the opening record of tender %s", id);
		goto out;
	}
	if (nsis == NULL || sk_CMS_SignerInfo_num(nsis) !=
	    sk_CMS_SignerInfo_num(osis) + 1) {
		r = tnd_refuse(why, "record_changed", 409, "the confirmation "
		    "must be version %lld of the record with exactly one more "
		    "signature; fetch GET /tenders/%s/record again",
		    (long long)last.version, id);
		goto out;
	}
	for (i = 0; i < sk_CMS_SignerInfo_num(osis); i++) {
		if (!tnd_si_in(sk_CMS_SignerInfo_value(osis, i), nsis)) {
			r = tnd_refuse(why, "record_changed", 409, "the "
			    "confirmation drops a signature of version %lld; "
			    "fetch the record again", (long long)last.version);
			goto out;
		}
	}
	for (i = 0; i < sk_CMS_SignerInfo_num(nsis); i++)
		if (!tnd_si_in(sk_CMS_SignerInfo_value(nsis, i), osis))
			nsi = sk_CMS_SignerInfo_value(nsis, i);
	certs = CMS_get1_certs(cms);
	for (i = 0; nsi != NULL && certs != NULL && i < sk_X509_num(certs);
	    i++)
		if (CMS_SignerInfo_cert_cmp(nsi, sk_X509_value(certs, i)) == 0)
			signer = sk_X509_value(certs, i);
	if (signer == NULL || (serial = ca_serial_hex(signer)) == NULL) {
		r = tnd_refuse(why, "unsigned", 400, "the new signature's "
		    "certificate is not in the SignedData");
		goto out;
	}
	GUARD(tnd_trusted_now(tc, "confirm", id, &now));
	GUARD(tnd_signer_check(tc, signer, serial, json_object_get(spec,
	    "profiles"),
	    now, &sc, why));
	bf.uscc = sc.uscc;
	bf.found = 0;
	GUARD(store_bid_scan(tc->st, id, tnd_bidder_match, &bf));
	if (!bf.found) {
		r = tnd_refuse(why, "not_a_bidder", 403, "%s did not bid in "
		    "tender %s", sc.uscc, id);
		goto out;
	}
	/* Every signature, the seal's and the new one, verifies. */
	GUARD(tnd_verify(tc, p7s, p7s_len, NULL, why));
	tnd_subject_text(signer, subject, sizeof(subject));
	memset(&rec, 0, sizeof(rec));
	rec.tender_id = (char *)id;
	rec.version = last.version + 1;
	rec.der = (uint8_t *)p7s;
	rec.der_len = p7s_len;
	rec.signer = serial;
	rec.uscc = sc.uscc;
	ENSURE((d = json_pack("{s:I, s:s, s:s}", "version",
	    (json_int_t)rec.version, "signer_serial", serial, "uscc",
	    sc.uscc)) != NULL, GP_ERR_NOMEM);
	who.actor = subject;
	who.role = "bidder";
	tnd_event_of(&ae, &who, "tender.record.confirm", id, "success", d);
	GUARD(store_begin(tc->st));
	in_tx = 1;
	r = store_tender_record_add(tc->st, &rec);
	if (r == GP_ERR_EXISTS) {
		r = tnd_refuse(why, "record_changed", 409, "another "
		    "confirmation came first; fetch the record and sign it "
		    "again");
		goto out;
	}
	GUARD(r);
	GUARD(audit_append_tx(tc->audit, &ae, NULL));
	in_tx = 0;
	GUARD(store_commit(tc->st));
	r = 0;
out:
	if (in_tx)
		store_rollback(tc->st);
	if (r != 0) {
		if (why->rule == NULL)
			r = tnd_refuse(why, "internal", 500, "%s",
			    gp_err_detail());
		who.actor = NULL;
		who.role = NULL;
		tnd_refusal_audit(tc, &who, "tender.record.confirm", id, why,
		    NULL);
	}
	CMS_ContentInfo_free(old);
	CMS_ContentInfo_free(cms);
	sk_X509_pop_free(certs, X509_free);
	OPENSSL_free(serial);
	json_decref(spec);
	json_decref(d);
	store_tender_clear(&t);
	store_tender_record_clear(&last);
	store_cert_clear(&sc);
	return r;
}
