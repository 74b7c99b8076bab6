/*
 * store_pg.c: the PostgreSQL backend (store/internal.h), through libpq, so
 * that several govpki nodes share one database.
 *
 * Statements: the typed operations' SQL, with its ?N parameters rewritten
 * to $M once when it is prepared (numbered densely, so that a built query
 * that leaves some criteria out is still valid). Cached statements are
 * named prepared statements of the connection (PQprepare once per
 * connection, PQexecPrepared after); others are sent with
 * PQsendQueryParams. Parameters go as text, blobs as binary; results come
 * back in binary, one row at a time (single-row mode), so a page of rows
 * is never held whole twice.
 *
 * The write lock: store_begin() opens a transaction and takes a
 * transaction-scoped advisory lock (pg_advisory_xact_lock) that every
 * node takes alike, so writers of all nodes serialise as the processes
 * sharing one SQLite file do; it is released by COMMIT or ROLLBACK, or by
 * the server when a node dies. In READ COMMITTED every statement after the
 * lock sees what the previous holder committed. A unique key conflict is
 * refused by the statement itself (INSERT ... ON CONFLICT DO NOTHING, see
 * store_insert), because a failed statement aborts a PostgreSQL
 * transaction; any other failure inside one makes its COMMIT fail.
 *
 * Losing the database: a statement on a broken connection fails with
 * GP_ERR_BUSY; the next one outside a transaction reconnects (at most one
 * attempt a second), re-preparing statements as they are used.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store/internal.h"

/* Type OIDs of the results (pg_type.h; stable across versions). */
#define PG_BOOL 16
#define PG_BYTEA 17
#define PG_INT8 20
#define PG_INT2 21
#define PG_INT4 23

/* The most parameters one statement has (?1 to ?PG_MAX_PARAMS): the
 * protocol's limit (a Bind message counts its parameters in 16 bits). A
 * statement's binding arrays are as long as the parameters its text uses,
 * so the multi-row audit INSERT (store_audit.c) takes hundreds while the
 * others keep a few. */
#define PG_MAX_PARAMS 65535
/* The advisory lock key of the write lock: a constant of govpki's own,
 * the same on every node and version sharing a database. */
#define PG_WRITE_LOCK "111531081181545"
/* Reconnection attempts are this far apart at least. */
#define PG_RETRY_MS 1000

struct pg_conn {
	PGconn *pg;
	int reader;
	int64_t gen;              /* bumped by each reconnection */
	int64_t retry_at_ms;      /* no reconnection attempt before */
	int tx_failed;            /* a statement of the open transaction
	                           * failed: its COMMIT must fail */
	int next_name;            /* names of prepared statements */
	struct pg_stmt *active;   /* the statement whose results are read */
};

struct pg_stmt {
	struct store_stmt base;
	char *sql;                /* with $M parameters */
	int nparams;
	int maxidx;               /* the highest ?N of the text */
	int *map;                 /* [maxidx + 1]: ?N -> $M, 0 when unused */
	char name[16];            /* cached: the prepared statement's name */
	int64_t prepared_gen;     /* the connection generation it is
	                           * prepared on; -1: not yet */
	/* [nparams] each, by $M - 1. */
	const char **vals;
	int *lens;
	int *fmts;
	char (*ints)[24];
	int bind_err;             /* a bind past the parameters */
	PGresult *res;            /* the current row's result */
	int running;              /* sent; results still to read */
	int64_t changes;
	char num[24];             /* an integer column read as text */
};

#define PGC(st) ((struct pg_conn *)(st)->conn)
#define PGS(s) ((struct pg_stmt *)(s))

static int64_t
pg_now_ms(void)
{
	return gp_mono_ms();
}

/* The error text of |res| (or of the connection) without its newline. */
static void
pg_msg(store *st, const PGresult *res, char *buf, size_t len)
{
	const char *m = res != NULL ? PQresultErrorMessage(res) : NULL;
	size_t n;

	if (m == NULL || m[0] == '\0')
		m = PGC(st)->pg != NULL ? PQerrorMessage(PGC(st)->pg) :
		    "no connection";
	snprintf(buf, len, "%s", m);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	for (n = 0; buf[n] != '\0'; n++) {
		if (buf[n] == '\n')
			buf[n] = ' ';
	}
}

/* Maps a failed result (or connection) to a GP_ERR_* code with the
 * detail "<url>: <what>: <message>". */
static int
pg_err(store *st, const PGresult *res, const char *what)
{
	const char *state = res != NULL ?
	    PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char msg[512];

	pg_msg(st, res, msg, sizeof(msg));
	/* Logging in is configuration, not availability. */
	if (res == NULL && PGC(st)->pg != NULL &&
	    PQstatus(PGC(st)->pg) != CONNECTION_OK &&
	    (PQconnectionNeedsPassword(PGC(st)->pg) ||
	    (PQconnectionUsedPassword(PGC(st)->pg) &&
	    strstr(msg, "authentication failed") != NULL)))
		return gp_err_set(GP_ERR_CONFIG, "%s: %s: the database refused "
		    "the login (the password comes from store.password_file "
		    "or store.password_env): %s", st->path, what, msg);
	/* A failed result without a SQLSTATE is libpq's own: the server sent
	 * no answer (it closed the connection, or went away mid-statement;
	 * the connection's status may not say so until the next call). */
	if (PGC(st)->pg == NULL || PQstatus(PGC(st)->pg) != CONNECTION_OK ||
	    (res != NULL && state == NULL) ||
	    (state != NULL && (strncmp(state, "08", 2) == 0 ||
	    strncmp(state, "57P", 3) == 0)))
		return gp_err_set(GP_ERR_BUSY, "%s: %s: the database is "
		    "unreachable: %s", st->path, what, msg);
	if (state != NULL && (strcmp(state, "55P03") == 0 ||
	    strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0))
		return gp_err_set(GP_ERR_BUSY, "%s: %s: %s (another node "
		    "holds the database)", st->path, what, msg);
	if (state != NULL && strcmp(state, "23505") == 0)
		return gp_err_set(GP_ERR_EXISTS, "%s: %s: %s", st->path, what,
		    msg);
	return gp_err_set(GP_ERR_STORE, "%s: %s: %s", st->path, what, msg);
}

