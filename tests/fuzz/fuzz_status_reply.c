/*
 * fuzz_status_reply.c: libFuzzer harness for sig_ocsp_check() and
 * sig_crl_check(), which read what an OCSP responder or a CRL distribution
 * point of another CA sent back over plain HTTP (sig_status.c): anyone on
 * the path chooses these bytes. Every input goes to both checks, about a
 * fixed leaf of a fresh root. Any input must give a clear error, never a
 * crash, and never "good" or "revoked": only the root's key, made fresh
 * in this process, can sign an answer.
 *
 * At start the harness signs a good and a revoked answer of each kind with
 * that key and checks that they are accepted, so the fuzzing runs against
 * checks that can say yes. With FUZZ_STATUS_REPLY_SEEDS=<dir> it also
 * writes them there (the seeds of tests/fuzz/corpus/status_reply/).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "signer/internal.h"
#include "tests/fuzz/fuzz_pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

#define FZ_URL "http://status.fuzz.invalid/"

static struct fuzz_pki fz_pki;
static struct sig_trust fz_trust;
static STACK_OF(X509) *fz_chain;
static OCSP_REQUEST *fz_req;
static OCSP_CERTID *fz_id;

/* Writes |der| to |dir|/|name| when |dir| is set; aborts on failure. */
static void
fz_seed_write(const char *dir, const char *name, const uint8_t *der,
    size_t len)
{
	char path[512];
	FILE *f;

	if (dir == NULL)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL ||
	    fwrite(der, 1, len, f) != len || fclose(f) != 0)
		abort();
}

/* A basic OCSP response by the root about fz_id, |revoked| or good, with
 * the request's nonce when |nonce|, DER in *out (OPENSSL_free). */
static int
fz_ocsp_make(int revoked, int nonce, uint8_t **out)
{
	OCSP_BASICRESP *bs;
	OCSP_RESPONSE *resp;
	ASN1_TIME *tu, *nu;
	int len;

	*out = NULL;
	tu = X509_gmtime_adj(NULL, -60);
	nu = X509_gmtime_adj(NULL, 86400);
	if ((bs = OCSP_BASICRESP_new()) == NULL || tu == NULL || nu == NULL ||
	    OCSP_basic_add1_status(bs, fz_id, revoked ?
	    V_OCSP_CERTSTATUS_REVOKED : V_OCSP_CERTSTATUS_GOOD, revoked ?
	    OCSP_REVOKED_STATUS_KEYCOMPROMISE : -1, revoked ? tu : NULL, tu,
	    nu) == NULL ||
	    (nonce && OCSP_copy_nonce(bs, fz_req) != 1) ||
	    OCSP_basic_sign(bs, fz_pki.root, fz_pki.root_key, EVP_sha256(),
	    NULL, 0) != 1 ||
	    (resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL,
	    bs)) == NULL)
		abort();
	len = i2d_OCSP_RESPONSE(resp, out);
	if (len <= 0)
		abort();
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	return len;
}

/* A CRL by the root, listing the leaf when |revoked|, DER in *out
 * (OPENSSL_free). */
static int
fz_crl_make(int revoked, uint8_t **out)
{
	X509_CRL *crl;
	X509_REVOKED *rv;
	ASN1_ENUMERATED *reason;
	ASN1_TIME *tu, *nu;
	int len;

	*out = NULL;
	tu = X509_gmtime_adj(NULL, -60);
	nu = X509_gmtime_adj(NULL, 86400);
	if ((crl = X509_CRL_new()) == NULL || tu == NULL || nu == NULL ||
	    !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl,
	    X509_get_subject_name(fz_pki.root)) ||
	    !X509_CRL_set1_lastUpdate(crl, tu) ||
	    !X509_CRL_set1_nextUpdate(crl, nu))
		abort();
	if (revoked) {
		if ((rv = X509_REVOKED_new()) == NULL ||
		    (reason = ASN1_ENUMERATED_new()) == NULL ||
		    !ASN1_ENUMERATED_set(reason, 1) ||
		    !X509_REVOKED_set_serialNumber(rv,
		    (ASN1_INTEGER *)X509_get0_serialNumber(fz_pki.leaf)) ||
		    !X509_REVOKED_set_revocationDate(rv, tu) ||
		    !X509_REVOKED_add1_ext_i2d(rv, NID_crl_reason, reason, 0,
		    0) ||
		    !X509_CRL_add0_revoked(crl, rv))
			abort();
		ASN1_ENUMERATED_free(reason);
	}
	if (!X509_CRL_sort(crl) ||
	    X509_CRL_sign(crl, fz_pki.root_key, EVP_sha256()) <= 0 ||
	    (len = i2d_X509_CRL(crl, out)) <= 0)
		abort();
	X509_CRL_free(crl);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	return len;
}

