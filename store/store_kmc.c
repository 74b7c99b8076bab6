/*
 * store_kmc.c: the rows of kmc/ (schema step 10): certificate pairs (a
 * signing certificate and its encryption twin), the key management
 * centre's escrowed keys (wrapped blobs; append-only, triggers refuse
 * UPDATE and DELETE), one-time enrolment codes (kept as SHA-256 only,
 * used once: the UPDATE matches an open, unexpired row only), and
 * judicial recoveries decided once. These are rare operations, so their
 * statements are prepared per call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

#define STORE_KMC_MAX_TEXT 65536
#define STORE_KMC_MAX_BLOB 65536

/* Binds the |n| text values of |v| to ?1..?n. */
static int
store_kmc_bind(sqlite3_stmt *s, const char *const *v, int n)
{
	int i, rc = SQLITE_OK;

	for (i = 0; i < n && rc == SQLITE_OK; i++)
		rc = store_bind_text(s, i + 1, v[i]);
	return rc;
}

static int
store_kmc_blob(sqlite3_stmt *s, int col, uint8_t **out, size_t *out_len,
    const char *what)
{
	const void *b = sqlite3_column_blob(s, col);
	int n = sqlite3_column_bytes(s, col);

	*out = NULL;
	*out_len = 0;
	if (b == NULL || n <= 0 || n > STORE_KMC_MAX_BLOB)
		return gp_err_set(GP_ERR_TAMPERED, "%s: stored blob of %d bytes",
		    what, n);
	if ((*out = malloc((size_t)n)) == NULL)
		return GP_ERR_NOMEM;
	memcpy(*out, b, (size_t)n);
	*out_len = (size_t)n;
	return 0;
}

/* Steps |s| once for a statement that writes; |what| names it. */
static int
store_kmc_done(store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	if (rc != SQLITE_DONE)
		return store_err(st, rc, what);
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
	sqlite3_stmt *s = NULL;
	const char *v[5];
	int r = GP_ERR_INTERNAL, rc;

	store_lock(st);
	GUARD(store_check_tx(st, "store_pair_insert"));
	ENSURE(p != NULL && p->signing != NULL && p->encryption != NULL &&
	    p->profile != NULL && p->subject != NULL && p->holder != NULL &&
	    strlen(p->subject) <= STORE_KMC_MAX_TEXT,
	    gp_err_set(GP_ERR_INVALID, "certificate pair: both serials, the "
	    "profile, the subject and the holder are required"));
	v[0] = p->signing;
	v[1] = p->encryption;
	v[2] = p->profile;
	v[3] = p->subject;
	v[4] = p->holder;
	if ((rc = sqlite3_prepare_v2(st->db, "INSERT INTO cert_pairs (signing, "
	    "encryption, profile, subject, holder, created_ms) VALUES (?1, ?2, "
	    "?3, ?4, ?5, ?6)", -1, &s, NULL)) != SQLITE_OK ||
	    (rc = store_kmc_bind(s, v, 5)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 6, p->created_ms)) != SQLITE_OK) {
		r = store_err(st, rc, "certificate pair insert");
		goto out;
	}
	GUARD(store_kmc_done(st, s, "certificate pair insert"));
	r = 0;
out:
	sqlite3_finalize(s);
	store_unlock(st);
	return r;
}

int
store_pair_get(store *st, const char *serial, struct store_pair *out)
{
	sqlite3_stmt *s = NULL;
	int r = GP_ERR_INTERNAL, rc;

	memset(out, 0, sizeof(*out));
	store_lock(st);
	ENSURE(serial != NULL, GP_ERR_INVALID);
	if ((rc = sqlite3_prepare_v2(st->db, "SELECT signing, encryption, "
	    "profile, subject, holder, created_ms FROM cert_pairs WHERE "
	    "signing = ?1 OR encryption = ?1", -1, &s, NULL)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 1, serial)) != SQLITE_OK) {
		r = store_err(st, rc, "certificate pair get");
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		r = GP_ERR_NOT_FOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = store_err(st, rc, "certificate pair get");
		goto out;
	}
	GUARD(store_col_text(s, 0, &out->signing));
	GUARD(store_col_text(s, 1, &out->encryption));
	GUARD(store_col_text(s, 2, &out->profile));
	GUARD(store_col_text(s, 3, &out->subject));
	GUARD(store_col_text(s, 4, &out->holder));
	out->created_ms = sqlite3_column_int64(s, 5);
	r = 0;
