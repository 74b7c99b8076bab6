/*
 * test_audit.c: the tamper-evident audit log. Each case builds a fresh log
 * (the audit key's record, records from audit_log() on several threads and
 * audit_append_tx(), and two checkpoints signed with a software EC key
 * whose certificate, with the audit EKU, is issued by a test root), then
 * edits the database file with sqlite3 directly, as an attacker with file
 * access would, and checks that audit_verify() names the first bad record
 * and why. The hash is recomputed here independently from audit.h's
 * definition. The attacks on the trust in the audit key (a log re-signed
 * by an attacker's key under an attacker's root, or by a certificate of
 * the real root without the audit EKU), on key changes, on time-stamp
 * tokens, on certificate rows and the rollback a witness catches are each
 * performed here and must fail verification.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#include "audit/audit.h"
#include "audit/internal.h"
#include "store/internal.h" /* STORE_AUDIT_CHUNK */
#include "store/store.h"
#include "tests/test.h"

static EVP_PKEY *test_key;   /* the audit key */
static EVP_PKEY *other_key;  /* someone else's */
static EVP_PKEY *root_key;   /* the instance root's */
static X509 *test_root;      /* the instance root: the trust anchor */
static X509 *test_cert;      /* test_key's audit certificate */

/* A certificate for |key| named |cn|, signed by |issuer_key| under
 * |issuer| (NULL: self-signed), with |eku| (an extendedKeyUsage value, or
 * NULL) and, for a CA, basic constraints. */
static X509 *
mkcert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
    int ca, const char *eku)
{
	X509 *x = X509_new();
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	static long serial = 1;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
	    ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, ca ?
	    "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	if (eku != NULL) {
		e = X509V3_EXT_conf_nid(NULL, &ctx, NID_ext_key_usage, eku);
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	X509_sign(x, issuer_key, EVP_sha256());
	return x;
}

/* An audit certificate of the test root for |key|. */
static X509 *
audit_cert_for(EVP_PKEY *key)
{
	return mkcert(key, "audit", test_root, root_key, 0,
	    "critical," AUDIT_EKU_OID);
}

/* Records |cert| as an audit key in its own transaction. */
static int
record_key(struct test_audit_fx *f, X509 *cert)
{
	int r;

	if ((r = store_begin(f->st)) != 0)
		return r;
	if ((r = audit_key_record_tx(f->a, "local:test", cert, NULL, 0)) != 0) {
		store_rollback(f->st);
		return r;
	}
	return store_commit(f->st);
}

/* The "success" record of |op| on |object| by the local tester, with
 * |details| (borrowed, may be NULL). */
static void
local_event(struct audit_event *ev, const char *op, const char *object,
    json_t *details)
{
	memset(ev, 0, sizeof(*ev));
	ev->actor = "local:test";
	ev->op = op;
	ev->object = object;
	ev->outcome = "success";
	ev->details = details;
}

/* An editor of the file: drops the append-only triggers first. */
static int
tamper(struct test_audit_fx *f, const char *sql)
{
	sqlite3 *db = NULL;
	char *err = NULL;
	int rc;

	if ((rc = sqlite3_open(f->tmp.path, &db)) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		rc = sqlite3_exec(db,
		    "DROP TRIGGER IF EXISTS audit_no_update;"
		    "DROP TRIGGER IF EXISTS audit_no_delete;"
		    "DROP TRIGGER IF EXISTS checkpoints_no_update;"
		    "DROP TRIGGER IF EXISTS checkpoints_no_delete;"
		    "DROP TRIGGER IF EXISTS cert_status_history_no_update;"
		    "DROP TRIGGER IF EXISTS cert_status_history_no_delete;",
		    NULL, NULL, &err);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	}
	if (rc != SQLITE_OK)
		fprintf(stderr, "  tamper: %s\n", err ? err : "?");
	sqlite3_free(err);
	sqlite3_close(db);
	return rc;
}

/* audit.h's hash, written again from the definition. */
static void
put_field(EVP_MD_CTX *md, const char *s)
{
	uint8_t b[5];
	uint32_t n;

	if (s == NULL) {
		b[0] = 0;
		EVP_DigestUpdate(md, b, 1);
		return;
	}
	n = (uint32_t)strlen(s);
	b[0] = 1;
	b[1] = (uint8_t)(n >> 24);
	b[2] = (uint8_t)(n >> 16);
	b[3] = (uint8_t)(n >> 8);
	b[4] = (uint8_t)n;
	EVP_DigestUpdate(md, b, 5);
	EVP_DigestUpdate(md, s, n);
}

static void
put_be64(uint8_t *p, int64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
}

static void
ref_hash(const uint8_t prev[32], int64_t seq, int64_t time_ms,
    const char *const f[8], uint8_t out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t num[16];
	int i;

	put_be64(num, seq);
	put_be64(num + 8, time_ms);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, "govpki-audit-v1", 15);
	EVP_DigestUpdate(md, prev, 32);
	EVP_DigestUpdate(md, num, 16);
	for (i = 0; i < 8; i++)
		put_field(md, f[i]);
	EVP_DigestFinal_ex(md, out, NULL);
	EVP_MD_CTX_free(md);
}

static void
ref_row_hash(const struct store_audit_row *r, uint8_t out[32])
{
	const char *f[8] = {r->actor, r->role, r->op, r->object, r->outcome,
	    r->request_id, r->client, r->details};

	ref_hash(r->prev_hash, r->seq, r->time_ms, f, out);
}

/* Recomputes every prev_hash and hash in seq order with the published
 * encoding: the attacker who rewrites the chain after an edit. */
static int
rechain(struct test_audit_fx *f)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL, *u = NULL;
	uint8_t prev[32] = {0}, h[32];
	int rc, i, n = 0;
	int64_t seqs[4096];
	uint8_t (*hashes)[2][32] = calloc(4096, sizeof(*hashes));

	if (tamper(f, "SELECT 1") != SQLITE_OK || hashes == NULL)
		return -1;
	sqlite3_open(f->tmp.path, &db);
	rc = sqlite3_prepare_v2(db, "SELECT seq, time_ms, actor, role, op, "
	    "object, outcome, request_id, client, details FROM audit ORDER BY "
	    "seq", -1, &s, NULL);
	while (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW && n < 4096) {
		const char *fl[8];

		for (i = 0; i < 8; i++)
			fl[i] = (const char *)sqlite3_column_text(s, 2 + i);
		ref_hash(prev, sqlite3_column_int64(s, 0),
		    sqlite3_column_int64(s, 1), fl, h);
		seqs[n] = sqlite3_column_int64(s, 0);
		memcpy(hashes[n][0], prev, 32);
		memcpy(hashes[n][1], h, 32);
		memcpy(prev, h, 32);
		n++;
	}
	sqlite3_finalize(s);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	sqlite3_prepare_v2(db, "UPDATE audit SET prev_hash = ?1, hash = ?2 "
	    "WHERE seq = ?3", -1, &u, NULL);
	for (i = 0; i < n; i++) {
		sqlite3_bind_blob(u, 1, hashes[i][0], 32, SQLITE_STATIC);
		sqlite3_bind_blob(u, 2, hashes[i][1], 32, SQLITE_STATIC);
		sqlite3_bind_int64(u, 3, seqs[i]);
		if (sqlite3_step(u) != SQLITE_DONE)
			rc = -1;
		sqlite3_reset(u);
	}
	sqlite3_finalize(u);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
	free(hashes);
	return rc == SQLITE_OK ? 0 : -1;
}

static int
append_tx(struct test_audit_fx *f, const char *op, const char *object)
{
	struct audit_event ev;
	json_t *d = json_pack("{s:s, s:i, s:{s:b}}", "zeta", "last", "alpha",
	    1, "nested", "ok", 1);
	int64_t seq = 0;
	int r;

	memset(&ev, 0, sizeof(ev));
	ev.actor = "CN=\xe5\xbc\xa0\xe4\xb8\x89,serial=0a1b";
	ev.role = "officer";
	ev.op = op;
	ev.object = object;
	ev.outcome = "success";
	ev.request_id = "req-1";
	ev.client = "127.0.0.1";
	ev.details = d;
	if ((r = store_begin(f->st)) == 0) {
		r = audit_append_tx(f->a, &ev, &seq);
		if (r == 0)
			r = store_commit(f->st);
		else
			store_rollback(f->st);
	}
	json_decref(d);
	return r;
}

struct logger {
	audit *a;
	int n;
	int id;
	int errors;
};

static void *
logger_main(void *p)
{
	struct logger *l = p;
	struct audit_event ev;
	char obj[64];
	json_t *d;
	int i;

	for (i = 0; i < l->n; i++) {
		snprintf(obj, sizeof(obj), "thread:%d:%d", l->id, i);
		d = json_pack("{s:i, s:i}", "thread", l->id, "i", i);
		memset(&ev, 0, sizeof(ev));
		ev.actor = "local:test";
		ev.role = "local";
		ev.op = "test.log";
		ev.object = obj;
		ev.outcome = i % 3 ? "success" : "failure";
		ev.details = d;
		if (audit_log(l->a, &ev) != 0)
			l->errors++;
		json_decref(d);
	}
	return NULL;
}

/* |threads| threads each calling audit_log() |n| times; errors. */
static int
log_threads(audit *a, int threads, int n)
{
	pthread_t th[16];
	struct logger l[16];
	int i, errors = 0;

	for (i = 0; i < threads; i++) {
		l[i].a = a;
		l[i].n = n;
		l[i].id = i;
		l[i].errors = 0;
		pthread_create(&th[i], NULL, logger_main, &l[i]);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		errors += l[i].errors;
	}
	return errors;
}

/*
 * The standard log: record 1 the audit key (test_cert), records 2-11 by
 * audit_append_tx, 12-51 by audit_log from 4 threads, checkpoint 1
 * covering 51 (record 52 seals it), 53-62 by audit_append_tx, checkpoint 2
 * covering 62 (record 63), 64-68 by audit_log. 68 records, 2 checkpoints,
 * last checkpoint at 62.
 */
static void
populate(struct test_audit_fx *f)
{
	int i;
	char obj[32];

	CHECK_EQ(record_key(f, test_cert), 0);
	for (i = 0; i < 10; i++) {
		snprintf(obj, sizeof(obj), "cert:%02x", i);
		CHECK_EQ(append_tx(f, "ca.issue", obj), 0);
	}
	CHECK_EQ(log_threads(f->a, 4, 10), 0);
	CHECK_EQ(audit_checkpoint(f->a, test_key, 0), 0);
	for (i = 0; i < 10; i++)
		CHECK_EQ(append_tx(f, "ca.revoke", NULL), 0);
	CHECK_EQ(audit_checkpoint(f->a, test_key, 0), 0);
	CHECK_EQ(log_threads(f->a, 1, 5), 0);
}

static int
verify_root(struct test_audit_fx *f, X509 *root, struct audit_report *rep)
{
	struct audit_verify_opts o;

	memset(&o, 0, sizeof(o));
	o.root = root;
	return audit_verify(f->st, &o, rep);
}

static int
verify(struct test_audit_fx *f, struct audit_report *rep)
{
	return verify_root(f, test_root, rep);
}

static void
test_empty_and_null(void)
{
	struct test_audit_fx f;
	struct audit_report rep;
	int64_t n = -1, max = -1;

	test_audit_fx_open(&f);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.records, 0);
	CHECK_EQ(rep.checkpoints, 0);
	CHECK_EQ(rep.first_bad_seq, 0);
	/* Nothing to seal in an empty log, even forced. */
	CHECK_EQ(audit_checkpoint(f.a, test_key, 1), 0);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.checkpoints, 0);
	CHECK_EQ(audit_log(NULL, NULL), GP_ERR_INVALID);
	CHECK_EQ(audit_log(f.a, NULL), GP_ERR_INVALID);
	CHECK_EQ(audit_verify(f.st, NULL, &rep), GP_ERR_INVALID);
	{
		struct audit_verify_opts o;

		memset(&o, 0, sizeof(o)); /* no trust anchor */
		CHECK_EQ(audit_verify(f.st, &o, &rep), GP_ERR_INVALID);
	}
	CHECK_EQ(audit_checkpoint(f.a, NULL, 1), GP_ERR_INVALID);
	CHECK(audit_row_json(NULL) == NULL);
	audit_free(NULL);
	CHECK_EQ(store_audit_count(f.st, &n, &max), 0);
	CHECK_EQ(n, 0);
	test_audit_fx_close(&f);
}

