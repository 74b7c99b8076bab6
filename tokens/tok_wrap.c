/*
 * tok_wrap.c: keys that are wrapped, imported and deleted, and the SO's
 * reset of a user PIN: what the key management centre (kmc/) and the
 * holder's USB-key client (govpki token enroll|renew|unblock) need of a
 * token beyond signing.
 *
 * KMC side (the instance token): an AES-256 storage key that never leaves
 * the token (CKA_SENSITIVE, CKA_EXTRACTABLE false, CKA_WRAP and CKA_UNWRAP
 * only); encryption key pairs generated ON the token as session objects
 * and wrapped out at once with CKM_AES_KEY_WRAP_PAD (RFC 5649) under the
 * storage key, so the private key is never in the clear outside the token
 * when it is made or stored. SoftHSM 2.6 wraps private keys this way
 * (PKCS#8 inside) and unwraps them again; it has no CKM_AES_CBC_PAD unwrap,
 * so a CMS envelope cannot be opened on the token itself. Releasing a key
 * (to a holder, or to a recovery agent) therefore unwraps it into a
 * non-sensitive session object, reads it into memory for the envelope and
 * destroys the object; the caller wipes the key after use.
 *
 * Holder side (the USB key): an RSA private key from such an envelope is
 * created as a token object that is CKA_SENSITIVE and not extractable
 * (CKA_LOCAL is then false: it was not generated there), signing keys are
 * generated there (tok_keygen: CKA_LOCAL true), and C_InitPIN after an SO
 * login resets a forgotten or locked user PIN.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/params.h>

#include "tokens/internal.h"

#define TOK_LABEL_MAX 128
#define TOK_WRAPPED_MAX 16384   /* a wrapped RSA-4096 key is about 2.4 KiB */
#define TOK_RSA_PARTS 8

static CK_BBOOL tok_yes = CK_TRUE, tok_no = CK_FALSE;

#define TOK_ADD(t, n, ty, p, l)                                         \
	do {                                                            \
		(t)[n].type = (ty);                                     \
		(t)[n].pValue = (void *)(p);                            \
		(t)[n].ulValueLen = (l);                                \
		(n)++;                                                  \
	} while (0)

/* A logged-in R/W session on |token|. */
static int
tok_user_session(tok_ctx *ctx, const char *token, CK_SESSION_HANDLE *out)
{
	PKCS11_SLOT *slot;
	int r;

	*out = CK_INVALID_HANDLE;
	GUARD(tok_slot_find(ctx, token, NULL, &slot));
	GUARD(tok_raw_session(ctx, slot, out));
	GUARD(tok_session_user(ctx, *out, token));
	r = 0;
out:
	return r;
}

static int
tok_label_ok(const char *what, const char *label)
{
	if (label == NULL || *label == '\0' || strlen(label) > TOK_LABEL_MAX)
		return gp_err_set(GP_ERR_INVALID, "%s label: must be 1 to %d "
		    "bytes", what, TOK_LABEL_MAX);
	return 0;
}

/* The one secret key labelled |label|, or GP_ERR_NOT_FOUND. */
static int
tok_secret_find(tok_ctx *ctx, CK_SESSION_HANDLE s, const char *token,
    const char *label, CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_HANDLE h[2];
	CK_ULONG found = 0;
	int r;

	GUARD(tok_raw_find(ctx, s, CKO_SECRET_KEY, label, NULL, 0, h, 2,
	    &found));
	ENSURE(found > 0, gp_err_set(GP_ERR_NOT_FOUND, "token %s holds no "
	    "secret key %s", token, label));
	ENSURE(found == 1, gp_err_set(GP_ERR_CONFLICT, "token %s holds several "
	    "secret keys labelled %s", token, label));
	*out = h[0];
	r = 0;
out:
	return r;
}

