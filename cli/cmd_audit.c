/*
 * cmd_audit.c: `govpki audit verify|list|export|witness`: the auditor's view
 * of the tamper-evident log (audit/audit.h). verify proves the chain, every
 * checkpoint signature and time-stamp, and the certificate rows' records
 * against a trust anchor (the instance's certs/root.pem, or the auditor's
 * own copy with --root) and, with --witness, that the chain still holds
 * every head a witness saw; list and export print records as JSON lines;
 * witness (cmd_audit_witness.c) keeps the auditor's copy of the signed
 * heads. Each run on an instance is itself recorded, as the local actor,
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
	int has_out, has_after, has_limit;
};

static void
audit_help(void)
{
	printf("usage: govpki audit verify [--dir DIR] [--root FILE] "
	    "[--witness FILE] [--json]\n"
	    "       govpki audit list [--dir DIR] [--after SEQ] [--limit N]\n"
	    "       govpki audit export [--dir DIR] [--out FILE] [--json]\n"
	    "       govpki audit witness --url URL --state FILE [--root FILE] "
	    "[--json]\n\n"
	    "verify  checks that the audit log is complete and unaltered: the "
	    "hash chain of every\n"
	    "        record, the signature and time-stamp of every checkpoint "
	    "by the audit key the\n"
	    "        chain records (its certificate must chain to the root "
	    "with the audit EKU), and\n"
	    "        that every certificate row has its issuance and status "
	    "records. Exits 1\n"
	    "        naming the first bad record and why when it does not "
	    "verify.\n"
	    "        --root FILE  the trust anchor (default DIR/certs/root.pem"
	    "): give your own\n"
	    "                     copy, since whoever can edit the instance "
	    "can replace its files\n"
	    "        --witness FILE  also require every head the witness "
	    "recorded in FILE to be\n"
	    "                     in the chain (catches a rollback to an "
	    "earlier checkpoint)\n"
	    "list    prints records after SEQ (default 0) as JSON lines, at "
	    "most N (default %d,\n"
	    "        0 for all).\n"
	    "export  writes every record as JSON lines to FILE (replaced "
	    "atomically, mode 0600)\n"
	    "        or to stdout; with --json and --out, prints "
	    "{\"out\",\"records\"} when done.\n"
	    "witness fetches the latest signed head from URL (the public "
	    "listener, GET\n"
	    "        /audit/checkpoint), verifies its signature and time-stamp "
	    "under the root\n"
	    "        pinned in FILE (--root on the first run), and appends it "
	    "to FILE when it\n"
	    "        extends the last head seen. A head that goes backwards or "
	    "forks is an\n"
	    "        incident: recorded in FILE, reported, exit 1. Needs no "
	    "instance directory.\n\n"
	    "  --dir DIR    instance directory (default ./var)\n"
	    "  --json       one JSON object (verify: the report, as GET "
	    "/api/v1/audit/verify)\n\n"
	    "Every run on an instance is recorded in the audit log as the "
	    "local user.\n",
	    AUDIT_LIST_DEFAULT_LIMIT);
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
audit_parse(const char *sub, int argc, char **argv, struct audit_opts *o)
{
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"root", required_argument, NULL, 'r'},
		{"witness", required_argument, NULL, 'w'},
		{"out", required_argument, NULL, 'o'},
		{"after", required_argument, NULL, 'a'},
		{"limit", required_argument, NULL, 'l'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

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
			break;
		case 'w':
			o->witness = optarg;
			break;
		case 'o':
			o->out = optarg;
			o->has_out = 1;
			break;
		case 'a':
			if (audit_parse_count(optarg, &o->after) != 0)
				return cli_usage("audit", "--after needs a "
				    "record number");
			o->has_after = 1;
			break;
		case 'l':
			if (audit_parse_count(optarg, &o->limit) != 0)
				return cli_usage("audit", "--limit needs a "
				    "number (0 for all)");
			o->has_limit = 1;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'h':
			audit_help();
			return -1;
		default:
			return cli_usage("audit", "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage("audit", "unexpected argument");
	if (o->has_out && strcmp(sub, "export") != 0)
		return cli_usage("audit", "--out is for export");
	if ((o->has_after || o->has_limit) && strcmp(sub, "list") != 0)
		return cli_usage("audit", "--after and --limit are for list");
	if ((o->root != NULL || o->witness != NULL) &&
	    strcmp(sub, "verify") != 0)
		return cli_usage("audit", "--root and --witness are for verify");
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

int
cmd_audit(int argc, char **argv)
{
	struct audit_opts o;
	struct instance *inst = NULL;
	const char *sub;
	int r, rc;

	if (argc < 2)
		return cli_usage("audit", "missing sub-command (verify, list, "
		    "export or witness)");
	sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ||
	    strcmp(sub, "help") == 0) {
		audit_help();
		return CLI_OK;
	}
	if (strcmp(sub, "witness") == 0)
		return cmd_audit_witness(argc - 1, argv + 1);
	if (strcmp(sub, "verify") != 0 && strcmp(sub, "list") != 0 &&
	    strcmp(sub, "export") != 0)
		return cli_usage("audit", "unknown sub-command (verify, list, "
		    "export or witness)");
	if ((r = audit_parse(sub, argc - 1, argv + 1, &o)) != 0)
		return r < 0 ? CLI_OK : r;

	if ((r = instance_open(o.dir, 0, &inst)) != 0)
		return cli_fail(r, o.json);
	if (strcmp(sub, "verify") == 0)
		rc = audit_cmd_verify(inst, &o);
	else if (strcmp(sub, "list") == 0)
		rc = audit_cmd_list(inst, &o);
	else
		rc = audit_cmd_export(inst, &o);
	instance_free(inst); /* commits the record of this run */
	return rc;
}
