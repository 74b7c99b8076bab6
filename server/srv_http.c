/*
 * srv_http.c: request plumbing shared by both listeners. For each request:
 *
 *   1. first call: a context with a CSPRNG request id, the method, path and
 *      client address; message framing that two parsers could read two
 *      ways (Content-Length headers that disagree, Transfer-Encoding with
 *      Content-Length, a transfer coding other than chunked) is answered
 *      400 or 501 and the connection closed; a declared Content-Length
 *      over max_body_bytes is answered 413 at once, before any of the
 *      body is read;
 *   2. body calls: bytes accumulate up to max_body_bytes; past it what
 *      was kept is freed and the rest dropped unbuffered, then answered
 *      413; past twice the cap the connection is closed;
 *   3. last call: the connection's request deadline stops (srv_conn.c),
 *      admin authentication, route lookup (404/405), role check (403,
 *      audited), then the handler; its reply gets X-Request-Id;
 *   4. completed callback: one JSON log line, metrics, in-flight count,
 *      and the deadline of the connection's next request starts.
 *
 * Refusals on the public listener (4xx) are counted per client address
 * for the aggregated "http.refused" record (srv_peer.c), not audited one
 * by one.
 *
 * A handler whose reply must wait for something slow does not block its
 * worker thread: srv_audit_hold() suspends the connection until the audit
 * writer has made the request's record durable, then resumes it (the
 * daemons run with MHD_ALLOW_SUSPEND_RESUME), and the held reply is queued
 * on the resumed call (srv_hold() and srv_hold_done() are its halves, for
 * a durable step that is not a plain record: issuance's certificate row
 * and record). The same pattern serves a USB key that signs in up
 * to 10 s. srv_req stays alive (and counted in flight) until
 * srv_completed(). The writer's callback argument is a struct srv_hold,
 * not the request: shutdown may drop a held reply (srv_holds_drop) and
 * free the request before the writer calls back, and then the callback
 * finds the hold detached and only frees it. One process-wide mutex
 * orders the callback, the drop and the request's completion.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/crypto.h>

#include "server/internal.h"

/* A held reply as the audit writer knows it: its callback argument. */
struct srv_hold {
	struct srv_hold *prev, *next; /* srv->holds while |rq| is set */
	struct srv_req *rq;           /* NULL once dropped or completed */
};

/* Orders the writer's callback, srv_holds_drop() and srv_completed() on
 * every hold of the process (a struct srv may be gone when the writer
 * calls back, so the mutex cannot live in it). */
static pthread_mutex_t srv_hold_mu = PTHREAD_MUTEX_INITIALIZER;

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

/* Unlinks |h| from its server's list. Called under srv_hold_mu with
 * h->rq set. */
static void
srv_hold_unlink(struct srv_hold *h)
{
	struct srv *s = h->rq->srv;

	if (h->prev != NULL)
		h->prev->next = h->next;
	else
		s->holds = h->next;
	if (h->next != NULL)
		h->next->prev = h->prev;
	h->prev = h->next = NULL;
	h->rq->hold = NULL;
	h->rq = NULL;
}

/* The audit writer's completion for a held reply: record the result, then
 * wake the connection. Runs on the writer thread; MHD_resume_connection()
 * is made for that. A hold that shutdown dropped has no request left:
 * then only the hold is freed. */
