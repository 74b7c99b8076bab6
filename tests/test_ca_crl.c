/*
 * test_ca_crl.c: the streaming CRL builder against OpenSSL's own parser:
 * refusals of incomplete specs; an empty CRL (no revokedCertificates, RFC
 * 5280 5.1.2.6); a CRL of a few thousand synthetic rows over several store
 * pages that parses with every byte consumed, verifies with the CA key,
 * lists exactly the revoked and held certificates of that issuer with
 * their reasons (certificateHold for a hold, none for unspecified) and
 * invalidity dates, serials with a sign byte and odd hex lengths intact;
 * and the cRLNumber growing by one per CRL, recorded in the audit log;
 * delta CRLs listing only what changed since their base (removeFromCRL
 * for a release), with a critical deltaCRLIndicator, and freshestCRL in
 * the full CRL that points at them; a certificate held, then revoked by
 * ca_revoke(), listed in the delta and the full CRL as revoked since the
 * hold's start, as its status history says; a generator that lost the
 * CRL lease of several nodes while building commits nothing.
 */
#include <openssl/x509v3.h>

#include "tests/test.h"
#include "tests/test_ca_pki.h"

static struct pki_fx fx;

static void
spec_init(struct ca_crl_spec *s, const char *out)
{
	memset(s, 0, sizeof(*s));
	s->st = fx.st;
	s->audit = fx.a;
	s->issuer = "ca";
	s->issuer_cert = fx.cert[1];
	s->issuer_key = fx.key[1];
	s->out_path = out;
	s->next_update_s = 3600;
	s->actor = "test";
	s->role = "local";
}

static X509_CRL *
crl_load(const char *path)
{
	FILE *f = fopen(path, "rb");
	static unsigned char buf[1 << 20];
	const unsigned char *p = buf;
	size_t n;
	X509_CRL *crl;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	crl = d2i_X509_CRL(NULL, &p, (long)n);
	/* Every byte is the CRL. */
	if (crl != NULL && p != buf + n) {
		X509_CRL_free(crl);
		return NULL;
	}
	return crl;
}

static long
crl_number(X509_CRL *crl)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL,
	    NULL);
	long v = n != NULL ? ASN1_INTEGER_get(n) : -1;

	ASN1_INTEGER_free(n);
	return v;
}

/* -2 when |rv| is NULL (not listed). */
static int
entry_reason(X509_REVOKED *rv)
{
	ASN1_ENUMERATED *e;

	if (rv == NULL)
		return -2;
	e = X509_REVOKED_get_ext_d2i(rv, NID_crl_reason, NULL, NULL);
	int v = e != NULL ? (int)ASN1_ENUMERATED_get(e) : -1;

	ASN1_ENUMERATED_free(e);
	return v;
}

static X509_REVOKED *
find(X509_CRL *crl, const char *hex)
{
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai;
	X509_REVOKED *rv = NULL;

	if (!BN_hex2bn(&bn, hex))
		return NULL;
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	/* 1: listed; 2: listed with removeFromCRL. */
	if (ai != NULL && X509_CRL_get0_by_serial(crl, &rv, ai) == 0)
		rv = NULL;
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return rv;
}

static void
test_refusals(void)
{
	struct ca_crl_spec s;
	char out[128];

	snprintf(out, sizeof(out), "%s/bad.crl", fx.dir);
	CHECK_EQ(ca_crl_generate(NULL, NULL), GP_ERR_INVALID);
	spec_init(&s, out);
	s.issuer_key = NULL;
	CHECK_EQ(ca_crl_generate(&s, NULL), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "key");
	spec_init(&s, out);
	s.next_update_s = 0;
	CHECK_EQ(ca_crl_generate(&s, NULL), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "next_update_s");
	spec_init(&s, out);
	s.out_path = "/nonexistent-dir/x.crl";
	CHECK(ca_crl_generate(&s, NULL) != 0);
	CHECK(access(out, F_OK) != 0);
}

