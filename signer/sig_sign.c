/*
 * sig_sign.c: CMS SignedData (RFC 5652) with the signed attributes of
 * CAdES baseline B-B (ETSI EN 319 122-1 5.2): content-type,
 * message-digest, signing-time and signing-certificate-v2 (RFC 5035), and,
 * for B-T, the signature time-stamp as an unsigned attribute.
 *
 * The content is never given to OpenSSL's CMS code: the caller hashes the
 * document as a stream (sig_digest.c) or sends its digest, and this file
 * puts the digest into the message-digest attribute and signs the signed
 * attributes (CMS_SignerInfo_sign). The same path adds one more SignerInfo
 * to an existing SignedData for an approval step, after checking that the
 * SignerInfos already there sign the same document and that the policy
 * lets the step follow them.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ts.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "signer/internal.h"

static ASN1_OBJECT *sig_step_oid;
static pthread_once_t sig_step_once = PTHREAD_ONCE_INIT;

static void
sig_step_init(void)
{
	sig_step_oid = OBJ_txt2obj(SIG_OID_STEP, 1);
}

const ASN1_OBJECT *
sig_step_obj(void)
{
	(void)pthread_once(&sig_step_once, sig_step_init);
	return sig_step_oid;
}

int64_t
sig_asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return -1;
	return (int64_t)timegm(&tm);
}

/* The step names what an official did; it is shown to supervisors and
 * in reports, so it is text: no C0 or C1 control character and no DEL,
 * in UTF-8 form (lead bytes followed by their continuation bytes; the
 * attribute is a UTF8String). */
static int
sig_step_check(const char *step)
{
	const unsigned char *p = (const unsigned char *)step;
	size_t i, j, k, n;

	if (step == NULL)
		return 0;
	n = strlen(step);
	for (i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return gp_err_set(GP_ERR_INVALID, "step: byte %zu is a "
			    "control character", i + 1);
		if (p[i] < 0x80)
			continue;
		k = p[i] >= 0xc2 && p[i] <= 0xdf ? 1 : p[i] >= 0xe0 &&
		    p[i] <= 0xef ? 2 : p[i] >= 0xf0 && p[i] <= 0xf4 ? 3 : 0;
		if (k == 0 || i + k >= n)
			return gp_err_set(GP_ERR_INVALID, "step: not UTF-8 at "
			    "byte %zu", i + 1);
		for (j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return gp_err_set(GP_ERR_INVALID, "step: not "
				    "UTF-8 at byte %zu", i + j + 1);
		}
		/* U+0080 to U+009F: the C1 controls. */
		if (p[i] == 0xc2 && p[i + 1] <= 0x9f)
			return gp_err_set(GP_ERR_INVALID, "step: byte %zu is a "
			    "control character (C1)", i + 1);
		i += k;
	}
	return 0;
}

int
sig_si_step(CMS_SignerInfo *si, char *buf, size_t len)
{
	int idx;
	X509_ATTRIBUTE *at;
	ASN1_TYPE *t;

	buf[0] = '\0';
	if (sig_step_obj() == NULL)
		return GP_ERR_NOMEM;
	idx = CMS_signed_get_attr_by_OBJ(si, sig_step_obj(), -1);
	if (idx < 0)
		return 0;
	if (CMS_signed_get_attr_by_OBJ(si, sig_step_obj(), idx) >= 0)
		return gp_err_set(GP_ERR_INVALID, "step attribute: present "
		    "twice");
	at = CMS_signed_get_attr(si, idx);
	if (X509_ATTRIBUTE_count(at) != 1 ||
	    (t = X509_ATTRIBUTE_get0_type(at, 0)) == NULL ||
	    t->type != V_ASN1_UTF8STRING ||
	    t->value.utf8string->length <= 0 ||
	    (size_t)t->value.utf8string->length >= len ||
	    t->value.utf8string->length > SIG_MAX_STEP ||
	    memchr(t->value.utf8string->data, 0,
	    (size_t)t->value.utf8string->length) != NULL)
		return gp_err_set(GP_ERR_INVALID, "step attribute: must be one "
		    "UTF8String of 1 to %d bytes", SIG_MAX_STEP);
	memcpy(buf, t->value.utf8string->data,
	    (size_t)t->value.utf8string->length);
	buf[t->value.utf8string->length] = '\0';
	return 0;
}

