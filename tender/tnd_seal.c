/*
 * tnd_seal.c: the bidder's side. `govpki bid seal` builds the sealed bid
 * in two streamed passes over the document, whatever its size:
 *   1. the eContent, a ContentInfo of EnvelopedData (RFC 5652 6), written
 *      to a scratch file beside the output while it is hashed: a fresh
 *      AES-256 key and IV encrypt the bid package (tender.h: version,
 *      summary, document) in CBC mode, and the key is wrapped for each
 *      recipient with RSAES-PKCS1-v1_5 (RFC 3370 4.2.1, what every CMS
 *      implementation decrypts, `openssl cms -decrypt` included);
 *   2. sig_sign() signs the eContent's SHA-256 (CAdES B-B, the tender
 *      attribute) detached, and tnd_signed_frame() writes the SignedData
 *      around the scratch file: head, eContent, tail.
 * Every length is known before a byte is written (CBC pads to the next
 * whole block), so no pass needs to hold the bid.
 *
 * Also here: the recipients a tender names (verified against the root
 * the bidder holds), signed JSON documents for the API, and the check of
 * a receipt.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "signer/signer.h"
#include "tender/internal.h"

/* rsaEncryption with NULL parameters (RFC 3370 4.2.1). */
static const uint8_t tnd_alg_rsa[15] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86,
    0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};

/* A growing buffer for the small DER pieces. */
struct tnd_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

static int
tnd_buf_add(struct tnd_buf *b, const void *data, size_t n)
{
	uint8_t *np;
	size_t ncap;

	if (n > b->cap - b->len) {
		ncap = b->cap ? b->cap * 2 : 1024;
		while (ncap - b->len < n)
			ncap *= 2;
		if ((np = realloc(b->p, ncap)) == NULL)
			return GP_ERR_NOMEM;
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

static int
tnd_buf_hdr(struct tnd_buf *b, unsigned int tag, uint64_t len)
{
	uint8_t h[10];

	return tnd_buf_add(b, h, tnd_der_put_hdr(h, tag, len));
}

/* One KeyTransRecipientInfo for |cert| wrapping |cek| (RFC 5652 6.2.1,
 * version 0, issuerAndSerialNumber). */
static int
tnd_ktri_make(X509 *cert, const uint8_t cek[32], struct tnd_buf *out)
{
	EVP_PKEY_CTX *pc = NULL;
	uint8_t ek[1024], *nm = NULL, *sn = NULL;
	size_t ek_len = sizeof(ek);
	int nm_len, sn_len, r = GP_ERR_INTERNAL;
	uint64_t ias, len;

	ENSURE((pc = EVP_PKEY_CTX_new(X509_get0_pubkey(cert), NULL)) != NULL &&
	    EVP_PKEY_encrypt_init(pc) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
	    EVP_PKEY_encrypt(pc, ek, &ek_len, cek, 32) == 1,
	    gp_err_ssl(GP_ERR_CRYPTO, "wrapping the key for a recipient"));
	ENSURE((nm_len = i2d_X509_NAME(X509_get_issuer_name(cert), &nm)) > 0 &&
	    (sn_len = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &sn)) > 0,
	    gp_err_ssl(GP_ERR_CRYPTO, "recipient issuer and serial"));
	ias = (uint64_t)nm_len + (uint64_t)sn_len;
	len = 3 + tnd_der_size(ias) + ias + sizeof(tnd_alg_rsa) +
	    tnd_der_size(ek_len) + ek_len;
	GUARD(tnd_buf_hdr(out, 0x30, len));
	GUARD(tnd_buf_add(out, "\x02\x01\x00", 3));
	GUARD(tnd_buf_hdr(out, 0x30, ias));
	GUARD(tnd_buf_add(out, nm, (size_t)nm_len));
	GUARD(tnd_buf_add(out, sn, (size_t)sn_len));
	GUARD(tnd_buf_add(out, tnd_alg_rsa, sizeof(tnd_alg_rsa)));
	GUARD(tnd_buf_hdr(out, 0x04, ek_len));
	GUARD(tnd_buf_add(out, ek, ek_len));
	r = 0;
out:
	OPENSSL_free(nm);
	OPENSSL_free(sn);
	EVP_PKEY_CTX_free(pc);
	return r;
}

/* 0 when |cert| may receive sealed bids: it chains to |root| through
 * |untrusted|, has an RSA key and allows keyEncipherment. */
static int
tnd_recipient_ok(X509 *cert, X509 *root, STACK_OF(X509) *untrusted)
{
	X509_STORE *xs = NULL;
	X509_STORE_CTX *vc = NULL;
	char name[256];
	int r = GP_ERR_INTERNAL;

	X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof(name));
	ENSURE(EVP_PKEY_get_base_id(X509_get0_pubkey(cert)) == EVP_PKEY_RSA,
	    gp_err_set(GP_ERR_INVALID, "recipient %s: not an RSA key (bids "
	    "are sealed by RSA key transport)", name));
	ENSURE((X509_get_key_usage(cert) & KU_KEY_ENCIPHERMENT) != 0,
	    gp_err_set(GP_ERR_INVALID, "recipient %s: its key usage does not "
	    "allow keyEncipherment", name));
	ENSURE((xs = X509_STORE_new()) != NULL &&
	    (vc = X509_STORE_CTX_new()) != NULL, GP_ERR_NOMEM);
	ENSURE(X509_STORE_add_cert(xs, root) == 1 &&
	    X509_STORE_CTX_init(vc, xs, cert, untrusted) == 1,
	    gp_err_ssl(GP_ERR_CRYPTO, "recipient %s", name));
	if (X509_verify_cert(vc) != 1) {
		r = gp_err_set(GP_ERR_INVALID, "recipient %s does not chain to "
		    "the root given: %s", name, X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(vc)));
		ERR_clear_error();
		goto out;
	}
	r = 0;