static void
test_empty(void)
{
	struct ca_crl_spec s;
	struct ca_crl_info info;
	char out[128];
	X509_CRL *crl;
	EVP_PKEY *pub = X509_get0_pubkey(fx.cert[1]);

	snprintf(out, sizeof(out), "%s/empty.crl", fx.dir);
	spec_init(&s, out);
	s.issuer = "nobody";
	CHECK_EQ(ca_crl_generate(&s, &info), 0);
	CHECK_EQ(info.entries, 0);
	CHECK_EQ(info.number, 1);
	CHECK_EQ(info.next_update - info.this_update, 3600);
	crl = crl_load(out);
	CHECK(crl != NULL);
	if (crl == NULL)
		return;
	CHECK_EQ(X509_CRL_verify(crl, pub), 1);
	CHECK_EQ(X509_CRL_get_version(crl), 1);
	/* RFC 5280 5.1.2.6: the list is absent, not empty. */
	CHECK(X509_CRL_get_REVOKED(crl) == NULL ||
	    sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) == 0);
	CHECK_EQ(crl_number(crl), 1);
	CHECK(X509_CRL_get_ext_by_NID(crl, NID_authority_key_identifier, -1)
	    >= 0);
	CHECK_EQ(X509_NAME_cmp(X509_CRL_get_issuer(crl),
	    X509_get_subject_name(fx.cert[1])), 0);
	X509_CRL_free(crl);
}

static void
test_entries(void)
{
	enum { NREV = 2600 };
	struct ca_crl_spec s;
	struct ca_crl_info info;
	char out[128], *v = NULL;
	X509_CRL *crl;
	X509_REVOKED *rv;
	int64_t t0 = 1700000000;

	CHECK_EQ(pki_rows(&fx, "ca", "4a", NREV, "revoked", 1, t0), 0);
	CHECK_EQ(pki_rows(&fx, "ca", "ffb", 3, "hold", -1, t0), 0);
	CHECK_EQ(pki_rows(&fx, "ca", "5c", 5, "good", -1, 0), 0);
	CHECK_EQ(pki_rows(&fx, "ca", "6d", 2, "revoked", 0, t0), 0);
	CHECK_EQ(pki_rows(&fx, "root", "7e", 4, "revoked", 4, t0), 0);
	CHECK_EQ(store_begin(fx.st), 0);
	CHECK_EQ(store_cert_set_status(fx.st, "4a00000007", "revoked", t0, 3,
	    t0 - 86400), 0);
	CHECK_EQ(store_commit(fx.st), 0);

	snprintf(out, sizeof(out), "%s/ca.crl", fx.dir);
	spec_init(&s, out);
	CHECK_EQ(ca_crl_generate(&s, &info), 0);
	CHECK_EQ(info.entries, NREV + 3 + 2);
	CHECK_EQ(info.number, 1);
	crl = crl_load(out);
	CHECK(crl != NULL);
	if (crl == NULL)
		return;
	CHECK_EQ(X509_CRL_verify(crl, X509_get0_pubkey(fx.cert[1])), 1);
	CHECK_EQ(X509_CRL_verify(crl, X509_get0_pubkey(fx.cert[0])), 0);
	CHECK_EQ(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), NREV + 5);
	rv = find(crl, "4a00000001");
	CHECK(rv != NULL);
	if (rv != NULL) {
		CHECK_EQ(entry_reason(rv), 1);
		CHECK_EQ(ASN1_TIME_cmp_time_t(X509_REVOKED_get0_revocationDate(
		    rv), (time_t)t0), 0);
	}
	rv = find(crl, "4a00000007");
	CHECK(rv != NULL && entry_reason(rv) == 3 &&
	    X509_REVOKED_get_ext_by_NID(rv, NID_invalidity_date, -1) >= 0);
	/* A hold is listed with certificateHold; the odd-length serial with
	 * a high first nibble keeps its value. */
	rv = find(crl, "ffb00000002");
	CHECK(rv != NULL && entry_reason(rv) == 6);
	/* unspecified (0): no reasonCode at all (RFC 5280 5.3.1). */
	rv = find(crl, "6d00000001");
	CHECK(rv != NULL && entry_reason(rv) == -1 &&
	    X509_REVOKED_get_ext_count(rv) == 0);
	CHECK(find(crl, "5c00000001") == NULL);   /* good */
	CHECK(find(crl, "7e00000001") == NULL);   /* the root's */
	X509_CRL_free(crl);

	/* The next CRL gets the next number and records the status gen. */
	CHECK_EQ(ca_crl_generate(&s, &info), 0);
	CHECK_EQ(info.number, 2);
	crl = crl_load(out);
	CHECK(crl != NULL && crl_number(crl) == 2);
	X509_CRL_free(crl);
	CHECK_EQ(store_meta_get(fx.st, "crl.ca.gen", &v), 0);
	CHECK_STR(v, "1");
	free(v);

	/* The root's CRL: its four entries only, signed by the root. */
	snprintf(out, sizeof(out), "%s/root.crl", fx.dir);
	spec_init(&s, out);
	s.issuer = "root";
	s.issuer_cert = fx.cert[0];
	s.issuer_key = fx.key[0];
	CHECK_EQ(ca_crl_generate(&s, &info), 0);
	CHECK_EQ(info.entries, 4);
	CHECK_EQ(info.number, 1);
	crl = crl_load(out);
	CHECK(crl != NULL && X509_CRL_verify(crl,
	    X509_get0_pubkey(fx.cert[0])) == 1);
	CHECK(crl != NULL && entry_reason(find(crl, "7e00000000")) == 4);
	X509_CRL_free(crl);
}

