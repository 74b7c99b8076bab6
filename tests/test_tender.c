/*
 * test_tender.c: unit tests of tender/: the rules alone (the deadline by
 * the time-stamp's time, supersession, the opening time, outcomes, state),
 * RFC 3339 times, a sealed bid made and opened again (the client's seal,
 * the parser, the key unwrap, the streamed decryption, the package), the
 * parser's refusals by rule (unsigned, unencrypted, malformed: truncated,
 * trailing bytes, BER), the one gate to the opening key attacked (no
 * approval, one person twice, events forged before the opening time), and
 * the append-only tables. Keys are software keys (tender/ uses them only
 * through EVP, as it uses the token's).
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sqlite3.h>

#include "signer/signer.h"
#include "tender/internal.h"
#include "tests/test.h"

static char tmpdir[64];

/* The fixture PKI: root, CA, TSA, seal, bidder (EC) and recipient (RSA). */
static EVP_PKEY *k_root, *k_ca, *k_tsa, *k_bidder, *k_rcpt, *k_other;
static X509 *c_root, *c_ca, *c_tsa, *c_bidder, *c_rcpt, *c_other;

static X509 *
mkcert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, int ca,
    const char *ku, const char *eku)
{
	struct ca_cert_spec spec;
	X509_NAME *name = NULL;
	X509 *x = NULL;
	char *serial = NULL, text[160];

	snprintf(text, sizeof(text), "/CN=%s/O=test", cn);
	if (ca_name_parse(text, &name) != 0)
		return NULL;
	memset(&spec, 0, sizeof(spec));
	spec.subject = name;
	spec.pubkey = key;
	spec.issuer_cert = issuer;
	spec.issuer_key = ikey;
	spec.not_before = (int64_t)time(NULL) - 3600;
	spec.not_after = (int64_t)time(NULL) + 86400 * 30;
	spec.is_ca = ca;
	spec.path_len = ca ? 1 : -1;
	spec.key_usage = ku;
	spec.ext_key_usage = eku;
	if (ca_cert_sign(&spec, &x, &serial) != 0)
		x = NULL;
	X509_NAME_free(name);
	free(serial);
	return x;
}

