/*
 * test_ca.c: the certificate builder: serials (positive, 16 bytes, 126
 * random bits, unique),
 * the extensions every certificate must carry, validity, self-signed and
 * issued certificates verifying, and refusals of bad names and specs; the
 * judgement of a certificate's status at a past time from its history
 * (holds, releases, revocation, invalidity date; histories the CA never
 * writes refused).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "tests/test.h"

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Serials: positive, unique, always 16 bytes, and exactly
 * CA_SERIAL_RANDOM_BITS of their bits random. Over N serials the two top
 * bits never change (01: no sign byte, no leading zero byte) and every
 * other bit is set in 40% to 60% of them (a fixed bit would be 0% or 100%;
 * a fair bit leaves that band with probability below 1e-40 at N = 5000). */
static void
test_serials(void)
{
	enum { N = 5000, BITS = 128 };
	char **hex = calloc(N, sizeof(char *));
	int *ones = calloc(BITS, sizeof(int));
	ASN1_INTEGER *s = NULL;
	BIGNUM *bn;
	unsigned char bin[16];
	int i, b, dups = 0, varying = 0;

	CHECK(hex != NULL && ones != NULL);
	if (hex == NULL || ones == NULL) {
		free(hex);
		free(ones);
		return;
	}
	for (i = 0; i < N; i++) {
		CHECK_EQ(ca_serial_new(&s), 0);
		bn = ASN1_INTEGER_to_BN(s, NULL);
		CHECK(bn != NULL && !BN_is_negative(bn) && !BN_is_zero(bn));
		/* Always 16 bytes: the DER INTEGER has no sign byte. */
		CHECK_EQ(BN_num_bytes(bn), 16);
		CHECK_EQ(s->length, 16);
		CHECK_EQ(BN_bn2binpad(bn, bin, sizeof(bin)), 16);
		for (b = 0; b < BITS; b++)
			ones[b] += (bin[b / 8] >> (7 - b % 8)) & 1;
		hex[i] = BN_bn2hex(bn);
		BN_free(bn);
		ASN1_INTEGER_free(s);
		s = NULL;
	}
	CHECK_EQ(ones[0], 0);       /* the top bit: positive */
	CHECK_EQ(ones[1], N);       /* the next: the full 16 bytes */
	for (b = 2; b < BITS; b++) {
		if (ones[b] < N * 4 / 10 || ones[b] > N * 6 / 10)
			fprintf(stderr, "  serial bit %d set in %d of %d\n", b,
			    ones[b], N);
		varying += ones[b] >= N * 4 / 10 && ones[b] <= N * 6 / 10;
	}
	/* What ca.h, ca_cert.c and the README claim. */
	CHECK_EQ(varying, CA_SERIAL_RANDOM_BITS);
	CHECK(CA_SERIAL_RANDOM_BITS >= 64); /* CA/B BR 7.1 */
	qsort(hex, N, sizeof(char *), cmp_str);
	for (i = 1; i < N; i++)
		dups += strcmp(hex[i - 1], hex[i]) == 0;
	CHECK_EQ(dups, 0);
	for (i = 0; i < N; i++)
		OPENSSL_free(hex[i]);
	free(hex);
	free(ones);
}

static void
test_name_parse(void)
{
	X509_NAME *n = NULL;
	char buf[256];

	CHECK_EQ(ca_name_parse("/CN=张三/O=某某有限公司", &n), 0);
	CHECK(n != NULL);
	if (n != NULL) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(n, 0);
		CHECK_EQ(ASN1_STRING_type(X509_NAME_ENTRY_get_data(e)),
		    V_ASN1_UTF8STRING);
		X509_NAME_oneline(n, buf, sizeof(buf));
		X509_NAME_free(n);
		n = NULL;
	}
	CHECK_EQ(ca_name_parse("CN=x", &n), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "subject");
	CHECK_EQ(ca_name_parse("/CN", &n), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "CN");
	CHECK_EQ(ca_name_parse("/NOPE=x", &n), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "NOPE");
	CHECK(n == NULL);
}

static int
has_ext(X509 *c, int nid, int *critical)
{
	int i = X509_get_ext_by_NID(c, nid, -1);

	if (i < 0)
		return 0;
	if (critical != NULL)
		*critical = X509_EXTENSION_get_critical(X509_get_ext(c, i));
	return 1;
}

