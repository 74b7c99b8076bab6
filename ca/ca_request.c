/*
 * ca_request.c: dual control. A profile with "dual_control": true (sub-ca,
 * tsa, ocsp-signer, officer) does not issue on one person's word: ca_issue()
 * records a pending request (checked in full first), and a DIFFERENT
 * person decides it: ca_request_approve() issues it, ca_request_refuse()
 * closes it with a reason. Persons, not certificates, are compared
 * (ca_person.c), so an officer holding two certificates cannot approve
 * their own request with the second one.
 *
 * The approver sees what they approve: ca_request_get() shows the request
 * as it would be issued (profile, subject, names, role, key type and
 * fingerprint, validity, requester), re-checked against the profile now.
 * The request is checked again at approval, and the decision commits in
 * the transaction that stores the certificate (or, for a refusal, its
 * record), so a request is decided at most once however many officers act
 * at the same time. Failures are audited by the rule of ca/internal.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/internal.h"

#define CA_REQID_LEN 32
#define CA_REASON_MAX_CHARS 256

int
ca_request_id_ok(const char *id)
{
	size_t i;

	if (id == NULL)
		return 0;
	for (i = 0; id[i] != '\0'; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'f')))
			return 0;
	return i == CA_REQID_LEN;
}

/* What a failure about request |id| is recorded against. */
static const char *
ca_request_object(const char *id)
{
	return ca_request_id_ok(id) ? id : "invalid-request-id";
}