static void
srv_audit_resume(void *arg, int r)
{
	struct srv_hold *h = arg;
	struct srv_req *rq;
	char err[sizeof(rq->audit_err)];

	if (h == NULL)
		return; /* srv_hold() had no memory and dropped the reply */
	/* This detail is the writer thread's. */
	snprintf(err, sizeof(err), "%s", r != 0 ? gp_err_detail() : "");
	pthread_mutex_lock(&srv_hold_mu);
	if ((rq = h->rq) == NULL) {
		pthread_mutex_unlock(&srv_hold_mu);
		if (r != 0)
			gp_log(GP_LOG_ERROR, "a reply dropped at shutdown: "
			    "cannot audit: %s", err);
		free(h);
		return;
	}
	srv_hold_unlink(h);
	if (r != 0) {
		/* For |on_audit_fail|. */
		snprintf(rq->audit_err, sizeof(rq->audit_err), "%s", err);
		gp_log(GP_LOG_ERROR, "request %s: cannot audit: %s",
		    rq->request_id, rq->audit_err);
	}
	if (rq->on_audit_done != NULL)
		rq->on_audit_done(rq, r);
	rq->audit_r = r;
	__atomic_store_n(&rq->audit_done, 1, __ATOMIC_RELEASE);
	MHD_resume_connection(rq->conn);
	/* |rq| may be gone from here on (completed and freed by MHD). */
	pthread_mutex_unlock(&srv_hold_mu);
	free(h);
}

struct srv_hold *
srv_hold(struct srv_req *rq, int (*on_fail)(struct srv_req *rq))
{
	struct srv *s = rq->srv;
	struct srv_hold *h = calloc(1, sizeof(*h));

	rq->held = 1;
	rq->on_audit_fail = on_fail;
	pthread_mutex_lock(&srv_hold_mu);
	if (h != NULL && !s->stopping) {
		/* Suspend first: the writer may resume before the handler
		 * returns. */
		MHD_suspend_connection(rq->conn);
		rq->suspended = 1;
		h->rq = rq;
		h->next = s->holds;
		if (s->holds != NULL)
			s->holds->prev = h;
		s->holds = h;
		rq->hold = h;
	} else {
		/* Shutting down (or no memory): the reply is dropped at once,
		 * the connection closed without it. */
		gp_log(GP_LOG_ERROR, "request %s: %s; closing the connection "
		    "without its reply", rq->request_id, h == NULL ?
		    "no memory to hold the reply" : "the server is stopping");
		rq->hold_dropped = 1;
		__atomic_store_n(&rq->audit_done, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&srv_hold_mu);
	return h;
}

void
srv_hold_done(void *arg, int r)
{
	srv_audit_resume(arg, r);
}

int
srv_holds_drop(struct srv *s)
{
	struct srv_req *rq;
	int n = 0;

	pthread_mutex_lock(&srv_hold_mu);
	s->stopping = 1;
	while (s->holds != NULL) {
		rq = s->holds->rq;
		srv_hold_unlink(s->holds);
		gp_log(GP_LOG_ERROR, "request %s: its reply still waits for "
		    "the audit log after limits.shutdown_grace_s; closing the "
		    "connection without it", rq->request_id);
		rq->hold_dropped = 1;
		__atomic_store_n(&rq->audit_done, 1, __ATOMIC_RELEASE);
		MHD_resume_connection(rq->conn);
		n++;
	}
	pthread_mutex_unlock(&srv_hold_mu);
	return n;
}

int
srv_audit_hold(struct srv_req *rq, const char *op, const char *object,
    const char *outcome, json_t *details, int (*on_fail)(struct srv_req *rq))
{
	struct audit_event ev;
	struct srv_hold *h;
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
	h = srv_hold(rq, on_fail);
	if ((r = audit_log_async(rq->srv->inst->audit, &ev, srv_audit_resume,
	    h)) != 0)
		srv_audit_resume(h, r);
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
	if (rq->hold_dropped) {
		/* Shutdown: no reply at all rather than one that could claim
		 * what the audit log does not hold yet. */
		if (rq->resp != NULL) {
			MHD_destroy_response(rq->resp);
			rq->resp = NULL;
		}
		return MHD_NO;
	}
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
	int k = srv_refusal_of_status(status);

	if (k >= 0)
		srv_refused(rq, (enum srv_refusal)k);
	if (srv_reply_error(rq, status, code, detail) != 0)
		return MHD_NO;
	return srv_queue(rq);
}

void
srv_refused(struct srv_req *rq, enum srv_refusal k)
{
	/* Anonymous requests only: the admin listener's refusals name an
	 * actor and are audited one by one (so are EST's enrolment refusals,
	 * by their handlers; its 404s and 405s are counted here). */
	if (rq->listener != SRV_ADMIN)
		srv_peers_refused(rq->srv->peers, rq->client, k, gp_now_ms());
}

void
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
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	rq->sc = ci != NULL ? ci->socket_context : NULL;
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
	srv_tender_stream_free(rq);
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

/* What srv_framing_check() saw of the headers that frame the body. */
struct srv_framing {
	int content_lengths;
	int content_length_differs;
	const char *content_length;
	int transfer_encodings;
	const char *transfer_encoding;
};

static enum MHD_Result
srv_framing_header(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct srv_framing *f = cls;

	if (key == NULL)
		return MHD_YES;
	if (value == NULL)
		value = "";
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		if (f->content_lengths++ > 0 &&
		    strcmp(f->content_length, value) != 0)
			f->content_length_differs = 1;
		else
			f->content_length = value;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		f->transfer_encodings++;
		f->transfer_encoding = value;
	}
	return MHD_YES;
}

