/*
 * cmd_ca.c: `govpki ca <sub-command>`: the security officer's operations on
 * the instance directory, without the server, through the same ca/
 * functions the admin API calls (so the same checks, the same audit
 * records). The actor is the local user ("local:<login>"), one person for
 * dual control; an administrator certificate's holder is another, so a
 * request made over the API can be approved here and the other way round,
 * never by the same person twice.
 *
 * Each sub-command has its own options and --help; a usage error (an
 * option it does not take, a missing one, a malformed value or argument)
 * exits 2 before the instance is opened, a failure 1. `approve` shows what
 * it would issue and asks for confirmation on the terminal unless --yes;
 * without a terminal and without --yes it refuses (exit 2). issue and
 * approve log in to the token (they sign); the others only touch the
 * store.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ca/ca.h"
#include "cli/cli.h"
#include "instance/instance.h"

struct ca_opts {
	const char *dir;
	const char *profile;
	const char *csr;
	const char *subject;    /* JSON object text */
	const char *san;        /* JSON object text */
	const char *out;
	const char *reason;
	const char *invalidity;
	const char *uscc, *id_number, *status, *after, *requester;
	int64_t validity_days;
	int64_t expiring_s;     /* --expiring: within this many seconds */
	int64_t limit;
	int json;
	int pem;
	int yes;
	json_t *fields;         /* --field k=v, merged into subject */
	json_t *subject_json;   /* --subject, parsed */
	json_t *san_json;       /* --san, parsed */
	const char *sub;        /* the sub-command's name */
	char *arg;              /* the positional argument, if any */
	char serial[72];        /* |arg| as a normalised serial */
};

struct ca_sub;
typedef int (*ca_run_fn)(const struct ca_ctx *ca, const struct ca_actor *who,
    struct ca_opts *o);

struct ca_sub {
	const char *name;
	const char *usage;      /* after "govpki ca NAME" */
	const char *help;       /* what it does */
	const char *opts;       /* short letters of the options it takes */
	int arg;                /* 1: a serial, 2: a request id, 0: none */
	int keys;               /* signs: needs the token */
	ca_run_fn run;
};

static int ca_run_issue(const struct ca_ctx *, const struct ca_actor *,
    struct ca_opts *);
static int ca_run_approve(const struct ca_ctx *, const struct ca_actor *,
    struct ca_opts *);
static int ca_run_refuse(const struct ca_ctx *, const struct ca_actor *,
    struct ca_opts *);
static int ca_run_requests(const struct ca_ctx *, const struct ca_actor *,
    struct ca_opts *);
static int ca_run_request(const struct ca_ctx *, const struct ca_actor *,
    struct ca_opts *);
static int ca_run_status(const struct ca_ctx *, const struct ca_actor *,
    struct ca_opts *);
static int ca_run_list(const struct ca_ctx *, const struct ca_actor *,
    struct ca_opts *);
static int ca_run_show(const struct ca_ctx *, const struct ca_actor *,
    struct ca_opts *);

#define CA_ARG_SERIAL 1
#define CA_ARG_REQUEST 2

