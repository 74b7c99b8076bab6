/*
 * tokens.h: the only door to PKCS#11. Nothing outside tokens/ sees a PIN
 * after it is read, a session, or an object handle; the rest of govpki asks
 * for an EVP_PKEY by key URI and signs through OpenSSL.
 *
 * One tok_ctx loads one PKCS#11 module (SoftHSM in tests and in the embedded
 * default, a vendor's library for USB keys and HSMs) through libp11's
 * PKCS11_* API. libp11 0.4.12 cannot generate EC keys, so key generation and
 * attribute reads use the module's own function list (C_GenerateKeyPair with
 * CKA_SENSITIVE=TRUE and CKA_EXTRACTABLE=FALSE); the module is initialised
 * once, by libp11, and never finalised behind its back.
 *
 * Keys are named by RFC 7512 URIs ("pkcs11:token=govpki;object=tsa"), or by
 * "file:/path/key.pem" for development and benchmarks only.
 *
 * Threads: after tok_login() and tok_key_load(), an EVP_PKEY may be used by
 * any number of threads at once; libp11 keeps a pool of sessions per slot and
 * the key's object handle is looked up once, at load, never per signature.
 * tok_ctx functions other than signing are not to be called concurrently.
 */
#ifndef GOVPKI_TOKENS_H
#define GOVPKI_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/core.h"

typedef struct tok_ctx tok_ctx;

enum tok_algo {
	TOK_ALGO_EC_P256,
	TOK_ALGO_EC_P384,
	TOK_ALGO_RSA_2048,
	TOK_ALGO_RSA_3072
};

/* "ec-p256", "ec-p384", "rsa-2048", "rsa-3072". GP_ERR_INVALID otherwise. */
int tok_algo_parse(const char *name, enum tok_algo *out) GP_WUR;
const char *tok_algo_name(enum tok_algo algo);

/*
 * PINs. A PIN comes from a file (first line, trailing newline removed), an
 * environment variable, or a prompt on the controlling terminal with echo
 * off; never from argv. The returned PIN is freed with gp_secret_free(),
 * which wipes it.
 */
enum tok_pin_kind { TOK_PIN_FILE, TOK_PIN_ENV, TOK_PIN_PROMPT };
struct tok_pin_source {
	enum tok_pin_kind kind;
	const char *value; /* path, variable name, or prompt text */
};
int tok_pin_read(const struct tok_pin_source *src, char **out_pin) GP_WUR;

/* Makes a random PIN of |len| characters from [A-Za-z0-9]. */
int tok_pin_random(size_t len, char **out_pin) GP_WUR;

/* Loads |module_path|. GP_ERR_MODULE naming the path when it cannot be
 * loaded or initialised. For SoftHSM the caller sets SOFTHSM2_CONF first.
 * One tok_ctx per module per process: GP_ERR_BUSY while another tok_ctx
 * holds the same module (PKCS#11 initialisation and login are process-wide,
 * so freeing one would log the other out and finalise its module); free the
 * first, or share it. */
int tok_ctx_new(const char *module_path, tok_ctx **out) GP_WUR;

/* Logs out, releases every key loaded from |ctx| and unloads the module.
 * Keys returned by tok_key_load() must be freed before. Accepts NULL. */
void tok_ctx_free(tok_ctx *ctx);

struct tok_info {
	char label[33];
	char serial[17];
	char manufacturer[33];
	char model[17];
	unsigned long slot_id;
	int initialized;
	int user_pin_locked;
	int user_pin_final_try;
	int user_pin_count_low;
};

/* Every slot with a token. *out is freed with free(). */
int tok_list(tok_ctx *ctx, struct tok_info **out, size_t *out_len) GP_WUR;

/* Initialises the first uninitialised token as |label| with the SO PIN and
 * sets the user PIN. GP_ERR_EXISTS if a token with |label| exists. */
int tok_init_token(tok_ctx *ctx, const char *label, const char *so_pin,
    const char *user_pin) GP_WUR;

/* Logs the user into the token whose label or serial is |token|.
 * GP_ERR_TOKEN_ABSENT, GP_ERR_PIN_INCORRECT, GP_ERR_PIN_LOCKED or
 * GP_ERR_DEVICE, each with a detail naming the token. Logging in twice to
 * the same token is not an error. */
