/*
 * test_ca_ocsp.c: the OCSP responder: refusals of an incomplete
 * configuration; malformed requests (garbage, trailing bytes, empty,
 * oversized, nonces of 0 and 33 octets) answered malformedRequest; nonces
 * of 1 and 32 octets echoed; good, revoked with time and reason, hold as
 * revoked/certificateHold and back to good on release, unknown for a
 * serial never issued and for a certificate of the other CA (never good);
 * unauthorized, unsigned, when no CertID names the CA, and unknown for
 * the other issuer's CertIDs of a mixed request; SHA-256 CertIDs; the
 * response signed by the
 * responder key with its certificate included; the pre-signed answer
 * reused, and replaced at once when the stored status changes without any
 * call into the responder (as when the CLI, another process, revokes).
 */
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "tests/test.h"
#include "tests/test_ca_pki.h"

static struct pki_fx fx;
static ca_ocsp *oc;

/* A DER request for |serial| (hex) under the CA (or |issuer|), with a
 * nonce of |nonce_len| (<0: none). */
static int
mkreq(const char *serial, int issuer, const EVP_MD *md, int nonce_len,
    unsigned char **out)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_CERTID *id;
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai;
	unsigned char nonce[64];
	int n;

	BN_hex2bn(&bn, serial);
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	id = OCSP_cert_id_new(md, X509_get_subject_name(fx.cert[issuer]),
	    X509_get0_pubkey_bitstr(fx.cert[issuer]), ai);
	OCSP_request_add0_id(req, id);
	if (nonce_len == 0) {
		/* OCSP_request_add1_nonce makes 0 mean "16 random". */
		ASN1_OCTET_STRING *v = ASN1_OCTET_STRING_new();
		X509_EXTENSION *e;
		ASN1_OCTET_STRING_set(v, (const unsigned char *)"\x04\x00", 2);
		e = X509_EXTENSION_create_by_NID(NULL, NID_id_pkix_OCSP_Nonce,
		    0, v);
		OCSP_REQUEST_add_ext(req, e, -1);
		X509_EXTENSION_free(e);
		ASN1_OCTET_STRING_free(v);
	} else if (nonce_len > 0) {
		memset(nonce, 0xab, sizeof(nonce));
		OCSP_request_add1_nonce(req, nonce, nonce_len);
	}
	*out = NULL;
	n = i2d_OCSP_REQUEST(req, out);
	OCSP_REQUEST_free(req);
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return n;
}

struct answer {
	int resp_status;
	int status, reason;
	int nonce_echoed;
	int verified;
	int cached;
	int signed_now;
	char id0[68], id0_status[8];
};

/* What the server does once a signature's record is durable. */
static int publish = 1;

static void
ask(const unsigned char *der, size_t len, struct answer *a)
{
	struct ca_ocsp_resp r;
	const unsigned char *p;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_SINGLERESP *single;
	STACK_OF(X509) *certs;
	X509_STORE *trust = X509_STORE_new();

	memset(a, 0, sizeof(*a));
	a->status = a->reason = -2;
	CHECK_EQ(ca_ocsp_respond(oc, der, len, &r), 0);
	a->cached = r.cached;
	a->signed_now = r.signed_now;
	if (r.n_ids > 0) {
		snprintf(a->id0, sizeof(a->id0), "%s", r.ids[0].serial);
		snprintf(a->id0_status, sizeof(a->id0_status), "%s",
		    r.ids[0].status);
	}
	if (publish && r.signed_now && r.cacheable)
		ca_ocsp_publish(oc, r.ids[0].serial, r.etag);
	p = r.der;
	resp = d2i_OCSP_RESPONSE(NULL, &p, (long)r.der_len);
	CHECK(resp != NULL && p == r.der + r.der_len);
	if (resp == NULL)
		goto out;
	a->resp_status = OCSP_response_status(resp);
	if (a->resp_status != 0 || (bs = OCSP_response_get1_basic(resp)) ==
	    NULL)
		goto out;
	X509_STORE_add_cert(trust, fx.cert[0]);
	certs = sk_X509_new_null();
	sk_X509_push(certs, fx.cert[1]);
	a->verified = OCSP_basic_verify(bs, certs, trust, 0) == 1 &&
	    sk_X509_num(OCSP_resp_get0_certs(bs)) == 1;
	sk_X509_free(certs);
	single = OCSP_resp_get0(bs, 0);
	if (single != NULL)
		a->status = OCSP_single_get0_status(single, &a->reason, NULL,
		    NULL, NULL);
	a->nonce_echoed = OCSP_BASICRESP_get_ext_by_NID(bs,
	    NID_id_pkix_OCSP_Nonce, -1) >= 0;
out:
	X509_STORE_free(trust);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	ca_ocsp_resp_clear(&r);
}

