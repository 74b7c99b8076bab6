/*
 * tnd_bid.c: the parser of sealed bids, the untrusted input of
 * POST /tenders/<id>/bids (tests/fuzz/fuzz_bid.c), and what the opening
 * does with a bid it parsed: unwrap the content-encryption key from a
 * recipient info and decrypt the content as a stream into the bid
 * package, whose summary it then reads.
 *
 * The parse is structural and names the first rule the bid breaks:
 * "unsigned" (an EnvelopedData without a signature, or no SignerInfo),
 * "unencrypted" (the signed content is not a ContentInfo of
 * EnvelopedData: a plain signed document), "unsupported_encryption"
 * (AuthEnvelopedData, another cipher, recipient infos other than key
 * transport), "missing_recipient" (none at all), "malformed" (anything
 * else). Whether the signature holds and whether the recipients are the
 * ones the tender requires is decided by tnd_submit.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "tender/internal.h"

int
tnd_refuse(struct tender_refusal *why, const char *rule, unsigned int status,
    const char *fmt, ...)
{
	va_list ap;
	int code = tnd_status_code(status);

	if (why == NULL)
		return code;
	why->rule = rule;
	why->status = status;
	va_start(ap, fmt);
	vsnprintf(why->message, sizeof(why->message), fmt, ap);
	va_end(ap);
	return gp_err_set(code, "%s: %s", rule, why->message);
}

/* The EnvelopedData inside the eContent [a, b). */
static int
tnd_bid_envelope(const struct tnd_src *s, struct tnd_bid *out,
    struct tender_refusal *why)
{
	struct tnd_tlv ci, oid, ex, ed, t, eci, ct, alg, aoid, iv;
	uint64_t a = tnd_tlv_body(&out->sd.econtent);
	uint64_t b = tnd_tlv_end(&out->sd.econtent);
	uint64_t pos = a, end, epos, apos;
	int r;

