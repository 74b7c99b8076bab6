/*
 * bench_est.c: enrolment throughput for `make bench` (BENCH_ONLY=est).
 *
 *   https POST /.well-known/est/simpleenroll
 *       a holder's whole enrolment as the server does it: TLS, the
 *       one-time code (HTTP Basic) found by its hash, the request's
 *       proof of possession, the signing certificate signed by the CA key
 *       on the token, an RSA-2048 key pair generated on the instance
 *       token and wrapped out under the KMC's storage key, its encryption
 *       certificate signed, and the code's use, both certificate rows,
 *       the pair, the escrowed key and their four records committed
 *       durably in one transaction before the 200 answer; 1 client, then
 *       BENCH_HELD_CLIENTS, each code used once;
 *   against the raw rate of the instance's CA key (the bench_ca child),
 *   which makes two of the signatures an enrolment needs.
 *
 * The codes are made over the admin API before the timed part. A second
 * `govpki serve --est` on the run's instance answers.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "bench/bench.h"
#include "core/core.h"
#include "est/est.h"

int bench_est(const struct bench_env *env);

#define BENCH_EST_CODES 600
#define BENCH_EST_RAW_ENV "BENCH_CA_RAW_DIR" /* bench_ca.c's child */

struct est_load {
	SSL_CTX *ctx;
	uint16_t port;
	const char *csr;               /* base64 DER */
	char (*codes)[32];
	int ncodes;
	int *next;                     /* shared, under |mu| */
	pthread_mutex_t *mu;
	double until;
	long ok;
	int failed;
	struct bench_lat lat;
};

static pid_t
bench_est_serve(const char *govpki, const char *dir, uint16_t *adm,
    uint16_t *est)
{
	char a[3][64];
	uint16_t p[3] = { free_port(), free_port(), free_port() };
	pid_t pid;
	int i, fd, n;

	for (i = 0; i < 3; i++)
		snprintf(a[i], sizeof(a[i]), "127.0.0.1:%u", p[i]);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0) {
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		execl(govpki, govpki, "serve", "--dir", dir, "--http", a[0],
		    "--https", a[1], "--est", a[2], "--quiet", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100; i++) {
		for (n = 0; n < 3 && (fd = http_connect(p[n])) >= 0; n++)
			close(fd);
		if (n == 3) {
			*adm = p[1];
			*est = p[2];
			return pid;
		}
		usleep(100000);
	}
	bench_serve_stop(pid);
	return -1;
}

/* One request on a fresh TLS connection; its status, or -1. */
static int
bench_est_once(SSL_CTX *ctx, uint16_t port, const char *req, size_t len,
    char *buf, size_t cap, char **body)
{
	SSL *ssl = NULL;
	int fd = http_connect(port), st = -1;

	if (fd >= 0 && (ssl = SSL_new(ctx)) != NULL &&
	    SSL_set_fd(ssl, fd) == 1 && SSL_connect(ssl) == 1 &&
	    SSL_write(ssl, req, (int)len) == (int)len)
		st = bench_tls_response(ssl, buf, cap, body);
	if (ssl != NULL) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	if (fd >= 0)
		close(fd);
	return st;
}