struct ref_check {
	int64_t next;
	int bad;
	int checkpoint_records;
};

static int
ref_fn(void *arg, const struct store_audit_row *row)
{
	struct ref_check *c = arg;
	uint8_t h[32];

	ref_row_hash(row, h);
	if (row->seq != c->next || memcmp(h, row->hash, 32) != 0)
		c->bad++;
	if (row->op != NULL && strcmp(row->op, "audit.checkpoint") == 0) {
		c->checkpoint_records++;
		if (strcmp(row->actor, "govpki") != 0 ||
		    strcmp(row->role, "system") != 0 ||
		    strncmp(row->object, "checkpoint:", 11) != 0 ||
		    strncmp(row->details, "{\"hash\":\"", 9) != 0)
			c->bad++;
	}
	c->next = row->seq + 1;
	return 0;
}

/* The signature verifies over the input audit.h defines, independently. */
static int
ref_cp_fn(void *arg, const struct store_checkpoint *cp)
{
	int *bad = arg;
	uint8_t tbs[26 + 8 + 8 + 32];
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	memcpy(tbs, "govpki-audit-checkpoint-v1", 26);
	put_be64(tbs + 26, cp->seq);
	put_be64(tbs + 34, cp->time_ms);
	memcpy(tbs + 42, cp->hash, 32);
	if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, test_key) != 1 ||
	    EVP_DigestVerify(md, cp->sig, cp->sig_len, tbs, sizeof(tbs)) != 1)
		(*bad)++;
	EVP_MD_CTX_free(md);
	return 0;
}

static void
test_append_verify(void)
{
	struct test_audit_fx f;
	struct audit_report rep;
	struct ref_check c;
	int cp_bad = 0;
	int64_t n = 0, max = 0;

	test_audit_fx_open(&f);
	populate(&f);
	CHECK_EQ(store_audit_count(f.st, &n, &max), 0);
	CHECK_EQ(n, 68);
	CHECK_EQ(max, 68);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.records, 68);
	CHECK_EQ(rep.checkpoints, 2);
	CHECK_EQ(rep.last_checkpoint_seq, 62);
	CHECK_EQ(rep.unsealed, 6);
	CHECK_EQ(rep.keys, 1);
	CHECK_EQ(rep.first_bad_seq, 0);

	memset(&c, 0, sizeof(c));
	c.next = 1;
	CHECK_EQ(store_audit_scan(f.st, 0, 0, ref_fn, &c), 0);
	CHECK_EQ(c.bad, 0);
	CHECK_EQ(c.next, 69);
	CHECK_EQ(c.checkpoint_records, 2);
	CHECK_EQ(store_checkpoint_scan(f.st, ref_cp_fn, &cp_bad), 0);
	CHECK_EQ(cp_bad, 0);

	/* Against someone else's root, the recorded audit key is nobody's. */
	{
		X509 *root2 = mkcert(other_key, "other root", NULL, other_key,
		    1, NULL);

		CHECK_EQ(verify_root(&f, root2, &rep), GP_ERR_TAMPERED);
		CHECK_EQ(rep.first_bad_seq, 1);
		CHECK_CONTAINS(rep.reason, "does not chain to the trust "
		    "anchor");
		X509_free(root2);
	}
	test_audit_fx_close(&f);
}

/* A time-stamp callback that lets three records in (through the audit
 * log |arg|) between the checkpoint's snapshot of the head and its
 * record, as other threads or nodes do while a TSA answers; then no
 * token. */
static int
late_stamp(void *arg, const uint8_t *sig, size_t sig_len,
    struct audit_stamp *out)
{
	struct audit_event ev;
	int i;

	(void)sig;
	(void)sig_len;
	(void)out;
	memset(&ev, 0, sizeof(ev));
	ev.actor = "local:other";
	ev.op = "late";
	ev.outcome = "success";
	for (i = 0; i < 3; i++) {
		if (audit_log(arg, &ev) != 0)
			return GP_ERR_INTERNAL;
	}
	return gp_err_set(GP_ERR_BUSY, "no TSA (test)");
}

static void
test_checkpoint_idle_and_force(void)
{
	struct test_audit_fx f;
	struct audit_report rep;
	struct store_checkpoint cp;

	test_audit_fx_open(&f);
	CHECK_EQ(record_key(&f, test_cert), 0);
	CHECK_EQ(append_tx(&f, "x", NULL), 0);
	CHECK_EQ(audit_checkpoint(f.a, test_key, 0), 0);     /* cp 1 at 2 */
	CHECK_EQ(audit_checkpoint(f.a, test_key, 0), 0);     /* idle */
	CHECK_EQ(audit_checkpoint(f.a, test_key, 0), 0);     /* idle */
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.checkpoints, 1);
	CHECK_EQ(rep.records, 3);
	CHECK_EQ(audit_checkpoint(f.a, test_key, 1), 0);     /* forced */
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.checkpoints, 2);
	CHECK_EQ(rep.records, 4);
	CHECK_EQ(rep.last_checkpoint_seq, 3);
	CHECK_EQ(store_checkpoint_last(f.st, &cp), 0);
	CHECK_EQ(cp.id, 2);
	CHECK_EQ(cp.seq, 3);
	store_checkpoint_clear(&cp);
	/* Checkpoint 3 seals 4, the head it read, but its record comes
	 * after 5-7, appended while it was being signed: the head (8) is a
	 * checkpoint's record, yet 5-7 are unsealed, so the next checkpoint
	 * is not idle. */
	CHECK_EQ(audit_checkpoint_stamped(f.a, test_key, 1, late_stamp, f.a),
	    0);
	CHECK_EQ(store_checkpoint_last(f.st, &cp), 0);
	CHECK_EQ(cp.seq, 4);
	store_checkpoint_clear(&cp);
	CHECK_EQ(audit_checkpoint(f.a, test_key, 0), 0);     /* not idle */
	CHECK_EQ(audit_checkpoint(f.a, test_key, 0), 0);     /* idle */
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.records, 9);
	CHECK_EQ(rep.checkpoints, 4);
	CHECK_EQ(rep.last_checkpoint_seq, 8);
	CHECK_EQ(rep.unsealed, 1); /* the last checkpoint's own record */
	test_audit_fx_close(&f);
}

/* One edit of a fresh standard log and the expected verdict; with
 * |rewrite|, every hash after the edit recomputed too, as an editor who
 * knows the hash function would. */
static void
edit_case(const char *sql, int rewrite, int64_t want_seq,
    const char *want_reason)
{
	struct test_audit_fx f;
	struct audit_report rep;

	test_audit_fx_open(&f);
	populate(&f);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(tamper(&f, sql), SQLITE_OK);
	if (rewrite)
		CHECK_EQ(rechain(&f), 0);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_EQ(rep.first_bad_seq, want_seq);
	CHECK_CONTAINS(rep.reason, want_reason);
	CHECK_CONTAINS(gp_err_detail(), want_reason);
	test_audit_fx_close(&f);
}

/* The edit alone, its hashes left as they were. */
static void
tamper_case(const char *sql, int64_t want_seq, const char *want_reason)
{
	edit_case(sql, 0, want_seq, want_reason);
}

/* The edit with the chain recomputed after it. */
static void
rewrite_case(const char *sql, int64_t want_seq, const char *want_reason)
{
	edit_case(sql, 1, want_seq, want_reason);
}

static void
test_tamper_change(void)
{
	tamper_case("UPDATE audit SET actor = 'local:mallory' WHERE seq = 20",
	    20, "record 20 was changed");
	tamper_case("UPDATE audit SET details = NULL WHERE seq = 5", 5,
	    "record 5 was changed");
	tamper_case("UPDATE audit SET time_ms = time_ms + 1 WHERE seq = 67",
	    67, "record 67 was changed");
	tamper_case("UPDATE audit SET outcome = 'failure' WHERE seq = 1", 1,
	    "record 1 was changed");
}

static void
test_tamper_delete(void)
{
	tamper_case("DELETE FROM audit WHERE seq = 20", 20,
	    "record 20 is missing");
	tamper_case("DELETE FROM audit WHERE seq = 1", 1,
	    "record 1 is missing");
	tamper_case("DELETE FROM audit WHERE seq BETWEEN 30 AND 40", 30,
	    "record 30 is missing");
}

/* A forged record slipped in at 20, later ones shifted up by one. The
 * forger knows the encoding, so record 20 itself verifies; record 21 (the
 * old 20) no longer follows it. */
