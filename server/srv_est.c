/*
 * srv_est.c: Enrollment over Secure Transport (RFC 7030, RFC 8951) on its
 * own HTTPS listener, whose client certificates are optional, and the
 * officer's enrolment codes on the admin listener.
 *
 *   GET  /.well-known/est/cacerts         anyone: the issuing CA and root
 *                                         (certs-only, 4.1)
 *   POST /.well-known/est/simpleenroll    HTTP Basic with a one-time
 *                                         enrolment code (3.2.3): the
 *                                         signing certificate, issued
 *                                         with its encryption twin (4.2)
 *   POST /.well-known/est/simplereenroll  TLS client certificate: the
 *                                         current signing certificate,
 *                                         before it expires (4.2.2)
 *   POST /.well-known/est/serverkeygen    TLS client certificate: the
 *                                         escrowed encryption key,
 *                                         enveloped to the request's key
 *                                         (4.4)
 *   POST /.well-known/est/keyhistory      govpki's own, as serverkeygen:
 *                                         the holder's earlier keys
 *   POST /api/v1/enrolments               (admin, officer) a code
 *
 * Requests are "application/pkcs10", base64 of the DER (RFC 7030 4.2.1;
 * RFC 8951 3: base64 whatever Content-Transfer-Encoding says), at most
 * EST_MAX_BODY bytes. Every refusal is recorded: the code, certificate or
 * request it concerns and why (a wrong code is one record; a guess has
 * 2^-120 odds). Enrolment and renewal block a worker thread while the
 * token generates the KMC's key pair and the transaction commits: they
 * are rare next to OCSP and time-stamps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "est/est.h"
#include "server/internal.h"

#define SRV_EST_REALM "Basic realm=\"govpki EST enrolment code\""

int
srv_est_init(struct srv *s)
{
	struct instance *inst = s->inst;
	struct kmc_conf kc;
	STACK_OF(X509) *sk = NULL;
	struct audit_event ev;
	json_t *d = NULL;
	int r;

	memset(&kc, 0, sizeof(kc));
	kc.ca = &s->ca;
	kc.tok = inst->tok;
	kc.token = inst->cfg->token_label;
	if (srv_sign_seal(s, "seal", &kc.seal_key, &kc.seal_cert,
	    &kc.seal_chain) != 0)
		gp_log(GP_LOG_WARN, "server: no seal \"seal\": EST serverkeygen "
		    "will refuse (the KMC signs key packages with it)");
	r = kmc_new(&kc, &s->kmc);
	if (r == GP_ERR_NOT_FOUND) {
		/* An instance made before the KMC: its storage key now,
		 * recorded like the keys of init. */
		GUARD(kmc_storage_key_create(inst->tok, kc.token, NULL));
		memset(&ev, 0, sizeof(ev));
		ev.actor = inst->actor[0] != '\0' ? inst->actor : "server";
		ev.role = "local";
		ev.op = "kmc.key.generate";
		ev.object = KMC_WRAP_LABEL;
		ev.outcome = "success";
		d = json_pack("{s:s, s:b, s:b}", "algo", "aes-256", "sensitive",
		    1, "extractable", 0);
		ev.details = d;
		GUARD(audit_log(inst->audit, &ev));
		r = kmc_new(&kc, &s->kmc);
	}
	GUARD(r);
	ENSURE((sk = sk_X509_new_null()) != NULL, GP_ERR_NOMEM);
	/* RFC 7030 4.1.3: the current CA certificates, here the issuing CA
	 * and the root it chains to. */
	ENSURE(sk_X509_push(sk, inst->cert[GP_KEY_CA]) > 0 &&
	    sk_X509_push(sk, inst->cert[GP_KEY_ROOT]) > 0, GP_ERR_NOMEM);
	GUARD(est_certs_only(sk, &s->est_cacerts, &s->est_cacerts_len));
	r = 0;
out:
	json_decref(d);
	sk_X509_free(sk); /* borrowed certificates */
	return r;
}

void
srv_est_free(struct srv *s)
{
	kmc_free(s->kmc);
	s->kmc = NULL;
	OPENSSL_free(s->est_cacerts);
	s->est_cacerts = NULL;
}

