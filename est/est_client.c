/*
 * est_client.c: one HTTPS exchange with an EST server, for the holder's
 * client. TLS 1.2 or 1.3 through OpenSSL; the server is authenticated
 * against the caller's trust anchors and the URL's host name or address
 * (RFC 7030 3.6.1); the client authenticates with a certificate whose key
 * may live on the USB key (an EVP_PKEY from tokens/), or with HTTP Basic
 * (RFC 7030 3.2.3, the enrolment code). One request per connection
 * ("Connection: close"), bounded in time (socket timeouts) and size.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "est/est.h"

#define EST_HEAD_MAX 16384

void
est_resp_clear(struct est_resp *r)
{
	if (r == NULL)
		return;
	free(r->body);
	memset(r, 0, sizeof(*r));
}

struct est_url {
	char host[256];
	char port[8];
	char path[1024];
	int is_ip;
};

static int
est_url_parse(const char *url, struct est_url *u)
{
	const char *p, *h, *slash, *colon;
	size_t hl;

	memset(u, 0, sizeof(*u));
	if (url == NULL || strncmp(url, "https://", 8) != 0)
		return gp_err_set(GP_ERR_INVALID, "--est %s: an https:// URL is "
		    "required (RFC 7030 3.3: EST runs over TLS)",
		    url != NULL ? url : "");
	h = url + 8;
	slash = strchr(h, '/');
	if (slash == NULL)
		slash = h + strlen(h);
	if (*h == '[') {
		p = memchr(h, ']', (size_t)(slash - h));
		if (p == NULL)
			return gp_err_set(GP_ERR_INVALID, "URL %s: bad IPv6 "
			    "address", url);
		hl = (size_t)(p - h - 1);
		if (hl == 0 || hl >= sizeof(u->host))
			return gp_err_set(GP_ERR_INVALID, "URL %s: bad host", url);
		memcpy(u->host, h + 1, hl);
		colon = p + 1 < slash && p[1] == ':' ? p + 1 : NULL;
		u->is_ip = 1;
	} else {
		colon = memchr(h, ':', (size_t)(slash - h));
		hl = (size_t)((colon != NULL ? colon : slash) - h);
		if (hl == 0 || hl >= sizeof(u->host))
			return gp_err_set(GP_ERR_INVALID, "URL %s: bad host", url);
		memcpy(u->host, h, hl);
		u->is_ip = strspn(u->host, "0123456789.") == hl;
	}
	if (colon != NULL) {
		size_t pl = (size_t)(slash - colon - 1);
		if (pl == 0 || pl >= sizeof(u->port) ||
		    strspn(colon + 1, "0123456789") < pl)
			return gp_err_set(GP_ERR_INVALID, "URL %s: bad port", url);
		memcpy(u->port, colon + 1, pl);
	} else {
		snprintf(u->port, sizeof(u->port), "443");
	}
	snprintf(u->path, sizeof(u->path), "%s", *slash != '\0' ? slash : "/");
	if (strpbrk(u->path, " \r\n") != NULL || strpbrk(u->host, " \r\n@") !=
	    NULL)
		return gp_err_set(GP_ERR_INVALID, "URL %s: bad characters", url);
	return 0;
}

static int
est_connect(const struct est_url *u, int timeout_s, int *out_fd)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct timeval tv;
	int fd = -1, rc;

	*out_fd = -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(u->host, u->port, &hints, &res)) != 0)
		return gp_err_set(GP_ERR_IO, "%s:%s: %s", u->host, u->port,
		    gai_strerror(rc));
	tv.tv_sec = timeout_s;
	tv.tv_usec = 0;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0)
			continue;
		/* Bounds connect(), and each read and write after it. */
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return gp_err_set(GP_ERR_IO, "%s:%s: cannot connect: %s",
		    u->host, u->port, strerror(errno));
	*out_fd = fd;
	return 0;
}