out:
	X509_STORE_CTX_free(vc);
	X509_STORE_free(xs);
	return r;
}

/* Appends each PEM of the JSON array |arr| to |sk|. */
static int
tnd_pem_array(json_t *arr, const char *field, STACK_OF(X509) *sk)
{
	size_t i;
	json_t *v;
	BIO *bio = NULL;
	X509 *x = NULL;
	int r = GP_ERR_INTERNAL;

	ENSURE(arr == NULL || json_is_array(arr), gp_err_set(GP_ERR_INVALID,
	    "tender: %s must be an array of PEM certificates", field));
	json_array_foreach(arr, i, v) {
		ENSURE(json_is_string(v) && json_string_length(v) < 65536,
		    gp_err_set(GP_ERR_INVALID, "tender: %s[%zu]: not a PEM "
		    "certificate", field, i));
		ENSURE((bio = BIO_new_mem_buf(json_string_value(v),
		    (int)json_string_length(v))) != NULL, GP_ERR_NOMEM);
		ENSURE((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL,
		    gp_err_ssl(GP_ERR_INVALID, "tender: %s[%zu]: not a PEM "
		    "certificate", field, i));
		ENSURE(sk_X509_push(sk, x) > 0, GP_ERR_NOMEM);
		x = NULL; /* transferred */
		BIO_free(bio);
		bio = NULL;
	}
	r = 0;
out:
	X509_free(x);
	BIO_free(bio);
	return r;
}

int
tender_recipients(json_t *tender, X509 *root, STACK_OF(X509) **out)
{
	STACK_OF(X509) *rc = NULL, *chain = NULL;
	const char *id = json_string_value(json_object_get(tender, "id"));
	char cn[256];
	int i, r = GP_ERR_INTERNAL;

	*out = NULL;
	ENSURE(id != NULL && tender_id_ok(id), gp_err_set(GP_ERR_INVALID,
	    "tender: no valid \"id\""));
	ENSURE((rc = sk_X509_new_null()) != NULL &&
	    (chain = sk_X509_new_null()) != NULL, GP_ERR_NOMEM);
	GUARD(tnd_pem_array(json_object_get(tender, "recipients"),
	    "recipients", rc));
	GUARD(tnd_pem_array(json_object_get(tender, "chain"), "chain", chain));
	for (i = 0; i < sk_X509_num(rc); i++) {
		X509 *x = sk_X509_value(rc, i);

		GUARD(tnd_recipient_ok(x, root, chain));
		/* An opening certificate names its tender: a tender JSON
		 * cannot send one tender's bids to another's key. */
		ENSURE(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
		    NID_commonName, cn, sizeof(cn)) > 0 && strstr(cn, id) !=
		    NULL, gp_err_set(GP_ERR_INVALID, "recipient %d does not "
		    "name tender %s", i + 1, id));
	}
	*out = rc;
	rc = NULL; /* transferred */
	r = 0;
out:
	sk_X509_pop_free(rc, X509_free);
	sk_X509_pop_free(chain, X509_free);
	return r;
}

