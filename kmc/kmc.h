/*
 * kmc.h: the key management centre (KMC) and the life of a holder's USB
 * key (GM/T 0034, GB/T 25056 dual certificates): every holder of an
 * enterprise or citizen certificate has a signing certificate, whose key
 * the USB key generated and never gives up, and an encryption
 * certificate (the profile's "encryption_twin"), whose RSA key pair the
 * KMC generates, escrows and delivers, so that what was encrypted to it
 * (sealed bids, filings) can be recovered when the USB key is lost or a
 * court orders it.
 *
 * Keys: the KMC's storage key is an AES-256 key on the instance token,
 * sensitive and never extractable (tok_wrapkey_gen). Each encryption key
 * pair is generated on the token and its private key wrapped out at once
 * under the storage key (RFC 5649, tok_wrapped_keygen); the store keeps
 * only that blob (kmc_keys, append-only), never the key in the clear. A
 * key leaves the KMC only enveloped (CMS EnvelopedData) to a key its
 * recipient holds, by three paths, each audited:
 *   - the holder's own key, to the holder (EST serverkeygen, RFC 7030
 *     4.4.2), authenticated by the signing certificate of its pair;
 *   - the holder's earlier keys, to a new USB key after a loss
 *     (kmc_history_release), so that old documents still decrypt;
 *   - one holder's keys to a recovery agent's certificate, requested by
 *     one officer and approved by another person (judicial recovery).
 * Releasing unwraps the key into memory for the envelope (SoftHSM 2.6
 * cannot envelope on the token) and wipes it after.
 *
 * Holders: "uscc:<unified social credit code>" for legal persons,
 * "idn:<hex SHA-256 of the resident ID number>" for natural persons (the
 * number itself is not repeated in the KMC's rows).
 *
 * Every entry point audits its own success and failure (outcome "denied"
 * for GP_ERR_DENIED and GP_ERR_UNAUTHENTICATED, "failure" otherwise); a
 * state change and its records commit in one store transaction. Threads:
 * a kmc may be used from several threads; its token operations are
 * serialised.
 */
#ifndef GOVPKI_KMC_H
#define GOVPKI_KMC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "audit/audit.h"
#include "ca/ca.h"
#include "core/core.h"
#include "store/store.h"
#include "tokens/tokens.h"

/* The label of the storage key on the instance token. */
#define KMC_WRAP_LABEL "kmc-storage"
/* The algorithm of the KMC's encryption keys. */
#define KMC_KEY_ALGO TOK_ALGO_RSA_2048
/* Holder identities: "uscc:" + 18 characters, or "idn:" + 64 hex. */
#define KMC_HOLDER_MAX 80

typedef struct kmc kmc;

/* What a kmc works with; all borrowed, and they must outlive it. */
struct kmc_conf {
	const struct ca_ctx *ca;   /* profiles, store, audit, the CA keys */
	tok_ctx *tok;              /* the instance token, logged in */
	const char *token;         /* its label */
	const char *wrap_label;    /* NULL: KMC_WRAP_LABEL */
	/* The seal that signs the key packages of serverkeygen (RFC 7030
	 * 4.4.2 with RFC 5958 4: the party that generated the key signs),
	 * its certificate and the chain towards the root; NULL: releases to
	 * holders are refused (GP_ERR_CONFIG). */
	EVP_PKEY *seal_key;
	X509 *seal_cert;
	STACK_OF(X509) *seal_chain;
};

/* Checks that the storage key exists on the token and is sensitive and
 * not extractable (GP_ERR_CONFIG naming it otherwise; GP_ERR_NOT_FOUND
 * when it is missing: kmc_storage_key_create() makes it). The caller
 * frees *out with kmc_free(), which accepts NULL. */
int kmc_new(const struct kmc_conf *conf, kmc **out) GP_WUR;
void kmc_free(kmc *k);

/* Generates the storage key |label| on |token| (tok_wrapkey_gen): at
 * `govpki init`, or, for an instance made before the KMC, by the server
 * at its first start (which records "kmc.key.generate"). GP_ERR_EXISTS
 * when it exists. */
int kmc_storage_key_create(tok_ctx *tok, const char *token,
    const char *label) GP_WUR;

/* The holder of |subject| under signing profile |profile| (validated as
 * issuance validates it), into |out| (KMC_HOLDER_MAX bytes).
 * GP_ERR_INVALID naming the field, or the profile when it has no
 * encryption twin or stores neither a USCC nor an ID number. */
