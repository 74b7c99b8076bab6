/*
 * test_server.c: pure units of server/: the status mapping, the error
 * object, query integer parsing, the route table (including the split of
 * powers between roles), the Prometheus text, the identity read from an
 * administrator certificate built here with OpenSSL (no role from its
 * title), the role taken from a store row only under a role-granting
 * profile, and the query parser's refusals. No listener is
 * started; tests/t_server.sh covers the daemons end to end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "server/internal.h"
#include "tests/test.h"

static void
test_status_map(void)
{
	CHECK_EQ(server_http_status(0), 200);
	CHECK_EQ(server_http_status(GP_ERR_INVALID), 400);
	CHECK_EQ(server_http_status(GP_ERR_UNAUTHENTICATED), 401);
	CHECK_EQ(server_http_status(GP_ERR_DENIED), 403);
	CHECK_EQ(server_http_status(GP_ERR_NOT_FOUND), 404);
	CHECK_EQ(server_http_status(GP_ERR_CONFLICT), 409);
	CHECK_EQ(server_http_status(GP_ERR_EXISTS), 409);
	CHECK_EQ(server_http_status(GP_ERR_TOO_LARGE), 413);
	CHECK_EQ(server_http_status(GP_ERR_BUSY), 503);
	CHECK_EQ(server_http_status(GP_ERR_DEVICE), 503);
	CHECK_EQ(server_http_status(GP_ERR_INTERNAL), 500);
	CHECK_EQ(server_http_status(GP_ERR_STORE), 500);
	CHECK_EQ(server_http_status(GP_ERR_TAMPERED), 500);
	CHECK_EQ(server_http_status(-1000), 500);
	CHECK_EQ(server_http_status(12345), 500);
}

static void
test_error_json(void)
{
	json_t *o = srv_error_json(GP_ERR_DENIED, "role officer");
	json_t *e = json_object_get(o, "error");

	CHECK(o != NULL && json_is_object(e));
	CHECK_STR(json_string_value(json_object_get(e, "code")), "denied");
	CHECK_CONTAINS(json_string_value(json_object_get(e, "message")),
	    "role officer");
	CHECK_CONTAINS(json_string_value(json_object_get(e, "message")),
	    gp_err_str(GP_ERR_DENIED));
	json_decref(o);
	o = srv_error_json(GP_ERR_TOO_LARGE, NULL);
	e = json_object_get(o, "error");
	CHECK_STR(json_string_value(json_object_get(e, "code")), "too_large");
	CHECK_STR(json_string_value(json_object_get(e, "message")),
	    gp_err_str(GP_ERR_TOO_LARGE));
	json_decref(o);
}

static void
test_parse_i64(void)
{
	int64_t v = -1;

	CHECK_EQ(srv_parse_i64("limit", "100", 1, 1000, &v), 0);
	CHECK_EQ(v, 100);
	CHECK_EQ(srv_parse_i64("after", "0", 0, INT64_MAX, &v), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(srv_parse_i64("after", "9223372036854775807", 0, INT64_MAX,
	    &v), 0);
	CHECK_EQ(v, INT64_MAX);
	/* must fail: bounds, overflow, junk, empty, signs, spaces, NULL */
	CHECK_EQ(srv_parse_i64("limit", "1001", 1, 1000, &v), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "limit");
	CHECK_EQ(srv_parse_i64("limit", "0", 1, 1000, &v), GP_ERR_INVALID);
	CHECK_EQ(srv_parse_i64("after", "-1", 0, INT64_MAX, &v),
	    GP_ERR_INVALID);
	CHECK_EQ(srv_parse_i64("after", "9223372036854775808", 0, INT64_MAX,
	    &v), GP_ERR_INVALID);
	CHECK_EQ(srv_parse_i64("after", "12abc", 0, 100, &v), GP_ERR_INVALID);
	CHECK_EQ(srv_parse_i64("after", "", 0, 100, &v), GP_ERR_INVALID);
	CHECK_EQ(srv_parse_i64("after", " 1", 0, 100, &v), GP_ERR_INVALID);
	CHECK_EQ(srv_parse_i64("after", "+1", 0, 100, &v), GP_ERR_INVALID);
	CHECK_EQ(srv_parse_i64("after", "1 ", 0, 100, &v), GP_ERR_INVALID);
	CHECK_EQ(srv_parse_i64("after", NULL, 0, 100, &v), GP_ERR_INVALID);
	CHECK_EQ(srv_parse_i64("Content-Length",
	    "000000000000000000000000001", 0, 100, &v), GP_ERR_INVALID);
}

