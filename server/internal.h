/*
 * internal.h: what the files of server/ share and nothing outside uses.
 *
 *   srv_main.c     server_run(): listeners, signals, periodic work, drain
 *   srv_http.c     request plumbing: request ids, body cap, replies, the
 *                  request log line, dispatch through the route table
 *   srv_route.c    the route table and its lookup
 *   srv_public.c   handlers of the public listener (/healthz, /certs/...)
 *   srv_auth.c     client-certificate authentication of the admin listener
 *   srv_query.c    the parser of URL query strings on the admin API
 *   srv_admin.c    handlers of the admin API
 *   srv_metrics.c  server-wide counters and their Prometheus text
 *   srv_audit.c    time-stamped audit checkpoints, GET /audit/checkpoint
 *   srv_conn.c     per-connection state, the request deadline and the
 *                  guard that enforces it
 *   srv_tick.c     the periodic threads (guard, CRL schedule, audit
 *                  checkpoints)
 *   srv_peer.c     per-address memory: aggregated refusals, nonce rate
 *   srv_est.c      the EST listener (RFC 7030), enrolment codes
 *   srv_kmc.c      judicial recovery of escrowed keys (dual control)
 *
 * Threads: handlers run on libmicrohttpd pool threads. struct srv is
 * written before the daemons start and only read afterwards, except for the
 * atomics, the mutex-protected health cache, the connection list
 * (conn_mu), the held replies (the hold mutex of srv_http.c) and the
 * per-address table (its own mutex).
 */
#ifndef GOVPKI_SERVER_INTERNAL_H
#define GOVPKI_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "core/core.h"
#include "instance/instance.h"
#include "kmc/kmc.h"
#include "server/server.h"
#include "tsa/tsa.h"

enum srv_listener { SRV_PUBLIC = 0, SRV_ADMIN = 1, SRV_EST = 2,
    SRV_LISTENERS = 3 };

/* "public", "admin" or "est". */
const char *srv_listener_name(enum srv_listener l);

/* Roles, as bits so that a route can allow several. */
#define SRV_ROLE_SYSADMIN 0x1u
#define SRV_ROLE_OFFICER 0x2u
#define SRV_ROLE_AUDITOR 0x4u
#define SRV_ROLE_AGENT 0x8u      /* tender agent (tender/): no CA powers */
#define SRV_ROLE_ANY (SRV_ROLE_SYSADMIN | SRV_ROLE_OFFICER | SRV_ROLE_AUDITOR | \
    SRV_ROLE_AGENT)

/* The bit of role |name| ("sysadmin", "officer", "auditor", "agent"), 0
 * otherwise. */
unsigned int srv_role_bit(const char *name);

/* Caps on what a client controls. */
#define SRV_MAX_CERT_DER 16384   /* one client certificate */
#define SRV_MAX_ACTOR 1024       /* "<subject RFC 2253>,serial=<hex>" */
#define SRV_MAX_PATH_LOG 512     /* path kept for the log line and audit */
#define SRV_MAX_PEM 1048576      /* tls/ and certs/ files read at start */
#define SRV_AUDIT_LIMIT_MAX 1000
#define SRV_AUDIT_LIMIT_DEFAULT 100

/* An authenticated administrator, parsed from its certificate; role and
 * the person's idn come from the store, per request. */
struct srv_ident {
	char serial[72];            /* lower-case hex, no leading zeros */
	char role[16];              /* "" until the store gave one */
	unsigned int role_bit;
	struct ca_person person;    /* for dual control */
	char actor[SRV_MAX_ACTOR];
	int64_t not_before;         /* Unix seconds */
	int64_t not_after;
	uint8_t *der;               /* the certificate, owned */
	size_t der_len;
};

/* Parses the identity of |cert| without verifying it: serial (positive,
 * at most 32 bytes), actor string, person (ca_person_of_cert), validity
 * period and DER; never a role (srv_ident_role). Fills |out|, which the
 * caller clears with srv_ident_clear() on success and failure. */
