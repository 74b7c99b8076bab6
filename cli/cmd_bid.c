/*
 * cmd_bid.c: `govpki bid`, the bidder's client (tender/tender.h):
 *
 *   seal      the bid document sealed for a tender: the bid package with
 *             the announced fields, encrypted (AES-256, RSA key transport)
 *             to the tender's recipients, signed with the bidder's USB key
 *             (any PKCS#11 module) as CAdES B-B naming the tender
 *   submit    sends a sealed bid (streamed, any size) and checks the
 *             receipt: signed under the instance root, naming this bid's
 *             SHA-256 and size
 *   withdraw  a signed withdrawal of a bid before the deadline
 *   decrypt   bidder mode: in the key-release window, unwraps the bid's
 *             key with the bidder's encryption key (USB key) and releases
 *             it, signed and encrypted to the tender's transport
 *             certificate
 *
 * The PIN comes from --pin-file, else $GOVPKI_PIN, else the terminal, and
 * is wiped after the login. Works on no instance: it writes no audit log;
 * the platform audits what it receives.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "cli/cli.h"
#include "signer/signer.h"
#include "tender/tender.h"
#include "tokens/tokens.h"

#ifndef GP_SOFTHSM_MODULE
#define GP_SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#endif

#define BID_PIN_ENV "GOVPKI_PIN"
#define BID_MAX_PEM (1024 * 1024)
#define BID_MAX_FIELDS TENDER_MAX_FIELDS

struct bid_opts {
	const char *tender, *in, *out, *key, *module, *pin_file, *cert;
	const char *enc_cert, *enc_key, *root, *chain, *url, *bid;
	struct tender_field fields[BID_MAX_FIELDS];
	size_t fields_len;
	int json;
};

static void
bid_help(void)
{
	printf("usage: govpki bid seal --tender FILE|URL --in BID --key URI "
	    "--root FILE --out BID.p7m\n"
	    "                      [--field NAME=VALUE]... [--module LIB] "
	    "[--pin-file FILE]\n"
	    "                      [--cert FILE] [--chain FILE] [--enc-cert "
	    "CERT]\n"
	    "       govpki bid submit --url TENDER_URL --in BID.p7m --root FILE "
	    "--out RECEIPT.p7s\n"
	    "       govpki bid withdraw --url TENDER_URL --bid ID --key URI "
	    "--root FILE\n"
	    "                      --out RECEIPT.p7s [--module LIB] "
	    "[--pin-file FILE] [--cert FILE]\n"
	    "       govpki bid decrypt --url TENDER_URL --bid ID --in BID.p7m "
	    "--enc-key URI --key URI\n"
	    "                      --root FILE [--enc-cert FILE] [--module LIB] "
	    "[--pin-file FILE]\n\n"
	    "seal: --tender is the tender's JSON (a file, or its URL "
	    "http://HOST/tenders/ID);\n"
	    "  every field the tender announces at the opening is given with "
	    "--field (price=...);\n"
	    "  the bid is encrypted to the tender's recipients (platform mode) "
	    "or to --enc-cert,\n"
	    "  the bidder's own enterprise-encryption certificate (bidder "
	    "mode); every recipient\n"
	    "  must chain to --root, the instance's root certificate. --key: "
	    "the signing key\n"
	    "  (RFC 7512, e.g. 'pkcs11:token=ukey;object=sign'); its "
	    "certificate is --cert or the\n"
	    "  token's certificate object of the same label.\n"
	    "decrypt: bidder mode, in the key-release window: unwraps the "
	    "bid's key with --enc-key\n"
	    "  (the encryption key on the same USB key as --key) and releases "
	    "it, signed with --key\n"
	    "  and encrypted to the tender's transport certificate.\n"
	    "submit: TENDER_URL is http://HOST/tenders/ID; the receipt is "
	    "written only once it\n"
	    "  verifies under --root and names this bid.\n"
	    "The PIN: --pin-file FILE, else $%s, else the terminal (never "
	    "on the command line).\n", BID_PIN_ENV);
}

/* The signer on the USB key: the key, its certificate and a chain. */
struct bid_signer {
	tok_ctx *tok;
	EVP_PKEY *key;
	X509 *cert;
	STACK_OF(X509) *chain;
};

