/*
 * test_store.c: the store, on both backends: every case runs on SQLite,
 * then again on PostgreSQL (a throwaway cluster, tests/pg.sh). Each case
 * works on a fresh database (a file in its own temporary directory, or a
 * new database of the cluster), opened through store_open() and, to play
 * an editor of the database or a second process, through sqlite3 or
 * libpq directly. The cases that only one backend has come last.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/internal.h" /* STORE_AUDIT_CHUNK */
#include "store/store.h"
#include "tests/test.h"

/* Is the case running on PostgreSQL? */
#define ON_PG(path) store_target_is_url(path)

/* Runs |sql| on |path| (a file or a URL) through a connection of its own;
 * returns the SQLite code, or for PostgreSQL 0 (SQLITE_OK) or 1. */
static int
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc;

	if (ON_PG(path))
		return test_pg_exec(path, sql);
	if ((rc = sqlite3_open(path, &db)) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	}
	sqlite3_close(db);
	return rc;
}

static long long
raw_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long long v = -999;
	PGconn *c;
	PGresult *res;

	if (ON_PG(path)) {
		c = PQconnectdb(path);
		res = PQexec(c, sql);
		if (PQresultStatus(res) == PGRES_TUPLES_OK &&
		    PQntuples(res) == 1)
			v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		PQfinish(c);
		return v;
	}
	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* The schema version as each backend keeps it. */
#define SCHEMA_VERSION_SQL(path) (ON_PG(path) ?                          \
	"SELECT version FROM govpki_schema" : "PRAGMA user_version")
/* How many tables, indexes and triggers the schema has. */
#define OBJECTS_SQL(path) (ON_PG(path) ?                                 \
	"SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON "  \
	"n.oid = c.relnamespace WHERE n.nspname = 'public') + (SELECT "   \
	"count(*) FROM pg_trigger WHERE NOT tgisinternal)" :               \
	"SELECT count(*) FROM sqlite_master")

static void
fill_row(struct store_audit_row *row, int64_t seq, const uint8_t prev[32])
{
	static char actor[32];

	memset(row, 0, sizeof(*row));
	snprintf(actor, sizeof(actor), "local:user%lld", (long long)seq);
	row->seq = seq;
	row->time_ms = 1700000000000LL + seq;
	row->actor = actor;
	row->role = "local";
	row->op = "test.op";
	row->object = seq % 2 ? "obj" : NULL;
	row->outcome = "success";
	row->details = "{\"k\":1}";
	memcpy(row->prev_hash, prev, 32);
	memset(row->hash, (int)(seq & 0xff), 32);
	memcpy(row->hash, &seq, sizeof(seq));
}

static void
test_open_missing(void)
{
	struct test_tmpdb t;
	store *st = NULL;

	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 0, &st), GP_ERR_NOT_FOUND);
	CHECK(st == NULL);
	CHECK_CONTAINS(gp_err_detail(), t.path);
	if (ON_PG(t.path)) /* no schema made */
		CHECK_EQ(raw_int(t.path, "SELECT count(*) FROM pg_tables "
		    "WHERE schemaname = 'public'"), 0);
	else
		CHECK(access(t.path, F_OK) != 0); /* not created */
	store_free(NULL);
	store_audit_row_clear(NULL);
	store_checkpoint_clear(NULL);
	store_cert_clear(NULL);
	test_tmpdb_free(&t);
}

static void
test_create_reopen(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	char *v = NULL;
	int version;

	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 1, &st), 0);
	version = store_schema_version(st);
	CHECK(version >= 1);
	CHECK_EQ(store_ping(st), 0);
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_meta_set(st, "crl_number", "7"), 0);
	CHECK_EQ(store_commit(st), 0);
	store_free(st);
	st = NULL;

	CHECK_EQ(raw_int(t.path, SCHEMA_VERSION_SQL(t.path)), version);
	if (!ON_PG(t.path))
		CHECK_EQ(raw_int(t.path, "SELECT journal_mode = 'wal' FROM "
		    "pragma_journal_mode"), 1);

	CHECK_EQ(store_open(t.path, 0, &st), 0);
	CHECK_EQ(store_schema_version(st), version);
	CHECK_EQ(store_meta_get(st, "crl_number", &v), 0);
	CHECK_STR(v, "7");
	free(v);
	store_free(st);
	test_tmpdb_free(&t);
}

static void
test_migrations_idempotent(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	long long objects;
	int i, version = 0;

	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 1, &st), 0);
	if (st != NULL)
		version = store_schema_version(st);
	store_free(st);
	objects = raw_int(t.path, OBJECTS_SQL(t.path));
	CHECK(objects >= 8); /* 4 tables, 4 indexes at least */
	for (i = 0; i < 3; i++) {
		st = NULL;
		CHECK_EQ(store_open(t.path, 1, &st), 0);
		if (st != NULL)
			CHECK_EQ(store_schema_version(st), version);
		store_free(st);
	}
	CHECK_EQ(raw_int(t.path, OBJECTS_SQL(t.path)), objects);
	CHECK_EQ(raw_int(t.path, SCHEMA_VERSION_SQL(t.path)), version);
	CHECK_EQ(raw_int(t.path, ON_PG(t.path) ? "SELECT count(*) FROM "
	    "pg_indexes WHERE tablename = 'certificates' AND indexname IN "
	    "('certificates_uscc', 'certificates_id_number', "
	    "'certificates_status', 'certificates_profile')" :
	    "SELECT count(*) FROM sqlite_master WHERE "
	    "type = 'index' AND tbl_name = 'certificates' AND name IN "
	    "('certificates_uscc', 'certificates_id_number', "
	    "'certificates_status', 'certificates_profile')"), 4);
	test_tmpdb_free(&t);
}

static void
test_newer_schema_refused(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	int version = 0;
	char sql[64];

	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 1, &st), 0);
	if (st != NULL)
		version = store_schema_version(st);
	store_free(st);
	st = NULL;
	snprintf(sql, sizeof(sql), ON_PG(t.path) ? "UPDATE govpki_schema SET "
	    "version = %d" : "PRAGMA user_version = %d", version + 1);
	CHECK_EQ(raw_exec(t.path, sql), SQLITE_OK);
	CHECK_EQ(store_open(t.path, 0, &st), GP_ERR_UNSUPPORTED);
	CHECK(st == NULL);
	CHECK_CONTAINS(gp_err_detail(), "newer");
	CHECK_CONTAINS(gp_err_detail(), t.path);
	/* Left as it was. */
	CHECK_EQ(raw_int(t.path, SCHEMA_VERSION_SQL(t.path)), version + 1);
	test_tmpdb_free(&t);
}

static void
test_meta(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	char *v = NULL;

	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 1, &st), 0);
	CHECK_EQ(store_meta_get(st, "nope", &v), GP_ERR_NOT_FOUND);
	CHECK(v == NULL);
	/* Writes outside a transaction are refused. */
	CHECK_EQ(store_meta_set(st, "a", "1"), GP_ERR_INTERNAL);
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_meta_set(st, "a", "1"), 0);
	CHECK_EQ(store_meta_set(st, "a", "2"), 0);
	CHECK_EQ(store_meta_set(st, "b", NULL), GP_ERR_INVALID);
	/* The transaction's thread reads its own writes. */
	CHECK_EQ(store_meta_get(st, "a", &v), 0);
	CHECK_STR(v, "2");
	free(v);
	v = NULL;
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(store_meta_get(st, "a", &v), 0);
	CHECK_STR(v, "2");
	free(v);
	store_free(st);
	test_tmpdb_free(&t);
}

static void
test_begin_rollback(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	char *v = NULL;
	struct store_audit_row row;
	uint8_t zero[32] = {0}, h[32];
	int64_t seq = -1, n = -1, max = -1;

	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 1, &st), 0);
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_in_tx(st), 1);
	CHECK_EQ(store_begin(st), GP_ERR_INTERNAL); /* not nestable */
	CHECK_EQ(store_in_tx(st), 1);
	CHECK_EQ(store_meta_set(st, "x", "1"), 0);
	fill_row(&row, 1, zero);
	CHECK_EQ(store_audit_insert(st, &row), 0);
	CHECK_EQ(store_audit_head(st, &seq, h), 0);
	CHECK_EQ(seq, 1);
	store_rollback(st);
	CHECK_EQ(store_in_tx(st), 0);
	store_rollback(st); /* a no-op now */
	CHECK_EQ(store_commit(st), GP_ERR_INTERNAL);

	CHECK_EQ(store_meta_get(st, "x", &v), GP_ERR_NOT_FOUND);
	CHECK_EQ(store_audit_count(st, &n, &max), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(store_audit_insert(st, &row), GP_ERR_INTERNAL); /* no tx */

	/* The lock was released: a new transaction works. */
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_audit_insert(st, &row), 0);
	CHECK_EQ(store_audit_insert(st, &row), GP_ERR_EXISTS); /* same seq */
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(store_audit_count(st, &n, &max), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(max, 1);
	store_free(st);
	test_tmpdb_free(&t);
}

