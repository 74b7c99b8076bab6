/*
 * test_kmc.c: the key management centre in process, over a throwaway
 * SoftHSM token (its storage key) with software CA keys and a temporary
 * store: dual issuance (the signing certificate from the holder's request,
 * the encryption twin for a key pair the token generated: keyEncipherment,
 * never digitalSignature), the pair and the escrowed key in the store, the
 * private key absent from every byte of the database files, the holder's
 * key history, revocation of one certificate revoking both (history and
 * records), and must-fail cases: a tampered request (nothing issued, the
 * failure recorded), a profile without a twin, an enrolment code used
 * twice or expired (nothing issued the second time), a changed or swapped
 * wrapped key, a storage key that is missing; the profile loader's checks
 * of a twin. Enrolment codes (only their hash stored, found whatever
 * their dashes and case, refused once used or expired), releases to the
 * holder as RFC 7030 4.4.2 key packages that the transport key opens and
 * the seal signs (refused for an EC transport key, a tampered request, a
 * revoked or unpaired certificate), the history after a loss, renewal
 * (refused for another subject).
 */
#include <ctype.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#include "kmc/kmc.h"
#include "tests/test.h"

#ifndef GP_SOFTHSM_MODULE
#define GP_SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#endif

#define SO_PIN "so-kmc-4321"
#define USER_PIN "us-kmc-1234"
#define ENT_SUBJECT "{\"organization\":\"福州市某某科技有限公司\"," \
	"\"uscc\":\"91350100M000100Y43\"}"
#define CIT_SUBJECT "{\"name\":\"张三\",\"id_number\":\"11010519491231002X\"}"
#define CIT2_SUBJECT "{\"name\":\"李四\",\"id_number\":\"110105198001010016\"}"

static char tdir[64];

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A software root and issuing CA, a store and an audit in tdir, and the
 * KMC over a token "kmc" with its storage key. */
struct fx {
	struct gp_config *cfg;
	struct ca_profiles *ps;
	store *st;
	audit *a;
	EVP_PKEY *key[2];
	X509 *cert[2];
	struct ca_ctx ca;
	tok_ctx *tok;
	kmc *k;
	EVP_PKEY *seal_key;
	X509 *seal_cert;
	STACK_OF(X509) *seal_chain;
};

static struct fx f;

static int
fx_ca(int idx, const char *cn, int issuer)
{
	struct ca_cert_spec spec;
	X509_NAME *n = NULL;
	char *serial = NULL, text[64];
	int r;

	f.key[idx] = EVP_EC_gen("P-256");
	snprintf(text, sizeof(text), "/CN=%s/O=test", cn);
	if (f.key[idx] == NULL || ca_name_parse(text, &n) != 0)
		return -1;
	memset(&spec, 0, sizeof(spec));
	spec.subject = n;
	spec.pubkey = f.key[idx];
	spec.issuer_cert = issuer >= 0 ? f.cert[issuer] : NULL;
	spec.issuer_key = f.key[issuer >= 0 ? issuer : idx];
	spec.not_before = time(NULL) - 3600;
	spec.not_after = time(NULL) + 5 * 365 * 86400;
	spec.is_ca = 1;
	spec.path_len = issuer >= 0 ? 0 : 1;
	spec.key_usage = "critical,keyCertSign,cRLSign";
	r = ca_cert_sign(&spec, &f.cert[idx], &serial);
	X509_NAME_free(n);
	free(serial);
	return r;
}

/* The KMC's seal: a document-signing key certified by the issuing CA. */
static int
fx_seal(void)
{
	struct ca_cert_spec spec;
	X509_NAME *n = NULL;
	char *serial = NULL;
	int r;

	if ((f.seal_key = EVP_EC_gen("P-256")) == NULL ||
	    ca_name_parse("/CN=KMC seal/O=test", &n) != 0)
		return -1;
	memset(&spec, 0, sizeof(spec));
	spec.subject = n;
	spec.pubkey = f.seal_key;
	spec.issuer_cert = f.cert[1];
	spec.issuer_key = f.key[1];
	spec.not_before = time(NULL) - 60;
	spec.not_after = time(NULL) + 86400;
	spec.path_len = -1;
	spec.key_usage = "critical,digitalSignature,nonRepudiation";
	r = ca_cert_sign(&spec, &f.seal_cert, &serial);
	X509_NAME_free(n);
	free(serial);
	if (r != 0 || (f.seal_chain = sk_X509_new_null()) == NULL ||
	    X509_up_ref(f.cert[1]) != 1 ||
	    sk_X509_push(f.seal_chain, f.cert[1]) <= 0)
		return -1;
	return 0;
}