static int
fixture(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/govpki-tender.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	k_root = EVP_EC_gen("P-256");
	k_ca = EVP_EC_gen("P-256");
	k_tsa = EVP_EC_gen("P-256");
	k_bidder = EVP_EC_gen("P-256");
	k_rcpt = EVP_RSA_gen(2048);
	k_other = EVP_RSA_gen(2048);
	c_root = mkcert("Root", k_root, NULL, k_root, 1,
	    "critical,keyCertSign,cRLSign", NULL);
	c_ca = mkcert("CA", k_ca, c_root, k_root, 1,
	    "critical,keyCertSign,cRLSign", NULL);
	c_tsa = mkcert("TSA", k_tsa, c_ca, k_ca, 0,
	    "critical,digitalSignature", "critical,timeStamping");
	c_bidder = mkcert("Bidder", k_bidder, c_ca, k_ca, 0,
	    "critical,digitalSignature,nonRepudiation", NULL);
	c_rcpt = mkcert("tender 0123456789abcdef0123456789abcdef opening key",
	    k_rcpt, c_ca, k_ca, 0, "critical,keyEncipherment", NULL);
	c_other = mkcert("tender fedcba9876543210fedcba9876543210 opening key",
	    k_other, c_ca, k_ca, 0, "critical,keyEncipherment", NULL);
	return c_root && c_ca && c_tsa && c_bidder && c_rcpt && c_other ? 0 :
	    -1;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* ------------------------------------------------------------------ */
/* The rules. */

static void
test_rule_deadline(void)
{
	int64_t dl = 1780000000000;

	CHECK_EQ(tender_rule_deadline(dl - 1, dl), 0);
	CHECK_EQ(tender_rule_deadline(dl - 86400000, dl), 0);
	/* Stamped at the deadline itself: not before it. */
	CHECK_EQ(tender_rule_deadline(dl, dl), GP_ERR_CONFLICT);
	CHECK_CONTAINS(gp_err_detail(), "late");
	CHECK_EQ(tender_rule_deadline(dl + 1, dl), GP_ERR_CONFLICT);
	/* Both times, to the millisecond. */
	CHECK_CONTAINS(gp_err_detail(), "2026-05-28T20:26:40.001Z");
	CHECK_CONTAINS(gp_err_detail(), "2026-05-28T20:26:40.000Z");
}

static void
test_rule_supersede(void)
{
	CHECK_EQ(tender_rule_supersede(0, 100), 0);
	CHECK_EQ(tender_rule_supersede(100, 101), 0);
	/* signing-time has whole seconds: a modification in the same
	 * second supersedes (a replay of the same bytes is refused by its
	 * hash in the store). */
	CHECK_EQ(tender_rule_supersede(100, 100), 0);
	CHECK_EQ(tender_rule_supersede(100, 99), GP_ERR_CONFLICT);
	CHECK_CONTAINS(gp_err_detail(), "stale");
}

static void
test_rule_opening_outcome_state(void)
{
	CHECK_EQ(tender_rule_opening(2000, 2000), 0);
	CHECK_EQ(tender_rule_opening(1999, 2000), GP_ERR_CONFLICT);
	CHECK_CONTAINS(gp_err_detail(), "too early");
	CHECK_STR(tender_outcome_name(TENDER_FAULT_NONE), "opened");
	CHECK_STR(tender_outcome_name(TENDER_FAULT_BIDDER), "revoked");
	CHECK_STR(tender_outcome_name(TENDER_FAULT_PLATFORM), "withdrawn");
	CHECK_EQ(tender_state_of(0, 10, 20), TENDER_ACCEPTING);
	CHECK_EQ(tender_state_of(0, 20, 20), TENDER_CLOSED);
	CHECK_EQ(tender_state_of(TENDER_EV_REQUEST, 30, 20),
	    TENDER_OPEN_REQUESTED);
	CHECK_EQ(tender_state_of(TENDER_EV_REQUEST | TENDER_EV_APPROVE |
	    TENDER_EV_WINDOW, 30, 20), TENDER_RELEASING);
	CHECK_EQ(tender_state_of(TENDER_EV_REQUEST | TENDER_EV_APPROVE |
	    TENDER_EV_OPENED, 30, 20), TENDER_OPENED);
}

static void
test_time(void)
{
	int64_t ms = 0;
	char buf[40];

	CHECK_EQ(tender_time_parse("deadline", "2026-05-01T09:30:00+08:00",
	    &ms), 0);
	tender_time_fmt(ms, buf, sizeof(buf));
	CHECK_STR(buf, "2026-05-01T01:30:00.000Z");
	CHECK_EQ(tender_time_parse("deadline", "2026-05-01T01:30:00.5Z", &ms),
	    0);
	CHECK_EQ(ms % 1000, 500);
	CHECK_EQ(tender_time_parse("deadline", "2024-02-29T00:00:00Z", &ms), 0);
	CHECK_EQ(tender_time_parse("deadline", "2026-02-29T00:00:00Z", &ms),
	    GP_ERR_INVALID);
	CHECK_CONTAINS(gp_err_detail(), "deadline");
	CHECK_EQ(tender_time_parse("x", "2026-05-01 01:30:00Z", &ms),
	    GP_ERR_INVALID);
	CHECK_EQ(tender_time_parse("x", "2026-05-01T01:30:00", &ms),
	    GP_ERR_INVALID);
	CHECK_EQ(tender_time_parse("x", "2026-05-01T01:30:00.1234Z", &ms),
	    GP_ERR_INVALID);
	CHECK_EQ(tender_time_parse("x", "2026-05-01T24:00:00Z", &ms),
	    GP_ERR_INVALID);
	CHECK_EQ(tender_time_parse("x", NULL, &ms), GP_ERR_INVALID);
}

/* ------------------------------------------------------------------ */
/* Sealing and parsing. */

#define TID "0123456789abcdef0123456789abcdef"

static json_t *
tender_doc(void)
{
	BIO *b = BIO_new(BIO_s_mem());
	BUF_MEM *m;
	json_t *j;

	PEM_write_bio_X509(b, c_ca);
	BIO_get_mem_ptr(b, &m);
	j = json_pack("{s:s, s:s, s:[s], s:[s#]}", "id", TID, "mode",
	    "platform", "fields", "price", "chain", m->data, (int)m->length);
	BIO_free(b);
	return j;
}

/* Seals |doc_len| bytes to |rcpt| into |out|; 0 or the error. */
static int
seal_to(X509 *rcpt, size_t doc_len, const char *out, char **sha)
{
	struct tender_seal_req rq;
	struct tender_field f = {"price", "1000.00"};
	STACK_OF(X509) *rc = sk_X509_new_null(), *chain = sk_X509_new_null();
	char in[128];
	uint8_t *doc = malloc(doc_len + 1);
	json_t *t = tender_doc();
	size_t i;
	int r;

	snprintf(in, sizeof(in), "%s/doc.bin", tmpdir);
	for (i = 0; i < doc_len; i++)
		doc[i] = (uint8_t)(i * 7);
	if (gp_file_write(in, doc, doc_len, 0600, 0) != 0)
		return -1;
	sk_X509_push(rc, rcpt);
	sk_X509_push(chain, c_ca);
	memset(&rq, 0, sizeof(rq));
	rq.tender = t;
	rq.root = c_root;
	rq.recipients = rc;
	rq.fields = &f;
	rq.fields_len = 1;
	rq.in = in;
	rq.out = out;
	rq.key = k_bidder;
	rq.cert = c_bidder;
	rq.chain = chain;
	r = tender_seal(&rq, sha);
	sk_X509_free(rc);
	sk_X509_free(chain);
	json_decref(t);
	free(doc);
	return r;
}

static int
load(const char *path, uint8_t **buf, size_t *len)
{
	return gp_file_read(path, 64 * 1024 * 1024, buf, len);
}

static void
test_seal_open_roundtrip(void)
{
	struct tender_refusal why;
	struct tnd_src src;
	struct tnd_bid b;
	struct tnd_ktri *k = NULL;
	struct tnd_package pkg;
	uint8_t *buf = NULL, cek[32], md[32];
	size_t len = 0, nk = 0;
	char out[128], plain[128], *sha = NULL, hex[65];
	int fd;

	snprintf(out, sizeof(out), "%s/bid.p7m", tmpdir);
	snprintf(plain, sizeof(plain), "%s/bid.pkg", tmpdir);
	/* 200 KiB + 3: many buffers, an odd tail. */
	CHECK_EQ(seal_to(c_rcpt, 200 * 1024 + 3, out, &sha), 0);
	CHECK(sha != NULL && strlen(sha) == 64);
	/* Never over an existing file. */
	CHECK_EQ(seal_to(c_rcpt, 10, out, NULL), GP_ERR_EXISTS);
	/* A recipient that is not an RSA key-transport certificate is
	 * refused, and nothing is written. */
	{
		char o2[128];

		snprintf(o2, sizeof(o2), "%s/bad.p7m", tmpdir);
		CHECK_EQ(seal_to(c_bidder, 10, o2, NULL), GP_ERR_INVALID);
		CHECK(access(o2, F_OK) != 0);
	}
	CHECK_EQ(load(out, &buf, &len), 0);
	EVP_Digest(buf, len, md, NULL, EVP_sha256(), NULL);
	tnd_hex32(md, hex);
	CHECK_STR(hex, sha);
	/* Parsed from the file, as the server does. */
	fd = open(out, O_RDONLY);
	memset(&src, 0, sizeof(src));
	src.fd = fd;
	src.len = len;
	memset(&why, 0, sizeof(why));
	CHECK_EQ(tnd_bid_parse(&src, &b, &why), 0);
	CHECK_EQ(tnd_ktri_read(&src, &b, &k, &nk, &why), 0);
	CHECK_EQ(nk, 1);
	CHECK(nk == 1 && tnd_ktri_match(&k[0], c_rcpt));
	CHECK(nk == 1 && !tnd_ktri_match(&k[0], c_other));
	/* The wrong key does not unwrap it (the bidder's fault, revoked);
	 * the right one does, and the content decrypts to the package. */
	CHECK_EQ(tnd_cek_unwrap(k_other, &k[0], cek), GP_ERR_CRYPTO);
	CHECK_EQ(tnd_cek_unwrap(k_rcpt, &k[0], cek), 0);
	CHECK_EQ(tnd_content_decrypt(&src, &b, cek, plain, &pkg), 0);
	CHECK_STR(json_string_value(json_object_get(pkg.summary, "tender")),
	    TID);
	CHECK_STR(json_string_value(json_object_get(json_object_get(
	    pkg.summary, "fields"), "price")), "1000.00");
	CHECK_EQ(pkg.doc_len, 200 * 1024 + 3);
	tnd_package_clear(&pkg);
	/* A flipped key byte: the padding (or the package) fails; nothing
	 * is left behind. */
	cek[0] ^= 1;
	unlink(plain);
	CHECK(tnd_content_decrypt(&src, &b, cek, plain, &pkg) != 0);
	CHECK(access(plain, F_OK) != 0);
	close(fd);
	tnd_ktri_free(k, nk);
	free(buf);
	free(sha);
}

/* tnd_bid_parse() of |buf|: the rule, or "" when it parses. */
static const char *
rule_of(const uint8_t *buf, size_t len)
{
	static struct tender_refusal why;
	struct tnd_src src;
	struct tnd_bid b;

	memset(&src, 0, sizeof(src));
	src.buf = buf;
	src.len = len;
	memset(&why, 0, sizeof(why));
	if (tnd_bid_parse(&src, &b, &why) == 0)
		return "";
	return why.rule != NULL ? why.rule : "(none)";
}

static void
test_parse_rules(void)
{
	struct tnd_src src;
	struct tnd_bid b;
	struct tender_refusal why;
	struct sig_signer sg;
	struct sig_sign_req sr;
	uint8_t *buf = NULL, *p = NULL, *ber = NULL;
	size_t len = 0, plen = 0;
	char out[128];

	snprintf(out, sizeof(out), "%s/bid2.p7m", tmpdir);
	CHECK_EQ(seal_to(c_rcpt, 1000, out, NULL), 0);
	CHECK_EQ(load(out, &buf, &len), 0);
	CHECK_STR(rule_of(buf, len), "");
	/* The eContent alone: an EnvelopedData without a signature. */
	memset(&src, 0, sizeof(src));
	src.buf = buf;
	src.len = len;
	CHECK_EQ(tnd_bid_parse(&src, &b, &why), 0);
	CHECK_STR(rule_of(buf + tnd_tlv_body(&b.sd.econtent),
	    (size_t)b.sd.econtent.len), "unsigned");
	/* Truncated, or a byte after it. */
	CHECK_STR(rule_of(buf, len - 1), "malformed");
	CHECK_STR(rule_of(buf, len / 2), "malformed");
	p = malloc(len + 1);
	memcpy(p, buf, len);
	p[len] = 0;
	CHECK_STR(rule_of(p, len + 1), "malformed");
	/* BER's indefinite length. */
	ber = malloc(len + 8);
	memcpy(ber, buf, len);
	ber[1] = 0x80;
	CHECK_STR(rule_of(ber, len), "malformed");
	CHECK_STR(rule_of(NULL, 0), "malformed");
	/* A plain document signed, attached: unencrypted. */
	memset(&sg, 0, sizeof(sg));
	sg.key = k_bidder;
	sg.cert = c_bidder;
	memset(&sr, 0, sizeof(sr));
	sr.signer = &sg;
	sr.content = (const uint8_t *)"price: 1000";
	sr.content_len = 11;
	sr.attached = 1;
	free(p);
	p = NULL;
	CHECK_EQ(sig_sign(&sr, &p, &plen, NULL), 0);
	CHECK_STR(rule_of(p, plen), "unencrypted");
	OPENSSL_free(p);
	p = NULL;
	/* Detached: no bid inside. */
	sr.content = NULL;
	sr.attached = 0;
	sr.digest = buf;
	sr.digest_len = 32;
	CHECK_EQ(sig_sign(&sr, &p, &plen, NULL), 0);
	CHECK_STR(rule_of(p, plen), "malformed");
	OPENSSL_free(p);
	free(ber);
	free(buf);
}

/* ------------------------------------------------------------------ */
/* The gate to the opening key. */

static int
add_tender(store *st, const char *id, int64_t deadline, int64_t opening,
    const char *key_uri)
{
	struct store_tender t;
	int r;

	memset(&t, 0, sizeof(t));
	t.id = (char *)id;
	t.title = (char *)"t";
	t.mode = (char *)"platform";
	t.deadline_ms = deadline;
	t.opening_ms = opening;
	t.spec = (char *)"{\"fields\":[\"price\"]}";
	t.opening_key = (char *)key_uri;
	t.created_ms = 1;
	t.created_by = (char *)"test";
	t.creator = (char *)"dn:test";
	if ((r = store_begin(st)) != 0)
		return r;
	if ((r = store_tender_insert(st, &t)) != 0) {
		store_rollback(st);
		return r;
	}
	return store_commit(st);
}

static int
add_event(store *st, const char *id, const char *event, int64_t at,
    const char *person)
{
	struct store_tender_event ev;
	int r;

	memset(&ev, 0, sizeof(ev));
	ev.tender_id = (char *)id;
	ev.event = (char *)event;
	ev.time_ms = at;
	ev.actor = (char *)person;
	ev.person = (char *)person;
	if ((r = store_begin(st)) != 0)
		return r;
	if ((r = store_tender_event_add(st, &ev)) != 0) {
		store_rollback(st);
		return r;
	}
	return store_commit(st);
}

static void
test_gate(void)
{
	struct tender_ctx tc;
	struct gp_config *cfg = NULL;
	struct tsa_opts o;
	struct store_tender t;
	store *st = NULL;
	audit *a = NULL;
	tsa *ts = NULL;
	tok_ctx *tok = NULL;
	EVP_PKEY *key = NULL;
	FILE *f;
	char db[128], kp[128], uri[160], conf[128], toks[128];
	int64_t now = gp_now_ms();
	const char *past = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	const char *future = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

	snprintf(db, sizeof(db), "%s/gate.db", tmpdir);
	snprintf(kp, sizeof(kp), "%s/open.pem", tmpdir);
	snprintf(uri, sizeof(uri), "file:%s", kp);
	snprintf(toks, sizeof(toks), "%s/tokens", tmpdir);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", tmpdir);
	mkdir(toks, 0700);
	f = fopen(conf, "w");
	fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\n",
	    toks);
	fclose(f);
	setenv("SOFTHSM2_CONF", conf, 1);
	f = fopen(kp, "w");
	PEM_write_PrivateKey(f, k_rcpt, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	CHECK_EQ(store_open(db, 1, &st), 0);
	CHECK_EQ(audit_new(st, &a), 0);
	CHECK_EQ(gp_config_defaults(tmpdir, &cfg), 0);
	memset(&o, 0, sizeof(o));
	o.cfg = cfg;
	o.key = k_tsa;
	o.cert = c_tsa;
	o.chain = &c_ca;
	o.chain_len = 1;
	o.st = st;
	o.test_clock = "ok";
	CHECK_EQ(tsa_new(&o, &ts), 0);
	CHECK_EQ(tok_ctx_new(GP_SOFTHSM_MODULE, &tok), 0);
	memset(&tc, 0, sizeof(tc));
	tc.cfg = cfg;
	tc.st = st;
	tc.audit = a;
	tc.tok = tok;
	tc.tsa = ts;

	CHECK_EQ(add_tender(st, past, now - 60000, now - 30000, uri), 0);
	CHECK_EQ(store_tender_get(st, past, &t), 0);
	/* No request, no approval: no key. */
	CHECK_EQ(tender_opening_key(&tc, &t, &key), GP_ERR_CONFLICT);
	CHECK(key == NULL);
	/* A request alone is one approval. */
	CHECK_EQ(add_event(st, past, "open_request", now - 20000, "dn:cn=a"),
	    0);
	CHECK_EQ(tender_opening_key(&tc, &t, &key), GP_ERR_CONFLICT);
	CHECK(key == NULL);
	/* Each happens once. */
	CHECK_EQ(add_event(st, past, "open_request", now - 10000, "dn:cn=b"),
	    GP_ERR_EXISTS);
	/* Approved by the requester: one person is not two. */
	CHECK_EQ(add_event(st, past, "open_approve", now - 10000, "dn:cn=a"),
	    0);
	CHECK_EQ(tender_opening_key(&tc, &t, &key), GP_ERR_DENIED);
	CHECK(key == NULL);
	store_tender_clear(&t);

	/* Events forged with times after a future opening time: the gate's
	 * own time-stamp still says it is too early. */
	CHECK_EQ(add_tender(st, future, now + 3600000, now + 3600000, uri), 0);
	CHECK_EQ(store_tender_get(st, future, &t), 0);
	CHECK_EQ(add_event(st, future, "open_request", now + 3600000,
	    "dn:cn=a"), 0);
	CHECK_EQ(add_event(st, future, "open_approve", now + 3600000,
	    "dn:cn=b"), 0);
	CHECK_EQ(tender_opening_key(&tc, &t, &key), GP_ERR_CONFLICT);
	CHECK_CONTAINS(gp_err_detail(), "too early");
	CHECK(key == NULL);
	store_tender_clear(&t);

	/* Two persons, after the opening time, by the trusted clock. */
	CHECK_EQ(add_tender(st, "cccccccccccccccccccccccccccccccc", now - 60000,
	    now - 30000, uri), 0);
	CHECK_EQ(store_tender_get(st, "cccccccccccccccccccccccccccccccc", &t),
	    0);
	CHECK_EQ(add_event(st, t.id, "open_request", now - 20000, "dn:cn=a"),
	    0);
	CHECK_EQ(add_event(st, t.id, "open_approve", now - 10000, "dn:cn=b"),
	    0);
	CHECK_EQ(tender_opening_key(&tc, &t, &key), 0);
	CHECK(key != NULL);
	EVP_PKEY_free(key);
	key = NULL;
	/* A bidder-mode tender has no opening key at all. */
	free(t.mode);
	t.mode = strdup("bidder");
	CHECK_EQ(tender_opening_key(&tc, &t, &key), GP_ERR_CONFLICT);
	store_tender_clear(&t);

	tok_ctx_free(tok);
	tsa_free(ts);
	audit_free(a);
	store_free(st);
	gp_config_free(cfg);
}

/* Nothing a verdict depends on is overwritten: the tables refuse UPDATE
 * and DELETE. */
static void
test_append_only(void)
{
	sqlite3 *db = NULL;
	char path[128];
	const char *stmts[] = {
		"UPDATE tenders SET deadline_ms = 0",
		"DELETE FROM tenders",
		"UPDATE tender_events SET time_ms = 0",
		"DELETE FROM tender_events",
	};
	size_t i;

	snprintf(path, sizeof(path), "%s/gate.db", tmpdir);
	CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
	for (i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		CHECK(sqlite3_exec(db, stmts[i], NULL, NULL, NULL) ==
		    SQLITE_CONSTRAINT);
		CHECK_CONTAINS(sqlite3_errmsg(db), "append-only");
	}
	sqlite3_close(db);
}

int
main(void)
{
	if (fixture() != 0) {
		fprintf(stderr, "fixture failed: %s\n", gp_err_detail());
		return 1;
	}
	RUN(test_rule_deadline);
	RUN(test_rule_supersede);
	RUN(test_rule_opening_outcome_state);
	RUN(test_time);
	RUN(test_seal_open_roundtrip);
	RUN(test_parse_rules);
	RUN(test_gate);
	RUN(test_append_only);
	(void)nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return test_done("tender");
}