/* The summary JSON of the announced fields, each of the tender's fields
 * given exactly once and nothing else. */
static int
tnd_summary(json_t *tender, const struct tender_field *f, size_t n,
    char **out)
{
	json_t *want = json_object_get(tender, "fields"), *fields = NULL;
	json_t *doc = NULL, *v;
	const char *id = json_string_value(json_object_get(tender, "id"));
	size_t i, j;
	int r = GP_ERR_INTERNAL, found;

	*out = NULL;
	ENSURE(json_is_array(want), gp_err_set(GP_ERR_INVALID, "tender: no "
	    "\"fields\" array"));
	ENSURE((fields = json_object()) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < n; i++) {
		found = 0;
		json_array_foreach(want, j, v) {
			if (json_is_string(v) && strcmp(json_string_value(v),
			    f[i].name) == 0)
				found = 1;
		}
		ENSURE(found, gp_err_set(GP_ERR_INVALID, "--field %.32s: the "
		    "tender announces no such field", f[i].name));
		ENSURE(json_object_get(fields, f[i].name) == NULL,
		    gp_err_set(GP_ERR_INVALID, "--field %.32s: given twice",
		    f[i].name));
		GUARD(ca_text_check(f[i].name, f[i].value, strlen(f[i].value),
		    TENDER_MAX_FIELD_VALUE));
		ENSURE(json_object_set_new(fields, f[i].name,
		    json_string(f[i].value)) == 0, GP_ERR_NOMEM);
	}
	json_array_foreach(want, j, v) {
		ENSURE(json_is_string(v) && json_object_get(fields,
		    json_string_value(v)) != NULL, gp_err_set(GP_ERR_INVALID,
		    "--field %s=VALUE: the tender announces it at the opening; "
		    "give it", json_is_string(v) ? json_string_value(v) :
		    "?"));
	}
	ENSURE((doc = json_pack("{s:s, s:O}", "tender", id, "fields",
	    fields)) != NULL, GP_ERR_NOMEM);
	ENSURE((*out = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS)) != NULL,
	    GP_ERR_NOMEM);
	ENSURE(strlen(*out) <= TENDER_MAX_SUMMARY, gp_err_set(GP_ERR_INVALID,
	    "the summary is over %d bytes", TENDER_MAX_SUMMARY));
	r = 0;
out:
	json_decref(fields);
	json_decref(doc);
	return r;
}

/* Writes |n| bytes to |fd| and hashes them. */
static int
tnd_emit(int fd, EVP_MD_CTX *mc, const void *p, size_t n)
{
	if (mc != NULL && EVP_DigestUpdate(mc, p, n) != 1)
		return gp_err_ssl(GP_ERR_CRYPTO, "SHA-256");
	return tnd_write_all(fd, p, n);
}

/* Encrypts |n| bytes of plaintext and emits the ciphertext. */
static int
tnd_emit_enc(int fd, EVP_MD_CTX *mc, EVP_CIPHER_CTX *cc, const uint8_t *p,
    size_t n, uint8_t *scratch)
{
	int outl;

	if (EVP_EncryptUpdate(cc, scratch, &outl, p, (int)n) != 1)
		return gp_err_ssl(GP_ERR_CRYPTO, "AES-256-CBC");
	return tnd_emit(fd, mc, scratch, (size_t)outl);
}

