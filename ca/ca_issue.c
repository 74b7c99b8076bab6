/*
 * ca_issue.c: issuance from a PKCS#10 request under a profile.
 *
 *   1. the request: profile known, CSR PEM within CA_MAX_CSR, one block,
 *      its signature verifies (proof of possession), its key a type and
 *      size the profile allows;
 *   2. the subject: built from the request's validated fields (the CSR's
 *      own subject is ignored), USCC and resident ID numbers checked with
 *      their check characters, SAN entries as the profile's rules allow;
 *   3. the certificate: built unsigned, linted against the profile and the
 *      issuer (ca_lint.c), and only then signed by the CA key on the token;
 *   4. durability: the certificate row and its "cert.issue" audit record
 *      commit in one store transaction, through the audit writer's group
 *      commit, before the caller may hand the result out: ca_issue()
 *      waits for it; ca_issue_start() + ca_issue_commit_async() let a
 *      server answer from the writer's callback instead of holding a
 *      thread.
 *
 * A dual-control profile stops after 1 and 2: the request is recorded as
 * pending with its own audit record, and ca_request.c issues it once a
 * different officer approves. Refusals and self-check failures are audited
 * through audit_log(); personal ID numbers reach the audit only masked.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/internal.h"

#define CA_DAY 86400
#define CA_SAN_MAX_TEXT 8192
#define CA_DNS_MAX 253
#define CA_EMAIL_MAX 254

void
ca_event(struct audit_event *ev, const struct ca_actor *who, const char *op,
    const char *object, const char *outcome, json_t *details)
{
	memset(ev, 0, sizeof(*ev));
	ev->actor = who != NULL ? who->actor : NULL;
	ev->role = who != NULL ? who->role : NULL;
	ev->op = op;
	ev->object = object;
	ev->outcome = outcome;
	ev->request_id = who != NULL ? who->request_id : NULL;
	ev->client = who != NULL ? who->client : NULL;
	ev->details = details;
}

json_t *
ca_refusal_details(json_t *details, int code, const char *detail)
{
	json_t *d = details;

	if (d == NULL)
		d = json_object();
	if (d != NULL) {
		json_object_set_new(d, "error", json_string(gp_err_name(code)));
		json_object_set_new(d, "reason", json_string(detail));
	}
	return d;
}

int
ca_audit_refusal(const struct ca_ctx *ca, const struct ca_actor *who,
    const char *op, const char *object, const char *outcome, int code,
    json_t *details)
{
	struct audit_event ev;
	char detail[1024];
	json_t *d;

	/* Keep the refusal's own detail: auditing may overwrite it. */
	snprintf(detail, sizeof(detail), "%s", gp_err_detail());
	d = ca_refusal_details(details, code, detail);
	ca_event(&ev, who, op, object, outcome, d);
	if (ca->audit != NULL && audit_log(ca->audit, &ev) != 0)
		gp_log(GP_LOG_ERROR, "%s: cannot audit a refusal: %s", op,
		    gp_err_detail());
	json_decref(d);
	gp_err_set(code, "%s", detail);
	return code;
}

void
ca_issue_result_clear(struct ca_issue_result *res)
{
	if (res == NULL)
		return;
	free(res->request_id);
	free(res->serial);
	free(res->cert_pem);
	free(res->profile);
	memset(res, 0, sizeof(*res));
}

/* Number of UTF-8 characters in |s|; -1 when a control character is in
 * it (jansson has already refused invalid UTF-8). */
static long
ca_utf8_chars(const char *s)
{
	long n = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f)
			return -1;
		if ((c & 0xc0) != 0x80)
			n++;
	}
	return n;
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

/* The values a validated request yields, borrowed from the JSON. */
struct ca_vals {
	const char *v[CA_MAX_FIELDS];
	const char *uscc;
	const char *id_number;
	const char *role;
	const char *cn;
};

