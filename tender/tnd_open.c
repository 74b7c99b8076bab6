/*
 * tnd_open.c: the opening under dual control. One agent asks to open
 * (tender_open_request), another person approves (tender_open_approve),
 * both at or after the opening time by a fresh time-stamp of the
 * instance TSA, never by a caller's clock. In platform mode the approval
 * then opens: every current bid is decrypted with the tender's opening
 * key, which only tender_opening_key() loads, after checking all of that
 * again. Each bid's outcome (Measures for Electronic Bidding art. 31):
 *   opened     decrypted, its summary holds every announced field;
 *   revoked    the bidder's fault: its key was not wrapped for the
 *              opening key, the content does not decrypt, the package
 *              does not parse or lacks an announced field;
 *   withdrawn  the platform's fault: the stored bid is missing or no
 *              longer has the SHA-256 it was received with.
 * The token itself is checked first by decrypting a key wrapped here for
 * the opening certificate: a token that fails stops the opening (to be
 * taken up again by approving again), so a device fault never becomes a
 * bidder's "revoked". Outcomes commit in batches, each with its records.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "tender/internal.h"


/* The person stored with an event. */
static void
tnd_event_person(const struct store_tender_event *ev, struct ca_person *p)
{
	memset(p, 0, sizeof(*p));
	if (ev->person != NULL)
		snprintf(p->id, sizeof(p->id), "%s", ev->person);
	if (ev->person_idn != NULL)
		snprintf(p->idn, sizeof(p->idn), "%s", ev->person_idn);
}

int
tender_opening_key(const struct tender_ctx *tc, const struct store_tender *t,
    EVP_PKEY **out)
{
	struct tnd_events ev;
	struct ca_person a, b;
	int64_t now;
	int r;

	*out = NULL;
	memset(&ev, 0, sizeof(ev));
	ENSURE(t != NULL && t->id != NULL && strcmp(t->mode, "platform") == 0 &&
	    t->opening_key != NULL, gp_err_set(GP_ERR_CONFLICT, "tender: only "
	    "a platform-mode tender has an opening key"));
	GUARD(tnd_events_load(tc, t->id, &ev));
	/* Dual control: requested, and approved by another person. */
	ENSURE((ev.flags & TENDER_EV_REQUEST) && (ev.flags & TENDER_EV_APPROVE),
	    gp_err_set(GP_ERR_CONFLICT, "tender %s: the opening needs a "
	    "request and a second person's approval first", t->id));
	tnd_event_person(&ev.request, &a);
	tnd_event_person(&ev.approve, &b);
	ENSURE(!ca_person_same(&a, &b), gp_err_set(GP_ERR_DENIED, "tender %s: "
	    "the opening was requested and approved by the same person",
	    t->id));
	ENSURE(ev.request.time_ms >= t->opening_ms && ev.approve.time_ms >=
	    t->opening_ms, gp_err_set(GP_ERR_CONFLICT, "tender %s: the request "
	    "or approval predates the opening time", t->id));
	/* And the trusted clock now, not the caller's. */
	GUARD(tnd_trusted_now(tc, "opening-key", t->id, &now));
	GUARD(tender_rule_opening(now, t->deadline_ms));
	GUARD(tender_rule_opening(now, t->opening_ms));
	ENSURE(tc->tok != NULL, gp_err_set(GP_ERR_LOGIN_REQUIRED, "the "
	    "instance token is not open"));
	GUARD(tok_key_load(tc->tok, t->opening_key, out));
	r = 0;
out:
	tnd_events_clear(&ev);
	return r;
}

int
tnd_event_commit(const struct tender_ctx *tc, const struct ca_actor *who,
    const char *id, const char *event, int64_t time_ms, const char *op,
    json_t *details)
{
	struct store_tender_event e;
	struct audit_event ae;
	int r, in_tx = 0;

	memset(&e, 0, sizeof(e));
	e.tender_id = (char *)id;
	e.event = (char *)event;
	e.time_ms = time_ms;
	e.actor = (char *)who->actor;
	e.person = who->person != NULL ? (char *)who->person->id : NULL;
	e.person_idn = who->person != NULL && who->person->idn[0] != '\0' ?
	    (char *)who->person->idn : NULL;
	tnd_event_of(&ae, who, op, id, "success", details);
	GUARD(store_begin(tc->st));
	in_tx = 1;
	r = store_tender_event_add(tc->st, &e);
	if (r == GP_ERR_EXISTS)
		r = gp_err_set(GP_ERR_CONFLICT, "tender %s: %s happened "
		    "already", id, event);
	GUARD(r);
	GUARD(audit_append_tx(tc->audit, &ae, NULL));
	in_tx = 0;
	GUARD(store_commit(tc->st));
	r = 0;
out:
	if (in_tx)
		store_rollback(tc->st);
	return r;
}

