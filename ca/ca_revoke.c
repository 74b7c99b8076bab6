/*
 * ca_revoke.c: certificate status changes by a security officer. The
 * state machine is
 *
 *   good --hold--> hold --release--> good
 *   good, hold --revoke--> revoked   (final)
 *
 * Each change is read, checked and written with its audit record inside
 * one store transaction (the write lock is taken first), so two officers
 * acting on one certificate at once are serialised and the second sees
 * the first's result. The store keeps every change in the certificate's
 * status history (store_cert_status_change), from which ca_status.c
 * judges the status at any past time. OCSP reads the store on every
 * request, so a change shows there at once, and in the next CRL.
 *
 * Revoking either certificate of a pair (a signing certificate and its
 * encryption twin, kmc/) revokes the other in the same transaction.
 *
 * Revoking a held certificate keeps the hold's start as the revocation
 * time: RFC 5280 5.3.1 makes certificateHold a revocation reason, so the
 * certificate has been revoked since the hold began, and OCSP, the CRLs
 * and verification all say so (a signature made while it was held is
 * not made valid by revoking it later).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca/internal.h"

#define CA_REASON_HOLD 6
#define CA_REASON_REMOVE 8

/* The names are core's (gp_crl_reason_name), the one table of RFC 5280
 * 5.3.1 CRLReason. */
int
ca_reason_code(const char *name)
{
	return gp_crl_reason_code(name);
}

const char *
ca_reason_name(int code)
{
	return gp_crl_reason_name(code);
}

enum ca_change { CA_REVOKE, CA_HOLD, CA_RELEASE };

/* In the transaction of |serial|'s revocation: revokes the other
 * certificate of its pair (a signing certificate and its encryption
 * twin, kmc/), if any and not revoked yet, with the same reason and
 * invalidity date, its own status history event and "cert.revoke"
 * record naming the revocation that caused it. One USB key holds both
 * keys: when it is lost or its holder leaves, both go. */
static int
ca_revoke_twin_tx(const struct ca_ctx *ca, const struct ca_actor *who,
    const char *serial, int reason, int64_t invalidity_date, int64_t now)
{
	struct store_pair pair;
	struct store_cert_state cs;
	struct store_status_change sc;
	struct audit_event ev;
	json_t *details = NULL;
	const char *twin;
	int64_t at;
	int r;

	memset(&pair, 0, sizeof(pair));
	r = store_pair_get(ca->st, serial, &pair);
	if (r == GP_ERR_NOT_FOUND) {
		r = 0;
		goto out;
	}
	GUARD(r);
	twin = strcmp(pair.signing, serial) == 0 ? pair.encryption :
	    pair.signing;
	GUARD(store_cert_state_get(ca->st, twin, &cs));
	if (strcmp(cs.status, "revoked") == 0) {
		r = 0;
		goto out;
	}
	at = strcmp(cs.status, "hold") == 0 && cs.revoked_at > 0 ?
	    cs.revoked_at : now;
	ENSURE((details = json_pack("{s:s, s:s, s:s, s:I, s:s}", "from",
	    cs.status, "to", "revoked", "reason", ca_reason_name(reason),
	    "time", (json_int_t)at, "with", serial)) != NULL, GP_ERR_NOMEM);
	if (invalidity_date > 0)
		json_object_set_new(details, "invalidity_date",
		    json_integer(invalidity_date));
	memset(&sc, 0, sizeof(sc));
	sc.serial = twin;
	sc.change = STORE_CHANGE_REVOKE;
	sc.time = at;
	sc.reason = reason;
	sc.invalidity_date = invalidity_date;
	sc.actor = who->actor;
	GUARD(store_cert_status_change(ca->st, &sc));
	ca_event(&ev, who, "cert.revoke", twin, "success", details);
	GUARD(audit_append_tx(ca->audit, &ev, NULL));
	r = 0;
out:
	json_decref(details);
	store_pair_clear(&pair);
	return r;
}

