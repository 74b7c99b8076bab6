/*
 * ca.h: the certificate authority. For now, the certificate builder that
 * `govpki init` uses for the instance's own certificates; issuance from
 * requests under profiles, revocation, CRL and OCSP build on it.
 *
 * Every certificate gets a fresh serial of 16 bytes, 126 of its bits from
 * the CSPRNG (CA/B Forum BR 7.1: at least 64 bits of entropy, positive),
 * subject and authority key identifiers, and UTF8String names.
 */
#ifndef GOVPKI_CA_H
#define GOVPKI_CA_H

#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "audit/audit.h"
#include "core/core.h"
#include "store/store.h"

struct ca_cert_spec {
	const X509_NAME *subject;
	EVP_PKEY *pubkey;          /* the subject's public key */
	const X509_ALGOR *spki_alg;/* or, when both are set, |pubkey|'s */
	const ASN1_BIT_STRING *spki_key; /* SubjectPublicKeyInfo as received,
	                            * copied as is instead of encoding |pubkey|
	                            * again (the subject key identifier is
	                            * the same hash of the same bits) */
	X509 *issuer_cert;         /* NULL: self-signed with issuer_key */
	EVP_PKEY *issuer_key;      /* signs; may live on a token */
	int64_t not_before;        /* Unix seconds */
	int64_t not_after;
	int is_ca;
	int path_len;              /* for CAs; -1: no constraint */
	const char *key_usage;     /* OpenSSL v3 text, "critical,digitalSignature" */
	const char *ext_key_usage; /* "critical,timeStamping", or NULL */
	const char *san;           /* "DNS:localhost,IP:127.0.0.1", or NULL */
	int ocsp_nocheck;          /* id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1) */
	const char *crl_url;       /* CRL distribution point, or NULL */
	const char *ocsp_url;      /* AIA OCSP, or NULL */
	const char *ca_issuers_url;/* AIA caIssuers, or NULL */
	const char *policies;      /* certificate policy OIDs, comma
	                            * separated ("1.2.156.1.1,2.23.140.1.2.1"),
	                            * or NULL */
};

/* Builds the certificate described by |spec| with a fresh serial, every
 * field and extension set, but NOT signed, so that it can be checked
 * before the key is used (ca_cert_lint). The caller frees *out. */
int ca_cert_build(const struct ca_cert_spec *spec, X509 **out) GP_WUR;

/* Builds and signs the certificate described by |spec|. The caller frees
 * *out with X509_free() and *out_serial (lower-case hex, no leading zeros)
 * with free(). Nothing is returned on failure. */
int ca_cert_sign(const struct ca_cert_spec *spec, X509 **out,
    char **out_serial) GP_WUR;

/* What profile |name| of |ps| decides of a certificate that govpki makes
 * for itself at init (the admin TLS and role certificates), so that it
 * obeys the profile the store records it under: key usage, EKU, basic
 * constraints, certificate policies, id-pkix-ocsp-nocheck, and not_after
 * at most max_validity_days after spec->not_before (for tls-server, 398:
 * CA/B BR 6.3.2). The texts |spec| points to live in |t| until
 * ca_profile_text_clear(). GP_ERR_CONFIG when the profile is missing. */
struct ca_profiles;
struct ca_profile_text {
	char *ku;
	char *eku;
	char *policies;
};
int ca_cert_profile_spec(const struct ca_profiles *ps, const char *name,
    struct ca_cert_spec *spec, struct ca_profile_text *t) GP_WUR;
void ca_profile_text_clear(struct ca_profile_text *t);

/* Checks the signed |cert| against profile |name| as issuance checks its
 * certificates before signing (ca_cert_lint: names, key usage and EKU
 * exactly the profile's, policies, AKI/SKI, serial, validity inside the
 * issuer's) and a validity of at most the profile's maximum.
 * GP_ERR_INTERNAL with a "self-check: ..." detail otherwise. */
int ca_cert_profile_check(const struct ca_profiles *ps, const char *name,
    X509 *cert, X509 *issuer) GP_WUR;

