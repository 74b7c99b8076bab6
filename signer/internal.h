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

/* What one source (the store, a CRL file, OCSP, a fetched CRL) says
 * about a certificate; sig_verify.c turns it into the verdict at the time
 * of signing, the same way for every source. */
enum sig_state {
	SIG_ST_UNKNOWN = 0,
	SIG_ST_GOOD,
	SIG_ST_REVOKED              /* revoked or on hold (certificateHold) */
};
struct sig_status {
	enum sig_state state;
	int64_t rev_time;           /* SIG_ST_REVOKED: Unix seconds */
	int reason;                 /* RFC 5280 CRLReason, -1 when none */
	char source[300];           /* "store", "crl file", "ocsp URL", ... */
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
 * distribution points. *out is SIG_ST_UNKNOWN with |why| naming every URL
 * tried and what failed when no answer verified. Never follows a URL of a
 * certificate outside a verified path. */
void sig_status_fetch(const struct sig_trust *tr, STACK_OF(X509) *chain,
    X509 *x, X509 *issuer, int64_t t, struct sig_status *out);

#endif /* GOVPKI_SIGNER_INTERNAL_H */
