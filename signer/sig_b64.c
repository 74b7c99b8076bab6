/*
 * sig_b64.c: base64 for the JSON API (documents, digests and signatures
 * travel as base64 strings), and DER/PEM input of signature files. The
 * decoder caps the output before allocating.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "signer/signer.h"

int
sig_b64_decode(const char *field, const char *in, size_t max_out,
    uint8_t **out, size_t *out_len)
{
	EVP_ENCODE_CTX *ctx = NULL;
	uint8_t *buf = NULL;
	size_t len;
	int n = 0, fin = 0, r = GP_ERR_INTERNAL;

	*out = NULL;
	*out_len = 0;
	ENSURE(in != NULL, gp_err_set(GP_ERR_INVALID, "%s: missing", field));
	len = strlen(in);
	ENSURE(len / 4 * 3 <= max_out + 3 && len <= INT_MAX,
	    gp_err_set(GP_ERR_TOO_LARGE, "%s: over %zu bytes", field,
	    max_out));
	ENSURE((buf = malloc(len / 4 * 3 + 4)) != NULL, GP_ERR_NOMEM);
	ENSURE((ctx = EVP_ENCODE_CTX_new()) != NULL, GP_ERR_NOMEM);
	EVP_DecodeInit(ctx);
	ENSURE(EVP_DecodeUpdate(ctx, buf, &n, (const unsigned char *)in,
	    (int)len) >= 0 && EVP_DecodeFinal(ctx, buf + n, &fin) == 1,
	    gp_err_set(GP_ERR_INVALID, "%s: not base64", field));
	ENSURE((size_t)(n + fin) <= max_out, gp_err_set(GP_ERR_TOO_LARGE,
	    "%s: over %zu bytes", field, max_out));
	*out = buf;
	buf = NULL; /* transferred */
	*out_len = (size_t)(n + fin);
	r = 0;
out:
	EVP_ENCODE_CTX_free(ctx);
	free(buf);
	return r;
}

char *
sig_b64_encode(const uint8_t *in, size_t len)
{
	char *s;

	if (len > INT_MAX / 2)
		return NULL;
	if ((s = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)s, in, (int)len);
	return s;
}

int
sig_p7s_der(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long dlen = 0;
	int r = GP_ERR_INTERNAL;

	*out = NULL;
	*out_len = 0;
	ENSURE(in != NULL && len > 0, gp_err_set(GP_ERR_INVALID,
	    "signature: empty"));
	ENSURE(len <= SIG_MAX_P7S, gp_err_set(GP_ERR_TOO_LARGE,
	    "signature: over %d bytes", SIG_MAX_P7S));
	if (in[0] == 0x30) {
		ENSURE((*out = malloc(len)) != NULL, GP_ERR_NOMEM);
		memcpy(*out, in, len);
		*out_len = len;
		r = 0;
		goto out;
	}
	ENSURE((bio = BIO_new_mem_buf(in, (int)len)) != NULL, GP_ERR_NOMEM);
	ENSURE(PEM_read_bio(bio, &name, &header, &data, &dlen) == 1 &&
	    (strcmp(name, "PKCS7") == 0 || strcmp(name, "CMS") == 0 ||
	    strcmp(name, "PKCS #7 SIGNED DATA") == 0) && dlen > 0,
	    gp_err_set(GP_ERR_INVALID, "signature: neither DER nor a PEM "
	    "PKCS7/CMS block"));
	ENSURE((*out = malloc((size_t)dlen)) != NULL, GP_ERR_NOMEM);
	memcpy(*out, data, (size_t)dlen);
	*out_len = (size_t)dlen;
	r = 0;
out:
	BIO_free(bio);
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	return r;
}
