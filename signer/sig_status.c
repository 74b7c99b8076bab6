/*
 * sig_status.c: what a CRL or an OCSP responder says about a certificate
 * from another CA, for signature verification (sig_verify.c decides what
 * it means at the time of signing).
 *
 * sig_status_crl() reads one CRL, given as a file or fetched. With
 * fetching on (|sig_trust.fetch|), sig_status_fetch() asks the OCSP
 * responder of the certificate's authorityInfoAccess (RFC 6960: a request
 * with a nonce; the reply must be signed by the issuer or by a responder
 * the issuer certified for id-kp-OCSPSigning, answer this CertID and be
 * current), and when that gives no answer, fetches the CRL of its
 * cRLDistributionPoints (RFC 5280 4.2.1.13: DER, signed by the issuer,
 * nextUpdate in the future). Only http:// URLs, no redirects, every
 * request bounded in time and size (core's gp_http_request()).
 *
 * The caller only asks for a certificate whose path to the trust anchors
 * verified, so every URL fetched was signed into a certificate by a CA
 * the relying party trusts, and only URLs the configuration allows
 * (verify.fetch_allow: URL prefixes or host names; none allowed when it
 * is empty) are fetched: the public verify endpoint cannot be used to
 * make govpki connect anywhere else. For an anonymous caller
 * (|sig_trust.anonymous|) what failed is logged, and the report says only
 * "status unavailable".
 *
 * The fetched bytes are anyone's on the path: sig_ocsp_check() and
 * sig_crl_check() judge them apart from the fetch, so that
 * tests/fuzz/fuzz_status_reply.c can feed them any input.
 *
 * Fetched CRLs are kept in a small process-wide cache keyed by URL until
 * their nextUpdate; each use checks them against the issuer again.
 */
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "signer/internal.h"

#define SIG_FETCH_TIMEOUT_MS 3000
#define SIG_OCSP_MAX_BYTES (1024 * 1024)
#define SIG_FETCH_MAX_URLS 4        /* tried per certificate, in all */
#define SIG_URL_MAX 255
#define SIG_CLOCK_SKEW_S 300
#define SIG_CRL_CACHE_SLOTS 8
#define SIG_CRL_CACHE_MAX_DER (2 * 1024 * 1024) /* larger ones: no cache */

/* RFC 5280 5.3.1 reason code of an entry, or -1. */
static int
sig_revoked_reason(X509_REVOKED *rv)
{
	ASN1_ENUMERATED *e;
	int crit, reason = -1;

	e = X509_REVOKED_get_ext_d2i(rv, NID_crl_reason, &crit, NULL);
	if (e != NULL)
		reason = (int)ASN1_ENUMERATED_get(e);
	ASN1_ENUMERATED_free(e);
	return reason;
}

/* RFC 5280 5.3.2 invalidity date of a CRL entry (or of an OCSP
 * SingleResponse: RFC 6960 4.4.5, CRL entry extensions are
 * singleExtensions), Unix seconds, or 0. Frees |g|. */
static int64_t
sig_invalidity(ASN1_GENERALIZEDTIME *g)
{
	int64_t t = g != NULL ? sig_asn1_time(g) : 0;

	ASN1_GENERALIZEDTIME_free(g);
	return t > 0 ? t : 0;
}

int
sig_status_crl(X509_CRL *crl, X509 *x, X509 *issuer, int64_t t,
    struct sig_status *out)
{
	EVP_PKEY *ipk = X509_get0_pubkey(issuer);
	X509_REVOKED *rv = NULL;
	ISSUING_DIST_POINT *idp;
	int crit, ca, ret = 0;