static int
ca_request_id_check(const char *id)
{
	if (!ca_request_id_ok(id))
		return gp_err_set(GP_ERR_INVALID, "request id: %d lower-case "
		    "hex digits", CA_REQID_LEN);
	return 0;
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

/* Rebuilds the issuance request from a stored body; |root| owns the
 * strings |req| borrows. */
static int
ca_request_parse(const char *body, json_t **root, struct ca_issue_req *req)
{
	json_t *o, *csr;
	json_error_t jerr;

	memset(req, 0, sizeof(*req));
	*root = NULL;
	if (body == NULL || (o = json_loads(body, 0, &jerr)) == NULL)
		return gp_err_set(GP_ERR_STORE, "stored request does not "
		    "parse");
	*root = o;
	csr = json_object_get(o, "csr");
	req->profile = json_string_value(json_object_get(o, "profile"));
	req->csr_pem = json_string_value(csr);
	req->csr_len = csr != NULL ? json_string_length(csr) : 0;
	req->subject = json_object_get(o, "subject");
	req->san = json_object_get(o, "san");
	req->validity_days = json_integer_value(json_object_get(o,
	    "validity_days"));
	return 0;
}

int
ca_request_new(const struct ca_ctx *ca, const struct ca_actor *who,
    const struct ca_issue_req *req, struct ca_issue_result *res)
{
	const struct ca_profile *p;
	struct store_request sr;
	struct audit_event ev;
	struct ca_vals vals;
	struct ca_csr *csr = NULL;
	uint8_t rnd[16];
	char *id = NULL, *body = NULL, *san = NULL;
	json_t *details = NULL;
	int r = GP_ERR_INTERNAL, in_tx = 0;

	memset(&sr, 0, sizeof(sr));
	/* Checked in full before it is recorded: nobody is asked to
	 * approve what could not be issued. */
	GUARD(ca_request_check(ca, req, &p, &vals, &san, &csr));
	GUARD(gp_random(rnd, sizeof(rnd)));
	ENSURE((id = gp_hex(rnd, sizeof(rnd))) != NULL &&
	    (body = ca_request_body(req)) != NULL, GP_ERR_NOMEM);
	sr.id = id;
	sr.profile = p->name;
	sr.requester = (char *)who->person->id;
	sr.requester_idn = who->person->idn[0] != '\0' ?
	    (char *)who->person->idn : NULL;
	sr.requester_actor = (char *)who->actor;
	sr.body = body;
	sr.created_ms = gp_now_ms();
	ENSURE((details = json_pack("{s:s, s:s}", "profile", p->name,
	    "needs", "approval by a second person")) != NULL, GP_ERR_NOMEM);
	ca_event(&ev, who, "cert.request", id, "success", details);
	GUARD(store_begin(ca->st));
	in_tx = 1;
	GUARD(store_request_insert(ca->st, &sr));
	in_tx = 0; /* ended by ca_commit_record */
	GUARD(ca_commit_record(ca->st, ca->audit, &ev));
	ENSURE((res->profile = strdup(p->name)) != NULL, GP_ERR_NOMEM);
	res->pending = 1;
	res->request_id = id;
	id = NULL; /* transferred */
	r = 0;
out:
	if (in_tx)
		store_rollback(ca->st);
	json_decref(details);
	ca_csr_free(csr);
	free(san);
	free(id);
	free(body);
	return r;
}

/* The person who made |sr|. A request stored before persons were kept
 * names its requester by certificate serial: that certificate, from the
 * store, says who it was. */
static int
ca_request_requester(const struct ca_ctx *ca, const struct store_request *sr,
    struct ca_person *out)
{
	struct store_cert c;
	const unsigned char *p;
	X509 *x = NULL;
	int r;

	memset(&c, 0, sizeof(c));
	memset(out, 0, sizeof(*out));
	if (strncmp(sr->requester, "dn:", 3) == 0 ||
	    strncmp(sr->requester, "local:", 6) == 0) {
		ENSURE(strlen(sr->requester) < sizeof(out->id) &&
		    (sr->requester_idn == NULL ||
		    strlen(sr->requester_idn) < sizeof(out->idn)),
		    gp_err_set(GP_ERR_STORE, "request %s: requester too long",
		    sr->id));
		memcpy(out->id, sr->requester, strlen(sr->requester) + 1);
		if (sr->requester_idn != NULL)
			memcpy(out->idn, sr->requester_idn,
			    strlen(sr->requester_idn) + 1);
		r = 0;
		goto out;
	}
	r = store_cert_get(ca->st, sr->requester, &c);
	if (r == GP_ERR_NOT_FOUND)
		r = gp_err_set(GP_ERR_NOT_FOUND, "request %s: the requester's "
		    "certificate %.72s is not in the store, so the requester "
		    "cannot be told apart; refuse the request and ask again",
		    sr->id, sr->requester);
	GUARD(r);
	p = c.der;
	ENSURE(c.der != NULL && (x = d2i_X509(NULL, &p, (long)c.der_len)) !=
	    NULL, gp_err_set(GP_ERR_STORE, "certificate %s: stored DER does "
	    "not parse", c.serial));
	GUARD(ca_person_of_cert(x, c.id_number, out));
	r = 0;
out:
	X509_free(x);
	store_cert_clear(&c);
	return r;
}

int
ca_request_approve(const struct ca_ctx *ca, const struct ca_actor *who,
    const char *request_id, struct ca_issue_result *res)
{
	struct store_request sr;
	struct ca_issue_req req;
	struct ca_approval ap;
	struct ca_person requester;
	ca_issue_job *job = NULL;
	json_t *root = NULL, *details = NULL;
	int r;

	memset(res, 0, sizeof(*res));
	memset(&sr, 0, sizeof(sr));
	ENSURE(ca != NULL && who != NULL && who->person != NULL,
	    gp_err_set(GP_ERR_INVALID, "cert.approve: context and actor are "
	    "required"));
	GUARD(ca_request_id_check(request_id));
	GUARD(store_request_get(ca->st, request_id, &sr));
	ENSURE(strcmp(sr.status, "pending") == 0, gp_err_set(GP_ERR_CONFLICT,
	    "request %s is %s, no longer pending", request_id, sr.status));
	GUARD(ca_request_requester(ca, &sr, &requester));
	/* Dual control: two persons, not two certificates. */
	if (ca_person_same(&requester, who->person)) {
		details = json_pack("{s:s}", "requester", sr.requester_actor);
		r = gp_err_set(GP_ERR_DENIED, "request %s: the requester cannot "
		    "approve it, not with another certificate of theirs either; "
		    "a second person must", request_id);
		goto out;
	}
	GUARD(ca_request_parse(sr.body, &root, &req));
	ap.request_id = sr.id;
	ap.requester = sr.requester_actor;
	ap.approver = who->person->id;
	GUARD(ca_job_sign(ca, who, &req, &ap, res, &job));
	GUARD(ca_job_commit(job));
	r = 0;
out:
	if (r != 0) {
		ca_issue_result_clear(res);
		/* A certificate signed but not stored is named. */
		if (job != NULL && (details != NULL ||
		    (details = json_object()) != NULL))
			json_object_set_new(details, "serial",
			    json_string(ca_job_serial(job)));
		(void)ca_audit_fail(ca != NULL ? ca->audit : NULL, who,
		    "cert.approve", ca_request_object(request_id), r,
		    details);
	}
	ca_job_drop(job);
	json_decref(root);
	store_request_clear(&sr);
	return r;
}

int
ca_request_refuse(const struct ca_ctx *ca, const struct ca_actor *who,
    const char *request_id, const char *reason)
{
	struct store_request sr;
	struct store_request_decision d;
	struct audit_event ev;
	json_t *details = NULL;
	int r = GP_ERR_INTERNAL, in_tx = 0;

	memset(&sr, 0, sizeof(sr));
	ENSURE(ca != NULL && who != NULL && who->person != NULL,
	    gp_err_set(GP_ERR_INVALID, "cert.refuse: context and actor are "
	    "required"));
	GUARD(ca_request_id_check(request_id));
	ENSURE(reason != NULL, gp_err_set(GP_ERR_INVALID, "reason: required "
	    "(why the request is refused)"));
	GUARD(ca_text_check("reason", reason, strlen(reason),
	    CA_REASON_MAX_CHARS));
	GUARD(store_begin(ca->st));
	in_tx = 1;
	GUARD(store_request_get(ca->st, request_id, &sr));
	memset(&d, 0, sizeof(d));
	d.status = "refused";
	d.approver = who->person->id;
	d.approver_actor = who->actor;
	d.reason = reason;
	d.decided_ms = gp_now_ms();
	GUARD(store_request_decide(ca->st, request_id, &d));
	ENSURE((details = json_pack("{s:s, s:s, s:s}", "profile", sr.profile,
	    "requester", sr.requester_actor, "reason", reason)) != NULL,
	    GP_ERR_NOMEM);
	ca_event(&ev, who, "cert.refuse", request_id, "success", details);
	in_tx = 0; /* ended by ca_commit_record */
	GUARD(ca_commit_record(ca->st, ca->audit, &ev));
	r = 0;
out:
	if (in_tx)
		store_rollback(ca->st);
	if (r != 0)
		(void)ca_audit_fail(ca != NULL ? ca->audit : NULL, who,
		    "cert.refuse", ca_request_object(request_id), r, NULL);
	json_decref(details);
	store_request_clear(&sr);
	return r;
}

/* The summary of |sr| every listing shows. New reference or NULL. */
static json_t *
ca_request_summary(const struct store_request *sr)
{
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "id", sr->id,
	    "profile", sr->profile, "status", sr->status, "requester",
	    sr->requester_actor, "requester_id", sr->requester, "created_ms",
	    (json_int_t)sr->created_ms);
	if (o == NULL)
		return NULL;
	if (sr->requester_idn != NULL)
		json_object_set_new(o, "requester_idn",
		    json_string(sr->requester_idn));
	if (strcmp(sr->status, "pending") != 0) {
		json_object_set_new(o, "decided_ms",
		    json_integer(sr->decided_ms));
		if (sr->approver_actor != NULL)
			json_object_set_new(o, "decided_by",
			    json_string(sr->approver_actor));
		if (sr->approver != NULL)
			json_object_set_new(o, "decided_by_id",
			    json_string(sr->approver));
	}
	if (sr->serial != NULL)
		json_object_set_new(o, "serial", json_string(sr->serial));
	if (sr->reason != NULL)
		json_object_set_new(o, "reason", json_string(sr->reason));
	return o;
}

