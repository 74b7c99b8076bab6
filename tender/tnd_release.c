/*
 * tnd_release.c: bidder mode. Each bid is encrypted to its bidder's own
 * enterprise-encryption certificate only, so the platform cannot open it
 * alone: at the opening, a decryption window opens, in which each bidder
 * unwraps its bid's content-encryption key with its USB key and releases
 * it to the platform (tender_release_make: a SignedData of the key by the
 * bidder, inside an EnvelopedData to the tender's transport certificate);
 * the platform decrypts the release with the transport key, checks the
 * bidder's signature, decrypts the stored bid with the key and checks it
 * (tnd_open_one). A bid whose key is not released in the window counts as
 * revoked (Measures for Electronic Bidding art. 31: the bidder's fault)
 * when the window is closed (tender_close).
 *
 * The transport key, like the opening key, is generated per tender on the
 * instance token (decrypt-only) and loaded in one place,
 * tnd_transport_key(), only while the window is open by the trusted
 * clock. A release that does not decrypt the bid is refused ("wrong_key")
 * and may be sent again within the window.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "signer/signer.h"
#include "tender/internal.h"

int
tnd_window_open(const struct tender_ctx *tc, const struct ca_actor *who,
    const struct store_tender *t, const struct tnd_events *ev)
{
	json_t *d = NULL;
	int r;

	if (ev->flags & TENDER_EV_WINDOW)
		return 0;
	ENSURE((d = json_pack("{s:I, s:I}", "opens_ms",
	    (json_int_t)ev->approve.time_ms, "closes_ms",
	    (json_int_t)(ev->approve.time_ms + t->window_s * 1000))) != NULL,
	    GP_ERR_NOMEM);
	GUARD(tnd_event_commit(tc, who, t->id, "window_open",
	    ev->approve.time_ms, "tender.window.open", d));
	r = 0;
out:
	json_decref(d);
	return r;
}

/* The end of |t|'s window, Unix ms, from its window_open event. */
static int64_t
tnd_window_end(const struct store_tender *t, const struct tnd_events *ev)
{
	return ev->window.time_ms + t->window_s * 1000;
}

/* The gate to the transport key: bidder mode, the window open (an
 * opening approved by two persons) and not over by a fresh time-stamp. */
static int
tnd_transport_key(const struct tender_ctx *tc, const struct store_tender *t,
    const struct tnd_events *ev, EVP_PKEY **out, X509 **out_cert,
    struct tender_refusal *why)
{
	struct store_cert c;
	const unsigned char *p;
	int64_t now;
	char a[40], b[40];
	int r;

	*out = NULL;
	*out_cert = NULL;
	memset(&c, 0, sizeof(c));
	if (strcmp(t->mode, "bidder") != 0 || t->opening_key == NULL) {
		r = tnd_refuse(why, "not_bidder_mode", 409, "tender %s is not "
		    "in bidder mode: its bids open with the platform's key",
		    t->id);
		goto out;
	}
	if (!(ev->flags & TENDER_EV_WINDOW) || (ev->flags & TENDER_EV_OPENED)) {
		r = tnd_refuse(why, "window_closed", 409, "tender %s: the "
		    "key-release window is %s", t->id, ev->flags &
		    TENDER_EV_OPENED ? "over (the record is made)" : "not open "
		    "(it opens when the opening is approved)");
		goto out;
	}
	GUARD(tnd_trusted_now(tc, "release", t->id, &now));
	if (now < t->opening_ms || now >= tnd_window_end(t, ev)) {
		tender_time_fmt(now, a, sizeof(a));
		tender_time_fmt(tnd_window_end(t, ev), b, sizeof(b));
		r = tnd_refuse(why, "window_closed", 409, "the trusted time is "
		    "%s; the key-release window ended at %s", a, b);
		goto out;
	}
	GUARD(store_cert_get(tc->st, t->opening_serial, &c));
	p = c.der;
	ENSURE((*out_cert = d2i_X509(NULL, &p, (long)c.der_len)) != NULL,
	    gp_err_ssl(GP_ERR_STORE, "transport certificate"));
	ENSURE(tc->tok != NULL, gp_err_set(GP_ERR_LOGIN_REQUIRED, "the "
	    "instance token is not open"));
	GUARD(tok_key_load(tc->tok, t->opening_key, out));
	r = 0;
out:
	if (r != 0) {
		X509_free(*out_cert);
		*out_cert = NULL;
	}
	store_cert_clear(&c);
	return r;
}

