/*
 * bench_tsa.c: time-stamps per second over HTTP (POST /tsa, audit on),
 * each against the raw signing rate of the same TSA key with the same
 * number of threads, measured in the same run:
 *
 *   PKCS#11  a copy of the bench instance (its token holds the TSA key) is
 *            served with limits.threads = clients; the raw rate of that
 *            key through libp11 is measured in a child process (one
 *            process may hold the SoftHSM module only once, and the bench
 *            holds its own token), started by re-executing this binary
 *            with BENCH_TSA_RAW_DIR set;
 *   file:    a second copy whose keys.tsa is a file: P-256 key with its own
 *            timeStamping certificate; its raw rate is in-process OpenSSL.
 *
 * Each server is checked to grant a token before it is measured, since a
 * rejection is also HTTP 200.
 *
 * The load generator shares the machine with the server, so the rate alone
 * says little about the server: each HTTP row is followed by a line with
 * the CPU time the server spent per token (utime + stime of its process
 * over the measurement), the load generator's per request, and the raw
 * signer's per signature, which are what to compare across runs on a
 * shared machine.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <openssl/x509v3.h>

#include "bench/bench.h"
#include "core/core.h"
#include "instance/instance.h"
#include "tsa/tsa.h"

#define BENCH_TSA_CLIENTS BENCH_HELD_CLIENTS
#define BENCH_TSA_RAW_ENV "BENCH_TSA_RAW_DIR"

int bench_tsa(const struct bench_env *env);

/* CPU seconds of this process (RUSAGE_SELF) or of its reaped children. */
static double
cpu_self_s(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* The child: opens the instance copy, signs with its TSA key from
 * BENCH_TSA_CLIENTS threads and prints its rate (ops/s) and CPU time per
 * signature (us, the signing only) on stdout. Runs before
 * main() of the re-executed bench, only when BENCH_TSA_RAW_DIR is set. */
__attribute__((constructor)) static void
bench_tsa_raw_child(void)
{
	const char *dir = getenv(BENCH_TSA_RAW_ENV);
	struct instance *inst = NULL;
	double ops = 0, c0 = 0, c1 = 0;
	int rc = 1;

	if (dir == NULL)
		return;
	bench_seconds_env();
	if (instance_open(dir, INSTANCE_KEYS, &inst) == 0 &&
	    (c0 = cpu_self_s(RUSAGE_SELF)) >= 0 &&
	    bench_sign(inst->key[GP_KEY_TSA], "raw", BENCH_TSA_CLIENTS,
	    &ops) == 0) {
		c1 = cpu_self_s(RUSAGE_SELF);
		rc = 0;
	} else {
		fprintf(stderr, "bench tsa raw: %s\n", gp_err_detail());
	}
	instance_free(inst);
	if (rc == 0)
		printf("%f %f\n", ops, (c1 - c0) * 1e6 / (ops * bench_seconds));
	fflush(stdout);
	_exit(rc);
}

static int
sh(const char *cmd)
{
	int st = system(cmd);

	return st == 0 ? 0 : -1;
}

/* Measures one TSA server as bench_http() does and prints where the CPU
 * went: the server's per token, the load generator's per request, against
 * |raw_cpu_us| per raw signature. */
static int
bench_tsa_http(const char *name, pid_t pid, uint16_t port, const char *req,
    size_t req_len, double raw, const char *against, double raw_cpu_us)
{
	double s0, s1, g0, g1, t0, t1, ops = 0, n;
	int r;

	s0 = bench_cpu_pid_s(pid);
	g0 = cpu_self_s(RUSAGE_SELF);
	t0 = now_s();
	/* Plain HTTP (no TLS context); every request must be answered. */
	r = bench_https(name, NULL, port, pid, req, req_len, 200,
	    BENCH_TSA_CLIENTS, raw, against, &ops);
	t1 = now_s();
	g1 = cpu_self_s(RUSAGE_SELF);
	s1 = bench_cpu_pid_s(pid);
	n = ops * (t1 - t0);
	/* The CPU ratio (raw CPU per signature over server CPU per token)
	 * does not depend on who else uses the cores; the rate ratio of the
	 * table does. */
	if (r == 0 && n > 0 && s0 >= 0 && s1 >= 0 && s1 > s0)
		printf("%s: server CPU %.0f us/token, load generator CPU %.0f "
		    "us/request, raw signing CPU %.0f us/signature (CPU ratio "
		    "%.2f)\n", name, (s1 - s0) * 1e6 / n, (g1 - g0) * 1e6 / n,
		    raw_cpu_us, raw_cpu_us * n / ((s1 - s0) * 1e6));
	return r;
}

/* Sets limits.threads (one MHD thread per client) and, with |tsa_key|,
 * keys.tsa in the copy's govpki.json. */
static int
cfg_edit(const char *dir, const char *tsa_key)
{
	if (bench_cfg_set(dir, "limits", "threads",
	    json_integer(BENCH_TSA_CLIENTS)) != 0)
		return -1;
	return tsa_key == NULL ? 0 : bench_cfg_set(dir, "keys", "tsa",
	    json_string(tsa_key));
}

/* A P-256 key in DIR/tsa-file.key and a self-issued certificate with the
 * critical timeStamping EKU in DIR/certs/tsa.pem. */
static int
file_key_make(const char *dir, char *uri, size_t uri_len)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX v3;
	X509_EXTENSION *e;
	char path[320];
	FILE *f;
	int r = -1;

	if (k == NULL || x == NULL || n == NULL)
		goto out;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"bench file TSA", -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage,
	    "critical,timeStamping")) == NULL)
		goto out;
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	if (X509_sign(x, k, EVP_sha256()) <= 0)
		goto out;
	snprintf(path, sizeof(path), "%s/tsa-file.key", dir);
	if ((f = fopen(path, "w")) == NULL)
		goto out;
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	snprintf(uri, uri_len, "file:%s", path);
	snprintf(path, sizeof(path), "%s/certs/tsa.pem", dir);
	if ((f = fopen(path, "w")) == NULL)
		goto out;
	PEM_write_X509(f, x);
	fclose(f);
	r = 0;
