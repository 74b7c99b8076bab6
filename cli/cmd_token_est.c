/*
 * cmd_token_est.c: the holder's side of a USB key's life, on the token
 * itself, over EST (RFC 7030; est/est.h, docs/est.md):
 *
 *   govpki token enroll   a one-time enrolment code (from a file or the
 *                         terminal, never the command line): the signing
 *                         key generated on the USB key (CKA_LOCAL), its
 *                         certificate, the encryption key from the KMC
 *                         imported sensitive and not extractable with its
 *                         certificate, and the holder's other escrowed
 *                         keys (after a loss) the same way
 *   govpki token renew    by the current signing certificate, before it
 *                         expires: a new signing key and pair; the old
 *                         keys stay on the token, so what was encrypted
 *                         to them still decrypts
 *   govpki token unblock  the security officer resets the user PIN
 *   govpki token decrypt  a CMS EnvelopedData (a sealed bid) through the
 *                         token, with whichever of its encryption keys
 *                         the envelope names
 *
 * The server is authenticated against --cacert (the instance root, RFC
 * 7030 3.6.1), and everything it sends is checked before it is kept:
 * certificates chain to that root and carry the key they should, the key
 * package is signed under that root with the RFC 5958 content type and
 * holds the private key of the certificate that came with it. A key from
 * the KMC passes through this process's memory, enveloped to a transport
 * key generated on the USB key for the purpose (deleted after), and is
 * wiped once it is on the token. These commands write no audit record
 * (the server records its side); no option takes a PIN or a code.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/cms.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "cli/cli.h"
#include "est/est.h"
#include "tokens/tokens.h"

#ifndef GP_SOFTHSM_MODULE
#define GP_SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#endif

#define HOLDER_PIN_ENV "GOVPKI_PIN" /* token_pin()'s, cmd_token.c */
#define HOLDER_TRANSPORT "est-transport"
#define HOLDER_AKP_OID "2.16.840.1.101.2.1.2.78.5"
#define HOLDER_MAX_CMS (64 * 1024 * 1024)
#define HOLDER_MAX_PEM (1024 * 1024)

enum {
	H_EST = 1 << 0, H_CODE_FILE = 1 << 1, H_CACERT = 1 << 2,
	H_MODULE = 1 << 3, H_TOKEN = 1 << 4, H_PIN_FILE = 1 << 5,
	H_SO_PIN_FILE = 1 << 6, H_NEW_PIN_FILE = 1 << 7, H_ALGO = 1 << 8,
	H_IN = 1 << 9, H_OUT = 1 << 10, H_JSON = 1 << 11
};

struct holder_opts {
	unsigned int given;
	const char *est, *code_file, *cacert, *module, *token, *pin_file;
	const char *so_pin_file, *new_pin_file, *algo, *in, *out;
	int json;
};

static const struct {
	const char *name;
	unsigned int allowed, required;
	const char *usage;
	const char *help;
} holder_subs[] = {
	{ "enroll", H_EST | H_CODE_FILE | H_CACERT | H_MODULE | H_TOKEN |
	    H_PIN_FILE | H_ALGO | H_JSON, H_EST | H_CACERT | H_TOKEN,
	    "enroll --est URL --cacert ROOT.pem --token T [--code-file F]\n"
	    "                    [--pin-file F] [--algo A] [--module LIB] "
	    "[--json]",
	    "Enrols the USB key T with a one-time enrolment code (docs/est.md):"
	    " generates the\nsigning key on the token, has it certified over "
	    "EST (simpleenroll), fetches\nthe encryption key the CA's key "
	    "management centre escrowed (serverkeygen),\nimports it sensitive "
	    "and not extractable with both certificates, and restores\nthe "
	    "holder's other escrowed keys (keyhistory), so that documents "
	    "encrypted\nbefore a loss still decrypt. The code comes from "
	    "--code-file or the terminal,\nnever from the command line.\n" },
	{ "renew", H_EST | H_CACERT | H_MODULE | H_TOKEN | H_PIN_FILE |
	    H_ALGO | H_JSON, H_EST | H_CACERT | H_TOKEN,
	    "renew --est URL --cacert ROOT.pem --token T [--pin-file F]\n"
	    "                    [--algo A] [--module LIB] [--json]",
	    "Renews the pair of the token's current signing certificate before "
	    "it expires\n(simplereenroll, authenticated by that certificate): a "
	    "new signing key on the\ntoken and a new encryption key. The old "
	    "keys and certificates stay on the\ntoken, so documents encrypted "
	    "to them still decrypt.\n" },
	{ "unblock", H_MODULE | H_TOKEN | H_SO_PIN_FILE | H_NEW_PIN_FILE |
	    H_JSON, H_TOKEN | H_SO_PIN_FILE,
	    "unblock --token T --so-pin-file F [--new-pin-file F] [--module LIB]"
	    "\n                    [--json]",
	    "Resets the user PIN of token T (forgotten, or locked after wrong "
	    "tries) with the\nsecurity officer PIN (C_InitPIN); the new PIN "
	    "comes from --new-pin-file or is\nasked twice on the terminal.\n" },
	{ "decrypt", H_MODULE | H_TOKEN | H_PIN_FILE | H_IN | H_OUT | H_JSON,
	    H_TOKEN | H_IN | H_OUT,
	    "decrypt --token T --in FILE.p7m --out FILE [--pin-file F]\n"
	    "                    [--module LIB] [--json]",
	    "Decrypts a CMS EnvelopedData (DER or PEM; `openssl cms -encrypt` "
	    "makes one)\nthrough token T, with the encryption key it names "
	    "(any of the token's keys:\nthose of renewed and restored "
	    "certificates too). --out is never overwritten.\n" },
};
#define HOLDER_NSUBS (sizeof(holder_subs) / sizeof(holder_subs[0]))

