/*
 * cmd_tsa.c: `govpki tsa stamp|verify`, an RFC 3161 client. stamp hashes a
 * file (SHA-256 by default), sends a TimeStampReq with a fresh nonce to a
 * TSA over plain HTTP (RFC 3161 3.4; a socket, no HTTP library), checks the
 * reply (status, imprint, nonce, policy, signature, chain, ESSCertIDv2)
 * and only then saves it. verify checks a saved reply or token against a
 * file. Trust comes from an instance directory (certs/root.pem trusted,
 * ca.pem and tsa.pem as intermediates) or from --ca FILE (trust anchors;
 * the token must then carry its certificates, or --untrusted gives them).
 * Neither works on an instance's keys, so neither writes its audit log.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/ts.h>

#include "cli/cli.h"
#include "signer/signer.h"
#include "tsa/tsa.h"

#define TSA_CLI_MAX_REPLY (1024 * 1024)
#define TSA_CLI_MAX_PEM (1024 * 1024)
#define TSA_CLI_TIMEOUT_S 30

struct tsa_cli_opts {
	const char *dir;
	const char *ca;
	const char *untrusted;
	const char *url;
	const char *out;
	const char *policy;
	const char *hash;
	int no_cert;
	int force;
	int json;
	int vfail;          /* set when the time-stamp itself failed */
};

#define TSA_USAGE_STAMP "stamp FILE [--url URL] [--out FILE] [--force] " \
    "[--policy OID]\n                  [--hash ALG] [--no-cert]\n" \
    "                  [--dir DIR | --ca FILE [--untrusted FILE]] [--json]"
#define TSA_USAGE_VERIFY "verify FILE TOKEN [--dir DIR | --ca FILE " \
    "[--untrusted FILE]] [--json]"
#define TSA_OPTS_TRUST \
    "  --dir DIR        trust the instance DIR (default ./var): " \
    "certs/root.pem, with\n" \
    "                   certs/ca.pem and tsa.pem as intermediates\n" \
    "  --ca FILE        trust the PEM certificates in FILE instead\n" \
    "  --untrusted FILE intermediate and TSA certificates (PEM)\n" \
    "  --json           print the result as one JSON object\n"

/* The group's usage: both sub-commands' synopses. */
static void
tsa_help(FILE *f)
{
	fprintf(f, "usage: govpki tsa " TSA_USAGE_STAMP "\n"
	    "       govpki tsa " TSA_USAGE_VERIFY "\n\n"
	    "stamp   time-stamps a file at an RFC 3161 TSA and saves the "
	    "checked reply\n"
	    "verify  checks a saved reply or token against a file\n\n"
	    "Each sub-command has its own --help. Exit 0 on success, 1 on "
	    "failure, 2 on a\nusage error.\n");
}

static void
tsa_help_stamp(void)
{
	printf("usage: govpki tsa " TSA_USAGE_STAMP "\n\n"
	    "Hashes FILE, asks the TSA at URL for a time-stamp (RFC 3161 over "
	    "HTTP, with a\nfresh nonce), checks the reply (imprint, nonce, "
	    "policy, signature, chain,\nESSCertIDv2) and saves it to --out "
	    "(default FILE.tsr). An existing --out file\nis never replaced "
	    "unless --force; it is refused before anything is sent.\n\n"
	    "  --url URL        http://HOST:PORT/tsa (default: public_url of "
	    "DIR + /tsa)\n"
	    "  --out FILE       where to save the reply (default FILE.tsr)\n"
	    "  --force          replace an existing --out file\n"
	    "  --policy OID     ask for this TSA policy\n"
	    "  --hash ALG       sha256 (default), sha384 or sha512\n"
	    "  --no-cert        do not ask for the TSA certificate in the "
	    "token (certReq false)\n"
	    TSA_OPTS_TRUST
	    "\nExit 0 on success, 1 on failure, 2 on a usage error.\n");
}

static void
tsa_help_verify(void)
{
	printf("usage: govpki tsa " TSA_USAGE_VERIFY "\n\n"
	    "Checks that TOKEN (a saved TimeStampResp or a bare "
	    "TimeStampToken, DER)\ntime-stamps FILE (its imprint) and is "
	    "signed by a TSA certificate chaining to\nthe trust anchors. "
	    "A failure reads \"time-stamp does not verify: ...\".\n\n"
	    TSA_OPTS_TRUST
	    "\nExit 0 when it verifies, 1 when not, 2 on a usage error.\n");
}

