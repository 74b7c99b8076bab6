/*
 * bench_tender.c: sealed-bid tendering for `make bench` (tender/).
 *
 *   http POST bid 1 MiB (platform)
 *       submissions of distinct 1 MiB sealed bids, two bidders in parallel
 *       (each its own legal person, in sealing order, so none supersedes
 *       out of order): streamed to disk and synced, time-stamped by the
 *       instance TSA, parsed, the signer's status and signature checked,
 *       the receipt signed by the seal, the bid and its record committed;
 *       compared with the raw P-256 PKCS#11 sign rate at 2 threads (the
 *       seal key's algorithm on the same SoftHSM)
 *   http POST bid 500 MiB (peak RSS)
 *       one 500 MiB sealed bid sent to a freshly started server: the
 *       server's peak RSS (VmHWM) after it answered (target: under 64 MB)
 *   open 1000 bids (platform)
 *       in a child process on an instance of its own: 1000 sealed bids
 *       stored, then the approval of the opening timed (the key gate, the
 *       token self-check, every bid read back, hashed, its key unwrapped
 *       on the token, its content decrypted, the outcomes committed, the
 *       record signed and time-stamped); compared with 1000 raw RSA
 *       decryptions with the same opening key on the token
 * Bids are sealed in the bench process with software bidder keys whose
 * certificates the instance issued (`govpki ca issue`).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "bench/bench.h"
#include "core/core.h"
#include "instance/instance.h"
#include "tender/internal.h"

int bench_tender(const struct bench_env *env);

#define BENCH_TENDER_OPEN_ENV "GOVPKI_BENCH_TENDER_OPEN"
#define BENCH_TENDER_BIDS 80        /* per submitting thread */
#define BENCH_TENDER_THREADS 2
#define BENCH_TENDER_MIB (1024 * 1024)
#define BENCH_TENDER_BIG_MB 500
#define BENCH_TENDER_OPEN_N 1000

/* A bidder of the bench: a software key and its certificate from the
 * instance. */
struct bench_bidder {
	EVP_PKEY *key;
	X509 *cert;
};

/* Runs |cmd| (a shell command line of controlled paths) and returns its
 * stdout (malloc'ed) or NULL. */
static char *
bench_capture(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (p == NULL)
		return NULL;
	for (;;) {
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap + 65536);
			if (nb == NULL)
				break;
			buf = nb;
			cap += 65536;
		}
		n = fread(buf + len, 1, cap - len - 1, p);
		if (n == 0)
			break;
		len += n;
	}
	if (pclose(p) != 0 || buf == NULL) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

static X509 *
bench_pem_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f != NULL)
		fclose(f);
	return x;
}

/* A bidder of |uscc| with a certificate the instance |dir| issued. */
static int
bench_bidder_make(const char *govpki, const char *dir, int n, const char *uscc,
    struct bench_bidder *b)
{
	char csr[300], pem[300], cmd[1400];
	X509_REQ *req = NULL;
	X509_NAME *nm = NULL;
	FILE *f;
	char *out;
	int r = -1;

	memset(b, 0, sizeof(*b));
	snprintf(csr, sizeof(csr), "%s/bidder%d.csr", bench_tmp, n);
	snprintf(pem, sizeof(pem), "%s/bidder%d.pem", bench_tmp, n);
	if ((b->key = EVP_EC_gen("P-256")) == NULL ||
	    (req = X509_REQ_new()) == NULL || (nm = X509_NAME_new()) == NULL ||
	    !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"x", -1, -1, 0) ||
	    !X509_REQ_set_subject_name(req, nm) ||
	    !X509_REQ_set_pubkey(req, b->key) ||
	    !X509_REQ_sign(req, b->key, EVP_sha256()) ||
	    (f = fopen(csr, "w")) == NULL)
		goto out;
	PEM_write_X509_REQ(f, req);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "env -u SOFTHSM2_CONF '%s' ca issue --dir "
	    "'%s' --profile enterprise --csr '%s' --field organization=bench%d "
	    "--field uscc=%s --out '%s' 2>/dev/null", govpki, dir, csr, n, uscc,
	    pem);
	if ((out = bench_capture(cmd)) == NULL)
		goto out;
	free(out);
	if ((b->cert = bench_pem_cert(pem)) == NULL)
		goto out;
	r = 0;
