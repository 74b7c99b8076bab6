/*
 * cmd_audit.c: `govpki audit verify|list|export|witness|rotate-key|
 * adopt-key`: the auditor's view of the tamper-evident log (audit/audit.h)
 * and the operator's care of its key. verify proves the chain, every
 * checkpoint signature and time-stamp, and the certificate rows' records
 * and status history against a trust anchor (the instance's
 * certs/root.pem, or the auditor's own copy with --root) and, with
 * --witness, that the chain still holds every head a witness saw; list and
 * export print records as JSON lines; witness (cmd_audit_witness.c) keeps
 * the auditor's copy of the signed heads; rotate-key and adopt-key
 * (instance/inst_audit_key.c) replace the audit key, or record the key of
 * an instance made before keys were recorded. Each sub-command has its own
 * --help. Each run on an instance is itself recorded, as the local actor,
 * after it has finished reading, so that a verification never sees its own
 * record half way.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "instance/instance.h"

#define AUDIT_LIST_DEFAULT_LIMIT 100

/* The largest root certificate file --root reads. */
#define AUDIT_MAX_ROOT_PEM (64 * 1024)

struct audit_opts {
	const char *dir;
	const char *root;    /* verify: the trust anchor; NULL: certs/root.pem */
	const char *witness; /* verify: a witness state file, or NULL */
	const char *out;   /* export only; NULL: stdout */
	int64_t after;     /* list only */
	int64_t limit;     /* list only; 0: no limit */
	int json;
	int yes;           /* adopt-key only */
	int has_out, has_after, has_limit;
};

/* The options a sub-command takes besides --dir, --json and --help. */
#define AUDIT_OPT_ROOT 0x01
#define AUDIT_OPT_WITNESS 0x02
#define AUDIT_OPT_OUT 0x04
#define AUDIT_OPT_LIST 0x08
#define AUDIT_OPT_YES 0x10

struct audit_sub {
	const char *name;
	const char *usage;   /* after "govpki audit NAME " */
	const char *help;    /* what it does, and its own options */
	unsigned int opts;
	int keys;            /* opens the instance with its keys */
};

static const struct audit_sub audit_subs[] = {
	{"verify", "[--dir DIR] [--root FILE] [--witness FILE] [--json]",
	    "Checks that the audit log is complete and unaltered: the hash "
	    "chain of every record,\n"
	    "the signature and time-stamp of every checkpoint by the audit key "
	    "the chain records\n"
	    "(its certificate must chain to the root with the audit EKU), "
	    "that every certificate\n"
	    "row has its issuance record, and that every status change in the "
	    "certificate status\n"
	    "history has its record and every status record its change. Exits 1 "
	    "naming the first\n"
	    "bad record and why when it does not verify. A log whose first "
	    "audit key was adopted\n"
	    "(adopt-key) verifies with the record of the adoption reported.\n\n"
	    "  --root FILE     the trust anchor (default DIR/certs/root.pem): "
	    "give your own copy,\n"
	    "                  since whoever can edit the instance can replace "
	    "its files\n"
	    "  --witness FILE  also require every head the witness recorded in "
	    "FILE to be in\n"
	    "                  the chain (catches a rollback to an earlier "
	    "checkpoint)\n"
	    "  --json          the report as one JSON object (as GET "
	    "/api/v1/audit/verify)\n",
	    AUDIT_OPT_ROOT | AUDIT_OPT_WITNESS, 0},
	{"list", "[--dir DIR] [--after SEQ] [--limit N]",
	    "Prints the records after SEQ (default 0) as JSON lines, at most N "
	    "(default 100, 0 for all).\n",
	    AUDIT_OPT_LIST, 0},
	{"export", "[--dir DIR] [--out FILE] [--json]",
	    "Writes every record as JSON lines to FILE (replaced atomically, "
	    "mode 0600) or to\n"
	    "stdout; with --json and --out, prints {\"out\",\"records\"} when "
	    "done.\n",
	    AUDIT_OPT_OUT, 0},
	{"rotate-key", "[--dir DIR] [--json]",
	    "Replaces the audit key (the key that signs checkpoints): generates "
	    "a new key of the\n"
	    "same algorithm on the instance's token (sensitive, "
	    "non-extractable, labelled\n"
	    "audit-<UTC time>), has the issuing CA certify it with the audit "
	    "EKU, and records the\n"
	    "change in the audit log sealed by a checkpoint of the old key, in "
	    "one transaction;\n"
	    "then certs/audit.pem and keys.audit in govpki.json name the new "
	    "key, which signs the\n"
	    "next checkpoint. All or nothing: on failure the old key stays in "
	    "effect (an unused\n"
	    "key may be left on the token; the failure record names it).\n"
	    "The server must be stopped: it is refused while any other govpki "
	    "process has the\n"
	    "instance's keys open. Needs the token PIN. Witnesses keep working: "
	    "the root they\n"
	    "pinned does not change.\n",
	    0, 1},
	{"adopt-key", "[--dir DIR] [--yes] [--json]",
	    "Once, for an instance made before govpki recorded its audit key "
	    "in the audit log\n"
	    "(audit verify then says no audit.key record names the key): "
	    "certifies the current\n"
	    "audit key again with the audit EKU and records it as the log's "
	    "audit key, sealed by\n"
	    "a checkpoint. Refused if any checkpoint was signed by another key. "
	    "The checkpoints\n"
	    "before the adoption are anchored only by your word that this key "
	    "is the instance's:\n"
	    "audit verify reports the record of the adoption. Asks for "
	    "confirmation on the\n"
	    "terminal; --yes confirms without asking (no terminal and no --yes: "
	    "exit 2). The\n"
	    "server must be stopped. Needs the token PIN.\n",
	    AUDIT_OPT_YES, 1},
};