/* Runs |sql| (no parameters, no rows wanted). */
static int
pg_exec(store *st, const char *sql, const char *what)
{
	PGresult *res = PQexec(PGC(st)->pg, sql);
	int r = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		r = pg_err(st, res, what);
	PQclear(res);
	return r;
}

static void
pg_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message; /* NOTICEs of migrations ("... skipping") */
}

/* What every connection sets once made (again after a reconnection). */
static int
pg_session(store *st)
{
	char sql[64];

	PQsetNoticeProcessor(PGC(st)->pg, pg_notice, NULL);
	if (PGC(st)->reader)
		return pg_exec(st, "SET default_transaction_read_only = on",
		    "read-only session");
	snprintf(sql, sizeof(sql), "SET lock_timeout = %d",
	    STORE_BUSY_TIMEOUT_MS);
	return pg_exec(st, sql, "lock timeout");
}

/* The results still pending on the connection are read and dropped. */
static void
pg_drain(struct pg_stmt *ps)
{
	struct pg_conn *c = PGC(ps->base.st);
	PGresult *res;

	PQclear(ps->res);
	ps->res = NULL;
	if (ps->running) {
		while ((res = PQgetResult(c->pg)) != NULL)
			PQclear(res);
		ps->running = 0;
	}
	if (c->active == ps)
		c->active = NULL;
}

/* Outside a transaction: a broken connection is made again (at most once
 * per PG_RETRY_MS); GP_ERR_BUSY while the database cannot be reached. */
static int
pg_usable(store *st, const char *what)
{
	struct pg_conn *c = PGC(st);
	int64_t now;

	if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK)
		return 0;
	if (st->in_tx)
		return pg_err(st, NULL, what);
	now = pg_now_ms();
	if (now < c->retry_at_ms)
		return gp_err_set(GP_ERR_BUSY, "%s: %s: the database is "
		    "unreachable (reconnecting)", st->path, what);
	if (c->active != NULL)
		pg_drain(c->active);
	PQreset(c->pg);
	c->gen++;
	c->tx_failed = 0;
	if (PQstatus(c->pg) != CONNECTION_OK) {
		c->retry_at_ms = now + PG_RETRY_MS;
		return pg_err(st, NULL, what);
	}
	gp_log(GP_LOG_INFO, "store: reconnected to %s", st->path);
	return pg_session(st);
}

/* ?N -> $M: the numbers used, in ascending order, become 1, 2, ...
 * Quoted strings and identifiers are copied as they are. Three passes
 * over the text: the highest number (the size of ps->map), the numbers
 * used, the rewritten text. */
static int
pg_rewrite(const char *sql, struct pg_stmt *ps)
{
	int pass, i, m;
	size_t len = strlen(sql), o = 0;
	const char *p;
	char q;

	/* Room: "?N" becomes "$M" with M <= N: never longer. */
	if ((ps->sql = malloc(len + 1)) == NULL)
		return gp_err_set(GP_ERR_NOMEM, "store: prepare");
	for (pass = 0; pass < 3; pass++) {
		for (p = sql; *p != '\0'; p++) {
			if (*p == '\'' || *p == '"') {
				q = *p;
				if (pass == 2)
					ps->sql[o++] = *p;
				for (p++; *p != '\0' && *p != q; p++) {
					if (pass == 2)
						ps->sql[o++] = *p;
				}
				if (*p == '\0')
					break;
				if (pass == 2)
					ps->sql[o++] = *p;
				continue;
			}
			if (*p != '?') {
				if (pass == 2)
					ps->sql[o++] = *p;
				continue;
			}
			for (i = 0; p[1] >= '0' && p[1] <= '9' && i <= PG_MAX_PARAMS;
			    p++)
				i = i * 10 + (p[1] - '0');
			if (i < 1 || i > PG_MAX_PARAMS)
				return gp_err_set(GP_ERR_INTERNAL, "store: a "
				    "parameter other than ?1 to ?%d in: %.80s",
				    PG_MAX_PARAMS, sql);
			if (pass == 0 && i > ps->maxidx)
				ps->maxidx = i;
			else if (pass == 1)
				ps->map[i] = 1;
			else if (pass == 2)
				o += (size_t)sprintf(ps->sql + o, "$%d",
				    ps->map[i]);
		}
		if (pass == 0 && (ps->map = calloc((size_t)ps->maxidx + 1,
		    sizeof(*ps->map))) == NULL)
			return gp_err_set(GP_ERR_NOMEM, "store: prepare");
		if (pass == 1) {
			for (i = 1, m = 0; i <= ps->maxidx; i++)
				ps->map[i] = ps->map[i] ? ++m : 0;
			ps->nparams = m;
		}
	}
	ps->sql[o] = '\0';
	/* At least one slot each, so that a statement without parameters
	 * still has arrays to hand to libpq. */
	m = ps->nparams > 0 ? ps->nparams : 1;
	if ((ps->vals = calloc((size_t)m, sizeof(*ps->vals))) == NULL ||
	    (ps->lens = calloc((size_t)m, sizeof(*ps->lens))) == NULL ||
	    (ps->fmts = calloc((size_t)m, sizeof(*ps->fmts))) == NULL ||
	    (ps->ints = calloc((size_t)m, sizeof(*ps->ints))) == NULL)
		return gp_err_set(GP_ERR_NOMEM, "store: prepare");
	return 0;
}

