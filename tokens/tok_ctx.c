/*
 * tok_ctx.c: one loaded PKCS#11 module and the tokens it shows. Loads the
 * module through libp11 (which initialises it) and a second time through
 * dlopen() for the raw function list, keeps libp11's slot lists (see struct
 * tok_gen in internal.h), finds tokens by label or serial, logs in, changes
 * PINs and initialises tokens. Also the one place where PKCS#11 return values
 * become GP_ERR_* codes, so that callers see "PIN incorrect" and not
 * "error -1".
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "tokens/internal.h"

static const struct {
	CK_RV rv;
	const char *name;
} tok_ckr_names[] = {
	{ CKR_OK, "CKR_OK" },
	{ CKR_HOST_MEMORY, "CKR_HOST_MEMORY" },
	{ CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID" },
	{ CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR" },
	{ CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED" },
	{ CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD" },
	{ CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID" },
	{ CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR" },
	{ CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY" },
	{ CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED" },
	{ CKR_KEY_SIZE_RANGE, "CKR_KEY_SIZE_RANGE" },
	{ CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID" },
	{ CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT" },
	{ CKR_PIN_INVALID, "CKR_PIN_INVALID" },
	{ CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE" },
	{ CKR_PIN_LOCKED, "CKR_PIN_LOCKED" },
	{ CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID" },
	{ CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY" },
	{ CKR_SESSION_READ_ONLY_EXISTS, "CKR_SESSION_READ_ONLY_EXISTS" },
	{ CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT" },
	{ CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT" },
	{ CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED" },
	{ CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED" },
	{ CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN" },
	{ CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN" },
	{ CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED" },
	{ CKR_USER_TYPE_INVALID, "CKR_USER_TYPE_INVALID" },
	{ CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
	    "CKR_USER_ANOTHER_ALREADY_LOGGED_IN" },
	{ CKR_DOMAIN_PARAMS_INVALID, "CKR_DOMAIN_PARAMS_INVALID" },
	{ CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED" },
};

const char *
tok_ckr_name(CK_RV rv)
{
	size_t i;

	for (i = 0; i < sizeof(tok_ckr_names) / sizeof(tok_ckr_names[0]); i++)
		if (tok_ckr_names[i].rv == rv)
			return tok_ckr_names[i].name;
	return "CKR_other";
}

int
tok_ckr_code(CK_RV rv)
{
	switch (rv) {
	case CKR_OK:
		return 0;
	case CKR_PIN_INCORRECT:
		return GP_ERR_PIN_INCORRECT;
	case CKR_PIN_LOCKED:
		return GP_ERR_PIN_LOCKED;
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
	case CKR_ARGUMENTS_BAD:
	case CKR_ATTRIBUTE_VALUE_INVALID:
	case CKR_TEMPLATE_INCONSISTENT:
		return GP_ERR_INVALID;
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_SLOT_ID_INVALID:
	case CKR_DEVICE_REMOVED:
		return GP_ERR_TOKEN_ABSENT;
	case CKR_USER_NOT_LOGGED_IN:
		return GP_ERR_LOGIN_REQUIRED;
	case CKR_HOST_MEMORY:
		return GP_ERR_NOMEM;
	case CKR_MECHANISM_INVALID:
	case CKR_KEY_SIZE_RANGE:
	case CKR_DOMAIN_PARAMS_INVALID:
		return GP_ERR_UNSUPPORTED;
	case CKR_USER_PIN_NOT_INITIALIZED:
		return GP_ERR_CONFLICT;
	default:
		return GP_ERR_DEVICE;
	}
}

int
tok_err_ckr(CK_RV rv, const char *token, const char *what)
{
	return gp_err_set(tok_ckr_code(rv), "%s on token %s: %s (0x%lx)", what,
	    token != NULL ? token : "(any)", tok_ckr_name(rv),
	    (unsigned long)rv);
}

int
tok_err_p11(int fallback, const char *token, const char *what)
{
	unsigned long e;
	int ckr_lib = ERR_get_CKR_code();
	int have_ckr = 0, code = fallback;
	CK_RV rv = 0;
	char text[256] = "";
	const char *reason;

	while ((e = ERR_get_error()) != 0) {
		if (!have_ckr && ERR_GET_LIB(e) == ckr_lib) {
			rv = (CK_RV)ERR_GET_REASON(e);
			have_ckr = 1;
		}
		if (text[0] == '\0' &&
		    (reason = ERR_reason_error_string(e)) != NULL)
			snprintf(text, sizeof(text), "%s", reason);
	}
	if (have_ckr) {
		code = tok_ckr_code(rv);
		if (code == 0)
			code = fallback;
		return gp_err_set(code, "%s on token %s: %s (%s)", what,
		    token != NULL ? token : "(any)",
		    text[0] != '\0' ? text : "failed", tok_ckr_name(rv));
	}
	return gp_err_set(code, "%s on token %s: %s", what,
	    token != NULL ? token : "(any)",
	    text[0] != '\0' ? text : "failed");
}

void
tok_pad_copy(char *dst, size_t dst_len, const unsigned char *src,
    size_t src_len)
{
	size_t n = src_len;

	while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\0'))
		n--;
	if (n >= dst_len)
		n = dst_len - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int
tok_name_matches(const char *label, const char *serialnr, const char *name,
    const char *serial)
{
	if (name == NULL && serial == NULL)
		return 1;
	if (name != NULL && !(label != NULL && strcmp(label, name) == 0) &&
	    !(serialnr != NULL && strcmp(serialnr, name) == 0))
		return 0;
	if (serial != NULL && !(serialnr != NULL &&
	    strcmp(serialnr, serial) == 0))
		return 0;
	return 1;
}

int
tok_raw_slot_find(CK_FUNCTION_LIST *fl, const char *name, const char *serial,
    CK_SLOT_ID *out_id)
{
	CK_SLOT_ID *ids = NULL;
	CK_ULONG n = 0, i;
	CK_TOKEN_INFO ti;
	CK_RV rv;
	char label[33], sn[17];
	int r = GP_ERR_INTERNAL;

	rv = fl->C_GetSlotList(CK_TRUE, NULL, &n);
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, name, "C_GetSlotList"));
	ENSURE(n <= 4096, gp_err_set(GP_ERR_DEVICE, "module lists %lu slots",
	    (unsigned long)n));
	if (n > 0) {
		ENSURE((ids = calloc(n, sizeof(*ids))) != NULL, GP_ERR_NOMEM);
		rv = fl->C_GetSlotList(CK_TRUE, ids, &n);
		ENSURE(rv == CKR_OK, tok_err_ckr(rv, name, "C_GetSlotList"));
	}
	for (i = 0; i < n; i++) {
		if (fl->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
			continue;
		if (!(ti.flags & CKF_TOKEN_INITIALIZED))
			continue;
		tok_pad_copy(label, sizeof(label), ti.label, sizeof(ti.label));
		tok_pad_copy(sn, sizeof(sn), ti.serialNumber,
		    sizeof(ti.serialNumber));
		if (tok_name_matches(label, sn, name, serial)) {
			*out_id = ids[i];
			r = 0;
			goto out;
		}
	}
	r = gp_err_set(GP_ERR_TOKEN_ABSENT, "no token %s%s%s in the module",
	    name != NULL ? name : "", serial != NULL ? " with serial " : "",
	    serial != NULL ? serial : "");
out:
	free(ids);
	return r;
}

int
tok_slots_refresh(tok_ctx *ctx)
{
	struct tok_gen *g;

	if (ctx->ngens >= TOK_GEN_MAX)
		return gp_err_set(GP_ERR_BUSY, "module %s: the token list changed "
		    "too often; restart to see new tokens", ctx->module_path);
	g = &ctx->gens[ctx->ngens];
	g->slots = NULL;
	g->nslots = 0;
	if (PKCS11_enumerate_slots(ctx->p11, &g->slots, &g->nslots) != 0)
		return tok_err_p11(GP_ERR_DEVICE, NULL, "listing slots");
	ctx->ngens++;
	return 0;
}

/* The slot of the newest generation with slot id |id| and a token. */
static PKCS11_SLOT *
tok_slot_by_id(tok_ctx *ctx, CK_SLOT_ID id)
{
	struct tok_gen *g;
	unsigned int i;

	if (ctx->ngens == 0)
		return NULL;
	g = &ctx->gens[ctx->ngens - 1];
	for (i = 0; i < g->nslots; i++)
		if (g->slots[i].token != NULL && g->slots[i].token->initialized &&
		    PKCS11_get_slotid_from_slot(&g->slots[i]) == id)
			return &g->slots[i];
	return NULL;
}