static void
bid_signer_free(struct bid_signer *s)
{
	EVP_PKEY_free(s->key);
	X509_free(s->cert);
	sk_X509_pop_free(s->chain, X509_free);
	tok_ctx_free(s->tok);
	memset(s, 0, sizeof(*s));
}

static int
bid_pem_first(const char *path, X509 **out)
{
	STACK_OF(X509) *sk = NULL;
	int r;

	*out = NULL;
	ENSURE((sk = sk_X509_new_null()) != NULL, GP_ERR_NOMEM);
	GUARD(cli_pem_certs(path, BID_MAX_PEM, sk));
	*out = sk_X509_shift(sk);
	r = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	return r;
}

/* The certificate object beside the key |uri| (same token and label). */
static int
bid_token_cert(tok_ctx *tok, const char *uri, const char *opt, X509 **out)
{
	struct tok_uri u = {0};
	char *curi = NULL;
	int r;

	*out = NULL;
	GUARD(tok_uri_parse(uri, &u));
	ENSURE(tok != NULL && u.object != NULL && (u.token != NULL ||
	    u.serial != NULL), gp_err_set(GP_ERR_INVALID, "%s: needed unless "
	    "the key URI names token= and object=", opt));
	ENSURE(asprintf(&curi, "pkcs11:%s=%s;object=%s;type=cert", u.token !=
	    NULL ? "token" : "serial", u.token != NULL ? u.token : u.serial,
	    u.object) > 0, GP_ERR_NOMEM);
	r = tok_cert_read(tok, curi, out);
	if (r == GP_ERR_NOT_FOUND)
		r = gp_err_set(r, "no certificate object \"%s\" on the token; "
		    "import one or give %s", u.object, opt);
	GUARD(r);
	r = 0;
out:
	free(curi);
	tok_uri_clear(&u);
	return r;
}

/* Logs in to the token of |o->key| and loads the key and certificate;
 * the chain goes up to |root| through |pool| (the tender's CAs). */
static int
bid_signer_open(const struct bid_opts *o, X509 *root, STACK_OF(X509) *pool,
    struct bid_signer *s)
{
	struct tok_uri u = {0};
	struct tok_pin_source src;
	char *pin = NULL;
	int r;

	memset(s, 0, sizeof(*s));
	GUARD(tok_uri_parse(o->key, &u));
	if (u.file == NULL) {
		GUARD(tok_ctx_new(o->module != NULL ? o->module :
		    u.module_path != NULL ? u.module_path : GP_SOFTHSM_MODULE,
		    &s->tok));
		memset(&src, 0, sizeof(src));
		src.kind = o->pin_file != NULL ? TOK_PIN_FILE :
		    getenv(BID_PIN_ENV) != NULL ? TOK_PIN_ENV : TOK_PIN_PROMPT;
		src.value = o->pin_file != NULL ? o->pin_file :
		    src.kind == TOK_PIN_ENV ? BID_PIN_ENV : "User PIN: ";
		GUARD(tok_pin_read(&src, &pin));
		r = tok_login(s->tok, u.token != NULL ? u.token : u.serial,
		    pin);
		gp_secret_free(pin);
		pin = NULL;
		GUARD(r);
	}
	GUARD(tok_key_load(s->tok, o->key, &s->key));
	if (o->cert != NULL)
		GUARD(bid_pem_first(o->cert, &s->cert));
	else
		GUARD(bid_token_cert(s->tok, o->key, "--cert", &s->cert));
	if (root != NULL)
		ENSURE(sk_X509_push(pool, root) > 0 && X509_up_ref(root),
		    GP_ERR_NOMEM);
	GUARD(sig_chain_build(s->cert, pool, &s->chain));
	r = 0;
out:
	gp_secret_free(pin);
	tok_uri_clear(&u);
	if (r != 0)
		bid_signer_free(s);
	return r;
}

/* The tender's JSON from a file or its URL. */
static int
bid_tender_load(const char *src, json_t **out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	json_error_t jerr;
	int r;

	*out = NULL;
	if (strncmp(src, "http://", 7) == 0)
		GUARD(gp_http_get(src, "application/json", TENDER_MAX_JSON,
		    30000, &buf, &len));
	else
		GUARD(gp_file_read(src, TENDER_MAX_JSON, &buf, &len));
	*out = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES,
	    &jerr);
	ENSURE(*out != NULL && json_is_object(*out), gp_err_set(
	    GP_ERR_INVALID, "--tender %s: not the tender's JSON (line %d: %s)",
	    src, jerr.line, jerr.text));
	r = 0;
