/*
 * srv_ca.c: the certificate authority on the admin listener; every route
 * here is the security officer's (srv_route.c), so the dispatcher has
 * already refused, with 403 and an audit record, every other role. The
 * auditor only reads the audit log and the sysadmin only configuration and
 * health: neither reads certificates here.
 *
 *   POST /api/v1/certificates                     issue (201) or, under a
 *                                                 dual-control profile,
 *                                                 record a request (202)
 *   GET  /api/v1/certificates?uscc=&id_number=&status=&profile=&after=&limit=
 *   GET  /api/v1/certificates/<serial>
 *   POST /api/v1/certificates/<serial>/revoke     {"reason":..,
 *                                                  "invalidity_date":..}
 *   POST /api/v1/certificates/<serial>/hold
 *   POST /api/v1/certificates/<serial>/release
 *   GET  /api/v1/requests?profile=&requester=&status=&after=&limit=
 *   GET  /api/v1/requests/<id>                    what approving would issue
 *   POST /api/v1/requests/<id>/approve            a second person
 *   POST /api/v1/requests/<id>/refuse             {"reason":..}
 *   GET  /api/v1/profiles
 *
 * The work is done by ca/ (ca_issue, ca_request_approve, ca_revoke ...),
 * the same functions the CLI calls; this file parses, maps errors and
 * replies. Query strings go through srv_query.c (anything it does not
 * declare is a 400). Reads are audited (audit_log, group-committed).
 * Issuance does
 * not hold a worker thread during its commit: ca_issue_start() signs, and
 * the reply waits for ca_issue_commit_async() through srv_hold().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca/ca.h"
#include "server/internal.h"

#define SRV_CA_LIST_DEFAULT 100
#define SRV_SERIAL_MAX 40    /* hex digits: 20 octets, RFC 5280 4.1.2.2 */
#define SRV_REQID_LEN 32
#define SRV_REASON_MAX 256   /* characters of a refusal's reason */

int
srv_ca_init(struct srv *s)
{
	struct instance *inst = s->inst;
	size_t i;
	int r;

	/* A bad profile stops start-up, naming the file, field and reason. */
	memset(&s->ca, 0, sizeof(s->ca));
	GUARD(ca_profiles_load(inst->cfg, &s->profiles));
	s->ca.cfg = inst->cfg;
	s->ca.profiles = s->profiles;
	s->ca.st = inst->st;
	s->ca.audit = inst->audit;
	for (i = 0; i < GP_KEY_COUNT; i++) {
		s->ca.cert[i] = inst->cert[i];
		s->ca.key[i] = inst->key[i];
	}
	gp_log(GP_LOG_INFO, "server: %zu certificate profiles from %s",
	    ca_profiles_count(s->profiles), inst->cfg->profiles_dir);
	r = 0;
out:
	return r;
}

void
srv_ca_free(struct srv *s)
{
	ca_profiles_free(s->profiles);
	s->profiles = NULL;
	memset(&s->ca, 0, sizeof(s->ca));
}

void
srv_ca_actor(struct srv_req *rq, struct ca_actor *who)
{
	memset(who, 0, sizeof(*who));
	who->actor = rq->who->actor;
	who->role = rq->who->role;
	who->person = &rq->who->person;
	who->request_id = rq->request_id;
	who->client = rq->client;
}

/* The request body as a JSON object (NULL when the body is empty and
 * |optional|). Duplicate keys are refused: they would let two readers see
 * two different requests. */
int
srv_ca_body(struct srv_req *rq, int optional, json_t **out)
{
	json_error_t jerr;

	*out = NULL;
	if (rq->body_len == 0) {
		if (optional)
			return 0;
		return gp_err_set(GP_ERR_INVALID, "body: a JSON object is "
		    "required");
	}
	*out = json_loadb((const char *)rq->body, rq->body_len,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (*out == NULL)
		return gp_err_set(GP_ERR_INVALID, "body: not JSON (line %d: "
		    "%s)", jerr.line, jerr.text);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return gp_err_set(GP_ERR_INVALID, "body: must be a JSON "
		    "object");
	}
	return 0;
}