/* Retries before a token is reported absent (20 ms doubling: 300 ms). */
#define TOK_ABSENT_RETRIES 4

int
tok_slot_find(tok_ctx *ctx, const char *name, const char *serial,
    PKCS11_SLOT **out)
{
	CK_SLOT_ID id;
	PKCS11_SLOT *slot;
	int r, i;

	/* The module is asked first, so that a missing token never costs a
	 * new generation of slots and a renumbered one is noticed. SoftHSM
	 * re-reads a token's file on every call and reports the token absent
	 * while another process holds it locked (its own login writes it):
	 * absence is believed after a few short retries. */
	for (i = 0; (r = tok_raw_slot_find(ctx->fl, name, serial, &id)) ==
	    GP_ERR_TOKEN_ABSENT && i < TOK_ABSENT_RETRIES; i++)
		usleep(20000u << i);
	if (r != 0)
		return gp_err_set(r, "no token %s%s%s in module %s",
		    name != NULL ? name : "",
		    serial != NULL ? " with serial " : "",
		    serial != NULL ? serial : "", ctx->module_path);
	if ((slot = tok_slot_by_id(ctx, id)) == NULL) {
		if ((r = tok_slots_refresh(ctx)) != 0)
			return r;
		if ((slot = tok_slot_by_id(ctx, id)) == NULL)
			return gp_err_set(GP_ERR_TOKEN_ABSENT,
			    "token %s in module %s: its slot vanished",
			    name != NULL ? name : serial, ctx->module_path);
	}
	*out = slot;
	return 0;
}