/* The SHA-256 of |key|'s SubjectPublicKeyInfo, "sha256:" and hex with
 * colons, into |buf|. */
static int
ca_key_fingerprint(EVP_PKEY *key, char *buf, size_t len)
{
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	size_t used;
	int n, r;

	ENSURE((n = i2d_PUBKEY(key, &der)) > 0, gp_err_ssl(GP_ERR_CRYPTO,
	    "encoding the request's key"));
	ENSURE(EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL) == 1,
	    gp_err_ssl(GP_ERR_CRYPTO, "hashing the request's key"));
	used = (size_t)snprintf(buf, len, "sha256:");
	for (i = 0; i < mdlen && used + 3 < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%02X",
		    i ? ":" : "", md[i]);
	r = 0;
out:
	OPENSSL_free(der);
	return r;
}

/* What approving |req| now would issue, or why it could not be. */
static int
ca_request_preview(const struct ca_ctx *ca, const struct ca_issue_req *req,
    json_t **out)
{
	const struct ca_profile *p;
	struct ca_vals vals;
	struct ca_csr *csr = NULL;
	X509_NAME *subject = NULL;
	char *san = NULL, *dn = NULL, *ku = NULL, *eku = NULL, fp[128];
	int64_t nb = 0, na = 0;
	EVP_PKEY *key;
	json_t *o = NULL;
	int r;

	*out = NULL;
	r = ca_request_check(ca, req, &p, &vals, &san, &csr);
	if (r == 0)
		r = ca_subject_build(ca, p, &vals, &subject);
	if (r == GP_ERR_INVALID || r == GP_ERR_TOO_LARGE) {
		/* Shown, not failed: the request no longer passes (a profile
		 * changed since); approving it would be refused. */
		*out = json_pack("{s:b, s:s}", "issuable", 0, "problem",
		    gp_err_detail());
		r = *out != NULL ? 0 : GP_ERR_NOMEM;
		goto out;
	}
	GUARD(r);
	key = ca_csr_key(csr);
	GUARD(ca_key_fingerprint(key, fp, sizeof(fp)));
	ca_validity(ca, p, req->validity_days, (int64_t)time(NULL), &nb, &na);
	ENSURE((dn = ca_name_text(subject)) != NULL &&
	    (ku = ca_profile_ku_text(p)) != NULL, GP_ERR_NOMEM);
	eku = ca_profile_eku_text(p);
	ENSURE(eku != NULL || p->eku_len == 0, GP_ERR_NOMEM);
	o = json_pack("{s:b, s:s, s:s, s:s, s:s?, s:s?, s:{s:s, s:i, s:s}, "
	    "s:I, s:I, s:I, s:s, s:s?, s:b}", "issuable", 1, "profile",
	    p->name, "issuer", gp_key_names[p->issuer], "subject", dn,
	    "names", san, "role", vals.role, "key", "type",
	    ca_key_type_name(ca_key_type(key)), "bits", EVP_PKEY_get_bits(key),
	    "fingerprint", fp, "validity_days", (json_int_t)(
	    req->validity_days > 0 ? req->validity_days :
	    p->max_validity_days), "not_before", (json_int_t)nb, "not_after",
	    (json_int_t)na, "key_usage", ku, "extended_key_usage", eku,
	    "ca", p->is_ca);
	ENSURE(o != NULL, GP_ERR_NOMEM);
	*out = o;
	o = NULL; /* transferred */
	r = 0;
out:
	json_decref(o);
	ca_csr_free(csr);
	X509_NAME_free(subject);
	free(san);
	free(dn);
	free(ku);
	free(eku);
	return r;
}

