/*
 * sig_status_at.c: was a certificate usable at the time of signing (or at
 * a time-stamp's genTime)? The answer comes from the first source that
 * knows the certificate: this instance's store (the same DER under that
 * serial) with its full status history; else a CRL of its issuer given as
 * a file; else, when fetching is on and its path verified, its OCSP
 * responder or CRL distribution point (sig_status.c). Whatever the source,
 * ca_status.c judges it: the store's history event by event, an outside
 * answer as the one event it stands for (a hold or a revocation, with its
 * invalidity date). A time not proven by a time-stamp proves nothing
 * earlier than now, so the status is then judged at the present time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "ca/ca.h"
#include "signer/internal.h"

#define SIG_REASON_HOLD 6   /* RFC 5280 5.3.1 certificateHold */

int
sig_store_cert(const struct sig_trust *tr, X509 *x, struct store_cert *out)
{
	unsigned char *der = NULL;
	char *serial = NULL;
	int len, r = GP_ERR_INTERNAL;

	memset(out, 0, sizeof(*out));
	ENSURE(tr != NULL && tr->st != NULL && x != NULL,
	    GP_ERR_NOT_FOUND);
	ENSURE((serial = ca_serial_hex(x)) != NULL, GP_ERR_NOMEM);
	GUARD(store_cert_get(tr->st, serial, out));
	/* The same serial from another CA is not this instance's. */
	ENSURE((len = i2d_X509(x, &der)) > 0 && (size_t)len == out->der_len &&
	    memcmp(der, out->der, out->der_len) == 0,
	    gp_err_set(GP_ERR_NOT_FOUND, "certificate %s: the store holds "
	    "another certificate under this serial", serial));
	r = 0;
out:
	if (r != 0)
		store_cert_clear(out);
	OPENSSL_free(der);
	free(serial);
	return r;
}

/* Why no source knew the status when nothing was fetched: fetching is
 * off, or the path did not verify. */
static void
sig_status_why(const struct sig_trust *tr, X509 *issuer,
    const struct sig_when *w, struct sig_status *ss)
{
	char crls[128];

	if (tr->crls != NULL && sk_X509_CRL_num(tr->crls) > 0 && issuer != NULL)
		snprintf(crls, sizeof(crls), "no given CRL of its issuer "
		    "covers %s", w->label);
	else
		snprintf(crls, sizeof(crls), "no CRL or OCSP answer for its "
		    "issuer was given");
	/* Say fetching is off only when it is. */
	snprintf(ss->why, sizeof(ss->why), "not issued by this instance, and "
	    "%s (%s)", crls, !tr->fetch ? "online fetching is off: --fetch, "
	    "or verify.fetch_revocation in govpki.json" : "online fetching "
	    "is on, but never for a certificate whose path to a trust anchor "
	    "did not verify");
}

/* What sig_status_one() found besides its verdict. */
struct sig_found {
	char source[300];           /* the source's name, "" when none */
	int64_t later;              /* held or revoked after the time: since
	                             * when; -1 */
	int revoked;                /* revoked at any time */
	int reason;                 /* its CRLReason, -1 */
};

/* The status of |x| (issued by |issuer|, the next certificate of the
 * verified |chain|; both NULL when the path did not verify) at |w|, with
 * what was found in |f|. */
