/*
 * store_sqlite.c: the SQLite backend (store/internal.h): opening the file,
 * pragmas, the versioned schema migrations, transactions and the
 * statement API over sqlite3_stmt.
 *
 * Durability: WAL with synchronous=FULL, so a COMMIT that returned is on
 * disk. Several processes may open one file: BEGIN IMMEDIATE takes SQLite's
 * write lock and the busy timeout makes the others wait for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/internal.h"

/*
 * The schema, one step per version: step i brings version i to i+1 and runs
 * in the same transaction as the user_version update. Never edit a step
 * that has shipped; append a new one.
 */
static const char *const store_migrations[] = {
	/* 1: the tables. */
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY NOT NULL,"
	"  value TEXT NOT NULL);"
	"CREATE TABLE audit ("
	"  seq INTEGER PRIMARY KEY,"
	"  time_ms INTEGER NOT NULL,"
	"  actor TEXT, role TEXT, op TEXT, object TEXT, outcome TEXT,"
	"  request_id TEXT, client TEXT, details TEXT,"
	"  prev_hash BLOB NOT NULL,"
	"  hash BLOB NOT NULL);"
	"CREATE TABLE checkpoints ("
	"  id INTEGER PRIMARY KEY,"
	"  seq INTEGER NOT NULL,"
	"  time_ms INTEGER NOT NULL,"
	"  hash BLOB NOT NULL,"
	"  sig BLOB NOT NULL);"
	"CREATE TABLE certificates ("
	"  serial TEXT PRIMARY KEY NOT NULL,"
	"  issuer TEXT NOT NULL,"
	"  profile TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  role TEXT, uscc TEXT, id_number TEXT,"
	"  not_before INTEGER NOT NULL,"
	"  not_after INTEGER NOT NULL,"
	"  status TEXT NOT NULL"
	"    CHECK (status IN ('good', 'hold', 'revoked')),"
	"  revoked_at INTEGER NOT NULL DEFAULT 0,"
	"  invalidity_date INTEGER NOT NULL DEFAULT 0,"
	"  reason INTEGER NOT NULL DEFAULT -1,"
	"  created_ms INTEGER NOT NULL,"
	"  der BLOB NOT NULL);"
	"CREATE INDEX certificates_uscc ON certificates(uscc);"
	"CREATE INDEX certificates_id_number ON certificates(id_number);"
	"CREATE INDEX certificates_status ON certificates(status);"
	"CREATE INDEX certificates_profile ON certificates(profile);",

	/* 2: audit rows and checkpoints are append-only through this
	 * connection. Whoever edits the file can drop these triggers; the
	 * hash chain and the signed checkpoints are what detect that. */
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	"  BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;"
	"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	"  BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;"
	"CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints"
	"  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;"
	"CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints"
	"  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;",

	/* 3: issuance requests waiting for a second officer (dual
	 * control), and the index that pages certificate listings. */
	"CREATE TABLE requests ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  profile TEXT NOT NULL,"
	"  requester TEXT NOT NULL,"
	"  requester_actor TEXT NOT NULL,"
	"  body TEXT NOT NULL,"
	"  status TEXT NOT NULL"
	"    CHECK (status IN ('pending', 'approved', 'failed')),"
	"  created_ms INTEGER NOT NULL,"
	"  approver TEXT,"
	"  decided_ms INTEGER NOT NULL DEFAULT 0,"
	"  serial TEXT);"
	"CREATE INDEX requests_status ON requests(status);",

	/* 4: the status generation of each certificate's last change, so
	 * that a delta CRL lists what changed since its base CRL; only
	 * changed rows are indexed. */
	"ALTER TABLE certificates ADD COLUMN status_gen INTEGER NOT NULL "
	"  DEFAULT 0;"
	"CREATE INDEX certificates_status_gen ON certificates(status_gen)"
	"  WHERE status_gen > 0;",

	/* 5: requests can be refused (with a reason), and name persons:
	 * the requester's resident-ID identity and the approver's actor.
	 * SQLite cannot change a CHECK, so the table is copied. Rows kept
	 * from before name their requester by certificate serial, which
	 * ca_request.c resolves to a person when it decides them. */
	"CREATE TABLE requests_v5 ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  profile TEXT NOT NULL,"
	"  requester TEXT NOT NULL,"
	"  requester_actor TEXT NOT NULL,"
	"  body TEXT NOT NULL,"
	"  status TEXT NOT NULL"
	"    CHECK (status IN ('pending', 'approved', 'refused', 'failed')),"
	"  created_ms INTEGER NOT NULL,"
	"  approver TEXT,"
	"  decided_ms INTEGER NOT NULL DEFAULT 0,"
	"  serial TEXT,"
	"  requester_idn TEXT,"
	"  approver_actor TEXT,"
	"  reason TEXT);"
	"INSERT INTO requests_v5 (id, profile, requester, requester_actor,"
	"  body, status, created_ms, approver, decided_ms, serial)"
	"  SELECT id, profile, requester, requester_actor, body, status,"
	"  created_ms, approver, decided_ms, serial FROM requests"
	"  ORDER BY rowid;"
	"DROP TABLE requests;"
	"ALTER TABLE requests_v5 RENAME TO requests;"
	"CREATE INDEX requests_status ON requests(status);"
	"CREATE INDEX requests_created ON requests(created_ms, id);",

	/* 6: the RFC 3161 time-stamp token over each checkpoint's
	 * signature (NULL when none was made), and the records of issuance
	 * and status changes indexed by serial, so that audit verification
	 * finds the record of every certificate row in one indexed read.
	 * Only those records are indexed (partial indexes). */
	"ALTER TABLE checkpoints ADD COLUMN tst BLOB;"
	"CREATE INDEX audit_cert_issue ON audit(object)"
	"  WHERE op = 'cert.issue' AND outcome = 'success';"
	"CREATE INDEX audit_cert_status ON audit(object, seq)"
	"  WHERE op IN ('cert.revoke', 'cert.hold', 'cert.release')"
	"  AND outcome = 'success';",

	/* 7: the status history of every certificate (each hold, release
	 * and revocation), append-only like the audit log, so that the
	 * status at any past time can be judged (RFC 5280 5.3.2: a
	 * signature's time against holds, revocation and invalidity date).
	 * Certificates held or revoked before it get their state at the
	 * upgrade as their first event; earlier released holds are known
	 * only from the audit log. */
	"CREATE TABLE cert_status_history ("
	"  id INTEGER PRIMARY KEY,"
	"  serial TEXT NOT NULL REFERENCES certificates(serial),"
	"  change TEXT NOT NULL"
	"    CHECK (change IN ('hold', 'release', 'revoke')),"
	"  time INTEGER NOT NULL CHECK (time > 0),"
	"  reason INTEGER NOT NULL DEFAULT -1,"
	"  invalidity_date INTEGER NOT NULL DEFAULT 0,"
	"  actor TEXT,"
	"  created_ms INTEGER NOT NULL);"
	"CREATE INDEX cert_status_history_serial"
	"  ON cert_status_history(serial, id);"
	"CREATE TRIGGER cert_status_history_no_update BEFORE UPDATE"
	"  ON cert_status_history BEGIN SELECT RAISE(ABORT,"
	"  'the certificate status history is append-only'); END;"
	"CREATE TRIGGER cert_status_history_no_delete BEFORE DELETE"
	"  ON cert_status_history BEGIN SELECT RAISE(ABORT,"
	"  'the certificate status history is append-only'); END;"
	"INSERT INTO cert_status_history (serial, change, time, reason,"
	"  invalidity_date, actor, created_ms)"
	"  SELECT serial, CASE status WHEN 'hold' THEN 'hold'"
	"    ELSE 'revoke' END, MAX(revoked_at, 1), reason, invalidity_date,"
	"    'schema upgrade (state at the upgrade)',"
	"    CAST(strftime('%s', 'now') AS INTEGER) * 1000"
	"  FROM certificates WHERE status IN ('hold', 'revoked')"
	"  ORDER BY status_gen, serial;",

	/* 8: the audit key records indexed, so that the server finds the
	 * audit key in effect at start (audit_key_in_effect) without reading
	 * the whole log. Only those records are indexed. */
	"CREATE INDEX audit_key_records ON audit(seq)"
	"  WHERE op = 'audit.key';",

	/* 9: sealed-bid tendering (tender/): tenders, their events (the
	 * opening's request and approval ...), the bids as received, what
	 * happened to each bid (superseded, withdrawn, key released, its
	 * outcome at the opening) and the versions of the opening record.
	 * All append-only: a later state is a new row, never an update of
	 * an earlier one. A bid's SHA-256 is unique in its tender (a replay
	 * of an earlier bid is refused). */
	"CREATE TABLE tenders ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  title TEXT NOT NULL,"
	"  mode TEXT NOT NULL CHECK (mode IN ('platform', 'bidder')),"
	"  deadline_ms INTEGER NOT NULL,"
	"  opening_ms INTEGER NOT NULL CHECK (opening_ms >= deadline_ms),"
	"  window_s INTEGER NOT NULL DEFAULT 0,"
	"  spec TEXT NOT NULL,"
	"  opening_serial TEXT REFERENCES certificates(serial),"
	"  opening_key TEXT,"
	"  created_ms INTEGER NOT NULL,"
	"  created_by TEXT NOT NULL,"
	"  creator TEXT NOT NULL);"
	"CREATE INDEX tenders_created ON tenders(created_ms, id);"
	"CREATE TABLE tender_events ("
	"  id INTEGER PRIMARY KEY,"
	"  tender_id TEXT NOT NULL REFERENCES tenders(id),"
	"  event TEXT NOT NULL CHECK (event IN ('open_request',"
	"    'open_approve', 'opened', 'window_open', 'window_close')),"
	"  time_ms INTEGER NOT NULL,"
	"  actor TEXT, person TEXT, person_idn TEXT, details TEXT,"
	"  created_ms INTEGER NOT NULL,"
	"  UNIQUE (tender_id, event));"
	"CREATE TABLE bids ("
	"  seq INTEGER PRIMARY KEY,"
	"  id TEXT UNIQUE NOT NULL,"
	"  tender_id TEXT NOT NULL REFERENCES tenders(id),"
	"  uscc TEXT NOT NULL,"
	"  bidder TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  signer_serial TEXT NOT NULL,"
	"  sha256 TEXT NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  arrival_ms INTEGER NOT NULL,"
	"  signing_time INTEGER NOT NULL,"
	"  path TEXT NOT NULL,"
	"  recipients TEXT,"
	"  tst BLOB NOT NULL,"
	"  receipt BLOB NOT NULL,"
	"  created_ms INTEGER NOT NULL,"
	"  UNIQUE (tender_id, sha256));"
	"CREATE INDEX bids_tender_uscc ON bids(tender_id, uscc, seq);"
	"CREATE TABLE bid_events ("
	"  id INTEGER PRIMARY KEY,"
	"  bid_id TEXT NOT NULL REFERENCES bids(id),"
	"  tender_id TEXT NOT NULL REFERENCES tenders(id),"
	"  event TEXT NOT NULL CHECK (event IN ('superseded', 'withdrawn',"
	"    'released', 'outcome')),"
	"  time_ms INTEGER NOT NULL,"
	"  by_bid TEXT,"
	"  outcome TEXT CHECK (outcome IS NULL OR outcome IN ('opened',"
	"    'revoked', 'withdrawn')),"
	"  reason TEXT, details TEXT, data BLOB,"
	"  created_ms INTEGER NOT NULL,"
	"  UNIQUE (bid_id, event));"
	"CREATE INDEX bid_events_tender ON bid_events(tender_id, id);"
	"CREATE TABLE tender_records ("
	"  id INTEGER PRIMARY KEY,"
	"  tender_id TEXT NOT NULL REFERENCES tenders(id),"
	"  version INTEGER NOT NULL CHECK (version >= 1),"
	"  der BLOB NOT NULL,"
	"  signer TEXT, uscc TEXT,"
	"  created_ms INTEGER NOT NULL,"
	"  UNIQUE (tender_id, version));"
	"CREATE TRIGGER tenders_no_update BEFORE UPDATE ON tenders BEGIN"
	"  SELECT RAISE(ABORT, 'tenders are append-only'); END;"
	"CREATE TRIGGER tenders_no_delete BEFORE DELETE ON tenders BEGIN"
	"  SELECT RAISE(ABORT, 'tenders are append-only'); END;"
	"CREATE TRIGGER tender_events_no_update BEFORE UPDATE ON tender_events"
	"  BEGIN SELECT RAISE(ABORT, 'tender events are append-only'); END;"
	"CREATE TRIGGER tender_events_no_delete BEFORE DELETE ON tender_events"
	"  BEGIN SELECT RAISE(ABORT, 'tender events are append-only'); END;"
	"CREATE TRIGGER bids_no_update BEFORE UPDATE ON bids BEGIN"
	"  SELECT RAISE(ABORT, 'bids are append-only'); END;"
	"CREATE TRIGGER bids_no_delete BEFORE DELETE ON bids BEGIN"
	"  SELECT RAISE(ABORT, 'bids are append-only'); END;"
	"CREATE TRIGGER bid_events_no_update BEFORE UPDATE ON bid_events BEGIN"
	"  SELECT RAISE(ABORT, 'bid events are append-only'); END;"
	"CREATE TRIGGER bid_events_no_delete BEFORE DELETE ON bid_events BEGIN"
	"  SELECT RAISE(ABORT, 'bid events are append-only'); END;"
	"CREATE TRIGGER tender_records_no_update BEFORE UPDATE ON tender_records"
	"  BEGIN SELECT RAISE(ABORT, 'opening records are append-only'); END;"
	"CREATE TRIGGER tender_records_no_delete BEFORE DELETE ON tender_records"
	"  BEGIN SELECT RAISE(ABORT, 'opening records are append-only'); END;",

	/* 10: USB keys for life (kmc/): a signing certificate and its
	 * encryption twin, issued together; the key management centre's
	 * escrowed encryption keys, wrapped under its storage key on the
	 * token and append-only like the audit log; one-time enrolment
	 * codes (their SHA-256 only); judicial recoveries under dual
	 * control. */
	"CREATE TABLE cert_pairs ("
	"  signing TEXT PRIMARY KEY NOT NULL REFERENCES certificates(serial),"
	"  encryption TEXT NOT NULL UNIQUE REFERENCES certificates(serial),"
	"  profile TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  holder TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL);"
	"CREATE INDEX cert_pairs_holder ON cert_pairs(holder);"
	"CREATE TABLE kmc_keys ("
	"  id INTEGER PRIMARY KEY,"
	"  holder TEXT NOT NULL,"
	"  serial TEXT NOT NULL UNIQUE REFERENCES certificates(serial),"
	"  algo TEXT NOT NULL,"
	"  spki_sha256 TEXT NOT NULL,"
	"  wrap_key TEXT NOT NULL,"
	"  wrapped BLOB NOT NULL,"
	"  created_ms INTEGER NOT NULL);"
	"CREATE INDEX kmc_keys_holder ON kmc_keys(holder, id);"
	"CREATE TRIGGER kmc_keys_no_update BEFORE UPDATE ON kmc_keys"
	"  BEGIN SELECT RAISE(ABORT, 'escrowed keys are append-only'); END;"
	"CREATE TRIGGER kmc_keys_no_delete BEFORE DELETE ON kmc_keys"
	"  BEGIN SELECT RAISE(ABORT, 'escrowed keys are append-only'); END;"
	"CREATE TABLE enrolments ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  code_sha256 BLOB NOT NULL UNIQUE,"
	"  profile TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  holder TEXT NOT NULL,"
	"  created_by TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL,"
	"  expires_ms INTEGER NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('open', 'used')),"
	"  used_ms INTEGER NOT NULL DEFAULT 0,"
	"  serial TEXT);"
	"CREATE TABLE kmc_recoveries ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  holder TEXT NOT NULL,"
	"  agent_der BLOB NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  requester TEXT NOT NULL,"
	"  requester_idn TEXT,"
	"  requester_actor TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL,"
	"  status TEXT NOT NULL"
	"    CHECK (status IN ('pending', 'approved', 'refused')),"
	"  approver TEXT,"
	"  approver_actor TEXT,"
	"  decided_ms INTEGER NOT NULL DEFAULT 0);",

	/* 11: several nodes on one store: leases (one holder at a time of
	 * a duty such as the CRL schedule, until it expires unless
	 * renewed) and the CRLs as published, in parts, so that every node
	 * serves the one its holder made. Neither is a record: the audit
	 * log records the CRLs and the changes of holder. */
	"CREATE TABLE leases ("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  holder TEXT NOT NULL,"
	"  expires_ms INTEGER NOT NULL,"
	"  taken_ms INTEGER NOT NULL);"
	"CREATE TABLE published ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  number INTEGER NOT NULL,"
	"  part INTEGER NOT NULL,"
	"  data BLOB NOT NULL,"
	"  UNIQUE (name, number, part));",
};

