/*
 * cli.c: output helpers shared by every govpki command: failures with the
 * error detail, usage errors, JSON printing.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

int
cli_fail(int code, int json)
{
	const char *detail = gp_err_detail();

	if (json) {
		char msg[1200];
		snprintf(msg, sizeof(msg), "%s%s%s", gp_err_str(code),
		    *detail ? ": " : "", detail);
		cli_print_json(json_pack("{s:{s:s, s:s}}", "error", "code",
		    gp_err_name(code), "message", msg));
	} else if (*detail) {
		fprintf(stderr, "govpki: %s: %s\n", gp_err_str(code), detail);
	} else {
		fprintf(stderr, "govpki: %s\n", gp_err_str(code));
	}
	return CLI_FAIL;
}

int
cli_usage(const char *cmd, const char *what)
{
	fprintf(stderr, "govpki %s: %s\nRun `govpki %s --help` for usage.\n",
	    cmd, what, cmd);
	return CLI_USAGE;
}

void
cli_print_json(json_t *obj)
{
	char *s;

	if (obj == NULL)
		return;
	if ((s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS)) != NULL) {
		fputs(s, stdout);
		fputc('\n', stdout);
		free(s);
	}
	fflush(stdout);
	json_decref(obj);
}
