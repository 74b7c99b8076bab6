/*
 * core.h: the pieces every govpki module shares and that depend on nothing
 * but libc, OpenSSL and jansson: the error table, the logger, small file and
 * encoding helpers, and the instance configuration (govpki.json).
 *
 * Error convention: a function that can fail returns int, 0 on success or a
 * negative GP_ERR_* code. The code says what kind of failure it was; the
 * thread-local detail set with gp_err_set() says which field, file or object
 * and what to do about it. Callers print gp_err_detail() next to the code's
 * message. Detail text never contains a PIN or key material.
 */
#ifndef GOVPKI_CORE_H
#define GOVPKI_CORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define GP_WUR __attribute__((warn_unused_result))
#define GP_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* The one error table. Keep gp_err_str() in err.c in step. */
enum {
	GP_OK = 0,
	GP_ERR_INTERNAL = -1,
	GP_ERR_NOMEM = -2,
	GP_ERR_INVALID = -3,       /* bad input: a field, a file, an argument */
	GP_ERR_IO = -4,            /* a file or socket operation failed */
	GP_ERR_CONFIG = -5,        /* govpki.json is missing, malformed or inconsistent */
	GP_ERR_EXISTS = -6,        /* refused to overwrite something that exists */
	GP_ERR_NOT_FOUND = -7,
	GP_ERR_CRYPTO = -8,        /* OpenSSL refused an operation */
	GP_ERR_MODULE = -9,        /* the PKCS#11 module cannot be loaded */
	GP_ERR_TOKEN_ABSENT = -10, /* no token with that label or serial */
	GP_ERR_PIN_INCORRECT = -11,
	GP_ERR_PIN_LOCKED = -12,
	GP_ERR_DEVICE = -13,       /* the token or module failed or did not answer */
	GP_ERR_STORE = -14,        /* the database failed */
	GP_ERR_TAMPERED = -15,     /* an integrity check failed: the audit chain, a
	                            * signature, a time-stamp, a CRL, a history;
	                            * the detail says which */
	GP_ERR_DENIED = -16,       /* the actor's role does not allow this */
	GP_ERR_TOO_LARGE = -17,
	GP_ERR_UNSUPPORTED = -18,
	GP_ERR_BUSY = -19,
	GP_ERR_NO_PIN = -20,       /* no PIN could be obtained from the configured source */
	GP_ERR_LOGIN_REQUIRED = -21,
	GP_ERR_UNAUTHENTICATED = -22, /* no or unacceptable client certificate
	                               * or credential (an enrolment code) */
	GP_ERR_CONFLICT = -23,     /* the object is in a state that forbids this */
	GP_ERR_MAX_ = -24
};

/* Returns the fixed message of |code|; never NULL. */
const char *gp_err_str(int code);

/* Returns a short stable name for |code| ("pin_incorrect"), used in JSON
 * errors and metrics; never NULL. */
const char *gp_err_name(int code);

/* Records |fmt| as this thread's error detail and returns |code|, so that
 * callers write `return gp_err_set(GP_ERR_INVALID, "field %s: ...", f);`.
 * A later call replaces the detail. */
int gp_err_set(int code, const char *fmt, ...) GP_PRINTF(2, 3);

/* Like gp_err_set() but appends OpenSSL's error queue text (and clears it). */
int gp_err_ssl(int code, const char *fmt, ...) GP_PRINTF(2, 3);

/* This thread's detail, or "" if none was set since gp_err_clear(). */
const char *gp_err_detail(void);
void gp_err_clear(void);

/* Guard macros that keep the success path straight. They jump to `out`, so
 * the enclosing function must declare `int r` and an `out:` label. */
#define GUARD(x)                        \
	do {                            \
		if ((r = (x)) != 0)     \
			goto out;       \
	} while (0)
#define ENSURE(cond, code)              \
	do {                            \
		if (!(cond)) {          \
			r = (code);     \
			goto out;       \
		}                       \
	} while (0)

/* Logging: one line per event on stderr. gp_log_json(1) switches every line
 * to a JSON object with "time", "level" and "msg". Never pass secrets. */