static const struct {
	unsigned int bit;
	const char *text;
} holder_optdoc[] = {
	{ H_EST, "  --est URL          the EST server, https://HOST:PORT\n" },
	{ H_CACERT, "  --cacert FILE      the instance root (PEM): trust "
	    "anchor of the server and\n                     of everything "
	    "it sends\n" },
	{ H_CODE_FILE, "  --code-file F      the enrolment code, first line of "
	    "F (mode 600);\n                     without it, asked on the "
	    "terminal\n" },
	{ H_TOKEN, "  --token T          the USB key's token label or serial\n" },
	{ H_PIN_FILE, "  --pin-file F       user PIN from the first line of F;"
	    " without it $" HOLDER_PIN_ENV ",\n                     else a "
	    "terminal prompt\n" },
	{ H_SO_PIN_FILE, "  --so-pin-file F    security officer PIN file\n" },
	{ H_NEW_PIN_FILE, "  --new-pin-file F   new user PIN file (else "
	    "prompted twice)\n" },
	{ H_ALGO, "  --algo A           signing key: ec-p256 (default), "
	    "ec-p384, rsa-2048, rsa-3072\n" },
	{ H_IN, "  --in FILE          the CMS EnvelopedData\n" },
	{ H_OUT, "  --out FILE         where the content goes (never "
	    "overwritten)\n" },
	{ H_MODULE, "  --module LIB       PKCS#11 module (default "
	    GP_SOFTHSM_MODULE ")\n" },
	{ H_JSON, "  --json             the result as one JSON object\n" },
};

int
cmd_token_est_is(const char *sub)
{
	size_t i;

	for (i = 0; sub != NULL && i < HOLDER_NSUBS; i++)
		if (strcmp(sub, holder_subs[i].name) == 0)
			return 1;
	return 0;
}

void
cmd_token_est_help(FILE *f)
{
	size_t i;

	for (i = 0; i < HOLDER_NSUBS; i++)
		fprintf(f, "  govpki token %s\n", holder_subs[i].usage);
}

static void
holder_help_sub(size_t si)
{
	size_t i;

	printf("usage: govpki token %s\n\n%s\n", holder_subs[si].usage,
	    holder_subs[si].help);
	for (i = 0; i < sizeof(holder_optdoc) / sizeof(holder_optdoc[0]); i++)
		if (holder_subs[si].allowed & holder_optdoc[i].bit)
			fputs(holder_optdoc[i].text, stdout);
	printf("\nWorks on the USB key; the server records its side. No option "
	    "takes a PIN or\nan enrolment code. Exit: 0 ok, 1 failure, 2 "
	    "usage.\n");
}

/* ---- the holder's session ------------------------------------------- */

struct holder {
	const struct holder_opts *o;
	tok_ctx *ctx;
	char base[1024];             /* https://host:port */
	X509 *root;
	STACK_OF(X509) *cas;         /* intermediates from /cacerts */
	X509_STORE *trust;
	json_t *report;
};

/* The message of a JSON error body, or the body's start. */
static void
holder_server_msg(const struct est_resp *rs, char *buf, size_t len)
{
	json_t *j = rs->body != NULL ? json_loadb((const char *)rs->body,
	    rs->body_len, 0, NULL) : NULL;
	const char *m = json_string_value(json_object_get(json_object_get(j,
	    "error"), "message"));

	if (m != NULL)
		snprintf(buf, len, "%s", m);
	else
		snprintf(buf, len, "%.200s", rs->body != NULL ?
		    (const char *)rs->body : "");
	json_decref(j);
}

/* One EST exchange; a status other than 200 (or 204 when |allow_204|)
 * is an error naming the operation, the status and the server's
 * message. */
static int
holder_call(struct holder *h, const char *op, const uint8_t *body,
    size_t body_len, X509 *cert, EVP_PKEY *key, const char *code,
    int allow_204, struct est_resp *rs)
{
	struct est_req rq;
	char url[1200], msg[600];
	size_t pre;
	int r;

	memset(&rq, 0, sizeof(rq));
	snprintf(url, sizeof(url), "%s" EST_PREFIX "%s", h->base, op);
	rq.url = url;
	rq.method = body != NULL ? "POST" : "GET";
	rq.content_type = body != NULL ? EST_CT_PKCS10 : NULL;
	rq.body = body;
	rq.body_len = body_len;
	rq.cafile = h->o->cacert;
	rq.client_cert = cert;
	rq.client_key = key;
	rq.client_chain = h->cas;
	rq.basic_user = code != NULL ? "holder" : NULL;
	rq.basic_pass = code;
	GUARD(est_request(&rq, rs));
	if (rs->status == 200 || (allow_204 && rs->status == 204))
		return 0;
	holder_server_msg(rs, msg, sizeof(msg));
	r = rs->status == 401 ? GP_ERR_UNAUTHENTICATED : rs->status == 409 ?
	    GP_ERR_CONFLICT : rs->status < 500 ? GP_ERR_INVALID : GP_ERR_IO;
	/* The server's message starts with the same words as ours. */
	pre = strlen(gp_err_str(r));
	r = gp_err_set(r, "EST %s: HTTP %u: %s", op, rs->status,
	    strncmp(msg, gp_err_str(r), pre) == 0 && msg[pre] == ':' ?
	    msg + pre + 2 : msg);
out:
	return r;
}

