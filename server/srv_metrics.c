/*
 * srv_metrics.c: the server's counters and their Prometheus text format.
 * Every counter is a C11 atomic incremented from MHD pool threads (and, for
 * signatures, from whichever handler signed); /metrics reads them without a
 * lock, so a scrape sees each counter consistent but not all of them at one
 * instant, which Prometheus tolerates.
 *
 * Exposed series:
 *   govpki_requests_total{listener,code}
 *   govpki_request_duration_seconds_bucket{listener,le} (+ _sum, _count)
 *   govpki_errors_total{kind}            kind = gp_err_name()
 *   govpki_signatures_total{key}
 *   govpki_in_flight_requests
 *   govpki_audit_records                 highest audit seq
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/internal.h"

#define MET_STATUS_MAX 600 /* statuses 100..599; anything else counts as 0 */
#define MET_KINDS (-GP_ERR_MAX_)
#define MET_KEYS (GP_KEY_COUNT + 1) /* the last is "other" */

static const double met_buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1, 2.5, 5, 10};
#define MET_NBUCKETS (sizeof(met_buckets) / sizeof(met_buckets[0]))

static atomic_uint_fast64_t met_requests[SRV_LISTENERS][MET_STATUS_MAX];
static atomic_uint_fast64_t met_bucket[SRV_LISTENERS][MET_NBUCKETS];
static atomic_uint_fast64_t met_count[SRV_LISTENERS];
static atomic_uint_fast64_t met_sum_us[SRV_LISTENERS];
static atomic_uint_fast64_t met_errors[MET_KINDS];
static atomic_uint_fast64_t met_signatures[MET_KEYS];

const char *
srv_listener_name(enum srv_listener l)
{
	switch (l) {
	case SRV_PUBLIC:
		return "public";
	case SRV_ADMIN:
		return "admin";
	case SRV_EST:
		return "est";
	default:
		return "unknown";
	}
}

void
srv_metrics_request(enum srv_listener l, unsigned int status, double seconds)
{
	size_t i;

	if ((unsigned int)l >= SRV_LISTENERS)
		return;
	if (status >= MET_STATUS_MAX || status < 100)
		status = 0;
	atomic_fetch_add(&met_requests[l][status], 1);
	if (seconds < 0)
		seconds = 0;
	/* Buckets are stored non-cumulative and summed when rendered. */
	for (i = 0; i < MET_NBUCKETS; i++) {
		if (seconds <= met_buckets[i]) {
			atomic_fetch_add(&met_bucket[l][i], 1);
			break;
		}
	}
	atomic_fetch_add(&met_count[l], 1);
	atomic_fetch_add(&met_sum_us[l], (uint_fast64_t)(seconds * 1e6));
}

void
srv_metrics_error(int code)
{
	if (code >= 0 || code <= GP_ERR_MAX_)
		code = GP_ERR_INTERNAL;
	atomic_fetch_add(&met_errors[-code], 1);
}

void
srv_metrics_signature(const char *key)
{
	size_t i;

	for (i = 0; key != NULL && i < GP_KEY_COUNT; i++) {
		if (strcmp(key, gp_key_names[i]) == 0)
			break;
	}
	if (key == NULL)
		i = GP_KEY_COUNT;
	atomic_fetch_add(&met_signatures[i], 1);
}

void
srv_metrics_reset(void)
{
	size_t l, i;

	for (l = 0; l < SRV_LISTENERS; l++) {
		for (i = 0; i < MET_STATUS_MAX; i++)
			atomic_store(&met_requests[l][i], 0);
		for (i = 0; i < MET_NBUCKETS; i++)
			atomic_store(&met_bucket[l][i], 0);
		atomic_store(&met_count[l], 0);
		atomic_store(&met_sum_us[l], 0);
	}
	for (i = 0; i < MET_KINDS; i++)
		atomic_store(&met_errors[i], 0);
	for (i = 0; i < MET_KEYS; i++)
		atomic_store(&met_signatures[i], 0);
}

/* A growing text buffer; |failed| sticks once an append fails. */
struct met_buf {
	char *p;
	size_t len;
	size_t cap;
	int failed;
};

static void met_printf(struct met_buf *b, const char *fmt, ...)
    GP_PRINTF(2, 3);

