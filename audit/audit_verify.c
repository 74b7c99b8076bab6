/*
 * audit_verify.c: checks the audit log against the auditor's trust anchor.
 *
 * Pass 1 walks every record in seq order, a page at a time: seqs run 1, 2,
 * 3... without gaps, each record's prev_hash is the previous record's hash,
 * and each hash recomputes. Every "audit.checkpoint" record must name an
 * existing checkpoint with the seq and hash it states, and the token it
 * states (a deleted checkpoint or token is detected). Every "audit.key"
 * record's certificate must chain to the trust anchor with the audit EKU
 * (audit_key.c); the keys are kept in chain order. Pass 2 walks the
 * checkpoints that existed when verification started: each signature
 * verifies with the audit key in effect (the first recorded key; a later
 * one once a checkpoint signed by its predecessor covers it), the record
 * it covers still has the signed hash (a chain rewritten from scratch is
 * detected), checkpoints never go backwards, each one has its
 * audit.checkpoint record (records deleted from the tail are detected), and
 * its time-stamp token verifies. Pass 3 walks the certificate rows: each
 * has its cert.issue record and the status its last status record set,
 * and, for a row with status records or history events, the history and
 * the records are walked side by side (one cursor on each) and must pair
 * up one to one; the row must be in the state its last event set.
 *
 * Memory holds one page of rows, the recorded audit keys (at most
 * AUDIT_MAX_KEYS) and a few counters, whatever the log size. Records and
 * checkpoints appended while it runs are tolerated: checkpoints newer than
 * the start are skipped, a status record after the chain pass 1 walked
 * needs no history event yet, and the row is compared with the last
 * event whose record the row's own snapshot (store_cert_trail) shows.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "audit/internal.h"

/* Returned by the callbacks to stop at the first bad record. */
#define AUDIT_VERIFY_BAD 1

/* Audit keys a log may record (the first and its successors): each holds a
 * public key, so a forged log cannot make verification allocate without
 * bound. Years of yearly key changes fit many times over. */
#define AUDIT_MAX_KEYS 256

struct audit_verify_ctx {
	store *st;
	const struct audit_verify_opts *o;
	struct audit_report *rep;
	struct audit_key keys[AUDIT_MAX_KEYS];
	size_t nkeys;
	size_t cur_key;           /* the key in effect for the next checkpoint */
	int64_t expected;         /* the next seq */
	uint8_t prev_hash[32];    /* hash of the record before it */
	int64_t last_seq;         /* last record seen */
	int64_t max_cp_id;        /* checkpoints considered: id <= this */
	int64_t max_ref_cp_id;    /* highest id an audit.checkpoint names */
	int64_t prev_cp_id;
	int64_t prev_cp_seq;
};

static int audit_verify_vbad(struct audit_verify_ctx *v, int64_t seq,
    const char *fmt, va_list ap) GP_PRINTF(3, 0);
static int audit_verify_bad(struct audit_verify_ctx *v, int64_t seq,
    const char *fmt, ...) GP_PRINTF(3, 4);

static int
audit_verify_vbad(struct audit_verify_ctx *v, int64_t seq, const char *fmt,
    va_list ap)
{
	/* A forged record before seq 1 breaks the log at position 1. */
	v->rep->first_bad_seq = seq < 1 ? 1 : seq;
	vsnprintf(v->rep->reason, sizeof(v->rep->reason), fmt, ap);
	return AUDIT_VERIFY_BAD;
}

static int
audit_verify_bad(struct audit_verify_ctx *v, int64_t seq, const char *fmt,
    ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = audit_verify_vbad(v, seq, fmt, ap);
	va_end(ap);
	return r;
}

/* Parses "checkpoint:<id>". */
static int
audit_verify_cp_id(const char *object, int64_t *out)
{
	const char *p = "checkpoint:";
	char *end = NULL;
	long long id;

	if (object == NULL || strncmp(object, p, strlen(p)) != 0)
		return -1;
	object += strlen(p);
	if (*object < '1' || *object > '9')
		return -1;
	id = strtoll(object, &end, 10);
	if (*end != '\0' || id <= 0)
		return -1;
	*out = id;
	return 0;
}

/* Does checkpoint |cp|'s token match the record's details |d|? 0 when both
 * have none or the SHA-256 the record states is the token's; 1 when the
 * record states a token that is missing or different; 2 when the row has
 * a token the record does not state. */
