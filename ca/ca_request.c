/*
 * ca_request.c: dual control. A profile with "dual_control": true (sub-ca,
 * tsa, ocsp-signer, officer) does not issue on one officer's word:
 * ca_issue() records a pending request, and ca_request_approve() issues it
 * when a DIFFERENT identity approves: another administrator certificate
 * (compared by serial), or the local operator on the CLI against an API
 * officer. The request is re-validated at approval, and its decision
 * commits in the transaction that stores the certificate, so a request is
 * issued at most once however many officers approve at the same time.
 */
#include <stdlib.h>
#include <string.h>

#include "ca/internal.h"

/* Rebuilds the issuance request from a stored body; |root| owns the
 * strings |req| borrows. */
static int
ca_request_parse(const char *body, json_t **root, struct ca_issue_req *req)
{
	json_t *o, *csr;
	json_error_t jerr;

	memset(req, 0, sizeof(*req));
	if ((o = json_loads(body, 0, &jerr)) == NULL)
		return gp_err_set(GP_ERR_STORE, "stored request does not "
		    "parse: %s", jerr.text);
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
ca_request_approve(const struct ca_ctx *ca, const struct ca_actor *who,
    const char *request_id, struct ca_issue_result *res)
{
	struct store_request sr;
	struct ca_issue_req req;
	struct ca_approval ap;
	json_t *root = NULL;
	int r;

	memset(res, 0, sizeof(*res));
	memset(&sr, 0, sizeof(sr));
	ENSURE(ca != NULL && who != NULL && who->id != NULL &&
	    request_id != NULL, gp_err_set(GP_ERR_INVALID, "request id and "
	    "actor are required"));
	r = store_request_get(ca->st, request_id, &sr);
	if (r == GP_ERR_NOT_FOUND) {
		r = ca_audit_refusal(ca, who, "cert.approve", request_id,
		    "failure", r, NULL);
		goto out;
	}
	GUARD(r);
	if (strcmp(sr.status, "pending") != 0) {
		r = gp_err_set(GP_ERR_CONFLICT, "request %s is %s, no longer "
		    "pending", request_id, sr.status);
		r = ca_audit_refusal(ca, who, "cert.approve", request_id,
		    "failure", r, NULL);
		goto out;
	}
	/* Dual control: the approver must be another person than the
	 * requester; one identity cannot supply both halves. */
	if (strcmp(sr.requester, who->id) == 0) {
		r = gp_err_set(GP_ERR_DENIED, "request %s: the requester cannot "
		    "approve it; a second officer must", request_id);
		r = ca_audit_refusal(ca, who, "cert.approve", request_id,
		    "denied", r, json_pack("{s:s}", "requester",
		    sr.requester_actor));
		goto out;
	}
	GUARD(ca_request_parse(sr.body, &root, &req));
	ap.request_id = sr.id;
	ap.requester = sr.requester_actor;
	r = ca_issue_now(ca, who, &req, &ap, res);
	if (r == GP_ERR_INVALID || r == GP_ERR_CONFLICT)
		(void)ca_audit_refusal(ca, who, "cert.approve", request_id,
		    "failure", r, NULL);
	GUARD(r);
	r = 0;
out:
	json_decref(root);
	store_request_clear(&sr);
	return r;
}

int
ca_request_get(const struct ca_ctx *ca, const char *request_id, json_t **out)
{
	struct store_request sr;
	int r;

	*out = NULL;
	GUARD(store_request_get(ca->st, request_id, &sr));
	*out = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s?, s:s?}", "id", sr.id,
	    "profile", sr.profile, "requester", sr.requester_actor, "status",
	    sr.status, "created_ms", (json_int_t)sr.created_ms, "approver",
	    sr.approver, "serial", sr.serial);
	ENSURE(*out != NULL, GP_ERR_NOMEM);
	r = 0;
out:
	store_request_clear(&sr);
	return r;
}