/* The bid |id| of the view, or NULL. */
static json_t *
tnd_view_find(json_t *bids, const char *id)
{
	json_t *e;
	size_t i;

	json_array_foreach(bids, i, e) {
		if (strcmp(json_string_value(json_object_get(e, "bid")), id) ==
		    0)
			return e;
	}
	return NULL;
}

/* Commits the release of |bid| (its "released" event keeping |der|), its
 * outcome and their records. */
static int
tnd_release_commit(const struct tender_ctx *tc, const struct ca_actor *who,
    const struct store_tender *t, struct tnd_outcome *o, const uint8_t *der,
    size_t der_len, int64_t at_ms)
{
	struct store_bid_event ev;
	struct audit_event ae;
	json_t *d = NULL;
	char *dtext = NULL;
	int r, in_tx = 0;

	ENSURE((dtext = json_dumps(o->details, JSON_COMPACT |
	    JSON_SORT_KEYS)) != NULL, GP_ERR_NOMEM);
	ENSURE((d = json_pack("{s:s, s:s, s:O?}", "bid", o->bid, "outcome",
	    "opened", "fields", json_object_get(o->details, "fields"))) !=
	    NULL, GP_ERR_NOMEM);
	tnd_event_of(&ae, who, "tender.key.release", t->id, "success", d);
	GUARD(store_begin(tc->st));
	in_tx = 1;
	memset(&ev, 0, sizeof(ev));
	ev.bid_id = o->bid;
	ev.tender_id = t->id;
	ev.event = (char *)"released";
	ev.time_ms = at_ms;
	ev.data = (uint8_t *)der;
	ev.data_len = der_len;
	r = store_bid_event_add(tc->st, &ev);
	if (r == GP_ERR_EXISTS)
		r = gp_err_set(GP_ERR_CONFLICT, "bid %s: its key was released "
		    "already", o->bid);
	GUARD(r);
	memset(&ev, 0, sizeof(ev));
	ev.bid_id = o->bid;
	ev.tender_id = t->id;
	ev.event = (char *)"outcome";
	ev.time_ms = at_ms;
	ev.outcome = (char *)"opened";
	ev.reason = o->reason;
	ev.details = dtext;
	GUARD(store_bid_event_add(tc->st, &ev));
	GUARD(audit_append_tx(tc->audit, &ae, NULL));
	in_tx = 0;
	GUARD(store_commit(tc->st));
	r = 0;
out:
	if (in_tx)
		store_rollback(tc->st);
	json_decref(d);
	free(dtext);
	return r;
}

int
tender_release(const struct tender_ctx *tc, const char *tender_id,
    const char *bid_id, const uint8_t *der, size_t der_len,
    const char *client, const char *request_id, json_t **out,
    struct tender_refusal *why)
{
	struct store_tender t;
	struct store_cert sc;
	struct tnd_events ev;
	struct tnd_signer sg;
	struct tnd_outcome o;
	struct ca_actor who;
	CMS_ContentInfo *env = NULL, *sd = NULL;
	ASN1_OCTET_STRING **pos;
	EVP_PKEY *key = NULL;
	X509 *tcert = NULL;
	BIO *bo = NULL;
	BUF_MEM *m = NULL;
	const unsigned char *p = der;
	json_t *bids = NULL, *entry, *doc = NULL, *spec = NULL, *v;
	uint8_t *cek = NULL;
	size_t cek_len = 0;
	char subject[1024];
	int64_t now = 0;
	int r;

