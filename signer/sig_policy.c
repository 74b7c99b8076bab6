/*
 * sig_policy.c: approval policies, one JSON file each in
 * policies/approvals/ (a subfolder, so the certificate-profile loader that
 * reads the JSON files of policies/ never sees them):
 *
 *   {"name": "approval-5", "description": "...",
 *    "require_timestamp": false,
 *    "steps": [{"name": "accept", "optional": false, "repeatable": false,
 *               "signers": [{"profile": "enterprise",
 *                            "role": "officer",
 *                            "organization": "..."}]}, ...]}
 *
 * A step's "signers" is a list of rules; a signer may sign the step when
 * any rule matches, and a rule matches when every field it gives matches
 * (profile: the profile this instance issued the certificate under; role:
 * the stored role or the subject's title; organization: the subject's O).
 * An empty or absent list lets any signer whose certificate verifies sign.
 * Unknown fields are refused, like govpki.json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signer/internal.h"

#define SIG_POLICY_MAX_BYTES (64 * 1024)

static void
sig_rule_clear(struct sig_rule *ru)
{
	free(ru->profile);
	free(ru->role);
	free(ru->organization);
}

void
sig_policy_free(struct sig_policy *p)
{
	size_t i, j;

	if (p == NULL)
		return;
	for (i = 0; i < p->steps_len; i++) {
		free(p->steps[i].name);
		for (j = 0; j < p->steps[i].rules_len; j++)
			sig_rule_clear(&p->steps[i].rules[j]);
		free(p->steps[i].rules);
	}
	free(p->steps);
	free(p->name);
	free(p);
}

const char *
sig_policy_name(const struct sig_policy *p)
{
	return p ? p->name : NULL;
}

int
sig_policy_step_index(const struct sig_policy *p, const char *name)
{
	size_t i;

	if (p == NULL || name == NULL)
		return -1;
	for (i = 0; i < p->steps_len; i++) {
		if (strcmp(p->steps[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

static int
sig_known(const char *file, const char *where, json_t *obj,
    const char *const *known)
{
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_object(obj))
		return gp_err_set(GP_ERR_CONFIG, "%s: %s must be an object",
		    file, where);
	json_object_foreach(obj, key, v) {
		for (i = 0; known[i] != NULL; i++) {
			if (strcmp(known[i], key) == 0)
				break;
		}
		if (known[i] == NULL)
			return gp_err_set(GP_ERR_CONFIG, "%s: unknown field "
			    "%s.%s (check its spelling)", file, where, key);
	}
	return 0;
}

static int
sig_opt_str(const char *file, const char *where, json_t *obj,
    const char *key, char **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > 256)
		return gp_err_set(GP_ERR_CONFIG, "%s: field %s.%s must be a "
		    "string of 1 to 256 bytes", file, where, key);
	return (*out = strdup(json_string_value(v))) ? 0 : GP_ERR_NOMEM;
}

static int
sig_policy_parse(const char *file, json_t *root, struct sig_policy *p)
{
	static const char *const top[] = {"name", "description",
	    "require_timestamp", "steps", NULL};
	static const char *const step[] = {"name", "optional", "repeatable",
	    "signers", NULL};
	static const char *const rule[] = {"profile", "role", "organization",
	    NULL};
	json_t *steps, *s, *v, *rules;
	char where[64];
	size_t i, j, k;
	int r;

	GUARD(sig_known(file, "policy", root, top));
	GUARD(sig_opt_str(file, "policy", root, "name", &p->name));
	ENSURE(p->name != NULL, gp_err_set(GP_ERR_CONFIG, "%s: field name is "
	    "required", file));
	v = json_object_get(root, "require_timestamp");
	ENSURE(v == NULL || json_is_boolean(v), gp_err_set(GP_ERR_CONFIG,
	    "%s: field require_timestamp must be true or false", file));
	p->require_timestamp = v != NULL && json_is_true(v);
	steps = json_object_get(root, "steps");
	ENSURE(json_is_array(steps) && json_array_size(steps) > 0 &&
	    json_array_size(steps) <= SIG_MAX_SIGNERS,
	    gp_err_set(GP_ERR_CONFIG, "%s: field steps must be an array of 1 "
	    "to %d steps", file, SIG_MAX_SIGNERS));
	ENSURE((p->steps = calloc(json_array_size(steps),
	    sizeof(*p->steps))) != NULL, GP_ERR_NOMEM);
	json_array_foreach(steps, i, s) {
		struct sig_step *st = &p->steps[i];

		p->steps_len = i + 1;
		snprintf(where, sizeof(where), "steps[%zu]", i);
		GUARD(sig_known(file, where, s, step));
		GUARD(sig_opt_str(file, where, s, "name", &st->name));
		ENSURE(st->name != NULL && strlen(st->name) <= SIG_MAX_STEP,
		    gp_err_set(GP_ERR_CONFIG, "%s: field %s.name is required "
		    "(at most %d bytes)", file, where, SIG_MAX_STEP));
		for (k = 0; k < i; k++)
			ENSURE(strcmp(p->steps[k].name, st->name) != 0,
			    gp_err_set(GP_ERR_CONFIG, "%s: field %s.name: "
			    "step \"%s\" is named twice", file, where,
			    st->name));
		v = json_object_get(s, "optional");
		ENSURE(v == NULL || json_is_boolean(v),
		    gp_err_set(GP_ERR_CONFIG, "%s: field %s.optional must be "
		    "true or false", file, where));
		st->optional = v != NULL && json_is_true(v);
		v = json_object_get(s, "repeatable");
		ENSURE(v == NULL || json_is_boolean(v),
		    gp_err_set(GP_ERR_CONFIG, "%s: field %s.repeatable must "
		    "be true or false", file, where));
		st->repeatable = v != NULL && json_is_true(v);
		rules = json_object_get(s, "signers");
		if (rules == NULL)
			continue;
		ENSURE(json_is_array(rules) && json_array_size(rules) <= 32,
		    gp_err_set(GP_ERR_CONFIG, "%s: field %s.signers must be "
		    "an array of at most 32 rules", file, where));
		if (json_array_size(rules) == 0)
			continue;
		ENSURE((st->rules = calloc(json_array_size(rules),
		    sizeof(*st->rules))) != NULL, GP_ERR_NOMEM);
		json_array_foreach(rules, j, v) {
			struct sig_rule *ru = &st->rules[j];

			st->rules_len = j + 1;
			snprintf(where, sizeof(where), "steps[%zu].signers[%zu]",
			    i, j);
			GUARD(sig_known(file, where, v, rule));
			GUARD(sig_opt_str(file, where, v, "profile",
			    &ru->profile));
			GUARD(sig_opt_str(file, where, v, "role", &ru->role));
			GUARD(sig_opt_str(file, where, v, "organization",
			    &ru->organization));
			ENSURE(ru->profile || ru->role || ru->organization,
			    gp_err_set(GP_ERR_CONFIG, "%s: %s names no field "
			    "(profile, role or organization)", file, where));
		}
	}
	r = 0;
out:
	return r;
}

int
sig_policy_load(const char *dir, const char *name_or_path,
    struct sig_policy **out)
{
	struct sig_policy *p = NULL;
	char *path = NULL, *rel = NULL;
	uint8_t *buf = NULL;
	size_t len, i;
	json_t *root = NULL;
	json_error_t jerr;
	int r = GP_ERR_INTERNAL, is_path;

	*out = NULL;
	ENSURE(name_or_path != NULL && name_or_path[0] != '\0',
	    gp_err_set(GP_ERR_INVALID, "policy: no name"));
	len = strlen(name_or_path);
	is_path = strchr(name_or_path, '/') != NULL ||
	    (len > 5 && strcmp(name_or_path + len - 5, ".json") == 0);
	if (is_path) {
		ENSURE((path = strdup(name_or_path)) != NULL, GP_ERR_NOMEM);
	} else {
		/* A name is a file name in approvals/: nothing else. */
		for (i = 0; i < len; i++)
			ENSURE((name_or_path[i] >= 'a' &&
			    name_or_path[i] <= 'z') || (name_or_path[i] >= '0'
			    && name_or_path[i] <= '9') || name_or_path[i] ==
			    '-' || name_or_path[i] == '_',
			    gp_err_set(GP_ERR_INVALID, "policy \"%s\": a name "
			    "is [a-z0-9_-]", name_or_path));
		ENSURE(len <= 64 && asprintf(&rel, "approvals/%s.json",
		    name_or_path) > 0, gp_err_set(GP_ERR_INVALID,
		    "policy: name too long"));
		ENSURE((path = gp_path_join(dir ? dir : ".", rel)) != NULL,
		    GP_ERR_NOMEM);
	}
	r = gp_file_read(path, SIG_POLICY_MAX_BYTES, &buf, &len);
	if (r == GP_ERR_NOT_FOUND) {
		r = gp_err_set(GP_ERR_NOT_FOUND, "policy %s: no such file %s",
		    name_or_path, path);
		goto out;
	}
	GUARD(r);
	if ((root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL) {
		r = gp_err_set(GP_ERR_CONFIG, "%s: line %d: %s", path,
		    jerr.line, jerr.text);
		goto out;
	}
	ENSURE((p = calloc(1, sizeof(*p))) != NULL, GP_ERR_NOMEM);
	GUARD(sig_policy_parse(path, root, p));
	*out = p;
	p = NULL; /* transferred */
	r = 0;
out:
	sig_policy_free(p);
	json_decref(root);
	free(buf);
	free(path);
	free(rel);
	return r;
}

