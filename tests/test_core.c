/*
 * test_core.c: core/: the error detail, configuration loading and its
 * refusals (each names the field), atomic and exclusive file writes, capped
 * reads, hex, ID masking, the HTTP client against a loopback listener
 * (caps, deadline, no redirects).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/core.h"
#include "tests/test.h"

static char tmpdir[] = "/tmp/govpki-core.XXXXXX";

static void
write_text(const char *name, const char *text)
{
	char *p = gp_path_join(tmpdir, name);
	FILE *f = fopen(p, "w");

	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
	free(p);
}

/* Writes govpki.json from the defaults with |edit| applied to the JSON. */
static int
load_with(const char *key, json_t *value, struct gp_config **out)
{
	struct gp_config *def = NULL;
	json_t *root;
	char *text, *p;
	int r;

	if (gp_config_defaults(tmpdir, &def) != 0)
		return -100;
	root = gp_config_to_json(def);
	gp_config_free(def);
	if (key != NULL) {
		/* "section.field" or "field" */
		const char *dot = strchr(key, '.');
		if (dot != NULL) {
			char sec[64];
			snprintf(sec, sizeof(sec), "%.*s", (int)(dot - key), key);
			json_object_set_new(json_object_get(root, sec), dot + 1,
			    value);
		} else {
			json_object_set_new(root, key, value);
		}
	}
	text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	p = gp_path_join(tmpdir, "govpki.json");
	r = gp_file_write(p, text, strlen(text), 0644, 0);
	free(p);
	free(text);
	if (r != 0)
		return -101;
	return gp_config_load(tmpdir, out);
}

static void
test_err_detail(void)
{
	gp_err_clear();
	CHECK_STR(gp_err_detail(), "");
	CHECK_EQ(gp_err_set(GP_ERR_INVALID, "field %s bad", "x"),
	    GP_ERR_INVALID);
	CHECK_STR(gp_err_detail(), "field x bad");
	/* Context added to the detail itself. */
	CHECK_EQ(gp_err_set(GP_ERR_TAMPERED, "record %d: %s", 7,
	    gp_err_detail()), GP_ERR_TAMPERED);
	CHECK_STR(gp_err_detail(), "record 7: field x bad");
	CHECK_STR(gp_err_name(GP_ERR_PIN_LOCKED), "pin_locked");
	CHECK_STR(gp_err_name(-999), "internal");
	CHECK(strlen(gp_err_str(GP_ERR_TAMPERED)) > 0);
}

static void
test_config_roundtrip(void)
{
	struct gp_config *cfg = NULL;

	CHECK_EQ(load_with(NULL, NULL, &cfg), 0);
	CHECK(cfg != NULL);
	if (cfg == NULL)
		return;
	CHECK_STR(cfg->token_label, "govpki");
	CHECK_STR(cfg->http_listen, "127.0.0.1:8080");
	CHECK_EQ(cfg->threads, 4);
	CHECK_EQ(cfg->crl_delay_s, 5);
	/* Paths come back absolute, inside the directory. */
	CHECK(strncmp(cfg->pin_file, cfg->dir, strlen(cfg->dir)) == 0);
	gp_config_free(cfg);
	cfg = NULL;
	CHECK_EQ(load_with("crl.delay_s", json_integer(0), &cfg), 0);
	CHECK(cfg != NULL && cfg->crl_delay_s == 0);
	gp_config_free(cfg);
}

static void
test_config_refusals(void)
{
	struct gp_config *cfg = NULL;

	CHECK_EQ(load_with("colour", json_string("blue"), &cfg),
	    GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "unknown field colour");
	CHECK_EQ(load_with("listen.http", json_string("localhost"), &cfg),
	    GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "listen.http");
	CHECK_EQ(load_with("listen.https", json_string("1.2.3.4:99999"),
	    &cfg), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "listen.https");
	CHECK_EQ(load_with("limits.threads", json_integer(0), &cfg),
	    GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "limits.threads");
	CHECK_EQ(load_with("crl.delay_s", json_integer(3601), &cfg),
	    GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "crl.delay_s");
	CHECK_EQ(load_with("version", json_integer(2), &cfg), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "version");
	CHECK_EQ(load_with("keys.tsa", json_string("http://x"), &cfg),
	    GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "keys.tsa");
	CHECK_EQ(load_with("public_url", json_string("ftp://x"), &cfg),
	    GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "public_url");
	CHECK(cfg == NULL);

	write_text("govpki.json", "{\"version\": 1,");
	CHECK_EQ(gp_config_load(tmpdir, &cfg), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "govpki.json: line");
	CHECK_EQ(gp_config_load("/nonexistent/govpki", &cfg),
	    GP_ERR_NOT_FOUND);
	CHECK_CONTAINS(gp_err_detail(), "govpki init");
}

