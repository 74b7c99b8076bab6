/*
 * kmc_ctx.c: the kmc object over the instance token, the storage key's
 * creation and check, holder identities, unwrapping an escrowed key, and
 * the audit helpers of kmc/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kmc/internal.h"

const char *
kmc_outcome(int code)
{
	return code == GP_ERR_DENIED || code == GP_ERR_UNAUTHENTICATED ?
	    "denied" : "failure";
}

int
kmc_audit_fail(kmc *k, const struct ca_actor *who, const char *op,
    const char *object, int code, json_t *details)
{
	struct audit_event ev;
	char detail[1024];
	json_t *d = details;

	snprintf(detail, sizeof(detail), "%s", gp_err_detail());
	if (d == NULL)
		d = json_object();
	if (d != NULL) {
		json_object_set_new(d, "error", json_string(gp_err_name(code)));
		json_object_set_new(d, "reason", json_string(detail));
	}
	ca_event(&ev, who, op, object != NULL ? object : "", kmc_outcome(code),
	    d);
	if (k == NULL || k->ca == NULL || audit_log(k->ca->audit, &ev) != 0)
		gp_log(GP_LOG_ERROR, "%s: cannot audit a failure: %s", op,
		    gp_err_detail());
	json_decref(d);
	gp_err_set(code, "%s", detail);
	return code;
}

void
kmc_hex(const uint8_t *in, size_t len, char *out)
{
	size_t i;

	for (i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
	out[2 * len] = '\0';
}

int
kmc_sha256_hex(const void *in, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (EVP_Digest(in, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32)
		return gp_err_ssl(GP_ERR_CRYPTO, "SHA-256");
	kmc_hex(md, sizeof(md), out);
	return 0;
}

int
kmc_spki_hex(EVP_PKEY *key, char out[65])
{
	unsigned char *der = NULL;
	int len, r = GP_ERR_INTERNAL;

	ENSURE((len = i2d_PUBKEY(key, &der)) > 0, gp_err_ssl(GP_ERR_CRYPTO,
	    "encoding a public key"));
	GUARD(kmc_sha256_hex(der, (size_t)len, out));
	r = 0;
out:
	OPENSSL_free(der);
	return r;
}

int
kmc_storage_key_create(tok_ctx *tok, const char *token, const char *label)
{
	return tok_wrapkey_gen(tok, token, label != NULL ? label :
	    KMC_WRAP_LABEL);
}

int
kmc_new(const struct kmc_conf *conf, kmc **out)
{
	kmc *k = NULL;
	int r = GP_ERR_INTERNAL, sens = 0, extr = 1, mu = 0;

	*out = NULL;
	ENSURE(conf != NULL && conf->ca != NULL && conf->ca->st != NULL &&
	    conf->ca->audit != NULL && conf->tok != NULL &&
	    conf->token != NULL, gp_err_set(GP_ERR_INVALID, "kmc_new: the CA "
	    "context and the instance token are required"));
	ENSURE((k = calloc(1, sizeof(*k))) != NULL, GP_ERR_NOMEM);
	ENSURE(pthread_mutex_init(&k->tok_mu, NULL) == 0, GP_ERR_INTERNAL);
	mu = 1;
	k->ca = conf->ca;
	k->tok = conf->tok;
	ENSURE((k->token = strdup(conf->token)) != NULL &&
	    (k->wrap_label = strdup(conf->wrap_label != NULL ?
	    conf->wrap_label : KMC_WRAP_LABEL)) != NULL, GP_ERR_NOMEM);
	k->seal_key = conf->seal_key;
	k->seal_cert = conf->seal_cert;
	k->seal_chain = conf->seal_chain;
	GUARD(tok_wrapkey_attrs(k->tok, k->token, k->wrap_label, &sens,
	    &extr));
	/* Escrow is only as safe as the key it wraps under. */
	ENSURE(sens && !extr, gp_err_set(GP_ERR_CONFIG, "token %s: the KMC "
	    "storage key %s is %s; it must be sensitive and never "
	    "extractable", k->token, k->wrap_label, !sens ? "not sensitive" :
	    "extractable"));
	*out = k;
	k = NULL; /* transferred */
	mu = 0;
	r = 0;
out:
	if (k != NULL) {
		if (mu)
			pthread_mutex_destroy(&k->tok_mu);
		free(k->token);
		free(k->wrap_label);
		free(k);
	}
	return r;
}

void
kmc_free(kmc *k)
{
	if (k == NULL)
		return;
	pthread_mutex_destroy(&k->tok_mu);
	free(k->token);
	free(k->wrap_label);
	free(k);
}

