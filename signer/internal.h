/*
 * internal.h: what the files of signer/ share.
 */
#ifndef GOVPKI_SIGNER_INTERNAL_H
#define GOVPKI_SIGNER_INTERNAL_H

#include <openssl/cms.h>
#include <openssl/ocsp.h>

#include "signer/signer.h"

struct sig_rule {
	char *profile;
	char *role;
	char *organization;
};

struct sig_step {
	char *name;
	int optional;
	int repeatable;
	struct sig_rule *rules;
	size_t rules_len;
};

struct sig_policy {
	char *name;
	int require_timestamp;
	struct sig_step *steps;
	size_t steps_len;
};

/* 1 when every field |ru| gives matches. */
int sig_rule_match(const struct sig_rule *ru, const char *profile,
    const char *role, const char *organization);

/* The step attribute's OID object (static, never freed). */
const ASN1_OBJECT *sig_step_obj(void);

/* The step name of |si| into |buf| ("" when none); GP_ERR_INVALID when
 * the attribute is malformed. */
int sig_si_step(CMS_SignerInfo *si, char *buf, size_t len) GP_WUR;

/* The claimed signing-time of |si| in Unix seconds, or -1. */
int64_t sig_si_signing_time(CMS_SignerInfo *si);

/* Parses DER |der| as a SignedData ContentInfo, refusing trailing bytes
 * and more than SIG_MAX_SIGNERS SignerInfos. */
int sig_cms_parse(const uint8_t *der, size_t len, CMS_ContentInfo **out)
    GP_WUR;

/* ASN1_TIME to Unix seconds; -1 when it does not convert. */
int64_t sig_asn1_time(const ASN1_TIME *t);

/* What one outside source (a CRL file, OCSP, a fetched CRL) says about a
 * certificate; sig_status_at.c turns it into the one event it stands for
 * and has ca_status.c judge it at the time of signing, as it judges the
 * store's history. */
enum sig_state {
	SIG_ST_UNKNOWN = 0,
	SIG_ST_GOOD,
	SIG_ST_REVOKED              /* revoked or on hold (certificateHold) */
};
struct sig_status {
	enum sig_state state;
	int64_t rev_time;           /* SIG_ST_REVOKED: Unix seconds */
	int reason;                 /* RFC 5280 CRLReason, -1 when none */
	int64_t invalidity_date;    /* RFC 5280 5.3.2; 0 when none */
	char source[300];           /* "crl file", "ocsp URL", ... */
	char why[600];              /* SIG_ST_UNKNOWN: why, naming the URL */
};

/* What |crl| says about |x| issued by |issuer|, for a signature made at
 * |t| (a proven time, or -1 when unproven): 1 with *out set when the CRL
 * is |issuer|'s (name and signature), is a complete CRL for |x|, and
 * either lists |x| or covers the time (RFC 5280 6.3.3: issued after |t|,
 * else still current); 0 when it says nothing. */
int sig_status_crl(X509_CRL *crl, X509 *x, X509 *issuer, int64_t t,
    struct sig_status *out);

/* Checks |rep|, the bytes an OCSP responder at |url| sent back for |req|
 * (which asks about |id| with a nonce): an OCSPResponse in DER with no
 * trailing bytes, signed by the issuer of |id| or a responder it
 * certified (RFC 6960 4.2.2.2, with a path in |chain| and |tr->anchors|),
 * echoing |req|'s nonce or else carrying a nextUpdate, answering for |id|
 * and current. 0 with *out GOOD or REVOKED; else a GP_ERR_* with the
 * detail naming |url|, and *out UNKNOWN. |rep| is untrusted (plain HTTP):
 * only a response signed as above can give GOOD or REVOKED. */
int sig_ocsp_check(const struct sig_trust *tr, STACK_OF(X509) *chain,
    OCSP_REQUEST *req, OCSP_CERTID *id, const char *url, const uint8_t *rep,
    size_t rep_len, struct sig_status *out) GP_WUR;

/* Checks |der|, a CRL fetched from |url| (untrusted: plain HTTP): DER with
 * no trailing bytes, |issuer|'s name and signature, thisUpdate not in the
 * future, nextUpdate in the future, then what sig_status_crl() says about
 * |x| for a signature made at |t|. 0 with *out GOOD or REVOKED; else a
 * GP_ERR_* with the detail naming |url|, and *out UNKNOWN. With |cache|
 * (only for bytes just fetched from |url|), a CRL that passed the issuer
 * and date checks is kept in the process-wide CRL cache for |url|. */
int sig_crl_check(X509 *x, X509 *issuer, const char *url, int64_t t,
    const uint8_t *der, size_t der_len, int cache, struct sig_status *out)
    GP_WUR;

/* Online status of |x| (sig_status.c), whose path to the trust anchors
 * verified (|issuer| is the next certificate of that path): OCSP at the
 * first http:// URL of its authorityInfoAccess, then the http:// CRL
 * distribution points, each only when |tr->fetch_allow| allows it. *out
 * is SIG_ST_UNKNOWN with |why| naming every URL tried and what failed
 * when no answer verified (for |tr->anonymous|, "status unavailable",
 * the detail going to the log). Never follows a URL of a certificate
 * outside a verified path. */
