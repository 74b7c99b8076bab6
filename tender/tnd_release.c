/*
 * tnd_release.c: bidder mode. Each bid is encrypted to its bidder's own
 * enterprise-encryption certificate only, so the platform cannot open it
 * alone: at the opening, a decryption window opens, in which each bidder
 * unwraps its bid's content-encryption key with its USB key and releases
 * it to the platform (signed, and encrypted to the platform's transport
 * certificate); the platform decrypts the stored bid with it and checks
 * its integrity. A bid whose key is not released in the window counts as
 * revoked (Measures for Electronic Bidding art. 31: the bidder's fault).
 */
#include <string.h>

#include "tender/internal.h"

int
tnd_window_open(const struct tender_ctx *tc, const struct ca_actor *who,
    const struct store_tender *t, const struct tnd_events *ev)
{
	json_t *d = NULL;
	int r;

	if (ev->flags & TENDER_EV_WINDOW)
		return 0;
	ENSURE((d = json_pack("{s:I, s:I}", "opens_ms",
	    (json_int_t)ev->approve.time_ms, "closes_ms",
	    (json_int_t)(ev->approve.time_ms + t->window_s * 1000))) != NULL,
	    GP_ERR_NOMEM);
	GUARD(tnd_event_commit(tc, who, t->id, "window_open",
	    ev->approve.time_ms, "tender.window.open", d));
	r = 0;
out:
	json_decref(d);
	return r;
}
