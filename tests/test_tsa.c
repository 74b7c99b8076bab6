/*
 * test_tsa.c: the time-stamp authority in process, with file keys and a
 * throwaway root -> TSA chain (no token needed): NULL and bounds first,
 * then tokens (nonce, certReq, policy, ESSCertIDv2, accuracy) checked by
 * tsa_verify(), every rejection with its PKIFailureInfo, the clock guard
 * through the test hook and a persisted last genTime, unique serials, and
 * tampered tokens refused. The tokens are written by tsa_tok.c from pieces
 * encoded once; test_token_der compares them field by field with what
 * OpenSSL's own TS_RESP_create_response() makes of the same request with
 * the same serial and time, for several configurations and key types.
 *
 * With "--load PORT1 PORT2 N CLIENTS OUT" it is instead the load client of
 * t_tsa.sh: N requests spread over CLIENTS keep-alive connections to two
 * servers, writing each token's serial to OUT (one per line).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <openssl/x509v3.h>

#include "core/core.h"
#include "store/store.h"
#include "tsa/tsa.h"
#include "tests/test.h"

static char tmpdir[] = "/tmp/govpki-test-tsa.XXXXXX";
static EVP_PKEY *root_key, *tsa_key, *other_key;
static X509 *root_cert, *tsa_cert, *plain_cert;

static EVP_PKEY *
keygen(void)
{
	return EVP_EC_gen("P-256");
}

static int
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* A certificate for |key| named |cn|, signed by |ikey| (|issuer| NULL:
 * self-signed CA). |eku| NULL: none. */
static X509 *
mkcert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey,
    const char *eku)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	ASN1_INTEGER *sn = ASN1_INTEGER_new();

	X509_set_version(x, 2);
	{
		unsigned char rb[4];

		RAND_bytes(rb, sizeof(rb));
		ASN1_INTEGER_set(sn, 1 + (long)(((unsigned)rb[0] << 16) |
		    ((unsigned)rb[1] << 8) | rb[2]));
	}
	X509_set_serialNumber(x, sn);
	ASN1_INTEGER_free(sn);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer) : n);
	X509_NAME_free(n);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	add_ext(x, issuer != NULL ? issuer : x, NID_subject_key_identifier,
	    "hash");
	if (issuer == NULL) {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, issuer, NID_authority_key_identifier, "keyid");
		add_ext(x, issuer, NID_key_usage,
		    "critical,digitalSignature");
	}
	if (eku != NULL)
		add_ext(x, issuer != NULL ? issuer : x, NID_ext_key_usage, eku);
	X509_sign(x, ikey, EVP_sha256());
	return x;
}

static struct gp_config *
mkcfg(void)
{
	struct gp_config *cfg = NULL;

	if (gp_config_defaults(tmpdir, &cfg) != 0)
		return NULL;
	free(cfg->tsa_clock_check);
	cfg->tsa_clock_check = strdup("strict");
	cfg->tsa_policies = calloc(2, sizeof(char *));
	cfg->tsa_policies[0] = strdup("1.3.6.1.4.1.0.99.1"); /* test only */
	cfg->tsa_policies_len = 1;
	return cfg;
}

/* A TSA of |key| and |cert| on |st|, of node |node| (NULL: none). */
static tsa *
mktsa_of(const struct gp_config *cfg, store *st, const char *hook,
    EVP_PKEY *key, X509 *cert, const char *node)
{
	struct tsa_opts o;
	tsa *t = NULL;

	memset(&o, 0, sizeof(o));
	o.cfg = cfg;
	o.key = key;
	o.cert = cert;
	o.chain = &root_cert;
	o.chain_len = 1;
	o.st = st;
	o.node = node;
	o.test_clock = hook;
	if (tsa_new(&o, &t) != 0) {
		fprintf(stderr, "  tsa_new: %s\n", gp_err_detail());
		return NULL;
	}
	return t;
}

static tsa *
mktsa_with(const struct gp_config *cfg, store *st, const char *hook,
    EVP_PKEY *key, X509 *cert)
{
	return mktsa_of(cfg, st, hook, key, cert, NULL);
}

static tsa *
mktsa(const struct gp_config *cfg, store *st, const char *hook)
{
	return mktsa_with(cfg, st, hook, tsa_key, tsa_cert);
}

/* A TSA of node |node| on |st|. */
static tsa *
mktsa_node(const struct gp_config *cfg, store *st, const char *hook,
    const char *node)
{
	return mktsa_of(cfg, st, hook, tsa_key, tsa_cert, node);
}

/* A DER TimeStampReq. |md_nid| 0: the imprint algorithm given by |oid|.
 * |imp_len| bytes of imprint. |nonce| < 0: none. */
static int
mkreq(int md_nid, const char *oid, size_t imp_len, long nonce, int cert_req,
    const char *policy, int with_ext, uint8_t **out, size_t *out_len)
{
	TS_REQ *req = TS_REQ_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	ASN1_INTEGER *n = NULL;
	ASN1_OBJECT *pol = NULL;
	unsigned char imp[128];
	int len, ok;
	uint8_t *p;

	memset(imp, 0xab, sizeof(imp));
	X509_ALGOR_set0(alg, md_nid != 0 ? OBJ_nid2obj(md_nid) :
	    OBJ_txt2obj(oid, 1), V_ASN1_NULL, NULL);
	ok = TS_REQ_set_version(req, 1) &&
	    TS_MSG_IMPRINT_set_algo(mi, alg) &&
	    TS_MSG_IMPRINT_set_msg(mi, imp, (int)imp_len) &&
	    TS_REQ_set_msg_imprint(req, mi) &&
	    TS_REQ_set_cert_req(req, cert_req);
	if (ok && nonce >= 0) {
		n = ASN1_INTEGER_new();
		ok = ASN1_INTEGER_set(n, nonce) && TS_REQ_set_nonce(req, n);
	}
	if (ok && policy != NULL) {
		pol = OBJ_txt2obj(policy, 1);
		ok = pol != NULL && TS_REQ_set_policy_id(req, pol);
	}
	if (ok && with_ext) {
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL,
		    NID_basic_constraints, "CA:FALSE");
		ok = e != NULL && TS_REQ_add_ext(req, e, -1);
		X509_EXTENSION_free(e);
	}
	len = ok ? i2d_TS_REQ(req, NULL) : -1;
	*out = NULL;
	if (len > 0 && (*out = malloc((size_t)len + 16)) != NULL) {
		p = *out;
		i2d_TS_REQ(req, &p);
		*out_len = (size_t)len;
	}
	ASN1_OBJECT_free(pol);
	ASN1_INTEGER_free(n);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	TS_REQ_free(req);
	return *out != NULL ? 0 : -1;
}

/* The failure bit of a rejection reply, -1 when granted, -2 on parse
 * error. */
static int
reply_fail(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	TS_RESP *resp = d2i_TS_RESP(NULL, &p, (long)len);
	const TS_STATUS_INFO *si;
	const ASN1_BIT_STRING *fi;
	int bit = -2, b, nset = 0;

	if (resp == NULL || p != der + len) {
		TS_RESP_free(resp);
		return -2;
	}
	si = TS_RESP_get_status_info(resp);
	if (ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si)) == 0) {
		bit = TS_RESP_get_token(resp) != NULL ? -1 : -2;
	} else if (TS_RESP_get_token(resp) == NULL &&
	    (fi = TS_STATUS_INFO_get0_failure_info(si)) != NULL) {
		for (b = 0; b < 64; b++) {
			if (ASN1_BIT_STRING_get_bit(fi, b)) {
				bit = b;
				nset++;
			}
		}
		if (nset != 1)
			bit = -2;
	}
	TS_RESP_free(resp);
	return bit;
}

/* Answers a request built by mkreq() and returns the reply's failure bit
 * (-1: granted). */
