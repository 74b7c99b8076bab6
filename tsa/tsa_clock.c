/*
 * tsa_clock.c: the clock guard. ETSI EN 319 421 (7.7.2, time-stamping
 * clock): "the TSA shall ensure that ... time-stamps are not issued when
 * the clock is outside the declared accuracy". The kernel knows whether an
 * NTP/PTP daemon disciplines the clock and how far off it may be
 * (adjtimex(2): STA_UNSYNC, esterror in microseconds), so every token asks
 * it. And a clock that steps backwards would issue a token dated before an
 * earlier one: the last genTime is kept in memory (under a mutex, so that
 * reading the clock and comparing it is one step), and across restarts and
 * instances sharing the store a durable bound stands for it: no token is
 * issued at or past the bound this process wrote (TSA_BOUND_AHEAD_US ahead
 * of the clock, moved on before the clock reaches it, or first, by the
 * request that finds it reached). Each node sharing a database keeps a
 * bound of its own (its clock is its own; RFC 3161 asks genTime to be
 * right, not ordered across TSA units), and honours the store-wide one
 * older instances wrote. A crash therefore loses nothing: a
 * restart finds the bound above every genTime ever issued, waits for the
 * clock to pass it when it is at most TSA_BOUND_AHEAD_US away (a quick
 * restart), and refuses as "stepped backwards" when the clock is further
 * behind.
 *
 * The test hook (TSA_TEST_CLOCK_ENV) replaces the kernel's answer, so that
 * the refusals can be tested on any machine; it is read once, by the
 * caller, and tsa_new() warns loudly when it is set.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <time.h>

#include "tsa/internal.h"

#define TSA_WARN_EVERY_MS 60000
#define TSA_HOOK_BACKWARDS_US (3600LL * 1000000LL)
/* Attempts at moving the bound before a token is refused. */
#define TSA_BOUND_TRIES 3

static int64_t tsa_clock_now_us(const tsa *t);

int
tsa_clock_kernel_synced(void)
{
	struct timex tx;

	memset(&tx, 0, sizeof(tx)); /* modes 0: read only */
	if (adjtimex(&tx) < 0)
		return 0;
	return (tx.status & STA_UNSYNC) == 0;
}

int
tsa_clock_init(tsa *t, const char *test_clock)
{
	int r = GP_ERR_INTERNAL, i;
	char *val = NULL, *end = NULL;
	const char *key;
	long long v;
	int64_t now;

	t->hook = TSA_HOOK_NONE;
	if (test_clock != NULL) {
		if (strcmp(test_clock, "ok") == 0) {
			t->hook = TSA_HOOK_OK;
		} else if (strcmp(test_clock, "unsync") == 0) {
			t->hook = TSA_HOOK_UNSYNC;
		} else if (strcmp(test_clock, "backwards") == 0) {
			t->hook = TSA_HOOK_BACKWARDS;
		} else if (strncmp(test_clock, "error:", 6) == 0) {
			v = strtoll(test_clock + 6, &end, 10);
			ENSURE(end != test_clock + 6 && *end == '\0' && v >= 0,
			    gp_err_set(GP_ERR_CONFIG, "%s: \"%s\" is not "
			    "error:<microseconds>", TSA_TEST_CLOCK_ENV,
			    test_clock));
			t->hook = TSA_HOOK_ERROR;
			t->hook_error_us = v;
		} else {
			/* A typo must not silently leave the hook off or
			 * on: refuse to start. */
			r = gp_err_set(GP_ERR_CONFIG, "%s: \"%s\" is not ok, "
			    "unsync, error:<us> or backwards",
			    TSA_TEST_CLOCK_ENV, test_clock);
			goto out;
		}
		gp_log(GP_LOG_WARN, "tsa: TEST HOOK %s=%s IS SET: the clock "
		    "guard does not ask the kernel. Never set it in "
		    "production.", TSA_TEST_CLOCK_ENV, test_clock);
	}
	/* This node's bound, and the store-wide one of older instances. */
	for (i = 0; t->st != NULL && i < 2; i++) {
		key = i == 0 ? t->bound_key : TSA_META_LAST;
		if (i == 1 && strcmp(key, t->bound_key) == 0)
			break;
		free(val);
		val = NULL;
		r = store_meta_get(t->st, key, &val);
		if (r == 0) {
			v = strtoll(val, &end, 10);
			ENSURE(end != val && *end == '\0' && v >= 0,
			    gp_err_set(GP_ERR_STORE, "store meta %s: \"%s\" is "
			    "not a time", key, val));
			if (v > t->last_us)
				t->last_us = v;
		} else if (r != GP_ERR_NOT_FOUND) {
			goto out;
		}
	}
	/* A quick restart: the bound is at most one step ahead; wait for
	 * the clock to pass it rather than refuse. Further ahead, the
	 * clock went back: tsa_clock_take() refuses. */
	now = tsa_clock_now_us(t);
	if (t->last_us > now && t->last_us - now <= TSA_BOUND_AHEAD_US) {
		struct timespec ts;
		int64_t wait_us = t->last_us - now + 1000;

		ts.tv_sec = (time_t)(wait_us / 1000000);
		ts.tv_nsec = (long)(wait_us % 1000000) * 1000;
		gp_log(GP_LOG_INFO, "tsa: waiting %lld ms for the clock to "
		    "pass the last time-stamp bound", (long long)(wait_us /
		    1000));
		nanosleep(&ts, NULL);
	}
	r = 0;
out:
	free(val);
	return r;
}

