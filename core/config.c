/*
 * config.c: DIR/govpki.json, the instance configuration. Loading validates
 * every field and refuses unknown ones (a typo must not silently fall back
 * to a default); the error detail names the file, the field and the rule.
 * Paths are stored relative to the instance directory when inside it, so an
 * instance directory can be moved as a whole.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <openssl/objects.h>

#include "core/core.h"

#ifndef GP_SOFTHSM_MODULE
#define GP_SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#endif
#ifndef GP_POLICIES_DIR
#define GP_POLICIES_DIR "/usr/local/share/govpki/policies"
#endif

#define CONFIG_MAX_BYTES (256 * 1024)

/* A self-assigned placeholder policy under 2.25 (X.667: an OID from a
 * UUID, here 2b1d9661-56c8-4d9a-b1f1-aea319067b50); production sets the
 * OID of its own published TSA policy. */
#define CONFIG_TSA_POLICY "2.25.57310430501079066654694018335906364240"
#define CONFIG_TSA_MAX_POLICIES 16

const char *const gp_key_names[GP_KEY_COUNT] = {"root", "ca", "tsa", "ocsp",
    "audit"};

static void
cfg_strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
cfg_seals_free(struct gp_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->seals_len; i++) {
		free(cfg->seals[i].name);
		free(cfg->seals[i].key_uri);
		free(cfg->seals[i].cert);
		cfg_strv_free(cfg->seals[i].roles, cfg->seals[i].roles_len);
		cfg_strv_free(cfg->seals[i].serials,
		    cfg->seals[i].serials_len);
	}
	free(cfg->seals);
	cfg->seals = NULL;
	cfg->seals_len = 0;
}

int
gp_config_add_seal(struct gp_config *cfg, const char *name,
    const char *key_uri, const char *cert_path, const char *role)
{
	struct gp_seal *n, *sl;
	size_t i;

	if (cfg->seals_len >= GP_MAX_SEALS)
		return gp_err_set(GP_ERR_CONFIG, "seals: at most %d",
		    GP_MAX_SEALS);
	for (i = 0; i < cfg->seals_len; i++) {
		if (strcmp(cfg->seals[i].name, name) == 0)
			return gp_err_set(GP_ERR_CONFIG, "seals: \"%s\" "
			    "exists", name);
	}
	n = realloc(cfg->seals, (cfg->seals_len + 1) * sizeof(*n));
	if (n == NULL)
		return GP_ERR_NOMEM;
	cfg->seals = n;
	sl = &n[cfg->seals_len];
	memset(sl, 0, sizeof(*sl));
	cfg->seals_len++;
	sl->name = strdup(name);
	sl->key_uri = strdup(key_uri);
	sl->cert = gp_path_join(cfg->dir, cert_path);
	if (role != NULL && (sl->roles = calloc(1, sizeof(char *))) != NULL &&
	    (sl->roles[0] = strdup(role)) != NULL)
		sl->roles_len = 1;
	if (sl->name == NULL || sl->key_uri == NULL || sl->cert == NULL ||
	    (role != NULL && sl->roles_len != 1))
		return GP_ERR_NOMEM;
	return 0;
}

void
gp_config_free(struct gp_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free(cfg->dir);
	free(cfg->instance_name);
	free(cfg->module);
	free(cfg->softhsm_conf);
	free(cfg->token_label);
	free(cfg->pin_file);
	free(cfg->pin_env);
	for (i = 0; i < GP_KEY_COUNT; i++)
		free(cfg->key_uri[i]);
	free(cfg->http_listen);
	free(cfg->https_listen);
	free(cfg->public_url);
	for (i = 0; i < cfg->hostnames_len; i++)
		free(cfg->hostnames[i]);
	free(cfg->hostnames);
	free(cfg->profiles_dir);
	free(cfg->tsa_policy);
	for (i = 0; i < cfg->tsa_policies_len; i++)
		free(cfg->tsa_policies[i]);
	free(cfg->tsa_policies);
	free(cfg->tsa_clock_check);
	free(cfg->tender_seal);
	free(cfg->store_url);
	free(cfg->store_password_file);
	free(cfg->store_password_env);
	cfg_strv_free(cfg->verify_fetch_allow, cfg->verify_fetch_allow_len);
	cfg_strv_free(cfg->verify_content_types,
	    cfg->verify_content_types_len);
	cfg_seals_free(cfg);
	free(cfg);
}

int
gp_config_defaults(const char *dir, struct gp_config **out)
{
	struct gp_config *cfg;
	size_t i;
	int ok = 1;

	*out = NULL;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return GP_ERR_NOMEM;
	cfg->dir = strdup(dir);
	cfg->instance_name = strdup("govpki");
	cfg->module = strdup(GP_SOFTHSM_MODULE);
	cfg->softhsm_conf = gp_path_join(dir, "softhsm2.conf");
	cfg->token_label = strdup("govpki");
	cfg->pin_file = gp_path_join(dir, "secrets/user.pin");
	cfg->pin_env = strdup("GOVPKI_PIN");
	for (i = 0; i < GP_KEY_COUNT; i++) {
		if (asprintf(&cfg->key_uri[i], "pkcs11:token=govpki;object=%s",
		    gp_key_names[i]) < 0)
			cfg->key_uri[i] = NULL;
		ok &= cfg->key_uri[i] != NULL;
	}
	cfg->http_listen = strdup("127.0.0.1:8080");
	cfg->https_listen = strdup("127.0.0.1:8443");
	cfg->public_url = strdup("http://127.0.0.1:8080");
	cfg->profiles_dir = strdup(GP_POLICIES_DIR);
	cfg->crl_interval_s = 3600;
	cfg->crl_next_update_s = 86400;
	cfg->crl_delay_s = 5;
	cfg->crl_delta_s = 0;
	cfg->ocsp_refresh_s = 3600;
	cfg->ocsp_validity_s = 86400;
	cfg->audit_checkpoint_s = 60; /* server: seconds between checkpoints */
	cfg->max_body_bytes = 1024 * 1024;
	cfg->request_timeout_s = 30;
	cfg->max_connections = 1024;
	cfg->threads = 4;
	cfg->max_connections_per_ip = 64;
	cfg->request_deadline_s = 60;
	cfg->shutdown_grace_s = 30;
	cfg->ocsp_nonce_per_s = 10;
	cfg->ocsp_nonce_burst = 20;
	cfg->tsa_policy = strdup(CONFIG_TSA_POLICY);
	cfg->tsa_accuracy_s = 1;
	cfg->tsa_precision_digits = 3;
	cfg->tsa_max_request_bytes = 4096;
	cfg->tsa_clock_check = strdup("strict");
	cfg->verify_fetch = 0;
	cfg->verify_fetch_timeout_ms = 3000;
	cfg->verify_fetch_max_bytes = 10 * 1024 * 1024;
	cfg->tender_max_bid_bytes = (int64_t)1 << 30;
	cfg->tender_seal = strdup("seal");
	ok &= cfg->tender_seal != NULL;
	ok &= cfg->tsa_policy && cfg->tsa_clock_check;
	ok &= cfg->dir && cfg->instance_name && cfg->module &&
	    cfg->softhsm_conf && cfg->token_label && cfg->pin_file &&
	    cfg->pin_env && cfg->http_listen && cfg->https_listen &&
	    cfg->public_url && cfg->profiles_dir;
	if (!ok) {
		gp_config_free(cfg);
		return GP_ERR_NOMEM;
	}
	*out = cfg;
	return 0;
}