static const struct ca_sub ca_subs[] = {
	{"issue", "--profile P --csr FILE (--subject JSON | --field K=V...) "
	    "[--san JSON]\n                 [--validity-days N] [--out FILE]",
	    "Issues a certificate from a PKCS#10 request under a profile of "
	    "policies/;\nthe subject comes from --subject/--field, never from "
	    "the CSR. A dual-control\nprofile (officer, tsa, ocsp-signer, "
	    "sub-ca) records a request instead, which\nanother person "
	    "approves.\n\nexample:\n  govpki ca issue --profile enterprise "
	    "--csr e.csr \\\n    --field organization=某某有限公司 --field "
	    "uscc=91350100M000100Y43\n", "pcsfSvo", 0, 1, ca_run_issue},
	{"approve", "REQUEST_ID [--yes] [--out FILE]",
	    "Shows everything the pending request would issue (profile, "
	    "subject, names,\nrole, key type and fingerprint, validity, "
	    "requester), asks for confirmation\non the terminal, then issues "
	    "it. --yes approves without asking; without a\nterminal and "
	    "without --yes nothing is approved (exit 2). The requester cannot\n"
	    "approve their own request, with any certificate of theirs.\n",
	    "oy", CA_ARG_REQUEST, 1, ca_run_approve},
	{"refuse", "REQUEST_ID --reason TEXT",
	    "Refuses a pending request, recording why; a refused request can "
	    "never be\napproved.\n", "r", CA_ARG_REQUEST, 0, ca_run_refuse},
	{"requests", "[--status S] [--profile P] [--requester ID] "
	    "[--after REQUEST_ID] [--limit N]",
	    "Lists requests (S: pending, approved, refused, failed), oldest "
	    "first.\n--requester takes a requester_id as `ca request` "
	    "shows it.\n", "tpRal", 0, 0, ca_run_requests},
	{"request", "REQUEST_ID",
	    "Shows one request and what approving it would issue.\n", "",
	    CA_ARG_REQUEST, 0, ca_run_request},
	{"revoke", "SERIAL [--reason R] [--invalidity-date "
	    "YYYY-MM-DDTHH:MM:SSZ]",
	    "Revokes a certificate; the reason is an RFC 5280 name (default "
	    "unspecified).\nRevocation is final.\n", "ri", CA_ARG_SERIAL, 1,
	    ca_run_status},
	{"hold", "SERIAL", "Suspends a good certificate (certificateHold).\n",
	    "", CA_ARG_SERIAL, 1, ca_run_status},
	{"release", "SERIAL", "Lifts the hold of a certificate.\n", "",
	    CA_ARG_SERIAL, 1, ca_run_status},
	{"list", "[--uscc C] [--id-number N] [--status S] [--profile P]\n"
	    "                 [--expiring Nd] [--after SERIAL] [--limit N]",
	    "Lists certificates (S: good, hold, revoked) in serial order.\n"
	    "--expiring 30d: those whose notAfter falls within the next 30 days "
	    "(good\nones unless --status says otherwise), to renew in time.\n",
	    "untpalx", 0, 0, ca_run_list},
	{"show", "SERIAL [--pem]", "Shows a stored certificate.\n", "P",
	    CA_ARG_SERIAL, 0, ca_run_show},
};
#define CA_NSUBS (sizeof(ca_subs) / sizeof(ca_subs[0]))

static void
ca_help_all(FILE *f)
{
	size_t i;

	fprintf(f, "usage: govpki ca <sub-command> [--dir DIR] [--json] ...\n\n");
	for (i = 0; i < CA_NSUBS; i++)
		fprintf(f, "  govpki ca %s %s\n", ca_subs[i].name, ca_subs[i].usage);
	fprintf(f, "  govpki ca crl [--ca ca|root|ca-delta]\n\n"
	    "Each sub-command has its own --help. Common options:\n"
	    "  --dir DIR   instance directory (default ./var)\n"
	    "  --json      print JSON\n"
	    "Every operation is recorded in the audit log as the local user. "
	    "Exit 0 on\nsuccess, 1 on failure, 2 on a usage error.\n");
}

static void
ca_help(const struct ca_sub *sub)
{
	printf("usage: govpki ca %s %s\n\n%s\n"
	    "  --dir DIR   instance directory (default ./var)\n"
	    "  --json      print JSON\n\n"
	    "Recorded in the audit log as the local user. Exit 0 on success, 1 "
	    "on failure,\n2 on a usage error.\n", sub->name, sub->usage,
	    sub->help);
}

static int
ca_count(const char *s, int64_t *out)
{
	char *end = NULL;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v <= 0)
		return -1;
	*out = v;
	return 0;
}

static int
ca_one_of(const char *s, const char *const *values)
{
	size_t i;

	for (i = 0; values[i] != NULL; i++)
		if (strcmp(s, values[i]) == 0)
			return 1;
	return 0;
}

/* Parses the options of |sub|; CLI_USAGE (printed) for anything it does
 * not take or that is malformed, -1 after --help, 0 otherwise. */
