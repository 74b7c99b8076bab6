/*
 * bench_sign.c: document signatures for `make bench`.
 *
 *   https POST /api/v1/sign (seal, 1 KiB doc)
 *       server seals of small documents sent whole: TLS with the officer's
 *       client certificate (keep-alive), seal policy, SHA-256, the CAdES
 *       B-B SignedData signed by the seal key on the token, and its audit
 *       record durable before the answer; compared with the raw P-256
 *       PKCS#11 sign rate of this run at 2 threads (the seal key's
 *       algorithm on the same SoftHSM; the bench process cannot load the
 *       instance's token a second time)
 *   http POST /api/v1/verify (seal, digest)
 *       public verification of one such seal by digest: signature,
 *       signing-certificate-v2, path, key usage, status from the store
 *   sign/verify 2 GiB stream (MB/s)
 *       `govpki sign` and `govpki verify` on a 2 GiB file, as child
 *       processes: throughput in MB/s, their peak RSS, and the ratio to
 *       `openssl dgst -sha256` on the same file in the same run
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "bench/bench.h"
#include "core/core.h"
#include "signer/signer.h"

int bench_signer(const struct bench_env *env);

#define BENCH_SIGN_CLIENTS 4      /* verification: not held */
#define BENCH_SIGN_DOC 1024
#define BENCH_BIG "2G"
#define BENCH_BIG_MB 2048.0

/* Runs |argv| as a child; returns its wall time, exit status and peak
 * RSS (MB). */