static int
audit_verify_cp_tst(json_t *d, const struct store_checkpoint *cp)
{
	const char *want = NULL;
	uint8_t h[32];
	unsigned int n = 0;
	char *hex = NULL;
	int r;

	if (json_unpack(json_object_get(d, "tst"), "{s:s}", "sha256",
	    &want) != 0)
		return cp->tst != NULL ? 2 : 0;
	if (cp->tst == NULL || !EVP_Digest(cp->tst, cp->tst_len, h, &n,
	    EVP_sha256(), NULL) || (hex = gp_hex(h, 32)) == NULL)
		return 1;
	r = strcmp(hex, want) != 0;
	free(hex);
	return r;
}

/* An "audit.key" record: its certificate must chain to the trust anchor;
 * the key joins the list in chain order. */
static int
audit_verify_key_record(struct audit_verify_ctx *v,
    const struct store_audit_row *row)
{
	int r;

	if (v->nkeys >= AUDIT_MAX_KEYS)
		return audit_verify_bad(v, row->seq, "record %lld: more than %d "
		    "audit.key records", (long long)row->seq, AUDIT_MAX_KEYS);
	r = audit_key_parse(row, v->o->root, &v->keys[v->nkeys]);
	if (r == GP_ERR_TAMPERED)
		return audit_verify_bad(v, row->seq, "%s", gp_err_detail());
	if (r != 0)
		return r;
	v->nkeys++;
	/* Only the first key can be adopted: a later one replaces a key the
	 * chain names, and must be sealed by it. */
	if (v->keys[v->nkeys - 1].adopted && v->nkeys > 1)
		return audit_verify_bad(v, row->seq, "record %lld: an audit key "
		    "adoption after the log recorded its audit key (record "
		    "%lld)", (long long)row->seq, (long long)v->keys[0].seq);
	return 0;
}

/* An audit.checkpoint record must match the checkpoint it names. */
static int
audit_verify_cp_record(struct audit_verify_ctx *v,
    const struct store_audit_row *row)
{
	int r = GP_ERR_INTERNAL, rc;
	json_t *d = NULL;
	json_int_t seq = 0;
	const char *hash = NULL;
	char *hex = NULL;
	int64_t id = 0;
	struct store_checkpoint cp;

	memset(&cp, 0, sizeof(cp));
	if (row->details != NULL)
		d = json_loads(row->details, 0, NULL);
	if (audit_verify_cp_id(row->object, &id) != 0 || d == NULL ||
	    json_unpack(d, "{s:I, s:s}", "seq", &seq, "hash", &hash) != 0) {
		r = audit_verify_bad(v, row->seq, "record %lld: malformed "
		    "audit.checkpoint record", (long long)row->seq);
		goto out;
	}
	rc = store_checkpoint_get(v->st, id, &cp);
	if (rc == GP_ERR_NOT_FOUND) {
		r = audit_verify_bad(v, row->seq, "record %lld records "
		    "checkpoint %lld, which is missing (deleted)",
		    (long long)row->seq, (long long)id);
		goto out;
	}
	if (rc == GP_ERR_TAMPERED) {
		r = audit_verify_bad(v, row->seq, "record %lld: %s",
		    (long long)row->seq, gp_err_detail());
		goto out;
	}
	GUARD(rc);
	ENSURE((hex = gp_hex(cp.hash, 32)) != NULL, GP_ERR_NOMEM);
	if (cp.seq != (int64_t)seq || strcmp(hex, hash) != 0 ||
	    (int64_t)seq >= row->seq) {
		r = audit_verify_bad(v, row->seq, "record %lld does not match "
		    "checkpoint %lld (seq %lld): the checkpoint was replaced",
		    (long long)row->seq, (long long)id, (long long)cp.seq);
		goto out;
	}
	if ((rc = audit_verify_cp_tst(d, &cp)) != 0) {
		r = audit_verify_bad(v, row->seq, "record %lld: the time-stamp "
		    "token of checkpoint %lld %s", (long long)row->seq,
		    (long long)id, rc == 1 ? "is not the one recorded "
		    "(replaced or deleted)" : "was added outside the chain");
		goto out;
	}
	if (id > v->max_ref_cp_id)
		v->max_ref_cp_id = id;
	r = 0;
out:
	free(hex);
	store_checkpoint_clear(&cp);
	json_decref(d);
	return r;
}

