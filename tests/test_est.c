/*
 * test_est.c: the EST encodings (est/est_codec.c): base64 with line breaks
 * and its strict decoder, certs-only PKCS#7 both ways, a DER request as
 * PEM for the CA's parser, multipart/mixed both ways; every parser's
 * must-fail cases (bad characters, misplaced padding, trailing bytes, a
 * signed PKCS#7 that is not certs-only, a part never closed, a missing
 * boundary).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "est/est.h"
#include "tests/test.h"

static void
test_b64(void)
{
	uint8_t in[200], *dec = NULL;
	char *b64 = NULL;
	size_t i, b64_len = 0, dec_len = 0, lines = 0;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 3);
	CHECK_EQ(est_b64(in, sizeof(in), &b64, &b64_len), 0);
	if (b64 == NULL)
		return;
	for (i = 0; i < b64_len; i++)
		lines += b64[i] == '\n';
	CHECK_EQ(lines, (4 * 67 + 63) / 64); /* 268 characters, 64 a line */
	CHECK_EQ(est_unb64("t", (uint8_t *)b64, b64_len, 1000, &dec,
	    &dec_len), 0);
	CHECK(dec_len == sizeof(in) && dec != NULL &&
	    memcmp(dec, in, sizeof(in)) == 0);
	free(dec);
	dec = NULL;
	/* CR LF, as curl --data-binary of a file written on another OS. */
	CHECK_EQ(est_unb64("t", (const uint8_t *)"YW\r\nJj\r\n", 8, 10, &dec,
	    &dec_len), 0);
	CHECK(dec_len == 3 && memcmp(dec, "abc", 3) == 0);
	free(dec);
	dec = NULL;
	CHECK_EQ(est_unb64("t", (const uint8_t *)"YQ==", 4, 10, &dec,
	    &dec_len), 0);
	CHECK_EQ(dec_len, 1);
	free(dec);
	dec = NULL;
	/* must fail: a character outside the alphabet, padding inside, a
	 * length not a multiple of 4, too much padding, empty, too large */
	CHECK_EQ(est_unb64("csr", (const uint8_t *)"YW*j", 4, 10, &dec,
	    &dec_len), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "csr: not base64 (byte 3)");
	CHECK_EQ(est_unb64("csr", (const uint8_t *)"YQ==YWJj", 8, 10, &dec,
	    &dec_len), GP_ERR_INVALID);
	CHECK_EQ(est_unb64("csr", (const uint8_t *)"YWJ", 3, 10, &dec,
	    &dec_len), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "multiple of 4");
	CHECK_EQ(est_unb64("csr", (const uint8_t *)"Y===", 4, 10, &dec,
	    &dec_len), GP_ERR_INVALID);
	CHECK_EQ(est_unb64("csr", (const uint8_t *)"", 0, 10, &dec, &dec_len),
	    GP_ERR_INVALID);
	CHECK_EQ(est_unb64("csr", (uint8_t *)b64, b64_len, 100, &dec,
	    &dec_len), GP_ERR_TOO_LARGE);
	CHECK(dec == NULL);
	free(b64);
}

static X509 *
mk_cert(const char *cn)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509_NAME *n = NULL;
	struct ca_cert_spec spec;
	X509 *x = NULL;
	char *serial = NULL, text[64];

	snprintf(text, sizeof(text), "/CN=%s", cn);
	if (k == NULL || ca_name_parse(text, &n) != 0)
		goto out;
	memset(&spec, 0, sizeof(spec));
	spec.subject = n;
	spec.pubkey = k;
	spec.issuer_key = k;
	spec.not_before = time(NULL) - 60;
	spec.not_after = time(NULL) + 3600;
	spec.key_usage = "critical,digitalSignature";
	spec.path_len = -1;
	if (ca_cert_sign(&spec, &x, &serial) != 0)
		x = NULL;
out:
	free(serial);
	X509_NAME_free(n);
	EVP_PKEY_free(k);
	return x;
}

