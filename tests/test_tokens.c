/*
 * test_tokens.c: unit tests of tokens/ against a throwaway SoftHSM store
 * (a temporary directory with its own softhsm2.conf, removed at the end).
 * Must-fail cases first: bad URIs, bad PIN sources, a missing module, a
 * missing token, a wrong PIN; then key generation for every algorithm,
 * signing through the token from one and from several threads, certificates,
 * CSRs and the probe; the key management centre's storage key and wrapped
 * key pairs (a blob changed by one bit does not unwrap), keys imported
 * sensitive and not extractable (CKA_LOCAL false, against true for keys
 * generated there) that decrypt a CMS envelope through the token, the SO's
 * reset of the user PIN, certificate listing and deletion.
 */
#include <ftw.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tests/test.h"
#include "tokens/tokens.h"

#ifndef GP_SOFTHSM_MODULE
#define GP_SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#endif

#define SO_PIN "so-87654321"
#define USER_PIN "us-1234"
#define WRONG_PIN "wr-999999"

static char tmpdir[256];
static tok_ctx *ctx;

static const enum tok_algo all_algos[] = {
	TOK_ALGO_EC_P256, TOK_ALGO_EC_P384, TOK_ALGO_RSA_2048, TOK_ALGO_RSA_3072
};

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static int
setup_store(void)
{
	char path[512], conf[1024];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/govpki-tok.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/tokens", tmpdir);
	if (mkdir(path, 0700) != 0)
		return -1;
	snprintf(conf, sizeof(conf), "directories.tokendir = %s\n"
	    "objectstore.backend = file\nlog.level = ERROR\n", path);
	snprintf(path, sizeof(path), "%s/softhsm2.conf", tmpdir);
	write_file(path, conf, 0600);
	return setenv("SOFTHSM2_CONF", path, 1);
}

/* Signs "data" with |priv| and verifies with |pub|; 1 when both work. */
static int
sign_verify(EVP_PKEY *priv, EVP_PKEY *pub, const char *msg)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	unsigned char sig[1024];
	size_t sig_len = sizeof(sig);
	int ok;

	ok = m != NULL &&
	    EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, priv) == 1 &&
	    EVP_DigestSign(m, sig, &sig_len, (const unsigned char *)msg,
	    strlen(msg)) == 1;
	EVP_MD_CTX_free(m);
	if (!ok)
		return 0;
	m = EVP_MD_CTX_new();
	ok = m != NULL &&
	    EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, pub) == 1 &&
	    EVP_DigestVerify(m, sig, sig_len, (const unsigned char *)msg,
	    strlen(msg)) == 1;
	EVP_MD_CTX_free(m);
	return ok;
}

static void
test_uri_good(void)
{
	struct tok_uri u;

	CHECK_EQ(tok_uri_parse("pkcs11:token=govpki;object=tsa", &u), 0);
	CHECK_STR(u.token, "govpki");
	CHECK_STR(u.object, "tsa");
	CHECK(u.serial == NULL && u.type == NULL && u.module_path == NULL);
	tok_uri_clear(&u);

	CHECK_EQ(tok_uri_parse("PKCS11:token=my%20token;object=a%3Bb%2fc;"
	    "serial=0123abcd;type=private;id=%01%02%00%ff"
	    "?module-path=/usr/lib/x%2Dy.so", &u), 0);
	CHECK_STR(u.token, "my token");
	CHECK_STR(u.object, "a;b/c");
	CHECK_STR(u.serial, "0123abcd");
	CHECK_STR(u.type, "private");
	CHECK_STR(u.module_path, "/usr/lib/x-y.so");
	CHECK_EQ(u.id_len, 4);
	CHECK(u.id != NULL && memcmp(u.id, "\x01\x02\x00\xff", 4) == 0);
	tok_uri_clear(&u);

	CHECK_EQ(tok_uri_parse("file:///tmp/k%20ey.pem", &u), 0);
	CHECK_STR(u.file, "/tmp/k ey.pem");
	CHECK(u.token == NULL);
	tok_uri_clear(&u);
	CHECK_EQ(tok_uri_parse("file:/tmp/k.pem", &u), 0);
	CHECK_STR(u.file, "/tmp/k.pem");
	tok_uri_clear(&u);
	tok_uri_clear(NULL);
}

