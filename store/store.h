/*
 * store.h: the durable store behind one interface. Two backends: SQLite
 * (the embedded default: one file in WAL mode with synchronous=FULL, so a
 * committed transaction survives a crash or power loss) and PostgreSQL
 * (through libpq, for several nodes sharing one database). No SQL leaves
 * store/: callers use typed operations, which run unchanged on both.
 *
 * Transactions: store_begin() takes the store's write lock (BEGIN IMMEDIATE
 * in SQLite, so several processes sharing one file serialise; a
 * transaction-scoped advisory lock in PostgreSQL, so several nodes sharing
 * one database serialise) and every write between it and store_commit()
 * is one atomic unit. A state change and the audit record that describes
 * it are always written in one transaction. Functions marked "in a
 * transaction" must be called between store_begin() and
 * store_commit()/store_rollback() by the same thread.
 *
 * Threads: a store may be shared by threads; the write lock serialises
 * writers, and reads take the same connection under a mutex.
 */
#ifndef GOVPKI_STORE_H
#define GOVPKI_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

typedef struct store store;

/* 1 when |target| names a PostgreSQL database (a postgresql:// or
 * postgres:// URL) rather than a SQLite file. */
int store_target_is_url(const char *target);

/* How to open a store. */
struct store_open_opts {
	const char *target;    /* a SQLite file path, or a postgresql:// URL
	                        * (without a password: refused if it has
	                        * one) */
	const char *password;  /* PostgreSQL: the password, or NULL (then
	                        * libpq's own sources: PGPASSFILE,
	                        * ~/.pgpass); borrowed, never kept */
	const char *app_name;  /* PostgreSQL: application_name, or NULL */
	int create;            /* create the file, or the schema in an empty
	                        * database */
	int readonly;          /* open an existing store for reading only:
	                        * nothing is written to it (a SQLite file is
	                        * opened read-only and stays byte for byte as
	                        * it was), no schema step runs, and a
	                        * transaction on it is a read snapshot taking
	                        * no write lock (store migrate's source) */
};

/* Opens (with |o->create|, creates: a file with mode 0600, or the schema
 * in an empty PostgreSQL database) the store at |o->target| and runs every
 * pending schema migration in order, in one transaction. Returns
 * GP_ERR_NOT_FOUND if it does not exist (no file; a database without the
 * govpki schema) and !create; GP_ERR_UNSUPPORTED when its schema version is
 * newer than this binary knows (it is left untouched); GP_ERR_INVALID
 * naming store.url for a URL with a password in it; GP_ERR_BUSY when the
 * database cannot be reached; GP_ERR_STORE naming the file or URL
 * otherwise. */
int store_open_with(const struct store_open_opts *o, store **out) GP_WUR;
/* With |o->readonly|: GP_ERR_NOT_FOUND when there is no store (no file,
 * or a database without the govpki schema), GP_ERR_UNSUPPORTED naming
 * both versions when its schema is older or newer than this binary's
 * (an older one is upgraded by opening it once without |readonly|). */
/* store_open_with() of |path| (a file or a URL) without a password. */
int store_open(const char *path, int create, store **out) GP_WUR;
void store_free(store *st);

/* The backend's name: "SQLite" or "PostgreSQL". */
const char *store_backend_name(store *st);
/* 1 when processes of other machines may share the store (PostgreSQL:
 * several nodes), 0 for a SQLite file, which only processes of the one
 * machine that holds its instance directory open. */
int store_shared(store *st);

/* The schema version after migrations. */
int store_schema_version(store *st);

/* Takes the store's write lock (GP_ERR_BUSY after a 10 s wait for another
 * process). Not nestable: a second store_begin() on the same thread fails. */
int store_begin(store *st) GP_WUR;
/* Commits and releases the lock. On failure the transaction has been rolled
 * back and the lock released; a store_rollback() after it is a no-op. */
int store_commit(store *st) GP_WUR;
/* Discards the transaction and releases the lock; a no-op when the calling
 * thread has no transaction open (after a failed begin or commit). */
void store_rollback(store *st);

/* 1 when the calling thread has a transaction open on |st|, else 0. */
int store_in_tx(store *st);

/* Runs a trivial query; for health checks. */
int store_ping(store *st) GP_WUR;

/* A key/value table for small instance state (CRL numbers, clocks).
 * store_meta_get: GP_ERR_NOT_FOUND when |key| is unset; the caller frees
 * *out_value. */
int store_meta_get(store *st, const char *key, char **out_value) GP_WUR;
/* In a transaction. */
int store_meta_set(store *st, const char *key, const char *value) GP_WUR;

/*
 * Audit rows. The store keeps them as given; the chain is computed by
 * audit/. Text fields may be NULL (stored as NULL, read back as NULL).
 */