	/* A plain signed document does not parse as a ContentInfo of
	 * EnvelopedData filling the content: that is the "unencrypted"
	 * rule, whatever else it is. */
	if (tnd_der_hdr(s, pos, b, &ci) != 0 || ci.tag != 0x30 ||
	    tnd_tlv_end(&ci) != b) {
		r = tnd_refuse(why, "unencrypted", 400, "the signed content is "
		    "not a CMS ContentInfo of EnvelopedData: an unencrypted "
		    "bid is refused (Measures for Electronic Bidding art. "
		    "27); seal it with `govpki bid seal`");
		goto out;
	}
	pos = tnd_tlv_body(&ci);
	if (tnd_der_expect(s, &pos, b, 0x06, "content type", &oid) != 0) {
		r = tnd_refuse(why, "unencrypted", 400, "the signed content "
		    "has no content type: an unencrypted bid is refused");
		goto out;
	}
	if (tnd_der_is(s, &oid, tnd_oid_auth_enveloped,
	    sizeof(tnd_oid_auth_enveloped))) {
		r = tnd_refuse(why, "unsupported_encryption", 400, "the bid is "
		    "AuthEnvelopedData; govpki takes EnvelopedData with "
		    "AES-256-CBC (its signature protects the ciphertext)");
		goto out;
	}
	if (!tnd_der_is(s, &oid, tnd_oid_enveloped,
	    sizeof(tnd_oid_enveloped))) {
		r = tnd_refuse(why, "unencrypted", 400, "the signed content "
		    "is not EnvelopedData (1.2.840.113549.1.7.3): an "
		    "unencrypted bid is refused (Measures for Electronic "
		    "Bidding art. 27)");
		goto out;
	}
	if (tnd_der_expect(s, &pos, b, 0xa0, "EnvelopedData [0]", &ex) != 0 ||
	    pos != b)
		goto malformed;
	pos = tnd_tlv_body(&ex);
	if (tnd_der_expect(s, &pos, b, 0x30, "EnvelopedData", &ed) != 0 ||
	    pos != b)
		goto malformed;
	/* RFC 5652 6.1: EnvelopedData ::= SEQUENCE { version,
	 * originatorInfo [0] OPTIONAL, recipientInfos, encryptedContentInfo,
	 * unprotectedAttrs [1] OPTIONAL } */
	pos = tnd_tlv_body(&ed);
	end = tnd_tlv_end(&ed);
	if (tnd_der_expect(s, &pos, end, 0x02, "EnvelopedData version",
	    &t) != 0 || tnd_der_hdr(s, pos, end, &t) != 0)
		goto malformed;
	if (t.tag == 0xa0)
		pos = tnd_tlv_end(&t); /* originatorInfo: not used here */
	if (tnd_der_expect(s, &pos, end, 0x31, "recipientInfos",
	    &out->recipient_infos) != 0)
		goto malformed;
	if (out->recipient_infos.len == 0) {
		r = tnd_refuse(why, "missing_recipient", 400, "the "
		    "EnvelopedData has no recipient at all");
		goto out;
	}
	if (tnd_der_expect(s, &pos, end, 0x30, "encryptedContentInfo",
	    &eci) != 0)
		goto malformed;
	if (pos < end) {
		if (tnd_der_expect(s, &pos, end, 0xa1, "unprotectedAttrs",
		    &t) != 0 || pos != end)
			goto malformed;
	}
	/* EncryptedContentInfo ::= SEQUENCE { contentType,
	 * contentEncryptionAlgorithm, encryptedContent [0] IMPLICIT
	 * OPTIONAL } */
	epos = tnd_tlv_body(&eci);
	if (tnd_der_expect(s, &epos, tnd_tlv_end(&eci), 0x06,
	    "encrypted content type", &ct) != 0 ||
	    tnd_der_expect(s, &epos, tnd_tlv_end(&eci), 0x30,
	    "contentEncryptionAlgorithm", &alg) != 0)
		goto malformed;
	apos = tnd_tlv_body(&alg);
	if (tnd_der_expect(s, &apos, tnd_tlv_end(&alg), 0x06, "algorithm",
	    &aoid) != 0)
		goto malformed;
	/* RFC 3565 4.1: AES-CBC parameters are the 16-byte IV. */
	if (!tnd_der_is(s, &aoid, tnd_oid_aes256_cbc,
	    sizeof(tnd_oid_aes256_cbc)) || tnd_der_expect(s, &apos,
	    tnd_tlv_end(&alg), 0x04, "IV", &iv) != 0 || iv.len != 16 ||
	    apos != tnd_tlv_end(&alg)) {
		r = tnd_refuse(why, "unsupported_encryption", 400, "the content "
		    "encryption is not AES-256-CBC with a 16-byte IV (RFC "
		    "3565); seal it with `govpki bid seal`");
		goto out;
	}
	GUARD(tnd_src_read(s, tnd_tlv_body(&iv), out->iv, 16));
	if (epos >= tnd_tlv_end(&eci)) {
		r = tnd_refuse(why, "malformed", 400, "the EnvelopedData "
		    "carries no encrypted content");
		goto out;
	}
	/* DER: the [0] IMPLICIT OCTET STRING is primitive. */
	if (tnd_der_expect(s, &epos, tnd_tlv_end(&eci), 0x80,
	    "encryptedContent (primitive [0])", &out->enc_content) != 0 ||
	    epos != tnd_tlv_end(&eci))
		goto malformed;
	if (out->enc_content.len == 0 || out->enc_content.len % 16 != 0) {
		r = tnd_refuse(why, "malformed", 400, "the encrypted content "
		    "is not whole AES blocks");
		goto out;
	}
	r = 0;
	goto out;
malformed:
	r = tnd_refuse(why, "malformed", 400, "the EnvelopedData does not "
	    "parse: %s", gp_err_detail());
out:
	return r;
}

int
tnd_bid_parse(const struct tnd_src *s, struct tnd_bid *out,
    struct tender_refusal *why)
{
	char detail[512];
	int r;

