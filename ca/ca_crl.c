/*
 * ca_crl.c: full CRLs (RFC 5280 section 5) streamed from the store, so that
 * a million revoked certificates cost a scratch file, not a million
 * X509_REVOKED objects (OpenSSL's X509_CRL keeps every entry in memory).
 *
 * The DER is written here, by hand, in three steps:
 *   1. the revoked or held certificates of the issuer are read from the
 *      store in pages and each entry is encoded into a scratch file,
 *      counting bytes (the entry encoding is deterministic);
 *   2. with the entries' length known, the tbsCertList header and fields
 *      are encoded in memory, and the whole tbsCertList is fed to
 *      EVP_DigestSign (the entries re-read from the scratch file), so the
 *      issuer key may live on a token;
 *   3. certificateList = SEQUENCE { tbsCertList, signatureAlgorithm,
 *      signatureValue } is written to a temporary file that is fsynced and
 *      renamed over the published one.
 * The cRLNumber is kept in the store's meta table and committed with the
 * audit record of the CRL before the rename; a lock file serialises
 * generators of one CRL across processes so numbers and files stay in
 * order.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "ca/internal.h"

/* An encoded entry: INTEGER (<= 35) + Time (<= 17) + extensions (<= 46)
 * + headers; 160 bytes is ample. */
#define CRL_ENTRY_MAX 256
/* Serial numbers are at most 20 octets (RFC 5280 4.1.2.2); the store's
 * are 16. Longer ones are refused rather than listed wrongly. */
#define CRL_SERIAL_MAX 32
#define CRL_IO_BUF (1 << 20)
#define CRL_HDR_MAX 6

/* RFC 5280 5.3.1 reason codes used here. */
#define CRL_REASON_UNSPECIFIED 0
#define CRL_REASON_HOLD 6
#define CRL_REASON_REMOVE 8      /* removeFromCRL: delta CRLs only */

/* DER tag and minimal length (X.690 8.1.3, 10.1) into |out|; returns the
 * bytes written (at most CRL_HDR_MAX). */
static size_t
crl_hdr(uint8_t *out, uint8_t tag, size_t len)
{
	size_t n = 0, i, bytes = 0;
	size_t v;

	out[n++] = tag;
	if (len < 0x80) {
		out[n++] = (uint8_t)len;
		return n;
	}
	for (v = len; v != 0; v >>= 8)
		bytes++;
	out[n++] = (uint8_t)(0x80 | bytes);
	for (i = bytes; i > 0; i--)
		out[n++] = (uint8_t)(len >> (8 * (i - 1)));
	return n;
}

static size_t
crl_hdr_len(size_t len)
{
	uint8_t tmp[CRL_HDR_MAX];

	return crl_hdr(tmp, 0, len);
}

/* RFC 5280 5.1.2.4: UTCTime through 2049, GeneralizedTime from 2050;
 * |force_gen| for invalidityDate, always GeneralizedTime (5.3.2). */
