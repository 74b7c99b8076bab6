/*
 * store_audit.c: audit rows and checkpoints in SQLite. The store keeps rows
 * exactly as audit/ builds them and never computes or checks the chain; it
 * only pages through rows so that a scan of millions of rows uses the memory
 * of one page, and it holds the connection's mutex while reading a page but
 * never while calling back.
 */
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
store_audit_row_read(sqlite3_stmt *s, struct store_audit_row *row)
{
	int r = GP_ERR_INTERNAL;

	memset(row, 0, sizeof(*row));
	row->seq = sqlite3_column_int64(s, 0);
	row->time_ms = sqlite3_column_int64(s, 1);
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
	int r = GP_ERR_INTERNAL, rc;
	sqlite3_stmt *s = NULL;

	*out_seq = 0;
	memset(out_hash, 0, 32);
	store_lock(st);
	GUARD(store_stmt(st, STORE_STMT_AUDIT_HEAD,
	    "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &s));
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		r = 0; /* empty log */
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = store_err(st, rc, "audit head");
		goto out;
	}
	*out_seq = sqlite3_column_int64(s, 0);
	GUARD(store_col_hash(s, 1, out_hash, "audit record", *out_seq));
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_audit_insert(store *st, const struct store_audit_row *row)
{
	int r = GP_ERR_INTERNAL, rc;
	sqlite3_stmt *s = NULL;

	store_lock(st);
	GUARD(store_check_tx(st, "store_audit_insert"));
	GUARD(store_stmt(st, STORE_STMT_AUDIT_INSERT,
	    "INSERT INTO audit (" STORE_AUDIT_COLS ") VALUES "
	    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)", &s));
	if ((rc = sqlite3_bind_int64(s, 1, row->seq)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, row->time_ms)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 3, row->actor)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 4, row->role)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 5, row->op)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 6, row->object)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 7, row->outcome)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 8, row->request_id)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 9, row->client)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 10, row->details)) != SQLITE_OK ||
	    (rc = sqlite3_bind_blob(s, 11, row->prev_hash, 32,
	    SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_blob(s, 12, row->hash, 32,
	    SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_step(s)) != SQLITE_DONE) {
		r = store_err(st, rc, "audit insert");
		goto out;
	}
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_audit_get(store *st, int64_t seq, struct store_audit_row *out)
{
	int r = GP_ERR_INTERNAL, rc;
	sqlite3_stmt *s = NULL;

	memset(out, 0, sizeof(*out));
	store_lock(st);
	GUARD(store_stmt(st, STORE_STMT_AUDIT_GET,
	    "SELECT " STORE_AUDIT_COLS " FROM audit WHERE seq = ?1", &s));
	if ((rc = sqlite3_bind_int64(s, 1, seq)) != SQLITE_OK) {
		r = store_err(st, rc, "audit get");
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		r = gp_err_set(GP_ERR_NOT_FOUND, "%s: no audit record %lld",
		    st->path, (long long)seq);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = store_err(st, rc, "audit get");
		goto out;
	}
	GUARD(store_audit_row_read(s, out));
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

static int
store_audit_row_read_v(sqlite3_stmt *s, void *row)
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
	int r = GP_ERR_INTERNAL, rc;
	sqlite3_stmt *s = NULL;

	*out_count = 0;
	*out_max_seq = 0;
	store_lock(st);
	GUARD(store_stmt(st, STORE_STMT_AUDIT_COUNT,
	    "SELECT count(*), coalesce(max(seq), 0) FROM audit", &s));
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		r = store_err(st, rc, "audit count");
		goto out;
	}
	*out_count = sqlite3_column_int64(s, 0);
	*out_max_seq = sqlite3_column_int64(s, 1);
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

/* Checkpoints. */

#define STORE_CP_COLS "id, seq, time_ms, hash, sig"

void
store_checkpoint_clear(struct store_checkpoint *cp)
{
	if (cp == NULL)
		return;
	free(cp->sig);
	memset(cp, 0, sizeof(*cp));
}

static int
store_checkpoint_read(sqlite3_stmt *s, struct store_checkpoint *cp)
{
	int r = GP_ERR_INTERNAL;
	const void *b;
	int n;

	memset(cp, 0, sizeof(*cp));
	cp->id = sqlite3_column_int64(s, 0);
	cp->seq = sqlite3_column_int64(s, 1);
	cp->time_ms = sqlite3_column_int64(s, 2);
	GUARD(store_col_hash(s, 3, cp->hash, "checkpoint", cp->id));
	b = sqlite3_column_blob(s, 4);
	n = sqlite3_column_bytes(s, 4);
	if (b != NULL && n > 0) {
		ENSURE((cp->sig = malloc((size_t)n)) != NULL, GP_ERR_NOMEM);
		memcpy(cp->sig, b, (size_t)n);
		cp->sig_len = (size_t)n;
	}
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
	int r = GP_ERR_INTERNAL, rc;
	sqlite3_stmt *s = NULL;

	store_lock(st);
	GUARD(store_check_tx(st, "store_checkpoint_insert"));
	ENSURE(cp->sig != NULL && cp->sig_len > 0 && cp->sig_len < 65536,
	    GP_ERR_INVALID);
	GUARD(store_stmt(st, STORE_STMT_CP_INSERT,
	    "INSERT INTO checkpoints (" STORE_CP_COLS ") VALUES "
	    "(?1, ?2, ?3, ?4, ?5)", &s));
	rc = cp->id > 0 ? sqlite3_bind_int64(s, 1, cp->id) :
	    sqlite3_bind_null(s, 1);
	if (rc != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, cp->seq)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 3, cp->time_ms)) != SQLITE_OK ||
	    (rc = sqlite3_bind_blob(s, 4, cp->hash, 32, SQLITE_STATIC)) !=
	    SQLITE_OK ||
	    (rc = sqlite3_bind_blob(s, 5, cp->sig, (int)cp->sig_len,
	    SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_step(s)) != SQLITE_DONE) {
		r = store_err(st, rc, "checkpoint insert");
		goto out;
	}
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
	int r = GP_ERR_INTERNAL, rc;
	sqlite3_stmt *s = NULL;

	memset(out, 0, sizeof(*out));
	store_lock(st);
	GUARD(store_stmt(st, id, sql, &s));
	if (key >= 0 && (rc = sqlite3_bind_int64(s, 1, key)) != SQLITE_OK) {
		r = store_err(st, rc, "checkpoint get");
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		r = key >= 0 ?
		    gp_err_set(GP_ERR_NOT_FOUND, "%s: no checkpoint %lld",
		    st->path, (long long)key) :
		    gp_err_set(GP_ERR_NOT_FOUND, "%s: no checkpoint yet",
		    st->path);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = store_err(st, rc, "checkpoint get");
		goto out;
	}
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
	return store_checkpoint_one(st, STORE_STMT_CP_LAST,
	    "SELECT " STORE_CP_COLS " FROM checkpoints ORDER BY id DESC "
	    "LIMIT 1", -1, out);
}

static int
store_checkpoint_read_v(sqlite3_stmt *s, void *row)
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