static int
tsa_parse(const char *sub, int argc, char **argv, struct tsa_cli_opts *o)
{
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"ca", required_argument, NULL, 'c'},
		{"untrusted", required_argument, NULL, 'u'},
		{"url", required_argument, NULL, 'U'},
		{"out", required_argument, NULL, 'o'},
		{"policy", required_argument, NULL, 'p'},
		{"hash", required_argument, NULL, 'H'},
		{"no-cert", no_argument, NULL, 'n'},
		{"force", no_argument, NULL, 'f'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, stamp = strcmp(sub, "stamp") == 0;
	char cmd[16];

	snprintf(cmd, sizeof(cmd), "tsa %s", sub);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->dir = optarg;
			break;
		case 'c':
			o->ca = optarg;
			break;
		case 'u':
			o->untrusted = optarg;
			break;
		case 'U':
			o->url = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'p':
			o->policy = optarg;
			break;
		case 'H':
			o->hash = optarg;
			break;
		case 'n':
			o->no_cert = 1;
			break;
		case 'f':
			o->force = 1;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'h':
			if (stamp)
				tsa_help_stamp();
			else
				tsa_help_verify();
			return -1;
		default:
			return cli_bad_option(cmd, argc, argv);
		}
	}
	if (!stamp && (o->url || o->out || o->policy || o->hash ||
	    o->no_cert || o->force))
		return cli_usage(cmd, "--url, --out, --policy, --hash, "
		    "--no-cert and --force are for stamp");
	if (o->dir != NULL && o->ca != NULL)
		return cli_usage(cmd, "--dir and --ca exclude each other");
	if (o->hash != NULL && strcmp(o->hash, "sha256") != 0 &&
	    strcmp(o->hash, "sha384") != 0 && strcmp(o->hash, "sha512") != 0)
		return cli_usage(cmd, "--hash must be sha256, sha384 or sha512");
	if (stamp && argc - optind != 1)
		return cli_usage(cmd, argc - optind < 1 ? "FILE is required" :
		    "takes one FILE (one argument too many)");
	if (!stamp && argc - optind != 2)
		return cli_usage(cmd, argc - optind < 2 ? "FILE and TOKEN are "
		    "required" : "takes FILE and TOKEN (one argument too "
		    "many)");
	return 0;
}

static int
tsa_trust(const struct tsa_cli_opts *o, STACK_OF(X509) *trusted,
    STACK_OF(X509) *untrusted)
{
	int r = GP_ERR_INTERNAL;
	const char *dir = o->dir != NULL ? o->dir : CLI_DEFAULT_DIR;
	char *p = NULL;

	if (o->ca != NULL) {
		GUARD(cli_pem_certs(o->ca, TSA_CLI_MAX_PEM, trusted));
	} else {
		ENSURE((p = gp_path_join(dir, "certs/root.pem")) != NULL,
		    GP_ERR_NOMEM);
		r = cli_pem_certs(p, TSA_CLI_MAX_PEM, trusted);
		if (r == GP_ERR_NOT_FOUND)
			r = gp_err_set(GP_ERR_NOT_FOUND, "%s: missing; give "
			    "the instance with --dir or trust anchors with "
			    "--ca", p);
		GUARD(r);
		free(p);
		ENSURE((p = gp_path_join(dir, "certs/ca.pem")) != NULL,
		    GP_ERR_NOMEM);
		GUARD(cli_pem_certs(p, TSA_CLI_MAX_PEM, untrusted));
		free(p);
		ENSURE((p = gp_path_join(dir, "certs/tsa.pem")) != NULL,
		    GP_ERR_NOMEM);
		GUARD(cli_pem_certs(p, TSA_CLI_MAX_PEM, untrusted));
	}
	if (o->untrusted != NULL)
		GUARD(cli_pem_certs(o->untrusted, TSA_CLI_MAX_PEM, untrusted));
	r = 0;
out:
	free(p);
	return r;
}

