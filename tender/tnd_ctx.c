/*
 * tnd_ctx.c: what every step of tendering shares: ids, paths under
 * DIR/tenders, the audit record of a step, a tender's spec and events,
 * the trusted time (a fresh time-stamp of the instance TSA), seal
 * signatures over JSON, and refusals as JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signer/signer.h"
#include "tender/internal.h"

int
tender_id_ok(const char *id)
{
	size_t i;

	if (id == NULL || strlen(id) != TENDER_ID_LEN)
		return 0;
	for (i = 0; i < TENDER_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'f')))
			return 0;
	return 1;
}

int
tnd_new_id(char out[TENDER_ID_LEN + 1])
{
	uint8_t rnd[TENDER_ID_LEN / 2];
	size_t i;
	int r;

	GUARD(gp_random(rnd, sizeof(rnd)));
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(out + 2 * i, 3, "%02x", rnd[i]);
	r = 0;
out:
	return r;
}

void
tnd_hex32(const uint8_t md[32], char out[65])
{
	size_t i;

	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

char *
tnd_path(const struct tender_ctx *tc, const char *id, const char *sub)
{
	char *p = NULL;

	if (sub != NULL)
		return asprintf(&p, "%s/tenders/%s/%s", tc->cfg->dir, id, sub) <
		    0 ? NULL : p;
	return asprintf(&p, "%s/tenders/%s", tc->cfg->dir, id) < 0 ? NULL : p;
}

void
tnd_event_of(struct audit_event *ev, const struct ca_actor *who,
    const char *op, const char *object, const char *outcome, json_t *details)
{
	memset(ev, 0, sizeof(*ev));
	ev->actor = who != NULL && who->actor != NULL ? who->actor :
	    "anonymous";
	ev->role = who != NULL && who->role != NULL ? who->role : "public";
	ev->op = op;
	ev->object = object;
	ev->outcome = outcome;
	ev->request_id = who != NULL ? who->request_id : NULL;
	ev->client = who != NULL ? who->client : NULL;
	ev->details = details;
}

int
tnd_audit(const struct tender_ctx *tc, const struct ca_actor *who,
    const char *op, const char *object, const char *outcome, json_t *details)
{
	struct audit_event ev;

	tnd_event_of(&ev, who, op, object, outcome, details);
	return audit_log(tc->audit, &ev);
}

int
tnd_status_code(unsigned int status)
{
	switch (status) {
	case 403:
		return GP_ERR_DENIED;
	case 404:
		return GP_ERR_NOT_FOUND;
	case 409:
		return GP_ERR_CONFLICT;
	case 413:
		return GP_ERR_TOO_LARGE;
	case 500:
		return GP_ERR_INTERNAL;
	case 503:
		return GP_ERR_BUSY;
	default:
		return GP_ERR_INVALID;
	}
}

void
tnd_fail_audit(const struct tender_ctx *tc, const struct ca_actor *who,
    const char *op, const char *id, int r)
{
	char why[600];
	json_t *d;

	snprintf(why, sizeof(why), "%s", gp_err_detail());
	d = json_pack("{s:s}", "error", why);
	if (tnd_audit(tc, who, op, tender_id_ok(id) ? id : "unknown",
	    r == GP_ERR_DENIED || r == GP_ERR_CONFLICT ? "denied" : "failure",
	    d) != 0)
		gp_log(GP_LOG_ERROR, "%s: cannot audit a refusal: %s", op,
		    gp_err_detail());
	json_decref(d);
	gp_err_set(r, "%s", why);
}

void
tnd_refusal_audit(const struct tender_ctx *tc, const struct ca_actor *who,
    const char *op, const char *id, const struct tender_refusal *why,
    json_t *extra)
{
	json_t *d = json_pack("{s:s, s:s}", "rule", why->rule, "message",
	    why->message);

	if (d != NULL && extra != NULL)
		json_object_update(d, extra);
	if (tnd_audit(tc, who, op, tender_id_ok(id) ? id : "unknown",
	    why->status >= 500 ? "failure" : "denied", d) != 0)
		gp_log(GP_LOG_ERROR, "%s: cannot audit a refusal: %s", op,
		    gp_err_detail());
	json_decref(d);
}

int
tnd_tender_load(const struct tender_ctx *tc, const char *id,
    struct store_tender *out, struct tender_refusal *why)
{
	int r;

	memset(out, 0, sizeof(*out));
	if (!tender_id_ok(id))
		return tnd_refuse(why, "unknown_tender", 404, "no tender %.64s",
		    id != NULL ? id : "");
	r = store_tender_get(tc->st, id, out);
	if (r == GP_ERR_NOT_FOUND)
		return tnd_refuse(why, "unknown_tender", 404, "no tender %.64s",
		    id);
	return r;
}

json_t *
tnd_spec(const struct store_tender *t)
{
	json_t *j = t->spec != NULL ? json_loads(t->spec, 0, NULL) : NULL;

	if (j == NULL || !json_is_object(j)) {
		json_decref(j);
		return json_object();
	}
	return j;
}

void
tnd_events_clear(struct tnd_events *ev)
{
	store_tender_event_clear(&ev->request);
	store_tender_event_clear(&ev->approve);
	store_tender_event_clear(&ev->opened);
	store_tender_event_clear(&ev->window);
	ev->flags = 0;
}

/* Keeps a copy of the events the gate and the state need. */
static int
tnd_event_keep(void *arg, const struct store_tender_event *e)
{
	struct tnd_events *ev = arg;
	struct store_tender_event *dst = NULL;
	unsigned int flag = 0;

	if (strcmp(e->event, "open_request") == 0) {
		dst = &ev->request;
		flag = TENDER_EV_REQUEST;
	} else if (strcmp(e->event, "open_approve") == 0) {
		dst = &ev->approve;
		flag = TENDER_EV_APPROVE;
	} else if (strcmp(e->event, "opened") == 0) {
		dst = &ev->opened;
		flag = TENDER_EV_OPENED;
	} else if (strcmp(e->event, "window_open") == 0) {
		dst = &ev->window;
		flag = TENDER_EV_WINDOW;
	}
	if (dst == NULL)
		return 0;
	store_tender_event_clear(dst);
	dst->id = e->id;
	dst->time_ms = e->time_ms;
	dst->created_ms = e->created_ms;
	if ((e->tender_id && !(dst->tender_id = strdup(e->tender_id))) ||
	    (e->event && !(dst->event = strdup(e->event))) ||
	    (e->actor && !(dst->actor = strdup(e->actor))) ||
	    (e->person && !(dst->person = strdup(e->person))) ||
	    (e->person_idn && !(dst->person_idn = strdup(e->person_idn))) ||
	    (e->details && !(dst->details = strdup(e->details))))
		return GP_ERR_NOMEM;
	ev->flags |= flag;
	return 0;
}