int
gp_parse_hostport(const char *field, const char *s, char **out_host,
    uint16_t *out_port)
{
	const char *colon;
	char *end;
	long port;

	*out_host = NULL;
	*out_port = 0;
	if (s == NULL || (colon = strrchr(s, ':')) == NULL || colon == s)
		return gp_err_set(GP_ERR_INVALID,
		    "%s: \"%s\" is not HOST:PORT (for example 127.0.0.1:8080)",
		    field, s ? s : "");
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || colon[1] == '\0' || port < 1 || port > 65535)
		return gp_err_set(GP_ERR_INVALID,
		    "%s: port in \"%s\" must be 1 to 65535", field, s);
	if ((*out_host = strndup(s, (size_t)(colon - s))) == NULL)
		return GP_ERR_NOMEM;
	*out_port = (uint16_t)port;
	return 0;
}

int
gp_dns_name(const char *s, size_t len)
{
	size_t i, label = 0;

	if (len == 0 || len > 253 || s[0] == '.' || s[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return 0;
		if (c == '-' && label == 0)
			return 0;
		if (++label > 63)
			return 0;
	}
	return s[len - 1] != '-';
}

int
gp_hostname_check(const char *field, const char *name)
{
	unsigned char ip[16];

	if (name == NULL || name[0] == '\0')
		return gp_err_set(GP_ERR_INVALID, "%s: a host name is "
		    "required", field);
	if (inet_pton(AF_INET, name, ip) == 1 ||
	    inet_pton(AF_INET6, name, ip) == 1 ||
	    gp_dns_name(name, strlen(name)))
		return 0;
	return gp_err_set(GP_ERR_INVALID, "%s: \"%.80s\" is not a DNS name "
	    "(letters, digits, hyphens and dots) or an IP address", field,
	    name);
}

int
gp_public_url_check(const char *field, const char *url)
{
	const char *p, *host, *end;
	char ip6[48];
	unsigned char ip[16];
	size_t i, hlen;
	long port;

	if (url == NULL || url[0] == '\0')
		return gp_err_set(GP_ERR_INVALID, "%s: a URL is required, for "
		    "example https://pki.example.gov.cn", field);
	/* Control characters and spaces would reach certificates and HTTP
	 * headers; ',' would split OpenSSL's extension text. Only the
	 * characters of RFC 3986 a base URL needs are taken. */
	for (i = 0; url[i] != '\0'; i++) {
		unsigned char c = (unsigned char)url[i];
		if (c < 0x21 || c >= 0x7f)
			return gp_err_set(GP_ERR_INVALID, "%s: character %zu is "
			    "a control character, a space or not ASCII", field,
			    i + 1);
	}
	if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else
		return gp_err_set(GP_ERR_INVALID, "%s: \"%.80s\" must start "
		    "with http:// or https://", field, url);
	if (strpbrk(url, "?#") != NULL)
		return gp_err_set(GP_ERR_INVALID, "%s: no query (?) or "
		    "fragment (#): give the base URL, for example "
		    "https://pki.example.gov.cn", field);
	end = host + strcspn(host, "/");
	if (memchr(host, '@', (size_t)(end - host)) != NULL)
		return gp_err_set(GP_ERR_INVALID, "%s: no user name or password "
		    "(@) in the URL", field);
	/* RFC 3986 3.2.2: a host name, an IPv4 address or [IPv6]. */
	if (host[0] == '[') {
		p = memchr(host, ']', (size_t)(end - host));
		hlen = p != NULL ? (size_t)(p - host - 1) : 0;
		if (p == NULL || hlen == 0 || hlen >= sizeof(ip6))
			return gp_err_set(GP_ERR_INVALID, "%s: bad [IPv6] "
			    "host", field);
		memcpy(ip6, host + 1, hlen);
		ip6[hlen] = '\0';
		if (inet_pton(AF_INET6, ip6, ip) != 1)
			return gp_err_set(GP_ERR_INVALID, "%s: \"%s\" is not "
			    "an IPv6 address", field, ip6);
		p++;
	} else {
		p = host + strcspn(host, ":/");
		if (p > end)
			p = end;
		hlen = (size_t)(p - host);
		if (hlen == 0)
			return gp_err_set(GP_ERR_INVALID, "%s: the URL has no "
			    "host", field);
		if (!gp_dns_name(host, hlen))
			return gp_err_set(GP_ERR_INVALID, "%s: the host \"%.*s\" "
			    "is not a DNS name or an IPv4 address", field,
			    (int)(hlen > 80 ? 80 : hlen), host);
	}
	if (*p == ':') {
		char *e;
		port = strtol(p + 1, &e, 10);
		if (e == p + 1 || e != end || port < 1 || port > 65535 ||
		    p[1] == '+' || p[1] == '-')
			return gp_err_set(GP_ERR_INVALID, "%s: the port must be "
			    "1 to 65535", field);
	} else if (p != end) {
		return gp_err_set(GP_ERR_INVALID, "%s: unexpected \"%c\" "
		    "after the host", field, *p);
	}
	/* An optional path of unreserved characters, '/' and %XX. */
	for (p = end; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~/", *p) != NULL)
			continue;
		if (*p == '%' && strchr("0123456789abcdefABCDEF", p[1]) &&
		    p[1] != '\0' && strchr("0123456789abcdefABCDEF", p[2]) &&
		    p[2] != '\0') {
			p += 2;
			continue;
		}
		return gp_err_set(GP_ERR_INVALID, "%s: character \"%c\" is "
		    "not allowed in the path", field, *p);
	}
	if (end[0] != '\0' && url[strlen(url) - 1] == '/')
		return gp_err_set(GP_ERR_INVALID, "%s: must not end with /",
		    field);
	return 0;
}

/* A config reader: walks the JSON with the file name for errors. */
struct cfg_reader {
	const char *file;
	const char *dir;
};

static int
cfg_str(const struct cfg_reader *rd, json_t *obj, const char *section,
    const char *key, int required, int is_path, char **out)
{
	json_t *v = json_object_get(obj, key);
	const char *s;
	char *val;

	if (v == NULL || json_is_null(v)) {
		if (required)
			return gp_err_set(GP_ERR_CONFIG,
			    "%s: field %s%s%s is required", rd->file,
			    section, *section ? "." : "", key);
		free(*out);
		*out = NULL;
		return 0;
	}
	if (!json_is_string(v) || (s = json_string_value(v))[0] == '\0')
		return gp_err_set(GP_ERR_CONFIG,
		    "%s: field %s%s%s must be a non-empty string", rd->file,
		    section, *section ? "." : "", key);
	val = is_path ? gp_path_join(rd->dir, s) : strdup(s);
	if (val == NULL)
		return GP_ERR_NOMEM;
	free(*out);
	*out = val;
	return 0;
}

static int
cfg_int(const struct cfg_reader *rd, json_t *obj, const char *section,
    const char *key, int64_t min, int64_t max, int64_t *out)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return 0; /* keep the default */
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return gp_err_set(GP_ERR_CONFIG,
		    "%s: field %s.%s must be an integer from %lld to %lld",
		    rd->file, section, key, (long long)min, (long long)max);
	*out = json_integer_value(v);
	return 0;
}