/* Who an EST request is: the holder of a client certificate, or of an
 * enrolment. */
struct srv_est_who {
	struct srv_ident ident;     /* a client certificate's, when any */
	struct ca_person person;
	char actor[SRV_MAX_ACTOR];
	struct ca_actor ca;
};

static void
srv_est_who_init(struct srv_req *rq, struct srv_est_who *w)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->actor, sizeof(w->actor), "est:%s", rq->client);
	w->ca.actor = w->actor;
	w->ca.role = "holder";
	w->ca.person = &w->person;
	w->ca.request_id = rq->request_id;
	w->ca.client = rq->client;
}

/* Records the refusal |code| (detail: the thread's) of |op| on |object|
 * and keeps the detail; returns |code|. */
static int
srv_est_refuse(struct srv_req *rq, const struct srv_est_who *w,
    const char *op, const char *object, int code)
{
	struct audit_event ev;
	char why[1024];
	json_t *d;

	snprintf(why, sizeof(why), "%s", gp_err_detail());
	d = json_pack("{s:s, s:s}", "error", gp_err_name(code), "reason", why);
	memset(&ev, 0, sizeof(ev));
	ev.actor = w->actor;
	ev.role = "holder";
	ev.op = op;
	ev.object = object != NULL ? object : "";
	ev.outcome = code == GP_ERR_UNAUTHENTICATED || code == GP_ERR_DENIED ?
	    "denied" : "failure";
	ev.request_id = rq->request_id;
	ev.client = rq->client;
	ev.details = d;
	if (audit_log(rq->srv->inst->audit, &ev) != 0)
		gp_log(GP_LOG_ERROR, "request %s: cannot audit an EST refusal: "
		    "%s", rq->request_id, gp_err_detail());
	json_decref(d);
	return gp_err_set(code, "%s", why);
}

/* The PKCS#10 request of the body as PEM: RFC 7030 4.2.1 "application/
 * pkcs10", base64 of the DER. */