static void
test_routes(void)
{
	const struct srv_route *rt = NULL;
	char allow[64];

	CHECK_EQ(srv_route_find(SRV_PUBLIC, "GET", "/healthz", &rt), 0);
	CHECK(rt != NULL && rt->fn == srv_h_healthz);
	CHECK_EQ(srv_route_find(SRV_PUBLIC, "HEAD", "/metrics", &rt), 0);
	CHECK(rt != NULL && rt->fn == srv_h_metrics);
	CHECK_EQ(srv_route_find(SRV_PUBLIC, "GET", "/certs/ca.crt", &rt), 0);
	CHECK(rt != NULL && rt->fn == srv_h_cert);
	/* must fail: wrong method 405, unknown 404, bare prefix, admin
	 * routes absent from the public listener, no path tricks */
	CHECK_EQ(srv_route_find(SRV_PUBLIC, "POST", "/healthz", &rt),
	    GP_ERR_UNSUPPORTED);
	CHECK(rt == NULL);
	CHECK_EQ(srv_route_find(SRV_PUBLIC, "GET", "/nope", &rt),
	    GP_ERR_NOT_FOUND);
	CHECK_EQ(srv_route_find(SRV_PUBLIC, "GET", "/certs/", &rt),
	    GP_ERR_NOT_FOUND);
	CHECK_EQ(srv_route_find(SRV_PUBLIC, "GET", "/api/v1/config", &rt),
	    GP_ERR_NOT_FOUND);
	CHECK_EQ(srv_route_find(SRV_PUBLIC, "GET", "/healthz/", &rt),
	    GP_ERR_NOT_FOUND);
	CHECK_EQ(srv_route_find(SRV_PUBLIC, "GET", "/HEALTHZ", &rt),
	    GP_ERR_NOT_FOUND);
	CHECK_EQ(srv_route_find(SRV_PUBLIC, NULL, "/healthz", &rt),
	    GP_ERR_NOT_FOUND);

	srv_route_allow(SRV_PUBLIC, "/healthz", allow, sizeof(allow));
	CHECK_STR(allow, "GET, HEAD");

	/* Admin: roles per route, and the split of powers. */
	CHECK_EQ(srv_route_find(SRV_ADMIN, "GET", "/healthz", &rt), 0);
	CHECK(rt != NULL && rt->roles == SRV_ROLE_ANY);
	CHECK_EQ(srv_route_find(SRV_ADMIN, "GET", "/api/v1/config", &rt), 0);
	CHECK(rt != NULL && rt->roles == SRV_ROLE_SYSADMIN);
	CHECK_EQ(srv_route_find(SRV_ADMIN, "GET", "/api/v1/audit", &rt), 0);
	CHECK(rt != NULL && rt->roles == SRV_ROLE_AUDITOR &&
	    rt->fn == srv_h_audit_list);
	CHECK_EQ(srv_route_find(SRV_ADMIN, "GET", "/api/v1/audit/verify",
	    &rt), 0);
	CHECK(rt != NULL && rt->roles == SRV_ROLE_AUDITOR &&
	    rt->fn == srv_h_audit_verify);
	CHECK_EQ(srv_route_find(SRV_ADMIN, "DELETE", "/api/v1/audit", &rt),
	    GP_ERR_UNSUPPORTED);
	CHECK_EQ(srv_route_find(SRV_ADMIN, "GET", "/metrics", &rt),
	    GP_ERR_NOT_FOUND);
	CHECK_EQ(srv_route_find(SRV_ADMIN, "GET", "/api/v1/audit/", &rt),
	    GP_ERR_NOT_FOUND);
}

static void
test_roles(void)
{
	CHECK_EQ(srv_role_bit("sysadmin"), SRV_ROLE_SYSADMIN);
	CHECK_EQ(srv_role_bit("officer"), SRV_ROLE_OFFICER);
	CHECK_EQ(srv_role_bit("auditor"), SRV_ROLE_AUDITOR);
	CHECK_EQ(srv_role_bit("Auditor"), 0);
	CHECK_EQ(srv_role_bit("root"), 0);
	CHECK_EQ(srv_role_bit(""), 0);
	CHECK_EQ(srv_role_bit(NULL), 0);
}

