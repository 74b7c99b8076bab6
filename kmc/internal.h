/*
 * kmc/internal.h: what the files of kmc/ share and nothing outside uses.
 *
 *   kmc_ctx.c       the kmc object, the storage key, holders, unwrapping
 *   kmc_issue.c     dual issuance: the signing certificate, its twin and
 *                   the escrowed key in one transaction
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

/* The audit event of |who|. */
void kmc_event(struct audit_event *ev, const struct ca_actor *who,
    const char *op, const char *object, const char *outcome,
    json_t *details);

/* Hex SHA-256 of |key|'s DER SubjectPublicKeyInfo into |out| (65 bytes). */
int kmc_spki_hex(EVP_PKEY *key, char out[65]) GP_WUR;

#endif /* GOVPKI_KMC_INTERNAL_H */
