/*
 * srv_peer.c: what the server remembers per client address, in a table of
 * bounded size:
 *
 *   - refusals of anonymous requests on the public listener (malformed
 *     OCSP and TSA requests, unknown paths and methods, oversize bodies,
 *     requests cut off at their deadline), counted per address and minute
 *     and written as one aggregated audit record ("http.refused") per
 *     address and minute, so that junk cannot grow the audit log faster
 *     than one record per address a minute. The counts of a minute are
 *     written once it has ended (srv_peers_flush from the guard thread)
 *     and at shutdown; they are in memory until then, so a crash loses at
 *     most the current minute's counts (never a signature's record: those
 *     are written one by one before the answer leaves);
 *   - a token bucket per address for OCSP answers signed for a nonce:
 *     srv_peers_nonce_ok() says whether the address may have one more.
 *
 * At most SRV_PEER_MAX addresses are tracked; refusals and nonce requests
 * from further addresses share one entry, client "*", until entries free
 * up (an entry is dropped once its counts are written and its bucket is
 * full again). Every function takes the time as an argument, so that the
 * tests drive the clock; the server passes gp_now_ms().
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/internal.h"

#define SRV_PEER_BUCKETS 1024u   /* power of two */

static const char *const srv_refusal_names[SRV_REFUSALS] = {
	[SRV_REFUSED_HTTP_400] = "http.400",
	[SRV_REFUSED_HTTP_404] = "http.404",
	[SRV_REFUSED_HTTP_405] = "http.405",
	[SRV_REFUSED_HTTP_413] = "http.413",
	[SRV_REFUSED_HTTP_OTHER] = "http.other",
	[SRV_REFUSED_DEADLINE] = "http.deadline",
	[SRV_REFUSED_OCSP_MALFORMED] = "ocsp.malformedRequest",
	[SRV_REFUSED_TSA_BAD_ALG] = "tsa.badAlg",
	[SRV_REFUSED_TSA_BAD_REQUEST] = "tsa.badRequest",
	[SRV_REFUSED_TSA_BAD_DATA_FORMAT] = "tsa.badDataFormat",
	[SRV_REFUSED_TSA_UNACCEPTED_POLICY] = "tsa.unacceptedPolicy",
	[SRV_REFUSED_TSA_UNACCEPTED_EXTENSION] = "tsa.unacceptedExtension",
	[SRV_REFUSED_TSA_ADD_INFO] = "tsa.addInfoNotAvailable",
};

/* The counts of one address for one minute. */
struct srv_tally {
	struct srv_tally *next;
	char client[64];
	int64_t minute;                 /* Unix minutes */
	uint64_t total;
	uint64_t counts[SRV_REFUSALS];
};

struct srv_peer {
	struct srv_peer *next;
	struct srv_tally t;             /* the current minute's counts */
	double tokens;                  /* nonce answers left */
	int64_t tokens_at_ms;
};

struct srv_peers {
	pthread_mutex_t mu;
	double rate;                    /* tokens per second; 0: no limit */
	double burst;
	size_t max;
	size_t n;
	struct srv_peer *bucket[SRV_PEER_BUCKETS];
	struct srv_peer other;          /* "*": addresses beyond |max| */
	/* Minutes that ended before srv_peers_flush took them: a refusal
	 * from an address whose entry held an older minute moves it here. */
	struct srv_tally *ended;
};

const char *
srv_refusal_name(enum srv_refusal k)
{
	if ((unsigned int)k >= SRV_REFUSALS)
		return "unknown";
	return srv_refusal_names[k];
}

int
srv_refusal_of_status(unsigned int status)
{
	switch (status) {
	case 400:
		return SRV_REFUSED_HTTP_400;
	case 404:
		return SRV_REFUSED_HTTP_404;
	case 405:
		return SRV_REFUSED_HTTP_405;
	case 413:
		return SRV_REFUSED_HTTP_413;
	default:
		return status >= 400 && status < 500 ? SRV_REFUSED_HTTP_OTHER :
		    -1;
	}
}

