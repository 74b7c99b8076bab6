/*
 * ca_subject.c: a request checked against its profile, before anything is
 * built, and the subject built from what passed.
 *
 *   - the profile is known and the validity within its maximum;
 *   - every subject field is one the profile names, text a name may hold
 *     (ca_text_check: valid UTF-8, no control or format character, at
 *     most the field's characters, which the profile loader keeps within
 *     RFC 5280's upper bounds), and passes the field's own check (USCC and
 *     resident ID check characters, enum, DNS name);
 *   - SAN entries are the kinds the profile allows, each well formed;
 *   - the CSR is one PEM block whose signature verifies (ca_csr.c) and
 *     whose key the profile allows.
 *
 * The subject is built from the validated fields only (the CSR's own
 * subject is ignored). Nothing here signs or audits: the entry points of
 * ca_issue.c and ca_request.c do.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "ca/internal.h"

#define CA_SAN_MAX_TEXT 8192
#define CA_DNS_MAX 253
#define CA_EMAIL_MAX 254

/* Unicode General_Category Cf (format characters), Unicode 15.0: bidi
 * embeddings, overrides and isolates, zero-width characters, the byte
 * order mark, interlinear annotation, tags. Invisible, and able to make a
 * name read differently from what it is (U+202E turns "gpj.exe" into
 * "exe.jpg"). */
static const struct {
	unsigned int lo, hi;
} ca_cf[] = {
	{0x00ad, 0x00ad}, {0x0600, 0x0605}, {0x061c, 0x061c},
	{0x06dd, 0x06dd}, {0x070f, 0x070f}, {0x0890, 0x0891},
	{0x08e2, 0x08e2}, {0x180e, 0x180e}, {0x200b, 0x200f},
	{0x202a, 0x202e}, {0x2060, 0x2064}, {0x2066, 0x206f},
	{0xfeff, 0xfeff}, {0xfff9, 0xfffb}, {0x110bd, 0x110bd},
	{0x110cd, 0x110cd}, {0x13430, 0x1343f}, {0x1bca0, 0x1bca3},
	{0x1d173, 0x1d17a}, {0xe0001, 0xe0001}, {0xe0020, 0xe007f},
};

static int
ca_is_format(unsigned int cp)
{
	size_t i;

	for (i = 0; i < sizeof(ca_cf) / sizeof(ca_cf[0]); i++)
		if (cp >= ca_cf[i].lo && cp <= ca_cf[i].hi)
			return 1;
	return 0;
}

/* Decodes one UTF-8 character at |s| (|len| bytes left) into *cp and
 * returns its length, or 0 when it is not valid UTF-8 (RFC 3629 4: no
 * overlong form, no surrogate, nothing above U+10FFFF). */
static size_t
ca_utf8_next(const unsigned char *s, size_t len, unsigned int *cp)
{
	unsigned int c = s[0], v, min;
	size_t n, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		v = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		v = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		v = c & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

int
ca_text_check(const char *field, const char *s, size_t len,
    size_t max_chars)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t off = 0, n, chars = 0;
	unsigned int cp;

	if (s == NULL || len == 0)
		return gp_err_set(GP_ERR_INVALID, "%s: must not be empty",
		    field);
	while (off < len) {
		if ((n = ca_utf8_next(p + off, len - off, &cp)) == 0)
			return gp_err_set(GP_ERR_INVALID, "%s: not valid UTF-8 "
			    "(byte %zu)", field, off + 1);
		chars++;
		/* Unicode Cc (C0, DEL, C1), including NUL. */
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return gp_err_set(GP_ERR_INVALID, "%s: character %zu is "
			    "U+%04X, a control character; not allowed in a "
			    "name", field, chars, cp);
		if (ca_is_format(cp) || cp == 0x2028 || cp == 0x2029)
			return gp_err_set(GP_ERR_INVALID, "%s: character %zu is "
			    "U+%04X, an invisible format or line-break "
			    "character (such as a bidi override); not allowed "
			    "in a name", field, chars, cp);
		off += n;
	}
	if (max_chars > 0 && chars > max_chars)
		return gp_err_set(GP_ERR_INVALID, "%s: %zu characters; at most "
		    "%zu", field, chars, max_chars);
	return 0;
}

/* |s| when it may be echoed in an error (text of at most 64
 * characters, ca_text_check), else a placeholder. */