static int
ca_parse(const struct ca_sub *sub, int argc, char **argv, struct ca_opts *o)
{
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"profile", required_argument, NULL, 'p'},
		{"csr", required_argument, NULL, 'c'},
		{"subject", required_argument, NULL, 's'},
		{"field", required_argument, NULL, 'f'},
		{"san", required_argument, NULL, 'S'},
		{"validity-days", required_argument, NULL, 'v'},
		{"out", required_argument, NULL, 'o'},
		{"reason", required_argument, NULL, 'r'},
		{"invalidity-date", required_argument, NULL, 'i'},
		{"uscc", required_argument, NULL, 'u'},
		{"id-number", required_argument, NULL, 'n'},
		{"status", required_argument, NULL, 't'},
		{"requester", required_argument, NULL, 'R'},
		{"after", required_argument, NULL, 'a'},
		{"limit", required_argument, NULL, 'l'},
		{"expiring", required_argument, NULL, 'x'},
		{"pem", no_argument, NULL, 'P'},
		{"yes", no_argument, NULL, 'y'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static const char *const cert_status[] = {"good", "hold", "revoked",
	    NULL};
	static const char *const req_status[] = {"pending", "approved",
	    "refused", "failed", NULL};
	char cmd[32], *eq;
	int c, idx;

	snprintf(cmd, sizeof(cmd), "ca %s", sub->name);
	o->sub = sub->name;
	o->dir = CLI_DEFAULT_DIR;
	o->limit = 100;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, &idx)) != -1) {
		if (c == 'h') {
			ca_help(sub);
			return -1;
		}
		if (c == '?' || c == ':')
			return cli_bad_option(cmd, argc, argv);
		if (c != 'd' && c != 'j' && strchr(sub->opts, c) == NULL) {
			char what[96];
			snprintf(what, sizeof(what), "--%s is not an option of "
			    "this sub-command", longopts[idx].name);
			return cli_usage(cmd, what);
		}
		switch (c) {
		case 'd': o->dir = optarg; break;
		case 'p': o->profile = optarg; break;
		case 'c': o->csr = optarg; break;
		case 's': o->subject = optarg; break;
		case 'S': o->san = optarg; break;
		case 'o': o->out = optarg; break;
		case 'r': o->reason = optarg; break;
		case 'i': o->invalidity = optarg; break;
		case 'u': o->uscc = optarg; break;
		case 'n': o->id_number = optarg; break;
		case 't': o->status = optarg; break;
		case 'R': o->requester = optarg; break;
		case 'a': o->after = optarg; break;
		case 'P': o->pem = 1; break;
		case 'y': o->yes = 1; break;
		case 'j': o->json = 1; break;
		case 'f':
			if ((eq = strchr(optarg, '=')) == NULL || eq == optarg)
				return cli_usage(cmd, "--field needs KEY=VALUE");
			if (o->fields == NULL && (o->fields = json_object()) ==
			    NULL)
				return CLI_FAIL;
			/* Unchecked here: the CA checks every value and names
			 * the field (invalid UTF-8 included). */
			if (json_object_setn_new_nocheck(o->fields, optarg,
			    (size_t)(eq - optarg), json_stringn_nocheck(eq + 1,
			    strlen(eq + 1))) != 0)
				return cli_usage(cmd, "--field: cannot be kept");
			break;
		case 'v':
			if (ca_count(optarg, &o->validity_days) != 0)
				return cli_usage(cmd, "--validity-days needs a "
				    "positive number");
			break;
		case 'l':
			if (ca_count(optarg, &o->limit) != 0 || o->limit > 1000)
				return cli_usage(cmd, "--limit needs a number "
				    "from 1 to 1000");
			break;
		case 'x': {
			/* "30d" (days) or "12h" (hours); a bare number is
			 * days. */
			char unit[8] = "d", num[24];
			size_t nl = strspn(optarg, "0123456789");
			int64_t v = 0;

			if (nl == 0 || nl >= sizeof(num) ||
			    strlen(optarg + nl) > 1)
				return cli_usage(cmd, "--expiring needs a "
				    "duration such as 30d or 12h");
			memcpy(num, optarg, nl);
			num[nl] = '\0';
			if (optarg[nl] != '\0')
				unit[0] = optarg[nl];
			if (ca_count(num, &v) != 0 || v > 36500 ||
			    (unit[0] != 'd' && unit[0] != 'h'))
				return cli_usage(cmd, "--expiring needs a "
				    "duration such as 30d or 12h (1 to 36500)");
			o->expiring_s = v * (unit[0] == 'd' ? 86400 : 3600);
			break;
		}
		default:
			return cli_usage(cmd, "unknown option");
		}
	}
	if (optind < argc)
		o->arg = argv[optind++];
	if (optind != argc)
		return cli_usage(cmd, "one argument too many");
	if (sub->arg == 0 && o->arg != NULL)
		return cli_usage(cmd, "takes no argument");
	if (sub->arg != 0 && o->arg == NULL)
		return cli_usage(cmd, sub->arg == CA_ARG_SERIAL ? "a serial is "
		    "required" : "a request id is required");
	if (sub->arg == CA_ARG_REQUEST && !ca_request_id_ok(o->arg))
		return cli_usage(cmd, "a request id is 32 lower-case hex "
		    "digits");
	/* A serial as openssl prints it is accepted. */
	if (sub->arg == CA_ARG_SERIAL &&
	    ca_serial_norm(o->arg, o->serial, sizeof(o->serial)) != 0)
		return cli_usage(cmd, gp_err_detail());
	if (sub->run == ca_run_issue && (o->profile == NULL || o->csr == NULL))
		return cli_usage(cmd, "--profile and --csr are required");
	if (o->subject != NULL && (o->subject_json = json_loads(o->subject,
	    JSON_REJECT_DUPLICATES, NULL), !json_is_object(o->subject_json)))
		return cli_usage(cmd, "--subject: a JSON object of subject "
		    "fields is required");
	if (o->san != NULL && (o->san_json = json_loads(o->san,
	    JSON_REJECT_DUPLICATES, NULL), !json_is_object(o->san_json)))
		return cli_usage(cmd, "--san: a JSON object {\"dns\":[..]} is "
		    "required");
	if (sub->run == ca_run_refuse && o->reason == NULL)
		return cli_usage(cmd, "--reason is required (why it is "
		    "refused)");
	if (o->status != NULL && !ca_one_of(o->status,
	    sub->run == ca_run_requests ? req_status : cert_status))
		return cli_usage(cmd, sub->run == ca_run_requests ? "--status: "
		    "pending, approved, refused or failed" : "--status: good, "
		    "hold or revoked");
	if (o->after != NULL && sub->run == ca_run_requests &&
	    !ca_request_id_ok(o->after))
		return cli_usage(cmd, "--after: a request id");
	if (sub->run == ca_run_approve && !o->yes && !isatty(STDIN_FILENO))
		return cli_usage(cmd, "no terminal to confirm on: run it from "
		    "a terminal, or pass --yes once you have checked the "
		    "request with `govpki ca request ID`");
	return 0;
}