/* store: absent (SQLite) or a postgresql:// URL, never with a password
 * in it; the password's file and variable need a URL. */
static void
test_config_store(void)
{
	struct gp_config *cfg = NULL;
	json_t *root;
	static const char *const bad[] = {
		"http://db/govpki",                        /* not PostgreSQL */
		"postgresql://govpki:s3cret@db/govpki",    /* a password */
		"postgresql://db/govpki?password=s3cret",  /* a password */
		"postgresql://db/govpki?sslmode=require&password=s3cret",
		"postgresql://db/go vpki",                 /* a space */
	};
	size_t i;

	CHECK_EQ(load_with(NULL, NULL, &cfg), 0);
	CHECK(cfg != NULL && cfg->store_url == NULL);
	if (cfg != NULL) {
		/* An instance without store.url writes none back. */
		root = gp_config_to_json(cfg);
		CHECK(root != NULL && json_object_get(root, "store") == NULL);
		json_decref(root);
	}
	gp_config_free(cfg);
	cfg = NULL;
	CHECK_EQ(load_with("store", json_pack("{s:s, s:s}", "url",
	    "postgresql://govpki@db.example.gov.cn:5432/govpki?sslmode=verify-full",
	    "password_file", "secrets/db.pw"), &cfg), 0);
	CHECK(cfg != NULL && cfg->store_url != NULL &&
	    strncmp(cfg->store_password_file, cfg->dir, strlen(cfg->dir)) == 0);
	if (cfg != NULL) {
		root = gp_config_to_json(cfg);
		CHECK_STR(json_string_value(json_object_get(json_object_get(root,
		    "store"), "password_file")), "secrets/db.pw");
		json_decref(root);
	}
	gp_config_free(cfg);
	cfg = NULL;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(load_with("store", json_pack("{s:s}", "url", bad[i]),
		    &cfg), GP_ERR_CONFIG);
		CHECK_CONTAINS(gp_err_detail(), "store.url");
		CHECK(strstr(gp_err_detail(), "s3cret") == NULL);
		CHECK_EQ(gp_store_url_check("--store", bad[i]), GP_ERR_INVALID);
	}
	CHECK_EQ(load_with("store", json_pack("{s:s}", "password_env", "PW"),
	    &cfg), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "need store.url");
	CHECK_EQ(load_with("store", json_pack("{s:s}", "host", "db"), &cfg),
	    GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "store.host");
	CHECK(cfg == NULL);
	CHECK_EQ(gp_store_url_check("--store", "postgres://u@h/d"), 0);
	CHECK_EQ(gp_store_url_check("--store", NULL), GP_ERR_INVALID);
}

/* Seals: only officers may be granted one (the split of powers). */
static void
test_config_seals(void)
{
	struct gp_config *cfg = NULL;
	json_t *seal;

	seal = json_pack("[{s:s, s:s, s:s, s:[s]}]", "name", "seal", "key",
	    "pkcs11:token=govpki;object=seal", "cert", "certs/seal.pem",
	    "roles", "officer");
	CHECK_EQ(load_with("seals", seal, &cfg), 0);
	CHECK(cfg != NULL && cfg->seals_len == 1);
	gp_config_free(cfg);
	cfg = NULL;
	seal = json_pack("[{s:s, s:s, s:s, s:[s, s]}]", "name", "seal", "key",
	    "pkcs11:token=govpki;object=seal", "cert", "certs/seal.pem",
	    "roles", "officer", "auditor");
	CHECK_EQ(load_with("seals", seal, &cfg), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "seals[0].roles");
	CHECK_CONTAINS(gp_err_detail(), "auditor");
	seal = json_pack("[{s:s, s:s, s:s, s:[s]}]", "name", "seal", "key",
	    "pkcs11:token=govpki;object=seal", "cert", "certs/seal.pem",
	    "roles", "sysadmin");
	CHECK_EQ(load_with("seals", seal, &cfg), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "sysadmin");
	CHECK(cfg == NULL);
}

