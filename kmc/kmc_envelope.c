/*
 * kmc_envelope.c: how a private key leaves the KMC, always inside a CMS
 * EnvelopedData (RFC 5652 6) to a key its recipient holds:
 *
 *   to a holder (EST serverkeygen, RFC 7030 4.4.2, with RFC 5958 4): the
 *   key as a OneAsymmetricKey in an AsymmetricKeyPackage, in a SignedData
 *   signed by the KMC's seal, in an EnvelopedData whose one
 *   KeyTransRecipientInfo names the holder's transport key by its
 *   subjectKeyIdentifier (the holder proved it has that key: the
 *   request's signature);
 *
 *   to a recovery agent (judicial recovery): the key as PKCS#8 PEM text in
 *   an EnvelopedData to the agent's certificate (issuer and serial), which
 *   `openssl cms -decrypt -recip agent.pem -inkey agent.key` opens.
 *
 * The content is AES-256-CBC under a fresh key, RSA key transport (PKCS#1
 * v1.5, OpenSSL's default for CMS). Every buffer that held the private key
 * is wiped.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "kmc/internal.h"

/* RFC 5958 3: id-ct-KP-aKeyPackage. */
#define KMC_OID_AKP "2.16.840.1.101.2.1.2.78.5"

/* The DER of |cms| into *out. */
static int
kmc_cms_der(CMS_ContentInfo *cms, uint8_t **out, size_t *out_len)
{
	unsigned char *der = NULL;
	int len;

	if ((len = i2d_CMS_ContentInfo(cms, &der)) <= 0)
		return gp_err_ssl(GP_ERR_CRYPTO, "encoding CMS");
	*out = der;
	*out_len = (size_t)len;
	return 0;
}

/* A certificate that only carries |key| and its subjectKeyIdentifier
 * (RFC 5280 4.2.1.2 method 1), so that OpenSSL's CMS names the recipient
 * by key identifier (CMS_USE_KEYID). Never signed, never sent. */
static int
kmc_keyid_holder(EVP_PKEY *key, X509 **out)
{
	X509 *x = NULL;
	X509_EXTENSION *ext = NULL;
	X509V3_CTX v3;
	int r = GP_ERR_INTERNAL;

	*out = NULL;
	ENSURE((x = X509_new()) != NULL, GP_ERR_NOMEM);
	ENSURE(X509_set_pubkey(x, key) == 1, gp_err_ssl(GP_ERR_CRYPTO,
	    "transport key"));
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ENSURE((ext = X509V3_EXT_conf_nid(NULL, &v3,
	    NID_subject_key_identifier, "hash")) != NULL &&
	    X509_add_ext(x, ext, -1) == 1, gp_err_ssl(GP_ERR_CRYPTO,
	    "transport key identifier"));
	/* Caches the extensions, so that the key identifier is seen. */
	(void)X509_check_purpose(x, -1, 0);
	ENSURE(X509_get0_subject_key_id(x) != NULL, gp_err_set(GP_ERR_CRYPTO,
	    "transport key identifier"));
	*out = x;
	x = NULL; /* transferred */
	r = 0;
out:
	X509_EXTENSION_free(ext);
	X509_free(x);
	return r;
}

/* EnvelopedData of |data| (content type |ctype|) to |recip|, named by
 * key identifier when |keyid|, else by issuer and serial. */
static int
kmc_envelope(X509 *recip, int keyid, const ASN1_OBJECT *ctype,
    const uint8_t *data, size_t len, uint8_t **out, size_t *out_len)
{
	CMS_ContentInfo *cms = NULL;
	BIO *in = NULL;
	int r = GP_ERR_INTERNAL;
	unsigned int flags = CMS_BINARY | CMS_PARTIAL;

	ERR_clear_error();
	ENSURE((in = BIO_new_mem_buf(data, (int)len)) != NULL, GP_ERR_NOMEM);
	ENSURE((cms = CMS_encrypt(NULL, NULL, EVP_aes_256_cbc(), flags)) !=
	    NULL, gp_err_ssl(GP_ERR_CRYPTO, "CMS EnvelopedData"));
	ENSURE(CMS_add1_recipient_cert(cms, recip, keyid ? CMS_USE_KEYID :
	    0) != NULL, gp_err_ssl(GP_ERR_CRYPTO, "CMS recipient (the key "
	    "must be RSA)"));
	if (ctype != NULL)
		ENSURE(CMS_set1_eContentType(cms, ctype) == 1,
		    gp_err_ssl(GP_ERR_CRYPTO, "CMS content type"));
	ENSURE(CMS_final(cms, in, NULL, flags) == 1, gp_err_ssl(GP_ERR_CRYPTO,
	    "encrypting the key"));
	GUARD(kmc_cms_der(cms, out, out_len));
	r = 0;
out:
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	return r;
}

/* The PKCS#8 DER (OneAsymmetricKey v1) of |priv|, in a buffer the caller
 * wipes (OPENSSL_clear_free). */
