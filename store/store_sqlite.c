/*
 * store_sqlite.c: the SQLite connection behind store.h: opening, pragmas,
 * versioned schema migrations, transactions, the statement cache, the meta
 * table and the helpers the other store files share (store/internal.h).
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

#include "store/internal.h"

/* How long a writer waits for another process's transaction. */
#define STORE_BUSY_TIMEOUT_MS 10000

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
};

#define STORE_SCHEMA_VERSION \
	((int)(sizeof(store_migrations) / sizeof(store_migrations[0])))

void
store_lock(store *st)
{
	pthread_mutex_lock(&st->mu);
}

void
store_unlock(store *st)
{
	pthread_mutex_unlock(&st->mu);
}

int
store_err(store *st, int rc, const char *what)
{
	const char *msg = st->db != NULL ? sqlite3_errmsg(st->db) :
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

int
store_stmt(store *st, enum store_stmt_id id, const char *sql,
    sqlite3_stmt **out)
{
	int rc;

	if (st->stmt[id] == NULL) {
		rc = sqlite3_prepare_v3(st->db, sql, -1,
		    SQLITE_PREPARE_PERSISTENT, &st->stmt[id], NULL);
		if (rc != SQLITE_OK) {
			st->stmt[id] = NULL;
			return store_err(st, rc, "prepare");
		}
	}
	*out = st->stmt[id];
	return 0;
}

void
store_stmt_done(sqlite3_stmt *s)
{
	if (s == NULL)
		return;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

int
store_bind_text(sqlite3_stmt *stmt, int idx, const char *s)
{
	if (s == NULL)
		return sqlite3_bind_null(stmt, idx);
	return sqlite3_bind_text(stmt, idx, s, -1, SQLITE_STATIC);
}

int
store_rows_read(store *st, sqlite3_stmt *s, void *rows, size_t row_size,
    size_t limit, int (*read)(sqlite3_stmt *s, void *row), size_t *out_n,
    const char *what)
{
	size_t n = 0;
	int r, rc = SQLITE_DONE;

	while (n < limit && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		GUARD(read(s, (char *)rows + n * row_size));
		n++;
	}
	if (n < limit && rc != SQLITE_DONE) {
		r = store_err(st, rc, what);
		goto out;
	}
	r = 0;
out:
	*out_n = n;
	return r;
}

int
store_col_text(sqlite3_stmt *stmt, int col, char **out)
{
	const unsigned char *t = sqlite3_column_text(stmt, col);
	int n = sqlite3_column_bytes(stmt, col);

	*out = NULL;
	if (t == NULL) {
		if (sqlite3_column_type(stmt, col) != SQLITE_NULL)
			return gp_err_set(GP_ERR_NOMEM, "store: column text");
		return 0;
	}
	if ((*out = malloc((size_t)n + 1)) == NULL)
		return gp_err_set(GP_ERR_NOMEM, "store: column text");
	memcpy(*out, t, (size_t)n);
	(*out)[n] = '\0';
	return 0;
}

int
store_col_hash(sqlite3_stmt *stmt, int col, uint8_t out[32],
    const char *what, int64_t key)
{
	const void *b = sqlite3_column_blob(stmt, col);
	int n = sqlite3_column_bytes(stmt, col);

	if (b == NULL || n != 32) {
		memset(out, 0, 32);
		return gp_err_set(GP_ERR_TAMPERED, "%s %lld: stored hash has "
		    "%d bytes, not 32", what, (long long)key, n);
	}
	memcpy(out, b, 32);
	return 0;
}

/* Is the calling thread inside its transaction? With st->mu held. */
static int
store_in_own_tx(store *st)
{
	return st->in_tx && pthread_equal(st->tx_owner, pthread_self());
}

static int
store_exec(store *st, const char *sql, const char *what)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return store_err(st, rc, what);
	return 0;
}

static int
store_user_version(store *st, int *out)
{
	int r = GP_ERR_INTERNAL, rc;
	sqlite3_stmt *s = NULL;

	rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL);
	if (rc != SQLITE_OK) {
		r = store_err(st, rc, "schema version");
		goto out;
	}
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		r = store_err(st, rc, "schema version");
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
store_migrate(store *st)
{
	int r = GP_ERR_INTERNAL, v = 0, i, in_tx = 0;
	char sql[64];

	GUARD(store_user_version(st, &v));
	if (v == STORE_SCHEMA_VERSION) {
		st->version = v;
		r = 0;
		goto out;
	}
	GUARD(store_exec(st, "BEGIN IMMEDIATE", "migration"));
	in_tx = 1;
	/* Another process may have migrated meanwhile: read it again. */
	GUARD(store_user_version(st, &v));
	if (v > STORE_SCHEMA_VERSION || v < 0) {
		r = gp_err_set(GP_ERR_UNSUPPORTED, "%s: schema version %d is "
		    "newer than this govpki knows (%d); run a newer govpki",
		    st->path, v, STORE_SCHEMA_VERSION);
		goto out;
	}
	for (i = v; i < STORE_SCHEMA_VERSION; i++) {
		snprintf(sql, sizeof(sql), "schema migration %d", i + 1);
		GUARD(store_exec(st, store_migrations[i], sql));
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
	    STORE_SCHEMA_VERSION);
	GUARD(store_exec(st, sql, "schema version"));
	GUARD(store_exec(st, "COMMIT", "migration commit"));
	in_tx = 0;
	st->version = STORE_SCHEMA_VERSION;
	r = 0;
out:
	if (in_tx)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

static int
store_pragmas(store *st)
{
	int r = GP_ERR_INTERNAL, rc;
	sqlite3_stmt *s = NULL;
	const unsigned char *mode;

	rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s,
	    NULL);
	if (rc != SQLITE_OK || (rc = sqlite3_step(s)) != SQLITE_ROW) {
		r = store_err(st, rc, "journal_mode=WAL");
		goto out;
	}
	mode = sqlite3_column_text(s, 0);
	if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
		r = gp_err_set(GP_ERR_STORE, "%s: cannot switch to WAL "
		    "journal mode (got %s)", st->path,
		    mode ? (const char *)mode : "nothing");
		goto out;
	}
	GUARD(store_exec(st, "PRAGMA synchronous = FULL", "synchronous"));
	GUARD(store_exec(st, "PRAGMA foreign_keys = ON", "foreign_keys"));
	r = 0;
out:
	sqlite3_finalize(s);
	return r;
}

