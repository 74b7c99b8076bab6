/*
 * kmc/internal.h: what the files of kmc/ share and nothing outside uses.
 *
 *   kmc_ctx.c       the kmc object, the storage key, holders, unwrapping
 *   kmc_issue.c     dual issuance: the signing certificate, its twin and
 *                   the escrowed key in one transaction
 *   kmc_envelope.c  CMS EnvelopedData of a private key: the RFC 7030
 *                   key package for a holder, PKCS#8 PEM for an agent
 *   kmc_release.c   a holder's keys released to the holder (EST
 *                   serverkeygen, and the history after a loss)
 *   kmc_enrol.c     one-time enrolment codes
 *   kmc_recover.c   judicial recovery: request, approval by another
 *                   person, export to a recovery agent
 */
#ifndef GOVPKI_KMC_INTERNAL_H
#define GOVPKI_KMC_INTERNAL_H

#include <pthread.h>

#include "kmc/kmc.h"

struct kmc {
	const struct ca_ctx *ca;
	tok_ctx *tok;
	char *token;
	char *wrap_label;
	EVP_PKEY *seal_key;
	X509 *seal_cert;
	STACK_OF(X509) *seal_chain;
	/* Token calls (key generation, unwrapping) one at a time: a tok_ctx
	 * is not for concurrent use except signing (tokens.h). */
	pthread_mutex_t tok_mu;
};

/* The outcome a failure |code| is recorded with: "denied" for
 * GP_ERR_DENIED and GP_ERR_UNAUTHENTICATED, "failure" otherwise. */
const char *kmc_outcome(int code);

/* Records the failure |code| of |op| on |object| (the thread's error
 * detail as its "reason", |details| taken and may be NULL) through
 * audit_log, keeps the detail and returns |code|. */
int kmc_audit_fail(kmc *k, const struct ca_actor *who, const char *op,
    const char *object, int code, json_t *details);


/* Lower-case hex of |len| bytes into |out| (2 * |len| + 1 bytes). */
void kmc_hex(const uint8_t *in, size_t len, char *out);
/* Hex SHA-256 of |len| bytes, of |key|'s DER SubjectPublicKeyInfo, into
 * |out| (65 bytes). */
int kmc_sha256_hex(const void *in, size_t len, char out[65]) GP_WUR;
int kmc_spki_hex(EVP_PKEY *key, char out[65]) GP_WUR;

/* EnvelopedData(SignedData(AsymmetricKeyPackage(|priv|))) to |transport|
 * (named by its subjectKeyIdentifier), signed with the kmc's seal (RFC
 * 7030 4.4.2, RFC 5958 4). GP_ERR_CONFIG without a seal. *out is
 * freed with OPENSSL_free. */
int kmc_env_keypkg(const kmc *k, EVP_PKEY *priv, EVP_PKEY *transport,
    uint8_t **out, size_t *out_len) GP_WUR;

/* EnvelopedData of |priv| as PKCS#8 PEM text to |agent| (issuer and
 * serial). *out is freed with OPENSSL_free. */
int kmc_env_pem(EVP_PKEY *priv, X509 *agent, uint8_t **out,
    size_t *out_len) GP_WUR;

/* The pair whose signing certificate is |sign_serial|, that certificate
 * good and within its validity now (what a holder authenticates with),
 * and, when |out_cert| is not NULL, its row (the caller clears both).
 * GP_ERR_UNAUTHENTICATED naming what is wrong. */
int kmc_signing_pair(kmc *k, const char *sign_serial, struct store_pair *pair,
    struct store_cert *out_cert) GP_WUR;

#endif /* GOVPKI_KMC_INTERNAL_H */
