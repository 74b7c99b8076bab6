/*
 * audit_log.c: appending records and checkpoints.
 *
 * audit_append_tx() appends inside the caller's transaction. audit_log()
 * is group commit: callers put their event on a queue and sleep; one writer
 * thread takes everything queued, appends it in one transaction and commits
 * once (one fsync for the whole batch), then wakes the callers of that batch
 * with its result. While it commits, new callers queue up for the next
 * batch, so N concurrent callers cost about one commit, not N.
 *
 * audit_apply() puts a state change on the same queue: the writer runs it
 * just before appending its record, in the batch's transaction. The
 * _async variants queue a copy of the event and return; the writer calls
 * back after the commit instead of waking a sleeping caller.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "audit/internal.h"

/* One queued event. An audit_log() or audit_apply() request lives on its
 * waiting caller's stack and borrows the event; an audit_log_async() or
 * audit_apply_async() request is on the heap with its own copy of the
 * event and is freed after its callback. */
struct audit_req {
	const struct audit_event *ev;
	char *details;                /* encoded by the caller */
	int done;
	int r;
	char err[256];                /* the writer's error detail */
	struct audit_req *next;
	audit_done_fn fn;             /* async only */
	void *arg;
	struct audit_event own;       /* async only: ev points here */
	audit_apply_fn apply;         /* a state change to write first, or */
	void *apply_arg;              /* NULL (audit_apply) */
};

struct audit {
	store *st;
	pthread_mutex_t mu;
	pthread_cond_t work;          /* the writer waits for requests */
	pthread_cond_t done;          /* callers wait for their batch */
	struct audit_req *head, *tail;
	int stop;
	int started;
	pthread_t writer;
	int64_t records;              /* appended through audit_log() */
	int64_t commits;              /* transactions that carried them */
};

/* Encodes |details| as audit.h says (compact, sorted keys). */
static int
audit_details_dump(const json_t *details, char **out)
{
	*out = NULL;
	if (details == NULL)
		return 0;
	if ((*out = json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS |
	    JSON_ENCODE_ANY)) == NULL)
		return gp_err_set(GP_ERR_INVALID, "audit details: cannot "
		    "encode as JSON");
	if (strlen(*out) > AUDIT_MAX_DETAILS) {
		free(*out);
		*out = NULL;
		return gp_err_set(GP_ERR_TOO_LARGE, "audit details: over %d "
		    "bytes", AUDIT_MAX_DETAILS);
	}
	return 0;
}

static int
audit_field_ok(const char *name, const char *s)
{
	if (s != NULL && strlen(s) > AUDIT_MAX_FIELD)
		return gp_err_set(GP_ERR_TOO_LARGE, "audit field %s: over %d "
		    "bytes", name, AUDIT_MAX_FIELD);
	return 0;
}

/* The chain head inside one write transaction: read once, then carried
 * from record to record, so a batch reads the store's head only once. */
struct audit_head {
	int known;
	int64_t seq;
	uint8_t hash[32];
};

/* In a transaction: the next record after the head, for |ev| with the
 * encoded |details|, into |row| with its hash. The row only borrows the
 * event's strings (the store copies them on insert). |hd| may be NULL (the
 * head is read from the store); when given, it is read on first use and
 * advanced to |row|, so that the rows of a batch chain one to the next
 * before any is inserted. */
static int
audit_row_build(store *st, const struct audit_event *ev, const char *details,
    struct audit_head *hd, struct store_audit_row *row)
{
	int r = GP_ERR_INTERNAL;
	int64_t head = 0;

