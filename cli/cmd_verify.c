/*
 * cmd_verify.c: `govpki verify`, a relying party's check of a CMS
 * signature over a document (streamed, any size): every SignerInfo, its
 * path to the trust anchors, its status at the time of signing, its
 * time-stamp, and an approval policy when named. Trust comes from an
 * instance directory (certs/root.pem trusted, the issuing and TSA
 * certificates as intermediates, the store for status) or from --ca FILE
 * (with --crl FILE for status). With --fetch, or with the instance's
 * verify.fetch_revocation, the status of other CAs' certificates whose
 * path verified is fetched online (OCSP, then the CRL distribution point;
 * sig_status.c), only from the URL prefixes and hosts allowed by the
 * instance's verify.fetch_allow and --fetch-allow. Exit 0 only when
 * everything is valid. Writes no audit log.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "cli/cli.h"
#include "instance/instance.h"
#include "signer/signer.h"

#ifndef GP_POLICIES_DIR
#define GP_POLICIES_DIR "/usr/local/share/govpki/policies"
#endif

#define VERIFY_MAX_PEM (4 * 1024 * 1024)
#define VERIFY_MAX_ALLOW 16

struct verify_opts {
	const char *in, *sig, *dir, *ca, *untrusted, *crl, *policy;
	const char *policies_dir;
	int json;
	int fetch;
	const char *allow[VERIFY_MAX_ALLOW];  /* --fetch-allow */
	size_t allow_len;
};

static void
verify_help(void)
{
	printf("usage: govpki verify --sig FILE.p7s [--in FILE] [--dir DIR | "
	    "--ca FILE [--crl FILE]]\n"
	    "                     [--untrusted FILE] [--policy NAME|FILE] "
	    "[--fetch [--fetch-allow URL|HOST]...] [--json]\n\n"
	    "Verifies each signer of FILE.p7s (CMS, DER or PEM) over FILE "
	    "(needed unless the\n"
	    "signature is attached): signature, message digest, "
	    "signing-certificate-v2, path\n"
	    "to the trust anchors, key usage, status at the time of "
	    "signing, time-stamp, and\n"
	    "the approval policy if named. Exit 0 only when valid.\n\n"
	    "  --dir DIR        trust instance DIR (default ./var): "
	    "certs/root.pem, status from\n"
	    "                   its store, policies from its profiles_dir\n"
	    "  --ca FILE        trust the PEM certificates in FILE instead\n"
	    "  --untrusted FILE intermediate certificates (PEM)\n"
	    "  --crl FILE       CRLs (PEM or DER) for the status of other "
	    "CAs' certificates\n"
	    "  --fetch          fetch the status of other CAs' certificates "
	    "whose path verified\n"
	    "                   (OCSP, then the CRL distribution point; "
	    "http:// only); with --dir,\n"
	    "                   also on when govpki.json has "
	    "verify.fetch_revocation\n"
	    "  --fetch-allow U  fetch only from URL prefix U (http://HOST"
	    "[:PORT]/...) or host U;\n"
	    "                   repeatable, added to verify.fetch_allow of "
	    "--dir; with none, nothing\n"
	    "                   is fetched even with --fetch\n"
	    "  --policy NAME    approval policy: policies/approvals/NAME.json "
	    "or a path\n"
	    "  --policies-dir D the profiles folder whose approvals/ holds "
	    "--policy NAME\n"
	    "                   (default: profiles_dir of --dir, else the "
	    "installed ones)\n"
	    "  --json           print the whole report as JSON\n\n"
	    "Writes no audit record. Exit 0 when valid, 1 when not or on "
	    "failure, 2 on a\nusage error.\n");
}

