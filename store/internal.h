/*
 * store/internal.h: what the files of store/ share and nothing else sees:
 * the store object, the statement cache and the SQLite-to-GP_ERR mapping.
 *
 * Locking: st->mu is a recursive mutex. store_begin() holds it until
 * store_commit()/store_rollback(), so the thread in a transaction may run
 * reads (which lock it again) while every other thread waits. A read outside
 * a transaction holds it for the duration of its statement.
 */
#ifndef GOVPKI_STORE_INTERNAL_H
#define GOVPKI_STORE_INTERNAL_H

#include <pthread.h>

#include <sqlite3.h>

#include "store/store.h"

/* Every statement is prepared once per connection and kept (the hot ones
 * are the audit head and insert). One slot per SQL text. */
enum store_stmt_id {
	STORE_STMT_META_GET,
	STORE_STMT_META_SET,
	STORE_STMT_PING,
	STORE_STMT_AUDIT_HEAD,
	STORE_STMT_AUDIT_INSERT,
	STORE_STMT_AUDIT_PAGE,
	STORE_STMT_AUDIT_GET,
	STORE_STMT_AUDIT_COUNT,
	STORE_STMT_CP_INSERT,
	STORE_STMT_CP_PAGE,
	STORE_STMT_CP_GET,
	STORE_STMT_CP_LAST,
	STORE_STMT_CERT_AUDIT_PAGE,
	STORE_STMT_CERT_INSERT,
	STORE_STMT_CERT_GET,
	STORE_STMT_CERT_SET_STATUS,
	STORE_STMT_CERT_STATE,
	STORE_STMT_CERT_REVOKED_PAGE,
	STORE_STMT_CERT_STATUS_GEN,
	STORE_STMT_CERT_CHANGED_PAGE,
	STORE_STMT_HISTORY_INSERT,
	STORE_STMT_HISTORY_PAGE,
	STORE_STMT_AUDIT_STATUS_NEXT,
	STORE_STMT_AUDIT_KEY_PAGE,
	STORE_STMT_TENDER_EVENT_PAGE,
	STORE_STMT_BID_PAGE,
	STORE_STMT_BID_EVENT_PAGE,
	STORE_STMT_COUNT_
};

struct store {
	sqlite3 *db;
	char *path;
	pthread_mutex_t mu;  /* recursive; see above */
	int in_tx;           /* written only with mu held */
	pthread_t tx_owner;
	int version;
	sqlite3_stmt *stmt[STORE_STMT_COUNT_];
	/* A second, query-only connection for hot reads outside this
	 * thread's transaction (store_read_conn); NULL in the reader. */
	struct store *reader;
};

/* The connection a read should use: the reader, unless the calling thread
 * is inside its own transaction on |st| (which must see its own writes).
 * In WAL mode the reader sees the last committed state and never waits
 * for the writer, so OCSP and authentication reads do not queue behind
 * the audit writer's commit and fsync. */
store *store_read_conn(store *st);

/* Rows per page when scanning; bounds memory of store_*_scan(). */
#define STORE_PAGE_ROWS 1000

/* A table read in pages of STORE_PAGE_ROWS by an increasing integer key,
 * so memory stays bounded for any table size. |sql| binds ?1 = the last
 * key seen and ?2 = the page size, and orders by the key. */
struct store_pager {
	enum store_stmt_id stmt;
	const char *sql;
	const char *what;                 /* for errors */
	size_t row_size;
	int (*read)(sqlite3_stmt *s, void *row);
	void (*clear)(void *row);
	int64_t (*key)(const void *row);
	int (*fn)(void *arg, const void *row);
	void *arg;
};

/* Calls |p->fn| for each row with key > |after|, at most |limit| rows (0:
 * all), stopping at the first non-zero return (which it returns). The
 * store's mutex is held while a page is read, never while |p->fn| runs. */
int store_scan_pages(store *st, const struct store_pager *p, int64_t after,
    int64_t limit) GP_WUR;
/* The same with ?3 = |text| bound too (the rows of one serial). */
int store_scan_pages_text(store *st, const struct store_pager *p,
    const char *text, int64_t after, int64_t limit) GP_WUR;

