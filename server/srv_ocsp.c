/*
 * srv_ocsp.c: the revocation endpoints of the public listener and the CRL
 * schedule of the server.
 *
 *   POST /ocsp             application/ocsp-request (RFC 6960 A.1)
 *   GET  /ocsp/<base64>    RFC 5019 5: the DER request, base64, URL-encoded
 *   GET  /crl/<ca>.crl     the latest CRL of "ca" or "root", DER,
 *                          application/pkix-crl (RFC 5280 4.2.1.13)
 *   POST /api/v1/crl       (admin, officer) generate now; ?ca=ca|root
 *
 * OCSP answers come from ca/ca_ocsp.c; pre-signed ones carry the RFC 5019
 * 6.2 caching headers. A nonce costs a signature per request: an address
 * that asks for more than limits.ocsp_nonce_per_s (token bucket, burst
 * limits.ocsp_nonce_burst) has its nonce left out of the request, and gets
 * the answer a request without one gets (the pre-signed one for a single
 * CertID). Malformed requests are counted for the aggregated
 * "http.refused" record of the address (srv_peer.c), not audited one by
 * one.
 *
 * CRLs are files under DIR/crl/, written by ca_crl_generate() from here
 * (schedule, on demand) or from the CLI; this file only streams them. The
 * schedule (srv_crl_tick) runs each second on a thread of its own
 * (srv_tick.c), reading two meta values and one stat per CRL: the store's
 * connection may wait for the audit writer, and the main thread must keep
 * answering SIGTERM meanwhile.
 *
 * Several nodes on one store: only the holder of the store's "crl" lease
 * (store_lease_take, renewed each tick, SRV_CRL_LEASE_MS long) runs the
 * schedule; a node that takes it over from another (which died, or
 * released it at shutdown) records that in the audit log ("crl.lease").
 * The holder is this process, "<node>/<random run id>" (srv_node.c), not
 * the node name alone: a restarted node takes over from its own previous
 * run only once that run's lease has expired or been released. The CRL's
 * own transaction renews the lease (ca_crl_lease): a holder that stalled
 * while another took the lease over discards the CRL it was making.
 * Servers sharing one instance directory on SQLite (the instance lock is
 * shared) divide the schedule the same way.
 * Every node, holder or not, makes its files the latest CRLs the store
 * holds (instance_crl_sync), so all of them serve what the holder made.
 * A CRL committed but never published (its maker died in between) is
 * replaced by a new one from the holder (srv_crl_unpublished).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ocsp.h>

#include "ca/ca.h"
#include "server/internal.h"

/* Regenerate this long before nextUpdate at the latest. */
#define SRV_CRL_MARGIN_S 60
/* Several nodes: a CRL's maker publishes it within this long of its
 * thisUpdate, or the lease holder makes another (srv_crl_unpublished). */
#define SRV_CRL_PUBLISH_S 10
/* After a failed generation, wait this long before trying again. */
#define SRV_CRL_RETRY_S 30
/* A CRL of a few million entries is a few hundred MB: the cap on the file
 * served is far above what the store can list, but not unbounded. */
#define SRV_CRL_MAX_BYTES ((off_t)1 << 32)
/* RFC 5019 5: GET requests are small; base64 of the request cap. */
#define SRV_OCSP_MAX_B64 ((CA_OCSP_MAX_REQUEST / 3 + 1) * 4 + 16)
/* RFC 8954 2.1: Nonce ::= OCTET STRING(SIZE(1..32)). */
#define SRV_OCSP_NONCE_MAX 32

/* id-pkix-ocsp-nonce (1.3.6.1.5.5.7.48.1.2) in DER, tag and length
 * included: a request without these bytes carries no nonce. */
static const uint8_t srv_ocsp_nonce_oid[] = {0x06, 0x09, 0x2b, 0x06, 0x01,
    0x05, 0x05, 0x07, 0x30, 0x01, 0x02};