/* --est URL, with or without the /.well-known/est/ path. */
static int
holder_base(struct holder *h)
{
	const char *u = h->o->est, *p;
	size_t n;

	if (u == NULL || strncmp(u, "https://", 8) != 0)
		return gp_err_set(GP_ERR_INVALID, "--est: an https:// URL is "
		    "required (RFC 7030: EST runs over TLS)");
	p = strstr(u + 8, "/");
	n = p != NULL ? (size_t)(p - u) : strlen(u);
	if (n >= sizeof(h->base))
		return gp_err_set(GP_ERR_INVALID, "--est: too long");
	memcpy(h->base, u, n);
	h->base[n] = '\0';
	return 0;
}

/* The trust: --cacert's root, and the CAs /cacerts names that chain to
 * it (RFC 7030 4.1.3: the client checks them against its anchor). */
static int
holder_trust(struct holder *h)
{
	struct est_resp rs;
	STACK_OF(X509) *got = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;
	X509_STORE_CTX *vc = NULL;
	int i, r;

	memset(&rs, 0, sizeof(rs));
	GUARD(cli_pem_cert(h->o->cacert, HOLDER_MAX_PEM, &h->root));
	ENSURE((h->trust = X509_STORE_new()) != NULL &&
	    X509_STORE_add_cert(h->trust, h->root) == 1 &&
	    (h->cas = sk_X509_new_null()) != NULL, GP_ERR_NOMEM);
	/* Key packages and seals are signed by a document-signing seal. */
	X509_STORE_set_purpose(h->trust, X509_PURPOSE_ANY);
	GUARD(holder_call(h, "cacerts", NULL, 0, NULL, NULL, NULL, 0, &rs));
	GUARD(est_unb64("cacerts", rs.body, rs.body_len, EST_MAX_BODY, &der,
	    &der_len));
	GUARD(est_certs_parse("cacerts", der, der_len, &got));
	for (i = 0; i < sk_X509_num(got); i++) {
		X509 *x = sk_X509_value(got, i);

		if (X509_cmp(x, h->root) == 0)
			continue;
		ENSURE((vc = X509_STORE_CTX_new()) != NULL &&
		    X509_STORE_CTX_init(vc, h->trust, x, got) == 1,
		    GP_ERR_NOMEM);
		ENSURE(X509_verify_cert(vc) == 1, gp_err_set(GP_ERR_TAMPERED,
		    "cacerts: a CA certificate does not chain to --cacert %s: "
		    "%s", h->o->cacert, X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(vc))));
		X509_STORE_CTX_free(vc);
		vc = NULL;
		ENSURE(X509_up_ref(x) == 1 && sk_X509_push(h->cas, x) > 0,
		    GP_ERR_NOMEM);
	}
	r = 0;
out:
	X509_STORE_CTX_free(vc);
	sk_X509_pop_free(got, X509_free);
	free(der);
	est_resp_clear(&rs);
	return r;
}

/* 0 when |x| chains to the root through the instance's CAs. */
static int
holder_verify(struct holder *h, X509 *x, const char *what)
{
	X509_STORE_CTX *vc = X509_STORE_CTX_new();
	int r;

	ENSURE(vc != NULL && X509_STORE_CTX_init(vc, h->trust, x, h->cas) == 1,
	    GP_ERR_NOMEM);
	ENSURE(X509_verify_cert(vc) == 1, gp_err_set(GP_ERR_TAMPERED, "%s: "
	    "does not chain to --cacert: %s", what,
	    X509_verify_cert_error_string(X509_STORE_CTX_get_error(vc))));
	r = 0;
out:
	X509_STORE_CTX_free(vc);
	return r;
}

/* A base64 PKCS#10 request for |subject| signed by |key| (on the token). */
static int
holder_csr(EVP_PKEY *key, const X509_NAME *subject, char **out,
    size_t *out_len)
{
	X509_REQ *req = NULL;
	unsigned char *der = NULL;
	int len, r;

	*out = NULL;
	GUARD(tok_csr_make(key, subject, &req));
	ENSURE((len = i2d_X509_REQ(req, &der)) > 0, gp_err_ssl(GP_ERR_CRYPTO,
	    "encoding the request"));
	GUARD(est_b64(der, (size_t)len, out, out_len));
	r = 0;
out:
	OPENSSL_free(der);
	X509_REQ_free(req);
	return r;
}

/* The one certificate of a certs-only answer, checked: it chains to the
 * root and carries |key|'s public key. */
static int
holder_issued(struct holder *h, const struct est_resp *rs, EVP_PKEY *key,
    X509 **out)
{
	STACK_OF(X509) *sk = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;
	int r;

	*out = NULL;
	GUARD(est_unb64("certificate", rs->body, rs->body_len, EST_MAX_BODY,
	    &der, &der_len));
	GUARD(est_certs_parse("certificate", der, der_len, &sk));
	ENSURE(sk_X509_num(sk) == 1 && EVP_PKEY_eq(X509_get0_pubkey(
	    sk_X509_value(sk, 0)), key) == 1, gp_err_set(GP_ERR_TAMPERED,
	    "the server's certificate is not for the USB key's key"));
	GUARD(holder_verify(h, sk_X509_value(sk, 0), "the issued "
	    "certificate"));
	*out = sk_X509_shift(sk);
	r = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	free(der);
	return r;
}