_Static_assert(sizeof(store_migrations) / sizeof(store_migrations[0]) ==
    STORE_SCHEMA_STEPS, "a schema step is appended to both backends' lists "
    "(store_sqlite.c, store_pg.c) and to STORE_SCHEMA_STEPS");

#define STORE_SCHEMA_VERSION STORE_SCHEMA_STEPS

/* A prepared statement. */
struct lite_stmt {
	struct store_stmt base;
	sqlite3_stmt *s;
	int bind_rc;         /* the first failed bind, reported by step */
	int64_t changes;     /* of the last step that finished */
};

#define LITE_DB(st) ((sqlite3 *)(st)->conn)
#define LITE(s) ((struct lite_stmt *)(s))

/* Maps SQLite result |rc| to a GP_ERR_* code with the detail
 * "<file>: <what>: <sqlite message>". */
static int
lite_err(store *st, int rc, const char *what)
{
	const char *msg = st->conn != NULL ? sqlite3_errmsg(LITE_DB(st)) :
	    sqlite3_errstr(rc);

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return gp_err_set(GP_ERR_BUSY, "%s: %s: %s (another process "
		    "holds the database)", st->path, what, msg);
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_PRIMARYKEY ||
		    rc == SQLITE_CONSTRAINT_UNIQUE)
			return gp_err_set(GP_ERR_EXISTS, "%s: %s: %s",
			    st->path, what, msg);
		return gp_err_set(GP_ERR_STORE, "%s: %s: %s", st->path, what,
		    msg);
	case SQLITE_NOMEM:
		return gp_err_set(GP_ERR_NOMEM, "%s: %s: %s", st->path, what,
		    msg);
	default:
		return gp_err_set(GP_ERR_STORE, "%s: %s: %s", st->path, what,
		    msg);
	}
}

