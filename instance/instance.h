/*
 * instance.h: one govpki instance directory and everything opened from it.
 *
 *   DIR/govpki.json        configuration (core/core.h, struct gp_config)
 *   DIR/softhsm2.conf      SoftHSM configuration of the embedded token
 *   DIR/tokens/            SoftHSM token store
 *   DIR/secrets/           user.pin and so.pin, mode 0600 (embedded only)
 *   DIR/govpki.db          the store (SQLite), unless store.url names a
 *                          PostgreSQL database (docs/postgres.md)
 *   DIR/govpki.lock        held by every process with the keys (flock)
 *   DIR/certs/             root.pem ca.pem tsa.pem ocsp.pem audit.pem
 *   DIR/tls/               server.pem (with chain) and server.key (0600)
 *   DIR/admin/             sysadmin, officer, auditor and agent .pem and .key
 *   DIR/tenders/           sealed bids as received, opened bids (tender/)
 *   DIR/policies/          the certificate profiles and approvals/
 *
 * instance_init() builds all of it in a sibling directory and renames it into
 * place only when complete, so a failed init leaves nothing behind and an
 * existing instance is never touched.
 */
#ifndef GOVPKI_INSTANCE_H
#define GOVPKI_INSTANCE_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "audit/audit.h"
#include "ca/ca.h"
#include "core/core.h"
#include "store/store.h"
#include "tokens/tokens.h"
#include "tsa/tsa.h"

struct instance {
	struct gp_config *cfg;
	store *st;
	audit *audit;
	tok_ctx *tok;                 /* NULL unless opened with INSTANCE_KEYS */
	EVP_PKEY *key[GP_KEY_COUNT];  /* NULL unless opened with INSTANCE_KEYS */
	X509 *cert[GP_KEY_COUNT];     /* always loaded from DIR/certs */
	char actor[128];              /* "local:<user>" for the CLI */
	int has_lock;                 /* lock_fd holds DIR/govpki.lock */
	int lock_fd;
	int audit_key_checked;        /* key[GP_KEY_AUDIT] is the key in
	                               * effect (instance_audit_key_check) */
	char node[64];                /* this node's name (instance_set_node) */
};

struct instance_init_opts {
	const char *dir;
	enum tok_algo algo;
	const char *const *hostnames; /* extra TLS names besides localhost */
	size_t hostnames_len;
	const char *module;           /* NULL: SoftHSM */
	const char *public_url;       /* base of the URLs in certificates;
	                               * NULL: http://127.0.0.1:8080 */
	const char *profiles;         /* profiles to copy into DIR/policies;
	                               * NULL: the installed ones */
	int dev_clock;                /* tsa.clock_check "warn": development
	                               * only; else "strict" */
	const char *store_url;        /* a PostgreSQL database (store.url);
	                               * NULL: DIR/govpki.db */
	const char *store_password_file; /* store.password_file, or NULL */
	const char *store_password_env;  /* store.password_env, or NULL */
};

/* Creates a new instance. GP_ERR_EXISTS when |dir| already holds one or is
 * not empty; GP_ERR_INVALID naming --public-url or --hostname for a bad
 * one, before anything is created; nothing is left behind on failure. The
 * instance gets its own copy of the profiles (DIR/policies, with
 * approvals/), loaded once to check them, and names it relative to DIR,
 * so the directory can be moved as a whole. */
int instance_init(const struct instance_init_opts *opts) GP_WUR;

#define INSTANCE_KEYS 0x1 /* log in to the token and load every key */

/* Opens the instance in |dir|. The caller frees with instance_free().
 * With INSTANCE_KEYS, a process holds a shared lock on DIR/govpki.lock
 * (flock) from before it reads govpki.json until instance_free(), which
 * signs its last checkpoint first: every process that may sign audit
 * checkpoints holds it, and a change of the audit key takes it
 * exclusively (instance_lock_exclusive), so no process goes on signing
 * with a key the change replaced. While a change holds it, opening with
 * keys waits up to INSTANCE_LOCK_WAIT_S, then fails with GP_ERR_BUSY
 * naming the file. */
#define INSTANCE_LOCK_FILE "govpki.lock"
#define INSTANCE_LOCK_WAIT_S 30
int instance_open(const char *dir, unsigned int flags, struct instance **out)
    GP_WUR;

/* Turns this process's shared lock (opened with INSTANCE_KEYS) into an
 * exclusive one, without waiting: GP_ERR_BUSY naming DIR/govpki.lock
 * while another process has the instance open with its keys (the server,
 * or a CLI command); then this process may have lost its shared lock,
 * and should only close the instance. */