int srv_ident_parse(X509 *cert, struct srv_ident *out) GP_WUR;
void srv_ident_clear(struct srv_ident *id);

/* The role of |id| from its certificate's store row |c|: the row's role,
 * when the row's profile is one of |ps| that grants roles
 * (ca_profile_grants_role). GP_ERR_UNAUTHENTICATED naming why otherwise:
 * no stored role (whatever the subject title says), a profile that grants
 * none, a role that is not sysadmin, officer or auditor. */
int srv_ident_role(const struct ca_profiles *ps, const struct store_cert *c,
    struct srv_ident *id) GP_WUR;

/* State kept per TCP connection (MHD socket context). */
struct srv_conn {
	struct srv_conn *prev, *next; /* srv->conns, under srv->conn_mu */
	enum srv_listener listener;
	MHD_socket fd;
	char client[64];
	/* gp_mono_ms() by which the current request's headers and body must
	 * be in; 0 while a handler runs or a reply is held or sent. */
	_Atomic int64_t deadline_ms;
	int cut;                    /* shut down by the guard (conn_mu) */
	int have_ident;             /* admin: ident verified on this
	                             * connection */
	struct srv_ident ident;
};

struct srv;
struct srv_hold;
struct srv_peers;

/* The closure given to one daemon's callbacks: with a thread pool, MHD
 * reports a worker daemon for a connection, so the listener is told by the
 * closure, never by comparing daemon pointers. */
struct srv_lctx {
	struct srv *srv;
	enum srv_listener listener;
};

struct srv {
	struct instance *inst;
	/* This process among the nodes of a shared store (srv_node.c):
	 * "<node>/<run id>", the holder of its leases; whether it holds its
	 * node name's lease, and whether a renewal found it lost. */
	char holder[64];
	int node_leased;
	int node_lost;
	struct srv_lctx lctx[SRV_LISTENERS];
	struct MHD_Daemon *d[SRV_LISTENERS];
	char *listen[SRV_LISTENERS]; /* "host:port" as bound */
	/* Admin TLS material, kept until the daemons stop. */
	char *tls_cert_pem;
	char *tls_key_pem;
	size_t tls_key_len;
	char *tls_trust_pem;
	/* OpenSSL's view of the admin trust: root trusted, ca untrusted. */
	X509_STORE *trust;
	STACK_OF(X509) *untrusted;
	atomic_int in_flight;
	/* Replies suspended until the audit writer resumes them (srv_hold),
	 * under the hold mutex of srv_http.c: the list of those not yet
	 * resumed, and whether shutdown has dropped them (then a new hold is
	 * dropped at once). */
	struct srv_hold *holds;
	int stopping;
	/* Connections (srv_conn.c), and the threads of the guard (which cuts
	 * off requests past limits.request_deadline_s and flushes |peers|)
	 * and of the CRL schedule (srv_tick.c). */
	pthread_mutex_t conn_mu;
	struct srv_conn *conns;
	struct srv_ticker *guard;
	struct srv_ticker *crl_tick;
	struct srv_ticker *cp_tick;     /* periodic audit checkpoints */
	/* Per client address: aggregated refusals, OCSP nonce rate. */
	struct srv_peers *peers;
	/* Test hook GOVPKI_TEST_AUDIT_STALL (srv_main.c): a file name, or
	 * NULL; the guard thread holds the audit writer once it exists. */
	const char *test_stall;
	int test_stall_queued;
	/* Health: one token probe at a time, cached for a second. */
	pthread_mutex_t health_mu;
	int64_t health_at_ms;
	int health_store;
	int health_token;
	/* OCSP responder and CRL schedule (srv_ocsp.c); NULL until
	 * srv_pki_init(). */
	struct ca_ocsp *ocsp;
	struct srv_crl *crl;
	/* The time-stamp authority (srv_tsa.c); NULL until srv_tsa_init. */
	tsa *tsa;
	/* Certificate profiles and the issuing context (srv_ca.c); set by
	 * srv_ca_init() before the listeners start, read-only after. */
	struct ca_profiles *profiles;
	struct ca_ctx ca;
	/* Seal keys, trust for /api/v1/verify and approval policies
	 * (srv_sign.c); set by srv_sign_init() before the listeners start. */
	struct srv_signer *signer;
	/* Sealed-bid tendering (srv_tender.c); set by srv_tender_init(). */
	struct srv_tender *tender;
	/* The key management centre and the EST listener's CA certificates
	 * (srv_est.c); set by srv_est_init() before the listeners start. */
	struct kmc *kmc;
	uint8_t *est_cacerts;           /* certs-only DER: ca, root */
	size_t est_cacerts_len;
};

