/*
 * tok_keygen.c: key pairs made on the token, and the raw PKCS#11 object
 * helpers the rest of tokens/ uses (find by label, read an attribute, rebuild
 * a public key). libp11 0.4.12 only generates RSA keys, with a template that
 * leaves CKA_EXTRACTABLE to the module's default, so tok_keygen() calls the
 * module's C_GenerateKeyPair itself, in a session of its own that shares the
 * user login libp11 made (PKCS#11 login state is per application).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>

#include "tokens/internal.h"

#define TOK_ATTR_MAX 8192  /* largest attribute value read */
#define TOK_LABEL_MAX 128

/* DER OIDs for CKA_EC_PARAMS (PKCS#11 2.40 2.3.3: "DER-encoding of an ANSI
 * X9.62 Parameters value", here the namedCurve choice). */
static const CK_BYTE tok_oid_p256[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07
};
static const CK_BYTE tok_oid_p384[] = {
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22
};

int
tok_raw_find(tok_ctx *ctx, CK_SESSION_HANDLE s, CK_OBJECT_CLASS klass,
    const char *label, const unsigned char *id, size_t id_len,
    CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *out_count)
{
	CK_ATTRIBUTE tmpl[3];
	CK_ULONG n = 0;
	CK_RV rv;

	tmpl[n].type = CKA_CLASS;
	tmpl[n].pValue = &klass;
	tmpl[n++].ulValueLen = sizeof(klass);
	if (label != NULL) {
		tmpl[n].type = CKA_LABEL;
		tmpl[n].pValue = (void *)label;
		tmpl[n++].ulValueLen = strlen(label);
	}
	if (id != NULL && id_len > 0) {
		tmpl[n].type = CKA_ID;
		tmpl[n].pValue = (void *)id;
		tmpl[n++].ulValueLen = id_len;
	}
	*out_count = 0;
	rv = ctx->fl->C_FindObjectsInit(s, tmpl, n);
	if (rv != CKR_OK)
		return tok_err_ckr(rv, NULL, "C_FindObjectsInit");
	rv = ctx->fl->C_FindObjects(s, out, max, out_count);
	(void)ctx->fl->C_FindObjectsFinal(s);
	if (rv != CKR_OK)
		return tok_err_ckr(rv, NULL, "C_FindObjects");
	return 0;
}

int
tok_raw_attr(tok_ctx *ctx, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type, unsigned char **out, size_t *out_len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	unsigned char *buf;
	CK_RV rv;

	rv = ctx->fl->C_GetAttributeValue(s, o, &a, 1);
	if (rv != CKR_OK)
		return tok_err_ckr(rv, NULL, "C_GetAttributeValue");
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION ||
	    a.ulValueLen > TOK_ATTR_MAX)
		return gp_err_set(GP_ERR_DEVICE,
		    "attribute 0x%lx unavailable or too large",
		    (unsigned long)type);
	if ((buf = OPENSSL_malloc(a.ulValueLen + 1)) == NULL)
		return GP_ERR_NOMEM;
	a.pValue = buf;
	rv = ctx->fl->C_GetAttributeValue(s, o, &a, 1);
	if (rv != CKR_OK) {
		OPENSSL_free(buf);
		return tok_err_ckr(rv, NULL, "C_GetAttributeValue");
	}
	*out = buf;
	*out_len = a.ulValueLen;
	return 0;
}

/* Builds an EC public key from CKA_EC_PARAMS and CKA_EC_POINT. */
static int
tok_pub_ec(const unsigned char *params, size_t params_len,
    const unsigned char *point, size_t point_len, EVP_PKEY **out)
{
	const unsigned char *p = params;
	ASN1_OBJECT *oid = NULL;
	ASN1_OCTET_STRING *os = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *ps = NULL;
	EVP_PKEY_CTX *pc = NULL;
	const unsigned char *pub = point;
	size_t pub_len = point_len;
	const char *group;
	int nid, r = GP_ERR_INTERNAL;

	ENSURE(d2i_ASN1_OBJECT(&oid, &p, (long)params_len) != NULL &&
	    p == params + params_len, gp_err_ssl(GP_ERR_DEVICE,
	    "CKA_EC_PARAMS is not a named curve"));
	nid = OBJ_obj2nid(oid);
	ENSURE(nid != NID_undef && (group = OBJ_nid2sn(nid)) != NULL,
	    gp_err_set(GP_ERR_UNSUPPORTED, "CKA_EC_PARAMS: unknown curve"));
	/* PKCS#11 2.40: CKA_EC_POINT is the "DER-encoding of ANSI X9.62
	 * ECPoint value Q", an OCTET STRING; some modules give it raw. */
	p = point;
	if (d2i_ASN1_OCTET_STRING(&os, &p, (long)point_len) != NULL &&
	    p == point + point_len) {
		pub = ASN1_STRING_get0_data(os);
		pub_len = (size_t)ASN1_STRING_length(os);
	}
	ERR_clear_error();
	ENSURE((bld = OSSL_PARAM_BLD_new()) != NULL, GP_ERR_NOMEM);
	ENSURE(OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, 0) == 1 && OSSL_PARAM_BLD_push_octet_string(bld,
	    OSSL_PKEY_PARAM_PUB_KEY, pub, pub_len) == 1 &&
	    (ps = OSSL_PARAM_BLD_to_param(bld)) != NULL, GP_ERR_NOMEM);
	ENSURE((pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) != NULL &&
	    EVP_PKEY_fromdata_init(pc) == 1 &&
	    EVP_PKEY_fromdata(pc, out, EVP_PKEY_PUBLIC_KEY, ps) == 1,
	    gp_err_ssl(GP_ERR_CRYPTO, "EC public key from the token"));
	r = 0;
