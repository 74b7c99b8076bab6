/*
 * audit.h: the tamper-evident audit log. Every operation, from the CLI or
 * HTTP, success or failure, appends one record; an auditor proves the log
 * complete and unaltered with audit_verify().
 *
 * Chain: record i stores prev_hash = hash(i-1) (32 zero bytes for seq 1) and
 *   hash(i) = SHA-256("govpki-audit-v1" || prev_hash || enc(record i))
 * where enc() is: seq and time_ms as 8-byte big-endian, then for each of
 * actor, role, op, object, outcome, request_id, client, details one byte 0
 * (NULL) or 1 followed by a 4-byte big-endian length and the UTF-8 bytes.
 * Sequence numbers start at 1 and have no gaps.
 *
 * Checkpoints: the audit key on the token signs
 *   "govpki-audit-checkpoint-v1" || seq (8 BE) || time_ms (8 BE) || hash(seq)
 * and the checkpoint itself is then recorded in the chain as an
 * "audit.checkpoint" record, so that a deleted checkpoint is detected too.
 * Records after the last checkpoint are chained but not yet signed.
 *
 * Contents: PINs and keys never appear; callers pass personal ID numbers
 * through gp_mask_id() before they reach a record.
 */
#ifndef GOVPKI_AUDIT_H
#define GOVPKI_AUDIT_H

#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "core/core.h"
#include "store/store.h"

typedef struct audit audit;

/* What one record says. Every string is borrowed; |details| is borrowed and
 * encoded with sorted keys. NULL fields are recorded as absent. */
struct audit_event {
	const char *actor;      /* "CN=...,serial=<hex>" or "local:<user>" */
	const char *role;       /* "officer", "auditor", "sysadmin", "local", ... */
	const char *op;         /* "token.login", "ca.issue", "http.denied" ... */
	const char *object;
	const char *outcome;    /* "success", "failure" or "denied" */
	const char *request_id;
	const char *client;     /* client address, or NULL for the CLI */
	json_t *details;
};

/* Starts the group-commit writer over |st| (which must outlive the audit).
 * The caller frees with audit_free(), which commits what is queued. */
int audit_new(store *st, audit **out) GP_WUR;
void audit_free(audit *a);

/* In the caller's store transaction: appends |ev| as the next record. The
 * record commits or rolls back with the state change it describes.
 * GP_ERR_TOO_LARGE when a text field exceeds 4 KiB or the details 64 KiB. */
int audit_append_tx(audit *a, const struct audit_event *ev,
    int64_t *out_seq) GP_WUR;

/* Appends |ev| in its own transaction and returns once it is durable.
 * Concurrent callers share one commit (group commit), so appending does not
 * bound the rate of the operations it records. |ev| is only borrowed while
 * the call waits. Never call it with a store transaction open on this thread
 * (it would wait for itself): that is refused with GP_ERR_INTERNAL; use
 * audit_append_tx() there. If the batch fails, every caller in it gets the
 * error (a bad event is retried alone so it does not fail the others). */
int audit_log(audit *a, const struct audit_event *ev) GP_WUR;

/* A state change to write in the same transaction as its record: called
 * by the writer inside the group transaction, with the store's write lock
 * held; it must only write through |st| and return 0 or a GP_ERR_* code
 * (with its detail). On failure nothing of it, nor its record, is kept. */
typedef int (*audit_apply_fn)(store *st, void *arg);

/* Writes |apply|'s change and the record |ev| describing it in one
 * transaction, group-committed with every other record in flight, and
 * returns once both are durable, or the change's own error (then nothing
 * was written; the other changes of the batch are unaffected). The way to
 * make a state change from concurrent threads without one fsync each. */
int audit_apply(audit *a, audit_apply_fn apply, void *apply_arg,
    const struct audit_event *ev) GP_WUR;

/* Called by the writer thread once the record of an audit_log_async() or
 * audit_apply_async() call is durable (r == 0) or could not be written
 * (r < 0, detail set). It must not block for long: the next batch waits
 * for it. It may queue more with the _async calls (never audit_log() or
 * audit_apply(): the writer would wait for itself). */