/* The private key of an RFC 7030 4.4.2 key package: decrypted with the
 * transport key (on the token), its SignedData verified under the root
 * and of type id-ct-KP-aKeyPackage, one OneAsymmetricKey inside. */
static int
holder_keypkg(struct holder *h, const struct est_part *env,
    EVP_PKEY *transport, EVP_PKEY **out)
{
	const unsigned char *p = env->der, *q;
	CMS_ContentInfo *cms = NULL, *sd = NULL;
	BIO *plain = NULL, *akp = NULL;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	char oid[64], *data;
	long n, inner;
	int tag, cls, r;

	*out = NULL;
	ENSURE((plain = BIO_new(BIO_s_secmem())) != NULL &&
	    (akp = BIO_new(BIO_s_secmem())) != NULL, GP_ERR_NOMEM);
	ENSURE((cms = d2i_CMS_ContentInfo(NULL, &p, (long)env->len)) != NULL &&
	    p == env->der + env->len && OBJ_obj2nid(CMS_get0_type(cms)) ==
	    NID_pkcs7_enveloped, (ERR_clear_error(), gp_err_set(
	    GP_ERR_INVALID, "serverkeygen: the key part is not one CMS "
	    "EnvelopedData")));
	ENSURE(CMS_decrypt(cms, transport, NULL, NULL, plain, CMS_BINARY) == 1,
	    gp_err_ssl(GP_ERR_CRYPTO, "serverkeygen: the transport key on the "
	    "token does not open the envelope"));
	n = BIO_get_mem_data(plain, &data);
	p = (const unsigned char *)data;
	ENSURE((sd = d2i_CMS_ContentInfo(NULL, &p, n)) != NULL &&
	    p == (const unsigned char *)data + n,
	    (ERR_clear_error(), gp_err_set(GP_ERR_INVALID, "serverkeygen: the "
	    "envelope does not hold one SignedData")));
	/* RFC 7030 4.4.2: signed by the party that generated the key: a
	 * certificate under our root; RFC 5958 3: the content type. */
	ENSURE(CMS_verify(sd, h->cas, h->trust, NULL, akp, CMS_BINARY) == 1,
	    gp_err_ssl(GP_ERR_TAMPERED, "serverkeygen: the key package's "
	    "signature does not verify under --cacert"));
	ENSURE(OBJ_obj2txt(oid, sizeof(oid), CMS_get0_eContentType(sd), 1) > 0 &&
	    strcmp(oid, HOLDER_AKP_OID) == 0, gp_err_set(GP_ERR_INVALID,
	    "serverkeygen: the signed content is %s, not an "
	    "AsymmetricKeyPackage", oid));
	/* AsymmetricKeyPackage ::= SEQUENCE OF OneAsymmetricKey: one. */
	n = BIO_get_mem_data(akp, &data);
	p = (const unsigned char *)data;
	ENSURE(!(ASN1_get_object(&p, &inner, &tag, &cls, n) & 0x80) &&
	    tag == V_ASN1_SEQUENCE && p + inner == (const unsigned char *)data +
	    n, gp_err_set(GP_ERR_INVALID, "serverkeygen: not an "
	    "AsymmetricKeyPackage"));
	q = p;
	ENSURE((p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &q, inner)) != NULL &&
	    q == p + inner && (*out = EVP_PKCS82PKEY(p8)) != NULL,
	    (ERR_clear_error(), gp_err_set(GP_ERR_INVALID, "serverkeygen: "
	    "not exactly one private key in the package")));
	r = 0;
out:
	PKCS8_PRIV_KEY_INFO_free(p8);
	CMS_ContentInfo_free(cms);
	CMS_ContentInfo_free(sd);
	BIO_free(plain); /* secure memory BIOs wipe what they held */
	BIO_free(akp);
	return r;
}

/* 1 when the token already holds |x|. */
static int
holder_has_cert(struct holder *h, X509 *x)
{
	struct tok_cert_obj *l = NULL;
	size_t n = 0, i;
	int found = 0;

	if (tok_cert_list(h->ctx, h->o->token, &l, &n) != 0)
		return 0;
	for (i = 0; i < n; i++)
		found |= X509_cmp(l[i].cert, x) == 0;
	tok_cert_list_free(l, n);
	return found;
}

/* Puts one released key and its certificate on the token as "enc-<serial>"
 * (checked: the certificate chains to the root, is an encryption
 * certificate, and is the key's). Appends to |arr|. */
