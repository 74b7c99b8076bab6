/*
 * test_ca_issue.c: issuance under profiles, in process with software CA
 * keys and a temporary store: USCC and resident ID check characters (the
 * valid examples of DOMAIN.md and must-fail variants), profile loading
 * (the shipped policies/ and a bad file named with its field), issuance
 * through the store and the audit, refusals naming the field, the
 * self-check catching certificates that must not be signed, dual control
 * and the revocation state machine; the request parser (the certificate
 * carries the request's key info as signed; tampered or trailing bytes
 * refused) and the asynchronous commit (the callback comes only once the
 * certificate and its record are committed, seen from another connection;
 * a commit that fails reports the error after its failure record).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#include "ca/internal.h"
#include "tests/test.h"

static char tdir[64];

static void
test_uscc(void)
{
	CHECK_EQ(ca_uscc_check("uscc", "91350100M000100Y43"), 0);
	CHECK_EQ(ca_uscc_check("uscc", "91110000600037341L"), 0);
	CHECK_EQ(ca_uscc_check("uscc", "91350100M000100Y44"), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "uscc: check character");
	CHECK_EQ(ca_uscc_check("uscc", "91110000600037341"), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "18 characters");
	/* I, O, S, V, Z and lower case are not in the alphabet. */
	CHECK_EQ(ca_uscc_check("uscc", "91350100I000100Y43"), GP_ERR_INVALID);
	CHECK_EQ(ca_uscc_check("uscc", "91350100m000100Y43"), GP_ERR_INVALID);
	CHECK_EQ(ca_uscc_check("uscc", ""), GP_ERR_INVALID);
	CHECK_EQ(ca_uscc_check("uscc", NULL), GP_ERR_INVALID);
	/* One transposition is caught. */
	CHECK_EQ(ca_uscc_check("uscc", "91350100M000010Y43"), GP_ERR_INVALID);
}

static void
test_resident_id(void)
{
	CHECK_EQ(ca_resident_id_check("id", "11010519491231002X"), 0);
	CHECK_EQ(ca_resident_id_check("id", "110105194912310021"),
	    GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "id: 110105**********21");
	CHECK(strstr(gp_err_detail(), "110105194912310021") == NULL);
	CHECK_EQ(ca_resident_id_check("id", "11010519491231002x"),
	    GP_ERR_INVALID);
	CHECK_EQ(ca_resident_id_check("id", "11010519491331002X"),
	    GP_ERR_INVALID); /* month 13 */
	CHECK_CONTAINS(gp_err_detail(), "date of birth");
	CHECK_EQ(ca_resident_id_check("id", "1101051949123100"),
	    GP_ERR_INVALID);
	CHECK_EQ(ca_resident_id_check("id", "1101051949123100AX"),
	    GP_ERR_INVALID);
	CHECK_EQ(ca_resident_id_check("id", NULL), GP_ERR_INVALID);
}

static void
test_reasons(void)
{
	CHECK_EQ(ca_reason_code("keyCompromise"), 1);
	CHECK_EQ(ca_reason_code("aACompromise"), 10);
	CHECK_EQ(ca_reason_code("certificateHold"), 6);
	CHECK_EQ(ca_reason_code("nope"), -1);
	CHECK_EQ(ca_reason_code(NULL), -1);
	CHECK(ca_reason_name(7) == NULL);
	CHECK_STR(ca_reason_name(4), "superseded");
	CHECK(ca_reason_name(11) == NULL && ca_reason_name(-1) == NULL);
}

/* Name text: UTF-8 counted in characters, control and format characters
 * refused with the field named. */
static void
test_text_check(void)
{
	char buf[512];
	size_t i;

	CHECK_EQ(ca_text_check("f", "abc", 3, 3), 0);
	/* 64 Chinese characters are 192 bytes and within 64. */
	buf[0] = '\0';
	for (i = 0; i < 64; i++)
		strcat(buf, "\xe5\x8d\x8e");
	CHECK_EQ(ca_text_check("subject.organization", buf, strlen(buf), 64),
	    0);
	strcat(buf, "\xe5\x8d\x8e");
	CHECK_EQ(ca_text_check("subject.organization", buf, strlen(buf), 64),
	    GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "subject.organization: 65 characters; "
	    "at most 64");
	/* must fail: bidi override, isolates, zero width, BOM, soft hyphen,
	 * line separator, C0, DEL, C1 */
	CHECK_EQ(ca_text_check("subject.name", "ab\xe2\x80\xae" "cd", 7, 64),
	    GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "subject.name: character 3 is U+202E");
	CHECK_EQ(ca_text_check("f", "\xe2\x81\xa6x", 4, 0), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "U+2066");
	CHECK_EQ(ca_text_check("f", "\xe2\x81\xa9x", 4, 0), GP_ERR_INVALID);
	CHECK_EQ(ca_text_check("f", "x\xe2\x80\x8b", 4, 0), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "U+200B");
	CHECK_EQ(ca_text_check("f", "x\xe2\x80\x8f", 4, 0), GP_ERR_INVALID);
	CHECK_EQ(ca_text_check("f", "\xef\xbb\xbfx", 4, 0), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "U+FEFF");
	CHECK_EQ(ca_text_check("f", "a\xc2\xad", 3, 0), GP_ERR_INVALID);
	CHECK_EQ(ca_text_check("f", "a\xe2\x80\xa8", 4, 0), GP_ERR_INVALID);
	CHECK_EQ(ca_text_check("f", "a\nb", 3, 0), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "U+000A, a control character");
	CHECK_EQ(ca_text_check("f", "a\x7f", 2, 0), GP_ERR_INVALID);
	CHECK_EQ(ca_text_check("f", "a\xc2\x85", 3, 0), GP_ERR_INVALID);
	CHECK_EQ(ca_text_check("f", "a\0b", 3, 0), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "U+0000");
	CHECK_EQ(ca_text_check("f", "\xf3\xa0\x80\x81", 4, 0),
	    GP_ERR_INVALID); /* U+E0001 language tag */
	/* must fail: invalid UTF-8: stray continuation, overlong '/',
	 * surrogate, above U+10FFFF, truncated */
	CHECK_EQ(ca_text_check("subject.unit", "a\x80", 2, 0), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "subject.unit: not valid UTF-8 "
	    "(byte 2)");
	CHECK_EQ(ca_text_check("f", "\xc0\xaf", 2, 0), GP_ERR_INVALID);
	CHECK_EQ(ca_text_check("f", "\xe0\x80\xaf", 3, 0), GP_ERR_INVALID);
	CHECK_EQ(ca_text_check("f", "\xed\xa0\x80", 3, 0), GP_ERR_INVALID);
	CHECK_EQ(ca_text_check("f", "\xf4\x90\x80\x80", 4, 0),
	    GP_ERR_INVALID);
	CHECK_EQ(ca_text_check("f", "\xe5\x8d", 2, 0), GP_ERR_INVALID);
	CHECK_EQ(ca_text_check("f", "\xff", 1, 0), GP_ERR_INVALID);
	CHECK_EQ(ca_text_check("f", "", 0, 0), GP_ERR_INVALID);
	CHECK_EQ(ca_text_check("f", NULL, 0, 0), GP_ERR_INVALID);
	/* Characters that are fine: Chinese, a 4-byte one, ASCII marks. */
	CHECK_EQ(ca_text_check("f", "\xf0\x9f\x98\x80 O'Brien (x)", 15, 0), 0);
}

static struct gp_config *
test_cfg(const char *profiles_dir)
{
	struct gp_config *cfg = NULL;

	if (gp_config_defaults(tdir, &cfg) != 0)
		return NULL;
	free(cfg->profiles_dir);
	cfg->profiles_dir = strdup(profiles_dir);
	return cfg;
}

