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

#include <stdio.h>

#include <jansson.h>
#include <openssl/x509.h>

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
/* `govpki tender` (cmd_tender.c, the local operator's tenders) and
 * `govpki bid` (cmd_bid.c, the bidder's client): tender/tender.h. */
int cmd_tender(int argc, char **argv);
int cmd_bid(int argc, char **argv);
/* `govpki store migrate` (cmd_store.c): instance/instance.h
 * instance_store_migrate. */
int cmd_store(int argc, char **argv);
/* `govpki token enroll|renew|unblock|decrypt` (cmd_token_est.c): the
 * holder's USB key over EST; cmd_token() dispatches there when
 * cmd_token_est_is(argv[1]), and its group help lists them with
 * cmd_token_est_help(). */
int cmd_token_est(int argc, char **argv);
/* getopt_long takes any unambiguous prefix ("--code" for "--code-file",
 * "--pin" for "--pin-file", whose value would then be printed as a file
 * name): refuses every option of argv[1..] that is not exactly one of
 * |longopts|, naming it without its value, with a hint when it looks
 * like a PIN or an enrolment code. CLI_USAGE, or 0 (cmd_token.c). */
struct option;
int token_exact_options(const char *cmd, int argc, char **argv,
    const struct option *longopts);
/* The user PIN of a token: from |pin_file|, else $GOVPKI_PIN, else asked
 * on the terminal with |prompt|; freed with gp_secret_free(). */
int token_pin(const char *pin_file, const char *prompt, char **out) GP_WUR;
/* The RFC 7512 URI "pkcs11:token=...;object=..." of key |label| on token
 * |token| into |dst| (|len| bytes), each value pct-encoded (2.3). */
void token_uri(char *dst, size_t len, const char *token, const char *label);
int cmd_token_est_is(const char *sub);
void cmd_token_est_help(FILE *f);
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

/* A command group's first word (argv[1]): when it is missing, prints the
 * group's usage with |help| on stderr and returns CLI_USAGE; when it is
 * --help, -h or help, prints it on stdout and returns CLI_OK; otherwise
 * returns -1 (a sub-command to run). */
int cli_group_help(int argc, char **argv, void (*help)(FILE *f));

/* After getopt_long() returned '?' (with opterr = 0, so that getopt
 * prints nothing itself): a usage error naming the option argv[optind - 1]
 * ("unknown option --x", "--dir needs a value", "--json takes no value"),
 * never its value. Returns CLI_USAGE. */
int cli_bad_option(const char *cmd, int argc, char **argv);

/* Asks the question |fmt| on stderr, followed by " [y/N] ", and reads
 * one line from stdin: 1 when it is "y" or "yes" (in any case), 0 for
 * anything else or no line. The caller has checked that stdin is a
 * terminal (or that the user confirmed with --yes and it is not asked). */
int cli_confirm(const char *fmt, ...) GP_PRINTF(1, 2);

/* Prints |obj| as one JSON line on stdout and drops the reference. */
void cli_print_json(json_t *obj);

/* Appends every PEM certificate of the file |path| (at most |max| bytes)
 * to |sk|. GP_ERR_INVALID naming the file when it holds none. */
int cli_pem_certs(const char *path, size_t max, STACK_OF(X509) *sk) GP_WUR;
/* The first PEM certificate of |path| (a trust anchor given on the command
 * line); the caller frees *out. */
int cli_pem_cert(const char *path, size_t max, X509 **out) GP_WUR;

/* `govpki audit witness` (cmd_audit_witness.c), dispatched by cmd_audit()
 * with argv[0] == "witness". */
int cmd_audit_witness(int argc, char **argv);

/* For `govpki audit verify --witness FILE`: checks that the chain in |st|
 * holds every head the witness state file |path| recorded (same seq, same
 * hash), and that the witness pinned |root|. 0 and rep->witnessed
 * counted; GP_ERR_TAMPERED with |rep| naming the first head that is
 * missing or different; GP_ERR_INVALID naming the file and line when it
 * cannot be read. */
struct audit_report;
typedef struct store store;
int audit_witness_verify(store *st, const char *path, X509 *root,
    struct audit_report *rep) GP_WUR;

#endif /* GOVPKI_CLI_H */
