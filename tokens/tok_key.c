/*
 * tok_key.c: from a key URI to something OpenSSL signs with. For pkcs11:
 * URIs the private key object is looked up once, through libp11, whose
 * EVP_PKEY carries an RSA_METHOD or EC_KEY_METHOD that signs on the token
 * (OpenSSL 3 treats such "foreign" legacy keys through its legacy path, so
 * X509_sign, X509_REQ_sign and EVP_DigestSign work unchanged) and borrows a
 * session from libp11's per-slot pool for each signature, so many threads can
 * sign at once. Public keys, attributes and CSRs are here too.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tokens/internal.h"

#define TOK_PEM_MAX (64 * 1024)

const char *
tok_uri_token_name(const struct tok_uri *u)
{
	if (u->token != NULL)
		return u->token;
	if (u->serial != NULL)
		return u->serial;
	return "(first)";
}

int
tok_uri_session(tok_ctx *ctx, const char *uri, struct tok_uri *out_uri,
    PKCS11_SLOT **out_slot, CK_SESSION_HANDLE *out_s)
{
	int r = GP_ERR_INTERNAL;

	*out_s = CK_INVALID_HANDLE;
	GUARD(tok_uri_parse(uri, out_uri));
	ENSURE(out_uri->file == NULL, gp_err_set(GP_ERR_INVALID,
	    "key URI %s: a file, not a PKCS#11 object", out_uri->file));
	ENSURE(out_uri->module_path == NULL ||
	    strcmp(out_uri->module_path, ctx->module_path) == 0,
	    gp_err_set(GP_ERR_INVALID, "key URI names module %s but module %s "
	    "is loaded", out_uri->module_path, ctx->module_path));
	ENSURE(out_uri->object != NULL || out_uri->id != NULL,
	    gp_err_set(GP_ERR_INVALID, "key URI for token %s names no object "
	    "(object=LABEL)", tok_uri_token_name(out_uri)));
	GUARD(tok_slot_find(ctx, out_uri->token, out_uri->serial, out_slot));
	GUARD(tok_raw_session(ctx, *out_slot, out_s));
	r = 0;
out:
	return r;
}

/* Refuses the passphrase prompt OpenSSL would otherwise show. */
static int
tok_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Reads a PEM private key (or, with |pub_only|, a public key or the public
 * half of a private key) from |path|. */