struct store_audit_row {
	int64_t seq;
	int64_t time_ms;
	char *actor;
	char *role;
	char *op;
	char *object;
	char *outcome;
	char *request_id;
	char *client;
	char *details; /* JSON text */
	uint8_t prev_hash[32];
	uint8_t hash[32];
};
void store_audit_row_clear(struct store_audit_row *row);

/* The last row's seq and hash; seq 0 and a zero hash when the log is empty.
 * In a transaction for a head to append to; outside one, a snapshot. */
int store_audit_head(store *st, int64_t *out_seq, uint8_t out_hash[32])
    GP_WUR;
/* In a transaction: inserts |row| as is (store_audit_insert_many() of
 * one row). GP_ERR_EXISTS if its seq exists. */
int store_audit_insert(store *st, const struct store_audit_row *row) GP_WUR;
/* In a transaction: inserts the |n| rows |rows| as they are, in one
 * statement per STORE_AUDIT_CHUNK (internal.h) rows or part of them, so
 * that a batch costs a database server a round trip per chunk, not one
 * per row. Every row is checked before any is inserted: seqs gapless and
 * in order from 1 or more, each prev_hash the hash of the row before (the
 * store does not compute the chain; the first row's link to the head is
 * the caller's), no text field over 64 KiB; a failed check is
 * GP_ERR_INVALID or GP_ERR_TOO_LARGE naming the row and the field, and
 * inserts nothing. GP_ERR_EXISTS when a seq exists already; after that or
 * any other failure of the database, rows of the batch may be in the
 * transaction, which the caller rolls back: the batch commits with the
 * transaction whole or not at all. n == 0 does nothing. */
int store_audit_insert_many(store *st, const struct store_audit_row *rows,
    size_t n) GP_WUR;

/* The row |seq| into |out| (the caller clears it); GP_ERR_NOT_FOUND. */
int store_audit_get(store *st, int64_t seq, struct store_audit_row *out)
    GP_WUR;

/* Calls |fn| for each row with seq > |after| in ascending seq order, at most
 * |limit| rows (0: no limit), stopping early when |fn| returns non-zero
 * (that value is returned). Rows are read in pages, so memory stays bounded
 * for any log size. The row passed to |fn| is valid only during the call.
 * The store's lock is not held while |fn| runs, so |fn| may use the store.
 * A row whose stored hash is not 32 bytes ends the scan with GP_ERR_TAMPERED
 * (after |fn| saw the rows before it). */
typedef int (*store_audit_fn)(void *arg, const struct store_audit_row *row);
int store_audit_scan(store *st, int64_t after, int64_t limit,
    store_audit_fn fn, void *arg) GP_WUR;

/* Number of rows and highest seq, for verification and metrics. */
int store_audit_count(store *st, int64_t *out_count, int64_t *out_max_seq)
    GP_WUR;

struct store_checkpoint {
	int64_t id;
	int64_t seq;       /* last record covered */
	int64_t time_ms;
	uint8_t hash[32];  /* that record's hash */
	uint8_t *sig;
	size_t sig_len;
	uint8_t *tst;      /* DER TimeStampToken over the signature, or NULL */
	size_t tst_len;
};
void store_checkpoint_clear(struct store_checkpoint *cp);

/* Caps on what a checkpoint row holds (an edited file may hold more: it
 * is refused when read, as GP_ERR_TAMPERED). */
#define STORE_CP_MAX_SIG 65535
#define STORE_CP_MAX_TST 65535

/* In a transaction. |cp->id| 0 lets the store choose the next id;
 * GP_ERR_EXISTS if that id exists. |cp->tst| may be NULL. */
int store_checkpoint_insert(store *st, const struct store_checkpoint *cp)
    GP_WUR;

/* Checkpoint |id|, or the one with the highest id, into |out| (the caller
 * clears it); GP_ERR_NOT_FOUND when there is none. Outside a transaction
 * store_checkpoint_last() reads the last committed state through the
 * reader connection, so it never waits for the audit writer's commit. */
int store_checkpoint_get(store *st, int64_t id, struct store_checkpoint *out)
    GP_WUR;
int store_checkpoint_last(store *st, struct store_checkpoint *out) GP_WUR;

/* Calls |fn| for each checkpoint in ascending id order, paged like
 * store_audit_scan(), stopping early when |fn| returns non-zero. */
typedef int (*store_checkpoint_fn)(void *arg,
    const struct store_checkpoint *cp);
int store_checkpoint_scan(store *st, store_checkpoint_fn fn, void *arg)
    GP_WUR;

/*
 * The audit trail of each certificate row, for audit verification (in
 * store_audit.c): for every row of the certificates table, its current
 * state (status, revocation time, reason, invalidity date), the seq of
 * its "cert.issue" success record and of its last "cert.revoke",
 * "cert.hold" or "cert.release" success record (0 when none), the status
 * that record moved it to (its details "to"), and whether its status
 * history has any event, all read in one statement (one snapshot). Rows
 * come in the order they were stored, read in pages like
 * store_audit_scan(); |fn| stops the walk by returning non-zero (that
 * value is returned). Records are matched on their object (the serial)
 * through the partial indexes of schema step 6, so each row costs a few
 * indexed reads. A row with an empty or over-long serial (only an editor
 * of the file writes one) ends the walk with GP_ERR_TAMPERED.
 */
