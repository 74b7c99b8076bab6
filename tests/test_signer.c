/*
 * test_signer.c: unit tests of signer/: NULL and bounds first, then the
 * streamed digest, a sign/verify round trip with software keys and a
 * throwaway CA, status from the store (revoked with no time-stamp:
 * unproven), the step attribute and approval policies, a digest under the
 * wrong algorithm, the checks of fetched OCSP responses and CRLs, and a
 * few thousand corrupted signatures that must be refused or reported,
 * never crash. Then what makes a document signature (eContentType, key
 * usage and EKU), roles from the store only, B-T signatures stamped by an
 * in-process TSA at a chosen genTime (the TSA certificate judged then;
 * holds, releases, revocations and invalidity dates of the signer and the
 * TSA in the store's history), and the fetch allow list with what an
 * anonymous caller is told.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/ts.h>

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

/* A certificate for mk_cert_x(): what differs between the tests. */
struct mk {
	const char *cn;
	EVP_PKEY *pub;
	X509 *issuer;
	EVP_PKEY *ikey;
	int is_ca;
	const char *ku, *eku, *ocsp;
	int64_t not_before, not_after;  /* 0: ten days ago, a day ahead */
};

static X509 *
mk_cert_x(const struct mk *m)
{
	struct ca_cert_spec spec;
	X509_NAME *name = NULL;
	X509 *x = NULL;
	char *serial = NULL, text[128];

	snprintf(text, sizeof(text), "/CN=%s/O=测试单位/title=officer", m->cn);
	if (ca_name_parse(text, &name) != 0)
		return NULL;
	memset(&spec, 0, sizeof(spec));
	spec.subject = name;
	spec.pubkey = m->pub;
	spec.issuer_cert = m->issuer;
	spec.issuer_key = m->ikey;
	spec.not_before = m->not_before ? m->not_before : time(NULL) -
	    10 * 86400;
	spec.not_after = m->not_after ? m->not_after : time(NULL) + 86400;
	spec.is_ca = m->is_ca;
	spec.path_len = m->is_ca ? 0 : -1;
	spec.key_usage = m->ku;
	spec.ext_key_usage = m->eku;
	spec.ocsp_url = m->ocsp;
	if (ca_cert_sign(&spec, &x, &serial) != 0)
		x = NULL;
	free(serial);
	X509_NAME_free(name);
	return x;
}