int kmc_holder_of(const struct ca_ctx *ca, const char *profile,
    json_t *subject, char *out, size_t len) GP_WUR;

/* A dual issuance: the signing certificate from the holder's PKCS#10
 * request (proof of possession) and its encryption twin for a new key
 * pair of the KMC, both under the validated |subject|. */
struct kmc_enroll_req {
	const char *op;            /* the audit operation of the whole:
	                            * "est.enroll", "est.reenroll" ... */
	const char *profile;       /* a signing profile with a twin */
	json_t *subject;           /* borrowed */
	const char *csr_pem;       /* PEM CERTIFICATE REQUEST */
	size_t csr_len;
	const char *enrolment_id;  /* the one-time code this uses up in the
	                            * same transaction, or NULL */
	const char *renews;        /* the signing certificate renewed, or
	                            * NULL */
};

struct kmc_enroll_result {
	char sign_serial[68];
	char enc_serial[68];
	char holder[KMC_HOLDER_MAX];
	uint8_t *sign_der;         /* free() */
	size_t sign_der_len;
	uint8_t *enc_der;
	size_t enc_der_len;
};
void kmc_enroll_result_clear(struct kmc_enroll_result *res);

/* Issues the pair and escrows the key, all or nothing: in one store
 * transaction the enrolment code is used up (when given: GP_ERR_CONFLICT
 * when it was used already or expired, then nothing is kept), both
 * certificate rows with their "cert.issue" records, the pair, the
 * wrapped key with its "kmc.key.escrow" record, and the |req->op|
 * success record. A signature made for a transaction that failed is
 * recorded as abandoned (ca_issue_job_free). GP_ERR_INVALID naming the
 * field for a bad request (the CSR, the subject); audited under
 * |req->op| (the issuance's own refusals also as "cert.issue"). */
int kmc_enroll(kmc *k, const struct ca_actor *who,
    const struct kmc_enroll_req *req, struct kmc_enroll_result *res)
    GP_WUR;

/* Renewal (EST simplereenroll) by the holder of signing certificate
 * |sign_serial| (authenticated by the caller, TLS): the row must be a
 * good signing certificate of a pair within its validity
 * (GP_ERR_UNAUTHENTICATED otherwise), and the request's subject the
 * certificate's (RFC 7030 4.2.2; GP_ERR_INVALID naming csr.subject). A
 * new pair is issued as kmc_enroll() does ("est.reenroll", naming the
 * certificate renewed), for the same profile and subject fields, with a
 * new escrowed encryption key: the old ones stay in the holder's history
 * and the old certificates valid until they expire. */
int kmc_renew(kmc *k, const struct ca_actor *who, const char *sign_serial,
    const char *csr_pem, size_t csr_len, struct kmc_enroll_result *res)
    GP_WUR;

/* The wrapped private key of encryption certificate |serial|, unwrapped
 * into memory (*out, which the caller frees with EVP_PKEY_free as soon as
 * it is used). Audits nothing: only this module's release paths and the
 * tests call it. GP_ERR_NOT_FOUND for a certificate without an escrowed
 * key, GP_ERR_TAMPERED for a blob that does not unwrap. */
int kmc_key_unwrap(kmc *k, const char *serial, EVP_PKEY **out) GP_WUR;

/*
 * One-time enrolment codes (kmc_enrol.c).
 */
#define KMC_CODE_VALID_S (72 * 3600)        /* default: three days */
#define KMC_CODE_MAX_VALID_S (30 * 86400)

struct kmc_code {
	char id[33];                 /* the enrolment's id (32 hex) */
	char code[32];               /* XXXX-XXXX-XXXX-XXXX-XXXX-XXXX */
	int64_t expires_ms;
	char holder[KMC_HOLDER_MAX];
};

/* Creates a code for |subject| (validated against |profile|, which must
 * have an encryption twin) valid for |valid_s| seconds (0: the default;
 * 1 to KMC_CODE_MAX_VALID_S): 120 random bits of Crockford base32, kept
 * as SHA-256 only, with its "kmc.enrol.create" record (never the code) in
 * one transaction. The code in |out| is shown once; the caller wipes it.
 * GP_ERR_INVALID naming the field. Audited on failure too. */
int kmc_enrol_create(kmc *k, const struct ca_actor *who, const char *profile,
    json_t *subject, int64_t valid_s, struct kmc_code *out) GP_WUR;

