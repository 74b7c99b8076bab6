/*
 * srv_main.c: server_run(). Reads the admin TLS material, starts the two
 * libmicrohttpd daemons (each with its own thread pool), then waits for
 * SIGTERM/SIGINT with sigtimedwait so that it can sign audit checkpoints
 * periodically on the same thread. Shutdown: quiesce both listeners (stop
 * accepting), wait up to SRV_DRAIN_S for in-flight requests, stop the
 * daemons, record "server.stop" and force a final checkpoint.
 *
 * SIGTERM and SIGINT are blocked before any MHD thread exists, so that only
 * sigtimedwait() here ever sees them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "server/internal.h"

#define SRV_DRAIN_S 10
/* Then, for replies held for the audit log (srv_hold). */
#define SRV_HELD_WAIT_S 30

union srv_sockaddr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* "host:port" to a socket address. Numeric IPv4/IPv6 and "localhost". */
static int
srv_addr(const char *field, const char *hostport, union srv_sockaddr *out,
    int *out_v6)
{
	int r;
	char *host = NULL;
	uint16_t port = 0;

	memset(out, 0, sizeof(*out));
	*out_v6 = 0;
	GUARD(gp_parse_hostport(field, hostport, &host, &port));
	if (strcmp(host, "localhost") == 0) {
		out->in.sin_family = AF_INET;
		out->in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		out->in.sin_port = htons(port);
	} else if (inet_pton(AF_INET, host, &out->in.sin_addr) == 1) {
		out->in.sin_family = AF_INET;
		out->in.sin_port = htons(port);
	} else if (inet_pton(AF_INET6, host, &out->in6.sin6_addr) == 1) {
		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_port = htons(port);
		*out_v6 = 1;
	} else {
		r = gp_err_set(GP_ERR_CONFIG, "%s: \"%s\" is not an IP address "
		    "or localhost", field, host);
		goto out;
	}
	r = 0;
out:
	free(host);
	return r;
}

static void srv_mhd_log(void *cls, const char *fmt, va_list ap)
    GP_PRINTF(2, 0);

static void
srv_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* libmicrohttpd 0.9.75 prints this through the very logger it names,
	 * although the logger is the first option here: noise, not news. */
	if (strstr(msg, "EXTERNAL_LOGGER is not the first option") != NULL)
		return;
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	gp_log(GP_LOG_WARN, "%s listener: %s", (const char *)cls, msg);
}

static int
srv_read_text(const char *dir, const char *name, char **out, size_t *out_len)
{
	int r;
	char *path = gp_path_join(dir, name);
	uint8_t *buf = NULL;
	size_t len = 0;

	*out = NULL;
	if (path == NULL)
		return gp_err_set(GP_ERR_NOMEM, "path of %s", name);
	r = gp_file_read(path, SRV_MAX_PEM, &buf, &len);
	if (r == 0) {
		*out = (char *)buf;
		if (out_len != NULL)
			*out_len = len;
	}
	free(path);
	return r;
}

static int
srv_tls_load(struct srv *s)
{
	int r;
	const char *dir = s->inst->cfg->dir;
	char *ca = NULL, *root = NULL;
	size_t ca_len = 0, root_len = 0;

	GUARD(srv_read_text(dir, "tls/server.pem", &s->tls_cert_pem, NULL));
	GUARD(srv_read_text(dir, "tls/server.key", &s->tls_key_pem,
	    &s->tls_key_len));
	GUARD(srv_read_text(dir, "certs/ca.pem", &ca, &ca_len));
	GUARD(srv_read_text(dir, "certs/root.pem", &root, &root_len));
	s->tls_trust_pem = malloc(ca_len + root_len + 2);
	ENSURE(s->tls_trust_pem != NULL, GP_ERR_NOMEM);
	memcpy(s->tls_trust_pem, ca, ca_len);
	s->tls_trust_pem[ca_len] = '\n';
	memcpy(s->tls_trust_pem + ca_len + 1, root, root_len);
	s->tls_trust_pem[ca_len + 1 + root_len] = '\0';
	r = 0;
out:
	free(ca);
	free(root);
	return r;
}