static void
test_tamper_insert(void)
{
	struct test_audit_fx f;
	struct audit_report rep;
	struct store_audit_row r19, forged;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;

	test_audit_fx_open(&f);
	populate(&f);
	memset(&forged, 0, sizeof(forged));
	CHECK_EQ(store_audit_get(f.st, 19, &r19), 0);
	CHECK_EQ(tamper(&f, "UPDATE audit SET seq = -seq WHERE seq >= 20;"
	    "UPDATE audit SET seq = 1 - seq WHERE seq < 0"), SQLITE_OK);
	forged.seq = 20;
	forged.time_ms = r19.time_ms + 1;
	forged.actor = "local:mallory";
	forged.role = "officer";
	forged.op = "ca.issue";
	forged.outcome = "success";
	memcpy(forged.prev_hash, r19.hash, 32);
	ref_row_hash(&forged, forged.hash);
	sqlite3_open(f.tmp.path, &db);
	CHECK_EQ(sqlite3_prepare_v2(db, "INSERT INTO audit (seq, time_ms, "
	    "actor, role, op, outcome, prev_hash, hash) VALUES (20, ?1, ?2, "
	    "?3, ?4, ?5, ?6, ?7)", -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_int64(s, 1, forged.time_ms);
	sqlite3_bind_text(s, 2, forged.actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, forged.role, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, forged.op, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, forged.outcome, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 6, forged.prev_hash, 32, SQLITE_STATIC);
	sqlite3_bind_blob(s, 7, forged.hash, 32, SQLITE_STATIC);
	CHECK_EQ(sqlite3_step(s), SQLITE_DONE);
	sqlite3_finalize(s);
	sqlite3_close(db);

	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_EQ(rep.first_bad_seq, 21);
	CHECK_CONTAINS(rep.reason, "record 21 does not follow record 20");
	store_audit_row_clear(&r19);
	test_audit_fx_close(&f);
}

/* Two records' contents swapped in place (seqs kept): the first of them is
 * named. */
#define SWAP_SQL(a, b)                                                    \
	"CREATE TEMP TABLE t AS SELECT * FROM audit WHERE seq IN (" #a ", " \
	#b ");"                                                           \
	"UPDATE audit SET (time_ms, actor, role, op, object, outcome, "   \
	"request_id, client, details, prev_hash, hash) = (SELECT time_ms, " \
	"actor, role, op, object, outcome, request_id, client, details, " \
	"prev_hash, hash FROM t WHERE t.seq = " #a " + " #b " - audit.seq) " \
	"WHERE seq IN (" #a ", " #b ");"

static void
test_tamper_reorder(void)
{
	tamper_case(SWAP_SQL(20, 25), 20, "record 20 does not follow record 19");
	tamper_case(SWAP_SQL(30, 31), 30, "record 30 does not follow record 29");
}

static void
test_tamper_checkpoint_deleted(void)
{
	tamper_case("DELETE FROM checkpoints WHERE id = 1", 52,
	    "checkpoint 1, which is missing");
	tamper_case("DELETE FROM checkpoints WHERE id = 2", 63,
	    "checkpoint 2, which is missing");
	/* Replaced by an older one under the same id. */
	tamper_case("UPDATE checkpoints SET seq = (SELECT seq FROM checkpoints "
	    "WHERE id = 1), hash = (SELECT hash FROM checkpoints WHERE id = 1),"
	    " sig = (SELECT sig FROM checkpoints WHERE id = 1), time_ms = "
	    "(SELECT time_ms FROM checkpoints WHERE id = 1) WHERE id = 2", 63,
	    "does not match checkpoint 2");
}

static void
test_tamper_checkpoint_sig(void)
{
	tamper_case("UPDATE checkpoints SET sig = randomblob(length(sig)) "
	    "WHERE id = 2", 62, "signature does not verify");
	/* A valid DER signature over other data: checkpoint 1's. */
	tamper_case("UPDATE checkpoints SET sig = (SELECT sig FROM checkpoints "
	    "WHERE id = 1) WHERE id = 2", 62, "signature does not verify");
	tamper_case("UPDATE checkpoints SET time_ms = time_ms + 1 WHERE id = 1",
	    51, "signature does not verify");
}

/* An edit followed by a consistent rewrite of every hash: the chain
 * verifies but no longer matches what the audit key signed. */
static void
test_tamper_rechain(void)
{
	struct test_audit_fx f;
	struct audit_report rep;

	rewrite_case("UPDATE audit SET actor = 'local:mallory' WHERE seq = 10",
	    51, "checkpoint 1 covers record 51 but the chain was rewritten");

	/* ...and the checkpoint hashes updated to match: the audit.checkpoint
	 * record still states the signed hash. */
	test_audit_fx_open(&f);
	populate(&f);
	CHECK_EQ(tamper(&f, "UPDATE audit SET outcome = 'failure' "
	    "WHERE seq = 55"), SQLITE_OK);
	CHECK_EQ(rechain(&f), 0);
	CHECK_EQ(tamper(&f, "UPDATE checkpoints SET hash = (SELECT hash FROM "
	    "audit WHERE audit.seq = checkpoints.seq)"), SQLITE_OK);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_EQ(rep.first_bad_seq, 63);
	CHECK_CONTAINS(rep.reason, "does not match checkpoint 2");
	test_audit_fx_close(&f);

	/* ...and those records rewritten too: only the signature is left,
	 * and it does not cover the new hash. */
	test_audit_fx_open(&f);
	populate(&f);
	CHECK_EQ(tamper(&f, "UPDATE audit SET outcome = 'failure' "
	    "WHERE seq = 55"), SQLITE_OK);
	CHECK_EQ(rechain(&f), 0);
	CHECK_EQ(tamper(&f, "UPDATE checkpoints SET hash = (SELECT hash FROM "
	    "audit WHERE audit.seq = checkpoints.seq);"
	    "UPDATE audit SET details = json_object('hash', lower(hex(("
	    "SELECT c.hash FROM checkpoints c WHERE 'checkpoint:' || c.id = "
	    "audit.object))), 'seq', json_extract(details, '$.seq')) "
	    "WHERE op = 'audit.checkpoint'"), SQLITE_OK);
	CHECK_EQ(rechain(&f), 0);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_EQ(rep.first_bad_seq, 62);
	CHECK_CONTAINS(rep.reason, "checkpoint 2 (record 62): the signature "
	    "does not verify");
	test_audit_fx_close(&f);
}

static void
test_tamper_tail(void)
{
	/* Sealed records 55-61 and everything after deleted. */
	tamper_case("DELETE FROM audit WHERE seq >= 55", 55,
	    "records after 54 are missing");
	/* Only checkpoint 2's own record and after. */
	tamper_case("DELETE FROM audit WHERE seq >= 63", 63,
	    "records after 62 are missing");
	/* Unsealed records after the last checkpoint's record are not
	 * protected by a signature: deleting them goes unnoticed. */
	{
		struct test_audit_fx f;
		struct audit_report rep;

		test_audit_fx_open(&f);
		populate(&f);
		CHECK_EQ(tamper(&f, "DELETE FROM audit WHERE seq >= 64"),
		    SQLITE_OK);
		CHECK_EQ(verify(&f, &rep), 0);
		CHECK_EQ(rep.records, 63);
		test_audit_fx_close(&f);
	}
}

static void
test_tamper_misc(void)
{
	/* A row outside the chain. */
	tamper_case("INSERT INTO audit (seq, time_ms, prev_hash, hash) VALUES "
	    "(0, 0, zeroblob(32), zeroblob(32))", 1,
	    "record 0 is not part of the chain");
	/* A hash blob of the wrong length. */
	tamper_case("UPDATE audit SET hash = X'00' WHERE seq = 33", 33,
	    "33");
	/* The checkpoint record's own claim edited, hashes rewritten. */
	rewrite_case("UPDATE audit SET details = "
	    "'{\"hash\":\"00\",\"seq\":51}' WHERE seq = 52", 52,
	    "does not match checkpoint 1");
}

/* 8 threads x 200 events: 1600 contiguous records that verify, carried by
 * fewer commits than records (group commit). Speed itself is measured by
 * `make bench`, not here. */
static void
test_group_commit(void)
{
	struct test_audit_fx f;
	struct audit_report rep;
	int64_t n = 0, max = 0, records = 0, commits = 0;

	test_audit_fx_open(&f);
	CHECK_EQ(log_threads(f.a, 1, 200), 0);
	audit_stats(f.a, &records, &commits);
	CHECK_EQ(records, 200);
	CHECK_EQ(commits, 200); /* one caller: nothing to share */
	test_audit_fx_close(&f);

	test_audit_fx_open(&f);
	CHECK_EQ(record_key(&f, test_cert), 0);
	CHECK_EQ(log_threads(f.a, 8, 200), 0);
	audit_stats(f.a, &records, &commits);
	CHECK_EQ(records, 1600);
	CHECK_EQ(audit_checkpoint(f.a, test_key, 0), 0);
	CHECK_EQ(store_audit_count(f.st, &n, &max), 0);
	CHECK_EQ(n, 1602);
	CHECK_EQ(max, 1602);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.records, 1602);
	CHECK_EQ(rep.last_checkpoint_seq, 1601);
	printf("# audit_log: 8 threads, 1600 records in %lld commits\n",
	    (long long)commits);
	/* Eight callers always waiting: batches must form. */
	CHECK(commits < 1600 * 3 / 4);
	test_audit_fx_close(&f);
}

/* A checkpointer: |n| forced checkpoints, alternating between two
 * writers' handles (two nodes signing with the one audit key). */
struct cp_loop {
	audit *a[2];
	int n;
	int errors;
};

static void *
cp_main(void *p)
{
	struct cp_loop *c = p;
	int i;

	for (i = 0; i < c->n; i++) {
		if (audit_checkpoint(c->a[i % 2], test_key, 1) != 0) {
			fprintf(stderr, "  checkpoint: %s\n", gp_err_detail());
			c->errors++;
		}
		usleep(2000);
	}
	return NULL;
}

/* Two nodes on one store: two audit writers, each on its own store
 * connection, appending at once from several threads while checkpoints
 * are signed through both. An attack on the chain: a writer that kept the
 * head from before the other appended would fork it (two records claiming
 * one seq, or one whose prev_hash is not its predecessor's). Each batch
 * must read the head inside its write transaction: every append succeeds,
 * the seqs are gapless, and verification passes over the one chain. */
static void
test_two_writers(void)
{
	struct test_audit_fx f;
	struct audit_report rep;
	store *st2 = NULL;
	audit *a2 = NULL;
	pthread_t th[9];
	struct logger l[8];
	struct cp_loop cp;
	int64_t n = 0, max = 0, r1 = 0, r2 = 0, c1 = 0, c2 = 0;
	int i, errors = 0;

	test_audit_fx_open(&f);
	CHECK_EQ(record_key(&f, test_cert), 0);
	CHECK_EQ(store_open(f.tmp.path, 1, &st2), 0);
	CHECK_EQ(audit_new(st2, &a2), 0);
	if (a2 == NULL)
		goto out;
	cp.a[0] = f.a;
	cp.a[1] = a2;
	cp.n = 10;
	cp.errors = 0;
	for (i = 0; i < 8; i++) {
		l[i].a = i % 2 ? a2 : f.a;
		l[i].n = 100;
		l[i].id = i;
		l[i].errors = 0;
		pthread_create(&th[i], NULL, logger_main, &l[i]);
	}
	pthread_create(&th[8], NULL, cp_main, &cp);
	for (i = 0; i < 9; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 8; i++)
		errors += l[i].errors;
	CHECK_EQ(errors, 0);
	CHECK_EQ(cp.errors, 0);
	/* Batches formed (four callers per writer): the records went in by
	 * the multi-row insert of the writer's batch. */
	audit_stats(f.a, &r1, &c1);
	audit_stats(a2, &r2, &c2);
	CHECK_EQ(r1 + r2, 800);
	CHECK(c1 + c2 < r1 + r2);
	CHECK_EQ(audit_checkpoint(a2, test_key, 0), 0);
	CHECK_EQ(store_audit_count(f.st, &n, &max), 0);
	CHECK_EQ(n, max); /* gapless from 1 */
	CHECK(n >= 1 + 800 + 1);
	CHECK_EQ(verify(&f, &rep), 0);
	if (rep.first_bad_seq != 0)
		fprintf(stderr, "  verify: %s\n", rep.reason);
	CHECK_EQ(rep.records, n);
	CHECK(rep.checkpoints >= 2);
	CHECK_EQ(rep.last_checkpoint_seq, n - 1);
out:
	audit_free(a2);
	store_free(st2);
	test_audit_fx_close(&f);
}

/* Two nodes on one store, the audit key changed through one of them: the
 * other, still holding the old key, must not sign another checkpoint (it
 * would be one verification rejects, by a key no longer in effect). Its
 * records still go into the chain; the new key checkpoints them. */
static void
test_two_writers_key_change(void)
{
	struct test_audit_fx f;
	struct audit_report rep;
	store *st2 = NULL;
	audit *a2 = NULL;
	EVP_PKEY *k2 = EVP_EC_gen("P-256");
	X509 *c2 = audit_cert_for(k2);

	test_audit_fx_open(&f);
	CHECK_EQ(store_open(f.tmp.path, 1, &st2), 0);
	CHECK_EQ(audit_new(st2, &a2), 0);
	if (a2 == NULL || c2 == NULL)
		goto out;
	populate(&f);
	CHECK_EQ(log_threads(a2, 2, 5), 0);
	CHECK_EQ(audit_checkpoint(a2, test_key, 0), 0);
	/* Node 1 changes the key. */
	CHECK_EQ(audit_key_change(f.a, test_key, "local:test", c2, NULL, 0,
	    NULL, NULL), 0);
	/* Node 2 appends, and tries to seal with its old key: refused. */
	CHECK_EQ(log_threads(a2, 2, 5), 0);
	CHECK_EQ(audit_checkpoint(a2, test_key, 1), GP_ERR_CONFLICT);
	CHECK_CONTAINS(gp_err_detail(), "no longer the one in effect");
	CHECK_EQ(verify(&f, &rep), 0);
	/* Restarted with the new key, it seals them. */
	CHECK_EQ(audit_checkpoint(a2, k2, 0), 0);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.unsealed, 1);
	CHECK_EQ(rep.keys, 2);
out:
	audit_free(a2);
	store_free(st2);
	test_audit_fx_close(&f);
	X509_free(c2);
	EVP_PKEY_free(k2);
}

/* audit_log_async(): the callback comes after the record is durable and
 * in the chain; a record the writer refuses reports its error; the caller's
 * strings may change after the call (the event is copied). */
struct async_count {
	pthread_mutex_t mu;
	int ok;
	int failed;
	int last_err;
	int64_t seen_max; /* rows in the store when the callback ran */
	store *st;
	char detail[256]; /* the last failure's */
};

static void
async_done(void *arg, int r)
{
	struct async_count *c = arg;
	int64_t n = 0, max = 0;
	int cr = store_audit_count(c->st, &n, &max);

	pthread_mutex_lock(&c->mu);
	if (cr != 0)
		c->failed += 100; /* shows in the counts */
	if (r == 0)
		c->ok++;
	else {
		c->failed++;
		c->last_err = r;
		snprintf(c->detail, sizeof(c->detail), "%s", gp_err_detail());
	}
	if (max > c->seen_max)
		c->seen_max = max;
	pthread_mutex_unlock(&c->mu);
}