static int
tok_file_key(const char *path, int pub_only, EVP_PKEY **out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	EVP_PKEY *k = NULL;
	int r = GP_ERR_INTERNAL;

	GUARD(gp_file_read(path, TOK_PEM_MAX, &buf, &len));
	ENSURE((bio = BIO_new_mem_buf(buf, (int)len)) != NULL, GP_ERR_NOMEM);
	if (pub_only && (k = PEM_read_bio_PUBKEY(bio, NULL, tok_no_passphrase,
	    NULL)) != NULL) {
		*out = k;
		r = 0;
		goto out;
	}
	ERR_clear_error();
	(void)BIO_reset(bio);
	ENSURE((k = PEM_read_bio_PrivateKey(bio, NULL, tok_no_passphrase,
	    NULL)) != NULL, gp_err_ssl(GP_ERR_INVALID, "key file %s: not an "
	    "unencrypted PEM private key", path));
	*out = k;
	r = 0;
out:
	BIO_free(bio);
	if (buf != NULL) {
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
	return r;
}

int
tok_key_load(tok_ctx *ctx, const char *uri, EVP_PKEY **out)
{
	struct tok_uri u = { 0 };
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	PKCS11_SLOT *slot = NULL;
	PKCS11_KEY *keys = NULL, *match = NULL;
	unsigned int n = 0, i, nmatch = 0;
	EVP_PKEY *k;
	const char *tn;
	int r = GP_ERR_INTERNAL;

	ENSURE(out != NULL && uri != NULL, gp_err_set(GP_ERR_INVALID,
	    "tok_key_load: NULL argument"));
	*out = NULL;
	if (strncmp(uri, "file:", 5) == 0) {
		GUARD(tok_uri_parse(uri, &u));
		GUARD(tok_file_key(u.file, 0, out));
		r = 0;
		goto out;
	}
	ENSURE(ctx != NULL, gp_err_set(GP_ERR_INVALID,
	    "key %s: no PKCS#11 module loaded", uri));
	GUARD(tok_uri_session(ctx, uri, &u, &slot, &s));
	tn = tok_uri_token_name(&u);
	ENSURE(u.type == NULL || strcmp(u.type, "private") == 0,
	    gp_err_set(GP_ERR_INVALID, "key URI %s: type must be private",
	    uri));
	GUARD(tok_session_user(ctx, s, tn));
	ERR_clear_error();
	/* libp11 0.4.12 searches the token again on every enumeration and
	 * adds objects it has not seen, so a key generated since the last
	 * call is found, and keys loaded before keep working. */
	ENSURE(PKCS11_enumerate_keys(slot->token, &keys, &n) == 0,
	    tok_err_p11(GP_ERR_DEVICE, tn, "listing private keys"));
	for (i = 0; i < n; i++) {
		if (u.object != NULL && (keys[i].label == NULL ||
		    strcmp(keys[i].label, u.object) != 0))
			continue;
		if (u.id != NULL && (keys[i].id_len != u.id_len ||
		    memcmp(keys[i].id, u.id, u.id_len) != 0))
			continue;
		match = &keys[i];
		nmatch++;
	}
	ENSURE(nmatch > 0, gp_err_set(GP_ERR_NOT_FOUND, "token %s holds no "
	    "private key %s", tn, u.object != NULL ? u.object : "with that id"));
	ENSURE(nmatch == 1, gp_err_set(GP_ERR_CONFLICT, "token %s holds %u "
	    "private keys labelled %s; add id= to the URI", tn, nmatch,
	    u.object != NULL ? u.object : "?"));
	ENSURE((k = PKCS11_get_private_key(match)) != NULL,
	    tok_err_p11(GP_ERR_DEVICE, tn, "loading the private key"));
	*out = k;
	r = 0;
out:
	if (s != CK_INVALID_HANDLE)
		(void)ctx->fl->C_CloseSession(s);
	tok_uri_clear(&u);
	return r;
}

int
tok_pubkey_load(tok_ctx *ctx, const char *uri, EVP_PKEY **out)
{
	struct tok_uri u = { 0 };
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE h;
	CK_ULONG found = 0;
	PKCS11_SLOT *slot = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t der_len = 0;
	X509 *x = NULL;
	int r = GP_ERR_INTERNAL;

	ENSURE(out != NULL && uri != NULL, gp_err_set(GP_ERR_INVALID,
	    "tok_pubkey_load: NULL argument"));
	*out = NULL;
	if (strncmp(uri, "file:", 5) == 0) {
		GUARD(tok_uri_parse(uri, &u));
		GUARD(tok_file_key(u.file, 1, out));
		r = 0;
		goto out;
	}
	ENSURE(ctx != NULL, gp_err_set(GP_ERR_INVALID,
	    "key %s: no PKCS#11 module loaded", uri));
	GUARD(tok_uri_session(ctx, uri, &u, &slot, &s));
	GUARD(tok_raw_find(ctx, s, CKO_PUBLIC_KEY, u.object, u.id, u.id_len,
	    &h, 1, &found));
	if (found == 1) {
		GUARD(tok_raw_pubkey(ctx, s, h, out));
		r = 0;
		goto out;
	}
	/* No public key object: the certificate of the same name has it. */
	GUARD(tok_raw_find(ctx, s, CKO_CERTIFICATE, u.object, u.id, u.id_len,
	    &h, 1, &found));
	ENSURE(found == 1, gp_err_set(GP_ERR_NOT_FOUND, "token %s holds no "
	    "public key or certificate %s", tok_uri_token_name(&u),
	    u.object != NULL ? u.object : "with that id"));
	GUARD(tok_raw_attr(ctx, s, h, CKA_VALUE, &der, &der_len));
	p = der;
	ENSURE((x = d2i_X509(NULL, &p, (long)der_len)) != NULL,
	    gp_err_ssl(GP_ERR_DEVICE, "certificate %s on token %s",
	    u.object != NULL ? u.object : "?", tok_uri_token_name(&u)));
	ENSURE((*out = X509_get_pubkey(x)) != NULL, gp_err_ssl(GP_ERR_CRYPTO,
	    "certificate %s: public key", u.object != NULL ? u.object : "?"));
	r = 0;
out:
	X509_free(x);
	OPENSSL_free(der);
	if (s != CK_INVALID_HANDLE)
		(void)ctx->fl->C_CloseSession(s);
	tok_uri_clear(&u);
	return r;
}

int
tok_key_attrs(tok_ctx *ctx, const char *uri, int *out_sensitive,
    int *out_extractable)
{
	struct tok_key_flags fl;
	int r;

	ENSURE(out_sensitive != NULL && out_extractable != NULL,
	    gp_err_set(GP_ERR_INVALID, "tok_key_attrs: NULL argument"));
	GUARD(tok_key_flags(ctx, uri, &fl));
	*out_sensitive = fl.sensitive;
	/* A key that was ever extractable may have left the token: count it
	 * as extractable (PKCS#11 4.9: CKA_NEVER_EXTRACTABLE is TRUE only if
	 * CKA_EXTRACTABLE has always been FALSE). */
	*out_extractable = fl.extractable || !fl.never_extractable;
	r = 0;
out:
	return r;
}

int
tok_csr_make(EVP_PKEY *key, const X509_NAME *subject, X509_REQ **out)
{
	X509_REQ *req = NULL;
	const EVP_MD *md = EVP_sha256();
	int r = GP_ERR_INTERNAL;

	ENSURE(key != NULL && subject != NULL && out != NULL,
	    gp_err_set(GP_ERR_INVALID, "tok_csr_make: NULL argument"));
	*out = NULL;
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
	    EVP_PKEY_get_bits(key) >= 384)
		md = EVP_sha384();
	ERR_clear_error();
	ENSURE((req = X509_REQ_new()) != NULL, GP_ERR_NOMEM);
	/* RFC 2986 4.1: version is 0 for this version of the standard. */
	ENSURE(X509_REQ_set_version(req, 0) == 1 &&
	    X509_REQ_set_subject_name(req, subject) == 1 &&
	    X509_REQ_set_pubkey(req, key) == 1,
	    gp_err_ssl(GP_ERR_CRYPTO, "building the request"));
	ENSURE(X509_REQ_sign(req, key, md) > 0,
	    gp_err_ssl(GP_ERR_CRYPTO, "signing the request with the key"));
	/* The token signed: check it was this key before handing it out. */
	ENSURE(X509_REQ_verify(req, key) == 1,
	    gp_err_ssl(GP_ERR_CRYPTO, "the request's signature does not "
	    "verify"));
	*out = req;
	req = NULL; /* transferred */
	r = 0;
out:
	X509_REQ_free(req);
	return r;
}