/* The kernel's view, or the hook's. */
static enum tsa_clock
tsa_clock_kernel(const tsa *t, int64_t *out_err_us)
{
	struct timex tx;

	*out_err_us = 0;
	switch (t->hook) {
	case TSA_HOOK_OK:
	case TSA_HOOK_BACKWARDS:
		return TSA_CLOCK_OK;
	case TSA_HOOK_UNSYNC:
		return TSA_CLOCK_UNSYNC;
	case TSA_HOOK_ERROR:
		*out_err_us = t->hook_error_us;
		return t->hook_error_us > t->accuracy_us ? TSA_CLOCK_ERROR :
		    TSA_CLOCK_OK;
	case TSA_HOOK_NONE:
	default:
		break;
	}
	memset(&tx, 0, sizeof(tx));
	if (adjtimex(&tx) < 0 || (tx.status & STA_UNSYNC) != 0)
		return TSA_CLOCK_UNSYNC;
	*out_err_us = (int64_t)tx.esterror;
	return *out_err_us > t->accuracy_us ? TSA_CLOCK_ERROR : TSA_CLOCK_OK;
}

static int64_t
tsa_clock_now_us(const tsa *t)
{
	struct timespec ts;
	int64_t us;

	clock_gettime(CLOCK_REALTIME, &ts);
	us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	if (t->hook == TSA_HOOK_BACKWARDS)
		us -= TSA_HOOK_BACKWARDS_US;
	return us;
}

static void
tsa_clock_why(enum tsa_clock c, int warn, int64_t err_us, int64_t behind_us,
    const tsa *t, char *why, size_t len)
{
	if (why == NULL || len == 0)
		return;
	switch (c) {
	case TSA_CLOCK_OK:
		snprintf(why, len, "ok");
		break;
	case TSA_CLOCK_UNSYNC:
		snprintf(why, len, "clock unsynchronised%s",
		    warn ? " (warn mode)" : "");
		break;
	case TSA_CLOCK_ERROR:
		snprintf(why, len, "clock error %" PRId64 " us above the "
		    "accuracy %" PRId64 " us%s", err_us, t->accuracy_us,
		    warn ? " (warn mode)" : "");
		break;
	case TSA_CLOCK_BACKWARDS:
		snprintf(why, len, "clock stepped backwards %" PRId64 " us "
		    "since the last time-stamp", behind_us);
		break;
	default:
		snprintf(why, len, "clock state unknown");
		break;
	}
}

enum tsa_clock
tsa_clock_state(tsa *t, int *out_refuse, char *why, size_t why_len)
{
	enum tsa_clock c;
	int64_t err_us = 0, now, last;

	c = tsa_clock_kernel(t, &err_us);
	pthread_mutex_lock(&t->clock_mu);
	now = tsa_clock_now_us(t);
	last = t->last_us;
	pthread_mutex_unlock(&t->clock_mu);
	if (now < last)
		c = TSA_CLOCK_BACKWARDS;
	*out_refuse = c == TSA_CLOCK_BACKWARDS ||
	    (c != TSA_CLOCK_OK && !t->warn_mode);
	tsa_clock_why(c, t->warn_mode && c != TSA_CLOCK_BACKWARDS, err_us,
	    last - now, t, why, why_len);
	return c;
}

/* Writes the bound TSA_BOUND_AHEAD_US ahead of |now| unless it is past
 * |need| already (never lowering the stored one, which other instances
 * may rely on). With |wait| 0, skips when another thread is writing. */
