/*
 * tsa_tok.c: the DER of a granted TimeStampResp, written directly. Every
 * token of one TSA differs only in a few fields (serial, genTime, nonce,
 * imprint, policy, the certificates when certReq is set, the signing time,
 * the digest and the signature), so the constant parts are encoded once by
 * tsa_tok_init() with OpenSSL's own encoders (policy OIDs, Accuracy, the
 * TSA name, the RFC 5816 signingCertificateV2 attribute with its
 * ESSCertIDv2, the signer's IssuerAndSerialNumber and algorithms, the
 * certificates) and tsa_tok_build() only copies them around the variable
 * fields and signs. This replaces a TS_RESP_CTX and an ASN.1 object tree
 * per request. The shape is the one OpenSSL's TS_RESP_create_response()
 * produces, field for field:
 *
 *   TimeStampResp { status { granted }, ContentInfo { signedData,
 *     SignedData { version 3, digestAlgorithms { md }, encapContentInfo
 *       { id-ct-TSTInfo, [0] OCTET STRING TSTInfo }, [0] certificates
 *       (certReq only: the TSA certificate, then the chain), signerInfos {
 *       SignerInfo { version 1, issuerAndSerialNumber, md, [0] signedAttrs
 *       { contentType, signingTime, messageDigest, signingCertificateV2 },
 *       signatureAlgorithm, signature } } } } }
 *   TSTInfo { version 1, policy, messageImprint, serialNumber, genTime,
 *     accuracy, nonce (when asked), tsa [0] directoryName }
 *
 * tsa_tok_init() ends with a self-check: one token is built, parsed and
 * re-encoded by OpenSSL (it must come out byte for byte the same, so the
 * encoding is DER as OpenSSL writes it) and its signature verified, so a
 * TSA whose tokens would not verify never starts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "tsa/internal.h"

/* Object identifiers, as DER TLVs. */
static const uint8_t tsa_oid_signed_data[] = {   /* 1.2.840.113549.1.7.2 */
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02};
static const uint8_t tsa_oid_tst_info[] = { /* 1.2.840.113549.1.9.16.1.4 */
	0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10,
	0x01, 0x04};
static const uint8_t tsa_oid_content_type[] = {  /* 1.2.840.113549.1.9.3 */
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03};
static const uint8_t tsa_oid_message_digest[] = { /* ...1.9.4 */
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04};
static const uint8_t tsa_oid_signing_time[] = {  /* ...1.9.5 */
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05};
static const uint8_t tsa_oid_signing_cert_v2[] = { /* ...1.9.16.2.47 */
	0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10,
	0x02, 0x2f};
/* PKIStatusInfo { status granted(0) } */
static const uint8_t tsa_status_granted[] = {0x30, 0x03, 0x02, 0x01, 0x00};
/* INTEGER 1 and INTEGER 3: TSTInfo/SignerInfo and SignedData versions. */
static const uint8_t tsa_int_1[] = {0x02, 0x01, 0x01};
static const uint8_t tsa_int_3[] = {0x02, 0x01, 0x03};

/*
 * A growing DER buffer. tsa_der_open() writes a tag and a one-byte length
 * placeholder and returns where the contents start; tsa_der_close() writes
 * the length, moving the contents when it needs the long form. Closing an
 * element only moves bytes after its own tag, so the offsets of enclosing
 * elements stay valid. The first failure sticks in |err|.
 */
struct tsa_der {
	uint8_t *p;
	size_t len;
	size_t cap;
	int err;
};

static int
tsa_der_reserve(struct tsa_der *d, size_t n)
{
	size_t ncap;
	uint8_t *np;

	if (d->err)
		return 0;
	if (n <= d->cap - d->len)
		return 1;
	ncap = d->cap != 0 ? d->cap : 256;
	while (ncap - d->len < n) {
		if (ncap > TSA_TOK_MAX) {
			d->err = 1;
			return 0;
		}
		ncap *= 2;
	}
	if ((np = OPENSSL_realloc(d->p, ncap)) == NULL) {
		d->err = 1;
		return 0;
	}
	d->p = np;
	d->cap = ncap;
	return 1;
}

static void
tsa_der_put(struct tsa_der *d, const void *s, size_t n)
{
	if (n == 0 || !tsa_der_reserve(d, n))
		return;
	memcpy(d->p + d->len, s, n);
	d->len += n;
}