static int
ask(tsa *t, int md_nid, const char *oid, size_t imp_len, const char *policy,
    int with_ext, struct tsa_result *res)
{
	uint8_t *req = NULL, *rep = NULL;
	size_t req_len = 0, rep_len = 0;
	struct tsa_result local;
	int bit = -3;

	if (res == NULL)
		res = &local;
	if (mkreq(md_nid, oid, imp_len, 42, 1, policy, with_ext, &req,
	    &req_len) == 0 && tsa_respond(t, req, req_len, &rep, &rep_len,
	    res) == 0) {
		bit = reply_fail(rep, rep_len);
		/* What the reply says and what the result says agree. */
		if (bit != (res->granted ? -1 : res->fail_bit))
			bit = -4;
	}
	free(req);
	OPENSSL_free(rep);
	return bit;
}

static STACK_OF(X509) *
roots(void)
{
	STACK_OF(X509) *sk = sk_X509_new_null();

	sk_X509_push(sk, root_cert);
	return sk;
}

static void
test_null_and_bounds(void)
{
	struct gp_config *cfg = mkcfg();
	struct tsa_opts o;
	tsa *t = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	struct tsa_result res;

	memset(&o, 0, sizeof(o));
	CHECK_EQ(tsa_new(&o, &t), GP_ERR_INVALID);
	CHECK(t == NULL);
	CHECK_EQ(tsa_new(NULL, &t), GP_ERR_INVALID);
	tsa_free(NULL);
	/* A certificate without the timeStamping EKU is refused. */
	o.cfg = cfg;
	o.key = tsa_key;
	o.cert = plain_cert;
	CHECK_EQ(tsa_new(&o, &t), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "timeStamping");
	/* The certificate of another key is refused. */
	o.cert = tsa_cert;
	o.key = other_key;
	CHECK_EQ(tsa_new(&o, &t), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "does not match");
	/* A hook value that means nothing refuses to start. */
	o.key = tsa_key;
	o.test_clock = "sync";
	CHECK_EQ(tsa_new(&o, &t), GP_ERR_CONFIG);
	CHECK_CONTAINS(gp_err_detail(), "GOVPKI_TEST_CLOCK");
	o.test_clock = "error:x";
	CHECK_EQ(tsa_new(&o, &t), GP_ERR_CONFIG);
	CHECK(t == NULL);
	/* Rejections without a TSA. */
	CHECK_EQ(tsa_reject(-1, "x", &der, &len), GP_ERR_INVALID);
	CHECK_EQ(tsa_reject(TSA_FAIL_BAD_REQUEST, NULL, &der, &len), 0);
	CHECK_EQ(reply_fail(der, len), TSA_FAIL_BAD_REQUEST);
	OPENSSL_free(der);
	{
		char big[400];
		int bits[] = {0, 2, 5, 14, 15, 16, 17, 25};
		size_t i;

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		big[3] = '\n';
		for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
			CHECK_EQ(tsa_reject(bits[i], big, &der, &len), 0);
			CHECK_EQ(reply_fail(der, len), bits[i]);
			OPENSSL_free(der);
		}
	}
	CHECK_STR(tsa_fail_name(TSA_FAIL_BAD_ALG), "badAlg");
	CHECK_STR(tsa_fail_name(99), "unknown");
	/* NULL and empty requests are rejections, not crashes. */
	t = mktsa(cfg, NULL, "ok");
	CHECK(t != NULL);
	if (t != NULL) {
		CHECK_EQ(tsa_respond(t, NULL, 0, &der, &len, &res), 0);
		CHECK_EQ(reply_fail(der, len), TSA_FAIL_BAD_DATA_FORMAT);
		CHECK(!res.granted);
		OPENSSL_free(der);
	}
	tsa_free(t);
	gp_config_free(cfg);
}

static void
test_token(void)
{
	struct gp_config *cfg = mkcfg();
	tsa *t = mktsa(cfg, NULL, "ok");
	uint8_t *req = NULL, *rep = NULL;
	size_t req_len = 0, rep_len = 0;
	struct tsa_result res;
	struct tsa_verify_in vi;
	struct tsa_verify_out vo;
	const unsigned char *p;
	TS_RESP *resp = NULL;
	TS_TST_INFO *tst;
	PKCS7 *p7;
	PKCS7_SIGNER_INFO *si;
	ASN1_INTEGER *nonce = ASN1_INTEGER_new();
	STACK_OF(X509) *trusted = roots(), *untr = sk_X509_new_null();
	uint8_t dg[32];

	CHECK(t != NULL);
	if (t == NULL)
		goto out;
	memset(dg, 0xab, sizeof(dg));
	CHECK_EQ(mkreq(NID_sha256, NULL, 32, 4242, 1, NULL, 0, &req,
	    &req_len), 0);
	CHECK_EQ(tsa_respond(t, req, req_len, &rep, &rep_len, &res), 0);
	CHECK(res.granted);
	CHECK_EQ(res.fail_bit, -1);
	CHECK_STR(res.md, "sha256");
	CHECK_EQ(strlen(res.imprint), 64);
	CHECK_STR(res.policy, cfg->tsa_policy);
	CHECK_EQ(strlen(res.serial), 32); /* 16 bytes, no leading zero */
	CHECK(res.gen_time_ms > 1600000000000LL);

	p = rep;
	resp = d2i_TS_RESP(NULL, &p, (long)rep_len);
	CHECK(resp != NULL);
	if (resp == NULL)
		goto out;
	tst = TS_RESP_get_tst_info(resp);
	CHECK_EQ(ASN1_INTEGER_get(TS_TST_INFO_get_nonce(tst)), 4242);
	CHECK(TS_TST_INFO_get_accuracy(tst) != NULL);
	CHECK_EQ(ASN1_INTEGER_get(TS_ACCURACY_get_seconds(
	    TS_TST_INFO_get_accuracy(tst))), 1);
	CHECK(TS_TST_INFO_get_tsa(tst) != NULL);
	/* certReq: the TSA certificate (and the chain) is in the token. */
	p7 = TS_RESP_get_token(resp);
	CHECK(p7->d.sign->cert != NULL &&
	    sk_X509_num(p7->d.sign->cert) == 2 &&
	    X509_cmp(sk_X509_value(p7->d.sign->cert, 0), tsa_cert) == 0);
	/* RFC 5816: signingCertificateV2 (ESSCertIDv2), not v1. */
	si = sk_PKCS7_SIGNER_INFO_value(PKCS7_get_signer_info(p7), 0);
	CHECK(PKCS7_get_signed_attribute(si,
	    NID_id_smime_aa_signingCertificateV2) != NULL);
	CHECK(PKCS7_get_signed_attribute(si,
	    NID_id_smime_aa_signingCertificate) == NULL);

	memset(&vi, 0, sizeof(vi));
	vi.reply_der = rep;
	vi.reply_len = rep_len;
	vi.digest = dg;
	vi.digest_len = sizeof(dg);
	ASN1_INTEGER_set(nonce, 4242);
	vi.nonce = nonce;
	vi.trusted = trusted;
	CHECK_EQ(tsa_verify(&vi, &vo), 0);
	CHECK_STR(vo.serial, res.serial);
	CHECK_STR(vo.md, "sha256");
	CHECK_STR(vo.policy, cfg->tsa_policy);
	CHECK(vo.has_certs);
	/* Another nonce, another digest: refused. */
	ASN1_INTEGER_set(nonce, 4243);
	CHECK_EQ(tsa_verify(&vi, &vo), GP_ERR_TAMPERED);
	CHECK_CONTAINS(gp_err_detail(), "nonce");
	vi.nonce = NULL;
	dg[0] ^= 1;
	CHECK_EQ(tsa_verify(&vi, &vo), GP_ERR_TAMPERED);
	dg[0] ^= 1;
	CHECK_EQ(tsa_verify(&vi, &vo), 0);
	/* Another root is not trusted. */
	{
		EVP_PKEY *k = keygen();
		X509 *r2 = mkcert("other root", k, NULL, k, NULL);
		STACK_OF(X509) *sk = sk_X509_new_null();

		sk_X509_push(sk, r2);
		vi.trusted = sk;
		CHECK_EQ(tsa_verify(&vi, &vo), GP_ERR_TAMPERED);
		vi.trusted = trusted;
		sk_X509_pop_free(sk, X509_free);
		EVP_PKEY_free(k);
	}
	free(req);
	OPENSSL_free(rep);
	req = rep = NULL;

	/* certReq false: no certificate in the token; verification then
	 * needs the TSA certificate from elsewhere. */
	CHECK_EQ(mkreq(NID_sha512, NULL, 64, -1, 0, NULL, 0, &req, &req_len),
	    0);
	CHECK_EQ(tsa_respond(t, req, req_len, &rep, &rep_len, &res), 0);
	CHECK(res.granted);
	CHECK_STR(res.md, "sha512");
	memset(&vi, 0, sizeof(vi));
	vi.reply_der = rep;
	vi.reply_len = rep_len;
	{
		uint8_t d64[64];

		memset(d64, 0xab, sizeof(d64));
		vi.digest = d64;
		vi.digest_len = sizeof(d64);
		vi.trusted = trusted;
		CHECK_EQ(tsa_verify(&vi, &vo), GP_ERR_TAMPERED);
		sk_X509_push(untr, tsa_cert);
		vi.untrusted = untr;
		CHECK_EQ(tsa_verify(&vi, &vo), 0);
		CHECK(!vo.has_certs);
		/* Every flipped byte of the signed TSTInfo and of the
		 * signature value is refused. (Fields OpenSSL does not use,
		 * such as the SignedData version or the signature algorithm
		 * OID next to a key that fixes it, are not covered.) */
		{
			static const uint8_t tst_oid[] = {0x06, 0x0b, 0x2a,
			    0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10,
			    0x01, 0x04};
			size_t i, at = 0, start = 0, len = 0, bad = 0, tried = 0;

			for (i = 0; i + sizeof(tst_oid) < rep_len; i++) {
				if (memcmp(rep + i, tst_oid,
				    sizeof(tst_oid)) == 0) {
					at = i + sizeof(tst_oid);
					break;
				}
			}
			/* [0] EXPLICIT { OCTET STRING { TSTInfo } } */
			if (at != 0 && rep[at] == 0xa0) {
				at += 2 + (rep[at + 1] & 0x80 ?
				    (rep[at + 1] & 0x7f) : 0);
				if (rep[at] == 0x04) {
					len = rep[at + 1] & 0x80 ?
					    rep[at + 2] : rep[at + 1];
					start = at + 2 + (rep[at + 1] & 0x80 ?
					    (rep[at + 1] & 0x7f) : 0);
				}
			}
			CHECK(start > 0 && len > 50 && start + len < rep_len);
			for (i = start; len > 0 && i < start + len; i++) {
				rep[i] ^= 0x01;
				bad += tsa_verify(&vi, &vo) != 0;
				tried++;
				rep[i] ^= 0x01;
			}
			for (i = rep_len - 60; i < rep_len; i++) {
				rep[i] ^= 0x01;
				bad += tsa_verify(&vi, &vo) != 0;
				tried++;
				rep[i] ^= 0x01;
			}
			CHECK_EQ(bad, tried);
			CHECK_EQ(tsa_verify(&vi, &vo), 0);
		}
	}
out:
	sk_X509_free(untr);
	sk_X509_free(trusted);
	ASN1_INTEGER_free(nonce);
	TS_RESP_free(resp);
	free(req);
	OPENSSL_free(rep);
	tsa_free(t);
	gp_config_free(cfg);
}