static int
holder_import(struct holder *h, const struct est_part *env,
    const struct est_part *certs, EVP_PKEY *transport, json_t *arr)
{
	STACK_OF(X509) *sk = NULL;
	EVP_PKEY *key = NULL;
	X509 *x;
	char label[80], *serial = NULL, uri[512];
	struct tok_key_flags fl;
	int r;

	GUARD(est_certs_parse("serverkeygen certificate", certs->der,
	    certs->len, &sk));
	x = sk_X509_value(sk, 0);
	GUARD(holder_verify(h, x, "the encryption certificate"));
	ENSURE((X509_get_key_usage(x) & (KU_KEY_ENCIPHERMENT |
	    KU_KEY_AGREEMENT)) != 0 && (X509_get_key_usage(x) &
	    KU_DIGITAL_SIGNATURE) == 0, gp_err_set(GP_ERR_INVALID,
	    "serverkeygen: the certificate is not an encryption certificate"));
	ENSURE((serial = ca_serial_hex(x)) != NULL, GP_ERR_NOMEM);
	snprintf(label, sizeof(label), "enc-%s", serial);
	if (holder_has_cert(h, x)) {
		/* Kept from before (a renewal, a second run). */
		json_array_append_new(arr, json_pack("{s:s, s:s, s:b}",
		    "label", label, "serial", serial, "already", 1));
		r = 0;
		goto out;
	}
	GUARD(holder_keypkg(h, env, transport, &key));
	ENSURE(EVP_PKEY_eq(X509_get0_pubkey(x), key) == 1,
	    gp_err_set(GP_ERR_TAMPERED, "serverkeygen: the key is not the "
	    "certificate's"));
	GUARD(tok_key_import(h->ctx, h->o->token, label, key));
	GUARD(tok_cert_write(h->ctx, h->o->token, label, x));
	token_uri(uri, sizeof(uri), h->o->token, label);
	GUARD(tok_key_flags(h->ctx, uri, &fl));
	json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:b, s:b, s:b}",
	    "label", label, "serial", serial, "uri", uri, "sensitive",
	    fl.sensitive, "extractable", fl.extractable, "local", fl.local));
	r = 0;
out:
	EVP_PKEY_free(key); /* wipes the key in memory */
	free(serial);
	sk_X509_pop_free(sk, X509_free);
	return r;
}

/* serverkeygen (|op|) or keyhistory with the signing certificate |cert|
 * and key: a transport key made on the token for it and deleted after;
 * each key and certificate pair of the answer imported. */
static int
holder_keys(struct holder *h, const char *op, X509 *cert, EVP_PKEY *key,
    json_t *arr)
{
	struct est_resp rs;
	struct est_part *parts = NULL;
	EVP_PKEY *tpub = NULL, *tkey = NULL;
	X509_NAME *n = NULL;
	char uri[512], tlabel[48], *csr = NULL;
	uint8_t rnd[4];
	size_t csr_len = 0, np = 0, i;
	int r, made = 0;

	memset(&rs, 0, sizeof(rs));
	/* A label of its own each time: libp11 keeps listing a deleted key
	 * under its old label. */
	GUARD(gp_random(rnd, sizeof(rnd)));
	snprintf(tlabel, sizeof(tlabel), "%s-%02x%02x%02x%02x",
	    HOLDER_TRANSPORT, rnd[0], rnd[1], rnd[2], rnd[3]);
	GUARD(tok_keygen(h->ctx, h->o->token, tlabel, TOK_ALGO_RSA_2048,
	    &tpub));
	made = 1;
	token_uri(uri, sizeof(uri), h->o->token, tlabel);
	GUARD(tok_key_load(h->ctx, uri, &tkey));
	ENSURE((n = X509_NAME_new()) != NULL &&
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"govpki EST transport key", -1, -1, 0) == 1,
	    GP_ERR_NOMEM);
	GUARD(holder_csr(tkey, n, &csr, &csr_len));
	GUARD(holder_call(h, op, (uint8_t *)csr, csr_len, cert, key, NULL, 1,
	    &rs));
	if (rs.status == 204) {
		r = 0;
		goto out;
	}
	GUARD(est_multipart_parse(rs.content_type, rs.body, rs.body_len,
	    &parts, &np));
	ENSURE(np % 2 == 0, gp_err_set(GP_ERR_INVALID, "EST %s: %zu parts, "
	    "not key and certificate pairs", op, np));
	for (i = 0; i < np; i += 2) {
		ENSURE(strncmp(parts[i].content_type, EST_CT_KEY,
		    strlen(EST_CT_KEY)) == 0 && strncmp(parts[i + 1].content_type,
		    EST_CT_CERTS, strlen(EST_CT_CERTS)) == 0,
		    gp_err_set(GP_ERR_INVALID, "EST %s: part %zu is %s", op,
		    i + 1, parts[i].content_type));
		GUARD(holder_import(h, &parts[i], &parts[i + 1], tkey, arr));
	}
	r = 0;
out:
	EVP_PKEY_free(tkey);
	EVP_PKEY_free(tpub);
	/* The transport key served this exchange only. */
	if (made && tok_key_delete(h->ctx, h->o->token, tlabel) != 0)
		fprintf(stderr, "warning: token %s: could not delete the "
		    "transport key %s\n", h->o->token, tlabel);
	est_parts_free(parts, np);
	X509_NAME_free(n);
	free(csr);
	est_resp_clear(&rs);
	return r;
}

/* A new signing key on the token, labelled "sign-<UTC time>" (a second
 * in the same second gets a suffix). */
static int
holder_signing_key(struct holder *h, char *label, size_t len,
    EVP_PKEY **out)
{
	enum tok_algo algo = TOK_ALGO_EC_P256;
	EVP_PKEY *pub = NULL;
	char uri[512], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int r, i;

	*out = NULL;
	if (h->o->algo != NULL)
		GUARD(tok_algo_parse(h->o->algo, &algo));
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (i = 0; i < 10; i++) {
		if (i == 0)
			snprintf(label, len, "sign-%s", stamp);
		else
			snprintf(label, len, "sign-%s-%d", stamp, i);
		r = tok_keygen(h->ctx, h->o->token, label, algo, &pub);
		if (r != GP_ERR_EXISTS)
			break;
	}
	GUARD(r);
	token_uri(uri, sizeof(uri), h->o->token, label);
	GUARD(tok_key_load(h->ctx, uri, out));
	r = 0;
out:
	EVP_PKEY_free(pub);
	return r;
}