static void
set_status(const char *serial, const char *status, int reason)
{
	CHECK_EQ(store_begin(fx.st), 0);
	CHECK_EQ(store_cert_set_status(fx.st, serial, status,
	    strcmp(status, "good") ? 1700000500 : 0, reason, 0), 0);
	CHECK_EQ(store_commit(fx.st), 0);
}

static long
delta_base(X509_CRL *crl, int *critical)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_delta_crl, critical,
	    NULL);
	long v = n != NULL ? ASN1_INTEGER_get(n) : -1;

	ASN1_INTEGER_free(n);
	return v;
}

/* Delta CRLs (RFC 5280 5.2.4): after test_entries' full CRL number 2. */
static void
test_delta(void)
{
	struct ca_crl_spec s;
	struct ca_crl_info info;
	char out[128], full[128];
	X509_CRL *crl;
	STACK_OF(DIST_POINT) *dps;
	int crit = 0;

	snprintf(out, sizeof(out), "%s/ca-delta.crl", fx.dir);
	snprintf(full, sizeof(full), "%s/ca.crl", fx.dir);
	/* No base yet: refused, nothing written. */
	spec_init(&s, out);
	s.issuer = "nobase";
	s.delta = 1;
	CHECK_EQ(ca_crl_generate(&s, &info), GP_ERR_CONFLICT);
	CHECK_CONTAINS(gp_err_detail(), "no full CRL");
	CHECK(access(out, F_OK) != 0);

	/* Held, revoked and released after the base; nothing else. */
	set_status("5c00000001", "hold", -1);
	set_status("5c00000002", "revoked", 1);
	set_status("ffb00000000", "good", -1);
	spec_init(&s, out);
	s.delta = 1;
	CHECK_EQ(ca_crl_generate(&s, &info), 0);
	CHECK_EQ(info.entries, 3);
	CHECK_EQ(info.number, 3);
	CHECK_EQ(info.base, 2);
	crl = crl_load(out);
	CHECK(crl != NULL);
	if (crl == NULL)
		return;
	CHECK_EQ(X509_CRL_verify(crl, X509_get0_pubkey(fx.cert[1])), 1);
	CHECK_EQ(crl_number(crl), 3);
	CHECK_EQ(delta_base(crl, &crit), 2);
	CHECK_EQ(crit, 1);
	CHECK_EQ(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 3);
	CHECK(entry_reason(find(crl, "5c00000001")) == 6);
	CHECK(entry_reason(find(crl, "5c00000002")) == 1);
	CHECK(entry_reason(find(crl, "ffb00000000")) == 8); /* removeFromCRL */
	CHECK(find(crl, "4a00000001") == NULL);
	X509_CRL_free(crl);

	/* A full CRL naming where its deltas are; it becomes the base. */
	spec_init(&s, full);
	s.freshest_url = "http://127.0.0.1/crl/ca-delta.crl";
	CHECK_EQ(ca_crl_generate(&s, &info), 0);
	CHECK_EQ(info.number, 4);
	crl = crl_load(full);
	CHECK(crl != NULL);
	if (crl == NULL)
		return;
	CHECK_EQ(delta_base(crl, NULL), -1);
	dps = X509_CRL_get_ext_d2i(crl, NID_freshest_crl, &crit, NULL);
	CHECK(dps != NULL && sk_DIST_POINT_num(dps) == 1 && crit == 0);
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
	CHECK(entry_reason(find(crl, "5c00000001")) == 6);
	CHECK(find(crl, "ffb00000000") == NULL);
	X509_CRL_free(crl);

	/* Nothing changed since: an empty delta on the new base. */
	spec_init(&s, out);
	s.delta = 1;
	CHECK_EQ(ca_crl_generate(&s, &info), 0);
	CHECK_EQ(info.entries, 0);
	CHECK_EQ(info.number, 5);
	CHECK_EQ(info.base, 4);
	set_status("5c00000001", "revoked", 4);
	CHECK_EQ(ca_crl_generate(&s, &info), 0);
	CHECK_EQ(info.entries, 1);
	CHECK_EQ(info.number, 6);
	crl = crl_load(out);
	CHECK(crl != NULL && entry_reason(find(crl, "5c00000001")) == 4);
	X509_CRL_free(crl);
}