static void
ca_print_issued(const struct ca_issue_result *res, const struct ca_opts *o)
{
	if (o->json) {
		if (res->pending)
			cli_print_json(json_pack("{s:s, s:s, s:s}",
			    "request_id", res->request_id, "status", "pending",
			    "profile", res->profile));
		else
			cli_print_json(json_pack("{s:s, s:s, s:s, s:I}",
			    "serial", res->serial, "profile", res->profile,
			    "certificate", res->cert_pem, "not_after",
			    (json_int_t)res->not_after));
		return;
	}
	if (res->pending) {
		printf("request %s recorded (profile %s): dual control, another "
		    "person approves it with\n  govpki ca approve %s, or POST "
		    "/api/v1/requests/%s/approve\n", res->request_id,
		    res->profile, res->request_id, res->request_id);
		return;
	}
	if (o->out == NULL)
		fputs(res->cert_pem, stdout);
	fprintf(stderr, "issued serial %s (profile %s)%s%s\n", res->serial,
	    res->profile, o->out ? ", written to " : "", o->out ? o->out : "");
}

static int
ca_run_issue(const struct ca_ctx *ca, const struct ca_actor *who,
    struct ca_opts *o)
{
	struct ca_issue_req req;
	struct ca_issue_result res;
	json_t *subject = NULL;
	uint8_t *csr = NULL;
	size_t csr_len = 0;
	const char *k;
	json_t *v;
	int r;

	memset(&res, 0, sizeof(res));
	memset(&req, 0, sizeof(req));
	GUARD(gp_file_read(o->csr, CA_MAX_CSR, &csr, &csr_len));
	ENSURE((subject = o->subject_json != NULL ? json_incref(o->subject_json)
	    : json_object()) != NULL, GP_ERR_NOMEM);
	if (o->fields != NULL)
		json_object_foreach(o->fields, k, v)
			json_object_set_nocheck(subject, k, v);
	req.profile = o->profile;
	req.csr_pem = (const char *)csr;
	req.csr_len = csr_len;
	req.subject = subject;
	req.san = o->san_json;
	req.validity_days = o->validity_days;
	GUARD(ca_issue(ca, who, &req, &res));
	if (!res.pending && o->out != NULL)
		GUARD(gp_file_write(o->out, res.cert_pem, strlen(res.cert_pem),
		    0644, 0));
	ca_print_issued(&res, o);
	r = 0;
out:
	ca_issue_result_clear(&res);
	json_decref(subject);
	free(csr);
	return r;
}