int
srv_refusal_of_tsa(int fail_bit)
{
	/* The client's own doing. timeNotAvailable and systemFailure say
	 * something about the TSA and stay recorded one by one. */
	switch (fail_bit) {
	case TSA_FAIL_BAD_ALG:
		return SRV_REFUSED_TSA_BAD_ALG;
	case TSA_FAIL_BAD_REQUEST:
		return SRV_REFUSED_TSA_BAD_REQUEST;
	case TSA_FAIL_BAD_DATA_FORMAT:
		return SRV_REFUSED_TSA_BAD_DATA_FORMAT;
	case TSA_FAIL_UNACCEPTED_POLICY:
		return SRV_REFUSED_TSA_UNACCEPTED_POLICY;
	case TSA_FAIL_UNACCEPTED_EXTENSION:
		return SRV_REFUSED_TSA_UNACCEPTED_EXTENSION;
	case TSA_FAIL_ADD_INFO_NOT_AVAILABLE:
		return SRV_REFUSED_TSA_ADD_INFO;
	default:
		return -1;
	}
}

int
srv_peers_new(double nonce_per_s, double nonce_burst, size_t max,
    struct srv_peers **out)
{
	struct srv_peers *p;

	*out = NULL;
	if (nonce_per_s < 0 || nonce_burst < 1 || max == 0)
		return gp_err_set(GP_ERR_INVALID, "srv_peers_new: rate %g, "
		    "burst %g, max %zu", nonce_per_s, nonce_burst, max);
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return GP_ERR_NOMEM;
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		free(p);
		return gp_err_set(GP_ERR_INTERNAL, "srv_peers_new: mutex");
	}
	p->rate = nonce_per_s;
	p->burst = nonce_burst;
	p->max = max;
	snprintf(p->other.t.client, sizeof(p->other.t.client), "*");
	p->other.tokens = nonce_burst;
	*out = p;
	return 0;
}

static void
srv_tallies_free(struct srv_tally *t)
{
	struct srv_tally *next;

	for (; t != NULL; t = next) {
		next = t->next;
		free(t);
	}
}