/* The request head, with Basic credentials when given. */
static int
est_head(const struct est_req *rq, const struct est_url *u, char **out)
{
	char *cred = NULL, *b64 = NULL, *head = NULL;
	size_t clen, b64_len = 0;
	int n, r = GP_ERR_INTERNAL;

	*out = NULL;
	if (rq->basic_user != NULL && rq->basic_pass != NULL) {
		clen = strlen(rq->basic_user) + strlen(rq->basic_pass) + 2;
		ENSURE((cred = malloc(clen)) != NULL, GP_ERR_NOMEM);
		snprintf(cred, clen, "%s:%s", rq->basic_user, rq->basic_pass);
		ENSURE((b64 = malloc(4 * (clen / 3 + 1) + 1)) != NULL,
		    GP_ERR_NOMEM);
		b64_len = (size_t)EVP_EncodeBlock((unsigned char *)b64,
		    (unsigned char *)cred, (int)clen - 1);
	}
	n = asprintf(&head, "%s %s HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
	    "User-Agent: govpki-est\r\nConnection: close\r\n"
	    "Accept: */*\r\n%s%s%s%s%s%s"
	    "Content-Length: %zu\r\n\r\n", rq->method, u->path,
	    strchr(u->host, ':') ? "[" : "", u->host,
	    strchr(u->host, ':') ? "]" : "", u->port,
	    rq->content_type != NULL ? "Content-Type: " : "",
	    rq->content_type != NULL ? rq->content_type : "",
	    rq->content_type != NULL ? "\r\n" : "",
	    b64 != NULL ? "Authorization: Basic " : "",
	    b64 != NULL ? b64 : "", b64 != NULL ? "\r\n" : "", rq->body_len);
	ENSURE(n > 0, GP_ERR_NOMEM);
	*out = head;
	r = 0;
out:
	if (cred != NULL)
		OPENSSL_clear_free(cred, strlen(cred));
	if (b64 != NULL)
		OPENSSL_clear_free(b64, b64_len);
	return r;
}

/* Status line, Content-Type and body of the |len| bytes of |buf|. */
static int
est_parse_resp(const struct est_url *u, char *buf, size_t len,
    struct est_resp *out)
{
	char *eoh, *line, *next, *p;
	long clen = -1;
	size_t blen;
	int r = GP_ERR_INTERNAL;

	ENSURE((eoh = memmem(buf, len, "\r\n\r\n", 4)) != NULL &&
	    strncmp(buf, "HTTP/1.", 7) == 0, gp_err_set(GP_ERR_IO,
	    "%s:%s: not an HTTP response", u->host, u->port));
	*eoh = '\0';
	ENSURE((p = strchr(buf, ' ')) != NULL &&
	    sscanf(p + 1, "%3u", &out->status) == 1, gp_err_set(GP_ERR_IO,
	    "%s:%s: bad status line", u->host, u->port));
	for (line = strstr(buf, "\r\n"); line != NULL; line = next) {
		line += 2;
		next = strstr(line, "\r\n");
		if (next != NULL)
			*next = '\0';
		if (strncasecmp(line, "Content-Type:", 13) == 0)
			snprintf(out->content_type, sizeof(out->content_type),
			    "%s", line + 13 + strspn(line + 13, " \t"));
		else if (strncasecmp(line, "Content-Length:", 15) == 0)
			clen = strtol(line + 15, NULL, 10);
		else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0)
			ENSURE(0, gp_err_set(GP_ERR_UNSUPPORTED, "%s:%s: "
			    "chunked responses are not read", u->host,
			    u->port));
	}
	blen = len - (size_t)(eoh + 4 - buf);
	ENSURE(clen < 0 || (size_t)clen == blen, gp_err_set(GP_ERR_IO,
	    "%s:%s: the response was cut off (%zu of %ld bytes)", u->host,
	    u->port, blen, clen));
	ENSURE((out->body = malloc(blen + 1)) != NULL, GP_ERR_NOMEM);
	memcpy(out->body, eoh + 4, blen);
	out->body[blen] = '\0';
	out->body_len = blen;
	r = 0;
out:
	return r;
}