static void
make_cert(struct store_cert *c, const char *serial, uint8_t *der)
{
	memset(c, 0, sizeof(*c));
	c->serial = (char *)serial;
	c->issuer = "ca";
	c->profile = "enterprise";
	c->subject = "CN=\xe6\xb5\x8b\xe8\xaf\x95,O=Example";
	c->role = NULL;
	c->uscc = "91350100M000100Y43";
	c->id_number = NULL;
	c->not_before = 1700000000;
	c->not_after = 1800000000;
	c->status = "good";
	c->reason = -1;
	c->created_ms = 1700000000123LL;
	c->der = der;
	c->der_len = 5;
}

static void
test_certificates(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	struct store_cert c, got;
	uint8_t der[5] = {0x30, 0x03, 0x02, 0x01, 0x01};

	memset(&got, 0, sizeof(got));
	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 1, &st), 0);
	make_cert(&c, "5f3a9c0d11e2b7a4", der);
	CHECK_EQ(store_cert_insert(st, &c), GP_ERR_INTERNAL); /* no tx */
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_cert_insert(st, &c), 0);
	CHECK_EQ(store_cert_insert(st, &c), GP_ERR_EXISTS);
	CHECK_CONTAINS(gp_err_detail(), "5f3a9c0d11e2b7a4");
	c.status = "bogus";
	c.serial = "01";
	CHECK_EQ(store_cert_insert(st, &c), GP_ERR_INVALID);
	CHECK_EQ(store_commit(st), 0);

	CHECK_EQ(store_cert_get(st, "5f3a9c0d11e2b7a4", &got), 0);
	CHECK_STR(got.serial, "5f3a9c0d11e2b7a4");
	CHECK_STR(got.issuer, "ca");
	CHECK_STR(got.subject, "CN=\xe6\xb5\x8b\xe8\xaf\x95,O=Example");
	CHECK_STR(got.uscc, "91350100M000100Y43");
	CHECK(got.role == NULL);
	CHECK(got.id_number == NULL);
	CHECK_STR(got.status, "good");
	CHECK_EQ(got.reason, -1);
	CHECK_EQ(got.not_after, 1800000000);
	CHECK_EQ(got.created_ms, 1700000000123LL);
	CHECK_EQ(got.der_len, 5);
	CHECK(got.der != NULL && memcmp(got.der, der, 5) == 0);
	store_cert_clear(&got);

	CHECK_EQ(store_cert_get(st, "01", &got), GP_ERR_NOT_FOUND);
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_cert_set_status(st, "5f3a9c0d11e2b7a4", "revoked",
	    1750000000, 1, 1749999000), 0);
	CHECK_EQ(store_cert_set_status(st, "02", "revoked", 1, 1, 0),
	    GP_ERR_NOT_FOUND);
	CHECK_EQ(store_cert_set_status(st, "5f3a9c0d11e2b7a4", "expired",
	    1, 1, 0), GP_ERR_INVALID);
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(store_cert_get(st, "5f3a9c0d11e2b7a4", &got), 0);
	CHECK_STR(got.status, "revoked");
	CHECK_EQ(got.revoked_at, 1750000000);
	CHECK_EQ(got.invalidity_date, 1749999000);
	CHECK_EQ(got.reason, 1);
	store_cert_clear(&got);
	/* The CHECK constraint holds for editors of the file too. */
	CHECK(raw_exec(t.path, "UPDATE certificates SET status = 'lost'") !=
	    SQLITE_OK);
	store_free(st);
	test_tmpdb_free(&t);
}

static int
count_fn(void *arg, const struct store_audit_row *row)
{
	(*(int *)arg)++;
	return 0;
}

static void
test_audit_head_empty(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	uint8_t h[32], zero[32] = {0};
	int64_t seq = -1, n = -1, max = -1;
	int calls = 0;
	struct store_checkpoint cp;

	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 1, &st), 0);
	memset(h, 0xaa, sizeof(h));
	CHECK_EQ(store_audit_head(st, &seq, h), 0);
	CHECK_EQ(seq, 0);
	CHECK(memcmp(h, zero, 32) == 0);
	CHECK_EQ(store_audit_count(st, &n, &max), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(max, 0);
	CHECK_EQ(store_audit_scan(st, 0, 0, count_fn, &calls), 0);
	CHECK_EQ(calls, 0);
	CHECK_EQ(store_checkpoint_last(st, &cp), GP_ERR_NOT_FOUND);
	store_free(st);
	test_tmpdb_free(&t);
}

struct scan_check {
	int64_t next;
	int n;
	int bad;
	int stop_at;
};

static int
scan_fn(void *arg, const struct store_audit_row *row)
{
	struct scan_check *c = arg;
	char actor[32];

	snprintf(actor, sizeof(actor), "local:user%lld", (long long)row->seq);
	if (row->seq != c->next || row->actor == NULL ||
	    strcmp(row->actor, actor) != 0 ||
	    (row->seq % 2 ? row->object == NULL : row->object != NULL) ||
	    row->request_id != NULL || row->time_ms != 1700000000000LL +
	    row->seq || memcmp(row->hash, &row->seq, sizeof(row->seq)) != 0)
		c->bad++;
	c->next = row->seq + 1;
	c->n++;
	if (c->stop_at != 0 && row->seq == c->stop_at)
		return 42;
	return 0;
}

static void
test_audit_scan_paging(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	struct store_audit_row row, got;
	uint8_t prev[32] = {0};
	struct scan_check c;
	int64_t i, n = 0, max = 0;
	const int64_t total = 2600;

	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 1, &st), 0);
	CHECK_EQ(store_begin(st), 0);
	for (i = 1; i <= total; i++) {
		fill_row(&row, i, prev);
		CHECK_EQ(store_audit_insert(st, &row), 0);
		memcpy(prev, row.hash, 32);
	}
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(store_audit_count(st, &n, &max), 0);
	CHECK_EQ(n, total);
	CHECK_EQ(max, total);

	memset(&c, 0, sizeof(c));
	c.next = 1;
	CHECK_EQ(store_audit_scan(st, 0, 0, scan_fn, &c), 0);
	CHECK_EQ(c.n, total);
	CHECK_EQ(c.bad, 0);

	/* A window across page boundaries. */
	memset(&c, 0, sizeof(c));
	c.next = 1001;
	CHECK_EQ(store_audit_scan(st, 1000, 1500, scan_fn, &c), 0);
	CHECK_EQ(c.n, 1500);
	CHECK_EQ(c.next, 2501);
	CHECK_EQ(c.bad, 0);

	/* Stopping early returns the callback's value. */
	memset(&c, 0, sizeof(c));
	c.next = 1;
	c.stop_at = 1500;
	CHECK_EQ(store_audit_scan(st, 0, 0, scan_fn, &c), 42);
	CHECK_EQ(c.n, 1500);

	CHECK_EQ(store_audit_get(st, 1234, &got), 0);
	CHECK_EQ(got.seq, 1234);
	CHECK_STR(got.actor, "local:user1234");
	CHECK(got.object == NULL);
	CHECK(got.client == NULL);
	CHECK_STR(got.details, "{\"k\":1}");
	store_audit_row_clear(&got);
	CHECK_EQ(store_audit_get(st, total + 1, &got), GP_ERR_NOT_FOUND);
	store_free(st);
	test_tmpdb_free(&t);
}

