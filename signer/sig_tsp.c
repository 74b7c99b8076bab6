/*
 * sig_tsp.c: the RFC 3161 client of B-T signatures. Builds a
 * TimeStampReq over the SHA-256 of a SignerInfo's signature value with a
 * fresh 64-bit nonce and certReq, sends it to the TSA (an in-process
 * callback, or HTTP POST per RFC 3161 3.4 over a plain socket), and checks
 * the reply's status, imprint and nonce before returning the token. The
 * token's own signature and path are checked by the verifier (which trusts
 * nothing this file saw). HTTP is core's gp_http_post().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ts.h>

#include "signer/signer.h"

int
sig_tsp_stamp(const struct sig_tsa *tsa, const uint8_t *imprint,
    size_t imprint_len, uint8_t **out_token, size_t *out_len)
{
	TS_REQ *req = NULL;
	TS_MSG_IMPRINT *mi = NULL;
	X509_ALGOR *alg = NULL;
	ASN1_INTEGER *nonce = NULL;
	TS_RESP *resp = NULL;
	TS_VERIFY_CTX *vctx = NULL;
	BIGNUM *bn = NULL;
	uint8_t *req_der = NULL, *rep = NULL, nb[8];
	const unsigned char *p;
	size_t rep_len = 0;
	int req_len, len, r = GP_ERR_INTERNAL, from_fn = 0;
	long status;
	unsigned char *tok = NULL;

	*out_token = NULL;
	*out_len = 0;
	ENSURE(tsa != NULL && (tsa->url != NULL || tsa->fn != NULL) &&
	    imprint_len == 32, gp_err_set(GP_ERR_INVALID, "tsa: no URL"));
	ENSURE((req = TS_REQ_new()) != NULL && (mi = TS_MSG_IMPRINT_new()) !=
	    NULL && (alg = X509_ALGOR_new()) != NULL, GP_ERR_NOMEM);
	ENSURE(X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL,
	    NULL) && TS_MSG_IMPRINT_set_algo(mi, alg) &&
	    TS_MSG_IMPRINT_set_msg(mi, (unsigned char *)imprint,
	    (int)imprint_len) && TS_REQ_set_version(req, 1) &&
	    TS_REQ_set_msg_imprint(req, mi) && TS_REQ_set_cert_req(req, 1),
	    gp_err_ssl(GP_ERR_CRYPTO, "time-stamp request"));
	/* RFC 3161 2.4.1: the nonce lets the requester match the reply. */
	GUARD(gp_random(nb, sizeof(nb)));
	nb[0] &= 0x7f;
	ENSURE((bn = BN_bin2bn(nb, sizeof(nb), NULL)) != NULL &&
	    (nonce = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
	    TS_REQ_set_nonce(req, nonce), GP_ERR_NOMEM);
	ENSURE((req_len = i2d_TS_REQ(req, &req_der)) > 0,
	    gp_err_ssl(GP_ERR_CRYPTO, "time-stamp request"));
	if (tsa->fn != NULL) {
		GUARD(tsa->fn(tsa->arg, req_der, (size_t)req_len, &rep,
		    &rep_len));
		from_fn = 1;
	} else {
		GUARD(gp_http_post(tsa->url, "application/timestamp-query",
		    "application/timestamp-reply", req_der, (size_t)req_len,
		    SIG_MAX_TSR, 0, &rep, &rep_len));
	}
	p = rep;
	resp = d2i_TS_RESP(NULL, &p, (long)rep_len);
	ENSURE(resp != NULL && p == rep + rep_len, gp_err_set(GP_ERR_INVALID,
	    "tsa %s: the reply is not a TimeStampResp",
	    tsa->url ? tsa->url : "(in-process)"));
	status = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(
	    TS_RESP_get_status_info(resp)));
	/* RFC 3161 2.4.2: only granted(0) and grantedWithMods(1) carry a
	 * token. */
	ENSURE(status == TS_STATUS_GRANTED ||
	    status == TS_STATUS_GRANTED_WITH_MODS, gp_err_set(GP_ERR_IO,
	    "tsa %s: refused (status %ld)", tsa->url ? tsa->url :
	    "(in-process)", status));
	/* The reply must answer this request: imprint and nonce. */
	ENSURE((vctx = TS_REQ_to_TS_VERIFY_CTX(req, NULL)) != NULL,
	    GP_ERR_NOMEM);
	TS_VERIFY_CTX_set_flags(vctx, TS_VFY_VERSION | TS_VFY_IMPRINT |
	    TS_VFY_NONCE);
	ENSURE(TS_RESP_verify_response(vctx, resp) == 1,
	    gp_err_ssl(GP_ERR_TAMPERED, "tsa %s: the reply does not answer "
	    "the request", tsa->url ? tsa->url : "(in-process)"));
	ENSURE((len = i2d_PKCS7(TS_RESP_get_token(resp), &tok)) > 0,
	    gp_err_ssl(GP_ERR_CRYPTO, "time-stamp token"));
	*out_token = tok;
	tok = NULL; /* transferred */
	*out_len = (size_t)len;
	r = 0;
out:
	TS_VERIFY_CTX_free(vctx);
	TS_RESP_free(resp);
	TS_REQ_free(req);
	TS_MSG_IMPRINT_free(mi);
	X509_ALGOR_free(alg);
	ASN1_INTEGER_free(nonce);
	BN_free(bn);
	OPENSSL_free(req_der);
	OPENSSL_free(tok);
	if (from_fn)
		OPENSSL_free(rep);
	else
		free(rep);
	return r;
}