int
kmc_holder_of(const struct ca_ctx *ca, const char *profile, json_t *subject,
    char *out, size_t len)
{
	const struct ca_profile *p;
	struct ca_subject_ids ids;
	char hex[65];
	int r;

	ENSURE(len >= KMC_HOLDER_MAX, GP_ERR_INTERNAL);
	out[0] = '\0';
	ENSURE(ca != NULL && profile != NULL &&
	    (p = ca_profile_find(ca->profiles, profile)) != NULL,
	    gp_err_set(GP_ERR_INVALID, "profile: not a profile of this "
	    "instance"));
	ENSURE(ca_profile_twin(p) != NULL, gp_err_set(GP_ERR_INVALID,
	    "profile: %s has no encryption twin (dual certificates are for "
	    "profiles with \"encryption_twin\", such as enterprise and "
	    "citizen)", ca_profile_name(p)));
	GUARD(ca_subject_validate(ca, profile, subject, &ids));
	if (ids.uscc[0] != '\0') {
		snprintf(out, len, "uscc:%s", ids.uscc);
	} else if (ids.id_number[0] != '\0') {
		GUARD(kmc_sha256_hex(ids.id_number, strlen(ids.id_number), hex));
		snprintf(out, len, "idn:%s", hex);
	} else {
		r = gp_err_set(GP_ERR_INVALID, "profile: %s stores neither a "
		    "USCC nor a resident ID number, which tell a holder's keys "
		    "apart", ca_profile_name(p));
		goto out;
	}
	r = 0;
out:
	OPENSSL_cleanse(&ids, sizeof(ids));
	return r;
}

int
kmc_key_unwrap(kmc *k, const char *serial, EVP_PKEY **out)
{
	struct store_kmc_key row;
	struct store_cert cert;
	const unsigned char *p;
	X509 *x = NULL;
	char spki[65];
	int r, locked = 0;

	memset(&row, 0, sizeof(row));
	memset(&cert, 0, sizeof(cert));
	*out = NULL;
	ENSURE(k != NULL && serial != NULL, GP_ERR_INVALID);
	GUARD(store_kmc_key_get(k->ca->st, serial, &row));
	pthread_mutex_lock(&k->tok_mu);
	locked = 1;
	GUARD(tok_unwrap_private(k->tok, k->token, row.wrap_key, row.wrapped,
	    row.wrapped_len, out));
	pthread_mutex_unlock(&k->tok_mu);
	locked = 0;
	/* The certificate the CA signed binds the blob to its serial: a
	 * blob swapped in from another row unwraps, but is not this key. */
	GUARD(store_cert_get(k->ca->st, serial, &cert));
	p = cert.der;
	ENSURE((x = d2i_X509(NULL, &p, (long)cert.der_len)) != NULL &&
	    EVP_PKEY_eq(X509_get0_pubkey(x), *out) == 1 &&
	    kmc_spki_hex(*out, spki) == 0 &&
	    strcmp(spki, row.spki_sha256) == 0, gp_err_set(GP_ERR_TAMPERED,
	    "escrowed key of %s: it is not the key of its certificate",
	    serial));
	r = 0;
out:
	X509_free(x);
	store_cert_clear(&cert);
	if (locked)
		pthread_mutex_unlock(&k->tok_mu);
	if (r != 0) {
		EVP_PKEY_free(*out);
		*out = NULL;
	}
	store_kmc_key_clear(&row);
	return r;
}

int
kmc_signing_pair(kmc *k, const char *sign_serial, struct store_pair *pair,
    struct store_cert *out_cert)
{
	struct store_cert c;
	int64_t now = (int64_t)time(NULL);
	int r;

	memset(&c, 0, sizeof(c));
	memset(pair, 0, sizeof(*pair));
	r = store_pair_get(k->ca->st, sign_serial, pair);
	if (r == GP_ERR_NOT_FOUND || (r == 0 &&
	    strcmp(pair->signing, sign_serial) != 0)) {
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "certificate %.68s is "
		    "not the signing certificate of a pair (enrol first)",
		    sign_serial);
		goto out;
	}
	GUARD(r);
	GUARD(store_cert_get(k->ca->st, sign_serial, &c));
	ENSURE(c.status != NULL && strcmp(c.status, "good") == 0,
	    gp_err_set(GP_ERR_UNAUTHENTICATED, "certificate %s is %s; a new "
	    "enrolment code is needed", sign_serial, c.status != NULL ?
	    c.status : "unusable"));
	/* RFC 5280 4.1.2.5: valid from notBefore to notAfter inclusive. */
	ENSURE(now >= c.not_before && now <= c.not_after,
	    gp_err_set(GP_ERR_UNAUTHENTICATED, "certificate %s is outside its "
	    "validity period; after it a new enrolment code is needed",
	    sign_serial));
	if (out_cert != NULL) {
		*out_cert = c;
		memset(&c, 0, sizeof(c)); /* transferred */
	}
	r = 0;
out:
	if (r != 0)
		store_pair_clear(pair);
	store_cert_clear(&c);
	return r;
}
