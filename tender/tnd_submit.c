/*
 * tnd_submit.c: receiving bids and withdrawals. The server has already
 * streamed the bid to a file under DIR/tenders/incoming and synced it;
 * this file decides.
 *
 * Order: the time-stamp first (Measures for Electronic Bidding art. 28:
 * the arrival is what the instance TSA stamps over the bid's SHA-256 at
 * receipt, so the slow checks that follow never make a bid late), the
 * deadline by that time, then the structure (signed, encrypted, to whom),
 * the tender the signature names, the signer as this instance issued it
 * and its status at the arrival, the signature; then the receipt is
 * signed and the bid stored. The bid row, the supersession of the
 * bidder's previous bid and the record commit together through the
 * audit writer's group commit (audit_apply), whose change re-checks,
 * under the write lock, that the opening has not begun, that the bid is
 * no replay (its SHA-256 is unique in the tender) and no older version
 * of the bid it supersedes (tender_rule_supersede). Every refusal is
 * audited ("tender.bid.refuse") with its rule, and the file removed.
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

#include "signer/signer.h"
#include "tender/internal.h"

void
tender_receipt_clear(struct tender_receipt *rc)
{
	if (rc == NULL)
		return;
	OPENSSL_free(rc->der);
	memset(rc, 0, sizeof(*rc));
}

/* What the group commit's change needs, and what it found. */
struct tnd_commit {
	struct store_bid bid;
	const char *expect_cur;          /* the bid it supersedes, or NULL */
	struct tender_refusal *why;
	int changed;                     /* the current bid moved: retry */
};

/* In the writer's transaction: the bid, its supersession, re-checked
 * under the write lock. */
static int
tnd_commit_apply(store *st, void *arg)
{
	struct tnd_commit *c = arg;
	struct store_bid cur;
	struct store_bid_event ev;
	int r, have;
	unsigned int flags = 0;
	struct tnd_events tev;
	struct tender_ctx tc;

	memset(&cur, 0, sizeof(cur));
	memset(&tev, 0, sizeof(tev));
	memset(&tc, 0, sizeof(tc));
	tc.st = st;
	c->changed = 0;
	/* The opening takes the bids current when it was approved: after
	 * that, none may join. */
	GUARD(tnd_events_load(&tc, c->bid.tender_id, &tev));
	flags = tev.flags;
	if (flags & (TENDER_EV_APPROVE | TENDER_EV_OPENED | TENDER_EV_WINDOW)) {
		r = tnd_refuse(c->why, "late", 409, "the opening began before "
		    "this bid could be stored");
		goto out;
	}
	r = store_bid_current(st, c->bid.tender_id, c->bid.uscc, &cur);
	if (r != 0 && r != GP_ERR_NOT_FOUND)
		goto out;
	have = r == 0;
	if ((have && (c->expect_cur == NULL || strcmp(cur.id,
	    c->expect_cur) != 0)) || (!have && c->expect_cur != NULL)) {
		c->changed = 1;
		r = gp_err_set(GP_ERR_BUSY, "another bid of %s arrived at the "
		    "same time", c->bid.uscc);
		goto out;
	}
	/* A replay first (the same bytes again, whatever their age): the
	 * insert refuses a SHA-256 the tender holds; the failed change is
	 * rolled back with everything after it. */
	r = store_bid_insert(st, &c->bid);
	if (r == GP_ERR_EXISTS) {
		r = tnd_refuse(c->why, "replay", 409, "this tender already "
		    "holds a bid with the same SHA-256 (%s): a bid is "
		    "submitted once", c->bid.sha256);
		goto out;
	}
	GUARD(r);
	if (have && tender_rule_supersede(cur.signing_time,
	    c->bid.signing_time) != 0) {
		r = tnd_refuse(c->why, "stale", 409, "%s", gp_err_detail());
		goto out;
	}
	if (have) {
		memset(&ev, 0, sizeof(ev));
		ev.bid_id = cur.id;
		ev.tender_id = c->bid.tender_id;
		ev.event = (char *)"superseded";
		ev.time_ms = c->bid.arrival_ms;
		ev.by_bid = c->bid.id;
		GUARD(store_bid_event_add(st, &ev));
	}
	r = 0;
out:
	tnd_events_clear(&tev);
	store_bid_clear(&cur);
	return r;
}

