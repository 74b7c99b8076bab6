/*
 * tnd_signer.c: who signed a bid, a withdrawal, a key release or a
 * confirmation, and whether they may: the one SignerInfo's certificate,
 * its tender attribute and signing-time; the certificate as this
 * instance issued it (a legal person under an allowed profile) and its
 * status at the trusted time of arrival, judged by ca_status_at() (the
 * one place that judges status at a time, RFC 5280 5.3.2); then the
 * signature itself as a document signature (sig_verify).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/err.h>

#include "signer/signer.h"
#include "tender/internal.h"

void
tnd_signer_clear(struct tnd_signer *s)
{
	if (s == NULL)
		return;
	X509_free(s->cert);
	memset(s, 0, sizeof(*s));
}

int
tnd_signer_of(struct CMS_ContentInfo_st *cms, struct tnd_signer *out)
{
	STACK_OF(CMS_SignerInfo) *sis;
	STACK_OF(X509) *certs = NULL;
	CMS_SignerInfo *si;
	ASN1_OBJECT *oid = NULL;
	ASN1_STRING *tv;
	X509_ATTRIBUTE *at;
	ASN1_TYPE *ty;
	char *hex = NULL;
	struct tm tm;
	int i, idx, r = GP_ERR_INTERNAL;

	memset(out, 0, sizeof(*out));
	sis = CMS_get0_SignerInfos(cms);
	ENSURE(sis != NULL && sk_CMS_SignerInfo_num(sis) == 1,
	    gp_err_set(GP_ERR_INVALID, "%d signer infos; exactly one signer "
	    "is expected", sis != NULL ? sk_CMS_SignerInfo_num(sis) : 0));
	si = sk_CMS_SignerInfo_value(sis, 0);
	certs = CMS_get1_certs(cms);
	for (i = 0; certs != NULL && i < sk_X509_num(certs); i++) {
		if (CMS_SignerInfo_cert_cmp(si, sk_X509_value(certs, i)) == 0) {
			out->cert = sk_X509_value(certs, i);
			X509_up_ref(out->cert);
			break;
		}
	}
	ENSURE(out->cert != NULL, gp_err_set(GP_ERR_INVALID, "the signer's "
	    "certificate is not in the SignedData"));
	ENSURE((hex = ca_serial_hex(out->cert)) != NULL &&
	    strlen(hex) < sizeof(out->serial), GP_ERR_NOMEM);
	memcpy(out->serial, hex, strlen(hex) + 1);
	ENSURE((oid = OBJ_txt2obj(TENDER_OID_TENDER, 1)) != NULL,
	    GP_ERR_INTERNAL);
	tv = CMS_signed_get0_data_by_OBJ(si, oid, -3, V_ASN1_UTF8STRING);
	if (tv != NULL && ASN1_STRING_length(tv) == TENDER_ID_LEN) {
		memcpy(out->tender, ASN1_STRING_get0_data(tv), TENDER_ID_LEN);
		out->tender[TENDER_ID_LEN] = '\0';
	}
	idx = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
	if (idx >= 0 && (at = CMS_signed_get_attr(si, idx)) != NULL &&
	    (ty = X509_ATTRIBUTE_get0_type(at, 0)) != NULL &&
	    (ty->type == V_ASN1_UTCTIME || ty->type ==
	    V_ASN1_GENERALIZEDTIME) && ASN1_TIME_to_tm(ty->value.utctime,
	    &tm) == 1)
		out->signing_time = (int64_t)timegm(&tm);
	ERR_clear_error();
	r = 0;
out:
	if (r != 0)
		tnd_signer_clear(out);
	ASN1_OBJECT_free(oid);
	OPENSSL_free(hex);
	sk_X509_pop_free(certs, X509_free);
	return r;
}

int
tnd_signer_check(const struct tender_ctx *tc, X509 *cert, const char *serial,
    json_t *profiles, int64_t at_ms, struct store_cert *out,
    struct tender_refusal *why)
{
	unsigned char *der = NULL;
	int len;
	struct ca_status_at sa;
	json_t *v;
	size_t i;
	int r, ok = 0;
	int64_t t = at_ms / 1000;

	memset(out, 0, sizeof(*out));
	r = store_cert_get(tc->st, serial, out);
	if (r == GP_ERR_NOT_FOUND)
		return tnd_refuse(why, "untrusted_signer", 403, "the signer's "
		    "certificate %s was not issued by this instance", serial);
	if (r != 0)
		return r;
	/* The certificate the signature carries must be the one issued
	 * under that serial, not another with the same number. */
	len = i2d_X509(cert, &der);
	if (len <= 0 || out->der == NULL || (size_t)len != out->der_len ||
	    memcmp(der, out->der, (size_t)len) != 0) {
		OPENSSL_free(der);
		r = tnd_refuse(why, "untrusted_signer", 403, "the signer's "
		    "certificate differs from the one this instance issued "
		    "with serial %s", serial);
		goto out;
	}
	OPENSSL_free(der);
	json_array_foreach(profiles, i, v) {
		if (json_is_string(v) && out->profile != NULL &&
		    strcmp(json_string_value(v), out->profile) == 0)
			ok = 1;
	}
	if (!ok) {
		r = tnd_refuse(why, "profile_not_allowed", 403, "the signer's "
		    "certificate %s is of profile %s, which this tender does "
		    "not accept", serial, out->profile ? out->profile : "?");
		goto out;
	}
	if (out->uscc == NULL || out->uscc[0] == '\0') {
		r = tnd_refuse(why, "not_a_legal_person", 403, "the signer's "
		    "certificate %s names no legal person (USCC)", serial);
		goto out;
	}
	/* RFC 5280 4.1.2.5: valid from notBefore to notAfter inclusive. */
	if (t < out->not_before || t > out->not_after) {
		r = tnd_refuse(why, "signer_expired", 403, "the signer's "
		    "certificate %s was not valid at the time of arrival",
		    serial);
		goto out;
	}
	/* Status at the time of arrival, from the status history: a hold
	 * covering it (released or not) or a revocation (or its invalidity
	 * date) before it refuses the bid. */
	r = ca_status_at(tc->st, serial, t, &sa);
	if (r != 0 && r != GP_ERR_CONFLICT)
		goto out;
	if (r == GP_ERR_CONFLICT) {
		r = tnd_refuse(why, sa.state == CA_AT_HELD ? "signer_held" :
		    "signer_revoked", 403, "%s", gp_err_detail());
		goto out;
	}
	r = 0;
