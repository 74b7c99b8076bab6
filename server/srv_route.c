/*
 * srv_route.c: the route table. One row per endpoint: listener, method,
 * path (exact, or a prefix ending in '/'), handler and, on the admin
 * listener, the roles allowed. Later features (CA, TSA, OCSP, CRL) add rows
 * here and a handler in their own srv_*.c; nothing else changes.
 *
 * The admin roles follow the three-way split of powers: the sysadmin runs
 * the system, the officer issues and revokes, the auditor reads the audit.
 * No row gives one role both an operation and the audit that records it.
 */
#include <stdio.h>
#include <string.h>

#include "server/internal.h"

static const struct srv_route srv_routes[] = {
	/* public */
	{SRV_PUBLIC, "GET", "/healthz", 0, srv_h_healthz, 0, 0},
	{SRV_PUBLIC, "GET", "/metrics", 0, srv_h_metrics, 0, 0},
	{SRV_PUBLIC, "GET", "/certs/", 1, srv_h_cert, 0, 0},
	{SRV_PUBLIC, "POST", "/ocsp", 0, srv_h_ocsp_post, 0, 0},
	{SRV_PUBLIC, "GET", "/ocsp/", 1, srv_h_ocsp_get, 0, 0},
	{SRV_PUBLIC, "GET", "/crl/", 1, srv_h_crl, 0, 0},
	{SRV_PUBLIC, "POST", "/tsa", 0, srv_h_tsa, 0, 0},
	{SRV_PUBLIC, "POST", "/api/v1/verify", 0, srv_h_verify, 0, 0},
	{SRV_PUBLIC, "GET", "/audit/checkpoint", 0, srv_h_audit_checkpoint, 0,
	    0},
	/* Sealed-bid tendering (srv_tender.c): bidders are anonymous here,
	 * their signatures say who they are. */
	{SRV_PUBLIC, "GET", "/tenders/", 1, srv_h_tender_get, 0, 0},
	{SRV_PUBLIC, "POST", "/tenders/", 1, srv_h_tender_post, 0, 0},
	{SRV_PUBLIC, "DELETE", "/tenders/", 1, srv_h_tender_delete, 0, 0},
	/* admin */
	{SRV_ADMIN, "GET", "/healthz", 0, srv_h_healthz, SRV_ROLE_ANY, 0},
	{SRV_ADMIN, "GET", "/api/v1/config", 0, srv_h_config,
	    SRV_ROLE_SYSADMIN, 0},
	{SRV_ADMIN, "GET", "/api/v1/audit", 0, srv_h_audit_list,
	    SRV_ROLE_AUDITOR, 1},
	{SRV_ADMIN, "GET", "/api/v1/audit/verify", 0, srv_h_audit_verify,
	    SRV_ROLE_AUDITOR, 0},
	{SRV_ADMIN, "POST", "/api/v1/crl", 0, srv_h_crl_generate,
	    SRV_ROLE_OFFICER, 1},
	/* CA (srv_ca.c): the security officer only; the auditor reads the
	 * audit log and nothing else, the sysadmin configuration and
	 * health. */
	{SRV_ADMIN, "POST", "/api/v1/certificates", 0, srv_h_ca_issue,
	    SRV_ROLE_OFFICER, 0},
	{SRV_ADMIN, "GET", "/api/v1/certificates", 0, srv_h_ca_list,
	    SRV_ROLE_OFFICER, 1},
	{SRV_ADMIN, "GET", "/api/v1/certificates/", 1, srv_h_ca_show,
	    SRV_ROLE_OFFICER, 0},
	{SRV_ADMIN, "POST", "/api/v1/certificates/", 1, srv_h_ca_status,
	    SRV_ROLE_OFFICER, 0},
	{SRV_ADMIN, "GET", "/api/v1/requests", 0, srv_h_ca_requests,
	    SRV_ROLE_OFFICER, 1},
	{SRV_ADMIN, "GET", "/api/v1/requests/", 1, srv_h_ca_request,
	    SRV_ROLE_OFFICER, 0},
	{SRV_ADMIN, "POST", "/api/v1/requests/", 1, srv_h_ca_decide,
	    SRV_ROLE_OFFICER, 0},
	{SRV_ADMIN, "GET", "/api/v1/profiles", 0, srv_h_ca_profiles,
	    SRV_ROLE_OFFICER, 0},
	/* Seals act: only officers; the seal policy says which of them. */
	{SRV_ADMIN, "POST", "/api/v1/sign", 0, srv_h_sign, SRV_ROLE_OFFICER, 0},
	/* Tenders (srv_tender.c): the tender agent only; officers cannot
	 * open tenders, agents cannot issue or revoke. */
	{SRV_ADMIN, "POST", "/api/v1/tenders", 0, srv_h_tender_create,
	    SRV_ROLE_AGENT, 0},
	{SRV_ADMIN, "GET", "/api/v1/tenders", 0, srv_h_tender_list,
	    SRV_ROLE_AGENT, 1},
	{SRV_ADMIN, "GET", "/api/v1/tenders/", 1, srv_h_tender_show,
	    SRV_ROLE_AGENT, 0},
	{SRV_ADMIN, "POST", "/api/v1/tenders/", 1, srv_h_tender_action,
	    SRV_ROLE_AGENT, 0},
	/* One-time enrolment codes for verified holders (srv_est.c). */
	{SRV_ADMIN, "POST", "/api/v1/enrolments", 0, srv_h_enrolment_create,
	    SRV_ROLE_OFFICER, 0},
	/* Judicial recovery of escrowed keys, two persons (srv_kmc.c). */
	{SRV_ADMIN, "POST", "/api/v1/recoveries", 0, srv_h_recovery_create,
	    SRV_ROLE_OFFICER, 0},
	{SRV_ADMIN, "GET", "/api/v1/recoveries/", 1, srv_h_recovery_show,
	    SRV_ROLE_OFFICER, 0},
	{SRV_ADMIN, "POST", "/api/v1/recoveries/", 1, srv_h_recovery_decide,
	    SRV_ROLE_OFFICER, 0},
	/* EST (RFC 7030), its own listener: each handler authenticates its
	 * requests itself (an enrolment code, or the holder's certificate);
	 * no admin role reaches it. */
	{SRV_EST, "GET", "/.well-known/est/cacerts", 0, srv_h_est_cacerts, 0,
	    0},
	{SRV_EST, "POST", "/.well-known/est/simpleenroll", 0, srv_h_est_enroll,
	    0, 0},
	{SRV_EST, "POST", "/.well-known/est/simplereenroll", 0,
	    srv_h_est_reenroll, 0, 0},
	{SRV_EST, "POST", "/.well-known/est/serverkeygen", 0,
	    srv_h_est_serverkeygen, 0, 0},
	{SRV_EST, "POST", "/.well-known/est/keyhistory", 0,
	    srv_h_est_keyhistory, 0, 0},
};