out:
	X509_NAME_free(nm);
	X509_REQ_free(req);
	return r;
}

static void
bench_bidder_free(struct bench_bidder *b)
{
	EVP_PKEY_free(b->key);
	X509_free(b->cert);
	memset(b, 0, sizeof(*b));
}

/* A tender on |dir| (the local operator's CLI), its public JSON. */
static json_t *
bench_tender_create(const char *govpki, const char *dir, int seconds,
    const char *extra)
{
	char cmd[1400], when[40];
	time_t t = time(NULL) + seconds;
	struct tm tm;
	char *out;
	json_t *j;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(cmd, sizeof(cmd), "env -u SOFTHSM2_CONF '%s' tender create "
	    "--dir '%s' --title bench --deadline %s --opening-time %s %s "
	    "--json 2>/dev/null", govpki, dir, when, when, extra);
	if ((out = bench_capture(cmd)) == NULL)
		return NULL;
	j = json_loads(out, 0, NULL);
	free(out);
	return j;
}

/* Seals |size| bytes of document (pattern |seed|; sparse zeros when
 * |seed| < 0) for |tender| into |out|. */
static int
bench_seal(json_t *tender, X509 *root, STACK_OF(X509) *rc,
    const struct bench_bidder *b, uint64_t size, int seed, const char *out)
{
	struct tender_seal_req rq;
	struct tender_field f = {"price", "100.00"};
	char in[300];
	uint8_t *buf = NULL;
	int fd, r = -1;
	uint64_t done = 0;

	snprintf(in, sizeof(in), "%s/doc-%d-%ld.bin", bench_tmp, seed,
	    (long)pthread_self() % 100000);
	if ((fd = open(in, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		return -1;
	if (seed < 0) {
		r = ftruncate(fd, (off_t)size);
	} else if ((buf = malloc(65536)) != NULL) {
		memset(buf, seed & 0xff, 65536);
		memcpy(buf, &seed, sizeof(seed));
		r = 0;
		while (r == 0 && done < size) {
			size_t n = size - done < 65536 ? (size_t)(size - done) :
			    65536;
			r = write(fd, buf, n) == (ssize_t)n ? 0 : -1;
			done += n;
		}
	}
	close(fd);
	free(buf);
	if (r != 0)
		goto out;
	memset(&rq, 0, sizeof(rq));
	rq.tender = tender;
	rq.root = root;
	rq.recipients = rc;
	rq.fields = &f;
	rq.fields_len = 1;
	rq.in = in;
	rq.out = out;
	rq.key = b->key;
	rq.cert = b->cert;
	r = tender_seal(&rq, NULL) == 0 ? 0 : -1;
	if (r != 0)
		fprintf(stderr, "bench: tender: seal: %s\n", gp_err_detail());
out:
	unlink(in);
	return r;
}

/* POSTs the sealed bid |path| to |url|: the status, or -1. */
static int
bench_post(const char *url, const char *path)
{
	struct gp_http_req rq;
	uint8_t *body = NULL;
	size_t len = 0;
	int status = 0;

	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.url = url;
	rq.content_type = "application/pkcs7-mime";
	rq.body_path = path;
	rq.max = 1024 * 1024;
	rq.timeout_ms = 600000;
	rq.out_status = &status;
	if (gp_http_request(&rq, &body, &len) != 0)
		status = -1;
	if (status != 201 && status >= 0)
		fprintf(stderr, "bench: tender: POST %s: %d %.300s\n", url,
		    status, body != NULL ? (const char *)body : "");
	free(body);
	return status;
}

struct bench_submitter {
	const char *url;
	char paths[BENCH_TENDER_BIDS][300];
	int n;
	int ok;
	struct bench_lat lat;
};

static void *
bench_submit_worker(void *p)
{
	struct bench_submitter *s = p;
	double t;
	int i;

	for (i = 0; i < s->n; i++) {
		t = now_s();
		if (bench_post(s->url, s->paths[i]) == 201)
			s->ok++;
		lat_add(&s->lat, (now_s() - t) * 1e6);
	}
	return NULL;
}

/* The submission rate of 1 MiB bids. */
static int
bench_submissions(const char *govpki, const struct bench_env *env,
    X509 *root)
{
	static const char *const uscc[BENCH_TENDER_THREADS] = {
		"91110000600037341L", "91350100M000100Y43"};
	struct bench_submitter s[BENCH_TENDER_THREADS];
	struct bench_bidder b[BENCH_TENDER_THREADS];
	pthread_t th[BENCH_TENDER_THREADS];
	STACK_OF(X509) *rc = NULL;
	struct bench_row *row;
	json_t *tender = NULL;
	char url[300];
	double t0, el;
	int i, k, ok = 0, r = -1;

	memset(s, 0, sizeof(s));
	memset(b, 0, sizeof(b));
	for (i = 0; i < BENCH_TENDER_THREADS; i++)
		if (bench_bidder_make(govpki, env->inst_dir, i, uscc[i],
		    &b[i]) != 0) {
			fprintf(stderr, "bench: tender: bidder %d\n", i);
			goto out;
		}
	if ((tender = bench_tender_create(govpki, env->inst_dir, 3600, "")) ==
	    NULL || tender_recipients(tender, root, &rc) != 0) {
		fprintf(stderr, "bench: tender: create: %s\n", gp_err_detail());
		goto out;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/tenders/%s/bids",
	    env->port, json_string_value(json_object_get(tender, "id")));
	for (i = 0; i < BENCH_TENDER_THREADS; i++) {
		s[i].url = url;
		s[i].n = BENCH_TENDER_BIDS;
		for (k = 0; k < BENCH_TENDER_BIDS; k++) {
			snprintf(s[i].paths[k], sizeof(s[i].paths[k]),
			    "%s/bid-%d-%d.p7m", bench_tmp, i, k);
			if (bench_seal(tender, root, rc, &b[i],
			    BENCH_TENDER_MIB, i * 1000 + k, s[i].paths[k]) != 0)
				goto out;
		}
	}
	t0 = now_s();
	for (i = 0; i < BENCH_TENDER_THREADS; i++)
		pthread_create(&th[i], NULL, bench_submit_worker, &s[i]);
	for (i = 0; i < BENCH_TENDER_THREADS; i++) {
		pthread_join(th[i], NULL);
		ok += s[i].ok;
	}
	el = now_s() - t0;
	row = row_add("http POST bid 1 MiB (platform)", BENCH_TENDER_THREADS);
	row->ops = ok / el;
	{
		struct bench_lat lat[BENCH_TENDER_THREADS];

		for (i = 0; i < BENCH_TENDER_THREADS; i++)
			lat[i] = s[i].lat;
		lat_finish(lat, BENCH_TENDER_THREADS, row);
		for (i = 0; i < BENCH_TENDER_THREADS; i++)
			memset(&s[i].lat, 0, sizeof(s[i].lat));
	}
	row->rss_mb = rss_pid_mb(server_pid);
	row->ratio = env->raw_ec[1] > 0 ? row->ops / env->raw_ec[1] : -1;
	snprintf(row->against, sizeof(row->against), "raw P-256 p11 2thr");
	if (ok != BENCH_TENDER_THREADS * BENCH_TENDER_BIDS)
		fprintf(stderr, "bench: tender: %d of %d bids accepted\n", ok,
		    BENCH_TENDER_THREADS * BENCH_TENDER_BIDS);
	r = ok > 0 ? 0 : -1;
out:
	for (i = 0; i < BENCH_TENDER_THREADS; i++) {
		for (k = 0; k < BENCH_TENDER_BIDS; k++)
			if (s[i].paths[k][0] != '\0')
				unlink(s[i].paths[k]);
		bench_bidder_free(&b[i]);
	}
	sk_X509_pop_free(rc, X509_free);
	json_decref(tender);
	return r;
}

/* The peak RSS of a fresh server receiving one 500 MiB bid. */
static int
bench_big_bid(const char *govpki, const struct bench_env *env, X509 *root)
{
	struct bench_bidder b;
	STACK_OF(X509) *rc = NULL;
	struct bench_row *row;
	json_t *tender = NULL;
	char path[300], url[300];
	uint16_t port = 0;
	pid_t pid = -1;
	double t;
	int st, r = -1;

	memset(&b, 0, sizeof(b));
	snprintf(path, sizeof(path), "%s/big.p7m", bench_tmp);
	if (bench_bidder_make(govpki, env->inst_dir, 9, "91110108551385082Q",
	    &b) != 0 || (tender = bench_tender_create(govpki, env->inst_dir,
	    3600, "")) == NULL || tender_recipients(tender, root, &rc) != 0 ||
	    bench_seal(tender, root, rc, &b, (uint64_t)BENCH_TENDER_BIG_MB *
	    BENCH_TENDER_MIB, -1, path) != 0) {
		fprintf(stderr, "bench: tender: big bid: %s\n", gp_err_detail());
		goto out;
	}
	if ((pid = bench_serve(govpki, env->inst_dir, &port, NULL)) < 0)
		goto out;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/tenders/%s/bids", port,
	    json_string_value(json_object_get(tender, "id")));
	t = now_s();
	st = bench_post(url, path);
	t = now_s() - t;
	row = row_add("http POST bid 500 MiB (peak RSS)", 1);
	row->ops = st == 201 && t > 0 ? BENCH_TENDER_BIG_MB / t : 0;
	row->rss_mb = rss_pid_mb(pid);
	row->ratio = -1;
	snprintf(row->against, sizeof(row->against), "MB/s; RSS < 64 MB");
	r = st == 201 ? 0 : -1;
out:
	bench_serve_stop(pid);
	unlink(path);
	bench_bidder_free(&b);
	sk_X509_pop_free(rc, X509_free);
	json_decref(tender);
	return r;
}

/* ------------------------------------------------------------------ */
/* The opening of 1000 bids, in a child on an instance of its own. */

static int
bench_open_child_run(const char *dir, double *out_open, double *out_raw)
{
	struct instance *inst = NULL;
	struct tender_ctx tc;
	struct ca_person pa, pb;
	struct ca_actor wa, wb;
	struct bench_bidder b;
	STACK_OF(X509) *rc = NULL;
	EVP_PKEY *seal = NULL, *okey = NULL;
	X509 *seal_cert = NULL;
	tsa *ts = NULL;
	json_t *req = NULL, *tender = NULL, *res = NULL;
	struct store_tender t;
	char when[40], path[400], sealpem[400], bid[TENDER_ID_LEN + 1], *rel;
	time_t tt = time(NULL) + 3;
	struct tm tm;
	uint8_t md[32], probe[32], ek[512], dec[512];
	char hex[65];
	size_t i, ekl = sizeof(ek), dl;
	double t0;
	int r = -1;

	memset(&t, 0, sizeof(t));
	memset(&b, 0, sizeof(b));
	if (instance_open(dir, INSTANCE_KEYS, &inst) != 0 ||
	    instance_tsa_new(inst, &ts) != 0)
		goto out;
	snprintf(sealpem, sizeof(sealpem), "%s/certs/seal.pem", dir);
	if (tok_key_load(inst->tok, inst->cfg->seals[0].key_uri, &seal) != 0 ||
	    (seal_cert = bench_pem_cert(sealpem)) == NULL)
		goto out;
	memset(&tc, 0, sizeof(tc));
	tc.cfg = inst->cfg;
	tc.st = inst->st;
	tc.audit = inst->audit;
	tc.tok = inst->tok;
	tc.token_label = inst->cfg->token_label;
	tc.tsa = ts;
	tc.root = inst->cert[GP_KEY_ROOT];
	tc.ca = inst->cert[GP_KEY_CA];
	tc.ca_key = inst->key[GP_KEY_CA];
	tc.seal_key = seal;
	tc.seal_cert = seal_cert;
	memset(&pa, 0, sizeof(pa));
	memset(&pb, 0, sizeof(pb));
	snprintf(pa.id, sizeof(pa.id), "local:bench-a");
	snprintf(pb.id, sizeof(pb.id), "local:bench-b");
	memset(&wa, 0, sizeof(wa));
	wa.actor = "local:bench-a";
	wa.role = "local";
	wa.person = &pa;
	wb = wa;
	wb.actor = "local:bench-b";
	wb.person = &pb;
	gmtime_r(&tt, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if ((req = json_pack("{s:s, s:s, s:s}", "title", "bench open",
	    "deadline", when, "opening_time", when)) == NULL ||
	    tender_create(&tc, &wa, req, &tender) != 0 ||
	    tender_recipients(tender, tc.root, &rc) != 0)
		goto out;
	/* The bids as submission stores them (one legal person each), sealed
	 * by one software bidder: the opening does not look at who signed. */
	if ((b.key = EVP_EC_gen("P-256")) == NULL)
		goto out;
	{
		struct ca_cert_spec spec;
		X509_NAME *nm = NULL;
		char *serial = NULL;

		if (ca_name_parse("/CN=bench bidder/O=bench", &nm) != 0)
			goto out;
		memset(&spec, 0, sizeof(spec));
		spec.subject = nm;
		spec.pubkey = b.key;
		spec.issuer_cert = tc.ca;
		spec.issuer_key = tc.ca_key;
		spec.not_before = (int64_t)time(NULL) - 60;
		spec.not_after = (int64_t)time(NULL) + 86400;
		spec.path_len = -1;
		spec.key_usage = "critical,digitalSignature,nonRepudiation";
		r = ca_cert_sign(&spec, &b.cert, &serial);
		X509_NAME_free(nm);
		free(serial);
		if (r != 0)
			goto out;
		r = -1;
	}
	if (store_tender_get(tc.st, json_string_value(json_object_get(tender,
	    "id")), &t) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/tenders", dir);
	if (gp_mkdir(path, 0700) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/tenders/%s", dir, t.id);
	if (gp_mkdir(path, 0700) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/tenders/%s/bids", dir, t.id);
	if (gp_mkdir(path, 0700) != 0)
		goto out;
	if (store_begin(tc.st) != 0)
		goto out;
	for (i = 0; i < BENCH_TENDER_OPEN_N; i++) {
		struct store_bid sb;
		char abs[500], uscc[40], *bp = NULL;
		uint8_t *buf = NULL;
		size_t len = 0;

		if (tnd_new_id(bid) != 0 || asprintf(&rel,
		    "tenders/%s/bids/%s.p7m", t.id, bid) < 0)
			break;
		snprintf(abs, sizeof(abs), "%s/%s", dir, rel);
		if (bench_seal(tender, tc.root, rc, &b, 256, (int)i, abs) != 0 ||
		    gp_file_read(abs, 1 << 20, &buf, &len) != 0) {
			free(rel);
			break;
		}
		EVP_Digest(buf, len, md, NULL, EVP_sha256(), NULL);
		free(buf);
		tnd_hex32(md, hex);
		snprintf(uscc, sizeof(uscc), "BENCH%013zu", i);
		memset(&sb, 0, sizeof(sb));
		sb.id = bid;
		sb.tender_id = t.id;
		sb.uscc = uscc;
		sb.bidder = uscc;
		sb.subject = (char *)"CN=bench bidder";
		sb.signer_serial = (char *)"0";
		sb.sha256 = hex;
		sb.size = (int64_t)len;
		sb.arrival_ms = gp_now_ms();
		sb.path = rel;
		sb.tst = (uint8_t *)"-";
		sb.tst_len = 1;
		sb.receipt = (uint8_t *)"-";
		sb.receipt_len = 1;
		sb.created_ms = gp_now_ms();
		bp = rel;
		r = store_bid_insert(tc.st, &sb);
		free(bp);
		if (r != 0)
			break;
	}
	if (i != BENCH_TENDER_OPEN_N || store_commit(tc.st) != 0) {
		store_rollback(tc.st);
		r = -1;
		goto out;
	}
	r = -1;
	while (gp_now_ms() < t.opening_ms + 1000)
		usleep(100000);
	json_decref(res);
	res = NULL;
	if (tender_open_request(&tc, &wa, t.id, &res) != 0)
		goto out;
	json_decref(res);
	res = NULL;
	t0 = now_s();
	if (tender_open_approve(&tc, &wb, t.id, &res) != 0 ||
	    json_integer_value(json_object_get(json_object_get(res,
	    "decided_now"), "opened")) != BENCH_TENDER_OPEN_N)
		goto out;
	*out_open = now_s() - t0;
	/* Raw: the same token key decrypting 1000 wrapped keys. */
	if (tok_key_load(inst->tok, t.opening_key, &okey) != 0)
		goto out;
	{
		EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(X509_get0_pubkey(
		    sk_X509_value(rc, 0)), NULL);

		memset(probe, 7, sizeof(probe));
		if (pc == NULL || EVP_PKEY_encrypt_init(pc) != 1 ||
		    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) != 1 ||
		    EVP_PKEY_encrypt(pc, ek, &ekl, probe, 32) != 1) {
			EVP_PKEY_CTX_free(pc);
			goto out;
		}
		EVP_PKEY_CTX_free(pc);
	}
	t0 = now_s();
	for (i = 0; i < BENCH_TENDER_OPEN_N; i++) {
		EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(okey, NULL);

		dl = sizeof(dec);
		if (pc == NULL || EVP_PKEY_decrypt_init(pc) != 1 ||
		    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) != 1 ||
		    EVP_PKEY_decrypt(pc, dec, &dl, ek, ekl) != 1 || dl != 32) {
			EVP_PKEY_CTX_free(pc);
			goto out;
		}
		EVP_PKEY_CTX_free(pc);
	}
	*out_raw = now_s() - t0;
	r = 0;
out:
	if (r != 0)
		fprintf(stderr, "bench tender open: %s\n", gp_err_detail());
	EVP_PKEY_free(okey);
	EVP_PKEY_free(seal);
	X509_free(seal_cert);
	bench_bidder_free(&b);
	sk_X509_pop_free(rc, X509_free);
	json_decref(req);
	json_decref(tender);
	json_decref(res);
	store_tender_clear(&t);
	tsa_free(ts);
	instance_free(inst);
	return r;
}

__attribute__((constructor)) static void
bench_tender_open_child(void)
{
	const char *dir = getenv(BENCH_TENDER_OPEN_ENV);
	double open_s = 0, raw_s = 0;
	int rc;

	if (dir == NULL)
		return;
	rc = bench_open_child_run(dir, &open_s, &raw_s) == 0 ? 0 : 1;
	if (rc == 0)
		printf("%f %f\n", open_s, raw_s);
	fflush(stdout);
	_exit(rc);
}

static int
bench_open(const char *govpki)
{
	char dir[300];
	char *argv[] = {(char *)govpki, (char *)"init", (char *)"--dir", dir,
	    (char *)"--dev-clock", NULL};
	struct bench_row *row;
	double open_s = 0, raw_s = 0;

	snprintf(dir, sizeof(dir), "%s/tender-inst", bench_tmp);
	if (run_cmd(argv) != 0) {
		fprintf(stderr, "bench: tender: init failed\n");
		return -1;
	}
	if (bench_run_child(BENCH_TENDER_OPEN_ENV, dir, &open_s, &raw_s) != 0) {
		fprintf(stderr, "bench: tender: the opening child failed\n");
		return -1;
	}
	row = row_add("raw RSA-2048 decrypt x1000 (PKCS#11, /s)", 1);
	row->ops = raw_s > 0 ? BENCH_TENDER_OPEN_N / raw_s : 0;
	row->ratio = -1;
	row = row_add("open 1000 bids (platform, bids/s)", 1);
	row->ops = open_s > 0 ? BENCH_TENDER_OPEN_N / open_s : 0;
	row->ratio = open_s > 0 ? raw_s / open_s : -1;
	snprintf(row->against, sizeof(row->against), "raw RSA decrypt x1000");
	return 0;
}

int
bench_tender(const struct bench_env *env)
{
	char path[400], govpki[400], root_pem[400];
	X509 *root = NULL;
	ssize_t n;
	int r = -1;

	snprintf(path, sizeof(path), "/proc/%ld/exe", (long)server_pid);
	if ((n = readlink(path, govpki, sizeof(govpki) - 1)) <= 0)
		goto out;
	govpki[n] = '\0';
	snprintf(root_pem, sizeof(root_pem), "%s/certs/root.pem",
	    env->inst_dir);
	if ((root = bench_pem_cert(root_pem)) == NULL)
		goto out;
	if (bench_submissions(govpki, env, root) != 0 ||
	    bench_big_bid(govpki, env, root) != 0 || bench_open(govpki) != 0)
		goto out;
	r = 0;
out:
	X509_free(root);
	return r;
}
