/*
 * bench_ca.c: issuance throughput for `make bench`, over the admin API.
 *
 *   raw sign CA key P-256 (PKCS#11)
 *       the instance's own CA key on its SoftHSM token, signing SHA-256
 *       digests through libp11 from 1 and BENCH_CA_CLIENTS threads: the
 *       ceiling the issuance rows are compared with (issue 3: at least
 *       half of it). Measured in a child process (the bench process holds
 *       its own token and may load the SoftHSM module only once), started
 *       by re-executing this binary with BENCH_CA_RAW_DIR set;
 *   https POST /api/v1/certificates @10k stored
 *       the whole path an officer uses: TLS 1.3 with the officer's client
 *       certificate (keep-alive), role check, JSON, CSR check, build,
 *       self-check, the CA key's signature on the token, the certificate
 *       row and its audit record committed durably (synchronous=FULL)
 *       before the 201 answer; 1 client, then BENCH_CA_CLIENTS: a reply
 *       waits for its group commit, so one client per thread of the raw
 *       row is what it takes to keep the server busy;
 *   https POST /api/v1/certificates @1M stored
 *       the same after the instance's store was filled to a million
 *       certificates; compared with the @10k row
 *
 * A second `govpki serve` on the bench instance (own ports, the
 * instance's configuration as `govpki init` wrote it) answers, so the rows
 * are self-contained; after each issuance row the server's CPU time per
 * certificate is printed, since the load generator shares the cores. The
 * synthetic rows are bulk-inserted into the instance's store in one
 * transaction, outside the timed sections.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "bench/bench.h"
#include "ca/ca.h"
#include "instance/instance.h"

int bench_ca(const struct bench_env *env);

#define BENCH_CA_SMALL 10000
#define BENCH_CA_LARGE 1000000
#define BENCH_CA_CLIENTS BENCH_HELD_CLIENTS
#define BENCH_CA_RAW_ENV "BENCH_CA_RAW_DIR"

/* The child: opens the instance, signs with its CA key from 1 and
 * BENCH_CA_CLIENTS threads and prints "ops1 opsN" on stdout. Runs before
 * main() of the re-executed bench, only when BENCH_CA_RAW_DIR is set. */
__attribute__((constructor)) static void
bench_ca_raw_child(void)
{
	const char *dir = getenv(BENCH_CA_RAW_ENV);
	struct instance *inst = NULL;
	double one = 0, many = 0;
	int rc = 1;

	if (dir == NULL)
		return;
	bench_seconds_env();
	if (instance_open(dir, INSTANCE_KEYS, &inst) == 0 &&
	    bench_sign(inst->key[GP_KEY_CA], "raw", 1, &one) == 0 &&
	    bench_sign(inst->key[GP_KEY_CA], "raw", BENCH_CA_CLIENTS,
	    &many) == 0) {
		rc = 0;
	} else {
		fprintf(stderr, "bench ca raw: %s\n", gp_err_detail());
	}
	instance_free(inst);
	if (rc == 0)
		printf("%f %f\n", one, many);
	fflush(stdout);
	_exit(rc);
}

/* The raw rates of the instance's CA key, 1 and BENCH_CA_CLIENTS threads,
 * from the child above; each gets its row. */
static int
bench_ca_raw(const char *dir, double out[2])
{
	struct bench_row *row;

	if (bench_run_child(BENCH_CA_RAW_ENV, dir, &out[0], &out[1]) != 0)
		return -1;
	row = row_add("raw sign CA key P-256 (PKCS#11)", 1);
	row->ops = out[0];
	row = row_add("raw sign CA key P-256 (PKCS#11)", BENCH_CA_CLIENTS);
	row->ops = out[1];
	return 0;
}

/* Synthetic rows up to |target|, in one transaction. Their serials start
 * with "f" and have 33 digits, so none can equal a real (32-digit)
 * serial. */
static int
bench_fill(store *st, int64_t target, int64_t *have)
{
	static uint8_t der[600];
	struct store_cert c;
	char serial[40], uscc[24];
	double t0 = now_s();
	int r;

	if (*have >= target)
		return 0;
	memset(der, 0x30, sizeof(der));
	memset(&c, 0, sizeof(c));
	c.serial = serial;
	c.issuer = (char *)"ca";
	c.profile = (char *)"enterprise";
	c.subject = (char *)"CN=synthetic,O=synthetic,C=CN";
	c.uscc = uscc;
	c.status = (char *)"good";
	c.reason = -1;
	c.not_before = 1700000000;
	c.not_after = 1800000000;
	c.der = der;
	c.der_len = sizeof(der);
	if ((r = store_begin(st)) != 0)
		return r;
	for (; *have < target; (*have)++) {
		snprintf(serial, sizeof(serial), "f%032llx",
		    (unsigned long long)*have * 2654435761ULL);
		snprintf(uscc, sizeof(uscc), "9135%014lld", (long long)*have);
		c.created_ms = gp_now_ms();
		if ((r = store_cert_insert(st, &c)) != 0) {
			store_rollback(st);
			return r;
		}
	}
	r = store_commit(st);
	printf("bench: store filled to %lld certificates in %.1f s\n",
	    (long long)target, now_s() - t0);
	fflush(stdout);
	return r;
}

