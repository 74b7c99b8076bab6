/*
 * store_lease.c: leases (store.h): one holder at a time of a named duty
 * among the nodes sharing a store. Taking and renewing is one upsert whose
 * update only applies when the lease is free, expired or already the
 * taker's, inside the caller's transaction, so two nodes never both hold
 * it: the write lock orders their attempts.
 */
#include <stdio.h>
#include <string.h>

#include "store/internal.h"

int
store_lease_get(store *st, const char *name, struct store_lease *out)
{
	int r = GP_ERR_INTERNAL;
	store_stmt *s = NULL;
	const char *h;
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	ENSURE(name != NULL, GP_ERR_INVALID);
	store_lock(st);
	GUARD(store_stmt_get(st, STORE_STMT_LEASE_GET, "SELECT holder, "
	    "expires_ms, taken_ms FROM leases WHERE name = ?1", &s));
	store_bind_text(s, 1, name);
	r = store_row(s, "lease");
	if (r == GP_ERR_NOT_FOUND) {
		r = 0; /* never held */
		goto out;
	}
	GUARD(r);
	h = store_col_str(s, 0, &n);
	ENSURE(h != NULL && n < sizeof(out->holder), gp_err_set(GP_ERR_STORE,
	    "%s: lease %s: holder of %zu bytes", st->path, name, n));
	memcpy(out->holder, h, n + 1);
	out->expires_ms = store_col_int64(s, 1);
	out->taken_ms = store_col_int64(s, 2);
	r = 0;
out:
	store_stmt_done(s);
	if (name != NULL)
		store_unlock(st);
	return r;
}

int
store_lease_take(store *st, const char *name, const char *holder,
    int64_t now_ms, int64_t ttl_ms, int *out_held,
    struct store_lease *out_prev)
{
	int r = GP_ERR_INTERNAL;
	store_stmt *s = NULL;
	struct store_lease prev;

	*out_held = 0;
	store_lock(st);
	GUARD(store_check_tx(st, "store_lease_take"));
	ENSURE(name != NULL && holder != NULL && holder[0] != '\0' &&
	    strlen(holder) < sizeof(prev.holder) && ttl_ms > 0,
	    gp_err_set(GP_ERR_INVALID, "lease: name, holder (1 to %zu bytes) "
	    "and a positive time to live required", sizeof(prev.holder) - 1));
	GUARD(store_lease_get(st, name, &prev));
	GUARD(store_stmt_get(st, STORE_STMT_LEASE_TAKE, "INSERT INTO leases "
	    "(name, holder, expires_ms, taken_ms) VALUES (?1, ?2, ?3, ?4) "
	    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
	    "expires_ms = excluded.expires_ms, taken_ms = CASE WHEN "
	    "leases.holder = excluded.holder THEN leases.taken_ms ELSE "
	    "excluded.taken_ms END WHERE leases.holder = excluded.holder OR "
	    "leases.expires_ms <= ?4", &s));
	store_bind_text(s, 1, name);
	store_bind_text(s, 2, holder);
	store_bind_int64(s, 3, now_ms + ttl_ms);
	store_bind_int64(s, 4, now_ms);
	GUARD(store_run(s, "lease"));
	*out_held = store_changes(s) > 0;
	if (out_prev != NULL)
		*out_prev = prev;
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_lease_release(store *st, const char *name, const char *holder,
    int64_t now_ms)
{
	int r = GP_ERR_INTERNAL;
	store_stmt *s = NULL;

	store_lock(st);
	GUARD(store_check_tx(st, "store_lease_release"));
	ENSURE(name != NULL && holder != NULL, GP_ERR_INVALID);
	GUARD(store_stmt_new(st, "UPDATE leases SET expires_ms = ?3 WHERE "
	    "name = ?1 AND holder = ?2 AND expires_ms > ?3", &s));
	store_bind_text(s, 1, name);
	store_bind_text(s, 2, holder);
	store_bind_int64(s, 3, now_ms);
	GUARD(store_run(s, "lease release"));
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}
