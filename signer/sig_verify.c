/*
 * sig_verify.c: verification of a CMS SignedData as a relying party (a
 * portal) does it, one verdict per SignerInfo and one overall, with the
 * reason for every failure in a JSON report.
 *
 * Per SignerInfo: the signer certificate (from the SignedData or the
 * given intermediates), the signature value (over the signed attributes,
 * or over the content when there are none, as `openssl cms -sign -noattr`
 * makes), the message-digest against the document's streamed digest, the
 * content-type attribute, signing-certificate-v2 (RFC 5035), the path to
 * the trust anchors at the time of signing, key usage, the status of the
 * certificate at that time, and the signature time-stamp
 * (id-aa-signatureTimeStampToken: its own path and its imprint over the
 * signature value). The time of signing is the time-stamp's genTime when
 * there is a valid one, else "claimed" (the signing-time attribute), and
 * the path is then checked at the present time.
 *
 * The document is hashed once, as a stream, with every digest algorithm
 * the SignerInfos use (at most SIG_MAX_MDS), never held in memory.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/ts.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "signer/internal.h"
#include "tsa/tsa.h"

/* The document's digests, one per algorithm used by a SignerInfo. */
struct sig_doc {
	const EVP_MD *md[SIG_MAX_MDS];
	uint8_t val[SIG_MAX_MDS][EVP_MAX_MD_SIZE];
	size_t n;
	int only_digest;            /* a digest under md[0] was given */
};

/* One SignerInfo's verdict as it is built. */
struct sig_one {
	json_t *obj;
	json_t *checks;
	json_t *reasons;
	int valid;
	int has_ts;
	int64_t time;               /* time of signing (ts or claimed), -1 */
	char step[SIG_MAX_STEP + 1];
	char *profile;              /* from the store, or NULL */
	char *role;
	char *organization;
};

static void
sig_iso(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t < 0 || gmtime_r(&tt, &tm) == NULL)
		snprintf(buf, len, "unknown");
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
sig_check(struct sig_one *o, const char *name, int ok, const char *fmt,
    ...) GP_PRINTF(4, 5);

/* Records check |name| as "ok" or "failed" (or the text of |fmt| when ok
 * is 2: informational), and on failure adds the reason. */
static void
sig_check(struct sig_one *o, const char *name, int ok, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	msg[0] = '\0';
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	if (ok == 1) {
		json_object_set_new(o->checks, name, json_string("ok"));
		return;
	}
	if (ok == 2) {
		json_object_set_new(o->checks, name, json_string(msg));
		return;
	}
	o->valid = 0;
	json_object_set_new(o->checks, name, json_string("failed"));
	json_array_append_new(o->reasons, json_sprintf("%s: %s", name, msg));
}

/* The digest of the document under |md|, or NULL with a reason. */
static const uint8_t *
sig_doc_get(const struct sig_doc *d, const EVP_MD *md)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		if (EVP_MD_get_type(d->md[i]) == EVP_MD_get_type(md))
			return d->val[i];
	}
	return NULL;
}

static const EVP_MD *
sig_si_md(CMS_SignerInfo *si)
{
	X509_ALGOR *dig = NULL;

	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, NULL);
	if (dig == NULL)
		return NULL;
	return EVP_get_digestbyobj(dig->algorithm);
}

/* Hashes the document with every algorithm the SignerInfos use. */
static int
sig_doc_hash(const struct sig_verify_req *rq, CMS_ContentInfo *cms,
    struct sig_doc *d)
{
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
	ASN1_OCTET_STRING **pos = CMS_get0_content(cms);
	const uint8_t *data = NULL;
	size_t len = 0, i, j;
	int r = GP_ERR_INTERNAL;

