/*
 * ca_status.c: whether a certificate could be relied on at a given time,
 * judged from its status history (every hold, release and revocation,
 * oldest first). This is the only place that decides it: verification
 * asks it for signers, their CAs and time-stamp authorities, feeding it
 * the store's history or the single event a CRL entry or an OCSP answer
 * stands for, so every source is judged the same way.
 *
 * The rules, for a time t:
 *   - a hold covers t from its start until its release (or for good when
 *     it is never released: a held certificate later revoked stays
 *     unusable from the hold's start);
 *   - a revocation covers t at and after its revocation time (a held
 *     certificate's revocation time is the hold's start, ca_revoke.c);
 *   - RFC 5280 5.3.2: the invalidity date "provides the date on which it
 *     is known or suspected that the private key was compromised or that
 *     the certificate otherwise became invalid", so a revocation with one
 *     covers t at and after it, even when the revocation came later.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ca/internal.h"

void
ca_time_iso(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t < 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "unknown");
}

void
ca_status_begin(struct ca_status_at *s, int64_t t)
{
	memset(s, 0, sizeof(*s));
	s->t = t;
	s->reason = -1;
}

int
ca_status_step(struct ca_status_at *s, const struct store_status_event *ev)
{
	if (s == NULL || ev == NULL)
		return gp_err_set(GP_ERR_INVALID, "status history: no event");
	s->events++;
	if (s->revoked)
		return gp_err_set(GP_ERR_TAMPERED, "status history event %lld: "
		    "a %s after the revocation, which is final", (long long)
		    ev->id, ev->change);
	if (strcmp(ev->change, STORE_CHANGE_HOLD) == 0) {
		if (s->held)
			return gp_err_set(GP_ERR_TAMPERED, "status history "
			    "event %lld: a hold of a certificate already on "
			    "hold", (long long)ev->id);
		s->held = 1;
		s->held_since = ev->time;
		return 0;
	}
	if (strcmp(ev->change, STORE_CHANGE_RELEASE) == 0) {
		if (!s->held)
			return gp_err_set(GP_ERR_TAMPERED, "status history "
			    "event %lld: a release of a certificate not on "
			    "hold", (long long)ev->id);
		/* The first released hold that covers t is the one named. */
		if (s->hold_until == 0 && s->t >= s->held_since &&
		    s->t < ev->time) {
			s->hold_from = s->held_since;
			s->hold_until = ev->time;
		}
		s->held = 0;
		s->held_since = 0;
		return 0;
	}
	if (strcmp(ev->change, STORE_CHANGE_REVOKE) == 0) {
		/* An unreleased hold stays: the certificate has been
		 * unusable since its start. */
		s->revoked = 1;
		s->revoked_at = ev->time;
		s->reason = ev->reason;
		s->invalidity_date = ev->invalidity_date;
		return 0;
	}
	return gp_err_set(GP_ERR_TAMPERED, "status history event %lld: "
	    "unknown change \"%s\"", (long long)ev->id, ev->change);
}

int
ca_status_end(struct ca_status_at *s, const char *serial)
{
	char a[32], b[32];
	const char *rn = ca_reason_name(s->reason);

	if (serial == NULL)
		serial = "(no serial)";
	if (rn == NULL)
		rn = "no reason given";
	/* RFC 5280 5.3.2: invalid from the invalidity date on. */
	if (s->revoked && s->invalidity_date > 0 &&
	    s->t >= s->invalidity_date) {
		s->state = CA_AT_INVALID;
		s->from = s->invalidity_date;
		ca_time_iso(s->invalidity_date, a, sizeof(a));
		ca_time_iso(s->revoked_at, b, sizeof(b));
		return gp_err_set(GP_ERR_CONFLICT, "certificate %s is invalid "
		    "from %s, the invalidity date of its revocation at %s (%s; "
		    "RFC 5280 5.3.2)", serial, a, b, rn);
	}
	if (s->revoked && s->t >= s->revoked_at) {
		s->state = CA_AT_REVOKED;
		s->from = s->revoked_at;
		ca_time_iso(s->revoked_at, a, sizeof(a));
		return gp_err_set(GP_ERR_CONFLICT, "certificate %s was revoked "
		    "at %s (%s)", serial, a, rn);
	}
	if (s->held && s->t >= s->held_since) {
		s->state = CA_AT_HELD;
		s->from = s->held_since;
		ca_time_iso(s->held_since, a, sizeof(a));
		return gp_err_set(GP_ERR_CONFLICT, "certificate %s is on hold "
		    "(certificateHold) since %s", serial, a);
	}
	if (s->hold_until != 0) {
		s->state = CA_AT_HELD;
		s->from = s->hold_from;
		s->until = s->hold_until;
		ca_time_iso(s->hold_from, a, sizeof(a));
		ca_time_iso(s->hold_until, b, sizeof(b));
		return gp_err_set(GP_ERR_CONFLICT, "certificate %s was on hold "
		    "(certificateHold) from %s until %s", serial, a, b);
	}
	s->state = CA_AT_GOOD;
	return 0;
}

static int
ca_status_fn(void *arg, const struct store_status_event *ev)
{
	return ca_status_step(arg, ev);
}

int
ca_status_at(store *st, const char *serial, int64_t t,
    struct ca_status_at *out)
{
	char why[512];
	int r = GP_ERR_INTERNAL;

	ca_status_begin(out, t);
	ENSURE(st != NULL && serial != NULL, gp_err_set(GP_ERR_INVALID,
	    "status at a time: store and serial required"));
	r = store_cert_history_scan(st, serial, ca_status_fn, out);
	if (r == GP_ERR_TAMPERED) {
		snprintf(why, sizeof(why), "%s", gp_err_detail());
		r = gp_err_set(GP_ERR_TAMPERED, "certificate %s: %s", serial,
		    why);
	}
	GUARD(r);
	r = ca_status_end(out, serial);
out:
	return r;
}
