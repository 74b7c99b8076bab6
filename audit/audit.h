/*
 * audit.h: the tamper-evident audit log. Every operation, from the CLI or
 * HTTP, success or failure, appends one record; an auditor checks the log
 * with audit_verify() against a trust anchor of their own.
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
 * A checkpoint may carry an RFC 3161 time-stamp token whose messageImprint
 * is SHA-256 of the signature value; its record names the token's serial
 * and SHA-256. Records after the last checkpoint are chained but not yet
 * signed.
 *
 * Audit keys: the key that signs checkpoints is itself recorded in the
 * chain, by an "audit.key" record holding its certificate (and the
 * intermediates to the root). The first one (made by `govpki init`) is the
 * instance's audit key; a later one is a key change, which takes effect
 * only once a checkpoint covering it was signed by the key it replaces
 * (audit_key_change writes both in one transaction). A log begun before
 * keys were recorded gets its first one by adoption (audit_key_adopt).
 * An audit certificate must chain to the verifier's trust anchor (the
 * instance root, from the auditor's own copy) and carry the critical
 * extended key usage AUDIT_EKU_OID, so that no other certificate under the
 * root (an administrator's or the TLS server's, whose keys are files) can
 * stand in for it.
 *
 * What a database editor can still do (see audit_verify()): delete records
 * after the last checkpoint, and roll the whole log back to an earlier
 * checkpoint (deleting what came after it, checkpoints included). Nothing
 * inside the database can tell such a rollback from a log that stopped
 * there; only a copy kept outside it can: the heads an auditor's witness
 * saw (`govpki audit witness`, checked by audit_verify_witnessed()).
 *
 * Contents: PINs and keys never appear; callers pass personal ID numbers
 * through gp_mask_id() before they reach a record.
 */
#ifndef GOVPKI_AUDIT_H
#define GOVPKI_AUDIT_H

#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

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
 * (with its detail). On failure nothing of it, nor its record, is kept.
 * The records of a batch are inserted together after its last change, so
 * a change must not read the audit log (it would not see its own record
 * nor those of the changes before it in the batch). */
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

/* Records appended through audit_log() and the other queued calls since
 * audit_new(), and the transactions that committed them: records/commits
 * is the batching factor (a batch that failed and was retried one request
 * at a time counts a commit per request kept). */
void audit_stats(audit *a, int64_t *out_records, int64_t *out_commits);

/* The extended key usage (critical) of an audit certificate: "govpki
 * audit log signing", an OID under the UUID arc 2.25 of ITU-T X.667,
 * which needs no registration. */
#define AUDIT_EKU_OID "2.25.272995801272984945644850851054612164731"

/* The operations of the records that seal a checkpoint into the chain and
 * that record an audit key. */
#define AUDIT_OP_CHECKPOINT "audit.checkpoint"
#define AUDIT_OP_KEY "audit.key"

/* In the caller's store transaction: records |cert| as an audit key: an
 * "audit.key" record (actor |actor|, role "local", object
 * "audit-key:<hex SHA-256 of its SubjectPublicKeyInfo>", details
 * {"spki_sha256":hex, "cert":hex DER, "chain":[hex DER, ...]}) with the
 * intermediates |chain| (|chain_len| at most AUDIT_MAX_CHAIN) from it
 * towards the root. The first such record in a log is the instance's
 * audit key: `govpki init` writes it before its first checkpoint. Checks
 * nothing about |cert| (audit_verify() does). */
#define AUDIT_MAX_CHAIN 4
int audit_key_record_tx(audit *a, const char *actor, X509 *cert,
    X509 *const *chain, size_t chain_len) GP_WUR;

/* A time-stamp over a checkpoint signature, made by |audit_stamp_fn|. */
struct audit_stamp {
	uint8_t *tst;        /* DER TimeStampToken (malloc'ed; the callee
	                      * allocates, audit/ frees) */
	size_t tst_len;
	char serial[72];     /* its serial number, lower-case hex */
};
/* Time-stamps |sig| (the messageImprint is SHA-256 of |sig|): fills |out|
 * and returns 0, or returns an error with its detail (the checkpoint is
 * then made without a token, and its record says why). */
typedef int (*audit_stamp_fn)(void *arg, const uint8_t *sig, size_t sig_len,
    struct audit_stamp *out);

