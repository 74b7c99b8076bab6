/*
 * cmd_tender.c: `govpki tender <sub-command>`: the local operator's view
 * of the instance's tenders, through the same tender/ functions the
 * agent's API calls (the same checks, the same audit records). The actor
 * is the local user ("local:<login>"), a person of its own for dual
 * control: an opening an agent requested over the API can be approved
 * here (`approve-open`), never by the one who asked.
 *
 *   create       a tender (platform mode makes its opening key)
 *   list, show   what the agent's API shows
 *   open         ask to open (at or after the opening time)
 *   approve-open the second approval; in platform mode it opens, in
 *                bidder mode it opens the key-release window
 *   close        bidder mode: ends the window, revoking unreleased bids
 *   record       the opening record (DER), with its confirmations
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "cli/cli.h"
#include "instance/instance.h"
#include "signer/signer.h"
#include "tender/tender.h"

struct tnd_opts {
	const char *dir, *title, *deadline, *opening, *mode, *after, *out;
	const char *arg;
	json_t *fields, *profiles;
	int64_t window_s, max_bid, limit;
	int json, yes;
};

static void
tender_help(void)
{
	printf("usage: govpki tender SUB-COMMAND [--dir DIR] [--json] ...\n\n"
	    "  create --title T --deadline TIME --opening-time TIME\n"
	    "         [--mode platform|bidder] [--field NAME]... "
	    "[--profile NAME]...\n"
	    "         [--window-s N] [--max-bid-bytes N]\n"
	    "                           a tender; TIME is RFC 3339 "
	    "(2026-05-01T09:30:00+08:00).\n"
	    "                           platform: bids are encrypted to an "
	    "opening key made on\n"
	    "                           the instance token; bidder: each to "
	    "its bidder's own\n"
	    "                           enterprise-encryption certificate. "
	    "--field: announced at\n"
	    "                           the opening (default price).\n"
	    "  list [--after ID] [--limit N]\n"
	    "  show ID                  the tender, its events, and once "
	    "opened, its bids\n"
	    "  open ID                  ask to open (at or after the opening "
	    "time)\n"
	    "  approve-open ID [--yes]  the second person's approval; in "
	    "platform mode it opens\n"
	    "                           (without a terminal it needs --yes)\n"
	    "  close ID                 bidder mode: ends the key-release window "
	    "(once over, or\n"
	    "                           every key released); unreleased bids "
	    "are revoked\n"
	    "  record ID --out FILE     the opening record (DER SignedData) "
	    "with every confirmation\n\n"
	    "The local operator is the local user (local:<login>); an agent "
	    "certificate is another\nperson. Everything is audited.\n");
}

/* The tender context of |inst| (opened with keys when |keys|). */
struct tnd_local {
	struct tender_ctx tc;
	tsa *tsa;
	EVP_PKEY *seal_key;
	X509 *seal_cert;
	STACK_OF(X509) *seal_chain;
};

static void
tnd_local_free(struct tnd_local *l)
{
	tsa_free(l->tsa);
	EVP_PKEY_free(l->seal_key);
	X509_free(l->seal_cert);
	sk_X509_pop_free(l->seal_chain, X509_free);
	memset(l, 0, sizeof(*l));
}

static int
tnd_local_init(struct instance *inst, int keys, struct tnd_local *l)
{
	const struct gp_config *cfg = inst->cfg;
	STACK_OF(X509) *pool = NULL;
	uint8_t *buf = NULL;
	size_t len, i;
	BIO *bio = NULL;
	int r;

	memset(l, 0, sizeof(*l));
	l->tc.cfg = cfg;
	l->tc.st = inst->st;
	l->tc.audit = inst->audit;
	l->tc.tok = inst->tok;
	l->tc.token_label = cfg->token_label;
	l->tc.root = inst->cert[GP_KEY_ROOT];
	l->tc.ca = inst->cert[GP_KEY_CA];
	l->tc.ca_key = inst->key[GP_KEY_CA];
	if (!keys) {
		r = 0;
		goto out;
	}
	GUARD(instance_tsa_new(inst, &l->tsa));
	l->tc.tsa = l->tsa;
	for (i = 0; i < cfg->seals_len; i++) {
		if (strcmp(cfg->seals[i].name, cfg->tender_seal) != 0)
			continue;
		GUARD(tok_key_load(inst->tok, cfg->seals[i].key_uri,
		    &l->seal_key));
		GUARD(gp_file_read(cfg->seals[i].cert, 1024 * 1024, &buf,
		    &len));
		ENSURE((bio = BIO_new_mem_buf(buf, (int)len)) != NULL,
		    GP_ERR_NOMEM);
		ENSURE((l->seal_cert = PEM_read_bio_X509(bio, NULL, NULL,
		    NULL)) != NULL, gp_err_ssl(GP_ERR_CONFIG, "%s",
		    cfg->seals[i].cert));
		ENSURE((pool = sk_X509_new_null()) != NULL &&
		    sk_X509_push(pool, l->tc.ca) > 0 &&
		    sk_X509_push(pool, l->tc.root) > 0, GP_ERR_NOMEM);
		GUARD(sig_chain_build(l->seal_cert, pool, &l->seal_chain));
	}
	l->tc.seal_key = l->seal_key;
	l->tc.seal_cert = l->seal_cert;
	l->tc.seal_chain = l->seal_chain;
	r = 0;
out:
	sk_X509_free(pool);
	BIO_free(bio);
	free(buf);
	return r;
}

