/*
 * fuzz_bid.c: libFuzzer harness for the sealed-bid parser (tender/
 * tnd_bid.c, tnd_der.c), which reads what anyone POSTs to
 * /tenders/<id>/bids: the SignedData and the EnvelopedData inside it
 * walked as DER, the recipient infos, the detached frame handed to
 * sig_verify, and the bid package an opening decrypts. Any input must
 * parse or be refused with a rule, never crash, overrun or leak; a frame
 * of a parsed bid must itself parse as a SignedData without content.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tender/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct tender_refusal why;
	struct tnd_src src, fs;
	struct tnd_bid b;
	struct tnd_signed sd;
	struct tnd_frame fr;
	struct tnd_ktri *k = NULL;
	struct tnd_package pkg;
	uint8_t *der;
	size_t nk = 0;

	memset(&src, 0, sizeof(src));
	src.buf = data;
	src.len = len;
	memset(&why, 0, sizeof(why));
	if (tnd_bid_parse(&src, &b, &why) == 0) {
		if (tnd_ktri_read(&src, &b, &k, &nk, &why) == 0)
			tnd_ktri_free(k, nk);
		if (tnd_signed_frame(&src, &b.sd, 0, 0, &fr) == 0) {
			der = malloc(fr.head_len + fr.tail_len + 1);
			if (der == NULL)
				abort();
			memcpy(der, fr.head, fr.head_len);
			memcpy(der + fr.head_len, fr.tail, fr.tail_len);
			memset(&fs, 0, sizeof(fs));
			fs.buf = der;
			fs.len = fr.head_len + fr.tail_len;
			if (fs.len != fr.total || tnd_signed_parse(&fs, &sd) !=
			    0 || sd.attached)
				abort();
			free(der);
			tnd_frame_clear(&fr);
		}
	} else if (why.rule == NULL) {
		abort(); /* every refusal names its rule */
	}
	if (tnd_package_parse(&src, &pkg) == 0)
		tnd_package_clear(&pkg);
	return 0;
}