out:
	if (r != 0)
		store_pair_clear(out);
	sqlite3_finalize(s);
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
	sqlite3_stmt *s = NULL;
	const char *v[5];
	int r = GP_ERR_INTERNAL, rc;

	store_lock(st);
	GUARD(store_check_tx(st, "store_kmc_key_insert"));
	ENSURE(k != NULL && k->holder != NULL && k->serial != NULL &&
	    k->algo != NULL && k->spki_sha256 != NULL && k->wrap_key != NULL &&
	    k->wrapped != NULL && k->wrapped_len > 0 &&
	    k->wrapped_len <= STORE_KMC_MAX_BLOB, gp_err_set(GP_ERR_INVALID,
	    "escrowed key: holder, serial, algorithm, key hash, storage key "
	    "and the wrapped key are required"));
	v[0] = k->holder;
	v[1] = k->serial;
	v[2] = k->algo;
	v[3] = k->spki_sha256;
	v[4] = k->wrap_key;
	if ((rc = sqlite3_prepare_v2(st->db, "INSERT INTO kmc_keys (holder, "
	    "serial, algo, spki_sha256, wrap_key, wrapped, created_ms) VALUES "
	    "(?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &s, NULL)) != SQLITE_OK ||
	    (rc = store_kmc_bind(s, v, 5)) != SQLITE_OK ||
	    (rc = sqlite3_bind_blob(s, 6, k->wrapped, (int)k->wrapped_len,
	    SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 7, k->created_ms)) != SQLITE_OK) {
		r = store_err(st, rc, "escrowed key insert");
		goto out;
	}
	GUARD(store_kmc_done(st, s, "escrowed key insert"));
	if (out_id != NULL)
		*out_id = sqlite3_last_insert_rowid(st->db);
	r = 0;
out:
	sqlite3_finalize(s);
	store_unlock(st);
	return r;
}

#define STORE_KMC_KEY_COLS                                               \
	"id, holder, serial, algo, spki_sha256, wrap_key, wrapped, created_ms"

static int
store_kmc_key_row(sqlite3_stmt *s, void *row)
{
	struct store_kmc_key *k = row;
	int r;

	k->id = sqlite3_column_int64(s, 0);
	GUARD(store_col_text(s, 1, &k->holder));
	GUARD(store_col_text(s, 2, &k->serial));
	GUARD(store_col_text(s, 3, &k->algo));
	GUARD(store_col_text(s, 4, &k->spki_sha256));
	GUARD(store_col_text(s, 5, &k->wrap_key));
	GUARD(store_kmc_blob(s, 6, &k->wrapped, &k->wrapped_len,
	    "escrowed key"));
	k->created_ms = sqlite3_column_int64(s, 7);
	r = 0;
out:
	return r;
}

int
store_kmc_key_get(store *st, const char *serial, struct store_kmc_key *out)
{
	sqlite3_stmt *s = NULL;
	int r = GP_ERR_INTERNAL, rc;

	memset(out, 0, sizeof(*out));
	store_lock(st);
	ENSURE(serial != NULL, GP_ERR_INVALID);
	if ((rc = sqlite3_prepare_v2(st->db, "SELECT " STORE_KMC_KEY_COLS
	    " FROM kmc_keys WHERE serial = ?1", -1, &s, NULL)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 1, serial)) != SQLITE_OK) {
		r = store_err(st, rc, "escrowed key get");
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		r = gp_err_set(GP_ERR_NOT_FOUND, "certificate %.68s has no "
		    "escrowed key", serial);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = store_err(st, rc, "escrowed key get");
		goto out;
	}
	GUARD(store_kmc_key_row(s, out));
	r = 0;
out:
	if (r != 0)
		store_kmc_key_clear(out);
	sqlite3_finalize(s);
	store_unlock(st);
	return r;
}

