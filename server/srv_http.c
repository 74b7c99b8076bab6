/*
 * srv_http.c: request plumbing shared by both listeners. For each request:
 *
 *   1. first call: a context with a CSPRNG request id, the method, path and
 *      client address; a declared Content-Length over max_body_bytes is
 *      answered 413 at once, before any of the body is read;
 *   2. body calls: bytes accumulate up to max_body_bytes; past it what
 *      was kept is freed and the rest dropped unbuffered, then answered
 *      413; past twice the cap the connection is closed;
 *   3. last call: admin authentication, route lookup (404/405), role check
 *      (403, audited), then the handler; its reply gets X-Request-Id;
 *   4. completed callback: one JSON log line, metrics, in-flight count.
 *
 * A handler whose reply must wait for something slow does not block its
 * worker thread: srv_audit_hold() suspends the connection until the audit
 * writer has made the request's record durable, then resumes it (the
 * daemons run with MHD_ALLOW_SUSPEND_RESUME), and the held reply is queued
 * on the resumed call (srv_hold() and srv_hold_done() are its halves, for
 * a durable step that is not a plain record: issuance's certificate row
 * and record). The same pattern serves a USB key that signs in up
 * to 10 s. srv_req stays alive (and counted in flight) until
 * srv_completed().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/crypto.h>

#include "server/internal.h"

unsigned int
server_http_status(int code)
{
	switch (code) {
	case GP_OK:
		return 200;
	case GP_ERR_INVALID:
		return 400;
	case GP_ERR_UNAUTHENTICATED:
		return 401;
	case GP_ERR_DENIED:
		return 403;
	case GP_ERR_NOT_FOUND:
		return 404;
	case GP_ERR_CONFLICT:
	case GP_ERR_EXISTS:
		return 409;
	case GP_ERR_TOO_LARGE:
		return 413;
	case GP_ERR_BUSY:
	case GP_ERR_DEVICE:
		return 503;
	default:
		return 500;
	}
}

json_t *
srv_error_json(int code, const char *detail)
{
	char msg[1200];

	if (detail != NULL && detail[0] != '\0')
		snprintf(msg, sizeof(msg), "%s: %s", gp_err_str(code), detail);
	else
		snprintf(msg, sizeof(msg), "%s", gp_err_str(code));
	return json_pack("{s:{s:s, s:s}}", "error", "code", gp_err_name(code),
	    "message", msg);
}

int
srv_parse_i64(const char *field, const char *s, int64_t min, int64_t max,
    int64_t *out)
{
	char *end = NULL;
	long long v;

	if (s == NULL || s[0] == '\0' || s[0] == ' ' || s[0] == '+' ||
	    strlen(s) > 20)
		return gp_err_set(GP_ERR_INVALID, "%s: not a number", field);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return gp_err_set(GP_ERR_INVALID, "%s: not a number", field);
	if (v < min || v > max)
		return gp_err_set(GP_ERR_INVALID, "%s: must be %" PRId64
		    " to %" PRId64, field, min, max);
	*out = (int64_t)v;
	return 0;
}

static int
srv_reply_set(struct srv_req *rq, unsigned int status,
    struct MHD_Response *resp)
{
	if (resp == NULL)
		return gp_err_set(GP_ERR_NOMEM, "building the response");
	if (rq->resp != NULL)
		MHD_destroy_response(rq->resp);
	rq->resp = resp;
	rq->resp_status = status;
	return 0;
}

int
srv_reply_json(struct srv_req *rq, unsigned int status, json_t *obj)
{
	struct MHD_Response *resp;
	char *s;
	int r;

	if (obj == NULL)
		return gp_err_set(GP_ERR_NOMEM, "building the response");
	s = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (s == NULL)
		return gp_err_set(GP_ERR_NOMEM, "building the response");
	resp = MHD_create_response_from_buffer(strlen(s), s,
	    MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(s);
		return gp_err_set(GP_ERR_NOMEM, "building the response");
	}
	r = srv_reply_set(rq, status, resp);
	if (r == 0)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    "application/json");
	return r;
}

int
srv_reply_bytes(struct srv_req *rq, unsigned int status,
    const char *content_type, const void *buf, size_t len)
{
	struct MHD_Response *resp;
	int r;

	resp = MHD_create_response_from_buffer(len, (void *)buf,
	    MHD_RESPMEM_MUST_COPY);
	r = srv_reply_set(rq, status, resp);
	if (r == 0)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    content_type);
	return r;
}

int
srv_reply_error(struct srv_req *rq, unsigned int status, int code,
    const char *detail)
{
	srv_metrics_error(code);
	return srv_reply_json(rq, status, srv_error_json(code, detail));
}

int
srv_audit(struct srv_req *rq, const char *op, const char *object,
    const char *outcome, json_t *details)
{
	struct audit_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.actor = rq->who != NULL ? rq->who->actor : NULL;
	ev.role = rq->who != NULL ? rq->who->role : NULL;
	ev.op = op;
	ev.object = object;
	ev.outcome = outcome;
	ev.request_id = rq->request_id;
	ev.client = rq->client;
	ev.details = details;
	return audit_log(rq->srv->inst->audit, &ev);
}

/* The audit writer's completion for a held reply: record the result, then
 * wake the connection. Runs on the writer thread; MHD_resume_connection()
 * is made for that. */
