/*
 * cmd_audit_witness.c: `govpki audit witness`, the auditor's copy of the
 * audit log's signed heads, kept where the instance's operators cannot
 * reach it, and audit_witness_verify() for `govpki audit verify --witness`.
 *
 * A database editor can roll the log back to an earlier checkpoint and
 * nothing left in the database shows it. A witness fetches the latest
 * signed head (GET /audit/checkpoint) now and then, checks it under the
 * root it pinned on its first run (the audit certificate chains to it with
 * the audit EKU, the signature verifies, the time-stamp token verifies and
 * is not earlier than the checkpoint), and appends it to its state file if
 * it extends the last head it saw. A head with a lower seq than the last
 * one, or the same seq with another hash, is an incident: recorded in the
 * state file with the head as served (signed evidence), reported, exit 1.
 * Later, `audit verify --witness FILE` requires every recorded head to be
 * in the chain.
 *
 * The state file is JSON lines, mode 0600, appended under an exclusive
 * lock (flock) and fsync'ed:
 *   {"type":"govpki-audit-witness","version":1,"url":U,"root":<b64 DER>,
 *    "root_sha256":<hex>,"created":<ISO time>}
 *   {"type":"head","seen":<ISO time>,"id":N,"seq":S,"hash":<b64>,
 *    "time_ms":T,"sig":<b64>,"tst":<b64>,"key_sha256":<hex>}
 *   {"type":"incident","seen":<ISO time>,"reason":R,"head":<as served>}
 *
 * What one run cannot see: a rollback followed by enough new records to
 * pass the last witnessed seq before the next run looks like an extension
 * (the witness holds heads, not the records between them); verify
 * --witness catches it, since the chain no longer holds the witnessed
 * hash at that seq. Run the witness at least every audit.checkpoint_s.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "instance/instance.h"
#include "signer/signer.h"

#define WIT_TYPE "govpki-audit-witness"
#define WIT_PATH "/audit/checkpoint"
#define WIT_MAX_HEAD (256 * 1024)     /* one served head */
#define WIT_MAX_LINE (512 * 1024)     /* one state line */
#define WIT_MAX_BLOB 65536            /* sig, tst, one certificate */
#define WIT_MAX_ROOT_PEM (64 * 1024)
#define WIT_TIMEOUT_MS 10000

struct wit_opts {
	const char *url;
	const char *state;
	const char *root;
	int json;
};

/* A head: from the server (every field) or a state line (id, seq, hash,
 * time_ms). */
struct wit_head {
	int64_t id;
	int64_t seq;
	int64_t time_ms;
	uint8_t hash[32];
	uint8_t *sig;
	size_t sig_len;
	uint8_t *tst;
	size_t tst_len;
	X509 *cert;
	STACK_OF(X509) *chain;
};

static void
wit_head_clear(struct wit_head *h)
{
	free(h->sig);
	free(h->tst);
	X509_free(h->cert);
	sk_X509_pop_free(h->chain, X509_free);
	memset(h, 0, sizeof(*h));
}

/* What the state file says so far. */
struct wit_state {
	X509 *root;
	uint8_t root_sha[32];
	int has_last;
	struct wit_head last;    /* id, seq, time_ms, hash */
	int64_t heads;
};

static void
wit_state_clear(struct wit_state *s)
{
	X509_free(s->root);
	wit_head_clear(&s->last);
	memset(s, 0, sizeof(*s));
}

static void
wit_help(void)
{
	printf("usage: govpki audit witness --url URL --state FILE [--root "
	    "FILE] [--json]\n\n"
	    "Fetches the latest signed head of an instance's audit log from "
	    "URL (its public\n"
	    "listener; " WIT_PATH " is added unless URL ends with it), "
	    "verifies it under the\n"
	    "root pinned in FILE, and appends it to FILE when it extends the "
	    "last head seen.\n"
	    "The first run creates FILE (mode 0600) and needs --root, your "
	    "own copy of the\n"
	    "instance root; later runs use the pinned one (--root, if given, "
	    "must match it).\n"
	    "A head with a lower seq than the last one seen, or the same seq "
	    "and another\n"
	    "hash, is an incident: recorded in FILE, reported, exit 1. Check "
	    "the log against\n"
	    "FILE with `govpki audit verify --witness FILE`.\n");
}

/* base64 field |name| of |j| into a new buffer of at most |max| bytes. */
static int
wit_b64(json_t *j, const char *name, size_t max, uint8_t **out,
    size_t *out_len)
{
	return sig_b64_decode(name, json_string_value(json_object_get(j, name)),
	    max, out, out_len);
}