void store_lock(store *st);
void store_unlock(store *st);

/* With st->mu held: the cached statement |id| for |sql|, prepared on first
 * use. The caller calls store_stmt_done() on it before unlocking. */
int store_stmt(store *st, enum store_stmt_id id, const char *sql,
    sqlite3_stmt **out) GP_WUR;
/* Resets |s| and clears its bindings; accepts NULL. */
void store_stmt_done(sqlite3_stmt *s);

/* Maps SQLite result |rc| to a GP_ERR_* code and records the detail
 * "<file>: <what>: <sqlite message>". SQLITE_BUSY/LOCKED map to
 * GP_ERR_BUSY, constraint violations of a unique key to GP_ERR_EXISTS, the
 * rest to GP_ERR_STORE. */
int store_err(store *st, int rc, const char *what);

/* GP_ERR_INTERNAL naming |what| unless the calling thread is inside its
 * store_begin() transaction: writes outside one would bypass the lock. */
int store_check_tx(store *st, const char *what) GP_WUR;

/* Binds |s| (NULL binds SQL NULL). Return SQLite codes. */
int store_bind_text(sqlite3_stmt *stmt, int idx, const char *s);

/* Copies a text column into *out (NULL for SQL NULL). GP_ERR_NOMEM. */
int store_col_text(sqlite3_stmt *stmt, int col, char **out) GP_WUR;

/* Steps |s| and reads at most |limit| rows with |read| into |rows| (an
 * array of |limit| elements of |row_size| bytes); *out_n says how many.
 * With st->mu held. A failed step is store_err(|what|). */
int store_rows_read(store *st, sqlite3_stmt *s, void *rows, size_t row_size,
    size_t limit, int (*read)(sqlite3_stmt *s, void *row), size_t *out_n,
    const char *what) GP_WUR;

/* A listing's search (store_search.c): |select| is "SELECT <columns>
 * FROM <table> WHERE 1"; criterion i of |n| is the SQL |conds[i]|, which
 * binds ?(i+1), and is added (" AND " |conds[i]|) only when the caller
 * gives its value; |tail| orders the rows and binds ?(n+1) to the limit.
 * A row reads with |read| and is freed with |clear|. */
struct store_search {
	const char *select;
	const char *const *conds;
	size_t n;
	const char *tail;
	size_t row_size;
	int (*read)(sqlite3_stmt *s, void *row);
	void (*clear)(void *row);
	const char *what;                 /* for errors */
};

/* Runs |q| with the values |vals| (|q->n| of them, NULL: criterion not
 * given) and reads at most |limit| rows into a new array *out of *out_len
 * rows of |q->row_size| bytes, which the caller frees (each row with
 * |q->clear|, then the array). GP_ERR_INVALID naming "limit" unless it is
 * 1 to STORE_FIND_MAX. On failure *out is NULL and nothing is kept. */
int store_search_run(store *st, const struct store_search *q,
    const char *const *vals, int64_t limit, void **out, size_t *out_len)
    GP_WUR;

/* Copies a 32-byte hash column into |out|. GP_ERR_TAMPERED naming |what|
 * when the stored blob has another length (nobody but an editor of the
 * file writes one). */
int store_col_hash(sqlite3_stmt *stmt, int col, uint8_t out[32],
    const char *what, int64_t key) GP_WUR;

/* In a transaction, with st->mu held: appends one event to |serial|'s
 * status history (store_cert_history.c); |actor| may be NULL. */
int store_cert_history_append(store *st, const char *serial,
    const char *change, int64_t time, int reason, int64_t invalidity_date,
    const char *actor) GP_WUR;

/* Reads the audit row at the current step of |stmt| (the column order of
 * STORE_AUDIT_COLS) into |row|, which the caller clears. */
#define STORE_AUDIT_COLS                                               \
	"seq, time_ms, actor, role, op, object, outcome, request_id, " \
	"client, details, prev_hash, hash"
int store_audit_row_read(sqlite3_stmt *stmt, struct store_audit_row *row)
    GP_WUR;

#endif /* GOVPKI_STORE_INTERNAL_H */
