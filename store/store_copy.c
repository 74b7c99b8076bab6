/*
 * store_copy.c: copies every row of one store into another, empty one
 * (store_copy, for `govpki store migrate`: a SQLite instance moved to
 * PostgreSQL), through the backend-neutral statement API, so that it runs
 * between any two backends.
 *
 * One description per table (store_copy_tables below) says which columns
 * it has, their kind, the key it is read in order of and the column its
 * backend numbers itself; the SELECT and the INSERT are both built from
 * it. A table is read in pages of STORE_PAGE_ROWS by its key (keyset
 * paging), each row written to the target as it is read, so memory stays
 * bounded for any size. Rows keep their key values (audit seq and hashes,
 * certificate rowids, the ids of the append-only tables), which the
 * target accepts because its triggers refuse only UPDATE, DELETE and
 * TRUNCATE. The source's tables and columns are checked against the
 * descriptions first, so that a table or column added by a later schema
 * step without a description here is refused, never silently left
 * behind.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

/* A table as store_copy copies it. */
struct copy_table {
	const char *name;
	const char *cols;     /* its columns, ", " between them */
	const char *kinds;    /* one letter per column: i integer, t text,
	                       * b blob */
	const char *key;      /* the unique column read in order of: the
	                       * first of |cols| */
	int int_key;          /* |key| is an integer (else text) */
	const char *id;       /* the column the backend numbers itself, or
	                       * NULL */
};

/* In the order they are written: a table after those its foreign keys
 * name. Every column of the current schema (STORE_SCHEMA_STEPS). */
static const struct copy_table copy_tables[] = {
	{"meta", "key, value", "tt", "key", 0, NULL},
	{"audit", STORE_AUDIT_COLS, "iittttttttbb", "seq", 1, NULL},
	{"checkpoints", "id, seq, time_ms, hash, sig, tst", "iiibbb", "id", 1,
	    NULL},
	{"certificates", "rowid, serial, issuer, profile, subject, role, "
	    "uscc, id_number, not_before, not_after, status, revoked_at, "
	    "invalidity_date, reason, created_ms, der, status_gen",
	    "itttttttiitiiiibi", "rowid", 1, "rowid"},
	{"requests", "id, profile, requester, requester_actor, body, status, "
	    "created_ms, approver, decided_ms, serial, requester_idn, "
	    "approver_actor, reason", "ttttttititttt", "id", 0, NULL},
	{"cert_status_history", "id, serial, change, time, reason, "
	    "invalidity_date, actor, created_ms", "ittiiiti", "id", 1, "id"},
	{"tenders", "id, title, mode, deadline_ms, opening_ms, window_s, spec, "
	    "opening_serial, opening_key, created_ms, created_by, creator",
	    "tttiiitttitt", "id", 0, NULL},
	{"tender_events", "id, tender_id, event, time_ms, actor, person, "
	    "person_idn, details, created_ms", "ittitttti", "id", 1,
	    "id"},
	{"bids", "seq, id, tender_id, uscc, bidder, subject, signer_serial, "
	    "sha256, size, arrival_ms, signing_time, path, recipients, tst, "
	    "receipt, created_ms", "itttttttiiittbbi", "seq", 1, "seq"},
	{"bid_events", "id, bid_id, tender_id, event, time_ms, by_bid, "
	    "outcome, reason, details, data, created_ms", "itttittttbi",
	    "id", 1, "id"},
	{"tender_records", "id, tender_id, version, der, signer, uscc, "
	    "created_ms", "itibtti", "id", 1, "id"},
	{"cert_pairs", "signing, encryption, profile, subject, holder, "
	    "created_ms", "ttttti", "signing", 0, NULL},
	{"kmc_keys", "id, holder, serial, algo, spki_sha256, wrap_key, "
	    "wrapped, created_ms", "itttttbi", "id", 1, "id"},
	{"enrolments", "id, code_sha256, profile, subject, holder, "
	    "created_by, created_ms, expires_ms, status, used_ms, serial",
	    "tbttttiitit", "id", 0, NULL},
	{"kmc_recoveries", "id, holder, agent_der, reason, requester, "
	    "requester_idn, requester_actor, created_ms, status, approver, "
	    "approver_actor, decided_ms", "ttbttttittti", "id", 0, NULL},
	{"leases", "name, holder, expires_ms, taken_ms", "ttii", "name", 0,
	    NULL},
	{"published", "id, name, number, part, data", "itiib", "id", 1, "id"},
};