int
tok_wrapkey_gen(tok_ctx *ctx, const char *token, const char *label)
{
	CK_OBJECT_CLASS klass = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG len = 32, n = 0, found = 0;
	CK_MECHANISM mech = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_ATTRIBUTE t[13];
	CK_OBJECT_HANDLE h;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	unsigned char id[16];
	CK_RV rv;
	int r = GP_ERR_INTERNAL;

	ENSURE(ctx != NULL && token != NULL, gp_err_set(GP_ERR_INVALID,
	    "tok_wrapkey_gen: NULL argument"));
	GUARD(tok_label_ok("storage key", label));
	GUARD(tok_user_session(ctx, token, &s));
	GUARD(tok_raw_find(ctx, s, CKO_SECRET_KEY, label, NULL, 0, &h, 1,
	    &found));
	ENSURE(found == 0, gp_err_set(GP_ERR_EXISTS, "token %s already holds a "
	    "secret key labelled %s", token, label));
	GUARD(gp_random(id, sizeof(id)));
	TOK_ADD(t, n, CKA_CLASS, &klass, sizeof(klass));
	TOK_ADD(t, n, CKA_KEY_TYPE, &kt, sizeof(kt));
	TOK_ADD(t, n, CKA_VALUE_LEN, &len, sizeof(len));
	TOK_ADD(t, n, CKA_TOKEN, &tok_yes, sizeof(tok_yes));
	TOK_ADD(t, n, CKA_PRIVATE, &tok_yes, sizeof(tok_yes));
	TOK_ADD(t, n, CKA_SENSITIVE, &tok_yes, sizeof(tok_yes));
	TOK_ADD(t, n, CKA_EXTRACTABLE, &tok_no, sizeof(tok_no));
	/* Wrapping only: it never encrypts data an attacker could choose. */
	TOK_ADD(t, n, CKA_WRAP, &tok_yes, sizeof(tok_yes));
	TOK_ADD(t, n, CKA_UNWRAP, &tok_yes, sizeof(tok_yes));
	TOK_ADD(t, n, CKA_ENCRYPT, &tok_no, sizeof(tok_no));
	TOK_ADD(t, n, CKA_DECRYPT, &tok_no, sizeof(tok_no));
	TOK_ADD(t, n, CKA_LABEL, label, strlen(label));
	TOK_ADD(t, n, CKA_ID, id, sizeof(id));
	rv = ctx->fl->C_GenerateKey(s, &mech, t, n, &h);
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, token, "generating the storage "
	    "key"));
	r = 0;
out:
	if (s != CK_INVALID_HANDLE)
		(void)ctx->fl->C_CloseSession(s);
	return r;
}

int
tok_wrapkey_attrs(tok_ctx *ctx, const char *token, const char *label,
    int *out_sensitive, int *out_extractable)
{
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE h;
	CK_BBOOL sens = CK_FALSE, extr = CK_TRUE, never = CK_FALSE;
	CK_ATTRIBUTE a[3] = {
		{ CKA_SENSITIVE, &sens, sizeof(sens) },
		{ CKA_EXTRACTABLE, &extr, sizeof(extr) },
		{ CKA_NEVER_EXTRACTABLE, &never, sizeof(never) },
	};
	CK_RV rv;
	int r = GP_ERR_INTERNAL;

	ENSURE(ctx != NULL && token != NULL && label != NULL &&
	    out_sensitive != NULL && out_extractable != NULL,
	    gp_err_set(GP_ERR_INVALID, "tok_wrapkey_attrs: NULL argument"));
	GUARD(tok_user_session(ctx, token, &s));
	GUARD(tok_secret_find(ctx, s, token, label, &h));
	rv = ctx->fl->C_GetAttributeValue(s, h, a, 3);
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, token, "reading the storage key's "
	    "attributes"));
	*out_sensitive = sens == CK_TRUE;
	*out_extractable = extr == CK_TRUE || never != CK_TRUE;
	r = 0;
out:
	if (s != CK_INVALID_HANDLE)
		(void)ctx->fl->C_CloseSession(s);
	return r;
}