struct store_cert_trail {
	int64_t id;          /* the row's place in the table, for paging */
	char serial[68];
	char status[8];
	int64_t revoked_at;
	int reason;
	int64_t invalidity_date;
	int64_t issue_seq;
	int64_t status_seq;
	char status_to[8];   /* "" when there is no status record */
	int has_history;     /* 1 when cert_status_history has an event */
};
typedef int (*store_cert_trail_fn)(void *arg,
    const struct store_cert_trail *t);
int store_cert_trail_scan(store *st, store_cert_trail_fn fn, void *arg)
    GP_WUR;

/* The first "cert.revoke", "cert.hold" or "cert.release" success record
 * of certificate |serial| with seq > |after| into |out| (the caller
 * clears it), through the partial index of schema step 6; read beside
 * the writer (store_read_conn), never behind it. GP_ERR_NOT_FOUND when
 * there is none. For matching the status history with its records. */
int store_audit_status_next(store *st, const char *serial, int64_t after,
    struct store_audit_row *out) GP_WUR;

/* Calls |fn| for each "audit.key" record (audit/audit.h) in seq order,
 * paged like store_audit_scan(), through the partial index of its own, so
 * that finding the audit keys does not read the whole log. */
int store_audit_key_scan(store *st, store_audit_fn fn, void *arg) GP_WUR;

/*
 * Certificates issued by this instance. |serial| is lower-case hex without
 * leading zeros; the store refuses a duplicate serial (GP_ERR_EXISTS).
 * |status| is "good", "hold" or "revoked"; |reason| an RFC 5280 CRLReason
 * code (-1 when none).
 */
struct store_cert {
	char *serial;
	char *issuer;      /* "root" or "ca": which CA key signed it */
	char *profile;
	char *subject;     /* RFC 2253 text */
	char *role;        /* administrative role carried, or NULL */
	char *uscc;        /* unified social credit code, or NULL */
	char *id_number;   /* resident ID number, or NULL */
	int64_t not_before;
	int64_t not_after; /* Unix seconds */
	char *status;
	int64_t revoked_at;      /* Unix seconds, 0 when not revoked */
	int64_t invalidity_date; /* Unix seconds, 0 when none */
	int reason;
	int64_t created_ms;
	uint8_t *der;
	size_t der_len;
};
void store_cert_clear(struct store_cert *c);

/* In a transaction. A certificate inserted held or revoked gets that as
 * the first event of its history (store_cert_history_scan). */
int store_cert_insert(store *st, const struct store_cert *c) GP_WUR;

/* GP_ERR_NOT_FOUND when this instance never issued |serial|. The caller
 * clears |out| with store_cert_clear(). */
int store_cert_get(store *st, const char *serial, struct store_cert *out)
    GP_WUR;

/*
 * Status history (store_cert_history.c): every hold, release and
 * revocation of a certificate, in the order they happened, in an
 * append-only table (triggers refuse UPDATE and DELETE, as for the audit
 * log). A change is written with the certificate row's new status in one
 * call, so the two never disagree; the caller's transaction also holds
 * the change's audit record. Certificates already held or revoked when
 * the table was added got one event each: their state at the upgrade.
 */
#define STORE_CHANGE_HOLD "hold"
#define STORE_CHANGE_RELEASE "release"
#define STORE_CHANGE_REVOKE "revoke"

struct store_status_change {
	const char *serial;
	const char *change;        /* STORE_CHANGE_* */
	/* When it takes effect, Unix seconds (> 0): the hold's start, the
	 * release, the revocation time (a held certificate's revocation
	 * keeps the hold's start: the caller passes it). */
	int64_t time;
	int reason;                /* revoke: RFC 5280 CRLReason; else -1 */
	int64_t invalidity_date;   /* revoke: Unix seconds, 0 for none */
	const char *actor;         /* who, as in the audit record; may be NULL */
};

/* In a transaction: applies |c| to the certificate row (hold: status
 * "hold", revoked_at = time, reason certificateHold; release: "good",
 * revoked_at 0, no reason; revoke: "revoked" with time, reason and
 * invalidity date) and appends it to the history, both or neither.
 * Increments the meta counter STORE_META_STATUS_GEN in the same
 * transaction, so that any process (the server's CRL schedule, OCSP)
 * sees that a status changed. GP_ERR_NOT_FOUND when this instance never
 * issued |c->serial|; GP_ERR_INVALID naming the bad field. It does not
 * check that the change is allowed (good -> hold ...): ca/ does. */