/* Refuses a request whose body length two parsers could read two ways
 * (request smuggling), with the status the RFC gives; 0 when the framing
 * is unambiguous. libmicrohttpd 0.9.75 reads the first Content-Length
 * and ignores the others, so this must be checked before any body. */
static int
srv_framing_check(struct srv_req *rq)
{
	struct srv_framing f;
	const char *te, *last;

	memset(&f, 0, sizeof(f));
	(void)MHD_get_connection_values(rq->conn, MHD_HEADER_KIND,
	    srv_framing_header, &f);
	/* RFC 7230 3.3.3 (4): "If a message is received without
	 * Transfer-Encoding and with either multiple Content-Length header
	 * fields having differing field-values or a single Content-Length
	 * header field having an invalid value, then the message framing is
	 * invalid ... the server MUST respond with a 400 (Bad Request)
	 * status code and then close the connection." (Repeats of one value
	 * frame the body one way; 3.3.2 lets a recipient take them as one.) */
	if (f.content_length_differs) {
		rq->framing_status = 400;
		return gp_err_set(GP_ERR_INVALID, "Content-Length: the "
		    "request has several that differ");
	}
	if (f.transfer_encodings == 0)
		return 0;
	/* RFC 7230 3.3.3 (3): Transfer-Encoding with Content-Length "ought
	 * to be handled as an error" (a sign of smuggling). */
	if (f.content_lengths > 0) {
		rq->framing_status = 400;
		return gp_err_set(GP_ERR_INVALID, "Transfer-Encoding and "
		    "Content-Length: send one of them");
	}
	te = f.transfer_encoding;
	last = strrchr(te, ',');
	last = last != NULL ? last + 1 : te;
	while (*last == ' ' || *last == '\t')
		last++;
	/* RFC 7230 3.3.3 (3): "If a Transfer-Encoding header field is
	 * present in a request and the chunked transfer coding is not the
	 * final encoding, the message body length cannot be determined
	 * reliably; the server MUST respond with the 400 (Bad Request)
	 * status code and then close the connection." */
	if (f.transfer_encodings > 1 || strncasecmp(last, "chunked", 7) != 0 ||
	    strspn(last + 7, " \t") != strlen(last + 7)) {
		rq->framing_status = 400;
		return gp_err_set(GP_ERR_INVALID, "Transfer-Encoding: chunked "
		    "must be the last (and here the only) coding");
	}
	/* RFC 7230 3.3.1: "A server that receives a request message with a
	 * transfer coding it does not understand SHOULD respond with 501
	 * (Not Implemented)." libmicrohttpd decodes chunked only. */
	if (last != te) {
		rq->framing_status = 501;
		return gp_err_set(GP_ERR_UNSUPPORTED, "Transfer-Encoding: "
		    "only chunked is supported");
	}
	return 0;
}