/* Frees |ps| and what it holds (not its result: pg_drain). */
static void
pg_stmt_free(struct pg_stmt *ps)
{
	free(ps->sql);
	free(ps->map);
	free(ps->vals);
	free(ps->lens);
	free(ps->fmts);
	free(ps->ints);
	free(ps);
}

static void pg_clear_binds(struct pg_stmt *ps);

static int
pg_prepare(store *st, const char *sql, int cached, store_stmt **out)
{
	struct pg_stmt *ps;
	int r;

	*out = NULL;
	if ((ps = calloc(1, sizeof(*ps))) == NULL)
		return gp_err_set(GP_ERR_NOMEM, "%s: prepare", st->path);
	ps->base.st = st;
	ps->prepared_gen = -1;
	if ((r = pg_rewrite(sql, ps)) != 0) {
		pg_stmt_free(ps);
		return r;
	}
	if (cached)
		snprintf(ps->name, sizeof(ps->name), "g%d",
		    ++PGC(st)->next_name);
	pg_clear_binds(ps);
	*out = &ps->base;
	return 0;
}

static void
pg_clear_binds(struct pg_stmt *ps)
{
	int i;

	for (i = 0; i < ps->nparams; i++) {
		ps->vals[i] = NULL;
		ps->lens[i] = 0;
		ps->fmts[i] = 0;
	}
	ps->bind_err = 0;
}

static void
pg_finalize(store_stmt *s)
{
	struct pg_stmt *ps = PGS(s);

	pg_drain(ps);
	/* A named statement dies with its connection; one that outlives
	 * the store object would only be a name on a closed session. */
	pg_stmt_free(ps);
}

static void
pg_reset(store_stmt *s)
{
	pg_drain(PGS(s));
	pg_clear_binds(PGS(s));
}

/* The slot of ?|idx|, or -1 (unused by the text: ignored; out of range:
 * an error for the next step). */
static int
pg_slot(struct pg_stmt *ps, int idx)
{
	if (idx < 1 || idx > PG_MAX_PARAMS) {
		ps->bind_err = 1;
		return -1;
	}
	if (idx > ps->maxidx)
		return -1;
	return ps->map[idx] - 1;
}

static void
pg_bind_text(store_stmt *s, int idx, const char *t)
{
	struct pg_stmt *ps = PGS(s);
	int k = pg_slot(ps, idx);

	if (k < 0)
		return;
	ps->vals[k] = t;
	ps->lens[k] = 0;
	ps->fmts[k] = 0;
}

static void
pg_bind_int64(store_stmt *s, int idx, int64_t v)
{
	struct pg_stmt *ps = PGS(s);
	int k = pg_slot(ps, idx);

	if (k < 0)
		return;
	snprintf(ps->ints[k], sizeof(ps->ints[k]), "%" PRId64, v);
	ps->vals[k] = ps->ints[k];
	ps->lens[k] = 0;
	ps->fmts[k] = 0;
}

static void
pg_bind_blob(store_stmt *s, int idx, const void *b, size_t len)
{
	struct pg_stmt *ps = PGS(s);
	int k = pg_slot(ps, idx);

	if (k < 0)
		return;
	if (len > INT32_MAX) {
		ps->bind_err = 1;
		return;
	}
	/* An empty blob is bound as an empty value, not NULL. */
	ps->vals[k] = len > 0 ? b : "";
	ps->lens[k] = (int)len;
	ps->fmts[k] = 1;
}

static void
pg_bind_null(store_stmt *s, int idx)
{
	pg_bind_text(s, idx, NULL);
}

/* Sends |ps| with its parameters, in single-row mode. */
static int
pg_send(struct pg_stmt *ps, const char *what)
{
	store *st = ps->base.st;
	struct pg_conn *c = PGC(st);
	PGresult *res;
	int r = GP_ERR_INTERNAL, ok;

	ENSURE(!ps->bind_err, gp_err_set(GP_ERR_INTERNAL, "%s: %s: a "
	    "parameter out of range", st->path, what));
	if (c->active != NULL)
		pg_drain(c->active); /* one result set at a time */
	GUARD(pg_usable(st, what));
	if (ps->name[0] != '\0' && ps->prepared_gen != c->gen) {
		res = PQprepare(c->pg, ps->name, ps->sql, ps->nparams, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			r = pg_err(st, res, what);
			PQclear(res);
			goto out;
		}
		PQclear(res);
		ps->prepared_gen = c->gen;
	}
	if (ps->name[0] != '\0')
		ok = PQsendQueryPrepared(c->pg, ps->name, ps->nparams,
		    ps->vals, ps->lens, ps->fmts, 1);
	else
		ok = PQsendQueryParams(c->pg, ps->sql, ps->nparams, NULL,
		    ps->vals, ps->lens, ps->fmts, 1);
	if (!ok) {
		r = pg_err(st, NULL, what);
		goto out;
	}
	PQsetSingleRowMode(c->pg);
	ps->running = 1;
	c->active = ps;
	r = 0;
out:
	return r;
}