/* The recipients the tender requires, checked against |k|: the opening
 * certificate (platform), or the signer's own enterprise-encryption
 * certificate from this instance, good at the arrival (bidder). The
 * serials matched go into *out (JSON text). */
static int
tnd_required_recipients(const struct tender_ctx *tc,
    const struct store_tender *t, const struct store_cert *signer,
    const struct tnd_ktri *k, size_t n, int64_t arrival_ms, char **out,
    struct tender_refusal *why)
{
	struct store_cert c;
	struct ca_status_at sa;
	const unsigned char *p;
	X509 *x = NULL;
	json_t *got = NULL;
	char *hex = NULL;
	size_t i;
	int r, found = 0;
	BIGNUM *bn = NULL;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	ENSURE((got = json_array()) != NULL, GP_ERR_NOMEM);
	if (strcmp(t->mode, "platform") == 0) {
		GUARD(store_cert_get(tc->st, t->opening_serial, &c));
		p = c.der;
		ENSURE((x = d2i_X509(NULL, &p, (long)c.der_len)) != NULL,
		    gp_err_ssl(GP_ERR_STORE, "opening certificate"));
		for (i = 0; i < n && !found; i++)
			found = tnd_ktri_match(&k[i], x);
		if (!found) {
			r = tnd_refuse(why, "missing_recipient", 400, "the bid "
			    "is not encrypted to the tender's opening "
			    "certificate (serial %s): it could never be "
			    "opened", t->opening_serial);
			goto out;
		}
		json_array_append_new(got, json_string(t->opening_serial));
	} else {
		/* Bidder mode: a recipient named by issuer and serial that
		 * this instance issued as enterprise-encryption to the same
		 * legal person. */
		for (i = 0; i < n && !found; i++) {
			if (k[i].issuer == NULL || X509_NAME_cmp(k[i].issuer,
			    X509_get_subject_name(tc->ca)) != 0)
				continue;
			BN_free(bn);
			OPENSSL_free(hex);
			hex = NULL;
			if ((bn = ASN1_INTEGER_to_BN(k[i].serial, NULL)) ==
			    NULL || (hex = BN_bn2hex(bn)) == NULL)
				continue;
			{
				char norm[68];

				if (ca_serial_norm(hex, norm, sizeof(norm)) !=
				    0)
					continue;
				store_cert_clear(&c);
				if (store_cert_get(tc->st, norm, &c) != 0)
					continue;
				if (c.profile == NULL || strcmp(c.profile,
				    "enterprise-encryption") != 0 ||
				    c.uscc == NULL || strcmp(c.uscc,
				    signer->uscc) != 0)
					continue;
				if (ca_status_at(tc->st, norm, arrival_ms /
				    1000, &sa) != 0)
					continue;
				found = 1;
				json_array_append_new(got, json_string(norm));
			}
		}
		gp_err_clear();
		if (!found) {
			r = tnd_refuse(why, "missing_recipient", 400, "the bid "
			    "is not encrypted to an enterprise-encryption "
			    "certificate this instance issued to %s and that "
			    "is good now", signer->uscc);
			goto out;
		}
	}
	ENSURE((*out = json_dumps(got, JSON_COMPACT)) != NULL, GP_ERR_NOMEM);
	r = 0;
out:
	BN_free(bn);
	OPENSSL_free(hex);
	X509_free(x);
	json_decref(got);
	store_cert_clear(&c);
	return r;
}

/* The detached form of the SignedData of |b| parsed into |*cms|, the DER
 * kept in *der. */
static int
tnd_detached(const struct tnd_src *s, const struct tnd_bid *b,
    uint8_t **der, size_t *der_len, CMS_ContentInfo **cms)
{
	struct tnd_frame fr;
	const unsigned char *p;
	int r;

	*der = NULL;
	*cms = NULL;
	GUARD(tnd_signed_frame(s, &b->sd, 0, 0, &fr));
	ENSURE((*der = malloc(fr.head_len + fr.tail_len)) != NULL,
	    GP_ERR_NOMEM);
	memcpy(*der, fr.head, fr.head_len);
	memcpy(*der + fr.head_len, fr.tail, fr.tail_len);
	*der_len = fr.head_len + fr.tail_len;
	p = *der;
	ENSURE((*cms = d2i_CMS_ContentInfo(NULL, &p, (long)*der_len)) != NULL &&
	    p == *der + *der_len, gp_err_ssl(GP_ERR_INVALID, "SignedData"));
	r = 0;
out:
	tnd_frame_clear(&fr);
	return r;
}

