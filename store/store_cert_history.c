/*
 * store_cert_history.c: the status history of the certificates this
 * instance issued. A status change (hold, release, revocation) updates
 * the certificate row, which OCSP and CRLs read for the current state,
 * and appends an event to cert_status_history, which verification reads
 * to judge the status at a past time (ca_status_at()); both happen in one
 * call inside the caller's transaction, so they cannot disagree. The
 * table is append-only (schema step 5's triggers refuse UPDATE and
 * DELETE); like the audit log, whoever edits the file can drop the
 * triggers, and the audit records of every change are what show it.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/internal.h"

/* Rows per page when reading a history; an event is ~200 bytes. */
#define STORE_HISTORY_PAGE 256

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
	int r = GP_ERR_INTERNAL, rc;
	sqlite3_stmt *s = NULL;

	GUARD(store_stmt(st, STORE_STMT_HISTORY_INSERT,
	    "INSERT INTO cert_status_history (serial, change, time, reason, "
	    "invalidity_date, actor, created_ms) VALUES "
	    "(?1, ?2, ?3, ?4, ?5, ?6, ?7)", &s));
	if ((rc = store_bind_text(s, 1, serial)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 2, change)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 3, time)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int(s, 4, reason)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 5, invalidity_date)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 6, actor)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 7, gp_now_ms())) != SQLITE_OK ||
	    (rc = sqlite3_step(s)) != SQLITE_DONE) {
		r = store_err(st, rc, "certificate status history");
		goto out;
	}
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
	int r = GP_ERR_INTERNAL, rc, reason = -1;
	sqlite3_stmt *s = NULL;
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
	GUARD(store_stmt(st, STORE_STMT_CERT_SET_STATUS,
	    "UPDATE certificates SET status = ?2, revoked_at = ?3, "
	    "reason = ?4, invalidity_date = ?5, status_gen = 1 + "
	    "COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = '"
	    STORE_META_STATUS_GEN "'), 0) WHERE serial = ?1", &s));
	if ((rc = store_bind_text(s, 1, c->serial)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 2, status)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 3, at)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int(s, 4, reason)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 5, inv)) != SQLITE_OK ||
	    (rc = sqlite3_step(s)) != SQLITE_DONE) {
		r = store_err(st, rc, "certificate status");
		goto out;
	}
	if (sqlite3_changes(st->db) == 0) {
		r = gp_err_set(GP_ERR_NOT_FOUND, "certificate serial %s was "
		    "not issued by this instance", c->serial);
		goto out;
	}
	store_stmt_done(s);
	s = NULL;
	/* Tells other processes (the server's CRL schedule) that a status
	 * changed, in the transaction that changed it. */
	GUARD(store_stmt(st, STORE_STMT_CERT_STATUS_GEN,
	    "INSERT INTO meta(key, value) VALUES ('" STORE_META_STATUS_GEN
	    "', '1') ON CONFLICT(key) DO UPDATE SET "
	    "value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)", &s));
	if ((rc = sqlite3_step(s)) != SQLITE_DONE) {
		r = store_err(st, rc, "certificate status generation");
		goto out;
	}
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

/* Reads the event at the current step of |s| into |ev|. */
static int
store_history_read(store *st, sqlite3_stmt *s, struct store_status_event *ev)
{
	const unsigned char *t;
	int n;

	memset(ev, 0, sizeof(*ev));
	ev->id = sqlite3_column_int64(s, 0);
	t = sqlite3_column_text(s, 1);
	n = sqlite3_column_bytes(s, 1);
	if (t == NULL || n <= 0 || (size_t)n >= sizeof(ev->change))
		return gp_err_set(GP_ERR_TAMPERED, "%s: certificate status "
		    "history event %lld: bad change", st->path,
		    (long long)ev->id);
	memcpy(ev->change, t, (size_t)n);
	if (!store_change_ok(ev->change))
		return gp_err_set(GP_ERR_TAMPERED, "%s: certificate status "
		    "history event %lld: change \"%s\" is not one the store "
		    "writes", st->path, (long long)ev->id, ev->change);
	ev->time = sqlite3_column_int64(s, 2);
	ev->reason = sqlite3_column_int(s, 3);
	ev->invalidity_date = sqlite3_column_int64(s, 4);
	t = sqlite3_column_text(s, 5);
	n = sqlite3_column_bytes(s, 5);
	if (t != NULL && n > 0) {
		if ((size_t)n >= sizeof(ev->actor))
			n = (int)sizeof(ev->actor) - 1;
		memcpy(ev->actor, t, (size_t)n);
	}
	ev->created_ms = sqlite3_column_int64(s, 6);
	return 0;
}

/* One page of |serial|'s events after |after| (an id). */
static int
store_history_page(store *st, const char *serial, int64_t after,
    struct store_status_event *rows, size_t *out_n)
{
	int r = GP_ERR_INTERNAL, rc;
	sqlite3_stmt *s = NULL;
	size_t n = 0;

	*out_n = 0;
	store_lock(st);
	GUARD(store_stmt(st, STORE_STMT_HISTORY_PAGE,
	    "SELECT " STORE_HISTORY_COLS " FROM cert_status_history "
	    "WHERE serial = ?1 AND id > ?2 ORDER BY id LIMIT ?3", &s));
	if ((rc = store_bind_text(s, 1, serial)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, after)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int(s, 3, STORE_HISTORY_PAGE)) != SQLITE_OK) {
		r = store_err(st, rc, "certificate status history");
		goto out;
	}
	while (n < STORE_HISTORY_PAGE && (rc = sqlite3_step(s)) ==
	    SQLITE_ROW) {
		GUARD(store_history_read(st, s, &rows[n]));
		n++;
	}
	if (n < STORE_HISTORY_PAGE && rc != SQLITE_DONE) {
		r = store_err(st, rc, "certificate status history");
		goto out;
	}
	r = 0;
out:
	*out_n = n;
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_cert_history_scan(store *st, const char *serial,
    store_status_event_fn fn, void *arg)
{
	struct store_status_event *rows = NULL;
	int64_t after = 0;
	size_t n = 0, i;
	int r = GP_ERR_INTERNAL;

	ENSURE(st != NULL && serial != NULL && fn != NULL,
	    gp_err_set(GP_ERR_INVALID, "certificate status history: serial "
	    "and callback required"));
	ENSURE((rows = calloc(STORE_HISTORY_PAGE, sizeof(*rows))) != NULL,
	    GP_ERR_NOMEM);
	/* Verification: read beside the writer, never behind it. */
	st = store_read_conn(st);
	for (;;) {
		GUARD(store_history_page(st, serial, after, rows, &n));
		for (i = 0; i < n; i++) {
			if ((r = fn(arg, &rows[i])) != 0)
				goto out;
		}
		if (n < STORE_HISTORY_PAGE)
			break;
		after = rows[n - 1].id;
	}
	r = 0;
out:
	free(rows);
	return r;
}
