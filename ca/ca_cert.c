/*
 * ca_cert.c: builds and signs X.509 v3 certificates (RFC 5280) from a
 * ca_cert_spec. The issuer key is used only through EVP, so it may live on a
 * PKCS#11 token. Extensions are added through OpenSSL's v3 configuration
 * parser with the issuer certificate in the context, so that the authority
 * key identifier is taken from it. The certificates `govpki init` makes
 * for itself under a profile (the admin TLS and role certificates) take
 * what the profile decides from ca_cert_profile_spec() and are checked by
 * ca_cert_profile_check(), as issued ones are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/internal.h"

#define CA_SERIAL_BYTES 16 /* CA_SERIAL_RANDOM_BITS + 2 fixed bits */

int
ca_serial_new(ASN1_INTEGER **out)
{
	uint8_t buf[CA_SERIAL_BYTES];
	BIGNUM *bn = NULL;
	int r = GP_ERR_CRYPTO;

	*out = NULL;
	GUARD(gp_random(buf, sizeof(buf)));
	/* CA/B BR 7.1: at least 64 bits of CSPRNG output, positive and
	 * non-zero. The top two bits are fixed to 01: the top bit cleared so
	 * the DER INTEGER needs no sign byte, the next one set so that every
	 * serial has the full 16 bytes. That leaves CA_SERIAL_RANDOM_BITS
	 * (126) random bits. */
	buf[0] &= 0x7f;
	buf[0] |= 0x40;
	if ((bn = BN_bin2bn(buf, sizeof(buf), NULL)) == NULL ||
	    (*out = BN_to_ASN1_INTEGER(bn, NULL)) == NULL) {
		r = gp_err_ssl(GP_ERR_CRYPTO, "serial number");
		goto out;
	}
	r = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	BN_free(bn);
	return r;
}

char *
ca_serial_hex(const X509 *cert)
{
	BIGNUM *bn;
	char *hex, *out = NULL, *p;

	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	if (bn == NULL)
		return NULL;
	if ((hex = BN_bn2hex(bn)) != NULL) {
		for (p = hex; *p == '0' && p[1] != '\0'; p++)
			;
		if ((out = strdup(p)) != NULL) {
			for (p = out; *p; p++)
				*p = (char)(*p >= 'A' && *p <= 'F' ?
				    *p - 'A' + 'a' : *p);
		}
		OPENSSL_free(hex);
	}
	BN_free(bn);
	return out;
}

const EVP_MD *
ca_digest_for(const EVP_PKEY *key)
{
	if (EVP_PKEY_get_bits(key) >= 3072)
		return EVP_sha384();
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
	    EVP_PKEY_get_bits(key) >= 384)
		return EVP_sha384();
	return EVP_sha256();
}

static int
ca_add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext;
	int ok;

	if (value == NULL)
		return 0;
	ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	if (ext == NULL)
		return gp_err_ssl(GP_ERR_INVALID, "extension %s = \"%s\"",
		    OBJ_nid2sn(nid), value);
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : gp_err_ssl(GP_ERR_CRYPTO, "adding %s",
	    OBJ_nid2sn(nid));
}

/* certificatePolicies (RFC 5280 4.2.1.4) from a comma list of OIDs, built
 * directly: OpenSSL's text form of it needs a configuration database. */
static int
ca_add_policies(X509 *cert, const char *list)
{
	CERTIFICATEPOLICIES *cp = NULL;
	POLICYINFO *pi = NULL;
	char *copy = NULL, *tok, *save = NULL;
	int r = GP_ERR_NOMEM;

	ENSURE((copy = strdup(list)) != NULL &&
	    (cp = sk_POLICYINFO_new_null()) != NULL, GP_ERR_NOMEM);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		ENSURE((pi = POLICYINFO_new()) != NULL, GP_ERR_NOMEM);
		ASN1_OBJECT_free(pi->policyid);
		if ((pi->policyid = OBJ_txt2obj(tok, 1)) == NULL) {
			r = gp_err_ssl(GP_ERR_INVALID, "certificate policy "
			    "\"%s\" is not an OID", tok);
			goto out;
		}
		ENSURE(sk_POLICYINFO_push(cp, pi) > 0, GP_ERR_NOMEM);
		pi = NULL; /* transferred */
	}
	if (X509_add1_ext_i2d(cert, NID_certificate_policies, cp, 0,
	    X509V3_ADD_APPEND) != 1) {
		r = gp_err_ssl(GP_ERR_CRYPTO, "adding certificatePolicies");
		goto out;
	}
	r = 0;