/* Moves the accepted bid to DIR/tenders/<id>/bids/<bid>.p7m. */
static int
tnd_store_file(const struct tender_ctx *tc, const char *tid,
    const char *bid, const char *from, char **out_abs, char **out_rel)
{
	char *dir = NULL, *abs = NULL;
	int fd, r;

	*out_abs = *out_rel = NULL;
	ENSURE((dir = tnd_path(tc, tid, NULL)) != NULL, GP_ERR_NOMEM);
	GUARD(gp_mkdir(dir, 0700));
	free(dir);
	ENSURE((dir = tnd_path(tc, tid, "bids")) != NULL, GP_ERR_NOMEM);
	GUARD(gp_mkdir(dir, 0700));
	ENSURE(asprintf(&abs, "%s/%s.p7m", dir, bid) > 0 &&
	    asprintf(out_rel, "tenders/%s/bids/%s.p7m", tid, bid) > 0,
	    GP_ERR_NOMEM);
	ENSURE(rename(from, abs) == 0, gp_err_set(GP_ERR_IO, "%s: %s", abs,
	    strerror(errno)));
	/* The rename is durable once the directory is. */
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	*out_abs = abs;
	abs = NULL; /* transferred */
	r = 0;
out:
	free(dir);
	free(abs);
	return r;
}

/* The receipt JSON of bid |b|. */
static json_t *
tnd_receipt_json(const struct store_tender *t, const struct store_bid *b,
    const char *supersedes)
{
	char a[40], d[40], *tst = sig_b64_encode(b->tst, b->tst_len);
	json_t *j;

	tender_time_fmt(b->arrival_ms, a, sizeof(a));
	tender_time_fmt(t->deadline_ms, d, sizeof(d));
	j = json_pack("{s:s, s:i, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}, "
	    "s:s, s:I, s:s, s:s, s:s?, s:s?}",
	    "type", "govpki-bid-receipt", "version", 1,
	    "tender", t->id, "tender_title", t->title, "bid", b->id,
	    "bidder", "name", b->bidder, "uscc", b->uscc, "subject",
	    b->subject, "serial", b->signer_serial,
	    "sha256", b->sha256, "size", (json_int_t)b->size,
	    "arrival", a, "deadline", d, "supersedes", supersedes,
	    "tst", tst);
	free(tst);
	return j;
}

int
tender_submit(const struct tender_ctx *tc, const struct tender_submission *in,
    struct tender_receipt *rc, struct tender_refusal *why)
{
	struct store_tender t;
	struct store_cert sc;
	struct store_bid cur;
	struct tnd_src src;
	struct tnd_bid b;
	struct tnd_ktri *k = NULL;
	struct tnd_signer sg;
	struct tnd_commit cm;
	struct tsa_result res;
	struct audit_event ev;
	struct ca_actor who;
	CMS_ContentInfo *cms = NULL;
	json_t *spec = NULL, *d = NULL, *receipt = NULL;
	uint8_t md[32], emd[32], *det = NULL, *tst = NULL;
	size_t det_len = 0, tst_len = 0, nk = 0;
	char hex[65], bid[TENDER_ID_LEN + 1] = "", subject[1024], org[256];
	char *recips = NULL, *abs = NULL, *rel = NULL;
	const char *supersedes;
	struct stat st;
	int fd = -1, r, attempt;

	memset(&t, 0, sizeof(t));
	memset(&sc, 0, sizeof(sc));
	memset(&cur, 0, sizeof(cur));
	memset(&sg, 0, sizeof(sg));
	memset(&cm, 0, sizeof(cm));
	memset(rc, 0, sizeof(*rc));
	memset(why, 0, sizeof(*why));
	memset(&who, 0, sizeof(who));
	hex[0] = '\0';
	who.client = in->client;
	who.request_id = in->request_id;

