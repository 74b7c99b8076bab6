/*
 * srv_admin.c: the admin API handlers. The dispatcher has already
 * authenticated the caller (srv_auth.c) and checked the route's roles, so a
 * handler here only does its work. Reading the audit is itself an audited
 * operation: the record is written before the data is sent, and if it
 * cannot be written the data is not sent.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/x509.h>

#include "server/internal.h"

/* GET /api/v1/config (sysadmin): govpki.json as loaded. It holds no secret:
 * PINs live in files or the environment, keys on the token. */
int
srv_h_config(struct srv_req *rq, const char *url)
{
	json_t *cfg = gp_config_to_json(rq->srv->inst->cfg);

	if (cfg == NULL)
		return gp_err_set(GP_ERR_NOMEM, "serialising the configuration");
	return srv_reply_json(rq, 200, cfg);
}

struct srv_list_ctx {
	json_t *records;
	int64_t last;
};

static int
srv_list_row(void *arg, const struct store_audit_row *row)
{
	struct srv_list_ctx *lc = arg;
	json_t *o = audit_row_json(row);

	if (o == NULL || json_array_append_new(lc->records, o) != 0)
		return gp_err_set(GP_ERR_NOMEM, "audit record %" PRId64,
		    row->seq);
	lc->last = row->seq;
	return 0;
}

static const struct srv_qparam srv_audit_query[2] = {
	{"after", SRV_Q_INT, 0, 0, INT64_MAX, NULL, NULL},
	{"limit", SRV_Q_INT, 0, 1, SRV_AUDIT_LIMIT_MAX, NULL, NULL},
};

/* GET /api/v1/audit?after=<seq>&limit=<n> (auditor). */
int
srv_h_audit_list(struct srv_req *rq, const char *url)
{
	int r;
	struct srv_qvalue v[2];
	int64_t after = 0, limit = SRV_AUDIT_LIMIT_DEFAULT;
	struct srv_list_ctx lc = {NULL, 0};
	json_t *details = NULL, *reply = NULL;

	GUARD(srv_query_parse(rq, srv_audit_query, 2, v));
	if (v[0].set)
		after = v[0].i;
	if (v[1].set)
		limit = v[1].i;
	lc.records = json_array();
	ENSURE(lc.records != NULL, GP_ERR_NOMEM);
	lc.last = after;
	GUARD(store_audit_scan(rq->srv->inst->st, after, limit, srv_list_row,
	    &lc));

	details = json_pack("{s:I, s:I, s:I}", "after", (json_int_t)after,
	    "limit", (json_int_t)limit, "returned",
	    (json_int_t)json_array_size(lc.records));
	ENSURE(details != NULL, GP_ERR_NOMEM);
	GUARD(srv_audit(rq, "audit.list", "audit", "success", details));

	reply = json_pack("{s:o, s:I}", "records", lc.records, "next_after",
	    (json_int_t)lc.last);
	lc.records = NULL; /* transferred, also on failure */
	ENSURE(reply != NULL, GP_ERR_NOMEM);
	r = srv_reply_json(rq, 200, reply);
	reply = NULL; /* transferred */
out:
	json_decref(reply);
	json_decref(details);
	json_decref(lc.records);
	return r;
}

/* GET /api/v1/audit/verify (auditor): the whole chain, every checkpoint
 * signature and time-stamp, and the certificate rows' records, against the
 * instance root loaded at start (instance_audit_verify). A log that does
 * not verify is a 200 answer with "verified": false naming the first bad
 * record (the report of `govpki audit verify --json`); failing to read it
 * is an error. */
int
srv_h_audit_verify(struct srv_req *rq, const char *url)
{
	int r, v;
	struct audit_report rep;
	json_t *details = NULL, *reply = NULL;
	X509 *root = rq->srv->inst->cert[GP_KEY_ROOT];

	memset(&rep, 0, sizeof(rep));
	if (root == NULL) {
		r = gp_err_set(GP_ERR_CONFIG, "certs/root.pem is missing");
		goto out;
	}
	v = instance_audit_verify(rq->srv->inst, root, &rep);
	if (v != 0 && v != GP_ERR_TAMPERED) {
		r = v;
		goto out;
	}
	details = json_pack("{s:b, s:I}", "verified", v == 0,
	    "first_bad_seq", (json_int_t)rep.first_bad_seq);
	ENSURE(details != NULL, GP_ERR_NOMEM);
	GUARD(srv_audit(rq, "audit.verify", "audit", "success", details));

	rep.reason[sizeof(rep.reason) - 1] = '\0';
	ENSURE((reply = audit_report_json(&rep, v == 0)) != NULL,
	    GP_ERR_NOMEM);
	r = srv_reply_json(rq, 200, reply);
	reply = NULL; /* transferred */
out:
	json_decref(reply);
	json_decref(details);
	return r;
}