static int
count_crl_audit(void *arg, const struct store_audit_row *row)
{
	if (row->op != NULL && strcmp(row->op, "crl.issue") == 0 &&
	    strcmp(row->outcome, "success") == 0)
		(*(int *)arg)++;
	return 0;
}

static void
test_audited(void)
{
	int n = 0;

	CHECK_EQ(store_audit_scan(fx.st, 0, 0, count_crl_audit, &n), 0);
	/* empty, ca twice, root once, then ca: delta, full, two deltas */
	CHECK_EQ(n, 8);
}

/* RFC 5280 5.3.1: held, then revoked: the revocation time stays the
 * hold's start, in the store, its history, the delta and the full CRL. */
static void
test_hold_then_revoke(void)
{
	struct ca_ctx ca;
	struct ca_actor who = {.actor = "local:test", .role = "local"};
	struct ca_crl_spec s;
	struct ca_crl_info info;
	struct store_cert_state cs;
	struct ca_status_at at;
	char out[128], full[128];
	const char *serial = "9d00000000";
	X509_CRL *crl;
	X509_REVOKED *rv;
	int64_t held;

	memset(&ca, 0, sizeof(ca));
	ca.st = fx.st;
	ca.audit = fx.a;
	snprintf(out, sizeof(out), "%s/ca-delta.crl", fx.dir);
	snprintf(full, sizeof(full), "%s/ca.crl", fx.dir);
	CHECK_EQ(pki_rows(&fx, "ca", "9d", 1, "good", -1, 0), 0);
	CHECK_EQ(ca_hold(&ca, &who, serial), 0);
	CHECK_EQ(store_cert_state_get(fx.st, serial, &cs), 0);
	held = cs.revoked_at;
	CHECK(held > 0);
	/* The base CRL has the hold. */
	spec_init(&s, full);
	CHECK_EQ(ca_crl_generate(&s, &info), 0);
	sleep(1); /* the revocation comes a second later */
	CHECK_EQ(ca_revoke(&ca, &who, serial, 1, 0), 0);
	CHECK_EQ(store_cert_state_get(fx.st, serial, &cs), 0);
	CHECK_STR(cs.status, "revoked");
	CHECK_EQ(cs.revoked_at, held);
	CHECK_EQ(cs.reason, 1);
	/* The history judges the same: good before the hold, revoked from
	 * its start. */
	CHECK_EQ(ca_status_at(fx.st, serial, held - 1, &at), 0);
	CHECK_EQ(ca_status_at(fx.st, serial, held, &at), GP_ERR_CONFLICT);
	CHECK(at.state == CA_AT_REVOKED && at.from == held);
	spec_init(&s, out);
	s.delta = 1;
	CHECK_EQ(ca_crl_generate(&s, &info), 0);
	crl = crl_load(out);
	rv = crl != NULL ? find(crl, serial) : NULL;
	CHECK(rv != NULL && entry_reason(rv) == 1);
	CHECK(rv != NULL && ASN1_TIME_cmp_time_t(
	    X509_REVOKED_get0_revocationDate(rv), (time_t)held) == 0);
	X509_CRL_free(crl);
	spec_init(&s, full);
	CHECK_EQ(ca_crl_generate(&s, &info), 0);
	crl = crl_load(full);
	rv = crl != NULL ? find(crl, serial) : NULL;
	CHECK(rv != NULL && entry_reason(rv) == 1);
	CHECK(rv != NULL && ASN1_TIME_cmp_time_t(
	    X509_REVOKED_get0_revocationDate(rv), (time_t)held) == 0);
	X509_CRL_free(crl);
}