	memset(out, 0, sizeof(*out));
	r = tnd_signed_parse(s, &out->sd);
	if (r != 0) {
		snprintf(detail, sizeof(detail), "%s", gp_err_detail());
		if (out->sd.unsigned_envelope)
			return tnd_refuse(why, "unsigned", 400, "the bid is "
			    "encrypted but not signed; the bidder must sign "
			    "it with its certificate (`govpki bid seal`)");
		if (r == GP_ERR_IO)
			return r;
		return tnd_refuse(why, "malformed", 400, "the bid is not one "
		    "DER CMS SignedData: %s", detail);
	}
	if (out->sd.signer_infos.len == 0)
		return tnd_refuse(why, "unsigned", 400, "the SignedData has no "
		    "SignerInfo: the bid is not signed");
	if (!out->sd.attached)
		return tnd_refuse(why, "malformed", 400, "the SignedData "
		    "carries no content (a detached signature); the sealed "
		    "bid goes inside it");
	/* The content type of what is signed: id-data holding the
	 * EnvelopedData's ContentInfo (tender.h "Formats"). */
	if (!tnd_der_is(s, &out->sd.econtent_type, tnd_oid_data,
	    sizeof(tnd_oid_data)))
		return tnd_refuse(why, "malformed", 400, "eContentType is not "
		    "id-data (1.2.840.113549.1.7.1) holding a ContentInfo of "
		    "EnvelopedData");
	return tnd_bid_envelope(s, out, why);
}

void
tnd_ktri_free(struct tnd_ktri *k, size_t n)
{
	size_t i;

	if (k == NULL)
		return;
	for (i = 0; i < n; i++) {
		X509_NAME_free(k[i].issuer);
		ASN1_INTEGER_free(k[i].serial);
		ASN1_OCTET_STRING_free(k[i].ski);
	}
	free(k);
}

/* One KeyTransRecipientInfo from the DER at [p, p+len). RFC 5652
 * 6.2.1: SEQUENCE { version, rid, keyEncryptionAlgorithm,
 * encryptedKey }. */
static int
tnd_ktri_one(const struct tnd_src *s, const struct tnd_tlv *ri,
    struct tnd_ktri *k)
{
	struct tnd_tlv t, rid, alg, ek;
	uint64_t pos = tnd_tlv_body(ri), end = tnd_tlv_end(ri), rpos;
	uint8_t *der = NULL;
	size_t der_len = 0;
	const unsigned char *p;
	X509_ALGOR *a = NULL;
	int r;

	GUARD(tnd_der_expect(s, &pos, end, 0x02, "KTRI version", &t));
	GUARD(tnd_der_hdr(s, pos, end, &rid));
	pos = tnd_tlv_end(&rid);
	if (rid.tag == 0x30) {
		/* IssuerAndSerialNumber ::= SEQUENCE { issuer, serial } */
		struct tnd_tlv nm, sn;

		rpos = tnd_tlv_body(&rid);
		GUARD(tnd_der_expect(s, &rpos, tnd_tlv_end(&rid), 0x30,
		    "issuer", &nm));
		GUARD(tnd_der_expect(s, &rpos, tnd_tlv_end(&rid), 0x02,
		    "serialNumber", &sn));
		ENSURE(rpos == tnd_tlv_end(&rid), gp_err_set(GP_ERR_INVALID,
		    "issuerAndSerialNumber: trailing fields"));
		GUARD(tnd_der_load(s, &nm, 8192, &der, &der_len));
		p = der;
		ENSURE((k->issuer = d2i_X509_NAME(NULL, &p, (long)der_len)) !=
		    NULL && p == der + der_len, gp_err_ssl(GP_ERR_INVALID,
		    "recipient issuer"));
		free(der);
		der = NULL;
		GUARD(tnd_der_load(s, &sn, 64, &der, &der_len));
		p = der;
		ENSURE((k->serial = d2i_ASN1_INTEGER(NULL, &p,
		    (long)der_len)) != NULL && p == der + der_len,
		    gp_err_ssl(GP_ERR_INVALID, "recipient serial"));
	} else if (rid.tag == 0x80) {
		/* subjectKeyIdentifier [0] IMPLICIT OCTET STRING */
		uint8_t buf[64];

		ENSURE(rid.len > 0 && rid.len <= sizeof(buf),
		    gp_err_set(GP_ERR_INVALID, "recipient key identifier of "
		    "%llu bytes", (unsigned long long)rid.len));
		GUARD(tnd_src_read(s, tnd_tlv_body(&rid), buf,
		    (size_t)rid.len));
		ENSURE((k->ski = ASN1_OCTET_STRING_new()) != NULL &&
		    ASN1_OCTET_STRING_set(k->ski, buf, (int)rid.len),
		    GP_ERR_NOMEM);
	} else {
		r = gp_err_set(GP_ERR_INVALID, "recipient identifier: tag "
		    "0x%02x", rid.tag);
		goto out;
	}
	GUARD(tnd_der_expect(s, &pos, end, 0x30, "keyEncryptionAlgorithm",
	    &alg));
	free(der);
	der = NULL;
	GUARD(tnd_der_load(s, &alg, 1024, &der, &der_len));
	p = der;
	ENSURE((a = d2i_X509_ALGOR(NULL, &p, (long)der_len)) != NULL &&
	    p == der + der_len, gp_err_ssl(GP_ERR_INVALID,
	    "keyEncryptionAlgorithm"));
	k->rsa_pkcs1 = OBJ_obj2nid(a->algorithm) == NID_rsaEncryption;
	GUARD(tnd_der_expect(s, &pos, end, 0x04, "encryptedKey", &ek));
	ENSURE(ek.len > 0 && ek.len <= sizeof(k->ek), gp_err_set(
	    GP_ERR_INVALID, "encryptedKey of %llu bytes",
	    (unsigned long long)ek.len));
	GUARD(tnd_src_read(s, tnd_tlv_body(&ek), k->ek, (size_t)ek.len));
	k->ek_len = (size_t)ek.len;
	ENSURE(pos == end, gp_err_set(GP_ERR_INVALID, "KTRI: trailing "
	    "fields"));
	r = 0;
out:
	X509_ALGOR_free(a);
	free(der);
	return r;
}