static void
tsa_der_byte(struct tsa_der *d, uint8_t b)
{
	tsa_der_put(d, &b, 1);
}

static size_t
tsa_der_open(struct tsa_der *d, uint8_t tag)
{
	tsa_der_byte(d, tag);
	tsa_der_byte(d, 0);
	return d->len;
}

static void
tsa_der_close(struct tsa_der *d, size_t start)
{
	size_t n, k, i;

	if (d->err)
		return;
	n = d->len - start;
	if (n < 0x80) {
		d->p[start - 1] = (uint8_t)n;
		return;
	}
	for (k = 1; k < sizeof(size_t) && (n >> (8 * k)) != 0; k++)
		continue;
	if (!tsa_der_reserve(d, k))
		return;
	memmove(d->p + start + k, d->p + start, n);
	d->p[start - 1] = (uint8_t)(0x80 | k);
	for (i = 0; i < k; i++)
		d->p[start + i] = (uint8_t)(n >> (8 * (k - 1 - i)));
	d->len += k;
}

/* A primitive TLV of |n| bytes. */
static void
tsa_der_prim(struct tsa_der *d, uint8_t tag, const uint8_t *s, size_t n)
{
	size_t at = tsa_der_open(d, tag);

	tsa_der_put(d, s, n);
	tsa_der_close(d, at);
}

static void
tsa_buf_free(struct tsa_buf *b)
{
	OPENSSL_free(b->p);
	b->p = NULL;
	b->len = 0;
}

/* Moves what an OpenSSL i2d wrote into |der| (|n| its result) to |out|. */
static int
tsa_buf_take(struct tsa_buf *out, unsigned char *der, int n, const char *what)
{
	if (n <= 0 || der == NULL) {
		OPENSSL_free(der);
		return gp_err_ssl(GP_ERR_CRYPTO, "tsa: encoding the %s", what);
	}
	out->p = der;
	out->len = (size_t)n;
	return 0;
}

/* Moves what |d| holds to |out|; the caller still frees d->p (NULL once
 * moved). */
static int
tsa_buf_from_der(struct tsa_buf *out, struct tsa_der *d, const char *what)
{
	if (d->err || d->len == 0)
		return gp_err_set(GP_ERR_NOMEM, "tsa: encoding the %s", what);
	out->p = d->p;
	out->len = d->len;
	d->p = NULL; /* transferred */
	return 0;
}

void
tsa_tok_free(tsa *t)
{
	size_t i;

	for (i = 0; i < TSA_MAX_POLICIES; i++)
		tsa_buf_free(&t->tok.policy[i]);
	tsa_buf_free(&t->tok.accuracy);
	tsa_buf_free(&t->tok.tsa_name);
	tsa_buf_free(&t->tok.ess_attr);
	tsa_buf_free(&t->tok.md_alg);
	tsa_buf_free(&t->tok.sig_alg);
	tsa_buf_free(&t->tok.sid);
	tsa_buf_free(&t->tok.certs);
}

/* RFC 3161 2.4.2 Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL,
 * millis [0] INTEGER (1..999) OPTIONAL, micros [1] INTEGER (1..999)
 * OPTIONAL }: each part present only when not zero, as OpenSSL's
 * TS_RESP_CTX_set_accuracy() writes it. */
static int
tsa_tok_accuracy(tsa *t)
{
	const struct gp_config *cfg = t->cfg;
	TS_ACCURACY *acc = NULL;
	ASN1_INTEGER *v[3] = {NULL, NULL, NULL};
	int64_t parts[3];
	unsigned char *der = NULL;
	int r = GP_ERR_INTERNAL, i, n;

	parts[0] = cfg->tsa_accuracy_s;
	parts[1] = cfg->tsa_accuracy_ms;
	parts[2] = cfg->tsa_accuracy_us;
	ENSURE(parts[0] >= 0 && parts[0] <= INT32_MAX && parts[1] >= 0 &&
	    parts[1] <= 999 && parts[2] >= 0 && parts[2] <= 999,
	    gp_err_set(GP_ERR_CONFIG, "tsa.accuracy: seconds, 0 to 999 "
	    "milliseconds and 0 to 999 microseconds"));
	ENSURE((acc = TS_ACCURACY_new()) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < 3; i++) {
		if (parts[i] == 0)
			continue;
		ENSURE((v[i] = ASN1_INTEGER_new()) != NULL &&
		    ASN1_INTEGER_set_int64(v[i], parts[i]) == 1, GP_ERR_NOMEM);
	}
	ENSURE((v[0] == NULL || TS_ACCURACY_set_seconds(acc, v[0]) == 1) &&
	    (v[1] == NULL || TS_ACCURACY_set_millis(acc, v[1]) == 1) &&
	    (v[2] == NULL || TS_ACCURACY_set_micros(acc, v[2]) == 1),
	    GP_ERR_NOMEM);
	n = i2d_TS_ACCURACY(acc, &der);
	GUARD(tsa_buf_take(&t->tok.accuracy, der, n, "accuracy"));
	r = 0;
out:
	for (i = 0; i < 3; i++)
		ASN1_INTEGER_free(v[i]);
	TS_ACCURACY_free(acc);
	return r;
}