int
tok_raw_session(tok_ctx *ctx, PKCS11_SLOT *slot, CK_SESSION_HANDLE *out)
{
	CK_RV rv;

	rv = ctx->fl->C_OpenSession(PKCS11_get_slotid_from_slot(slot),
	    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, out);
	if (rv != CKR_OK)
		return tok_err_ckr(rv, slot->token != NULL ?
		    slot->token->label : NULL, "C_OpenSession");
	return 0;
}

/*
 * One tok_ctx per module per process: a second PKCS11_CTX_load of the same
 * library shares its state (C_Initialize is process-wide), and freeing
 * either context would close every session of the other (logging it out) and
 * C_Finalize the module under it. Modules in use are known by device and
 * inode, so two paths to one file count as one.
 */
#define TOK_MODULES_MAX 16
static pthread_mutex_t tok_modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	dev_t dev;
	ino_t ino;
	int used;
} tok_modules[TOK_MODULES_MAX];

static int
tok_module_claim(const char *path, const struct stat *st)
{
	int i, freei = -1, r = 0;

	pthread_mutex_lock(&tok_modules_lock);
	for (i = 0; i < TOK_MODULES_MAX; i++) {
		if (!tok_modules[i].used) {
			if (freei < 0)
				freei = i;
			continue;
		}
		if (tok_modules[i].dev == st->st_dev &&
		    tok_modules[i].ino == st->st_ino) {
			r = gp_err_set(GP_ERR_BUSY, "PKCS#11 module %s is "
			    "already loaded by another tok_ctx in this process; "
			    "share that one", path);
			goto out;
		}
	}
	if (freei < 0) {
		r = gp_err_set(GP_ERR_BUSY, "more than %d PKCS#11 modules",
		    TOK_MODULES_MAX);
		goto out;
	}
	tok_modules[freei].dev = st->st_dev;
	tok_modules[freei].ino = st->st_ino;
	tok_modules[freei].used = 1;
out:
	pthread_mutex_unlock(&tok_modules_lock);
	return r;
}

