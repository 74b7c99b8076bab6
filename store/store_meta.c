/*
 * store_meta.c: the meta table (small instance state: CRL numbers, clock
 * bounds, the status generation) and the health check's trivial query.
 */
#include <stdlib.h>

#include "store/internal.h"

int
store_ping(store *st)
{
	int r = GP_ERR_INTERNAL;
	store_stmt *s = NULL;

	store_lock(st);
	GUARD(store_stmt_get(st, STORE_STMT_PING, "SELECT 1", &s));
	r = store_row(s, "ping");
	if (r == GP_ERR_NOT_FOUND)
		r = gp_err_set(GP_ERR_STORE, "%s: ping: no row", st->path);
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_meta_get(store *st, const char *key, char **out_value)
{
	int r = GP_ERR_INTERNAL;
	store_stmt *s = NULL;

	*out_value = NULL;
	store_lock(st);
	ENSURE(key != NULL, GP_ERR_INVALID);
	GUARD(store_stmt_get(st, STORE_STMT_META_GET,
	    "SELECT value FROM meta WHERE key = ?1", &s));
	store_bind_text(s, 1, key);
	r = store_row(s, "meta get");
	if (r == GP_ERR_NOT_FOUND) {
		r = gp_err_set(GP_ERR_NOT_FOUND, "%s: no meta value %s",
		    st->path, key);
		goto out;
	}
	GUARD(r);
	GUARD(store_col_text(s, 0, out_value));
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_meta_set(store *st, const char *key, const char *value)
{
	int r = GP_ERR_INTERNAL;
	store_stmt *s = NULL;

	store_lock(st);
	ENSURE(key != NULL && value != NULL, GP_ERR_INVALID);
	GUARD(store_check_tx(st, "store_meta_set"));
	GUARD(store_stmt_get(st, STORE_STMT_META_SET,
	    "INSERT INTO meta(key, value) VALUES (?1, ?2) "
	    "ON CONFLICT(key) DO UPDATE SET value = excluded.value", &s));
	store_bind_text(s, 1, key);
	store_bind_text(s, 2, value);
	GUARD(store_run(s, "meta set"));
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}
