/*
 * store_db.c: the backend-neutral half of the store (store/internal.h):
 * opening a store on the backend its target names, transactions and the
 * lock that makes them per thread, the statement API dispatched to the
 * backend, and the helpers every typed operation shares (paged scans,
 * reading rows and columns).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

void
store_lock(store *st)
{
	pthread_mutex_lock(&st->mu);
}

void
store_unlock(store *st)
{
	pthread_mutex_unlock(&st->mu);
}

int
store_target_is_url(const char *target)
{
	return target != NULL && (strncmp(target, "postgresql://", 13) == 0 ||
	    strncmp(target, "postgres://", 11) == 0);
}

/* A store opened read-only is used as it is: its schema must be this
 * binary's, since no step may run. */
static int
store_version_check(store *st)
{
	int v = 0;
	int r;

	if ((r = st->be->version(st, &v)) != 0)
		return r;
	if (v == 0)
		return gp_err_set(GP_ERR_NOT_FOUND, "%s: holds no govpki store",
		    st->path);
	if (v < STORE_SCHEMA_STEPS)
		return gp_err_set(GP_ERR_UNSUPPORTED, "%s: schema version %d "
		    "is older than this govpki's (%d): open it once with this "
		    "govpki (any command on the instance upgrades it), then "
		    "try again", st->path, v, STORE_SCHEMA_STEPS);
	if (v > STORE_SCHEMA_STEPS)
		return gp_err_set(GP_ERR_UNSUPPORTED, "%s: schema version %d "
		    "is newer than this govpki knows (%d); run a newer govpki",
		    st->path, v, STORE_SCHEMA_STEPS);
	st->version = v;
	return 0;
}

/* One connection: the writer (migrations run on it) or, with |reader|, a
 * query-only one opened after it. */
static int
store_connect(const struct store_open_opts *o, int reader, store **out)
{
	int r = GP_ERR_INTERNAL, rc;
	store *st = NULL;
	pthread_mutexattr_t ma;

	*out = NULL;
	ENSURE((st = calloc(1, sizeof(*st))) != NULL, GP_ERR_NOMEM);
	ENSURE((st->path = strdup(o->target)) != NULL, GP_ERR_NOMEM);
	st->be = store_target_is_url(o->target) ? &store_pg_backend :
	    &store_sqlite_backend;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	rc = pthread_mutex_init(&st->mu, &ma);
	pthread_mutexattr_destroy(&ma);
	if (rc != 0) {
		free(st->path);
		free(st);
		st = NULL;
		r = gp_err_set(GP_ERR_INTERNAL, "store: mutex: %s",
		    strerror(rc));
		goto out;
	}
	st->readonly = o->readonly;
	GUARD(st->be->connect(st, o, reader || o->readonly));
	if (o->readonly && !reader)
		GUARD(store_version_check(st));
	else if (!reader)
		GUARD(st->be->migrate(st, o->create));
	*out = st;
	st = NULL; /* transferred */
	r = 0;
out:
	store_free(st);
	return r;
}

int
store_open_with(const struct store_open_opts *o, store **out)
{
	int r = GP_ERR_INTERNAL;
	store *st = NULL;

	*out = NULL;
	ENSURE(o != NULL && o->target != NULL && o->target[0] != '\0',
	    GP_ERR_INVALID);
	GUARD(store_connect(o, 0, &st));
	GUARD(store_connect(o, 1, &st->reader));
	st->reader->version = st->version;
	*out = st;
	st = NULL; /* transferred */
	r = 0;
out:
	store_free(st);
	return r;
}

int
store_open(const char *path, int create, store **out)
{
	struct store_open_opts o;

	memset(&o, 0, sizeof(o));
	o.target = path;
	o.create = create;
	return store_open_with(&o, out);
}

void
store_free(store *st)
{
	int i;

	if (st == NULL)
		return;
	store_free(st->reader);
	for (i = 0; i < STORE_STMT_COUNT_; i++) {
		if (st->stmt[i] != NULL)
			st->be->finalize(st->stmt[i]);
	}
	/* Closing rolls back a transaction left open by mistake. */
	if (st->conn != NULL)
		st->be->close(st);
	pthread_mutex_destroy(&st->mu);
	free(st->path);
	free(st);
}

const char *
store_backend_name(store *st)
{
	return st->be->name;
}