	GUARD(tnd_tender_load(tc, in->tender_id, &t, why));
	if (in->path == NULL) {
		r = tnd_refuse(why, "not_stored", 503, "the bid could not be "
		    "written to disk; send it again");
		goto out;
	}
	spec = tnd_spec(&t);
	fd = open(in->path, O_RDONLY | O_CLOEXEC);
	ENSURE(fd >= 0 && fstat(fd, &st) == 0, gp_err_set(GP_ERR_IO, "%s: %s",
	    in->path, strerror(errno)));
	memset(&src, 0, sizeof(src));
	src.fd = fd;
	src.len = (uint64_t)st.st_size;
	if ((json_int_t)src.len > json_integer_value(json_object_get(spec,
	    "max_bid_bytes"))) {
		r = tnd_refuse(why, "too_large", 413, "the bid is %llu bytes; "
		    "this tender accepts at most %lld", (unsigned long long)
		    src.len, (long long)json_integer_value(json_object_get(
		    spec, "max_bid_bytes")));
		goto out;
	}
	GUARD(tnd_src_sha256(&src, 0, src.len, md));
	tnd_hex32(md, hex);
	/* Art. 28 and RFC 3161: the arrival is the genTime of a token over
	 * the bid's hash, taken now, before any slow check. */
	r = tsa_stamp_digest(tc->tsa, md, &tst, &tst_len, &res);
	if (r != 0) {
		r = tnd_refuse(why, "no_trusted_time", 503, "the time-stamp "
		    "authority cannot stamp the bid now (%s); nothing was "
		    "received, send it again", gp_err_detail());
		goto out;
	}
	if (tender_rule_deadline(res.gen_time_ms, t.deadline_ms) != 0) {
		why->arrival_ms = res.gen_time_ms;
		why->deadline_ms = t.deadline_ms;
		r = tnd_refuse(why, "late", 409, "%s", gp_err_detail());
		goto out;
	}
	GUARD(tnd_bid_parse(&src, &b, why));
	GUARD(tnd_ktri_read(&src, &b, &k, &nk, why));
	if (tnd_detached(&src, &b, &det, &det_len, &cms) != 0 ||
	    tnd_signer_of(cms, &sg) != 0) {
		r = tnd_refuse(why, "bad_signature", 400, "the signature cannot "
		    "be read: %s", gp_err_detail());
		goto out;
	}
	if (strcmp(sg.tender, t.id) != 0) {
		r = tnd_refuse(why, "wrong_tender", 400, "the signature names "
		    "tender \"%s\", not this one (%s): a bid is sealed for one "
		    "tender", sg.tender, t.id);
		goto out;
	}
	GUARD(tnd_signer_check(tc, sg.cert, sg.serial, json_object_get(spec,
	    "profiles"), res.gen_time_ms, &sc, why));
	GUARD(tnd_required_recipients(tc, &t, &sc, k, nk, res.gen_time_ms,
	    &recips, why));
	GUARD(tnd_src_sha256(&src, tnd_tlv_body(&b.sd.econtent),
	    b.sd.econtent.len, emd));
	GUARD(tnd_verify(tc, det, det_len, emd, why));

