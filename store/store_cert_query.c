/*
 * store_cert_query.c: searching the certificates this instance issued by
 * unified social credit code, resident ID number, status and profile, in
 * pages keyed by serial (so a page costs the same at any depth), and
 * counting them. The WHERE clause holds only the criteria given, so that
 * SQLite can use the index of the most selective one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

#define STORE_FIND_COLS                                                  \
	"serial, issuer, profile, subject, role, uscc, id_number, "      \
	"not_before, not_after, status, revoked_at, invalidity_date, "   \
	"reason, created_ms"

void
store_cert_list_free(struct store_cert *list, size_t len)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < len; i++)
		store_cert_clear(&list[i]);
	free(list);
}

static int
store_find_row(sqlite3_stmt *s, void *row)
{
	struct store_cert *c = row;
	int r;

	GUARD(store_col_text(s, 0, &c->serial));
	GUARD(store_col_text(s, 1, &c->issuer));
	GUARD(store_col_text(s, 2, &c->profile));
	GUARD(store_col_text(s, 3, &c->subject));
	GUARD(store_col_text(s, 4, &c->role));
	GUARD(store_col_text(s, 5, &c->uscc));
	GUARD(store_col_text(s, 6, &c->id_number));
	c->not_before = sqlite3_column_int64(s, 7);
	c->not_after = sqlite3_column_int64(s, 8);
	GUARD(store_col_text(s, 9, &c->status));
	c->revoked_at = sqlite3_column_int64(s, 10);
	c->invalidity_date = sqlite3_column_int64(s, 11);
	c->reason = sqlite3_column_int(s, 12);
	c->created_ms = sqlite3_column_int64(s, 13);
	r = 0;
out:
	return r;
}

int
store_cert_find(store *st, const struct store_cert_query *q,
    struct store_cert **out, size_t *out_len)
{
	const char *vals[5];
	static const char *const cols[5] = {"uscc", "id_number", "status",
	    "profile", NULL};
	char sql[768];
	size_t used, n = 0, i;
	struct store_cert *list = NULL;
	sqlite3_stmt *s = NULL;
	int r = GP_ERR_INTERNAL, rc, locked = 0;

	*out = NULL;
	*out_len = 0;
	ENSURE(q != NULL && q->limit >= 1 && q->limit <= STORE_FIND_MAX,
	    gp_err_set(GP_ERR_INVALID, "limit: must be 1 to %d",
	    STORE_FIND_MAX));
	vals[0] = q->uscc;
	vals[1] = q->id_number;
	vals[2] = q->status;
	vals[3] = q->profile;
	vals[4] = q->after;
	used = (size_t)snprintf(sql, sizeof(sql), "SELECT " STORE_FIND_COLS
	    " FROM certificates WHERE 1");
	for (i = 0; i < 5; i++) {
		if (vals[i] == NULL)
			continue;
		used += (size_t)snprintf(sql + used, sizeof(sql) - used,
		    " AND %s %s ?%zu", cols[i] ? cols[i] : "serial",
		    cols[i] ? "=" : ">", i + 1);
	}
	if (q->expires_before > 0)
		used += (size_t)snprintf(sql + used, sizeof(sql) - used,
		    " AND not_after > ?7 AND not_after <= ?8");
	snprintf(sql + used, sizeof(sql) - used, " ORDER BY serial LIMIT ?6");
	ENSURE((list = calloc((size_t)q->limit, sizeof(*list))) != NULL,
	    GP_ERR_NOMEM);
	store_lock(st);
	locked = 1;
	if ((rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL)) != SQLITE_OK) {
		r = store_err(st, rc, "certificate search");
		goto out;
	}
	for (i = 0; i < 5; i++) {
		if (vals[i] != NULL &&
		    (rc = store_bind_text(s, (int)i + 1, vals[i])) != SQLITE_OK) {
			r = store_err(st, rc, "certificate search");
			goto out;
		}
	}
	if ((rc = sqlite3_bind_int64(s, 6, q->limit)) != SQLITE_OK ||
	    (q->expires_before > 0 && ((rc = sqlite3_bind_int64(s, 7,
	    q->expires_after)) != SQLITE_OK || (rc = sqlite3_bind_int64(s, 8,
	    q->expires_before)) != SQLITE_OK))) {
		r = store_err(st, rc, "certificate search");
		goto out;
	}
	GUARD(store_rows_read(st, s, list, sizeof(*list), (size_t)q->limit,
	    store_find_row, &n, "certificate search"));
	*out = list;
	*out_len = n;
	list = NULL; /* transferred */
	r = 0;
out:
	sqlite3_finalize(s);
	if (locked)
		store_unlock(st);
	store_cert_list_free(list, (size_t)q->limit);
	return r;
}

int
store_cert_count(store *st, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int r = GP_ERR_INTERNAL, rc;

	*out = 0;
	store_lock(st);
	if ((rc = sqlite3_prepare_v2(st->db, "SELECT count(*) FROM "
	    "certificates", -1, &s, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_step(s)) != SQLITE_ROW) {
		r = store_err(st, rc, "certificate count");
		goto out;
	}
	*out = sqlite3_column_int64(s, 0);
	r = 0;
out:
	sqlite3_finalize(s);
	store_unlock(st);
	return r;
}

int
store_cert_count_expiring(store *st, int64_t from, int64_t to, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int r = GP_ERR_INTERNAL, rc;

	*out = 0;
	store_lock(st);
	if ((rc = sqlite3_prepare_v2(st->db, "SELECT count(*) FROM "
	    "certificates WHERE status = 'good' AND not_after > ?1 AND "
	    "not_after <= ?2", -1, &s, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 1, from)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, to)) != SQLITE_OK ||
	    (rc = sqlite3_step(s)) != SQLITE_ROW) {
		r = store_err(st, rc, "expiring certificates");
		goto out;
	}
	*out = sqlite3_column_int64(s, 0);
	r = 0;
out:
	sqlite3_finalize(s);
	store_unlock(st);
	return r;
}