static void
test_uri_bad(void)
{
	struct tok_uri u;

	CHECK_EQ(tok_uri_parse("pkcs11:token=a;object=b?pin-value=1234", &u),
	    GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "pin-value");
	CHECK(strstr(gp_err_detail(), "1234") == NULL);
	CHECK(u.token == NULL && u.object == NULL); /* cleared on failure */
	CHECK_EQ(tok_uri_parse("pkcs11:token=a;pin-value=1234", &u),
	    GP_ERR_INVALID);
	CHECK_EQ(tok_uri_parse("pkcs11:token=a;frobnicate=1", &u),
	    GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "frobnicate");
	CHECK_EQ(tok_uri_parse("pkcs11:token=a?module-name=softhsm2", &u),
	    GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "module-name");
	CHECK_EQ(tok_uri_parse("pkcs11:token=a%zz", &u), GP_ERR_INVALID);
	CHECK_EQ(tok_uri_parse("pkcs11:token=a%4", &u), GP_ERR_INVALID);
	CHECK_EQ(tok_uri_parse("pkcs11:token=a%00b", &u), GP_ERR_INVALID);
	CHECK_EQ(tok_uri_parse("pkcs11:token=a;token=b", &u), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "twice");
	CHECK_EQ(tok_uri_parse("pkcs11:token", &u), GP_ERR_INVALID);
	CHECK_EQ(tok_uri_parse("pkcs11:token=", &u), GP_ERR_INVALID);
	CHECK_EQ(tok_uri_parse("pkcs11:type=secret-key", &u), GP_ERR_INVALID);
	CHECK_EQ(tok_uri_parse("http://example.com/key", &u), GP_ERR_INVALID);
	CHECK_EQ(tok_uri_parse("file://host/key.pem", &u), GP_ERR_INVALID);
	CHECK_EQ(tok_uri_parse(NULL, &u), GP_ERR_INVALID);
	CHECK_EQ(tok_uri_parse("pkcs11:token=a", NULL), GP_ERR_INVALID);
}

static void
test_algo(void)
{
	enum tok_algo a;
	size_t i;

	for (i = 0; i < sizeof(all_algos) / sizeof(all_algos[0]); i++) {
		CHECK_EQ(tok_algo_parse(tok_algo_name(all_algos[i]), &a), 0);
		CHECK_EQ(a, all_algos[i]);
	}
	CHECK_STR(tok_algo_name(TOK_ALGO_EC_P384), "ec-p384");
	CHECK_EQ(tok_algo_parse("ec-p521", &a), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "ec-p521");
	CHECK_EQ(tok_algo_parse("RSA-2048", &a), GP_ERR_INVALID);
	CHECK_EQ(tok_algo_parse(NULL, &a), GP_ERR_INVALID);
	CHECK_STR(tok_algo_name((enum tok_algo)99), "unknown");
}

static void
test_pin_sources(void)
{
	struct tok_pin_source src;
	char path[512], *pin = NULL, *pin2 = NULL;
	size_t i;

	snprintf(path, sizeof(path), "%s/pin", tmpdir);
	write_file(path, "s3cret\r\nsecond line\n", 0600);
	src.kind = TOK_PIN_FILE;
	src.value = path;
	CHECK_EQ(tok_pin_read(&src, &pin), 0);
	CHECK_STR(pin, "s3cret");
	gp_secret_free(pin);
	pin = NULL;

	write_file(path, "s3cret\n", 0644);
	CHECK_EQ(tok_pin_read(&src, &pin), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), path);
	CHECK(strstr(gp_err_detail(), "s3cret") == NULL);
	CHECK(pin == NULL);
	write_file(path, "\n", 0600);
	CHECK_EQ(tok_pin_read(&src, &pin), GP_ERR_NO_PIN);
	snprintf(path, sizeof(path), "%s/no-such-pin", tmpdir);
	CHECK_EQ(tok_pin_read(&src, &pin), GP_ERR_NO_PIN);
	CHECK_CONTAINS(gp_err_detail(), "no-such-pin");

	src.kind = TOK_PIN_ENV;
	src.value = "GOVPKI_TEST_PIN_UNSET";
	unsetenv("GOVPKI_TEST_PIN_UNSET");
	CHECK_EQ(tok_pin_read(&src, &pin), GP_ERR_NO_PIN);
	CHECK_CONTAINS(gp_err_detail(), "GOVPKI_TEST_PIN_UNSET");
	setenv("GOVPKI_TEST_PIN_SET", "envpin\n", 1);
	src.value = "GOVPKI_TEST_PIN_SET";
	{
		/* The value in the environment block, which setenv() keeps
		 * allocated: it must be wiped, and the variable gone. */
		char *raw = getenv("GOVPKI_TEST_PIN_SET");
		CHECK_EQ(tok_pin_read(&src, &pin), 0);
		CHECK_STR(pin, "envpin");
		CHECK(getenv("GOVPKI_TEST_PIN_SET") == NULL);
		CHECK(raw != NULL && raw[0] == '\0');
	}
	gp_secret_free(pin);
	pin = NULL;

	CHECK_EQ(tok_pin_read(NULL, &pin), GP_ERR_INVALID);
	CHECK_EQ(tok_pin_read(&src, NULL), GP_ERR_INVALID);
	src.kind = TOK_PIN_FILE;
	src.value = NULL;
	CHECK_EQ(tok_pin_read(&src, &pin), GP_ERR_INVALID);

	CHECK_EQ(tok_pin_random(24, &pin), 0);
	CHECK_EQ(tok_pin_random(24, &pin2), 0);
	CHECK(pin != NULL && strlen(pin) == 24);
	for (i = 0; pin != NULL && i < 24; i++)
		CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789", pin[i]) != NULL);
	CHECK(pin != NULL && pin2 != NULL && strcmp(pin, pin2) != 0);
	gp_secret_free(pin);
	gp_secret_free(pin2);
	CHECK_EQ(tok_pin_random(0, &pin), GP_ERR_INVALID);
	CHECK_EQ(tok_pin_random(8, NULL), GP_ERR_INVALID);
}