int
tender_open_request(const struct tender_ctx *tc, const struct ca_actor *who,
    const char *id, json_t **out)
{
	struct store_tender t;
	json_t *d = NULL;
	char when[40];
	int64_t now = 0;
	int r;

	*out = NULL;
	memset(&t, 0, sizeof(t));
	ENSURE(tender_id_ok(id), gp_err_set(GP_ERR_NOT_FOUND, "tender: no such "
	    "tender"));
	GUARD(store_tender_get(tc->st, id, &t));
	GUARD(tnd_trusted_now(tc, "open-request", id, &now));
	GUARD(tender_rule_opening(now, t.opening_ms));
	ENSURE((d = json_pack("{s:I}", "trusted_time_ms", (json_int_t)now)) !=
	    NULL, GP_ERR_NOMEM);
	GUARD(tnd_event_commit(tc, who, id, "open_request", now,
	    "tender.open.request", d));
	tender_time_fmt(now, when, sizeof(when));
	ENSURE((*out = json_pack("{s:s, s:s, s:s, s:s, s:s}", "tender", id,
	    "state", "opening_requested", "requested_by", who->actor,
	    "requested_at", when, "next", "a second person approves: POST "
	    "/api/v1/tenders/<id>/approve-open, or `govpki tender "
	    "approve-open`")) != NULL, GP_ERR_NOMEM);
	r = 0;
out:
	if (r != 0)
		tnd_fail_audit(tc, who, "tender.open.request", id, r);
	json_decref(d);
	store_tender_clear(&t);
	return r;
}

/* The token decrypts a key wrapped here for the opening certificate:
 * else the opening stops (a device fault is nobody's bid's fault). */
static int
tnd_key_selfcheck(const struct tender_ctx *tc, const struct store_tender *t,
    EVP_PKEY *key)
{
	struct store_cert c;
	struct tnd_ktri k;
	const unsigned char *p;
	EVP_PKEY_CTX *pc = NULL;
	X509 *x = NULL;
	uint8_t probe[32], got[32];
	size_t len;
	int r;

	memset(&c, 0, sizeof(c));
	memset(&k, 0, sizeof(k));
	GUARD(store_cert_get(tc->st, t->opening_serial, &c));
	p = c.der;
	ENSURE((x = d2i_X509(NULL, &p, (long)c.der_len)) != NULL,
	    gp_err_ssl(GP_ERR_STORE, "opening certificate"));
	ENSURE(RAND_bytes(probe, sizeof(probe)) == 1, GP_ERR_CRYPTO);
	len = sizeof(k.ek);
	ENSURE((pc = EVP_PKEY_CTX_new(X509_get0_pubkey(x), NULL)) != NULL &&
	    EVP_PKEY_encrypt_init(pc) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
	    EVP_PKEY_encrypt(pc, k.ek, &len, probe, sizeof(probe)) == 1,
	    gp_err_ssl(GP_ERR_CRYPTO, "self-check wrap"));
	k.ek_len = len;
	k.rsa_pkcs1 = 1;
	r = tnd_cek_unwrap(key, &k, got);
	ENSURE(r == 0 && memcmp(got, probe, 32) == 0, gp_err_set(
	    GP_ERR_DEVICE, "the opening key of tender %s does not decrypt on "
	    "the token (self-check): nothing was opened; check the token and "
	    "approve again to resume", t->id));
	r = 0;
out:
	EVP_PKEY_CTX_free(pc);
	X509_free(x);
	store_cert_clear(&c);
	return r;
}