int
store_shared(store *st)
{
	return st->be == &store_pg_backend;
}

int
store_schema_version(store *st)
{
	return st->version;
}

/* Is the calling thread inside its transaction? With st->mu held. */
static int
store_in_own_tx(store *st)
{
	return st->in_tx && pthread_equal(st->tx_owner, pthread_self());
}

int
store_begin(store *st)
{
	int r = GP_ERR_INTERNAL;

	store_lock(st);
	if (st->in_tx) {
		/* We hold the mutex, so the transaction is ours. */
		r = gp_err_set(GP_ERR_INTERNAL, "%s: store_begin() inside a "
		    "transaction", st->path);
		goto out;
	}
	GUARD(st->be->begin(st));
	st->in_tx = 1;
	st->tx_owner = pthread_self();
	r = 0;
out:
	if (r != 0)
		store_unlock(st);
	return r;
}

/* Ends this thread's transaction; releases both the lock taken here and
 * the one store_begin() took. */
static int
store_end(store *st, int commit)
{
	int r = GP_ERR_INTERNAL, owned;

	store_lock(st);
	owned = store_in_own_tx(st);
	if (!owned) {
		r = gp_err_set(GP_ERR_INTERNAL, "%s: %s outside a "
		    "transaction", st->path, commit ? "COMMIT" : "ROLLBACK");
		goto out;
	}
	r = st->be->end(st, commit);
	st->in_tx = 0;
out:
	if (owned)
		store_unlock(st);
	store_unlock(st);
	return r;
}

int
store_commit(store *st)
{
	return store_end(st, 1);
}

void
store_rollback(store *st)
{
	int owned;

	/* A no-op outside a transaction (after a failed begin or commit). */
	store_lock(st);
	owned = store_in_own_tx(st);
	store_unlock(st);
	if (owned)
		(void)store_end(st, 0);
}

int
store_in_tx(store *st)
{
	int in;

	/* Without waiting: if another thread holds the mutex, this one is
	 * not in a transaction (the mutex is recursive, so the holder's own
	 * trylock succeeds). */
	if (pthread_mutex_trylock(&st->mu) != 0)
		return 0;
	in = store_in_own_tx(st);
	store_unlock(st);
	return in;
}

store *
store_read_conn(store *st)
{
	if (st->reader != NULL && !store_in_tx(st))
		return st->reader;
	return st;
}

int
store_check_tx(store *st, const char *what)
{
	int r = 0;

	store_lock(st);
	if (!store_in_own_tx(st))
		r = gp_err_set(GP_ERR_INTERNAL, "%s: %s must run in a "
		    "transaction", st->path, what);
	store_unlock(st);
	return r;
}

/* The statement API: dispatch to the backend. */

int
store_stmt_get(store *st, enum store_stmt_id id, const char *sql,
    store_stmt **out)
{
	int r;

	*out = NULL;
	if (st->stmt[id] == NULL) {
		if ((r = st->be->prepare(st, sql, 1, &st->stmt[id])) != 0) {
			st->stmt[id] = NULL;
			return r;
		}
		st->stmt[id]->cached = 1;
	}
	*out = st->stmt[id];
	return 0;
}

int
store_stmt_new(store *st, const char *sql, store_stmt **out)
{
	*out = NULL;
	return st->be->prepare(st, sql, 0, out);
}

void
store_stmt_done(store_stmt *s)
{
	if (s == NULL)
		return;
	if (s->cached)
		s->st->be->reset(s);
	else
		s->st->be->finalize(s);
}

void
store_stmt_reset(store_stmt *s)
{
	s->st->be->reset(s);
}

void
store_bind_text(store_stmt *s, int idx, const char *t)
{
	s->st->be->bind_text(s, idx, t);
}

void
store_bind_int64(store_stmt *s, int idx, int64_t v)
{
	s->st->be->bind_int64(s, idx, v);
}

void
store_bind_blob(store_stmt *s, int idx, const void *b, size_t len)
{
	if (b == NULL)
		s->st->be->bind_null(s, idx);
	else
		s->st->be->bind_blob(s, idx, b, len);
}

void
store_bind_null(store_stmt *s, int idx)
{
	s->st->be->bind_null(s, idx);
}

int
store_step(store_stmt *s, const char *what, int *out_row)
{
	*out_row = 0;
	return s->st->be->step(s, what, out_row);
}

