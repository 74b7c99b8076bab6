/*
 * audit_chain.c: the byte-exact encodings of audit.h (the record hash and
 * the checkpoint signing input), checkpoint signing and signature checks,
 * and the JSON form of a stored record. Writing (audit_log.c) and checking
 * (audit_verify.c) both go through these functions, so they cannot drift
 * apart; tests/test_audit.c recomputes the hash independently.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "audit/internal.h"

static void
audit_be64(int64_t v, uint8_t out[8])
{
	uint64_t u = (uint64_t)v;
	int i;

	for (i = 7; i >= 0; i--) {
		out[i] = (uint8_t)(u & 0xff);
		u >>= 8;
	}
}

/* One text field of enc(): 0 for NULL, else 1, a 4-byte big-endian length
 * and the bytes. */
static int
audit_hash_field(EVP_MD_CTX *md, const char *s)
{
	uint8_t hdr[5];
	size_t len;

	if (s == NULL) {
		hdr[0] = 0;
		return EVP_DigestUpdate(md, hdr, 1);
	}
	len = strlen(s);
	if (len > UINT32_MAX)
		return 0;
	hdr[0] = 1;
	hdr[1] = (uint8_t)(len >> 24);
	hdr[2] = (uint8_t)(len >> 16);
	hdr[3] = (uint8_t)(len >> 8);
	hdr[4] = (uint8_t)len;
	return EVP_DigestUpdate(md, hdr, 5) &&
	    EVP_DigestUpdate(md, s, len);
}

int
audit_chain_hash(const struct store_audit_row *row, uint8_t out[32])
{
	int r = GP_ERR_INTERNAL;
	EVP_MD_CTX *md = NULL;
	uint8_t num[16];
	unsigned int n = 0;

	audit_be64(row->seq, num);
	audit_be64(row->time_ms, num + 8);
	ENSURE((md = EVP_MD_CTX_new()) != NULL, GP_ERR_NOMEM);
	if (!EVP_DigestInit_ex(md, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(md, AUDIT_HASH_DOMAIN,
	    sizeof(AUDIT_HASH_DOMAIN) - 1) ||
	    !EVP_DigestUpdate(md, row->prev_hash, 32) ||
	    !EVP_DigestUpdate(md, num, sizeof(num)) ||
	    !audit_hash_field(md, row->actor) ||
	    !audit_hash_field(md, row->role) ||
	    !audit_hash_field(md, row->op) ||
	    !audit_hash_field(md, row->object) ||
	    !audit_hash_field(md, row->outcome) ||
	    !audit_hash_field(md, row->request_id) ||
	    !audit_hash_field(md, row->client) ||
	    !audit_hash_field(md, row->details) ||
	    !EVP_DigestFinal_ex(md, out, &n) || n != 32) {
		r = gp_err_ssl(GP_ERR_CRYPTO, "audit record %lld: SHA-256",
		    (long long)row->seq);
		goto out;
	}
	r = 0;
out:
	EVP_MD_CTX_free(md);
	return r;
}

void
audit_chain_tbs(int64_t seq, int64_t time_ms, const uint8_t hash[32],
    uint8_t out[AUDIT_CP_TBS_LEN])
{
	size_t d = sizeof(AUDIT_CP_DOMAIN) - 1;

	memcpy(out, AUDIT_CP_DOMAIN, d);
	audit_be64(seq, out + d);
	audit_be64(time_ms, out + d + 8);
	memcpy(out + d + 16, hash, 32);
}

int
audit_chain_sign(EVP_PKEY *key, struct store_checkpoint *cp)
{
	int r = GP_ERR_INTERNAL;
	EVP_MD_CTX *md = NULL;
	uint8_t tbs[AUDIT_CP_TBS_LEN];
	uint8_t *sig = NULL;
	size_t sig_len = 0;

	ENSURE(key != NULL, GP_ERR_INVALID);
	audit_chain_tbs(cp->seq, cp->time_ms, cp->hash, tbs);
	ENSURE((md = EVP_MD_CTX_new()) != NULL, GP_ERR_NOMEM);
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &sig_len, tbs, sizeof(tbs)) != 1) {
		r = gp_err_ssl(GP_ERR_CRYPTO, "audit checkpoint %lld: cannot "
		    "sign with the audit key", (long long)cp->id);
		goto out;
	}
	ENSURE(sig_len > 0 && (sig = malloc(sig_len)) != NULL, GP_ERR_NOMEM);
	if (EVP_DigestSign(md, sig, &sig_len, tbs, sizeof(tbs)) != 1) {
		r = gp_err_ssl(GP_ERR_CRYPTO, "audit checkpoint %lld: signing "
		    "with the audit key failed", (long long)cp->id);
		goto out;
	}
	free(cp->sig);
	cp->sig = sig;
	cp->sig_len = sig_len;
	sig = NULL; /* transferred */
	r = 0;