/* The CRL schedule's lease, and how long it lasts unless renewed (each
 * tick renews it): a node that dies holding it holds up CRLs this long. */
#define SRV_CRL_LEASE "crl"
#define SRV_CRL_LEASE_MS 10000

/* The schedule's state per published CRL (instance_crls). */
struct srv_crl {
	int64_t change_seen[INSTANCE_CRLS]; /* when a new status gen was seen */
	int64_t retry_at[INSTANCE_CRLS];    /* after a failure */
	int64_t have[INSTANCE_CRLS];        /* the version DIR/crl holds */
	int held;                           /* this node holds the lease */
	int lease_failing;                  /* the last attempt failed */
};

/* Generates CRL |c| of |inst| now, as |actor|; |lease|: the schedule's,
 * held until the CRL commits, or NULL. */
static int
srv_crl_make(struct instance *inst, const struct instance_crl *c,
    const char *actor, const char *role, const char *request_id,
    const char *client, const struct ca_crl_lease *lease,
    struct ca_crl_info *info)
{
	struct instance_who who;

	memset(&who, 0, sizeof(who));
	who.actor = actor;
	who.role = role;
	who.request_id = request_id;
	who.client = client;
	return instance_crl_generate(inst, c, &who, lease, info);
}

int
srv_pki_init(struct srv *s)
{
	struct instance *inst = s->inst;
	struct ca_ocsp_conf oc;
	int r;

	ENSURE((s->crl = calloc(1, sizeof(*s->crl))) != NULL, GP_ERR_NOMEM);
	ENSURE(inst->key[GP_KEY_OCSP] != NULL, gp_err_set(
	    GP_ERR_LOGIN_REQUIRED, "OCSP: the responder key is not loaded"));
	memset(&oc, 0, sizeof(oc));
	oc.st = inst->st;
	oc.issuer_name = gp_key_names[GP_KEY_CA];
	oc.issuer_cert = inst->cert[GP_KEY_CA];
	oc.signer_cert = inst->cert[GP_KEY_OCSP];
	oc.signer_key = inst->key[GP_KEY_OCSP];
	oc.validity_s = inst->cfg->ocsp_validity_s;
	/* A response is never reused past its own nextUpdate. */
	oc.refresh_s = inst->cfg->ocsp_refresh_s < oc.validity_s ?
	    inst->cfg->ocsp_refresh_s : oc.validity_s;
	GUARD(ca_ocsp_new(&oc, &s->ocsp));
	r = 0;
out:
	return r;
}

/* Takes or renews the CRL lease for this node; 1 in *out_held when it
 * holds it. Taking it from another node (or first) is recorded in the
 * same transaction. */
static int
srv_crl_lease(struct srv *s, int *out_held)
{
	struct instance *inst = s->inst;
	struct store_lease prev;
	struct audit_event ev;
	json_t *d = NULL;
	int64_t now = gp_now_ms();
	int r, in_tx = 0, held = 0;

	*out_held = 0;
	GUARD(store_begin(inst->st));
	in_tx = 1;
	GUARD(store_lease_take(inst->st, SRV_CRL_LEASE, s->holder, now,
	    SRV_CRL_LEASE_MS, &held, &prev));
	if (held && strcmp(prev.holder, s->holder) != 0) {
		ENSURE((d = json_pack("{s:s, s:s, s:s?, s:I}", "node",
		    inst->node, "holder", s->holder, "from",
		    prev.holder[0] != '\0' ? prev.holder : NULL,
		    "from_expired_ms", (json_int_t)prev.expires_ms)) != NULL,
		    GP_ERR_NOMEM);
		memset(&ev, 0, sizeof(ev));
		ev.actor = inst->actor[0] != '\0' ? inst->actor : "server";
		ev.role = "system";
		ev.op = "crl.lease";
		ev.object = SRV_CRL_LEASE;
		ev.outcome = "success";
		ev.details = d;
		GUARD(audit_append_tx(inst->audit, &ev, NULL));
	}
	in_tx = 0;
	GUARD(store_commit(inst->st));
	if (held && !s->crl->held)
		gp_log(GP_LOG_INFO, "CRL lease: %s runs the CRL schedule%s%s",
		    s->holder, prev.holder[0] != '\0' &&
		    strcmp(prev.holder, s->holder) != 0 ?
		    ", taken over from " : "", strcmp(prev.holder,
		    s->holder) != 0 ? prev.holder : "");
	else if (!held && s->crl->held)
		gp_log(GP_LOG_WARN, "CRL lease: %s lost it to %s",
		    s->holder, prev.holder);
	*out_held = held;
	r = 0;
out:
	if (in_tx)
		store_rollback(inst->st);
	json_decref(d);
	return r;
}

