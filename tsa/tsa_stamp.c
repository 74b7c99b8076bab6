/*
 * tsa_stamp.c: the requester's side of RFC 3161. tsa_req_make() encodes a
 * TimeStampReq (the CLI sends it over HTTP), and tsa_stamp_digest()
 * answers one in process through tsa_respond(), the same path as POST
 * /tsa, for callers inside govpki that need a token over a digest of
 * their own (the audit log's checkpoints).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>

#include "tsa/internal.h"

int
tsa_req_make(const EVP_MD *md, const uint8_t *digest, unsigned int dlen,
    const ASN1_INTEGER *nonce, const char *policy, int cert_req,
    uint8_t **out, size_t *out_len)
{
	int r = GP_ERR_INTERNAL, n;
	TS_REQ *req = NULL;
	TS_MSG_IMPRINT *mi = NULL;
	X509_ALGOR *alg = NULL;
	ASN1_OBJECT *pol = NULL;
	uint8_t *p;

	*out = NULL;
	ENSURE((req = TS_REQ_new()) != NULL && (mi = TS_MSG_IMPRINT_new()) !=
	    NULL && (alg = X509_ALGOR_new()) != NULL, GP_ERR_NOMEM);
	/* RFC 5754 2: SHA-2 AlgorithmIdentifiers omit the parameters. */
	X509_ALGOR_set0(alg, OBJ_nid2obj(EVP_MD_get_type(md)), V_ASN1_UNDEF,
	    NULL);
	ENSURE(TS_REQ_set_version(req, 1) == 1 &&
	    TS_MSG_IMPRINT_set_algo(mi, alg) == 1 &&
	    TS_MSG_IMPRINT_set_msg(mi, (unsigned char *)digest, (int)dlen) ==
	    1 && TS_REQ_set_msg_imprint(req, mi) == 1 &&
	    TS_REQ_set_nonce(req, nonce) == 1 &&
	    TS_REQ_set_cert_req(req, cert_req) == 1,
	    gp_err_ssl(GP_ERR_CRYPTO, "building the request"));
	if (policy != NULL) {
		ENSURE((pol = OBJ_txt2obj(policy, 1)) != NULL,
		    gp_err_set(GP_ERR_INVALID, "policy: \"%s\" is not an "
		    "OID", policy));
		ENSURE(TS_REQ_set_policy_id(req, pol) == 1, GP_ERR_CRYPTO);
	}
	ENSURE((n = i2d_TS_REQ(req, NULL)) > 0 &&
	    (*out = malloc((size_t)n)) != NULL, GP_ERR_NOMEM);
	p = *out;
	ENSURE(i2d_TS_REQ(req, &p) == n, GP_ERR_CRYPTO);
	*out_len = (size_t)n;
	r = 0;
out:
	if (r != 0) {
		free(*out);
		*out = NULL;
	}
	ASN1_OBJECT_free(pol);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	TS_REQ_free(req);
	return r;
}

int
tsa_stamp_digest(tsa *t, const uint8_t digest[32], uint8_t **out_tst,
    size_t *out_len, struct tsa_result *res)
{
	int r = GP_ERR_INTERNAL, n;
	uint8_t *req = NULL, *reply = NULL, *p;
	const unsigned char *cp;
	size_t req_len = 0, reply_len = 0;
	TS_RESP *resp = NULL;
	PKCS7 *tok;

	*out_tst = NULL;
	*out_len = 0;
	ENSURE(t != NULL && digest != NULL && res != NULL, GP_ERR_INVALID);
	/* RFC 3161 2.4.1: certReq TRUE, so the token carries the TSA
	 * certificate and its relying parties need only the root. */
	GUARD(tsa_req_make(EVP_sha256(), digest, 32, NULL, NULL, 1, &req,
	    &req_len));
	GUARD(tsa_respond(t, req, req_len, &reply, &reply_len, res));
	if (!res->granted) {
		r = gp_err_set(GP_ERR_BUSY, "the TSA refused a time-stamp: %s "
		    "(%s)", tsa_fail_name(res->fail_bit), res->reason);
		goto out;
	}
	cp = reply;
	ENSURE((resp = d2i_TS_RESP(NULL, &cp, (long)reply_len)) != NULL &&
	    (tok = TS_RESP_get_token(resp)) != NULL &&
	    (n = i2d_PKCS7(tok, NULL)) > 0 &&
	    (*out_tst = malloc((size_t)n)) != NULL,
	    gp_err_ssl(GP_ERR_CRYPTO, "time-stamp token"));
	p = *out_tst;
	ENSURE(i2d_PKCS7(tok, &p) == n, gp_err_ssl(GP_ERR_CRYPTO,
	    "time-stamp token"));
	*out_len = (size_t)n;
	r = 0;
out:
	if (r != 0) {
		free(*out_tst);
		*out_tst = NULL;
	}
	TS_RESP_free(resp);
	OPENSSL_free(reply);
	free(req);
	return r;
}
