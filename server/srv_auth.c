/*
 * srv_auth.c: who is calling the admin listener. GnuTLS asks every client
 * for a certificate (MHD_OPTION_HTTPS_MEM_TRUST). On the first request of a
 * connection this file:
 *   1. has GnuTLS verify the peer chain against root+ca (status must be 0);
 *   2. takes the leaf's DER, parses it with d2i_X509 (all bytes consumed);
 *   3. verifies it again with OpenSSL against root (trusted) and ca
 *      (untrusted intermediate), purpose TLS client: defence in depth, so a
 *      bug in one library alone does not let a stranger in;
 *   4. reads serial, actor and person (ca_person.c) and caches them on the
 *      connection.
 * On every request it then checks the validity period and looks the serial
 * up in the store: unknown, "hold" or "revoked" is refused, so a revocation
 * takes effect on the next request even on a kept-alive connection. The
 * role comes from that store row only, and only when the row's profile
 * grants roles (stores one, under dual control): a certificate whose row
 * has no role is refused whatever its subject title says. The subject
 * title of an officer certificate merely mirrors the stored role.
 */
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "server/internal.h"

void
srv_ident_clear(struct srv_ident *id)
{
	if (id == NULL)
		return;
	free(id->der);
	memset(id, 0, sizeof(*id));
}

static int
srv_asn1_time(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return GP_ERR_INVALID;
	*out = (int64_t)timegm(&tm);
	return 0;
}

int
srv_ident_parse(X509 *cert, struct srv_ident *out)
{
	int r = GP_ERR_UNAUTHENTICATED;
	const ASN1_INTEGER *sn;
	const X509_NAME *subj;
	BIGNUM *bn = NULL;
	char *hex = NULL, *p;
	BIO *bio = NULL;
	BUF_MEM *mem = NULL;
	int n;
	size_t i;
	uint8_t *q;
	json_t *js = NULL;

	memset(out, 0, sizeof(*out));
	ENSURE(cert != NULL, GP_ERR_INVALID);

	/* RFC 5280 4.1.2.2: the serial is a positive integer of at most 20
	 * octets; we take up to 32 from others' CAs but never a negative. */
	sn = X509_get0_serialNumber(cert);
	bn = sn != NULL ? ASN1_INTEGER_to_BN(sn, NULL) : NULL;
	if (bn == NULL || BN_is_negative(bn) || BN_is_zero(bn) ||
	    BN_num_bytes(bn) > 32) {
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "certificate serial "
		    "is not a positive integer of at most 32 bytes");
		goto out;
	}
	hex = BN_bn2hex(bn);
	ENSURE(hex != NULL, GP_ERR_NOMEM);
	for (p = hex; *p == '0' && p[1] != '\0'; p++)
		;
	ENSURE(strlen(p) < sizeof(out->serial), GP_ERR_INTERNAL);
	for (i = 0; p[i] != '\0'; i++)
		out->serial[i] = (char)(p[i] >= 'A' && p[i] <= 'F' ?
		    p[i] - 'A' + 'a' : p[i]);
	out->serial[i] = '\0';

	/* The person, for dual control (ca_person.c); the resident ID
	 * number the store keeps is added per request. The role is NOT read
	 * here: the subject says what its requester wished, the store what
	 * was approved (srv_ident_role). */
	subj = X509_get_subject_name(cert);
	ENSURE(subj != NULL, GP_ERR_UNAUTHENTICATED);
	if (ca_person_of_cert(cert, NULL, &out->person) != 0) {
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "certificate %s: %s",
		    out->serial, gp_err_detail());
		goto out;
	}

	/* Actor: "<subject RFC 2253>,serial=<hex>". */
	bio = BIO_new(BIO_s_mem());
	ENSURE(bio != NULL, GP_ERR_NOMEM);
	/* UTF-8 rather than \XX escapes, so that Chinese names read as
	 * such in the audit; the result must be valid UTF-8 (jansson). */
	if (X509_NAME_print_ex(bio, subj, 0, XN_FLAG_RFC2253 &
	    ~ASN1_STRFLGS_ESC_MSB) < 0) {
		ERR_clear_error();
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "certificate %s: subject "
		    "cannot be printed", out->serial);
		goto out;
	}
	BIO_get_mem_ptr(bio, &mem);
	ENSURE(mem != NULL, GP_ERR_INTERNAL);
	n = snprintf(out->actor, sizeof(out->actor), "%.*s,serial=%s",
	    (int)mem->length, mem->data, out->serial);
	if (n < 0 || (size_t)n >= sizeof(out->actor) ||
	    memchr(mem->data, '\0', mem->length) != NULL) {
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "certificate %s: subject "
		    "too long", out->serial);
		goto out;
	}
	js = json_string(out->actor);
	if (js == NULL) {
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "certificate %s: subject "
		    "is not valid UTF-8", out->serial);
		goto out;
	}

	if (srv_asn1_time(X509_get0_notBefore(cert), &out->not_before) != 0 ||
	    srv_asn1_time(X509_get0_notAfter(cert), &out->not_after) != 0) {
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "certificate %s: bad "
		    "validity period", out->serial);
		goto out;
	}

	n = i2d_X509(cert, NULL);
	ENSURE(n > 0 && n <= SRV_MAX_CERT_DER, GP_ERR_UNAUTHENTICATED);
	out->der = malloc((size_t)n);
	ENSURE(out->der != NULL, GP_ERR_NOMEM);
	q = out->der;
	ENSURE(i2d_X509(cert, &q) == n, GP_ERR_CRYPTO);
	out->der_len = (size_t)n;
	r = 0;