#define AUDIT_NSUBS (sizeof(audit_subs) / sizeof(audit_subs[0]))

static const struct audit_sub *
audit_sub_find(const char *name)
{
	size_t i;

	for (i = 0; i < AUDIT_NSUBS; i++)
		if (strcmp(audit_subs[i].name, name) == 0)
			return &audit_subs[i];
	return NULL;
}

/* `govpki audit --help`: every sub-command's usage line. */
static void
audit_help(void)
{
	size_t i;

	printf("usage:");
	for (i = 0; i < AUDIT_NSUBS; i++)
		printf("%s govpki audit %s %s\n", i == 0 ? "" : "      ",
		    audit_subs[i].name, audit_subs[i].usage);
	printf("       govpki audit witness --url URL --state FILE [--root "
	    "FILE] [--json]\n\n"
	    "verify      checks the audit log against the root\n"
	    "list        prints records as JSON lines\n"
	    "export      writes every record as JSON lines\n"
	    "rotate-key  replaces the audit key (server stopped)\n"
	    "adopt-key   records the audit key of an instance made before "
	    "keys were recorded\n"
	    "witness     keeps an auditor's copy of the signed heads\n\n"
	    "  --dir DIR    instance directory (default ./var)\n\n"
	    "Run `govpki audit SUB-COMMAND --help` for one. Every run on an "
	    "instance is recorded\n"
	    "in the audit log as the local user.\n");
}

/* `govpki audit SUB --help`. */
static void
audit_sub_help(const struct audit_sub *sub)
{
	printf("usage: govpki audit %s %s\n\n%s\n"
	    "  --dir DIR    instance directory (default ./var)\n\n"
	    "Every run is recorded in the audit log as the local user.\n",
	    sub->name, sub->usage, sub->help);
}

static int
audit_parse_count(const char *s, int64_t *out)
{
	char *end = NULL;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		return -1;
	*out = v;
	return 0;
}

/* Parses the options after the sub-command; returns -1 for --help, a
 * CLI_USAGE from cli_usage(), or 0. */
