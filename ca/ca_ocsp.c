/*
 * ca_ocsp.c: the OCSP responder (RFC 6960) in the RFC 5019 profile, for the
 * certificates one CA issued, signed by the delegated responder key
 * (id-kp-OCSPSigning, id-pkix-ocsp-nocheck) through EVP, so the key may
 * live on the token.
 *
 * Requests are parsed with d2i_OCSP_REQUEST and must consume every byte.
 * Each CertID is matched against the CA's name and key hashes (SHA-1,
 * SHA-256, SHA-384 or SHA-512 CertIDs); the status comes from the store.
 * A request none of whose CertIDs names the CA is answered "unauthorized"
 * (RFC 6960 2.3), unsigned: the responder is authorised for that CA only.
 *
 * Pre-signed responses: a single-CertID request without a nonce (the RFC
 * 5019 case) is answered from a hash map of signed responses, keyed by
 * serial and CertID hash, each reused until thisUpdate + refresh_s. Every
 * request still reads the certificate's stored state (one primary-key read)
 * and a cached response is used only when it was signed for exactly that
 * state, so a revocation, hold or release made by any process (the CLI
 * writes the store, not this process's memory) is answered correctly on the
 * very next request; ca_ocsp_invalidate() only frees the stale entry early.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"

#define OCSP_BUCKETS 16384u      /* power of two */
#define OCSP_BUCKET_MAX 4        /* entries per bucket; oldest evicted */
#define OCSP_STRIPES 64u         /* bucket locks */
#define OCSP_DEFAULT_CACHE (OCSP_BUCKETS * OCSP_BUCKET_MAX)
#define OCSP_NONCE_MIN 1
#define OCSP_NONCE_MAX 32
#define OCSP_SERIAL_MAX 32       /* octets; longer was never issued */
#define OCSP_HASHES 4

struct ocsp_hashes {
	int nid;
	uint8_t name[EVP_MAX_MD_SIZE];
	uint8_t key[EVP_MAX_MD_SIZE];
	unsigned int len;
};

/* One pre-signed response and the stored state it was signed for. */
struct ocsp_entry {
	struct ocsp_entry *next;
	char serial[68];
	int hash_nid;
	char status[8];
	int64_t revoked_at;
	int reason;
	int64_t this_update;
	int64_t next_update;
	int64_t refresh_at;
	char etag[40];
	int pending;                 /* signed, its record not yet durable */
	uint8_t *der;
	size_t der_len;
};

struct ca_ocsp {
	struct ca_ocsp_conf conf;
	struct ocsp_hashes h[OCSP_HASHES];
	size_t bucket_max;
	struct ocsp_entry *bucket[OCSP_BUCKETS];
	pthread_mutex_t mu[OCSP_STRIPES];
	struct ca_ocsp *next_live;   /* the process's responders */
};

static pthread_mutex_t ocsp_live_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ca_ocsp *ocsp_live;

static void
ocsp_entry_free(struct ocsp_entry *e)
{
	if (e == NULL)
		return;
	free(e->der);
	free(e);
}

static uint32_t
ocsp_hash(const char *serial)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *serial; serial++)
		h = (h ^ (uint8_t)*serial) * 16777619u;
	return h & (OCSP_BUCKETS - 1);
}

void
ca_ocsp_resp_clear(struct ca_ocsp_resp *r)
{
	if (r == NULL)
		return;
	free(r->der);
	memset(r, 0, sizeof(*r));
}

