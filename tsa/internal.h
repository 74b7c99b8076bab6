/*
 * internal.h: what the files of tsa/ share. struct tsa is written by
 * tsa_new() and only read afterwards, except the clock state under
 * |clock_mu| and the persistence flag.
 */
#ifndef GOVPKI_TSA_INTERNAL_H
#define GOVPKI_TSA_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "tsa/tsa.h"

/* The store meta key of the last genTime (Unix microseconds, decimal). */
#define TSA_META_LAST "tsa.last_gentime_us"
/* How often (at most) the last genTime is written to the store. */
#define TSA_PERSIST_MS 1000

enum tsa_hook {
	TSA_HOOK_NONE = 0,
	TSA_HOOK_OK,
	TSA_HOOK_UNSYNC,
	TSA_HOOK_ERROR,
	TSA_HOOK_BACKWARDS
};

#define TSA_MAX_POLICIES 17

struct tsa {
	const struct gp_config *cfg;
	EVP_PKEY *key;
	X509 *cert;
	STACK_OF(X509) *chain;
	const EVP_MD *sign_md;
	ASN1_OBJECT *policy[TSA_MAX_POLICIES]; /* [0] is the default */
	size_t policy_len;
	size_t max_request;
	int warn_mode;                /* tsa.clock_check "warn" */
	int64_t accuracy_us;          /* declared accuracy */
	store *st;
	/* The clock guard. */
	enum tsa_hook hook;
	int64_t hook_error_us;
	pthread_mutex_t clock_mu;
	int64_t last_us;              /* last genTime issued or loaded */
	int64_t persisted_us;         /* last value written to the store */
	int64_t persist_mono_ms;
	int64_t warned_mono_ms;       /* warn mode: last warning logged */
	atomic_int persisting;
};

/* tsa_clock.c */
int tsa_clock_init(tsa *t, const char *test_clock) GP_WUR;
/* Takes the time for one token: on success (0) *out_us is the genTime,
 * not earlier than any genTime before it, and becomes the new last one.
 * When the guard refuses, returns the state and writes the reason. */
enum tsa_clock tsa_clock_take(tsa *t, int64_t *out_us, char *why,
    size_t why_len);
/* Writes the last genTime to the store when TSA_PERSIST_MS passed since the
 * last write (or |force|); one thread at a time, the others skip. */
void tsa_clock_persist(tsa *t, int force);

#endif /* GOVPKI_TSA_INTERNAL_H */
