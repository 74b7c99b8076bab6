/*
 * store/internal.h: what the files of store/ share and nothing else sees:
 * the store object, the backend-neutral statement API the typed operations
 * are written in, and the helpers they share.
 *
 * Two layers. The typed operations (store_audit.c, store_cert*.c,
 * store_request.c, store_search.c, store_tender.c, store_meta.c) write
 * their SQL once, in the dialect both databases accept, and run it through
 * the statement API below. Under it a backend (struct store_backend)
 * speaks to one kind of database: store_sqlite.c (the embedded default)
 * and store_pg.c (PostgreSQL through libpq). Only the backends know
 * their schema migrations (DDL, triggers, partial indexes), how they take
 * the write lock and how a connection is made; store_db.c dispatches.
 *
 * The SQL the typed operations write (both backends run it as is):
 *   - parameters are ?N (1-based); a backend that numbers them otherwise
 *     rewrites them once, when it prepares the statement; a number that
 *     the text does not use may be bound and is then ignored;
 *   - TRUE/FALSE, not 1/0, as conditions; BIGINT in CAST; no rowid
 *     except certificates.rowid, which both schemas define;
 *   - upserts as INSERT ... ON CONFLICT (...) DO UPDATE/NOTHING, never
 *     INSERT OR REPLACE/IGNORE;
 *   - json_valid(text) and json_extract(text, '$.name') are the JSON
 *     functions both offer (the PostgreSQL schema defines them).
 *
 * Locking: st->mu is a recursive mutex. store_begin() holds it until
 * store_commit()/store_rollback(), so the thread in a transaction may run
 * reads (which lock it again) while every other thread waits. A read outside
 * a transaction holds it for the duration of its statement. A connection
 * runs one statement at a time: a statement is stepped to its end (or
 * done) before the next one on the same connection starts; a backend that
 * cannot hold two open results drains the older one first.
 */
#ifndef GOVPKI_STORE_INTERNAL_H
#define GOVPKI_STORE_INTERNAL_H

#include <pthread.h>

#include "store/store.h"

/* The number of schema steps: each backend's migration list has exactly
 * this many (checked at compile time), step i of one doing what step i of
 * the other does, so that a schema version means the same tables on both.
 * Appending a step means appending it to both lists and raising this. */
#define STORE_SCHEMA_STEPS 11

/* The most audit rows one INSERT statement carries
 * (store_audit_insert_many): 12 parameters a row, 384 in all. */
#define STORE_AUDIT_CHUNK 32

/* Every cached statement is prepared once per connection and kept (the
 * hot ones are the audit head and insert). One slot per SQL text. */
enum store_stmt_id {
	STORE_STMT_META_GET,
	STORE_STMT_META_SET,
	STORE_STMT_PING,
	STORE_STMT_AUDIT_HEAD,
	/* The INSERT of k audit rows (1 <= k <= STORE_AUDIT_CHUNK) is
	 * slot STORE_STMT_AUDIT_INSERT + k - 1 (store_audit_insert_many). */
	STORE_STMT_AUDIT_INSERT,
	STORE_STMT_AUDIT_INSERT_LAST_ =
	    STORE_STMT_AUDIT_INSERT + STORE_AUDIT_CHUNK - 1,
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
	STORE_STMT_LEASE_GET,
	STORE_STMT_LEASE_TAKE,
	STORE_STMT_COUNT_
};

typedef struct store_stmt store_stmt;
struct store_backend;

struct store {
	const struct store_backend *be;
	void *conn;          /* the backend's connection */
	char *path;          /* the file, or the URL: for error messages */
	pthread_mutex_t mu;  /* recursive; see above */
	int in_tx;           /* written only with mu held */
	int readonly;        /* store_open_opts.readonly */
	pthread_t tx_owner;
	int version;
	store_stmt *stmt[STORE_STMT_COUNT_];
	/* A second, query-only connection for hot reads outside this
	 * thread's transaction (store_read_conn); NULL in the reader. */
	struct store *reader;
};

/*
 * A backend. Every function is called with st->mu held (or on a store no
 * other thread sees yet). Errors are GP_ERR_* codes with their detail set
 * ("<path>: <what>: <the database's message>"): a lost or refused
 * connection and a lock wait that timed out are GP_ERR_BUSY, a duplicate
 * unique key GP_ERR_EXISTS, the rest GP_ERR_STORE.
 */
