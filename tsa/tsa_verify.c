/*
 * tsa_verify.c: checking a time-stamp token as a relying party would,
 * through OpenSSL's TS_RESP_verify_token(): the CMS signature, the signer
 * certificate's chain to the trust anchors with the timeStamping purpose
 * (critical EKU), the ESSCertID/ESSCertIDv2 binding of that certificate
 * (RFC 5816), the version, and the imprint against the data or a digest.
 * The nonce is compared here. Used by `govpki tsa stamp|verify`, the
 * verifier of B-T signatures (at the token's genTime) and tests.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "tsa/tsa.h"

/* Parses |der| as a granted TimeStampResp or a bare token; returns the
 * token (the caller frees it). */
static int
tsa_token_parse(const uint8_t *der, size_t len, PKCS7 **out)
{
	const unsigned char *p = der;
	TS_RESP *resp = NULL;
	PKCS7 *p7 = NULL;
	const TS_STATUS_INFO *si;
	const ASN1_BIT_STRING *fi;
	int r = GP_ERR_INTERNAL, bit;
	long status;

	*out = NULL;
	ENSURE(der != NULL && len > 0 && len <= LONG_MAX,
	    gp_err_set(GP_ERR_INVALID, "token: empty"));
	resp = d2i_TS_RESP(NULL, &p, (long)len);
	if (resp != NULL && p == der + len) {
		si = TS_RESP_get_status_info(resp);
		status = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si));
		if (status != TS_STATUS_GRANTED &&
		    status != TS_STATUS_GRANTED_WITH_MODS) {
			fi = TS_STATUS_INFO_get0_failure_info(si);
			for (bit = 0; fi != NULL && bit < 32; bit++) {
				if (ASN1_BIT_STRING_get_bit(fi, bit))
					break;
			}
			r = gp_err_set(GP_ERR_INVALID, "the reply is a "
			    "rejection (status %ld, %s)", status,
			    fi != NULL && bit < 32 ? tsa_fail_name(bit) :
			    "no failure info");
			goto out;
		}
		ENSURE(TS_RESP_get_token(resp) != NULL,
		    gp_err_set(GP_ERR_INVALID, "the reply has no token"));
		ENSURE((p7 = PKCS7_dup(TS_RESP_get_token(resp))) != NULL,
		    GP_ERR_NOMEM);
	} else {
		p = der;
		p7 = d2i_PKCS7(NULL, &p, (long)len);
		ENSURE(p7 != NULL && p == der + len,
		    gp_err_set(GP_ERR_INVALID, "not a DER TimeStampResp or "
		    "time-stamp token"));
	}
	*out = p7;
	p7 = NULL; /* transferred */
	r = 0;
out:
	ERR_clear_error();
	PKCS7_free(p7);
	TS_RESP_free(resp);
	return r;
}