int
store_run(store_stmt *s, const char *what)
{
	int r, row = 0;

	while ((r = store_step(s, what, &row)) == 0 && row)
		;
	return r;
}

int
store_row(store_stmt *s, const char *what)
{
	int r, row = 0;

	if ((r = store_step(s, what, &row)) != 0)
		return r;
	return row ? 0 : GP_ERR_NOT_FOUND;
}

int
store_insert(store_stmt *s, const char *what)
{
	int r;

	if ((r = store_run(s, what)) != 0)
		return r;
	if (store_changes(s) == 0)
		return gp_err_set(GP_ERR_EXISTS, "%s: %s: exists already",
		    s->st->path, what);
	return 0;
}

int64_t
store_changes(store_stmt *s)
{
	return s->st->be->changes(s);
}

int
store_col_null(store_stmt *s, int col)
{
	return s->st->be->col_null(s, col);
}

int64_t
store_col_int64(store_stmt *s, int col)
{
	return s->st->be->col_int64(s, col);
}

int
store_col_int(store_stmt *s, int col)
{
	return (int)s->st->be->col_int64(s, col);
}

const char *
store_col_str(store_stmt *s, int col, size_t *out_len)
{
	size_t n = 0;
	const char *t = s->st->be->col_str(s, col, &n);

	if (out_len != NULL)
		*out_len = t != NULL ? n : 0;
	return t;
}

const void *
store_col_blob(store_stmt *s, int col, size_t *out_len)
{
	size_t n = 0;
	const void *b = s->st->be->col_blob(s, col, &n);

	if (b == NULL || n == 0)
		b = NULL, n = 0;
	*out_len = n;
	return b;
}

/* Helpers of the typed operations. */

int
store_rows_read(store_stmt *s, void *rows, size_t row_size, size_t limit,
    int (*read)(store_stmt *s, void *row), size_t *out_n, const char *what)
{
	size_t n = 0;
	int r, row = 0;

	while (n < limit) {
		GUARD(store_step(s, what, &row));
		if (!row)
			break;
		GUARD(read(s, (char *)rows + n * row_size));
		n++;
	}
	r = 0;
out:
	*out_n = n;
	return r;
}

int
store_col_text(store_stmt *s, int col, char **out)
{
	size_t n = 0;
	const char *t = store_col_str(s, col, &n);

	*out = NULL;
	if (t == NULL) {
		if (!store_col_null(s, col))
			return gp_err_set(GP_ERR_NOMEM, "store: column text");
		return 0;
	}
	if ((*out = malloc(n + 1)) == NULL)
		return gp_err_set(GP_ERR_NOMEM, "store: column text");
	memcpy(*out, t, n);
	(*out)[n] = '\0';
	return 0;
}

int
store_col_blob_copy(store_stmt *s, int col, uint8_t **out, size_t *out_len)
{
	size_t n = 0;
	const void *b = store_col_blob(s, col, &n);

	*out = NULL;
	*out_len = 0;
	if (b == NULL)
		return 0;
	if ((*out = malloc(n)) == NULL)
		return gp_err_set(GP_ERR_NOMEM, "store: column blob");
	memcpy(*out, b, n);
	*out_len = n;
	return 0;
}

int
store_col_hash(store_stmt *s, int col, uint8_t out[32], const char *what,
    int64_t key)
{
	size_t n = 0;
	const void *b = store_col_blob(s, col, &n);

	if (b == NULL || n != 32) {
		memset(out, 0, 32);
		return gp_err_set(GP_ERR_TAMPERED, "%s %lld: stored hash has "
		    "%zu bytes, not 32", what, (long long)key, n);
	}
	memcpy(out, b, 32);
	return 0;
}

/* Reads up to |want| rows after |after| into |rows|; *out_n says how many
 * were read even when it fails part way (a malformed row). */