static int
audit_parse(const struct audit_sub *sub, int argc, char **argv,
    struct audit_opts *o)
{
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"root", required_argument, NULL, 'r'},
		{"witness", required_argument, NULL, 'w'},
		{"out", required_argument, NULL, 'o'},
		{"after", required_argument, NULL, 'a'},
		{"limit", required_argument, NULL, 'l'},
		{"json", no_argument, NULL, 'j'},
		{"yes", no_argument, NULL, 'y'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char cmd[32];
	int c;
	unsigned int used = 0;

	snprintf(cmd, sizeof(cmd), "audit %s", sub->name);
	memset(o, 0, sizeof(*o));
	o->dir = CLI_DEFAULT_DIR;
	o->limit = AUDIT_LIST_DEFAULT_LIMIT;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->dir = optarg;
			break;
		case 'r':
			o->root = optarg;
			used |= AUDIT_OPT_ROOT;
			break;
		case 'w':
			o->witness = optarg;
			used |= AUDIT_OPT_WITNESS;
			break;
		case 'o':
			o->out = optarg;
			o->has_out = 1;
			used |= AUDIT_OPT_OUT;
			break;
		case 'a':
			if (audit_parse_count(optarg, &o->after) != 0)
				return cli_usage(cmd, "--after needs a record "
				    "number");
			o->has_after = 1;
			used |= AUDIT_OPT_LIST;
			break;
		case 'l':
			if (audit_parse_count(optarg, &o->limit) != 0)
				return cli_usage(cmd, "--limit needs a number "
				    "(0 for all)");
			o->has_limit = 1;
			used |= AUDIT_OPT_LIST;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'y':
			o->yes = 1;
			used |= AUDIT_OPT_YES;
			break;
		case 'h':
			audit_sub_help(sub);
			return -1;
		default:
			return cli_usage(cmd, "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage(cmd, "unexpected argument");
	if ((used & ~sub->opts) & AUDIT_OPT_OUT)
		return cli_usage(cmd, "--out is for export");
	if ((used & ~sub->opts) & AUDIT_OPT_LIST)
		return cli_usage(cmd, "--after and --limit are for list");
	if ((used & ~sub->opts) & (AUDIT_OPT_ROOT | AUDIT_OPT_WITNESS))
		return cli_usage(cmd, "--root and --witness are for verify");
	if ((used & ~sub->opts) & AUDIT_OPT_YES)
		return cli_usage(cmd, "--yes is for adopt-key");
	if ((sub->opts & AUDIT_OPT_YES) && !o->yes && !isatty(STDIN_FILENO))
		return cli_usage(cmd, "no terminal to confirm on: run it from a "
		    "terminal, or pass --yes once you are sure the audit key "
		    "is the instance's own");
	return 0;
}

/* Records this run in the log; the caller decides what a failure means. */
static int
audit_record_run(struct instance *inst, const char *op, const char *outcome,
    json_t *details)
{
	struct audit_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.actor = inst->actor;
	ev.role = "local";
	ev.op = op;
	ev.object = "audit";
	ev.outcome = outcome;
	ev.details = details;
	return audit_log(inst->audit, &ev);
}

static int
audit_cmd_verify(struct instance *inst, const struct audit_opts *o)
{
	struct audit_report rep;
	X509 *root = NULL;
	json_t *details = NULL;
	int r, lr, verified;

	memset(&rep, 0, sizeof(rep));
	if (o->root != NULL)
		r = cli_pem_cert(o->root, AUDIT_MAX_ROOT_PEM, &root);
	else if ((root = inst->cert[GP_KEY_ROOT]) != NULL)
		r = X509_up_ref(root) == 1 ? 0 : GP_ERR_INTERNAL;
	else
		r = gp_err_set(GP_ERR_CONFIG, "%s: no root certificate "
		    "(certs/root.pem); give one with --root", o->dir);
	if (r == 0) {
		r = instance_audit_verify(inst, root, &rep);
		if (r == 0 && o->witness != NULL)
			r = audit_witness_verify(inst->st, o->witness, root,
			    &rep);
	}
	X509_free(root);
	if (r != 0 && r != GP_ERR_TAMPERED) {
		/* The verification error is what to report. */
		(void)audit_record_run(inst, "audit.verify", "failure", NULL);
		return cli_fail(r, o->json);
	}
	verified = r == 0;

	/* Recorded only now, after the scan. */
	details = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s?}",
	    "records", (json_int_t)rep.records,
	    "checkpoints", (json_int_t)rep.checkpoints,
	    "last_checkpoint_seq", (json_int_t)rep.last_checkpoint_seq,
	    "unsealed", (json_int_t)rep.unsealed,
	    "witnessed", (json_int_t)rep.witnessed,
	    "first_bad_seq", (json_int_t)rep.first_bad_seq,
	    "root", o->root);
	lr = audit_record_run(inst, "audit.verify",
	    verified ? "success" : "failure", details);
	json_decref(details);

	if (o->json) {
		cli_print_json(audit_report_json(&rep, verified));
	} else if (verified) {
		printf("audit log verifies: %" PRId64 " records, %" PRId64
		    " checkpoints (%" PRId64 " time-stamped), last checkpoint "
		    "at %" PRId64 ", %" PRId64 " unsealed; %" PRId64
		    " audit keys; %" PRId64 " certificates on record",
		    rep.records, rep.checkpoints, rep.timestamped,
		    rep.last_checkpoint_seq, rep.unsealed, rep.keys,
		    rep.certificates);
		if (o->witness != NULL)
			printf("; %" PRId64 " witnessed heads in the chain",
			    rep.witnessed);
		if (rep.adopted_seq > 0)
			printf("; the first audit key was adopted at record %"
			    PRId64 ": the checkpoints before it are anchored "
			    "only by the operator who adopted it",
			    rep.adopted_seq);
		printf("\n");
	} else {
		printf("audit log does NOT verify: first bad record %" PRId64
		    ": %s\n", rep.first_bad_seq, rep.reason);
	}
	if (lr != 0 && verified)
		return cli_fail(lr, o->json);
	return verified ? CLI_OK : CLI_FAIL;
}