	if (ipk == NULL || X509_NAME_cmp(X509_CRL_get_issuer(crl),
	    X509_get_subject_name(issuer)) != 0 ||
	    X509_CRL_verify(crl, ipk) != 1)
		goto out;
	/* RFC 5280 5.2.4: a delta CRL lists only changes since its base. */
	if (X509_CRL_get_ext_by_NID(crl, NID_delta_crl, -1) >= 0)
		goto out;
	/* RFC 5280 5.2.5: a CRL limited to some reasons, indirect, or to
	 * the other kind of certificate does not cover |x|. */
	idp = X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, &crit,
	    NULL);
	if (idp == NULL && crit != -1)
		goto out;
	if (idp != NULL) {
		ca = X509_check_ca(x) != 0;
		if (idp->onlysomereasons != NULL || idp->indirectCRL ||
		    idp->onlyattr || (idp->onlyuser && ca) ||
		    (idp->onlyCA && !ca)) {
			ISSUING_DIST_POINT_free(idp);
			goto out;
		}
		ISSUING_DIST_POINT_free(idp);
	}
	if (X509_CRL_get0_by_cert(crl, &rv, x) == 1 && rv != NULL) {
		out->state = SIG_ST_REVOKED;
		out->rev_time = sig_asn1_time(
		    X509_REVOKED_get0_revocationDate(rv));
		out->reason = sig_revoked_reason(rv);
		out->invalidity_date = sig_invalidity(X509_REVOKED_get_ext_d2i(
		    rv, NID_invalidity_date, NULL, NULL));
		ret = 1;
		goto out;
	}
	/* RFC 5280 6.3.3: the CRL must cover the time of signing (proven),
	 * else the present. */
	if (t >= 0 ? sig_asn1_time(X509_CRL_get0_lastUpdate(crl)) >= t :
	    sig_asn1_time(X509_CRL_get0_nextUpdate(crl)) >
	    (int64_t)time(NULL)) {
		out->state = SIG_ST_GOOD;
		ret = 1;
	}
out:
	ERR_clear_error();
	return ret;
}

/* The CRL cache: a few fetched CRLs by URL, each until its nextUpdate. */
struct sig_crl_slot {
	char *url;
	X509_CRL *crl;
	int64_t expires;            /* Unix seconds */
	int64_t used;               /* gp_mono_ms of the last use */
};
static struct sig_crl_slot sig_crl_cache[SIG_CRL_CACHE_SLOTS];
static pthread_mutex_t sig_crl_mu = PTHREAD_MUTEX_INITIALIZER;

/* A new reference to the cached CRL of |url|, or NULL. */
static X509_CRL *
sig_crl_cache_get(const char *url)
{
	X509_CRL *crl = NULL;
	size_t i;

	pthread_mutex_lock(&sig_crl_mu);
	for (i = 0; i < SIG_CRL_CACHE_SLOTS; i++) {
		struct sig_crl_slot *s = &sig_crl_cache[i];

		if (s->url == NULL || strcmp(s->url, url) != 0)
			continue;
		if (s->expires > (int64_t)time(NULL) &&
		    X509_CRL_up_ref(s->crl)) {
			crl = s->crl;
			s->used = gp_mono_ms();
		}
		break;
	}
	pthread_mutex_unlock(&sig_crl_mu);
	return crl;
}

/* Keeps |crl| (a new reference is taken) for |url| until |expires|,
 * replacing the entry of the same URL, else a free, expired or the least
 * recently used one. */
