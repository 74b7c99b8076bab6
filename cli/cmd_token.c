/*
 * cmd_token.c: `govpki token ...`: work on any PKCS#11 token directly, for
 * test fixtures and for preparing a USB key: list tokens, initialise one,
 * generate a key pair on it, make a CSR with a token key, store and fetch
 * certificates, change the user PIN. These commands work on a token, not on
 * an instance, so they write no audit record (the instance commands do).
 * PINs come from --pin-file, else $GOVPKI_PIN, else a terminal prompt; no
 * option takes a PIN value.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli/cli.h"
#include "tokens/tokens.h"

#ifndef GP_SOFTHSM_MODULE
#define GP_SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#endif

#define TOKEN_PIN_ENV "GOVPKI_PIN"
#define TOKEN_CERT_MAX (64 * 1024)

/* Options, as bits, so that each subcommand says which it accepts. */
enum {
	O_MODULE = 1 << 0, O_JSON = 1 << 1, O_LABEL = 1 << 2,
	O_TOKEN = 1 << 3, O_SO_PIN_FILE = 1 << 4, O_PIN_FILE = 1 << 5,
	O_NEW_PIN_FILE = 1 << 6, O_ALGO = 1 << 7, O_KEY = 1 << 8,
	O_SUBJECT = 1 << 9, O_OUT = 1 << 10, O_CERT = 1 << 11,
	O_CERT_URI = 1 << 12
};

struct token_opts {
	unsigned int given;
	const char *module, *label, *token, *so_pin_file, *pin_file;
	const char *new_pin_file, *algo, *key, *subject, *out, *cert;
	const char *cert_uri;
	int json;
};

static const struct {
	const char *name;
	unsigned int allowed, required;
	const char *usage;      /* after "govpki token " */
	const char *help;       /* what it does */
} token_subs[] = {
	{ "list", O_MODULE | O_JSON, 0, "list [--module LIB] [--json]",
	    "Lists the module's slots that hold a token: slot, label, serial, "
	    "model and\nstate (ready, uninitialised, pin-locked, "
	    "pin-final-try, pin-count-low).\nNeeds no PIN.\n" },
	{ "init", O_MODULE | O_JSON | O_LABEL | O_SO_PIN_FILE | O_PIN_FILE,
	    O_LABEL | O_SO_PIN_FILE | O_PIN_FILE,
	    "init --label L --so-pin-file F --pin-file F [--module LIB] "
	    "[--json]",
	    "Initialises the first uninitialised token as L with the security "
	    "officer PIN\nof --so-pin-file and sets the user PIN of "
	    "--pin-file. Refused when a token\nlabelled L exists.\n" },
	{ "keygen", O_MODULE | O_JSON | O_TOKEN | O_LABEL | O_ALGO |
	    O_PIN_FILE, O_TOKEN | O_LABEL | O_ALGO,
	    "keygen --token T --label L --algo ec-p256|ec-p384|rsa-2048|rsa-3072"
	    "\n                    [--pin-file F] [--module LIB] [--json]",
	    "Generates a key pair labelled L on token T (CKA_SENSITIVE, "
	    "CKA_EXTRACTABLE\nfalse) and prints its public key (--json: "
	    "with its pkcs11: URI). Refused when a\nkey labelled L "
	    "exists.\n" },
	{ "csr", O_MODULE | O_JSON | O_KEY | O_SUBJECT | O_PIN_FILE | O_OUT,
	    O_KEY | O_SUBJECT,
	    "csr --key URI --subject \"/CN=x/O=y\" [--pin-file F] [--out FILE]"
	    "\n                    [--module LIB] [--json]",
	    "Makes a PKCS#10 certificate request signed by the key URI, for "
	    "`govpki ca issue`\nor POST /api/v1/certificates (the CA takes "
	    "the subject from its profile, not\nfrom the request).\n" },
	{ "import-cert", O_MODULE | O_JSON | O_TOKEN | O_LABEL | O_CERT |
	    O_PIN_FILE, O_TOKEN | O_LABEL | O_CERT,
	    "import-cert --token T --label L --cert FILE [--pin-file F]\n"
	    "                    [--module LIB] [--json]",
	    "Stores the certificate of FILE on token T as a certificate object "
	    "labelled L,\nwith the CKA_ID of the key of the same label. "
	    "Replaces nothing.\n" },
	{ "export-cert", O_MODULE | O_JSON | O_CERT_URI | O_OUT, O_CERT_URI,
	    "export-cert --cert-uri URI [--out FILE] [--module LIB] [--json]",
	    "Prints (or writes to --out) the certificate object URI as PEM. "
	    "Needs no PIN.\n" },
	{ "change-pin", O_MODULE | O_JSON | O_TOKEN | O_PIN_FILE |
	    O_NEW_PIN_FILE, O_TOKEN,
	    "change-pin --token T [--pin-file OLD] [--new-pin-file NEW]\n"
	    "                    [--module LIB] [--json]",
	    "Changes the user PIN of token T: the current one from --pin-file, "
	    "$GOVPKI_PIN or\nthe terminal, the new one from --new-pin-file "
	    "or asked twice on the terminal.\n" },
};
#define TOKEN_NSUBS (sizeof(token_subs) / sizeof(token_subs[0]))