static int
pg_step(store_stmt *s, const char *what, int *out_row)
{
	struct pg_stmt *ps = PGS(s);
	store *st = s->st;
	struct pg_conn *c = PGC(st);
	int r = GP_ERR_INTERNAL;
	const char *n;

	*out_row = 0;
	if (!ps->running) {
		if (ps->res != NULL) {
			/* Stepped past the end: done, as SQLite says. */
			r = 0;
			goto out;
		}
		GUARD(pg_send(ps, what));
	}
	PQclear(ps->res);
	ps->res = PQgetResult(c->pg);
	switch (PQresultStatus(ps->res)) {
	case PGRES_SINGLE_TUPLE:
		*out_row = 1;
		r = 0;
		break;
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		n = PQcmdTuples(ps->res);
		ps->changes = n != NULL && n[0] != '\0' ? strtoll(n, NULL, 10) :
		    0;
		r = 0;
		break;
	default:
		r = pg_err(st, ps->res, what);
		if (st->in_tx)
			c->tx_failed = 1;
		break;
	}
	if (!*out_row) {
		/* The end of this statement: read what is left, keep the
		 * last result (it marks the statement done). */
		PGresult *last = ps->res, *more;

		ps->res = NULL;
		while ((more = PQgetResult(c->pg)) != NULL)
			PQclear(more);
		ps->running = 0;
		if (c->active == ps)
			c->active = NULL;
		ps->res = last != NULL ? last : PQmakeEmptyPGresult(c->pg,
		    PGRES_COMMAND_OK);
	}
out:
	return r;
}

static int
pg_col_null(store_stmt *s, int col)
{
	struct pg_stmt *ps = PGS(s);

	return ps->res == NULL || col >= PQnfields(ps->res) ||
	    PQntuples(ps->res) < 1 || PQgetisnull(ps->res, 0, col);
}

static int64_t
pg_col_int64(store_stmt *s, int col)
{
	struct pg_stmt *ps = PGS(s);
	const unsigned char *v;
	int len;
	uint64_t u = 0;
	int i;

	if (pg_col_null(s, col))
		return 0;
	v = (const unsigned char *)PQgetvalue(ps->res, 0, col);
	len = PQgetlength(ps->res, 0, col);
	switch (PQftype(ps->res, col)) {
	case PG_INT8:
	case PG_INT4:
	case PG_INT2:
		if (len != 8 && len != 4 && len != 2)
			return 0;
		for (i = 0; i < len; i++)
			u = (u << 8) | v[i];
		if (len == 4)
			return (int32_t)(uint32_t)u;
		if (len == 2)
			return (int16_t)(uint16_t)u;
		return (int64_t)u;
	case PG_BOOL:
		return len == 1 && v[0] != 0;
	default:
		return strtoll((const char *)v, NULL, 10);
	}
}

static const char *
pg_col_str(store_stmt *s, int col, size_t *out_len)
{
	struct pg_stmt *ps = PGS(s);
	int type;

	*out_len = 0;
	if (pg_col_null(s, col))
		return NULL;
	type = (int)PQftype(ps->res, col);
	if (type == PG_INT8 || type == PG_INT4 || type == PG_INT2 ||
	    type == PG_BOOL) {
		snprintf(ps->num, sizeof(ps->num), "%" PRId64,
		    pg_col_int64(s, col));
		*out_len = strlen(ps->num);
		return ps->num;
	}
	/* libpq ends every value with a NUL byte. */
	*out_len = (size_t)PQgetlength(ps->res, 0, col);
	return PQgetvalue(ps->res, 0, col);
}

static const void *
pg_col_blob(store_stmt *s, int col, size_t *out_len)
{
	return pg_col_str(s, col, out_len);
}

static int64_t
pg_changes(store_stmt *s)
{
	return PGS(s)->changes;
}

static int
pg_begin(store *st)
{
	struct pg_conn *c = PGC(st);
	int r;

	if (c->active != NULL)
		pg_drain(c->active);
	if ((r = pg_usable(st, "begin")) != 0)
		return r;
	c->tx_failed = 0;
	/* Read-only: a snapshot, no write lock. */
	if (st->readonly)
		return pg_exec(st, "BEGIN ISOLATION LEVEL REPEATABLE READ",
		    "begin (snapshot)");
	/* Every node's writer takes this lock: SQLite's BEGIN IMMEDIATE
	 * across machines. lock_timeout bounds the wait. One round trip. */
	if ((r = pg_exec(st, "BEGIN; SELECT pg_advisory_xact_lock("
	    PG_WRITE_LOCK ")", "begin (write lock)")) != 0) {
		if (PQstatus(c->pg) == CONNECTION_OK &&
		    PQtransactionStatus(c->pg) != PQTRANS_IDLE)
			(void)pg_exec(st, "ROLLBACK", "rollback");
		return r;
	}
	return 0;
}