int store_cert_status_change(store *st, const struct store_status_change *c)
    GP_WUR;

/* In a transaction: store_cert_status_change() with the change read from
 * |status| ("hold": a hold at |revoked_at|; "revoked": a revocation at
 * |revoked_at|; "good": a release now) and no actor. GP_ERR_INVALID for
 * another status. */
int store_cert_set_status(store *st, const char *serial, const char *status,
    int64_t revoked_at, int reason, int64_t invalidity_date) GP_WUR;

/* One event of a certificate's history, as stored. */
struct store_status_event {
	int64_t id;                /* increasing in the order of the changes */
	char change[8];            /* STORE_CHANGE_* */
	int64_t time;              /* when it took effect, Unix seconds */
	int reason;                /* CRLReason, -1 when none */
	int64_t invalidity_date;   /* 0 when none */
	char actor[128];           /* who ("" when unknown); cut to fit */
	int64_t created_ms;        /* when it was recorded */
};

/* Calls |fn| for each event of |serial|'s history in the order they were
 * recorded, stopping early when |fn| returns non-zero (that value is
 * returned). Read in pages, so memory stays bounded for any length; the
 * store's lock is not held while |fn| runs. A certificate that was never
 * held or revoked (or that this instance never issued) has no event.
 * GP_ERR_TAMPERED when a stored event is not one the store writes (an
 * editor of the file). */
typedef int (*store_status_event_fn)(void *arg,
    const struct store_status_event *ev);
int store_cert_history_scan(store *st, const char *serial,
    store_status_event_fn fn, void *arg) GP_WUR;

/* Meta key counting status changes (decimal text; unset means 0). */
#define STORE_META_STATUS_GEN "certs.status_gen"

/* The revocation state of one certificate: what OCSP and CRLs need, in
 * fixed buffers so that reading it allocates nothing. */
struct store_cert_state {
	char serial[68];     /* lower-case hex, no leading zeros */
	char issuer[16];     /* "root" or "ca" */
	char status[8];      /* "good", "hold" or "revoked" */
	int64_t revoked_at;  /* Unix seconds, 0 when not revoked */
	int64_t invalidity_date;
	int64_t not_after;
	int reason;          /* RFC 5280 CRLReason, -1 when none */
};

/* The state of |serial| into |out|; GP_ERR_NOT_FOUND when this instance
 * never issued it. One indexed read; for OCSP on every request. */
int store_cert_state_get(store *st, const char *serial,
    struct store_cert_state *out) GP_WUR;

/* Calls |fn| for every certificate of |issuer| whose status is "revoked" or
 * "hold", in ascending order of the serial text, stopping early when |fn|
 * returns non-zero (that value is returned). Rows are read in pages of
 * STORE_PAGE_ROWS by serial (keyset paging on the primary key), so memory
 * stays bounded and time linear for any number of rows; the store's lock is
 * not held while |fn| runs. Rows changed during the scan may or may not be
 * seen. */
typedef int (*store_cert_state_fn)(void *arg,
    const struct store_cert_state *s);
int store_cert_scan_revoked(store *st, const char *issuer,
    store_cert_state_fn fn, void *arg) GP_WUR;
/* The same walk over every certificate of |issuer|, in any status, whose
 * status last changed at a STORE_META_STATUS_GEN value above |since|: what
 * a delta CRL against a base built at generation |since| lists. */
int store_cert_scan_changed(store *st, const char *issuer, int64_t since,
    store_cert_state_fn fn, void *arg) GP_WUR;

/*
 * Certificate search (store_cert_query.c): every given criterion must
 * match (NULL: any). Results come in ascending serial order after |after|
 * (keyset paging: pass the last serial of a page to get the next), at most
 * |limit| (1..STORE_FIND_MAX). Rows are returned without their DER.
 */
#define STORE_FIND_MAX 1000
struct store_cert_query {
	const char *uscc;
	const char *id_number;
	const char *status;
	const char *profile;
	const char *after;   /* serial, or NULL for the first page */
	int64_t limit;
	/* notAfter in (expires_after, expires_before], Unix seconds; 0 for
	 * expires_before: any (govpki ca list --expiring). */
	int64_t expires_after;
	int64_t expires_before;
};
/* Fills a new array *out of *out_len rows; the caller frees it with
 * store_cert_list_free(). */
int store_cert_find(store *st, const struct store_cert_query *q,
    struct store_cert **out, size_t *out_len) GP_WUR;
void store_cert_list_free(struct store_cert *list, size_t len);
/* Number of certificates stored. */
int store_cert_count(store *st, int64_t *out) GP_WUR;

/*
 * Issuance requests waiting for a second person (store_request.c).
 * |body| is the request as JSON text; |status| "pending", "approved",
 * "refused" or "failed". A request is decided once: only a pending one
 * moves, so it is approved or refused at most once.
 */