out:
	X509_NAME_free(n);
	X509_free(x);
	EVP_PKEY_free(k);
	return r;
}

/* The HTTP request: POST /tsa with a SHA-256 TimeStampReq (nonce, no
 * certReq). */
int
bench_tsa_request(char *buf, size_t cap, size_t *out_len)
{
	TS_REQ *req = TS_REQ_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	ASN1_INTEGER *nonce = ASN1_INTEGER_new();
	unsigned char dg[32], *der = NULL, *p;
	int n = -1, hl;

	RAND_bytes(dg, sizeof(dg));
	X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_UNDEF, NULL);
	ASN1_INTEGER_set(nonce, 123456789);
	if (TS_REQ_set_version(req, 1) && TS_MSG_IMPRINT_set_algo(mi, alg) &&
	    TS_MSG_IMPRINT_set_msg(mi, dg, sizeof(dg)) &&
	    TS_REQ_set_msg_imprint(req, mi) && TS_REQ_set_nonce(req, nonce))
		n = i2d_TS_REQ(req, NULL);
	if (n > 0 && (der = malloc((size_t)n)) != NULL) {
		p = der;
		i2d_TS_REQ(req, &p);
		hl = snprintf(buf, cap, "POST /tsa HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		    "Content-Type: application/timestamp-query\r\n"
		    "Content-Length: %d\r\n\r\n", n);
		if (hl > 0 && (size_t)hl + (size_t)n < cap) {
			memcpy(buf + hl, der, (size_t)n);
			*out_len = (size_t)hl + (size_t)n;
		} else {
			n = -1;
		}
	}
	free(der);
	ASN1_INTEGER_free(nonce);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	TS_REQ_free(req);
	return n > 0 ? 0 : -1;
}

/* The length of the DER header at |p| (tag |tag|, definite length) and
 * its content length into *out_len; 0 when it is not one or overruns
 * |avail|. */
static size_t
der_header(const unsigned char *p, size_t avail, unsigned char tag,
    size_t *out_len)
{
	size_t n, len = 0, i;

	if (avail < 2 || p[0] != tag)
		return 0;
	if (p[1] < 0x80) {
		len = p[1];
		n = 2;
	} else {
		n = p[1] & 0x7f;
		if (n == 0 || n > 3 || avail < 2 + n)
			return 0;
		for (i = 0; i < n; i++)
			len = (len << 8) | p[2 + i];
		n += 2;
	}
	if (len > avail - n)
		return 0;
	*out_len = len;
	return n;
}

/* Only the status is read, not the whole token: the load generator shares
 * the cores with the server. */
int
bench_tsa_granted(const char *body, size_t len)
{
	const unsigned char *p = (const unsigned char *)body;
	size_t h, resp_len, info_len, status_len;

	/* TimeStampResp ::= SEQUENCE { status PKIStatusInfo,
	 *   timeStampToken TimeStampToken OPTIONAL }
	 * PKIStatusInfo ::= SEQUENCE { status PKIStatus, ... }
	 * RFC 3161 2.4.2: granted (0) and grantedWithMods (1) carry a
	 * token; the other values MUST NOT. */
	if (body == NULL || (h = der_header(p, len, 0x30, &resp_len)) == 0)
		return 0;
	p += h;
	if ((h = der_header(p, resp_len, 0x30, &info_len)) == 0 ||
	    h + info_len >= resp_len)
		return 0; /* no token after the status */
	p += h;
	if (der_header(p, info_len, 0x02, &status_len) != 2 ||
	    status_len != 1)
		return 0;
	return p[2] == 0 || p[2] == 1;
}