static void
sig_crl_cache_put(const char *url, X509_CRL *crl, int64_t expires)
{
	struct sig_crl_slot *s = NULL;
	int64_t now = (int64_t)time(NULL);
	char *u;
	size_t i;

	if ((u = strdup(url)) == NULL)
		return;
	pthread_mutex_lock(&sig_crl_mu);
	for (i = 0; i < SIG_CRL_CACHE_SLOTS && s == NULL; i++) {
		if (sig_crl_cache[i].url != NULL &&
		    strcmp(sig_crl_cache[i].url, url) == 0)
			s = &sig_crl_cache[i];
	}
	for (i = 0; i < SIG_CRL_CACHE_SLOTS && s == NULL; i++) {
		if (sig_crl_cache[i].url == NULL ||
		    sig_crl_cache[i].expires <= now)
			s = &sig_crl_cache[i];
	}
	if (s == NULL) {
		s = &sig_crl_cache[0];
		for (i = 1; i < SIG_CRL_CACHE_SLOTS; i++) {
			if (sig_crl_cache[i].used < s->used)
				s = &sig_crl_cache[i];
		}
	}
	if (X509_CRL_up_ref(crl)) {
		free(s->url);
		X509_CRL_free(s->crl);
		s->url = u;
		u = NULL; /* transferred */
		s->crl = crl;
		s->expires = expires;
		s->used = gp_mono_ms();
	}
	pthread_mutex_unlock(&sig_crl_mu);
	free(u);
}

/* Appends "; " and |fmt| to out->why. */
static void
sig_why_add(struct sig_status *out, const char *fmt, ...) GP_PRINTF(2, 3);

static void
sig_why_add(struct sig_status *out, const char *fmt, ...)
{
	size_t n = strlen(out->why);
	va_list ap;

	if (n > 0 && n + 2 < sizeof(out->why)) {
		memcpy(out->why + n, "; ", 3);
		n += 2;
	}
	if (n + 1 >= sizeof(out->why))
		return;
	va_start(ap, fmt);
	vsnprintf(out->why + n, sizeof(out->why) - n, fmt, ap);
	va_end(ap);
}

static int64_t
sig_fetch_timeout(const struct sig_trust *tr)
{
	return tr->fetch_timeout_ms > 0 ? tr->fetch_timeout_ms :
	    SIG_FETCH_TIMEOUT_MS;
}

static size_t
sig_fetch_max(const struct sig_trust *tr)
{
	return tr->fetch_max_bytes > 0 ? tr->fetch_max_bytes :
	    SIG_FETCH_MAX_BYTES;
}

