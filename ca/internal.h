/*
 * ca/internal.h: what the issuance files of ca/ share and nothing outside
 * the module uses (the unit test includes it to lint forged certificates):
 * the parsed profile, the self-check, and the helpers that write a state
 * change with its audit record.
 *
 *   ca_profile.c   policies/NAME.json -> struct ca_profile, checked at start
 *   ca_ids.c       USCC and resident ID check characters
 *   ca_lint.c      the self-check of a built, unsigned certificate
 *   ca_csr.c       the PKCS#10 request: parsed, key decoded once, verified
 *   ca_audit.c     the one rule for auditing a failure
 *   ca_subject.c   a request checked against its profile; its subject built
 *   ca_issue.c     the issuance job: build -> lint -> sign -> commit
 *   ca_result.c    what issuance hands out: PEM, names, the audit details
 *   ca_request.c   dual control: pending requests and their approval
 *   ca_revoke.c    revoke, hold, release
 *   ca_status.c    the status at a past time, from the status history
 *   ca_show.c      a stored certificate as JSON
 */
#ifndef GOVPKI_CA_INTERNAL_H
#define GOVPKI_CA_INTERNAL_H

#include <stddef.h>

#include "ca/ca.h"

#define CA_MAX_FIELDS 12
#define CA_MAX_EKU 8
#define CA_MAX_POLICIES 8
#define CA_MAX_FIXED 4
#define CA_MAX_VALUES 8
#define CA_MAX_SAN 16           /* names of each kind in one request */
#define CA_MAX_FIELD_CHARS 128  /* default cap on one subject value */
#define CA_PROFILE_MAX_BYTES 65536

/* Key types a profile may allow, as bits. */
#define CA_KEY_EC_P256 0x01u
#define CA_KEY_EC_P384 0x02u
#define CA_KEY_RSA_2048 0x04u
#define CA_KEY_RSA_3072 0x08u
#define CA_KEY_RSA_4096 0x10u

enum ca_check {
	CA_CHECK_TEXT,          /* any UTF-8 text within max_length */
	CA_CHECK_USCC,          /* ca_uscc_check */
	CA_CHECK_RESIDENT_ID,   /* ca_resident_id_check */
	CA_CHECK_ENUM,          /* one of values[] */
	CA_CHECK_DNS            /* a DNS host name */
};

enum ca_store_col { CA_COL_NONE, CA_COL_USCC, CA_COL_ID_NUMBER, CA_COL_ROLE };

/* One request field -> one subject attribute. */
struct ca_field {
	char *name;             /* JSON key in the request's "subject" */
	char *attribute;        /* OpenSSL name: "O", "organizationIdentifier" */
	int nid;
	int required;
	enum ca_check check;
	char *prefix;           /* put before the value ("NTRCN-"), or NULL */
	size_t max_length;      /* in characters */
	int in_certificate;     /* 0: validated and stored, not in the cert */
	enum ca_store_col store;
	char *values[CA_MAX_VALUES];
	size_t values_len;
};

struct ca_fixed {
	char *attribute;
	int nid;
	char *value;            /* "${instance_name}" is replaced */
	size_t max_length;      /* the attribute's upper bound, in characters */
};

enum ca_san_rule { CA_SAN_FORBIDDEN, CA_SAN_OPTIONAL, CA_SAN_REQUIRED };

struct ca_profile {
	char *name;
	char *file;             /* for error messages */
	char *description;
	int issuer;             /* GP_KEY_CA or GP_KEY_ROOT */
	unsigned int key_types;
	int64_t max_validity_days;
	struct ca_fixed fixed[CA_MAX_FIXED];
	size_t fixed_len;
	struct ca_field fields[CA_MAX_FIELDS];
	size_t fields_len;
	char *cn_from;          /* field whose value is also the CN, or NULL */
	unsigned int key_usage; /* KU_* bits of x509v3.h */
	int key_usage_critical;
	int eku_nid[CA_MAX_EKU];
	size_t eku_len;
	int eku_critical;
	int is_ca;
	int path_len;
	int ocsp_nocheck;
	char *policies[CA_MAX_POLICIES];
	size_t policies_len;
	int crl_dp;
	int aia_ocsp;
	int aia_ca_issuers;
	enum ca_san_rule san_dns;
	enum ca_san_rule san_ip;
	enum ca_san_rule san_email;
	int dual_control;
	char *role_field;       /* field giving the administrative role
	                         * (stored, never read from the subject);
	                         * only with dual_control */
	char *twin;             /* the encryption twin's profile (dual
	                         * certificates, kmc/), or NULL */
};