/* A fresh positive serial of 16 bytes: the top two bits 01, the other
 * CA_SERIAL_RANDOM_BITS from the CSPRNG. */
#define CA_SERIAL_RANDOM_BITS 126
int ca_serial_new(ASN1_INTEGER **out) GP_WUR;

/* A serial as people copy it (openssl's "4AD5...", "0x4ad5", "4a:d5") in
 * the store's form: lower-case hex, no leading zeros, into |out| (at
 * least 68 bytes). GP_ERR_INVALID, naming "serial", for anything else. */
int ca_serial_norm(const char *in, char *out, size_t len) GP_WUR;

/* The serial of |cert| as the store keys it: lower-case hex, no leading
 * zeros. Returns a new string or NULL. */
char *ca_serial_hex(const X509 *cert);

/* The digest to sign with for |key|: SHA-384 for P-384 and RSA-3072 and
 * larger, SHA-256 otherwise. */
const EVP_MD *ca_digest_for(const EVP_PKEY *key);

/* Builds a name from "/CN=x/O=y" style text, every entry a UTF8String.
 * GP_ERR_INVALID naming the bad component. */
int ca_name_parse(const char *text, X509_NAME **out) GP_WUR;

/* ------------------------------------------------------------------ */
/* Issuance under profiles (ca_profile.c, ca_ids.c, ca_lint.c,
 * ca_subject.c, ca_issue.c, ca_result.c, ca_audit.c, ca_person.c,
 * ca_request.c, ca_revoke.c). */

/* Unified social credit code, GB 32100-2015: 18 characters of
 * 0-9 A-H J-N P-R T U W-Y, the last a check character. 0, or
 * GP_ERR_INVALID naming |field| and what is wrong. */
int ca_uscc_check(const char *field, const char *code) GP_WUR;

/* Resident identity number, GB 11643-1999: 17 digits, a valid birth date,
 * and an ISO 7064 MOD 11-2 check character (0-9 or X). The error detail
 * never holds the number unmasked. */
int ca_resident_id_check(const char *field, const char *id) GP_WUR;

/* The profiles of policies/ (one JSON file each), loaded and validated at
 * start. Opaque; read through the accessors. */
struct ca_profile;
struct ca_profiles;

/* Loads every *.json in cfg->profiles_dir. A bad file fails the whole
 * load with GP_ERR_CONFIG naming the file, the field and the reason; an
 * empty or missing directory is an error too. Free with
 * ca_profiles_free(), which accepts NULL. */
int ca_profiles_load(const struct gp_config *cfg, struct ca_profiles **out)
    GP_WUR;
void ca_profiles_free(struct ca_profiles *ps);
/* NULL when no profile has that name. Borrowed from |ps|. */
const struct ca_profile *ca_profile_find(const struct ca_profiles *ps,
    const char *name);
size_t ca_profiles_count(const struct ca_profiles *ps);
const struct ca_profile *ca_profiles_at(const struct ca_profiles *ps,
    size_t i);
const char *ca_profile_name(const struct ca_profile *p);
/* 1 when issuance needs a second person's approval. */
int ca_profile_dual_control(const struct ca_profile *p);
/* 1 when certificates of |p| carry an administrative role: the profile
 * stores one (a field with "store": "role"), which the loader allows only
 * under dual control. The admin listener takes a role only from the
 * store's row of a certificate of such a profile. */
int ca_profile_grants_role(const struct ca_profile *p);
/* The name of |p|'s encryption twin ("encryption_twin": dual
 * certificates, kmc/), or NULL. The loader checks the twin: another
 * profile of the same issuer, RSA, keyEncipherment or keyAgreement and
 * never a signing key usage, taking every subject field of |p|. */
const char *ca_profile_twin(const struct ca_profile *p);
/* The profile as JSON (for GET /api/v1/profiles); new reference. */
json_t *ca_profile_json(const struct ca_profile *p);

/* Everything issuance and revocation work with; all borrowed. The keys
 * are used only through EVP (they live on the token). */
