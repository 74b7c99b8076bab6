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

void
audit_spki_hex(X509 *cert, char out[65])
{
	uint8_t spki[32];
	char *h;

	snprintf(out, 65, "?");
	if (cert != NULL && audit_spki_sha256(cert, spki) == 0 &&
	    (h = gp_hex(spki, 32)) != NULL) {
		snprintf(out, 65, "%s", h);
		free(h);
	}
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

/* The "audit.key" record of |cert| in the caller's transaction; with
 * |adopted|, marked as the adoption of a key that sealed the log before
 * any was recorded (audit_key_adopt). */
static int
audit_key_record(audit *a, const char *actor, X509 *cert,
    X509 *const *chain, size_t chain_len, int adopted)
{
	int r = GP_ERR_INTERNAL;
	uint8_t spki[32];
	char *hex = NULL, object[sizeof(AUDIT_KEY_OBJECT) + 64];
	json_t *details = NULL, *arr = NULL, *c = NULL;
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
	if (adopted)
		ENSURE(json_object_set_new(details, AUDIT_KEY_ADOPTED,
		    json_true()) == 0, GP_ERR_NOMEM);
	GUARD(audit_success_tx(a, actor, "local", AUDIT_OP_KEY, object,
	    details));
	r = 0;
out:
	json_decref(details);
	json_decref(arr);
	free(hex);
	return r;
}

int
audit_key_record_tx(audit *a, const char *actor, X509 *cert,
    X509 *const *chain, size_t chain_len)
{
	return audit_key_record(a, actor, cert, chain, chain_len, 0);
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

/* The certificate, intermediates and stated SPKI hash of the "audit.key"
 * record |row|, as audit_key_record() wrote them; GP_ERR_TAMPERED naming
 * the record when it is not one. */
static int
audit_key_decode(const struct store_audit_row *row, X509 **out_cert,
    STACK_OF(X509) **out_chain, uint8_t out_stated[32], int *out_adopted)
{
	int r = GP_ERR_INTERNAL;
	json_t *d = NULL, *chain = NULL, *c;
	const char *spki_hex = NULL, *cert_hex = NULL;
	X509 *cert = NULL, *x = NULL;
	STACK_OF(X509) *untrusted = NULL;
	uint8_t *stated = NULL;
	size_t stated_len = 0, i;

	*out_cert = NULL;
	*out_chain = NULL;
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
	*out_adopted = json_is_true(json_object_get(d, AUDIT_KEY_ADOPTED));
	r = audit_unhex(spki_hex, 32, "spki_sha256", &stated, &stated_len);
	if (r == 0 && stated_len != 32)
		r = gp_err_set(GP_ERR_INVALID, "spki_sha256: not 32 bytes");
	if (r == 0)
		memcpy(out_stated, stated, 32);
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
	*out_cert = cert;
	*out_chain = untrusted;
	cert = NULL;
	untrusted = NULL; /* transferred */
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
audit_key_parse(const struct store_audit_row *row, X509 *root,
    struct audit_key *out)
{
	int r = GP_ERR_INTERNAL;
	X509 *cert = NULL;
	STACK_OF(X509) *untrusted = NULL;
	uint8_t stated[32];

	memset(out, 0, sizeof(*out));
	out->seq = row->seq;
	GUARD(audit_key_decode(row, &cert, &untrusted, stated,
	    &out->adopted));
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
	X509_free(cert);
	sk_X509_pop_free(untrusted, X509_free);
	return r;
}

void
audit_key_info_clear(struct audit_key_info *k)
{
	if (k == NULL)
		return;
	X509_free(k->cert);
	memset(k, 0, sizeof(*k));
}

/* The walk of audit_key_in_effect() over the "audit.key" records. */
struct audit_key_walk {
	struct audit_key_info *out;
	int64_t last_cp_seq;
};

static int
audit_key_walk_row(void *arg, const struct store_audit_row *row)
{
	struct audit_key_walk *w = arg;
	struct audit_key_info *k = w->out;
	X509 *cert = NULL;
	STACK_OF(X509) *chain = NULL;
	uint8_t stated[32];
	int r, adopted = 0;

	k->keys++;
	GUARD(audit_key_decode(row, &cert, &chain, stated, &adopted));
	/* The first key is in effect from the start; a later one once a
	 * checkpoint covers its record (audit_verify() checks that the key
	 * it replaces signed that checkpoint). */
	if (k->seq == 0 || row->seq <= w->last_cp_seq) {
		X509_free(k->cert);
		k->cert = cert;
		cert = NULL; /* transferred */
		k->seq = row->seq;
		k->adopted = adopted;
		GUARD(audit_spki_sha256(k->cert, k->spki));
	} else if (k->pending_seq == 0) {
		k->pending_seq = row->seq;
	}
	r = 0;
out:
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	return r;
}

int
audit_key_in_effect(store *st, struct audit_key_info *out)
{
	int r = GP_ERR_INTERNAL, rc;
	struct store_checkpoint last;
	struct audit_key_walk w;

	memset(&last, 0, sizeof(last));
	memset(out, 0, sizeof(*out));
	ENSURE(st != NULL, GP_ERR_INVALID);
	memset(&w, 0, sizeof(w));
	w.out = out;
	rc = store_checkpoint_last(st, &last);
	if (rc == 0)
		w.last_cp_seq = last.seq;
	else if (rc != GP_ERR_NOT_FOUND)
		GUARD(rc);
	GUARD(store_audit_key_scan(st, audit_key_walk_row, &w));
	out->last_cp_seq = w.last_cp_seq;
	r = 0;
out:
	if (r != 0)
		audit_key_info_clear(out);
	store_checkpoint_clear(&last);
	return r;
}

int
audit_key_still_in_effect(store *st, EVP_PKEY *key)
{
	int r = GP_ERR_INTERNAL, n;
	struct audit_key_info k;
	uint8_t *der = NULL, spki[32];
	unsigned int md_len = 0;

	memset(&k, 0, sizeof(k));
	ENSURE(st != NULL && key != NULL, GP_ERR_INVALID);
	GUARD(audit_key_in_effect(st, &k));
	if (k.seq == 0) {
		r = 0; /* no key recorded: an adoption anchors them later */
		goto out;
	}
	n = i2d_PUBKEY(key, &der);
	if (n <= 0 || !EVP_Digest(der, (size_t)n, spki, &md_len, EVP_sha256(),
	    NULL) || md_len != 32) {
		r = gp_err_ssl(GP_ERR_CRYPTO, "audit key: SHA-256 of its "
		    "public key");
		goto out;
	}
	ENSURE(CRYPTO_memcmp(spki, k.spki, 32) == 0, gp_err_set(
	    GP_ERR_CONFLICT, "audit checkpoint: this process's audit key is "
	    "no longer the one in effect (record %lld recorded another; "
	    "another process or node changed it): restart this one with the "
	    "new certs/audit.pem", (long long)k.seq));
	r = 0;
out:
	OPENSSL_free(der);
	audit_key_info_clear(&k);
	return r;
}

int
audit_key_pair_check(EVP_PKEY *key, X509 *cert)
{
	int r = GP_ERR_INTERNAL, v;
	EVP_MD_CTX *md = NULL;
	uint8_t probe[48], *sig = NULL;
	size_t sig_len = 0;
	EVP_PKEY *pub;

	ENSURE(key != NULL && cert != NULL, GP_ERR_INVALID);
	ENSURE((pub = X509_get0_pubkey(cert)) != NULL, gp_err_ssl(
	    GP_ERR_CRYPTO, "audit certificate: its public key"));
	memcpy(probe, "govpki-audit-key-probe-v1:", 26);
	GUARD(gp_random(probe + 26, sizeof(probe) - 26));
	ENSURE((md = EVP_MD_CTX_new()) != NULL, GP_ERR_NOMEM);
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &sig_len, probe, sizeof(probe)) != 1 ||
	    (sig = malloc(sig_len)) == NULL ||
	    EVP_DigestSign(md, sig, &sig_len, probe, sizeof(probe)) != 1) {
		r = gp_err_ssl(GP_ERR_CRYPTO, "the audit key cannot sign");
		goto out;
	}
	EVP_MD_CTX_free(md);
	ENSURE((md = EVP_MD_CTX_new()) != NULL, GP_ERR_NOMEM);
	v = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 ?
	    EVP_DigestVerify(md, sig, sig_len, probe, sizeof(probe)) : -1;
	ERR_clear_error();
	ENSURE(v == 1, gp_err_set(GP_ERR_CONFLICT, "the key is not the key "
	    "of the certificate"));
	r = 0;
out:
	free(sig);
	EVP_MD_CTX_free(md);
	return r;
}

/* Every checkpoint of the log signed by |cert|'s key, for an adoption:
 * the key adopted must be the one that sealed the log so far. */
struct audit_adopt_walk {
	EVP_PKEY *pub;
};

static int
audit_adopt_cp(void *arg, const struct store_checkpoint *cp)
{
	struct audit_adopt_walk *w = arg;
	int r = audit_checkpoint_verify_sig(w->pub, cp);

	if (r == GP_ERR_TAMPERED)
		return gp_err_set(GP_ERR_TAMPERED, "checkpoint %lld (record "
		    "%lld) was not signed by this key: the log was sealed by "
		    "another key, which adopting this one would not anchor; "
		    "find out why before anything else (govpki audit verify)",
		    (long long)cp->id, (long long)cp->seq);
	return r;
}

/* In one transaction: |apply|'s change, the "audit.key" record of |cert|
 * and a checkpoint covering both signed with |sign_key|. A change
 * (|adopt| 0): |sign_key| is the key in effect and |cert| another key's.
 * An adoption: the chain records no key yet, and |cert| is |sign_key|'s,
 * which signed every checkpoint so far. The checkpoint is signed with
 * the write lock held and has no time-stamp (the TSA writes its clock
 * bound to the store in a transaction of its own). */
static int
audit_key_seal(audit *a, EVP_PKEY *sign_key, const char *actor, X509 *cert,
    X509 *const *chain, size_t chain_len, int adopt, audit_apply_fn apply,
    void *apply_arg)
{
	int r = GP_ERR_INTERNAL, in_tx = 0, rc;
	struct audit_key_info info;
	struct audit_cp_draft d;
	struct store_checkpoint last;
	struct audit_adopt_walk aw;
	uint8_t spki[32];
	store *st;

	memset(&info, 0, sizeof(info));
	memset(&d, 0, sizeof(d));
	memset(&last, 0, sizeof(last));
	ENSURE(a != NULL && sign_key != NULL && cert != NULL, GP_ERR_INVALID);
	st = audit_store(a);
	GUARD(audit_spki_sha256(cert, spki));
	GUARD(store_begin(st));
	in_tx = 1;
	/* Read under the write lock: no checkpoint or key record can come
	 * between this check and the commit. */
	GUARD(audit_key_in_effect(st, &info));
	if (adopt) {
		ENSURE(info.seq == 0, gp_err_set(GP_ERR_CONFLICT, "the audit "
		    "log records its audit key already (record %lld): there "
		    "is nothing to adopt", (long long)info.seq));
		if ((r = audit_key_pair_check(sign_key, cert)) != 0) {
			if (r == GP_ERR_CONFLICT)
				r = gp_err_set(GP_ERR_CONFLICT, "the audit key "
				    "is not the key of the certificate to "
				    "record for it");
			goto out;
		}
		aw.pub = X509_get0_pubkey(cert);
		GUARD(store_checkpoint_scan(st, audit_adopt_cp, &aw));
	} else {
		ENSURE(info.seq > 0, gp_err_set(GP_ERR_CONFLICT, "the audit log "
		    "records no audit key, so none can be replaced: adopt the "
		    "current one first (govpki audit adopt-key)"));
		ENSURE(info.pending_seq == 0, gp_err_set(GP_ERR_CONFLICT,
		    "record %lld: an audit key change that no checkpoint seals "
		    "yet; find out why before changing the key again",
		    (long long)info.pending_seq));
		if ((r = audit_key_pair_check(sign_key, info.cert)) != 0) {
			if (r == GP_ERR_CONFLICT)
				r = gp_err_set(GP_ERR_CONFLICT, "the signing key "
				    "is not the audit key in effect (recorded "
				    "at record %lld)", (long long)info.seq);
			goto out;
		}
		ENSURE(CRYPTO_memcmp(spki, info.spki, 32) != 0,
		    gp_err_set(GP_ERR_CONFLICT, "the new audit key is the key "
		    "in effect (recorded at record %lld)",
		    (long long)info.seq));
	}
	if (apply != NULL)
		GUARD(apply(st, apply_arg));
	GUARD(audit_key_record(a, actor, cert, chain, chain_len, adopt));
	GUARD(store_audit_head(st, &d.cp.seq, d.cp.hash));
	GUARD(audit_cp_draft_sign(&d, sign_key, NULL, NULL));
	d.stamped = 1;
	snprintf(d.tst_error, sizeof(d.tst_error), "not time-stamped: it "
	    "seals an audit key %s in the same transaction, and the TSA "
	    "writes to the store in one of its own; the next checkpoint is "
	    "time-stamped", adopt ? "adoption" : "change");
	rc = store_checkpoint_last(st, &last);
	if (rc != 0 && rc != GP_ERR_NOT_FOUND)
		GUARD(rc);
	GUARD(audit_cp_draft_record_tx(a, &d, rc == 0 ? last.id : 0));
	in_tx = 0;
	GUARD(store_commit(st));
	r = 0;
out:
	if (in_tx)
		store_rollback(st);
	audit_key_info_clear(&info);
	audit_cp_draft_clear(&d);
	store_checkpoint_clear(&last);
	return r;
}

int
audit_key_change(audit *a, EVP_PKEY *old_key, const char *actor,
    X509 *new_cert, X509 *const *chain, size_t chain_len,
    audit_apply_fn apply, void *apply_arg)
{
	return audit_key_seal(a, old_key, actor, new_cert, chain, chain_len, 0,
	    apply, apply_arg);
}

int
audit_key_adopt(audit *a, EVP_PKEY *key, const char *actor, X509 *cert,
    X509 *const *chain, size_t chain_len, audit_apply_fn apply,
    void *apply_arg)
{
	return audit_key_seal(a, key, actor, cert, chain, chain_len, 1, apply,
	    apply_arg);
}
