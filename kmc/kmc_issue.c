/*
 * kmc_issue.c: dual issuance. The signing certificate is issued from the
 * holder's request (its signature proves possession of the USB key's
 * key), the KMC has the token generate an encryption key pair and wrap
 * its private key out under the storage key, the twin profile's
 * certificate is issued for that public key, and then, in ONE store
 * transaction: the enrolment code is used up (if any), both certificate
 * rows with their "cert.issue" records, the pair, the escrowed key with
 * its "kmc.key.escrow" record, and the operation's own record. Either all
 * of it is durable or none: a code is never used up without its
 * certificates, and no certificate exists whose key the KMC lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kmc/internal.h"

void
kmc_enroll_result_clear(struct kmc_enroll_result *res)
{
	if (res == NULL)
		return;
	free(res->sign_der);
	free(res->enc_der);
	memset(res, 0, sizeof(*res));
}

/* Starts the issuance of |profile| (signed, not yet stored) for |csr| or
 * |pubkey|. */
static int
kmc_issue_one(kmc *k, const struct ca_actor *who, const char *profile,
    const struct kmc_enroll_req *req, EVP_PKEY *pubkey, ca_issue_job **out)
{
	struct ca_issue_req ir;
	struct ca_issue_result ires;
	int r;

	memset(&ir, 0, sizeof(ir));
	memset(&ires, 0, sizeof(ires));
	ir.profile = profile;
	ir.subject = req->subject;
	if (pubkey != NULL) {
		ir.pubkey = pubkey;
	} else {
		ir.csr_pem = req->csr_pem;
		ir.csr_len = req->csr_len;
	}
	GUARD(ca_issue_start(k->ca, who, &ir, &ires, out));
	/* The loader refuses a twin under dual control, and a twinned
	 * profile with it: nothing waits for a second person here. */
	ENSURE(*out != NULL, gp_err_set(GP_ERR_INTERNAL, "profile %s: issuance "
	    "did not sign", profile));
	r = 0;
out:
	ca_issue_result_clear(&ires);
	return r;
}

static int
kmc_der_copy(const ca_issue_job *job, uint8_t **out, size_t *out_len)
{
	const uint8_t *der;
	size_t len = 0;

	der = ca_issue_job_der(job, &len);
	if (der == NULL || len == 0 || (*out = malloc(len)) == NULL)
		return GP_ERR_NOMEM;
	memcpy(*out, der, len);
	*out_len = len;
	return 0;
}