struct audit_dump {
	FILE *fp;
	int64_t rows;
	int err;  /* errno of a failed write */
};

static int
audit_dump_row(void *arg, const struct store_audit_row *row)
{
	struct audit_dump *d = arg;
	json_t *j = audit_row_json(row);
	int r;

	if (j == NULL)
		return gp_err_set(GP_ERR_NOMEM, "audit record %" PRId64,
		    row->seq);
	r = json_dumpf(j, d->fp, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (r != 0 || fputc('\n', d->fp) == EOF) {
		d->err = errno;
		return gp_err_set(GP_ERR_IO, "writing audit record %" PRId64
		    ": %s", row->seq, strerror(errno));
	}
	d->rows++;
	return 0;
}

static int
audit_cmd_list(struct instance *inst, const struct audit_opts *o)
{
	struct audit_dump d;
	json_t *details;
	int r, lr;

	memset(&d, 0, sizeof(d));
	d.fp = stdout;
	r = store_audit_scan(inst->st, o->after, o->limit, audit_dump_row, &d);
	if (r == 0 && fflush(stdout) != 0)
		r = gp_err_set(GP_ERR_IO, "stdout: %s", strerror(errno));
	details = json_pack("{s:I, s:I, s:I}", "after", (json_int_t)o->after,
	    "limit", (json_int_t)o->limit, "rows", (json_int_t)d.rows);
	lr = audit_record_run(inst, "audit.list", r == 0 ? "success" :
	    "failure", details);
	json_decref(details);
	if (r != 0)
		return cli_fail(r, o->json);
	if (lr != 0)
		return cli_fail(lr, o->json);
	return CLI_OK;
}

/* Writes every record to |path| through a temporary file in the same
 * directory, fsync and rename: |path| is either the old file or complete. */
static int
audit_export_file(store *st, const char *path, int64_t *out_rows)
{
	int r = GP_ERR_INTERNAL, fd = -1;
	char *tmp = NULL, *dircopy = NULL;
	struct audit_dump d;
	size_t n;

	memset(&d, 0, sizeof(d));
	n = strlen(path) + sizeof(".tmp.XXXXXX");
	ENSURE((tmp = malloc(n)) != NULL, GP_ERR_NOMEM);
	snprintf(tmp, n, "%s.tmp.XXXXXX", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		r = gp_err_set(GP_ERR_IO, "%s: %s", path, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if ((d.fp = fdopen(fd, "w")) == NULL) {
		r = gp_err_set(GP_ERR_IO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1; /* transferred to d.fp */
	GUARD(store_audit_scan(st, 0, 0, audit_dump_row, &d));
	if (fflush(d.fp) != 0 || fsync(fileno(d.fp)) != 0) {
		r = gp_err_set(GP_ERR_IO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fclose(d.fp) != 0) {
		d.fp = NULL;
		r = gp_err_set(GP_ERR_IO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	d.fp = NULL;
	if (rename(tmp, path) != 0) {
		r = gp_err_set(GP_ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL; /* renamed: nothing to remove */
	ENSURE((dircopy = strdup(path)) != NULL, GP_ERR_NOMEM);
	if ((fd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) >= 0)
		(void)fsync(fd);
	*out_rows = d.rows;
	r = 0;
out:
	if (d.fp != NULL)
		fclose(d.fp);
	if (fd >= 0)
		close(fd);
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	free(dircopy);
	return r;
}

static int
audit_cmd_export(struct instance *inst, const struct audit_opts *o)
{
	struct audit_dump d;
	json_t *details;
	int64_t rows = 0;
	int r, lr;

	if (o->out != NULL && strcmp(o->out, "-") != 0) {
		r = audit_export_file(inst->st, o->out, &rows);
	} else {
		memset(&d, 0, sizeof(d));
		d.fp = stdout;
		r = store_audit_scan(inst->st, 0, 0, audit_dump_row, &d);
		if (r == 0 && fflush(stdout) != 0)
			r = gp_err_set(GP_ERR_IO, "stdout: %s",
			    strerror(errno));
		rows = d.rows;
	}
	details = json_pack("{s:s, s:I}", "out", o->out ? o->out : "-",
	    "rows", (json_int_t)rows);
	lr = audit_record_run(inst, "audit.export", r == 0 ? "success" :
	    "failure", details);
	json_decref(details);
	if (r != 0)
		return cli_fail(r, o->json);
	if (lr != 0)
		return cli_fail(lr, o->json);
	if (o->out != NULL && strcmp(o->out, "-") != 0) {
		if (o->json)
			cli_print_json(json_pack("{s:s, s:I}", "out", o->out,
			    "records", (json_int_t)rows));
		else
			fprintf(stderr, "exported %" PRId64 " audit records to "
			    "%s\n", rows, o->out);
	}
	return CLI_OK;
}

/* The change a rotation or adoption made, as JSON or text. */
static void
audit_key_print(const struct instance_audit_key_change *kc, int json)
{
	if (json) {
		cli_print_json(json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}",
		    "status", kc->adopted ? "adopted" : "rotated", "key",
		    kc->key_uri, "key_sha256", kc->new_spki, "previous_sha256",
		    kc->old_spki, "serial", kc->serial, "record",
		    (json_int_t)kc->key_seq));
		return;
	}
	if (kc->adopted)
		printf("adopted the audit key %s (SHA-256 of its key %s) at "
		    "record %" PRId64 "; its new certificate %s, with the audit "
		    "EKU, is in certs/audit.pem\n", kc->key_uri, kc->new_spki,
		    kc->key_seq, kc->serial);
	else
		printf("the audit key is now %s (SHA-256 of its key %s), in "
		    "effect from record %" PRId64 "; its certificate %s is in "
		    "certs/audit.pem; the previous key (%s) signs no more "
		    "checkpoints\n", kc->key_uri, kc->new_spki, kc->key_seq,
		    kc->serial, kc->old_spki);
}

/* Asks on the terminal; 1 when the answer is yes. */
static int
audit_confirm(const struct instance *inst)
{
	char spki[65];

	audit_spki_hex(inst->cert[GP_KEY_AUDIT], spki);
	return cli_confirm("The audit log of %s records no audit key. "
	    "Adopting %s\n(SHA-256 of its key %s) anchors every checkpoint "
	    "made so far on your word that\nthis key has always been the "
	    "instance's own. Adopt it?", inst->cfg->dir,
	    inst->cfg->key_uri[GP_KEY_AUDIT], spki);
}

static int
audit_cmd_key(struct instance *inst, const struct audit_sub *sub,
    const struct audit_opts *o)
{
	struct instance_audit_key_change kc;
	int r;

	memset(&kc, 0, sizeof(kc));
	if (strcmp(sub->name, "rotate-key") == 0) {
		r = instance_audit_rotate(inst, &kc);
	} else if (!o->yes && !audit_confirm(inst)) {
		/* Nothing changed; the refusal is recorded. */
		r = gp_err_set(GP_ERR_DENIED, "not adopted: nothing changed");
		(void)audit_record_run(inst, "audit.adopt-key", "failure",
		    NULL);
	} else {
		r = instance_audit_adopt(inst, &kc);
	}
	if (r != 0)
		return cli_fail(r, o->json);
	audit_key_print(&kc, o->json);
	return CLI_OK;
}

int
cmd_audit(int argc, char **argv)
{
	struct audit_opts o;
	struct instance *inst = NULL;
	const struct audit_sub *sub;
	int r, rc;

	if (argc < 2)
		return cli_usage("audit", "missing sub-command (verify, list, "
		    "export, witness, rotate-key or adopt-key)");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		audit_help();
		return CLI_OK;
	}
	if (strcmp(argv[1], "witness") == 0)
		return cmd_audit_witness(argc - 1, argv + 1);
	if ((sub = audit_sub_find(argv[1])) == NULL)
		return cli_usage("audit", "unknown sub-command (verify, list, "
		    "export, witness, rotate-key or adopt-key)");
	if ((r = audit_parse(sub, argc - 1, argv + 1, &o)) != 0)
		return r < 0 ? CLI_OK : r;

	if ((r = instance_open(o.dir, sub->keys ? INSTANCE_KEYS : 0,
	    &inst)) != 0)
		return cli_fail(r, o.json);
	if (strcmp(sub->name, "verify") == 0)
		rc = audit_cmd_verify(inst, &o);
	else if (strcmp(sub->name, "list") == 0)
		rc = audit_cmd_list(inst, &o);
	else if (strcmp(sub->name, "export") == 0)
		rc = audit_cmd_export(inst, &o);
	else
		rc = audit_cmd_key(inst, sub, &o);
	instance_free(inst); /* commits the record of this run */
	return rc;
}
