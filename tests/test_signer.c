/*
 * test_signer.c: unit tests of signer/: NULL and bounds first, then the
 * streamed digest, a sign/verify round trip with software keys and a
 * throwaway CA, status from the store (revoked with no time-stamp:
 * unproven), the step attribute and approval policies, a digest under the
 * wrong algorithm, the checks of fetched OCSP responses and CRLs, and a
 * few thousand corrupted signatures that must be refused or reported,
 * never crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "ca/ca.h"
#include "signer/internal.h"
#include "signer/signer.h"
#include "tests/test.h"

static char tmpdir[] = "/tmp/govpki-test-signer.XXXXXX";

struct pki {
	EVP_PKEY *root_key, *leaf_key, *other_key;
	X509 *root, *leaf;
	STACK_OF(X509) *anchors;
};
static struct pki pki;

static X509 *
mk_cert(const char *cn, EVP_PKEY *pub, X509 *issuer, EVP_PKEY *ikey,
    int is_ca, const char *ku)
{
	struct ca_cert_spec spec;
	X509_NAME *name = NULL;
	X509 *x = NULL;
	char *serial = NULL, text[128];

	snprintf(text, sizeof(text), "/CN=%s/O=测试单位/title=officer", cn);
	if (ca_name_parse(text, &name) != 0)
		return NULL;
	memset(&spec, 0, sizeof(spec));
	spec.subject = name;
	spec.pubkey = pub;
	spec.issuer_cert = issuer;
	spec.issuer_key = ikey;
	spec.not_before = time(NULL) - 3600;
	spec.not_after = time(NULL) + 86400;
	spec.is_ca = is_ca;
	spec.path_len = is_ca ? 0 : -1;
	spec.key_usage = ku;
	if (ca_cert_sign(&spec, &x, &serial) != 0)
		x = NULL;
	free(serial);
	X509_NAME_free(name);
	return x;
}

static void
pki_setup(void)
{
	pki.root_key = EVP_EC_gen("P-256");
	pki.leaf_key = EVP_EC_gen("P-256");
	pki.other_key = EVP_EC_gen("P-256");
	pki.root = mk_cert("root", pki.root_key, NULL, pki.root_key, 1,
	    "critical,keyCertSign,cRLSign");
	pki.leaf = mk_cert("signer", pki.leaf_key, pki.root, pki.root_key, 0,
	    "critical,digitalSignature,nonRepudiation");
	pki.anchors = sk_X509_new_null();
	X509_up_ref(pki.root);
	sk_X509_push(pki.anchors, pki.root);
}

static int
sign_digest(const uint8_t *digest, const char *step, const uint8_t *add,
    size_t add_len, uint8_t **der, size_t *der_len)
{
	struct sig_signer sg = {pki.leaf_key, pki.leaf, NULL};
	struct sig_sign_req rq;

	memset(&rq, 0, sizeof(rq));
	rq.signer = &sg;
	rq.digest = digest;
	rq.digest_len = 32;
	rq.step = step;
	rq.add_to = add;
	rq.add_to_len = add_len;
	return sig_sign(&rq, der, der_len, NULL);
}

static int
verify(const uint8_t *der, size_t len, const uint8_t *digest,
    const EVP_MD *md, store *st, const struct sig_policy *pol,
    json_t **rep, int *valid)
{
	struct sig_trust tr;
	struct sig_verify_req vr;

	memset(&tr, 0, sizeof(tr));
	memset(&vr, 0, sizeof(vr));
	tr.anchors = pki.anchors;
	tr.st = st;
	tr.policy = pol;
	vr.p7s = der;
	vr.p7s_len = len;
	vr.digest = digest;
	vr.digest_len = (size_t)EVP_MD_get_size(md);
	vr.digest_md = md;
	vr.trust = &tr;
	return sig_verify(&vr, rep, valid);
}

static int
report_has(json_t *rep, const char *needle)
{
	char *s = json_dumps(rep, 0);
	int found = s != NULL && strstr(s, needle) != NULL;

	if (!found)
		fprintf(stderr, "  report lacks \"%s\": %s\n", needle,
		    s ? s : "");
	free(s);
	return found;
}

static void
test_null_and_bounds(void)
{
	uint8_t *out = NULL, md[1][EVP_MAX_MD_SIZE];
	size_t len = 0;
	json_t *rep = NULL;
	int valid = 1;
	const EVP_MD *sha = EVP_sha256();
	struct sig_verify_req vr;

	CHECK(sig_sign(NULL, &out, &len, NULL) == GP_ERR_INVALID);
	CHECK(sig_verify(NULL, &rep, &valid) == GP_ERR_INVALID && !valid);
	memset(&vr, 0, sizeof(vr));
	CHECK(sig_verify(&vr, &rep, &valid) == GP_ERR_INVALID);
	CHECK(sig_p7s_der(NULL, 0, &out, &len) == GP_ERR_INVALID);
	CHECK(sig_p7s_der((const uint8_t *)"hello", 5, &out, &len) ==
	    GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "signature:");
	CHECK(sig_b64_decode("document", "!!!!", 100, &out, &len) ==
	    GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "document");
	CHECK(sig_b64_decode("document", "QUFBQUFBQUFBQUFB", 4, &out, &len) ==
	    GP_ERR_TOO_LARGE);
	CHECK(sig_b64_decode("d", "QUJD", 10, &out, &len) == 0 && len == 3 &&
	    memcmp(out, "ABC", 3) == 0);
	free(out);
	CHECK(sig_digest_file("/nonexistent/x", &sha, 1, md) ==
	    GP_ERR_NOT_FOUND);
	CHECK_CONTAINS(gp_err_detail(), "/nonexistent/x");
	CHECK(sig_digest_file("/dev/null", &sha, 0, md) == GP_ERR_INVALID);
}

static void
test_digest_stream(void)
{
	char path[300];
	uint8_t *buf = malloc(1000003), md[2][EVP_MAX_MD_SIZE], want[64];
	const EVP_MD *mds[2] = {EVP_sha256(), EVP_sha384()};
	FILE *f;

	snprintf(path, sizeof(path), "%s/doc", tmpdir);
	CHECK(buf != NULL && RAND_bytes(buf, 1000003) == 1);
	CHECK((f = fopen(path, "wb")) != NULL);
	fwrite(buf, 1, 1000003, f);
	fclose(f);
	CHECK(sig_digest_file(path, mds, 2, md) == 0);
	EVP_Digest(buf, 1000003, want, NULL, EVP_sha256(), NULL);
	CHECK(memcmp(md[0], want, 32) == 0);
	EVP_Digest(buf, 1000003, want, NULL, EVP_sha384(), NULL);
	CHECK(memcmp(md[1], want, 48) == 0);
	free(buf);
}

static void
test_round_trip(void)
{
	uint8_t digest[32], other[32], *der = NULL;
	size_t len = 0;
	json_t *rep = NULL;
	int valid = 0;
	struct sig_signer sg = {pki.leaf_key, pki.leaf, NULL};
	struct sig_sign_req rq;

	memset(digest, 7, sizeof(digest));
	memset(other, 8, sizeof(other));
	CHECK(sign_digest(digest, NULL, NULL, 0, &der, &len) == 0);
	/* No store and no CRL: the status cannot be known, so not valid. */
	CHECK(verify(der, len, digest, EVP_sha256(), NULL, NULL, &rep,
	    &valid) == 0 && !valid);
	CHECK(report_has(rep, "status unknown"));
	CHECK(report_has(rep, "\"signature\": \"ok\"") ||
	    report_has(rep, "\"signature\":\"ok\""));
	CHECK(report_has(rep, "B-B"));
	json_decref(rep);
	CHECK(verify(der, len, other, EVP_sha256(), NULL, NULL, &rep,
	    &valid) == 0 && !valid);
	CHECK(report_has(rep, "the document differs"));
	json_decref(rep);
	/* A SHA-384 digest cannot check a SHA-256 signature. */
	{
		uint8_t d384[48] = {0};
		CHECK(verify(der, len, d384, EVP_sha384(), NULL, NULL, &rep,
		    &valid) == 0 && !valid);
		CHECK(report_has(rep, "given as a SHA384 digest") &&
		    report_has(rep, "digest"));
		json_decref(rep);
	}
	OPENSSL_free(der);
	/* The certificate must belong to the key. */
	memset(&rq, 0, sizeof(rq));
	sg.key = pki.other_key;
	rq.signer = &sg;
	rq.digest = digest;
	rq.digest_len = 32;
	CHECK(sig_sign(&rq, &der, &len, NULL) == GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "does not belong");
	rq.digest_len = 20;
	sg.key = pki.leaf_key;
	CHECK(sig_sign(&rq, &der, &len, NULL) == GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "32 bytes");
}