int
sig_policy_may_add(const struct sig_policy *p, const char *const *done,
    size_t done_len, const char *next)
{
	int last = -1, idx, k, n;
	size_t i;

	if (p == NULL)
		return 0;
	if ((n = sig_policy_step_index(p, next)) < 0)
		return gp_err_set(GP_ERR_INVALID, "--step %s: policy %s has no "
		    "such step", next, p->name);
	for (i = 0; i < done_len; i++) {
		if ((idx = sig_policy_step_index(p, done[i])) < 0)
			return gp_err_set(GP_ERR_CONFLICT, "the signature holds "
			    "step \"%s\", which policy %s does not have",
			    done[i], p->name);
		if (idx > last)
			last = idx;
	}
	if (n == last && !p->steps[n].repeatable)
		return gp_err_set(GP_ERR_CONFLICT, "step %s is already signed "
		    "and policy %s does not let it repeat", next, p->name);
	if (n < last)
		return gp_err_set(GP_ERR_CONFLICT, "step %s comes before step "
		    "%s, which is already signed (policy %s)", next,
		    p->steps[last].name, p->name);
	for (k = last + 1; k < n; k++) {
		if (!p->steps[k].optional)
			return gp_err_set(GP_ERR_CONFLICT, "step %s is missing: "
			    "policy %s does not let it be skipped before %s",
			    p->steps[k].name, p->name, next);
	}
	return 0;
}

int
sig_rule_match(const struct sig_rule *ru, const char *profile,
    const char *role, const char *organization)
{
	if (ru->profile && (profile == NULL || strcmp(ru->profile, profile)))
		return 0;
	if (ru->role && (role == NULL || strcmp(ru->role, role)))
		return 0;
	if (ru->organization && (organization == NULL ||
	    strcmp(ru->organization, organization)))
		return 0;
	return 1;
}
