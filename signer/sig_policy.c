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
 * (profile and role: as this instance's store records them for the
 * signer's certificate, so a certificate from another CA, or one the
 * store does not know, has neither, whatever its subject says;
 * organization: the subject's O). An empty or absent list lets any signer
 * whose certificate verifies sign. Unknown fields are refused, like
 * govpki.json.
 *
 * sig_policy_check() judges the verified signers of a SignedData against
 * a policy and writes the policy part of the report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"

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

/* The signers of step |st| among |o|: appends them to |list|, fails
 * |reasons| for each one not allowed, not valid or without a required
 * time-stamp; returns how many, with their earliest and latest times. */
static size_t
sig_policy_step(const struct sig_policy *p, const struct sig_step *st,
    const struct sig_one *o, size_t n, json_t *list, json_t *reasons,
    int64_t *out_min, int64_t *out_max)
{
	size_t i, m, count = 0;
	char when[32];
	int allowed;

	*out_min = INT64_MAX;
	*out_max = -1;
	for (i = 0; i < n; i++) {
		if (strcmp(o[i].step, st->name) != 0)
			continue;
		allowed = st->rules_len == 0;
		for (m = 0; m < st->rules_len; m++)
			allowed |= sig_rule_match(&st->rules[m], o[i].profile,
			    o[i].role, o[i].organization);
		ca_time_iso(o[i].time, when, sizeof(when));
		json_array_append_new(list, json_pack("{s:I, s:s?, s:s, s:s, "
		    "s:b, s:b}", "index", (json_int_t)i + 1, "subject",
		    o[i].subject, "time", when, "time_source", o[i].time >= 0 ?
		    "timestamp" : "claimed", "valid", o[i].valid, "allowed",
		    allowed));
		if (!allowed)
			json_array_append_new(reasons, json_sprintf("step %s: "
			    "signer %zu is not allowed to sign it", st->name,
			    i + 1));
		if (!o[i].valid)
			json_array_append_new(reasons, json_sprintf("step %s: "
			    "the signature of signer %zu is not valid",
			    st->name, i + 1));
		if (p->require_timestamp && !o[i].has_ts)
			json_array_append_new(reasons, json_sprintf("step %s: "
			    "signer %zu has no time-stamp, which the policy "
			    "requires", st->name, i + 1));
		count++;
		if (o[i].time < *out_min)
			*out_min = o[i].time;
		if (o[i].time > *out_max)
			*out_max = o[i].time;
	}
	return count;
}

int
sig_policy_check(const struct sig_policy *p, const struct sig_one *o,
    size_t n, json_t **out_report)
{
	json_t *rep = NULL, *steps, *reasons, *sj, *list;
	size_t i, k, count;
	int prev_step = -1, r = GP_ERR_NOMEM;
	int64_t prev_max = -1, min_t, max_t;

	*out_report = NULL;
	ENSURE((rep = json_object()) != NULL && (steps = json_array()) !=
	    NULL && json_object_set_new(rep, "steps", steps) == 0 &&
	    (reasons = json_array()) != NULL &&
	    json_object_set_new(rep, "reasons", reasons) == 0, GP_ERR_NOMEM);
	json_object_set_new(rep, "name", json_string(p->name));
	for (i = 0; i < n; i++) {
		if (o[i].step[0] == '\0')
			json_array_append_new(reasons, json_sprintf("signer %zu "
			    "names no step", i + 1));
		else if (sig_policy_step_index(p, o[i].step) < 0)
			json_array_append_new(reasons, json_sprintf("signer %zu "
			    "signs step \"%s\", which policy %s does not have",
			    i + 1, o[i].step, p->name));
	}
	for (k = 0; k < p->steps_len; k++) {
		const struct sig_step *st = &p->steps[k];

		ENSURE((sj = json_object()) != NULL && json_array_append_new(
		    steps, sj) == 0 && (list = json_array()) != NULL &&
		    json_object_set_new(sj, "signers", list) == 0,
		    GP_ERR_NOMEM);
		json_object_set_new(sj, "step", json_string(st->name));
		count = sig_policy_step(p, st, o, n, list, reasons, &min_t,
		    &max_t);
		json_object_set_new(sj, "status", json_string(count ?
		    "signed" : st->optional ? "skipped" : "missing"));
		if (count == 0) {
			if (!st->optional)
				json_array_append_new(reasons, json_sprintf(
				    "step %s is missing", st->name));
			continue;
		}
		if (count > 1 && !st->repeatable)
			json_array_append_new(reasons, json_sprintf("step %s is "
			    "signed %zu times; the policy does not let it "
			    "repeat", st->name, count));
		if (prev_step >= 0 && min_t < prev_max)
			json_array_append_new(reasons, json_sprintf("step %s was "
			    "signed before step %s", st->name,
			    p->steps[prev_step].name));
		prev_step = (int)k;
		prev_max = max_t;
	}
	json_object_set_new(rep, "valid", json_boolean(
	    json_array_size(reasons) == 0));
	r = json_array_size(reasons) == 0 ? 0 : gp_err_set(GP_ERR_CONFLICT,
	    "policy %s: %s", p->name, json_string_value(json_array_get(
	    reasons, 0)));
	*out_report = rep;
	rep = NULL; /* transferred */
out:
	json_decref(rep);
	return r;
}
