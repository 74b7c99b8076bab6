/*
 * fuzz_tsa_query.c: libFuzzer harness for tsa_respond(), which parses the
 * body of every POST /tsa (RFC 3161 TimeStampReq) from the network. Any
 * input must yield a TimeStampResp, never a crash; a token is granted only
 * for a request that is well-formed DER with nothing after it.
 */
#include <stdint.h>
#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/ts.h>

#include "tests/fuzz/fuzz_pki.h"
#include "tsa/tsa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static tsa *fz_tsa;

static void
fz_setup(void)
{
	static struct fuzz_pki pki;
	static struct gp_config *cfg;
	struct tsa_opts o;

	fuzz_pki_make(&pki, "critical,digitalSignature,nonRepudiation",
	    "critical,timeStamping", 0);
	if (gp_config_defaults("/tmp", &cfg) != 0)
		abort();
	memset(&o, 0, sizeof(o));
	o.cfg = cfg;
	o.key = pki.leaf_key;
	o.cert = pki.leaf;
	o.test_clock = "ok"; /* the kernel clock is not under test here */
	if (tsa_new(&o, &fz_tsa) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct tsa_result res;
	uint8_t *der = NULL;
	size_t der_len = 0;

	if (fz_tsa == NULL)
		fz_setup();
	memset(&res, 0, sizeof(res));
	if (tsa_respond(fz_tsa, data, len, &der, &der_len, &res) != 0)
		abort(); /* a rejection must always be possible */
	if (der == NULL || der_len == 0)
		abort();
	if (res.granted) {
		const unsigned char *p = data;
		TS_REQ *req = d2i_TS_REQ(NULL, &p, (long)len);
		if (req == NULL || p != data + len)
			abort(); /* a token for a malformed request */
		TS_REQ_free(req);
	}
	OPENSSL_free(der);
	return 0;
}
