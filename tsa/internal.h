/*
 * internal.h: what the files of tsa/ share. struct tsa is written by
 * tsa_new() and only read afterwards, except the clock state under
 * |clock_mu| and the durable bound under |bound_mu|.
 */
#ifndef GOVPKI_TSA_INTERNAL_H
#define GOVPKI_TSA_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "tsa/tsa.h"

/* The store meta key of the genTime bound (Unix microseconds, decimal):
 * no token of any instance sharing the store has a later genTime. (Older
 * stores hold the last genTime itself there, which is such a bound.) A TSA
 * of a named node (tsa_opts.node) keeps its own bound under
 * TSA_META_LAST "/" <node> and honours this one too, which instances
 * wrote before bounds were per node. */
#define TSA_META_LAST "tsa.last_gentime_us"
/* The bound is written this far ahead of the clock, and moved again when
 * the clock comes within TSA_BOUND_REFRESH_US of it. */
#define TSA_BOUND_AHEAD_US 1000000
#define TSA_BOUND_REFRESH_US 500000

enum tsa_hook {
	TSA_HOOK_NONE = 0,
	TSA_HOOK_OK,
	TSA_HOOK_UNSYNC,
	TSA_HOOK_ERROR,
	TSA_HOOK_BACKWARDS
};

#define TSA_MAX_POLICIES 17
/* No token comes near this; a DER buffer that would is an error. */
#define TSA_TOK_MAX (1024 * 1024)

/* Bytes encoded once (OpenSSL-allocated; freed by tsa_tok_free()). */
struct tsa_buf {
	uint8_t *p;
	size_t len;
};

/* The constant parts of every token, DER, written by tsa_tok_init(). */
struct tsa_tok {
	struct tsa_buf policy[TSA_MAX_POLICIES]; /* OBJECT IDENTIFIER TLVs */
	char policy_txt[TSA_MAX_POLICIES][96];   /* dotted, for the audit */
	struct tsa_buf accuracy;      /* Accuracy */
	struct tsa_buf tsa_name;      /* [0] EXPLICIT GeneralName */
	struct tsa_buf ess_attr;      /* Attribute signingCertificateV2 */
	struct tsa_buf md_alg;        /* AlgorithmIdentifier of sign_md */
	struct tsa_buf sig_alg;       /* signatureAlgorithm of SignerInfo */
	struct tsa_buf sid;           /* IssuerAndSerialNumber */
	struct tsa_buf certs;         /* TSA certificate, then the chain */
	size_t sig_max;               /* EVP_PKEY_get_size() of the key */
	int precision;                /* genTime fraction digits */
};

/* What varies from one token to the next. */
struct tsa_tok_in {
	size_t policy;                /* index into tsa.policy */
	const uint8_t *imprint;       /* DER MessageImprint, re-encoded */
	size_t imprint_len;
	const uint8_t *nonce;         /* DER INTEGER, or NULL */
	size_t nonce_len;
	int cert_req;                 /* include the certificates */
	uint8_t serial[16];           /* first byte 0x01..0x7f */
	int64_t gen_us;               /* genTime, Unix microseconds */
};

struct tsa {
	const struct gp_config *cfg;
	EVP_PKEY *key;
	X509 *cert;
	STACK_OF(X509) *chain;
	const EVP_MD *sign_md;
	ASN1_OBJECT *policy[TSA_MAX_POLICIES]; /* [0] is the default */
	size_t policy_len;
	size_t max_request;
	int warn_mode;                /* tsa.clock_check "warn" */
	int64_t accuracy_us;          /* declared accuracy */
	store *st;
	char bound_key[96];           /* the meta key of this TSA's bound */
	/* The clock guard. */
	enum tsa_hook hook;
	int64_t hook_error_us;
	pthread_mutex_t clock_mu;
	int64_t last_us;              /* last genTime issued or loaded */
	int64_t bound_us;             /* durable bound this process wrote */
	int64_t warned_mono_ms;       /* warn mode: last warning logged */
	pthread_mutex_t bound_mu;     /* one writer of the bound at a time */
	struct tsa_tok tok;
};

/* tsa_tok.c: encodes the constant parts once, then checks one token with
 * OpenSSL (GP_ERR_CONFIG or GP_ERR_INVALID when the key cannot make a
 * valid one). Needs cert, key, chain, sign_md and the policies set. */
int tsa_tok_init(tsa *t) GP_WUR;
/* Frees what tsa_tok_init() made; safe on a partly made one. */
void tsa_tok_free(tsa *t);
/* The DER TimeStampResp (status granted) of one token, signed by the TSA
 * key; *out_der is freed with OPENSSL_free. Touches nothing shared, so any
 * number of threads may call it at once. GP_ERR_DEVICE when the key did
 * not sign. */
int tsa_tok_build(const tsa *t, const struct tsa_tok_in *in,
    uint8_t **out_der, size_t *out_len) GP_WUR;

/* tsa_clock.c */
int tsa_clock_init(tsa *t, const char *test_clock) GP_WUR;
/* Takes the time for one token: on success (0) *out_us is the genTime,
 * not earlier than any genTime before it, and becomes the new last one.
 * When the guard refuses, returns the state and writes the reason. */
enum tsa_clock tsa_clock_take(tsa *t, int64_t *out_us, char *why,
    size_t why_len);
/* Moves the durable bound ahead when the last genTime came within
 * TSA_BOUND_REFRESH_US of it, so that tsa_clock_take() seldom waits for
 * the store; skips when another thread is writing it. */
void tsa_clock_persist(tsa *t);

#endif /* GOVPKI_TSA_INTERNAL_H */