static int
ca_subject_check(const struct ca_profile *p, json_t *subject,
    struct ca_vals *vals)
{
	const char *key, *s;
	json_t *v;
	size_t i, k;
	long chars;
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
		    "subject.%.64s: not a field of profile %s", key,
		    p->name));
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
		chars = ca_utf8_chars(s);
		ENSURE(chars > 0 && (size_t)chars <= f->max_length &&
		    json_string_length(v) == strlen(s),
		    gp_err_set(GP_ERR_INVALID, "%s: must be 1 to %zu "
		    "characters without control characters", field,
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
		if (s == NULL || !ok(s))
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
ca_ip_ok(const char *s)
{
	unsigned char b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
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
			ENSURE(i < 3, gp_err_set(GP_ERR_INVALID, "san.%.32s: "
			    "unknown (dns, ip, email)", key));
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

/* Every check of a request; the outputs are owned by the caller. */
static int
ca_issue_check(const struct ca_ctx *ca, const struct ca_issue_req *req,
    const struct ca_profile **out_p, struct ca_vals *vals, char **out_san,
    struct ca_csr **out_csr)
{
	const struct ca_profile *p;
	int r;

	*out_p = NULL;
	*out_san = NULL;
	*out_csr = NULL;
	ENSURE(req->profile != NULL && (p = ca_profile_find(ca->profiles,
	    req->profile)) != NULL, gp_err_set(GP_ERR_INVALID, "profile: "
	    "\"%.64s\" is not a profile of this instance",
	    req->profile ? req->profile : ""));
	ENSURE(req->validity_days >= 0 && req->validity_days <=
	    p->max_validity_days, gp_err_set(GP_ERR_INVALID, "validity_days: "
	    "at most %lld for profile %s", (long long)p->max_validity_days,
	    p->name));
	GUARD(ca_subject_check(p, req->subject, vals));
	GUARD(ca_san_build(p, req->san, out_san));
	GUARD(ca_csr_check(p, req->csr_pem, req->csr_len, out_csr));
	*out_p = p;
	r = 0;
out:
	if (r != 0) {
		free(*out_san);
		*out_san = NULL;
	}
	return r;
}

int
ca_issue_validate(const struct ca_ctx *ca, const struct ca_issue_req *req,
    const struct ca_profile **out_p)
{
	struct ca_vals vals;
	struct ca_csr *csr = NULL;
	char *san = NULL;
	int r;

	r = ca_issue_check(ca, req, out_p, &vals, &san, &csr);
	ca_csr_free(csr);
	free(san);
	return r;
}

static int64_t
ca_time(const ASN1_TIME *t)
{
	struct tm tm;

	return ASN1_TIME_to_tm(t, &tm) ? (int64_t)timegm(&tm) : 0;
}

static int
ca_fixed_value(const struct ca_ctx *ca, const struct ca_fixed *fx,
    const char **out)
{
	*out = fx->value;
	if (strcmp(fx->value, "${instance_name}") == 0)
		*out = ca->cfg != NULL && ca->cfg->instance_name != NULL ?
		    ca->cfg->instance_name : "govpki";
	return 0;
}

/* The subject of |p| from the validated |vals|. */
static int
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
		GUARD(ca_fixed_value(ca, &p->fixed[i], &fv));
		GUARD(ca_name_add(name, p->fixed[i].nid, p->fixed[i].attribute,
		    fv));
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

static char *
ca_name_text(const X509_NAME *name)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s = NULL;
	long len;

	if (bio == NULL)
		return NULL;
	/* RFC 2253 order, UTF-8 kept as is. */
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 &
	    ~ASN1_STRFLGS_ESC_MSB) >= 0 &&
	    (len = BIO_get_mem_data(bio, &data)) >= 0)
		s = strndup(data, (size_t)len);
	BIO_free(bio);
	return s;
}

/* The PEM text of the DER certificate |der| (RFC 7468 2: 64 characters a
 * line), without decoding it again. */