static void
ca_print_time(const char *label, int64_t t)
{
	char buf[32];
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) != NULL &&
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
		fprintf(stderr, "  %-14s %s\n", label, buf);
}

/* The request |j| (ca_request_get) for a person to read, on stderr so
 * that stdout keeps only the result. */
static void
ca_print_request(json_t *j)
{
	json_t *is = json_object_get(j, "issue"), *key;
	const char *s;

#define CA_STR(o, k) (json_string_value(json_object_get((o), (k))))
	fprintf(stderr, "request %s (%s)\n", CA_STR(j, "id"),
	    CA_STR(j, "status"));
	fprintf(stderr, "  %-14s %s\n", "requester", CA_STR(j, "requester"));
	fprintf(stderr, "  %-14s %s\n", "requester id",
	    CA_STR(j, "requester_id"));
	ca_print_time("requested", json_integer_value(json_object_get(j,
	    "created_ms")) / 1000);
	if ((s = CA_STR(j, "decided_by")) != NULL)
		fprintf(stderr, "  %-14s %s\n", "decided by", s);
	if ((s = CA_STR(j, "reason")) != NULL)
		fprintf(stderr, "  %-14s %s\n", "reason", s);
	if (!json_is_true(json_object_get(is, "issuable"))) {
		fprintf(stderr, "  %-14s %s\n", "cannot issue",
		    CA_STR(is, "problem"));
		return;
	}
	fprintf(stderr, "would issue:\n");
	fprintf(stderr, "  %-14s %s (signed by the %s key)\n", "profile",
	    CA_STR(is, "profile"), CA_STR(is, "issuer"));
	fprintf(stderr, "  %-14s %s\n", "subject", CA_STR(is, "subject"));
	if ((s = CA_STR(is, "names")) != NULL)
		fprintf(stderr, "  %-14s %s\n", "names", s);
	if ((s = CA_STR(is, "role")) != NULL)
		fprintf(stderr, "  %-14s %s\n", "role", s);
	key = json_object_get(is, "key");
	fprintf(stderr, "  %-14s %s, %lld bits\n  %-14s %s\n", "key",
	    CA_STR(key, "type"), (long long)json_integer_value(
	    json_object_get(key, "bits")), "fingerprint",
	    CA_STR(key, "fingerprint"));
	fprintf(stderr, "  %-14s %lld days\n", "validity",
	    (long long)json_integer_value(json_object_get(is,
	    "validity_days")));
	ca_print_time("not before", json_integer_value(json_object_get(is,
	    "not_before")));
	ca_print_time("not after", json_integer_value(json_object_get(is,
	    "not_after")));
	fprintf(stderr, "  %-14s %s\n", "key usage", CA_STR(is, "key_usage"));
	if ((s = CA_STR(is, "extended_key_usage")) != NULL)
		fprintf(stderr, "  %-14s %s\n", "extended use", s);
	if (json_is_true(json_object_get(is, "ca")))
		fprintf(stderr, "  %-14s yes: a certificate authority\n", "CA");
#undef CA_STR
}

static int
ca_run_approve(const struct ca_ctx *ca, const struct ca_actor *who,
    struct ca_opts *o)
{
	struct ca_issue_result res;
	json_t *j = NULL;
	int r;

	memset(&res, 0, sizeof(res));
	GUARD(ca_request_get(ca, o->arg, &j));
	ca_print_request(j);
	/* A request that cannot be issued is not asked about: the attempt
	 * below fails, audited, naming why. */
	if (!o->yes && json_is_true(json_object_get(json_object_get(j,
	    "issue"), "issuable")) &&
	    strcmp(json_string_value(json_object_get(j, "status")),
	    "pending") == 0 && !cli_confirm("Approve request %s and issue "
	    "this certificate?", o->arg)) {
		r = gp_err_set(GP_ERR_DENIED, "not approved: nothing was "
		    "issued");
		goto out;
	}
	GUARD(ca_request_approve(ca, who, o->arg, &res));
	if (o->out != NULL)
		GUARD(gp_file_write(o->out, res.cert_pem, strlen(res.cert_pem),
		    0644, 0));
	ca_print_issued(&res, o);
	r = 0;
out:
	json_decref(j);
	ca_issue_result_clear(&res);
	return r;
}