static void
srv_audit_resume(void *arg, int r)
{
	struct srv_req *rq = arg;
	struct srv *s = rq->srv;

	if (r != 0) {
		/* For |on_audit_fail|: this detail is the writer thread's. */
		snprintf(rq->audit_err, sizeof(rq->audit_err), "%s",
		    gp_err_detail());
		gp_log(GP_LOG_ERROR, "request %s: cannot audit: %s",
		    rq->request_id, rq->audit_err);
	}
	if (rq->on_audit_done != NULL)
		rq->on_audit_done(rq, r);
	rq->audit_r = r;
	__atomic_store_n(&rq->audit_done, 1, __ATOMIC_RELEASE);
	MHD_resume_connection(rq->conn);
	/* |rq| may be gone from here on (completed and freed by MHD). */
	atomic_fetch_sub(&s->held, 1);
}

void
srv_hold(struct srv_req *rq, int (*on_fail)(struct srv_req *rq))
{
	atomic_fetch_add(&rq->srv->held, 1);
	rq->held = 1;
	rq->on_audit_fail = on_fail;
	/* Suspend first: the writer may resume before the handler returns. */
	MHD_suspend_connection(rq->conn);
}

void
srv_hold_done(void *arg, int r)
{
	srv_audit_resume(arg, r);
}

int
srv_audit_hold(struct srv_req *rq, const char *op, const char *object,
    const char *outcome, json_t *details, int (*on_fail)(struct srv_req *rq))
{
	struct audit_event ev;
	int r;

	memset(&ev, 0, sizeof(ev));
	ev.actor = rq->who != NULL ? rq->who->actor : NULL;
	ev.role = rq->who != NULL ? rq->who->role : NULL;
	ev.op = op;
	ev.object = object;
	ev.outcome = outcome;
	ev.request_id = rq->request_id;
	ev.client = rq->client;
	ev.details = details;
	srv_hold(rq, on_fail);
	if ((r = audit_log_async(rq->srv->inst->audit, &ev, srv_audit_resume,
	    rq)) != 0)
		srv_audit_resume(rq, r);
	return 0;
}

/* The resumed call of a held reply: send it, or its replacement when the
 * record failed. */
static enum MHD_Result srv_queue(struct srv_req *rq);
static enum MHD_Result srv_fail(struct srv_req *rq, unsigned int status,
    int code, const char *detail);