static int
pg_end(store *st, int commit)
{
	struct pg_conn *c = PGC(st);
	PGresult *res;
	int r = 0;

	if (c->active != NULL)
		pg_drain(c->active);
	if (!commit || c->tx_failed) {
		(void)pg_exec(st, "ROLLBACK", "rollback");
		if (commit)
			r = gp_err_set(GP_ERR_STORE, "%s: commit: a statement "
			    "of the transaction failed; it was rolled back",
			    st->path);
		c->tx_failed = 0;
		return r;
	}
	res = PQexec(c->pg, "COMMIT");
	/* COMMIT of a transaction the server aborted answers ROLLBACK. */
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		r = pg_err(st, res, "commit");
	else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
		r = gp_err_set(GP_ERR_STORE, "%s: commit: the database rolled "
		    "the transaction back", st->path);
	PQclear(res);
	if (r != 0 && PQstatus(c->pg) == CONNECTION_OK &&
	    PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		(void)pg_exec(st, "ROLLBACK", "rollback");
	return r;
}

/* Refuses a URL that carries a password: it would end up in the
 * configuration file, in error messages and in `ps` output of tools. */
static int
pg_url_check(const char *url)
{
	PQconninfoOption *opts, *o;
	char *err = NULL;
	int r = 0;

	if ((opts = PQconninfoParse(url, &err)) == NULL) {
		r = gp_err_set(GP_ERR_INVALID, "store.url: not a PostgreSQL "
		    "URL: %s", err != NULL ? err : "out of memory");
		PQfreemem(err);
		return r;
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL &&
		    o->val[0] != '\0')
			r = gp_err_set(GP_ERR_INVALID, "store.url: it holds a "
			    "password; remove it and give the password in "
			    "store.password_file or the environment variable "
			    "store.password_env names");
	}
	PQconninfoFree(opts);
	return r;
}

static int
pg_connect(store *st, const struct store_open_opts *o, int reader)
{
	/* Defaults first: the URL overrides them, the password and the
	 * application name come last. Keepalives and the user timeout end
	 * a connection to a machine that vanished instead of hanging. */
	const char *kw[12], *val[12];
	struct pg_conn *c;
	int n = 0, r = GP_ERR_INTERNAL;

	GUARD(pg_url_check(o->target));
	ENSURE((c = calloc(1, sizeof(*c))) != NULL, GP_ERR_NOMEM);
	st->conn = c;
	c->reader = reader;
	kw[n] = "connect_timeout", val[n++] = "5";
	kw[n] = "keepalives", val[n++] = "1";
	kw[n] = "keepalives_idle", val[n++] = "10";
	kw[n] = "keepalives_interval", val[n++] = "3";
	kw[n] = "keepalives_count", val[n++] = "3";
	kw[n] = "tcp_user_timeout", val[n++] = "20000";
	kw[n] = "dbname", val[n++] = o->target;
	if (o->password != NULL)
		kw[n] = "password", val[n++] = o->password;
	kw[n] = "application_name", val[n++] = o->app_name != NULL ?
	    o->app_name : "govpki";
	kw[n] = NULL, val[n] = NULL;
	c->pg = PQconnectdbParams(kw, val, 1);
	ENSURE(c->pg != NULL, GP_ERR_NOMEM);
	if (PQstatus(c->pg) != CONNECTION_OK) {
		r = pg_err(st, NULL, "connect");
		goto out;
	}
	GUARD(pg_session(st));
	r = 0;
out:
	return r;
}

static void
pg_close(store *st)
{
	struct pg_conn *c = PGC(st);

	if (c == NULL)
		return;
	PQfinish(c->pg);
	free(c);
	st->conn = NULL;
}

/* The schema, one step per version, each doing what the step of the same
 * number does in store_sqlite.c (see there for why), in PostgreSQL's
 * words: BIGINT for SQLite's INTEGER, BYTEA for BLOB, identity columns
 * for INTEGER PRIMARY KEYs the store does not choose, text compared as
 * bytes (COLLATE "C", as SQLite does, so that keyset paging orders alike),
 * triggers that raise an exception for the append-only tables, and
 * json_valid()/json_extract() for the SQL the typed operations share.
 * Never edit a step that has shipped; append one (to both lists). */
#define T "TEXT COLLATE \"C\""
#define ID "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
#define APPEND_ONLY(table, msg)                                          \
	"CREATE TRIGGER " table "_no_update BEFORE UPDATE OR DELETE ON "  \
	table " FOR EACH ROW EXECUTE FUNCTION govpki_append_only('" msg  \
	"');"                                                             \
	"CREATE TRIGGER " table "_no_truncate BEFORE TRUNCATE ON " table  \
	" FOR EACH STATEMENT EXECUTE FUNCTION govpki_append_only('" msg  \
	"');"

