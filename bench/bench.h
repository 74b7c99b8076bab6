/*
 * bench.h: the shared parts of `make bench`. bench.c measures the raw
 * limits, starts one `govpki serve` on a fresh instance, and then calls each
 * feature's bench function listed in bench_features (bench_features.c); a
 * feature adds rows to the one table with row_add() and compares its rate
 * with the raw limits in |env|, measured in the same run.
 */
#ifndef GOVPKI_BENCH_H
#define GOVPKI_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define BENCH_MAX_THREADS 32
#define BENCH_MAX_SAMPLES (1 << 21)

struct bench_row {
	char op[48];
	int threads;
	double ops;
	double p50_ms;
	double p99_ms;
	double rss_mb;
	double ratio; /* < 0: not applicable */
	char against[32];
};

/* Latency samples of one worker thread, in microseconds. */
struct bench_lat {
	uint32_t *us;
	size_t len;
	size_t cap;
};

struct bench_env {
	uint16_t port;         /* the public listener of the running server */
	const char *inst_dir;  /* its instance directory */
	double raw_ec[2];      /* raw P-256 signatures/s, 1 and 2 threads */
	double raw_rsa[2];     /* raw RSA-2048 signatures/s, 1 and 2 threads */
	double audit_sqlite[2]; /* durable audit appends/s on SQLite, 1 and
	                         * BENCH_AUDIT_THREADS threads */
};

typedef int (*bench_feature_fn)(const struct bench_env *env);
struct bench_feature {
	const char *name;
	bench_feature_fn fn;
};
/* Ends with {NULL, NULL}; defined in bench_features.c. */
extern const struct bench_feature bench_features[];

extern double bench_seconds;  /* per measurement */
/* Registers |fn| to run when the bench ends, normally or by SIGINT or
 * SIGTERM (then from the signal handler: |fn| may only fork, exec, kill
 * and wait). At most 8; 0 when registered. */
int bench_at_stop(void (*fn)(void));
/* User plus system CPU seconds of process |pid| so far, or -1. */
double bench_cpu_pid_s(pid_t pid);
/* Re-executes this bench with |env|=|dir| (and BENCH_SECONDS): a feature's
 * constructor sees |env|, measures a raw rate in that fresh process (the
 * parent cannot open the instance's token a second time) and prints two
 * numbers, read into *out_a and *out_b. 0 when the child did. */
int bench_run_child(const char *env, const char *dir, double *out_a,
    double *out_b);
/* bench_seconds from $BENCH_SECONDS when set (the raw children of the
 * features read it too), kept within (0, 60] s, else 2. */
void bench_seconds_env(void);
extern char bench_tmp[256];   /* scratch directory, removed at exit */
extern pid_t server_pid;

struct bench_row *row_add(const char *op, int threads);
void lat_add(struct bench_lat *l, double us);
/* Merges the samples of |n| threads into |row|'s p50 and p99; frees them. */
void lat_finish(struct bench_lat *lat, int n, struct bench_row *row);
double now_s(void);
double rss_self_mb(void);
double rss_pid_mb(pid_t pid);

/* Signs SHA-256 digests with |key| from |threads| threads for
 * bench_seconds; adds a row named |name| and returns the rate. */
int bench_sign(EVP_PKEY *key, const char *name, int threads,
    double *out_ops);

/* Durable audit appends from |threads| threads for bench_seconds to the
 * store at |target| (a SQLite file, created, or a PostgreSQL URL of an
 * empty database, given its schema): adds a row named |name| with the
 * ratio to |base_ops|. */
#define BENCH_AUDIT_THREADS 8
int bench_audit(const char *target, const char *name, int threads,
    double base_ops, const char *against, double *out_ops);

/* Clients for replies held until their audit record is durable (time-
 * stamps, signed OCSP answers, seals, issuance): their latency is the
 * group commit's, so throughput needs this many in flight. */
#define BENCH_HELD_CLIENTS 16

/* Sends |request| (a whole HTTP/1.1 request, keep-alive) from |clients|
 * threads to 127.0.0.1:|port| for bench_seconds; counts 200 answers; adds a
 * row with the ratio to |raw_ops|. Fails when over 1% of requests fail. */
int bench_http(const char *name, uint16_t port, const char *request,
    size_t request_len, int clients, double raw_ops, const char *against);