out:
	free(buf);
	return r;
}

/* The tender's certificates ("chain"), for the signer's chain. */
static int
bid_tender_chain(json_t *tender, STACK_OF(X509) **out)
{
	json_t *v;
	size_t i;
	BIO *b = NULL;
	X509 *x;
	int r;

	ENSURE((*out = sk_X509_new_null()) != NULL, GP_ERR_NOMEM);
	json_array_foreach(json_object_get(tender, "chain"), i, v) {
		ENSURE(json_is_string(v) && (b = BIO_new_mem_buf(
		    json_string_value(v), (int)json_string_length(v))) !=
		    NULL, GP_ERR_NOMEM);
		x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		BIO_free(b);
		b = NULL;
		ENSURE(x != NULL && sk_X509_push(*out, x) > 0, gp_err_ssl(
		    GP_ERR_INVALID, "tender: chain[%zu]", i));
	}
	r = 0;
out:
	return r;
}

static int
bid_seal(const struct bid_opts *o)
{
	struct tender_seal_req rq;
	struct bid_signer sg;
	json_t *tender = NULL;
	X509 *root = NULL, *enc = NULL;
	STACK_OF(X509) *pool = NULL, *recips = NULL;
	const char *mode;
	char *sha = NULL;
	int r;

	memset(&sg, 0, sizeof(sg));
	GUARD(bid_tender_load(o->tender, &tender));
	GUARD(cli_pem_cert(o->root, BID_MAX_PEM, &root));
	GUARD(bid_tender_chain(tender, &pool));
	if (o->chain != NULL)
		GUARD(cli_pem_certs(o->chain, BID_MAX_PEM, pool));
	mode = json_string_value(json_object_get(tender, "mode"));
	if (mode != NULL && strcmp(mode, "bidder") == 0) {
		ENSURE(o->enc_cert != NULL, gp_err_set(GP_ERR_INVALID,
		    "--enc-cert: this tender (bidder mode) seals each bid to "
		    "its bidder's own enterprise-encryption certificate"));
		GUARD(bid_pem_first(o->enc_cert, &enc));
		ENSURE((recips = sk_X509_new_null()) != NULL &&
		    sk_X509_push(recips, enc) > 0, GP_ERR_NOMEM);
		enc = NULL; /* transferred */
	} else {
		ENSURE(o->enc_cert == NULL, gp_err_set(GP_ERR_INVALID,
		    "--enc-cert: this tender (platform mode) names its own "
		    "recipient"));
		GUARD(tender_recipients(tender, root, &recips));
	}
	GUARD(bid_signer_open(o, root, pool, &sg));
	memset(&rq, 0, sizeof(rq));
	rq.tender = tender;
	rq.root = root;
	rq.recipients = recips;
	rq.fields = o->fields;
	rq.fields_len = o->fields_len;
	rq.in = o->in;
	rq.out = o->out;
	rq.key = sg.key;
	rq.cert = sg.cert;
	rq.chain = sg.chain;
	GUARD(tender_seal(&rq, &sha));
	if (o->json)
		cli_print_json(json_pack("{s:s, s:s, s:s, s:s}", "tender",
		    json_string_value(json_object_get(tender, "id")), "in",
		    o->in, "out", o->out, "sha256", sha));
	else
		printf("sealed %s -> %s for tender %s (sha256 %s)\n", o->in,
		    o->out, json_string_value(json_object_get(tender, "id")),
		    sha);
	r = 0;
out:
	free(sha);
	bid_signer_free(&sg);
	json_decref(tender);
	X509_free(root);
	X509_free(enc);
	sk_X509_pop_free(pool, X509_free);
	sk_X509_pop_free(recips, X509_free);
	return r;
}

/* The tender id at the end of a tender URL (".../tenders/<id>"). */
static int
bid_url_id(const char *url, char *id)
{
	const char *p = strstr(url, "/tenders/");
	size_t n;

	if (p == NULL || (n = strlen(p + 9)) < TENDER_ID_LEN)
		return gp_err_set(GP_ERR_INVALID, "--url %s: a tender URL "
		    "(http://HOST/tenders/ID)", url);
	memcpy(id, p + 9, TENDER_ID_LEN);
	id[TENDER_ID_LEN] = '\0';
	if (!tender_id_ok(id) || (n != TENDER_ID_LEN && strcmp(p + 9 +
	    TENDER_ID_LEN, "/") != 0))
		return gp_err_set(GP_ERR_INVALID, "--url %s: a tender URL "
		    "(http://HOST/tenders/ID)", url);
	return 0;
}