int
tok_wrapped_keygen(tok_ctx *ctx, const char *token, const char *wrap_label,
    enum tok_algo algo, EVP_PKEY **out_pub, uint8_t **out_blob,
    size_t *out_len)
{
	static CK_BYTE f4[] = { 0x01, 0x00, 0x01 };
	CK_MECHANISM gen = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_MECHANISM wrap = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ULONG bits, npub = 0, npriv = 0, wlen = 0;
	CK_ATTRIBUTE pub[4], priv[7];
	CK_OBJECT_HANDLE hw, hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	uint8_t *blob = NULL;
	CK_RV rv;
	int r = GP_ERR_INTERNAL;

	ENSURE(ctx != NULL && token != NULL && wrap_label != NULL &&
	    out_pub != NULL && out_blob != NULL && out_len != NULL,
	    gp_err_set(GP_ERR_INVALID, "tok_wrapped_keygen: NULL argument"));
	*out_pub = NULL;
	*out_blob = NULL;
	*out_len = 0;
	switch (algo) {
	case TOK_ALGO_RSA_2048:
		bits = 2048;
		break;
	case TOK_ALGO_RSA_3072:
		bits = 3072;
		break;
	default:
		/* Key transport (CMS KeyTransRecipientInfo) is RSA. */
		r = gp_err_set(GP_ERR_UNSUPPORTED, "escrowed encryption keys "
		    "are RSA (rsa-2048, rsa-3072), not %s", tok_algo_name(algo));
		goto out;
	}
	GUARD(tok_user_session(ctx, token, &s));
	GUARD(tok_secret_find(ctx, s, token, wrap_label, &hw));
	/* Session objects: gone when the session closes, whatever happens. */
	TOK_ADD(pub, npub, CKA_TOKEN, &tok_no, sizeof(tok_no));
	TOK_ADD(pub, npub, CKA_MODULUS_BITS, &bits, sizeof(bits));
	TOK_ADD(pub, npub, CKA_PUBLIC_EXPONENT, f4, sizeof(f4));
	TOK_ADD(pub, npub, CKA_ENCRYPT, &tok_yes, sizeof(tok_yes));
	TOK_ADD(priv, npriv, CKA_TOKEN, &tok_no, sizeof(tok_no));
	TOK_ADD(priv, npriv, CKA_PRIVATE, &tok_yes, sizeof(tok_yes));
	TOK_ADD(priv, npriv, CKA_SENSITIVE, &tok_yes, sizeof(tok_yes));
	/* Extractable only so that it can be wrapped (PKCS#11 C_WrapKey
	 * refuses others); sensitive, so never readable in the clear. */
	TOK_ADD(priv, npriv, CKA_EXTRACTABLE, &tok_yes, sizeof(tok_yes));
	TOK_ADD(priv, npriv, CKA_DECRYPT, &tok_yes, sizeof(tok_yes));
	TOK_ADD(priv, npriv, CKA_SIGN, &tok_no, sizeof(tok_no));
	TOK_ADD(priv, npriv, CKA_UNWRAP, &tok_no, sizeof(tok_no));
	rv = ctx->fl->C_GenerateKeyPair(s, &gen, pub, npub, priv, npriv, &hpub,
	    &hpriv);
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, token, "generating an encryption "
	    "key pair"));
	rv = ctx->fl->C_WrapKey(s, &wrap, hw, hpriv, NULL, &wlen);
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, token, "wrapping the key (size)"));
	ENSURE(wlen > 0 && wlen <= TOK_WRAPPED_MAX, gp_err_set(GP_ERR_DEVICE,
	    "token %s: a wrapped key of %lu bytes", token, (unsigned long)wlen));
	ENSURE((blob = malloc(wlen)) != NULL, GP_ERR_NOMEM);
	rv = ctx->fl->C_WrapKey(s, &wrap, hw, hpriv, blob, &wlen);
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, token, "wrapping the key"));
	GUARD(tok_raw_pubkey(ctx, s, hpub, out_pub));
	*out_blob = blob;
	*out_len = wlen;
	blob = NULL; /* transferred */
	r = 0;
out:
	free(blob);
	if (hpriv != CK_INVALID_HANDLE)
		(void)ctx->fl->C_DestroyObject(s, hpriv);
	if (hpub != CK_INVALID_HANDLE)
		(void)ctx->fl->C_DestroyObject(s, hpub);
	if (s != CK_INVALID_HANDLE)
		(void)ctx->fl->C_CloseSession(s);
	return r;
}

/* RSA private key parts, in the order of tok_rsa_attr[] and tok_rsa_param[]. */
static const CK_ATTRIBUTE_TYPE tok_rsa_attr[TOK_RSA_PARTS] = {
	CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT, CKA_PRIME_1,
	CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT
};
static const char *const tok_rsa_param[TOK_RSA_PARTS] = {
	OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E, OSSL_PKEY_PARAM_RSA_D,
	OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2,
	OSSL_PKEY_PARAM_RSA_EXPONENT1, OSSL_PKEY_PARAM_RSA_EXPONENT2,
	OSSL_PKEY_PARAM_RSA_COEFFICIENT1
};