int
tsa_verify(const struct tsa_verify_in *in, struct tsa_verify_out *out)
{
	int r = GP_ERR_INTERNAL, i;
	PKCS7 *p7 = NULL;
	TS_TST_INFO *tst = NULL;
	TS_VERIFY_CTX *vctx = NULL;
	X509_STORE *xs = NULL;
	STACK_OF(X509) *certs = NULL, *signers = NULL;
	BIO *data = NULL;
	unsigned char *imp = NULL;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	const ASN1_INTEGER *nonce;
	const ASN1_GENERALIZEDTIME *gt;
	X509_ALGOR *alg;
	struct tm gtm;
	int flags = TS_VFY_VERSION | TS_VFY_SIGNATURE;

	memset(out, 0, sizeof(*out));
	ENSURE(in != NULL && in->trusted != NULL &&
	    (in->data_path != NULL || in->digest != NULL),
	    gp_err_set(GP_ERR_INVALID, "tsa_verify: trust anchors and the "
	    "data or its digest are required"));
	GUARD(tsa_token_parse(in->reply_der, in->reply_len, &p7));
	ENSURE((tst = PKCS7_to_TS_TST_INFO(p7)) != NULL,
	    gp_err_ssl(GP_ERR_INVALID, "token: no TSTInfo"));

	ENSURE((xs = X509_STORE_new()) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < sk_X509_num(in->trusted); i++)
		ENSURE(X509_STORE_add_cert(xs, sk_X509_value(in->trusted, i)) ==
		    1, gp_err_ssl(GP_ERR_CRYPTO, "trust anchors"));
	if (in->at_gen_time) {
		/* The store's verification time is inherited by the context
		 * TS_RESP_verify_token() builds for the TSA certificate. */
		ENSURE((gt = TS_TST_INFO_get_time(tst)) != NULL &&
		    ASN1_TIME_to_tm(gt, &gtm), gp_err_set(GP_ERR_INVALID,
		    "token: genTime does not parse"));
		X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(xs),
		    timegm(&gtm));
	}
	certs = in->untrusted != NULL ? X509_chain_up_ref(in->untrusted) :
	    sk_X509_new_null();
	ENSURE(certs != NULL, GP_ERR_NOMEM);
	ENSURE((vctx = TS_VERIFY_CTX_new()) != NULL, GP_ERR_NOMEM);
	if (in->data_path != NULL) {
		ENSURE((data = BIO_new_file(in->data_path, "rb")) != NULL,
		    gp_err_ssl(GP_ERR_IO, "%s: cannot read", in->data_path));
		flags |= TS_VFY_DATA;
		TS_VERIFY_CTX_set_data(vctx, data);
		data = NULL; /* transferred */
	} else {
		ENSURE(in->digest_len > 0 && in->digest_len <= 64,
		    gp_err_set(GP_ERR_INVALID, "digest: 1 to 64 bytes"));
		ENSURE((imp = OPENSSL_memdup(in->digest, in->digest_len)) !=
		    NULL, GP_ERR_NOMEM);
		flags |= TS_VFY_IMPRINT;
		TS_VERIFY_CTX_set_imprint(vctx, imp, (long)in->digest_len);
		imp = NULL; /* transferred */
	}
	TS_VERIFY_CTX_set_flags(vctx, flags);
	TS_VERIFY_CTX_set_store(vctx, xs);
	xs = NULL; /* transferred */
	TS_VERIFY_CTX_set_certs(vctx, certs);
	certs = NULL; /* transferred */
	if (TS_RESP_verify_token(vctx, p7) != 1) {
		const char *edata = NULL;
		int eflags = 0;
		unsigned long e = ERR_peek_last_error_data(&edata, &eflags);

		/* The data says which check failed ("Verify error:
		 * certificate has expired"). */
		r = gp_err_set(GP_ERR_TAMPERED, "the time-stamp token does not "
		    "verify: %s%s%s", e != 0 && ERR_reason_error_string(e) ?
		    ERR_reason_error_string(e) : "unknown reason",
		    edata != NULL && (eflags & ERR_TXT_STRING) ? ": " : "",
		    edata != NULL && (eflags & ERR_TXT_STRING) ? edata : "");
		goto out;
	}
	/* RFC 3161 2.4.2: "nonce ... MUST be present if the field was
	 * present in the TimeStampReq", with the same value. */
	nonce = TS_TST_INFO_get_nonce(tst);
	if (in->nonce != NULL && (nonce == NULL ||
	    ASN1_INTEGER_cmp(nonce, in->nonce) != 0)) {
		r = gp_err_set(GP_ERR_TAMPERED, "the token's nonce differs "
		    "from the request's");
		goto out;
	}

	ENSURE((bn = ASN1_INTEGER_to_BN(TS_TST_INFO_get_serial(tst), NULL)) !=
	    NULL && (hex = BN_bn2hex(bn)) != NULL, GP_ERR_NOMEM);
	for (i = 0; hex[i] != '\0' && (size_t)i + 1 < sizeof(out->serial);
	    i++)
		out->serial[i] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ?
		    hex[i] - 'A' + 'a' : hex[i]);
	gt = TS_TST_INFO_get_time(tst);
	snprintf(out->gen_time, sizeof(out->gen_time), "%.*s",
	    gt != NULL ? ASN1_STRING_length(gt) : 0,
	    gt != NULL ? (const char *)ASN1_STRING_get0_data(gt) : "");
	OBJ_obj2txt(out->policy, sizeof(out->policy),
	    TS_TST_INFO_get_policy_id(tst), 1);
	alg = TS_MSG_IMPRINT_get_algo(TS_TST_INFO_get_msg_imprint(tst));
	snprintf(out->md, sizeof(out->md), "%s",
	    OBJ_nid2ln(OBJ_obj2nid(alg->algorithm)));
	out->has_certs = p7->d.sign->cert != NULL &&
	    sk_X509_num(p7->d.sign->cert) > 0;
	signers = PKCS7_get0_signers(p7, in->untrusted, 0);
	if (signers != NULL && sk_X509_num(signers) == 1)
		X509_NAME_oneline(X509_get_subject_name(sk_X509_value(signers,
		    0)), out->tsa_subject, sizeof(out->tsa_subject));
	r = 0;
out:
	ERR_clear_error();
	sk_X509_free(signers);
	OPENSSL_free(hex);
	BN_free(bn);
	OPENSSL_free(imp);
	BIO_free(data);
	sk_X509_pop_free(certs, X509_free);
	X509_STORE_free(xs);
	TS_VERIFY_CTX_free(vctx);
	TS_TST_INFO_free(tst);
	PKCS7_free(p7);
	return r;
}
