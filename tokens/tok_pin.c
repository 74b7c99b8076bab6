/*
 * tok_pin.c: where PINs come from. A PIN is read from a file, an
 * environment variable or the controlling terminal, never from argv, and
 * every buffer that held it is wiped (OPENSSL_cleanse) before it is freed.
 * The PIN returned is a malloc()ed C string for gp_secret_free().
 *
 * PIN files: the first line is the PIN (a trailing "\r\n" or "\n" is
 * removed). A file that others (o+r) can read is refused, as OpenSSH refuses
 * a private key with loose modes; a group-readable file is accepted with a
 * warning in the log, since a service group sharing the PIN is a legitimate
 * set-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "tokens/tokens.h"

#define TOK_PIN_MAX 256       /* longest PIN accepted */
#define TOK_PIN_FILE_MAX 4096 /* largest PIN file read */

/* Copies the first line of [buf, buf+len) into a new string. */
static int
tok_pin_first_line(const char *buf, size_t len, const char *what,
    char **out_pin)
{
	size_t n = 0;
	char *pin;

	while (n < len && buf[n] != '\n' && buf[n] != '\0')
		n++;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n == 0)
		return gp_err_set(GP_ERR_NO_PIN, "%s: empty PIN", what);
	if (n > TOK_PIN_MAX)
		return gp_err_set(GP_ERR_INVALID,
		    "%s: PIN longer than %d characters", what, TOK_PIN_MAX);
	if ((pin = malloc(n + 1)) == NULL)
		return gp_err_set(GP_ERR_NOMEM, "%s", what);
	memcpy(pin, buf, n);
	pin[n] = '\0';
	*out_pin = pin;
	return 0;
}