	/* Accepted: the receipt, the file in place, the rows. */
	GUARD(tnd_new_id(bid));
	tnd_subject_text(sg.cert, subject, sizeof(subject));
	tnd_org_name(sg.cert, org, sizeof(org));
	cm.bid.id = bid;
	cm.bid.tender_id = t.id;
	cm.bid.uscc = sc.uscc;
	cm.bid.bidder = org;
	cm.bid.subject = subject;
	cm.bid.signer_serial = sg.serial;
	cm.bid.sha256 = hex;
	cm.bid.size = (int64_t)src.len;
	cm.bid.arrival_ms = res.gen_time_ms;
	cm.bid.signing_time = sg.signing_time;
	cm.bid.recipients = recips;
	cm.bid.tst = tst;
	cm.bid.tst_len = tst_len;
	cm.bid.created_ms = gp_now_ms();
	cm.why = why;
	close(fd);
	fd = -1;
	GUARD(tnd_store_file(tc, t.id, bid, in->path, &abs, &rel));
	cm.bid.path = rel;
	for (attempt = 0; attempt < 3; attempt++) {
		store_bid_clear(&cur);
		r = store_bid_current(tc->st, t.id, sc.uscc, &cur);
		if (r != 0 && r != GP_ERR_NOT_FOUND)
			goto out;
		supersedes = r == 0 ? cur.id : NULL;
		cm.expect_cur = supersedes;
		json_decref(receipt);
		receipt = tnd_receipt_json(&t, &cm.bid, supersedes);
		ENSURE(receipt != NULL, GP_ERR_NOMEM);
		OPENSSL_free(rc->der);
		rc->der = NULL;
		GUARD(tnd_seal_json(tc, receipt, 0, &rc->der, &rc->der_len));
		cm.bid.receipt = rc->der;
		cm.bid.receipt_len = rc->der_len;
		json_decref(d);
		d = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s?}",
		    "bid", bid, "uscc", sc.uscc, "signer_serial", sg.serial,
		    "sha256", hex, "size", (json_int_t)src.len, "arrival_ms",
		    (json_int_t)res.gen_time_ms, "tst_serial", res.serial,
		    "supersedes", supersedes);
		who.actor = subject;
		who.role = "bidder";
		tnd_event_of(&ev, &who, "tender.bid.submit", t.id, "success",
		    d);
		r = audit_apply(tc->audit, tnd_commit_apply, &cm, &ev);
		if (r == 0 || !cm.changed)
			break;
	}
	if (r != 0) {
		(void)unlink(abs);
		if (why->rule == NULL)
			r = tnd_refuse(why, "not_stored", 503, "the bid could not "
			    "be stored: %s; send it again", gp_err_detail());
		goto out;
	}
	snprintf(rc->bid_id, sizeof(rc->bid_id), "%s", bid);
	snprintf(rc->supersedes, sizeof(rc->supersedes), "%s",
	    cm.expect_cur != NULL ? cm.expect_cur : "");
	rc->arrival_ms = res.gen_time_ms;
	r = 0;
out:
	if (r != 0) {
		char msg[900];
		json_t *rd;

		if (why->rule == NULL)
			r = tnd_refuse(why, "internal", 500, "%s",
			    gp_err_detail());
		snprintf(msg, sizeof(msg), "%s", why->message);
		rd = json_pack("{s:s?, s:I, s:s?}", "sha256", hex[0] ? hex :
		    NULL, "size", (json_int_t)in->size, "signer_serial",
		    sg.serial[0] ? sg.serial : NULL);
		if (rd != NULL && why->arrival_ms > 0)
			json_object_set_new(rd, "arrival_ms",
			    json_integer(why->arrival_ms));
		who.actor = NULL;
		who.role = NULL;
		tnd_refusal_audit(tc, &who, "tender.bid.refuse", in->tender_id,
		    why, rd);
		json_decref(rd);
		if (in->path != NULL)
			(void)unlink(in->path);
		tender_receipt_clear(rc);
		gp_err_set(r, "%s: %s", why->rule, msg);
	}
	if (fd >= 0)
		close(fd);
	tnd_ktri_free(k, nk);
	tnd_signer_clear(&sg);
	CMS_ContentInfo_free(cms);
	json_decref(spec);
	json_decref(d);
	json_decref(receipt);
	store_tender_clear(&t);
	store_cert_clear(&sc);
	store_bid_clear(&cur);
	free(det);
	free(tst);
	free(recips);
	free(abs);
	free(rel);
	return r;
}

void
tender_refuse_size(const struct tender_ctx *tc, const char *tender_id,
    uint64_t size, uint64_t cap, const char *client, const char *request_id,
    struct tender_refusal *why)
{
	struct ca_actor who;
	json_t *d;

	memset(&who, 0, sizeof(who));
	who.client = client;
	who.request_id = request_id;
	(void)tnd_refuse(why, "too_large", 413, "the bid is over this "
	    "tender's limit of %llu bytes (max_bid_bytes)",
	    (unsigned long long)cap);
	d = json_pack("{s:I}", "size", (json_int_t)size);
	tnd_refusal_audit(tc, &who, "tender.bid.refuse", tender_id, why, d);
	json_decref(d);
}

/* ------------------------------------------------------------------ */
/* Withdrawal (art. 29: before the deadline a bidder may withdraw). */

struct tnd_withdraw {
	struct store_bid_event ev;
	struct tender_refusal *why;
};