int
ca_ocsp_new(const struct ca_ocsp_conf *conf, ca_ocsp **out)
{
	static const int nids[OCSP_HASHES] = {NID_sha1, NID_sha256,
	    NID_sha384, NID_sha512};
	ca_ocsp *o = NULL;
	unsigned char *name = NULL;
	const ASN1_BIT_STRING *pk;
	int r = GP_ERR_INTERNAL, n, i;

	*out = NULL;
	ENSURE(conf != NULL && conf->st != NULL && conf->issuer_name != NULL &&
	    conf->issuer_cert != NULL && conf->signer_cert != NULL &&
	    conf->signer_key != NULL && conf->refresh_s > 0 &&
	    conf->validity_s >= conf->refresh_s, gp_err_set(GP_ERR_INVALID,
	    "OCSP: store, issuer, responder certificate and key are required, "
	    "and validity_s must be at least refresh_s"));
	ENSURE((o = calloc(1, sizeof(*o))) != NULL, GP_ERR_NOMEM);
	o->conf = *conf;
	o->bucket_max = OCSP_BUCKET_MAX;
	if (conf->cache_max > 0 && conf->cache_max < OCSP_DEFAULT_CACHE)
		o->bucket_max = (conf->cache_max + OCSP_BUCKETS - 1) /
		    OCSP_BUCKETS;
	/* RFC 6960 4.1.1: issuerNameHash over the DER of the issuer's
	 * name, issuerKeyHash over its public key BIT STRING value. */
	n = i2d_X509_NAME(X509_get_subject_name(conf->issuer_cert), &name);
	pk = X509_get0_pubkey_bitstr(conf->issuer_cert);
	ENSURE(n > 0 && pk != NULL, gp_err_ssl(GP_ERR_CRYPTO, "OCSP: issuer "
	    "name or key"));
	for (i = 0; i < OCSP_HASHES; i++) {
		const EVP_MD *md = EVP_get_digestbynid(nids[i]);
		unsigned int l1 = 0, l2 = 0;
		o->h[i].nid = nids[i];
		ENSURE(md != NULL && EVP_Digest(name, (size_t)n, o->h[i].name,
		    &l1, md, NULL) && EVP_Digest(pk->data, (size_t)pk->length,
		    o->h[i].key, &l2, md, NULL) && l1 == l2, gp_err_ssl(
		    GP_ERR_CRYPTO, "OCSP: issuer hashes"));
		o->h[i].len = l1;
	}
	for (i = 0; i < (int)OCSP_STRIPES; i++)
		pthread_mutex_init(&o->mu[i], NULL);
	pthread_mutex_lock(&ocsp_live_mu);
	o->next_live = ocsp_live;
	ocsp_live = o;
	pthread_mutex_unlock(&ocsp_live_mu);
	*out = o;
	o = NULL; /* transferred */
	r = 0;
out:
	OPENSSL_free(name);
	free(o);
	return r;
}

void
ca_ocsp_free(ca_ocsp *o)
{
	struct ca_ocsp **pp;
	struct ocsp_entry *e, *n;
	size_t i;

	if (o == NULL)
		return;
	pthread_mutex_lock(&ocsp_live_mu);
	for (pp = &ocsp_live; *pp != NULL; pp = &(*pp)->next_live) {
		if (*pp == o) {
			*pp = o->next_live;
			break;
		}
	}
	pthread_mutex_unlock(&ocsp_live_mu);
	for (i = 0; i < OCSP_BUCKETS; i++) {
		for (e = o->bucket[i]; e != NULL; e = n) {
			n = e->next;
			ocsp_entry_free(e);
		}
	}
	for (i = 0; i < OCSP_STRIPES; i++)
		pthread_mutex_destroy(&o->mu[i]);
	free(o);
}

static void
ocsp_drop(ca_ocsp *o, const char *serial)
{
	uint32_t b = ocsp_hash(serial);
	struct ocsp_entry **pp, *e;

	pthread_mutex_lock(&o->mu[b % OCSP_STRIPES]);
	for (pp = &o->bucket[b]; (e = *pp) != NULL;) {
		if (strcmp(e->serial, serial) == 0) {
			*pp = e->next;
			ocsp_entry_free(e);
		} else {
			pp = &e->next;
		}
	}
	pthread_mutex_unlock(&o->mu[b % OCSP_STRIPES]);
}

void
ca_ocsp_invalidate(const char *serial)
{
	ca_ocsp *o;

	if (serial == NULL)
		return;
	pthread_mutex_lock(&ocsp_live_mu);
	for (o = ocsp_live; o != NULL; o = o->next_live)
		ocsp_drop(o, serial);
	pthread_mutex_unlock(&ocsp_live_mu);
}

/* 1 when |e| answers for |st| at |now|. */
static int
ocsp_entry_fresh(const struct ocsp_entry *e,
    const struct store_cert_state *st, int64_t now)
{
	return now < e->refresh_at && strcmp(e->status, st->status) == 0 &&
	    e->revoked_at == st->revoked_at && e->reason == st->reason;
}

