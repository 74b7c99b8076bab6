/*
 * cmd_sign.c: `govpki sign`, the client side of document signing: a
 * user's USB key (any PKCS#11 module) signs a file as CMS SignedData with
 * the CAdES B-B attributes, optionally time-stamped (B-T) by any RFC 3161
 * TSA, optionally as one approval step added to an existing signature.
 * The document is hashed here as a stream and never leaves the machine;
 * only the digest of the signature value travels, to the TSA. The PIN
 * comes from --pin-file, else $GOVPKI_PIN, else the terminal; it is wiped
 * after the login. Works on no instance, so it writes no audit log.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "cli/cli.h"
#include "signer/signer.h"
#include "tokens/tokens.h"

#ifndef GP_SOFTHSM_MODULE
#define GP_SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#endif
#ifndef GP_POLICIES_DIR
#define GP_POLICIES_DIR "/usr/local/share/govpki/policies"
#endif

#define SIGN_PIN_ENV "GOVPKI_PIN"
#define SIGN_MAX_PEM (1024 * 1024)

struct sign_opts {
	const char *key, *module, *cert, *chain, *in, *out, *tsa, *pin_file;
	const char *step, *add_to, *policy, *policies_dir, *dir;
	int attached, json, no_chain;
};

static void
sign_help(void)
{
	printf("usage: govpki sign --key URI --in FILE --out FILE.p7s "
	    "[--module LIB] [--cert FILE]\n"
	    "                   [--chain FILE | --dir DIR | --no-chain] "
	    "[--pin-file FILE]\n"
	    "                   [--tsa URL] [--attached]\n"
	    "                   [--step NAME [--add-to FILE.p7s] [--policy "
	    "NAME|FILE]] [--json]\n\n"
	    "Signs FILE with the key URI (RFC 7512, e.g. "
	    "'pkcs11:token=mykey;object=sign')\n"
	    "as CMS SignedData (RFC 5652), SHA-256, detached unless "
	    "--attached, with the\n"
	    "CAdES B-B signed attributes; with --tsa, B-T (a signature "
	    "time-stamp).\n\n"
	    "  --module LIB    PKCS#11 module (default: the URI's "
	    "module-path, else %s)\n"
	    "  --cert FILE     signer certificate (PEM); default: the "
	    "certificate object of\n"
	    "                  the same token and label\n"
	    "  --chain FILE    CA certificates (PEM) from which the signer's "
	    "chain up to, not\n"
	    "                  including, the root goes into the signature, "
	    "so that a relying\n"
	    "                  party holding only the root can verify it\n"
	    "  --dir DIR       take them from the instance DIR that issued "
	    "the signer (its\n"
	    "                  certs/ca.pem and root.pem)\n"
	    "  --no-chain      the signer's certificate only\n"
	    "                  One of the three is needed unless the "
	    "certificate is self-signed\n"
	    "                  or --add-to's signature carries its issuer; "
	    "else sign refuses.\n"
	    "  --pin-file FILE user PIN (first line); else $%s, else the "
	    "terminal\n"
	    "  --tsa URL       http://HOST:PORT/tsa of an RFC 3161 TSA\n"
	    "  --step NAME     the approval step this signature records\n"
	    "  --add-to FILE   add this signature to an existing one (same "
	    "document); --out may\n"
	    "                  name the same file to replace it\n"
	    "  --policy NAME   approval policy (policies/approvals/NAME.json "
	    "or a path) that\n"
	    "                  decides whether the step may follow the ones "
	    "signed\n"
	    "  --policies-dir DIR\n"
	    "                  the profiles folder whose approvals/ holds "
	    "--policy NAME\n"
	    "                  (default %s)\n"
	    "  --json          print the result as one JSON object\n\n"
	    "Works on no instance: writes no audit record. Exit 0 on "
	    "success, 1 on failure,\n2 on a usage error.\n", GP_SOFTHSM_MODULE,
	    SIGN_PIN_ENV, GP_POLICIES_DIR);
}

static int
sign_pem_certs(const char *path, STACK_OF(X509) **out)
{
	uint8_t *buf = NULL;
	size_t len;
	BIO *bio = NULL;
	X509 *x;
	int r;

	*out = NULL;
	GUARD(gp_file_read(path, SIGN_MAX_PEM, &buf, &len));
	ENSURE((bio = BIO_new_mem_buf(buf, (int)len)) != NULL &&
	    (*out = sk_X509_new_null()) != NULL, GP_ERR_NOMEM);
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(*out, x)) {
			X509_free(x);
			r = GP_ERR_NOMEM;
			goto out;
		}
	}
	ERR_clear_error();
	ENSURE(sk_X509_num(*out) > 0, gp_err_set(GP_ERR_INVALID,
	    "%s: no PEM certificate", path));
	r = 0;
out:
	if (r != 0) {
		sk_X509_pop_free(*out, X509_free);
		*out = NULL;
	}
	BIO_free(bio);
	free(buf);
	return r;
}

/* The certificate object beside the key: same token, same label. */
static int
sign_token_cert(tok_ctx *ctx, const char *key_uri, X509 **out)
{
	struct tok_uri u = {0};
	char *uri = NULL;
	int r;

	GUARD(tok_uri_parse(key_uri, &u));
	ENSURE(u.object != NULL && (u.token != NULL || u.serial != NULL),
	    gp_err_set(GP_ERR_INVALID, "--key %s: name token= and object= "
	    "(or give --cert)", key_uri));
	ENSURE(asprintf(&uri, "pkcs11:%s=%s;object=%s;type=cert",
	    u.token ? "token" : "serial", u.token ? u.token : u.serial,
	    u.object) > 0, GP_ERR_NOMEM);
	r = tok_cert_read(ctx, uri, out);
	if (r == GP_ERR_NOT_FOUND)
		r = gp_err_set(r, "no certificate object \"%s\" on the token; "
		    "import one (govpki token import-cert) or give --cert",
		    u.object);
	GUARD(r);
	r = 0;
out:
	free(uri);
	tok_uri_clear(&u);
	return r;
}