/* OpenSSL 3.0 has no OSSL_PARAM_clear_free(): wipe the values first. */
static void
tok_params_wipe(OSSL_PARAM *ps)
{
	OSSL_PARAM *p;

	for (p = ps; p != NULL && p->key != NULL; p++)
		if (p->data != NULL && p->data_size > 0)
			OPENSSL_cleanse(p->data, p->data_size);
}

int
tok_unwrap_private(tok_ctx *ctx, const char *token, const char *wrap_label,
    const uint8_t *blob, size_t len, EVP_PKEY **out)
{
	CK_OBJECT_CLASS klass = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = CKK_RSA;
	CK_MECHANISM wrap = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ATTRIBUTE t[7];
	CK_ULONG n = 0;
	CK_OBJECT_HANDLE hw, h = CK_INVALID_HANDLE;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	unsigned char *v[TOK_RSA_PARTS] = { NULL };
	size_t vl[TOK_RSA_PARTS] = { 0 };
	BIGNUM *bn[TOK_RSA_PARTS] = { NULL };
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *ps = NULL;
	EVP_PKEY_CTX *pc = NULL;
	CK_RV rv;
	size_t i;
	int r = GP_ERR_INTERNAL;

	ENSURE(ctx != NULL && token != NULL && wrap_label != NULL &&
	    blob != NULL && out != NULL, gp_err_set(GP_ERR_INVALID,
	    "tok_unwrap_private: NULL argument"));
	*out = NULL;
	ENSURE(len > 0 && len <= TOK_WRAPPED_MAX, gp_err_set(GP_ERR_INVALID,
	    "wrapped key: %zu bytes", len));
	GUARD(tok_user_session(ctx, token, &s));
	GUARD(tok_secret_find(ctx, s, token, wrap_label, &hw));
	TOK_ADD(t, n, CKA_CLASS, &klass, sizeof(klass));
	TOK_ADD(t, n, CKA_KEY_TYPE, &kt, sizeof(kt));
	TOK_ADD(t, n, CKA_TOKEN, &tok_no, sizeof(tok_no));
	TOK_ADD(t, n, CKA_PRIVATE, &tok_yes, sizeof(tok_yes));
	/* Readable, for the envelope that takes it to its recipient; a
	 * session object, destroyed below. */
	TOK_ADD(t, n, CKA_SENSITIVE, &tok_no, sizeof(tok_no));
	TOK_ADD(t, n, CKA_EXTRACTABLE, &tok_yes, sizeof(tok_yes));
	TOK_ADD(t, n, CKA_DECRYPT, &tok_yes, sizeof(tok_yes));
	/* RFC 5649 3: the integrity check of the unwrapped key fails for a
	 * blob changed by one bit, or wrapped under another key. */
	rv = ctx->fl->C_UnwrapKey(s, &wrap, hw, (CK_BYTE *)blob, len, t, n, &h);
	ENSURE(rv == CKR_OK, gp_err_set(GP_ERR_TAMPERED, "token %s: the wrapped "
	    "key does not unwrap under %s (%s): changed, or wrapped under "
	    "another storage key", token, wrap_label, tok_ckr_name(rv)));
	for (i = 0; i < TOK_RSA_PARTS; i++) {
		GUARD(tok_raw_attr(ctx, s, h, tok_rsa_attr[i], &v[i], &vl[i]));
		ENSURE((bn[i] = BN_secure_new()) != NULL &&
		    BN_bin2bn(v[i], (int)vl[i], bn[i]) != NULL, GP_ERR_NOMEM);
	}
	ENSURE((bld = OSSL_PARAM_BLD_new()) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < TOK_RSA_PARTS; i++)
		ENSURE(OSSL_PARAM_BLD_push_BN(bld, tok_rsa_param[i], bn[i]) == 1,
		    GP_ERR_NOMEM);
	ENSURE((ps = OSSL_PARAM_BLD_to_param(bld)) != NULL, GP_ERR_NOMEM);
	ENSURE((pc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) != NULL &&
	    EVP_PKEY_fromdata_init(pc) == 1 &&
	    EVP_PKEY_fromdata(pc, out, EVP_PKEY_KEYPAIR, ps) == 1,
	    gp_err_ssl(GP_ERR_CRYPTO, "the unwrapped RSA key"));
	r = 0;
out:
	EVP_PKEY_CTX_free(pc);
	tok_params_wipe(ps);
	OSSL_PARAM_free(ps);
	OSSL_PARAM_BLD_free(bld);
	for (i = 0; i < TOK_RSA_PARTS; i++) {
		BN_clear_free(bn[i]);
		if (v[i] != NULL)
			OPENSSL_clear_free(v[i], vl[i]);
	}
	if (h != CK_INVALID_HANDLE)
		(void)ctx->fl->C_DestroyObject(s, h);
	if (s != CK_INVALID_HANDLE)
		(void)ctx->fl->C_CloseSession(s);
	return r;
}

