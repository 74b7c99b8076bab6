/*
 * ca_ids.c: the two national identifiers a certificate request carries,
 * checked with their check characters before anything is built: the
 * unified social credit code of a legal person (GB 32100-2015) and the
 * resident identity number of a natural person (GB 11643-1999). Error
 * details name the field; a resident ID number appears in them only
 * masked (gp_mask_id), as it is personal data.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca/ca.h"

/* GB 32100-2015 4.1: the code's character set, in value order 0..30
 * (I, O, S, V and Z are not used). */
static const char ca_uscc_chars[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

#define CA_USCC_LEN 18
#define CA_ID_LEN 18

static int
ca_uscc_value(char c)
{
	const char *p;

	if (c == '\0' || (p = strchr(ca_uscc_chars, c)) == NULL)
		return -1;
	return (int)(p - ca_uscc_chars);
}

int
ca_uscc_check(const char *field, const char *code)
{
	int i, v, sum = 0, w = 1, want;

	if (code == NULL)
		return gp_err_set(GP_ERR_INVALID, "%s: missing", field);
	if (strlen(code) != CA_USCC_LEN)
		return gp_err_set(GP_ERR_INVALID, "%s: a unified social credit "
		    "code has 18 characters, got %zu", field, strlen(code));
	for (i = 0; i < CA_USCC_LEN; i++) {
		if (ca_uscc_value(code[i]) < 0)
			return gp_err_set(GP_ERR_INVALID, "%s: character %d "
			    "\"%c\" is not in 0-9A-HJ-NPQRTUWXY (upper case, "
			    "no I O S V Z)", field, i + 1,
			    code[i] >= 0x20 && code[i] < 0x7f ? code[i] : '?');
	}
	/* GB 32100-2015 4.2 / GB/T 17710: weights 3^(i-1) mod 31 for
	 * i = 1..17; c18 = 31 - (sum mod 31), with 31 written as 0. */
	for (i = 0; i < CA_USCC_LEN - 1; i++) {
		v = ca_uscc_value(code[i]);
		sum += v * w;
		w = (w * 3) % 31;
	}
	want = (31 - sum % 31) % 31;
	if (ca_uscc_value(code[CA_USCC_LEN - 1]) != want)
		return gp_err_set(GP_ERR_INVALID, "%s: check character is "
		    "\"%c\", the code's first 17 characters give \"%c\" "
		    "(GB 32100-2015)", field, code[CA_USCC_LEN - 1],
		    ca_uscc_chars[want]);
	return 0;
}

static int
ca_id_date_ok(const char *id)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31};
	int y, m, d, leap, i;
	time_t now = time(NULL);
	struct tm tm;

	for (i = 6; i < 14; i++)
		if (id[i] < '0' || id[i] > '9')
			return 0;
	y = (id[6] - '0') * 1000 + (id[7] - '0') * 100 + (id[8] - '0') * 10 +
	    (id[9] - '0');
	m = (id[10] - '0') * 10 + (id[11] - '0');
	d = (id[12] - '0') * 10 + (id[13] - '0');
	if (gmtime_r(&now, &tm) == NULL)
		return 0;
	if (y < 1850 || y > tm.tm_year + 1900 || m < 1 || m > 12 || d < 1 ||
	    d > mdays[m - 1])
		return 0;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return !(m == 2 && d == 29 && !leap);
}

int
ca_resident_id_check(const char *field, const char *id)
{
	/* GB 11643-1999 7.2: ISO 7064 MOD 11-2 weights and check table. */
	static const int wt[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5,
	    8, 4, 2};
	static const char check[] = "10X98765432";
	char *masked = NULL;
	int i, sum = 0, r = GP_ERR_INVALID;

	if (id == NULL)
		return gp_err_set(GP_ERR_INVALID, "%s: missing", field);
	if (strlen(id) != CA_ID_LEN) {
		r = gp_err_set(GP_ERR_INVALID, "%s: a resident identity number "
		    "has 18 characters, got %zu", field, strlen(id));
		goto out;
	}
	masked = gp_mask_id(id);
	for (i = 0; i < CA_ID_LEN - 1; i++) {
		ENSURE(id[i] >= '0' && id[i] <= '9', gp_err_set(GP_ERR_INVALID,
		    "%s: %s: character %d is not a digit", field,
		    masked ? masked : "", i + 1));
		sum += (id[i] - '0') * wt[i];
	}
	ENSURE((id[17] >= '0' && id[17] <= '9') || id[17] == 'X',
	    gp_err_set(GP_ERR_INVALID, "%s: %s: the check character must be "
	    "0-9 or X (upper case)", field, masked ? masked : ""));
	ENSURE(ca_id_date_ok(id), gp_err_set(GP_ERR_INVALID, "%s: %s: "
	    "characters 7-14 are not a valid date of birth", field,
	    masked ? masked : ""));
	ENSURE(id[17] == check[sum % 11], gp_err_set(GP_ERR_INVALID,
	    "%s: %s: check character does not match (GB 11643-1999, "
	    "ISO 7064 MOD 11-2)", field, masked ? masked : ""));
	r = 0;
out:
	free(masked);
	return r;
}