/* Whether the body of a 2xx reply is a success (1) or not (0). */
typedef int (*bench_body_check)(const char *body, size_t len);

/* One load: |clients| keep-alive clients for bench_seconds, client i
 * sending to ports[i % nports] (several nodes: the clients are spread
 * over them). */
struct bench_load_spec {
	const char *name;         /* the row's name */
	SSL_CTX *ctx;             /* TLS client, or NULL: plain HTTP */
	const uint16_t *ports;
	int nports;               /* 1 to BENCH_MAX_THREADS */
	const pid_t *servers;     /* the nports servers: the row's RSS is the
	                           * largest of their peaks */
	const char *request;
	size_t request_len;
	int want_status;          /* the status that counts */
	bench_body_check check;   /* NULL, or also asked of each body */
	int clients;
	double base_ops;          /* the ratio's denominator; <= 0: none */
	const char *against;      /* the ratio's name, or NULL */
	double max_failed;        /* failures allowed, a fraction of the
	                           * successes (0: none) */
};
/* Runs |s| and adds its row; *out_ops (when given) gets the rate. Fails,
 * and marks the row FAILED, when more requests failed (refused, wrong
 * status, body refused by the check, connection lost) than allowed. */
int bench_load_run(const struct bench_load_spec *s, double *out_ops);

/* One request to 127.0.0.1:|port| on a new connection (TLS with |ctx|):
 * 1 when it is answered |want_status| and |check| (when given) accepts
 * the body, else 0. */
int bench_request_once(SSL_CTX *ctx, uint16_t port, const char *req,
    size_t req_len, int want_status, bench_body_check check);

/* Starts `govpki serve --dir |dir|` on two free loopback ports with its
 * output discarded and waits, 10 s at most, until both listeners accept.
 * Returns the pid (stop it with bench_serve_stop()) or -1. */
pid_t bench_serve(const char *govpki, const char *dir, uint16_t *out_http,
    uint16_t *out_https);
/* bench_serve() with `--node |node|` (NULL: none), its stderr appended to
 * |log| (NULL: discarded). */
pid_t bench_serve_node(const char *govpki, const char *dir, const char *node,
    const char *log, uint16_t *out_http, uint16_t *out_https);
/* SIGTERM, then SIGKILL after 15 s; reaps. Accepts pid <= 0. */
void bench_serve_stop(pid_t pid);

/* A TLS client for the admin listener of |inst_dir| with the certificate
 * of |role| (admin/<role>.pem and .key), trusting certs/root.pem. */
SSL_CTX *bench_tls_ctx(const char *inst_dir, const char *role);

/* Reads one HTTP/1.1 reply with Content-Length; returns its status and,
 * when |out_body| is given, where its body starts in |buf|. -1 on error. */
int bench_tls_response(SSL *ssl, char *buf, size_t cap, char **out_body);

/* bench_http() over TLS with one keep-alive connection per client: counts
 * replies with |want_status|, adds a row with the peak RSS of |server| and
 * the ratio to |raw_ops|. Fails on any failed request. */
int bench_https(const char *name, SSL_CTX *ctx, uint16_t port, pid_t server,
    const char *request, size_t request_len, int want_status, int clients,
    double raw_ops, const char *against, double *out_ops);

/* The issuance request of bench_ca.c (POST /api/v1/certificates, an
 * enterprise certificate from a fresh CSR), malloc'ed; NULL on error. */
char *bench_ca_request(void);
/* The time-stamp request of bench_tsa.c (POST /tsa, SHA-256, a nonce)
 * into |buf|; 0 on success. */
int bench_tsa_request(char *buf, size_t cap, size_t *out_len);
/* bench_body_check of a TimeStampResp: status granted (0) or
 * grantedWithMods (1) and a token after it (RFC 3161 2.4.2). */
int bench_tsa_granted(const char *body, size_t len);

/* Sets |section|.|key| to |val| (a new reference, taken also on error)
 * in DIR/govpki.json. 0 on success. */
int bench_cfg_set(const char *dir, const char *section, const char *key,
    json_t *val);

int http_connect(uint16_t port);
uint16_t free_port(void);
/* Runs |argv| with stdout discarded; returns its exit status. */
int run_cmd(char *const argv[]);

#endif /* GOVPKI_BENCH_H */