static void
test_config_tsa(void)
{
	struct gp_config *cfg = NULL;
	json_t *pol;

	/* Defaults, also for an instance made before the tsa section. */
	CHECK_EQ(load_with("tsa", json_object(), &cfg), 0);
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		CHECK(strncmp(cfg->tsa_policy, "2.25.", 5) == 0);
		CHECK_EQ(cfg->tsa_policies_len, 0);
		CHECK_EQ(cfg->tsa_accuracy_s, 1);
		CHECK_EQ(cfg->tsa_precision_digits, 3);
		CHECK_EQ(cfg->tsa_allow_sha1, 0);
		CHECK_EQ(cfg->tsa_max_request_bytes, 4096);
		CHECK_STR(cfg->tsa_clock_check, "strict");
	}
	gp_config_free(cfg);
	cfg = NULL;
	/* Set values come back, and go out again through to_json. */
	pol = json_pack("[s, s]", "1.2.3.4", "2.25.1");
	CHECK_EQ(load_with("tsa.policies", pol, &cfg), 0);
	CHECK(cfg != NULL && cfg->tsa_policies_len == 2 &&
	    strcmp(cfg->tsa_policies[1], "2.25.1") == 0);
	if (cfg != NULL) {
		json_t *j = gp_config_to_json(cfg);

		CHECK(j != NULL && json_array_size(json_object_get(
		    json_object_get(j, "tsa"), "policies")) == 2);
		json_decref(j);
	}
	gp_config_free(cfg);
	cfg = NULL;
	CHECK_EQ(load_with("tsa.allow_sha1", json_true(), &cfg), 0);
	CHECK(cfg != NULL && cfg->tsa_allow_sha1 == 1);
	gp_config_free(cfg);
	cfg = NULL;
	CHECK_EQ(load_with("tsa.clock_check", json_string("warn"), &cfg), 0);
	CHECK(cfg != NULL && strcmp(cfg->tsa_clock_check, "warn") == 0);
	gp_config_free(cfg);
	cfg = NULL;

	/* Refusals name the field. */
	CHECK_EQ(load_with("tsa.colour", json_string("blue"), &cfg),
	    GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "unknown field tsa.colour");
	CHECK_EQ(load_with("tsa.policy", json_string("1.2.x"), &cfg),
	    GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "tsa.policy");
	CHECK_EQ(load_with("tsa.policy", json_string("sha256"), &cfg),
	    GP_ERR_CONFIG);
	CHECK_EQ(load_with("tsa.policies", json_string("1.2.3"), &cfg),
	    GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "tsa.policies");
	CHECK_EQ(load_with("tsa.policies", json_pack("[s]", "x"), &cfg),
	    GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "tsa.policies[0]");
	CHECK_EQ(load_with("tsa.accuracy_ms", json_integer(1000), &cfg),
	    GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "tsa.accuracy_ms");
	CHECK_EQ(load_with("tsa.accuracy_s", json_integer(0), &cfg),
	    GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "accuracy must not be zero");
	CHECK_EQ(load_with("tsa.precision_digits", json_integer(7), &cfg),
	    GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "tsa.precision_digits");
	CHECK_EQ(load_with("tsa.allow_sha1", json_string("yes"), &cfg),
	    GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "tsa.allow_sha1");
	CHECK_EQ(load_with("tsa.clock_check", json_string("loose"), &cfg),
	    GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "tsa.clock_check");
	CHECK_EQ(load_with("tsa.max_request_bytes", json_integer(10), &cfg),
	    GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "tsa.max_request_bytes");
	CHECK_EQ(load_with("tsa", json_string("on"), &cfg), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "tsa must be an object");
	CHECK(cfg == NULL);
}

