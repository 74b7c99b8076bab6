/*
 * log.c: the logger. One line per event on stderr, plain or JSON. Lines are
 * written with a single write(2) so that threads do not interleave them.
 * Callers never pass secrets; the format attribute lets the compiler check
 * every call.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"

static enum gp_log_level log_level = GP_LOG_INFO;
static int log_as_json;

static const char *const log_names[] = {"debug", "info", "warn", "error"};

void
gp_log_set_level(enum gp_log_level level)
{
	log_level = level;
}

void
gp_log_json(int on)
{
	log_as_json = on;
}

static void
log_write(const char *line, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(STDERR_FILENO, line, len);
		if (n <= 0)
			return;
		line += n;
		len -= (size_t)n;
	}
}

static void
log_time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void
gp_log(enum gp_log_level level, const char *fmt, ...)
{
	char msg[2048], when[40];
	va_list ap;
	json_t *obj;

	if (level < log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_time(when, sizeof(when));
	if (log_as_json) {
		obj = json_pack("{s:s, s:s, s:s}", "time", when, "level",
		    log_names[level], "msg", msg);
		if (obj != NULL) {
			gp_log_obj(obj);
			json_decref(obj);
		}
		return;
	}
	{
		char line[2200];
		int n = snprintf(line, sizeof(line), "%s govpki %s: %s\n", when,
		    log_names[level], msg);
		if (n > 0)
			log_write(line, (size_t)n < sizeof(line) ? (size_t)n :
			    sizeof(line) - 1);
	}
}

void
gp_log_obj(json_t *obj)
{
	char *s;
	size_t n;

	s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	if (s == NULL)
		return;
	n = strlen(s);
	s[n] = '\0';
	{
		/* One write: the text and its newline. */
		char *line = malloc(n + 2);
		if (line != NULL) {
			memcpy(line, s, n);
			line[n] = '\n';
			log_write(line, n + 1);
			free(line);
		}
	}
	free(s);
}
