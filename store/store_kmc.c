/*
 * store_kmc.c: the rows of kmc/ (schema step 10): certificate pairs (a
 * signing certificate and its encryption twin), the key management
 * centre's escrowed keys (wrapped blobs; append-only, triggers refuse
 * UPDATE and DELETE), one-time enrolment codes (kept as SHA-256 only,
 * used once: the UPDATE matches an open, unexpired row only), and
 * judicial recoveries decided once. These are rare operations, so their
 * statements are prepared per call (store_stmt_newf, store_insertf).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

#define STORE_KMC_MAX_TEXT 65536
#define STORE_KMC_MAX_BLOB 65536

static int
store_kmc_blob(store_stmt *s, int col, uint8_t **out, size_t *out_len,
    const char *what)
{
	size_t n = 0;
	const void *b = store_col_blob(s, col, &n);

	*out = NULL;
	*out_len = 0;
	if (b == NULL || n == 0 || n > STORE_KMC_MAX_BLOB)
		return gp_err_set(GP_ERR_TAMPERED, "%s: stored blob of %zu "
		    "bytes", what, n);
	if ((*out = malloc(n)) == NULL)
		return GP_ERR_NOMEM;
	memcpy(*out, b, n);
	*out_len = n;
	return 0;
}

/* ---- certificate pairs ---------------------------------------------- */

void
store_pair_clear(struct store_pair *p)
{
	if (p == NULL)
		return;
	free(p->signing);
	free(p->encryption);
	free(p->profile);
	free(p->subject);
	free(p->holder);
	memset(p, 0, sizeof(*p));
}

int
store_pair_insert(store *st, const struct store_pair *p)
{
	if (p == NULL || p->signing == NULL || p->encryption == NULL ||
	    p->profile == NULL || p->subject == NULL || p->holder == NULL ||
	    strlen(p->subject) > STORE_KMC_MAX_TEXT)
		return gp_err_set(GP_ERR_INVALID, "certificate pair: both "
		    "serials, the profile, the subject and the holder are "
		    "required");
	return store_insertf(st, "certificate pair insert", "INSERT INTO "
	    "cert_pairs (signing, encryption, profile, subject, holder, "
	    "created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO "
	    "NOTHING", "ttttti", p->signing, p->encryption, p->profile,
	    p->subject, p->holder, p->created_ms);
}

int
store_pair_get(store *st, const char *serial, struct store_pair *out)
{
	store_stmt *s = NULL;
	int r = GP_ERR_INTERNAL;

	memset(out, 0, sizeof(*out));
	store_lock(st);
	ENSURE(serial != NULL, GP_ERR_INVALID);
	GUARD(store_stmt_new(st, "SELECT signing, encryption, profile, "
	    "subject, holder, created_ms FROM cert_pairs WHERE signing = ?1 "
	    "OR encryption = ?1", &s));
	store_bind_text(s, 1, serial);
	GUARD(store_row(s, "certificate pair get"));
	GUARD(store_col_text(s, 0, &out->signing));
	GUARD(store_col_text(s, 1, &out->encryption));
	GUARD(store_col_text(s, 2, &out->profile));
	GUARD(store_col_text(s, 3, &out->subject));
	GUARD(store_col_text(s, 4, &out->holder));
	out->created_ms = store_col_int64(s, 5);
	r = 0;
out:
	if (r != 0)
		store_pair_clear(out);
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

/* ---- escrowed keys -------------------------------------------------- */

void
store_kmc_key_clear(struct store_kmc_key *k)
{
	if (k == NULL)
		return;
	free(k->holder);
	free(k->serial);
	free(k->algo);
	free(k->spki_sha256);
	free(k->wrap_key);
	free(k->wrapped);
	memset(k, 0, sizeof(*k));
}

void
store_kmc_key_list_free(struct store_kmc_key *list, size_t len)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < len; i++)
		store_kmc_key_clear(&list[i]);
	free(list);
}