int
sig_ocsp_check(const struct sig_trust *tr, STACK_OF(X509) *chain,
    OCSP_REQUEST *req, OCSP_CERTID *id, const char *url, const uint8_t *rep,
    size_t rep_len, struct sig_status *out)
{
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
	X509_STORE *xs = NULL;
	const unsigned char *p;
	int r = GP_ERR_INTERNAL, st, reason = -1, nonce, i;

	ENSURE(rep_len <= LONG_MAX, gp_err_set(GP_ERR_INVALID,
	    "%s: the reply is too large", url));
	p = rep;
	resp = d2i_OCSP_RESPONSE(NULL, &p, (long)rep_len);
	ENSURE(resp != NULL && p == rep + rep_len, gp_err_set(GP_ERR_INVALID,
	    "%s: the reply is not an OCSPResponse", url));
	st = OCSP_response_status(resp);
	ENSURE(st == OCSP_RESPONSE_STATUS_SUCCESSFUL, gp_err_set(GP_ERR_IO,
	    "%s: the responder answered %s", url,
	    OCSP_response_status_str(st)));
	ENSURE((bs = OCSP_response_get1_basic(resp)) != NULL,
	    gp_err_set(GP_ERR_INVALID, "%s: not a basic OCSP response", url));
	ENSURE((xs = X509_STORE_new()) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < sk_X509_num(tr->anchors); i++)
		(void)X509_STORE_add_cert(xs, sk_X509_value(tr->anchors, i));
	/* RFC 6960 4.2.2.2: the signer is the issuer itself, or a
	 * responder the issuer certified with id-kp-OCSPSigning, with a
	 * path to the trust anchors. OCSP_NOEXPLICIT: a responder that is
	 * neither is refused, even under a trusted root. */
	ENSURE(OCSP_basic_verify(bs, chain, xs, OCSP_NOEXPLICIT) == 1,
	    gp_err_ssl(GP_ERR_TAMPERED, "%s: the response is not signed by "
	    "the issuer or a responder it authorised (RFC 6960 4.2.2.2)",
	    url));
	/* 1: echoed; -1: in the request only, the responder sends no nonce
	 * (pre-produced responses, RFC 5019 2.2), which nextUpdate must then
	 * bound below. 0 is another nonce; 2 and 3 (none in the request)
	 * cannot happen with sig_ocsp_ask()'s request. */
	nonce = OCSP_check_nonce(req, bs);
	ENSURE(nonce == 1 || nonce == -1, gp_err_set(GP_ERR_TAMPERED,
	    "%s: the response carries another nonce than the request's "
	    "(replayed?)", url));
	ENSURE(OCSP_resp_find_status(bs, id, &st, &reason, &rev, &thisupd,
	    &nextupd) == 1, gp_err_set(GP_ERR_INVALID, "%s: the response "
	    "does not answer for this certificate (CertID)", url));
	ENSURE(nonce == 1 || nextupd != NULL, gp_err_set(GP_ERR_TAMPERED,
	    "%s: the response echoes no nonce and has no nextUpdate, so its "
	    "age is unbounded", url));
	/* RFC 6960 4.2.2.1: thisUpdate not in the future, nextUpdate (when
	 * given) not in the past, with some clock skew. */
	ENSURE(OCSP_check_validity(thisupd, nextupd, SIG_CLOCK_SKEW_S, -1) ==
	    1, gp_err_ssl(GP_ERR_INVALID, "%s: the response is not current "
	    "(thisUpdate/nextUpdate)", url));
	switch (st) {
	case V_OCSP_CERTSTATUS_GOOD:
		out->state = SIG_ST_GOOD;
		break;
	case V_OCSP_CERTSTATUS_REVOKED:
		out->state = SIG_ST_REVOKED;
		out->rev_time = sig_asn1_time(rev);
		out->reason = reason >= 0 ? reason : -1;
		ENSURE(out->rev_time >= 0, gp_err_set(GP_ERR_INVALID,
		    "%s: bad revocationTime", url));
		i = OCSP_resp_find(bs, id, -1);
		out->invalidity_date = i < 0 ? 0 : sig_invalidity(
		    OCSP_SINGLERESP_get1_ext_d2i(OCSP_resp_get0(bs, i),
		    NID_invalidity_date, NULL, NULL));
		break;
	case V_OCSP_CERTSTATUS_UNKNOWN:
	default:
		r = gp_err_set(GP_ERR_NOT_FOUND, "%s: the responder does not "
		    "know the certificate", url);
		goto out;
	}
	snprintf(out->source, sizeof(out->source), "ocsp %s", url);
	r = 0;
out:
	if (r != 0)
		out->state = SIG_ST_UNKNOWN;
	ERR_clear_error();
	X509_STORE_free(xs);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	return r;
}

/* RFC 6960: asks |url| about |x|; 0 with *out GOOD or REVOKED, else a
 * GP_ERR_* with the detail naming the URL and what failed. */