/* A signing key the CA did not certify (|keep| 0) is deleted: a refused
 * enrolment or renewal leaves nothing on the token. */
static void
holder_drop_key(struct holder *h, int keep, const char *label)
{
	if (keep || label[0] == '\0')
		return;
	if (tok_key_delete(h->ctx, h->o->token, label) != 0)
		fprintf(stderr, "warning: token %s: could not delete the "
		    "uncertified key %s\n", h->o->token, label);
}

/* The key's flags for the report: CKA_LOCAL true (made on the USB key). */
static json_t *
holder_sign_json(struct holder *h, const char *label, X509 *cert)
{
	struct tok_key_flags fl;
	char uri[512], *serial;
	json_t *o;

	memset(&fl, 0, sizeof(fl));
	token_uri(uri, sizeof(uri), h->o->token, label);
	if (tok_key_flags(h->ctx, uri, &fl) != 0)
		memset(&fl, 0, sizeof(fl));
	serial = ca_serial_hex(cert);
	o = json_pack("{s:s, s:s, s:s, s:b, s:b, s:b}", "label", label,
	    "serial", serial != NULL ? serial : "", "uri", uri, "local",
	    fl.local, "sensitive", fl.sensitive, "extractable",
	    fl.extractable);
	free(serial);
	return o;
}

static int
holder_login(struct holder *h)
{
	char prompt[96], *pin = NULL;
	int r;

	snprintf(prompt, sizeof(prompt), "User PIN for token %.40s: ",
	    h->o->token);
	GUARD(token_pin(h->o->pin_file, prompt, &pin));
	GUARD(tok_login(h->ctx, h->o->token, pin));
	r = 0;
out:
	gp_secret_free(pin);
	return r;
}

static int
holder_enroll(struct holder *h)
{
	struct tok_pin_source src;
	struct est_resp rs;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	X509_NAME *n = NULL;
	char label[80], *code = NULL, *csr = NULL;
	size_t csr_len = 0;
	json_t *enc = NULL, *restored = NULL;
	int r, keep = 0;

	memset(&rs, 0, sizeof(rs));
	label[0] = '\0';
	src.kind = h->o->code_file != NULL ? TOK_PIN_FILE : TOK_PIN_PROMPT;
	src.value = h->o->code_file != NULL ? h->o->code_file :
	    "Enrolment code: ";
	r = tok_pin_read(&src, &code);
	if (r != 0) {
		/* The reader speaks of PINs; this is the code. */
		r = gp_err_set(r, "enrolment code: %s", gp_err_detail());
		goto out;
	}
	GUARD(holder_login(h));
	GUARD(holder_trust(h));
	GUARD(holder_signing_key(h, label, sizeof(label), &key));
	/* The CA builds the subject from what the officer verified. */
	ENSURE((n = X509_NAME_new()) != NULL &&
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"govpki enrolment", -1, -1, 0) == 1,
	    GP_ERR_NOMEM);
	GUARD(holder_csr(key, n, &csr, &csr_len));
	GUARD(holder_call(h, "simpleenroll", (uint8_t *)csr, csr_len, NULL,
	    NULL, code, 0, &rs));
	keep = 1; /* certified: the key stays, whatever follows */
	GUARD(holder_issued(h, &rs, key, &cert));
	GUARD(tok_cert_write(h->ctx, h->o->token, label, cert));
	ENSURE((enc = json_array()) != NULL && (restored = json_array()) !=
	    NULL, GP_ERR_NOMEM);
	GUARD(holder_keys(h, "serverkeygen", cert, key, enc));
	GUARD(holder_keys(h, "keyhistory", cert, key, restored));
	json_object_set_new(h->report, "signing", holder_sign_json(h, label,
	    cert));
	json_object_set(h->report, "encryption", json_array_get(enc, 0));
	json_object_set(h->report, "restored", restored);
	r = 0;
out:
	holder_drop_key(h, keep, label);
	gp_secret_free(code);
	json_decref(enc);
	json_decref(restored);
	free(csr);
	X509_NAME_free(n);
	X509_free(cert);
	EVP_PKEY_free(key);
	est_resp_clear(&rs);
	return r;
}

/* The token's current signing certificate: labelled sign-*, with its
 * key on the token, valid now, the latest to expire. */
static int
holder_current(struct holder *h, char *label, size_t len, X509 **out)
{
	struct tok_cert_obj *l = NULL;
	size_t n = 0, i, best = (size_t)-1;
	int r;

	*out = NULL;
	GUARD(tok_cert_list(h->ctx, h->o->token, &l, &n));
	for (i = 0; i < n; i++) {
		if (strncmp(l[i].label, "sign-", 5) != 0 ||
		    X509_cmp_current_time(X509_get0_notAfter(l[i].cert)) <= 0 ||
		    X509_cmp_current_time(X509_get0_notBefore(l[i].cert)) > 0)
			continue;
		if (best == (size_t)-1 || ASN1_TIME_compare(
		    X509_get0_notAfter(l[i].cert),
		    X509_get0_notAfter(l[best].cert)) > 0)
			best = i;
	}
	ENSURE(best != (size_t)-1, gp_err_set(GP_ERR_NOT_FOUND, "token %s "
	    "holds no signing certificate valid now (an expired one is "
	    "renewed by enrolling again with a new code)", h->o->token));
	snprintf(label, len, "%s", l[best].label);
	*out = l[best].cert;
	l[best].cert = NULL; /* transferred */
	r = 0;
out:
	tok_cert_list_free(l, n);
	return r;
}