static void
test_metrics_text(void)
{
	char *t = NULL;
	size_t len = 0;

	srv_metrics_reset();
	srv_metrics_request(SRV_PUBLIC, 200, 0.002);
	srv_metrics_request(SRV_PUBLIC, 200, 0.2);
	srv_metrics_request(SRV_ADMIN, 403, 30.0); /* beyond the last bucket */
	srv_metrics_request(SRV_ADMIN, 0, 0.0);    /* no response */
	srv_metrics_request(SRV_LISTENERS, 200, 0.0); /* ignored */
	srv_metrics_error(GP_ERR_DENIED);
	srv_metrics_error(GP_ERR_DENIED);
	srv_metrics_error(5); /* not an error code: counted as internal */
	srv_metrics_signature("tsa");
	srv_metrics_signature("nonsense");
	srv_metrics_signature(NULL);
	CHECK_EQ(srv_metrics_render(42, 3, &t, &len), 0);
	CHECK(t != NULL && strlen(t) == len);
	CHECK_CONTAINS(t, "# TYPE govpki_requests_total counter\n");
	CHECK_CONTAINS(t,
	    "govpki_requests_total{listener=\"public\",code=\"200\"} 2\n");
	CHECK_CONTAINS(t,
	    "govpki_requests_total{listener=\"admin\",code=\"403\"} 1\n");
	CHECK_CONTAINS(t,
	    "govpki_requests_total{listener=\"admin\",code=\"0\"} 1\n");
	CHECK(strstr(t, "code=\"404\"") == NULL);
	/* cumulative buckets, +Inf equal to the count */
	CHECK_CONTAINS(t, "govpki_request_duration_seconds_bucket{listener="
	    "\"public\",le=\"0.001\"} 0\n");
	CHECK_CONTAINS(t, "govpki_request_duration_seconds_bucket{listener="
	    "\"public\",le=\"0.005\"} 1\n");
	CHECK_CONTAINS(t, "govpki_request_duration_seconds_bucket{listener="
	    "\"public\",le=\"0.25\"} 2\n");
	CHECK_CONTAINS(t, "govpki_request_duration_seconds_bucket{listener="
	    "\"public\",le=\"10\"} 2\n");
	CHECK_CONTAINS(t, "govpki_request_duration_seconds_bucket{listener="
	    "\"admin\",le=\"10\"} 1\n");
	CHECK_CONTAINS(t, "govpki_request_duration_seconds_bucket{listener="
	    "\"admin\",le=\"+Inf\"} 2\n");
	CHECK_CONTAINS(t, "govpki_request_duration_seconds_count{listener="
	    "\"admin\"} 2\n");
	CHECK_CONTAINS(t, "govpki_request_duration_seconds_sum{listener="
	    "\"public\"} 0.202000\n");
	CHECK_CONTAINS(t, "govpki_errors_total{kind=\"denied\"} 2\n");
	CHECK_CONTAINS(t, "govpki_errors_total{kind=\"internal\"} 1\n");
	CHECK_CONTAINS(t, "govpki_signatures_total{key=\"tsa\"} 1\n");
	CHECK_CONTAINS(t, "govpki_signatures_total{key=\"other\"} 2\n");
	CHECK_CONTAINS(t, "govpki_signatures_total{key=\"ca\"} 0\n");
	CHECK_CONTAINS(t, "govpki_in_flight_requests 3\n");
	CHECK_CONTAINS(t, "govpki_audit_records 42\n");
	free(t);

	t = NULL;
	CHECK_EQ(srv_metrics_render(-1, 0, &t, &len), 0);
	CHECK(t != NULL && strstr(t, "govpki_audit_records") == NULL);
	free(t);
	srv_metrics_reset();
	t = NULL;
	CHECK_EQ(srv_metrics_render(0, 0, &t, &len), 0);
	CHECK(t != NULL && strstr(t, "govpki_requests_total{") == NULL);
	free(t);
}

/*
 * The per-address table (srv_peer.c): aggregated refusals written through a
 * real audit log on a temporary store, the cap on addresses, the OCSP
 * nonce token bucket. tests/t_robust.sh covers the listeners' limits end
 * to end.
 */
static void
test_refusal_kinds(void)
{
	CHECK_EQ(srv_refusal_of_status(400), SRV_REFUSED_HTTP_400);
	CHECK_EQ(srv_refusal_of_status(404), SRV_REFUSED_HTTP_404);
	CHECK_EQ(srv_refusal_of_status(405), SRV_REFUSED_HTTP_405);
	CHECK_EQ(srv_refusal_of_status(413), SRV_REFUSED_HTTP_413);
	CHECK_EQ(srv_refusal_of_status(409), SRV_REFUSED_HTTP_OTHER);
	/* Server-side failures are not the client's refusals. */
	CHECK_EQ(srv_refusal_of_status(200), -1);
	CHECK_EQ(srv_refusal_of_status(500), -1);
	CHECK_EQ(srv_refusal_of_status(503), -1);
	CHECK_EQ(srv_refusal_of_tsa(TSA_FAIL_BAD_DATA_FORMAT),
	    SRV_REFUSED_TSA_BAD_DATA_FORMAT);
	CHECK_EQ(srv_refusal_of_tsa(TSA_FAIL_UNACCEPTED_POLICY),
	    SRV_REFUSED_TSA_UNACCEPTED_POLICY);
	/* What says something about the TSA stays recorded one by one. */
	CHECK_EQ(srv_refusal_of_tsa(TSA_FAIL_TIME_NOT_AVAILABLE), -1);
	CHECK_EQ(srv_refusal_of_tsa(TSA_FAIL_SYSTEM_FAILURE), -1);
	CHECK_STR(srv_refusal_name(SRV_REFUSED_OCSP_MALFORMED),
	    "ocsp.malformedRequest");
	CHECK_STR(srv_refusal_name(SRV_REFUSED_TSA_BAD_ALG), "tsa.badAlg");
	CHECK_STR(srv_refusal_name(SRV_REFUSALS), "unknown");
}