unsigned int
srv_role_bit(const char *name)
{
	if (name == NULL)
		return 0;
	if (strcmp(name, "sysadmin") == 0)
		return SRV_ROLE_SYSADMIN;
	if (strcmp(name, "officer") == 0)
		return SRV_ROLE_OFFICER;
	if (strcmp(name, "auditor") == 0)
		return SRV_ROLE_AUDITOR;
	if (strcmp(name, "agent") == 0)
		return SRV_ROLE_AGENT;
	return 0;
}

static int
srv_route_path_match(const struct srv_route *rt, const char *path)
{
	size_t n;

	if (!rt->prefix)
		return strcmp(rt->path, path) == 0;
	n = strlen(rt->path);
	/* A prefix route needs something after the prefix. */
	return strncmp(rt->path, path, n) == 0 && path[n] != '\0';
}

int
srv_route_find(enum srv_listener listener, const char *method,
    const char *path, const struct srv_route **out)
{
	size_t i;
	int path_seen = 0;

	*out = NULL;
	if (method == NULL || path == NULL)
		return GP_ERR_NOT_FOUND;
	if (strcmp(method, "HEAD") == 0)
		method = "GET";
	for (i = 0; i < sizeof(srv_routes) / sizeof(srv_routes[0]); i++) {
		const struct srv_route *rt = &srv_routes[i];

		if (rt->listener != listener || !srv_route_path_match(rt, path))
			continue;
		path_seen = 1;
		if (strcmp(rt->method, method) == 0) {
			*out = rt;
			return 0;
		}
	}
	return path_seen ? GP_ERR_UNSUPPORTED : GP_ERR_NOT_FOUND;
}

void
srv_route_allow(enum srv_listener listener, const char *path, char *buf,
    size_t len)
{
	size_t i, used = 0;
	int n;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (i = 0; i < sizeof(srv_routes) / sizeof(srv_routes[0]); i++) {
		const struct srv_route *rt = &srv_routes[i];

		if (rt->listener != listener || !srv_route_path_match(rt, path))
			continue;
		n = snprintf(buf + used, len - used, "%s%s%s",
		    used ? ", " : "", rt->method,
		    strcmp(rt->method, "GET") == 0 ? ", HEAD" : "");
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
	}
}