int
srv_ca_known(json_t *o, const char *const *known)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach(o, k, v) {
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(known[i], k) == 0)
				break;
		if (known[i] == NULL)
			return gp_err_set(GP_ERR_INVALID, "%.64s: unknown field",
			    k);
	}
	return 0;
}

static int
srv_ca_reply_issued(struct srv_req *rq, const struct ca_issue_result *res)
{
	char link[96];

	if (res->pending) {
		snprintf(link, sizeof(link), "/api/v1/requests/%s/approve",
		    res->request_id);
		return srv_reply_json(rq, 202, json_pack("{s:s, s:s, s:s, s:s, "
		    "s:s}", "request_id", res->request_id, "status", "pending",
		    "profile", res->profile, "approve", link, "message",
		    "dual control: another person, an officer or the local "
		    "operator, must approve"));
	}
	srv_metrics_signature("ca");
	return srv_reply_json(rq, 201, json_pack("{s:s, s:s, s:s, s:s, s:I, "
	    "s:I}", "serial", res->serial, "certificate", res->cert_pem,
	    "profile", res->profile, "status", "good", "not_before",
	    (json_int_t)res->not_before, "not_after",
	    (json_int_t)res->not_after));
}

/* The certificate of a held 201 could not be stored (its failure is
 * audited): the client gets the error ca_issue() would have returned. */
static int
srv_ca_commit_failed(struct srv_req *rq)
{
	return srv_reply_error(rq, server_http_status(rq->audit_r),
	    rq->audit_r, rq->audit_err);
}

/* POST /api/v1/certificates: everything up to the signature runs here;
 * the commit of the certificate and its record joins the audit writer's
 * group commit, and the reply is held until it is durable (srv_hold). */
int
srv_h_ca_issue(struct srv_req *rq, const char *url)
{
	static const char *const known[] = {"profile", "csr", "subject",
	    "san", "validity_days", NULL};
	struct ca_actor who;
	struct ca_issue_req req;
	struct ca_issue_result res;
	ca_issue_job *job = NULL;
	json_t *body = NULL, *v;
	int r;

	memset(&res, 0, sizeof(res));
	memset(&req, 0, sizeof(req));
	srv_ca_actor(rq, &who);
	GUARD(srv_ca_body(rq, 0, &body));
	GUARD(srv_ca_known(body, known));
	req.profile = json_string_value(json_object_get(body, "profile"));
	ENSURE(req.profile != NULL, gp_err_set(GP_ERR_INVALID, "profile: "
	    "required (a string)"));
	v = json_object_get(body, "csr");
	ENSURE(json_is_string(v), gp_err_set(GP_ERR_INVALID, "csr: required "
	    "(PEM text)"));
	req.csr_pem = json_string_value(v);
	req.csr_len = json_string_length(v);
	req.subject = json_object_get(body, "subject");
	req.san = json_object_get(body, "san");
	v = json_object_get(body, "validity_days");
	if (v != NULL) {
		ENSURE(json_is_integer(v) && json_integer_value(v) > 0,
		    gp_err_set(GP_ERR_INVALID, "validity_days: a positive "
		    "integer"));
		req.validity_days = json_integer_value(v);
	}
	GUARD(ca_issue_start(&rq->srv->ca, &who, &req, &res, &job));
	if (job == NULL) {
		r = srv_ca_reply_issued(rq, &res); /* 202: dual control */
		goto out;
	}
	if ((r = srv_ca_reply_issued(rq, &res)) != 0) {
		ca_issue_job_free(job); /* audited: signed, never stored */
		goto out;
	}
	/* The 201 waits, without holding this worker thread, until the
	 * certificate row and its record are durable; if they cannot be
	 * stored, the error replaces it. */
	ca_issue_commit_async(job, srv_hold_done,
	    srv_hold(rq, srv_ca_commit_failed));
	r = 0;
out:
	ca_issue_result_clear(&res);
	json_decref(body);
	return r;
}