static int
srv_est_csr(struct srv_req *rq, char **out, size_t *out_len)
{
	const char *ct = MHD_lookup_connection_value(rq->conn,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	uint8_t *der = NULL;
	size_t der_len = 0, n;
	int r;

	*out = NULL;
	n = ct != NULL ? strcspn(ct, "; \t") : 0;
	ENSURE(ct != NULL && n == strlen(EST_CT_PKCS10) &&
	    strncasecmp(ct, EST_CT_PKCS10, n) == 0,
	    gp_err_set(GP_ERR_UNSUPPORTED, "Content-Type: %s is required "
	    "(RFC 7030 4.2.1), not %.64s", EST_CT_PKCS10, ct != NULL ? ct :
	    "none"));
	GUARD(est_unb64("csr", rq->body, rq->body_len, EST_MAX_BODY, &der,
	    &der_len));
	GUARD(est_csr_pem(der, der_len, out, out_len));
	r = 0;
out:
	free(der);
	return r;
}

/* The holder's verified client certificate, as the actor of |w|. */
static int
srv_est_client(struct srv_req *rq, struct srv_est_who *w)
{
	X509 *x = NULL;
	int r;

	GUARD(srv_peer_cert(rq, &x));
	GUARD(srv_ident_parse(x, &w->ident));
	snprintf(w->actor, sizeof(w->actor), "%s", w->ident.actor);
	w->person = w->ident.person;
	r = 0;
out:
	X509_free(x);
	return r;
}

/* The holder's client certificate and the request's PKCS#10, each
 * refusal recorded under |op|. */
static int
srv_est_client_csr(struct srv_req *rq, struct srv_est_who *w, const char *op,
    char **csr, size_t *csr_len)
{
	int r;

	if ((r = srv_est_client(rq, w)) != 0)
		return srv_est_refuse(rq, w, op, w->ident.serial[0] ?
		    w->ident.serial : "unknown", r);
	if ((r = srv_est_csr(rq, csr, csr_len)) != 0)
		return srv_est_refuse(rq, w, op, w->ident.serial, r);
	return 0;
}

/* Queues a reply of |der| base64-encoded as |content_type|. */
static int
srv_est_reply_b64(struct srv_req *rq, const char *content_type,
    const uint8_t *der, size_t len)
{
	char *b64 = NULL;
	size_t b64_len = 0;
	int r;

	GUARD(est_b64(der, len, &b64, &b64_len));
	GUARD(srv_reply_bytes(rq, 200, content_type, b64, b64_len));
	/* RFC 7030 4.1.3 names it; RFC 8951 3 says base64 is used anyway. */
	MHD_add_response_header(rq->resp, "Content-Transfer-Encoding",
	    "base64");
	r = 0;
out:
	free(b64);
	return r;
}

/* The reply of an error the handler answers itself (not the
 * dispatcher's), with the status |code| maps to: 415 for a wrong
 * Content-Type, and WWW-Authenticate with a 401 (RFC 7617 2). */
static int
srv_est_fail(struct srv_req *rq, int code)
{
	char why[1024];
	unsigned int status = code == GP_ERR_UNSUPPORTED ? 415 :
	    server_http_status(code);
	int r;

	snprintf(why, sizeof(why), "%s", gp_err_detail());
	GUARD(srv_reply_error(rq, status, code, why));
	if (status == 401)
		MHD_add_response_header(rq->resp,
		    MHD_HTTP_HEADER_WWW_AUTHENTICATE, SRV_EST_REALM);
	r = 0;
out:
	return r;
}

int
srv_h_est_cacerts(struct srv_req *rq, const char *url)
{
	(void)url;
	/* RFC 7030 4.1.3: "application/pkcs7-mime", a certs-only message. */
	return srv_est_reply_b64(rq, EST_CT_CACERTS, rq->srv->est_cacerts,
	    rq->srv->est_cacerts_len);
}

/* Replies the signing certificate of |res| as certs-only (RFC 7030
 * 4.2.3). */
static int
srv_est_reply_issued(struct srv_req *rq, const struct kmc_enroll_result *res)
{
	STACK_OF(X509) *sk = NULL;
	X509 *x = NULL;
	const unsigned char *p = res->sign_der;
	uint8_t *der = NULL;
	size_t len = 0;
	int r;

	ENSURE((x = d2i_X509(NULL, &p, (long)res->sign_der_len)) != NULL &&
	    (sk = sk_X509_new_null()) != NULL && sk_X509_push(sk, x) > 0,
	    GP_ERR_NOMEM);
	GUARD(est_certs_only(sk, &der, &len));
	srv_metrics_signature("ca"); /* the signing certificate */
	srv_metrics_signature("ca"); /* and its encryption twin */
	GUARD(srv_est_reply_b64(rq, EST_CT_CERTS, der, len));
	r = 0;
out:
	OPENSSL_free(der);
	sk_X509_free(sk);
	X509_free(x);
	return r;
}

int
srv_h_est_enroll(struct srv_req *rq, const char *url)
{
	struct srv_est_who w;
	struct store_enrolment e;
	struct kmc_enroll_req req;
	struct kmc_enroll_result res;
	char *user = NULL, *pass = NULL, *csr = NULL;
	size_t csr_len = 0;
	json_t *subject = NULL;
	int r;

	(void)url;
	memset(&e, 0, sizeof(e));
	memset(&res, 0, sizeof(res));
	srv_est_who_init(rq, &w);
	/* RFC 7030 3.2.3: the server MAY authenticate the client with HTTP
	 * Basic over TLS: the password is the one-time enrolment code. */
	user = MHD_basic_auth_get_username_password(rq->conn, &pass);
	if (pass == NULL) {
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "no enrolment code: send "
		    "it as the HTTP Basic password (RFC 7030 3.2.3)");
		r = srv_est_refuse(rq, &w, "est.enroll", "unknown", r);
		goto fail;
	}
	r = kmc_enrol_find(rq->srv->kmc, pass, &e);
	if (e.id != NULL) {
		snprintf(w.actor, sizeof(w.actor), "enrolment:%s", e.id);
		snprintf(w.person.id, sizeof(w.person.id), "enrol:%s", e.id);
	}
	if (r != 0) {
		r = srv_est_refuse(rq, &w, "est.enroll", e.id != NULL ? e.id :
		    "unknown", r);
		goto fail;
	}
	if ((r = srv_est_csr(rq, &csr, &csr_len)) != 0) {
		r = srv_est_refuse(rq, &w, "est.enroll", e.id, r);
		goto fail;
	}
	ENSURE((subject = json_loads(e.subject, 0, NULL)) != NULL,
	    gp_err_set(GP_ERR_TAMPERED, "enrolment %s: stored subject is not "
	    "JSON", e.id));
	memset(&req, 0, sizeof(req));
	req.op = "est.enroll";
	req.profile = e.profile;
	req.subject = subject;
	req.csr_pem = csr;
	req.csr_len = csr_len;
	req.enrolment_id = e.id;
	/* Issues both certificates, escrows the key and uses the code up
	 * in one transaction, and records its own refusals. */
	if ((r = kmc_enroll(rq->srv->kmc, &w.ca, &req, &res)) != 0)
		goto fail;
	GUARD(srv_est_reply_issued(rq, &res));
	r = 0;
	goto out;
fail:
	r = srv_est_fail(rq, r);
out:
	if (pass != NULL) {
		OPENSSL_cleanse(pass, strlen(pass));
		MHD_free(pass);
	}
	if (user != NULL)
		MHD_free(user);
	json_decref(subject);
	free(csr);
	kmc_enroll_result_clear(&res);
	store_enrolment_clear(&e);
	srv_ident_clear(&w.ident);
	return r;
}