int instance_lock_exclusive(struct instance *inst) GP_WUR;

/* The certificate DIR/certs/<name>.pem (|name| one of gp_key_names);
 * the caller frees *out. GP_ERR_INVALID naming the file when it is not a
 * PEM certificate. */
int instance_cert_load(const char *dir, const char *name, X509 **out)
    GP_WUR;

/*
 * `govpki store migrate` (inst_migrate.c): an instance's SQLite store
 * moved to PostgreSQL, its audit chain intact.
 */
struct instance_migrate_opts {
	const char *dir;             /* the instance (store in DIR/govpki.db) */
	const char *url;             /* the target database: postgresql://,
	                              * no password in it */
	const char *password_file;   /* its password from this file, or */
	const char *password_env;    /* from this variable; neither: libpq's
	                              * ~/.pgpass */
	store_copy_progress_fn progress;  /* may be NULL */
	void *progress_arg;
};
struct instance_migrate_report {
	struct store_copy_report copy;
	char sha256[65];             /* of DIR/govpki.db, unchanged */
	char kept[4096];             /* the previous govpki.json, kept as */
	int64_t record_seq;          /* the "store.migrate" record */
	int64_t verified_records;    /* the source's records verified */
	int64_t ms;                  /* how long it took */
};
/* Moves the store of the instance |o->dir| from DIR/govpki.db to the
 * PostgreSQL database |o->url|, all or nothing:
 *   1. takes DIR/govpki.lock exclusively (GP_ERR_BUSY while the server
 *      or a command has the instance open with its keys);
 *   2. opens DIR/govpki.db read-only (never written: byte for byte as it
 *      was; GP_ERR_UNSUPPORTED when its schema is older than this
 *      binary's: open the instance once with it, then migrate) and, in
 *      one read snapshot, verifies it as `govpki audit verify` does
 *      (GP_ERR_TAMPERED with the first bad record: nothing written);
 *   3. in one transaction of the target: store_copy() (GP_ERR_EXISTS
 *      when the target holds a govpki store with any row), a
 *      "store.migrate" audit record (from: the file and its SHA-256, to:
 *      the URL, the rows per table, the head copied), then the chain
 *      verified again on the target, and the commit;
 *   4. DIR/govpki.json then names the URL and the password source
 *      (store.url, store.password_file or store.password_env), the
 *      previous one kept as govpki.json.sqlite-<UTC time>.
 * A failure before the commit leaves the target without a row (at most
 * the empty schema, which a retry or `govpki init --store` reuses) and the
 * instance on SQLite; it is recorded nowhere, since the source stays
 * untouched and the target empty. The password is read once and wiped. */
int instance_store_migrate(const struct instance_migrate_opts *o,
    struct instance_migrate_report *out) GP_WUR;

/* Closes the audit writer, the store and the token. Accepts NULL. */
void instance_free(struct instance *inst);

/* Opens the store of the instance |cfg| describes: DIR/govpki.db, or the
 * PostgreSQL database of store.url with the password read from
 * store.password_file (when the file exists) or else the environment
 * variable store.password_env (when set; it is then unset), wiped after
 * use; neither: libpq's own sources (PGPASSFILE, ~/.pgpass). |node| names
 * the connection (application_name); may be NULL. With |create|, a new
 * store: for PostgreSQL the database must exist and hold no audit record
 * (GP_ERR_EXISTS naming store.url otherwise). */
int instance_store_open(const struct gp_config *cfg, int create,
    const char *node, store **out) GP_WUR;

/* This node's name, for what several nodes sharing one database keep
 * apart (the TSA's genTime bound, the CRL lease, log lines): 1 to 63 of
 * [A-Za-z0-9._-]. instance_open() sets it from $GOVPKI_NODE, or else the
 * host name; `govpki serve --node` sets it before the server starts.
 * GP_ERR_INVALID naming --node for another. */
#define INSTANCE_NODE_ENV "GOVPKI_NODE"
int instance_set_node(struct instance *inst, const char *name) GP_WUR;

/* Points SOFTHSM2_CONF at the instance's SoftHSM configuration, if it has
 * one, rewriting it if the instance directory moved. */
int instance_softhsm_env(const struct gp_config *cfg) GP_WUR;

/* Reads the user PIN from the configured source (file, then environment,
 * then terminal). The caller frees it with gp_secret_free(). */
int instance_pin(const struct gp_config *cfg, char **out_pin) GP_WUR;

/* "local:<login name>" of the user running this process, the actor of
 * CLI operations in the audit log. */
void instance_local_actor(char *buf, size_t len);