	memset(row, 0, sizeof(*row));
	ENSURE(ev != NULL, GP_ERR_INVALID);
	GUARD(audit_field_ok("actor", ev->actor));
	GUARD(audit_field_ok("role", ev->role));
	GUARD(audit_field_ok("op", ev->op));
	GUARD(audit_field_ok("object", ev->object));
	GUARD(audit_field_ok("outcome", ev->outcome));
	GUARD(audit_field_ok("request_id", ev->request_id));
	GUARD(audit_field_ok("client", ev->client));
	if (hd != NULL && hd->known) {
		head = hd->seq;
		memcpy(row->prev_hash, hd->hash, sizeof(row->prev_hash));
	} else {
		GUARD(store_audit_head(st, &head, row->prev_hash));
	}
	row->seq = head + 1;
	row->time_ms = gp_now_ms();
	row->actor = (char *)ev->actor;
	row->role = (char *)ev->role;
	row->op = (char *)ev->op;
	row->object = (char *)ev->object;
	row->outcome = (char *)ev->outcome;
	row->request_id = (char *)ev->request_id;
	row->client = (char *)ev->client;
	row->details = (char *)details;
	GUARD(audit_chain_hash(row, row->hash));
	if (hd != NULL) {
		hd->known = 1;
		hd->seq = row->seq;
		memcpy(hd->hash, row->hash, sizeof(hd->hash));
	}
	r = 0;
out:
	return r; /* |row| borrows every string: nothing to free */
}

/* In a transaction: appends |ev| with the encoded |details| as the record
 * after the store's head. */
static int
audit_append(store *st, const struct audit_event *ev, const char *details,
    int64_t *out_seq)
{
	int r = GP_ERR_INTERNAL;
	struct store_audit_row row;

	GUARD(audit_row_build(st, ev, details, NULL, &row));
	GUARD(store_audit_insert(st, &row));
	if (out_seq != NULL)
		*out_seq = row.seq;
	r = 0;
out:
	return r;
}

int
audit_append_tx(audit *a, const struct audit_event *ev, int64_t *out_seq)
{
	int r = GP_ERR_INTERNAL;
	char *details = NULL;

	ENSURE(a != NULL && ev != NULL, GP_ERR_INVALID);
	GUARD(audit_details_dump(ev->details, &details));
	GUARD(audit_append(a->st, ev, details, out_seq));
	r = 0;
out:
	free(details);
	return r;
}

static void
audit_req_fail(struct audit_req *q, int r)
{
	q->r = r;
	snprintf(q->err, sizeof(q->err), "%s", gp_err_detail());
}

/* One request in its own transaction: the fallback when a batch failed, so
 * that one bad event does not take the others down with it. Returns 1 when
 * it committed, else 0. */
static int
audit_commit_one(audit *a, struct audit_req *q)
{
	int r;

	if ((r = store_begin(a->st)) != 0) {
		audit_req_fail(q, r);
		return 0;
	}
	if ((q->apply != NULL && (r = q->apply(a->st, q->apply_arg)) != 0) ||
	    (r = audit_append(a->st, q->ev, q->details, NULL)) != 0) {
		audit_req_fail(q, r);
		store_rollback(a->st);
		return 0;
	}
	if ((r = store_commit(a->st)) != 0) {
		audit_req_fail(q, r);
		return 0;
	}
	q->r = 0;
	return 1;
}

/* Each request of |batch| in its own transaction; how many committed. */
static int
audit_commit_each(audit *a, struct audit_req *batch)
{
	struct audit_req *q;
	int n = 0;

	for (q = batch; q != NULL; q = q->next)
		n += audit_commit_one(a, q);
	return n;
}

/* Appends and commits the list |batch|, setting each request's result;
 * returns how many transactions committed (1, or after a failure one per
 * request retried alone that committed).
 * The changes run in queue order, each record is built (and chained) as
 * its change is made, and the records are inserted together after the
 * last change (store_audit_insert_many): a few statements for the batch,
 * not one per record, which is what a database server's round trips cost.
 * Nothing between them reads the audit log: a change only writes its own
 * tables (audit_apply_fn). */