static void
test_sign_chain(void)
{
	EVP_PKEY *rk = EVP_EC_gen("P-256"), *lk = EVP_EC_gen("P-384");
	X509_NAME *rn = NULL, *ln = NULL;
	X509 *root = NULL, *leaf = NULL;
	X509_STORE *xs = NULL;
	X509_STORE_CTX *ctx = NULL;
	struct ca_cert_spec spec;
	char *serial = NULL;
	int crit = 0;

	CHECK(rk != NULL && lk != NULL);
	CHECK_EQ(ca_name_parse("/CN=Test Root/O=govpki", &rn), 0);
	CHECK_EQ(ca_name_parse("/CN=Test TSA/O=govpki", &ln), 0);
	memset(&spec, 0, sizeof(spec));
	spec.subject = rn;
	spec.pubkey = rk;
	spec.issuer_key = rk;
	spec.not_before = 1700000000;
	spec.not_after = 1700000000 + 86400 * 3650;
	spec.is_ca = 1;
	spec.path_len = 0;
	spec.key_usage = "critical,keyCertSign,cRLSign";
	CHECK_EQ(ca_cert_sign(&spec, &root, &serial), 0);
	CHECK(serial != NULL && strlen(serial) == 32);
	free(serial);
	serial = NULL;

	memset(&spec, 0, sizeof(spec));
	spec.subject = ln;
	spec.pubkey = lk;
	spec.issuer_cert = root;
	spec.issuer_key = rk;
	spec.not_before = 1700000000;
	spec.not_after = 1700000000 + 86400 * 365;
	spec.path_len = -1;
	spec.key_usage = "critical,digitalSignature";
	spec.ext_key_usage = "critical,timeStamping";
	spec.crl_url = "http://127.0.0.1:8080/crl/ca.crl";
	spec.ocsp_url = "http://127.0.0.1:8080/ocsp";
	spec.ca_issuers_url = "http://127.0.0.1:8080/certs/ca.crt";
	CHECK_EQ(ca_cert_sign(&spec, &leaf, &serial), 0);
	if (root == NULL || leaf == NULL)
		goto out;
	CHECK(has_ext(leaf, NID_subject_key_identifier, NULL));
	CHECK(has_ext(leaf, NID_authority_key_identifier, NULL));
	CHECK(has_ext(leaf, NID_ext_key_usage, &crit) && crit == 1);
	CHECK(has_ext(leaf, NID_basic_constraints, &crit) && crit == 1);
	CHECK(has_ext(leaf, NID_crl_distribution_points, NULL));
	CHECK(has_ext(leaf, NID_info_access, NULL));
	CHECK(X509_check_issued(root, leaf) == X509_V_OK);
	{
		char *hex = ca_serial_hex(leaf);
		CHECK_STR(hex, serial);
		free(hex);
	}

	xs = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	X509_STORE_add_cert(xs, root);
	X509_STORE_CTX_init(ctx, xs, leaf, NULL);
	X509_STORE_CTX_set_time(ctx, 0, 1700000000 + 86400);
	CHECK_EQ(X509_verify_cert(ctx), 1);

	/* A wrong issuer key must not verify. */
	{
		X509 *bad = NULL;
		char *bs = NULL;
		EVP_PKEY *other = EVP_EC_gen("P-256");
		spec.issuer_key = other;
		CHECK_EQ(ca_cert_sign(&spec, &bad, &bs), 0);
		CHECK(bad != NULL && X509_verify(bad, rk) != 1);
		X509_free(bad);
		free(bs);
		EVP_PKEY_free(other);
	}
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(xs);
	X509_free(root);
	X509_free(leaf);
	X509_NAME_free(rn);
	X509_NAME_free(ln);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(lk);
	free(serial);
}

static void
test_bad_spec(void)
{
	struct ca_cert_spec spec;
	X509 *c = NULL;
	char *s = NULL;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509_NAME *n = NULL;

	CHECK_EQ(ca_name_parse("/CN=x", &n), 0);
	memset(&spec, 0, sizeof(spec));
	spec.subject = n;
	spec.pubkey = k;
	spec.issuer_key = k;
	spec.not_before = 2000;
	spec.not_after = 1000;
	CHECK_EQ(ca_cert_sign(&spec, &c, &s), GP_ERR_INVALID);
	spec.not_after = 3000;
	spec.path_len = -1;
	spec.ext_key_usage = "critical,noSuchPurpose";
	CHECK_EQ(ca_cert_sign(&spec, &c, &s), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "extendedKeyUsage");
	CHECK(c == NULL && s == NULL);
	X509_NAME_free(n);
	EVP_PKEY_free(k);
}

/* Judges |n| events (change letters h/r/v with times) at |t|. */
static int
judge(const char *changes, const int64_t *times, int64_t inv, int64_t t,
    struct ca_status_at *out)
{
	struct store_status_event ev;
	size_t i;
	int r;

	ca_status_begin(out, t);
	for (i = 0; changes[i] != '\0'; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.id = (int64_t)i + 1;
		snprintf(ev.change, sizeof(ev.change), "%s", changes[i] == 'h' ?
		    STORE_CHANGE_HOLD : changes[i] == 'r' ?
		    STORE_CHANGE_RELEASE : changes[i] == 'v' ?
		    STORE_CHANGE_REVOKE : "bogus");
		ev.time = times[i];
		ev.reason = changes[i] == 'v' ? 1 : changes[i] == 'h' ? 6 : -1;
		ev.invalidity_date = changes[i] == 'v' ? inv : 0;
		if ((r = ca_status_step(out, &ev)) != 0)
			return r;
	}
	return ca_status_end(out, "4a5b");
}