out:
	EVP_PKEY_CTX_free(pc);
	OSSL_PARAM_free(ps);
	OSSL_PARAM_BLD_free(bld);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(oid);
	return r;
}

static int
tok_pub_rsa(const unsigned char *mod, size_t mod_len, const unsigned char *exp,
    size_t exp_len, EVP_PKEY **out)
{
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *ps = NULL;
	EVP_PKEY_CTX *pc = NULL;
	int r = GP_ERR_INTERNAL;

	ENSURE((n = BN_bin2bn(mod, (int)mod_len, NULL)) != NULL &&
	    (e = BN_bin2bn(exp, (int)exp_len, NULL)) != NULL, GP_ERR_NOMEM);
	ENSURE((bld = OSSL_PARAM_BLD_new()) != NULL, GP_ERR_NOMEM);
	ENSURE(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1 &&
	    (ps = OSSL_PARAM_BLD_to_param(bld)) != NULL, GP_ERR_NOMEM);
	ENSURE((pc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) != NULL &&
	    EVP_PKEY_fromdata_init(pc) == 1 &&
	    EVP_PKEY_fromdata(pc, out, EVP_PKEY_PUBLIC_KEY, ps) == 1,
	    gp_err_ssl(GP_ERR_CRYPTO, "RSA public key from the token"));
	r = 0;
out:
	EVP_PKEY_CTX_free(pc);
	OSSL_PARAM_free(ps);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return r;
}

int
tok_raw_pubkey(tok_ctx *ctx, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    EVP_PKEY **out)
{
	CK_KEY_TYPE kt = 0;
	CK_ATTRIBUTE a = { CKA_KEY_TYPE, &kt, sizeof(kt) };
	unsigned char *v1 = NULL, *v2 = NULL;
	size_t l1 = 0, l2 = 0;
	CK_RV rv;
	int r = GP_ERR_INTERNAL;

	rv = ctx->fl->C_GetAttributeValue(s, o, &a, 1);
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, NULL, "reading CKA_KEY_TYPE"));
	switch (kt) {
	case CKK_EC:
		GUARD(tok_raw_attr(ctx, s, o, CKA_EC_PARAMS, &v1, &l1));
		GUARD(tok_raw_attr(ctx, s, o, CKA_EC_POINT, &v2, &l2));
		GUARD(tok_pub_ec(v1, l1, v2, l2, out));
		break;
	case CKK_RSA:
		GUARD(tok_raw_attr(ctx, s, o, CKA_MODULUS, &v1, &l1));
		GUARD(tok_raw_attr(ctx, s, o, CKA_PUBLIC_EXPONENT, &v2, &l2));
		GUARD(tok_pub_rsa(v1, l1, v2, l2, out));
		break;
	default:
		r = gp_err_set(GP_ERR_UNSUPPORTED, "key type 0x%lx is neither EC "
		    "nor RSA", (unsigned long)kt);
		goto out;
	}
	r = 0;
out:
	OPENSSL_free(v1);
	OPENSSL_free(v2);
	return r;
}

int
tok_session_user(tok_ctx *ctx, CK_SESSION_HANDLE s, const char *token)
{
	CK_SESSION_INFO si;
	CK_RV rv;

	rv = ctx->fl->C_GetSessionInfo(s, &si);
	if (rv != CKR_OK)
		return tok_err_ckr(rv, token, "C_GetSessionInfo");
	if (si.state != CKS_RW_USER_FUNCTIONS &&
	    si.state != CKS_RO_USER_FUNCTIONS)
		return gp_err_set(GP_ERR_LOGIN_REQUIRED,
		    "token %s: log in as user first", token);
	return 0;
}

int
tok_keygen(tok_ctx *ctx, const char *token, const char *label,
    enum tok_algo algo, EVP_PKEY **out_pub)
{
	return tok_keygen_use(ctx, token, label, algo, TOK_USE_SIGN, out_pub);
}

int
tok_keygen_use(tok_ctx *ctx, const char *token, const char *label,
    enum tok_algo algo, enum tok_key_use use, EVP_PKEY **out_pub)
{
	static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	static CK_BYTE f4[] = { 0x01, 0x00, 0x01 };
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ULONG bits = 0, npub = 0, npriv = 0, found = 0;
	CK_ATTRIBUTE pub[10], priv[13];
	CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE h;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_BBOOL *decrypt = &no;
	CK_BBOOL *sign = use == TOK_USE_DECRYPT ? &no : &yes;
	const CK_BYTE *oid = NULL;
	size_t oid_len = 0;
	unsigned char id[16];
	PKCS11_SLOT *slot;
	CK_RV rv;
	int r = GP_ERR_INTERNAL;