static void
tsa_print(const struct tsa_cli_opts *o, const char *what, const char *file,
    const char *token, const struct tsa_verify_out *vo)
{
	if (o->json) {
		cli_print_json(json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:s, "
		    "s:s}", "ok", 1, "file", file, "token", token, "serial",
		    vo->serial, "gen_time", vo->gen_time, "policy", vo->policy,
		    "hash", vo->md, "tsa", vo->tsa_subject));
		return;
	}
	printf("%s %s\n  token    %s\n  time     %s\n  serial   %s\n"
	    "  policy   %s\n  hash     %s\n  tsa      %s\n", what, file, token,
	    vo->gen_time, vo->serial, vo->policy, vo->md,
	    vo->tsa_subject[0] ? vo->tsa_subject : "(from the trust files)");
}

static int
tsa_stamp(struct tsa_cli_opts *o, const char *file)
{
	int r = GP_ERR_INTERNAL;
	const EVP_MD *md;
	uint8_t digest[EVP_MAX_MD_SIZE], *req = NULL, *rep = NULL, rnd[8];
	unsigned int dlen = 0;
	size_t req_len = 0, rep_len = 0;
	ASN1_INTEGER *nonce = NULL;
	BIGNUM *bn = NULL;
	STACK_OF(X509) *trusted = sk_X509_new_null();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	struct tsa_verify_in vi;
	struct tsa_verify_out vo;
	struct gp_config *cfg = NULL;
	char *url = NULL, *out = NULL;

	ENSURE(trusted != NULL && untrusted != NULL, GP_ERR_NOMEM);
	md = o->hash == NULL || strcmp(o->hash, "sha256") == 0 ? EVP_sha256() :
	    strcmp(o->hash, "sha384") == 0 ? EVP_sha384() :
	    strcmp(o->hash, "sha512") == 0 ? EVP_sha512() : NULL;
	ENSURE(md != NULL, gp_err_set(GP_ERR_INVALID, "--hash: \"%s\" is not "
	    "sha256, sha384 or sha512", o->hash));
	GUARD(tsa_trust(o, trusted, untrusted));
	if (o->url != NULL) {
		ENSURE((url = strdup(o->url)) != NULL, GP_ERR_NOMEM);
	} else {
		GUARD(gp_config_load(o->dir != NULL ? o->dir : CLI_DEFAULT_DIR,
		    &cfg));
		ENSURE(asprintf(&url, "%s/tsa", cfg->public_url) > 0,
		    GP_ERR_NOMEM);
	}
	if (o->out != NULL)
		ENSURE((out = strdup(o->out)) != NULL, GP_ERR_NOMEM);
	else
		ENSURE(asprintf(&out, "%s.tsr", file) > 0, GP_ERR_NOMEM);
	/* A saved reply may be the only proof of when a bid existed: it is
	 * never replaced unasked. Checked before anything is sent, and the
	 * write below is exclusive too. */
	ENSURE(o->force || access(out, F_OK) != 0, gp_err_set(GP_ERR_EXISTS,
	    "%s exists; nothing was sent. Give another --out, or --force to "
	    "replace it", out));
	{
		const EVP_MD *mds[1];
		uint8_t dg[1][EVP_MAX_MD_SIZE];

		mds[0] = md;
		GUARD(sig_digest_file(file, mds, 1, dg));
		dlen = (unsigned int)EVP_MD_get_size(md);
		memcpy(digest, dg[0], dlen);
	}
	/* RFC 3161 2.4.1: the nonce "allows the client to verify the
	 * timeliness of the response when no local clock is available". */
	GUARD(gp_random(rnd, sizeof(rnd)));
	rnd[0] &= 0x7f;
	ENSURE((bn = BN_bin2bn(rnd, sizeof(rnd), NULL)) != NULL &&
	    (nonce = BN_to_ASN1_INTEGER(bn, NULL)) != NULL, GP_ERR_NOMEM);
	GUARD(tsa_req_make(md, digest, dlen, nonce, o->policy, !o->no_cert,
	    &req, &req_len));
	GUARD(gp_http_post(url, "application/timestamp-query",
	    "application/timestamp-reply", req, req_len, TSA_CLI_MAX_REPLY,
	    TSA_CLI_TIMEOUT_S, &rep, &rep_len));

	memset(&vi, 0, sizeof(vi));
	vi.reply_der = rep;
	vi.reply_len = rep_len;
	vi.digest = digest;
	vi.digest_len = dlen;
	vi.nonce = nonce;
	vi.trusted = trusted;
	vi.untrusted = untrusted;
	o->vfail = 1;
	GUARD(tsa_verify(&vi, &vo));
	ENSURE(strcmp(vo.md, OBJ_nid2ln(EVP_MD_get_type(md))) == 0,
	    gp_err_set(GP_ERR_TAMPERED, "the token's hash algorithm %s is "
	    "not the request's", vo.md));
	ENSURE(o->policy == NULL || strcmp(vo.policy, o->policy) == 0,
	    gp_err_set(GP_ERR_TAMPERED, "the token's policy %s is not the "
	    "one asked for", vo.policy));
	o->vfail = 0;
	r = gp_file_write(out, rep, rep_len, 0644, !o->force);
	if (r == GP_ERR_EXISTS)
		r = gp_err_set(r, "%s appeared meanwhile; the reply is not "
		    "saved. Give another --out, or --force", out);
	GUARD(r);
	tsa_print(o, "time-stamped", file, out, &vo);
	r = 0;
out:
	gp_config_free(cfg);
	sk_X509_pop_free(trusted, X509_free);
	sk_X509_pop_free(untrusted, X509_free);
	ASN1_INTEGER_free(nonce);
	BN_free(bn);
	free(req);
	free(rep);
	free(url);
	free(out);
	return r;
}