static int
srv_ca_serial_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > SRV_SERIAL_MAX || (s[0] == '0' && len > 1))
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Splits "<prefix><id>[/<action>]" into id and action. */
static int
srv_ca_split(const char *url, const char *prefix, char *id, size_t id_len,
    const char **out_action)
{
	const char *p = url + strlen(prefix), *slash = strchr(p, '/');
	size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);

	*out_action = slash != NULL ? slash + 1 : NULL;
	if (n == 0 || n >= id_len)
		return gp_err_set(GP_ERR_NOT_FOUND, "no such object");
	memcpy(id, p, n);
	id[n] = '\0';
	return 0;
}

static int
srv_ca_read_audit(struct srv_req *rq, const char *op, const char *object,
    json_t *details)
{
	return srv_audit(rq, op, object, "success", details);
}

/* GET /api/v1/certificates/<serial> */
int
srv_h_ca_show(struct srv_req *rq, const char *url)
{
	char serial[SRV_SERIAL_MAX + 2];
	const char *action;
	struct store_cert c;
	json_t *o = NULL;
	int r;

	memset(&c, 0, sizeof(c));
	GUARD(srv_ca_split(url, "/api/v1/certificates/", serial,
	    sizeof(serial), &action));
	ENSURE(action == NULL, gp_err_set(GP_ERR_NOT_FOUND, "no such path"));
	ENSURE(srv_ca_serial_ok(serial, strlen(serial)),
	    gp_err_set(GP_ERR_INVALID, "serial: lower-case hex without "
	    "leading zeros, at most %d digits", SRV_SERIAL_MAX));
	GUARD(store_cert_get(rq->srv->inst->st, serial, &c));
	ENSURE((o = ca_cert_json(&c, 1)) != NULL, GP_ERR_NOMEM);
	GUARD(ca_cert_history_json(rq->srv->inst->st, serial, o));
	GUARD(srv_ca_read_audit(rq, "cert.show", serial, NULL));
	r = srv_reply_json(rq, 200, o);
	o = NULL; /* transferred */
out:
	json_decref(o);
	store_cert_clear(&c);
	return r;
}

static int
srv_ca_serial_check(const char *field, const char *v)
{
	if (!srv_ca_serial_ok(v, strlen(v)))
		return gp_err_set(GP_ERR_INVALID, "%s: a serial (lower-case hex "
		    "without leading zeros, at most %d digits)", field,
		    SRV_SERIAL_MAX);
	return 0;
}

static int
srv_ca_profile_check(const char *field, const char *v)
{
	size_t i;

	for (i = 0; v[i] != '\0'; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') ||
		    (v[i] >= '0' && v[i] <= '9') || v[i] == '-'))
			return gp_err_set(GP_ERR_INVALID, "%s: a profile name "
			    "(a-z, 0-9 and -)", field);
	return 0;
}

static int
srv_ca_reqid_check(const char *field, const char *v)
{
	if (!ca_request_id_ok(v))
		return gp_err_set(GP_ERR_INVALID, "%s: a request id (%d "
		    "lower-case hex digits)", field, SRV_REQID_LEN);
	return 0;
}

/* The query of GET /api/v1/certificates, in this order. */
enum { SRV_CQ_USCC, SRV_CQ_ID, SRV_CQ_STATUS, SRV_CQ_PROFILE, SRV_CQ_AFTER,
    SRV_CQ_LIMIT, SRV_CQ_N };

static const char *const srv_cert_status[] = {"good", "hold", "revoked",
    NULL};

static const struct srv_qparam srv_cert_query[SRV_CQ_N] = {
	{"uscc", SRV_Q_TEXT, 18, 0, 0, NULL, ca_uscc_check},
	{"id_number", SRV_Q_TEXT, 18, 0, 0, NULL, ca_resident_id_check},
	{"status", SRV_Q_ENUM, 0, 0, 0, srv_cert_status, NULL},
	{"profile", SRV_Q_TEXT, 64, 0, 0, NULL, srv_ca_profile_check},
	{"after", SRV_Q_TEXT, SRV_SERIAL_MAX, 0, 0, NULL,
	    srv_ca_serial_check},
	{"limit", SRV_Q_INT, 0, 1, STORE_FIND_MAX, NULL, NULL},
};