	memset(d, 0, sizeof(*d));
	if (rq->digest != NULL) {
		ENSURE(rq->digest_md != NULL && rq->digest_len ==
		    (size_t)EVP_MD_get_size(rq->digest_md),
		    gp_err_set(GP_ERR_INVALID, "digest: %zu bytes do not make "
		    "a %s digest", rq->digest_len, rq->digest_md ?
		    EVP_MD_get0_name(rq->digest_md) : "known"));
		d->md[0] = rq->digest_md;
		memcpy(d->val[0], rq->digest, rq->digest_len);
		d->n = 1;
		d->only_digest = 1;
		r = 0;
		goto out;
	}
	for (i = 0; i < (size_t)sk_CMS_SignerInfo_num(sis); i++) {
		const EVP_MD *md = sig_si_md(sk_CMS_SignerInfo_value(sis,
		    (int)i));

		if (md == NULL)
			continue;
		for (j = 0; j < d->n; j++) {
			if (EVP_MD_get_type(d->md[j]) == EVP_MD_get_type(md))
				break;
		}
		if (j == d->n && d->n < SIG_MAX_MDS)
			d->md[d->n++] = md;
	}
	if (d->n == 0) {
		r = 0; /* every signer fails on its digest algorithm */
		goto out;
	}
	if (rq->content_path != NULL) {
		GUARD(sig_digest_file(rq->content_path, d->md, d->n, d->val));
		r = 0;
		goto out;
	}
	if (rq->content != NULL) {
		data = rq->content;
		len = rq->content_len;
	} else if (pos != NULL && *pos != NULL) {
		data = (*pos)->data;
		len = (size_t)(*pos)->length;
	} else {
		r = gp_err_set(GP_ERR_INVALID, "document: the signature is "
		    "detached; give the document or its digest");
		goto out;
	}
	for (i = 0; i < d->n; i++)
		ENSURE(EVP_Digest(data, len, d->val[i], NULL, d->md[i], NULL),
		    gp_err_ssl(GP_ERR_CRYPTO, "digest"));
	r = 0;
out:
	return r;
}

/* The signature over the content itself (no signed attributes): the
 * signature schemes in use sign the digest, so the streamed digest is
 * checked with EVP_PKEY_verify. */