static int
audit_commit_batch(audit *a, struct audit_req *batch)
{
	struct audit_req *q;
	struct audit_head hd;
	struct store_audit_row *rows = NULL;
	size_t n = 0, i;
	int r;

	gp_err_clear();
	memset(&hd, 0, sizeof(hd));
	for (q = batch; q != NULL; q = q->next)
		n++;
	if ((rows = calloc(n, sizeof(*rows))) == NULL)
		return audit_commit_each(a, batch);
	if ((r = store_begin(a->st)) != 0) {
		for (q = batch; q != NULL; q = q->next)
			audit_req_fail(q, r);
		free(rows);
		return 0;
	}
	for (q = batch, i = 0; q != NULL; q = q->next, i++) {
		/* A state change and its record, in the same transaction. */
		if (q->apply != NULL && (r = q->apply(a->st, q->apply_arg)) != 0)
			break;
		if ((r = audit_row_build(a->st, q->ev, q->details, &hd,
		    &rows[i])) != 0)
			break;
	}
	if (q == NULL)
		r = store_audit_insert_many(a->st, rows, n);
	free(rows); /* the rows borrowed the requests' strings */
	if (r != 0) {
		/* One request failed: retry each on its own. */
		store_rollback(a->st);
		return audit_commit_each(a, batch);
	}
	r = store_commit(a->st);
	for (q = batch; q != NULL; q = q->next) {
		if (r != 0)
			audit_req_fail(q, r);
		else
			q->r = 0;
	}
	return r == 0;
}

static void
audit_req_free(struct audit_req *q)
{
	free((char *)q->own.actor);
	free((char *)q->own.role);
	free((char *)q->own.op);
	free((char *)q->own.object);
	free((char *)q->own.outcome);
	free((char *)q->own.request_id);
	free((char *)q->own.client);
	free(q->details);
	free(q);
}

/* Set on the writer thread: a callback that waited for the writer would
 * wait for itself. */
static _Thread_local int audit_on_writer;

static void *
audit_writer(void *arg)
{
	audit *a = arg;
	struct audit_req *batch, *q, *next, *async;
	int committed;

	audit_on_writer = 1;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (a->head == NULL && !a->stop)
			pthread_cond_wait(&a->work, &a->mu);
		if (a->head == NULL)
			break; /* stopping and drained */
		batch = a->head;
		a->head = a->tail = NULL;
		pthread_mutex_unlock(&a->mu);

		committed = audit_commit_batch(a, batch);

		pthread_mutex_lock(&a->mu);
		a->commits += committed;
		async = NULL;
		for (q = batch; q != NULL; q = next) {
			next = q->next; /* |q| may vanish once done is set */
			a->records += q->r == 0;
			if (q->fn != NULL) {
				q->next = async;
				async = q;
			} else {
				q->done = 1;
			}
		}
		pthread_cond_broadcast(&a->done);
		if (async != NULL) {
			/* Callbacks run unlocked: they may log again. */
			pthread_mutex_unlock(&a->mu);
			for (q = async; q != NULL; q = next) {
				next = q->next;
				if (q->r != 0)
					gp_err_set(q->r, "%s", q->err);
				q->fn(q->arg, q->r);
				audit_req_free(q);
			}
			pthread_mutex_lock(&a->mu);
		}
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

int
audit_new(store *st, audit **out)
{
	int r = GP_ERR_INTERNAL, rc;
	audit *a = NULL;
	sigset_t all, old;

	*out = NULL;
	ENSURE(st != NULL, GP_ERR_INVALID);
	ENSURE((a = calloc(1, sizeof(*a))) != NULL, GP_ERR_NOMEM);
	a->st = st;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->work, NULL);
	pthread_cond_init(&a->done, NULL);
	/* The writer takes no signals: they belong to the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&a->writer, NULL, audit_writer, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		r = gp_err_set(GP_ERR_INTERNAL, "audit: cannot start the "
		    "writer thread: %s", strerror(rc));
		goto out;
	}
	a->started = 1;
	*out = a;
	a = NULL; /* transferred */
	r = 0;
out:
	audit_free(a);
	return r;
}

void
audit_free(audit *a)
{
	if (a == NULL)
		return;
	if (a->started) {
		pthread_mutex_lock(&a->mu);
		a->stop = 1;
		pthread_cond_signal(&a->work);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->writer, NULL); /* commits what is queued */
	}
	pthread_cond_destroy(&a->done);
	pthread_cond_destroy(&a->work);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

/* Queues |ev| (after |apply|, when given) and waits for the commit that
 * carries it. */