out:
	json_decref(js);
	BIO_free(bio);
	OPENSSL_free(hex);
	BN_free(bn);
	return r;
}

int
srv_trust_init(struct srv *s)
{
	int r = GP_ERR_NOMEM;
	X509 *root = s->inst->cert[GP_KEY_ROOT];
	X509 *ca = s->inst->cert[GP_KEY_CA];

	if (root == NULL)
		return gp_err_set(GP_ERR_CONFIG, "certs/root.pem is missing");
	s->trust = X509_STORE_new();
	s->untrusted = sk_X509_new_null();
	ENSURE(s->trust != NULL && s->untrusted != NULL, GP_ERR_NOMEM);
	if (X509_STORE_add_cert(s->trust, root) != 1) {
		r = gp_err_ssl(GP_ERR_CRYPTO, "loading certs/root.pem");
		goto out;
	}
	if (ca != NULL) {
		ENSURE(X509_up_ref(ca) == 1, GP_ERR_CRYPTO);
		if (sk_X509_push(s->untrusted, ca) <= 0) {
			X509_free(ca);
			goto out;
		}
	}
	r = 0;
out:
	return r;
}

void
srv_trust_free(struct srv *s)
{
	X509_STORE_free(s->trust);
	s->trust = NULL;
	sk_X509_pop_free(s->untrusted, X509_free);
	s->untrusted = NULL;
}

/* Steps 1 to 3: the verified leaf certificate of the TLS peer. */
int
srv_peer_cert(struct srv_req *rq, X509 **out)
{
	int r = GP_ERR_UNAUTHENTICATED;
	const union MHD_ConnectionInfo *ci;
	gnutls_session_t ses;
	const gnutls_datum_t *list;
	unsigned int status = 0, n = 0;
	const unsigned char *p;
	X509 *x = NULL;
	X509_STORE_CTX *vctx = NULL;
	gnutls_datum_t txt = {NULL, 0};
	int rc;

	*out = NULL;
	ci = MHD_get_connection_info(rq->conn,
	    MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || ci->tls_session == NULL) {
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "no TLS session");
		goto out;
	}
	ses = (gnutls_session_t)ci->tls_session;
	if (gnutls_certificate_type_get(ses) != GNUTLS_CRT_X509) {
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "no X.509 client "
		    "certificate");
		goto out;
	}
	rc = gnutls_certificate_verify_peers2(ses, &status);
	if (rc == GNUTLS_E_NO_CERTIFICATE_FOUND) {
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "no client certificate; "
		    "present an administrator certificate (--cert/--key)");
		goto out;
	}
	if (rc != 0) {
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "client certificate "
		    "cannot be verified: %s", gnutls_strerror(rc));
		goto out;
	}
	if (status != 0) {
		if (gnutls_certificate_verification_status_print(status,
		    GNUTLS_CRT_X509, &txt, 0) == 0 && txt.data != NULL)
			r = gp_err_set(GP_ERR_UNAUTHENTICATED, "client "
			    "certificate refused: %s", (const char *)txt.data);
		else
			r = gp_err_set(GP_ERR_UNAUTHENTICATED, "client "
			    "certificate refused (status 0x%x)", status);
		goto out;
	}
	list = gnutls_certificate_get_peers(ses, &n);
	if (list == NULL || n == 0) {
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "no client certificate");
		goto out;
	}
	if (list[0].size == 0 || list[0].size > SRV_MAX_CERT_DER) {
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "client certificate "
		    "over %d bytes", SRV_MAX_CERT_DER);
		goto out;
	}
	p = list[0].data;
	x = d2i_X509(NULL, &p, (long)list[0].size);
	if (x == NULL || p != list[0].data + list[0].size) {
		ERR_clear_error();
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "client certificate is "
		    "not one DER certificate");
		goto out;
	}

	/* Defence in depth: OpenSSL must agree with GnuTLS. */
	vctx = X509_STORE_CTX_new();
	ENSURE(vctx != NULL, GP_ERR_NOMEM);
	if (X509_STORE_CTX_init(vctx, rq->srv->trust, x,
	    rq->srv->untrusted) != 1) {
		r = gp_err_ssl(GP_ERR_CRYPTO, "verifying the client "
		    "certificate");
		goto out;
	}
	X509_STORE_CTX_set_purpose(vctx, X509_PURPOSE_SSL_CLIENT);
	if (X509_verify_cert(vctx) != 1) {
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "client certificate "
		    "refused: %s", X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(vctx)));
		ERR_clear_error();
		goto out;
	}
	*out = x;
	x = NULL; /* transferred */
	r = 0;