static int
cfg_bool(const struct cfg_reader *rd, json_t *obj, const char *section,
    const char *key, int *out)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return 0; /* keep the default */
	if (!json_is_boolean(v))
		return gp_err_set(GP_ERR_CONFIG,
		    "%s: field %s.%s must be true or false", rd->file, section,
		    key);
	*out = json_is_true(v);
	return 0;
}

/* A dotted OID ("2.25.123"), as OpenSSL parses it. */
static int
cfg_oid_ok(const char *s)
{
	ASN1_OBJECT *o;
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 200)
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if ((s[i] < '0' || s[i] > '9') && s[i] != '.')
			return 0;
	}
	if ((o = OBJ_txt2obj(s, 1)) == NULL)
		return 0;
	ASN1_OBJECT_free(o);
	return 1;
}

/* Refuses keys of |obj| that are not in |known| (NULL-terminated). */
static int
cfg_known(const struct cfg_reader *rd, json_t *obj, const char *section,
    const char *const *known)
{
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_object(obj))
		return gp_err_set(GP_ERR_CONFIG, "%s: field %s must be an object",
		    rd->file, *section ? section : "(top level)");
	json_object_foreach(obj, key, v) {
		for (i = 0; known[i] != NULL; i++) {
			if (strcmp(known[i], key) == 0)
				break;
		}
		if (known[i] == NULL)
			return gp_err_set(GP_ERR_CONFIG,
			    "%s: unknown field %s%s%s (check its spelling)",
			    rd->file, section, *section ? "." : "", key);
	}
	return 0;
}

/* An optional sub-object of |root| (which the loader owns); an absent one
 * is added empty so that every default applies. */
static json_t *
cfg_section(json_t *root, const char *name)
{
	json_t *v = json_object_get(root, name);

	if (v == NULL && json_object_set_new(root, name, json_object()) == 0)
		v = json_object_get(root, name);
	return v;
}

static int
cfg_tsa(const struct cfg_reader *rd, json_t *sec, struct gp_config *cfg)
{
	static const char *const tsa[] = {"policy", "policies", "accuracy_s",
	    "accuracy_ms", "accuracy_us", "precision_digits", "allow_sha1",
	    "max_request_bytes", "clock_check", NULL};
	json_t *v;
	size_t i;
	int r;

	GUARD(cfg_known(rd, sec, "tsa", tsa));
	/* Absent fields keep their defaults (instances made before the
	 * TSA existed have no tsa section). */
	if (json_object_get(sec, "policy") != NULL)
		GUARD(cfg_str(rd, sec, "tsa", "policy", 1, 0,
		    &cfg->tsa_policy));
	ENSURE(cfg_oid_ok(cfg->tsa_policy), gp_err_set(GP_ERR_CONFIG,
	    "%s: field tsa.policy must be a dotted OID such as 2.25.<uuid "
	    "as integer>", rd->file));
	v = json_object_get(sec, "policies");
	if (v != NULL) {
		ENSURE(json_is_array(v) &&
		    json_array_size(v) <= CONFIG_TSA_MAX_POLICIES,
		    gp_err_set(GP_ERR_CONFIG, "%s: field tsa.policies must be "
		    "an array of at most %d OIDs", rd->file,
		    CONFIG_TSA_MAX_POLICIES));
		ENSURE((cfg->tsa_policies = calloc(json_array_size(v) + 1,
		    sizeof(char *))) != NULL, GP_ERR_NOMEM);
		for (i = 0; i < json_array_size(v); i++) {
			json_t *o = json_array_get(v, i);

			ENSURE(json_is_string(o) &&
			    cfg_oid_ok(json_string_value(o)),
			    gp_err_set(GP_ERR_CONFIG, "%s: field "
			    "tsa.policies[%zu] must be a dotted OID", rd->file,
			    i));
			ENSURE((cfg->tsa_policies[i] =
			    strdup(json_string_value(o))) != NULL,
			    GP_ERR_NOMEM);
			cfg->tsa_policies_len = i + 1;
		}
	}
	GUARD(cfg_int(rd, sec, "tsa", "accuracy_s", 0, 3600,
	    &cfg->tsa_accuracy_s));
	GUARD(cfg_int(rd, sec, "tsa", "accuracy_ms", 0, 999,
	    &cfg->tsa_accuracy_ms));
	GUARD(cfg_int(rd, sec, "tsa", "accuracy_us", 0, 999,
	    &cfg->tsa_accuracy_us));
	/* ETSI EN 319 421: the TSA declares an accuracy and keeps to it, so
	 * "no accuracy" cannot be configured. */
	ENSURE(cfg->tsa_accuracy_s + cfg->tsa_accuracy_ms +
	    cfg->tsa_accuracy_us > 0, gp_err_set(GP_ERR_CONFIG,
	    "%s: fields tsa.accuracy_s/_ms/_us: the accuracy must not be "
	    "zero", rd->file));
	GUARD(cfg_int(rd, sec, "tsa", "precision_digits", 0, 6,
	    &cfg->tsa_precision_digits));
	GUARD(cfg_bool(rd, sec, "tsa", "allow_sha1", &cfg->tsa_allow_sha1));
	GUARD(cfg_int(rd, sec, "tsa", "max_request_bytes", 256, 65536,
	    &cfg->tsa_max_request_bytes));
	if (json_object_get(sec, "clock_check") != NULL)
		GUARD(cfg_str(rd, sec, "tsa", "clock_check", 1, 0,
		    &cfg->tsa_clock_check));
	ENSURE(strcmp(cfg->tsa_clock_check, "strict") == 0 ||
	    strcmp(cfg->tsa_clock_check, "warn") == 0,
	    gp_err_set(GP_ERR_CONFIG, "%s: field tsa.clock_check must be "
	    "\"strict\" or \"warn\"", rd->file));
	r = 0;
out:
	return r;
}