static void
test_file_write_exclusive(void)
{
	char *p = gp_path_join(tmpdir, "f.txt");
	uint8_t *buf = NULL;
	size_t len = 0;
	struct stat sb;

	unlink(p);
	CHECK_EQ(gp_file_write(p, "abc", 3, 0600, 1), 0);
	CHECK_EQ(gp_file_write(p, "xyz", 3, 0600, 1), GP_ERR_EXISTS);
	CHECK_EQ(gp_file_read(p, 100, &buf, &len), 0);
	CHECK_EQ(len, 3);
	CHECK(buf != NULL && memcmp(buf, "abc", 3) == 0);
	free(buf);
	buf = NULL;
	CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	/* Non-exclusive replaces atomically. */
	CHECK_EQ(gp_file_write(p, "xyz!", 4, 0644, 0), 0);
	CHECK_EQ(gp_file_read(p, 100, &buf, &len), 0);
	CHECK_EQ(len, 4);
	free(buf);
	buf = NULL;
	/* The cap is enforced before allocating. */
	CHECK_EQ(gp_file_read(p, 3, &buf, &len), GP_ERR_TOO_LARGE);
	CHECK(buf == NULL);
	CHECK_EQ(gp_file_read("/nonexistent", 3, &buf, &len),
	    GP_ERR_NOT_FOUND);
	CHECK_EQ(gp_file_write("/nonexistent/dir/x", "a", 1, 0600, 0),
	    GP_ERR_IO);
	free(p);
}

static void
test_hex_mask_hostport(void)
{
	uint8_t b[3] = {0x00, 0xab, 0xff};
	char *h = gp_hex(b, 3), *m, *host = NULL;
	uint16_t port = 0;

	CHECK_STR(h, "00abff");
	free(h);
	m = gp_mask_id("11010519491231002X");
	CHECK_STR(m, "110105**********2X");
	free(m);
	m = gp_mask_id("1234");
	CHECK_STR(m, "****");
	free(m);
	CHECK(gp_mask_id(NULL) == NULL);
	CHECK_EQ(gp_parse_hostport("f", "127.0.0.1:8080", &host, &port), 0);
	CHECK_STR(host, "127.0.0.1");
	CHECK_EQ(port, 8080);
	free(host);
	CHECK_EQ(gp_parse_hostport("f", "127.0.0.1:0", &host, &port),
	    GP_ERR_INVALID);
	CHECK_EQ(gp_parse_hostport("f", ":80", &host, &port), GP_ERR_INVALID);
	CHECK_EQ(gp_parse_hostport("f", "x:80a", &host, &port),
	    GP_ERR_INVALID);
	CHECK(host == NULL);
}

/* The HTTP client refuses what it cannot serve, naming the URL, and a
 * closed loopback port is an I/O error, not a hang. */