struct ca_ctx {
	const struct gp_config *cfg;
	const struct ca_profiles *profiles;
	store *st;
	audit *audit;
	X509 *cert[GP_KEY_COUNT];     /* root and ca are used */
	EVP_PKEY *key[GP_KEY_COUNT];  /* root and ca are used */
};

/*
 * Persons (ca_person.c). Dual control is between persons, not
 * certificates: one officer holding two certificates is one person. A
 * person is told apart by
 *   - id: "dn:" and the subject DN of their certificate without its
 *     title (the role), its attributes sorted and compared as RFC 5280
 *     7.1 compares names (white space folded, ASCII case ignored); or
 *     "local:<user>" for the local operator of the CLI;
 *   - idn: "idn:" and the hex SHA-256 of the resident ID number the store
 *     records for the certificate (GB 11643), when it records one; else
 *     empty. The number itself is never part of an identity.
 * Two persons are the same when their ids are equal or both have an idn
 * and those are equal (ca_person_same).
 */
#define CA_PERSON_MAX 1024
struct ca_person {
	char id[CA_PERSON_MAX];
	char idn[72];
};

/* The person holding |cert|, with the resident ID number the store
 * records for it (NULL when none). GP_ERR_INVALID when the subject cannot
 * be read as text or the identity would exceed CA_PERSON_MAX. */
int ca_person_of_cert(const X509 *cert, const char *id_number,
    struct ca_person *out) GP_WUR;

/* Sets (or, for NULL, clears) the idn of |p| from the resident ID number
 * the store records for the certificate. */
int ca_person_set_idn(struct ca_person *p, const char *id_number) GP_WUR;

/* The local operator "local:<user>" (|actor| as instance_open sets it). */
int ca_person_local(const char *actor, struct ca_person *out) GP_WUR;

/* 1 when |a| and |b| are the same person (see above), else 0. Also 1
 * when either is NULL or has no id: persons that cannot be told apart are
 * not two. */
int ca_person_same(const struct ca_person *a, const struct ca_person *b);

/* Who asks, for the audit record and for dual control: |person| is the
 * person two approvals must differ in. */
struct ca_actor {
	const char *actor;
	const char *role;
	const struct ca_person *person;
	const char *request_id;   /* HTTP request id, or NULL */
	const char *client;       /* client address, or NULL */
};

/* Fills |ev| with the audit event of |who| (actor, role, request id,
 * client) for |op| on |object|; every pointer is borrowed. */
void ca_event(struct audit_event *ev, const struct ca_actor *who,
    const char *op, const char *object, const char *outcome,
    json_t *details);

/* A request to issue: |subject| is the JSON object of subject fields
 * ({"organization":..,"uscc":..} / {"name":..,"id_number":..} ...), |san|
 * an optional {"dns":[..],"ip":[..],"email":[..]}; both borrowed. */
struct ca_issue_req {
	const char *profile;
	const char *csr_pem;
	size_t csr_len;
	json_t *subject;
	json_t *san;
	int64_t validity_days;    /* 0: the profile's maximum */
	/* Instead of |csr_pem| (then NULL): a public key the CA side made,
	 * the KMC's escrowed encryption key (kmc/), which needs no proof of
	 * possession; its type must be one the profile allows. Borrowed.
	 * Never set from a request's content. */
	EVP_PKEY *pubkey;
};

#define CA_MAX_CSR 65536          /* PEM bytes */

/* What issuance returned. |pending| set: dual control, |request_id| says
 * which request waits for approval and nothing was signed. */
struct ca_issue_result {
	int pending;
	char *request_id;
	char *serial;             /* lower-case hex */
	char *cert_pem;
	char *profile;
	int64_t not_before;
	int64_t not_after;
};
void ca_issue_result_clear(struct ca_issue_result *res);

/* Issues a certificate from a PKCS#10 request under a profile: checks the
 * CSR signature (proof of possession) and its key against the profile,
 * builds the subject from the validated fields (never copied from the
 * CSR), lints the unsigned certificate against the profile, signs, and
 * stores it with its audit record in one transaction before returning.
 * A dual-control profile records a pending request instead (|res->pending|).
 * GP_ERR_INVALID naming the field for a request outside the profile;
 * GP_ERR_INTERNAL when govpki's own output fails its self-check (nothing
 * signed). Every failure is audited once, as "cert.issue" ("denied" or
 * "failure"), against the serial once one was signed, else the profile:
 * the one rule of ca/internal.h. */