/* One request, the MHD per-request context. */
struct srv_req {
	struct srv *srv;
	enum srv_listener listener;
	struct MHD_Connection *conn;
	struct srv_conn *sc;        /* NULL on the public listener */
	const struct srv_ident *who; /* set once authenticated */
	char request_id[17];
	char method[16];
	char path[SRV_MAX_PATH_LOG];
	char client[64];
	struct timespec start;
	unsigned int status;        /* 0 until a response is queued */
	int replied;
	int too_large;
	unsigned int framing_status; /* 400 or 501: ambiguous framing */
	size_t received;            /* body bytes received, kept or not */
	uint8_t *body;
	size_t body_len;
	size_t body_cap;
	/* The response a handler built, queued by the dispatcher. */
	struct MHD_Response *resp;
	unsigned int resp_status;
	/* A reply held until its audit record is durable (srv_audit_hold):
	 * the connection is suspended and the audit writer resumes it. */
	int held;
	struct srv_hold *hold;      /* while held; under the hold mutex */
	int suspended;              /* by srv_hold() (its thread only) */
	int hold_dropped;           /* shutdown dropped the held reply */
	int audit_done;             /* written by the audit writer thread */
	int audit_r;
	char audit_err[1024];       /* its detail when audit_r != 0 */
	int (*on_audit_fail)(struct srv_req *rq);
	/* A sealed bid streamed to disk instead of |body| (srv_tender.c),
	 * under its tender's cap |stream_cap|. */
	struct srv_stream *stream;
	size_t stream_cap;
	/* Called on the audit writer's thread with the record's result
	 * (0: durable), whether or not the client is still there;
	 * |hold_arg| (malloc'ed, freed with the request) is its own. */
	void (*on_audit_done)(struct srv_req *rq, int r);
	void *hold_arg;
};

/*
 * Handlers: build rq->resp/rq->resp_status with the srv_reply_* helpers
 * and return 0, or return a GP_ERR_* code (with gp_err_set detail) and the
 * dispatcher replies with the error. |url| is the path without the query.
 */
typedef int (*srv_handler)(struct srv_req *rq, const char *url);

struct srv_route {
	enum srv_listener listener;
	const char *method;         /* "GET", "POST" ... */
	const char *path;
	int prefix;                 /* path is a prefix ("/certs/") */
	srv_handler fn;
	unsigned int roles;         /* admin: roles allowed; public: 0 */
	int query;                  /* 1: the handler reads its query with
	                             * srv_query_parse(); otherwise the router
	                             * refuses any query on the admin listener
	                             * and on /api/ (400 naming the
	                             * parameter) */
};

/* Finds the route for |method| |path| on |listener| (HEAD is served by a
 * GET route). Returns 0 with *out set, GP_ERR_NOT_FOUND when no route has
 * that path, GP_ERR_UNSUPPORTED when the path exists but not for that
 * method (HTTP 405). */
int srv_route_find(enum srv_listener listener, const char *method,
    const char *path, const struct srv_route **out) GP_WUR;

/* Writes the methods allowed on |path| ("GET, HEAD") into |buf|. */
void srv_route_allow(enum srv_listener listener, const char *path, char *buf,
    size_t len);