static void
tok_module_release(dev_t dev, ino_t ino)
{
	int i;

	pthread_mutex_lock(&tok_modules_lock);
	for (i = 0; i < TOK_MODULES_MAX; i++)
		if (tok_modules[i].used && tok_modules[i].dev == dev &&
		    tok_modules[i].ino == ino)
			tok_modules[i].used = 0;
	pthread_mutex_unlock(&tok_modules_lock);
}

int
tok_ctx_new(const char *module_path, tok_ctx **out)
{
	tok_ctx *ctx = NULL;
	CK_C_GetFunctionList get_list;
	struct stat st;
	char why[256];
	CK_RV rv;
	int r = GP_ERR_INTERNAL;

	ENSURE(out != NULL, gp_err_set(GP_ERR_INVALID, "tok_ctx_new: no output"));
	*out = NULL;
	ENSURE(module_path != NULL && *module_path != '\0',
	    gp_err_set(GP_ERR_INVALID, "PKCS#11 module: no path given"));
	ENSURE(stat(module_path, &st) == 0, gp_err_set(GP_ERR_MODULE,
	    "PKCS#11 module %s: %s", module_path, strerror(errno)));
	ENSURE(S_ISREG(st.st_mode), gp_err_set(GP_ERR_MODULE,
	    "PKCS#11 module %s: not a regular file", module_path));
	ENSURE((ctx = calloc(1, sizeof(*ctx))) != NULL, GP_ERR_NOMEM);
	GUARD(tok_module_claim(module_path, &st));
	ctx->claimed = 1;
	ctx->dev = st.st_dev;
	ctx->ino = st.st_ino;
	ENSURE((ctx->module_path = strdup(module_path)) != NULL, GP_ERR_NOMEM);
	ENSURE((ctx->p11 = PKCS11_CTX_new()) != NULL,
	    gp_err_ssl(GP_ERR_NOMEM, "libp11 context"));
	ERR_clear_error();
	if (PKCS11_CTX_load(ctx->p11, module_path) != 0) {
		(void)tok_err_p11(GP_ERR_MODULE, NULL, "loading the module");
		snprintf(why, sizeof(why), "%s", gp_err_detail());
		r = gp_err_set(GP_ERR_MODULE, "PKCS#11 module %s cannot be "
		    "loaded or initialised (%s)", module_path, why);
		goto out;
	}
	ctx->loaded = 1;
	/* The same path gives the same library: dlopen() only counts one
	 * more reference, and C_GetFunctionList returns the list libp11
	 * initialised. */
	ctx->dl = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
	ENSURE(ctx->dl != NULL, gp_err_set(GP_ERR_MODULE,
	    "PKCS#11 module %s: %s", module_path, dlerror()));
	*(void **)&get_list = dlsym(ctx->dl, "C_GetFunctionList");
	ENSURE(get_list != NULL, gp_err_set(GP_ERR_MODULE,
	    "PKCS#11 module %s has no C_GetFunctionList", module_path));
	rv = get_list(&ctx->fl);
	ENSURE(rv == CKR_OK && ctx->fl != NULL, gp_err_set(GP_ERR_MODULE,
	    "PKCS#11 module %s: C_GetFunctionList: %s", module_path,
	    tok_ckr_name(rv)));
	GUARD(tok_slots_refresh(ctx));
	*out = ctx;
	ctx = NULL; /* transferred */
	r = 0;
out:
	tok_ctx_free(ctx);
	return r;
}