/* What each option means, printed for the sub-commands that take it. */
static const struct {
	unsigned int bit;
	const char *text;
} token_optdoc[] = {
	{ O_MODULE, "  --module LIB       PKCS#11 module (default "
	    GP_SOFTHSM_MODULE ");\n                     for SoftHSM set "
	    "SOFTHSM2_CONF first\n" },
	{ O_TOKEN, "  --token T          token label or serial number\n" },
	{ O_LABEL, "  --label L          token label (init) or object label\n" },
	{ O_PIN_FILE, "  --pin-file F       user PIN from the first line of F "
	    "(mode 600);\n                     without it $" TOKEN_PIN_ENV
	    ", else a terminal prompt\n" },
	{ O_SO_PIN_FILE, "  --so-pin-file F    security officer PIN file\n" },
	{ O_NEW_PIN_FILE, "  --new-pin-file F   new user PIN file (else "
	    "prompted twice)\n" },
	{ O_ALGO, "  --algo A           ec-p256, ec-p384, rsa-2048 or "
	    "rsa-3072\n" },
	{ O_KEY, "  --key URI          pkcs11:token=T;object=L or "
	    "file:/path/key.pem\n" },
	{ O_SUBJECT, "  --subject S        \"/CN=name/O=org\" (UTF-8; \\/ for "
	    "a slash)\n" },
	{ O_CERT, "  --cert FILE        PEM or DER certificate\n" },
	{ O_CERT_URI, "  --cert-uri URI     pkcs11:token=T;object=L;type=cert\n" },
	{ O_OUT, "  --out FILE         write there (never overwritten) instead "
	    "of stdout\n" },
	{ O_JSON, "  --json             machine output (JSON lines for list)\n" },
};

static void
token_help_footer(FILE *f)
{
	fprintf(f, "\nWorks on a PKCS#11 token, not on an instance: writes no "
	    "audit record. No option\ntakes a PIN value. Exit: 0 ok, 1 "
	    "failure, 2 usage.\n");
}

/* The group's usage: every sub-command's synopsis. */
static void
token_help(FILE *f)
{
	size_t i;

	fprintf(f, "usage: govpki token SUBCOMMAND [options]\n\n");
	for (i = 0; i < TOKEN_NSUBS; i++)
		fprintf(f, "  govpki token %s\n", token_subs[i].usage);
	cmd_token_est_help(f); /* enroll, renew, unblock, decrypt */
	fprintf(f, "\nEach sub-command has its own --help.\n");
	token_help_footer(f);
}

/* One sub-command's usage, with the options it takes. */
static void
token_help_sub(size_t si)
{
	size_t i;

	printf("usage: govpki token %s\n\n%s\n", token_subs[si].usage,
	    token_subs[si].help);
	for (i = 0; i < sizeof(token_optdoc) / sizeof(token_optdoc[0]); i++)
		if (token_subs[si].allowed & token_optdoc[i].bit)
			fputs(token_optdoc[i].text, stdout);
	token_help_footer(stdout);
}