static void
test_log_async(void)
{
	struct test_audit_fx f;
	struct audit_event ev;
	struct audit_report rep;
	struct async_count c;
	char object[32], big[5000];
	int i;

	test_audit_fx_open(&f);
	memset(&c, 0, sizeof(c));
	pthread_mutex_init(&c.mu, NULL);
	c.st = f.st;
	memset(&ev, 0, sizeof(ev));
	ev.actor = "tester";
	ev.op = "async.test";
	ev.outcome = "success";
	ev.object = object;
	for (i = 0; i < 300; i++) {
		snprintf(object, sizeof(object), "obj-%d", i);
		CHECK_EQ(audit_log_async(f.a, &ev, async_done, &c), 0);
		/* The caller's buffer is reused at once. */
		snprintf(object, sizeof(object), "clobbered");
	}
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ev.object = big;
	CHECK_EQ(audit_log_async(f.a, &ev, async_done, &c), 0);
	CHECK_EQ(audit_log_async(NULL, &ev, async_done, &c), GP_ERR_INVALID);
	CHECK_EQ(audit_log_async(f.a, &ev, NULL, &c), GP_ERR_INVALID);
	audit_free(f.a); /* drains the queue, runs every callback */
	f.a = NULL;
	CHECK_EQ(c.ok, 300);
	CHECK_EQ(c.failed, 1);
	CHECK_EQ(c.last_err, GP_ERR_TOO_LARGE);
	CHECK_EQ(c.seen_max, 300); /* durable before the callback */
	{
		struct store_audit_row row;
		memset(&row, 0, sizeof(row));
		CHECK_EQ(store_audit_get(f.st, 300, &row), 0);
		CHECK_STR(row.object, "obj-299");
		store_audit_row_clear(&row);
	}
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.records, 300);
	pthread_mutex_destroy(&c.mu);
	test_audit_fx_close(&f);
}

/* audit_apply(): the change and its record land together; a change that
 * fails leaves neither and reports its own error; concurrent changes share
 * commits. */
struct apply_arg {
	const char *key;
	int fail;
};

static int
apply_meta(store *st, void *arg)
{
	const struct apply_arg *aa = arg;

	if (aa->fail)
		return gp_err_set(GP_ERR_CONFLICT, "change %s refused",
		    aa->key);
	return store_meta_set(st, aa->key, "done");
}

struct apply_thread {
	audit *a;
	int id;
	int failures;
};

static void *
apply_worker(void *p)
{
	struct apply_thread *t = p;
	struct audit_event ev;
	struct apply_arg aa;
	char key[32];
	int i;

	memset(&ev, 0, sizeof(ev));
	ev.op = "apply.test";
	ev.outcome = "success";
	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "k-%d-%d", t->id, i);
		aa.key = key;
		aa.fail = 0;
		ev.object = key;
		if (audit_apply(t->a, apply_meta, &aa, &ev) != 0)
			t->failures++;
	}
	return NULL;
}

static void
test_apply(void)
{
	struct test_audit_fx f;
	struct audit_event ev;
	struct apply_arg aa;
	struct audit_report rep;
	struct apply_thread th[4];
	pthread_t tid[4];
	char *v = NULL;
	int64_t n = 0, max = 0, records = 0, commits = 0;
	int i;

	test_audit_fx_open(&f);
	memset(&ev, 0, sizeof(ev));
	ev.op = "apply.test";
	ev.outcome = "success";
	ev.object = "good";
	aa.key = "good";
	aa.fail = 0;
	CHECK_EQ(audit_apply(f.a, apply_meta, &aa, &ev), 0);
	CHECK_EQ(store_meta_get(f.st, "good", &v), 0);
	CHECK_STR(v, "done");
	free(v);
	v = NULL;
	ev.object = "bad";
	aa.key = "bad";
	aa.fail = 1;
	CHECK_EQ(audit_apply(f.a, apply_meta, &aa, &ev), GP_ERR_CONFLICT);
	CHECK_CONTAINS(gp_err_detail(), "change bad refused");
	CHECK(store_meta_get(f.st, "bad", &v) != 0 || v == NULL);
	free(v);
	CHECK_EQ(store_audit_count(f.st, &n, &max), 0);
	CHECK_EQ(n, 1); /* the refused change left no record */
	CHECK_EQ(audit_apply(f.a, NULL, NULL, &ev), GP_ERR_INVALID);

	for (i = 0; i < 4; i++) {
		th[i].a = f.a;
		th[i].id = i;
		th[i].failures = 0;
		pthread_create(&tid[i], NULL, apply_worker, &th[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(tid[i], NULL);
		CHECK_EQ(th[i].failures, 0);
	}
	CHECK_EQ(store_audit_count(f.st, &n, &max), 0);
	CHECK_EQ(n, 401);
	audit_stats(f.a, &records, &commits);
	CHECK(commits < records); /* the changes shared commits */
	CHECK_EQ(store_meta_get(f.st, "k-3-99", &v), 0);
	CHECK_STR(v, "done");
	free(v);
	CHECK_EQ(verify(&f, &rep), 0);
	test_audit_fx_close(&f);
}

/* audit_apply_async(): the change and its record are committed before the
 * callback; a refused change reports its own error and leaves nothing; a
 * callback that waited for the writer (audit_log) is refused instead of
 * hanging; concurrent changes share commits. */
struct apply_async_seen {
	pthread_mutex_t mu;
	audit *a;
	store *st;
	int ok;
	int failed;
	int last_err;
	int visible;          /* the change was readable in the callback */
	int nested_refused;   /* audit_log() from the callback refused */
	char detail[256];
};

struct apply_async_one {
	struct apply_arg aa;
	char key[32];
	struct apply_async_seen *seen;
};

static void
apply_async_done(void *arg, int r)
{
	struct apply_async_one *one = arg;
	struct apply_async_seen *c = one->seen;
	struct audit_event ev;
	char *v = NULL, detail[256];
	int vis;

	snprintf(detail, sizeof(detail), "%s", r != 0 ? gp_err_detail() : "");
	vis = store_meta_get(c->st, one->key, &v) == 0 && v != NULL &&
	    strcmp(v, "done") == 0;
	free(v);
	memset(&ev, 0, sizeof(ev));
	ev.op = "nested";
	pthread_mutex_lock(&c->mu);
	if (r == 0) {
		c->ok++;
		c->visible += vis;
	} else {
		c->failed++;
		c->last_err = r;
		snprintf(c->detail, sizeof(c->detail), "%s", detail);
	}
	pthread_mutex_unlock(&c->mu);
	if (one->aa.fail == 0 && strcmp(one->key, "a-0") == 0 &&
	    audit_log(c->a, &ev) == GP_ERR_INTERNAL) {
		pthread_mutex_lock(&c->mu);
		c->nested_refused = 1;
		pthread_mutex_unlock(&c->mu);
	}
	free(one);
}

static void
test_apply_async(void)
{
	struct test_audit_fx f;
	struct audit_event ev;
	struct audit_report rep;
	struct apply_async_seen c;
	struct apply_async_one *one;
	char *v = NULL;
	int64_t n = 0, max = 0;
	int i;

	test_audit_fx_open(&f);
	memset(&c, 0, sizeof(c));
	pthread_mutex_init(&c.mu, NULL);
	c.a = f.a;
	c.st = f.st;
	memset(&ev, 0, sizeof(ev));
	ev.op = "apply.async";
	ev.outcome = "success";
	for (i = 0; i < 200; i++) {
		CHECK((one = calloc(1, sizeof(*one))) != NULL);
		if (one == NULL)
			break;
		snprintf(one->key, sizeof(one->key), "a-%d", i);
		one->aa.key = one->key;
		one->aa.fail = i == 7; /* one change refuses */
		one->seen = &c;
		ev.object = one->key;
		CHECK_EQ(audit_apply_async(f.a, apply_meta, &one->aa, &ev,
		    apply_async_done, one), 0);
	}
	CHECK_EQ(audit_apply_async(f.a, NULL, NULL, &ev, apply_async_done,
	    NULL), GP_ERR_INVALID);
	CHECK_EQ(audit_apply_async(f.a, apply_meta, NULL, &ev, NULL, NULL),
	    GP_ERR_INVALID);
	audit_free(f.a); /* drains the queue, runs every callback */
	f.a = NULL;
	CHECK_EQ(c.ok, 199);
	CHECK_EQ(c.visible, 199);
	CHECK_EQ(c.failed, 1);
	CHECK_EQ(c.last_err, GP_ERR_CONFLICT);
	CHECK_CONTAINS(c.detail, "change a-7 refused");
	CHECK_EQ(c.nested_refused, 1);
	CHECK(store_meta_get(f.st, "a-7", &v) != 0 || v == NULL);
	free(v);
	CHECK_EQ(store_audit_count(f.st, &n, &max), 0);
	CHECK_EQ(n, 199); /* no record for the refused change */
	CHECK_EQ(verify(&f, &rep), 0);
	pthread_mutex_destroy(&c.mu);
	test_audit_fx_close(&f);
}

/* A change that holds the writer inside its batch until the test opens
 * the gate, so that what the test queues meanwhile is the next batch,
 * whole. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int entered;
	int open;
};

static int
gate_apply(store *st, void *arg)
{
	struct gate *g = arg;

	(void)st;
	pthread_mutex_lock(&g->mu);
	g->entered = 1;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	return 0;
}

/* Queues the gate's change and waits until the writer holds it. */
static void
gate_hold(struct test_audit_fx *f, struct gate *g, struct async_count *c)
{
	struct audit_event ev;

	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	local_event(&ev, "batch.hold", NULL, NULL);
	CHECK_EQ(audit_apply_async(f->a, gate_apply, g, &ev, async_done, c),
	    0);
	pthread_mutex_lock(&g->mu);
	while (!g->entered)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

/* Opens the gate and waits (at most 60 s) for |n| callbacks in all. */
static void
gate_release(struct gate *g, struct async_count *c, int n)
{
	int i, seen = 0;

	pthread_mutex_lock(&g->mu);
	g->open = 1;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	for (i = 0; i < 6000; i++) {
		pthread_mutex_lock(&c->mu);
		seen = c->ok + c->failed;
		pthread_mutex_unlock(&c->mu);
		if (seen >= n)
			break;
		usleep(10000);
	}
	CHECK_EQ(seen, n);
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cv);
}

/* The audit writer's batch path: a batch of more rows than one INSERT
 * carries (STORE_AUDIT_CHUNK), records and changes mixed, is one commit
 * whose records come out in queue order, chained, each change with its
 * record; a batch with one bad event (a field over its cap) falls back to
 * one transaction each: the others are kept, the bad one is refused
 * naming its field. Verification passes over all of it. */
#define BATCH_N (3 * STORE_AUDIT_CHUNK + 7)
static void
test_batch_append(void)
{
	struct test_audit_fx f;
	struct audit_event ev;
	struct audit_report rep;
	struct async_count c;
	struct gate g;
	struct store_audit_row row;
	static struct apply_arg aa[BATCH_N];
	static char keys[BATCH_N][16];
	char object[32], big[5000], want[32];
	int64_t n = 0, max = 0, records = 0, commits = 0;
	char *v = NULL;
	int i, bad = 0;

	test_audit_fx_open(&f);
	memset(&c, 0, sizeof(c));
	pthread_mutex_init(&c.mu, NULL);
	c.st = f.st;

	gate_hold(&f, &g, &c);
	for (i = 0; i < BATCH_N; i++) {
		snprintf(object, sizeof(object), "obj-%d", i);
		local_event(&ev, "batch.test", object, NULL);
		if (i % 10 == 3) {
			snprintf(keys[i], sizeof(keys[i]), "m-%d", i);
			aa[i].key = keys[i];
			aa[i].fail = 0;
			CHECK_EQ(audit_apply_async(f.a, apply_meta, &aa[i],
			    &ev, async_done, &c), 0);
		} else {
			CHECK_EQ(audit_log_async(f.a, &ev, async_done, &c), 0);
		}
	}
	gate_release(&g, &c, 1 + BATCH_N);
	audit_stats(f.a, &records, &commits);
	CHECK_EQ(records, 1 + BATCH_N);
	CHECK_EQ(commits, 2); /* the gate's, then the whole batch */
	CHECK_EQ(c.ok, 1 + BATCH_N);
	CHECK_EQ(c.failed, 0);
	CHECK_EQ(c.seen_max, 1 + BATCH_N); /* durable before the callbacks */
	CHECK_EQ(store_audit_count(f.st, &n, &max), 0);
	CHECK_EQ(n, 1 + BATCH_N);
	CHECK_EQ(max, 1 + BATCH_N);
	for (i = 0; i < BATCH_N; i++) {
		snprintf(object, sizeof(object), "obj-%d", i);
		memset(&row, 0, sizeof(row));
		if (store_audit_get(f.st, 2 + i, &row) != 0 || row.object ==
		    NULL || strcmp(row.object, object) != 0)
			bad++;
		store_audit_row_clear(&row);
	}
	CHECK_EQ(bad, 0); /* in queue order */
	CHECK_EQ(store_meta_get(f.st, "m-93", &v), 0);
	CHECK_STR(v, "done");
	free(v);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.records, 1 + BATCH_N);

	/* One bad event in a batch of 10. */
	gate_hold(&f, &g, &c);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (i = 0; i < 10; i++) {
		snprintf(object, sizeof(object), "late-%d", i);
		local_event(&ev, "batch.test", object, NULL);
		if (i == 4)
			ev.actor = big;
		CHECK_EQ(audit_log_async(f.a, &ev, async_done, &c), 0);
	}
	gate_release(&g, &c, 1 + BATCH_N + 1 + 10);
	CHECK_EQ(c.ok, 1 + BATCH_N + 1 + 9);
	CHECK_EQ(c.failed, 1);
	CHECK_EQ(c.last_err, GP_ERR_TOO_LARGE);
	CHECK_CONTAINS(c.detail, "audit field actor");
	audit_stats(f.a, &records, &commits);
	CHECK_EQ(records, 1 + BATCH_N + 1 + 9);
	CHECK_EQ(commits, 2 + 1 + 9); /* the 9 good ones, one each */
	CHECK_EQ(store_audit_count(f.st, &n, &max), 0);
	CHECK_EQ(n, 1 + BATCH_N + 1 + 9);
	CHECK_EQ(max, n);
	memset(&row, 0, sizeof(row));
	CHECK_EQ(store_audit_get(f.st, max, &row), 0);
	snprintf(want, sizeof(want), "late-%d", 9);
	CHECK_STR(row.object, want);
	store_audit_row_clear(&row);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.records, n);
	pthread_mutex_destroy(&c.mu);
	test_audit_fx_close(&f);
}

