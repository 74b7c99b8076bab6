/*
 * sig_digest.c: streaming digests of a file, several algorithms in one
 * pass, with a fixed 256 KiB buffer: memory does not grow with the file, so
 * a 2 GB document is signed or verified in constant space. The reads are
 * advised sequential so the kernel reads ahead.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "signer/signer.h"

#define SIG_DIGEST_BUF (256 * 1024)

int
sig_digest_file(const char *path, const EVP_MD *const *mds, size_t n,
    uint8_t out[][EVP_MAX_MD_SIZE])
{
	EVP_MD_CTX *ctx[SIG_MAX_MDS] = {NULL};
	uint8_t *buf = NULL;
	ssize_t got;
	size_t i;
	int fd = -1, r = GP_ERR_INTERNAL;

	ENSURE(path != NULL && n > 0 && n <= SIG_MAX_MDS,
	    gp_err_set(GP_ERR_INVALID, "digest: no file or too many "
	    "algorithms"));
	for (i = 0; i < n; i++) {
		ENSURE((ctx[i] = EVP_MD_CTX_new()) != NULL, GP_ERR_NOMEM);
		ENSURE(EVP_DigestInit_ex(ctx[i], mds[i], NULL),
		    gp_err_ssl(GP_ERR_CRYPTO, "digest init"));
	}
	ENSURE((buf = malloc(SIG_DIGEST_BUF)) != NULL, GP_ERR_NOMEM);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		r = gp_err_set(errno == ENOENT ? GP_ERR_NOT_FOUND : GP_ERR_IO,
		    "%s: %s", path, strerror(errno));
		goto out;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		got = read(fd, buf, SIG_DIGEST_BUF);
		if (got < 0 && errno == EINTR)
			continue;
		ENSURE(got >= 0, gp_err_set(GP_ERR_IO, "%s: reading: %s", path,
		    strerror(errno)));
		if (got == 0)
			break;
		for (i = 0; i < n; i++)
			ENSURE(EVP_DigestUpdate(ctx[i], buf, (size_t)got),
			    gp_err_ssl(GP_ERR_CRYPTO, "digest"));
	}
	for (i = 0; i < n; i++)
		ENSURE(EVP_DigestFinal_ex(ctx[i], out[i], NULL),
		    gp_err_ssl(GP_ERR_CRYPTO, "digest"));
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	for (i = 0; i < SIG_MAX_MDS; i++)
		EVP_MD_CTX_free(ctx[i]);
	return r;
}