static void
srv_tls_free(struct srv *s)
{
	free(s->tls_cert_pem);
	s->tls_cert_pem = NULL;
	if (s->tls_key_pem != NULL)
		OPENSSL_clear_free(s->tls_key_pem, s->tls_key_len);
	s->tls_key_pem = NULL;
	free(s->tls_trust_pem);
	s->tls_trust_pem = NULL;
}

static int
srv_start(struct srv *s, enum srv_listener l, const char *hostport)
{
	int r;
	const struct gp_config *cfg = s->inst->cfg;
	union srv_sockaddr addr;
	int v6 = 0;
	unsigned int flags;
	unsigned int threads = cfg->threads > 1 ? (unsigned int)cfg->threads :
	    0;
	const char *name = srv_listener_name(l);

	GUARD(srv_addr(l == SRV_ADMIN ? "https_listen" : "http_listen",
	    hostport, &addr, &v6));
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
	    MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
	if (v6)
		flags |= MHD_USE_IPv6;
	if (l == SRV_ADMIN) {
		flags |= MHD_USE_TLS;
		s->d[l] = MHD_start_daemon(flags, 0, NULL, NULL,
		    srv_access, &s->lctx[l],
		    MHD_OPTION_EXTERNAL_LOGGER, srv_mhd_log, (void *)name,
		    MHD_OPTION_SOCK_ADDR, &addr.sa,
		    MHD_OPTION_THREAD_POOL_SIZE, threads,
		    MHD_OPTION_CONNECTION_LIMIT,
		    (unsigned int)cfg->max_connections,
		    MHD_OPTION_CONNECTION_TIMEOUT,
		    (unsigned int)cfg->request_timeout_s,
		    MHD_OPTION_NOTIFY_COMPLETED, srv_completed,
		    &s->lctx[l],
		    MHD_OPTION_NOTIFY_CONNECTION, srv_conn_notify,
		    &s->lctx[l],
		    MHD_OPTION_HTTPS_MEM_CERT, s->tls_cert_pem,
		    MHD_OPTION_HTTPS_MEM_KEY, s->tls_key_pem,
		    MHD_OPTION_HTTPS_MEM_TRUST, s->tls_trust_pem,
		    MHD_OPTION_HTTPS_PRIORITIES,
		    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
		    MHD_OPTION_END);
	} else {
		s->d[l] = MHD_start_daemon(flags, 0, NULL, NULL,
		    srv_access, &s->lctx[l],
		    MHD_OPTION_EXTERNAL_LOGGER, srv_mhd_log, (void *)name,
		    MHD_OPTION_SOCK_ADDR, &addr.sa,
		    MHD_OPTION_THREAD_POOL_SIZE, threads,
		    MHD_OPTION_CONNECTION_LIMIT,
		    (unsigned int)cfg->max_connections,
		    MHD_OPTION_CONNECTION_TIMEOUT,
		    (unsigned int)cfg->request_timeout_s,
		    MHD_OPTION_NOTIFY_COMPLETED, srv_completed,
		    &s->lctx[l],
		    MHD_OPTION_END);
	}
	if (s->d[l] == NULL) {
		r = gp_err_set(GP_ERR_IO, "cannot listen on %s (%s): address "
		    "in use, not local, or TLS material unusable", hostport,
		    name);
		goto out;
	}
	s->listen[l] = strdup(hostport);
	ENSURE(s->listen[l] != NULL, GP_ERR_NOMEM);
	r = 0;
out:
	return r;
}

static int
srv_audit_local(struct srv *s, const char *op, const char *outcome,
    json_t *details)
{
	struct audit_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.actor = s->inst->actor[0] != '\0' ? s->inst->actor : "server";
	ev.role = "local";
	ev.op = op;
	ev.object = "server";
	ev.outcome = outcome;
	ev.details = details;
	return audit_log(s->inst->audit, &ev);
}