int
tok_key_import(tok_ctx *ctx, const char *token, const char *label,
    EVP_PKEY *key)
{
	CK_OBJECT_CLASS kpriv = CKO_PRIVATE_KEY, kpub = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = CKK_RSA;
	CK_ATTRIBUTE t[TOK_RSA_PARTS + 12], pt[8];
	CK_ULONG n = 0, np = 0, found = 0;
	CK_OBJECT_HANDLE h, hpriv = CK_INVALID_HANDLE, hpub;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	unsigned char *v[TOK_RSA_PARTS] = { NULL };
	int vl[TOK_RSA_PARTS] = { 0 };
	BIGNUM *bn = NULL;
	unsigned char id[16];
	CK_RV rv;
	size_t i;
	int r = GP_ERR_INTERNAL;

	ENSURE(ctx != NULL && token != NULL && key != NULL,
	    gp_err_set(GP_ERR_INVALID, "tok_key_import: NULL argument"));
	GUARD(tok_label_ok("key", label));
	ENSURE(EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA,
	    gp_err_set(GP_ERR_UNSUPPORTED, "only RSA keys are imported"));
	GUARD(tok_user_session(ctx, token, &s));
	GUARD(tok_raw_find(ctx, s, CKO_PRIVATE_KEY, label, NULL, 0, &h, 1,
	    &found));
	ENSURE(found == 0, gp_err_set(GP_ERR_EXISTS, "token %s already holds a "
	    "private key labelled %s", token, label));
	for (i = 0; i < TOK_RSA_PARTS; i++) {
		ENSURE(EVP_PKEY_get_bn_param(key, tok_rsa_param[i], &bn) == 1,
		    gp_err_ssl(GP_ERR_INVALID, "the RSA key lacks its %s",
		    tok_rsa_param[i]));
		vl[i] = BN_num_bytes(bn);
		ENSURE((v[i] = OPENSSL_secure_malloc((size_t)vl[i] + 1)) != NULL,
		    GP_ERR_NOMEM);
		ENSURE(BN_bn2bin(bn, v[i]) == vl[i], GP_ERR_CRYPTO);
		BN_clear_free(bn);
		bn = NULL;
	}
	GUARD(gp_random(id, sizeof(id)));
	TOK_ADD(t, n, CKA_CLASS, &kpriv, sizeof(kpriv));
	TOK_ADD(t, n, CKA_KEY_TYPE, &kt, sizeof(kt));
	TOK_ADD(t, n, CKA_TOKEN, &tok_yes, sizeof(tok_yes));
	TOK_ADD(t, n, CKA_PRIVATE, &tok_yes, sizeof(tok_yes));
	TOK_ADD(t, n, CKA_SENSITIVE, &tok_yes, sizeof(tok_yes));
	TOK_ADD(t, n, CKA_EXTRACTABLE, &tok_no, sizeof(tok_no));
	/* An encryption key (keyEncipherment): it decrypts, never signs. */
	TOK_ADD(t, n, CKA_DECRYPT, &tok_yes, sizeof(tok_yes));
	TOK_ADD(t, n, CKA_UNWRAP, &tok_yes, sizeof(tok_yes));
	TOK_ADD(t, n, CKA_SIGN, &tok_no, sizeof(tok_no));
	TOK_ADD(t, n, CKA_LABEL, label, strlen(label));
	TOK_ADD(t, n, CKA_ID, id, sizeof(id));
	for (i = 0; i < TOK_RSA_PARTS; i++)
		TOK_ADD(t, n, tok_rsa_attr[i], v[i], (CK_ULONG)vl[i]);
	rv = ctx->fl->C_CreateObject(s, t, n, &hpriv);
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, token, "storing the private key"));
	TOK_ADD(pt, np, CKA_CLASS, &kpub, sizeof(kpub));
	TOK_ADD(pt, np, CKA_KEY_TYPE, &kt, sizeof(kt));
	TOK_ADD(pt, np, CKA_TOKEN, &tok_yes, sizeof(tok_yes));
	TOK_ADD(pt, np, CKA_ENCRYPT, &tok_yes, sizeof(tok_yes));
	TOK_ADD(pt, np, CKA_LABEL, label, strlen(label));
	TOK_ADD(pt, np, CKA_ID, id, sizeof(id));
	TOK_ADD(pt, np, CKA_MODULUS, v[0], (CK_ULONG)vl[0]);
	TOK_ADD(pt, np, CKA_PUBLIC_EXPONENT, v[1], (CK_ULONG)vl[1]);
	rv = ctx->fl->C_CreateObject(s, pt, np, &hpub);
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, token, "storing the public key"));
	hpriv = CK_INVALID_HANDLE; /* kept */
	r = 0;
