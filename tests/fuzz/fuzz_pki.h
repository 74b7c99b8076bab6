/*
 * fuzz_pki.h: a small software PKI for the fuzz harnesses: a root, and
 * end-entity certificates under it with the EKU a service needs, built with
 * govpki's own certificate builder. Keys are in memory: the harnesses test
 * parsers, not tokens.
 */
#ifndef GOVPKI_FUZZ_PKI_H
#define GOVPKI_FUZZ_PKI_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>

#include "ca/ca.h"

struct fuzz_pki {
	EVP_PKEY *root_key;
	X509 *root;
	EVP_PKEY *leaf_key;
	X509 *leaf;
};

/* Builds the root and one leaf with |ku| and |eku|; aborts on failure (a
 * harness that cannot set up must not pretend to fuzz). */
static inline void
fuzz_pki_make(struct fuzz_pki *p, const char *ku, const char *eku,
    int nocheck)
{
	struct ca_cert_spec spec;
	X509_NAME *rn = NULL, *ln = NULL;
	char *serial = NULL;
	int64_t now = (int64_t)time(NULL);

	memset(p, 0, sizeof(*p));
	ASN1_STRING_set_default_mask_asc("utf8only");
	p->root_key = EVP_EC_gen("P-256");
	p->leaf_key = EVP_EC_gen("P-256");
	if (p->root_key == NULL || p->leaf_key == NULL ||
	    ca_name_parse("/CN=Fuzz Root/O=govpki", &rn) != 0 ||
	    ca_name_parse("/CN=Fuzz Service/O=govpki", &ln) != 0)
		abort();
	memset(&spec, 0, sizeof(spec));
	spec.subject = rn;
	spec.pubkey = p->root_key;
	spec.issuer_key = p->root_key;
	spec.not_before = now - 3600;
	spec.not_after = now + 86400 * 365;
	spec.is_ca = 1;
	spec.path_len = 0;
	spec.key_usage = "critical,keyCertSign,cRLSign";
	if (ca_cert_sign(&spec, &p->root, &serial) != 0)
		abort();
	free(serial);
	memset(&spec, 0, sizeof(spec));
	spec.subject = ln;
	spec.pubkey = p->leaf_key;
	spec.issuer_cert = p->root;
	spec.issuer_key = p->root_key;
	spec.not_before = now - 3600;
	spec.not_after = now + 86400 * 30;
	spec.path_len = -1;
	spec.key_usage = ku;
	spec.ext_key_usage = eku;
	spec.ocsp_nocheck = nocheck;
	if (ca_cert_sign(&spec, &p->leaf, &serial) != 0)
		abort();
	free(serial);
	X509_NAME_free(rn);
	X509_NAME_free(ln);
}

#endif /* GOVPKI_FUZZ_PKI_H */