int
kmc_enroll(kmc *k, const struct ca_actor *who,
    const struct kmc_enroll_req *req, struct kmc_enroll_result *res)
{
	const struct ca_profile *p;
	const char *twin, *op = req != NULL && req->op != NULL ? req->op :
	    "kmc.enroll";
	ca_issue_job *js = NULL, *je = NULL;
	EVP_PKEY *pub = NULL;
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	struct store_pair pair;
	struct store_kmc_key key;
	struct audit_event ev;
	json_t *d_escrow = NULL, *d_op = NULL, *fail = NULL;
	char spki[65], *subject = NULL;
	int64_t key_id = 0, now_ms = gp_now_ms();
	int r = GP_ERR_INTERNAL, in_tx = 0, locked = 0;

	if (res != NULL)
		memset(res, 0, sizeof(*res));
	ENSURE(k != NULL && who != NULL && req != NULL && res != NULL &&
	    req->profile != NULL && req->csr_pem != NULL,
	    gp_err_set(GP_ERR_INVALID, "kmc_enroll: profile, subject and "
	    "request are required"));
	GUARD(kmc_holder_of(k->ca, req->profile, req->subject, res->holder,
	    sizeof(res->holder)));
	p = ca_profile_find(k->ca->profiles, req->profile);
	twin = ca_profile_twin(p);
	ENSURE((subject = json_dumps(req->subject, JSON_COMPACT |
	    JSON_SORT_KEYS)) != NULL, GP_ERR_NOMEM);

	/* 1. The signing certificate: the request's signature proves the
	 * holder has the USB key's key. */
	GUARD(kmc_issue_one(k, who, req->profile, req, NULL, &js));
	/* 2. The encryption key pair, generated on the instance token and
	 * wrapped out under the storage key. */
	pthread_mutex_lock(&k->tok_mu);
	locked = 1;
	GUARD(tok_wrapped_keygen(k->tok, k->token, k->wrap_label, KMC_KEY_ALGO,
	    &pub, &blob, &blob_len));
	pthread_mutex_unlock(&k->tok_mu);
	locked = 0;
	GUARD(kmc_spki_hex(pub, spki));
	/* 3. Its certificate, under the twin profile. */
	GUARD(kmc_issue_one(k, who, twin, req, pub, &je));

	/* 4. Everything in one transaction. */
	memset(&pair, 0, sizeof(pair));
	pair.signing = (char *)ca_issue_job_serial(js);
	pair.encryption = (char *)ca_issue_job_serial(je);
	pair.profile = (char *)req->profile;
	pair.subject = subject;
	pair.holder = res->holder;
	pair.created_ms = now_ms;
	memset(&key, 0, sizeof(key));
	key.holder = res->holder;
	key.serial = pair.encryption;
	key.algo = (char *)tok_algo_name(KMC_KEY_ALGO);
	key.spki_sha256 = spki;
	key.wrap_key = k->wrap_label;
	key.wrapped = blob;
	key.wrapped_len = blob_len;
	key.created_ms = now_ms;
	GUARD(kmc_der_copy(js, &res->sign_der, &res->sign_der_len));
	GUARD(kmc_der_copy(je, &res->enc_der, &res->enc_der_len));
	GUARD(store_begin(k->ca->st));
	in_tx = 1;
	/* The code goes with the certificates or not at all; a code used
	 * meanwhile (or expired) stops everything here. */
	if (req->enrolment_id != NULL)
		GUARD(store_enrolment_use(k->ca->st, req->enrolment_id, now_ms,
		    pair.signing));
	GUARD(ca_issue_write_tx(js));
	GUARD(ca_issue_write_tx(je));
	GUARD(store_pair_insert(k->ca->st, &pair));
	GUARD(store_kmc_key_insert(k->ca->st, &key, &key_id));
	ENSURE((d_escrow = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "holder",
	    res->holder, "algo", key.algo, "spki_sha256", spki, "wrap_key",
	    k->wrap_label, "key_id", (json_int_t)key_id, "signing",
	    pair.signing)) != NULL, GP_ERR_NOMEM);
	ca_event(&ev, who, "kmc.key.escrow", pair.encryption, "success",
	    d_escrow);
	GUARD(audit_append_tx(k->ca->audit, &ev, NULL));
	ENSURE((d_op = json_pack("{s:s, s:s, s:s, s:s}", "profile",
	    req->profile, "holder", res->holder, "signing", pair.signing,
	    "encryption", pair.encryption)) != NULL, GP_ERR_NOMEM);
	if (req->enrolment_id != NULL)
		json_object_set_new(d_op, "enrolment",
		    json_string(req->enrolment_id));
	if (req->renews != NULL)
		json_object_set_new(d_op, "renews", json_string(req->renews));
	ca_event(&ev, who, op, pair.signing, "success", d_op);
	GUARD(audit_append_tx(k->ca->audit, &ev, NULL));
	in_tx = 0;
	GUARD(store_commit(k->ca->st));

	snprintf(res->sign_serial, sizeof(res->sign_serial), "%s",
	    pair.signing);
	snprintf(res->enc_serial, sizeof(res->enc_serial), "%s",
	    pair.encryption);
	ca_issue_job_done(js);
	ca_issue_job_done(je);
	js = je = NULL;
	r = 0;