/* RFC 3161 2.4.2 tsa [0] GeneralName: the directoryName of the TSA
 * certificate's subject, under the EXPLICIT [0] of TSTInfo. */
static int
tsa_tok_name(tsa *t)
{
	GENERAL_NAME *gn = NULL;
	X509_NAME *nm = NULL;
	unsigned char *der = NULL;
	struct tsa_der d;
	size_t at;
	int r = GP_ERR_INTERNAL, n;

	memset(&d, 0, sizeof(d));
	ENSURE((gn = GENERAL_NAME_new()) != NULL &&
	    (nm = X509_NAME_dup(X509_get_subject_name(t->cert))) != NULL,
	    GP_ERR_NOMEM);
	GENERAL_NAME_set0_value(gn, GEN_DIRNAME, nm);
	nm = NULL; /* transferred */
	ENSURE((n = i2d_GENERAL_NAME(gn, &der)) > 0,
	    gp_err_ssl(GP_ERR_CRYPTO, "tsa: encoding the TSA name"));
	at = tsa_der_open(&d, 0xa0);
	tsa_der_put(&d, der, (size_t)n);
	tsa_der_close(&d, at);
	GUARD(tsa_buf_from_der(&t->tok.tsa_name, &d, "TSA name"));
	r = 0;
out:
	OPENSSL_free(d.p);
	OPENSSL_free(der);
	X509_NAME_free(nm);
	GENERAL_NAME_free(gn);
	return r;
}

/* RFC 5816 (section 2.2.1): the signingCertificateV2 attribute with one
 * ESSCertIDv2 of the TSA certificate under SHA-256 (hashAlgorithm left at
 * its default) and no issuerSerial, as OpenSSL writes it for a TS_RESP_CTX
 * with ess_cert_id_digest SHA-256. */
static int
tsa_tok_ess(tsa *t)
{
	ESS_SIGNING_CERT_V2 *sc = NULL;
	unsigned char *der = NULL;
	struct tsa_der d;
	size_t attr, set;
	int r = GP_ERR_INTERNAL, n;

	memset(&d, 0, sizeof(d));
	ENSURE((sc = OSSL_ESS_signing_cert_v2_new_init(EVP_sha256(), t->cert,
	    NULL, 0)) != NULL, gp_err_ssl(GP_ERR_CRYPTO, "tsa: the "
	    "ESSCertIDv2 of the TSA certificate"));
	ENSURE((n = i2d_ESS_SIGNING_CERT_V2(sc, &der)) > 0,
	    gp_err_ssl(GP_ERR_CRYPTO, "tsa: encoding the ESSCertIDv2"));
	attr = tsa_der_open(&d, 0x30);
	tsa_der_put(&d, tsa_oid_signing_cert_v2,
	    sizeof(tsa_oid_signing_cert_v2));
	set = tsa_der_open(&d, 0x31);
	tsa_der_put(&d, der, (size_t)n);
	tsa_der_close(&d, set);
	tsa_der_close(&d, attr);
	GUARD(tsa_buf_from_der(&t->tok.ess_attr, &d, "signingCertificateV2"));
	r = 0;
out:
	OPENSSL_free(d.p);
	OPENSSL_free(der);
	ESS_SIGNING_CERT_V2_free(sc);
	return r;
}

