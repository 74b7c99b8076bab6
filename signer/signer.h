/*
 * signer.h: CMS/CAdES signatures (RFC 5652, RFC 5035, ETSI EN 319 122-1)
 * and their verification, for documents of any size.
 *
 *   sig_digest.c  streaming digests of files (bounded memory, any size)
 *   sig_sign.c    SignedData with the CAdES B-B signed attributes
 *                 (content-type, message-digest, signing-time,
 *                 signing-certificate-v2), one more SignerInfo added to an
 *                 existing SignedData (approval steps), the B-T signature
 *                 time-stamp as an unsigned attribute
 *   sig_tsp.c     a small RFC 3161 client (request, HTTP POST, reply checks)
 *   sig_verify.c  verification of every SignerInfo with a JSON report,
 *                 its checks in sig_check.c, sig_path.c, sig_status_at.c,
 *                 sig_ts.c and the report in sig_report.c (internal.h)
 *   sig_status.c  certificate status from CRLs and, opt-in, fetched
 *                 online (OCSP, CRL distribution points) for other CAs
 *   sig_policy.c  approval policies (policies/approvals/<name>.json)
 *   sig_b64.c     base64 for the HTTP API
 *
 * The document itself is never handed to OpenSSL's CMS code for a detached
 * signature: it is hashed as a stream here and the digest becomes the
 * message-digest attribute, so signing or verifying a 2 GB file costs a
 * 64 KiB buffer. Keys are used only through EVP (they may live on a
 * PKCS#11 token: a USB key or the HSM).
 */
#ifndef GOVPKI_SIGNER_H
#define GOVPKI_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/core.h"
#include "store/store.h"

/* The signed attribute naming an approval step: a self-assigned OID under
 * the UUID arc 2.25 (X.667), from UUID 0aae21d3-4a49-4ef8-93dc-3dc15ad9068c;
 * value: one UTF8String, the step name. */
#define SIG_OID_STEP "2.25.14196425670883944992945655307950425740"

/* Caps on what a caller or a file controls. */
#define SIG_MAX_P7S (32 * 1024 * 1024)     /* a signature file (DER/PEM) */
#define SIG_MAX_ATTACHED (16 * 1024 * 1024) /* content carried inside it */
#define SIG_MAX_SIGNERS 64                 /* SignerInfos in one SignedData */
#define SIG_MAX_STEP 64                    /* bytes of a step name */
#define SIG_MAX_TSR (256 * 1024)           /* a time-stamp reply */

/* Streaming digest of the file |path| with each of |n| (at most 4)
 * digests at once, in one read pass with a 64 KiB buffer; out[i] receives
 * EVP_MD_get_size(mds[i]) bytes. GP_ERR_IO naming the file. */
#define SIG_MAX_MDS 4
int sig_digest_file(const char *path, const EVP_MD *const *mds, size_t n,
    uint8_t out[][EVP_MAX_MD_SIZE]) GP_WUR;

/* Approval policies (sig_policy.c). A policy names ordered steps; each
 * step says who may sign it (any of its "signers" rules; a rule matches
 * when each of its given fields matches: profile, role, organization),
 * whether it may be skipped ("optional") and repeated ("repeatable"). */
struct sig_policy;

/* Loads |name_or_path|: a path when it contains '/' or ends in ".json",
 * else |dir|/approvals/<name>.json. GP_ERR_CONFIG naming the file and
 * field for a bad policy; GP_ERR_NOT_FOUND naming the file. */
int sig_policy_load(const char *dir, const char *name_or_path,
    struct sig_policy **out) GP_WUR;
void sig_policy_free(struct sig_policy *p);
const char *sig_policy_name(const struct sig_policy *p);
/* The index of step |name| in the policy, or -1. */
int sig_policy_step_index(const struct sig_policy *p, const char *name);

/* Checks that step |next| may follow the steps |done| (in policy order,
 * as read from the SignerInfos already present): it exists, comes after
 * the last one done unless repeating it is allowed, and every step
 * skipped between is optional. GP_ERR_CONFLICT saying which rule. */
int sig_policy_may_add(const struct sig_policy *p, const char *const *done,
    size_t done_len, const char *next) GP_WUR;

/* What signs: all borrowed. */
struct sig_signer {
	EVP_PKEY *key;              /* may live on a token */
	X509 *cert;
	STACK_OF(X509) *chain;      /* issuing CAs to include; may be NULL */
};

#define SIG_MAX_CHAIN 8

