/*
 * store_cert_history.c: the status history of the certificates this
 * instance issued. A status change (hold, release, revocation) updates
 * the certificate row, which OCSP and CRLs read for the current state,
 * and appends an event to cert_status_history, which verification reads
 * to judge the status at a past time (ca_status_at()); both happen in one
 * call inside the caller's transaction, so they cannot disagree. The
 * table is append-only (schema step 7's triggers refuse UPDATE and
 * DELETE); like the audit log, whoever edits the file can drop the
 * triggers, and the audit records of every change are what show it.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/internal.h"

#define STORE_HISTORY_COLS                                               \
	"id, change, time, reason, invalidity_date, actor, created_ms"

static int
store_change_ok(const char *change)
{
	return change != NULL && (strcmp(change, STORE_CHANGE_HOLD) == 0 ||
	    strcmp(change, STORE_CHANGE_RELEASE) == 0 ||
	    strcmp(change, STORE_CHANGE_REVOKE) == 0);
}

int
store_cert_history_append(store *st, const char *serial, const char *change,
    int64_t time, int reason, int64_t invalidity_date, const char *actor)
{
	int r = GP_ERR_INTERNAL;
	store_stmt *s = NULL;

	GUARD(store_stmt_get(st, STORE_STMT_HISTORY_INSERT,
	    "INSERT INTO cert_status_history (serial, change, time, reason, "
	    "invalidity_date, actor, created_ms) VALUES "
	    "(?1, ?2, ?3, ?4, ?5, ?6, ?7)", &s));
	store_bind_text(s, 1, serial);
	store_bind_text(s, 2, change);
	store_bind_int64(s, 3, time);
	store_bind_int64(s, 4, reason);
	store_bind_int64(s, 5, invalidity_date);
	store_bind_text(s, 6, actor);
	store_bind_int64(s, 7, gp_now_ms());
	GUARD(store_run(s, "certificate status history"));
	r = 0;
out:
	store_stmt_done(s);
	return r;
}

/* The certificate row's new status for |c|, and the meta counter that
 * tells other processes a status changed. */
static int
store_cert_row_status(store *st, const struct store_status_change *c)
{
	int r = GP_ERR_INTERNAL, reason = -1;
	store_stmt *s = NULL;
	const char *status;
	int64_t at = 0, inv = 0;

	if (strcmp(c->change, STORE_CHANGE_HOLD) == 0) {
		status = "hold";
		at = c->time;
		reason = 6; /* RFC 5280 5.3.1 certificateHold */
	} else if (strcmp(c->change, STORE_CHANGE_RELEASE) == 0) {
		status = "good";
	} else {
		status = "revoked";
		at = c->time;
		reason = c->reason;
		inv = c->invalidity_date;
	}
	/* status_gen: the value the counter below takes in this
	 * transaction (delta CRLs list rows changed after their base). */
	GUARD(store_stmt_get(st, STORE_STMT_CERT_SET_STATUS,
	    "UPDATE certificates SET status = ?2, revoked_at = ?3, "
	    "reason = ?4, invalidity_date = ?5, status_gen = 1 + "
	    "COALESCE((SELECT CAST(value AS BIGINT) FROM meta WHERE key = '"
	    STORE_META_STATUS_GEN "'), 0) WHERE serial = ?1", &s));
	store_bind_text(s, 1, c->serial);
	store_bind_text(s, 2, status);
	store_bind_int64(s, 3, at);
	store_bind_int64(s, 4, reason);
	store_bind_int64(s, 5, inv);
	GUARD(store_run(s, "certificate status"));
	if (store_changes(s) == 0) {
		r = gp_err_set(GP_ERR_NOT_FOUND, "certificate serial %s was "
		    "not issued by this instance", c->serial);
		goto out;
	}
	store_stmt_done(s);
	s = NULL;
	/* Tells other processes (the server's CRL schedule) that a status
	 * changed, in the transaction that changed it. */
	GUARD(store_stmt_get(st, STORE_STMT_CERT_STATUS_GEN,
	    "INSERT INTO meta(key, value) VALUES ('" STORE_META_STATUS_GEN
	    "', '1') ON CONFLICT(key) DO UPDATE SET "
	    "value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT)", &s));
	GUARD(store_run(s, "certificate status generation"));
	r = 0;
out:
	store_stmt_done(s);
	return r;
}