struct ca_profiles {
	struct ca_profile *p;
	size_t len;
};

/* The OpenSSL v3 text of the profile's key usage and EKU
 * ("critical,digitalSignature,nonRepudiation"); NULL when none. Caller
 * frees. */
char *ca_profile_ku_text(const struct ca_profile *p);
char *ca_profile_eku_text(const struct ca_profile *p);

/* A PKCS#10 request read for issuance (ca_csr.c). */
struct ca_csr;

/* Parses exactly one PEM CERTIFICATE REQUEST of at most CA_MAX_CSR bytes
 * (white space may follow it, nothing else), decodes its key once and
 * verifies its signature with it (RFC 2986 3, proof of possession).
 * GP_ERR_INVALID or GP_ERR_TOO_LARGE with a "csr: ..." detail. Free with
 * ca_csr_free(), which accepts NULL. */
int ca_csr_parse(const char *pem, size_t len, struct ca_csr **out) GP_WUR;
void ca_csr_free(struct ca_csr *csr);
/* The request's public key; borrowed from |csr|. */
EVP_PKEY *ca_csr_key(const struct ca_csr *csr);
/* The request's SubjectPublicKeyInfo as received, when ca_csr_key() was
 * built from exactly those bits (an EC key in uncompressed form): both
 * borrowed, for ca_cert_spec.spki_alg/spki_key. Both NULL otherwise: the
 * key is then encoded from ca_csr_key(). */
void ca_csr_spki(const struct ca_csr *csr, const X509_ALGOR **out_alg,
    const ASN1_BIT_STRING **out_key);

/* The key-type bit of |key|, 0 when the profile grammar has none. */
unsigned int ca_key_type(const EVP_PKEY *key);
const char *ca_key_type_name(unsigned int bit);

/* Checks |cert| (built, not yet signed) against |p| and |issuer| before
 * the CA key signs it: UTF8String names (PrintableString only for C and
 * serialNumber, X.520), validity inside the issuer's (RFC 5280 6.1.3),
 * key usage and EKU exactly the profile's, basic constraints, no
 * duplicate extension (RFC 5280 4.2), AKI matching the issuer's SKI and
 * SKI present, serial positive with 64 to 160 bits. GP_ERR_INTERNAL with
 * a detail "self-check: ..." naming the first failure. */
int ca_cert_lint(X509 *cert, X509 *issuer, const struct ca_profile *p)
    GP_WUR;

/*
 * Auditing failures (ca_audit.c). THE rule of ca/: a failure is audited
 * exactly once, by the public entry point of ca.h that the caller called,
 * at its single exit, under the operation the caller asked for
 * ("cert.issue", "cert.approve", "cert.refuse", "cert.revoke" ...), with
 * outcome "denied" for GP_ERR_DENIED and "failure" for anything else.
 * Everything below an entry point only sets the error and its detail.
 */

/* Appends the failure record of |code| (the thread's error detail as its
 * "reason") through audit_log, with the outcome the rule gives; |details|
 * (taken, may be NULL) adds fields. Never fails the caller's operation: a
 * failure to audit is logged. Keeps the detail and returns |code|. */
int ca_audit_fail(audit *a, const struct ca_actor *who, const char *op,
    const char *object, int code, json_t *details);

/* As ca_audit_fail() with an explicit |outcome|; for ca_revoke.c. */
int ca_audit_refusal(const struct ca_ctx *ca, const struct ca_actor *who,
    const char *op, const char *object, const char *outcome, int code,
    json_t *details);

/* The details of a refusal's record: |details| (or a new object when
 * NULL; the reference is taken) with "error" (the code's name) and
 * "reason" |detail|. NULL only when out of memory. */
json_t *ca_refusal_details(json_t *details, int code, const char *detail);

/* The outcome the rule gives |code|: "denied" or "failure". */
const char *ca_fail_outcome(int code);