static const char *
ca_echo(const char *s)
{
	if (s != NULL && strlen(s) <= 256 &&
	    ca_text_check("echo", s, strlen(s), 64) == 0 &&
	    strchr(s, '"') == NULL)
		return s;
	return "(not shown: not plain text)";
}

/* A DNS name in a certificate: gp_dns_name(), in lower case. */
static int
ca_dns_ok(const char *s)
{
	size_t len = strlen(s), i;

	for (i = 0; i < len; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			return 0;
	return len <= CA_DNS_MAX && gp_dns_name(s, len);
}

static int
ca_email_ok(const char *s)
{
	const char *at = strchr(s, '@');
	const char *p;

	if (at == NULL || at == s || strchr(at + 1, '@') != NULL ||
	    strlen(s) > CA_EMAIL_MAX || !ca_dns_ok(at + 1))
		return 0;
	for (p = s; p < at; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == ',' || *p == '"' ||
		    *p == '\\' || *p == ':')
			return 0;
	return 1;
}

static int
ca_ip_ok(const char *s)
{
	unsigned char b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

static int
ca_printable(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr(" '()+,-./:=?", *s)))
			return 0;
	return 1;
}

/* Adds |nid| = |value| to |name| with the string type X.520 fixes. */
static int
ca_name_add(X509_NAME *name, int nid, const char *field, const char *value)
{
	int type = V_ASN1_UTF8STRING;

	if (nid == NID_countryName || nid == NID_serialNumber) {
		if (!ca_printable(value))
			return gp_err_set(GP_ERR_INVALID, "%s: only letters, "
			    "digits and ' ()+,-./:=? are allowed", field);
		type = V_ASN1_PRINTABLESTRING;
	}
	if (!X509_NAME_add_entry_by_NID(name, nid, type,
	    (const unsigned char *)value, -1, -1, 0))
		return gp_err_ssl(GP_ERR_INVALID, "%s: cannot be encoded",
		    field);
	return 0;
}

static int
ca_subject_check(const struct ca_profile *p, json_t *subject,
    struct ca_vals *vals)
{
	const char *key, *s;
	json_t *v;
	size_t i, k;
	char field[96];
	int r = GP_ERR_INVALID;

	memset(vals, 0, sizeof(*vals));
	ENSURE(json_is_object(subject), gp_err_set(GP_ERR_INVALID,
	    "subject: an object of subject fields is required"));
	json_object_foreach(subject, key, v) {
		for (i = 0; i < p->fields_len; i++)
			if (strcmp(p->fields[i].name, key) == 0)
				break;
		ENSURE(i < p->fields_len, gp_err_set(GP_ERR_INVALID,
		    "subject.%s: not a field of profile %s",
		    ca_echo(key), p->name));
	}
	for (i = 0; i < p->fields_len; i++) {
		const struct ca_field *f = &p->fields[i];

		snprintf(field, sizeof(field), "subject.%s", f->name);
		v = json_object_get(subject, f->name);
		if (v == NULL || json_is_null(v)) {
			ENSURE(!f->required, gp_err_set(GP_ERR_INVALID,
			    "%s: required by profile %s", field, p->name));
			continue;
		}
		ENSURE(json_is_string(v), gp_err_set(GP_ERR_INVALID,
		    "%s: must be a string", field));
		s = json_string_value(v);
		GUARD(ca_text_check(field, s, json_string_length(v),
		    f->max_length));
		switch (f->check) {
		case CA_CHECK_USCC:
			GUARD(ca_uscc_check(field, s));
			break;
		case CA_CHECK_RESIDENT_ID:
			GUARD(ca_resident_id_check(field, s));
			break;
		case CA_CHECK_DNS:
			ENSURE(ca_dns_ok(s), gp_err_set(GP_ERR_INVALID,
			    "%s: not a lower-case DNS host name", field));
			break;
		case CA_CHECK_ENUM:
			for (k = 0; k < f->values_len; k++)
				if (strcmp(f->values[k], s) == 0)
					break;
			ENSURE(k < f->values_len, gp_err_set(GP_ERR_INVALID,
			    "%s: \"%.64s\" is not one the profile allows",
			    field, s));
			break;
		case CA_CHECK_TEXT:
			break;
		default:
			ENSURE(0, gp_err_set(GP_ERR_INTERNAL, "%s: check",
			    field));
		}
		vals->v[i] = s;
		if (f->store == CA_COL_USCC)
			vals->uscc = s;
		else if (f->store == CA_COL_ID_NUMBER)
			vals->id_number = s;
		else if (f->store == CA_COL_ROLE)
			vals->role = s;
		if (p->cn_from != NULL && strcmp(p->cn_from, f->name) == 0)
			vals->cn = s;
	}
	r = 0;
out:
	return r;
}