/* The digest AlgorithmIdentifier (with NULL parameters, as PKCS7 writes
 * it), the signature AlgorithmIdentifier OpenSSL's PKCS7 code picks for
 * the key (ecdsa-with-SHAxxx without parameters; rsaEncryption with NULL),
 * and the signer's IssuerAndSerialNumber. */
static int
tsa_tok_signer(tsa *t)
{
	X509_ALGOR *alg = NULL;
	unsigned char *der = NULL;
	struct tsa_der d;
	size_t at;
	int r = GP_ERR_INTERNAL, n, snid = NID_undef;

	memset(&d, 0, sizeof(d));
	ENSURE((alg = X509_ALGOR_new()) != NULL, GP_ERR_NOMEM);
	ENSURE(X509_ALGOR_set0(alg, OBJ_nid2obj(EVP_MD_get_type(t->sign_md)),
	    V_ASN1_NULL, NULL) == 1, GP_ERR_NOMEM);
	n = i2d_X509_ALGOR(alg, &der);
	GUARD(tsa_buf_take(&t->tok.md_alg, der, n, "digest algorithm"));
	der = NULL;
	if (EVP_PKEY_is_a(t->key, "EC")) {
		ENSURE(OBJ_find_sigid_by_algs(&snid,
		    EVP_MD_get_type(t->sign_md), EVP_PKEY_EC) == 1,
		    gp_err_set(GP_ERR_CONFIG, "keys.tsa: no ECDSA signature "
		    "algorithm for %s", EVP_MD_get0_name(t->sign_md)));
		ENSURE(X509_ALGOR_set0(alg, OBJ_nid2obj(snid), V_ASN1_UNDEF,
		    NULL) == 1, GP_ERR_NOMEM);
	} else if (EVP_PKEY_is_a(t->key, "RSA")) {
		ENSURE(X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsaEncryption),
		    V_ASN1_NULL, NULL) == 1, GP_ERR_NOMEM);
	} else {
		r = gp_err_set(GP_ERR_CONFIG, "keys.tsa: a %s key cannot sign "
		    "time-stamps (EC or RSA)", EVP_PKEY_get0_type_name(t->key));
		goto out;
	}
	n = i2d_X509_ALGOR(alg, &der);
	GUARD(tsa_buf_take(&t->tok.sig_alg, der, n, "signature algorithm"));
	der = NULL;

	/* IssuerAndSerialNumber ::= SEQUENCE { issuer Name,
	 * serialNumber CertificateSerialNumber } */
	at = tsa_der_open(&d, 0x30);
	ENSURE((n = i2d_X509_NAME(X509_get_issuer_name(t->cert), &der)) > 0,
	    gp_err_ssl(GP_ERR_CRYPTO, "tsa: encoding the issuer"));
	tsa_der_put(&d, der, (size_t)n);
	OPENSSL_free(der);
	der = NULL;
	ENSURE((n = i2d_ASN1_INTEGER(X509_get0_serialNumber(t->cert),
	    &der)) > 0, gp_err_ssl(GP_ERR_CRYPTO, "tsa: encoding the "
	    "serial"));
	tsa_der_put(&d, der, (size_t)n);
	tsa_der_close(&d, at);
	GUARD(tsa_buf_from_der(&t->tok.sid, &d, "signer identifier"));
	t->tok.sig_max = (size_t)EVP_PKEY_get_size(t->key);
	ENSURE(t->tok.sig_max > 0 && t->tok.sig_max <= 2048,
	    gp_err_set(GP_ERR_CONFIG, "keys.tsa: unusable key size"));
	r = 0;
out:
	OPENSSL_free(d.p);
	OPENSSL_free(der);
	X509_ALGOR_free(alg);
	return r;
}

/* What certReq adds (RFC 3161 2.4.1: "the TSA's certificate ... MUST be
 * provided"): the TSA certificate first, then the chain, as OpenSSL's
 * PKCS7_add_certificate() leaves them. */
static int
tsa_tok_certs(tsa *t)
{
	struct tsa_der d;
	unsigned char *der = NULL;
	int r = GP_ERR_INTERNAL, n, i;

	memset(&d, 0, sizeof(d));
	for (i = -1; i < sk_X509_num(t->chain); i++) {
		n = i2d_X509(i < 0 ? t->cert : sk_X509_value(t->chain, i),
		    &der);
		ENSURE(n > 0, gp_err_ssl(GP_ERR_CRYPTO, "tsa: encoding a "
		    "certificate"));
		tsa_der_put(&d, der, (size_t)n);
		OPENSSL_free(der);
		der = NULL;
	}
	GUARD(tsa_buf_from_der(&t->tok.certs, &d, "certificates"));
	r = 0;
out:
	OPENSSL_free(d.p);
	OPENSSL_free(der);
	return r;
}

