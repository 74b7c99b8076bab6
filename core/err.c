/*
 * err.c: the one error table and the thread-local error detail. Codes say
 * what kind of failure happened; the detail says where (field, file, token)
 * and what to do. See core.h for the convention.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "core/core.h"

struct err_entry {
	int code;
	const char *name;
	const char *msg;
};

static const struct err_entry err_table[] = {
	{GP_OK, "ok", "success"},
	{GP_ERR_INTERNAL, "internal", "internal error"},
	{GP_ERR_NOMEM, "no_memory", "out of memory"},
	{GP_ERR_INVALID, "invalid", "invalid input"},
	{GP_ERR_IO, "io", "input/output error"},
	{GP_ERR_CONFIG, "config", "bad configuration"},
	{GP_ERR_EXISTS, "exists", "already exists"},
	{GP_ERR_NOT_FOUND, "not_found", "not found"},
	{GP_ERR_CRYPTO, "crypto", "cryptographic operation failed"},
	{GP_ERR_MODULE, "module", "PKCS#11 module cannot be loaded"},
	{GP_ERR_TOKEN_ABSENT, "token_absent", "token not present"},
	{GP_ERR_PIN_INCORRECT, "pin_incorrect", "incorrect PIN"},
	{GP_ERR_PIN_LOCKED, "pin_locked", "PIN locked"},
	{GP_ERR_DEVICE, "device", "token or module failure"},
	{GP_ERR_STORE, "store", "database failure"},
	/* Generic: the audit log, a time-stamp, a signature, a CRL or the
	 * status history; the detail names which and what failed. */
	{GP_ERR_TAMPERED, "tampered", "integrity check failed"},
	{GP_ERR_DENIED, "denied", "not allowed for this role"},
	{GP_ERR_TOO_LARGE, "too_large", "input too large"},
	{GP_ERR_UNSUPPORTED, "unsupported", "not supported"},
	{GP_ERR_BUSY, "busy", "busy, try again"},
	{GP_ERR_NO_PIN, "no_pin", "no PIN available"},
	{GP_ERR_LOGIN_REQUIRED, "login_required", "token login required"},
	{GP_ERR_UNAUTHENTICATED, "unauthenticated",
	    "not authenticated"},
	{GP_ERR_CONFLICT, "conflict", "conflicts with the current state"},
};

static _Thread_local char err_detail[1024];

static const struct err_entry *
err_find(int code)
{
	size_t i;

	for (i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++) {
		if (err_table[i].code == code)
			return &err_table[i];
	}
	return &err_table[1]; /* internal */
}

const char *
gp_err_str(int code)
{
	return err_find(code)->msg;
}

const char *
gp_err_name(int code)
{
	return err_find(code)->name;
}

int
gp_err_set(int code, const char *fmt, ...)
{
	va_list ap;
	char tmp[sizeof(err_detail)];

	/* Through a copy: a caller may add context to the detail itself,
	 * gp_err_set(r, "%s: %s", what, gp_err_detail()). */
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	memcpy(err_detail, tmp, sizeof(err_detail));
	return code;
}

int
gp_err_ssl(int code, const char *fmt, ...)
{
	va_list ap;
	size_t n;
	unsigned long e;

	va_start(ap, fmt);
	vsnprintf(err_detail, sizeof(err_detail), fmt, ap);
	va_end(ap);
	/* Keep the first OpenSSL reason: it is usually the root cause. */
	if ((e = ERR_peek_error()) != 0) {
		n = strlen(err_detail);
		if (n + 3 < sizeof(err_detail)) {
			memcpy(err_detail + n, ": ", 3);
			ERR_error_string_n(e, err_detail + n + 2,
			    sizeof(err_detail) - n - 2);
		}
	}
	ERR_clear_error();
	return code;
}

const char *
gp_err_detail(void)
{
	return err_detail;
}

void
gp_err_clear(void)
{
	err_detail[0] = '\0';
}