void sig_status_fetch(const struct sig_trust *tr, STACK_OF(X509) *chain,
    X509 *x, X509 *issuer, int64_t t, struct sig_status *out);

/* 1 when |url| may be fetched: it starts with an entry of
 * |tr->fetch_allow| that is a URL (at a path boundary: the entry ends in
 * '/', or the URL goes on with '/', '?' or ends), or its host equals an
 * entry that is a host name (case-insensitive). 0 for an empty list. */
int sig_fetch_allowed(const struct sig_trust *tr, const char *url);

/*
 * Verification, split by job. sig_verify.c runs, per SignerInfo, the
 * checks below in order (each returns 0 or a negative GP_ERR_* with the
 * detail set, and writes facts into struct sig_one), then sig_report.c
 * writes the JSON report from the results and facts.
 *
 *   sig_digest.c     the document's digests (struct sig_doc)
 *   sig_check.c      signature value, message digest, content type,
 *                    signing-certificate-v2, key usage for documents
 *   sig_path.c       the path to the trust anchors at a time
 *   sig_status_at.c  a certificate's status at a time, from the store's
 *                    history, a CRL file or an online answer
 *   sig_ts.c         the signature time-stamp and its TSA at genTime
 *   sig_policy.c     the approval policy over all signers
 *   sig_report.c     the JSON report
 */

/* The checks of one SignerInfo, in the order they run and are reported;
 * the names are the report's "checks" keys. */
enum sig_ck {
	SIG_CK_STEP,                /* "step" */
	SIG_CK_CERTIFICATE,         /* "certificate" */
	SIG_CK_CONTENT_TYPE,        /* "content_type" */
	SIG_CK_SIGNATURE,           /* "signature" */
	SIG_CK_MESSAGE_DIGEST,      /* "message_digest" */
	SIG_CK_SIGNING_CERT,        /* "signing_certificate" */
	SIG_CK_TIMESTAMP,           /* "timestamp" */
	SIG_CK_CHAIN,               /* "chain" */
	SIG_CK_KEY_USAGE,           /* "key_usage" */
	SIG_CK_STATUS,              /* "status" */
	SIG_CK_STATUS_CA,           /* "status_ca" */
	SIG_CK_COUNT_
};
const char *sig_ck_name(enum sig_ck ck);

/* A check's result: r is SIG_CK_NOT_RUN, 0, or the GP_ERR_* it returned
 * with its detail in |why|. */
#define SIG_CK_NOT_RUN 1
struct sig_ck_res {
	int r;
	char why[700];
};
/* Records |r| (and, when negative, the current error detail) as the
 * result of a check. */
void sig_ck_set(struct sig_ck_res *res, int r);

#define SIG_MAX_CA_SOURCES 4

/* The status of a certificate and of the CAs of its verified path at one
 * time (sig_status_path()). */
struct sig_path_status {
	struct sig_ck_res leaf;     /* the certificate's own status */
	struct sig_ck_res ca;       /* its CAs' (unknown counts as good) */
	char source[300];           /* the certificate's source; "" unknown */
	int64_t later;              /* revoked or held after the time: since
	                             * when; -1 */
	int revoked;                /* revoked, at any time */
	int reason;                 /* the revocation's CRLReason, -1 */
	char ca_sources[SIG_MAX_CA_SOURCES][300];
	size_t ca_sources_len;
};

/* The time a status is judged at: |t| proven (a time-stamp's genTime) or
 * not (|proven| 0: the present time, as nothing proves an earlier one),
 * and its name in messages ("the time of signing"). */
struct sig_when {
	int64_t t;
	int proven;
	const char *label;
};

/* What verification shares across the checks of one SignedData. */
struct sig_vctx {
	const struct sig_trust *tr;
	STACK_OF(X509) *untrusted;  /* the SignedData's and the given ones */
	CMS_ContentInfo *cms;
	int64_t now;
};

/* One SignerInfo as verified: the results of its checks and the facts
 * the report shows. */
struct sig_one {
	size_t index;               /* 1-based */
	struct sig_ck_res ck[SIG_CK_COUNT_];
	const char *digest;         /* the digest algorithm's name */
	char step[SIG_MAX_STEP + 1];
	int64_t claimed;            /* the signing-time attribute, -1 */
	char *subject;              /* RFC 2253; NULL without a certificate */
	char *serial;
	char *organization;         /* the subject's O (policy rules) */
	char *profile;              /* from the store only (policy rules) */
	char *role;
	int has_attrs;              /* signed attributes present */
	int ess;                    /* signing-certificate(-v2) present */
	int has_ts;                 /* a signature time-stamp present */
	int64_t time;               /* the time-stamp's genTime when it
	                             * verified, else -1 (unproven) */
	char ts_time[32], ts_serial[72], ts_tsa[256], ts_source[300];
	struct sig_path_status status;
	int valid;                  /* every check run passed */
};
void sig_one_clear(struct sig_one *o);