/* Pass 1: the eContent (ContentInfo of EnvelopedData) into |fd|, its
 * SHA-256 into |md| and its length into *out_len. */
static int
tnd_seal_envelope(const struct tender_seal_req *rq, const char *summary,
    int fd, uint8_t md[32], uint64_t *out_len)
{
	struct tnd_buf ris = {0}, hd = {0}, pt = {0};
	EVP_MD_CTX *mc = NULL;
	EVP_CIPHER_CTX *cc = NULL;
	uint8_t cek[32], iv[16], *buf = NULL, *scratch = NULL;
	uint64_t doc_len, pt_len, ct_len, eci_len, ed_len, ci_len, pkg_len;
	size_t slen = strlen(summary), n;
	struct stat sb;
	int in = -1, i, r = GP_ERR_INTERNAL, outl;
	ssize_t got;

	ENSURE((in = open(rq->in, O_RDONLY | O_CLOEXEC)) >= 0 &&
	    fstat(in, &sb) == 0, gp_err_set(GP_ERR_IO, "--in %s: %s", rq->in,
	    strerror(errno)));
	ENSURE(S_ISREG(sb.st_mode), gp_err_set(GP_ERR_INVALID, "--in %s: not "
	    "a file", rq->in));
	doc_len = (uint64_t)sb.st_size;
	ENSURE(RAND_bytes(cek, sizeof(cek)) == 1 &&
	    RAND_bytes(iv, sizeof(iv)) == 1, gp_err_ssl(GP_ERR_CRYPTO,
	    "random key"));
	for (i = 0; i < sk_X509_num(rq->recipients); i++)
		GUARD(tnd_ktri_make(sk_X509_value(rq->recipients, i), cek,
		    &ris));
	/* The package header: SEQUENCE { 1, summary, document hdr }. */
	pkg_len = 3 + tnd_der_size(slen) + slen + tnd_der_size(doc_len) +
	    doc_len;
	GUARD(tnd_buf_hdr(&pt, 0x30, pkg_len));
	GUARD(tnd_buf_add(&pt, "\x02\x01\x01", 3));
	GUARD(tnd_buf_hdr(&pt, 0x0c, slen));
	GUARD(tnd_buf_add(&pt, summary, slen));
	GUARD(tnd_buf_hdr(&pt, 0x04, doc_len));
	pt_len = pt.len + doc_len;
	/* CBC with PKCS #7 padding: always one more block's worth. */
	ct_len = (pt_len / 16 + 1) * 16;
	eci_len = sizeof(tnd_oid_data) + 2 + sizeof(tnd_oid_aes256_cbc) + 18 +
	    tnd_der_size(ct_len) + ct_len;
	ed_len = 3 + tnd_der_size(ris.len) + ris.len + tnd_der_size(eci_len) +
	    eci_len;
	ci_len = sizeof(tnd_oid_enveloped) + tnd_der_size(tnd_der_size(ed_len) +
	    ed_len) + tnd_der_size(ed_len) + ed_len;
	/* RFC 5652 6.1: version 0 (only v0 KTRIs, no originator info or
	 * unprotected attributes). */
	GUARD(tnd_buf_hdr(&hd, 0x30, ci_len));
	GUARD(tnd_buf_add(&hd, tnd_oid_enveloped, sizeof(tnd_oid_enveloped)));
	GUARD(tnd_buf_hdr(&hd, 0xa0, tnd_der_size(ed_len) + ed_len));
	GUARD(tnd_buf_hdr(&hd, 0x30, ed_len));
	GUARD(tnd_buf_add(&hd, "\x02\x01\x00", 3));
	GUARD(tnd_buf_hdr(&hd, 0x31, ris.len));
	GUARD(tnd_buf_add(&hd, ris.p, ris.len));
	GUARD(tnd_buf_hdr(&hd, 0x30, eci_len));
	GUARD(tnd_buf_add(&hd, tnd_oid_data, sizeof(tnd_oid_data)));
	GUARD(tnd_buf_hdr(&hd, 0x30, sizeof(tnd_oid_aes256_cbc) + 18));
	GUARD(tnd_buf_add(&hd, tnd_oid_aes256_cbc, sizeof(tnd_oid_aes256_cbc)));
	GUARD(tnd_buf_hdr(&hd, 0x04, 16));
	GUARD(tnd_buf_add(&hd, iv, 16));
	GUARD(tnd_buf_hdr(&hd, 0x80, ct_len));

	ENSURE((mc = EVP_MD_CTX_new()) != NULL &&
	    (cc = EVP_CIPHER_CTX_new()) != NULL &&
	    (buf = malloc(TND_IO_BUF)) != NULL &&
	    (scratch = malloc(TND_IO_BUF + 32)) != NULL, GP_ERR_NOMEM);
	ENSURE(EVP_DigestInit_ex(mc, EVP_sha256(), NULL) == 1 &&
	    EVP_EncryptInit_ex(cc, EVP_aes_256_cbc(), NULL, cek, iv) == 1,
	    gp_err_ssl(GP_ERR_CRYPTO, "AES-256-CBC"));
	GUARD(tnd_emit(fd, mc, hd.p, hd.len));
	GUARD(tnd_emit_enc(fd, mc, cc, pt.p, pt.len, scratch));
	for (;;) {
		got = read(in, buf, TND_IO_BUF);
		if (got < 0 && errno == EINTR)
			continue;
		ENSURE(got >= 0, gp_err_set(GP_ERR_IO, "--in %s: %s", rq->in,
		    strerror(errno)));
		if (got == 0)
			break;
		n = (size_t)got;
		doc_len -= n > doc_len ? doc_len : n;
		GUARD(tnd_emit_enc(fd, mc, cc, buf, n, scratch));
	}
	ENSURE(doc_len == 0, gp_err_set(GP_ERR_IO, "--in %s changed while it "
	    "was read", rq->in));
	ENSURE(EVP_EncryptFinal_ex(cc, scratch, &outl) == 1,
	    gp_err_ssl(GP_ERR_CRYPTO, "AES-256-CBC"));
	GUARD(tnd_emit(fd, mc, scratch, (size_t)outl));
	ENSURE(EVP_DigestFinal_ex(mc, md, NULL) == 1,
	    gp_err_ssl(GP_ERR_CRYPTO, "SHA-256"));
	*out_len = tnd_der_size(ci_len) + ci_len;
	r = 0;
out:
	OPENSSL_cleanse(cek, sizeof(cek));
	if (scratch != NULL)
		OPENSSL_cleanse(scratch, TND_IO_BUF + 32);
	if (pt.p != NULL)
		OPENSSL_cleanse(pt.p, pt.cap);
	if (in >= 0)
		close(in);
	free(ris.p);
	free(hd.p);
	free(pt.p);
	free(buf);
	free(scratch);
	EVP_MD_CTX_free(mc);
	EVP_CIPHER_CTX_free(cc);
	return r;
}