/* audit_log() from inside a transaction would deadlock; it is refused. */
static void
test_log_inside_tx(void)
{
	struct test_audit_fx f;
	struct audit_event ev;

	test_audit_fx_open(&f);
	memset(&ev, 0, sizeof(ev));
	ev.op = "x";
	CHECK_EQ(store_begin(f.st), 0);
	CHECK_EQ(audit_log(f.a, &ev), GP_ERR_INTERNAL);
	store_rollback(f.st);
	CHECK_EQ(audit_log(f.a, &ev), 0);
	test_audit_fx_close(&f);
}

/* The log stores what it is given: a masked ID stays masked, oversized
 * fields are refused, and audit_row_json renders the record. */
static void
test_contents_and_json(void)
{
	struct test_audit_fx f;
	struct audit_event ev;
	struct store_audit_row row;
	char *masked = gp_mask_id("11010519491231002X");
	char big[5000];
	json_t *d = json_pack("{s:s, s:s}", "id_number", masked, "name",
	    "\xe5\xbc\xa0\xe4\xb8\x89");
	json_t *j = NULL, *jd;
	char *hex;

	test_audit_fx_open(&f);
	memset(&ev, 0, sizeof(ev));
	ev.actor = "local:root";
	ev.role = "local";
	ev.op = "ca.issue";
	ev.outcome = "success";
	ev.details = d;
	CHECK_EQ(audit_log(f.a, &ev), 0);
	CHECK_EQ(store_audit_get(f.st, 1, &row), 0);
	CHECK(masked != NULL && strcmp(masked, "11010519491231002X") != 0);
	CHECK(row.details != NULL && masked != NULL &&
	    strstr(row.details, masked) != NULL);
	CHECK(row.details != NULL &&
	    strstr(row.details, "11010519491231002X") == NULL);
	/* Compact with sorted keys, as the hash needs a stable encoding. */
	CHECK(row.details != NULL &&
	    strncmp(row.details, "{\"id_number\":\"", 14) == 0);

	j = audit_row_json(&row);
	CHECK(j != NULL);
	CHECK_EQ(json_integer_value(json_object_get(j, "seq")), 1);
	CHECK_STR(json_string_value(json_object_get(j, "actor")),
	    "local:root");
	CHECK(json_is_null(json_object_get(j, "client")));
	CHECK(json_is_null(json_object_get(j, "object")));
	jd = json_object_get(j, "details");
	CHECK(json_is_object(jd));
	CHECK_STR(json_string_value(json_object_get(jd, "id_number")), masked);
	hex = gp_hex(row.hash, 32);
	CHECK_STR(json_string_value(json_object_get(j, "hash")), hex);
	free(hex);
	CHECK_EQ(strlen(json_string_value(json_object_get(j, "prev_hash"))),
	    64);
	CHECK_EQ(json_integer_value(json_object_get(j, "time_ms")),
	    row.time_ms);
	json_decref(j);
	store_audit_row_clear(&row);

	/* Time formatting is UTC with milliseconds. */
	memset(&row, 0, sizeof(row));
	row.seq = 9;
	row.time_ms = 1795341600123LL; /* 2026-11-22T10:00:00.123Z */
	j = audit_row_json(&row);
	CHECK_STR(json_string_value(json_object_get(j, "time")),
	    "2026-11-22T10:00:00.123Z");
	CHECK(json_is_null(json_object_get(j, "details")));
	json_decref(j);

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ev.object = big;
	CHECK_EQ(audit_log(f.a, &ev), GP_ERR_TOO_LARGE);
	CHECK_CONTAINS(gp_err_detail(), "object");
	test_audit_fx_close(&f);
	json_decref(d);
	free(masked);
}

/* A checkpoint of the head signed by |key| whatever key is in effect,
 * written as an attacker's own tool would (audit_checkpoint refuses a key
 * not in effect). */
static void
forge_checkpoint(struct test_audit_fx *f, EVP_PKEY *key)
{
	struct audit_cp_draft d;
	struct store_checkpoint last;
	int rl;

	memset(&d, 0, sizeof(d));
	memset(&last, 0, sizeof(last));
	CHECK_EQ(store_audit_head(f->st, &d.cp.seq, d.cp.hash), 0);
	CHECK_EQ(audit_cp_draft_sign(&d, key, NULL, NULL), 0);
	CHECK_EQ(store_begin(f->st), 0);
	rl = store_checkpoint_last(f->st, &last);
	CHECK_EQ(audit_cp_draft_record_tx(f->a, &d, rl == 0 ? last.id : 0),
	    0);
	CHECK_EQ(store_commit(f->st), 0);
	store_checkpoint_clear(&last);
	audit_cp_draft_clear(&d);
}

/* A log like populate()'s, signed by |key| whose audit certificate is
 * |cert|: what an attacker who rewrites the whole database makes. */
static void
populate_with(struct test_audit_fx *f, EVP_PKEY *key, X509 *cert)
{
	int i;

	CHECK_EQ(record_key(f, cert), 0);
	for (i = 0; i < 5; i++)
		CHECK_EQ(append_tx(f, "ca.issue", "forged"), 0);
	CHECK_EQ(audit_checkpoint(f->a, key, 0), 0);
	CHECK_EQ(append_tx(f, "ca.revoke", NULL), 0);
	CHECK_EQ(audit_checkpoint(f->a, key, 0), 0);
}

/* A populate_with() log fails verification under the test root at the
 * audit key's record, naming |want_reason|. */
static void
resigned_case(EVP_PKEY *key, X509 *cert, const char *want_reason)
{
	struct test_audit_fx f;
	struct audit_report rep;

	test_audit_fx_open(&f);
	populate_with(&f, key, cert);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_EQ(rep.first_bad_seq, 1);
	CHECK_CONTAINS(rep.reason, want_reason);
	test_audit_fx_close(&f);
}

/* The re-sign attack: the log rebuilt and signed with the attacker's own
 * key under the attacker's own root (audit.pem and root.pem replaced).
 * Against the real root it fails at the audit key's record; only against
 * the attacker's root does it verify, which is why the auditor verifies
 * with their own copy of the root. */
static void
test_key_resign_other_root(void)
{
	struct test_audit_fx f;
	struct audit_report rep;
	EVP_PKEY *akey = EVP_EC_gen("P-256"), *aroot_key = EVP_EC_gen("P-256");
	X509 *aroot = mkcert(aroot_key, "test root", NULL, aroot_key, 1, NULL);
	X509 *acert = mkcert(akey, "audit", aroot, aroot_key, 0,
	    "critical," AUDIT_EKU_OID);
	X509 *self = mkcert(akey, "audit", NULL, akey, 0,
	    "critical," AUDIT_EKU_OID);

	test_audit_fx_open(&f);
	populate_with(&f, akey, acert);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_EQ(rep.first_bad_seq, 1);
	CHECK_CONTAINS(rep.reason, "record 1: audit certificate");
	CHECK_CONTAINS(rep.reason, "does not chain to the trust anchor");
	CHECK_EQ(verify_root(&f, aroot, &rep), 0);
	test_audit_fx_close(&f);

	/* A self-made audit certificate, no root at all. */
	resigned_case(akey, self, "does not chain to the trust anchor");

	/* The real audit.key record kept, checkpoints re-signed by the
	 * attacker: the key in effect is still the real one. audit_checkpoint
	 * refuses to sign with a key not in effect; the attacker's own tool
	 * writes the checkpoint row and its record directly. */
	test_audit_fx_open(&f);
	CHECK_EQ(record_key(&f, test_cert), 0);
	CHECK_EQ(append_tx(&f, "ca.issue", "x"), 0);
	CHECK_EQ(audit_checkpoint(f.a, akey, 0), GP_ERR_CONFLICT);
	forge_checkpoint(&f, akey);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_CONTAINS(rep.reason, "checkpoint 1 (record 2): the signature "
	    "does not verify with the audit key in effect (recorded at "
	    "record 1)");
	test_audit_fx_close(&f);
	X509_free(self);
	X509_free(acert);
	X509_free(aroot);
	EVP_PKEY_free(aroot_key);
	EVP_PKEY_free(akey);
}

/* A certificate of the real root whose key is a file (an administrator's,
 * the TLS server's) cannot stand in for the audit certificate: it lacks
 * the audit EKU. */
static void
test_key_no_eku(void)
{
	X509 *admin = mkcert(other_key, "govpki sysadmin", test_root, root_key,
	    0, "clientAuth");
	X509 *noncrit = mkcert(other_key, "audit", test_root, root_key, 0,
	    AUDIT_EKU_OID);

	resigned_case(other_key, admin, "is not an audit certificate");
	resigned_case(other_key, noncrit, "is not an audit certificate");
	X509_free(noncrit);
	X509_free(admin);
}

/* Checkpoints with no audit.key record in the chain (removed, or a log
 * rebuilt without one) are refused; a log without checkpoints has nothing
 * signed to check. */
static void
test_key_missing(void)
{
	struct test_audit_fx f;
	struct audit_report rep;

	test_audit_fx_open(&f);
	CHECK_EQ(append_tx(&f, "x", NULL), 0);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.keys, 0);
	CHECK_EQ(audit_checkpoint(f.a, test_key, 0), 0);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_CONTAINS(rep.reason, "no audit.key record");
	test_audit_fx_close(&f);

	/* The key record edited into something else, chain rewritten. */
	rewrite_case("UPDATE audit SET details = '{}' WHERE seq = 1", 1,
	    "malformed audit.key record");
}

/* A key change takes effect once the old key seals it; a change sealed
 * only by the new key (whoever holds it but not the old one), two changes
 * under one checkpoint, and the old key signing after the change all
 * fail. */
