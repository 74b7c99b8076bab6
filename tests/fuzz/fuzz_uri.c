/*
 * fuzz_uri.c: libFuzzer harness for tok_uri_parse(), which reads key URIs
 * from configuration files and the command line (RFC 7512 with
 * percent-decoding). Any input must either parse or fail cleanly, with
 * no overrun and no leak; a URI with a pin-value attribute never parses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokens/tokens.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct tok_uri uri;
	char *s;

	if (len > 4096 || (s = malloc(len + 1)) == NULL)
		return 0;
	memcpy(s, data, len);
	s[len] = '\0';
	memset(&uri, 0, sizeof(uri));
	if (tok_uri_parse(s, &uri) == 0) {
		/* RFC 7512 query attribute pin-value: refused, always. */
		const char *q = strncmp(s, "pkcs11:", 7) == 0 ?
		    strchr(s, '?') : NULL;
		if (q != NULL && (strncmp(q + 1, "pin-value=", 10) == 0 ||
		    strstr(q, "&pin-value=") != NULL))
			abort();
		tok_uri_clear(&uri);
	}
	free(s);
	return 0;
}
