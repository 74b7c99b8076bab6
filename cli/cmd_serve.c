/*
 * cmd_serve.c: `govpki serve`: opens an instance with its keys and serves
 * it until SIGTERM or SIGINT.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "server/server.h"

static void
serve_help(void)
{
	printf("usage: govpki serve [--dir DIR] [--http ADDR:PORT] "
	    "[--https ADDR:PORT] [--est ADDR:PORT]\n"
	    "                    [--node NAME] [--quiet] [--json]\n\n"
	    "Serves the instance in DIR (default ./var): public HTTP (OCSP, "
	    "CRL, TSA, CA\n"
	    "certificates, /healthz, /metrics) and the admin HTTPS API with "
	    "client certificates.\n"
	    "The token PIN comes from token.pin_file, then $GOVPKI_PIN (or "
	    "the configured\n"
	    "token.pin_env), then the terminal. SIGTERM drains requests and "
	    "writes a final\n"
	    "audit checkpoint.\n\n"
	    "  --dir DIR          instance directory (default ./var)\n"
	    "  --http ADDR:PORT   public listener (overrides listen.http)\n"
	    "  --https ADDR:PORT  admin listener (overrides listen.https)\n"
	    "  --est ADDR:PORT    also serve EST (RFC 7030: USB-key "
	    "enrolment, renewal,\n"
	    "                     key delivery) over HTTPS with optional "
	    "client certificates,\n"
	    "                     e.g. 127.0.0.1:8444 (docs/est.md); off "
	    "without it\n"
	    "  --node NAME        this node's name when several serve one "
	    "PostgreSQL store\n"
	    "                     (its own time-stamp bound; the CRL lease; "
	    "default $GOVPKI_NODE,\n"
	    "                     else the host name)\n"
	    "  --quiet            no banner\n"
	    "  --json             log lines on stderr as JSON objects, no "
	    "banner, and a failure\n"
	    "                     to start as {\"error\":{...}} on stdout\n");
}

int
cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"http", required_argument, NULL, 'p'},
		{"https", required_argument, NULL, 's'},
		{"est", required_argument, NULL, 'e'},
		{"quiet", no_argument, NULL, 'q'},
		{"json", no_argument, NULL, 'j'},
		{"node", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct server_opts opts;
	struct instance *inst = NULL;
	const char *dir = CLI_DEFAULT_DIR;
	char *host = NULL;
	uint16_t port;
	const char *node = NULL;
	struct instance probe;
	size_t i;
	int c, r, json = 0;

	memset(&opts, 0, sizeof(opts));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'p':
			opts.http_listen = optarg;
			break;
		case 's':
			opts.https_listen = optarg;
			break;
		case 'e':
			opts.est_listen = optarg;
			break;
		case 'q':
			opts.quiet = 1;
			break;
		case 'j':
			json = 1;
			opts.quiet = 1; /* stdout carries JSON only */
			break;
		case 'n':
			node = optarg;
			break;
		case 'h':
			serve_help();
			return CLI_OK;
		default:
			return cli_bad_option("serve", argc, argv);
		}
	}
	if (optind != argc)
		return cli_usage("serve", "unexpected argument");
	if (opts.http_listen != NULL) {
		if (gp_parse_hostport("--http", opts.http_listen, &host,
		    &port) != 0)
			return cli_usage("serve", gp_err_detail());
		free(host);
	}
	if (opts.https_listen != NULL) {
		if (gp_parse_hostport("--https", opts.https_listen, &host,
		    &port) != 0)
			return cli_usage("serve", gp_err_detail());
		free(host);
	}
	if (node != NULL) {
		/* Checked here; instance_open() takes it from the
		 * environment, before it connects to the store. */
		if (instance_set_node(&probe, node) != 0)
			return cli_usage("serve", gp_err_detail());
		if (setenv(INSTANCE_NODE_ENV, node, 1) != 0)
			return cli_fail(GP_ERR_NOMEM, json);
	}
	if (opts.est_listen != NULL) {
		if (gp_parse_hostport("--est", opts.est_listen, &host,
		    &port) != 0)
			return cli_usage("serve", gp_err_detail());
		free(host);
	}
	gp_log_json(json);
	if ((r = instance_open(dir, INSTANCE_KEYS, &inst)) != 0)
		return cli_fail(r, json);
	for (i = 0; i < GP_KEY_COUNT; i++) {
		if (strncmp(inst->cfg->key_uri[i], "file:", 5) == 0)
			gp_log(GP_LOG_WARN, "key %s is a file: key (%s); "
			    "development and benchmarks only, production keys "
			    "belong on a token", gp_key_names[i],
			    inst->cfg->key_uri[i]);
	}
	r = server_run(inst, &opts);
	instance_free(inst);
	return r == 0 ? CLI_OK : cli_fail(r, json);
}
