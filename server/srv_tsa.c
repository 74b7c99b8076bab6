/*
 * srv_tsa.c: POST /tsa on the public listener, RFC 3161 section 3.4 (time
 * stamp protocol via HTTP): a DER TimeStampReq as
 * application/timestamp-query in, a DER TimeStampResp as
 * application/timestamp-reply out. Every answer is HTTP 200 with a
 * TimeStampResp, a token or a rejection whose PKIFailureInfo says why, so
 * that an RFC 3161 client always has something to parse; only a body over
 * the server's limits.max_body_bytes is refused by the plumbing (413)
 * before it is read.
 *
 * Every token, and every rejection that says something about the TSA
 * (timeNotAvailable, systemFailure), is audited one by one (op "tsa.stamp"
 * or "tsa.reject") with the serial, the imprint's algorithm and hash, the
 * policy and the client address, through srv_audit_hold(): durable before
 * the reply leaves, batched with every other record in flight, and without
 * holding a worker thread while the commit is on its way, so the audit does
 * not bound the rate. A token whose record could not be written is never
 * sent: the client gets systemFailure instead. Rejections the client
 * caused (badAlg, badRequest, badDataFormat, unacceptedPolicy,
 * unacceptedExtension) sign nothing: they are counted for the aggregated
 * "http.refused" record of the client's address and minute (srv_peer.c),
 * so that anonymous junk cannot grow the audit log one record a request.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "server/internal.h"

#define SRV_TSA_QUERY_TYPE "application/timestamp-query"
#define SRV_TSA_REPLY_TYPE "application/timestamp-reply"

int
srv_tsa_init(struct srv *s)
{
	return instance_tsa_new(s->inst, &s->tsa);
}

void
srv_tsa_free(struct srv *s)
{
	tsa_free(s->tsa);
	s->tsa = NULL;
}

void
srv_tsa_health(struct srv *s, int *out_refuse, char *why, size_t len)
{
	if (s->tsa == NULL) {
		*out_refuse = 1;
		snprintf(why, len, "not started");
		return;
	}
	(void)tsa_clock_state(s->tsa, out_refuse, why, len);
}

/* RFC 3161 3.4: the request's MIME type is application/timestamp-query
 * (parameters after ';' are tolerated). */
static int
srv_tsa_type_ok(const char *ct)
{
	size_t n = strlen(SRV_TSA_QUERY_TYPE);

	if (ct == NULL || strncasecmp(ct, SRV_TSA_QUERY_TYPE, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

static json_t *
srv_tsa_details(const struct tsa_result *res)
{
	json_t *d = json_object();

	if (d == NULL)
		return NULL;
	if (res->granted) {
		json_object_set_new(d, "serial", json_string(res->serial));
		json_object_set_new(d, "gen_time_ms",
		    json_integer((json_int_t)res->gen_time_ms));
	} else {
		json_object_set_new(d, "fail",
		    json_string(tsa_fail_name(res->fail_bit)));
		json_object_set_new(d, "reason", json_string(res->reason));
	}
	if (res->md[0] != '\0')
		json_object_set_new(d, "md", json_string(res->md));
	if (res->imprint[0] != '\0')
		json_object_set_new(d, "imprint", json_string(res->imprint));
	if (res->policy[0] != '\0')
		json_object_set_new(d, "policy", json_string(res->policy));
	return d;
}

/* The record of a time-stamp answer could not be written: the answer is
 * replaced by a systemFailure rejection (RFC 3161 2.4.2), still HTTP 200. */
static int
srv_tsa_audit_failed(struct srv_req *rq)
{
	uint8_t *der = NULL;
	size_t len = 0;
	int r;

	if ((r = tsa_reject(TSA_FAIL_SYSTEM_FAILURE, "the audit log is not "
	    "available", &der, &len)) == 0)
		r = srv_reply_bytes(rq, 200, SRV_TSA_REPLY_TYPE, der, len);
	OPENSSL_free(der);
	return r;
}

int
srv_h_tsa(struct srv_req *rq, const char *url)
{
	int r = GP_ERR_INTERNAL;
	struct tsa_result res;
	uint8_t *der = NULL;
	size_t len = 0;
	json_t *details = NULL;
	const char *ct;
	int k;

	memset(&res, 0, sizeof(res));
	res.fail_bit = -1;
	ct = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	if (rq->srv->tsa == NULL) {
		res.fail_bit = TSA_FAIL_SYSTEM_FAILURE;
		snprintf(res.reason, sizeof(res.reason), "the TSA is not "
		    "running");
		GUARD(tsa_reject(res.fail_bit, res.reason, &der, &len));
	} else if (!srv_tsa_type_ok(ct)) {
		/* RFC 3161 2.4.2 badRequest: "transaction not permitted or
		 * supported". */
		res.fail_bit = TSA_FAIL_BAD_REQUEST;
		snprintf(res.reason, sizeof(res.reason), "content type must "
		    "be %s", SRV_TSA_QUERY_TYPE);
		GUARD(tsa_reject(res.fail_bit, res.reason, &der, &len));
	} else {
		GUARD(tsa_respond(rq->srv->tsa, rq->body, rq->body_len, &der,
		    &len, &res));
	}

	GUARD(srv_reply_bytes(rq, 200, SRV_TSA_REPLY_TYPE, der, len));
	if (res.granted)
		srv_metrics_signature("tsa");
	if (!res.granted && (k = srv_refusal_of_tsa(res.fail_bit)) >= 0) {
		srv_refused(rq, (enum srv_refusal)k);
		r = 0;
		goto out;
	}
	/* The reply waits, without holding a worker thread, until its record
	 * is durable; a token whose record fails never leaves. */
	details = srv_tsa_details(&res);
	GUARD(srv_audit_hold(rq, res.granted ? "tsa.stamp" : "tsa.reject",
	    res.granted ? res.serial : tsa_fail_name(res.fail_bit),
	    res.granted ? "success" : "failure", details,
	    srv_tsa_audit_failed));
	r = 0;
out:
	json_decref(details);
	OPENSSL_free(der);
	return r;
}