static void
test_module_errors(void)
{
	tok_ctx *c = NULL;
	char path[512];

	CHECK_EQ(tok_ctx_new("/nonexistent/libnothing.so", &c), GP_ERR_MODULE);
	CHECK_CONTAINS(gp_err_detail(), "/nonexistent/libnothing.so");
	CHECK(c == NULL);
	/* A file that is not a PKCS#11 module. */
	snprintf(path, sizeof(path), "%s/notamodule.so", tmpdir);
	write_file(path, "not an ELF file\n", 0600);
	CHECK_EQ(tok_ctx_new(path, &c), GP_ERR_MODULE);
	CHECK_CONTAINS(gp_err_detail(), "notamodule.so");
	CHECK_EQ(tok_ctx_new(NULL, &c), GP_ERR_INVALID);
	CHECK_EQ(tok_ctx_new(GP_SOFTHSM_MODULE, NULL), GP_ERR_INVALID);
	tok_ctx_free(NULL);
}

static void
test_init_list(void)
{
	struct tok_info *v = NULL;
	size_t n = 0, i;
	int seen = 0;

	CHECK_EQ(tok_list(ctx, &v, &n), 0);
	for (i = 0; i < n; i++)
		if (strcmp(v[i].label, "gpt") == 0 && v[i].initialized)
			seen = 1;
	CHECK(seen);
	free(v);
	CHECK_EQ(tok_init_token(ctx, "gpt", SO_PIN, USER_PIN), GP_ERR_EXISTS);
	CHECK_CONTAINS(gp_err_detail(), "gpt");
	CHECK_EQ(tok_init_token(ctx, "", SO_PIN, USER_PIN), GP_ERR_INVALID);
	CHECK_EQ(tok_init_token(ctx, "a-label-that-is-longer-than-32-bytes",
	    SO_PIN, USER_PIN), GP_ERR_INVALID);
	CHECK_EQ(tok_list(NULL, &v, &n), GP_ERR_INVALID);
}

static void
test_login_errors(void)
{
	/* gpt2 is never logged in with the right PIN before this. */
	CHECK_EQ(tok_login(ctx, "gpt2", WRONG_PIN), GP_ERR_PIN_INCORRECT);
	CHECK_CONTAINS(gp_err_detail(), "gpt2");
	CHECK(strstr(gp_err_detail(), WRONG_PIN) == NULL);
	CHECK_EQ(tok_login(ctx, "no-such-token", USER_PIN),
	    GP_ERR_TOKEN_ABSENT);
	CHECK_CONTAINS(gp_err_detail(), "no-such-token");
	CHECK_EQ(tok_login(ctx, "gpt", NULL), GP_ERR_INVALID);
	CHECK_EQ(tok_login(NULL, "gpt", USER_PIN), GP_ERR_INVALID);
	/* Logging in twice is not an error. */
	CHECK_EQ(tok_login(ctx, "gpt", USER_PIN), 0);
}

static void
test_keygen_needs_login(void)
{
	CHECK_EQ(tok_keygen(ctx, "gpt2", "k", TOK_ALGO_EC_P256, NULL),
	    GP_ERR_LOGIN_REQUIRED);
	CHECK_CONTAINS(gp_err_detail(), "gpt2");
	CHECK_EQ(tok_keygen(ctx, "no-such-token", "k", TOK_ALGO_EC_P256, NULL),
	    GP_ERR_TOKEN_ABSENT);
	CHECK_EQ(tok_keygen(ctx, "gpt", "", TOK_ALGO_EC_P256, NULL),
	    GP_ERR_INVALID);
	CHECK_EQ(tok_keygen(ctx, "gpt", "k", (enum tok_algo)42, NULL),
	    GP_ERR_INVALID);
}