out:
	if (r != 0)
		store_cert_clear(out);
	return r;
}

int
tnd_verify(const struct tender_ctx *tc, const uint8_t *der, size_t der_len,
    const uint8_t *digest, struct tender_refusal *why)
{
	struct sig_trust tr;
	struct sig_verify_req vr;
	STACK_OF(X509) *anchors = NULL, *untrusted = NULL;
	json_t *rep = NULL;
	char *reasons = NULL;
	int valid = 0, r;

	memset(&tr, 0, sizeof(tr));
	memset(&vr, 0, sizeof(vr));
	ENSURE((anchors = sk_X509_new_null()) != NULL &&
	    (untrusted = sk_X509_new_null()) != NULL &&
	    sk_X509_push(anchors, tc->root) > 0 &&
	    sk_X509_push(untrusted, tc->ca) > 0, GP_ERR_NOMEM);
	tr.anchors = anchors;
	tr.untrusted = untrusted;
	tr.st = tc->st;
	vr.p7s = der;
	vr.p7s_len = der_len;
	vr.trust = &tr;
	if (digest != NULL) {
		vr.digest = digest;
		vr.digest_len = 32;
		vr.digest_md = EVP_sha256();
	}
	r = sig_verify(&vr, &rep, &valid);
	if (r != 0) {
		r = tnd_refuse(why, "bad_signature", 400, "the signature cannot "
		    "be read: %s", gp_err_detail());
		goto out;
	}
	if (!valid) {
		reasons = json_dumps(json_object_get(rep, "reasons"),
		    JSON_COMPACT);
		r = tnd_refuse(why, "bad_signature", 400, "the signature does "
		    "not verify: %s", reasons != NULL ? reasons : "");
		goto out;
	}
	r = 0;
out:
	free(reasons);
	json_decref(rep);
	/* The stacks borrow the certificates. */
	sk_X509_free(anchors);
	sk_X509_free(untrusted);
	return r;
}

void
tnd_subject_text(X509 *cert, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	BUF_MEM *m = NULL;

	if (len == 0)
		return;
	buf[0] = '\0';
	/* RFC 2253 with UTF-8 as is, as the admin listener names actors. */
	if (b != NULL && cert != NULL && X509_NAME_print_ex(b,
	    X509_get_subject_name(cert), 0, XN_FLAG_RFC2253 &
	    ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		BIO_get_mem_ptr(b, &m);
		if (m != NULL && m->length < len &&
		    memchr(m->data, '\0', m->length) == NULL) {
			memcpy(buf, m->data, m->length);
			buf[m->length] = '\0';
		}
	}
	BIO_free(b);
	ERR_clear_error();
}

void
tnd_org_name(X509 *cert, char *buf, size_t len)
{
	if (len == 0)
		return;
	buf[0] = '\0';
	if (cert == NULL || X509_NAME_get_text_by_NID(
	    X509_get_subject_name(cert), NID_organizationName, buf,
	    (int)len) < 0)
		buf[0] = '\0';
	ERR_clear_error();
}