/*
 * RFC 3161 2.4.2 genTime: "GeneralizedTime values MUST include seconds ...
 * The syntax is: YYYYMMDDhhmmss[.s...]Z", and "the fraction-of-second
 * element MUST NOT include any trailing zeros": |digits| digits of the
 * microseconds, truncated as OpenSSL's TS_RESP_set_genTime_with_precision()
 * does, trailing zeros and a bare '.' removed.
 */
static size_t
tsa_tok_gentime(int64_t us, int digits, char *out, size_t cap)
{
	struct tm tm;
	time_t sec = (time_t)(us / 1000000);
	long frac = (long)(us % 1000000);
	char f[8];
	size_t n;
	int i;

	if (gmtime_r(&sec, &tm) == NULL)
		return 0;
	n = (size_t)snprintf(out, cap, "%04d%02d%02d%02d%02d%02d",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
	if (n != 14 || cap < 14 + 1 + 6 + 2)
		return 0;
	if (digits > 0) {
		snprintf(f, sizeof(f), "%06ld", frac);
		for (i = digits; i > 0 && f[i - 1] == '0'; i--)
			continue;
		if (i > 0) {
			out[n++] = '.';
			memcpy(out + n, f, (size_t)i);
			n += (size_t)i;
		}
	}
	out[n++] = 'Z';
	out[n] = '\0';
	return n;
}

/* RFC 5652 11.3 signingTime: "dates between 1 January 1950 and 31
 * December 2049 (inclusive) MUST be encoded as UTCTime. Any dates with
 * year values before 1950 or after 2049 MUST be encoded as
 * GeneralizedTime." Seconds, no fraction. */
static void
tsa_tok_signing_time(struct tsa_der *d, int64_t us)
{
	struct tm tm;
	time_t sec = (time_t)(us / 1000000);
	char s[24];
	int n, y;

	if (gmtime_r(&sec, &tm) == NULL) {
		d->err = 1;
		return;
	}
	y = tm.tm_year + 1900;
	if (y >= 1950 && y <= 2049)
		n = snprintf(s, sizeof(s), "%02d%02d%02d%02d%02d%02dZ", y % 100,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		    tm.tm_sec);
	else
		n = snprintf(s, sizeof(s), "%04d%02d%02d%02d%02d%02dZ", y,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		    tm.tm_sec);
	if (n <= 0 || (size_t)n >= sizeof(s)) {
		d->err = 1;
		return;
	}
	tsa_der_prim(d, y >= 1950 && y <= 2049 ? V_ASN1_UTCTIME :
	    V_ASN1_GENERALIZEDTIME, (const uint8_t *)s, (size_t)n);
}

/* X.690 11.6, the order of a DER SET OF: by encoding, as octet strings,
 * the shorter padded with zeros at its end. */
struct tsa_span {
	const uint8_t *p;
	size_t len;
};

static int
tsa_span_cmp(const void *a, const void *b)
{
	const struct tsa_span *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->p, y->p, n);

	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

int
tsa_tok_build(const tsa *t, const struct tsa_tok_in *in, uint8_t **out_der,
    size_t *out_len)
{
	int r = GP_ERR_INTERNAL;
	struct tsa_der d, a, s;
	struct tsa_span attr[4];
	size_t resp, ci, e0, sd, set, eci, e1, os, tst, tst_at, at, sis, si;
	size_t ends[4], i;
	uint8_t md[EVP_MAX_MD_SIZE], *sig = NULL;
	unsigned int md_len = 0;
	size_t sig_len = 0;
	char gt[32];
	size_t gt_len;
	const struct tsa_buf *pol;
	EVP_PKEY_CTX *pctx = NULL;

	*out_der = NULL;
	*out_len = 0;
	memset(&d, 0, sizeof(d));
	memset(&a, 0, sizeof(a));
	memset(&s, 0, sizeof(s));
	ENSURE(in->policy < t->policy_len && in->imprint != NULL &&
	    in->imprint_len > 0 && in->serial[0] != 0 && in->serial[0] < 0x80,
	    gp_err_set(GP_ERR_INVALID, "tsa_tok_build: bad input"));
	pol = &t->tok.policy[in->policy];
	ENSURE((gt_len = tsa_tok_gentime(in->gen_us, t->tok.precision, gt,
	    sizeof(gt))) > 0, gp_err_set(GP_ERR_INTERNAL, "tsa: genTime"));
	ENSURE(tsa_der_reserve(&d, 640 + t->tok.sig_max +
	    (in->cert_req ? t->tok.certs.len : 0)), GP_ERR_NOMEM);

	resp = tsa_der_open(&d, 0x30);               /* TimeStampResp */
	tsa_der_put(&d, tsa_status_granted, sizeof(tsa_status_granted));
	ci = tsa_der_open(&d, 0x30);                 /* ContentInfo */
	tsa_der_put(&d, tsa_oid_signed_data, sizeof(tsa_oid_signed_data));
	e0 = tsa_der_open(&d, 0xa0);
	sd = tsa_der_open(&d, 0x30);                 /* SignedData */
	/* RFC 5652 5.1: version 3 when eContentType is not id-data. */
	tsa_der_put(&d, tsa_int_3, sizeof(tsa_int_3));
	set = tsa_der_open(&d, 0x31);                /* digestAlgorithms */
	tsa_der_put(&d, t->tok.md_alg.p, t->tok.md_alg.len);
	tsa_der_close(&d, set);
	eci = tsa_der_open(&d, 0x30);                /* encapContentInfo */
	tsa_der_put(&d, tsa_oid_tst_info, sizeof(tsa_oid_tst_info));
	e1 = tsa_der_open(&d, 0xa0);
	os = tsa_der_open(&d, 0x04);
	tst_at = d.len;
	tst = tsa_der_open(&d, 0x30);                /* TSTInfo */
	tsa_der_put(&d, tsa_int_1, sizeof(tsa_int_1));
	tsa_der_put(&d, pol->p, pol->len);
	tsa_der_put(&d, in->imprint, in->imprint_len);
	/* RFC 3161 2.4.2 serialNumber: 16 bytes, first byte 01..7f, so
	 * positive and minimal as it stands. */
	tsa_der_prim(&d, 0x02, in->serial, sizeof(in->serial));
	tsa_der_prim(&d, V_ASN1_GENERALIZEDTIME, (const uint8_t *)gt, gt_len);
	tsa_der_put(&d, t->tok.accuracy.p, t->tok.accuracy.len);
	/* ordering FALSE is the DEFAULT: absent. RFC 3161 2.4.2 nonce: "MUST
	 * be present if the nonce field was present in the
	 * TimeStampReq" (and then equal to it). */
	tsa_der_put(&d, in->nonce, in->nonce_len);
	tsa_der_put(&d, t->tok.tsa_name.p, t->tok.tsa_name.len);
	tsa_der_close(&d, tst);
	ENSURE(!d.err, GP_ERR_NOMEM);
	/* The messageDigest attribute: the digest of the eContent octets,
	 * the whole TSTInfo TLV. */
	ENSURE(EVP_Digest(d.p + tst_at, d.len - tst_at, md, &md_len,
	    t->sign_md, NULL) == 1, gp_err_ssl(GP_ERR_CRYPTO, "tsa: "
	    "digest of the TSTInfo"));
	tsa_der_close(&d, os);
	tsa_der_close(&d, e1);
	tsa_der_close(&d, eci);
	if (in->cert_req) {
		/* certificates [0] IMPLICIT CertificateSet */
		at = tsa_der_open(&d, 0xa0);
		tsa_der_put(&d, t->tok.certs.p, t->tok.certs.len);
		tsa_der_close(&d, at);
	}

	/* signedAttrs, encoded as the SET OF that is signed (RFC 5652 5.4:
	 * "the DER encoding of the SignedAttrs value", with the SET OF tag)
	 * in DER order; the SignerInfo carries them under [0] IMPLICIT. Each
	 * Attribute is a SEQUENCE { attrType, attrValues SET OF }. */
	at = tsa_der_open(&a, 0x30);                 /* contentType */
	tsa_der_put(&a, tsa_oid_content_type, sizeof(tsa_oid_content_type));
	set = tsa_der_open(&a, 0x31);
	tsa_der_put(&a, tsa_oid_tst_info, sizeof(tsa_oid_tst_info));
	tsa_der_close(&a, set);
	tsa_der_close(&a, at);
	ends[0] = a.len;
	at = tsa_der_open(&a, 0x30);                 /* signingTime */
	tsa_der_put(&a, tsa_oid_signing_time, sizeof(tsa_oid_signing_time));
	set = tsa_der_open(&a, 0x31);
	tsa_tok_signing_time(&a, in->gen_us);
	tsa_der_close(&a, set);
	tsa_der_close(&a, at);
	ends[1] = a.len;
	at = tsa_der_open(&a, 0x30);                 /* messageDigest */
	tsa_der_put(&a, tsa_oid_message_digest,
	    sizeof(tsa_oid_message_digest));
	set = tsa_der_open(&a, 0x31);
	tsa_der_prim(&a, 0x04, md, md_len);
	tsa_der_close(&a, set);
	tsa_der_close(&a, at);
	ends[2] = a.len;
	/* signingCertificateV2, encoded once. */
	tsa_der_put(&a, t->tok.ess_attr.p, t->tok.ess_attr.len);
	ends[3] = a.len;
	ENSURE(!a.err, GP_ERR_NOMEM);
	for (i = 0; i < 4; i++) {
		attr[i].p = a.p + (i == 0 ? 0 : ends[i - 1]);
		attr[i].len = ends[i] - (i == 0 ? 0 : ends[i - 1]);
	}
	qsort(attr, 4, sizeof(attr[0]), tsa_span_cmp);
	at = tsa_der_open(&s, 0x31);
	for (i = 0; i < 4; i++)
		tsa_der_put(&s, attr[i].p, attr[i].len);
	tsa_der_close(&s, at);
	ENSURE(!s.err, GP_ERR_NOMEM);
	ENSURE(EVP_Digest(s.p, s.len, md, &md_len, t->sign_md, NULL) == 1,
	    gp_err_ssl(GP_ERR_CRYPTO, "tsa: digest of the attributes"));
	/* The key signs the digest, as every govpki signature is made; a
	 * PKCS#11 key signs on its token. */
	ENSURE((sig = OPENSSL_malloc(t->tok.sig_max)) != NULL, GP_ERR_NOMEM);
	sig_len = t->tok.sig_max;
	ENSURE((pctx = EVP_PKEY_CTX_new(t->key, NULL)) != NULL &&
	    EVP_PKEY_sign_init(pctx) > 0 &&
	    EVP_PKEY_CTX_set_signature_md(pctx, t->sign_md) > 0 &&
	    EVP_PKEY_sign(pctx, sig, &sig_len, md, md_len) > 0,
	    gp_err_ssl(GP_ERR_DEVICE, "tsa: signing the time-stamp"));

	sis = tsa_der_open(&d, 0x31);                /* signerInfos */
	si = tsa_der_open(&d, 0x30);                 /* SignerInfo */
	tsa_der_put(&d, tsa_int_1, sizeof(tsa_int_1));
	tsa_der_put(&d, t->tok.sid.p, t->tok.sid.len);
	tsa_der_put(&d, t->tok.md_alg.p, t->tok.md_alg.len);
	at = d.len;
	tsa_der_put(&d, s.p, s.len);
	if (!d.err)
		d.p[at] = 0xa0;                      /* [0] IMPLICIT */
	tsa_der_put(&d, t->tok.sig_alg.p, t->tok.sig_alg.len);
	tsa_der_prim(&d, 0x04, sig, sig_len);
	tsa_der_close(&d, si);
	tsa_der_close(&d, sis);
	tsa_der_close(&d, sd);
	tsa_der_close(&d, e0);
	tsa_der_close(&d, ci);
	tsa_der_close(&d, resp);
	ENSURE(!d.err, GP_ERR_NOMEM);
	*out_der = d.p;
	*out_len = d.len;
	d.p = NULL; /* transferred */
	r = 0;
out:
	EVP_PKEY_CTX_free(pctx);
	OPENSSL_free(sig);
	OPENSSL_free(s.p);
	OPENSSL_free(a.p);
	OPENSSL_free(d.p);
	return r;
}

/* Builds one token and lets OpenSSL judge it: it must parse with nothing
 * left over, re-encode to the same bytes (TimeStampResp and TSTInfo), and
 * its signature must verify with the TSA certificate. */
static int
tsa_tok_selfcheck(tsa *t)
{
	/* MessageImprint { { sha256 }, OCTET STRING (32 zero bytes) } */
	static const uint8_t head[] = {0x30, 0x2f, 0x30, 0x0b, 0x06, 0x09,
	    0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x04, 0x20};
	uint8_t imprint[sizeof(head) + 32];
	static const uint8_t nonce[] = {0x02, 0x02, 0x00, 0x80};
	struct tsa_tok_in in;
	struct timespec ts;
	uint8_t *der = NULL;
	unsigned char *re = NULL, *tre = NULL;
	size_t len = 0;
	const unsigned char *p;
	TS_RESP *resp = NULL;
	PKCS7 *p7;
	PKCS7_SIGNER_INFO *si;
	BIO *bio = NULL;
	char buf[256];
	int r = GP_ERR_INTERNAL, n;

	memset(&in, 0, sizeof(in));
	memset(imprint, 0, sizeof(imprint));
	memcpy(imprint, head, sizeof(head));
	in.imprint = imprint;
	in.imprint_len = sizeof(imprint);
	in.nonce = nonce;
	in.nonce_len = sizeof(nonce);
	in.cert_req = 1;
	memset(in.serial, 0x5a, sizeof(in.serial));
	clock_gettime(CLOCK_REALTIME, &ts);
	in.gen_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	GUARD(tsa_tok_build(t, &in, &der, &len));
	p = der;
	ENSURE((resp = d2i_TS_RESP(NULL, &p, (long)len)) != NULL &&
	    p == der + len && (n = i2d_TS_RESP(resp, &re)) > 0 &&
	    (size_t)n == len && memcmp(re, der, len) == 0 &&
	    TS_RESP_get_tst_info(resp) != NULL &&
	    (n = i2d_TS_TST_INFO(TS_RESP_get_tst_info(resp), &tre)) > 0,
	    gp_err_ssl(GP_ERR_INTERNAL, "tsa: self-check: the token is not "
	    "the DER OpenSSL writes"));
	p7 = TS_RESP_get_token(resp);
	si = sk_PKCS7_SIGNER_INFO_value(PKCS7_get_signer_info(p7), 0);
	ENSURE(si != NULL && (bio = PKCS7_dataInit(p7, NULL)) != NULL,
	    gp_err_ssl(GP_ERR_INTERNAL, "tsa: self-check: no signer"));
	while (BIO_read(bio, buf, sizeof(buf)) > 0)
		continue;
	ENSURE(PKCS7_signatureVerify(bio, p7, si, t->cert) == 1,
	    gp_err_ssl(GP_ERR_INVALID, "tsa: self-check: the token's "
	    "signature does not verify with the TSA certificate"));
	r = 0;
out:
	BIO_free_all(bio);
	OPENSSL_free(tre);
	OPENSSL_free(re);
	TS_RESP_free(resp);
	OPENSSL_free(der);
	return r;
}

int
tsa_tok_init(tsa *t)
{
	int r = GP_ERR_INTERNAL, n;
	size_t i;
	unsigned char *der = NULL;

	ENSURE(t->cfg->tsa_precision_digits >= 0 &&
	    t->cfg->tsa_precision_digits <= 6, gp_err_set(GP_ERR_CONFIG,
	    "tsa.precision_digits: 0 to 6"));
	t->tok.precision = (int)t->cfg->tsa_precision_digits;
	for (i = 0; i < t->policy_len; i++) {
		n = i2d_ASN1_OBJECT(t->policy[i], &der);
		GUARD(tsa_buf_take(&t->tok.policy[i], der, n, "policy"));
		der = NULL;
		OBJ_obj2txt(t->tok.policy_txt[i], sizeof(t->tok.policy_txt[i]),
		    t->policy[i], 1);
	}
	GUARD(tsa_tok_accuracy(t));
	GUARD(tsa_tok_name(t));
	GUARD(tsa_tok_ess(t));
	GUARD(tsa_tok_signer(t));
	GUARD(tsa_tok_certs(t));
	GUARD(tsa_tok_selfcheck(t));
	r = 0;
out:
	return r;
}
