/*
 * internal.h: what the files of tokens/ share and nobody else sees: the
 * tok_ctx structure, slot lookup, the raw PKCS#11 helpers used where libp11
 * 0.4.12 has no API (EC key generation, attribute reads, probing), and the
 * translation of PKCS#11 return values into GP_ERR_* codes.
 *
 * Two views of one module: libp11 (PKCS11_CTX_load, which calls
 * C_Initialize) owns the module's life, slots, the user login and the
 * sessions that sign; |fl| is the same module's CK_FUNCTION_LIST, obtained by
 * dlopen()ing the same path, used for raw calls in sessions of our own. Login
 * state is per application in PKCS#11, so raw sessions share libp11's login.
 * Nothing here calls C_Initialize or C_Finalize on |fl|.
 */
#ifndef GOVPKI_TOKENS_INTERNAL_H
#define GOVPKI_TOKENS_INTERNAL_H

#include <sys/types.h>

#include <p11-kit/pkcs11.h>
#include <libp11.h>

#include "tokens/tokens.h"

/*
 * libp11 0.4.12's PKCS11_update_slots() crashes when called on an existing
 * list, and releasing a slot list closes every session of its slots (which
 * logs the token out) and frees the keys behind EVP_PKEYs handed out. So a
 * refresh enumerates a new generation of slots and keeps the older ones
 * alive until tok_ctx_free(); lookups use the newest. A refresh happens only
 * when the module shows a token the newest generation lacks, so the number of
 * generations is bounded by real changes (and capped).
 */
#define TOK_GEN_MAX 32

struct tok_gen {
	PKCS11_SLOT *slots;
	unsigned int nslots;
};

struct tok_ctx {
	PKCS11_CTX *p11;         /* libp11 context, module loaded */
	struct tok_gen gens[TOK_GEN_MAX]; /* slot lists, newest last */
	size_t ngens;
	void *dl;                /* our own dlopen() reference on the module */
	CK_FUNCTION_LIST *fl;    /* the module's functions, for raw calls */
	char *module_path;
	int loaded;              /* PKCS11_CTX_load() succeeded */
	int claimed;             /* holds the module's one-per-process slot */
	dev_t dev;               /* the module file, for that slot */
	ino_t ino;
};

/* Copies a blank-padded PKCS#11 string into |dst| without the padding. */
void tok_pad_copy(char *dst, size_t dst_len, const unsigned char *src,
    size_t src_len);

/* Finds, through the raw function list, the slot holding an initialised
 * token whose label or serial is |name| (and serial |serial| if given).
 * Returns 0 and *out_id, or GP_ERR_TOKEN_ABSENT. */
int tok_raw_slot_find(CK_FUNCTION_LIST *fl, const char *name,
    const char *serial, CK_SLOT_ID *out_id) GP_WUR;

/* Translates a CKR_ value into a GP_ERR_* code: PIN incorrect, PIN locked,
 * token absent, everything else GP_ERR_DEVICE. */
int tok_ckr_code(CK_RV rv);

/* A short name for a CKR_ value ("CKR_PIN_INCORRECT"); never NULL. */
const char *tok_ckr_name(CK_RV rv);

/* Sets the error detail for the raw call |what| that returned |rv| on
 * |token| and returns the translated code. */
int tok_err_ckr(CK_RV rv, const char *token, const char *what);

/* After a libp11 call returned -1: drains OpenSSL's error queue, finds the
 * CKR_ value libp11 pushed (ERR_get_CKR_code() is its library number), and
 * sets the detail "<what> on token <token>: <reason>". Returns the
 * translated code, or |fallback| when no CKR_ value was queued. */
int tok_err_p11(int fallback, const char *token, const char *what);

/* Finds the slot whose token has label or serial |name| (both when
 * |serial| is also given; |name| may then be NULL). Refreshes libp11's slot
 * list once when nothing matches. GP_ERR_TOKEN_ABSENT naming it otherwise. */
int tok_slot_find(tok_ctx *ctx, const char *name, const char *serial,
    PKCS11_SLOT **out) GP_WUR;

/* Enumerates a new generation of libp11 slots (see struct tok_gen). */
int tok_slots_refresh(tok_ctx *ctx) GP_WUR;

/* Opens a raw R/W session on |slot|; the caller closes it with
 * ctx->fl->C_CloseSession. */
int tok_raw_session(tok_ctx *ctx, PKCS11_SLOT *slot, CK_SESSION_HANDLE *out)
    GP_WUR;

/* Finds the objects of |klass| labelled |label| (and with CKA_ID |id| when
 * |id_len| > 0). Returns up to |max| handles in |out|, the count in
 * *out_count. */
int tok_raw_find(tok_ctx *ctx, CK_SESSION_HANDLE s, CK_OBJECT_CLASS klass,
    const char *label, const unsigned char *id, size_t id_len,
    CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *out_count) GP_WUR;

/* Reads one variable-length attribute into a new buffer (freed with
 * OPENSSL_free). */
int tok_raw_attr(tok_ctx *ctx, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type, unsigned char **out, size_t *out_len) GP_WUR;

/* Builds the public EVP_PKEY of the public-key object |o| from CKA_EC_PARAMS
 * and CKA_EC_POINT, or CKA_MODULUS and CKA_PUBLIC_EXPONENT. */
int tok_raw_pubkey(tok_ctx *ctx, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    EVP_PKEY **out) GP_WUR;

/* GP_ERR_LOGIN_REQUIRED naming |token| unless the raw session |s| is in a
 * user-functions state (the user is logged in). */
int tok_session_user(tok_ctx *ctx, CK_SESSION_HANDLE s, const char *token)
    GP_WUR;

/* The number of tok_probe() helper threads still blocked in a module,
 * process-wide; tok_ctx_free() leaves the module loaded while it is not 0. */
int tok_probes_pending(void);

/* Parses |uri| (pkcs11: only) and opens a raw session on its token. */
int tok_uri_session(tok_ctx *ctx, const char *uri, struct tok_uri *out_uri,
    PKCS11_SLOT **out_slot, CK_SESSION_HANDLE *out_s) GP_WUR;

/* The printable name of the token a URI designates, for error details. */
const char *tok_uri_token_name(const struct tok_uri *u);

#endif /* GOVPKI_TOKENS_INTERNAL_H */