/* One connection to |path|: the writer (pragmas, migrations) or, with
 * |reader|, a query-only one opened after it. */
static int
store_connect(const char *path, int reader, store **out)
{
	int r = GP_ERR_INTERNAL, rc;
	store *st = NULL;
	pthread_mutexattr_t ma;

	*out = NULL;
	ENSURE((st = calloc(1, sizeof(*st))) != NULL, GP_ERR_NOMEM);
	ENSURE((st->path = strdup(path)) != NULL, GP_ERR_NOMEM);
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	rc = pthread_mutex_init(&st->mu, &ma);
	pthread_mutexattr_destroy(&ma);
	if (rc != 0) {
		free(st->path);
		free(st);
		st = NULL;
		r = gp_err_set(GP_ERR_INTERNAL, "store: mutex: %s",
		    strerror(rc));
		goto out;
	}

	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc != SQLITE_OK) {
		r = store_err(st, rc, "open");
		goto out;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	if (reader) {
		GUARD(store_exec(st, "PRAGMA query_only = ON", "query_only"));
	} else {
		GUARD(store_pragmas(st));
		GUARD(store_migrate(st));
	}
	*out = st;
	st = NULL; /* transferred */
	r = 0;
out:
	store_free(st);
	return r;
}

int
store_open(const char *path, int create, store **out)
{
	int r = GP_ERR_INTERNAL, fd;
	store *st = NULL;
	struct stat sb;

	*out = NULL;
	ENSURE(path != NULL && *path != '\0', GP_ERR_INVALID);
	if (stat(path, &sb) != 0) {
		if (errno != ENOENT) {
			r = gp_err_set(GP_ERR_STORE, "%s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (!create) {
			r = gp_err_set(GP_ERR_NOT_FOUND, "%s: no database "
			    "(is this an instance directory?)", path);
			goto out;
		}
		/* Created here so that it, and the -wal and -shm files
		 * SQLite derives from it, are private to the owner. */
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST) {
			r = gp_err_set(GP_ERR_STORE, "%s: cannot create: %s",
			    path, strerror(errno));
			goto out;
		}
		if (fd >= 0)
			close(fd);
	}

	GUARD(store_connect(path, 0, &st));
	GUARD(store_connect(path, 1, &st->reader));
	st->reader->version = st->version;

	*out = st;
	st = NULL; /* transferred */
	r = 0;
out:
	store_free(st);
	return r;
}