/* The name ("--token") of the first option of |bits|, from token_optdoc. */
static void
token_optname(unsigned int bits, char *buf, size_t buf_len)
{
	size_t i;

	snprintf(buf, buf_len, "an option");
	for (i = 0; i < sizeof(token_optdoc) / sizeof(token_optdoc[0]); i++)
		if (bits & token_optdoc[i].bit) {
			snprintf(buf, buf_len, "%.*s", (int)strcspn(
			    token_optdoc[i].text + 2, " "),
			    token_optdoc[i].text + 2);
			return;
		}
}

/* Reads the user PIN: --pin-file, else $GOVPKI_PIN, else the terminal. */
int
token_pin(const char *pin_file, const char *prompt, char **out)
{
	struct tok_pin_source src;

	if (pin_file != NULL) {
		src.kind = TOK_PIN_FILE;
		src.value = pin_file;
	} else if (getenv(TOKEN_PIN_ENV) != NULL) {
		src.kind = TOK_PIN_ENV;
		src.value = TOKEN_PIN_ENV;
	} else {
		src.kind = TOK_PIN_PROMPT;
		src.value = prompt;
	}
	return tok_pin_read(&src, out);
}

static int
token_pin_file(const char *path, char **out)
{
	struct tok_pin_source src = { TOK_PIN_FILE, path };

	return tok_pin_read(&src, out);
}

void
token_uri(char *dst, size_t len, const char *token, const char *label)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *parts[2] = { token, label };
	size_t n, i;
	unsigned char c;
	const char *p;

	n = (size_t)snprintf(dst, len, "pkcs11:token=");
	for (i = 0; i < 2 && n + 16 < len; i++) {
		if (i == 1)
			n += (size_t)snprintf(dst + n, len - n, ";object=");
		for (p = parts[i]; *p != '\0' && n + 4 < len; p++) {
			c = (unsigned char)*p;
			if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
			    c == '_' || c == '~') {
				dst[n++] = (char)c;
			} else {
				dst[n++] = '%';
				dst[n++] = hex[c >> 4];
				dst[n++] = hex[c & 15];
			}
		}
		dst[n] = '\0';
	}
}

/* Writes |text| to |out| (created, never overwritten) or stdout. */
static int
token_emit(const char *out, const char *text, size_t len)
{
	if (out != NULL)
		return gp_file_write(out, text, len, 0644, 1);
	fwrite(text, 1, len, stdout);
	return 0;
}

static char *
token_pem_pubkey(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL, *s = NULL;
	long n;

	if (b != NULL && PEM_write_bio_PUBKEY(b, k) == 1 &&
	    (n = BIO_get_mem_data(b, &p)) > 0 && (s = malloc((size_t)n + 1))) {
		memcpy(s, p, (size_t)n);
		s[n] = '\0';
	}
	BIO_free(b);
	return s;
}

/* Parses "/CN=x/O=y" (a backslash escapes the next character). */
static int
token_subject(const char *s, X509_NAME **out)
{
	X509_NAME *n = NULL;
	char *buf = NULL, *field, *eq;
	size_t len, i, j;
	int r = GP_ERR_INTERNAL;

	ENSURE(s[0] == '/', gp_err_set(GP_ERR_INVALID,
	    "--subject \"%s\": must look like /CN=name/O=org", s));
	len = strlen(s);
	ENSURE(len <= 4096, gp_err_set(GP_ERR_TOO_LARGE, "--subject: too long"));
	ENSURE((buf = malloc(len + 1)) != NULL, GP_ERR_NOMEM);
	ENSURE((n = X509_NAME_new()) != NULL, GP_ERR_NOMEM);
	i = 1;
	while (i < len) {
		/* Copy one field, unescaping, up to an unescaped '/'. */
		j = 0;
		while (i < len && s[i] != '/') {
			if (s[i] == '\\' && i + 1 < len)
				i++;
			buf[j++] = s[i++];
		}
		buf[j] = '\0';
		i++;
		field = buf;
		if (*field == '\0')
			continue;
		eq = strchr(field, '=');
		ENSURE(eq != NULL && eq != field && eq[1] != '\0',
		    gp_err_set(GP_ERR_INVALID, "--subject: \"%s\" is not "
		    "TYPE=value", field));
		*eq = '\0';
		ENSURE(X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8,
		    (const unsigned char *)(eq + 1), -1, -1, 0) == 1,
		    gp_err_ssl(GP_ERR_INVALID, "--subject: attribute %s",
		    field));
	}
	ENSURE(X509_NAME_entry_count(n) > 0, gp_err_set(GP_ERR_INVALID,
	    "--subject: empty"));
	*out = n;
	n = NULL; /* transferred */
	r = 0;