/* The "http.refused" records, in order, as JSON objects. */
struct peers_rows {
	json_t *rows;
};

static int
peers_row(void *arg, const struct store_audit_row *row)
{
	struct peers_rows *pr = arg;

	if (row->op != NULL && strcmp(row->op, "http.refused") == 0)
		json_array_append_new(pr->rows, audit_row_json(row));
	return 0;
}

static json_t *
peers_records(store *st)
{
	struct peers_rows pr;

	pr.rows = json_array();
	if (store_audit_scan(st, 0, 1000, peers_row, &pr) != 0) {
		json_decref(pr.rows);
		return NULL;
	}
	return pr.rows;
}

static long long
peers_kind(json_t *rec, const char *kind)
{
	return (long long)json_integer_value(json_object_get(json_object_get(
	    json_object_get(rec, "details"), "kinds"), kind));
}

static void
test_peers_aggregate(void)
{
	struct test_audit_fx f;
	struct srv_peers *p = NULL;
	/* 2030-01-01T00:00:00Z, then 10 s into that minute. */
	int64_t m0 = (int64_t)1893456000 * 1000, t = m0 + 10000;
	json_t *recs = NULL, *r;
	int i;

	CHECK(srv_peers_new(-1, 2, 10, &p) == GP_ERR_INVALID && p == NULL);
	CHECK(srv_peers_new(1, 0, 10, &p) == GP_ERR_INVALID && p == NULL);
	test_audit_fx_open(&f);
	CHECK_EQ(srv_peers_new(1, 2, 10, &p), 0);
	for (i = 0; i < 300; i++) {
		srv_peers_refused(p, "192.0.2.1", SRV_REFUSED_OCSP_MALFORMED,
		    t + i);
		srv_peers_refused(p, "192.0.2.1",
		    SRV_REFUSED_TSA_BAD_DATA_FORMAT, t + i);
	}
	srv_peers_refused(p, "192.0.2.2", SRV_REFUSED_HTTP_404, t);
	srv_peers_refused(NULL, "192.0.2.2", SRV_REFUSED_HTTP_404, t);
	srv_peers_refused(p, "192.0.2.2", (enum srv_refusal)SRV_REFUSALS, t);
	/* The minute has not ended: nothing is written. */
	CHECK_EQ(srv_peers_flush(p, f.a, t + 1000, 0, 1), 0);
	recs = peers_records(f.st);
	CHECK(recs != NULL && json_array_size(recs) == 0);
	json_decref(recs);
	/* A refusal in the next minute ends the first one for that address. */
	srv_peers_refused(p, "192.0.2.1", SRV_REFUSED_HTTP_405, m0 + 61000);
	CHECK_EQ(srv_peers_flush(p, f.a, m0 + 61000, 0, 1), 0);
	recs = peers_records(f.st);
	CHECK(recs != NULL && json_array_size(recs) == 2);
	for (i = 0; recs != NULL && i < (int)json_array_size(recs); i++) {
		r = json_array_get(recs, (size_t)i);
		CHECK_STR(json_string_value(json_object_get(r, "object")),
		    "2030-01-01T00:00Z");
		CHECK_STR(json_string_value(json_object_get(r, "outcome")),
		    "denied");
		CHECK(json_is_null(json_object_get(r, "actor")));
		if (strcmp(json_string_value(json_object_get(r, "client")),
		    "192.0.2.1") == 0) {
			CHECK_EQ(json_integer_value(json_object_get(
			    json_object_get(r, "details"), "count")), 600);
			CHECK_EQ(peers_kind(r, "ocsp.malformedRequest"), 300);
			CHECK_EQ(peers_kind(r, "tsa.badDataFormat"), 300);
			CHECK_EQ(peers_kind(r, "http.405"), 0);
		} else {
			CHECK_STR(json_string_value(json_object_get(r,
			    "client")), "192.0.2.2");
			CHECK_EQ(peers_kind(r, "http.404"), 1);
		}
	}
	json_decref(recs);
	/* Shutdown writes the current minute too. */
	CHECK_EQ(srv_peers_flush(p, f.a, m0 + 62000, 1, 1), 0);
	recs = peers_records(f.st);
	CHECK(recs != NULL && json_array_size(recs) == 3);
	r = json_array_get(recs, 2);
	CHECK_STR(json_string_value(json_object_get(r, "object")),
	    "2030-01-01T00:01Z");
	CHECK_EQ(peers_kind(r, "http.405"), 1);
	json_decref(recs);
	/* Nothing twice. */
	CHECK_EQ(srv_peers_flush(p, f.a, m0 + 200000, 1, 1), 0);
	recs = peers_records(f.st);
	CHECK(recs != NULL && json_array_size(recs) == 3);
	json_decref(recs);
	srv_peers_free(p);
	test_audit_fx_close(&f);
}

