/*
 * fuzz_cms_verify.c: libFuzzer harness for sig_verify(), which parses the
 * signatures that portals receive (POST /api/v1/verify, `govpki verify`):
 * CMS SignedData in DER or PEM. Any input must give a report or a clear
 * error, never a crash, and never "valid": no input can carry a signature
 * by the harness's trust anchor over the fixed document.
 */
#include <stdint.h>
#include <stdlib.h>

#include "signer/signer.h"
#include "tests/fuzz/fuzz_pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static struct sig_trust fz_trust;

static void
fz_setup(void)
{
	static struct fuzz_pki pki;

	fuzz_pki_make(&pki, "critical,digitalSignature,nonRepudiation", NULL,
	    0);
	if ((fz_trust.anchors = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(fz_trust.anchors, pki.root))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const uint8_t doc[] = "govpki fuzz document";
	struct sig_verify_req rq;
	json_t *report = NULL;
	int valid = 0;

	if (fz_trust.anchors == NULL)
		fz_setup();
	memset(&rq, 0, sizeof(rq));
	rq.p7s = data;
	rq.p7s_len = len;
	rq.content = doc;
	rq.content_len = sizeof(doc) - 1;
	rq.trust = &fz_trust;
	if (sig_verify(&rq, &report, &valid) == 0) {
		if (report == NULL || valid)
			abort();
		json_decref(report);
	}
	return 0;
}
