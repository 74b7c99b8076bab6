/*
 * inst_crl.c: the CRLs an instance publishes, as DER files under
 * DIR/crl/<name>.crl that the server streams at GET /crl/<name>.crl: the
 * full CRLs of the issuing CA ("ca") and of the root ("root", listing
 * revoked sub-CAs), and the issuing CA's delta CRL ("ca-delta") when
 * crl.delta_s is set. The server's schedule and `govpki ca crl` both
 * generate through here, so both publish the same CRLs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instance/instance.h"

/* A delta follows the full CRL of its issuer: one pass over the table
 * (the server's schedule) issues a new base and then its first delta. */
const struct instance_crl instance_crls[INSTANCE_CRLS] = {
	{"ca", "ca", GP_KEY_CA, 0},
	{"root", "root", GP_KEY_ROOT, 0},
	{"ca-delta", "ca", GP_KEY_CA, 1},
};

const struct instance_crl *
instance_crl_find(const char *name)
{
	const struct instance_crl *c;

	for (c = instance_crls; name != NULL && c < instance_crls +
	    INSTANCE_CRLS; c++) {
		if (strcmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

int
instance_crl_deltas(const struct instance *inst, const struct instance_crl *c)
{
	return inst->cfg->crl_delta_s > 0 && strcmp(c->issuer, "ca") == 0;
}

char *
instance_crl_path(const struct instance *inst, const struct instance_crl *c)
{
	char name[64];

	snprintf(name, sizeof(name), "crl/%s.crl", c->name);
	return gp_path_join(inst->cfg->dir, name);
}

int
instance_crl_generate(struct instance *inst, const struct instance_crl *c,
    const struct instance_who *who, struct ca_crl_info *info)
{
	struct ca_crl_spec spec;
	char *dir = NULL, *path = NULL, *fresh = NULL;
	int r;

	ENSURE(c != NULL && who != NULL, GP_ERR_INVALID);
	ENSURE(!c->delta || instance_crl_deltas(inst, c), gp_err_set(
	    GP_ERR_INVALID, "CRL %s: delta CRLs are off; set crl.delta_s in "
	    "govpki.json", c->name));
	ENSURE(inst->key[c->key] != NULL, gp_err_set(GP_ERR_LOGIN_REQUIRED,
	    "CRL %s: the key is not loaded", c->name));
	ENSURE((dir = gp_path_join(inst->cfg->dir, "crl")) != NULL &&
	    (path = instance_crl_path(inst, c)) != NULL, GP_ERR_NOMEM);
	GUARD(gp_mkdir(dir, 0755));
	memset(&spec, 0, sizeof(spec));
	spec.st = inst->st;
	spec.audit = inst->audit;
	spec.issuer = c->issuer;
	spec.issuer_cert = inst->cert[c->key];
	spec.issuer_key = inst->key[c->key];
	spec.out_path = path;
	spec.next_update_s = inst->cfg->crl_next_update_s;
	spec.delta = c->delta;
	if (c->delta) {
		/* Issued every delta_s: nextUpdate leaves one period of
		 * slack. */
		spec.next_update_s = 2 * inst->cfg->crl_delta_s;
	} else if (instance_crl_deltas(inst, c)) {
		ENSURE(asprintf(&fresh, "%s/crl/%s-delta.crl",
		    inst->cfg->public_url, c->name) >= 0, GP_ERR_NOMEM);
		spec.freshest_url = fresh;
	}
	spec.actor = who->actor;
	spec.role = who->role;
	spec.request_id = who->request_id;
	spec.client = who->client;
	GUARD(ca_crl_generate(&spec, info));
	r = 0;
out:
	free(fresh);
	free(dir);
	free(path);
	return r;
}