int64_t
sig_si_signing_time(CMS_SignerInfo *si)
{
	int idx = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
	X509_ATTRIBUTE *at;
	ASN1_TYPE *t;

	if (idx < 0 || (at = CMS_signed_get_attr(si, idx)) == NULL ||
	    (t = X509_ATTRIBUTE_get0_type(at, 0)) == NULL)
		return -1;
	if (t->type == V_ASN1_UTCTIME)
		return sig_asn1_time(t->value.utctime);
	if (t->type == V_ASN1_GENERALIZEDTIME)
		return sig_asn1_time(t->value.generalizedtime);
	return -1;
}

int
sig_cms_parse(const uint8_t *der, size_t len, CMS_ContentInfo **out)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	int r = GP_ERR_INTERNAL;

	*out = NULL;
	ENSURE(der != NULL && len > 0 && len <= SIG_MAX_P7S,
	    gp_err_set(GP_ERR_INVALID, "signature: empty or over %d bytes",
	    SIG_MAX_P7S));
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	ERR_clear_error();
	ENSURE(cms != NULL, gp_err_set(GP_ERR_INVALID, "signature: not a CMS "
	    "ContentInfo (DER)"));
	/* Trailing bytes are refused: what is verified is all there is. */
	ENSURE(p == der + len, gp_err_set(GP_ERR_INVALID, "signature: %zu "
	    "trailing bytes after the ContentInfo", (size_t)(der + len - p)));
	ENSURE(OBJ_obj2nid(CMS_get0_type(cms)) == NID_pkcs7_signed,
	    gp_err_set(GP_ERR_INVALID, "signature: the ContentInfo is not "
	    "SignedData (RFC 5652 5)"));
	sis = CMS_get0_SignerInfos(cms);
	ENSURE(sis != NULL && sk_CMS_SignerInfo_num(sis) > 0,
	    gp_err_set(GP_ERR_INVALID, "signature: SignedData has no "
	    "SignerInfo"));
	ENSURE(sk_CMS_SignerInfo_num(sis) <= SIG_MAX_SIGNERS,
	    gp_err_set(GP_ERR_TOO_LARGE, "signature: more than %d SignerInfos",
	    SIG_MAX_SIGNERS));
	*out = cms;
	cms = NULL; /* transferred */
	r = 0;
out:
	CMS_ContentInfo_free(cms);
	return r;
}

struct sig_step_at {
	char name[SIG_MAX_STEP + 1];
	int64_t t;
};

static int
sig_step_cmp(const void *a, const void *b)
{
	const struct sig_step_at *x = a, *y = b;

	return x->t < y->t ? -1 : x->t > y->t;
}

/* The steps of |cms| in signing-time order (SignerInfos is a SET OF, so
 * DER does not keep the order they were added in). */
static int
sig_steps_of(CMS_ContentInfo *cms, char ***out, size_t *out_len)
{
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
	struct sig_step_at *at = NULL;
	char **names = NULL;
	size_t n = 0, i;
	int r = GP_ERR_INTERNAL;

	*out = NULL;
	*out_len = 0;
	ENSURE((at = calloc((size_t)sk_CMS_SignerInfo_num(sis) + 1,
	    sizeof(*at))) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < (size_t)sk_CMS_SignerInfo_num(sis); i++) {
		CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, (int)i);

		GUARD(sig_si_step(si, at[n].name, sizeof(at[n].name)));
		if (at[n].name[0] == '\0')
			continue;
		at[n].t = sig_si_signing_time(si);
		n++;
	}
	qsort(at, n, sizeof(*at), sig_step_cmp);
	ENSURE((names = calloc(n + 1, sizeof(char *))) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < n; i++)
		ENSURE((names[i] = strdup(at[i].name)) != NULL, GP_ERR_NOMEM);
	*out = names;
	names = NULL; /* transferred */
	*out_len = n;
	r = 0;
out:
	sig_steps_free(names, n);
	free(at);
	return r;
}