out:
	POLICYINFO_free(pi);
	CERTIFICATEPOLICIES_free(cp);
	free(copy);
	return r;
}

/* Puts the SubjectPublicKeyInfo |alg|, |key| into |cert| as it is: no
 * EVP_PKEY is encoded (OpenSSL 3.0's X509_set_pubkey() encodes the key
 * and decodes the result again). Parameters other than a named curve or
 * NULL are refused; the caller's key then goes through X509_set_pubkey. */
static int
ca_cert_spki_copy(X509 *cert, const X509_ALGOR *alg,
    const ASN1_BIT_STRING *key)
{
	const ASN1_OBJECT *obj;
	const void *pval;
	ASN1_OBJECT *aobj = NULL, *param = NULL;
	unsigned char *bits = NULL;
	int ptype, r = GP_ERR_CRYPTO;

	X509_ALGOR_get0(&obj, &ptype, &pval, alg);
	ENSURE(ptype == V_ASN1_OBJECT || ptype == V_ASN1_NULL ||
	    ptype == V_ASN1_UNDEF, gp_err_set(GP_ERR_INVALID, "certificate: "
	    "key parameters of type %d are not copied", ptype));
	ENSURE(key->length > 0 && (aobj = OBJ_dup(obj)) != NULL &&
	    (ptype != V_ASN1_OBJECT || (param = OBJ_dup(pval)) != NULL) &&
	    (bits = OPENSSL_memdup(key->data, (size_t)key->length)) != NULL,
	    GP_ERR_NOMEM);
	if (!X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), aobj, ptype,
	    param, bits, key->length)) {
		r = gp_err_ssl(GP_ERR_CRYPTO, "certificate: public key");
		goto out;
	}
	aobj = param = NULL; /* transferred */
	bits = NULL;
	r = 0;
out:
	ASN1_OBJECT_free(aobj);
	ASN1_OBJECT_free(param);
	OPENSSL_free(bits);
	return r;
}