out:
	/* Nothing half written: a private key without its public one goes. */
	if (hpriv != CK_INVALID_HANDLE)
		(void)ctx->fl->C_DestroyObject(s, hpriv);
	BN_clear_free(bn);
	for (i = 0; i < TOK_RSA_PARTS; i++)
		if (v[i] != NULL)
			OPENSSL_secure_clear_free(v[i], (size_t)vl[i] + 1);
	if (s != CK_INVALID_HANDLE)
		(void)ctx->fl->C_CloseSession(s);
	return r;
}

int
tok_key_flags(tok_ctx *ctx, const char *uri, struct tok_key_flags *out)
{
	struct tok_uri u = { 0 };
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE h;
	CK_ULONG found = 0;
	CK_BBOOL v[5] = { CK_FALSE, CK_TRUE, CK_FALSE, CK_FALSE, CK_FALSE };
	CK_ATTRIBUTE a[5] = {
		{ CKA_SENSITIVE, &v[0], sizeof(v[0]) },
		{ CKA_EXTRACTABLE, &v[1], sizeof(v[1]) },
		{ CKA_ALWAYS_SENSITIVE, &v[2], sizeof(v[2]) },
		{ CKA_NEVER_EXTRACTABLE, &v[3], sizeof(v[3]) },
		{ CKA_LOCAL, &v[4], sizeof(v[4]) },
	};
	PKCS11_SLOT *slot = NULL;
	CK_RV rv;
	int r = GP_ERR_INTERNAL;

	ENSURE(ctx != NULL && uri != NULL && out != NULL,
	    gp_err_set(GP_ERR_INVALID, "tok_key_flags: NULL argument"));
	memset(out, 0, sizeof(*out));
	GUARD(tok_uri_session(ctx, uri, &u, &slot, &s));
	GUARD(tok_session_user(ctx, s, tok_uri_token_name(&u)));
	GUARD(tok_raw_find(ctx, s, CKO_PRIVATE_KEY, u.object, u.id, u.id_len,
	    &h, 1, &found));
	ENSURE(found == 1, gp_err_set(GP_ERR_NOT_FOUND, "token %s holds no "
	    "private key %s", tok_uri_token_name(&u),
	    u.object != NULL ? u.object : "with that id"));
	rv = ctx->fl->C_GetAttributeValue(s, h, a, 5);
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, tok_uri_token_name(&u),
	    "reading key attributes"));
	out->sensitive = v[0] == CK_TRUE;
	out->extractable = v[1] == CK_TRUE;
	out->always_sensitive = v[2] == CK_TRUE;
	out->never_extractable = v[3] == CK_TRUE;
	/* PKCS#11 4.7: CKA_LOCAL is true only when the key was generated
	 * on the token (C_GenerateKey, C_GenerateKeyPair). */
	out->local = v[4] == CK_TRUE;
	r = 0;
out:
	if (s != CK_INVALID_HANDLE)
		(void)ctx->fl->C_CloseSession(s);
	tok_uri_clear(&u);
	return r;
}

int
tok_key_delete(tok_ctx *ctx, const char *token, const char *label)
{
	static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY,
	    CKO_PUBLIC_KEY, CKO_CERTIFICATE };
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE h[8];
	CK_ULONG found = 0, j;
	CK_RV rv;
	size_t i;
	int r = GP_ERR_INTERNAL;

	ENSURE(ctx != NULL && token != NULL, gp_err_set(GP_ERR_INVALID,
	    "tok_key_delete: NULL argument"));
	GUARD(tok_label_ok("key", label));
	GUARD(tok_user_session(ctx, token, &s));
	for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		GUARD(tok_raw_find(ctx, s, classes[i], label, NULL, 0, h, 8,
		    &found));
		for (j = 0; j < found; j++) {
			rv = ctx->fl->C_DestroyObject(s, h[j]);
			ENSURE(rv == CKR_OK, tok_err_ckr(rv, token,
			    "deleting an object"));
		}
	}
	r = 0;
