/*
 * kmc_enrol.c: one-time enrolment codes. An officer who has verified a
 * holder (the subject fields, validated against the profile as issuance
 * validates them) creates a code; the holder enrols with it once over EST
 * (RFC 7030 3.2.3: HTTP Basic authentication over TLS, the code as the
 * password). The code has 120 random bits (24 characters of a 32-letter
 * alphabet without look-alikes, in groups of four), is shown once and
 * kept only as its SHA-256 (a guess costs 2^119 tries on average, so no
 * salt is needed), expires, and is used up in the transaction that issues
 * its certificates (kmc_enroll). Creating one is recorded with who
 * created it, for which holder and profile, and until when; the code
 * itself is never recorded.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "kmc/internal.h"

/* Crockford's base32 alphabet: digits and letters without I, L, O and U,
 * 5 bits a character; O is read as 0, I and L as 1. */
static const char kmc_code_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
#define KMC_CODE_CHARS 24

/* |in| without dashes and spaces, upper-cased, into |out|; GP_ERR_INVALID
 * for anything else or the wrong length. */
static int
kmc_code_norm(const char *in, char out[KMC_CODE_CHARS + 1])
{
	size_t n = 0;

	if (in == NULL)
		return gp_err_set(GP_ERR_INVALID, "code: missing");
	for (; *in != '\0'; in++) {
		int c = toupper((unsigned char)*in);

		if (c == '-' || c == ' ')
			continue;
		c = c == 'O' ? '0' : (c == 'I' || c == 'L') ? '1' : c;
		if (strchr(kmc_code_alphabet, c) == NULL || c == '\0' ||
		    n >= KMC_CODE_CHARS)
			return gp_err_set(GP_ERR_INVALID, "code: not an "
			    "enrolment code (24 letters and digits in groups "
			    "of four)");
		out[n++] = (char)c;
	}
	if (n != KMC_CODE_CHARS)
		return gp_err_set(GP_ERR_INVALID, "code: not an enrolment code "
		    "(24 letters and digits in groups of four)");
	out[n] = '\0';
	return 0;
}

static int
kmc_code_hash(const char *norm, uint8_t out[32])
{
	unsigned int len = 0;

	if (EVP_Digest(norm, strlen(norm), out, &len, EVP_sha256(), NULL) != 1 ||
	    len != 32)
		return gp_err_ssl(GP_ERR_CRYPTO, "SHA-256");
	return 0;
}

static void
kmc_iso(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
kmc_enrol_create(kmc *k, const struct ca_actor *who, const char *profile,
    json_t *subject, int64_t valid_s, struct kmc_code *out)
{
	struct store_enrolment e;
	struct audit_event ev;
	uint8_t rnd[KMC_CODE_CHARS], id[16];
	char norm[KMC_CODE_CHARS + 1], *subj = NULL, when[32];
	json_t *d = NULL;
	size_t i, o = 0;
	int64_t now = gp_now_ms();
	int r, in_tx = 0;

	memset(&e, 0, sizeof(e));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	ENSURE(k != NULL && who != NULL && out != NULL,
	    gp_err_set(GP_ERR_INVALID, "kmc_enrol_create: NULL argument"));
	if (valid_s == 0)
		valid_s = KMC_CODE_VALID_S;
	ENSURE(valid_s >= 1 && valid_s <= KMC_CODE_MAX_VALID_S,
	    gp_err_set(GP_ERR_INVALID, "valid_s: 1 to %d seconds",
	    KMC_CODE_MAX_VALID_S));
	GUARD(kmc_holder_of(k->ca, profile, subject, out->holder,
	    sizeof(out->holder)));
	GUARD(gp_random(id, sizeof(id)));
	kmc_hex(id, sizeof(id), out->id);
	GUARD(gp_random(rnd, sizeof(rnd)));
	for (i = 0; i < KMC_CODE_CHARS; i++) {
		norm[i] = kmc_code_alphabet[rnd[i] & 31];
		if (i > 0 && i % 4 == 0)
			out->code[o++] = '-';
		out->code[o++] = norm[i];
	}
	norm[KMC_CODE_CHARS] = '\0';
	out->code[o] = '\0';
	out->expires_ms = now + valid_s * 1000;
	GUARD(kmc_code_hash(norm, e.code_sha256));
	ENSURE((subj = json_dumps(subject, JSON_COMPACT | JSON_SORT_KEYS)) !=
	    NULL, GP_ERR_NOMEM);
	e.id = out->id;
	e.profile = (char *)profile;
	e.subject = subj;
	e.holder = out->holder;
	e.created_by = (char *)(who->actor != NULL ? who->actor : "unknown");
	e.created_ms = now;
	e.expires_ms = out->expires_ms;
	kmc_iso(out->expires_ms, when, sizeof(when));
	ENSURE((d = json_pack("{s:s, s:s, s:s, s:I}", "profile", profile,
	    "holder", out->holder, "expires", when, "valid_s",
	    (json_int_t)valid_s)) != NULL, GP_ERR_NOMEM);
	GUARD(store_begin(k->ca->st));
	in_tx = 1;
	GUARD(store_enrolment_insert(k->ca->st, &e));
	ca_event(&ev, who, "kmc.enrol.create", out->id, "success", d);
	GUARD(audit_append_tx(k->ca->audit, &ev, NULL));
	in_tx = 0;
	GUARD(store_commit(k->ca->st));
	r = 0;
out:
	if (in_tx)
		store_rollback(k->ca->st);
	if (r != 0 && k != NULL) {
		if (out != NULL)
			OPENSSL_cleanse(out, sizeof(*out));
		r = kmc_audit_fail(k, who, "kmc.enrol.create", profile, r,
		    NULL);
	}
	OPENSSL_cleanse(norm, sizeof(norm));
	OPENSSL_cleanse(rnd, sizeof(rnd));
	json_decref(d);
	free(subj);
	return r;
}

int
kmc_enrol_find(kmc *k, const char *code, struct store_enrolment *out)
{
	char norm[KMC_CODE_CHARS + 1], when[32];
	uint8_t h[32];
	int r;

	memset(out, 0, sizeof(*out));
	ENSURE(k != NULL, GP_ERR_INVALID);
	r = kmc_code_norm(code, norm);
	if (r != 0) {
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "%s", gp_err_detail());
		goto out;
	}
	GUARD(kmc_code_hash(norm, h));
	r = store_enrolment_by_code(k->ca->st, h, out);
	if (r == GP_ERR_NOT_FOUND) {
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "enrolment code: not "
		    "one this CA gave out");
		goto out;
	}
	GUARD(r);
	ENSURE(strcmp(out->status, "open") == 0, gp_err_set(
	    GP_ERR_UNAUTHENTICATED, "enrolment code: used already (enrolment "
	    "%s); ask the officer for a new one", out->id));
	kmc_iso(out->expires_ms, when, sizeof(when));
	ENSURE(out->expires_ms > gp_now_ms(), gp_err_set(
	    GP_ERR_UNAUTHENTICATED, "enrolment code: expired at %s (enrolment "
	    "%s); ask the officer for a new one", when, out->id));
	r = 0;
out:
	if (r != 0 && r != GP_ERR_UNAUTHENTICATED)
		store_enrolment_clear(out);
	OPENSSL_cleanse(norm, sizeof(norm));
	return r;
}
