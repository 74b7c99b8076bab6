/*
 * ca_batch.c: group commit of issuances. Every issued certificate must be
 * durable, with its audit record, before it is returned; one transaction
 * per certificate makes the disk's flush rate the issuance limit, far
 * below the CA key's sign rate. Here concurrent issuers queue their
 * (certificate row, audit record) pairs; one of them, the leader, writes
 * everything queued in one transaction, commits once (one flush), and
 * wakes the others with their results. Nothing returns before the commit
 * that holds it. If the batch fails (a duplicate serial, a full disk), it
 * is rolled back and every item retried alone, so one bad item fails
 * only itself.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/internal.h"

struct ca_batch {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ca_commit *head, *tail;
	int leader;
	store *st;
	audit *a;
};

int
ca_batch_new(store *st, audit *a, struct ca_batch **out)
{
	struct ca_batch *b;

	*out = NULL;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return GP_ERR_NOMEM;
	if (pthread_mutex_init(&b->mu, NULL) != 0) {
		free(b);
		return gp_err_set(GP_ERR_INTERNAL, "ca batch mutex");
	}
	if (pthread_cond_init(&b->cv, NULL) != 0) {
		pthread_mutex_destroy(&b->mu);
		free(b);
		return gp_err_set(GP_ERR_INTERNAL, "ca batch condition");
	}
	b->st = st;
	b->a = a;
	*out = b;
	return 0;
}

void
ca_batch_free(struct ca_batch *b)
{
	if (b == NULL)
		return;
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

/* In the caller's transaction: the writes of one item. */
static int
ca_commit_write(store *st, audit *a, const struct ca_commit *c)
{
	int r;

	if (c->request_id != NULL)
		GUARD(store_request_decide(st, c->request_id, "approved",
		    c->approver, c->sc->serial, c->sc->created_ms));
	GUARD(store_cert_insert(st, c->sc));
	GUARD(audit_append_tx(a, c->ev, NULL));
	r = 0;
out:
	return r;
}

int
ca_commit_one(store *st, audit *a, const struct ca_commit *c)
{
	int r;

	GUARD(store_begin(st));
	r = ca_commit_write(st, a, c);
	if (r != 0) {
		store_rollback(st);
		goto out;
	}
	r = store_commit(st);
out:
	return r;
}

static void
ca_commit_done(struct ca_commit *c, int r)
{
	c->r = r;
	if (r != 0)
		snprintf(c->err, sizeof(c->err), "%s", gp_err_detail());
}

/* The leader's work, without the lock: all of |list| in one transaction,
 * or each alone if that fails. */
static void
ca_batch_run(struct ca_batch *b, struct ca_commit *list)
{
	struct ca_commit *c;
	int r;

	r = store_begin(b->st);
	for (c = list; r == 0 && c != NULL; c = c->next)
		r = ca_commit_write(b->st, b->a, c);
	if (r == 0) {
		r = store_commit(b->st);
		if (r == 0) {
			for (c = list; c != NULL; c = c->next)
				ca_commit_done(c, 0);
			return;
		}
	} else {
		store_rollback(b->st);
	}
	for (c = list; c != NULL; c = c->next)
		ca_commit_done(c, ca_commit_one(b->st, b->a, c));
}

int
ca_batch_commit(struct ca_batch *b, struct ca_commit *c)
{
	struct ca_commit *take;
	int r;

	c->next = NULL;
	c->done = 0;
	c->r = GP_ERR_INTERNAL;
	c->err[0] = '\0';
	pthread_mutex_lock(&b->mu);
	if (b->tail != NULL)
		b->tail->next = c;
	else
		b->head = c;
	b->tail = c;
	while (!c->done) {
		if (b->leader) {
			pthread_cond_wait(&b->cv, &b->mu);
			continue;
		}
		/* Lead: take everything queued so far. */
		b->leader = 1;
		take = b->head;
		b->head = b->tail = NULL;
		pthread_mutex_unlock(&b->mu);
		ca_batch_run(b, take);
		pthread_mutex_lock(&b->mu);
		while (take != NULL) {
			struct ca_commit *next = take->next;
			take->done = 1; /* |take| may be gone once seen */
			take = next;
		}
		b->leader = 0;
		pthread_cond_broadcast(&b->cv);
	}
	r = c->r;
	pthread_mutex_unlock(&b->mu);
	if (r != 0)
		gp_err_set(r, "%s", c->err);
	return r;
}
