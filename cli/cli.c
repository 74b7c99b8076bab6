/*
 * cli.c: helpers shared by every govpki command: failures with the error
 * detail, usage errors, confirmation on the terminal, JSON printing, and
 * reading PEM certificate files.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>

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

int
cli_group_help(int argc, char **argv, void (*help)(FILE *f))
{
	if (argc < 2) {
		help(stderr); /* a usage error */
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		help(stdout);
		return CLI_OK;
	}
	return -1;
}

int
cli_bad_option(const char *cmd, int argc, char **argv)
{
	const char *a = optind >= 1 && optind <= argc ? argv[optind - 1] :
	    NULL;
	char what[120];
	int n;

	if (a == NULL || a[0] != '-' || a[1] == '\0')
		return cli_usage(cmd, "unknown option");
	/* The name only, never a value: "--pin=1234" must not be echoed. */
	if (a[1] != '-') {
		snprintf(what, sizeof(what), "unknown option -%c (options are "
		    "long: --NAME)", a[1]);
		return cli_usage(cmd, what);
	}
	n = (int)strcspn(a + 2, "=");
	if (n > 40)
		n = 40;
	if (optopt != 0 && a[2 + n] == '=')
		snprintf(what, sizeof(what), "--%.*s takes no value", n, a + 2);
	else if (optopt != 0)
		snprintf(what, sizeof(what), "--%.*s needs a value", n, a + 2);
	else
		snprintf(what, sizeof(what), "unknown option --%.*s", n, a + 2);
	return cli_usage(cmd, what);
}

int
cli_confirm(const char *fmt, ...)
{
	char line[32];
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" [y/N] ", stderr);
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0;
	line[strcspn(line, "\r\n")] = '\0';
	return strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0;
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

int
cli_pem_certs(const char *path, size_t max, STACK_OF(X509) *sk)
{
	int r = GP_ERR_INTERNAL, n = 0;
	uint8_t *buf = NULL;
	size_t len = 0;
	BIO *b = NULL;
	X509 *x;

	GUARD(gp_file_read(path, max, &buf, &len));
	ENSURE((b = BIO_new_mem_buf(buf, (int)len)) != NULL, GP_ERR_NOMEM);
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_push(sk, x) <= 0) {
			X509_free(x);
			r = GP_ERR_NOMEM;
			goto out;
		}
		n++;
	}
	ERR_clear_error();
	ENSURE(n > 0, gp_err_set(GP_ERR_INVALID, "%s: no PEM certificate",
	    path));
	r = 0;
out:
	BIO_free(b);
	free(buf);
	return r;
}

int
cli_pem_cert(const char *path, size_t max, X509 **out)
{
	int r = GP_ERR_INTERNAL;
	STACK_OF(X509) *sk = NULL;

	*out = NULL;
	ENSURE((sk = sk_X509_new_null()) != NULL, GP_ERR_NOMEM);
	GUARD(cli_pem_certs(path, max, sk));
	*out = sk_X509_shift(sk);
	r = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	return r;
}
