/*
 * store_cert.c: the certificates this instance issued, keyed by serial, with
 * their revocation status. OCSP and CRL generation read it; issuance and
 * revocation write it inside the transaction that also appends their audit
 * record. The serial's PRIMARY KEY makes a duplicate serial a refused
 * insert (GP_ERR_EXISTS), never a second row.
 */
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

#define STORE_CERT_COLS                                                  \
	"serial, issuer, profile, subject, role, uscc, id_number, "      \
	"not_before, not_after, status, revoked_at, invalidity_date, "   \
	"reason, created_ms, der"

/* Certificates are a few kilobytes; anything bigger is a caller's bug. */
#define STORE_CERT_MAX_DER (256 * 1024)

void
store_cert_clear(struct store_cert *c)
{
	if (c == NULL)
		return;
	free(c->serial);
	free(c->issuer);
	free(c->profile);
	free(c->subject);
	free(c->role);
	free(c->uscc);
	free(c->id_number);
	free(c->status);
	free(c->der);
	memset(c, 0, sizeof(*c));
}

static int
store_cert_status_ok(const char *status)
{
	return status != NULL && (strcmp(status, "good") == 0 ||
	    strcmp(status, "hold") == 0 || strcmp(status, "revoked") == 0);
}

int
store_cert_insert(store *st, const struct store_cert *c)
{
	int r = GP_ERR_INTERNAL, held;
	store_stmt *s = NULL;

	store_lock(st);
	GUARD(store_check_tx(st, "store_cert_insert"));
	if (c->serial == NULL || c->issuer == NULL || c->profile == NULL ||
	    c->subject == NULL || c->der == NULL || c->der_len == 0 ||
	    c->der_len > STORE_CERT_MAX_DER || !store_cert_status_ok(c->status)) {
		r = gp_err_set(GP_ERR_INVALID, "certificate %s: serial, "
		    "issuer, profile, subject, status and DER are required",
		    c->serial ? c->serial : "(no serial)");
		goto out;
	}
	held = strcmp(c->status, "hold") == 0;
	ENSURE(strcmp(c->status, "good") == 0 || c->revoked_at > 0,
	    gp_err_set(GP_ERR_INVALID, "certificate %s: revoked_at: a held "
	    "or revoked certificate needs the time it was held or revoked",
	    c->serial));
	GUARD(store_stmt_get(st, STORE_STMT_CERT_INSERT,
	    "INSERT INTO certificates (" STORE_CERT_COLS ") VALUES "
	    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
	    "?15) ON CONFLICT DO NOTHING", &s));
	store_bind_text(s, 1, c->serial);
	store_bind_text(s, 2, c->issuer);
	store_bind_text(s, 3, c->profile);
	store_bind_text(s, 4, c->subject);
	store_bind_text(s, 5, c->role);
	store_bind_text(s, 6, c->uscc);
	store_bind_text(s, 7, c->id_number);
	store_bind_int64(s, 8, c->not_before);
	store_bind_int64(s, 9, c->not_after);
	store_bind_text(s, 10, c->status);
	store_bind_int64(s, 11, c->revoked_at);
	store_bind_int64(s, 12, c->invalidity_date);
	store_bind_int64(s, 13, c->reason);
	store_bind_int64(s, 14, c->created_ms);
	store_bind_blob(s, 15, c->der, c->der_len);
	r = store_insert(s, "certificate insert");
	if (r == GP_ERR_EXISTS) {
		/* The serial is the only unique key of the table. */
		r = gp_err_set(GP_ERR_EXISTS, "%s: certificate serial %s "
		    "exists already", st->path, c->serial);
		goto out;
	}
	GUARD(r);
	/* Inserted held or revoked: that is the first event of its
	 * history. */
	if (strcmp(c->status, "good") != 0)
		GUARD(store_cert_history_append(st, c->serial, held ?
		    STORE_CHANGE_HOLD : STORE_CHANGE_REVOKE, c->revoked_at,
		    c->reason, held ? 0 : c->invalidity_date, NULL));
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

/* With the store locked: prepares |sql| (one row by serial = ?1) and
 * steps to the row of |serial|. GP_ERR_NOT_FOUND when this instance never
 * issued it. The caller reads the row and calls store_stmt_done(). */
static int
store_cert_lookup(store *st, enum store_stmt_id id, const char *sql,
    const char *serial, const char *what, store_stmt **out)
{
	int r;

	*out = NULL;
	if (serial == NULL)
		return GP_ERR_INVALID;
	if ((r = store_stmt_get(st, id, sql, out)) != 0)
		return r;
	store_bind_text(*out, 1, serial);
	r = store_row(*out, what);
	if (r == GP_ERR_NOT_FOUND)
		return gp_err_set(GP_ERR_NOT_FOUND, "certificate serial %s was "
		    "not issued by this instance", serial);
	return r;
}

int
store_cert_get(store *st, const char *serial, struct store_cert *out)
{
	int r = GP_ERR_INTERNAL;
	store_stmt *s = NULL;

	memset(out, 0, sizeof(*out));
	st = store_read_conn(st); /* authentication: never behind the writer */
	store_lock(st);
	GUARD(store_cert_lookup(st, STORE_STMT_CERT_GET,
	    "SELECT " STORE_CERT_COLS " FROM certificates WHERE serial = ?1",
	    serial, "certificate get", &s));
	GUARD(store_col_text(s, 0, &out->serial));
	GUARD(store_col_text(s, 1, &out->issuer));
	GUARD(store_col_text(s, 2, &out->profile));
	GUARD(store_col_text(s, 3, &out->subject));
	GUARD(store_col_text(s, 4, &out->role));
	GUARD(store_col_text(s, 5, &out->uscc));
	GUARD(store_col_text(s, 6, &out->id_number));
	out->not_before = store_col_int64(s, 7);
	out->not_after = store_col_int64(s, 8);
	GUARD(store_col_text(s, 9, &out->status));
	out->revoked_at = store_col_int64(s, 10);
	out->invalidity_date = store_col_int64(s, 11);
	out->reason = store_col_int(s, 12);
	out->created_ms = store_col_int64(s, 13);
	GUARD(store_col_blob_copy(s, 14, &out->der, &out->der_len));
	r = 0;
out:
	if (r != 0)
		store_cert_clear(out);
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

#define STORE_CERT_STATE_COLS                                          \
	"serial, issuer, status, revoked_at, invalidity_date, not_after, " \
	"reason"

/* Copies text column |col| into |buf|; GP_ERR_STORE when it does not fit
 * (the store never writes such a value; an edited file might). */
static int
store_cert_col_buf(store *st, store_stmt *s, int col, char *buf,
    size_t len)
{
	size_t n = 0;
	const char *t = store_col_str(s, col, &n);

	if (t == NULL || n >= len)
		return gp_err_set(GP_ERR_STORE, "%s: certificate column %d: "
		    "missing or longer than %zu bytes", st->path, col,
		    len - 1);
	memcpy(buf, t, n);
	buf[n] = '\0';
	return 0;
}

static int
store_cert_state_read(store *st, store_stmt *s,
    struct store_cert_state *out)
{
	int r;

	memset(out, 0, sizeof(*out));
	GUARD(store_cert_col_buf(st, s, 0, out->serial, sizeof(out->serial)));
	GUARD(store_cert_col_buf(st, s, 1, out->issuer, sizeof(out->issuer)));
	GUARD(store_cert_col_buf(st, s, 2, out->status, sizeof(out->status)));
	out->revoked_at = store_col_int64(s, 3);
	out->invalidity_date = store_col_int64(s, 4);
	out->not_after = store_col_int64(s, 5);
	out->reason = store_col_int(s, 6);
	r = 0;
out:
	return r;
}

int
store_cert_state_get(store *st, const char *serial,
    struct store_cert_state *out)
{
	int r = GP_ERR_INTERNAL;
	store_stmt *s = NULL;

	memset(out, 0, sizeof(*out));
	st = store_read_conn(st); /* OCSP: never behind the writer */
	store_lock(st);
	GUARD(store_cert_lookup(st, STORE_STMT_CERT_STATE,
	    "SELECT " STORE_CERT_STATE_COLS " FROM certificates "
	    "WHERE serial = ?1", serial, "certificate state", &s));
	GUARD(store_cert_state_read(st, s, out));
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

/* One page of the revoked and held certificates of |issuer| after
 * |after|; with |since| >= 0, of every certificate whose status changed
 * at a generation above |since| instead. */
static int
store_cert_revoked_page(store *st, const char *issuer, int64_t since,
    const char *after, struct store_cert_state *rows, size_t *out_n)
{
	int r = GP_ERR_INTERNAL, row = 0;
	store_stmt *s = NULL;
	size_t n = 0;

	*out_n = 0;
	store_lock(st);
	/* "status || ''" (an expression, not the column) keeps the planner
	 * off the status index: walking the primary key from |after| keeps
	 * each page O(page), so the whole scan is linear in the table, not
	 * quadratic in the revoked rows. The changed rows are few: their
	 * partial index finds them. */
	if (since < 0)
		GUARD(store_stmt_get(st, STORE_STMT_CERT_REVOKED_PAGE,
		    "SELECT " STORE_CERT_STATE_COLS " FROM certificates "
		    "WHERE serial > ?1 AND issuer = ?2 "
		    "AND status || '' IN ('revoked', 'hold') ORDER BY serial "
		    "LIMIT ?3", &s));
	else
		GUARD(store_stmt_get(st, STORE_STMT_CERT_CHANGED_PAGE,
		    "SELECT " STORE_CERT_STATE_COLS " FROM certificates "
		    "WHERE serial > ?1 AND issuer = ?2 AND status_gen > ?4 "
		    "ORDER BY serial LIMIT ?3", &s));
	store_bind_text(s, 1, after);
	store_bind_text(s, 2, issuer);
	store_bind_int64(s, 3, STORE_PAGE_ROWS);
	if (since >= 0)
		store_bind_int64(s, 4, since);
	while (n < STORE_PAGE_ROWS) {
		GUARD(store_step(s, "revoked certificates", &row));
		if (!row)
			break;
		GUARD(store_cert_state_read(st, s, &rows[n]));
		n++;
	}
	r = 0;
out:
	*out_n = n;
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

static int
store_cert_scan(store *st, const char *issuer, int64_t since,
    store_cert_state_fn fn, void *arg)
{
	int r = GP_ERR_INTERNAL;
	struct store_cert_state *rows = NULL;
	char after[sizeof(rows->serial)] = "";
	size_t n = 0, i;

	ENSURE(fn != NULL && issuer != NULL, GP_ERR_INVALID);
	ENSURE((rows = calloc(STORE_PAGE_ROWS, sizeof(*rows))) != NULL,
	    GP_ERR_NOMEM);
	for (;;) {
		GUARD(store_cert_revoked_page(st, issuer, since, after, rows,
		    &n));
		for (i = 0; i < n; i++) {
			if ((r = fn(arg, &rows[i])) != 0)
				goto out;
		}
		if (n < STORE_PAGE_ROWS)
			break;
		memcpy(after, rows[n - 1].serial, sizeof(after));
	}
	r = 0;
out:
	free(rows);
	return r;
}

int
store_cert_scan_revoked(store *st, const char *issuer,
    store_cert_state_fn fn, void *arg)
{
	return store_cert_scan(st, issuer, -1, fn, arg);
}

int
store_cert_scan_changed(store *st, const char *issuer, int64_t since,
    store_cert_state_fn fn, void *arg)
{
	if (since < 0)
		return gp_err_set(GP_ERR_INVALID, "status generation %lld: "
		    "must not be negative", (long long)since);
	return store_cert_scan(st, issuer, since, fn, arg);
}