static void
test_key_change(void)
{
	struct test_audit_fx f;
	struct audit_report rep;
	struct audit_key_info ki;
	EVP_PKEY *k2 = EVP_EC_gen("P-256"), *k3 = EVP_EC_gen("P-256");
	X509 *c2 = audit_cert_for(k2), *c3 = audit_cert_for(k3);
	uint8_t spki[32];

	memset(&ki, 0, sizeof(ki));
	test_audit_fx_open(&f);
	populate(&f);
	CHECK_EQ(audit_key_in_effect(f.st, &ki), 0);
	CHECK_EQ(ki.seq, 1);
	CHECK_EQ(ki.pending_seq, 0);
	CHECK_EQ(ki.keys, 1);
	CHECK_EQ(audit_key_pair_check(test_key, ki.cert), 0);
	CHECK_EQ(audit_key_pair_check(k2, ki.cert), GP_ERR_CONFLICT);
	audit_key_info_clear(&ki);
	/* The change and the old key's checkpoint sealing it: one commit,
	 * the checkpoint covering the key record (69), its record (70)
	 * saying why it has no token. */
	CHECK_EQ(audit_key_change(f.a, test_key, "local:test", c2, NULL, 0,
	    NULL, NULL), 0);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.keys, 2);
	CHECK_EQ(rep.checkpoints, 3);
	CHECK_EQ(rep.last_checkpoint_seq, 69);
	CHECK_EQ(rep.unsealed, 1);
	CHECK_EQ(audit_key_in_effect(f.st, &ki), 0);
	CHECK_EQ(ki.seq, 69);
	CHECK_EQ(ki.pending_seq, 0);
	CHECK_EQ(audit_spki_sha256(c2, spki), 0);
	CHECK(memcmp(ki.spki, spki, 32) == 0);
	audit_key_info_clear(&ki);
	{
		struct store_audit_row row;

		memset(&row, 0, sizeof(row));
		CHECK_EQ(store_audit_get(f.st, 70, &row), 0);
		CHECK_CONTAINS(row.details, "\"tst_error\":\"not time-stamped: "
		    "it seals an audit key change");
		store_audit_row_clear(&row);
	}
	CHECK_EQ(append_tx(&f, "after", NULL), 0);
	CHECK_EQ(audit_checkpoint(f.a, k2, 0), 0);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.keys, 2);
	CHECK_EQ(rep.checkpoints, 4);
	/* The key in effect is k2 now: a change signed by the old key is
	 * refused, and so is one to the key in effect. */
	CHECK_EQ(audit_key_change(f.a, test_key, "local:test", c3, NULL, 0,
	    NULL, NULL), GP_ERR_CONFLICT);
	CHECK_CONTAINS(gp_err_detail(), "the signing key is not the audit key "
	    "in effect (recorded at record 69)");
	CHECK_EQ(audit_key_change(f.a, k2, "local:test", c2, NULL, 0, NULL,
	    NULL), GP_ERR_CONFLICT);
	CHECK_CONTAINS(gp_err_detail(), "the new audit key is the key in "
	    "effect");
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.records, 72);
	/* The old key no longer signs: refused, and forged, rejected. */
	CHECK_EQ(append_tx(&f, "late", NULL), 0);
	CHECK_EQ(audit_checkpoint(f.a, test_key, 0), GP_ERR_CONFLICT);
	CHECK_CONTAINS(gp_err_detail(), "record 69 recorded another");
	CHECK_EQ(verify(&f, &rep), 0);
	forge_checkpoint(&f, test_key);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_CONTAINS(rep.reason, "checkpoint 5");
	CHECK_CONTAINS(rep.reason, "does not verify with the audit key in "
	    "effect");
	test_audit_fx_close(&f);

	/* Sealed by the new key only: refused (the old key is still in
	 * effect until it seals the change), and forged, rejected. */
	test_audit_fx_open(&f);
	populate(&f);
	CHECK_EQ(record_key(&f, c2), 0);
	CHECK_EQ(audit_checkpoint(f.a, k2, 0), GP_ERR_CONFLICT);
	forge_checkpoint(&f, k2);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_CONTAINS(rep.reason, "checkpoint 3");
	CHECK_CONTAINS(rep.reason, "(recorded at record 1)");
	test_audit_fx_close(&f);

	/* Two changes under one checkpoint of the old key. */
	test_audit_fx_open(&f);
	populate(&f);
	CHECK_EQ(record_key(&f, c2), 0);
	CHECK_EQ(record_key(&f, c3), 0);
	CHECK_EQ(audit_checkpoint(f.a, test_key, 0), 0);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_EQ(rep.first_bad_seq, 70);
	CHECK_CONTAINS(rep.reason, "not sealed by the key it replaces");
	test_audit_fx_close(&f);

	/* A pending change (a key record no checkpoint covers, which only
	 * an older govpki or an editor writes) changes nothing yet, and no
	 * other change is made over it. */
	test_audit_fx_open(&f);
	populate(&f);
	CHECK_EQ(record_key(&f, c2), 0);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.keys, 1);
	CHECK_EQ(rep.unsealed, 7);
	CHECK_EQ(audit_key_in_effect(f.st, &ki), 0);
	CHECK_EQ(ki.seq, 1);
	CHECK_EQ(ki.pending_seq, 69);
	audit_key_info_clear(&ki);
	CHECK_EQ(audit_key_change(f.a, test_key, "local:test", c3, NULL, 0,
	    NULL, NULL), GP_ERR_CONFLICT);
	CHECK_CONTAINS(gp_err_detail(), "record 69: an audit key change that "
	    "no checkpoint seals yet");
	test_audit_fx_close(&f);
	X509_free(c2);
	X509_free(c3);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k3);
}

/* A state change that refuses: audit_key_change() keeps nothing. */
static int
refusing_apply(store *st, void *arg)
{
	(void)st;
	(void)arg;
	return gp_err_set(GP_ERR_IO, "the change refused (test)");
}

/* Writes a record through the caller's transaction. */
static int
record_apply(store *st, void *arg)
{
	struct audit_event ev;

	(void)st;
	local_event(&ev, "cert.issue", "new-audit-cert", NULL);
	return audit_append_tx(arg, &ev, NULL);
}

/* All or nothing: a change whose own part fails, or that is refused,
 * leaves the log as it was, the old key in effect. */
static void
test_key_change_atomic(void)
{
	struct test_audit_fx f;
	struct audit_report rep;
	struct audit_key_info ki;
	EVP_PKEY *k2 = EVP_EC_gen("P-256");
	X509 *c2 = audit_cert_for(k2);
	int64_t n = 0, max = 0, cps;

	memset(&ki, 0, sizeof(ki));
	test_audit_fx_open(&f);
	populate(&f);
	CHECK_EQ(verify(&f, &rep), 0);
	cps = rep.checkpoints;
	CHECK_EQ(audit_key_change(f.a, test_key, "local:test", c2, NULL, 0,
	    refusing_apply, NULL), GP_ERR_IO);
	CHECK_EQ(audit_key_change(f.a, k2, "local:test", c2, NULL, 0, NULL,
	    NULL), GP_ERR_CONFLICT);
	CHECK_EQ(store_audit_count(f.st, &n, &max), 0);
	CHECK_EQ(max, 68);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.checkpoints, cps);
	CHECK_EQ(audit_key_in_effect(f.st, &ki), 0);
	CHECK_EQ(ki.seq, 1);
	audit_key_info_clear(&ki);
	/* The old key still seals. */
	CHECK_EQ(audit_checkpoint(f.a, test_key, 0), 0);
	CHECK_EQ(verify(&f, &rep), 0);
	/* The caller's records ride in the same transaction, before the key
	 * record. */
	CHECK_EQ(audit_key_change(f.a, test_key, "local:test", c2, NULL, 0,
	    record_apply, f.a), 0);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.keys, 2);
	CHECK_EQ(audit_key_in_effect(f.st, &ki), 0);
	CHECK_EQ(ki.seq, 71);
	audit_key_info_clear(&ki);
	test_audit_fx_close(&f);

	/* No key recorded: nothing to replace. */
	test_audit_fx_open(&f);
	CHECK_EQ(append_tx(&f, "x", NULL), 0);
	CHECK_EQ(audit_key_change(f.a, test_key, "local:test", c2, NULL, 0,
	    NULL, NULL), GP_ERR_CONFLICT);
	CHECK_CONTAINS(gp_err_detail(), "records no audit key");
	test_audit_fx_close(&f);
	X509_free(c2);
	EVP_PKEY_free(k2);
}

/* A log begun before govpki recorded its audit key: checkpoints with no
 * audit.key record fail until the key is adopted; an adoption is refused
 * for a key that did not sign the log, and reported by verification. */
static void
test_key_adopt(void)
{
	struct test_audit_fx f;
	struct audit_report rep;
	X509 *other_cert = audit_cert_for(other_key);
	json_t *j;

	test_audit_fx_open(&f);
	CHECK_EQ(append_tx(&f, "ca.issue", "x"), 0);
	CHECK_EQ(audit_checkpoint(f.a, test_key, 0), 0);
	CHECK_EQ(append_tx(&f, "ca.issue", "y"), 0);
	CHECK_EQ(audit_checkpoint(f.a, test_key, 0), 0);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_CONTAINS(rep.reason, "`govpki audit adopt-key` records it once");
	/* Another key than the one that sealed the log. */
	CHECK_EQ(audit_key_adopt(f.a, other_key, "local:test", other_cert,
	    NULL, 0, NULL, NULL), GP_ERR_TAMPERED);
	CHECK_CONTAINS(gp_err_detail(), "checkpoint 1 (record 1) was not "
	    "signed by this key");
	/* A certificate of another key than the one given. */
	CHECK_EQ(audit_key_adopt(f.a, test_key, "local:test", other_cert,
	    NULL, 0, NULL, NULL), GP_ERR_CONFLICT);
	CHECK_EQ(audit_key_adopt(f.a, test_key, "local:test", test_cert, NULL,
	    0, refusing_apply, NULL), GP_ERR_IO);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_EQ(rep.records, 4);
	CHECK_EQ(audit_key_adopt(f.a, test_key, "local:test", test_cert, NULL,
	    0, NULL, NULL), 0);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.adopted_seq, 5);
	CHECK_EQ(rep.keys, 1);
	CHECK_EQ(rep.checkpoints, 3);
	j = audit_report_json(&rep, 1);
	CHECK_EQ(json_integer_value(json_object_get(j, "adopted_seq")), 5);
	json_decref(j);
	CHECK_EQ(audit_key_adopt(f.a, test_key, "local:test", test_cert, NULL,
	    0, NULL, NULL), GP_ERR_CONFLICT);
	CHECK_CONTAINS(gp_err_detail(), "records its audit key already "
	    "(record 5)");
	/* Adopted, the key changes like any other. */
	CHECK_EQ(audit_key_change(f.a, test_key, "local:test", other_cert,
	    NULL, 0, NULL, NULL), 0);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.keys, 2);
	CHECK_EQ(rep.adopted_seq, 5);
	test_audit_fx_close(&f);

	/* A key record after earlier checkpoints that is not an adoption. */
	test_audit_fx_open(&f);
	CHECK_EQ(append_tx(&f, "ca.issue", "x"), 0);
	CHECK_EQ(audit_checkpoint(f.a, test_key, 0), 0);
	CHECK_EQ(record_key(&f, test_cert), 0);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_CONTAINS(rep.reason, "checkpoint 1 (record 1) comes before the "
	    "audit key's record (3), which is not an adoption");
	test_audit_fx_close(&f);

	/* An adoption after the key was recorded (an edit, chain redone). */
	test_audit_fx_open(&f);
	populate(&f);
	CHECK_EQ(record_key(&f, other_cert), 0);
	CHECK_EQ(tamper(&f, "UPDATE audit SET details = json_set(details, "
	    "'$.adopted', json('true')) WHERE seq = 69"), SQLITE_OK);
	CHECK_EQ(rechain(&f), 0);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_CONTAINS(rep.reason, "record 69: an audit key adoption after the "
	    "log recorded its audit key (record 1)");
	test_audit_fx_close(&f);
	X509_free(other_cert);
}

/* A stand-in TSA for the unit test: the "token" is "TST" and SHA-256 of
 * the signature; the real tokens are checked by tests/t_audit.sh with
 * openssl ts -verify. */
struct fake_tsa {
	int fail_stamp;
	int check_result;     /* what the check returns when it matches */
	int64_t gen_ms;       /* 0: now */
	int checked;
};

static int
fake_stamp(void *arg, const uint8_t *sig, size_t sig_len,
    struct audit_stamp *out)
{
	struct fake_tsa *t = arg;

	if (t->fail_stamp)
		return gp_err_set(GP_ERR_BUSY, "the TSA refused a time-stamp: "
		    "timeNotAvailable (test)");
	out->tst = malloc(35);
	memcpy(out->tst, "TST", 3);
	SHA256(sig, sig_len, out->tst + 3);
	out->tst_len = 35;
	snprintf(out->serial, sizeof(out->serial), "0a0b");
	return 0;
}