static int
lite_exec(store *st, const char *sql, const char *what)
{
	int rc = sqlite3_exec(LITE_DB(st), sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return lite_err(st, rc, what);
	return 0;
}

static int
lite_user_version(store *st, int *out)
{
	int r = GP_ERR_INTERNAL, rc;
	sqlite3_stmt *s = NULL;

	rc = sqlite3_prepare_v2(LITE_DB(st), "PRAGMA user_version", -1, &s,
	    NULL);
	if (rc != SQLITE_OK) {
		r = lite_err(st, rc, "schema version");
		goto out;
	}
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		r = lite_err(st, rc, "schema version");
		goto out;
	}
	*out = sqlite3_column_int(s, 0);
	r = 0;
out:
	sqlite3_finalize(s);
	return r;
}

/* Applies every pending migration in one transaction; refuses a database
 * from a newer govpki. */
static int
lite_migrate(store *st, int create)
{
	int r = GP_ERR_INTERNAL, v = 0, i, in_tx = 0;
	char sql[64];

	GUARD(lite_user_version(st, &v));
	if (v == STORE_SCHEMA_VERSION) {
		st->version = v;
		r = 0;
		goto out;
	}
	GUARD(lite_exec(st, "BEGIN IMMEDIATE", "migration"));
	in_tx = 1;
	/* Another process may have migrated meanwhile: read it again. */
	GUARD(lite_user_version(st, &v));
	if (v > STORE_SCHEMA_VERSION || v < 0) {
		r = gp_err_set(GP_ERR_UNSUPPORTED, "%s: schema version %d is "
		    "newer than this govpki knows (%d); run a newer govpki",
		    st->path, v, STORE_SCHEMA_VERSION);
		goto out;
	}
	for (i = v; i < STORE_SCHEMA_VERSION; i++) {
		snprintf(sql, sizeof(sql), "schema migration %d", i + 1);
		GUARD(lite_exec(st, store_migrations[i], sql));
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
	    STORE_SCHEMA_VERSION);
	GUARD(lite_exec(st, sql, "schema version"));
	GUARD(lite_exec(st, "COMMIT", "migration commit"));
	in_tx = 0;
	st->version = STORE_SCHEMA_VERSION;
	r = 0;
out:
	if (in_tx)
		sqlite3_exec(LITE_DB(st), "ROLLBACK", NULL, NULL, NULL);
	return r;
}

