/*
 * inst_audit.c: the audit log's anchors outside the database, for one
 * instance. instance_checkpoint() signs a checkpoint with the audit key and
 * time-stamps its signature with the instance's own TSA, in process
 * (tsa_stamp_digest: the same checks and clock guard as POST /tsa); the server
 * passes its TSA, a CLI run gets one made for the purpose. The
 * verification side (instance_audit_verify) checks the chain against a
 * trust anchor the caller chooses (the instance's root.pem or the
 * auditor's own copy) and each token with tsa_verify() under that anchor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "instance/instance.h"
#include "tsa/tsa.h"

int
instance_tsa_new(const struct instance *inst, tsa **out)
{
	struct tsa_opts o;
	X509 *chain[1];
	const char *hook = getenv(TSA_TEST_CLOCK_ENV);

	*out = NULL;
	memset(&o, 0, sizeof(o));
	if (inst->key[GP_KEY_TSA] == NULL || inst->cert[GP_KEY_TSA] == NULL)
		return gp_err_set(GP_ERR_LOGIN_REQUIRED, "tsa: the TSA key "
		    "and certificate are not loaded");
	chain[0] = inst->cert[GP_KEY_CA];
	o.cfg = inst->cfg;
	o.key = inst->key[GP_KEY_TSA];
	o.cert = inst->cert[GP_KEY_TSA];
	o.chain = chain;
	o.chain_len = chain[0] != NULL ? 1 : 0;
	o.st = inst->st;
	o.node = inst->node;
	o.test_clock = hook != NULL && hook[0] != '\0' ? hook : NULL;
	return tsa_new(&o, out);
}

/* The stamp callback of audit_checkpoint_stamped(): |t| or, made on first
 * use (only when a checkpoint is signed), |own|. */
struct inst_stamp {
	const struct instance *inst;
	tsa *t;
	tsa *own;
};

static int
inst_stamp(void *arg, const uint8_t *sig, size_t sig_len,
    struct audit_stamp *out)
{
	struct inst_stamp *s = arg;
	struct tsa_result res;
	uint8_t digest[32];
	unsigned int n = 0;
	int r;

	if (s->t == NULL) {
		GUARD(instance_tsa_new(s->inst, &s->own));
		s->t = s->own;
	}
	ENSURE(EVP_Digest(sig, sig_len, digest, &n, EVP_sha256(), NULL) &&
	    n == 32, gp_err_ssl(GP_ERR_CRYPTO, "SHA-256 of the checkpoint "
	    "signature"));
	memset(&res, 0, sizeof(res));
	GUARD(tsa_stamp_digest(s->t, digest, &out->tst, &out->tst_len, &res));
	snprintf(out->serial, sizeof(out->serial), "%s", res.serial);
	r = 0;
out:
	return r;
}

int
instance_checkpoint(struct instance *inst, tsa *t, int force)
{
	struct inst_stamp s;
	int r;

	if (inst == NULL || inst->audit == NULL ||
	    inst->key[GP_KEY_AUDIT] == NULL)
		return gp_err_set(GP_ERR_LOGIN_REQUIRED, "audit checkpoint: "
		    "the audit key is not loaded");
	if (!inst->audit_key_checked &&
	    (r = instance_audit_key_check(inst, 1)) != 0)
		return r;
	memset(&s, 0, sizeof(s));
	s.inst = inst;
	s.t = t;
	r = audit_checkpoint_stamped(inst->audit, inst->key[GP_KEY_AUDIT],
	    force, inst->key[GP_KEY_TSA] != NULL ? inst_stamp : NULL, &s);
	tsa_free(s.own);
	return r;
}

/* "YYYYMMDDHHMMSS[.fff...]Z" (RFC 3161 2.4.2 genTime) to Unix ms. */
static int
inst_gen_time_ms(const char *gt, int64_t *out)
{
	struct tm tm;
	int ms = 0, scale = 100, used = 0;
	const char *p;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(gt, "%4d%2d%2d%2d%2d%2d%n", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6 ||
	    used != 14)
		return gp_err_set(GP_ERR_INVALID, "genTime \"%s\": not "
		    "GeneralizedTime", gt);
	p = gt + 14;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			ms += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (strcmp(p, "Z") != 0)
		return gp_err_set(GP_ERR_INVALID, "genTime \"%s\": not UTC", gt);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*out = (int64_t)timegm(&tm) * 1000 + ms;
	return 0;
}

int
instance_tst_check(void *arg, const uint8_t *tst, size_t tst_len,
    const uint8_t *sig, size_t sig_len, int64_t *out_gen_ms)
{
	const struct instance_audit_trust *tr = arg;
	struct tsa_verify_in in;
	struct tsa_verify_out vo;
	uint8_t digest[32];
	unsigned int n = 0;
	int r;

	memset(&in, 0, sizeof(in));
	ENSURE(EVP_Digest(sig, sig_len, digest, &n, EVP_sha256(), NULL) &&
	    n == 32, gp_err_ssl(GP_ERR_CRYPTO, "SHA-256 of a checkpoint "
	    "signature"));
	in.reply_der = tst;
	in.reply_len = tst_len;
	in.digest = digest;
	in.digest_len = 32;
	in.trusted = tr->trusted;
	in.untrusted = tr->untrusted;
	GUARD(tsa_verify(&in, &vo));
	GUARD(inst_gen_time_ms(vo.gen_time, out_gen_ms));
	r = 0;
out:
	return r;
}

int
instance_audit_trust_init(struct instance_audit_trust *tr, X509 *root,
    X509 *intermediate)
{
	int r = GP_ERR_INTERNAL;

	memset(tr, 0, sizeof(tr[0]));
	ENSURE(root != NULL, gp_err_set(GP_ERR_INVALID, "audit trust: no "
	    "root certificate"));
	ENSURE((tr->trusted = sk_X509_new_null()) != NULL &&
	    (tr->untrusted = sk_X509_new_null()) != NULL &&
	    sk_X509_push(tr->trusted, root) > 0, GP_ERR_NOMEM);
	X509_up_ref(root);
	if (intermediate != NULL) {
		ENSURE(sk_X509_push(tr->untrusted, intermediate) > 0,
		    GP_ERR_NOMEM);
		X509_up_ref(intermediate);
	}
	tr->root = root;
	r = 0;
out:
	if (r != 0)
		instance_audit_trust_free(tr);
	return r;
}

void
instance_audit_trust_free(struct instance_audit_trust *tr)
{
	if (tr == NULL)
		return;
	sk_X509_pop_free(tr->trusted, X509_free);
	sk_X509_pop_free(tr->untrusted, X509_free);
	memset(tr, 0, sizeof(*tr));
}

int
instance_audit_verify_store(store *st, X509 *root, X509 *ca,
    struct audit_report *rep)
{
	struct instance_audit_trust tr;
	struct audit_verify_opts o;
	int r;

	memset(&o, 0, sizeof(o));
	GUARD(instance_audit_trust_init(&tr, root, ca));
	o.root = root;
	o.tst_check = instance_tst_check;
	o.tst_arg = &tr;
	r = audit_verify(st, &o, rep);
	instance_audit_trust_free(&tr);
out:
	return r;
}

int
instance_audit_verify(struct instance *inst, X509 *root,
    struct audit_report *rep)
{
	return instance_audit_verify_store(inst->st, root,
	    inst->cert[GP_KEY_CA], rep);
}