static int
fake_check(void *arg, const uint8_t *tst, size_t tst_len,
    const uint8_t *sig, size_t sig_len, int64_t *out_gen_ms)
{
	struct fake_tsa *t = arg;
	uint8_t h[32];

	t->checked++;
	SHA256(sig, sig_len, h);
	if (tst_len != 35 || memcmp(tst, "TST", 3) != 0 ||
	    memcmp(tst + 3, h, 32) != 0)
		return gp_err_set(GP_ERR_TAMPERED, "imprint mismatch");
	*out_gen_ms = t->gen_ms != 0 ? t->gen_ms : gp_now_ms();
	return t->check_result;
}

static int
verify_tsa(struct test_audit_fx *f, struct fake_tsa *t,
    struct audit_report *rep)
{
	struct audit_verify_opts o;

	memset(&o, 0, sizeof(o));
	o.root = test_root;
	o.tst_check = fake_check;
	o.tst_arg = t;
	return audit_verify(f->st, &o, rep);
}

/* One log with a stamped checkpoint 1 (covering 2, record 3) and an
 * unstamped checkpoint 2 (covering 4, record 5). */
static void
stamped_log(struct test_audit_fx *f, struct fake_tsa *t)
{
	CHECK_EQ(record_key(f, test_cert), 0);
	CHECK_EQ(append_tx(f, "x", NULL), 0);
	CHECK_EQ(audit_checkpoint_stamped(f->a, test_key, 0, fake_stamp, t),
	    0);
	CHECK_EQ(append_tx(f, "y", NULL), 0);
	CHECK_EQ(audit_checkpoint(f->a, test_key, 0), 0);
}

static void
stamp_case(const char *sql, const char *want)
{
	struct test_audit_fx f;
	struct fake_tsa t;
	struct audit_report rep;

	memset(&t, 0, sizeof(t));
	test_audit_fx_open(&f);
	stamped_log(&f, &t);
	CHECK_EQ(tamper(&f, sql), SQLITE_OK);
	CHECK_EQ(verify_tsa(&f, &t, &rep), GP_ERR_TAMPERED);
	CHECK_CONTAINS(rep.reason, want);
	test_audit_fx_close(&f);
}

static void
test_stamp(void)
{
	struct test_audit_fx f;
	struct fake_tsa t;
	struct audit_report rep;
	struct store_checkpoint cp;
	struct store_audit_row row;

	memset(&t, 0, sizeof(t));
	memset(&row, 0, sizeof(row));
	test_audit_fx_open(&f);
	stamped_log(&f, &t);
	CHECK_EQ(verify_tsa(&f, &t, &rep), 0);
	CHECK_EQ(rep.timestamped, 1);
	CHECK_EQ(t.checked, 1);
	CHECK_EQ(store_checkpoint_get(f.st, 1, &cp), 0);
	CHECK(cp.tst != NULL && cp.tst_len == 35);
	store_checkpoint_clear(&cp);
	CHECK_EQ(store_audit_get(f.st, 3, &row), 0);
	CHECK_CONTAINS(row.details, "\"tst\":{\"serial\":\"0a0b\",\"sha256\":");
	store_audit_row_clear(&row);

	/* The check fails, or the token reads earlier than the checkpoint. */
	t.check_result = 0;
	t.gen_ms = 1000;
	CHECK_EQ(verify_tsa(&f, &t, &rep), GP_ERR_TAMPERED);
	CHECK_CONTAINS(rep.reason, "before it was signed");
	t.gen_ms = 0;
	t.check_result = GP_ERR_TAMPERED;
	CHECK_EQ(verify_tsa(&f, &t, &rep), GP_ERR_TAMPERED);
	CHECK_CONTAINS(rep.reason, "checkpoint 1 (record 2): its time-stamp "
	    "token does not verify");
	test_audit_fx_close(&f);

	/* Deleted, replaced or slipped in outside the chain. */
	stamp_case("UPDATE checkpoints SET tst = NULL WHERE id = 1",
	    "is not the one recorded");
	stamp_case("UPDATE checkpoints SET tst = X'00' WHERE id = 1",
	    "is not the one recorded");
	stamp_case("UPDATE checkpoints SET tst = (SELECT tst FROM checkpoints "
	    "WHERE id = 1) WHERE id = 2", "was added outside the chain");

	/* A refusing TSA: the checkpoint is made all the same, and its
	 * record says why it has no token. */
	memset(&t, 0, sizeof(t));
	t.fail_stamp = 1;
	test_audit_fx_open(&f);
	CHECK_EQ(record_key(&f, test_cert), 0);
	CHECK_EQ(audit_checkpoint_stamped(f.a, test_key, 0, fake_stamp, &t),
	    0);
	CHECK_EQ(verify_tsa(&f, &t, &rep), 0);
	CHECK_EQ(rep.checkpoints, 1);
	CHECK_EQ(rep.timestamped, 0);
	CHECK_EQ(store_audit_get(f.st, 2, &row), 0);
	CHECK_CONTAINS(row.details, "\"tst_error\":\"the TSA refused");
	store_audit_row_clear(&row);
	test_audit_fx_close(&f);
}

/* A certificate row and, optionally, its issuance record. */
static void
add_cert(struct test_audit_fx *f, const char *serial, int with_record)
{
	struct store_cert c;
	struct audit_event ev;
	uint8_t der[4] = {0x30, 0x02, 0x05, 0x00};

	memset(&c, 0, sizeof(c));
	c.serial = (char *)serial;
	c.issuer = (char *)"ca";
	c.profile = (char *)"enterprise";
	c.subject = (char *)"CN=test";
	c.not_before = 1;
	c.not_after = 2;
	c.status = (char *)"good";
	c.reason = -1;
	c.created_ms = 1;
	c.der = der;
	c.der_len = sizeof(der);
	local_event(&ev, "cert.issue", serial, NULL);
	CHECK_EQ(store_begin(f->st), 0);
	CHECK_EQ(store_cert_insert(f->st, &c), 0);
	if (with_record)
		CHECK_EQ(audit_append_tx(f->a, &ev, NULL), 0);
	CHECK_EQ(store_commit(f->st), 0);
}

/* A status change at |at| and its record, as ca_revoke.c writes them:
 * the history event and the row in one call, the record stating the
 * change's time, reason and invalidity date (a revocation: reason
 * keyCompromise). */
static void
set_status(struct test_audit_fx *f, const char *serial, const char *op,
    const char *from, const char *to, int64_t at)
{
	struct store_status_change sc;
	struct audit_event ev;
	json_t *d = json_pack("{s:s, s:s, s:I}", "from", from, "to", to,
	    "time", (json_int_t)at);

	memset(&sc, 0, sizeof(sc));
	sc.serial = serial;
	sc.time = at;
	sc.reason = -1;
	sc.actor = "local:test";
	if (strcmp(op, "cert.hold") == 0) {
		sc.change = STORE_CHANGE_HOLD;
		sc.reason = 6;
		json_object_set_new(d, "reason", json_string("certificateHold"));
	} else if (strcmp(op, "cert.release") == 0) {
		sc.change = STORE_CHANGE_RELEASE;
	} else {
		sc.change = STORE_CHANGE_REVOKE;
		sc.reason = 1;
		json_object_set_new(d, "reason", json_string("keyCompromise"));
	}
	local_event(&ev, op, serial, d);
	CHECK_EQ(store_begin(f->st), 0);
	CHECK_EQ(store_cert_status_change(f->st, &sc), 0);
	CHECK_EQ(audit_append_tx(f->a, &ev, NULL), 0);
	CHECK_EQ(store_commit(f->st), 0);
	json_decref(d);
}

/* A status record as written before the status history existed: its
 * details state no "time", and no history event comes with it. */
static int
append_status(struct test_audit_fx *f, const char *serial, const char *op,
    const char *details)
{
	struct audit_event ev;
	json_t *d = json_loads(details, 0, NULL);
	int r;

	local_event(&ev, op, serial, d);
	if ((r = store_begin(f->st)) != 0)
		return r;
	if ((r = audit_append_tx(f->a, &ev, NULL)) != 0)
		store_rollback(f->st);
	else
		r = store_commit(f->st);
	json_decref(d);
	return r;
}

static void
test_cert_trail(void)
{
	struct test_audit_fx f;
	struct audit_report rep;
	json_t *j;

	test_audit_fx_open(&f);
	populate(&f);
	add_cert(&f, "a1", 1);
	add_cert(&f, "a2", 1);
	set_status(&f, "a2", "cert.revoke", "good", "revoked", 5);
	add_cert(&f, "a3", 1);
	set_status(&f, "a3", "cert.hold", "good", "hold", 6);
	set_status(&f, "a3", "cert.release", "hold", "good", 7);
	CHECK_EQ(audit_checkpoint(f.a, test_key, 0), 0);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.certificates, 3);
	CHECK_EQ(rep.bad_serial[0], '\0');

	/* A row slipped in without a record: an orphan. */
	CHECK_EQ(tamper(&f, "INSERT INTO certificates (serial, issuer, "
	    "profile, subject, not_before, not_after, status, created_ms, der)"
	    " SELECT 'b0', issuer, profile, subject, not_before, not_after, "
	    "'good', created_ms, der FROM certificates WHERE serial = 'a1'"),
	    SQLITE_OK);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_STR(rep.bad_serial, "b0");
	CHECK_EQ(rep.first_bad_seq, rep.records + 1);
	CHECK_CONTAINS(rep.reason, "certificate b0 (good) has no cert.issue "
	    "record");
	j = audit_report_json(&rep, 0);
	CHECK_STR(json_string_value(json_object_get(j, "bad_serial")), "b0");
	json_decref(j);
	CHECK_EQ(tamper(&f, "DELETE FROM certificates WHERE serial = 'b0'"),
	    SQLITE_OK);

	/* Revoked, then un-revoked behind the log's back. */
	CHECK_EQ(tamper(&f, "UPDATE certificates SET status = 'good' WHERE "
	    "serial = 'a2'"), SQLITE_OK);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_STR(rep.bad_serial, "a2");
	CHECK_CONTAINS(rep.reason, "certificate a2 is good but its last "
	    "status record");
	CHECK_CONTAINS(rep.reason, "set it revoked");

	/* Revoked without any record. */
	CHECK_EQ(tamper(&f, "UPDATE certificates SET status = 'revoked' WHERE "
	    "serial = 'a2'; UPDATE certificates SET status = 'hold' WHERE "
	    "serial = 'a1'"), SQLITE_OK);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_STR(rep.bad_serial, "a1");
	CHECK_CONTAINS(rep.reason, "certificate a1 is hold but no status "
	    "record");
	test_audit_fx_close(&f);

	/* The issuance record deleted from the unsealed tail, where the
	 * chain alone cannot see it: the row is an orphan. */
	test_audit_fx_open(&f);
	populate(&f);
	add_cert(&f, "c1", 1);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(tamper(&f, "DELETE FROM audit WHERE op = 'cert.issue' AND "
	    "object = 'c1'"), SQLITE_OK);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_STR(rep.bad_serial, "c1");
	CHECK_CONTAINS(rep.reason, "has no cert.issue record");
	test_audit_fx_close(&f);
}

/* A log with four certificates: h1 good, h2 revoked at 5, h3 held at 6
 * and released at 7, h4 held at 8 then revoked (the revocation keeps the
 * hold's start, 8), sealed by a checkpoint. */
static void
history_log(struct test_audit_fx *f)
{
	populate(f);
	add_cert(f, "h1", 1);
	add_cert(f, "h2", 1);
	set_status(f, "h2", "cert.revoke", "good", "revoked", 5);
	add_cert(f, "h3", 1);
	set_status(f, "h3", "cert.hold", "good", "hold", 6);
	set_status(f, "h3", "cert.release", "hold", "good", 7);
	add_cert(f, "h4", 1);
	set_status(f, "h4", "cert.hold", "good", "hold", 8);
	set_status(f, "h4", "cert.revoke", "hold", "revoked", 8);
	CHECK_EQ(audit_checkpoint(f->a, test_key, 0), 0);
}

/* One edit of the history (or the row) on a fresh history_log(): it
 * must fail verification naming |serial| and |want|. */
static void
history_case(const char *sql, const char *serial, const char *want)
{
	struct test_audit_fx f;
	struct audit_report rep;

	test_audit_fx_open(&f);
	history_log(&f);
	CHECK_EQ(tamper(&f, sql), SQLITE_OK);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_STR(rep.bad_serial, serial);
	CHECK_CONTAINS(rep.reason, want);
	CHECK(rep.first_bad_seq > 0);
	test_audit_fx_close(&f);
}

