/*
 * kmc_recover.c: judicial recovery under dual control. One officer asks
 * for one holder's escrowed keys to be exported to a recovery agent's
 * certificate, with a reason (the court order); another person approves,
 * and only then are the keys enveloped, each to the agent's certificate
 * as PKCS#8 PEM in a CMS EnvelopedData that `openssl cms -decrypt -recip
 * agent.pem -inkey agent.key` opens. Persons, not certificates, are
 * compared (ca_person_same), so an officer's second certificate cannot
 * approve their own request. The request, the approval (naming both
 * persons) and a refusal are each recorded; the approval's record and
 * the request's decision commit together, so a request is exported once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "kmc/internal.h"

#define KMC_REASON_MAX 256

/* The SHA-256 fingerprint of |x| (its DER), hex, into |fp|. */
static int
kmc_cert_fp(X509 *x, char fp[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32)
		return gp_err_ssl(GP_ERR_CRYPTO, "fingerprint");
	kmc_hex(md, sizeof(md), fp);
	return 0;
}

/* The holder named by |sel|: {"uscc": ...} or {"id_number": ...}. */
static int
kmc_holder_sel(json_t *sel, char *out, size_t len)
{
	const char *uscc, *idn;
	char hex[65];
	int r;

	ENSURE(json_is_object(sel) && json_object_size(sel) == 1,
	    gp_err_set(GP_ERR_INVALID, "holder: an object with one of uscc or "
	    "id_number"));
	uscc = json_string_value(json_object_get(sel, "uscc"));
	idn = json_string_value(json_object_get(sel, "id_number"));
	if (uscc != NULL) {
		GUARD(ca_uscc_check("holder.uscc", uscc));
		snprintf(out, len, "uscc:%s", uscc);
	} else if (idn != NULL) {
		GUARD(ca_resident_id_check("holder.id_number", idn));
		GUARD(kmc_sha256_hex(idn, strlen(idn), hex));
		snprintf(out, len, "idn:%s", hex);
	} else {
		r = gp_err_set(GP_ERR_INVALID, "holder: uscc or id_number (a "
		    "string) is required");
		goto out;
	}
	r = 0;
out:
	return r;
}

/* The recovery agent's certificate: one PEM certificate, valid now, an
 * RSA key (CMS key transport), key usage (if any) with keyEncipherment.
 * Its SHA-256 fingerprint into |fp| (65 bytes). */