static int
wit_hash(json_t *j, uint8_t out[32])
{
	int r;
	uint8_t *h = NULL;
	size_t n = 0;

	GUARD(wit_b64(j, "hash", 32, &h, &n));
	ENSURE(n == 32, gp_err_set(GP_ERR_INVALID, "hash: not 32 bytes"));
	memcpy(out, h, 32);
	r = 0;
out:
	free(h);
	return r;
}

/* A DER certificate from base64 text |b64|. */
static int
wit_cert(const char *field, const char *b64, X509 **out)
{
	int r;
	uint8_t *der = NULL;
	size_t len = 0;

	*out = NULL;
	GUARD(sig_b64_decode(field, b64, WIT_MAX_BLOB, &der, &len));
	GUARD(audit_cert_der(der, len, field, out));
	r = 0;
out:
	free(der);
	return r;
}

/* id, seq, time_ms and hash of |j|; with |full|, sig, tst (null allowed),
 * cert and chain too. */
static int
wit_head_parse(json_t *j, int full, struct wit_head *h)
{
	int r;
	json_int_t id = 0, seq = 0, t = 0;
	json_t *chain = NULL, *c;
	X509 *x = NULL;
	size_t i;

	memset(h, 0, sizeof(*h));
	ENSURE(json_unpack(j, "{s:I, s:I, s:I}", "id", &id, "seq", &seq,
	    "time_ms", &t) == 0 && id >= 1 && seq >= 1,
	    gp_err_set(GP_ERR_INVALID, "head: id, seq and time_ms must be "
	    "positive integers"));
	h->id = id;
	h->seq = seq;
	h->time_ms = t;
	GUARD(wit_hash(j, h->hash));
	if (!full) {
		r = 0;
		goto out;
	}
	GUARD(wit_b64(j, "sig", WIT_MAX_BLOB, &h->sig, &h->sig_len));
	if (!json_is_null(json_object_get(j, "tst")))
		GUARD(wit_b64(j, "tst", WIT_MAX_BLOB, &h->tst, &h->tst_len));
	GUARD(wit_cert("cert", json_string_value(json_object_get(j, "cert")),
	    &h->cert));
	chain = json_object_get(j, "chain");
	ENSURE(json_is_array(chain) && json_array_size(chain) <=
	    AUDIT_MAX_CHAIN, gp_err_set(GP_ERR_INVALID, "chain: an array of "
	    "at most %d certificates", AUDIT_MAX_CHAIN));
	ENSURE((h->chain = sk_X509_new_null()) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < json_array_size(chain); i++) {
		c = json_array_get(chain, i);
		GUARD(wit_cert("chain", json_string_value(c), &x));
		ENSURE(sk_X509_push(h->chain, x) > 0, GP_ERR_NOMEM);
		x = NULL; /* transferred */
	}
	r = 0;
out:
	X509_free(x);
	if (r != 0)
		wit_head_clear(h);
	return r;
}

static int
wit_cert_sha256(X509 *x, uint8_t out[32])
{
	return X509_digest(x, EVP_sha256(), out, NULL) == 1 ? 0 :
	    gp_err_ssl(GP_ERR_CRYPTO, "SHA-256 of a certificate");
}

/* Checks the served head |h| under |root|: its audit certificate, its
 * signature and its time-stamp token. GP_ERR_TAMPERED saying which. */