/* Copies a fresh cached answer into |out|; 1 when there was one. */
static int
ocsp_cache_get(ca_ocsp *o, const struct store_cert_state *st, int hash_nid,
    int64_t now, struct ca_ocsp_resp *out)
{
	uint32_t b = ocsp_hash(st->serial);
	struct ocsp_entry *e;
	int found = 0;

	pthread_mutex_lock(&o->mu[b % OCSP_STRIPES]);
	for (e = o->bucket[b]; e != NULL; e = e->next) {
		if (e->hash_nid != hash_nid || strcmp(e->serial, st->serial))
			continue;
		if (e->pending || !ocsp_entry_fresh(e, st, now))
			break;
		if ((out->der = malloc(e->der_len)) == NULL)
			break;
		memcpy(out->der, e->der, e->der_len);
		out->der_len = e->der_len;
		out->this_update = e->this_update;
		out->next_update = e->next_update;
		out->refresh_at = e->refresh_at;
		memcpy(out->etag, e->etag, sizeof(out->etag));
		found = 1;
		break;
	}
	pthread_mutex_unlock(&o->mu[b % OCSP_STRIPES]);
	return found;
}

/* Replaces the entry of (serial, hash) with a copy of |resp|; evicts the
 * bucket's oldest entry when it is full. Best effort: NOMEM skips it. */
static void
ocsp_cache_put(ca_ocsp *o, const struct store_cert_state *st, int hash_nid,
    const struct ca_ocsp_resp *resp)
{
	uint32_t b = ocsp_hash(st->serial);
	struct ocsp_entry *e, **pp, *old;
	size_t n = 0;

	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->der = malloc(resp->der_len)) == NULL) {
		ocsp_entry_free(e);
		return;
	}
	memcpy(e->der, resp->der, resp->der_len);
	e->der_len = resp->der_len;
	snprintf(e->serial, sizeof(e->serial), "%s", st->serial);
	snprintf(e->status, sizeof(e->status), "%s", st->status);
	e->hash_nid = hash_nid;
	e->revoked_at = st->revoked_at;
	e->reason = st->reason;
	e->this_update = resp->this_update;
	e->next_update = resp->next_update;
	e->refresh_at = resp->refresh_at;
	memcpy(e->etag, resp->etag, sizeof(e->etag));
	e->pending = 1;
	pthread_mutex_lock(&o->mu[b % OCSP_STRIPES]);
	/* Concurrent misses of one serial each sign (and are each audited);
	 * the first pending answer stays, so that its publication is not
	 * undone by the others. */
	for (old = o->bucket[b]; old != NULL; old = old->next) {
		if (old->hash_nid == hash_nid && old->pending &&
		    strcmp(old->serial, st->serial) == 0 &&
		    ocsp_entry_fresh(old, st, resp->this_update)) {
			pthread_mutex_unlock(&o->mu[b % OCSP_STRIPES]);
			ocsp_entry_free(e);
			return;
		}
	}
	/* Newest first: drop the old one of this key, then the tail. */
	for (pp = &o->bucket[b]; (old = *pp) != NULL;) {
		if (old->hash_nid == hash_nid &&
		    strcmp(old->serial, st->serial) == 0) {
			*pp = old->next;
			ocsp_entry_free(old);
			continue;
		}
		if (++n >= o->bucket_max) {
			*pp = NULL;
			while (old != NULL) {
				struct ocsp_entry *nx = old->next;
				ocsp_entry_free(old);
				old = nx;
			}
			break;
		}
		pp = &old->next;
	}
	e->next = o->bucket[b];
	o->bucket[b] = e;
	pthread_mutex_unlock(&o->mu[b % OCSP_STRIPES]);
}

void
ca_ocsp_publish(ca_ocsp *o, const char *serial, const char *etag)
{
	uint32_t b;
	struct ocsp_entry *e;

	if (o == NULL || serial == NULL || etag == NULL || etag[0] == '\0')
		return;
	b = ocsp_hash(serial);
	pthread_mutex_lock(&o->mu[b % OCSP_STRIPES]);
	for (e = o->bucket[b]; e != NULL; e = e->next) {
		if (e->pending && strcmp(e->serial, serial) == 0 &&
		    strcmp(e->etag, etag) == 0) {
			e->pending = 0;
			break;
		}
	}
	pthread_mutex_unlock(&o->mu[b % OCSP_STRIPES]);
}

