/*
 * fuzz_ocsp_request.c: libFuzzer harness for ca_ocsp_respond(), which
 * parses every POST /ocsp body and GET /ocsp/<base64> request from the
 * network (RFC 6960 OCSPRequest). Any input must yield an OCSPResponse,
 * never a crash, and never "good": the store behind it holds no
 * certificate, so every status must be unknown.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/ocsp.h>

#include "store/store.h"
#include "tests/fuzz/fuzz_pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static ca_ocsp *fz_ocsp;

static void
fz_setup(void)
{
	static struct fuzz_pki pki;
	static store *st;
	static char path[64];
	struct ca_ocsp_conf c;

	fuzz_pki_make(&pki, "critical,digitalSignature", "OCSPSigning", 1);
	snprintf(path, sizeof(path), "/tmp/govpki-fuzz-ocsp-%ld.db",
	    (long)getpid());
	unlink(path);
	if (store_open(path, 1, &st) != 0)
		abort();
	memset(&c, 0, sizeof(c));
	c.st = st;
	c.issuer_name = "ca";
	c.issuer_cert = pki.root;
	c.signer_cert = pki.leaf;
	c.signer_key = pki.leaf_key;
	c.refresh_s = 3600;
	c.validity_s = 86400;
	if (ca_ocsp_new(&c, &fz_ocsp) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct ca_ocsp_resp r;
	const unsigned char *p;
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *basic;
	int i;

	if (fz_ocsp == NULL)
		fz_setup();
	memset(&r, 0, sizeof(r));
	if (ca_ocsp_respond(fz_ocsp, data, len, &r) != 0)
		abort();
	p = r.der;
	if ((resp = d2i_OCSP_RESPONSE(NULL, &p, (long)r.der_len)) == NULL)
		abort(); /* what we send must parse */
	if ((basic = OCSP_response_get1_basic(resp)) != NULL) {
		for (i = 0; i < OCSP_resp_count(basic); i++) {
			OCSP_SINGLERESP *s = OCSP_resp_get0(basic, i);
			if (OCSP_single_get0_status(s, NULL, NULL, NULL,
			    NULL) == V_OCSP_CERTSTATUS_GOOD)
				abort(); /* good for a serial never issued */
		}
		OCSP_BASICRESP_free(basic);
	}
	OCSP_RESPONSE_free(resp);
	ca_ocsp_resp_clear(&r);
	return 0;
}
