/*
 * bench.c: `make bench`. Measures, in one run, the raw limits and then the
 * operations under test against them, and prints one table:
 *
 *   raw sign        signatures/s of a key on a throwaway SoftHSM token
 *                   through libp11 (tokens/), 1 and 2 threads, P-256 and
 *                   RSA-2048: the ceiling every signing operation is
 *                   compared with;
 *   audit append    durable audit records/s (fsync per commit), 1 thread
 *                   and 8 threads sharing group commits;
 *   http healthz    GET /healthz on a `govpki serve` started on a free
 *                   loopback port, keep-alive clients: the HTTP path's own
 *                   cost, compared with the raw P-256 rate.
 *
 * Numbers are noisy: ratios within one run are what to read. Everything it
 * starts binds to 127.0.0.1, is bounded in time and is stopped on every path.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "bench/bench.h"
#include "audit/audit.h"
#include "store/store.h"
#include "tokens/tokens.h"


static struct bench_row rows[64];
static size_t rows_len;
double bench_seconds = 2.0;
char bench_tmp[256];
pid_t server_pid = -1;
char bench_inst[300];

void
lat_add(struct bench_lat *l, double us)
{
	if (l->len == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 4096;
		uint32_t *n;
		if (ncap > BENCH_MAX_SAMPLES)
			return;
		if ((n = realloc(l->us, ncap * sizeof(*n))) == NULL)
			return;
		l->us = n;
		l->cap = ncap;
	}
	l->us[l->len++] = us > 4e9 ? 4000000000u : (uint32_t)us;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Merges the samples of |n| threads and fills p50/p99 of |row|. */
void
lat_finish(struct bench_lat *lat, int n, struct bench_row *row)
{
	size_t total = 0, k = 0;
	uint32_t *all;
	int i;

	for (i = 0; i < n; i++)
		total += lat[i].len;
	if (total == 0 || (all = malloc(total * sizeof(*all))) == NULL)
		return;
	for (i = 0; i < n; i++) {
		memcpy(all + k, lat[i].us, lat[i].len * sizeof(*all));
		k += lat[i].len;
		free(lat[i].us);
		memset(&lat[i], 0, sizeof(lat[i]));
	}
	qsort(all, total, sizeof(*all), cmp_u32);
	row->p50_ms = all[total / 2] / 1000.0;
	row->p99_ms = all[(total * 99) / 100] / 1000.0;
	free(all);
}

double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double
rss_self_mb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss / 1024.0;
}

double
rss_pid_mb(pid_t pid)
{
	char path[64], line[256];
	FILE *f;
	double mb = -1;
	long kb;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			mb = kb / 1024.0;
	}
	fclose(f);
	return mb;
}

struct bench_row *
row_add(const char *op, int threads)
{
	struct bench_row *r = &rows[rows_len++];

	memset(r, 0, sizeof(*r));
	snprintf(r->op, sizeof(r->op), "%s", op);
	r->threads = threads;
	r->ratio = -1;
	return r;
}

/* ---- raw signing through the token ---- */

struct sign_arg {
	EVP_PKEY *key;
	double until;
	long count;
	int failed;
	struct bench_lat lat;
};

static void *
sign_worker(void *p)
{
	struct sign_arg *a = p;
	unsigned char dgst[32], sig[1024];
	size_t sig_len;
	EVP_PKEY_CTX *ctx;
	double t0, t1;

	RAND_bytes(dgst, sizeof(dgst));
	while ((t0 = now_s()) < a->until) {
		/* One signature of a SHA-256 digest, as every govpki
		 * signature is made: the digest is computed in process. */
		ctx = EVP_PKEY_CTX_new(a->key, NULL);
		sig_len = sizeof(sig);
		if (ctx == NULL || EVP_PKEY_sign_init(ctx) <= 0 ||
		    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) <= 0 ||
		    EVP_PKEY_sign(ctx, sig, &sig_len, dgst, sizeof(dgst)) <= 0) {
			a->failed = 1;
			EVP_PKEY_CTX_free(ctx);
			break;
		}
		EVP_PKEY_CTX_free(ctx);
		t1 = now_s();
		lat_add(&a->lat, (t1 - t0) * 1e6);
		a->count++;
	}
	return NULL;
}