static X509 *
mk_cert(const char *cn, EVP_PKEY *pub, X509 *issuer, EVP_PKEY *ikey,
    int is_ca, const char *ku)
{
	struct mk m = {cn, pub, issuer, ikey, is_ca, ku, NULL, NULL, 0, 0};

	return mk_cert_x(&m);
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

/* A basic OCSP response for |id|, signed by |x| with |key|, with nonce
 * |nonce| (none when NULL): "good", or with |revoked|, "revoked" an hour
 * ago for keyCompromise with an invalidity date two hours ago (RFC 6960
 * 4.4.5); DER length, or -1. */
static int
mk_ocsp(OCSP_CERTID *id, X509 *x, EVP_PKEY *key, OCSP_REQUEST *nonce,
    int revoked, uint8_t **der)
{
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	OCSP_RESPONSE *resp = NULL;
	OCSP_SINGLERESP *single;
	ASN1_TIME *tu = X509_gmtime_adj(NULL, -60);
	ASN1_TIME *nu = X509_gmtime_adj(NULL, 3600);
	ASN1_TIME *rv = X509_gmtime_adj(NULL, -3600);
	ASN1_GENERALIZEDTIME *inv = ASN1_GENERALIZEDTIME_set(NULL,
	    time(NULL) - 7200);
	int len = -1;

	*der = NULL;
	if (bs != NULL && tu != NULL && nu != NULL && rv != NULL &&
	    inv != NULL && (single = OCSP_basic_add1_status(bs, id, revoked ?
	    V_OCSP_CERTSTATUS_REVOKED : V_OCSP_CERTSTATUS_GOOD, revoked ? 1 :
	    -1, revoked ? rv : NULL, tu, nu)) != NULL &&
	    (!revoked || OCSP_SINGLERESP_add1_ext_i2d(single,
	    NID_invalidity_date, inv, 0, 0) == 1) &&
	    (nonce == NULL || OCSP_copy_nonce(bs, nonce) == 1) &&
	    OCSP_basic_sign(bs, x, key, EVP_sha256(), NULL, 0) == 1 &&
	    (resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL,
	    bs)) != NULL)
		len = i2d_OCSP_RESPONSE(resp, der);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	ASN1_TIME_free(rv);
	ASN1_GENERALIZEDTIME_free(inv);
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
	CHECK((len = mk_ocsp(id, pki.root, pki.root_key, req, 0, &der)) > 0);
	memset(&st, 0, sizeof(st));
	CHECK(sig_ocsp_check(&tr, chain, req, id, url, der, (size_t)len,
	    &st) == 0 && st.state == SIG_ST_GOOD);
	OPENSSL_free(der);
	/* No nonce (RFC 5019 pre-produced), bounded by nextUpdate. */
	CHECK((len = mk_ocsp(id, pki.root, pki.root_key, NULL, 0, &der)) > 0);
	memset(&st, 0, sizeof(st));
	CHECK(sig_ocsp_check(&tr, chain, req, id, url, der, (size_t)len,
	    &st) == 0 && st.state == SIG_ST_GOOD);
	/* Trailing bytes. */
	memset(&st, 0, sizeof(st));
	CHECK(sig_ocsp_check(&tr, chain, req, id, url, der, (size_t)len + 1,
	    &st) == GP_ERR_INVALID && st.state == SIG_ST_UNKNOWN);
	OPENSSL_free(der);
	/* Another request's nonce: a replay. */
	CHECK((len = mk_ocsp(id, pki.root, pki.root_key, other, 0, &der)) > 0);
	memset(&st, 0, sizeof(st));
	CHECK(sig_ocsp_check(&tr, chain, req, id, url, der, (size_t)len,
	    &st) == GP_ERR_TAMPERED && st.state == SIG_ST_UNKNOWN);
	OPENSSL_free(der);
	/* Signed by a certificate the issuer did not authorise for OCSP. */
	CHECK((len = mk_ocsp(id, pki.leaf, pki.leaf_key, NULL, 0, &der)) > 0);
	memset(&st, 0, sizeof(st));
	CHECK(sig_ocsp_check(&tr, chain, req, id, url, der, (size_t)len,
	    &st) == GP_ERR_TAMPERED && st.state == SIG_ST_UNKNOWN);
	OPENSSL_free(der);
	der = NULL;
	/* Revoked with an invalidity date (RFC 6960 4.4.5): both read. */
	CHECK((len = mk_ocsp(id, pki.root, pki.root_key, NULL, 1, &der)) > 0);
	memset(&st, 0, sizeof(st));
	CHECK(sig_ocsp_check(&tr, chain, req, id, url, der, (size_t)len,
	    &st) == 0 && st.state == SIG_ST_REVOKED && st.reason == 1);
	CHECK(st.rev_time > 0 && st.invalidity_date > 0 &&
	    st.rev_time - st.invalidity_date >= 3590 &&
	    st.rev_time - st.invalidity_date <= 3610);
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
	der = NULL;
	/* The leaf listed with an invalidity date: both read. */
	{
		X509_REVOKED *rv = X509_REVOKED_new();
		ASN1_GENERALIZEDTIME *inv = ASN1_GENERALIZEDTIME_set(NULL,
		    time(NULL) - 7200);

		CHECK(rv != NULL && inv != NULL &&
		    X509_REVOKED_set_serialNumber(rv,
		    X509_get_serialNumber(pki.leaf)) &&
		    X509_REVOKED_set_revocationDate(rv, tu) &&
		    X509_REVOKED_add1_ext_i2d(rv, NID_invalidity_date, inv, 0,
		    0) == 1 && X509_CRL_add0_revoked(crl, rv));
		ASN1_GENERALIZEDTIME_free(inv);
		CHECK(X509_CRL_sign(crl, pki.root_key, EVP_sha256()) > 0 &&
		    (len = i2d_X509_CRL(crl, &der)) > 0);
		memset(&st, 0, sizeof(st));
		CHECK(sig_crl_check(pki.leaf, pki.root, url, -1, der,
		    (size_t)len, 0, &st) == 0 && st.state == SIG_ST_REVOKED);
		CHECK(st.invalidity_date > 0 && st.rev_time -
		    st.invalidity_date >= 7000);
	}
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

static int
report_lacks(json_t *rep, const char *needle)
{
	char *s = json_dumps(rep, 0);
	int lacks = s != NULL && strstr(s, needle) == NULL;

	if (!lacks)
		fprintf(stderr, "  report has \"%s\": %s\n", needle,
		    s ? s : "");
	free(s);
	return lacks;
}

/* The first signer's check |name| in |rep|: "ok", "failed", ... or "". */
static const char *
check_of(json_t *rep, const char *name)
{
	const char *v = json_string_value(json_object_get(json_object_get(
	    json_array_get(json_object_get(rep, "signers"), 0), "checks"),
	    name));

	return v != NULL ? v : "";
}

static int
verify_tr(const uint8_t *der, size_t len, const uint8_t *digest,
    const struct sig_trust *tr, json_t **rep, int *valid)
{
	struct sig_verify_req vr;

	memset(&vr, 0, sizeof(vr));
	vr.p7s = der;
	vr.p7s_len = len;
	vr.digest = digest;
	vr.digest_len = 32;
	vr.digest_md = EVP_sha256();
	vr.trust = tr;
	*rep = NULL;
	return sig_verify(&vr, rep, valid);
}

/* A fresh store tmpdir/<name>.db holding |certs| (all good), with the
 * administrative |roles| (NULL: none). */
static store *
store_with(const char *name, X509 *const *certs, const char *const *roles,
    size_t n)
{
	char path[300];
	store *st = NULL;
	struct store_cert sc;
	unsigned char *der;
	size_t i;
	int len, r = 0;

	snprintf(path, sizeof(path), "%s/%s.db", tmpdir, name);
	if (store_open(path, 1, &st) != 0 || store_begin(st) != 0) {
		store_free(st);
		return NULL;
	}
	for (i = 0; i < n && r == 0; i++) {
		memset(&sc, 0, sizeof(sc));
		der = NULL;
		len = i2d_X509(certs[i], &der);
		sc.serial = ca_serial_hex(certs[i]);
		sc.issuer = (char *)"ca";
		sc.profile = (char *)"test";
		sc.subject = (char *)"CN=x";
		sc.role = roles != NULL ? (char *)roles[i] : NULL;
		sc.status = (char *)"good";
		sc.reason = -1;
		sc.der = der;
		sc.der_len = len > 0 ? (size_t)len : 0;
		r = store_cert_insert(st, &sc);
		free(sc.serial);
		OPENSSL_free(der);
	}
	if (r != 0 || store_commit(st) != 0) {
		store_rollback(st);
		store_free(st);
		return NULL;
	}
	return st;
}

/* One status change of |x| in |st| at |t|. */
static int
change(store *st, X509 *x, const char *what, int64_t t, int reason,
    int64_t inv)
{
	struct store_status_change c;
	char *serial = ca_serial_hex(x);
	int r;

	memset(&c, 0, sizeof(c));
	c.serial = serial;
	c.change = what;
	c.time = t;
	c.reason = reason;
	c.invalidity_date = inv;
	c.actor = "test";
	if ((r = store_begin(st)) == 0) {
		if ((r = store_cert_status_change(st, &c)) == 0)
			r = store_commit(st);
		else
			store_rollback(st);
	}
	free(serial);
	return r;
}

/* Signs |digest| with |key| and |cert| into *der (SHA-256, B-B). */
static int
sign_with(EVP_PKEY *key, X509 *cert, const struct sig_tsa *tsa,
    const uint8_t *digest, uint8_t **der, size_t *len)
{
	struct sig_signer sg = {key, cert, NULL};
	struct sig_sign_req rq;

	memset(&rq, 0, sizeof(rq));
	rq.signer = &sg;
	rq.digest = digest;
	rq.digest_len = 32;
	rq.tsa = tsa;
	return sig_sign(&rq, der, len, NULL);
}

static void
test_document_signature(void)
{
	static const struct {
		const char *ku, *eku, *want, *why;
	} cases[] = {
		{"critical,digitalSignature", "critical,timeStamping", "failed",
		    "(Time Stamping) does not include signing documents"},
		{"critical,digitalSignature", "serverAuth", "failed",
		    "(TLS Web Server Authentication)"},
		{"critical,digitalSignature", "OCSPSigning", "failed",
		    "OCSP Signing"},
		{"critical,keyEncipherment", NULL, "failed",
		    "neither digitalSignature nor nonRepudiation"},
		{"critical,digitalSignature", "clientAuth", "ok", NULL},
		{"critical,nonRepudiation", "emailProtection", "ok", NULL},
		{"critical,digitalSignature", "1.3.6.1.5.5.7.3.36", "ok", NULL},
		{"critical,digitalSignature", NULL, "ok", NULL},
	};
	const char *types[] = {"1.2.840.113549.1.9.16.1.4"};
	struct sig_trust tr;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	uint8_t digest[32], *der = NULL;
	size_t len = 0, i;
	json_t *rep = NULL;
	int valid = 1;
	CMS_ContentInfo *cms = NULL;
	BIO *in = NULL;
	unsigned char *cder = NULL;
	int clen;

	memset(digest, 0x42, sizeof(digest));
	memset(&tr, 0, sizeof(tr));
	tr.anchors = pki.anchors;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mk m = {"doc", k, pki.root, pki.root_key, 0,
		    cases[i].ku, cases[i].eku, NULL, 0, 0};
		X509 *x = mk_cert_x(&m);

		CHECK(x != NULL && sign_with(k, x, NULL, digest, &der, &len) ==
		    0);
		CHECK(verify_tr(der, len, digest, &tr, &rep, &valid) == 0);
		if (strcmp(check_of(rep, "key_usage"), cases[i].want) != 0)
			fprintf(stderr, "  case %zu: key_usage %s, want %s\n", i,
			    check_of(rep, "key_usage"), cases[i].want);
		CHECK_STR(check_of(rep, "key_usage"), cases[i].want);
		if (cases[i].why != NULL)
			CHECK(report_has(rep, cases[i].why));
		CHECK_STR(check_of(rep, "content_type"), "ok");
		json_decref(rep);
		OPENSSL_free(der);
		der = NULL;
		X509_free(x);
	}
	/* A SignedData over a TSTInfo-typed content (what a time-stamp
	 * token is) is no document signature, unless configured. */
	CHECK((in = BIO_new_mem_buf("not a document", 14)) != NULL);
	cms = CMS_sign(pki.leaf, pki.leaf_key, NULL, in, CMS_BINARY |
	    CMS_PARTIAL);
	CHECK(cms != NULL && CMS_set1_eContentType(cms, OBJ_txt2obj(types[0],
	    1)) == 1 && CMS_final(cms, in, NULL, CMS_BINARY) == 1);
	BIO_free(in);
	clen = cms != NULL ? i2d_CMS_ContentInfo(cms, &cder) : -1;
	CHECK(clen > 0);
	{
		struct sig_verify_req vr;

		memset(&vr, 0, sizeof(vr));
		vr.p7s = cder;
		vr.p7s_len = (size_t)clen;
		vr.trust = &tr;
		CHECK(sig_verify(&vr, &rep, &valid) == 0 && !valid);
		CHECK_STR(check_of(rep, "content_type"), "failed");
		CHECK(report_has(rep, "eContentType is id-smime-ct-TSTInfo"));
		json_decref(rep);
		tr.content_types = types;
		tr.content_types_len = 1;
		CHECK(sig_verify(&vr, &rep, &valid) == 0);
		CHECK_STR(check_of(rep, "content_type"), "ok");
		json_decref(rep);
	}
	OPENSSL_free(cder);
	CMS_ContentInfo_free(cms);
	EVP_PKEY_free(k);
}

