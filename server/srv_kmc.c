/*
 * srv_kmc.c: judicial recovery of a holder's escrowed keys on the admin
 * listener, the security officer's routes (srv_route.c), under dual
 * control between persons (kmc/kmc_recover.c):
 *
 *   POST /api/v1/recoveries                 {"holder":{"uscc"|"id_number"},
 *                                            "agent_certificate": PEM,
 *                                            "reason": text} -> 202
 *   GET  /api/v1/recoveries/<id>            what approving would export
 *   POST /api/v1/recoveries/<id>/approve    another person: 200 with the
 *                                           keys enveloped to the agent
 *   POST /api/v1/recoveries/<id>/refuse     {"reason": text}
 *
 * Every outcome is recorded by kmc/; reads as "kmc.recovery.show".
 */
#include <stdio.h>
#include <string.h>

#include "server/internal.h"

#define SRV_RECOVERY_PREFIX "/api/v1/recoveries/"

int
srv_h_recovery_create(struct srv_req *rq, const char *url)
{
	static const char *const known[] = {"holder", "agent_certificate",
	    "reason", NULL};
	struct ca_actor who;
	json_t *body = NULL, *v;
	char id[33];
	int r;

	(void)url;
	srv_ca_actor(rq, &who);
	GUARD(srv_ca_body(rq, 0, &body));
	GUARD(srv_ca_known(body, known));
	v = json_object_get(body, "agent_certificate");
	ENSURE(json_is_string(v), gp_err_set(GP_ERR_INVALID,
	    "agent_certificate: required (the recovery agent's PEM "
	    "certificate)"));
	ENSURE(json_object_get(body, "reason") == NULL ||
	    json_is_string(json_object_get(body, "reason")),
	    gp_err_set(GP_ERR_INVALID, "reason: a string"));
	GUARD(kmc_recovery_request(rq->srv->kmc, &who, json_object_get(body,
	    "holder"), json_string_value(v), json_string_length(v),
	    json_string_value(json_object_get(body, "reason")), id));
	r = srv_reply_json(rq, 202, json_pack("{s:s, s:s, s:s}", "id", id,
	    "status", "pending", "message", "dual control: another officer "
	    "approves at /api/v1/recoveries/<id>/approve"));
out:
	json_decref(body);
	return r;
}

/* GET /api/v1/recoveries/<id> and POST .../approve|refuse. */
static int
srv_recovery_id(const char *url, char id[33], const char **out_action)
{
	const char *p = url + strlen(SRV_RECOVERY_PREFIX);
	size_t n = strcspn(p, "/");

	*out_action = p[n] == '/' ? p + n + 1 : NULL;
	if (n != 32 || strspn(p, "0123456789abcdef") < 32)
		return gp_err_set(GP_ERR_NOT_FOUND, "no such recovery (an id is "
		    "32 lower-case hex digits)");
	memcpy(id, p, 32);
	id[32] = '\0';
	return 0;
}

int
srv_h_recovery_show(struct srv_req *rq, const char *url)
{
	const char *action;
	char id[33];
	json_t *o = NULL;
	int r;

	GUARD(srv_recovery_id(url, id, &action));
	ENSURE(action == NULL, gp_err_set(GP_ERR_NOT_FOUND, "no such path"));
	GUARD(kmc_recovery_get(rq->srv->kmc, id, &o));
	GUARD(srv_audit(rq, "kmc.recovery.show", id, "success", NULL));
	r = srv_reply_json(rq, 200, o);
	o = NULL; /* transferred */
out:
	json_decref(o);
	return r;
}

int
srv_h_recovery_decide(struct srv_req *rq, const char *url)
{
	static const char *const known[] = {"reason", NULL};
	struct ca_actor who;
	const char *action;
	char id[33];
	json_t *body = NULL, *o = NULL;
	int r;

	srv_ca_actor(rq, &who);
	GUARD(srv_recovery_id(url, id, &action));
	if (action != NULL && strcmp(action, "approve") == 0) {
		GUARD(srv_ca_body(rq, 1, &body));
		ENSURE(body == NULL || json_object_size(body) == 0,
		    gp_err_set(GP_ERR_INVALID, "approve takes no field"));
		GUARD(kmc_recovery_approve(rq->srv->kmc, &who, id, &o));
		r = srv_reply_json(rq, 200, o);
		o = NULL; /* transferred */
	} else if (action != NULL && strcmp(action, "refuse") == 0) {
		GUARD(srv_ca_body(rq, 0, &body));
		GUARD(srv_ca_known(body, known));
		GUARD(kmc_recovery_refuse(rq->srv->kmc, &who, id,
		    json_string_value(json_object_get(body, "reason"))));
		r = srv_reply_json(rq, 200, json_pack("{s:s, s:s}", "id", id,
		    "status", "refused"));
	} else {
		r = gp_err_set(GP_ERR_NOT_FOUND, "no such path (approve or "
		    "refuse)");
	}
out:
	json_decref(o);
	json_decref(body);
	return r;
}
