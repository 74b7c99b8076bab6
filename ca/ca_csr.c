/*
 * ca_csr.c: reads a PKCS#10 certificate request (RFC 2986) from the
 * network for issuance: one PEM block, its signature verified with the key
 * it carries (proof of possession), the key decoded once.
 *
 * Why not d2i_X509_REQ: OpenSSL 3.0 decodes the SubjectPublicKeyInfo of
 * every X509_PUBKEY it parses through a freshly built OSSL_DECODER chain,
 * and X509_set_pubkey() encodes the key and decodes it again; together
 * that was more than half the CPU of an issuance. The request is parsed
 * here with OpenSSL's ASN.1 templates into the same fields, with the key
 * info kept as algorithm and bits; a P-256 or P-384 key in the
 * uncompressed form (RFC 5480 2.2) is built straight from those bits, and
 * the certificate then receives the very SubjectPublicKeyInfo that was
 * signed (ca_cert_build, spki_alg/spki_key). Any other key goes through OpenSSL's
 * generic decoder as before. The signed part keeps its received encoding
 * (ASN1_SEQUENCE_enc), exactly as X509_REQ_verify() checks it.
 */
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include "ca/internal.h"

/* SubjectPublicKeyInfo without the key decoded (RFC 5280 4.1). */
typedef struct ca_spki_st {
	X509_ALGOR *algor;
	ASN1_BIT_STRING *public_key;
} CA_SPKI;

/* CertificationRequestInfo (RFC 2986 4.1), its encoding kept as received
 * so that the signature is checked over the bytes that were signed. */
typedef struct ca_req_info_st {
	ASN1_ENCODING enc;
	ASN1_INTEGER *version;
	X509_NAME *subject;
	CA_SPKI *pubkey;
	STACK_OF(X509_ATTRIBUTE) *attributes;
} CA_REQ_INFO;

/* CertificationRequest (RFC 2986 4.2). */
typedef struct ca_req_st {
	CA_REQ_INFO *info;
	X509_ALGOR *sig_alg;
	ASN1_BIT_STRING *signature;
} CA_REQ;

ASN1_SEQUENCE(CA_SPKI) = {
	ASN1_SIMPLE(CA_SPKI, algor, X509_ALGOR),
	ASN1_SIMPLE(CA_SPKI, public_key, ASN1_BIT_STRING)
} static_ASN1_SEQUENCE_END(CA_SPKI)

ASN1_SEQUENCE_enc(CA_REQ_INFO, enc, 0) = {
	ASN1_SIMPLE(CA_REQ_INFO, version, ASN1_INTEGER),
	ASN1_SIMPLE(CA_REQ_INFO, subject, X509_NAME),
	ASN1_SIMPLE(CA_REQ_INFO, pubkey, CA_SPKI),
	/* RFC 2986 4.1: attributes [0] IMPLICIT, as OpenSSL reads them. */
	ASN1_IMP_SET_OF_OPT(CA_REQ_INFO, attributes, X509_ATTRIBUTE, 0)
} static_ASN1_SEQUENCE_END_ref(CA_REQ_INFO, CA_REQ_INFO)

ASN1_SEQUENCE(CA_REQ) = {
	ASN1_SIMPLE(CA_REQ, info, CA_REQ_INFO),
	ASN1_SIMPLE(CA_REQ, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(CA_REQ, signature, ASN1_BIT_STRING)
} static_ASN1_SEQUENCE_END(CA_REQ)

struct ca_csr {
	CA_REQ *req;
	EVP_PKEY *key;
	int verbatim;       /* the key was built from exactly these bits */
};

void
ca_csr_free(struct ca_csr *csr)
{
	if (csr == NULL)
		return;
	ASN1_item_free((ASN1_VALUE *)csr->req, ASN1_ITEM_rptr(CA_REQ));
	EVP_PKEY_free(csr->key);
	free(csr);
}

/* The key of |spki| when it is an EC key on a named curve in uncompressed
 * form: built from the point without OpenSSL's decoder chain. 0 with *out
 * NULL when the key is of another kind (the caller decodes it
 * generically); GP_ERR_INVALID when it claims to be such a key but is not
 * one (the point is not on the curve, say). */
static int
ca_csr_ec_key(const CA_SPKI *spki, EVP_PKEY **out)
{
	const ASN1_OBJECT *obj;
	const void *pval;
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM params[3];
	const char *group;
	int ptype, nid, r = GP_ERR_INVALID;

	*out = NULL;
	X509_ALGOR_get0(&obj, &ptype, &pval, spki->algor);
	/* Only the curves profiles may allow (ca_key_type): any other, SM2
	 * say, is left to the decoder, which knows its key type. */
	if (OBJ_obj2nid(obj) != NID_X9_62_id_ecPublicKey ||
	    ptype != V_ASN1_OBJECT ||
	    ((nid = OBJ_obj2nid((const ASN1_OBJECT *)pval)) !=
	    NID_X9_62_prime256v1 && nid != NID_secp384r1) ||
	    (group = OSSL_EC_curve_nid2name(nid)) == NULL ||
	    spki->public_key->length < 1 ||
	    spki->public_key->data[0] != POINT_CONVERSION_UNCOMPRESSED ||
	    (spki->public_key->flags & ASN1_STRING_FLAG_BITS_LEFT &&
	    (spki->public_key->flags & 0x07) != 0))
		return 0; /* not ours to build: the generic decoder decides */
	params[0] = OSSL_PARAM_construct_utf8_string(
	    OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	    spki->public_key->data, (size_t)spki->public_key->length);
	params[2] = OSSL_PARAM_construct_end();
	ENSURE((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) != NULL,
	    gp_err_ssl(GP_ERR_CRYPTO, "csr.key: EC support"));
	/* fromdata decodes the point and refuses one off the curve. */
	if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		r = gp_err_ssl(GP_ERR_INVALID, "csr: public key does not "
		    "decode");
		goto out;
	}
	r = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	return r;
}