/* Says what the platform refused (its JSON error) and returns the error. */
static int
bid_refused(int status, const uint8_t *body, size_t len)
{
	json_t *j = json_loadb((const char *)body, len, 0, NULL);
	json_t *e = json_object_get(j, "error");
	int r;

	r = gp_err_set(status == 409 ? GP_ERR_CONFLICT : status == 403 ?
	    GP_ERR_DENIED : status == 404 ? GP_ERR_NOT_FOUND : status == 413 ?
	    GP_ERR_TOO_LARGE : status >= 500 ? GP_ERR_IO : GP_ERR_INVALID,
	    "refused (HTTP %d, rule %s): %s%s%s%s%s", status,
	    json_string_value(json_object_get(e, "rule")) ?
	    json_string_value(json_object_get(e, "rule")) : "?",
	    json_string_value(json_object_get(e, "message")) ?
	    json_string_value(json_object_get(e, "message")) : "",
	    json_object_get(e, "arrival") ? "; arrival " : "",
	    json_object_get(e, "arrival") ? json_string_value(
	    json_object_get(e, "arrival")) : "",
	    json_object_get(e, "deadline") ? ", deadline " : "",
	    json_object_get(e, "deadline") ? json_string_value(
	    json_object_get(e, "deadline")) : "");
	json_decref(j);
	return r;
}

/* Sends |method| |url| with the body |body| (or the file |path|) and
 * returns the reply's body when the status is |want|, else the platform's
 * refusal as the error. */
static int
bid_http(const char *method, const char *url, const uint8_t *body,
    size_t body_len, const char *path, int want, uint8_t **out,
    size_t *out_len)
{
	struct gp_http_req rq;
	int status = 0, r;

	memset(&rq, 0, sizeof(rq));
	rq.method = method;
	rq.url = url;
	rq.content_type = "application/pkcs7-mime";
	rq.body = body;
	rq.body_len = body_len;
	rq.body_path = path;
	rq.max = TENDER_MAX_JSON;
	rq.timeout_ms = 600000;
	rq.out_status = &status;
	GUARD(gp_http_request(&rq, out, out_len));
	if (status != want) {
		r = bid_refused(status, *out, *out_len);
		goto out;
	}
	r = 0;
out:
	return r;
}

static int
bid_submit(const struct bid_opts *o)
{
	X509 *root = NULL;
	uint8_t *body = NULL;
	size_t len = 0;
	json_t *rc = NULL;
	char id[TENDER_ID_LEN + 1], *url = NULL;
	int r;

	GUARD(bid_url_id(o->url, id));
	GUARD(cli_pem_cert(o->root, BID_MAX_PEM, &root));
	ENSURE(asprintf(&url, "%.*s/bids", (int)(strstr(o->url, "/tenders/") -
	    o->url + 9 + TENDER_ID_LEN), o->url) > 0, GP_ERR_NOMEM);
	GUARD(bid_http("POST", url, NULL, 0, o->in, 201, &body, &len));
	GUARD(tender_receipt_check(body, len, root, id, o->in, &rc));
	GUARD(gp_file_write(o->out, body, len, 0644, 1));
	if (o->json)
		cli_print_json(json_incref(rc));
	else
		printf("bid %s received at %s%s%s; receipt %s\n",
		    json_string_value(json_object_get(rc, "bid")),
		    json_string_value(json_object_get(rc, "arrival")),
		    json_is_string(json_object_get(rc, "supersedes")) ?
		    ", superseding bid " : "",
		    json_is_string(json_object_get(rc, "supersedes")) ?
		    json_string_value(json_object_get(rc, "supersedes")) : "",
		    o->out);
	r = 0;
out:
	json_decref(rc);
	X509_free(root);
	free(body);
	free(url);
	return r;
}