void
tok_ctx_free(tok_ctx *ctx)
{
	size_t i;
	unsigned int j;
	int in;

	if (ctx == NULL)
		return;
	/* Newest first; the first release of a slot closes all its
	 * sessions, which logs the token out. */
	for (i = ctx->ngens; i-- > 0;) {
		if (i + 1 == ctx->ngens) {
			for (j = 0; j < ctx->gens[i].nslots; j++) {
				in = 0;
				if (ctx->gens[i].slots[j].token != NULL &&
				    PKCS11_is_logged_in(&ctx->gens[i].slots[j],
				    0, &in) == 0 && in)
					(void)PKCS11_logout(
					    &ctx->gens[i].slots[j]);
			}
		}
		PKCS11_release_all_slots(ctx->p11, ctx->gens[i].slots,
		    ctx->gens[i].nslots);
	}
	if (ctx->p11 != NULL) {
		/* A probe thread stuck in the module still points into it:
		 * leave it loaded rather than unmap code in use. */
		if (tok_probes_pending() > 0) {
			gp_log(GP_LOG_WARN, "PKCS#11 module %s left loaded: a "
			    "token probe has not returned", ctx->module_path);
			ctx->claimed = 0; /* stays claimed: still loaded */
		} else {
			if (ctx->loaded)
				PKCS11_CTX_unload(ctx->p11);
			PKCS11_CTX_free(ctx->p11);
			if (ctx->dl != NULL)
				dlclose(ctx->dl);
		}
	} else if (ctx->dl != NULL) {
		dlclose(ctx->dl);
	}
	if (ctx->claimed)
		tok_module_release(ctx->dev, ctx->ino);
	free(ctx->module_path);
	free(ctx);
	ERR_clear_error();
}

int
tok_list(tok_ctx *ctx, struct tok_info **out, size_t *out_len)
{
	struct tok_info *v = NULL;
	CK_SLOT_ID *ids = NULL;
	CK_ULONG n = 0, i;
	CK_TOKEN_INFO ti;
	CK_RV rv;
	size_t k = 0;
	int r = GP_ERR_INTERNAL;

	ENSURE(ctx != NULL && out != NULL && out_len != NULL,
	    gp_err_set(GP_ERR_INVALID, "tok_list: NULL argument"));
	*out = NULL;
	*out_len = 0;
	/* Straight from the module: it shows tokens inserted or initialised
	 * since the context was made. */
	rv = ctx->fl->C_GetSlotList(CK_TRUE, NULL, &n);
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, NULL, "C_GetSlotList"));
	ENSURE(n <= 4096, gp_err_set(GP_ERR_DEVICE, "module lists %lu slots",
	    (unsigned long)n));
	if (n > 0) {
		ENSURE((ids = calloc(n, sizeof(*ids))) != NULL, GP_ERR_NOMEM);
		rv = ctx->fl->C_GetSlotList(CK_TRUE, ids, &n);
		ENSURE(rv == CKR_OK, tok_err_ckr(rv, NULL, "C_GetSlotList"));
		ENSURE((v = calloc(n, sizeof(*v))) != NULL, GP_ERR_NOMEM);
	}
	for (i = 0; i < n; i++) {
		rv = ctx->fl->C_GetTokenInfo(ids[i], &ti);
		if (rv == CKR_TOKEN_NOT_PRESENT)
			continue;
		ENSURE(rv == CKR_OK, tok_err_ckr(rv, NULL, "C_GetTokenInfo"));
		tok_pad_copy(v[k].label, sizeof(v[k].label), ti.label,
		    sizeof(ti.label));
		tok_pad_copy(v[k].serial, sizeof(v[k].serial), ti.serialNumber,
		    sizeof(ti.serialNumber));
		tok_pad_copy(v[k].manufacturer, sizeof(v[k].manufacturer),
		    ti.manufacturerID, sizeof(ti.manufacturerID));
		tok_pad_copy(v[k].model, sizeof(v[k].model), ti.model,
		    sizeof(ti.model));
		v[k].slot_id = ids[i];
		v[k].initialized = !!(ti.flags & CKF_TOKEN_INITIALIZED);
		v[k].user_pin_locked = !!(ti.flags & CKF_USER_PIN_LOCKED);
		v[k].user_pin_final_try = !!(ti.flags & CKF_USER_PIN_FINAL_TRY);
		v[k].user_pin_count_low = !!(ti.flags & CKF_USER_PIN_COUNT_LOW);
		k++;
	}
	*out = v;
	v = NULL; /* transferred */
	*out_len = k;
	r = 0;