typedef void (*audit_done_fn)(void *arg, int r);

/* Like audit_log(), but returns at once: |ev| is copied (every string and
 * the encoded details), and |fn|(|arg|, result) is called from the writer
 * thread after the group commit that carries it. The caller must not act
 * on the operation as done (send the reply) before |fn| reports 0. On a
 * non-zero return nothing was queued and |fn| is never called. */
int audit_log_async(audit *a, const struct audit_event *ev,
    audit_done_fn fn, void *arg) GP_WUR;

/* audit_apply() without waiting: |ev| is copied as by audit_log_async()
 * and the call returns at once; |fn|(|arg|, result) is called from the
 * writer thread once |apply|'s change and the record are durable (r == 0),
 * or when the change refused (its own error) or the commit failed (r < 0,
 * detail set; then nothing of it was kept). |apply_arg| is borrowed until
 * |fn| is called, and |apply| may run more than once (a failed batch is
 * retried one request at a time, each attempt rolled back unless it
 * commits). The caller must not act on the change as done (send the reply)
 * before |fn| reports 0. On a non-zero return nothing was queued and |fn|
 * is never called. */
int audit_apply_async(audit *a, audit_apply_fn apply, void *apply_arg,
    const struct audit_event *ev, audit_done_fn fn, void *arg) GP_WUR;

/* Records appended through audit_log() since audit_new(), and the group
 * commits that carried them: records/commits is the batching factor. */
void audit_stats(audit *a, int64_t *out_records, int64_t *out_commits);

/* Signs the current head with |key| and records the checkpoint, then the
 * "audit.checkpoint" record (actor "govpki", role "system", object
 * "checkpoint:<id>", details {"hash":"<hex>","seq":S}) in the same
 * transaction. A no-op returning 0 when the log is empty, or, unless
 * |force|, when no record but the last checkpoint's own was added since.
 * The signature is made before the write lock is taken (a token may be
 * slow); if another writer sealed the same or a later record meanwhile,
 * this one is dropped and 0 returned. |key| is only used through
 * EVP_DigestSign*, so it may live on a PKCS#11 token. */
int audit_checkpoint(audit *a, EVP_PKEY *key, int force) GP_WUR;

struct audit_report {
	int64_t records;
	int64_t checkpoints;
	int64_t last_checkpoint_seq;
	int64_t unsealed;        /* records after the last checkpoint */
	int64_t first_bad_seq;   /* 0 when the log verifies; else >= 1, the
	                          * first position where it stops verifying
	                          * (a forged record before seq 1: 1) */
	char reason[512];        /* why, naming the record or checkpoint */
};

/* Verifies the whole chain and every checkpoint signature against |pub|.
 * Returns 0 when everything verifies, GP_ERR_TAMPERED with |out| naming the
 * first bad record and the reason, or another error when it could not read
 * the log. Memory stays bounded for any log size. Safe while other threads
 * or processes append: checkpoints made after it started are not checked.
 * Detected: a changed, deleted, inserted or reordered record; a chain
 * rewritten consistently (it no longer matches a signed checkpoint); a
 * deleted, replaced or re-signed checkpoint; records deleted from the tail
 * up to and including the last checkpoint's own record. Not detectable:
 * deleting records appended after the last checkpoint record, which no
 * signature covers yet (checkpoint often). */
int audit_verify(store *st, EVP_PKEY *pub, struct audit_report *out) GP_WUR;

/* The JSON object of a stored record: seq, time (UTC ISO 8601 with ms),
 * time_ms, the text fields (null when absent), details (the parsed JSON,
 * or the raw text if it does not parse, or null) and prev_hash and hash in
 * hex. New reference; NULL on allocation failure or NULL |row|. */
json_t *audit_row_json(const struct store_audit_row *row);

#endif /* GOVPKI_AUDIT_H */