static char *
ca_pem(const unsigned char *der, size_t len)
{
	static const char head[] = "-----BEGIN CERTIFICATE-----\n";
	static const char tail[] = "-----END CERTIFICATE-----\n";
	size_t lines = (len + 47) / 48, cap, off, n;
	char *s, *p;

	if (len == 0 || len > 1 << 20)
		return NULL;
	cap = sizeof(head) - 1 + lines * 65 + sizeof(tail);
	if ((s = malloc(cap)) == NULL)
		return NULL;
	memcpy(s, head, sizeof(head) - 1);
	p = s + sizeof(head) - 1;
	for (off = 0; off < len; off += n) {
		n = len - off < 48 ? len - off : 48;
		p += EVP_EncodeBlock((unsigned char *)p, der + off, (int)n);
		*p++ = '\n';
	}
	memcpy(p, tail, sizeof(tail)); /* with its NUL */
	return s;
}

/* The "cert.issue" audit details: no full ID number, ever. */
static json_t *
ca_issue_details(const struct ca_profile *p, const struct ca_vals *vals,
    EVP_PKEY *key, const struct ca_approval *approval, int64_t not_after)
{
	json_t *d = json_object();
	char *masked = NULL;

	if (d == NULL)
		return NULL;
	json_object_set_new(d, "profile", json_string(p->name));
	json_object_set_new(d, "key", json_string(ca_key_type_name(
	    ca_key_type(key))));
	json_object_set_new(d, "not_after", json_integer(not_after));
	if (vals->cn != NULL)
		json_object_set_new(d, "cn", json_string(vals->cn));
	if (vals->uscc != NULL)
		json_object_set_new(d, "uscc", json_string(vals->uscc));
	if (vals->id_number != NULL &&
	    (masked = gp_mask_id(vals->id_number)) != NULL)
		json_object_set_new(d, "id_number", json_string(masked));
	if (vals->role != NULL)
		json_object_set_new(d, "role", json_string(vals->role));
	if (approval != NULL) {
		json_object_set_new(d, "request", json_string(
		    approval->request_id));
		json_object_set_new(d, "requester", json_string(
		    approval->requester));
	}
	free(masked);
	return d;
}

/* The state change of one issuance, run by the audit writer inside the
 * transaction that also holds its record: an approval decided, if any, and
 * the certificate row. */
static int
ca_commit_apply(store *st, void *arg)
{
	const struct ca_commit *c = arg;
	int r;

	if (c->request_id != NULL)
		GUARD(store_request_decide(st, c->request_id, "approved",
		    c->approver, c->sc->serial, c->sc->created_ms));
	GUARD(store_cert_insert(st, c->sc));
	r = 0;
out:
	return r;
}

/* One signed certificate on its way to the store: the row, its record and
 * who asked, all owned, so that the commit may finish on the audit
 * writer's thread after the caller's request is gone. */
struct ca_issue_job {
	audit *audit;
	struct store_cert sc;
	struct ca_commit cm;
	struct audit_event ev;        /* "cert.issue" success */
	json_t *details;
	struct ca_actor who;          /* strings owned below */
	char *actor, *role, *id, *request_id, *client;
	char *approval_id;            /* the request approved, or NULL */
	char *profile;
	int direct;                   /* from ca_issue_start() */
	ca_issue_done_fn fn;
	void *arg;
	int err;
	char errbuf[1024];
};

static void
ca_issue_job_drop(struct ca_issue_job *job)
{
	if (job == NULL)
		return;
	json_decref(job->details);
	free(job->sc.serial);
	free(job->sc.subject);
	free(job->sc.role);
	free(job->sc.uscc);
	free(job->sc.id_number);
	OPENSSL_free(job->sc.der);
	free(job->actor);
	free(job->role);
	free(job->id);
	free(job->request_id);
	free(job->client);
	free(job->approval_id);
	free(job->profile);
	free(job);
}

/* *out = a copy of |s|, NULL for NULL. */
static int
ca_dup(char **out, const char *s)
{
	*out = NULL;
	if (s != NULL && (*out = strdup(s)) == NULL)
		return GP_ERR_NOMEM;
	return 0;
}

/* Whether a commit that failed with |r| is audited as a failure here.
 * Unchanged from before the commit was split off: ca_request_approve()
 * records its own refusals, and a conflict or a missing request is an
 * answer, not a failure. */