static void
tender_print(const struct tnd_opts *o, json_t *j)
{
	const char *k;
	json_t *v;

	if (o->json) {
		cli_print_json(json_incref(j));
		return;
	}
	json_object_foreach(j, k, v) {
		if (json_is_string(v))
			printf("%-14s %s\n", k, json_string_value(v));
		else if (json_is_integer(v))
			printf("%-14s %lld\n", k, (long long)
			    json_integer_value(v));
	}
}

static int
tender_confirm(const char *id)
{
	char line[32];

	fprintf(stderr, "Approve the opening of tender %s? [y/N] ", id);
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0;
	line[strcspn(line, "\r\n")] = '\0';
	return strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0;
}

static int
tender_run(const char *sub, struct tnd_opts *o)
{
	struct instance *inst = NULL;
	struct tnd_local l;
	struct ca_person person;
	struct ca_actor who;
	json_t *req = NULL, *j = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;
	int keys, r;

	memset(&l, 0, sizeof(l));
	keys = strcmp(sub, "create") == 0 || strcmp(sub, "open") == 0 ||
	    strcmp(sub, "approve-open") == 0 || strcmp(sub, "close") == 0;
	GUARD(instance_open(o->dir, keys ? INSTANCE_KEYS : 0, &inst));
	GUARD(tnd_local_init(inst, keys, &l));
	GUARD(ca_person_local(inst->actor, &person));
	memset(&who, 0, sizeof(who));
	who.actor = inst->actor;
	who.role = "local";
	who.person = &person;
	if (strcmp(sub, "create") == 0) {
		ENSURE((req = json_pack("{s:s, s:s, s:s, s:s}", "title",
		    o->title, "deadline", o->deadline, "opening_time",
		    o->opening, "mode", o->mode ? o->mode : "platform")) !=
		    NULL, GP_ERR_NOMEM);
		if (o->fields != NULL)
			json_object_set(req, "fields", o->fields);
		if (o->profiles != NULL)
			json_object_set(req, "profiles", o->profiles);
		if (o->window_s > 0)
			json_object_set_new(req, "window_s",
			    json_integer(o->window_s));
		if (o->max_bid > 0)
			json_object_set_new(req, "max_bid_bytes",
			    json_integer(o->max_bid));
		GUARD(tender_create(&l.tc, &who, req, &j));
		if (o->json)
			cli_print_json(json_incref(j));
		else
			printf("tender %s created (%s mode)\n  deadline      "
			    "%s\n  opening time  %s\n  bids go to    %s\n",
			    json_string_value(json_object_get(j, "id")),
			    json_string_value(json_object_get(j, "mode")),
			    json_string_value(json_object_get(j, "deadline")),
			    json_string_value(json_object_get(j,
			    "opening_time")), json_string_value(
			    json_object_get(j, "bids_url")));
	} else if (strcmp(sub, "list") == 0) {
		GUARD(tender_list(&l.tc, o->after, o->limit > 0 ? o->limit :
		    100, &j));
		cli_print_json(json_incref(j));
	} else if (strcmp(sub, "show") == 0) {
		GUARD(tender_show(&l.tc, o->arg, &j));
		cli_print_json(json_incref(j));
	} else if (strcmp(sub, "open") == 0) {
		GUARD(tender_open_request(&l.tc, &who, o->arg, &j));
		tender_print(o, j);
	} else if (strcmp(sub, "close") == 0) {
		GUARD(tender_close(&l.tc, &who, o->arg, &j));
		tender_print(o, j);
	} else if (strcmp(sub, "approve-open") == 0) {
		GUARD(tender_json(&l.tc, o->arg, &j));
		if (!o->json)
			printf("tender %s: %s (%s mode), opening time %s\n",
			    o->arg, json_string_value(json_object_get(j,
			    "title")), json_string_value(json_object_get(j,
			    "mode")), json_string_value(json_object_get(j,
			    "opening_time")));
		json_decref(j);
		j = NULL;
		ENSURE(o->yes || tender_confirm(o->arg), gp_err_set(
		    GP_ERR_DENIED, "not approved: nothing was opened"));
		GUARD(tender_open_approve(&l.tc, &who, o->arg, &j));
		tender_print(o, j);
	} else {
		GUARD(tender_record_get(&l.tc, o->arg, &der, &der_len));
		GUARD(gp_file_write(o->out, der, der_len, 0644, 0));
		if (o->json)
			cli_print_json(json_pack("{s:s, s:s, s:I}", "tender",
			    o->arg, "out", o->out, "bytes",
			    (json_int_t)der_len));
		else
			printf("record of tender %s -> %s (%zu bytes)\n",
			    o->arg, o->out, der_len);
	}
	r = 0;
out:
	free(der);
	json_decref(req);
	json_decref(j);
	tnd_local_free(&l);
	instance_free(inst);
	return r;
}