static void
test_roles_from_store(void)
{
	char path[300];
	FILE *f;
	struct sig_policy *p = NULL;
	struct sig_trust tr;
	uint8_t digest[32], *der = NULL;
	size_t len = 0;
	json_t *rep = NULL;
	int valid = 0;
	const char *officer[] = {"officer"};
	store *st;
	X509 *certs[1] = {pki.leaf};

	snprintf(path, sizeof(path), "%s/approvals/role.json", tmpdir);
	CHECK((f = fopen(path, "w")) != NULL);
	if (f == NULL)
		return;
	fputs("{\"name\":\"role\",\"steps\":[{\"name\":\"approve\","
	    "\"signers\":[{\"role\":\"officer\"}]}]}", f);
	fclose(f);
	CHECK(sig_policy_load(tmpdir, "role", &p) == 0);
	memset(digest, 0x17, sizeof(digest));
	CHECK(sign_digest(digest, "approve", NULL, 0, &der, &len) == 0);
	memset(&tr, 0, sizeof(tr));
	tr.anchors = pki.anchors;
	tr.policy = p;
	/* The subject says title=officer; with no store it is no role. */
	CHECK(verify_tr(der, len, digest, &tr, &rep, &valid) == 0 && !valid);
	CHECK(report_has(rep, "\"allowed\": false") ||
	    report_has(rep, "\"allowed\":false"));
	CHECK(report_has(rep, "signer 1 is not allowed"));
	json_decref(rep);
	/* The store says officer, for exactly this certificate. */
	st = store_with("roles", certs, officer, 1);
	CHECK(st != NULL);
	tr.st = st;
	CHECK(verify_tr(der, len, digest, &tr, &rep, &valid) == 0 && valid);
	CHECK(report_has(rep, "\"allowed\": true") ||
	    report_has(rep, "\"allowed\":true"));
	json_decref(rep);
	store_free(st);
	/* A store that knows the serial under no role: none. */
	st = store_with("noroles", certs, NULL, 1);
	tr.st = st;
	CHECK(verify_tr(der, len, digest, &tr, &rep, &valid) == 0 && !valid);
	CHECK(report_has(rep, "signer 1 is not allowed"));
	json_decref(rep);
	store_free(st);
	OPENSSL_free(der);
	sig_policy_free(p);
}

