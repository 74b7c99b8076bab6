/*
 * sig_path.c: the path from a certificate (a signer's, a TSA's) to the
 * trust anchors at a given time: the time of signing proven by a
 * time-stamp, the token's genTime, or the present. RFC 5280 6.1 path
 * validation by OpenSSL's verifier with that time; the chain it built is
 * what status checking then walks, and the only place URLs to fetch may
 * come from (certificates a trusted CA signed).
 */
#include <openssl/err.h>

#include "signer/internal.h"

int
sig_path_check(const struct sig_trust *tr, X509 *x,
    STACK_OF(X509) *untrusted, int64_t at, STACK_OF(X509) **out_chain)
{
	X509_STORE *xs = NULL;
	X509_STORE_CTX *ctx = NULL;
	int i, err, r = GP_ERR_INTERNAL;

	*out_chain = NULL;
	ENSURE(tr != NULL && tr->anchors != NULL && x != NULL,
	    gp_err_set(GP_ERR_INVALID, "path: no certificate or anchors"));
	ENSURE((xs = X509_STORE_new()) != NULL && (ctx =
	    X509_STORE_CTX_new()) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < sk_X509_num(tr->anchors); i++)
		(void)X509_STORE_add_cert(xs, sk_X509_value(tr->anchors, i));
	ENSURE(X509_STORE_CTX_init(ctx, xs, x, untrusted), GP_ERR_NOMEM);
	X509_STORE_CTX_set_time(ctx, 0, (time_t)at);
	if (X509_verify_cert(ctx) != 1) {
		err = X509_STORE_CTX_get_error(ctx);
		r = gp_err_set(GP_ERR_DENIED, "%s (depth %d)",
		    X509_verify_cert_error_string(err),
		    X509_STORE_CTX_get_error_depth(ctx));
		goto out;
	}
	ENSURE((*out_chain = X509_STORE_CTX_get1_chain(ctx)) != NULL,
	    GP_ERR_NOMEM);
	r = 0;
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(xs);
	return r;
}