/* At shutdown: hands the lease back, so that another node takes it at
 * once rather than once it expires. */
static void
srv_crl_lease_release(struct srv *s)
{
	if (s->crl == NULL || !s->crl->held)
		return;
	if (srv_lease_end(s, SRV_CRL_LEASE) != 0) {
		gp_log(GP_LOG_WARN, "CRL lease: not released (another node "
		    "takes it once it expires): %s", gp_err_detail());
		return;
	}
	s->crl->held = 0;
}

void
srv_pki_free(struct srv *s)
{
	srv_crl_lease_release(s);
	ca_ocsp_free(s->ocsp);
	s->ocsp = NULL;
	free(s->crl);
	s->crl = NULL;
}

static int64_t
srv_meta_i64(store *st, const char *key)
{
	char *v = NULL;
	int64_t n = 0;

	if (store_meta_get(st, key, &v) == 0)
		n = strtoll(v, NULL, 10);
	free(v);
	return n;
}

static int64_t
srv_crl_meta(struct instance *inst, const struct instance_crl *c,
    const char *what)
{
	char key[64];

	ca_crl_meta_key(c->issuer, what, key, sizeof(key));
	return srv_meta_i64(inst->st, key);
}

/* Several nodes: whether the last CRL |c| committed (its number in the
 * store's meta) is newer than |pub|, the latest copy the store holds
 * (instance_crl_sync; -1: unknown, or a store that holds none), its maker
 * having died between the two steps (or failed at the second): the nodes
 * would serve the one before it until the next is due. A maker has
 * SRV_CRL_PUBLISH_S past the CRL's thisUpdate to publish it; after that
 * the lease holder makes another. */
static int
srv_crl_unpublished(struct srv *s, const struct instance_crl *c, int64_t now,
    int64_t pub)
{
	struct instance *inst = s->inst;
	int64_t last, made, number;

	if (pub < 0)
		return 0;
	last = srv_crl_meta(inst, c, "base_number");
	made = srv_crl_meta(inst, c, "this_update");
	if (c->delta) {
		/* A delta was last only when the sequence went past its base. */
		if ((number = srv_crl_meta(inst, c, "number")) == last)
			return 0;
		last = number;
		made = srv_crl_meta(inst, c, "delta_this_update");
	}
	return last != 0 && now >= made + SRV_CRL_PUBLISH_S && pub < last;
}

/* Why CRL |i| is due now, or NULL. |gen| is the store's status generation,
 * |pub| the latest version of the CRL published through it (or -1).
 * A status change is published within crl.delay_s by the delta when there
 * are deltas, else by a new full CRL; full CRLs also follow their schedule,
 * deltas theirs (crl.delta_s) and every new base. */