struct store_request {
	char *id;
	char *profile;
	char *requester;        /* person identity ("dn:...", "local:user"),
	                         * or a certificate serial for a request
	                         * stored before persons were kept */
	char *requester_idn;    /* "idn:<hash>", or NULL */
	char *requester_actor;  /* the audit actor text */
	char *body;
	char *status;
	int64_t created_ms;
	char *approver;         /* who decided: person identity */
	char *approver_actor;   /* and actor text */
	int64_t decided_ms;
	char *serial;           /* the certificate issued, once approved */
	char *reason;           /* why it was refused */
};
void store_request_clear(struct store_request *rq);
/* In a transaction. GP_ERR_EXISTS for a duplicate id. */
int store_request_insert(store *st, const struct store_request *rq) GP_WUR;
/* GP_ERR_NOT_FOUND; the caller clears |out|. */
int store_request_get(store *st, const char *id, struct store_request *out)
    GP_WUR;

/* A decision on a pending request. */
struct store_request_decision {
	const char *status;         /* "approved", "refused" or "failed" */
	const char *approver;       /* person identity */
	const char *approver_actor;
	const char *serial;         /* approved: the certificate, else NULL */
	const char *reason;         /* refused: why, else NULL */
	int64_t decided_ms;
};
/* In a transaction: moves |id| from "pending" to |d->status|. GP_ERR_CONFLICT
 * naming the status when it is not pending (someone decided it first),
 * GP_ERR_NOT_FOUND when unknown. */
int store_request_decide(store *st, const char *id,
    const struct store_request_decision *d) GP_WUR;

/* Request search: every given criterion must match (NULL: any). Results
 * in order of creation (then id), after the request |after| (keyset
 * paging: pass the last id of a page; an id that is not a request's
 * yields nothing), at most |limit| (1..STORE_FIND_MAX). |requester|
 * matches the requester's person identity or idn. Rows come without
 * their body. */
struct store_request_query {
	const char *profile;
	const char *requester;
	const char *status;
	const char *after;
	int64_t limit;
};
/* Fills a new array *out of *out_len rows; the caller frees it with
 * store_request_list_free(). */
int store_request_find(store *st, const struct store_request_query *q,
    struct store_request **out, size_t *out_len) GP_WUR;
void store_request_list_free(struct store_request *list, size_t len);

/*
 * Leases (store_lease.c): among the processes and nodes sharing a store,
 * one holder at a time of a named duty (the server's CRL schedule: "crl"),
 * until the lease expires unless its holder renews it. Times are the
 * callers' clocks (Unix ms), which must agree within a fraction of the
 * lease (nodes run NTP: the TSA needs it anyway).
 */
struct store_lease {
	char holder[64];        /* "" when nobody ever held it */
	int64_t expires_ms;
	int64_t taken_ms;       /* when this holder took it */
};
/* The lease |name| into |out| (holder "" when there is none). */
int store_lease_get(store *st, const char *name, struct store_lease *out)
    GP_WUR;
/* In a transaction: takes or renews lease |name| for |holder| (1 to 63
 * bytes) until |now_ms| + |ttl_ms| when nobody holds it, its holder's time
 * ran out (expires_ms <= now_ms) or |holder| holds it already: *out_held
 * 1. Else *out_held 0 and nothing changes. |out_prev|, when not NULL, gets
 * the lease as it was before (to tell a take-over, which the caller
 * audits, from a renewal). */
int store_lease_take(store *st, const char *name, const char *holder,
    int64_t now_ms, int64_t ttl_ms, int *out_held,
    struct store_lease *out_prev) GP_WUR;
/* In a transaction: ends |holder|'s lease |name| now (at |now_ms|), so
 * that another takes it at once; a no-op when |holder| does not hold it. */
int store_lease_release(store *st, const char *name, const char *holder,
    int64_t now_ms) GP_WUR;

/*
 * Published files (store_published.c): a CRL as published, kept in the
 * store so that every node serves the one the lease holder made. Version
 * |number| of |name| ("ca", "root", "ca-delta") in parts of at most
 * STORE_PUB_PART bytes, numbered from 0; only the latest version is kept.
 */
#define STORE_PUB_PART (512 * 1024)
/* In a transaction: part |part| of version |number| of |name|.
 * GP_ERR_EXISTS when it is there already. */
int store_pub_put(store *st, const char *name, int64_t number, int64_t part,
    const uint8_t *data, size_t len) GP_WUR;
/* In a transaction: removes every version of |name| older than
 * |number|. */
int store_pub_prune(store *st, const char *name, int64_t number) GP_WUR;
/* The latest version of |name| and its number of parts into *out_number
 * and *out_parts (0 and 0 when there is none). Outside a transaction a
 * version is complete once seen: its parts are written in one. */
int store_pub_latest(store *st, const char *name, int64_t *out_number,
    int64_t *out_parts) GP_WUR;