static int
sig_verify_noattr(CMS_SignerInfo *si, EVP_PKEY *pk, const EVP_MD *md,
    const uint8_t *dgst)
{
	ASN1_OCTET_STRING *sv = CMS_SignerInfo_get0_signature(si);
	EVP_PKEY_CTX *ctx = NULL;
	int ok = 0;

	if (sv == NULL || (ctx = EVP_PKEY_CTX_new(pk, NULL)) == NULL)
		return 0;
	if (EVP_PKEY_verify_init(ctx) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(ctx, md) == 1 &&
	    EVP_PKEY_verify(ctx, sv->data, (size_t)sv->length, dgst,
	    (size_t)EVP_MD_get_size(md)) == 1)
		ok = 1;
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

/* RFC 5035 / ETSI EN 319 122-1 5.2.2: the signing certificate named by
 * signing-certificate-v2 (or v1) must be the certificate that verified.
 * Returns 1 bound, 0 absent, -1 mismatch or malformed. */
static int
sig_ess_check(CMS_SignerInfo *si, X509 *signer)
{
	ASN1_STRING *v2, *v1;
	ESS_SIGNING_CERT_V2 *ss2 = NULL;
	ESS_SIGNING_CERT *ss1 = NULL;
	STACK_OF(X509) *chain = NULL;
	const unsigned char *p;
	int ret = -1;

	v2 = CMS_signed_get0_data_by_OBJ(si,
	    OBJ_nid2obj(NID_id_smime_aa_signingCertificateV2), -3,
	    V_ASN1_SEQUENCE);
	v1 = CMS_signed_get0_data_by_OBJ(si,
	    OBJ_nid2obj(NID_id_smime_aa_signingCertificate), -3,
	    V_ASN1_SEQUENCE);
	if (v2 == NULL && v1 == NULL)
		return 0;
	if (v2 != NULL) {
		p = v2->data;
		ss2 = d2i_ESS_SIGNING_CERT_V2(NULL, &p, v2->length);
		if (ss2 == NULL || p != v2->data + v2->length)
			goto out;
	}
	if (v1 != NULL) {
		p = v1->data;
		ss1 = d2i_ESS_SIGNING_CERT(NULL, &p, v1->length);
		if (ss1 == NULL || p != v1->data + v1->length)
			goto out;
	}
	if ((chain = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(chain, signer))
		goto out;
	ret = OSSL_ESS_check_signing_certs(ss1, ss2, chain, 1) > 0 ? 1 : -1;
out:
	ERR_clear_error();
	sk_X509_free(chain);
	ESS_SIGNING_CERT_V2_free(ss2);
	ESS_SIGNING_CERT_free(ss1);
	return ret;
}

/* The signature time-stamp: verified with the TSA's own path to the trust
 * anchors, and its imprint must be the hash of this SignerInfo's
 * signature value. Sets o->time to its genTime when valid. */
static void
sig_check_ts(struct sig_one *o, CMS_SignerInfo *si,
    const struct sig_trust *tr, STACK_OF(X509) *untrusted)
{
	int idx, n;
	X509_ATTRIBUTE *at;
	ASN1_TYPE *t;
	const unsigned char *p;
	PKCS7 *p7 = NULL;
	TS_TST_INFO *tst = NULL;
	const EVP_MD *md;
	ASN1_OCTET_STRING *sv = CMS_SignerInfo_get0_signature(si);
	uint8_t imprint[EVP_MAX_MD_SIZE];
	unsigned int ilen = 0;
	struct tsa_verify_in in;
	struct tsa_verify_out vo;
	char when[32];
	int64_t gen;
	int r;

	idx = CMS_unsigned_get_attr_by_NID(si, NID_id_smime_aa_timeStampToken,
	    -1);
	if (idx < 0)
		return;
	o->has_ts = 1;
	at = CMS_unsigned_get_attr(si, idx);
	n = X509_ATTRIBUTE_count(at);
	if (CMS_unsigned_get_attr_by_NID(si, NID_id_smime_aa_timeStampToken,
	    idx) >= 0 || n != 1) {
		/* Several tokens are allowed by ETSI; we check exactly one. */
		sig_check(o, "timestamp", 0, "expected exactly one signature "
		    "time-stamp token");
		return;
	}
	t = X509_ATTRIBUTE_get0_type(at, 0);
	if (t == NULL || t->type != V_ASN1_SEQUENCE) {
		sig_check(o, "timestamp", 0, "the token is not a ContentInfo");
		return;
	}
	p = t->value.sequence->data;
	p7 = d2i_PKCS7(NULL, &p, t->value.sequence->length);
	if (p7 == NULL || p != t->value.sequence->data +
	    t->value.sequence->length || (tst = PKCS7_to_TS_TST_INFO(p7)) ==
	    NULL) {
		sig_check(o, "timestamp", 0, "the token does not parse");
		goto out;
	}
	md = EVP_get_digestbyobj(TS_MSG_IMPRINT_get_algo(
	    TS_TST_INFO_get_msg_imprint(tst))->algorithm);
	if (md == NULL || sv == NULL || !EVP_Digest(sv->data,
	    (size_t)sv->length, imprint, &ilen, md, NULL)) {
		sig_check(o, "timestamp", 0, "unknown imprint algorithm");
		goto out;
	}
	memset(&in, 0, sizeof(in));
	in.reply_der = t->value.sequence->data;
	in.reply_len = (size_t)t->value.sequence->length;
	in.digest = imprint;
	in.digest_len = ilen;
	in.trusted = tr->anchors;
	in.untrusted = untrusted;
	r = tsa_verify(&in, &vo);
	if (r != 0) {
		sig_check(o, "timestamp", 0, "%s", gp_err_detail());
		goto out;
	}
	gen = sig_asn1_time(TS_TST_INFO_get_time(tst));
	sig_check(o, "timestamp", 1, NULL);
	o->time = gen;
	sig_iso(gen, when, sizeof(when));
	json_object_set_new(o->obj, "timestamp", json_pack("{s:s, s:s, s:s}",
	    "time", when, "serial", vo.serial, "tsa", vo.tsa_subject));
out:
	ERR_clear_error();
	TS_TST_INFO_free(tst);
	PKCS7_free(p7);
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

/* The verdict at the time of signing from what a source said: the one
 * decision for every source (store, CRL file, OCSP, fetched CRL). Good is
 * valid; revoked (or held) after a valid time-stamp is valid at the time
 * of signing; revoked before it, or with the time of signing unproven,
 * fails; unknown fails for the signer's own certificate (nothing proves
 * it was not revoked) and is left alone for its CAs. */
static void
sig_status_apply(struct sig_one *o, const char *what, const char *serial,
    int is_leaf, const struct sig_status *st)
{
	char when[32], tsw[32], reason[48];
	const char *rn;

	if (st->state != SIG_ST_UNKNOWN) {
		if (is_leaf)
			json_object_set_new(o->obj, "status_source",
			    json_string(st->source));
		else if (json_array_append_new(json_object_get(o->obj,
		    "status_ca_sources"), json_string(st->source)) != 0)
			json_object_set_new(o->obj, "status_ca_sources",
			    json_pack("[s]", st->source));
	}
	switch (st->state) {
	case SIG_ST_GOOD:
		sig_check(o, what, 1, NULL);
		return;
	case SIG_ST_REVOKED:
		break;
	case SIG_ST_UNKNOWN:
	default:
		if (is_leaf)
			sig_check(o, what, 0, "status unknown: %s", st->why);
		return;
	}
	reason[0] = '\0';
	if (st->reason >= 0 && (rn = ca_reason_name(st->reason)) != NULL)
		snprintf(reason, sizeof(reason), " (%s)", rn);
	sig_iso(st->rev_time, when, sizeof(when));
	if (o->has_ts && o->time >= 0 && st->rev_time > o->time) {
		sig_iso(o->time, tsw, sizeof(tsw));
		sig_check(o, what, 2, "revoked at %s%s, after the time-stamp "
		    "(%s): valid at the time of signing", when, reason, tsw);
		json_object_set_new(o->checks, what, json_string("ok"));
		json_object_set_new(o->obj, "revoked_after_signing",
		    json_string(when));
	} else if (o->has_ts && o->time >= 0) {
		sig_check(o, what, 0, "certificate %s revoked (or held) at "
		    "%s%s, before the time-stamp (source: %s)", serial, when,
		    reason, st->source);
	} else {
		sig_check(o, what, 0, "certificate %s revoked (or held) at "
		    "%s%s; the time of signing is unproven (no valid "
		    "time-stamp) (source: %s)", serial, when, reason,
		    st->source);
	}
}

/* The status of |x| at the time of signing, from the first source that
 * answers: the store when this instance issued it (the same DER under
 * that serial), else a given CRL of its issuer, else, when fetching is
 * on, OCSP or the CRL distribution point. |issuer| is set only when the
 * path to the trust anchors verified (|chain|), and nothing is fetched
 * without it. |is_leaf| 0: a CA's status only counts when known. */
static void
sig_check_status(struct sig_one *o, const struct sig_trust *tr,
    STACK_OF(X509) *chain, X509 *x, X509 *issuer, int is_leaf)
{
	struct store_cert sc;
	struct sig_status st;
	char *serial = NULL;
	unsigned char *der = NULL;
	int len, i;
	const char *what = is_leaf ? "status" : "status_ca";

	memset(&sc, 0, sizeof(sc));
	memset(&st, 0, sizeof(st));
	st.reason = -1;
	if ((serial = ca_serial_hex(x)) == NULL)
		return;
	if (tr->st != NULL && store_cert_get(tr->st, serial, &sc) == 0 &&
	    (len = i2d_X509(x, &der)) > 0 && (size_t)len == sc.der_len &&
	    memcmp(der, sc.der, sc.der_len) == 0) {
		if (is_leaf) {
			free(o->profile);
			o->profile = sc.profile ? strdup(sc.profile) : NULL;
			free(o->role);
			o->role = sc.role ? strdup(sc.role) : NULL;
		}
		snprintf(st.source, sizeof(st.source), "store");
		if (strcmp(sc.status, "good") == 0) {
			st.state = SIG_ST_GOOD;
		} else {
			st.state = SIG_ST_REVOKED;
			st.rev_time = sc.revoked_at;
			st.reason = strcmp(sc.status, "hold") == 0 ?
			    6 /* certificateHold */ : sc.reason;
		}
		goto out;
	}
	for (i = 0; tr->crls != NULL && issuer != NULL &&
	    i < sk_X509_CRL_num(tr->crls); i++) {
		if (sig_status_crl(sk_X509_CRL_value(tr->crls, i), x, issuer,
		    o->time, &st)) {
			snprintf(st.source, sizeof(st.source), "crl file");
			goto out;
		}
	}
	if (tr->fetch && issuer != NULL && chain != NULL) {
		sig_status_fetch(tr, chain, x, issuer, o->time, &st);
		goto out;
	}
	if (tr->crls != NULL && sk_X509_CRL_num(tr->crls) > 0 &&
	    issuer != NULL)
		snprintf(st.why, sizeof(st.why), "no CRL of its issuer covers "
		    "the time of signing");
	else
		snprintf(st.why, sizeof(st.why), "not issued by this instance, "
		    "and no CRL or OCSP answer for its issuer was given "
		    "(online fetching is off: --fetch, or verify."
		    "fetch_revocation in govpki.json)");
out:
	sig_status_apply(o, what, serial, is_leaf, &st);
	ERR_clear_error();
	OPENSSL_free(der);
	store_cert_clear(&sc);
	free(serial);
}

/* The path from |signer| to the trust anchors at |at|; on success the
 * chain (freed by the caller) in *out_chain. */
static void
sig_check_path(struct sig_one *o, const struct sig_trust *tr, X509 *signer,
    STACK_OF(X509) *untrusted, int64_t at, STACK_OF(X509) **out_chain)
{
	X509_STORE *xs = NULL;
	X509_STORE_CTX *ctx = NULL;
	int i, err;

	*out_chain = NULL;
	if ((xs = X509_STORE_new()) == NULL || (ctx = X509_STORE_CTX_new()) ==
	    NULL)
		goto out;
	for (i = 0; tr->anchors != NULL && i < sk_X509_num(tr->anchors); i++)
		(void)X509_STORE_add_cert(xs, sk_X509_value(tr->anchors, i));
	if (!X509_STORE_CTX_init(ctx, xs, signer, untrusted))
		goto out;
	X509_STORE_CTX_set_time(ctx, 0, (time_t)at);
	if (X509_verify_cert(ctx) == 1) {
		sig_check(o, "chain", 1, NULL);
		*out_chain = X509_STORE_CTX_get1_chain(ctx);
	} else {
		err = X509_STORE_CTX_get_error(ctx);
		sig_check(o, "chain", 0, "%s (depth %d)",
		    X509_verify_cert_error_string(err),
		    X509_STORE_CTX_get_error_depth(ctx));
	}
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(xs);
}

static void
sig_one_clear(struct sig_one *o)
{
	json_decref(o->obj);
	free(o->profile);
	free(o->role);
	free(o->organization);
	memset(o, 0, sizeof(*o));
}

/* Verifies SignerInfo |i| into |o|. */
static int
sig_verify_one(const struct sig_verify_req *rq, CMS_ContentInfo *cms,
    CMS_SignerInfo *si, size_t i, const struct sig_doc *d,
    STACK_OF(X509) *untrusted, int64_t now, struct sig_one *o)
{
	EVP_PKEY *pk = NULL;
	X509 *signer = NULL;
	X509_ALGOR *dig = NULL, *sigalg = NULL;
	const EVP_MD *md;
	const uint8_t *dv;
	ASN1_OCTET_STRING *m;
	ASN1_OBJECT *ct;
	STACK_OF(X509) *chain = NULL;
	char when[32], *s;
	int64_t claimed;
	uint32_t ku;
	int has_attrs, ess, r = GP_ERR_NOMEM, j;

	memset(o, 0, sizeof(*o));
	o->valid = 1;
	o->time = -1;
	if ((o->obj = json_object()) == NULL || (o->checks = json_object()) ==
	    NULL || (o->reasons = json_array()) == NULL) {
		json_decref(o->checks);
		json_decref(o->reasons);
		goto out;
	}
	json_object_set_new(o->obj, "index", json_integer((json_int_t)i + 1));
	json_object_set_new(o->obj, "checks", o->checks);
	json_object_set_new(o->obj, "reasons", o->reasons);
	CMS_SignerInfo_get0_algs(si, &pk, &signer, &dig, &sigalg);
	md = sig_si_md(si);
	json_object_set_new(o->obj, "digest", json_string(md ?
	    EVP_MD_get0_name(md) : "unknown"));
	if (sig_si_step(si, o->step, sizeof(o->step)) != 0)
		sig_check(o, "step", 0, "%s", gp_err_detail());
	if (o->step[0] != '\0')
		json_object_set_new(o->obj, "step", json_string(o->step));
	claimed = sig_si_signing_time(si);
	if (claimed >= 0) {
		sig_iso(claimed, when, sizeof(when));
		json_object_set_new(o->obj, "signing_time", json_string(when));
	}
	if (signer == NULL) {
		sig_check(o, "certificate", 0, "the signer's certificate is "
		    "neither in the signature nor among the given ones");
		r = 0;
		goto out;
	}
	if ((s = sig_subject(signer)) != NULL)
		json_object_set_new(o->obj, "subject", json_string(s));
	free(s);
	if ((s = ca_serial_hex(signer)) != NULL)
		json_object_set_new(o->obj, "serial", json_string(s));
	free(s);
	o->organization = sig_name_entry(signer, NID_organizationName);
	if ((s = sig_name_entry(signer, NID_title)) != NULL) {
		o->role = s;
	}
	has_attrs = CMS_signed_get_attr_count(si) > 0;
	dv = md != NULL ? sig_doc_get(d, md) : NULL;
	if (md == NULL)
		sig_check(o, "message_digest", 0, "unknown digest algorithm");
	else if (dv == NULL)
		sig_check(o, "message_digest", 0, "signed with %s but the "
		    "document was given as a %s digest", EVP_MD_get0_name(md),
		    d->n ? EVP_MD_get0_name(d->md[0]) : "(none)");
	if (has_attrs) {
		if (CMS_SignerInfo_verify(si) == 1)
			sig_check(o, "signature", 1, NULL);
		else
			sig_check(o, "signature", 0, "the signature over the "
			    "signed attributes does not verify");
		ERR_clear_error();
		/* RFC 5652 5.4: message-digest MUST be the digest of the
		 * content; content-type MUST be the eContentType. */
		m = CMS_signed_get0_data_by_OBJ(si,
		    OBJ_nid2obj(NID_pkcs9_messageDigest), -3,
		    V_ASN1_OCTET_STRING);
		if (dv != NULL) {
			if (m != NULL && m->length == EVP_MD_get_size(md) &&
			    memcmp(m->data, dv, (size_t)m->length) == 0)
				sig_check(o, "message_digest", 1, NULL);
			else
				sig_check(o, "message_digest", 0, "the document "
				    "differs from the one signed");
		}
		ct = CMS_signed_get0_data_by_OBJ(si,
		    OBJ_nid2obj(NID_pkcs9_contentType), -3, V_ASN1_OBJECT);
		if (ct == NULL || OBJ_cmp(ct, CMS_get0_eContentType(cms)) != 0)
			sig_check(o, "content_type", 0, "the content-type "
			    "attribute is missing or differs from the "
			    "eContentType (RFC 5652 11.1)");
	} else if (dv != NULL) {
		/* RFC 5652 5.4: without signed attributes the signature is
		 * over the content. */
		if (sig_verify_noattr(si, pk, md, dv)) {
			sig_check(o, "signature", 1, NULL);
			sig_check(o, "message_digest", 1, NULL);
		} else {
			sig_check(o, "signature", 0, "the signature over the "
			    "content does not verify (or the document "
			    "differs)");
		}
	}
	ess = has_attrs ? sig_ess_check(si, signer) : 0;
	if (ess > 0)
		sig_check(o, "signing_certificate", 1, NULL);
	else if (ess == 0)
		sig_check(o, "signing_certificate", 2, "absent");
	else
		sig_check(o, "signing_certificate", 0, "signing-certificate-v2 "
		    "does not name the signer's certificate (RFC 5035)");
	sig_check_ts(o, si, rq->trust, untrusted);
	json_object_set_new(o->obj, "level", json_string(!has_attrs ? "CMS" :
	    ess <= 0 ? "CMS" : o->has_ts ? "B-T" : "B-B"));
	if (o->time >= 0) {
		json_object_set_new(o->obj, "time_source",
		    json_string("timestamp"));
	} else {
		json_object_set_new(o->obj, "time_source",
		    json_string("claimed"));
	}
	sig_iso(o->time >= 0 ? o->time : claimed, when, sizeof(when));
	json_object_set_new(o->obj, "time", json_string(when));
	/* The path at the proven time of signing, else now. */
	sig_check_path(o, rq->trust, signer, untrusted,
	    o->time >= 0 ? o->time : now, &chain);
	/* RFC 5280 4.2.1.3: a signing key needs digitalSignature or
	 * nonRepudiation when keyUsage is present. */
	ku = X509_get_key_usage(signer);
	if (ku != UINT32_MAX && !(ku & (KU_DIGITAL_SIGNATURE |
	    KU_NON_REPUDIATION)))
		sig_check(o, "key_usage", 0, "the certificate's key usage "
		    "allows neither digitalSignature nor nonRepudiation");
	else
		sig_check(o, "key_usage", 1, NULL);
	if (chain != NULL) {
		for (j = 0; j + 1 < sk_X509_num(chain); j++)
			sig_check_status(o, rq->trust, chain,
			    sk_X509_value(chain, j), sk_X509_value(chain, j + 1),
			    j == 0);
	} else {
		sig_check_status(o, rq->trust, NULL, signer, NULL, 1);
	}
	if (o->profile != NULL)
		json_object_set_new(o->obj, "profile",
		    json_string(o->profile));
	r = 0;
out:
	sk_X509_pop_free(chain, X509_free);
	if (o->obj != NULL)
		json_object_set_new(o->obj, "valid", json_boolean(o->valid));
	return r;
}

/* The approval policy over the verdicts |o| of |n| signers. */
static json_t *
sig_policy_report(const struct sig_policy *p, struct sig_one *o, size_t n,
    int *out_ok)
{
	json_t *rep, *steps, *reasons, *sj, *list;
	size_t i, k, count;
	int ok = 1, prev_step = -1;
	int64_t prev_max = -1, min_t, max_t;
	char when[32];

	rep = json_object();
	steps = json_array();
	reasons = json_array();
	json_object_set_new(rep, "name", json_string(p->name));
	json_object_set_new(rep, "steps", steps);
	json_object_set_new(rep, "reasons", reasons);
#define SIG_FAIL(...) do { ok = 0; json_array_append_new(reasons, \
	json_sprintf(__VA_ARGS__)); } while (0)
	for (i = 0; i < n; i++) {
		if (o[i].step[0] == '\0')
			SIG_FAIL("signer %zu names no step", i + 1);
		else if (sig_policy_step_index(p, o[i].step) < 0)
			SIG_FAIL("signer %zu signs step \"%s\", which policy %s "
			    "does not have", i + 1, o[i].step, p->name);
	}
	for (k = 0; k < p->steps_len; k++) {
		const struct sig_step *st = &p->steps[k];

		sj = json_object();
		list = json_array();
		json_object_set_new(sj, "step", json_string(st->name));
		json_object_set_new(sj, "signers", list);
		count = 0;
		min_t = INT64_MAX;
		max_t = -1;
		for (i = 0; i < n; i++) {
			size_t m;
			int allowed = st->rules_len == 0;

			if (strcmp(o[i].step, st->name) != 0)
				continue;
			for (m = 0; m < st->rules_len; m++)
				allowed |= sig_rule_match(&st->rules[m],
				    o[i].profile, o[i].role, o[i].organization);
			sig_iso(o[i].time, when, sizeof(when));
			json_array_append_new(list, json_pack("{s:I, s:O?, "
			    "s:s, s:s, s:b, s:b}", "index", (json_int_t)i + 1,
			    "subject", json_object_get(o[i].obj, "subject"),
			    "time", when, "time_source", o[i].has_ts &&
			    o[i].time >= 0 ? "timestamp" : "claimed",
			    "valid", o[i].valid, "allowed", allowed));
			if (!allowed)
				SIG_FAIL("step %s: signer %zu is not allowed to "
				    "sign it", st->name, i + 1);
			if (!o[i].valid)
				SIG_FAIL("step %s: the signature of signer %zu "
				    "is not valid", st->name, i + 1);
			if (p->require_timestamp && !o[i].has_ts)
				SIG_FAIL("step %s: signer %zu has no "
				    "time-stamp, which the policy requires",
				    st->name, i + 1);
			count++;
			if (o[i].time < min_t)
				min_t = o[i].time;
			if (o[i].time > max_t)
				max_t = o[i].time;
		}
		json_object_set_new(sj, "status", json_string(count ?
		    "signed" : st->optional ? "skipped" : "missing"));
		json_array_append_new(steps, sj);
		if (count == 0) {
			if (!st->optional)
				SIG_FAIL("step %s is missing", st->name);
			continue;
		}
		if (count > 1 && !st->repeatable)
			SIG_FAIL("step %s is signed %zu times; the policy does "
			    "not let it repeat", st->name, count);
		if (prev_step >= 0 && min_t < prev_max)
			SIG_FAIL("step %s was signed before step %s", st->name,
			    p->steps[prev_step].name);
		prev_step = (int)k;
		prev_max = max_t;
	}
#undef SIG_FAIL
	json_object_set_new(rep, "valid", json_boolean(ok));
	*out_ok = ok;
	return rep;
}

int
sig_verify(const struct sig_verify_req *rq, json_t **out_report,
    int *out_valid)
{
	CMS_ContentInfo *cms = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	STACK_OF(X509) *untrusted = NULL, *certs = NULL;
	struct sig_one *one = NULL;
	struct sig_doc doc;
	uint8_t *der = NULL;
	size_t der_len, n = 0, i;
	json_t *rep = NULL, *signers, *reasons;
	int64_t now;
	int r = GP_ERR_INTERNAL, all = 1, pol_ok = 1;

	*out_report = NULL;
	*out_valid = 0;
	ENSURE(rq != NULL && rq->trust != NULL && rq->trust->anchors != NULL,
	    gp_err_set(GP_ERR_INVALID, "verify: no trust anchors"));
	now = rq->now > 0 ? rq->now : (int64_t)time(NULL);
	GUARD(sig_p7s_der(rq->p7s, rq->p7s_len, &der, &der_len));
	GUARD(sig_cms_parse(der, der_len, &cms));
	GUARD(sig_doc_hash(rq, cms, &doc));
	/* Intermediates: the SignedData's certificates and the given ones. */
	ENSURE((untrusted = sk_X509_new_null()) != NULL, GP_ERR_NOMEM);
	certs = CMS_get1_certs(cms);
	for (i = 0; certs != NULL && i < (size_t)sk_X509_num(certs); i++)
		ENSURE(sk_X509_push(untrusted, sk_X509_value(certs, (int)i)),
		    GP_ERR_NOMEM);
	for (i = 0; rq->trust->untrusted != NULL &&
	    i < (size_t)sk_X509_num(rq->trust->untrusted); i++)
		ENSURE(sk_X509_push(untrusted, sk_X509_value(
		    rq->trust->untrusted, (int)i)), GP_ERR_NOMEM);
	(void)CMS_set1_signers_certs(cms, rq->trust->untrusted, 0);
	ERR_clear_error();
	sis = CMS_get0_SignerInfos(cms);
	n = (size_t)sk_CMS_SignerInfo_num(sis);
	ENSURE((one = calloc(n, sizeof(*one))) != NULL, GP_ERR_NOMEM);
	ENSURE((rep = json_object()) != NULL && (signers = json_array()) !=
	    NULL, GP_ERR_NOMEM);
	json_object_set_new(rep, "signers", signers);
	ENSURE((reasons = json_array()) != NULL, GP_ERR_NOMEM);
	json_object_set_new(rep, "reasons", reasons);
	for (i = 0; i < n; i++) {
		GUARD(sig_verify_one(rq, cms, sk_CMS_SignerInfo_value(sis,
		    (int)i), i, &doc, untrusted, now, &one[i]));
		json_array_append(signers, one[i].obj);
		if (!one[i].valid) {
			all = 0;
			json_array_append_new(reasons, json_sprintf("signer %zu: "
			    "%s", i + 1, json_string_value(json_array_get(
			    one[i].reasons, 0))));
		}
	}
	json_object_set_new(rep, "detached", json_boolean(
	    CMS_get0_content(cms) == NULL || *CMS_get0_content(cms) == NULL));
	if (rq->trust->policy != NULL) {
		json_t *pr = sig_policy_report(rq->trust->policy, one, n,
		    &pol_ok);

		json_object_set_new(rep, "policy", pr);
		if (!pol_ok)
			json_array_append_new(reasons, json_sprintf("policy "
			    "%s: %s", rq->trust->policy->name,
			    json_string_value(json_array_get(json_object_get(
			    pr, "reasons"), 0))));
	}
	json_object_set_new(rep, "valid", json_boolean(all && pol_ok));
	*out_valid = all && pol_ok;
	*out_report = rep;
	rep = NULL; /* transferred */
	r = 0;
out:
	for (i = 0; one != NULL && i < n; i++)
		sig_one_clear(&one[i]);
	free(one);
	json_decref(rep);
	sk_X509_free(untrusted);
	sk_X509_pop_free(certs, X509_free);
	CMS_ContentInfo_free(cms);
	free(der);
	ERR_clear_error();
	return r;
}