static const char *const pg_migrations[] = {
	/* 1: the tables, and the JSON functions SQLite has built in. */
	"CREATE FUNCTION json_valid(t TEXT) RETURNS BOOLEAN LANGUAGE plpgsql"
	"  IMMUTABLE AS $$ BEGIN"
	"  IF t IS NULL THEN RETURN NULL; END IF;"
	"  PERFORM t::json; RETURN TRUE;"
	"  EXCEPTION WHEN others THEN RETURN FALSE; END $$;"
	"CREATE FUNCTION json_extract(t TEXT, path TEXT) RETURNS TEXT"
	"  LANGUAGE sql IMMUTABLE AS $$ SELECT t::json #>>"
	"  string_to_array(substr(path, 3), '.') $$;"
	"CREATE TABLE meta ("
	"  key " T " PRIMARY KEY,"
	"  value " T " NOT NULL);"
	"CREATE TABLE audit ("
	"  seq BIGINT PRIMARY KEY,"
	"  time_ms BIGINT NOT NULL,"
	"  actor " T ", role " T ", op " T ", object " T ", outcome " T ","
	"  request_id " T ", client " T ", details " T ","
	"  prev_hash BYTEA NOT NULL,"
	"  hash BYTEA NOT NULL);"
	"CREATE TABLE checkpoints ("
	"  id BIGINT PRIMARY KEY,"
	"  seq BIGINT NOT NULL,"
	"  time_ms BIGINT NOT NULL,"
	"  hash BYTEA NOT NULL,"
	"  sig BYTEA NOT NULL);"
	"CREATE TABLE certificates ("
	"  rowid BIGINT GENERATED BY DEFAULT AS IDENTITY UNIQUE,"
	"  serial " T " PRIMARY KEY,"
	"  issuer " T " NOT NULL,"
	"  profile " T " NOT NULL,"
	"  subject " T " NOT NULL,"
	"  role " T ", uscc " T ", id_number " T ","
	"  not_before BIGINT NOT NULL,"
	"  not_after BIGINT NOT NULL,"
	"  status " T " NOT NULL"
	"    CHECK (status IN ('good', 'hold', 'revoked')),"
	"  revoked_at BIGINT NOT NULL DEFAULT 0,"
	"  invalidity_date BIGINT NOT NULL DEFAULT 0,"
	"  reason BIGINT NOT NULL DEFAULT -1,"
	"  created_ms BIGINT NOT NULL,"
	"  der BYTEA NOT NULL);"
	"CREATE INDEX certificates_uscc ON certificates(uscc);"
	"CREATE INDEX certificates_id_number ON certificates(id_number);"
	"CREATE INDEX certificates_status ON certificates(status);"
	"CREATE INDEX certificates_profile ON certificates(profile);",

	/* 2: audit rows and checkpoints are append-only. */
	"CREATE FUNCTION govpki_append_only() RETURNS trigger LANGUAGE"
	"  plpgsql AS $$ BEGIN RAISE EXCEPTION '%', TG_ARGV[0]"
	"  USING ERRCODE = 'restrict_violation'; END $$;"
	APPEND_ONLY("audit", "audit records are append-only")
	APPEND_ONLY("checkpoints", "checkpoints are append-only"),

	/* 3: issuance requests waiting for a second officer. */
	"CREATE TABLE requests ("
	"  id " T " PRIMARY KEY,"
	"  profile " T " NOT NULL,"
	"  requester " T " NOT NULL,"
	"  requester_actor " T " NOT NULL,"
	"  body " T " NOT NULL,"
	"  status " T " NOT NULL CONSTRAINT requests_status_check"
	"    CHECK (status IN ('pending', 'approved', 'failed')),"
	"  created_ms BIGINT NOT NULL,"
	"  approver " T ","
	"  decided_ms BIGINT NOT NULL DEFAULT 0,"
	"  serial " T ");"
	"CREATE INDEX requests_status ON requests(status);",

	/* 4: the status generation of each certificate's last change. */
	"ALTER TABLE certificates ADD COLUMN status_gen BIGINT NOT NULL"
	"  DEFAULT 0;"
	"CREATE INDEX certificates_status_gen ON certificates(status_gen)"
	"  WHERE status_gen > 0;",

	/* 5: requests can be refused and name persons. */
	"ALTER TABLE requests DROP CONSTRAINT requests_status_check;"
	"ALTER TABLE requests ADD CONSTRAINT requests_status_check"
	"  CHECK (status IN ('pending', 'approved', 'refused', 'failed'));"
	"ALTER TABLE requests ADD COLUMN requester_idn " T ";"
	"ALTER TABLE requests ADD COLUMN approver_actor " T ";"
	"ALTER TABLE requests ADD COLUMN reason " T ";"
	"CREATE INDEX requests_created ON requests(created_ms, id);",

	/* 6: checkpoint time-stamps; the records of issuance and status
	 * changes indexed by serial. */
	"ALTER TABLE checkpoints ADD COLUMN tst BYTEA;"
	"CREATE INDEX audit_cert_issue ON audit(object)"
	"  WHERE op = 'cert.issue' AND outcome = 'success';"
	"CREATE INDEX audit_cert_status ON audit(object, seq)"
	"  WHERE op IN ('cert.revoke', 'cert.hold', 'cert.release')"
	"  AND outcome = 'success';",

	/* 7: the append-only status history of every certificate. */
	"CREATE TABLE cert_status_history ("
	"  id " ID ","
	"  serial " T " NOT NULL REFERENCES certificates(serial),"
	"  change " T " NOT NULL"
	"    CHECK (change IN ('hold', 'release', 'revoke')),"
	"  time BIGINT NOT NULL CHECK (time > 0),"
	"  reason BIGINT NOT NULL DEFAULT -1,"
	"  invalidity_date BIGINT NOT NULL DEFAULT 0,"
	"  actor " T ","
	"  created_ms BIGINT NOT NULL);"
	"CREATE INDEX cert_status_history_serial"
	"  ON cert_status_history(serial, id);"
	APPEND_ONLY("cert_status_history",
	    "the certificate status history is append-only")
	"INSERT INTO cert_status_history (serial, change, time, reason,"
	"  invalidity_date, actor, created_ms)"
	"  SELECT serial, CASE status WHEN 'hold' THEN 'hold'"
	"    ELSE 'revoke' END, GREATEST(revoked_at, 1), reason,"
	"    invalidity_date, 'schema upgrade (state at the upgrade)',"
	"    CAST(extract(epoch FROM now()) AS BIGINT) * 1000"
	"  FROM certificates WHERE status IN ('hold', 'revoked')"
	"  ORDER BY status_gen, serial;",

	/* 8: the audit key records indexed. */
	"CREATE INDEX audit_key_records ON audit(seq)"
	"  WHERE op = 'audit.key';",

	/* 9: sealed-bid tendering, append-only. */
	"CREATE TABLE tenders ("
	"  id " T " PRIMARY KEY,"
	"  title " T " NOT NULL,"
	"  mode " T " NOT NULL CHECK (mode IN ('platform', 'bidder')),"
	"  deadline_ms BIGINT NOT NULL,"
	"  opening_ms BIGINT NOT NULL CHECK (opening_ms >= deadline_ms),"
	"  window_s BIGINT NOT NULL DEFAULT 0,"
	"  spec " T " NOT NULL,"
	"  opening_serial " T " REFERENCES certificates(serial),"
	"  opening_key " T ","
	"  created_ms BIGINT NOT NULL,"
	"  created_by " T " NOT NULL,"
	"  creator " T " NOT NULL);"
	"CREATE INDEX tenders_created ON tenders(created_ms, id);"
	"CREATE TABLE tender_events ("
	"  id " ID ","
	"  tender_id " T " NOT NULL REFERENCES tenders(id),"
	"  event " T " NOT NULL CHECK (event IN ('open_request',"
	"    'open_approve', 'opened', 'window_open', 'window_close')),"
	"  time_ms BIGINT NOT NULL,"
	"  actor " T ", person " T ", person_idn " T ", details " T ","
	"  created_ms BIGINT NOT NULL,"
	"  UNIQUE (tender_id, event));"
	"CREATE TABLE bids ("
	"  seq " ID ","
	"  id " T " UNIQUE NOT NULL,"
	"  tender_id " T " NOT NULL REFERENCES tenders(id),"
	"  uscc " T " NOT NULL,"
	"  bidder " T " NOT NULL,"
	"  subject " T " NOT NULL,"
	"  signer_serial " T " NOT NULL,"
	"  sha256 " T " NOT NULL,"
	"  size BIGINT NOT NULL,"
	"  arrival_ms BIGINT NOT NULL,"
	"  signing_time BIGINT NOT NULL,"
	"  path " T " NOT NULL,"
	"  recipients " T ","
	"  tst BYTEA NOT NULL,"
	"  receipt BYTEA NOT NULL,"
	"  created_ms BIGINT NOT NULL,"
	"  UNIQUE (tender_id, sha256));"
	"CREATE INDEX bids_tender_uscc ON bids(tender_id, uscc, seq);"
	"CREATE TABLE bid_events ("
	"  id " ID ","
	"  bid_id " T " NOT NULL REFERENCES bids(id),"
	"  tender_id " T " NOT NULL REFERENCES tenders(id),"
	"  event " T " NOT NULL CHECK (event IN ('superseded', 'withdrawn',"
	"    'released', 'outcome')),"
	"  time_ms BIGINT NOT NULL,"
	"  by_bid " T ","
	"  outcome " T " CHECK (outcome IS NULL OR outcome IN ('opened',"
	"    'revoked', 'withdrawn')),"
	"  reason " T ", details " T ", data BYTEA,"
	"  created_ms BIGINT NOT NULL,"
	"  UNIQUE (bid_id, event));"
	"CREATE INDEX bid_events_tender ON bid_events(tender_id, id);"
	"CREATE TABLE tender_records ("
	"  id " ID ","
	"  tender_id " T " NOT NULL REFERENCES tenders(id),"
	"  version BIGINT NOT NULL CHECK (version >= 1),"
	"  der BYTEA NOT NULL,"
	"  signer " T ", uscc " T ","
	"  created_ms BIGINT NOT NULL,"
	"  UNIQUE (tender_id, version));"
	APPEND_ONLY("tenders", "tenders are append-only")
	APPEND_ONLY("tender_events", "tender events are append-only")
	APPEND_ONLY("bids", "bids are append-only")
	APPEND_ONLY("bid_events", "bid events are append-only")
	APPEND_ONLY("tender_records", "opening records are append-only"),

	/* 10: USB keys for life: certificate pairs, escrowed keys
	 * (append-only), one-time enrolment codes, judicial recoveries. */
	"CREATE TABLE cert_pairs ("
	"  signing " T " PRIMARY KEY REFERENCES certificates(serial),"
	"  encryption " T " NOT NULL UNIQUE REFERENCES certificates(serial),"
	"  profile " T " NOT NULL,"
	"  subject " T " NOT NULL,"
	"  holder " T " NOT NULL,"
	"  created_ms BIGINT NOT NULL);"
	"CREATE INDEX cert_pairs_holder ON cert_pairs(holder);"
	"CREATE TABLE kmc_keys ("
	"  id " ID ","
	"  holder " T " NOT NULL,"
	"  serial " T " NOT NULL UNIQUE REFERENCES certificates(serial),"
	"  algo " T " NOT NULL,"
	"  spki_sha256 " T " NOT NULL,"
	"  wrap_key " T " NOT NULL,"
	"  wrapped BYTEA NOT NULL,"
	"  created_ms BIGINT NOT NULL);"
	"CREATE INDEX kmc_keys_holder ON kmc_keys(holder, id);"
	APPEND_ONLY("kmc_keys", "escrowed keys are append-only")
	"CREATE TABLE enrolments ("
	"  id " T " PRIMARY KEY,"
	"  code_sha256 BYTEA NOT NULL UNIQUE,"
	"  profile " T " NOT NULL,"
	"  subject " T " NOT NULL,"
	"  holder " T " NOT NULL,"
	"  created_by " T " NOT NULL,"
	"  created_ms BIGINT NOT NULL,"
	"  expires_ms BIGINT NOT NULL,"
	"  status " T " NOT NULL CHECK (status IN ('open', 'used')),"
	"  used_ms BIGINT NOT NULL DEFAULT 0,"
	"  serial " T ");"
	"CREATE TABLE kmc_recoveries ("
	"  id " T " PRIMARY KEY,"
	"  holder " T " NOT NULL,"
	"  agent_der BYTEA NOT NULL,"
	"  reason " T " NOT NULL,"
	"  requester " T " NOT NULL,"
	"  requester_idn " T ","
	"  requester_actor " T " NOT NULL,"
	"  created_ms BIGINT NOT NULL,"
	"  status " T " NOT NULL"
	"    CHECK (status IN ('pending', 'approved', 'refused')),"
	"  approver " T ","
	"  approver_actor " T ","
	"  decided_ms BIGINT NOT NULL DEFAULT 0);",

	/* 11: leases, and the CRLs as published, in parts. */
	"CREATE TABLE leases ("
	"  name " T " PRIMARY KEY,"
	"  holder " T " NOT NULL,"
	"  expires_ms BIGINT NOT NULL,"
	"  taken_ms BIGINT NOT NULL);"
	"CREATE TABLE published ("
	"  id " ID ","
	"  name " T " NOT NULL,"
	"  number BIGINT NOT NULL,"
	"  part BIGINT NOT NULL,"
	"  data BYTEA NOT NULL,"
	"  UNIQUE (name, number, part));",
};

