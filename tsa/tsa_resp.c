/*
 * tsa_resp.c: answering one TimeStampReq. The request is parsed and every
 * RFC 3161 rule is checked here first, so that each refusal carries the
 * failure info this file chose (and quotes the clause for); only a request
 * that passed gets a token, written by tsa_tok_build() (tsa_tok.c) from
 * pieces encoded once at tsa_new(), with our serial and our guarded clock.
 * Nothing here is shared between requests but the clock guard, so any
 * number of threads answer at once. The TSA key signs through EVP, so it
 * may live on a token.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "tsa/internal.h"

static void
tsa_hex_into(char *out, size_t len, const uint8_t *s, size_t n);

/*
 * RFC 3161 2.4.2: "serialNumber is an integer assigned by the TSA to each
 * TimeStampToken. It MUST be unique for each TimeStampToken issued by a
 * given TSA (i.e., the TSA name and serial number identify a unique
 * TimeStampToken)." and "TSA users MUST be ready to accommodate integers
 * up to 160 bits."
 *
 * 127 random bits from the CSPRNG (the top bit cleared keeps the INTEGER
 * positive in 16 bytes): unique across restarts and across any number of
 * instances sharing the key, with no counter to persist, lock or lose. A
 * duplicate among 10^12 tokens has probability about 10^24 / 2^128, 3e-15.
 * No UNIQUE index enforces it: that would put one more write per token on
 * the store; each serial is in the token's audit record, so a duplicate
 * would be visible to an auditor.
 */
static int
tsa_serial_new(uint8_t out[16], char *hex, size_t hex_len)
{
	int r;

	if ((r = gp_random(out, 16)) != 0)
		return r;
	out[0] &= 0x7f;
	if (out[0] == 0)
		out[0] = 0x01; /* keep 16 bytes: no leading zero byte */
	tsa_hex_into(hex, hex_len, out, 16);
	return 0;
}

void
tsa_free(tsa *t)
{
	size_t i;

	if (t == NULL)
		return;
	tsa_tok_free(t);
	for (i = 0; i < t->policy_len; i++)
		ASN1_OBJECT_free(t->policy[i]);
	EVP_PKEY_free(t->key);
	X509_free(t->cert);
	sk_X509_pop_free(t->chain, X509_free);
	pthread_mutex_destroy(&t->clock_mu);
	pthread_mutex_destroy(&t->bound_mu);
	free(t);
}

static int
tsa_policy_add(tsa *t, const char *field, const char *oid)
{
	if (t->policy_len >= TSA_MAX_POLICIES)
		return gp_err_set(GP_ERR_CONFIG, "%s: too many policies",
		    field);
	if ((t->policy[t->policy_len] = OBJ_txt2obj(oid, 1)) == NULL)
		return gp_err_ssl(GP_ERR_CONFIG, "%s: \"%s\" is not an OID",
		    field, oid);
	t->policy_len++;
	return 0;
}

