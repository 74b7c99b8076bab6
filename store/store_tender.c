/*
 * store_tender.c: the tables of sealed-bid tendering (schema step 9) for
 * tender/: tenders, their events, bids, the events of bids and the
 * versions of the opening record. Every table is append-only (the
 * schema's triggers refuse UPDATE and DELETE): a tender's state is read
 * from its events, a bid's from its events, so an earlier state is never
 * lost. Tendering is rare next to OCSP or time-stamps, so statements are
 * prepared per call except the paged scans, which the pager caches.
 */
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

/* ---------------------------------------------------------------- */
/* Tenders. */

#define STORE_TENDER_COLS                                                \
	"id, title, mode, deadline_ms, opening_ms, window_s, spec, "     \
	"opening_serial, opening_key, created_ms, created_by, creator"

void
store_tender_clear(struct store_tender *t)
{
	if (t == NULL)
		return;
	free(t->id);
	free(t->title);
	free(t->mode);
	free(t->spec);
	free(t->opening_serial);
	free(t->opening_key);
	free(t->created_by);
	free(t->creator);
	memset(t, 0, sizeof(*t));
}

void
store_tender_list_free(struct store_tender *list, size_t len)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < len; i++)
		store_tender_clear(&list[i]);
	free(list);
}

int
store_tender_insert(store *st, const struct store_tender *t)
{
	if (t == NULL || t->id == NULL || t->title == NULL || t->mode == NULL ||
	    t->spec == NULL || t->created_by == NULL || t->creator == NULL)
		return gp_err_set(GP_ERR_INVALID, "tender: id, title, mode, "
		    "spec, creator required");
	return store_insertf(st, "tender insert", "INSERT INTO tenders ("
	    STORE_TENDER_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
	    "?10, ?11, ?12) ON CONFLICT DO NOTHING", "tttiiitttitt", t->id,
	    t->title, t->mode,
	    t->deadline_ms, t->opening_ms, t->window_s, t->spec,
	    t->opening_serial, t->opening_key, t->created_ms, t->created_by,
	    t->creator);
}

static int
store_tender_row(store_stmt *s, void *row)
{
	struct store_tender *t = row;
	int r;

	GUARD(store_col_text(s, 0, &t->id));
	GUARD(store_col_text(s, 1, &t->title));
	GUARD(store_col_text(s, 2, &t->mode));
	t->deadline_ms = store_col_int64(s, 3);
	t->opening_ms = store_col_int64(s, 4);
	t->window_s = store_col_int64(s, 5);
	GUARD(store_col_text(s, 6, &t->spec));
	GUARD(store_col_text(s, 7, &t->opening_serial));
	GUARD(store_col_text(s, 8, &t->opening_key));
	t->created_ms = store_col_int64(s, 9);
	GUARD(store_col_text(s, 10, &t->created_by));
	GUARD(store_col_text(s, 11, &t->creator));
	r = 0;
out:
	return r;
}