/* An OCSPResponse with no body: malformedRequest, internalError,
 * unauthorized. */
int
ca_ocsp_status_only(int status, struct ca_ocsp_resp *out)
{
	OCSP_RESPONSE *resp = OCSP_response_create(status, NULL);
	unsigned char *der = NULL;
	int n;

	if (resp == NULL)
		return GP_ERR_NOMEM;
	n = i2d_OCSP_RESPONSE(resp, &der);
	OCSP_RESPONSE_free(resp);
	if (n <= 0)
		return GP_ERR_NOMEM;
	/* What was asked (ids, nonce) stays for the audit record. */
	free(out->der);
	out->der = NULL;
	out->der_len = 0;
	out->cached = out->cacheable = out->signed_now = 0;
	out->etag[0] = '\0';
	if ((out->der = malloc((size_t)n)) == NULL) {
		OPENSSL_free(der);
		return GP_ERR_NOMEM;
	}
	memcpy(out->der, der, (size_t)n);
	OPENSSL_free(der);
	out->der_len = (size_t)n;
	out->status = status;
	return 0;
}

/* The store's serial text of |ai|: lower-case hex, no leading zeros.
 * 0 on success; GP_ERR_NOT_FOUND for what this CA never issues (zero,
 * negative, over OCSP_SERIAL_MAX octets). */
static int
ocsp_serial_hex(const ASN1_INTEGER *ai, char *buf, size_t len)
{
	BIGNUM *bn = NULL;
	char *hex = NULL, *p;
	int r = GP_ERR_NOT_FOUND;

	if (ai == NULL || ai->length <= 0 || ai->length > OCSP_SERIAL_MAX ||
	    ai->type != V_ASN1_INTEGER)
		return GP_ERR_NOT_FOUND;
	if ((bn = ASN1_INTEGER_to_BN(ai, NULL)) == NULL)
		return GP_ERR_NOMEM;
	if (BN_is_zero(bn) || BN_is_negative(bn))
		goto out;
	ENSURE((hex = BN_bn2hex(bn)) != NULL, GP_ERR_NOMEM);
	for (p = hex; *p == '0' && p[1] != '\0'; p++)
		;
	ENSURE(strlen(p) < len, GP_ERR_NOT_FOUND);
	snprintf(buf, len, "%s", p);
	for (p = buf; *p; p++) {
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	}
	r = 0;
out:
	OPENSSL_free(hex);
	BN_free(bn);
	return r;
}

/* The state of the certificate |cid| names: 0 with |st| filled, or
 * GP_ERR_NOT_FOUND for unknown (another issuer, never issued). Any other
 * code is a store failure. *out_ours is 1 when |cid| names this
 * responder's issuer (whether or not the serial is known). */
static int
ocsp_lookup(ca_ocsp *o, OCSP_CERTID *cid, int *out_nid, int *out_ours,
    struct store_cert_state *st)
{
	ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
	ASN1_OBJECT *md = NULL;
	ASN1_INTEGER *serial = NULL;
	char hex[68];
	int i, nid, r;

	*out_nid = NID_undef;
	*out_ours = 0;
	if (!OCSP_id_get0_info(&nh, &md, &kh, &serial, cid))
		return GP_ERR_NOT_FOUND;
	nid = OBJ_obj2nid(md);
	*out_nid = nid;
	for (i = 0; i < OCSP_HASHES; i++) {
		if (o->h[i].nid == nid)
			break;
	}
	/* RFC 6960 4.1.1: the CertID names the issuer by the hashes of its
	 * name and key; a CertID of another CA is not ours to answer. */
	if (i == OCSP_HASHES || nh == NULL || kh == NULL ||
	    (unsigned int)nh->length != o->h[i].len ||
	    (unsigned int)kh->length != o->h[i].len ||
	    memcmp(nh->data, o->h[i].name, o->h[i].len) != 0 ||
	    memcmp(kh->data, o->h[i].key, o->h[i].len) != 0)
		return GP_ERR_NOT_FOUND;
	*out_ours = 1;
	if ((r = ocsp_serial_hex(serial, hex, sizeof(hex))) != 0)
		return r;
	if ((r = store_cert_state_get(o->conf.st, hex, st)) != 0)
		return r;
	/* Issued by this instance, but by another of its CAs: unknown to
	 * this responder, never good. */
	if (strcmp(st->issuer, o->conf.issuer_name) != 0)
		return GP_ERR_NOT_FOUND;
	return 0;
}