static void
test_http_post_refusals(void)
{
	uint8_t *out = NULL;
	size_t len = 0;
	int fd, port = 0;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	CHECK_EQ(gp_http_post("https://127.0.0.1/tsa", "a/b", NULL,
	    (const uint8_t *)"x", 1, 100, 1, &out, &len), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "https://127.0.0.1/tsa");
	CHECK_EQ(gp_http_post("http:///tsa", "a/b", NULL,
	    (const uint8_t *)"x", 1, 100, 1, &out, &len), GP_ERR_INVALID);
	/* A port that was free a moment ago: nothing listens there. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	CHECK(port != 0);
	{
		char url[64];
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/tsa", port);
		CHECK_EQ(gp_http_post(url, "a/b", NULL, (const uint8_t *)"x",
		    1, 100, 1, &out, &len), GP_ERR_IO);
		CHECK_CONTAINS(gp_err_detail(), url);
	}
	CHECK(out == NULL && len == 0);
}

/* verify: online status fetching is off by default, and refused when
 * out of range, naming the field. */
static void
test_config_verify(void)
{
	struct gp_config *cfg = NULL;

	CHECK_EQ(load_with("verify", json_object(), &cfg), 0);
	CHECK(cfg != NULL && cfg->verify_fetch == 0 &&
	    cfg->verify_fetch_timeout_ms == 3000 &&
	    cfg->verify_fetch_max_bytes == 10 * 1024 * 1024);
	gp_config_free(cfg);
	cfg = NULL;
	CHECK_EQ(load_with("verify.fetch_revocation", json_true(), &cfg), 0);
	CHECK(cfg != NULL && cfg->verify_fetch == 1);
	if (cfg != NULL) {
		json_t *j = gp_config_to_json(cfg);

		CHECK(j != NULL && json_is_true(json_object_get(
		    json_object_get(j, "verify"), "fetch_revocation")));
		json_decref(j);
	}
	gp_config_free(cfg);
	cfg = NULL;
	CHECK_EQ(load_with("verify.fetch_timeout_ms", json_integer(0), &cfg),
	    GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "verify.fetch_timeout_ms");
	CHECK_EQ(load_with("verify.fetch_max_bytes", json_integer(10), &cfg),
	    GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "verify.fetch_max_bytes");
	CHECK_EQ(load_with("verify.fetch_revocation", json_string("yes"),
	    &cfg), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "verify.fetch_revocation");
	CHECK_EQ(load_with("verify.fetch", json_true(), &cfg), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "unknown field verify.fetch");
	CHECK(cfg == NULL);
	/* The allow list: http:// prefixes or bare hosts, nothing else. */
	CHECK_EQ(load_with("verify.fetch_allow", json_pack("[s, s, s]",
	    "http://ocsp.example:8080/", "crl.example", "[::1]"), &cfg), 0);
	CHECK(cfg != NULL && cfg->verify_fetch_allow_len == 3 &&
	    strcmp(cfg->verify_fetch_allow[1], "crl.example") == 0);
	if (cfg != NULL) {
		json_t *j = gp_config_to_json(cfg);

		CHECK(j != NULL && json_array_size(json_object_get(
		    json_object_get(j, "verify"), "fetch_allow")) == 3);
		json_decref(j);
	}
	gp_config_free(cfg);
	cfg = NULL;
	CHECK_EQ(load_with("verify.fetch_allow", json_pack("[s]",
	    "https://ocsp.example/"), &cfg), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "verify.fetch_allow[0]");
	CHECK_EQ(load_with("verify.fetch_allow", json_pack("[s]",
	    "ocsp.example:80"), &cfg), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "a port goes in a prefix");
	CHECK_EQ(load_with("verify.fetch_allow", json_pack("[s]", "http:///x"),
	    &cfg), GP_ERR_CONFIG);
	CHECK_EQ(load_with("verify.fetch_allow", json_string("crl.example"),
	    &cfg), GP_ERR_CONFIG);
	/* Content types: dotted OIDs. */
	CHECK_EQ(load_with("verify.content_types", json_pack("[s]",
	    "1.2.156.10197.6.1.4.2.1"), &cfg), 0);
	CHECK(cfg != NULL && cfg->verify_content_types_len == 1);
	gp_config_free(cfg);
	cfg = NULL;
	CHECK_EQ(load_with("verify.content_types", json_pack("[s]", "1..2"),
	    &cfg), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "verify.content_types[0]");
	CHECK_EQ(load_with("verify.content_types", json_pack("[s]", "12"),
	    &cfg), GP_ERR_CONFIG);
	CHECK_EQ(load_with("verify.content_types", json_pack("[s]", "1.2."),
	    &cfg), GP_ERR_CONFIG);
	CHECK(cfg == NULL);
}

/* A one-connection HTTP server on a free loopback port: records the
 * request, then sends |reply| (or, when NULL, says nothing for |hang_ms|)
 * and closes. */
struct http_fixture {
	int fd;
	int port;
	const char *reply;
	size_t reply_len;
	int hang_ms;
	char request[1024];
	pthread_t th;
};

static void *
http_fixture_run(void *arg)
{
	struct http_fixture *f = arg;
	size_t have = 0, off = 0;
	ssize_t n;
	int c;

	if ((c = accept(f->fd, NULL, NULL)) < 0)
		return NULL;
	while (have + 1 < sizeof(f->request) && (n = read(c, f->request +
	    have, sizeof(f->request) - 1 - have)) > 0) {
		have += (size_t)n;
		f->request[have] = '\0';
		if (strstr(f->request, "\r\n\r\n") != NULL)
			break;
	}
	if (f->reply == NULL)
		usleep((useconds_t)f->hang_ms * 1000);
	while (f->reply != NULL && off < f->reply_len && (n = send(c,
	    f->reply + off, f->reply_len - off, MSG_NOSIGNAL)) > 0)
		off += (size_t)n;
	close(c);
	return NULL;
}

static int
http_fixture_start(struct http_fixture *f, const char *reply,
    size_t reply_len, int hang_ms)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	memset(f, 0, sizeof(*f));
	f->reply = reply;
	f->reply_len = reply_len;
	f->hang_ms = hang_ms;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((f->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(f->fd, 4) != 0 ||
	    getsockname(f->fd, (struct sockaddr *)&sa, &sl) != 0 ||
	    pthread_create(&f->th, NULL, http_fixture_run, f) != 0) {
		if (f->fd >= 0)
			close(f->fd);
		return -1;
	}
	f->port = ntohs(sa.sin_port);
	return 0;
}

static void
http_fixture_stop(struct http_fixture *f)
{
	pthread_join(f->th, NULL);
	close(f->fd);
}

/* GET: the body of a 200, the request it sent; the caps, a 3xx (no
 * redirects), a short body and a silent server within the deadline. */
static void
test_http_get(void)
{
	static const char ok[] = "HTTP/1.0 200 OK\r\nContent-Type: "
	    "application/pkix-crl\r\nContent-Length: 5\r\n\r\nhello";
	static const char moved[] = "HTTP/1.1 302 Found\r\nLocation: "
	    "http://10.0.0.1/x\r\nContent-Length: 0\r\n\r\n";
	static const char cut[] = "HTTP/1.0 200 OK\r\nContent-Length: 100"
	    "\r\n\r\nhello";
	struct http_fixture f;
	uint8_t *out = NULL;
	size_t len = 0;
	char url[96], *big;
	int64_t t0;

	CHECK_EQ(gp_http_get("ftp://127.0.0.1/x.crl", NULL, 100, 1000, &out,
	    &len), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "http://");
	if (http_fixture_start(&f, ok, sizeof(ok) - 1, 0) != 0) {
		CHECK(!"fixture");
		return;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/ca/x.crl", f.port);
	CHECK_EQ(gp_http_get(url, "application/pkix-crl", 100, 2000, &out,
	    &len), 0);
	http_fixture_stop(&f);
	CHECK(out != NULL && len == 5 && memcmp(out, "hello", 5) == 0);
	CHECK(strncmp(f.request, "GET /ca/x.crl HTTP/1.1\r\n", 24) == 0);
	CHECK_CONTAINS(f.request, "Host: 127.0.0.1:");
	CHECK_CONTAINS(f.request, "Connection: close");
	free(out);
	out = NULL;

	/* The cap on the body. */
	if (http_fixture_start(&f, ok, sizeof(ok) - 1, 0) == 0) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", f.port);
		CHECK_EQ(gp_http_get(url, NULL, 4, 2000, &out, &len),
		    GP_ERR_TOO_LARGE);
		http_fixture_stop(&f);
	}
	/* A large reply without Content-Length is cut off at the cap while
	 * reading, not buffered whole. */
	big = malloc(1 << 20);
	if (big != NULL) {
		memset(big, 'a', 1 << 20);
		memcpy(big, "HTTP/1.0 200 OK\r\n\r\n", 19);
		if (http_fixture_start(&f, big, 1 << 20, 0) == 0) {
			snprintf(url, sizeof(url), "http://127.0.0.1:%d/x",
			    f.port);
			CHECK_EQ(gp_http_get(url, NULL, 1000, 2000, &out,
			    &len), GP_ERR_TOO_LARGE);
			CHECK_CONTAINS(gp_err_detail(), url);
			http_fixture_stop(&f);
		}
		free(big);
	}
	/* No redirects. */
	if (http_fixture_start(&f, moved, sizeof(moved) - 1, 0) == 0) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", f.port);
		CHECK_EQ(gp_http_get(url, NULL, 100, 2000, &out, &len),
		    GP_ERR_IO);
		CHECK_CONTAINS(gp_err_detail(), "HTTP status 302");
		http_fixture_stop(&f);
	}
	/* A body shorter than its Content-Length. */
	if (http_fixture_start(&f, cut, sizeof(cut) - 1, 0) == 0) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", f.port);
		CHECK_EQ(gp_http_get(url, NULL, 1000, 2000, &out, &len),
		    GP_ERR_IO);
		CHECK_CONTAINS(gp_err_detail(), "cut short");
		http_fixture_stop(&f);
	}
	/* A server that never answers: the deadline holds. */
	if (http_fixture_start(&f, NULL, 0, 1500) == 0) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", f.port);
		t0 = gp_mono_ms();
		CHECK_EQ(gp_http_get(url, NULL, 1000, 300, &out, &len),
		    GP_ERR_IO);
		CHECK(gp_mono_ms() - t0 < 1200);
		CHECK_CONTAINS(gp_err_detail(), "within 300 ms");
		http_fixture_stop(&f);
	}
	CHECK(out == NULL && len == 0);
}