/* The end of a state change made in the transaction the caller began on
 * |st| (store_begin): appends its record |ev| (audit_append_tx) and
 * commits both. On failure nothing of the change is kept: the
 * transaction is rolled back (a failed commit leaves none open). Either
 * way the transaction is over when it returns; the caller audits a
 * failure as the rule above says. */
int ca_commit_record(store *st, audit *a, const struct audit_event *ev)
    GP_WUR;

/*
 * Requests (ca_subject.c): everything checked before anything is built,
 * and the subject built from it.
 */

/* The values a validated request yields, borrowed from its JSON; v[i]
 * belongs to the profile's fields[i]. */
struct ca_vals {
	const char *v[CA_MAX_FIELDS];
	const char *uscc;
	const char *id_number;
	const char *role;
	const char *cn;
};

/* Every check of |req| against its profile: profile known, validity, the
 * subject fields, the SAN, the CSR (proof of possession, key type). On
 * success *out_p, |vals|, *out_san (OpenSSL v3 SAN text or NULL; caller
 * frees) and *out_csr (caller frees) are set; on failure nothing is
 * owned. Never audits. */
int ca_request_check(const struct ca_ctx *ca, const struct ca_issue_req *req,
    const struct ca_profile **out_p, struct ca_vals *vals, char **out_san,
    struct ca_csr **out_csr) GP_WUR;

/* The subject of |p| from the validated |vals| (fixed attributes first,
 * then the fields in profile order, then the CN). Caller frees *out. */
int ca_subject_build(const struct ca_ctx *ca, const struct ca_profile *p,
    const struct ca_vals *vals, X509_NAME **out) GP_WUR;

/*
 * Output (ca_result.c).
 */

/* |name| as RFC 2253 text with UTF-8 kept as is; new string or NULL. */
char *ca_name_text(const X509_NAME *name);

/* The PEM text of the DER certificate |der| (RFC 7468); new string or
 * NULL. */
char *ca_pem(const unsigned char *der, size_t len);

/* The request an approval decides, for the "cert.issue" record and the
 * commit that decides it in the same transaction. */
struct ca_approval {
	const char *request_id;
	const char *requester;      /* the requester's actor text */
	const char *approver;       /* the approver's person identity */
};

/* The "cert.issue" audit details: profile, key type, validity end, CN,
 * USCC, the ID number masked (never in full), role, and the request
 * approved. New reference, NULL when out of memory. */
json_t *ca_issue_details(const struct ca_profile *p,
    const struct ca_vals *vals, EVP_PKEY *key,
    const struct ca_approval *approval, int64_t not_after);

/*
 * The issuance job (ca_issue.c), below the entry points: neither audits
 * a failure (the entry point that calls them does).
 */

/* Checks, builds, lints and signs |req|; on success *out_job holds what
 * the commit writes and |res| what may be handed out once it is durable.
 * |approval| (may be NULL) names the request it decides. */
int ca_job_sign(const struct ca_ctx *ca, const struct ca_actor *who,
    const struct ca_issue_req *req, const struct ca_approval *approval,
    struct ca_issue_result *res, ca_issue_job **out_job) GP_WUR;

/* Writes |job| (taken) through audit_apply() and returns once the
 * certificate row, the decision of its request (if any) and its
 * "cert.issue" record are durable, or the error. */
int ca_job_commit(ca_issue_job *job) GP_WUR;

/* Frees |job| without storing or auditing anything. Accepts NULL. */
void ca_job_drop(ca_issue_job *job);

/* The serial |job| signed; borrowed. */
const char *ca_job_serial(const ca_issue_job *job);

/* The validity a certificate of |p| issued at |now| gets: notBefore a
 * minute back but never before the issuer's, notAfter |validity_days|
 * (0: the profile's maximum) later but never after the issuer's. */
void ca_validity(const struct ca_ctx *ca, const struct ca_profile *p,
    int64_t validity_days, int64_t now, int64_t *out_not_before,
    int64_t *out_not_after);

/* Records |req| (checked in full first) as a pending request of |who|
 * with its "cert.request" record, in one transaction; fills |res|
 * (pending, request_id, profile). Never audits a failure
 * (ca_request.c). */
int ca_request_new(const struct ca_ctx *ca, const struct ca_actor *who,
    const struct ca_issue_req *req, struct ca_issue_result *res) GP_WUR;

#endif /* GOVPKI_CA_INTERNAL_H */