static int
fx_open(void)
{
	char path[256], conf[512];
	FILE *fp;
	struct kmc_conf kc;

	snprintf(tdir, sizeof(tdir), "/tmp/govpki-kmc.XXXXXX");
	if (mkdtemp(tdir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/tokens", tdir);
	if (mkdir(path, 0700) != 0)
		return -1;
	snprintf(conf, sizeof(conf), "directories.tokendir = %s\n"
	    "objectstore.backend = file\nlog.level = ERROR\n", path);
	snprintf(path, sizeof(path), "%s/softhsm2.conf", tdir);
	if ((fp = fopen(path, "w")) == NULL)
		return -1;
	fputs(conf, fp);
	fclose(fp);
	setenv("SOFTHSM2_CONF", path, 1);
	if (tok_ctx_new(GP_SOFTHSM_MODULE, &f.tok) != 0 ||
	    tok_init_token(f.tok, "kmc", SO_PIN, USER_PIN) != 0 ||
	    tok_login(f.tok, "kmc", USER_PIN) != 0)
		return -1;
	if (gp_config_defaults(tdir, &f.cfg) != 0)
		return -1;
	free(f.cfg->profiles_dir);
	f.cfg->profiles_dir = strdup(GP_POLICIES_DIR);
	snprintf(path, sizeof(path), "%s/t.db", tdir);
	if (ca_profiles_load(f.cfg, &f.ps) != 0 ||
	    store_open(path, 1, &f.st) != 0 || audit_new(f.st, &f.a) != 0 ||
	    fx_ca(0, "Root", -1) != 0 || fx_ca(1, "CA", 0) != 0)
		return -1;
	f.ca.cfg = f.cfg;
	f.ca.profiles = f.ps;
	f.ca.st = f.st;
	f.ca.audit = f.a;
	f.ca.cert[GP_KEY_ROOT] = f.cert[0];
	f.ca.cert[GP_KEY_CA] = f.cert[1];
	f.ca.key[GP_KEY_ROOT] = f.key[0];
	f.ca.key[GP_KEY_CA] = f.key[1];
	if (fx_seal() != 0)
		return -1;
	memset(&kc, 0, sizeof(kc));
	kc.ca = &f.ca;
	kc.tok = f.tok;
	kc.token = "kmc";
	kc.seal_key = f.seal_key;
	kc.seal_cert = f.seal_cert;
	kc.seal_chain = f.seal_chain;
	/* must fail: no storage key yet */
	if (kmc_new(&kc, &f.k) != GP_ERR_NOT_FOUND || f.k != NULL)
		return -1;
	if (kmc_storage_key_create(f.tok, "kmc", NULL) != 0 ||
	    kmc_storage_key_create(f.tok, "kmc", NULL) != GP_ERR_EXISTS ||
	    kmc_new(&kc, &f.k) != 0)
		return -1;
	return 0;
}

static void
fx_close(void)
{
	kmc_free(f.k);
	audit_free(f.a);
	store_free(f.st);
	ca_profiles_free(f.ps);
	gp_config_free(f.cfg);
	EVP_PKEY_free(f.key[0]);
	EVP_PKEY_free(f.key[1]);
	X509_free(f.cert[0]);
	X509_free(f.cert[1]);
	EVP_PKEY_free(f.seal_key);
	X509_free(f.seal_cert);
	sk_X509_pop_free(f.seal_chain, X509_free);
	tok_ctx_free(f.tok);
}

static char *
csr_pem(EVP_PKEY *key)
{
	X509_REQ *req = X509_REQ_new();
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s = NULL;
	long n;

	if (req != NULL && bio != NULL && X509_REQ_set_pubkey(req, key) &&
	    X509_REQ_sign(req, key, EVP_sha256()) > 0 &&
	    PEM_write_bio_X509_REQ(bio, req) &&
	    (n = BIO_get_mem_data(bio, &data)) > 0)
		s = strndup(data, (size_t)n);
	BIO_free(bio);
	X509_REQ_free(req);
	return s;
}

static struct ca_person holder_person = {"enrol:test", ""};
static struct ca_actor holder = {"enrolment:test", "holder", &holder_person,
    NULL, NULL};
static struct ca_person officer_person = {"dn:cn=officer1", ""};
static struct ca_actor officer = {"CN=officer1,serial=1", "officer",
    &officer_person, NULL, NULL};

static int
enroll(const char *profile, const char *subject, const char *csr,
    const char *enrolment_id, struct kmc_enroll_result *res)
{
	struct kmc_enroll_req req;
	json_t *s = json_loads(subject, 0, NULL);
	int r;

	memset(&req, 0, sizeof(req));
	req.op = "kmc.test";
	req.profile = profile;
	req.subject = s;
	req.csr_pem = csr;
	req.csr_len = csr != NULL ? strlen(csr) : 0;
	req.enrolment_id = enrolment_id;
	r = kmc_enroll(f.k, &holder, &req, res);
	json_decref(s);
	return r;
}

static X509 *
der_cert(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;

	return d2i_X509(NULL, &p, (long)len);
}

static int64_t
cert_count(void)
{
	int64_t n = -1;

	if (store_cert_count(f.st, &n) != 0)
		return -1;
	return n;
}

/* The last record's op, outcome and details. */
#define last_record(op, outcome, details, len) \
	last_record_(op, outcome, details, sizeof(details))
static void
last_record_(char *op, char *outcome, char *details, size_t len)
{
	int64_t seq = 0;
	uint8_t h[32];
	struct store_audit_row row;

	op[0] = outcome[0] = details[0] = '\0';
	memset(&row, 0, sizeof(row));
	if (store_audit_head(f.st, &seq, h) != 0 ||
	    store_audit_get(f.st, seq, &row) != 0)
		return;
	snprintf(op, 64, "%s", row.op ? row.op : "");
	snprintf(outcome, 64, "%s", row.outcome ? row.outcome : "");
	snprintf(details, len, "%s", row.details ? row.details : "");
	store_audit_row_clear(&row);
}

/* 1 when the |len| bytes of |needle| occur in the file |path|. */
static int
file_has(const char *path, const unsigned char *needle, size_t len)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *buf;
	long n;
	int found = 0;

	if (fp == NULL)
		return 0;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	if (n > 0 && (buf = malloc((size_t)n)) != NULL) {
		if (fread(buf, 1, (size_t)n, fp) == (size_t)n)
			found = memmem(buf, (size_t)n, needle, len) != NULL;
		free(buf);
	}
	fclose(fp);
	return found;
}

/* 1 when any byte string of |key|'s private parts (its PKCS#8 DER, d, p,
 * q) is in the database or its write-ahead log: the must-not of escrow. */
static int
db_has_private(EVP_PKEY *key)
{
	static const char *const parts[] = {OSSL_PKEY_PARAM_RSA_D,
	    OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2};
	unsigned char *der = NULL, bin[512];
	char db[128], wal[128];
	BIGNUM *bn = NULL;
	size_t i;
	int len, found = 0;

	snprintf(db, sizeof(db), "%s/t.db", tdir);
	snprintf(wal, sizeof(wal), "%s/t.db-wal", tdir);
	if ((len = i2d_PrivateKey(key, &der)) > 0)
		found |= file_has(db, der, (size_t)len) |
		    file_has(wal, der, (size_t)len);
	OPENSSL_free(der);
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		if (EVP_PKEY_get_bn_param(key, parts[i], &bn) != 1)
			return -1;
		len = BN_bn2bin(bn, bin);
		/* 32 bytes of a secret are as good as all of it. */
		found |= file_has(db, bin + len / 2, 32) |
		    file_has(wal, bin + len / 2, 32);
		BN_clear_free(bn);
		bn = NULL;
	}
	return found;
}

static int
has_ku(X509 *x, uint32_t bit)
{
	return (X509_get_key_usage(x) & bit) != 0;
}

static char first_sign[68], first_enc[68];