static void
test_audit_append_only(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	struct store_audit_row row;
	uint8_t zero[32] = {0};

	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 1, &st), 0);
	CHECK_EQ(store_begin(st), 0);
	fill_row(&row, 1, zero);
	CHECK_EQ(store_audit_insert(st, &row), 0);
	CHECK_EQ(store_commit(st), 0);
	CHECK(raw_exec(t.path, "UPDATE audit SET actor = 'x'") != SQLITE_OK);
	CHECK(raw_exec(t.path, "DELETE FROM audit") != SQLITE_OK);
	CHECK_EQ(raw_int(t.path, "SELECT count(*) FROM audit WHERE actor = "
	    "'local:user1'"), 1);
	store_free(st);
	test_tmpdb_free(&t);
}

/* A batch of audit rows for store_audit_insert_many(): |n| rows from
 * seq |first| (after |prev|, the head's hash), each with text of its own
 * (actor, details), some fields NULL, chained by prev_hash. */
struct batch {
	struct store_audit_row *rows;
	char (*actor)[32];
	char (*details)[48];
	size_t n;
};

static void
batch_make(struct batch *b, int64_t first, size_t n, const uint8_t prev[32])
{
	size_t i;
	struct store_audit_row *w;

	memset(b, 0, sizeof(*b));
	b->rows = calloc(n, sizeof(*b->rows));
	b->actor = calloc(n, sizeof(*b->actor));
	b->details = calloc(n, sizeof(*b->details));
	if (b->rows == NULL || b->actor == NULL || b->details == NULL) {
		fprintf(stderr, "batch_make: out of memory\n");
		exit(1);
	}
	b->n = n;
	for (i = 0; i < n; i++) {
		w = &b->rows[i];
		w->seq = first + (int64_t)i;
		w->time_ms = 1700000000000LL + w->seq * 7;
		snprintf(b->actor[i], sizeof(b->actor[i]), "CN=batch,n=%lld",
		    (long long)w->seq);
		snprintf(b->details[i], sizeof(b->details[i]),
		    "{\"i\":%zu,\"s\":\"x'y\\\"z\"}", i);
		w->actor = b->actor[i];
		w->role = i % 3 ? "officer" : NULL;
		w->op = "batch.op";
		w->object = i % 2 ? "obj" : NULL;
		w->outcome = "success";
		w->request_id = i % 5 == 0 ? "req-5" : NULL;
		w->client = i % 4 ? "127.0.0.1" : NULL;
		w->details = i % 7 ? b->details[i] : NULL;
		memcpy(w->prev_hash, i == 0 ? prev : b->rows[i - 1].hash, 32);
		memset(w->hash, 0xa5, 32);
		memcpy(w->hash, &w->seq, sizeof(w->seq));
	}
}

static void
batch_free(struct batch *b)
{
	free(b->rows);
	free(b->actor);
	free(b->details);
	memset(b, 0, sizeof(*b));
}

static int
same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Is |got| exactly |want|, column by column? */
static int
same_row(const struct store_audit_row *got, const struct store_audit_row *want)
{
	return got->seq == want->seq && got->time_ms == want->time_ms &&
	    same_text(got->actor, want->actor) &&
	    same_text(got->role, want->role) &&
	    same_text(got->op, want->op) &&
	    same_text(got->object, want->object) &&
	    same_text(got->outcome, want->outcome) &&
	    same_text(got->request_id, want->request_id) &&
	    same_text(got->client, want->client) &&
	    same_text(got->details, want->details) &&
	    memcmp(got->prev_hash, want->prev_hash, 32) == 0 &&
	    memcmp(got->hash, want->hash, 32) == 0;
}

/* What a scan of the log must read: the rows of |b[0..nb)| in order. */
struct batch_scan {
	const struct batch *b;
	size_t nb, bi, ri;
	int64_t rows, bad, extra;
};

static int
batch_scan_fn(void *arg, const struct store_audit_row *row)
{
	struct batch_scan *c = arg;

	while (c->bi < c->nb && c->ri >= c->b[c->bi].n) {
		c->bi++;
		c->ri = 0;
	}
	c->rows++;
	if (c->bi >= c->nb) {
		c->extra++;
		return 0;
	}
	if (!same_row(row, &c->b[c->bi].rows[c->ri]))
		c->bad++;
	c->ri++;
	return 0;
}

/* store_audit_insert_many(): batches of one row, of exactly one chunk,
 * and of several chunks and a remainder, in one transaction, read back
 * column for column (NULLs, quotes in text, hashes) and gapless; an empty
 * batch changes nothing; a batch whose seqs exist is refused
 * (GP_ERR_EXISTS) and rolled back with its transaction. */
static void
test_audit_insert_many(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	struct batch b[4];
	struct batch_scan c;
	uint8_t zero[32] = {0}, head[32];
	int64_t n = 0, max = 0, seq = 0;
	size_t sizes[3] = {1, STORE_AUDIT_CHUNK, 3 * STORE_AUDIT_CHUNK + 5};
	size_t i;
	int64_t first = 1;

	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 1, &st), 0);
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_audit_insert_many(st, NULL, 0), 0);
	for (i = 0; i < 3; i++) {
		batch_make(&b[i], first, sizes[i], i == 0 ? zero :
		    b[i - 1].rows[b[i - 1].n - 1].hash);
		CHECK_EQ(store_audit_insert_many(st, b[i].rows, b[i].n), 0);
		first += (int64_t)sizes[i];
	}
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(store_audit_count(st, &n, &max), 0);
	CHECK_EQ(n, first - 1);
	CHECK_EQ(max, first - 1); /* gapless from 1 */
	CHECK_EQ(store_audit_head(st, &seq, head), 0);
	CHECK_EQ(seq, first - 1);
	CHECK(memcmp(head, b[2].rows[b[2].n - 1].hash, 32) == 0);
	memset(&c, 0, sizeof(c));
	c.b = b;
	c.nb = 3;
	CHECK_EQ(store_audit_scan(st, 0, 0, batch_scan_fn, &c), 0);
	CHECK_EQ(c.rows, first - 1);
	CHECK_EQ(c.bad, 0);
	CHECK_EQ(c.extra, 0);

	/* The seqs of the last batch again, with the next ones: refused,
	 * and nothing of it commits. */
	batch_make(&b[3], first - 10, 2 * STORE_AUDIT_CHUNK, head);
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_audit_insert_many(st, b[3].rows, b[3].n),
	    GP_ERR_EXISTS);
	CHECK_CONTAINS(gp_err_detail(), "exists already");
	store_rollback(st);
	CHECK_EQ(store_audit_count(st, &n, &max), 0);
	CHECK_EQ(n, first - 1);
	/* Outside a transaction: refused. */
	CHECK_EQ(store_audit_insert_many(st, b[0].rows, b[0].n),
	    GP_ERR_INTERNAL);
	for (i = 0; i < 4; i++)
		batch_free(&b[i]);
	store_free(st);
	test_tmpdb_free(&t);
}

/* A batch with one bad row inserts nothing, even if the transaction
 * commits, and the error names the row and the field: a text over the
 * cap, a gap in the seqs, rows out of order, a prev_hash that is not the
 * row before's hash, a first seq of 0. The bad row is in the last chunk,
 * after whole chunks that would otherwise have been inserted. */