/* Adds the PEM certificates of |path| to |pool|. */
static int
sign_pool_add(STACK_OF(X509) *pool, const char *path)
{
	STACK_OF(X509) *sk = NULL;
	X509 *x;
	int r;

	GUARD(sign_pem_certs(path, &sk));
	while ((x = sk_X509_shift(sk)) != NULL) {
		if (sk_X509_push(pool, x) <= 0) {
			X509_free(x);
			r = GP_ERR_NOMEM;
			goto out;
		}
	}
	r = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	return r;
}

/* The signer's chain up to, not including, the root (sig_chain_build),
 * from --chain, --dir DIR's certs/ca.pem and root.pem, and the
 * certificates of the --add-to signature. */
static int
sign_chain(const struct sign_opts *o, X509 *cert, const uint8_t *add,
    size_t add_len, STACK_OF(X509) **out)
{
	STACK_OF(X509) *pool = NULL, *have = NULL;
	X509 *x;
	char *p = NULL;
	int r;

	*out = NULL;
	ENSURE((pool = sk_X509_new_null()) != NULL, GP_ERR_NOMEM);
	if (o->chain != NULL)
		GUARD(sign_pool_add(pool, o->chain));
	if (o->dir != NULL) {
		ENSURE((p = gp_path_join(o->dir, "certs/ca.pem")) != NULL,
		    GP_ERR_NOMEM);
		GUARD(sign_pool_add(pool, p));
		free(p);
		ENSURE((p = gp_path_join(o->dir, "certs/root.pem")) != NULL,
		    GP_ERR_NOMEM);
		GUARD(sign_pool_add(pool, p));
	}
	if (add != NULL) {
		GUARD(sig_certs_read(add, add_len, &have));
		while ((x = sk_X509_shift(have)) != NULL) {
			if (sk_X509_push(pool, x) <= 0) {
				X509_free(x);
				r = GP_ERR_NOMEM;
				goto out;
			}
		}
	}
	r = sig_chain_build(cert, pool, out);
	if (r == GP_ERR_NOT_FOUND) {
		char why[300];

		/* The detail buffer is rewritten by gp_err_set: copy. */
		snprintf(why, sizeof(why), "%s", gp_err_detail());
		r = gp_err_set(r, "chain: %s; give --chain FILE (its issuing "
		    "CA certificates), --dir DIR (the instance that issued "
		    "it), or --no-chain (then a relying party that holds only "
		    "the root cannot verify the signature)", why);
	}
	GUARD(r);
	r = 0;
out:
	free(p);
	sk_X509_pop_free(have, X509_free);
	sk_X509_pop_free(pool, X509_free);
	return r;
}