static enum MHD_Result
srv_held_reply(struct srv_req *rq)
{
	int r;

	if (!__atomic_load_n(&rq->audit_done, __ATOMIC_ACQUIRE))
		return MHD_YES; /* not ours to answer yet */
	rq->held = 0;
	if (rq->audit_r == 0 && rq->resp == NULL)
		return srv_fail(rq, 500, GP_ERR_NOMEM, "building the response");
	if (rq->audit_r == 0)
		return srv_queue(rq);
	if (rq->resp != NULL) {
		MHD_destroy_response(rq->resp);
		rq->resp = NULL;
	}
	if (rq->on_audit_fail != NULL && (r = rq->on_audit_fail(rq)) == 0)
		return srv_queue(rq);
	return srv_fail(rq, 500, rq->audit_r, "the audit log is not "
	    "available; nothing was done");
}

/* Queues the handler's response with the headers every reply carries. */
static enum MHD_Result
srv_queue(struct srv_req *rq)
{
	enum MHD_Result ret;

	if (rq->resp == NULL)
		return MHD_NO;
	MHD_add_response_header(rq->resp, "X-Request-Id", rq->request_id);
	/* Handlers that want caching (RFC 5019 OCSP) set their own. */
	if (MHD_get_response_header(rq->resp,
	    MHD_HTTP_HEADER_CACHE_CONTROL) == NULL)
		MHD_add_response_header(rq->resp,
		    MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(rq->resp, "X-Content-Type-Options", "nosniff");
	ret = MHD_queue_response(rq->conn, rq->resp_status, rq->resp);
	MHD_destroy_response(rq->resp);
	rq->resp = NULL;
	if (ret == MHD_YES) {
		rq->status = rq->resp_status;
		rq->replied = 1;
	}
	return ret;
}

/* Builds and queues an error reply; drops the connection if even that
 * fails. */
static enum MHD_Result
srv_fail(struct srv_req *rq, unsigned int status, int code,
    const char *detail)
{
	if (srv_reply_error(rq, status, code, detail) != 0)
		return MHD_NO;
	return srv_queue(rq);
}

static void
srv_client_addr(struct MHD_Connection *c, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	snprintf(buf, len, "unknown");
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return;
	sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, buf, (socklen_t)len);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, buf, (socklen_t)len);
	}
}

/* Copies |in| for the log and the audit, percent-encoding control bytes,
 * '%' and non-ASCII, so that what a client sends is always valid UTF-8
 * text there (jansson refuses invalid UTF-8) and cannot forge log lines. */
static void
srv_clean_copy(char *out, size_t len, const char *in)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	unsigned char ch;

	for (; in != NULL && *in != '\0' && o + 4 < len; in++) {
		ch = (unsigned char)*in;
		if (ch < 0x20 || ch >= 0x7f || ch == '%') {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 0xf];
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o] = '\0';
}