void
sig_steps_free(char **steps, size_t len)
{
	size_t i;

	if (steps == NULL)
		return;
	for (i = 0; i < len; i++)
		free(steps[i]);
	free(steps);
}

/* A SignedData given as DER or PEM, parsed (sig_cms_parse). */
static int
sig_p7s_parse(const uint8_t *p7s, size_t p7s_len, CMS_ContentInfo **out)
{
	uint8_t *der = NULL;
	size_t der_len;
	int r;

	*out = NULL;
	GUARD(sig_p7s_der(p7s, p7s_len, &der, &der_len));
	GUARD(sig_cms_parse(der, der_len, out));
	r = 0;
out:
	free(der);
	return r;
}

int
sig_steps_read(const uint8_t *p7s, size_t p7s_len, char ***out,
    size_t *out_len)
{
	CMS_ContentInfo *cms = NULL;
	int r;

	*out = NULL;
	*out_len = 0;
	GUARD(sig_p7s_parse(p7s, p7s_len, &cms));
	GUARD(sig_steps_of(cms, out, out_len));
	r = 0;
out:
	CMS_ContentInfo_free(cms);
	return r;
}

int
sig_chain_build(X509 *leaf, STACK_OF(X509) *pool, STACK_OF(X509) **out)
{
	STACK_OF(X509) *chain = NULL;
	X509 *cur = leaf, *up;
	char name[256];
	int i, depth, r = GP_ERR_INTERNAL;

	*out = NULL;
	ENSURE(leaf != NULL, GP_ERR_INVALID);
	ENSURE((chain = sk_X509_new_null()) != NULL, GP_ERR_NOMEM);
	for (depth = 0; depth < SIG_MAX_CHAIN; depth++) {
		/* A root is the relying party's trust anchor: not sent. */
		if (X509_self_signed(cur, 0) == 1)
			break;
		up = NULL;
		for (i = 0; pool != NULL && i < sk_X509_num(pool); i++) {
			X509 *c = sk_X509_value(pool, i);
			if (X509_check_issued(c, cur) == X509_V_OK) {
				up = c;
				break;
			}
		}
		if (up == NULL && cur == leaf) {
			X509_NAME_oneline(X509_get_issuer_name(leaf), name,
			    sizeof(name));
			r = gp_err_set(GP_ERR_NOT_FOUND, "the issuer of the "
			    "signer certificate (%s) is not among the "
			    "certificates given", name);
			goto out;
		}
		/* Above the last CA given: the relying party has the rest. */
		if (up == NULL || X509_self_signed(up, 0) == 1)
			break;
		ENSURE(X509_up_ref(up) && sk_X509_push(chain, up) > 0,
		    GP_ERR_NOMEM);
		cur = up;
	}
	*out = chain;
	chain = NULL; /* transferred */
	r = 0;
out:
	sk_X509_pop_free(chain, X509_free);
	return r;
}

int
sig_certs_read(const uint8_t *p7s, size_t p7s_len, STACK_OF(X509) **out)
{
	CMS_ContentInfo *cms = NULL;
	int r;

	*out = NULL;
	GUARD(sig_p7s_parse(p7s, p7s_len, &cms));
	if ((*out = CMS_get1_certs(cms)) == NULL)
		ENSURE((*out = sk_X509_new_null()) != NULL, GP_ERR_NOMEM);
	r = 0;
out:
	CMS_ContentInfo_free(cms);
	return r;
}

/* Adds |x| to the SignedData's certificates unless it is there. */
static int
sig_add_cert(CMS_ContentInfo *cms, X509 *x)
{
	STACK_OF(X509) *have = CMS_get1_certs(cms);
	int i, found = 0;

	for (i = 0; have != NULL && i < sk_X509_num(have); i++) {
		if (X509_cmp(sk_X509_value(have, i), x) == 0)
			found = 1;
	}
	sk_X509_pop_free(have, X509_free);
	if (found)
		return 0;
	if (!CMS_add1_cert(cms, x))
		return gp_err_ssl(GP_ERR_CRYPTO, "adding a certificate");
	return 0;
}

