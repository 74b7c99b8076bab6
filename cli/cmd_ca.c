/*
 * cmd_ca.c: `govpki ca issue|approve|revoke|hold|release|list|show`: the
 * security officer's operations on the instance directory, without the
 * server, through the same ca/ functions the admin API calls (so the same
 * checks, the same audit records). The actor is the local user
 * ("local:<login>"); for dual control the local operator is one identity
 * and any administrator certificate another, so a request made over the
 * API can be approved here and the other way round, never by the same
 * identity twice. issue and approve log in to the token (they sign);
 * the others only touch the store.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	const char *uscc, *id_number, *status, *after;
	int64_t validity_days;
	int64_t limit;
	int json;
	int pem;
	json_t *fields;         /* --field k=v, merged into subject */
};

static void
ca_help(void)
{
	printf("usage: govpki ca issue --profile P --csr FILE (--subject JSON | "
	    "--field K=V...)\n"
	    "                 [--san JSON] [--validity-days N] [--out FILE]\n"
	    "       govpki ca approve REQUEST_ID\n"
	    "       govpki ca revoke SERIAL [--reason R] [--invalidity-date "
	    "YYYY-MM-DDTHH:MM:SSZ]\n"
	    "       govpki ca hold SERIAL | govpki ca release SERIAL\n"
	    "       govpki ca list [--uscc C] [--id-number N] [--status S] "
	    "[--profile P]\n"
	    "                      [--after SERIAL] [--limit N]\n"
	    "       govpki ca show SERIAL [--pem]\n\n"
	    "issue    issues a certificate from a PKCS#10 request under a "
	    "profile of policies/;\n"
	    "         the subject comes from --subject/--field, never from the "
	    "CSR. A dual-control\n"
	    "         profile (officer, tsa, ocsp-signer, sub-ca) records a "
	    "request instead;\n"
	    "         another identity (an officer over the API) approves it.\n"
	    "approve  approves a pending request of another identity and "
	    "issues it.\n"
	    "revoke   reason is an RFC 5280 name (default unspecified); "
	    "final.\n"
	    "hold     suspends (certificateHold); release lifts it.\n\n"
	    "  --dir DIR   instance directory (default ./var)\n"
	    "  --json      print JSON\n\n"
	    "example:\n"
	    "  govpki ca issue --profile enterprise --csr e.csr \\\n"
	    "    --field organization=某某有限公司 --field "
	    "uscc=91350100M000100Y43\n"
	    "Every operation is recorded in the audit log as the local "
	    "user.\n");
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
ca_parse(int argc, char **argv, struct ca_opts *o, char **out_arg)
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
		{"after", required_argument, NULL, 'a'},
		{"limit", required_argument, NULL, 'l'},
		{"pem", no_argument, NULL, 'P'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char *eq;
	int c;

	*out_arg = NULL;
	o->dir = CLI_DEFAULT_DIR;
	o->limit = 100;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
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
		case 'a': o->after = optarg; break;
		case 'P': o->pem = 1; break;
		case 'j': o->json = 1; break;
		case 'f':
			if ((eq = strchr(optarg, '=')) == NULL || eq == optarg)
				return cli_usage("ca", "--field needs KEY=VALUE");
			if (o->fields == NULL && (o->fields = json_object()) ==
			    NULL)
				return CLI_FAIL;
			*eq = '\0';
			json_object_set_new(o->fields, optarg,
			    json_string(eq + 1));
			*eq = '=';
			break;
		case 'v':
			if (ca_count(optarg, &o->validity_days) != 0)
				return cli_usage("ca", "--validity-days needs a "
				    "positive number");
			break;
		case 'l':
			if (ca_count(optarg, &o->limit) != 0)
				return cli_usage("ca", "--limit needs a positive "
				    "number");
			break;
		case 'h':
			ca_help();
			return -1;
		default:
			return cli_usage("ca", "unknown option");
		}
	}
	if (optind < argc)
		*out_arg = argv[optind++];
	if (optind != argc)
		return cli_usage("ca", "unexpected argument");
	return 0;
}

