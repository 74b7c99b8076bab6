/*
 * server.h: `govpki serve`. Two libmicrohttpd listeners on one instance:
 *
 *   public  plain HTTP (default 127.0.0.1:8080): /healthz, /metrics and the
 *           public PKI endpoints (CA certificates, CRL, OCSP, TSA, verify)
 *   admin   HTTPS (default 127.0.0.1:8443) with a mandatory client
 *           certificate issued by this instance's CA; the role in it
 *           (subject title: sysadmin, officer, auditor) is checked on every
 *           request, and a revoked, held or expired certificate is refused.
 *   est     HTTPS (when asked for: --est, e.g. 127.0.0.1:8444) with
 *           optional client certificates: EST enrolment (RFC 7030) of
 *           holders' USB keys (srv_est.c, kmc/).
 *
 * Every request gets a request id, one JSON log line and, when it operates
 * on something or is refused, an audit record. Errors are
 * {"error":{"code":"...","message":"..."}} with the matching status.
 */
#ifndef GOVPKI_SERVER_H
#define GOVPKI_SERVER_H

#include "core/core.h"
#include "instance/instance.h"

struct server_opts {
	const char *http_listen;  /* overrides the configuration when set */
	const char *https_listen;
	const char *est_listen;   /* the EST listener (RFC 7030, HTTPS with
	                           * optional client certificates), or NULL:
	                           * none */
	int quiet;                /* no banner */
};

/* Serves |inst| (opened with INSTANCE_KEYS) until SIGTERM or SIGINT, then
 * stops accepting, drains in-flight requests, writes a final audit
 * checkpoint and returns 0. Returns an error when a listener cannot start. */
int server_run(struct instance *inst, const struct server_opts *opts) GP_WUR;

/* Maps a GP_ERR_* code to its HTTP status (400, 401, 403, 404, 409, 413,
 * 500, 503 ...). */
unsigned int server_http_status(int code);

#endif /* GOVPKI_SERVER_H */
