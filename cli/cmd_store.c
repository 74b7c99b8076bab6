/*
 * cmd_store.c: `govpki store migrate`: moves an instance's SQLite store to
 * PostgreSQL (instance_store_migrate, instance/inst_migrate.c) and prints
 * what it copied.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "instance/instance.h"

static void
store_help(FILE *f)
{
	fprintf(f, "usage: govpki store migrate --from DIR --to URL\n"
	    "           [--to-password-file FILE | --to-password-env NAME] "
	    "[--json]\n\n"
	    "Moves the store of the instance DIR from its SQLite file "
	    "(DIR/govpki.db) to the\n"
	    "PostgreSQL database URL (postgresql://user@host/db; no password "
	    "in it: a URL\n"
	    "with one is refused and not echoed). Stop the server first: "
	    "the instance's\n"
	    "lock (DIR/govpki.lock) must be free.\n\n"
	    "It checks first, and copies nothing when a check fails:\n"
	    "  - the SQLite store verifies as `govpki audit verify` checks it "
	    "(chain,\n"
	    "    checkpoints, time-stamps, certificate rows and their "
	    "records);\n"
	    "  - its schema is this govpki's (an older one: run any command "
	    "on the\n"
	    "    instance once with this govpki, which upgrades it, then "
	    "migrate);\n"
	    "  - the database holds no govpki store with any row (never "
	    "merged into one).\n"
	    "Then, in one PostgreSQL transaction, every table is copied with "
	    "its keys\n"
	    "(audit seq and hashes, ids), row counts and the audit head are "
	    "compared, a\n"
	    "\"store.migrate\" record is appended to the chain (the file, "
	    "its SHA-256, the\n"
	    "rows per table, the head copied) and the chain is verified "
	    "again. A failure\n"
	    "leaves the database without a row and the instance on SQLite. "
	    "After the\n"
	    "commit, DIR/govpki.json names the database (store.url and the "
	    "password\n"
	    "source); the previous file is kept as "
	    "govpki.json.sqlite-<UTC time>, and\n"
	    "govpki.db is left as it was, byte for byte. To go back, put "
	    "the kept file\n"
	    "back as govpki.json (what was recorded on PostgreSQL since "
	    "stays there).\n\n"
	    "  --from DIR       the instance directory\n"
	    "  --to URL         the PostgreSQL database (it must exist)\n"
	    "  --to-password-file FILE\n"
	    "                   its password, from the first line of FILE "
	    "(then store.password_file)\n"
	    "  --to-password-env NAME\n"
	    "                   its password, from the environment variable "
	    "NAME\n"
	    "                   (then store.password_env); with neither, "
	    "libpq's ~/.pgpass\n"
	    "  --json           print the summary as JSON\n");
}

static void
store_group_help(FILE *f)
{
	fprintf(f, "usage: govpki store SUB-COMMAND [options]\n\n"
	    "sub-commands:\n"
	    "  migrate  move an instance's SQLite store to PostgreSQL\n\n"
	    "`govpki store migrate --help` says what it checks and "
	    "changes.\n");
}

/* On a terminal: the table being copied and its rows so far. */
static void
store_progress(void *arg, const char *table, int64_t rows)
{
	(void)arg;
	fprintf(stderr, "\r  copying %-20s %12" PRId64 " rows", table, rows);
	fflush(stderr);
}

static void
store_print(const struct instance_migrate_opts *o,
    const struct instance_migrate_report *rep, int json)
{
	json_t *tables;
	size_t i;

	if (json) {
		tables = json_object();
		for (i = 0; tables != NULL && i < rep->copy.n; i++)
			json_object_set_new(tables, rep->copy.tables[i].name,
			    json_integer(rep->copy.tables[i].rows));
		cli_print_json(json_pack("{s:s, s:s, s:s, s:s, s:o?, s:I, s:I, "
		    "s:I, s:f}", "status", "migrated", "dir", o->dir, "sha256",
		    rep->sha256, "kept", rep->kept, "tables", tables,
		    "head_seq", (json_int_t)rep->copy.head_seq, "record_seq",
		    (json_int_t)rep->record_seq, "verified_records",
		    (json_int_t)rep->verified_records, "seconds",
		    (double)rep->ms / 1000.0));
		return;
	}
	printf("migrated the store of %s to PostgreSQL in %.1f s:\n", o->dir,
	    (double)rep->ms / 1000.0);
	for (i = 0; i < rep->copy.n; i++)
		printf("  %-20s %12" PRId64 " rows\n", rep->copy.tables[i].name,
		    rep->copy.tables[i].rows);
	printf("audit head copied: record %" PRId64 "; recorded as "
	    "\"store.migrate\", record %" PRId64 "\n", rep->copy.head_seq,
	    rep->record_seq);
	printf("govpki.db is unchanged (SHA-256 %s)\n", rep->sha256);
	printf("govpki.json now names the database; the previous one is "
	    "kept as %s\n", rep->kept);
	printf("serve it with: govpki serve --dir %s\n", o->dir);
}

static int
store_migrate(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"from", required_argument, NULL, 'f'},
		{"to", required_argument, NULL, 't'},
		{"to-password-file", required_argument, NULL, 'F'},
		{"to-password-env", required_argument, NULL, 'E'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct instance_migrate_opts o;
	struct instance_migrate_report rep;
	int c, json = 0, r;

	memset(&o, 0, sizeof(o));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			o.dir = optarg;
			break;
		case 't':
			o.url = optarg;
			break;
		case 'F':
			o.password_file = optarg;
			break;
		case 'E':
			o.password_env = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			store_help(stdout);
			return CLI_OK;
		default:
			/* Never the value: --to may carry a password. */
			return cli_bad_option("store migrate", argc, argv);
		}
	}
	if (optind != argc)
		return cli_usage("store migrate", "unexpected argument");
	if (o.dir == NULL || o.url == NULL)
		return cli_usage("store migrate", "--from DIR and --to URL are "
		    "required");
	if (!json && isatty(STDERR_FILENO))
		o.progress = store_progress;
	r = instance_store_migrate(&o, &rep);
	if (o.progress != NULL)
		fprintf(stderr, "\n");
	if (r != 0)
		return cli_fail(r, json);
	store_print(&o, &rep, json);
	return CLI_OK;
}

int
cmd_store(int argc, char **argv)
{
	int rc;

	if ((rc = cli_group_help(argc, argv, store_group_help)) >= 0)
		return rc;
	if (strcmp(argv[1], "migrate") == 0)
		return store_migrate(argc - 1, argv + 1);
	return cli_usage("store", "unknown sub-command (migrate)");
}
