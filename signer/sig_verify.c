/*
 * sig_verify.c: verification of a CMS SignedData as a relying party (a
 * portal) does it: one verdict per SignerInfo and one overall, with the
 * reason for every failure in a JSON report.
 *
 * Per SignerInfo, in this order (each check in its own file, returning 0
 * or a negative GP_ERR_*; internal.h): the step attribute; the signer
 * certificate (from the SignedData or the given intermediates); a
 * document signature's eContentType and content-type attribute; the
 * signature value (over the signed attributes, or over the content when
 * there are none, as `openssl cms -sign -noattr` makes) and the
 * message-digest against the document's streamed digest;
 * signing-certificate-v2 (RFC 5035); the signature time-stamp, whose
 * genTime becomes the proven time of signing (sig_ts.c); the path to the
 * trust anchors at that time, else now (sig_path.c); the key usage for
 * signing documents; the status of the certificate and its CAs at that
 * time (sig_status_at.c, judged by ca_status.c). Then the approval policy
 * over all of them (sig_policy.c), and the report (sig_report.c).
 *
 * The document is hashed once, as a stream, with every digest algorithm
 * the SignerInfos use (at most SIG_MAX_MDS), never held in memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/err.h>

#include "ca/ca.h"
#include "signer/internal.h"

void
sig_ck_set(struct sig_ck_res *res, int r)
{
	res->r = r;
	res->why[0] = '\0';
	if (r < 0)
		snprintf(res->why, sizeof(res->why), "%s", gp_err_detail());
}

void
sig_one_clear(struct sig_one *o)
{
	if (o == NULL)
		return;
	free(o->subject);
	free(o->serial);
	free(o->organization);
	free(o->profile);
	free(o->role);
	memset(o, 0, sizeof(*o));
}

void
sig_trust_config(struct sig_trust *tr, const struct gp_config *cfg)
{
	tr->fetch = cfg->verify_fetch;
	tr->fetch_allow = (const char *const *)cfg->verify_fetch_allow;
	tr->fetch_allow_len = cfg->verify_fetch_allow_len;
	tr->fetch_timeout_ms = cfg->verify_fetch_timeout_ms;
	tr->fetch_max_bytes = (size_t)cfg->verify_fetch_max_bytes;
	tr->content_types = (const char *const *)cfg->verify_content_types;
	tr->content_types_len = cfg->verify_content_types_len;
}

static char *
sig_name_entry(X509 *x, int nid)
{
	X509_NAME *nm = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(nm, nid, -1);
	unsigned char *u = NULL;
	char *s = NULL;
	int n;

	if (i < 0)
		return NULL;
	n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(
	    X509_NAME_get_entry(nm, i)));
	if (n >= 0)
		s = strndup((const char *)u, (size_t)n);
	OPENSSL_free(u);
	return s;
}

static char *
sig_subject(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s = NULL, *d;
	long n;

	if (b == NULL)
		return NULL;
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
	    XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0 &&
	    (n = BIO_get_mem_data(b, &d)) >= 0)
		s = strndup(d, (size_t)n);
	BIO_free(b);
	return s;
}

/* The facts of |signer| the report and the policy use: subject, serial
 * and O from the certificate; profile and role only from this instance's
 * store, for exactly this certificate (never from the subject: a title
 * anyone's CA can write is no role here). */
static int
sig_signer_facts(const struct sig_vctx *vc, X509 *signer, struct sig_one *o)
{
	struct store_cert sc;
	int r = GP_ERR_NOMEM;

	memset(&sc, 0, sizeof(sc));
	ENSURE((o->subject = sig_subject(signer)) != NULL &&
	    (o->serial = ca_serial_hex(signer)) != NULL, GP_ERR_NOMEM);
	o->organization = sig_name_entry(signer, NID_organizationName);
	r = sig_store_cert(vc->tr, signer, &sc);
	if (r == 0) {
		o->profile = sc.profile;
		o->role = sc.role;
		sc.profile = NULL; /* transferred */
		sc.role = NULL; /* transferred */
	}
	store_cert_clear(&sc);
	/* Not in the store: no profile, no role; a store failure shows in
	 * the status check, which reads the same row. */
	r = 0;
out:
	return r;
}

/* The signature value and the message digest of |si| signed by |pk|
 * against the document |d|. */
static void
sig_verify_value(CMS_SignerInfo *si, EVP_PKEY *pk, const struct sig_doc *d,
    struct sig_one *o)
{
	const EVP_MD *md = sig_si_md(si);
	const uint8_t *dv = sig_doc_get(d, md);
	int r;