enum gp_log_level { GP_LOG_DEBUG, GP_LOG_INFO, GP_LOG_WARN, GP_LOG_ERROR };
void gp_log_set_level(enum gp_log_level level);
void gp_log_json(int on);
void gp_log(enum gp_log_level level, const char *fmt, ...) GP_PRINTF(2, 3);
/* Writes |obj| as one compact JSON line on stderr (request log); does not
 * take ownership. */
void gp_log_obj(json_t *obj);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME) and a monotonic clock. */
int64_t gp_now_ms(void);
int64_t gp_mono_ms(void);

/* Reads the whole file |path| into a NUL-terminated buffer, refusing files
 * over |max_len| bytes. The caller frees *out_buf with free(). */
int gp_file_read(const char *path, size_t max_len, uint8_t **out_buf,
    size_t *out_len) GP_WUR;

/* Writes |len| bytes to |path| with |mode| through a temporary file in the
 * same directory, fsync and rename, so that |path| is either absent or
 * complete. With |exclusive|, fails with GP_ERR_EXISTS if |path| exists. */
int gp_file_write(const char *path, const void *buf, size_t len,
    unsigned int mode, int exclusive) GP_WUR;

/* mkdir with |mode|; an existing directory is not an error. */
int gp_mkdir(const char *path, unsigned int mode) GP_WUR;

/* Joins |dir| and |name| into a newly allocated path; NULL on overflow or
 * allocation failure. An absolute |name| is returned as is. */
char *gp_path_join(const char *dir, const char *name);

/* Lower-case hex of |len| bytes into a newly allocated string. */
char *gp_hex(const uint8_t *buf, size_t len);

/* |len| bytes from OpenSSL's CSPRNG. */
int gp_random(uint8_t *buf, size_t len) GP_WUR;

/* One HTTP/1.1 exchange over a plain socket (core/http.c). */
struct gp_http_req {
	const char *method;        /* "GET" or "POST" */
	const char *url;           /* "http://HOST[:PORT]/PATH" only */
	const char *content_type;  /* of |body| (POST) */
	const char *accept;        /* sent as Accept and required as the
	                            * reply's Content-Type; NULL: any */
	const uint8_t *body;       /* POST only */
	size_t body_len;
	size_t max;                /* largest reply body accepted */
	int64_t timeout_ms;        /* the whole exchange; 0: 30 s */
	/* Sealed bids (tender/): the body streamed from this file instead
	 * of |body| (POST or DELETE; any size, read in 64 KiB pieces), and,
	 * when |out_status| is set, a reply of any status returned with its
	 * body (the caller reads the status) instead of an error. */
	const char *body_path;
	int *out_status;
};

/* Sends |rq| ("GET", "POST" or "DELETE") and returns the body of a 200
 * reply (any status with |rq->out_status|), at most |rq->max| bytes,
 * in *out (NUL-terminated, freed with free()). Any other status, a 3xx
 * included (no redirects), is an error; so is missing the deadline.
 * GP_ERR_INVALID naming the URL, GP_ERR_IO (the URL and what failed),
 * GP_ERR_TOO_LARGE. */
int gp_http_request(const struct gp_http_req *rq, uint8_t **out,
    size_t *out_len) GP_WUR;

/* gp_http_request() with POST of |body| as |content_type|; |timeout_s| is
 * the whole exchange (0: 30). */
int gp_http_post(const char *url, const char *content_type,
    const char *accept, const uint8_t *body, size_t body_len, size_t max,
    int timeout_s, uint8_t **out, size_t *out_len) GP_WUR;

/* gp_http_request() with GET of |url| (CRL distribution points). */
int gp_http_get(const char *url, const char *accept, size_t max,
    int64_t timeout_ms, uint8_t **out, size_t *out_len) GP_WUR;

/* Masks a personal identity number for logs and errors: keeps the first 6
 * and the last 2 characters, stars the rest. Returns a new string. */
char *gp_mask_id(const char *id);

