/*
 * test_ca_pki.h: the fixture test_ca_crl.c and test_ca_ocsp.c share: a
 * throwaway directory with a store and its audit log, a root, an issuing
 * CA and an OCSP responder certificate on software P-256 keys (the CA code
 * uses keys only through EVP, so a token key behaves the same), and a
 * helper that inserts synthetic certificate rows in one transaction.
 */
#ifndef GOVPKI_TEST_CA_PKI_H
#define GOVPKI_TEST_CA_PKI_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "ca/ca.h"
#include "store/store.h"

struct pki_fx {
	char dir[64];
	char db[128];
	store *st;
	audit *a;
	EVP_PKEY *key[3];   /* root, ca, ocsp */
	X509 *cert[3];
};

static int
pki_rm_one(const char *path, const struct stat *sb, int flag,
    struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int
pki_cert(struct pki_fx *f, int i, const char *cn, int issuer)
{
	struct ca_cert_spec spec;
	X509_NAME *name = NULL;
	char *serial = NULL, text[128];
	int r;

	snprintf(text, sizeof(text), "/CN=%s/O=test", cn);
	if ((r = ca_name_parse(text, &name)) != 0)
		return r;
	memset(&spec, 0, sizeof(spec));
	spec.subject = name;
	spec.pubkey = f->key[i];
	spec.issuer_cert = issuer < 0 ? NULL : f->cert[issuer];
	spec.issuer_key = f->key[issuer < 0 ? i : issuer];
	spec.not_before = (int64_t)time(NULL) - 60;
	spec.not_after = (int64_t)time(NULL) + 86400 * 30;
	spec.path_len = i == 0 ? 1 : -1;
	spec.is_ca = i < 2;
	spec.key_usage = i < 2 ? "critical,keyCertSign,cRLSign" :
	    "critical,digitalSignature";
	spec.ext_key_usage = i == 2 ? "OCSPSigning" : NULL;
	spec.ocsp_nocheck = i == 2;
	if (i == 1)
		spec.path_len = 0;
	r = ca_cert_sign(&spec, &f->cert[i], &serial);
	X509_NAME_free(name);
	free(serial);
	return r;
}

static int
pki_setup(struct pki_fx *f)
{
	int i;

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/govpki-pki.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/govpki.db", f->dir);
	if (store_open(f->db, 1, &f->st) != 0 || audit_new(f->st, &f->a) != 0)
		return -1;
	for (i = 0; i < 3; i++) {
		if ((f->key[i] = EVP_EC_gen("P-256")) == NULL)
			return -1;
	}
	if (pki_cert(f, 0, "Test Root", -1) != 0 ||
	    pki_cert(f, 1, "Test CA", 0) != 0 ||
	    pki_cert(f, 2, "Test OCSP", 1) != 0)
		return -1;
	return 0;
}

static void
pki_teardown(struct pki_fx *f)
{
	int i;

	audit_free(f->a);
	store_free(f->st);
	for (i = 0; i < 3; i++) {
		EVP_PKEY_free(f->key[i]);
		X509_free(f->cert[i]);
	}
	if (f->dir[0] != '\0')
		(void)nftw(f->dir, pki_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	memset(f, 0, sizeof(*f));
}

/* Inserts |n| rows of |issuer| with serials "<prefix><i as hex, 8>" and
 * |status| (reason |reason|), in one transaction. */
static int
pki_rows(struct pki_fx *f, const char *issuer, const char *prefix, int n,
    const char *status, int reason, int64_t revoked_at)
{
	struct store_cert c;
	char serial[68];
	uint8_t der[1] = {0x30};
	int i, r;

	if ((r = store_begin(f->st)) != 0)
		return r;
	for (i = 0; i < n; i++) {
		memset(&c, 0, sizeof(c));
		snprintf(serial, sizeof(serial), "%s%08x", prefix, i);
		c.serial = serial;
		c.issuer = (char *)issuer;
		c.profile = (char *)"test";
		c.subject = (char *)"CN=x";
		c.not_before = 1;
		c.not_after = 2000000000;
		c.status = (char *)status;
		c.revoked_at = strcmp(status, "good") ? revoked_at : 0;
		c.reason = reason;
		c.created_ms = 1;
		c.der = der;
		c.der_len = 1;
		if ((r = store_cert_insert(f->st, &c)) != 0) {
			store_rollback(f->st);
			return r;
		}
	}
	return store_commit(f->st);
}

#endif /* GOVPKI_TEST_CA_PKI_H */