static void
test_audit_insert_many_invalid(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	struct batch b;
	uint8_t zero[32] = {0};
	int64_t n = 0, max = 0, saved;
	const size_t rows = 2 * STORE_AUDIT_CHUNK + 10;
	const size_t bad = 2 * STORE_AUDIT_CHUNK + 4; /* row bad + 1 */
	char *big = NULL, want[64], *saved_text;
	uint8_t saved_hash[32];

	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 1, &st), 0);
	batch_make(&b, 1, rows, zero);
	CHECK((big = malloc(64 * 1024 + 2)) != NULL);
	if (big == NULL)
		goto out;
	memset(big, 'a', 64 * 1024 + 1);
	big[64 * 1024 + 1] = '\0';
	snprintf(want, sizeof(want), "row %zu of %zu (seq %zu)", bad + 1,
	    rows, bad + 1);

	CHECK_EQ(store_begin(st), 0);
	saved_text = b.rows[bad].details;
	b.rows[bad].details = big;
	CHECK_EQ(store_audit_insert_many(st, b.rows, b.n), GP_ERR_TOO_LARGE);
	CHECK_CONTAINS(gp_err_detail(), want);
	CHECK_CONTAINS(gp_err_detail(), "field details");
	b.rows[bad].details = saved_text;
	saved_text = b.rows[bad].client;
	b.rows[bad].client = big;
	CHECK_EQ(store_audit_insert_many(st, b.rows, b.n), GP_ERR_TOO_LARGE);
	CHECK_CONTAINS(gp_err_detail(), "field client");
	b.rows[bad].client = saved_text;

	saved = b.rows[bad].seq;
	b.rows[bad].seq++; /* a gap */
	CHECK_EQ(store_audit_insert_many(st, b.rows, b.n), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "field seq");
	b.rows[bad].seq = saved - 1; /* the row before's again */
	CHECK_EQ(store_audit_insert_many(st, b.rows, b.n), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "field seq");
	b.rows[bad].seq = saved;

	memcpy(saved_hash, b.rows[bad].prev_hash, 32);
	b.rows[bad].prev_hash[31] ^= 1; /* a fork of the chain */
	CHECK_EQ(store_audit_insert_many(st, b.rows, b.n), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), want);
	CHECK_CONTAINS(gp_err_detail(), "field prev_hash");
	memcpy(b.rows[bad].prev_hash, saved_hash, 32);

	b.rows[0].seq = 0;
	CHECK_EQ(store_audit_insert_many(st, b.rows, 1), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "row 1 of 1 (seq 0): field seq");
	b.rows[0].seq = 1;
	/* Nothing of the refused batches, though the transaction commits. */
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(store_audit_count(st, &n, &max), 0);
	CHECK_EQ(n, 0);

	/* The same batch, now whole, goes in. */
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_audit_insert_many(st, b.rows, b.n), 0);
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(store_audit_count(st, &n, &max), 0);
	CHECK_EQ(n, (int64_t)rows);
	CHECK_EQ(max, (int64_t)rows);
out:
	free(big);
	batch_free(&b);
	store_free(st);
	test_tmpdb_free(&t);
}

static int
cp_fn(void *arg, const struct store_checkpoint *cp)
{
	int64_t *next = arg;

	if (cp->id != *next || cp->seq != cp->id * 10 || cp->sig_len != 3)
		return -100;
	(*next)++;
	return 0;
}

static void
test_checkpoints(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	struct store_checkpoint cp, got;
	uint8_t sig[3] = {1, 2, 3};
	int64_t i, next = 1;

	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 1, &st), 0);
	CHECK_EQ(store_begin(st), 0);
	for (i = 1; i <= 1005; i++) {
		memset(&cp, 0, sizeof(cp));
		cp.id = i % 2 ? i : 0; /* 0: the store picks the next id */
		cp.seq = i * 10;
		cp.time_ms = i;
		memset(cp.hash, (int)i, 32);
		cp.sig = sig;
		cp.sig_len = sizeof(sig);
		CHECK_EQ(store_checkpoint_insert(st, &cp), 0);
	}
	cp.id = 5;
	CHECK_EQ(store_checkpoint_insert(st, &cp), GP_ERR_EXISTS);
	/* A time-stamp token rides along; an empty one is refused. */
	cp.id = 1006;
	cp.seq = 10060;
	cp.tst = sig;
	cp.tst_len = 0;
	CHECK_EQ(store_checkpoint_insert(st, &cp), GP_ERR_INVALID);
	cp.tst_len = 2;
	CHECK_EQ(store_checkpoint_insert(st, &cp), 0);
	cp.tst = NULL;
	cp.tst_len = 0;
	cp.sig = NULL;
	cp.id = 0;
	CHECK_EQ(store_checkpoint_insert(st, &cp), GP_ERR_INVALID);
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(store_checkpoint_get(st, 1006, &got), 0);
	CHECK(got.tst_len == 2 && got.tst != NULL && got.tst[1] == 2);
	store_checkpoint_clear(&got);
	CHECK_EQ(store_checkpoint_scan(st, cp_fn, &next), 0);
	CHECK_EQ(next, 1007);
	CHECK_EQ(store_checkpoint_last(st, &got), 0);
	CHECK_EQ(got.id, 1006);
	CHECK_EQ(got.seq, 10060);
	store_checkpoint_clear(&got);
	CHECK_EQ(store_checkpoint_get(st, 7, &got), 0);
	CHECK_EQ(got.seq, 70);
	CHECK_EQ(got.hash[31], 7);
	CHECK(got.sig_len == 3 && memcmp(got.sig, sig, 3) == 0);
	CHECK(got.tst == NULL && got.tst_len == 0);
	store_checkpoint_clear(&got);
	CHECK_EQ(store_checkpoint_get(st, 5000, &got), GP_ERR_NOT_FOUND);
	store_free(st);
	test_tmpdb_free(&t);
}

/* Two connections to one file, as two processes would have: each appends
 * to the shared chain under store_begin(); no append may be lost and every
 * row must link to the one before it. */
struct writer_arg {
	const char *path;
	int n;
	int errors;
};

static void *
writer_main(void *p)
{
	struct writer_arg *w = p;
	store *st = NULL;
	struct store_audit_row row;
	uint8_t h[32];
	int64_t seq;
	int i;

	if (store_open(w->path, 0, &st) != 0) {
		w->errors = w->n;
		return NULL;
	}
	for (i = 0; i < w->n; i++) {
		if (store_begin(st) != 0) {
			w->errors++;
			continue;
		}
		if (store_audit_head(st, &seq, h) != 0) {
			w->errors++;
			store_rollback(st);
			continue;
		}
		fill_row(&row, seq + 1, h);
		if (store_audit_insert(st, &row) != 0) {
			w->errors++;
			store_rollback(st);
			continue;
		}
		if (store_commit(st) != 0)
			w->errors++;
	}
	store_free(st);
	return NULL;
}

struct link_check {
	int64_t next;
	uint8_t prev[32];
	int bad;
};

static int
link_fn(void *arg, const struct store_audit_row *row)
{
	struct link_check *c = arg;

	if (row->seq != c->next || memcmp(row->prev_hash, c->prev, 32) != 0)
		c->bad++;
	memcpy(c->prev, row->hash, 32);
	c->next = row->seq + 1;
	return 0;
}

