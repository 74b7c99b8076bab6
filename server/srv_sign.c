/*
 * srv_sign.c: server seals and public verification (signer/signer.h).
 *
 * POST /api/v1/sign (admin listener): a department's or platform's system,
 * authenticated by its client certificate, seals a document with one of
 * the seal keys configured in govpki.json "seals". The seal policy decides
 * who may use which key: a caller may use seal S when its role is in
 * S.roles or its certificate serial in S.serials (default: the seal
 * "seal", made by `govpki init`, for the officer role). The route admits
 * officers only (sealing is acting; the configuration refuses a seal for
 * any other role), and the seal policy narrows it per seal; a refusal is
 * 403 with an audit record. The body carries the document or only its SHA-256 digest
 * (so a large file never travels):
 *   {"seal":"seal", "digest":"<hex>" | "document":"<base64>",
 *    "attached":false, "timestamp":false, "step":"...",
 *    "add_to":"<base64 SignedData>", "policy":"<approval policy>",
 *    "chain":true}
 * and the reply is {"signature":"<base64 DER>", "level", ...}. Every field
 * has one type; a wrong one, an unknown field, or document and digest
 * together is 400 naming the field. The seal's chain up to, not
 * including, the root goes into the SignedData unless "chain" is false. With
 * "timestamp", the instance's own TSA stamps the signature in process
 * (B-T). Every seal, made or refused, is audited ("sig.seal") before the
 * signature is returned; a seal whose record fails is not returned.
 *
 * POST /api/v1/verify (public listener): {"signature":"<base64>",
 * "document":"<base64>" | "digest":"<hex>", "digest_alg":"sha256",
 * "policy":"..."}; the reply is the verification report (200 whether the
 * signature is valid or not; 400 when the input is not a signature).
 * Trust: the instance root; status: the instance's store, and with
 * verify.fetch_revocation OCSP or CRLs fetched for other CAs'
 * certificates, only once their path verified (never a URL from an
 * untrusted certificate) and only from verify.fetch_allow; the caller is
 * anonymous, so why a fetch failed is logged, not answered.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "server/internal.h"
#include "signer/signer.h"

#define SRV_SIGN_MAX_POLICIES 16

struct srv_seal {
	const struct gp_seal *conf;
	EVP_PKEY *key;
	X509 *cert;
	STACK_OF(X509) *chain;      /* its CAs up to, not including, the
	                             * root: sent with every seal */
};

struct srv_signer {
	struct srv_seal *seals;
	size_t seals_len;
	STACK_OF(X509) *pool;       /* the instance's CAs */
	STACK_OF(X509) *anchors;    /* root */
	STACK_OF(X509) *untrusted;  /* issuing CA and TSA */
	/* Approval policies, loaded on first use and kept. */
	pthread_mutex_t mu;
	struct sig_policy *policies[SRV_SIGN_MAX_POLICIES];
	size_t policies_len;
};