static int
audit_wait(audit *a, const struct audit_event *ev, audit_apply_fn apply,
    void *apply_arg)
{
	int r = GP_ERR_INTERNAL;
	struct audit_req q;

	memset(&q, 0, sizeof(q));
	ENSURE(a != NULL && ev != NULL, GP_ERR_INVALID);
	q.apply = apply;
	q.apply_arg = apply_arg;
	if (store_in_tx(a->st)) {
		/* The writer would wait for our lock while we wait for it. */
		r = gp_err_set(GP_ERR_INTERNAL, "audit_log()/audit_apply() "
		    "inside a store transaction; use audit_append_tx()");
		goto out;
	}
	if (audit_on_writer) {
		r = gp_err_set(GP_ERR_INTERNAL, "audit_log()/audit_apply() "
		    "from an audit callback; use the _async calls");
		goto out;
	}
	q.ev = ev;
	GUARD(audit_details_dump(ev->details, &q.details));

	pthread_mutex_lock(&a->mu);
	if (a->stop) {
		pthread_mutex_unlock(&a->mu);
		r = gp_err_set(GP_ERR_INTERNAL, "audit: log is closing");
		goto out;
	}
	if (a->tail != NULL)
		a->tail->next = &q;
	else
		a->head = &q;
	a->tail = &q;
	pthread_cond_signal(&a->work);
	while (!q.done)
		pthread_cond_wait(&a->done, &a->mu);
	pthread_mutex_unlock(&a->mu);

	if (q.r != 0) {
		r = gp_err_set(q.r, "%s", q.err);
		goto out;
	}
	r = 0;
out:
	free(q.details);
	return r;
}

int
audit_log(audit *a, const struct audit_event *ev)
{
	return audit_wait(a, ev, NULL, NULL);
}

int
audit_apply(audit *a, audit_apply_fn apply, void *apply_arg,
    const struct audit_event *ev)
{
	if (apply == NULL)
		return gp_err_set(GP_ERR_INVALID, "audit_apply: no change");
	return audit_wait(a, ev, apply, apply_arg);
}

/* Should a checkpoint be skipped because nothing was added since the last
 * one? |last_seq| is the last checkpoint's seq or -1 when there is none.
 * The head being a checkpoint's record is not enough: a checkpoint seals
 * the head it read before signing, and records appended meanwhile (by
 * other threads or nodes) come before its record, unsealed; only when it
 * sealed the record just before its own is there nothing new. */
static int
audit_checkpoint_idle(store *st, int64_t head, int64_t last_seq, int *out)
{
	int r = GP_ERR_INTERNAL;
	struct store_audit_row row;

	memset(&row, 0, sizeof(row));
	*out = 0;
	if (last_seq >= head) {
		*out = 1;
		r = 0;
		goto out;
	}
	GUARD(store_audit_get(st, head, &row));
	*out = row.op != NULL && strcmp(row.op, AUDIT_OP_CHECKPOINT) == 0 &&
	    last_seq == head - 1;
	r = 0;
out:
	store_audit_row_clear(&row);
	return r;
}

/* The "audit.checkpoint" record's details of |cp|: the signed seq and hash
 * and, when |st| made a token, its serial and SHA-256; else |tst_error|. */
static json_t *
audit_checkpoint_details(const struct store_checkpoint *cp,
    const struct audit_stamp *st, const char *tst_error)
{
	json_t *d = NULL;
	char *hex = NULL, *tst_hex = NULL;
	uint8_t h[32];
	unsigned int n = 0;

	if ((hex = gp_hex(cp->hash, 32)) == NULL)
		goto out;
	d = json_pack("{s:I, s:s}", "seq", (json_int_t)cp->seq, "hash", hex);
	if (d == NULL)
		goto out;
	if (cp->tst != NULL) {
		if (!EVP_Digest(cp->tst, cp->tst_len, h, &n, EVP_sha256(),
		    NULL) || (tst_hex = gp_hex(h, 32)) == NULL ||
		    json_object_set_new(d, "tst", json_pack("{s:s, s:s}",
		    "serial", st->serial, "sha256", tst_hex)) != 0) {
			json_decref(d);
			d = NULL;
		}
	} else if (tst_error != NULL) {
		if (json_object_set_new(d, "tst_error",
		    json_string(tst_error)) != 0) {
			json_decref(d);
			d = NULL;
		}
	}
out:
	free(hex);
	free(tst_hex);
	return d;
}