static void
test_dual_issue(void)
{
	EVP_PKEY *hk = EVP_EC_gen("P-256"), *priv = NULL;
	char *csr = csr_pem(hk);
	struct kmc_enroll_result res;
	struct store_pair pair;
	struct store_kmc_key key;
	X509 *sc = NULL, *ec = NULL;
	X509_STORE *xs = X509_STORE_new();
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509_STORE_CTX *vc = X509_STORE_CTX_new();
	char op[64], outcome[64], details[4096];

	memset(&pair, 0, sizeof(pair));
	memset(&key, 0, sizeof(key));
	CHECK(csr != NULL && xs != NULL && chain != NULL && vc != NULL);
	CHECK_EQ(enroll("enterprise", ENT_SUBJECT, csr, NULL, &res), 0);
	CHECK((sc = der_cert(res.sign_der, res.sign_der_len)) != NULL);
	CHECK((ec = der_cert(res.enc_der, res.enc_der_len)) != NULL);
	CHECK_STR(res.holder, "uscc:91350100M000100Y43");
	if (sc == NULL || ec == NULL)
		goto out;
	snprintf(first_sign, sizeof(first_sign), "%s", res.sign_serial);
	snprintf(first_enc, sizeof(first_enc), "%s", res.enc_serial);
	/* The signing certificate is the holder's key; the twin is not. */
	CHECK(EVP_PKEY_eq(X509_get0_pubkey(sc), hk) == 1);
	CHECK(EVP_PKEY_eq(X509_get0_pubkey(ec), hk) != 1);
	CHECK_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(ec)), EVP_PKEY_RSA);
	/* GM/T 0034: the encryption certificate never signs. */
	CHECK(has_ku(ec, KU_KEY_ENCIPHERMENT));
	CHECK(!has_ku(ec, KU_DIGITAL_SIGNATURE) &&
	    !has_ku(ec, KU_NON_REPUDIATION));
	CHECK(has_ku(sc, KU_DIGITAL_SIGNATURE));
	CHECK_EQ(X509_NAME_cmp(X509_get_subject_name(sc),
	    X509_get_subject_name(ec)), 0);
	/* Both chain to the root. */
	X509_STORE_add_cert(xs, f.cert[0]);
	sk_X509_push(chain, f.cert[1]);
	CHECK(X509_STORE_CTX_init(vc, xs, sc, chain) == 1 &&
	    X509_verify_cert(vc) == 1);
	X509_STORE_CTX_cleanup(vc);
	CHECK(X509_STORE_CTX_init(vc, xs, ec, chain) == 1 &&
	    X509_verify_cert(vc) == 1);
	/* Linked in the store, either way round; the key escrowed. */
	CHECK_EQ(store_pair_get(f.st, res.enc_serial, &pair), 0);
	CHECK_STR(pair.signing, res.sign_serial);
	CHECK_STR(pair.encryption, res.enc_serial);
	CHECK_STR(pair.profile, "enterprise");
	CHECK_EQ(store_kmc_key_get(f.st, res.enc_serial, &key), 0);
	CHECK_STR(key.holder, "uscc:91350100M000100Y43");
	CHECK_STR(key.wrap_key, KMC_WRAP_LABEL);
	store_kmc_key_clear(&key);
	CHECK_EQ(store_kmc_key_get(f.st, res.sign_serial, &key),
	    GP_ERR_NOT_FOUND);
	/* The KMC can give the private key back (unwrapped in memory)... */
	CHECK_EQ(kmc_key_unwrap(f.k, res.enc_serial, &priv), 0);
	CHECK(priv != NULL && EVP_PKEY_eq(priv, X509_get0_pubkey(ec)) == 1);
	/* ...but no byte of it is in the database or its log. */
	if (priv != NULL)
		CHECK_EQ(db_has_private(priv), 0);
	last_record(op, outcome, details, sizeof(op));
	CHECK_STR(op, "kmc.test");
	CHECK_STR(outcome, "success");
	CHECK_CONTAINS(details, res.enc_serial);
out:
	kmc_enroll_result_clear(&res);
	store_pair_clear(&pair);
	store_kmc_key_clear(&key);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(hk);
	X509_free(sc);
	X509_free(ec);
	X509_STORE_CTX_free(vc);
	sk_X509_free(chain);
	X509_STORE_free(xs);
	free(csr);
}

/* The positive control of db_has_private(): the check finds a key that
 * is there. */
static void
test_bytes_check_finds(void)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);
	unsigned char *der = NULL;
	char path[128];
	FILE *fp;
	int len;

	snprintf(path, sizeof(path), "%s/t.db-wal", tdir);
	CHECK(k != NULL && (len = i2d_PrivateKey(k, &der)) > 0);
	if (k == NULL || der == NULL)
		return;
	/* Appended past the log's end: SQLite ignores it. */
	CHECK((fp = fopen(path, "ab")) != NULL);
	if (fp != NULL) {
		fwrite(der, 1, (size_t)len, fp);
		fclose(fp);
	}
	CHECK_EQ(db_has_private(k), 1);
	OPENSSL_free(der);
	EVP_PKEY_free(k);
}

/* A citizen's pair, and the holder's history of keys. */
static void
test_citizen_and_history(void)
{
	EVP_PKEY *hk = EVP_EC_gen("P-256");
	char *csr = csr_pem(hk);
	struct kmc_enroll_result res;
	struct store_kmc_key *keys = NULL;
	size_t n = 0;

	CHECK_EQ(enroll("citizen", CIT_SUBJECT, csr, NULL, &res), 0);
	/* The ID number is not in the holder's identity, its hash is. */
	CHECK(strncmp(res.holder, "idn:", 4) == 0 && strlen(res.holder) == 68);
	CHECK(strstr(res.holder, "11010519491231002X") == NULL);
	kmc_enroll_result_clear(&res);
	CHECK_EQ(enroll("enterprise", ENT_SUBJECT, csr, NULL, &res), 0);
	CHECK_EQ(store_kmc_key_list(f.st, "uscc:91350100M000100Y43", &keys,
	    &n), 0);
	CHECK_EQ(n, 2);
	if (n == 2) {
		CHECK_STR(keys[0].serial, first_enc);
		CHECK_STR(keys[1].serial, res.enc_serial);
	}
	store_kmc_key_list_free(keys, n);
	kmc_enroll_result_clear(&res);
	EVP_PKEY_free(hk);
	free(csr);
}

/* Revoking the signing certificate (a lost USB key) revokes its twin, each
 * with its history event and record. */
static void
test_revoke_pair(void)
{
	struct store_cert_state cs;
	struct ca_status_at at;
	char op[64], outcome[64], details[4096];

	CHECK_EQ(ca_revoke(&f.ca, &officer, first_sign, 1, 0), 0);
	CHECK_EQ(store_cert_state_get(f.st, first_enc, &cs), 0);
	CHECK_STR(cs.status, "revoked");
	CHECK_EQ(cs.reason, 1);
	CHECK_EQ(ca_status_at(f.st, first_enc, time(NULL) + 1, &at),
	    GP_ERR_CONFLICT);
	CHECK_EQ(at.events, 1);
	last_record(op, outcome, details, sizeof(op));
	CHECK_STR(op, "cert.revoke");
	CHECK_CONTAINS(details, first_sign);
	/* Again: already revoked, for either. */
	CHECK_EQ(ca_revoke(&f.ca, &officer, first_enc, 1, 0), GP_ERR_CONFLICT);
}

