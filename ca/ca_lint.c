/*
 * ca_lint.c: govpki checks its own output before the CA key signs it. The
 * certificate is built unsigned (ca_cert_build), read back through its
 * encoded extensions here, and only signed when every check passes; a
 * failure is audited by the caller and nothing is signed. The checks are
 * the ones whose violation has forced real CAs to revoke: string types,
 * validity outside the issuer's, key usage or EKU drifting from the
 * profile, duplicate extensions, missing key identifiers, short serials.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "ca/internal.h"

static int
ca_lint_fail(const char *what)
{
	return gp_err_set(GP_ERR_INTERNAL, "self-check: %s; the certificate "
	    "was not signed", what);
}

static int
ca_lint_names(const X509_NAME *name)
{
	int i, nid, type;
	char why[160];

	for (i = 0; i < X509_NAME_entry_count(name); i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
		nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
		type = ASN1_STRING_type(X509_NAME_ENTRY_get_data(e));
		/* RFC 5280 4.1.2.6 / 4.1.2.4: DirectoryString attributes as
		 * UTF8String; X.520 fixes countryName and serialNumber to
		 * PrintableString. */
		if (nid == NID_countryName || nid == NID_serialNumber) {
			if (type == V_ASN1_PRINTABLESTRING)
				continue;
		} else if (type == V_ASN1_UTF8STRING) {
			continue;
		}
		snprintf(why, sizeof(why), "subject attribute %s is not a "
		    "%s", OBJ_nid2sn(nid), nid == NID_countryName ||
		    nid == NID_serialNumber ? "PrintableString" : "UTF8String");
		return ca_lint_fail(why);
	}
	return 0;
}

