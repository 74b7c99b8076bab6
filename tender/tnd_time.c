/*
 * tnd_time.c: RFC 3339 date-times, the form tenders give their deadline
 * and opening time in: parsed with their offset (Beijing time is
 * +08:00), shown in UTC with milliseconds.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tender/internal.h"

static int
tnd_digits(const char *s, int n, int *out)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int
tender_time_parse(const char *field, const char *s, int64_t *out_ms)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31};
	struct tm tm;
	int y, mo, d, h, mi, se, oh = 0, om = 0, ms = 0, k = 0, sign = 0;
	const char *p;
	time_t t;

	*out_ms = 0;
	/* RFC 3339 5.6: date-time = full-date "T" full-time, time-offset
	 * "Z" or ("+" / "-") time-hour ":" time-minute. */
	if (s == NULL || strlen(s) < 20 || tnd_digits(s, 4, &y) != 0 ||
	    s[4] != '-' || tnd_digits(s + 5, 2, &mo) != 0 || s[7] != '-' ||
	    tnd_digits(s + 8, 2, &d) != 0 || (s[10] != 'T' && s[10] != 't') ||
	    tnd_digits(s + 11, 2, &h) != 0 || s[13] != ':' ||
	    tnd_digits(s + 14, 2, &mi) != 0 || s[16] != ':' ||
	    tnd_digits(s + 17, 2, &se) != 0)
		goto bad;
	p = s + 19;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, k++) {
			if (k >= 3)
				goto bad;
			ms = ms * 10 + (*p - '0');
		}
		if (k == 0)
			goto bad;
		for (; k < 3; k++)
			ms *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		if (tnd_digits(p + 1, 2, &oh) != 0 || p[3] != ':' ||
		    tnd_digits(p + 4, 2, &om) != 0 || oh > 23 || om > 59)
			goto bad;
		p += 6;
	} else {
		goto bad;
	}
	if (*p != '\0' || y < 1970 || y > 9999 || mo < 1 || mo > 12 ||
	    d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 &&
	    !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) || h > 23 ||
	    mi > 59 || se > 59)
		goto bad;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	*out_ms = ((int64_t)t - sign * (oh * 3600 + om * 60)) * 1000 + ms;
	return 0;
bad:
	return gp_err_set(GP_ERR_INVALID, "%s: not an RFC 3339 date-time "
	    "(\"2026-05-01T09:30:00+08:00\" or \"...Z\")", field);
}

void
tender_time_fmt(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	size_t n;

	if (ms < 0 || gmtime_r(&t, &tm) == NULL ||
	    (n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
		snprintf(buf, len, "unknown");
		return;
	}
	snprintf(buf + n, len - n, ".%03dZ", (int)(ms % 1000));
}