static int
holder_renew(struct holder *h)
{
	struct est_resp rs;
	EVP_PKEY *old_key = NULL, *key = NULL;
	X509 *old = NULL, *cert = NULL;
	char old_label[140], label[80], uri[512], *csr = NULL;
	size_t csr_len = 0;
	json_t *enc = NULL;
	int r, keep = 0;

	memset(&rs, 0, sizeof(rs));
	label[0] = '\0';
	GUARD(holder_login(h));
	GUARD(holder_trust(h));
	GUARD(holder_current(h, old_label, sizeof(old_label), &old));
	token_uri(uri, sizeof(uri), h->o->token, old_label);
	GUARD(tok_key_load(h->ctx, uri, &old_key));
	GUARD(holder_signing_key(h, label, sizeof(label), &key));
	/* RFC 7030 4.2.2: the subject of the certificate renewed. */
	GUARD(holder_csr(key, X509_get_subject_name(old), &csr, &csr_len));
	GUARD(holder_call(h, "simplereenroll", (uint8_t *)csr, csr_len, old,
	    old_key, NULL, 0, &rs));
	keep = 1;
	GUARD(holder_issued(h, &rs, key, &cert));
	GUARD(tok_cert_write(h->ctx, h->o->token, label, cert));
	ENSURE((enc = json_array()) != NULL, GP_ERR_NOMEM);
	GUARD(holder_keys(h, "serverkeygen", cert, key, enc));
	json_object_set_new(h->report, "renewed", json_string(old_label));
	json_object_set_new(h->report, "signing", holder_sign_json(h, label,
	    cert));
	json_object_set(h->report, "encryption", json_array_get(enc, 0));
	r = 0;
out:
	holder_drop_key(h, keep, label);
	json_decref(enc);
	free(csr);
	X509_free(cert);
	X509_free(old);
	EVP_PKEY_free(key);
	EVP_PKEY_free(old_key);
	est_resp_clear(&rs);
	return r;
}

static int
holder_unblock(struct holder *h)
{
	struct tok_pin_source src = { TOK_PIN_PROMPT, "New user PIN: " };
	char *so = NULL, *new1 = NULL, *new2 = NULL;
	int r;

	src.kind = TOK_PIN_FILE;
	src.value = h->o->so_pin_file;
	GUARD(tok_pin_read(&src, &so));
	if (h->o->new_pin_file != NULL) {
		src.value = h->o->new_pin_file;
		GUARD(tok_pin_read(&src, &new1));
	} else {
		src.kind = TOK_PIN_PROMPT;
		GUARD(tok_pin_read(&src, &new1));
		src.value = "New user PIN again: ";
		GUARD(tok_pin_read(&src, &new2));
		ENSURE(strlen(new1) == strlen(new2) &&
		    CRYPTO_memcmp(new1, new2, strlen(new1)) == 0,
		    gp_err_set(GP_ERR_INVALID, "the new PINs differ"));
	}
	GUARD(tok_init_pin(h->ctx, h->o->token, so, new1));
	json_object_set_new(h->report, "status", json_string("pin-reset"));
	r = 0;
out:
	gp_secret_free(so);
	gp_secret_free(new1);
	gp_secret_free(new2);
	return r;
}

static int
holder_decrypt(struct holder *h)
{
	struct tok_cert_obj *l = NULL;
	size_t n = 0, i, in_len = 0;
	uint8_t *in = NULL;
	const unsigned char *p;
	CMS_ContentInfo *cms = NULL;
	BIO *bin = NULL, *plain = NULL;
	EVP_PKEY *key = NULL;
	unsigned char *pder = NULL;
	char uri[512], *data, *pname = NULL;
	long m, pder_len = 0;
	int r, done = 0;

	GUARD(gp_file_read(h->o->in, HOLDER_MAX_CMS, &in, &in_len));
	p = in;
	if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)in_len)) == NULL) {
		/* `openssl cms -outform PEM`: "-----BEGIN CMS-----". */
		ERR_clear_error();
		ENSURE((bin = BIO_new_mem_buf(in, (int)in_len)) != NULL,
		    GP_ERR_NOMEM);
		if (PEM_bytes_read_bio(&pder, &pder_len, &pname, PEM_STRING_CMS,
		    bin, NULL, NULL) == 1) {
			p = pder;
			cms = d2i_CMS_ContentInfo(NULL, &p, pder_len);
		}
	}
	ENSURE(cms != NULL && OBJ_obj2nid(CMS_get0_type(cms)) ==
	    NID_pkcs7_enveloped, (ERR_clear_error(), gp_err_set(
	    GP_ERR_INVALID, "--in %s: not a CMS EnvelopedData (DER or PEM)",
	    h->o->in)));
	GUARD(holder_login(h));
	GUARD(tok_cert_list(h->ctx, h->o->token, &l, &n));
	ENSURE((plain = BIO_new(BIO_s_secmem())) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < n && !done; i++) {
		STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
		int k, match = 0;

		for (k = 0; k < sk_CMS_RecipientInfo_num(ris); k++) {
			CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris,
			    k);
			if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_TRANS &&
			    CMS_RecipientInfo_ktri_cert_cmp(ri, l[i].cert) == 0)
				match = 1;
		}
		if (!match)
			continue;
		token_uri(uri, sizeof(uri), h->o->token, l[i].label);
		if (tok_key_load(h->ctx, uri, &key) != 0)
			continue;
		ENSURE(CMS_decrypt(cms, key, l[i].cert, NULL, plain,
		    CMS_BINARY) == 1, gp_err_ssl(GP_ERR_CRYPTO, "decrypting "
		    "with %s", l[i].label));
		json_object_set_new(h->report, "key", json_string(l[i].label));
		done = 1;
	}
	ENSURE(done, gp_err_set(GP_ERR_NOT_FOUND, "token %s holds no key the "
	    "envelope %s is encrypted to", h->o->token, h->o->in));
	m = BIO_get_mem_data(plain, &data);
	GUARD(gp_file_write(h->o->out, data, (size_t)m, 0600, 1));
	json_object_set_new(h->report, "out", json_string(h->o->out));
	json_object_set_new(h->report, "bytes", json_integer(m));
	r = 0;