void
store_free(store *st)
{
	int i;

	if (st == NULL)
		return;
	store_free(st->reader);
	for (i = 0; i < STORE_STMT_COUNT_; i++)
		sqlite3_finalize(st->stmt[i]);
	/* Closing rolls back a transaction left open by mistake. */
	sqlite3_close(st->db);
	pthread_mutex_destroy(&st->mu);
	free(st->path);
	free(st);
}

int
store_schema_version(store *st)
{
	return st->version;
}

int
store_begin(store *st)
{
	int r = GP_ERR_INTERNAL;

	store_lock(st);
	if (st->in_tx) {
		/* We hold the mutex, so the transaction is ours. */
		r = gp_err_set(GP_ERR_INTERNAL, "%s: store_begin() inside a "
		    "transaction", st->path);
		goto out;
	}
	GUARD(store_exec(st, "BEGIN IMMEDIATE", "begin"));
	st->in_tx = 1;
	st->tx_owner = pthread_self();
	r = 0;
out:
	if (r != 0)
		store_unlock(st);
	return r;
}

/* Ends this thread's transaction with |sql|; releases both the lock taken
 * here and the one store_begin() took. */
static int
store_end(store *st, const char *sql)
{
	int r = GP_ERR_INTERNAL, owned;

	store_lock(st);
	owned = store_in_own_tx(st);
	if (!owned) {
		r = gp_err_set(GP_ERR_INTERNAL, "%s: %s outside a "
		    "transaction", st->path, sql);
		goto out;
	}
	r = store_exec(st, sql, sql);
	/* A failed COMMIT (busy, disk full) may leave it open. */
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	st->in_tx = 0;
out:
	if (owned)
		store_unlock(st);
	store_unlock(st);
	return r;
}

int
store_commit(store *st)
{
	return store_end(st, "COMMIT");
}

void
store_rollback(store *st)
{
	int owned;

	/* A no-op outside a transaction (after a failed begin or commit). */
	store_lock(st);
	owned = store_in_own_tx(st);
	store_unlock(st);
	if (owned)
		(void)store_end(st, "ROLLBACK");
}

int
store_in_tx(store *st)
{
	int in;

	/* Without waiting: if another thread holds the mutex, this one is
	 * not in a transaction (the mutex is recursive, so the holder's own
	 * trylock succeeds). */
	if (pthread_mutex_trylock(&st->mu) != 0)
		return 0;
	in = store_in_own_tx(st);
	store_unlock(st);
	return in;
}

store *
store_read_conn(store *st)
{
	if (st->reader != NULL && !store_in_tx(st))
		return st->reader;
	return st;
}

int
store_check_tx(store *st, const char *what)
{
	int r = 0;

	store_lock(st);
	if (!store_in_own_tx(st))
		r = gp_err_set(GP_ERR_INTERNAL, "%s: %s must run in a "
		    "transaction", st->path, what);
	store_unlock(st);
	return r;
}

