/*
 * est_codec.c: the encodings of EST bodies (est.h): strict base64 with
 * line breaks, certs-only PKCS#7, PKCS#10 DER as PEM, and multipart/mixed.
 * Everything parsed here comes from the other side of the connection, so
 * every length is capped and every byte accounted for.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>

#include "est/est.h"

#define EST_B64_LINE 64

int
est_b64(const uint8_t *in, size_t len, char **out, size_t *out_len)
{
	size_t enc = 4 * ((len + 2) / 3), cap, i, o = 0;
	char *raw = NULL, *s = NULL;
	int r = GP_ERR_INTERNAL;

	*out = NULL;
	*out_len = 0;
	ENSURE(len <= EST_MAX_BODY, GP_ERR_TOO_LARGE);
	cap = enc + enc / EST_B64_LINE + 2;
	ENSURE((raw = malloc(enc + 1)) != NULL && (s = malloc(cap)) != NULL,
	    GP_ERR_NOMEM);
	ENSURE(EVP_EncodeBlock((unsigned char *)raw, in, (int)len) == (int)enc,
	    GP_ERR_CRYPTO);
	for (i = 0; i < enc; i++) {
		s[o++] = raw[i];
		if ((i + 1) % EST_B64_LINE == 0 || i + 1 == enc)
			s[o++] = '\n';
	}
	s[o] = '\0';
	*out = s;
	*out_len = o;
	s = NULL; /* transferred */
	r = 0;
out:
	free(raw);
	free(s);
	return r;
}

static int
est_b64_char(int c)
{
	return isalnum(c) || c == '+' || c == '/';
}

int
est_unb64(const char *what, const uint8_t *in, size_t len, size_t max,
    uint8_t **out, size_t *out_len)
{
	char *clean = NULL;
	uint8_t *dec = NULL;
	size_t n = 0, i, pad = 0;
	int d, r = GP_ERR_INTERNAL;

	*out = NULL;
	*out_len = 0;
	ENSURE(in != NULL && len > 0, gp_err_set(GP_ERR_INVALID, "%s: empty "
	    "body (base64 DER expected)", what));
	/* Cap before copying; the decoded size is checked below. */
	ENSURE(len <= 2 * (size_t)EST_MAX_BODY, gp_err_set(GP_ERR_TOO_LARGE,
	    "%s: over %d bytes", what, 2 * EST_MAX_BODY));
	ENSURE((clean = malloc(len + 1)) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < len; i++) {
		int c = in[i];

		if (c == '\r' || c == '\n' || c == ' ' || c == '\t')
			continue;
		/* RFC 4648 3.3: padding only at the end. */
		if (c == '=') {
			pad++;
		} else {
			ENSURE(pad == 0 && est_b64_char(c), gp_err_set(
			    GP_ERR_INVALID, "%s: not base64 (byte %zu)", what,
			    i + 1));
		}
		ENSURE(pad <= 2, gp_err_set(GP_ERR_INVALID, "%s: not base64 "
		    "(padding)", what));
		clean[n++] = (char)c;
	}
	ENSURE(n > 0 && n % 4 == 0, gp_err_set(GP_ERR_INVALID, "%s: not "
	    "base64 (length %zu is not a multiple of 4)", what, n));
	ENSURE(n / 4 * 3 - pad <= max, gp_err_set(GP_ERR_TOO_LARGE, "%s: "
	    "over %zu bytes", what, max));
	ENSURE((dec = malloc(n / 4 * 3 + 1)) != NULL, GP_ERR_NOMEM);
	d = EVP_DecodeBlock(dec, (const unsigned char *)clean, (int)n);
	ENSURE(d >= 0 && (size_t)d == n / 4 * 3, gp_err_set(GP_ERR_INVALID,
	    "%s: not base64", what));
	*out = dec;
	*out_len = (size_t)d - pad;
	dec = NULL; /* transferred */
	r = 0;
out:
	free(clean);
	free(dec);
	return r;
}

int
est_certs_only(STACK_OF(X509) *certs, uint8_t **out, size_t *out_len)
{
	PKCS7 *p7 = NULL;
	unsigned char *der = NULL;
	int len, i, r = GP_ERR_INTERNAL;

	*out = NULL;
	*out_len = 0;
	/* RFC 7030 4.1.3 / RFC 5652 5: a SignedData without signers, its
	 * encapsulated content absent; what `openssl crl2pkcs7 -nocrl`
	 * makes. */
	ENSURE((p7 = PKCS7_new()) != NULL &&
	    PKCS7_set_type(p7, NID_pkcs7_signed) == 1 &&
	    PKCS7_content_new(p7, NID_pkcs7_data) == 1,
	    gp_err_ssl(GP_ERR_CRYPTO, "certs-only PKCS#7"));
	for (i = 0; i < sk_X509_num(certs); i++)
		ENSURE(PKCS7_add_certificate(p7, sk_X509_value(certs, i)) == 1,
		    gp_err_ssl(GP_ERR_CRYPTO, "certs-only PKCS#7"));
	ENSURE((len = i2d_PKCS7(p7, &der)) > 0, gp_err_ssl(GP_ERR_CRYPTO,
	    "certs-only PKCS#7"));
	*out = der;
	*out_len = (size_t)len;
	r = 0;
out:
	PKCS7_free(p7);
	return r;
}