int
store_kmc_key_list(store *st, const char *holder,
    struct store_kmc_key **out, size_t *out_len)
{
	struct store_kmc_key *list = NULL;
	sqlite3_stmt *s = NULL;
	size_t n = 0;
	int r = GP_ERR_INTERNAL, rc;

	*out = NULL;
	*out_len = 0;
	ENSURE(holder != NULL, GP_ERR_INVALID);
	ENSURE((list = calloc(STORE_FIND_MAX, sizeof(*list))) != NULL,
	    GP_ERR_NOMEM);
	store_lock(st);
	if ((rc = sqlite3_prepare_v2(st->db, "SELECT " STORE_KMC_KEY_COLS
	    " FROM kmc_keys WHERE holder = ?1 ORDER BY id LIMIT ?2", -1, &s,
	    NULL)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 1, holder)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int(s, 2, STORE_FIND_MAX)) != SQLITE_OK) {
		r = store_err(st, rc, "escrowed key list");
		store_unlock(st);
		goto out;
	}
	r = store_rows_read(st, s, list, sizeof(*list), STORE_FIND_MAX,
	    store_kmc_key_row, &n, "escrowed key list");
	store_unlock(st);
	GUARD(r);
	*out = list;
	*out_len = n;
	list = NULL; /* transferred */
	r = 0;
out:
	sqlite3_finalize(s);
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
	sqlite3_stmt *s = NULL;
	const char *v[5];
	int r = GP_ERR_INTERNAL, rc;

	store_lock(st);
	GUARD(store_check_tx(st, "store_enrolment_insert"));
	ENSURE(e != NULL && e->id != NULL && e->profile != NULL &&
	    e->subject != NULL && e->holder != NULL && e->created_by != NULL &&
	    strlen(e->subject) <= STORE_KMC_MAX_TEXT && e->expires_ms > 0,
	    gp_err_set(GP_ERR_INVALID, "enrolment: id, profile, subject, "
	    "holder, creator and expiry are required"));
	v[0] = e->id;
	v[1] = e->profile;
	v[2] = e->subject;
	v[3] = e->holder;
	v[4] = e->created_by;
	if ((rc = sqlite3_prepare_v2(st->db, "INSERT INTO enrolments (id, "
	    "profile, subject, holder, created_by, code_sha256, created_ms, "
	    "expires_ms, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
	    "'open')", -1, &s, NULL)) != SQLITE_OK ||
	    (rc = store_kmc_bind(s, v, 5)) != SQLITE_OK ||
	    (rc = sqlite3_bind_blob(s, 6, e->code_sha256, 32,
	    SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 7, e->created_ms)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 8, e->expires_ms)) != SQLITE_OK) {
		r = store_err(st, rc, "enrolment insert");
		goto out;
	}
	GUARD(store_kmc_done(st, s, "enrolment insert"));
	r = 0;
out:
	sqlite3_finalize(s);
	store_unlock(st);
	return r;
}

#define STORE_ENROL_COLS                                                 \
	"id, code_sha256, profile, subject, holder, created_by, "        \
	"created_ms, expires_ms, status, used_ms, serial"