out:
	X509_NAME_free(n);
	free(buf);
	return r;
}

/*
 * getopt_long accepts any unambiguous prefix, so "--pin 1234" would be
 * taken as "--pin-file 1234" and the PIN would then be printed as a file
 * name in the error. Only exact option names are accepted, and a refused
 * option is named without its value.
 */
int
token_exact_options(const char *cmd, int argc, char **argv,
    const struct option *longopts)
{
	const struct option *lo;
	char what[160];
	size_t n;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strncmp(argv[i], "--", 2) != 0)
			continue;
		n = strcspn(argv[i] + 2, "=");
		for (lo = longopts; lo->name != NULL; lo++)
			if (strlen(lo->name) == n &&
			    strncmp(lo->name, argv[i] + 2, n) == 0)
				break;
		if (lo->name == NULL) {
			snprintf(what, sizeof(what), "unknown option --%.*s%s",
			    (int)(n > 40 ? 40 : n), argv[i] + 2,
			    strncmp(argv[i] + 2, "pin", 3) == 0 ||
			    strncmp(argv[i] + 2, "so-pin", 6) == 0 ?
			    " (no option takes a PIN value: use --pin-file, "
			    "$" TOKEN_PIN_ENV " or the prompt)" :
			    strncmp(argv[i] + 2, "code", 4) == 0 ?
			    " (the enrolment code is a secret: use "
			    "--code-file or the prompt)" : "");
			return cli_usage(cmd, what);
		}
		/* Skip the value of "--opt VALUE". */
		if (lo->has_arg == required_argument && argv[i][2 + n] == '\0')
			i++;
	}
	return 0;
}

static int
token_list(tok_ctx *ctx, const struct token_opts *o)
{
	struct tok_info *v = NULL;
	size_t n = 0, i;
	int r;

	if ((r = tok_list(ctx, &v, &n)) != 0)
		return cli_fail(r, o->json);
	if (!o->json)
		printf("%-10s %-32s %-16s %-14s %s\n", "SLOT", "LABEL",
		    "SERIAL", "MODEL", "STATE");
	for (i = 0; i < n; i++) {
		const char *state = !v[i].initialized ? "uninitialised" :
		    v[i].user_pin_locked ? "pin-locked" :
		    v[i].user_pin_final_try ? "pin-final-try" :
		    v[i].user_pin_count_low ? "pin-count-low" : "ready";
		if (o->json)
			cli_print_json(json_pack("{s:I, s:s, s:s, s:s, s:s, "
			    "s:b, s:s}", "slot", (json_int_t)v[i].slot_id,
			    "label", v[i].label, "serial", v[i].serial,
			    "manufacturer", v[i].manufacturer, "model",
			    v[i].model, "initialized", v[i].initialized,
			    "state", state));
		else
			printf("%-10lu %-32s %-16s %-14s %s\n", v[i].slot_id,
			    v[i].initialized ? v[i].label : "-",
			    v[i].serial, v[i].model, state);
	}
	free(v);
	return CLI_OK;
}

static int
token_init(tok_ctx *ctx, const struct token_opts *o)
{
	char *so = NULL, *pin = NULL;
	int r;

	if ((r = token_pin_file(o->so_pin_file, &so)) == 0 &&
	    (r = token_pin_file(o->pin_file, &pin)) == 0)
		r = tok_init_token(ctx, o->label, so, pin);
	gp_secret_free(so);
	gp_secret_free(pin);
	if (r != 0)
		return cli_fail(r, o->json);
	if (o->json)
		cli_print_json(json_pack("{s:s, s:s}", "token", o->label,
		    "status", "initialized"));
	else
		printf("token %s initialised\n", o->label);
	return CLI_OK;
}

static int
token_login(tok_ctx *ctx, const char *token, const char *pin_file)
{
	char prompt[96], *pin = NULL;
	int r;

	snprintf(prompt, sizeof(prompt), "PIN for token %.40s: ", token);
	if ((r = token_pin(pin_file, prompt, &pin)) == 0)
		r = tok_login(ctx, token, pin);
	gp_secret_free(pin);
	return r;
}