static void
met_printf(struct met_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *np;
	size_t ncap;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		ncap = b->cap * 2 + (size_t)n;
		np = realloc(b->p, ncap);
		if (np == NULL) {
			b->failed = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

int
srv_metrics_render(int64_t audit_records, int in_flight, char **out,
    size_t *out_len)
{
	struct met_buf b = {NULL, 0, 0, 0};
	int r = GP_ERR_NOMEM;
	size_t l, i;
	uint64_t v, cum;

	*out = NULL;
	*out_len = 0;
	b.cap = 8192;
	b.p = malloc(b.cap);
	ENSURE(b.p != NULL, GP_ERR_NOMEM);
	b.p[0] = '\0';

	met_printf(&b, "# HELP govpki_requests_total HTTP requests answered.\n"
	    "# TYPE govpki_requests_total counter\n");
	for (l = 0; l < SRV_LISTENERS; l++) {
		for (i = 0; i < MET_STATUS_MAX; i++) {
			v = atomic_load(&met_requests[l][i]);
			if (v == 0)
				continue;
			met_printf(&b, "govpki_requests_total{listener=\"%s\","
			    "code=\"%zu\"} %llu\n",
			    srv_listener_name((enum srv_listener)l), i,
			    (unsigned long long)v);
		}
	}

	met_printf(&b, "# HELP govpki_request_duration_seconds Time from "
	    "request headers to response completion.\n"
	    "# TYPE govpki_request_duration_seconds histogram\n");
	for (l = 0; l < SRV_LISTENERS; l++) {
		const char *ln = srv_listener_name((enum srv_listener)l);
		cum = 0;
		for (i = 0; i < MET_NBUCKETS; i++) {
			cum += atomic_load(&met_bucket[l][i]);
			met_printf(&b, "govpki_request_duration_seconds_bucket{"
			    "listener=\"%s\",le=\"%g\"} %llu\n", ln,
			    met_buckets[i], (unsigned long long)cum);
		}
		v = atomic_load(&met_count[l]);
		/* +Inf is the count, so that it is never below a bucket. */
		if (v < cum)
			v = cum;
		met_printf(&b, "govpki_request_duration_seconds_bucket{"
		    "listener=\"%s\",le=\"+Inf\"} %llu\n", ln,
		    (unsigned long long)v);
		met_printf(&b, "govpki_request_duration_seconds_sum{"
		    "listener=\"%s\"} %.6f\n", ln,
		    (double)atomic_load(&met_sum_us[l]) / 1e6);
		met_printf(&b, "govpki_request_duration_seconds_count{"
		    "listener=\"%s\"} %llu\n", ln, (unsigned long long)v);
	}

	met_printf(&b, "# HELP govpki_errors_total Error replies by kind.\n"
	    "# TYPE govpki_errors_total counter\n");
	for (i = 1; i < MET_KINDS; i++) {
		v = atomic_load(&met_errors[i]);
		if (v == 0)
			continue;
		met_printf(&b, "govpki_errors_total{kind=\"%s\"} %llu\n",
		    gp_err_name(-(int)i), (unsigned long long)v);
	}

	met_printf(&b, "# HELP govpki_signatures_total Signatures made, by "
	    "key.\n# TYPE govpki_signatures_total counter\n");
	for (i = 0; i < MET_KEYS; i++) {
		met_printf(&b, "govpki_signatures_total{key=\"%s\"} %llu\n",
		    i < GP_KEY_COUNT ? gp_key_names[i] : "other",
		    (unsigned long long)atomic_load(&met_signatures[i]));
	}

	met_printf(&b, "# HELP govpki_in_flight_requests Requests being "
	    "served.\n# TYPE govpki_in_flight_requests gauge\n"
	    "govpki_in_flight_requests %d\n", in_flight);
	if (audit_records >= 0) {
		met_printf(&b, "# HELP govpki_audit_records Highest audit "
		    "record sequence number.\n"
		    "# TYPE govpki_audit_records gauge\n"
		    "govpki_audit_records %lld\n", (long long)audit_records);
	}
	ENSURE(!b.failed, GP_ERR_NOMEM);
	*out = b.p;
	*out_len = b.len;
	b.p = NULL; /* transferred */
	r = 0;
out:
	free(b.p);
	return r;
}

int
srv_metrics_expiring(store *st, char **text, size_t *len)
{
	static const char fmt[] = "# HELP govpki_certificates_expiring Good "
	    "certificates whose notAfter is within the next 30 days.\n"
	    "# TYPE govpki_certificates_expiring gauge\n"
	    "govpki_certificates_expiring{within=\"30d\"} %lld\n";
	int64_t now = (int64_t)time(NULL), n = 0;
	char *nt;
	int w;

	/* A store that cannot count omits the gauge, not the scrape. */
	if (store_cert_count_expiring(st, now, now + SRV_EXPIRING_S, &n) != 0)
		return 0;
	w = snprintf(NULL, 0, fmt, (long long)n);
	if (w < 0 || (nt = realloc(*text, *len + (size_t)w + 1)) == NULL)
		return GP_ERR_NOMEM;
	snprintf(nt + *len, (size_t)w + 1, fmt, (long long)n);
	*text = nt;
	*len += (size_t)w;
	return 0;
}
