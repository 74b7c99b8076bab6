/*
 * audit_key.c: the audit keys recorded in the chain. An "audit.key" record
 * carries the certificate of the key that signs checkpoints (and the
 * intermediates up to the root); audit_verify() accepts a checkpoint
 * signature only from the key the chain says is in effect, and only if its
 * certificate chains to the verifier's own trust anchor and carries the
 * audit extended key usage (audit_cert_check). Writing the record
 * (audit_key_record_tx, audit_key_change) and reading it back
 * (audit_key_parse) are both here, so that they cannot drift apart.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "audit/internal.h"

/* Caps on what an "audit.key" record may hold: one certificate, in hex. */
#define AUDIT_KEY_MAX_CERT 16384
#define AUDIT_KEY_OBJECT "audit-key:"

int
audit_unhex(const char *hex, size_t max, const char *what, uint8_t **out,
    size_t *out_len)
{
	int r = GP_ERR_INTERNAL;
	size_t len, i;
	uint8_t *buf = NULL;
	int hi, lo;

	*out = NULL;
	*out_len = 0;
	ENSURE(hex != NULL, gp_err_set(GP_ERR_INVALID, "%s: missing", what));
	len = strlen(hex);
	ENSURE(len % 2 == 0 && len > 0, gp_err_set(GP_ERR_INVALID, "%s: not "
	    "hex (odd or empty)", what));
	ENSURE(len / 2 <= max, gp_err_set(GP_ERR_TOO_LARGE, "%s: over %zu "
	    "bytes", what, max));
	ENSURE((buf = malloc(len / 2)) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < len / 2; i++) {
		hi = OPENSSL_hexchar2int((unsigned char)hex[2 * i]);
		lo = OPENSSL_hexchar2int((unsigned char)hex[2 * i + 1]);
		ENSURE(hi >= 0 && lo >= 0, gp_err_set(GP_ERR_INVALID, "%s: "
		    "not hex", what));
		buf[i] = (uint8_t)(hi << 4 | lo);
	}
	*out = buf;
	buf = NULL; /* transferred */
	*out_len = len / 2;
	r = 0;
out:
	free(buf);
	return r;
}

int
audit_spki_sha256(X509 *cert, uint8_t out[32])
{
	int r = GP_ERR_INTERNAL, n;
	uint8_t *der = NULL;
	unsigned int md_len = 0;

	ENSURE(cert != NULL, GP_ERR_INVALID);
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (n <= 0 || !EVP_Digest(der, (size_t)n, out, &md_len, EVP_sha256(),
	    NULL) || md_len != 32) {
		r = gp_err_ssl(GP_ERR_CRYPTO, "audit certificate: SHA-256 of "
		    "its public key");
		goto out;
	}
	r = 0;
out:
	OPENSSL_free(der);
	return r;
}

/* 1 when |cert| has the audit EKU in a critical extension. */
static int
audit_cert_has_eku(X509 *cert)
{
	EXTENDED_KEY_USAGE *eku;
	ASN1_OBJECT *want;
	int crit = -1, i, found = 0;

	if ((want = OBJ_txt2obj(AUDIT_EKU_OID, 1)) == NULL)
		return 0;
	eku = X509_get_ext_d2i(cert, NID_ext_key_usage, &crit, NULL);
	for (i = 0; eku != NULL && i < sk_ASN1_OBJECT_num(eku); i++)
		if (OBJ_cmp(sk_ASN1_OBJECT_value(eku, i), want) == 0)
			found = 1;
	EXTENDED_KEY_USAGE_free(eku);
	ASN1_OBJECT_free(want);
	return found && crit == 1;
}