/* The CRLs an instance publishes (inst_crl.c): DIR/crl/<name>.crl. */
struct instance_crl {
	const char *name;             /* "ca", "root", "ca-delta" */
	const char *issuer;           /* the store's issuer */
	int key;                      /* GP_KEY_* of the signing CA */
	int delta;                    /* a delta CRL of |issuer| */
};
#define INSTANCE_CRLS 3
extern const struct instance_crl instance_crls[INSTANCE_CRLS];

/* Who asks, for the audit record; only actor and role are required. */
struct instance_who {
	const char *actor;
	const char *role;
	const char *request_id;
	const char *client;
};

/* The entry of |name|, or NULL. */
const struct instance_crl *instance_crl_find(const char *name);
/* 1 when |c|'s issuer publishes delta CRLs (crl.delta_s > 0; the issuing
 * CA only). */
int instance_crl_deltas(const struct instance *inst,
    const struct instance_crl *c);
/* DIR/crl/<name>.crl, malloc'ed; NULL on NOMEM. */
char *instance_crl_path(const struct instance *inst,
    const struct instance_crl *c);
/* Generates CRL |c| now (ca_crl_generate): a full CRL names its delta
 * (freshestCRL, under public_url) when there are deltas; a delta's
 * nextUpdate is two crl.delta_s periods ahead. |lease|: the lease the
 * schedule of several nodes holds, renewed as the CRL commits (NULL from
 * the CLI and on demand). GP_ERR_INVALID for a delta while deltas are off;
 * GP_ERR_LOGIN_REQUIRED without the key; GP_ERR_CONFLICT when |lease| was
 * lost meanwhile (nothing committed or published). */
int instance_crl_generate(struct instance *inst, const struct instance_crl *c,
    const struct instance_who *who, const struct ca_crl_lease *lease,
    struct ca_crl_info *info) GP_WUR;
/* Makes DIR/crl/<name>.crl the latest version of CRL |c| the store holds
 * (instance_crl_generate puts every one there) when it is newer than
 * |*have|, the version this process last wrote or found (0: read it from
 * DIR/crl/<name>.number); sets *have. For the nodes that do not hold the
 * CRL lease: they serve what its holder made. *out_published: the latest
 * version the store holds (0: none), or -1 when it was not read. A no-op
 * on a store that is not shared (store_shared), where
 * instance_crl_generate stores no copy. */
int instance_crl_sync(struct instance *inst, const struct instance_crl *c,
    int64_t *have, int64_t *out_published) GP_WUR;

/*
 * The audit log's anchors (inst_audit.c).
 */
/* A TSA over the instance's TSA key and certificate (opened with
 * INSTANCE_KEYS), the issuing CA as its chain, and the test clock hook of
 * tsa.h when set. The caller frees with tsa_free(). */
int instance_tsa_new(const struct instance *inst, tsa **out) GP_WUR;

/* Signs a checkpoint of the audit log with the audit key (audit.h
 * audit_checkpoint_stamped; a no-op unless |force| when nothing is
 * unsealed) and time-stamps its signature in process with |t|, or, when
 * |t| is NULL, with a TSA made for it (instance_tsa_new) once a checkpoint
 * is to be signed. When the TSA refuses (its clock guard), the checkpoint
 * is still made, without a token, and its record says why. Before this
 * process's first checkpoint, checks that its audit key is the one in
 * effect (instance_audit_key_check, a log without a recorded key
 * allowed), so that a replaced certs/audit.pem or keys.audit never signs
 * a checkpoint verification would reject: GP_ERR_CONFIG then.
 * GP_ERR_LOGIN_REQUIRED without the audit key. */
int instance_checkpoint(struct instance *inst, tsa *t, int force) GP_WUR;

/*
 * The audit key over its life (inst_audit_key.c).
 */
/* The audit certificate for |pub|, issued by the issuing CA (|ca_cert|,
 * |ca_key|) at |now|: CN "govpki Audit Log", O the instance name, five
 * years within the CA's validity, key usage digitalSignature and
 * nonRepudiation (critical), the critical extended key usage
 * AUDIT_EKU_OID alone, and the CA's CRL, OCSP and caIssuers URLs under
 * public_url. The same for init, rotation and adoption. */
int instance_audit_cert_issue(const struct gp_config *cfg, X509 *ca_cert,
    EVP_PKEY *ca_key, EVP_PKEY *pub, int64_t now, X509 **out) GP_WUR;

