/*
 * test_migrate.c: store_copy() (store/store_copy.c), a SQLite store copied
 * into a database of a throwaway PostgreSQL cluster (tests/pg.sh): every
 * table with its key values, the identity generators past the copy, the
 * append-only triggers still in force, the source left byte for byte, and
 * the refusals (a target that holds rows, a table or column the copy does
 * not know, an older source schema), and a row the target refuses half
 * way leaving nothing behind.
 *
 * With arguments, `test_migrate fill DIR N` is tests/t_migrate.sh's helper
 * instead: it issues N certificates on the instance DIR through the
 * library (ca_issue_start, group-committed in batches: each a real row
 * with its cert.issue record, signed by the CA key on the token), revokes
 * every 1000th and holds one, and prints the serial of the first revoked.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/sha.h>
#include <sqlite3.h>

#include "audit/audit.h"
#include "ca/ca.h"
#include "instance/instance.h"
#include "store/store.h"
#include "tests/test.h"

/* A SQLite database and a PostgreSQL one, side by side. */
struct pair {
	struct test_tmpdb lite;
	struct test_tmpdb pg;
};

static void
pair_new(struct pair *p)
{
	test_pg.on = 0;
	test_tmpdb_new(&p->lite);
	test_pg.on = 1;
	test_tmpdb_new(&p->pg);
}

static void
pair_free(struct pair *p)
{
	test_tmpdb_free(&p->lite);
	test_tmpdb_free(&p->pg);
}

