/*
 * ca.h: the certificate authority. For now, the certificate builder that
 * `govpki init` uses for the instance's own certificates; issuance from
 * requests under profiles, revocation, CRL and OCSP build on it.
 *
 * Every certificate gets a fresh serial of 128 bits from the CSPRNG,
 * positive (CA/B Forum BR 7.1: at least 64 bits of entropy), subject and
 * authority key identifiers, and UTF8String names.
 */
#ifndef GOVPKI_CA_H
#define GOVPKI_CA_H

#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/core.h"

struct ca_cert_spec {
	const X509_NAME *subject;
	EVP_PKEY *pubkey;          /* the subject's public key */
	X509 *issuer_cert;         /* NULL: self-signed with issuer_key */
	EVP_PKEY *issuer_key;      /* signs; may live on a token */
	int64_t not_before;        /* Unix seconds */
	int64_t not_after;
	int is_ca;
	int path_len;              /* for CAs; -1: no constraint */
	const char *key_usage;     /* OpenSSL v3 text, "critical,digitalSignature" */
	const char *ext_key_usage; /* "critical,timeStamping", or NULL */
	const char *san;           /* "DNS:localhost,IP:127.0.0.1", or NULL */
	int ocsp_nocheck;          /* id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1) */
	const char *crl_url;       /* CRL distribution point, or NULL */
	const char *ocsp_url;      /* AIA OCSP, or NULL */
	const char *ca_issuers_url;/* AIA caIssuers, or NULL */
};

/* Builds and signs the certificate described by |spec|. The caller frees
 * *out with X509_free() and *out_serial (lower-case hex, no leading zeros)
 * with free(). Nothing is returned on failure. */
int ca_cert_sign(const struct ca_cert_spec *spec, X509 **out,
    char **out_serial) GP_WUR;

/* A fresh positive 128-bit serial from the CSPRNG. */
int ca_serial_new(ASN1_INTEGER **out) GP_WUR;

/* The serial of |cert| as the store keys it: lower-case hex, no leading
 * zeros. Returns a new string or NULL. */
char *ca_serial_hex(const X509 *cert);

/* The digest to sign with for |key|: SHA-384 for P-384 and RSA-3072 and
 * larger, SHA-256 otherwise. */
const EVP_MD *ca_digest_for(const EVP_PKEY *key);

/* Builds a name from "/CN=x/O=y" style text, every entry a UTF8String.
 * GP_ERR_INVALID naming the bad component. */
int ca_name_parse(const char *text, X509_NAME **out) GP_WUR;

#endif /* GOVPKI_CA_H */