static int
token_keygen(tok_ctx *ctx, const struct token_opts *o)
{
	enum tok_algo algo;
	EVP_PKEY *pub = NULL;
	char *pem = NULL, uri[520];
	int r;

	if ((r = tok_algo_parse(o->algo, &algo)) != 0)
		return cli_usage("token keygen", gp_err_detail());
	if ((r = token_login(ctx, o->token, o->pin_file)) != 0 ||
	    (r = tok_keygen(ctx, o->token, o->label, algo, &pub)) != 0)
		return cli_fail(r, o->json);
	pem = token_pem_pubkey(pub);
	EVP_PKEY_free(pub);
	if (pem == NULL)
		return cli_fail(gp_err_set(GP_ERR_CRYPTO, "public key PEM"),
		    o->json);
	token_uri(uri, sizeof(uri), o->token, o->label);
	if (o->json)
		cli_print_json(json_pack("{s:s, s:s, s:s, s:s, s:s}", "token",
		    o->token, "label", o->label, "algo", tok_algo_name(algo),
		    "uri", uri, "public_key_pem", pem));
	else
		printf("%s", pem);
	free(pem);
	return CLI_OK;
}

static int
token_csr(tok_ctx *ctx, const struct token_opts *o)
{
	struct tok_uri u = { 0 };
	X509_NAME *subj = NULL;
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	BIO *b = NULL;
	char *p = NULL;
	long n;
	int r, rc = CLI_FAIL;

	if ((r = token_subject(o->subject, &subj)) != 0) {
		rc = cli_usage("token csr", gp_err_detail());
		goto out;
	}
	if ((r = tok_uri_parse(o->key, &u)) != 0) {
		rc = cli_fail(r, o->json);
		goto out;
	}
	if (u.file == NULL && (u.token != NULL || u.serial != NULL) &&
	    (r = token_login(ctx, u.token != NULL ? u.token : u.serial,
	    o->pin_file)) != 0) {
		rc = cli_fail(r, o->json);
		goto out;
	}
	if ((r = tok_key_load(ctx, o->key, &key)) != 0 ||
	    (r = tok_csr_make(key, subj, &req)) != 0) {
		rc = cli_fail(r, o->json);
		goto out;
	}
	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509_REQ(b, req) != 1 ||
	    (n = BIO_get_mem_data(b, &p)) <= 0) {
		rc = cli_fail(gp_err_ssl(GP_ERR_CRYPTO, "CSR PEM"), o->json);
		goto out;
	}
	if (o->json && o->out == NULL) {
		char *pem = strndup(p, (size_t)n);
		cli_print_json(json_pack("{s:s, s:s}", "key", o->key,
		    "csr_pem", pem != NULL ? pem : ""));
		free(pem);
	} else if ((r = token_emit(o->out, p, (size_t)n)) != 0) {
		rc = cli_fail(r, o->json);
		goto out;
	} else if (o->json) {
		cli_print_json(json_pack("{s:s, s:s}", "key", o->key, "out",
		    o->out));
	}
	rc = CLI_OK;
out:
	BIO_free(b);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	X509_NAME_free(subj);
	tok_uri_clear(&u);
	return rc;
}

static int
token_import_cert(tok_ctx *ctx, const struct token_opts *o)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	const unsigned char *p;
	BIO *b = NULL;
	X509 *x = NULL;
	int r, rc = CLI_FAIL;

	if ((r = gp_file_read(o->cert, TOKEN_CERT_MAX, &buf, &len)) != 0) {
		rc = cli_fail(r, o->json);
		goto out;
	}
	if ((b = BIO_new_mem_buf(buf, (int)len)) != NULL)
		x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	if (x == NULL) {
		p = buf;
		x = d2i_X509(NULL, &p, (long)len);
		if (x != NULL && p != buf + len) {
			X509_free(x);
			x = NULL;
		}
	}
	if (x == NULL) {
		rc = cli_fail(gp_err_ssl(GP_ERR_INVALID, "certificate file %s: "
		    "neither PEM nor DER", o->cert), o->json);
		goto out;
	}
	if ((r = token_login(ctx, o->token, o->pin_file)) != 0 ||
	    (r = tok_cert_write(ctx, o->token, o->label, x)) != 0) {
		rc = cli_fail(r, o->json);
		goto out;
	}
	if (o->json)
		cli_print_json(json_pack("{s:s, s:s, s:s}", "token", o->token,
		    "label", o->label, "status", "imported"));
	else
		printf("certificate %s stored on token %s\n", o->label,
		    o->token);
	rc = CLI_OK;