static int
store_page_read(store *st, const struct store_pager *p, const char *text,
    int64_t after, int64_t want, uint8_t *rows, size_t *out_n)
{
	int r = GP_ERR_INTERNAL, row = 0;
	store_stmt *s = NULL;
	size_t n = 0;

	*out_n = 0;
	store_lock(st);
	GUARD(store_stmt_get(st, p->stmt, p->sql, &s));
	store_bind_int64(s, 1, after);
	store_bind_int64(s, 2, want);
	if (text != NULL)
		store_bind_text(s, 3, text);
	while ((int64_t)n < want) {
		GUARD(store_step(s, p->what, &row));
		if (!row)
			break;
		r = p->read(s, rows + n * p->row_size);
		if (r != 0) {
			p->clear(rows + n * p->row_size);
			goto out;
		}
		n++;
	}
	r = 0;
out:
	*out_n = n;
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_scan_pages(store *st, const struct store_pager *p, int64_t after,
    int64_t limit)
{
	return store_scan_pages_text(st, p, NULL, after, limit);
}

int
store_scan_pages_text(store *st, const struct store_pager *p,
    const char *text, int64_t after, int64_t limit)
{
	int r = GP_ERR_INTERNAL, page_r = 0;
	uint8_t *rows = NULL;
	size_t n = 0, i;
	int64_t done = 0, want;

	ENSURE(p->fn != NULL && limit >= 0, GP_ERR_INVALID);
	ENSURE((rows = calloc(STORE_PAGE_ROWS, p->row_size)) != NULL,
	    GP_ERR_NOMEM);
	for (;;) {
		want = STORE_PAGE_ROWS;
		if (limit > 0 && limit - done < want)
			want = limit - done;
		if (want <= 0)
			break;
		page_r = store_page_read(st, p, text, after, want, rows, &n);
		for (i = 0; i < n; i++) {
			if ((r = p->fn(p->arg, rows + i * p->row_size)) != 0)
				goto out;
		}
		GUARD(page_r);
		if (n == 0)
			break;
		after = p->key(rows + (n - 1) * p->row_size);
		done += (int64_t)n;
		for (i = 0; i < n; i++)
			p->clear(rows + i * p->row_size);
		if ((int64_t)n < want)
			break;
	}
	r = 0;
out:
	if (rows != NULL) {
		for (i = 0; i < STORE_PAGE_ROWS; i++)
			p->clear(rows + i * p->row_size);
	}
	free(rows);
	return r;
}

/* store_stmt_newf() with a va_list. */
static int
store_stmt_vnewf(store *st, const char *what, store_stmt **out,
    const char *sql, const char *fmt, va_list ap)
{
	store_stmt *s = NULL;
	const char *t;
	const void *b;
	size_t bl;
	int i, r = GP_ERR_INTERNAL;

	*out = NULL;
	GUARD(store_stmt_new(st, sql, &s));
	for (i = 0; fmt[i] != '\0'; i++) {
		switch (fmt[i]) {
		case 't':
			t = va_arg(ap, const char *);
			if (t != NULL && strlen(t) > STORE_BIND_MAX_TEXT) {
				r = gp_err_set(GP_ERR_TOO_LARGE, "%s: a text "
				    "field over %d bytes", what,
				    STORE_BIND_MAX_TEXT);
				goto out;
			}
			store_bind_text(s, i + 1, t);
			break;
		case 'i':
			store_bind_int64(s, i + 1, va_arg(ap, int64_t));
			break;
		case 'b':
			b = va_arg(ap, const void *);
			bl = va_arg(ap, size_t);
			if (bl > STORE_BIND_MAX_BLOB) {
				r = gp_err_set(GP_ERR_TOO_LARGE, "%s: a blob "
				    "over %d bytes", what, STORE_BIND_MAX_BLOB);
				goto out;
			}
			store_bind_blob(s, i + 1, b, bl);
			break;
		default:
			r = gp_err_set(GP_ERR_INTERNAL, "%s: bind '%c'", what,
			    fmt[i]);
			goto out;
		}
	}
	*out = s;
	s = NULL; /* transferred */
	r = 0;
out:
	store_stmt_done(s);
	return r;
}

int
store_stmt_newf(store *st, const char *what, store_stmt **out,
    const char *sql, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = store_stmt_vnewf(st, what, out, sql, fmt, ap);
	va_end(ap);
	return r;
}

int
store_insertf(store *st, const char *what, const char *sql,
    const char *fmt, ...)
{
	store_stmt *s = NULL;
	va_list ap;
	int r;

	store_lock(st);
	GUARD(store_check_tx(st, what));
	va_start(ap, fmt);
	r = store_stmt_vnewf(st, what, &s, sql, fmt, ap);
	va_end(ap);
	GUARD(r);
	GUARD(store_insert(s, what));
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}