	if (o->has_attrs) {
		sig_ck_set(&o->ck[SIG_CK_SIGNATURE], sig_check_signature(si));
		sig_ck_set(&o->ck[SIG_CK_MESSAGE_DIGEST],
		    sig_check_message_digest(si, md, dv, d));
		return;
	}
	/* RFC 5652 5.4: without signed attributes the signature is over the
	 * content, so one check proves both. */
	if (md == NULL || dv == NULL) {
		sig_ck_set(&o->ck[SIG_CK_MESSAGE_DIGEST],
		    sig_check_message_digest(si, md, dv, d));
		return;
	}
	r = sig_check_signature_noattr(si, pk, md, dv);
	sig_ck_set(&o->ck[SIG_CK_SIGNATURE], r);
	if (r == 0)
		sig_ck_set(&o->ck[SIG_CK_MESSAGE_DIGEST], 0);
}

/* Verifies SignerInfo |si| (number |i|, 0-based) into |o|. GP_ERR_NOMEM
 * only: every other failure is a check's result. */
static int
sig_verify_one(const struct sig_vctx *vc, CMS_SignerInfo *si, size_t i,
    const struct sig_doc *d, struct sig_one *o)
{
	EVP_PKEY *pk = NULL;
	X509 *signer = NULL;
	const EVP_MD *md;
	STACK_OF(X509) *chain = NULL;
	struct sig_when w;
	int k, r = GP_ERR_INTERNAL;

	memset(o, 0, sizeof(*o));
	for (k = 0; k < SIG_CK_COUNT_; k++)
		o->ck[k].r = SIG_CK_NOT_RUN;
	o->index = i + 1;
	o->time = -1;
	o->status.later = -1;
	CMS_SignerInfo_get0_algs(si, &pk, &signer, NULL, NULL);
	md = sig_si_md(si);
	o->digest = md != NULL ? EVP_MD_get0_name(md) : "unknown";
	if ((r = sig_si_step(si, o->step, sizeof(o->step))) != 0)
		sig_ck_set(&o->ck[SIG_CK_STEP], r);
	o->claimed = sig_si_signing_time(si);
	if (signer == NULL) {
		sig_ck_set(&o->ck[SIG_CK_CERTIFICATE], gp_err_set(
		    GP_ERR_NOT_FOUND, "the signer's certificate is neither in "
		    "the signature nor among the given ones"));
		r = 0;
		goto out;
	}
	GUARD(sig_signer_facts(vc, signer, o));
	o->has_attrs = CMS_signed_get_attr_count(si) > 0;
	sig_ck_set(&o->ck[SIG_CK_CONTENT_TYPE], sig_check_content_type(vc->tr,
	    vc->cms, si));
	sig_verify_value(si, pk, d, o);
	if (o->has_attrs)
		sig_ck_set(&o->ck[SIG_CK_SIGNING_CERT], sig_check_ess(si, signer,
		    &o->ess));
	if ((r = sig_ts_check(vc, si, o)) != 0 || o->has_ts)
		sig_ck_set(&o->ck[SIG_CK_TIMESTAMP], r);
	/* The time of signing: proven by the time-stamp, else now. */
	w.proven = o->time >= 0;
	w.t = w.proven ? o->time : vc->now;
	w.label = "the time of signing";
	sig_ck_set(&o->ck[SIG_CK_CHAIN], sig_path_check(vc->tr, signer,
	    vc->untrusted, w.t, &chain));
	sig_ck_set(&o->ck[SIG_CK_KEY_USAGE], sig_check_usage(signer));
	sig_status_path(vc, chain, signer, &w, &o->status);
	o->ck[SIG_CK_STATUS] = o->status.leaf;
	o->ck[SIG_CK_STATUS_CA] = o->status.ca;
	r = 0;
out:
	o->valid = 1;
	for (k = 0; k < SIG_CK_COUNT_; k++) {
		if (o->ck[k].r != SIG_CK_NOT_RUN && o->ck[k].r != 0)
			o->valid = 0;
	}
	sk_X509_pop_free(chain, X509_free);
	ERR_clear_error();
	return r;
}

/* The intermediates: the SignedData's certificates and the given ones
 * (borrowed references; |certs| owns those of the SignedData). */