static int
tsa_verify_cmd(struct tsa_cli_opts *o, const char *file, const char *token)
{
	int r = GP_ERR_INTERNAL;
	uint8_t *rep = NULL;
	size_t rep_len = 0;
	STACK_OF(X509) *trusted = sk_X509_new_null();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	struct tsa_verify_in vi;
	struct tsa_verify_out vo;

	ENSURE(trusted != NULL && untrusted != NULL, GP_ERR_NOMEM);
	GUARD(tsa_trust(o, trusted, untrusted));
	GUARD(gp_file_read(token, TSA_CLI_MAX_REPLY, &rep, &rep_len));
	memset(&vi, 0, sizeof(vi));
	vi.reply_der = rep;
	vi.reply_len = rep_len;
	vi.data_path = file;
	vi.trusted = trusted;
	vi.untrusted = untrusted;
	r = tsa_verify(&vi, &vo);
	o->vfail = r != 0;
	if (r == GP_ERR_INVALID || r == GP_ERR_TAMPERED) {
		char why[512];

		/* The detail buffer is rewritten by gp_err_set: copy. */
		snprintf(why, sizeof(why), "%s", gp_err_detail());
		r = gp_err_set(r, "%s: %s", token, why);
	}
	GUARD(r);
	tsa_print(o, "verified", file, token, &vo);
	r = 0;
out:
	sk_X509_pop_free(trusted, X509_free);
	sk_X509_pop_free(untrusted, X509_free);
	free(rep);
	return r;
}

/* A time-stamp that does not verify says so, rather than the error
 * table's generic text for its code ("integrity check failed", "invalid
 * input"). */
static int
tsa_fail(int code, int json)
{
	const char *detail = gp_err_detail();

	if (json) {
		char msg[1200];
		snprintf(msg, sizeof(msg), "time-stamp does not verify: %s",
		    detail);
		cli_print_json(json_pack("{s:{s:s, s:s}}", "error", "code",
		    gp_err_name(code), "message", msg));
	} else {
		fprintf(stderr, "govpki: time-stamp does not verify: %s\n",
		    detail);
	}
	return CLI_FAIL;
}

int
cmd_tsa(int argc, char **argv)
{
	struct tsa_cli_opts o;
	const char *sub;
	int r, rc;

	memset(&o, 0, sizeof(o));
	if ((rc = cli_group_help(argc, argv, tsa_help)) >= 0)
		return rc;
	sub = argv[1];
	if (strcmp(sub, "stamp") != 0 && strcmp(sub, "verify") != 0)
		return cli_usage("tsa", "sub-command must be stamp or verify");
	r = tsa_parse(sub, argc - 1, argv + 1, &o);
	if (r < 0)
		return CLI_OK;
	if (r != 0)
		return r;
	if (strcmp(sub, "stamp") == 0)
		r = tsa_stamp(&o, argv[1 + optind]);
	else
		r = tsa_verify_cmd(&o, argv[1 + optind], argv[2 + optind]);
	if (r == 0)
		return CLI_OK;
	return o.vfail ? tsa_fail(r, o.json) : cli_fail(r, o.json);
}
