/*
 * sig_check.c: the checks of one SignerInfo that need nothing but the
 * SignedData, the document's digest and the signer's certificate: is it a
 * document signature (eContentType, content-type attribute), does the
 * signature value verify, does the message digest match the document,
 * does signing-certificate-v2 name the signer, and may the signer's key
 * sign documents at all. Each returns 0 or a negative GP_ERR_* whose
 * detail says what failed; sig_report.c writes them into the report.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/x509v3.h>

#include "signer/internal.h"

/* RFC 9336 id-kp-documentSigning, and Microsoft's document signing
 * purpose, which other signing software puts in document certificates. */
#define SIG_OID_KP_DOCUMENT_SIGNING "1.3.6.1.5.5.7.3.36"
#define SIG_OID_MS_DOCUMENT_SIGNING "1.3.6.1.4.1.311.10.3.12"

int
sig_check_content_type(const struct sig_trust *tr, CMS_ContentInfo *cms,
    CMS_SignerInfo *si)
{
	const ASN1_OBJECT *ect = CMS_get0_eContentType(cms);
	ASN1_OBJECT *ct;
	char name[96], oid[96];
	size_t i;
	int ok = 0;

	if (ect == NULL)
		return gp_err_set(GP_ERR_INVALID, "the SignedData has no "
		    "eContentType");
	/* RFC 5652 5.2: eContentType names what is signed; RFC 5652 4:
	 * id-data is "arbitrary octet strings", a document. Any other type
	 * is another kind of content signed (a time-stamp token's TSTInfo,
	 * for one), not a document, unless the verify section names it. */
	OBJ_obj2txt(oid, sizeof(oid), ect, 1);
	if (OBJ_obj2nid(ect) == NID_pkcs7_data)
		ok = 1;
	for (i = 0; !ok && tr->content_types != NULL &&
	    i < tr->content_types_len; i++)
		ok = strcmp(tr->content_types[i], oid) == 0;
	if (!ok) {
		OBJ_obj2txt(name, sizeof(name), ect, 0);
		return gp_err_set(GP_ERR_DENIED, "eContentType is %s (%s), not "
		    "id-data: this signs another kind of CMS content (a "
		    "time-stamp token signs its TSTInfo), not a document "
		    "(verify.content_types lists other accepted types)", name,
		    oid);
	}
	if (CMS_signed_get_attr_count(si) <= 0)
		return 0;
	/* RFC 5652 11.1: with signed attributes, content-type MUST be
	 * present and equal the eContentType. */
	ct = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_contentType),
	    -3, V_ASN1_OBJECT);
	if (ct == NULL || OBJ_cmp(ct, ect) != 0)
		return gp_err_set(GP_ERR_TAMPERED, "the content-type attribute "
		    "is missing or differs from the eContentType (RFC 5652 "
		    "11.1)");
	return 0;
}

int
sig_check_message_digest(CMS_SignerInfo *si, const EVP_MD *md,
    const uint8_t *dv, const struct sig_doc *d)
{
	ASN1_OCTET_STRING *m;

	if (md == NULL)
		return gp_err_set(GP_ERR_INVALID, "unknown digest algorithm");
	if (dv == NULL)
		return gp_err_set(GP_ERR_INVALID, "signed with %s but the "
		    "document was given as a %s digest", EVP_MD_get0_name(md),
		    d->n ? EVP_MD_get0_name(d->md[0]) : "(none)");
	/* RFC 5652 5.4: message-digest MUST be the digest of the content. */
	m = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_messageDigest),
	    -3, V_ASN1_OCTET_STRING);
	if (m == NULL || m->length != EVP_MD_get_size(md) ||
	    memcmp(m->data, dv, (size_t)m->length) != 0)
		return gp_err_set(GP_ERR_TAMPERED, "the document differs from "
		    "the one signed");
	return 0;
}

int
sig_check_signature(CMS_SignerInfo *si)
{
	int ok = CMS_SignerInfo_verify(si) == 1;

	ERR_clear_error();
	return ok ? 0 : gp_err_set(GP_ERR_TAMPERED, "the signature over the "
	    "signed attributes does not verify");
}

/* RFC 5652 5.4: without signed attributes the signature is over the
 * content; the signature schemes in use sign its digest, so the streamed
 * digest is checked with EVP_PKEY_verify. */
int
sig_check_signature_noattr(CMS_SignerInfo *si, EVP_PKEY *pk,
    const EVP_MD *md, const uint8_t *dv)
{
	ASN1_OCTET_STRING *sv = CMS_SignerInfo_get0_signature(si);
	EVP_PKEY_CTX *ctx = NULL;
	int ok = 0;

	if (sv != NULL && pk != NULL && md != NULL && dv != NULL &&
	    (ctx = EVP_PKEY_CTX_new(pk, NULL)) != NULL &&
	    EVP_PKEY_verify_init(ctx) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(ctx, md) == 1 &&
	    EVP_PKEY_verify(ctx, sv->data, (size_t)sv->length, dv,
	    (size_t)EVP_MD_get_size(md)) == 1)
		ok = 1;
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return ok ? 0 : gp_err_set(GP_ERR_TAMPERED, "the signature over the "
	    "content does not verify (or the document differs)");
}

/* RFC 5035 / ETSI EN 319 122-1 5.2.2: the signing certificate named by
 * signing-certificate-v2 (or v1) must be the certificate that verified. */