static int
sig_untrusted(const struct sig_verify_req *rq, CMS_ContentInfo *cms,
    STACK_OF(X509) **out, STACK_OF(X509) **out_certs)
{
	STACK_OF(X509) *u = NULL, *g = rq->trust->untrusted;
	int i, r = GP_ERR_NOMEM;

	*out_certs = CMS_get1_certs(cms);
	ENSURE((u = sk_X509_new_null()) != NULL, GP_ERR_NOMEM);
	for (i = 0; *out_certs != NULL && i < sk_X509_num(*out_certs); i++)
		ENSURE(sk_X509_push(u, sk_X509_value(*out_certs, i)),
		    GP_ERR_NOMEM);
	for (i = 0; g != NULL && i < sk_X509_num(g); i++)
		ENSURE(sk_X509_push(u, sk_X509_value(g, i)), GP_ERR_NOMEM);
	/* The signer certificates may also come from the given ones. */
	(void)CMS_set1_signers_certs(cms, g, 0);
	ERR_clear_error();
	*out = u;
	u = NULL; /* transferred */
	r = 0;
out:
	sk_X509_free(u);
	return r;
}

int
sig_verify(const struct sig_verify_req *rq, json_t **out_report,
    int *out_valid)
{
	CMS_ContentInfo *cms = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	STACK_OF(X509) *untrusted = NULL, *certs = NULL;
	struct sig_one *one = NULL;
	struct sig_vctx vc;
	struct sig_doc doc;
	uint8_t *der = NULL;
	size_t der_len, n = 0, i;
	json_t *rep = NULL, *signers, *reasons, *sj, *pr = NULL;
	int r = GP_ERR_INTERNAL, all = 1, pol_r = 0;

	*out_report = NULL;
	*out_valid = 0;
	ENSURE(rq != NULL && rq->trust != NULL && rq->trust->anchors != NULL,
	    gp_err_set(GP_ERR_INVALID, "verify: no trust anchors"));
	GUARD(sig_p7s_der(rq->p7s, rq->p7s_len, &der, &der_len));
	GUARD(sig_cms_parse(der, der_len, &cms));
	GUARD(sig_doc_hash(rq, cms, &doc));
	GUARD(sig_untrusted(rq, cms, &untrusted, &certs));
	memset(&vc, 0, sizeof(vc));
	vc.tr = rq->trust;
	vc.untrusted = untrusted;
	vc.cms = cms;
	vc.now = rq->now > 0 ? rq->now : (int64_t)time(NULL);
	sis = CMS_get0_SignerInfos(cms);
	n = (size_t)sk_CMS_SignerInfo_num(sis);
	ENSURE((one = calloc(n, sizeof(*one))) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < n; i++)
		GUARD(sig_verify_one(&vc, sk_CMS_SignerInfo_value(sis, (int)i),
		    i, &doc, &one[i]));
	if (rq->trust->policy != NULL) {
		pol_r = sig_policy_check(rq->trust->policy, one, n, &pr);
		ENSURE(pr != NULL, GP_ERR_NOMEM);
	}
	/* The report, from the results. */
	ENSURE((rep = json_object()) != NULL && (signers = json_array()) !=
	    NULL && json_object_set_new(rep, "signers", signers) == 0 &&
	    (reasons = json_array()) != NULL &&
	    json_object_set_new(rep, "reasons", reasons) == 0, GP_ERR_NOMEM);
	for (i = 0; i < n; i++) {
		ENSURE((sj = sig_report_signer(&one[i])) != NULL &&
		    json_array_append_new(signers, sj) == 0, GP_ERR_NOMEM);
		if (one[i].valid)
			continue;
		all = 0;
		json_array_append_new(reasons, json_sprintf("signer %zu: %s",
		    i + 1, json_string_value(json_array_get(json_object_get(sj,
		    "reasons"), 0))));
	}
	json_object_set_new(rep, "detached", json_boolean(
	    CMS_get0_content(cms) == NULL || *CMS_get0_content(cms) == NULL));
	if (pr != NULL) {
		if (pol_r != 0)
			json_array_append_new(reasons, json_sprintf("policy "
			    "%s: %s", rq->trust->policy->name,
			    json_string_value(json_array_get(json_object_get(
			    pr, "reasons"), 0))));
		json_object_set_new(rep, "policy", pr);
		pr = NULL; /* transferred */
	}
	json_object_set_new(rep, "valid", json_boolean(all && pol_r == 0));
	*out_valid = all && pol_r == 0;
	*out_report = rep;
	rep = NULL; /* transferred */
	r = 0;
out:
	for (i = 0; one != NULL && i < n; i++)
		sig_one_clear(&one[i]);
	free(one);
	json_decref(pr);
	json_decref(rep);
	sk_X509_free(untrusted);
	sk_X509_pop_free(certs, X509_free);
	CMS_ContentInfo_free(cms);
	free(der);
	ERR_clear_error();
	return r;
}
