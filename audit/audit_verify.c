/*
 * audit_verify.c: proves the audit log complete and unaltered.
 *
 * Pass 1 walks every record in seq order, a page at a time: seqs run 1, 2,
 * 3... without gaps, each record's prev_hash is the previous record's hash,
 * and each hash recomputes. Every "audit.checkpoint" record must name an
 * existing checkpoint with the seq and hash it states (a deleted checkpoint
 * is detected). Pass 2 walks the checkpoints that existed when verification
 * started: each signature verifies with the audit key, the record it covers
 * still has the signed hash (a chain rewritten from scratch is detected),
 * checkpoints never go backwards, and each one has its audit.checkpoint
 * record (records deleted from the tail are detected).
 *
 * Memory holds one page of rows and a few counters, whatever the log size.
 * Records and checkpoints appended while it runs are tolerated: checkpoints
 * newer than the start are skipped.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "audit/internal.h"

/* Returned by the callbacks to stop at the first bad record. */
#define AUDIT_VERIFY_BAD 1

struct audit_verify_ctx {
	store *st;
	EVP_PKEY *pub;
	struct audit_report *rep;
	int64_t expected;         /* the next seq */
	uint8_t prev_hash[32];    /* hash of the record before it */
	int64_t last_seq;         /* last record seen */
	int64_t max_cp_id;        /* checkpoints considered: id <= this */
	int64_t max_ref_cp_id;    /* highest id an audit.checkpoint names */
	int64_t prev_cp_id;
	int64_t prev_cp_seq;
};

static int audit_verify_bad(struct audit_verify_ctx *v, int64_t seq,
    const char *fmt, ...) GP_PRINTF(3, 4);

static int
audit_verify_bad(struct audit_verify_ctx *v, int64_t seq, const char *fmt,
    ...)
{
	va_list ap;

	/* A forged record before seq 1 breaks the log at position 1. */
	v->rep->first_bad_seq = seq < 1 ? 1 : seq;
	va_start(ap, fmt);
	vsnprintf(v->rep->reason, sizeof(v->rep->reason), fmt, ap);
	va_end(ap);
	return AUDIT_VERIFY_BAD;
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
	memcpy(v->prev_hash, row->hash, 32);
	v->last_seq = row->seq;
	v->expected = row->seq + 1;
	v->rep->records++;
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
	rc = audit_chain_verify_sig(v->pub, cp);
	if (rc == GP_ERR_TAMPERED) {
		r = audit_verify_bad(v, cp->seq, "checkpoint %lld (record "
		    "%lld): the signature does not verify with the audit key",
		    (long long)cp->id, (long long)cp->seq);
		goto out;
	}
	GUARD(rc);
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

int
audit_verify(store *st, EVP_PKEY *pub, struct audit_report *out)
{
	int r = GP_ERR_INTERNAL, rc;
	struct audit_verify_ctx v;
	struct store_checkpoint last;

	memset(&v, 0, sizeof(v));
	memset(&last, 0, sizeof(last));
	ENSURE(st != NULL && pub != NULL && out != NULL, GP_ERR_INVALID);
	memset(out, 0, sizeof(*out));
	v.st = st;
	v.pub = pub;
	v.rep = out;
	v.expected = 1;

	/* Checkpoints that exist now cover records that exist now, so a
	 * writer appending during the scans cannot cause a false alarm. */
	rc = store_checkpoint_last(st, &last);
	if (rc == 0)
		v.max_cp_id = last.id;
	else if (rc == GP_ERR_TAMPERED)
		v.max_cp_id = last.id; /* pass 2 reports it */
	else if (rc != GP_ERR_NOT_FOUND)
		GUARD(rc);

	/* Pass 1: the chain. Every seq, even a forged negative one. */
	rc = store_audit_scan(st, INT64_MIN, 0, audit_verify_row, &v);
	if (rc == GP_ERR_TAMPERED && out->first_bad_seq == 0)
		(void)audit_verify_bad(&v, v.expected, "record %lld: %s",
		    (long long)v.expected, gp_err_detail());
	else if (rc != 0 && rc != AUDIT_VERIFY_BAD)
		GUARD(rc);

	/* Pass 2: the checkpoints. */
	if (out->first_bad_seq == 0) {
		rc = store_checkpoint_scan(st, audit_verify_cp, &v);
		if (rc == GP_ERR_TAMPERED && out->first_bad_seq == 0)
			(void)audit_verify_bad(&v, v.prev_cp_seq + 1, "%s",
			    gp_err_detail());
		else if (rc != 0 && rc != AUDIT_VERIFY_BAD)
			GUARD(rc);
	}

	out->unsealed = v.last_seq - out->last_checkpoint_seq;
	if (out->unsealed < 0)
		out->unsealed = 0;
	if (out->first_bad_seq != 0) {
		r = gp_err_set(GP_ERR_TAMPERED, "audit log: %s", out->reason);
		goto out;
	}
	r = 0;
out:
	store_checkpoint_clear(&last);
	return r;
}