out:
	free(v);
	free(ids);
	return r;
}

/* The PKCS#11 return value libp11 put on OpenSSL's error queue for the
 * call that just failed (the queue is left as it is, for tok_err_p11()),
 * or CKR_OK when there is none. */
static CK_RV
tok_p11_last_ckr(void)
{
	int ckr_lib = ERR_get_CKR_code();
	unsigned long e = ERR_peek_last_error();

	if (e != 0 && ERR_GET_LIB(e) == ckr_lib)
		return (CK_RV)ERR_GET_REASON(e);
	e = ERR_peek_error();
	if (e != 0 && ERR_GET_LIB(e) == ckr_lib)
		return (CK_RV)ERR_GET_REASON(e);
	return CKR_OK;
}

int
tok_login(tok_ctx *ctx, const char *token, const char *pin)
{
	PKCS11_SLOT *slot;
	int in = 0, i, r = GP_ERR_INTERNAL;

	ENSURE(ctx != NULL && token != NULL && pin != NULL,
	    gp_err_set(GP_ERR_INVALID, "tok_login: NULL argument"));
	GUARD(tok_slot_find(ctx, token, NULL, &slot));
	if (PKCS11_is_logged_in(slot, 0, &in) == 0 && in) {
		r = 0;
		goto out;
	}
	ERR_clear_error();
	/* Read/write sessions from the start: libp11 fixes a slot's session
	 * mode at its first session, and changing it later closes them all
	 * (logging the token out). */
	ENSURE(PKCS11_open_session(slot, 1) == 0,
	    tok_err_p11(GP_ERR_DEVICE, token, "opening a session"));
	/* SoftHSM answers CKR_GENERAL_ERROR when another process holds the
	 * token's file locked (its own login writes it): that one answer is
	 * retried a few times, never a PIN error (each counts against it). */
	for (i = 0; PKCS11_login(slot, 0, pin) != 0; i++) {
		ENSURE(i < TOK_ABSENT_RETRIES &&
		    tok_p11_last_ckr() == CKR_GENERAL_ERROR,
		    tok_err_p11(GP_ERR_DEVICE, token, "user login"));
		ERR_clear_error();
		usleep(20000u << i);
	}
	r = 0;
out:
	return r;
}

int
tok_change_pin(tok_ctx *ctx, const char *token, const char *old_pin,
    const char *new_pin)
{
	PKCS11_SLOT *slot;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_RV rv;
	int r = GP_ERR_INTERNAL;

	ENSURE(ctx != NULL && token != NULL && old_pin != NULL &&
	    new_pin != NULL, gp_err_set(GP_ERR_INVALID,
	    "tok_change_pin: NULL argument"));
	ENSURE(*new_pin != '\0', gp_err_set(GP_ERR_INVALID,
	    "token %s: the new PIN is empty", token));
	GUARD(tok_slot_find(ctx, token, NULL, &slot));
	GUARD(tok_raw_session(ctx, slot, &s));
	/* PKCS#11 C_SetPIN: in a R/W public or R/W user session it changes
	 * the user PIN, checking |old_pin|. */
	rv = ctx->fl->C_SetPIN(s, (CK_UTF8CHAR *)old_pin, strlen(old_pin),
	    (CK_UTF8CHAR *)new_pin, strlen(new_pin));
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, token, "changing the user PIN"));
	r = 0;