int
ca_cert_lint(X509 *cert, X509 *issuer, const struct ca_profile *p)
{
	ASN1_BIT_STRING *ku = NULL;
	EXTENDED_KEY_USAGE *eku = NULL;
	BASIC_CONSTRAINTS *bc = NULL;
	AUTHORITY_KEYID *aki = NULL;
	ASN1_OCTET_STRING *ski = NULL;
	BIGNUM *bn = NULL;
	const ASN1_OCTET_STRING *iski;
	unsigned int bits = 0, b;
	int r = GP_ERR_INTERNAL, i, j, n, crit, bn_bits;
	size_t k;
	char why[160];

	ENSURE(cert != NULL && issuer != NULL && p != NULL,
	    ca_lint_fail("nothing to check"));
	GUARD(ca_lint_names(X509_get_subject_name(cert)));
	ENSURE(X509_NAME_entry_count(X509_get_subject_name(cert)) > 0,
	    ca_lint_fail("empty subject"));

	/* CA/B BR 7.1: positive, at least 64 bits of CSPRNG output; RFC 5280
	 * 4.1.2.2: at most 20 octets. */
	ENSURE((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL)) !=
	    NULL, GP_ERR_NOMEM);
	bn_bits = BN_num_bits(bn);
	ENSURE(!BN_is_negative(bn) && bn_bits >= 64 && bn_bits <= 159,
	    ca_lint_fail("serial number not positive or not 64 to 159 bits"));

	/* RFC 5280 6.1.3 (a)(2): the issuer must be valid for the whole
	 * period, or the chain stops verifying before the certificate ends. */
	ENSURE(ASN1_TIME_compare(X509_get0_notBefore(cert),
	    X509_get0_notBefore(issuer)) >= 0 &&
	    ASN1_TIME_compare(X509_get0_notAfter(cert),
	    X509_get0_notAfter(issuer)) <= 0 &&
	    ASN1_TIME_compare(X509_get0_notBefore(cert),
	    X509_get0_notAfter(cert)) < 0,
	    ca_lint_fail("validity is not inside the issuer's"));

	/* RFC 5280 4.2: "A certificate MUST NOT include more than one
	 * instance of a particular extension." */
	n = X509_get_ext_count(cert);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			ENSURE(OBJ_cmp(X509_EXTENSION_get_object(
			    X509_get_ext(cert, i)), X509_EXTENSION_get_object(
			    X509_get_ext(cert, j))) != 0,
			    ca_lint_fail("an extension appears twice"));

	/* RFC 5280 4.2.1.1 and 4.2.1.2: AKI (matching the issuer's SKI) and
	 * SKI present. */
	aki = X509_get_ext_d2i(cert, NID_authority_key_identifier, &crit,
	    NULL);
	iski = X509_get0_subject_key_id(issuer);
	ENSURE(aki != NULL && aki->keyid != NULL && iski != NULL &&
	    ASN1_OCTET_STRING_cmp(aki->keyid, iski) == 0 && crit == 0,
	    ca_lint_fail("authority key identifier missing, critical or not "
	    "the issuer's"));
	ski = X509_get_ext_d2i(cert, NID_subject_key_identifier, &crit, NULL);
	ENSURE(ski != NULL && ASN1_STRING_length(ski) > 0 && crit == 0,
	    ca_lint_fail("subject key identifier missing or critical"));

	/* RFC 5280 4.2.1.9: basic constraints, critical, cA as the profile. */
	bc = X509_get_ext_d2i(cert, NID_basic_constraints, &crit, NULL);
	ENSURE(bc != NULL && crit == 1 && !!bc->ca == !!p->is_ca,
	    ca_lint_fail("basic constraints missing, not critical or cA not "
	    "as the profile says"));

	/* RFC 5280 4.2.1.3: key usage present, exactly the profile's. */
	ku = X509_get_ext_d2i(cert, NID_key_usage, &crit, NULL);
	ENSURE(ku != NULL && crit == !!p->key_usage_critical,
	    ca_lint_fail("key usage missing or its criticality differs from "
	    "the profile"));
	for (b = 0; b < 9; b++)
		if (ASN1_BIT_STRING_get_bit(ku, (int)b))
			bits |= b < 8 ? (0x80u >> b) : 0x8000u;
	ENSURE(bits == p->key_usage, ca_lint_fail("key usage differs from "
	    "the profile"));

	/* RFC 5280 4.2.1.12: EKU exactly the profile's purposes. */
	eku = X509_get_ext_d2i(cert, NID_ext_key_usage, &crit, NULL);
	if (p->eku_len == 0) {
		ENSURE(eku == NULL && crit == -1, ca_lint_fail("an extended "
		    "key usage the profile does not have"));
	} else {
		ENSURE(eku != NULL && crit == !!p->eku_critical &&
		    (size_t)sk_ASN1_OBJECT_num(eku) == p->eku_len,
		    ca_lint_fail("extended key usage missing, or its "
		    "criticality or count differs from the profile"));
		for (k = 0; k < p->eku_len; k++) {
			for (i = 0; i < sk_ASN1_OBJECT_num(eku); i++)
				if (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) ==
				    p->eku_nid[k])
					break;
			if (i == sk_ASN1_OBJECT_num(eku)) {
				snprintf(why, sizeof(why), "extended key usage "
				    "lacks %s", OBJ_nid2sn(p->eku_nid[k]));
				ENSURE(0, ca_lint_fail(why));
			}
		}
	}
	/* RFC 5280 4.2.1.3: keyCertSign only in CA certificates. */
	ENSURE(!!(bits & KU_KEY_CERT_SIGN) == !!p->is_ca,
	    ca_lint_fail("keyCertSign and cA disagree"));
	ENSURE(X509_get_ext_by_NID(cert, NID_certificate_policies, -1) >= 0 ||
	    p->policies_len == 0, ca_lint_fail("certificate policies missing"));
	ENSURE(X509_get_ext_by_NID(cert, NID_crl_distribution_points, -1) >= 0
	    || !p->crl_dp, ca_lint_fail("CRL distribution point missing"));
	r = 0;
out:
	ASN1_BIT_STRING_free(ku);
	EXTENDED_KEY_USAGE_free(eku);
	BASIC_CONSTRAINTS_free(bc);
	AUTHORITY_KEYID_free(aki);
	ASN1_OCTET_STRING_free(ski);
	BN_free(bn);
	return r;
}
