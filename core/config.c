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

#include "core/core.h"

#ifndef GP_SOFTHSM_MODULE
#define GP_SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#endif
#ifndef GP_POLICIES_DIR
#define GP_POLICIES_DIR "/usr/local/share/govpki/policies"
#endif

#define CONFIG_MAX_BYTES (256 * 1024)

const char *const gp_key_names[GP_KEY_COUNT] = {"root", "ca", "tsa", "ocsp",
    "audit"};

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
	cfg->ocsp_refresh_s = 3600;
	cfg->ocsp_validity_s = 86400;
	cfg->audit_checkpoint_s = 300;
	cfg->max_body_bytes = 1024 * 1024;
	cfg->request_timeout_s = 30;
	cfg->max_connections = 1024;
	cfg->threads = 4;
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
	    "ocsp", "audit", "limits", NULL};
	static const char *const token[] = {"module", "softhsm_conf", "label",
	    "pin_file", "pin_env", NULL};
	static const char *const listen[] = {"http", "https", NULL};
	static const char *const crl[] = {"interval_s", "next_update_s", NULL};
	static const char *const ocsp[] = {"refresh_s", "validity_s", NULL};
	static const char *const audit[] = {"checkpoint_s", NULL};
	static const char *const limits[] = {"max_body_bytes",
	    "request_timeout_s", "max_connections", "threads", NULL};
	json_t *sec, *v;
	size_t i;
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
	ENSURE(strncmp(cfg->public_url, "http://", 7) == 0 ||
	    strncmp(cfg->public_url, "https://", 8) == 0,
	    gp_err_set(GP_ERR_CONFIG,
	    "%s: field public_url must start with http:// or https://",
	    rd->file));
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
		}
	}

	sec = cfg_section(root, "crl");
	GUARD(cfg_known(rd, sec, "crl", crl));
	GUARD(cfg_int(rd, sec, "crl", "interval_s", 60, 7 * 86400,
	    &cfg->crl_interval_s));
	GUARD(cfg_int(rd, sec, "crl", "next_update_s", 300, 30 * 86400,
	    &cfg->crl_next_update_s));
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
	    "s:{s:s, s:s}, s:s, s:o, s:s, s:{s:I, s:I}, s:{s:I, s:I}, "
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
	    "ocsp", "refresh_s", (json_int_t)cfg->ocsp_refresh_s,
	    "validity_s", (json_int_t)cfg->ocsp_validity_s,
	    "audit", "checkpoint_s", (json_int_t)cfg->audit_checkpoint_s,
	    "limits", "max_body_bytes", (json_int_t)cfg->max_body_bytes,
	    "request_timeout_s", (json_int_t)cfg->request_timeout_s,
	    "max_connections", (json_int_t)cfg->max_connections,
	    "threads", (json_int_t)cfg->threads);
	return root;
}