/* One enrolment by |col| (id or code_sha256) = ?1. */
static int
store_enrolment_by(store *st, const char *sql, const void *key,
    size_t key_len, struct store_enrolment *out)
{
	sqlite3_stmt *s = NULL;
	int r = GP_ERR_INTERNAL, rc;

	memset(out, 0, sizeof(*out));
	store_lock(st);
	if ((rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL)) != SQLITE_OK ||
	    (rc = key_len > 0 ? sqlite3_bind_blob(s, 1, key, (int)key_len,
	    SQLITE_STATIC) : store_bind_text(s, 1, key)) != SQLITE_OK) {
		r = store_err(st, rc, "enrolment get");
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		r = GP_ERR_NOT_FOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = store_err(st, rc, "enrolment get");
		goto out;
	}
	GUARD(store_col_text(s, 0, &out->id));
	ENSURE(sqlite3_column_bytes(s, 1) == 32, gp_err_set(GP_ERR_TAMPERED,
	    "enrolment %s: stored code hash is not 32 bytes", out->id));
	memcpy(out->code_sha256, sqlite3_column_blob(s, 1), 32);
	GUARD(store_col_text(s, 2, &out->profile));
	GUARD(store_col_text(s, 3, &out->subject));
	GUARD(store_col_text(s, 4, &out->holder));
	GUARD(store_col_text(s, 5, &out->created_by));
	out->created_ms = sqlite3_column_int64(s, 6);
	out->expires_ms = sqlite3_column_int64(s, 7);
	GUARD(store_col_text(s, 8, &out->status));
	out->used_ms = sqlite3_column_int64(s, 9);
	GUARD(store_col_text(s, 10, &out->serial));
	r = 0;
out:
	if (r != 0)
		store_enrolment_clear(out);
	sqlite3_finalize(s);
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
	sqlite3_stmt *s = NULL;
	int r = GP_ERR_INTERNAL, rc;

	store_lock(st);
	GUARD(store_check_tx(st, "store_enrolment_use"));
	ENSURE(id != NULL && serial != NULL, GP_ERR_INVALID);
	/* Only an open code before its expiry moves: a second use, or two
	 * at once, finds no row. */
	if ((rc = sqlite3_prepare_v2(st->db, "UPDATE enrolments SET status = "
	    "'used', used_ms = ?2, serial = ?3 WHERE id = ?1 AND status = "
	    "'open' AND expires_ms > ?2", -1, &s, NULL)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 1, id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, now_ms)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 3, serial)) != SQLITE_OK) {
		r = store_err(st, rc, "enrolment use");
		goto out;
	}
	GUARD(store_kmc_done(st, s, "enrolment use"));
	ENSURE(sqlite3_changes(st->db) == 1, gp_err_set(GP_ERR_CONFLICT,
	    "enrolment %s: the code was used already or has expired", id));
	r = 0;
out:
	sqlite3_finalize(s);
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
	sqlite3_stmt *s = NULL;
	const char *v[6];
	int r = GP_ERR_INTERNAL, rc;

	store_lock(st);
	GUARD(store_check_tx(st, "store_recovery_insert"));
	ENSURE(rv != NULL && rv->id != NULL && rv->holder != NULL &&
	    rv->agent_der != NULL && rv->agent_der_len > 0 &&
	    rv->agent_der_len <= STORE_KMC_MAX_BLOB && rv->reason != NULL &&
	    rv->requester != NULL && rv->requester_actor != NULL,
	    gp_err_set(GP_ERR_INVALID, "recovery: id, holder, agent "
	    "certificate, reason and requester are required"));
	v[0] = rv->id;
	v[1] = rv->holder;
	v[2] = rv->reason;
	v[3] = rv->requester;
	v[4] = rv->requester_idn;
	v[5] = rv->requester_actor;
	if ((rc = sqlite3_prepare_v2(st->db, "INSERT INTO kmc_recoveries (id, "
	    "holder, reason, requester, requester_idn, requester_actor, "
	    "agent_der, created_ms, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
	    "?7, ?8, 'pending')", -1, &s, NULL)) != SQLITE_OK ||
	    (rc = store_kmc_bind(s, v, 6)) != SQLITE_OK ||
	    (rc = sqlite3_bind_blob(s, 7, rv->agent_der,
	    (int)rv->agent_der_len, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 8, rv->created_ms)) != SQLITE_OK) {
		r = store_err(st, rc, "recovery insert");
		goto out;
	}
	GUARD(store_kmc_done(st, s, "recovery insert"));
	r = 0;