static void
ask_serial(const char *serial, int nonce_len, struct answer *a)
{
	unsigned char *der = NULL;
	int n = mkreq(serial, 1, EVP_sha1(), nonce_len, &der);

	CHECK(n > 0);
	ask(der, (size_t)n, a);
	OPENSSL_free(der);
}

static void
test_conf(void)
{
	struct ca_ocsp_conf c;
	ca_ocsp *o = NULL;

	CHECK_EQ(ca_ocsp_new(NULL, &o), GP_ERR_INVALID);
	memset(&c, 0, sizeof(c));
	c.st = fx.st;
	c.issuer_name = "ca";
	c.issuer_cert = fx.cert[1];
	c.signer_cert = fx.cert[2];
	c.refresh_s = 60;
	c.validity_s = 120;
	CHECK_EQ(ca_ocsp_new(&c, &o), GP_ERR_INVALID); /* no key */
	c.signer_key = fx.key[2];
	c.validity_s = 30;
	CHECK_EQ(ca_ocsp_new(&c, &o), GP_ERR_INVALID); /* validity < refresh */
	CHECK(o == NULL);
	ca_ocsp_free(NULL);
}

static void
test_malformed(void)
{
	static const unsigned char garbage[] = "not an ocsp request";
	unsigned char *der = NULL, *big;
	struct answer a;
	int n;

	ask(garbage, sizeof(garbage), &a);
	CHECK_EQ(a.resp_status, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	ask(NULL, 0, &a);
	CHECK_EQ(a.resp_status, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	n = mkreq("4a00000001", 1, EVP_sha1(), -1, &der);
	big = malloc((size_t)n + 1 > CA_OCSP_MAX_REQUEST + 1 ? (size_t)n + 1 :
	    CA_OCSP_MAX_REQUEST + 1);
	memcpy(big, der, (size_t)n);
	big[n] = 0;
	ask(big, (size_t)n + 1, &a);   /* a trailing byte */
	CHECK_EQ(a.resp_status, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	ask(big, CA_OCSP_MAX_REQUEST + 1, &a);
	CHECK_EQ(a.resp_status, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	free(big);
	OPENSSL_free(der);
	/* RFC 8954: 0 and 33 octets refused, 1 and 32 echoed. */
	ask_serial("4a00000001", 0, &a);
	CHECK_EQ(a.resp_status, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	ask_serial("4a00000001", 33, &a);
	CHECK_EQ(a.resp_status, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	ask_serial("4a00000001", 1, &a);
	CHECK(a.resp_status == 0 && a.nonce_echoed && a.verified);
	ask_serial("4a00000001", 32, &a);
	CHECK(a.resp_status == 0 && a.nonce_echoed && a.verified);
}

static void
test_statuses(void)
{
	struct answer a;
	unsigned char *der = NULL;
	int n;

	ask_serial("5c00000001", 16, &a);
	CHECK_EQ(a.status, V_OCSP_CERTSTATUS_GOOD);
	CHECK(a.verified);
	ask_serial("4a00000001", 16, &a);
	CHECK_EQ(a.status, V_OCSP_CERTSTATUS_REVOKED);
	CHECK_EQ(a.reason, 1);
	ask_serial("ffb00000000", -1, &a);
	CHECK_EQ(a.status, V_OCSP_CERTSTATUS_REVOKED);
	CHECK_EQ(a.reason, OCSP_REVOKED_STATUS_CERTIFICATEHOLD);
	/* Never issued, and the root's own certificate under the CA. */
	ask_serial("123456789abcdef", -1, &a);
	CHECK_EQ(a.status, V_OCSP_CERTSTATUS_UNKNOWN);
	CHECK(a.verified);
	ask_serial("7e00000000", -1, &a);
	CHECK_EQ(a.status, V_OCSP_CERTSTATUS_UNKNOWN);
	/* SHA-256 CertID. */
	n = mkreq("5c00000001", 1, EVP_sha256(), -1, &der);
	ask(der, (size_t)n, &a);
	CHECK_EQ(a.status, V_OCSP_CERTSTATUS_GOOD);
	OPENSSL_free(der);
}

/* RFC 6960 2.3: the responder is authorised by the CA only, so a request
 * about the root's certificates alone is "unauthorized", unsigned (a
 * signed "unknown" from this responder is what relying parties reject);
 * mixed with the CA's CertIDs, the CA's get their status and the other
 * issuer's are "unknown" (RFC 6960 2.2). */
static void
test_other_issuer(void)
{
	OCSP_REQUEST *req;
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *bs = NULL;
	struct answer a;
	struct ca_ocsp_resp r;
	unsigned char *der = NULL;
	const unsigned char *p;
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai;
	int n, i, st[2] = {-2, -2};

	/* The issuing CA's own certificate, asked of its issuer, the root. */
	n = mkreq("7e00000000", 0, EVP_sha1(), -1, &der);
	ask(der, (size_t)n, &a);
	CHECK_EQ(a.resp_status, OCSP_RESPONSE_STATUS_UNAUTHORIZED);
	CHECK(!a.signed_now && !a.verified);
	OPENSSL_free(der);
	der = NULL;
	/* With a nonce, and with SHA-256: the same. */
	n = mkreq("5c00000001", 0, EVP_sha256(), 16, &der);
	ask(der, (size_t)n, &a);
	CHECK_EQ(a.resp_status, OCSP_RESPONSE_STATUS_UNAUTHORIZED);
	CHECK(!a.signed_now);
	OPENSSL_free(der);
	der = NULL;
	/* A hash this responder does not match CertIDs with (MD5) names
	 * no issuer it serves. */
	n = mkreq("5c00000001", 1, EVP_md5(), -1, &der);
	ask(der, (size_t)n, &a);
	CHECK_EQ(a.resp_status, OCSP_RESPONSE_STATUS_UNAUTHORIZED);
	OPENSSL_free(der);
	der = NULL;

	/* Mixed: the CA's certificate first, the root's second. */
	req = OCSP_REQUEST_new();
	for (i = 0; i < 2; i++) {
		BN_hex2bn(&bn, i == 0 ? "5c00000001" : "7e00000000");
		ai = BN_to_ASN1_INTEGER(bn, NULL);
		OCSP_request_add0_id(req, OCSP_cert_id_new(EVP_sha1(),
		    X509_get_subject_name(fx.cert[1 - i]),
		    X509_get0_pubkey_bitstr(fx.cert[1 - i]), ai));
		ASN1_INTEGER_free(ai);
	}
	n = i2d_OCSP_REQUEST(req, &der);
	OCSP_REQUEST_free(req);
	CHECK(n > 0);
	CHECK_EQ(ca_ocsp_respond(oc, der, (size_t)n, &r), 0);
	CHECK(r.signed_now && r.n_ids == 2);
	p = r.der;
	resp = d2i_OCSP_RESPONSE(NULL, &p, (long)r.der_len);
	CHECK(resp != NULL && OCSP_response_status(resp) ==
	    OCSP_RESPONSE_STATUS_SUCCESSFUL);
	if (resp != NULL && (bs = OCSP_response_get1_basic(resp)) != NULL) {
		for (i = 0; i < 2 && i < OCSP_resp_count(bs); i++)
			st[i] = OCSP_single_get0_status(OCSP_resp_get0(bs, i),
			    NULL, NULL, NULL, NULL);
	}
	CHECK_EQ(st[0], V_OCSP_CERTSTATUS_GOOD);
	CHECK_EQ(st[1], V_OCSP_CERTSTATUS_UNKNOWN);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	ca_ocsp_resp_clear(&r);
	OPENSSL_free(der);
	BN_free(bn);
}

static void
set_status(const char *serial, const char *status, int reason)
{
	CHECK_EQ(store_begin(fx.st), 0);
	CHECK_EQ(store_cert_set_status(fx.st, serial, status,
	    strcmp(status, "good") ? 1700000000 : 0, reason, 0), 0);
	CHECK_EQ(store_commit(fx.st), 0);
}

static void
test_presigned(void)
{
	struct answer a;

	ask_serial("5c00000002", -1, &a);
	CHECK(a.status == V_OCSP_CERTSTATUS_GOOD && !a.cached);
	ask_serial("5c00000002", -1, &a);
	CHECK(a.status == V_OCSP_CERTSTATUS_GOOD && a.cached);
	/* Nonce requests are never served from the cache. */
	ask_serial("5c00000002", 16, &a);
	CHECK(a.status == V_OCSP_CERTSTATUS_GOOD && !a.cached);
	/* Status changed in the store only: the next answer sees it. */
	set_status("5c00000002", "hold", -1);
	ask_serial("5c00000002", -1, &a);
	CHECK(a.status == V_OCSP_CERTSTATUS_REVOKED && !a.cached &&
	    a.reason == OCSP_REVOKED_STATUS_CERTIFICATEHOLD);
	ask_serial("5c00000002", -1, &a);
	CHECK(a.status == V_OCSP_CERTSTATUS_REVOKED && a.cached);
	set_status("5c00000002", "good", -1);
	ask_serial("5c00000002", -1, &a);
	CHECK(a.status == V_OCSP_CERTSTATUS_GOOD && !a.cached);
	set_status("5c00000002", "revoked", 4);
	ca_ocsp_invalidate("5c00000002");
	ask_serial("5c00000002", -1, &a);
	CHECK(a.status == V_OCSP_CERTSTATUS_REVOKED && a.reason == 4 &&
	    !a.cached && a.verified);
	/* Unknown answers are signed each time, never kept. */
	ask_serial("99", -1, &a);
	ask_serial("99", -1, &a);
	CHECK(a.status == V_OCSP_CERTSTATUS_UNKNOWN && !a.cached &&
	    a.signed_now && strcmp(a.id0, "99") == 0 &&
	    strcmp(a.id0_status, "unknown") == 0);
}

/* A pre-signed answer serves nobody else until its audit record is
 * durable (ca_ocsp_publish); until then each request signs its own. */
static void
test_presigned_unpublished(void)
{
	struct answer a;

	set_status("5c00000002", "good", -1);
	ca_ocsp_invalidate("5c00000002");
	publish = 0;
	ask_serial("5c00000002", -1, &a);
	CHECK(a.status == V_OCSP_CERTSTATUS_GOOD && !a.cached &&
	    a.signed_now && strcmp(a.id0, "5c00000002") == 0 &&
	    strcmp(a.id0_status, "good") == 0);
	ask_serial("5c00000002", -1, &a);
	CHECK(!a.cached && a.signed_now);
	/* A wrong entity tag publishes nothing. */
	ca_ocsp_publish(oc, "5c00000002", "\"00\"");
	ask_serial("5c00000002", -1, &a);
	CHECK(!a.cached && a.signed_now);
	/* The record failed: the server drops the pending answer. */
	ca_ocsp_invalidate("5c00000002");
	publish = 1;
	ask_serial("5c00000002", -1, &a);
	CHECK(!a.cached && a.signed_now);
	ask_serial("5c00000002", -1, &a);
	CHECK(a.cached && !a.signed_now);
}

int
main(void)
{
	struct ca_ocsp_conf c;

	if (pki_setup(&fx) != 0 ||
	    pki_rows(&fx, "ca", "4a", 3, "revoked", 1, 1700000000) != 0 ||
	    pki_rows(&fx, "ca", "ffb", 1, "hold", -1, 1700000000) != 0 ||
	    pki_rows(&fx, "ca", "5c", 3, "good", -1, 0) != 0 ||
	    pki_rows(&fx, "root", "7e", 1, "good", -1, 0) != 0) {
		fprintf(stderr, "fixture: %s\n", gp_err_detail());
		printf("ca_ocsp: 0 passed, 1 failed\n");
		return 1;
	}
	memset(&c, 0, sizeof(c));
	c.st = fx.st;
	c.issuer_name = "ca";
	c.issuer_cert = fx.cert[1];
	c.signer_cert = fx.cert[2];
	c.signer_key = fx.key[2];
	c.refresh_s = 600;
	c.validity_s = 3600;
	if (ca_ocsp_new(&c, &oc) != 0) {
		fprintf(stderr, "responder: %s\n", gp_err_detail());
		printf("ca_ocsp: 0 passed, 1 failed\n");
		return 1;
	}
	RUN(test_conf);
	RUN(test_malformed);
	RUN(test_statuses);
	RUN(test_other_issuer);
	RUN(test_presigned);
	RUN(test_presigned_unpublished);
	ca_ocsp_free(oc);
	pki_teardown(&fx);
	return test_done("ca_ocsp");
}