int
tsa_new(const struct tsa_opts *o, tsa **out)
{
	int r = GP_ERR_INTERNAL, mu = 0;
	const struct gp_config *cfg;
	tsa *t = NULL;
	size_t i;
	uint32_t xku;

	*out = NULL;
	ENSURE(o != NULL && o->cfg != NULL && o->key != NULL && o->cert != NULL,
	    gp_err_set(GP_ERR_INVALID, "tsa_new: configuration, key and "
	    "certificate are required"));
	cfg = o->cfg;
	ENSURE((t = calloc(1, sizeof(*t))) != NULL, GP_ERR_NOMEM);
	ENSURE(pthread_mutex_init(&t->clock_mu, NULL) == 0, GP_ERR_INTERNAL);
	if (pthread_mutex_init(&t->bound_mu, NULL) != 0) {
		pthread_mutex_destroy(&t->clock_mu);
		r = GP_ERR_INTERNAL;
		goto out;
	}
	mu = 1;
	t->cfg = cfg;
	t->st = o->st;
	if (o->node != NULL)
		snprintf(t->bound_key, sizeof(t->bound_key), "%s/%.63s",
		    TSA_META_LAST, o->node);
	else
		snprintf(t->bound_key, sizeof(t->bound_key), "%s",
		    TSA_META_LAST);
	/* RFC 3161 2.3: "The corresponding certificate MUST contain only one
	 * instance of the extended key usage field extension ... with
	 * KeyPurposeID having value: id-kp-timeStamping. This extension
	 * MUST be critical." */
	xku = X509_get_extended_key_usage(o->cert);
	ENSURE(X509_check_purpose(o->cert, X509_PURPOSE_TIMESTAMP_SIGN, 0) ==
	    1 && xku == XKU_TIMESTAMP, gp_err_set(GP_ERR_INVALID,
	    "TSA certificate: it must carry exactly one extended key usage, "
	    "id-kp-timeStamping, marked critical"));
	ENSURE(X509_check_private_key(o->cert, o->key) == 1,
	    gp_err_ssl(GP_ERR_INVALID, "TSA certificate: it does not match "
	    "the TSA key (keys.tsa)"));
	ENSURE(EVP_PKEY_up_ref(o->key) == 1, GP_ERR_INTERNAL);
	t->key = o->key;
	ENSURE(X509_up_ref(o->cert) == 1, GP_ERR_INTERNAL);
	t->cert = o->cert;
	ENSURE((t->chain = sk_X509_new_null()) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < o->chain_len; i++) {
		ENSURE(o->chain[i] != NULL && X509_up_ref(o->chain[i]) == 1,
		    GP_ERR_INVALID);
		if (sk_X509_push(t->chain, o->chain[i]) <= 0) {
			X509_free(o->chain[i]);
			r = GP_ERR_NOMEM;
			goto out;
		}
	}
	t->sign_md = EVP_PKEY_get_bits(t->key) >= 384 &&
	    EVP_PKEY_is_a(t->key, "EC") ? EVP_sha384() : EVP_sha256();
	GUARD(tsa_policy_add(t, "tsa.policy", cfg->tsa_policy));
	for (i = 0; i < cfg->tsa_policies_len; i++)
		GUARD(tsa_policy_add(t, "tsa.policies", cfg->tsa_policies[i]));
	t->max_request = (size_t)cfg->tsa_max_request_bytes;
	t->warn_mode = cfg->tsa_clock_check != NULL &&
	    strcmp(cfg->tsa_clock_check, "warn") == 0;
	t->accuracy_us = cfg->tsa_accuracy_s * 1000000 +
	    cfg->tsa_accuracy_ms * 1000 + cfg->tsa_accuracy_us;
	ENSURE(t->accuracy_us > 0, gp_err_set(GP_ERR_CONFIG,
	    "tsa.accuracy: must not be zero"));
	GUARD(tsa_tok_init(t));
	GUARD(tsa_clock_init(t, o->test_clock));
	if (t->warn_mode)
		gp_log(GP_LOG_WARN, "tsa: tsa.clock_check is \"warn\": "
		    "time-stamps are issued even when the kernel reports the "
		    "clock unsynchronised; production uses \"strict\"");
	*out = t;
	t = NULL; /* transferred */
	r = 0;
out:
	if (t != NULL && !mu) {
		free(t);
		t = NULL;
	}
	tsa_free(t);
	return r;
}

/* The answer once a check refused: a rejection with |bit| and |why|. */
static int
tsa_refuse(struct tsa_result *res, int bit, const char *why,
    uint8_t **out_der, size_t *out_len)
{
	res->granted = 0;
	res->fail_bit = bit;
	snprintf(res->reason, sizeof(res->reason), "%s", why);
	return tsa_reject(bit, why, out_der, out_len);
}

/* Sets |out| to the hex of |s|. */
static void
tsa_hex_into(char *out, size_t len, const uint8_t *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	out[0] = '\0';
	for (i = 0; i < n && 2 * i + 2 < len; i++) {
		out[2 * i] = hex[s[i] >> 4];
		out[2 * i + 1] = hex[s[i] & 0xf];
		out[2 * i + 2] = '\0';
	}
}

/* The hash algorithms a TSA accepts: SHA-2 always, SHA-1 only when
 * configured (it no longer resists collisions). */
static const EVP_MD *
tsa_md_allowed(const tsa *t, int nid)
{
	switch (nid) {
	case NID_sha256:
		return EVP_sha256();
	case NID_sha384:
		return EVP_sha384();
	case NID_sha512:
		return EVP_sha512();
	case NID_sha1:
		return t->cfg->tsa_allow_sha1 ? EVP_sha1() : NULL;
	default:
		return NULL;
	}
}

/* Checks |req| (already parsed, all input consumed). Returns -1 when it
 * passes, with *out_policy the index of the token's policy, else the
 * failure bit with |why| set. Fills what it read into |res|. */