static int
audit_verify_row(void *arg, const struct store_audit_row *row)
{
	struct audit_verify_ctx *v = arg;
	uint8_t h[32];
	int r;

	if (row->seq < v->expected)
		return audit_verify_bad(v, row->seq, "record %lld is not part "
		    "of the chain (seqs start at 1)", (long long)row->seq);
	if (row->seq > v->expected)
		return audit_verify_bad(v, v->expected, "record %lld is "
		    "missing (deleted)", (long long)v->expected);
	if (CRYPTO_memcmp(row->prev_hash, v->prev_hash, 32) != 0)
		return audit_verify_bad(v, row->seq, "record %lld does not "
		    "follow record %lld: inserted, deleted or reordered",
		    (long long)row->seq, (long long)row->seq - 1);
	if ((r = audit_chain_hash(row, h)) != 0)
		return r;
	if (CRYPTO_memcmp(h, row->hash, 32) != 0)
		return audit_verify_bad(v, row->seq, "record %lld was changed",
		    (long long)row->seq);
	if (row->op != NULL && strcmp(row->op, AUDIT_OP_CHECKPOINT) == 0 &&
	    (r = audit_verify_cp_record(v, row)) != 0)
		return r;
	if (row->op != NULL && strcmp(row->op, AUDIT_OP_KEY) == 0 &&
	    (r = audit_verify_key_record(v, row)) != 0)
		return r;
	memcpy(v->prev_hash, row->hash, 32);
	v->last_seq = row->seq;
	v->expected = row->seq + 1;
	v->rep->records++;
	return 0;
}

/* The checkpoint's time-stamp token, through the caller's check. */
static int
audit_verify_cp_stamp(struct audit_verify_ctx *v,
    const struct store_checkpoint *cp)
{
	int64_t gen_ms = 0;
	int rc;

	gp_err_clear();
	rc = v->o->tst_check(v->o->tst_arg, cp->tst, cp->tst_len, cp->sig,
	    cp->sig_len, &gen_ms);
	if (rc == GP_ERR_TAMPERED || rc == GP_ERR_INVALID)
		return audit_verify_bad(v, cp->seq, "checkpoint %lld (record "
		    "%lld): its time-stamp token does not verify: %s",
		    (long long)cp->id, (long long)cp->seq, gp_err_detail());
	if (rc != 0)
		return rc;
	if (gen_ms < cp->time_ms - AUDIT_TST_SLACK_MS)
		return audit_verify_bad(v, cp->seq, "checkpoint %lld (record "
		    "%lld): time-stamped at %lld ms, before it was signed "
		    "(%lld ms)", (long long)cp->id, (long long)cp->seq,
		    (long long)gen_ms, (long long)cp->time_ms);
	v->rep->timestamped++;
	return 0;
}