	*out = NULL;
	memset(&t, 0, sizeof(t));
	memset(&sc, 0, sizeof(sc));
	memset(&ev, 0, sizeof(ev));
	memset(&sg, 0, sizeof(sg));
	memset(&o, 0, sizeof(o));
	memset(why, 0, sizeof(*why));
	memset(&who, 0, sizeof(who));
	who.client = client;
	who.request_id = request_id;
	GUARD(tnd_tender_load(tc, tender_id, &t, why));
	GUARD(tnd_events_load(tc, t.id, &ev));
	GUARD(tnd_bids_view(tc, t.id, &bids));
	if (!tender_id_ok(bid_id) || (entry = tnd_view_find(bids, bid_id)) ==
	    NULL) {
		r = tnd_refuse(why, "unknown_bid", 404, "tender %s has no bid "
		    "%.64s", t.id, bid_id);
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(entry, "status")),
	    "current") != 0 || !json_is_null(json_object_get(entry,
	    "outcome"))) {
		r = tnd_refuse(why, "not_current", 409, "bid %s is %s; only a "
		    "current bid without an outcome takes a key", bid_id,
		    json_is_null(json_object_get(entry, "outcome")) ?
		    json_string_value(json_object_get(entry, "status")) :
		    "decided already");
		goto out;
	}
	if (der_len == 0 || der_len > TENDER_MAX_JSON) {
		r = tnd_refuse(why, "malformed", 400, "a key release is a CMS "
		    "EnvelopedData of at most %d bytes", TENDER_MAX_JSON);
		goto out;
	}
	/* The gate: the window, by the trusted clock. */
	GUARD(tnd_transport_key(tc, &t, &ev, &key, &tcert, why));
	/* RFC 5652 6: the release is encrypted to the transport key. */
	if ((env = d2i_CMS_ContentInfo(NULL, &p, (long)der_len)) == NULL ||
	    p != der + der_len || OBJ_obj2nid(CMS_get0_type(env)) !=
	    NID_pkcs7_enveloped || (bo = BIO_new(BIO_s_mem())) == NULL ||
	    CMS_decrypt(env, key, tcert, NULL, bo, CMS_BINARY) != 1) {
		ERR_clear_error();
		r = tnd_refuse(why, "malformed", 400, "the key release must be "
		    "an EnvelopedData to this tender's transport certificate "
		    "(`govpki bid decrypt`)");
		goto out;
	}
	BIO_get_mem_ptr(bo, &m);
	p = (const unsigned char *)m->data;
	if ((sd = d2i_CMS_ContentInfo(NULL, &p, (long)m->length)) == NULL ||
	    p != (const unsigned char *)m->data + m->length ||
	    (pos = CMS_get0_content(sd)) == NULL || *pos == NULL ||
	    tnd_signer_of(sd, &sg) != 0) {
		ERR_clear_error();
		r = tnd_refuse(why, "unsigned", 400, "inside the release: a "
		    "SignedData of the key, signed by the bidder");
		goto out;
	}
	doc = json_loadb((const char *)(*pos)->data, (size_t)(*pos)->length,
	    JSON_REJECT_DUPLICATES, NULL);
	v = json_object_get(doc, "cek");
	if (doc == NULL || strcmp(sg.tender, t.id) != 0 ||
	    !json_is_string(json_object_get(doc, "type")) ||
	    strcmp(json_string_value(json_object_get(doc, "type")),
	    "govpki-key-release") != 0 || !json_is_string(json_object_get(doc,
	    "bid")) || strcmp(json_string_value(json_object_get(doc, "bid")),
	    bid_id) != 0 || !json_is_string(json_object_get(doc,
	    "bid_sha256")) || strcmp(json_string_value(json_object_get(doc,
	    "bid_sha256")), json_string_value(json_object_get(entry,
	    "sha256"))) != 0 || !json_is_string(v) || sig_b64_decode("cek",
	    json_string_value(v), 64, &cek, &cek_len) != 0 || cek_len != 32) {
		r = tnd_refuse(why, "wrong_tender", 400, "the release must be "
		    "{\"type\":\"govpki-key-release\",\"tender\":\"%s\","
		    "\"bid\":\"%s\",\"bid_sha256\":<the bid's>,\"cek\":<base64 of "
		    "32 bytes>} signed with the tender attribute", t.id, bid_id);
		goto out;
	}
	GUARD(tnd_trusted_now(tc, "release-signer", t.id, &now));
	spec = tnd_spec(&t);
	GUARD(tnd_signer_check(tc, sg.cert, sg.serial, json_object_get(spec,
	    "profiles"), now, &sc, why));
	if (strcmp(sc.uscc, json_string_value(json_object_get(json_object_get(
	    entry, "bidder"), "uscc"))) != 0) {
		r = tnd_refuse(why, "not_the_bidder", 403, "the release is "
		    "signed for %s, not the bidder of %s", sc.uscc, bid_id);
		goto out;
	}
	{
		size_t n;
		uint8_t *sdder = NULL;
		int l = i2d_CMS_ContentInfo(sd, &sdder);

		n = l > 0 ? (size_t)l : 0;
		r = l > 0 ? tnd_verify(tc, sdder, n, NULL, why) :
		    gp_err_ssl(GP_ERR_CRYPTO, "release");
		OPENSSL_free(sdder);
		GUARD(r);
	}
	/* The stored bid with the released key. */
	tnd_open_one(tc, &t, entry, NULL, NULL, cek, json_object_get(spec,
	    "fields"), &o);
	if (o.fault == TENDER_FAULT_PLATFORM) {
		r = tnd_refuse(why, "not_stored", 503, "%s", o.reason);
		goto out;
	}
	if (o.fault == TENDER_FAULT_BIDDER) {
		r = tnd_refuse(why, "wrong_key", 400, "the released key does not "
		    "open the bid: %s; release the right key within the window",
		    o.reason);
		goto out;
	}
	tnd_subject_text(sg.cert, subject, sizeof(subject));
	who.actor = subject;
	who.role = "bidder";
	GUARD(tnd_release_commit(tc, &who, &t, &o, der, der_len, now));
	ENSURE((*out = json_pack("{s:s, s:s, s:s, s:O?}", "tender", t.id,
	    "bid", bid_id, "outcome", "opened", "fields",
	    json_object_get(o.details, "fields"))) != NULL, GP_ERR_NOMEM);
	r = 0;
