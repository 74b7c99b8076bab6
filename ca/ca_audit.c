/*
 * ca_audit.c: how ca/ records what it refuses and what fails, and the one
 * rule it follows (ca/internal.h): a failure is audited exactly once, by
 * the public entry point the caller called, at its single exit, under the
 * operation the caller asked for, "denied" for GP_ERR_DENIED and "failure"
 * for anything else; nothing below an entry point audits. A success is
 * recorded in the transaction of the state change it describes, which
 * ca_commit_record() ends.
 */
#include <stdio.h>
#include <string.h>

#include "ca/internal.h"

void
ca_event(struct audit_event *ev, const struct ca_actor *who, const char *op,
    const char *object, const char *outcome, json_t *details)
{
	memset(ev, 0, sizeof(*ev));
	ev->actor = who != NULL ? who->actor : NULL;
	ev->role = who != NULL ? who->role : NULL;
	ev->op = op;
	ev->object = object;
	ev->outcome = outcome;
	ev->request_id = who != NULL ? who->request_id : NULL;
	ev->client = who != NULL ? who->client : NULL;
	ev->details = details;
}

int
ca_commit_record(store *st, audit *a, const struct audit_event *ev)
{
	int r;

	if ((r = audit_append_tx(a, ev, NULL)) != 0) {
		store_rollback(st);
		return r;
	}
	return store_commit(st);
}

json_t *
ca_refusal_details(json_t *details, int code, const char *detail)
{
	json_t *d = details;

	if (d == NULL)
		d = json_object();
	if (d != NULL) {
		json_object_set_new(d, "error", json_string(gp_err_name(code)));
		json_object_set_new(d, "reason", json_string(detail));
	}
	return d;
}

const char *
ca_fail_outcome(int code)
{
	return code == GP_ERR_DENIED ? "denied" : "failure";
}

/* The record itself; |outcome| as given. */
static int
ca_audit_record(audit *a, const struct ca_actor *who, const char *op,
    const char *object, const char *outcome, int code, json_t *details)
{
	struct audit_event ev;
	char detail[1024];
	json_t *d;

	/* Keep the failure's own detail: auditing may overwrite it. */
	snprintf(detail, sizeof(detail), "%s", gp_err_detail());
	d = ca_refusal_details(details, code, detail);
	ca_event(&ev, who, op, object != NULL ? object : "", outcome, d);
	if (a != NULL && audit_log(a, &ev) != 0)
		gp_log(GP_LOG_ERROR, "%s: cannot audit a failure: %s", op,
		    gp_err_detail());
	json_decref(d);
	gp_err_set(code, "%s", detail);
	return code;
}

int
ca_audit_fail(audit *a, const struct ca_actor *who, const char *op,
    const char *object, int code, json_t *details)
{
	return ca_audit_record(a, who, op, object, ca_fail_outcome(code), code,
	    details);
}

int
ca_audit_refusal(const struct ca_ctx *ca, const struct ca_actor *who,
    const char *op, const char *object, const char *outcome, int code,
    json_t *details)
{
	return ca_audit_record(ca != NULL ? ca->audit : NULL, who, op, object,
	    outcome, code, details);
}