/* Handlers, by file. */
int srv_h_healthz(struct srv_req *rq, const char *url);
int srv_h_metrics(struct srv_req *rq, const char *url);
int srv_h_cert(struct srv_req *rq, const char *url);
int srv_h_config(struct srv_req *rq, const char *url);
int srv_h_audit_list(struct srv_req *rq, const char *url);
int srv_h_audit_verify(struct srv_req *rq, const char *url);
int srv_h_tsa(struct srv_req *rq, const char *url);
/* srv_audit.c: GET /audit/checkpoint (public), the latest signed head;
 * srv_audit_checkpoint() signs a checkpoint time-stamped by s->tsa
 * (instance_checkpoint), for the start, the period and the stop. */
int srv_h_audit_checkpoint(struct srv_req *rq, const char *url);
int srv_audit_checkpoint(struct srv *s, int force) GP_WUR;
/* srv_ca.c: issuance, status changes, dual control (officer). */
int srv_h_ca_issue(struct srv_req *rq, const char *url);
int srv_h_ca_list(struct srv_req *rq, const char *url);
int srv_h_ca_show(struct srv_req *rq, const char *url);
int srv_h_ca_status(struct srv_req *rq, const char *url);
int srv_h_ca_decide(struct srv_req *rq, const char *url);
int srv_h_ca_request(struct srv_req *rq, const char *url);
int srv_h_ca_requests(struct srv_req *rq, const char *url);
int srv_h_ca_profiles(struct srv_req *rq, const char *url);
/* srv_sign.c: POST /api/v1/sign (admin; the seal policy of govpki.json
 * "seals" decides who may use which seal) and POST /api/v1/verify
 * (public). srv_sign_init() loads every configured seal key and
 * certificate (a bad one fails start-up naming it); srv_sign_free()
 * accepts a server where it failed or never ran. */
int srv_h_sign(struct srv_req *rq, const char *url);
int srv_h_verify(struct srv_req *rq, const char *url);
int srv_sign_init(struct srv *s) GP_WUR;
void srv_sign_free(struct srv *s);
/* srv_tender.c: sealed-bid tendering (tender/tender.h). Public: GET
 * /tenders/<id>[/record], POST /tenders/<id>/bids (streamed) and
 * /tenders/<id>/record, DELETE /tenders/<id>/bids/<bid>; admin (agent):
 * create, list, show, open, approve-open. srv_tender_init() after the
 * TSA (it loads the tender.seal key and makes DIR/tenders/incoming);
 * srv_tender_free() accepts a server where it failed or never ran.
 * srv_tender_stream_begin() (first call of a request) returns 1 when the
 * body of |url| streams to a file (rq->stream, rq->stream_cap), 0 when
 * it does not; srv_tender_stream_write() appends a chunk;
 * srv_tender_stream_free() (when the request is freed) removes what was
 * not taken. */
int srv_h_tender_get(struct srv_req *rq, const char *url);
int srv_h_tender_post(struct srv_req *rq, const char *url);
int srv_h_tender_delete(struct srv_req *rq, const char *url);
int srv_h_tender_create(struct srv_req *rq, const char *url);
int srv_h_tender_list(struct srv_req *rq, const char *url);
int srv_h_tender_show(struct srv_req *rq, const char *url);
int srv_h_tender_action(struct srv_req *rq, const char *url);
int srv_tender_init(struct srv *s) GP_WUR;
void srv_tender_free(struct srv *s);
int srv_tender_stream_begin(struct srv_req *rq, const char *url);
int srv_tender_stream_write(struct srv_req *rq, const char *data,
    size_t len);
void srv_tender_stream_free(struct srv_req *rq);
/* The 413 of a bid over its tender's cap, audited with its rule, built in
 * rq->resp; 0, or an error (then the plain 413). */
int srv_tender_too_large(struct srv_req *rq);
/* The loaded seal |name| (key, certificate and its chain, all borrowed
 * from s->signer until srv_sign_free); GP_ERR_NOT_FOUND. */
int srv_sign_seal(struct srv *s, const char *name, EVP_PKEY **out_key,
    X509 **out_cert, STACK_OF(X509) **out_chain) GP_WUR;