/* Signs the current head with |key| and records the checkpoint, then the
 * "audit.checkpoint" record (actor "govpki", role "system", object
 * "checkpoint:<id>", details {"hash":"<hex>","seq":S} and, when |stamp|
 * made a token, "tst":{"serial":..., "sha256":<hex of the token DER>},
 * or "tst_error":"<why>" when it failed) in the same transaction. The
 * token itself is kept in the checkpoint row. A no-op returning 0 when
 * the log is empty, or, unless |force|, when no record but the last
 * checkpoint's own was added since. The signature and the time-stamp are
 * made before the write lock is taken (a token may be slow); if another
 * writer sealed the same or a later record meanwhile, this one is dropped
 * and 0 returned. |key| is only used through EVP_DigestSign*, so it may
 * live on a PKCS#11 token. |stamp| may be NULL (no time-stamp). */
int audit_checkpoint(audit *a, EVP_PKEY *key, int force) GP_WUR;
int audit_checkpoint_stamped(audit *a, EVP_PKEY *key, int force,
    audit_stamp_fn stamp, void *stamp_arg) GP_WUR;

/* Changes the audit key, all or nothing, in one transaction: |apply|'s
 * change when given (the caller's records of it: the new certificate's
 * row and its cert.issue record), the "audit.key" record of |new_cert|
 * (audit_key_record_tx, with |chain|), and a checkpoint covering them
 * signed with |old_key|, which puts the new key in effect: checkpoints
 * after it must be signed with the new key, and one signed with
 * |old_key| no longer verifies. That checkpoint is signed with the
 * store's write lock held and is not time-stamped (its record says so;
 * the TSA writes its clock bound to the store in a transaction of its
 * own); the caller's next checkpoint, with the new key, is. Refused with
 * GP_ERR_CONFLICT, nothing written, when the log records no audit key
 * (adopt one first), a key change is pending (an "audit.key" record no
 * checkpoint covers), |old_key| is not the key in effect (checked by
 * signing, audit_key_pair_check), or |new_cert| is that key's. On any
 * failure nothing of it is kept and the old key stays in effect. It
 * does not check |new_cert| against a trust anchor: the caller does
 * (audit_cert_check), and audit_verify() will. */
int audit_key_change(audit *a, EVP_PKEY *old_key, const char *actor,
    X509 *new_cert, X509 *const *chain, size_t chain_len,
    audit_apply_fn apply, void *apply_arg) GP_WUR;

/* For a log begun before govpki recorded its audit key (no "audit.key"
 * record; checkpoints signed by a key the chain does not name): records
 * |cert|, a certificate with the audit EKU for |key|, as the first audit
 * key, marked {"adopted":true}, with |apply|'s change and a checkpoint
 * signed by |key|, in one transaction, as audit_key_change() does.
 * Refused, nothing written: GP_ERR_CONFLICT when the log records a key
 * already or |cert| is not |key|'s; GP_ERR_TAMPERED naming the first
 * checkpoint |key| did not sign (the log was sealed by another key,
 * which adopting this one would not anchor). The operator's word is what
 * anchors the checkpoints before the adoption: audit_verify() reports
 * where it was made (rep->adopted_seq). */
#define AUDIT_KEY_ADOPTED "adopted"
int audit_key_adopt(audit *a, EVP_PKEY *key, const char *actor, X509 *cert,
    X509 *const *chain, size_t chain_len, audit_apply_fn apply,
    void *apply_arg) GP_WUR;

/* The audit key the chain has in effect for the next checkpoint, as
 * audit_verify() follows it (the first "audit.key" record, then each
 * later one once a checkpoint covers it), read from the records alone
 * (no trust anchor, no signature checked: audit_verify() does that),
 * through the index of audit.key records. For the server's check at
 * start and for a key change. GP_ERR_TAMPERED naming a malformed
 * record. */
struct audit_key_info {
	int64_t seq;          /* its "audit.key" record; 0 when the log
	                       * records none */
	int adopted;          /* recorded by audit_key_adopt() */
	uint8_t spki[32];     /* SHA-256 of its SubjectPublicKeyInfo */
	X509 *cert;           /* its certificate (owned), NULL when seq 0 */
	int64_t pending_seq;  /* a later "audit.key" record no checkpoint
	                       * covers yet, or 0 */
	int64_t keys;         /* "audit.key" records in the log */
	int64_t last_cp_seq;  /* the last checkpoint's seq, 0 when none */
};
int audit_key_in_effect(store *st, struct audit_key_info *out) GP_WUR;
void audit_key_info_clear(struct audit_key_info *k);