static void
test_rejections(void)
{
	struct gp_config *cfg = mkcfg();
	tsa *t = mktsa(cfg, NULL, "ok");
	struct tsa_result res;
	uint8_t *req = NULL, *rep = NULL, *big = NULL;
	size_t req_len = 0, rep_len = 0;

	CHECK(t != NULL);
	if (t == NULL)
		goto out;
	CHECK_EQ(ask(t, NID_sha256, NULL, 32, NULL, 0, &res), -1);
	CHECK_EQ(ask(t, NID_sha384, NULL, 48, NULL, 0, &res), -1);
	CHECK_EQ(ask(t, NID_sha512, NULL, 64, NULL, 0, &res), -1);
	/* Imprint of the wrong length: badDataFormat. */
	CHECK_EQ(ask(t, NID_sha256, NULL, 31, NULL, 0, &res),
	    TSA_FAIL_BAD_DATA_FORMAT);
	CHECK_CONTAINS(res.reason, "31 bytes");
	CHECK_EQ(ask(t, NID_sha256, NULL, 64, NULL, 0, &res),
	    TSA_FAIL_BAD_DATA_FORMAT);
	CHECK_EQ(ask(t, NID_sha512, NULL, 32, NULL, 0, &res),
	    TSA_FAIL_BAD_DATA_FORMAT);
	/* Unknown and refused algorithms: badAlg. */
	CHECK_EQ(ask(t, 0, "1.2.3.4.5", 32, NULL, 0, &res), TSA_FAIL_BAD_ALG);
	CHECK_CONTAINS(res.reason, "1.2.3.4.5");
	CHECK_EQ(ask(t, NID_md5, NULL, 16, NULL, 0, &res), TSA_FAIL_BAD_ALG);
	CHECK_EQ(ask(t, NID_sha1, NULL, 20, NULL, 0, &res), TSA_FAIL_BAD_ALG);
	CHECK_CONTAINS(res.reason, "SHA-1");
	CHECK_EQ(ask(t, NID_sha3_256, NULL, 32, NULL, 0, &res),
	    TSA_FAIL_BAD_ALG);
	/* Policies: the default, an extra configured one, an unknown one. */
	CHECK_EQ(ask(t, NID_sha256, NULL, 32, cfg->tsa_policy, 0, &res), -1);
	CHECK_EQ(ask(t, NID_sha256, NULL, 32, "1.3.6.1.4.1.0.99.1", 0, &res),
	    -1);
	CHECK_STR(res.policy, "1.3.6.1.4.1.0.99.1");
	CHECK_EQ(ask(t, NID_sha256, NULL, 32, "1.2.3.4", 0, &res),
	    TSA_FAIL_UNACCEPTED_POLICY);
	/* An extension: unacceptedExtension. */
	CHECK_EQ(ask(t, NID_sha256, NULL, 32, NULL, 1, &res),
	    TSA_FAIL_UNACCEPTED_EXTENSION);
	/* Garbage, truncated, trailing bytes: badDataFormat. */
	CHECK_EQ(mkreq(NID_sha256, NULL, 32, 1, 1, NULL, 0, &req, &req_len),
	    0);
	CHECK_EQ(tsa_respond(t, req, req_len - 1, &rep, &rep_len, &res), 0);
	CHECK_EQ(reply_fail(rep, rep_len), TSA_FAIL_BAD_DATA_FORMAT);
	OPENSSL_free(rep);
	req[req_len] = 0;
	CHECK_EQ(tsa_respond(t, req, req_len + 1, &rep, &rep_len, &res), 0);
	CHECK_EQ(reply_fail(rep, rep_len), TSA_FAIL_BAD_DATA_FORMAT);
	CHECK_CONTAINS(res.reason, "after");
	OPENSSL_free(rep);
	CHECK_EQ(tsa_respond(t, (const uint8_t *)"hello", 5, &rep, &rep_len,
	    &res), 0);
	CHECK_EQ(reply_fail(rep, rep_len), TSA_FAIL_BAD_DATA_FORMAT);
	OPENSSL_free(rep);
	/* Version 2 is not a v1 request. */
	{
		size_t i;

		for (i = 0; i + 2 < req_len; i++) {
			if (req[i] == 0x02 && req[i + 1] == 0x01 &&
			    req[i + 2] == 0x01) {
				req[i + 2] = 0x02;
				break;
			}
		}
		CHECK_EQ(tsa_respond(t, req, req_len, &rep, &rep_len, &res),
		    0);
		CHECK_EQ(reply_fail(rep, rep_len), TSA_FAIL_BAD_DATA_FORMAT);
		CHECK_CONTAINS(res.reason, "version");
		OPENSSL_free(rep);
	}
	/* Oversized (over tsa.max_request_bytes): badRequest, not parsed. */
	big = calloc(1, (size_t)cfg->tsa_max_request_bytes + 1);
	CHECK_EQ(tsa_respond(t, big, (size_t)cfg->tsa_max_request_bytes + 1,
	    &rep, &rep_len, &res), 0);
	CHECK_EQ(reply_fail(rep, rep_len), TSA_FAIL_BAD_REQUEST);
	OPENSSL_free(rep);
	rep = NULL;
	/* Random bytes never crash and never give a token. */
	{
		uint8_t buf[300];
		int i, granted = 0;

		for (i = 0; i < 2000; i++) {
			size_t n = (size_t)(i % (int)sizeof(buf)) + 1;

			RAND_bytes(buf, (int)n);
			if (i % 2)
				memcpy(buf, req, n < req_len ? n : req_len);
			if (tsa_respond(t, buf, n, &rep, &rep_len, &res) != 0)
				granted += 1000;
			granted += res.granted;
			OPENSSL_free(rep);
			rep = NULL;
		}
		CHECK_EQ(granted, 0);
	}
	tsa_free(t);
	/* SHA-1 accepted only when configured. */
	cfg->tsa_allow_sha1 = 1;
	t = mktsa(cfg, NULL, "ok");
	CHECK(t != NULL);
	if (t != NULL)
		CHECK_EQ(ask(t, NID_sha1, NULL, 20, NULL, 0, &res), -1);
out:
	free(big);
	free(req);
	tsa_free(t);
	gp_config_free(cfg);
}