/* srv_est.c: the EST listener (RFC 7030) and the officer's enrolment
 * codes; srv_kmc.c: judicial recoveries. srv_est_init() opens the key
 * management centre over the instance token (creating its storage key,
 * recorded, for an instance made before it) after srv_ca_init() and
 * srv_sign_init(); srv_est_free() accepts a server where it failed or
 * never ran. */
int srv_est_init(struct srv *s) GP_WUR;
void srv_est_free(struct srv *s);
int srv_h_est_cacerts(struct srv_req *rq, const char *url);
int srv_h_est_enroll(struct srv_req *rq, const char *url);
int srv_h_est_reenroll(struct srv_req *rq, const char *url);
int srv_h_est_serverkeygen(struct srv_req *rq, const char *url);
int srv_h_est_keyhistory(struct srv_req *rq, const char *url);
int srv_h_enrolment_create(struct srv_req *rq, const char *url);
int srv_h_recovery_create(struct srv_req *rq, const char *url);
int srv_h_recovery_show(struct srv_req *rq, const char *url);
int srv_h_recovery_decide(struct srv_req *rq, const char *url);
/* Helpers of srv_ca.c that the KMC's admin routes share: the actor of
 * an authenticated request, the JSON object body (duplicate keys
 * refused; |optional|: an empty body gives NULL), and the refusal of a
 * field outside |known| (NULL-terminated). */
void srv_ca_actor(struct srv_req *rq, struct ca_actor *who);
int srv_ca_body(struct srv_req *rq, int optional, json_t **out) GP_WUR;
int srv_ca_known(json_t *o, const char *const *known) GP_WUR;

/* The verified leaf certificate of the TLS peer (srv_auth.c: GnuTLS and
 * OpenSSL both verify it against root and issuing CA, purpose TLS
 * client), for the EST listener, whose client certificates are optional:
 * GP_ERR_UNAUTHENTICATED naming why when there is none or it fails. */
int srv_peer_cert(struct srv_req *rq, X509 **out) GP_WUR;

/* Loads the profiles (a bad one fails start-up naming file, field and
 * reason) and fills s->ca from the instance; srv_ca_free() accepts a
 * server where it failed or never ran. */
int srv_ca_init(struct srv *s) GP_WUR;
void srv_ca_free(struct srv *s);

/* The TSA of the server (srv_tsa.c): built from the instance's TSA key
 * and certificate before the listeners start, freed after they stop
 * (which persists its last genTime). srv_tsa_health() fills |why| with
 * the clock guard's state and sets *out_refuse when it refuses. */
int srv_tsa_init(struct srv *s) GP_WUR;
void srv_tsa_free(struct srv *s);
void srv_tsa_health(struct srv *s, int *out_refuse, char *why, size_t len);
/* srv_ocsp.c: OCSP (RFC 6960/5019), CRL download and generation. */
int srv_h_ocsp_post(struct srv_req *rq, const char *url);
int srv_h_ocsp_get(struct srv_req *rq, const char *url);
int srv_h_crl(struct srv_req *rq, const char *url);
int srv_h_crl_generate(struct srv_req *rq, const char *url);

/* Starts the OCSP responder (needs the OCSP key) and the CRL schedule;
 * srv_pki_free() accepts a server where init failed or never ran. */
int srv_pki_init(struct srv *s) GP_WUR;
void srv_pki_free(struct srv *s);
/* srv_node.c: this process's holder name and, on a shared store, its node
 * name's lease: taken before anything else starts (waiting out the lease
 * of a run of this node that died; GP_ERR_EXISTS, audited, when another
 * live process has the name), renewed by srv_lease_tick() on the CRL
 * schedule's thread before it calls srv_crl_tick(), released by
 * srv_node_free(), which accepts a server where init failed. */
int srv_node_init(struct srv *s) GP_WUR;
void srv_lease_tick(struct srv *s);
void srv_node_free(struct srv *s);
/* Hands this process's lease |name| back now, in its own transaction, so
 * that another process takes it at once rather than once it expires. */