/* Wipes and frees a NUL-terminated secret; accepts NULL. */
void gp_secret_free(char *secret);

/* RFC 5280 5.3.1 CRLReason: the name of |code| ("keyCompromise" ...) or
 * NULL for one RFC 5280 does not define (code 7 is unused); the code of
 * |name|, or -1. The one table of them: ca/ (revocation, CRLs) and audit/
 * (status records against the status history) read it alike. */
const char *gp_crl_reason_name(int code);
int gp_crl_reason_code(const char *name);

/*
 * Configuration: the instance directory's govpki.json. Every path in it is
 * relative to the instance directory unless absolute. gp_config_load()
 * validates every field and names the first bad one in the error detail.
 */
#define GP_KEY_ROOT 0
#define GP_KEY_CA 1
#define GP_KEY_TSA 2
#define GP_KEY_OCSP 3
#define GP_KEY_AUDIT 4
#define GP_KEY_COUNT 5

struct gp_config {
	char *dir;              /* the instance directory, absolute */
	char *instance_name;
	char *module;           /* PKCS#11 module path */
	char *softhsm_conf;     /* absolute, or NULL when not SoftHSM-managed */
	char *token_label;
	char *pin_file;         /* absolute, or NULL */
	char *pin_env;          /* environment variable name, or NULL */
	char *key_uri[GP_KEY_COUNT];
	char *http_listen;      /* "127.0.0.1:8080" */
	char *https_listen;     /* "127.0.0.1:8443" */
	char *public_url;       /* base of CRL, OCSP and caIssuers URLs */
	char **hostnames;
	size_t hostnames_len;
	char *profiles_dir;     /* absolute */
	int64_t crl_interval_s;
	int64_t crl_next_update_s;
	int64_t crl_delay_s;         /* status change to CRL, at most */
	int64_t crl_delta_s;         /* delta CRL period; 0: none */
	int64_t ocsp_refresh_s;
	int64_t ocsp_validity_s;
	int64_t audit_checkpoint_s;
	int64_t max_body_bytes;
	int64_t request_timeout_s;
	int64_t max_connections;     /* per listener */
	int64_t threads;
	/* limits on one client address and on shutdown (server/) */
	int64_t max_connections_per_ip; /* per listener; 0: no limit */
	int64_t request_deadline_s;  /* headers and body, absolute */
	int64_t shutdown_grace_s;    /* held replies' failure path after */
	int64_t ocsp_nonce_per_s;    /* nonce answers per address; 0: any */
	int64_t ocsp_nonce_burst;
	/* tsa: RFC 3161 time-stamping (tsa/tsa.h) */
	char *tsa_policy;          /* default policy OID (dotted text) */
	char **tsa_policies;       /* other policies a request may ask for */
	size_t tsa_policies_len;
	int64_t tsa_accuracy_s;    /* declared accuracy: seconds, millis, */
	int64_t tsa_accuracy_ms;   /* micros (RFC 3161 2.4.2 Accuracy) */
	int64_t tsa_accuracy_us;
	int64_t tsa_precision_digits; /* genTime fraction digits, 0 to 6 */
	int tsa_allow_sha1;        /* accept SHA-1 imprints (default no) */
	int64_t tsa_max_request_bytes;
	char *tsa_clock_check;     /* "strict" (refuse) or "warn" */
	/* verify: signature verification (signer/, POST /api/v1/verify,
	 * `govpki verify --dir`). With fetch_revocation, the status of a
	 * certificate from another CA whose path verified is fetched online
	 * (OCSP, then the CRL distribution point; http:// only), and only
	 * from the URL prefixes and hosts of fetch_allow (empty: none). */
	int verify_fetch;              /* default off */
	char **verify_fetch_allow;     /* "http://host[:port]/..." or hosts */
	size_t verify_fetch_allow_len;
	int64_t verify_fetch_timeout_ms;
	int64_t verify_fetch_max_bytes;
	char **verify_content_types;   /* document eContentTypes besides
	                                * id-data (dotted OIDs) */
	size_t verify_content_types_len;
	/* tender: sealed-bid tendering (tender/). The largest bid a tender
	 * may accept (streamed to disk, never held in memory) and the seal
	 * (of "seals") that signs receipts and opening records. */
	int64_t tender_max_bid_bytes;
	char *tender_seal;
	/* seals: server seal keys (signer/, POST /api/v1/sign); absent in
	 * instances made before them, which then have none. */
	struct gp_seal *seals;
	size_t seals_len;
	/* store: where the store lives. Absent: the SQLite file
	 * DIR/govpki.db. With url (postgresql://...), a PostgreSQL database
	 * that several nodes may share (docs/postgres.md); its password, when
	 * it needs one, comes from password_file (checked first, absolute
	 * or relative to DIR) or the environment variable password_env,
	 * never from the URL. */
	char *store_url;
	char *store_password_file;
	char *store_password_env;
};