static int
sig_ocsp_ask(const struct sig_trust *tr, STACK_OF(X509) *chain, X509 *x,
    X509 *issuer, const char *url, struct sig_status *out)
{
	OCSP_REQUEST *req = NULL;
	OCSP_CERTID *id = NULL, *rid = NULL;
	struct gp_http_req hr;
	unsigned char *der = NULL;
	uint8_t *rep = NULL;
	size_t rep_len = 0, max;
	int r = GP_ERR_INTERNAL, len;

	/* RFC 6960 4.1.1: the CertID names the issuer by the hashes of its
	 * name and key; SHA-1 is what every responder matches (RFC 5019
	 * 2.1.1). */
	ENSURE((req = OCSP_REQUEST_new()) != NULL &&
	    (id = OCSP_cert_to_id(EVP_sha1(), x, issuer)) != NULL &&
	    (rid = OCSP_CERTID_dup(id)) != NULL, GP_ERR_NOMEM);
	ENSURE(OCSP_request_add0_id(req, rid) != NULL, GP_ERR_NOMEM);
	rid = NULL; /* transferred */
	/* RFC 8954 / RFC 6960 4.4.1: a nonce binds the reply to this
	 * request. */
	ENSURE(OCSP_request_add1_nonce(req, NULL, -1) == 1 &&
	    (len = i2d_OCSP_REQUEST(req, &der)) > 0,
	    gp_err_ssl(GP_ERR_CRYPTO, "%s: building the request", url));
	max = sig_fetch_max(tr);
	memset(&hr, 0, sizeof(hr));
	hr.method = "POST";
	hr.url = url;
	hr.content_type = "application/ocsp-request";
	hr.accept = "application/ocsp-response";
	hr.body = der;
	hr.body_len = (size_t)len;
	hr.max = max < SIG_OCSP_MAX_BYTES ? max : SIG_OCSP_MAX_BYTES;
	hr.timeout_ms = sig_fetch_timeout(tr);
	GUARD(gp_http_request(&hr, &rep, &rep_len));
	r = sig_ocsp_check(tr, chain, req, id, url, rep, rep_len, out);
out:
	if (r != 0)
		out->state = SIG_ST_UNKNOWN;
	ERR_clear_error();
	OCSP_CERTID_free(rid);
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	OPENSSL_free(der);
	free(rep);
	return r;
}

/* Checks |crl| (from |url|, fetched now or cached) against |issuer| and
 * says what it says about |x|. With |cache|, a CRL that is the issuer's
 * and current is kept in the cache for |url|: only for a CRL just fetched
 * from |url|. */
static int
sig_crl_use(X509_CRL *crl, X509 *x, X509 *issuer, const char *url,
    int64_t t, int cache, struct sig_status *out)
{
	EVP_PKEY *ipk = X509_get0_pubkey(issuer);
	int64_t now = (int64_t)time(NULL), next, last;
	int r = GP_ERR_INTERNAL;

	ENSURE(X509_NAME_cmp(X509_CRL_get_issuer(crl),
	    X509_get_subject_name(issuer)) == 0, gp_err_set(GP_ERR_INVALID,
	    "%s: the CRL is not the issuer's (another issuer name)", url));
	ENSURE(ipk != NULL && X509_CRL_verify(crl, ipk) == 1,
	    gp_err_set(GP_ERR_TAMPERED, "%s: the CRL's signature does not "
	    "verify with the issuer's key", url));
	last = sig_asn1_time(X509_CRL_get0_lastUpdate(crl));
	next = sig_asn1_time(X509_CRL_get0_nextUpdate(crl));
	ENSURE(last >= 0 && last <= now + SIG_CLOCK_SKEW_S,
	    gp_err_set(GP_ERR_INVALID, "%s: the CRL's thisUpdate is in the "
	    "future", url));
	/* A fetched CRL must be current: an old one may lack a revocation
	 * (and plain HTTP lets anyone replay one). */
	ENSURE(next > now, gp_err_set(GP_ERR_INVALID, "%s: the CRL is out "
	    "of date (no nextUpdate, or nextUpdate passed)", url));
	if (cache)
		sig_crl_cache_put(url, crl, next);
	ENSURE(sig_status_crl(crl, x, issuer, t, out) == 1,
	    gp_err_set(GP_ERR_INVALID, "%s: the CRL does not cover the "
	    "certificate (a delta or partitioned CRL) or the time of "
	    "signing", url));
	snprintf(out->source, sizeof(out->source), "crl %s", url);
	r = 0;
out:
	if (r != 0)
		out->state = SIG_ST_UNKNOWN;
	ERR_clear_error();
	return r;
}

