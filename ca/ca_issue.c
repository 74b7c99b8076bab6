/*
 * ca_issue.c: the issuance job and its commit.
 *
 *   1. the request is checked against its profile (ca_subject.c);
 *   2. the certificate is built unsigned, linted against the profile and
 *      the issuer (ca_lint.c), and only then signed by the CA key on the
 *      token;
 *   3. the certificate row, the decision of the request it approves (if
 *      any) and its "cert.issue" record commit in one store transaction,
 *      through the audit writer's group commit, before the caller may
 *      hand the result out: ca_issue() waits for it; ca_issue_start() +
 *      ca_issue_commit_async() let a server answer from the writer's
 *      callback instead of holding a thread.
 *
 * A dual-control profile stops after 1: ca_request.c records the request
 * as pending and issues it through the same job once a different person
 * approves. Failures follow the one rule of ca/internal.h: the entry
 * points below audit them, once, at their exit; ca_job_*() never do.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "ca/internal.h"

#define CA_DAY 86400

/* One signed certificate on its way to the store: the row, its record,
 * who asked and the request it decides, all owned, so that the commit
 * may finish on the audit writer's thread after the caller's request is
 * gone. */
struct ca_issue_job {
	audit *audit;
	store *st;
	struct store_cert sc;
	struct audit_event ev;        /* "cert.issue" success */
	json_t *details;
	struct ca_actor who;          /* strings owned below */
	struct ca_person person;
	char *actor, *role, *request_id, *client;
	char *approval_id;            /* the request approved, or NULL */
	char *approver;               /* the approver's person identity */
	char *profile;
	ca_issue_done_fn fn;
	void *arg;
	int err;
	char errbuf[1024];
};

void
ca_job_drop(ca_issue_job *job)
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
	free(job->request_id);
	free(job->client);
	free(job->approval_id);
	free(job->approver);
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

static int64_t
ca_time(const ASN1_TIME *t)
{
	struct tm tm;

	return ASN1_TIME_to_tm(t, &tm) ? (int64_t)timegm(&tm) : 0;
}

/* A copy of |who| the job owns, for its records after the caller's
 * request is gone. */
static int
ca_job_who(ca_issue_job *job, const struct ca_actor *who)
{
	int r;

	GUARD(ca_dup(&job->actor, who->actor));
	GUARD(ca_dup(&job->role, who->role));
	GUARD(ca_dup(&job->request_id, who->request_id));
	GUARD(ca_dup(&job->client, who->client));
	if (who->person != NULL)
		job->person = *who->person;
	job->who.actor = job->actor;
	job->who.role = job->role;
	job->who.person = &job->person;
	job->who.request_id = job->request_id;
	job->who.client = job->client;
	r = 0;
out:
	return r;
}

const char *
ca_job_serial(const ca_issue_job *job)
{
	return job->sc.serial;
}

void
ca_validity(const struct ca_ctx *ca, const struct ca_profile *p,
    int64_t validity_days, int64_t now, int64_t *out_not_before,
    int64_t *out_not_after)
{
	X509 *issuer = ca->cert[p->issuer];
	int64_t days, inb = 0, ina = INT64_MAX;

	if (issuer != NULL) {
		inb = ca_time(X509_get0_notBefore(issuer));
		ina = ca_time(X509_get0_notAfter(issuer));
	}
	/* A minute back for clocks slightly behind ours, but never before
	 * the issuer (RFC 5280 6.1.3 (a)(2)). */
	*out_not_before = now - 60 > inb ? now - 60 : inb;
	days = validity_days > 0 ? validity_days : p->max_validity_days;
	*out_not_after = now + days * CA_DAY;
	if (*out_not_after > ina)
		*out_not_after = ina;
}

int
ca_job_sign(const struct ca_ctx *ca, const struct ca_actor *who,
    const struct ca_issue_req *req, const struct ca_approval *approval,
    struct ca_issue_result *res, ca_issue_job **out_job)
{
	const struct ca_profile *p;
	struct ca_vals vals;
	struct ca_cert_spec spec;
	ca_issue_job *job = NULL;
	struct ca_csr *csr = NULL;
	X509_NAME *subject = NULL;
	X509 *cert = NULL, *issuer;
	EVP_PKEY *ikey;
	char *san = NULL, *ku = NULL, *eku = NULL, *pol = NULL, *crl = NULL,
	    *ocsp = NULL, *cai = NULL;
	unsigned char *der = NULL;
	int r = GP_ERR_INTERNAL, len;
	size_t i;