static void
test_status_at(void)
{
	/* hold 100, release 200, hold 300, revoke (at the hold's start). */
	const int64_t tm[] = {100, 200, 300, 300};
	const int64_t late[] = {100, 200, 300, 450};
	struct ca_status_at s;
	char iso[32];

	/* Never held or revoked: good at any time. */
	CHECK_EQ(judge("", tm, 0, 50, &s), 0);
	CHECK_EQ(s.state, CA_AT_GOOD);
	/* Before anything, between the holds: good. */
	CHECK_EQ(judge("hrhv", tm, 0, 99, &s), 0);
	CHECK_EQ(judge("hrhv", tm, 0, 200, &s), 0);
	CHECK_EQ(judge("hrhv", tm, 0, 299, &s), 0);
	CHECK(s.revoked && s.revoked_at == 300 && s.reason == 1 && s.held);
	/* Inside the released hold [100, 200): held. */
	CHECK_EQ(judge("hrhv", tm, 0, 100, &s), GP_ERR_CONFLICT);
	CHECK(s.state == CA_AT_HELD && s.from == 100 && s.until == 200);
	CHECK_CONTAINS(gp_err_detail(), "4a5b was on hold");
	CHECK_EQ(judge("hrhv", tm, 0, 199, &s), GP_ERR_CONFLICT);
	/* From the second hold's start on: revoked since then. */
	CHECK_EQ(judge("hrhv", tm, 0, 300, &s), GP_ERR_CONFLICT);
	CHECK(s.state == CA_AT_REVOKED && s.from == 300);
	CHECK_CONTAINS(gp_err_detail(), "revoked at");
	CHECK_CONTAINS(gp_err_detail(), "keyCompromise");
	CHECK_EQ(judge("hrhv", tm, 0, 5000, &s), GP_ERR_CONFLICT);
	/* A revocation recorded later than an unreleased hold: held from
	 * the hold's start until it, revoked after. */
	CHECK_EQ(judge("hrhv", late, 0, 350, &s), GP_ERR_CONFLICT);
	CHECK(s.state == CA_AT_HELD && s.from == 300 && s.until == 0);
	CHECK_EQ(judge("hrhv", late, 0, 450, &s), GP_ERR_CONFLICT);
	CHECK_EQ(s.state, CA_AT_REVOKED);
	/* On hold now. */
	CHECK_EQ(judge("h", tm, 0, 100, &s), GP_ERR_CONFLICT);
	CHECK(s.state == CA_AT_HELD && s.held && s.held_since == 100);
	CHECK_CONTAINS(gp_err_detail(), "on hold (certificateHold) since");
	CHECK_EQ(judge("h", tm, 0, 99, &s), 0);
	/* RFC 5280 5.3.2: invalid from the invalidity date, even before the
	 * revocation time; good before it. */
	CHECK_EQ(judge("v", late + 3, 400, 420, &s), GP_ERR_CONFLICT);
	CHECK(s.state == CA_AT_INVALID && s.from == 400);
	CHECK_CONTAINS(gp_err_detail(), "invalidity date");
	CHECK_EQ(judge("v", late + 3, 400, 399, &s), 0);
	CHECK_EQ(judge("v", late + 3, 0, 420, &s), 0);
	/* Histories ca_revoke.c never writes. */
	CHECK_EQ(judge("r", tm, 0, 50, &s), GP_ERR_TAMPERED);
	CHECK_CONTAINS(gp_err_detail(), "not on hold");
	CHECK_EQ(judge("hh", tm, 0, 50, &s), GP_ERR_TAMPERED);
	CHECK_EQ(judge("vh", tm, 0, 50, &s), GP_ERR_TAMPERED);
	CHECK_CONTAINS(gp_err_detail(), "final");
	CHECK_EQ(judge("x", tm, 0, 50, &s), GP_ERR_TAMPERED);
	CHECK_EQ(ca_status_step(&s, NULL), GP_ERR_INVALID);
	CHECK_EQ(ca_status_at(NULL, "4a", 1, &s), GP_ERR_INVALID);
	ca_time_iso(0, iso, sizeof(iso));
	CHECK_STR(iso, "1970-01-01T00:00:00Z");
	ca_time_iso(-1, iso, sizeof(iso));
	CHECK_STR(iso, "unknown");
}

int
main(void)
{
	ASN1_STRING_set_default_mask_asc("utf8only");
	RUN(test_serials);
	RUN(test_name_parse);
	RUN(test_sign_chain);
	RUN(test_bad_spec);
	RUN(test_status_at);
	return test_done("ca");
}
