/*
 * tnd_json.c: what the API and the CLI show of a tender: the public JSON
 * bidders seal to (the recipients as PEM, the times in RFC 3339), the
 * agent's view (events; who bid only once opened), the list, and the
 * bids with what happened to each (the opening record is built from the
 * same view).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "tender/internal.h"

/* Bids listed in one view, at most (a tender's record is one document). */
#define TND_MAX_BIDS 100000

static json_t *
tnd_time_json(int64_t ms)
{
	char t[40];

	tender_time_fmt(ms, t, sizeof(t));
	return json_string(t);
}

static int
tnd_pem(X509 *x, json_t *arr)
{
	BIO *b = BIO_new(BIO_s_mem());
	BUF_MEM *m = NULL;
	int r = GP_ERR_NOMEM;

	if (b != NULL && PEM_write_bio_X509(b, x) == 1) {
		BIO_get_mem_ptr(b, &m);
		if (m != NULL && json_array_append_new(arr,
		    json_stringn(m->data, m->length)) == 0)
			r = 0;
	}
	BIO_free(b);
	return r;
}

int
tender_json(const struct tender_ctx *tc, const char *id, json_t **out)
{
	struct store_tender t;
	struct store_cert c;
	struct tnd_events ev;
	json_t *o = NULL, *spec = NULL, *rc = NULL, *chain = NULL, *tr = NULL;
	const unsigned char *p;
	X509 *x = NULL;
	char *url = NULL;
	int r;

	*out = NULL;
	memset(&t, 0, sizeof(t));
	memset(&c, 0, sizeof(c));
	memset(&ev, 0, sizeof(ev));
	ENSURE(tender_id_ok(id), gp_err_set(GP_ERR_NOT_FOUND, "tender: no "
	    "such tender (ids are 32 hex digits)"));
	GUARD(store_tender_get(tc->st, id, &t));
	GUARD(tnd_events_load(tc, id, &ev));
	spec = tnd_spec(&t);
	ENSURE((rc = json_array()) != NULL && (chain = json_array()) != NULL,
	    GP_ERR_NOMEM);
	if (t.opening_serial != NULL) {
		GUARD(store_cert_get(tc->st, t.opening_serial, &c));
		p = c.der;
		ENSURE((x = d2i_X509(NULL, &p, (long)c.der_len)) != NULL,
		    gp_err_ssl(GP_ERR_STORE, "opening certificate %s",
		    t.opening_serial));
		GUARD(tnd_pem(x, rc));
	}
	if (tc->ca != NULL)
		GUARD(tnd_pem(tc->ca, chain));
	ENSURE(asprintf(&url, "%s/tenders/%s/bids", tc->cfg->public_url, id) >
	    0, GP_ERR_NOMEM);
	if (strcmp(t.mode, "bidder") == 0) {
		/* The transport key is not a recipient of bids. */
		tr = rc;
		ENSURE((rc = json_array()) != NULL, GP_ERR_NOMEM);
	}
	o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:O, s:O, s:O, s:I, s:s, "
	    "s:o, s:o, s:s}",
	    "id", t.id, "title", t.title, "mode", t.mode,
	    "deadline", tnd_time_json(t.deadline_ms),
	    "opening_time", tnd_time_json(t.opening_ms),
	    "fields", json_object_get(spec, "fields"),
	    "profiles", json_object_get(spec, "profiles"),
	    "max_bid_bytes", json_object_get(spec, "max_bid_bytes"),
	    "window_s", (json_int_t)t.window_s,
	    "state", tender_state_name(tender_state_of(ev.flags, gp_now_ms(),
	    t.deadline_ms)),
	    "recipients", rc, "chain", chain, "bids_url", url);
	rc = chain = NULL; /* transferred */
	ENSURE(o != NULL, GP_ERR_NOMEM);
	if (strcmp(t.mode, "bidder") == 0) {
		json_object_set_new(o, "recipient_profile",
		    json_string("enterprise-encryption"));
		json_object_set_new(o, "transport", tr);
		tr = NULL; /* transferred */
	}
	*out = o;
	r = 0;
out:
	X509_free(x);
	json_decref(rc);
	json_decref(tr);
	json_decref(chain);
	json_decref(spec);
	free(url);
	tnd_events_clear(&ev);
	store_cert_clear(&c);
	store_tender_clear(&t);
	return r;
}

/* The bids of a tender and what happened to each, for the view and the
 * record. */
struct tnd_view {
	json_t *arr;       /* entries in arrival order */
	json_t *by_id;     /* id -> entry (borrowed from arr) */
	size_t n;
};

static int
tnd_view_bid(void *arg, const struct store_bid *b)
{
	struct tnd_view *v = arg;
	json_t *e;

	if (v->n >= TND_MAX_BIDS)
		return gp_err_set(GP_ERR_TOO_LARGE, "more than %d bids",
		    TND_MAX_BIDS);
	e = json_pack("{s:s, s:{s:s, s:s, s:s, s:s}, s:o, s:s, s:I, s:s, "
	    "s:n, s:n}",
	    "bid", b->id,
	    "bidder", "name", b->bidder, "uscc", b->uscc, "subject",
	    b->subject, "serial", b->signer_serial,
	    "arrival", tnd_time_json(b->arrival_ms),
	    "sha256", b->sha256, "size", (json_int_t)b->size,
	    "status", "current", "outcome", "reason");
	if (e == NULL || json_object_set(v->by_id, b->id, e) != 0 ||
	    json_array_append_new(v->arr, e) != 0)
		return GP_ERR_NOMEM;
	v->n++;
	return 0;
}