static int
sig_status_one(const struct sig_vctx *vc, STACK_OF(X509) *chain, X509 *x,
    X509 *issuer, const struct sig_when *w, struct sig_found *f)
{
	const struct sig_trust *tr = vc->tr;
	struct store_cert sc;
	struct sig_status ss;
	struct ca_status_at at;
	struct store_status_event ev;
	char *serial = NULL, judged[600], when[32];
	int64_t t = w->proven ? w->t : vc->now;
	int i, r = GP_ERR_INTERNAL;

	memset(f, 0, sizeof(*f));
	f->later = -1;
	f->reason = -1;
	memset(&sc, 0, sizeof(sc));
	memset(&ss, 0, sizeof(ss));
	ss.reason = -1;
	ca_status_begin(&at, t);
	ENSURE((serial = ca_serial_hex(x)) != NULL, GP_ERR_NOMEM);
	r = sig_store_cert(tr, x, &sc);
	if (r == 0) {
		snprintf(f->source, sizeof(f->source), "store");
		r = ca_status_at(tr->st, serial, t, &at);
	} else if (r == GP_ERR_NOT_FOUND) {
		for (i = 0; tr->crls != NULL && issuer != NULL &&
		    i < sk_X509_CRL_num(tr->crls); i++) {
			if (sig_status_crl(sk_X509_CRL_value(tr->crls, i), x,
			    issuer, w->proven ? w->t : -1, &ss)) {
				snprintf(ss.source, sizeof(ss.source),
				    "crl file");
				break;
			}
		}
		if (ss.state == SIG_ST_UNKNOWN && tr->fetch && issuer != NULL &&
		    chain != NULL)
			sig_status_fetch(tr, chain, x, issuer, w->proven ? w->t :
			    -1, &ss);
		else if (ss.state == SIG_ST_UNKNOWN)
			sig_status_why(tr, issuer, w, &ss);
		ENSURE(ss.state != SIG_ST_UNKNOWN, gp_err_set(GP_ERR_NOT_FOUND,
		    "status unknown: %s", ss.why));
		snprintf(f->source, sizeof(f->source), "%s", ss.source);
		/* The one event the answer stands for. */
		r = 0;
		if (ss.state == SIG_ST_REVOKED) {
			memset(&ev, 0, sizeof(ev));
			ev.id = 1;
			snprintf(ev.change, sizeof(ev.change), "%s", ss.reason ==
			    SIG_REASON_HOLD ? STORE_CHANGE_HOLD :
			    STORE_CHANGE_REVOKE);
			ev.time = ss.rev_time;
			ev.reason = ss.reason;
			ev.invalidity_date = ss.invalidity_date;
			r = ca_status_step(&at, &ev);
		}
		if (r == 0)
			r = ca_status_end(&at, serial);
	}
	f->revoked = at.revoked;
	f->reason = at.reason;
	if (r == 0) {
		/* Usable then; held or revoked since. */
		f->later = at.held ? at.held_since : at.revoked ?
		    at.revoked_at : -1;
		goto out;
	}
	if (r != GP_ERR_CONFLICT)
		goto out;
	snprintf(judged, sizeof(judged), "%s", gp_err_detail());
	ca_time_iso(t, when, sizeof(when));
	if (w->proven)
		r = gp_err_set(GP_ERR_CONFLICT, "%s, %s %s %s proven by the "
		    "time-stamp (source: %s)", judged, at.state == CA_AT_HELD &&
		    at.until != 0 ? "which covers" : "not after", w->label,
		    when, f->source);
	else
		r = gp_err_set(GP_ERR_CONFLICT, "%s; %s is unproven (no valid "
		    "time-stamp), so the status at the present time %s counts "
		    "(source: %s)", judged, w->label, when, f->source);
out:
	ERR_clear_error();
	store_cert_clear(&sc);
	free(serial);
	return r;
}

void
sig_status_path(const struct sig_vctx *vc, STACK_OF(X509) *chain,
    X509 *x, const struct sig_when *w, struct sig_path_status *out)
{
	struct sig_found f;
	int j, n, r;

	memset(out, 0, sizeof(*out));
	out->ca.r = SIG_CK_NOT_RUN;
	n = chain != NULL ? sk_X509_num(chain) : 0;
	r = sig_status_one(vc, chain, x, n > 1 ? sk_X509_value(chain, 1) :
	    NULL, w, &f);
	sig_ck_set(&out->leaf, r);
	snprintf(out->source, sizeof(out->source), "%s", f.source);
	out->later = f.later;
	out->revoked = f.revoked;
	out->reason = f.reason;
	/* The CAs between |x| and the anchor: a known bad status fails the
	 * path; an unknown one does not (a CA's status is often not
	 * published to relying parties). */
	for (j = 1; j + 1 < n; j++) {
		r = sig_status_one(vc, chain, sk_X509_value(chain, j),
		    sk_X509_value(chain, j + 1), w, &f);
		if (r == GP_ERR_NOT_FOUND)
			continue;
		if (f.source[0] != '\0' &&
		    out->ca_sources_len < SIG_MAX_CA_SOURCES)
			snprintf(out->ca_sources[out->ca_sources_len++],
			    sizeof(out->ca_sources[0]), "%s", f.source);
		if (out->ca.r == SIG_CK_NOT_RUN || (out->ca.r == 0 && r != 0))
			sig_ck_set(&out->ca, r);
	}
}