int srv_lease_end(struct srv *s, const char *name) GP_WUR;
/* Called about once a second on the CRL schedule's thread (srv_tick.c):
 * generates each CRL when its interval has passed, its nextUpdate draws
 * near, or a certificate status changed (any process; seen through the
 * store) at least crl.delay_s ago. Never fails the loop; failures are
 * logged and audited. */
void srv_crl_tick(struct srv *s);

/* Replies (srv_http.c). Each sets rq->resp and rq->resp_status; the JSON
 * one takes ownership of |obj| (steals the reference, also on failure). */
int srv_reply_json(struct srv_req *rq, unsigned int status, json_t *obj)
    GP_WUR;
int srv_reply_bytes(struct srv_req *rq, unsigned int status,
    const char *content_type, const void *buf, size_t len) GP_WUR;
/* {"error":{"code":gp_err_name(code),"message":gp_err_str(code)+detail}} */
int srv_reply_error(struct srv_req *rq, unsigned int status, int code,
    const char *detail) GP_WUR;

/* The error object of |code| and |detail| (detail may be NULL or ""). */
json_t *srv_error_json(int code, const char *detail);

/*
 * Query strings (srv_query.c): every handler of the admin API that reads
 * one declares its parameters; anything else in the query is a 400 naming
 * the parameter (unknown, given twice, empty, not text, out of range).
 */
#define SRV_QUERY_MAX_PARAMS 16
#define SRV_QUERY_MAX_VALUE 1024

enum srv_qkind { SRV_Q_TEXT, SRV_Q_INT, SRV_Q_ENUM };

struct srv_qparam {
	const char *name;
	enum srv_qkind kind;
	size_t max_chars;           /* TEXT: at most this many characters */
	int64_t min, max_int;       /* INT: the range */
	const char *const *values;  /* ENUM: NULL-terminated */
	/* An extra check of the value (may be NULL): 0, or GP_ERR_INVALID
	 * naming |field|. */
	int (*check)(const char *field, const char *value);
};

/* What a query gave for one parameter: |set| with the value |s| (text,
 * NUL-terminated, borrowed from the request) and, for SRV_Q_INT, |i|. */
struct srv_qvalue {
	int set;
	int seen;
	const char *s;
	int64_t i;
};

/* One decoded key=value of a query (|value| NULL when there was no '='). */
struct srv_qpair {
	const char *key;
	size_t key_len;
	const char *value;
	size_t value_len;
};

/* Checks |pairs| against the |n| parameters of |spec| and fills out[0..n)
 * in spec order; GP_ERR_INVALID naming the parameter otherwise. */
int srv_query_check(const struct srv_qparam *spec, size_t n,
    const struct srv_qpair *pairs, size_t npairs, struct srv_qvalue *out)
    GP_WUR;

/* srv_query_check() over the GET arguments of |rq| (n may be 0: the
 * request takes no query). */
int srv_query_parse(struct srv_req *rq, const struct srv_qparam *spec,
    size_t n, struct srv_qvalue *out) GP_WUR;

/* Parses a decimal integer in [min, max]; GP_ERR_INVALID naming |field|. */
int srv_parse_i64(const char *field, const char *s, int64_t min, int64_t max,
    int64_t *out) GP_WUR;

/* Appends an audit record for |rq| (actor and role from the client
 * certificate when there is one). */
/* Holds the reply the handler built (rq->resp) until the audit record of
 * the request is durable, without blocking the worker thread: the
 * connection is suspended, and resumed by the audit writer after the group
 * commit that carries the record. If the record cannot be written, the held
 * reply is dropped and |on_fail| builds another (NULL: a 500 error), so no
 * reply leaves without its record. Returns 0; the handler then returns 0. */
int srv_audit_hold(struct srv_req *rq, const char *op, const char *object,
    const char *outcome, json_t *details,
    int (*on_fail)(struct srv_req *rq));