int
store_tender_get(store *st, const char *id, struct store_tender *out)
{
	store_stmt *s = NULL;
	int r = GP_ERR_INTERNAL;

	memset(out, 0, sizeof(*out));
	store_lock(st);
	ENSURE(id != NULL, GP_ERR_INVALID);
	GUARD(store_stmt_newf(st, "tender get", &s, "SELECT "
	    STORE_TENDER_COLS " FROM tenders WHERE id = ?1", "t", id));
	r = store_row(s, "tender get");
	ENSURE(r != GP_ERR_NOT_FOUND, gp_err_set(GP_ERR_NOT_FOUND, "tender "
	    "%.64s: no such tender", id));
	GUARD(r);
	GUARD(store_tender_row(s, out));
	r = 0;
out:
	if (r != 0)
		store_tender_clear(out);
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_tender_list(store *st, const char *after, int64_t limit,
    struct store_tender **out, size_t *out_len)
{
	store_stmt *s = NULL;
	struct store_tender *rows = NULL;
	size_t n = 0;
	int r = GP_ERR_INTERNAL;

	*out = NULL;
	*out_len = 0;
	ENSURE(limit >= 1 && limit <= STORE_FIND_MAX, gp_err_set(
	    GP_ERR_INVALID, "limit: 1 to %d", STORE_FIND_MAX));
	ENSURE((rows = calloc((size_t)limit, sizeof(*rows))) != NULL,
	    GP_ERR_NOMEM);
	store_lock(st);
	/* Keyset paging on (created_ms, id); the spec is left out. */
	r = store_stmt_newf(st, "tender list", &s, after == NULL ?
	    "SELECT id, title, mode, deadline_ms, opening_ms, window_s, '', "
	    "opening_serial, opening_key, created_ms, created_by, creator "
	    "FROM tenders ORDER BY created_ms, id LIMIT ?1" :
	    "SELECT t.id, t.title, t.mode, t.deadline_ms, t.opening_ms, "
	    "t.window_s, '', t.opening_serial, t.opening_key, t.created_ms, "
	    "t.created_by, t.creator FROM tenders t, tenders a WHERE a.id = "
	    "?2 AND (t.created_ms > a.created_ms OR (t.created_ms = "
	    "a.created_ms AND t.id > a.id)) ORDER BY t.created_ms, t.id "
	    "LIMIT ?1", after == NULL ? "i" : "it", limit, after);
	if (r == 0)
		r = store_rows_read(s, rows, sizeof(*rows), (size_t)limit,
		    store_tender_row, &n, "tender list");
	store_stmt_done(s);
	s = NULL;
	store_unlock(st);
	GUARD(r);
	*out = rows;
	rows = NULL; /* transferred */
	*out_len = n;
	r = 0;
out:
	store_tender_list_free(rows, rows != NULL ? (size_t)limit : 0);
	return r;
}

/* ---------------------------------------------------------------- */
/* Tender events. */

#define STORE_TEV_COLS                                                   \
	"id, tender_id, event, time_ms, actor, person, person_idn, "     \
	"details, created_ms"

void
store_tender_event_clear(struct store_tender_event *ev)
{
	if (ev == NULL)
		return;
	free(ev->tender_id);
	free(ev->event);
	free(ev->actor);
	free(ev->person);
	free(ev->person_idn);
	free(ev->details);
	memset(ev, 0, sizeof(*ev));
}

int
store_tender_event_add(store *st, const struct store_tender_event *ev)
{
	if (ev == NULL || ev->tender_id == NULL || ev->event == NULL)
		return gp_err_set(GP_ERR_INVALID, "tender event: tender and "
		    "event required");
	return store_insertf(st, "tender event", "INSERT INTO "
	    "tender_events (tender_id, event, time_ms, actor, person, "
	    "person_idn, details, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
	    "?7, ?8) ON CONFLICT DO NOTHING", "ttitttti", ev->tender_id,
	    ev->event, ev->time_ms,
	    ev->actor, ev->person, ev->person_idn, ev->details, gp_now_ms());
}

static int
store_tev_read(store_stmt *s, void *row)
{
	struct store_tender_event *ev = row;
	int r;

	ev->id = store_col_int64(s, 0);
	GUARD(store_col_text(s, 1, &ev->tender_id));
	GUARD(store_col_text(s, 2, &ev->event));
	ev->time_ms = store_col_int64(s, 3);
	GUARD(store_col_text(s, 4, &ev->actor));
	GUARD(store_col_text(s, 5, &ev->person));
	GUARD(store_col_text(s, 6, &ev->person_idn));
	GUARD(store_col_text(s, 7, &ev->details));
	ev->created_ms = store_col_int64(s, 8);
	r = 0;
out:
	return r;
}

static void
store_tev_clear(void *row)
{
	store_tender_event_clear(row);
}

static int64_t
store_tev_key(const void *row)
{
	return ((const struct store_tender_event *)row)->id;
}

/* A caller's callback for the pager, one kind per table. */
struct store_tnd_cb {
	store_tender_event_fn tev;
	store_bid_fn bid;
	store_bid_event_fn bev;
	void *arg;
};

static int
store_tnd_row(void *arg, const void *row)
{
	const struct store_tnd_cb *cb = arg;

	if (cb->tev != NULL)
		return cb->tev(cb->arg, row);
	if (cb->bid != NULL)
		return cb->bid(cb->arg, row);
	return cb->bev(cb->arg, row);
}

int
store_tender_event_scan(store *st, const char *tender_id,
    store_tender_event_fn fn, void *arg)
{
	struct store_tnd_cb cb = {fn, NULL, NULL, arg};
	struct store_pager pg = {
		STORE_STMT_TENDER_EVENT_PAGE,
		"SELECT " STORE_TEV_COLS " FROM tender_events WHERE "
		"tender_id = ?3 AND id > ?1 ORDER BY id LIMIT ?2",
		"tender events", sizeof(struct store_tender_event),
		store_tev_read, store_tev_clear, store_tev_key, store_tnd_row,
		&cb,
	};

	if (st == NULL || tender_id == NULL || fn == NULL)
		return gp_err_set(GP_ERR_INVALID, "tender events: tender and "
		    "callback required");
	return store_scan_pages_text(st, &pg, tender_id, 0, 0);
}

/* ---------------------------------------------------------------- */
/* Bids. */

#define STORE_BID_COLS                                                   \
	"seq, id, tender_id, uscc, bidder, subject, signer_serial, "     \
	"sha256, size, arrival_ms, signing_time, path, recipients, "     \
	"created_ms, tst, receipt"
/* The same without the blobs, for scans. */
#define STORE_BID_LIST_COLS                                              \
	"seq, id, tender_id, uscc, bidder, subject, signer_serial, "     \
	"sha256, size, arrival_ms, signing_time, path, recipients, "     \
	"created_ms, NULL, NULL"

void
store_bid_clear(struct store_bid *b)
{
	if (b == NULL)
		return;
	free(b->id);
	free(b->tender_id);
	free(b->uscc);
	free(b->bidder);
	free(b->subject);
	free(b->signer_serial);
	free(b->sha256);
	free(b->path);
	free(b->recipients);
	free(b->tst);
	free(b->receipt);
	memset(b, 0, sizeof(*b));
}

int
store_bid_insert(store *st, const struct store_bid *b)
{
	if (b == NULL || b->id == NULL || b->tender_id == NULL ||
	    b->uscc == NULL || b->bidder == NULL || b->subject == NULL ||
	    b->signer_serial == NULL || b->sha256 == NULL || b->path == NULL ||
	    b->tst == NULL || b->receipt == NULL)
		return gp_err_set(GP_ERR_INVALID, "bid: every field but "
		    "recipients is required");
	return store_insertf(st, "bid insert", "INSERT INTO bids (id, "
	    "tender_id, uscc, bidder, subject, signer_serial, sha256, size, "
	    "arrival_ms, signing_time, path, recipients, created_ms, tst, "
	    "receipt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
	    "?12, ?13, ?14, ?15) ON CONFLICT DO NOTHING", "tttttttiiittibb",
	    b->id, b->tender_id,
	    b->uscc, b->bidder, b->subject, b->signer_serial, b->sha256,
	    b->size, b->arrival_ms, b->signing_time, b->path, b->recipients,
	    b->created_ms, b->tst, b->tst_len, b->receipt, b->receipt_len);
}

static int
store_bid_read(store_stmt *s, void *row)
{
	struct store_bid *b = row;
	int r;

	b->seq = store_col_int64(s, 0);
	GUARD(store_col_text(s, 1, &b->id));
	GUARD(store_col_text(s, 2, &b->tender_id));
	GUARD(store_col_text(s, 3, &b->uscc));
	GUARD(store_col_text(s, 4, &b->bidder));
	GUARD(store_col_text(s, 5, &b->subject));
	GUARD(store_col_text(s, 6, &b->signer_serial));
	GUARD(store_col_text(s, 7, &b->sha256));
	b->size = store_col_int64(s, 8);
	b->arrival_ms = store_col_int64(s, 9);
	b->signing_time = store_col_int64(s, 10);
	GUARD(store_col_text(s, 11, &b->path));
	GUARD(store_col_text(s, 12, &b->recipients));
	b->created_ms = store_col_int64(s, 13);
	GUARD(store_col_blob_copy(s, 14, &b->tst, &b->tst_len));
	GUARD(store_col_blob_copy(s, 15, &b->receipt, &b->receipt_len));
	r = 0;
out:
	return r;
}

/* One bid row for |sql| (one text parameter) into |out|. */
static int
store_bid_one(store *st, const char *sql, const char *fmt, const char *a,
    const char *b, struct store_bid *out, const char *what)
{
	store_stmt *s = NULL;
	int r = GP_ERR_INTERNAL;

	memset(out, 0, sizeof(*out));
	store_lock(st);
	GUARD(store_stmt_newf(st, what, &s, sql, fmt, a, b));
	r = store_row(s, what);
	ENSURE(r != GP_ERR_NOT_FOUND, gp_err_set(GP_ERR_NOT_FOUND, "%s: no "
	    "such bid", what));
	GUARD(r);
	GUARD(store_bid_read(s, out));
	r = 0;
out:
	if (r != 0)
		store_bid_clear(out);
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_bid_get(store *st, const char *id, struct store_bid *out)
{
	if (id == NULL)
		return gp_err_set(GP_ERR_INVALID, "bid: no id");
	return store_bid_one(st, "SELECT " STORE_BID_COLS " FROM bids WHERE "
	    "id = ?1", "t", id, NULL, out, "bid");
}

int
store_bid_current(store *st, const char *tender_id, const char *uscc,
    struct store_bid *out)
{
	if (tender_id == NULL || uscc == NULL)
		return gp_err_set(GP_ERR_INVALID, "bid: tender and uscc "
		    "required");
	return store_bid_one(st, "SELECT " STORE_BID_LIST_COLS " FROM bids b "
	    "WHERE tender_id = ?1 AND uscc = ?2 AND NOT EXISTS (SELECT 1 FROM "
	    "bid_events e WHERE e.bid_id = b.id AND e.event IN ('superseded', "
	    "'withdrawn')) ORDER BY seq DESC LIMIT 1", "tt", tender_id, uscc,
	    out, "current bid");
}

static void
store_bid_row_clear(void *row)
{
	store_bid_clear(row);
}

static int64_t
store_bid_key(const void *row)
{
	return ((const struct store_bid *)row)->seq;
}

int
store_bid_scan(store *st, const char *tender_id, store_bid_fn fn, void *arg)
{
	struct store_tnd_cb cb = {NULL, fn, NULL, arg};
	struct store_pager pg = {
		STORE_STMT_BID_PAGE,
		"SELECT " STORE_BID_LIST_COLS " FROM bids WHERE tender_id = ?3 "
		"AND seq > ?1 ORDER BY seq LIMIT ?2",
		"bids", sizeof(struct store_bid), store_bid_read,
		store_bid_row_clear, store_bid_key, store_tnd_row, &cb,
	};

	if (st == NULL || tender_id == NULL || fn == NULL)
		return gp_err_set(GP_ERR_INVALID, "bids: tender and callback "
		    "required");
	return store_scan_pages_text(st, &pg, tender_id, 0, 0);
}

/* ---------------------------------------------------------------- */
/* Bid events. */

#define STORE_BEV_COLS                                                   \
	"id, bid_id, tender_id, event, time_ms, by_bid, outcome, reason, " \
	"details, created_ms, data"

void
store_bid_event_clear(struct store_bid_event *ev)
{
	if (ev == NULL)
		return;
	free(ev->bid_id);
	free(ev->tender_id);
	free(ev->event);
	free(ev->by_bid);
	free(ev->outcome);
	free(ev->reason);
	free(ev->details);
	free(ev->data);
	memset(ev, 0, sizeof(*ev));
}

int
store_bid_event_add(store *st, const struct store_bid_event *ev)
{
	if (ev == NULL || ev->bid_id == NULL || ev->tender_id == NULL ||
	    ev->event == NULL)
		return gp_err_set(GP_ERR_INVALID, "bid event: bid, tender and "
		    "event required");
	return store_insertf(st, "bid event", "INSERT INTO bid_events "
	    "(bid_id, tender_id, event, time_ms, by_bid, outcome, reason, "
	    "details, created_ms, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
	    "?8, ?9, ?10) ON CONFLICT DO NOTHING", "tttittttib", ev->bid_id,
	    ev->tender_id,
	    ev->event, ev->time_ms, ev->by_bid, ev->outcome, ev->reason,
	    ev->details, gp_now_ms(), ev->data, ev->data_len);
}

static int
store_bev_read(store_stmt *s, void *row)
{
	struct store_bid_event *ev = row;
	int r;

	ev->id = store_col_int64(s, 0);
	GUARD(store_col_text(s, 1, &ev->bid_id));
	GUARD(store_col_text(s, 2, &ev->tender_id));
	GUARD(store_col_text(s, 3, &ev->event));
	ev->time_ms = store_col_int64(s, 4);
	GUARD(store_col_text(s, 5, &ev->by_bid));
	GUARD(store_col_text(s, 6, &ev->outcome));
	GUARD(store_col_text(s, 7, &ev->reason));
	GUARD(store_col_text(s, 8, &ev->details));
	ev->created_ms = store_col_int64(s, 9);
	GUARD(store_col_blob_copy(s, 10, &ev->data, &ev->data_len));
	r = 0;
out:
	return r;
}

static void
store_bev_clear(void *row)
{
	store_bid_event_clear(row);
}

static int64_t
store_bev_key(const void *row)
{
	return ((const struct store_bid_event *)row)->id;
}

int
store_bid_event_scan(store *st, const char *tender_id, store_bid_event_fn fn,
    void *arg)
{
	struct store_tnd_cb cb = {NULL, NULL, fn, arg};
	struct store_pager pg = {
		STORE_STMT_BID_EVENT_PAGE,
		"SELECT " STORE_BEV_COLS " FROM bid_events WHERE tender_id = ?3 "
		"AND id > ?1 ORDER BY id LIMIT ?2",
		"bid events", sizeof(struct store_bid_event), store_bev_read,
		store_bev_clear, store_bev_key, store_tnd_row, &cb,
	};

	if (st == NULL || tender_id == NULL || fn == NULL)
		return gp_err_set(GP_ERR_INVALID, "bid events: tender and "
		    "callback required");
	return store_scan_pages_text(st, &pg, tender_id, 0, 0);
}

/* ---------------------------------------------------------------- */
/* Opening records. */

void
store_tender_record_clear(struct store_tender_record *rec)
{
	if (rec == NULL)
		return;
	free(rec->tender_id);
	free(rec->der);
	free(rec->signer);
	free(rec->uscc);
	memset(rec, 0, sizeof(*rec));
}

int
store_tender_record_add(store *st, const struct store_tender_record *rec)
{
	if (rec == NULL || rec->tender_id == NULL || rec->der == NULL ||
	    rec->version < 1)
		return gp_err_set(GP_ERR_INVALID, "opening record: tender, "
		    "version and DER required");
	return store_insertf(st, "opening record", "INSERT INTO "
	    "tender_records (tender_id, version, der, signer, uscc, "
	    "created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
	    "tibtti",
	    rec->tender_id, rec->version, rec->der, rec->der_len, rec->signer,
	    rec->uscc, gp_now_ms());
}

int
store_tender_record_last(store *st, const char *tender_id,
    struct store_tender_record *out)
{
	store_stmt *s = NULL;
	int r = GP_ERR_INTERNAL;

	memset(out, 0, sizeof(*out));
	store_lock(st);
	ENSURE(tender_id != NULL, GP_ERR_INVALID);
	GUARD(store_stmt_newf(st, "opening record", &s, "SELECT tender_id, "
	    "version, der, signer, uscc, created_ms FROM tender_records WHERE "
	    "tender_id = ?1 ORDER BY version DESC LIMIT 1", "t", tender_id));
	r = store_row(s, "opening record");
	ENSURE(r != GP_ERR_NOT_FOUND, gp_err_set(GP_ERR_NOT_FOUND, "tender "
	    "%.64s: no opening record yet", tender_id));
	GUARD(r);
	GUARD(store_col_text(s, 0, &out->tender_id));
	out->version = store_col_int64(s, 1);
	GUARD(store_col_blob_copy(s, 2, &out->der, &out->der_len));
	GUARD(store_col_text(s, 3, &out->signer));
	GUARD(store_col_text(s, 4, &out->uscc));
	out->created_ms = store_col_int64(s, 5);
	r = 0;
out:
	if (r != 0)
		store_tender_record_clear(out);
	store_stmt_done(s);
	store_unlock(st);
	return r;
}