/* A server seal: a key (on the token) that signs documents for the
 * callers the policy names, with its certificate. A caller may use it
 * when its admin role is in |roles| or its certificate serial (lower-case
 * hex) is in |serials|. */
#define GP_MAX_SEALS 16
struct gp_seal {
	char *name;                /* [a-z0-9_-], unique */
	char *key_uri;
	char *cert;                /* absolute path to its PEM certificate */
	char **roles;
	size_t roles_len;
	char **serials;
	size_t serials_len;
};

/* Appends a seal to |cfg| (for `govpki init`): copies every string.
 * GP_ERR_CONFIG when GP_MAX_SEALS are configured or the name exists. */
int gp_config_add_seal(struct gp_config *cfg, const char *name,
    const char *key_uri, const char *cert_path, const char *role) GP_WUR;

/* Names of the keys by index ("root", "ca", "tsa", "ocsp", "audit"). */
extern const char *const gp_key_names[GP_KEY_COUNT];

/* Loads DIR/govpki.json. The caller frees *out with gp_config_free(). */
int gp_config_load(const char *dir, struct gp_config **out) GP_WUR;

/* Serialises |cfg| as the JSON written to govpki.json (paths relative to
 * cfg->dir where they lie inside it). Returns a new reference. */
json_t *gp_config_to_json(const struct gp_config *cfg);

/* A configuration with every default filled in for |dir| (absolute). */
int gp_config_defaults(const char *dir, struct gp_config **out) GP_WUR;

void gp_config_free(struct gp_config *cfg);

/* 0 when |url| can be the public base URL that certificates name (CRL
 * distribution points, AIA OCSP and caIssuers): http:// or https://, a
 * host (DNS name, IPv4 or [IPv6]), an optional port from 1 to 65535 and an
 * optional path of RFC 3986 unreserved characters, '/' and %XX, not ending
 * in '/'; no user information, query, fragment, space or control
 * character. GP_ERR_INVALID naming |field| and the rule otherwise. */
int gp_public_url_check(const char *field, const char *url) GP_WUR;

/* 0 when |url| can be store.url: a postgresql:// (or postgres://) URL
 * without spaces or control characters, at most 1024 characters, and
 * without a password (user:password@, password=). GP_ERR_INVALID naming
 * |field| otherwise. */
int gp_store_url_check(const char *field, const char *url) GP_WUR;

/* 1 when the |len| bytes at |s| are a DNS host name (RFC 1123 2.1:
 * letters, digits and hyphens, labels of 1 to 63 characters not starting
 * or ending with a hyphen, dots between them, 253 in all), else 0. */
int gp_dns_name(const char *s, size_t len);

/* 0 when |name| is a DNS host name (RFC 1123 letters, digits, hyphens,
 * dots) or an IPv4 or IPv6 address; GP_ERR_INVALID naming |field|. */
int gp_hostname_check(const char *field, const char *name) GP_WUR;

/* Splits "host:port" into a new host string and a port; GP_ERR_INVALID
 * naming |field| when malformed. */
int gp_parse_hostport(const char *field, const char *s, char **out_host,
    uint16_t *out_port) GP_WUR;

#endif /* GOVPKI_CORE_H */