static int
tnd_view_event(void *arg, const struct store_bid_event *ev)
{
	struct tnd_view *v = arg;
	json_t *e = json_object_get(v->by_id, ev->bid_id), *f;

	if (e == NULL)
		return 0;
	if (strcmp(ev->event, "superseded") == 0) {
		json_object_set_new(e, "status", json_string("superseded"));
		json_object_set_new(e, "superseded_by", json_string(
		    ev->by_bid != NULL ? ev->by_bid : ""));
	} else if (strcmp(ev->event, "withdrawn") == 0) {
		json_object_set_new(e, "status", json_string("withdrawn"));
		json_object_set_new(e, "withdrawn_at",
		    tnd_time_json(ev->time_ms));
	} else if (strcmp(ev->event, "released") == 0) {
		json_object_set_new(e, "key_released_at",
		    tnd_time_json(ev->time_ms));
	} else if (strcmp(ev->event, "outcome") == 0) {
		json_object_set_new(e, "outcome", json_string(ev->outcome ?
		    ev->outcome : ""));
		json_object_set_new(e, "reason", json_string(ev->reason ?
		    ev->reason : ""));
		f = ev->details != NULL ? json_loads(ev->details, 0, NULL) :
		    NULL;
		if (f != NULL)
			json_object_update(e, f);
		json_decref(f);
	}
	return 0;
}

int
tnd_bids_view(const struct tender_ctx *tc, const char *id, json_t **out)
{
	struct tnd_view v;
	int r;

	*out = NULL;
	v.arr = json_array();
	v.by_id = json_object();
	v.n = 0;
	ENSURE(v.arr != NULL && v.by_id != NULL, GP_ERR_NOMEM);
	GUARD(store_bid_scan(tc->st, id, tnd_view_bid, &v));
	GUARD(store_bid_event_scan(tc->st, id, tnd_view_event, &v));
	*out = v.arr;
	v.arr = NULL; /* transferred */
	r = 0;
out:
	json_decref(v.arr);
	json_decref(v.by_id);
	return r;
}

int
tender_show(const struct tender_ctx *tc, const char *id, json_t **out)
{
	struct tnd_events ev;
	json_t *o = NULL, *bids = NULL, *evs = NULL, *e;
	size_t i, current = 0;
	int r;

	*out = NULL;
	memset(&ev, 0, sizeof(ev));
	GUARD(tender_json(tc, id, &o));
	GUARD(tnd_events_load(tc, id, &ev));
	GUARD(tnd_bids_view(tc, id, &bids));
	json_array_foreach(bids, i, e) {
		if (strcmp(json_string_value(json_object_get(e, "status")),
		    "current") == 0)
			current++;
	}
	ENSURE((evs = json_array()) != NULL, GP_ERR_NOMEM);
	if (ev.flags & TENDER_EV_REQUEST)
		json_array_append_new(evs, json_pack("{s:s, s:o, s:s?}",
		    "event", "open_request", "time",
		    tnd_time_json(ev.request.time_ms), "by", ev.request.actor));
	if (ev.flags & TENDER_EV_APPROVE)
		json_array_append_new(evs, json_pack("{s:s, s:o, s:s?}",
		    "event", "open_approve", "time",
		    tnd_time_json(ev.approve.time_ms), "by", ev.approve.actor));
	if (ev.flags & TENDER_EV_WINDOW)
		json_array_append_new(evs, json_pack("{s:s, s:o}", "event",
		    "window_open", "time", tnd_time_json(ev.window.time_ms)));
	if (ev.flags & TENDER_EV_OPENED)
		json_array_append_new(evs, json_pack("{s:s, s:o}", "event",
		    "opened", "time", tnd_time_json(ev.opened.time_ms)));
	json_object_set_new(o, "events", evs);
	json_object_set_new(o, "bids_received", json_integer(
	    (json_int_t)json_array_size(bids)));
	json_object_set_new(o, "bidders", json_integer((json_int_t)current));
	/* Who bid stays sealed until the opening, like the bids. */
	if (ev.flags & TENDER_EV_OPENED) {
		json_object_set(o, "bids", bids);
	}
	*out = o;
	o = NULL; /* transferred */
	r = 0;
out:
	json_decref(o);
	json_decref(bids);
	tnd_events_clear(&ev);
	return r;
}

int
tender_list(const struct tender_ctx *tc, const char *after, int64_t limit,
    json_t **out)
{
	struct store_tender *list = NULL;
	size_t n = 0, i;
	json_t *arr = NULL;
	int r;

	*out = NULL;
	GUARD(store_tender_list(tc->st, after, limit, &list, &n));
	ENSURE((arr = json_array()) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < n; i++)
		ENSURE(json_array_append_new(arr, json_pack("{s:s, s:s, s:s, "
		    "s:o, s:o}", "id", list[i].id, "title", list[i].title,
		    "mode", list[i].mode, "deadline",
		    tnd_time_json(list[i].deadline_ms), "opening_time",
		    tnd_time_json(list[i].opening_ms))) == 0, GP_ERR_NOMEM);
	ENSURE((*out = json_pack("{s:O, s:s?}", "tenders", arr, "next_after",
	    n == (size_t)limit && n > 0 ? list[n - 1].id : NULL)) != NULL,
	    GP_ERR_NOMEM);
	r = 0;
out:
	json_decref(arr);
	store_tender_list_free(list, n);
	return r;
}