/* The issuing CAs of |leaf| found in |pool|, nearest first, up to and not
 * including a self-signed root (the relying party's trust anchor), so
 * that one who holds only the root can build the path from the SignedData
 * (RFC 5652 5.1: certificates "sufficient to contain certification
 * paths"). Stops at SIG_MAX_CHAIN or at the first CA whose issuer is not
 * in |pool|. New stack (empty for a self-signed |leaf|) in *out; free with
 * sk_X509_pop_free. GP_ERR_NOT_FOUND, naming the issuer, when |leaf| is
 * not self-signed and its issuer is not in |pool|. */
int sig_chain_build(X509 *leaf, STACK_OF(X509) *pool, STACK_OF(X509) **out)
    GP_WUR;

/* The certificates a SignedData (DER or PEM) carries, new stack in *out
 * (possibly empty). GP_ERR_INVALID when it is not a SignedData. */
int sig_certs_read(const uint8_t *p7s, size_t p7s_len, STACK_OF(X509) **out)
    GP_WUR;

/* A time-stamp source for B-T. Either |url| (any RFC 3161 service over
 * HTTP) or |fn| (an in-process TSA: gets the TimeStampReq DER, returns a
 * TimeStampResp DER that the caller frees with OPENSSL_free). */
typedef int (*sig_tsa_fn)(void *arg, const uint8_t *req, size_t req_len,
    uint8_t **out_resp, size_t *out_len);
struct sig_tsa {
	const char *url;
	sig_tsa_fn fn;
	void *arg;
};

struct sig_sign_req {
	const struct sig_signer *signer;
	/* The document: its SHA-256 |digest| (detached; the document never
	 * reaches this function), or |content| itself for an attached
	 * signature (at most SIG_MAX_ATTACHED bytes). */
	const uint8_t *digest;
	size_t digest_len;
	const uint8_t *content;
	size_t content_len;
	int attached;
	/* Approval steps: add a SignerInfo to this SignedData (DER or PEM);
	 * its messageDigest must be the same document's. */
	const uint8_t *add_to;
	size_t add_to_len;
	const char *step;           /* the step attribute, or NULL */
	const struct sig_policy *policy; /* checks |step| may be added */
	const struct sig_tsa *tsa;  /* B-T when not NULL */
	int64_t signing_time;       /* Unix seconds; 0: now */
	/* One more signed attribute, or NULL: one UTF8String (at most
	 * SIG_MAX_STEP bytes of text) under the dotted OID |attr_oid| (the
	 * tender a sealed bid is for, tender/tender.h). */
	const char *attr_oid;
	const char *attr_value;
};

/* What sig_sign() made, for the caller's audit record. */
struct sig_sign_info {
	char signer_serial[72];
	char level[8];              /* "B-B" or "B-T" */
	char ts_serial[72];         /* the time-stamp's serial, B-T only */
	int64_t ts_time;            /* its genTime, Unix seconds */
	size_t signers;             /* SignerInfos in the result */
};

/* Signs per |rq| and returns the DER ContentInfo (SignedData) in *out_der
 * (the caller frees it with OPENSSL_free). SHA-256, detached unless
 * |attached|, signer certificate and chain included once each. Returns
 * GP_ERR_INVALID naming the bad field, GP_ERR_CONFLICT when the policy
 * refuses the step, GP_ERR_CRYPTO or GP_ERR_DEVICE when the key fails,
 * GP_ERR_IO when the TSA cannot be reached. |info| may be NULL. */
int sig_sign(const struct sig_sign_req *rq, uint8_t **out_der,
    size_t *out_len, struct sig_sign_info *info) GP_WUR;

/* The steps (step attribute values) of the SignerInfos of |p7s| in the
 * order of their signing times; *out is an array of |*out_len| strings
 * freed with sig_steps_free(). */
int sig_steps_read(const uint8_t *p7s, size_t p7s_len, char ***out,
    size_t *out_len) GP_WUR;
void sig_steps_free(char **steps, size_t len);

/* RFC 3161 client (sig_tsp.c): asks |tsa| for a token over |imprint|
 * (SHA-256) with a fresh nonce and certReq, checks the reply's status,
 * imprint and nonce, and returns the token (ContentInfo DER, freed with
 * OPENSSL_free). The token's signature is checked by the verifier. */
int sig_tsp_stamp(const struct sig_tsa *tsa, const uint8_t *imprint,
    size_t imprint_len, uint8_t **out_token, size_t *out_len) GP_WUR;


