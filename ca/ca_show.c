/*
 * ca_show.c: a stored certificate as the JSON the admin API and the CLI
 * print. The resident ID number appears masked (gp_mask_id): the
 * certificate itself carries it only if its profile says so, and a
 * listing is not the place to collect it. A single certificate shows
 * its status history too (ca_cert_history_json), so the officer and the
 * auditor see every hold, release and revocation and who made it.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "ca/internal.h"

int
ca_serial_norm(const char *in, char *out, size_t len)
{
	size_t n = 0;
	const char *p;

	if (in == NULL || len < 2)
		return gp_err_set(GP_ERR_INVALID, "serial: required");
	p = in;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	for (; *p != '\0'; p++) {
		if (*p == ':')
			continue;
		if (!isxdigit((unsigned char)*p) || n + 1 >= len ||
		    n >= 64)
			return gp_err_set(GP_ERR_INVALID, "serial \"%.72s\": "
			    "want hex digits (at most 64), as openssl x509 "
			    "-serial prints them", in);
		if (n == 0 && *p == '0')
			continue; /* leading zeros */
		out[n++] = (char)tolower((unsigned char)*p);
	}
	if (n == 0)
		return gp_err_set(GP_ERR_INVALID, "serial \"%.72s\": zero or "
		    "empty; no certificate has it", in);
	out[n] = '\0';
	return 0;
}

static char *
ca_der_pem(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x;
	BIO *bio;
	char *data, *s = NULL;
	long n;

	if ((x = d2i_X509(NULL, &p, (long)len)) == NULL)
		return NULL;
	if ((bio = BIO_new(BIO_s_mem())) != NULL &&
	    PEM_write_bio_X509(bio, x) &&
	    (n = BIO_get_mem_data(bio, &data)) > 0)
		s = strndup(data, (size_t)n);
	BIO_free(bio);
	X509_free(x);
	return s;
}

json_t *
ca_cert_json(const struct store_cert *c, int with_pem)
{
	json_t *o;
	char *masked = NULL, *pem = NULL;

	if (c == NULL || (o = json_object()) == NULL)
		return NULL;
	json_object_set_new(o, "serial", json_string(c->serial));
	json_object_set_new(o, "issuer", json_string(c->issuer));
	json_object_set_new(o, "profile", json_string(c->profile));
	json_object_set_new(o, "subject", json_string(c->subject));
	json_object_set_new(o, "status", json_string(c->status));
	json_object_set_new(o, "not_before", json_integer(c->not_before));
	json_object_set_new(o, "not_after", json_integer(c->not_after));
	if (c->role != NULL)
		json_object_set_new(o, "role", json_string(c->role));
	if (c->uscc != NULL)
		json_object_set_new(o, "uscc", json_string(c->uscc));
	if (c->id_number != NULL &&
	    (masked = gp_mask_id(c->id_number)) != NULL)
		json_object_set_new(o, "id_number", json_string(masked));
	if (strcmp(c->status ? c->status : "", "good") != 0) {
		json_object_set_new(o, "revoked_at",
		    json_integer(c->revoked_at));
		if (ca_reason_name(c->reason) != NULL)
			json_object_set_new(o, "reason",
			    json_string(ca_reason_name(c->reason)));
		if (c->invalidity_date > 0)
			json_object_set_new(o, "invalidity_date",
			    json_integer(c->invalidity_date));
	}
	if (with_pem && c->der != NULL &&
	    (pem = ca_der_pem(c->der, c->der_len)) != NULL)
		json_object_set_new(o, "certificate", json_string(pem));
	free(masked);
	free(pem);
	return o;
}

static int
ca_history_event(void *arg, const struct store_status_event *ev)
{
	json_t *arr = arg, *e;

	e = json_pack("{s:s, s:I, s:I}", "change", ev->change, "time",
	    (json_int_t)ev->time, "recorded_ms", (json_int_t)ev->created_ms);
	if (e == NULL)
		return GP_ERR_NOMEM;
	if (ca_reason_name(ev->reason) != NULL)
		json_object_set_new(e, "reason",
		    json_string(ca_reason_name(ev->reason)));
	if (ev->invalidity_date > 0)
		json_object_set_new(e, "invalidity_date",
		    json_integer(ev->invalidity_date));
	if (ev->actor[0] != '\0')
		json_object_set_new(e, "actor", json_string(ev->actor));
	if (json_array_append_new(arr, e) != 0)
		return GP_ERR_NOMEM;
	return 0;
}

int
ca_cert_history_json(store *st, const char *serial, json_t *obj)
{
	json_t *arr;
	int r = GP_ERR_NOMEM;

	if ((arr = json_array()) == NULL)
		goto out;
	GUARD(store_cert_history_scan(st, serial, ca_history_event, arr));
	ENSURE(json_object_set(obj, "history", arr) == 0, GP_ERR_NOMEM);
	r = 0;
out:
	json_decref(arr);
	return r;
}
