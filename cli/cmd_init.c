/*
 * cmd_init.c: `govpki init`: creates a new instance directory (see
 * instance/instance.h for what it holds).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "instance/instance.h"

#define INIT_MAX_HOSTS 16

static void
init_help(void)
{
	printf("usage: govpki init [--dir DIR] [--algo ALGO] [--hostname NAME]... "
	    "[--json]\n\n"
	    "Creates a new govpki instance in DIR (default ./var), which must "
	    "not exist or be empty:\n"
	    "a SoftHSM token with random PINs in DIR/secrets (embedded default "
	    "only; production\n"
	    "supplies the PIN through token.pin_file or $GOVPKI_PIN), the root "
	    "CA, issuing CA, TSA,\n"
	    "OCSP and audit keys generated on the token (sensitive, "
	    "non-extractable), their\n"
	    "certificates in DIR/certs, the admin TLS certificate, and one "
	    "client certificate for\n"
	    "each administrative role in DIR/admin. Nothing is left behind on "
	    "failure.\n\n"
	    "  --dir DIR        instance directory (default ./var)\n"
	    "  --algo ALGO      ec-p256 (default), ec-p384, rsa-2048, rsa-3072\n"
	    "  --hostname NAME  extra name for the TLS certificate (repeatable)\n"
	    "  --json           print the result as JSON\n");
}

int
cmd_init(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"algo", required_argument, NULL, 'a'},
		{"hostname", required_argument, NULL, 'H'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct instance_init_opts opts;
	const char *hosts[INIT_MAX_HOSTS];
	const char *algo = "ec-p256";
	int c, json = 0, r;

	memset(&opts, 0, sizeof(opts));
	opts.dir = CLI_DEFAULT_DIR;
	opts.hostnames = hosts;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			opts.dir = optarg;
			break;
		case 'a':
			algo = optarg;
			break;
		case 'H':
			if (opts.hostnames_len == INIT_MAX_HOSTS)
				return cli_usage("init", "too many --hostname");
			hosts[opts.hostnames_len++] = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			init_help();
			return CLI_OK;
		default:
			return cli_usage("init", "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage("init", "unexpected argument");
	if (tok_algo_parse(algo, &opts.algo) != 0)
		return cli_usage("init",
		    "--algo must be ec-p256, ec-p384, rsa-2048 or rsa-3072");
	if ((r = instance_init(&opts)) != 0)
		return cli_fail(r, json);
	if (json)
		cli_print_json(json_pack("{s:s, s:s, s:s}", "status",
		    "created", "dir", opts.dir, "algo", algo));
	else
		printf("created govpki instance in %s (keys: %s on the "
		    "SoftHSM token \"govpki\")\nserve it with: govpki serve "
		    "--dir %s\n", opts.dir, algo, opts.dir);
	return CLI_OK;
}