static int
ca_issue_commit_audited(const struct ca_issue_job *job, int r)
{
	if (r == GP_ERR_CONFLICT || r == GP_ERR_NOT_FOUND)
		return 0;
	return job->direct || (r != GP_ERR_INVALID && r != GP_ERR_TOO_LARGE);
}

/* Checks, builds, lints and signs; on success *out_job holds what the
 * commit writes and |res| what the caller may hand out once it is durable.
 * Failures are audited (except refusals of the request, which the callers
 * audit under their own operation). */
static int
ca_issue_sign(const struct ca_ctx *ca, const struct ca_actor *who,
    const struct ca_issue_req *req, const struct ca_approval *approval,
    struct ca_issue_result *res, struct ca_issue_job **out_job)
{
	const struct ca_profile *p;
	struct ca_vals vals;
	struct ca_cert_spec spec;
	struct ca_issue_job *job = NULL;
	struct ca_csr *csr = NULL;
	X509_NAME *subject = NULL;
	X509 *cert = NULL, *issuer;
	EVP_PKEY *ikey;
	char *san = NULL, *ku = NULL, *eku = NULL, *pol = NULL, *crl = NULL,
	    *ocsp = NULL, *cai = NULL;
	unsigned char *der = NULL;
	int64_t now = (int64_t)time(NULL), days, inb, ina;
	int r = GP_ERR_INTERNAL, len;
	size_t i;

	memset(res, 0, sizeof(*res));
	*out_job = NULL;
	GUARD(ca_issue_check(ca, req, &p, &vals, &san, &csr));
	issuer = ca->cert[p->issuer];
	ikey = ca->key[p->issuer];
	ENSURE(issuer != NULL && ikey != NULL, gp_err_set(GP_ERR_LOGIN_REQUIRED,
	    "the %s key is not loaded", gp_key_names[p->issuer]));
	GUARD(ca_subject_build(ca, p, &vals, &subject));

	memset(&spec, 0, sizeof(spec));
	spec.subject = subject;
	spec.pubkey = ca_csr_key(csr);
	/* The key info exactly as signed in the request, when it allows. */
	ca_csr_spki(csr, &spec.spki_alg, &spec.spki_key);
	spec.issuer_cert = issuer;
	spec.issuer_key = ikey;
	/* A minute back for clocks slightly behind ours, but never before
	 * the issuer (RFC 5280 6.1.3 (a)(2)). */
	inb = ca_time(X509_get0_notBefore(issuer));
	ina = ca_time(X509_get0_notAfter(issuer));
	spec.not_before = now - 60 > inb ? now - 60 : inb;
	days = req->validity_days > 0 ? req->validity_days :
	    p->max_validity_days;
	spec.not_after = now + days * CA_DAY;
	if (spec.not_after > ina)
		spec.not_after = ina;
	spec.is_ca = p->is_ca;
	spec.path_len = p->path_len;
	ENSURE((ku = ca_profile_ku_text(p)) != NULL, GP_ERR_NOMEM);
	spec.key_usage = ku;
	eku = ca_profile_eku_text(p);
	ENSURE(eku != NULL || p->eku_len == 0, GP_ERR_NOMEM);
	spec.ext_key_usage = eku;
	spec.san = san;
	spec.ocsp_nocheck = p->ocsp_nocheck;
	for (i = 0; i < p->policies_len; i++) {
		char *n;
		ENSURE(asprintf(&n, "%s%s%s", pol ? pol : "", pol ? "," : "",
		    p->policies[i]) >= 0, GP_ERR_NOMEM);
		free(pol);
		pol = n;
	}
	spec.policies = pol;
	if (ca->cfg != NULL && ca->cfg->public_url != NULL) {
		const char *in = gp_key_names[p->issuer];
		ENSURE(asprintf(&crl, "%s/crl/%s.crl", ca->cfg->public_url, in) >=
		    0 && asprintf(&ocsp, "%s/ocsp", ca->cfg->public_url) >= 0 &&
		    asprintf(&cai, "%s/certs/%s.crt", ca->cfg->public_url, in) >=
		    0, GP_ERR_NOMEM);
		spec.crl_url = p->crl_dp ? crl : NULL;
		spec.ocsp_url = p->aia_ocsp ? ocsp : NULL;
		spec.ca_issuers_url = p->aia_ca_issuers ? cai : NULL;
	}
	GUARD(ca_cert_build(&spec, &cert));
	GUARD(ca_cert_lint(cert, issuer, p));
	if (X509_sign(cert, ikey, ca_digest_for(ikey)) <= 0) {
		r = gp_err_ssl(GP_ERR_CRYPTO, "signing the certificate with the "
		    "%s key", gp_key_names[p->issuer]);
		goto out;
	}
	ENSURE((len = i2d_X509(cert, &der)) > 0, gp_err_ssl(GP_ERR_CRYPTO,
	    "encoding the certificate"));