static int
bid_withdraw(const struct bid_opts *o)
{
	struct bid_signer sg;
	STACK_OF(X509) *pool = NULL;
	X509 *root = NULL;
	json_t *doc = NULL, *tender = NULL;
	uint8_t *p7s = NULL, *body = NULL;
	size_t p7s_len = 0, len = 0;
	char id[TENDER_ID_LEN + 1], *url = NULL;
	int r;

	memset(&sg, 0, sizeof(sg));
	GUARD(bid_url_id(o->url, id));
	ENSURE(tender_id_ok(o->bid), gp_err_set(GP_ERR_INVALID, "--bid: a bid "
	    "id (32 hex digits, from the receipt)"));
	GUARD(cli_pem_cert(o->root, BID_MAX_PEM, &root));
	/* The signer's chain from the tender's CAs (and --chain). */
	GUARD(bid_tender_load(o->url, &tender));
	GUARD(bid_tender_chain(tender, &pool));
	if (o->chain != NULL)
		GUARD(cli_pem_certs(o->chain, BID_MAX_PEM, pool));
	GUARD(bid_signer_open(o, root, pool, &sg));
	ENSURE((doc = json_pack("{s:s, s:s, s:s}", "type",
	    "govpki-bid-withdrawal", "tender", id, "bid", o->bid)) != NULL,
	    GP_ERR_NOMEM);
	GUARD(tender_sign_json(doc, id, sg.key, sg.cert, sg.chain, &p7s,
	    &p7s_len));
	ENSURE(asprintf(&url, "%.*s/bids/%s", (int)(strstr(o->url,
	    "/tenders/") - o->url + 9 + TENDER_ID_LEN), o->url, o->bid) > 0,
	    GP_ERR_NOMEM);
	GUARD(bid_http("DELETE", url, p7s, p7s_len, NULL, 200, &body, &len));
	GUARD(gp_file_write(o->out, body, len, 0644, 1));
	printf("bid %s withdrawn; receipt %s\n", o->bid, o->out);
	r = 0;
out:
	bid_signer_free(&sg);
	sk_X509_pop_free(pool, X509_free);
	X509_free(root);
	json_decref(doc);
	json_decref(tender);
	OPENSSL_free(p7s);
	free(body);
	free(url);
	return r;
}

/* bidder mode: releases the bid's key to the platform in the window. */
static int
bid_decrypt(const struct bid_opts *o)
{
	struct tender_release_req rq;
	struct bid_signer sg;
	STACK_OF(X509) *pool = NULL;
	EVP_PKEY *enc = NULL;
	X509 *root = NULL, *enc_cert = NULL;
	json_t *tender = NULL, *res = NULL;
	uint8_t *der = NULL, *body = NULL;
	size_t der_len = 0, len = 0;
	char id[TENDER_ID_LEN + 1], *url = NULL;
	int r;

	memset(&sg, 0, sizeof(sg));
	GUARD(bid_url_id(o->url, id));
	ENSURE(tender_id_ok(o->bid), gp_err_set(GP_ERR_INVALID, "--bid: a bid "
	    "id (32 hex digits, from the receipt)"));
	GUARD(cli_pem_cert(o->root, BID_MAX_PEM, &root));
	GUARD(bid_tender_load(o->url, &tender));
	GUARD(bid_tender_chain(tender, &pool));
	GUARD(bid_signer_open(o, root, pool, &sg));
	/* The encryption key on the same USB key (one login). */
	GUARD(tok_key_load(sg.tok, o->enc_key, &enc));
	if (o->enc_cert != NULL)
		GUARD(bid_pem_first(o->enc_cert, &enc_cert));
	else
		GUARD(bid_token_cert(sg.tok, o->enc_key, "--enc-cert",
		    &enc_cert));
	memset(&rq, 0, sizeof(rq));
	rq.tender = tender;
	rq.root = root;
	rq.bid_id = o->bid;
	rq.bid_path = o->in;
	rq.enc_key = enc;
	rq.enc_cert = enc_cert;
	rq.key = sg.key;
	rq.cert = sg.cert;
	rq.chain = sg.chain;
	GUARD(tender_release_make(&rq, &der, &der_len));
	ENSURE(asprintf(&url, "%.*s/bids/%s/release", (int)(strstr(o->url,
	    "/tenders/") - o->url + 9 + TENDER_ID_LEN), o->url, o->bid) > 0,
	    GP_ERR_NOMEM);
	GUARD(bid_http("POST", url, der, der_len, NULL, 200, &body, &len));
	res = json_loadb((const char *)body, len, 0, NULL);
	if (o->json)
		cli_print_json(json_incref(res));
	else
		printf("bid %s: key released; the platform opened it\n", o->bid);
	r = 0;
out:
	bid_signer_free(&sg);
	sk_X509_pop_free(pool, X509_free);
	EVP_PKEY_free(enc);
	X509_free(root);
	X509_free(enc_cert);
	json_decref(tender);
	json_decref(res);
	OPENSSL_free(der);
	free(body);
	free(url);
	return r;
}