static int
lite_pragmas(store *st)
{
	int r = GP_ERR_INTERNAL, rc;
	sqlite3_stmt *s = NULL;
	const unsigned char *mode;

	rc = sqlite3_prepare_v2(LITE_DB(st), "PRAGMA journal_mode = WAL", -1,
	    &s, NULL);
	if (rc != SQLITE_OK || (rc = sqlite3_step(s)) != SQLITE_ROW) {
		r = lite_err(st, rc, "journal_mode=WAL");
		goto out;
	}
	mode = sqlite3_column_text(s, 0);
	if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
		r = gp_err_set(GP_ERR_STORE, "%s: cannot switch to WAL "
		    "journal mode (got %s)", st->path,
		    mode ? (const char *)mode : "nothing");
		goto out;
	}
	GUARD(lite_exec(st, "PRAGMA synchronous = FULL", "synchronous"));
	GUARD(lite_exec(st, "PRAGMA foreign_keys = ON", "foreign_keys"));
	r = 0;
out:
	sqlite3_finalize(s);
	return r;
}

/* The writer makes the file when it is missing and |o->create|: here, so
 * that it, and the -wal and -shm files SQLite derives from it, are
 * private to the owner. */
static int
lite_create(const char *path, int create)
{
	struct stat sb;
	int fd;

	if (stat(path, &sb) == 0)
		return 0;
	if (errno != ENOENT)
		return gp_err_set(GP_ERR_STORE, "%s: %s", path,
		    strerror(errno));
	if (!create)
		return gp_err_set(GP_ERR_NOT_FOUND, "%s: no database (is this "
		    "an instance directory?)", path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EEXIST)
		return gp_err_set(GP_ERR_STORE, "%s: cannot create: %s", path,
		    strerror(errno));
	if (fd >= 0)
		close(fd);
	return 0;
}