int
audit_checkpoint(audit *a, EVP_PKEY *key, int force)
{
	return audit_checkpoint_stamped(a, key, force, NULL, NULL);
}

void
audit_cp_draft_clear(struct audit_cp_draft *d)
{
	if (d == NULL)
		return;
	store_checkpoint_clear(&d->cp);
	free(d->ts.tst);
	memset(d, 0, sizeof(*d));
}

int
audit_cp_draft_sign(struct audit_cp_draft *d, EVP_PKEY *key,
    audit_stamp_fn stamp, void *stamp_arg)
{
	int r = GP_ERR_INTERNAL;

	d->cp.time_ms = gp_now_ms();
	GUARD(audit_chain_sign(key, &d->cp));
	d->stamped = stamp != NULL;
	if (stamp != NULL) {
		gp_err_clear();
		if (stamp(stamp_arg, d->cp.sig, d->cp.sig_len, &d->ts) == 0 &&
		    d->ts.tst != NULL && d->ts.tst_len > 0 &&
		    d->ts.tst_len <= STORE_CP_MAX_TST) {
			d->cp.tst = d->ts.tst;
			d->cp.tst_len = d->ts.tst_len;
			d->ts.tst = NULL; /* transferred */
		} else {
			snprintf(d->tst_error, sizeof(d->tst_error), "%s",
			    gp_err_detail()[0] != '\0' ? gp_err_detail() :
			    "no token");
			gp_log(GP_LOG_WARN, "audit checkpoint: not "
			    "time-stamped: %s", d->tst_error);
		}
	}
	r = 0;
out:
	return r;
}

int
audit_success_tx(audit *a, const char *actor, const char *role,
    const char *op, const char *object, json_t *details)
{
	struct audit_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.actor = actor;
	ev.role = role;
	ev.op = op;
	ev.object = object;
	ev.outcome = "success";
	ev.details = details;
	return audit_append_tx(a, &ev, NULL);
}

int
audit_cp_draft_record_tx(audit *a, struct audit_cp_draft *d, int64_t last_id)
{
	int r = GP_ERR_INTERNAL;
	json_t *details = NULL;
	char object[64];

	d->cp.id = last_id + 1;
	GUARD(store_checkpoint_insert(a->st, &d->cp));
	ENSURE((details = audit_checkpoint_details(&d->cp, &d->ts,
	    d->stamped ? d->tst_error : NULL)) != NULL, GP_ERR_NOMEM);
	snprintf(object, sizeof(object), "checkpoint:%lld",
	    (long long)d->cp.id);
	GUARD(audit_success_tx(a, "govpki", "system", AUDIT_OP_CHECKPOINT,
	    object, details));
	r = 0;
out:
	json_decref(details);
	return r;
}

int
audit_checkpoint_stamped(audit *a, EVP_PKEY *key, int force,
    audit_stamp_fn stamp, void *stamp_arg)
{
	int r = GP_ERR_INTERNAL, rl, idle = 0, in_tx = 0;
	struct audit_cp_draft d;
	struct store_checkpoint last;
	int64_t last_seq = -1;

	memset(&d, 0, sizeof(d));
	memset(&last, 0, sizeof(last));
	ENSURE(a != NULL && key != NULL, GP_ERR_INVALID);

	/* What to seal: a snapshot of the head. Records are never changed
	 * once written, so the head read now may be sealed after more are
	 * appended. */
	GUARD(store_audit_head(a->st, &d.cp.seq, d.cp.hash));
	if (d.cp.seq == 0) {
		r = 0; /* an empty log has nothing to seal */
		goto out;
	}
	rl = store_checkpoint_last(a->st, &last);
	if (rl != 0 && rl != GP_ERR_NOT_FOUND) {
		r = rl;
		goto out;
	}
	if (rl == 0)
		last_seq = last.seq;
	if (!force) {
		GUARD(audit_checkpoint_idle(a->st, d.cp.seq, last_seq, &idle));
		if (idle) {
			r = 0;
			goto out;
		}
	}

	/* Sign and time-stamp without holding the write lock: a token may
	 * take seconds. */
	GUARD(audit_cp_draft_sign(&d, key, stamp, stamp_arg));

	GUARD(store_begin(a->st));
	in_tx = 1;
	/* Another thread or process may have sealed meanwhile. */
	store_checkpoint_clear(&last);
	rl = store_checkpoint_last(a->st, &last);
	if (rl != 0 && rl != GP_ERR_NOT_FOUND) {
		r = rl;
		goto out;
	}
	if (rl == 0 && (last.seq > d.cp.seq ||
	    (!force && last.seq == d.cp.seq))) {
		r = 0; /* covered already; seqs must not go backwards */
		goto out;
	}
	/* Another process or node sharing the store may have changed the
	 * audit key since this one checked it (under the write lock now, so
	 * no change can come between this check and the commit). */
	GUARD(audit_key_still_in_effect(a->st, key));
	GUARD(audit_cp_draft_record_tx(a, &d, rl == 0 ? last.id : 0));
	in_tx = 0;
	GUARD(store_commit(a->st));
	r = 0;
out:
	if (in_tx)
		store_rollback(a->st);
	store_checkpoint_clear(&last);
	audit_cp_draft_clear(&d);
	return r;
}

