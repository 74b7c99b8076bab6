/*
 * tok_probe.c: "does the token still answer?" within a deadline. A real USB
 * key or a network HSM can hang inside a PKCS#11 call, and nothing can
 * cancel a call in progress, so the call runs in a detached helper thread and
 * the caller waits on a condition variable with a deadline. When the
 * deadline passes the caller returns GP_ERR_DEVICE and the helper thread is
 * left behind, blocked in the module; it frees its own state if it ever
 * returns. While such a thread exists tok_ctx_free() does not finalise or
 * unload the module (the thread still points into it): the module is leaked
 * instead, once.
 *
 * The helper uses only the raw function list (C_GetSlotList and
 * C_GetTokenInfo), never libp11's slot lists, so a probe may run while other
 * threads sign.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokens/internal.h"

#define TOK_PROBE_MAX_MS (10 * 60 * 1000)

/* Probe threads that have not returned yet, process-wide. */
static atomic_int tok_probes_running;

struct tok_probe_job {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int refs;               /* the caller and the helper, under |lock| */
	int done;
	int rc;
	char detail[256];
	CK_FUNCTION_LIST *fl;
	char token[64];
};

int
tok_probes_pending(void)
{
	return atomic_load(&tok_probes_running);
}

static void
tok_probe_unref(struct tok_probe_job *job)
{
	int last;

	pthread_mutex_lock(&job->lock);
	last = --job->refs == 0;
	pthread_mutex_unlock(&job->lock);
	if (!last)
		return;
	pthread_cond_destroy(&job->cond);
	pthread_mutex_destroy(&job->lock);
	free(job);
}

static void *
tok_probe_main(void *arg)
{
	struct tok_probe_job *job = arg;
	CK_SLOT_ID id;
	CK_TOKEN_INFO ti;
	CK_RV rv;
	int rc;

	/* C_GetSlotList and C_GetTokenInfo on every slot until the token is
	 * found; then C_GetTokenInfo once more on its slot, the call that a
	 * hung device does not answer. */
	rc = tok_raw_slot_find(job->fl, job->token, NULL, &id);
	if (rc == 0 && (rv = job->fl->C_GetTokenInfo(id, &ti)) != CKR_OK)
		rc = tok_err_ckr(rv, job->token, "C_GetTokenInfo");
	pthread_mutex_lock(&job->lock);
	job->rc = rc;
	if (rc != 0)
		snprintf(job->detail, sizeof(job->detail), "%s",
		    gp_err_detail());
	job->done = 1;
	pthread_cond_signal(&job->cond);
	pthread_mutex_unlock(&job->lock);
	atomic_fetch_sub(&tok_probes_running, 1);
	tok_probe_unref(job);
	return NULL;
}

int
tok_probe(tok_ctx *ctx, const char *token, int timeout_ms)
{
	struct tok_probe_job *job = NULL;
	pthread_condattr_t ca;
	pthread_attr_t ta;
	pthread_t th;
	struct timespec deadline;
	int ca_init = 0, ta_init = 0, started = 0, done, e, rc;
	int r = GP_ERR_INTERNAL;

	ENSURE(ctx != NULL && token != NULL, gp_err_set(GP_ERR_INVALID,
	    "tok_probe: NULL argument"));
	ENSURE(timeout_ms > 0 && timeout_ms <= TOK_PROBE_MAX_MS,
	    gp_err_set(GP_ERR_INVALID, "probe timeout %d ms: must be 1 to %d",
	    timeout_ms, TOK_PROBE_MAX_MS));
	ENSURE(strlen(token) < sizeof(job->token), gp_err_set(GP_ERR_INVALID,
	    "token name too long"));
	ENSURE((job = calloc(1, sizeof(*job))) != NULL, GP_ERR_NOMEM);
	ENSURE(pthread_condattr_init(&ca) == 0, GP_ERR_NOMEM);
	ca_init = 1;
	ENSURE(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0,
	    gp_err_set(GP_ERR_INTERNAL, "probe: monotonic clock"));
	if (pthread_mutex_init(&job->lock, NULL) != 0) {
		free(job);
		job = NULL;
		r = GP_ERR_NOMEM;
		goto out;
	}
	if (pthread_cond_init(&job->cond, &ca) != 0) {
		pthread_mutex_destroy(&job->lock);
		free(job);
		job = NULL;
		r = GP_ERR_NOMEM;
		goto out;
	}
	job->refs = 2;
	job->fl = ctx->fl;
	snprintf(job->token, sizeof(job->token), "%s", token);
	ENSURE(pthread_attr_init(&ta) == 0, GP_ERR_NOMEM);
	ta_init = 1;
	(void)pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
	ENSURE(clock_gettime(CLOCK_MONOTONIC, &deadline) == 0,
	    gp_err_set(GP_ERR_INTERNAL, "probe: clock"));
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	atomic_fetch_add(&tok_probes_running, 1);
	if ((e = pthread_create(&th, &ta, tok_probe_main, job)) != 0) {
		atomic_fetch_sub(&tok_probes_running, 1);
		r = gp_err_set(GP_ERR_INTERNAL, "probe thread: %s",
		    strerror(e));
		goto out;
	}
	started = 1;
	pthread_mutex_lock(&job->lock);
	e = 0;
	while (!job->done && e != ETIMEDOUT)
		e = pthread_cond_timedwait(&job->cond, &job->lock, &deadline);
	done = job->done;
	rc = done ? job->rc : GP_ERR_DEVICE;
	if (done && rc != 0)
		(void)gp_err_set(rc, "%s", job->detail);
	pthread_mutex_unlock(&job->lock);
	ENSURE(done, gp_err_set(GP_ERR_DEVICE, "token %s did "
	    "not answer within %d ms (module %s)", token, timeout_ms,
	    ctx->module_path));
	GUARD(rc);
	r = 0;
out:
	if (ta_init)
		pthread_attr_destroy(&ta);
	if (ca_init)
		pthread_condattr_destroy(&ca);
	if (job != NULL) {
		if (!started) /* the helper's reference too */
			tok_probe_unref(job);
		tok_probe_unref(job);
	}
	return r;
}