static int
kmc_agent(const char *pem, size_t len, X509 **out, char fp[65])
{
	BIO *b = NULL;
	X509 *x = NULL;
	int r;

	*out = NULL;
	ENSURE(pem != NULL && len > 0 && len <= 65536, gp_err_set(
	    GP_ERR_INVALID, "agent_certificate: one PEM certificate is "
	    "required"));
	ENSURE((b = BIO_new_mem_buf(pem, (int)len)) != NULL, GP_ERR_NOMEM);
	ENSURE((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL,
	    gp_err_ssl(GP_ERR_INVALID, "agent_certificate: not a PEM "
	    "certificate"));
	ENSURE(X509_cmp_current_time(X509_get0_notBefore(x)) < 0 &&
	    X509_cmp_current_time(X509_get0_notAfter(x)) > 0,
	    gp_err_set(GP_ERR_INVALID, "agent_certificate: not valid now"));
	ENSURE(EVP_PKEY_get_base_id(X509_get0_pubkey(x)) == EVP_PKEY_RSA &&
	    EVP_PKEY_get_bits(X509_get0_pubkey(x)) >= 2048,
	    gp_err_set(GP_ERR_INVALID, "agent_certificate: the key must be "
	    "RSA of 2048 bits or more (CMS key transport)"));
	/* RFC 5280 4.2.1.3: a key usage, when present, must allow it. */
	ENSURE((X509_get_extension_flags(x) & EXFLAG_KUSAGE) == 0 ||
	    (X509_get_key_usage(x) & KU_KEY_ENCIPHERMENT) != 0,
	    gp_err_set(GP_ERR_INVALID, "agent_certificate: its key usage "
	    "does not allow keyEncipherment"));
	GUARD(kmc_cert_fp(x, fp));
	*out = x;
	x = NULL; /* transferred */
	r = 0;
out:
	X509_free(x);
	BIO_free(b);
	return r;
}

static char *
kmc_name(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *s = NULL;
	long n;

	if (b != NULL && X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
	    XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0 &&
	    (n = BIO_get_mem_data(b, &p)) >= 0)
		s = strndup(p, (size_t)n);
	BIO_free(b);
	return s;
}

int
kmc_recovery_request(kmc *k, const struct ca_actor *who, json_t *holder,
    const char *agent_pem, size_t agent_len, const char *reason,
    char out_id[33])
{
	struct store_recovery rv;
	struct store_kmc_key *keys = NULL;
	struct audit_event ev;
	X509 *agent = NULL;
	unsigned char *der = NULL;
	uint8_t id[16];
	char h[KMC_HOLDER_MAX], fp[65], *name = NULL;
	json_t *d = NULL;
	size_t nkeys = 0;
	int len, r, in_tx = 0;

	memset(&rv, 0, sizeof(rv));
	h[0] = '\0';
	ENSURE(k != NULL && who != NULL && who->person != NULL &&
	    who->person->id[0] != '\0' && out_id != NULL,
	    gp_err_set(GP_ERR_INVALID, "kmc_recovery_request: the requester "
	    "(a person) is required"));
	GUARD(kmc_holder_sel(holder, h, sizeof(h)));
	ENSURE(reason != NULL, gp_err_set(GP_ERR_INVALID, "reason: required "
	    "(the court order or other ground)"));
	GUARD(ca_text_check("reason", reason, strlen(reason), KMC_REASON_MAX));
	GUARD(kmc_agent(agent_pem, agent_len, &agent, fp));
	GUARD(store_kmc_key_list(k->ca->st, h, &keys, &nkeys));
	ENSURE(nkeys > 0, gp_err_set(GP_ERR_NOT_FOUND, "holder %s: the KMC "
	    "holds no key of it", h));
	ENSURE((len = i2d_X509(agent, &der)) > 0, GP_ERR_CRYPTO);
	GUARD(gp_random(id, sizeof(id)));
	kmc_hex(id, sizeof(id), out_id);
	rv.id = out_id;
	rv.holder = h;
	rv.agent_der = der;
	rv.agent_der_len = (size_t)len;
	rv.reason = (char *)reason;
	rv.requester = (char *)who->person->id;
	rv.requester_idn = who->person->idn[0] != '\0' ?
	    (char *)who->person->idn : NULL;
	rv.requester_actor = (char *)(who->actor != NULL ? who->actor : "");
	rv.created_ms = gp_now_ms();
	ENSURE((name = kmc_name(agent)) != NULL, GP_ERR_NOMEM);
	ENSURE((d = json_pack("{s:s, s:s, s:s, s:s, s:I}", "holder", h,
	    "agent", name, "agent_sha256", fp, "reason", reason, "keys",
	    (json_int_t)nkeys)) != NULL, GP_ERR_NOMEM);
	GUARD(store_begin(k->ca->st));
	in_tx = 1;
	GUARD(store_recovery_insert(k->ca->st, &rv));
	ca_event(&ev, who, "kmc.recovery.request", out_id, "success", d);
	GUARD(audit_append_tx(k->ca->audit, &ev, NULL));
	in_tx = 0;
	GUARD(store_commit(k->ca->st));
	r = 0;
out:
	if (in_tx)
		store_rollback(k->ca->st);
	if (r != 0 && k != NULL) {
		if (out_id != NULL)
			out_id[0] = '\0';
		r = kmc_audit_fail(k, who, "kmc.recovery.request", h[0] != '\0' ?
		    h : "unknown", r, NULL);
	}
	json_decref(d);
	free(name);
	OPENSSL_free(der);
	X509_free(agent);
	store_kmc_key_list_free(keys, nkeys);
	return r;
}

static int
kmc_agent_of(const struct store_recovery *rv, X509 **out)
{
	const unsigned char *p = rv->agent_der;

	*out = d2i_X509(NULL, &p, (long)rv->agent_der_len);
	if (*out == NULL || p != rv->agent_der + rv->agent_der_len)
		return gp_err_set(GP_ERR_TAMPERED, "recovery %s: stored agent "
		    "certificate", rv->id);
	return 0;
}

int
kmc_recovery_get(kmc *k, const char *id, json_t **out)
{
	struct store_recovery rv;
	X509 *agent = NULL;
	char *name = NULL, fp[65];
	int r;

	memset(&rv, 0, sizeof(rv));
	*out = NULL;
	GUARD(store_recovery_get(k->ca->st, id, &rv));
	GUARD(kmc_agent_of(&rv, &agent));
	GUARD(kmc_cert_fp(agent, fp));
	ENSURE((name = kmc_name(agent)) != NULL, GP_ERR_NOMEM);
	ENSURE((*out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}",
	    "id", rv.id, "status", rv.status, "holder", rv.holder, "agent",
	    name, "agent_sha256", fp, "reason", rv.reason, "requester",
	    rv.requester_actor, "created_ms", (json_int_t)rv.created_ms)) !=
	    NULL, GP_ERR_NOMEM);
	if (rv.approver_actor != NULL)
		json_object_set_new(*out, "decided_by",
		    json_string(rv.approver_actor));
	r = 0;
