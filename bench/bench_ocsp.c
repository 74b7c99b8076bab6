/*
 * bench_ocsp.c: OCSP and CRL rows of `make bench`.
 *
 *   ocsp pre-signed    POST /ocsp without a nonce (RFC 5019): answered from
 *                      the pre-signed cache after one store read; target at
 *                      least 3x the raw P-256 token sign rate;
 *   ocsp nonce         POST /ocsp with a 16-byte nonce: one token signature
 *                      per answer; target at least 0.8x the raw rate;
 *   openssl ocsp       `openssl ocsp -index` as responder (software key,
 *                      one connection per request, single-threaded) on the
 *                      same requests, one client, and govpki with one
 *                      client against it;
 *   ocsp @10k / @1M    pre-signed throughput with 10 thousand, then one
 *                      million certificates in the server's store; target
 *                      ratio at least 0.9;
 *   crl 100k / 1M      generating a CRL of that many revoked entries in a
 *                      child process: time, entries/s and the child's peak
 *                      RSS (bounded memory); the 1M row's ratio is its time
 *                      over ten times the 100k time (1.0: linear).
 * Synthetic rows are bulk-inserted in one transaction, outside the timing.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "audit/audit.h"
#include "bench/bench.h"
#include "ca/ca.h"
#include "store/store.h"

int bench_ocsp(const struct bench_env *env);

static X509 *
load_pem(const char *dir, const char *name)
{
	char path[512];
	FILE *f;
	X509 *x;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

/* The DER OCSPRequest for |cert| under |issuer|, with a 16-byte nonce when
 * |nonce|. */
static int
make_req(X509 *issuer, X509 *cert, int nonce, unsigned char **out)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_CERTID *id = OCSP_cert_to_id(NULL, cert, issuer);
	int n = -1;

	*out = NULL;
	if (req != NULL && id != NULL && OCSP_request_add0_id(req, id) &&
	    (!nonce || OCSP_request_add1_nonce(req, NULL, 16)))
		n = i2d_OCSP_REQUEST(req, out);
	OCSP_REQUEST_free(req);
	return n;
}

/* "POST <path>" with |der| as the body, in a new buffer. */
static char *
http_post(const char *path, const unsigned char *der, int len,
    size_t *out_len)
{
	char hdr[256];
	char *buf;
	int h = snprintf(hdr, sizeof(hdr), "POST %s HTTP/1.1\r\nHost: "
	    "127.0.0.1\r\nContent-Type: application/ocsp-request\r\n"
	    "Content-Length: %d\r\n\r\n", path, len);

	if ((buf = malloc((size_t)h + (size_t)len)) == NULL)
		return NULL;
	memcpy(buf, hdr, (size_t)h);
	memcpy(buf + h, der, (size_t)len);
	*out_len = (size_t)h + (size_t)len;
	return buf;
}

/* Reads one response (headers, then Content-Length bytes) from |fd|;
 * returns its HTTP status or -1. The socket has a receive timeout. */
