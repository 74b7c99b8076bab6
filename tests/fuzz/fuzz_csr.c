/*
 * fuzz_csr.c: libFuzzer harness for ca_csr_parse(), which reads the PKCS#10
 * request of every POST /api/v1/certificates (PEM, RFC 2986) with
 * govpki's own ASN.1 templates. Any input must either parse, with a key
 * whose signature over the request verified, or fail cleanly, with no
 * overrun and no leak. Two forms are tried: the bytes as PEM text, and
 * the bytes as the DER inside a CERTIFICATE REQUEST block.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ca/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void
fz_parse(const char *pem, size_t len)
{
	struct ca_csr *csr = NULL;
	const X509_ALGOR *alg;
	const ASN1_BIT_STRING *key;

	if (ca_csr_parse(pem, len, &csr) == 0) {
		if (ca_csr_key(csr) == NULL)
			abort();
		ca_csr_spki(csr, &alg, &key);
		if ((alg == NULL) != (key == NULL))
			abort();
	} else if (csr != NULL) {
		abort();
	}
	ca_csr_free(csr);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	BIO *bio;
	char *pem;
	long n;

	if (len > 8192)
		return 0;
	fz_parse((const char *)data, len);
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return 0;
	if (PEM_write_bio(bio, "CERTIFICATE REQUEST", "", data, (long)len) &&
	    (n = BIO_get_mem_data(bio, &pem)) > 0)
		fz_parse(pem, (size_t)n);
	BIO_free(bio);
	return 0;
}