/* Pass 3 on the status history (schema step 7): every event has its
 * record and every record its event, and the row is what its last event
 * set. Each attack is an edit of the file with the triggers dropped. */
static void
test_cert_history(void)
{
	struct test_audit_fx f;
	struct audit_report rep;
	int64_t now_s = (int64_t)time(NULL);
	char sql[1024];

	test_audit_fx_open(&f);
	history_log(&f);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.certificates, 4);
	test_audit_fx_close(&f);

	/* A deleted history event: the revocation no longer shows when
	 * signatures are judged (ca_status_at), the row and its record
	 * still say revoked. */
	history_case("DELETE FROM cert_status_history WHERE serial = 'h2'",
	    "h2", "record 71 (revoke) has no status history event");
	/* A forged release: h4 held at 8 and revoked, the history now says
	 * released at 9 and revoked at 10 (the row too), which would make a
	 * signature made after 9 while it was held look valid. */
	history_case("CREATE TEMP TABLE r AS SELECT * FROM "
	    "cert_status_history WHERE serial = 'h4' AND change = 'revoke';"
	    "DELETE FROM cert_status_history WHERE serial = 'h4' AND "
	    "change = 'revoke';"
	    "INSERT INTO cert_status_history (serial, change, time, reason, "
	    "invalidity_date, actor, created_ms) SELECT serial, 'release', 9, "
	    "-1, 0, actor, created_ms FROM r;"
	    "INSERT INTO cert_status_history (serial, change, time, reason, "
	    "invalidity_date, actor, created_ms) SELECT serial, change, 10, "
	    "reason, invalidity_date, actor, created_ms FROM r;"
	    "UPDATE certificates SET revoked_at = 10 WHERE serial = 'h4'",
	    "h4", "(a release at 1970-01-01T00:00:09Z) is not the change of "
	    "its next status record, 77 (a revoke at 1970-01-01T00:00:08Z "
	    "(keyCompromise))");
	/* Events added for a good certificate: a hold and its release,
	 * row untouched (it ends good). */
	history_case("INSERT INTO cert_status_history (serial, change, time, "
	    "reason, invalidity_date, actor, created_ms) VALUES "
	    "('h1', 'hold', 3, 6, 0, 'x', 1), ('h1', 'release', 4, -1, 0, "
	    "'x', 1)", "h1", "status history event 6 (a hold at "
	    "1970-01-01T00:00:03Z (certificateHold)) has no audit record");
	/* An event's reason changed with the row's: keyCompromise made
	 * superseded (which spares time-stamps made before). */
	history_case("UPDATE cert_status_history SET reason = 4 WHERE serial = "
	    "'h2'; UPDATE certificates SET reason = 4 WHERE serial = 'h2'",
	    "h2", "is not the change of its next status record, 71");
	/* The row's revocation time moved, status kept: the records alone
	 * (which give the status) cannot tell; the history can. */
	history_case("UPDATE certificates SET revoked_at = 99 WHERE serial = "
	    "'h2'", "h2", "certificate h2 is revoked (time "
	    "1970-01-01T00:01:39Z, reason 1, invalidity date 0) but its last "
	    "status history event, 1, left it revoked (time 5, reason 1");

	/* A status record deleted from the unsealed tail, the chain after
	 * it recomputed: the chain and the row's last record (a release)
	 * agree, the history's hold has no record. */
	test_audit_fx_open(&f);
	history_log(&f);
	add_cert(&f, "h5", 1);
	set_status(&f, "h5", "cert.hold", "good", "hold", 20);
	set_status(&f, "h5", "cert.release", "hold", "good", 21);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(tamper(&f, "DELETE FROM audit WHERE op = 'cert.hold' AND "
	    "object = 'h5'; UPDATE audit SET seq = seq - 1 WHERE seq > "
	    "(SELECT max(seq) FROM audit WHERE op = 'cert.issue' AND "
	    "object = 'h5')"), SQLITE_OK);
	CHECK_EQ(rechain(&f), 0);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_STR(rep.bad_serial, "h5");
	CHECK_CONTAINS(rep.reason, "(a hold at 1970-01-01T00:00:20Z "
	    "(certificateHold)) is not the change of its next status record");
	test_audit_fx_close(&f);

	/* Records from before the history (no "time"): the upgrade gave a
	 * revoked certificate one event, its state then; a hold released
	 * before the upgrade has none. */
	test_audit_fx_open(&f);
	populate(&f);
	add_cert(&f, "l1", 1);
	add_cert(&f, "l2", 1);
	CHECK_EQ(append_status(&f, "l1", "cert.revoke", "{\"from\":\"good\","
	    "\"reason\":\"keyCompromise\",\"to\":\"revoked\"}"), 0);
	CHECK_EQ(append_status(&f, "l2", "cert.hold", "{\"from\":\"good\","
	    "\"reason\":\"certificateHold\",\"to\":\"hold\"}"), 0);
	CHECK_EQ(append_status(&f, "l2", "cert.release", "{\"from\":\"hold\","
	    "\"to\":\"good\"}"), 0);
	snprintf(sql, sizeof(sql), "UPDATE certificates SET status = "
	    "'revoked', revoked_at = %lld, reason = 1 WHERE serial = 'l1';"
	    "INSERT INTO cert_status_history (serial, change, time, reason, "
	    "invalidity_date, actor, created_ms) VALUES ('l1', 'revoke', %lld, "
	    "1, 0, 'schema upgrade (state at the upgrade)', 1)",
	    (long long)now_s, (long long)now_s);
	CHECK_EQ(tamper(&f, sql), SQLITE_OK);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(rep.certificates, 2);
	/* ... after which the certificate is held, with its event. */
	set_status(&f, "l2", "cert.hold", "good", "hold", now_s);
	CHECK_EQ(verify(&f, &rep), 0);
	/* The upgrade's event moved an hour back, the row with it. */
	snprintf(sql, sizeof(sql), "UPDATE cert_status_history SET time = "
	    "%lld WHERE serial = 'l1'; UPDATE certificates SET revoked_at = "
	    "%lld WHERE serial = 'l1'", (long long)now_s - 3600,
	    (long long)now_s - 3600);
	CHECK_EQ(tamper(&f, sql), SQLITE_OK);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_STR(rep.bad_serial, "l1");
	CHECK_CONTAINS(rep.reason, "is not the state its last status record "
	    "before the history");
	/* ... or deleted. */
	CHECK_EQ(tamper(&f, "DELETE FROM cert_status_history WHERE serial = "
	    "'l1'"), SQLITE_OK);
	CHECK_EQ(verify(&f, &rep), GP_ERR_TAMPERED);
	CHECK_CONTAINS(rep.reason, "the history has no event for it");
	test_audit_fx_close(&f);
}

/* The rollback attack: the log cut back to checkpoint 1, checkpoint 2 and
 * every record after checkpoint 1's deleted. The database alone cannot
 * tell (it verifies); the head a witness saw can. */
static void
test_witnessed(void)
{
	struct test_audit_fx f;
	struct audit_report rep;
	struct store_checkpoint cp2;
	uint8_t other[32];

	test_audit_fx_open(&f);
	populate(&f);
	CHECK_EQ(store_checkpoint_get(f.st, 2, &cp2), 0);
	CHECK_EQ(verify(&f, &rep), 0);
	CHECK_EQ(audit_verify_witnessed(f.st, cp2.seq, cp2.hash, "head seq 62",
	    &rep), 0);
	CHECK_EQ(rep.witnessed, 1);

	/* Same seq, another hash: a fork. */
	memcpy(other, cp2.hash, 32);
	other[0] ^= 1;
	CHECK_EQ(audit_verify_witnessed(f.st, cp2.seq, other, "head seq 62",
	    &rep), GP_ERR_TAMPERED);
	CHECK_EQ(rep.first_bad_seq, 62);
	CHECK_CONTAINS(rep.reason, "record 62 is not the witnessed head seq 62");

	CHECK_EQ(tamper(&f, "DELETE FROM checkpoints WHERE id >= 2;"
	    "DELETE FROM audit WHERE seq > 52"), SQLITE_OK);
	CHECK_EQ(verify(&f, &rep), 0); /* undetectable from the database */
	CHECK_EQ(rep.records, 52);
	CHECK_EQ(audit_verify_witnessed(f.st, cp2.seq, cp2.hash, "head seq 62",
	    &rep), GP_ERR_TAMPERED);
	CHECK_EQ(rep.first_bad_seq, 53);
	CHECK_CONTAINS(rep.reason, "the witnessed head seq 62 is not in the "
	    "chain, which ends at record 52");
	store_checkpoint_clear(&cp2);
	test_audit_fx_close(&f);
}

/* The one report object of `audit verify --json` and the API. */
static void
test_report_json(void)
{
	struct audit_report rep;
	json_t *j;
	const char *keys[] = {"verified", "records", "checkpoints",
	    "last_checkpoint_seq", "unsealed", "keys", "timestamped",
	    "certificates", "witnessed", "adopted_seq", "first_bad_seq",
	    "bad_serial", "reason"};
	size_t i;

	memset(&rep, 0, sizeof(rep));
	rep.records = 9;
	rep.first_bad_seq = 4;
	snprintf(rep.reason, sizeof(rep.reason), "record 4 was changed");
	j = audit_report_json(&rep, 0);
	CHECK(j != NULL);
	CHECK_EQ(json_object_size(j), sizeof(keys) / sizeof(keys[0]));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		CHECK(json_object_get(j, keys[i]) != NULL);
	CHECK(json_is_false(json_object_get(j, "verified")));
	CHECK_EQ(json_integer_value(json_object_get(j, "first_bad_seq")), 4);
	CHECK_STR(json_string_value(json_object_get(j, "reason")),
	    "record 4 was changed");
	CHECK(json_is_null(json_object_get(j, "bad_serial")));
	json_decref(j);
	j = audit_report_json(&rep, 1);
	CHECK(json_is_true(json_object_get(j, "verified")));
	CHECK_EQ(json_integer_value(json_object_get(j, "first_bad_seq")), 0);
	CHECK_STR(json_string_value(json_object_get(j, "reason")), "");
	json_decref(j);
	CHECK(audit_report_json(NULL, 1) == NULL);
}

int
main(void)
{
	test_key = EVP_EC_gen("P-256");
	other_key = EVP_EC_gen("P-256");
	root_key = EVP_EC_gen("P-256");
	if (test_key == NULL || other_key == NULL || root_key == NULL) {
		fprintf(stderr, "cannot generate EC keys\n");
		return 1;
	}
	test_root = mkcert(root_key, "test root", NULL, root_key, 1, NULL);
	test_cert = audit_cert_for(test_key);
	RUN(test_empty_and_null);
	RUN(test_append_verify);
	RUN(test_checkpoint_idle_and_force);
	RUN(test_tamper_change);
	RUN(test_tamper_delete);
	RUN(test_tamper_insert);
	RUN(test_tamper_reorder);
	RUN(test_tamper_checkpoint_deleted);
	RUN(test_tamper_checkpoint_sig);
	RUN(test_tamper_rechain);
	RUN(test_tamper_tail);
	RUN(test_tamper_misc);
	RUN(test_group_commit);
	RUN(test_log_async);
	RUN(test_apply_async);
	RUN(test_apply);
	RUN(test_batch_append);
	RUN(test_log_inside_tx);
	RUN(test_contents_and_json);
	RUN(test_key_resign_other_root);
	RUN(test_key_no_eku);
	RUN(test_key_missing);
	RUN(test_key_change);
	RUN(test_key_change_atomic);
	RUN(test_key_adopt);
	RUN(test_stamp);
	RUN(test_cert_trail);
	RUN(test_cert_history);
	RUN(test_witnessed);
	RUN(test_report_json);
	RUN(test_two_writers);
	RUN(test_two_writers_key_change);
	/* The same on PostgreSQL: two nodes' writers on one database. */
	test_pg_use();
	RUN(test_batch_append);
	RUN(test_two_writers);
	RUN(test_two_writers_key_change);
	X509_free(test_cert);
	X509_free(test_root);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(test_key);
	EVP_PKEY_free(other_key);
	return test_done("audit");
}