/* |n| enterprise codes over the admin API into |codes|. */
static int
bench_est_codes(SSL_CTX *octx, uint16_t port, char (*codes)[32], int n)
{
	static const char body[] = "{\"profile\":\"enterprise\",\"subject\":"
	    "{\"organization\":\"bench\",\"uscc\":\"91350100M000100Y43\"}}";
	char req[512], *buf = malloc(65536), *b;
	json_t *j;
	int i, len;

	if (buf == NULL)
		return -1;
	len = snprintf(req, sizeof(req), "POST /api/v1/enrolments HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
	for (i = 0; i < n; i++) {
		if (bench_est_once(octx, port, req, (size_t)len, buf, 65536,
		    &b) != 201 || (j = json_loads(b, 0, NULL)) == NULL) {
			free(buf);
			return -1;
		}
		snprintf(codes[i], 32, "%s",
		    json_string_value(json_object_get(j, "code")));
		json_decref(j);
	}
	free(buf);
	return 0;
}

static void *
bench_est_worker(void *p)
{
	struct est_load *a = p;
	char *req = NULL, *buf = malloc(65536), *b, cred[64], auth[128];
	int idx, st, len;
	double t0;

	while (buf != NULL && (t0 = now_s()) < a->until) {
		pthread_mutex_lock(a->mu);
		idx = (*a->next)++;
		pthread_mutex_unlock(a->mu);
		if (idx >= a->ncodes)
			break;
		snprintf(cred, sizeof(cred), "holder:%s", a->codes[idx]);
		EVP_EncodeBlock((unsigned char *)auth, (unsigned char *)cred,
		    (int)strlen(cred));
		free(req);
		if ((len = asprintf(&req, "POST /.well-known/est/simpleenroll "
		    "HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic %s\r\n"
		    "Content-Type: application/pkcs10\r\nContent-Length: %zu\r\n"
		    "\r\n%s", auth, strlen(a->csr), a->csr)) < 0) {
			req = NULL;
			a->failed = 1;
			break;
		}
		st = bench_est_once(a->ctx, a->port, req, (size_t)len, buf,
		    65536, &b);
		if (st != 200) {
			a->failed = 1;
			break;
		}
		a->ok++;
		lat_add(&a->lat, (now_s() - t0) * 1e6);
	}
	free(req);
	free(buf);
	return NULL;
}

/* Enrolments from |clients| threads for bench_seconds (or until the
 * codes run out); adds a row against |raw|. */
static int
bench_est_run(SSL_CTX *ctx, uint16_t port, const char *csr,
    char (*codes)[32], int ncodes, int *next, pid_t server, int clients,
    double raw, const char *against)
{
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_t th[BENCH_MAX_THREADS];
	struct est_load a[BENCH_MAX_THREADS];
	struct bench_lat lat[BENCH_MAX_THREADS];
	struct bench_row *row;
	double t0 = now_s(), secs, c0 = bench_cpu_pid_s(server), c1;
	long ok = 0;
	int i, failed = 0;

	memset(a, 0, sizeof(a));
	for (i = 0; i < clients; i++) {
		a[i].ctx = ctx;
		a[i].port = port;
		a[i].csr = csr;
		a[i].codes = codes;
		a[i].ncodes = ncodes;
		a[i].next = next;
		a[i].mu = &mu;
		a[i].until = t0 + bench_seconds;
		pthread_create(&th[i], NULL, bench_est_worker, &a[i]);
	}
	for (i = 0; i < clients; i++) {
		pthread_join(th[i], NULL);
		ok += a[i].ok;
		failed |= a[i].failed;
		lat[i] = a[i].lat;
	}
	secs = now_s() - t0;
	c1 = bench_cpu_pid_s(server);
	row = row_add("https EST simpleenroll (pair+KMC)", clients);
	row->ops = ok / secs;
	row->rss_mb = rss_pid_mb(server);
	lat_finish(lat, clients, row);
	if (raw > 0) {
		row->ratio = row->ops / raw;
		snprintf(row->against, sizeof(row->against), "%s", against);
	}
	if (ok > 0 && c0 >= 0 && c1 >= 0)
		printf("bench: est simpleenroll x%d: %.1f/s, server CPU %.1f ms "
		    "per enrolment (two certificates, a wrapped RSA-2048 key, "
		    "one durable transaction)\n", clients, row->ops,
		    (c1 - c0) * 1e3 / ok);
	fflush(stdout);
	if (failed)
		fprintf(stderr, "bench: est: an enrolment failed\n");
	return failed ? -1 : 0;
}

int
bench_est(const struct bench_env *env)
{
	char path[400], govpki[400], root[400], *csr = NULL;
	char (*codes)[32] = NULL;
	SSL_CTX *octx = NULL, *ectx = NULL;
	EVP_PKEY *k = NULL;
	X509_REQ *req = NULL;
	unsigned char *der = NULL;
	size_t csr_len = 0;
	double raw[2] = {0, 0};
	uint16_t adm = 0, est = 0;
	pid_t pid = -1;
	ssize_t n;
	int next = 0, len, r = -1, clients = BENCH_HELD_CLIENTS;

	snprintf(path, sizeof(path), "/proc/%ld/exe", (long)server_pid);
	if ((n = readlink(path, govpki, sizeof(govpki) - 1)) <= 0)
		goto out;
	govpki[n] = '\0';
	if (bench_run_child(BENCH_EST_RAW_ENV, env->inst_dir, &raw[0],
	    &raw[1]) != 0) {
		fprintf(stderr, "bench: est: raw CA key rate failed\n");
		goto out;
	}
	if ((pid = bench_est_serve(govpki, env->inst_dir, &adm, &est)) < 0) {
		fprintf(stderr, "bench: est: govpki serve --est did not start\n");
		goto out;
	}
	snprintf(root, sizeof(root), "%s/certs/root.pem", env->inst_dir);
	if ((octx = bench_tls_ctx(env->inst_dir, "officer")) == NULL ||
	    (ectx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_load_verify_locations(ectx, root, NULL) != 1)
		goto out;
	SSL_CTX_set_verify(ectx, SSL_VERIFY_PEER, NULL);
	if ((codes = calloc(BENCH_EST_CODES, sizeof(*codes))) == NULL ||
	    bench_est_codes(octx, adm, codes, BENCH_EST_CODES) != 0) {
		fprintf(stderr, "bench: est: making enrolment codes failed\n");
		goto out;
	}
	/* One holder key for every request: the server checks each. */
	if ((k = EVP_EC_gen("P-256")) == NULL || (req = X509_REQ_new()) == NULL ||
	    X509_REQ_set_pubkey(req, k) != 1 ||
	    X509_REQ_sign(req, k, EVP_sha256()) <= 0 ||
	    (len = i2d_X509_REQ(req, &der)) <= 0 ||
	    est_b64(der, (size_t)len, &csr, &csr_len) != 0)
		goto out;
	if (bench_est_run(ectx, est, csr, codes, BENCH_EST_CODES, &next, pid,
	    1, raw[0], "raw CA key x1") != 0 ||
	    bench_est_run(ectx, est, csr, codes, BENCH_EST_CODES, &next, pid,
	    clients, raw[1], "raw CA key x16") != 0)
		goto out;
	r = 0;
out:
	bench_serve_stop(pid);
	SSL_CTX_free(octx);
	SSL_CTX_free(ectx);
	OPENSSL_free(der);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	free(codes);
	free(csr);
	return r;
}
