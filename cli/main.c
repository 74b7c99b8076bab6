/*
 * main.c: the govpki binary. Hardens the process (no core dumps, so a PIN
 * or a key in memory never lands on disk), sets UTF8String as the encoding
 * of every certificate name, and dispatches to cmd_<name>().
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <openssl/asn1.h>

#include "cli/cli.h"

#ifndef GP_VERSION
#define GP_VERSION "0.1.0"
#endif

struct cli_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct cli_cmd cli_cmds[] = {
	{"init", cmd_init, "create a new instance (token, keys, certificates)"},
	{"serve", cmd_serve, "serve an instance over HTTP and HTTPS"},
	{"token", cmd_token, "PKCS#11 tokens: list, init, keygen, csr, certs, PIN"},
	{"audit", cmd_audit, "verify, list, export, witness the audit log; its key"},
	{"tsa", cmd_tsa, "time-stamps (RFC 3161): stamp a file, verify a token"},
	{"ca", cmd_ca, "issue, approve, revoke, hold, release, list, show"},
	{"sign", cmd_sign, "sign a file (CMS, CAdES B-B/B-T) with a token key"},
	{"verify", cmd_verify, "verify a CMS signature and its approval steps"},
	{"tender", cmd_tender, "sealed-bid tenders: create, show, open, close, record"},
	{"bid", cmd_bid, "seal, submit, withdraw a bid, release its key (bidder)"},
	{"store", cmd_store, "move an instance's SQLite store to PostgreSQL"},
};

static void
main_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: govpki COMMAND [options]\n\ncommands:\n");
	for (i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++)
		fprintf(f, "  %-8s %s\n", cli_cmds[i].name, cli_cmds[i].summary);
	fprintf(f, "  %-8s %s\n\n", "version", "print the version");
	fprintf(f, "Every command and sub-command takes --help (its own "
	    "usage) and --json\n(machine output on stdout). Exit codes: 0 "
	    "success, 1 failure, 2 usage error.\n");
}

/* `govpki version [--json]`. */
static int
main_version(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, json = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'h':
			printf("usage: govpki version [--json]\n\n"
			    "Prints the version of govpki (--json: "
			    "{\"version\":\"...\"}).\n");
			return CLI_OK;
		default:
			return cli_bad_option("version", argc, argv);
		}
	}
	if (optind != argc)
		return cli_usage("version", "takes no argument");
	if (json)
		cli_print_json(json_pack("{s:s}", "version", GP_VERSION));
	else
		printf("govpki %s\n", GP_VERSION);
	return CLI_OK;
}

static void
main_harden(void)
{
	struct rlimit rl = {0, 0};

	/* Secrets must never reach a core dump. */
	(void)setrlimit(RLIMIT_CORE, &rl);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int
main(int argc, char **argv)
{
	size_t i;
	int rc;

	main_harden();
	/* Names are UTF8String (RFC 5280 4.1.2.4; Chinese names). */
	if (!ASN1_STRING_set_default_mask_asc("utf8only"))
		return CLI_FAIL;
	if ((rc = cli_group_help(argc, argv, main_usage)) >= 0)
		return rc;
	if (strcmp(argv[1], "version") == 0 ||
	    strcmp(argv[1], "--version") == 0)
		return main_version(argc - 1, argv + 1);
	for (i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++) {
		if (strcmp(argv[1], cli_cmds[i].name) == 0)
			return cli_cmds[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "govpki: unknown command \"%s\"\n", argv[1]);
	main_usage(stderr);
	return CLI_USAGE;
}