/* An in-process TSA with a software key that stamps at a chosen time. */
struct tsa_fx {
	X509 *cert;
	EVP_PKEY *key;
	int64_t gen;
};

static int
tsa_fx_time(TS_RESP_CTX *ctx, void *data, long *sec, long *usec)
{
	(void)ctx;
	*sec = (long)((struct tsa_fx *)data)->gen;
	*usec = 0;
	return 1;
}

static int
tsa_fx_fn(void *arg, const uint8_t *req, size_t req_len, uint8_t **out,
    size_t *out_len)
{
	struct tsa_fx *t = arg;
	TS_RESP_CTX *ctx = TS_RESP_CTX_new();
	ASN1_OBJECT *pol = OBJ_txt2obj("1.2.3.4.5", 1);
	BIO *in = BIO_new_mem_buf(req, (int)req_len);
	TS_RESP *resp = NULL;
	int len = -1;

	*out = NULL;
	if (ctx != NULL && pol != NULL && in != NULL &&
	    TS_RESP_CTX_set_signer_cert(ctx, t->cert) == 1 &&
	    TS_RESP_CTX_set_signer_key(ctx, t->key) == 1 &&
	    TS_RESP_CTX_set_def_policy(ctx, pol) == 1 &&
	    TS_RESP_CTX_add_md(ctx, EVP_sha256()) == 1 &&
	    TS_RESP_CTX_set_ess_cert_id_digest(ctx, EVP_sha256()) == 1) {
		TS_RESP_CTX_set_time_cb(ctx, tsa_fx_time, t);
		if ((resp = TS_RESP_create_response(ctx, in)) != NULL)
			len = i2d_TS_RESP(resp, out);
	}
	TS_RESP_free(resp);
	BIO_free(in);
	ASN1_OBJECT_free(pol);
	TS_RESP_CTX_free(ctx);
	if (len <= 0)
		return GP_ERR_CRYPTO;
	*out_len = (size_t)len;
	return 0;
}

