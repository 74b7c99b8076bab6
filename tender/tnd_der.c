/*
 * tnd_der.c: the DER of a sealed bid read and written without holding
 * the bid in memory. A bid may be hundreds of MB, almost all of it the
 * encrypted content inside the signed content; everything around that is
 * a few KB. So the parser walks the TLV headers through a source that is
 * either a buffer or a file read with pread (tender/internal.h, struct
 * tnd_src), records where each piece lies, and reads into memory only the
 * small pieces (signer infos, certificates, recipient infos), each
 * capped; the content itself is only ever streamed (hashed, decrypted,
 * copied). The same pieces frame a SignedData with or without its
 * content (tnd_signed_frame), which is how the client attaches the bid
 * to the detached signature sig_sign() made and the server detaches it
 * again for sig_verify().
 *
 * Only DER is read: definite lengths in their shortest form, low tag
 * numbers, and nothing after the outermost value (RFC 5652 says a
 * SignedData may be BER; govpki's client writes DER, and a bid in
 * another encoding is refused as malformed, naming the rule).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "tender/internal.h"

/* DER of the object identifiers the parser compares. */
const uint8_t tnd_oid_data[11] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7,
    0x0d, 0x01, 0x07, 0x01};
const uint8_t tnd_oid_signed[11] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
    0xf7, 0x0d, 0x01, 0x07, 0x02};
const uint8_t tnd_oid_enveloped[11] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
    0xf7, 0x0d, 0x01, 0x07, 0x03};
const uint8_t tnd_oid_auth_enveloped[13] = {0x06, 0x0b, 0x2a, 0x86, 0x48,
    0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x17};
const uint8_t tnd_oid_aes256_cbc[11] = {0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
    0x65, 0x03, 0x04, 0x01, 0x2a};

int
tnd_src_read(const struct tnd_src *s, uint64_t off, void *buf, size_t n)
{
	ssize_t got;
	size_t done = 0;

	if (off > s->len || n > s->len - off)
		return gp_err_set(GP_ERR_INVALID, "bid: read past the end "
		    "(offset %llu)", (unsigned long long)off);
	if (s->buf != NULL) {
		memcpy(buf, s->buf + off, n);
		return 0;
	}
	while (done < n) {
		got = pread(s->fd, (uint8_t *)buf + done, n - done,
		    (off_t)(off + done));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return gp_err_set(GP_ERR_IO, "bid file: reading at "
			    "%llu: %s", (unsigned long long)(off + done),
			    got < 0 ? strerror(errno) : "unexpected end");
		done += (size_t)got;
	}
	return 0;
}

int
tnd_der_hdr(const struct tnd_src *s, uint64_t off, uint64_t end,
    struct tnd_tlv *t)
{
	uint8_t h[10];
	size_t avail, n, i;
	uint64_t len = 0;

	memset(t, 0, sizeof(*t));
	if (off >= end || end > s->len)
		return gp_err_set(GP_ERR_INVALID, "DER: a value is missing at "
		    "offset %llu", (unsigned long long)off);
	avail = end - off < sizeof(h) ? (size_t)(end - off) : sizeof(h);
	if (avail < 2)
		return gp_err_set(GP_ERR_INVALID, "DER: truncated header at "
		    "offset %llu", (unsigned long long)off);
	if (tnd_src_read(s, off, h, avail) != 0)
		return GP_ERR_IO;
	if ((h[0] & 0x1f) == 0x1f)
		return gp_err_set(GP_ERR_INVALID, "DER: high tag number at "
		    "offset %llu", (unsigned long long)off);
	t->tag = h[0];
	t->off = off;
	if (h[1] < 0x80) {
		len = h[1];
		t->hlen = 2;
	} else if (h[1] == 0x80) {
		return gp_err_set(GP_ERR_INVALID, "DER: indefinite length "
		    "(BER) at offset %llu; the bid must be DER",
		    (unsigned long long)off);
	} else {
		n = h[1] & 0x7f;
		if (n > 8 || 2 + n > avail)
			return gp_err_set(GP_ERR_INVALID, "DER: length of %zu "
			    "octets at offset %llu", n,
			    (unsigned long long)off);
		/* X.690 10.1: the definite form in the fewest octets. */
		if (h[2] == 0 || (n == 1 && h[2] < 0x80))
			return gp_err_set(GP_ERR_INVALID, "DER: length not in "
			    "its shortest form at offset %llu",
			    (unsigned long long)off);
		for (i = 0; i < n; i++)
			len = (len << 8) | h[2 + i];
		t->hlen = 2 + n;
	}
	if (len > end - off - t->hlen)
		return gp_err_set(GP_ERR_INVALID, "DER: a value of %llu bytes "
		    "at offset %llu runs past its container",
		    (unsigned long long)len, (unsigned long long)off);
	t->len = len;
	return 0;
}