out:
	gnutls_free(txt.data);
	X509_STORE_CTX_free(vctx);
	X509_free(x);
	return r;
}

int
srv_ident_role(const struct ca_profiles *ps, const struct store_cert *c,
    struct srv_ident *id)
{
	const struct ca_profile *p;

	id->role[0] = '\0';
	id->role_bit = 0;
	/* A role is what two persons approved under a role-bearing profile
	 * and the store recorded; a subject title alone grants nothing. */
	if (c->role == NULL)
		return gp_err_set(GP_ERR_UNAUTHENTICATED, "certificate %s "
		    "carries no administrative role in the store (profile "
		    "%s); only a certificate issued under a profile that "
		    "stores a role may log in here", id->serial,
		    c->profile != NULL ? c->profile : "unknown");
	p = ca_profile_find(ps, c->profile);
	if (!ca_profile_grants_role(p))
		return gp_err_set(GP_ERR_UNAUTHENTICATED, "certificate %s was "
		    "issued under profile %s, which grants no role (it must "
		    "store one, under dual control)", id->serial,
		    c->profile != NULL ? c->profile : "unknown");
	if (srv_role_bit(c->role) == 0 || strlen(c->role) >= sizeof(id->role))
		return gp_err_set(GP_ERR_UNAUTHENTICATED, "certificate %s: "
		    "stored role is not sysadmin, officer, auditor or agent",
		    id->serial);
	memcpy(id->role, c->role, strlen(c->role) + 1);
	id->role_bit = srv_role_bit(id->role);
	return 0;
}

/* Per request: the clock, the store's status of the certificate, and the
 * role and person the store records for it. */
static int
srv_ident_current(struct srv_req *rq, struct srv_ident *id)
{
	int r;
	struct store_cert c;
	int64_t now = (int64_t)time(NULL);

	memset(&c, 0, sizeof(c));
	id->role[0] = '\0';
	id->role_bit = 0;
	/* RFC 5280 4.1.2.5: valid from notBefore to notAfter inclusive. */
	if (now < id->not_before || now > id->not_after) {
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "certificate %s is "
		    "outside its validity period", id->serial);
		goto out;
	}
	r = store_cert_get(rq->srv->inst->st, id->serial, &c);
	if (r == GP_ERR_NOT_FOUND) {
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "certificate %s was not "
		    "issued by this instance", id->serial);
		goto out;
	}
	if (r != 0)
		goto out;
	if (c.status == NULL || strcmp(c.status, "good") != 0) {
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "certificate %s is %s",
		    id->serial, c.status != NULL ? c.status : "unusable");
		goto out;
	}
	if (c.der != NULL && (c.der_len != id->der_len ||
	    memcmp(c.der, id->der, c.der_len) != 0)) {
		r = gp_err_set(GP_ERR_UNAUTHENTICATED, "certificate %s differs "
		    "from the one issued with that serial", id->serial);
		goto out;
	}
	GUARD(srv_ident_role(rq->srv->profiles, &c, id));
	GUARD(ca_person_set_idn(&id->person, c.id_number));
	r = 0;
out:
	store_cert_clear(&c);
	return r;
}

int
srv_auth(struct srv_req *rq)
{
	int r;
	struct srv_ident tmp;
	struct srv_ident *id;
	X509 *x = NULL;

	memset(&tmp, 0, sizeof(tmp));
	rq->who = NULL;
	if (rq->sc != NULL && rq->sc->have_ident) {
		id = &rq->sc->ident;
	} else {
		GUARD(srv_peer_cert(rq, &x));
		GUARD(srv_ident_parse(x, &tmp));
		if (rq->sc != NULL) {
			rq->sc->ident = tmp;
			memset(&tmp, 0, sizeof(tmp)); /* transferred */
			rq->sc->have_ident = 1;
			id = &rq->sc->ident;
		} else {
			id = &tmp;
		}
	}
	r = srv_ident_current(rq, id);
	if (r != 0) {
		/* Refused logins are audited with who tried. */
		if (id != &tmp)
			rq->who = id;
		goto out;
	}
	if (id == &tmp) {
		/* No per-connection context (allocation failed): refuse
		 * rather than point at a stack identity. */
		r = gp_err_set(GP_ERR_NOMEM, "connection context");
		goto out;
	}
	rq->who = id;
	r = 0;
out:
	srv_ident_clear(&tmp);
	X509_free(x);
	return r;
}