/* must fail: a request whose signature does not verify, a profile without
 * a twin, a subject outside the profile; nothing is issued, the refusal
 * is recorded. */
static void
test_refusals(void)
{
	EVP_PKEY *hk = EVP_EC_gen("P-256");
	char *csr = csr_pem(hk), *p;
	struct kmc_enroll_result res;
	char op[64], outcome[64], details[4096];
	int64_t before = cert_count();

	/* One character of the signature changed. */
	p = csr != NULL ? strstr(csr, "-----END") : NULL;
	CHECK(p != NULL && p - csr > 10);
	if (p == NULL)
		goto out;
	p[-6] = p[-6] == 'A' ? 'B' : 'A';
	CHECK_EQ(enroll("enterprise", ENT_SUBJECT, csr, NULL, &res),
	    GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "csr");
	CHECK_EQ(cert_count(), before);
	last_record(op, outcome, details, sizeof(op));
	CHECK_STR(op, "kmc.test");
	CHECK_STR(outcome, "failure");
	p[-6] = p[-6] == 'A' ? 'B' : 'A';
	CHECK_EQ(enroll("tls-server", "{\"name\":\"a.example\"}", csr, NULL,
	    &res), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "no encryption twin");
	CHECK_EQ(enroll("enterprise", "{\"organization\":\"x\","
	    "\"uscc\":\"91350100M000100Y44\"}", csr, NULL, &res),
	    GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "subject.uscc");
	CHECK_EQ(cert_count(), before);
out:
	EVP_PKEY_free(hk);
	free(csr);
}

static int
add_enrolment(const char *id, int64_t expires_ms)
{
	struct store_enrolment e;
	int r;

	memset(&e, 0, sizeof(e));
	e.id = (char *)id;
	memset(e.code_sha256, id[0], 32);
	e.profile = (char *)"enterprise";
	e.subject = (char *)ENT_SUBJECT;
	e.holder = (char *)"uscc:91350100M000100Y43";
	e.created_by = (char *)"test";
	e.created_ms = gp_now_ms();
	e.expires_ms = expires_ms;
	if ((r = store_begin(f.st)) != 0)
		return r;
	if ((r = store_enrolment_insert(f.st, &e)) != 0) {
		store_rollback(f.st);
		return r;
	}
	return store_commit(f.st);
}

/* An enrolment code is used up with the certificates, once; an expired
 * one issues nothing. */
static void
test_code_once(void)
{
	EVP_PKEY *hk = EVP_EC_gen("P-256");
	char *csr = csr_pem(hk);
	struct kmc_enroll_result res;
	struct store_enrolment e;
	char op[64], outcome[64], details[4096];
	int64_t before;

	memset(&e, 0, sizeof(e));
	CHECK_EQ(add_enrolment("a-once", gp_now_ms() + 60000), 0);
	CHECK_EQ(add_enrolment("b-expired", gp_now_ms() - 1), 0);
	CHECK_EQ(enroll("enterprise", ENT_SUBJECT, csr, "a-once", &res), 0);
	CHECK_EQ(store_enrolment_get(f.st, "a-once", &e), 0);
	CHECK_STR(e.status, "used");
	CHECK_STR(e.serial, res.sign_serial);
	store_enrolment_clear(&e);
	kmc_enroll_result_clear(&res);
	before = cert_count();
	/* must fail: the same code again, an expired code */
	CHECK_EQ(enroll("enterprise", ENT_SUBJECT, csr, "a-once", &res),
	    GP_ERR_CONFLICT);
	CHECK_CONTAINS(gp_err_detail(), "used already or has expired");
	CHECK_EQ(cert_count(), before);
	last_record(op, outcome, details, sizeof(op));
	CHECK_STR(op, "kmc.test");
	CHECK_STR(outcome, "failure");
	CHECK_EQ(enroll("enterprise", ENT_SUBJECT, csr, "b-expired", &res),
	    GP_ERR_CONFLICT);
	CHECK_EQ(cert_count(), before);
	CHECK_EQ(store_enrolment_get(f.st, "b-expired", &e), 0);
	CHECK_STR(e.status, "open");
	store_enrolment_clear(&e);
	EVP_PKEY_free(hk);
	free(csr);
}

/* An editor of the database file changes a wrapped key, or swaps two:
 * neither is released as the certificate's key. */
