/*
 * http.c: the small HTTP/1.1 client govpki needs as a relying party: a
 * POST for RFC 3161 (`govpki tsa stamp`, B-T signatures) and RFC 6960 OCSP
 * requests, a GET for RFC 5280 CRL distribution points. One request per
 * connection over a plain socket (Connection: close), one deadline for the
 * whole exchange, a capped reply. Nothing else: no redirects (a 3xx is an
 * error), no TLS, no chunked replies.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/core.h"

#define HTTP_MAX_HEAD 8192          /* status line and headers */
#define HTTP_DEFAULT_TIMEOUT_MS 30000

static int
http_url_split(const char *url, char **out_host, char **out_port,
    char **out_path)
{
	const char *h, *slash, *colon;

	*out_host = *out_port = *out_path = NULL;
	if (url == NULL || strncmp(url, "http://", 7) != 0)
		return gp_err_set(GP_ERR_INVALID, "url \"%s\" must start with "
		    "http:// (no TLS: RFC 3161 3.4, RFC 5280 4.2.1.13)",
		    url ? url : "");
	h = url + 7;
	slash = strchr(h, '/');
	if (slash == NULL)
		slash = h + strlen(h);
	colon = memchr(h, ':', (size_t)(slash - h));
	if (colon == h || slash == h)
		return gp_err_set(GP_ERR_INVALID, "url \"%s\": no host", url);
	if (strpbrk(url, " \r\n\t") != NULL)
		return gp_err_set(GP_ERR_INVALID, "url \"%s\": white space or "
		    "line breaks", url);
	*out_host = strndup(h, (size_t)((colon ? colon : slash) - h));
	*out_port = colon ? strndup(colon + 1, (size_t)(slash - colon - 1)) :
	    strdup("80");
	*out_path = strdup(*slash ? slash : "/");
	if (*out_host == NULL || *out_port == NULL || *out_path == NULL)
		return GP_ERR_NOMEM;
	return 0;
}

/* Sets |opt| (SO_RCVTIMEO or SO_SNDTIMEO) of |fd| to what is left until
 * |deadline| (gp_mono_ms); -1 when nothing is left. */
static int
http_timeout_set(int fd, int opt, int64_t deadline)
{
	int64_t left = deadline - gp_mono_ms();
	struct timeval tv;

	if (left <= 0)
		return -1;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	return setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}

static int
http_write_all(int fd, const void *buf, size_t len, int64_t deadline)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		if (http_timeout_set(fd, SO_SNDTIMEO, deadline) != 0)
			return -1;
		/* MSG_NOSIGNAL: a peer that closed early is an error, not a
		 * SIGPIPE that kills the CLI. */
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Connects to |host|:|port| before |deadline|; the socket or -1 with the
 * error detail set. */
static int
http_connect(const char *url, const char *host, const char *port,
    int64_t deadline)
{
	struct addrinfo hints, *ai = NULL, *a;
	int fd = -1, rc, err = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		(void)gp_err_set(GP_ERR_IO, "%s: %s", url, gai_strerror(rc));
		return -1;
	}
	for (a = ai; a != NULL; a = a->ai_next) {
		if ((fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
		    a->ai_protocol)) < 0)
			continue;
		/* Linux bounds connect() by the send timeout. */
		if (http_timeout_set(fd, SO_SNDTIMEO, deadline) == 0 &&
		    connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		(void)gp_err_set(GP_ERR_IO, "%s: cannot connect: %s", url,
		    err == EINPROGRESS || err == EAGAIN || err == 0 ?
		    "timed out" : strerror(err));
	return fd;
}

/* Reads until the peer closes, at most |cap| bytes, into a new buffer
 * (NUL-terminated, freed with free()). */
