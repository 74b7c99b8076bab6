/*
 * tnd_create.c: a new tender. The request is checked field by field (each
 * refusal names the field); in platform mode the tender gets its own
 * opening key, generated on the instance token (RSA-2048, CKA_SIGN false,
 * sensitive, non-extractable) and labelled "tender-<id>", and a
 * certificate for it under the issuing CA (keyEncipherment only, its
 * subject naming the tender) that bidders encrypt to; in bidder mode the
 * same for its transport key ("tender-<id>-transport"), to which bidders
 * release their bids' keys at the opening. The certificate
 * row, the tender row and both records commit in one transaction. The
 * agent who creates a tender does not issue certificates at will: the
 * opening certificate is the one the system makes for the tender's key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>

#include "tender/internal.h"

#define TND_WINDOW_DEFAULT_S 3600
#define TND_WINDOW_MAX_S (7 * 24 * 3600)
#define TND_OPENING_CERT_DAYS 365

static int
tnd_field_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > TENDER_MAX_FIELD_NAME || !(s[0] >= 'a' && s[0] <=
	    'z'))
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' &&
		    s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/* An array of distinct names (|check|) or the default |dflt|. */
static int
tnd_names(json_t *req, const char *field, const char *dflt,
    int (*check)(const char *), json_t **out)
{
	json_t *v = json_object_get(req, field), *e;
	size_t i, j;
	int r = GP_ERR_INTERNAL;

	*out = NULL;
	if (v == NULL) {
		*out = json_pack("[s]", dflt);
		return *out != NULL ? 0 : GP_ERR_NOMEM;
	}
	ENSURE(json_is_array(v) && json_array_size(v) >= 1 &&
	    json_array_size(v) <= TENDER_MAX_FIELDS, gp_err_set(
	    GP_ERR_INVALID, "%s: an array of 1 to %d names", field,
	    TENDER_MAX_FIELDS));
	json_array_foreach(v, i, e) {
		ENSURE(json_is_string(e) && check(json_string_value(e)),
		    gp_err_set(GP_ERR_INVALID, "%s[%zu]: a name of a-z, 0-9 "
		    "and _ (at most %d), starting with a letter", field, i,
		    TENDER_MAX_FIELD_NAME));
		for (j = 0; j < i; j++)
			ENSURE(strcmp(json_string_value(json_array_get(v, j)),
			    json_string_value(e)) != 0, gp_err_set(
			    GP_ERR_INVALID, "%s[%zu]: given twice", field, i));
	}
	*out = json_incref(v);
	r = 0;
out:
	return r;
}

static int
tnd_profile_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' &&
		    s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return 0;
	return 1;
}

/* An optional integer field in [min, max], else |dflt|. */
static int
tnd_int(json_t *req, const char *field, int64_t min, int64_t max,
    int64_t dflt, int64_t *out)
{
	json_t *v = json_object_get(req, field);

	*out = dflt;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return gp_err_set(GP_ERR_INVALID, "%s: an integer from %lld to "
		    "%lld", field, (long long)min, (long long)max);
	*out = json_integer_value(v);
	return 0;
}

/* The tender's key on the token and its certificate: the opening key
 * (platform mode, |purpose| "opening") or the transport key bidders
 * release their keys to (bidder mode, "transport"). */
static int
tnd_opening_cert(const struct tender_ctx *tc, const char *id,
    const char *purpose, int64_t opening_ms, X509 **out, char **out_uri)
{
	struct ca_cert_spec spec;
	X509_NAME *name = NULL;
	EVP_PKEY *pub = NULL;
	char label[64], cn[96], *serial = NULL, *crl = NULL, *ocsp = NULL;
	char *ca_url = NULL;
	const ASN1_TIME *na;
	struct tm tm;
	int r;

	*out = NULL;
	*out_uri = NULL;
	ENSURE(tc->tok != NULL && tc->ca_key != NULL, gp_err_set(
	    GP_ERR_LOGIN_REQUIRED, "platform mode: the instance token and "
	    "the issuing CA key are needed for the opening key"));
	snprintf(label, sizeof(label), strcmp(purpose, "opening") == 0 ?
	    "tender-%s" : "tender-%s-transport", id);
	GUARD(tok_keygen_use(tc->tok, tc->token_label, label,
	    TOK_ALGO_RSA_2048, TOK_USE_DECRYPT, &pub));
	ENSURE(asprintf(out_uri, "pkcs11:token=%s;object=%s", tc->token_label,
	    label) > 0, GP_ERR_NOMEM);
	/* The subject names the tender, so a bidder's client can tell one
	 * tender's key from another's (tender_recipients). */
	snprintf(cn, sizeof(cn), "tender %s %s key", id, purpose);
	ENSURE((name = X509_NAME_new()) != NULL &&
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) &&
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	    (const unsigned char *)tc->cfg->instance_name, -1, -1, 0),
	    gp_err_ssl(GP_ERR_CRYPTO, "opening certificate subject"));
	ENSURE(asprintf(&crl, "%s/crl/ca.crl", tc->cfg->public_url) > 0 &&
	    asprintf(&ocsp, "%s/ocsp", tc->cfg->public_url) > 0 &&
	    asprintf(&ca_url, "%s/certs/ca.crt", tc->cfg->public_url) > 0,
	    GP_ERR_NOMEM);
	memset(&spec, 0, sizeof(spec));
	spec.subject = name;
	spec.pubkey = pub;
	spec.issuer_cert = tc->ca;
	spec.issuer_key = tc->ca_key;
	spec.not_before = (int64_t)time(NULL) - 60;
	spec.not_after = opening_ms / 1000 + TND_OPENING_CERT_DAYS * 86400;
	/* RFC 5280 6.1.3 (a)(2): inside the issuer's validity. */
	na = X509_get0_notAfter(tc->ca);
	if (ASN1_TIME_to_tm(na, &tm) && (int64_t)timegm(&tm) < spec.not_after)
		spec.not_after = (int64_t)timegm(&tm);
	spec.path_len = -1;
	/* RFC 5280 4.2.1.3: the key only transports content-encryption
	 * keys (RFC 5652 6.2.1). */
	spec.key_usage = "critical,keyEncipherment";
	spec.crl_url = crl;
	spec.ocsp_url = ocsp;
	spec.ca_issuers_url = ca_url;
	GUARD(ca_cert_sign(&spec, out, &serial));
	r = 0;
