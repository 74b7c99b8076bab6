/*
 * srv_public.c: handlers that need no client certificate: /healthz (also
 * served on the admin listener), /metrics and the CA certificates under
 * /certs/. They read state only; none of them is audited.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "server/internal.h"

#define SRV_HEALTH_CACHE_MS 1000
#define SRV_TOKEN_PROBE_MS 2000

/* One probe at a time, reused for a second: a load balancer polling
 * /healthz on every thread must not queue calls on the token. */
static void
srv_health(struct srv *s, int *out_store, int *out_token)
{
	int64_t now = gp_mono_ms();

	pthread_mutex_lock(&s->health_mu);
	if (s->health_at_ms == 0 || now - s->health_at_ms >= SRV_HEALTH_CACHE_MS) {
		s->health_store = store_ping(s->inst->st) == 0;
		s->health_token = s->inst->tok != NULL &&
		    tok_probe(s->inst->tok, s->inst->cfg->token_label,
		    SRV_TOKEN_PROBE_MS) == 0;
		s->health_at_ms = gp_mono_ms();
		if (s->health_at_ms == 0)
			s->health_at_ms = 1;
	}
	*out_store = s->health_store;
	*out_token = s->health_token;
	pthread_mutex_unlock(&s->health_mu);
}

int
srv_h_healthz(struct srv_req *rq, const char *url)
{
	int st_ok, tok_ok, tsa_refuse = 0, ok;
	char tsa_why[160];

	srv_health(rq->srv, &st_ok, &tok_ok);
	/* The TSA's clock guard: a TSA that refuses to issue (clock
	 * unsynchronised, error above the accuracy, stepped back) makes the
	 * instance unhealthy, 503, with the reason in "tsa". */
	srv_tsa_health(rq->srv, &tsa_refuse, tsa_why, sizeof(tsa_why));
	ok = st_ok && tok_ok && !tsa_refuse;
	return srv_reply_json(rq, ok ? 200 : 503,
	    json_pack("{s:s, s:s, s:s, s:s}", "status", ok ? "ok" :
	    "fail", "store", st_ok ? "ok" : "fail", "token", tok_ok ? "ok" :
	    "fail", "tsa", tsa_why));
}

int
srv_h_metrics(struct srv_req *rq, const char *url)
{
	int r;
	char *text = NULL;
	size_t len = 0;
	int64_t count = 0, max_seq = -1;

	if (store_audit_count(rq->srv->inst->st, &count, &max_seq) != 0)
		max_seq = -1; /* omit the gauge rather than fail the scrape */
	GUARD(srv_metrics_render(max_seq, atomic_load(&rq->srv->in_flight),
	    &text, &len));
	GUARD(srv_metrics_expiring(rq->srv->inst->st, &text, &len));
	GUARD(srv_reply_bytes(rq, 200, "text/plain; version=0.0.4", text,
	    len));
	r = 0;
out:
	free(text);
	return r;
}

int
srv_h_cert(struct srv_req *rq, const char *url)
{
	static const struct {
		const char *name;
		int key;
	} certs[] = {
		{"/certs/root.crt", GP_KEY_ROOT},
		{"/certs/ca.crt", GP_KEY_CA},
		{"/certs/tsa.crt", GP_KEY_TSA},
		{"/certs/ocsp.crt", GP_KEY_OCSP},
	};
	int r = GP_ERR_NOT_FOUND;
	X509 *x = NULL;
	uint8_t *der = NULL, *p;
	int n;
	size_t i;

	for (i = 0; i < sizeof(certs) / sizeof(certs[0]); i++) {
		if (strcmp(url, certs[i].name) == 0) {
			x = rq->srv->inst->cert[certs[i].key];
			break;
		}
	}
	if (x == NULL) {
		r = gp_err_set(GP_ERR_NOT_FOUND, "certificates are root.crt, "
		    "ca.crt, tsa.crt and ocsp.crt");
		goto out;
	}
	n = i2d_X509(x, NULL);
	ENSURE(n > 0, GP_ERR_CRYPTO);
	der = malloc((size_t)n);
	ENSURE(der != NULL, GP_ERR_NOMEM);
	p = der;
	ENSURE(i2d_X509(x, &p) == n, GP_ERR_CRYPTO);
	GUARD(srv_reply_bytes(rq, 200, "application/pkix-cert", der,
	    (size_t)n));
	r = 0;
out:
	free(der);
	return r;
}
