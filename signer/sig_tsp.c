/*
 * sig_tsp.c: the RFC 3161 client of B-T signatures. Builds a
 * TimeStampReq over the SHA-256 of a SignerInfo's signature value with a
 * fresh 64-bit nonce and certReq, sends it to the TSA (an in-process
 * callback, or HTTP POST per RFC 3161 3.4 over a plain socket), and checks
 * the reply's status, imprint and nonce before returning the token. The
 * token's own signature and path are checked by the verifier (which trusts
 * nothing this file saw). The HTTP helper is deliberately small: one
 * request, Connection: close, a capped reply.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ts.h>

#include "signer/signer.h"

#define SIG_HTTP_TIMEOUT_S 30

static int
sig_url_split(const char *url, char **out_host, char **out_port,
    char **out_path)
{
	const char *h, *slash, *colon;

	*out_host = *out_port = *out_path = NULL;
	if (url == NULL || strncmp(url, "http://", 7) != 0)
		return gp_err_set(GP_ERR_INVALID, "url \"%s\" must start with "
		    "http:// (RFC 3161 3.4)", url ? url : "");
	h = url + 7;
	slash = strchr(h, '/');
	if (slash == NULL)
		slash = h + strlen(h);
	colon = memchr(h, ':', (size_t)(slash - h));
	if (colon == h || slash == h)
		return gp_err_set(GP_ERR_INVALID, "url \"%s\": no host", url);
	*out_host = strndup(h, (size_t)((colon ? colon : slash) - h));
	*out_port = colon ? strndup(colon + 1, (size_t)(slash - colon - 1)) :
	    strdup("80");
	*out_path = strdup(*slash ? slash : "/");
	if (*out_host == NULL || *out_port == NULL || *out_path == NULL)
		return GP_ERR_NOMEM;
	return 0;
}

static int
sig_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
sig_http_post(const char *url, const char *content_type,
    const uint8_t *body, size_t body_len, size_t max, uint8_t **out,
    size_t *out_len)
{
	int r = GP_ERR_INTERNAL, fd = -1, rc, status = 0;
	char *host = NULL, *port = NULL, *path = NULL, head[1024], *end, *cl;
	struct addrinfo hints, *ai = NULL, *a;
	struct timeval tv = {SIG_HTTP_TIMEOUT_S, 0};
	uint8_t *buf = NULL;
	size_t have = 0, hl, blen;
	ssize_t n;

	*out = NULL;
	*out_len = 0;
	GUARD(sig_url_split(url, &host, &port, &path));
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		r = gp_err_set(GP_ERR_IO, "%s: %s", url, gai_strerror(rc));
		goto out;
	}
	for (a = ai; a != NULL; a = a->ai_next) {
		if ((fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
		    a->ai_protocol)) < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	ENSURE(fd >= 0, gp_err_set(GP_ERR_IO, "%s: cannot connect: %s", url,
	    strerror(errno)));
	rc = snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: %s:%s\r\n"
	    "Content-Type: %s\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", path, host, port, content_type,
	    body_len);
	ENSURE(rc > 0 && (size_t)rc < sizeof(head),
	    gp_err_set(GP_ERR_INVALID, "url: too long"));
	ENSURE(sig_write_all(fd, head, (size_t)rc) == 0 &&
	    sig_write_all(fd, body, body_len) == 0,
	    gp_err_set(GP_ERR_IO, "%s: sending: %s", url, strerror(errno)));
	ENSURE((buf = malloc(max + 4096 + 1)) != NULL, GP_ERR_NOMEM);
	while ((n = read(fd, buf + have, max + 4096 - have)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		ENSURE(n > 0, gp_err_set(GP_ERR_IO, "%s: reading: %s", url,
		    strerror(errno)));
		have += (size_t)n;
		ENSURE(have < max + 4096, gp_err_set(GP_ERR_TOO_LARGE,
		    "%s: reply over %zu bytes", url, max));
	}
	buf[have] = '\0';
	ENSURE((end = strstr((char *)buf, "\r\n\r\n")) != NULL &&
	    sscanf((char *)buf, "HTTP/1.%*d %d", &status) == 1,
	    gp_err_set(GP_ERR_IO, "%s: not an HTTP reply", url));
	hl = (size_t)(end + 4 - (char *)buf);
	blen = have - hl;
	*end = '\0';
	if ((cl = strcasestr((char *)buf, "\r\nContent-Length:")) != NULL &&
	    strtoul(cl + 17, NULL, 10) < blen)
		blen = strtoul(cl + 17, NULL, 10);
	ENSURE(status == 200, gp_err_set(GP_ERR_IO, "%s: HTTP status %d",
	    url, status));
	ENSURE(blen <= max, gp_err_set(GP_ERR_TOO_LARGE, "%s: reply over "
	    "%zu bytes", url, max));
	ENSURE((*out = malloc(blen + 1)) != NULL, GP_ERR_NOMEM);
	memcpy(*out, buf + hl, blen);
	*out_len = blen;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ai != NULL)
		freeaddrinfo(ai);
	free(buf);
	free(host);
	free(port);
	free(path);
	return r;
}

int
sig_tsp_stamp(const struct sig_tsa *tsa, const uint8_t *imprint,
    size_t imprint_len, uint8_t **out_token, size_t *out_len)
{
	TS_REQ *req = NULL;
	TS_MSG_IMPRINT *mi = NULL;
	X509_ALGOR *alg = NULL;
	ASN1_INTEGER *nonce = NULL;
	TS_RESP *resp = NULL;
	TS_VERIFY_CTX *vctx = NULL;
	BIGNUM *bn = NULL;
	uint8_t *req_der = NULL, *rep = NULL, nb[8];
	const unsigned char *p;
	size_t rep_len = 0;
	int req_len, len, r = GP_ERR_INTERNAL, from_fn = 0;
	long status;
	unsigned char *tok = NULL;

	*out_token = NULL;
	*out_len = 0;
	ENSURE(tsa != NULL && (tsa->url != NULL || tsa->fn != NULL) &&
	    imprint_len == 32, gp_err_set(GP_ERR_INVALID, "tsa: no URL"));
	ENSURE((req = TS_REQ_new()) != NULL && (mi = TS_MSG_IMPRINT_new()) !=
	    NULL && (alg = X509_ALGOR_new()) != NULL, GP_ERR_NOMEM);
	ENSURE(X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL,
	    NULL) && TS_MSG_IMPRINT_set_algo(mi, alg) &&
	    TS_MSG_IMPRINT_set_msg(mi, (unsigned char *)imprint,
	    (int)imprint_len) && TS_REQ_set_version(req, 1) &&
	    TS_REQ_set_msg_imprint(req, mi) && TS_REQ_set_cert_req(req, 1),
	    gp_err_ssl(GP_ERR_CRYPTO, "time-stamp request"));
	/* RFC 3161 2.4.1: the nonce lets the requester match the reply. */
	GUARD(gp_random(nb, sizeof(nb)));
	nb[0] &= 0x7f;
	ENSURE((bn = BN_bin2bn(nb, sizeof(nb), NULL)) != NULL &&
	    (nonce = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
	    TS_REQ_set_nonce(req, nonce), GP_ERR_NOMEM);
	ENSURE((req_len = i2d_TS_REQ(req, &req_der)) > 0,
	    gp_err_ssl(GP_ERR_CRYPTO, "time-stamp request"));
	if (tsa->fn != NULL) {
		GUARD(tsa->fn(tsa->arg, req_der, (size_t)req_len, &rep,
		    &rep_len));
		from_fn = 1;
	} else {
		GUARD(sig_http_post(tsa->url, "application/timestamp-query",
		    req_der, (size_t)req_len, SIG_MAX_TSR, &rep, &rep_len));
	}
	p = rep;
	resp = d2i_TS_RESP(NULL, &p, (long)rep_len);
	ENSURE(resp != NULL && p == rep + rep_len, gp_err_set(GP_ERR_INVALID,
	    "tsa %s: the reply is not a TimeStampResp",
	    tsa->url ? tsa->url : "(in-process)"));
	status = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(
	    TS_RESP_get_status_info(resp)));
	/* RFC 3161 2.4.2: only granted(0) and grantedWithMods(1) carry a
	 * token. */
	ENSURE(status == TS_STATUS_GRANTED ||
	    status == TS_STATUS_GRANTED_WITH_MODS, gp_err_set(GP_ERR_IO,
	    "tsa %s: refused (status %ld)", tsa->url ? tsa->url :
	    "(in-process)", status));
	/* The reply must answer this request: imprint and nonce. */
	ENSURE((vctx = TS_REQ_to_TS_VERIFY_CTX(req, NULL)) != NULL,
	    GP_ERR_NOMEM);
	TS_VERIFY_CTX_set_flags(vctx, TS_VFY_VERSION | TS_VFY_IMPRINT |
	    TS_VFY_NONCE);
	ENSURE(TS_RESP_verify_response(vctx, resp) == 1,
	    gp_err_ssl(GP_ERR_TAMPERED, "tsa %s: the reply does not answer "
	    "the request", tsa->url ? tsa->url : "(in-process)"));
	ENSURE((len = i2d_PKCS7(TS_RESP_get_token(resp), &tok)) > 0,
	    gp_err_ssl(GP_ERR_CRYPTO, "time-stamp token"));
	*out_token = tok;
	tok = NULL; /* transferred */
	*out_len = (size_t)len;
	r = 0;
out:
	TS_VERIFY_CTX_free(vctx);
	TS_RESP_free(resp);
	TS_REQ_free(req);
	TS_MSG_IMPRINT_free(mi);
	X509_ALGOR_free(alg);
	ASN1_INTEGER_free(nonce);
	BN_free(bn);
	OPENSSL_free(req_der);
	OPENSSL_free(tok);
	if (from_fn)
		OPENSSL_free(rep);
	else
		free(rep);
	return r;
}