int ca_issue(const struct ca_ctx *ca, const struct ca_actor *who,
    const struct ca_issue_req *req, struct ca_issue_result *res) GP_WUR;

/* ca_issue() in two halves, so that a server need not hold a thread while
 * the certificate is committed: ca_issue_start() does everything up to and
 * including the signature, on the caller's thread, and fills |res|; the
 * row and its "cert.issue" record are then written by ca_issue_commit()
 * (waits) or ca_issue_commit_async() (returns at once). Until that commit
 * reports success nothing of |res| may be handed out.
 *
 * ca_issue_start() returns as ca_issue() does for every refusal (audited),
 * and for a dual-control profile (the request recorded, |res->pending|,
 * *out_job NULL); otherwise 0 with *out_job set, which the caller must
 * pass to exactly one of the commit calls or ca_issue_job_free(). |who|
 * and |req| are only borrowed during the call. */
typedef struct ca_issue_job ca_issue_job;
int ca_issue_start(const struct ca_ctx *ca, const struct ca_actor *who,
    const struct ca_issue_req *req, struct ca_issue_result *res,
    ca_issue_job **out_job) GP_WUR;

/* Commits |job| (taken, also on failure) through audit_apply() and returns
 * once the certificate row and its record are durable, or the error (its
 * "cert.issue" failure record written; drop |res| then). */
int ca_issue_commit(ca_issue_job *job) GP_WUR;

/* Reports the end of ca_issue_commit_async(): r == 0 once the certificate
 * and its record are durable; r < 0 (detail set) when they could not be
 * stored, after that failure's own record is durable. Called on the audit
 * writer's thread (or the caller's, when nothing could be queued); it must
 * not block, since the next group commit waits for it. */
typedef void (*ca_issue_done_fn)(void *arg, int r);

/* Queues |job| (taken) on the audit writer's group commit through
 * audit_apply_async() and returns at once; |fn|(|arg|, r) is called exactly
 * once, possibly before this returns. Same outcome and audit records as
 * ca_issue_commit(). */
void ca_issue_commit_async(ca_issue_job *job, ca_issue_done_fn fn,
    void *arg);

/* Abandons an uncommitted |job|: nothing is stored, and the signature it
 * carries is audited as a failure. Accepts NULL. */
void ca_issue_job_free(ca_issue_job *job);

/* For a caller that commits several certificates and other state in one
 * transaction of its own (kmc/: a signing certificate, its encryption
 * twin and the escrowed key): in the caller's store transaction, writes
 * |job|'s certificate row and its "cert.issue" record (audit_append_tx).
 * The job stays the caller's: after the commit, ca_issue_job_done()
 * frees it; after a failure or rollback, ca_issue_job_free() audits the
 * abandoned signature. */
int ca_issue_write_tx(ca_issue_job *job) GP_WUR;
void ca_issue_job_done(ca_issue_job *job);
/* The serial (lower-case hex) and DER of |job|'s certificate; borrowed. */
const char *ca_issue_job_serial(const ca_issue_job *job);
const uint8_t *ca_issue_job_der(const ca_issue_job *job, size_t *out_len);

/* Parses one PEM PKCS#10 request as issuance does (ca_csr.c: at most
 * CA_MAX_CSR bytes, nothing trailing) and checks its signature with its
 * own key (RFC 2986 3, proof of possession); returns that key and, when
 * |out_subject| is not NULL, a copy of its subject. GP_ERR_INVALID or
 * GP_ERR_TOO_LARGE with a "csr: ..." detail. */
int ca_csr_pop(const char *pem, size_t len, EVP_PKEY **out_key,
    X509_NAME **out_subject) GP_WUR;

/* The subject fields of identity a profile validated (ca_subject_validate):
 * "" when the profile stores none. */
struct ca_subject_ids {
	char uscc[32];
	char id_number[32];
};