out:
	if (r != 0) {
		free(*out_uri);
		*out_uri = NULL;
	}
	X509_NAME_free(name);
	EVP_PKEY_free(pub);
	free(serial);
	free(crl);
	free(ocsp);
	free(ca_url);
	return r;
}

/* The certificate row of |cert| under |profile| ("tender-opening" or
 * "tender-transport"). */
static int
tnd_cert_row(X509 *cert, const char *profile, struct store_cert *sc,
    char **subject, unsigned char **der)
{
	struct tm tm;
	int len;

	memset(sc, 0, sizeof(*sc));
	*subject = NULL;
	*der = NULL;
	if ((sc->serial = ca_serial_hex(cert)) == NULL ||
	    (*subject = X509_NAME_oneline(X509_get_subject_name(cert), NULL,
	    0)) == NULL || (len = i2d_X509(cert, der)) <= 0)
		return GP_ERR_NOMEM;
	sc->subject = *subject;
	sc->issuer = (char *)"ca";
	sc->profile = (char *)profile;
	sc->not_before = ASN1_TIME_to_tm(X509_get0_notBefore(cert), &tm) ?
	    (int64_t)timegm(&tm) : 0;
	sc->not_after = ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) ?
	    (int64_t)timegm(&tm) : 0;
	sc->status = (char *)"good";
	sc->reason = -1;
	sc->created_ms = gp_now_ms();
	sc->der = *der;
	sc->der_len = (size_t)len;
	return 0;
}

/* The tender row, the opening certificate's row and their records. */
static int
tnd_create_commit(const struct tender_ctx *tc, const struct ca_actor *who,
    const struct store_tender *t, X509 *cert)
{
	struct audit_event ev;
	struct store_cert sc;
	char *subject = NULL;
	unsigned char *der = NULL;
	json_t *d = NULL;
	int r, in_tx = 0;

	memset(&sc, 0, sizeof(sc));
	if (cert != NULL)
		GUARD(tnd_cert_row(cert, strcmp(t->mode, "platform") == 0 ?
		    "tender-opening" : "tender-transport", &sc, &subject,
		    &der));
	GUARD(store_begin(tc->st));
	in_tx = 1;
	if (cert != NULL) {
		GUARD(store_cert_insert(tc->st, &sc));
		ENSURE((d = json_pack("{s:s, s:s, s:s, s:s}", "profile",
		    sc.profile, "subject", subject, "issuer", sc.issuer,
		    "tender", t->id)) != NULL, GP_ERR_NOMEM);
		tnd_event_of(&ev, who, "cert.issue", sc.serial, "success", d);
		GUARD(audit_append_tx(tc->audit, &ev, NULL));
		json_decref(d);
		d = NULL;
	}
	GUARD(store_tender_insert(tc->st, t));
	ENSURE((d = json_pack("{s:s, s:s, s:I, s:I, s:s?, s:o}", "title",
	    t->title, "mode", t->mode, "deadline_ms",
	    (json_int_t)t->deadline_ms, "opening_ms",
	    (json_int_t)t->opening_ms, "opening_serial", t->opening_serial,
	    "spec", json_loads(t->spec, 0, NULL))) != NULL, GP_ERR_NOMEM);
	tnd_event_of(&ev, who, "tender.create", t->id, "success", d);
	GUARD(audit_append_tx(tc->audit, &ev, NULL));
	in_tx = 0;
	GUARD(store_commit(tc->st));
	r = 0;
out:
	if (in_tx)
		store_rollback(tc->st);
	json_decref(d);
	free(sc.serial);
	OPENSSL_free(subject);
	OPENSSL_free(der);
	return r;
}