static int
sign_run(const struct sign_opts *o)
{
	tok_ctx *ctx = NULL;
	struct tok_uri u = {0};
	struct tok_pin_source src;
	struct sig_signer sg = {0};
	struct sig_sign_req rq;
	struct sig_sign_info info;
	struct sig_tsa tsa = {0};
	struct sig_policy *pol = NULL;
	STACK_OF(X509) *chain = NULL, *certs = NULL;
	const EVP_MD *md = EVP_sha256();
	uint8_t digest[1][EVP_MAX_MD_SIZE], *content = NULL, *add = NULL;
	uint8_t *der = NULL;
	size_t content_len = 0, add_len = 0, der_len = 0;
	const char *module = o->module;
	char *pin = NULL;
	int r, replace = 0;

	memset(&rq, 0, sizeof(rq));
	GUARD(tok_uri_parse(o->key, &u));
	if (module == NULL)
		module = u.module_path ? u.module_path : GP_SOFTHSM_MODULE;
	if (o->policy != NULL)
		GUARD(sig_policy_load(o->policies_dir, o->policy, &pol));
	/* The document: streamed, or read whole when it goes inside. */
	if (o->attached) {
		r = gp_file_read(o->in, SIG_MAX_ATTACHED, &content,
		    &content_len);
		if (r == GP_ERR_TOO_LARGE)
			r = gp_err_set(r, "%s: over %d bytes; sign it detached",
			    o->in, SIG_MAX_ATTACHED);
		GUARD(r);
	} else {
		GUARD(sig_digest_file(o->in, &md, 1, digest));
	}
	if (o->add_to != NULL) {
		GUARD(gp_file_read(o->add_to, SIG_MAX_P7S, &add, &add_len));
		replace = strcmp(o->add_to, o->out) == 0;
	}
	if (strncmp(o->key, "file:", 5) != 0) {
		GUARD(tok_ctx_new(module, &ctx));
		memset(&src, 0, sizeof(src));
		if (o->pin_file != NULL) {
			src.kind = TOK_PIN_FILE;
			src.value = o->pin_file;
		} else if (getenv(SIGN_PIN_ENV) != NULL) {
			src.kind = TOK_PIN_ENV;
			src.value = SIGN_PIN_ENV;
		} else {
			src.kind = TOK_PIN_PROMPT;
			src.value = "User PIN: ";
		}
		GUARD(tok_pin_read(&src, &pin));
		r = tok_login(ctx, u.token ? u.token : u.serial, pin);
		gp_secret_free(pin);
		pin = NULL;
		GUARD(r);
	}
	GUARD(tok_key_load(ctx, o->key, &sg.key));
	if (o->cert != NULL) {
		GUARD(sign_pem_certs(o->cert, &certs));
		sg.cert = sk_X509_value(certs, 0);
	} else {
		ENSURE(ctx != NULL, gp_err_set(GP_ERR_INVALID, "--cert is "
		    "required with a file: key"));
		GUARD(sign_token_cert(ctx, o->key, &sg.cert));
	}
	if (!o->no_chain)
		GUARD(sign_chain(o, sg.cert, add, add_len, &chain));
	sg.chain = chain;
	rq.signer = &sg;
	if (o->attached) {
		rq.content = content;
		rq.content_len = content_len;
		rq.attached = 1;
	} else {
		rq.digest = digest[0];
		rq.digest_len = 32;
	}
	rq.add_to = add;
	rq.add_to_len = add_len;
	rq.step = o->step;
	rq.policy = pol;
	if (o->tsa != NULL) {
		tsa.url = o->tsa;
		rq.tsa = &tsa;
	}
	GUARD(sig_sign(&rq, &der, &der_len, &info));
	GUARD(gp_file_write(o->out, der, der_len, 0644, !replace));
	if (o->json) {
		cli_print_json(json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:I, "
		    "s:b}", "in", o->in, "out", o->out, "level", info.level,
		    "signer_serial", info.signer_serial, "step", o->step,
		    "signers", (json_int_t)info.signers, "attached",
		    o->attached));
	} else {
		printf("signed %s -> %s (%s, %zu signer%s%s%s)\n", o->in,
		    o->out, info.level, info.signers,
		    info.signers == 1 ? "" : "s", o->step ? ", step " : "",
		    o->step ? o->step : "");
	}
	r = 0;
