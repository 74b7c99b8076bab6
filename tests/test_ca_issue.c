/*
 * test_ca_issue.c: issuance under profiles, in process with software CA
 * keys and a temporary store: USCC and resident ID check characters (the
 * valid examples of DOMAIN.md and must-fail variants), profile loading
 * (the shipped policies/ and a bad file named with its field), issuance
 * through the store and the audit, refusals naming the field, the
 * self-check catching certificates that must not be signed, dual control
 * and the revocation state machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

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
test_profiles(void)
{
	struct gp_config *cfg = test_cfg(GP_POLICIES_DIR);
	struct ca_profiles *ps = NULL;
	const struct ca_profile *p;
	char dir[128], path[160];
	FILE *f;

	CHECK(cfg != NULL);
	CHECK_EQ(ca_profiles_load(cfg, &ps), 0);
	CHECK_EQ(ca_profiles_count(ps), 8);
	CHECK((p = ca_profile_find(ps, "enterprise")) != NULL &&
	    !ca_profile_dual_control(p));
	CHECK((p = ca_profile_find(ps, "sub-ca")) != NULL &&
	    ca_profile_dual_control(p) && p->issuer == GP_KEY_ROOT);
	CHECK((p = ca_profile_find(ps, "tsa")) != NULL && p->dual_control);
	CHECK((p = ca_profile_find(ps, "ocsp-signer")) != NULL &&
	    p->dual_control && p->ocsp_nocheck);
	CHECK((p = ca_profile_find(ps, "officer")) != NULL && p->dual_control);
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

static struct ca_actor who1 = {"CN=officer1,serial=1", "officer", "1", NULL,
    NULL};
static struct ca_actor who2 = {"CN=officer2,serial=2", "officer", "2", NULL,
    NULL};

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
	CHECK_EQ(issue(&f, "citizen", csr, "{\"name\":\"张三\",\"id_number\":"
	    "\"11010519491231002X\"}", &res), 0);
	ca_issue_result_clear(&res);
	/* Every certificate in the store, audited with it. */
	CHECK_EQ(store_cert_count(f.st, &n), 0);
	CHECK_EQ(n, 3);
	{
		int64_t cnt = 0, max = 0;
		CHECK_EQ(store_audit_count(f.st, &cnt, &max), 0);
		CHECK(cnt >= 9); /* 3 issued + 6 refused */
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
	CHECK_EQ(ca_request_approve(&f.ca, &who2, "00", &res2),
	    GP_ERR_NOT_FOUND);
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

int
main(void)
{
	char cmd[96];

	snprintf(tdir, sizeof(tdir), "/tmp/govpki-ca-issue.XXXXXX");
	if (mkdtemp(tdir) == NULL)
		return 1;
	RUN(test_uscc);
	RUN(test_resident_id);
	RUN(test_reasons);
	RUN(test_profiles);
	RUN(test_issue);
	RUN(test_lint);
	RUN(test_dual_and_revoke);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tdir);
	return test_done("ca_issue");
}