static int
verify_pem(const char *path, STACK_OF(X509) *certs,
    STACK_OF(X509_CRL) *crls)
{
	uint8_t *buf = NULL;
	size_t len;
	BIO *bio = NULL;
	STACK_OF(X509_INFO) *infos = NULL;
	X509_INFO *xi;
	const unsigned char *p;
	X509_CRL *crl;
	int r, i, n = 0;

	GUARD(gp_file_read(path, VERIFY_MAX_PEM, &buf, &len));
	if (crls != NULL && len > 0 && buf[0] == 0x30) {
		p = buf;
		crl = d2i_X509_CRL(NULL, &p, (long)len);
		ENSURE(crl != NULL, gp_err_ssl(GP_ERR_INVALID, "%s: not a DER "
		    "CRL", path));
		if (!sk_X509_CRL_push(crls, crl)) {
			X509_CRL_free(crl);
			r = GP_ERR_NOMEM;
			goto out;
		}
		r = 0;
		goto out;
	}
	ENSURE((bio = BIO_new_mem_buf(buf, (int)len)) != NULL, GP_ERR_NOMEM);
	infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	ENSURE(infos != NULL, gp_err_ssl(GP_ERR_INVALID, "%s: not PEM", path));
	for (i = 0; i < sk_X509_INFO_num(infos); i++) {
		xi = sk_X509_INFO_value(infos, i);
		if (certs != NULL && xi->x509 != NULL) {
			ENSURE(sk_X509_push(certs, xi->x509), GP_ERR_NOMEM);
			xi->x509 = NULL; /* transferred */
			n++;
		}
		if (crls != NULL && xi->crl != NULL) {
			ENSURE(sk_X509_CRL_push(crls, xi->crl), GP_ERR_NOMEM);
			xi->crl = NULL; /* transferred */
			n++;
		}
	}
	ENSURE(n > 0, gp_err_set(GP_ERR_INVALID, "%s: nothing usable in it",
	    path));
	r = 0;
out:
	ERR_clear_error();
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	free(buf);
	return r;
}

static void
verify_print(const json_t *rep, int valid)
{
	const json_t *s, *pol, *st, *e;
	size_t i, j;

	json_array_foreach(json_object_get(rep, "signers"), i, s) {
		const char *step = json_string_value(json_object_get(s, "step"));

		printf("signer %zu: %s\n  %s%s%s, %s, %s (%s)\n", i + 1,
		    json_is_true(json_object_get(s, "valid")) ? "valid" :
		    "INVALID",
		    json_string_value(json_object_get(s, "subject")) ?
		    json_string_value(json_object_get(s, "subject")) :
		    "(unknown signer)", step ? ", step " : "",
		    step ? step : "",
		    json_string_value(json_object_get(s, "level")),
		    json_string_value(json_object_get(s, "time")),
		    json_string_value(json_object_get(s, "time_source")));
		json_array_foreach(json_object_get(s, "reasons"), j, e)
			printf("  reason: %s\n", json_string_value(e));
	}
	if ((pol = json_object_get(rep, "policy")) != NULL) {
		printf("policy %s: %s\n", json_string_value(json_object_get(pol,
		    "name")), json_is_true(json_object_get(pol, "valid")) ?
		    "satisfied" : "NOT satisfied");
		json_array_foreach(json_object_get(pol, "steps"), i, st)
			printf("  step %s: %s\n", json_string_value(
			    json_object_get(st, "step")), json_string_value(
			    json_object_get(st, "status")));
		json_array_foreach(json_object_get(pol, "reasons"), j, e)
			printf("  reason: %s\n", json_string_value(e));
	}
	printf("%s\n", valid ? "valid" : "INVALID");
}