	/* Everything the commit needs, owned by the job. */
	ENSURE((job = calloc(1, sizeof(*job))) != NULL, GP_ERR_NOMEM);
	job->audit = ca->audit;
	ENSURE((job->sc.serial = ca_serial_hex(cert)) != NULL &&
	    (job->sc.subject = ca_name_text(subject)) != NULL, GP_ERR_NOMEM);
	ENSURE(ca_dup(&job->sc.role, vals.role) == 0 &&
	    ca_dup(&job->sc.uscc, vals.uscc) == 0 &&
	    ca_dup(&job->sc.id_number, vals.id_number) == 0 &&
	    ca_dup(&job->profile, p->name) == 0 &&
	    ca_dup(&job->actor, who->actor) == 0 &&
	    ca_dup(&job->role, who->role) == 0 &&
	    ca_dup(&job->id, who->id) == 0 &&
	    ca_dup(&job->request_id, who->request_id) == 0 &&
	    ca_dup(&job->client, who->client) == 0 &&
	    ca_dup(&job->approval_id, approval != NULL ?
	    approval->request_id : NULL) == 0, GP_ERR_NOMEM);
	job->who.actor = job->actor;
	job->who.role = job->role;
	job->who.id = job->id;
	job->who.request_id = job->request_id;
	job->who.client = job->client;
	job->sc.issuer = (char *)gp_key_names[p->issuer];
	job->sc.profile = job->profile;
	job->sc.not_before = spec.not_before;
	job->sc.not_after = spec.not_after;
	job->sc.status = (char *)"good";
	job->sc.reason = -1;
	job->sc.created_ms = gp_now_ms();
	job->sc.der = der;
	job->sc.der_len = (size_t)len;
	der = NULL; /* transferred */
	ENSURE((job->details = ca_issue_details(p, &vals, spec.pubkey,
	    approval, spec.not_after)) != NULL, GP_ERR_NOMEM);
	ca_event(&job->ev, &job->who, "cert.issue", job->sc.serial, "success",
	    job->details);
	job->cm.sc = &job->sc;
	job->cm.request_id = job->approval_id;
	job->cm.approver = job->id;

	ENSURE((res->cert_pem = ca_pem(job->sc.der, job->sc.der_len)) != NULL &&
	    (res->profile = strdup(p->name)) != NULL &&
	    (res->serial = strdup(job->sc.serial)) != NULL, GP_ERR_NOMEM);
	res->not_before = spec.not_before;
	res->not_after = spec.not_after;
	*out_job = job;
	job = NULL; /* transferred */
	r = 0;
out:
	if (r != 0 && r != GP_ERR_INVALID && r != GP_ERR_TOO_LARGE &&
	    r != GP_ERR_CONFLICT && r != GP_ERR_NOT_FOUND)
		(void)ca_audit_refusal(ca, who, "cert.issue", req->profile,
		    "failure", r, NULL);
	if (r != 0)
		ca_issue_result_clear(res);
	ca_issue_job_drop(job);
	OPENSSL_free(der);
	X509_free(cert);
	ca_csr_free(csr);
	X509_NAME_free(subject);
	free(san);
	free(ku);
	free(eku);
	free(pol);
	free(crl);
	free(ocsp);
	free(cai);
	return r;
}