/* Answers a framing error (rq->framing_status) and closes the connection
 * after the reply: what follows the headers cannot be told apart from a
 * next request. */
static enum MHD_Result
srv_fail_close(struct srv_req *rq)
{
	char why[1024];
	int code = rq->framing_status == 501 ? GP_ERR_UNSUPPORTED :
	    GP_ERR_INVALID;

	snprintf(why, sizeof(why), "%s", gp_err_detail());
	srv_refused(rq, rq->framing_status == 400 ? SRV_REFUSED_HTTP_400 :
	    SRV_REFUSED_HTTP_OTHER);
	if (srv_reply_error(rq, rq->framing_status, code, why) != 0)
		return MHD_NO;
	MHD_add_response_header(rq->resp, MHD_HTTP_HEADER_CONNECTION, "close");
	return srv_queue(rq);
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
		srv_refused(rq, SRV_REFUSED_HTTP_405);
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

	/* A query the route does not read is refused, not ignored: two
	 * readers of one URL must not see two requests. */
	if (!rt->query && (rq->listener == SRV_ADMIN ||
	    strncmp(url, "/api/", 5) == 0)) {
		struct srv_qvalue none;

		r = srv_query_parse(rq, NULL, 0, &none);
		if (r != 0) {
			char why[1024];

			snprintf(why, sizeof(why), "%s", gp_err_detail());
			return srv_fail(rq, server_http_status(r), r, why);
		}
	}

	gp_err_clear();
	r = rt->fn(rq, url);
	if (r != 0) {
		char why[1024];

		snprintf(why, sizeof(why), "%s", gp_err_detail());
		return srv_fail(rq, server_http_status(r), r, why);
	}
	if (rq->held) {
		/* Queued when the audit writer resumes us; closed without a
		 * reply when shutdown dropped it before it was held. */
		return rq->suspended ? MHD_YES : srv_held_reply(rq);
	}
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
		if (srv_framing_check(rq) != 0)
			return srv_fail_close(rq);
		/* A sealed bid streams to disk under its tender's own cap
		 * (srv_tender.c). */
		if (srv_tender_stream_begin(rq, url) == 1)
			cap = rq->stream_cap;
		/* Refuse a declared oversize body before reading any of it. */
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && (srv_parse_i64("Content-Length", cl, 0,
		    INT64_MAX, &declared) != 0 || (uint64_t)declared > cap)) {
			rq->too_large = 1;
			if (rq->stream != NULL && srv_tender_too_large(rq) == 0)
				return srv_queue(rq);
			return srv_fail(rq, 413, GP_ERR_TOO_LARGE,
			    "request body over the limit");
		}
		return MHD_YES;
	}

	if (rq->stream != NULL)
		cap = rq->stream_cap;
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
		if (rq->stream != NULL) {
			if (rq->received > cap) {
				rq->too_large = 1;
				return MHD_YES;
			}
			return srv_tender_stream_write(rq, upload_data, n) ==
			    0 ? MHD_YES : MHD_NO;
		}
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
	/* Headers and body are in: from here the handler's time, or the
	 * reply's, is not the client's doing. */
	srv_conn_disarm(rq->sc);
	if (rq->too_large) {
		if (rq->stream != NULL && srv_tender_too_large(rq) == 0)
			return srv_queue(rq);
		return srv_fail(rq, 413, GP_ERR_TOO_LARGE,
		    "request body over the limit");
	}
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
	if (rq->held) {
		/* A hold the writer has not called back yet: detach it, so
		 * that the callback does not touch this request. */
		pthread_mutex_lock(&srv_hold_mu);
		if (rq->hold != NULL)
			srv_hold_unlink(rq->hold);
		pthread_mutex_unlock(&srv_hold_mu);
	}
	/* The next request on this connection has its own deadline. */
	srv_conn_arm(s, rq->sc);
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