/* Part |part| of version |number| of |name| into *out (malloc'ed, freed
 * by the caller); GP_ERR_NOT_FOUND when it is not there (pruned since). */
int store_pub_get(store *st, const char *name, int64_t number, int64_t part,
    uint8_t **out, size_t *out_len) GP_WUR;

/*
 * Sealed-bid tendering (store_tender.c, for tender/). Every table is
 * append-only (schema triggers refuse UPDATE and DELETE): a tender's
 * state is the sequence of its events, a bid's fate (superseded,
 * withdrawn, its key released, its outcome at the opening) the events
 * recorded against it, and the opening record's versions (the signed
 * record, then each bidder's confirmation) rows of their own, so nothing
 * a verdict depends on is ever overwritten. Writes are in a transaction
 * (the caller's, which also holds their audit records).
 */
struct store_tender {
	char *id;              /* 32 lower-case hex digits */
	char *title;
	char *mode;            /* "platform" or "bidder" */
	int64_t deadline_ms;   /* submission deadline, Unix ms */
	int64_t opening_ms;    /* opening time, Unix ms (>= deadline) */
	int64_t window_s;      /* bidder mode: the key-release window */
	char *spec;            /* JSON text: fields announced, profiles,
	                        * max_bid_bytes (tender/ reads it) */
	char *opening_serial;  /* the serial (a row of certificates) of the
	                        * opening certificate (platform mode) or of
	                        * the transport certificate key releases are
	                        * encrypted to (bidder mode) */
	char *opening_key;     /* that key's URI on the instance token */
	int64_t created_ms;
	char *created_by;      /* the audit actor */
	char *creator;         /* the person (ca_person id) */
};
void store_tender_clear(struct store_tender *t);
/* In a transaction. GP_ERR_EXISTS for a duplicate id. */
int store_tender_insert(store *st, const struct store_tender *t) GP_WUR;
/* GP_ERR_NOT_FOUND; the caller clears |out|. */
int store_tender_get(store *st, const char *id, struct store_tender *out)
    GP_WUR;
/* Tenders in order of creation after the tender |after| (NULL: from the
 * first), at most |limit| (1..STORE_FIND_MAX), without their spec. */
int store_tender_list(store *st, const char *after, int64_t limit,
    struct store_tender **out, size_t *out_len) GP_WUR;
void store_tender_list_free(struct store_tender *list, size_t len);

/* A tender's events: "open_request", "open_approve", "opened",
 * "window_open", "window_close". |time_ms| is the trusted time of the
 * event (a time-stamp's genTime where one was taken). */
struct store_tender_event {
	int64_t id;            /* increasing in the order recorded */
	char *tender_id;
	char *event;
	int64_t time_ms;
	char *actor;
	char *person;          /* ca_person id, or NULL */
	char *person_idn;      /* ca_person idn, or NULL */
	char *details;         /* JSON text, or NULL */
	int64_t created_ms;
};
void store_tender_event_clear(struct store_tender_event *ev);
/* In a transaction; |ev->id| and |ev->created_ms| are chosen here.
 * GP_ERR_EXISTS when the tender already has an event of that kind
 * (each happens once). */
int store_tender_event_add(store *st, const struct store_tender_event *ev)
    GP_WUR;
/* Calls |fn| for each event of |tender_id| in the order recorded. */
typedef int (*store_tender_event_fn)(void *arg,
    const struct store_tender_event *ev);
int store_tender_event_scan(store *st, const char *tender_id,
    store_tender_event_fn fn, void *arg) GP_WUR;

/* A bid as received: the file, its hash and time-stamp, its signer. */
struct store_bid {
	int64_t seq;           /* arrival order (set by the store) */
	char *id;              /* 32 lower-case hex digits */
	char *tender_id;
	char *uscc;            /* the signer's legal person */
	char *bidder;          /* its name (organization) */
	char *subject;         /* the signer certificate's subject */
	char *signer_serial;
	char *sha256;          /* hex of the whole bid file */
	int64_t size;
	int64_t arrival_ms;    /* genTime of |tst| */
	int64_t signing_time;  /* the signature's signing-time, Unix s */
	char *path;            /* the file, relative to the instance */
	char *recipients;      /* JSON text: the recipients it was checked
	                        * against */
	uint8_t *tst;          /* DER TimeStampToken over |sha256| */
	size_t tst_len;
	uint8_t *receipt;      /* DER SignedData sent to the bidder */
	size_t receipt_len;
	int64_t created_ms;
};
void store_bid_clear(struct store_bid *b);
/* In a transaction. GP_ERR_EXISTS for a duplicate id, or a bid with the
 * same SHA-256 in the same tender (a replay). */