/* The next TLV at |*pos| (up to |end|) with tag |tag|, and |*pos| moved
 * past it. |what| names it in the error. */
int
tnd_der_expect(const struct tnd_src *s, uint64_t *pos, uint64_t end,
    unsigned int tag, const char *what, struct tnd_tlv *t)
{
	int r;

	if ((r = tnd_der_hdr(s, *pos, end, t)) != 0)
		return gp_err_set(r, "%s: %s", what, gp_err_detail());
	if (t->tag != tag)
		return gp_err_set(GP_ERR_INVALID, "%s: tag 0x%02x where 0x%02x "
		    "was expected (offset %llu)", what, t->tag, tag,
		    (unsigned long long)t->off);
	*pos = tnd_tlv_end(t);
	return 0;
}

int
tnd_der_load(const struct tnd_src *s, const struct tnd_tlv *t, size_t max,
    uint8_t **out, size_t *out_len)
{
	uint64_t n = t->hlen + t->len;
	uint8_t *buf;
	int r;

	*out = NULL;
	*out_len = 0;
	if (n > max)
		return gp_err_set(GP_ERR_TOO_LARGE, "DER: a value of %llu bytes "
		    "at offset %llu is over %zu", (unsigned long long)n,
		    (unsigned long long)t->off, max);
	if ((buf = malloc(n > 0 ? (size_t)n : 1)) == NULL)
		return GP_ERR_NOMEM;
	if ((r = tnd_src_read(s, t->off, buf, (size_t)n)) != 0) {
		free(buf);
		return r;
	}
	*out = buf;
	*out_len = (size_t)n;
	return 0;
}

int
tnd_der_is(const struct tnd_src *s, const struct tnd_tlv *t,
    const uint8_t *der, size_t der_len)
{
	uint8_t buf[32];

	if (t->hlen + t->len != der_len || der_len > sizeof(buf))
		return 0;
	if (tnd_src_read(s, t->off, buf, der_len) != 0)
		return 0;
	return memcmp(buf, der, der_len) == 0;
}

size_t
tnd_der_put_hdr(uint8_t *out, unsigned int tag, uint64_t len)
{
	size_t n = 0, i;
	uint64_t v = len;

	out[0] = (uint8_t)tag;
	if (len < 0x80) {
		out[1] = (uint8_t)len;
		return 2;
	}
	while (v > 0) {
		n++;
		v >>= 8;
	}
	out[1] = (uint8_t)(0x80 | n);
	for (i = 0; i < n; i++)
		out[2 + i] = (uint8_t)(len >> (8 * (n - 1 - i)));
	return 2 + n;
}

uint64_t
tnd_der_size(uint64_t len)
{
	uint64_t n = 2;

	if (len >= 0x80)
		for (; len > 0; len >>= 8)
			n++;
	return n;
}