static int
tnd_withdraw_apply(store *st, void *arg)
{
	struct tnd_withdraw *w = arg;
	struct store_bid cur;
	struct store_bid b;
	struct tender_ctx tc;
	struct tnd_events tev;
	int r;

	memset(&cur, 0, sizeof(cur));
	memset(&b, 0, sizeof(b));
	memset(&tc, 0, sizeof(tc));
	memset(&tev, 0, sizeof(tev));
	tc.st = st;
	GUARD(tnd_events_load(&tc, w->ev.tender_id, &tev));
	if (tev.flags & (TENDER_EV_APPROVE | TENDER_EV_OPENED |
	    TENDER_EV_WINDOW)) {
		r = tnd_refuse(w->why, "late", 409, "the opening began");
		goto out;
	}
	GUARD(store_bid_get(st, w->ev.bid_id, &b));
	r = store_bid_current(st, w->ev.tender_id, b.uscc, &cur);
	if (r == GP_ERR_NOT_FOUND || (r == 0 && strcmp(cur.id, b.id) != 0)) {
		r = tnd_refuse(w->why, "not_current", 409, "bid %s is no "
		    "longer the bidder's current bid (superseded or withdrawn)",
		    b.id);
		goto out;
	}
	GUARD(r);
	r = store_bid_event_add(st, &w->ev);
	if (r == GP_ERR_EXISTS)
		r = tnd_refuse(w->why, "not_current", 409, "bid %s was already "
		    "withdrawn", b.id);
	GUARD(r);
	r = 0;
out:
	tnd_events_clear(&tev);
	store_bid_clear(&cur);
	store_bid_clear(&b);
	return r;
}