static int
ca_run_refuse(const struct ca_ctx *ca, const struct ca_actor *who,
    struct ca_opts *o)
{
	int r;

	GUARD(ca_request_refuse(ca, who, o->arg, o->reason));
	if (o->json)
		cli_print_json(json_pack("{s:s, s:s}", "request_id", o->arg,
		    "status", "refused"));
	else
		printf("request %s: refused\n", o->arg);
	r = 0;
out:
	return r;
}

/* A read, audited as the API audits it. */
static int
ca_audit_read(const struct ca_ctx *ca, const struct ca_actor *who,
    const char *op, const char *object)
{
	struct audit_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.actor = who->actor;
	ev.role = who->role;
	ev.op = op;
	ev.object = object;
	ev.outcome = "success";
	return audit_log(ca->audit, &ev);
}

static int
ca_run_requests(const struct ca_ctx *ca, const struct ca_actor *who,
    struct ca_opts *o)
{
	struct store_request_query q;
	json_t *j = NULL, *e;
	size_t i;
	int r;

	memset(&q, 0, sizeof(q));
	q.profile = o->profile;
	q.requester = o->requester;
	q.status = o->status;
	q.after = o->after;
	q.limit = o->limit;
	GUARD(ca_request_list(ca, &q, &j));
	GUARD(ca_audit_read(ca, who, "cert.request.list", "requests"));
	json_array_foreach(json_object_get(j, "requests"), i, e) {
		if (o->json) {
			cli_print_json(json_incref(e));
			continue;
		}
		printf("%s %-9s %-12s %s\n",
		    json_string_value(json_object_get(e, "id")),
		    json_string_value(json_object_get(e, "status")),
		    json_string_value(json_object_get(e, "profile")),
		    json_string_value(json_object_get(e, "requester")));
	}
	r = 0;
out:
	json_decref(j);
	return r;
}

static int
ca_run_request(const struct ca_ctx *ca, const struct ca_actor *who,
    struct ca_opts *o)
{
	json_t *j = NULL;
	int r;

	GUARD(ca_request_get(ca, o->arg, &j));
	GUARD(ca_audit_read(ca, who, "cert.request.show", o->arg));
	if (o->json)
		cli_print_json(json_incref(j));
	else
		ca_print_request(j);
	r = 0;
out:
	json_decref(j);
	return r;
}

static int
ca_parse_time(const char *s, int64_t *out)
{
	struct tm tm;
	const char *end;

	*out = 0;
	if (s == NULL)
		return 0;
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL ||
	    *end != '\0')
		return gp_err_set(GP_ERR_INVALID, "--invalidity-date: "
		    "YYYY-MM-DDTHH:MM:SSZ");
	*out = (int64_t)timegm(&tm);
	return 0;
}

/* revoke, hold and release. */
static int
ca_run_status(const struct ca_ctx *ca, const struct ca_actor *who,
    struct ca_opts *o)
{
	const char *st, *said;
	int64_t inv = 0;
	int r, reason;

	if (strcmp(o->sub, "revoke") == 0) {
		reason = ca_reason_code(o->reason ? o->reason : "unspecified");
		ENSURE(reason >= 0, gp_err_set(GP_ERR_INVALID, "--reason: not "
		    "an RFC 5280 CRLReason name (keyCompromise, superseded, "
		    "...)"));
		GUARD(ca_parse_time(o->invalidity, &inv));
		GUARD(ca_revoke(ca, who, o->serial, reason, inv));
		st = "revoked";
		said = "revoked";
	} else if (strcmp(o->sub, "hold") == 0) {
		GUARD(ca_hold(ca, who, o->serial));
		st = "hold";
		said = "on hold";
	} else {
		GUARD(ca_release(ca, who, o->serial));
		st = "good";
		said = "released";
	}
	if (o->json)
		cli_print_json(json_pack("{s:s, s:s}", "serial", o->serial,
		    "status", st));
	else
		printf("%s: %s\n", o->serial, said);
	r = 0;
out:
	return r;
}