static int
srv_sign_pem(const char *path, X509 **out)
{
	uint8_t *buf = NULL;
	size_t len;
	BIO *bio = NULL;
	int r;

	*out = NULL;
	GUARD(gp_file_read(path, SRV_MAX_PEM, &buf, &len));
	ENSURE((bio = BIO_new_mem_buf(buf, (int)len)) != NULL, GP_ERR_NOMEM);
	ENSURE((*out = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL,
	    gp_err_ssl(GP_ERR_CONFIG, "%s: no PEM certificate", path));
	r = 0;
out:
	BIO_free(bio);
	free(buf);
	return r;
}

void
srv_sign_free(struct srv *s)
{
	struct srv_signer *g = s->signer;
	size_t i;

	if (g == NULL)
		return;
	for (i = 0; i < g->seals_len; i++) {
		EVP_PKEY_free(g->seals[i].key);
		X509_free(g->seals[i].cert);
		sk_X509_pop_free(g->seals[i].chain, X509_free);
	}
	free(g->seals);
	for (i = 0; i < g->policies_len; i++)
		sig_policy_free(g->policies[i]);
	sk_X509_pop_free(g->pool, X509_free);
	sk_X509_pop_free(g->anchors, X509_free);
	sk_X509_pop_free(g->untrusted, X509_free);
	pthread_mutex_destroy(&g->mu);
	free(g);
	s->signer = NULL;
}

static int
srv_push(STACK_OF(X509) *sk, X509 *x)
{
	if (x == NULL)
		return 0;
	if (!X509_up_ref(x))
		return GP_ERR_INTERNAL;
	if (!sk_X509_push(sk, x)) {
		X509_free(x);
		return GP_ERR_NOMEM;
	}
	return 0;
}

int
srv_sign_init(struct srv *s)
{
	struct instance *inst = s->inst;
	const struct gp_config *cfg = inst->cfg;
	struct srv_signer *g;
	size_t i;
	int r;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return GP_ERR_NOMEM;
	pthread_mutex_init(&g->mu, NULL);
	s->signer = g;
	ENSURE((g->pool = sk_X509_new_null()) != NULL &&
	    (g->anchors = sk_X509_new_null()) != NULL &&
	    (g->untrusted = sk_X509_new_null()) != NULL, GP_ERR_NOMEM);
	GUARD(srv_push(g->pool, inst->cert[GP_KEY_CA]));
	GUARD(srv_push(g->pool, inst->cert[GP_KEY_ROOT]));
	GUARD(srv_push(g->anchors, inst->cert[GP_KEY_ROOT]));
	GUARD(srv_push(g->untrusted, inst->cert[GP_KEY_CA]));
	GUARD(srv_push(g->untrusted, inst->cert[GP_KEY_TSA]));
	if (cfg->seals_len == 0) {
		r = 0;
		goto out;
	}
	ENSURE((g->seals = calloc(cfg->seals_len, sizeof(*g->seals))) !=
	    NULL, GP_ERR_NOMEM);
	for (i = 0; i < cfg->seals_len; i++) {
		struct srv_seal *sl = &g->seals[i];

		g->seals_len = i + 1;
		sl->conf = &cfg->seals[i];
		r = tok_key_load(inst->tok, sl->conf->key_uri, &sl->key);
		if (r != 0) {
			r = gp_err_set(r, "seal %s: key %s: %s", sl->conf->name,
			    sl->conf->key_uri, gp_err_detail());
			goto out;
		}
		GUARD(srv_sign_pem(sl->conf->cert, &sl->cert));
		ENSURE(X509_check_private_key(sl->cert, sl->key),
		    gp_err_ssl(GP_ERR_CONFIG, "seal %s: %s does not belong to "
		    "its key", sl->conf->name, sl->conf->cert));
		/* A relying party holding only the root must be able to
		 * verify a seal: its chain goes with it. */
		r = sig_chain_build(sl->cert, g->pool, &sl->chain);
		if (r == GP_ERR_NOT_FOUND)
			r = gp_err_set(GP_ERR_CONFIG, "seal %s: %s: its issuer "
			    "is neither the instance's root nor its issuing "
			    "CA, so no chain can go with its seals",
			    sl->conf->name, sl->conf->cert);
		GUARD(r);
	}
	r = 0;
out:
	return r;
}

/* An approval policy by name, loaded once from profiles_dir/approvals. */
static int
srv_sign_policy(struct srv *s, const char *name,
    const struct sig_policy **out)
{
	struct srv_signer *g = s->signer;
	struct sig_policy *p = NULL;
	size_t i;
	int r;

	*out = NULL;
	ENSURE(strchr(name, '/') == NULL && strchr(name, '.') == NULL,
	    gp_err_set(GP_ERR_INVALID, "policy: a name, not a path"));
	pthread_mutex_lock(&g->mu);
	for (i = 0; i < g->policies_len; i++) {
		if (strcmp(sig_policy_name(g->policies[i]), name) == 0)
			*out = g->policies[i];
	}
	if (*out == NULL) {
		r = sig_policy_load(s->inst->cfg->profiles_dir, name, &p);
		if (r == 0 && g->policies_len < SRV_SIGN_MAX_POLICIES &&
		    strcmp(sig_policy_name(p), name) == 0) {
			g->policies[g->policies_len++] = p;
			*out = p;
			p = NULL; /* transferred */
		} else if (r == 0) {
			r = gp_err_set(GP_ERR_CONFIG, "policy %s: its file "
			    "names it \"%s\", or too many policies", name,
			    sig_policy_name(p));
		}
	} else {
		r = 0;
	}
	pthread_mutex_unlock(&g->mu);
	GUARD(r);
	r = 0;
out:
	sig_policy_free(p);
	return r;
}

static int
srv_hex_decode(const char *field, const char *hex, uint8_t *out,
    size_t want)
{
	size_t i;
	unsigned int b;

	if (hex == NULL || strlen(hex) != want * 2)
		return gp_err_set(GP_ERR_INVALID, "%s: %zu hex digits expected",
		    field, want * 2);
	for (i = 0; i < want; i++) {
		if (sscanf(hex + 2 * i, "%2x", &b) != 1 ||
		    !strchr("0123456789abcdefABCDEF", hex[2 * i]) ||
		    !strchr("0123456789abcdefABCDEF", hex[2 * i + 1]))
			return gp_err_set(GP_ERR_INVALID, "%s: not hex", field);
		out[i] = (uint8_t)b;
	}
	return 0;
}

static int
srv_sign_body(struct srv_req *rq, const char *const *known, json_t **out)
{
	const char *key;
	json_t *v;
	json_error_t jerr;
	size_t i;

	*out = NULL;
	if (rq->body == NULL || rq->body_len == 0)
		return gp_err_set(GP_ERR_INVALID, "body: a JSON object is "
		    "required");
	*out = json_loadb((const char *)rq->body, rq->body_len,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (*out == NULL)
		return gp_err_set(GP_ERR_INVALID, "body: not JSON (line %d: "
		    "%s)", jerr.line, jerr.text);
	if (!json_is_object(*out))
		return gp_err_set(GP_ERR_INVALID, "body: must be a JSON "
		    "object");
	json_object_foreach(*out, key, v) {
		for (i = 0; known[i] != NULL; i++) {
			if (strcmp(known[i], key) == 0)
				break;
		}
		if (known[i] == NULL)
			return gp_err_set(GP_ERR_INVALID, "%.64s: unknown "
			    "field", key);
	}
	return 0;
}

/* Field |k| of the request: *out NULL when absent (or null), the string
 * otherwise; any other JSON type is 400 naming the field. */
static int
srv_jstr(json_t *o, const char *k, const char **out)
{
	json_t *v = json_object_get(o, k);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return gp_err_set(GP_ERR_INVALID, "%s: must be a string", k);
	*out = json_string_value(v);
	return 0;
}

/* Field |k|: |dflt| when absent (or null), else true or false; any other
 * JSON type ("yes", 1) is 400 naming the field. */
static int
srv_jbool(json_t *o, const char *k, int dflt, int *out)
{
	json_t *v = json_object_get(o, k);

	*out = dflt;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return gp_err_set(GP_ERR_INVALID, "%s: must be true or false",
		    k);
	*out = json_is_true(v);
	return 0;
}

/* In-process B-T: the instance's TSA answers the request. */
static int
srv_sign_tsa(void *arg, const uint8_t *req, size_t req_len,
    uint8_t **out, size_t *out_len)
{
	struct srv *s = arg;
	struct tsa_result res;
	int r;

	if (s->tsa == NULL)
		return gp_err_set(GP_ERR_UNSUPPORTED, "timestamp: the TSA is "
		    "not running");
	r = tsa_respond(s->tsa, req, req_len, out, out_len, &res);
	if (r == 0 && !res.granted) {
		OPENSSL_free(*out);
		*out = NULL;
		return gp_err_set(GP_ERR_BUSY, "timestamp: the TSA refused: "
		    "%s", res.reason);
	}
	return r;
}

/* 1 when |who| may use |sl|. */
static int
srv_seal_allowed(const struct srv_seal *sl, const struct srv_ident *who)
{
	size_t i;

	for (i = 0; i < sl->conf->roles_len; i++) {
		if (strcmp(sl->conf->roles[i], who->role) == 0)
			return 1;
	}
	for (i = 0; i < sl->conf->serials_len; i++) {
		if (strcmp(sl->conf->serials[i], who->serial) == 0)
			return 1;
	}
	return 0;
}

int
srv_h_sign(struct srv_req *rq, const char *url)
{
	static const char *const known[] = {"seal", "digest", "document",
	    "attached", "timestamp", "step", "add_to", "policy", "chain",
	    NULL};
	struct srv_signer *g = rq->srv->signer;
	const struct srv_seal *sl = NULL;
	const struct sig_policy *pol = NULL;
	struct sig_signer sg;
	struct sig_sign_req sr;
	struct sig_sign_info info;
	struct sig_tsa ts;
	json_t *body = NULL, *details = NULL;
	const char *name, *doc, *dig, *add, *pname, *step;
	uint8_t digest[32], *content = NULL, *add_der = NULL, *der = NULL;
	size_t content_len = 0, add_len = 0, der_len = 0, i;
	char *b64 = NULL, *hex = NULL;
	int r, attached, stamp, chain;

	memset(&sr, 0, sizeof(sr));
	GUARD(srv_sign_body(rq, known, &body));
	/* Every field is checked before anything is used: a wrong type
	 * ("timestamp":"yes") is 400 naming it, never silently ignored. */
	GUARD(srv_jstr(body, "seal", &name));
	GUARD(srv_jstr(body, "document", &doc));
	GUARD(srv_jstr(body, "digest", &dig));
	GUARD(srv_jstr(body, "add_to", &add));
	GUARD(srv_jstr(body, "step", &step));
	GUARD(srv_jstr(body, "policy", &pname));
	GUARD(srv_jbool(body, "attached", 0, &attached));
	GUARD(srv_jbool(body, "timestamp", 0, &stamp));
	GUARD(srv_jbool(body, "chain", 1, &chain));
	ENSURE(name != NULL, gp_err_set(GP_ERR_INVALID, "seal: required (a "
	    "seal name of govpki.json \"seals\")"));
	ENSURE(doc == NULL || dig == NULL, gp_err_set(GP_ERR_INVALID,
	    "document, digest: give one of them, not both"));
	for (i = 0; g != NULL && i < g->seals_len; i++) {
		if (strcmp(g->seals[i].conf->name, name) == 0)
			sl = &g->seals[i];
	}
	ENSURE(sl != NULL, gp_err_set(GP_ERR_NOT_FOUND, "seal %.64s: no such "
	    "seal", name));
	if (!srv_seal_allowed(sl, rq->who)) {
		details = json_pack("{s:s}", "reason", "not allowed by the "
		    "seal policy");
		if (srv_audit(rq, "sig.seal", sl->conf->name, "denied",
		    details) != 0)
			gp_log(GP_LOG_ERROR, "sig.seal: audit failed");
		r = gp_err_set(GP_ERR_DENIED, "seal %s: the seal policy does "
		    "not allow this caller (role %s, serial %s)",
		    sl->conf->name, rq->who->role, rq->who->serial);
		goto out;
	}
	if (doc != NULL) {
		GUARD(sig_b64_decode("document", doc, (size_t)
		    rq->srv->inst->cfg->max_body_bytes, &content,
		    &content_len));
		sr.content = content;
		sr.content_len = content_len;
		ENSURE(EVP_Digest(content, content_len, digest, NULL,
		    EVP_sha256(), NULL), GP_ERR_CRYPTO);
	} else {
		GUARD(srv_hex_decode("digest", dig, digest, sizeof(digest)));
		sr.digest = digest;
		sr.digest_len = sizeof(digest);
	}
	sr.attached = attached;
	ENSURE(!sr.attached || doc != NULL, gp_err_set(GP_ERR_INVALID,
	    "attached: needs the document, not its digest"));
	if (add != NULL) {
		GUARD(sig_b64_decode("add_to", add, SIG_MAX_P7S, &add_der,
		    &add_len));
		sr.add_to = add_der;
		sr.add_to_len = add_len;
	}
	sr.step = step;
	if (pname != NULL)
		GUARD(srv_sign_policy(rq->srv, pname, &pol));
	sr.policy = pol;
	if (stamp) {
		memset(&ts, 0, sizeof(ts));
		ts.fn = srv_sign_tsa;
		ts.arg = rq->srv;
		sr.tsa = &ts;
	}
	sg.key = sl->key;
	sg.cert = sl->cert;
	sg.chain = chain ? sl->chain : NULL;
	sr.signer = &sg;
	r = sig_sign(&sr, &der, &der_len, &info);
	ENSURE((hex = gp_hex(digest, sizeof(digest))) != NULL, GP_ERR_NOMEM);
	if (r != 0) {
		char why[512];

		snprintf(why, sizeof(why), "%s", gp_err_detail());
		details = json_pack("{s:s, s:s}", "digest", hex, "error", why);
		if (srv_audit(rq, "sig.seal", sl->conf->name, "failure",
		    details) != 0)
			gp_log(GP_LOG_ERROR, "sig.seal: audit failed");
		gp_err_set(r, "%s", why);
		goto out;
	}
	srv_metrics_signature(sl->conf->name);
	details = json_pack("{s:s, s:s, s:s, s:s?, s:I}", "digest", hex,
	    "level", info.level, "signer_serial", info.signer_serial, "step",
	    sr.step, "signers", (json_int_t)info.signers);
	if (details != NULL && info.ts_serial[0] != '\0')
		json_object_set_new(details, "ts_serial",
		    json_string(info.ts_serial));
	ENSURE((b64 = sig_b64_encode(der, der_len)) != NULL, GP_ERR_NOMEM);
	GUARD(srv_reply_json(rq, 200, json_pack("{s:s, s:s, s:s, s:s, s:I}",
	    "signature", b64, "seal", sl->conf->name, "level", info.level,
	    "signer_serial", info.signer_serial, "signers",
	    (json_int_t)info.signers)));
	/* The seal is returned only once its record is durable; until then
	 * the connection waits without holding a worker thread, and if the
	 * record fails the seal is dropped for a 500. */
	r = srv_audit_hold(rq, "sig.seal", sl->conf->name, "success", details,
	    NULL);
out:
	json_decref(details);
	json_decref(body);
	OPENSSL_free(der);
	free(content);
	free(add_der);
	free(b64);
	free(hex);
	return r;
}

int
srv_h_verify(struct srv_req *rq, const char *url)
{
	static const char *const known[] = {"signature", "document",
	    "digest", "digest_alg", "policy", NULL};
	struct srv_signer *g = rq->srv->signer;
	const struct sig_policy *pol = NULL;
	struct sig_trust tr;
	struct sig_verify_req vr;
	json_t *body = NULL, *rep = NULL;
	const char *sig, *doc, *dig, *pname, *alg;
	uint8_t *p7s = NULL, *content = NULL, digest[EVP_MAX_MD_SIZE];
	size_t p7s_len = 0, content_len = 0;
	int r, valid = 0;

	memset(&tr, 0, sizeof(tr));
	memset(&vr, 0, sizeof(vr));
	ENSURE(g != NULL, gp_err_set(GP_ERR_UNSUPPORTED, "verify: not "
	    "started"));
	GUARD(srv_sign_body(rq, known, &body));
	GUARD(srv_jstr(body, "signature", &sig));
	GUARD(srv_jstr(body, "document", &doc));
	GUARD(srv_jstr(body, "digest", &dig));
	GUARD(srv_jstr(body, "digest_alg", &alg));
	GUARD(srv_jstr(body, "policy", &pname));
	ENSURE(doc == NULL || dig == NULL, gp_err_set(GP_ERR_INVALID,
	    "document, digest: give one of them, not both"));
	ENSURE(alg == NULL || dig != NULL, gp_err_set(GP_ERR_INVALID,
	    "digest_alg: only with digest"));
	GUARD(sig_b64_decode("signature", sig, SIG_MAX_P7S, &p7s, &p7s_len));
	if (doc != NULL) {
		GUARD(sig_b64_decode("document", doc, (size_t)
		    rq->srv->inst->cfg->max_body_bytes, &content,
		    &content_len));
		vr.content = content;
		vr.content_len = content_len;
	} else if (dig != NULL) {
		vr.digest_md = EVP_get_digestbyname(alg ? alg : "sha256");
		ENSURE(vr.digest_md != NULL && (EVP_MD_get_type(vr.digest_md)
		    == NID_sha256 || EVP_MD_get_type(vr.digest_md) ==
		    NID_sha384 || EVP_MD_get_type(vr.digest_md) ==
		    NID_sha512), gp_err_set(GP_ERR_INVALID, "digest_alg: "
		    "sha256, sha384 or sha512"));
		GUARD(srv_hex_decode("digest", dig, digest,
		    (size_t)EVP_MD_get_size(vr.digest_md)));
		vr.digest = digest;
		vr.digest_len = (size_t)EVP_MD_get_size(vr.digest_md);
	}
	if (pname != NULL)
		GUARD(srv_sign_policy(rq->srv, pname, &pol));
	sig_trust_config(&tr, rq->srv->inst->cfg);
	tr.anonymous = 1;
	tr.anchors = g->anchors;
	tr.untrusted = g->untrusted;
	tr.st = rq->srv->inst->st;
	tr.policy = pol;
	vr.p7s = p7s;
	vr.p7s_len = p7s_len;
	vr.trust = &tr;
	GUARD(sig_verify(&vr, &rep, &valid));
	r = srv_reply_json(rq, 200, rep);
	rep = NULL; /* transferred */
out:
	json_decref(rep);
	json_decref(body);
	free(p7s);
	free(content);
	return r;
}

int
srv_sign_seal(struct srv *s, const char *name, EVP_PKEY **out_key,
    X509 **out_cert, STACK_OF(X509) **out_chain)
{
	struct srv_signer *g = s->signer;
	size_t i;

	*out_key = NULL;
	*out_cert = NULL;
	*out_chain = NULL;
	for (i = 0; g != NULL && i < g->seals_len; i++) {
		if (strcmp(g->seals[i].conf->name, name) != 0)
			continue;
		*out_key = g->seals[i].key;
		*out_cert = g->seals[i].cert;
		*out_chain = g->seals[i].chain;
		return 0;
	}
	return gp_err_set(GP_ERR_NOT_FOUND, "seal %s: not configured", name);
}
