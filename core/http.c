/*
 * http.c: the small HTTP/1.1 client govpki needs as an RFC 3161 client
 * (`govpki tsa stamp`, B-T signatures): one POST over a plain socket,
 * Connection: close, send and receive timeouts, a capped reply. Nothing
 * else: no redirects, no TLS, no chunked replies.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/core.h"

static int
http_url_split(const char *url, char **out_host, char **out_port,
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
http_write_all(int fd, const void *buf, size_t len)
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
gp_http_post(const char *url, const char *content_type, const char *accept,
    const uint8_t *body, size_t body_len, size_t max, int timeout_s,
    uint8_t **out, size_t *out_len)
{
	int r = GP_ERR_INTERNAL, fd = -1, rc, status = 0;
	char *host = NULL, *port = NULL, *path = NULL, head[1024], *end, *cl;
	struct addrinfo hints, *ai = NULL, *a;
	struct timeval tv = {timeout_s > 0 ? timeout_s : 30, 0};
	uint8_t *buf = NULL;
	size_t have = 0, hl, blen;
	ssize_t n;

	*out = NULL;
	*out_len = 0;
	GUARD(http_url_split(url, &host, &port, &path));
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
	    "Content-Type: %s\r\n%s%s%sContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", path, host, port, content_type,
	    accept ? "Accept: " : "", accept ? accept : "", accept ? "\r\n" :
	    "", body_len);
	ENSURE(rc > 0 && (size_t)rc < sizeof(head),
	    gp_err_set(GP_ERR_INVALID, "url: too long"));
	ENSURE(http_write_all(fd, head, (size_t)rc) == 0 &&
	    http_write_all(fd, body, body_len) == 0,
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
	if (accept != NULL) {
		char want[160];
		snprintf(want, sizeof(want), "\r\nContent-Type: %s", accept);
		ENSURE(strcasestr((char *)buf, want) != NULL,
		    gp_err_set(GP_ERR_IO, "%s: the reply is not %s", url,
		    accept));
	}
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