/* Sends |req| once and checks that the reply holds a token. */
static int
granted(uint16_t port, const char *req, size_t len)
{
	char buf[16384], *body;
	ssize_t n;
	size_t have = 0;
	const unsigned char *p;
	TS_RESP *resp = NULL;
	int fd, ok = 0;

	if ((fd = http_connect(port)) < 0)
		return 0;
	if (write(fd, req, len) == (ssize_t)len) {
		usleep(200000);
		while ((n = read(fd, buf + have, sizeof(buf) - have - 1)) > 0) {
			have += (size_t)n;
			buf[have] = '\0';
			if ((body = strstr(buf, "\r\n\r\n")) != NULL &&
			    strstr(buf, "Content-Length:") != NULL &&
			    have - (size_t)(body + 4 - buf) >=
			    strtoul(strstr(buf, "Content-Length:") + 15, NULL,
			    10))
				break;
		}
		body = strstr(buf, "\r\n\r\n");
		if (body != NULL) {
			p = (const unsigned char *)body + 4;
			resp = d2i_TS_RESP(NULL, &p,
			    (long)(have - (size_t)(body + 4 - buf)));
			ok = resp != NULL && TS_RESP_get_token(resp) != NULL;
		}
	}
	TS_RESP_free(resp);
	close(fd);
	return ok;
}


int
bench_tsa(const struct bench_env *env)
{
	char p11[300], file[300], cmd[2200], uri[512], req[2048], govpki[300];
	struct bench_row *row;
	size_t req_len = 0;
	uint16_t port = 0;
	pid_t pid = -1;
	double raw = 0, raw_cpu_us = 0, c0;
	EVP_PKEY *fk = NULL;
	FILE *f;
	ssize_t n;
	int r = -1;

	/* The govpki binary the bench serves with: our parent's argv is
	 * not visible here, so take the one serving env->port. */
	snprintf(cmd, sizeof(cmd), "/proc/%ld/exe", (long)server_pid);
	if ((n = readlink(cmd, govpki, sizeof(govpki) - 1)) <= 0)
		return -1;
	govpki[n] = '\0';
	snprintf(p11, sizeof(p11), "%s/inst-tsa-p11", bench_tmp);
	snprintf(file, sizeof(file), "%s/inst-tsa-file", bench_tmp);
	/* The WAL is copied with the database (SQLite replays it); the
	 * shared-memory index is per host and rebuilt. */
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s' && cp -a '%s' '%s' && "
	    "rm -f '%s/govpki.db-shm' '%s/govpki.db-shm'", env->inst_dir, p11,
	    env->inst_dir, file, p11, file);
	if (sh(cmd) != 0 || cfg_edit(p11, NULL) != 0 ||
	    file_key_make(file, uri, sizeof(uri)) != 0 ||
	    cfg_edit(file, uri) != 0 ||
	    bench_tsa_request(req, sizeof(req), &req_len) != 0) {
		fprintf(stderr, "bench tsa: cannot prepare the instances\n");
		goto out;
	}

	/* PKCS#11: raw rate of the TSA key, then the TSA over HTTP. */
	if (bench_run_child(BENCH_TSA_RAW_ENV, p11, &raw, &raw_cpu_us) != 0 ||
	    raw <= 0) {
		fprintf(stderr, "bench tsa: raw PKCS#11 signing failed\n");
		goto out;
	}
	row = row_add("raw sign TSA key P-256 (PKCS#11)", BENCH_TSA_CLIENTS);
	row->ops = raw;
	if ((pid = bench_serve(govpki, p11, &port, NULL)) < 0 ||
	    !granted(port, req, req_len)) {
		fprintf(stderr, "bench tsa: the PKCS#11 TSA grants nothing\n");
		goto out;
	}
	r = bench_tsa_http("http POST /tsa (PKCS#11 key, audit)", pid, port,
	    req, req_len, raw, "raw TSA key x16", raw_cpu_us);
	bench_serve_stop(pid);
	pid = -1;
	if (r != 0)
		goto out;
	r = -1;

	/* file: key: raw in-process signing, then the TSA over HTTP. */
	if ((f = fopen(uri + 5, "r")) == NULL ||
	    (fk = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL) {
		if (f != NULL)
			fclose(f);
		goto out;
	}
	fclose(f);
	c0 = cpu_self_s(RUSAGE_SELF);
	if (bench_sign(fk, "raw sign TSA key P-256 (file, in-process)",
	    BENCH_TSA_CLIENTS, &raw) != 0)
		goto out;
	raw_cpu_us = (cpu_self_s(RUSAGE_SELF) - c0) * 1e6 /
	    (raw * bench_seconds);
	if ((pid = bench_serve(govpki, file, &port, NULL)) < 0 ||
	    !granted(port, req, req_len)) {
		fprintf(stderr, "bench tsa: the file-key TSA grants nothing\n");
		goto out;
	}
	r = bench_tsa_http("http POST /tsa (file key, audit)", pid, port, req,
	    req_len, raw, "raw file key x16", raw_cpu_us);
out:
	bench_serve_stop(pid);
	EVP_PKEY_free(fk);
	return r;
}