static void
test_two_handles(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	pthread_t th[2];
	struct writer_arg w[2];
	struct link_check c;
	int64_t n = 0, max = 0;
	int i;

	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 1, &st), 0);
	for (i = 0; i < 2; i++) {
		w[i].path = t.path;
		w[i].n = 150;
		w[i].errors = 0;
		pthread_create(&th[i], NULL, writer_main, &w[i]);
	}
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ(w[0].errors + w[1].errors, 0);
	CHECK_EQ(store_audit_count(st, &n, &max), 0);
	CHECK_EQ(n, 300);
	CHECK_EQ(max, 300);
	memset(&c, 0, sizeof(c));
	c.next = 1;
	CHECK_EQ(store_audit_scan(st, 0, 0, link_fn, &c), 0);
	CHECK_EQ(c.next, 301);
	CHECK_EQ(c.bad, 0);
	if (!ON_PG(t.path))
		CHECK_EQ(raw_int(t.path, "SELECT count(*) FROM "
		    "pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
	store_free(st);
	test_tmpdb_free(&t);
}

/* Reads by serial from another thread do not wait for a transaction in
 * progress (the audit writer's commit), and see only committed state. */
struct tx_holder {
	store *st;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stage;                  /* 1: in the transaction; 2: commit */
	int r;
};

static void *
tx_holder_main(void *p)
{
	struct tx_holder *h = p;

	h->r = store_begin(h->st);
	if (h->r == 0)
		h->r = store_cert_set_status(h->st, "5f3a9c0d11e2b7a4",
		    "revoked", 1700000000, 1, 0);
	pthread_mutex_lock(&h->mu);
	h->stage = 1;
	pthread_cond_broadcast(&h->cv);
	while (h->stage != 2)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
	if (h->r == 0)
		h->r = store_commit(h->st);
	return NULL;
}

struct reader_arg {
	store *st;
	struct store_cert_state cs;
	struct store_cert c;
	int r;
	int done;
	pthread_mutex_t *mu;
	pthread_cond_t *cv;
};

static void *
reader_main(void *p)
{
	struct reader_arg *a = p;
	int r;

	r = store_cert_state_get(a->st, "5f3a9c0d11e2b7a4", &a->cs);
	if (r == 0)
		r = store_cert_get(a->st, "5f3a9c0d11e2b7a4", &a->c);
	pthread_mutex_lock(a->mu);
	a->r = r;
	a->done = 1;
	pthread_cond_broadcast(a->cv);
	pthread_mutex_unlock(a->mu);
	return NULL;
}

static void
test_reads_beside_writer(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	struct store_cert c;
	struct store_cert_state cs;
	struct tx_holder h;
	struct reader_arg a;
	struct timespec dl;
	pthread_t th, rd;
	uint8_t der[5] = {0x30, 0x03, 0x02, 0x01, 0x01};
	int waited = 0;

	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 1, &st), 0);
	make_cert(&c, "5f3a9c0d11e2b7a4", der);
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_cert_insert(st, &c), 0);
	CHECK_EQ(store_commit(st), 0);

	memset(&h, 0, sizeof(h));
	h.st = st;
	pthread_mutex_init(&h.mu, NULL);
	pthread_cond_init(&h.cv, NULL);
	pthread_create(&th, NULL, tx_holder_main, &h);
	pthread_mutex_lock(&h.mu);
	while (h.stage != 1)
		pthread_cond_wait(&h.cv, &h.mu);
	/* The transaction is open (and holds the store's mutex): a read
	 * from here must finish anyway, within 5 s, and not see it. */
	memset(&a, 0, sizeof(a));
	a.st = st;
	a.mu = &h.mu;
	a.cv = &h.cv;
	pthread_create(&rd, NULL, reader_main, &a);
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 5;
	while (!a.done && waited == 0)
		waited = pthread_cond_timedwait(&h.cv, &h.mu, &dl);
	CHECK(a.done);
	h.stage = 2;
	pthread_cond_broadcast(&h.cv);
	pthread_mutex_unlock(&h.mu);
	pthread_join(th, NULL);
	pthread_join(rd, NULL);
	CHECK_EQ(h.r, 0);
	CHECK_EQ(a.r, 0);
	CHECK_STR(a.cs.status, "good");
	CHECK_STR(a.c.status, "good");
	store_cert_clear(&a.c);
	/* Committed: the next read sees it. */
	CHECK_EQ(store_cert_state_get(st, "5f3a9c0d11e2b7a4", &cs), 0);
	CHECK_STR(cs.status, "revoked");
	/* Inside this thread's own transaction, its own write is seen. */
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_cert_set_status(st, "5f3a9c0d11e2b7a4", "revoked",
	    1700000000, 4, 0), 0);
	CHECK_EQ(store_cert_state_get(st, "5f3a9c0d11e2b7a4", &cs), 0);
	CHECK_EQ(cs.reason, 4);
	store_rollback(st);
	pthread_mutex_destroy(&h.mu);
	pthread_cond_destroy(&h.cv);
	store_free(st);
	test_tmpdb_free(&t);
}

/* A tampered hash length is reported, not silently truncated. */
static void
test_bad_hash_length(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	struct store_audit_row row;
	uint8_t zero[32] = {0};
	int calls = 0;

	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 1, &st), 0);
	CHECK_EQ(store_begin(st), 0);
	fill_row(&row, 1, zero);
	CHECK_EQ(store_audit_insert(st, &row), 0);
	fill_row(&row, 2, zero);
	CHECK_EQ(store_audit_insert(st, &row), 0);
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(raw_exec(t.path, ON_PG(t.path) ? "DROP TRIGGER "
	    "audit_no_update ON audit; UPDATE audit SET hash = "
	    "decode('0102', 'hex') WHERE seq = 2" : "DROP TRIGGER "
	    "audit_no_update; UPDATE audit SET hash = X'0102' WHERE seq = 2"),
	    SQLITE_OK);
	CHECK_EQ(store_audit_scan(st, 0, 0, count_fn, &calls),
	    GP_ERR_TAMPERED);
	CHECK_EQ(calls, 1); /* row 1 was delivered first */
	CHECK_CONTAINS(gp_err_detail(), "audit record 2");
	store_free(st);
	test_tmpdb_free(&t);
}

/* Requests: decided once (approved or refused, with who and why), found
 * by status, profile and requester (person or idn), paged in creation
 * order. */
static void
test_requests(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	struct store_request sr, got, *list = NULL;
	struct store_request_decision d;
	struct store_request_query q;
	char id[3][33];
	size_t n = 0;
	int i;

	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 1, &st), 0);
	for (i = 0; i < 3; i++) {
		memset(&sr, 0, sizeof(sr));
		snprintf(id[i], sizeof(id[i]), "%032x", i + 10);
		sr.id = id[i];
		sr.profile = i == 2 ? (char *)"tsa" : (char *)"officer";
		sr.requester = i == 1 ? (char *)"dn:CN=b" : (char *)"dn:CN=a";
		sr.requester_idn = i == 1 ? (char *)"idn:00ff" : NULL;
		sr.requester_actor = (char *)"CN=a,serial=1";
		sr.body = (char *)"{}";
		sr.created_ms = 1000 - i; /* newest first by id, oldest by time */
		CHECK_EQ(store_begin(st), 0);
		CHECK_EQ(store_request_insert(st, &sr), 0);
		CHECK_EQ(store_commit(st), 0);
	}
	/* must fail: a request without a requester */
	memset(&sr, 0, sizeof(sr));
	sr.id = (char *)"x";
	sr.profile = (char *)"officer";
	sr.requester = (char *)"";
	sr.requester_actor = (char *)"a";
	sr.body = (char *)"{}";
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_request_insert(st, &sr), GP_ERR_INVALID);
	store_rollback(st);

	memset(&d, 0, sizeof(d));
	d.status = "refused";
	d.approver = "dn:CN=c";
	d.approver_actor = "CN=c,serial=3";
	d.reason = "不是本单位人员";
	d.decided_ms = 2000;
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_request_decide(st, id[0], &d), 0);
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(store_request_get(st, id[0], &got), 0);
	CHECK_STR(got.status, "refused");
	CHECK_STR(got.reason, "不是本单位人员");
	CHECK_STR(got.approver_actor, "CN=c,serial=3");
	CHECK_EQ(got.decided_ms, 2000);
	store_request_clear(&got);
	/* must fail: deciding it again, either way */
	d.status = "approved";
	d.reason = NULL;
	d.serial = "abc";
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_request_decide(st, id[0], &d), GP_ERR_CONFLICT);
	CHECK_CONTAINS(gp_err_detail(), "is refused, no longer pending");
	CHECK_EQ(store_request_decide(st, "nope", &d), GP_ERR_NOT_FOUND);
	d.status = "maybe";
	CHECK_EQ(store_request_decide(st, id[1], &d), GP_ERR_INVALID);
	store_rollback(st);

	memset(&q, 0, sizeof(q));
	q.limit = 10;
	CHECK_EQ(store_request_find(st, &q, &list, &n), 0);
	CHECK_EQ(n, 3);
	if (n == 3) {
		/* oldest first */
		CHECK_STR(list[0].id, id[2]);
		CHECK_STR(list[2].id, id[0]);
		CHECK(list[0].body == NULL);
	}
	store_request_list_free(list, n);
	q.status = "pending";
	q.profile = "officer";
	CHECK_EQ(store_request_find(st, &q, &list, &n), 0);
	CHECK_EQ(n, 1);
	store_request_list_free(list, n);
	q.status = NULL;
	q.profile = NULL;
	q.requester = "idn:00ff";
	CHECK_EQ(store_request_find(st, &q, &list, &n), 0);
	CHECK(n == 1 && strcmp(list[0].id, id[1]) == 0);
	store_request_list_free(list, n);
	q.requester = "dn:CN=a";
	CHECK_EQ(store_request_find(st, &q, &list, &n), 0);
	CHECK_EQ(n, 2);
	store_request_list_free(list, n);
	q.requester = NULL;
	q.limit = 1;
	q.after = id[2];
	CHECK_EQ(store_request_find(st, &q, &list, &n), 0);
	CHECK(n == 1 && strcmp(list[0].id, id[1]) == 0);
	store_request_list_free(list, n);
	q.after = "no such id";
	CHECK_EQ(store_request_find(st, &q, &list, &n), 0);
	CHECK_EQ(n, 0);
	store_request_list_free(list, n);
	q.limit = 0;
	CHECK_EQ(store_request_find(st, &q, &list, &n), GP_ERR_INVALID);
	store_free(st);
	test_tmpdb_free(&t);
}

/* The events of one certificate's history, collected by the scan. */
struct hist {
	struct store_status_event ev[2200];
	size_t n;
	size_t stop_at;            /* return 7 after this many; 0: never */
};