static int
ca_status_change(const struct ca_ctx *ca, const struct ca_actor *who,
    const char *serial, enum ca_change change, int reason,
    int64_t invalidity_date)
{
	static const char *const ops[] = {"cert.revoke", "cert.hold",
	    "cert.release"};
	static const char *const changes[] = {STORE_CHANGE_REVOKE,
	    STORE_CHANGE_HOLD, STORE_CHANGE_RELEASE};
	struct store_status_change sc;
	struct store_cert_state cs;
	struct audit_event ev;
	json_t *details = NULL;
	const char *op = ops[change], *to;
	int64_t now = (int64_t)time(NULL), at = 0;
	int r = GP_ERR_INTERNAL, in_tx = 0, rsn = -1;

	ENSURE(ca != NULL && who != NULL && serial != NULL,
	    gp_err_set(GP_ERR_INVALID, "serial: required"));
	GUARD(store_begin(ca->st));
	in_tx = 1;
	r = store_cert_state_get(ca->st, serial, &cs);
	if (r == GP_ERR_NOT_FOUND)
		r = gp_err_set(GP_ERR_NOT_FOUND, "serial %.72s: not a "
		    "certificate of this instance", serial);
	GUARD(r);
	switch (change) {
	case CA_REVOKE:
		ENSURE(strcmp(cs.status, "revoked") != 0,
		    gp_err_set(GP_ERR_CONFLICT, "serial %s: already revoked "
		    "(reason %s); revocation is final", serial,
		    ca_reason_name(cs.reason) ? ca_reason_name(cs.reason) :
		    "unspecified"));
		/* RFC 5280 5.3.1: certificateHold is what hold does, and
		 * removeFromCRL only appears in delta CRLs. */
		ENSURE(reason >= 0 && ca_reason_name(reason) != NULL &&
		    reason != CA_REASON_HOLD && reason != CA_REASON_REMOVE,
		    gp_err_set(GP_ERR_INVALID, "reason: an RFC 5280 CRLReason "
		    "other than certificateHold and removeFromCRL (use hold "
		    "for a suspension)"));
		/* RFC 5280 5.3.2: the invalidity date is when the key was,
		 * or is suspected to have been, compromised: not later than
		 * now. */
		ENSURE(invalidity_date == 0 || (invalidity_date > 0 &&
		    invalidity_date <= now), gp_err_set(GP_ERR_INVALID,
		    "invalidity_date: must be in the past"));
		to = "revoked";
		/* A held certificate is revoked since its hold began. */
		at = strcmp(cs.status, "hold") == 0 && cs.revoked_at > 0 ?
		    cs.revoked_at : now;
		rsn = reason;
		break;
	case CA_HOLD:
		ENSURE(strcmp(cs.status, "good") == 0,
		    gp_err_set(GP_ERR_CONFLICT, "serial %s: is %s; only a good "
		    "certificate can be put on hold%s", serial, cs.status,
		    strcmp(cs.status, "revoked") == 0 ? " (already revoked)" :
		    ""));
		to = "hold";
		at = now;
		rsn = CA_REASON_HOLD;
		invalidity_date = 0;
		break;
	case CA_RELEASE:
		ENSURE(strcmp(cs.status, "hold") == 0,
		    gp_err_set(GP_ERR_CONFLICT, "serial %s: is %s; only a held "
		    "certificate can be released%s", serial, cs.status,
		    strcmp(cs.status, "revoked") == 0 ? " (already revoked)" :
		    ""));
		to = "good";
		at = now;
		invalidity_date = 0;
		break;
	default:
		ENSURE(0, GP_ERR_INTERNAL);
	}
	ENSURE((details = json_pack("{s:s, s:s}", "from", cs.status, "to",
	    to)) != NULL, GP_ERR_NOMEM);
	if (rsn >= 0)
		json_object_set_new(details, "reason",
		    json_string(ca_reason_name(rsn)));
	if (invalidity_date > 0)
		json_object_set_new(details, "invalidity_date",
		    json_integer(invalidity_date));
	/* The time it takes effect: the revocation time of a held one is
	 * the hold's start, so the record says both. */
	json_object_set_new(details, "time", json_integer(at));
	memset(&sc, 0, sizeof(sc));
	sc.serial = serial;
	sc.change = changes[change];
	sc.time = at;
	sc.reason = rsn;
	sc.invalidity_date = invalidity_date;
	sc.actor = who->actor;
	GUARD(store_cert_status_change(ca->st, &sc));
	ca_event(&ev, who, op, serial, "success", details);
	GUARD(audit_append_tx(ca->audit, &ev, NULL));
	/* The encryption twin of a pair goes with it, in this transaction,
	 * its record after this one's. */
	if (change == CA_REVOKE)
		GUARD(ca_revoke_twin_tx(ca, who, serial, rsn, invalidity_date,
		    now));
	in_tx = 0;
	GUARD(store_commit(ca->st));
	r = 0;
out:
	if (in_tx)
		store_rollback(ca->st);
	json_decref(details);
	if (r != 0 && ca != NULL)
		r = ca_audit_refusal(ca, who, op, serial ? serial : "",
		    "failure", r, NULL);
	return r;
}

int
ca_revoke(const struct ca_ctx *ca, const struct ca_actor *who,
    const char *serial, int reason, int64_t invalidity_date)
{
	return ca_status_change(ca, who, serial, CA_REVOKE, reason,
	    invalidity_date);
}

int
ca_hold(const struct ca_ctx *ca, const struct ca_actor *who,
    const char *serial)
{
	return ca_status_change(ca, who, serial, CA_HOLD, -1, 0);
}

int
ca_release(const struct ca_ctx *ca, const struct ca_actor *who,
    const char *serial)
{
	return ca_status_change(ca, who, serial, CA_RELEASE, -1, 0);
}