static int
kmc_p8_der(EVP_PKEY *priv, unsigned char **out, size_t *out_len)
{
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	unsigned char *der = NULL;
	int len, r = GP_ERR_INTERNAL;

	ENSURE((p8 = EVP_PKEY2PKCS8(priv)) != NULL, gp_err_ssl(GP_ERR_CRYPTO,
	    "PKCS#8"));
	ENSURE((len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der)) > 0,
	    gp_err_ssl(GP_ERR_CRYPTO, "PKCS#8"));
	*out = der;
	*out_len = (size_t)len;
	der = NULL; /* transferred */
	r = 0;
out:
	PKCS8_PRIV_KEY_INFO_free(p8);
	return r;
}

int
kmc_env_keypkg(const kmc *k, EVP_PKEY *priv, EVP_PKEY *transport,
    uint8_t **out, size_t *out_len)
{
	unsigned char *p8 = NULL, *akp = NULL, *q;
	uint8_t *sd = NULL;
	size_t p8_len = 0, akp_len = 0, sd_len = 0;
	ASN1_OBJECT *akp_oid = NULL;
	CMS_ContentInfo *cms = NULL;
	BIO *in = NULL;
	X509 *rid = NULL;
	unsigned int flags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
	int r = GP_ERR_INTERNAL;

	*out = NULL;
	*out_len = 0;
	ENSURE(k->seal_key != NULL && k->seal_cert != NULL,
	    gp_err_set(GP_ERR_CONFIG, "the KMC has no seal to sign key "
	    "packages with (govpki.json seals: \"seal\")"));
	ENSURE((akp_oid = OBJ_txt2obj(KMC_OID_AKP, 1)) != NULL, GP_ERR_NOMEM);
	/* RFC 5958 2: AsymmetricKeyPackage ::= SEQUENCE SIZE (1..MAX) OF
	 * OneAsymmetricKey; PKCS#8 PrivateKeyInfo is its version 1. */
	GUARD(kmc_p8_der(priv, &p8, &p8_len));
	akp_len = (size_t)ASN1_object_size(1, (int)p8_len, V_ASN1_SEQUENCE);
	ENSURE((akp = OPENSSL_malloc(akp_len)) != NULL, GP_ERR_NOMEM);
	q = akp;
	ASN1_put_object(&q, 1, (int)p8_len, V_ASN1_SEQUENCE,
	    V_ASN1_UNIVERSAL);
	memcpy(q, p8, p8_len);
	/* RFC 7030 4.4.2: "the private key is placed inside of a CMS
	 * SignedData. The SignedData is signed by the party that generated
	 * the private key". */
	ERR_clear_error();
	ENSURE((in = BIO_new_mem_buf(akp, (int)akp_len)) != NULL, GP_ERR_NOMEM);
	ENSURE((cms = CMS_sign(k->seal_cert, k->seal_key, k->seal_chain, NULL,
	    flags)) != NULL, gp_err_ssl(GP_ERR_CRYPTO, "signing the key "
	    "package"));
	ENSURE(CMS_set1_eContentType(cms, akp_oid) == 1 &&
	    CMS_final(cms, in, NULL, flags) == 1, gp_err_ssl(GP_ERR_CRYPTO,
	    "signing the key package"));
	GUARD(kmc_cms_der(cms, &sd, &sd_len));
	/* RFC 7030 4.4.2: "The SignedData is further protected by placing it
	 * inside of a CMS EnvelopedData"; for a client's asymmetric key the
	 * RecipientInfo is ktri and "rid is set to the subjectKeyIdentifier".
	 */
	GUARD(kmc_keyid_holder(transport, &rid));
	GUARD(kmc_envelope(rid, 1, OBJ_nid2obj(NID_pkcs7_signed), sd, sd_len,
	    out, out_len));
	r = 0;
out:
	if (p8 != NULL)
		OPENSSL_clear_free(p8, p8_len);
	if (akp != NULL)
		OPENSSL_clear_free(akp, akp_len);
	if (sd != NULL)
		OPENSSL_clear_free(sd, sd_len);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	ASN1_OBJECT_free(akp_oid);
	X509_free(rid);
	return r;
}

int
kmc_env_pem(EVP_PKEY *priv, X509 *agent, uint8_t **out, size_t *out_len)
{
	BIO *mem = NULL;
	char *pem;
	long n;
	int r = GP_ERR_INTERNAL;

	*out = NULL;
	*out_len = 0;
	ENSURE((mem = BIO_new(BIO_s_secmem())) != NULL, GP_ERR_NOMEM);
	ENSURE(PEM_write_bio_PrivateKey(mem, priv, NULL, NULL, 0, NULL, NULL) ==
	    1 && (n = BIO_get_mem_data(mem, &pem)) > 0,
	    gp_err_ssl(GP_ERR_CRYPTO, "PKCS#8 PEM"));
	GUARD(kmc_envelope(agent, 0, NULL, (const uint8_t *)pem, (size_t)n,
	    out, out_len));
	r = 0;
out:
	/* A secure-memory BIO wipes what it held when freed. */
	BIO_free(mem);
	return r;
}