static void
test_store_status(void)
{
	char path[300], *serial;
	store *st = NULL;
	struct store_cert sc;
	uint8_t digest[32], *der = NULL, *cder = NULL;
	size_t len = 0;
	json_t *rep = NULL;
	int valid = 0, n;

	snprintf(path, sizeof(path), "%s/store.db", tmpdir);
	CHECK(store_open(path, 1, &st) == 0);
	memset(&sc, 0, sizeof(sc));
	serial = ca_serial_hex(pki.leaf);
	n = i2d_X509(pki.leaf, &cder);
	sc.serial = serial;
	sc.issuer = (char *)"ca";
	sc.profile = (char *)"enterprise";
	sc.subject = (char *)"CN=signer";
	sc.status = (char *)"good";
	sc.reason = -1;
	sc.der = cder;
	sc.der_len = (size_t)n;
	CHECK(store_begin(st) == 0 && store_cert_insert(st, &sc) == 0 &&
	    store_commit(st) == 0);
	memset(digest, 9, sizeof(digest));
	CHECK(sign_digest(digest, NULL, NULL, 0, &der, &len) == 0);
	CHECK(verify(der, len, digest, EVP_sha256(), st, NULL, &rep, &valid) ==
	    0 && valid);
	json_decref(rep);
	/* Revoked, and no time-stamp proves the signature came before. */
	CHECK(store_begin(st) == 0 && store_cert_set_status(st, serial,
	    "revoked", time(NULL) - 10, 1, 0) == 0 && store_commit(st) == 0);
	CHECK(verify(der, len, digest, EVP_sha256(), st, NULL, &rep, &valid) ==
	    0 && !valid);
	CHECK(report_has(rep, "unproven"));
	json_decref(rep);
	OPENSSL_free(der);
	OPENSSL_free(cder);
	free(serial);
	store_free(st);
}