static int
count_fence_failures(void *arg, const struct store_audit_row *row)
{
	if (strcmp(row->op, "crl.issue") == 0 &&
	    strcmp(row->outcome, "failure") == 0 && row->object != NULL &&
	    strcmp(row->object, "fence") == 0)
		(*(int *)arg)++;
	return 0;
}

/* Several nodes: a generator that holds the CRL lease renews it as its CRL
 * commits; one that lost it meanwhile (stalled past its expiry while
 * another node took it over) commits nothing: the number, the file and
 * the new holder's lease stay, and the failure is audited. */
static void
test_lease_fence(void)
{
	struct ca_crl_lease l = {"crl", "n1/00000001", 10000};
	struct ca_crl_spec s;
	struct ca_crl_info info;
	struct store_lease cur, prev;
	char out[128], key[64], *num = NULL;
	int held = 0, failures = 0;
	X509_CRL *crl;

	snprintf(out, sizeof(out), "%s/fence.crl", fx.dir);
	ca_crl_meta_key("fence", "number", key, sizeof(key));
	spec_init(&s, out);
	s.issuer = "fence";
	s.lease = &l;
	CHECK_EQ(ca_crl_generate(&s, &info), 0);
	CHECK_EQ(info.number, 1);
	CHECK_EQ(store_lease_get(fx.st, "crl", &cur), 0);
	CHECK_STR(cur.holder, "n1/00000001");
	CHECK(cur.expires_ms > gp_now_ms());
	/* n1 stalls past the expiry; n2 takes the lease over. */
	CHECK_EQ(store_begin(fx.st), 0);
	CHECK_EQ(store_lease_take(fx.st, "crl", "n2/00000002",
	    cur.expires_ms, 10000, &held, &prev), 0);
	CHECK_EQ(store_commit(fx.st), 0);
	CHECK_EQ(held, 1);
	CHECK_EQ(ca_crl_generate(&s, &info), GP_ERR_CONFLICT);
	CHECK_CONTAINS(gp_err_detail(), "n2/00000002");
	CHECK_EQ(store_meta_get(fx.st, key, &num), 0);
	CHECK_STR(num, "1");
	free(num);
	num = NULL;
	crl = crl_load(out);
	CHECK(crl != NULL && crl_number(crl) == 1);
	X509_CRL_free(crl);
	CHECK_EQ(store_lease_get(fx.st, "crl", &cur), 0);
	CHECK_STR(cur.holder, "n2/00000002");
	CHECK_EQ(store_audit_scan(fx.st, 0, 0, count_fence_failures,
	    &failures), 0);
	CHECK_EQ(failures, 1);
	/* The holder makes the next one. */
	l.holder = "n2/00000002";
	CHECK_EQ(ca_crl_generate(&s, &info), 0);
	CHECK_EQ(info.number, 2);
	crl = crl_load(out);
	CHECK(crl != NULL && crl_number(crl) == 2);
	X509_CRL_free(crl);
}

int
main(void)
{
	if (pki_setup(&fx) != 0) {
		fprintf(stderr, "fixture: %s\n", gp_err_detail());
		printf("ca_crl: 0 passed, 1 failed\n");
		return 1;
	}
	RUN(test_refusals);
	RUN(test_empty);
	RUN(test_entries);
	RUN(test_delta);
	RUN(test_audited);
	RUN(test_hold_then_revoke);
	RUN(test_lease_fence);
	pki_teardown(&fx);
	return test_done("ca_crl");
}