/* A list of strings of 1 to |max| bytes, at most 64 of them. */
static int
cfg_strv(const struct cfg_reader *rd, json_t *v, const char *field,
    size_t max, char ***out, size_t *out_len)
{
	size_t i;

	*out = NULL;
	*out_len = 0;
	if (v == NULL)
		return 0;
	if (!json_is_array(v) || json_array_size(v) > 64)
		return gp_err_set(GP_ERR_CONFIG, "%s: field %s must be an "
		    "array of at most 64 strings", rd->file, field);
	if ((*out = calloc(json_array_size(v) + 1, sizeof(char *))) == NULL)
		return GP_ERR_NOMEM;
	for (i = 0; i < json_array_size(v); i++) {
		json_t *e = json_array_get(v, i);

		if (!json_is_string(e) || json_string_length(e) == 0 ||
		    json_string_length(e) > max)
			return gp_err_set(GP_ERR_CONFIG, "%s: field %s[%zu] "
			    "must be a string of 1 to %zu bytes", rd->file,
			    field, i, max);
		if (((*out)[i] = strdup(json_string_value(e))) == NULL)
			return GP_ERR_NOMEM;
		*out_len = i + 1;
	}
	return 0;
}

/* verify: {"fetch_revocation": false, "fetch_allow": [],
 * "fetch_timeout_ms": 3000, "fetch_max_bytes": 10485760,
 * "content_types": []}; absent in instances made before it. */
static int
cfg_verify(const struct cfg_reader *rd, json_t *sec, struct gp_config *cfg)
{
	static const char *const verify[] = {"fetch_revocation",
	    "fetch_allow", "fetch_timeout_ms", "fetch_max_bytes",
	    "content_types", NULL};
	const char *e;
	size_t i, j;
	int r;

	GUARD(cfg_known(rd, sec, "verify", verify));
	GUARD(cfg_bool(rd, sec, "verify", "fetch_revocation",
	    &cfg->verify_fetch));
	GUARD(cfg_int(rd, sec, "verify", "fetch_timeout_ms", 100, 60000,
	    &cfg->verify_fetch_timeout_ms));
	GUARD(cfg_int(rd, sec, "verify", "fetch_max_bytes", 1024,
	    256 * 1024 * 1024, &cfg->verify_fetch_max_bytes));
	/* Where online status may be fetched from: "http://host[:port]/..."
	 * prefixes or bare host names (signer/ fetches http:// only). */
	GUARD(cfg_strv(rd, json_object_get(sec, "fetch_allow"),
	    "verify.fetch_allow", 255, &cfg->verify_fetch_allow,
	    &cfg->verify_fetch_allow_len));
	for (i = 0; i < cfg->verify_fetch_allow_len; i++) {
		e = cfg->verify_fetch_allow[i];
		if (strstr(e, "://") != NULL) {
			ENSURE(strncmp(e, "http://", 7) == 0 && e[7] != '\0' &&
			    e[7] != '/', gp_err_set(GP_ERR_CONFIG, "%s: field "
			    "verify.fetch_allow[%zu]: \"%s\": a URL prefix must "
			    "be http://HOST[:PORT][/PATH] (only http:// is "
			    "fetched)", rd->file, i, e));
			continue;
		}
		/* A host name or address; a port only in a URL prefix. */
		for (j = 0; e[j] != '\0'; j++)
			ENSURE((e[j] >= 'a' && e[j] <= 'z') || (e[j] >= 'A' &&
			    e[j] <= 'Z') || (e[j] >= '0' && e[j] <= '9') ||
			    e[j] == '.' || e[j] == '-' || (e[0] == '[' &&
			    (e[j] == ':' || e[j] == '[' || e[j] == ']')),
			    gp_err_set(GP_ERR_CONFIG, "%s: field "
			    "verify.fetch_allow[%zu]: \"%s\" is neither an "
			    "http:// URL prefix nor a host name (a port goes "
			    "in a prefix: http://HOST:PORT/)", rd->file, i,
			    e));
	}
	/* Document content types accepted besides id-data: dotted OIDs. */
	GUARD(cfg_strv(rd, json_object_get(sec, "content_types"),
	    "verify.content_types", 128, &cfg->verify_content_types,
	    &cfg->verify_content_types_len));
	for (i = 0; i < cfg->verify_content_types_len; i++) {
		e = cfg->verify_content_types[i];
		for (j = 0; e[j] != '\0'; j++)
			ENSURE((e[j] >= '0' && e[j] <= '9') || (e[j] == '.' &&
			    j > 0 && e[j - 1] != '.' && e[j + 1] != '\0'),
			    gp_err_set(GP_ERR_CONFIG, "%s: field "
			    "verify.content_types[%zu]: \"%s\" is not a dotted "
			    "OID (1.2.156.10197.6.1.4.2.1)", rd->file, i, e));
		ENSURE(strchr(e, '.') != NULL, gp_err_set(GP_ERR_CONFIG,
		    "%s: field verify.content_types[%zu]: \"%s\" is not a "
		    "dotted OID", rd->file, i, e));
	}
	r = 0;
out:
	return r;
}