/* A basic OCSP response "good" for |id|, signed by |x| with |key|, with
 * nonce |nonce| (none when NULL); DER length, or -1. */
static int
mk_ocsp(OCSP_CERTID *id, X509 *x, EVP_PKEY *key, OCSP_REQUEST *nonce,
    uint8_t **der)
{
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	OCSP_RESPONSE *resp = NULL;
	ASN1_TIME *tu = X509_gmtime_adj(NULL, -60);
	ASN1_TIME *nu = X509_gmtime_adj(NULL, 3600);
	int len = -1;

	*der = NULL;
	if (bs != NULL && tu != NULL && nu != NULL &&
	    OCSP_basic_add1_status(bs, id, V_OCSP_CERTSTATUS_GOOD, -1, NULL,
	    tu, nu) != NULL &&
	    (nonce == NULL || OCSP_copy_nonce(bs, nonce) == 1) &&
	    OCSP_basic_sign(bs, x, key, EVP_sha256(), NULL, 0) == 1 &&
	    (resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL,
	    bs)) != NULL)
		len = i2d_OCSP_RESPONSE(resp, der);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	return len;
}

static void
test_fetched_replies(void)
{
	struct sig_trust tr;
	struct sig_status st;
	STACK_OF(X509) *chain = sk_X509_new_null();
	OCSP_REQUEST *req = OCSP_REQUEST_new(), *other = OCSP_REQUEST_new();
	OCSP_CERTID *id = OCSP_cert_to_id(EVP_sha1(), pki.leaf, pki.root);
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *tu = X509_gmtime_adj(NULL, -60);
	ASN1_TIME *nu = X509_gmtime_adj(NULL, 3600);
	const char *url = "http://status.test.invalid/";
	uint8_t *der = NULL;
	int len;

	memset(&tr, 0, sizeof(tr));
	tr.anchors = pki.anchors;
	CHECK(chain != NULL && req != NULL && other != NULL && id != NULL &&
	    sk_X509_push(chain, pki.leaf) && sk_X509_push(chain, pki.root));
	CHECK(OCSP_request_add0_id(req, OCSP_CERTID_dup(id)) != NULL &&
	    OCSP_request_add1_nonce(req, NULL, -1) == 1 &&
	    OCSP_request_add1_nonce(other, NULL, -1) == 1);
	/* The nonce echoed. */
	CHECK((len = mk_ocsp(id, pki.root, pki.root_key, req, &der)) > 0);
	memset(&st, 0, sizeof(st));
	CHECK(sig_ocsp_check(&tr, chain, req, id, url, der, (size_t)len,
	    &st) == 0 && st.state == SIG_ST_GOOD);
	OPENSSL_free(der);
	/* No nonce (RFC 5019 pre-produced), bounded by nextUpdate. */
	CHECK((len = mk_ocsp(id, pki.root, pki.root_key, NULL, &der)) > 0);
	memset(&st, 0, sizeof(st));
	CHECK(sig_ocsp_check(&tr, chain, req, id, url, der, (size_t)len,
	    &st) == 0 && st.state == SIG_ST_GOOD);
	/* Trailing bytes. */
	memset(&st, 0, sizeof(st));
	CHECK(sig_ocsp_check(&tr, chain, req, id, url, der, (size_t)len + 1,
	    &st) == GP_ERR_INVALID && st.state == SIG_ST_UNKNOWN);
	OPENSSL_free(der);
	/* Another request's nonce: a replay. */
	CHECK((len = mk_ocsp(id, pki.root, pki.root_key, other, &der)) > 0);
	memset(&st, 0, sizeof(st));
	CHECK(sig_ocsp_check(&tr, chain, req, id, url, der, (size_t)len,
	    &st) == GP_ERR_TAMPERED && st.state == SIG_ST_UNKNOWN);
	OPENSSL_free(der);
	/* Signed by a certificate the issuer did not authorise for OCSP. */
	CHECK((len = mk_ocsp(id, pki.leaf, pki.leaf_key, NULL, &der)) > 0);
	memset(&st, 0, sizeof(st));
	CHECK(sig_ocsp_check(&tr, chain, req, id, url, der, (size_t)len,
	    &st) == GP_ERR_TAMPERED && st.state == SIG_ST_UNKNOWN);
	OPENSSL_free(der);
	der = NULL;
	/* A current CRL of the issuer, empty: good; by another key: no. */
	CHECK(crl != NULL && tu != NULL && nu != NULL &&
	    X509_CRL_set_version(crl, X509_CRL_VERSION_2) &&
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(pki.root)) &&
	    X509_CRL_set1_lastUpdate(crl, tu) &&
	    X509_CRL_set1_nextUpdate(crl, nu));
	CHECK(X509_CRL_sign(crl, pki.root_key, EVP_sha256()) > 0 &&
	    (len = i2d_X509_CRL(crl, &der)) > 0);
	memset(&st, 0, sizeof(st));
	CHECK(sig_crl_check(pki.leaf, pki.root, url, -1, der, (size_t)len, 0,
	    &st) == 0 && st.state == SIG_ST_GOOD);
	memset(&st, 0, sizeof(st));
	CHECK(sig_crl_check(pki.leaf, pki.root, url, -1, der, (size_t)len - 1,
	    0, &st) == GP_ERR_INVALID && st.state == SIG_ST_UNKNOWN);
	OPENSSL_free(der);
	der = NULL;
	CHECK(X509_CRL_sign(crl, pki.other_key, EVP_sha256()) > 0 &&
	    (len = i2d_X509_CRL(crl, &der)) > 0);
	memset(&st, 0, sizeof(st));
	CHECK(sig_crl_check(pki.leaf, pki.root, url, -1, der, (size_t)len, 0,
	    &st) == GP_ERR_TAMPERED && st.state == SIG_ST_UNKNOWN);
	OPENSSL_free(der);
	X509_CRL_free(crl);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	OCSP_REQUEST_free(other);
	sk_X509_free(chain);
}

