/*
 * srv_tender.c: sealed-bid tendering over HTTP (tender/tender.h).
 *
 * Public listener (bidders, anonymous; the signatures say who):
 *   GET    /tenders/<id>                  the tender, recipients as PEM
 *   POST   /tenders/<id>/bids             a sealed bid (DER CMS), streamed
 *                                         to disk; 201 with the receipt
 *   DELETE /tenders/<id>/bids/<bid>       a signed withdrawal; 200 with
 *                                         its receipt
 *   GET    /tenders/<id>/record           the opening record (DER CMS)
 *   POST   /tenders/<id>/record           a bidder's confirmation
 *   POST   /tenders/<id>/bids/<bid>/release  bidder mode: a key release
 * Admin listener, agents only:
 *   POST /api/v1/tenders                  create
 *   GET  /api/v1/tenders?after=&limit=    list
 *   GET  /api/v1/tenders/<id>             the agent's view
 *   POST /api/v1/tenders/<id>/open        ask to open
 *   POST /api/v1/tenders/<id>/approve-open  the second person's approval
 *   POST /api/v1/tenders/<id>/close       bidder mode: end the window
 *
 * A bid's body never sits in memory: srv_access() hands every chunk of a
 * POST /tenders/<id>/bids for a known tender to srv_tender_stream_write(),
 * which appends it to a file under DIR/tenders/incoming (mode 0600) up
 * to the tender's max_bid_bytes, and the handler syncs the file and gives
 * it to tender_submit(). A refused bid's file is removed; a request that
 * ends without a reply (client gone) removes it when it is freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "server/internal.h"
#include "signer/signer.h"
#include "tender/tender.h"

#define SRV_TENDER_LIST_DEFAULT 100

struct srv_tender {
	struct tender_ctx tc;
	EVP_PKEY *seal_key;
	X509 *seal_cert;
	STACK_OF(X509) *seal_chain;
	char *incoming;               /* DIR/tenders/incoming */
};

/* A bid being received. */
struct srv_stream {
	int fd;
	char *path;
	char tender[TENDER_ID_LEN + 1];
	uint64_t size;
	int failed;
};

int
srv_tender_init(struct srv *s)
{
	const struct gp_config *cfg = s->inst->cfg;
	struct srv_tender *g;
	STACK_OF(X509) *pool = NULL;
	uint8_t *buf = NULL;
	size_t len, i;
	BIO *bio = NULL;
	char *dir = NULL;
	int r;

	ENSURE((g = calloc(1, sizeof(*g))) != NULL, GP_ERR_NOMEM);
	s->tender = g;
	g->tc.cfg = cfg;
	g->tc.st = s->inst->st;
	g->tc.audit = s->inst->audit;
	g->tc.tok = s->inst->tok;
	g->tc.token_label = cfg->token_label;
	g->tc.tsa = s->tsa;
	g->tc.root = s->inst->cert[GP_KEY_ROOT];
	g->tc.ca = s->inst->cert[GP_KEY_CA];
	g->tc.ca_key = s->inst->key[GP_KEY_CA];
	ENSURE((dir = gp_path_join(cfg->dir, "tenders")) != NULL,
	    GP_ERR_NOMEM);
	GUARD(gp_mkdir(dir, 0700));
	ENSURE((g->incoming = gp_path_join(dir, "incoming")) != NULL,
	    GP_ERR_NOMEM);
	GUARD(gp_mkdir(g->incoming, 0700));
	/* The seal that signs receipts and records (tender.seal). */
	for (i = 0; i < cfg->seals_len; i++) {
		if (strcmp(cfg->seals[i].name, cfg->tender_seal) != 0)
			continue;
		r = tok_key_load(s->inst->tok, cfg->seals[i].key_uri,
		    &g->seal_key);
		if (r != 0) {
			r = gp_err_set(r, "tender.seal %s: %s", cfg->tender_seal,
			    gp_err_detail());
			goto out;
		}
		GUARD(gp_file_read(cfg->seals[i].cert, SRV_MAX_PEM, &buf,
		    &len));
		ENSURE((bio = BIO_new_mem_buf(buf, (int)len)) != NULL,
		    GP_ERR_NOMEM);
		ENSURE((g->seal_cert = PEM_read_bio_X509(bio, NULL, NULL,
		    NULL)) != NULL, gp_err_ssl(GP_ERR_CONFIG, "%s: no PEM "
		    "certificate", cfg->seals[i].cert));
		ENSURE((pool = sk_X509_new_null()) != NULL &&
		    sk_X509_push(pool, g->tc.ca) > 0 &&
		    sk_X509_push(pool, g->tc.root) > 0, GP_ERR_NOMEM);
		GUARD(sig_chain_build(g->seal_cert, pool, &g->seal_chain));
	}
	if (g->seal_key == NULL)
		gp_log(GP_LOG_WARN, "server: tender.seal \"%s\" is not among "
		    "the configured seals: bids cannot be received (no "
		    "receipt can be signed)", cfg->tender_seal);
	g->tc.seal_key = g->seal_key;
	g->tc.seal_cert = g->seal_cert;
	g->tc.seal_chain = g->seal_chain;
	r = 0;
out:
	sk_X509_free(pool);
	BIO_free(bio);
	free(buf);
	free(dir);
	return r;
}