int
tnd_ktri_read(const struct tnd_src *s, const struct tnd_bid *b,
    struct tnd_ktri **out, size_t *out_len, struct tender_refusal *why)
{
	struct tnd_ktri *k = NULL;
	struct tnd_tlv ri;
	uint64_t pos = tnd_tlv_body(&b->recipient_infos);
	uint64_t end = tnd_tlv_end(&b->recipient_infos);
	size_t n = 0;
	int r;

	*out = NULL;
	*out_len = 0;
	if (b->recipient_infos.len > TND_MAX_RECIPIENT_INFOS)
		return tnd_refuse(why, "malformed", 400, "recipient infos over "
		    "%d bytes", TND_MAX_RECIPIENT_INFOS);
	if ((k = calloc(TENDER_MAX_RECIPIENTS, sizeof(*k))) == NULL)
		return GP_ERR_NOMEM;
	while (pos < end) {
		if (n == TENDER_MAX_RECIPIENTS) {
			r = tnd_refuse(why, "malformed", 400, "more than %d "
			    "recipients", TENDER_MAX_RECIPIENTS);
			goto out;
		}
		if (tnd_der_hdr(s, pos, end, &ri) != 0) {
			r = tnd_refuse(why, "malformed", 400, "recipient info "
			    "%zu: %s", n + 1, gp_err_detail());
			goto out;
		}
		pos = tnd_tlv_end(&ri);
		/* RFC 5652 6.2: ktri is the SEQUENCE; kari [1], kekri [2],
		 * pwri [3] and ori [4] are tagged. */
		if (ri.tag != 0x30) {
			r = tnd_refuse(why, "unsupported_encryption", 400,
			    "recipient info %zu is not key transport (RSA); "
			    "govpki seals bids to RSA recipients", n + 1);
			goto out;
		}
		if (tnd_ktri_one(s, &ri, &k[n]) != 0) {
			n++;
			r = tnd_refuse(why, "malformed", 400, "recipient info "
			    "%zu: %s", n, gp_err_detail());
			goto out;
		}
		n++;
	}
	*out = k;
	k = NULL; /* transferred */
	*out_len = n;
	n = 0;
	r = 0;
out:
	tnd_ktri_free(k, n);
	return r;
}

int
tnd_ktri_match(const struct tnd_ktri *k, X509 *cert)
{
	const ASN1_OCTET_STRING *ski;

	if (k->issuer != NULL)
		return X509_NAME_cmp(k->issuer, X509_get_issuer_name(cert)) ==
		    0 && ASN1_INTEGER_cmp(k->serial,
		    X509_get0_serialNumber(cert)) == 0;
	ski = X509_get0_subject_key_id(cert);
	return k->ski != NULL && ski != NULL &&
	    ASN1_OCTET_STRING_cmp(k->ski, ski) == 0;
}