/* 0 when |key| (which may live on a token) is the private key of |cert|:
 * it signs a random probe that |cert|'s public key verifies.
 * GP_ERR_CONFLICT when it does not; GP_ERR_CRYPTO when |key| cannot
 * sign. */
int audit_key_pair_check(EVP_PKEY *key, X509 *cert) GP_WUR;

/* 0 when |cert| may sign checkpoints under |root| at |at_ms|: it chains to
 * |root| (the trust anchor) through |untrusted| (may be NULL) valid at
 * that time, carries AUDIT_EKU_OID, critical, and, if it has a key usage,
 * digitalSignature. Fills |out_spki| with SHA-256 of its
 * SubjectPublicKeyInfo. GP_ERR_TAMPERED with a detail saying which check
 * failed. */
int audit_cert_check(X509 *cert, STACK_OF(X509) *untrusted, X509 *root,
    int64_t at_ms, uint8_t out_spki[32]) GP_WUR;

/* One DER certificate from |der|, all |len| bytes of it (nothing
 * trailing); GP_ERR_INVALID naming |what| otherwise. */
int audit_cert_der(const uint8_t *der, size_t len, const char *what,
    X509 **out) GP_WUR;

/* SHA-256 of |cert|'s DER SubjectPublicKeyInfo. */
int audit_spki_sha256(X509 *cert, uint8_t out[32]) GP_WUR;
/* The same in lower-case hex, as "audit.key" records name a key, into
 * |out|, for messages: "?" when |cert| is NULL or it cannot be computed. */
void audit_spki_hex(X509 *cert, char out[65]);

/* 0 when |cp|'s signature verifies with |pub| over the signing input
 * above, GP_ERR_TAMPERED when it does not, GP_ERR_CRYPTO when the key
 * cannot verify at all. */
int audit_checkpoint_verify_sig(EVP_PKEY *pub,
    const struct store_checkpoint *cp) GP_WUR;

/* How much earlier than its checkpoint a time-stamp may read: genTime and
 * the checkpoint's time come from clocks read at different precisions. */
#define AUDIT_TST_SLACK_MS 1000

/* Checks a time-stamp token over a checkpoint signature for
 * audit_verify(): 0 when |tst| verifies (signed by a TSA under the trust
 * anchor, imprint SHA-256 of |sig|), with its genTime in *out_gen_ms;
 * GP_ERR_TAMPERED with a detail when it does not. */
typedef int (*audit_tst_fn)(void *arg, const uint8_t *tst, size_t tst_len,
    const uint8_t *sig, size_t sig_len, int64_t *out_gen_ms);

struct audit_verify_opts {
	X509 *root;              /* trust anchor of the audit certificates;
	                          * borrowed, required */
	audit_tst_fn tst_check;  /* NULL: time-stamp tokens are not checked
	                          * (only that the chain records them) */
	void *tst_arg;
};

struct audit_report {
	int64_t records;
	int64_t checkpoints;
	int64_t last_checkpoint_seq;
	int64_t unsealed;        /* records after the last checkpoint */
	int64_t keys;            /* audit keys in effect, in turn (1 + key
	                          * changes sealed by the key they replace) */
	int64_t timestamped;     /* checkpoints whose token was checked */
	int64_t certificates;    /* certificate rows cross-checked */
	int64_t witnessed;       /* witnessed heads found in the chain */
	int64_t adopted_seq;     /* 0, or the record that adopted the first
	                          * audit key (audit_key_adopt): the
	                          * checkpoints before it were made by that
	                          * key while the chain did not name it, and
	                          * only the operator's word anchors them */
	int64_t first_bad_seq;   /* 0 when the log verifies; else >= 1, the
	                          * first position where it stops verifying
	                          * (a forged record before seq 1: 1; a record
	                          * that is missing, as for a certificate row
	                          * without its record or a witnessed head the
	                          * chain no longer reaches: the record after
	                          * the last one) */
	char bad_serial[68];     /* the certificate row at fault, or "" */
	char reason[512];        /* why, naming the record or checkpoint */
};