static void
test_peers_cap(void)
{
	struct test_audit_fx f;
	struct srv_peers *p = NULL;
	int64_t t = (int64_t)1893456000 * 1000;
	json_t *recs, *r;
	char addr[32];
	size_t i, star = 0;

	test_audit_fx_open(&f);
	CHECK_EQ(srv_peers_new(1, 1, 2, &p), 0);
	/* Five addresses, room for two: the others share "*". */
	for (i = 0; i < 5; i++) {
		snprintf(addr, sizeof(addr), "198.51.100.%zu", i);
		srv_peers_refused(p, addr, SRV_REFUSED_HTTP_404, t);
	}
	CHECK_EQ(srv_peers_flush(p, f.a, t, 1, 1), 0);
	recs = peers_records(f.st);
	CHECK(recs != NULL && json_array_size(recs) == 3);
	for (i = 0; recs != NULL && i < json_array_size(recs); i++) {
		r = json_array_get(recs, i);
		if (strcmp(json_string_value(json_object_get(r, "client")),
		    "*") == 0) {
			star++;
			CHECK_EQ(peers_kind(r, "http.404"), 3);
		}
	}
	CHECK_EQ(star, 1);
	json_decref(recs);
	/* Entries are dropped once written and their bucket is full: room
	 * again for new addresses. */
	srv_peers_refused(p, "203.0.113.9", SRV_REFUSED_HTTP_404, t + 1);
	CHECK_EQ(srv_peers_flush(p, f.a, t + 2, 1, 1), 0);
	recs = peers_records(f.st);
	r = recs != NULL ? json_array_get(recs, json_array_size(recs) - 1) :
	    NULL;
	CHECK_STR(json_string_value(json_object_get(r, "client")),
	    "203.0.113.9");
	json_decref(recs);
	srv_peers_free(p);
	test_audit_fx_close(&f);
}

static void
test_peers_nonce_rate(void)
{
	struct srv_peers *p = NULL;
	int64_t t = 1000000;

	/* One a second, burst two. */
	CHECK_EQ(srv_peers_new(1, 2, 16, &p), 0);
	CHECK_EQ(srv_peers_nonce_ok(p, "192.0.2.1", t), 1);
	CHECK_EQ(srv_peers_nonce_ok(p, "192.0.2.1", t), 1);
	CHECK_EQ(srv_peers_nonce_ok(p, "192.0.2.1", t), 0);
	CHECK_EQ(srv_peers_nonce_ok(p, "192.0.2.1", t + 500), 0);
	/* Another address has its own bucket. */
	CHECK_EQ(srv_peers_nonce_ok(p, "192.0.2.2", t + 500), 1);
	/* 0.5 + 0.7 s: a token again, one only. */
	CHECK_EQ(srv_peers_nonce_ok(p, "192.0.2.1", t + 1200), 1);
	CHECK_EQ(srv_peers_nonce_ok(p, "192.0.2.1", t + 1200), 0);
	/* A clock stepped back refills nothing. */
	CHECK_EQ(srv_peers_nonce_ok(p, "192.0.2.1", t - 100000), 0);
	/* Never more than the burst, however long the pause. */
	CHECK_EQ(srv_peers_nonce_ok(p, "192.0.2.1", t + 3600000), 1);
	CHECK_EQ(srv_peers_nonce_ok(p, "192.0.2.1", t + 3600000), 1);
	CHECK_EQ(srv_peers_nonce_ok(p, "192.0.2.1", t + 3600000), 0);
	srv_peers_free(p);
	/* Rate 0: no limit. */
	CHECK_EQ(srv_peers_new(0, 1, 16, &p), 0);
	CHECK_EQ(srv_peers_nonce_ok(p, "192.0.2.1", t), 1);
	CHECK_EQ(srv_peers_nonce_ok(p, "192.0.2.1", t), 1);
	srv_peers_free(p);
	CHECK_EQ(srv_peers_nonce_ok(NULL, "192.0.2.1", t), 1);
	srv_peers_free(NULL);
}