int
audit_cert_check(X509 *cert, STACK_OF(X509) *untrusted, X509 *root,
    int64_t at_ms, uint8_t out_spki[32])
{
	int r = GP_ERR_INTERNAL, err;
	X509_STORE *xs = NULL;
	X509_STORE_CTX *ctx = NULL;
	char subject[256] = "?", anchor[256] = "?";
	uint32_t ku;

	ENSURE(cert != NULL && root != NULL && out_spki != NULL,
	    GP_ERR_INVALID);
	X509_NAME_oneline(X509_get_subject_name(cert), subject,
	    sizeof(subject));
	X509_NAME_oneline(X509_get_subject_name(root), anchor, sizeof(anchor));
	ENSURE((xs = X509_STORE_new()) != NULL &&
	    X509_STORE_add_cert(xs, root) == 1 &&
	    (ctx = X509_STORE_CTX_new()) != NULL &&
	    X509_STORE_CTX_init(ctx, xs, cert, untrusted) == 1,
	    gp_err_ssl(GP_ERR_CRYPTO, "audit certificate: verification "
	    "context"));
	/* RFC 5280 6.1: the path is validated at the time the key was put in
	 * use (the record's time), not now: an audit certificate that has
	 * since expired still vouches for what it signed while valid. */
	X509_STORE_CTX_set_time(ctx, 0, (time_t)(at_ms / 1000));
	if (X509_verify_cert(ctx) != 1) {
		err = X509_STORE_CTX_get_error(ctx);
		ERR_clear_error();
		r = gp_err_set(GP_ERR_TAMPERED, "audit certificate %s does not "
		    "chain to the trust anchor %s: %s", subject, anchor,
		    X509_verify_cert_error_string(err));
		goto out;
	}
	if (!audit_cert_has_eku(cert)) {
		r = gp_err_set(GP_ERR_TAMPERED, "certificate %s is not an audit "
		    "certificate: it lacks the critical extended key usage %s",
		    subject, AUDIT_EKU_OID);
		goto out;
	}
	/* RFC 5280 4.2.1.3: a key usage, when present, must allow
	 * digitalSignature for the key to sign checkpoints. */
	ku = X509_get_key_usage(cert);
	if (ku != UINT32_MAX && !(ku & KU_DIGITAL_SIGNATURE)) {
		r = gp_err_set(GP_ERR_TAMPERED, "audit certificate %s: its key "
		    "usage does not allow digitalSignature", subject);
		goto out;
	}
	GUARD(audit_spki_sha256(cert, out_spki));
	r = 0;
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(xs);
	return r;
}

/* Hex of the DER of |x| as a new JSON string. */
static json_t *
audit_cert_hex(X509 *x)
{
	uint8_t *der = NULL;
	char *hex = NULL;
	json_t *j = NULL;
	int n;

	if ((n = i2d_X509(x, &der)) > 0 && (hex = gp_hex(der,
	    (size_t)n)) != NULL)
		j = json_string(hex);
	OPENSSL_free(der);
	free(hex);
	return j;
}

int
audit_key_record_tx(audit *a, const char *actor, X509 *cert,
    X509 *const *chain, size_t chain_len)
{
	int r = GP_ERR_INTERNAL;
	uint8_t spki[32];
	char *hex = NULL, object[sizeof(AUDIT_KEY_OBJECT) + 64];
	json_t *details = NULL, *arr = NULL, *c = NULL;
	struct audit_event ev;
	size_t i;

	ENSURE(a != NULL && cert != NULL && (chain != NULL || chain_len == 0)
	    && chain_len <= AUDIT_MAX_CHAIN, GP_ERR_INVALID);
	GUARD(audit_spki_sha256(cert, spki));
	ENSURE((hex = gp_hex(spki, 32)) != NULL, GP_ERR_NOMEM);
	snprintf(object, sizeof(object), AUDIT_KEY_OBJECT "%s", hex);
	ENSURE((arr = json_array()) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < chain_len; i++) {
		ENSURE((c = audit_cert_hex(chain[i])) != NULL, GP_ERR_NOMEM);
		ENSURE(json_array_append_new(arr, c) == 0, GP_ERR_NOMEM);
	}
	ENSURE((c = audit_cert_hex(cert)) != NULL, GP_ERR_NOMEM);
	details = json_pack("{s:s, s:o, s:o}", "spki_sha256", hex, "cert", c,
	    "chain", arr);
	c = arr = NULL; /* transferred, also on failure */
	ENSURE(details != NULL, GP_ERR_NOMEM);
	memset(&ev, 0, sizeof(ev));
	ev.actor = actor;
	ev.role = "local";
	ev.op = AUDIT_OP_KEY;
	ev.object = object;
	ev.outcome = "success";
	ev.details = details;
	GUARD(audit_append_tx(a, &ev, NULL));
	r = 0;
out:
	json_decref(details);
	json_decref(arr);
	free(hex);
	return r;
}

int
audit_cert_der(const uint8_t *der, size_t len, const char *what, X509 **out)
{
	const uint8_t *p = der;

	*out = NULL;
	if (der != NULL && len > 0 && len <= LONG_MAX)
		*out = d2i_X509(NULL, &p, (long)len);
	if (*out == NULL || p != der + len) {
		X509_free(*out);
		*out = NULL;
		ERR_clear_error();
		return gp_err_set(GP_ERR_INVALID, "%s: not one DER certificate",
		    what);
	}
	return 0;
}