/* Any other key: OpenSSL's generic SubjectPublicKeyInfo decoder. */
static int
ca_csr_any_key(const CA_SPKI *spki, EVP_PKEY **out)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int len, r = GP_ERR_INVALID;

	*out = NULL;
	ENSURE((len = ASN1_item_i2d((const ASN1_VALUE *)spki, &der,
	    ASN1_ITEM_rptr(CA_SPKI))) > 0, gp_err_ssl(GP_ERR_INVALID,
	    "csr: public key does not encode"));
	p = der;
	if ((*out = d2i_PUBKEY(NULL, &p, len)) == NULL || p != der + len) {
		r = gp_err_ssl(GP_ERR_INVALID, "csr: public key does not "
		    "decode");
		goto out;
	}
	r = 0;
out:
	OPENSSL_free(der);
	return r;
}

/* A request is never encrypted: no pass phrase is asked for (OpenSSL's
 * default callback would prompt on a terminal). */
static int
ca_csr_no_pass(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

int
ca_csr_parse(const char *pem, size_t len, struct ca_csr **out)
{
	BIO *bio = NULL;
	struct ca_csr *csr = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	char *name = NULL, rest[64];
	long der_len = 0;
	int r = GP_ERR_INVALID, n, i;

	*out = NULL;
	ENSURE(pem != NULL && len > 0, gp_err_set(GP_ERR_INVALID, "csr: a "
	    "PEM certificate request is required"));
	/* Cap before parsing: the CSR is attacker-controlled. */
	ENSURE(len <= CA_MAX_CSR, gp_err_set(GP_ERR_TOO_LARGE, "csr: over "
	    "%d bytes", CA_MAX_CSR));
	ENSURE((csr = calloc(1, sizeof(*csr))) != NULL, GP_ERR_NOMEM);
	ENSURE((bio = BIO_new_mem_buf(pem, (int)len)) != NULL, GP_ERR_NOMEM);
	/* The PEM names PEM_read_bio_X509_REQ() accepts ("CERTIFICATE
	 * REQUEST", and "NEW CERTIFICATE REQUEST"). */
	if (!PEM_bytes_read_bio(&der, &der_len, &name, PEM_STRING_X509_REQ,
	    bio, ca_csr_no_pass, NULL)) {
		r = gp_err_ssl(GP_ERR_INVALID, "csr: not a PEM CERTIFICATE "
		    "REQUEST");
		goto out;
	}
	/* Nothing but white space may follow the one request. */
	while ((n = BIO_read(bio, rest, sizeof(rest))) > 0)
		for (i = 0; i < n; i++)
			ENSURE(rest[i] == '\n' || rest[i] == '\r' ||
			    rest[i] == ' ' || rest[i] == '\t',
			    gp_err_set(GP_ERR_INVALID, "csr: trailing data "
			    "after the request"));
	p = der;
	if ((csr->req = (CA_REQ *)ASN1_item_d2i(NULL, &p, der_len,
	    ASN1_ITEM_rptr(CA_REQ))) == NULL) {
		r = gp_err_ssl(GP_ERR_INVALID, "csr: not a PEM CERTIFICATE "
		    "REQUEST");
		goto out;
	}
	ENSURE(p == der + der_len, gp_err_set(GP_ERR_INVALID, "csr: trailing "
	    "bytes after the request's DER"));
	GUARD(ca_csr_ec_key(csr->req->info->pubkey, &csr->key));
	csr->verbatim = csr->key != NULL;
	if (csr->key == NULL)
		GUARD(ca_csr_any_key(csr->req->info->pubkey, &csr->key));
	/* RFC 2986 3: the signature proves possession of the private key. */
	if (ASN1_item_verify_ex(ASN1_ITEM_rptr(CA_REQ_INFO),
	    csr->req->sig_alg, csr->req->signature, csr->req->info, NULL,
	    csr->key, NULL, NULL) != 1) {
		r = gp_err_ssl(GP_ERR_INVALID, "csr: the signature does not "
		    "verify (no proof of possession of the key)");
		goto out;
	}
	*out = csr;
	csr = NULL; /* transferred */
	r = 0;
out:
	ca_csr_free(csr);
	OPENSSL_free(der);
	OPENSSL_free(name);
	BIO_free(bio);
	return r;
}

EVP_PKEY *
ca_csr_key(const struct ca_csr *csr)
{
	return csr->key;
}

void
ca_csr_spki(const struct ca_csr *csr, const X509_ALGOR **out_alg,
    const ASN1_BIT_STRING **out_key)
{
	*out_alg = NULL;
	*out_key = NULL;
	if (!csr->verbatim)
		return;
	*out_alg = csr->req->info->pubkey->algor;
	*out_key = csr->req->info->pubkey->public_key;
}

int
ca_csr_pop(const char *pem, size_t len, EVP_PKEY **out_key,
    X509_NAME **out_subject)
{
	struct ca_csr *csr = NULL;
	int r;

	*out_key = NULL;
	if (out_subject != NULL)
		*out_subject = NULL;
	GUARD(ca_csr_parse(pem, len, &csr));
	if (out_subject != NULL)
		ENSURE((*out_subject = X509_NAME_dup(csr->req->info->subject)) !=
		    NULL, GP_ERR_NOMEM);
	*out_key = csr->key;
	csr->key = NULL; /* transferred */
	r = 0;
out:
	if (r != 0 && out_subject != NULL) {
		X509_NAME_free(*out_subject);
		*out_subject = NULL;
	}
	ca_csr_free(csr);
	return r;
}