/* Appends "KIND:value" entries of |arr| (validated) to |buf|. */
static int
ca_san_kind(json_t *san, const char *kind, enum ca_san_rule rule,
    const char *prefix, int (*ok)(const char *), char *buf, size_t cap,
    size_t *used)
{
	json_t *arr = json_object_get(san, kind), *e;
	size_t i;
	int n;

	if (arr == NULL || (json_is_array(arr) && json_array_size(arr) == 0)) {
		if (rule == CA_SAN_REQUIRED)
			return gp_err_set(GP_ERR_INVALID, "san.%s: required by "
			    "the profile", kind);
		return 0;
	}
	if (rule == CA_SAN_FORBIDDEN)
		return gp_err_set(GP_ERR_INVALID, "san.%s: not allowed by the "
		    "profile", kind);
	if (!json_is_array(arr) || json_array_size(arr) > CA_MAX_SAN)
		return gp_err_set(GP_ERR_INVALID, "san.%s: an array of at most "
		    "%d names", kind, CA_MAX_SAN);
	json_array_foreach(arr, i, e) {
		const char *s = json_string_value(e);
		if (s == NULL || json_string_length(e) != strlen(s) || !ok(s))
			return gp_err_set(GP_ERR_INVALID, "san.%s[%zu]: not a "
			    "valid %s", kind, i, kind);
		n = snprintf(buf + *used, cap - *used, "%s%s:%s",
		    *used ? "," : "", prefix, s);
		if (n < 0 || (size_t)n >= cap - *used)
			return gp_err_set(GP_ERR_TOO_LARGE, "san: too long");
		*used += (size_t)n;
	}
	return 0;
}

static int
ca_san_build(const struct ca_profile *p, json_t *san, char **out)
{
	static const char *const known[] = {"dns", "ip", "email"};
	char buf[CA_SAN_MAX_TEXT];
	const char *key;
	json_t *v;
	size_t used = 0, i;
	int r;

	*out = NULL;
	buf[0] = '\0';
	if (san != NULL && !json_is_null(san)) {
		ENSURE(json_is_object(san), gp_err_set(GP_ERR_INVALID,
		    "san: must be an object {\"dns\":[..],\"ip\":[..],"
		    "\"email\":[..]}"));
		json_object_foreach(san, key, v) {
			for (i = 0; i < 3; i++)
				if (strcmp(key, known[i]) == 0)
					break;
			ENSURE(i < 3, gp_err_set(GP_ERR_INVALID, "san.%s: "
			    "unknown (dns, ip, email)", ca_echo(key)));
		}
	} else {
		san = NULL;
	}
	GUARD(ca_san_kind(san, "dns", p->san_dns, "DNS", ca_dns_ok, buf,
	    sizeof(buf), &used));
	GUARD(ca_san_kind(san, "ip", p->san_ip, "IP", ca_ip_ok, buf,
	    sizeof(buf), &used));
	GUARD(ca_san_kind(san, "email", p->san_email, "email", ca_email_ok,
	    buf, sizeof(buf), &used));
	if (used > 0)
		ENSURE((*out = strdup(buf)) != NULL, GP_ERR_NOMEM);
	r = 0;
out:
	return r;
}

/* Parses exactly one PEM CERTIFICATE REQUEST, verifies its signature
 * (ca_csr.c) and checks its key against |p|. */
static int
ca_csr_check(const struct ca_profile *p, const char *pem, size_t len,
    struct ca_csr **out)
{
	struct ca_csr *csr = NULL;
	EVP_PKEY *key;
	unsigned int kt;
	int r;

	*out = NULL;
	GUARD(ca_csr_parse(pem, len, &csr));
	key = ca_csr_key(csr);
	kt = ca_key_type(key);
	ENSURE(kt != 0 && (p->key_types & kt) != 0, gp_err_set(GP_ERR_INVALID,
	    "csr.key: %s %d bits is not allowed by profile %s",
	    kt ? ca_key_type_name(kt) : OBJ_nid2sn(EVP_PKEY_get_base_id(key)),
	    EVP_PKEY_get_bits(key), p->name));
	*out = csr;
	csr = NULL; /* transferred */
	r = 0;
out:
	ca_csr_free(csr);
	return r;
}

