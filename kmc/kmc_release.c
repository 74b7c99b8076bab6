/*
 * kmc_release.c: a holder's escrowed keys released to the holder. The
 * caller (the EST listener) has verified the TLS client certificate; here
 * its store row must be a good signing certificate of a pair within its
 * validity, and the request must prove possession of the transport key
 * the envelope is made to (its PKCS#10 signature). Each release is
 * recorded, with the transport key's hash, durably before it is returned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "kmc/internal.h"

void
kmc_released_clear(struct kmc_released *r)
{
	if (r == NULL)
		return;
	OPENSSL_free(r->env);
	free(r->cert);
	memset(r, 0, sizeof(*r));
}

void
kmc_released_free(struct kmc_released *list, size_t len)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < len; i++)
		kmc_released_clear(&list[i]);
	free(list);
}

/* The transport key of |csr_pem|: its signature proves possession; RSA
 * of 2048 bits or more, for CMS key transport. */
static int
kmc_transport(const char *csr_pem, size_t csr_len, EVP_PKEY **out,
    char spki[65])
{
	int r;

	*out = NULL;
	GUARD(ca_csr_pop(csr_pem, csr_len, out, NULL));
	ENSURE(EVP_PKEY_get_base_id(*out) == EVP_PKEY_RSA &&
	    EVP_PKEY_get_bits(*out) >= 2048, gp_err_set(GP_ERR_INVALID,
	    "csr.key: the transport key must be RSA of 2048 bits or more "
	    "(the key is sent by CMS key transport)"));
	GUARD(kmc_spki_hex(*out, spki));
	r = 0;
out:
	if (r != 0) {
		EVP_PKEY_free(*out);
		*out = NULL;
	}
	return r;
}

/* Envelopes the escrowed key of |serial| to |transport| into |out|. */
static int
kmc_release_one(kmc *k, const char *serial, EVP_PKEY *transport,
    struct kmc_released *out)
{
	struct store_cert c;
	EVP_PKEY *priv = NULL;
	int r;

	memset(&c, 0, sizeof(c));
	snprintf(out->serial, sizeof(out->serial), "%s", serial);
	GUARD(kmc_key_unwrap(k, serial, &priv));
	GUARD(kmc_env_keypkg(k, priv, transport, &out->env, &out->env_len));
	GUARD(store_cert_get(k->ca->st, serial, &c));
	out->cert = c.der;
	out->cert_len = c.der_len;
	c.der = NULL; /* transferred */
	r = 0;
out:
	EVP_PKEY_free(priv); /* wipes the key */
	store_cert_clear(&c);
	return r;
}

int
kmc_release(kmc *k, const struct ca_actor *who, const char *sign_serial,
    const char *csr_pem, size_t csr_len, struct kmc_released *out)
{
	struct store_pair pair;
	EVP_PKEY *transport = NULL;
	struct audit_event ev;
	json_t *d = NULL;
	char spki[65];
	int r;

	memset(&pair, 0, sizeof(pair));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	ENSURE(k != NULL && who != NULL && sign_serial != NULL && out != NULL,
	    gp_err_set(GP_ERR_INVALID, "kmc_release: NULL argument"));
	GUARD(kmc_signing_pair(k, sign_serial, &pair, NULL));
	GUARD(kmc_transport(csr_pem, csr_len, &transport, spki));
	GUARD(kmc_release_one(k, pair.encryption, transport, out));
	ENSURE((d = json_pack("{s:s, s:s, s:s}", "signing", sign_serial,
	    "holder", pair.holder, "transport_spki_sha256", spki)) != NULL,
	    GP_ERR_NOMEM);
	ca_event(&ev, who, "kmc.key.release", pair.encryption, "success", d);
	GUARD(audit_log(k->ca->audit, &ev));
	r = 0;
out:
	if (r != 0 && k != NULL) {
		kmc_released_clear(out);
		r = kmc_audit_fail(k, who, "kmc.key.release", sign_serial, r,
		    NULL);
	}
	json_decref(d);
	EVP_PKEY_free(transport);
	store_pair_clear(&pair);
	return r;
}

int
kmc_history_release(kmc *k, const struct ca_actor *who,
    const char *sign_serial, const char *csr_pem, size_t csr_len,
    struct kmc_released **out, size_t *out_len)
{
	struct store_pair pair;
	struct store_kmc_key *keys = NULL;
	struct kmc_released *list = NULL;
	EVP_PKEY *transport = NULL;
	struct audit_event ev;
	json_t *d = NULL, *serials = NULL;
	size_t nkeys = 0, n = 0, i;
	char spki[65];
	int r;

	memset(&pair, 0, sizeof(pair));
	ENSURE(k != NULL && who != NULL && sign_serial != NULL && out != NULL &&
	    out_len != NULL, gp_err_set(GP_ERR_INVALID, "kmc_history_release: "
	    "NULL argument"));
	*out = NULL;
	*out_len = 0;
	GUARD(kmc_signing_pair(k, sign_serial, &pair, NULL));
	GUARD(kmc_transport(csr_pem, csr_len, &transport, spki));
	GUARD(store_kmc_key_list(k->ca->st, pair.holder, &keys, &nkeys));
	ENSURE((list = calloc(nkeys + 1, sizeof(*list))) != NULL &&
	    (serials = json_array()) != NULL, GP_ERR_NOMEM);
	/* Every earlier key of the holder: the current one is
	 * serverkeygen's. */
	for (i = 0; i < nkeys; i++) {
		if (strcmp(keys[i].serial, pair.encryption) == 0)
			continue;
		GUARD(kmc_release_one(k, keys[i].serial, transport, &list[n]));
		n++;
		json_array_append_new(serials, json_string(keys[i].serial));
	}
	ENSURE((d = json_pack("{s:s, s:s, s:s, s:O}", "signing", sign_serial,
	    "holder", pair.holder, "transport_spki_sha256", spki, "keys",
	    serials)) != NULL, GP_ERR_NOMEM);
	ca_event(&ev, who, "kmc.key.restore", sign_serial, "success", d);
	GUARD(audit_log(k->ca->audit, &ev));
	*out = list;
	*out_len = n;
	list = NULL; /* transferred */
	r = 0;
out:
	if (r != 0 && k != NULL)
		r = kmc_audit_fail(k, who, "kmc.key.restore", sign_serial, r,
		    NULL);
	/* On failure the entry being filled may hold a buffer too. */
	kmc_released_free(list, list != NULL ? nkeys + 1 : 0);
	store_kmc_key_list_free(keys, nkeys);
	json_decref(d);
	json_decref(serials);
	EVP_PKEY_free(transport);
	store_pair_clear(&pair);
	return r;
}