static int
tsa_check(const tsa *t, TS_REQ *req, struct tsa_result *res,
    size_t *out_policy, char *why, size_t why_len)
{
	TS_MSG_IMPRINT *mi;
	X509_ALGOR *alg;
	const ASN1_OBJECT *aobj = NULL;
	const void *pval = NULL;
	const ASN1_OCTET_STRING *msg;
	const ASN1_OBJECT *pol;
	const EVP_MD *md;
	char oid[96];
	int ptype = 0, nid;
	size_t i;

	/* RFC 3161 2.4.1: version INTEGER { v1(1) } */
	if (TS_REQ_get_version(req) != 1) {
		snprintf(why, why_len, "version must be 1");
		return TSA_FAIL_BAD_DATA_FORMAT;
	}
	mi = TS_REQ_get_msg_imprint(req);
	alg = mi != NULL ? TS_MSG_IMPRINT_get_algo(mi) : NULL;
	msg = mi != NULL ? TS_MSG_IMPRINT_get_msg(mi) : NULL;
	if (alg == NULL || msg == NULL) {
		snprintf(why, why_len, "messageImprint missing");
		return TSA_FAIL_BAD_DATA_FORMAT;
	}
	X509_ALGOR_get0(&aobj, &ptype, &pval, alg);
	nid = OBJ_obj2nid(aobj);
	/* RFC 3161 2.4.2: badAlg, "unrecognized or unsupported Algorithm
	 * Identifier". */
	if ((md = tsa_md_allowed(t, nid)) == NULL) {
		OBJ_obj2txt(oid, sizeof(oid), aobj, 1);
		snprintf(why, why_len, "hash algorithm %s not accepted%s", oid,
		    nid == NID_sha1 ? " (SHA-1 is not allowed)" : "");
		return TSA_FAIL_BAD_ALG;
	}
	snprintf(res->md, sizeof(res->md), "%s", OBJ_nid2ln(nid));
	/* RFC 5754 2: SHA-2 parameters are absent (or NULL, accepted). */
	if (ptype != V_ASN1_UNDEF && ptype != V_ASN1_NULL) {
		snprintf(why, why_len, "hash algorithm parameters must be "
		    "absent");
		return TSA_FAIL_BAD_ALG;
	}
	/* RFC 3161 2.4.1: "The hash algorithm indicated in the hashAlgorithm
	 * field SHOULD be a known hash algorithm ... The length of the hash
	 * value MUST match the length of the hash algorithm identified". */
	if ((size_t)ASN1_STRING_length(msg) != (size_t)EVP_MD_get_size(md)) {
		snprintf(why, why_len, "imprint of %d bytes for %s (want %d)",
		    ASN1_STRING_length(msg), res->md, EVP_MD_get_size(md));
		return TSA_FAIL_BAD_DATA_FORMAT;
	}
	tsa_hex_into(res->imprint, sizeof(res->imprint),
	    ASN1_STRING_get0_data(msg), (size_t)ASN1_STRING_length(msg));
	/* RFC 3161 2.4.2 unacceptedPolicy: "the requested TSA policy is not
	 * supported by the TSA". */
	pol = TS_REQ_get_policy_id(req);
	i = 0;
	if (pol != NULL) {
		for (i = 0; i < t->policy_len; i++) {
			if (OBJ_cmp(pol, t->policy[i]) == 0)
				break;
		}
		if (i == t->policy_len) {
			OBJ_obj2txt(oid, sizeof(oid), pol, 1);
			snprintf(why, why_len, "policy %s not accepted", oid);
			return TSA_FAIL_UNACCEPTED_POLICY;
		}
	}
	snprintf(res->policy, sizeof(res->policy), "%s",
	    t->tok.policy_txt[i]);
	*out_policy = i;
	/* RFC 3161 2.4.1: extensions this TSA does not recognise are
	 * refused with unacceptedExtension; it recognises none. */
	if (TS_REQ_get_exts(req) != NULL &&
	    sk_X509_EXTENSION_num(TS_REQ_get_exts(req)) > 0) {
		snprintf(why, why_len, "request extensions are not supported");
		return TSA_FAIL_UNACCEPTED_EXTENSION;
	}
	return -1;
}

