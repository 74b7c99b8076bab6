/*
 * store_published.c: files published through the store (store.h): the
 * CRLs the lease holder makes, in parts, so that every node serves the
 * same one. A version's parts are written in one transaction with the
 * pruning of older versions, so a reader sees a version whole or not at
 * all; a reader that finds a part gone (pruned meanwhile) starts over.
 */
#include <string.h>

#include "store/internal.h"

int
store_pub_put(store *st, const char *name, int64_t number, int64_t part,
    const uint8_t *data, size_t len)
{
	int r = GP_ERR_INTERNAL;
	store_stmt *s = NULL;

	store_lock(st);
	GUARD(store_check_tx(st, "store_pub_put"));
	ENSURE(name != NULL && data != NULL && len > 0 &&
	    len <= STORE_PUB_PART && number >= 0 && part >= 0,
	    gp_err_set(GP_ERR_INVALID, "published file: name, number, part "
	    "and 1 to %d bytes required", STORE_PUB_PART));
	GUARD(store_stmt_new(st, "INSERT INTO published (name, number, part, "
	    "data) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING", &s));
	store_bind_text(s, 1, name);
	store_bind_int64(s, 2, number);
	store_bind_int64(s, 3, part);
	store_bind_blob(s, 4, data, len);
	GUARD(store_insert(s, "published file"));
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_pub_prune(store *st, const char *name, int64_t number)
{
	int r = GP_ERR_INTERNAL;
	store_stmt *s = NULL;

	store_lock(st);
	GUARD(store_check_tx(st, "store_pub_prune"));
	ENSURE(name != NULL, GP_ERR_INVALID);
	GUARD(store_stmt_new(st, "DELETE FROM published WHERE name = ?1 AND "
	    "number < ?2", &s));
	store_bind_text(s, 1, name);
	store_bind_int64(s, 2, number);
	GUARD(store_run(s, "published file prune"));
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_pub_latest(store *st, const char *name, int64_t *out_number,
    int64_t *out_parts)
{
	int r = GP_ERR_INTERNAL;
	store_stmt *s = NULL;

	*out_number = 0;
	*out_parts = 0;
	ENSURE(name != NULL, GP_ERR_INVALID);
	st = store_read_conn(st);
	store_lock(st);
	GUARD(store_stmt_new(st, "SELECT number, count(*) FROM published "
	    "WHERE name = ?1 GROUP BY number ORDER BY number DESC LIMIT 1",
	    &s));
	store_bind_text(s, 1, name);
	r = store_row(s, "published file");
	if (r == GP_ERR_NOT_FOUND) {
		r = 0;
		goto out;
	}
	GUARD(r);
	*out_number = store_col_int64(s, 0);
	*out_parts = store_col_int64(s, 1);
	r = 0;
out:
	store_stmt_done(s);
	if (name != NULL)
		store_unlock(st);
	return r;
}

int
store_pub_get(store *st, const char *name, int64_t number, int64_t part,
    uint8_t **out, size_t *out_len)
{
	int r = GP_ERR_INTERNAL;
	store_stmt *s = NULL;

	*out = NULL;
	*out_len = 0;
	ENSURE(name != NULL, GP_ERR_INVALID);
	st = store_read_conn(st);
	store_lock(st);
	GUARD(store_stmt_new(st, "SELECT data FROM published WHERE name = ?1 "
	    "AND number = ?2 AND part = ?3", &s));
	store_bind_text(s, 1, name);
	store_bind_int64(s, 2, number);
	store_bind_int64(s, 3, part);
	r = store_row(s, "published file");
	ENSURE(r != GP_ERR_NOT_FOUND, gp_err_set(GP_ERR_NOT_FOUND, "%s: "
	    "published %s number %lld has no part %lld", st->path, name,
	    (long long)number, (long long)part));
	GUARD(r);
	GUARD(store_col_blob_copy(s, 0, out, out_len));
	r = 0;
out:
	store_stmt_done(s);
	if (name != NULL)
		store_unlock(st);
	return r;
}