static const char *
srv_crl_due(struct srv *s, int i, int64_t now, int64_t gen, int64_t pub)
{
	struct instance *inst = s->inst;
	const struct gp_config *cfg = inst->cfg;
	const struct instance_crl *c = &instance_crls[i];
	int deltas = instance_crl_deltas(inst, c);
	int64_t full_upd = srv_crl_meta(inst, c, "this_update");
	struct stat sb;
	char *path;
	int have;

	if (c->delta && (!deltas || full_upd == 0))
		return NULL; /* off, or no base yet: the full CRL first */
	if ((path = instance_crl_path(inst, c)) == NULL)
		return NULL;
	have = stat(path, &sb) == 0;
	free(path);
	if (!have)
		return "missing";
	if (srv_crl_unpublished(s, c, now, pub))
		return "made but not published";
	if (gen != srv_crl_meta(inst, c, "gen") && c->delta == deltas) {
		if (s->crl->change_seen[i] == 0)
			s->crl->change_seen[i] = now;
		/* crl.delay_s: changes inside it share one CRL. */
		if (now - s->crl->change_seen[i] >= cfg->crl_delay_s)
			return "status change";
		return NULL;
	}
	if (c->delta) {
		if (srv_crl_meta(inst, c, "delta_base") !=
		    srv_crl_meta(inst, c, "base_number"))
			return "new base";
		return now >= srv_crl_meta(inst, c, "delta_this_update") +
		    cfg->crl_delta_s ? "schedule" : NULL;
	}
	if (now >= full_upd + cfg->crl_interval_s ||
	    now >= full_upd + cfg->crl_next_update_s - SRV_CRL_MARGIN_S)
		return "schedule";
	return NULL;
}

void
srv_crl_tick(struct srv *s)
{
	struct instance *inst = s->inst;
	const struct instance_crl *c;
	struct ca_crl_info info;
	struct ca_crl_lease lease = {SRV_CRL_LEASE, s->holder,
	    SRV_CRL_LEASE_MS};
	int64_t now = (int64_t)time(NULL), gen, pub;
	const char *why;
	int i, held = 0;

	if (s->crl == NULL)
		return;
	if (srv_crl_lease(s, &held) != 0) {
		/* The store is unreachable or refusing: neither schedule nor
		 * sync until it answers again (logged once, not each tick). */
		if (!s->crl->lease_failing)
			gp_log(GP_LOG_ERROR, "CRL lease: %s; no CRL is made "
			    "or synced until the store answers",
			    gp_err_detail());
		s->crl->lease_failing = 1;
		s->crl->held = 0;
		return;
	}
	if (s->crl->lease_failing)
		gp_log(GP_LOG_INFO, "CRL lease: the store answers again");
	s->crl->lease_failing = 0;
	s->crl->held = held;
	gen = srv_meta_i64(inst->st, STORE_META_STATUS_GEN);
	for (i = 0; i < INSTANCE_CRLS; i++) {
		c = &instance_crls[i];
		/* What another node (or the CLI) published first. */
		if (instance_crl_sync(inst, c, &s->crl->have[i], &pub) != 0)
			gp_log(GP_LOG_ERROR, "CRL %s: sync from the store: %s",
			    c->name, gp_err_detail());
		if (!held || inst->key[c->key] == NULL ||
		    now < s->crl->retry_at[i])
			continue;
		if ((why = srv_crl_due(s, i, now, gen, pub)) == NULL)
			continue;
		if (srv_crl_make(inst, c, inst->actor[0] != '\0' ?
		    inst->actor : "server", "system", NULL, NULL, &lease,
		    &info) != 0) {
			gp_log(GP_LOG_ERROR, "CRL %s (%s): %s", c->name, why,
			    gp_err_detail());
			s->crl->retry_at[i] = now + SRV_CRL_RETRY_S;
			continue;
		}
		s->crl->change_seen[i] = 0;
		s->crl->have[i] = info.number;
		srv_metrics_signature(c->issuer);
		gp_log(GP_LOG_INFO, "CRL %s number %lld (%s): %lld entries",
		    c->name, (long long)info.number, why,
		    (long long)info.entries);
	}
}

