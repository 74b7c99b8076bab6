/*
 * store_request.c: issuance requests that wait for a second person (dual
 * control). A request is inserted "pending" in the transaction that
 * audits it, and decided once, approved or refused: the UPDATE only
 * matches a pending row, so two officers deciding at the same time cannot
 * both act. Listing pages by creation time. Requests are rare, so their
 * statements are prepared per call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

#define STORE_REQ_COLS                                                   \
	"id, profile, requester, requester_actor, body, status, "        \
	"created_ms, approver, decided_ms, serial, requester_idn, "      \
	"approver_actor, reason"
/* The same without the body, for listings. */
#define STORE_REQ_LIST_COLS                                              \
	"id, profile, requester, requester_actor, NULL, status, "        \
	"created_ms, approver, decided_ms, serial, requester_idn, "      \
	"approver_actor, reason"

/* The search criterion of a page after the request ?4, in creation
 * order. */
#define STORE_REQ_AFTER                                                  \
	"(created_ms, id) > (SELECT created_ms, id FROM requests WHERE "  \
	"id = ?4)"

/* A request body is a CSR and a few fields; cap what is kept. */
#define STORE_REQ_MAX_BODY (256 * 1024)
#define STORE_REQ_MAX_REASON 4096

void
store_request_clear(struct store_request *rq)
{
	if (rq == NULL)
		return;
	free(rq->id);
	free(rq->profile);
	free(rq->requester);
	free(rq->requester_idn);
	free(rq->requester_actor);
	free(rq->body);
	free(rq->status);
	free(rq->approver);
	free(rq->approver_actor);
	free(rq->serial);
	free(rq->reason);
	memset(rq, 0, sizeof(*rq));
}

void
store_request_list_free(struct store_request *list, size_t len)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < len; i++)
		store_request_clear(&list[i]);
	free(list);
}

int
store_request_insert(store *st, const struct store_request *rq)
{
	sqlite3_stmt *s = NULL;
	int r = GP_ERR_INTERNAL, rc;

	store_lock(st);
	GUARD(store_check_tx(st, "store_request_insert"));
	ENSURE(rq->id != NULL && rq->profile != NULL &&
	    rq->requester != NULL && rq->requester[0] != '\0' &&
	    rq->requester_actor != NULL && rq->body != NULL &&
	    strlen(rq->body) <= STORE_REQ_MAX_BODY,
	    gp_err_set(GP_ERR_INVALID, "request: id, profile, requester and "
	    "a body of at most %d bytes are required", STORE_REQ_MAX_BODY));
	if ((rc = sqlite3_prepare_v2(st->db, "INSERT INTO requests ("
	    STORE_REQ_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, "
	    "NULL, 0, NULL, ?7, NULL, NULL)", -1, &s, NULL)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 1, rq->id)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 2, rq->profile)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 3, rq->requester)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 4, rq->requester_actor)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 5, rq->body)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 6, rq->created_ms)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 7, rq->requester_idn)) != SQLITE_OK) {
		r = store_err(st, rc, "request insert");
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		r = store_err(st, rc, "request insert");
		goto out;
	}
	r = 0;
out:
	sqlite3_finalize(s);
	store_unlock(st);
	return r;
}

/* The row at |s| (STORE_REQ_COLS order) into |out|. */
static int
store_request_row(sqlite3_stmt *s, void *row)
{
	struct store_request *out = row;
	int r;

	GUARD(store_col_text(s, 0, &out->id));
	GUARD(store_col_text(s, 1, &out->profile));
	GUARD(store_col_text(s, 2, &out->requester));
	GUARD(store_col_text(s, 3, &out->requester_actor));
	GUARD(store_col_text(s, 4, &out->body));
	GUARD(store_col_text(s, 5, &out->status));
	out->created_ms = sqlite3_column_int64(s, 6);
	GUARD(store_col_text(s, 7, &out->approver));
	out->decided_ms = sqlite3_column_int64(s, 8);
	GUARD(store_col_text(s, 9, &out->serial));
	GUARD(store_col_text(s, 10, &out->requester_idn));
	GUARD(store_col_text(s, 11, &out->approver_actor));
	GUARD(store_col_text(s, 12, &out->reason));
	r = 0;
out:
	return r;
}