static void
write_profile(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

static void
test_profiles(void)
{
	struct gp_config *cfg = test_cfg(GP_POLICIES_DIR);
	struct ca_profiles *ps = NULL;
	const struct ca_profile *p;
	char dir[128], path[160];
	FILE *f;

	CHECK(cfg != NULL);
	CHECK_EQ(ca_profiles_load(cfg, &ps), 0);
	CHECK_EQ(ca_profiles_count(ps), 9);
	CHECK((p = ca_profile_find(ps, "enterprise")) != NULL &&
	    !ca_profile_dual_control(p));
	CHECK((p = ca_profile_find(ps, "sub-ca")) != NULL &&
	    ca_profile_dual_control(p) && p->issuer == GP_KEY_ROOT);
	CHECK((p = ca_profile_find(ps, "tsa")) != NULL && p->dual_control);
	CHECK((p = ca_profile_find(ps, "ocsp-signer")) != NULL &&
	    p->dual_control && p->ocsp_nocheck);
	CHECK((p = ca_profile_find(ps, "officer")) != NULL && p->dual_control);
	CHECK(ca_profile_grants_role(p));
	CHECK(!ca_profile_grants_role(ca_profile_find(ps, "enterprise")));
	CHECK(!ca_profile_grants_role(ca_profile_find(ps, "tsa")));
	CHECK(!ca_profile_grants_role(NULL));
	CHECK(ca_profile_find(ps, "nope") == NULL);
	ca_profiles_free(ps);
	ps = NULL;
	ca_profiles_free(NULL);

	/* A bad file stops the load, naming file, field and reason. */
	snprintf(dir, sizeof(dir), "%s/badpol", tdir);
	CHECK_EQ(gp_mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/x.json", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f != NULL) {
		fputs("{\"name\":\"x\",\"key_types\":[\"ec-p256\"],"
		    "\"max_validity_days\":30,\"subject\":[{\"field\":\"n\","
		    "\"attribute\":\"CN\",\"check\":\"magic\"}],"
		    "\"key_usage\":[\"digitalSignature\"]}", f);
		fclose(f);
	}
	free(cfg->profiles_dir);
	cfg->profiles_dir = strdup(dir);
	CHECK_EQ(ca_profiles_load(cfg, &ps), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "x.json: subject[0]: check: must be");
	f = fopen(path, "w");
	if (f != NULL) {
		fputs("{\"name\":\"x\",\"key_types\":[\"ec-p256\"],"
		    "\"max_validity_days\":30,\"subject\":[{\"field\":\"n\","
		    "\"attribute\":\"CN\"}],\"key_usage\":[\"keyCertSign\"]}",
		    f);
		fclose(f);
	}
	CHECK_EQ(ca_profiles_load(cfg, &ps), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "x.json: key_usage: keyCertSign");
	f = fopen(path, "w");
	if (f != NULL) {
		fputs("{\"name\":\"x\", \"colour\": 1}", f);
		fclose(f);
	}
	CHECK_EQ(ca_profiles_load(cfg, &ps), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "x.json: colour: unknown field");
	f = fopen(path, "w");
	if (f != NULL) {
		fputs("{not json", f);
		fclose(f);
	}
	CHECK_EQ(ca_profiles_load(cfg, &ps), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "x.json: line 1");
	/* must fail: a title in a profile that stores no role (an
	 * enterprise certificate saying title=officer) */
	write_profile(path, "{\"name\":\"x\",\"key_types\":[\"ec-p256\"],"
	    "\"max_validity_days\":30,\"subject\":[{\"field\":\"org\","
	    "\"attribute\":\"O\",\"max_length\":64},{\"field\":\"title\","
	    "\"attribute\":\"title\"}],\"key_usage\":[\"digitalSignature\"]}");
	CHECK_EQ(ca_profiles_load(cfg, &ps), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "x.json: subject[1]: attribute: title "
	    "is for the administrative role");
	write_profile(path, "{\"name\":\"x\",\"key_types\":[\"ec-p256\"],"
	    "\"max_validity_days\":30,\"subject_fixed\":[{\"attribute\":"
	    "\"title\",\"value\":\"officer\"}],\"subject\":[{\"field\":"
	    "\"n\",\"attribute\":\"CN\"}],\"key_usage\":["
	    "\"digitalSignature\"]}");
	CHECK_EQ(ca_profiles_load(cfg, &ps), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "subject_fixed[0]: title");
	/* must fail: a role stored without dual control */
	write_profile(path, "{\"name\":\"x\",\"key_types\":[\"ec-p256\"],"
	    "\"max_validity_days\":30,\"subject\":[{\"field\":\"n\","
	    "\"attribute\":\"CN\"},{\"field\":\"role\",\"attribute\":"
	    "\"title\",\"check\":\"enum\",\"values\":[\"officer\"],"
	    "\"store\":\"role\"}],\"key_usage\":[\"digitalSignature\"]}");
	CHECK_EQ(ca_profiles_load(cfg, &ps), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "x.json: dual_control: a profile that "
	    "stores a role must have dual control");
	/* must fail: a role that is not one of the three */
	write_profile(path, "{\"name\":\"x\",\"key_types\":[\"ec-p256\"],"
	    "\"max_validity_days\":30,\"subject\":[{\"field\":\"n\","
	    "\"attribute\":\"CN\"},{\"field\":\"role\",\"attribute\":"
	    "\"title\",\"check\":\"enum\",\"values\":[\"root\"],"
	    "\"store\":\"role\"}],\"key_usage\":[\"digitalSignature\"],"
	    "\"dual_control\":true}");
	CHECK_EQ(ca_profiles_load(cfg, &ps), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "values: a role is sysadmin");
	/* must fail: more than RFC 5280 allows an organization name */
	write_profile(path, "{\"name\":\"x\",\"key_types\":[\"ec-p256\"],"
	    "\"max_validity_days\":30,\"subject\":[{\"field\":\"org\","
	    "\"attribute\":\"O\",\"max_length\":128}],\"key_usage\":["
	    "\"digitalSignature\"]}");
	CHECK_EQ(ca_profiles_load(cfg, &ps), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "subject[0]: max_length: at most 64 "
	    "for O (RFC 5280 ub-organization-name");
	/* must fail: a common name taken from a field that may be longer
	 * than 64 characters */
	write_profile(path, "{\"name\":\"x\",\"key_types\":[\"ec-p256\"],"
	    "\"max_validity_days\":30,\"subject\":[{\"field\":\"l\","
	    "\"attribute\":\"L\",\"required\":true,\"max_length\":100}],"
	    "\"common_name_from\":\"l\",\"key_usage\":["
	    "\"digitalSignature\"]}");
	CHECK_EQ(ca_profiles_load(cfg, &ps), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "common_name_from: the field may hold "
	    "more than the 64");
	/* A role-bearing profile with dual control loads and grants roles;
	 * without max_length a field gets its attribute's bound. */
	write_profile(path, "{\"name\":\"x\",\"key_types\":[\"ec-p256\"],"
	    "\"max_validity_days\":30,\"subject\":[{\"field\":\"n\","
	    "\"attribute\":\"CN\"},{\"field\":\"role\",\"attribute\":"
	    "\"title\",\"check\":\"enum\",\"values\":[\"officer\"],"
	    "\"store\":\"role\"}],\"key_usage\":[\"digitalSignature\"],"
	    "\"dual_control\":true}");
	CHECK_EQ(ca_profiles_load(cfg, &ps), 0);
	CHECK((p = ca_profile_find(ps, "x")) != NULL &&
	    ca_profile_grants_role(p) && p->fields[0].max_length == 64);
	ca_profiles_free(ps);
	ps = NULL;
	unlink(path);
	CHECK_EQ(ca_profiles_load(cfg, &ps), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "no *.json");
	CHECK(ps == NULL);
	gp_config_free(cfg);
}

/* A software root and issuing CA, a store and an audit in tdir. */
struct fx {
	struct gp_config *cfg;
	struct ca_profiles *ps;
	store *st;
	audit *a;
	EVP_PKEY *key[2];
	X509 *cert[2];
	struct ca_ctx ca;
};

static int
fx_ca(struct fx *f, int idx, const char *cn, int issuer, int path_len)
{
	struct ca_cert_spec spec;
	X509_NAME *n = NULL;
	char *serial = NULL, text[64];
	int r;

	f->key[idx] = EVP_EC_gen("P-256");
	snprintf(text, sizeof(text), "/CN=%s/O=test", cn);
	if (f->key[idx] == NULL || ca_name_parse(text, &n) != 0)
		return -1;
	memset(&spec, 0, sizeof(spec));
	spec.subject = n;
	spec.pubkey = f->key[idx];
	spec.issuer_cert = issuer >= 0 ? f->cert[issuer] : NULL;
	spec.issuer_key = f->key[issuer >= 0 ? issuer : idx];
	spec.not_before = time(NULL) - 3600;
	spec.not_after = time(NULL) + 5 * 365 * 86400;
	spec.is_ca = 1;
	spec.path_len = path_len;
	spec.key_usage = "critical,keyCertSign,cRLSign";
	r = ca_cert_sign(&spec, &f->cert[idx], &serial);
	X509_NAME_free(n);
	free(serial);
	return r;
}

static int
fx_open(struct fx *f)
{
	char db[128];

	memset(f, 0, sizeof(*f));
	snprintf(db, sizeof(db), "%s/t.db", tdir);
	unlink(db);
	if ((f->cfg = test_cfg(GP_POLICIES_DIR)) == NULL ||
	    ca_profiles_load(f->cfg, &f->ps) != 0 ||
	    store_open(db, 1, &f->st) != 0 || audit_new(f->st, &f->a) != 0 ||
	    fx_ca(f, 0, "Root", -1, 1) != 0 || fx_ca(f, 1, "CA", 0, 0) != 0)
		return -1;
	f->ca.cfg = f->cfg;
	f->ca.profiles = f->ps;
	f->ca.st = f->st;
	f->ca.audit = f->a;
	f->ca.cert[GP_KEY_ROOT] = f->cert[0];
	f->ca.cert[GP_KEY_CA] = f->cert[1];
	f->ca.key[GP_KEY_ROOT] = f->key[0];
	f->ca.key[GP_KEY_CA] = f->key[1];
	return 0;
}

static void
fx_close(struct fx *f)
{
	audit_free(f->a);
	store_free(f->st);
	ca_profiles_free(f->ps);
	gp_config_free(f->cfg);
	EVP_PKEY_free(f->key[0]);
	EVP_PKEY_free(f->key[1]);
	X509_free(f->cert[0]);
	X509_free(f->cert[1]);
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

static struct ca_person person1 = {"dn:cn=officer1", ""};
static struct ca_person person2 = {"dn:cn=officer2", ""};
static struct ca_actor who1 = {"CN=officer1,serial=1", "officer", &person1,
    NULL, NULL};
static struct ca_actor who2 = {"CN=officer2,serial=2", "officer", &person2,
    NULL, NULL};

static int
issue(struct fx *f, const char *profile, const char *csr, const char *subj,
    struct ca_issue_result *res)
{
	struct ca_issue_req req;
	json_t *s = json_loads(subj, 0, NULL);
	int r;

	memset(&req, 0, sizeof(req));
	req.profile = profile;
	req.csr_pem = csr;
	req.csr_len = csr ? strlen(csr) : 0;
	req.subject = s;
	r = ca_issue(&f->ca, &who1, &req, res);
	json_decref(s);
	return r;
}

static void
test_issue(void)
{
	struct fx f;
	struct ca_issue_result res;
	struct store_cert sc;
	EVP_PKEY *ek = EVP_EC_gen("P-256"), *rk = EVP_RSA_gen(2048);
	char *csr = NULL, *rcsr = NULL;
	X509_STORE *xs = NULL;
	X509_STORE_CTX *xc = NULL;
	STACK_OF(X509) *chain = NULL;
	X509 *leaf = NULL;
	BIO *bio = NULL;
	int64_t n = 0;

	memset(&res, 0, sizeof(res));
	CHECK_EQ(fx_open(&f), 0);
	CHECK((csr = csr_pem(ek)) != NULL && (rcsr = csr_pem(rk)) != NULL);
	CHECK_EQ(issue(&f, "enterprise", csr, "{\"organization\":\"某某有限公司\","
	    "\"uscc\":\"91350100M000100Y43\"}", &res), 0);
	CHECK(res.serial != NULL && res.cert_pem != NULL && !res.pending);
	/* Stored before returned, with its profile and USCC. */
	memset(&sc, 0, sizeof(sc));
	CHECK_EQ(store_cert_get(f.st, res.serial, &sc), 0);
	CHECK_STR(sc.profile, "enterprise");
	CHECK_STR(sc.uscc, "91350100M000100Y43");
	CHECK_STR(sc.status, "good");
	store_cert_clear(&sc);
	/* The chain verifies with OpenSSL. */
	bio = BIO_new_mem_buf(res.cert_pem, -1);
	leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	xs = X509_STORE_new();
	chain = sk_X509_new_null();
	xc = X509_STORE_CTX_new();
	CHECK(leaf != NULL && xs != NULL && chain != NULL && xc != NULL);
	if (leaf != NULL && xs && chain && xc) {
		X509_STORE_add_cert(xs, f.cert[0]);
		sk_X509_push(chain, f.cert[1]);
		CHECK_EQ(X509_STORE_CTX_init(xc, xs, leaf, chain), 1);
		CHECK_EQ(X509_verify_cert(xc), 1);
	}
	ca_issue_result_clear(&res);

	/* Refusals name the field. */
	CHECK_EQ(issue(&f, "enterprise", csr, "{\"organization\":\"x\","
	    "\"uscc\":\"91350100M000100Y44\"}", &res), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "subject.uscc");
	CHECK_EQ(issue(&f, "enterprise", csr, "{\"uscc\":"
	    "\"91350100M000100Y43\"}", &res), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "subject.organization: required");
	CHECK_EQ(issue(&f, "enterprise-encryption", csr, "{\"organization\":"
	    "\"x\",\"uscc\":\"91350100M000100Y43\"}", &res), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "csr.key");
	CHECK_EQ(issue(&f, "enterprise-encryption", rcsr, "{\"organization\":"
	    "\"x\",\"uscc\":\"91350100M000100Y43\"}", &res), 0);
	ca_issue_result_clear(&res);
	CHECK_EQ(issue(&f, "citizen", csr, "{\"name\":\"张三\",\"id_number\":"
	    "\"110105194912310021\"}", &res), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "subject.id_number");
	CHECK_EQ(issue(&f, "citizen", "-----BEGIN CERTIFICATE REQUEST-----\n"
	    "AAAA\n-----END CERTIFICATE REQUEST-----\n", "{\"name\":\"张三\","
	    "\"id_number\":\"11010519491231002X\"}", &res), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "csr:");
	CHECK_EQ(issue(&f, "tls-server", csr, "{\"name\":\"portal.gov.cn\"}",
	    &res), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "san.dns: required");
	/* RFC 5280 ub-organization-name: 64 characters, counted as such:
	 * 64 Chinese characters pass, 65 do not. */
	{
		char org[300], subj[400];
		size_t i;

		org[0] = '\0';
		for (i = 0; i < 64; i++)
			strcat(org, "\xe5\x8d\x8e");
		snprintf(subj, sizeof(subj), "{\"organization\":\"%s\","
		    "\"uscc\":\"91350100M000100Y43\"}", org);
		CHECK_EQ(issue(&f, "enterprise", csr, subj, &res), 0);
		ca_issue_result_clear(&res);
		strcat(org, "\xe5\x8d\x8e");
		snprintf(subj, sizeof(subj), "{\"organization\":\"%s\","
		    "\"uscc\":\"91350100M000100Y43\"}", org);
		CHECK_EQ(issue(&f, "enterprise", csr, subj, &res),
		    GP_ERR_INVALID);
		CHECK_CONTAINS(gp_err_detail(), "subject.organization: 65 "
		    "characters; at most 64");
	}
	/* A bidi override in a name, named with its field. */
	CHECK_EQ(issue(&f, "enterprise", csr, "{\"organization\":\"\u202e"
	    "gpj.exe\",\"uscc\":\"91350100M000100Y43\"}", &res),
	    GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "subject.organization: character 1 is "
	    "U+202E");
	CHECK_EQ(issue(&f, "citizen", csr, "{\"name\":\"\u5f20\u200b\u4e09\","
	    "\"id_number\":\"11010519491231002X\"}", &res), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "subject.name: character 2 is U+200B");
	CHECK_EQ(issue(&f, "citizen", csr, "{\"name\":\"张三\",\"id_number\":"
	    "\"11010519491231002X\"}", &res), 0);
	ca_issue_result_clear(&res);
	/* Every certificate in the store, audited with it. */
	CHECK_EQ(store_cert_count(f.st, &n), 0);
	CHECK_EQ(n, 4);
	{
		int64_t cnt = 0, max = 0;
		CHECK_EQ(store_audit_count(f.st, &cnt, &max), 0);
		CHECK(cnt >= 13); /* 4 issued + 9 refused */
	}
	fx_close(&f);
	free(csr);
	free(rcsr);
	EVP_PKEY_free(ek);
	EVP_PKEY_free(rk);
	X509_free(leaf);
	BIO_free(bio);
	sk_X509_free(chain);
	X509_STORE_CTX_free(xc);
	X509_STORE_free(xs);
}

/* The self-check refuses what must not be signed. */
static void
test_lint(void)
{
	struct fx f;
	const struct ca_profile *p;
	struct ca_cert_spec spec;
	X509_NAME *n = NULL;
	X509 *c = NULL;
	EVP_PKEY *k = EVP_EC_gen("P-256");

	CHECK_EQ(fx_open(&f), 0);
	p = ca_profile_find(f.ps, "enterprise");
	CHECK(p != NULL && k != NULL);
	CHECK_EQ(ca_name_parse("/CN=x/O=y", &n), 0);
	memset(&spec, 0, sizeof(spec));
	spec.subject = n;
	spec.pubkey = k;
	spec.issuer_cert = f.cert[1];
	spec.issuer_key = f.key[1];
	spec.not_before = time(NULL);
	spec.not_after = time(NULL) + 86400;
	spec.path_len = -1;
	spec.key_usage = "critical,digitalSignature,nonRepudiation";
	spec.ext_key_usage = "clientAuth,emailProtection";
	spec.crl_url = "http://x/crl/ca.crl";
	spec.policies = p->policies[0];
	CHECK_EQ(ca_cert_build(&spec, &c), 0);
	CHECK_EQ(ca_cert_lint(c, f.cert[1], p), 0);
	X509_free(c);
	/* Key usage drifting from the profile. */
	spec.key_usage = "critical,digitalSignature,keyEncipherment";
	CHECK_EQ(ca_cert_build(&spec, &c), 0);
	CHECK_EQ(ca_cert_lint(c, f.cert[1], p), GP_ERR_INTERNAL);
	CHECK_CONTAINS(gp_err_detail(), "self-check: key usage");
	X509_free(c);
	spec.key_usage = "critical,digitalSignature,nonRepudiation";
	/* EKU drifting. */
	spec.ext_key_usage = "clientAuth";
	CHECK_EQ(ca_cert_build(&spec, &c), 0);
	CHECK_EQ(ca_cert_lint(c, f.cert[1], p), GP_ERR_INTERNAL);
	X509_free(c);
	spec.ext_key_usage = "clientAuth,emailProtection";
	/* Validity past the issuer's. */
	spec.not_after = time(NULL) + 20 * 365 * 86400LL;
	CHECK_EQ(ca_cert_build(&spec, &c), 0);
	CHECK_EQ(ca_cert_lint(c, f.cert[1], p), GP_ERR_INTERNAL);
	CHECK_CONTAINS(gp_err_detail(), "validity");
	X509_free(c);
	spec.not_after = time(NULL) + 86400;
	/* A duplicated extension. */
	CHECK_EQ(ca_cert_build(&spec, &c), 0);
	if (c != NULL) {
		X509_EXTENSION *e = X509_get_ext(c, X509_get_ext_by_NID(c,
		    NID_key_usage, -1));
		X509_add_ext(c, e, -1);
	}
	CHECK_EQ(ca_cert_lint(c, f.cert[1], p), GP_ERR_INTERNAL);
	CHECK_CONTAINS(gp_err_detail(), "twice");
	X509_free(c);
	/* A wrong issuer: AKI does not match. */
	CHECK_EQ(ca_cert_build(&spec, &c), 0);
	CHECK_EQ(ca_cert_lint(c, f.cert[0], p), GP_ERR_INTERNAL);
	X509_free(c);
	/* A name that is not UTF8String. */
	X509_NAME_free(n);
	n = X509_NAME_new();
	X509_NAME_add_entry_by_NID(n, NID_commonName, V_ASN1_T61STRING,
	    (const unsigned char *)"x", -1, -1, 0);
	spec.subject = n;
	CHECK_EQ(ca_cert_build(&spec, &c), 0);
	CHECK_EQ(ca_cert_lint(c, f.cert[1], p), GP_ERR_INTERNAL);
	CHECK_CONTAINS(gp_err_detail(), "UTF8String");
	X509_free(c);
	CHECK_EQ(ca_cert_lint(NULL, f.cert[1], p), GP_ERR_INTERNAL);
	X509_NAME_free(n);
	EVP_PKEY_free(k);
	fx_close(&f);
}

static void
test_dual_and_revoke(void)
{
	struct fx f;
	struct ca_issue_result res, res2;
	struct ca_issue_req req;
	struct store_cert sc;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	char *csr = csr_pem(k), *rid = NULL, *serial = NULL;
	json_t *s = json_loads("{\"name\":\"Second\",\"role\":\"officer\"}", 0,
	    NULL);

	memset(&res, 0, sizeof(res));
	memset(&res2, 0, sizeof(res2));
	CHECK_EQ(fx_open(&f), 0);
	memset(&req, 0, sizeof(req));
	req.profile = "officer";
	req.csr_pem = csr;
	req.csr_len = csr ? strlen(csr) : 0;
	req.subject = s;
	CHECK_EQ(ca_issue(&f.ca, &who1, &req, &res), 0);
	CHECK(res.pending && res.request_id != NULL && res.serial == NULL);
	rid = res.request_id ? strdup(res.request_id) : NULL;
	CHECK_EQ(ca_request_approve(&f.ca, &who1, rid, &res2), GP_ERR_DENIED);
	CHECK_CONTAINS(gp_err_detail(), "requester cannot approve");
	CHECK_EQ(ca_request_approve(&f.ca, &who2, rid, &res2), 0);
	CHECK(res2.serial != NULL && res2.cert_pem != NULL);
	serial = res2.serial ? strdup(res2.serial) : NULL;
	ca_issue_result_clear(&res2);
	CHECK_EQ(ca_request_approve(&f.ca, &who2, rid, &res2), GP_ERR_CONFLICT);
	CHECK_EQ(ca_request_approve(&f.ca, &who2,
	    "00000000000000000000000000000000", &res2), GP_ERR_NOT_FOUND);
	CHECK_EQ(ca_request_approve(&f.ca, &who2, "00", &res2),
	    GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "request id");
	memset(&sc, 0, sizeof(sc));
	CHECK_EQ(store_cert_get(f.st, serial, &sc), 0);
	CHECK_STR(sc.role, "officer");
	store_cert_clear(&sc);

	/* good -> hold -> good -> revoked, and nothing after. */
	CHECK_EQ(ca_release(&f.ca, &who1, serial), GP_ERR_CONFLICT);
	CHECK_EQ(ca_hold(&f.ca, &who1, serial), 0);
	CHECK_EQ(ca_hold(&f.ca, &who1, serial), GP_ERR_CONFLICT);
	CHECK_EQ(ca_release(&f.ca, &who1, serial), 0);
	CHECK_EQ(ca_revoke(&f.ca, &who1, serial, 6, 0), GP_ERR_INVALID);
	CHECK_EQ(ca_revoke(&f.ca, &who1, serial, 1, time(NULL) + 3600),
	    GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "invalidity_date");
	CHECK_EQ(ca_revoke(&f.ca, &who1, serial, 1, time(NULL) - 3600), 0);
	CHECK_EQ(ca_revoke(&f.ca, &who1, serial, 4, 0), GP_ERR_CONFLICT);
	CHECK_CONTAINS(gp_err_detail(), "already revoked");
	CHECK_EQ(ca_hold(&f.ca, &who1, serial), GP_ERR_CONFLICT);
	CHECK_EQ(ca_release(&f.ca, &who1, serial), GP_ERR_CONFLICT);
	CHECK_EQ(ca_revoke(&f.ca, &who1, "abc", 1, 0), GP_ERR_NOT_FOUND);
	CHECK_EQ(store_cert_get(f.st, serial, &sc), 0);
	CHECK_STR(sc.status, "revoked");
	CHECK_EQ(sc.reason, 1);
	store_cert_clear(&sc);
	ca_issue_result_clear(&res);
	json_decref(s);
	free(csr);
	free(rid);
	free(serial);
	EVP_PKEY_free(k);
	fx_close(&f);
}

/* |der| as a PEM block named |name|; caller frees. */
static char *
pem_of(const char *name, const unsigned char *der, long len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s = NULL;
	long n;

	if (bio != NULL && PEM_write_bio(bio, name, "", der, len) &&
	    (n = BIO_get_mem_data(bio, &data)) > 0)
		s = strndup(data, (size_t)n);
	BIO_free(bio);
	return s;
}

/* The DER of the request of |key|; caller frees with OPENSSL_free. */
static int
csr_der(EVP_PKEY *key, unsigned char **out)
{
	X509_REQ *req = X509_REQ_new();
	int n = -1;

	*out = NULL;
	if (req != NULL && X509_REQ_set_pubkey(req, key) &&
	    X509_REQ_sign(req, key, EVP_sha256()) > 0)
		n = i2d_X509_REQ(req, out);
	X509_REQ_free(req);
	return n;
}

/* Issues an enterprise-encryption (RSA) or enterprise certificate for
 * |key| from |csr| and checks that the certificate carries exactly the
 * key's canonical SubjectPublicKeyInfo and the RFC 5280 4.2.1.2 (1)
 * key identifier of it. */
static void
check_key_carried(struct fx *f, const char *profile, const char *csr,
    EVP_PKEY *key)
{
	struct ca_issue_result res;
	unsigned char *want = NULL, *got = NULL, md[20];
	const unsigned char *bits;
	const ASN1_OCTET_STRING *ski;
	X509 *cert = NULL;
	BIO *bio = NULL;
	int wl, gl, bl;
	unsigned int mdl = 0;

	memset(&res, 0, sizeof(res));
	CHECK_EQ(issue(f, profile, csr, "{\"organization\":\"某某有限公司\","
	    "\"uscc\":\"91350100M000100Y43\"}", &res), 0);
	bio = BIO_new_mem_buf(res.cert_pem, -1);
	CHECK(bio != NULL && (cert = PEM_read_bio_X509(bio, NULL, NULL,
	    NULL)) != NULL);
	if (cert == NULL)
		goto out;
	CHECK_EQ(EVP_PKEY_eq(X509_get0_pubkey(cert), key), 1);
	wl = i2d_PUBKEY(key, &want);
	gl = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &got);
	CHECK(wl > 0 && wl == gl && memcmp(want, got, (size_t)wl) == 0);
	X509_PUBKEY_get0_param(NULL, &bits, &bl, NULL,
	    X509_get_X509_PUBKEY(cert));
	CHECK_EQ(EVP_Digest(bits, (size_t)bl, md, &mdl, EVP_sha1(), NULL), 1);
	ski = X509_get0_subject_key_id(cert);
	CHECK(ski != NULL && ASN1_STRING_length(ski) == 20 &&
	    memcmp(ASN1_STRING_get0_data(ski), md, 20) == 0);
out:
	ca_issue_result_clear(&res);
	OPENSSL_free(want);
	OPENSSL_free(got);
	X509_free(cert);
	BIO_free(bio);
}

/* The request parser: the key info reaches the certificate as signed,
 * for the fast (uncompressed EC) and the generic path alike; a tampered
 * signature, bytes after the DER or a second block are refused. */
static void
test_csr(void)
{
	struct fx f;
	struct ca_issue_result res;
	EVP_PKEY *p256 = EVP_EC_gen("P-256"), *p384 = EVP_EC_gen("P-384");
	EVP_PKEY *rsa = EVP_RSA_gen(2048), *comp = EVP_EC_gen("P-256");
	unsigned char *der = NULL, *longer = NULL;
	char *csr = NULL, *two = NULL;
	int n;

	memset(&res, 0, sizeof(res));
	CHECK_EQ(fx_open(&f), 0);
	CHECK(p256 != NULL && p384 != NULL && rsa != NULL && comp != NULL);
	CHECK_EQ(EVP_PKEY_set_utf8_string_param(comp,
	    OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed"), 1);

	csr = csr_pem(p256);
	check_key_carried(&f, "enterprise", csr, p256);
	free(csr);
	csr = csr_pem(p384);
	check_key_carried(&f, "enterprise", csr, p384);
	free(csr);
	csr = csr_pem(rsa);
	check_key_carried(&f, "enterprise-encryption", csr, rsa);
	free(csr);
	/* A compressed point takes the generic decoder. */
	CHECK((n = csr_der(comp, &der)) > 0);
	CHECK(n > 0 && der[0] == 0x30);
	csr = pem_of("CERTIFICATE REQUEST", der, n);
	check_key_carried(&f, "enterprise", csr, comp);
	free(csr);
	OPENSSL_free(der);
	der = NULL;

	/* The other PEM name OpenSSL reads requests under. */
	CHECK((n = csr_der(p256, &der)) > 0);
	csr = pem_of("NEW CERTIFICATE REQUEST", der, n);
	CHECK_EQ(issue(&f, "enterprise", csr, "{\"organization\":\"x\","
	    "\"uscc\":\"91350100M000100Y43\"}", &res), 0);
	ca_issue_result_clear(&res);
	free(csr);

	/* must fail: the signature's last byte changed */
	der[n - 1] ^= 0x01;
	csr = pem_of("CERTIFICATE REQUEST", der, n);
	CHECK_EQ(issue(&f, "enterprise", csr, "{\"organization\":\"x\","
	    "\"uscc\":\"91350100M000100Y43\"}", &res), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "csr: the signature does not verify");
	free(csr);
	der[n - 1] ^= 0x01;
	/* must fail: a byte of the key changed (the point leaves the curve,
	 * or the signature no longer verifies) */
	{
		unsigned char *t = OPENSSL_memdup(der, (size_t)n);
		int i, k = -1;
		/* the uncompressed point: 0x04 after "03 42 00" */
		for (i = 0; i + 3 < n; i++)
			if (t[i] == 0x03 && t[i + 1] == 0x42 &&
			    t[i + 2] == 0x00 && t[i + 3] == 0x04) {
				k = i + 10;
				break;
			}
		CHECK(k > 0);
		if (k > 0) {
			t[k] ^= 0x01;
			csr = pem_of("CERTIFICATE REQUEST", t, n);
			CHECK_EQ(issue(&f, "enterprise", csr,
			    "{\"organization\":\"x\",\"uscc\":"
			    "\"91350100M000100Y43\"}", &res), GP_ERR_INVALID);
			CHECK_CONTAINS(gp_err_detail(), "csr:");
			free(csr);
		}
		OPENSSL_free(t);
	}
	/* must fail: bytes after the request's DER, inside the block */
	CHECK((longer = OPENSSL_malloc((size_t)n + 2)) != NULL);
	memcpy(longer, der, (size_t)n);
	longer[n] = 0x05;
	longer[n + 1] = 0x00;
	csr = pem_of("CERTIFICATE REQUEST", longer, n + 2);
	CHECK_EQ(issue(&f, "enterprise", csr, "{\"organization\":\"x\","
	    "\"uscc\":\"91350100M000100Y43\"}", &res), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "csr: trailing bytes");
	/* must fail: a second block after the first */
	two = NULL;
	{
		char *one = pem_of("CERTIFICATE REQUEST", der, n);
		CHECK(one != NULL && asprintf(&two, "%s%s", one, one) > 0);
		free(one);
	}
	CHECK_EQ(issue(&f, "enterprise", two, "{\"organization\":\"x\","
	    "\"uscc\":\"91350100M000100Y43\"}", &res), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "csr: trailing data");
	/* must fail: a certificate request that is not one */
	free(csr);
	csr = pem_of("CERTIFICATE REQUEST", (const unsigned char *)"\x30\x03"
	    "\x02\x01\x00", 5);
	CHECK_EQ(issue(&f, "enterprise", csr, "{\"organization\":\"x\","
	    "\"uscc\":\"91350100M000100Y43\"}", &res), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "csr: not a PEM CERTIFICATE REQUEST");
	fx_close(&f);
	free(csr);
	free(two);
	OPENSSL_free(der);
	OPENSSL_free(longer);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(comp);
}

/* What an asynchronous commit's callback saw, from another connection to
 * the same database: committed, not merely written in a transaction. */
struct async_seen {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int called;
	int r;
	char detail[512];
	char db[128];
	const char *serial;
	int cert_committed;     /* the row, seen from another connection */
	char last_op[32];       /* the newest committed audit record */
	char last_outcome[16];
	char last_details[512];
};

static void
async_done(void *arg, int r)
{
	struct async_seen *a = arg;
	store *other = NULL;
	struct store_cert c;
	struct store_audit_row row;
	uint8_t hash[32];
	int64_t seq = 0;

	memset(&c, 0, sizeof(c));
	memset(&row, 0, sizeof(row));
	pthread_mutex_lock(&a->mu);
	a->r = r;
	snprintf(a->detail, sizeof(a->detail), "%s", r != 0 ?
	    gp_err_detail() : "");
	if (store_open(a->db, 0, &other) == 0) {
		a->cert_committed = store_cert_get(other, a->serial, &c) == 0 &&
		    strcmp(c.serial, a->serial) == 0;
		if (store_audit_head(other, &seq, hash) == 0 &&
		    store_audit_get(other, seq, &row) == 0) {
			snprintf(a->last_op, sizeof(a->last_op), "%s",
			    row.op ? row.op : "");
			snprintf(a->last_outcome, sizeof(a->last_outcome), "%s",
			    row.outcome ? row.outcome : "");
			snprintf(a->last_details, sizeof(a->last_details), "%s",
			    row.details ? row.details : "");
		}
	}
	store_cert_clear(&c);
	store_audit_row_clear(&row);
	store_free(other);
	a->called++;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

static void
async_wait(struct async_seen *a)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	pthread_mutex_lock(&a->mu);
	while (a->called == 0 &&
	    pthread_cond_timedwait(&a->cv, &a->mu, &until) == 0)
		;
	pthread_mutex_unlock(&a->mu);
}

static int
start_issue(struct fx *f, const char *csr, struct ca_issue_result *res,
    ca_issue_job **job)
{
	struct ca_issue_req req;
	json_t *s = json_loads("{\"organization\":\"x\",\"uscc\":"
	    "\"91350100M000100Y43\"}", 0, NULL);
	int r;

	memset(&req, 0, sizeof(req));
	req.profile = "enterprise";
	req.csr_pem = csr;
	req.csr_len = strlen(csr);
	req.subject = s;
	r = ca_issue_start(&f->ca, &who1, &req, res, job);
	json_decref(s);
	return r;
}

/* ca_issue_start() + ca_issue_commit_async(): the callback comes after the
 * certificate and its record committed; a duplicate serial (the commit's
 * constraint) is reported with its error only after the failure record is
 * committed, and nothing of the certificate is stored; ca_issue_commit()
 * does the same synchronously; an abandoned job is audited. */
static void
test_issue_async(void)
{
	struct fx f;
	struct ca_issue_result res;
	struct async_seen a;
	struct store_cert dup;
	ca_issue_job *job = NULL;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	char *csr = csr_pem(k);
	int64_t n0 = 0, n1 = 0, max = 0;

	memset(&res, 0, sizeof(res));
	memset(&a, 0, sizeof(a));
	pthread_mutex_init(&a.mu, NULL);
	pthread_cond_init(&a.cv, NULL);
	CHECK_EQ(fx_open(&f), 0);
	snprintf(a.db, sizeof(a.db), "%s/t.db", tdir);

	/* success */
	CHECK_EQ(start_issue(&f, csr, &res, &job), 0);
	CHECK(job != NULL && res.serial != NULL && res.cert_pem != NULL);
	a.serial = res.serial;
	ca_issue_commit_async(job, async_done, &a);
	job = NULL;
	async_wait(&a);
	CHECK_EQ(a.called, 1);
	CHECK_EQ(a.r, 0);
	CHECK_EQ(a.cert_committed, 1);
	CHECK_STR(a.last_op, "cert.issue");
	CHECK_STR(a.last_outcome, "success");
	ca_issue_result_clear(&res);

	/* failure: the serial is taken before the commit */
	CHECK_EQ(start_issue(&f, csr, &res, &job), 0);
	CHECK(job != NULL && res.serial != NULL);
	memset(&dup, 0, sizeof(dup));
	dup.serial = res.serial;
	dup.issuer = (char *)"ca";
	dup.profile = (char *)"enterprise";
	dup.subject = (char *)"CN=squatter";
	dup.status = (char *)"good";
	dup.reason = -1;
	dup.not_before = 1;
	dup.not_after = 2;
	dup.der = (uint8_t *)"\x30\x00";
	dup.der_len = 2;
	CHECK_EQ(store_begin(f.st), 0);
	CHECK_EQ(store_cert_insert(f.st, &dup), 0);
	CHECK_EQ(store_commit(f.st), 0);
	CHECK_EQ(store_audit_count(f.st, &n0, &max), 0);
	a.called = 0;
	a.serial = res.serial;
	ca_issue_commit_async(job, async_done, &a);
	job = NULL;
	async_wait(&a);
	CHECK_EQ(a.called, 1);
	CHECK_EQ(a.r, GP_ERR_EXISTS);
	CHECK_CONTAINS(a.detail, res.serial);
	CHECK_STR(a.last_op, "cert.issue");
	CHECK_STR(a.last_outcome, "failure");
	CHECK_CONTAINS(a.last_details, "\"error\":\"exists\"");
	CHECK_EQ(store_audit_count(f.st, &n1, &max), 0);
	CHECK_EQ(n1, n0 + 1); /* the failure, not the success */
	{
		struct store_cert c;
		memset(&c, 0, sizeof(c));
		CHECK_EQ(store_cert_get(f.st, res.serial, &c), 0);
		CHECK_STR(c.subject, "CN=squatter"); /* not overwritten */
		store_cert_clear(&c);
	}
	ca_issue_result_clear(&res);

	/* the same failure through the synchronous commit */
	CHECK_EQ(start_issue(&f, csr, &res, &job), 0);
	dup.serial = res.serial;
	CHECK_EQ(store_begin(f.st), 0);
	CHECK_EQ(store_cert_insert(f.st, &dup), 0);
	CHECK_EQ(store_commit(f.st), 0);
	CHECK_EQ(ca_issue_commit(job), GP_ERR_EXISTS);
	job = NULL;
	CHECK_EQ(store_audit_count(f.st, &n0, &max), 0);
	CHECK_EQ(n0, n1 + 1);
	ca_issue_result_clear(&res);

	/* abandoned: audited, nothing stored */
	CHECK_EQ(start_issue(&f, csr, &res, &job), 0);
	ca_issue_job_free(job);
	job = NULL;
	{
		struct store_cert c;
		memset(&c, 0, sizeof(c));
		CHECK_EQ(store_cert_get(f.st, res.serial, &c),
		    GP_ERR_NOT_FOUND);
		store_cert_clear(&c);
	}
	CHECK_EQ(store_audit_count(f.st, &n1, &max), 0);
	CHECK_EQ(n1, n0 + 1);
	ca_issue_result_clear(&res);
	ca_issue_job_free(NULL);

	fx_close(&f);
	pthread_cond_destroy(&a.cv);
	pthread_mutex_destroy(&a.mu);
	free(csr);
	EVP_PKEY_free(k);
}

/* A certificate for |key| with subject |dn| ("/CN=x/O=y"), as an
 * officer profile or `govpki init` would name it; not signed by a CA
 * (only its subject matters to a person). */
static X509 *
person_cert(const char *dn)
{
	X509 *x = X509_new();
	X509_NAME *n = NULL;

	if (x == NULL || ca_name_parse(dn, &n) != 0 ||
	    X509_set_subject_name(x, n) != 1) {
		X509_free(x);
		x = NULL;
	}
	X509_NAME_free(n);
	return x;
}

static void
person_of(const char *dn, const char *idn, struct ca_person *out)
{
	X509 *x = person_cert(dn);

	memset(out, 0, sizeof(*out));
	CHECK(x != NULL);
	if (x != NULL)
		CHECK_EQ(ca_person_of_cert(x, idn, out), 0);
	X509_free(x);
}

/* Persons: one officer's certificates are one person whatever the order,
 * case or spacing of their names and whatever their title; a resident ID
 * number joins certificates with different names. */
static void
test_person(void)
{
	struct ca_person a, b, loc, empty;

	person_of("/CN=govpki officer/O=govpki/title=officer", NULL, &a);
	CHECK_STR(a.id, "dn:CN=govpki officer,O=govpki");
	CHECK_STR(a.idn, "");
	/* `govpki init` lists CN first, the officer profile O first. */
	person_of("/O=govpki/CN=govpki officer/title=officer", NULL, &b);
	CHECK(ca_person_same(&a, &b));
	person_of("/O=GOVPKI/CN=  govpki   Officer /title=auditor", NULL, &b);
	CHECK(ca_person_same(&a, &b));
	person_of("/O=govpki/CN=govpki officer", NULL, &b);
	CHECK(ca_person_same(&a, &b));
	/* Different persons. */
	person_of("/O=govpki/CN=王五/title=officer", NULL, &b);
	CHECK(!ca_person_same(&a, &b));
	person_of("/O=govpki/CN=govpki officer2", NULL, &b);
	CHECK(!ca_person_same(&a, &b));
	/* A comma in a value cannot forge a second attribute. */
	person_of("/CN=a,O=b", NULL, &a);
	person_of("/CN=a/O=b", NULL, &b);
	CHECK(!ca_person_same(&a, &b));
	/* The ID number: hashed, never in the identity; it joins
	 * certificates whose names differ. */
	person_of("/O=govpki/CN=张三", "11010519491231002X", &a);
	person_of("/O=govpki/CN=张三 (备用)", "11010519491231002X", &b);
	CHECK(strncmp(a.idn, "idn:", 4) == 0 && strlen(a.idn) == 68);
	CHECK(strstr(a.idn, "11010519") == NULL &&
	    strstr(a.id, "11010519") == NULL);
	CHECK(ca_person_same(&a, &b));
	person_of("/O=govpki/CN=张三 (备用)", "110105194912310011", &b);
	CHECK(!ca_person_same(&a, &b));
	/* The local operator is a person of its own. */
	CHECK_EQ(ca_person_local("local:alice", &loc), 0);
	CHECK_STR(loc.id, "local:alice");
	CHECK(!ca_person_same(&loc, &a));
	CHECK_EQ(ca_person_local("alice", &loc), GP_ERR_INVALID);
	/* Persons that cannot be told apart are one (dual control then
	 * refuses). */
	memset(&empty, 0, sizeof(empty));
	CHECK(ca_person_same(&empty, &a));
	CHECK(ca_person_same(NULL, &a));
	/* must fail: a subject of nothing but a title */
	{
		X509 *x = person_cert("/title=officer");
		CHECK(x != NULL && ca_person_of_cert(x, NULL, &a) ==
		    GP_ERR_INVALID);
		X509_free(x);
	}
}

/* The newest audit record's op and outcome into |op| / |outcome|. */
static void
last_audit(store *st, char *op, char *outcome, char *details, size_t len)
{
	struct store_audit_row row;
	uint8_t hash[32];
	int64_t seq = 0;

	memset(&row, 0, sizeof(row));
	op[0] = outcome[0] = details[0] = '\0';
	if (store_audit_head(st, &seq, hash) == 0 &&
	    store_audit_get(st, seq, &row) == 0) {
		snprintf(op, 32, "%s", row.op ? row.op : "");
		snprintf(outcome, 16, "%s", row.outcome ? row.outcome : "");
		snprintf(details, len, "%s", row.details ? row.details : "");
	}
	store_audit_row_clear(&row);
}

static char *
request_officer(struct fx *f, const struct ca_actor *who, const char *subj)
{
	struct ca_issue_result res;
	struct ca_issue_req req;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	char *csr = csr_pem(k), *rid = NULL;
	json_t *s = json_loads(subj, 0, NULL);

	memset(&res, 0, sizeof(res));
	memset(&req, 0, sizeof(req));
	req.profile = "officer";
	req.csr_pem = csr;
	req.csr_len = csr ? strlen(csr) : 0;
	req.subject = s;
	CHECK_EQ(ca_issue(&f->ca, who, &req, &res), 0);
	CHECK(res.pending && res.request_id != NULL);
	if (res.request_id != NULL)
		rid = strdup(res.request_id);
	ca_issue_result_clear(&res);
	json_decref(s);
	free(csr);
	EVP_PKEY_free(k);
	return rid;
}

/* Dual control between persons: an officer holding two certificates is
 * refused (403, audited) approving their own request with the second;
 * another person approves. A request stored before persons were kept
 * (requester: a serial) is resolved through that certificate. */
static void
test_dual_persons(void)
{
	struct fx f;
	struct ca_issue_result res;
	struct ca_person a1, a2, b, local;
	struct ca_actor wa1 = {"CN=A,serial=a1", "officer", &a1, NULL, NULL};
	struct ca_actor wa2 = {"CN=A,serial=a2", "officer", &a2, NULL, NULL};
	struct ca_actor wb = {"CN=B,serial=b", "officer", &b, NULL, NULL};
	struct ca_actor wl = {"local:root", "local", &local, NULL, NULL};
	char op[32], outcome[16], details[1024], *rid = NULL;

	memset(&res, 0, sizeof(res));
	CHECK_EQ(fx_open(&f), 0);
	/* One officer, two certificates: `govpki init`'s and a second one
	 * issued under the officer profile (other order of attributes). */
	person_of("/CN=govpki officer/O=govpki/title=officer", NULL, &a1);
	person_of("/O=govpki/CN=govpki officer/title=officer", NULL, &a2);
	person_of("/O=govpki/CN=王五/title=officer", NULL, &b);
	CHECK_EQ(ca_person_local("local:root", &local), 0);

	rid = request_officer(&f, &wa1, "{\"name\":\"新人\",\"role\":"
	    "\"auditor\"}");
	/* must fail: the second certificate of the requester */
	CHECK_EQ(ca_request_approve(&f.ca, &wa2, rid, &res), GP_ERR_DENIED);
	CHECK_CONTAINS(gp_err_detail(), "not with another certificate");
	last_audit(f.st, op, outcome, details, sizeof(details));
	CHECK_STR(op, "cert.approve");
	CHECK_STR(outcome, "denied");
	CHECK_CONTAINS(details, "CN=A,serial=a1");
	CHECK_EQ(ca_request_approve(&f.ca, &wa1, rid, &res), GP_ERR_DENIED);
	/* another person does */
	CHECK_EQ(ca_request_approve(&f.ca, &wb, rid, &res), 0);
	CHECK(res.serial != NULL);
	last_audit(f.st, op, outcome, details, sizeof(details));
	CHECK_STR(op, "cert.issue");
	CHECK_STR(outcome, "success");
	CHECK_CONTAINS(details, rid != NULL ? rid : "?");
	ca_issue_result_clear(&res);
	free(rid);

	/* An ID number makes two names one person. */
	person_of("/O=govpki/CN=张三", "11010519491231002X", &a1);
	person_of("/O=govpki/CN=张三 (二)", "11010519491231002X", &a2);
	rid = request_officer(&f, &wa1, "{\"name\":\"x\",\"role\":"
	    "\"auditor\"}");
	CHECK_EQ(ca_request_approve(&f.ca, &wa2, rid, &res), GP_ERR_DENIED);
	CHECK_EQ(ca_request_approve(&f.ca, &wl, rid, &res), 0);
	ca_issue_result_clear(&res);
	free(rid);

	/* A request kept from before: its requester is the serial of the
	 * certificate it came with; the store's copy of that certificate
	 * says who it was. */
	{
		struct store_request sr;
		struct store_cert sc;
		struct ca_person holder;
		struct ca_actor wh = {"CN=H", "officer", &holder, NULL, NULL};
		X509 *x;
		const unsigned char *p;
		char *legacy_serial = NULL;

		/* The certificate just issued (an auditor certificate for
		 * "x" of O=govpki) is in the store. */
		rid = request_officer(&f, &wb, "{\"name\":\"y\",\"role\":"
		    "\"auditor\"}");
		CHECK_EQ(ca_request_approve(&f.ca, &wl, rid, &res), 0);
		legacy_serial = res.serial ? strdup(res.serial) : NULL;
		ca_issue_result_clear(&res);
		free(rid);
		memset(&sc, 0, sizeof(sc));
		CHECK_EQ(store_cert_get(f.st, legacy_serial, &sc), 0);
		p = sc.der;
		x = d2i_X509(NULL, &p, (long)sc.der_len);
		CHECK(x != NULL && ca_person_of_cert(x, NULL, &holder) == 0);
		X509_free(x);
		store_cert_clear(&sc);
		/* ... and made a request before the upgrade. */
		memset(&sr, 0, sizeof(sr));
		sr.id = (char *)"0123456789abcdef0123456789abcdef";
		sr.profile = (char *)"tsa";
		sr.requester = legacy_serial;
		sr.requester_actor = (char *)"CN=y,serial=old";
		sr.body = (char *)"{}";
		sr.created_ms = 1;
		CHECK_EQ(store_begin(f.st), 0);
		CHECK_EQ(store_request_insert(f.st, &sr), 0);
		CHECK_EQ(store_commit(f.st), 0);
		CHECK_EQ(ca_request_approve(&f.ca, &wh, sr.id, &res),
		    GP_ERR_DENIED);
		free(legacy_serial);
	}
	fx_close(&f);
}

/* Requests listed, shown with what they would issue, refused with a
 * reason (audited), and a refused request never approved. */
static void
test_requests(void)
{
	struct fx f;
	struct ca_issue_result res;
	struct store_request_query q;
	json_t *j = NULL, *is;
	char op[32], outcome[16], details[1024], *r1, *r2, *r3;
	const char *fp;

	memset(&res, 0, sizeof(res));
	CHECK_EQ(fx_open(&f), 0);
	r1 = request_officer(&f, &who1, "{\"name\":\"王五\",\"role\":"
	    "\"officer\"}");
	r2 = request_officer(&f, &who1, "{\"name\":\"赵六\",\"role\":"
	    "\"auditor\",\"id_number\":\"11010519491231002X\"}");
	r3 = request_officer(&f, &who2, "{\"name\":\"孙七\",\"role\":"
	    "\"sysadmin\"}");

	/* Show: everything approving would issue. */
	CHECK_EQ(ca_request_get(&f.ca, r2, &j), 0);
	CHECK_STR(json_string_value(json_object_get(j, "status")), "pending");
	CHECK_STR(json_string_value(json_object_get(j, "requester")),
	    who1.actor);
	CHECK_STR(json_string_value(json_object_get(j, "requester_id")),
	    person1.id);
	is = json_object_get(j, "issue");
	CHECK(json_is_true(json_object_get(is, "issuable")));
	CHECK_STR(json_string_value(json_object_get(is, "profile")),
	    "officer");
	CHECK_STR(json_string_value(json_object_get(is, "role")), "auditor");
	CHECK_CONTAINS(json_string_value(json_object_get(is, "subject")),
	    "CN=赵六");
	CHECK_CONTAINS(json_string_value(json_object_get(is, "subject")),
	    "title=auditor");
	/* The ID number is kept out of the certificate by the profile. */
	CHECK(strstr(json_string_value(json_object_get(is, "subject")),
	    "11010519") == NULL);
	CHECK_STR(json_string_value(json_object_get(json_object_get(is, "key"),
	    "type")), "ec-p256");
	fp = json_string_value(json_object_get(json_object_get(is, "key"),
	    "fingerprint"));
	CHECK(fp != NULL && strncmp(fp, "sha256:", 7) == 0 &&
	    strlen(fp) == 7 + 32 * 3 - 1);
	CHECK_EQ(json_integer_value(json_object_get(is, "validity_days")),
	    365);
	CHECK(json_integer_value(json_object_get(is, "not_after")) >
	    json_integer_value(json_object_get(is, "not_before")));
	CHECK_CONTAINS(json_string_value(json_object_get(is, "key_usage")),
	    "digitalSignature");
	json_decref(j);
	j = NULL;
	CHECK_EQ(ca_request_get(&f.ca, "0123456789abcdef0123456789abcdef", &j),
	    GP_ERR_NOT_FOUND);
	CHECK_EQ(ca_request_get(&f.ca, "../x", &j), GP_ERR_INVALID);

	/* List: filters and paging. */
	memset(&q, 0, sizeof(q));
	q.limit = 100;
	q.status = "pending";
	CHECK_EQ(ca_request_list(&f.ca, &q, &j), 0);
	CHECK_EQ(json_array_size(json_object_get(j, "requests")), 3);
	CHECK(json_is_null(json_object_get(j, "next_after")));
	json_decref(j);
	q.requester = person2.id;
	CHECK_EQ(ca_request_list(&f.ca, &q, &j), 0);
	CHECK_EQ(json_array_size(json_object_get(j, "requests")), 1);
	CHECK_STR(json_string_value(json_object_get(json_array_get(
	    json_object_get(j, "requests"), 0), "id")), r3);
	json_decref(j);
	q.requester = NULL;
	q.limit = 2;
	CHECK_EQ(ca_request_list(&f.ca, &q, &j), 0);
	CHECK_EQ(json_array_size(json_object_get(j, "requests")), 2);
	CHECK_STR(json_string_value(json_object_get(j, "next_after")), r2);
	json_decref(j);
	q.after = r2;
	CHECK_EQ(ca_request_list(&f.ca, &q, &j), 0);
	CHECK_EQ(json_array_size(json_object_get(j, "requests")), 1);
	json_decref(j);
	q.after = NULL;
	q.limit = 100;
	q.profile = "tsa";
	CHECK_EQ(ca_request_list(&f.ca, &q, &j), 0);
	CHECK_EQ(json_array_size(json_object_get(j, "requests")), 0);
	json_decref(j);
	j = NULL;

	/* Refuse: a reason is required and must be text. */
	CHECK_EQ(ca_request_refuse(&f.ca, &who2, r1, NULL), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "reason: required");
	CHECK_EQ(ca_request_refuse(&f.ca, &who2, r1, "ok\xe2\x80\xae"),
	    GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "reason: character 3 is U+202E");
	CHECK_EQ(ca_request_refuse(&f.ca, &who2, r1, "不是本单位人员"), 0);
	last_audit(f.st, op, outcome, details, sizeof(details));
	CHECK_STR(op, "cert.refuse");
	CHECK_STR(outcome, "success");
	CHECK_CONTAINS(details, "不是本单位人员");
	/* must fail: approving or refusing it again */
	CHECK_EQ(ca_request_approve(&f.ca, &who2, r1, &res), GP_ERR_CONFLICT);
	CHECK_CONTAINS(gp_err_detail(), "is refused, no longer pending");
	last_audit(f.st, op, outcome, details, sizeof(details));
	CHECK_STR(op, "cert.approve");
	CHECK_STR(outcome, "failure");
	CHECK_EQ(ca_request_refuse(&f.ca, &who2, r1, "again"),
	    GP_ERR_CONFLICT);
	CHECK_EQ(ca_request_refuse(&f.ca, &who2,
	    "0123456789abcdef0123456789abcdef", "x"), GP_ERR_NOT_FOUND);
	CHECK_EQ(ca_request_get(&f.ca, r1, &j), 0);
	CHECK_STR(json_string_value(json_object_get(j, "status")), "refused");
	CHECK_STR(json_string_value(json_object_get(j, "reason")),
	    "不是本单位人员");
	CHECK_STR(json_string_value(json_object_get(j, "decided_by")),
	    who2.actor);
	json_decref(j);
	/* The requester may withdraw their own request. */
	CHECK_EQ(ca_request_refuse(&f.ca, &who2, r3, "withdrawn"), 0);
	/* Approved requests list as such, with their serial. */
	CHECK_EQ(ca_request_approve(&f.ca, &who2, r2, &res), 0);
	ca_issue_result_clear(&res);
	memset(&q, 0, sizeof(q));
	q.limit = 100;
	q.status = "approved";
	CHECK_EQ(ca_request_list(&f.ca, &q, &j), 0);
	CHECK_EQ(json_array_size(json_object_get(j, "requests")), 1);
	CHECK(json_string_value(json_object_get(json_array_get(
	    json_object_get(j, "requests"), 0), "serial")) != NULL);
	json_decref(j);
	free(r1);
	free(r2);
	free(r3);
	fx_close(&f);
}

/* The one rule for failures: a failure is audited once, by the entry
 * point called, under its operation. An approval whose commit fails (the
 * decision refused by the store) leaves one "cert.approve" failure naming
 * the serial that was signed and never stored, and no "cert.issue"
 * record; a refused request outside its profile leaves one "cert.issue"
 * failure. */
static void
test_one_failure_record(void)
{
	struct fx f;
	struct ca_issue_result res;
	char op[32], outcome[16], details[1024], db[160], *rid;
	int64_t n0 = 0, n1 = 0, max = 0, certs0 = 0, certs1 = 0;
	sqlite3 *raw = NULL;

	memset(&res, 0, sizeof(res));
	CHECK_EQ(fx_open(&f), 0);
	rid = request_officer(&f, &who1, "{\"name\":\"甲\",\"role\":"
	    "\"officer\"}");
	snprintf(db, sizeof(db), "%s/t.db", tdir);
	CHECK_EQ(sqlite3_open(db, &raw), SQLITE_OK);
	sqlite3_busy_timeout(raw, 5000);
	CHECK_EQ(sqlite3_exec(raw, "CREATE TRIGGER t_nodecide BEFORE UPDATE ON "
	    "requests BEGIN SELECT RAISE(ABORT, 'injected'); END", NULL, NULL,
	    NULL), SQLITE_OK);
	CHECK_EQ(store_audit_count(f.st, &n0, &max), 0);
	CHECK_EQ(store_cert_count(f.st, &certs0), 0);
	CHECK(ca_request_approve(&f.ca, &who2, rid, &res) != 0);
	CHECK(res.serial == NULL && res.cert_pem == NULL);
	CHECK_EQ(store_audit_count(f.st, &n1, &max), 0);
	CHECK_EQ(store_cert_count(f.st, &certs1), 0);
	CHECK_EQ(n1, n0 + 1);
	CHECK_EQ(certs1, certs0);
	last_audit(f.st, op, outcome, details, sizeof(details));
	CHECK_STR(op, "cert.approve");
	CHECK_STR(outcome, "failure");
	CHECK_CONTAINS(details, "injected");
	CHECK_CONTAINS(details, "\"serial\":");
	CHECK_EQ(sqlite3_exec(raw, "DROP TRIGGER t_nodecide", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(raw);
	/* Once the store takes it, the same request is approved. */
	CHECK_EQ(ca_request_approve(&f.ca, &who2, rid, &res), 0);
	ca_issue_result_clear(&res);

	/* A request outside its profile: one record, cert.issue failure. */
	CHECK_EQ(store_audit_count(f.st, &n0, &max), 0);
	CHECK_EQ(issue(&f, "enterprise", "x", "{}", &res), GP_ERR_INVALID);
	CHECK_EQ(store_audit_count(f.st, &n1, &max), 0);
	CHECK_EQ(n1, n0 + 1);
	last_audit(f.st, op, outcome, details, sizeof(details));
	CHECK_STR(op, "cert.issue");
	CHECK_STR(outcome, "failure");
	free(rid);
	fx_close(&f);
}

int
main(void)
{
	char cmd[96];

	snprintf(tdir, sizeof(tdir), "/tmp/govpki-ca-issue.XXXXXX");
	if (mkdtemp(tdir) == NULL)
		return 1;
	RUN(test_uscc);
	RUN(test_text_check);
	RUN(test_resident_id);
	RUN(test_reasons);
	RUN(test_profiles);
	RUN(test_issue);
	RUN(test_lint);
	RUN(test_dual_and_revoke);
	RUN(test_csr);
	RUN(test_issue_async);
	RUN(test_person);
	RUN(test_dual_persons);
	RUN(test_requests);
	RUN(test_one_failure_record);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tdir);
	return test_done("ca_issue");
}