/* RFC 7231 7.1.1.1 IMF-fixdate. */
static void
srv_http_date(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* The pre-signed answer a held reply publishes once its record is
 * durable (ca_ocsp_publish). */
struct srv_ocsp_kept {
	char serial[68];
	char etag[40];
};

static void
srv_ocsp_audit_done(struct srv_req *rq, int r)
{
	const struct srv_ocsp_kept *k = rq->hold_arg;

	if (k == NULL)
		return;
	if (r == 0)
		ca_ocsp_publish(rq->srv->ocsp, k->serial, k->etag);
	else
		ca_ocsp_invalidate(k->serial);
}

/* The record of a signature could not be written: the signed response
 * never leaves; internalError (RFC 6960 4.2.1) replaces it. */
static int
srv_ocsp_audit_failed(struct srv_req *rq)
{
	struct ca_ocsp_resp resp;
	int r;

	memset(&resp, 0, sizeof(resp));
	if ((r = ca_ocsp_status_only(CA_OCSP_INTERNAL_ERROR, &resp)) == 0)
		r = srv_reply_bytes(rq, 200, "application/ocsp-response",
		    resp.der, resp.der_len);
	ca_ocsp_resp_clear(&resp);
	return r;
}

static json_t *
srv_ocsp_details(const struct ca_ocsp_resp *resp, int nonce_dropped)
{
	json_t *d, *ids;
	int i;

	if ((d = json_object()) == NULL)
		return NULL;
	if ((ids = json_array()) == NULL) {
		json_decref(d);
		return NULL;
	}
	for (i = 0; i < resp->n_ids; i++)
		json_array_append_new(ids, json_pack("{s:s, s:s}", "serial",
		    resp->ids[i].serial, "status", resp->ids[i].status));
	json_object_set_new(d, "certids", ids);
	json_object_set_new(d, "nonce", json_boolean(resp->nonce));
	json_object_set_new(d, "presigned", json_boolean(resp->cacheable));
	/* The request's nonce was left out: over limits.ocsp_nonce_per_s. */
	if (nonce_dropped)
		json_object_set_new(d, "nonce_dropped", json_true());
	return d;
}

/* Whether the request |der| carries one nonce that ca_ocsp_respond()
 * would echo (1 to 32 octets, one extension); malformed ones are left for
 * it to refuse (RFC 8954 2.1: malformedRequest). On 1, *out_req is the
 * parsed request. */
static int
srv_ocsp_has_nonce(const uint8_t *der, size_t len, OCSP_REQUEST **out_req,
    int *out_idx)
{
	OCSP_REQUEST *req;
	const unsigned char *p = der, *q;
	ASN1_OCTET_STRING *val, *inner = NULL;
	int idx, n, ok = 0;

	*out_req = NULL;
	if (der == NULL || len == 0 || len > CA_OCSP_MAX_REQUEST ||
	    memmem(der, len, srv_ocsp_nonce_oid,
	    sizeof(srv_ocsp_nonce_oid)) == NULL)
		return 0;
	req = d2i_OCSP_REQUEST(NULL, &p, (long)len);
	if (req == NULL || p != der + len)
		goto out;
	n = OCSP_request_onereq_count(req);
	idx = OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1);
	if (n <= 0 || n > CA_OCSP_MAX_CERTIDS || idx < 0 ||
	    OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, idx) >= 0)
		goto out;
	val = X509_EXTENSION_get_data(OCSP_REQUEST_get_ext(req, idx));
	if (val == NULL)
		goto out;
	q = val->data;
	inner = d2i_ASN1_OCTET_STRING(NULL, &q, val->length);
	ok = inner != NULL && q == val->data + val->length &&
	    inner->length >= 1 && inner->length <= SRV_OCSP_NONCE_MAX;
out:
	ASN1_OCTET_STRING_free(inner);
	if (!ok) {
		OCSP_REQUEST_free(req);
		return 0;
	}
	*out_req = req;
	*out_idx = idx;
	return 1;
}

/* When the request |der| asks for a nonce and its address has used up
 * limits.ocsp_nonce_per_s, *out is the same request without the nonce (DER,
 * OPENSSL_free) and 1 is returned; 0 when the request is answered as it is
 * (no nonce, a malformed one, or within the rate). RFC 6960 4.4 makes
 * every extension, the nonce included, optional for a responder, and RFC
 * 5019 pre-produced answers carry none: the client sees an answer without
 * its nonce (openssl ocsp: "WARNING: no nonce in response") and judges its
 * freshness by thisUpdate, as for any pre-produced answer. */