/* GET /api/v1/certificates?uscc=&id_number=&status=&profile=&after=&limit= */
int
srv_h_ca_list(struct srv_req *rq, const char *url)
{
	struct store_cert_query q;
	struct store_cert *list = NULL;
	struct srv_qvalue v[SRV_CQ_N];
	size_t n = 0, i;
	json_t *arr = NULL, *details = NULL, *reply = NULL;
	char *masked = NULL;
	int r;

	memset(&q, 0, sizeof(q));
	GUARD(srv_query_parse(rq, srv_cert_query, SRV_CQ_N, v));
	q.uscc = v[SRV_CQ_USCC].s;
	q.id_number = v[SRV_CQ_ID].s;
	q.status = v[SRV_CQ_STATUS].s;
	q.profile = v[SRV_CQ_PROFILE].s;
	q.after = v[SRV_CQ_AFTER].s;
	q.limit = v[SRV_CQ_LIMIT].set ? v[SRV_CQ_LIMIT].i :
	    SRV_CA_LIST_DEFAULT;
	GUARD(store_cert_find(rq->srv->inst->st, &q, &list, &n));
	ENSURE((arr = json_array()) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < n; i++)
		ENSURE(json_array_append_new(arr, ca_cert_json(&list[i], 0)) ==
		    0, GP_ERR_NOMEM);
	/* The audit names the criteria, the ID number masked. */
	if (q.id_number != NULL)
		ENSURE((masked = gp_mask_id(q.id_number)) != NULL,
		    GP_ERR_NOMEM);
	ENSURE((details = json_pack("{s:s?, s:s?, s:s?, s:s?, s:I}", "uscc",
	    q.uscc, "id_number", masked, "status", q.status, "profile",
	    q.profile, "returned", (json_int_t)n)) != NULL, GP_ERR_NOMEM);
	GUARD(srv_ca_read_audit(rq, "cert.list", "certificates", details));
	reply = json_pack("{s:o, s:s?}", "certificates", arr, "next_after",
	    n == (size_t)q.limit && n > 0 ? list[n - 1].serial : NULL);
	arr = NULL; /* transferred, also on failure */
	ENSURE(reply != NULL, GP_ERR_NOMEM);
	r = srv_reply_json(rq, 200, reply);
	reply = NULL; /* transferred */
out:
	json_decref(reply);
	json_decref(arr);
	json_decref(details);
	store_cert_list_free(list, n);
	free(masked);
	return r;
}

/* RFC 5280 5.3.2 invalidityDate: Unix seconds, or "YYYY-MM-DDTHH:MM:SSZ". */
static int
srv_ca_time(json_t *v, int64_t *out)
{
	struct tm tm;
	const char *s, *end;

	*out = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) > 0) {
		*out = json_integer_value(v);
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if ((s = json_string_value(v)) != NULL &&
	    (end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) != NULL &&
	    *end == '\0') {
		*out = (int64_t)timegm(&tm);
		return 0;
	}
	return gp_err_set(GP_ERR_INVALID, "invalidity_date: Unix seconds or "
	    "YYYY-MM-DDTHH:MM:SSZ");
}