int
sig_check_ess(CMS_SignerInfo *si, X509 *signer, int *out_present)
{
	ASN1_STRING *v2, *v1;
	ESS_SIGNING_CERT_V2 *ss2 = NULL;
	ESS_SIGNING_CERT *ss1 = NULL;
	STACK_OF(X509) *chain = NULL;
	const unsigned char *p;
	int r = GP_ERR_INTERNAL;

	*out_present = 0;
	v2 = CMS_signed_get0_data_by_OBJ(si,
	    OBJ_nid2obj(NID_id_smime_aa_signingCertificateV2), -3,
	    V_ASN1_SEQUENCE);
	v1 = CMS_signed_get0_data_by_OBJ(si,
	    OBJ_nid2obj(NID_id_smime_aa_signingCertificate), -3,
	    V_ASN1_SEQUENCE);
	if (v2 == NULL && v1 == NULL) {
		r = 0;
		goto out;
	}
	*out_present = 1;
	if (v2 != NULL) {
		p = v2->data;
		ss2 = d2i_ESS_SIGNING_CERT_V2(NULL, &p, v2->length);
		ENSURE(ss2 != NULL && p == v2->data + v2->length,
		    gp_err_set(GP_ERR_TAMPERED, "signing-certificate-v2 does "
		    "not parse"));
	}
	if (v1 != NULL) {
		p = v1->data;
		ss1 = d2i_ESS_SIGNING_CERT(NULL, &p, v1->length);
		ENSURE(ss1 != NULL && p == v1->data + v1->length,
		    gp_err_set(GP_ERR_TAMPERED, "signing-certificate does not "
		    "parse"));
	}
	ENSURE((chain = sk_X509_new_null()) != NULL &&
	    sk_X509_push(chain, signer), GP_ERR_NOMEM);
	ENSURE(OSSL_ESS_check_signing_certs(ss1, ss2, chain, 1) > 0,
	    gp_err_set(GP_ERR_TAMPERED, "signing-certificate-v2 does not "
	    "name the signer's certificate (RFC 5035)"));
	r = 0;
out:
	ERR_clear_error();
	sk_X509_free(chain);
	ESS_SIGNING_CERT_V2_free(ss2);
	ESS_SIGNING_CERT_free(ss1);
	return r;
}

/* 1 when the extended key usage purpose |o| lets a key sign documents. */
static int
sig_eku_signs_documents(const ASN1_OBJECT *o)
{
	char oid[64];

	switch (OBJ_obj2nid(o)) {
	case NID_anyExtendedKeyUsage:
	case NID_email_protect:      /* S/MIME: signed messages, documents */
	case NID_client_auth:        /* this platform's USB-key and officer
	                              * certificates sign with it */
		return 1;
	default:
		break;
	}
	OBJ_obj2txt(oid, sizeof(oid), o, 1);
	return strcmp(oid, SIG_OID_KP_DOCUMENT_SIGNING) == 0 ||
	    strcmp(oid, SIG_OID_MS_DOCUMENT_SIGNING) == 0;
}

int
sig_check_usage(X509 *x)
{
	EXTENDED_KEY_USAGE *eku = NULL;
	uint32_t ku = X509_get_key_usage(x);
	char list[256], name[64];
	size_t n = 0;
	int i, crit = 0, r = GP_ERR_INTERNAL;

	/* RFC 5280 4.2.1.3: a key signing content needs digitalSignature
	 * or nonRepudiation (contentCommitment) when keyUsage is present. */
	ENSURE(ku == UINT32_MAX || (ku & (KU_DIGITAL_SIGNATURE |
	    KU_NON_REPUDIATION)), gp_err_set(GP_ERR_DENIED, "the "
	    "certificate's key usage allows neither digitalSignature nor "
	    "nonRepudiation (RFC 5280 4.2.1.3)"));
	eku = X509_get_ext_d2i(x, NID_ext_key_usage, &crit, NULL);
	ENSURE(eku != NULL || crit == -1, gp_err_set(GP_ERR_DENIED, "the "
	    "certificate's extended key usage does not parse"));
	if (eku == NULL) {
		r = 0;
		goto out;
	}
	/* RFC 5280 4.2.1.12: "If the extension is present, then the
	 * certificate MUST only be used for one of the purposes indicated";
	 * a TSA certificate's only purpose is timeStamping (RFC 3161 2.3). */
	list[0] = '\0';
	for (i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
		const ASN1_OBJECT *o = sk_ASN1_OBJECT_value(eku, i);

		if (sig_eku_signs_documents(o)) {
			r = 0;
			goto out;
		}
		OBJ_obj2txt(name, sizeof(name), o, 0);
		if (n < sizeof(list)) {
			int w = snprintf(list + n, sizeof(list) - n, "%s%s",
			    i ? ", " : "", name);

			n += w > 0 ? (size_t)w : 0;
		}
	}
	r = gp_err_set(GP_ERR_DENIED, "the certificate's extended key usage "
	    "(%s) does not include signing documents (anyExtendedKeyUsage, "
	    "emailProtection, clientAuth or documentSigning): its key is for "
	    "other uses only (RFC 5280 4.2.1.12)", list);
out:
	ERR_clear_error();
	EXTENDED_KEY_USAGE_free(eku);
	return r;
}