static int
srv_ocsp_nonce_drop(struct srv_req *rq, const uint8_t *der, size_t len,
    uint8_t **out, size_t *out_len)
{
	OCSP_REQUEST *req = NULL, *bare = NULL;
	OCSP_CERTID *id = NULL;
	unsigned char *enc = NULL;
	int idx = -1, i, n, elen, r;

	*out = NULL;
	*out_len = 0;
	if (!srv_ocsp_has_nonce(der, len, &req, &idx) ||
	    srv_peers_nonce_ok(rq->srv->peers, rq->client, gp_now_ms())) {
		r = 0;
		goto out;
	}
	/* The CertIDs, and every extension but the nonce. */
	ENSURE((bare = OCSP_REQUEST_new()) != NULL, GP_ERR_NOMEM);
	n = OCSP_request_onereq_count(req);
	for (i = 0; i < n; i++) {
		ENSURE((id = OCSP_CERTID_dup(OCSP_onereq_get0_id(
		    OCSP_request_onereq_get0(req, i)))) != NULL, GP_ERR_NOMEM);
		ENSURE(OCSP_request_add0_id(bare, id) != NULL, GP_ERR_NOMEM);
		id = NULL; /* transferred */
	}
	for (i = 0; i < OCSP_REQUEST_get_ext_count(req); i++) {
		if (i != idx)
			ENSURE(OCSP_REQUEST_add_ext(bare,
			    OCSP_REQUEST_get_ext(req, i), -1) == 1,
			    GP_ERR_NOMEM);
	}
	ENSURE((elen = i2d_OCSP_REQUEST(bare, &enc)) > 0, GP_ERR_NOMEM);
	*out = enc;
	enc = NULL; /* transferred */
	*out_len = (size_t)elen;
	r = 1;
out:
	OCSP_CERTID_free(id);
	OPENSSL_free(enc);
	OCSP_REQUEST_free(bare);
	OCSP_REQUEST_free(req);
	return r;
}

/* Every signature made with the responder key is audited, as time-stamps
 * and seals are: the reply is held until its record is durable. Answers
 * from the pre-signed cache make no signature and leave no record (the
 * request log has them); the pre-signature itself has one. */
static int
srv_ocsp_audit(struct srv_req *rq, const struct ca_ocsp_resp *resp,
    int nonce_dropped)
{
	struct srv_ocsp_kept *k;
	json_t *details;
	int r;

	if (resp->cacheable && resp->signed_now) {
		ENSURE((k = calloc(1, sizeof(*k))) != NULL, GP_ERR_NOMEM);
		snprintf(k->serial, sizeof(k->serial), "%s",
		    resp->ids[0].serial);
		snprintf(k->etag, sizeof(k->etag), "%s", resp->etag);
		rq->hold_arg = k;
		rq->on_audit_done = srv_ocsp_audit_done;
	}
	ENSURE((details = srv_ocsp_details(resp, nonce_dropped)) != NULL,
	    GP_ERR_NOMEM);
	r = srv_audit_hold(rq, "ocsp.sign", resp->n_ids > 0 ?
	    resp->ids[0].serial : "-", resp->signed_now ? "success" :
	    "failure", details, srv_ocsp_audit_failed);
	json_decref(details);
out:
	return r;
}