static void
test_keygen_all(void)
{
	static const int bits[] = { 256, 384, 2048, 3072 };
	static const int types[] = { EVP_PKEY_EC, EVP_PKEY_EC, EVP_PKEY_RSA,
		EVP_PKEY_RSA };
	char label[64], uri[128];
	EVP_PKEY *pub, *priv, *pub2;
	int sens, extr;
	size_t i;

	for (i = 0; i < sizeof(all_algos) / sizeof(all_algos[0]); i++) {
		snprintf(label, sizeof(label), "k-%s",
		    tok_algo_name(all_algos[i]));
		snprintf(uri, sizeof(uri), "pkcs11:token=gpt;object=%s", label);
		pub = priv = pub2 = NULL;
		CHECK_EQ(tok_keygen(ctx, "gpt", label, all_algos[i], &pub), 0);
		CHECK(pub != NULL);
		if (pub == NULL)
			continue;
		CHECK_EQ(EVP_PKEY_get_base_id(pub), types[i]);
		CHECK_EQ(EVP_PKEY_get_bits(pub), bits[i]);
		sens = extr = -1;
		CHECK_EQ(tok_key_attrs(ctx, uri, &sens, &extr), 0);
		CHECK_EQ(sens, 1);
		CHECK_EQ(extr, 0);
		CHECK_EQ(tok_key_load(ctx, uri, &priv), 0);
		CHECK(priv != NULL && sign_verify(priv, pub, "filing 42"));
		CHECK_EQ(tok_pubkey_load(ctx, uri, &pub2), 0);
		CHECK(pub2 != NULL && EVP_PKEY_eq(pub, pub2) == 1);
		EVP_PKEY_free(priv);
		EVP_PKEY_free(pub2);
		EVP_PKEY_free(pub);
	}
	CHECK_EQ(tok_keygen(ctx, "gpt", "k-ec-p256", TOK_ALGO_EC_P256, NULL),
	    GP_ERR_EXISTS);
	CHECK_CONTAINS(gp_err_detail(), "k-ec-p256");
}

static void
test_key_load_errors(void)
{
	EVP_PKEY *k = NULL;

	CHECK_EQ(tok_key_load(ctx, "pkcs11:token=gpt;object=nope", &k),
	    GP_ERR_NOT_FOUND);
	CHECK_CONTAINS(gp_err_detail(), "nope");
	CHECK_EQ(tok_key_load(ctx, "pkcs11:token=absent;object=k-ec-p256",
	    &k), GP_ERR_TOKEN_ABSENT);
	CHECK_EQ(tok_key_load(ctx, "pkcs11:token=gpt2;object=x", &k),
	    GP_ERR_LOGIN_REQUIRED);
	CHECK_EQ(tok_key_load(ctx, "pkcs11:token=gpt;object=k-ec-p256;"
	    "type=cert", &k), GP_ERR_INVALID);
	CHECK_EQ(tok_key_load(ctx, "pkcs11:token=gpt;object=k?module-path="
	    "/other/module.so", &k), GP_ERR_INVALID);
	CHECK_EQ(tok_key_load(ctx, "pkcs11:token=gpt;pin-value=" USER_PIN, &k),
	    GP_ERR_INVALID);
	CHECK(strstr(gp_err_detail(), USER_PIN) == NULL);
	CHECK_EQ(tok_key_load(ctx, NULL, &k), GP_ERR_INVALID);
	CHECK(k == NULL);
}

/* A key loaded before a later key generation keeps signing, and the new
 * key is found although libp11 enumerated the token before it existed. */
static void
test_key_after_keygen(void)
{
	EVP_PKEY *a = NULL, *apub = NULL, *b = NULL, *bpub = NULL;

	CHECK_EQ(tok_key_load(ctx, "pkcs11:token=gpt;object=k-ec-p256", &a),
	    0);
	CHECK_EQ(tok_pubkey_load(ctx, "pkcs11:token=gpt;object=k-ec-p256",
	    &apub), 0);
	CHECK_EQ(tok_keygen(ctx, "gpt", "late", TOK_ALGO_EC_P256, &bpub), 0);
	CHECK_EQ(tok_key_load(ctx, "pkcs11:token=gpt;object=late", &b), 0);
	CHECK(b != NULL && bpub != NULL && sign_verify(b, bpub, "late"));
	CHECK(a != NULL && apub != NULL && sign_verify(a, apub, "early"));
	EVP_PKEY_free(a);
	EVP_PKEY_free(apub);
	EVP_PKEY_free(b);
	EVP_PKEY_free(bpub);
}

struct sign_job {
	EVP_PKEY *priv, *pub;
	int n, ok;
};

static void *
sign_thread(void *arg)
{
	struct sign_job *j = arg;
	char msg[64];
	int i;

	for (i = 0; i < j->n; i++) {
		snprintf(msg, sizeof(msg), "msg %p %d", (void *)j, i);
		if (sign_verify(j->priv, j->pub, msg))
			j->ok++;
	}
	return NULL;
}

static void
concurrent(const char *label, int per_thread)
{
	enum { NT = 4 };
	struct sign_job jobs[NT];
	pthread_t th[NT];
	char uri[128];
	EVP_PKEY *priv = NULL, *pub = NULL;
	int i, started[NT];

	snprintf(uri, sizeof(uri), "pkcs11:token=gpt;object=%s", label);
	CHECK_EQ(tok_key_load(ctx, uri, &priv), 0);
	CHECK_EQ(tok_pubkey_load(ctx, uri, &pub), 0);
	if (priv == NULL || pub == NULL)
		goto out;
	for (i = 0; i < NT; i++) {
		jobs[i].priv = priv;
		jobs[i].pub = pub;
		jobs[i].n = per_thread;
		jobs[i].ok = 0;
		started[i] = pthread_create(&th[i], NULL, sign_thread,
		    &jobs[i]) == 0;
		CHECK(started[i]);
	}
	for (i = 0; i < NT; i++) {
		if (!started[i])
			continue;
		pthread_join(th[i], NULL);
		CHECK_EQ(jobs[i].ok, per_thread);
	}
out:
	EVP_PKEY_free(priv);
	EVP_PKEY_free(pub);
}