static int
read_one(int fd, char *buf, size_t cap)
{
	size_t have = 0, need = 0;
	ssize_t n;
	char *end = NULL, *cl;
	int status = -1;

	while (end == NULL) {
		if (have + 1 >= cap || (n = read(fd, buf + have,
		    cap - 1 - have)) <= 0)
			return -1;
		have += (size_t)n;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	if ((cl = strcasestr(buf, "\r\nContent-Length:")) == NULL)
		return -1;
	need = (size_t)strtoul(cl + 17, NULL, 10) +
	    (size_t)(end + 4 - buf);
	while (have < need) {
		size_t want = need - have < cap - 1 ? need - have : cap - 1;
		if ((n = read(fd, buf, want)) <= 0)
			return -1;
		have += (size_t)n;
	}
	return status;
}

/* One connection per request (as `openssl ocsp` serves), one client, for
 * bench_seconds: answers with status 200 per second. */
static double
close_loop(uint16_t port, const char *req, size_t len, long *out_err)
{
	char buf[16384];
	double start = now_s(), until = start + bench_seconds;
	struct timeval tv = {2, 0};
	long ok = 0, err = 0;
	int fd;

	while (now_s() < until) {
		if ((fd = http_connect(port)) < 0) {
			err++;
			usleep(1000);
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (write(fd, req, len) == (ssize_t)len &&
		    read_one(fd, buf, sizeof(buf)) == 200)
			ok++;
		else
			err++;
		close(fd);
	}
	*out_err = err;
	return ok / (now_s() - start);
}

static int
write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (f == NULL)
		return -1;
	ok = x != NULL ? PEM_write_X509(f, x) :
	    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	return ok ? 0 : -1;
}

/* A software P-256 key and a self-signed certificate for it. */
static int
sw_cert(const char *cn, EVP_PKEY **out_key, X509 **out_cert)
{
	struct ca_cert_spec spec;
	X509_NAME *name = NULL;
	char *serial = NULL, text[128];
	int r;

	*out_cert = NULL;
	if ((*out_key = EVP_EC_gen("P-256")) == NULL)
		return -1;
	snprintf(text, sizeof(text), "/CN=%s", cn);
	if (ca_name_parse(text, &name) != 0)
		return -1;
	memset(&spec, 0, sizeof(spec));
	spec.subject = name;
	spec.pubkey = *out_key;
	spec.issuer_key = *out_key;
	spec.not_before = (int64_t)time(NULL) - 60;
	spec.not_after = (int64_t)time(NULL) + 86400;
	spec.is_ca = 1;
	spec.path_len = -1;
	spec.key_usage = "critical,keyCertSign,cRLSign,digitalSignature";
	r = ca_cert_sign(&spec, out_cert, &serial);
	X509_NAME_free(name);
	free(serial);
	return r;
}

/* openssl ocsp -index as responder on |port| for |issuer| with |cert|
 * valid, once it answers |probe|; returns its pid or -1. */
static pid_t
openssl_responder(X509 *issuer, X509 *cert, uint16_t port, const char *probe,
    size_t probe_len)
{
	char ca[300], idx[300], rs[300], rk[300], portbuf[16], line[256];
	char *serial = ca_serial_hex(cert), *p;
	EVP_PKEY *k = NULL;
	X509 *rc = NULL;
	FILE *f;
	pid_t pid = -1;
	int i;

	snprintf(ca, sizeof(ca), "%s/ossl-ca.pem", bench_tmp);
	snprintf(idx, sizeof(idx), "%s/ossl-index.txt", bench_tmp);
	snprintf(rs, sizeof(rs), "%s/ossl-rsigner.pem", bench_tmp);
	snprintf(rk, sizeof(rk), "%s/ossl-rkey.pem", bench_tmp);
	if (serial == NULL || sw_cert("openssl responder", &k, &rc) != 0 ||
	    write_pem(ca, issuer, NULL) != 0 || write_pem(rs, rc, NULL) != 0 ||
	    write_pem(rk, NULL, k) != 0 || (f = fopen(idx, "w")) == NULL)
		goto out;
	for (p = serial; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'f' ? *p - 'a' + 'A' : *p);
	/* index.txt: status, expiry, revocation, serial, file, subject. */
	snprintf(line, sizeof(line), "V\t491231235959Z\t\t%s%s\tunknown\t"
	    "/CN=bench\n", strlen(serial) % 2 ? "0" : "", serial);
	fputs(line, f);
	fclose(f);
	snprintf(portbuf, sizeof(portbuf), "%u", port);
	if ((pid = fork()) == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		execlp("openssl", "openssl", "ocsp", "-index", idx, "-port",
		    portbuf, "-rsigner", rs, "-rkey", rk, "-CA", ca,
		    "-ignore_err", (char *)NULL);
		_exit(127);
	}
	/* Ready when it answers a real request: a connection closed without
	 * one makes `openssl ocsp` (3.0) spin on it for good. */
	for (i = 0; pid > 0 && i < 100; i++) {
		char buf[4096];
		struct timeval tv = {2, 0};
		int fd = http_connect(port), st = -1;
		if (fd >= 0) {
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			if (write(fd, probe, probe_len) == (ssize_t)probe_len)
				st = read_one(fd, buf, sizeof(buf));
			close(fd);
			if (st == 200)
				break;
		}
		usleep(50000);
	}
out:
	free(serial);
	EVP_PKEY_free(k);
	X509_free(rc);
	return pid;
}

/* Bulk rows: |n| certificates of |issuer| with serials <prefix><i>. */
static int
bulk_rows(store *st, const char *issuer, const char *prefix, long from,
    long n, const char *status)
{
	struct store_cert c;
	char serial[68];
	uint8_t der[1] = {0x30};
	long i;
	int r;

	if ((r = store_begin(st)) != 0)
		return r;
	for (i = from; i < from + n; i++) {
		memset(&c, 0, sizeof(c));
		snprintf(serial, sizeof(serial), "%s%010lx", prefix, i);
		c.serial = serial;
		c.issuer = (char *)issuer;
		c.profile = (char *)"bench";
		c.subject = (char *)"CN=bench";
		c.not_before = 1;
		c.not_after = 2000000000;
		c.status = (char *)status;
		c.revoked_at = strcmp(status, "good") ? 1700000000 : 0;
		c.reason = strcmp(status, "good") ? 1 : -1;
		c.created_ms = 1;
		c.der = der;
		c.der_len = 1;
		if ((r = store_cert_insert(st, &c)) != 0) {
			store_rollback(st);
			return r;
		}
	}
	return store_commit(st);
}

struct crl_result {
	double seconds;
	double peak_mb;
	long entries;
	int ok;
};

/* In a child: generates the CRL of the store at |db| and reports time and
 * peak RSS (VmHWM of the child alone) through a pipe. */
static int
crl_child(const char *db, const char *out, struct crl_result *res)
{
	int p[2];
	pid_t pid;
	int status;

	memset(res, 0, sizeof(*res));
	if (pipe(p) != 0)
		return -1;
	if ((pid = fork()) == 0) {
		struct crl_result r;
		struct ca_crl_spec spec;
		struct ca_crl_info info;
		store *st = NULL;
		audit *a = NULL;
		EVP_PKEY *k = NULL;
		X509 *c = NULL;
		struct rusage ru;
		double t0;

		memset(&r, 0, sizeof(r));
		close(p[0]);
		if (store_open(db, 0, &st) == 0 && audit_new(st, &a) == 0 &&
		    sw_cert("bench CRL issuer", &k, &c) == 0) {
			memset(&spec, 0, sizeof(spec));
			spec.st = st;
			spec.audit = a;
			spec.issuer = "ca";
			spec.issuer_cert = c;
			spec.issuer_key = k;
			spec.out_path = out;
			spec.next_update_s = 86400;
			spec.actor = "bench";
			spec.role = "local";
			t0 = now_s();
			r.ok = ca_crl_generate(&spec, &info) == 0;
			r.seconds = now_s() - t0;
			r.entries = (long)info.entries;
			getrusage(RUSAGE_SELF, &ru);
			r.peak_mb = ru.ru_maxrss / 1024.0;
			if (!r.ok)
				fprintf(stderr, "bench: CRL: %s\n",
				    gp_err_detail());
		}
		if (write(p[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (pid < 0 || read(p[0], res, sizeof(*res)) != (ssize_t)sizeof(*res))
		res->ok = 0;
	close(p[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	return res->ok ? 0 : -1;
}

static int
bench_crl(void)
{
	static const long sizes[2] = {100000, 1000000};
	char db[300], out[300], name[48];
	struct crl_result res[2];
	struct bench_row *row;
	store *st = NULL;
	long have = 0;
	int i, r = -1;

	snprintf(db, sizeof(db), "%s/crl-bench.db", bench_tmp);
	snprintf(out, sizeof(out), "%s/crl-bench.crl", bench_tmp);
	for (i = 0; i < 2; i++) {
		if (store_open(db, 1, &st) != 0 ||
		    bulk_rows(st, "ca", "7a", have, sizes[i] - have,
		    "revoked") != 0) {
			fprintf(stderr, "bench: CRL rows: %s\n", gp_err_detail());
			goto out;
		}
		store_free(st);
		st = NULL;
		have = sizes[i];
		if (crl_child(db, out, &res[i]) != 0 ||
		    res[i].entries != sizes[i]) {
			fprintf(stderr, "bench: CRL of %ld entries failed\n",
			    sizes[i]);
			goto out;
		}
		snprintf(name, sizeof(name), "crl generate %ldk entries",
		    sizes[i] / 1000);
		row = row_add(name, 1);
		row->ops = res[i].entries / res[i].seconds;
		row->p50_ms = row->p99_ms = res[i].seconds * 1000;
		row->rss_mb = res[i].peak_mb;
		row->ratio = i == 0 ? -1 : res[1].seconds /
		    (res[0].seconds * 10);
		snprintf(row->against, sizeof(row->against), "%s",
		    i == 0 ? "entries/s; ms" : "10x 100k time");
	}
	r = 0;
out:
	store_free(st);
	return r;
}

/* Both scale points start from a checkpointed WAL, as a server that has
 * run a while does; a bulk insert leaves a WAL of hundreds of MB. */
static void
wal_checkpoint(const char *db)
{
	char *argv[] = {"sqlite3", "-cmd", ".timeout 10000", (char *)db,
	    "PRAGMA wal_checkpoint(TRUNCATE);", NULL};

	(void)run_cmd(argv);
}

int
bench_ocsp(const struct bench_env *env)
{
	X509 *ca = load_pem(env->inst_dir, "certs/ca.pem");
	X509 *leaf = load_pem(env->inst_dir, "admin/officer.pem");
	unsigned char *d_plain = NULL, *d_nonce = NULL;
	char *q_plain = NULL, *q_nonce = NULL, db[512];
	char *o_plain = NULL, *o_nonce = NULL;
	size_t lo_plain = 0, lo_nonce = 0;
	size_t l_plain = 0, l_nonce = 0;
	int n_plain, n_nonce, rc = -1;
	double ossl_nonce = 0, ossl_plain = 0, at10k = 0;
	long err = 0;
	uint16_t oport;
	pid_t opid = -1;
	store *st = NULL;
	struct bench_row *row;

	if (ca == NULL || leaf == NULL)
		goto out;
	n_plain = make_req(ca, leaf, 0, &d_plain);
	n_nonce = make_req(ca, leaf, 1, &d_nonce);
	if (n_plain <= 0 || n_nonce <= 0 ||
	    (q_plain = http_post("/ocsp", d_plain, n_plain, &l_plain)) ==
	    NULL || (q_nonce = http_post("/ocsp", d_nonce, n_nonce,
	    &l_nonce)) == NULL ||
	    /* openssl ocsp answers POSTs to "/" only. */
	    (o_plain = http_post("/", d_plain, n_plain, &lo_plain)) == NULL ||
	    (o_nonce = http_post("/", d_nonce, n_nonce, &lo_nonce)) == NULL)
		goto out;

	/* govpki against the token's raw rate (both cores). A nonce answer
	 * waits for its durable audit record (group commit), so it is
	 * measured with as many clients as the TSA's: a few clients only
	 * measure the fsync latency. */
	if (bench_http("ocsp POST pre-signed", env->port, q_plain, l_plain, 4,
	    env->raw_ec[1], "raw P-256 x2") != 0 ||
	    bench_http("ocsp POST nonce", env->port, q_nonce, l_nonce, 4,
	    env->raw_ec[1], "raw P-256 x2") != 0 ||
	    bench_http("ocsp POST nonce", env->port, q_nonce, l_nonce,
	    BENCH_HELD_CLIENTS, env->raw_ec[1], "raw P-256 x2") != 0)
		goto out;

	/* openssl ocsp on the same requests: one client, one connection per
	 * request (it answers one request per connection). */
	oport = free_port();
	if ((opid = openssl_responder(ca, leaf, oport, o_plain,
	    lo_plain)) > 0) {
		ossl_nonce = close_loop(oport, o_nonce, lo_nonce, &err);
		row = row_add("openssl ocsp responder nonce", 1);
		row->ops = ossl_nonce;
		row->ratio = env->raw_ec[0] > 0 ? ossl_nonce / env->raw_ec[0] :
		    -1;
		snprintf(row->against, sizeof(row->against), "raw P-256 x1");
		ossl_plain = close_loop(oport, o_plain, lo_plain, &err);
		row = row_add("openssl ocsp responder no nonce", 1);
		row->ops = ossl_plain;
		row->ratio = env->raw_ec[0] > 0 ? ossl_plain / env->raw_ec[0] :
		    -1;
		snprintf(row->against, sizeof(row->against), "raw P-256 x1");
		kill(opid, SIGTERM);
		waitpid(opid, NULL, 0);
		opid = -1;
		if (err > 0)
			fprintf(stderr, "bench: openssl ocsp: %ld failed\n",
			    err);
	}
	/* The same client pattern against govpki. */
	{
		double g;
		g = close_loop(env->port, q_nonce, l_nonce, &err);
		row = row_add("ocsp nonce, conn/request", 1);
		row->ops = g;
		row->ratio = ossl_nonce > 0 ? g / ossl_nonce : -1;
		snprintf(row->against, sizeof(row->against), "openssl ocsp");
		g = close_loop(env->port, q_plain, l_plain, &err);
		row = row_add("ocsp pre-signed, conn/request", 1);
		row->ops = g;
		row->ratio = ossl_plain > 0 ? g / ossl_plain : -1;
		snprintf(row->against, sizeof(row->against), "openssl ocsp");
	}

	/* Scale: 10 thousand, then a million stored certificates. */
	snprintf(db, sizeof(db), "%s/govpki.db", env->inst_dir);
	if (store_open(db, 0, &st) != 0 ||
	    bulk_rows(st, "bench", "5b", 0, 10000, "good") != 0)
		goto out;
	wal_checkpoint(db);
	if (bench_http("ocsp pre-signed @10k certs", env->port, q_plain,
	    l_plain, 4, env->raw_ec[1], "raw P-256 x2") != 0 ||
	    bulk_rows(st, "bench", "5b", 10000, 990000, "good") != 0)
		goto out;
	wal_checkpoint(db);
	if (bench_http("ocsp pre-signed @1M certs", env->port, q_plain,
	    l_plain, 4, env->raw_ec[1], "raw P-256 x2") != 0)
		goto out;
	/* The table is one array: the two rows just added precede this. */
	row = row_add("ocsp pre-signed @1M / @10k", 4);
	at10k = row[-2].ops;
	row->ops = row[-1].ops;
	row->ratio = at10k > 0 ? row->ops / at10k : -1;
	snprintf(row->against, sizeof(row->against), "@10k certs");
	store_free(st);
	st = NULL;
	if (bench_crl() != 0)
		goto out;
	rc = 0;
out:
	store_free(st);
	if (opid > 0) {
		kill(opid, SIGTERM);
		waitpid(opid, NULL, 0);
	}
	free(q_plain);
	free(q_nonce);
	free(o_plain);
	free(o_nonce);
	OPENSSL_free(d_plain);
	OPENSSL_free(d_nonce);
	X509_free(ca);
	X509_free(leaf);
	return rc;
}