static int
hist_fn(void *arg, const struct store_status_event *ev)
{
	struct hist *h = arg;

	if (h->n < sizeof(h->ev) / sizeof(h->ev[0]))
		h->ev[h->n] = *ev;
	h->n++;
	return h->stop_at != 0 && h->n == h->stop_at ? 7 : 0;
}

static void
test_status_history(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	struct store_cert c, got;
	struct store_status_change ch;
	struct hist *h = calloc(1, sizeof(*h));
	uint8_t der[5] = {0x30, 0x03, 0x02, 0x01, 0x01};
	size_t i;
	int ok;

	CHECK(h != NULL);
	if (h == NULL)
		return;
	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 1, &st), 0);
	make_cert(&c, "5f3a9c0d11e2b7a4", der);
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_cert_insert(st, &c), 0);
	/* Inserted revoked: its first event is the revocation. */
	make_cert(&c, "77", der);
	c.status = "revoked";
	c.revoked_at = 1700000100;
	c.reason = 1;
	c.invalidity_date = 1700000050;
	CHECK_EQ(store_cert_insert(st, &c), 0);
	/* Held or revoked without the time: refused, nothing written. */
	make_cert(&c, "78", der);
	c.status = "hold";
	CHECK_EQ(store_cert_insert(st, &c), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "revoked_at");
	CHECK_EQ(store_commit(st), 0);

	/* NULL and bounds. */
	memset(&ch, 0, sizeof(ch));
	ch.serial = "5f3a9c0d11e2b7a4";
	ch.change = STORE_CHANGE_HOLD;
	ch.time = 1700000200;
	ch.reason = -1;
	CHECK_EQ(store_cert_status_change(st, &ch), GP_ERR_INTERNAL); /* no tx */
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_cert_status_change(st, NULL), GP_ERR_INVALID);
	ch.change = NULL;
	CHECK_EQ(store_cert_status_change(st, &ch), GP_ERR_INVALID);
	ch.change = "expire";
	CHECK_EQ(store_cert_status_change(st, &ch), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "expire");
	ch.change = STORE_CHANGE_HOLD;
	ch.time = 0;
	CHECK_EQ(store_cert_status_change(st, &ch), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "time");
	ch.time = 1700000200;
	ch.reason = 11;
	CHECK_EQ(store_cert_status_change(st, &ch), GP_ERR_INVALID);
	ch.reason = -1;
	ch.serial = "02";
	CHECK_EQ(store_cert_status_change(st, &ch), GP_ERR_NOT_FOUND);
	ch.serial = "5f3a9c0d11e2b7a4";
	/* hold, release, hold, revoke (the hold's start), with the actor. */
	ch.actor = "officer:4b1d";
	CHECK_EQ(store_cert_status_change(st, &ch), 0);
	ch.change = STORE_CHANGE_RELEASE;
	ch.time = 1700000300;
	CHECK_EQ(store_cert_status_change(st, &ch), 0);
	ch.change = STORE_CHANGE_HOLD;
	ch.time = 1700000400;
	CHECK_EQ(store_cert_status_change(st, &ch), 0);
	ch.change = STORE_CHANGE_REVOKE;
	ch.time = 1700000400;
	ch.reason = 1;
	ch.invalidity_date = 1700000350;
	CHECK_EQ(store_cert_status_change(st, &ch), 0);
	CHECK_EQ(store_commit(st), 0);

	/* The row says the current state; the history says all of it. */
	CHECK_EQ(store_cert_get(st, "5f3a9c0d11e2b7a4", &got), 0);
	CHECK_STR(got.status, "revoked");
	CHECK_EQ(got.revoked_at, 1700000400);
	CHECK_EQ(got.reason, 1);
	CHECK_EQ(got.invalidity_date, 1700000350);
	store_cert_clear(&got);
	CHECK_EQ(store_cert_history_scan(st, "5f3a9c0d11e2b7a4", hist_fn, h),
	    0);
	CHECK_EQ(h->n, 4);
	if (h->n == 4) {
		CHECK_STR(h->ev[0].change, "hold");
		CHECK_EQ(h->ev[0].time, 1700000200);
		CHECK_EQ(h->ev[0].reason, 6);
		CHECK_STR(h->ev[0].actor, "officer:4b1d");
		CHECK_STR(h->ev[1].change, "release");
		CHECK_EQ(h->ev[1].time, 1700000300);
		CHECK_EQ(h->ev[1].reason, -1);
		CHECK_STR(h->ev[2].change, "hold");
		CHECK_STR(h->ev[3].change, "revoke");
		CHECK_EQ(h->ev[3].time, 1700000400);
		CHECK_EQ(h->ev[3].reason, 1);
		CHECK_EQ(h->ev[3].invalidity_date, 1700000350);
		CHECK(h->ev[0].id < h->ev[1].id && h->ev[1].id < h->ev[2].id &&
		    h->ev[2].id < h->ev[3].id);
		CHECK(h->ev[0].created_ms > 1700000000000LL);
	}
	h->n = 0;
	CHECK_EQ(store_cert_history_scan(st, "77", hist_fn, h), 0);
	CHECK(h->n == 1 && strcmp(h->ev[0].change, "revoke") == 0 &&
	    h->ev[0].time == 1700000100 && h->ev[0].invalidity_date ==
	    1700000050 && h->ev[0].actor[0] == '\0');
	h->n = 0;
	CHECK_EQ(store_cert_history_scan(st, "nosuch", hist_fn, h), 0);
	CHECK_EQ(h->n, 0);
	CHECK_EQ(store_cert_history_scan(st, NULL, hist_fn, h),
	    GP_ERR_INVALID);
	CHECK_EQ(store_cert_history_scan(st, "77", NULL, h), GP_ERR_INVALID);

	/* A rolled back change leaves neither the row nor the event. */
	CHECK_EQ(store_begin(st), 0);
	ch.serial = "77";
	ch.change = STORE_CHANGE_RELEASE;
	ch.time = 1700000500;
	CHECK_EQ(store_cert_status_change(st, &ch), 0);
	store_rollback(st);
	h->n = 0;
	CHECK_EQ(store_cert_history_scan(st, "77", hist_fn, h), 0);
	CHECK_EQ(h->n, 1);
	CHECK_EQ(store_cert_get(st, "77", &got), 0);
	CHECK_STR(got.status, "revoked");
	store_cert_clear(&got);

	/* store_cert_set_status() writes the history too. */
	make_cert(&c, "79", der);
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_cert_insert(st, &c), 0);
	CHECK_EQ(store_cert_set_status(st, "79", "hold", 1700000600, 6, 0), 0);
	CHECK_EQ(store_cert_set_status(st, "79", "good", 0, -1, 0), 0);
	CHECK_EQ(store_cert_set_status(st, "79", "lost", 1, 1, 0),
	    GP_ERR_INVALID);
	CHECK_EQ(store_commit(st), 0);
	h->n = 0;
	CHECK_EQ(store_cert_history_scan(st, "79", hist_fn, h), 0);
	CHECK(h->n == 2 && strcmp(h->ev[0].change, "hold") == 0 &&
	    h->ev[0].time == 1700000600 && strcmp(h->ev[1].change,
	    "release") == 0 && h->ev[1].time >= h->ev[0].time);

	/* Paging: 2100 events over three pages of STORE_PAGE_ROWS, in
	 * order; an early stop in the second page. */
	make_cert(&c, "80", der);
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_cert_insert(st, &c), 0);
	ch.serial = "80";
	ch.actor = NULL;
	ch.reason = -1;
	ch.invalidity_date = 0;
	for (i = 0; i < 2100; i++) {
		ch.change = i % 2 ? STORE_CHANGE_RELEASE : STORE_CHANGE_HOLD;
		ch.time = 1700001000 + (int64_t)i;
		if (store_cert_status_change(st, &ch) != 0)
			break;
	}
	CHECK_EQ(i, 2100);
	CHECK_EQ(store_commit(st), 0);
	h->n = 0;
	CHECK_EQ(store_cert_history_scan(st, "80", hist_fn, h), 0);
	CHECK_EQ(h->n, 2100);
	for (i = 0, ok = 1; i < 2100 && h->n == 2100; i++)
		ok &= h->ev[i].time == 1700001000 + (int64_t)i;
	CHECK(ok);
	h->n = 0;
	h->stop_at = 1500;
	CHECK_EQ(store_cert_history_scan(st, "80", hist_fn, h), 7);
	CHECK_EQ(h->n, 1500);
	h->stop_at = 0;

	/* Append-only: an editor of the file can neither change nor delete
	 * an event while the triggers stand, nor add one for a serial
	 * never issued. */
	CHECK(raw_exec(t.path, "UPDATE cert_status_history SET time = 1")
	    != SQLITE_OK);
	CHECK(raw_exec(t.path, "UPDATE cert_status_history SET change = "
	    "'release' WHERE change = 'revoke'") != SQLITE_OK);
	CHECK(raw_exec(t.path, "DELETE FROM cert_status_history") !=
	    SQLITE_OK);
	CHECK(raw_exec(t.path, ON_PG(t.path) ? "INSERT INTO "
	    "cert_status_history (serial, change, time, created_ms) VALUES "
	    "('99', 'hold', 5, 5)" : "PRAGMA foreign_keys = ON; INSERT INTO "
	    "cert_status_history (serial, change, time, created_ms) VALUES "
	    "('99', 'hold', 5, 5)") != SQLITE_OK);
	CHECK(raw_exec(t.path, "INSERT INTO cert_status_history (serial, "
	    "change, time, created_ms) VALUES ('77', 'unrevoke', 5, 5)") !=
	    SQLITE_OK);
	CHECK_EQ(raw_int(t.path, "SELECT count(*) FROM cert_status_history "
	    "WHERE serial = '5f3a9c0d11e2b7a4' AND time > 1"), 4);
	CHECK(raw_int(t.path, ON_PG(t.path) ? "SELECT count(*) FROM "
	    "pg_trigger WHERE tgrelid = 'cert_status_history'::regclass AND "
	    "NOT tgisinternal" : "SELECT count(*) FROM sqlite_master WHERE "
	    "type = 'trigger' AND tbl_name = 'cert_status_history'") >= 2);
	store_free(st);
	test_tmpdb_free(&t);
	free(h);
}