/* Checks that every SignerInfo of |cms| already signs |digest| (SHA-256)
 * and that attached content, if any, has that digest. */
static int
sig_same_document(CMS_ContentInfo *cms, const uint8_t *digest)
{
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
	ASN1_OCTET_STRING **pos = CMS_get0_content(cms);
	uint8_t md[32];
	int i;

	if (pos != NULL && *pos != NULL) {
		if (!EVP_Digest((*pos)->data, (size_t)(*pos)->length, md, NULL,
		    EVP_sha256(), NULL))
			return gp_err_ssl(GP_ERR_CRYPTO, "digest");
		if (memcmp(md, digest, 32) != 0)
			return gp_err_set(GP_ERR_INVALID, "--add-to: the "
			    "signature carries another document");
	}
	for (i = 0; i < sk_CMS_SignerInfo_num(sis); i++) {
		CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, i);
		ASN1_OCTET_STRING *m;
		X509_ALGOR *dig = NULL;

		CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, NULL);
		m = CMS_signed_get0_data_by_OBJ(si,
		    OBJ_nid2obj(NID_pkcs9_messageDigest), -3,
		    V_ASN1_OCTET_STRING);
		if (m == NULL || dig == NULL ||
		    OBJ_obj2nid(dig->algorithm) != NID_sha256)
			return gp_err_set(GP_ERR_INVALID, "--add-to: SignerInfo "
			    "%d has no SHA-256 message-digest attribute", i + 1);
		if (m->length != 32 || memcmp(m->data, digest, 32) != 0)
			return gp_err_set(GP_ERR_INVALID, "--add-to: SignerInfo "
			    "%d signs another document", i + 1);
	}
	return 0;
}

/* The caller's own signed attribute: one UTF8String under |oid|. */
static int
sig_add_text_attr(CMS_SignerInfo *si, const char *oid, const char *value)
{
	ASN1_OBJECT *obj = NULL;
	int r = GP_ERR_INTERNAL;

	ENSURE(value != NULL && value[0] != '\0' &&
	    strlen(value) <= SIG_MAX_STEP, gp_err_set(GP_ERR_INVALID,
	    "attribute %s: 1 to %d bytes", oid, SIG_MAX_STEP));
	GUARD(sig_step_check(value));
	ENSURE((obj = OBJ_txt2obj(oid, 1)) != NULL, gp_err_ssl(GP_ERR_INVALID,
	    "attribute: %s is not a dotted OID", oid));
	ENSURE(CMS_signed_add1_attr_by_OBJ(si, obj, V_ASN1_UTF8STRING, value,
	    (int)strlen(value)), gp_err_ssl(GP_ERR_CRYPTO, "attribute %s",
	    oid));
	r = 0;
out:
	ASN1_OBJECT_free(obj);
	return r;
}

/* ETSI EN 319 122-1 5.3: the signature time-stamp is over the value of
 * the SignerInfo's signature field. */
static int
sig_add_timestamp(CMS_SignerInfo *si, const struct sig_tsa *tsa,
    struct sig_sign_info *info)
{
	ASN1_OCTET_STRING *sv = CMS_SignerInfo_get0_signature(si);
	uint8_t imprint[32], *tok = NULL;
	const unsigned char *p;
	size_t tok_len = 0;
	PKCS7 *p7 = NULL;
	TS_TST_INFO *tst = NULL;
	char *hex;
	int r = GP_ERR_INTERNAL;