/* Checks the nonce (RFC 8954 2.1) and reports whether there is one.
 * GP_ERR_INVALID for a nonce the RFC says to reject. */
static int
ocsp_nonce_check(OCSP_REQUEST *req, int *out_has)
{
	X509_EXTENSION *ext;
	ASN1_OCTET_STRING *val;
	ASN1_OCTET_STRING *inner = NULL;
	const unsigned char *p;
	int idx, r;

	*out_has = 0;
	idx = OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1);
	if (idx < 0)
		return 0;
	/* RFC 5280 4.2 (extensions as in certificates): one of each. */
	if (OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, idx) >= 0)
		return GP_ERR_INVALID;
	ext = OCSP_REQUEST_get_ext(req, idx);
	val = X509_EXTENSION_get_data(ext);
	if (val == NULL)
		return GP_ERR_INVALID;
	/* RFC 8954 2.1: Nonce ::= OCTET STRING(SIZE(1..32)), the extnValue
	 * wrapping it; "A server MUST reject any OCSP request that has a
	 * nonce in the Nonce extension with a length of either 0 octets or
	 * more than 32 octets with the malformedRequest OCSPResponseStatus". */
	p = val->data;
	inner = d2i_ASN1_OCTET_STRING(NULL, &p, val->length);
	ENSURE(inner != NULL && p == val->data + val->length,
	    GP_ERR_INVALID);
	ENSURE(inner->length >= OCSP_NONCE_MIN &&
	    inner->length <= OCSP_NONCE_MAX, GP_ERR_INVALID);
	*out_has = 1;
	r = 0;
out:
	ASN1_OCTET_STRING_free(inner);
	return r;
}

/* Signs a successful response for every CertID of |req|; |states| holds
 * what ocsp_lookup found (|found[i]| 0: unknown). */
static int
ocsp_sign(ca_ocsp *o, OCSP_REQUEST *req, int has_nonce, int n,
    const struct store_cert_state *states, const int *found, int64_t now,
    struct ca_ocsp_resp *out)
{
	OCSP_BASICRESP *bs = NULL;
	OCSP_RESPONSE *resp = NULL;
	OCSP_SINGLERESP *single;
	ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL, *rev = NULL;
	EVP_MD_CTX *mctx = NULL;
	unsigned char *der = NULL, dg[32];
	int i, len, r = GP_ERR_CRYPTO;