out:
	if (s != CK_INVALID_HANDLE)
		(void)ctx->fl->C_CloseSession(s);
	return r;
}

/* Finds a slot whose token is present but not initialised. */
static int
tok_raw_free_slot(CK_FUNCTION_LIST *fl, CK_SLOT_ID *out_id)
{
	CK_SLOT_ID *ids = NULL;
	CK_ULONG n = 0, i;
	CK_TOKEN_INFO ti;
	CK_RV rv;
	int r = GP_ERR_INTERNAL;

	rv = fl->C_GetSlotList(CK_TRUE, NULL, &n);
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, NULL, "C_GetSlotList"));
	ENSURE(n <= 4096, GP_ERR_DEVICE);
	if (n > 0) {
		ENSURE((ids = calloc(n, sizeof(*ids))) != NULL, GP_ERR_NOMEM);
		rv = fl->C_GetSlotList(CK_TRUE, ids, &n);
		ENSURE(rv == CKR_OK, tok_err_ckr(rv, NULL, "C_GetSlotList"));
	}
	for (i = 0; i < n; i++) {
		if (fl->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
			continue;
		if (!(ti.flags & CKF_TOKEN_INITIALIZED)) {
			*out_id = ids[i];
			r = 0;
			goto out;
		}
	}
	r = gp_err_set(GP_ERR_TOKEN_ABSENT,
	    "no uninitialised token in the module");
out:
	free(ids);
	return r;
}

int
tok_init_token(tok_ctx *ctx, const char *label, const char *so_pin,
    const char *user_pin)
{
	CK_UTF8CHAR padded[32];
	CK_SLOT_ID free_id = 0, id = 0;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_RV rv;
	size_t len;
	int so = 0, r = GP_ERR_INTERNAL;

	ENSURE(ctx != NULL && label != NULL && so_pin != NULL &&
	    user_pin != NULL, gp_err_set(GP_ERR_INVALID,
	    "tok_init_token: NULL argument"));
	len = strlen(label);
	ENSURE(len > 0 && len <= sizeof(padded), gp_err_set(GP_ERR_INVALID,
	    "token label \"%.40s\": must be 1 to 32 bytes", label));
	ENSURE(*so_pin != '\0' && *user_pin != '\0', gp_err_set(GP_ERR_INVALID,
	    "token %s: empty SO or user PIN", label));
	ENSURE(tok_raw_slot_find(ctx->fl, label, NULL, &id) != 0,
	    gp_err_set(GP_ERR_EXISTS, "a token labelled %s exists in module %s",
	    label, ctx->module_path));
	GUARD(tok_raw_free_slot(ctx->fl, &free_id));
	memset(padded, ' ', sizeof(padded));
	memcpy(padded, label, len);
	rv = ctx->fl->C_InitToken(free_id, (CK_UTF8CHAR *)so_pin,
	    strlen(so_pin), padded);
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, label, "C_InitToken"));
	/* SoftHSM moves an initialised token to a new slot id (and shows a
	 * new free slot): look it up again by label. */
	GUARD(tok_raw_slot_find(ctx->fl, label, NULL, &id));
	rv = ctx->fl->C_OpenSession(id, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &s);
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, label, "C_OpenSession"));
	rv = ctx->fl->C_Login(s, CKU_SO, (CK_UTF8CHAR *)so_pin, strlen(so_pin));
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, label, "SO login"));
	so = 1;
	rv = ctx->fl->C_InitPIN(s, (CK_UTF8CHAR *)user_pin, strlen(user_pin));
	ENSURE(rv == CKR_OK, tok_err_ckr(rv, label, "setting the user PIN"));
	GUARD(tok_slots_refresh(ctx));
	r = 0;
out:
	if (so)
		(void)ctx->fl->C_Logout(s);
	if (s != CK_INVALID_HANDLE)
		(void)ctx->fl->C_CloseSession(s);
	return r;
}