int
srv_h_est_reenroll(struct srv_req *rq, const char *url)
{
	struct srv_est_who w;
	struct kmc_enroll_result res;
	char *csr = NULL;
	size_t csr_len = 0;
	int r;

	(void)url;
	memset(&res, 0, sizeof(res));
	srv_est_who_init(rq, &w);
	/* RFC 7030 3.3.2: renewal is authenticated by the certificate being
	 * renewed, presented in the TLS handshake. */
	if ((r = srv_est_client_csr(rq, &w, "est.reenroll", &csr,
	    &csr_len)) != 0)
		goto fail;
	if ((r = kmc_renew(rq->srv->kmc, &w.ca, w.ident.serial, csr, csr_len,
	    &res)) != 0)
		goto fail;
	GUARD(srv_est_reply_issued(rq, &res));
	r = 0;
	goto out;
fail:
	r = srv_est_fail(rq, r);
out:
	free(csr);
	kmc_enroll_result_clear(&res);
	srv_ident_clear(&w.ident);
	return r;
}

/* Replies |n| released keys as multipart/mixed: per key, the enveloped
 * key and its certificate (RFC 7030 4.4.2). */
static int
srv_est_reply_keys(struct srv_req *rq, const struct kmc_released *keys,
    size_t n)
{
	struct est_part *parts = NULL;
	STACK_OF(X509) *sk = NULL;
	uint8_t **certs = NULL;
	size_t *lens = NULL, i;
	char boundary[48], ct[96], *body = NULL;
	size_t body_len = 0;
	int r;

	ENSURE((parts = calloc(2 * n, sizeof(*parts))) != NULL &&
	    (certs = calloc(n, sizeof(*certs))) != NULL &&
	    (lens = calloc(n, sizeof(*lens))) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < n; i++) {
		const unsigned char *p = keys[i].cert;
		X509 *x = d2i_X509(NULL, &p, (long)keys[i].cert_len);

		ENSURE(x != NULL && (sk = sk_X509_new_null()) != NULL &&
		    sk_X509_push(sk, x) > 0, (X509_free(x), GP_ERR_NOMEM));
		r = est_certs_only(sk, &certs[i], &lens[i]);
		sk_X509_pop_free(sk, X509_free);
		sk = NULL;
		GUARD(r);
		snprintf(parts[2 * i].content_type,
		    sizeof(parts[2 * i].content_type), "%s", EST_CT_KEY);
		parts[2 * i].der = keys[i].env;
		parts[2 * i].len = keys[i].env_len;
		snprintf(parts[2 * i + 1].content_type,
		    sizeof(parts[2 * i + 1].content_type), "%s", EST_CT_CERTS);
		parts[2 * i + 1].der = certs[i];
		parts[2 * i + 1].len = lens[i];
	}
	GUARD(est_multipart_build(parts, 2 * n, boundary, &body, &body_len));
	snprintf(ct, sizeof(ct), "multipart/mixed; boundary=%s", boundary);
	GUARD(srv_reply_bytes(rq, 200, ct, body, body_len));
	r = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	for (i = 0; certs != NULL && i < n; i++)
		OPENSSL_free(certs[i]);
	free(certs);
	free(lens);
	free(parts); /* the enveloped keys are the caller's */
	free(body);
	return r;
}