int
est_certs_parse(const char *what, const uint8_t *der, size_t len,
    STACK_OF(X509) **out)
{
	const unsigned char *p = der;
	PKCS7 *p7 = NULL;
	STACK_OF(X509) *in, *sk = NULL;
	int i, r = GP_ERR_INTERNAL;

	*out = NULL;
	ENSURE(der != NULL && len > 0 && len <= EST_MAX_BODY,
	    gp_err_set(GP_ERR_INVALID, "%s: empty or too large", what));
	p7 = d2i_PKCS7(NULL, &p, (long)len);
	ENSURE(p7 != NULL && p == der + len, (ERR_clear_error(),
	    gp_err_set(GP_ERR_INVALID, "%s: not one DER PKCS#7", what)));
	ENSURE(PKCS7_type_is_signed(p7) && p7->d.sign != NULL &&
	    (in = p7->d.sign->cert) != NULL && sk_X509_num(in) > 0,
	    gp_err_set(GP_ERR_INVALID, "%s: not a certs-only SignedData with "
	    "certificates", what));
	ENSURE((sk = sk_X509_new_null()) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < sk_X509_num(in); i++) {
		X509 *x = sk_X509_value(in, i);
		ENSURE(X509_up_ref(x) == 1, GP_ERR_CRYPTO);
		if (sk_X509_push(sk, x) <= 0) {
			X509_free(x);
			r = GP_ERR_NOMEM;
			goto out;
		}
	}
	*out = sk;
	sk = NULL; /* transferred */
	r = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	PKCS7_free(p7);
	return r;
}

int
est_csr_pem(const uint8_t *der, size_t len, char **out, size_t *out_len)
{
	BIO *mem = NULL;
	char *data;
	long n;
	int r = GP_ERR_INTERNAL;

	*out = NULL;
	*out_len = 0;
	ENSURE((mem = BIO_new(BIO_s_mem())) != NULL, GP_ERR_NOMEM);
	ENSURE(PEM_write_bio(mem, PEM_STRING_X509_REQ, "", der, (long)len) > 0 &&
	    (n = BIO_get_mem_data(mem, &data)) > 0, gp_err_ssl(GP_ERR_CRYPTO,
	    "PEM"));
	ENSURE((*out = strndup(data, (size_t)n)) != NULL, GP_ERR_NOMEM);
	*out_len = (size_t)n;
	r = 0;
out:
	BIO_free(mem);
	return r;
}

void
est_parts_free(struct est_part *parts, size_t n)
{
	size_t i;

	if (parts == NULL)
		return;
	for (i = 0; i < n; i++)
		free(parts[i].der);
	free(parts);
}

int
est_multipart_build(const struct est_part *parts, size_t n,
    char boundary[48], char **out, size_t *out_len)
{
	uint8_t rnd[16];
	char *b64 = NULL, *buf = NULL, *nb;
	size_t b64_len = 0, used = 0, cap = 0, need, i;
	int w, r = GP_ERR_INTERNAL;

	*out = NULL;
	*out_len = 0;
	GUARD(gp_random(rnd, sizeof(rnd)));
	w = snprintf(boundary, 48, "est-");
	for (i = 0; i < sizeof(rnd); i++)
		w += snprintf(boundary + w, 48 - (size_t)w, "%02x", rnd[i]);
	for (i = 0; i < n; i++) {
		GUARD(est_b64(parts[i].der, parts[i].len, &b64, &b64_len));
		need = used + b64_len + strlen(parts[i].content_type) + 200;
		if (need > cap) {
			cap = need * 2;
			ENSURE((nb = realloc(buf, cap)) != NULL, GP_ERR_NOMEM);
			buf = nb;
		}
		/* RFC 2046 5.1.1: CRLF before each delimiter line; the
		 * base64 part bodies are what RFC 7030 4.4.2 names. */
		used += (size_t)snprintf(buf + used, cap - used, "--%s\r\n"
		    "Content-Type: %s\r\nContent-Transfer-Encoding: base64\r\n"
		    "\r\n%s\r\n", boundary, parts[i].content_type, b64);
		free(b64);
		b64 = NULL;
	}
	if (used + 64 > cap) {
		cap = used + 64;
		ENSURE((nb = realloc(buf, cap)) != NULL, GP_ERR_NOMEM);
		buf = nb;
	}
	used += (size_t)snprintf(buf + used, cap - used, "--%s--\r\n",
	    boundary);
	*out = buf;
	*out_len = used;
	buf = NULL; /* transferred */
	r = 0;
out:
	free(b64);
	free(buf);
	return r;
}

