/*
 * audit/internal.h: what the files of audit/ share: the record hash and the
 * checkpoint signing input defined in audit.h, the signing primitives, and
 * the parsing of "audit.key" records (audit_key.c).
 */
#ifndef GOVPKI_AUDIT_INTERNAL_H
#define GOVPKI_AUDIT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "audit/audit.h"
#include "store/store.h"

#define AUDIT_HASH_DOMAIN "govpki-audit-v1"
#define AUDIT_CP_DOMAIN "govpki-audit-checkpoint-v1"
#define AUDIT_CP_TBS_LEN (sizeof(AUDIT_CP_DOMAIN) - 1 + 8 + 8 + 32)

/* Caps on one record's fields, so a client-supplied string cannot bloat
 * the log: text fields and the details JSON. */
#define AUDIT_MAX_FIELD 4096
#define AUDIT_MAX_DETAILS (64 * 1024)

/* hash(i) of audit.h over |row| (its prev_hash and fields; row->hash is
 * ignored) into |out|. GP_ERR_CRYPTO if the digest fails. */
int audit_chain_hash(const struct store_audit_row *row, uint8_t out[32])
    GP_WUR;

/* The checkpoint signing input of audit.h. */
void audit_chain_tbs(int64_t seq, int64_t time_ms, const uint8_t hash[32],
    uint8_t out[AUDIT_CP_TBS_LEN]);

/* Signs |cp|'s signing input with |key| (EVP_DigestSign with SHA-256 only,
 * so a PKCS#11 key works) and sets cp->sig, cp->sig_len. */
int audit_chain_sign(EVP_PKEY *key, struct store_checkpoint *cp) GP_WUR;

/* A checkpoint being made: the head it seals (cp.seq, cp.hash, filled
 * by the caller), then its signature and time-stamp
 * (audit_cp_draft_sign), then its row and "audit.checkpoint" record in
 * the caller's transaction (audit_cp_draft_record_tx, with the id after
 * |last_id|, the last checkpoint's or 0). audit_checkpoint_stamped()
 * signs outside the write lock; a key change signs inside it, so that
 * the change and the checkpoint sealing it commit together. */
struct audit_cp_draft {
	struct store_checkpoint cp;
	struct audit_stamp ts;
	int stamped;              /* a stamp callback was given */
	char tst_error[256];      /* why it has no token */
};
int audit_cp_draft_sign(struct audit_cp_draft *d, EVP_PKEY *key,
    audit_stamp_fn stamp, void *stamp_arg) GP_WUR;
int audit_cp_draft_record_tx(audit *a, struct audit_cp_draft *d,
    int64_t last_id) GP_WUR;
void audit_cp_draft_clear(struct audit_cp_draft *d);

/* The store |a| writes to. */
store *audit_store(audit *a);

/* In the caller's transaction: audit_append_tx() of the "success" record
 * of |op| on |object| by |actor| in |role| (no request or client), which
 * audit/ writes of its own accord: a checkpoint's, an audit key's.
 * |details| is borrowed. */
int audit_success_tx(audit *a, const char *actor, const char *role,
    const char *op, const char *object, json_t *details) GP_WUR;

/* Decodes the lower- or upper-case hex |hex| into a new buffer of at most
 * |max| bytes; GP_ERR_INVALID naming |what| when it is not hex. */
int audit_unhex(const char *hex, size_t max, const char *what, uint8_t **out,
    size_t *out_len) GP_WUR;

/* One "audit.key" record, checked by audit_key_parse(): the public key of
 * its certificate and SHA-256 of its SubjectPublicKeyInfo. */
struct audit_key {
	int64_t seq;             /* of its record */
	int adopted;             /* an adoption (audit_key_adopt) */
	EVP_PKEY *pub;           /* owned */
	uint8_t spki[32];
};

/* Parses and checks the "audit.key" record |row|: its object and details
 * as audit.h defines them, the certificate's SPKI hash equal to the one
 * stated, and audit_cert_check() under |root| at the record's time. Fills
 * |out| (the caller frees out->pub). GP_ERR_TAMPERED with a detail naming
 * the record when any of it fails. */
int audit_key_parse(const struct store_audit_row *row, X509 *root,
    struct audit_key *out) GP_WUR;

/* 0 when |key| may sign the next checkpoint: the log records no audit key
 * yet, or |key|'s public key is the one in effect (audit_key_in_effect).
 * GP_ERR_CONFLICT naming the record of the key in effect when another
 * process (another node sharing the store) changed the key since this one
 * was checked: a checkpoint signed by |key| would fail verification. */
int audit_key_still_in_effect(store *st, EVP_PKEY *key) GP_WUR;

#endif /* GOVPKI_AUDIT_INTERNAL_H */