/* Checks |subject| (the JSON object of a request) against profile
 * |profile| exactly as issuance does (fields, text, USCC and ID check
 * characters), building nothing; fills |out|. GP_ERR_INVALID naming the
 * field. */
int ca_subject_validate(const struct ca_ctx *ca, const char *profile,
    json_t *subject, struct ca_subject_ids *out) GP_WUR;

/* 1 when |id| has the form of a request id (32 lower-case hex digits). */
int ca_request_id_ok(const char *id);

/* Approves pending request |request_id| and issues it (|res| as from
 * ca_issue). GP_ERR_DENIED when |who| is the same person as the requester
 * (ca_person_same), whatever certificate they use; GP_ERR_NOT_FOUND;
 * GP_ERR_CONFLICT when it is no longer pending (approved or refused);
 * GP_ERR_INVALID when it no longer passes its profile. Every failure is
 * audited as "cert.approve"; the success is the "cert.issue" record,
 * naming the request and its requester. */
int ca_request_approve(const struct ca_ctx *ca, const struct ca_actor *who,
    const char *request_id, struct ca_issue_result *res) GP_WUR;

/* Refuses pending request |request_id|: its status becomes "refused" with
 * |reason| (1 to 256 characters of text, ca_text_check) and who decided,
 * and the "cert.refuse" record commits with it. A refused request can
 * never be approved. Any officer may refuse, the requester too (a
 * withdrawal). GP_ERR_INVALID naming "reason", GP_ERR_NOT_FOUND,
 * GP_ERR_CONFLICT when it is no longer pending; audited as
 * "cert.refuse". */
int ca_request_refuse(const struct ca_ctx *ca, const struct ca_actor *who,
    const char *request_id, const char *reason) GP_WUR;

/* The request |request_id| as JSON: id, profile, status, requester (actor
 * text), requester_id (person identity) and requester_idn (when the
 * requester's certificate records an ID number), created_ms; once decided,
 * decided_ms, decided_by, decided_by_id, and serial or reason; and
 * "issue", what approving it now would issue, checked against the profile
 * now: issuable, profile, issuer, subject (the DN as it would be issued),
 * names (the SAN), role, key {type, bits, fingerprint (SHA-256 of the
 * SubjectPublicKeyInfo)}, validity_days, not_before, not_after, key_usage,
 * extended_key_usage, ca; or issuable false and the problem. New
 * reference in *out. Reads only; the caller audits the read. */
int ca_request_get(const struct ca_ctx *ca, const char *request_id,
    json_t **out) GP_WUR;

/* Requests matching |q| (store_request_find) as {"requests": [summary as
 * in ca_request_get, without "issue"], "next_after": id or null}. New
 * reference in *out. */
int ca_request_list(const struct ca_ctx *ca,
    const struct store_request_query *q, json_t **out) GP_WUR;

/* Checks that |s| (|len| bytes) is text a name may hold: valid UTF-8 (RFC
 * 3629 4: no overlong form, no surrogate, nothing above U+10FFFF), no
 * control character (Unicode Cc, NUL included), no format character
 * (Unicode Cf: bidi embeddings, overrides and isolates such as U+202E and
 * U+2066..U+2069, zero-width U+200B..U+200F, U+FEFF ...) and no line or
 * paragraph separator (U+2028, U+2029), 1 to |max_chars| characters
 * counted as code points, not bytes (0: no cap). GP_ERR_INVALID naming
 * |field| and the offending character's position and code point. */
int ca_text_check(const char *field, const char *s, size_t len,
    size_t max_chars) GP_WUR;

/* RFC 5280 5.3.1 CRLReason names ("keyCompromise" ...) and codes; -1 /
 * NULL for an unknown one. Code 7 is unused in RFC 5280. */
int ca_reason_code(const char *name);
const char *ca_reason_name(int code);

/* Status changes, each with its audit record in one transaction. Only
 * "good" -> "hold" -> "good" and "good"/"hold" -> "revoked" exist; a
 * revoked certificate stays revoked (GP_ERR_CONFLICT "already revoked").
 * |reason| of ca_revoke is an RFC 5280 code other than certificateHold
 * and removeFromCRL; |invalidity_date| 0 for none (RFC 5280 5.3.2). */