/* Verification. Trust and status sources, all borrowed. */
struct sig_trust {
	STACK_OF(X509) *anchors;    /* trust anchors (the instance root) */
	STACK_OF(X509) *untrusted;  /* intermediates; may be NULL */
	store *st;                  /* status history of this instance's
	                             * certificates, and the profile and role
	                             * of its signers; may be NULL */
	STACK_OF(X509_CRL) *crls;   /* CRLs for other CAs; may be NULL */
	const struct sig_policy *policy; /* approval policy, or NULL */
	/* Online status for other CAs' certificates (sig_status.c): only for
	 * a certificate whose path verified to |anchors|, so the URLs come
	 * from certificates a trusted CA signed, and only to the URLs and
	 * hosts of |fetch_allow| (none: nothing is fetched). Off when 0. */
	int fetch;
	const char *const *fetch_allow; /* URL prefixes or host names */
	size_t fetch_allow_len;
	int64_t fetch_timeout_ms;   /* per request; 0: 3000 */
	size_t fetch_max_bytes;     /* per reply; 0: SIG_FETCH_MAX_BYTES */
	/* The report goes to an anonymous caller (POST /api/v1/verify):
	 * why an online status could not be had is "status unavailable"
	 * there, and the detail (connection errors) goes to the log. */
	int anonymous;
	/* eContentTypes accepted for documents besides id-data (dotted
	 * OIDs); may be NULL. */
	const char *const *content_types;
	size_t content_types_len;
};

#define SIG_FETCH_MAX_BYTES (10 * 1024 * 1024)

/* Sets the fields of |tr| that the `verify` section of govpki.json
 * configures: fetch (verify.fetch_revocation), fetch_allow, the fetch
 * bounds and content_types (all borrowed from |cfg|). */
void sig_trust_config(struct sig_trust *tr, const struct gp_config *cfg);

struct sig_verify_req {
	const uint8_t *p7s;         /* the SignedData, DER or PEM */
	size_t p7s_len;
	/* The document, one of: a file streamed from disk, bytes in memory,
	 * or its digest under |digest_md| (signers that used another digest
	 * algorithm then fail with that reason). Attached content, when the
	 * SignedData carries it, is used when none is given. */
	const char *content_path;
	const uint8_t *content;
	size_t content_len;
	const uint8_t *digest;
	size_t digest_len;
	const EVP_MD *digest_md;
	const struct sig_trust *trust;
	int64_t now;                /* Unix seconds; 0: now */
};

/* Verifies every SignerInfo of |rq->p7s| as a document signature: the
 * eContentType (id-data, or one of |trust->content_types|), the
 * signature value, the message digest against the document,
 * signing-certificate-v2, the signature time-stamp (its TSA's path and
 * status at its genTime, its imprint), the path to the trust anchors at
 * the time of signing, the key usage and extended key usage for signing
 * documents, the status at the time of signing (this instance's status
 * history for its own certificates, the given CRLs for others, then, with
 * |trust->fetch|, OCSP and the CRL distribution point, else "status
 * unknown"), and the approval policy (profile and role from the store
 * only). The time of signing is the time-stamp's genTime; without a
 * valid one it is unproven and the status is judged now.
 * Returns 0 when a report was built, in *out_report (new reference):
 *   {"valid":bool, "reasons":[..], "signers":[{"valid":bool,
 *    "reasons":[..], "subject", "serial", "level", "step", "time",
 *    "time_source":"timestamp"|"claimed", "status_source":"store"|
 *    "crl file"|"ocsp URL"|"crl URL", "checks":{...}}], "policy":{..}}
 * and *out_valid 1 only when every signer and the policy verify. A
 * negative GP_ERR_* (GP_ERR_INVALID naming what) when the input is not a
 * SignedData or the document cannot be read: never a crash. */
int sig_verify(const struct sig_verify_req *rq, json_t **out_report,
    int *out_valid) GP_WUR;

/* Reads DER or PEM ("-----BEGIN PKCS7-----" / "CMS") into DER; *out is
 * freed with free(). GP_ERR_INVALID when neither. */
int sig_p7s_der(const uint8_t *in, size_t len, uint8_t **out,
    size_t *out_len) GP_WUR;

/* Base64 (RFC 4648 4, padding required, whitespace ignored). *out is
 * freed with free(); GP_ERR_INVALID naming |field|. */
int sig_b64_decode(const char *field, const char *in, size_t max_out,
    uint8_t **out, size_t *out_len) GP_WUR;
char *sig_b64_encode(const uint8_t *in, size_t len);

#endif /* GOVPKI_SIGNER_H */