static void
test_concurrent_sign(void)
{
	concurrent("k-ec-p256", 200);
	concurrent("k-rsa-2048", 50);
}

static void
test_cert_roundtrip(void)
{
	EVP_PKEY *priv = NULL, *pub = NULL;
	X509 *x = NULL, *back = NULL;
	X509_NAME *n = NULL;
	const char *uri = "pkcs11:token=gpt;object=k-ec-p384";

	CHECK_EQ(tok_key_load(ctx, uri, &priv), 0);
	CHECK_EQ(tok_pubkey_load(ctx, uri, &pub), 0);
	x = X509_new();
	n = X509_NAME_new();
	if (priv == NULL || pub == NULL || x == NULL || n == NULL)
		goto out;
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"token cert", -1, -1, 0);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pub);
	/* X509_sign through the token key (a libp11 "foreign" key). */
	CHECK(X509_sign(x, priv, EVP_sha384()) > 0);
	CHECK_EQ(X509_verify(x, pub), 1);
	CHECK_EQ(tok_cert_write(ctx, "gpt", "k-ec-p384", x), 0);
	CHECK_EQ(tok_cert_write(ctx, "gpt", "k-ec-p384", x), GP_ERR_EXISTS);
	CHECK_EQ(tok_cert_read(ctx, "pkcs11:token=gpt;object=k-ec-p384;"
	    "type=cert", &back), 0);
	CHECK(back != NULL && X509_cmp(x, back) == 0);
	X509_free(back);
	back = NULL;
	CHECK_EQ(tok_cert_read(ctx, "pkcs11:token=gpt;object=none;type=cert",
	    &back), GP_ERR_NOT_FOUND);
	CHECK_EQ(tok_cert_read(ctx, "pkcs11:token=gpt;object=k;type=private",
	    &back), GP_ERR_INVALID);
	CHECK_EQ(tok_cert_write(ctx, "gpt", "x", NULL), GP_ERR_INVALID);
out:
	X509_NAME_free(n);
	X509_free(x);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(pub);
}

static void
test_csr(void)
{
	static const char *labels[] = { "k-ec-p384", "k-rsa-3072" };
	static const int md_nids[] = { NID_ecdsa_with_SHA384,
		NID_sha256WithRSAEncryption };
	EVP_PKEY *priv, *pub;
	X509_REQ *req;
	X509_NAME *n = X509_NAME_new();
	char uri[128];
	size_t i;

	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"\xe6\xb5\x8b\xe8\xaf\x95", -1, -1, 0);
	for (i = 0; i < 2; i++) {
		priv = pub = NULL;
		req = NULL;
		snprintf(uri, sizeof(uri), "pkcs11:token=gpt;object=%s",
		    labels[i]);
		CHECK_EQ(tok_key_load(ctx, uri, &priv), 0);
		CHECK_EQ(tok_pubkey_load(ctx, uri, &pub), 0);
		CHECK_EQ(tok_csr_make(priv, n, &req), 0);
		CHECK(req != NULL && pub != NULL &&
		    X509_REQ_verify(req, pub) == 1);
		CHECK(req != NULL &&
		    X509_REQ_get_signature_nid(req) == md_nids[i]);
		CHECK(req != NULL && X509_NAME_cmp(X509_REQ_get_subject_name(
		    req), n) == 0);
		X509_REQ_free(req);
		EVP_PKEY_free(priv);
		EVP_PKEY_free(pub);
	}
	CHECK_EQ(tok_csr_make(NULL, n, &req), GP_ERR_INVALID);
	X509_NAME_free(n);
}

static void
test_file_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256"), *loaded = NULL, *pub = NULL;
	char path[512], uri[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/dev key.pem", tmpdir);
	f = fopen(path, "w");
	CHECK(k != NULL && f != NULL);
	if (k == NULL || f == NULL)
		goto out;
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	snprintf(uri, sizeof(uri), "file://%s", path);
	/* The space must be pct-encoded in a URI; the raw path also works
	 * with file:/ since the value is only pct-decoded. */
	snprintf(uri, sizeof(uri), "file:%s/dev%%20key.pem", tmpdir);
	CHECK_EQ(tok_key_load(NULL, uri, &loaded), 0);
	CHECK_EQ(tok_pubkey_load(NULL, uri, &pub), 0);
	CHECK(loaded != NULL && pub != NULL && sign_verify(loaded, pub, "f"));
	CHECK(loaded != NULL && EVP_PKEY_eq(k, loaded) == 1);
	EVP_PKEY_free(loaded);
	loaded = NULL;
	CHECK(tok_key_load(NULL, "file:/nonexistent/key.pem", &loaded) < 0);
	CHECK_CONTAINS(gp_err_detail(), "/nonexistent/key.pem");
	write_file(path, "not a key\n", 0600);
	CHECK(tok_key_load(NULL, uri, &loaded) == GP_ERR_INVALID);
	CHECK(loaded == NULL);
out:
	EVP_PKEY_free(k);
	EVP_PKEY_free(pub);
}

