/*
 * sig_ts.c: the signature time-stamp of a SignerInfo (CAdES B-T, the
 * id-aa-signatureTimeStampToken unsigned attribute, RFC 3161 appendix A).
 * Its genTime becomes the proven time of signing only when the token
 * verifies as a relying party judges an old token:
 *   - exactly one token, whose imprint is the hash of this SignerInfo's
 *     signature value;
 *   - its signature, ESSCertID(v2) and the TSA certificate's path with
 *     the critical timeStamping EKU, at genTime (tsa_verify);
 *   - the TSA certificate's status at genTime, from the same sources as a
 *     signer's (the store's history for this instance's TSA), and its CAs';
 *   - RFC 3161 4: a TSA certificate revoked later keeps the tokens made
 *     before valid only for the reasons affiliationChanged, superseded
 *     and cessationOfOperation (and unspecified, which govpki writes as
 *     no reasonCode, RFC 5280 5.3.1, so it counts as none here and the
 *     answer is the same from the store, a CRL or OCSP); for
 *     keyCompromise, none or any other, every token of its key is
 *     untrustworthy, whenever it was revoked.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ts.h>

#include "ca/ca.h"
#include "signer/internal.h"
#include "tsa/tsa.h"

#define SIG_REASON_UNSPECIFIED 0

/* The TSA certificate |tc| at genTime |gen|: its path (intermediates
 * |certs|) and its status and its CAs'. Sets o->ts_source. */
static int
sig_ts_tsa(const struct sig_vctx *vc, X509 *tc, STACK_OF(X509) *certs,
    int64_t gen, struct sig_one *o)
{
	struct sig_path_status ps;
	struct sig_when w = {gen, 1, "the time-stamp's genTime"};
	STACK_OF(X509) *chain = NULL;
	const char *rn;
	char why[600];
	int r = GP_ERR_INTERNAL;

	r = sig_path_check(vc->tr, tc, certs, gen, &chain);
	if (r != 0) {
		snprintf(why, sizeof(why), "%s", gp_err_detail());
		r = gp_err_set(r, "the TSA certificate's path at genTime: %s",
		    why);
		goto out;
	}
	sig_status_path(vc, chain, tc, &w, &ps);
	snprintf(o->ts_source, sizeof(o->ts_source), "%s", ps.source);
	ENSURE(ps.leaf.r == 0, gp_err_set(ps.leaf.r, "the TSA certificate: "
	    "%s", ps.leaf.why));
	ENSURE(ps.ca.r >= 0, gp_err_set(ps.ca.r, "the TSA certificate's CA: "
	    "%s", ps.ca.why));
	/* RFC 3161 4: a TSA certificate revoked with reasonCode
	 * unspecified, affiliationChanged, superseded or
	 * cessationOfOperation leaves the tokens made before the revocation
	 * valid; "When the reasonCode extension relative to the revoked
	 * certificate from the TSA is not present in the CRL entry
	 * extensions, then all the tokens that have been signed with the
	 * corresponding key SHALL be considered as invalid", and after a key
	 * compromise "Any token signed by the TSA using that private key
	 * cannot be trusted anymore." Unspecified is written as no
	 * reasonCode, so it counts as none. */
	rn = ca_reason_name(ps.reason);
	ENSURE(!ps.revoked || ps.reason == 3 || ps.reason == 4 ||
	    ps.reason == 5, gp_err_set(GP_ERR_CONFLICT, "the TSA certificate "
	    "was revoked after the time-stamp (%s): every token of its key "
	    "is untrustworthy (RFC 3161 4)", ps.reason ==
	    SIG_REASON_UNSPECIFIED || rn == NULL ? "no reason given" : rn));
	r = 0;
out:
	sk_X509_pop_free(chain, X509_free);
	return r;
}

int
sig_ts_check(const struct sig_vctx *vc, CMS_SignerInfo *si,
    struct sig_one *o)
{
	X509_ATTRIBUTE *at;
	ASN1_TYPE *t;
	const unsigned char *p;
	PKCS7 *p7 = NULL;
	TS_TST_INFO *tst = NULL;
	STACK_OF(X509) *certs = NULL, *signers = NULL, *own;
	const EVP_MD *md;
	ASN1_OCTET_STRING *sv = CMS_SignerInfo_get0_signature(si);
	uint8_t imprint[EVP_MAX_MD_SIZE];
	unsigned int ilen = 0;
	struct tsa_verify_in in;
	struct tsa_verify_out vo;
	int64_t gen;
	int idx, i, r = GP_ERR_INTERNAL;

