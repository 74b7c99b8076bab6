/*
 * est.h: Enrollment over Secure Transport (RFC 7030, with RFC 8951), the
 * encodings both ends share and the holder's client.
 *
 * Bodies are base64 of DER (RFC 7030 4; RFC 8951 says base64 is always
 * used, whatever Content-Transfer-Encoding says): requests are
 * "application/pkcs10" (a PKCS#10 request), certificates come back as
 * "application/pkcs7-mime; smime-type=certs-only" (a SignedData with no
 * signer, RFC 7030 4.1.3 and 4.2.3), and serverkeygen answers
 * "multipart/mixed" (RFC 2046 5.1) whose parts are the enveloped private
 * key ("application/pkcs7-mime; smime-type=server-generated-key") and the
 * certificate (certs-only), RFC 7030 4.4.2.
 *
 * The server side lives in server/srv_est.c, the key management behind it
 * in kmc/; the client is `govpki token enroll|renew` (cli/).
 */
#ifndef GOVPKI_EST_H
#define GOVPKI_EST_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/core.h"

#define EST_PREFIX "/.well-known/est/"
#define EST_CT_PKCS10 "application/pkcs10"
#define EST_CT_CERTS "application/pkcs7-mime; smime-type=certs-only"
#define EST_CT_CACERTS "application/pkcs7-mime"
#define EST_CT_KEY "application/pkcs7-mime; smime-type=server-generated-key"
#define EST_MAX_BODY (256 * 1024)   /* any EST body, either way */
#define EST_MAX_PARTS 64            /* parts of one multipart body */

/* Base64 (RFC 4648 4) of |len| bytes with a line break every 64
 * characters (RFC 2045 6.8 wants lines of at most 76). *out is
 * NUL-terminated, freed with free(). */
int est_b64(const uint8_t *in, size_t len, char **out, size_t *out_len)
    GP_WUR;

/* Decodes base64 text |in|: CR, LF, space and tab are ignored anywhere;
 * any other character outside the alphabet, a bad length or misplaced
 * padding is GP_ERR_INVALID naming |what|; more than |max| decoded bytes
 * is GP_ERR_TOO_LARGE. *out is freed with free(). */
int est_unb64(const char *what, const uint8_t *in, size_t len, size_t max,
    uint8_t **out, size_t *out_len) GP_WUR;

/* A certs-only PKCS#7 (degenerate SignedData: certificates, no signer, no
 * content) of |certs| in DER. *out is freed with OPENSSL_free(). */
int est_certs_only(STACK_OF(X509) *certs, uint8_t **out, size_t *out_len)
    GP_WUR;

/* Parses certs-only DER (every byte of it) into a new stack of at least
 * one certificate (freed with sk_X509_pop_free(.., X509_free)).
 * GP_ERR_INVALID naming |what| otherwise. */
int est_certs_parse(const char *what, const uint8_t *der, size_t len,
    STACK_OF(X509) **out) GP_WUR;

/* The PEM text of the DER request |der|, its bytes unchanged, for the
 * CA's parser (which checks them). *out is freed with free(). */
int est_csr_pem(const uint8_t *der, size_t len, char **out, size_t *out_len)
    GP_WUR;

/* One part of a multipart/mixed body. Built: |der| borrowed. Parsed:
 * |der| owned (the base64 part body decoded), freed by est_parts_free(). */
struct est_part {
	char content_type[128];
	uint8_t *der;
	size_t len;
};
void est_parts_free(struct est_part *parts, size_t n);

/* A multipart/mixed body of |n| parts, each base64 of its DER with its
 * Content-Type, and the boundary (random) in |boundary|, for the
 * response's Content-Type "multipart/mixed; boundary=...". *out is freed
 * with free(). */
int est_multipart_build(const struct est_part *parts, size_t n,
    char boundary[48], char **out, size_t *out_len) GP_WUR;

/* Parses a multipart/mixed |body| whose response had Content-Type
 * |content_type| (its boundary parameter): at most EST_MAX_PARTS parts,
 * each base64-decoded. GP_ERR_INVALID naming what is malformed. */
int est_multipart_parse(const char *content_type, const uint8_t *body,
    size_t len, struct est_part **out, size_t *out_n) GP_WUR;

/*
 * The client: one HTTPS request to an EST server (est_client.c).
 */
struct est_req {
	const char *url;           /* https://HOST:PORT/.well-known/est/... */
	const char *method;        /* "GET" or "POST" */
	const char *content_type;  /* of |body| (POST) */
	const uint8_t *body;
	size_t body_len;
	const char *cafile;        /* PEM trust anchors for the server */
	X509 *client_cert;         /* TLS client authentication, or NULL */
	EVP_PKEY *client_key;      /* may live on a token */
	STACK_OF(X509) *client_chain; /* intermediates sent with it */
	const char *basic_user;    /* HTTP Basic (RFC 7617), or NULL */
	const char *basic_pass;    /* (the enrolment code: a secret) */
	int timeout_s;             /* the whole exchange; 0: 60 */
};

struct est_resp {
	unsigned int status;
	char content_type[256];
	uint8_t *body;             /* NUL-terminated; free() */
	size_t body_len;
};
void est_resp_clear(struct est_resp *r);

/* Sends |rq| over TLS 1.2 or 1.3, verifying the server's certificate
 * chain against |rq->cafile| and its name against the URL's host (RFC
 * 7030 3.6: the client MUST authenticate the server). Returns 0 with any
 * HTTP status in |out| (the caller judges it); GP_ERR_INVALID naming the
 * URL, GP_ERR_IO for a connection, TLS or timeout failure,
 * GP_ERR_TOO_LARGE for a body over EST_MAX_BODY. Never logs the Basic
 * password. */
int est_request(const struct est_req *rq, struct est_resp *out) GP_WUR;

#endif /* GOVPKI_EST_H */