/* POST /api/v1/certificates/<serial>/revoke|hold|release */
int
srv_h_ca_status(struct srv_req *rq, const char *url)
{
	static const char *const known[] = {"reason", "invalidity_date",
	    NULL};
	char serial[SRV_SERIAL_MAX + 2];
	const char *action, *rname = "unspecified";
	struct ca_actor who;
	json_t *body = NULL, *v;
	int64_t inv = 0;
	int r, reason;

	srv_ca_actor(rq, &who);
	GUARD(srv_ca_split(url, "/api/v1/certificates/", serial,
	    sizeof(serial), &action));
	ENSURE(action != NULL && (strcmp(action, "revoke") == 0 ||
	    strcmp(action, "hold") == 0 || strcmp(action, "release") == 0),
	    gp_err_set(GP_ERR_NOT_FOUND, "no such path: POST "
	    "/api/v1/certificates/<serial>/revoke, hold or release"));
	ENSURE(srv_ca_serial_ok(serial, strlen(serial)),
	    gp_err_set(GP_ERR_INVALID, "serial: lower-case hex without "
	    "leading zeros, at most %d digits", SRV_SERIAL_MAX));
	GUARD(srv_ca_body(rq, 1, &body));
	if (strcmp(action, "revoke") == 0) {
		if (body != NULL) {
			GUARD(srv_ca_known(body, known));
			v = json_object_get(body, "reason");
			if (v != NULL) {
				ENSURE(json_is_string(v),
				    gp_err_set(GP_ERR_INVALID, "reason: a "
				    "string"));
				rname = json_string_value(v);
			}
			GUARD(srv_ca_time(json_object_get(body,
			    "invalidity_date"), &inv));
		}
		reason = ca_reason_code(rname);
		ENSURE(reason >= 0, gp_err_set(GP_ERR_INVALID, "reason: "
		    "\"%.40s\" is not an RFC 5280 CRLReason (keyCompromise, "
		    "cACompromise, affiliationChanged, superseded, "
		    "cessationOfOperation, privilegeWithdrawn, aACompromise, "
		    "unspecified)", rname));
		GUARD(ca_revoke(&rq->srv->ca, &who, serial, reason, inv));
	} else {
		ENSURE(body == NULL || json_object_size(body) == 0,
		    gp_err_set(GP_ERR_INVALID, "body: %s takes no fields",
		    action));
		if (strcmp(action, "hold") == 0)
			GUARD(ca_hold(&rq->srv->ca, &who, serial));
		else
			GUARD(ca_release(&rq->srv->ca, &who, serial));
	}
	r = srv_reply_json(rq, 200, json_pack("{s:s, s:s}", "serial", serial,
	    "status", strcmp(action, "revoke") == 0 ? "revoked" :
	    strcmp(action, "hold") == 0 ? "hold" : "good"));
out:
	json_decref(body);
	return r;
}

/* POST /api/v1/requests/<id>/approve and /refuse */
int
srv_h_ca_decide(struct srv_req *rq, const char *url)
{
	static const char *const known[] = {"reason", NULL};
	char id[SRV_REQID_LEN + 2];
	const char *action;
	struct ca_actor who;
	struct ca_issue_result res;
	json_t *body = NULL, *v;
	int r;

	memset(&res, 0, sizeof(res));
	srv_ca_actor(rq, &who);
	GUARD(srv_ca_split(url, "/api/v1/requests/", id, sizeof(id),
	    &action));
	ENSURE(action != NULL && (strcmp(action, "approve") == 0 ||
	    strcmp(action, "refuse") == 0), gp_err_set(GP_ERR_NOT_FOUND,
	    "no such path: POST /api/v1/requests/<id>/approve or refuse"));
	GUARD(srv_ca_reqid_check("request id", id));
	if (strcmp(action, "refuse") == 0) {
		GUARD(srv_ca_body(rq, 0, &body));
		GUARD(srv_ca_known(body, known));
		v = json_object_get(body, "reason");
		ENSURE(json_is_string(v), gp_err_set(GP_ERR_INVALID, "reason: "
		    "required, a string saying why (at most %d characters)",
		    SRV_REASON_MAX));
		ENSURE(json_string_length(v) == strlen(json_string_value(v)),
		    gp_err_set(GP_ERR_INVALID, "reason: holds a NUL"));
		GUARD(ca_request_refuse(&rq->srv->ca, &who, id,
		    json_string_value(v)));
		r = srv_reply_json(rq, 200, json_pack("{s:s, s:s}",
		    "request_id", id, "status", "refused"));
		goto out;
	}
	GUARD(srv_ca_body(rq, 1, &body));
	ENSURE(body == NULL || json_object_size(body) == 0,
	    gp_err_set(GP_ERR_INVALID, "body: approve takes no fields"));
	GUARD(ca_request_approve(&rq->srv->ca, &who, id, &res));
	r = srv_ca_reply_issued(rq, &res);
out:
	json_decref(body);
	ca_issue_result_clear(&res);
	return r;
}