int
store_cert_status_change(store *st, const struct store_status_change *c)
{
	int r = GP_ERR_INTERNAL;

	store_lock(st);
	GUARD(store_check_tx(st, "store_cert_status_change"));
	ENSURE(c != NULL && c->serial != NULL, gp_err_set(GP_ERR_INVALID,
	    "certificate status: serial: required"));
	ENSURE(store_change_ok(c->change), gp_err_set(GP_ERR_INVALID,
	    "certificate %s: change %s: want hold, release or revoke",
	    c->serial, c->change ? c->change : "(none)"));
	ENSURE(c->time > 0, gp_err_set(GP_ERR_INVALID, "certificate %s: "
	    "time: the time the %s takes effect is required", c->serial,
	    c->change));
	ENSURE(c->reason >= -1 && c->reason <= 10 && c->invalidity_date >= 0,
	    gp_err_set(GP_ERR_INVALID, "certificate %s: reason %d or "
	    "invalidity date out of range", c->serial, c->reason));
	/* The row first: it says GP_ERR_NOT_FOUND for a serial never
	 * issued, before the history's foreign key would. */
	GUARD(store_cert_row_status(st, c));
	GUARD(store_cert_history_append(st, c->serial, c->change, c->time,
	    strcmp(c->change, STORE_CHANGE_REVOKE) == 0 ? c->reason :
	    strcmp(c->change, STORE_CHANGE_HOLD) == 0 ? 6 : -1,
	    strcmp(c->change, STORE_CHANGE_REVOKE) == 0 ?
	    c->invalidity_date : 0, c->actor));
	r = 0;
out:
	store_unlock(st);
	return r;
}

int
store_cert_set_status(store *st, const char *serial, const char *status,
    int64_t revoked_at, int reason, int64_t invalidity_date)
{
	struct store_status_change c;

	memset(&c, 0, sizeof(c));
	c.serial = serial;
	c.reason = -1;
	if (status != NULL && strcmp(status, "hold") == 0) {
		c.change = STORE_CHANGE_HOLD;
		c.time = revoked_at;
	} else if (status != NULL && strcmp(status, "revoked") == 0) {
		c.change = STORE_CHANGE_REVOKE;
		c.time = revoked_at;
		c.reason = reason;
		c.invalidity_date = invalidity_date;
	} else if (status != NULL && strcmp(status, "good") == 0) {
		c.change = STORE_CHANGE_RELEASE;
		c.time = (int64_t)time(NULL);
	} else {
		return gp_err_set(GP_ERR_INVALID, "certificate status %s: want "
		    "good, hold or revoked", status ? status : "(none)");
	}
	return store_cert_status_change(st, &c);
}

/* Reads the event at the current step of |s| into |row| (a struct
 * store_status_event); GP_ERR_TAMPERED for a change the store never
 * writes (the CHECK constraint keeps it out unless the schema itself was
 * edited). */
static int
store_history_read(store_stmt *s, void *row)
{
	struct store_status_event *ev = row;
	const char *t;
	size_t n = 0;

	memset(ev, 0, sizeof(*ev));
	ev->id = store_col_int64(s, 0);
	t = store_col_str(s, 1, &n);
	if (t != NULL && n > 0 && n < sizeof(ev->change))
		memcpy(ev->change, t, n);
	if (!store_change_ok(ev->change))
		return gp_err_set(GP_ERR_TAMPERED, "certificate status "
		    "history event %lld: change \"%.16s\" is not one the store "
		    "writes", (long long)ev->id, t != NULL ? t : "");
	ev->time = store_col_int64(s, 2);
	ev->reason = store_col_int(s, 3);
	ev->invalidity_date = store_col_int64(s, 4);
	t = store_col_str(s, 5, &n);
	if (t != NULL && n > 0) {
		if (n >= sizeof(ev->actor))
			n = sizeof(ev->actor) - 1;
		memcpy(ev->actor, t, n);
	}
	ev->created_ms = store_col_int64(s, 6);
	return 0;
}

static void
store_history_clear(void *row)
{
	(void)row; /* fixed buffers only */
}

static int64_t
store_history_key(const void *row)
{
	return ((const struct store_status_event *)row)->id;
}

/* The caller's callback and its argument, for the pager. */
struct store_history_scan {
	store_status_event_fn fn;
	void *arg;
};

static int
store_history_row(void *arg, const void *row)
{
	const struct store_history_scan *hs = arg;

	return hs->fn(hs->arg, row);
}

int
store_cert_history_scan(store *st, const char *serial,
    store_status_event_fn fn, void *arg)
{
	struct store_history_scan hs = {fn, arg};
	struct store_pager pg = {
		STORE_STMT_HISTORY_PAGE,
		"SELECT " STORE_HISTORY_COLS " FROM cert_status_history "
		"WHERE serial = ?3 AND id > ?1 ORDER BY id LIMIT ?2",
		"certificate status history",
		sizeof(struct store_status_event), store_history_read,
		store_history_clear, store_history_key, store_history_row, &hs,
	};

	if (st == NULL || serial == NULL || fn == NULL)
		return gp_err_set(GP_ERR_INVALID, "certificate status history: "
		    "serial and callback required");
	/* Verification: read beside the writer, never behind it. */
	return store_scan_pages_text(store_read_conn(st), &pg, serial, 0, 0);
}