out:
	X509_free(x);
	BIO_free(b);
	free(buf);
	return rc;
}

static int
token_export_cert(tok_ctx *ctx, const struct token_opts *o)
{
	X509 *x = NULL;
	BIO *b = NULL;
	char *p = NULL, *pem = NULL;
	long n;
	int r, rc = CLI_FAIL;

	if ((r = tok_cert_read(ctx, o->cert_uri, &x)) != 0) {
		rc = cli_fail(r, o->json);
		goto out;
	}
	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509(b, x) != 1 ||
	    (n = BIO_get_mem_data(b, &p)) <= 0) {
		rc = cli_fail(gp_err_ssl(GP_ERR_CRYPTO, "certificate PEM"),
		    o->json);
		goto out;
	}
	if (o->json && o->out == NULL) {
		pem = strndup(p, (size_t)n);
		cli_print_json(json_pack("{s:s, s:s}", "uri", o->cert_uri,
		    "certificate_pem", pem != NULL ? pem : ""));
	} else if ((r = token_emit(o->out, p, (size_t)n)) != 0) {
		rc = cli_fail(r, o->json);
		goto out;
	} else if (o->json) {
		cli_print_json(json_pack("{s:s, s:s}", "uri", o->cert_uri,
		    "out", o->out));
	}
	rc = CLI_OK;
out:
	free(pem);
	BIO_free(b);
	X509_free(x);
	return rc;
}

static int
token_change_pin(tok_ctx *ctx, const struct token_opts *o)
{
	struct tok_pin_source src = { TOK_PIN_PROMPT, "New PIN: " };
	char prompt[96], *old = NULL, *new1 = NULL, *new2 = NULL;
	int r;

	snprintf(prompt, sizeof(prompt), "Current PIN for token %.40s: ",
	    o->token);
	if ((r = token_pin(o->pin_file, prompt, &old)) != 0)
		goto out;
	if (o->new_pin_file != NULL) {
		r = token_pin_file(o->new_pin_file, &new1);
	} else if ((r = tok_pin_read(&src, &new1)) == 0) {
		src.value = "New PIN again: ";
		if ((r = tok_pin_read(&src, &new2)) == 0 &&
		    (strlen(new1) != strlen(new2) ||
		    CRYPTO_memcmp(new1, new2, strlen(new1)) != 0))
			r = gp_err_set(GP_ERR_INVALID, "the new PINs differ");
	}
	if (r == 0)
		r = tok_change_pin(ctx, o->token, old, new1);
out:
	gp_secret_free(old);
	gp_secret_free(new1);
	gp_secret_free(new2);
	if (r != 0)
		return cli_fail(r, o->json);
	if (o->json)
		cli_print_json(json_pack("{s:s, s:s}", "token", o->token,
		    "status", "pin-changed"));
	else
		printf("user PIN of token %s changed\n", o->token);
	return CLI_OK;
}