/*
 * Verifies, with memory bounded for any log size:
 *   1. the chain: every record's seq, prev_hash and hash; every
 *      "audit.checkpoint" record matches its checkpoint (and its token);
 *      every "audit.key" record's certificate passes audit_cert_check()
 *      under o->root at the record's time;
 *   2. every checkpoint: signed by the audit key in effect (the first
 *      "audit.key" record's, then each key change's once a checkpoint
 *      signed by the previous key covers it; a checkpoint before the
 *      first record only when that record is an adoption, reported in
 *      out->adopted_seq), never going backwards,
 *      recorded in the chain, and its time-stamp token, when it has one,
 *      verifies through o->tst_check and is not earlier than the
 *      checkpoint (less one second of clock granularity);
 *   3. every certificate row of the store has its "cert.issue" record,
 *      and its status is the one its last "cert.revoke"/"cert.hold"/
 *      "cert.release" record set ("good" when there is none); its status
 *      history (store_cert_history_scan) and its status records match
 *      one to one, in order: each event has the record written with it
 *      (same change, time, reason, invalidity date) and each record its
 *      event, and the row's state (status, revocation time, reason,
 *      invalidity date) is the one its last event set. Records from
 *      before the history existed state no time and have no event, but
 *      the state the last of them left (held or revoked) must be the
 *      history's first event, which the schema upgrade wrote, within
 *      2 s of that record.
 * Returns 0 when everything verifies, GP_ERR_TAMPERED with |out| naming
 * the first bad record (or the certificate) and the reason, or another
 * error when it could not read the log. Safe while other threads or
 * processes append: checkpoints made after it started are not checked.
 *
 * Detected: a changed, deleted, inserted or reordered record (in the
 * unsealed tail only while its hashes are left as they were); a chain
 * rewritten consistently up to a checkpoint (it no longer matches the
 * signature); a checkpoint deleted while its record is kept, replaced or
 * re-signed; records deleted from the tail while a checkpoint covering
 * them is kept; a log re-signed with any key whose certificate does not
 * chain to o->root with the audit EKU (an attacker's own key, certificate
 * and root); a certificate row inserted or (un)revoked without its record,
 * or whose record was deleted (from the unsealed tail too); a
 * status-history event added, deleted or changed (with or without the
 * row), or a status record deleted from the unsealed tail with the chain
 * after it recomputed.
 * Not detectable from the database alone: deleting, or rewriting with the
 * hashes recomputed, the records after the last checkpoint's record (no
 * signature covers them yet; the server checkpoints at start and every
 * audit.checkpoint_s while any are unsealed), and a rollback to an earlier
 * checkpoint (the later records and checkpoints deleted): the log then
 * looks like one that stopped there. A witness catches that
 * (audit_verify_witnessed()).
 */
int audit_verify(store *st, const struct audit_verify_opts *o,
    struct audit_report *out) GP_WUR;

/* After audit_verify() returned 0 with |rep|: checks that the chain holds
 * record |seq| with hash |hash|, a head an independent witness saw
 * (|what| names it in the reason: "head seq 42 seen 2026-...").
 * Returns 0 and counts it in rep->witnessed; GP_ERR_TAMPERED with
 * rep->first_bad_seq and rep->reason set when the record is missing (the
 * log was rolled back past it) or has another hash (rewritten or forked). */
int audit_verify_witnessed(store *st, int64_t seq, const uint8_t hash[32],
    const char *what, struct audit_report *rep) GP_WUR;

/* The report as JSON, the same object for `govpki audit verify --json`
 * and GET /api/v1/audit/verify: {"verified":bool, "records", "checkpoints",
 * "last_checkpoint_seq", "unsealed", "keys", "timestamped",
 * "certificates", "witnessed", "adopted_seq", "first_bad_seq" (0 when
 * verified),
 * "bad_serial" (null unless a certificate row is at fault), "reason" (""
 * when verified)}. New reference; NULL on allocation failure. */
json_t *audit_report_json(const struct audit_report *rep, int verified);

/* |time_ms| as a JSON string in UTC ISO 8601 with milliseconds
 * ("2026-11-22T10:00:00.123Z"); JSON null when it cannot be formatted. */
json_t *audit_time_json(int64_t time_ms);

/* The JSON object of a stored record: seq, time (UTC ISO 8601 with ms),
 * time_ms, the text fields (null when absent), details (the parsed JSON,
 * or the raw text if it does not parse, or null) and prev_hash and hash in
 * hex. New reference; NULL on allocation failure or NULL |row|. */
json_t *audit_row_json(const struct store_audit_row *row);

#endif /* GOVPKI_AUDIT_H */