int
store_kmc_key_insert(store *st, const struct store_kmc_key *k,
    int64_t *out_id)
{
	store_stmt *s = NULL;
	int r = GP_ERR_INTERNAL;

	store_lock(st);
	GUARD(store_check_tx(st, "store_kmc_key_insert"));
	ENSURE(k != NULL && k->holder != NULL && k->serial != NULL &&
	    k->algo != NULL && k->spki_sha256 != NULL && k->wrap_key != NULL &&
	    k->wrapped != NULL && k->wrapped_len > 0 &&
	    k->wrapped_len <= STORE_KMC_MAX_BLOB, gp_err_set(GP_ERR_INVALID,
	    "escrowed key: holder, serial, algorithm, key hash, storage key "
	    "and the wrapped key are required"));
	/* RETURNING: the id the database gave, on either backend. */
	GUARD(store_stmt_newf(st, "escrowed key insert", &s, "INSERT INTO "
	    "kmc_keys (holder, serial, algo, spki_sha256, wrap_key, wrapped, "
	    "created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
	    "tttttbi", k->holder, k->serial, k->algo, k->spki_sha256,
	    k->wrap_key, (const void *)k->wrapped, k->wrapped_len,
	    k->created_ms));
	GUARD(store_row(s, "escrowed key insert"));
	if (out_id != NULL)
		*out_id = store_col_int64(s, 0);
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

#define STORE_KMC_KEY_COLS                                               \
	"id, holder, serial, algo, spki_sha256, wrap_key, wrapped, created_ms"

static int
store_kmc_key_row(store_stmt *s, void *row)
{
	struct store_kmc_key *k = row;
	int r;

	k->id = store_col_int64(s, 0);
	GUARD(store_col_text(s, 1, &k->holder));
	GUARD(store_col_text(s, 2, &k->serial));
	GUARD(store_col_text(s, 3, &k->algo));
	GUARD(store_col_text(s, 4, &k->spki_sha256));
	GUARD(store_col_text(s, 5, &k->wrap_key));
	GUARD(store_kmc_blob(s, 6, &k->wrapped, &k->wrapped_len,
	    "escrowed key"));
	k->created_ms = store_col_int64(s, 7);
	r = 0;
out:
	return r;
}

int
store_kmc_key_get(store *st, const char *serial, struct store_kmc_key *out)
{
	store_stmt *s = NULL;
	int r = GP_ERR_INTERNAL;

	memset(out, 0, sizeof(*out));
	store_lock(st);
	ENSURE(serial != NULL, GP_ERR_INVALID);
	GUARD(store_stmt_new(st, "SELECT " STORE_KMC_KEY_COLS " FROM kmc_keys "
	    "WHERE serial = ?1", &s));
	store_bind_text(s, 1, serial);
	r = store_row(s, "escrowed key get");
	ENSURE(r != GP_ERR_NOT_FOUND, gp_err_set(GP_ERR_NOT_FOUND,
	    "certificate %.68s has no escrowed key", serial));
	GUARD(r);
	GUARD(store_kmc_key_row(s, out));
	r = 0;
out:
	if (r != 0)
		store_kmc_key_clear(out);
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_kmc_key_list(store *st, const char *holder,
    struct store_kmc_key **out, size_t *out_len)
{
	struct store_kmc_key *list = NULL;
	store_stmt *s = NULL;
	size_t n = 0;
	int r = GP_ERR_INTERNAL, locked = 0;

	*out = NULL;
	*out_len = 0;
	ENSURE(holder != NULL, GP_ERR_INVALID);
	ENSURE((list = calloc(STORE_FIND_MAX, sizeof(*list))) != NULL,
	    GP_ERR_NOMEM);
	store_lock(st);
	locked = 1;
	GUARD(store_stmt_new(st, "SELECT " STORE_KMC_KEY_COLS " FROM kmc_keys "
	    "WHERE holder = ?1 ORDER BY id LIMIT ?2", &s));
	store_bind_text(s, 1, holder);
	store_bind_int64(s, 2, STORE_FIND_MAX);
	GUARD(store_rows_read(s, list, sizeof(*list), STORE_FIND_MAX,
	    store_kmc_key_row, &n, "escrowed key list"));
	*out = list;
	*out_len = n;
	list = NULL; /* transferred */
	r = 0;
out:
	store_stmt_done(s);
	if (locked)
		store_unlock(st);
	store_kmc_key_list_free(list, STORE_FIND_MAX);
	return r;
}

/* ---- enrolment codes ------------------------------------------------ */

void
store_enrolment_clear(struct store_enrolment *e)
{
	if (e == NULL)
		return;
	free(e->id);
	free(e->profile);
	free(e->subject);
	free(e->holder);
	free(e->created_by);
	free(e->status);
	free(e->serial);
	memset(e, 0, sizeof(*e));
}

int
store_enrolment_insert(store *st, const struct store_enrolment *e)
{
	if (e == NULL || e->id == NULL || e->profile == NULL ||
	    e->subject == NULL || e->holder == NULL || e->created_by == NULL ||
	    strlen(e->subject) > STORE_KMC_MAX_TEXT || e->expires_ms <= 0)
		return gp_err_set(GP_ERR_INVALID, "enrolment: id, profile, "
		    "subject, holder, creator and expiry are required");
	return store_insertf(st, "enrolment insert", "INSERT INTO enrolments "
	    "(id, profile, subject, holder, created_by, code_sha256, "
	    "created_ms, expires_ms, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
	    "?7, ?8, 'open') ON CONFLICT DO NOTHING", "tttttbii", e->id,
	    e->profile, e->subject, e->holder, e->created_by,
	    (const void *)e->code_sha256, (size_t)32, e->created_ms,
	    e->expires_ms);
}

#define STORE_ENROL_COLS                                                 \
	"id, code_sha256, profile, subject, holder, created_by, "        \
	"created_ms, expires_ms, status, used_ms, serial"

/* One enrolment by the key ?1 of |sql|: a blob of |key_len| bytes, or
 * text when |key_len| is 0. */
static int
store_enrolment_by(store *st, const char *sql, const void *key,
    size_t key_len, struct store_enrolment *out)
{
	store_stmt *s = NULL;
	const void *hash;
	size_t hash_len = 0;
	int r = GP_ERR_INTERNAL;

	memset(out, 0, sizeof(*out));
	store_lock(st);
	GUARD(store_stmt_new(st, sql, &s));
	if (key_len > 0)
		store_bind_blob(s, 1, key, key_len);
	else
		store_bind_text(s, 1, key);
	GUARD(store_row(s, "enrolment get"));
	GUARD(store_col_text(s, 0, &out->id));
	hash = store_col_blob(s, 1, &hash_len);
	ENSURE(hash != NULL && hash_len == 32, gp_err_set(GP_ERR_TAMPERED,
	    "enrolment %s: stored code hash is not 32 bytes", out->id));
	memcpy(out->code_sha256, hash, 32);
	GUARD(store_col_text(s, 2, &out->profile));
	GUARD(store_col_text(s, 3, &out->subject));
	GUARD(store_col_text(s, 4, &out->holder));
	GUARD(store_col_text(s, 5, &out->created_by));
	out->created_ms = store_col_int64(s, 6);
	out->expires_ms = store_col_int64(s, 7);
	GUARD(store_col_text(s, 8, &out->status));
	out->used_ms = store_col_int64(s, 9);
	GUARD(store_col_text(s, 10, &out->serial));
	r = 0;
out:
	if (r != 0)
		store_enrolment_clear(out);
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_enrolment_by_code(store *st, const uint8_t code_sha256[32],
    struct store_enrolment *out)
{
	return store_enrolment_by(st, "SELECT " STORE_ENROL_COLS " FROM "
	    "enrolments WHERE code_sha256 = ?1", code_sha256, 32, out);
}

int
store_enrolment_get(store *st, const char *id, struct store_enrolment *out)
{
	if (id == NULL)
		return GP_ERR_INVALID;
	return store_enrolment_by(st, "SELECT " STORE_ENROL_COLS " FROM "
	    "enrolments WHERE id = ?1", id, 0, out);
}

int
store_enrolment_use(store *st, const char *id, int64_t now_ms,
    const char *serial)
{
	store_stmt *s = NULL;
	int r = GP_ERR_INTERNAL;

	store_lock(st);
	GUARD(store_check_tx(st, "store_enrolment_use"));
	ENSURE(id != NULL && serial != NULL, GP_ERR_INVALID);
	/* Only an open code before its expiry moves: a second use, or two
	 * at once, finds no row. */
	GUARD(store_stmt_new(st, "UPDATE enrolments SET status = 'used', "
	    "used_ms = ?2, serial = ?3 WHERE id = ?1 AND status = 'open' AND "
	    "expires_ms > ?2", &s));
	store_bind_text(s, 1, id);
	store_bind_int64(s, 2, now_ms);
	store_bind_text(s, 3, serial);
	GUARD(store_run(s, "enrolment use"));
	ENSURE(store_changes(s) == 1, gp_err_set(GP_ERR_CONFLICT,
	    "enrolment %s: the code was used already or has expired", id));
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

/* ---- judicial recoveries -------------------------------------------- */

void
store_recovery_clear(struct store_recovery *rc)
{
	if (rc == NULL)
		return;
	free(rc->id);
	free(rc->holder);
	free(rc->agent_der);
	free(rc->reason);
	free(rc->requester);
	free(rc->requester_idn);
	free(rc->requester_actor);
	free(rc->status);
	free(rc->approver);
	free(rc->approver_actor);
	memset(rc, 0, sizeof(*rc));
}

int
store_recovery_insert(store *st, const struct store_recovery *rv)
{
	if (rv == NULL || rv->id == NULL || rv->holder == NULL ||
	    rv->agent_der == NULL || rv->agent_der_len == 0 ||
	    rv->agent_der_len > STORE_KMC_MAX_BLOB || rv->reason == NULL ||
	    rv->requester == NULL || rv->requester_actor == NULL)
		return gp_err_set(GP_ERR_INVALID, "recovery: id, holder, agent "
		    "certificate, reason and requester are required");
	return store_insertf(st, "recovery insert", "INSERT INTO "
	    "kmc_recoveries (id, holder, reason, requester, requester_idn, "
	    "requester_actor, agent_der, created_ms, status) VALUES (?1, ?2, "
	    "?3, ?4, ?5, ?6, ?7, ?8, 'pending') ON CONFLICT DO NOTHING",
	    "ttttttbi", rv->id, rv->holder, rv->reason, rv->requester,
	    rv->requester_idn, rv->requester_actor,
	    (const void *)rv->agent_der, rv->agent_der_len, rv->created_ms);
}

int
store_recovery_get(store *st, const char *id, struct store_recovery *out)
{
	store_stmt *s = NULL;
	int r = GP_ERR_INTERNAL;

	memset(out, 0, sizeof(*out));
	store_lock(st);
	ENSURE(id != NULL, GP_ERR_INVALID);
	GUARD(store_stmt_new(st, "SELECT id, holder, agent_der, reason, "
	    "requester, requester_idn, requester_actor, created_ms, status, "
	    "approver, approver_actor, decided_ms FROM kmc_recoveries WHERE "
	    "id = ?1", &s));
	store_bind_text(s, 1, id);
	r = store_row(s, "recovery get");
	ENSURE(r != GP_ERR_NOT_FOUND, gp_err_set(GP_ERR_NOT_FOUND,
	    "recovery %.40s: no such request", id));
	GUARD(r);
	GUARD(store_col_text(s, 0, &out->id));
	GUARD(store_col_text(s, 1, &out->holder));
	GUARD(store_kmc_blob(s, 2, &out->agent_der, &out->agent_der_len,
	    "recovery agent certificate"));
	GUARD(store_col_text(s, 3, &out->reason));
	GUARD(store_col_text(s, 4, &out->requester));
	GUARD(store_col_text(s, 5, &out->requester_idn));
	GUARD(store_col_text(s, 6, &out->requester_actor));
	out->created_ms = store_col_int64(s, 7);
	GUARD(store_col_text(s, 8, &out->status));
	GUARD(store_col_text(s, 9, &out->approver));
	GUARD(store_col_text(s, 10, &out->approver_actor));
	out->decided_ms = store_col_int64(s, 11);
	r = 0;
out:
	if (r != 0)
		store_recovery_clear(out);
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_recovery_decide(store *st, const char *id, const char *status,
    const char *approver, const char *approver_actor, int64_t decided_ms)
{
	store_stmt *s = NULL;
	int r = GP_ERR_INTERNAL;

	store_lock(st);
	GUARD(store_check_tx(st, "store_recovery_decide"));
	ENSURE(id != NULL && status != NULL && approver != NULL &&
	    (strcmp(status, "approved") == 0 || strcmp(status, "refused") == 0),
	    GP_ERR_INVALID);
	GUARD(store_stmt_newf(st, "recovery decide", &s, "UPDATE "
	    "kmc_recoveries SET status = ?2, approver = ?3, approver_actor = "
	    "?4, decided_ms = ?5 WHERE id = ?1 AND status = 'pending'",
	    "tttti", id, status, approver, approver_actor, decided_ms));
	GUARD(store_run(s, "recovery decide"));
	ENSURE(store_changes(s) == 1, gp_err_set(GP_ERR_CONFLICT,
	    "recovery %s: no longer pending (decided already)", id));
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}