struct store_backend {
	const char *name;
	/* Connects |st| to st->path (|reader|: a query-only connection);
	 * with |create| a missing database may be made. GP_ERR_NOT_FOUND
	 * naming st->path when it does not exist (or holds no schema) and
	 * !create. Sets st->conn. */
	int (*connect)(store *st, const struct store_open_opts *o, int reader);
	void (*close)(store *st);
	/* Brings the schema to STORE_SCHEMA_STEPS in one transaction, or
	 * GP_ERR_UNSUPPORTED when it is newer; a database without a schema
	 * gets one only with |create| (else GP_ERR_NOT_FOUND). Sets
	 * st->version. */
	int (*migrate)(store *st, int create);
	/* Opens a transaction holding the database's write lock, shared by
	 * every process and node on the database (GP_ERR_BUSY after
	 * STORE_BUSY_TIMEOUT_MS). */
	int (*begin)(store *st);
	/* Commits (|commit|) or rolls back; the transaction is over after
	 * either, whatever the result. */
	int (*end)(store *st, int commit);
	int (*prepare)(store *st, const char *sql, int cached,
	    store_stmt **out);
	void (*finalize)(store_stmt *s);
	void (*reset)(store_stmt *s);
	void (*bind_text)(store_stmt *s, int idx, const char *t);
	void (*bind_int64)(store_stmt *s, int idx, int64_t v);
	void (*bind_blob)(store_stmt *s, int idx, const void *b, size_t len);
	void (*bind_null)(store_stmt *s, int idx);
	int (*step)(store_stmt *s, const char *what, int *out_row);
	int (*col_null)(store_stmt *s, int col);
	int64_t (*col_int64)(store_stmt *s, int col);
	const char *(*col_str)(store_stmt *s, int col, size_t *out_len);
	const void *(*col_blob)(store_stmt *s, int col, size_t *out_len);
	int64_t (*changes)(store_stmt *s);
	/* The schema version the database holds (0: none), read without
	 * changing anything (a store opened read-only). */
	int (*version)(store *st, int *out);
	/* For store_copy (store_copy.c), in the SQL of the backend: the
	 * names of the tables (one text column) and the names of the
	 * columns of the table ?1. */
	const char *tables_sql;
	const char *columns_sql;
	/* In a transaction, after rows were inserted with explicit values
	 * of |col| (a column the backend numbers itself): moves the
	 * backend's generator of |table|.|col| past the highest value, so
	 * that rows it numbers later do not collide. NULL when the backend
	 * numbers from the highest value anyway (SQLite's INTEGER PRIMARY
	 * KEY). |table| and |col| are names from store_copy.c's table
	 * descriptions, never input. */
	int (*id_sync)(store *st, const char *table, const char *col);
};

extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_pg_backend;

/* What every backend's statement starts with. */
struct store_stmt {
	store *st;
	int cached;          /* in st->stmt[]: reset by store_stmt_done() */
};

/* How long a writer waits for another process's or node's transaction. */
#define STORE_BUSY_TIMEOUT_MS 10000

/*
 * The statement API. A statement belongs to one store (connection) and is
 * used with its st->mu held, from preparation (or store_stmt_get) to
 * store_stmt_done().
 */
/* The cached statement |id| for |sql|, prepared on first use. */
int store_stmt_get(store *st, enum store_stmt_id id, const char *sql,
    store_stmt **out) GP_WUR;
/* A statement for |sql| used once (a rare or a built query). */
int store_stmt_new(store *st, const char *sql, store_stmt **out) GP_WUR;
/* Ends the use of |s|: a cached one is reset and its bindings cleared, any
 * other freed. Accepts NULL. */
void store_stmt_done(store_stmt *s);
/* Makes |s| ready to run again (its bindings cleared), cached or not. */
void store_stmt_reset(store_stmt *s);

/* Binding parameter ?|idx|. Text and blobs are borrowed until the
 * statement is stepped; text NULL and blob NULL bind SQL NULL (an empty
 * blob is bound as an empty value). A failed bind (out of memory, an index
 * past the statement's) is kept and returned by the next store_step(). */
void store_bind_text(store_stmt *s, int idx, const char *t);
void store_bind_int64(store_stmt *s, int idx, int64_t v);
void store_bind_blob(store_stmt *s, int idx, const void *b, size_t len);
void store_bind_null(store_stmt *s, int idx);

/* Runs |s| to its next row: *out_row 1 when there is one (read it with
 * store_col_*), 0 when the statement is done. An error names |what|. */
int store_step(store_stmt *s, const char *what, int *out_row) GP_WUR;
/* Runs |s|, which returns no row (INSERT, UPDATE), to its end. */
int store_run(store_stmt *s, const char *what) GP_WUR;
/* Steps |s| to its first row: GP_ERR_NOT_FOUND (no detail) when there is
 * none. */
int store_row(store_stmt *s, const char *what) GP_WUR;
/* Runs |s|, an "INSERT ... ON CONFLICT DO NOTHING": GP_ERR_EXISTS with
 * the detail "<path>: <what>: exists already" when a unique key refused
 * the row (nothing was inserted). A conflict the caller expects (a
 * replay, a second decision) is refused this way rather than by a failed
 * statement, because a failed statement ends a PostgreSQL transaction
 * and the caller's transaction must go on. */