static size_t
crl_time(uint8_t *out, int64_t t, int force_gen)
{
	struct tm tm;
	time_t tt = (time_t)t;
	char buf[64];
	int gen;
	size_t n;

	memset(&tm, 0, sizeof(tm));
	gmtime_r(&tt, &tm);
	gen = force_gen || tm.tm_year + 1900 >= 2050 || tm.tm_year + 1900 < 1950;
	if (gen)
		snprintf(buf, sizeof(buf), "%04d%02d%02d%02d%02d%02dZ",
		    (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday,
		    tm.tm_hour, tm.tm_min, tm.tm_sec);
	else
		snprintf(buf, sizeof(buf), "%02d%02d%02d%02d%02d%02dZ",
		    tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
	n = gen ? 15 : 13; /* YYYYMMDDHHMMSSZ or YYMMDDHHMMSSZ */
	out[0] = gen ? V_ASN1_GENERALIZEDTIME : V_ASN1_UTCTIME;
	out[1] = (uint8_t)n;
	memcpy(out + 2, buf, n);
	return n + 2;
}

static int
crl_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The DER INTEGER of a store serial (lower-case hex, no leading zeros). */
static int
crl_serial(const char *hex, uint8_t *out, size_t *out_len)
{
	uint8_t v[CRL_SERIAL_MAX + 1];
	size_t hl = strlen(hex), n = (hl + 1) / 2, i, o = 0;
	int hi, lo;

	if (hl == 0 || n > CRL_SERIAL_MAX)
		return gp_err_set(GP_ERR_INVALID, "serial %s: not 1 to %d "
		    "octets of hex", hex, CRL_SERIAL_MAX);
	for (i = 0; i < n; i++) {
		size_t at = hl - 2 * (n - i);   /* may wrap for an odd length */
		hi = (hl % 2 == 1 && i == 0) ? 0 : crl_hexval(hex[at]);
		lo = crl_hexval(hex[at + 1]);
		if (hi < 0 || lo < 0)
			return gp_err_set(GP_ERR_INVALID, "serial %s: not "
			    "lower-case hex", hex);
		v[i] = (uint8_t)(hi << 4 | lo);
	}
	out[o++] = V_ASN1_INTEGER;
	/* X.690 8.3.2: a positive number whose top bit is set gets a 00. */
	out[o++] = (uint8_t)(n + (v[0] & 0x80 ? 1 : 0));
	if (v[0] & 0x80)
		out[o++] = 0;
	memcpy(out + o, v, n);
	*out_len = o + n;
	return 0;
}

/* One revokedCertificates entry (RFC 5280 5.1.2.6, 5.3). A good
 * certificate, in a delta CRL, is one released from hold: listed with
 * removeFromCRL (5.3.1) at |now|. */
static int
crl_entry(const struct store_cert_state *s, int64_t now, uint8_t *out,
    size_t *out_len)
{
	uint8_t body[CRL_ENTRY_MAX], ext[64];
	size_t bl = 0, el = 0, n = 0;
	int reason = s->reason, good = strcmp(s->status, "good") == 0, r;

	GUARD(crl_serial(s->serial, body, &n));
	bl = n;
	bl += crl_time(body + bl, good ? now : s->revoked_at, 0);
	/* A held certificate is listed with reasonCode certificateHold. */
	if (strcmp(s->status, "hold") == 0)
		reason = CRL_REASON_HOLD;
	else if (good)
		reason = CRL_REASON_REMOVE;
	/* Every length below is under 128, so each header is two bytes. */
	/* RFC 5280 5.3.1: "the reason code CRL entry extension SHOULD be
	 * absent instead of using the unspecified (0) reasonCode value". */
	if (reason > CRL_REASON_UNSPECIFIED && reason <= 10) {
		static const uint8_t reason_ext[] = {0x30, 0x0a, 0x06, 0x03,
		    0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01};
		memcpy(ext + el, reason_ext, sizeof(reason_ext));
		el += sizeof(reason_ext);
		ext[el++] = (uint8_t)reason;
	}
	/* RFC 5280 5.3.2: invalidityDate, a GeneralizedTime. */
	if (s->invalidity_date > 0 && !good) {
		static const uint8_t inv_ext[] = {0x30, 0x18, 0x06, 0x03,
		    0x55, 0x1d, 0x18, 0x04, 0x11};
		memcpy(ext + el, inv_ext, sizeof(inv_ext));
		el += sizeof(inv_ext);
		el += crl_time(ext + el, s->invalidity_date, 1); /* 17 */
	}
	if (el > 0) {
		bl += crl_hdr(body + bl, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED,
		    el);
		memcpy(body + bl, ext, el);
		bl += el;
	}
	n = crl_hdr(out, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED, bl);
	memcpy(out + n, body, bl);
	*out_len = n + bl;
	r = 0;
out:
	return r;
}

struct crl_scan {
	FILE *f;
	int64_t now;                 /* thisUpdate */
	uint64_t len;
	int64_t count;
};

static int
crl_scan_one(void *arg, const struct store_cert_state *s)
{
	struct crl_scan *cs = arg;
	uint8_t buf[CRL_ENTRY_MAX + CRL_HDR_MAX];
	size_t n;
	int r;

	GUARD(crl_entry(s, cs->now, buf, &n));
	ENSURE(fwrite(buf, 1, n, cs->f) == n, gp_err_set(GP_ERR_IO,
	    "CRL scratch file: %s", strerror(errno)));
	cs->len += n;
	cs->count++;
	r = 0;
out:
	return r;
}

/* A growable byte buffer for the small parts of the tbsCertList. */
struct crl_buf {
	uint8_t *p;
	size_t len, cap;
};

static int
crl_put(struct crl_buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t ncap = (b->len + len) * 2 + 64;
		uint8_t *np = realloc(b->p, ncap);
		if (np == NULL)
			return GP_ERR_NOMEM;
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

static int
crl_put_hdr(struct crl_buf *b, uint8_t tag, size_t len)
{
	uint8_t h[CRL_HDR_MAX];

	return crl_put(b, h, crl_hdr(h, tag, len));
}

/* The i2d encoding of |obj| appended to |b|. */
#define CRL_PUT_I2D(b, fn, obj, r)                                      \
	do {                                                            \
		unsigned char *der_ = NULL;                             \
		int n_ = fn(obj, &der_);                                \
		if (n_ <= 0) {                                          \
			r = gp_err_ssl(GP_ERR_CRYPTO, "CRL: " #fn);     \
			goto out;                                       \
		}                                                       \
		r = crl_put(b, der_, (size_t)n_);                       \
		OPENSSL_free(der_);                                     \
		if (r != 0)                                             \
			goto out;                                       \
	} while (0)

/* The AlgorithmIdentifier of |md| with |key| (RFC 5480 3: no parameters
 * for ECDSA; RFC 4055 5: NULL for RSA PKCS#1 v1.5). */
static int
crl_sigalg(const EVP_MD *md, EVP_PKEY *key, struct crl_buf *b)
{
	X509_ALGOR *alg = NULL;
	int nid = NID_undef, r;
	int ptype;

	ENSURE(OBJ_find_sigid_by_algs(&nid, EVP_MD_get_type(md),
	    EVP_PKEY_get_base_id(key)), gp_err_set(GP_ERR_UNSUPPORTED,
	    "CRL: no signature algorithm for this key"));
	ptype = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA ? V_ASN1_NULL :
	    V_ASN1_UNDEF;
	ENSURE((alg = X509_ALGOR_new()) != NULL, GP_ERR_NOMEM);
	ENSURE(X509_ALGOR_set0(alg, OBJ_nid2obj(nid), ptype, NULL),
	    GP_ERR_CRYPTO);
	CRL_PUT_I2D(b, i2d_X509_ALGOR, alg, r);
	r = 0;
out:
	X509_ALGOR_free(alg);
	return r;
}

/* Extension { extnID, critical, extnValue OCTET STRING { INTEGER n } }:
 * cRLNumber (5.2.3) and deltaCRLIndicator (5.2.4) alike, n a
 * non-negative integer of at most 20 octets. */
static int
crl_int_ext(struct crl_buf *e, const uint8_t *oid, size_t oid_len,
    int critical, int64_t number)
{
	static const uint8_t crit[] = {0x01, 0x01, 0xff};
	uint8_t num[10];
	size_t nl = 0, i;
	int r;

	for (i = 8; i > 0; i--) {
		uint8_t byte = (uint8_t)((uint64_t)number >> (8 * (i - 1)));
		if (nl == 0 && byte == 0)
			continue;
		if (nl == 0 && (byte & 0x80))
			num[nl++] = 0;
		num[nl++] = byte;
	}
	GUARD(crl_put_hdr(e, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED, oid_len +
	    (critical ? sizeof(crit) : 0) + 2 + 2 + nl));
	GUARD(crl_put(e, oid, oid_len));
	if (critical)
		GUARD(crl_put(e, crit, sizeof(crit)));
	GUARD(crl_put_hdr(e, V_ASN1_OCTET_STRING, 2 + nl));
	GUARD(crl_put_hdr(e, V_ASN1_INTEGER, nl));
	GUARD(crl_put(e, num, nl));
	r = 0;
out:
	return r;
}

/* crlExtensions [0] EXPLICIT: authorityKeyIdentifier (5.2.1) and
 * cRLNumber (5.2.3), non-critical; a delta CRL adds the critical
 * deltaCRLIndicator naming its base (5.2.4), a full CRL with deltas the
 * freshestCRL pointing at them (5.2.6). */
static int
crl_extensions(const struct ca_crl_spec *spec, int64_t number,
    int64_t base, struct crl_buf *b)
{
	static const uint8_t aki_oid[] = {0x06, 0x03, 0x55, 0x1d, 0x23};
	static const uint8_t num_oid[] = {0x06, 0x03, 0x55, 0x1d, 0x14};
	static const uint8_t delta_oid[] = {0x06, 0x03, 0x55, 0x1d, 0x1b};
	const ASN1_OCTET_STRING *skid =
	    X509_get0_subject_key_id(spec->issuer_cert);
	X509_EXTENSION *fresh = NULL;
	struct crl_buf e = {0};
	size_t kl, aki_val;
	int r;

	/* RFC 5280 5.2.1: "Conforming CRL issuers MUST use the key
	 * identifier method, and MUST include this extension in all CRLs". */
	ENSURE(skid != NULL && skid->length > 0 && skid->length < 64,
	    gp_err_set(GP_ERR_INVALID, "CRL issuer certificate has no "
	    "subject key identifier"));
	ENSURE(number > 0, GP_ERR_INVALID);
	kl = (size_t)skid->length;
	aki_val = 2 + 2 + kl;               /* SEQ { [0] keyid } */
	GUARD(crl_put_hdr(&e, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED,
	    sizeof(aki_oid) + 2 + aki_val));
	GUARD(crl_put(&e, aki_oid, sizeof(aki_oid)));
	GUARD(crl_put_hdr(&e, V_ASN1_OCTET_STRING, aki_val));
	GUARD(crl_put_hdr(&e, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED, 2 + kl));
	GUARD(crl_put_hdr(&e, 0x80, kl));
	GUARD(crl_put(&e, skid->data, kl));
	GUARD(crl_int_ext(&e, num_oid, sizeof(num_oid), 0, number));
	if (spec->delta)
		GUARD(crl_int_ext(&e, delta_oid, sizeof(delta_oid), 1, base));
	else if (spec->freshest_url != NULL) {
		char val[600];

		ENSURE(strlen(spec->freshest_url) < sizeof(val) - 8,
		    gp_err_set(GP_ERR_INVALID, "CRL %s: freshest CRL URL "
		    "too long", spec->issuer));
		snprintf(val, sizeof(val), "URI:%s", spec->freshest_url);
		ENSURE((fresh = X509V3_EXT_conf_nid(NULL, NULL,
		    NID_freshest_crl, val)) != NULL, gp_err_ssl(
		    GP_ERR_INVALID, "CRL %s: freshest CRL URL %s",
		    spec->issuer, spec->freshest_url));
		CRL_PUT_I2D(&e, i2d_X509_EXTENSION, fresh, r);
	}
	GUARD(crl_put_hdr(b, 0xa0, crl_hdr_len(e.len) + e.len));
	GUARD(crl_put_hdr(b, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED, e.len));
	GUARD(crl_put(b, e.p, e.len));
	r = 0;
out:
	X509_EXTENSION_free(fresh);
	free(e.p);
	return r;
}

/* Feeds |len| bytes of |f| from its start to |md| and, when |copy| is not
 * NULL, copies them there. */
static int
crl_stream(FILE *f, uint64_t len, EVP_MD_CTX *md, FILE *copy, uint8_t *buf)
{
	uint64_t done = 0;
	size_t n, want;

	if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0)
		return gp_err_set(GP_ERR_IO, "CRL scratch file: %s",
		    strerror(errno));
	while (done < len) {
		want = len - done > CRL_IO_BUF ? CRL_IO_BUF :
		    (size_t)(len - done);
		if ((n = fread(buf, 1, want, f)) != want)
			return gp_err_set(GP_ERR_IO, "CRL scratch file: short "
			    "read");
		if (md != NULL && !EVP_DigestSignUpdate(md, buf, n))
			return gp_err_ssl(GP_ERR_CRYPTO, "signing the CRL");
		if (copy != NULL && fwrite(buf, 1, n, copy) != n)
			return gp_err_set(GP_ERR_IO, "CRL file: %s",
			    strerror(errno));
		done += n;
	}
	return 0;
}

void
ca_crl_meta_key(const char *issuer, const char *what, char *buf, size_t len)
{
	snprintf(buf, len, "crl.%s.%s", issuer, what);
}

static int
crl_meta_i64(store *st, const char *key, int64_t *out)
{
	char *v = NULL, *end = NULL;
	int r;

	*out = 0;
	r = store_meta_get(st, key, &v);
	if (r == GP_ERR_NOT_FOUND)
		return 0;
	if (r != 0)
		return r;
	errno = 0;
	*out = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || *out < 0)
		r = gp_err_set(GP_ERR_STORE, "meta %s: \"%s\" is not a "
		    "number", key, v);
	free(v);
	return r;
}

static int
crl_meta_set_i64(store *st, const char *key, int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	return store_meta_set(st, key, buf);
}

static void
crl_event(struct audit_event *ev, const struct ca_crl_spec *spec,
    const char *outcome, json_t *details)
{
	memset(ev, 0, sizeof(*ev));
	ev->actor = spec->actor;
	ev->role = spec->role;
	ev->op = "crl.issue";
	ev->object = spec->issuer;
	ev->outcome = outcome;
	ev->request_id = spec->request_id;
	ev->client = spec->client;
	ev->details = details;
}

/* In the commit's transaction: renews |spec->lease|, or refuses when it
 * is another holder's now. */
static int
crl_fence(const struct ca_crl_spec *spec)
{
	const struct ca_crl_lease *l = spec->lease;
	struct store_lease prev;
	int r, held = 0;

	GUARD(store_lease_take(spec->st, l->name, l->holder, gp_now_ms(),
	    l->ttl_ms, &held, &prev));
	ENSURE(held, gp_err_set(GP_ERR_CONFLICT, "CRL %s: the %s lease "
	    "passed from %s to %s while this CRL was made; it is discarded",
	    spec->issuer, l->name, l->holder, prev.holder));
	r = 0;
out:
	return r;
}

/* Commits the new number with its audit record, both or neither. */
static int
crl_commit(const struct ca_crl_spec *spec, int64_t number, int64_t gen,
    const struct ca_crl_info *info)
{
	struct audit_event ev;
	json_t *d = NULL;
	char key[64];
	int64_t last = 0;
	int r, in_tx = 0;

	GUARD(store_begin(spec->st));
	in_tx = 1;
	if (spec->lease != NULL)
		GUARD(crl_fence(spec));
	ca_crl_meta_key(spec->issuer, "number", key, sizeof(key));
	GUARD(crl_meta_i64(spec->st, key, &last));
	/* The lock file serialises generators; this catches a store shared
	 * without it (another directory, a restored file). */
	ENSURE(last < number, gp_err_set(GP_ERR_CONFLICT, "CRL %s: number "
	    "%lld is already used (last %lld)", spec->issuer,
	    (long long)number, (long long)last));
	GUARD(crl_meta_set_i64(spec->st, key, number));
	ca_crl_meta_key(spec->issuer, "gen", key, sizeof(key));
	GUARD(crl_meta_set_i64(spec->st, key, gen));
	if (spec->delta) {
		ca_crl_meta_key(spec->issuer, "delta_this_update", key,
		    sizeof(key));
		GUARD(crl_meta_set_i64(spec->st, key, info->this_update));
		ca_crl_meta_key(spec->issuer, "delta_base", key, sizeof(key));
		GUARD(crl_meta_set_i64(spec->st, key, info->base));
	} else {
		/* The base of the deltas that follow. */
		ca_crl_meta_key(spec->issuer, "this_update", key, sizeof(key));
		GUARD(crl_meta_set_i64(spec->st, key, info->this_update));
		ca_crl_meta_key(spec->issuer, "base_number", key, sizeof(key));
		GUARD(crl_meta_set_i64(spec->st, key, number));
		ca_crl_meta_key(spec->issuer, "base_gen", key, sizeof(key));
		GUARD(crl_meta_set_i64(spec->st, key, gen));
	}
	d = json_pack("{s:I, s:I, s:I, s:I, s:I, s:b}", "number",
	    (json_int_t)number, "entries", (json_int_t)info->entries,
	    "this_update", (json_int_t)info->this_update, "next_update",
	    (json_int_t)info->next_update, "bytes", (json_int_t)info->bytes,
	    "delta", spec->delta);
	ENSURE(d != NULL, GP_ERR_NOMEM);
	if (spec->delta)
		json_object_set_new(d, "base", json_integer(info->base));
	crl_event(&ev, spec, "success", d);
	in_tx = 0; /* ended by ca_commit_record */
	GUARD(ca_commit_record(spec->st, spec->audit, &ev));
	r = 0;
out:
	if (in_tx)
		store_rollback(spec->st);
	json_decref(d);
	return r;
}

/* One lock per issuer, beside its files: its full and delta CRLs share
 * one number sequence. */
static int
crl_lock(const char *out_path, const char *issuer, int *out_fd)
{
	const char *slash = strrchr(out_path, '/');
	char *lock = NULL;
	int fd = -1, r;

	*out_fd = -1;
	ENSURE(asprintf(&lock, "%.*s%s.crl.lock", slash != NULL ?
	    (int)(slash - out_path + 1) : 0, out_path, issuer) >= 0,
	    GP_ERR_NOMEM);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ENSURE(fd >= 0, gp_err_set(GP_ERR_IO, "%s: %s", lock,
	    strerror(errno)));
	ENSURE(flock(fd, LOCK_EX) == 0, gp_err_set(GP_ERR_IO, "%s: %s", lock,
	    strerror(errno)));
	*out_fd = fd;
	fd = -1; /* transferred */
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(lock);
	return r;
}

static int
crl_build(const struct ca_crl_spec *spec, struct ca_crl_info *info)
{
	struct crl_scan cs = {0};
	struct crl_buf pre = {0}, ext = {0}, sigalg = {0};
	char *scratch = NULL, *tmp = NULL, key[64];
	FILE *f = NULL;
	EVP_MD_CTX *md = NULL;
	const EVP_MD *dg = ca_digest_for(spec->issuer_key);
	uint8_t *io = NULL, *sig = NULL, h[CRL_HDR_MAX], t[20];
	size_t sig_len = 0, hl;
	uint64_t rev_len, tbs_len, all_len;
	int64_t number = 0, gen = 0, base_gen = 0;
	int r;

	ENSURE(asprintf(&scratch, "%s.entries.tmp", spec->out_path) >= 0 &&
	    asprintf(&tmp, "%s.tmp", spec->out_path) >= 0, GP_ERR_NOMEM);
	ENSURE((io = malloc(CRL_IO_BUF)) != NULL, GP_ERR_NOMEM);
	ca_crl_meta_key(spec->issuer, "number", key, sizeof(key));
	GUARD(crl_meta_i64(spec->st, key, &number));
	number++;
	GUARD(crl_meta_i64(spec->st, STORE_META_STATUS_GEN, &gen));

	if (spec->delta) {
		ca_crl_meta_key(spec->issuer, "base_number", key, sizeof(key));
		GUARD(crl_meta_i64(spec->st, key, &info->base));
		ca_crl_meta_key(spec->issuer, "base_gen", key, sizeof(key));
		GUARD(crl_meta_i64(spec->st, key, &base_gen));
		ENSURE(info->base > 0, gp_err_set(GP_ERR_CONFLICT, "delta CRL "
		    "%s: there is no full CRL to be its base yet; generate "
		    "one first", spec->issuer));
	}

	/* 1. The entries, streamed to the scratch file: every revoked or
	 * held certificate, or for a delta what changed since the base. */
	cs.f = fopen(scratch, "w+e");
	ENSURE(cs.f != NULL, gp_err_set(GP_ERR_IO, "%s: %s", scratch,
	    strerror(errno)));
	cs.now = info->this_update;
	if (spec->delta)
		GUARD(store_cert_scan_changed(spec->st, spec->issuer, base_gen,
		    crl_scan_one, &cs));
	else
		GUARD(store_cert_scan_revoked(spec->st, spec->issuer,
		    crl_scan_one, &cs));
	info->entries = cs.count;

	/* 2. tbsCertList = SEQUENCE { version v2, signature, issuer,
	 * thisUpdate, nextUpdate, revokedCertificates, [0] extensions }. */
	GUARD(crl_sigalg(dg, spec->issuer_key, &sigalg));
	GUARD(crl_put(&pre, "\x02\x01\x01", 3)); /* 5.1.2.1: v2 */
	GUARD(crl_put(&pre, sigalg.p, sigalg.len));
	CRL_PUT_I2D(&pre, i2d_X509_NAME,
	    X509_get_subject_name(spec->issuer_cert), r);
	GUARD(crl_put(&pre, t, crl_time(t, info->this_update, 0)));
	GUARD(crl_put(&pre, t, crl_time(t, info->next_update, 0)));
	GUARD(crl_extensions(spec, number, info->base, &ext));
	/* 5.1.2.6: "When there are no revoked certificates, the revoked
	 * certificates list MUST be absent." */
	rev_len = cs.count > 0 ? crl_hdr_len(cs.len) + cs.len : 0;
	tbs_len = pre.len + rev_len + ext.len;

	ENSURE((md = EVP_MD_CTX_new()) != NULL, GP_ERR_NOMEM);
	if (!EVP_DigestSignInit(md, NULL, dg, NULL, spec->issuer_key)) {
		r = gp_err_ssl(GP_ERR_CRYPTO, "CRL %s: signing", spec->issuer);
		goto out;
	}
	hl = crl_hdr(h, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED, tbs_len);
	ENSURE(EVP_DigestSignUpdate(md, h, hl) &&
	    EVP_DigestSignUpdate(md, pre.p, pre.len), GP_ERR_CRYPTO);
	if (cs.count > 0) {
		uint8_t rh[CRL_HDR_MAX];
		size_t rl = crl_hdr(rh, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED,
		    cs.len);
		ENSURE(EVP_DigestSignUpdate(md, rh, rl), GP_ERR_CRYPTO);
		GUARD(crl_stream(cs.f, cs.len, md, NULL, io));
	}
	ENSURE(EVP_DigestSignUpdate(md, ext.p, ext.len), GP_ERR_CRYPTO);
	if (!EVP_DigestSignFinal(md, NULL, &sig_len) ||
	    (sig = malloc(sig_len)) == NULL ||
	    !EVP_DigestSignFinal(md, sig, &sig_len)) {
		r = gp_err_ssl(GP_ERR_CRYPTO, "CRL %s: signing", spec->issuer);
		goto out;
	}

	/* 3. certificateList, to the temporary file. */
	f = fopen(tmp, "we");
	ENSURE(f != NULL, gp_err_set(GP_ERR_IO, "%s: %s", tmp,
	    strerror(errno)));
	setvbuf(f, NULL, _IOFBF, 1 << 16);
	all_len = hl + tbs_len + sigalg.len + crl_hdr_len(sig_len + 1) +
	    sig_len + 1;
	{
		uint8_t oh[CRL_HDR_MAX], bh[CRL_HDR_MAX + 1];
		size_t ol = crl_hdr(oh, V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED,
		    all_len), bl;
		ENSURE(fwrite(oh, 1, ol, f) == ol && fwrite(h, 1, hl, f) ==
		    hl && fwrite(pre.p, 1, pre.len, f) == pre.len,
		    gp_err_set(GP_ERR_IO, "%s: %s", tmp, strerror(errno)));
		if (cs.count > 0) {
			uint8_t rh[CRL_HDR_MAX];
			size_t rl = crl_hdr(rh, V_ASN1_SEQUENCE |
			    V_ASN1_CONSTRUCTED, cs.len);
			ENSURE(fwrite(rh, 1, rl, f) == rl, GP_ERR_IO);
			GUARD(crl_stream(cs.f, cs.len, NULL, f, io));
		}
		bl = crl_hdr(bh, V_ASN1_BIT_STRING, sig_len + 1);
		bh[bl++] = 0; /* no unused bits */
		ENSURE(fwrite(ext.p, 1, ext.len, f) == ext.len &&
		    fwrite(sigalg.p, 1, sigalg.len, f) == sigalg.len &&
		    fwrite(bh, 1, bl, f) == bl &&
		    fwrite(sig, 1, sig_len, f) == sig_len,
		    gp_err_set(GP_ERR_IO, "%s: %s", tmp, strerror(errno)));
		info->bytes = ol + all_len;
	}
	ENSURE(fflush(f) == 0 && fsync(fileno(f)) == 0,
	    gp_err_set(GP_ERR_IO, "%s: %s", tmp, strerror(errno)));
	ENSURE(fclose(f) == 0, gp_err_set(GP_ERR_IO, "%s: %s", tmp,
	    strerror(errno)));
	f = NULL;
	info->number = number;
	GUARD(crl_commit(spec, number, gen, info));
	ENSURE(rename(tmp, spec->out_path) == 0, gp_err_set(GP_ERR_IO,
	    "%s: %s", spec->out_path, strerror(errno)));
	r = 0;
out:
	if (f != NULL)
		fclose(f);
	if (cs.f != NULL)
		fclose(cs.f);
	if (scratch != NULL)
		unlink(scratch);
	if (r != 0 && tmp != NULL)
		unlink(tmp);
	EVP_MD_CTX_free(md);
	free(sig);
	free(io);
	free(pre.p);
	free(ext.p);
	free(sigalg.p);
	free(scratch);
	free(tmp);
	return r;
}

int
ca_crl_generate(const struct ca_crl_spec *spec, struct ca_crl_info *out)
{
	struct ca_crl_info info;
	struct audit_event ev;
	json_t *d = NULL;
	int r, fd = -1;

	memset(&info, 0, sizeof(info));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (spec == NULL || spec->st == NULL || spec->audit == NULL ||
	    spec->issuer == NULL || spec->issuer_cert == NULL ||
	    spec->issuer_key == NULL || spec->out_path == NULL ||
	    spec->actor == NULL || spec->role == NULL)
		return gp_err_set(GP_ERR_INVALID, "CRL: issuer, its "
		    "certificate and key, store, audit, output and actor are "
		    "required");
	if (spec->next_update_s <= 0)
		return gp_err_set(GP_ERR_INVALID, "CRL %s: next_update_s must "
		    "be positive", spec->issuer);
	info.this_update = spec->this_update > 0 ? spec->this_update :
	    (int64_t)time(NULL);
	info.next_update = info.this_update + spec->next_update_s;
	GUARD(crl_lock(spec->out_path, spec->issuer, &fd));
	GUARD(crl_build(spec, &info));
	if (out != NULL)
		*out = info;
	r = 0;
out:
	if (fd >= 0)
		close(fd); /* releases the flock */
	if (r != 0 && spec != NULL && spec->audit != NULL &&
	    spec->actor != NULL) {
		char detail[512];
		snprintf(detail, sizeof(detail), "%s", gp_err_detail());
		d = json_pack("{s:s, s:s}", "error", gp_err_name(r), "detail",
		    detail);
		crl_event(&ev, spec, "failure", d);
		if (audit_log(spec->audit, &ev) != 0)
			gp_log(GP_LOG_ERROR, "CRL %s: auditing the failure: %s",
			    spec->issuer, gp_err_detail());
		json_decref(d);
		gp_err_set(r, "%s", detail);
	}
	return r;
}