static int
ca_ctx_open(struct instance *inst, struct ca_profiles *ps, struct ca_ctx *ca)
{
	size_t i;

	memset(ca, 0, sizeof(*ca));
	ca->cfg = inst->cfg;
	ca->profiles = ps;
	ca->st = inst->st;
	ca->audit = inst->audit;
	for (i = 0; i < GP_KEY_COUNT; i++) {
		ca->cert[i] = inst->cert[i];
		ca->key[i] = inst->key[i];
	}
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
		    "officer approves it with\n  POST "
		    "/api/v1/requests/%s/approve\n", res->request_id,
		    res->profile, res->request_id);
		return;
	}
	if (o->out == NULL)
		fputs(res->cert_pem, stdout);
	fprintf(stderr, "issued serial %s (profile %s)%s%s\n", res->serial,
	    res->profile, o->out ? ", written to " : "", o->out ? o->out : "");
}

static int
ca_cmd_issue(const struct ca_ctx *ca, const struct ca_actor *who,
    struct ca_opts *o)
{
	struct ca_issue_req req;
	struct ca_issue_result res;
	json_t *subject = NULL, *san = NULL;
	json_error_t jerr;
	uint8_t *csr = NULL;
	size_t csr_len = 0;
	const char *k;
	json_t *v;
	int r;

	memset(&res, 0, sizeof(res));
	memset(&req, 0, sizeof(req));
	ENSURE(o->profile != NULL && o->csr != NULL,
	    gp_err_set(GP_ERR_INVALID, "issue needs --profile and --csr"));
	GUARD(gp_file_read(o->csr, CA_MAX_CSR, &csr, &csr_len));
	if (o->subject != NULL) {
		subject = json_loads(o->subject, JSON_REJECT_DUPLICATES, &jerr);
		ENSURE(json_is_object(subject), gp_err_set(GP_ERR_INVALID,
		    "--subject: a JSON object is required"));
	} else {
		ENSURE((subject = json_object()) != NULL, GP_ERR_NOMEM);
	}
	if (o->fields != NULL)
		json_object_foreach(o->fields, k, v)
			json_object_set(subject, k, v);
	if (o->san != NULL) {
		san = json_loads(o->san, JSON_REJECT_DUPLICATES, &jerr);
		ENSURE(json_is_object(san), gp_err_set(GP_ERR_INVALID,
		    "--san: a JSON object {\"dns\":[..]} is required"));
	}
	req.profile = o->profile;
	req.csr_pem = (const char *)csr;
	req.csr_len = csr_len;
	req.subject = subject;
	req.san = san;
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
	json_decref(san);
	free(csr);
	return r;
}

static int
ca_cmd_show(const struct ca_ctx *ca, const struct ca_actor *who,
    const char *serial, const struct ca_opts *o)
{
	struct store_cert c;
	struct audit_event ev;
	json_t *j = NULL;
	int r;

	memset(&c, 0, sizeof(c));
	GUARD(store_cert_get(ca->st, serial, &c));
	ENSURE((j = ca_cert_json(&c, 1)) != NULL, GP_ERR_NOMEM);
	memset(&ev, 0, sizeof(ev));
	ev.actor = who->actor;
	ev.role = who->role;
	ev.op = "cert.show";
	ev.object = serial;
	ev.outcome = "success";
	GUARD(audit_log(ca->audit, &ev));
	if (o->pem && json_string_value(json_object_get(j, "certificate")))
		fputs(json_string_value(json_object_get(j, "certificate")),
		    stdout);
	else
		cli_print_json(json_incref(j));
	r = 0;
out:
	json_decref(j);
	store_cert_clear(&c);
	return r;
}

