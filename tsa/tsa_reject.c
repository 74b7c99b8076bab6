/*
 * tsa_reject.c: rejection replies. A TimeStampResp that carries no token
 * is small and fixed in shape, so it is written here as DER directly; that
 * way a request that never parsed (garbage, oversized, the wrong content
 * type) still gets an RFC 3161 answer with the right PKIFailureInfo, and
 * every rejection of tsa_respond() comes from the same place.
 *
 *   TimeStampResp ::= SEQUENCE { status PKIStatusInfo, ... }
 *   PKIStatusInfo ::= SEQUENCE { status PKIStatus,
 *       statusString PKIFreeText OPTIONAL, failInfo PKIFailureInfo OPTIONAL }
 *   PKIFreeText ::= SEQUENCE SIZE (1..MAX) OF UTF8String
 */
#include <string.h>

#include <openssl/crypto.h>

#include "tsa/tsa.h"

#define TSA_REJECT_TEXT_MAX 100

const char *
tsa_fail_name(int bit)
{
	switch (bit) {
	case TSA_FAIL_BAD_ALG:
		return "badAlg";
	case TSA_FAIL_BAD_REQUEST:
		return "badRequest";
	case TSA_FAIL_BAD_DATA_FORMAT:
		return "badDataFormat";
	case TSA_FAIL_TIME_NOT_AVAILABLE:
		return "timeNotAvailable";
	case TSA_FAIL_UNACCEPTED_POLICY:
		return "unacceptedPolicy";
	case TSA_FAIL_UNACCEPTED_EXTENSION:
		return "unacceptedExtension";
	case TSA_FAIL_ADD_INFO_NOT_AVAILABLE:
		return "addInfoNotAvailable";
	case TSA_FAIL_SYSTEM_FAILURE:
		return "systemFailure";
	default:
		return "unknown";
	}
}

int
tsa_reject(int fail_bit, const char *text, uint8_t **out_der,
    size_t *out_len)
{
	/* Every length below stays under 128 (text capped at 100 bytes, the
	 * bit string at 5 bytes), so each is one short-form byte. */
	uint8_t buf[2 + 2 + 3 + 4 + TSA_REJECT_TEXT_MAX + 2 + 5];
	uint8_t bits[5];
	size_t n = 0, tlen, nbits, i, info_len;
	uint8_t *der;

	*out_der = NULL;
	*out_len = 0;
	if (fail_bit < 0 || fail_bit > 31)
		return gp_err_set(GP_ERR_INVALID, "tsa_reject: failure bit %d "
		    "out of range", fail_bit);
	if (text == NULL || text[0] == '\0')
		text = tsa_fail_name(fail_bit);
	tlen = strlen(text);
	if (tlen > TSA_REJECT_TEXT_MAX)
		tlen = TSA_REJECT_TEXT_MAX;
	/* DER named bit string: no trailing zero bits, so the last byte
	 * holds bit |fail_bit| and the unused count follows from it. */
	nbits = (size_t)fail_bit / 8 + 1;
	memset(bits, 0, sizeof(bits));
	bits[0] = (uint8_t)(7 - fail_bit % 8);
	bits[nbits] = (uint8_t)(0x80 >> (fail_bit % 8));

	info_len = 3 + (4 + tlen) + (2 + 1 + nbits);
	buf[n++] = 0x30;                 /* TimeStampResp */
	buf[n++] = (uint8_t)(2 + info_len);
	buf[n++] = 0x30;                 /* PKIStatusInfo */
	buf[n++] = (uint8_t)info_len;
	buf[n++] = 0x02;                 /* status: rejection (2) */
	buf[n++] = 0x01;
	buf[n++] = 0x02;
	buf[n++] = 0x30;                 /* PKIFreeText */
	buf[n++] = (uint8_t)(2 + tlen);
	buf[n++] = 0x0c;                 /* UTF8String */
	buf[n++] = (uint8_t)tlen;
	for (i = 0; i < tlen; i++) {
		/* Printable ASCII only: valid UTF-8 whatever the caller
		 * passed. */
		unsigned char ch = (unsigned char)text[i];
		buf[n++] = ch >= 0x20 && ch < 0x7f ? ch : '?';
	}
	buf[n++] = 0x03;                 /* PKIFailureInfo */
	buf[n++] = (uint8_t)(1 + nbits);
	memcpy(buf + n, bits, 1 + nbits);
	n += 1 + nbits;

	if ((der = OPENSSL_malloc(n)) == NULL)
		return gp_err_set(GP_ERR_NOMEM, "tsa rejection reply");
	memcpy(der, buf, n);
	*out_der = der;
	*out_len = n;
	return 0;
}