out:
	free(sig);
	EVP_MD_CTX_free(md);
	return r;
}

int
audit_checkpoint_verify_sig(EVP_PKEY *pub, const struct store_checkpoint *cp)
{
	int r = GP_ERR_INTERNAL, v;
	EVP_MD_CTX *md = NULL;
	uint8_t tbs[AUDIT_CP_TBS_LEN];

	ENSURE(pub != NULL, GP_ERR_INVALID);
	audit_chain_tbs(cp->seq, cp->time_ms, cp->hash, tbs);
	ENSURE((md = EVP_MD_CTX_new()) != NULL, GP_ERR_NOMEM);
	if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) != 1) {
		r = gp_err_ssl(GP_ERR_CRYPTO, "audit key cannot verify "
		    "checkpoints");
		goto out;
	}
	v = cp->sig == NULL ? 0 :
	    EVP_DigestVerify(md, cp->sig, cp->sig_len, tbs, sizeof(tbs));
	/* 0 is a bad signature, < 0 a malformed one: both are tampering. */
	ERR_clear_error();
	ENSURE(v == 1, GP_ERR_TAMPERED);
	r = 0;
out:
	EVP_MD_CTX_free(md);
	return r;
}

/* A JSON string of |s|; bytes that are not UTF-8 become '?' so that a
 * record with a stray byte can still be listed. */
static json_t *
audit_json_str(const char *s)
{
	json_t *j;
	char *copy;
	size_t i;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	if ((copy = strdup(s)) == NULL)
		return NULL;
	for (i = 0; copy[i] != '\0'; i++) {
		if ((unsigned char)copy[i] >= 0x80)
			copy[i] = '?';
	}
	j = json_string(copy);
	free(copy);
	return j;
}

static json_t *
audit_json_hex(const uint8_t h[32])
{
	char *hex = gp_hex(h, 32);
	json_t *j;

	if (hex == NULL)
		return NULL;
	j = json_string(hex);
	free(hex);
	return j;
}

/* "2026-11-22T10:00:00.123Z". */
json_t *
audit_time_json(int64_t time_ms)
{
	int64_t secs = time_ms / 1000, ms = time_ms % 1000;
	time_t t;
	struct tm tm;
	char buf[64], out[80];

	if (ms < 0) {
		ms += 1000;
		secs--;
	}
	t = (time_t)secs;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return json_null();
	snprintf(out, sizeof(out), "%s.%03dZ", buf, (int)ms);
	return json_string(out);
}

json_t *
audit_row_json(const struct store_audit_row *row)
{
	json_t *obj = NULL, *details = NULL;

	if (row == NULL)
		return NULL;
	if (row->details == NULL)
		details = json_null();
	else if ((details = json_loads(row->details, 0, NULL)) == NULL)
		details = audit_json_str(row->details); /* not JSON: as is */
	obj = json_pack("{s:I, s:o, s:I, s:o, s:o, s:o, s:o, s:o, "
	    "s:o, s:o, s:o, s:o, s:o}",
	    "seq", (json_int_t)row->seq,
	    "time", audit_time_json(row->time_ms),
	    "time_ms", (json_int_t)row->time_ms,
	    "actor", audit_json_str(row->actor),
	    "role", audit_json_str(row->role),
	    "op", audit_json_str(row->op),
	    "object", audit_json_str(row->object),
	    "outcome", audit_json_str(row->outcome),
	    "request_id", audit_json_str(row->request_id),
	    "client", audit_json_str(row->client),
	    "details", details,
	    "prev_hash", audit_json_hex(row->prev_hash),
	    "hash", audit_json_hex(row->hash));
	return obj;
}