static int
srv_ocsp_reply(struct srv_req *rq, const uint8_t *der, size_t len)
{
	struct ca_ocsp_resp resp;
	char hdr[128], date[64];
	int64_t now = (int64_t)time(NULL), age;
	uint8_t *bare = NULL;
	size_t bare_len = 0;
	int r;

	memset(&resp, 0, sizeof(resp));
	if ((r = srv_ocsp_nonce_drop(rq, der, len, &bare, &bare_len)) < 0)
		goto out;
	if (r == 1) {
		der = bare;
		len = bare_len;
	}
	GUARD(ca_ocsp_respond(rq->srv->ocsp, der, len, &resp));
	if (resp.signed_now)
		srv_metrics_signature("ocsp");
	if (resp.status == CA_OCSP_MALFORMED)
		srv_refused(rq, SRV_REFUSED_OCSP_MALFORMED);
	/* RFC 6960 A.1: the response, whatever its status, is 200 with
	 * application/ocsp-response. */
	GUARD(srv_reply_bytes(rq, 200, "application/ocsp-response", resp.der,
	    resp.der_len));
	if (resp.cacheable) {
		/* RFC 5019 6.2: max-age no later than nextUpdate; here the
		 * refresh time, when a new response replaces this one. */
		age = resp.refresh_at - now;
		if (age < 0)
			age = 0;
		snprintf(hdr, sizeof(hdr), "max-age=%lld, public, "
		    "no-transform, must-revalidate", (long long)age);
		MHD_add_response_header(rq->resp,
		    MHD_HTTP_HEADER_CACHE_CONTROL, hdr);
		srv_http_date(resp.this_update, date, sizeof(date));
		MHD_add_response_header(rq->resp,
		    MHD_HTTP_HEADER_LAST_MODIFIED, date);
		srv_http_date(resp.next_update, date, sizeof(date));
		MHD_add_response_header(rq->resp, MHD_HTTP_HEADER_EXPIRES,
		    date);
		MHD_add_response_header(rq->resp, MHD_HTTP_HEADER_ETAG,
		    resp.etag);
	}
	if (resp.signed_now || resp.sign_failed)
		GUARD(srv_ocsp_audit(rq, &resp, bare != NULL));
	r = 0;
out:
	OPENSSL_free(bare);
	ca_ocsp_resp_clear(&resp);
	return r;
}

int
srv_h_ocsp_post(struct srv_req *rq, const char *url)
{
	const char *ct = MHD_lookup_connection_value(rq->conn,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);

	/* RFC 6960 A.1.1: Content-Type application/ocsp-request. */
	if (ct == NULL || strncasecmp(ct, "application/ocsp-request", 24) != 0)
		return gp_err_set(GP_ERR_INVALID, "Content-Type must be "
		    "application/ocsp-request");
	return srv_ocsp_reply(rq, rq->body, rq->body_len);
}

static int
srv_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
srv_h_ocsp_get(struct srv_req *rq, const char *url)
{
	const char *b64 = url + strlen("/ocsp/");
	char *text = NULL;
	uint8_t *der = NULL;
	size_t n = strlen(b64), i, o = 0;
	int outl = 0, fin = 0, r;
	EVP_ENCODE_CTX *ec = NULL;

	/* An over-long or undecodable request is still an OCSP request
	 * answered with malformedRequest, not an HTTP error. */
	if (n == 0 || n > SRV_OCSP_MAX_B64)
		return srv_ocsp_reply(rq, NULL, 0);
	ENSURE((text = malloc(n + 1)) != NULL &&
	    (der = malloc(n)) != NULL, GP_ERR_NOMEM);
	/* RFC 5019 5: "url-encoding of base-64 encoding"; libmicrohttpd
	 * may have decoded the path already, decoding twice is harmless
	 * since base64 holds no '%'. */
	for (i = 0; i < n; i++) {
		if (b64[i] == '%' && i + 2 < n &&
		    srv_hexval(b64[i + 1]) >= 0 &&
		    srv_hexval(b64[i + 2]) >= 0) {
			text[o++] = (char)(srv_hexval(b64[i + 1]) << 4 |
			    srv_hexval(b64[i + 2]));
			i += 2;
		} else {
			text[o++] = b64[i];
		}
	}
	text[o] = '\0';
	ENSURE((ec = EVP_ENCODE_CTX_new()) != NULL, GP_ERR_NOMEM);
	EVP_DecodeInit(ec);
	if (EVP_DecodeUpdate(ec, der, &outl, (unsigned char *)text,
	    (int)o) < 0 || EVP_DecodeFinal(ec, der + outl, &fin) != 1)
		outl = fin = 0;
	r = srv_ocsp_reply(rq, der, (size_t)(outl + fin));
out:
	EVP_ENCODE_CTX_free(ec);
	free(text);
	free(der);
	return r;
}