static void
test_policy(void)
{
	char path[300], bad[300];
	struct sig_policy *p = NULL;
	const char *done1[] = {"accept"};
	const char *done2[] = {"accept", "handle", "approve"};
	FILE *f;
	uint8_t digest[32], *d1 = NULL, *d2 = NULL, *d3 = NULL;
	size_t l1, l2, l3, n = 0;
	char **steps = NULL;
	json_t *rep = NULL;
	int valid = 1;

	snprintf(path, sizeof(path), "%s/approvals", tmpdir);
	CHECK(gp_mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/approvals/five.json", tmpdir);
	CHECK((f = fopen(path, "w")) != NULL);
	fputs("{\"name\":\"five\",\"steps\":[{\"name\":\"accept\"},"
	    "{\"name\":\"handle\",\"repeatable\":true},{\"name\":\"review\","
	    "\"optional\":true},{\"name\":\"approve\",\"signers\":[{\"role\":"
	    "\"officer\",\"organization\":\"测试单位\"}]},"
	    "{\"name\":\"conclude\"}]}", f);
	fclose(f);
	snprintf(bad, sizeof(bad), "%s/approvals/bad.json", tmpdir);
	CHECK((f = fopen(bad, "w")) != NULL);
	fputs("{\"name\":\"bad\",\"steps\":[{\"name\":\"a\",\"optinal\":true}]}",
	    f);
	fclose(f);
	CHECK(sig_policy_load(tmpdir, "bad", &p) == GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "steps[0].optinal");
	CHECK(sig_policy_load(tmpdir, "../etc/passwd", &p) == GP_ERR_NOT_FOUND ||
	    p == NULL);
	CHECK(sig_policy_load(tmpdir, "Bad Name", &p) == GP_ERR_INVALID);
	CHECK(sig_policy_load(tmpdir, "five", &p) == 0 && p != NULL);
	CHECK(sig_policy_may_add(p, NULL, 0, "accept") == 0);
	CHECK(sig_policy_may_add(p, NULL, 0, "handle") == GP_ERR_CONFLICT);
	CHECK(sig_policy_may_add(p, done1, 1, "handle") == 0);
	CHECK(sig_policy_may_add(p, done1, 1, "accept") == GP_ERR_CONFLICT);
	CHECK(sig_policy_may_add(p, done1, 1, "approve") == GP_ERR_CONFLICT);
	CHECK_CONTAINS(gp_err_detail(), "handle is missing");
	CHECK(sig_policy_may_add(p, done2, 3, "conclude") == 0);
	CHECK(sig_policy_may_add(p, done2, 3, "handle") == GP_ERR_CONFLICT);
	CHECK(sig_policy_may_add(p, done2, 3, "nosuch") == GP_ERR_INVALID);
	/* Steps in one SignedData, read back in order. */
	memset(digest, 3, sizeof(digest));
	CHECK(sign_digest(digest, "accept", NULL, 0, &d1, &l1) == 0);
	CHECK(sign_digest(digest, "handle", d1, l1, &d2, &l2) == 0);
	CHECK(sig_steps_read(d2, l2, &steps, &n) == 0 && n == 2);
	sig_steps_free(steps, n);
	/* Another document cannot be added to. */
	digest[0] ^= 1;
	CHECK(sign_digest(digest, "approve", d2, l2, &d3, &l3) ==
	    GP_ERR_INVALID);
	digest[0] ^= 1;
	CHECK(verify(d2, l2, digest, EVP_sha256(), NULL, p, &rep, &valid) ==
	    0 && !valid);
	CHECK(report_has(rep, "step approve is missing"));
	json_decref(rep);
	OPENSSL_free(d1);
	OPENSSL_free(d2);
	sig_policy_free(p);
}

/* Corrupted signatures: every answer is an error or a report. */
static void
test_corrupted(void)
{
	uint8_t digest[32], *der = NULL, *bad;
	size_t len = 0, i;
	json_t *rep;
	int valid, r, crashed_valid = 0;

	memset(digest, 5, sizeof(digest));
	CHECK(sign_digest(digest, "x", NULL, 0, &der, &len) == 0);
	CHECK((bad = malloc(len)) != NULL);
	for (i = 0; bad != NULL && i < 3000; i++) {
		unsigned int pos, bit;

		memcpy(bad, der, len);
		RAND_bytes((unsigned char *)&pos, sizeof(pos));
		RAND_bytes((unsigned char *)&bit, sizeof(bit));
		bad[pos % len] ^= (uint8_t)(1u << (bit % 8));
		rep = NULL;
		valid = 0;
		r = verify(bad, i % 7 == 0 ? pos % len : len, digest,
		    EVP_sha256(), NULL, NULL, &rep, &valid);
		/* Without a status source nothing can be valid. */
		if (r == 0 && valid)
			crashed_valid++;
		json_decref(rep);
	}
	CHECK(crashed_valid == 0);
	free(bad);
	OPENSSL_free(der);
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	pki_setup();
	RUN(test_null_and_bounds);
	RUN(test_digest_stream);
	RUN(test_round_trip);
	RUN(test_store_status);
	RUN(test_fetched_replies);
	RUN(test_policy);
	RUN(test_corrupted);
	{
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cleanup failed\n");
	}
	return test_done("signer");
}