static int
tsa_clock_extend(tsa *t, int64_t now, int64_t need, int wait)
{
	int64_t bound = now + TSA_BOUND_AHEAD_US, stored = 0;
	char buf[32], *val = NULL;
	int r;

	if (wait)
		pthread_mutex_lock(&t->bound_mu);
	else if (pthread_mutex_trylock(&t->bound_mu) != 0)
		return 0;
	pthread_mutex_lock(&t->clock_mu);
	r = t->bound_us > need;
	pthread_mutex_unlock(&t->clock_mu);
	if (r) {
		r = 0; /* another thread moved it meanwhile */
		goto out;
	}
	GUARD(store_begin(t->st));
	if (store_meta_get(t->st, t->bound_key, &val) == 0)
		stored = strtoll(val, NULL, 10);
	if (stored < bound) {
		snprintf(buf, sizeof(buf), "%" PRId64, bound);
		if ((r = store_meta_set(t->st, t->bound_key, buf)) != 0) {
			store_rollback(t->st);
			goto out;
		}
	} else {
		bound = stored;
	}
	GUARD(store_commit(t->st));
	pthread_mutex_lock(&t->clock_mu);
	if (bound > t->bound_us)
		t->bound_us = bound;
	pthread_mutex_unlock(&t->clock_mu);
	r = 0;
out:
	pthread_mutex_unlock(&t->bound_mu);
	free(val);
	return r;
}

enum tsa_clock
tsa_clock_take(tsa *t, int64_t *out_us, char *why, size_t why_len)
{
	enum tsa_clock c;
	int64_t err_us = 0, now, behind = 0, mono;
	int warned = 0, tries;

	*out_us = 0;
	c = tsa_clock_kernel(t, &err_us);
	if (c != TSA_CLOCK_OK && !t->warn_mode) {
		tsa_clock_why(c, 0, err_us, 0, t, why, why_len);
		return c;
	}
	for (tries = 0;; tries++) {
		pthread_mutex_lock(&t->clock_mu);
		now = tsa_clock_now_us(t);
		/* ETSI EN 319 421 / RFC 3161 2.4.2 genTime: never a token
		 * dated before one already issued. */
		if (now < t->last_us) {
			behind = t->last_us - now;
			pthread_mutex_unlock(&t->clock_mu);
			tsa_clock_why(TSA_CLOCK_BACKWARDS, 0, 0, behind, t, why,
			    why_len);
			return TSA_CLOCK_BACKWARDS;
		}
		if (t->st == NULL || now < t->bound_us)
			break;
		pthread_mutex_unlock(&t->clock_mu);
		/* Past the durable bound: move it first, or issue nothing
		 * (a restart could not know of this token). */
		if (tries == TSA_BOUND_TRIES || tsa_clock_extend(t, now, now,
		    1) != 0) {
			if (why != NULL && why_len > 0)
				snprintf(why, why_len, "the time-stamp bound "
				    "cannot be stored: %s", gp_err_detail());
			return TSA_CLOCK_UNSTORED;
		}
	}
	t->last_us = now;
	if (c != TSA_CLOCK_OK) {
		mono = gp_mono_ms();
		if (t->warned_mono_ms == 0 ||
		    mono - t->warned_mono_ms >= TSA_WARN_EVERY_MS) {
			t->warned_mono_ms = mono;
			warned = 1;
		}
	}
	pthread_mutex_unlock(&t->clock_mu);
	if (warned) {
		char text[160];

		tsa_clock_why(c, 1, err_us, 0, t, text, sizeof(text));
		gp_log(GP_LOG_WARN, "tsa: issuing although the %s: set "
		    "tsa.clock_check to \"strict\" once the clock is "
		    "synchronised", text);
	}
	*out_us = now;
	tsa_clock_why(TSA_CLOCK_OK, 0, 0, 0, t, why, why_len);
	return TSA_CLOCK_OK;
}

void
tsa_clock_persist(tsa *t)
{
	int64_t last, bound;

	if (t->st == NULL)
		return;
	pthread_mutex_lock(&t->clock_mu);
	last = t->last_us;
	bound = t->bound_us;
	pthread_mutex_unlock(&t->clock_mu);
	if (last + TSA_BOUND_REFRESH_US < bound)
		return;
	if (tsa_clock_extend(t, last, last + TSA_BOUND_REFRESH_US, 0) != 0)
		gp_log(GP_LOG_WARN, "tsa: cannot move the genTime bound: %s",
		    gp_err_detail());
}
