/*
 * tok_cert.c: certificates stored next to their keys on the token. A
 * certificate object takes the label and the CKA_ID of its key, so that
 * tools (pkcs11-tool, p11tool, browsers) pair them. Both directions go
 * through the raw function list: libp11's PKCS11_store_certificate() would
 * take a session from a pool that libp11 may have opened read-only.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "tokens/internal.h"

/* Checks the result of an i2d call that allocated |der|. */
static int
tok_der(int len, unsigned char *der, unsigned char **out, CK_ULONG *out_len)
{
	if (len <= 0 || der == NULL)
		return gp_err_ssl(GP_ERR_CRYPTO, "DER encoding");
	*out = der;
	*out_len = (CK_ULONG)len;
	return 0;
}

int
tok_cert_write(tok_ctx *ctx, const char *token, const char *label, X509 *cert)
{
	static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_CLASS klass = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ctype = CKC_X_509;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE h, obj;
	CK_ULONG found = 0, n = 0;
	CK_ATTRIBUTE t[11];
	PKCS11_SLOT *slot;
	unsigned char *value = NULL, *subj = NULL, *iss = NULL, *ser = NULL;
	unsigned char *id = NULL;
	unsigned char *tmp;
	CK_ULONG value_len = 0, subj_len = 0, iss_len = 0, ser_len = 0;
	size_t id_len = 0;
	CK_RV rv;
	int len, r = GP_ERR_INTERNAL;

	ENSURE(ctx != NULL && token != NULL && label != NULL && cert != NULL,
	    gp_err_set(GP_ERR_INVALID, "tok_cert_write: NULL argument"));
	ENSURE(*label != '\0' && strlen(label) <= 128, gp_err_set(
	    GP_ERR_INVALID, "certificate label: must be 1 to 128 bytes"));
	GUARD(tok_slot_find(ctx, token, NULL, &slot));
	GUARD(tok_raw_session(ctx, slot, &s));
	GUARD(tok_session_user(ctx, s, token));
	GUARD(tok_raw_find(ctx, s, CKO_CERTIFICATE, label, NULL, 0, &h, 1,
	    &found));
	ENSURE(found == 0, gp_err_set(GP_ERR_EXISTS, "token %s already holds a "
	    "certificate labelled %s", token, label));
	GUARD(tok_raw_find(ctx, s, CKO_PRIVATE_KEY, label, NULL, 0, &h, 1,
	    &found));
	if (found == 0)
		GUARD(tok_raw_find(ctx, s, CKO_PUBLIC_KEY, label, NULL, 0, &h,
		    1, &found));
	if (found == 1)
		GUARD(tok_raw_attr(ctx, s, h, CKA_ID, &id, &id_len));

	tmp = NULL;
	len = i2d_X509(cert, &tmp);
	GUARD(tok_der(len, tmp, &value, &value_len));
	tmp = NULL;
	len = i2d_X509_NAME(X509_get_subject_name(cert), &tmp);
	GUARD(tok_der(len, tmp, &subj, &subj_len));
	tmp = NULL;
	len = i2d_X509_NAME(X509_get_issuer_name(cert), &tmp);
	GUARD(tok_der(len, tmp, &iss, &iss_len));
	tmp = NULL;
	len = i2d_ASN1_INTEGER(X509_get_serialNumber(cert), &tmp);
	GUARD(tok_der(len, tmp, &ser, &ser_len));

#define TOK_ADD(ty, p, l)                                               \
	do {                                                            \
		t[n].type = (ty);                                       \
		t[n].pValue = (void *)(p);                              \
		t[n].ulValueLen = (l);                                  \
		n++;                                                    \
	} while (0)
	TOK_ADD(CKA_CLASS, &klass, sizeof(klass));
	TOK_ADD(CKA_CERTIFICATE_TYPE, &ctype, sizeof(ctype));
	TOK_ADD(CKA_TOKEN, &yes, sizeof(yes));
	TOK_ADD(CKA_PRIVATE, &no, sizeof(no));
	TOK_ADD(CKA_LABEL, label, strlen(label));
	TOK_ADD(CKA_VALUE, value, value_len);
	TOK_ADD(CKA_SUBJECT, subj, subj_len);
	TOK_ADD(CKA_ISSUER, iss, iss_len);
	TOK_ADD(CKA_SERIAL_NUMBER, ser, ser_len);
	if (id != NULL && id_len > 0)
		TOK_ADD(CKA_ID, id, id_len);
#undef TOK_ADD
	rv = ctx->fl->C_CreateObject(s, t, n, &obj);
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, token, "storing the certificate"));
	r = 0;
out:
	OPENSSL_free(value);
	OPENSSL_free(subj);
	OPENSSL_free(iss);
	OPENSSL_free(ser);
	OPENSSL_free(id);
	if (s != CK_INVALID_HANDLE)
		(void)ctx->fl->C_CloseSession(s);
	return r;
}

int
tok_cert_read(tok_ctx *ctx, const char *uri, X509 **out)
{
	struct tok_uri u = { 0 };
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE h[2];
	CK_ULONG found = 0;
	PKCS11_SLOT *slot;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t der_len = 0;
	X509 *x = NULL;
	int r = GP_ERR_INTERNAL;

	ENSURE(ctx != NULL && uri != NULL && out != NULL,
	    gp_err_set(GP_ERR_INVALID, "tok_cert_read: NULL argument"));
	*out = NULL;
	GUARD(tok_uri_session(ctx, uri, &u, &slot, &s));
	ENSURE(u.type == NULL || strcmp(u.type, "cert") == 0,
	    gp_err_set(GP_ERR_INVALID, "certificate URI %s: type must be cert",
	    uri));
	GUARD(tok_raw_find(ctx, s, CKO_CERTIFICATE, u.object, u.id, u.id_len,
	    h, 2, &found));
	ENSURE(found > 0, gp_err_set(GP_ERR_NOT_FOUND, "token %s holds no "
	    "certificate %s", tok_uri_token_name(&u),
	    u.object != NULL ? u.object : "with that id"));
	ENSURE(found == 1, gp_err_set(GP_ERR_CONFLICT, "token %s holds several "
	    "certificates %s; add id= to the URI", tok_uri_token_name(&u),
	    u.object != NULL ? u.object : "with that id"));
	GUARD(tok_raw_attr(ctx, s, h[0], CKA_VALUE, &der, &der_len));
	p = der;
	x = d2i_X509(NULL, &p, (long)der_len);
	ENSURE(x != NULL && p == der + der_len, gp_err_ssl(GP_ERR_DEVICE,
	    "certificate %s on token %s is not one DER certificate",
	    u.object != NULL ? u.object : "?", tok_uri_token_name(&u)));
	*out = x;
	x = NULL; /* transferred */
	r = 0;
out:
	X509_free(x);
	OPENSSL_free(der);
	if (s != CK_INVALID_HANDLE)
		(void)ctx->fl->C_CloseSession(s);
	tok_uri_clear(&u);
	return r;
}