void
tnd_open_one(const struct tender_ctx *tc, const struct store_tender *t,
    json_t *entry, X509 *ocert, EVP_PKEY *key, const uint8_t *given,
    json_t *fields, struct tnd_outcome *o)
{
	struct tender_refusal why;
	struct tnd_src src;
	struct tnd_bid b;
	struct tnd_ktri *k = NULL;
	struct tnd_package pkg;
	struct stat sb;
	const char *bid = json_string_value(json_object_get(entry, "bid"));
	const char *sha = json_string_value(json_object_get(entry, "sha256"));
	struct store_bid row;
	uint8_t md[32], cek[32];
	char hex[65], *path = NULL, *dir = NULL, *outp = NULL;
	json_t *v, *got = NULL;
	size_t nk = 0, i;
	int fd = -1, found = 0, r;

	memset(&row, 0, sizeof(row));
	memset(&pkg, 0, sizeof(pkg));
	memset(&why, 0, sizeof(why));
	snprintf(o->bid, sizeof(o->bid), "%s", bid);
	o->fault = TENDER_FAULT_PLATFORM;
	if (store_bid_get(tc->st, bid, &row) != 0 || asprintf(&path, "%s/%s",
	    tc->cfg->dir, row.path) < 0) {
		path = NULL;
		snprintf(o->reason, sizeof(o->reason), "the platform cannot "
		    "read its record of the bid");
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	memset(&src, 0, sizeof(src));
	if (fd < 0 || fstat(fd, &sb) != 0 || (uint64_t)sb.st_size !=
	    (uint64_t)row.size) {
		snprintf(o->reason, sizeof(o->reason), "the stored bid is "
		    "missing or its size changed (the platform's fault)");
		goto out;
	}
	src.fd = fd;
	src.len = (uint64_t)sb.st_size;
	if (tnd_src_sha256(&src, 0, src.len, md) != 0) {
		snprintf(o->reason, sizeof(o->reason), "the stored bid cannot "
		    "be read (the platform's fault)");
		goto out;
	}
	tnd_hex32(md, hex);
	if (sha == NULL || strcmp(hex, sha) != 0) {
		snprintf(o->reason, sizeof(o->reason), "the stored bid no "
		    "longer has the SHA-256 it was received with (the "
		    "platform's fault)");
		goto out;
	}
	if (tnd_bid_parse(&src, &b, &why) != 0 || tnd_ktri_read(&src, &b, &k,
	    &nk, &why) != 0) {
		snprintf(o->reason, sizeof(o->reason), "the stored bid no "
		    "longer parses (the platform's fault): %.200s", why.message);
		goto out;
	}
	/* From here a failure is the bidder's. */
	o->fault = TENDER_FAULT_BIDDER;
	if (given != NULL) {
		/* Bidder mode: the key the bidder released. */
		memcpy(cek, given, 32);
		found = 1;
	}
	for (i = 0; i < nk && !found; i++) {
		if (!tnd_ktri_match(&k[i], ocert))
			continue;
		found = 1;
		if (tnd_cek_unwrap(key, &k[i], cek) != 0) {
			snprintf(o->reason, sizeof(o->reason), "its "
			    "content-encryption key was not wrapped for the "
			    "opening key (the bidder's fault)");
			goto out;
		}
	}
	if (!found) {
		snprintf(o->reason, sizeof(o->reason), "it is not encrypted to "
		    "the opening certificate (the bidder's fault)");
		goto out;
	}
	if ((dir = tnd_path(tc, t->id, "opened")) == NULL ||
	    gp_mkdir(dir, 0700) != 0 || asprintf(&outp, "%s/%s.pkg", dir,
	    bid) < 0) {
		outp = NULL;
		o->fault = TENDER_FAULT_PLATFORM;
		snprintf(o->reason, sizeof(o->reason), "the platform cannot "
		    "write the opened bid");
		goto out;
	}
	r = tnd_content_decrypt(&src, &b, cek, outp, &pkg);
	if (r == GP_ERR_IO || r == GP_ERR_NOMEM) {
		o->fault = TENDER_FAULT_PLATFORM;
		snprintf(o->reason, sizeof(o->reason), "the platform could not "
		    "write the opened bid: %s", gp_err_detail());
		goto out;
	}
	if (r != 0) {
		snprintf(o->reason, sizeof(o->reason), "%s (the bidder's "
		    "fault)", gp_err_detail());
		goto out;
	}
	/* The summary must be for this tender and hold every announced
	 * field as text. */
	v = json_object_get(pkg.summary, "tender");
	if (!json_is_string(v) || strcmp(json_string_value(v), t->id) != 0) {
		snprintf(o->reason, sizeof(o->reason), "its summary names "
		    "another tender (the bidder's fault)");
		goto out;
	}
	got = json_object();
	json_array_foreach(fields, i, v) {
		json_t *f = json_object_get(json_object_get(pkg.summary,
		    "fields"), json_string_value(v));

		if (!json_is_string(f) || json_string_length(f) == 0 ||
		    ca_text_check(json_string_value(v), json_string_value(f),
		    json_string_length(f), TENDER_MAX_FIELD_VALUE) != 0) {
			snprintf(o->reason, sizeof(o->reason), "its summary "
			    "lacks the announced field \"%s\" (the bidder's "
			    "fault)", json_string_value(v));
			goto out;
		}
		json_object_set(got, json_string_value(v), f);
	}
	o->fault = TENDER_FAULT_NONE;
	snprintf(o->reason, sizeof(o->reason), given != NULL ? "decrypted "
	    "with the key its bidder released" : "decrypted with the opening "
	    "key");
	o->details = json_pack("{s:O, s:s, s:I}", "fields", got,
	    "document_sha256", pkg.doc_sha256, "document_size",
	    (json_int_t)pkg.doc_len);
out:
	OPENSSL_cleanse(cek, sizeof(cek));
	if (o->fault != TENDER_FAULT_NONE && outp != NULL)
		(void)unlink(outp);
	if (fd >= 0)
		close(fd);
	json_decref(got);
	tnd_package_clear(&pkg);
	tnd_ktri_free(k, nk);
	store_bid_clear(&row);
	free(path);
	free(dir);
	free(outp);
}

int
tnd_outcomes_commit(const struct tender_ctx *tc, const struct ca_actor *who,
    const struct store_tender *t, struct tnd_outcome *o, size_t n,
    int64_t at_ms)
{
	struct store_bid_event ev;
	struct audit_event ae;
	char *dtext = NULL;
	json_t *d = NULL;
	size_t i;
	int r, in_tx = 0;

	GUARD(store_begin(tc->st));
	in_tx = 1;
	for (i = 0; i < n; i++) {
		free(dtext);
		dtext = o[i].details != NULL ? json_dumps(o[i].details,
		    JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		memset(&ev, 0, sizeof(ev));
		ev.bid_id = o[i].bid;
		ev.tender_id = t->id;
		ev.event = (char *)"outcome";
		ev.time_ms = at_ms;
		ev.outcome = (char *)tender_outcome_name(o[i].fault);
		ev.reason = o[i].reason;
		ev.details = dtext;
		r = store_bid_event_add(tc->st, &ev);
		if (r == GP_ERR_EXISTS)
			continue; /* an earlier, interrupted run decided it */
		GUARD(r);
		json_decref(d);
		ENSURE((d = json_pack("{s:s, s:s, s:s, s:O?}", "bid", o[i].bid,
		    "outcome", ev.outcome, "reason", o[i].reason, "fields",
		    o[i].details != NULL ? json_object_get(o[i].details,
		    "fields") : NULL)) != NULL, GP_ERR_NOMEM);
		tnd_event_of(&ae, who, "tender.bid.open", t->id, "success", d);
		GUARD(audit_append_tx(tc->audit, &ae, NULL));
	}
	in_tx = 0;
	GUARD(store_commit(tc->st));
	r = 0;
out:
	if (in_tx)
		store_rollback(tc->st);
	free(dtext);
	json_decref(d);
	return r;
}

void
tnd_outcomes_free(struct tnd_outcome *o, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		json_decref(o[i].details);
		o[i].details = NULL;
	}
}

/* Platform mode: decrypts every current bid not decided yet. */
static int
tnd_open_platform(const struct tender_ctx *tc, const struct ca_actor *who,
    const struct store_tender *t, int64_t at_ms, size_t *out_counts)
{
	struct tnd_outcome *o = NULL;
	struct store_cert c;
	const unsigned char *p;
	EVP_PKEY *key = NULL;
	X509 *ocert = NULL;
	json_t *bids = NULL, *e, *spec = NULL;
	size_t i, n = 0;
	int r;

	memset(&c, 0, sizeof(c));
	/* The one gate: dual control, the trusted time, then the key. */
	GUARD(tender_opening_key(tc, t, &key));
	GUARD(tnd_key_selfcheck(tc, t, key));
	GUARD(store_cert_get(tc->st, t->opening_serial, &c));
	p = c.der;
	ENSURE((ocert = d2i_X509(NULL, &p, (long)c.der_len)) != NULL,
	    gp_err_ssl(GP_ERR_STORE, "opening certificate"));
	spec = tnd_spec(t);
	ENSURE((o = calloc(TND_OUTCOME_BATCH, sizeof(*o))) != NULL,
	    GP_ERR_NOMEM);
	GUARD(tnd_bids_view(tc, t->id, &bids));
	json_array_foreach(bids, i, e) {
		if (strcmp(json_string_value(json_object_get(e, "status")),
		    "current") != 0 || !json_is_null(json_object_get(e,
		    "outcome")))
			continue;
		tnd_open_one(tc, t, e, ocert, key, NULL, json_object_get(spec,
		    "fields"), &o[n]);
		out_counts[o[n].fault]++;
		if (++n == TND_OUTCOME_BATCH) {
			GUARD(tnd_outcomes_commit(tc, who, t, o, n, at_ms));
			tnd_outcomes_free(o, n);
			n = 0;
		}
	}
	if (n > 0)
		GUARD(tnd_outcomes_commit(tc, who, t, o, n, at_ms));
	r = 0;
out:
	if (o != NULL)
		tnd_outcomes_free(o, n);
	free(o);
	json_decref(bids);
	json_decref(spec);
	X509_free(ocert);
	EVP_PKEY_free(key);
	store_cert_clear(&c);
	return r;
}

int
tender_open_approve(const struct tender_ctx *tc, const struct ca_actor *who,
    const char *id, json_t **out)
{
	struct store_tender t;
	struct tnd_events ev;
	struct ca_person req;
	json_t *d = NULL;
	size_t counts[3] = {0, 0, 0};
	char when[40];
	int64_t now = 0;
	int r;

	*out = NULL;
	memset(&t, 0, sizeof(t));
	memset(&ev, 0, sizeof(ev));
	ENSURE(tender_id_ok(id), gp_err_set(GP_ERR_NOT_FOUND, "tender: no such "
	    "tender"));
	GUARD(store_tender_get(tc->st, id, &t));
	GUARD(tnd_events_load(tc, id, &ev));
	ENSURE(!(ev.flags & TENDER_EV_OPENED), gp_err_set(GP_ERR_CONFLICT,
	    "tender %s is opened already", id));
	ENSURE(ev.flags & TENDER_EV_REQUEST, gp_err_set(GP_ERR_CONFLICT,
	    "tender %s: no opening was requested; an agent asks first (POST "
	    "/api/v1/tenders/%s/open)", id, id));
	if (!(ev.flags & TENDER_EV_APPROVE)) {
		/* Dual control: another person than the requester. */
		tnd_event_person(&ev.request, &req);
		ENSURE(!ca_person_same(&req, who->person), gp_err_set(
		    GP_ERR_DENIED, "tender %s: the opening was requested by "
		    "this person; a second, different person approves it",
		    id));
		GUARD(tnd_trusted_now(tc, "open-approve", id, &now));
		GUARD(tender_rule_opening(now, t.opening_ms));
		ENSURE((d = json_pack("{s:I, s:s?}", "trusted_time_ms",
		    (json_int_t)now, "requested_by", ev.request.actor)) !=
		    NULL, GP_ERR_NOMEM);
		GUARD(tnd_event_commit(tc, who, id, "open_approve", now,
		    "tender.open.approve", d));
		tnd_events_clear(&ev);
		GUARD(tnd_events_load(tc, id, &ev));
	}
	/* Approved (now, or by an earlier run that stopped part way). */
	if (strcmp(t.mode, "platform") == 0) {
		GUARD(tnd_open_platform(tc, who, &t, ev.approve.time_ms,
		    counts));
		GUARD(tnd_record_make(tc, who, &t, &ev));
	} else {
		GUARD(tnd_window_open(tc, who, &t, &ev));
	}
	tender_time_fmt(ev.approve.time_ms, when, sizeof(when));
	ENSURE((*out = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:{s:I, s:I, "
	    "s:I}}", "tender", id, "mode", t.mode, "requested_by",
	    ev.request.actor, "approved_by", ev.approve.actor, "approved_at",
	    when, "decided_now", "opened", (json_int_t)counts[0], "revoked",
	    (json_int_t)counts[1], "withdrawn", (json_int_t)counts[2])) !=
	    NULL, GP_ERR_NOMEM);
	r = 0;
out:
	if (r != 0)
		tnd_fail_audit(tc, who, "tender.open.approve", id, r);
	json_decref(d);
	tnd_events_clear(&ev);
	store_tender_clear(&t);
	return r;
}