static int
http_read_all(const char *url, int fd, size_t cap, int64_t deadline,
    int64_t timeout_ms, uint8_t **out, size_t *out_len)
{
	uint8_t *buf = NULL, *nb;
	size_t have = 0, size = 0;
	ssize_t n;
	int r = GP_ERR_INTERNAL;

	for (;;) {
		if (have == size) {
			ENSURE(size < cap + 1, gp_err_set(GP_ERR_TOO_LARGE,
			    "%s: reply over %zu bytes", url, cap));
			size = size == 0 ? 16384 : size * 2;
			if (size > cap + 1)
				size = cap + 1;
			ENSURE((nb = realloc(buf, size + 1)) != NULL,
			    GP_ERR_NOMEM);
			buf = nb;
		}
		ENSURE(http_timeout_set(fd, SO_RCVTIMEO, deadline) == 0,
		    gp_err_set(GP_ERR_IO, "%s: no complete reply within %lld "
		    "ms", url, (long long)timeout_ms));
		n = read(fd, buf + have, size - have);
		if (n == 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		ENSURE(n > 0 || errno == EAGAIN || errno == EWOULDBLOCK,
		    gp_err_set(GP_ERR_IO, "%s: reading: %s", url,
		    strerror(errno)));
		ENSURE(n > 0, gp_err_set(GP_ERR_IO, "%s: no complete reply "
		    "within %lld ms", url, (long long)timeout_ms));
		have += (size_t)n;
	}
	ENSURE(have <= cap, gp_err_set(GP_ERR_TOO_LARGE, "%s: reply over %zu "
	    "bytes", url, cap));
	buf[have] = '\0';
	*out = buf;
	buf = NULL; /* transferred */
	*out_len = have;
	r = 0;
out:
	free(buf);
	return r;
}

/* Streams |len| bytes of the file |bfd| to |fd|. */
static int
http_send_file(const struct gp_http_req *rq, int fd, int bfd, size_t len,
    int64_t deadline)
{
	uint8_t *chunk = malloc(65536);
	size_t done = 0;
	ssize_t n;
	int r = GP_ERR_INTERNAL;

	ENSURE(chunk != NULL, GP_ERR_NOMEM);
	while (done < len) {
		n = read(bfd, chunk, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		ENSURE(n > 0, gp_err_set(GP_ERR_IO, "%s: %s", rq->body_path,
		    n < 0 ? strerror(errno) : "changed while it was sent"));
		ENSURE(http_write_all(fd, chunk, (size_t)n, deadline) == 0,
		    gp_err_set(GP_ERR_IO, "%s: sending: %s", rq->url,
		    errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" :
		    strerror(errno)));
		done += (size_t)n;
	}
	r = 0;
out:
	free(chunk);
	return r;
}

int
gp_http_request(const struct gp_http_req *rq, uint8_t **out,
    size_t *out_len)
{
	int r = GP_ERR_INTERNAL, fd = -1, bfd = -1, rc, status = 0, post;
	char *host = NULL, *port = NULL, *path = NULL, head[1024], *cl;
	uint8_t *buf = NULL, *end;
	size_t have = 0, hl, blen, want, body_len;
	int64_t timeout_ms, deadline;

	*out = NULL;
	*out_len = 0;
	post = strcmp(rq->method, "POST") == 0 ||
	    strcmp(rq->method, "DELETE") == 0;
	ENSURE(post || strcmp(rq->method, "GET") == 0,
	    gp_err_set(GP_ERR_INVALID, "http: method %s", rq->method));
	body_len = rq->body_len;
	if (post && rq->body_path != NULL) {
		struct stat sb;

		bfd = open(rq->body_path, O_RDONLY | O_CLOEXEC);
		ENSURE(bfd >= 0 && fstat(bfd, &sb) == 0 && S_ISREG(sb.st_mode),
		    gp_err_set(GP_ERR_IO, "%s: %s", rq->body_path, bfd < 0 ?
		    strerror(errno) : "not a file"));
		body_len = (size_t)sb.st_size;
	}
	timeout_ms = rq->timeout_ms > 0 ? rq->timeout_ms :
	    HTTP_DEFAULT_TIMEOUT_MS;
	deadline = gp_mono_ms() + timeout_ms;
	GUARD(http_url_split(rq->url, &host, &port, &path));
	ENSURE((fd = http_connect(rq->url, host, port, deadline)) >= 0,
	    GP_ERR_IO);
	if (post)
		rc = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\n"
		    "Host: %s:%s\r\nContent-Type: %s\r\n%s%s%s"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		    rq->method, path, host, port, rq->content_type, rq->accept ?
		    "Accept: " : "", rq->accept ? rq->accept : "", rq->accept ?
		    "\r\n" : "", body_len);
	else
		rc = snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\n"
		    "Host: %s:%s\r\n%s%s%sConnection: close\r\n\r\n", path,
		    host, port, rq->accept ? "Accept: " : "", rq->accept ?
		    rq->accept : "", rq->accept ? "\r\n" : "");
	ENSURE(rc > 0 && (size_t)rc < sizeof(head),
	    gp_err_set(GP_ERR_INVALID, "%s: url too long", rq->url));
	ENSURE(http_write_all(fd, head, (size_t)rc, deadline) == 0 &&
	    (!post || bfd >= 0 || http_write_all(fd, rq->body, rq->body_len,
	    deadline) == 0), gp_err_set(GP_ERR_IO, "%s: sending: %s", rq->url,
	    errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" :
	    strerror(errno)));
	if (bfd >= 0)
		GUARD(http_send_file(rq, fd, bfd, body_len, deadline));
	GUARD(http_read_all(rq->url, fd, rq->max + HTTP_MAX_HEAD, deadline,
	    timeout_ms, &buf, &have));
	ENSURE((end = memmem(buf, have, "\r\n\r\n", 4)) != NULL &&
	    memchr(buf, '\0', (size_t)(end - buf)) == NULL &&
	    sscanf((char *)buf, "HTTP/1.%*d %d", &status) == 1,
	    gp_err_set(GP_ERR_IO, "%s: not an HTTP reply", rq->url));
	hl = (size_t)(end + 4 - buf);
	blen = have - hl;
	*end = '\0';
	/* No redirects: a CRL or OCSP URL names the object itself. */
	ENSURE(status == 200 || rq->out_status != NULL, gp_err_set(GP_ERR_IO,
	    "%s: HTTP status %d", rq->url, status));
	if (rq->out_status != NULL)
		*rq->out_status = status;
	if ((cl = strcasestr((char *)buf, "\r\nContent-Length:")) != NULL) {
		want = strtoul(cl + 17, NULL, 10);
		ENSURE(want <= blen, gp_err_set(GP_ERR_IO, "%s: the reply is "
		    "cut short (%zu of %zu bytes)", rq->url, blen, want));
		blen = want;
	}
	if (rq->accept != NULL && status == 200) {
		char ct[160];

		snprintf(ct, sizeof(ct), "\r\nContent-Type: %s", rq->accept);
		ENSURE(strcasestr((char *)buf, ct) != NULL,
		    gp_err_set(GP_ERR_IO, "%s: the reply is not %s", rq->url,
		    rq->accept));
	}
	ENSURE(blen <= rq->max, gp_err_set(GP_ERR_TOO_LARGE, "%s: reply over "
	    "%zu bytes", rq->url, rq->max));
	ENSURE((*out = malloc(blen + 1)) != NULL, GP_ERR_NOMEM);
	memcpy(*out, buf + hl, blen);
	(*out)[blen] = '\0';
	*out_len = blen;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (bfd >= 0)
		close(bfd);
	free(buf);
	free(host);
	free(port);
	free(path);
	return r;
}

int
gp_http_post(const char *url, const char *content_type, const char *accept,
    const uint8_t *body, size_t body_len, size_t max, int timeout_s,
    uint8_t **out, size_t *out_len)
{
	struct gp_http_req rq;

	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.url = url;
	rq.content_type = content_type;
	rq.accept = accept;
	rq.body = body;
	rq.body_len = body_len;
	rq.max = max;
	rq.timeout_ms = (int64_t)timeout_s * 1000;
	return gp_http_request(&rq, out, out_len);
}

int
gp_http_get(const char *url, const char *accept, size_t max,
    int64_t timeout_ms, uint8_t **out, size_t *out_len)
{
	struct gp_http_req rq;

	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = url;
	rq.accept = accept;
	rq.max = max;
	rq.timeout_ms = timeout_ms;
	return gp_http_request(&rq, out, out_len);
}