	memset(res, 0, sizeof(*res));
	*out_job = NULL;
	GUARD(ca_request_check(ca, req, &p, &vals, &san, &csr));
	issuer = ca->cert[p->issuer];
	ikey = ca->key[p->issuer];
	ENSURE(issuer != NULL && ikey != NULL, gp_err_set(GP_ERR_LOGIN_REQUIRED,
	    "the %s key is not loaded", gp_key_names[p->issuer]));
	GUARD(ca_subject_build(ca, p, &vals, &subject));

	memset(&spec, 0, sizeof(spec));
	spec.subject = subject;
	if (csr != NULL) {
		spec.pubkey = ca_csr_key(csr);
		/* The key info exactly as signed in the request, when it
		 * allows. */
		ca_csr_spki(csr, &spec.spki_alg, &spec.spki_key);
	} else {
		spec.pubkey = req->pubkey; /* the KMC's (ca_request_check) */
	}
	spec.issuer_cert = issuer;
	spec.issuer_key = ikey;
	ca_validity(ca, p, req->validity_days, (int64_t)time(NULL),
	    &spec.not_before, &spec.not_after);
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
	job->st = ca->st;
	ENSURE((job->sc.serial = ca_serial_hex(cert)) != NULL &&
	    (job->sc.subject = ca_name_text(subject)) != NULL, GP_ERR_NOMEM);
	ENSURE(ca_dup(&job->sc.role, vals.role) == 0 &&
	    ca_dup(&job->sc.uscc, vals.uscc) == 0 &&
	    ca_dup(&job->sc.id_number, vals.id_number) == 0 &&
	    ca_dup(&job->profile, p->name) == 0 &&
	    ca_job_who(job, who) == 0 &&
	    ca_dup(&job->approval_id, approval != NULL ?
	    approval->request_id : NULL) == 0 &&
	    ca_dup(&job->approver, approval != NULL ? approval->approver :
	    NULL) == 0, GP_ERR_NOMEM);
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