/* tender: {"max_bid_bytes": 1073741824, "seal": "seal"}; absent in
 * instances made before it. */
static int
cfg_tender(const struct cfg_reader *rd, json_t *sec, struct gp_config *cfg)
{
	static const char *const tender[] = {"max_bid_bytes", "seal", NULL};
	int r;

	GUARD(cfg_known(rd, sec, "tender", tender));
	GUARD(cfg_int(rd, sec, "tender", "max_bid_bytes", 1024,
	    (int64_t)64 << 30, &cfg->tender_max_bid_bytes));
	if (json_object_get(sec, "seal") != NULL)
		GUARD(cfg_str(rd, sec, "tender", "seal", 1, 0,
		    &cfg->tender_seal));
	r = 0;
out:
	return r;
}

/* seals: [{"name", "key", "cert", "roles": [..], "serials": [..]}] */
static int
cfg_seals(const struct cfg_reader *rd, json_t *arr, struct gp_config *cfg)
{
	static const char *const seal[] = {"name", "key", "cert", "roles",
	    "serials", NULL};
	char field[64];
	json_t *e;
	size_t i, j, k;
	int r;

	if (arr == NULL)
		return 0;
	ENSURE(json_is_array(arr) && json_array_size(arr) <= GP_MAX_SEALS,
	    gp_err_set(GP_ERR_CONFIG, "%s: field seals must be an array of "
	    "at most %d seals", rd->file, GP_MAX_SEALS));
	ENSURE((cfg->seals = calloc(json_array_size(arr) + 1,
	    sizeof(*cfg->seals))) != NULL, GP_ERR_NOMEM);
	json_array_foreach(arr, i, e) {
		struct gp_seal *sl = &cfg->seals[i];

		cfg->seals_len = i + 1;
		snprintf(field, sizeof(field), "seals[%zu]", i);
		GUARD(cfg_known(rd, e, field, seal));
		GUARD(cfg_str(rd, e, field, "name", 1, 0, &sl->name));
		for (j = 0; sl->name[j] != '\0'; j++)
			ENSURE(j < 64 && ((sl->name[j] >= 'a' &&
			    sl->name[j] <= 'z') || (sl->name[j] >= '0' &&
			    sl->name[j] <= '9') || sl->name[j] == '-' ||
			    sl->name[j] == '_'), gp_err_set(GP_ERR_CONFIG,
			    "%s: field %s.name must be 1 to 64 of [a-z0-9_-]",
			    rd->file, field));
		for (k = 0; k < i; k++)
			ENSURE(strcmp(cfg->seals[k].name, sl->name) != 0,
			    gp_err_set(GP_ERR_CONFIG, "%s: field %s.name: "
			    "seal \"%s\" is configured twice", rd->file,
			    field, sl->name));
		GUARD(cfg_str(rd, e, field, "key", 1, 0, &sl->key_uri));
		ENSURE(strncmp(sl->key_uri, "pkcs11:", 7) == 0 ||
		    strncmp(sl->key_uri, "file:", 5) == 0,
		    gp_err_set(GP_ERR_CONFIG, "%s: field %s.key must be a "
		    "pkcs11: or file: URI", rd->file, field));
		GUARD(cfg_str(rd, e, field, "cert", 1, 1, &sl->cert));
		snprintf(field, sizeof(field), "seals[%zu].roles", i);
		GUARD(cfg_strv(rd, json_object_get(e, "roles"), field, 16,
		    &sl->roles, &sl->roles_len));
		/* The split of powers: the sysadmin configures, the auditor
		 * reads the log; neither may act by sealing. */
		for (j = 0; j < sl->roles_len; j++) {
			ENSURE(strcmp(sl->roles[j], "officer") == 0,
			    gp_err_set(GP_ERR_CONFIG, "%s: field %s: role "
			    "\"%s\" may not seal (only \"officer\")", rd->file,
			    field, sl->roles[j]));
		}
		snprintf(field, sizeof(field), "seals[%zu].serials", i);
		GUARD(cfg_strv(rd, json_object_get(e, "serials"), field, 64,
		    &sl->serials, &sl->serials_len));
	}
	r = 0;
out:
	return r;
}

/* The detail of a field check (GP_ERR_INVALID, "FIELD: why") as a
 * configuration error naming the file. */
static int cfg_field_err(const struct cfg_reader *rd);

/* store: absent (SQLite) or a PostgreSQL URL and where its password is. */
static int
cfg_store(const struct cfg_reader *rd, json_t *sec, struct gp_config *cfg)
{
	static const char *const store[] = {"url", "password_file",
	    "password_env", NULL};
	int r;

	GUARD(cfg_known(rd, sec, "store", store));
	GUARD(cfg_str(rd, sec, "store", "url", 0, 0, &cfg->store_url));
	GUARD(cfg_str(rd, sec, "store", "password_file", 0, 1,
	    &cfg->store_password_file));
	GUARD(cfg_str(rd, sec, "store", "password_env", 0, 0,
	    &cfg->store_password_env));
	ENSURE(cfg->store_url == NULL || gp_store_url_check("store.url",
	    cfg->store_url) == 0, cfg_field_err(rd));
	ENSURE(cfg->store_url != NULL || (cfg->store_password_file == NULL &&
	    cfg->store_password_env == NULL), gp_err_set(GP_ERR_CONFIG,
	    "%s: fields store.password_file and store.password_env need "
	    "store.url", rd->file));
	r = 0;
out:
	return r;
}