	ENSURE(sv != NULL && sv->length > 0, gp_err_set(GP_ERR_INTERNAL,
	    "no signature value to time-stamp"));
	ENSURE(EVP_Digest(sv->data, (size_t)sv->length, imprint, NULL,
	    EVP_sha256(), NULL), gp_err_ssl(GP_ERR_CRYPTO, "digest"));
	GUARD(sig_tsp_stamp(tsa, imprint, sizeof(imprint), &tok, &tok_len));
	ENSURE(CMS_unsigned_add1_attr_by_NID(si,
	    NID_id_smime_aa_timeStampToken, V_ASN1_SEQUENCE, tok,
	    (int)tok_len), gp_err_ssl(GP_ERR_CRYPTO, "adding the time-stamp"));
	if (info != NULL) {
		p = tok;
		if ((p7 = d2i_PKCS7(NULL, &p, (long)tok_len)) != NULL &&
		    (tst = PKCS7_to_TS_TST_INFO(p7)) != NULL) {
			info->ts_time = sig_asn1_time(TS_TST_INFO_get_time(tst));
			hex = NULL;
			{
				BIGNUM *bn = ASN1_INTEGER_to_BN(
				    TS_TST_INFO_get_serial(tst), NULL);
				if (bn != NULL && (hex = BN_bn2hex(bn)) != NULL)
					snprintf(info->ts_serial,
					    sizeof(info->ts_serial), "%s", hex);
				OPENSSL_free(hex);
				BN_free(bn);
			}
		}
		snprintf(info->level, sizeof(info->level), "B-T");
	}
	r = 0;
out:
	TS_TST_INFO_free(tst);
	PKCS7_free(p7);
	OPENSSL_free(tok);
	return r;
}

int
sig_sign(const struct sig_sign_req *rq, uint8_t **out_der, size_t *out_len,
    struct sig_sign_info *info)
{
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	ASN1_OCTET_STRING **pos;
	ASN1_TIME *st = NULL;
	uint8_t digest[32], *der = NULL, *add = NULL;
	size_t add_len = 0, i;
	char **done = NULL, *serial = NULL;
	size_t done_len = 0;
	unsigned char *out = NULL;
	int len, r = GP_ERR_INTERNAL;
	const unsigned int flags = CMS_PARTIAL | CMS_BINARY | CMS_NOCERTS |
	    CMS_NOSMIMECAP | CMS_CADES;