static void
test_clock_guard(void)
{
	struct gp_config *cfg = mkcfg();
	struct tsa_result res;
	tsa *t;
	store *st = NULL;
	char path[300], why[160], *val = NULL;
	int refuse = 0;

	/* Unsynchronised: timeNotAvailable in strict mode, /healthz text. */
	t = mktsa(cfg, NULL, "unsync");
	CHECK(t != NULL);
	if (t != NULL) {
		CHECK_EQ(ask(t, NID_sha256, NULL, 32, NULL, 0, &res),
		    TSA_FAIL_TIME_NOT_AVAILABLE);
		CHECK_CONTAINS(res.reason, "unsynchronised");
		CHECK_EQ(tsa_clock_state(t, &refuse, why, sizeof(why)),
		    TSA_CLOCK_UNSYNC);
		CHECK_EQ(refuse, 1);
		CHECK_CONTAINS(why, "unsynchronised");
	}
	tsa_free(t);
	/* Estimated error above the 1 s accuracy, and below it. */
	t = mktsa(cfg, NULL, "error:1000001");
	CHECK(t != NULL && ask(t, NID_sha256, NULL, 32, NULL, 0, &res) ==
	    TSA_FAIL_TIME_NOT_AVAILABLE);
	CHECK_CONTAINS(res.reason, "accuracy");
	tsa_free(t);
	t = mktsa(cfg, NULL, "error:999999");
	CHECK(t != NULL && ask(t, NID_sha256, NULL, 32, NULL, 0, &res) == -1);
	tsa_free(t);
	/* Warn mode issues on an unsynchronised clock and says so. */
	free(cfg->tsa_clock_check);
	cfg->tsa_clock_check = strdup("warn");
	t = mktsa(cfg, NULL, "unsync");
	CHECK(t != NULL && ask(t, NID_sha256, NULL, 32, NULL, 0, &res) == -1);
	if (t != NULL) {
		CHECK_EQ(tsa_clock_state(t, &refuse, why, sizeof(why)),
		    TSA_CLOCK_UNSYNC);
		CHECK_EQ(refuse, 0);
		CHECK_CONTAINS(why, "warn mode");
	}
	tsa_free(t);
	free(cfg->tsa_clock_check);
	cfg->tsa_clock_check = strdup("strict");

	/* Stepped backwards: the last genTime is persisted in the store and
	 * a clock behind it refuses, in strict and warn mode alike. */
	snprintf(path, sizeof(path), "%s/tsa.db", tmpdir);
	CHECK_EQ(store_open(path, 1, &st), 0);
	t = mktsa(cfg, st, "ok");
	CHECK(t != NULL && ask(t, NID_sha256, NULL, 32, NULL, 0, &res) == -1);
	tsa_free(t); /* persists */
	CHECK_EQ(store_meta_get(st, "tsa.last_gentime_us", &val), 0);
	CHECK(val != NULL && strtoll(val, NULL, 10) / 1000 >=
	    res.gen_time_ms);
	free(val);
	t = mktsa(cfg, st, "backwards");
	CHECK(t != NULL);
	if (t != NULL) {
		CHECK_EQ(ask(t, NID_sha256, NULL, 32, NULL, 0, &res),
		    TSA_FAIL_TIME_NOT_AVAILABLE);
		CHECK_CONTAINS(res.reason, "backwards");
		CHECK_EQ(tsa_clock_state(t, &refuse, why, sizeof(why)),
		    TSA_CLOCK_BACKWARDS);
		CHECK_EQ(refuse, 1);
	}
	tsa_free(t);
	free(cfg->tsa_clock_check);
	cfg->tsa_clock_check = strdup("warn");
	t = mktsa(cfg, st, "backwards");
	CHECK(t != NULL && ask(t, NID_sha256, NULL, 32, NULL, 0, &res) ==
	    TSA_FAIL_TIME_NOT_AVAILABLE);
	tsa_free(t);
	/* Back on time: issues again. */
	t = mktsa(cfg, st, "ok");
	CHECK(t != NULL && ask(t, NID_sha256, NULL, 32, NULL, 0, &res) == -1);
	tsa_free(t);
	store_free(st);
	gp_config_free(cfg);
}

static int64_t
stored_bound(store *st)
{
	char *val = NULL;
	int64_t v = -1;

	if (store_meta_get(st, "tsa.last_gentime_us", &val) == 0)
		v = strtoll(val, NULL, 10);
	free(val);
	return v;
}

/* Sets the genTime bound |key| ten seconds ahead of this clock (its text
 * into |buf|), as a node whose clock ran ahead, or this one before it was
 * stepped back, leaves it. */
static void
bound_ahead(store *st, const char *key, char *buf, size_t len)
{
	struct timespec ts;
	int64_t now_us;

	clock_gettime(CLOCK_REALTIME, &ts);
	now_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	snprintf(buf, len, "%lld", (long long)(now_us + 10000000));
	CHECK_EQ(store_begin(st), 0);
	CHECK_EQ(store_meta_set(st, key, buf), 0);
	CHECK_EQ(store_commit(st), 0);
}

/* |t| (freed here) refuses its next token: its clock is behind a bound. */
static void
check_backwards(tsa *t)
{
	struct tsa_result res;

	CHECK(t != NULL);
	if (t != NULL) {
		CHECK_EQ(ask(t, NID_sha256, NULL, 32, NULL, 0, &res),
		    TSA_FAIL_TIME_NOT_AVAILABLE);
		CHECK_CONTAINS(res.reason, "backwards");
	}
	tsa_free(t);
}

/* The durable genTime bound: written ahead of every token, so that a
 * crash (no orderly tsa_free: nothing is written there any more) loses
 * nothing; a quick restart waits for the clock to pass it, a clock
 * further behind refuses. */