void
srv_peers_free(struct srv_peers *p)
{
	struct srv_peer *e, *next;
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < SRV_PEER_BUCKETS; i++) {
		for (e = p->bucket[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	srv_tallies_free(p->ended);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static size_t
srv_peer_hash(const char *client)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *client != '\0'; client++)
		h = (h ^ (uint8_t)*client) * 16777619u;
	return h & (SRV_PEER_BUCKETS - 1);
}

/* The entry of |client| (created with a full bucket), or the shared one
 * when the table is full or memory is short. Called locked. */
static struct srv_peer *
srv_peer_get(struct srv_peers *p, const char *client, int64_t now_ms)
{
	size_t h = srv_peer_hash(client);
	struct srv_peer *e;

	for (e = p->bucket[h]; e != NULL; e = e->next) {
		if (strcmp(e->t.client, client) == 0)
			return e;
	}
	if (p->n >= p->max || strlen(client) >= sizeof(e->t.client) ||
	    (e = calloc(1, sizeof(*e))) == NULL)
		return &p->other;
	snprintf(e->t.client, sizeof(e->t.client), "%s", client);
	e->tokens = p->burst;
	e->tokens_at_ms = now_ms;
	e->next = p->bucket[h];
	p->bucket[h] = e;
	p->n++;
	return e;
}

/* Moves the counts of |e| to the ended list when they are of a minute
 * before |minute| (or of any minute when |minute| is INT64_MAX). Called
 * locked. */
static void
srv_peer_end_minute(struct srv_peers *p, struct srv_peer *e, int64_t minute)
{
	struct srv_tally *t;

	if (e->t.total == 0 || e->t.minute >= minute)
		return;
	if ((t = malloc(sizeof(*t))) == NULL) {
		/* Keep counting into the old minute rather than lose it. */
		return;
	}
	*t = e->t;
	t->next = p->ended;
	p->ended = t;
	memset(e->t.counts, 0, sizeof(e->t.counts));
	e->t.total = 0;
}

void
srv_peers_refused(struct srv_peers *p, const char *client,
    enum srv_refusal k, int64_t now_ms)
{
	struct srv_peer *e;
	int64_t minute = now_ms / 60000;

	if (p == NULL || (unsigned int)k >= SRV_REFUSALS)
		return;
	pthread_mutex_lock(&p->mu);
	e = srv_peer_get(p, client != NULL ? client : "unknown", now_ms);
	srv_peer_end_minute(p, e, minute);
	if (e->t.total == 0)
		e->t.minute = minute;
	e->t.counts[k]++;
	e->t.total++;
	pthread_mutex_unlock(&p->mu);
}

int
srv_peers_nonce_ok(struct srv_peers *p, const char *client, int64_t now_ms)
{
	struct srv_peer *e;
	double dt;
	int ok;

	if (p == NULL || p->rate <= 0)
		return 1;
	pthread_mutex_lock(&p->mu);
	e = srv_peer_get(p, client != NULL ? client : "unknown", now_ms);
	/* Token bucket: |rate| tokens a second up to |burst|; a clock that
	 * steps back refills nothing. */
	dt = now_ms > e->tokens_at_ms ? (double)(now_ms - e->tokens_at_ms) /
	    1000.0 : 0.0;
	e->tokens += dt * p->rate;
	if (e->tokens > p->burst)
		e->tokens = p->burst;
	e->tokens_at_ms = now_ms;
	ok = e->tokens >= 1.0;
	if (ok)
		e->tokens -= 1.0;
	pthread_mutex_unlock(&p->mu);
	return ok;
}

/* Takes every tally of a minute before |minute| (all of them when
 * |minute| is INT64_MAX) and drops entries with nothing left to remember:
 * no counts and a full bucket. Called locked. */
static struct srv_tally *
srv_peers_take(struct srv_peers *p, int64_t minute, int64_t now_ms)
{
	struct srv_peer **pe, *e;
	struct srv_tally *out;
	size_t i;
	double tokens;

	for (i = 0; i < SRV_PEER_BUCKETS; i++) {
		for (pe = &p->bucket[i]; (e = *pe) != NULL;) {
			srv_peer_end_minute(p, e, minute);
			tokens = e->tokens + (now_ms > e->tokens_at_ms ?
			    (double)(now_ms - e->tokens_at_ms) / 1000.0 *
			    p->rate : 0.0);
			if (e->t.total == 0 && (p->rate <= 0 ||
			    tokens >= p->burst)) {
				*pe = e->next;
				free(e);
				p->n--;
				continue;
			}
			pe = &e->next;
		}
	}
	srv_peer_end_minute(p, &p->other, minute);
	out = p->ended;
	p->ended = NULL;
	return out;
}

static json_t *
srv_tally_details(const struct srv_tally *t)
{
	json_t *d, *kinds;
	char minute[32];
	time_t secs = (time_t)(t->minute * 60);
	struct tm tm;
	size_t i;

	gmtime_r(&secs, &tm);
	strftime(minute, sizeof(minute), "%Y-%m-%dT%H:%MZ", &tm);
	if ((kinds = json_object()) == NULL)
		return NULL;
	for (i = 0; i < SRV_REFUSALS; i++) {
		if (t->counts[i] > 0 && json_object_set_new(kinds,
		    srv_refusal_names[i], json_integer((json_int_t)
		    t->counts[i])) != 0) {
			json_decref(kinds);
			return NULL;
		}
	}
	d = json_pack("{s:s, s:I, s:o}", "minute", minute, "count",
	    (json_int_t)t->total, "kinds", kinds);
	return d;
}

/* The writer's report on an aggregated record written asynchronously. */
static void
srv_peers_logged(void *arg, int r)
{
	(void)arg;
	if (r != 0)
		gp_log(GP_LOG_ERROR, "audit: cannot write the aggregated "
		    "refusals of a minute: %s", gp_err_detail());
}

int
srv_peers_flush(struct srv_peers *p, audit *a, int64_t now_ms, int all,
    int sync)
{
	struct srv_tally *list, *t;
	struct audit_event ev;
	json_t *d;
	int r = 0, rt;

	if (p == NULL)
		return 0;
	pthread_mutex_lock(&p->mu);
	list = srv_peers_take(p, all ? INT64_MAX : now_ms / 60000, now_ms);
	pthread_mutex_unlock(&p->mu);
	for (t = list; t != NULL; t = t->next) {
		memset(&ev, 0, sizeof(ev));
		ev.op = "http.refused";
		ev.outcome = "denied";
		ev.client = t->client;
		d = srv_tally_details(t);
		ev.object = d != NULL ? json_string_value(json_object_get(d,
		    "minute")) : NULL;
		ev.details = d;
		if (d == NULL)
			rt = GP_ERR_NOMEM;
		else if (sync)
			rt = audit_log(a, &ev);
		else
			rt = audit_log_async(a, &ev, srv_peers_logged, NULL);
		if (rt != 0) {
			/* At least the request log keeps the numbers. */
			gp_log(GP_LOG_ERROR, "audit: lost the record of %" PRIu64
			    " refused requests from %s in minute %" PRId64 ": %s",
			    t->total, t->client, t->minute, gp_err_detail());
			if (r == 0)
				r = rt;
		}
		json_decref(d);
	}
	srv_tallies_free(list);
	return r;
}