int
ca_cert_build(const struct ca_cert_spec *spec, X509 **out)
{
	X509 *cert = NULL;
	ASN1_INTEGER *serial = NULL;
	X509V3_CTX ctx;
	char bc[48], *aia = NULL, *cdp = NULL;
	int r = GP_ERR_CRYPTO;

	*out = NULL;
	ENSURE(spec->subject != NULL && spec->pubkey != NULL &&
	    spec->issuer_key != NULL && spec->not_after > spec->not_before,
	    gp_err_set(GP_ERR_INVALID, "certificate: subject, key, issuer "
	    "key and a validity period are required"));
	ENSURE((cert = X509_new()) != NULL, GP_ERR_NOMEM);
	GUARD(ca_serial_new(&serial));
	if (!X509_set_version(cert, X509_VERSION_3) ||
	    !X509_set_serialNumber(cert, serial) ||
	    !X509_set_subject_name(cert, spec->subject) ||
	    !X509_set_issuer_name(cert, spec->issuer_cert != NULL ?
	    X509_get_subject_name(spec->issuer_cert) : spec->subject) ||
	    ((spec->spki_alg == NULL || spec->spki_key == NULL) &&
	    !X509_set_pubkey(cert, spec->pubkey)) ||
	    ASN1_TIME_set(X509_getm_notBefore(cert),
	    (time_t)spec->not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(cert),
	    (time_t)spec->not_after) == NULL) {
		r = gp_err_ssl(GP_ERR_CRYPTO, "certificate fields");
		goto out;
	}
	if (spec->spki_alg != NULL && spec->spki_key != NULL)
		GUARD(ca_cert_spki_copy(cert, spec->spki_alg, spec->spki_key));
	X509V3_set_ctx(&ctx, spec->issuer_cert != NULL ? spec->issuer_cert :
	    cert, cert, NULL, NULL, 0);
	if (spec->is_ca && spec->path_len >= 0)
		snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%d",
		    spec->path_len);
	else
		snprintf(bc, sizeof(bc), "critical,CA:%s",
		    spec->is_ca ? "TRUE" : "FALSE");
	GUARD(ca_add_ext(cert, &ctx, NID_basic_constraints, bc));
	GUARD(ca_add_ext(cert, &ctx, NID_key_usage, spec->key_usage));
	GUARD(ca_add_ext(cert, &ctx, NID_ext_key_usage, spec->ext_key_usage));
	GUARD(ca_add_ext(cert, &ctx, NID_subject_key_identifier, "hash"));
	/* RFC 5280 4.2.1.1: AKI may be omitted only in self-signed roots; we
	 * include it there too, matching the SKI. */
	GUARD(ca_add_ext(cert, &ctx, NID_authority_key_identifier,
	    "keyid:always"));
	GUARD(ca_add_ext(cert, &ctx, NID_subject_alt_name, spec->san));
	if (spec->ocsp_nocheck)
		GUARD(ca_add_ext(cert, &ctx, NID_id_pkix_OCSP_noCheck,
		    "ignored"));
	if (spec->crl_url != NULL) {
		ENSURE(asprintf(&cdp, "URI:%s", spec->crl_url) >= 0,
		    GP_ERR_NOMEM);
		GUARD(ca_add_ext(cert, &ctx, NID_crl_distribution_points,
		    cdp));
	}
	if (spec->ocsp_url != NULL || spec->ca_issuers_url != NULL) {
		ENSURE(asprintf(&aia, "%s%s%s%s%s",
		    spec->ocsp_url ? "OCSP;URI:" : "",
		    spec->ocsp_url ? spec->ocsp_url : "",
		    spec->ocsp_url && spec->ca_issuers_url ? "," : "",
		    spec->ca_issuers_url ? "caIssuers;URI:" : "",
		    spec->ca_issuers_url ? spec->ca_issuers_url : "") >= 0,
		    GP_ERR_NOMEM);
		GUARD(ca_add_ext(cert, &ctx, NID_info_access, aia));
	}
	if (spec->policies != NULL)
		GUARD(ca_add_policies(cert, spec->policies));
	*out = cert;
	cert = NULL; /* transferred */
	r = 0;
out:
	X509_free(cert);
	ASN1_INTEGER_free(serial);
	free(aia);
	free(cdp);
	return r;
}

int
ca_cert_sign(const struct ca_cert_spec *spec, X509 **out, char **out_serial)
{
	X509 *cert = NULL;
	int r;

	*out = NULL;
	*out_serial = NULL;
	GUARD(ca_cert_build(spec, &cert));
	if (X509_sign(cert, spec->issuer_key,
	    ca_digest_for(spec->issuer_key)) <= 0) {
		r = gp_err_ssl(GP_ERR_CRYPTO, "signing the certificate");
		goto out;
	}
	ENSURE((*out_serial = ca_serial_hex(cert)) != NULL, GP_ERR_NOMEM);
	*out = cert;
	cert = NULL; /* transferred */
	r = 0;
out:
	X509_free(cert);
	return r;
}