int
store_request_get(store *st, const char *id, struct store_request *out)
{
	sqlite3_stmt *s = NULL;
	int r = GP_ERR_INTERNAL, rc;

	memset(out, 0, sizeof(*out));
	store_lock(st);
	ENSURE(id != NULL, GP_ERR_INVALID);
	if ((rc = sqlite3_prepare_v2(st->db, "SELECT " STORE_REQ_COLS
	    " FROM requests WHERE id = ?1", -1, &s, NULL)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 1, id)) != SQLITE_OK) {
		r = store_err(st, rc, "request get");
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		r = gp_err_set(GP_ERR_NOT_FOUND, "request %s: no such request",
		    id);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = store_err(st, rc, "request get");
		goto out;
	}
	GUARD(store_request_row(s, out));
	r = 0;
out:
	if (r != 0)
		store_request_clear(out);
	sqlite3_finalize(s);
	store_unlock(st);
	return r;
}

int
store_request_decide(store *st, const char *id,
    const struct store_request_decision *d)
{
	sqlite3_stmt *s = NULL;
	int r = GP_ERR_INTERNAL, rc;

	store_lock(st);
	GUARD(store_check_tx(st, "store_request_decide"));
	ENSURE(id != NULL && d != NULL && d->status != NULL &&
	    (strcmp(d->status, "approved") == 0 ||
	    strcmp(d->status, "refused") == 0 ||
	    strcmp(d->status, "failed") == 0),
	    gp_err_set(GP_ERR_INVALID, "request status: approved, refused or "
	    "failed"));
	ENSURE(d->reason == NULL || strlen(d->reason) <= STORE_REQ_MAX_REASON,
	    gp_err_set(GP_ERR_TOO_LARGE, "reason: over %d bytes",
	    STORE_REQ_MAX_REASON));
	if ((rc = sqlite3_prepare_v2(st->db, "UPDATE requests SET "
	    "status = ?2, approver = ?3, serial = ?4, decided_ms = ?5, "
	    "approver_actor = ?6, reason = ?7 "
	    "WHERE id = ?1 AND status = 'pending'", -1, &s, NULL)) !=
	    SQLITE_OK ||
	    (rc = store_bind_text(s, 1, id)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 2, d->status)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 3, d->approver)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 4, d->serial)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 5, d->decided_ms)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 6, d->approver_actor)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 7, d->reason)) != SQLITE_OK ||
	    (rc = sqlite3_step(s)) != SQLITE_DONE) {
		r = store_err(st, rc, "request decision");
		goto out;
	}
	if (sqlite3_changes(st->db) == 0) {
		sqlite3_finalize(s);
		s = NULL;
		if ((rc = sqlite3_prepare_v2(st->db, "SELECT status FROM "
		    "requests WHERE id = ?1", -1, &s, NULL)) != SQLITE_OK ||
		    (rc = store_bind_text(s, 1, id)) != SQLITE_OK) {
			r = store_err(st, rc, "request decision");
			goto out;
		}
		if (sqlite3_step(s) == SQLITE_ROW)
			r = gp_err_set(GP_ERR_CONFLICT, "request %s is %s, no "
			    "longer pending", id,
			    (const char *)sqlite3_column_text(s, 0));
		else
			r = gp_err_set(GP_ERR_NOT_FOUND, "request %s: no such "
			    "request", id);
		goto out;
	}
	r = 0;
out:
	sqlite3_finalize(s);
	store_unlock(st);
	return r;
}

static void
store_request_row_clear(void *row)
{
	store_request_clear(row);
}

int
store_request_find(store *st, const struct store_request_query *q,
    struct store_request **out, size_t *out_len)
{
	/* |requester| matches the person or the idn stored. */
	static const char *const conds[4] = {"profile = ?1",
	    "(requester = ?2 OR requester_idn = ?2)", "status = ?3",
	    STORE_REQ_AFTER};
	static const struct store_search search = {
		"SELECT " STORE_REQ_LIST_COLS " FROM requests WHERE 1",
		conds, 4, " ORDER BY created_ms, id LIMIT ?5",
		sizeof(struct store_request), store_request_row,
		store_request_row_clear, "request search",
	};
	const char *vals[4] = {NULL, NULL, NULL, NULL};
	void *list = NULL;
	int r;

	if (q != NULL) {
		vals[0] = q->profile;
		vals[1] = q->requester;
		vals[2] = q->status;
		vals[3] = q->after;
	}
	r = store_search_run(st, &search, vals, q != NULL ? q->limit : 0,
	    &list, out_len);
	*out = list;
	return r;
}
