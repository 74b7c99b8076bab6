/*
 * tok_uri.c: key names. Parses RFC 7512 PKCS#11 URIs (the subset govpki
 * uses: token, serial, object, type, id, and the query attribute
 * module-path) and "file:" URIs for development keys, and maps algorithm
 * names to enum tok_algo. Everything here is pure string handling: no
 * module, no session.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tokens/tokens.h"

#define TOK_URI_MAX 4096

static const struct {
	const char *name;
	enum tok_algo algo;
} tok_algos[] = {
	{ "ec-p256", TOK_ALGO_EC_P256 },
	{ "ec-p384", TOK_ALGO_EC_P384 },
	{ "rsa-2048", TOK_ALGO_RSA_2048 },
	{ "rsa-3072", TOK_ALGO_RSA_3072 },
};

int
tok_algo_parse(const char *name, enum tok_algo *out)
{
	size_t i;

	if (name == NULL || out == NULL)
		return gp_err_set(GP_ERR_INVALID, "algorithm: missing");
	for (i = 0; i < sizeof(tok_algos) / sizeof(tok_algos[0]); i++) {
		if (strcmp(name, tok_algos[i].name) == 0) {
			*out = tok_algos[i].algo;
			return 0;
		}
	}
	return gp_err_set(GP_ERR_INVALID,
	    "algorithm \"%.40s\": use ec-p256, ec-p384, rsa-2048 or rsa-3072",
	    name);
}

const char *
tok_algo_name(enum tok_algo algo)
{
	size_t i;

	for (i = 0; i < sizeof(tok_algos) / sizeof(tok_algos[0]); i++)
		if (tok_algos[i].algo == algo)
			return tok_algos[i].name;
	return "unknown";
}

void
tok_uri_clear(struct tok_uri *uri)
{
	if (uri == NULL)
		return;
	free(uri->token);
	free(uri->serial);
	free(uri->object);
	free(uri->type);
	free(uri->module_path);
	free(uri->file);
	free(uri->id);
	memset(uri, 0, sizeof(*uri));
}

static int
tok_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Pct-decodes [s, s+len) into a new NUL-terminated buffer. RFC 7512 2.3:
 * "pk11-pchar = unreserved / pk11-res-avail / pct-encoded". With
 * |binary| the value may hold any byte (the id attribute); otherwise an
 * encoded NUL is refused since the value becomes a C string.
 */
static int
tok_pct_decode(const char *attr, const char *s, size_t len, int binary,
    char **out, size_t *out_len)
{
	char *buf;
	size_t i, n = 0;
	int hi, lo;

	if (len == 0)
		return gp_err_set(GP_ERR_INVALID,
		    "PKCS#11 URI: attribute %s has an empty value", attr);
	if ((buf = malloc(len + 1)) == NULL)
		return gp_err_set(GP_ERR_NOMEM, "PKCS#11 URI");
	for (i = 0; i < len; i++) {
		if (s[i] != '%') {
			buf[n++] = s[i];
			continue;
		}
		if (i + 2 >= len) {
			free(buf);
			return gp_err_set(GP_ERR_INVALID,
			    "PKCS#11 URI: attribute %s: truncated %%-escape",
			    attr);
		}
		hi = tok_hexval((unsigned char)s[i + 1]);
		lo = tok_hexval((unsigned char)s[i + 2]);
		if (hi < 0 || lo < 0) {
			free(buf);
			return gp_err_set(GP_ERR_INVALID,
			    "PKCS#11 URI: attribute %s: bad %%-escape", attr);
		}
		if (hi == 0 && lo == 0 && !binary) {
			free(buf);
			return gp_err_set(GP_ERR_INVALID,
			    "PKCS#11 URI: attribute %s contains %%00", attr);
		}
		buf[n++] = (char)(hi << 4 | lo);
		i += 2;
	}
	buf[n] = '\0';
	*out = buf;
	if (out_len != NULL)
		*out_len = n;
	return 0;
}

/* Sets the field |*slot| once: RFC 7512 2.3 "A PKCS #11 URI MUST NOT contain
 * duplicate attributes of the same name in the URI path component." */
static int
tok_uri_set(const char *attr, char **slot, const char *v, size_t vlen)
{
	if (*slot != NULL)
		return gp_err_set(GP_ERR_INVALID,
		    "PKCS#11 URI: attribute %s appears twice", attr);
	return tok_pct_decode(attr, v, vlen, 0, slot, NULL);
}