static void
test_probe(void)
{
	CHECK_EQ(tok_probe(ctx, "gpt", 2000), 0);
	CHECK_EQ(tok_probe(ctx, "absent-token", 2000), GP_ERR_TOKEN_ABSENT);
	CHECK_CONTAINS(gp_err_detail(), "absent-token");
	CHECK_EQ(tok_probe(ctx, "gpt", 0), GP_ERR_INVALID);
	CHECK_EQ(tok_probe(NULL, "gpt", 100), GP_ERR_INVALID);
}

static void
test_change_pin(void)
{
	CHECK_EQ(tok_change_pin(ctx, "gpt2", WRONG_PIN, "new-pin-1"),
	    GP_ERR_PIN_INCORRECT);
	CHECK(strstr(gp_err_detail(), WRONG_PIN) == NULL);
	CHECK_EQ(tok_change_pin(ctx, "gpt2", USER_PIN, "new-pin-1"), 0);
	CHECK_EQ(tok_login(ctx, "gpt2", "new-pin-1"), 0);
	CHECK_EQ(tok_change_pin(ctx, "absent", USER_PIN, "x"),
	    GP_ERR_TOKEN_ABSENT);
}


/* The KMC's storage key and key pairs wrapped under it. */
static void
test_wrap(void)
{
	EVP_PKEY *pub = NULL, *priv = NULL, *pub2 = NULL;
	uint8_t *blob = NULL, *blob2 = NULL;
	size_t blob_len = 0, blob2_len = 0;
	int sens = 0, extr = 1;

	/* must fail: no storage key yet, wrong algorithm, no login */
	CHECK_EQ(tok_wrapped_keygen(ctx, "gpt", "kmc-t", TOK_ALGO_RSA_2048,
	    &pub, &blob, &blob_len), GP_ERR_NOT_FOUND);
	CHECK_EQ(tok_wrapkey_gen(ctx, "gpt", ""), GP_ERR_INVALID);
	CHECK_EQ(tok_wrapkey_gen(ctx, "gpt", "kmc-t"), 0);
	CHECK_EQ(tok_wrapkey_gen(ctx, "gpt", "kmc-t"), GP_ERR_EXISTS);
	CHECK_EQ(tok_wrapkey_attrs(ctx, "gpt", "kmc-t", &sens, &extr), 0);
	CHECK(sens == 1 && extr == 0);
	CHECK_EQ(tok_wrapkey_attrs(ctx, "gpt", "nope", &sens, &extr),
	    GP_ERR_NOT_FOUND);
	CHECK_EQ(tok_wrapped_keygen(ctx, "gpt", "kmc-t", TOK_ALGO_EC_P256,
	    &pub, &blob, &blob_len), GP_ERR_UNSUPPORTED);
	CHECK_EQ(tok_wrapped_keygen(ctx, "gpt", "kmc-t", TOK_ALGO_RSA_2048,
	    &pub, &blob, &blob_len), 0);
	CHECK(pub != NULL && blob != NULL && blob_len > 256);
	CHECK_EQ(tok_wrapped_keygen(ctx, "gpt", "kmc-t", TOK_ALGO_RSA_2048,
	    &pub2, &blob2, &blob2_len), 0);
	if (blob == NULL || blob2 == NULL)
		goto out;
	/* The wrapped blob unwraps to the pair of the public key. */
	CHECK_EQ(tok_unwrap_private(ctx, "gpt", "kmc-t", blob, blob_len,
	    &priv), 0);
	CHECK(priv != NULL && EVP_PKEY_eq(priv, pub) == 1 &&
	    EVP_PKEY_eq(priv, pub2) != 1);
	EVP_PKEY_free(priv);
	priv = NULL;
	/* must fail: one bit changed (RFC 5649 integrity check), another
	 * storage key, no blob */
	blob[blob_len / 2] ^= 0x01;
	CHECK_EQ(tok_unwrap_private(ctx, "gpt", "kmc-t", blob, blob_len,
	    &priv), GP_ERR_TAMPERED);
	CHECK(priv == NULL);
	blob[blob_len / 2] ^= 0x01;
	CHECK_EQ(tok_wrapkey_gen(ctx, "gpt", "kmc-other"), 0);
	CHECK_EQ(tok_unwrap_private(ctx, "gpt", "kmc-other", blob, blob_len,
	    &priv), GP_ERR_TAMPERED);
	CHECK_EQ(tok_unwrap_private(ctx, "gpt", "kmc-t", blob, 0, &priv),
	    GP_ERR_INVALID);
out:
	EVP_PKEY_free(pub);
	EVP_PKEY_free(pub2);
	EVP_PKEY_free(priv);
	free(blob);
	free(blob2);
}