int
tnd_signed_parse(const struct tnd_src *s, struct tnd_signed *out)
{
	struct tnd_tlv ci, oid, ex, sd, eci, t;
	uint64_t pos = 0, end, epos;
	int r;

	memset(out, 0, sizeof(*out));
	/* RFC 5652 3: ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT
	 * content } */
	GUARD(tnd_der_expect(s, &pos, s->len, 0x30, "ContentInfo", &ci));
	ENSURE(tnd_tlv_end(&ci) == s->len, gp_err_set(GP_ERR_INVALID,
	    "ContentInfo: %llu bytes after it", (unsigned long long)(s->len -
	    tnd_tlv_end(&ci))));
	pos = tnd_tlv_body(&ci);
	end = tnd_tlv_end(&ci);
	GUARD(tnd_der_expect(s, &pos, end, 0x06, "ContentInfo contentType",
	    &oid));
	if (tnd_der_is(s, &oid, tnd_oid_enveloped,
	    sizeof(tnd_oid_enveloped)) || tnd_der_is(s, &oid,
	    tnd_oid_auth_enveloped, sizeof(tnd_oid_auth_enveloped))) {
		out->unsigned_envelope = 1;
		r = gp_err_set(GP_ERR_INVALID, "the bid is encrypted but not "
		    "signed (a bare EnvelopedData)");
		goto out;
	}
	ENSURE(tnd_der_is(s, &oid, tnd_oid_signed, sizeof(tnd_oid_signed)),
	    gp_err_set(GP_ERR_INVALID, "ContentInfo: not a CMS SignedData "
	    "(1.2.840.113549.1.7.2)"));
	GUARD(tnd_der_expect(s, &pos, end, 0xa0, "ContentInfo content", &ex));
	ENSURE(pos == end, gp_err_set(GP_ERR_INVALID, "ContentInfo: trailing "
	    "fields"));
	pos = tnd_tlv_body(&ex);
	GUARD(tnd_der_expect(s, &pos, tnd_tlv_end(&ex), 0x30, "SignedData",
	    &sd));
	ENSURE(pos == tnd_tlv_end(&ex), gp_err_set(GP_ERR_INVALID,
	    "SignedData: trailing bytes in its [0]"));
	/* RFC 5652 5.1: SignedData ::= SEQUENCE { version, digestAlgorithms,
	 * encapContentInfo, certificates [0] OPTIONAL, crls [1] OPTIONAL,
	 * signerInfos } */
	pos = tnd_tlv_body(&sd);
	end = tnd_tlv_end(&sd);
	GUARD(tnd_der_expect(s, &pos, end, 0x02, "SignedData version",
	    &out->version));
	GUARD(tnd_der_expect(s, &pos, end, 0x31, "SignedData digestAlgorithms",
	    &out->digest_algs));
	GUARD(tnd_der_expect(s, &pos, end, 0x30, "encapContentInfo", &eci));
	epos = tnd_tlv_body(&eci);
	GUARD(tnd_der_expect(s, &epos, tnd_tlv_end(&eci), 0x06,
	    "eContentType", &out->econtent_type));
	if (epos < tnd_tlv_end(&eci)) {
		/* RFC 5652 5.2: eContent [0] EXPLICIT OCTET STRING OPTIONAL;
		 * DER makes it one primitive OCTET STRING. */
		GUARD(tnd_der_expect(s, &epos, tnd_tlv_end(&eci), 0xa0,
		    "eContent", &t));
		ENSURE(epos == tnd_tlv_end(&eci), gp_err_set(GP_ERR_INVALID,
		    "encapContentInfo: trailing fields"));
		epos = tnd_tlv_body(&t);
		GUARD(tnd_der_expect(s, &epos, tnd_tlv_end(&t), 0x04,
		    "eContent OCTET STRING (primitive, DER)",
		    &out->econtent));
		ENSURE(epos == tnd_tlv_end(&t), gp_err_set(GP_ERR_INVALID,
		    "eContent: trailing bytes"));
		out->attached = 1;
	}
	GUARD(tnd_der_hdr(s, pos, end, &t));
	if (t.tag == 0xa0) {
		out->certs = t;
		out->has_certs = 1;
		pos = tnd_tlv_end(&t);
		GUARD(tnd_der_hdr(s, pos, end, &t));
	}
	if (t.tag == 0xa1) {
		out->crls = t;
		out->has_crls = 1;
		pos = tnd_tlv_end(&t);
	}
	GUARD(tnd_der_expect(s, &pos, end, 0x31, "SignedData signerInfos",
	    &out->signer_infos));
	ENSURE(pos == end, gp_err_set(GP_ERR_INVALID, "SignedData: trailing "
	    "fields"));
	r = 0;
out:
	return r;
}

/* Appends |n| bytes of |s| at |t| to |buf| at |*used| (|cap|). */
static int
tnd_frame_copy(const struct tnd_src *s, const struct tnd_tlv *t, uint8_t *buf,
    size_t cap, size_t *used)
{
	uint64_t n = t->hlen + t->len;
	int r;

	if (n > cap - *used)
		return gp_err_set(GP_ERR_TOO_LARGE, "SignedData: signer infos "
		    "and certificates over %zu bytes", cap);
	if ((r = tnd_src_read(s, t->off, buf + *used, (size_t)n)) != 0)
		return r;
	*used += (size_t)n;
	return 0;
}