static int
verify_run(const struct verify_opts *o, int *out_valid)
{
	struct gp_config *cfg = NULL;
	struct sig_trust tr;
	struct sig_verify_req rq;
	struct sig_policy *pol = NULL;
	STACK_OF(X509) *anchors = NULL, *untrusted = NULL;
	STACK_OF(X509_CRL) *crls = NULL;
	store *st = NULL;
	uint8_t *p7s = NULL;
	size_t p7s_len, i;
	char *path = NULL;
	const char *pdir = o->policies_dir;
	const char **allow = NULL;
	json_t *rep = NULL;
	int r;

	memset(&tr, 0, sizeof(tr));
	memset(&rq, 0, sizeof(rq));
	*out_valid = 0;
	ENSURE((anchors = sk_X509_new_null()) != NULL &&
	    (untrusted = sk_X509_new_null()) != NULL &&
	    (crls = sk_X509_CRL_new_null()) != NULL, GP_ERR_NOMEM);
	if (o->ca != NULL) {
		GUARD(verify_pem(o->ca, anchors, NULL));
	} else {
		GUARD(gp_config_load(o->dir, &cfg));
		ENSURE((path = gp_path_join(cfg->dir, "certs/root.pem")) !=
		    NULL, GP_ERR_NOMEM);
		GUARD(verify_pem(path, anchors, NULL));
		free(path);
		ENSURE((path = gp_path_join(cfg->dir, "certs/ca.pem")) != NULL,
		    GP_ERR_NOMEM);
		GUARD(verify_pem(path, untrusted, NULL));
		free(path);
		ENSURE((path = gp_path_join(cfg->dir, "certs/tsa.pem")) !=
		    NULL, GP_ERR_NOMEM);
		GUARD(verify_pem(path, untrusted, NULL));
		free(path);
		path = NULL;
		GUARD(instance_store_open(cfg, 0, NULL, &st));
		if (pdir == NULL)
			pdir = cfg->profiles_dir;
	}
	if (o->untrusted != NULL)
		GUARD(verify_pem(o->untrusted, untrusted, NULL));
	if (o->crl != NULL)
		GUARD(verify_pem(o->crl, NULL, crls));
	if (o->policy != NULL)
		GUARD(sig_policy_load(pdir ? pdir : GP_POLICIES_DIR, o->policy,
		    &pol));
	GUARD(gp_file_read(o->sig, SIG_MAX_P7S, &p7s, &p7s_len));
	if (cfg != NULL)
		sig_trust_config(&tr, cfg);
	tr.anchors = anchors;
	tr.untrusted = untrusted;
	tr.st = st;
	tr.crls = crls;
	tr.policy = pol;
	tr.fetch = o->fetch || tr.fetch;
	/* The allowed URLs: the instance's, and those of --fetch-allow. */
	if (o->allow_len > 0) {
		ENSURE((allow = calloc(tr.fetch_allow_len + o->allow_len,
		    sizeof(*allow))) != NULL, GP_ERR_NOMEM);
		for (i = 0; i < tr.fetch_allow_len; i++)
			allow[i] = tr.fetch_allow[i];
		for (i = 0; i < o->allow_len; i++)
			allow[tr.fetch_allow_len + i] = o->allow[i];
		tr.fetch_allow = allow;
		tr.fetch_allow_len += o->allow_len;
	}
	rq.p7s = p7s;
	rq.p7s_len = p7s_len;
	rq.content_path = o->in;
	rq.trust = &tr;
	GUARD(sig_verify(&rq, &rep, out_valid));
	if (o->json)
		cli_print_json(json_incref(rep));
	else
		verify_print(rep, *out_valid);
	r = 0;
out:
	json_decref(rep);
	free(allow);
	free(p7s);
	free(path);
	sig_policy_free(pol);
	store_free(st);
	gp_config_free(cfg);
	sk_X509_pop_free(anchors, X509_free);
	sk_X509_pop_free(untrusted, X509_free);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	return r;
}

int
cmd_verify(int argc, char **argv)
{
	static const struct option lo[] = {
		{"in", required_argument, NULL, 'i'},
		{"sig", required_argument, NULL, 's'},
		{"dir", required_argument, NULL, 'd'},
		{"ca", required_argument, NULL, 'c'},
		{"untrusted", required_argument, NULL, 'u'},
		{"crl", required_argument, NULL, 'l'},
		{"policy", required_argument, NULL, 'y'},
		{"policies-dir", required_argument, NULL, 'D'},
		{"json", no_argument, NULL, 'j'},
		{"fetch", no_argument, NULL, 'f'},
		{"fetch-allow", required_argument, NULL, 'A'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct verify_opts o;
	int c, r, valid = 0;

	memset(&o, 0, sizeof(o));
	o.dir = CLI_DEFAULT_DIR;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'i': o.in = optarg; break;
		case 's': o.sig = optarg; break;
		case 'd': o.dir = optarg; break;
		case 'c': o.ca = optarg; break;
		case 'u': o.untrusted = optarg; break;
		case 'l': o.crl = optarg; break;
		case 'y': o.policy = optarg; break;
		case 'D': o.policies_dir = optarg; break;
		case 'j': o.json = 1; break;
		case 'f': o.fetch = 1; break;
		case 'A':
			if (o.allow_len == VERIFY_MAX_ALLOW ||
			    strncmp(optarg, "https://", 8) == 0)
				return cli_usage("verify", "--fetch-allow: at "
				    "most 16, http:// URL prefixes or hosts");
			o.allow[o.allow_len++] = optarg;
			break;
		case 'h': verify_help(); return CLI_OK;
		default: return cli_bad_option("verify", argc, argv);
		}
	}
	if (optind != argc)
		return cli_usage("verify", "unexpected argument");
	if (o.sig == NULL)
		return cli_usage("verify", "--sig is required");
	if ((r = verify_run(&o, &valid)) != 0)
		return cli_fail(r, o.json);
	return valid ? CLI_OK : CLI_FAIL;
}