	o->time = -1;
	idx = CMS_unsigned_get_attr_by_NID(si, NID_id_smime_aa_timeStampToken,
	    -1);
	if (idx < 0) {
		r = 0;
		goto out;
	}
	o->has_ts = 1;
	at = CMS_unsigned_get_attr(si, idx);
	/* Several tokens are allowed by ETSI; we check exactly one. */
	ENSURE(CMS_unsigned_get_attr_by_NID(si, NID_id_smime_aa_timeStampToken,
	    idx) < 0 && X509_ATTRIBUTE_count(at) == 1,
	    gp_err_set(GP_ERR_INVALID, "expected exactly one signature "
	    "time-stamp token"));
	t = X509_ATTRIBUTE_get0_type(at, 0);
	ENSURE(t != NULL && t->type == V_ASN1_SEQUENCE,
	    gp_err_set(GP_ERR_INVALID, "the token is not a ContentInfo"));
	p = t->value.sequence->data;
	p7 = d2i_PKCS7(NULL, &p, t->value.sequence->length);
	ENSURE(p7 != NULL && p == t->value.sequence->data +
	    t->value.sequence->length && PKCS7_type_is_signed(p7) &&
	    (tst = PKCS7_to_TS_TST_INFO(p7)) != NULL,
	    gp_err_set(GP_ERR_INVALID, "the token does not parse"));
	/* The imprint is over this SignerInfo's signature value. */
	md = EVP_get_digestbyobj(TS_MSG_IMPRINT_get_algo(
	    TS_TST_INFO_get_msg_imprint(tst))->algorithm);
	ENSURE(md != NULL && sv != NULL && EVP_Digest(sv->data,
	    (size_t)sv->length, imprint, &ilen, md, NULL),
	    gp_err_set(GP_ERR_INVALID, "unknown imprint algorithm"));
	memset(&in, 0, sizeof(in));
	in.reply_der = t->value.sequence->data;
	in.reply_len = (size_t)t->value.sequence->length;
	in.digest = imprint;
	in.digest_len = ilen;
	in.trusted = vc->tr->anchors;
	in.untrusted = vc->untrusted;
	in.at_gen_time = 1;
	GUARD(tsa_verify(&in, &vo));
	ENSURE((gen = sig_asn1_time(TS_TST_INFO_get_time(tst))) >= 0,
	    gp_err_set(GP_ERR_INVALID, "the token's genTime does not parse"));
	/* The TSA certificate that signed: among the token's certificates
	 * and the intermediates. */
	ENSURE((certs = sk_X509_new_null()) != NULL, GP_ERR_NOMEM);
	for (i = 0; vc->untrusted != NULL && i < sk_X509_num(vc->untrusted);
	    i++)
		ENSURE(sk_X509_push(certs, sk_X509_value(vc->untrusted, i)),
		    GP_ERR_NOMEM);
	own = p7->d.sign->cert;
	for (i = 0; own != NULL && i < sk_X509_num(own); i++)
		ENSURE(sk_X509_push(certs, sk_X509_value(own, i)),
		    GP_ERR_NOMEM);
	signers = PKCS7_get0_signers(p7, certs, 0);
	ENSURE(signers != NULL && sk_X509_num(signers) == 1,
	    gp_err_set(GP_ERR_INVALID, "the token names no single TSA "
	    "certificate"));
	GUARD(sig_ts_tsa(vc, sk_X509_value(signers, 0), certs, gen, o));
	o->time = gen;
	ca_time_iso(gen, o->ts_time, sizeof(o->ts_time));
	snprintf(o->ts_serial, sizeof(o->ts_serial), "%s", vo.serial);
	snprintf(o->ts_tsa, sizeof(o->ts_tsa), "%s", vo.tsa_subject);
	r = 0;
out:
	ERR_clear_error();
	sk_X509_free(signers);
	sk_X509_free(certs);
	TS_TST_INFO_free(tst);
	PKCS7_free(p7);
	return r;
}
