/*
 * store_audit.c: audit rows and checkpoints. The store keeps rows
 * exactly as audit/ builds them and never computes or checks the chain; it
 * only pages through rows so that a scan of millions of rows uses the memory
 * of one page, and it holds the connection's mutex while reading a page but
 * never while calling back. It also reads, for audit verification, the
 * records of each certificate row (store_cert_trail_scan) and the status
 * records of one certificate (store_audit_status_next), and the audit key
 * records (store_audit_key_scan).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

void
store_audit_row_clear(struct store_audit_row *row)
{
	if (row == NULL)
		return;
	free(row->actor);
	free(row->role);
	free(row->op);
	free(row->object);
	free(row->outcome);
	free(row->request_id);
	free(row->client);
	free(row->details);
	memset(row, 0, sizeof(*row));
}

int
store_audit_row_read(store_stmt *s, struct store_audit_row *row)
{
	int r = GP_ERR_INTERNAL;

	memset(row, 0, sizeof(*row));
	row->seq = store_col_int64(s, 0);
	row->time_ms = store_col_int64(s, 1);
	GUARD(store_col_text(s, 2, &row->actor));
	GUARD(store_col_text(s, 3, &row->role));
	GUARD(store_col_text(s, 4, &row->op));
	GUARD(store_col_text(s, 5, &row->object));
	GUARD(store_col_text(s, 6, &row->outcome));
	GUARD(store_col_text(s, 7, &row->request_id));
	GUARD(store_col_text(s, 8, &row->client));
	GUARD(store_col_text(s, 9, &row->details));
	GUARD(store_col_hash(s, 10, row->prev_hash, "audit record",
	    row->seq));
	GUARD(store_col_hash(s, 11, row->hash, "audit record", row->seq));
	r = 0;
out:
	if (r != 0) {
		int64_t seq = row->seq;

		store_audit_row_clear(row);
		row->seq = seq; /* still names the bad record */
	}
	return r;
}