out:
	gp_secret_free(pin);
	OPENSSL_free(der);
	EVP_PKEY_free(sg.key);
	if (o->cert == NULL)
		X509_free(sg.cert);
	sk_X509_pop_free(certs, X509_free);
	sk_X509_pop_free(chain, X509_free);
	tok_ctx_free(ctx);
	tok_uri_clear(&u);
	sig_policy_free(pol);
	free(content);
	free(add);
	return r;
}

int
cmd_sign(int argc, char **argv)
{
	static const struct option lo[] = {
		{"key", required_argument, NULL, 'k'},
		{"module", required_argument, NULL, 'm'},
		{"cert", required_argument, NULL, 'c'},
		{"chain", required_argument, NULL, 'C'},
		{"in", required_argument, NULL, 'i'},
		{"out", required_argument, NULL, 'o'},
		{"tsa", required_argument, NULL, 't'},
		{"attached", no_argument, NULL, 'a'},
		{"pin-file", required_argument, NULL, 'p'},
		{"pin", required_argument, NULL, 'P'},
		{"step", required_argument, NULL, 's'},
		{"add-to", required_argument, NULL, 'A'},
		{"policy", required_argument, NULL, 'y'},
		{"policies-dir", required_argument, NULL, 'D'},
		{"dir", required_argument, NULL, 'r'},
		{"no-chain", no_argument, NULL, 'n'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct sign_opts o;
	int c, r;

	memset(&o, 0, sizeof(o));
	o.policies_dir = GP_POLICIES_DIR;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'k': o.key = optarg; break;
		case 'm': o.module = optarg; break;
		case 'c': o.cert = optarg; break;
		case 'C': o.chain = optarg; break;
		case 'i': o.in = optarg; break;
		case 'o': o.out = optarg; break;
		case 't': o.tsa = optarg; break;
		case 'a': o.attached = 1; break;
		case 'p': o.pin_file = optarg; break;
		case 'P':
			return cli_usage("sign", "--pin: PINs are never taken "
			    "from the command line; use --pin-file or $"
			    SIGN_PIN_ENV);
		case 's': o.step = optarg; break;
		case 'A': o.add_to = optarg; break;
		case 'y': o.policy = optarg; break;
		case 'D': o.policies_dir = optarg; break;
		case 'r': o.dir = optarg; break;
		case 'n': o.no_chain = 1; break;
		case 'j': o.json = 1; break;
		case 'h': sign_help(); return CLI_OK;
		default: return cli_bad_option("sign", argc, argv);
		}
	}
	if (optind != argc)
		return cli_usage("sign", "unexpected argument");
	if (o.key == NULL || o.in == NULL || o.out == NULL)
		return cli_usage("sign", "--key, --in and --out are required");
	if (o.no_chain && (o.chain != NULL || o.dir != NULL))
		return cli_usage("sign", "--no-chain excludes --chain and "
		    "--dir");
	if (o.add_to != NULL && o.attached)
		return cli_usage("sign", "--add-to keeps the signature's own "
		    "form; drop --attached");
	if ((r = sign_run(&o)) != 0)
		return cli_fail(r, o.json);
	return CLI_OK;
}
