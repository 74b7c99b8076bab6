/*
 * tnd_rules.c: the rules of electronic bidding as pure functions, so that
 * each is tested alone (tests/test_tender.c) and applied in one place:
 * the deadline judged by the time-stamp's time, supersession of a bid by
 * a newer one of the same legal person, the opening time, the outcome of
 * a failed decryption by whose fault it was (Measures for Electronic
 * Bidding, 2013, arts. 28, 29, 31), and a tender's state from its events.
 */
#include <stdio.h>

#include "tender/internal.h"

int
tender_rule_deadline(int64_t arrival_ms, int64_t deadline_ms)
{
	char a[40], d[40];

	/* Art. 28: a bid that arrives after the deadline is refused; the
	 * arrival is the instant the TSA stamped it, so one stamped at the
	 * deadline itself did not arrive before it. */
	if (arrival_ms < deadline_ms)
		return 0;
	tender_time_fmt(arrival_ms, a, sizeof(a));
	tender_time_fmt(deadline_ms, d, sizeof(d));
	return gp_err_set(GP_ERR_CONFLICT, "late: the bid arrived at %s "
	    "(time-stamp), the deadline was %s", a, d);
}

int
tender_rule_supersede(int64_t cur_signing, int64_t new_signing)
{
	/* Art. 29: a bidder may modify its bid before the deadline; the
	 * modification is the bid it signed later. Equal times are allowed
	 * (signing-time has whole seconds); a replay of the same bytes is
	 * refused by its hash (the store). */
	if (cur_signing == 0 || new_signing >= cur_signing)
		return 0;
	return gp_err_set(GP_ERR_CONFLICT, "stale: this bid was signed at "
	    "%lld, before the bid it would supersede (signed at %lld): an "
	    "older version cannot replace a newer one", (long long)
	    new_signing, (long long)cur_signing);
}

int
tender_rule_opening(int64_t now_ms, int64_t opening_ms)
{
	char a[40], d[40];

	if (now_ms >= opening_ms)
		return 0;
	tender_time_fmt(now_ms, a, sizeof(a));
	tender_time_fmt(opening_ms, d, sizeof(d));
	return gp_err_set(GP_ERR_CONFLICT, "too early: the trusted time is %s, "
	    "the opening time is %s; nothing is decrypted before it", a, d);
}

const char *
tender_outcome_name(enum tender_fault f)
{
	switch (f) {
	case TENDER_FAULT_NONE:
		return "opened";
	case TENDER_FAULT_BIDDER:
		/* Art. 31: undecryptable through the bidder's fault. */
		return "revoked";
	case TENDER_FAULT_PLATFORM:
		/* Art. 31: through someone else's fault. */
		return "withdrawn";
	default:
		return "withdrawn";
	}
}

const char *
tender_state_name(enum tender_state s)
{
	switch (s) {
	case TENDER_ACCEPTING:
		return "accepting";
	case TENDER_CLOSED:
		return "closed";
	case TENDER_OPEN_REQUESTED:
		return "opening_requested";
	case TENDER_RELEASING:
		return "key_release";
	case TENDER_OPENED:
		return "opened";
	default:
		return "unknown";
	}
}

enum tender_state
tender_state_of(unsigned int events, int64_t now_ms, int64_t deadline_ms)
{
	if (events & TENDER_EV_OPENED)
		return TENDER_OPENED;
	if (events & TENDER_EV_WINDOW)
		return TENDER_RELEASING;
	if (events & TENDER_EV_REQUEST)
		return TENDER_OPEN_REQUESTED;
	if (now_ms < deadline_ms)
		return TENDER_ACCEPTING;
	return TENDER_CLOSED;
}
