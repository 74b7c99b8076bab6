/*
 * main.c: the govpki binary. Hardens the process (no core dumps, so a PIN
 * or a key in memory never lands on disk), sets UTF8String as the encoding
 * of every certificate name, and dispatches to cmd_<name>().
 */
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
	{"audit", cmd_audit, "verify, list and export the audit log"},
	{"tsa", cmd_tsa, "time-stamps (RFC 3161): stamp a file, verify a token"},
	{"ca", cmd_ca, "issue, approve, revoke, hold, release, list, show"},
	{"sign", cmd_sign, "sign a file (CMS, CAdES B-B/B-T) with a token key"},
	{"verify", cmd_verify, "verify a CMS signature and its approval steps"},
	{"tender", cmd_tender, "sealed-bid tenders: create, show, open, close, record"},
	{"bid", cmd_bid, "seal, submit, withdraw a bid, release its key (bidder)"},
};

static void
main_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: govpki COMMAND [options]\n\ncommands:\n");
	for (i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++)
		fprintf(f, "  %-8s %s\n", cli_cmds[i].name, cli_cmds[i].summary);
	fprintf(f, "  %-8s %s\n\n", "version", "print the version");
	fprintf(f, "Every command takes --help. Exit codes: 0 success, "
	    "1 failure, 2 usage error.\n");
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

	main_harden();
	/* Names are UTF8String (RFC 5280 4.1.2.4; Chinese names). */
	if (!ASN1_STRING_set_default_mask_asc("utf8only"))
		return CLI_FAIL;
	if (argc < 2) {
		main_usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		main_usage(stdout);
		return CLI_OK;
	}
	if (strcmp(argv[1], "version") == 0 ||
	    strcmp(argv[1], "--version") == 0) {
		printf("govpki %s\n", GP_VERSION);
		return CLI_OK;
	}
	for (i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++) {
		if (strcmp(argv[1], cli_cmds[i].name) == 0)
			return cli_cmds[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "govpki: unknown command \"%s\"\n", argv[1]);
	main_usage(stderr);
	return CLI_USAGE;
}