int
ca_name_parse(const char *text, X509_NAME **out)
{
	X509_NAME *name = NULL;
	char *copy = NULL, *p, *next, *eq;
	int r = GP_ERR_INVALID;

	*out = NULL;
	ENSURE(text != NULL && text[0] == '/', gp_err_set(GP_ERR_INVALID,
	    "subject: \"%s\" must look like /CN=name/O=organisation",
	    text ? text : ""));
	ENSURE((copy = strdup(text + 1)) != NULL, GP_ERR_NOMEM);
	ENSURE((name = X509_NAME_new()) != NULL, GP_ERR_NOMEM);
	for (p = copy; p != NULL && *p != '\0'; p = next) {
		if ((next = strchr(p, '/')) != NULL)
			*next++ = '\0';
		ENSURE((eq = strchr(p, '=')) != NULL && eq != p &&
		    eq[1] != '\0', gp_err_set(GP_ERR_INVALID,
		    "subject: component \"%s\" must be TYPE=value", p));
		*eq = '\0';
		if (!X509_NAME_add_entry_by_txt(name, p, MBSTRING_UTF8,
		    (const unsigned char *)eq + 1, -1, -1, 0)) {
			r = gp_err_ssl(GP_ERR_INVALID,
			    "subject: unknown attribute type \"%s\"", p);
			goto out;
		}
	}
	ENSURE(X509_NAME_entry_count(name) > 0, gp_err_set(GP_ERR_INVALID,
	    "subject: empty"));
	*out = name;
	name = NULL; /* transferred */
	r = 0;
out:
	X509_NAME_free(name);
	free(copy);
	return r;
}

void
ca_profile_text_clear(struct ca_profile_text *t)
{
	if (t == NULL)
		return;
	free(t->ku);
	free(t->eku);
	free(t->policies);
	memset(t, 0, sizeof(*t));
}

static int
ca_cert_profile(const struct ca_profiles *ps, const char *name,
    const struct ca_profile **out)
{
	*out = ps != NULL ? ca_profile_find(ps, name) : NULL;
	if (*out == NULL)
		return gp_err_set(GP_ERR_CONFIG, "profile %s: not loaded (the "
		    "profiles directory lacks %s.json)", name, name);
	return 0;
}

int
ca_cert_profile_spec(const struct ca_profiles *ps, const char *name,
    struct ca_cert_spec *spec, struct ca_profile_text *t)
{
	const struct ca_profile *p;
	size_t i;
	char *n;
	int r;

	memset(t, 0, sizeof(*t));
	GUARD(ca_cert_profile(ps, name, &p));
	ENSURE((t->ku = ca_profile_ku_text(p)) != NULL, GP_ERR_NOMEM);
	t->eku = ca_profile_eku_text(p);
	ENSURE(t->eku != NULL || p->eku_len == 0, GP_ERR_NOMEM);
	for (i = 0; i < p->policies_len; i++) {
		ENSURE(asprintf(&n, "%s%s%s", t->policies ? t->policies : "",
		    t->policies ? "," : "", p->policies[i]) >= 0,
		    GP_ERR_NOMEM);
		free(t->policies);
		t->policies = n;
	}
	spec->key_usage = t->ku;
	spec->ext_key_usage = t->eku;
	spec->policies = t->policies;
	spec->is_ca = p->is_ca;
	spec->path_len = p->is_ca ? p->path_len : -1;
	spec->ocsp_nocheck = p->ocsp_nocheck;
	/* CA/B BR 6.3.2 for TLS, and each profile's own maximum. */
	if (spec->not_after - spec->not_before > p->max_validity_days * 86400)
		spec->not_after = spec->not_before + p->max_validity_days *
		    86400;
	r = 0;
out:
	if (r != 0)
		ca_profile_text_clear(t);
	return r;
}

int
ca_cert_profile_check(const struct ca_profiles *ps, const char *name,
    X509 *cert, X509 *issuer)
{
	const struct ca_profile *p;
	int days = 0, secs = 0, r;

	GUARD(ca_cert_profile(ps, name, &p));
	GUARD(ca_cert_lint(cert, issuer, p));
	ENSURE(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert),
	    X509_get0_notAfter(cert)) == 1 && (days < p->max_validity_days ||
	    (days == p->max_validity_days && secs == 0)),
	    gp_err_set(GP_ERR_INTERNAL, "self-check: profile %s: validity "
	    "over its %lld days", name, (long long)p->max_validity_days));
	r = 0;
out:
	return r;
}