int
cmd_bid(int argc, char **argv)
{
	static const struct option lo[] = {
		{"tender", required_argument, NULL, 'T'},
		{"in", required_argument, NULL, 'i'},
		{"out", required_argument, NULL, 'o'},
		{"key", required_argument, NULL, 'k'},
		{"module", required_argument, NULL, 'm'},
		{"pin-file", required_argument, NULL, 'p'},
		{"pin", required_argument, NULL, 'P'},
		{"cert", required_argument, NULL, 'c'},
		{"enc-cert", required_argument, NULL, 'e'},
		{"root", required_argument, NULL, 'R'},
		{"chain", required_argument, NULL, 'C'},
		{"field", required_argument, NULL, 'f'},
		{"url", required_argument, NULL, 'u'},
		{"bid", required_argument, NULL, 'b'},
		{"enc-key", required_argument, NULL, 'E'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct bid_opts o;
	char *eq;
	const char *sub;
	int c, r;

	memset(&o, 0, sizeof(o));
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		bid_help();
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	sub = argv[1];
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "", lo, NULL)) != -1) {
		switch (c) {
		case 'T': o.tender = optarg; break;
		case 'i': o.in = optarg; break;
		case 'o': o.out = optarg; break;
		case 'k': o.key = optarg; break;
		case 'm': o.module = optarg; break;
		case 'p': o.pin_file = optarg; break;
		case 'P':
			return cli_usage("bid", "--pin: PINs are never taken "
			    "from the command line; use --pin-file or $"
			    BID_PIN_ENV);
		case 'c': o.cert = optarg; break;
		case 'e': o.enc_cert = optarg; break;
		case 'R': o.root = optarg; break;
		case 'C': o.chain = optarg; break;
		case 'f':
			if (o.fields_len == BID_MAX_FIELDS ||
			    (eq = strchr(optarg, '=')) == NULL || eq == optarg)
				return cli_usage("bid", "--field NAME=VALUE (at "
				    "most 16)");
			*eq = '\0';
			o.fields[o.fields_len].name = optarg;
			o.fields[o.fields_len++].value = eq + 1;
			break;
		case 'u': o.url = optarg; break;
		case 'b': o.bid = optarg; break;
		case 'E': o.enc_key = optarg; break;
		case 'j': o.json = 1; break;
		case 'h': bid_help(); return CLI_OK;
		default: return cli_usage("bid", "unknown option");
		}
	}
	if (optind != argc - 1)
		return cli_usage("bid", "unexpected argument");
	if (strcmp(sub, "seal") == 0) {
		if (o.tender == NULL || o.in == NULL || o.key == NULL ||
		    o.root == NULL || o.out == NULL)
			return cli_usage("bid", "seal needs --tender, --in, "
			    "--key, --root and --out");
		r = bid_seal(&o);
	} else if (strcmp(sub, "submit") == 0) {
		if (o.url == NULL || o.in == NULL || o.root == NULL ||
		    o.out == NULL)
			return cli_usage("bid", "submit needs --url, --in, "
			    "--root and --out");
		r = bid_submit(&o);
	} else if (strcmp(sub, "withdraw") == 0) {
		if (o.url == NULL || o.bid == NULL || o.key == NULL ||
		    o.root == NULL || o.out == NULL)
			return cli_usage("bid", "withdraw needs --url, --bid, "
			    "--key, --root and --out");
		r = bid_withdraw(&o);
	} else if (strcmp(sub, "decrypt") == 0) {
		if (o.url == NULL || o.bid == NULL || o.in == NULL ||
		    o.enc_key == NULL || o.key == NULL || o.root == NULL)
			return cli_usage("bid", "decrypt needs --url, --bid, --in, "
			    "--enc-key, --key and --root");
		r = bid_decrypt(&o);
	} else {
		return cli_usage("bid", "unknown sub-command (seal, submit, "
		    "withdraw, decrypt)");
	}
	return r != 0 ? cli_fail(r, o.json) : CLI_OK;
}