static void
test_clock_bound(void)
{
	struct gp_config *cfg = mkcfg();
	struct tsa_result res;
	tsa *t;
	store *st = NULL;
	char path[300], buf[32];
	int64_t bound, first_ms;

	snprintf(path, sizeof(path), "%s/bound.db", tmpdir);
	CHECK_EQ(store_open(path, 1, &st), 0);
	if (st == NULL)
		goto out;
	t = mktsa(cfg, st, "ok");
	CHECK(t != NULL && ask(t, NID_sha256, NULL, 32, NULL, 0, &res) == -1);
	first_ms = res.gen_time_ms;
	/* A second token at once: both are below the stored bound, which
	 * is durable before they leave and well ahead of them. */
	CHECK(t != NULL && ask(t, NID_sha256, NULL, 32, NULL, 0, &res) == -1);
	bound = stored_bound(st);
	CHECK(bound > res.gen_time_ms * 1000 + 999);
	CHECK(bound >= first_ms * 1000 + 500000);
	tsa_free(t);
	CHECK_EQ(stored_bound(st), bound);
	/* A restart at once: the first token is past the bound. */
	t = mktsa(cfg, st, "ok");
	CHECK(t != NULL && ask(t, NID_sha256, NULL, 32, NULL, 0, &res) == -1);
	CHECK(res.gen_time_ms * 1000 + 999 >= bound);
	CHECK(stored_bound(st) > res.gen_time_ms * 1000);
	tsa_free(t);
	/* The clock ten seconds behind the bound: stepped backwards. */
	bound_ahead(st, "tsa.last_gentime_us", buf, sizeof(buf));
	check_backwards(mktsa(cfg, st, "ok"));
out:
	store_free(st);
	gp_config_free(cfg);
}

/* Several nodes on one store: each keeps its own genTime bound, so a
 * node whose clock runs ahead (its bound ten seconds past this clock)
 * holds back no other node, and refuses only itself; the store-wide
 * bound of an instance from before bounds were per node holds every
 * node back. */