int
tnd_cek_unwrap(EVP_PKEY *key, const struct tnd_ktri *k, uint8_t cek[32])
{
	EVP_PKEY_CTX *pc = NULL;
	uint8_t buf[1024];
	size_t len = sizeof(buf);
	int r = GP_ERR_INTERNAL;

	ENSURE(k->rsa_pkcs1, gp_err_set(GP_ERR_CRYPTO, "the key was not "
	    "wrapped with rsaEncryption"));
	ENSURE((pc = EVP_PKEY_CTX_new(key, NULL)) != NULL &&
	    EVP_PKEY_decrypt_init(pc) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1,
	    gp_err_ssl(GP_ERR_DEVICE, "the opening key cannot decrypt"));
	/* RFC 3370 4.2.1: rsaEncryption (PKCS #1 v1.5). Any failure here is
	 * "not wrapped for this key": the same answer whatever the cause,
	 * and the opening goes on. */
	if (EVP_PKEY_decrypt(pc, buf, &len, k->ek, k->ek_len) != 1 ||
	    len != 32) {
		ERR_clear_error();
		r = gp_err_set(GP_ERR_CRYPTO, "the content-encryption key does "
		    "not unwrap with this key");
		goto out;
	}
	memcpy(cek, buf, 32);
	r = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	EVP_PKEY_CTX_free(pc);
	return r;
}

void
tnd_package_clear(struct tnd_package *p)
{
	if (p == NULL)
		return;
	json_decref(p->summary);
	memset(p, 0, sizeof(*p));
}

int
tnd_package_parse(const struct tnd_src *s, struct tnd_package *pkg)
{
	struct tnd_tlv seq, v, sum, doc;
	uint64_t pos = 0, end;
	uint8_t ver[3], *text = NULL, md[32];
	json_error_t jerr;
	int r;

	memset(pkg, 0, sizeof(*pkg));
	/* BidPackage ::= SEQUENCE { version INTEGER (1), summary
	 * UTF8String, document OCTET STRING } (tender.h) */
	GUARD(tnd_der_expect(s, &pos, s->len, 0x30, "bid package", &seq));
	ENSURE(pos == s->len, gp_err_set(GP_ERR_INVALID, "bid package: "
	    "trailing bytes"));
	pos = tnd_tlv_body(&seq);
	end = tnd_tlv_end(&seq);
	GUARD(tnd_der_expect(s, &pos, end, 0x02, "bid package version", &v));
	ENSURE(v.len == 1, gp_err_set(GP_ERR_INVALID, "bid package: version "
	    "1 expected"));
	GUARD(tnd_src_read(s, v.off, ver, 3));
	ENSURE(ver[2] == 1, gp_err_set(GP_ERR_INVALID, "bid package: version "
	    "%u, not 1", ver[2]));
	GUARD(tnd_der_expect(s, &pos, end, 0x0c, "bid package summary",
	    &sum));
	ENSURE(sum.len <= TENDER_MAX_SUMMARY, gp_err_set(GP_ERR_INVALID,
	    "bid package: summary over %d bytes", TENDER_MAX_SUMMARY));
	ENSURE((text = malloc((size_t)sum.len + 1)) != NULL, GP_ERR_NOMEM);
	GUARD(tnd_src_read(s, tnd_tlv_body(&sum), text, (size_t)sum.len));
	pkg->summary = json_loadb((const char *)text, (size_t)sum.len,
	    JSON_REJECT_DUPLICATES, &jerr);
	ENSURE(pkg->summary != NULL && json_is_object(pkg->summary),
	    gp_err_set(GP_ERR_INVALID, "bid package: the summary is not a "
	    "JSON object"));
	GUARD(tnd_der_expect(s, &pos, end, 0x04, "bid package document",
	    &doc));
	ENSURE(pos == end, gp_err_set(GP_ERR_INVALID, "bid package: trailing "
	    "fields"));
	pkg->doc_off = tnd_tlv_body(&doc);
	pkg->doc_len = doc.len;
	GUARD(tnd_src_sha256(s, pkg->doc_off, pkg->doc_len, md));
	tnd_hex32(md, pkg->doc_sha256);
	r = 0;
out:
	if (r != 0)
		tnd_package_clear(pkg);
	free(text);
	return r;
}