int
srv_h_crl(struct srv_req *rq, const char *url)
{
	const char *name = url + strlen("/crl/");
	char base[16], *path = NULL, date[64];
	size_t n = strlen(name);
	struct stat sb;
	struct MHD_Response *resp;
	const struct instance_crl *c;
	int fd = -1, r;

	ENSURE(n > 4 && n - 4 < sizeof(base) &&
	    strcmp(name + n - 4, ".crl") == 0, gp_err_set(GP_ERR_NOT_FOUND,
	    "CRLs are ca.crl, ca-delta.crl and root.crl"));
	memcpy(base, name, n - 4);
	base[n - 4] = '\0';
	ENSURE((c = instance_crl_find(base)) != NULL, gp_err_set(
	    GP_ERR_NOT_FOUND, "CRLs are ca.crl, ca-delta.crl and root.crl"));
	ENSURE((path = instance_crl_path(rq->srv->inst, c)) != NULL,
	    GP_ERR_NOMEM);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ENSURE(fd >= 0, gp_err_set(errno == ENOENT ? GP_ERR_NOT_FOUND :
	    GP_ERR_IO, "CRL %s: not generated yet", base));
	ENSURE(fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
	    sb.st_size < SRV_CRL_MAX_BYTES, gp_err_set(GP_ERR_IO, "CRL %s: "
	    "unreadable", base));
	/* The file is renamed over, never rewritten, so this fd keeps
	 * serving one complete CRL. MHD closes it. */
	resp = MHD_create_response_from_fd((uint64_t)sb.st_size, fd);
	ENSURE(resp != NULL, GP_ERR_NOMEM);
	fd = -1; /* transferred */
	if (rq->resp != NULL)
		MHD_destroy_response(rq->resp);
	rq->resp = resp;
	rq->resp_status = 200;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/pkix-crl");
	srv_http_date((int64_t)sb.st_mtime, date, sizeof(date));
	MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, date);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-cache");
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return r;
}

static const char *const srv_crl_names[] = {"ca", "ca-delta", "root",
    NULL};
static const struct srv_qparam srv_crl_query[1] = {
	{"ca", SRV_Q_ENUM, 0, 0, 0, srv_crl_names, NULL},
};

/* POST /api/v1/crl?ca=<ca|ca-delta|root> (officer). */
int
srv_h_crl_generate(struct srv_req *rq, const char *url)
{
	struct srv_qvalue v[1];
	const char *which = "ca";
	const struct instance_crl *c;
	struct ca_crl_info info;
	int r;

	GUARD(srv_query_parse(rq, srv_crl_query, 1, v));
	if (v[0].set)
		which = v[0].s;
	ENSURE((c = instance_crl_find(which)) != NULL, gp_err_set(
	    GP_ERR_INVALID, "ca: must be \"ca\", \"ca-delta\" or \"root\""));
	GUARD(srv_crl_make(rq->srv->inst, c, rq->who != NULL ?
	    rq->who->actor : "unknown", rq->who != NULL ? rq->who->role :
	    "unknown", rq->request_id, rq->client, NULL, &info));
	srv_metrics_signature(c->issuer);
	GUARD(srv_reply_json(rq, 200, json_pack("{s:s, s:I, s:I, s:I, s:I, "
	    "s:I}", "ca", which, "number", (json_int_t)info.number, "entries",
	    (json_int_t)info.entries, "this_update",
	    (json_int_t)info.this_update, "next_update",
	    (json_int_t)info.next_update, "bytes", (json_int_t)info.bytes)));
	r = 0;
out:
	return r;
}
