/*
 * audit/internal.h: what the files of audit/ share: the record hash and the
 * checkpoint signing input defined in audit.h, and the signing primitives.
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

/* The operation of the record that seals a checkpoint into the chain. */
#define AUDIT_OP_CHECKPOINT "audit.checkpoint"

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

/* 0 when |cp|'s signature verifies with |pub|, GP_ERR_TAMPERED when it does
 * not, GP_ERR_CRYPTO when the key cannot verify at all. */
int audit_chain_verify_sig(EVP_PKEY *pub, const struct store_checkpoint *cp)
    GP_WUR;

#endif /* GOVPKI_AUDIT_INTERNAL_H */
