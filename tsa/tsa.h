/*
 * tsa.h: the RFC 3161 time-stamp authority. One tsa object answers
 * TimeStampReq DER with TimeStampResp DER: a token signed by the TSA key
 * (which may live on a PKCS#11 token) with ESSCertIDv2 over SHA-256
 * (RFC 5816), or a rejection carrying the PKIFailureInfo that says why.
 *
 *   tsa_resp.c    tsa_new/tsa_free, request checks, tsa_respond()
 *   tsa_tok.c     the DER of a token: constant parts encoded once at
 *                 tsa_new(), the rest per request, then signed
 *   tsa_reject.c  DER rejection replies built without a parsed request
 *   tsa_clock.c   the clock guard (ETSI EN 319 421): kernel sync state,
 *                 estimated error against the declared accuracy, and
 *                 backwards steps since the last token
 *   tsa_verify.c  token and reply verification (the CLI and tests)
 *   tsa_stamp.c   requests (tsa_req_make) and time-stamps made in process
 *                 (tsa_stamp_digest, for the audit log's checkpoints)
 *
 * What it never does: issue a token when the clock guard refuses, issue a
 * token for a request it cannot fully parse, or reuse a serial number.
 * Auditing is the caller's: tsa_respond() reports in |struct tsa_result|
 * what to record, and the caller must not send a token it failed to audit.
 *
 * Threads: tsa_respond() and tsa_clock_state() may be called from any
 * number of threads at once; what tsa_new() encoded is only read
 * afterwards, each call writes its token into its own buffer, and the key
 * signs concurrently. Only the clock guard is shared (under a mutex).
 */
#ifndef GOVPKI_TSA_H
#define GOVPKI_TSA_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#include "core/core.h"
#include "store/store.h"

typedef struct tsa tsa;

/* PKIFailureInfo bits (RFC 3161 2.4.2), equal to OpenSSL's TS_INFO_*. */
#define TSA_FAIL_BAD_ALG 0
#define TSA_FAIL_BAD_REQUEST 2
#define TSA_FAIL_BAD_DATA_FORMAT 5
#define TSA_FAIL_TIME_NOT_AVAILABLE 14
#define TSA_FAIL_UNACCEPTED_POLICY 15
#define TSA_FAIL_UNACCEPTED_EXTENSION 16
#define TSA_FAIL_ADD_INFO_NOT_AVAILABLE 17
#define TSA_FAIL_SYSTEM_FAILURE 25

/* "badAlg", "badRequest", ... for a failure bit; "unknown" otherwise. */
const char *tsa_fail_name(int bit);

/* The environment variable of the clock test hook. Test-only: when set,
 * the clock guard reads "ok", "unsync", "error:<microseconds>" or
 * "backwards" (the clock read one hour behind) from it instead of the
 * kernel, and tsa_new() logs a warning that says so. */
#define TSA_TEST_CLOCK_ENV "GOVPKI_TEST_CLOCK"

struct tsa_opts {
	const struct gp_config *cfg; /* tsa_* fields; borrowed for the life */
	EVP_PKEY *key;               /* the TSA key; up-referenced */
	X509 *cert;                  /* its certificate; up-referenced */
	X509 *const *chain;          /* certificates sent with certReq after
	                              * |cert| (the issuing CA); copied */
	size_t chain_len;
	store *st;                   /* persists the last genTime; may be NULL */
	const char *node;            /* this node's name: its genTime bound is
	                              * its own (several nodes sharing one
	                              * store, each its own clock); NULL:
	                              * the bound of the whole store */
	const char *test_clock;      /* the test hook value, or NULL */
};

/* Builds a TSA. Checks that |cert| is usable for time-stamping (one
 * critical EKU, id-kp-timeStamping) and matches |key|, and that the
 * configured policies parse; encodes what every token shares and checks
 * one token with OpenSSL (so |key| signs once, on its token if it lives on
 * one). Loads the last genTime persisted in |st| so that a clock set back
 * across a restart is refused. GP_ERR_CONFIG naming the field, or
 * GP_ERR_INVALID naming the certificate. */
int tsa_new(const struct tsa_opts *o, tsa **out) GP_WUR;

/* Persists the last genTime and frees. Accepts NULL. */
void tsa_free(tsa *t);

/* What one answer was, for the audit record and the log. */
struct tsa_result {
	int granted;          /* 1: the reply carries a token */
	int fail_bit;         /* TSA_FAIL_*, or -1 when granted */
	char reason[160];     /* statusString of a rejection */
	char serial[72];      /* token serial, lower-case hex, granted only */
	char md[16];          /* "sha256" ... or "" when not parsed */
	char imprint[129];    /* hex of the hashed message, or "" */
	char policy[96];      /* the policy of the token, or "" */
	int64_t gen_time_ms;  /* genTime of the token, Unix ms */
};

/* Answers the DER TimeStampReq |req| of |req_len| bytes. Returns 0 with
 * *out_der (freed with OPENSSL_free) holding a TimeStampResp, a token or a
 * rejection, and |res| saying which; a negative GP_ERR_* only when not even
 * a rejection could be built. Never a token for a request over
 * tsa.max_request_bytes, with trailing bytes, an unknown or refused hash
 * algorithm, an imprint of the wrong length, an unknown policy or
 * extension, or when the clock guard refuses. */