/* GET /api/v1/requests/<id> */
int
srv_h_ca_request(struct srv_req *rq, const char *url)
{
	char id[SRV_REQID_LEN + 2];
	const char *action;
	json_t *o = NULL;
	int r;

	GUARD(srv_ca_split(url, "/api/v1/requests/", id, sizeof(id),
	    &action));
	ENSURE(action == NULL, gp_err_set(GP_ERR_NOT_FOUND, "no such path"));
	GUARD(srv_ca_reqid_check("request id", id));
	GUARD(ca_request_get(&rq->srv->ca, id, &o));
	GUARD(srv_ca_read_audit(rq, "cert.request.show", id, NULL));
	r = srv_reply_json(rq, 200, o);
	o = NULL; /* transferred */
out:
	json_decref(o);
	return r;
}

/* The query of GET /api/v1/requests, in this order. */
enum { SRV_RQ_PROFILE, SRV_RQ_REQUESTER, SRV_RQ_STATUS, SRV_RQ_AFTER,
    SRV_RQ_LIMIT, SRV_RQ_N };

static const char *const srv_request_status[] = {"pending", "approved",
    "refused", "failed", NULL};

static const struct srv_qparam srv_request_query[SRV_RQ_N] = {
	{"profile", SRV_Q_TEXT, 64, 0, 0, NULL, srv_ca_profile_check},
	{"requester", SRV_Q_TEXT, CA_PERSON_MAX, 0, 0, NULL, NULL},
	{"status", SRV_Q_ENUM, 0, 0, 0, srv_request_status, NULL},
	{"after", SRV_Q_TEXT, SRV_REQID_LEN, 0, 0, NULL, srv_ca_reqid_check},
	{"limit", SRV_Q_INT, 0, 1, STORE_FIND_MAX, NULL, NULL},
};

/* GET /api/v1/requests?profile=&requester=&status=&after=&limit= */
int
srv_h_ca_requests(struct srv_req *rq, const char *url)
{
	struct store_request_query q;
	struct srv_qvalue v[SRV_RQ_N];
	json_t *o = NULL, *details = NULL;
	int r;

	memset(&q, 0, sizeof(q));
	GUARD(srv_query_parse(rq, srv_request_query, SRV_RQ_N, v));
	q.profile = v[SRV_RQ_PROFILE].s;
	q.requester = v[SRV_RQ_REQUESTER].s;
	q.status = v[SRV_RQ_STATUS].s;
	q.after = v[SRV_RQ_AFTER].s;
	q.limit = v[SRV_RQ_LIMIT].set ? v[SRV_RQ_LIMIT].i :
	    SRV_CA_LIST_DEFAULT;
	GUARD(ca_request_list(&rq->srv->ca, &q, &o));
	ENSURE((details = json_pack("{s:s?, s:s?, s:s?, s:I}", "profile",
	    q.profile, "requester", q.requester, "status", q.status,
	    "returned", (json_int_t)json_array_size(json_object_get(o,
	    "requests")))) != NULL, GP_ERR_NOMEM);
	GUARD(srv_ca_read_audit(rq, "cert.request.list", "requests",
	    details));
	r = srv_reply_json(rq, 200, o);
	o = NULL; /* transferred */
out:
	json_decref(o);
	json_decref(details);
	return r;
}

/* GET /api/v1/profiles */
int
srv_h_ca_profiles(struct srv_req *rq, const char *url)
{
	json_t *arr;
	size_t i;

	if ((arr = json_array()) == NULL)
		return GP_ERR_NOMEM;
	for (i = 0; i < ca_profiles_count(rq->srv->profiles); i++)
		json_array_append_new(arr, ca_profile_json(ca_profiles_at(
		    rq->srv->profiles, i)));
	return srv_reply_json(rq, 200, json_pack("{s:o}", "profiles", arr));
}