static int
wit_head_verify(struct wit_head *h, X509 *root, uint8_t out_key[32])
{
	int r;
	struct store_checkpoint cp;
	struct instance_audit_trust tr;
	int64_t gen_ms = 0;

	memset(&tr, 0, sizeof(tr));
	GUARD(audit_cert_check(h->cert, h->chain, root, h->time_ms, out_key));
	memset(&cp, 0, sizeof(cp));
	cp.id = h->id;
	cp.seq = h->seq;
	cp.time_ms = h->time_ms;
	memcpy(cp.hash, h->hash, 32);
	cp.sig = h->sig;
	cp.sig_len = h->sig_len;
	r = audit_checkpoint_verify_sig(X509_get0_pubkey(h->cert), &cp);
	ENSURE(r != GP_ERR_TAMPERED, gp_err_set(GP_ERR_TAMPERED, "the "
	    "signature of checkpoint %" PRId64 " does not verify with its "
	    "audit certificate", h->id));
	GUARD(r);
	ENSURE(h->tst != NULL, gp_err_set(GP_ERR_TAMPERED, "checkpoint %"
	    PRId64 " carries no time-stamp token (the instance's TSA refused "
	    "or the head was not made by the server)", h->id));
	GUARD(instance_audit_trust_init(&tr, root, sk_X509_value(h->chain,
	    0)));
	r = instance_tst_check(&tr, h->tst, h->tst_len, h->sig, h->sig_len,
	    &gen_ms);
	if (r == GP_ERR_TAMPERED || r == GP_ERR_INVALID)
		r = gp_err_set(GP_ERR_TAMPERED, "the time-stamp token of "
		    "checkpoint %" PRId64 " does not verify: %s", h->id,
		    gp_err_detail());
	GUARD(r);
	ENSURE(gen_ms >= h->time_ms - AUDIT_TST_SLACK_MS,
	    gp_err_set(GP_ERR_TAMPERED, "checkpoint %" PRId64 " was "
	    "time-stamped before it was signed", h->id));
	r = 0;
out:
	instance_audit_trust_free(&tr);
	return r;
}

/* Calls |fn| for every head line of the state file |fp| after reading its
 * header into |st| (root and its SHA-256). Lines over WIT_MAX_LINE, a
 * missing or foreign header and unknown line types are errors naming the
 * file and line. */
typedef int (*wit_head_fn)(void *arg, const struct wit_head *h,
    const char *seen);

static int
wit_state_read(FILE *fp, const char *path, struct wit_state *st,
    wit_head_fn fn, void *arg)
{
	int r;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int64_t lineno = 0;
	json_t *j = NULL;
	const char *type, *seen;
	struct wit_head h;

	memset(&h, 0, sizeof(h));
	while ((n = getline(&line, &cap, fp)) >= 0) {
		lineno++;
		json_decref(j);
		j = NULL;
		ENSURE(n <= WIT_MAX_LINE, gp_err_set(GP_ERR_INVALID, "%s:%"
		    PRId64 ": line over %d bytes", path, lineno,
		    WIT_MAX_LINE));
		ENSURE((j = json_loads(line, 0, NULL)) != NULL &&
		    (type = json_string_value(json_object_get(j, "type"))) !=
		    NULL, gp_err_set(GP_ERR_INVALID, "%s:%" PRId64 ": not a "
		    "witness line", path, lineno));
		if (lineno == 1) {
			ENSURE(strcmp(type, WIT_TYPE) == 0,
			    gp_err_set(GP_ERR_INVALID, "%s: not a govpki "
			    "audit witness file", path));
			r = wit_cert("root", json_string_value(json_object_get(
			    j, "root")), &st->root);
			ENSURE(r == 0, gp_err_set(GP_ERR_INVALID, "%s:1: the "
			    "pinned root: %s", path, gp_err_detail()));
			GUARD(wit_cert_sha256(st->root, st->root_sha));
			continue;
		}
		if (strcmp(type, "incident") == 0)
			continue;
		ENSURE(strcmp(type, "head") == 0, gp_err_set(GP_ERR_INVALID,
		    "%s:%" PRId64 ": unknown line type \"%.40s\"", path,
		    lineno, type));
		wit_head_clear(&h);
		r = wit_head_parse(j, 0, &h);
		ENSURE(r == 0, gp_err_set(GP_ERR_INVALID, "%s:%" PRId64 ": %s",
		    path, lineno, gp_err_detail()));
		seen = json_string_value(json_object_get(j, "seen"));
		st->heads++;
		wit_head_clear(&st->last);
		st->last.id = h.id;
		st->last.seq = h.seq;
		st->last.time_ms = h.time_ms;
		memcpy(st->last.hash, h.hash, 32);
		st->has_last = 1;
		if (fn != NULL)
			GUARD(fn(arg, &h, seen != NULL ? seen : "?"));
	}
	ENSURE(!ferror(fp), gp_err_set(GP_ERR_IO, "%s: %s", path,
	    strerror(errno)));
	ENSURE(lineno > 0, gp_err_set(GP_ERR_INVALID, "%s: empty, not a "
	    "witness file", path));
	r = 0;
out:
	ERR_clear_error();
	wit_head_clear(&h);
	json_decref(j);
	free(line);
	return r;
}

/* "<ISO time now>" as JSON. */
static json_t *
wit_now(void)
{
	return audit_time_json(gp_now_ms());
}

