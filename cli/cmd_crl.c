/*
 * cmd_crl.c: `govpki ca crl [--dir DIR] [--ca ca|root] [--json]`: generates
 * a full CRL now (ca/ca_crl.c) into DIR/crl/<ca>.crl, which a running
 * server then serves at /crl/<ca>.crl. The CRL number comes from the store,
 * so CRLs generated here and by the server share one monotonic sequence;
 * the generation is audited as the local user. cmd_ca() dispatches here.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "cli/cli.h"
#include "instance/instance.h"

static void
crl_help(void)
{
	printf("usage: govpki ca crl [--dir DIR] [--ca ca|root] [--json]\n\n"
	    "Generates the full CRL of the issuing CA (ca, the default) or of "
	    "the root (root,\n"
	    "listing revoked sub-CAs) now, signed with that CA's key on the "
	    "token, into\n"
	    "DIR/crl/<ca>.crl (DER, replaced atomically). The server also "
	    "generates CRLs on its\n"
	    "schedule and after status changes; this is the on-demand way.\n\n"
	    "  --dir DIR    instance directory (default ./var)\n"
	    "  --ca NAME    ca or root\n"
	    "  --json       print the result as one JSON object\n");
}

int
cmd_ca_crl(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"ca", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *dir = CLI_DEFAULT_DIR, *which = "ca";
	struct instance *inst = NULL;
	struct ca_crl_spec spec;
	struct ca_crl_info info;
	char name[32], *crl_dir = NULL, *path = NULL;
	int json = 0, c, key, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'c':
			which = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			crl_help();
			return CLI_OK;
		default:
			return cli_usage("ca crl", "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage("ca crl", "unexpected argument");
	if (strcmp(which, "ca") == 0)
		key = GP_KEY_CA;
	else if (strcmp(which, "root") == 0)
		key = GP_KEY_ROOT;
	else
		return cli_usage("ca crl", "--ca must be ca or root");
	GUARD(instance_open(dir, INSTANCE_KEYS, &inst));
	snprintf(name, sizeof(name), "crl/%s.crl", which);
	ENSURE((crl_dir = gp_path_join(inst->cfg->dir, "crl")) != NULL &&
	    (path = gp_path_join(inst->cfg->dir, name)) != NULL,
	    GP_ERR_NOMEM);
	GUARD(gp_mkdir(crl_dir, 0755));
	memset(&spec, 0, sizeof(spec));
	spec.st = inst->st;
	spec.audit = inst->audit;
	spec.issuer = which;
	spec.issuer_cert = inst->cert[key];
	spec.issuer_key = inst->key[key];
	spec.out_path = path;
	spec.next_update_s = inst->cfg->crl_next_update_s;
	spec.actor = inst->actor;
	spec.role = "local";
	GUARD(ca_crl_generate(&spec, &info));
	if (json)
		cli_print_json(json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I}",
		    "ca", which, "file", path, "number",
		    (json_int_t)info.number, "entries",
		    (json_int_t)info.entries, "this_update",
		    (json_int_t)info.this_update, "next_update",
		    (json_int_t)info.next_update, "bytes",
		    (json_int_t)info.bytes));
	else
		printf("CRL %s number %lld: %lld entries, %llu bytes, "
		    "next update in %lld s\n  %s\n", which,
		    (long long)info.number, (long long)info.entries,
		    (unsigned long long)info.bytes,
		    (long long)(info.next_update - info.this_update), path);
	r = 0;
out:
	free(crl_dir);
	free(path);
	instance_free(inst);
	return r == 0 ? CLI_OK : cli_fail(r, json);
}
