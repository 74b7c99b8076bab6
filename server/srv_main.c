/*
 * srv_main.c: server_run(). Refuses to start unless its audit key is the
 * one the audit log has in effect (instance_audit_key_check: a swapped
 * certs/audit.pem or keys.audit would sign checkpoints verification
 * rejects). Reads the admin TLS material, starts the two libmicrohttpd
 * daemons (each with its own thread pool, a connection limit per listener
 * and per client address), the guard (srv_conn.c), the CRL schedule
 * (srv_ocsp.c) and the periodic audit checkpoints on threads of their own
 * (srv_tick.c), then waits for SIGTERM/SIGINT. The main thread signs only
 * the checkpoint at start (before the checkpoint thread exists) and the
 * one at shutdown (after it stopped), so no two race, and a checkpoint
 * waiting for the store while the audit writer is in a transaction never
 * delays the handling of SIGTERM.
 *
 * Shutdown: quiesce both listeners (stop accepting) and wait up to
 * limits.shutdown_grace_s for requests in flight. Replies still held for
 * the audit log then get their failure path (srv_holds_drop: the
 * connection is closed without a reply), so no suspended connection is
 * left when the daemons stop, and nothing the audit writer may still call
 * back into is freed under it. Then the daemons stop (waiting for
 * handlers that are running), the aggregated refusals are written,
 * "server.stop" is recorded and a final checkpoint forced: these wait for
 * the audit writer, which its store's busy timeout bounds.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "server/internal.h"

/* After the held replies were dropped, for their connections to close. */
#define SRV_CLOSE_WAIT_MS 2000
/* File descriptors besides connections: store, token, CRL files served,
 * listening sockets, each pool thread's epoll and wake-up descriptors. */
#define SRV_FD_RESERVE 256
/* Client addresses remembered (srv_peer.c). */
#define SRV_PEERS_MAX 4096
/* The guard's period (srv_conn.c): the granularity of the deadline. */
#define SRV_GUARD_TICK_MS 250
/* The CRL schedule's period. */
#define SRV_CRL_TICK_MS 1000
/* At most one "connection limit" line from libmicrohttpd this often. */
#define SRV_LIMIT_LOG_MS 10000
/* Test hook: while the file this names exists, the audit writer is held
 * inside a transaction (tests/t_robust.sh). */
#define SRV_TEST_AUDIT_STALL_ENV "GOVPKI_TEST_AUDIT_STALL"
#define SRV_TEST_STALL_MAX_S 600

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
	/* One line per refused connection would let one client flood the
	 * log: say it once in a while, with how many were not said. */
	if (strstr(msg, "connection limit") != NULL) {
		static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
		static int64_t last_ms;
		static long quiet;
		int64_t now = gp_mono_ms();
		long more;

		pthread_mutex_lock(&mu);
		if (last_ms != 0 && now - last_ms < SRV_LIMIT_LOG_MS) {
			quiet++;
			pthread_mutex_unlock(&mu);
			return;
		}
		more = quiet;
		quiet = 0;
		last_ms = now;
		pthread_mutex_unlock(&mu);
		gp_log(GP_LOG_WARN, "%s listener: %s (limits.max_connections "
		    "or limits.max_connections_per_ip; %ld more not logged)",
		    (const char *)cls, msg, more);
		return;
	}
	gp_log(GP_LOG_WARN, "%s listener: %s", (const char *)cls, msg);
}

/* The connection limit per listener that the descriptor limit allows:
 * limits.max_connections, with RLIMIT_NOFILE raised towards what both
 * listeners need when the hard limit permits; lower (and said) when it
 * does not, so that accept() never runs the process out of descriptors
 * the store and the token need. */
