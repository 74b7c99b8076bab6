/*
 * store_search.c: the one search behind the listings (certificates,
 * requests). The WHERE clause holds only the criteria the caller gave, so
 * that the database can use the index of the most selective one; unused
 * parameters stay unbound. Rows are read into one array of at most
 * |limit| (1..STORE_FIND_MAX) rows. Which criteria a table offers, and how
 * a row reads, stay with the table (store_cert_query.c, store_request.c).
 */
#include <stdio.h>
#include <stdlib.h>

#include "store/internal.h"

/* Appends |a| and |b| to |sql|; *used past |len| once it does not fit. */
static void
store_search_add(char *sql, size_t len, size_t *used, const char *a,
    const char *b)
{
	int n;

	if (*used >= len)
		return;
	n = snprintf(sql + *used, len - *used, "%s%s", a, b);
	*used = n < 0 ? len : *used + (size_t)n;
}

/* The SQL of |q| for the criteria present in |vals|; GP_ERR_INTERNAL when
 * it does not fit |len| (the criteria are the callers' constants). */
static int
store_search_sql(const struct store_search *q, const char *const *vals,
    char *sql, size_t len)
{
	size_t used = 0, i;

	store_search_add(sql, len, &used, q->select, "");
	for (i = 0; i < q->n; i++)
		if (vals[i] != NULL)
			store_search_add(sql, len, &used, " AND ", q->conds[i]);
	store_search_add(sql, len, &used, q->tail, "");
	if (used >= len)
		return gp_err_set(GP_ERR_INTERNAL, "%s: query too long",
		    q->what);
	return 0;
}

int
store_search_run(store *st, const struct store_search *q,
    const char *const *vals, int64_t limit, void **out, size_t *out_len)
{
	char sql[1024];
	char *list = NULL;
	store_stmt *s = NULL;
	size_t n = 0, i;
	int r = GP_ERR_INTERNAL, locked = 0;

	*out = NULL;
	*out_len = 0;
	ENSURE(limit >= 1 && limit <= STORE_FIND_MAX,
	    gp_err_set(GP_ERR_INVALID, "limit: must be 1 to %d",
	    STORE_FIND_MAX));
	GUARD(store_search_sql(q, vals, sql, sizeof(sql)));
	ENSURE((list = calloc((size_t)limit, q->row_size)) != NULL,
	    GP_ERR_NOMEM);
	store_lock(st);
	locked = 1;
	GUARD(store_stmt_new(st, sql, &s));
	for (i = 0; i < q->n; i++) {
		if (vals[i] != NULL)
			store_bind_text(s, (int)i + 1, vals[i]);
	}
	store_bind_int64(s, (int)q->n + 1, limit);
	GUARD(store_rows_read(s, list, q->row_size, (size_t)limit, q->read,
	    &n, q->what));
	*out = list;
	*out_len = n;
	list = NULL; /* transferred */
	r = 0;
out:
	store_stmt_done(s);
	if (locked)
		store_unlock(st);
	/* A failed read may leave a row half filled: clear them all (the
	 * rest are zero). */
	for (i = 0; list != NULL && i < (size_t)limit; i++)
		q->clear(list + i * q->row_size);
	free(list);
	return r;
}