/* A self-signed P-256 certificate with |serial_hex| (may start with '-')
 * and the subject title entries in |titles| (NULL-terminated, may be
 * empty); |title_len| > 0 gives the first title that exact byte length. */
static X509 *
make_cert(const char *serial_hex, const char *const *titles, int title_len)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n = NULL;
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	size_t i;
	int ok = 0;

	if (k == NULL || x == NULL)
		goto out;
	if (BN_hex2bn(&bn, serial_hex) == 0)
		goto out;
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	if (ai == NULL || X509_set_serialNumber(x, ai) != 1)
		goto out;
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"Zhang San, ops", -1, -1, 0);
	for (i = 0; titles[i] != NULL; i++)
		X509_NAME_add_entry_by_NID(n, NID_title, MBSTRING_UTF8,
		    (const unsigned char *)titles[i],
		    i == 0 && title_len > 0 ? title_len : -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	ok = X509_sign(x, k, EVP_sha256()) > 0;
out:
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	EVP_PKEY_free(k);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static void
test_ident_parse(void)
{
	static const char *const auditor[] = {"auditor", NULL};
	static const char *const none[] = {NULL};
	static const char *const two[] = {"officer", "sysadmin", NULL};
	struct srv_ident id;
	X509 *x;

	x = make_cert("00ABCDEF0123", auditor, 0);
	CHECK(x != NULL);
	CHECK_EQ(srv_ident_parse(x, &id), 0);
	CHECK_STR(id.serial, "abcdef0123");
	/* The subject title grants nothing: the role comes from the store
	 * (srv_ident_role). */
	CHECK_STR(id.role, "");
	CHECK_EQ(id.role_bit, 0);
	/* RFC 2253 lists the last RDN first and escapes the comma. */
	CHECK_STR(id.actor, "title=auditor,CN=Zhang San\\, ops,"
	    "serial=abcdef0123");
	/* The person: the subject without its title, prepared (case, white
	 * space) and escaped; no ID number yet (the store adds it). */
	CHECK_STR(id.person.id, "dn:CN=zhang san\\, ops");
	CHECK_STR(id.person.idn, "");
	CHECK(id.not_before < id.not_after);
	CHECK(id.der != NULL && id.der_len == (size_t)i2d_X509(x, NULL));
	srv_ident_clear(&id);
	CHECK(id.der == NULL);
	X509_free(x);

	/* UTF-8 subjects (Chinese names) stay readable in the actor; the
	 * person's attributes are sorted. */
	x = make_cert("2a", auditor, 0);
	CHECK(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O",
	    MBSTRING_UTF8, (const unsigned char *)"\xe5\xb8\x82\xe6\x94"
	    "\xbf\xe5\xba\x9c", -1, -1, 0) == 1);
	CHECK_EQ(srv_ident_parse(x, &id), 0);
	CHECK_STR(id.actor, "O=\xe5\xb8\x82\xe6\x94\xbf\xe5\xba\x9c,"
	    "title=auditor,CN=Zhang San\\, ops,serial=2a");
	CHECK_STR(id.person.id, "dn:CN=zhang san\\, ops,O=\xe5\xb8\x82\xe6"
	    "\x94\xbf\xe5\xba\x9c");
	srv_ident_clear(&id);
	X509_free(x);

	/* No title, or two: parsed alike, and no role either way. */
	x = make_cert("10", none, 0);
	CHECK_EQ(srv_ident_parse(x, &id), 0);
	CHECK_STR(id.role, "");
	CHECK_STR(id.person.id, "dn:CN=zhang san\\, ops");
	srv_ident_clear(&id);
	X509_free(x);
	x = make_cert("10", two, 0);
	CHECK_EQ(srv_ident_parse(x, &id), 0);
	CHECK_EQ(id.role_bit, 0);
	srv_ident_clear(&id);
	X509_free(x);

	/* must fail: negative and zero serials, over-long serial, NULL */
	x = make_cert("-5", auditor, 0);
	CHECK(x != NULL);
	CHECK_EQ(srv_ident_parse(x, &id), GP_ERR_UNAUTHENTICATED);
	CHECK_CONTAINS(gp_err_detail(), "serial");
	srv_ident_clear(&id);
	X509_free(x);
	x = make_cert("0", auditor, 0);
	CHECK_EQ(srv_ident_parse(x, &id), GP_ERR_UNAUTHENTICATED);
	srv_ident_clear(&id);
	X509_free(x);
	x = make_cert("0102030405060708090a0b0c0d0e0f101112131415161718191a1b"
	    "1c1d1e1f2021", auditor, 0);
	CHECK(x != NULL);
	CHECK_EQ(srv_ident_parse(x, &id), GP_ERR_UNAUTHENTICATED);
	srv_ident_clear(&id);
	X509_free(x);
	/* must fail: a subject of nothing but a title names no one */
	x = X509_new();
	CHECK(x != NULL);
	if (x != NULL) {
		ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
		X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_title,
		    MBSTRING_UTF8, (const unsigned char *)"officer", -1, -1,
		    0);
		CHECK_EQ(srv_ident_parse(x, &id), GP_ERR_UNAUTHENTICATED);
		CHECK_CONTAINS(gp_err_detail(), "names no one");
		srv_ident_clear(&id);
		X509_free(x);
	}
	CHECK(srv_ident_parse(NULL, &id) != 0);
	srv_ident_clear(&id);
	srv_ident_clear(NULL);
}