static int
lite_connect(store *st, const struct store_open_opts *o, int reader)
{
	int r = GP_ERR_INTERNAL, rc;
	sqlite3 *db = NULL;

	if (!reader || st->readonly)
		GUARD(lite_create(st->path, o->create && !st->readonly));
	/* Read-only: SQLite then never writes the file (no checkpoint of
	 * the WAL into it on close), so it stays byte for byte. */
	rc = sqlite3_open_v2(st->path, &db, (st->readonly ?
	    SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
	    SQLITE_OPEN_FULLMUTEX, NULL);
	st->conn = db;
	if (rc != SQLITE_OK) {
		r = lite_err(st, rc, "open");
		goto out;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
	if (reader || st->readonly)
		GUARD(lite_exec(st, "PRAGMA query_only = ON", "query_only"));
	else
		GUARD(lite_pragmas(st));
	r = 0;
out:
	return r;
}

static void
lite_close(store *st)
{
	sqlite3_close(LITE_DB(st));
	st->conn = NULL;
}

static int
lite_begin(store *st)
{
	/* Read-only: a deferred transaction, a snapshot from its first
	 * read on, taking no write lock. */
	return lite_exec(st, st->readonly ? "BEGIN" : "BEGIN IMMEDIATE",
	    "begin");
}

static int
lite_end(store *st, int commit)
{
	int r = lite_exec(st, commit ? "COMMIT" : "ROLLBACK",
	    commit ? "COMMIT" : "ROLLBACK");

	/* A failed COMMIT (busy, disk full) may leave it open. */
	if (!sqlite3_get_autocommit(LITE_DB(st)))
		sqlite3_exec(LITE_DB(st), "ROLLBACK", NULL, NULL, NULL);
	return r;
}

static int
lite_prepare(store *st, const char *sql, int cached, store_stmt **out)
{
	struct lite_stmt *ls;
	int rc;

	*out = NULL;
	if ((ls = calloc(1, sizeof(*ls))) == NULL)
		return gp_err_set(GP_ERR_NOMEM, "%s: prepare", st->path);
	ls->base.st = st;
	rc = sqlite3_prepare_v3(LITE_DB(st), sql, -1, cached ?
	    SQLITE_PREPARE_PERSISTENT : 0, &ls->s, NULL);
	if (rc != SQLITE_OK) {
		free(ls);
		return lite_err(st, rc, "prepare");
	}
	*out = &ls->base;
	return 0;
}

static void
lite_finalize(store_stmt *s)
{
	sqlite3_finalize(LITE(s)->s);
	free(s);
}

static void
lite_reset(store_stmt *s)
{
	sqlite3_reset(LITE(s)->s);
	sqlite3_clear_bindings(LITE(s)->s);
	LITE(s)->bind_rc = SQLITE_OK;
}

static void
lite_bound(store_stmt *s, int rc)
{
	if (rc != SQLITE_OK && LITE(s)->bind_rc == SQLITE_OK)
		LITE(s)->bind_rc = rc;
}

static void
lite_bind_text(store_stmt *s, int idx, const char *t)
{
	lite_bound(s, t == NULL ? sqlite3_bind_null(LITE(s)->s, idx) :
	    sqlite3_bind_text(LITE(s)->s, idx, t, -1, SQLITE_STATIC));
}

static void
lite_bind_int64(store_stmt *s, int idx, int64_t v)
{
	lite_bound(s, sqlite3_bind_int64(LITE(s)->s, idx, v));
}

static void
lite_bind_blob(store_stmt *s, int idx, const void *b, size_t len)
{
	lite_bound(s, len > INT32_MAX ? SQLITE_TOOBIG :
	    sqlite3_bind_blob(LITE(s)->s, idx, b, (int)len, SQLITE_STATIC));
}

static void
lite_bind_null(store_stmt *s, int idx)
{
	lite_bound(s, sqlite3_bind_null(LITE(s)->s, idx));
}

static int
lite_step(store_stmt *s, const char *what, int *out_row)
{
	struct lite_stmt *ls = LITE(s);
	int rc;

	*out_row = 0;
	if (ls->bind_rc != SQLITE_OK)
		return lite_err(s->st, ls->bind_rc, what);
	rc = sqlite3_step(ls->s);
	if (rc == SQLITE_ROW) {
		*out_row = 1;
		return 0;
	}
	if (rc != SQLITE_DONE)
		return lite_err(s->st, rc, what);
	ls->changes = sqlite3_changes(LITE_DB(s->st));
	return 0;
}

static int
lite_col_null(store_stmt *s, int col)
{
	return sqlite3_column_type(LITE(s)->s, col) == SQLITE_NULL;
}

static int64_t
lite_col_int64(store_stmt *s, int col)
{
	return sqlite3_column_int64(LITE(s)->s, col);
}

static const char *
lite_col_str(store_stmt *s, int col, size_t *out_len)
{
	const unsigned char *t = sqlite3_column_text(LITE(s)->s, col);

	*out_len = (size_t)sqlite3_column_bytes(LITE(s)->s, col);
	return (const char *)t;
}

static const void *
lite_col_blob(store_stmt *s, int col, size_t *out_len)
{
	const void *b = sqlite3_column_blob(LITE(s)->s, col);

	*out_len = (size_t)sqlite3_column_bytes(LITE(s)->s, col);
	return b;
}

static int64_t
lite_changes(store_stmt *s)
{
	return LITE(s)->changes;
}

const struct store_backend store_sqlite_backend = {
	"SQLite",
	lite_connect,
	lite_close,
	lite_migrate,
	lite_begin,
	lite_end,
	lite_prepare,
	lite_finalize,
	lite_reset,
	lite_bind_text,
	lite_bind_int64,
	lite_bind_blob,
	lite_bind_null,
	lite_step,
	lite_col_null,
	lite_col_int64,
	lite_col_str,
	lite_col_blob,
	lite_changes,
	lite_user_version,
	"SELECT name FROM sqlite_master WHERE type = 'table' AND "
	"name NOT LIKE 'sqlite_%' ORDER BY name",
	"SELECT name FROM pragma_table_info(?1) ORDER BY cid",
	NULL,
};