static int
lite_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc;

	if ((rc = sqlite3_open(path, &db)) == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

static long long
pg_int(const char *url, const char *sql)
{
	PGconn *c = PQconnectdb(url);
	PGresult *res = PQexec(c, sql);
	long long v = -999;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	PQfinish(c);
	return v;
}

/* SHA-256 of the file |path| into |out|; 0 when it could be read. */
static int
file_sha256(const char *path, uint8_t out[32])
{
	uint8_t *buf = NULL;
	size_t len = 0;

	if (gp_file_read(path, 64 << 20, &buf, &len) != 0)
		return -1;
	SHA256(buf, len, out);
	free(buf);
	return 0;
}

static void
cert_make(struct store_cert *c, const char *serial, uint8_t *der)
{
	memset(c, 0, sizeof(*c));
	c->serial = (char *)serial;
	c->issuer = "ca";
	c->profile = "enterprise";
	c->subject = "CN=\xe6\xb5\x8b\xe8\xaf\x95,O=Example";
	c->uscc = "91350100M000100Y43";
	c->not_before = 1700000000;
	c->not_after = 1800000000;
	c->status = "good";
	c->reason = -1;
	c->created_ms = 1700000000123LL;
	c->der = der;
	c->der_len = 5;
}

/* A source holding rows in every kind of table: |n| certificates (every
 * third revoked, one held), their audit records, a checkpoint, a request,
 * a tender with an event, a bid and its event and record, a pair, an
 * escrowed key, an enrolment and a recovery. */
static void
source_fill(const char *path, int n)
{
	store *st = NULL;
	audit *a = NULL;
	struct store_cert c;
	struct audit_event ev;
	struct store_checkpoint cp;
	struct store_request rq;
	struct store_tender t;
	struct store_tender_event te;
	struct store_bid b;
	struct store_bid_event be;
	struct store_tender_record rec;
	struct store_pair pr;
	struct store_kmc_key k;
	struct store_enrolment e;
	struct store_recovery rc;
	uint8_t der[5] = {0x30, 0x03, 0x02, 0x01, 0x01}, blob[3] = {1, 2, 3};
	char serial[32];
	int i, ok = 1, held = 0;

	CHECK_EQ(store_open(path, 1, &st), 0);
	CHECK_EQ(audit_new(st, &a), 0);
	if (st == NULL || a == NULL)
		goto out;
	CHECK_EQ(store_begin(st), 0);
	for (i = 0; i < n; i++) {
		snprintf(serial, sizeof(serial), "%x", 0x1000 + i);
		cert_make(&c, serial, der);
		memset(&ev, 0, sizeof(ev));
		ev.actor = "local:test";
		ev.op = "cert.issue";
		ev.object = serial;
		ev.outcome = "success";
		ok &= store_cert_insert(st, &c) == 0;
		ok &= audit_append_tx(a, &ev, NULL) == 0;
		if (i % 3 == 1)
			ok &= store_cert_set_status(st, serial, "revoked",
			    1700000100, 1, 0) == 0;
	}
	CHECK(ok);
	CHECK_EQ(store_cert_set_status(st, "1000", "hold", 1700000200, 6, 0),
	    0);
	CHECK_EQ(store_cert_set_status(st, "1000", "good", 0, -1, 0), 0);
	CHECK_EQ(store_meta_set(st, "crl.number", "7"), 0);
	memset(&cp, 0, sizeof(cp));
	cp.seq = 1;
	cp.time_ms = 1700000000999LL;
	cp.sig = blob;
	cp.sig_len = sizeof(blob);
	CHECK_EQ(store_checkpoint_insert(st, &cp), 0);
	memset(&rq, 0, sizeof(rq));
	rq.id = "0123456789abcdef0123456789abcdef";
	rq.profile = "enterprise";
	rq.requester = "local:test";
	rq.requester_actor = "local:test";
	rq.body = "{\"profile\":\"enterprise\"}";
	rq.status = "pending";
	rq.created_ms = 1700000000000LL;
	CHECK_EQ(store_request_insert(st, &rq), 0);
	memset(&t, 0, sizeof(t));
	t.id = "00000000000000000000000000000001";
	t.title = "roads";
	t.mode = "platform";
	t.deadline_ms = 1800000000000LL;
	t.opening_ms = 1800000000000LL;
	t.spec = "{}";
	t.opening_serial = "1000";
	t.created_ms = 1700000000000LL;
	t.created_by = "local:test";
	t.creator = "local:test";
	CHECK_EQ(store_tender_insert(st, &t), 0);
	memset(&te, 0, sizeof(te));
	te.tender_id = t.id;
	te.event = "open_request";
	te.time_ms = 1800000000001LL;
	CHECK_EQ(store_tender_event_add(st, &te), 0);
	memset(&b, 0, sizeof(b));
	b.id = "00000000000000000000000000000002";
	b.tender_id = t.id;
	b.uscc = "91350100M000100Y43";
	b.bidder = "Example";
	b.subject = "CN=x";
	b.signer_serial = "1000";
	b.sha256 = "ab";
	b.size = 3;
	b.path = "tenders/x";
	b.tst = blob;
	b.tst_len = sizeof(blob);
	b.receipt = blob;
	b.receipt_len = sizeof(blob);
	CHECK_EQ(store_bid_insert(st, &b), 0);
	memset(&be, 0, sizeof(be));
	be.bid_id = b.id;
	be.tender_id = t.id;
	be.event = "withdrawn";
	be.data = blob;
	be.data_len = sizeof(blob);
	CHECK_EQ(store_bid_event_add(st, &be), 0);
	memset(&rec, 0, sizeof(rec));
	rec.tender_id = t.id;
	rec.version = 1;
	rec.der = der;
	rec.der_len = sizeof(der);
	CHECK_EQ(store_tender_record_add(st, &rec), 0);
	memset(&pr, 0, sizeof(pr));
	pr.signing = "1000";
	pr.encryption = "1001";
	pr.profile = "citizen";
	pr.subject = "{}";
	pr.holder = "idn:00";
	CHECK_EQ(store_pair_insert(st, &pr), 0);
	memset(&k, 0, sizeof(k));
	k.holder = "idn:00";
	k.serial = "1001";
	k.algo = "ec-p256";
	k.spki_sha256 = "00";
	k.wrap_key = "kmc-storage";
	k.wrapped = blob;
	k.wrapped_len = sizeof(blob);
	CHECK_EQ(store_kmc_key_insert(st, &k, NULL), 0);
	memset(&e, 0, sizeof(e));
	e.id = "e1";
	e.code_sha256[0] = 1;
	e.profile = "citizen";
	e.subject = "{}";
	e.holder = "idn:00";
	e.created_by = "local:test";
	e.expires_ms = 1900000000000LL;
	e.status = "open";
	CHECK_EQ(store_enrolment_insert(st, &e), 0);
	memset(&rc, 0, sizeof(rc));
	rc.id = "r1";
	rc.holder = "idn:00";
	rc.agent_der = der;
	rc.agent_der_len = sizeof(der);
	rc.reason = "court order 1";
	rc.requester = "local:test";
	rc.requester_actor = "local:test";
	rc.status = "pending";
	CHECK_EQ(store_recovery_insert(st, &rc), 0);
	/* A node's CRL lease and the CRL it published, in two parts. */
	CHECK_EQ(store_lease_take(st, "crl", "n1/00000001", 1000, 10000,
	    &held, NULL), 0);
	CHECK_EQ(held, 1);
	CHECK_EQ(store_pub_put(st, "ca", 7, 0, der, sizeof(der)), 0);
	CHECK_EQ(store_pub_put(st, "ca", 7, 1, der, sizeof(der)), 0);
	CHECK_EQ(store_commit(st), 0);
out:
	audit_free(a);
	store_free(st);
}

/* Opens |p|'s SQLite read-only and its PostgreSQL database (made). */
static void
pair_open(struct pair *p, store **src, store **dst)
{
	struct store_open_opts o;

	memset(&o, 0, sizeof(o));
	o.target = p->lite.path;
	o.readonly = 1;
	CHECK_EQ(store_open_with(&o, src), 0);
	CHECK_EQ(store_open(p->pg.path, 1, dst), 0);
}

/* Copies in one transaction of each; returns store_copy()'s result and
 * commits only on success. */
static int
copy_run(store *src, store *dst, struct store_copy_report *rep)
{
	int r;

	CHECK_EQ(store_begin(src), 0);
	CHECK_EQ(store_begin(dst), 0);
	r = store_copy(src, dst, NULL, NULL, rep);
	if (r == 0)
		r = store_commit(dst);
	else
		store_rollback(dst);
	store_rollback(src);
	return r;
}

static long long
pg_rows(const char *url)
{
	char sql[2048];
	size_t i, o;

	o = (size_t)snprintf(sql, sizeof(sql), "SELECT 0");
	for (i = 0; i < store_copy_table_count(); i++)
		o += (size_t)snprintf(sql + o, sizeof(sql) - o, " + (SELECT "
		    "count(*) FROM %s)", store_copy_table_name(i));
	return pg_int(url, sql);
}

/* Every table with every row and key; the generators go on past the
 * copied ids; the triggers still refuse; the source is untouched. */
static void
test_copy_all(void)
{
	struct pair p;
	store *src = NULL, *dst = NULL;
	struct store_copy_report rep;
	struct store_cert c;
	struct store_kmc_key k;
	struct store_tender_event te;
	uint8_t before[32], after[32], der[5] = {0x30, 0x03, 0x02, 0x01, 0x02};
	uint8_t blob[1] = {9};
	int64_t seq = 0, id = 0;
	uint8_t hash[32], lhash[32];
	size_t i;

	pair_new(&p);
	source_fill(p.lite.path, 2500);
	CHECK_EQ(file_sha256(p.lite.path, before), 0);
	pair_open(&p, &src, &dst);
	if (src == NULL || dst == NULL)
		goto out;
	CHECK_EQ(copy_run(src, dst, &rep), 0);
	CHECK_EQ(rep.n, store_copy_table_count());
	for (i = 0; i < rep.n; i++)
		CHECK(rep.tables[i].rows > 0);
	CHECK_EQ(rep.tables[1].rows, 2500 + 0); /* audit */
	CHECK_EQ(rep.head_seq, 2500);
	CHECK_EQ(store_audit_head(src, &seq, lhash), 0);
	CHECK_EQ(store_audit_head(dst, &seq, hash), 0);
	CHECK_EQ(seq, 2500);
	CHECK(memcmp(hash, lhash, 32) == 0);
	CHECK_EQ(pg_int(p.pg.path, "SELECT count(*) FROM certificates"), 2500);
	CHECK_EQ(pg_int(p.pg.path, "SELECT max(rowid) FROM certificates"),
	    2500);
	CHECK_EQ(pg_int(p.pg.path, "SELECT rowid FROM certificates WHERE "
	    "serial = '1010'"), 0x10 + 1);
	CHECK_EQ(pg_int(p.pg.path, "SELECT count(*) FROM cert_status_history"),
	    833 + 2);
	CHECK_EQ(pg_int(p.pg.path, "SELECT count(*) FROM published WHERE "
	    "name = 'ca' AND number = 7"), 2);
	CHECK_EQ(pg_int(p.pg.path, "SELECT expires_ms FROM leases WHERE "
	    "holder = 'n1/00000001'"), 11000);
	CHECK_EQ(pg_int(p.pg.path, "SELECT count(*) FROM audit a JOIN audit b "
	    "ON b.seq = a.seq + 1 WHERE b.prev_hash <> a.hash"), 0);
	/* New rows are numbered after the copied ones. */
	CHECK_EQ(store_begin(dst), 0);
	cert_make(&c, "ffff", der);
	CHECK_EQ(store_cert_insert(dst, &c), 0);
	memset(&k, 0, sizeof(k));
	k.holder = "idn:01";
	k.serial = "ffff";
	k.algo = "ec-p256";
	k.spki_sha256 = "01";
	k.wrap_key = "kmc-storage";
	k.wrapped = blob;
	k.wrapped_len = 1;
	CHECK_EQ(store_kmc_key_insert(dst, &k, &id), 0);
	CHECK_EQ(id, 2);
	memset(&te, 0, sizeof(te));
	te.tender_id = "00000000000000000000000000000001";
	te.event = "opened";
	te.time_ms = 1;
	CHECK_EQ(store_tender_event_add(dst, &te), 0);
	CHECK_EQ(store_pub_put(dst, "ca", 8, 0, der, sizeof(der)), 0);
	CHECK_EQ(store_cert_set_status(dst, "ffff", "revoked", 1700000300, 1,
	    0), 0);
	CHECK_EQ(store_commit(dst), 0);
	CHECK_EQ(pg_int(p.pg.path, "SELECT rowid FROM certificates WHERE "
	    "serial = 'ffff'"), 2501);
	CHECK_EQ(pg_int(p.pg.path, "SELECT max(id) FROM tender_events"), 2);
	CHECK_EQ(pg_int(p.pg.path, "SELECT max(id) FROM published"), 3);
	CHECK_EQ(pg_int(p.pg.path, "SELECT max(id) FROM cert_status_history"),
	    833 + 2 + 1);
	/* Append-only still. */
	CHECK(test_pg_exec(p.pg.path, "UPDATE audit SET actor = 'x' WHERE "
	    "seq = 1") != 0);
	CHECK(test_pg_exec(p.pg.path, "DELETE FROM cert_status_history") != 0);
	CHECK(test_pg_exec(p.pg.path, "DELETE FROM kmc_keys") != 0);
	store_free(src);
	src = NULL;
	CHECK_EQ(file_sha256(p.lite.path, after), 0);
	CHECK(memcmp(before, after, 32) == 0);
out:
	store_free(src);
	store_free(dst);
	pair_free(&p);
}

/* A target that holds a row is refused, and keeps what it held. */
static void
test_target_not_empty(void)
{
	struct pair p;
	store *src = NULL, *dst = NULL;
	struct store_copy_report rep;

	pair_new(&p);
	source_fill(p.lite.path, 3);
	pair_open(&p, &src, &dst);
	if (src == NULL || dst == NULL)
		goto out;
	CHECK_EQ(store_begin(dst), 0);
	CHECK_EQ(store_meta_set(dst, "mine", "1"), 0);
	CHECK_EQ(store_commit(dst), 0);
	CHECK_EQ(copy_run(src, dst, &rep), GP_ERR_EXISTS);
	CHECK_CONTAINS(gp_err_detail(), "table meta holds 1 rows");
	CHECK_EQ(pg_rows(p.pg.path), 1);
	/* Not inside a transaction of the target: refused. */
	CHECK_EQ(store_copy(src, dst, NULL, NULL, &rep), GP_ERR_INTERNAL);
out:
	store_free(src);
	store_free(dst);
	pair_free(&p);
}

/* A row the target refuses half way (text that is not UTF-8, which
 * SQLite keeps and PostgreSQL refuses, in requests: copied after the
 * audit log and the certificates) leaves every table empty. */
static void
test_fail_midway(void)
{
	struct pair p;
	store *src = NULL, *dst = NULL;
	struct store_copy_report rep;

	pair_new(&p);
	source_fill(p.lite.path, 1200);
	CHECK_EQ(lite_exec(p.lite.path, "INSERT INTO requests (id, profile, "
	    "requester, requester_actor, body, status, created_ms) VALUES "
	    "('ff', 'x', 'x', 'x', CAST(X'C328' AS TEXT), 'pending', 1)"),
	    SQLITE_OK);
	pair_open(&p, &src, &dst);
	if (src == NULL || dst == NULL)
		goto out;
	CHECK(copy_run(src, dst, &rep) != 0);
	CHECK_CONTAINS(gp_err_detail(), "copy requests");
	CHECK(rep.n >= 4); /* meta, audit, checkpoints, certificates */
	CHECK_EQ(pg_rows(p.pg.path), 0);
out:
	store_free(src);
	store_free(dst);
	pair_free(&p);
}

/* A table or a column the copy does not describe is refused before
 * anything is written; so is a source of an older schema, left as it
 * was. */
static void
test_unknown_refused(void)
{
	struct pair p;
	store *src = NULL, *dst = NULL;
	struct store_copy_report rep;
	struct store_open_opts o;
	uint8_t before[32], after[32];

	pair_new(&p);
	source_fill(p.lite.path, 3);
	CHECK_EQ(lite_exec(p.lite.path, "CREATE TABLE extra (x INTEGER)"),
	    SQLITE_OK);
	pair_open(&p, &src, &dst);
	if (src == NULL || dst == NULL)
		goto out;
	CHECK_EQ(copy_run(src, dst, &rep), GP_ERR_UNSUPPORTED);
	CHECK_CONTAINS(gp_err_detail(), "table extra");
	CHECK_EQ(pg_rows(p.pg.path), 0);
	store_free(src);
	src = NULL;
	CHECK_EQ(lite_exec(p.lite.path, "DROP TABLE extra; ALTER TABLE "
	    "kmc_keys ADD COLUMN note TEXT"), SQLITE_OK);
	memset(&o, 0, sizeof(o));
	o.target = p.lite.path;
	o.readonly = 1;
	CHECK_EQ(store_open_with(&o, &src), 0);
	if (src == NULL)
		goto out;
	CHECK_EQ(copy_run(src, dst, &rep), GP_ERR_UNSUPPORTED);
	CHECK_CONTAINS(gp_err_detail(), "column note");
	CHECK_EQ(pg_rows(p.pg.path), 0);
	store_free(src);
	src = NULL;
	/* An older schema: refused read-only, the file as it was. */
	CHECK_EQ(lite_exec(p.lite.path, "PRAGMA user_version = 3"), SQLITE_OK);
	CHECK_EQ(file_sha256(p.lite.path, before), 0);
	CHECK_EQ(store_open_with(&o, &src), GP_ERR_UNSUPPORTED);
	CHECK_CONTAINS(gp_err_detail(), "older");
	CHECK_EQ(file_sha256(p.lite.path, after), 0);
	CHECK(memcmp(before, after, 32) == 0);
	/* No store at all. */
	o.target = "/nonexistent/govpki.db";
	CHECK_EQ(store_open_with(&o, &src), GP_ERR_NOT_FOUND);
out:
	store_free(src);
	store_free(dst);
	pair_free(&p);
}

/* The fill helper: batches of issuances in flight on the audit writer. */
#define FILL_BATCH 256

struct fill_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pending;
	int failed;
};