int
store_audit_head(store *st, int64_t *out_seq, uint8_t out_hash[32])
{
	int r = GP_ERR_INTERNAL, row = 0;
	store_stmt *s = NULL;

	*out_seq = 0;
	memset(out_hash, 0, 32);
	store_lock(st);
	GUARD(store_stmt_get(st, STORE_STMT_AUDIT_HEAD,
	    "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &s));
	GUARD(store_step(s, "audit head", &row));
	if (!row) {
		r = 0; /* empty log */
		goto out;
	}
	*out_seq = store_col_int64(s, 0);
	GUARD(store_col_hash(s, 1, out_hash, "audit record", *out_seq));
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

/*
 * Appending a batch of rows. Each row is 12 parameters of one statement:
 * a batch of k rows is one multi-row "INSERT ... VALUES (...), (...)" of
 * at most STORE_AUDIT_CHUNK rows, so that it costs one round trip per
 * chunk on PostgreSQL (where each statement is one; on SQLite a statement
 * is a call in the process either way). Why not libpq's pipeline mode,
 * which would send the one-row statement k times in one round trip: it is
 * a libpq feature the statement API (internal.h) has no verb for, with
 * its own way of failing (an aborted pipeline); a multi-row INSERT is SQL
 * both backends run as it is, through the API every typed operation uses,
 * so both backends take the one path and the tests of each exercise it.
 * A chunk of k rows has a cached statement of its own (slot
 * STORE_STMT_AUDIT_INSERT + k - 1), prepared on its first use (on
 * PostgreSQL one more round trip, once per connection): at most
 * STORE_AUDIT_CHUNK statements per connection. A batch of up to
 * STORE_AUDIT_CHUNK rows is one statement; a longer one is full chunks and
 * one remainder.
 */
#define STORE_AUDIT_NCOLS 12
/* The longest text: the columns, then "?NNN, " for each parameter and
 * "(), " for each row. */
#define STORE_AUDIT_INSERT_SQL_MAX \
	(256 + STORE_AUDIT_CHUNK * (STORE_AUDIT_NCOLS * 6 + 4))

/* The text of the INSERT of |k| rows into |buf|: row j (from 0) binds
 * ?(12j + 1) to ?(12j + 12) in the column order of STORE_AUDIT_COLS. */
static int
store_audit_insert_sql(size_t k, char *buf, size_t len)
{
	size_t o = 0, i;
	int n;

	n = snprintf(buf, len, "INSERT INTO audit (" STORE_AUDIT_COLS ") "
	    "VALUES ");
	for (i = 0; n >= 0 && (o += (size_t)n) < len; i++) {
		if (i == k * STORE_AUDIT_NCOLS) {
			n = snprintf(buf + o, len - o,
			    ") ON CONFLICT DO NOTHING");
			if (n >= 0 && o + (size_t)n < len)
				return 0;
			break;
		}
		n = snprintf(buf + o, len - o, "%s?%zu", i == 0 ? "(" :
		    i % STORE_AUDIT_NCOLS == 0 ? "), (" : ", ", i + 1);
	}
	return gp_err_set(GP_ERR_INTERNAL, "audit insert: the statement of "
	    "%zu rows is over %zu bytes", k, len);
}

/* The cached INSERT of |k| rows (1 <= k <= STORE_AUDIT_CHUNK); its text
 * is built only when the statement is not prepared yet. With st->mu
 * held. */
static int
store_audit_insert_stmt(store *st, size_t k, store_stmt **out)
{
	enum store_stmt_id id =
	    (enum store_stmt_id)(STORE_STMT_AUDIT_INSERT + (int)k - 1);
	char sql[STORE_AUDIT_INSERT_SQL_MAX];
	int r;

	*out = NULL;
	sql[0] = '\0'; /* prepared already: the text is not read */
	if (st->stmt[id] == NULL &&
	    (r = store_audit_insert_sql(k, sql, sizeof(sql))) != 0)
		return r;
	return store_stmt_get(st, id, sql, out);
}

/* Row |i| (from 0) of |n|, |row|: what an error about it starts with. */
#define STORE_AUDIT_ROW_FMT "audit insert: row %zu of %zu (seq %lld)"
#define STORE_AUDIT_ROW_ARGS(i, n, row) (i) + 1, (n), (long long)(row)->seq

/* Every row of the batch, before any is inserted: the seqs gapless and in
 * order from a positive first one, each row's prev_hash the hash of the
 * row before it (the first's is the caller's to take from the head), no
 * text over STORE_BIND_MAX_TEXT. GP_ERR_INVALID or GP_ERR_TOO_LARGE
 * naming the row and the field. */
static int
store_audit_rows_check(const struct store_audit_row *rows, size_t n)
{
	static const char *const names[] = {"actor", "role", "op", "object",
	    "outcome", "request_id", "client", "details"};
	const struct store_audit_row *w;
	const char *vals[8];
	size_t i, f;

	for (i = 0; i < n; i++) {
		w = &rows[i];
		if (i == 0 && w->seq < 1)
			return gp_err_set(GP_ERR_INVALID, STORE_AUDIT_ROW_FMT
			    ": field seq: must be 1 or more",
			    STORE_AUDIT_ROW_ARGS(i, n, w));
		if (i > 0 && (rows[i - 1].seq == INT64_MAX ||
		    w->seq != rows[i - 1].seq + 1))
			return gp_err_set(GP_ERR_INVALID, STORE_AUDIT_ROW_FMT
			    ": field seq: must follow the row before's (the "
			    "rows of a batch are gapless and in order)",
			    STORE_AUDIT_ROW_ARGS(i, n, w));
		if (i > 0 && memcmp(w->prev_hash, rows[i - 1].hash,
		    sizeof(w->prev_hash)) != 0)
			return gp_err_set(GP_ERR_INVALID, STORE_AUDIT_ROW_FMT
			    ": field prev_hash: is not the hash of the row "
			    "before", STORE_AUDIT_ROW_ARGS(i, n, w));
		vals[0] = w->actor;
		vals[1] = w->role;
		vals[2] = w->op;
		vals[3] = w->object;
		vals[4] = w->outcome;
		vals[5] = w->request_id;
		vals[6] = w->client;
		vals[7] = w->details;
		for (f = 0; f < 8; f++) {
			if (vals[f] != NULL &&
			    strlen(vals[f]) > STORE_BIND_MAX_TEXT)
				return gp_err_set(GP_ERR_TOO_LARGE,
				    STORE_AUDIT_ROW_FMT ": field %s: over %d "
				    "bytes", STORE_AUDIT_ROW_ARGS(i, n, w),
				    names[f], STORE_BIND_MAX_TEXT);
		}
	}
	return 0;
}

/* Binds |row| as row |j| (from 0) of the multi-row INSERT |s|. */
static void
store_audit_bind_row(store_stmt *s, size_t j, const struct store_audit_row *row)
{
	int b = (int)(j * STORE_AUDIT_NCOLS);

	store_bind_int64(s, b + 1, row->seq);
	store_bind_int64(s, b + 2, row->time_ms);
	store_bind_text(s, b + 3, row->actor);
	store_bind_text(s, b + 4, row->role);
	store_bind_text(s, b + 5, row->op);
	store_bind_text(s, b + 6, row->object);
	store_bind_text(s, b + 7, row->outcome);
	store_bind_text(s, b + 8, row->request_id);
	store_bind_text(s, b + 9, row->client);
	store_bind_text(s, b + 10, row->details);
	store_bind_blob(s, b + 11, row->prev_hash, 32);
	store_bind_blob(s, b + 12, row->hash, 32);
}

int
store_audit_insert_many(store *st, const struct store_audit_row *rows,
    size_t n)
{
	int r = GP_ERR_INTERNAL;
	store_stmt *s = NULL;
	size_t done, k, j;

	store_lock(st);
	GUARD(store_check_tx(st, "store_audit_insert_many"));
	ENSURE(rows != NULL || n == 0, gp_err_set(GP_ERR_INVALID, "audit "
	    "insert: no rows"));
	GUARD(store_audit_rows_check(rows, n));
	for (done = 0; done < n; done += k) {
		k = n - done < STORE_AUDIT_CHUNK ? n - done : STORE_AUDIT_CHUNK;
		GUARD(store_audit_insert_stmt(st, k, &s));
		for (j = 0; j < k; j++)
			store_audit_bind_row(s, j, &rows[done + j]);
		GUARD(store_run(s, "audit insert"));
		/* ON CONFLICT DO NOTHING left out a row whose seq exists
		 * (store_insert): the statement did not fail, so the
		 * caller's transaction can still roll back cleanly. */
		if (store_changes(s) != (int64_t)k) {
			r = gp_err_set(GP_ERR_EXISTS, "%s: audit insert: a "
			    "record of seq %lld to %lld exists already",
			    st->path, (long long)rows[done].seq,
			    (long long)rows[done + k - 1].seq);
			goto out;
		}
		store_stmt_done(s);
		s = NULL;
	}
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_audit_insert(store *st, const struct store_audit_row *row)
{
	return store_audit_insert_many(st, row, 1);
}

/* Steps |s| (bound) once: the row into |out|, GP_ERR_NOT_FOUND (no
 * detail) when there is none. */
static int
store_audit_row_one(store_stmt *s, const char *what,
    struct store_audit_row *out)
{
	int r = store_row(s, what);

	if (r != 0)
		return r;
	return store_audit_row_read(s, out);
}

int
store_audit_get(store *st, int64_t seq, struct store_audit_row *out)
{
	int r = GP_ERR_INTERNAL;
	store_stmt *s = NULL;

	memset(out, 0, sizeof(*out));
	store_lock(st);
	GUARD(store_stmt_get(st, STORE_STMT_AUDIT_GET,
	    "SELECT " STORE_AUDIT_COLS " FROM audit WHERE seq = ?1", &s));
	store_bind_int64(s, 1, seq);
	r = store_audit_row_one(s, "audit get", out);
	if (r == GP_ERR_NOT_FOUND)
		r = gp_err_set(GP_ERR_NOT_FOUND, "%s: no audit record %lld",
		    st->path, (long long)seq);
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

static int
store_audit_row_read_v(store_stmt *s, void *row)
{
	return store_audit_row_read(s, row);
}

static void
store_audit_row_clear_v(void *row)
{
	store_audit_row_clear(row);
}

static int64_t
store_audit_row_key(const void *row)
{
	return ((const struct store_audit_row *)row)->seq;
}

struct store_audit_scan_arg {
	store_audit_fn fn;
	void *arg;
};

static int
store_audit_scan_row(void *arg, const void *row)
{
	const struct store_audit_scan_arg *sa = arg;

	return sa->fn(sa->arg, row);
}

int
store_audit_scan(store *st, int64_t after, int64_t limit, store_audit_fn fn,
    void *arg)
{
	struct store_audit_scan_arg sa = {fn, arg};
	struct store_pager pg = {
		STORE_STMT_AUDIT_PAGE,
		"SELECT " STORE_AUDIT_COLS " FROM audit WHERE seq > ?1 "
		"ORDER BY seq LIMIT ?2",
		"audit scan", sizeof(struct store_audit_row),
		store_audit_row_read_v, store_audit_row_clear_v,
		store_audit_row_key, store_audit_scan_row, &sa,
	};

	if (fn == NULL)
		return GP_ERR_INVALID;
	return store_scan_pages(st, &pg, after, limit);
}

int
store_audit_count(store *st, int64_t *out_count, int64_t *out_max_seq)
{
	int r = GP_ERR_INTERNAL;
	store_stmt *s = NULL;

	*out_count = 0;
	*out_max_seq = 0;
	store_lock(st);
	GUARD(store_stmt_get(st, STORE_STMT_AUDIT_COUNT,
	    "SELECT count(*), coalesce(max(seq), 0) FROM audit", &s));
	GUARD(store_row(s, "audit count"));
	*out_count = store_col_int64(s, 0);
	*out_max_seq = store_col_int64(s, 1);
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

/* Checkpoints. */

#define STORE_CP_COLS "id, seq, time_ms, hash, sig, tst"

void
store_checkpoint_clear(struct store_checkpoint *cp)
{
	if (cp == NULL)
		return;
	free(cp->sig);
	free(cp->tst);
	memset(cp, 0, sizeof(*cp));
}

/* Copies blob column |col| of checkpoint |id| into *out (NULL when empty);
 * GP_ERR_TAMPERED naming |what| when it is over |max| bytes. */
static int
store_checkpoint_blob(store_stmt *s, int col, size_t max, const char *what,
    int64_t id, uint8_t **out, size_t *out_len)
{
	size_t n = 0;
	const void *b = store_col_blob(s, col, &n);

	*out = NULL;
	*out_len = 0;
	if (b == NULL)
		return 0;
	if (n > max)
		return gp_err_set(GP_ERR_TAMPERED, "checkpoint %lld: %s of %zu "
		    "bytes, over %zu", (long long)id, what, n, max);
	return store_col_blob_copy(s, col, out, out_len);
}

static int
store_checkpoint_read(store_stmt *s, struct store_checkpoint *cp)
{
	int r = GP_ERR_INTERNAL;

	memset(cp, 0, sizeof(*cp));
	cp->id = store_col_int64(s, 0);
	cp->seq = store_col_int64(s, 1);
	cp->time_ms = store_col_int64(s, 2);
	GUARD(store_col_hash(s, 3, cp->hash, "checkpoint", cp->id));
	GUARD(store_checkpoint_blob(s, 4, STORE_CP_MAX_SIG, "signature",
	    cp->id, &cp->sig, &cp->sig_len));
	GUARD(store_checkpoint_blob(s, 5, STORE_CP_MAX_TST, "time-stamp token",
	    cp->id, &cp->tst, &cp->tst_len));
	r = 0;
out:
	if (r != 0) {
		int64_t id = cp->id, seq = cp->seq;

		store_checkpoint_clear(cp);
		cp->id = id;
		cp->seq = seq;
	}
	return r;
}

int
store_checkpoint_insert(store *st, const struct store_checkpoint *cp)
{
	int r = GP_ERR_INTERNAL;
	store_stmt *s = NULL;

	store_lock(st);
	GUARD(store_check_tx(st, "store_checkpoint_insert"));
	ENSURE(cp->sig != NULL && cp->sig_len > 0 &&
	    cp->sig_len <= STORE_CP_MAX_SIG, GP_ERR_INVALID);
	ENSURE(cp->tst == NULL || (cp->tst_len > 0 &&
	    cp->tst_len <= STORE_CP_MAX_TST), GP_ERR_INVALID);
	/* Id NULL: the next one, as SQLite's INTEGER PRIMARY KEY would
	 * pick (the write lock is held, so max + 1 is free). */
	GUARD(store_stmt_get(st, STORE_STMT_CP_INSERT,
	    "INSERT INTO checkpoints (" STORE_CP_COLS ") VALUES "
	    "(coalesce(?1, (SELECT coalesce(max(id), 0) + 1 FROM "
	    "checkpoints)), ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
	    &s));
	if (cp->id > 0)
		store_bind_int64(s, 1, cp->id);
	else
		store_bind_null(s, 1);
	store_bind_int64(s, 2, cp->seq);
	store_bind_int64(s, 3, cp->time_ms);
	store_bind_blob(s, 4, cp->hash, 32);
	store_bind_blob(s, 5, cp->sig, cp->sig_len);
	store_bind_blob(s, 6, cp->tst, cp->tst_len);
	GUARD(store_insert(s, "checkpoint insert"));
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

/* Runs the one-row checkpoint query |id|/|sql| with |key| bound to ?1
 * (unless |key| < 0). */
static int
store_checkpoint_one(store *st, enum store_stmt_id id, const char *sql,
    int64_t key, struct store_checkpoint *out)
{
	int r = GP_ERR_INTERNAL;
	store_stmt *s = NULL;

	memset(out, 0, sizeof(*out));
	store_lock(st);
	GUARD(store_stmt_get(st, id, sql, &s));
	if (key >= 0)
		store_bind_int64(s, 1, key);
	r = store_row(s, "checkpoint get");
	if (r == GP_ERR_NOT_FOUND) {
		r = key >= 0 ?
		    gp_err_set(GP_ERR_NOT_FOUND, "%s: no checkpoint %lld",
		    st->path, (long long)key) :
		    gp_err_set(GP_ERR_NOT_FOUND, "%s: no checkpoint yet",
		    st->path);
		goto out;
	}
	GUARD(r);
	GUARD(store_checkpoint_read(s, out));
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_checkpoint_get(store *st, int64_t id, struct store_checkpoint *out)
{
	if (id < 0)
		return gp_err_set(GP_ERR_NOT_FOUND, "no checkpoint %lld",
		    (long long)id);
	return store_checkpoint_one(st, STORE_STMT_CP_GET,
	    "SELECT " STORE_CP_COLS " FROM checkpoints WHERE id = ?1", id,
	    out);
}

int
store_checkpoint_last(store *st, struct store_checkpoint *out)
{
	/* Inside this thread's transaction: its own connection, which sees
	 * what the transaction wrote; outside: the reader. */
	return store_checkpoint_one(store_read_conn(st), STORE_STMT_CP_LAST,
	    "SELECT " STORE_CP_COLS " FROM checkpoints ORDER BY id DESC "
	    "LIMIT 1", -1, out);
}

static int
store_checkpoint_read_v(store_stmt *s, void *row)
{
	return store_checkpoint_read(s, row);
}

static void
store_checkpoint_clear_v(void *row)
{
	store_checkpoint_clear(row);
}

static int64_t
store_checkpoint_key(const void *row)
{
	return ((const struct store_checkpoint *)row)->id;
}

struct store_checkpoint_scan_arg {
	store_checkpoint_fn fn;
	void *arg;
};

static int
store_checkpoint_scan_row(void *arg, const void *row)
{
	const struct store_checkpoint_scan_arg *sa = arg;

	return sa->fn(sa->arg, row);
}

int
store_checkpoint_scan(store *st, store_checkpoint_fn fn, void *arg)
{
	struct store_checkpoint_scan_arg sa = {fn, arg};
	struct store_pager pg = {
		STORE_STMT_CP_PAGE,
		"SELECT " STORE_CP_COLS " FROM checkpoints WHERE id > ?1 "
		"ORDER BY id LIMIT ?2",
		"checkpoint scan", sizeof(struct store_checkpoint),
		store_checkpoint_read_v, store_checkpoint_clear_v,
		store_checkpoint_key, store_checkpoint_scan_row, &sa,
	};

	if (fn == NULL)
		return GP_ERR_INVALID;
	/* Every id, even a forged negative one. */
	return store_scan_pages(st, &pg, INT64_MIN, 0);
}

/* The audit trail of certificate rows. */

/* Copies text column |col| into |buf| of |len|: "" for NULL; a value
 * that does not fit is replaced by "?" (it then matches nothing). */
static void
store_trail_text(store_stmt *s, int col, char *buf, size_t len)
{
	size_t n = 0;
	const char *t = store_col_str(s, col, &n);

	if (t == NULL || n == 0) {
		buf[0] = '\0';
		return;
	}
	if (n >= len) {
		snprintf(buf, len, "?");
		return;
	}
	memcpy(buf, t, n);
	buf[n] = '\0';
}

static int
store_trail_read(store_stmt *s, void *row)
{
	struct store_cert_trail *t = row;
	size_t len = 0;
	const char *serial;

	memset(t, 0, sizeof(*t));
	t->id = store_col_int64(s, 0);
	serial = store_col_str(s, 1, &len);
	if (serial == NULL || len == 0 || len >= sizeof(t->serial))
		return gp_err_set(GP_ERR_TAMPERED, "certificate row %lld has a "
		    "serial of %zu bytes (the store writes 1 to %zu)",
		    (long long)t->id, len, sizeof(t->serial) - 1);
	store_trail_text(s, 1, t->serial, sizeof(t->serial));
	store_trail_text(s, 2, t->status, sizeof(t->status));
	t->issue_seq = store_col_int64(s, 3);
	t->status_seq = store_col_int64(s, 4);
	store_trail_text(s, 5, t->status_to, sizeof(t->status_to));
	t->revoked_at = store_col_int64(s, 6);
	t->reason = store_col_int(s, 7);
	t->invalidity_date = store_col_int64(s, 8);
	t->has_history = store_col_int64(s, 9) != 0;
	return 0;
}

static void
store_trail_clear(void *row)
{
	(void)row; /* fixed buffers only */
}

static int64_t
store_trail_key(const void *row)
{
	return ((const struct store_cert_trail *)row)->id;
}

struct store_trail_scan_arg {
	store_cert_trail_fn fn;
	void *arg;
};

static int
store_trail_scan_row(void *arg, const void *row)
{
	const struct store_trail_scan_arg *sa = arg;

	return sa->fn(sa->arg, row);
}

int
store_cert_trail_scan(store *st, store_cert_trail_fn fn, void *arg)
{
	struct store_trail_scan_arg sa = {fn, arg};
	/* The subqueries' WHERE terms repeat those of the partial indexes
	 * of schema step 6 word for word, so SQLite uses them; rows are
	 * paged by rowid, in the order they were stored (the PostgreSQL
	 * schema has a rowid column that numbers them alike). */
	struct store_pager pg = {
		STORE_STMT_CERT_AUDIT_PAGE,
		"SELECT c.rowid, c.serial, c.status, "
		"coalesce((SELECT min(i.seq) FROM audit i WHERE "
		"i.op = 'cert.issue' AND i.outcome = 'success' AND "
		"i.object = c.serial), 0), "
		"coalesce(t.seq, 0), "
		"CASE WHEN json_valid(t.details) THEN "
		"json_extract(t.details, '$.to') END, "
		"c.revoked_at, c.reason, c.invalidity_date, "
		"EXISTS (SELECT 1 FROM cert_status_history h WHERE "
		"h.serial = c.serial) "
		"FROM certificates c LEFT JOIN audit t ON t.seq = "
		"(SELECT max(x.seq) FROM audit x WHERE "
		"x.op IN ('cert.revoke', 'cert.hold', 'cert.release') AND "
		"x.outcome = 'success' AND x.object = c.serial) "
		"WHERE c.rowid > ?1 ORDER BY c.rowid LIMIT ?2",
		"certificate audit trail", sizeof(struct store_cert_trail),
		store_trail_read, store_trail_clear, store_trail_key,
		store_trail_scan_row, &sa,
	};

	if (st == NULL || fn == NULL)
		return GP_ERR_INVALID;
	return store_scan_pages(st, &pg, INT64_MIN, 0);
}

int
store_audit_status_next(store *st, const char *serial, int64_t after,
    struct store_audit_row *out)
{
	int r = GP_ERR_INTERNAL;
	store_stmt *s = NULL;

	memset(out, 0, sizeof(*out));
	if (st == NULL || serial == NULL)
		return gp_err_set(GP_ERR_INVALID, "status records: serial "
		    "required");
	/* Verification: read beside the writer, never behind it. */
	st = store_read_conn(st);
	store_lock(st);
	/* The WHERE terms repeat those of the partial index of schema step
	 * 6 word for word, so SQLite uses it. */
	GUARD(store_stmt_get(st, STORE_STMT_AUDIT_STATUS_NEXT,
	    "SELECT " STORE_AUDIT_COLS " FROM audit WHERE "
	    "op IN ('cert.revoke', 'cert.hold', 'cert.release') AND "
	    "outcome = 'success' AND object = ?1 AND seq > ?2 "
	    "ORDER BY seq LIMIT 1", &s));
	store_bind_text(s, 1, serial);
	store_bind_int64(s, 2, after);
	r = store_audit_row_one(s, "status records", out);
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_audit_key_scan(store *st, store_audit_fn fn, void *arg)
{
	struct store_audit_scan_arg sa = {fn, arg};
	/* "op = 'audit.key'" as in the partial index of schema step 8. */
	struct store_pager pg = {
		STORE_STMT_AUDIT_KEY_PAGE,
		"SELECT " STORE_AUDIT_COLS " FROM audit WHERE "
		"op = 'audit.key' AND seq > ?1 ORDER BY seq LIMIT ?2",
		"audit key records", sizeof(struct store_audit_row),
		store_audit_row_read_v, store_audit_row_clear_v,
		store_audit_row_key, store_audit_scan_row, &sa,
	};

	if (st == NULL || fn == NULL)
		return GP_ERR_INVALID;
	return store_scan_pages(store_read_conn(st), &pg, INT64_MIN, 0);
}