static int
audit_verify_cp(void *arg, const struct store_checkpoint *cp)
{
	struct audit_verify_ctx *v = arg;
	struct store_audit_row row;
	int r = GP_ERR_INTERNAL, rc;

	memset(&row, 0, sizeof(row));
	if (cp->id > v->max_cp_id) {
		r = 0; /* added after verification started */
		goto out;
	}
	if (v->nkeys == 0) {
		r = audit_verify_bad(v, cp->seq, "checkpoint %lld (record "
		    "%lld): no audit.key record names the key that may sign "
		    "it (the record was removed, or the log was begun before "
		    "govpki recorded its audit key: `govpki audit adopt-key` "
		    "records it once)", (long long)cp->id,
		    (long long)cp->seq);
		goto out;
	}
	/* Before the first key record: only a log whose first key was
	 * adopted has such checkpoints (init records its key before its
	 * first checkpoint). */
	if (cp->seq < v->keys[0].seq) {
		if (!v->keys[0].adopted) {
			r = audit_verify_bad(v, cp->seq, "checkpoint %lld "
			    "(record %lld) comes before the audit key's record "
			    "(%lld), which is not an adoption",
			    (long long)cp->id, (long long)cp->seq,
			    (long long)v->keys[0].seq);
			goto out;
		}
	}
	rc = audit_checkpoint_verify_sig(v->keys[v->cur_key].pub, cp);
	if (rc == GP_ERR_TAMPERED) {
		r = audit_verify_bad(v, cp->seq, "checkpoint %lld (record "
		    "%lld): the signature does not verify with the audit key "
		    "in effect (recorded at record %lld)", (long long)cp->id,
		    (long long)cp->seq, (long long)v->keys[v->cur_key].seq);
		goto out;
	}
	GUARD(rc);
	/* A key change takes effect once a checkpoint signed by the key it
	 * replaces covers it; two changes under one checkpoint would let the
	 * second skip its predecessor's signature. */
	if (v->cur_key + 1 < v->nkeys &&
	    v->keys[v->cur_key + 1].seq <= cp->seq) {
		v->cur_key++;
		if (v->cur_key + 1 < v->nkeys &&
		    v->keys[v->cur_key + 1].seq <= cp->seq) {
			r = audit_verify_bad(v, v->keys[v->cur_key + 1].seq,
			    "record %lld: audit key change not sealed by the "
			    "key it replaces (recorded at record %lld)",
			    (long long)v->keys[v->cur_key + 1].seq,
			    (long long)v->keys[v->cur_key].seq);
			goto out;
		}
	}
	if (cp->tst != NULL && v->o->tst_check != NULL)
		GUARD(audit_verify_cp_stamp(v, cp));
	if (cp->seq < v->prev_cp_seq) {
		r = audit_verify_bad(v, cp->seq, "checkpoint %lld covers "
		    "record %lld, before checkpoint %lld (record %lld)",
		    (long long)cp->id, (long long)cp->seq,
		    (long long)v->prev_cp_id, (long long)v->prev_cp_seq);
		goto out;
	}
	if (cp->seq > v->last_seq) {
		r = audit_verify_bad(v, v->last_seq + 1, "records after %lld "
		    "are missing: checkpoint %lld covers record %lld",
		    (long long)v->last_seq, (long long)cp->id,
		    (long long)cp->seq);
		goto out;
	}
	rc = store_audit_get(v->st, cp->seq, &row);
	if (rc == GP_ERR_NOT_FOUND || (rc == 0 &&
	    CRYPTO_memcmp(row.hash, cp->hash, 32) != 0)) {
		r = audit_verify_bad(v, cp->seq, "checkpoint %lld covers "
		    "record %lld but the chain was rewritten",
		    (long long)cp->id, (long long)cp->seq);
		goto out;
	}
	GUARD(rc);
	if (cp->id > v->max_ref_cp_id) {
		/* Its audit.checkpoint record follows cp->seq; the chain
		 * verified up to last_seq without it. */
		r = audit_verify_bad(v, v->last_seq + 1, "records after %lld "
		    "are missing: checkpoint %lld (record %lld) was never "
		    "recorded in the chain", (long long)v->last_seq,
		    (long long)cp->id, (long long)cp->seq);
		goto out;
	}
	v->prev_cp_id = cp->id;
	v->prev_cp_seq = cp->seq;
	v->rep->checkpoints++;
	v->rep->last_checkpoint_seq = cp->seq;
	r = 0;
out:
	store_audit_row_clear(&row);
	return r;
}