int
ca_request_get(const struct ca_ctx *ca, const char *request_id, json_t **out)
{
	struct store_request sr;
	struct ca_issue_req req;
	json_t *o = NULL, *root = NULL, *issue = NULL;
	int r;

	*out = NULL;
	memset(&sr, 0, sizeof(sr));
	GUARD(ca_request_id_check(request_id));
	GUARD(store_request_get(ca->st, request_id, &sr));
	ENSURE((o = ca_request_summary(&sr)) != NULL, GP_ERR_NOMEM);
	GUARD(ca_request_parse(sr.body, &root, &req));
	GUARD(ca_request_preview(ca, &req, &issue));
	json_object_set_new(o, "issue", issue);
	issue = NULL; /* transferred */
	*out = o;
	o = NULL; /* transferred */
	r = 0;
out:
	json_decref(o);
	json_decref(root);
	json_decref(issue);
	store_request_clear(&sr);
	return r;
}

int
ca_request_list(const struct ca_ctx *ca, const struct store_request_query *q,
    json_t **out)
{
	struct store_request *list = NULL;
	size_t n = 0, i;
	json_t *arr = NULL;
	int r;

	*out = NULL;
	GUARD(store_request_find(ca->st, q, &list, &n));
	ENSURE((arr = json_array()) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < n; i++)
		ENSURE(json_array_append_new(arr, ca_request_summary(&list[i]))
		    == 0, GP_ERR_NOMEM);
	*out = json_pack("{s:o, s:s?}", "requests", arr, "next_after",
	    n == (size_t)q->limit && n > 0 ? list[n - 1].id : NULL);
	arr = NULL; /* transferred, also on failure */
	ENSURE(*out != NULL, GP_ERR_NOMEM);
	r = 0;
out:
	json_decref(arr);
	store_request_list_free(list, n);
	return r;
}