static int
tok_pin_file(const char *path, char **out_pin)
{
	char buf[TOK_PIN_FILE_MAX + 1];
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd = -1, r = GP_ERR_INTERNAL;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	ENSURE(fd >= 0, gp_err_set(errno == ENOENT ? GP_ERR_NO_PIN : GP_ERR_IO,
	    "PIN file %s: %s", path, strerror(errno)));
	ENSURE(fstat(fd, &st) == 0, gp_err_set(GP_ERR_IO, "PIN file %s: %s",
	    path, strerror(errno)));
	ENSURE(S_ISREG(st.st_mode), gp_err_set(GP_ERR_INVALID,
	    "PIN file %s: not a regular file", path));
	ENSURE((st.st_mode & S_IROTH) == 0, gp_err_set(GP_ERR_INVALID,
	    "PIN file %s: readable by others (mode %03o); run chmod 600 on it",
	    path, (unsigned int)(st.st_mode & 0777)));
	if (st.st_mode & S_IRGRP)
		gp_log(GP_LOG_WARN, "PIN file %s is readable by its group "
		    "(mode %03o)", path, (unsigned int)(st.st_mode & 0777));
	for (;;) {
		ENSURE(len < sizeof(buf) - 1, gp_err_set(GP_ERR_TOO_LARGE,
		    "PIN file %s: larger than %d bytes", path,
		    TOK_PIN_FILE_MAX));
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		ENSURE(n >= 0, gp_err_set(GP_ERR_IO, "PIN file %s: %s", path,
		    strerror(errno)));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	GUARD(tok_pin_first_line(buf, len, path, out_pin));
	r = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	if (fd >= 0)
		close(fd);
	return r;
}

/* Reads the PIN from the environment, then wipes the value in place (it
 * lives in the process's environment block, which /proc/<pid>/environ
 * shows) and unsets the variable, so that no child inherits it. */
static int
tok_pin_env(const char *name, char **out_pin)
{
	char *v = getenv(name);
	char what[128];
	int r;

	if (v == NULL)
		return gp_err_set(GP_ERR_NO_PIN,
		    "environment variable %s is not set", name);
	snprintf(what, sizeof(what), "environment variable %.100s", name);
	r = tok_pin_first_line(v, strlen(v), what, out_pin);
	OPENSSL_cleanse(v, strlen(v));
	(void)unsetenv(name);
	return r;
}

/* Prompts on /dev/tty with echo off; the terminal's modes are restored on
 * every path. A signal that kills the process mid-prompt leaves echo off, as
 * with getpass(3). */
static int
tok_pin_prompt(const char *prompt, char **out_pin)
{
	char buf[TOK_PIN_MAX + 2];
	struct termios saved, quiet;
	size_t len = 0;
	ssize_t n;
	char c;
	int fd, restore = 0, r = GP_ERR_INTERNAL;

	fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return gp_err_set(GP_ERR_NO_PIN, "no terminal to prompt for the "
		    "PIN (/dev/tty: %s); give a PIN file or set the PIN "
		    "variable", strerror(errno));
	ENSURE(tcgetattr(fd, &saved) == 0, gp_err_set(GP_ERR_NO_PIN,
	    "/dev/tty: %s", strerror(errno)));
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	quiet.c_lflag |= ICANON;
	ENSURE(tcsetattr(fd, TCSAFLUSH, &quiet) == 0, gp_err_set(GP_ERR_NO_PIN,
	    "/dev/tty: %s", strerror(errno)));
	restore = 1;
	if (prompt == NULL || *prompt == '\0')
		prompt = "PIN: ";
	if (write(fd, prompt, strlen(prompt)) < 0) {
		/* the prompt is a courtesy; reading still works */
	}
	for (;;) {
		n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		ENSURE(n >= 0, gp_err_set(GP_ERR_NO_PIN, "/dev/tty: %s",
		    strerror(errno)));
		if (n == 0 || c == '\n' || c == '\r')
			break;
		ENSURE(len < sizeof(buf) - 1, gp_err_set(GP_ERR_INVALID,
		    "PIN longer than %d characters", TOK_PIN_MAX));
		buf[len++] = c;
	}
	GUARD(tok_pin_first_line(buf, len, "terminal", out_pin));
	r = 0;
out:
	c = 0;
	OPENSSL_cleanse(buf, sizeof(buf));
	if (restore) {
		(void)tcsetattr(fd, TCSAFLUSH, &saved);
		if (write(fd, "\n", 1) < 0) {
			/* nothing to do */
		}
	}
	close(fd);
	return r;
}

int
tok_pin_read(const struct tok_pin_source *src, char **out_pin)
{
	if (out_pin == NULL)
		return gp_err_set(GP_ERR_INVALID, "PIN: no output");
	*out_pin = NULL;
	if (src == NULL)
		return gp_err_set(GP_ERR_INVALID, "PIN: no source");
	if (src->kind != TOK_PIN_PROMPT &&
	    (src->value == NULL || *src->value == '\0'))
		return gp_err_set(GP_ERR_INVALID, "PIN source: no %s given",
		    src->kind == TOK_PIN_FILE ? "file" : "variable name");
	switch (src->kind) {
	case TOK_PIN_FILE:
		return tok_pin_file(src->value, out_pin);
	case TOK_PIN_ENV:
		return tok_pin_env(src->value, out_pin);
	case TOK_PIN_PROMPT:
		return tok_pin_prompt(src->value, out_pin);
	default:
		return gp_err_set(GP_ERR_INVALID, "PIN source: unknown kind %d",
		    (int)src->kind);
	}
}

int
tok_pin_random(size_t len, char **out_pin)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[64];
	char *pin = NULL;
	size_t n = 0, i;
	int r = GP_ERR_INTERNAL;

	ENSURE(out_pin != NULL, gp_err_set(GP_ERR_INVALID, "PIN: no output"));
	*out_pin = NULL;
	ENSURE(len >= 4 && len <= TOK_PIN_MAX, gp_err_set(GP_ERR_INVALID,
	    "random PIN length %zu: must be 4 to %d", len, TOK_PIN_MAX));
	ENSURE((pin = calloc(1, len + 1)) != NULL, GP_ERR_NOMEM);
	while (n < len) {
		GUARD(gp_random(rnd, sizeof(rnd)));
		/* 62 * 4 = 248: rejecting bytes >= 248 keeps it uniform. */
		for (i = 0; i < sizeof(rnd) && n < len; i++)
			if (rnd[i] < 248)
				pin[n++] = alphabet[rnd[i] % 62];
	}
	pin[len] = '\0';
	*out_pin = pin;
	pin = NULL; /* transferred */
	r = 0;
out:
	OPENSSL_cleanse(rnd, sizeof(rnd));
	gp_secret_free(pin);
	return r;
}