int tok_login(tok_ctx *ctx, const char *token, const char *pin) GP_WUR;

/* Changes the user PIN of |token| (logged in or not). */
int tok_change_pin(tok_ctx *ctx, const char *token, const char *old_pin,
    const char *new_pin) GP_WUR;

/* Generates a key pair on |token| (logged in) with CKA_LABEL |label|, a
 * random CKA_ID, CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_SIGN and
 * CKA_EXTRACTABLE=FALSE. GP_ERR_EXISTS if a key with |label| exists. On
 * success *out_pub, if not NULL, receives the public key. */
int tok_keygen(tok_ctx *ctx, const char *token, const char *label,
    enum tok_algo algo, EVP_PKEY **out_pub) GP_WUR;

/* What a generated key may do: TOK_USE_SIGN as tok_keygen() (RSA keys
 * may also decrypt), or TOK_USE_DECRYPT: an RSA key that decrypts and
 * never signs (CKA_SIGN=FALSE; a sealed-bid opening key, tender/). */
enum tok_key_use { TOK_USE_SIGN, TOK_USE_DECRYPT };
int tok_keygen_use(tok_ctx *ctx, const char *token, const char *label,
    enum tok_algo algo, enum tok_key_use use, EVP_PKEY **out_pub) GP_WUR;

/* Returns, for |uri|, a private key usable for signing from any thread. For
 * pkcs11: URIs the token must be logged in; the object is looked up once
 * here. For file: URIs the PEM file is read (no passphrase). The caller
 * frees *out with EVP_PKEY_free() before tok_ctx_free(). */
int tok_key_load(tok_ctx *ctx, const char *uri, EVP_PKEY **out) GP_WUR;

/* The public key of |uri| without needing a login. */
int tok_pubkey_load(tok_ctx *ctx, const char *uri, EVP_PKEY **out) GP_WUR;

/* Reports whether the key behind |uri| is sensitive and non-extractable as
 * the token says (CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_NEVER_EXTRACTABLE). */
int tok_key_attrs(tok_ctx *ctx, const char *uri, int *out_sensitive,
    int *out_extractable) GP_WUR;

/* Writes |cert| as a certificate object labelled |label| with the CKA_ID of
 * the key of the same label if there is one. Replaces nothing:
 * GP_ERR_EXISTS if a certificate with |label| exists. */
int tok_cert_write(tok_ctx *ctx, const char *token, const char *label,
    X509 *cert) GP_WUR;

/* Reads the certificate object named by |uri|. */
int tok_cert_read(tok_ctx *ctx, const char *uri, X509 **out) GP_WUR;

/* Builds a PKCS#10 request for |subject| signed by |key| with SHA-256 (or
 * SHA-384 for P-384). The signature proves possession of the token key. */
int tok_csr_make(EVP_PKEY *key, const X509_NAME *subject, X509_REQ **out)
    GP_WUR;

/* Checks within |timeout_ms| that the token of |token| still answers
 * (C_GetTokenInfo). GP_ERR_DEVICE on failure or when it does not answer in
 * time; never blocks longer than |timeout_ms|. Safe to call from any thread
 * while keys are in use. */
int tok_probe(tok_ctx *ctx, const char *token, int timeout_ms) GP_WUR;

/* A parsed RFC 7512 URI. Path attributes token, serial, object, type and
 * id, query attribute module-path; values are pct-decoded. Any other
 * attribute is GP_ERR_INVALID naming it; "pin-value" (and "pin-source") are
 * refused so that PINs never travel in URIs. "file:/path" and
 * "file:///path" give |file| only. tok_uri_clear() frees the fields and
 * accepts a zeroed or cleared struct; on failure *out is left cleared. */
struct tok_uri {
	char *token;
	char *serial;
	char *object;
	char *type;        /* "private", "public", "cert" or NULL */
	char *module_path; /* query attribute module-path, or NULL */
	char *file;        /* for file: URIs */
	unsigned char *id; /* path attribute id (pct-decoded bytes), or NULL */
	size_t id_len;
};
int tok_uri_parse(const char *uri, struct tok_uri *out) GP_WUR;
void tok_uri_clear(struct tok_uri *uri);