/* The public URL names every CRL, OCSP and caIssuers URL of the
 * certificates: only a plain base URL is taken, and host names go into
 * OpenSSL's comma-separated extension text, so nothing else may. */
static void
test_public_url_hostname(void)
{
	static const char *const good[] = {"http://127.0.0.1:8080",
	    "https://pki.example.gov.cn", "https://pki.example.gov.cn:8443",
	    "https://pki.example.gov.cn/ca/v1", "http://[::1]:8080",
	    "https://a-b.example/%E4%B8%AD", NULL};
	static const struct {
		const char *url, *why;
	} bad[] = {
		{"", "required"}, {"ftp://x.example", "http://"},
		{"pki.example.gov.cn", "http://"}, {"https://", "no host"},
		{"https://u:p@x.example", "user"}, {"https://x.example/?a", "query"},
		{"https://x.example#f", "fragment"}, {"https://x.example:0", "port"},
		{"https://x.example:65536", "port"}, {"https://x.example:+80", "port"},
		{"https://x.example:", "port"}, {"https://x.example/a b", "control"},
		{"https://x.example/\x01", "control"}, {"https://x.example/\xe4", "ASCII"},
		{"https://x.example/a,URI:http://e", "path"},
		{"https://-x.example", "host"}, {"https://x..example", "host"},
		{"https://x_y.example", "host"}, {"https://[::g]/", "IPv6"},
		{"https://x.example/a/", "end with /"}, {NULL, NULL},
	};
	size_t i;

	for (i = 0; good[i] != NULL; i++) {
		if (gp_public_url_check("--public-url", good[i]) != 0)
			fprintf(stderr, "  refused %s: %s\n", good[i],
			    gp_err_detail());
		CHECK_EQ(gp_public_url_check("--public-url", good[i]), 0);
	}
	for (i = 0; bad[i].url != NULL; i++) {
		CHECK_EQ(gp_public_url_check("--public-url", bad[i].url),
		    GP_ERR_INVALID);
		CHECK_CONTAINS(gp_err_detail(), "--public-url");
		if (strstr(gp_err_detail(), bad[i].why) == NULL)
			fprintf(stderr, "  %s: %s\n", bad[i].url,
			    gp_err_detail());
		CHECK_CONTAINS(gp_err_detail(), bad[i].why);
	}
	CHECK_EQ(gp_public_url_check("f", NULL), GP_ERR_INVALID);
	CHECK_EQ(gp_hostname_check("--hostname", "pki.example.gov.cn"), 0);
	CHECK_EQ(gp_hostname_check("--hostname", "10.0.0.1"), 0);
	CHECK_EQ(gp_hostname_check("--hostname", "fd00::1"), 0);
	CHECK_EQ(gp_hostname_check("--hostname", "a,DNS:evil.example"),
	    GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "--hostname");
	CHECK_EQ(gp_hostname_check("--hostname", "x.example-"),
	    GP_ERR_INVALID);
	CHECK_EQ(gp_hostname_check("--hostname", ""), GP_ERR_INVALID);
	CHECK_EQ(gp_hostname_check("--hostname", NULL), GP_ERR_INVALID);
}