static double
sign_child(char *const argv[], const char *softhsm_conf, int *out_status,
    double *out_rss)
{
	struct rusage ru;
	double t0 = now_s();
	pid_t pid;
	int st = -1, devnull;

	*out_status = -1;
	*out_rss = 0;
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		if ((devnull = open("/dev/null", O_WRONLY)) >= 0) {
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		if (softhsm_conf != NULL)
			setenv("SOFTHSM2_CONF", softhsm_conf, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	if (wait4(pid, &st, 0, &ru) < 0)
		return -1;
	*out_status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	*out_rss = ru.ru_maxrss / 1024.0;
	return now_s() - t0;
}

static void
sign_stream_rows(const char *govpki, const char *dir)
{
	char big[300], p7s[300], pin[300], conf[300], sealpem[300];
	char *dgst[] = {(char *)"/usr/bin/openssl", (char *)"dgst",
	    (char *)"-sha256", big, NULL};
	char *sign[] = {(char *)govpki, (char *)"sign", (char *)"--key",
	    (char *)"pkcs11:token=govpki;object=seal", (char *)"--cert",
	    sealpem, (char *)"--pin-file", pin, (char *)"--in", big,
	    (char *)"--out", p7s, (char *)"--dir", (char *)dir, NULL};
	char *verify[] = {(char *)govpki, (char *)"verify", (char *)"--dir",
	    (char *)dir, (char *)"--in", big, (char *)"--sig", p7s, NULL};
	char *trunc[] = {(char *)"/usr/bin/truncate", (char *)"-s",
	    (char *)BENCH_BIG, big, NULL};
	struct bench_row *row;
	double t_ossl, t, rss, rss0;
	int st;

	snprintf(big, sizeof(big), "%s/big.bin", bench_tmp);
	snprintf(p7s, sizeof(p7s), "%s/big.p7s", bench_tmp);
	snprintf(pin, sizeof(pin), "%s/secrets/user.pin", dir);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
	snprintf(sealpem, sizeof(sealpem), "%s/certs/seal.pem", dir);
	if (run_cmd(trunc) != 0) {
		fprintf(stderr, "bench: sign: truncate failed\n");
		return;
	}
	/* Warm the page cache for both readers alike. */
	t_ossl = sign_child(dgst, NULL, &st, &rss0);
	t_ossl = sign_child(dgst, NULL, &st, &rss0);
	if (st != 0 || t_ossl <= 0) {
		fprintf(stderr, "bench: sign: openssl dgst failed\n");
		goto out;
	}
	row = row_add("openssl dgst -sha256 2 GiB (MB/s)", 1);
	row->ops = BENCH_BIG_MB / t_ossl;
	row->rss_mb = rss0;
	row->ratio = -1;
	t = sign_child(sign, conf, &st, &rss);
	row = row_add("govpki sign 2 GiB stream (MB/s)", 1);
	row->ops = st == 0 && t > 0 ? BENCH_BIG_MB / t : 0;
	row->rss_mb = rss;
	row->ratio = st == 0 && t > 0 ? t_ossl / t : -1;
	snprintf(row->against, sizeof(row->against), "openssl dgst");
	if (st != 0) {
		fprintf(stderr, "bench: govpki sign (2 GiB) exited %d\n", st);
		goto out;
	}
	t = sign_child(verify, NULL, &st, &rss);
	row = row_add("govpki verify 2 GiB stream (MB/s)", 1);
	row->ops = st == 0 && t > 0 ? BENCH_BIG_MB / t : 0;
	row->rss_mb = rss;
	row->ratio = st == 0 && t > 0 ? t_ossl / t : -1;
	snprintf(row->against, sizeof(row->against), "openssl dgst");
	if (st != 0)
		fprintf(stderr, "bench: govpki verify (2 GiB) exited %d\n", st);
out:
	unlink(big);
	unlink(p7s);
}

int
bench_signer(const struct bench_env *env)
{
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	char path[400], govpki[400];
	char *req = NULL, *vreq = NULL, *rbuf = NULL, *body, *hex = NULL;
	char *vbody = NULL;
	uint8_t doc[BENCH_SIGN_DOC], md[32];
	char *b64 = NULL;
	json_t *o = NULL, *rep = NULL;
	uint16_t port = 0;
	pid_t pid = -1;
	ssize_t n;
	int fd = -1, r = -1, sealed;

	snprintf(path, sizeof(path), "/proc/%ld/exe", (long)server_pid);
	if ((n = readlink(path, govpki, sizeof(govpki) - 1)) <= 0)
		goto out;
	govpki[n] = '\0';
	if ((pid = bench_serve(govpki, env->inst_dir, NULL, &port)) < 0) {
		fprintf(stderr, "bench: sign: second server did not start\n");
		goto out;
	}
	if ((ctx = bench_tls_ctx(env->inst_dir, "officer")) == NULL)
		goto out;
	memset(doc, 'a', sizeof(doc));
	if ((b64 = sig_b64_encode(doc, sizeof(doc))) == NULL ||
	    (o = json_pack("{s:s, s:s}", "seal", "seal", "document", b64)) ==
	    NULL || (body = json_dumps(o, JSON_COMPACT)) == NULL)
		goto out;
	if (asprintf(&req, "POST /api/v1/sign HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    strlen(body), body) < 0)
		req = NULL;
	free(body);
	json_decref(o);
	o = NULL;
	if (req == NULL)
		goto out;

	/* One seal to verify later. */
	if ((rbuf = malloc(65536)) == NULL || (fd = http_connect(port)) < 0 ||
	    (ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
	    SSL_connect(ssl) != 1 || SSL_write(ssl, req, (int)strlen(req)) !=
	    (int)strlen(req) || bench_tls_response(ssl, rbuf, 65536, &body) != 200 ||
	    (rep = json_loads(body, 0, NULL)) == NULL) {
		fprintf(stderr, "bench: sign: the first seal failed: %.300s\n",
		    rbuf ? rbuf : "");
		goto out;
	}
	if (!EVP_Digest(doc, sizeof(doc), md, NULL, EVP_sha256(), NULL) ||
	    (hex = gp_hex(md, sizeof(md))) == NULL ||
	    (o = json_pack("{s:O, s:s}", "signature", json_object_get(rep,
	    "signature"), "digest", hex)) == NULL ||
	    (vbody = json_dumps(o, JSON_COMPACT)) == NULL ||
	    asprintf(&vreq, "POST /api/v1/verify HTTP/1.1\r\nHost: 127.0.0.1"
	    "\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n"
	    "%s", strlen(vbody), vbody) < 0)
		goto out;

	sealed = bench_https("https POST /api/v1/sign (seal, 1 KiB)", ctx,
	    port, pid, req, strlen(req), 200, BENCH_HELD_CLIENTS,
	    env->raw_ec[1], "raw P-256 p11 2thr", NULL);
	if (bench_http("http POST /api/v1/verify (seal, digest)", env->port,
	    vreq, strlen(vreq), BENCH_SIGN_CLIENTS, 0, "") != 0)
		fprintf(stderr, "bench: verify: requests failed\n");
	sign_stream_rows(govpki, env->inst_dir);
	r = sealed;
out:
	if (ssl != NULL) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	if (fd >= 0)
		close(fd);
	bench_serve_stop(pid);
	SSL_CTX_free(ctx);
	json_decref(o);
	json_decref(rep);
	free(req);
	free(vreq);
	free(vbody);
	free(rbuf);
	free(hex);
	free(b64);
	return r;
}