int
ca_issue_commit(ca_issue_job *job)
{
	struct ca_ctx ctx;
	int r;

	if (job == NULL)
		return gp_err_set(GP_ERR_INVALID, "ca_issue_commit: no job");
	/* The certificate and its audit record commit together, before the
	 * caller may hand the certificate out; concurrent issuances share
	 * the audit writer's group commit. */
	r = audit_apply(job->audit, ca_commit_apply, &job->cm, &job->ev);
	if (r != 0 && ca_issue_commit_audited(job, r)) {
		memset(&ctx, 0, sizeof(ctx));
		ctx.audit = job->audit;
		(void)ca_audit_refusal(&ctx, &job->who, "cert.issue",
		    job->profile, "failure", r, NULL);
	}
	ca_issue_job_drop(job);
	return r;
}

/* The asynchronous commit is over, its failure (if any) audited: report
 * to the caller and let go of the job. On the audit writer's thread, or
 * on the caller's when nothing could be queued. */
static void
ca_issue_done(struct ca_issue_job *job)
{
	if (job->err != 0)
		gp_err_set(job->err, "%s", job->errbuf);
	job->fn(job->arg, job->err);
	ca_issue_job_drop(job);
}

static void
ca_issue_fail_logged(void *arg, int r)
{
	struct ca_issue_job *job = arg;

	if (r != 0)
		gp_log(GP_LOG_ERROR, "cert.issue: cannot audit a failure: %s",
		    gp_err_detail());
	ca_issue_done(job);
}

/* The writer's report on the row and record of |arg|. A failure is
 * audited as ca_issue_commit() audits it, through the writer's queue too
 * (this may run on the writer thread, which must not wait for itself),
 * and reported only once that record is durable. */
static void
ca_issue_committed(void *arg, int r)
{
	struct ca_issue_job *job = arg;
	struct audit_event ev;
	json_t *d;
	int rl;

	if (r == 0) {
		ca_issue_done(job);
		return;
	}
	job->err = r;
	snprintf(job->errbuf, sizeof(job->errbuf), "%s", gp_err_detail());
	if (!ca_issue_commit_audited(job, r)) {
		ca_issue_done(job);
		return;
	}
	d = ca_refusal_details(NULL, r, job->errbuf);
	ca_event(&ev, &job->who, "cert.issue", job->profile, "failure", d);
	rl = audit_log_async(job->audit, &ev, ca_issue_fail_logged, job);
	json_decref(d);
	if (rl != 0)
		ca_issue_fail_logged(job, rl);
}

void
ca_issue_commit_async(ca_issue_job *job, ca_issue_done_fn fn, void *arg)
{
	int r;

	job->fn = fn;
	job->arg = arg;
	if ((r = audit_apply_async(job->audit, ca_commit_apply, &job->cm,
	    &job->ev, ca_issue_committed, job)) != 0)
		ca_issue_committed(job, r);
}

void
ca_issue_job_free(ca_issue_job *job)
{
	struct ca_ctx ctx;
	int r;

	if (job == NULL)
		return;
	/* A signature was made: say that its certificate was never
	 * stored. */
	r = gp_err_set(GP_ERR_INTERNAL, "certificate %s was signed but "
	    "abandoned before it was stored", job->sc.serial);
	memset(&ctx, 0, sizeof(ctx));
	ctx.audit = job->audit;
	(void)ca_audit_refusal(&ctx, &job->who, "cert.issue", job->profile,
	    "failure", r, NULL);
	ca_issue_job_drop(job);
}

int
ca_issue_now(const struct ca_ctx *ca, const struct ca_actor *who,
    const struct ca_issue_req *req, const struct ca_approval *approval,
    struct ca_issue_result *res)
{
	ca_issue_job *job = NULL;
	int r;

	GUARD(ca_issue_sign(ca, who, req, approval, res, &job));
	r = ca_issue_commit(job);
	job = NULL; /* transferred */
	if (r != 0)
		ca_issue_result_clear(res);
out:
	return r;
}

/* The request as stored for approval: everything needed to issue it
 * later, exactly as asked. */