#undef T
#undef ID

_Static_assert(sizeof(pg_migrations) / sizeof(pg_migrations[0]) ==
    STORE_SCHEMA_STEPS, "a schema step is appended to both backends' lists "
    "(store_sqlite.c, store_pg.c) and to STORE_SCHEMA_STEPS");

/* The schema version: 0 when the database holds no govpki schema. */
static int
pg_schema_version(store *st, int *out)
{
	PGresult *res;
	int r = 0;

	*out = 0;
	res = PQexec(PGC(st)->pg, "SELECT to_regclass('govpki_schema') IS "
	    "NOT NULL");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		r = pg_err(st, res, "schema version");
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		goto out;
	PQclear(res);
	res = PQexec(PGC(st)->pg, "SELECT version FROM govpki_schema");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		r = pg_err(st, res, "schema version");
		goto out;
	}
	*out = atoi(PQgetvalue(res, 0, 0));
out:
	PQclear(res);
	return r;
}

static int
pg_migrate(store *st, int create)
{
	int r = GP_ERR_INTERNAL, v = 0, i, in_tx = 0;
	char sql[96];

	GUARD(pg_schema_version(st, &v));
	if (v == STORE_SCHEMA_STEPS) {
		st->version = v;
		r = 0;
		goto out;
	}
	ENSURE(v != 0 || create, gp_err_set(GP_ERR_NOT_FOUND, "%s: the "
	    "database holds no govpki store (make one with `govpki init "
	    "--store URL` or `govpki store migrate`)", st->path));
	GUARD(pg_begin(st));
	in_tx = 1;
	/* Another node may have migrated meanwhile: read it again. */
	GUARD(pg_schema_version(st, &v));
	if (v > STORE_SCHEMA_STEPS || v < 0) {
		r = gp_err_set(GP_ERR_UNSUPPORTED, "%s: schema version %d is "
		    "newer than this govpki knows (%d); run a newer govpki",
		    st->path, v, STORE_SCHEMA_STEPS);
		goto out;
	}
	if (v == 0)
		GUARD(pg_exec(st, "CREATE TABLE govpki_schema (version BIGINT "
		    "NOT NULL); INSERT INTO govpki_schema VALUES (0)",
		    "schema version"));
	for (i = v; i < STORE_SCHEMA_STEPS; i++) {
		snprintf(sql, sizeof(sql), "schema migration %d", i + 1);
		GUARD(pg_exec(st, pg_migrations[i], sql));
	}
	snprintf(sql, sizeof(sql), "UPDATE govpki_schema SET version = %d",
	    STORE_SCHEMA_STEPS);
	GUARD(pg_exec(st, sql, "schema version"));
	in_tx = 0;
	GUARD(pg_end(st, 1));
	st->version = STORE_SCHEMA_STEPS;
	r = 0;
out:
	if (in_tx)
		(void)pg_end(st, 0);
	return r;
}

