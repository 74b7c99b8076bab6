/*
 * util.c: small helpers every module needs: clocks, whole-file reads with a
 * size cap, atomic file writes (temporary file, fsync, rename), paths, hex,
 * the CSPRNG, masking of personal ID numbers, wiping secrets, and the
 * names of RFC 5280 CRL reasons.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/core.h"

int64_t
gp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
gp_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
gp_file_read(const char *path, size_t max_len, uint8_t **out_buf,
    size_t *out_len)
{
	int r = GP_ERR_IO, fd = -1;
	struct stat sb;
	uint8_t *buf = NULL;
	size_t got = 0;
	ssize_t n;

	*out_buf = NULL;
	if (out_len != NULL)
		*out_len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		r = gp_err_set(errno == ENOENT ? GP_ERR_NOT_FOUND : GP_ERR_IO,
		    "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		r = gp_err_set(GP_ERR_IO, "%s: not a regular file", path);
		goto out;
	}
	if ((size_t)sb.st_size > max_len) {
		r = gp_err_set(GP_ERR_TOO_LARGE,
		    "%s: %lld bytes, more than the %zu allowed", path,
		    (long long)sb.st_size, max_len);
		goto out;
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		r = GP_ERR_NOMEM;
		goto out;
	}
	while (got < (size_t)sb.st_size) {
		n = read(fd, buf + got, (size_t)sb.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = gp_err_set(GP_ERR_IO, "%s: short read", path);
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out_buf = buf;
	buf = NULL; /* transferred */
	if (out_len != NULL)
		*out_len = got;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return r;
}

int
gp_file_write(const char *path, const void *buf, size_t len,
    unsigned int mode, int exclusive)
{
	int r = GP_ERR_IO, fd = -1;
	char *tmp = NULL;
	const uint8_t *p = buf;
	size_t left = len;
	ssize_t n;
	struct stat sb;

	if (exclusive && lstat(path, &sb) == 0)
		return gp_err_set(GP_ERR_EXISTS, "%s exists; not overwriting",
		    path);
	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
		return GP_ERR_NOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		r = gp_err_set(GP_ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fchmod(fd, mode) != 0) {
		r = gp_err_set(GP_ERR_IO, "%s: chmod: %s", path,
		    strerror(errno));
		goto out;
	}
	while (left > 0) {
		n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = gp_err_set(GP_ERR_IO, "%s: %s", path,
			    strerror(errno));
			goto out;
		}
		p += n;
		left -= (size_t)n;
	}
	if (fsync(fd) != 0) {
		r = gp_err_set(GP_ERR_IO, "%s: fsync: %s", path,
		    strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	if (exclusive) {
		/* link() fails if |path| appeared meanwhile: never replace. */
		if (link(tmp, path) != 0) {
			r = gp_err_set(errno == EEXIST ? GP_ERR_EXISTS :
			    GP_ERR_IO, "%s: %s", path, strerror(errno));
			goto out;
		}
		unlink(tmp);
	} else if (rename(tmp, path) != 0) {
		r = gp_err_set(GP_ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	return r;
}

int
gp_mkdir(const char *path, unsigned int mode)
{
	struct stat sb;

	if (mkdir(path, mode) == 0)
		return 0;
	if (errno == EEXIST && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		return 0;
	return gp_err_set(GP_ERR_IO, "%s: %s", path, strerror(errno));
}

char *
gp_path_join(const char *dir, const char *name)
{
	char *out = NULL;

	if (name[0] == '/')
		return strdup(name);
	if (asprintf(&out, "%s/%s", dir, name) < 0)
		return NULL;
	return out;
}

char *
gp_hex(const uint8_t *buf, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *out;
	size_t i;

	if ((out = malloc(len * 2 + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		out[2 * i] = digits[buf[i] >> 4];
		out[2 * i + 1] = digits[buf[i] & 0xf];
	}
	out[len * 2] = '\0';
	return out;
}

int
gp_random(uint8_t *buf, size_t len)
{
	if (len > INT32_MAX || RAND_bytes(buf, (int)len) != 1)
		return gp_err_ssl(GP_ERR_CRYPTO, "random generator");
	return 0;
}

char *
gp_mask_id(const char *id)
{
	size_t n, i;
	char *out;

	if (id == NULL)
		return NULL;
	n = strlen(id);
	if ((out = strdup(id)) == NULL)
		return NULL;
	/* Keep region and check characters only: 6 + 2 of 18. */
	for (i = 0; i < n; i++) {
		if (n <= 8 || (i >= 6 && i + 2 < n))
			out[i] = '*';
	}
	return out;
}

void
gp_secret_free(char *secret)
{
	if (secret == NULL)
		return;
	OPENSSL_cleanse(secret, strlen(secret));
	free(secret);
}

/* RFC 5280 5.3.1: CRLReason ::= ENUMERATED { unspecified (0),
 * keyCompromise (1), cACompromise (2), affiliationChanged (3),
 * superseded (4), cessationOfOperation (5), certificateHold (6),
 * -- value 7 is not used, removeFromCRL (8), privilegeWithdrawn (9),
 * aACompromise (10) } */
static const char *const gp_crl_reasons[] = {"unspecified", "keyCompromise",
    "cACompromise", "affiliationChanged", "superseded",
    "cessationOfOperation", "certificateHold", NULL, "removeFromCRL",
    "privilegeWithdrawn", "aACompromise"};

const char *
gp_crl_reason_name(int code)
{
	if (code < 0 || (size_t)code >= sizeof(gp_crl_reasons) /
	    sizeof(gp_crl_reasons[0]))
		return NULL;
	return gp_crl_reasons[code];
}

int
gp_crl_reason_code(const char *name)
{
	size_t i;

	if (name == NULL)
		return -1;
	for (i = 0; i < sizeof(gp_crl_reasons) / sizeof(gp_crl_reasons[0]);
	    i++)
		if (gp_crl_reasons[i] != NULL &&
		    strcmp(gp_crl_reasons[i], name) == 0)
			return (int)i;
	return -1;
}
