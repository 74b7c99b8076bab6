/*
 * sig_digest.c: streaming digests of a file, several algorithms in one
 * pass, with a fixed 256 KiB buffer: memory does not grow with the file, so
 * a 2 GB document is signed or verified in constant space. The reads are
 * advised sequential so the kernel reads ahead. For verification, the
 * document's digests under every algorithm its SignerInfos use (struct
 * sig_doc), from the file, bytes, the attached content or a given digest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "signer/internal.h"

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

const EVP_MD *
sig_si_md(CMS_SignerInfo *si)
{
	X509_ALGOR *dig = NULL;

	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, NULL);
	if (dig == NULL)
		return NULL;
	return EVP_get_digestbyobj(dig->algorithm);
}

const uint8_t *
sig_doc_get(const struct sig_doc *d, const EVP_MD *md)
{
	size_t i;

	for (i = 0; md != NULL && i < d->n; i++) {
		if (EVP_MD_get_type(d->md[i]) == EVP_MD_get_type(md))
			return d->val[i];
	}
	return NULL;
}

int
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