/* 0 when this process may sign checkpoints: certs/audit.pem is the
 * certificate the chain records for the audit key in effect
 * (audit_key_in_effect), no key change is pending, and the loaded audit
 * key, when there is one, is that certificate's (it signs a probe). Then
 * sets inst->audit_key_checked (when the key is loaded).
 * GP_ERR_CONFIG naming what differs (certs/audit.pem or keys.audit
 * replaced, a pending change) and what to do. A log that records no
 * audit key (an instance made before keys were recorded) is refused too,
 * telling to run `govpki audit adopt-key`, unless |allow_unrecorded|:
 * then 0 (its checkpoints are what an adoption will anchor). The server
 * calls it at start with 0; instance_checkpoint() before its process's
 * first checkpoint, with 1. */
int instance_audit_key_check(struct instance *inst, int allow_unrecorded)
    GP_WUR;

/* What a rotation or adoption did. */
struct instance_audit_key_change {
	int adopted;             /* an adoption: the key stayed */
	char key_uri[512];       /* the audit key now in effect */
	char serial[68];         /* its new certificate's serial */
	char old_spki[65];       /* SHA-256 of the keys, hex */
	char new_spki[65];
	int64_t key_seq;         /* its "audit.key" record */
};

/* `govpki audit rotate-key`: on an instance opened with INSTANCE_KEYS
 * whose audit key is the one in effect (instance_audit_key_check), with
 * the instance lock held exclusively (GP_ERR_BUSY while another process,
 * such as the server, has the keys open): generates a new key of the same
 * algorithm on the instance's token, labelled audit-<UTC time>
 * (sensitive, non-extractable, as the token must report), has the
 * issuing CA certify it (instance_audit_cert_issue; checked with
 * audit_cert_check under certs/root.pem) and writes the certificate
 * beside it on the token; prepares certs/audit.pem and govpki.json (only
 * keys.audit changes) beside their final names; then audit_key_change():
 * the certificate's row with its cert.issue and key.generate records,
 * the audit.key record and the old key's checkpoint, in one transaction.
 * Only after it committed are the files renamed into place and this
 * process switched to the new key, which records "audit.rotate-key" and
 * forces a time-stamped checkpoint. A failure before the commit keeps
 * nothing but an unused key (and certificate) on the token, which the
 * failure record names; the old key stays in effect. A failed rename
 * after it is reported with the file to move by hand. */
int instance_audit_rotate(struct instance *inst,
    struct instance_audit_key_change *out) GP_WUR;

/* `govpki audit adopt-key`, for an instance whose log records no audit
 * key (made before govpki recorded it): on an instance opened with
 * INSTANCE_KEYS, the lock held exclusively, certifies the current audit
 * key again with the audit EKU (keys.audit must be certs/audit.pem's
 * key), then audit_key_adopt() (refused when a checkpoint was signed by
 * another key) with the certificate's row and record, then
 * certs/audit.pem replaced, "audit.adopt-key" recorded and a checkpoint
 * forced. The caller has the operator confirm first: the adoption
 * anchors the checkpoints made before it on the operator's word.
 * GP_ERR_CONFLICT when the log records a key already. */
int instance_audit_adopt(struct instance *inst,
    struct instance_audit_key_change *out) GP_WUR;

/* Trust for checking the time-stamp tokens of checkpoints: |root| (the
 * anchor) and the issuing CA as an untrusted intermediate. */
struct instance_audit_trust {
	X509 *root;                 /* borrowed */
	STACK_OF(X509) *trusted;
	STACK_OF(X509) *untrusted;
};
int instance_audit_trust_init(struct instance_audit_trust *tr, X509 *root,
    X509 *intermediate) GP_WUR;
void instance_audit_trust_free(struct instance_audit_trust *tr);

/* The audit_tst_fn of audit.h over an instance_audit_trust (|arg|): the
 * token verifies under its root (tsa_verify: signature, timeStamping EKU,
 * ESSCertIDv2) with imprint SHA-256 of |sig|; its genTime in ms. */
int instance_tst_check(void *arg, const uint8_t *tst, size_t tst_len,
    const uint8_t *sig, size_t sig_len, int64_t *out_gen_ms);

/* audit_verify() of the instance's log against |root| (the instance's
 * certs/root.pem, or the auditor's own copy), with every checkpoint's
 * time-stamp token checked under the same root. */
int instance_audit_verify(struct instance *inst, X509 *root,
    struct audit_report *rep) GP_WUR;
/* The same over the log in |st|, the issuing CA |ca| as the tokens'
 * intermediate: for a store that is no open instance's (store migrate's
 * source and target). */
int instance_audit_verify_store(store *st, X509 *root, X509 *ca,
    struct audit_report *rep) GP_WUR;

#endif /* GOVPKI_INSTANCE_H */