/* The hex DER certificate |hex|. */
static int
audit_key_cert(const char *hex, const char *what, X509 **out)
{
	int r;
	uint8_t *der = NULL;
	size_t len = 0;

	*out = NULL;
	GUARD(audit_unhex(hex, AUDIT_KEY_MAX_CERT, what, &der, &len));
	GUARD(audit_cert_der(der, len, what, out));
	r = 0;
out:
	free(der);
	return r;
}

int
audit_key_parse(const struct store_audit_row *row, X509 *root,
    struct audit_key *out)
{
	int r = GP_ERR_INTERNAL;
	json_t *d = NULL, *chain = NULL, *c;
	const char *spki_hex = NULL, *cert_hex = NULL;
	X509 *cert = NULL, *x = NULL;
	STACK_OF(X509) *untrusted = NULL;
	uint8_t *stated = NULL;
	size_t stated_len = 0, i;

	memset(out, 0, sizeof(*out));
	out->seq = row->seq;
	if (row->details != NULL)
		d = json_loads(row->details, 0, NULL);
	if (d == NULL || json_unpack(d, "{s:s, s:s, s:o}", "spki_sha256",
	    &spki_hex, "cert", &cert_hex, "chain", &chain) != 0 ||
	    !json_is_array(chain) ||
	    json_array_size(chain) > AUDIT_MAX_CHAIN ||
	    row->object == NULL ||
	    strncmp(row->object, AUDIT_KEY_OBJECT,
	    strlen(AUDIT_KEY_OBJECT)) != 0 ||
	    strcmp(row->object + strlen(AUDIT_KEY_OBJECT), spki_hex) != 0) {
		r = gp_err_set(GP_ERR_TAMPERED, "record %lld: malformed "
		    "audit.key record", (long long)row->seq);
		goto out;
	}
	r = audit_unhex(spki_hex, 32, "spki_sha256", &stated, &stated_len);
	if (r == 0 && stated_len != 32)
		r = gp_err_set(GP_ERR_INVALID, "spki_sha256: not 32 bytes");
	if (r == 0)
		r = audit_key_cert(cert_hex, "cert", &cert);
	ENSURE((untrusted = sk_X509_new_null()) != NULL, GP_ERR_NOMEM);
	for (i = 0; r == 0 && i < json_array_size(chain); i++) {
		c = json_array_get(chain, i);
		r = audit_key_cert(json_string_value(c), "chain", &x);
		if (r == 0 && sk_X509_push(untrusted, x) <= 0)
			r = GP_ERR_NOMEM;
		if (r == 0)
			x = NULL; /* transferred */
	}
	if (r != 0) {
		r = gp_err_set(GP_ERR_TAMPERED, "record %lld: audit.key record: "
		    "%s", (long long)row->seq, gp_err_detail());
		goto out;
	}
	if ((r = audit_cert_check(cert, untrusted, root, row->time_ms,
	    out->spki)) != 0) {
		if (r == GP_ERR_TAMPERED)
			r = gp_err_set(GP_ERR_TAMPERED, "record %lld: %s",
			    (long long)row->seq, gp_err_detail());
		goto out;
	}
	if (CRYPTO_memcmp(out->spki, stated, 32) != 0) {
		r = gp_err_set(GP_ERR_TAMPERED, "record %lld: audit.key record "
		    "states another key than its certificate's",
		    (long long)row->seq);
		goto out;
	}
	ENSURE((out->pub = X509_get_pubkey(cert)) != NULL,
	    gp_err_ssl(GP_ERR_CRYPTO, "record %lld: audit key",
	    (long long)row->seq));
	r = 0;
out:
	X509_free(x);
	X509_free(cert);
	sk_X509_pop_free(untrusted, X509_free);
	free(stated);
	json_decref(d);
	return r;
}

int
audit_key_change(audit *a, EVP_PKEY *old_key, const char *actor,
    X509 *new_cert, X509 *const *chain, size_t chain_len,
    audit_stamp_fn stamp, void *stamp_arg)
{
	int r = GP_ERR_INTERNAL, in_tx = 0;

	ENSURE(a != NULL && old_key != NULL && new_cert != NULL,
	    GP_ERR_INVALID);
	GUARD(store_begin(audit_store(a)));
	in_tx = 1;
	GUARD(audit_key_record_tx(a, actor, new_cert, chain, chain_len));
	in_tx = 0;
	GUARD(store_commit(audit_store(a)));
	/* The key it replaces seals the change: only then is it in effect. */
	GUARD(audit_checkpoint_stamped(a, old_key, 1, stamp, stamp_arg));
	r = 0;
out:
	if (in_tx)
		store_rollback(audit_store(a));
	return r;
}