static struct srv_req *
srv_req_new(const struct srv_lctx *lc, struct MHD_Connection *c,
    const char *url, const char *method)
{
	const union MHD_ConnectionInfo *ci;
	struct srv *s = lc->srv;
	struct srv_req *rq;
	uint8_t rnd[8];
	size_t i;

	rq = calloc(1, sizeof(*rq));
	if (rq == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &rq->start);
	rq->srv = s;
	rq->conn = c;
	rq->listener = lc->listener;
	if (rq->listener == SRV_ADMIN) {
		ci = MHD_get_connection_info(c,
		    MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		rq->sc = ci != NULL ? ci->socket_context : NULL;
	}
	if (gp_random(rnd, sizeof(rnd)) != 0) {
		free(rq);
		return NULL;
	}
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(rq->request_id + 2 * i, 3, "%02x", rnd[i]);
	srv_clean_copy(rq->method, sizeof(rq->method), method);
	srv_clean_copy(rq->path, sizeof(rq->path), url);
	srv_client_addr(c, rq->client, sizeof(rq->client));
	atomic_fetch_add(&s->in_flight, 1);
	return rq;
}

static void
srv_req_free(struct srv_req *rq)
{
	if (rq == NULL)
		return;
	if (rq->resp != NULL)
		MHD_destroy_response(rq->resp);
	free(rq->hold_arg);
	free(rq->body);
	free(rq);
}

/* Appends body bytes, refusing to grow past |cap|. */
static int
srv_body_append(struct srv_req *rq, const char *data, size_t len, size_t cap)
{
	size_t ncap;
	uint8_t *nb;

	if (len > cap || rq->body_len > cap - len)
		return GP_ERR_TOO_LARGE;
	if (rq->body_len + len > rq->body_cap) {
		ncap = rq->body_cap ? rq->body_cap * 2 : 4096;
		while (ncap < rq->body_len + len)
			ncap *= 2;
		if (ncap > cap)
			ncap = cap;
		nb = realloc(rq->body, ncap + 1);
		if (nb == NULL)
			return GP_ERR_NOMEM;
		rq->body = nb;
		rq->body_cap = ncap;
	}
	memcpy(rq->body + rq->body_len, data, len);
	rq->body_len += len;
	rq->body[rq->body_len] = '\0';
	return 0;
}

/* Runs the request once its body is complete. */
static enum MHD_Result
srv_dispatch(struct srv_req *rq, const char *url)
{
	const struct srv_route *rt = NULL;
	char allow[64], object[SRV_MAX_PATH_LOG + 24];
	int r;

	if (rq->listener == SRV_ADMIN) {
		r = srv_auth(rq);
		if (r == GP_ERR_UNAUTHENTICATED) {
			char why[1024];
			json_t *details;

			snprintf(why, sizeof(why), "%s", gp_err_detail());
			snprintf(object, sizeof(object), "%s %s", rq->method,
			    rq->path);
			details = json_pack("{s:s}", "reason", why);
			if (srv_audit(rq, "http.unauthenticated", object,
			    "denied", details) != 0)
				gp_log(GP_LOG_ERROR, "request %s: cannot audit "
				    "a refused login: %s", rq->request_id,
				    gp_err_detail());
			json_decref(details);
			return srv_fail(rq, 401, GP_ERR_UNAUTHENTICATED, why);
		}
		if (r != 0)
			return srv_fail(rq, server_http_status(r), r,
			    gp_err_detail());
	}

	r = srv_route_find(rq->listener, rq->method, url, &rt);
	if (r == GP_ERR_NOT_FOUND)
		return srv_fail(rq, 404, GP_ERR_NOT_FOUND, "no such path");
	if (r == GP_ERR_UNSUPPORTED) {
		srv_route_allow(rq->listener, url, allow, sizeof(allow));
		if (srv_reply_error(rq, 405, GP_ERR_UNSUPPORTED,
		    "method not allowed on this path") != 0)
			return MHD_NO;
		MHD_add_response_header(rq->resp, MHD_HTTP_HEADER_ALLOW,
		    allow);
		return srv_queue(rq);
	}
	if (r != 0 || rt == NULL)
		return srv_fail(rq, 500, GP_ERR_INTERNAL, "route lookup");

	if (rq->listener == SRV_ADMIN &&
	    (rq->who == NULL || (rt->roles & rq->who->role_bit) == 0)) {
		snprintf(object, sizeof(object), "%s %s", rq->method, rq->path);
		if (srv_audit(rq, "http.denied", object, "denied", NULL) != 0)
			gp_log(GP_LOG_ERROR, "request %s: cannot audit a "
			    "denial: %s", rq->request_id, gp_err_detail());
		return srv_fail(rq, 403, GP_ERR_DENIED, "role does not allow "
		    "this request");
	}

	gp_err_clear();
	r = rt->fn(rq, url);
	if (r != 0) {
		char why[1024];

		snprintf(why, sizeof(why), "%s", gp_err_detail());
		return srv_fail(rq, server_http_status(r), r, why);
	}
	if (rq->held)
		return MHD_YES; /* queued when the audit writer resumes us */
	return srv_queue(rq);
}

enum MHD_Result
srv_access(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	const struct srv_lctx *lc = cls;
	struct srv *s = lc->srv;
	struct srv_req *rq = *req_cls;
	size_t cap = (size_t)s->inst->cfg->max_body_bytes;
	const char *cl;
	int64_t declared;
	char path[SRV_MAX_PATH_LOG];

	if (rq == NULL) {
		rq = srv_req_new(lc, c, url, method);
		if (rq == NULL)
			return MHD_NO;
		*req_cls = rq;
		/* Refuse a declared oversize body before reading any of it. */
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && (srv_parse_i64("Content-Length", cl, 0,
		    INT64_MAX, &declared) != 0 || (uint64_t)declared > cap)) {
			rq->too_large = 1;
			return srv_fail(rq, 413, GP_ERR_TOO_LARGE,
			    "request body over the limit");
		}
		return MHD_YES;
	}

	if (*upload_data_size != 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0; /* consumed, or deliberately dropped */
		if (rq->replied)
			return MHD_YES;
		rq->received = n > SIZE_MAX - rq->received ? SIZE_MAX :
		    rq->received + n;
		/* A client that keeps sending far past the cap loses the
		 * connection. */
		if (rq->received / 2 > cap)
			return MHD_NO;
		if (rq->too_large)
			return MHD_YES; /* dropped unbuffered; 413 at the end */
		switch (srv_body_append(rq, upload_data, n, cap)) {
		case 0:
			return MHD_YES;
		case GP_ERR_TOO_LARGE:
			/* An undeclared (chunked) body went over the cap:
			 * MHD 0.9.75 cannot queue a reply in mid-body, so
			 * drop what was kept and what follows. */
			rq->too_large = 1;
			free(rq->body);
			rq->body = NULL;
			rq->body_len = rq->body_cap = 0;
			return MHD_YES;
		default:
			return MHD_NO;
		}
	}

	if (rq->held)
		return srv_held_reply(rq);
	if (rq->replied)
		return MHD_YES;
	if (rq->too_large)
		return srv_fail(rq, 413, GP_ERR_TOO_LARGE,
		    "request body over the limit");
	/* |url| is the path without the query string. */
	snprintf(path, sizeof(path), "%s", url);
	return srv_dispatch(rq, path);
}

