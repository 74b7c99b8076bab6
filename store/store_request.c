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
	store_stmt *s = NULL;
	int r = GP_ERR_INTERNAL;

	store_lock(st);
	GUARD(store_check_tx(st, "store_request_insert"));
	ENSURE(rq->id != NULL && rq->profile != NULL &&
	    rq->requester != NULL && rq->requester[0] != '\0' &&
	    rq->requester_actor != NULL && rq->body != NULL &&
	    strlen(rq->body) <= STORE_REQ_MAX_BODY,
	    gp_err_set(GP_ERR_INVALID, "request: id, profile, requester and "
	    "a body of at most %d bytes are required", STORE_REQ_MAX_BODY));
	GUARD(store_stmt_new(st, "INSERT INTO requests (" STORE_REQ_COLS
	    ") VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, NULL, 0, NULL, ?7, "
	    "NULL, NULL) ON CONFLICT DO NOTHING", &s));
	store_bind_text(s, 1, rq->id);
	store_bind_text(s, 2, rq->profile);
	store_bind_text(s, 3, rq->requester);
	store_bind_text(s, 4, rq->requester_actor);
	store_bind_text(s, 5, rq->body);
	store_bind_int64(s, 6, rq->created_ms);
	store_bind_text(s, 7, rq->requester_idn);
	GUARD(store_insert(s, "request insert"));
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

/* The row at |s| (STORE_REQ_COLS order) into |out|. */
static int
store_request_row(store_stmt *s, void *row)
{
	struct store_request *out = row;
	int r;

	GUARD(store_col_text(s, 0, &out->id));
	GUARD(store_col_text(s, 1, &out->profile));
	GUARD(store_col_text(s, 2, &out->requester));
	GUARD(store_col_text(s, 3, &out->requester_actor));
	GUARD(store_col_text(s, 4, &out->body));
	GUARD(store_col_text(s, 5, &out->status));
	out->created_ms = store_col_int64(s, 6);
	GUARD(store_col_text(s, 7, &out->approver));
	out->decided_ms = store_col_int64(s, 8);
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
	store_stmt *s = NULL;
	int r = GP_ERR_INTERNAL;

	memset(out, 0, sizeof(*out));
	store_lock(st);
	ENSURE(id != NULL, GP_ERR_INVALID);
	GUARD(store_stmt_new(st, "SELECT " STORE_REQ_COLS " FROM requests "
	    "WHERE id = ?1", &s));
	store_bind_text(s, 1, id);
	r = store_row(s, "request get");
	if (r == GP_ERR_NOT_FOUND) {
		r = gp_err_set(GP_ERR_NOT_FOUND, "request %s: no such request",
		    id);
		goto out;
	}
	GUARD(r);
	GUARD(store_request_row(s, out));
	r = 0;
out:
	if (r != 0)
		store_request_clear(out);
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_request_decide(store *st, const char *id,
    const struct store_request_decision *d)
{
	store_stmt *s = NULL;
	int r = GP_ERR_INTERNAL;

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
	GUARD(store_stmt_new(st, "UPDATE requests SET status = ?2, "
	    "approver = ?3, serial = ?4, decided_ms = ?5, "
	    "approver_actor = ?6, reason = ?7 "
	    "WHERE id = ?1 AND status = 'pending'", &s));
	store_bind_text(s, 1, id);
	store_bind_text(s, 2, d->status);
	store_bind_text(s, 3, d->approver);
	store_bind_text(s, 4, d->serial);
	store_bind_int64(s, 5, d->decided_ms);
	store_bind_text(s, 6, d->approver_actor);
	store_bind_text(s, 7, d->reason);
	GUARD(store_run(s, "request decision"));
	if (store_changes(s) == 0) {
		store_stmt_done(s);
		s = NULL;
		GUARD(store_stmt_new(st, "SELECT status FROM requests "
		    "WHERE id = ?1", &s));
		store_bind_text(s, 1, id);
		r = store_row(s, "request decision");
		if (r == 0)
			r = gp_err_set(GP_ERR_CONFLICT, "request %s is %s, no "
			    "longer pending", id, store_col_str(s, 0, NULL));
		else if (r == GP_ERR_NOT_FOUND)
			r = gp_err_set(GP_ERR_NOT_FOUND, "request %s: no such "
			    "request", id);
		goto out;
	}
	r = 0;
out:
	store_stmt_done(s);
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
		"SELECT " STORE_REQ_LIST_COLS " FROM requests WHERE TRUE",
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