int store_insert(store_stmt *s, const char *what) GP_WUR;

/* Caps store_stmt_newf() puts on a bound value (callers cap tighter). */
#define STORE_BIND_MAX_TEXT (64 * 1024)
#define STORE_BIND_MAX_BLOB (64 * 1024 * 1024)
/* A statement for |sql| used once, with ?1.. bound to the arguments |fmt|
 * describes, one letter each: 't' text (NULL binds NULL), 'i' int64, 'b'
 * blob (pointer and size_t length; NULL binds NULL). GP_ERR_TOO_LARGE
 * naming |what| for a value past the caps above. */
int store_stmt_newf(store *st, const char *what, store_stmt **out,
    const char *sql, const char *fmt, ...) GP_WUR;
/* In the caller's transaction (store_check_tx): runs the INSERT |sql|
 * with the arguments |fmt| describes (store_stmt_newf); |sql| ends in ON
 * CONFLICT DO NOTHING, so that a duplicate is GP_ERR_EXISTS
 * (store_insert). */
int store_insertf(store *st, const char *what, const char *sql,
    const char *fmt, ...) GP_WUR;
/* Rows the last INSERT, UPDATE or DELETE run through |s| changed. */
int64_t store_changes(store_stmt *s);

/* Columns of the current row, 0-based. SQL NULL reads as 0, NULL or
 * NULL; pointers are valid until the next step or store_stmt_done(). */
int store_col_null(store_stmt *s, int col);
int64_t store_col_int64(store_stmt *s, int col);
int store_col_int(store_stmt *s, int col);
/* Text (NUL-terminated; *out_len without the NUL), NULL for SQL NULL. */
const char *store_col_str(store_stmt *s, int col, size_t *out_len);
/* Bytes, NULL for SQL NULL or an empty value. */
const void *store_col_blob(store_stmt *s, int col, size_t *out_len);

/* The connection a read should use: the reader, unless the calling thread
 * is inside its own transaction on |st| (which must see its own writes).
 * The reader sees the last committed state and never waits for the
 * writer, so OCSP and authentication reads do not queue behind the audit
 * writer's commit and fsync. */
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
	int (*read)(store_stmt *s, void *row);
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

/* GP_ERR_INTERNAL naming |what| unless the calling thread is inside its
 * store_begin() transaction: writes outside one would bypass the lock. */
int store_check_tx(store *st, const char *what) GP_WUR;

/* Copies a text column into *out (NULL for SQL NULL). GP_ERR_NOMEM. */
int store_col_text(store_stmt *s, int col, char **out) GP_WUR;
/* Copies a blob column into *out (NULL and 0 when NULL or empty). */
int store_col_blob_copy(store_stmt *s, int col, uint8_t **out,
    size_t *out_len) GP_WUR;

/* Steps |s| and reads at most |limit| rows with |read| into |rows| (an
 * array of |limit| elements of |row_size| bytes); *out_n says how many.
 * With st->mu held. */
int store_rows_read(store_stmt *s, void *rows, size_t row_size,
    size_t limit, int (*read)(store_stmt *s, void *row), size_t *out_n,
    const char *what) GP_WUR;

/* A listing's search (store_search.c): |select| is "SELECT <columns>
 * FROM <table> WHERE TRUE"; criterion i of |n| is the SQL |conds[i]|,
 * which binds ?(i+1), and is added (" AND " |conds[i]|) only when the
 * caller gives its value; |tail| orders the rows and binds ?(n+1) to the
 * limit. A row reads with |read| and is freed with |clear|. */
struct store_search {
	const char *select;
	const char *const *conds;
	size_t n;
	const char *tail;
	size_t row_size;
	int (*read)(store_stmt *s, void *row);
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
int store_col_hash(store_stmt *s, int col, uint8_t out[32],
    const char *what, int64_t key) GP_WUR;

/* In a transaction, with st->mu held: appends one event to |serial|'s
 * status history (store_cert_history.c); |actor| may be NULL. */
int store_cert_history_append(store *st, const char *serial,
    const char *change, int64_t time, int reason, int64_t invalidity_date,
    const char *actor) GP_WUR;

/* Reads the audit row at the current step of |s| (the column order of
 * STORE_AUDIT_COLS) into |row|, which the caller clears. */
#define STORE_AUDIT_COLS                                               \
	"seq, time_ms, actor, role, op, object, outcome, request_id, " \
	"client, details, prev_hash, hash"
int store_audit_row_read(store_stmt *s, struct store_audit_row *row)
    GP_WUR;

#endif /* GOVPKI_STORE_INTERNAL_H */