int
tender_create(const struct tender_ctx *tc, const struct ca_actor *who,
    json_t *req, json_t **out)
{
	static const char *const known[] = {"title", "deadline",
	    "opening_time", "mode", "fields", "profiles", "window_s",
	    "max_bid_bytes", NULL};
	struct store_tender t;
	json_t *fields = NULL, *profiles = NULL, *spec = NULL, *v;
	const char *key, *title, *mode;
	char id[TENDER_ID_LEN + 1] = "", *spec_text = NULL, *uri = NULL;
	char *serial = NULL;
	int64_t now = gp_now_ms(), window, max_bid;
	X509 *cert = NULL;
	size_t i;
	int r;

	*out = NULL;
	memset(&t, 0, sizeof(t));
	ENSURE(json_is_object(req), gp_err_set(GP_ERR_INVALID, "body: a JSON "
	    "object is required"));
	json_object_foreach(req, key, v) {
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(known[i], key) == 0)
				break;
		ENSURE(known[i] != NULL, gp_err_set(GP_ERR_INVALID, "%.64s: "
		    "unknown field", key));
	}
	title = json_string_value(json_object_get(req, "title"));
	ENSURE(title != NULL, gp_err_set(GP_ERR_INVALID, "title: required (a "
	    "string)"));
	GUARD(ca_text_check("title", title, strlen(title), TENDER_MAX_TITLE));
	mode = json_object_get(req, "mode") == NULL ? "platform" :
	    json_string_value(json_object_get(req, "mode"));
	ENSURE(mode != NULL && (strcmp(mode, "platform") == 0 ||
	    strcmp(mode, "bidder") == 0), gp_err_set(GP_ERR_INVALID, "mode: "
	    "\"platform\" (the platform's opening key) or \"bidder\" (each "
	    "bidder's own encryption certificate)"));
	ENSURE(json_is_string(json_object_get(req, "deadline")) &&
	    json_is_string(json_object_get(req, "opening_time")),
	    gp_err_set(GP_ERR_INVALID, "deadline, opening_time: required (RFC "
	    "3339)"));
	GUARD(tender_time_parse("deadline", json_string_value(
	    json_object_get(req, "deadline")), &t.deadline_ms));
	GUARD(tender_time_parse("opening_time", json_string_value(
	    json_object_get(req, "opening_time")), &t.opening_ms));
	ENSURE(t.deadline_ms > now, gp_err_set(GP_ERR_INVALID, "deadline: "
	    "must be in the future"));
	ENSURE(t.opening_ms >= t.deadline_ms, gp_err_set(GP_ERR_INVALID,
	    "opening_time: must be at or after the deadline"));
	GUARD(tnd_names(req, "fields", "price", tnd_field_name_ok, &fields));
	GUARD(tnd_names(req, "profiles", "enterprise", tnd_profile_name_ok,
	    &profiles));
	GUARD(tnd_int(req, "window_s", 10, TND_WINDOW_MAX_S,
	    TND_WINDOW_DEFAULT_S, &window));
	GUARD(tnd_int(req, "max_bid_bytes", 1024, tc->cfg->tender_max_bid_bytes,
	    tc->cfg->tender_max_bid_bytes, &max_bid));
	ENSURE((spec = json_pack("{s:O, s:O, s:I}", "fields", fields,
	    "profiles", profiles, "max_bid_bytes", (json_int_t)max_bid)) !=
	    NULL && (spec_text = json_dumps(spec, JSON_COMPACT |
	    JSON_SORT_KEYS)) != NULL, GP_ERR_NOMEM);
	GUARD(tnd_new_id(id));
	GUARD(tnd_opening_cert(tc, id, strcmp(mode, "platform") == 0 ?
	    "opening" : "transport", t.opening_ms, &cert, &uri));
	ENSURE((serial = ca_serial_hex(cert)) != NULL, GP_ERR_NOMEM);
	t.id = id;
	t.title = (char *)title;
	t.mode = (char *)mode;
	t.window_s = strcmp(mode, "bidder") == 0 ? window : 0;
	t.spec = spec_text;
	t.opening_serial = serial;
	t.opening_key = uri;
	t.created_ms = now;
	t.created_by = (char *)(who->actor != NULL ? who->actor : "unknown");
	t.creator = (char *)(who->person != NULL ? who->person->id : "");
	GUARD(tnd_create_commit(tc, who, &t, cert));
	GUARD(tender_json(tc, id, out));
	r = 0;
out:
	if (r != 0)
		tnd_fail_audit(tc, who, "tender.create", id, r);
	X509_free(cert);
	json_decref(fields);
	json_decref(profiles);
	json_decref(spec);
	free(spec_text);
	free(uri);
	free(serial);
	return r;
}
