/*
 * cmd_crl.c: `govpki ca crl [--dir DIR] [--ca ca|root|ca-delta] [--json]`:
 * generates a CRL now (instance_crl_generate) into DIR/crl/<ca>.crl, which a
 * running server then serves at /crl/<ca>.crl. The CRL number comes from
 * the store, so CRLs generated here and by the server share one monotonic
 * sequence; the generation is audited as the local user. cmd_ca()
 * dispatches here.
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
	printf("usage: govpki ca crl [--dir DIR] [--ca ca|root|ca-delta] "
	    "[--json]\n\n"
	    "Generates the full CRL of the issuing CA (ca, the default) or of "
	    "the root (root,\n"
	    "listing revoked sub-CAs), or the issuing CA's delta CRL "
	    "(ca-delta, when\n"
	    "crl.delta_s is set), now, signed with that CA's key on the token, "
	    "into\n"
	    "DIR/crl/<ca>.crl (DER, replaced atomically). The server also "
	    "generates CRLs on its\n"
	    "schedule and after status changes; this is the on-demand way.\n\n"
	    "  --dir DIR    instance directory (default ./var)\n"
	    "  --ca NAME    ca, root or ca-delta\n"
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
	const struct instance_crl *crl;
	struct instance *inst = NULL;
	struct instance_who who;
	struct ca_crl_info info;
	char *path = NULL;
	int json = 0, c, r;

	optind = 1;
	opterr = 0;
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
			return cli_bad_option("ca crl", argc, argv);
		}
	}
	if (optind != argc)
		return cli_usage("ca crl", "unexpected argument");
	if ((crl = instance_crl_find(which)) == NULL)
		return cli_usage("ca crl", "--ca must be ca, root or ca-delta");
	GUARD(instance_open(dir, INSTANCE_KEYS, &inst));
	ENSURE((path = instance_crl_path(inst, crl)) != NULL, GP_ERR_NOMEM);
	memset(&who, 0, sizeof(who));
	who.actor = inst->actor;
	who.role = "local";
	GUARD(instance_crl_generate(inst, crl, &who, NULL, &info));
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
	free(path);
	instance_free(inst);
	return r == 0 ? CLI_OK : cli_fail(r, json);
}