out:
	if (r != 0) {
		json_t *rd;

		if (why->rule == NULL)
			r = tnd_refuse(why, r == GP_ERR_CONFLICT ? "conflict" :
			    "internal", r == GP_ERR_CONFLICT ? 409 : 500, "%s",
			    gp_err_detail());
		rd = json_pack("{s:s}", "bid", tender_id_ok(bid_id) ? bid_id :
		    "unknown");
		who.actor = NULL;
		who.role = NULL;
		tnd_refusal_audit(tc, &who, "tender.key.release", tender_id,
		    why, rd);
		json_decref(rd);
	}
	if (cek != NULL)
		OPENSSL_clear_free(cek, 32);
	if (m != NULL)
		OPENSSL_cleanse(m->data, m->length);
	tnd_outcomes_free(&o, 1);
	tnd_signer_clear(&sg);
	tnd_events_clear(&ev);
	CMS_ContentInfo_free(env);
	CMS_ContentInfo_free(sd);
	BIO_free(bo);
	EVP_PKEY_free(key);
	X509_free(tcert);
	json_decref(bids);
	json_decref(doc);
	json_decref(spec);
	store_tender_clear(&t);
	store_cert_clear(&sc);
	return r;
}

int
tender_close(const struct tender_ctx *tc, const struct ca_actor *who,
    const char *id, json_t **out)
{
	struct store_tender t;
	struct tnd_events ev;
	struct tnd_outcome *o = NULL;
	json_t *bids = NULL, *e, *d = NULL;
	size_t i, n = 0, pending = 0, counts[3] = {0, 0, 0};
	int64_t now = 0;
	int r;

	*out = NULL;
	memset(&t, 0, sizeof(t));
	memset(&ev, 0, sizeof(ev));
	ENSURE(tender_id_ok(id), gp_err_set(GP_ERR_NOT_FOUND, "tender: no such "
	    "tender"));
	GUARD(store_tender_get(tc->st, id, &t));
	ENSURE(strcmp(t.mode, "bidder") == 0, gp_err_set(GP_ERR_CONFLICT,
	    "tender %s is in platform mode: it is opened by the approval", id));
	GUARD(tnd_events_load(tc, id, &ev));
	ENSURE(ev.flags & TENDER_EV_WINDOW, gp_err_set(GP_ERR_CONFLICT,
	    "tender %s: the key-release window is not open yet", id));
	ENSURE(!(ev.flags & TENDER_EV_OPENED), gp_err_set(GP_ERR_CONFLICT,
	    "tender %s is closed already", id));
	GUARD(tnd_bids_view(tc, id, &bids));
	json_array_foreach(bids, i, e) {
		if (strcmp(json_string_value(json_object_get(e, "status")),
		    "current") == 0 && json_is_null(json_object_get(e,
		    "outcome")))
			pending++;
	}
	/* The window ends by the trusted clock, or once every current bid
	 * has its key. */
	GUARD(tnd_trusted_now(tc, "close", id, &now));
	ENSURE(pending == 0 || now >= tnd_window_end(&t, &ev), gp_err_set(
	    GP_ERR_CONFLICT, "tender %s: the key-release window is still open "
	    "and %zu bids wait for their keys", id, pending));
	ENSURE((o = calloc(TND_OUTCOME_BATCH, sizeof(*o))) != NULL,
	    GP_ERR_NOMEM);
	json_array_foreach(bids, i, e) {
		if (strcmp(json_string_value(json_object_get(e, "status")),
		    "current") != 0 || !json_is_null(json_object_get(e,
		    "outcome")))
			continue;
		/* Art. 31: not decryptable through the bidder's fault. */
		snprintf(o[n].bid, sizeof(o[n].bid), "%s", json_string_value(
		    json_object_get(e, "bid")));
		o[n].fault = TENDER_FAULT_BIDDER;
		snprintf(o[n].reason, sizeof(o[n].reason), "no key release in "
		    "the window (the bidder's fault)");
		counts[TENDER_FAULT_BIDDER]++;
		if (++n == TND_OUTCOME_BATCH) {
			GUARD(tnd_outcomes_commit(tc, who, &t, o, n, now));
			n = 0;
		}
	}
	if (n > 0)
		GUARD(tnd_outcomes_commit(tc, who, &t, o, n, now));
	ENSURE((d = json_pack("{s:I, s:I}", "revoked",
	    (json_int_t)counts[TENDER_FAULT_BIDDER], "trusted_time_ms",
	    (json_int_t)now)) != NULL, GP_ERR_NOMEM);
	r = tnd_event_commit(tc, who, id, "window_close", now,
	    "tender.window.close", d);
	if (r != 0 && r != GP_ERR_CONFLICT)
		goto out;
	GUARD(tnd_record_make(tc, who, &t, &ev));
	ENSURE((*out = json_pack("{s:s, s:s, s:I}", "tender", id, "state",
	    "opened", "revoked_now", (json_int_t)counts[TENDER_FAULT_BIDDER])) !=
	    NULL, GP_ERR_NOMEM);
	r = 0;
out:
	if (r != 0)
		tnd_fail_audit(tc, who, "tender.window.close", id, r);
	free(o);
	json_decref(bids);
	json_decref(d);
	tnd_events_clear(&ev);
	store_tender_clear(&t);
	return r;
}