/* Appends |v| to the array *|arr| (created on first use). */
static int
tender_push(json_t **arr, const char *v)
{
	if (*arr == NULL && (*arr = json_array()) == NULL)
		return GP_ERR_NOMEM;
	return json_array_append_new(*arr, json_string(v)) == 0 ? 0 :
	    GP_ERR_NOMEM;
}

int
cmd_tender(int argc, char **argv)
{
	static const struct option lo[] = {
		{"dir", required_argument, NULL, 'd'},
		{"title", required_argument, NULL, 't'},
		{"deadline", required_argument, NULL, 'D'},
		{"opening-time", required_argument, NULL, 'O'},
		{"mode", required_argument, NULL, 'm'},
		{"field", required_argument, NULL, 'f'},
		{"profile", required_argument, NULL, 'p'},
		{"window-s", required_argument, NULL, 'w'},
		{"max-bid-bytes", required_argument, NULL, 'M'},
		{"after", required_argument, NULL, 'a'},
		{"limit", required_argument, NULL, 'l'},
		{"out", required_argument, NULL, 'o'},
		{"yes", no_argument, NULL, 'y'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct tnd_opts o;
	const char *sub;
	int c, r, rc = CLI_OK;

	memset(&o, 0, sizeof(o));
	o.dir = CLI_DEFAULT_DIR;
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		tender_help();
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	sub = argv[1];
	if (strcmp(sub, "create") != 0 && strcmp(sub, "list") != 0 &&
	    strcmp(sub, "show") != 0 && strcmp(sub, "open") != 0 &&
	    strcmp(sub, "approve-open") != 0 && strcmp(sub, "record") != 0 &&
	    strcmp(sub, "close") != 0)
		return cli_usage("tender", "unknown sub-command");
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o.dir = optarg; break;
		case 't': o.title = optarg; break;
		case 'D': o.deadline = optarg; break;
		case 'O': o.opening = optarg; break;
		case 'm': o.mode = optarg; break;
		case 'f':
			if (tender_push(&o.fields, optarg) != 0)
				rc = CLI_FAIL;
			break;
		case 'p':
			if (tender_push(&o.profiles, optarg) != 0)
				rc = CLI_FAIL;
			break;
		case 'w': o.window_s = strtoll(optarg, NULL, 10); break;
		case 'M': o.max_bid = strtoll(optarg, NULL, 10); break;
		case 'a': o.after = optarg; break;
		case 'l': o.limit = strtoll(optarg, NULL, 10); break;
		case 'o': o.out = optarg; break;
		case 'y': o.yes = 1; break;
		case 'j': o.json = 1; break;
		case 'h':
			tender_help();
			rc = -1;
			break;
		default:
			rc = cli_usage("tender", "unknown option");
			break;
		}
		if (rc != CLI_OK)
			break;
	}
	if (rc != CLI_OK)
		goto done;
	if (optind < argc - 1)
		o.arg = argv[1 + optind++];
	if (optind < argc - 1) {
		rc = cli_usage("tender", "one argument too many");
		goto done;
	}
	if ((strcmp(sub, "create") == 0 || strcmp(sub, "list") == 0) &&
	    o.arg != NULL) {
		rc = cli_usage("tender", "takes no argument");
		goto done;
	}
	if (strcmp(sub, "create") != 0 && strcmp(sub, "list") != 0 &&
	    !tender_id_ok(o.arg)) {
		rc = cli_usage("tender", "a tender id (32 lower-case hex "
		    "digits) is required");
		goto done;
	}
	if (strcmp(sub, "create") == 0 && (o.title == NULL ||
	    o.deadline == NULL || o.opening == NULL)) {
		rc = cli_usage("tender", "create needs --title, --deadline and "
		    "--opening-time");
		goto done;
	}
	if (strcmp(sub, "record") == 0 && o.out == NULL) {
		rc = cli_usage("tender", "record needs --out FILE");
		goto done;
	}
	if (strcmp(sub, "approve-open") == 0 && !o.yes &&
	    !isatty(STDIN_FILENO)) {
		rc = cli_usage("tender", "no terminal to confirm on: pass --yes "
		    "once you have checked the tender");
		goto done;
	}
	if ((r = tender_run(sub, &o)) != 0)
		rc = cli_fail(r, o.json);
done:
	json_decref(o.fields);
	json_decref(o.profiles);
	return rc < 0 ? CLI_OK : rc;
}