static void
srv_banner(const struct srv *s)
{
	const char *dir = s->inst->cfg->dir;

	printf("govpki serving %s\n"
	    "  public  http://%s/   (healthz, metrics, certs)\n"
	    "  admin   https://%s/  (client certificate required)\n"
	    "try:\n"
	    "  curl http://%s/healthz\n"
	    "  curl --cacert %s/certs/root.pem --cert %s/admin/sysadmin.pem "
	    "--key %s/admin/sysadmin.key https://%s/api/v1/config\n"
	    "stop with Ctrl-C or SIGTERM\n",
	    dir, s->listen[SRV_PUBLIC], s->listen[SRV_ADMIN],
	    s->listen[SRV_PUBLIC], dir, dir, dir, s->listen[SRV_ADMIN]);
	fflush(stdout);
}

/* Stops accepting and waits (bounded) for in-flight requests. */
static void
srv_drain(struct srv *s, MHD_socket out_fd[SRV_LISTENERS])
{
	int64_t deadline = gp_mono_ms() + SRV_DRAIN_S * 1000;
	size_t l;

	for (l = 0; l < SRV_LISTENERS; l++)
		out_fd[l] = s->d[l] != NULL ? MHD_quiesce_daemon(s->d[l]) :
		    MHD_INVALID_SOCKET;
	while (atomic_load(&s->in_flight) > 0 && gp_mono_ms() < deadline) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&s->in_flight) > 0)
		gp_log(GP_LOG_WARN, "server: %d requests still in flight after "
		    "%d s; stopping anyway", atomic_load(&s->in_flight),
		    SRV_DRAIN_S);
	/* A held reply is resumed by the audit writer, whatever the client
	 * does: its connection must exist until then. The writer is bounded
	 * by the store's busy timeout; past this wait it is stuck, and the
	 * daemons (and what their handlers use) are left in place rather
	 * than freed under it. */
	deadline = gp_mono_ms() + SRV_HELD_WAIT_S * 1000;
	while (atomic_load(&s->held) > 0 && gp_mono_ms() < deadline) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&s->held) > 0) {
		s->abandoned = 1;
		gp_log(GP_LOG_ERROR, "server: %d replies still wait for the "
		    "audit log after %d s more; exiting without stopping the "
		    "listeners under them", atomic_load(&s->held),
		    SRV_HELD_WAIT_S);
	}
}

static void
srv_stop(struct srv *s, MHD_socket fd[SRV_LISTENERS])
{
	size_t l;

	if (s->abandoned)
		return; /* srv_drain */
	for (l = 0; l < SRV_LISTENERS; l++) {
		if (s->d[l] != NULL)
			MHD_stop_daemon(s->d[l]);
		s->d[l] = NULL;
		/* After MHD_quiesce_daemon the listening socket is ours. */
		if (fd != NULL && fd[l] != MHD_INVALID_SOCKET)
			close(fd[l]);
		free(s->listen[l]);
		s->listen[l] = NULL;
	}
}