/* |text| enveloped to |cert| (CMS EnvelopedData, RSA key transport). */
static CMS_ContentInfo *
envelope_to(X509 *cert, const char *text)
{
	STACK_OF(X509) *rc = sk_X509_new_null();
	BIO *in = BIO_new_mem_buf(text, (int)strlen(text));
	CMS_ContentInfo *cms = NULL;

	if (rc != NULL && in != NULL && sk_X509_push(rc, cert) > 0)
		cms = CMS_encrypt(rc, in, EVP_aes_256_cbc(), CMS_BINARY);
	sk_X509_free(rc);
	BIO_free(in);
	return cms;
}

/* A self-signed certificate for |key| (its public half). */
static X509 *
self_cert(EVP_PKEY *key, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	if (x == NULL || n == NULL ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 7) != 1 ||
	    X509_set_subject_name(x, n) != 1 || X509_set_issuer_name(x, n) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 3600) == NULL ||
	    X509_set_pubkey(x, key) != 1 || X509_sign(x, key, EVP_sha256()) <= 0) {
		X509_free(x);
		x = NULL;
	}
	X509_NAME_free(n);
	return x;
}

/* An RSA key made elsewhere, imported onto the token: sensitive, not
 * extractable, not local; it decrypts a CMS envelope through the token. */
static void
test_import(void)
{
	EVP_PKEY *soft = EVP_RSA_gen(2048), *tk = NULL;
	X509 *cert = NULL;
	CMS_ContentInfo *cms = NULL;
	BIO *outb = BIO_new(BIO_s_mem());
	char *data = NULL;
	long n;
	struct tok_key_flags fl;
	struct tok_cert_obj *certs = NULL;
	size_t ncerts = 0, i, found = 0;

	CHECK(soft != NULL && outb != NULL);
	if (soft == NULL || outb == NULL)
		goto out;
	CHECK_EQ(tok_key_import(ctx, "gpt", "", soft), GP_ERR_INVALID);
	CHECK_EQ(tok_key_import(ctx, "gpt", "imp", soft), 0);
	CHECK_EQ(tok_key_import(ctx, "gpt", "imp", soft), GP_ERR_EXISTS);
	CHECK_EQ(tok_key_flags(ctx, "pkcs11:token=gpt;object=imp", &fl), 0);
	CHECK(fl.sensitive == 1 && fl.extractable == 0);
	/* PKCS#11 4.7: CKA_LOCAL tells generated from imported; an imported
	 * key was outside once, so never "always sensitive". */
	CHECK(fl.local == 0 && fl.always_sensitive == 0 &&
	    fl.never_extractable == 0);
	CHECK_EQ(tok_key_flags(ctx, "pkcs11:token=gpt;object=k-ec-p256", &fl),
	    0);
	CHECK(fl.local == 1 && fl.sensitive == 1 && fl.extractable == 0 &&
	    fl.always_sensitive == 1 && fl.never_extractable == 1);
	CHECK_EQ(tok_key_flags(ctx, "pkcs11:token=gpt;object=absent", &fl),
	    GP_ERR_NOT_FOUND);
	/* must fail: an EC key is not imported */
	{
		EVP_PKEY *ec = EVP_EC_gen("P-256");
		CHECK_EQ(tok_key_import(ctx, "gpt", "imp-ec", ec),
		    GP_ERR_UNSUPPORTED);
		EVP_PKEY_free(ec);
	}
	CHECK((cert = self_cert(soft, "imported")) != NULL);
	CHECK_EQ(tok_cert_write(ctx, "gpt", "imp", cert), 0);
	CHECK_EQ(tok_key_load(ctx, "pkcs11:token=gpt;object=imp", &tk), 0);
	CHECK((cms = envelope_to(cert, "sealed bid 42")) != NULL);
	if (tk == NULL || cms == NULL)
		goto out;
	CHECK_EQ(CMS_decrypt(cms, tk, cert, NULL, outb, 0), 1);
	n = BIO_get_mem_data(outb, &data);
	CHECK(n == 13 && data != NULL && memcmp(data, "sealed bid 42", 13) == 0);
	CHECK_EQ(tok_cert_list(ctx, "gpt", &certs, &ncerts), 0);
	for (i = 0; i < ncerts; i++)
		if (strcmp(certs[i].label, "imp") == 0 &&
		    X509_cmp(certs[i].cert, cert) == 0)
			found++;
	CHECK_EQ(found, 1);
	tok_cert_list_free(certs, ncerts);
	certs = NULL;
	EVP_PKEY_free(tk);
	tk = NULL;
	/* Deleting removes key, public key and certificate. */
	CHECK_EQ(tok_key_delete(ctx, "gpt", "imp"), 0);
	CHECK_EQ(tok_key_flags(ctx, "pkcs11:token=gpt;object=imp", &fl),
	    GP_ERR_NOT_FOUND);
	{
		X509 *gone = NULL;
		CHECK_EQ(tok_cert_read(ctx, "pkcs11:token=gpt;object=imp",
		    &gone), GP_ERR_NOT_FOUND);
		X509_free(gone);
	}
	CHECK_EQ(tok_key_delete(ctx, "gpt", "imp"), 0);
out:
	tok_cert_list_free(certs, ncerts);
	CMS_ContentInfo_free(cms);
	BIO_free(outb);
	EVP_PKEY_free(tk);
	EVP_PKEY_free(soft);
	X509_free(cert);
}