static unsigned int
srv_conn_limit(const struct gp_config *cfg, unsigned int listeners)
{
	struct rlimit rl, want;
	rlim_t need = (rlim_t)cfg->max_connections * listeners +
	    SRV_FD_RESERVE;
	rlim_t fit;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return (unsigned int)cfg->max_connections;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		want = rl;
		want.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
		    rl.rlim_max >= need ? need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return (unsigned int)cfg->max_connections;
	fit = rl.rlim_cur > SRV_FD_RESERVE + listeners ?
	    (rl.rlim_cur - SRV_FD_RESERVE) / listeners : 1;
	gp_log(GP_LOG_WARN, "server: limits.max_connections %lld per listener "
	    "needs about %llu open files, but the limit is %llu: %llu "
	    "connections per listener; raise the limit (ulimit -n, systemd "
	    "LimitNOFILE=) or lower limits.max_connections",
	    (long long)cfg->max_connections, (unsigned long long)need,
	    (unsigned long long)rl.rlim_cur, (unsigned long long)fit);
	return (unsigned int)fit;
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
srv_start(struct srv *s, enum srv_listener l, const char *hostport,
    unsigned int conn_limit)
{
	int r;
	const struct gp_config *cfg = s->inst->cfg;
	union srv_sockaddr addr;
	int v6 = 0;
	unsigned int flags;
	unsigned int threads = cfg->threads > 1 ? (unsigned int)cfg->threads :
	    0;
	/* libmicrohttpd counts per address over the whole daemon (its pool
	 * threads share one table); the connection limit is split among the
	 * pool threads, each of which stops accepting when full. */
	unsigned int per_ip = (unsigned int)cfg->max_connections_per_ip;
	const char *name = srv_listener_name(l);

	GUARD(srv_addr(l == SRV_ADMIN ? "https_listen" : l == SRV_EST ?
	    "--est" : "http_listen", hostport, &addr, &v6));
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
	    MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
	if (v6)
		flags |= MHD_USE_IPv6;
	if (l != SRV_PUBLIC) {
		/* Admin and EST: TLS, asking for a client certificate under
		 * the instance's CA (GnuTLS's "request", not "require": the
		 * handlers decide; srv_auth.c, srv_est.c). */
		flags |= MHD_USE_TLS;
		s->d[l] = MHD_start_daemon(flags, 0, NULL, NULL,
		    srv_access, &s->lctx[l],
		    MHD_OPTION_EXTERNAL_LOGGER, srv_mhd_log, (void *)name,
		    MHD_OPTION_SOCK_ADDR, &addr.sa,
		    MHD_OPTION_THREAD_POOL_SIZE, threads,
		    MHD_OPTION_CONNECTION_LIMIT, conn_limit,
		    MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
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
		    MHD_OPTION_CONNECTION_LIMIT, conn_limit,
		    MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
		    MHD_OPTION_CONNECTION_TIMEOUT,
		    (unsigned int)cfg->request_timeout_s,
		    MHD_OPTION_NOTIFY_COMPLETED, srv_completed,
		    &s->lctx[l],
		    MHD_OPTION_NOTIFY_CONNECTION, srv_conn_notify,
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

/* The test hook's change: holds the writer (and the store's write lock)
 * while the file |arg| exists, at most SRV_TEST_STALL_MAX_S, then refuses,
 * so that neither it nor a record of it is kept. Uses nothing of the
 * server: the writer may call it after server_run() returned. */
static int
srv_test_stall_apply(store *st, void *arg)
{
	const char *path = arg;
	int64_t end = gp_mono_ms() + SRV_TEST_STALL_MAX_S * 1000;
	struct timespec ts = {0, 50 * 1000 * 1000};

	(void)st;
	while (access(path, F_OK) == 0 && gp_mono_ms() < end)
		nanosleep(&ts, NULL);
	return gp_err_set(GP_ERR_BUSY, "test hook %s: the audit writer was "
	    "held", SRV_TEST_AUDIT_STALL_ENV);
}

static void
srv_test_stall_done(void *arg, int r)
{
	(void)arg;
	(void)r;
}

void
srv_test_stall_tick(struct srv *s)
{
	struct audit_event ev;

	if (s->test_stall == NULL || s->test_stall_queued ||
	    access(s->test_stall, F_OK) != 0)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.op = "test.audit_stall";
	ev.outcome = "failure";
	s->test_stall_queued = 1;
	if (audit_apply_async(s->inst->audit, srv_test_stall_apply,
	    (void *)s->test_stall, &ev, srv_test_stall_done, NULL) != 0)
		gp_log(GP_LOG_ERROR, "test hook %s: %s",
		    SRV_TEST_AUDIT_STALL_ENV, gp_err_detail());
	else
		gp_log(GP_LOG_WARN, "TEST HOOK %s: the audit writer is held "
		    "while %s exists", SRV_TEST_AUDIT_STALL_ENV, s->test_stall);
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

/* The checkpoint thread's tick: every audit.checkpoint_s, a checkpoint
 * when records are unsealed (a no-op otherwise). */
static void
srv_audit_tick(struct srv *s)
{
	if (srv_audit_checkpoint(s, 0) != 0)
		gp_log(GP_LOG_ERROR, "server: audit checkpoint failed: %s",
		    gp_err_detail());
}

/* Stops accepting, waits up to limits.shutdown_grace_s for requests in
 * flight, then gives replies still held for the audit log their failure
 * path (srv_holds_drop) and waits briefly for their connections to
 * close. */
static void
srv_drain(struct srv *s, MHD_socket out_fd[SRV_LISTENERS])
{
	int64_t grace_s = s->inst->cfg->shutdown_grace_s;
	int64_t deadline = gp_mono_ms() + grace_s * 1000;
	int n;
	size_t l;

	for (l = 0; l < SRV_LISTENERS; l++)
		out_fd[l] = s->d[l] != NULL ? MHD_quiesce_daemon(s->d[l]) :
		    MHD_INVALID_SOCKET;
	while (atomic_load(&s->in_flight) > 0 && gp_mono_ms() < deadline) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if ((n = srv_holds_drop(s)) > 0)
		gp_log(GP_LOG_ERROR, "server: %d replies still waited for the "
		    "audit log after %lld s (limits.shutdown_grace_s): their "
		    "connections are closed without a reply", n,
		    (long long)grace_s);
	deadline = gp_mono_ms() + SRV_CLOSE_WAIT_MS;
	while (atomic_load(&s->in_flight) > 0 && gp_mono_ms() < deadline) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&s->in_flight) > 0)
		gp_log(GP_LOG_WARN, "server: %d requests still running after "
		    "%lld s; stopping the listeners waits for their handlers",
		    atomic_load(&s->in_flight), (long long)grace_s);
}

/* Stops the daemons; a held reply left would make libmicrohttpd abort, so
 * they are dropped first (a no-op after srv_drain). */
static void
srv_stop(struct srv *s, MHD_socket fd[SRV_LISTENERS])
{
	size_t l;

	(void)srv_holds_drop(s);
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
	unsigned int conn_limit;
	struct srv s;
	sigset_t set, old;
	MHD_socket fds[SRV_LISTENERS] = {MHD_INVALID_SOCKET,
	    MHD_INVALID_SOCKET, MHD_INVALID_SOCKET};
	const char *http, *https;
	json_t *details = NULL;

	memset(&s, 0, sizeof(s));
	if (inst == NULL || inst->cfg == NULL || inst->st == NULL ||
	    inst->audit == NULL)
		return gp_err_set(GP_ERR_INVALID, "server_run: instance not "
		    "open");
	if (inst->key[GP_KEY_AUDIT] == NULL)
		return gp_err_set(GP_ERR_LOGIN_REQUIRED, "server_run: the audit "
		    "key is not loaded (open the instance with its keys)");
	/* Before anything is served or signed: the key must be the one the
	 * chain has in effect, and the log must record one. */
	if ((r = instance_audit_key_check(inst, 0)) != 0)
		return r;
	if (inst->cfg->max_body_bytes <= 0)
		return gp_err_set(GP_ERR_CONFIG, "max_body_bytes must be "
		    "positive");
	s.inst = inst;
	s.lctx[SRV_PUBLIC].srv = &s;
	s.lctx[SRV_PUBLIC].listener = SRV_PUBLIC;
	s.lctx[SRV_ADMIN].srv = &s;
	s.lctx[SRV_ADMIN].listener = SRV_ADMIN;
	s.lctx[SRV_EST].srv = &s;
	s.lctx[SRV_EST].listener = SRV_EST;
	atomic_init(&s.in_flight, 0);
	ENSURE(pthread_mutex_init(&s.health_mu, NULL) == 0, GP_ERR_INTERNAL);
	mu = 1;
	ENSURE(pthread_mutex_init(&s.conn_mu, NULL) == 0, GP_ERR_INTERNAL);
	mu = 2;
	if ((s.test_stall = getenv(SRV_TEST_AUDIT_STALL_ENV)) != NULL &&
	    s.test_stall[0] == '\0')
		s.test_stall = NULL;
	if (s.test_stall != NULL)
		gp_log(GP_LOG_WARN, "server: TEST HOOK %s=%s IS SET: the audit "
		    "writer stops while that file exists; never in production",
		    SRV_TEST_AUDIT_STALL_ENV, s.test_stall);
	GUARD(srv_peers_new((double)inst->cfg->ocsp_nonce_per_s,
	    (double)inst->cfg->ocsp_nonce_burst, SRV_PEERS_MAX, &s.peers));
	http = opts != NULL && opts->http_listen != NULL ? opts->http_listen :
	    inst->cfg->http_listen;
	https = opts != NULL && opts->https_listen != NULL ?
	    opts->https_listen : inst->cfg->https_listen;
	ENSURE(http != NULL && https != NULL, GP_ERR_CONFIG);

	/* First: a second process under this node's name stops here. */
	GUARD(srv_node_init(&s));
	GUARD(srv_tls_load(&s));
	GUARD(srv_trust_init(&s));
	GUARD(srv_tsa_init(&s));
	GUARD(srv_pki_init(&s));
	GUARD(srv_ca_init(&s));
	GUARD(srv_sign_init(&s));
	GUARD(srv_tender_init(&s));
	GUARD(srv_est_init(&s));

	/* Before any MHD thread exists, so that every thread inherits it. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	ENSURE(pthread_sigmask(SIG_BLOCK, &set, &old) == 0, GP_ERR_INTERNAL);
	mask_set = 1;
	/* A client that goes away must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);

	/* The EST listener, when asked for, is a third. */
	conn_limit = srv_conn_limit(inst->cfg, opts != NULL &&
	    opts->est_listen != NULL ? 3 : 2);
	GUARD(srv_start(&s, SRV_PUBLIC, http, conn_limit));
	GUARD(srv_start(&s, SRV_ADMIN, https, conn_limit));
	if (opts != NULL && opts->est_listen != NULL)
		GUARD(srv_start(&s, SRV_EST, opts->est_listen, conn_limit));
	GUARD(srv_ticker_start(&s, SRV_GUARD_TICK_MS, srv_guard_tick,
	    "the guard", &s.guard));
	GUARD(srv_ticker_start(&s, SRV_CRL_TICK_MS, srv_lease_tick,
	    "the CRL schedule", &s.crl_tick));

	details = json_pack("{s:s, s:s, s:s?, s:s, s:s}", "http", http,
	    "https", https, "est", opts != NULL ? opts->est_listen : NULL,
	    "node", inst->node, "run", s.holder);
	GUARD(srv_audit_local(&s, "server.start", "success", details));
	GUARD(srv_audit_checkpoint(&s, 0)); /* seals a crashed run's records */
	/* From now on the checkpoint thread alone signs, until shutdown. */
	if (inst->cfg->audit_checkpoint_s > 0)
		GUARD(srv_ticker_start(&s, inst->cfg->audit_checkpoint_s * 1000,
		    srv_audit_tick, "the audit checkpoints", &s.cp_tick));
	gp_log(GP_LOG_INFO, "server: listening on http://%s and https://%s%s%s",
	    http, https, s.listen[SRV_EST] != NULL ? " and EST on https://" :
	    "", s.listen[SRV_EST] != NULL ? s.listen[SRV_EST] : "");
	if (opts == NULL || !opts->quiet)
		srv_banner(&s);

	for (;;) {
		sig = sigwaitinfo(&set, NULL);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig < 0 && errno != EINTR) {
			r = gp_err_set(GP_ERR_INTERNAL, "sigwaitinfo: %s",
			    strerror(errno));
			goto out;
		}
	}

	gp_log(GP_LOG_INFO, "server: %s received; draining",
	    sig == SIGTERM ? "SIGTERM" : "SIGINT");
	srv_drain(&s, fds);
	srv_stop(&s, fds);
	srv_ticker_stop(s.guard);
	s.guard = NULL;
	srv_ticker_stop(s.crl_tick);
	s.crl_tick = NULL;
	/* Waits for a checkpoint under way (which waits for the writer, as
	 * what follows does); the last one is signed below. */
	srv_ticker_stop(s.cp_tick);
	s.cp_tick = NULL;
	/* The last minute's refusals, durable before server.stop. */
	if (srv_peers_flush(s.peers, inst->audit, gp_now_ms(), 1, 1) != 0)
		gp_log(GP_LOG_ERROR, "server: aggregated refusals: %s",
		    gp_err_detail());
	json_decref(details);
	details = json_pack("{s:s}", "signal", sig == SIGTERM ? "SIGTERM" :
	    "SIGINT");
	GUARD(srv_audit_local(&s, "server.stop", "success", details));
	GUARD(srv_audit_checkpoint(&s, 1));
	gp_log(GP_LOG_INFO, "server: stopped");
	r = 0;
out:
	srv_stop(&s, NULL); /* a no-op after a clean stop */
	srv_ticker_stop(s.guard);
	srv_ticker_stop(s.crl_tick);
	srv_ticker_stop(s.cp_tick);
	json_decref(details);
	/* Nothing below is used by a callback still to come from the audit
	 * writer: held replies were dropped before the daemons stopped. */
	srv_peers_free(s.peers);
	srv_trust_free(&s);
	srv_tsa_free(&s); /* after the daemons stopped */
	srv_pki_free(&s); /* after the daemons stopped */
	srv_ca_free(&s); /* after the daemons stopped */
	srv_sign_free(&s); /* after the daemons stopped */
	srv_tender_free(&s); /* after the daemons stopped */
	srv_est_free(&s); /* after the daemons stopped */
	srv_tls_free(&s);
	srv_node_free(&s); /* last: the name is this process's until here */
	if (mask_set)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (mu >= 2)
		pthread_mutex_destroy(&s.conn_mu);
	if (mu >= 1)
		pthread_mutex_destroy(&s.health_mu);
	return r;
}