int
ca_request_check(const struct ca_ctx *ca, const struct ca_issue_req *req,
    const struct ca_profile **out_p, struct ca_vals *vals, char **out_san,
    struct ca_csr **out_csr)
{
	const struct ca_profile *p;
	char *san = NULL;
	int r;

	*out_p = NULL;
	*out_san = NULL;
	*out_csr = NULL;
	memset(vals, 0, sizeof(*vals));
	ENSURE(req->profile != NULL && (p = ca_profile_find(ca->profiles,
	    req->profile)) != NULL, gp_err_set(GP_ERR_INVALID, "profile: "
	    "\"%s\" is not a profile of this instance", req->profile ?
	    ca_echo(req->profile) : ""));
	ENSURE(req->validity_days >= 0 && req->validity_days <=
	    p->max_validity_days, gp_err_set(GP_ERR_INVALID, "validity_days: "
	    "at most %lld for profile %s", (long long)p->max_validity_days,
	    p->name));
	GUARD(ca_subject_check(p, req->subject, vals));
	GUARD(ca_san_build(p, req->san, &san));
	if (req->pubkey != NULL) {
		/* A key the CA side generated (the KMC): nothing to prove,
		 * but its type must be one the profile allows. */
		unsigned int kt = ca_key_type(req->pubkey);
		ENSURE(req->csr_pem == NULL && kt != 0 &&
		    (p->key_types & kt) != 0, gp_err_set(GP_ERR_INVALID,
		    "key: not a key type profile %s allows", p->name));
	} else {
		GUARD(ca_csr_check(p, req->csr_pem, req->csr_len, out_csr));
	}
	*out_p = p;
	*out_san = san;
	san = NULL; /* transferred */
	r = 0;
out:
	free(san);
	return r;
}

static const char *
ca_fixed_value(const struct ca_ctx *ca, const struct ca_fixed *fx)
{
	if (strcmp(fx->value, "${instance_name}") == 0)
		return ca->cfg != NULL && ca->cfg->instance_name != NULL ?
		    ca->cfg->instance_name : "govpki";
	return fx->value;
}

int
ca_subject_build(const struct ca_ctx *ca, const struct ca_profile *p,
    const struct ca_vals *vals, X509_NAME **out)
{
	X509_NAME *name = NULL;
	const char *fv;
	char *pv = NULL, field[96];
	size_t i;
	int r;

	*out = NULL;
	ENSURE((name = X509_NAME_new()) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < p->fixed_len; i++) {
		fv = ca_fixed_value(ca, &p->fixed[i]);
		snprintf(field, sizeof(field), "profile %s: subject_fixed[%zu]",
		    p->name, i);
		GUARD(ca_text_check(field, fv, strlen(fv),
		    p->fixed[i].max_length));
		GUARD(ca_name_add(name, p->fixed[i].nid, field, fv));
	}
	for (i = 0; i < p->fields_len; i++) {
		const struct ca_field *f = &p->fields[i];
		if (vals->v[i] == NULL || !f->in_certificate)
			continue;
		free(pv);
		ENSURE(asprintf(&pv, "%s%s", f->prefix ? f->prefix : "",
		    vals->v[i]) >= 0, (pv = NULL, GP_ERR_NOMEM));
		snprintf(field, sizeof(field), "subject.%s", f->name);
		GUARD(ca_name_add(name, f->nid, field, pv));
	}
	if (vals->cn != NULL)
		GUARD(ca_name_add(name, NID_commonName, "subject.cn",
		    vals->cn));
	*out = name;
	name = NULL; /* transferred */
	r = 0;
out:
	free(pv);
	X509_NAME_free(name);
	return r;
}

int
ca_subject_validate(const struct ca_ctx *ca, const char *profile,
    json_t *subject, struct ca_subject_ids *out)
{
	const struct ca_profile *p;
	struct ca_vals vals;
	int r;

	memset(out, 0, sizeof(*out));
	ENSURE(ca != NULL && profile != NULL &&
	    (p = ca_profile_find(ca->profiles, profile)) != NULL,
	    gp_err_set(GP_ERR_INVALID, "profile: \"%s\" is not a profile of "
	    "this instance", profile != NULL ? ca_echo(profile) : ""));
	GUARD(ca_subject_check(p, subject, &vals));
	if (vals.uscc != NULL)
		snprintf(out->uscc, sizeof(out->uscc), "%s", vals.uscc);
	if (vals.id_number != NULL)
		snprintf(out->id_number, sizeof(out->id_number), "%s",
		    vals.id_number);
	r = 0;
out:
	return r;
}