static void
test_timestamp_history(void)
{
	int64_t now = (int64_t)time(NULL), gen = now - 2 * 86400;
	EVP_PKEY *sk = EVP_EC_gen("P-256"), *tk = EVP_EC_gen("P-256");
	/* The signer, and a TSA whose certificate expired yesterday: valid
	 * when it stamped, two days ago. */
	struct mk ms = {"signer2", sk, pki.root, pki.root_key, 0,
	    "critical,digitalSignature,nonRepudiation", NULL, NULL, 0, 0};
	struct mk mt = {"tsa", tk, pki.root, pki.root_key, 0,
	    "critical,digitalSignature", "critical,timeStamping", NULL,
	    now - 3 * 86400, now - 86400};
	X509 *signer = mk_cert_x(&ms), *tsa = mk_cert_x(&mt);
	struct tsa_fx tfx = {tsa, tk, gen};
	struct sig_tsa ts = {NULL, tsa_fx_fn, &tfx};
	struct sig_trust tr;
	X509 *certs[2] = {signer, tsa};
	uint8_t digest[32], *der = NULL;
	size_t len = 0;
	json_t *rep = NULL;
	int valid = 0;
	store *st;
	char when[32];

	memset(digest, 0x5a, sizeof(digest));
	CHECK(signer != NULL && tsa != NULL);
	CHECK(sign_with(sk, signer, &ts, digest, &der, &len) == 0);
	memset(&tr, 0, sizeof(tr));
	tr.anchors = pki.anchors;

	/* No status for the TSA certificate: the time-stamp proves
	 * nothing. */
	CHECK(verify_tr(der, len, digest, &tr, &rep, &valid) == 0 && !valid);
	CHECK(report_has(rep, "timestamp: the TSA certificate: status "
	    "unknown"));
	json_decref(rep);

	/* Both good: valid, the TSA certificate judged at genTime although
	 * it has expired since. */
	st = store_with("ts-good", certs, NULL, 2);
	tr.st = st;
	CHECK(verify_tr(der, len, digest, &tr, &rep, &valid) == 0 && valid);
	CHECK_STR(check_of(rep, "timestamp"), "ok");
	ca_time_iso(gen, when, sizeof(when));
	CHECK(report_has(rep, when));
	CHECK(report_has(rep, "\"time_source\": \"timestamp\"") ||
	    report_has(rep, "\"time_source\":\"timestamp\""));
	json_decref(rep);
	store_free(st);

	/* The TSA certificate revoked later: superseded keeps the token,
	 * keyCompromise does not (RFC 3161 4). */
	st = store_with("ts-superseded", certs, NULL, 2);
	CHECK(change(st, tsa, STORE_CHANGE_REVOKE, gen + 3600, 4, 0) == 0);
	tr.st = st;
	CHECK(verify_tr(der, len, digest, &tr, &rep, &valid) == 0 && valid);
	json_decref(rep);
	store_free(st);
	st = store_with("ts-compromised", certs, NULL, 2);
	CHECK(change(st, tsa, STORE_CHANGE_REVOKE, gen + 3600, 1, 0) == 0);
	tr.st = st;
	CHECK(verify_tr(der, len, digest, &tr, &rep, &valid) == 0 && !valid);
	CHECK(report_has(rep, "every token of its key is untrustworthy "
	    "(RFC 3161 4)"));
	json_decref(rep);
	store_free(st);
	/* The TSA certificate on hold when it stamped. */
	st = store_with("ts-held", certs, NULL, 2);
	CHECK(change(st, tsa, STORE_CHANGE_HOLD, gen - 60, 6, 0) == 0);
	tr.st = st;
	CHECK(verify_tr(der, len, digest, &tr, &rep, &valid) == 0 && !valid);
	CHECK(report_has(rep, "timestamp: the TSA certificate: certificate"));
	CHECK(report_has(rep, "on hold (certificateHold) since"));
	json_decref(rep);
	store_free(st);

	/* The signer on hold around genTime, released after: refused. */
	st = store_with("s-hold-around", certs, NULL, 2);
	CHECK(change(st, signer, STORE_CHANGE_HOLD, gen - 100, 6, 0) == 0);
	CHECK(change(st, signer, STORE_CHANGE_RELEASE, gen + 100, -1, 0) == 0);
	tr.st = st;
	CHECK(verify_tr(der, len, digest, &tr, &rep, &valid) == 0 && !valid);
	CHECK(report_has(rep, "which covers the time of signing"));
	json_decref(rep);
	store_free(st);
	/* Released before genTime: valid. */
	st = store_with("s-hold-before", certs, NULL, 2);
	CHECK(change(st, signer, STORE_CHANGE_HOLD, gen - 100, 6, 0) == 0);
	CHECK(change(st, signer, STORE_CHANGE_RELEASE, gen - 50, -1, 0) == 0);
	tr.st = st;
	CHECK(verify_tr(der, len, digest, &tr, &rep, &valid) == 0 && valid);
	json_decref(rep);
	store_free(st);
	/* Held before genTime, revoked later: revoked since the hold's
	 * start (the revocation time ca_revoke.c writes). */
	st = store_with("s-hold-revoke", certs, NULL, 2);
	CHECK(change(st, signer, STORE_CHANGE_HOLD, gen - 100, 6, 0) == 0);
	CHECK(change(st, signer, STORE_CHANGE_REVOKE, gen - 100, 1, 0) == 0);
	tr.st = st;
	CHECK(verify_tr(der, len, digest, &tr, &rep, &valid) == 0 && !valid);
	CHECK(report_has(rep, "was revoked at"));
	json_decref(rep);
	store_free(st);
	/* Revoked after genTime: valid, unless the invalidity date comes
	 * before genTime (RFC 5280 5.3.2). */
	st = store_with("s-rev-late", certs, NULL, 2);
	CHECK(change(st, signer, STORE_CHANGE_REVOKE, gen + 100, 1,
	    gen + 10) == 0);
	tr.st = st;
	CHECK(verify_tr(der, len, digest, &tr, &rep, &valid) == 0 && valid);
	CHECK(report_has(rep, "revoked_after_signing"));
	json_decref(rep);
	store_free(st);
	st = store_with("s-rev-invalid", certs, NULL, 2);
	CHECK(change(st, signer, STORE_CHANGE_REVOKE, gen + 100, 1,
	    gen - 10) == 0);
	tr.st = st;
	CHECK(verify_tr(der, len, digest, &tr, &rep, &valid) == 0 && !valid);
	CHECK(report_has(rep, "the invalidity date of its revocation"));
	json_decref(rep);
	store_free(st);

	OPENSSL_free(der);
	X509_free(signer);
	X509_free(tsa);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(tk);
}

