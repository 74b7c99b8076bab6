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
 * record commits or rolls back with the state change it describes. */
int audit_append_tx(audit *a, const struct audit_event *ev,
    int64_t *out_seq) GP_WUR;

/* Appends |ev| in its own transaction and returns once it is durable.
 * Concurrent callers share one commit (group commit), so appending does not
 * bound the rate of the operations it records. */
int audit_log(audit *a, const struct audit_event *ev) GP_WUR;

/* Signs the current head with |key| and records the checkpoint. A no-op
 * returning 0 when no record was added since the last checkpoint, unless
 * |force|. */
int audit_checkpoint(audit *a, EVP_PKEY *key, int force) GP_WUR;

struct audit_report {
	int64_t records;
	int64_t checkpoints;
	int64_t last_checkpoint_seq;
	int64_t unsealed;        /* records after the last checkpoint */
	int64_t first_bad_seq;   /* 0 when the log verifies */
	char reason[512];        /* why first_bad_seq is bad */
};

/* Verifies the whole chain and every checkpoint signature against |pub|.
 * Returns 0 when everything verifies, GP_ERR_TAMPERED with |out| naming the
 * first bad record and the reason, or another error when it could not read
 * the log. Memory stays bounded for any log size. */
int audit_verify(store *st, EVP_PKEY *pub, struct audit_report *out) GP_WUR;

/* The JSON object of a stored record (hashes in hex). New reference. */
json_t *audit_row_json(const struct store_audit_row *row);

#endif /* GOVPKI_AUDIT_H */