int ca_revoke(const struct ca_ctx *ca, const struct ca_actor *who,
    const char *serial, int reason, int64_t invalidity_date) GP_WUR;
int ca_hold(const struct ca_ctx *ca, const struct ca_actor *who,
    const char *serial) GP_WUR;
int ca_release(const struct ca_ctx *ca, const struct ca_actor *who,
    const char *serial) GP_WUR;

/*
 * Status at a time (ca_status.c): the one judgement of whether a
 * certificate could be relied on at time |t|, from its status history
 * (store_cert_history_scan): invalid when |t| falls in a hold (released
 * or not), at or after the revocation time, or at or after the
 * revocation's invalidity date (RFC 5280 5.3.2). Verification uses it
 * for signers, their CAs and time-stamp authorities, whatever the source
 * (the store's history, or the one event a CRL entry or an OCSP answer
 * gives); OCSP and CRLs report the current state, the same history's
 * last word.
 */
enum ca_at_state {
	CA_AT_GOOD = 0,      /* nothing in the history covers t */
	CA_AT_HELD,          /* t falls in a hold (certificateHold) */
	CA_AT_REVOKED,       /* t is at or after the revocation time */
	CA_AT_INVALID        /* t is at or after the invalidity date */
};
struct ca_status_at {
	int64_t t;                 /* the time judged, Unix seconds */
	enum ca_at_state state;    /* at t, once ca_status_end() ran */
	int64_t from;              /* start of what covers t */
	int64_t until;             /* a released hold covering t: its end */
	/* The certificate after the last event. */
	int revoked;
	int64_t revoked_at;
	int reason;                /* of the revocation; -1 when none */
	int64_t invalidity_date;   /* 0 when none */
	int held;                  /* a hold never released (revoked since,
	                            * or on hold now) */
	int64_t held_since;
	size_t events;
	/* Walking: the first released hold that covered t. */
	int64_t hold_from, hold_until;
};

/* Walks a history in order: begin, one step per event (oldest first),
 * end. ca_status_step() returns GP_ERR_TAMPERED naming the event when
 * the history is not one ca_revoke.c writes (a release without a hold, a
 * hold while held, anything after the revocation). ca_status_end()
 * fills |s->state| and returns 0 when the certificate was good at |t|,
 * else GP_ERR_CONFLICT with the detail naming |serial|, what covers |t|
 * and when. */
void ca_status_begin(struct ca_status_at *s, int64_t t);
int ca_status_step(struct ca_status_at *s,
    const struct store_status_event *ev) GP_WUR;
int ca_status_end(struct ca_status_at *s, const char *serial) GP_WUR;

/* The status of |serial| at |t| from the store's history (begin, steps,
 * end). A certificate with no event was never held or revoked: 0. Store
 * errors as store_cert_history_scan() returns them. */
int ca_status_at(store *st, const char *serial, int64_t t,
    struct ca_status_at *out) GP_WUR;

/* |t| (Unix seconds) as "YYYY-MM-DDTHH:MM:SSZ" into |buf| (at least 21
 * bytes), or "unknown" when negative. */
void ca_time_iso(int64_t t, char *buf, size_t len);

/* The stored certificate |c| as the JSON of the API (serial, profile,
 * subject, status, validity, revocation, PEM when |with_pem|); personal ID
 * numbers appear masked. New reference, NULL on allocation failure. */
json_t *ca_cert_json(const struct store_cert *c, int with_pem);

/* Adds to |obj| (the JSON of ca_cert_json()) the array "history": every
 * hold, release and revocation of |serial| in the order recorded, each
 * {"change","time","reason","invalidity_date","actor","recorded_ms"}
 * (reason and invalidity date only when set). 0, GP_ERR_NOMEM, or the
 * store's error (GP_ERR_TAMPERED for an event the store never writes). */
int ca_cert_history_json(store *st, const char *serial, json_t *obj)
    GP_WUR;