/* The security officer resets a user PIN (C_InitPIN), on a token no user
 * of this process is logged in to. */
static void
test_init_pin(void)
{
	CHECK_EQ(tok_init_token(ctx, "gpt3", SO_PIN, USER_PIN), 0);
	/* must fail: a wrong SO PIN, an empty new PIN, no such token */
	CHECK_EQ(tok_init_pin(ctx, "gpt3", WRONG_PIN, "reset-1"),
	    GP_ERR_PIN_INCORRECT);
	CHECK(strstr(gp_err_detail(), WRONG_PIN) == NULL);
	CHECK_EQ(tok_init_pin(ctx, "gpt3", SO_PIN, ""), GP_ERR_INVALID);
	CHECK_EQ(tok_init_pin(ctx, "absent", SO_PIN, "x"), GP_ERR_TOKEN_ABSENT);
	CHECK_EQ(tok_init_pin(ctx, "gpt3", SO_PIN, "reset-1"), 0);
	CHECK_EQ(tok_login(ctx, "gpt3", USER_PIN), GP_ERR_PIN_INCORRECT);
	CHECK_EQ(tok_login(ctx, "gpt3", "reset-1"), 0);
}

/* A context freed and made again (as `govpki init` then `serve` do in one
 * process) sees the same token and keys. */
static void
test_ctx_reopen(void)
{
	EVP_PKEY *priv = NULL, *pub = NULL;
	const char *uri = "pkcs11:token=gpt;object=k-ec-p256";
	tok_ctx *second = NULL;

	/* A second context on the same module would log the first out. */
	CHECK_EQ(tok_ctx_new(GP_SOFTHSM_MODULE, &second), GP_ERR_BUSY);
	CHECK(second == NULL);
	tok_ctx_free(ctx);
	ctx = NULL;
	CHECK_EQ(tok_ctx_new(GP_SOFTHSM_MODULE, &ctx), 0);
	if (ctx == NULL)
		return;
	CHECK_EQ(tok_key_load(ctx, uri, &priv), GP_ERR_LOGIN_REQUIRED);
	CHECK_EQ(tok_login(ctx, "gpt", USER_PIN), 0);
	CHECK_EQ(tok_key_load(ctx, uri, &priv), 0);
	CHECK_EQ(tok_pubkey_load(ctx, uri, &pub), 0);
	CHECK(priv != NULL && pub != NULL && sign_verify(priv, pub, "again"));
	EVP_PKEY_free(priv);
	EVP_PKEY_free(pub);
}

int
main(void)
{
	int ok;

	ok = setup_store() == 0;
	if (ok)
		ok = tok_ctx_new(GP_SOFTHSM_MODULE, &ctx) == 0;
	if (ok)
		ok = tok_init_token(ctx, "gpt", SO_PIN, USER_PIN) == 0 &&
		    tok_init_token(ctx, "gpt2", SO_PIN, USER_PIN) == 0 &&
		    tok_login(ctx, "gpt", USER_PIN) == 0;
	if (!ok)
		fprintf(stderr, "fixture: %s\n", gp_err_detail());

	RUN(test_uri_good);
	RUN(test_uri_bad);
	RUN(test_algo);
	RUN(test_pin_sources);
	RUN(test_module_errors);
	if (ok) {
		RUN(test_init_list);
		RUN(test_login_errors);
		RUN(test_keygen_needs_login);
		RUN(test_keygen_all);
		RUN(test_key_load_errors);
		RUN(test_key_after_keygen);
		RUN(test_concurrent_sign);
		RUN(test_cert_roundtrip);
		RUN(test_csr);
		RUN(test_probe);
		RUN(test_change_pin);
		RUN(test_wrap);
		RUN(test_import);
		RUN(test_init_pin);
		RUN(test_ctx_reopen);
	} else {
		test_failed++;
		printf("not ok - softhsm fixture\n");
	}
	RUN(test_file_key);
	tok_ctx_free(ctx);
	if (tmpdir[0] != '\0')
		nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return test_done("tokens");
}