	ENSURE((bs = OCSP_BASICRESP_new()) != NULL &&
	    (thisupd = ASN1_GENERALIZEDTIME_set(NULL, (time_t)now)) != NULL &&
	    (nextupd = ASN1_GENERALIZEDTIME_set(NULL, (time_t)(now +
	    o->conf.validity_s))) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < n; i++) {
		OCSP_CERTID *cid = OCSP_onereq_get0_id(
		    OCSP_request_onereq_get0(req, i));
		const struct store_cert_state *st = &states[i];
		int status = V_OCSP_CERTSTATUS_UNKNOWN;
		int reason = OCSP_REVOKED_STATUS_NOSTATUS;

		ASN1_GENERALIZEDTIME_free(rev);
		rev = NULL;
		if (found[i] && strcmp(st->status, "good") == 0) {
			status = V_OCSP_CERTSTATUS_GOOD;
		} else if (found[i]) {
			/* RFC 6960 4.2.1: revoked, with revocationTime and
			 * the reason; a hold is revoked with certificateHold
			 * until released (RFC 5280 5.3.1). */
			status = V_OCSP_CERTSTATUS_REVOKED;
			reason = strcmp(st->status, "hold") == 0 ?
			    OCSP_REVOKED_STATUS_CERTIFICATEHOLD :
			    st->reason > 0 ? st->reason :
			    OCSP_REVOKED_STATUS_NOSTATUS;
			ENSURE((rev = ASN1_GENERALIZEDTIME_set(NULL,
			    (time_t)st->revoked_at)) != NULL, GP_ERR_NOMEM);
		}
		ENSURE((single = OCSP_basic_add1_status(bs, cid, status,
		    reason, rev, thisupd, nextupd)) != NULL, GP_ERR_NOMEM);
		/* RFC 6960 4.4.5: the CRL entry's invalidity date (RFC 5280
		 * 5.3.2) as a singleExtension, as the CRL lists it. */
		if (status == V_OCSP_CERTSTATUS_REVOKED &&
		    st->invalidity_date > 0) {
			ASN1_GENERALIZEDTIME *inv = ASN1_GENERALIZEDTIME_set(
			    NULL, (time_t)st->invalidity_date);
			int ok = inv != NULL && OCSP_SINGLERESP_add1_ext_i2d(
			    single, NID_invalidity_date, inv, 0, 0) == 1;

			ASN1_GENERALIZEDTIME_free(inv);
			ENSURE(ok, GP_ERR_NOMEM);
		}
	}
	/* RFC 6960 4.4.1: the nonce is echoed in the response. */
	if (has_nonce)
		ENSURE(OCSP_copy_nonce(bs, req) == 1, GP_ERR_NOMEM);
	ENSURE((mctx = EVP_MD_CTX_new()) != NULL, GP_ERR_NOMEM);
	if (!EVP_DigestSignInit(mctx, NULL, ca_digest_for(o->conf.signer_key),
	    NULL, o->conf.signer_key) ||
	    /* RFC 6960 4.2.2.3 / RFC 5019 2.2.3: responderID byKey; the
	     * responder certificate travels in certs. */
	    !OCSP_basic_sign_ctx(bs, o->conf.signer_cert, mctx, NULL,
	    OCSP_RESPID_KEY)) {
		r = gp_err_ssl(GP_ERR_CRYPTO, "OCSP: signing the response");
		goto out;
	}
	ENSURE((resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL,
	    bs)) != NULL, GP_ERR_NOMEM);
	ENSURE((len = i2d_OCSP_RESPONSE(resp, &der)) > 0, GP_ERR_NOMEM);
	ENSURE((out->der = malloc((size_t)len)) != NULL, GP_ERR_NOMEM);
	memcpy(out->der, der, (size_t)len);
	out->der_len = (size_t)len;
	out->status = CA_OCSP_SUCCESSFUL;
	out->signed_now = 1;
	out->this_update = now;
	out->next_update = now + o->conf.validity_s;
	out->refresh_at = now + o->conf.refresh_s;
	/* RFC 5019 6.2: an entity tag naming this response. */
	ENSURE(EVP_Digest(der, (size_t)len, dg, NULL, EVP_sha256(), NULL),
	    GP_ERR_CRYPTO);
	out->etag[0] = '"';
	for (i = 0; i < 16; i++)
		snprintf(out->etag + 1 + 2 * i, 3, "%02x", dg[i]);
	out->etag[33] = '"';
	out->etag[34] = '\0';
	r = 0;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(mctx);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	ASN1_GENERALIZEDTIME_free(thisupd);
	ASN1_GENERALIZEDTIME_free(nextupd);
	ASN1_GENERALIZEDTIME_free(rev);
	return r;
}

/* What a signature is about to answer, for its audit record. */
static void
ocsp_note_ids(OCSP_REQUEST *req, int n,
    const struct store_cert_state *states, const int *found,
    struct ca_ocsp_resp *out)
{
	ASN1_INTEGER *serial = NULL;
	struct ca_ocsp_id *id;
	int i;

	out->n_ids = n;
	for (i = 0; i < n; i++) {
		id = &out->ids[i];
		if (found[i]) {
			/* Same sizes as store_cert_state's, NUL-terminated. */
			memcpy(id->serial, states[i].serial,
			    sizeof(id->serial));
			memcpy(id->status, states[i].status,
			    sizeof(id->status));
			continue;
		}
		snprintf(id->status, sizeof(id->status), "unknown");
		if (!OCSP_id_get0_info(NULL, NULL, NULL, &serial,
		    OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, i))) ||
		    ocsp_serial_hex(serial, id->serial,
		    sizeof(id->serial)) != 0)
			snprintf(id->serial, sizeof(id->serial), "-");
	}
}

