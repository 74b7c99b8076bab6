/*
 * srv_tick.c: a thread that calls one function of the server at a fixed
 * period until it is stopped. The guard (srv_guard_tick: request deadlines,
 * aggregated refusals), the CRL schedule (srv_crl_tick) and the periodic
 * audit checkpoints (srv_main.c, every audit.checkpoint_s) each run on
 * one, so that a CRL generation or a checkpoint waiting for the store
 * (while the audit writer is in a transaction) never delays the cut-off
 * of a slow client, and none keeps the main thread from answering
 * SIGTERM.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/internal.h"

struct srv_ticker {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int stop;
	int64_t period_ms;
	void (*fn)(struct srv *s);
	struct srv *s;
};

static void *
srv_ticker_main(void *arg)
{
	struct srv_ticker *t = arg;
	struct timespec ts;

	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)(t->period_ms / 1000);
		ts.tv_nsec += (long)(t->period_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&t->cv, &t->mu, &ts);
		if (t->stop)
			break;
		pthread_mutex_unlock(&t->mu);
		t->fn(t->s);
		pthread_mutex_lock(&t->mu);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

int
srv_ticker_start(struct srv *s, int64_t period_ms, void (*fn)(struct srv *s),
    const char *what, struct srv_ticker **out)
{
	struct srv_ticker *t;
	int rc;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return gp_err_set(GP_ERR_NOMEM, "server: %s", what);
	t->period_ms = period_ms;
	t->fn = fn;
	t->s = s;
	if (pthread_mutex_init(&t->mu, NULL) != 0) {
		free(t);
		return gp_err_set(GP_ERR_INTERNAL, "server: %s: mutex", what);
	}
	if (pthread_cond_init(&t->cv, NULL) != 0) {
		pthread_mutex_destroy(&t->mu);
		free(t);
		return gp_err_set(GP_ERR_INTERNAL, "server: %s: condition",
		    what);
	}
	if ((rc = pthread_create(&t->thread, NULL, srv_ticker_main, t)) != 0) {
		pthread_cond_destroy(&t->cv);
		pthread_mutex_destroy(&t->mu);
		free(t);
		return gp_err_set(GP_ERR_INTERNAL, "server: cannot start %s: "
		    "%s", what, strerror(rc));
	}
	*out = t;
	return 0;
}

void
srv_ticker_stop(struct srv_ticker *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = 1;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	/* Waits for a call under way. */
	pthread_join(t->thread, NULL);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	free(t);
}