out:
	if (locked)
		pthread_mutex_unlock(&k->tok_mu);
	if (in_tx)
		store_rollback(k->ca->st);
	if (r != 0 && k != NULL) {
		char keep[1024];

		snprintf(keep, sizeof(keep), "%s", gp_err_detail());
		/* Signatures made for nothing are recorded as such. */
		ca_issue_job_free(js);
		ca_issue_job_free(je);
		js = je = NULL;
		gp_err_set(r, "%s", keep);
		fail = json_pack("{s:s?, s:s?}", "profile", req != NULL ?
		    req->profile : NULL, "enrolment", req != NULL ?
		    req->enrolment_id : NULL);
		r = kmc_audit_fail(k, who, op, req != NULL && req->renews !=
		    NULL ? req->renews : (req != NULL && req->enrolment_id !=
		    NULL ? req->enrolment_id : (req != NULL ? req->profile :
		    NULL)), r, fail);
		kmc_enroll_result_clear(res);
	}
	ca_issue_job_done(js);
	ca_issue_job_done(je);
	json_decref(d_escrow);
	json_decref(d_op);
	EVP_PKEY_free(pub);
	free(blob);
	free(subject);
	return r;
}

int
kmc_renew(kmc *k, const struct ca_actor *who, const char *sign_serial,
    const char *csr_pem, size_t csr_len, struct kmc_enroll_result *res)
{
	struct store_pair pair;
	struct store_cert c;
	struct kmc_enroll_req req;
	EVP_PKEY *key = NULL;
	X509_NAME *subj = NULL;
	X509 *x = NULL;
	const unsigned char *p;
	json_t *subject = NULL;
	int r, audited = 0;

	memset(&pair, 0, sizeof(pair));
	memset(&c, 0, sizeof(c));
	if (res != NULL)
		memset(res, 0, sizeof(*res));
	ENSURE(k != NULL && who != NULL && sign_serial != NULL && res != NULL,
	    gp_err_set(GP_ERR_INVALID, "kmc_renew: NULL argument"));
	/* Renewal is before expiry, of a certificate still good. */
	GUARD(kmc_signing_pair(k, sign_serial, &pair, &c));
	GUARD(ca_csr_pop(csr_pem, csr_len, &key, &subj));
	p = c.der;
	ENSURE((x = d2i_X509(NULL, &p, (long)c.der_len)) != NULL,
	    gp_err_set(GP_ERR_TAMPERED, "certificate %s: stored DER",
	    sign_serial));
	/* RFC 7030 4.2.2: "the Subject field and SubjectAltName extension
	 * MUST be identical to the corresponding fields in the certificate
	 * being renewed or rekeyed". */
	ENSURE(X509_NAME_cmp(subj, X509_get_subject_name(x)) == 0,
	    gp_err_set(GP_ERR_INVALID, "csr.subject: must be the subject of "
	    "the certificate being renewed (RFC 7030 4.2.2)"));
	ENSURE((subject = json_loads(pair.subject, 0, NULL)) != NULL,
	    gp_err_set(GP_ERR_TAMPERED, "certificate pair of %s: stored "
	    "subject is not JSON", sign_serial));
	memset(&req, 0, sizeof(req));
	req.op = "est.reenroll";
	req.profile = pair.profile;
	req.subject = subject;
	req.csr_pem = csr_pem;
	req.csr_len = csr_len;
	req.renews = sign_serial;
	audited = 1; /* kmc_enroll records its own outcome */
	GUARD(kmc_enroll(k, who, &req, res));
	r = 0;
out:
	if (r != 0 && !audited && k != NULL)
		r = kmc_audit_fail(k, who, "est.reenroll", sign_serial, r,
		    NULL);
	json_decref(subject);
	X509_free(x);
	X509_NAME_free(subj);
	EVP_PKEY_free(key);
	store_cert_clear(&c);
	store_pair_clear(&pair);
	return r;
}
