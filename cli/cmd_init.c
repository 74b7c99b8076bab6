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
#define INIT_DEFAULT_URL "http://127.0.0.1:8080"

static void
init_help(void)
{
	printf("usage: govpki init [--dir DIR] [--algo ALGO] [--public-url URL] "
	    "[--hostname NAME]...\n"
	    "                   [--profiles DIR] [--dev-clock] [--json]\n"
	    "                   [--store URL [--store-password-file FILE | "
	    "--store-password-env NAME]]\n\n"
	    "Creates a new govpki instance in DIR (default ./var), which must "
	    "not exist or be empty:\n"
	    "a SoftHSM token with random PINs in DIR/secrets (embedded default "
	    "only; production\n"
	    "supplies the PIN through token.pin_file or $GOVPKI_PIN), the root "
	    "CA, issuing CA, TSA,\n"
	    "OCSP and audit keys generated on the token (sensitive, "
	    "non-extractable), their\n"
	    "certificates in DIR/certs, the admin TLS certificate, one "
	    "client certificate for\n"
	    "each administrative role in DIR/admin, and a copy of the "
	    "profiles in DIR/policies.\n"
	    "Nothing is left behind on failure.\n\n"
	    "  --dir DIR        instance directory (default ./var)\n"
	    "  --algo ALGO      ec-p256 (default), ec-p384, rsa-2048, rsa-3072\n"
	    "  --public-url URL where relying parties reach the public "
	    "listener, e.g.\n"
	    "                   https://pki.example.gov.cn: the base of the "
	    "CRL, OCSP and\n"
	    "                   caIssuers URLs in every certificate (default "
	    "http://127.0.0.1:8080,\n"
	    "                   which only this machine can reach)\n"
	    "  --hostname NAME  extra DNS name or IP address for the admin TLS "
	    "certificate\n"
	    "                   (repeatable; localhost and 127.0.0.1 are "
	    "always in it)\n"
	    "  --profiles DIR   the profiles to copy (default: the installed "
	    "ones)\n"
	    "  --dev-clock      DEVELOPMENT ONLY: tsa.clock_check \"warn\", "
	    "so the TSA issues\n"
	    "                   time-stamps on a machine whose clock no NTP "
	    "daemon disciplines;\n"
	    "                   without it \"strict\" (ETSI EN 319 421: no "
	    "time-stamp then)\n"
	    "  --store URL      keep the store in the PostgreSQL database URL\n"
	    "                   (postgresql://user@host/db, no password in "
	    "it; the database\n"
	    "                   must exist and be empty) instead of "
	    "DIR/govpki.db, so that\n"
	    "                   several `govpki serve` nodes can share it "
	    "(docs/postgres.md)\n"
	    "  --store-password-file FILE\n"
	    "                   its password, from the first line of FILE "
	    "(store.password_file)\n"
	    "  --store-password-env NAME\n"
	    "                   its password, from the environment variable "
	    "NAME\n"
	    "                   (store.password_env); with neither, libpq's "
	    "~/.pgpass\n"
	    "  --json           print the result as JSON\n");
}

int
cmd_init(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"algo", required_argument, NULL, 'a'},
		{"hostname", required_argument, NULL, 'H'},
		{"public-url", required_argument, NULL, 'u'},
		{"profiles", required_argument, NULL, 'p'},
		{"dev-clock", no_argument, NULL, 'c'},
		{"store", required_argument, NULL, 'S'},
		{"store-password-file", required_argument, NULL, 'F'},
		{"store-password-env", required_argument, NULL, 'E'},
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
	opterr = 0;
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
		case 'u':
			opts.public_url = optarg;
			break;
		case 'p':
			opts.profiles = optarg;
			break;
		case 'c':
			opts.dev_clock = 1;
			break;
		case 'S':
			opts.store_url = optarg;
			break;
		case 'F':
			opts.store_password_file = optarg;
			break;
		case 'E':
			opts.store_password_env = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			init_help();
			return CLI_OK;
		default:
			return cli_bad_option("init", argc, argv);
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
		cli_print_json(json_pack("{s:s, s:s, s:s, s:s, s:s}", "status",
		    "created", "dir", opts.dir, "algo", algo, "public_url",
		    opts.public_url ? opts.public_url : INIT_DEFAULT_URL,
		    "clock_check", opts.dev_clock ? "warn" : "strict"));
	else
		printf("created govpki instance in %s (keys: %s on the "
		    "SoftHSM token \"govpki\")\ncertificates name %s%s\n"
		    "serve it with: govpki serve --dir %s\n", opts.dir, algo,
		    opts.public_url ? opts.public_url : INIT_DEFAULT_URL,
		    opts.public_url ? "" : " (only this machine reaches it; "
		    "a deployment gives --public-url)", opts.dir);
	return CLI_OK;
}