#define COPY_TABLES (sizeof(copy_tables) / sizeof(copy_tables[0]))
_Static_assert(COPY_TABLES <= STORE_COPY_MAX_TABLES,
    "STORE_COPY_MAX_TABLES holds every table");

/* The longest built statement. */
#define COPY_SQL_MAX 1024

size_t
store_copy_table_count(void)
{
	return COPY_TABLES;
}

const char *
store_copy_table_name(size_t i)
{
	return i < COPY_TABLES ? copy_tables[i].name : NULL;
}

/* The description of |name|, or NULL. */
static const struct copy_table *
copy_table_find(const char *name)
{
	size_t i;

	for (i = 0; i < COPY_TABLES; i++) {
		if (strcmp(copy_tables[i].name, name) == 0)
			return &copy_tables[i];
	}
	return NULL;
}

/* 1 when |col| is one of |t|'s columns. SQLite's implicit rowid is not
 * listed by the schema; PostgreSQL's certificates.rowid is. */
static int
copy_has_col(const struct copy_table *t, const char *col)
{
	const char *p = t->cols;
	size_t n = strlen(col);

	while (*p != '\0') {
		if (strncmp(p, col, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return 1;
		p = strchr(p, ',');
		if (p == NULL)
			break;
		p += 2;
	}
	return 0;
}

/* Every column of the source's table |t| is described. */
static int
copy_check_columns(store *src, const struct copy_table *t)
{
	store_stmt *s = NULL;
	const char *col;
	int r = GP_ERR_INTERNAL, row = 0;

	GUARD(store_stmt_new(src, src->be->columns_sql, &s));
	store_bind_text(s, 1, t->name);
	for (;;) {
		GUARD(store_step(s, "copy: columns", &row));
		if (!row)
			break;
		col = store_col_str(s, 0, NULL);
		ENSURE(col != NULL && copy_has_col(t, col), gp_err_set(
		    GP_ERR_UNSUPPORTED, "%s: table %s has a column %s that "
		    "this govpki does not know how to copy; use the govpki "
		    "that made it", src->path, t->name, col ? col : "(null)"));
	}
	r = 0;
out:
	store_stmt_done(s);
	return r;
}

/* |t|'s description is whole: as many kinds as columns, its key the
 * first column. */
static int
copy_table_ok(const struct copy_table *t)
{
	size_t cols = 1, klen = strlen(t->key);
	const char *p;

	for (p = t->cols; *p != '\0'; p++)
		cols += *p == ',';
	if (cols != strlen(t->kinds) || strspn(t->kinds, "itb") != cols ||
	    strncmp(t->cols, t->key, klen) != 0 || t->cols[klen] != ',' ||
	    strlen(t->cols) + strlen(t->name) + 8 * cols + 64 > COPY_SQL_MAX)
		return gp_err_set(GP_ERR_INTERNAL, "store copy: the "
		    "description of table %s is inconsistent", t->name);
	return 0;
}

/* Every table of the source is described, and its columns too. */
static int
copy_check_source(store *src)
{
	store_stmt *s = NULL;
	const char *name;
	size_t i;
	int r = GP_ERR_INTERNAL, row = 0;

	GUARD(store_stmt_new(src, src->be->tables_sql, &s));
	for (;;) {
		GUARD(store_step(s, "copy: tables", &row));
		if (!row)
			break;
		name = store_col_str(s, 0, NULL);
		ENSURE(name != NULL && copy_table_find(name) != NULL,
		    gp_err_set(GP_ERR_UNSUPPORTED, "%s: table %s is one this "
		    "govpki does not know how to copy; use the govpki that "
		    "made it", src->path, name != NULL ? name : "(null)"));
	}
	/* One statement at a time per connection: the columns after the
	 * list of tables is read. */
	store_stmt_done(s);
	s = NULL;
	for (i = 0; i < COPY_TABLES; i++) {
		GUARD(copy_table_ok(&copy_tables[i]));
		GUARD(copy_check_columns(src, &copy_tables[i]));
	}
	r = 0;
out:
	store_stmt_done(s);
	return r;
}

/* The rows of |table| into *out. */
static int
copy_count(store *st, const char *table, int64_t *out)
{
	char sql[128];
	store_stmt *s = NULL;
	int r = GP_ERR_INTERNAL;

	*out = 0;
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", table);
	GUARD(store_stmt_new(st, sql, &s));
	GUARD(store_row(s, "copy: count"));
	*out = store_col_int64(s, 0);
	r = 0;
out:
	store_stmt_done(s);
	return r;
}

/* The SELECT of the first page (no key condition, so that no key value,
 * not even the smallest, is skipped), of the next ones, and the INSERT;
 * copy_table_ok() has checked that they fit. */
static void
copy_sql(const struct copy_table *t, char *sel_first, char *sel_next,
    char *ins)
{
	size_t i, n = strlen(t->kinds), o;

	snprintf(sel_first, COPY_SQL_MAX, "SELECT %s FROM %s ORDER BY %s "
	    "LIMIT ?2", t->cols, t->name, t->key);
	snprintf(sel_next, COPY_SQL_MAX, "SELECT %s FROM %s WHERE %s > ?1 "
	    "ORDER BY %s LIMIT ?2", t->cols, t->name, t->key, t->key);
	o = (size_t)snprintf(ins, COPY_SQL_MAX, "INSERT INTO %s (%s) VALUES "
	    "(", t->name, t->cols);
	for (i = 0; i < n && o < COPY_SQL_MAX; i++)
		o += (size_t)snprintf(ins + o, COPY_SQL_MAX - o, "%s?%zu",
		    i > 0 ? ", " : "", i + 1);
	if (o < COPY_SQL_MAX)
		snprintf(ins + o, COPY_SQL_MAX - o, ")");
}

/* Binds the current row of |rd| to |wr|, column by column, as it is. */
static void
copy_bind_row(store_stmt *rd, store_stmt *wr, const struct copy_table *t)
{
	size_t i, len;
	const void *b;
	int c;

	for (i = 0; t->kinds[i] != '\0'; i++) {
		c = (int)i;
		if (store_col_null(rd, c)) {
			store_bind_null(wr, c + 1);
			continue;
		}
		switch (t->kinds[i]) {
		case 'i':
			store_bind_int64(wr, c + 1, store_col_int64(rd, c));
			break;
		case 'b':
			/* An empty blob stays an empty blob, not NULL. */
			b = store_col_blob(rd, c, &len);
			store_bind_blob(wr, c + 1, b != NULL ? b : "", len);
			break;
		default:
			store_bind_text(wr, c + 1, store_col_str(rd, c, NULL));
			break;
		}
	}
}

/* Copies table |t| page by page; *out_rows counts the rows written. */
static int
copy_one(store *src, store *dst, const struct copy_table *t,
    store_copy_progress_fn fn, void *arg, int64_t *out_rows)
{
	char sel_first[COPY_SQL_MAX], sel_next[COPY_SQL_MAX];
	char ins[COPY_SQL_MAX], what[96];
	store_stmt *rd = NULL, *wr = NULL;
	char *last_text = NULL;
	int64_t last_int = 0, page;
	int r = GP_ERR_INTERNAL, row = 0, first = 1;

	*out_rows = 0;
	copy_sql(t, sel_first, sel_next, ins);
	snprintf(what, sizeof(what), "copy %s", t->name);
	GUARD(store_stmt_new(dst, ins, &wr));
	for (;;) {
		GUARD(store_stmt_new(src, first ? sel_first : sel_next, &rd));
		if (!first && t->int_key)
			store_bind_int64(rd, 1, last_int);
		else if (!first)
			store_bind_text(rd, 1, last_text);
		store_bind_int64(rd, 2, STORE_PAGE_ROWS);
		for (page = 0;; page++) {
			GUARD(store_step(rd, what, &row));
			if (!row)
				break;
			copy_bind_row(rd, wr, t);
			GUARD(store_run(wr, what));
			store_stmt_reset(wr);
			if (t->int_key) {
				last_int = store_col_int64(rd, 0);
			} else {
				free(last_text);
				GUARD(store_col_text(rd, 0, &last_text));
				ENSURE(last_text != NULL, gp_err_set(
				    GP_ERR_STORE, "%s: %s: a NULL key",
				    src->path, what));
			}
		}
		store_stmt_done(rd);
		rd = NULL;
		*out_rows += page;
		first = 0;
		if (fn != NULL)
			fn(arg, t->name, *out_rows);
		if (page < STORE_PAGE_ROWS)
			break;
	}
	if (t->id != NULL && dst->be->id_sync != NULL)
		GUARD(dst->be->id_sync(dst, t->name, t->id));
	r = 0;
out:
	store_stmt_done(rd);
	store_stmt_done(wr);
	free(last_text);
	return r;
}

/* What was copied is what the source holds and what the target now
 * holds, table by table, and the audit heads are the same record. */
static int
copy_compare(store *src, store *dst, struct store_copy_report *rep)
{
	int64_t ns = 0, nd = 0, seq = 0;
	uint8_t hash[32];
	size_t i;
	int r = GP_ERR_INTERNAL;

	for (i = 0; i < rep->n; i++) {
		GUARD(copy_count(src, rep->tables[i].name, &ns));
		GUARD(copy_count(dst, rep->tables[i].name, &nd));
		ENSURE(ns == rep->tables[i].rows && nd == ns, gp_err_set(
		    GP_ERR_STORE, "%s: table %s: %" PRId64 " rows copied, the "
		    "source holds %" PRId64 ", the target %" PRId64, dst->path,
		    rep->tables[i].name, rep->tables[i].rows, ns, nd));
	}
	GUARD(store_audit_head(src, &rep->head_seq, rep->head_hash));
	GUARD(store_audit_head(dst, &seq, hash));
	ENSURE(seq == rep->head_seq && memcmp(hash, rep->head_hash, 32) == 0,
	    gp_err_set(GP_ERR_STORE, "%s: the audit head copied (record %"
	    PRId64 ") is not the source's (record %" PRId64 ")", dst->path,
	    seq, rep->head_seq));
	r = 0;
out:
	return r;
}

int
store_copy(store *src, store *dst, store_copy_progress_fn fn, void *arg,
    struct store_copy_report *out)
{
	int64_t n = 0;
	size_t i;
	int r = GP_ERR_INTERNAL;

	ENSURE(src != NULL && dst != NULL && out != NULL && src != dst,
	    GP_ERR_INVALID);
	memset(out, 0, sizeof(*out));
	store_lock(src);
	store_lock(dst);
	GUARD(store_check_tx(dst, "store_copy"));
	ENSURE(src->version == dst->version, gp_err_set(GP_ERR_UNSUPPORTED,
	    "store copy: the source's schema (version %d) is not the "
	    "target's (version %d)", src->version, dst->version));
	GUARD(copy_check_source(src));
	/* Never into a store that holds anything: no merge, no overwrite.
	 * Checked under the target's write lock, so nobody fills it in
	 * between. */
	for (i = 0; i < COPY_TABLES; i++) {
		GUARD(copy_count(dst, copy_tables[i].name, &n));
		ENSURE(n == 0, gp_err_set(GP_ERR_EXISTS, "%s: table %s holds "
		    "%" PRId64 " rows: a store is copied only into an empty "
		    "database, never merged into one", dst->path,
		    copy_tables[i].name, n));
	}
	for (i = 0; i < COPY_TABLES; i++) {
		out->tables[i].name = copy_tables[i].name;
		GUARD(copy_one(src, dst, &copy_tables[i], fn, arg,
		    &out->tables[i].rows));
		out->n = i + 1;
	}
	GUARD(copy_compare(src, dst, out));
	r = 0;
out:
	store_unlock(dst);
	store_unlock(src);
	return r;
}