/* ------------------------------------------------------------------ */
/* The bidder's side. */

int
tender_release_make(const struct tender_release_req *rq, uint8_t **out,
    size_t *out_len)
{
	struct tnd_src src;
	struct tnd_bid b;
	struct tnd_ktri *k = NULL;
	struct tender_refusal why;
	STACK_OF(X509) *rc = NULL, *one = NULL;
	CMS_ContentInfo *env = NULL;
	BIO *in = NULL;
	json_t *doc = NULL;
	uint8_t cek[32], md[32], *sd = NULL, *der = NULL;
	size_t sd_len = 0, nk = 0, i;
	char hex[65], *b64 = NULL, cn[256];
	const char *id = json_string_value(json_object_get(rq->tender, "id"));
	int fd = -1, found = 0, len, r;

	*out = NULL;
	*out_len = 0;
	memset(&why, 0, sizeof(why));
	ENSURE(id != NULL && tender_id_ok(id) && tender_id_ok(rq->bid_id),
	    gp_err_set(GP_ERR_INVALID, "release: tender and bid ids"));
	ENSURE(json_is_string(json_object_get(rq->tender, "state")) &&
	    strcmp(json_string_value(json_object_get(rq->tender, "state")),
	    "key_release") == 0, gp_err_set(GP_ERR_CONFLICT, "tender %s is "
	    "%s: keys are released only in its key-release window", id,
	    json_string_value(json_object_get(rq->tender, "state")) ?
	    json_string_value(json_object_get(rq->tender, "state")) : "?"));
	/* The transport certificate: like a recipient, it must chain to the
	 * root, allow key transport and name this tender. */
	{
		json_t *t2 = json_pack("{s:s, s:O?, s:O?}", "id", id,
		    "recipients", json_object_get(rq->tender, "transport"),
		    "chain", json_object_get(rq->tender, "chain"));

		r = t2 != NULL ? tender_recipients(t2, rq->root, &rc) :
		    GP_ERR_NOMEM;
		json_decref(t2);
		GUARD(r);
	}
	ENSURE(sk_X509_num(rc) == 1 && X509_NAME_get_text_by_NID(
	    X509_get_subject_name(sk_X509_value(rc, 0)), NID_commonName, cn,
	    sizeof(cn)) > 0 && strstr(cn, "transport") != NULL,
	    gp_err_set(GP_ERR_INVALID, "tender %s: no transport certificate",
	    id));
	/* The bidder's own sealed bid and the key wrapped for it. */
	fd = open(rq->bid_path, O_RDONLY | O_CLOEXEC);
	memset(&src, 0, sizeof(src));
	src.fd = fd;
	{
		struct stat sb;

		ENSURE(fd >= 0 && fstat(fd, &sb) == 0, gp_err_set(GP_ERR_IO,
		    "--in %s: %s", rq->bid_path, strerror(errno)));
		src.len = (uint64_t)sb.st_size;
	}
	GUARD(tnd_src_sha256(&src, 0, src.len, md));
	tnd_hex32(md, hex);
	ENSURE(tnd_bid_parse(&src, &b, &why) == 0 && tnd_ktri_read(&src, &b,
	    &k, &nk, &why) == 0, gp_err_set(GP_ERR_INVALID, "--in %s: %s",
	    rq->bid_path, why.message));
	for (i = 0; i < nk && !found; i++) {
		if (!tnd_ktri_match(&k[i], rq->enc_cert))
			continue;
		found = 1;
		GUARD(tnd_cek_unwrap(rq->enc_key, &k[i], cek));
	}
	ENSURE(found, gp_err_set(GP_ERR_INVALID, "--in %s is not encrypted to "
	    "the encryption certificate given", rq->bid_path));
	ENSURE((b64 = sig_b64_encode(cek, 32)) != NULL, GP_ERR_NOMEM);
	ENSURE((doc = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type",
	    "govpki-key-release", "tender", id, "bid", rq->bid_id,
	    "bid_sha256", hex, "cek", b64)) != NULL, GP_ERR_NOMEM);
	GUARD(tender_sign_json(doc, id, rq->key, rq->cert, rq->chain, &sd,
	    &sd_len));
	/* RFC 5652 6 (CMS_encrypt: RSA key transport, AES-256-CBC). */
	ENSURE((in = BIO_new_mem_buf(sd, (int)sd_len)) != NULL &&
	    (one = sk_X509_new_null()) != NULL &&
	    sk_X509_push(one, sk_X509_value(rc, 0)) > 0, GP_ERR_NOMEM);
	ENSURE((env = CMS_encrypt(one, in, EVP_aes_256_cbc(), CMS_BINARY)) !=
	    NULL && (len = i2d_CMS_ContentInfo(env, &der)) > 0,
	    gp_err_ssl(GP_ERR_CRYPTO, "encrypting the release"));
	*out = der;
	*out_len = (size_t)len;
	der = NULL; /* transferred */
	r = 0;
out:
	OPENSSL_cleanse(cek, sizeof(cek));
	if (b64 != NULL)
		OPENSSL_cleanse(b64, strlen(b64));
	if (sd != NULL)
		OPENSSL_cleanse(sd, sd_len);
	if (fd >= 0)
		close(fd);
	free(b64);
	OPENSSL_free(sd);
	OPENSSL_free(der);
	json_decref(doc);
	BIO_free(in);
	CMS_ContentInfo_free(env);
	sk_X509_free(one);
	sk_X509_pop_free(rc, X509_free);
	tnd_ktri_free(k, nk);
	return r;
}