/* UTC ISO 8601 of Unix seconds |t|, for reasons. */
static void
audit_verify_iso(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

/* A status record of one certificate as its details state the change:
 * the store's change it stands for, what it moved the certificate to,
 * and, for a record written with its history event (ca_revoke.c states
 * "time" since the history exists), when it took effect, the reason
 * and the invalidity date the event must carry too. */
struct audit_status_rec {
	int64_t seq;
	int64_t time_ms;          /* of the record */
	const char *change;       /* STORE_CHANGE_*, NULL for another op */
	char to[8];
	int has_time;
	int64_t time;
	int reason;               /* -1 none; -2 a name RFC 5280 lacks */
	int64_t invalidity_date;  /* 0 none */
};

static void
audit_status_rec_parse(const struct store_audit_row *row,
    struct audit_status_rec *out)
{
	json_t *d = NULL, *j;
	const char *to;

	memset(out, 0, sizeof(*out));
	out->seq = row->seq;
	out->time_ms = row->time_ms;
	out->reason = -1;
	if (row->op != NULL && strcmp(row->op, "cert.hold") == 0)
		out->change = STORE_CHANGE_HOLD;
	else if (row->op != NULL && strcmp(row->op, "cert.release") == 0)
		out->change = STORE_CHANGE_RELEASE;
	else if (row->op != NULL && strcmp(row->op, "cert.revoke") == 0)
		out->change = STORE_CHANGE_REVOKE;
	if (row->details != NULL)
		d = json_loads(row->details, 0, NULL);
	if ((to = json_string_value(json_object_get(d, "to"))) != NULL)
		snprintf(out->to, sizeof(out->to), "%s", to);
	if (json_is_integer(j = json_object_get(d, "time"))) {
		out->has_time = 1;
		out->time = json_integer_value(j);
	}
	if ((j = json_object_get(d, "reason")) != NULL) {
		out->reason = gp_crl_reason_code(json_string_value(j));
		if (out->reason < 0)
			out->reason = -2;
	}
	if (json_is_integer(j = json_object_get(d, "invalidity_date")))
		out->invalidity_date = json_integer_value(j);
	json_decref(d);
}

/* The certificate status a change leaves ("hold", "good", "revoked"). */
static const char *
audit_change_status(const char *change)
{
	if (change == NULL)
		return "?";
	if (strcmp(change, STORE_CHANGE_HOLD) == 0)
		return "hold";
	if (strcmp(change, STORE_CHANGE_RELEASE) == 0)
		return "good";
	return "revoked";
}

/* "a revoke at 2026-12-04T20:33:37Z (keyCompromise)" for reasons. */
static void
audit_event_text(const char *change, int64_t t, int reason, char *buf,
    size_t len)
{
	char iso[32];
	const char *rn = gp_crl_reason_name(reason);

	audit_verify_iso(t, iso, sizeof(iso));
	snprintf(buf, len, "a %s at %s%s%s%s", change != NULL ? change :
	    "(other operation)", iso, rn != NULL ? " (" : "", rn != NULL ? rn :
	    "", rn != NULL ? ")" : "");
}

/* The records written before the status history existed (schema step 7)
 * do not state when their change took effect; the upgrade gave each
 * certificate then held or revoked one event, its state at the upgrade,
 * whose time is the certificate row's revocation time: the time of that
 * last record's change, read a moment before the record was written. */
#define AUDIT_LEGACY_SLACK_S 2

/* Walks one certificate's status history against its status records. */
struct audit_hist_walk {
	struct audit_verify_ctx *v;
	const struct store_cert_trail *t;
	struct audit_status_rec rec;      /* the next record to pair */
	int have_rec;
	struct audit_status_rec legacy;   /* the last record before the
	                                   * history, when there are any */
	int upgrade_pending;              /* its state awaits its event */
	struct store_status_event last;   /* the last event paired with a
	                                   * record the row already shows */
	int have_last;
};

/* The next status record after |after| into w->rec. */
static int
audit_hist_next(struct audit_hist_walk *w, int64_t after)
{
	struct store_audit_row row;
	int r;

	memset(&row, 0, sizeof(row));
	w->have_rec = 0;
	r = store_audit_status_next(w->v->st, w->t->serial, after, &row);
	if (r == GP_ERR_NOT_FOUND)
		return 0;
	if (r != 0)
		return r;
	audit_status_rec_parse(&row, &w->rec);
	w->have_rec = 1;
	store_audit_row_clear(&row);
	return 0;
}

static int
audit_hist_bad(struct audit_hist_walk *w, int64_t seq, const char *fmt, ...)
    GP_PRINTF(3, 4);

static int
audit_hist_bad(struct audit_hist_walk *w, int64_t seq, const char *fmt, ...)
{
	va_list ap;
	int r;

	snprintf(w->v->rep->bad_serial, sizeof(w->v->rep->bad_serial), "%s",
	    w->t->serial);
	va_start(ap, fmt);
	r = audit_verify_vbad(w->v, seq, fmt, ap);
	va_end(ap);
	return r;
}

/* One event of the history, in order: it must be the change of the next
 * status record (same change, time, reason and invalidity date: both
 * were written in one transaction by ca_revoke.c), or, first, the state
 * the records before the history left (the upgrade's event). */
static int
audit_hist_event(void *arg, const struct store_status_event *ev)
{
	struct audit_hist_walk *w = arg;
	const struct audit_status_rec *rc = &w->rec;
	char have[128], want[128];
	int64_t rec_s;
	int r;

	audit_event_text(ev->change, ev->time, ev->reason, have, sizeof(have));
	if (w->upgrade_pending) {
		rec_s = w->legacy.time_ms / 1000;
		if (strcmp(audit_change_status(ev->change),
		    w->legacy.to) != 0 || ev->reason != w->legacy.reason ||
		    ev->invalidity_date != w->legacy.invalidity_date ||
		    ev->time < rec_s - AUDIT_LEGACY_SLACK_S ||
		    ev->time > rec_s + AUDIT_LEGACY_SLACK_S)
			return audit_hist_bad(w, w->legacy.seq, "certificate "
			    "%s: status history event %lld (%s) is not the "
			    "state its last status record before the history, "
			    "%lld, left (%s): the history was edited",
			    w->t->serial, (long long)ev->id, have,
			    (long long)w->legacy.seq, w->legacy.to);
		w->upgrade_pending = 0;
		w->last = *ev;
		w->have_last = 1;
		return 0;
	}
	if (!w->have_rec)
		return audit_hist_bad(w, w->v->last_seq + 1, "certificate %s: "
		    "status history event %lld (%s) has no audit record: it "
		    "was added behind the log's back, or its record deleted",
		    w->t->serial, (long long)ev->id, have);
	audit_event_text(rc->change, rc->time, rc->reason, want, sizeof(want));
	if (!rc->has_time)
		return audit_hist_bad(w, rc->seq, "certificate %s: record %lld "
		    "(%s) does not state when its change took effect, after "
		    "records that do", w->t->serial, (long long)rc->seq,
		    want);
	if (rc->change == NULL || strcmp(rc->change, ev->change) != 0 ||
	    strcmp(rc->to, audit_change_status(ev->change)) != 0 ||
	    rc->time != ev->time || rc->reason != ev->reason ||
	    rc->invalidity_date != ev->invalidity_date)
		return audit_hist_bad(w, rc->seq, "certificate %s: status "
		    "history event %lld (%s) is not the change of its next "
		    "status record, %lld (%s): an event was added, deleted or "
		    "changed behind the log's back", w->t->serial,
		    (long long)ev->id, have, (long long)rc->seq, want);
	if (rc->seq <= w->t->status_seq) {
		w->last = *ev;
		w->have_last = 1;
	}
	if ((r = audit_hist_next(w, rc->seq)) != 0)
		return r;
	return 0;
}

/* Pass 3, the status history of a certificate (schema step 7) against
 * its status records, both ways: every event has its record (a hold,
 * release or revocation added to the history by an editor of the file,
 * such as a release that would make a signature made while the
 * certificate was held valid, is caught), every record has its event (a
 * deleted event is caught), and the row's current state is the one its
 * last event set. Records appended while verification runs (after the
 * chain it walked) need no event yet. */
static int
audit_verify_history(struct audit_verify_ctx *v,
    const struct store_cert_trail *t)
{
	struct audit_hist_walk w;
	const char *want_status = "good";
	int64_t want_at = 0, want_inv = 0;
	int want_reason = -1, r;
	char iso[32], last[64];

	memset(&w, 0, sizeof(w));
	w.v = v;
	w.t = t;
	/* The records from before the history: the last one's state is the
	 * upgrade's event when it left the certificate held or revoked. */
	if ((r = audit_hist_next(&w, 0)) != 0)
		return r;
	while (w.have_rec && !w.rec.has_time) {
		w.legacy = w.rec;
		w.upgrade_pending = strcmp(w.legacy.to, "good") != 0;
		if ((r = audit_hist_next(&w, w.rec.seq)) != 0)
			return r;
	}
	r = store_cert_history_scan(v->st, t->serial, audit_hist_event, &w);
	if (r != 0)
		return r;
	if (w.upgrade_pending)
		return audit_hist_bad(&w, w.legacy.seq, "certificate %s: its "
		    "status record %lld (before the status history) left it "
		    "%s, but the history has no event for it: deleted behind "
		    "the log's back", t->serial, (long long)w.legacy.seq,
		    w.legacy.to);
	if (w.have_rec && w.rec.seq <= v->last_seq)
		return audit_hist_bad(&w, w.rec.seq, "certificate %s: record "
		    "%lld (%s) has no status history event: the event was "
		    "deleted behind the log's back", t->serial,
		    (long long)w.rec.seq, w.rec.change != NULL ? w.rec.change :
		    "?");
	if (w.have_last) {
		want_status = audit_change_status(w.last.change);
		if (strcmp(w.last.change, STORE_CHANGE_RELEASE) != 0) {
			want_at = w.last.time;
			want_reason = w.last.reason;
			want_inv = w.last.invalidity_date;
		}
	}
	if (strcmp(t->status, want_status) != 0 || t->revoked_at != want_at ||
	    t->reason != want_reason || t->invalidity_date != want_inv) {
		audit_verify_iso(t->revoked_at, iso, sizeof(iso));
		snprintf(last, sizeof(last), w.have_last ? "its last status "
		    "history event, %lld," : "its status history (no event)",
		    (long long)w.last.id);
		return audit_hist_bad(&w, v->last_seq + 1, "certificate %s is "
		    "%s (time %s, reason %d, invalidity date %lld) but %s "
		    "left it %s (time %lld, reason %d, invalidity date %lld): "
		    "the row was edited", t->serial, t->status,
		    t->revoked_at ? iso : "none", t->reason,
		    (long long)t->invalidity_date, last, want_status,
		    (long long)want_at, want_reason, (long long)want_inv);
	}
	return 0;
}

/* Pass 3, one certificate row: its issuance is on record, its status is
 * the one its last status record set, and its status history matches
 * its status records (audit_verify_history). */
static int
audit_verify_cert(void *arg, const struct store_cert_trail *t)
{
	struct audit_verify_ctx *v = arg;
	const char *want = t->status_seq > 0 ? t->status_to : "good";
	int r;

	if (t->issue_seq == 0) {
		snprintf(v->rep->bad_serial, sizeof(v->rep->bad_serial), "%s",
		    t->serial);
		return audit_verify_bad(v, v->last_seq + 1, "certificate %s "
		    "(%s) has no cert.issue record: it was stored without "
		    "one, or its record was deleted", t->serial, t->status);
	}
	if (strcmp(t->status, want) != 0) {
		snprintf(v->rep->bad_serial, sizeof(v->rep->bad_serial), "%s",
		    t->serial);
		if (t->status_seq == 0)
			return audit_verify_bad(v, v->last_seq + 1,
			    "certificate %s is %s but no status record "
			    "(cert.revoke, cert.hold) says so", t->serial,
			    t->status);
		return audit_verify_bad(v, t->status_seq, "certificate %s is "
		    "%s but its last status record, %lld, set it %s",
		    t->serial, t->status, (long long)t->status_seq, want);
	}
	if ((t->status_seq > 0 || t->has_history) &&
	    (r = audit_verify_history(v, t)) != 0)
		return r;
	v->rep->certificates++;
	return 0;
}

static void
audit_verify_ctx_free(struct audit_verify_ctx *v)
{
	size_t i;

	for (i = 0; i < v->nkeys; i++)
		EVP_PKEY_free(v->keys[i].pub);
	v->nkeys = 0;
}

int
audit_verify(store *st, const struct audit_verify_opts *o,
    struct audit_report *out)
{
	int r = GP_ERR_INTERNAL, rc;
	struct audit_verify_ctx *v = NULL;
	struct store_checkpoint last;

	memset(&last, 0, sizeof(last));
	ENSURE(st != NULL && o != NULL && o->root != NULL && out != NULL,
	    GP_ERR_INVALID);
	memset(out, 0, sizeof(*out));
	ENSURE((v = calloc(1, sizeof(*v))) != NULL, GP_ERR_NOMEM);
	v->st = st;
	v->o = o;
	v->rep = out;
	v->expected = 1;

	/* Checkpoints that exist now cover records that exist now, so a
	 * writer appending during the scans cannot cause a false alarm. */
	rc = store_checkpoint_last(st, &last);
	if (rc == 0)
		v->max_cp_id = last.id;
	else if (rc == GP_ERR_TAMPERED)
		v->max_cp_id = last.id; /* pass 2 reports it */
	else if (rc != GP_ERR_NOT_FOUND)
		GUARD(rc);

	/* Pass 1: the chain. Every seq, even a forged negative one. */
	rc = store_audit_scan(st, INT64_MIN, 0, audit_verify_row, v);
	if (rc == GP_ERR_TAMPERED && out->first_bad_seq == 0)
		(void)audit_verify_bad(v, v->expected, "record %lld: %s",
		    (long long)v->expected, gp_err_detail());
	else if (rc != 0 && rc != AUDIT_VERIFY_BAD)
		GUARD(rc);

	/* Pass 2: the checkpoints. */
	if (out->first_bad_seq == 0) {
		rc = store_checkpoint_scan(st, audit_verify_cp, v);
		if (rc == GP_ERR_TAMPERED && out->first_bad_seq == 0)
			(void)audit_verify_bad(v, v->prev_cp_seq + 1, "%s",
			    gp_err_detail());
		else if (rc != 0 && rc != AUDIT_VERIFY_BAD)
			GUARD(rc);
	}
	if (v->nkeys > 0) {
		out->keys = (int64_t)v->cur_key + 1;
		if (v->keys[0].adopted)
			out->adopted_seq = v->keys[0].seq;
	}

	/* Pass 3: every certificate row has its records. */
	if (out->first_bad_seq == 0) {
		rc = store_cert_trail_scan(st, audit_verify_cert, v);
		if (rc == GP_ERR_TAMPERED && out->first_bad_seq == 0)
			(void)audit_verify_bad(v, v->last_seq + 1, "%s",
			    gp_err_detail());
		else if (rc != 0 && rc != AUDIT_VERIFY_BAD)
			GUARD(rc);
	}

	out->unsealed = v->last_seq - out->last_checkpoint_seq;
	if (out->unsealed < 0)
		out->unsealed = 0;
	if (out->first_bad_seq != 0) {
		r = gp_err_set(GP_ERR_TAMPERED, "audit log: %s", out->reason);
		goto out;
	}
	r = 0;
out:
	if (v != NULL)
		audit_verify_ctx_free(v);
	free(v);
	store_checkpoint_clear(&last);
	return r;
}

int
audit_verify_witnessed(store *st, int64_t seq, const uint8_t hash[32],
    const char *what, struct audit_report *rep)
{
	int r = GP_ERR_INTERNAL, rc;
	struct store_audit_row row;
	int64_t count = 0, max = 0;

	memset(&row, 0, sizeof(row));
	ENSURE(st != NULL && hash != NULL && what != NULL && rep != NULL,
	    GP_ERR_INVALID);
	rc = store_audit_get(st, seq, &row);
	if (rc == GP_ERR_NOT_FOUND) {
		GUARD(store_audit_count(st, &count, &max));
		rep->first_bad_seq = max + 1;
		snprintf(rep->reason, sizeof(rep->reason), "the witnessed %s "
		    "is not in the chain, which ends at record %lld: the log "
		    "was rolled back or truncated", what, (long long)max);
		r = gp_err_set(GP_ERR_TAMPERED, "audit log: %s", rep->reason);
		goto out;
	}
	GUARD(rc);
	if (CRYPTO_memcmp(row.hash, hash, 32) != 0) {
		rep->first_bad_seq = seq;
		snprintf(rep->reason, sizeof(rep->reason), "record %lld is not "
		    "the witnessed %s: the log was rewritten (a fork)",
		    (long long)seq, what);
		r = gp_err_set(GP_ERR_TAMPERED, "audit log: %s", rep->reason);
		goto out;
	}
	rep->witnessed++;
	r = 0;
out:
	store_audit_row_clear(&row);
	return r;
}

json_t *
audit_report_json(const struct audit_report *rep, int verified)
{
	if (rep == NULL)
		return NULL;
	return json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:o, s:s}",
	    "verified", verified,
	    "records", (json_int_t)rep->records,
	    "checkpoints", (json_int_t)rep->checkpoints,
	    "last_checkpoint_seq", (json_int_t)rep->last_checkpoint_seq,
	    "unsealed", (json_int_t)rep->unsealed,
	    "keys", (json_int_t)rep->keys,
	    "timestamped", (json_int_t)rep->timestamped,
	    "certificates", (json_int_t)rep->certificates,
	    "witnessed", (json_int_t)rep->witnessed,
	    "adopted_seq", (json_int_t)rep->adopted_seq,
	    "first_bad_seq", (json_int_t)(verified ? 0 : rep->first_bad_seq),
	    "bad_serial", rep->bad_serial[0] != '\0' && !verified ?
	    json_string(rep->bad_serial) : json_null(),
	    "reason", verified ? "" : rep->reason);
}