void
srv_tender_free(struct srv *s)
{
	struct srv_tender *g = s->tender;

	if (g == NULL)
		return;
	EVP_PKEY_free(g->seal_key);
	X509_free(g->seal_cert);
	sk_X509_pop_free(g->seal_chain, X509_free);
	free(g->incoming);
	free(g);
	s->tender = NULL;
}

/* "/tenders/<id>" + |suffix| exactly: the id into |id|. */
static int
srv_tender_path(const char *url, const char *suffix, char *id)
{
	const char *p;

	if (strncmp(url, "/tenders/", 9) != 0)
		return 0;
	p = url + 9;
	if (strlen(p) < TENDER_ID_LEN)
		return 0;
	memcpy(id, p, TENDER_ID_LEN);
	id[TENDER_ID_LEN] = '\0';
	return tender_id_ok(id) && strcmp(p + TENDER_ID_LEN, suffix) == 0;
}

int
srv_tender_stream_begin(struct srv_req *rq, const char *url)
{
	struct srv_tender *g = rq->srv->tender;
	struct srv_stream *st = NULL;
	struct store_tender t;
	json_t *spec = NULL;
	char id[TENDER_ID_LEN + 1];
	uint8_t rnd[8];
	int r = 0;

	memset(&t, 0, sizeof(t));
	if (g == NULL || rq->listener != SRV_PUBLIC ||
	    strcmp(rq->method, "POST") != 0 ||
	    !srv_tender_path(url, "/bids", id))
		return 0;
	/* An unknown tender's body is not written anywhere: the handler
	 * answers 404 from the (capped) body in memory. */
	if (store_tender_get(g->tc.st, id, &t) != 0)
		goto out;
	spec = t.spec != NULL ? json_loads(t.spec, 0, NULL) : NULL;
	ENSURE((st = calloc(1, sizeof(*st))) != NULL && gp_random(rnd,
	    sizeof(rnd)) == 0, -1);
	st->fd = -1;
	memcpy(st->tender, id, sizeof(st->tender));
	ENSURE(asprintf(&st->path, "%s/%s-%02x%02x%02x%02x%02x%02x%02x%02x."
	    "p7m", g->incoming, id, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
	    rnd[5], rnd[6], rnd[7]) > 0, -1);
	st->fd = open(st->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ENSURE(st->fd >= 0, -1);
	rq->stream = st;
	rq->stream_cap = (size_t)json_integer_value(json_object_get(spec,
	    "max_bid_bytes"));
	if (rq->stream_cap == 0)
		rq->stream_cap = (size_t)rq->srv->inst->cfg->tender_max_bid_bytes;
	st = NULL; /* transferred */
	r = 1;
out:
	if (st != NULL) {
		gp_log(GP_LOG_ERROR, "request %s: cannot create a file for the "
		    "bid in %s: %s", rq->request_id, g->incoming,
		    strerror(errno));
		if (st->fd >= 0)
			close(st->fd);
		free(st->path);
		free(st);
	}
	json_decref(spec);
	store_tender_clear(&t);
	return r;
}

int
srv_tender_stream_write(struct srv_req *rq, const char *data, size_t len)
{
	struct srv_stream *st = rq->stream;
	ssize_t n;

	while (len > 0 && !st->failed) {
		n = write(st->fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			gp_log(GP_LOG_ERROR, "request %s: writing the bid to %s: "
			    "%s", rq->request_id, st->path, strerror(errno));
			st->failed = 1;
			return GP_ERR_IO;
		}
		data += n;
		len -= (size_t)n;
		st->size += (uint64_t)n;
	}
	return st->failed ? GP_ERR_IO : 0;
}

void
srv_tender_stream_free(struct srv_req *rq)
{
	struct srv_stream *st = rq->stream;

	if (st == NULL)
		return;
	if (st->fd >= 0)
		close(st->fd);
	/* Gone already when the bid was accepted (moved) or refused. */
	if (st->path != NULL)
		(void)unlink(st->path);
	free(st->path);
	free(st);
	rq->stream = NULL;
}

int
srv_tender_too_large(struct srv_req *rq)
{
	struct srv_tender *g = rq->srv->tender;
	struct tender_refusal why;

	memset(&why, 0, sizeof(why));
	tender_refuse_size(&g->tc, rq->stream->tender, rq->received,
	    rq->stream_cap, rq->client, rq->request_id, &why);
	srv_tender_stream_free(rq);
	return srv_reply_json(rq, why.status, tender_refusal_json(&why));
}

static void
srv_tender_who(struct srv_req *rq, struct ca_actor *who)
{
	memset(who, 0, sizeof(*who));
	if (rq->who != NULL) {
		who->actor = rq->who->actor;
		who->role = rq->who->role;
		who->person = &rq->who->person;
	}
	who->request_id = rq->request_id;
	who->client = rq->client;
}

static int
srv_tender_refused(struct srv_req *rq, const struct tender_refusal *why)
{
	return srv_reply_json(rq, why->status, tender_refusal_json(why));
}

/* POST /tenders/<id>/bids */
static int
srv_tender_bid(struct srv_req *rq, const char *id)
{
	struct srv_tender *g = rq->srv->tender;
	struct srv_stream *st = rq->stream;
	struct tender_submission in;
	struct tender_receipt rc;
	struct tender_refusal why;
	int r;

	memset(&rc, 0, sizeof(rc));
	memset(&why, 0, sizeof(why));
	memset(&in, 0, sizeof(in));
	in.tender_id = id;
	in.client = rq->client;
	in.request_id = rq->request_id;
	if (st == NULL) {
		/* Not streamed: the tender is unknown (or the file could
		 * not be made). tender_submit() says which, and audits. */
		r = tender_submit(&g->tc, &in, &rc, &why);
		tender_receipt_clear(&rc);
		return srv_tender_refused(rq, &why);
	}
	/* RFC 5652 has no framing of its own: the bid is what arrived. It
	 * must be on disk before it is stamped and answered. */
	if (st->failed || fsync(st->fd) != 0) {
		r = gp_err_set(GP_ERR_IO, "the bid could not be stored; send it "
		    "again");
		goto out;
	}
	close(st->fd);
	st->fd = -1;
	in.path = st->path;
	in.size = st->size;
	r = tender_submit(&g->tc, &in, &rc, &why);
	if (r != 0) {
		r = srv_tender_refused(rq, &why);
		goto out;
	}
	GUARD(srv_reply_bytes(rq, 201, "application/pkcs7-mime; "
	    "smime-type=signed-data", rc.der, rc.der_len));
	MHD_add_response_header(rq->resp, "X-Bid-Id", rc.bid_id);
	if (rc.supersedes[0] != '\0')
		MHD_add_response_header(rq->resp, "X-Supersedes",
		    rc.supersedes);
	r = 0;
out:
	tender_receipt_clear(&rc);
	return r;
}

/* GET /tenders/<id>[/record] */
int
srv_h_tender_get(struct srv_req *rq, const char *url)
{
	struct srv_tender *g = rq->srv->tender;
	char id[TENDER_ID_LEN + 1];
	uint8_t *der = NULL;
	size_t len = 0;
	json_t *o = NULL;
	int r;

	ENSURE(g != NULL, gp_err_set(GP_ERR_UNSUPPORTED, "tendering is not "
	    "started"));
	if (srv_tender_path(url, "", id)) {
		GUARD(tender_json(&g->tc, id, &o));
		r = srv_reply_json(rq, 200, o);
		o = NULL; /* transferred */
		goto out;
	}
	if (srv_tender_path(url, "/record", id)) {
		GUARD(tender_record_get(&g->tc, id, &der, &len));
		r = srv_reply_bytes(rq, 200, "application/pkcs7-mime; "
		    "smime-type=signed-data", der, len);
		goto out;
	}
	r = gp_err_set(GP_ERR_NOT_FOUND, "no such path");
out:
	json_decref(o);
	free(der);
	return r;
}

/* POST /tenders/<id>/bids, POST /tenders/<id>/record */
int
srv_h_tender_post(struct srv_req *rq, const char *url)
{
	struct srv_tender *g = rq->srv->tender;
	struct tender_refusal why;
	char id[TENDER_ID_LEN + 1];
	int r;

	ENSURE(g != NULL, gp_err_set(GP_ERR_UNSUPPORTED, "tendering is not "
	    "started"));
	if (srv_tender_path(url, "/bids", id))
		return srv_tender_bid(rq, id);
	if (srv_tender_path(url, "/record", id)) {
		r = tender_record_confirm(&g->tc, id, rq->body, rq->body_len,
		    rq->client, rq->request_id, &why);
		if (r != 0)
			return srv_tender_refused(rq, &why);
		return srv_reply_json(rq, 201, json_pack("{s:s, s:s}",
		    "tender", id, "status", "confirmation recorded"));
	}
	/* /tenders/<id>/bids/<bid>/release (bidder mode) */
	if (strncmp(url, "/tenders/", 9) == 0 && strlen(url) == 9 +
	    TENDER_ID_LEN + 6 + TENDER_ID_LEN + 8 && strncmp(url + 9 +
	    TENDER_ID_LEN, "/bids/", 6) == 0 && strcmp(url + 9 + 2 *
	    TENDER_ID_LEN + 6, "/release") == 0) {
		char bid[TENDER_ID_LEN + 1];
		json_t *o = NULL;

		memcpy(id, url + 9, TENDER_ID_LEN);
		id[TENDER_ID_LEN] = '\0';
		memcpy(bid, url + 9 + TENDER_ID_LEN + 6, TENDER_ID_LEN);
		bid[TENDER_ID_LEN] = '\0';
		r = tender_release(&g->tc, id, bid, rq->body, rq->body_len,
		    rq->client, rq->request_id, &o, &why);
		if (r != 0)
			return srv_tender_refused(rq, &why);
		return srv_reply_json(rq, 200, o);
	}
	r = gp_err_set(GP_ERR_NOT_FOUND, "no such path");
out:
	return r;
}

/* DELETE /tenders/<id>/bids/<bid> */
int
srv_h_tender_delete(struct srv_req *rq, const char *url)
{
	struct srv_tender *g = rq->srv->tender;
	struct tender_refusal why;
	char id[TENDER_ID_LEN + 1], bid[TENDER_ID_LEN + 1];
	uint8_t *der = NULL;
	size_t len = 0;
	const char *p;
	int r;

	ENSURE(g != NULL, gp_err_set(GP_ERR_UNSUPPORTED, "tendering is not "
	    "started"));
	ENSURE(strncmp(url, "/tenders/", 9) == 0 && strlen(url) ==
	    9 + TENDER_ID_LEN + 6 + TENDER_ID_LEN && strncmp(url + 9 +
	    TENDER_ID_LEN, "/bids/", 6) == 0, gp_err_set(GP_ERR_NOT_FOUND,
	    "no such path"));
	memcpy(id, url + 9, TENDER_ID_LEN);
	id[TENDER_ID_LEN] = '\0';
	p = url + 9 + TENDER_ID_LEN + 6;
	memcpy(bid, p, TENDER_ID_LEN);
	bid[TENDER_ID_LEN] = '\0';
	r = tender_withdraw(&g->tc, id, bid, rq->body, rq->body_len,
	    rq->client, rq->request_id, &der, &len, &why);
	if (r != 0) {
		r = srv_tender_refused(rq, &why);
		goto out;
	}
	r = srv_reply_bytes(rq, 200, "application/pkcs7-mime; "
	    "smime-type=signed-data", der, len);
out:
	OPENSSL_free(der);
	return r;
}

/* ------------------------------------------------------------------ */
/* Admin: agents. */

static int
srv_tender_body(struct srv_req *rq, json_t **out)
{
	json_error_t jerr;

	*out = NULL;
	if (rq->body == NULL || rq->body_len == 0)
		return gp_err_set(GP_ERR_INVALID, "body: a JSON object is "
		    "required");
	*out = json_loadb((const char *)rq->body, rq->body_len,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (*out == NULL || !json_is_object(*out))
		return gp_err_set(GP_ERR_INVALID, "body: not a JSON object "
		    "(line %d: %s)", jerr.line, jerr.text);
	return 0;
}

/* POST /api/v1/tenders */
int
srv_h_tender_create(struct srv_req *rq, const char *url)
{
	struct srv_tender *g = rq->srv->tender;
	struct ca_actor who;
	json_t *req = NULL, *o = NULL;
	int r;

	ENSURE(g != NULL, gp_err_set(GP_ERR_UNSUPPORTED, "tendering is not "
	    "started"));
	GUARD(srv_tender_body(rq, &req));
	srv_tender_who(rq, &who);
	GUARD(tender_create(&g->tc, &who, req, &o));
	r = srv_reply_json(rq, 201, o);
	o = NULL; /* transferred */
out:
	json_decref(req);
	json_decref(o);
	return r;
}

static int
srv_tender_after_check(const char *field, const char *value)
{
	if (!tender_id_ok(value))
		return gp_err_set(GP_ERR_INVALID, "%s: a tender id (32 hex "
		    "digits)", field);
	return 0;
}

static const struct srv_qparam srv_tender_query[] = {
	{"after", SRV_Q_TEXT, TENDER_ID_LEN, 0, 0, NULL,
	    srv_tender_after_check},
	{"limit", SRV_Q_INT, 0, 1, STORE_FIND_MAX, NULL, NULL},
};

/* GET /api/v1/tenders?after=&limit= */
int
srv_h_tender_list(struct srv_req *rq, const char *url)
{
	struct srv_tender *g = rq->srv->tender;
	struct srv_qvalue v[2];
	json_t *o = NULL;
	int r;

	ENSURE(g != NULL, gp_err_set(GP_ERR_UNSUPPORTED, "tendering is not "
	    "started"));
	GUARD(srv_query_parse(rq, srv_tender_query, 2, v));
	GUARD(tender_list(&g->tc, v[0].s, v[1].set ? v[1].i :
	    SRV_TENDER_LIST_DEFAULT, &o));
	r = srv_reply_json(rq, 200, o);
	o = NULL; /* transferred */
out:
	json_decref(o);
	return r;
}

/* GET /api/v1/tenders/<id> */
int
srv_h_tender_show(struct srv_req *rq, const char *url)
{
	struct srv_tender *g = rq->srv->tender;
	const char *id = url + strlen("/api/v1/tenders/");
	json_t *o = NULL;
	int r;

	ENSURE(g != NULL, gp_err_set(GP_ERR_UNSUPPORTED, "tendering is not "
	    "started"));
	GUARD(tender_show(&g->tc, id, &o));
	r = srv_reply_json(rq, 200, o);
	o = NULL; /* transferred */
out:
	json_decref(o);
	return r;
}

/* POST /api/v1/tenders/<id>/open, /api/v1/tenders/<id>/approve-open */
int
srv_h_tender_action(struct srv_req *rq, const char *url)
{
	struct srv_tender *g = rq->srv->tender;
	const char *p = url + strlen("/api/v1/tenders/");
	struct ca_actor who;
	char id[TENDER_ID_LEN + 1];
	json_t *o = NULL;
	int r;

	ENSURE(g != NULL, gp_err_set(GP_ERR_UNSUPPORTED, "tendering is not "
	    "started"));
	ENSURE(strlen(p) > TENDER_ID_LEN && p[TENDER_ID_LEN] == '/',
	    gp_err_set(GP_ERR_NOT_FOUND, "no such path"));
	memcpy(id, p, TENDER_ID_LEN);
	id[TENDER_ID_LEN] = '\0';
	srv_tender_who(rq, &who);
	if (strcmp(p + TENDER_ID_LEN, "/open") == 0)
		GUARD(tender_open_request(&g->tc, &who, id, &o));
	else if (strcmp(p + TENDER_ID_LEN, "/approve-open") == 0)
		GUARD(tender_open_approve(&g->tc, &who, id, &o));
	else if (strcmp(p + TENDER_ID_LEN, "/close") == 0)
		GUARD(tender_close(&g->tc, &who, id, &o));
	else
		ENSURE(0, gp_err_set(GP_ERR_NOT_FOUND, "no such path"));
	r = srv_reply_json(rq, 200, o);
	o = NULL; /* transferred */
out:
	json_decref(o);
	return r;
}