/* The open enrolment of |code| (dashes and case ignored, O read as 0, I
 * and L as 1). GP_ERR_UNAUTHENTICATED saying why otherwise: not a code,
 * unknown, used already or expired (then |out| still names the enrolment,
 * for the refusal's record; the caller clears |out| in every case).
 * Audits nothing: the caller records the attempt. */
int kmc_enrol_find(kmc *k, const char *code, struct store_enrolment *out)
    GP_WUR;

/*
 * Releases to the holder (kmc_release.c). |sign_serial| is the signing
 * certificate the holder authenticated with (TLS): its store row must be
 * good and within its validity, and be the signing half of a pair.
 * |csr_pem| is a PKCS#10 request signed by the transport key the
 * envelope is made to (proof of possession): RSA, 2048 bits or more.
 */
struct kmc_released {
	char serial[68];             /* the encryption certificate */
	uint8_t *env;                /* EnvelopedData DER (RFC 7030 4.4.2) */
	size_t env_len;
	uint8_t *cert;               /* the encryption certificate, DER */
	size_t cert_len;
};
/* Frees the buffers of one; kmc_released_free() an array of |len|. */
void kmc_released_clear(struct kmc_released *r);
void kmc_released_free(struct kmc_released *list, size_t len);

/* EST serverkeygen: the pair's encryption key as EnvelopedData(
 * SignedData(AsymmetricKeyPackage)) signed by the kmc's seal, and its
 * certificate; "kmc.key.release" recorded (durable) before returning.
 * GP_ERR_UNAUTHENTICATED for a certificate that may not have it,
 * GP_ERR_INVALID naming csr for a bad request. The caller clears |out|
 * with kmc_released_clear(). */
int kmc_release(kmc *k, const struct ca_actor *who, const char *sign_serial,
    const char *csr_pem, size_t csr_len, struct kmc_released *out) GP_WUR;

/* After a loss: every earlier key of the holder of |sign_serial| (all but
 * its pair's own), enveloped as kmc_release() does, in the order they
 * were escrowed; "kmc.key.restore" recorded with their serials. Zero keys
 * is a success (*out_len 0). Free with kmc_released_free(). */
int kmc_history_release(kmc *k, const struct ca_actor *who,
    const char *sign_serial, const char *csr_pem, size_t csr_len,
    struct kmc_released **out, size_t *out_len) GP_WUR;

/*
 * Judicial recovery under dual control (kmc_recover.c).
 */

/* Records a request of |who| (a person) to export every escrowed key of
 * |holder| ({"uscc": ...} or {"id_number": ...}, checked) to the recovery
 * agent's certificate |agent_pem| (one PEM certificate, valid now, RSA of
 * 2048 bits or more, its key usage allowing keyEncipherment when it has
 * one), with |reason| (1 to 256 characters of text: the court order), and
 * its "kmc.recovery.request" record, in one transaction; its id (32 hex)
 * into |out_id|. GP_ERR_NOT_FOUND when the KMC holds no key of the
 * holder; GP_ERR_INVALID naming the field. */
int kmc_recovery_request(kmc *k, const struct ca_actor *who, json_t *holder,
    const char *agent_pem, size_t agent_len, const char *reason,
    char out_id[33]) GP_WUR;

/* The request |id| as JSON (id, status, holder, agent subject and SHA-256
 * fingerprint, reason, requester, created_ms, decided_by): what an
 * approver approves. Reads only. */
int kmc_recovery_get(kmc *k, const char *id, json_t **out) GP_WUR;

/* Approves pending request |id| as |who|, who must be another person
 * than the requester (ca_person_same; GP_ERR_DENIED otherwise, recorded),
 * and returns {"id","status","holder","keys":[{"serial","status",
 * "certificate" (PEM),"envelope" (base64 DER EnvelopedData of the
 * PKCS#8 PEM key to the agent)}]}. The decision and its
 * "kmc.recovery.export" record (requester and approver, both persons)
 * commit together; GP_ERR_CONFLICT when it was decided already. */
int kmc_recovery_approve(kmc *k, const struct ca_actor *who, const char *id,
    json_t **out) GP_WUR;

/* Refuses pending request |id| with |reason| ("kmc.recovery.refuse");
 * anyone may, the requester too. GP_ERR_CONFLICT when decided already. */
int kmc_recovery_refuse(kmc *k, const struct ca_actor *who, const char *id,
    const char *reason) GP_WUR;

#endif /* GOVPKI_KMC_H */