out:
	free(name);
	X509_free(agent);
	store_recovery_clear(&rv);
	return r;
}

/* The requester of |rv| as a person (ca_person_same). */
static void
kmc_requester(const struct store_recovery *rv, struct ca_person *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", rv->requester);
	if (rv->requester_idn != NULL)
		snprintf(p->idn, sizeof(p->idn), "%s", rv->requester_idn);
}

int
kmc_recovery_approve(kmc *k, const struct ca_actor *who, const char *id,
    json_t **out)
{
	struct store_recovery rv;
	struct store_kmc_key *keys = NULL;
	struct ca_person req;
	struct audit_event ev;
	X509 *agent = NULL;
	EVP_PKEY *priv = NULL;
	uint8_t *env = NULL;
	size_t env_len = 0, nkeys = 0, i;
	char *b64 = NULL;
	json_t *res = NULL, *arr = NULL, *serials = NULL, *d = NULL;
	struct store_cert c;
	int r, in_tx = 0;

	memset(&rv, 0, sizeof(rv));
	memset(&c, 0, sizeof(c));
	*out = NULL;
	ENSURE(k != NULL && who != NULL && who->person != NULL &&
	    who->person->id[0] != '\0' && id != NULL,
	    gp_err_set(GP_ERR_INVALID, "kmc_recovery_approve: the approver "
	    "(a person) is required"));
	GUARD(store_recovery_get(k->ca->st, id, &rv));
	ENSURE(strcmp(rv.status, "pending") == 0, gp_err_set(GP_ERR_CONFLICT,
	    "recovery %s: %s already; a request is decided once", id,
	    rv.status));
	/* Dual control: between persons, not certificates. */
	kmc_requester(&rv, &req);
	ENSURE(!ca_person_same(&req, who->person), gp_err_set(GP_ERR_DENIED,
	    "recovery %s: the requester cannot approve it; another officer "
	    "must (dual control)", id));
	GUARD(kmc_agent_of(&rv, &agent));
	GUARD(store_kmc_key_list(k->ca->st, rv.holder, &keys, &nkeys));
	ENSURE((arr = json_array()) != NULL && (serials = json_array()) !=
	    NULL, GP_ERR_NOMEM);
	for (i = 0; i < nkeys; i++) {
		char *pem = NULL;
		size_t b64_len = 0;
		int rc;

		GUARD(kmc_key_unwrap(k, keys[i].serial, &priv));
		rc = kmc_env_pem(priv, agent, &env, &env_len);
		EVP_PKEY_free(priv); /* wipes it */
		priv = NULL;
		GUARD(rc);
		ENSURE((b64 = malloc(4 * ((env_len + 2) / 3) + 1)) != NULL,
		    GP_ERR_NOMEM);
		b64_len = (size_t)EVP_EncodeBlock((unsigned char *)b64, env,
		    (int)env_len);
		b64[b64_len] = '\0';
		GUARD(store_cert_get(k->ca->st, keys[i].serial, &c));
		{
			BIO *bio = BIO_new(BIO_s_mem());
			const unsigned char *p = c.der;
			X509 *x = d2i_X509(NULL, &p, (long)c.der_len);
			char *data;
			long n;

			if (bio != NULL && x != NULL &&
			    PEM_write_bio_X509(bio, x) == 1 &&
			    (n = BIO_get_mem_data(bio, &data)) > 0)
				pem = strndup(data, (size_t)n);
			X509_free(x);
			BIO_free(bio);
		}
		ENSURE(pem != NULL, GP_ERR_NOMEM);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}",
		    "serial", keys[i].serial, "status", c.status,
		    "certificate", pem, "envelope", b64));
		json_array_append_new(serials, json_string(keys[i].serial));
		free(pem);
		free(b64);
		b64 = NULL;
		OPENSSL_free(env);
		env = NULL;
		store_cert_clear(&c);
	}
	ENSURE((d = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s?, s:s, s:O}",
	    "holder", rv.holder, "requester", rv.requester_actor,
	    "requester_idn", rv.requester_idn, "requester_id", rv.requester,
	    "approver_id", who->person->id, "approver_idn",
	    who->person->idn[0] != '\0' ? who->person->idn : NULL, "reason",
	    rv.reason, "keys", serials)) != NULL, GP_ERR_NOMEM);
	GUARD(store_begin(k->ca->st));
	in_tx = 1;
	GUARD(store_recovery_decide(k->ca->st, id, "approved", who->person->id,
	    who->actor, gp_now_ms()));
	ca_event(&ev, who, "kmc.recovery.export", id, "success", d);
	GUARD(audit_append_tx(k->ca->audit, &ev, NULL));
	in_tx = 0;
	GUARD(store_commit(k->ca->st));
	ENSURE((res = json_pack("{s:s, s:s, s:s, s:O}", "id", id, "status",
	    "approved", "holder", rv.holder, "keys", arr)) != NULL,
	    GP_ERR_NOMEM);
	*out = res;
	r = 0;