int
tsa_respond(tsa *t, const uint8_t *req, size_t req_len, uint8_t **out_der,
    size_t *out_len, struct tsa_result *res)
{
	int r = GP_ERR_INTERNAL, bit, n;
	const unsigned char *p = req;
	TS_REQ *treq = NULL;
	struct tsa_tok_in in;
	unsigned char *imprint = NULL, *nonce = NULL;
	char why[160];
	enum tsa_clock c;

	*out_der = NULL;
	*out_len = 0;
	memset(res, 0, sizeof(*res));
	res->fail_bit = -1;
	memset(&in, 0, sizeof(in));
	ENSURE(t != NULL && (req != NULL || req_len == 0), GP_ERR_INVALID);

	/* The cap comes before any parsing: a TimeStampReq is a few hundred
	 * bytes. RFC 3161 2.4.2 badRequest: "transaction not permitted or
	 * supported". */
	if (req_len > t->max_request) {
		snprintf(why, sizeof(why), "request over %zu bytes",
		    t->max_request);
		r = tsa_refuse(res, TSA_FAIL_BAD_REQUEST, why, out_der,
		    out_len);
		goto out;
	}
	/* RFC 3161 2.4.2 badDataFormat: "the data submitted has the wrong
	 * format": not DER of a TimeStampReq, or bytes after it. */
	if (req_len == 0 || req_len > LONG_MAX ||
	    (treq = d2i_TS_REQ(NULL, &p, (long)req_len)) == NULL ||
	    p != req + req_len) {
		ERR_clear_error();
		r = tsa_refuse(res, TSA_FAIL_BAD_DATA_FORMAT, treq == NULL ?
		    "not a DER TimeStampReq" : "bytes after the TimeStampReq",
		    out_der, out_len);
		goto out;
	}
	if ((bit = tsa_check(t, treq, res, &in.policy, why,
	    sizeof(why))) >= 0) {
		r = tsa_refuse(res, bit, why, out_der, out_len);
		goto out;
	}
	/* RFC 3161 2.4.2 messageImprint: "MUST have the same value as the
	 * similar field in TimeStampReq"; re-encoded from what was parsed,
	 * so the token is DER whatever encoding the request used. nonce:
	 * "MUST be present if the nonce field was present in the
	 * TimeStampReq", with its value. */
	n = i2d_TS_MSG_IMPRINT(TS_REQ_get_msg_imprint(treq), &imprint);
	ENSURE(n > 0, gp_err_ssl(GP_ERR_CRYPTO, "tsa: the messageImprint"));
	in.imprint = imprint;
	in.imprint_len = (size_t)n;
	if (TS_REQ_get_nonce(treq) != NULL) {
		n = i2d_ASN1_INTEGER(TS_REQ_get_nonce(treq), &nonce);
		ENSURE(n > 0, gp_err_ssl(GP_ERR_CRYPTO, "tsa: the nonce"));
		in.nonce = nonce;
		in.nonce_len = (size_t)n;
	}
	/* RFC 3161 2.4.1 certReq: "If the certReq field is present and set to
	 * true, the TSA's public key certificate ... MUST be provided"; when
	 * false or absent, none is. */
	in.cert_req = TS_REQ_get_cert_req(treq) != 0;
	/* ETSI EN 319 421: no time-stamp outside the declared accuracy.
	 * RFC 3161 2.4.2 timeNotAvailable: "the TSA's time source is not
	 * available". */
	c = tsa_clock_take(t, &in.gen_us, why, sizeof(why));
	if (c != TSA_CLOCK_OK) {
		r = tsa_refuse(res, c == TSA_CLOCK_UNSTORED ?
		    TSA_FAIL_SYSTEM_FAILURE : TSA_FAIL_TIME_NOT_AVAILABLE, why,
		    out_der, out_len);
		goto out;
	}
	if (tsa_serial_new(in.serial, res->serial, sizeof(res->serial)) != 0 ||
	    tsa_tok_build(t, &in, out_der, out_len) != 0) {
		/* Our checks passed, so this is the signature or the system
		 * (a token that stopped answering): systemFailure. */
		gp_log(GP_LOG_ERROR, "tsa: creating the time-stamp failed: "
		    "%s", gp_err_detail());
		ERR_clear_error();
		res->serial[0] = '\0';
		r = tsa_refuse(res, TSA_FAIL_SYSTEM_FAILURE,
		    "the time-stamp could not be created", out_der, out_len);
		goto out;
	}
	res->granted = 1;
	res->gen_time_ms = in.gen_us / 1000;
	tsa_clock_persist(t);
	r = 0;
out:
	OPENSSL_free(nonce);
	OPENSSL_free(imprint);
	TS_REQ_free(treq);
	return r;
}