/* Appends |obj| as one line to |fd| and syncs it. */
static int
wit_append(int fd, const char *path, json_t *obj)
{
	int r;
	char *s = NULL;
	size_t len, off = 0;
	ssize_t n;

	ENSURE(obj != NULL && (s = json_dumps(obj, JSON_COMPACT |
	    JSON_SORT_KEYS)) != NULL, GP_ERR_NOMEM);
	len = strlen(s);
	s[len] = '\n'; /* json_dumps leaves room only for the NUL */
	len++;
	while (off < len) {
		n = write(fd, s + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		ENSURE(n > 0, gp_err_set(GP_ERR_IO, "%s: %s", path,
		    strerror(errno)));
		off += (size_t)n;
	}
	ENSURE(fsync(fd) == 0, gp_err_set(GP_ERR_IO, "%s: %s", path,
	    strerror(errno)));
	r = 0;
out:
	free(s);
	return r;
}

/* The state line of the verified head |h| (served as |served|). */
static json_t *
wit_head_line(json_t *served, const uint8_t key[32])
{
	char *hex = gp_hex(key, 32);
	json_t *j = NULL;

	if (hex != NULL)
		j = json_pack("{s:s, s:o, s:O, s:O, s:O, s:O, s:O, s:O, s:s}",
		    "type", "head", "seen", wit_now(),
		    "id", json_object_get(served, "id"),
		    "seq", json_object_get(served, "seq"),
		    "hash", json_object_get(served, "hash"),
		    "time_ms", json_object_get(served, "time_ms"),
		    "sig", json_object_get(served, "sig"),
		    "tst", json_object_get(served, "tst"),
		    "key_sha256", hex);
	free(hex);
	return j;
}

static int
wit_parse(int argc, char **argv, struct wit_opts *o)
{
	static const struct option longopts[] = {
		{"url", required_argument, NULL, 'u'},
		{"state", required_argument, NULL, 's'},
		{"root", required_argument, NULL, 'r'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			o->url = optarg;
			break;
		case 's':
			o->state = optarg;
			break;
		case 'r':
			o->root = optarg;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'h':
			wit_help();
			return -1;
		default:
			return cli_usage("audit witness", "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage("audit witness", "unexpected argument");
	if (o->url == NULL || o->state == NULL)
		return cli_usage("audit witness", "--url and --state are "
		    "required");
	return 0;
}

/* URL of the head: |base| as is when it ends with WIT_PATH, else with it
 * appended. */
static char *
wit_url(const char *base)
{
	size_t n = strlen(base), p = strlen(WIT_PATH);
	char *u = NULL;

	if (n >= p && strcmp(base + n - p, WIT_PATH) == 0)
		return strdup(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	if (asprintf(&u, "%.*s%s", (int)n, base, WIT_PATH) < 0)
		return NULL;
	return u;
}

/* Prints the outcome; returns the exit code. */
static int
wit_report(const struct wit_opts *o, const char *status,
    const struct wit_head *h, const struct wit_state *st, const char *why)
{
	int incident = strcmp(status, "incident") == 0;

	if (o->json) {
		json_t *j = json_pack("{s:s, s:I, s:I, s:s}", "status", status,
		    "seq", (json_int_t)h->seq, "id", (json_int_t)h->id,
		    "state", o->state);

		if (j != NULL && st->has_last)
			json_object_set_new(j, "previous_seq",
			    json_integer(st->last.seq));
		if (j != NULL && why != NULL)
			json_object_set_new(j, "reason", json_string(why));
		cli_print_json(j);
	} else if (incident) {
		fprintf(stderr, "govpki audit witness: INCIDENT: %s (recorded "
		    "in %s)\n", why, o->state);
	} else if (strcmp(status, "unchanged") == 0) {
		printf("audit head unchanged: seq %" PRId64 ", checkpoint %"
		    PRId64 "\n", h->seq, h->id);
	} else {
		printf("audit head seq %" PRId64 " (checkpoint %" PRId64 ") "
		    "verified and recorded in %s", h->seq, h->id, o->state);
		if (st->has_last)
			printf(" (extends seq %" PRId64 ")", st->last.seq);
		printf("\n");
	}
	return incident ? CLI_FAIL : CLI_OK;
}

int
cmd_audit_witness(int argc, char **argv)
{
	struct wit_opts o;
	struct wit_state st;
	struct wit_head h;
	X509 *given = NULL;
	uint8_t given_sha[32], key[32];
	char *url = NULL, why[512];
	uint8_t *body = NULL;
	size_t body_len = 0;
	json_t *served = NULL, *line = NULL, *hdr = NULL;
	FILE *fp = NULL;
	int fd = -1, r, rc = CLI_FAIL, first = 0, dfd;
	uint8_t *der = NULL;
	char *b64 = NULL, *hex = NULL;
	int n;

	memset(&st, 0, sizeof(st));
	memset(&h, 0, sizeof(h));
	if ((r = wit_parse(argc, argv, &o)) != 0)
		return r < 0 ? CLI_OK : r;
	if (o.root != NULL)
		GUARD(cli_pem_cert(o.root, WIT_MAX_ROOT_PEM, &given));

	/* The state, locked for the whole run. */
	fd = open(o.state, O_RDWR | O_APPEND | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		first = 1;
		ENSURE(given != NULL, gp_err_set(GP_ERR_INVALID, "%s does not "
		    "exist: the first run needs --root, your own copy of the "
		    "instance root", o.state));
		st.root = given;
		given = NULL; /* transferred */
		GUARD(wit_cert_sha256(st.root, st.root_sha));
	} else {
		ENSURE(fd >= 0, gp_err_set(GP_ERR_IO, "%s: %s", o.state,
		    strerror(errno)));
		ENSURE(flock(fd, LOCK_EX) == 0, gp_err_set(GP_ERR_IO, "%s: "
		    "lock: %s", o.state, strerror(errno)));
		ENSURE((dfd = dup(fd)) >= 0 && (fp = fdopen(dfd, "r")) != NULL,
		    gp_err_set(GP_ERR_IO, "%s: %s", o.state, strerror(errno)));
		GUARD(wit_state_read(fp, o.state, &st, NULL, NULL));
		if (given != NULL) {
			GUARD(wit_cert_sha256(given, given_sha));
			ENSURE(CRYPTO_memcmp(given_sha, st.root_sha, 32) == 0,
			    gp_err_set(GP_ERR_INVALID, "--root %s is not the "
			    "root pinned in %s", o.root, o.state));
		}
	}

	/* The head, verified under the pinned root. */
	ENSURE((url = wit_url(o.url)) != NULL, GP_ERR_NOMEM);
	GUARD(gp_http_get(url, "application/json", WIT_MAX_HEAD,
	    WIT_TIMEOUT_MS, &body, &body_len));
	ENSURE((served = json_loadb((const char *)body, body_len, 0, NULL)) !=
	    NULL && json_is_object(served), gp_err_set(GP_ERR_INVALID, "%s: "
	    "the answer is not a JSON object", url));
	r = wit_head_parse(served, 1, &h);
	ENSURE(r == 0, gp_err_set(r, "%s: %s", url, gp_err_detail()));
	r = wit_head_verify(&h, st.root, key);
	ENSURE(r == 0, gp_err_set(r, "%s: head seq %" PRId64 " does not "
	    "verify under the pinned root: %s", url, h.seq, gp_err_detail()));

	if (first) {
		/* Header and first head in one atomic write. */
		ENSURE((n = i2d_X509(st.root, &der)) > 0 &&
		    (b64 = sig_b64_encode(der, (size_t)n)) != NULL &&
		    (hex = gp_hex(st.root_sha, 32)) != NULL, GP_ERR_NOMEM);
		hdr = json_pack("{s:s, s:i, s:s, s:s, s:s, s:o}", "type",
		    WIT_TYPE, "version", 1, "url", o.url, "root", b64,
		    "root_sha256", hex, "created", wit_now());
		line = wit_head_line(served, key);
		ENSURE(hdr != NULL && line != NULL, GP_ERR_NOMEM);
		{
			char *a = json_dumps(hdr, JSON_COMPACT |
			    JSON_SORT_KEYS);
			char *b = json_dumps(line, JSON_COMPACT |
			    JSON_SORT_KEYS);
			char *all = NULL;

			if (a != NULL && b != NULL &&
			    asprintf(&all, "%s\n%s\n", a, b) < 0)
				all = NULL;
			free(a);
			free(b);
			ENSURE(all != NULL, GP_ERR_NOMEM);
			r = gp_file_write(o.state, all, strlen(all), 0600, 1);
			free(all);
			GUARD(r);
		}
		rc = wit_report(&o, "recorded", &h, &st, NULL);
		r = 0;
		goto out;
	}

	if (st.has_last && (h.seq < st.last.seq || (h.seq == st.last.seq &&
	    CRYPTO_memcmp(h.hash, st.last.hash, 32) != 0))) {
		/* Signed evidence of a log that went back or forked. */
		snprintf(why, sizeof(why), h.seq < st.last.seq ? "the audit "
		    "head went backwards: seq %" PRId64 " (checkpoint %" PRId64
		    ") after seq %" PRId64 " (checkpoint %" PRId64 ") was seen:"
		    " the log was rolled back" : "the audit log forked: seq %"
		    PRId64 " (checkpoint %" PRId64 ") has another hash than "
		    "the head seen at seq %" PRId64 " (checkpoint %" PRId64 ")",
		    h.seq, h.id, st.last.seq, st.last.id);
		line = json_pack("{s:s, s:o, s:s, s:O}", "type", "incident",
		    "seen", wit_now(), "reason", why, "head", served);
		ENSURE(line != NULL, GP_ERR_NOMEM);
		GUARD(wit_append(fd, o.state, line));
		rc = wit_report(&o, "incident", &h, &st, why);
		r = 0;
		goto out;
	}
	if (st.has_last && h.seq == st.last.seq) {
		rc = wit_report(&o, "unchanged", &h, &st, NULL);
		r = 0;
		goto out;
	}
	ENSURE((line = wit_head_line(served, key)) != NULL, GP_ERR_NOMEM);
	GUARD(wit_append(fd, o.state, line));
	rc = wit_report(&o, "recorded", &h, &st, NULL);
	r = 0;
out:
	if (r != 0)
		rc = cli_fail(r, o.json);
	if (fp != NULL)
		fclose(fp);
	if (fd >= 0)
		close(fd); /* releases the lock */
	json_decref(served);
	json_decref(line);
	json_decref(hdr);
	wit_head_clear(&h);
	wit_state_clear(&st);
	X509_free(given);
	OPENSSL_free(der);
	free(b64);
	free(hex);
	free(body);
	free(url);
	return rc;
}

/* audit_witness_verify(): the pinned root, then each head line against
 * the chain. */
struct wit_verify {
	store *st;
	struct audit_report *rep;
	const struct wit_state *ws;
	const char *path;
	uint8_t want_root[32];
	int root_checked;
};

/* A witness of another root says nothing about this log; it also means
 * certs/root.pem was replaced, or --root names the wrong file. */
static int
wit_verify_root(struct wit_verify *wv)
{
	wv->root_checked = 1;
	if (CRYPTO_memcmp(wv->want_root, wv->ws->root_sha, 32) == 0)
		return 0;
	wv->rep->first_bad_seq = 1;
	snprintf(wv->rep->reason, sizeof(wv->rep->reason), "the witness %s "
	    "pinned another root than the one this verification trusts: "
	    "certs/root.pem was replaced, or give --root with your own copy",
	    wv->path);
	return gp_err_set(GP_ERR_TAMPERED, "audit log: %s", wv->rep->reason);
}

static int
wit_verify_head(void *arg, const struct wit_head *h, const char *seen)
{
	struct wit_verify *wv = arg;
	char what[160];
	int r;

	if (!wv->root_checked && (r = wit_verify_root(wv)) != 0)
		return r;
	snprintf(what, sizeof(what), "head seq %" PRId64 " (checkpoint %"
	    PRId64 ", seen %.40s)", h->seq, h->id, seen);
	return audit_verify_witnessed(wv->st, h->seq, h->hash, what, wv->rep);
}

int
audit_witness_verify(store *st, const char *path, X509 *root,
    struct audit_report *rep)
{
	int r;
	FILE *fp = NULL;
	struct wit_state ws;
	struct wit_verify wv;

	memset(&ws, 0, sizeof(ws));
	memset(&wv, 0, sizeof(wv));
	wv.st = st;
	wv.rep = rep;
	wv.ws = &ws;
	wv.path = path;
	GUARD(wit_cert_sha256(root, wv.want_root));
	fp = fopen(path, "re");
	ENSURE(fp != NULL, gp_err_set(errno == ENOENT ? GP_ERR_NOT_FOUND :
	    GP_ERR_IO, "--witness %s: %s", path, strerror(errno)));
	GUARD(wit_state_read(fp, path, &ws, wit_verify_head, &wv));
	if (!wv.root_checked)
		GUARD(wit_verify_root(&wv));
	r = 0;
out:
	if (fp != NULL)
		fclose(fp);
	wit_state_clear(&ws);
	return r;
}