/* ------------------------------------------------------------------ */
/* CRLs (ca_crl.c) and OCSP (ca_ocsp.c). */

/* Who generates a CRL, for its audit record; every field may be NULL
 * except |actor| and |role|. */
/* A lease the generator must hold when its CRL commits (ca_crl_generate):
 * the commit's transaction renews it (store_lease_take), and a generator
 * that lost it, stalled past its expiry while another node took it over,
 * commits nothing and discards the CRL it built (GP_ERR_CONFLICT). */
struct ca_crl_lease {
	const char *name;
	const char *holder;
	int64_t ttl_ms;
};

struct ca_crl_spec {
	store *st;
	audit *audit;
	const char *issuer;        /* "ca" or "root": the store's issuer */
	X509 *issuer_cert;
	EVP_PKEY *issuer_key;      /* signs; may live on a token */
	const char *out_path;      /* the DER file, replaced atomically */
	int64_t next_update_s;     /* nextUpdate = thisUpdate + this */
	int64_t this_update;       /* Unix seconds; 0: now */
	int delta;                 /* a delta CRL against the last full one */
	const char *freshest_url;  /* full CRLs: where the deltas are, or
	                            * NULL when there are none */
	const char *actor;
	const char *role;
	const char *request_id;
	const char *client;
	const struct ca_crl_lease *lease; /* NULL: none (the CLI, on demand) */
};

struct ca_crl_info {
	int64_t number;            /* the cRLNumber it carries */
	int64_t entries;           /* revoked and held certificates listed */
	int64_t base;              /* a delta's BaseCRLNumber, else 0 */
	int64_t this_update;
	int64_t next_update;
	uint64_t bytes;            /* size of the DER file */
};

/* Generates the full CRL of |spec->issuer| (RFC 5280 5): every revoked or
 * held certificate of that issuer in the store, signed by issuer_key,
 * with AKI and a cRLNumber one above the last one generated (kept in the
 * store's meta table, monotonic across processes), and writes it as DER to
 * out_path through a temporary file and rename. Memory stays bounded for
 * any number of entries: the entries are streamed from the store to a
 * scratch file beside out_path and hashed from there. Generators of one
 * out_path are serialised with a lock file, across processes. The new
 * number and the "crl.issue" audit record commit in one transaction before
 * the file is renamed into place; a failure is audited as such. With
 * |spec->lease|, that transaction also renews the lease, and a generator
 * that no longer holds it commits nothing (ca_crl_lease). */
int ca_crl_generate(const struct ca_crl_spec *spec, struct ca_crl_info *out)
    GP_WUR;

/* With |spec->delta|, a delta CRL (RFC 5280 5.2.4) instead: the
 * certificates whose status changed after the last full CRL (the base)
 * was built, revoked and held ones as in a full CRL and released ones with
 * removeFromCRL, with the critical deltaCRLIndicator naming the base's
 * number; numbers are one sequence with the full CRLs. GP_ERR_CONFLICT
 * when there is no full CRL yet. A full CRL given |spec->freshest_url|
 * carries it as its freshestCRL extension (5.2.6). */

/* The meta key of |issuer|'s last CRL number, and of the status
 * generation (STORE_META_STATUS_GEN) it was built from, into |buf|;
 * |what| is "number", "gen", "this_update" (of the last full CRL),
 * "base_number" and "base_gen" (of the same), "delta_this_update" and
 * "delta_base" (of the last delta). */
void ca_crl_meta_key(const char *issuer, const char *what, char *buf,
    size_t len);

typedef struct ca_ocsp ca_ocsp;

/* An OCSP responder (RFC 6960, RFC 5019 profile) for the certificates the
 * store records as issued by |issuer_name|. All borrowed; they must outlive
 * the responder. */
struct ca_ocsp_conf {
	store *st;
	const char *issuer_name;   /* "ca" */
	X509 *issuer_cert;         /* the CA the CertIDs must name */
	X509 *signer_cert;         /* delegated responder: OCSPSigning EKU */
	EVP_PKEY *signer_key;      /* may live on a token */
	int64_t refresh_s;         /* pre-signed responses reused this long */
	int64_t validity_s;        /* nextUpdate = thisUpdate + this */
	size_t cache_max;          /* pre-signed responses kept; 0: default */
};