static void
test_wrapped_tampered(void)
{
	struct kmc_enroll_result r1, r2;
	EVP_PKEY *hk = EVP_EC_gen("P-256"), *priv = NULL;
	char *csr = csr_pem(hk), db[128], sql[512];
	sqlite3 *h = NULL;

	CHECK_EQ(enroll("enterprise", ENT_SUBJECT, csr, NULL, &r1), 0);
	CHECK_EQ(enroll("enterprise", ENT_SUBJECT, csr, NULL, &r2), 0);
	snprintf(db, sizeof(db), "%s/t.db", tdir);
	CHECK_EQ(sqlite3_open(db, &h), SQLITE_OK);
	/* The table refuses changes; the editor drops the guard first. */
	snprintf(sql, sizeof(sql), "UPDATE kmc_keys SET wrapped = x'00' "
	    "WHERE serial = '%s'", r1.enc_serial);
	CHECK(sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK);
	CHECK_EQ(sqlite3_exec(h, "DROP TRIGGER kmc_keys_no_update", NULL,
	    NULL, NULL), SQLITE_OK);
	snprintf(sql, sizeof(sql), "UPDATE kmc_keys SET wrapped = "
	    "(SELECT wrapped FROM kmc_keys WHERE serial = '%s') WHERE serial = "
	    "'%s'", r2.enc_serial, r1.enc_serial);
	CHECK_EQ(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	CHECK_EQ(kmc_key_unwrap(f.k, r1.enc_serial, &priv), GP_ERR_TAMPERED);
	CHECK(priv == NULL);
	snprintf(sql, sizeof(sql), "UPDATE kmc_keys SET wrapped = "
	    "substr(wrapped, 1, 40) || x'00' || substr(wrapped, 42) WHERE "
	    "serial = '%s'", r2.enc_serial);
	CHECK_EQ(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	CHECK_EQ(kmc_key_unwrap(f.k, r2.enc_serial, &priv), GP_ERR_TAMPERED);
	CHECK(priv == NULL);
	CHECK_EQ(kmc_key_unwrap(f.k, "abcdef", &priv), GP_ERR_NOT_FOUND);
	sqlite3_close(h);
	kmc_enroll_result_clear(&r1);
	kmc_enroll_result_clear(&r2);
	EVP_PKEY_free(hk);
	free(csr);
}

/* The loader's checks of a twin: a signing key usage, a missing field. */
static void
test_twin_profiles(void)
{
	static const char *const files[] = {"enterprise.json",
	    "enterprise-encryption.json", NULL};
	char dir[128], src[256], dst[256], cmd[1024];
	struct gp_config *cfg = NULL;
	struct ca_profiles *ps = NULL;
	size_t i;

	snprintf(dir, sizeof(dir), "%s/pol", tdir);
	CHECK_EQ(mkdir(dir, 0700), 0);
	for (i = 0; files[i] != NULL; i++) {
		snprintf(src, sizeof(src), "%s/%s", GP_POLICIES_DIR, files[i]);
		snprintf(dst, sizeof(dst), "%s/%s", dir, files[i]);
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, dst);
		CHECK_EQ(system(cmd), 0);
	}
	CHECK_EQ(gp_config_defaults(tdir, &cfg), 0);
	if (cfg == NULL)
		return;
	free(cfg->profiles_dir);
	cfg->profiles_dir = strdup(dir);
	CHECK_EQ(ca_profiles_load(cfg, &ps), 0);
	ca_profiles_free(ps);
	ps = NULL;
	snprintf(cmd, sizeof(cmd), "sed -i 's/\"keyEncipherment\"/"
	    "\"keyEncipherment\", \"digitalSignature\"/' "
	    "%s/enterprise-encryption.json", dir);
	CHECK_EQ(system(cmd), 0);
	CHECK_EQ(ca_profiles_load(cfg, &ps), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "enterprise.json: encryption_twin: "
	    "the twin's key_usage");
	snprintf(cmd, sizeof(cmd), "cp '%s/enterprise-encryption.json' '%s/' "
	    "&& sed -i 's/\"field\": \"uscc\"/\"field\": \"ucc\"/' "
	    "%s/enterprise-encryption.json",
	    GP_POLICIES_DIR, dir, dir);
	CHECK_EQ(system(cmd), 0);
	CHECK_EQ(ca_profiles_load(cfg, &ps), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "lacks a subject field");
	snprintf(cmd, sizeof(cmd), "sed -i 's/\"enterprise-encryption\"/"
	    "\"nowhere\"/' %s/enterprise.json", dir);
	CHECK_EQ(system(cmd), 0);
	CHECK_EQ(ca_profiles_load(cfg, &ps), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "must name another profile");
	ca_profiles_free(ps);
	gp_config_free(cfg);
}


/* Officer-created codes: only the hash is kept; the code finds its
 * enrolment whatever its dashes and case; refusals name the field. */
static void
test_codes(void)
{
	struct kmc_code c;
	struct store_enrolment e;
	json_t *subj = json_loads(ENT_SUBJECT, 0, NULL);
	json_t *bad = json_loads("{\"organization\":\"x\","
	    "\"uscc\":\"91350100M000100Y44\"}", 0, NULL);
	json_t *tls = json_loads("{\"name\":\"a.example\"}", 0, NULL);
	char lower[40], db[128];
	size_t i, o = 0;

	memset(&e, 0, sizeof(e));
	CHECK_EQ(kmc_enrol_create(f.k, &officer, "enterprise", subj, 0, &c), 0);
	CHECK_EQ(strlen(c.code), 29);
	CHECK(c.expires_ms > gp_now_ms() + KMC_CODE_VALID_S * 1000LL - 60000);
	/* The code is not in the database, in any form. */
	snprintf(db, sizeof(db), "%s/t.db", tdir);
	CHECK(!file_has(db, (const unsigned char *)c.code, strlen(c.code)));
	snprintf(db, sizeof(db), "%s/t.db-wal", tdir);
	CHECK(!file_has(db, (const unsigned char *)c.code, strlen(c.code)));
	/* Found without dashes, in lower case. */
	for (i = 0; c.code[i] != '\0'; i++)
		if (c.code[i] != '-')
			lower[o++] = (char)tolower((unsigned char)c.code[i]);
	lower[o] = '\0';
	CHECK_EQ(kmc_enrol_find(f.k, lower, &e), 0);
	CHECK_STR(e.id, c.id);
	CHECK_STR(e.profile, "enterprise");
	store_enrolment_clear(&e);
	/* must fail: an unknown code, not a code at all */
	lower[0] = lower[0] == '0' ? '1' : '0';
	CHECK_EQ(kmc_enrol_find(f.k, lower, &e), GP_ERR_UNAUTHENTICATED);
	CHECK_CONTAINS(gp_err_detail(), "not one this CA gave out");
	store_enrolment_clear(&e);
	CHECK_EQ(kmc_enrol_find(f.k, "hello", &e), GP_ERR_UNAUTHENTICATED);
	store_enrolment_clear(&e);
	/* must fail: a subject outside the profile, a profile without a
	 * twin, a validity out of range */
	CHECK_EQ(kmc_enrol_create(f.k, &officer, "enterprise", bad, 0, &c),
	    GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "subject.uscc");
	CHECK_EQ(kmc_enrol_create(f.k, &officer, "tls-server", tls, 0, &c),
	    GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "no encryption twin");
	CHECK_EQ(kmc_enrol_create(f.k, &officer, "enterprise", subj,
	    KMC_CODE_MAX_VALID_S + 1, &c), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "valid_s");
	store_enrolment_clear(&e);
	json_decref(subj);
	json_decref(bad);
	json_decref(tls);
}

/* A transport key's request (PEM) signed by |k|. */
static char *
transport_csr(EVP_PKEY *k)
{
	return csr_pem(k);
}

/* Opens a released key package with |transport| and checks its signer
 * (the seal, under the root) and that it holds the private key of
 * |cert_der|. 1 when all holds. */
static int
open_keypkg(const struct kmc_released *rel, EVP_PKEY *transport)
{
	const unsigned char *p = rel->env;
	CMS_ContentInfo *env = NULL, *sd = NULL;
	BIO *plain = BIO_new(BIO_s_mem()), *akp = BIO_new(BIO_s_mem());
	X509_STORE *xs = X509_STORE_new();
	X509 *cert = NULL;
	EVP_PKEY *got = NULL;
	char *data, oid[64];
	long n;
	int ok = 0;

	if (plain == NULL || akp == NULL || xs == NULL ||
	    (env = d2i_CMS_ContentInfo(NULL, &p, (long)rel->env_len)) == NULL ||
	    OBJ_obj2nid(CMS_get0_type(env)) != NID_pkcs7_enveloped ||
	    CMS_decrypt(env, transport, NULL, NULL, plain, 0) != 1)
		goto out;
	n = BIO_get_mem_data(plain, &data);
	p = (const unsigned char *)data;
	X509_STORE_add_cert(xs, f.cert[0]);
	if ((sd = d2i_CMS_ContentInfo(NULL, &p, n)) == NULL ||
	    CMS_verify(sd, NULL, xs, NULL, akp, CMS_BINARY) != 1 ||
	    OBJ_obj2txt(oid, sizeof(oid), CMS_get0_eContentType(sd), 1) <= 0 ||
	    strcmp(oid, "2.16.840.1.101.2.1.2.78.5") != 0)
		goto out;
	n = BIO_get_mem_data(akp, &data);
	/* SEQUENCE { PrivateKeyInfo }: skip the outer header. */
	p = (const unsigned char *)data + (((unsigned char)data[1] & 0x80) ?
	    2 + ((unsigned char)data[1] & 0x7f) : 2);
	got = d2i_AutoPrivateKey(NULL, &p, n);
	p = rel->cert;
	cert = d2i_X509(NULL, &p, (long)rel->cert_len);
	ok = got != NULL && cert != NULL &&
	    EVP_PKEY_eq(got, X509_get0_pubkey(cert)) == 1 &&
	    X509_check_issued(f.cert[1], cert) == X509_V_OK;
out:
	EVP_PKEY_free(got);
	X509_free(cert);
	X509_STORE_free(xs);
	BIO_free(plain);
	BIO_free(akp);
	CMS_ContentInfo_free(env);
	CMS_ContentInfo_free(sd);
	return ok;
}

/* serverkeygen: the pair's key, enveloped to a transport key the holder
 * proved it has, signed by the seal; the history after a loss; refusals. */
static void
test_release(void)
{
	EVP_PKEY *hk = EVP_EC_gen("P-256"), *tk = EVP_RSA_gen(2048);
	EVP_PKEY *ec = EVP_EC_gen("P-256"), *other = EVP_RSA_gen(2048);
	char *csr = csr_pem(hk), *tcsr = transport_csr(tk);
	char *eccsr = transport_csr(ec), *p;
	struct kmc_enroll_result r1, r2;
	struct kmc_released rel, *list = NULL;
	size_t n = 0;
	char op[64], outcome[64], details[4096];

	memset(&rel, 0, sizeof(rel));
	CHECK_EQ(enroll("citizen", CIT2_SUBJECT, csr, NULL, &r1), 0);
	CHECK_EQ(enroll("citizen", CIT2_SUBJECT, csr, NULL, &r2), 0);
	CHECK_EQ(kmc_release(f.k, &holder, r2.sign_serial, tcsr, strlen(tcsr),
	    &rel), 0);
	CHECK_STR(rel.serial, r2.enc_serial);
	CHECK(open_keypkg(&rel, tk) == 1);
	/* Only the transport key opens it. */
	CHECK(open_keypkg(&rel, other) == 0);
	last_record(op, outcome, details, sizeof(op));
	CHECK_STR(op, "kmc.key.release");
	CHECK_STR(outcome, "success");
	CHECK_CONTAINS(details, "transport_spki_sha256");
	kmc_released_clear(&rel);
	/* The holder's other key, to a new USB key. */
	CHECK_EQ(kmc_history_release(f.k, &holder, r2.sign_serial, tcsr,
	    strlen(tcsr), &list, &n), 0);
	CHECK_EQ(n, 1);
	if (n == 1) {
		CHECK_STR(list[0].serial, r1.enc_serial);
		CHECK(open_keypkg(&list[0], tk) == 1);
	}
	kmc_released_free(list, n);
	list = NULL;
	/* must fail: an EC transport key (no key transport), a request
	 * whose signature does not verify, an encryption certificate
	 * instead of a signing one, a revoked signing certificate */
	CHECK_EQ(kmc_release(f.k, &holder, r2.sign_serial, eccsr,
	    strlen(eccsr), &rel), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "transport key must be RSA");
	p = strstr(tcsr, "-----END");
	if (p != NULL) {
		p[-6] = p[-6] == 'A' ? 'B' : 'A';
		CHECK_EQ(kmc_release(f.k, &holder, r2.sign_serial, tcsr,
		    strlen(tcsr), &rel), GP_ERR_INVALID);
		CHECK_CONTAINS(gp_err_detail(), "proof of possession");
		last_record(op, outcome, details, sizeof(op));
		CHECK_STR(op, "kmc.key.release");
		CHECK_STR(outcome, "failure");
		p[-6] = p[-6] == 'A' ? 'B' : 'A';
	}
	CHECK_EQ(kmc_release(f.k, &holder, r2.enc_serial, tcsr, strlen(tcsr),
	    &rel), GP_ERR_UNAUTHENTICATED);
	CHECK_EQ(ca_revoke(&f.ca, &officer, r2.sign_serial, 1, 0), 0);
	CHECK_EQ(kmc_release(f.k, &holder, r2.sign_serial, tcsr, strlen(tcsr),
	    &rel), GP_ERR_UNAUTHENTICATED);
	CHECK_CONTAINS(gp_err_detail(), "is revoked");
	last_record(op, outcome, details, sizeof(op));
	CHECK_STR(outcome, "denied");
	CHECK(rel.env == NULL);
	kmc_enroll_result_clear(&r1);
	kmc_enroll_result_clear(&r2);
	EVP_PKEY_free(hk);
	EVP_PKEY_free(tk);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(other);
	free(csr);
	free(tcsr);
	free(eccsr);
}

/* A request with |key| and the subject of |cert_der|. */
static char *
csr_with_subject(EVP_PKEY *key, const uint8_t *cert_der, size_t len,
    const char *cn)
{
	X509 *x = der_cert(cert_der, len);
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s = NULL;
	long m;

	if (x == NULL || req == NULL || bio == NULL)
		goto out;
	if (cn != NULL && ca_name_parse(cn, &n) != 0)
		goto out;
	if (X509_REQ_set_subject_name(req, n != NULL ? n :
	    X509_get_subject_name(x)) == 1 && X509_REQ_set_pubkey(req, key) &&
	    X509_REQ_sign(req, key, EVP_sha256()) > 0 &&
	    PEM_write_bio_X509_REQ(bio, req) &&
	    (m = BIO_get_mem_data(bio, &data)) > 0)
		s = strndup(data, (size_t)m);
out:
	X509_NAME_free(n);
	BIO_free(bio);
	X509_REQ_free(req);
	X509_free(x);
	return s;
}

/* Renewal: a new pair for the same subject, the old key kept in the
 * history; refused for another subject and after revocation. */
static void
test_renew(void)
{
	EVP_PKEY *hk = EVP_EC_gen("P-256"), *nk = EVP_EC_gen("P-256");
	char *csr = csr_pem(hk), *same = NULL, *other = NULL;
	struct kmc_enroll_result r1, r2, r3;
	struct store_kmc_key *keys = NULL;
	size_t n = 0;
	int64_t before;

	memset(&r2, 0, sizeof(r2));
	memset(&r3, 0, sizeof(r3));
	CHECK_EQ(enroll("enterprise", "{\"organization\":\"某公司\","
	    "\"uscc\":\"91110000600037341L\"}", csr, NULL, &r1), 0);
	same = csr_with_subject(nk, r1.sign_der, r1.sign_der_len, NULL);
	other = csr_with_subject(nk, r1.sign_der, r1.sign_der_len,
	    "/CN=someone else");
	CHECK(same != NULL && other != NULL);
	if (same == NULL || other == NULL)
		goto out;
	before = cert_count();
	CHECK_EQ(kmc_renew(f.k, &holder, r1.sign_serial, other, strlen(other),
	    &r2), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "csr.subject");
	CHECK_EQ(cert_count(), before);
	CHECK_EQ(kmc_renew(f.k, &holder, r1.sign_serial, same, strlen(same),
	    &r2), 0);
	CHECK_EQ(cert_count(), before + 2);
	CHECK_EQ(store_kmc_key_list(f.st, "uscc:91110000600037341L", &keys,
	    &n), 0);
	CHECK_EQ(n, 2);
	store_kmc_key_list_free(keys, n);
	/* must fail: renewal once the certificate expired (its row's
	 * notAfter moved into the past: the store's view of it) */
	{
		char db[128], sql[256], *same2;
		sqlite3 *h = NULL;

		same2 = csr_with_subject(nk, r2.sign_der, r2.sign_der_len,
		    NULL);
		snprintf(db, sizeof(db), "%s/t.db", tdir);
		snprintf(sql, sizeof(sql), "UPDATE certificates SET not_after "
		    "= 1000 WHERE serial = '%s'", r2.sign_serial);
		CHECK_EQ(sqlite3_open(db, &h), SQLITE_OK);
		CHECK_EQ(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(h);
		before = cert_count();
		CHECK_EQ(kmc_renew(f.k, &holder, r2.sign_serial, same2,
		    same2 != NULL ? strlen(same2) : 0, &r3),
		    GP_ERR_UNAUTHENTICATED);
		CHECK_CONTAINS(gp_err_detail(), "outside its validity period");
		CHECK_EQ(cert_count(), before);
		free(same2);
	}
	kmc_enroll_result_clear(&r2);
	CHECK_EQ(ca_revoke(&f.ca, &officer, r1.sign_serial, 4, 0), 0);
	CHECK_EQ(kmc_renew(f.k, &holder, r1.sign_serial, same, strlen(same),
	    &r2), GP_ERR_UNAUTHENTICATED);
out:
	kmc_enroll_result_clear(&r1);
	kmc_enroll_result_clear(&r2);
	EVP_PKEY_free(hk);
	EVP_PKEY_free(nk);
	free(csr);
	free(same);
	free(other);
}


/* PEM of a self-signed certificate for |key|, |ku| its key usage (or
 * NULL for none). */
static char *
agent_pem(EVP_PKEY *key, const char *ku)
{
	struct ca_cert_spec spec;
	X509_NAME *n = NULL;
	X509 *x = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	char *serial = NULL, *data, *s = NULL;
	long m;

	if (b == NULL || ca_name_parse("/CN=recovery agent", &n) != 0)
		goto out;
	memset(&spec, 0, sizeof(spec));
	spec.subject = n;
	spec.pubkey = key;
	spec.issuer_key = key;
	spec.not_before = time(NULL) - 60;
	spec.not_after = time(NULL) + 3600;
	spec.path_len = -1;
	spec.key_usage = ku;
	if (ca_cert_sign(&spec, &x, &serial) == 0 &&
	    PEM_write_bio_X509(b, x) == 1 && (m = BIO_get_mem_data(b, &data)) > 0)
		s = strndup(data, (size_t)m);
out:
	free(serial);
	X509_free(x);
	X509_NAME_free(n);
	BIO_free(b);
	return s;
}

/* Judicial recovery: a second person approves; the agent's key opens
 * every key of the holder; the requester (any certificate of theirs)
 * cannot approve; once decided, never again; refusals of the request. */
static void
test_recovery(void)
{
	EVP_PKEY *ak = EVP_RSA_gen(2048), *ek = EVP_EC_gen("P-256");
	char *pem = agent_pem(ak, "critical,keyEncipherment");
	char *sign_only = agent_pem(ak, "critical,digitalSignature");
	char *ec = agent_pem(ek, NULL), id[33], id2[33];
	json_t *hsel = json_loads("{\"id_number\":\"110105198001010016\"}", 0,
	    NULL), *nobody = json_loads("{\"uscc\":\"91440300MA5D000002\"}", 0,
	    NULL), *bad = json_loads("{\"uscc\":\"91350100M000100Y44\"}", 0,
	    NULL), *res = NULL, *keys;
	struct ca_person same = {"dn:cn=officer1", "idn:abc"};
	struct ca_person other = {"dn:cn=officer2", ""};
	struct ca_actor who_same = {"CN=officer1 second cert,serial=9",
	    "officer", &same, NULL, NULL};
	struct ca_actor who_other = {"CN=officer2,serial=2", "officer", &other,
	    NULL, NULL};
	struct store_kmc_key *list = NULL;
	size_t n = 0, i, opened = 0;
	char op[64], outcome[64], details[8192];

	CHECK(pem != NULL && sign_only != NULL && ec != NULL);
	if (pem == NULL || sign_only == NULL || ec == NULL)
		goto out;
	/* must fail: a holder the KMC has no key of, a bad USCC, an EC
	 * agent, an
	 * agent whose key usage forbids key transport, no reason */
	CHECK_EQ(kmc_recovery_request(f.k, &officer, bad, pem, strlen(pem),
	    "order", id), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "holder.uscc");
	CHECK_EQ(kmc_recovery_request(f.k, &officer, hsel, ec, strlen(ec),
	    "order", id), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "must be RSA");
	CHECK_EQ(kmc_recovery_request(f.k, &officer, hsel, sign_only,
	    strlen(sign_only), "order", id), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "keyEncipherment");
	CHECK_EQ(kmc_recovery_request(f.k, &officer, hsel, pem, strlen(pem),
	    NULL, id), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "reason");
	CHECK_EQ(kmc_recovery_request(f.k, &officer, nobody, pem, strlen(pem),
	    "order", id), GP_ERR_NOT_FOUND);
	CHECK_EQ(kmc_recovery_request(f.k, &officer, hsel, pem, strlen(pem),
	    "order (2026) 1", id), 0);
	/* The same person, with another certificate (same ID number too in
	 * the idn): refused and recorded. */
	officer_person.idn[0] = '\0';
	snprintf(officer_person.idn, sizeof(officer_person.idn), "idn:abc");
	CHECK_EQ(kmc_recovery_request(f.k, &officer, hsel, pem, strlen(pem),
	    "order (2026) 2", id2), 0);
	CHECK_EQ(kmc_recovery_approve(f.k, &who_same, id2, &res),
	    GP_ERR_DENIED);
	CHECK_CONTAINS(gp_err_detail(), "dual control");
	last_record(op, outcome, details, sizeof(op));
	CHECK_STR(op, "kmc.recovery.approve");
	CHECK_STR(outcome, "denied");
	CHECK_EQ(kmc_recovery_approve(f.k, &officer, id, &res), GP_ERR_DENIED);
	CHECK(res == NULL);
	/* Another person approves: every key of the holder, to the agent. */
	CHECK_EQ(kmc_recovery_approve(f.k, &who_other, id, &res), 0);
	CHECK_EQ(store_kmc_key_list(f.st, json_string_value(json_object_get(
	    res, "holder")), &list, &n), 0);
	keys = json_object_get(res, "keys");
	CHECK_EQ(json_array_size(keys), n);
	for (i = 0; i < json_array_size(keys); i++) {
		json_t *kj = json_array_get(keys, i);
		const char *b64 = json_string_value(json_object_get(kj,
		    "envelope"));
		const char *cpem = json_string_value(json_object_get(kj,
		    "certificate"));
		unsigned char der[8192];
		const unsigned char *p = der;
		int len = b64 != NULL ? EVP_DecodeBlock(der,
		    (const unsigned char *)b64, (int)strlen(b64)) : -1;
		CMS_ContentInfo *cms = len > 0 ? d2i_CMS_ContentInfo(NULL, &p,
		    len) : NULL;
		BIO *outb = BIO_new(BIO_s_mem()), *cb = cpem != NULL ?
		    BIO_new_mem_buf(cpem, -1) : NULL;
		X509 *agent = NULL, *cert = cb != NULL ?
		    PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
		BIO *ab = BIO_new_mem_buf(pem, -1);
		EVP_PKEY *got = NULL;

		agent = PEM_read_bio_X509(ab, NULL, NULL, NULL);
		if (cms != NULL && outb != NULL && agent != NULL &&
		    CMS_decrypt(cms, ak, agent, NULL, outb, 0) == 1 &&
		    (got = PEM_read_bio_PrivateKey(outb, NULL, NULL, NULL)) !=
		    NULL && cert != NULL &&
		    EVP_PKEY_eq(got, X509_get0_pubkey(cert)) == 1)
			opened++;
		EVP_PKEY_free(got);
		X509_free(agent);
		X509_free(cert);
		BIO_free(ab);
		BIO_free(cb);
		BIO_free(outb);
		CMS_ContentInfo_free(cms);
	}
	CHECK(n >= 2 && opened == n);
	last_record(op, outcome, details, sizeof(op));
	CHECK_STR(op, "kmc.recovery.export");
	CHECK_CONTAINS(details, "\"approver_id\":\"dn:cn=officer2\"");
	CHECK_CONTAINS(details, "\"requester_id\":\"dn:cn=officer1\"");
	json_decref(res);
	res = NULL;
	/* Decided once. */
	CHECK_EQ(kmc_recovery_approve(f.k, &who_other, id, &res),
	    GP_ERR_CONFLICT);
	CHECK_EQ(kmc_recovery_refuse(f.k, &who_other, id, "late"),
	    GP_ERR_CONFLICT);
	CHECK_EQ(kmc_recovery_refuse(f.k, &officer, id2, "withdrawn"), 0);
	CHECK_EQ(kmc_recovery_approve(f.k, &who_other, id2, &res),
	    GP_ERR_CONFLICT);
	CHECK_EQ(kmc_recovery_approve(f.k, &who_other,
	    "00000000000000000000000000000000", &res), GP_ERR_NOT_FOUND);
	/* must fail: a holder one of whose escrowed keys was changed in the
	 * database (test_wrapped_tampered): nothing is exported. */
	json_decref(nobody);
	nobody = json_loads("{\"uscc\":\"91350100M000100Y43\"}", 0, NULL);
	CHECK_EQ(kmc_recovery_request(f.k, &officer, nobody, pem, strlen(pem),
	    "order (2026) 3", id), 0);
	CHECK_EQ(kmc_recovery_approve(f.k, &who_other, id, &res),
	    GP_ERR_TAMPERED);
	CHECK(res == NULL);
	officer_person.idn[0] = '\0';
out:
	json_decref(res);
	json_decref(hsel);
	json_decref(nobody);
	json_decref(bad);
	store_kmc_key_list_free(list, n);
	EVP_PKEY_free(ak);
	EVP_PKEY_free(ek);
	free(pem);
	free(sign_only);
	free(ec);
}

int
main(void)
{
	int ok = fx_open() == 0;

	if (!ok) {
		fprintf(stderr, "fixture: %s\n", gp_err_detail());
		test_failed++;
		printf("not ok - kmc fixture\n");
	} else {
		RUN(test_dual_issue);
		RUN(test_citizen_and_history);
		RUN(test_revoke_pair);
		RUN(test_refusals);
		RUN(test_code_once);
		RUN(test_wrapped_tampered);
		RUN(test_codes);
		RUN(test_release);
		RUN(test_renew);
		RUN(test_recovery);
		RUN(test_bytes_check_finds);
		RUN(test_twin_profiles);
	}
	fx_close();
	if (tdir[0] != '\0')
		nftw(tdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return test_done("kmc");
}
