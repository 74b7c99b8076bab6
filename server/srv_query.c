/*
 * srv_query.c: the one parser of URL query strings on the admin API. A
 * handler declares the parameters it takes (name, kind, bounds, an extra
 * check) and gets their values, or GP_ERR_INVALID (400) naming the
 * parameter and what is wrong, for every malformed query:
 *
 *   - a parameter the handler does not take, or one given twice (two
 *     readers could see two different queries);
 *   - a parameter without a value, or with an empty one;
 *   - a value over SRV_QUERY_MAX_VALUE bytes, not valid UTF-8, or holding
 *     a control or format character (ca_text_check: libmicrohttpd has
 *     already decoded %XX, so "%ff" arrives as the byte 0xff and "%00" as
 *     a NUL inside the value);
 *   - a value outside its kind: an integer out of range, a word not in the
 *     enumeration, text over its length, or failing the handler's check.
 *
 * srv_query_check() is the parser itself, over (key, value) pairs with
 * their lengths, so that it can be tested without a connection;
 * srv_query_parse() feeds it the request's GET arguments.
 */
#include <stdio.h>
#include <string.h>

#include "server/internal.h"

/* A parameter name as it may appear in an error: printable ASCII of at
 * most 32 bytes, else a placeholder. */
static const char *
srv_query_name(const char *key, size_t len)
{
	size_t i;

	if (key == NULL || len == 0)
		return "(empty)";
	if (len > 32)
		return "(a name over 32 bytes)";
	for (i = 0; i < len; i++)
		if (key[i] < 0x21 || key[i] > 0x7e || key[i] == '"' ||
		    key[i] == '\\')
			return "(a name that is not plain text)";
	return key;
}

static void
srv_query_known(const struct srv_qparam *spec, size_t n, char *buf,
    size_t len)
{
	size_t i, used = 0;
	int k;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		k = snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
		    spec[i].name);
		if (k < 0 || (size_t)k >= len - used)
			break;
		used += (size_t)k;
	}
}

/* One value of parameter |q|, already known to be text. */
static int
srv_query_value(const struct srv_qparam *q, const char *v,
    struct srv_qvalue *out)
{
	size_t k;
	int r;

	switch (q->kind) {
	case SRV_Q_INT:
		GUARD(srv_parse_i64(q->name, v, q->min, q->max_int, &out->i));
		break;
	case SRV_Q_ENUM:
		for (k = 0; q->values[k] != NULL; k++)
			if (strcmp(q->values[k], v) == 0)
				break;
		if (q->values[k] == NULL) {
			char list[128];
			size_t used = 0;

			list[0] = '\0';
			for (k = 0; q->values[k] != NULL && used + 1 <
			    sizeof(list); k++)
				used += (size_t)snprintf(list + used,
				    sizeof(list) - used, "%s%s", k ? ", " : "",
				    q->values[k]);
			r = gp_err_set(GP_ERR_INVALID, "%s: one of %s",
			    q->name, list);
			goto out;
		}
		break;
	case SRV_Q_TEXT:
		break;
	default:
		ENSURE(0, gp_err_set(GP_ERR_INTERNAL, "%s: kind", q->name));
	}
	if (q->check != NULL)
		GUARD(q->check(q->name, v));
	out->s = v;
	out->set = 1;
	r = 0;
out:
	return r;
}

int
srv_query_check(const struct srv_qparam *spec, size_t n,
    const struct srv_qpair *pairs, size_t npairs, struct srv_qvalue *out)
{
	char known[256];
	size_t i, j;
	int r;

	memset(out, 0, n * sizeof(*out));
	ENSURE(npairs <= SRV_QUERY_MAX_PARAMS, gp_err_set(GP_ERR_INVALID,
	    "query: more than %d parameters", SRV_QUERY_MAX_PARAMS));
	for (i = 0; i < npairs; i++) {
		const struct srv_qpair *pr = &pairs[i];

		for (j = 0; j < n; j++)
			if (pr->key != NULL && strlen(spec[j].name) ==
			    pr->key_len && memcmp(spec[j].name, pr->key,
			    pr->key_len) == 0)
				break;
		if (j == n) {
			srv_query_known(spec, n, known, sizeof(known));
			r = gp_err_set(GP_ERR_INVALID, "%s: not a parameter of "
			    "this request (%s%s)", srv_query_name(pr->key,
			    pr->key_len), n ? "it takes " : "it takes none",
			    known);
			goto out;
		}
		ENSURE(!out[j].set && !out[j].seen, gp_err_set(GP_ERR_INVALID,
		    "%s: given more than once", spec[j].name));
		out[j].seen = 1;
		ENSURE(pr->value != NULL, gp_err_set(GP_ERR_INVALID, "%s: needs "
		    "a value (%s=...)", spec[j].name, spec[j].name));
		ENSURE(pr->value_len > 0, gp_err_set(GP_ERR_INVALID, "%s: empty; "
		    "leave the parameter out to match any", spec[j].name));
		ENSURE(pr->value_len <= SRV_QUERY_MAX_VALUE,
		    gp_err_set(GP_ERR_INVALID, "%s: over %d bytes", spec[j].name,
		    SRV_QUERY_MAX_VALUE));
		GUARD(ca_text_check(spec[j].name, pr->value, pr->value_len,
		    spec[j].kind == SRV_Q_TEXT ? spec[j].max_chars : 0));
		GUARD(srv_query_value(&spec[j], pr->value, &out[j]));
	}
	r = 0;
out:
	return r;
}

struct srv_query_collect {
	struct srv_qpair pairs[SRV_QUERY_MAX_PARAMS + 1];
	size_t n;
	int over;
};

static enum MHD_Result
srv_query_pair(void *cls, enum MHD_ValueKind kind, const char *key,
    size_t key_size, const char *value, size_t value_size)
{
	struct srv_query_collect *c = cls;

	(void)kind;
	if (c->n >= SRV_QUERY_MAX_PARAMS + 1) {
		c->over = 1;
		return MHD_NO;
	}
	c->pairs[c->n].key = key;
	c->pairs[c->n].key_len = key != NULL ? key_size : 0;
	c->pairs[c->n].value = value;
	c->pairs[c->n].value_len = value != NULL ? value_size : 0;
	c->n++;
	return MHD_YES;
}

int
srv_query_parse(struct srv_req *rq, const struct srv_qparam *spec, size_t n,
    struct srv_qvalue *out)
{
	struct srv_query_collect c;

	memset(&c, 0, sizeof(c));
	(void)MHD_get_connection_values_n(rq->conn, MHD_GET_ARGUMENT_KIND,
	    srv_query_pair, &c);
	if (c.over)
		return gp_err_set(GP_ERR_INVALID, "query: more than %d "
		    "parameters", SRV_QUERY_MAX_PARAMS);
	return srv_query_check(spec, n, c.pairs, c.n, out);
}
