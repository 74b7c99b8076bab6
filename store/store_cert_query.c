/*
 * store_cert_query.c: searching the certificates this instance issued by
 * unified social credit code, resident ID number, status and profile, in
 * pages keyed by serial (so a page costs the same at any depth), and
 * counting them. The query holds only the criteria given, so that SQLite
 * can use the index of the most selective one (store_search.c).
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
store_find_row(store_stmt *s, void *row)
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
	c->not_before = store_col_int64(s, 7);
	c->not_after = store_col_int64(s, 8);
	GUARD(store_col_text(s, 9, &c->status));
	c->revoked_at = store_col_int64(s, 10);
	c->invalidity_date = store_col_int64(s, 11);
	c->reason = store_col_int(s, 12);
	c->created_ms = store_col_int64(s, 13);
	r = 0;
out:
	return r;
}

static void
store_find_clear(void *row)
{
	store_cert_clear(row);
}

int
store_cert_find(store *st, const struct store_cert_query *q,
    struct store_cert **out, size_t *out_len)
{
	/* Integers are bound as decimal text: the column's INTEGER affinity
	 * compares them as numbers. */
	static const char *const conds[7] = {"uscc = ?1", "id_number = ?2",
	    "status = ?3", "profile = ?4", "serial > ?5", "not_after > ?6",
	    "not_after <= ?7"};
	static const struct store_search search = {
		"SELECT " STORE_FIND_COLS " FROM certificates WHERE TRUE",
		conds, 7, " ORDER BY serial LIMIT ?8",
		sizeof(struct store_cert), store_find_row, store_find_clear,
		"certificate search",
	};
	const char *vals[7] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL};
	char after[24], before[24];
	void *list = NULL;
	int r;

	if (q != NULL) {
		vals[0] = q->uscc;
		vals[1] = q->id_number;
		vals[2] = q->status;
		vals[3] = q->profile;
		vals[4] = q->after;
		if (q->expires_before > 0) {
			snprintf(after, sizeof(after), "%lld",
			    (long long)q->expires_after);
			snprintf(before, sizeof(before), "%lld",
			    (long long)q->expires_before);
			vals[5] = after;
			vals[6] = before;
		}
	}
	r = store_search_run(st, &search, vals, q != NULL ? q->limit : 0,
	    &list, out_len);
	*out = list;
	return r;
}

int
store_cert_count(store *st, int64_t *out)
{
	store_stmt *s = NULL;
	int r = GP_ERR_INTERNAL;

	*out = 0;
	store_lock(st);
	GUARD(store_stmt_new(st, "SELECT count(*) FROM certificates", &s));
	GUARD(store_row(s, "certificate count"));
	*out = store_col_int64(s, 0);
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_cert_count_expiring(store *st, int64_t from, int64_t to, int64_t *out)
{
	store_stmt *s = NULL;
	int r = GP_ERR_INTERNAL;

	*out = 0;
	store_lock(st);
	GUARD(store_stmt_new(st, "SELECT count(*) FROM certificates WHERE "
	    "status = 'good' AND not_after > ?1 AND not_after <= ?2", &s));
	store_bind_int64(s, 1, from);
	store_bind_int64(s, 2, to);
	GUARD(store_row(s, "expiring certificates"));
	*out = store_col_int64(s, 0);
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}