	if (out_pub != NULL)
		*out_pub = NULL;
	ENSURE(ctx != NULL && token != NULL && label != NULL,
	    gp_err_set(GP_ERR_INVALID, "tok_keygen: NULL argument"));
	ENSURE(use == TOK_USE_SIGN || (use == TOK_USE_DECRYPT &&
	    (algo == TOK_ALGO_RSA_2048 || algo == TOK_ALGO_RSA_3072)),
	    gp_err_set(GP_ERR_INVALID, "key %s: a decryption key is RSA",
	    label));
	ENSURE(*label != '\0' && strlen(label) <= TOK_LABEL_MAX,
	    gp_err_set(GP_ERR_INVALID, "key label: must be 1 to %d bytes",
	    TOK_LABEL_MAX));
	switch (algo) {
	case TOK_ALGO_EC_P256:
		oid = tok_oid_p256;
		oid_len = sizeof(tok_oid_p256);
		break;
	case TOK_ALGO_EC_P384:
		oid = tok_oid_p384;
		oid_len = sizeof(tok_oid_p384);
		break;
	case TOK_ALGO_RSA_2048:
		bits = 2048;
		break;
	case TOK_ALGO_RSA_3072:
		bits = 3072;
		break;
	default:
		r = gp_err_set(GP_ERR_INVALID, "key algorithm %d", (int)algo);
		goto out;
	}
	GUARD(tok_slot_find(ctx, token, NULL, &slot));
	GUARD(tok_raw_session(ctx, slot, &s));
	GUARD(tok_session_user(ctx, s, token));
	GUARD(tok_raw_find(ctx, s, CKO_PRIVATE_KEY, label, NULL, 0, &h, 1,
	    &found));
	ENSURE(found == 0, gp_err_set(GP_ERR_EXISTS, "token %s already holds a "
	    "private key labelled %s", token, label));
	GUARD(tok_raw_find(ctx, s, CKO_PUBLIC_KEY, label, NULL, 0, &h, 1,
	    &found));
	ENSURE(found == 0, gp_err_set(GP_ERR_EXISTS, "token %s already holds a "
	    "public key labelled %s", token, label));
	GUARD(gp_random(id, sizeof(id)));

#define TOK_ADD(t, n, ty, p, l)                                         \
	do {                                                            \
		(t)[n].type = (ty);                                     \
		(t)[n].pValue = (void *)(p);                            \
		(t)[n].ulValueLen = (l);                                \
		(n)++;                                                  \
	} while (0)
	TOK_ADD(pub, npub, CKA_TOKEN, &yes, sizeof(yes));
	TOK_ADD(pub, npub, CKA_PRIVATE, &no, sizeof(no));
	TOK_ADD(pub, npub, CKA_VERIFY, sign, sizeof(*sign));
	TOK_ADD(pub, npub, CKA_LABEL, label, strlen(label));
	TOK_ADD(pub, npub, CKA_ID, id, sizeof(id));
	TOK_ADD(priv, npriv, CKA_TOKEN, &yes, sizeof(yes));
	TOK_ADD(priv, npriv, CKA_PRIVATE, &yes, sizeof(yes));
	TOK_ADD(priv, npriv, CKA_SENSITIVE, &yes, sizeof(yes));
	TOK_ADD(priv, npriv, CKA_EXTRACTABLE, &no, sizeof(no));
	TOK_ADD(priv, npriv, CKA_SIGN, sign, sizeof(*sign));
	TOK_ADD(priv, npriv, CKA_UNWRAP, &no, sizeof(no));
	TOK_ADD(priv, npriv, CKA_LABEL, label, strlen(label));
	TOK_ADD(priv, npriv, CKA_ID, id, sizeof(id));
	if (oid != NULL) {
		TOK_ADD(pub, npub, CKA_EC_PARAMS, oid, oid_len);
		TOK_ADD(priv, npriv, CKA_DERIVE, &no, sizeof(no));
	} else {
		/* RSA keys may also decrypt (CMS EnvelopedData for sealed
		 * bids); EC keys only sign. */
		decrypt = &yes;
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		TOK_ADD(pub, npub, CKA_MODULUS_BITS, &bits, sizeof(bits));
		TOK_ADD(pub, npub, CKA_PUBLIC_EXPONENT, f4, sizeof(f4));
		TOK_ADD(pub, npub, CKA_ENCRYPT, &yes, sizeof(yes));
	}
	TOK_ADD(priv, npriv, CKA_DECRYPT, decrypt, sizeof(*decrypt));
#undef TOK_ADD

	rv = ctx->fl->C_GenerateKeyPair(s, &mech, pub, npub, priv, npriv,
	    &hpub, &hpriv);
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, token, "generating the key pair"));
	if (out_pub != NULL)
		GUARD(tok_raw_pubkey(ctx, s, hpub, out_pub));
	r = 0;
out:
	if (s != CK_INVALID_HANDLE)
		(void)ctx->fl->C_CloseSession(s);
	return r;
}