int
ca_ocsp_respond(ca_ocsp *o, const uint8_t *req_der, size_t req_len,
    struct ca_ocsp_resp *out)
{
	OCSP_REQUEST *req = NULL;
	const unsigned char *p = req_der;
	struct store_cert_state states[CA_OCSP_MAX_CERTIDS];
	int found[CA_OCSP_MAX_CERTIDS];
	int nids[CA_OCSP_MAX_CERTIDS];
	int64_t now = (int64_t)time(NULL);
	int r, n, i, has_nonce = 0, lr, ours, any_ours = 0;

	memset(out, 0, sizeof(*out));
	ENSURE(o != NULL, GP_ERR_INVALID);
	/* RFC 6960 4.2.1: malformedRequest for what does not parse. Size
	 * first: the request is attacker-controlled. */
	if (req_der == NULL || req_len == 0 || req_len > CA_OCSP_MAX_REQUEST)
		goto malformed;
	req = d2i_OCSP_REQUEST(NULL, &p, (long)req_len);
	if (req == NULL || p != req_der + req_len)
		goto malformed;
	n = OCSP_request_onereq_count(req);
	if (n <= 0 || n > CA_OCSP_MAX_CERTIDS)
		goto malformed;
	if (ocsp_nonce_check(req, &has_nonce) != 0)
		goto malformed;
	for (i = 0; i < n; i++) {
		lr = ocsp_lookup(o, OCSP_onereq_get0_id(
		    OCSP_request_onereq_get0(req, i)), &nids[i], &ours,
		    &states[i]);
		if (lr != 0 && lr != GP_ERR_NOT_FOUND) {
			gp_log(GP_LOG_ERROR, "OCSP: store: %s", gp_err_detail());
			GUARD(ca_ocsp_status_only(CA_OCSP_INTERNAL_ERROR, out));
			goto done;
		}
		found[i] = lr == 0;
		any_ours |= ours;
	}
	/* RFC 6960 2.3: "unauthorized" when "the server is not capable of
	 * responding authoritatively". This responder's certificate is
	 * authorised (RFC 6960 4.2.2.2) by one CA only: a signed answer
	 * about another issuer's certificates, even "unknown", is one that a
	 * relying party must reject (and Java's PKIX checker then fails the
	 * whole path). So when no CertID names that CA: unauthorized,
	 * unsigned. A request mixing its CertIDs with others' is answered,
	 * the others "unknown" (RFC 6960 2.2: "the request indicates an
	 * unrecognized issuer that is not served by this responder"), so
	 * that its own certificates still get their status. */
	if (!any_ours) {
		GUARD(ca_ocsp_status_only(CA_OCSP_UNAUTHORIZED, out));
		goto done;
	}
	/* RFC 5019 2.1.1: one CertID, no nonce: the pre-signed answer. */
	out->cacheable = n == 1 && !has_nonce && found[0];
	if (out->cacheable &&
	    ocsp_cache_get(o, &states[0], nids[0], now, out)) {
		out->cached = 1;
		out->status = CA_OCSP_SUCCESSFUL;
		goto done;
	}
	ocsp_note_ids(req, n, states, found, out);
	out->nonce = has_nonce;
	if ((r = ocsp_sign(o, req, has_nonce, n, states, found, now,
	    out)) != 0) {
		gp_log(GP_LOG_ERROR, "OCSP: %s", gp_err_detail());
		GUARD(ca_ocsp_status_only(CA_OCSP_INTERNAL_ERROR, out));
		out->sign_failed = 1;
		goto done;
	}
	/* Unknown answers are not kept: random serials must not fill the
	 * cache (they are re-signed, as nonce requests are). */
	if (out->cacheable)
		ocsp_cache_put(o, &states[0], nids[0], out);
	if (!out->cacheable)
		out->etag[0] = '\0';
	goto done;
malformed:
	GUARD(ca_ocsp_status_only(CA_OCSP_MALFORMED, out));
done:
	r = 0;
out:
	OCSP_REQUEST_free(req);
	return r;
}