int
sig_crl_check(X509 *x, X509 *issuer, const char *url, int64_t t,
    const uint8_t *der, size_t der_len, int cache, struct sig_status *out)
{
	X509_CRL *crl = NULL;
	const unsigned char *p;
	int r = GP_ERR_INTERNAL;

	ENSURE(der_len <= LONG_MAX, gp_err_set(GP_ERR_INVALID,
	    "%s: the CRL is too large", url));
	p = der;
	crl = d2i_X509_CRL(NULL, &p, (long)der_len);
	ENSURE(crl != NULL && p == der + der_len,
	    gp_err_set(GP_ERR_INVALID, "%s: not a DER CRL", url));
	r = sig_crl_use(crl, x, issuer, url, t,
	    cache && der_len <= SIG_CRL_CACHE_MAX_DER, out);
out:
	if (r != 0)
		out->state = SIG_ST_UNKNOWN;
	ERR_clear_error();
	X509_CRL_free(crl);
	return r;
}

/* RFC 5280 4.2.1.13: the DER CRL at |url| (or the cached one); 0 with
 * *out GOOD or REVOKED, else a GP_ERR_* with the detail naming the URL
 * and what failed. */
static int
sig_crl_ask(const struct sig_trust *tr, X509 *x, X509 *issuer,
    const char *url, int64_t t, struct sig_status *out)
{
	X509_CRL *crl = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;
	int r = GP_ERR_INTERNAL;

	if ((crl = sig_crl_cache_get(url)) != NULL) {
		r = sig_crl_use(crl, x, issuer, url, t, 0, out);
		goto out;
	}
	GUARD(gp_http_get(url, NULL, sig_fetch_max(tr), sig_fetch_timeout(tr),
	    &der, &der_len));
	r = sig_crl_check(x, issuer, url, t, der, der_len, 1, out);
out:
	if (r != 0)
		out->state = SIG_ST_UNKNOWN;
	ERR_clear_error();
	X509_CRL_free(crl);
	free(der);
	return r;
}

/* An http:// URL short enough to send, else NULL. */
static const char *
sig_http_url(const char *url)
{
	if (url == NULL || strncmp(url, "http://", 7) != 0 ||
	    strlen(url) > SIG_URL_MAX)
		return NULL;
	return url;
}

int
sig_fetch_allowed(const struct sig_trust *tr, const char *url)
{
	const char *h, *a, *e;
	size_t hl, n, i;

	if (tr == NULL || url == NULL || strncmp(url, "http://", 7) != 0)
		return 0;
	h = url + 7;
	if (*h == '[')
		hl = (e = strchr(h, ']')) != NULL ? (size_t)(e - h) + 1 : 0;
	else
		hl = strcspn(h, ":/?#");
	for (i = 0; tr->fetch_allow != NULL && i < tr->fetch_allow_len; i++) {
		if ((a = tr->fetch_allow[i]) == NULL || (n = strlen(a)) == 0)
			continue;
		if (strstr(a, "://") != NULL) {
			/* A prefix ends at a path boundary, so that
			 * "http://ocsp.example" does not allow
			 * "http://ocsp.example.evil/" or "...@evil/". */
			if (strncmp(url, a, n) == 0 && (a[n - 1] == '/' ||
			    url[n] == '\0' || url[n] == '/' || url[n] == '?'))
				return 1;
			continue;
		}
		if (hl > 0 && n == hl && strncasecmp(h, a, hl) == 0)
			return 1;
	}
	return 0;
}

/* Records in out->why that |kind| |url| gave no status: the error
 * detail, or, for an anonymous caller, "status unavailable" with the
 * detail in the log (connection errors say things about the network the
 * caller need not learn). */
static void
sig_fetch_failed(const struct sig_trust *tr, struct sig_status *out,
    const char *kind, const char *url)
{
	if (tr->anonymous) {
		gp_log(GP_LOG_WARN, "verify: status from %s %s unavailable: %s",
		    kind, url, gp_err_detail());
		sig_why_add(out, "%s %s: status unavailable", kind, url);
	} else {
		sig_why_add(out, "%s %s", kind, gp_err_detail());
	}
}