int
gp_store_url_check(const char *field, const char *url)
{
	const char *auth, *end, *at;
	size_t i;

	if (url == NULL || (strncmp(url, "postgresql://", 13) != 0 &&
	    strncmp(url, "postgres://", 11) != 0))
		return gp_err_set(GP_ERR_INVALID, "%s: must be a "
		    "postgresql:// URL", field);
	for (i = 0; url[i] != '\0'; i++) {
		if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f)
			return gp_err_set(GP_ERR_INVALID, "%s: no spaces or "
			    "control characters", field);
	}
	if (i > 1024)
		return gp_err_set(GP_ERR_INVALID, "%s: over 1024 characters",
		    field);
	/* user:password@host, or a password= parameter: the password
	 * would sit in the configuration and in every message naming the
	 * URL. */
	auth = strchr(url, '/') + 2;
	end = auth + strcspn(auth, "/?");
	at = memchr(auth, '@', (size_t)(end - auth));
	if ((at != NULL && memchr(auth, ':', (size_t)(at - auth)) != NULL) ||
	    strstr(url, "?password=") != NULL ||
	    strstr(url, "&password=") != NULL)
		return gp_err_set(GP_ERR_INVALID, "%s: it holds a password; "
		    "remove it and give the password from a file or the "
		    "environment (store.password_file, store.password_env)",
		    field);
	return 0;
}

static int
cfg_field_err(const struct cfg_reader *rd)
{
	char why[512];

	snprintf(why, sizeof(why), "%s", gp_err_detail());
	return gp_err_set(GP_ERR_CONFIG, "%s: field %s", rd->file, why);
}

static int
cfg_listen_check(const struct cfg_reader *rd, const char *field,
    const char *value)
{
	char *host = NULL;
	uint16_t port;
	char name[64];
	int r;

	snprintf(name, sizeof(name), "%s: field %s", rd->file, field);
	r = gp_parse_hostport(name, value, &host, &port);
	free(host);
	return r == GP_ERR_INVALID ? GP_ERR_CONFIG : r;
}

static int
cfg_parse(const struct cfg_reader *rd, json_t *root, struct gp_config *cfg)
{
	static const char *const top[] = {"version", "instance", "token",
	    "keys", "listen", "public_url", "hostnames", "profiles_dir", "crl",
	    "ocsp", "audit", "limits", "tsa", "seals", "verify", "tender",
	    "store", NULL};
	static const char *const token[] = {"module", "softhsm_conf", "label",
	    "pin_file", "pin_env", NULL};
	static const char *const listen[] = {"http", "https", NULL};
	static const char *const crl[] = {"interval_s", "next_update_s",
	    "delay_s", "delta_s", NULL};
	static const char *const ocsp[] = {"refresh_s", "validity_s", NULL};
	static const char *const audit[] = {"checkpoint_s", NULL};
	static const char *const limits[] = {"max_body_bytes",
	    "request_timeout_s", "max_connections", "threads",
	    "max_connections_per_ip", "request_deadline_s",
	    "shutdown_grace_s", "ocsp_nonce_per_s", "ocsp_nonce_burst", NULL};
	json_t *sec, *v;
	size_t i;
	char fld[32];
	int r;

	GUARD(cfg_known(rd, root, "", top));
	v = json_object_get(root, "version");
	ENSURE(json_is_integer(v) && json_integer_value(v) == 1,
	    gp_err_set(GP_ERR_CONFIG,
	    "%s: field version must be 1 (this govpki reads version 1)",
	    rd->file));
	GUARD(cfg_str(rd, root, "", "instance", 0, 0, &cfg->instance_name));

	sec = cfg_section(root, "token");
	GUARD(cfg_known(rd, sec, "token", token));
	GUARD(cfg_str(rd, sec, "token", "module", 1, 0, &cfg->module));
	GUARD(cfg_str(rd, sec, "token", "softhsm_conf", 0, 1,
	    &cfg->softhsm_conf));
	GUARD(cfg_str(rd, sec, "token", "label", 1, 0, &cfg->token_label));
	GUARD(cfg_str(rd, sec, "token", "pin_file", 0, 1, &cfg->pin_file));
	GUARD(cfg_str(rd, sec, "token", "pin_env", 0, 0, &cfg->pin_env));

	sec = cfg_section(root, "keys");
	GUARD(cfg_known(rd, sec, "keys", (const char *const *)gp_key_names));
	for (i = 0; i < GP_KEY_COUNT; i++) {
		GUARD(cfg_str(rd, sec, "keys", gp_key_names[i], 1, 0,
		    &cfg->key_uri[i]));
		ENSURE(strncmp(cfg->key_uri[i], "pkcs11:", 7) == 0 ||
		    strncmp(cfg->key_uri[i], "file:", 5) == 0,
		    gp_err_set(GP_ERR_CONFIG,
		    "%s: field keys.%s must be a pkcs11: or file: URI",
		    rd->file, gp_key_names[i]));
	}

	sec = cfg_section(root, "listen");
	GUARD(cfg_known(rd, sec, "listen", listen));
	GUARD(cfg_str(rd, sec, "listen", "http", 0, 0, &cfg->http_listen));
	GUARD(cfg_str(rd, sec, "listen", "https", 0, 0, &cfg->https_listen));
	if (cfg->http_listen == NULL || cfg->https_listen == NULL) {
		r = gp_err_set(GP_ERR_CONFIG,
		    "%s: fields listen.http and listen.https are required",
		    rd->file);
		goto out;
	}
	GUARD(cfg_listen_check(rd, "listen.http", cfg->http_listen));
	GUARD(cfg_listen_check(rd, "listen.https", cfg->https_listen));

	GUARD(cfg_str(rd, root, "", "public_url", 1, 0, &cfg->public_url));
	if (gp_public_url_check("public_url", cfg->public_url) != 0) {
		r = cfg_field_err(rd);
		goto out;
	}
	GUARD(cfg_str(rd, root, "", "profiles_dir", 1, 1, &cfg->profiles_dir));

	v = json_object_get(root, "hostnames");
	if (v != NULL) {
		ENSURE(json_is_array(v) && json_array_size(v) <= 64,
		    gp_err_set(GP_ERR_CONFIG,
		    "%s: field hostnames must be an array of at most 64 names",
		    rd->file));
		cfg->hostnames = calloc(json_array_size(v) + 1,
		    sizeof(char *));
		ENSURE(cfg->hostnames != NULL, GP_ERR_NOMEM);
		for (i = 0; i < json_array_size(v); i++) {
			json_t *h = json_array_get(v, i);
			ENSURE(json_is_string(h) &&
			    json_string_length(h) > 0 &&
			    json_string_length(h) < 254,
			    gp_err_set(GP_ERR_CONFIG,
			    "%s: field hostnames[%zu] must be a host name",
			    rd->file, i));
			cfg->hostnames[i] = strdup(json_string_value(h));
			ENSURE(cfg->hostnames[i] != NULL, GP_ERR_NOMEM);
			cfg->hostnames_len = i + 1;
			snprintf(fld, sizeof(fld), "hostnames[%zu]", i);
			if (gp_hostname_check(fld, cfg->hostnames[i]) != 0) {
				r = cfg_field_err(rd);
				goto out;
			}
		}
	}

	sec = cfg_section(root, "crl");
	GUARD(cfg_known(rd, sec, "crl", crl));
	GUARD(cfg_int(rd, sec, "crl", "interval_s", 60, 7 * 86400,
	    &cfg->crl_interval_s));
	GUARD(cfg_int(rd, sec, "crl", "next_update_s", 300, 30 * 86400,
	    &cfg->crl_next_update_s));
	GUARD(cfg_int(rd, sec, "crl", "delay_s", 0, 3600, &cfg->crl_delay_s));
	/* 0: no delta CRLs. */
	GUARD(cfg_int(rd, sec, "crl", "delta_s", 0, 86400, &cfg->crl_delta_s));
	ENSURE(cfg->crl_delta_s == 0 || (cfg->crl_delta_s >= 10 &&
	    cfg->crl_delta_s < cfg->crl_interval_s), gp_err_set(GP_ERR_CONFIG,
	    "%s: field crl.delta_s must be 0 (no delta CRLs) or from 10 to "
	    "below crl.interval_s (%lld)", rd->file,
	    (long long)cfg->crl_interval_s));
	sec = cfg_section(root, "ocsp");
	GUARD(cfg_known(rd, sec, "ocsp", ocsp));
	GUARD(cfg_int(rd, sec, "ocsp", "refresh_s", 10, 7 * 86400,
	    &cfg->ocsp_refresh_s));
	GUARD(cfg_int(rd, sec, "ocsp", "validity_s", 60, 30 * 86400,
	    &cfg->ocsp_validity_s));
	sec = cfg_section(root, "audit");
	GUARD(cfg_known(rd, sec, "audit", audit));
	GUARD(cfg_int(rd, sec, "audit", "checkpoint_s", 1, 86400,
	    &cfg->audit_checkpoint_s));
	sec = cfg_section(root, "limits");
	GUARD(cfg_known(rd, sec, "limits", limits));
	GUARD(cfg_int(rd, sec, "limits", "max_body_bytes", 1024,
	    (int64_t)1 << 30, &cfg->max_body_bytes));
	GUARD(cfg_int(rd, sec, "limits", "request_timeout_s", 1, 3600,
	    &cfg->request_timeout_s));
	GUARD(cfg_int(rd, sec, "limits", "max_connections", 1, 65536,
	    &cfg->max_connections));
	GUARD(cfg_int(rd, sec, "limits", "threads", 1, 256, &cfg->threads));
	GUARD(cfg_int(rd, sec, "limits", "max_connections_per_ip", 0, 65536,
	    &cfg->max_connections_per_ip));
	GUARD(cfg_int(rd, sec, "limits", "request_deadline_s", 1, 3600,
	    &cfg->request_deadline_s));
	GUARD(cfg_int(rd, sec, "limits", "shutdown_grace_s", 1, 3600,
	    &cfg->shutdown_grace_s));
	GUARD(cfg_int(rd, sec, "limits", "ocsp_nonce_per_s", 0, 1000000,
	    &cfg->ocsp_nonce_per_s));
	GUARD(cfg_int(rd, sec, "limits", "ocsp_nonce_burst", 1, 1000000,
	    &cfg->ocsp_nonce_burst));
	GUARD(cfg_tsa(rd, cfg_section(root, "tsa"), cfg));
	GUARD(cfg_verify(rd, cfg_section(root, "verify"), cfg));
	GUARD(cfg_seals(rd, json_object_get(root, "seals"), cfg));
	GUARD(cfg_tender(rd, cfg_section(root, "tender"), cfg));
	GUARD(cfg_store(rd, cfg_section(root, "store"), cfg));
	r = 0;
out:
	return r;
}