out:
	EVP_PKEY_free(key);
	tok_cert_list_free(l, n);
	CMS_ContentInfo_free(cms);
	BIO_free(bin);
	BIO_free(plain);
	OPENSSL_free(pder);
	OPENSSL_free(pname);
	free(in);
	return r;
}

int
cmd_token_est(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"est", required_argument, NULL, 'e'},
		{"code-file", required_argument, NULL, 'C'},
		{"cacert", required_argument, NULL, 'A'},
		{"module", required_argument, NULL, 'm'},
		{"token", required_argument, NULL, 't'},
		{"pin-file", required_argument, NULL, 'p'},
		{"so-pin-file", required_argument, NULL, 'S'},
		{"new-pin-file", required_argument, NULL, 'N'},
		{"algo", required_argument, NULL, 'a'},
		{"in", required_argument, NULL, 'i'},
		{"out", required_argument, NULL, 'o'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct holder_opts o;
	struct holder h;
	char cmd[32], what[160];
	size_t si, i;
	int c, r, rc;

	memset(&o, 0, sizeof(o));
	memset(&h, 0, sizeof(h));
	for (si = 0; si < HOLDER_NSUBS; si++)
		if (strcmp(argv[1], holder_subs[si].name) == 0)
			break;
	if (si == HOLDER_NSUBS)
		return cli_usage("token", "unknown subcommand");
	snprintf(cmd, sizeof(cmd), "token %s", holder_subs[si].name);
	if ((r = token_exact_options(cmd, argc - 1, argv + 1, longopts)) != 0)
		return r;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc - 1, argv + 1, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'e': o.est = optarg; o.given |= H_EST; break;
		case 'C': o.code_file = optarg; o.given |= H_CODE_FILE; break;
		case 'A': o.cacert = optarg; o.given |= H_CACERT; break;
		case 'm': o.module = optarg; o.given |= H_MODULE; break;
		case 't': o.token = optarg; o.given |= H_TOKEN; break;
		case 'p': o.pin_file = optarg; o.given |= H_PIN_FILE; break;
		case 'S': o.so_pin_file = optarg; o.given |= H_SO_PIN_FILE;
			break;
		case 'N': o.new_pin_file = optarg; o.given |= H_NEW_PIN_FILE;
			break;
		case 'a': o.algo = optarg; o.given |= H_ALGO; break;
		case 'i': o.in = optarg; o.given |= H_IN; break;
		case 'o': o.out = optarg; o.given |= H_OUT; break;
		case 'j': o.json = 1; o.given |= H_JSON; break;
		case 'h':
			holder_help_sub(si);
			return CLI_OK;
		default:
			return cli_bad_option(cmd, argc - 1, argv + 1);
		}
	}
	if (optind != argc - 1)
		return cli_usage(cmd, "takes no argument (options only)");
	for (i = 0; i < sizeof(holder_optdoc) / sizeof(holder_optdoc[0]); i++) {
		unsigned int bit = holder_optdoc[i].bit;
		const char *name = holder_optdoc[i].text + 2;
		int nl = (int)strcspn(name, " ");

		if ((o.given & bit) && !(holder_subs[si].allowed & bit)) {
			snprintf(what, sizeof(what), "%.*s is not an option of "
			    "this sub-command", nl, name);
			return cli_usage(cmd, what);
		}
		if (!(o.given & bit) && (holder_subs[si].required & bit)) {
			snprintf(what, sizeof(what), "%.*s is required", nl,
			    name);
			return cli_usage(cmd, what);
		}
	}
	h.o = &o;
	ENSURE((h.report = json_pack("{s:s}", "token", o.token)) != NULL,
	    GP_ERR_NOMEM);
	if (o.est != NULL)
		GUARD(holder_base(&h));
	GUARD(tok_ctx_new(o.module != NULL ? o.module : GP_SOFTHSM_MODULE,
	    &h.ctx));
	switch (si) {
	case 0: r = holder_enroll(&h); break;
	case 1: r = holder_renew(&h); break;
	case 2: r = holder_unblock(&h); break;
	case 3: r = holder_decrypt(&h); break;
	default: r = GP_ERR_INTERNAL; break;
	}
	GUARD(r);
	if (o.json) {
		cli_print_json(h.report);
		h.report = NULL;
	} else {
		char *txt = json_dumps(h.report, JSON_INDENT(2) |
		    JSON_PRESERVE_ORDER);
		printf("%s\n", txt != NULL ? txt : "");
		free(txt);
	}
	r = 0;
out:
	rc = r == 0 ? CLI_OK : cli_fail(r, o.json);
	json_decref(h.report);
	X509_free(h.root);
	sk_X509_pop_free(h.cas, X509_free);
	X509_STORE_free(h.trust);
	tok_ctx_free(h.ctx);
	return rc;
}