/* The two halves of srv_audit_hold(), for a handler whose durable step is
 * not a plain record (issuance: a certificate row and its record through
 * audit_apply_async): srv_hold() suspends the connection with the reply
 * the handler built and returns the callback argument; the handler then
 * queues the durable step with srv_hold_done (an audit_done_fn) and that
 * argument (never |rq|: the request may be gone when the writer calls
 * back), and returns 0. srv_hold_done() keeps the result and its detail
 * (rq->audit_r, rq->audit_err, for |on_fail|) and resumes the connection;
 * a step that could not be queued is reported by calling it at once. It
 * must be called exactly once per srv_hold(), and frees the argument.
 *
 * Shutdown (srv_holds_drop) gives every reply still held after
 * limits.shutdown_grace_s its failure path: the connection is resumed and
 * closed without a reply, and the writer's later callback only frees its
 * argument. So nothing the server frees is used by a callback that comes
 * after server_run() returned. */
struct srv_hold *srv_hold(struct srv_req *rq,
    int (*on_fail)(struct srv_req *rq));
void srv_hold_done(void *arg, int r);
/* Drops every held reply (see srv_hold) and makes later holds fail at
 * once; returns how many were dropped. */
int srv_holds_drop(struct srv *s);
int srv_audit(struct srv_req *rq, const char *op, const char *object,
    const char *outcome, json_t *details) GP_WUR;

/* The client address of |c| as text ("unknown" when MHD has none). */
void srv_client_addr(struct MHD_Connection *c, char *buf, size_t len);

/*
 * Connections (srv_conn.c). srv_conn_arm() starts the deadline of the
 * next request on |sc| (NULL: nothing), srv_conn_disarm() stops it once
 * the request is complete. srv_conn_sweep() cuts off every connection
 * past its deadline and returns how many. srv_guard_tick() is the guard's
 * period: the sweep, the test hook below and the flush of the aggregated
 * refusals of the minutes that have ended.
 */
void srv_conn_arm(struct srv *s, struct srv_conn *sc);
void srv_conn_disarm(struct srv_conn *sc);
int srv_conn_sweep(struct srv *s, int64_t now_ms);
void srv_guard_tick(struct srv *s);

/* A thread calling |fn|(|s|) every |period_ms| (srv_tick.c), |what|
 * naming it in errors; srv_ticker_stop() waits for a call under way,
 * frees it, and accepts NULL. */
struct srv_ticker;
int srv_ticker_start(struct srv *s, int64_t period_ms,
    void (*fn)(struct srv *s), const char *what, struct srv_ticker **out)
    GP_WUR;
void srv_ticker_stop(struct srv_ticker *t);
/* The guard's tick of the test hook GOVPKI_TEST_AUDIT_STALL (srv_main.c):
 * queues, once, a change that holds the audit writer while the named file
 * exists. A no-op unless the variable is set. */
void srv_test_stall_tick(struct srv *s);

/*
 * Per client address (srv_peer.c): refusals of anonymous requests,
 * aggregated into one audit record per address and minute, and the token
 * bucket of OCSP nonce answers. Thread-safe; times are gp_now_ms().
 */
enum srv_refusal {
	SRV_REFUSED_HTTP_400 = 0,
	SRV_REFUSED_HTTP_404,
	SRV_REFUSED_HTTP_405,
	SRV_REFUSED_HTTP_413,
	SRV_REFUSED_HTTP_OTHER,     /* another 4xx, or 501 */
	SRV_REFUSED_DEADLINE,       /* cut off at limits.request_deadline_s */
	SRV_REFUSED_OCSP_MALFORMED,
	SRV_REFUSED_TSA_BAD_ALG,
	SRV_REFUSED_TSA_BAD_REQUEST,
	SRV_REFUSED_TSA_BAD_DATA_FORMAT,
	SRV_REFUSED_TSA_UNACCEPTED_POLICY,
	SRV_REFUSED_TSA_UNACCEPTED_EXTENSION,
	SRV_REFUSED_TSA_ADD_INFO,
	SRV_REFUSALS
};
/* "http.404", "ocsp.malformedRequest", "tsa.badAlg" ... as in records. */
const char *srv_refusal_name(enum srv_refusal k);
/* The refusal of an HTTP status (4xx), or -1. */
int srv_refusal_of_status(unsigned int status);
/* The refusal of a TSA rejection the client caused (TSA_FAIL_*), or -1
 * for one that says something about the TSA (timeNotAvailable,
 * systemFailure), which is recorded one by one. */