/* The document's digests, one per algorithm used by a SignerInfo
 * (sig_digest.c). */
struct sig_doc {
	const EVP_MD *md[SIG_MAX_MDS];
	uint8_t val[SIG_MAX_MDS][EVP_MAX_MD_SIZE];
	size_t n;
	int only_digest;            /* a digest under md[0] was given */
};
/* Hashes the document of |rq| (a file streamed, bytes, or the attached
 * content) once with every digest algorithm the SignerInfos of |cms| use,
 * or takes the given digest. GP_ERR_INVALID naming what is missing. */
int sig_doc_hash(const struct sig_verify_req *rq, CMS_ContentInfo *cms,
    struct sig_doc *d) GP_WUR;
/* The digest of the document under |md|, or NULL. */
const uint8_t *sig_doc_get(const struct sig_doc *d, const EVP_MD *md);
/* The digest algorithm of |si|, or NULL when unknown. */
const EVP_MD *sig_si_md(CMS_SignerInfo *si);

/* sig_check.c. Each returns 0 or a negative GP_ERR_* naming what failed.
 *
 * The eContentType (RFC 5652 5.2) of a document signature is id-data
 * (RFC 5652 4), or one of |tr->content_types|; with signed attributes, content-type
 * must equal it (RFC 5652 11.1). */
int sig_check_content_type(const struct sig_trust *tr, CMS_ContentInfo *cms,
    CMS_SignerInfo *si) GP_WUR;
/* The message-digest attribute against the document's digest |dv| under
 * |md| (either may be NULL: the reason says which is missing). */
int sig_check_message_digest(CMS_SignerInfo *si, const EVP_MD *md,
    const uint8_t *dv, const struct sig_doc *d) GP_WUR;
/* The signature value over the signed attributes. */
int sig_check_signature(CMS_SignerInfo *si) GP_WUR;
/* Without signed attributes, the signature over the content: its digest
 * |dv| under |md| verified with |pk|. */
int sig_check_signature_noattr(CMS_SignerInfo *si, EVP_PKEY *pk,
    const EVP_MD *md, const uint8_t *dv) GP_WUR;
/* RFC 5035: signing-certificate-v2 (or v1) names |signer|; 0 with
 * *out_present 0 when neither attribute is there. */
int sig_check_ess(CMS_SignerInfo *si, X509 *signer, int *out_present)
    GP_WUR;
/* |x| may sign documents: keyUsage (RFC 5280 4.2.1.3) and extended key
 * usage (RFC 5280 4.2.1.12). */
int sig_check_usage(X509 *x) GP_WUR;

/* sig_path.c: the path from |x| to |tr->anchors| at |at| with
 * |untrusted| intermediates; 0 with the chain (the caller frees it with
 * sk_X509_pop_free) in *out_chain, else GP_ERR_DENIED naming the
 * failure and depth. */
int sig_path_check(const struct sig_trust *tr, X509 *x,
    STACK_OF(X509) *untrusted, int64_t at, STACK_OF(X509) **out_chain)
    GP_WUR;

/* sig_status_at.c: 0 when the store of |tr| holds exactly |x| (the same
 * DER under its serial), with the row in *out (the caller clears it);
 * GP_ERR_NOT_FOUND otherwise. */
int sig_store_cert(const struct sig_trust *tr, X509 *x,
    struct store_cert *out) GP_WUR;
/* The status of |x| and of the CAs of its verified |chain| (NULL when
 * the path did not verify: then only |x|, and nothing is fetched) at
 * |w|, into |out|: the store's history for this instance's certificates,
 * else a given CRL of the issuer, else (fetching on) OCSP or the CRL
 * distribution point, each judged by ca_status.c. out->leaf.r is 0,
 * GP_ERR_CONFLICT (held, revoked or invalid at the time), GP_ERR_NOT_FOUND
 * (unknown), or another error; out->ca.r the first CA's failure (an
 * unknown CA status counts as good). */
void sig_status_path(const struct sig_vctx *vc, STACK_OF(X509) *chain,
    X509 *x, const struct sig_when *w, struct sig_path_status *out);

/* sig_ts.c: the signature time-stamp of |si|, if any: exactly one token,
 * verified with its TSA's path at its genTime, the TSA certificate's
 * status at genTime, its imprint over this SignerInfo's signature value.
 * 0 with o->has_ts 0 when there is none; 0 with o->time = genTime and
 * the ts_* facts when it verifies; else the failure (o->time -1). */
int sig_ts_check(const struct sig_vctx *vc, CMS_SignerInfo *si,
    struct sig_one *o) GP_WUR;

/* sig_policy.c: the approval policy over the verified signers |o|; 0 when
 * satisfied, else GP_ERR_CONFLICT; *out_report (new reference) holds the
 * policy part of the report either way. */
int sig_policy_check(const struct sig_policy *p, const struct sig_one *o,
    size_t n, json_t **out_report) GP_WUR;

/* sig_report.c: one signer's part of the report (new reference). */
json_t *sig_report_signer(const struct sig_one *o);

#endif /* GOVPKI_SIGNER_INTERNAL_H */