/* The value of parameter |name| of a Content-Type into |out|. */
static int
est_ct_param(const char *ct, const char *name, char *out, size_t len)
{
	const char *p = ct;
	size_t nl = strlen(name), i = 0;

	while ((p = strchr(p, ';')) != NULL) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, name, nl) != 0 || p[nl] != '=')
			continue;
		p += nl + 1;
		if (*p == '"')
			p++;
		while (*p != '\0' && *p != '"' && *p != ';' && *p != ' ' &&
		    i + 1 < len)
			out[i++] = *p++;
		out[i] = '\0';
		return i > 0 ? 0 : GP_ERR_INVALID;
	}
	return GP_ERR_INVALID;
}

/* Finds |needle| (|nlen| bytes) in [|p|, |end|). */
static const uint8_t *
est_find(const uint8_t *p, const uint8_t *end, const char *needle,
    size_t nlen)
{
	if (p >= end || (size_t)(end - p) < nlen)
		return NULL;
	return memmem(p, (size_t)(end - p), needle, nlen);
}

int
est_multipart_parse(const char *content_type, const uint8_t *body,
    size_t len, struct est_part **out, size_t *out_n)
{
	char bnd[80], delim[96];
	const uint8_t *p, *end = body + len, *hdr_end, *next, *line;
	struct est_part *parts = NULL;
	size_t n = 0, dl;
	int r = GP_ERR_INTERNAL;

	*out = NULL;
	*out_n = 0;
	ENSURE(content_type != NULL && strncasecmp(content_type,
	    "multipart/mixed", 15) == 0 && est_ct_param(content_type,
	    "boundary", bnd, sizeof(bnd)) == 0, gp_err_set(GP_ERR_INVALID,
	    "response: not multipart/mixed with a boundary"));
	ENSURE(body != NULL && len <= EST_MAX_BODY, gp_err_set(GP_ERR_INVALID,
	    "response: empty or too large"));
	dl = (size_t)snprintf(delim, sizeof(delim), "--%s", bnd);
	ENSURE((parts = calloc(EST_MAX_PARTS, sizeof(*parts))) != NULL,
	    GP_ERR_NOMEM);
	ENSURE((p = est_find(body, end, delim, dl)) != NULL,
	    gp_err_set(GP_ERR_INVALID, "response: no boundary line"));
	for (;;) {
		p += dl;
		/* RFC 2046 5.1.1: "--" after the boundary closes it. */
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			break;
		ENSURE(n < EST_MAX_PARTS, gp_err_set(GP_ERR_INVALID,
		    "response: more than %d parts", EST_MAX_PARTS));
		hdr_end = est_find(p, end, "\r\n\r\n", 4);
		ENSURE(hdr_end != NULL, gp_err_set(GP_ERR_INVALID,
		    "response: part %zu has no header end", n + 1));
		/* The part's Content-Type header. */
		for (line = p; line < hdr_end; ) {
			const uint8_t *eol = est_find(line, hdr_end + 2,
			    "\r\n", 2);
			size_t ll = eol != NULL ? (size_t)(eol - line) : 0;
			if (ll > 13 && strncasecmp((const char *)line,
			    "Content-Type:", 13) == 0) {
				const uint8_t *v = line + 13;
				while (v < eol && (*v == ' ' || *v == '\t'))
					v++;
				snprintf(parts[n].content_type,
				    sizeof(parts[n].content_type), "%.*s",
				    (int)(eol - v), (const char *)v);
			}
			if (eol == NULL)
				break;
			line = eol + 2;
		}
		next = est_find(hdr_end + 4, end, delim, dl);
		ENSURE(next != NULL, gp_err_set(GP_ERR_INVALID, "response: "
		    "part %zu is not closed", n + 1));
		GUARD(est_unb64("response part", hdr_end + 4,
		    (size_t)(next - hdr_end - 4), EST_MAX_BODY, &parts[n].der,
		    &parts[n].len));
		n++;
		p = next;
	}
	ENSURE(n > 0, gp_err_set(GP_ERR_INVALID, "response: no part"));
	*out = parts;
	*out_n = n;
	parts = NULL; /* transferred */
	r = 0;
out:
	est_parts_free(parts, EST_MAX_PARTS);
	return r;
}