int srv_refusal_of_tsa(int fail_bit);
/* |nonce_per_s| 0: no nonce limit; |max| addresses tracked, beyond which
 * they share one entry (client "*"). */
int srv_peers_new(double nonce_per_s, double nonce_burst, size_t max,
    struct srv_peers **out) GP_WUR;
void srv_peers_free(struct srv_peers *p);
/* Counts one refusal of |client| (NULL: "unknown"); |p| NULL: nothing. */
void srv_peers_refused(struct srv_peers *p, const char *client,
    enum srv_refusal k, int64_t now_ms);
/* 1 when |client| may have one more nonce answer signed now (and takes
 * it from its bucket), 0 when it is over limits.ocsp_nonce_per_s. */
int srv_peers_nonce_ok(struct srv_peers *p, const char *client,
    int64_t now_ms);
/* Writes one "http.refused" record (client: the address; object and
 * details.minute: the minute, UTC; details.count and details.kinds) per
 * address for every minute before now_ms's, or for every minute when
 * |all|; through audit_log() when |sync| (durable on return), else
 * queued with audit_log_async(). Counts whose record cannot be written
 * are logged. Returns 0 or the first write's error. */
int srv_peers_flush(struct srv_peers *p, audit *a, int64_t now_ms, int all,
    int sync) GP_WUR;
/* Counts a refusal of |rq| on the public listener (srv_http.c). */
void srv_refused(struct srv_req *rq, enum srv_refusal k);

/* The access, completed and connection callbacks given to MHD. */
enum MHD_Result srv_access(void *cls, struct MHD_Connection *c,
    const char *url, const char *method, const char *version,
    const char *upload_data, size_t *upload_data_size, void **req_cls);
void srv_completed(void *cls, struct MHD_Connection *c, void **req_cls,
    enum MHD_RequestTerminationCode toe);
void srv_conn_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
    enum MHD_ConnectionNotificationCode toe);

/* Admin authentication (srv_auth.c): on success rq->who points at the
 * connection's verified identity, re-checked against the store (status
 * "good") and the clock on every request. GP_ERR_UNAUTHENTICATED with a
 * detail, or GP_ERR_STORE when the store cannot answer. */
int srv_auth(struct srv_req *rq) GP_WUR;

/* Loads the OpenSSL trust for client certificates from |inst|. */
int srv_trust_init(struct srv *s) GP_WUR;
void srv_trust_free(struct srv *s);

/*
 * Metrics (srv_metrics.c): process-wide counters, safe from any thread.
 */
void srv_metrics_request(enum srv_listener l, unsigned int status,
    double seconds);
void srv_metrics_error(int code);
/* Counts one signature made with key |key| ("ca", "tsa", "ocsp" ...);
 * for the signing routes to call. */
void srv_metrics_signature(const char *key);
/* Resets every counter (tests). */
void srv_metrics_reset(void);
/* Appends to the |*len| bytes of |*text| (realloc'ed) the gauge
 * govpki_certificates_expiring{within="30d"}: good certificates whose
 * notAfter falls within the next SRV_EXPIRING_S, so that renewals are
 * not missed. Nothing is appended when the store cannot count. */
#define SRV_EXPIRING_S (30 * 86400)
int srv_metrics_expiring(store *st, char **text, size_t *len) GP_WUR;
/* Renders the Prometheus text exposition; |audit_records| < 0 omits that
 * gauge. The caller frees *out with free(). */
int srv_metrics_render(int64_t audit_records, int in_flight, char **out,
    size_t *out_len) GP_WUR;

#endif /* GOVPKI_SERVER_INTERNAL_H */