static void
fill_done(void *arg, int r)
{
	struct fill_wait *w = arg;

	pthread_mutex_lock(&w->mu);
	w->pending--;
	w->failed |= r != 0;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static char *
fill_csr(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509_REQ *rq = X509_REQ_new();
	BIO *b = BIO_new(BIO_s_mem());
	char *pem = NULL, *p;
	long n;

	if (k != NULL && rq != NULL && b != NULL &&
	    X509_REQ_set_pubkey(rq, k) == 1 &&
	    X509_REQ_sign(rq, k, EVP_sha256()) > 0 &&
	    PEM_write_bio_X509_REQ(b, rq) == 1 &&
	    (n = BIO_get_mem_data(b, &p)) > 0 &&
	    (pem = malloc((size_t)n + 1)) != NULL) {
		memcpy(pem, p, (size_t)n);
		pem[n] = '\0';
	}
	BIO_free(b);
	X509_REQ_free(rq);
	EVP_PKEY_free(k);
	return pem;
}

static int
fill(const char *dir, int n)
{
	struct instance *inst = NULL;
	struct ca_profiles *ps = NULL;
	struct ca_ctx ca;
	struct ca_actor who;
	struct ca_person person;
	struct ca_issue_req req;
	struct ca_issue_result res;
	struct fill_wait w;
	ca_issue_job *job = NULL;
	json_t *subject = NULL;
	char *csr = NULL, revoked[72] = "";
	int i, j, r = 1;

	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	if (instance_open(dir, INSTANCE_KEYS, &inst) != 0 ||
	    ca_profiles_load(inst->cfg, &ps) != 0 ||
	    (csr = fill_csr()) == NULL ||
	    ca_person_local(inst->actor, &person) != 0) {
		fprintf(stderr, "fill: %s\n", gp_err_detail());
		goto out;
	}
	memset(&ca, 0, sizeof(ca));
	ca.cfg = inst->cfg;
	ca.profiles = ps;
	ca.st = inst->st;
	ca.audit = inst->audit;
	for (j = 0; j < GP_KEY_COUNT; j++) {
		ca.cert[j] = inst->cert[j];
		ca.key[j] = inst->key[j];
	}
	memset(&who, 0, sizeof(who));
	who.actor = inst->actor;
	who.role = "local";
	who.person = &person;
	subject = json_pack("{s:s, s:s}", "organization", "Fill Test Co",
	    "uscc", "91350100M000100Y43");
	memset(&req, 0, sizeof(req));
	req.profile = "enterprise";
	req.csr_pem = csr;
	req.csr_len = strlen(csr);
	req.subject = subject;
	for (i = 0; i < n; i++) {
		memset(&res, 0, sizeof(res));
		if (ca_issue_start(&ca, &who, &req, &res, &job) != 0) {
			fprintf(stderr, "fill: issue %d: %s\n", i,
			    gp_err_detail());
			goto out;
		}
		ca_issue_result_clear(&res);
		pthread_mutex_lock(&w.mu);
		w.pending++;
		pthread_mutex_unlock(&w.mu);
		ca_issue_commit_async(job, fill_done, &w);
		job = NULL;
		pthread_mutex_lock(&w.mu);
		while (w.pending >= FILL_BATCH || (i == n - 1 && w.pending > 0))
			pthread_cond_wait(&w.cv, &w.mu);
		pthread_mutex_unlock(&w.mu);
	}
	if (w.failed) {
		fprintf(stderr, "fill: a commit failed\n");
		goto out;
	}
	/* Revocations and holds through the CA: status history rows and
	 * their records. The first is revoked, the second held, the third
	 * held then revoked. */
	{
		struct store_cert_query q;
		struct store_cert *list = NULL;
		size_t len = 0;
		int ok;

		memset(&q, 0, sizeof(q));
		q.profile = "enterprise";
		q.limit = 3;
		ok = store_cert_find(inst->st, &q, &list, &len) == 0 &&
		    len == 3 &&
		    ca_revoke(&ca, &who, list[0].serial, 1, 0) == 0 &&
		    ca_hold(&ca, &who, list[1].serial) == 0 &&
		    ca_hold(&ca, &who, list[2].serial) == 0 &&
		    ca_revoke(&ca, &who, list[2].serial, 4, 0) == 0;
		if (ok)
			snprintf(revoked, sizeof(revoked), "%s",
			    list[0].serial);
		store_cert_list_free(list, len);
		if (!ok) {
			fprintf(stderr, "fill: revoke: %s\n", gp_err_detail());
			goto out;
		}
	}
	printf("%s\n", revoked);
	r = 0;
out:
	json_decref(subject);
	free(csr);
	ca_profiles_free(ps);
	instance_free(inst);
	return r;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "fill") == 0)
		return fill(argv[2], atoi(argv[3]));
	test_pg_use();
	RUN(test_copy_all);
	RUN(test_target_not_empty);
	RUN(test_fail_midway);
	RUN(test_unknown_refused);
	return test_done("migrate");
}