	*out_der = NULL;
	*out_len = 0;
	if (info != NULL)
		memset(info, 0, sizeof(*info));
	ENSURE(rq != NULL && rq->signer != NULL && rq->signer->key != NULL &&
	    rq->signer->cert != NULL, gp_err_set(GP_ERR_INVALID,
	    "sign: no key or certificate"));
	ENSURE(X509_check_private_key(rq->signer->cert, rq->signer->key),
	    gp_err_ssl(GP_ERR_INVALID, "the certificate does not belong to "
	    "the key"));
	if (rq->content != NULL) {
		ENSURE(rq->content_len <= SIG_MAX_ATTACHED || !rq->attached,
		    gp_err_set(GP_ERR_TOO_LARGE, "attached content over %d "
		    "bytes: sign detached", SIG_MAX_ATTACHED));
		ENSURE(EVP_Digest(rq->content, rq->content_len, digest, NULL,
		    EVP_sha256(), NULL), gp_err_ssl(GP_ERR_CRYPTO, "digest"));
	} else {
		ENSURE(rq->digest != NULL && rq->digest_len == 32 &&
		    !rq->attached, gp_err_set(GP_ERR_INVALID, "digest: a "
		    "SHA-256 digest is 32 bytes (an attached signature needs "
		    "the document)"));
		memcpy(digest, rq->digest, 32);
	}
	ENSURE(rq->step == NULL || (rq->step[0] != '\0' &&
	    strlen(rq->step) <= SIG_MAX_STEP), gp_err_set(GP_ERR_INVALID,
	    "step: 1 to %d bytes", SIG_MAX_STEP));
	GUARD(sig_step_check(rq->step));
	if (rq->add_to != NULL) {
		GUARD(sig_p7s_der(rq->add_to, rq->add_to_len, &add, &add_len));
		GUARD(sig_cms_parse(add, add_len, &cms));
		GUARD(sig_same_document(cms, digest));
		GUARD(sig_steps_of(cms, &done, &done_len));
		if (rq->step != NULL && rq->policy != NULL)
			GUARD(sig_policy_may_add(rq->policy,
			    (const char *const *)done, done_len, rq->step));
		ENSURE(sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)) <
		    SIG_MAX_SIGNERS, gp_err_set(GP_ERR_TOO_LARGE, "--add-to: "
		    "already %d SignerInfos", SIG_MAX_SIGNERS));
	} else {
		if (rq->step != NULL && rq->policy != NULL)
			GUARD(sig_policy_may_add(rq->policy, NULL, 0,
			    rq->step));
		cms = CMS_sign(NULL, NULL, NULL, NULL, flags |
		    (rq->attached ? 0 : CMS_DETACHED));
		ENSURE(cms != NULL, gp_err_ssl(GP_ERR_CRYPTO, "SignedData"));
		if (rq->attached) {
			ENSURE((pos = CMS_get0_content(cms)) != NULL,
			    GP_ERR_INTERNAL);
			ASN1_OCTET_STRING_free(*pos);
			ENSURE((*pos = ASN1_OCTET_STRING_new()) != NULL &&
			    ASN1_OCTET_STRING_set(*pos, rq->content,
			    (int)rq->content_len), GP_ERR_NOMEM);
		}
	}
	si = CMS_add1_signer(cms, rq->signer->cert, rq->signer->key,
	    EVP_sha256(), flags);
	ENSURE(si != NULL, gp_err_ssl(GP_ERR_CRYPTO, "adding the signer"));
	/* RFC 5652 5.3: with signed attributes, content-type and
	 * message-digest MUST be present; CAdES B-B adds signing-time and
	 * signing-certificate-v2 (the latter from CMS_CADES). */
	ENSURE(CMS_signed_add1_attr_by_NID(si, NID_pkcs9_contentType,
	    V_ASN1_OBJECT, OBJ_nid2obj(NID_pkcs7_data), -1) &&
	    CMS_signed_add1_attr_by_NID(si, NID_pkcs9_messageDigest,
	    V_ASN1_OCTET_STRING, digest, (int)sizeof(digest)),
	    gp_err_ssl(GP_ERR_CRYPTO, "signed attributes"));
	/* RFC 5652 11.3: UTCTime for 1950 to 2049 (ASN1_TIME_adj picks). */
	ENSURE((st = ASN1_TIME_adj(NULL, rq->signing_time > 0 ?
	    (time_t)rq->signing_time : time(NULL), 0, 0)) != NULL &&
	    CMS_signed_add1_attr_by_NID(si, NID_pkcs9_signingTime, st->type,
	    st, -1), gp_err_ssl(GP_ERR_CRYPTO, "signing-time"));
	if (rq->step != NULL)
		ENSURE(sig_step_obj() != NULL &&
		    CMS_signed_add1_attr_by_OBJ(si, sig_step_obj(),
		    V_ASN1_UTF8STRING, rq->step, (int)strlen(rq->step)),
		    gp_err_ssl(GP_ERR_CRYPTO, "step attribute"));
	if (rq->attr_oid != NULL)
		GUARD(sig_add_text_attr(si, rq->attr_oid, rq->attr_value));
	GUARD(sig_add_cert(cms, rq->signer->cert));
	for (i = 0; rq->signer->chain != NULL &&
	    i < (size_t)sk_X509_num(rq->signer->chain); i++)
		GUARD(sig_add_cert(cms, sk_X509_value(rq->signer->chain,
		    (int)i)));
	ENSURE(CMS_SignerInfo_sign(si) == 1, gp_err_ssl(GP_ERR_DEVICE,
	    "the key did not sign"));
	if (info != NULL) {
		snprintf(info->level, sizeof(info->level), "B-B");
		if ((serial = ca_serial_hex(rq->signer->cert)) != NULL)
			snprintf(info->signer_serial,
			    sizeof(info->signer_serial), "%s", serial);
	}
	if (rq->tsa != NULL)
		GUARD(sig_add_timestamp(si, rq->tsa, info));
	ENSURE((len = i2d_CMS_ContentInfo(cms, &out)) > 0,
	    gp_err_ssl(GP_ERR_CRYPTO, "encoding the SignedData"));
	if (info != NULL)
		info->signers = (size_t)sk_CMS_SignerInfo_num(
		    CMS_get0_SignerInfos(cms));
	*out_der = out;
	out = NULL; /* transferred */
	*out_len = (size_t)len;
	r = 0;
out:
	OPENSSL_free(out);
	ASN1_TIME_free(st);
	CMS_ContentInfo_free(cms);
	sig_steps_free(done, done_len);
	free(serial);
	free(add);
	free(der);
	return r;
}