/*
 * Wrapped, imported and deleted keys; the SO's PIN reset (tok_wrap.c).
 */

/* Generates on |token| (logged in) the AES-256 storage key |label| of the
 * key management centre: CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE,
 * CKA_EXTRACTABLE false, CKA_WRAP and CKA_UNWRAP only (no CKA_ENCRYPT or
 * CKA_DECRYPT). GP_ERR_EXISTS when a secret key |label| exists. */
int tok_wrapkey_gen(tok_ctx *ctx, const char *token, const char *label)
    GP_WUR;

/* The storage key's CKA_SENSITIVE and extractability (as tok_key_attrs
 * counts it). GP_ERR_NOT_FOUND when |token| holds no secret key |label|. */
int tok_wrapkey_attrs(tok_ctx *ctx, const char *token, const char *label,
    int *out_sensitive, int *out_extractable) GP_WUR;

/* Generates an RSA key pair (|algo| rsa-2048 or rsa-3072) on |token| as
 * session objects, wraps the private key with CKM_AES_KEY_WRAP_PAD (RFC
 * 5649) under the storage key |wrap_label|, destroys both objects and
 * returns the public key and the wrapped blob (freed with free()). The
 * private key is never in the clear outside the token. */
int tok_wrapped_keygen(tok_ctx *ctx, const char *token,
    const char *wrap_label, enum tok_algo algo, EVP_PKEY **out_pub,
    uint8_t **out_blob, size_t *out_len) GP_WUR;

/* Unwraps |blob| under |wrap_label| into a session object, reads it into
 * an RSA key pair in memory (*out, freed with EVP_PKEY_free, which the
 * caller does as soon as the key is enveloped) and destroys the object.
 * GP_ERR_TAMPERED when the blob does not unwrap (changed, or under another
 * storage key). */
int tok_unwrap_private(tok_ctx *ctx, const char *token,
    const char *wrap_label, const uint8_t *blob, size_t len, EVP_PKEY **out)
    GP_WUR;

/* Creates the RSA private key |key| on |token| (logged in) as a token
 * object labelled |label| that is CKA_SENSITIVE, not extractable, may
 * decrypt and unwrap but not sign, with its public key object under the
 * same label and a random CKA_ID. GP_ERR_EXISTS when a private key
 * |label| exists; nothing is left on failure. */
int tok_key_import(tok_ctx *ctx, const char *token, const char *label,
    EVP_PKEY *key) GP_WUR;

/* The private key behind |uri| as the token describes it, each flag 0 or
 * 1: CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_ALWAYS_SENSITIVE,
 * CKA_NEVER_EXTRACTABLE and CKA_LOCAL (true only when the token generated
 * it, PKCS#11 4.7; an imported key has it false, and the two "always"
 * flags false too, for it existed outside before). GP_ERR_NOT_FOUND
 * when there is no such key. */
struct tok_key_flags {
	int sensitive;
	int extractable;
	int always_sensitive;
	int never_extractable;
	int local;
};
int tok_key_flags(tok_ctx *ctx, const char *uri, struct tok_key_flags *out)
    GP_WUR;

/* Deletes the private key, public key and certificate objects labelled
 * |label| on |token| (logged in); none is not an error. */
int tok_key_delete(tok_ctx *ctx, const char *token, const char *label)
    GP_WUR;

/* Logs in as the security officer with |so_pin| and sets the user PIN to
 * |new_pin| (C_InitPIN), which also ends a user PIN lockout; logs the SO
 * out. GP_ERR_PIN_INCORRECT for a wrong SO PIN. */
int tok_init_pin(tok_ctx *ctx, const char *token, const char *so_pin,
    const char *new_pin) GP_WUR;

/* The certificate objects of |token| (at most TOK_CERT_LIST_MAX), each
 * with its label; objects that are not one DER certificate are skipped.
 * Free with tok_cert_list_free(). */
#define TOK_CERT_LIST_MAX 256
struct tok_cert_obj {
	char label[129];
	X509 *cert;
};
int tok_cert_list(tok_ctx *ctx, const char *token, struct tok_cert_obj **out,
    size_t *out_len) GP_WUR;
void tok_cert_list_free(struct tok_cert_obj *list, size_t len);

#endif /* GOVPKI_TOKENS_H */
