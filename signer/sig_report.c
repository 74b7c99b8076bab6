/*
 * sig_report.c: the JSON report of one verified SignerInfo, written from
 * the results of its checks and the facts they found (struct sig_one),
 * after every check ran. Its fields are those docs/api.md shows for
 * POST /api/v1/verify and `govpki verify --json`: "checks" maps each check
 * run to "ok" or "failed" ("absent" for a signing-certificate attribute
 * that is not there), and "reasons" holds "<check>: <why>" for each
 * failure, in the order the checks ran.
 */
#include <stdio.h>
#include <string.h>

#include "ca/ca.h"
#include "signer/internal.h"

static const char *const sig_ck_names[SIG_CK_COUNT_] = {
	[SIG_CK_STEP] = "step",
	[SIG_CK_CERTIFICATE] = "certificate",
	[SIG_CK_CONTENT_TYPE] = "content_type",
	[SIG_CK_SIGNATURE] = "signature",
	[SIG_CK_MESSAGE_DIGEST] = "message_digest",
	[SIG_CK_SIGNING_CERT] = "signing_certificate",
	[SIG_CK_TIMESTAMP] = "timestamp",
	[SIG_CK_CHAIN] = "chain",
	[SIG_CK_KEY_USAGE] = "key_usage",
	[SIG_CK_STATUS] = "status",
	[SIG_CK_STATUS_CA] = "status_ca",
};

const char *
sig_ck_name(enum sig_ck ck)
{
	return ck >= 0 && ck < SIG_CK_COUNT_ ? sig_ck_names[ck] : "unknown";
}

/* Sets |key| to a string unless |v| is NULL or empty. */
static void
sig_set_str(json_t *obj, const char *key, const char *v)
{
	if (v != NULL && v[0] != '\0')
		json_object_set_new(obj, key, json_string(v));
}

static void
sig_set_time(json_t *obj, const char *key, int64_t t)
{
	char when[32];

	ca_time_iso(t, when, sizeof(when));
	json_object_set_new(obj, key, json_string(when));
}

json_t *
sig_report_signer(const struct sig_one *o)
{
	json_t *obj = json_object(), *checks = json_object(),
	    *reasons = json_array(), *src;
	const struct sig_ck_res *res;
	size_t i;
	int ck;

	if (obj == NULL || checks == NULL || reasons == NULL) {
		json_decref(obj);
		json_decref(checks);
		json_decref(reasons);
		return NULL;
	}
	json_object_set_new(obj, "index", json_integer((json_int_t)o->index));
	sig_set_str(obj, "digest", o->digest);
	sig_set_str(obj, "step", o->step);
	if (o->claimed >= 0)
		sig_set_time(obj, "signing_time", o->claimed);
	if (o->subject != NULL) {
		sig_set_str(obj, "subject", o->subject);
		sig_set_str(obj, "serial", o->serial);
		json_object_set_new(obj, "level", json_string(!o->has_attrs ||
		    !o->ess ? "CMS" : o->has_ts ? "B-T" : "B-B"));
		json_object_set_new(obj, "time_source", json_string(o->time >=
		    0 ? "timestamp" : "claimed"));
		sig_set_time(obj, "time", o->time >= 0 ? o->time : o->claimed);
	}
	if (o->time >= 0) {
		json_t *ts = json_pack("{s:s, s:s, s:s}", "time", o->ts_time,
		    "serial", o->ts_serial, "tsa", o->ts_tsa);

		if (ts != NULL)
			sig_set_str(ts, "status_source", o->ts_source);
		json_object_set_new(obj, "timestamp", ts);
	}
	sig_set_str(obj, "status_source", o->status.source);
	if (o->status.ca_sources_len > 0 &&
	    (src = json_array()) != NULL) {
		for (i = 0; i < o->status.ca_sources_len; i++)
			json_array_append_new(src,
			    json_string(o->status.ca_sources[i]));
		json_object_set_new(obj, "status_ca_sources", src);
	}
	if (o->ck[SIG_CK_STATUS].r == 0 && o->status.later >= 0)
		sig_set_time(obj, "revoked_after_signing", o->status.later);
	sig_set_str(obj, "profile", o->profile);
	for (ck = 0; ck < SIG_CK_COUNT_; ck++) {
		res = &o->ck[ck];
		if (res->r == SIG_CK_NOT_RUN)
			continue;
		if (res->r == 0) {
			json_object_set_new(checks, sig_ck_name(ck), json_string(
			    ck == SIG_CK_SIGNING_CERT && !o->ess ? "absent" :
			    "ok"));
			continue;
		}
		json_object_set_new(checks, sig_ck_name(ck),
		    json_string("failed"));
		json_array_append_new(reasons, json_sprintf("%s: %s",
		    sig_ck_name(ck), res->why));
	}
	json_object_set_new(obj, "checks", checks);
	json_object_set_new(obj, "reasons", reasons);
	json_object_set_new(obj, "valid", json_boolean(o->valid));
	return obj;
}
