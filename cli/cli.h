/*
 * cli.h: the govpki command line. main.c dispatches on the first word to a
 * cmd_<name>() in cli/cmd_<name>.c. Every command:
 *   - parses its own options with getopt_long, and has --help;
 *   - takes --dir DIR (default ./var) when it works on an instance;
 *   - takes --json for machine output (one JSON document, or JSON lines for
 *     listings, on stdout);
 *   - exits CLI_OK (0), CLI_FAIL (1) on failure, CLI_USAGE (2) on bad usage;
 *   - never takes a PIN on the command line (--pin-file FILE, an environment
 *     variable, or the terminal prompt);
 *   - records what it did, success or failure, in the audit log when it works
 *     on an instance.
 */
#ifndef GOVPKI_CLI_H
#define GOVPKI_CLI_H

#include <jansson.h>

#include "core/core.h"

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

#define CLI_DEFAULT_DIR "var"

int cmd_init(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_tsa(int argc, char **argv);
int cmd_ca(int argc, char **argv);
/* `govpki sign` (cmd_sign.c) and `govpki verify` (cmd_verify.c):
 * CMS/CAdES signatures, signer/signer.h. */
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
/* `govpki ca crl ...` (cmd_crl.c); cmd_ca() dispatches "crl" here with
 * argv[0] == "crl". */
int cmd_ca_crl(int argc, char **argv);

/* Prints the failure |code| with this thread's error detail on stderr, or as
 * {"error":{"code":...,"message":...}} on stdout when |json|. Returns
 * CLI_FAIL. */
int cli_fail(int code, int json);

/* Prints a usage error about |what| and the hint to run --help on stderr;
 * returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *what);

/* Prints |obj| as one JSON line on stdout and drops the reference. */
void cli_print_json(json_t *obj);

#endif /* GOVPKI_CLI_H */