/* Signs one answer of each kind and state, checks that it gives that
 * state, and writes it as a seed when asked. */
static void
fz_selftest(void)
{
	static const struct {
		const char *name;
		int ocsp, revoked, nonce;
	} seeds[] = {
		{ "ocsp-good-nonce", 1, 0, 1 },
		{ "ocsp-revoked", 1, 1, 0 },
		{ "crl-empty", 0, 0, 0 },
		{ "crl-revoked", 0, 1, 0 },
	};
	const char *dir = getenv("FUZZ_STATUS_REPLY_SEEDS");
	struct sig_status st;
	uint8_t *der;
	size_t i;
	int len, r;

	for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		memset(&st, 0, sizeof(st));
		if (seeds[i].ocsp) {
			len = fz_ocsp_make(seeds[i].revoked, seeds[i].nonce,
			    &der);
			r = sig_ocsp_check(&fz_trust, fz_chain, fz_req, fz_id,
			    FZ_URL, der, (size_t)len, &st);
		} else {
			len = fz_crl_make(seeds[i].revoked, &der);
			r = sig_crl_check(fz_pki.leaf, fz_pki.root, FZ_URL, -1,
			    der, (size_t)len, 0, &st);
		}
		if (r != 0 || st.state != (seeds[i].revoked ?
		    SIG_ST_REVOKED : SIG_ST_GOOD)) {
			fprintf(stderr, "fuzz_status_reply: %s not accepted: "
			    "%s\n", seeds[i].name, gp_err_detail());
			abort();
		}
		fz_seed_write(dir, seeds[i].name, der, (size_t)len);
		OPENSSL_free(der);
	}
}

static void
fz_setup(void)
{
	fuzz_pki_make(&fz_pki, "critical,digitalSignature,nonRepudiation",
	    NULL, 0);
	if ((fz_trust.anchors = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(fz_trust.anchors, fz_pki.root) ||
	    (fz_chain = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(fz_chain, fz_pki.leaf) ||
	    !sk_X509_push(fz_chain, fz_pki.root))
		abort();
	/* As sig_ocsp_ask() builds it: a SHA-1 CertID and a nonce. */
	if ((fz_req = OCSP_REQUEST_new()) == NULL ||
	    (fz_id = OCSP_cert_to_id(EVP_sha1(), fz_pki.leaf,
	    fz_pki.root)) == NULL ||
	    OCSP_request_add0_id(fz_req, OCSP_CERTID_dup(fz_id)) == NULL ||
	    OCSP_request_add1_nonce(fz_req, NULL, -1) != 1)
		abort();
	fz_selftest();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct sig_status st;
	int r;

	if (fz_id == NULL)
		fz_setup();
	memset(&st, 0, sizeof(st));
	r = sig_ocsp_check(&fz_trust, fz_chain, fz_req, fz_id, FZ_URL, data,
	    len, &st);
	if (r == 0 || st.state != SIG_ST_UNKNOWN)
		abort(); /* an answer not signed by the fresh root */
	memset(&st, 0, sizeof(st));
	r = sig_crl_check(fz_pki.leaf, fz_pki.root, FZ_URL, -1, data, len, 0,
	    &st);
	if (r == 0 || st.state != SIG_ST_UNKNOWN)
		abort(); /* a CRL not signed by the fresh root */
	return 0;
}