int
gp_config_load(const char *dir, struct gp_config **out)
{
	struct gp_config *cfg = NULL;
	struct cfg_reader rd;
	char *path = NULL, *abs = NULL;
	uint8_t *buf = NULL;
	size_t len;
	json_t *root = NULL;
	json_error_t jerr;
	int r = GP_ERR_INTERNAL;

	*out = NULL;
	if ((abs = realpath(dir, NULL)) == NULL) {
		r = gp_err_set(GP_ERR_NOT_FOUND,
		    "%s: no such instance directory (create one with "
		    "`govpki init --dir %s`)", dir, dir);
		goto out;
	}
	ENSURE((path = gp_path_join(abs, "govpki.json")) != NULL,
	    GP_ERR_NOMEM);
	r = gp_file_read(path, CONFIG_MAX_BYTES, &buf, &len);
	if (r == GP_ERR_NOT_FOUND) {
		r = gp_err_set(GP_ERR_NOT_FOUND,
		    "%s: missing; %s is not a govpki instance (create one "
		    "with `govpki init --dir %s`)", path, dir, dir);
		goto out;
	}
	GUARD(r);
	if ((root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL) {
		r = gp_err_set(GP_ERR_CONFIG, "%s: line %d: %s", path,
		    jerr.line, jerr.text);
		goto out;
	}
	GUARD(gp_config_defaults(abs, &cfg));
	rd.file = path;
	rd.dir = abs;
	GUARD(cfg_parse(&rd, root, cfg));
	*out = cfg;
	cfg = NULL; /* transferred */
	r = 0;
out:
	gp_config_free(cfg);
	json_decref(root);
	free(buf);
	free(path);
	free(abs);
	return r;
}

/* |path| relative to |dir| when it lies inside it. */
static const char *
cfg_rel(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	if (path != NULL && strncmp(path, dir, n) == 0 && path[n] == '/')
		return path + n + 1;
	return path;
}

json_t *
gp_config_to_json(const struct gp_config *cfg)
{
	json_t *root, *keys, *hosts;
	size_t i;

	keys = json_object();
	for (i = 0; i < GP_KEY_COUNT; i++)
		json_object_set_new(keys, gp_key_names[i],
		    json_string(cfg->key_uri[i]));
	hosts = json_array();
	for (i = 0; i < cfg->hostnames_len; i++)
		json_array_append_new(hosts, json_string(cfg->hostnames[i]));
	root = json_pack("{s:i, s:s, s:{s:s, s:s?, s:s, s:s?, s:s?}, s:o, "
	    "s:{s:s, s:s}, s:s, s:o, s:s, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I}, "
	    "s:{s:I}, s:{s:I, s:I, s:I, s:I}}",
	    "version", 1,
	    "instance", cfg->instance_name,
	    "token",
	    "module", cfg->module,
	    "softhsm_conf", cfg_rel(cfg->dir, cfg->softhsm_conf),
	    "label", cfg->token_label,
	    "pin_file", cfg_rel(cfg->dir, cfg->pin_file),
	    "pin_env", cfg->pin_env,
	    "keys", keys,
	    "listen", "http", cfg->http_listen, "https", cfg->https_listen,
	    "public_url", cfg->public_url,
	    "hostnames", hosts,
	    "profiles_dir", cfg_rel(cfg->dir, cfg->profiles_dir),
	    "crl", "interval_s", (json_int_t)cfg->crl_interval_s,
	    "next_update_s", (json_int_t)cfg->crl_next_update_s,
	    "delay_s", (json_int_t)cfg->crl_delay_s,
	    "delta_s", (json_int_t)cfg->crl_delta_s,
	    "ocsp", "refresh_s", (json_int_t)cfg->ocsp_refresh_s,
	    "validity_s", (json_int_t)cfg->ocsp_validity_s,
	    "audit", "checkpoint_s", (json_int_t)cfg->audit_checkpoint_s,
	    "limits", "max_body_bytes", (json_int_t)cfg->max_body_bytes,
	    "request_timeout_s", (json_int_t)cfg->request_timeout_s,
	    "max_connections", (json_int_t)cfg->max_connections,
	    "threads", (json_int_t)cfg->threads);
	if (root != NULL) {
		/* limits on one client address and on shutdown (server/) */
		json_t *lim = json_pack("{s:I, s:I, s:I, s:I, s:I}",
		    "max_connections_per_ip",
		    (json_int_t)cfg->max_connections_per_ip,
		    "request_deadline_s", (json_int_t)cfg->request_deadline_s,
		    "shutdown_grace_s", (json_int_t)cfg->shutdown_grace_s,
		    "ocsp_nonce_per_s", (json_int_t)cfg->ocsp_nonce_per_s,
		    "ocsp_nonce_burst", (json_int_t)cfg->ocsp_nonce_burst);

		if (lim == NULL || json_object_update(json_object_get(root,
		    "limits"), lim) != 0) {
			json_decref(root);
			root = NULL;
		}
		json_decref(lim);
	}
	if (root != NULL) {
		json_t *pol = json_array();

		for (i = 0; pol != NULL && i < cfg->tsa_policies_len; i++)
			json_array_append_new(pol,
			    json_string(cfg->tsa_policies[i]));
		if (json_object_set_new(root, "tsa", json_pack("{s:s, s:o, "
		    "s:I, s:I, s:I, s:I, s:b, s:I, s:s}",
		    "policy", cfg->tsa_policy,
		    "policies", pol,
		    "accuracy_s", (json_int_t)cfg->tsa_accuracy_s,
		    "accuracy_ms", (json_int_t)cfg->tsa_accuracy_ms,
		    "accuracy_us", (json_int_t)cfg->tsa_accuracy_us,
		    "precision_digits", (json_int_t)cfg->tsa_precision_digits,
		    "allow_sha1", cfg->tsa_allow_sha1,
		    "max_request_bytes",
		    (json_int_t)cfg->tsa_max_request_bytes,
		    "clock_check", cfg->tsa_clock_check)) != 0) {
			json_decref(root);
			root = NULL;
		}
	}
	if (root != NULL) {
		json_t *allow = json_array(), *types = json_array();

		for (i = 0; allow != NULL && i < cfg->verify_fetch_allow_len;
		    i++)
			json_array_append_new(allow,
			    json_string(cfg->verify_fetch_allow[i]));
		for (i = 0; types != NULL &&
		    i < cfg->verify_content_types_len; i++)
			json_array_append_new(types,
			    json_string(cfg->verify_content_types[i]));
		if (json_object_set_new(root, "verify", json_pack("{s:b, s:o?, "
		    "s:I, s:I, s:o?}", "fetch_revocation", cfg->verify_fetch,
		    "fetch_allow", allow, "fetch_timeout_ms",
		    (json_int_t)cfg->verify_fetch_timeout_ms,
		    "fetch_max_bytes", (json_int_t)cfg->verify_fetch_max_bytes,
		    "content_types", types)) != 0) {
			json_decref(root);
			root = NULL;
		}
	}
	if (root != NULL && json_object_set_new(root, "tender", json_pack(
	    "{s:I, s:s}", "max_bid_bytes", (json_int_t)cfg->tender_max_bid_bytes,
	    "seal", cfg->tender_seal)) != 0) {
		json_decref(root);
		root = NULL;
	}
	if (root != NULL && cfg->store_url != NULL &&
	    json_object_set_new(root, "store", json_pack("{s:s, s:s?, s:s?}",
	    "url", cfg->store_url, "password_file", cfg_rel(cfg->dir,
	    cfg->store_password_file), "password_env",
	    cfg->store_password_env)) != 0) {
		json_decref(root);
		root = NULL;
	}
	if (root != NULL && cfg->seals_len > 0) {
		json_t *arr = json_array(), *roles, *serials;

		for (i = 0; arr != NULL && i < cfg->seals_len; i++) {
			const struct gp_seal *sl = &cfg->seals[i];
			size_t j;

			roles = json_array();
			serials = json_array();
			for (j = 0; j < sl->roles_len; j++)
				json_array_append_new(roles,
				    json_string(sl->roles[j]));
			for (j = 0; j < sl->serials_len; j++)
				json_array_append_new(serials,
				    json_string(sl->serials[j]));
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, "
			    "s:o, s:o}", "name", sl->name, "key", sl->key_uri,
			    "cert", cfg_rel(cfg->dir, sl->cert), "roles", roles,
			    "serials", serials));
		}
		if (arr == NULL || json_object_set_new(root, "seals", arr) !=
		    0) {
			json_decref(root);
			root = NULL;
		}
	}
	return root;
}