void
srv_completed(void *cls, struct MHD_Connection *c, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	const struct srv_lctx *lc = cls;
	struct srv *s = lc->srv;
	struct srv_req *rq = *req_cls;
	struct timespec now;
	double secs;
	char when[40];
	struct timespec wall;
	struct tm tm;
	size_t n;
	json_t *line;

	if (rq == NULL)
		return;
	*req_cls = NULL;
	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (double)(now.tv_sec - rq->start.tv_sec) +
	    (double)(now.tv_nsec - rq->start.tv_nsec) / 1e9;
	srv_metrics_request(rq->listener, rq->status, secs);

	clock_gettime(CLOCK_REALTIME, &wall);
	gmtime_r(&wall.tv_sec, &tm);
	n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof(when) - n, ".%03ldZ",
	    wall.tv_nsec / 1000000);
	/* Never bodies, never query strings' secrets: method, path only. */
	line = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:s?, s:b}",
	    "time", when, "request_id", rq->request_id, "listener",
	    srv_listener_name(rq->listener), "client", rq->client, "method",
	    rq->method, "path", rq->path, "status", (int)rq->status, "us",
	    (json_int_t)(secs * 1e6), "actor", rq->who != NULL ? rq->who->actor : NULL,
	    "complete", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	if (line != NULL) {
		gp_log_obj(line);
		json_decref(line);
	}
	srv_req_free(rq);
	atomic_fetch_sub(&s->in_flight, 1);
}

void
srv_conn_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
    enum MHD_ConnectionNotificationCode toe)
{
	struct srv_conn *sc;

	switch (toe) {
	case MHD_CONNECTION_NOTIFY_STARTED:
		*socket_ctx = calloc(1, sizeof(struct srv_conn));
		break;
	case MHD_CONNECTION_NOTIFY_CLOSED:
		sc = *socket_ctx;
		if (sc != NULL) {
			srv_ident_clear(&sc->ident);
			free(sc);
		}
		*socket_ctx = NULL;
		break;
	default:
		break;
	}
}