/* RFC 5280 5.3.1 CRLReason names and codes, both ways; 7 is unused. */
static void
test_crl_reasons(void)
{
	int i;

	CHECK_STR(gp_crl_reason_name(1), "keyCompromise");
	CHECK_STR(gp_crl_reason_name(6), "certificateHold");
	CHECK_STR(gp_crl_reason_name(10), "aACompromise");
	CHECK(gp_crl_reason_name(7) == NULL);
	CHECK(gp_crl_reason_name(-1) == NULL);
	CHECK(gp_crl_reason_name(11) == NULL);
	for (i = 0; i <= 10; i++)
		if (i != 7)
			CHECK_EQ(gp_crl_reason_code(gp_crl_reason_name(i)), i);
	CHECK_EQ(gp_crl_reason_code("keycompromise"), -1);
	CHECK_EQ(gp_crl_reason_code(NULL), -1);
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	RUN(test_err_detail);
	RUN(test_config_roundtrip);
	RUN(test_config_refusals);
	RUN(test_config_tsa);
	RUN(test_config_seals);
	RUN(test_config_store);
	RUN(test_file_write_exclusive);
	RUN(test_hex_mask_hostport);
	RUN(test_http_post_refusals);
	RUN(test_config_verify);
	RUN(test_http_get);
	RUN(test_public_url_hostname);
	RUN(test_crl_reasons);
	{
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	return test_done("core");
}