/* 1 when |url| may be fetched; else says so in out->why. */
static int
sig_fetch_may(const struct sig_trust *tr, struct sig_status *out,
    const char *kind, const char *url)
{
	if (sig_fetch_allowed(tr, url))
		return 1;
	sig_why_add(out, "%s %s: not fetched, verify.fetch_allow does not "
	    "allow it", kind, url);
	return 0;
}

void
sig_status_fetch(const struct sig_trust *tr, STACK_OF(X509) *chain,
    X509 *x, X509 *issuer, int64_t t, struct sig_status *out)
{
	STACK_OF(OPENSSL_STRING) *ocsp = NULL;
	CRL_DIST_POINTS *dps = NULL;
	GENERAL_NAMES *names;
	const char *url;
	int i, j, tried = 0, skipped = 0, denied = 0;

	memset(out, 0, sizeof(*out));
	out->reason = -1;
	if (tr->fetch_allow == NULL || tr->fetch_allow_len == 0) {
		snprintf(out->why, sizeof(out->why), "online fetching is on, "
		    "but verify.fetch_allow (--fetch-allow) allows no URL or "
		    "host, so nothing was fetched");
		goto out;
	}
	ocsp = X509_get1_ocsp(x);
	for (i = 0; ocsp != NULL && i < sk_OPENSSL_STRING_num(ocsp) &&
	    tried < SIG_FETCH_MAX_URLS; i++) {
		if ((url = sig_http_url(sk_OPENSSL_STRING_value(ocsp, i))) ==
		    NULL) {
			skipped++;
			continue;
		}
		if (!sig_fetch_may(tr, out, "ocsp", url)) {
			denied++;
			continue;
		}
		tried++;
		if (sig_ocsp_ask(tr, chain, x, issuer, url, out) == 0)
			goto out;
		sig_fetch_failed(tr, out, "ocsp", url);
	}
	dps = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
	for (i = 0; dps != NULL && i < sk_DIST_POINT_num(dps); i++) {
		DIST_POINT *dp = sk_DIST_POINT_value(dps, i);

		/* A distribution point for some reasons or another CRL
		 * issuer does not give the whole status (RFC 5280 4.2.1.13). */
		if (dp->distpoint == NULL || dp->distpoint->type != 0 ||
		    dp->reasons != NULL || dp->CRLissuer != NULL) {
			skipped++;
			continue;
		}
		names = dp->distpoint->name.fullname;
		for (j = 0; j < sk_GENERAL_NAME_num(names) &&
		    tried < SIG_FETCH_MAX_URLS; j++) {
			GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, j);
			ASN1_IA5STRING *uri = gn->d.uniformResourceIdentifier;

			/* An embedded NUL would cut the URL short. */
			if (gn->type != GEN_URI || memchr(
			    ASN1_STRING_get0_data(uri), '\0',
			    (size_t)ASN1_STRING_length(uri)) != NULL ||
			    (url = sig_http_url((const char *)
			    ASN1_STRING_get0_data(uri))) == NULL) {
				skipped++;
				continue;
			}
			if (!sig_fetch_may(tr, out, "crl", url)) {
				denied++;
				continue;
			}
			tried++;
			if (sig_crl_ask(tr, x, issuer, url, t, out) == 0)
				goto out;
			sig_fetch_failed(tr, out, "crl", url);
		}
	}
	if (tried == 0 && denied == 0)
		sig_why_add(out, "the certificate names no http:// OCSP "
		    "responder or CRL distribution point%s", skipped ?
		    " (only other schemes)" : "");
	out->state = SIG_ST_UNKNOWN;
out:
	ERR_clear_error();
	CRL_DIST_POINTS_free(dps);
	X509_email_free(ocsp);
}