static int
ca_cmd_list(const struct ca_ctx *ca, const struct ca_actor *who,
    const struct ca_opts *o)
{
	struct store_cert_query q;
	struct store_cert *list = NULL;
	struct audit_event ev;
	size_t n = 0, i;
	int r;

	memset(&q, 0, sizeof(q));
	q.uscc = o->uscc;
	q.id_number = o->id_number;
	q.status = o->status;
	q.profile = o->profile;
	q.after = o->after;
	q.limit = o->limit;
	GUARD(store_cert_find(ca->st, &q, &list, &n));
	memset(&ev, 0, sizeof(ev));
	ev.actor = who->actor;
	ev.role = who->role;
	ev.op = "cert.list";
	ev.object = "certificates";
	ev.outcome = "success";
	GUARD(audit_log(ca->audit, &ev));
	for (i = 0; i < n; i++) {
		json_t *j = ca_cert_json(&list[i], 0);
		if (o->json) {
			cli_print_json(j);
		} else {
			printf("%-34s %-8s %-22s %s\n", list[i].serial,
			    list[i].status, list[i].profile, list[i].subject);
			json_decref(j);
		}
	}
	r = 0;
out:
	store_cert_list_free(list, n);
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

int
cmd_ca(int argc, char **argv)
{
	struct ca_opts o;
	struct instance *inst = NULL;
	struct ca_profiles *ps = NULL;
	struct ca_ctx ca;
	struct ca_actor who;
	struct ca_issue_result res;
	const char *sub;
	char *arg = NULL, serial[72];
	int r, rc, needs_arg, keys, reason;
	int64_t inv = 0;

	memset(&o, 0, sizeof(o));
	memset(&res, 0, sizeof(res));
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		ca_help();
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	sub = argv[1];
	if (strcmp(sub, "crl") == 0)
		return cmd_ca_crl(argc - 1, argv + 1); /* cmd_crl.c */
	if (strcmp(sub, "issue") != 0 && strcmp(sub, "approve") != 0 &&
	    strcmp(sub, "revoke") != 0 && strcmp(sub, "hold") != 0 &&
	    strcmp(sub, "release") != 0 && strcmp(sub, "list") != 0 &&
	    strcmp(sub, "show") != 0)
		return cli_usage("ca", "unknown sub-command");
	rc = ca_parse(argc - 1, argv + 1, &o, &arg);
	if (rc != 0) {
		json_decref(o.fields);
		return rc < 0 ? CLI_OK : rc;
	}
	needs_arg = strcmp(sub, "issue") != 0 && strcmp(sub, "list") != 0;
	if (needs_arg != (arg != NULL)) {
		json_decref(o.fields);
		return cli_usage("ca", needs_arg ? "a serial or request id is "
		    "required" : "unexpected argument");
	}
	/* Changes need the token: issuance signs, and every change is
	 * sealed by an audit checkpoint when the instance closes. */
	keys = strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0;
	r = instance_open(o.dir, keys ? INSTANCE_KEYS : 0, &inst);
	if (r != 0)
		goto out;
	GUARD(ca_profiles_load(inst->cfg, &ps));
	GUARD(ca_ctx_open(inst, ps, &ca));
	memset(&who, 0, sizeof(who));
	who.actor = inst->actor;
	who.role = "local";
	who.id = inst->actor;
	/* A serial as openssl prints it is accepted. */
	if (strcmp(sub, "approve") != 0 && arg != NULL) {
		GUARD(ca_serial_norm(arg, serial, sizeof(serial)));
		arg = serial;
	}
	if (strcmp(sub, "issue") == 0) {
		GUARD(ca_cmd_issue(&ca, &who, &o));
	} else if (strcmp(sub, "approve") == 0) {
		GUARD(ca_request_approve(&ca, &who, arg, &res));
		if (o.out != NULL)
			GUARD(gp_file_write(o.out, res.cert_pem,
			    strlen(res.cert_pem), 0644, 0));
		ca_print_issued(&res, &o);
	} else if (strcmp(sub, "revoke") == 0) {
		reason = ca_reason_code(o.reason ? o.reason : "unspecified");
		ENSURE(reason >= 0, gp_err_set(GP_ERR_INVALID, "--reason: not "
		    "an RFC 5280 CRLReason name (keyCompromise, superseded, "
		    "...)"));
		GUARD(ca_parse_time(o.invalidity, &inv));
		GUARD(ca_revoke(&ca, &who, arg, reason, inv));
	} else if (strcmp(sub, "hold") == 0) {
		GUARD(ca_hold(&ca, &who, arg));
	} else if (strcmp(sub, "release") == 0) {
		GUARD(ca_release(&ca, &who, arg));
	} else if (strcmp(sub, "list") == 0) {
		GUARD(ca_cmd_list(&ca, &who, &o));
	} else {
		GUARD(ca_cmd_show(&ca, &who, arg, &o));
	}
	if (strcmp(sub, "revoke") == 0 || strcmp(sub, "hold") == 0 ||
	    strcmp(sub, "release") == 0) {
		if (o.json)
			cli_print_json(json_pack("{s:s, s:s}", "serial", arg,
			    "status", sub[0] == 'r' && sub[2] == 'v' ?
			    "revoked" : sub[0] == 'h' ? "hold" : "good"));
		else
			printf("%s: %s\n", arg, sub[0] == 'r' && sub[2] == 'v' ?
			    "revoked" : sub[0] == 'h' ? "on hold" : "released");
	}
	r = 0;
out:
	ca_issue_result_clear(&res);
	ca_profiles_free(ps);
	instance_free(inst);
	json_decref(o.fields);
	return r == 0 ? CLI_OK : cli_fail(r, o.json);
}