int
bench_sign(EVP_PKEY *key, const char *name, int threads, double *out_ops)
{
	pthread_t th[BENCH_MAX_THREADS];
	struct sign_arg args[BENCH_MAX_THREADS];
	struct bench_lat lat[BENCH_MAX_THREADS];
	struct bench_row *row;
	double start, ops;
	long total = 0;
	int i;

	memset(args, 0, sizeof(args));
	start = now_s();
	for (i = 0; i < threads; i++) {
		args[i].key = key;
		args[i].until = start + bench_seconds;
		pthread_create(&th[i], NULL, sign_worker, &args[i]);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		if (args[i].failed) {
			fprintf(stderr, "bench: signing with %s failed\n", name);
			return -1;
		}
		total += args[i].count;
		lat[i] = args[i].lat;
	}
	ops = total / (now_s() - start);
	row = row_add(name, threads);
	row->ops = ops;
	row->rss_mb = rss_self_mb();
	lat_finish(lat, threads, row);
	*out_ops = ops;
	return 0;
}

/* ---- durable audit appends ---- */

struct audit_arg {
	audit *a;
	double until;
	long count;
	int failed;
	struct bench_lat lat;
};

static void *
audit_worker(void *p)
{
	struct audit_arg *arg = p;
	struct audit_event ev;
	double t0;

	memset(&ev, 0, sizeof(ev));
	ev.actor = "bench";
	ev.role = "local";
	ev.op = "bench.append";
	ev.object = "bench";
	ev.outcome = "success";
	ev.client = "127.0.0.1";
	while ((t0 = now_s()) < arg->until) {
		if (audit_log(arg->a, &ev) != 0) {
			arg->failed = 1;
			break;
		}
		lat_add(&arg->lat, (now_s() - t0) * 1e6);
		arg->count++;
	}
	return NULL;
}

int
bench_audit(const char *target, const char *name, int threads,
    double base_ops, const char *against, double *out_ops)
{
	pthread_t th[BENCH_MAX_THREADS];
	struct audit_arg args[BENCH_MAX_THREADS];
	struct bench_lat lat[BENCH_MAX_THREADS];
	struct bench_row *row;
	store *st = NULL;
	audit *a = NULL;
	double start, secs;
	int64_t records = 0, commits = 0;
	long total = 0;
	int i, failed = 0, r = -1;

	if (threads < 1 || threads > BENCH_MAX_THREADS)
		goto out;
	if (store_open(target, 1, &st) != 0 || audit_new(st, &a) != 0) {
		fprintf(stderr, "bench: %s: store: %s\n", name,
		    gp_err_detail());
		goto out;
	}
	memset(args, 0, sizeof(args));
	start = now_s();
	for (i = 0; i < threads; i++) {
		args[i].a = a;
		args[i].until = start + bench_seconds;
		pthread_create(&th[i], NULL, audit_worker, &args[i]);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		total += args[i].count;
		lat[i] = args[i].lat;
		if (args[i].failed) {
			fprintf(stderr, "bench: %s: append failed: %s\n", name,
			    gp_err_detail());
			failed = 1;
		}
	}
	secs = now_s() - start;
	row = row_add(name, threads);
	row->ops = total / secs;
	row->rss_mb = rss_self_mb();
	row->ratio = base_ops > 0 && !failed ? row->ops / base_ops : -1;
	snprintf(row->against, sizeof(row->against), "%s",
	    failed ? "FAILED (see above)" : against);
	/* A commit's fixed cost (lock, chain head, fsync) is shared by its
	 * batch; what each record adds shows in the time per commit as the
	 * batch grows. */
	audit_stats(a, &records, &commits);
	if (commits > 0)
		printf("bench: %s x%d (%s): %.1f records per commit, %.3f ms "
		    "per commit\n", name, threads, store_backend_name(st),
		    (double)records / (double)commits, secs * 1e3 /
		    (double)commits);
	lat_finish(lat, threads, row);
	if (out_ops != NULL)
		*out_ops = row->ops;
	r = failed ? -1 : 0;
out:
	audit_free(a);
	store_free(st);
	return r;
}

/* ---- HTTP load generator (keep-alive, loopback only) ---- */

int
http_connect(uint16_t port)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One load-generator connection: plain, or TLS when |ssl| is set. */
struct load_conn {
	int fd;
	SSL *ssl;
};

static void
conn_close(struct load_conn *c)
{
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
}