int
tnd_signed_frame(const struct tnd_src *s, const struct tnd_signed *p,
    int attach, uint64_t econtent_len, struct tnd_frame *out)
{
	uint64_t eci_len, sd_len, ex_len, ci_len, tail_len, ect;
	uint8_t hdr[16];
	size_t used = 0, n;
	int r;

	memset(out, 0, sizeof(*out));
	tail_len = p->signer_infos.hlen + p->signer_infos.len +
	    (p->has_certs ? p->certs.hlen + p->certs.len : 0) +
	    (p->has_crls ? p->crls.hlen + p->crls.len : 0);
	ENSURE(tail_len <= TND_MAX_SIGNED_META, gp_err_set(GP_ERR_TOO_LARGE,
	    "SignedData: signer infos and certificates over %d bytes",
	    TND_MAX_SIGNED_META));
	ect = p->econtent_type.hlen + p->econtent_type.len;
	eci_len = ect;
	if (attach) {
		uint64_t os = tnd_der_size(econtent_len) + econtent_len;
		eci_len += tnd_der_size(os) + os;
	}
	sd_len = p->version.hlen + p->version.len + p->digest_algs.hlen +
	    p->digest_algs.len + tnd_der_size(eci_len) + eci_len + tail_len;
	ex_len = tnd_der_size(sd_len) + sd_len;
	ci_len = sizeof(tnd_oid_signed) + tnd_der_size(ex_len) + ex_len;
	out->total = tnd_der_size(ci_len) + ci_len;
	out->head_cap = 64 + sizeof(tnd_oid_signed) + p->version.hlen +
	    p->version.len + p->digest_algs.hlen + p->digest_algs.len + ect;
	ENSURE(out->head_cap <= TND_MAX_SIGNED_META, gp_err_set(
	    GP_ERR_TOO_LARGE, "SignedData: header over %d bytes",
	    TND_MAX_SIGNED_META));
	ENSURE((out->head = malloc(out->head_cap)) != NULL &&
	    (out->tail = malloc(tail_len > 0 ? (size_t)tail_len : 1)) != NULL,
	    GP_ERR_NOMEM);
	n = tnd_der_put_hdr(hdr, 0x30, ci_len);
	memcpy(out->head + used, hdr, n);
	used += n;
	memcpy(out->head + used, tnd_oid_signed, sizeof(tnd_oid_signed));
	used += sizeof(tnd_oid_signed);
	n = tnd_der_put_hdr(hdr, 0xa0, ex_len);
	memcpy(out->head + used, hdr, n);
	used += n;
	n = tnd_der_put_hdr(hdr, 0x30, sd_len);
	memcpy(out->head + used, hdr, n);
	used += n;
	GUARD(tnd_frame_copy(s, &p->version, out->head, out->head_cap, &used));
	GUARD(tnd_frame_copy(s, &p->digest_algs, out->head, out->head_cap,
	    &used));
	n = tnd_der_put_hdr(hdr, 0x30, eci_len);
	memcpy(out->head + used, hdr, n);
	used += n;
	GUARD(tnd_frame_copy(s, &p->econtent_type, out->head, out->head_cap,
	    &used));
	if (attach) {
		n = tnd_der_put_hdr(hdr, 0xa0, tnd_der_size(econtent_len) +
		    econtent_len);
		memcpy(out->head + used, hdr, n);
		used += n;
		n = tnd_der_put_hdr(hdr, 0x04, econtent_len);
		memcpy(out->head + used, hdr, n);
		used += n;
	}
	out->head_len = used;
	used = 0;
	if (p->has_certs)
		GUARD(tnd_frame_copy(s, &p->certs, out->tail, (size_t)tail_len,
		    &used));
	if (p->has_crls)
		GUARD(tnd_frame_copy(s, &p->crls, out->tail, (size_t)tail_len,
		    &used));
	GUARD(tnd_frame_copy(s, &p->signer_infos, out->tail, (size_t)tail_len,
	    &used));
	out->tail_len = used;
	r = 0;
out:
	if (r != 0)
		tnd_frame_clear(out);
	return r;
}

void
tnd_frame_clear(struct tnd_frame *f)
{
	if (f == NULL)
		return;
	free(f->head);
	free(f->tail);
	memset(f, 0, sizeof(*f));
}

int
tnd_src_sha256(const struct tnd_src *s, uint64_t off, uint64_t len,
    uint8_t md[32])
{
	EVP_MD_CTX *mc = NULL;
	uint8_t *buf = NULL;
	uint64_t done = 0;
	size_t n;
	int r = GP_ERR_INTERNAL;

	ENSURE((mc = EVP_MD_CTX_new()) != NULL &&
	    (buf = malloc(TND_IO_BUF)) != NULL, GP_ERR_NOMEM);
	ENSURE(EVP_DigestInit_ex(mc, EVP_sha256(), NULL) == 1,
	    gp_err_ssl(GP_ERR_CRYPTO, "SHA-256"));
	while (done < len) {
		n = len - done < TND_IO_BUF ? (size_t)(len - done) : TND_IO_BUF;
		GUARD(tnd_src_read(s, off + done, buf, n));
		ENSURE(EVP_DigestUpdate(mc, buf, n) == 1,
		    gp_err_ssl(GP_ERR_CRYPTO, "SHA-256"));
		done += n;
	}
	ENSURE(EVP_DigestFinal_ex(mc, md, NULL) == 1,
	    gp_err_ssl(GP_ERR_CRYPTO, "SHA-256"));
	r = 0;
out:
	free(buf);
	EVP_MD_CTX_free(mc);
	return r;
}