/* bench_https() of issuance, then the server's CPU per certificate: the
 * machine's cores are shared with the load generator and with whatever
 * else runs, so throughput alone does not show what one issuance costs. */
static int
bench_issue(const char *name, SSL_CTX *ctx, uint16_t port, pid_t pid,
    const char *req, int clients, double raw, const char *against,
    double *out_ops)
{
	double c0 = bench_cpu_pid_s(pid), t0 = now_s(), ops = 0, c1, secs;
	int r;

	r = bench_https(name, ctx, port, pid, req, strlen(req), 201, clients,
	    raw, against, &ops);
	c1 = bench_cpu_pid_s(pid);
	secs = now_s() - t0;
	if (r == 0 && c0 >= 0 && c1 >= 0 && ops > 0)
		printf("bench: %s x%d: %.0f/s, server CPU %.3f ms per "
		    "certificate (%.0f%% of one core)\n", name, clients, ops,
		    (c1 - c0) * 1e3 / (ops * secs), (c1 - c0) * 100 / secs);
	fflush(stdout);
	if (out_ops != NULL)
		*out_ops = ops;
	return r;
}

static char *
bench_csr(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509_REQ *req = X509_REQ_new();
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s = NULL;
	long n;

	if (k != NULL && req != NULL && bio != NULL &&
	    X509_REQ_set_pubkey(req, k) &&
	    X509_REQ_sign(req, k, EVP_sha256()) > 0 &&
	    PEM_write_bio_X509_REQ(bio, req) &&
	    (n = BIO_get_mem_data(bio, &data)) > 0)
		s = strndup(data, (size_t)n);
	BIO_free(bio);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	return s;
}

/* The issuance request: an enterprise certificate from one CSR (each
 * answer is a new certificate with a new serial). */
char *
bench_ca_request(void)
{
	char *csr = bench_csr(), *body = NULL, *req = NULL;
	json_t *o;

	if (csr == NULL)
		return NULL;
	o = json_pack("{s:s, s:s, s:{s:s, s:s}}", "profile", "enterprise",
	    "csr", csr, "subject", "organization", "福州市某某科技有限公司",
	    "uscc", "91350100M000100Y43");
	if (o != NULL && (body = json_dumps(o, JSON_COMPACT)) != NULL &&
	    asprintf(&req, "POST /api/v1/certificates HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n\r\n%s", strlen(body), body) < 0)
		req = NULL;
	json_decref(o);
	free(body);
	free(csr);
	return req;
}

int
bench_ca(const struct bench_env *env)
{
	store *st = NULL;
	SSL_CTX *ctx = NULL;
	char path[400], *req = NULL;
	char govpki[400];
	double small = 0, large = 0, ops, raw[2] = {0, 0};
	int64_t have = 0;
	uint16_t port = 0;
	pid_t pid = -1;
	ssize_t n;
	int r = -1;

	/* The govpki binary the harness started: the server's executable. */
	snprintf(path, sizeof(path), "/proc/%ld/exe", (long)server_pid);
	if ((n = readlink(path, govpki, sizeof(govpki) - 1)) <= 0)
		goto out;
	govpki[n] = '\0';
	if ((pid = bench_serve(govpki, env->inst_dir, NULL, &port)) < 0) {
		fprintf(stderr, "bench: ca: second server did not start\n");
		goto out;
	}
	if ((ctx = bench_tls_ctx(env->inst_dir, "officer")) == NULL)
		goto out;
	if ((req = bench_ca_request()) == NULL)
		goto out;
	snprintf(path, sizeof(path), "%s/govpki.db", env->inst_dir);
	if (store_open(path, 0, &st) != 0 ||
	    store_cert_count(st, &have) != 0) {
		fprintf(stderr, "bench: ca store: %s\n", gp_err_detail());
		goto out;
	}
	if (bench_fill(st, BENCH_CA_SMALL, &have) != 0) {
		fprintf(stderr, "bench: fill: %s\n", gp_err_detail());
		goto out;
	}
	if (bench_ca_raw(env->inst_dir, raw) != 0) {
		fprintf(stderr, "bench: ca: raw signing with the CA key "
		    "failed\n");
		goto out;
	}
	if (bench_issue("https issue @10k stored", ctx, port, pid, req, 1,
	    raw[0], "raw CA key x1", &ops) != 0 ||
	    bench_issue("https issue @10k stored", ctx, port, pid, req,
	    BENCH_CA_CLIENTS, raw[1], "raw CA key x16", &small) != 0)
		goto out;
	if (store_cert_count(st, &have) != 0 ||
	    bench_fill(st, BENCH_CA_LARGE, &have) != 0) {
		fprintf(stderr, "bench: fill: %s\n", gp_err_detail());
		goto out;
	}
	if (bench_issue("https issue @1M stored", ctx, port, pid, req,
	    BENCH_CA_CLIENTS, small, "https issue @10k", &large) != 0)
		goto out;
	r = 0;
out:
	bench_serve_stop(pid);
	SSL_CTX_free(ctx);
	store_free(st);
	free(req);
	return r;
}