static void
test_certs_only(void)
{
	STACK_OF(X509) *sk = sk_X509_new_null(), *back = NULL;
	X509 *a = mk_cert("a"), *b = mk_cert("b");
	uint8_t *der = NULL, *bad = NULL;
	size_t len = 0;
	PKCS7 *p7 = NULL;
	const unsigned char *p;

	CHECK(sk != NULL && a != NULL && b != NULL);
	if (sk == NULL || a == NULL || b == NULL)
		goto out;
	sk_X509_push(sk, a);
	sk_X509_push(sk, b);
	CHECK_EQ(est_certs_only(sk, &der, &len), 0);
	CHECK_EQ(est_certs_parse("cacerts", der, len, &back), 0);
	CHECK(back != NULL && sk_X509_num(back) == 2 &&
	    X509_cmp(sk_X509_value(back, 0), a) == 0 &&
	    X509_cmp(sk_X509_value(back, 1), b) == 0);
	/* RFC 7030 4.1.3: no signer, no content: certs-only. */
	p = der;
	CHECK((p7 = d2i_PKCS7(NULL, &p, (long)len)) != NULL);
	if (p7 != NULL)
		CHECK(PKCS7_type_is_signed(p7) &&
		    sk_PKCS7_SIGNER_INFO_num(p7->d.sign->signer_info) == 0);
	sk_X509_pop_free(back, X509_free);
	back = NULL;
	/* must fail: a byte after the DER, a truncated DER, garbage */
	CHECK((bad = malloc(len + 1)) != NULL);
	if (bad != NULL) {
		memcpy(bad, der, len);
		bad[len] = 0;
		CHECK_EQ(est_certs_parse("cacerts", bad, len + 1, &back),
		    GP_ERR_INVALID);
		CHECK_EQ(est_certs_parse("cacerts", bad, len - 1, &back),
		    GP_ERR_INVALID);
	}
	CHECK_EQ(est_certs_parse("cacerts", (const uint8_t *)"\x30\x00", 2,
	    &back), GP_ERR_INVALID);
	CHECK(back == NULL);
out:
	PKCS7_free(p7);
	free(bad);
	OPENSSL_free(der);
	sk_X509_free(sk);
	X509_free(a);
	X509_free(b);
}

static void
test_csr_pem(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256"), *got = NULL;
	X509_REQ *req = X509_REQ_new();
	unsigned char *der = NULL;
	char *pem = NULL;
	size_t pem_len = 0;
	int len;

	CHECK(k != NULL && req != NULL && X509_REQ_set_pubkey(req, k) == 1 &&
	    X509_REQ_sign(req, k, EVP_sha256()) > 0);
	CHECK((len = i2d_X509_REQ(req, &der)) > 0);
	if (der == NULL)
		goto out;
	CHECK_EQ(est_csr_pem(der, (size_t)len, &pem, &pem_len), 0);
	CHECK_EQ(ca_csr_pop(pem, pem_len, &got, NULL), 0);
	CHECK(got != NULL && EVP_PKEY_eq(got, k) == 1);
	EVP_PKEY_free(got);
	got = NULL;
	free(pem);
	pem = NULL;
	/* must fail: the signature changed (no proof of possession) */
	der[len - 3] ^= 0x40;
	CHECK_EQ(est_csr_pem(der, (size_t)len, &pem, &pem_len), 0);
	CHECK_EQ(ca_csr_pop(pem, pem_len, &got, NULL), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "proof of possession");
out:
	free(pem);
	OPENSSL_free(der);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	EVP_PKEY_free(got);
}

static void
test_multipart(void)
{
	struct est_part in[2], *out = NULL;
	char boundary[48], ct[96], *body = NULL, *cut;
	size_t len = 0, n = 0;

	memset(in, 0, sizeof(in));
	snprintf(in[0].content_type, sizeof(in[0].content_type), "%s",
	    EST_CT_KEY);
	in[0].der = (uint8_t *)"\x30\x03\x02\x01\x05";
	in[0].len = 5;
	snprintf(in[1].content_type, sizeof(in[1].content_type), "%s",
	    EST_CT_CERTS);
	in[1].der = (uint8_t *)"certificate bytes";
	in[1].len = 17;
	CHECK_EQ(est_multipart_build(in, 2, boundary, &body, &len), 0);
	if (body == NULL)
		return;
	snprintf(ct, sizeof(ct), "multipart/mixed; boundary=%s", boundary);
	CHECK_EQ(est_multipart_parse(ct, (uint8_t *)body, len, &out, &n), 0);
	CHECK_EQ(n, 2);
	if (n == 2) {
		CHECK_STR(out[0].content_type, EST_CT_KEY);
		CHECK(out[0].len == 5 && memcmp(out[0].der, in[0].der, 5) == 0);
		CHECK_STR(out[1].content_type, EST_CT_CERTS);
		CHECK(out[1].len == 17 &&
		    memcmp(out[1].der, "certificate bytes", 17) == 0);
	}
	est_parts_free(out, n);
	out = NULL;
	/* must fail: another content type, no boundary parameter, a body
	 * cut before the closing delimiter */
	CHECK_EQ(est_multipart_parse("application/pkcs7-mime", (uint8_t *)body,
	    len, &out, &n), GP_ERR_INVALID);
	CHECK_EQ(est_multipart_parse("multipart/mixed", (uint8_t *)body, len,
	    &out, &n), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "boundary");
	cut = strstr(body + 10, "--est-");
	if (cut != NULL && (cut = strstr(cut + 10, "--est-")) != NULL) {
		CHECK_EQ(est_multipart_parse(ct, (uint8_t *)body,
		    (size_t)(cut - body) - 2, &out, &n), GP_ERR_INVALID);
		CHECK_CONTAINS(gp_err_detail(), "not closed");
	}
	CHECK(out == NULL);
	free(body);
}

int
main(void)
{
	RUN(test_b64);
	RUN(test_certs_only);
	RUN(test_csr_pem);
	RUN(test_multipart);
	return test_done("est");
}