int store_bid_insert(store *st, const struct store_bid *b) GP_WUR;
/* With |tst| and |receipt|. GP_ERR_NOT_FOUND; the caller clears it. */
int store_bid_get(store *st, const char *id, struct store_bid *out) GP_WUR;
/* Calls |fn| for each bid of |tender_id| in arrival order, without the
 * blobs, paged (bounded memory for any number of bids). */
typedef int (*store_bid_fn)(void *arg, const struct store_bid *b);
int store_bid_scan(store *st, const char *tender_id, store_bid_fn fn,
    void *arg) GP_WUR;
/* The current bid of |uscc| in |tender_id| (the last that was neither
 * superseded nor withdrawn), without blobs; GP_ERR_NOT_FOUND when none. */
int store_bid_current(store *st, const char *tender_id, const char *uscc,
    struct store_bid *out) GP_WUR;

/* What happened to a bid: "superseded" (|by_bid| names the new one),
 * "withdrawn" (|data| the signed withdrawal), "released" (bidder mode:
 * |data| the key release), "outcome" (at the opening: |outcome| opened,
 * revoked or withdrawn, |reason|, |details| the announced fields as
 * JSON text). Each kind at most once per bid. */
struct store_bid_event {
	int64_t id;
	char *bid_id;
	char *tender_id;
	char *event;
	int64_t time_ms;
	char *by_bid;
	char *outcome;
	char *reason;
	char *details;
	uint8_t *data;
	size_t data_len;
	int64_t created_ms;
};
void store_bid_event_clear(struct store_bid_event *ev);
/* In a transaction. GP_ERR_EXISTS when the bid has that event already. */
int store_bid_event_add(store *st, const struct store_bid_event *ev)
    GP_WUR;
/* Calls |fn| for each event of the bids of |tender_id| in the order
 * recorded, with |data|, paged. */
typedef int (*store_bid_event_fn)(void *arg,
    const struct store_bid_event *ev);
int store_bid_event_scan(store *st, const char *tender_id,
    store_bid_event_fn fn, void *arg) GP_WUR;

/* The opening record: version 1 the record the instance signed, each
 * later version the same SignedData with one more bidder's confirming
 * SignerInfo. */
struct store_tender_record {
	char *tender_id;
	int64_t version;
	uint8_t *der;
	size_t der_len;
	char *signer;          /* the confirming bidder's certificate serial
	                        * (versions after 1), else NULL */
	char *uscc;
	int64_t created_ms;
};
void store_tender_record_clear(struct store_tender_record *rec);
/* In a transaction. GP_ERR_EXISTS when that version exists (another
 * confirmation came first). */
int store_tender_record_add(store *st, const struct store_tender_record *rec)
    GP_WUR;
/* The highest version of |tender_id|'s record; GP_ERR_NOT_FOUND. */
int store_tender_record_last(store *st, const char *tender_id,
    struct store_tender_record *out) GP_WUR;

/*
 * USB keys for life (store_kmc.c, schema step 10): what kmc/ keeps.
 */

/* A signing certificate and its encryption twin, issued together; the
 * profile (of the signing certificate), the validated subject fields as
 * JSON text (to renew with), and the holder ("uscc:<code>" or
 * "idn:<hex SHA-256 of the ID number>"). */
struct store_pair {
	char *signing;
	char *encryption;
	char *profile;
	char *subject;
	char *holder;
	int64_t created_ms;
};
void store_pair_clear(struct store_pair *p);
/* In a transaction. GP_ERR_EXISTS when either serial is paired already. */
int store_pair_insert(store *st, const struct store_pair *p) GP_WUR;
/* The pair |serial| belongs to (as either member); GP_ERR_NOT_FOUND. */
int store_pair_get(store *st, const char *serial, struct store_pair *out)
    GP_WUR;

/* An escrowed encryption key: the private key wrapped (RFC 5649) under
 * the storage key |wrap_key| (its label on the instance token), never in
 * the clear; |serial| is its encryption certificate. Append-only. */
struct store_kmc_key {
	int64_t id;
	char *holder;
	char *serial;
	char *algo;            /* "rsa-2048" ... */
	char *spki_sha256;     /* hex SHA-256 of its SubjectPublicKeyInfo */
	char *wrap_key;
	uint8_t *wrapped;
	size_t wrapped_len;
	int64_t created_ms;
};
void store_kmc_key_clear(struct store_kmc_key *k);
void store_kmc_key_list_free(struct store_kmc_key *list, size_t len);
/* In a transaction; *out_id (may be NULL) gets its row id. */
int store_kmc_key_insert(store *st, const struct store_kmc_key *k,
    int64_t *out_id) GP_WUR;
/* The key of encryption certificate |serial|; GP_ERR_NOT_FOUND. */
int store_kmc_key_get(store *st, const char *serial,
    struct store_kmc_key *out) GP_WUR;
/* Every key of |holder| (at most STORE_FIND_MAX), oldest first. Free
 * with store_kmc_key_list_free(). */