store *
audit_store(audit *a)
{
	return a->st;
}

void
audit_stats(audit *a, int64_t *out_records, int64_t *out_commits)
{
	pthread_mutex_lock(&a->mu);
	*out_records = a->records;
	*out_commits = a->commits;
	pthread_mutex_unlock(&a->mu);
}

/* Queues a copy of |ev|, after |apply| when given, for the writer to call
 * |fn| once it is durable. */
static int
audit_queue_async(audit *a, const struct audit_event *ev,
    audit_apply_fn apply, void *apply_arg, audit_done_fn fn, void *arg)
{
	int r = GP_ERR_INTERNAL;
	struct audit_req *q = NULL;
	const char *const *src[7];
	const char **dst[7];
	size_t i;

	ENSURE(a != NULL && ev != NULL && fn != NULL, GP_ERR_INVALID);
	ENSURE((q = calloc(1, sizeof(*q))) != NULL, GP_ERR_NOMEM);
	src[0] = &ev->actor, dst[0] = &q->own.actor;
	src[1] = &ev->role, dst[1] = &q->own.role;
	src[2] = &ev->op, dst[2] = &q->own.op;
	src[3] = &ev->object, dst[3] = &q->own.object;
	src[4] = &ev->outcome, dst[4] = &q->own.outcome;
	src[5] = &ev->request_id, dst[5] = &q->own.request_id;
	src[6] = &ev->client, dst[6] = &q->own.client;
	for (i = 0; i < 7; i++) {
		if (*src[i] == NULL)
			continue;
		ENSURE((*dst[i] = strdup(*src[i])) != NULL, GP_ERR_NOMEM);
	}
	/* Encoding happens here, on the caller's thread, not the writer's. */
	GUARD(audit_details_dump(ev->details, &q->details));
	q->ev = &q->own;
	q->fn = fn;
	q->arg = arg;
	q->apply = apply;
	q->apply_arg = apply_arg;

	pthread_mutex_lock(&a->mu);
	if (a->stop) {
		pthread_mutex_unlock(&a->mu);
		r = gp_err_set(GP_ERR_INTERNAL, "audit: log is closing");
		goto out;
	}
	if (a->tail != NULL)
		a->tail->next = q;
	else
		a->head = q;
	a->tail = q;
	q = NULL; /* transferred to the writer */
	pthread_cond_signal(&a->work);
	pthread_mutex_unlock(&a->mu);
	r = 0;
out:
	if (q != NULL)
		audit_req_free(q);
	return r;
}

int
audit_log_async(audit *a, const struct audit_event *ev, audit_done_fn fn,
    void *arg)
{
	return audit_queue_async(a, ev, NULL, NULL, fn, arg);
}

int
audit_apply_async(audit *a, audit_apply_fn apply, void *apply_arg,
    const struct audit_event *ev, audit_done_fn fn, void *arg)
{
	if (apply == NULL)
		return gp_err_set(GP_ERR_INVALID, "audit_apply_async: no "
		    "change");
	return audit_queue_async(a, ev, apply, apply_arg, fn, arg);
}