/* The role comes from the store's row, and only for a profile that
 * grants roles: a row without a role (an enterprise certificate whose
 * subject says title=officer, issued when profiles could set a title) is
 * refused. */
static void
test_ident_role(void)
{
	struct gp_config *cfg = NULL;
	struct ca_profiles *ps = NULL;
	struct store_cert c;
	struct srv_ident id;

	CHECK_EQ(gp_config_defaults("/tmp", &cfg), 0);
	if (cfg == NULL)
		return;
	free(cfg->profiles_dir);
	cfg->profiles_dir = strdup(GP_POLICIES_DIR);
	CHECK_EQ(ca_profiles_load(cfg, &ps), 0);
	memset(&c, 0, sizeof(c));
	memset(&id, 0, sizeof(id));
	snprintf(id.serial, sizeof(id.serial), "abc");

	c.profile = (char *)"officer";
	c.role = (char *)"officer";
	CHECK_EQ(srv_ident_role(ps, &c, &id), 0);
	CHECK_STR(id.role, "officer");
	CHECK_EQ(id.role_bit, SRV_ROLE_OFFICER);
	c.role = (char *)"auditor";
	CHECK_EQ(srv_ident_role(ps, &c, &id), 0);
	CHECK_EQ(id.role_bit, SRV_ROLE_AUDITOR);

	/* must fail: no stored role, whatever the certificate says */
	c.profile = (char *)"enterprise";
	c.role = NULL;
	CHECK_EQ(srv_ident_role(ps, &c, &id), GP_ERR_UNAUTHENTICATED);
	CHECK_CONTAINS(gp_err_detail(), "no administrative role in the store");
	CHECK_STR(id.role, "");
	CHECK_EQ(id.role_bit, 0);
	c.profile = (char *)"officer";
	CHECK_EQ(srv_ident_role(ps, &c, &id), GP_ERR_UNAUTHENTICATED);
	/* must fail: a role stored under a profile that grants none */
	c.profile = (char *)"enterprise";
	c.role = (char *)"officer";
	CHECK_EQ(srv_ident_role(ps, &c, &id), GP_ERR_UNAUTHENTICATED);
	CHECK_CONTAINS(gp_err_detail(), "grants no role");
	c.profile = (char *)"nosuch";
	CHECK_EQ(srv_ident_role(ps, &c, &id), GP_ERR_UNAUTHENTICATED);
	c.profile = NULL;
	CHECK_EQ(srv_ident_role(ps, &c, &id), GP_ERR_UNAUTHENTICATED);
	/* must fail: a role that is none of the three */
	c.profile = (char *)"officer";
	c.role = (char *)"root";
	CHECK_EQ(srv_ident_role(ps, &c, &id), GP_ERR_UNAUTHENTICATED);
	CHECK_EQ(id.role_bit, 0);
	ca_profiles_free(ps);
	gp_config_free(cfg);
}

static int
query_hex_check(const char *field, const char *v)
{
	return strspn(v, "0123456789abcdef") == strlen(v) ? 0 :
	    gp_err_set(GP_ERR_INVALID, "%s: hex", field);
}

/* The query parser: what it takes, and every malformed query a 400 naming
 * the parameter. */