int store_kmc_key_list(store *st, const char *holder,
    struct store_kmc_key **out, size_t *out_len) GP_WUR;

/* A one-time enrolment code, kept as its SHA-256 only; |subject| is the
 * validated subject fields as JSON text; |status| "open" or "used". */
struct store_enrolment {
	char *id;
	uint8_t code_sha256[32];
	char *profile;
	char *subject;
	char *holder;
	char *created_by;
	int64_t created_ms;
	int64_t expires_ms;
	char *status;
	int64_t used_ms;
	char *serial;          /* the signing certificate it gave, once used */
};
void store_enrolment_clear(struct store_enrolment *e);
/* In a transaction. GP_ERR_EXISTS for a duplicate id or code. */
int store_enrolment_insert(store *st, const struct store_enrolment *e)
    GP_WUR;
/* GP_ERR_NOT_FOUND when no enrolment has that code hash (or id). */
int store_enrolment_by_code(store *st, const uint8_t code_sha256[32],
    struct store_enrolment *out) GP_WUR;
int store_enrolment_get(store *st, const char *id,
    struct store_enrolment *out) GP_WUR;
/* In a transaction: marks |id| used at |now_ms| for |serial|, only if it
 * is open and expires after |now_ms|; GP_ERR_CONFLICT otherwise (a second
 * use, two uses at once, or an expired code). */
int store_enrolment_use(store *st, const char *id, int64_t now_ms,
    const char *serial) GP_WUR;

/* A judicial recovery: the export of |holder|'s escrowed keys to the
 * recovery agent certificate |agent_der|, requested by one person and
 * decided ("approved" or "refused") once by another. */
struct store_recovery {
	char *id;
	char *holder;
	uint8_t *agent_der;
	size_t agent_der_len;
	char *reason;
	char *requester;        /* person identity (ca_person) */
	char *requester_idn;
	char *requester_actor;
	int64_t created_ms;
	char *status;           /* "pending", "approved", "refused" */
	char *approver;
	char *approver_actor;
	int64_t decided_ms;
};
void store_recovery_clear(struct store_recovery *rc);
/* In a transaction. */
int store_recovery_insert(store *st, const struct store_recovery *rc)
    GP_WUR;
/* GP_ERR_NOT_FOUND naming |id|. */
int store_recovery_get(store *st, const char *id, struct store_recovery *out)
    GP_WUR;
/* In a transaction: pending -> |status| ("approved" or "refused");
 * GP_ERR_CONFLICT when it is not pending. */
int store_recovery_decide(store *st, const char *id, const char *status,
    const char *approver, const char *approver_actor, int64_t decided_ms)
    GP_WUR;

/* Good certificates whose notAfter lies in (|from|, |to|] (Unix
 * seconds): those to renew. */
int store_cert_count_expiring(store *st, int64_t from, int64_t to,
    int64_t *out) GP_WUR;

/*
 * Copying a whole store (store_copy.c), for `govpki store migrate`.
 */
#define STORE_COPY_MAX_TABLES 32
struct store_copy_report {
	struct {
		const char *name;  /* static */
		int64_t rows;
	} tables[STORE_COPY_MAX_TABLES];
	size_t n;                  /* tables copied */
	int64_t head_seq;          /* the last audit record copied (0: none) */
	uint8_t head_hash[32];
};
/* Called after each page of |table|, with the rows copied so far. */
typedef void (*store_copy_progress_fn)(void *arg, const char *table,
    int64_t rows);

/* Copies every row of every table of |src| into |dst| with every column
 * and the same key values (audit seq and hashes, certificate rowids, the
 * ids of the append-only tables), reading |src| table by table in pages
 * (memory bounded for any size), then moves |dst|'s own id generators past
 * the copied ids, and checks that each table of both holds the rows
 * copied and that both audit heads are the same record; fills |out|.
 * |dst| must be in the calling thread's transaction (store_begin), which
 * the caller commits (after adding its own records) or rolls back: the
 * copy is all or nothing. |src| is best in a transaction too (opened with
 * store_open_opts.readonly: a snapshot), so that it reads one state. It
 * writes nothing to |src|. Refused, nothing written: GP_ERR_EXISTS naming
 * the table when |dst| holds any row (never merged into a store);
 * GP_ERR_UNSUPPORTED when the schema versions differ or |src| has a table
 * or column this binary does not know how to copy. A row |dst| refuses
 * fails its statement (GP_ERR_STORE naming the table), after which the
 * transaction can only be rolled back. GP_ERR_STORE naming the table
 * when the counts or heads differ. */
int store_copy(store *src, store *dst, store_copy_progress_fn fn, void *arg,
    struct store_copy_report *out) GP_WUR;

/* The tables store_copy() copies, in order (for tests and reports). */
size_t store_copy_table_count(void);
const char *store_copy_table_name(size_t i);

#endif /* GOVPKI_STORE_H */