int
tnd_events_load(const struct tender_ctx *tc, const char *id,
    struct tnd_events *out)
{
	memset(out, 0, sizeof(*out));
	return store_tender_event_scan(tc->st, id, tnd_event_keep, out);
}

int
tnd_trusted_now(const struct tender_ctx *tc, const char *what,
    const char *id, int64_t *out_ms)
{
	struct tsa_result res;
	uint8_t md[32], *tst = NULL;
	size_t tst_len = 0;
	EVP_MD_CTX *mc = NULL;
	int r = GP_ERR_INTERNAL;

	*out_ms = 0;
	ENSURE(tc->tsa != NULL, gp_err_set(GP_ERR_UNSUPPORTED, "the instance "
	    "TSA is not running: no trusted time"));
	ENSURE((mc = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestInit_ex(mc, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(mc, "govpki-tender", 13) == 1 &&
	    EVP_DigestUpdate(mc, what, strlen(what)) == 1 &&
	    EVP_DigestUpdate(mc, id, strlen(id)) == 1 &&
	    EVP_DigestFinal_ex(mc, md, NULL) == 1, gp_err_ssl(GP_ERR_CRYPTO,
	    "SHA-256"));
	/* The TSA's clock guard refuses when the clock is not trusted
	 * (unsynchronised, stepped back): then nothing opens. */
	r = tsa_stamp_digest(tc->tsa, md, &tst, &tst_len, &res);
	if (r != 0) {
		r = gp_err_set(r == GP_ERR_BUSY ? GP_ERR_BUSY : r, "no trusted "
		    "time: %s", gp_err_detail());
		goto out;
	}
	*out_ms = res.gen_time_ms;
	r = 0;
out:
	free(tst);
	EVP_MD_CTX_free(mc);
	return r;
}

/* The instance TSA answering in process (B-T of records). */
static int
tnd_tsa_fn(void *arg, const uint8_t *req, size_t req_len, uint8_t **out,
    size_t *out_len)
{
	tsa *t = arg;
	struct tsa_result res;
	int r;

	r = tsa_respond(t, req, req_len, out, out_len, &res);
	if (r == 0 && !res.granted) {
		OPENSSL_free(*out);
		*out = NULL;
		return gp_err_set(GP_ERR_BUSY, "the TSA refused: %s",
		    res.reason);
	}
	return r;
}

int
tnd_seal_json(const struct tender_ctx *tc, json_t *doc, int stamp,
    uint8_t **out, size_t *out_len)
{
	struct sig_signer sg;
	struct sig_sign_req sr;
	struct sig_tsa ts;
	char *text = NULL;
	int r;

	*out = NULL;
	*out_len = 0;
	ENSURE(tc->seal_key != NULL && tc->seal_cert != NULL,
	    gp_err_set(GP_ERR_LOGIN_REQUIRED, "the instance seal is not "
	    "loaded (tender.seal)"));
	ENSURE((text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS)) != NULL,
	    GP_ERR_NOMEM);
	memset(&sg, 0, sizeof(sg));
	sg.key = tc->seal_key;
	sg.cert = tc->seal_cert;
	sg.chain = tc->seal_chain;
	memset(&sr, 0, sizeof(sr));
	sr.signer = &sg;
	sr.content = (const uint8_t *)text;
	sr.content_len = strlen(text);
	sr.attached = 1;
	if (stamp) {
		memset(&ts, 0, sizeof(ts));
		ts.fn = tnd_tsa_fn;
		ts.arg = tc->tsa;
		sr.tsa = &ts;
	}
	GUARD(sig_sign(&sr, out, out_len, NULL));
	r = 0;
out:
	free(text);
	return r;
}

json_t *
tender_refusal_json(const struct tender_refusal *why)
{
	json_t *e;
	char t[40];
	int code = tnd_status_code(why->status);

	e = json_pack("{s:s, s:s, s:s}", "code", gp_err_name(code), "rule",
	    why->rule != NULL ? why->rule : "refused", "message", why->message);
	if (e != NULL && why->arrival_ms > 0) {
		tender_time_fmt(why->arrival_ms, t, sizeof(t));
		json_object_set_new(e, "arrival", json_string(t));
	}
	if (e != NULL && why->deadline_ms > 0) {
		tender_time_fmt(why->deadline_ms, t, sizeof(t));
		json_object_set_new(e, "deadline", json_string(t));
	}
	return json_pack("{s:o}", "error", e);
}