static int
conn_open(struct load_conn *c, SSL_CTX *ctx, uint16_t port)
{
	c->ssl = NULL;
	if ((c->fd = http_connect(port)) < 0)
		return -1;
	if (ctx != NULL && ((c->ssl = SSL_new(ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1 || SSL_connect(c->ssl) != 1)) {
		conn_close(c);
		return -1;
	}
	return 0;
}

static int
conn_write(struct load_conn *c, const char *buf, size_t len)
{
	if (c->ssl != NULL)
		return SSL_write(c->ssl, buf, (int)len) == (int)len ? 0 : -1;
	return write(c->fd, buf, len) == (ssize_t)len ? 0 : -1;
}

static ssize_t
conn_read(struct load_conn *c, char *buf, size_t len)
{
	if (c->ssl != NULL)
		return SSL_read(c->ssl, buf, (int)len);
	return read(c->fd, buf, len);
}

/* Reads one HTTP/1.1 reply with Content-Length into |buf|; returns its
 * status, where its body starts and its length, or -1. */
static int
conn_response(struct load_conn *c, char *buf, size_t cap, char **out_body,
    size_t *out_body_len)
{
	size_t have = 0, need = 0;
	char *hdr_end = NULL, *cl;
	ssize_t n;
	int status;

	for (;;) {
		if (have >= cap - 1)
			return -1;
		if ((n = conn_read(c, buf + have, cap - 1 - have)) <= 0)
			return -1;
		have += (size_t)n;
		buf[have] = '\0';
		if ((hdr_end = strstr(buf, "\r\n\r\n")) == NULL)
			continue;
		if (need == 0) {
			cl = strcasestr(buf, "\r\nContent-Length:");
			if (cl == NULL || cl > hdr_end)
				return -1;
			need = (size_t)(hdr_end + 4 - buf) +
			    strtoul(cl + 17, NULL, 10);
		}
		if (have >= need)
			break;
	}
	if (out_body != NULL)
		*out_body = hdr_end + 4;
	if (out_body_len != NULL)
		*out_body_len = need - (size_t)(hdr_end + 4 - buf);
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	return status;
}

int
bench_tls_response(SSL *ssl, char *buf, size_t cap, char **out_body)
{
	struct load_conn c = {-1, ssl};

	return conn_response(&c, buf, cap, out_body, NULL);
}

SSL_CTX *
bench_tls_ctx(const char *inst_dir, const char *role)
{
	char cert[400], key[400], root[400];
	SSL_CTX *ctx;

	snprintf(cert, sizeof(cert), "%s/admin/%s.pem", inst_dir, role);
	snprintf(key, sizeof(key), "%s/admin/%s.key", inst_dir, role);
	snprintf(root, sizeof(root), "%s/certs/root.pem", inst_dir);
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, root, NULL) != 1) {
		fprintf(stderr, "bench: TLS client set-up for %s failed\n",
		    role);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

struct load_arg {
	SSL_CTX *ctx;          /* NULL: plain HTTP */
	uint16_t port;
	const char *req;
	size_t req_len;
	int want;              /* the status that counts as success */
	bench_body_check check;
	double until;
	long count;
	long errors;
	struct bench_lat lat;
};

/* One keep-alive client; reconnects after a failure. */
static void *
load_worker(void *p)
{
	struct load_arg *a = p;
	struct load_conn c = {-1, NULL};
	char *buf = malloc(65536), *body = NULL;
	size_t body_len = 0;
	double t0;
	int status;

	while (buf != NULL && (t0 = now_s()) < a->until) {
		if (c.fd < 0 && conn_open(&c, a->ctx, a->port) != 0) {
			a->errors++;
			usleep(1000);
			continue;
		}
		if (conn_write(&c, a->req, a->req_len) != 0 ||
		    (status = conn_response(&c, buf, 65536, &body,
		    &body_len)) < 0) {
			conn_close(&c);
			a->errors++;
			continue;
		}
		if (status != a->want || (a->check != NULL &&
		    !a->check(body, body_len)))
			a->errors++;
		else
			a->count++;
		lat_add(&a->lat, (now_s() - t0) * 1e6);
	}
	conn_close(&c);
	free(buf);
	return NULL;
}

int
bench_load_run(const struct bench_load_spec *s, double *out_ops)
{
	pthread_t th[BENCH_MAX_THREADS];
	struct load_arg args[BENCH_MAX_THREADS];
	struct bench_lat lat[BENCH_MAX_THREADS];
	struct bench_row *row;
	double start, mb;
	long total = 0, errors = 0;
	int i, failed;

	if (s->clients < 1 || s->clients > BENCH_MAX_THREADS ||
	    s->nports < 1 || s->nports > BENCH_MAX_THREADS)
		return -1;
	memset(args, 0, sizeof(args));
	start = now_s();
	for (i = 0; i < s->clients; i++) {
		args[i].ctx = s->ctx;
		args[i].port = s->ports[i % s->nports];
		args[i].req = s->request;
		args[i].req_len = s->request_len;
		args[i].want = s->want_status;
		args[i].check = s->check;
		args[i].until = start + bench_seconds;
		pthread_create(&th[i], NULL, load_worker, &args[i]);
	}
	for (i = 0; i < s->clients; i++) {
		pthread_join(th[i], NULL);
		total += args[i].count;
		errors += args[i].errors;
		lat[i] = args[i].lat;
	}
	row = row_add(s->name, s->clients);
	row->ops = total / (now_s() - start);
	for (i = 0; i < s->nports; i++) {
		if ((mb = rss_pid_mb(s->servers[i])) > row->rss_mb)
			row->rss_mb = mb;
	}
	failed = (double)errors > s->max_failed * (double)total;
	/* A failed run's rate is no figure to compare. */
	row->ratio = s->base_ops > 0 && !failed ? row->ops / s->base_ops : -1;
	snprintf(row->against, sizeof(row->against), "%s",
	    failed ? "FAILED (see above)" : s->against != NULL ? s->against :
	    "");
	lat_finish(lat, s->clients, row);
	if (out_ops != NULL)
		*out_ops = row->ops;
	if (errors > 0)
		fprintf(stderr, "bench: %s: %ld of %ld requests failed\n",
		    s->name, errors, errors + total);
	return failed ? -1 : 0;
}

/* bench_load_run() on one server, |max_errors| of it failing allowed. */
static int
bench_load(const char *name, SSL_CTX *ctx, uint16_t port, pid_t server,
    const char *request, size_t request_len, int want_status, int clients,
    double raw_ops, const char *against, double max_errors,
    double *out_ops)
{
	struct bench_load_spec s;

	memset(&s, 0, sizeof(s));
	s.name = name;
	s.ctx = ctx;
	s.ports = &port;
	s.nports = 1;
	s.servers = &server;
	s.request = request;
	s.request_len = request_len;
	s.want_status = want_status;
	s.clients = clients;
	s.base_ops = raw_ops;
	s.against = against;
	s.max_failed = max_errors;
	return bench_load_run(&s, out_ops);
}

int
bench_request_once(SSL_CTX *ctx, uint16_t port, const char *req,
    size_t req_len, int want_status, bench_body_check check)
{
	struct load_conn c = {-1, NULL};
	char *buf = malloc(65536), *body = NULL;
	size_t body_len = 0;
	int ok = 0;

	if (buf != NULL && conn_open(&c, ctx, port) == 0 &&
	    conn_write(&c, req, req_len) == 0 &&
	    conn_response(&c, buf, 65536, &body, &body_len) == want_status)
		ok = check == NULL || check(body, body_len);
	conn_close(&c);
	free(buf);
	return ok;
}

int
bench_http(const char *name, uint16_t port, const char *request,
    size_t request_len, int clients, double raw_ops, const char *against)
{
	return bench_load(name, NULL, port, server_pid, request, request_len,
	    200, clients, raw_ops, against, 0.01, NULL);
}

int
bench_https(const char *name, SSL_CTX *ctx, uint16_t port, pid_t server,
    const char *request, size_t request_len, int want_status, int clients,
    double raw_ops, const char *against, double *out_ops)
{
	return bench_load(name, ctx, port, server, request, request_len,
	    want_status, clients, raw_ops, against, 0, out_ops);
}

uint16_t
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	uint16_t port = 0;
	int fd;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

int
bench_cfg_set(const char *dir, const char *section, const char *key,
    json_t *val)
{
	char *path = gp_path_join(dir, "govpki.json");
	json_t *root = NULL, *sec;
	json_error_t jerr;
	int r = -1;

	if (val == NULL || path == NULL ||
	    (root = json_load_file(path, 0, &jerr)) == NULL)
		goto out;
	if ((sec = json_object_get(root, section)) == NULL) {
		sec = json_object();
		if (json_object_set_new(root, section, sec) != 0)
			goto out;
	}
	if (json_object_set_new(sec, key, val) != 0) {
		val = NULL; /* freed by jansson */
		goto out;
	}
	val = NULL; /* transferred */
	r = json_dump_file(root, path, JSON_INDENT(2)) == 0 ? 0 : -1;
out:
	if (r != 0)
		fprintf(stderr, "bench: cannot set %s.%s in %s/govpki.json\n",
		    section, key, dir);
	json_decref(val);
	json_decref(root);
	free(path);
	return r;
}

/* Runs |argv| quietly (its output would interleave with the table). */
int
run_cmd(char *const argv[])
{
	pid_t pid;
	int st, devnull;

	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		if ((devnull = open("/dev/null", O_WRONLY)) >= 0)
			dup2(devnull, STDOUT_FILENO);
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

pid_t
bench_serve(const char *govpki, const char *dir, uint16_t *out_http,
    uint16_t *out_https)
{
	return bench_serve_node(govpki, dir, NULL, NULL, out_http, out_https);
}

/* Starts `govpki serve` on an instance; waits until it answers. */
pid_t
bench_serve_node(const char *govpki, const char *dir, const char *node,
    const char *log, uint16_t *out_http, uint16_t *out_https)
{
	char http[64], https[64];
	uint16_t port = free_port(), sport = free_port();
	char *argv[12];
	pid_t pid;
	int i = 0, fd;

	snprintf(http, sizeof(http), "127.0.0.1:%u", port);
	snprintf(https, sizeof(https), "127.0.0.1:%u", sport);
	argv[i++] = (char *)govpki;
	argv[i++] = (char *)"serve";
	argv[i++] = (char *)"--dir";
	argv[i++] = (char *)dir;
	argv[i++] = (char *)"--http";
	argv[i++] = http;
	argv[i++] = (char *)"--https";
	argv[i++] = https;
	argv[i++] = (char *)"--quiet";
	if (node != NULL) {
		argv[i++] = (char *)"--node";
		argv[i++] = (char *)node;
	}
	argv[i] = NULL;
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY), err = -1;
		if (log != NULL)
			err = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (devnull >= 0)
			dup2(devnull, 1);
		if (err >= 0 || devnull >= 0)
			dup2(err >= 0 ? err : devnull, 2);
		execv(govpki, argv);
		_exit(127);
	}
	for (i = 0; i < 100; i++) {
		if ((fd = http_connect(port)) >= 0) {
			close(fd);
			if ((fd = http_connect(sport)) >= 0) {
				close(fd);
				if (out_http != NULL)
					*out_http = port;
				if (out_https != NULL)
					*out_https = sport;
				return pid;
			}
		}
		usleep(100000);
	}
	fprintf(stderr, "bench: govpki serve --dir %s did not start\n", dir);
	bench_serve_stop(pid);
	return -1;
}

void
bench_serve_stop(pid_t pid)
{
	int st, i;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (i = 0; i < 150; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		usleep(100000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/* Creates the run's instance and serves it for every feature. */
static int
server_start(const char *govpki, uint16_t *out_port)
{
	char dir[300];
	/* --dev-clock: the TSA is measured on machines without NTP too. */
	char *argv[] = {(char *)govpki, "init", "--dir", dir, "--dev-clock",
	    NULL};

	snprintf(dir, sizeof(dir), "%s/inst", bench_tmp);
	snprintf(bench_inst, sizeof(bench_inst), "%s", dir);
	if (run_cmd(argv) != 0) {
		fprintf(stderr, "bench: govpki init failed\n");
		return -1;
	}
	server_pid = bench_serve(govpki, dir, out_port, NULL);
	return server_pid > 0 ? 0 : -1;
}

static void
server_stop(void)
{
	bench_serve_stop(server_pid);
	server_pid = -1;
}

static void (*stop_fns[8])(void);
static size_t stop_fns_len;

int
bench_at_stop(void (*fn)(void))
{
	if (stop_fns_len == sizeof(stop_fns) / sizeof(stop_fns[0]))
		return -1;
	stop_fns[stop_fns_len++] = fn;
	return 0;
}

/* The registered stops, last first. */
static void
run_stops(void)
{
	while (stop_fns_len > 0)
		stop_fns[--stop_fns_len]();
}

static void
cleanup(void)
{
	char cmd[400];

	run_stops();
	server_stop();
	if (bench_tmp[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", bench_tmp);
		if (system(cmd) != 0)
			fprintf(stderr, "bench: could not remove %s\n",
			    bench_tmp);
	}
}

static void
on_signal(int sig)
{
	pid_t pid;
	int st;

	(void)sig;
	run_stops();
	server_stop();
	/* cleanup() does not run after _exit: remove the scratch folder
	 * here, with what a signal handler may call. */
	if (bench_tmp[0] != '\0' && (pid = fork()) == 0) {
		execl("/bin/rm", "rm", "-rf", bench_tmp, (char *)NULL);
		_exit(127);
	} else if (bench_tmp[0] != '\0' && pid > 0) {
		waitpid(pid, &st, 0);
	}
	_exit(1);
}

/* Whether BENCH_ONLY (a comma-separated list) names |name|; all when
 * unset. */
static int
bench_selected(const char *name)
{
	const char *only = getenv("BENCH_ONLY"), *p;
	size_t n = strlen(name);

	if (only == NULL || *only == '\0')
		return 1;
	for (p = only; (p = strstr(p, name)) != NULL; p += n) {
		if ((p == only || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
			return 1;
	}
	return 0;
}

/* A throwaway SoftHSM token with one key of each benchmarked type. */
static int
token_setup(tok_ctx **out_tok, EVP_PKEY **out_ec, EVP_PKEY **out_rsa)
{
	char conf[300], tokdir[300], text[700];
	tok_ctx *tok = NULL;
	FILE *f;

	snprintf(tokdir, sizeof(tokdir), "%s/tokens", bench_tmp);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", bench_tmp);
	if (gp_mkdir(tokdir, 0700) != 0 || (f = fopen(conf, "w")) == NULL)
		return -1;
	snprintf(text, sizeof(text), "directories.tokendir = %s\n"
	    "objectstore.backend = file\nlog.level = ERROR\n", tokdir);
	fputs(text, f);
	fclose(f);
	setenv("SOFTHSM2_CONF", conf, 1);
	if (tok_ctx_new(GP_SOFTHSM_MODULE, &tok) != 0 ||
	    tok_init_token(tok, "bench", "bench-so-pin", "bench-pin") != 0 ||
	    tok_login(tok, "bench", "bench-pin") != 0 ||
	    tok_keygen(tok, "bench", "ec", TOK_ALGO_EC_P256, NULL) != 0 ||
	    tok_keygen(tok, "bench", "rsa", TOK_ALGO_RSA_2048, NULL) != 0 ||
	    tok_key_load(tok, "pkcs11:token=bench;object=ec", out_ec) != 0 ||
	    tok_key_load(tok, "pkcs11:token=bench;object=rsa", out_rsa) != 0) {
		fprintf(stderr, "bench: token: %s\n", gp_err_detail());
		tok_ctx_free(tok);
		return -1;
	}
	*out_tok = tok;
	return 0;
}

static void
print_table(void)
{
	size_t i;

	printf("\n| operation | threads/clients | ops/s | p50 ms | p99 ms | "
	    "peak RSS MB | ratio | against |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|---|\n");
	for (i = 0; i < rows_len; i++) {
		struct bench_row *r = &rows[i];
		char ratio[16];
		if (r->ratio >= 0)
			snprintf(ratio, sizeof(ratio), "%.2f", r->ratio);
		else
			snprintf(ratio, sizeof(ratio), "-");
		printf("| %s | %d | %.0f | %.3f | %.3f | %.1f | %s | %s |\n",
		    r->op, r->threads, r->ops, r->p50_ms, r->p99_ms, r->rss_mb,
		    ratio, r->against[0] ? r->against : "-");
	}
}

double
bench_cpu_pid_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces: fields count from its ')'.
	 * utime and stime are fields 14 and 15 of proc(5). */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 2,
	    "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
	    &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

int
bench_run_child(const char *env, const char *dir, double *out_a,
    double *out_b)
{
	int pfd[2], st;
	pid_t pid;
	char buf[128];
	ssize_t n;

	*out_a = 0;
	*out_b = 0;
	if (pipe(pfd) != 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		char secs[32];

		dup2(pfd[1], 1);
		close(pfd[0]);
		setenv(env, dir, 1);
		snprintf(secs, sizeof(secs), "%f", bench_seconds);
		setenv("BENCH_SECONDS", secs, 1);
		execl("/proc/self/exe", "govpki-bench", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	n = read(pfd[0], buf, sizeof(buf) - 1);
	close(pfd[0]);
	waitpid(pid, &st, 0);
	if (n <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	buf[n] = '\0';
	return sscanf(buf, "%lf %lf", out_a, out_b) == 2 ? 0 : -1;
}

void
bench_seconds_env(void)
{
	const char *v = getenv("BENCH_SECONDS");

	if (v != NULL)
		bench_seconds = atof(v);
	if (bench_seconds <= 0 || bench_seconds > 60)
		bench_seconds = 2.0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"govpki", required_argument, NULL, 'g'},
		{"seconds", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	const char *govpki = "build/govpki";
	tok_ctx *tok = NULL;
	EVP_PKEY *ec = NULL, *rsa = NULL;
	double raw_ec[3] = {0}, raw_rsa[3] = {0}, audit_ops[2] = {0, 0};
	char path[300];
	uint16_t port = 0;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'g':
			govpki = optarg;
			break;
		case 's':
			bench_seconds = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: govpki-bench [--govpki PATH] "
			    "[--seconds S]\n");
			return 2;
		}
	}
	bench_seconds_env();
	ASN1_STRING_set_default_mask_asc("utf8only");
	snprintf(bench_tmp, sizeof(bench_tmp), "/tmp/govpki-bench.XXXXXX");
	if (mkdtemp(bench_tmp) == NULL) {
		bench_tmp[0] = '\0';
		return 1;
	}
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	printf("govpki bench: %.1f s per measurement, raw limits first\n",
	    bench_seconds);
	if (token_setup(&tok, &ec, &rsa) != 0)
		goto out;
	if (bench_sign(ec, "raw sign P-256 (PKCS#11)", 1, &raw_ec[1]) != 0 ||
	    bench_sign(ec, "raw sign P-256 (PKCS#11)", 2, &raw_ec[2]) != 0 ||
	    bench_sign(rsa, "raw sign RSA-2048 (PKCS#11)", 1, &raw_rsa[1]) != 0 ||
	    bench_sign(rsa, "raw sign RSA-2048 (PKCS#11)", 2, &raw_rsa[2]) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/audit-1.db", bench_tmp);
	if (bench_audit(path, "audit append (durable)", 1, raw_ec[1],
	    "raw P-256 x1", &audit_ops[0]) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/audit-%d.db", bench_tmp,
	    BENCH_AUDIT_THREADS);
	if (bench_audit(path, "audit append (durable)", BENCH_AUDIT_THREADS,
	    raw_ec[2], "raw P-256 x2", &audit_ops[1]) != 0)
		goto out;
	if (server_start(govpki, &port) != 0)
		goto out;
	/* /healthz re-probes the token and the store at most once a second. */
	{
		static const char req[] =
		    "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
		if (bench_http("http GET /healthz", port, req, sizeof(req) - 1,
		    4, raw_ec[2], "raw P-256 x2") != 0)
			goto out;
	}
	/* Each capability measures itself against the raw limits above. */
	{
		struct bench_env env;
		size_t k;
		memset(&env, 0, sizeof(env));
		env.port = port;
		env.inst_dir = bench_inst;
		env.raw_ec[0] = raw_ec[1];
		env.raw_ec[1] = raw_ec[2];
		env.raw_rsa[0] = raw_rsa[1];
		env.raw_rsa[1] = raw_rsa[2];
		env.audit_sqlite[0] = audit_ops[0];
		env.audit_sqlite[1] = audit_ops[1];
		for (k = 0; bench_features[k].name != NULL; k++) {
			if (!bench_selected(bench_features[k].name))
				continue;
			if (bench_features[k].fn(&env) != 0)
				goto out;
		}
	}
	rc = 0;
out:
	print_table();
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
	tok_ctx_free(tok);
	if (rc != 0)
		fprintf(stderr, "bench: incomplete (see above)\n");
	return rc;
}