out:
	if (in_tx)
		store_rollback(k->ca->st);
	if (r != 0 && k != NULL)
		r = kmc_audit_fail(k, who, "kmc.recovery.approve", id != NULL ?
		    id : "", r, NULL);
	EVP_PKEY_free(priv);
	OPENSSL_free(env);
	free(b64);
	store_cert_clear(&c);
	json_decref(arr);
	json_decref(serials);
	json_decref(d);
	X509_free(agent);
	store_kmc_key_list_free(keys, nkeys);
	store_recovery_clear(&rv);
	return r;
}

int
kmc_recovery_refuse(kmc *k, const struct ca_actor *who, const char *id,
    const char *reason)
{
	struct store_recovery rv;
	struct audit_event ev;
	json_t *d = NULL;
	int r, in_tx = 0;

	memset(&rv, 0, sizeof(rv));
	ENSURE(k != NULL && who != NULL && who->person != NULL && id != NULL,
	    gp_err_set(GP_ERR_INVALID, "kmc_recovery_refuse: NULL argument"));
	ENSURE(reason != NULL, gp_err_set(GP_ERR_INVALID, "reason: required"));
	GUARD(ca_text_check("reason", reason, strlen(reason), KMC_REASON_MAX));
	GUARD(store_recovery_get(k->ca->st, id, &rv));
	ENSURE((d = json_pack("{s:s}", "reason", reason)) != NULL,
	    GP_ERR_NOMEM);
	GUARD(store_begin(k->ca->st));
	in_tx = 1;
	/* Anyone may refuse, the requester too (a withdrawal). */
	GUARD(store_recovery_decide(k->ca->st, id, "refused", who->person->id,
	    who->actor, gp_now_ms()));
	ca_event(&ev, who, "kmc.recovery.refuse", id, "success", d);
	GUARD(audit_append_tx(k->ca->audit, &ev, NULL));
	in_tx = 0;
	GUARD(store_commit(k->ca->st));
	r = 0;
out:
	if (in_tx)
		store_rollback(k->ca->st);
	if (r != 0 && k != NULL)
		r = kmc_audit_fail(k, who, "kmc.recovery.refuse", id != NULL ?
		    id : "", r, NULL);
	json_decref(d);
	store_recovery_clear(&rv);
	return r;
}