int
cmd_token(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"module", required_argument, NULL, 'm'},
		{"json", no_argument, NULL, 'j'},
		{"label", required_argument, NULL, 'l'},
		{"token", required_argument, NULL, 't'},
		{"so-pin-file", required_argument, NULL, 'S'},
		{"pin-file", required_argument, NULL, 'p'},
		{"new-pin-file", required_argument, NULL, 'N'},
		{"algo", required_argument, NULL, 'a'},
		{"key", required_argument, NULL, 'k'},
		{"subject", required_argument, NULL, 's'},
		{"out", required_argument, NULL, 'o'},
		{"cert", required_argument, NULL, 'c'},
		{"cert-uri", required_argument, NULL, 'u'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct token_opts o;
	tok_ctx *ctx = NULL;
	const char *sub;
	char what[200], cmd[32], opt[32], *module_dup = NULL;
	size_t si;
	int c, r, rc;

	memset(&o, 0, sizeof(o));
	if ((rc = cli_group_help(argc, argv, token_help)) >= 0)
		return rc;
	sub = argv[1];
	if (cmd_token_est_is(sub))
		return cmd_token_est(argc, argv);
	for (si = 0; si < TOKEN_NSUBS; si++)
		if (strcmp(sub, token_subs[si].name) == 0)
			break;
	if (si == TOKEN_NSUBS) {
		snprintf(what, sizeof(what), "unknown subcommand \"%.40s\"", sub);
		return cli_usage("token", what);
	}
	snprintf(cmd, sizeof(cmd), "token %s", token_subs[si].name);
	if ((r = token_exact_options(cmd, argc - 1, argv + 1, longopts)) != 0)
		return r;
	optind = 1;
	opterr = 0; /* getopt's own messages would echo option values */
	while ((c = getopt_long(argc - 1, argv + 1, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': o.module = optarg; o.given |= O_MODULE; break;
		case 'j': o.json = 1; o.given |= O_JSON; break;
		case 'l': o.label = optarg; o.given |= O_LABEL; break;
		case 't': o.token = optarg; o.given |= O_TOKEN; break;
		case 'S': o.so_pin_file = optarg; o.given |= O_SO_PIN_FILE; break;
		case 'p': o.pin_file = optarg; o.given |= O_PIN_FILE; break;
		case 'N': o.new_pin_file = optarg; o.given |= O_NEW_PIN_FILE;
			break;
		case 'a': o.algo = optarg; o.given |= O_ALGO; break;
		case 'k': o.key = optarg; o.given |= O_KEY; break;
		case 's': o.subject = optarg; o.given |= O_SUBJECT; break;
		case 'o': o.out = optarg; o.given |= O_OUT; break;
		case 'c': o.cert = optarg; o.given |= O_CERT; break;
		case 'u': o.cert_uri = optarg; o.given |= O_CERT_URI; break;
		case 'h':
			token_help_sub(si);
			return CLI_OK;
		default:
			return cli_bad_option(cmd, argc - 1, argv + 1);
		}
	}
	if (optind != argc - 1)
		return cli_usage(cmd, "takes no argument (options only)");
	if (o.given & ~token_subs[si].allowed) {
		token_optname(o.given & ~token_subs[si].allowed, opt,
		    sizeof(opt));
		snprintf(what, sizeof(what), "%s is not an option of this "
		    "sub-command", opt);
		return cli_usage(cmd, what);
	}
	if ((o.given & token_subs[si].required) != token_subs[si].required) {
		token_optname(token_subs[si].required & ~o.given, opt,
		    sizeof(opt));
		snprintf(what, sizeof(what), "%s is required", opt);
		return cli_usage(cmd, what);
	}
	if (o.module == NULL)
		o.module = GP_SOFTHSM_MODULE;
	/* A module-path in --key or --cert-uri names the module to load. */
	if (!(o.given & O_MODULE) && (o.key != NULL || o.cert_uri != NULL)) {
		struct tok_uri u = { 0 };
		if (tok_uri_parse(o.key != NULL ? o.key : o.cert_uri, &u) == 0 &&
		    u.module_path != NULL) {
			module_dup = u.module_path;
			u.module_path = NULL; /* transferred */
			o.module = module_dup;
		}
		tok_uri_clear(&u);
	}
	if (o.key != NULL && strncmp(o.key, "file:", 5) == 0) {
		r = 0; /* no module needed for a file key */
	} else if ((r = tok_ctx_new(o.module, &ctx)) != 0) {
		rc = cli_fail(r, o.json);
		goto out;
	}
	switch (si) {
	case 0: rc = token_list(ctx, &o); break;
	case 1: rc = token_init(ctx, &o); break;
	case 2: rc = token_keygen(ctx, &o); break;
	case 3: rc = token_csr(ctx, &o); break;
	case 4: rc = token_import_cert(ctx, &o); break;
	case 5: rc = token_export_cert(ctx, &o); break;
	case 6: rc = token_change_pin(ctx, &o); break;
	default: rc = cli_usage(cmd, "unknown subcommand"); break;
	}
out:
	tok_ctx_free(ctx);
	free(module_dup);
	return rc;
}