static void
test_clock_bound_per_node(void)
{
	struct gp_config *cfg = mkcfg();
	struct tsa_result res;
	tsa *t;
	store *st = NULL;
	char path[300], buf[32], *val = NULL;

	snprintf(path, sizeof(path), "%s/nodes.db", tmpdir);
	CHECK_EQ(store_open(path, 1, &st), 0);
	if (st == NULL)
		goto out;
	bound_ahead(st, "tsa.last_gentime_us/n1", buf, sizeof(buf));
	/* n2 issues, and writes its own bound, leaving n1's alone. */
	t = mktsa_node(cfg, st, "ok", "n2");
	CHECK(t != NULL && ask(t, NID_sha256, NULL, 32, NULL, 0, &res) == -1);
	tsa_free(t);
	CHECK_EQ(store_meta_get(st, "tsa.last_gentime_us/n2", &val), 0);
	CHECK(val != NULL && strtoll(val, NULL, 10) > res.gen_time_ms * 1000);
	free(val);
	val = NULL;
	CHECK_EQ(store_meta_get(st, "tsa.last_gentime_us/n1", &val), 0);
	CHECK_STR(val, buf);
	free(val);
	val = NULL;
	/* n1 itself: its clock went back behind its own bound. */
	check_backwards(mktsa_node(cfg, st, "ok", "n1"));
	/* The store-wide bound (written before bounds were per node) holds
	 * every node back. */
	bound_ahead(st, "tsa.last_gentime_us", buf, sizeof(buf));
	check_backwards(mktsa_node(cfg, st, "ok", "n2"));
out:
	store_free(st);
	gp_config_free(cfg);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct serial_arg {
	tsa *t;
	int n;
	char **out;
	int failed;
	int backwards;      /* genTimes earlier than this thread's last */
};

static void *
serial_worker(void *p)
{
	struct serial_arg *a = p;
	struct tsa_result res;
	int64_t last = 0;
	int i;

	for (i = 0; i < a->n; i++) {
		if (ask(a->t, NID_sha256, NULL, 32, NULL, 0, &res) != -1) {
			a->failed++;
			continue;
		}
		a->out[i] = strdup(res.serial);
		a->backwards += res.gen_time_ms < last;
		last = res.gen_time_ms;
	}
	return NULL;
}

/* Two TSAs on one key (two instances), four threads: no duplicate, and
 * no thread sees a genTime earlier than its previous one. */
static void
test_serials(void)
{
	enum { PER = 1500, THREADS = 4 };
	struct gp_config *cfg = mkcfg();
	tsa *t1 = mktsa(cfg, NULL, "ok"), *t2 = mktsa(cfg, NULL, "ok");
	struct serial_arg args[THREADS];
	pthread_t th[THREADS];
	char **all = calloc(PER * THREADS, sizeof(char *));
	int i, dup = 0, failed = 0, missing = 0, back = 0;

	CHECK(t1 != NULL && t2 != NULL && all != NULL);
	if (t1 == NULL || t2 == NULL || all == NULL)
		goto out;
	for (i = 0; i < THREADS; i++) {
		args[i].t = i % 2 ? t2 : t1;
		args[i].n = PER;
		args[i].out = all + i * PER;
		args[i].failed = 0;
		args[i].backwards = 0;
		pthread_create(&th[i], NULL, serial_worker, &args[i]);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		failed += args[i].failed;
		back += args[i].backwards;
	}
	CHECK_EQ(failed, 0);
	CHECK_EQ(back, 0);
	for (i = 0; i < PER * THREADS; i++)
		missing += all[i] == NULL;
	CHECK_EQ(missing, 0);
	if (missing == 0) {
		qsort(all, PER * THREADS, sizeof(char *), cmp_str);
		for (i = 1; i < PER * THREADS; i++)
			dup += strcmp(all[i - 1], all[i]) == 0;
		CHECK_EQ(dup, 0);
	}
out:
	for (i = 0; all != NULL && i < PER * THREADS; i++)
		free(all[i]);
	free(all);
	tsa_free(t1);
	tsa_free(t2);
	gp_config_free(cfg);
}

/* ---- the directly encoded token against OpenSSL's ---- */

/* A TimeStampReq with a nonce given in hex (NULL: none). */
static int
mkreq_hex(int md_nid, size_t imp_len, const char *nonce_hex, int cert_req,
    const char *policy, uint8_t **out, size_t *out_len)
{
	TS_REQ *req = TS_REQ_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	BIGNUM *bn = NULL;
	ASN1_INTEGER *n = NULL;
	ASN1_OBJECT *pol = NULL;
	unsigned char imp[64];
	int len, ok;
	uint8_t *p;

	RAND_bytes(imp, sizeof(imp));
	X509_ALGOR_set0(alg, OBJ_nid2obj(md_nid), V_ASN1_UNDEF, NULL);
	ok = TS_REQ_set_version(req, 1) && TS_MSG_IMPRINT_set_algo(mi, alg) &&
	    TS_MSG_IMPRINT_set_msg(mi, imp, (int)imp_len) &&
	    TS_REQ_set_msg_imprint(req, mi) &&
	    TS_REQ_set_cert_req(req, cert_req);
	if (ok && nonce_hex != NULL)
		ok = BN_hex2bn(&bn, nonce_hex) > 0 &&
		    (n = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
		    TS_REQ_set_nonce(req, n);
	if (ok && policy != NULL)
		ok = (pol = OBJ_txt2obj(policy, 1)) != NULL &&
		    TS_REQ_set_policy_id(req, pol);
	len = ok ? i2d_TS_REQ(req, NULL) : -1;
	*out = NULL;
	if (len > 0 && (*out = malloc((size_t)len)) != NULL) {
		p = *out;
		i2d_TS_REQ(req, &p);
		*out_len = (size_t)len;
	}
	ASN1_OBJECT_free(pol);
	ASN1_INTEGER_free(n);
	BN_free(bn);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	TS_REQ_free(req);
	return *out != NULL ? 0 : -1;
}

/* What the reference response context hands OpenSSL: our serial, our
 * genTime. */
struct ref_call {
	const ASN1_INTEGER *serial;
	long sec, usec;
};

static ASN1_INTEGER *
ref_serial_cb(TS_RESP_CTX *ctx, void *data)
{
	const struct ref_call *c = data;

	return ASN1_INTEGER_dup(c->serial);
}

static int
ref_time_cb(TS_RESP_CTX *ctx, void *data, long *sec, long *usec)
{
	const struct ref_call *c = data;

	*sec = c->sec;
	*usec = c->usec;
	return 1;
}

/* Unix seconds and microseconds of a GeneralizedTime with a fraction. */
static int
gentime_parse(const ASN1_GENERALIZEDTIME *gt, long *sec, long *usec)
{
	struct tm tm;
	const char *s = (const char *)ASN1_STRING_get0_data(gt), *f;
	long us = 0, scale = 100000;

	if (ASN1_TIME_to_tm(gt, &tm) != 1)
		return -1;
	*sec = (long)timegm(&tm);
	if ((f = strchr(s, '.')) != NULL) {
		for (f++; *f >= '0' && *f <= '9'; f++, scale /= 10)
			us += (*f - '0') * scale;
	}
	*usec = us;
	return 0;
}

/* OpenSSL's own token for |req|, as the TSA was configured (the old
 * TS_RESP_CTX path), with the serial and genTime of |mine|. */
static TS_RESP *
ref_token(const struct gp_config *cfg, EVP_PKEY *key, X509 *cert,
    const EVP_MD *md, const uint8_t *req, size_t req_len, TS_TST_INFO *mine)
{
	TS_RESP_CTX *ctx = TS_RESP_CTX_new();
	STACK_OF(X509) *chain = sk_X509_new_null();
	struct ref_call call;
	ASN1_OBJECT *def = OBJ_txt2obj(cfg->tsa_policy, 1), *pol = NULL;
	BIO *in = BIO_new_mem_buf(req, (int)req_len);
	TS_RESP *resp = NULL;
	size_t i;
	int ok;

	call.serial = TS_TST_INFO_get_serial(mine);
	ok = gentime_parse(TS_TST_INFO_get_time(mine), &call.sec,
	    &call.usec) == 0;
	sk_X509_push(chain, root_cert);
	ok = ok && ctx != NULL && TS_RESP_CTX_set_signer_cert(ctx, cert) &&
	    TS_RESP_CTX_set_signer_key(ctx, key) &&
	    TS_RESP_CTX_set_signer_digest(ctx, md) &&
	    TS_RESP_CTX_set_ess_cert_id_digest(ctx, EVP_sha256()) &&
	    TS_RESP_CTX_set_certs(ctx, chain) &&
	    TS_RESP_CTX_set_def_policy(ctx, def) &&
	    TS_RESP_CTX_add_md(ctx, EVP_sha256()) &&
	    TS_RESP_CTX_add_md(ctx, EVP_sha384()) &&
	    TS_RESP_CTX_add_md(ctx, EVP_sha512()) &&
	    TS_RESP_CTX_set_accuracy(ctx, (int)cfg->tsa_accuracy_s,
	    (int)cfg->tsa_accuracy_ms, (int)cfg->tsa_accuracy_us) &&
	    TS_RESP_CTX_set_clock_precision_digits(ctx,
	    (unsigned)cfg->tsa_precision_digits);
	for (i = 0; ok && i < cfg->tsa_policies_len; i++) {
		ok = (pol = OBJ_txt2obj(cfg->tsa_policies[i], 1)) != NULL &&
		    TS_RESP_CTX_add_policy(ctx, pol);
		ASN1_OBJECT_free(pol);
	}
	if (ok) {
		TS_RESP_CTX_add_flags(ctx, TS_TSA_NAME);
		TS_RESP_CTX_set_serial_cb(ctx, ref_serial_cb, &call);
		TS_RESP_CTX_set_time_cb(ctx, ref_time_cb, &call);
		resp = TS_RESP_create_response(ctx, in);
	}
	BIO_free(in);
	ASN1_OBJECT_free(def);
	sk_X509_free(chain);
	TS_RESP_CTX_free(ctx);
	return resp;
}

/* 1 when the i2d encodings of |a| and |b| are the same bytes. */
static int
same_der(int (*i2d)(const void *, unsigned char **), const void *a,
    const void *b)
{
	unsigned char *x = NULL, *y = NULL;
	int nx = i2d(a, &x), ny = i2d(b, &y), same;

	same = nx > 0 && nx == ny && memcmp(x, y, (size_t)nx) == 0;
	OPENSSL_free(x);
	OPENSSL_free(y);
	return same;
}

static int
i2d_tst(const void *a, unsigned char **out)
{
	return i2d_TS_TST_INFO((TS_TST_INFO *)a, out);
}

static int
i2d_algor(const void *a, unsigned char **out)
{
	return i2d_X509_ALGOR((const X509_ALGOR *)a, out);
}

static int
i2d_type(const void *a, unsigned char **out)
{
	return i2d_ASN1_TYPE((const ASN1_TYPE *)a, out);
}

static int
i2d_ias(const void *a, unsigned char **out)
{
	return i2d_PKCS7_ISSUER_AND_SERIAL((PKCS7_ISSUER_AND_SERIAL *)a, out);
}

/* The value of the signed attribute |nid| of |si|, or NULL. */
static ASN1_TYPE *
sattr(PKCS7_SIGNER_INFO *si, int nid)
{
	return PKCS7_get_signed_attribute(si, nid);
}

/* One granted reply, judged: it is DER as OpenSSL writes it, it verifies,
 * it carries certificates exactly when asked, its ESSCertIDv2 is the
 * SHA-256 of |cert|, and every field but the signature and the signing
 * time equals OpenSSL's token for the same request, serial and time. */
static void
check_against_openssl(const struct gp_config *cfg, EVP_PKEY *key,
    X509 *cert, const EVP_MD *md, const uint8_t *req, size_t req_len,
    const uint8_t *rep, size_t rep_len, int cert_req)
{
	const unsigned char *p = rep;
	unsigned char *re = NULL, *cder = NULL;
	TS_RESP *mine = NULL, *ref = NULL;
	PKCS7 *p7, *r7;
	PKCS7_SIGNER_INFO *si, *rsi;
	ASN1_TYPE *ess;
	uint8_t want[8 + 32];
	unsigned int hl = 0;
	int n, i, cn;
	static const int nids[] = {NID_pkcs9_contentType,
	    NID_pkcs9_messageDigest, NID_id_smime_aa_signingCertificateV2};

	mine = d2i_TS_RESP(NULL, &p, (long)rep_len);
	CHECK(mine != NULL && p == rep + rep_len);
	if (mine == NULL)
		return;
	/* DER: OpenSSL re-encodes it to the very same bytes. */
	n = i2d_TS_RESP(mine, &re);
	CHECK(n > 0 && (size_t)n == rep_len && memcmp(re, rep, rep_len) == 0);
	OPENSSL_free(re);
	p7 = TS_RESP_get_token(mine);
	si = sk_PKCS7_SIGNER_INFO_value(PKCS7_get_signer_info(p7), 0);
	CHECK(si != NULL && sk_PKCS7_SIGNER_INFO_num(
	    PKCS7_get_signer_info(p7)) == 1);
	if (si == NULL)
		goto out;
	/* RFC 3161 2.4.1 certReq: the certificates exactly when asked. */
	cn = p7->d.sign->cert != NULL ? sk_X509_num(p7->d.sign->cert) : 0;
	CHECK_EQ(cn, cert_req ? 2 : 0);
	if (cert_req && cn == 2) {
		CHECK(X509_cmp(sk_X509_value(p7->d.sign->cert, 0), cert) == 0);
		CHECK(X509_cmp(sk_X509_value(p7->d.sign->cert, 1),
		    root_cert) == 0);
	}
	/* RFC 5816: the precomputed ESSCertIDv2 is SigningCertificateV2 {
	 * { ESSCertIDv2 { certHash SHA-256(certificate) } } }, hashAlgorithm
	 * at its default (SHA-256), no issuerSerial. */
	memcpy(want, "\x30\x26\x30\x24\x30\x22\x04\x20", 8);
	n = i2d_X509(cert, &cder);
	CHECK(n > 0 && EVP_Digest(cder, (size_t)n, want + 8, &hl,
	    EVP_sha256(), NULL) == 1 && hl == 32);
	OPENSSL_free(cder);
	ess = sattr(si, NID_id_smime_aa_signingCertificateV2);
	CHECK(ess != NULL && ess->type == V_ASN1_SEQUENCE &&
	    ess->value.sequence->length == (int)sizeof(want) &&
	    memcmp(ess->value.sequence->data, want, sizeof(want)) == 0);
	CHECK(sattr(si, NID_id_smime_aa_signingCertificate) == NULL);
	CHECK(sattr(si, NID_pkcs9_signingTime) != NULL);
	CHECK_EQ(sk_X509_ATTRIBUTE_num(PKCS7_get_signed_attributes(si)), 4);

	/* Field for field against OpenSSL's token. */
	ref = ref_token(cfg, key, cert, md, req, req_len,
	    TS_RESP_get_tst_info(mine));
	CHECK(ref != NULL && TS_RESP_get_token(ref) != NULL);
	if (ref == NULL || TS_RESP_get_token(ref) == NULL)
		goto out;
	CHECK(same_der(i2d_tst, TS_RESP_get_tst_info(mine),
	    TS_RESP_get_tst_info(ref)));
	r7 = TS_RESP_get_token(ref);
	rsi = sk_PKCS7_SIGNER_INFO_value(PKCS7_get_signer_info(r7), 0);
	CHECK_EQ(ASN1_INTEGER_get(p7->d.sign->version),
	    ASN1_INTEGER_get(r7->d.sign->version));
	CHECK(same_der(i2d_algor, sk_X509_ALGOR_value(p7->d.sign->md_algs, 0),
	    sk_X509_ALGOR_value(r7->d.sign->md_algs, 0)));
	CHECK_EQ(sk_X509_ALGOR_num(p7->d.sign->md_algs), 1);
	CHECK_EQ(ASN1_INTEGER_get(si->version), ASN1_INTEGER_get(rsi->version));
	CHECK(same_der(i2d_ias, si->issuer_and_serial,
	    rsi->issuer_and_serial));
	CHECK(same_der(i2d_algor, si->digest_alg, rsi->digest_alg));
	CHECK(same_der(i2d_algor, si->digest_enc_alg, rsi->digest_enc_alg));
	CHECK_EQ(sk_X509_ATTRIBUTE_num(PKCS7_get_signed_attributes(rsi)), 4);
	/* The reference token was built in memory, not parsed: compare the
	 * encodings (ASN1_TYPE_cmp() also compares the in-memory string
	 * types). */
	for (i = 0; i < (int)(sizeof(nids) / sizeof(nids[0])); i++)
		CHECK(same_der(i2d_type, sattr(si, nids[i]),
		    sattr(rsi, nids[i])));
	CHECK(si->unauth_attr == NULL || sk_X509_ATTRIBUTE_num(
	    si->unauth_attr) == 0);
	if (cert_req) {
		CHECK(r7->d.sign->cert != NULL &&
		    sk_X509_num(r7->d.sign->cert) == 2 && X509_cmp(
		    sk_X509_value(r7->d.sign->cert, 0), cert) == 0);
	}
out:
	TS_RESP_free(ref);
	TS_RESP_free(mine);
}

/* Asks |t| for a token and judges it; verifies it with the roots. */
static void
stamp_and_check(tsa *t, const struct gp_config *cfg, EVP_PKEY *key,
    X509 *cert, const EVP_MD *md, int md_nid, size_t imp_len,
    const char *nonce_hex, int cert_req, const char *policy)
{
	uint8_t *req = NULL, *rep = NULL;
	size_t req_len = 0, rep_len = 0;
	struct tsa_result res;
	struct tsa_verify_in vi;
	struct tsa_verify_out vo;
	STACK_OF(X509) *trusted = roots(), *untr = sk_X509_new_null();
	const unsigned char *p;
	TS_REQ *treq = NULL;

	CHECK_EQ(mkreq_hex(md_nid, imp_len, nonce_hex, cert_req, policy, &req,
	    &req_len), 0);
	CHECK_EQ(tsa_respond(t, req, req_len, &rep, &rep_len, &res), 0);
	CHECK(res.granted);
	if (!res.granted)
		goto out;
	CHECK_STR(res.policy, policy != NULL ? policy : cfg->tsa_policy);
	check_against_openssl(cfg, key, cert, md, req, req_len, rep, rep_len,
	    cert_req);
	/* And it verifies as a relying party would, nonce included. */
	p = req;
	treq = d2i_TS_REQ(NULL, &p, (long)req_len);
	memset(&vi, 0, sizeof(vi));
	vi.reply_der = rep;
	vi.reply_len = rep_len;
	vi.digest = ASN1_STRING_get0_data(TS_MSG_IMPRINT_get_msg(
	    TS_REQ_get_msg_imprint(treq)));
	vi.digest_len = imp_len;
	vi.nonce = TS_REQ_get_nonce(treq);
	vi.trusted = trusted;
	sk_X509_push(untr, cert);
	vi.untrusted = untr; /* needed when certReq was not set */
	CHECK_EQ(tsa_verify(&vi, &vo), 0);
	CHECK_STR(vo.serial, res.serial);
	CHECK_EQ(vo.has_certs, cert_req);
out:
	TS_REQ_free(treq);
	sk_X509_free(untr);
	sk_X509_free(trusted);
	free(req);
	OPENSSL_free(rep);
}

static void
test_token_der(void)
{
	struct gp_config *cfg = mkcfg();
	EVP_PKEY *k384 = EVP_EC_gen("P-384"), *krsa = EVP_RSA_gen(2048);
	X509 *c384 = mkcert("test tsa p384", k384, root_cert, root_key,
	    "critical,timeStamping");
	X509 *crsa = mkcert("test tsa rsa", krsa, root_cert, root_key,
	    "critical,timeStamping");
	tsa *t;
	int i;

	/* certReq toggling between requests on one TSA: the cached
	 * certificates appear exactly when asked, and each token stays
	 * valid; nonces of every size are echoed as they came. Enough tokens
	 * that some genTime fractions end in zeros (RFC 3161 2.4.2: none
	 * may be written). */
	t = mktsa(cfg, NULL, "ok");
	CHECK(t != NULL);
	for (i = 0; t != NULL && i < 24; i++)
		stamp_and_check(t, cfg, tsa_key, tsa_cert, EVP_sha256(),
		    i % 3 == 2 ? NID_sha512 : NID_sha256, i % 3 == 2 ? 64 : 32,
		    i % 2 ? NULL : i == 0 ? "01" : i == 2 ? "00" :
		    "ffeeddccbbaa99887766554433221100ffeeddcc", i % 2 == 0,
		    i % 4 == 0 ? "1.3.6.1.4.1.0.99.1" : NULL);
	tsa_free(t);

	/* Accuracy in milliseconds and microseconds, six fraction digits;
	 * then none (whole seconds). */
	cfg->tsa_accuracy_s = 0;
	cfg->tsa_accuracy_ms = 250;
	cfg->tsa_accuracy_us = 7;
	cfg->tsa_precision_digits = 6;
	t = mktsa(cfg, NULL, "ok");
	CHECK(t != NULL);
	for (i = 0; t != NULL && i < 12; i++)
		stamp_and_check(t, cfg, tsa_key, tsa_cert, EVP_sha256(),
		    NID_sha384, 48, "7fffffffffffffff", i % 2, NULL);
	tsa_free(t);
	cfg->tsa_accuracy_s = 2;
	cfg->tsa_accuracy_ms = 0;
	cfg->tsa_accuracy_us = 0;
	cfg->tsa_precision_digits = 0;
	t = mktsa(cfg, NULL, "ok");
	CHECK(t != NULL);
	if (t != NULL)
		stamp_and_check(t, cfg, tsa_key, tsa_cert, EVP_sha256(),
		    NID_sha256, 32, "1234", 1, NULL);
	tsa_free(t);
	cfg->tsa_accuracy_s = 1;
	cfg->tsa_precision_digits = 3;

	/* Other keys: P-384 signs with SHA-384 (ecdsa-with-SHA384), RSA with
	 * rsaEncryption, as OpenSSL's PKCS7 code names them. */
	t = mktsa_with(cfg, NULL, "ok", k384, c384);
	CHECK(t != NULL);
	if (t != NULL)
		stamp_and_check(t, cfg, k384, c384, EVP_sha384(), NID_sha256,
		    32, "42", 1, NULL);
	tsa_free(t);
	t = mktsa_with(cfg, NULL, "ok", krsa, crsa);
	CHECK(t != NULL);
	if (t != NULL)
		stamp_and_check(t, cfg, krsa, crsa, EVP_sha256(), NID_sha256,
		    32, NULL, 0, NULL);
	tsa_free(t);

	/* A precision the encoder cannot write is refused at start. */
	cfg->tsa_precision_digits = 7;
	CHECK(mktsa(cfg, NULL, "ok") == NULL);
	CHECK_CONTAINS(gp_err_detail(), "precision");
	cfg->tsa_precision_digits = 3;

	X509_free(c384);
	X509_free(crsa);
	EVP_PKEY_free(k384);
	EVP_PKEY_free(krsa);
	gp_config_free(cfg);
}

/* ---- load client for t_tsa.sh ---- */

struct load_arg {
	uint16_t port;
	const uint8_t *req;
	size_t req_len;
	int n;
	FILE *out;
	pthread_mutex_t *mu;
	int errors;
	int granted;
};

static int
load_connect(uint16_t port)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One POST /tsa on |fd|; the reply body into |body|. Returns its length
 * or -1. */
static long
load_post(int fd, const struct load_arg *a, uint8_t *buf, size_t cap,
    const uint8_t **body)
{
	char head[256];
	size_t have = 0, need;
	ssize_t n;
	char *end, *cl;
	int hl;

	hl = snprintf(head, sizeof(head), "POST /tsa HTTP/1.1\r\nHost: "
	    "127.0.0.1\r\nContent-Type: application/timestamp-query\r\n"
	    "Content-Length: %zu\r\n\r\n", a->req_len);
	if (write(fd, head, (size_t)hl) != hl ||
	    write(fd, a->req, a->req_len) != (ssize_t)a->req_len)
		return -1;
	for (;;) {
		if ((n = read(fd, buf + have, cap - have - 1)) <= 0)
			return -1;
		have += (size_t)n;
		buf[have] = '\0';
		if ((end = strstr((char *)buf, "\r\n\r\n")) != NULL)
			break;
		if (have + 1 >= cap)
			return -1;
	}
	if (strncmp((char *)buf, "HTTP/1.1 200", 12) != 0 ||
	    (cl = strcasestr((char *)buf, "\r\nContent-Length:")) == NULL)
		return -1;
	need = (size_t)(end + 4 - (char *)buf) + strtoul(cl + 17, NULL, 10);
	if (need >= cap)
		return -1;
	while (have < need) {
		if ((n = read(fd, buf + have, need - have)) <= 0)
			return -1;
		have += (size_t)n;
	}
	*body = (const uint8_t *)end + 4;
	return (long)(need - (size_t)(end + 4 - (char *)buf));
}

static void *
load_worker(void *p)
{
	struct load_arg *a = p;
	uint8_t buf[16384];
	const uint8_t *body, *q;
	long len;
	int fd = -1, i;
	TS_RESP *resp;
	BIGNUM *bn;
	char *hex;

	for (i = 0; i < a->n; i++) {
		if (fd < 0 && (fd = load_connect(a->port)) < 0) {
			a->errors++;
			continue;
		}
		if ((len = load_post(fd, a, buf, sizeof(buf), &body)) < 0) {
			close(fd);
			fd = -1;
			a->errors++;
			continue;
		}
		q = body;
		resp = d2i_TS_RESP(NULL, &q, len);
		if (resp == NULL || TS_RESP_get_tst_info(resp) == NULL) {
			a->errors++;
			TS_RESP_free(resp);
			continue;
		}
		bn = ASN1_INTEGER_to_BN(TS_TST_INFO_get_serial(
		    TS_RESP_get_tst_info(resp)), NULL);
		hex = bn != NULL ? BN_bn2hex(bn) : NULL;
		if (hex != NULL) {
			pthread_mutex_lock(a->mu);
			fprintf(a->out, "%s\n", hex);
			pthread_mutex_unlock(a->mu);
			a->granted++;
		} else {
			a->errors++;
		}
		OPENSSL_free(hex);
		BN_free(bn);
		TS_RESP_free(resp);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static int
load_main(int argc, char **argv)
{
	enum { MAXC = 64 };
	struct load_arg args[MAXC];
	pthread_t th[MAXC];
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	uint16_t ports[2];
	int n, clients, i, granted = 0, errors = 0;
	uint8_t *req = NULL;
	size_t req_len = 0;
	FILE *out;

	if (argc != 7)
		return 2;
	ports[0] = (uint16_t)atoi(argv[2]);
	ports[1] = (uint16_t)atoi(argv[3]);
	n = atoi(argv[4]);
	clients = atoi(argv[5]);
	if (clients < 2 || clients > MAXC || n < clients ||
	    (out = fopen(argv[6], "w")) == NULL)
		return 2;
	if (mkreq(NID_sha256, NULL, 32, 7, 0, NULL, 0, &req, &req_len) != 0)
		return 1;
	for (i = 0; i < clients; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].port = ports[i % 2];
		args[i].req = req;
		args[i].req_len = req_len;
		args[i].n = n / clients + (i < n % clients);
		args[i].out = out;
		args[i].mu = &mu;
		pthread_create(&th[i], NULL, load_worker, &args[i]);
	}
	for (i = 0; i < clients; i++) {
		pthread_join(th[i], NULL);
		granted += args[i].granted;
		errors += args[i].errors;
	}
	fclose(out);
	free(req);
	printf("granted %d errors %d\n", granted, errors);
	return errors == 0 && granted == n ? 0 : 1;
}

int
main(int argc, char **argv)
{
	char cmd[300];
	int rc;

	if (argc > 1 && strcmp(argv[1], "--load") == 0)
		return load_main(argc, argv);
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	root_key = keygen();
	tsa_key = keygen();
	other_key = keygen();
	root_cert = mkcert("test root", root_key, NULL, root_key, NULL);
	tsa_cert = mkcert("test tsa", tsa_key, root_cert, root_key,
	    "critical,timeStamping");
	plain_cert = mkcert("test plain", tsa_key, root_cert, root_key,
	    "clientAuth");

	RUN(test_null_and_bounds);
	RUN(test_token);
	RUN(test_rejections);
	RUN(test_clock_guard);
	RUN(test_clock_bound);
	RUN(test_clock_bound_per_node);
	RUN(test_serials);
	RUN(test_token_der);

	X509_free(root_cert);
	X509_free(tsa_cert);
	X509_free(plain_cert);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(tsa_key);
	EVP_PKEY_free(other_key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	rc = system(cmd);
	(void)rc;
	return test_done("tsa");
}