int tsa_respond(tsa *t, const uint8_t *req, size_t req_len,
    uint8_t **out_der, size_t *out_len, struct tsa_result *res) GP_WUR;

/* A DER TimeStampReq (version 1) for |digest| (|dlen| bytes under |md|),
 * with |nonce| and |policy| (a dotted OID) when not NULL, and certReq as
 * |cert_req| says. *out is freed with free(). GP_ERR_INVALID naming the
 * policy when it is not an OID. */
int tsa_req_make(const EVP_MD *md, const uint8_t *digest, unsigned int dlen,
    const ASN1_INTEGER *nonce, const char *policy, int cert_req,
    uint8_t **out, size_t *out_len) GP_WUR;

/* Time-stamps the SHA-256 digest |digest| in process: a request with
 * certReq (tsa_req_make) answered by tsa_respond(), so the same checks and
 * clock guard apply. Returns 0 with the DER TimeStampToken (ContentInfo) in
 * *out_tst (freed with free()) and |res| filled (for the caller's audit
 * record); GP_ERR_BUSY with the reason when the TSA refused (its clock
 * guard), or another error. */
int tsa_stamp_digest(tsa *t, const uint8_t digest[32], uint8_t **out_tst,
    size_t *out_len, struct tsa_result *res) GP_WUR;

/* A rejection TimeStampResp (status rejection, |text| as statusString, at
 * most 100 bytes of it, and the failure bit) without a TSA, for requests
 * refused before they are read (a wrong content type). *out_der is freed
 * with OPENSSL_free. */
int tsa_reject(int fail_bit, const char *text, uint8_t **out_der,
    size_t *out_len) GP_WUR;

/*
 * The clock guard. The TSA issues nothing when:
 *   - the kernel says the clock is not synchronised (adjtimex STA_UNSYNC),
 *   - the kernel's estimated error exceeds the declared accuracy,
 *   - the clock reads earlier than the last genTime issued (in this
 *     process, or, through the durable bound, by any instance sharing
 *     the store, before a crash too),
 *   - the bound cannot be moved past the clock in the store.
 * With tsa.clock_check "warn", the first two are logged and reported but
 * do not refuse; a backwards step refuses in both modes.
 */
enum tsa_clock {
	TSA_CLOCK_OK = 0,
	TSA_CLOCK_UNSYNC,
	TSA_CLOCK_ERROR,      /* estimated error above the accuracy */
	TSA_CLOCK_BACKWARDS,
	TSA_CLOCK_UNSTORED    /* the genTime bound cannot be stored */
};

/* The state now (without issuing anything). *out_refuse is 1 when a
 * request now would be refused. |why| gets a short text for /healthz:
 * "ok", or the reason ("clock unsynchronised (warn mode)"). */
enum tsa_clock tsa_clock_state(tsa *t, int *out_refuse, char *why,
    size_t why_len);

/* 1 when the kernel reports the clock synchronised (not STA_UNSYNC);
 * used by `govpki init` to choose tsa.clock_check. */
int tsa_clock_kernel_synced(void);

/*
 * Verification (tsa_verify.c), used by the CLI and the tests. |reply_der|
 * may be a TimeStampResp (status granted) or a bare token (ContentInfo).
 * The token's signature must verify with a certificate chaining to
 * |trusted| (with |untrusted| and the token's own certificates as
 * intermediates) that carries the critical timeStamping EKU, its
 * ESSCertID(v2) must name that certificate, and its imprint must be the
 * digest of the file |data_path| (when set) under the token's algorithm,
 * or equal |digest|. With |nonce|, the token's nonce must equal it.
 * The certificate path is checked at the present time, or, with
 * |at_gen_time|, at the token's genTime (a relying party judging an old
 * token: the TSA certificate had to be valid when it signed).
 * Returns 0 and fills |out|; GP_ERR_TAMPERED with a detail when a check
 * fails; GP_ERR_INVALID when the input does not parse or is a rejection.
 */
struct tsa_verify_in {
	const uint8_t *reply_der;
	size_t reply_len;
	const char *data_path;     /* the stamped file, or NULL */
	const uint8_t *digest;     /* or its digest, when data_path is NULL */
	size_t digest_len;
	const ASN1_INTEGER *nonce; /* or NULL */
	STACK_OF(X509) *trusted;   /* borrowed */
	STACK_OF(X509) *untrusted; /* borrowed; may be NULL */
	int at_gen_time;           /* the path at genTime, not now */
};
struct tsa_verify_out {
	char serial[72];           /* lower-case hex */
	char gen_time[40];         /* as in the token, GeneralizedTime */
	char policy[96];
	char md[16];
	char tsa_subject[256];     /* the signer certificate's subject */
	int has_certs;             /* the token carries certificates */
};
int tsa_verify(const struct tsa_verify_in *in, struct tsa_verify_out *out)
    GP_WUR;

#endif /* GOVPKI_TSA_H */