int
tnd_content_decrypt(const struct tnd_src *s, const struct tnd_bid *b,
    const uint8_t cek[32], const char *out_path, struct tnd_package *pkg)
{
	EVP_CIPHER_CTX *cc = NULL;
	uint8_t *in = NULL, *outb = NULL;
	uint64_t off = tnd_tlv_body(&b->enc_content), len = b->enc_content.len;
	uint64_t done = 0, written = 0;
	char *tmp = NULL;
	struct tnd_src ps;
	struct stat sb;
	int fd = -1, r = GP_ERR_INTERNAL, n, outl;
	size_t chunk;

	memset(pkg, 0, sizeof(*pkg));
	ENSURE(asprintf(&tmp, "%s.tmp", out_path) > 0, GP_ERR_NOMEM);
	ENSURE((in = malloc(TND_IO_BUF)) != NULL &&
	    (outb = malloc(TND_IO_BUF + 32)) != NULL &&
	    (cc = EVP_CIPHER_CTX_new()) != NULL, GP_ERR_NOMEM);
	(void)unlink(tmp);
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ENSURE(fd >= 0, gp_err_set(GP_ERR_IO, "%s: %s", tmp, strerror(errno)));
	ENSURE(EVP_DecryptInit_ex(cc, EVP_aes_256_cbc(), NULL, cek, b->iv) ==
	    1, gp_err_ssl(GP_ERR_CRYPTO, "AES-256-CBC"));
	while (done < len) {
		chunk = len - done < TND_IO_BUF ? (size_t)(len - done) :
		    TND_IO_BUF;
		GUARD(tnd_src_read(s, off + done, in, chunk));
		ENSURE(EVP_DecryptUpdate(cc, outb, &outl, in, (int)chunk) == 1,
		    gp_err_ssl(GP_ERR_CRYPTO, "decrypting"));
		GUARD(tnd_write_all(fd, outb, (size_t)outl));
		written += (uint64_t)outl;
		done += chunk;
	}
	/* A wrong key shows here, as bad padding (or as a package that
	 * does not parse, below). */
	if (EVP_DecryptFinal_ex(cc, outb, &n) != 1) {
		ERR_clear_error();
		r = gp_err_set(GP_ERR_CRYPTO, "the content does not decrypt with "
		    "the content-encryption key (bad padding)");
		goto out;
	}
	GUARD(tnd_write_all(fd, outb, (size_t)n));
	written += (uint64_t)n;
	ENSURE(fsync(fd) == 0 && fstat(fd, &sb) == 0 && (uint64_t)sb.st_size ==
	    written, gp_err_set(GP_ERR_IO, "%s: %s", tmp, strerror(errno)));
	memset(&ps, 0, sizeof(ps));
	ps.fd = fd;
	ps.len = written;
	r = tnd_package_parse(&ps, pkg);
	if (r == GP_ERR_IO)
		goto out;
	if (r != 0) {
		r = gp_err_set(GP_ERR_INVALID, "the decrypted content is not a "
		    "bid package: %s", gp_err_detail());
		goto out;
	}
	ENSURE(rename(tmp, out_path) == 0, gp_err_set(GP_ERR_IO, "%s: %s",
	    out_path, strerror(errno)));
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (r != 0 && tmp != NULL)
		(void)unlink(tmp);
	if (r != 0)
		tnd_package_clear(pkg);
	if (outb != NULL)
		OPENSSL_cleanse(outb, TND_IO_BUF + 32);
	free(in);
	free(outb);
	free(tmp);
	EVP_CIPHER_CTX_free(cc);
	return r;
}

int
tnd_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return gp_err_set(GP_ERR_IO, "writing: %s",
			    n < 0 ? strerror(errno) : "nothing written");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
tnd_copy_range(const struct tnd_src *s, uint64_t off, uint64_t len, int fd)
{
	uint8_t *buf = malloc(TND_IO_BUF);
	uint64_t done = 0;
	size_t n;
	int r = GP_ERR_INTERNAL;

	ENSURE(buf != NULL, GP_ERR_NOMEM);
	while (done < len) {
		n = len - done < TND_IO_BUF ? (size_t)(len - done) : TND_IO_BUF;
		GUARD(tnd_src_read(s, off + done, buf, n));
		GUARD(tnd_write_all(fd, buf, n));
		done += n;
	}
	r = 0;
out:
	free(buf);
	return r;
}