/* serverkeygen and keyhistory: |history| selects the earlier keys. */
static int
srv_est_keys(struct srv_req *rq, int history)
{
	const char *op = history ? "kmc.key.restore" : "kmc.key.release";
	struct srv_est_who w;
	struct kmc_released one, *list = NULL;
	size_t n = 0;
	char *csr = NULL;
	size_t csr_len = 0;
	int r;

	memset(&one, 0, sizeof(one));
	srv_est_who_init(rq, &w);
	if ((r = srv_est_client_csr(rq, &w, op, &csr, &csr_len)) != 0)
		goto fail;
	/* kmc/ checks the certificate's row and the request's proof of
	 * possession, and records the release or its refusal. */
	if (history)
		r = kmc_history_release(rq->srv->kmc, &w.ca, w.ident.serial,
		    csr, csr_len, &list, &n);
	else
		r = kmc_release(rq->srv->kmc, &w.ca, w.ident.serial, csr,
		    csr_len, &one);
	if (r != 0)
		goto fail;
	if (history && n == 0) {
		/* No earlier key: nothing to send. */
		GUARD(srv_reply_bytes(rq, 204, "text/plain", "", 0));
	} else {
		GUARD(srv_est_reply_keys(rq, history ? list : &one,
		    history ? n : 1));
	}
	r = 0;
	goto out;
fail:
	r = srv_est_fail(rq, r);
out:
	kmc_released_clear(&one);
	kmc_released_free(list, n);
	free(csr);
	srv_ident_clear(&w.ident);
	return r;
}

int
srv_h_est_serverkeygen(struct srv_req *rq, const char *url)
{
	(void)url;
	return srv_est_keys(rq, 0);
}

int
srv_h_est_keyhistory(struct srv_req *rq, const char *url)
{
	(void)url;
	return srv_est_keys(rq, 1);
}

/* POST /api/v1/enrolments (officer): {"profile", "subject", "valid_s"}. */
int
srv_h_enrolment_create(struct srv_req *rq, const char *url)
{
	static const char *const known[] = {"profile", "subject", "valid_s",
	    NULL};
	struct ca_actor who;
	struct kmc_code code;
	json_t *body = NULL, *v;
	const char *profile;
	int64_t valid_s = 0;
	char when[32];
	time_t t;
	struct tm tm;
	int r;

	(void)url;
	memset(&code, 0, sizeof(code));
	srv_ca_actor(rq, &who);
	GUARD(srv_ca_body(rq, 0, &body));
	GUARD(srv_ca_known(body, known));
	profile = json_string_value(json_object_get(body, "profile"));
	ENSURE(profile != NULL, gp_err_set(GP_ERR_INVALID, "profile: required "
	    "(a string: a profile with an encryption twin, such as enterprise "
	    "or citizen)"));
	v = json_object_get(body, "valid_s");
	if (v != NULL) {
		ENSURE(json_is_integer(v) && json_integer_value(v) > 0,
		    gp_err_set(GP_ERR_INVALID, "valid_s: a positive integer "
		    "(seconds)"));
		valid_s = json_integer_value(v);
	}
	GUARD(kmc_enrol_create(rq->srv->kmc, &who, profile,
	    json_object_get(body, "subject"), valid_s, &code));
	t = (time_t)(code.expires_ms / 1000);
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	r = srv_reply_json(rq, 201, json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}",
	    "id", code.id, "code", code.code, "profile", profile, "expires",
	    when, "expires_ms", (json_int_t)code.expires_ms, "holder",
	    code.holder));
out:
	OPENSSL_cleanse(&code, sizeof(code));
	json_decref(body);
	return r;
}