/* Leases: one holder at a time, until it expires unless renewed; a
 * release lets another take it at once. */
static void
test_leases(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	struct store_lease prev, got;
	int held = -1;

	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 1, &st), 0);
	CHECK_EQ(store_lease_get(st, "crl", &got), 0);
	CHECK_STR(got.holder, "");
	/* Outside a transaction: refused. */
	CHECK_EQ(store_lease_take(st, "crl", "n1", 1000, 10000, &held, NULL),
	    GP_ERR_INTERNAL);
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_lease_take(st, "crl", "", 1000, 10000, &held, NULL),
	    GP_ERR_INVALID);
	CHECK_EQ(store_lease_take(st, "crl", "n1", 1000, 10000, &held,
	    &prev), 0);
	CHECK_EQ(held, 1);
	CHECK_STR(prev.holder, "");
	/* n2 while n1 holds it: not taken, and told who holds it. */
	CHECK_EQ(store_lease_take(st, "crl", "n2", 5000, 10000, &held,
	    &prev), 0);
	CHECK_EQ(held, 0);
	CHECK_STR(prev.holder, "n1");
	CHECK_EQ(prev.expires_ms, 11000);
	/* n1 renews: its time runs on, since when it held it stays. */
	CHECK_EQ(store_lease_take(st, "crl", "n1", 9000, 10000, &held,
	    NULL), 0);
	CHECK_EQ(held, 1);
	CHECK_EQ(store_lease_take(st, "crl", "n2", 18999, 10000, &held,
	    NULL), 0);
	CHECK_EQ(held, 0);
	/* n1 stops renewing (died): n2 takes over once it expired. */
	CHECK_EQ(store_lease_take(st, "crl", "n2", 19000, 10000, &held,
	    &prev), 0);
	CHECK_EQ(held, 1);
	CHECK_STR(prev.holder, "n1");
	CHECK_EQ(prev.taken_ms, 1000);
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(store_lease_get(st, "crl", &got), 0);
	CHECK_STR(got.holder, "n2");
	CHECK_EQ(got.expires_ms, 29000);
	CHECK_EQ(got.taken_ms, 19000);
	/* A release by another is a no-op; by the holder, n1 takes it at
	 * once. */
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_lease_release(st, "crl", "n1", 20000), 0);
	CHECK_EQ(store_lease_take(st, "crl", "n1", 20000, 10000, &held,
	    NULL), 0);
	CHECK_EQ(held, 0);
	CHECK_EQ(store_lease_release(st, "crl", "n2", 20000), 0);
	CHECK_EQ(store_lease_take(st, "crl", "n1", 20000, 10000, &held,
	    NULL), 0);
	CHECK_EQ(held, 1);
	CHECK_EQ(store_commit(st), 0);
	/* A rolled back take changes nothing. */
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_lease_take(st, "other", "n3", 1, 10, &held, NULL), 0);
	store_rollback(st);
	CHECK_EQ(store_lease_get(st, "other", &got), 0);
	CHECK_STR(got.holder, "");
	store_free(st);
	test_tmpdb_free(&t);
}

/* Published files: a version in parts, the latest one only. */
static void
test_published(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	static uint8_t big[STORE_PUB_PART + 1];
	uint8_t a[3] = {1, 2, 3}, b[2] = {4, 5}, *got = NULL;
	size_t len = 0;
	int64_t number = -1, parts = -1;

	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 1, &st), 0);
	CHECK_EQ(store_pub_latest(st, "ca", &number, &parts), 0);
	CHECK(number == 0 && parts == 0);
	CHECK_EQ(store_pub_put(st, "ca", 5, 0, a, 3), GP_ERR_INTERNAL);
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_pub_put(st, "ca", 5, 0, a, 3), 0);
	CHECK_EQ(store_pub_put(st, "ca", 5, 1, b, 2), 0);
	CHECK_EQ(store_pub_put(st, "ca", 5, 1, b, 2), GP_ERR_EXISTS);
	CHECK_EQ(store_pub_put(st, "ca", 5, 2, big, sizeof(big)),
	    GP_ERR_INVALID);
	CHECK_EQ(store_pub_put(st, "ca", 5, 2, NULL, 0), GP_ERR_INVALID);
	CHECK_EQ(store_pub_prune(st, "ca", 5), 0);
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(store_pub_latest(st, "ca", &number, &parts), 0);
	CHECK(number == 5 && parts == 2);
	CHECK_EQ(store_pub_get(st, "ca", 5, 1, &got, &len), 0);
	CHECK(len == 2 && got != NULL && got[0] == 4 && got[1] == 5);
	free(got);
	got = NULL;
	CHECK_EQ(store_pub_get(st, "ca", 5, 2, &got, &len), GP_ERR_NOT_FOUND);
	/* Version 6 replaces it. */
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_pub_put(st, "ca", 6, 0, b, 2), 0);
	CHECK_EQ(store_pub_prune(st, "ca", 6), 0);
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(store_pub_latest(st, "ca", &number, &parts), 0);
	CHECK(number == 6 && parts == 1);
	CHECK_EQ(store_pub_get(st, "ca", 5, 0, &got, &len), GP_ERR_NOT_FOUND);
	CHECK_EQ(store_pub_latest(st, "root", &number, &parts), 0);
	CHECK(number == 0 && parts == 0);
	store_free(st);
	test_tmpdb_free(&t);
}

/* PostgreSQL only: a URL with a password in it is refused, and the
 * password appears in no message. */
static void
test_pg_url_password(void)
{
	store *st = NULL;
	char url[512];

	snprintf(url, sizeof(url), "postgresql://pwuser:hunter2-leak@/t1"
	    "?host=%s", test_pg.dir);
	CHECK_EQ(store_open(url, 0, &st), GP_ERR_INVALID);
	CHECK(st == NULL);
	CHECK_CONTAINS(gp_err_detail(), "store.url");
	CHECK(strstr(gp_err_detail(), "hunter2-leak") == NULL);
	/* Not a URL libpq can read. */
	CHECK_EQ(store_open("postgresql://[bad", 0, &st), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "store.url");
}

/* PostgreSQL only: the password comes in the options (from a file or the
 * environment, read by the caller); a wrong one is refused without
 * appearing in the message. */