static char *
ca_request_body(const struct ca_issue_req *req)
{
	json_t *o;
	char *s;

	o = json_pack("{s:s, s:s%, s:O, s:O?, s:I}", "profile", req->profile,
	    "csr", req->csr_pem, req->csr_len, "subject", req->subject,
	    "san", req->san, "validity_days", (json_int_t)req->validity_days);
	if (o == NULL)
		return NULL;
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

static int
ca_request_new(const struct ca_ctx *ca, const struct ca_actor *who,
    const struct ca_issue_req *req, const struct ca_profile *p,
    struct ca_issue_result *res)
{
	struct store_request sr;
	struct audit_event ev;
	uint8_t rnd[16];
	char *id = NULL, *body = NULL;
	json_t *details = NULL;
	int r = GP_ERR_INTERNAL, in_tx = 0;

	memset(&sr, 0, sizeof(sr));
	GUARD(gp_random(rnd, sizeof(rnd)));
	ENSURE((id = gp_hex(rnd, sizeof(rnd))) != NULL &&
	    (body = ca_request_body(req)) != NULL, GP_ERR_NOMEM);
	sr.id = id;
	sr.profile = p->name;
	sr.requester = (char *)who->id;
	sr.requester_actor = (char *)who->actor;
	sr.body = body;
	sr.created_ms = gp_now_ms();
	ENSURE((details = json_pack("{s:s, s:s}", "profile", p->name,
	    "needs", "approval by a second officer")) != NULL, GP_ERR_NOMEM);
	ca_event(&ev, who, "cert.request", id, "success", details);
	GUARD(store_begin(ca->st));
	in_tx = 1;
	GUARD(store_request_insert(ca->st, &sr));
	GUARD(audit_append_tx(ca->audit, &ev, NULL));
	in_tx = 0;
	GUARD(store_commit(ca->st));
	ENSURE((res->profile = strdup(p->name)) != NULL, GP_ERR_NOMEM);
	res->pending = 1;
	res->request_id = id;
	id = NULL; /* transferred */
	r = 0;
out:
	if (in_tx)
		store_rollback(ca->st);
	json_decref(details);
	free(id);
	free(body);
	return r;
}

int
ca_issue_start(const struct ca_ctx *ca, const struct ca_actor *who,
    const struct ca_issue_req *req, struct ca_issue_result *res,
    ca_issue_job **out_job)
{
	const struct ca_profile *p = NULL;
	int r;

	memset(res, 0, sizeof(*res));
	*out_job = NULL;
	ENSURE(ca != NULL && who != NULL && who->id != NULL && req != NULL,
	    gp_err_set(GP_ERR_INVALID, "ca_issue: context, actor and request "
	    "are required"));
	p = ca_profile_find(ca->profiles, req->profile);
	/* A dual-control request is checked in full before it is recorded;
	 * any other is checked once, inside ca_issue_sign(). */
	if (p == NULL || p->dual_control)
		r = ca_issue_validate(ca, req, &p);
	else
		r = ca_issue_sign(ca, who, req, NULL, res, out_job);
	if (r == GP_ERR_INVALID || r == GP_ERR_TOO_LARGE) {
		/* A request outside the profile: refused, named, audited. */
		r = ca_audit_refusal(ca, who, "cert.issue", req->profile ?
		    req->profile : "", "failure", r, NULL);
		goto out;
	}
	GUARD(r);
	if (*out_job != NULL)
		(*out_job)->direct = 1;
	if (p->dual_control)
		GUARD(ca_request_new(ca, who, req, p, res));
	r = 0;
out:
	return r;
}

int
ca_issue(const struct ca_ctx *ca, const struct ca_actor *who,
    const struct ca_issue_req *req, struct ca_issue_result *res)
{
	ca_issue_job *job = NULL;
	int r;

	GUARD(ca_issue_start(ca, who, req, res, &job));
	if (job != NULL) {
		r = ca_issue_commit(job);
		job = NULL; /* transferred */
		if (r != 0)
			ca_issue_result_clear(res);
	}
out:
	return r;
}