static void
test_fetch_allow(void)
{
	const char *allow[] = {"http://ocsp.example/", "ca.example",
	    "http://127.0.0.1:8080"};
	const char *one[] = {"127.0.0.1"};
	static const struct {
		const char *url;
		int want;
	} cases[] = {
		{"http://ocsp.example/x", 1},
		{"http://ocsp.example.evil/", 0},
		{"http://CA.example:81/crl", 1},
		{"http://ca.example.evil/", 0},
		{"http://evil@ca.example/", 0},
		{"http://127.0.0.1:8080/ocsp", 1},
		{"http://127.0.0.1:8080", 1},
		{"http://127.0.0.1:80801/", 0},
		{"http://127.0.0.1:8080@evil/", 0},
		{"https://ocsp.example/", 0},
		{NULL, 0},
	};
	EVP_PKEY *k = EVP_EC_gen("P-256");
	struct mk m = {"fetched", k, pki.root, pki.root_key, 0,
	    "critical,digitalSignature", NULL, "http://127.0.0.1:1/ocsp", 0,
	    0};
	X509 *x = mk_cert_x(&m);
	struct sig_trust tr;
	uint8_t digest[32], *der = NULL;
	size_t len = 0, i;
	json_t *rep = NULL;
	int valid = 1;

	memset(&tr, 0, sizeof(tr));
	tr.anchors = pki.anchors;
	tr.fetch_allow = allow;
	tr.fetch_allow_len = 3;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (sig_fetch_allowed(&tr, cases[i].url) != cases[i].want)
			fprintf(stderr, "  %s: want %d\n", cases[i].url ?
			    cases[i].url : "(null)", cases[i].want);
		CHECK(sig_fetch_allowed(&tr, cases[i].url) == cases[i].want);
	}
	tr.fetch_allow_len = 0;
	CHECK(sig_fetch_allowed(&tr, "http://ocsp.example/x") == 0);

	/* A signer whose OCSP URL refuses connections. */
	memset(digest, 0x33, sizeof(digest));
	CHECK(x != NULL && sign_with(k, x, NULL, digest, &der, &len) == 0);
	/* Fetching off: the report says so. */
	CHECK(verify_tr(der, len, digest, &tr, &rep, &valid) == 0 && !valid);
	CHECK(report_has(rep, "online fetching is off"));
	json_decref(rep);
	/* On, but nothing allowed: nothing fetched, and not "off". */
	tr.fetch = 1;
	CHECK(verify_tr(der, len, digest, &tr, &rep, &valid) == 0 && !valid);
	CHECK(report_has(rep, "allows no URL or host"));
	CHECK(report_lacks(rep, "fetching is off"));
	json_decref(rep);
	/* Allowed: the connection error, for a local caller. */
	tr.fetch_allow = one;
	tr.fetch_allow_len = 1;
	CHECK(verify_tr(der, len, digest, &tr, &rep, &valid) == 0 && !valid);
	CHECK(report_has(rep, "ocsp http://127.0.0.1:1/ocsp: cannot connect"));
	json_decref(rep);
	/* For an anonymous caller: "status unavailable", no detail. */
	tr.anonymous = 1;
	CHECK(verify_tr(der, len, digest, &tr, &rep, &valid) == 0 && !valid);
	CHECK(report_has(rep, "ocsp http://127.0.0.1:1/ocsp: status "
	    "unavailable"));
	CHECK(report_lacks(rep, "cannot connect"));
	json_decref(rep);
	OPENSSL_free(der);
	X509_free(x);
	EVP_PKEY_free(k);
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
	RUN(test_document_signature);
	RUN(test_roles_from_store);
	RUN(test_timestamp_history);
	RUN(test_fetch_allow);
	{
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cleanup failed\n");
	}
	return test_done("signer");
}