out:
	sqlite3_finalize(s);
	store_unlock(st);
	return r;
}

int
store_recovery_get(store *st, const char *id, struct store_recovery *out)
{
	sqlite3_stmt *s = NULL;
	int r = GP_ERR_INTERNAL, rc;

	memset(out, 0, sizeof(*out));
	store_lock(st);
	ENSURE(id != NULL, GP_ERR_INVALID);
	if ((rc = sqlite3_prepare_v2(st->db, "SELECT id, holder, agent_der, "
	    "reason, requester, requester_idn, requester_actor, created_ms, "
	    "status, approver, approver_actor, decided_ms FROM kmc_recoveries "
	    "WHERE id = ?1", -1, &s, NULL)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 1, id)) != SQLITE_OK) {
		r = store_err(st, rc, "recovery get");
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		r = gp_err_set(GP_ERR_NOT_FOUND, "recovery %.40s: no such "
		    "request", id);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = store_err(st, rc, "recovery get");
		goto out;
	}
	GUARD(store_col_text(s, 0, &out->id));
	GUARD(store_col_text(s, 1, &out->holder));
	GUARD(store_kmc_blob(s, 2, &out->agent_der, &out->agent_der_len,
	    "recovery agent certificate"));
	GUARD(store_col_text(s, 3, &out->reason));
	GUARD(store_col_text(s, 4, &out->requester));
	GUARD(store_col_text(s, 5, &out->requester_idn));
	GUARD(store_col_text(s, 6, &out->requester_actor));
	out->created_ms = sqlite3_column_int64(s, 7);
	GUARD(store_col_text(s, 8, &out->status));
	GUARD(store_col_text(s, 9, &out->approver));
	GUARD(store_col_text(s, 10, &out->approver_actor));
	out->decided_ms = sqlite3_column_int64(s, 11);
	r = 0;
out:
	if (r != 0)
		store_recovery_clear(out);
	sqlite3_finalize(s);
	store_unlock(st);
	return r;
}

int
store_recovery_decide(store *st, const char *id, const char *status,
    const char *approver, const char *approver_actor, int64_t decided_ms)
{
	sqlite3_stmt *s = NULL;
	const char *v[4];
	int r = GP_ERR_INTERNAL, rc;

	store_lock(st);
	GUARD(store_check_tx(st, "store_recovery_decide"));
	ENSURE(id != NULL && status != NULL && approver != NULL &&
	    (strcmp(status, "approved") == 0 || strcmp(status, "refused") == 0),
	    GP_ERR_INVALID);
	v[0] = id;
	v[1] = status;
	v[2] = approver;
	v[3] = approver_actor;
	if ((rc = sqlite3_prepare_v2(st->db, "UPDATE kmc_recoveries SET "
	    "status = ?2, approver = ?3, approver_actor = ?4, decided_ms = ?5 "
	    "WHERE id = ?1 AND status = 'pending'", -1, &s,
	    NULL)) != SQLITE_OK || (rc = store_kmc_bind(s, v, 4)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 5, decided_ms)) != SQLITE_OK) {
		r = store_err(st, rc, "recovery decide");
		goto out;
	}
	GUARD(store_kmc_done(st, s, "recovery decide"));
	ENSURE(sqlite3_changes(st->db) == 1, gp_err_set(GP_ERR_CONFLICT,
	    "recovery %s: no longer pending (decided already)", id));
	r = 0;
out:
	sqlite3_finalize(s);
	store_unlock(st);
	return r;
}