static void
test_pg_password(void)
{
	struct test_tmpdb t;
	struct store_open_opts o;
	store *st = NULL;
	char url[512];

	test_tmpdb_new(&t);
	snprintf(url, sizeof(url), "postgresql:///%s?host=%s&user=pwuser",
	    t.pg_name, test_pg.dir);
	memset(&o, 0, sizeof(o));
	o.target = url;
	o.create = 1;
	o.password = "wrong-pw-77";
	CHECK(store_open_with(&o, &st) != 0);
	CHECK(st == NULL);
	CHECK_CONTAINS(gp_err_detail(), "password authentication failed");
	CHECK(strstr(gp_err_detail(), "wrong-pw-77") == NULL);
	o.password = NULL; /* nor without one */
	CHECK(store_open_with(&o, &st) != 0);
	o.password = "pw-secret-1";
	CHECK_EQ(store_open_with(&o, &st), 0);
	if (st != NULL) {
		CHECK_EQ(store_ping(st), 0);
		CHECK(strcmp(store_backend_name(st), "PostgreSQL") == 0);
	}
	store_free(st);
	test_tmpdb_free(&t);
}

/* A store on |t| holding certificate |serial| (good) and meta k = "1",
 * both read once, so that the writer and the reader are connected. */
static store *
pg_one_cert(struct test_tmpdb *t, const char *serial)
{
	store *st = NULL;
	struct store_cert c;
	struct store_cert_state cs;
	uint8_t der[5] = {0x30, 0x03, 0x02, 0x01, 0x01};
	char *v = NULL;

	CHECK_EQ(store_open(t->path, 1, &st), 0);
	make_cert(&c, serial, der);
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_cert_insert(st, &c), 0);
	CHECK_EQ(store_meta_set(st, "k", "1"), 0);
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(store_cert_state_get(st, serial, &cs), 0);
	CHECK_EQ(store_meta_get(st, "k", &v), 0);
	free(v);
	return st;
}

/* PostgreSQL only: the database drops the store's connections (a
 * restart, a failover); the next call fails with GP_ERR_BUSY, and the
 * store reconnects by itself, re-preparing its statements. */
static void
test_pg_reconnect(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	struct store_cert_state cs;
	char sql[160], *v = NULL;
	int i, r = -1;

	test_tmpdb_new(&t);
	st = pg_one_cert(&t, "5f3a9c0d11e2b7a4");
	snprintf(sql, sizeof(sql), "SELECT count(pg_terminate_backend(pid)) "
	    "FROM pg_stat_activity WHERE datname = '%s' AND pid <> "
	    "pg_backend_pid()", t.pg_name);
	CHECK_EQ(raw_int(t.path, sql), 2); /* the writer and the reader */
	CHECK_EQ(store_meta_get(st, "k", &v), GP_ERR_BUSY);
	CHECK_CONTAINS(gp_err_detail(), "unreachable");
	/* Reconnection: at most one attempt a second; bounded wait. */
	for (i = 0; i < 50 && (r = store_meta_get(st, "k", &v)) != 0; i++)
		usleep(100000);
	CHECK_EQ(r, 0);
	CHECK_STR(v, "1");
	free(v);
	v = NULL;
	/* The reader reconnects too, and writes work again. */
	for (i = 0; i < 50 && (r = store_cert_state_get(st,
	    "5f3a9c0d11e2b7a4", &cs)) != 0; i++)
		usleep(100000);
	CHECK_EQ(r, 0);
	CHECK_STR(cs.status, "good");
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_meta_set(st, "k", "2"), 0);
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(store_meta_get(st, "k", &v), 0);
	CHECK_STR(v, "2");
	free(v);
	store_free(st);
	test_tmpdb_free(&t);
}

/* pg.sh down|up on this binary's cluster; 0 when it did. */
static int
pg_cluster(const char *how)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "bash tests/pg.sh %s %s", how, test_pg.dir);
	return system(cmd);
}

/* PostgreSQL only: the whole database goes away (the server stops, as
 * when its machine does) under open connections. Every statement, on the
 * writer and on the reader, fails as "unreachable" (GP_ERR_BUSY, which
 * the server answers 503), never as a failure of the statement; a
 * transaction cannot begin; once the server is back, both connections
 * work again by themselves. */
static void
test_pg_down(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	struct store_cert_state cs;
	char *v = NULL;
	int i, r = -1;

	test_tmpdb_new(&t);
	st = pg_one_cert(&t, "6a0b1c2d3e4f5a6b");
	CHECK_EQ(pg_cluster("down"), 0);
	/* The first statement on each connection finds it closed. */
	CHECK_EQ(store_cert_state_get(st, "6a0b1c2d3e4f5a6b", &cs),
	    GP_ERR_BUSY);
	CHECK_CONTAINS(gp_err_detail(), "unreachable");
	CHECK_EQ(store_meta_get(st, "k", &v), GP_ERR_BUSY);
	CHECK_CONTAINS(gp_err_detail(), "unreachable");
	CHECK_EQ(store_begin(st), GP_ERR_BUSY);
	CHECK_EQ(store_in_tx(st), 0);
	CHECK_EQ(store_ping(st), GP_ERR_BUSY);
	usleep(1100 * 1000); /* past the reconnection's pause: still down */
	CHECK_EQ(store_begin(st), GP_ERR_BUSY);
	CHECK_CONTAINS(gp_err_detail(), "unreachable");
	CHECK_EQ(pg_cluster("up"), 0);
	/* Reconnection: at most one attempt a second; bounded wait. */
	for (i = 0; i < 50 && (r = store_begin(st)) != 0; i++)
		usleep(100000);
	CHECK_EQ(r, 0);
	CHECK_EQ(store_meta_set(st, "k", "2"), 0);
	CHECK_EQ(store_commit(st), 0);
	for (i = 0; i < 50 && (r = store_cert_state_get(st,
	    "6a0b1c2d3e4f5a6b", &cs)) != 0; i++)
		usleep(100000);
	CHECK_EQ(r, 0);
	CHECK_STR(cs.status, "good");
	CHECK_EQ(store_meta_get(st, "k", &v), 0);
	CHECK_STR(v, "2");
	free(v);
	store_free(st);
	test_tmpdb_free(&t);
}

/* PostgreSQL only: a statement that fails inside a transaction (here a
 * foreign key: an event of a tender that does not exist) ends it there,
 * so its commit fails and nothing of it is kept; a refused duplicate does
 * not (test_certificates, test_begin_rollback). */
static void
test_pg_failed_statement(void)
{
	struct test_tmpdb t;
	store *st = NULL;
	struct store_tender_event ev;
	char *v = NULL;

	test_tmpdb_new(&t);
	CHECK_EQ(store_open(t.path, 1, &st), 0);
	memset(&ev, 0, sizeof(ev));
	ev.tender_id = "00000000000000000000000000000000";
	ev.event = "opened";
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_meta_set(st, "before", "1"), 0);
	CHECK_EQ(store_tender_event_add(st, &ev), GP_ERR_STORE);
	CHECK_EQ(store_commit(st), GP_ERR_STORE);
	CHECK_CONTAINS(gp_err_detail(), "rolled back");
	CHECK_EQ(store_in_tx(st), 0);
	CHECK_EQ(store_meta_get(st, "before", &v), GP_ERR_NOT_FOUND);
	/* The store goes on. */
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_meta_set(st, "after", "1"), 0);
	CHECK_EQ(store_commit(st), 0);
	CHECK_EQ(store_meta_get(st, "after", &v), 0);
	free(v);
	store_free(st);
	test_tmpdb_free(&t);
}

static void
run_all(void)
{
	RUN(test_open_missing);
	RUN(test_create_reopen);
	RUN(test_migrations_idempotent);
	RUN(test_newer_schema_refused);
	RUN(test_meta);
	RUN(test_begin_rollback);
	RUN(test_certificates);
	RUN(test_audit_head_empty);
	RUN(test_audit_scan_paging);
	RUN(test_audit_append_only);
	RUN(test_audit_insert_many);
	RUN(test_audit_insert_many_invalid);
	RUN(test_checkpoints);
	RUN(test_two_handles);
	RUN(test_reads_beside_writer);
	RUN(test_bad_hash_length);
	RUN(test_requests);
	RUN(test_status_history);
	RUN(test_leases);
	RUN(test_published);
}

int
main(void)
{
	run_all();
	test_pg_use();
	run_all();
	RUN(test_pg_url_password);
	RUN(test_pg_password);
	RUN(test_pg_reconnect);
	RUN(test_pg_failed_statement);
	RUN(test_pg_down);
	return test_done("store");
}