int
store_ping(store *st)
{
	int r = GP_ERR_INTERNAL, rc;
	sqlite3_stmt *s = NULL;

	store_lock(st);
	GUARD(store_stmt(st, STORE_STMT_PING, "SELECT 1", &s));
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		r = store_err(st, rc, "ping");
		goto out;
	}
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_meta_get(store *st, const char *key, char **out_value)
{
	int r = GP_ERR_INTERNAL, rc;
	sqlite3_stmt *s = NULL;

	*out_value = NULL;
	store_lock(st);
	GUARD(store_stmt(st, STORE_STMT_META_GET,
	    "SELECT value FROM meta WHERE key = ?1", &s));
	if ((rc = store_bind_text(s, 1, key)) != SQLITE_OK) {
		r = store_err(st, rc, "meta get");
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		r = gp_err_set(GP_ERR_NOT_FOUND, "%s: no meta value %s",
		    st->path, key);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = store_err(st, rc, "meta get");
		goto out;
	}
	GUARD(store_col_text(s, 0, out_value));
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_meta_set(store *st, const char *key, const char *value)
{
	int r = GP_ERR_INTERNAL, rc;
	sqlite3_stmt *s = NULL;

	store_lock(st);
	ENSURE(key != NULL && value != NULL, GP_ERR_INVALID);
	GUARD(store_check_tx(st, "store_meta_set"));
	GUARD(store_stmt(st, STORE_STMT_META_SET,
	    "INSERT INTO meta(key, value) VALUES (?1, ?2) "
	    "ON CONFLICT(key) DO UPDATE SET value = excluded.value", &s));
	if ((rc = store_bind_text(s, 1, key)) != SQLITE_OK ||
	    (rc = store_bind_text(s, 2, value)) != SQLITE_OK ||
	    (rc = sqlite3_step(s)) != SQLITE_DONE) {
		r = store_err(st, rc, "meta set");
		goto out;
	}
	r = 0;
out:
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

/* Reads up to |want| rows after |after| into |rows|; *out_n says how many
 * were read even when it fails part way (a malformed row). */
static int
store_page_read(store *st, const struct store_pager *p, const char *text,
    int64_t after, int64_t want, uint8_t *rows, size_t *out_n)
{
	int r = GP_ERR_INTERNAL, rc = SQLITE_DONE;
	sqlite3_stmt *s = NULL;
	size_t n = 0;

	*out_n = 0;
	store_lock(st);
	GUARD(store_stmt(st, p->stmt, p->sql, &s));
	if ((rc = sqlite3_bind_int64(s, 1, after)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, want)) != SQLITE_OK ||
	    (text != NULL && (rc = store_bind_text(s, 3, text)) !=
	    SQLITE_OK)) {
		r = store_err(st, rc, p->what);
		goto out;
	}
	while ((int64_t)n < want && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		r = p->read(s, rows + n * p->row_size);
		if (r != 0) {
			p->clear(rows + n * p->row_size);
			goto out;
		}
		n++;
	}
	if ((int64_t)n < want && rc != SQLITE_DONE) {
		r = store_err(st, rc, p->what);
		goto out;
	}
	r = 0;
out:
	*out_n = n;
	store_stmt_done(s);
	store_unlock(st);
	return r;
}

int
store_scan_pages(store *st, const struct store_pager *p, int64_t after,
    int64_t limit)
{
	return store_scan_pages_text(st, p, NULL, after, limit);
}

int
store_scan_pages_text(store *st, const struct store_pager *p,
    const char *text, int64_t after, int64_t limit)
{
	int r = GP_ERR_INTERNAL, page_r = 0;
	uint8_t *rows = NULL;
	size_t n = 0, i;
	int64_t done = 0, want;

	ENSURE(p->fn != NULL && limit >= 0, GP_ERR_INVALID);
	ENSURE((rows = calloc(STORE_PAGE_ROWS, p->row_size)) != NULL,
	    GP_ERR_NOMEM);
	for (;;) {
		want = STORE_PAGE_ROWS;
		if (limit > 0 && limit - done < want)
			want = limit - done;
		if (want <= 0)
			break;
		page_r = store_page_read(st, p, text, after, want, rows, &n);
		for (i = 0; i < n; i++) {
			if ((r = p->fn(p->arg, rows + i * p->row_size)) != 0)
				goto out;
		}
		GUARD(page_r);
		if (n == 0)
			break;
		after = p->key(rows + (n - 1) * p->row_size);
		done += (int64_t)n;
		for (i = 0; i < n; i++)
			p->clear(rows + i * p->row_size);
		if ((int64_t)n < want)
			break;
	}
	r = 0;
out:
	if (rows != NULL) {
		for (i = 0; i < STORE_PAGE_ROWS; i++)
			p->clear(rows + i * p->row_size);
	}
	free(rows);
	return r;
}