out:
	if (s != CK_INVALID_HANDLE)
		(void)ctx->fl->C_CloseSession(s);
	return r;
}

int
tok_init_pin(tok_ctx *ctx, const char *token, const char *so_pin,
    const char *new_pin)
{
	PKCS11_SLOT *slot;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_RV rv;
	int so = 0, r = GP_ERR_INTERNAL;

	ENSURE(ctx != NULL && token != NULL && so_pin != NULL &&
	    new_pin != NULL, gp_err_set(GP_ERR_INVALID,
	    "tok_init_pin: NULL argument"));
	ENSURE(*new_pin != '\0', gp_err_set(GP_ERR_INVALID, "token %s: the new "
	    "PIN is empty", token));
	GUARD(tok_slot_find(ctx, token, NULL, &slot));
	GUARD(tok_raw_session(ctx, slot, &s));
	/* PKCS#11 C_InitPIN: "can only be called in the 'R/W SO Functions'
	 * state"; it sets the user PIN whatever its state (locked too). */
	rv = ctx->fl->C_Login(s, CKU_SO, (CK_UTF8CHAR *)so_pin, strlen(so_pin));
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, token, "SO login"));
	so = 1;
	rv = ctx->fl->C_InitPIN(s, (CK_UTF8CHAR *)new_pin, strlen(new_pin));
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, token, "setting the user PIN"));
	r = 0;
out:
	if (so)
		(void)ctx->fl->C_Logout(s);
	if (s != CK_INVALID_HANDLE)
		(void)ctx->fl->C_CloseSession(s);
	return r;
}

void
tok_cert_list_free(struct tok_cert_obj *list, size_t len)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < len; i++)
		X509_free(list[i].cert);
	free(list);
}

int
tok_cert_list(tok_ctx *ctx, const char *token, struct tok_cert_obj **out,
    size_t *out_len)
{
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE h[TOK_CERT_LIST_MAX];
	CK_ULONG found = 0, i;
	PKCS11_SLOT *slot;
	struct tok_cert_obj *list = NULL;
	unsigned char *der = NULL, *lab = NULL;
	const unsigned char *p;
	size_t der_len = 0, lab_len = 0, n = 0;
	int r = GP_ERR_INTERNAL;

	ENSURE(ctx != NULL && token != NULL && out != NULL && out_len != NULL,
	    gp_err_set(GP_ERR_INVALID, "tok_cert_list: NULL argument"));
	*out = NULL;
	*out_len = 0;
	GUARD(tok_slot_find(ctx, token, NULL, &slot));
	GUARD(tok_raw_session(ctx, slot, &s));
	GUARD(tok_raw_find(ctx, s, CKO_CERTIFICATE, NULL, NULL, 0, h,
	    TOK_CERT_LIST_MAX, &found));
	ENSURE((list = calloc(found + 1, sizeof(*list))) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < found; i++) {
		GUARD(tok_raw_attr(ctx, s, h[i], CKA_VALUE, &der, &der_len));
		if (tok_raw_attr(ctx, s, h[i], CKA_LABEL, &lab, &lab_len) != 0)
			lab_len = 0;
		p = der;
		list[n].cert = d2i_X509(NULL, &p, (long)der_len);
		if (list[n].cert != NULL && p == der + der_len) {
			if (lab_len >= sizeof(list[n].label))
				lab_len = sizeof(list[n].label) - 1;
			if (lab != NULL)
				memcpy(list[n].label, lab, lab_len);
			list[n].label[lab_len] = '\0';
			n++;
		} else {
			/* Not an X.509 certificate we can read: skipped. */
			X509_free(list[n].cert);
			list[n].cert = NULL;
			ERR_clear_error();
		}
		OPENSSL_free(der);
		OPENSSL_free(lab);
		der = lab = NULL;
	}
	*out = list;
	*out_len = n;
	list = NULL; /* transferred */
	r = 0;
out:
	OPENSSL_free(der);
	OPENSSL_free(lab);
	tok_cert_list_free(list, n);
	if (s != CK_INVALID_HANDLE)
		(void)ctx->fl->C_CloseSession(s);
	return r;
}