	ENSURE((res->cert_pem = ca_pem(job->sc.der, job->sc.der_len)) != NULL &&
	    (res->profile = strdup(p->name)) != NULL &&
	    (res->serial = strdup(job->sc.serial)) != NULL, GP_ERR_NOMEM);
	res->not_before = spec.not_before;
	res->not_after = spec.not_after;
	*out_job = job;
	job = NULL; /* transferred */
	r = 0;
out:
	if (r != 0)
		ca_issue_result_clear(res);
	ca_job_drop(job);
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

/* The state change of one issuance, run by the audit writer inside the
 * transaction that also holds its record: the approval decided, if any,
 * and the certificate row. */
static int
ca_commit_apply(store *st, void *arg)
{
	const ca_issue_job *job = arg;
	struct store_request_decision d;
	int r;

	if (job->approval_id != NULL) {
		memset(&d, 0, sizeof(d));
		d.status = "approved";
		d.approver = job->approver;
		d.approver_actor = job->actor;
		d.serial = job->sc.serial;
		d.decided_ms = job->sc.created_ms;
		GUARD(store_request_decide(st, job->approval_id, &d));
	}
	GUARD(store_cert_insert(st, &job->sc));
	r = 0;
out:
	return r;
}

int
ca_job_commit(ca_issue_job *job)
{
	/* The certificate and its audit record commit together, before the
	 * caller may hand the certificate out; concurrent issuances share
	 * the audit writer's group commit. */
	return audit_apply(job->audit, ca_commit_apply, job, &job->ev);
}

/* What a failed issuance is recorded against: the serial once one was
 * signed, else the profile asked for (when it is one of ours). */
static const char *
ca_issue_object(const struct ca_ctx *ca, const struct ca_issue_req *req,
    const ca_issue_job *job)
{
	const struct ca_profile *p;

	if (job != NULL)
		return job->sc.serial;
	if (ca != NULL && req != NULL &&
	    (p = ca_profile_find(ca->profiles, req->profile)) != NULL)
		return p->name;
	return "unknown-profile";
}

/* Everything of ca_issue_start(), without auditing a failure. */
static int
ca_issue_begin(const struct ca_ctx *ca, const struct ca_actor *who,
    const struct ca_issue_req *req, struct ca_issue_result *res,
    ca_issue_job **out_job)
{
	const struct ca_profile *p;
	int r;

	memset(res, 0, sizeof(*res));
	*out_job = NULL;
	ENSURE(ca != NULL && who != NULL && who->person != NULL &&
	    who->person->id[0] != '\0' && req != NULL,
	    gp_err_set(GP_ERR_INVALID, "ca_issue: context, actor (with a "
	    "person identity) and request are required"));
	p = ca_profile_find(ca->profiles, req->profile);
	if (p != NULL && p->dual_control)
		GUARD(ca_request_new(ca, who, req, res));
	else
		GUARD(ca_job_sign(ca, who, req, NULL, res, out_job));
	r = 0;
out:
	return r;
}

int
ca_issue_start(const struct ca_ctx *ca, const struct ca_actor *who,
    const struct ca_issue_req *req, struct ca_issue_result *res,
    ca_issue_job **out_job)
{
	int r;

	GUARD(ca_issue_begin(ca, who, req, res, out_job));
	r = 0;
out:
	if (r != 0)
		(void)ca_audit_fail(ca != NULL ? ca->audit : NULL, who,
		    "cert.issue", ca_issue_object(ca, req, NULL), r, NULL);
	return r;
}

int
ca_issue(const struct ca_ctx *ca, const struct ca_actor *who,
    const struct ca_issue_req *req, struct ca_issue_result *res)
{
	ca_issue_job *job = NULL;
	int r;

	GUARD(ca_issue_begin(ca, who, req, res, &job));
	if (job != NULL)
		GUARD(ca_job_commit(job));
	r = 0;
out:
	if (r != 0) {
		ca_issue_result_clear(res);
		(void)ca_audit_fail(ca != NULL ? ca->audit : NULL, who,
		    "cert.issue", ca_issue_object(ca, req, job), r, NULL);
	}
	ca_job_drop(job);
	return r;
}

int
ca_issue_commit(ca_issue_job *job)
{
	int r;

	ENSURE(job != NULL, gp_err_set(GP_ERR_INVALID, "ca_issue_commit: no "
	    "job"));
	GUARD(ca_job_commit(job));
	r = 0;
out:
	if (r != 0 && job != NULL)
		(void)ca_audit_fail(job->audit, &job->who, "cert.issue",
		    job->sc.serial, r, NULL);
	ca_job_drop(job);
	return r;
}

/* The asynchronous commit is over, its failure (if any) audited: report
 * to the caller and let go of the job. On the audit writer's thread, or
 * on the caller's when nothing could be queued. */
static void
ca_issue_done(ca_issue_job *job)
{
	if (job->err != 0)
		gp_err_set(job->err, "%s", job->errbuf);
	job->fn(job->arg, job->err);
	ca_job_drop(job);
}

static void
ca_issue_fail_logged(void *arg, int r)
{
	ca_issue_job *job = arg;

	if (r != 0)
		gp_log(GP_LOG_ERROR, "cert.issue: cannot audit a failure: %s",
		    gp_err_detail());
	ca_issue_done(job);
}

/* The writer's report on the row and record of |arg|. A failure is
 * audited as ca_issue_commit() audits it, through the writer's queue
 * (this may run on the writer thread, which must not wait for itself),
 * and reported only once that record is durable. */
static void
ca_issue_committed(void *arg, int r)
{
	ca_issue_job *job = arg;
	struct audit_event ev;
	json_t *d;
	int rl;

	if (r == 0) {
		ca_issue_done(job);
		return;
	}
	job->err = r;
	snprintf(job->errbuf, sizeof(job->errbuf), "%s", gp_err_detail());
	d = ca_refusal_details(NULL, r, job->errbuf);
	ca_event(&ev, &job->who, "cert.issue", job->sc.serial,
	    ca_fail_outcome(r), d);
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
	if ((r = audit_apply_async(job->audit, ca_commit_apply, job,
	    &job->ev, ca_issue_committed, job)) != 0)
		ca_issue_committed(job, r);
}

void
ca_issue_job_free(ca_issue_job *job)
{
	int r;

	if (job == NULL)
		return;
	/* A signature was made: say that its certificate was never
	 * stored. */
	r = gp_err_set(GP_ERR_INTERNAL, "certificate %s was signed but "
	    "abandoned before it was stored", job->sc.serial);
	(void)ca_audit_fail(job->audit, &job->who, "cert.issue",
	    job->sc.serial, r, NULL);
	ca_job_drop(job);
}

int
ca_issue_write_tx(ca_issue_job *job)
{
	int r;

	ENSURE(job != NULL && job->st != NULL, gp_err_set(GP_ERR_INVALID,
	    "ca_issue_write_tx: no job"));
	/* The row and its "cert.issue" record, in the caller's
	 * transaction. */
	GUARD(store_cert_insert(job->st, &job->sc));
	GUARD(audit_append_tx(job->audit, &job->ev, NULL));
	r = 0;
out:
	return r;
}

void
ca_issue_job_done(ca_issue_job *job)
{
	ca_job_drop(job);
}

const char *
ca_issue_job_serial(const ca_issue_job *job)
{
	return job != NULL ? job->sc.serial : NULL;
}

const uint8_t *
ca_issue_job_der(const ca_issue_job *job, size_t *out_len)
{
	*out_len = job != NULL ? job->sc.der_len : 0;
	return job != NULL ? job->sc.der : NULL;
}