int
tender_withdraw(const struct tender_ctx *tc, const char *tender_id,
    const char *bid_id, const uint8_t *p7s, size_t p7s_len,
    const char *client, const char *request_id, uint8_t **out,
    size_t *out_len, struct tender_refusal *why)
{
	struct store_tender t;
	struct store_bid b;
	struct store_cert sc;
	struct tnd_signer sg;
	struct tnd_withdraw w;
	struct tsa_result res;
	struct audit_event ev;
	struct ca_actor who;
	CMS_ContentInfo *cms = NULL;
	ASN1_OCTET_STRING **pos;
	const unsigned char *p = p7s;
	json_t *spec = NULL, *doc = NULL, *d = NULL, *rj = NULL;
	uint8_t md[32], *tst = NULL;
	size_t tst_len = 0;
	char hex[65] = "", subject[1024], a[40];
	int r;

	*out = NULL;
	*out_len = 0;
	memset(&t, 0, sizeof(t));
	memset(&b, 0, sizeof(b));
	memset(&sc, 0, sizeof(sc));
	memset(&sg, 0, sizeof(sg));
	memset(&w, 0, sizeof(w));
	memset(why, 0, sizeof(*why));
	memset(&who, 0, sizeof(who));
	who.client = client;
	who.request_id = request_id;
	GUARD(tnd_tender_load(tc, tender_id, &t, why));
	if (!tender_id_ok(bid_id) || store_bid_get(tc->st, bid_id, &b) != 0 ||
	    strcmp(b.tender_id, t.id) != 0) {
		r = tnd_refuse(why, "unknown_bid", 404, "tender %s has no bid "
		    "%.64s", t.id, bid_id);
		goto out;
	}
	spec = tnd_spec(&t);
	ENSURE(p7s_len > 0 && p7s_len <= TENDER_MAX_JSON, tnd_refuse(why,
	    "malformed", 400, "the withdrawal must be a signed document of at "
	    "most %d bytes", TENDER_MAX_JSON));
	ENSURE(EVP_Digest(p7s, p7s_len, md, NULL, EVP_sha256(), NULL) == 1,
	    GP_ERR_CRYPTO);
	tnd_hex32(md, hex);
	r = tsa_stamp_digest(tc->tsa, md, &tst, &tst_len, &res);
	if (r != 0) {
		r = tnd_refuse(why, "no_trusted_time", 503, "no time-stamp now "
		    "(%s); send it again", gp_err_detail());
		goto out;
	}
	if (tender_rule_deadline(res.gen_time_ms, t.deadline_ms) != 0) {
		why->arrival_ms = res.gen_time_ms;
		why->deadline_ms = t.deadline_ms;
		r = tnd_refuse(why, "late", 409, "%s (a bid may be withdrawn "
		    "only before the deadline)", gp_err_detail());
		goto out;
	}
	if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)p7s_len)) == NULL ||
	    p != p7s + p7s_len || (pos = CMS_get0_content(cms)) == NULL ||
	    *pos == NULL || tnd_signer_of(cms, &sg) != 0) {
		ERR_clear_error();
		r = tnd_refuse(why, "unsigned", 400, "the withdrawal must be a "
		    "DER CMS SignedData with its JSON attached, signed by the "
		    "bidder");
		goto out;
	}
	doc = json_loadb((const char *)(*pos)->data, (size_t)(*pos)->length,
	    JSON_REJECT_DUPLICATES, NULL);
	if (doc == NULL || !json_is_string(json_object_get(doc, "type")) ||
	    strcmp(json_string_value(json_object_get(doc, "type")),
	    "govpki-bid-withdrawal") != 0 || !json_is_string(
	    json_object_get(doc, "tender")) || strcmp(json_string_value(
	    json_object_get(doc, "tender")), t.id) != 0 || !json_is_string(
	    json_object_get(doc, "bid")) || strcmp(json_string_value(
	    json_object_get(doc, "bid")), b.id) != 0 ||
	    strcmp(sg.tender, t.id) != 0) {
		r = tnd_refuse(why, "wrong_tender", 400, "the withdrawal must "
		    "be {\"type\":\"govpki-bid-withdrawal\",\"tender\":\"%s\","
		    "\"bid\":\"%s\"} signed with the tender attribute", t.id,
		    b.id);
		goto out;
	}
	GUARD(tnd_signer_check(tc, sg.cert, sg.serial, json_object_get(spec,
	    "profiles"), res.gen_time_ms, &sc, why));
	if (strcmp(sc.uscc, b.uscc) != 0) {
		r = tnd_refuse(why, "not_the_bidder", 403, "the withdrawal is "
		    "signed for %s; bid %s is %s's", sc.uscc, b.id, b.uscc);
		goto out;
	}
	GUARD(tnd_verify(tc, p7s, p7s_len, NULL, why));
	tnd_subject_text(sg.cert, subject, sizeof(subject));
	w.ev.bid_id = b.id;
	w.ev.tender_id = t.id;
	w.ev.event = (char *)"withdrawn";
	w.ev.time_ms = res.gen_time_ms;
	w.ev.data = (uint8_t *)p7s;
	w.ev.data_len = p7s_len;
	w.why = why;
	ENSURE((d = json_pack("{s:s, s:s, s:s, s:s, s:I}", "bid", b.id,
	    "uscc", b.uscc, "signer_serial", sg.serial, "withdrawal_sha256",
	    hex, "arrival_ms", (json_int_t)res.gen_time_ms)) != NULL,
	    GP_ERR_NOMEM);
	who.actor = subject;
	who.role = "bidder";
	tnd_event_of(&ev, &who, "tender.bid.withdraw", t.id, "success", d);
	tender_time_fmt(res.gen_time_ms, a, sizeof(a));
	ENSURE((rj = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "type",
	    "govpki-bid-withdrawal-receipt", "version", 1, "tender", t.id,
	    "bid", b.id, "uscc", b.uscc, "withdrawn_at", a,
	    "withdrawal_sha256", hex)) != NULL, GP_ERR_NOMEM);
	GUARD(tnd_seal_json(tc, rj, 0, out, out_len));
	r = audit_apply(tc->audit, tnd_withdraw_apply, &w, &ev);
	if (r != 0 && why->rule == NULL)
		r = tnd_refuse(why, "not_stored", 503, "%s", gp_err_detail());
	GUARD(r);
	r = 0;
out:
	if (r != 0) {
		json_t *rd;

		if (why->rule == NULL)
			r = tnd_refuse(why, "internal", 500, "%s",
			    gp_err_detail());
		rd = json_pack("{s:s, s:s?}", "bid", tender_id_ok(bid_id) ?
		    bid_id : "unknown", "sha256", hex[0] ? hex : NULL);
		who.actor = NULL;
		who.role = NULL;
		tnd_refusal_audit(tc, &who, "tender.bid.withdraw", tender_id,
		    why, rd);
		json_decref(rd);
		OPENSSL_free(*out);
		*out = NULL;
		*out_len = 0;
	}
	CMS_ContentInfo_free(cms);
	tnd_signer_clear(&sg);
	json_decref(spec);
	json_decref(doc);
	json_decref(d);
	json_decref(rj);
	store_tender_clear(&t);
	store_bid_clear(&b);
	store_cert_clear(&sc);
	free(tst);
	return r;
}