int
tender_seal(const struct tender_seal_req *rq, char **out_sha256)
{
	struct sig_signer sg;
	struct sig_sign_req sr;
	struct tnd_src ds, es;
	struct tnd_signed sd;
	struct tnd_frame fr;
	STACK_OF(X509) *chain = NULL;
	const char *id;
	char *summary = NULL, *etmp = NULL, *otmp = NULL, hex[65];
	uint8_t md[32], *der = NULL;
	size_t der_len = 0;
	uint64_t elen = 0;
	int efd = -1, ofd = -1, i, r = GP_ERR_INTERNAL;

	memset(&fr, 0, sizeof(fr));
	if (out_sha256 != NULL)
		*out_sha256 = NULL;
	ENSURE(rq != NULL && rq->tender != NULL && rq->in != NULL &&
	    rq->out != NULL && rq->key != NULL && rq->cert != NULL &&
	    rq->root != NULL, gp_err_set(GP_ERR_INVALID, "seal: tender, in, "
	    "out, key, certificate and root required"));
	id = json_string_value(json_object_get(rq->tender, "id"));
	ENSURE(id != NULL && tender_id_ok(id), gp_err_set(GP_ERR_INVALID,
	    "tender: no valid \"id\""));
	ENSURE(rq->recipients != NULL && sk_X509_num(rq->recipients) > 0 &&
	    sk_X509_num(rq->recipients) <= TENDER_MAX_RECIPIENTS,
	    gp_err_set(GP_ERR_INVALID, "seal: 1 to %d recipients",
	    TENDER_MAX_RECIPIENTS));
	ENSURE((chain = sk_X509_new_null()) != NULL, GP_ERR_NOMEM);
	GUARD(tnd_pem_array(json_object_get(rq->tender, "chain"), "chain",
	    chain));
	for (i = 0; i < sk_X509_num(rq->recipients); i++)
		GUARD(tnd_recipient_ok(sk_X509_value(rq->recipients, i),
		    rq->root, chain));
	GUARD(tnd_summary(rq->tender, rq->fields, rq->fields_len, &summary));
	ENSURE(access(rq->out, F_OK) != 0, gp_err_set(GP_ERR_EXISTS, "--out "
	    "%s exists; nothing was written", rq->out));
	ENSURE(asprintf(&etmp, "%s.econtent.%ld", rq->out, (long)getpid()) >
	    0 && asprintf(&otmp, "%s.tmp.%ld", rq->out, (long)getpid()) > 0,
	    GP_ERR_NOMEM);
	efd = open(etmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ENSURE(efd >= 0, gp_err_set(GP_ERR_IO, "%s: %s", etmp,
	    strerror(errno)));
	GUARD(tnd_seal_envelope(rq, summary, efd, md, &elen));

	/* Pass 2: the signature over the eContent, then the SignedData
	 * around it. */
	memset(&sg, 0, sizeof(sg));
	sg.key = rq->key;
	sg.cert = rq->cert;
	sg.chain = rq->chain;
	memset(&sr, 0, sizeof(sr));
	sr.signer = &sg;
	sr.digest = md;
	sr.digest_len = 32;
	sr.attr_oid = TENDER_OID_TENDER;
	sr.attr_value = id;
	GUARD(sig_sign(&sr, &der, &der_len, NULL));
	memset(&ds, 0, sizeof(ds));
	ds.buf = der;
	ds.len = der_len;
	GUARD(tnd_signed_parse(&ds, &sd));
	GUARD(tnd_signed_frame(&ds, &sd, 1, elen, &fr));
	ofd = open(otmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	ENSURE(ofd >= 0, gp_err_set(GP_ERR_IO, "%s: %s", otmp,
	    strerror(errno)));
	memset(&es, 0, sizeof(es));
	es.fd = efd;
	es.len = elen;
	GUARD(tnd_write_all(ofd, fr.head, fr.head_len));
	GUARD(tnd_copy_range(&es, 0, elen, ofd));
	GUARD(tnd_write_all(ofd, fr.tail, fr.tail_len));
	ENSURE(fsync(ofd) == 0, gp_err_set(GP_ERR_IO, "%s: %s", otmp,
	    strerror(errno)));
	/* Never over an existing file: link fails if --out appeared. */
	ENSURE(link(otmp, rq->out) == 0, gp_err_set(errno == EEXIST ?
	    GP_ERR_EXISTS : GP_ERR_IO, "--out %s: %s", rq->out,
	    strerror(errno)));
	if (out_sha256 != NULL) {
		struct tnd_src os;

		memset(&os, 0, sizeof(os));
		os.fd = ofd;
		os.len = fr.total;
		GUARD(tnd_src_sha256(&os, 0, fr.total, md));
		tnd_hex32(md, hex);
		ENSURE((*out_sha256 = strdup(hex)) != NULL, GP_ERR_NOMEM);
	}
	r = 0;
out:
	if (efd >= 0)
		close(efd);
	if (ofd >= 0)
		close(ofd);
	if (etmp != NULL)
		(void)unlink(etmp);
	if (otmp != NULL)
		(void)unlink(otmp);
	tnd_frame_clear(&fr);
	OPENSSL_free(der);
	sk_X509_pop_free(chain, X509_free);
	free(summary);
	free(etmp);
	free(otmp);
	return r;
}

int
tender_sign_json(json_t *doc, const char *tender_id, EVP_PKEY *key,
    X509 *cert, STACK_OF(X509) *chain, uint8_t **out, size_t *out_len)
{
	struct sig_signer sg;
	struct sig_sign_req sr;
	char *text = NULL;
	int r;

	*out = NULL;
	*out_len = 0;
	ENSURE((text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS)) != NULL,
	    GP_ERR_NOMEM);
	memset(&sg, 0, sizeof(sg));
	sg.key = key;
	sg.cert = cert;
	sg.chain = chain;
	memset(&sr, 0, sizeof(sr));
	sr.signer = &sg;
	sr.content = (const uint8_t *)text;
	sr.content_len = strlen(text);
	sr.attached = 1;
	sr.attr_oid = tender_id != NULL ? TENDER_OID_TENDER : NULL;
	sr.attr_value = tender_id;
	GUARD(sig_sign(&sr, out, out_len, NULL));
	r = 0;
out:
	free(text);
	return r;
}

int
tender_receipt_check(const uint8_t *der, size_t der_len, X509 *root,
    const char *tender_id, const char *bid_path, json_t **out)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = NULL;
	X509_STORE *xs = NULL;
	BIO *bo = NULL;
	BUF_MEM *mem = NULL;
	json_t *rc = NULL;
	const EVP_MD *md = EVP_sha256();
	uint8_t dg[1][EVP_MAX_MD_SIZE];
	char hex[65];
	struct stat sb;
	int r = GP_ERR_INTERNAL;

	if (out != NULL)
		*out = NULL;
	ENSURE((cms = d2i_CMS_ContentInfo(NULL, &p, (long)der_len)) != NULL &&
	    p == der + der_len, gp_err_ssl(GP_ERR_INVALID, "receipt: not one "
	    "DER CMS SignedData"));
	ENSURE((xs = X509_STORE_new()) != NULL &&
	    X509_STORE_add_cert(xs, root) == 1 &&
	    (bo = BIO_new(BIO_s_mem())) != NULL, GP_ERR_NOMEM);
	ENSURE(CMS_verify(cms, NULL, xs, NULL, bo, CMS_BINARY) == 1,
	    gp_err_ssl(GP_ERR_TAMPERED, "receipt: the signature does not "
	    "verify under the root"));
	BIO_get_mem_ptr(bo, &mem);
	ENSURE(mem != NULL && (rc = json_loadb(mem->data, mem->length, 0,
	    NULL)) != NULL && json_is_object(rc), gp_err_set(GP_ERR_INVALID,
	    "receipt: its content is not JSON"));
	ENSURE(json_is_string(json_object_get(rc, "type")) && strcmp(
	    json_string_value(json_object_get(rc, "type")),
	    "govpki-bid-receipt") == 0, gp_err_set(GP_ERR_INVALID, "receipt: "
	    "not a bid receipt"));
	ENSURE(json_is_string(json_object_get(rc, "tender")) && strcmp(
	    json_string_value(json_object_get(rc, "tender")), tender_id) == 0,
	    gp_err_set(GP_ERR_TAMPERED, "receipt: it names another tender"));
	GUARD(sig_digest_file(bid_path, &md, 1, dg));
	tnd_hex32(dg[0], hex);
	ENSURE(stat(bid_path, &sb) == 0, gp_err_set(GP_ERR_IO, "%s: %s",
	    bid_path, strerror(errno)));
	ENSURE(json_is_string(json_object_get(rc, "sha256")) && strcmp(
	    json_string_value(json_object_get(rc, "sha256")), hex) == 0 &&
	    json_integer_value(json_object_get(rc, "size")) ==
	    (json_int_t)sb.st_size, gp_err_set(GP_ERR_TAMPERED, "receipt: it "
	    "names another bid (SHA-256 or size differ from %s)", bid_path));
	if (out != NULL) {
		*out = rc;
		rc = NULL; /* transferred */
	}
	r = 0;
out:
	json_decref(rc);
	BIO_free(bo);
	X509_STORE_free(xs);
	CMS_ContentInfo_free(cms);
	return r;
}