/* store_copy: the identity column |col| of |table| goes on after the
 * highest value copied (setval is not undone by a rollback: a failed
 * copy leaves the generator further on, never a row). */
static int
pg_id_sync(store *st, const char *table, const char *col)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT setval(pg_get_serial_sequence("
	    "'%s', '%s'), COALESCE(MAX(%s), 0) + 1, false) FROM %s", table,
	    col, col, table);
	return pg_exec(st, sql, "identity after the copy");
}

const struct store_backend store_pg_backend = {
	"PostgreSQL",
	pg_connect,
	pg_close,
	pg_migrate,
	pg_begin,
	pg_end,
	pg_prepare,
	pg_finalize,
	pg_reset,
	pg_bind_text,
	pg_bind_int64,
	pg_bind_blob,
	pg_bind_null,
	pg_step,
	pg_col_null,
	pg_col_int64,
	pg_col_str,
	pg_col_blob,
	pg_changes,
	pg_schema_version,
	"SELECT table_name FROM information_schema.tables WHERE "
	"table_schema = current_schema() AND table_type = 'BASE TABLE' AND "
	"table_name <> 'govpki_schema' ORDER BY table_name",
	"SELECT column_name FROM information_schema.columns WHERE "
	"table_schema = current_schema() AND table_name = ?1 ORDER BY "
	"ordinal_position",
	pg_id_sync,
};