int
est_request(const struct est_req *rq, struct est_resp *out)
{
	struct est_url u;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	char *head = NULL, *buf = NULL;
	size_t used = 0, cap = EST_MAX_BODY + EST_HEAD_MAX;
	int fd = -1, n, i, timeout, r = GP_ERR_INTERNAL;

	memset(out, 0, sizeof(*out));
	ENSURE(rq != NULL && rq->method != NULL && rq->cafile != NULL,
	    gp_err_set(GP_ERR_INVALID, "est_request: method and trust anchors "
	    "are required"));
	GUARD(est_url_parse(rq->url, &u));
	timeout = rq->timeout_s > 0 ? rq->timeout_s : 60;
	ERR_clear_error();
	ENSURE((ctx = SSL_CTX_new(TLS_client_method())) != NULL, GP_ERR_NOMEM);
	ENSURE(SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1,
	    GP_ERR_CRYPTO);
	ENSURE(SSL_CTX_load_verify_locations(ctx, rq->cafile, NULL) == 1,
	    gp_err_ssl(GP_ERR_INVALID, "--cacert %s: no PEM certificate",
	    rq->cafile));
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (rq->client_cert != NULL) {
		ENSURE(SSL_CTX_use_certificate(ctx, rq->client_cert) == 1 &&
		    SSL_CTX_use_PrivateKey(ctx, rq->client_key) == 1,
		    gp_err_ssl(GP_ERR_CRYPTO, "the client certificate and "
		    "key"));
		for (i = 0; rq->client_chain != NULL &&
		    i < sk_X509_num(rq->client_chain); i++)
			ENSURE(SSL_CTX_add1_chain_cert(ctx,
			    sk_X509_value(rq->client_chain, i)) == 1,
			    gp_err_ssl(GP_ERR_CRYPTO, "the client chain"));
	}
	GUARD(est_connect(&u, timeout, &fd));
	ENSURE((ssl = SSL_new(ctx)) != NULL && SSL_set_fd(ssl, fd) == 1,
	    GP_ERR_NOMEM);
	/* RFC 7030 3.6.1 (RFC 6125): the server's identity is the URL's. */
	if (u.is_ip || strchr(u.host, ':') != NULL) {
		ENSURE(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		    u.host) == 1, gp_err_set(GP_ERR_INVALID, "URL: bad IP "
		    "address %s", u.host));
	} else {
		ENSURE(SSL_set_tlsext_host_name(ssl, u.host) == 1 &&
		    SSL_set1_host(ssl, u.host) == 1, GP_ERR_NOMEM);
	}
	if (SSL_connect(ssl) != 1) {
		long vr = SSL_get_verify_result(ssl);
		r = gp_err_ssl(GP_ERR_IO, "%s:%s: TLS handshake failed%s%s",
		    u.host, u.port, vr != X509_V_OK ? ": server certificate: " :
		    "", vr != X509_V_OK ? X509_verify_cert_error_string(vr) :
		    "");
		goto out;
	}
	GUARD(est_head(rq, &u, &head));
	ENSURE(SSL_write(ssl, head, (int)strlen(head)) == (int)strlen(head) &&
	    (rq->body_len == 0 || SSL_write(ssl, rq->body,
	    (int)rq->body_len) == (int)rq->body_len), gp_err_ssl(GP_ERR_IO,
	    "%s:%s: sending the request", u.host, u.port));
	ENSURE((buf = malloc(cap + 1)) != NULL, GP_ERR_NOMEM);
	for (;;) {
		n = SSL_read(ssl, buf + used, (int)(cap - used));
		if (n <= 0)
			break;
		used += (size_t)n;
		ENSURE(used < cap, gp_err_set(GP_ERR_TOO_LARGE, "%s:%s: "
		    "response over %zu bytes", u.host, u.port, cap));
	}
	ERR_clear_error();
	buf[used] = '\0';
	GUARD(est_parse_resp(&u, buf, used, out));
	r = 0;
out:
	if (r != 0)
		est_resp_clear(out);
	if (head != NULL)
		OPENSSL_clear_free(head, strlen(head));
	free(buf);
	if (ssl != NULL) {
		(void)SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	return r;
}