static void
test_query(void)
{
	static const char *const st[] = {"pending", "refused", NULL};
	static const struct srv_qparam spec[] = {
		{"profile", SRV_Q_TEXT, 8, 0, 0, NULL, NULL},
		{"status", SRV_Q_ENUM, 0, 0, 0, st, NULL},
		{"after", SRV_Q_TEXT, 32, 0, 0, NULL, query_hex_check},
		{"limit", SRV_Q_INT, 0, 1, 1000, NULL, NULL},
	};
	struct srv_qvalue v[4];
	struct srv_qpair p[SRV_QUERY_MAX_PARAMS + 1];
	size_t i;

#define PAIR(i, k, val) (p[i].key = (k), p[i].key_len = strlen(k), \
    p[i].value = (val), p[i].value_len = (val) ? strlen(val) : 0)
	PAIR(0, "profile", "officer");
	PAIR(1, "limit", "20");
	PAIR(2, "status", "refused");
	CHECK_EQ(srv_query_check(spec, 4, p, 3, v), 0);
	CHECK(v[0].set && strcmp(v[0].s, "officer") == 0);
	CHECK(v[1].set && strcmp(v[1].s, "refused") == 0);
	CHECK(!v[2].set && v[2].s == NULL);
	CHECK(v[3].set && v[3].i == 20);
	CHECK_EQ(srv_query_check(spec, 4, p, 0, v), 0);
	CHECK(!v[0].set && !v[3].set);

	/* must fail: "%ff" (decoded: the byte 0xff) names the parameter */
	PAIR(0, "profile", "\xff");
	CHECK_EQ(srv_query_check(spec, 4, p, 1, v), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "profile: not valid UTF-8");
	/* must fail: an unknown parameter, named */
	PAIR(0, "colour", "red");
	CHECK_EQ(srv_query_check(spec, 4, p, 1, v), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "colour: not a parameter");
	CHECK_CONTAINS(gp_err_detail(), "profile, status, after, limit");
	/* ... and not echoed when it is not plain text */
	PAIR(0, "c\xffl", "red");
	CHECK_EQ(srv_query_check(spec, 4, p, 1, v), GP_ERR_INVALID);
	CHECK(strchr(gp_err_detail(), '\xff') == NULL);
	/* must fail: given twice, even with the same value */
	PAIR(0, "limit", "5");
	PAIR(1, "limit", "5");
	CHECK_EQ(srv_query_check(spec, 4, p, 2, v), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "limit: given more than once");
	/* must fail: no value, an empty one, a NUL inside (%00) */
	PAIR(0, "profile", "x");
	p[0].value = NULL;
	p[0].value_len = 0;
	CHECK_EQ(srv_query_check(spec, 4, p, 1, v), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "profile: needs a value");
	PAIR(0, "profile", "");
	CHECK_EQ(srv_query_check(spec, 4, p, 1, v), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "profile: empty");
	p[0].value = "ab\0cd";
	p[0].value_len = 5;
	CHECK_EQ(srv_query_check(spec, 4, p, 1, v), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "profile: character 3 is U+0000");
	/* must fail: a bidi override */
	PAIR(0, "profile", "a\xe2\x80\xae" "b");
	CHECK_EQ(srv_query_check(spec, 4, p, 1, v), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "profile: character 2 is U+202E");
	/* must fail: out of kind */
	PAIR(0, "profile", "ninechars");
	CHECK_EQ(srv_query_check(spec, 4, p, 1, v), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "profile: 9 characters; at most 8");
	PAIR(0, "status", "good");
	CHECK_EQ(srv_query_check(spec, 4, p, 1, v), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "status: one of pending, refused");
	PAIR(0, "limit", "1001");
	CHECK_EQ(srv_query_check(spec, 4, p, 1, v), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "limit");
	PAIR(0, "limit", "1e3");
	CHECK_EQ(srv_query_check(spec, 4, p, 1, v), GP_ERR_INVALID);
	PAIR(0, "after", "xyz");
	CHECK_EQ(srv_query_check(spec, 4, p, 1, v), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "after: hex");
	/* must fail: a query on a route that takes none */
	PAIR(0, "x", "1");
	CHECK_EQ(srv_query_check(NULL, 0, p, 1, v), GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "x: not a parameter of this request "
	    "(it takes none)");
	/* must fail: too many parameters */
	for (i = 0; i < SRV_QUERY_MAX_PARAMS + 1; i++)
		PAIR(i, "profile", "x");
	CHECK_EQ(srv_query_check(spec, 4, p, SRV_QUERY_MAX_PARAMS + 1, v),
	    GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "more than");
#undef PAIR
}

int
main(void)
{
	RUN(test_status_map);
	RUN(test_error_json);
	RUN(test_parse_i64);
	RUN(test_routes);
	RUN(test_roles);
	RUN(test_metrics_text);
	RUN(test_refusal_kinds);
	RUN(test_peers_aggregate);
	RUN(test_peers_cap);
	RUN(test_peers_nonce_rate);
	RUN(test_ident_parse);
	RUN(test_ident_role);
	RUN(test_query);
	return test_done("server");
}