int
server_run(struct instance *inst, const struct server_opts *opts)
{
	int r = GP_ERR_INTERNAL, sig = 0, mask_set = 0, mu = 0;
	struct srv s;
	sigset_t set, old;
	MHD_socket fds[SRV_LISTENERS] = {MHD_INVALID_SOCKET,
	    MHD_INVALID_SOCKET};
	const char *http, *https;
	int64_t next_cp = 0, period_ms;
	json_t *details = NULL;

	memset(&s, 0, sizeof(s));
	if (inst == NULL || inst->cfg == NULL || inst->st == NULL ||
	    inst->audit == NULL)
		return gp_err_set(GP_ERR_INVALID, "server_run: instance not "
		    "open");
	if (inst->key[GP_KEY_AUDIT] == NULL)
		return gp_err_set(GP_ERR_LOGIN_REQUIRED, "server_run: the audit "
		    "key is not loaded (open the instance with its keys)");
	if (inst->cfg->max_body_bytes <= 0)
		return gp_err_set(GP_ERR_CONFIG, "max_body_bytes must be "
		    "positive");
	s.inst = inst;
	s.lctx[SRV_PUBLIC].srv = &s;
	s.lctx[SRV_PUBLIC].listener = SRV_PUBLIC;
	s.lctx[SRV_ADMIN].srv = &s;
	s.lctx[SRV_ADMIN].listener = SRV_ADMIN;
	atomic_init(&s.in_flight, 0);
	atomic_init(&s.held, 0);
	ENSURE(pthread_mutex_init(&s.health_mu, NULL) == 0, GP_ERR_INTERNAL);
	mu = 1;
	http = opts != NULL && opts->http_listen != NULL ? opts->http_listen :
	    inst->cfg->http_listen;
	https = opts != NULL && opts->https_listen != NULL ?
	    opts->https_listen : inst->cfg->https_listen;
	ENSURE(http != NULL && https != NULL, GP_ERR_CONFIG);

	GUARD(srv_tls_load(&s));
	GUARD(srv_trust_init(&s));
	GUARD(srv_tsa_init(&s));
	GUARD(srv_pki_init(&s));
	GUARD(srv_ca_init(&s));
	GUARD(srv_sign_init(&s));

	/* Before any MHD thread exists, so that every thread inherits it. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	ENSURE(pthread_sigmask(SIG_BLOCK, &set, &old) == 0, GP_ERR_INTERNAL);
	mask_set = 1;
	/* A client that goes away must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);

	GUARD(srv_start(&s, SRV_PUBLIC, http));
	GUARD(srv_start(&s, SRV_ADMIN, https));

	details = json_pack("{s:s, s:s}", "http", http, "https", https);
	GUARD(srv_audit_local(&s, "server.start", "success", details));
	GUARD(srv_audit_checkpoint(&s, 0)); /* seals a crashed run's records */
	gp_log(GP_LOG_INFO, "server: listening on http://%s and https://%s",
	    http, https);
	if (opts == NULL || !opts->quiet)
		srv_banner(&s);

	period_ms = inst->cfg->audit_checkpoint_s > 0 ?
	    inst->cfg->audit_checkpoint_s * 1000 : 0;
	next_cp = gp_mono_ms() + period_ms;
	for (;;) {
		struct timespec ts = {1, 0};

		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig < 0 && errno != EAGAIN && errno != EINTR) {
			r = gp_err_set(GP_ERR_INTERNAL, "sigtimedwait: %s",
			    strerror(errno));
			goto out;
		}
		if (period_ms > 0 && gp_mono_ms() >= next_cp) {
			if (srv_audit_checkpoint(&s, 0) != 0)
				gp_log(GP_LOG_ERROR, "server: audit "
				    "checkpoint failed: %s", gp_err_detail());
			next_cp = gp_mono_ms() + period_ms;
		}
		srv_crl_tick(&s);
	}

	gp_log(GP_LOG_INFO, "server: %s received; draining",
	    sig == SIGTERM ? "SIGTERM" : "SIGINT");
	srv_drain(&s, fds);
	srv_stop(&s, fds);
	json_decref(details);
	details = json_pack("{s:s}", "signal", sig == SIGTERM ? "SIGTERM" :
	    "SIGINT");
	GUARD(srv_audit_local(&s, "server.stop", "success", details));
	GUARD(srv_audit_checkpoint(&s, 1));
	gp_log(GP_LOG_INFO, "server: stopped");
	r = 0;
out:
	srv_stop(&s, NULL); /* a no-op after a clean stop */
	json_decref(details);
	if (s.abandoned) {
		/* Held handlers may still run: keep what they use. */
		if (mask_set)
			pthread_sigmask(SIG_SETMASK, &old, NULL);
		return r != 0 ? r : gp_err_set(GP_ERR_BUSY, "replies still "
		    "held for the audit log at shutdown");
	}
	srv_trust_free(&s);
	srv_tsa_free(&s); /* after the daemons stopped */
	srv_pki_free(&s); /* after the daemons stopped */
	srv_ca_free(&s); /* after the daemons stopped */
	srv_sign_free(&s); /* after the daemons stopped */
	srv_tls_free(&s);
	if (mask_set)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (mu)
		pthread_mutex_destroy(&s.health_mu);
	return r;
}