static int
ca_run_list(const struct ca_ctx *ca, const struct ca_actor *who,
    struct ca_opts *o)
{
	struct store_cert_query q;
	struct store_cert *list = NULL;
	size_t n = 0, i;
	int r;

	memset(&q, 0, sizeof(q));
	q.uscc = o->uscc;
	q.id_number = o->id_number;
	q.status = o->status;
	q.profile = o->profile;
	q.after = o->after;
	q.limit = o->limit;
	if (o->expiring_s > 0) {
		/* Still valid now, and expiring within the window: what to
		 * renew (revoked ones are not renewed). */
		q.expires_after = (int64_t)time(NULL);
		q.expires_before = q.expires_after + o->expiring_s;
		if (q.status == NULL)
			q.status = "good";
	}
	GUARD(store_cert_find(ca->st, &q, &list, &n));
	GUARD(ca_audit_read(ca, who, "cert.list", "certificates"));
	for (i = 0; i < n; i++) {
		if (o->json)
			cli_print_json(ca_cert_json(&list[i], 0));
		else
			printf("%-34s %-8s %-22s %s\n", list[i].serial,
			    list[i].status, list[i].profile, list[i].subject);
	}
	r = 0;
out:
	store_cert_list_free(list, n);
	return r;
}

static int
ca_run_show(const struct ca_ctx *ca, const struct ca_actor *who,
    struct ca_opts *o)
{
	struct store_cert c;
	json_t *j = NULL;
	const char *pem;
	int r;

	memset(&c, 0, sizeof(c));
	GUARD(store_cert_get(ca->st, o->serial, &c));
	ENSURE((j = ca_cert_json(&c, 1)) != NULL, GP_ERR_NOMEM);
	GUARD(ca_cert_history_json(ca->st, o->serial, j));
	GUARD(ca_audit_read(ca, who, "cert.show", o->serial));
	pem = json_string_value(json_object_get(j, "certificate"));
	if (o->pem && pem != NULL)
		fputs(pem, stdout);
	else
		cli_print_json(json_incref(j));
	r = 0;
out:
	json_decref(j);
	store_cert_clear(&c);
	return r;
}

int
cmd_ca(int argc, char **argv)
{
	struct ca_opts o;
	struct instance *inst = NULL;
	struct ca_profiles *ps = NULL;
	struct ca_ctx ca;
	struct ca_actor who;
	struct ca_person person;
	const struct ca_sub *sub = NULL;
	size_t i;
	int r, rc;

	memset(&o, 0, sizeof(o));
	if (argc < 2) {
		ca_help_all(stderr); /* a usage error: on stderr */
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		ca_help_all(stdout);
		return CLI_OK;
	}
	if (strcmp(argv[1], "crl") == 0)
		return cmd_ca_crl(argc - 1, argv + 1); /* cmd_crl.c */
	for (i = 0; i < CA_NSUBS; i++)
		if (strcmp(argv[1], ca_subs[i].name) == 0)
			sub = &ca_subs[i];
	if (sub == NULL)
		return cli_usage("ca", "unknown sub-command");
	r = 0;
	if ((rc = ca_parse(sub, argc - 1, argv + 1, &o)) != 0) {
		rc = rc < 0 ? CLI_OK : rc; /* --help, or a usage error */
		goto out;
	}
	r = instance_open(o.dir, sub->keys ? INSTANCE_KEYS : 0, &inst);
	if (r != 0)
		goto out;
	GUARD(ca_profiles_load(inst->cfg, &ps));
	memset(&ca, 0, sizeof(ca));
	ca.cfg = inst->cfg;
	ca.profiles = ps;
	ca.st = inst->st;
	ca.audit = inst->audit;
	for (i = 0; i < GP_KEY_COUNT; i++) {
		ca.cert[i] = inst->cert[i];
		ca.key[i] = inst->key[i];
	}
	GUARD(ca_person_local(inst->actor, &person));
	memset(&who, 0, sizeof(who));
	who.actor = inst->actor;
	who.role = "local";
	who.person = &person;
	GUARD(sub->run(&ca, &who, &o));
	r = 0;
out:
	ca_profiles_free(ps);
	instance_free(inst);
	json_decref(o.fields);
	json_decref(o.subject_json);
	json_decref(o.san_json);
	return r != 0 ? cli_fail(r, o.json) : rc;
}