static int
tok_uri_attr(struct tok_uri *u, int query, const char *a, size_t alen,
    const char *v, size_t vlen)
{
	char name[32];
	char *id = NULL;
	size_t id_len = 0;
	int r;

	if (alen == 0 || alen >= sizeof(name))
		return gp_err_set(GP_ERR_INVALID,
		    "PKCS#11 URI: malformed attribute \"%.*s\"",
		    (int)(alen > 40 ? 40 : alen), a);
	memcpy(name, a, alen);
	name[alen] = '\0';

	if (strcmp(name, "pin-value") == 0 || strcmp(name, "pin-source") == 0)
		return gp_err_set(GP_ERR_INVALID,
		    "PKCS#11 URI: attribute %s refused: PINs never travel in "
		    "URIs (use a PIN file, an environment variable or the "
		    "prompt)", name);
	if (query) {
		if (strcmp(name, "module-path") == 0)
			return tok_uri_set(name, &u->module_path, v, vlen);
		return gp_err_set(GP_ERR_INVALID,
		    "PKCS#11 URI: unknown query attribute \"%s\"", name);
	}
	if (strcmp(name, "token") == 0)
		return tok_uri_set(name, &u->token, v, vlen);
	if (strcmp(name, "serial") == 0)
		return tok_uri_set(name, &u->serial, v, vlen);
	if (strcmp(name, "object") == 0)
		return tok_uri_set(name, &u->object, v, vlen);
	if (strcmp(name, "type") == 0) {
		if ((r = tok_uri_set(name, &u->type, v, vlen)) != 0)
			return r;
		/* RFC 7512 2.3: pk11-type = "public" / "private" / "cert" /
		 * "secret-key" / "data"; govpki names only the first three. */
		if (strcmp(u->type, "private") != 0 &&
		    strcmp(u->type, "public") != 0 &&
		    strcmp(u->type, "cert") != 0)
			return gp_err_set(GP_ERR_INVALID,
			    "PKCS#11 URI: type \"%.20s\" is not private, public "
			    "or cert", u->type);
		return 0;
	}
	if (strcmp(name, "id") == 0) {
		if (u->id != NULL)
			return gp_err_set(GP_ERR_INVALID,
			    "PKCS#11 URI: attribute id appears twice");
		if ((r = tok_pct_decode(name, v, vlen, 1, &id, &id_len)) != 0)
			return r;
		u->id = (unsigned char *)id;
		u->id_len = id_len;
		return 0;
	}
	return gp_err_set(GP_ERR_INVALID,
	    "PKCS#11 URI: unknown or unsupported attribute \"%s\"", name);
}

/* Parses "a=v" items separated by |sep| in [s, end). */
static int
tok_uri_items(struct tok_uri *u, int query, const char *s, const char *end,
    char sep)
{
	const char *item, *next, *eq;
	int r;

	for (item = s; item < end; item = next + 1) {
		next = memchr(item, sep, (size_t)(end - item));
		if (next == NULL)
			next = end;
		if (next == item) /* empty item, e.g. a trailing ';' */
			continue;
		eq = memchr(item, '=', (size_t)(next - item));
		if (eq == NULL)
			return gp_err_set(GP_ERR_INVALID,
			    "PKCS#11 URI: attribute \"%.*s\" has no value",
			    (int)(next - item > 40 ? 40 : next - item), item);
		if ((r = tok_uri_attr(u, query, item, (size_t)(eq - item),
		    eq + 1, (size_t)(next - eq - 1))) != 0)
			return r;
		if (next == end)
			break;
	}
	return 0;
}

int
tok_uri_parse(const char *uri, struct tok_uri *out)
{
	const char *path, *q, *end;
	size_t len;
	int r = GP_ERR_INTERNAL;

	if (out == NULL)
		return gp_err_set(GP_ERR_INVALID, "key URI: no output");
	memset(out, 0, sizeof(*out));
	ENSURE(uri != NULL, gp_err_set(GP_ERR_INVALID, "key URI: missing"));
	len = strlen(uri);
	ENSURE(len <= TOK_URI_MAX, gp_err_set(GP_ERR_TOO_LARGE,
	    "key URI: longer than %d bytes", TOK_URI_MAX));

	if (strncmp(uri, "file:", 5) == 0) {
		path = uri + 5;
		/* RFC 8089: file:///path (empty authority) or file:/path. */
		if (strncmp(path, "//", 2) == 0) {
			path += 2;
			ENSURE(*path == '/', gp_err_set(GP_ERR_INVALID,
			    "key URI \"%.80s\": only local file URIs "
			    "(file:///path) are supported", uri));
		}
		GUARD(tok_pct_decode("file", path, strlen(path), 0, &out->file,
		    NULL));
		r = 0;
		goto out;
	}
	/* RFC 7512 2.3: the scheme name is case-insensitive. */
	ENSURE(strncasecmp(uri, "pkcs11:", 7) == 0, gp_err_set(GP_ERR_INVALID,
	    "key URI \"%.80s\": must start with pkcs11: or file:", uri));
	path = uri + 7;
	end = uri + len;
	q = strchr(path, '?');
	GUARD(tok_uri_items(out, 0, path, q != NULL ? q : end, ';'));
	if (q != NULL)
		GUARD(tok_uri_items(out, 1, q + 1, end, '&'));
	r = 0;
out:
	if (r != 0)
		tok_uri_clear(out);
	return r;
}