int ca_ocsp_new(const struct ca_ocsp_conf *conf, ca_ocsp **out) GP_WUR;
void ca_ocsp_free(ca_ocsp *o);

/* Cap on an OCSP request (DER bytes) and on the CertIDs in it. */
#define CA_OCSP_MAX_REQUEST 8192
#define CA_OCSP_MAX_CERTIDS 16

/* OCSPResponseStatus values (RFC 6960 4.2.1). */
#define CA_OCSP_SUCCESSFUL 0
#define CA_OCSP_MALFORMED 1
#define CA_OCSP_INTERNAL_ERROR 2
#define CA_OCSP_UNAUTHORIZED 6

struct ca_ocsp_resp {
	uint8_t *der;              /* the OCSPResponse; free with
	                            * ca_ocsp_resp_clear() */
	size_t der_len;
	int status;                /* CA_OCSP_* */
	int cached;                /* served from the pre-signed cache */
	int cacheable;             /* no nonce: HTTP caches may keep it */
	int64_t this_update;       /* Unix seconds, when cacheable */
	int64_t next_update;
	int64_t refresh_at;        /* reused until then */
	char etag[40];             /* quoted, when cacheable */
	int signed_now;            /* 1 when this call made a signature */
	int sign_failed;           /* 1 when signing failed: internalError */
	int nonce;                 /* the request carried a nonce */
	/* What was signed (or failed to be), for the audit record: the
	 * CertIDs in request order, when signed_now or sign_failed. */
	int n_ids;
	struct ca_ocsp_id {
		char serial[68];   /* lower-case hex; "-" when not a serial
		                    * this CA could have issued */
		char status[8];    /* good, hold, revoked, unknown */
	} ids[CA_OCSP_MAX_CERTIDS];
};
void ca_ocsp_resp_clear(struct ca_ocsp_resp *r);

/* Answers the DER OCSPRequest |req|. Always yields a response in |out|
 * when it returns 0: a malformed request (trailing bytes, over the caps,
 * no CertID, a nonce of 0 or more than 32 octets) gets malformedRequest, a
 * signing failure internalError. Per CertID: good, revoked (with time and
 * reason; certificateHold for a held one), or unknown when the CertID does
 * not name the issuer or the store has no such serial of it (never good).
 * A request none of whose CertIDs names the issuer gets unauthorized
 * (RFC 6960 2.3), unsigned; in a request that mixes them, the CertIDs of
 * other issuers are unknown (RFC 6960 2.2).
 * A single-CertID request without a nonce is answered from the pre-signed
 * cache while the stored status is the one it was signed for and before
 * its refresh time; a status change, from any process, is seen on the
 * next request because every answer re-reads the stored status. Safe from
 * any number of threads. Returns GP_ERR_NOMEM only. */
int ca_ocsp_respond(ca_ocsp *o, const uint8_t *req, size_t req_len,
    struct ca_ocsp_resp *out) GP_WUR;

/* A response without a body (RFC 6960 4.2.1): CA_OCSP_MALFORMED,
 * CA_OCSP_INTERNAL_ERROR or CA_OCSP_UNAUTHORIZED, replacing what |out|
 * held. */
int ca_ocsp_status_only(int status, struct ca_ocsp_resp *out) GP_WUR;

/* A pre-signed response is kept, but not served to other requests, until
 * the audit record of its signature is durable: then the caller publishes
 * it, naming it by serial and entity tag (ca_ocsp_resp.etag). */
void ca_ocsp_publish(ca_ocsp *o, const char *serial, const char *etag);

/* Drops the pre-signed responses of |serial| in every responder of this
 * process. Revocation, hold and release call it (ca_revoke.c) after their
 * commit; correctness does not depend on it (answers re-check the stored
 * status), it frees the stale entry at once. */
void ca_ocsp_invalidate(const char *serial);

#endif /* GOVPKI_CA_H */
