/*
 * inst_migrate.c: `govpki store migrate` (instance.h,
 * instance_store_migrate): an instance's SQLite store copied to
 * PostgreSQL with store_copy(), checked before and after as `govpki
 * audit verify` checks it, recorded in the target's chain, and the
 * instance's configuration pointed at the database. The SQLite file is
 * only ever opened read-only, so it stays as it was, and going back is
 * putting the kept configuration back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "instance/instance.h"

/* What the migration holds while it runs; freed by mig_free(). */
struct mig {
	const struct instance_migrate_opts *o;
	struct instance_migrate_report *rep;
	struct gp_config *cfg;
	char *db;           /* DIR/govpki.db */
	char *conf;         /* DIR/govpki.json */
	char *next;         /* the new one, written beside it */
	int kept_made;      /* rep->kept was linked by this run */
	char *pw;
	int lock_fd;
	store *src;
	store *dst;
	audit *a;
	X509 *root;
	X509 *ca;
	char actor[128];
};

/* SHA-256 of the file |path|, read in blocks (any size), as hex. */
static int
mig_file_sha256(const char *path, char out[65])
{
	unsigned char buf[65536], md[32];
	EVP_MD_CTX *c = NULL;
	unsigned int mdlen = 0;
	size_t n, i;
	FILE *f = NULL;
	int r = GP_ERR_INTERNAL;

	ENSURE((f = fopen(path, "rb")) != NULL, gp_err_set(GP_ERR_IO,
	    "%s: %s", path, strerror(errno)));
	ENSURE((c = EVP_MD_CTX_new()) != NULL, GP_ERR_NOMEM);
	ENSURE(EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1, GP_ERR_CRYPTO);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		ENSURE(EVP_DigestUpdate(c, buf, n) == 1, GP_ERR_CRYPTO);
	ENSURE(!ferror(f), gp_err_set(GP_ERR_IO, "%s: read failed", path));
	ENSURE(EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen == 32,
	    GP_ERR_CRYPTO);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	r = 0;
out:
	EVP_MD_CTX_free(c);
	if (f != NULL)
		fclose(f);
	return r;
}

/* The options, before anything is opened: the URL without a password,
 * one password source that exists. */
static int
mig_check_opts(const struct instance_migrate_opts *o)
{
	if (o->dir == NULL || o->url == NULL)
		return gp_err_set(GP_ERR_INVALID, "store migrate: --from DIR "
		    "and --to URL are required");
	if (gp_store_url_check("--to", o->url) != 0)
		return gp_err_set(GP_ERR_INVALID, "%s (store migrate: "
		    "--to-password-file FILE or --to-password-env NAME)",
		    gp_err_detail());
	if (o->password_file != NULL && o->password_env != NULL)
		return gp_err_set(GP_ERR_INVALID, "--to-password-file and "
		    "--to-password-env: give one of them");
	if (o->password_file != NULL && access(o->password_file, R_OK) != 0)
		return gp_err_set(GP_ERR_INVALID, "--to-password-file %s: %s",
		    o->password_file, strerror(errno));
	if (o->password_env != NULL && getenv(o->password_env) == NULL)
		return gp_err_set(GP_ERR_INVALID, "--to-password-env %s: the "
		    "variable is not set", o->password_env);
	return 0;
}

/* DIR/govpki.lock, exclusively and without waiting: no process has the
 * instance open with its keys (the server, a command), and none opens it
 * until the migration is over. */
static int
mig_lock(struct mig *m)
{
	char *path = NULL;
	int r = GP_ERR_INTERNAL;

	ENSURE((path = gp_path_join(m->o->dir, INSTANCE_LOCK_FILE)) != NULL,
	    GP_ERR_NOMEM);
	if ((m->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		/* No directory: gp_config_load() says so. */
		r = errno == ENOENT ? 0 : gp_err_set(GP_ERR_IO, "%s: %s",
		    path, strerror(errno));
		goto out;
	}
	ENSURE(flock(m->lock_fd, LOCK_EX | LOCK_NB) == 0, gp_err_set(
	    errno == EWOULDBLOCK ? GP_ERR_BUSY : GP_ERR_IO, "%s: a govpki "
	    "process has the instance open (the server, or a command): stop "
	    "it, then migrate (%s)", path, strerror(errno)));
	r = 0;
out:
	free(path);
	return r;
}

/* The target's password, once, wiped at the end. */
static int
mig_password(struct mig *m)
{
	struct tok_pin_source src;
	int r;

	memset(&src, 0, sizeof(src));
	if (m->o->password_file != NULL) {
		src.kind = TOK_PIN_FILE;
		src.value = m->o->password_file;
	} else if (m->o->password_env != NULL) {
		src.kind = TOK_PIN_ENV;
		src.value = m->o->password_env;
	} else {
		return 0;
	}
	if ((r = tok_pin_read(&src, &m->pw)) != 0)
		return gp_err_set(r, "--to-password-%s: %s", src.kind ==
		    TOK_PIN_FILE ? "file" : "env", gp_err_detail());
	return 0;
}

/* Opens the target: a database without a govpki schema gets one; one
 * with another schema version is refused before anything is changed in
 * it (a current one is checked for rows by store_copy). */
static int
mig_open_target(struct mig *m)
{
	struct store_open_opts so;
	store *probe = NULL;
	int r;

	memset(&so, 0, sizeof(so));
	so.target = m->o->url;
	so.password = m->pw;
	so.app_name = "govpki store migrate";
	so.readonly = 1;
	r = store_open_with(&so, &probe);
	store_free(probe);
	if (r == GP_ERR_UNSUPPORTED)
		return gp_err_set(GP_ERR_EXISTS, "--to: the database holds a "
		    "govpki store already (%s); give an empty database",
		    gp_err_detail());
	if (r == GP_ERR_CONFIG)
		return gp_err_set(r, "%s (store migrate: --to-password-file "
		    "or --to-password-env)", gp_err_detail());
	if (r != 0 && r != GP_ERR_NOT_FOUND)
		return r;
	so.readonly = 0;
	so.create = 1;
	return store_open_with(&so, &m->dst);
}

/* The source's chain, checkpoints and certificate rows, as `govpki audit
 * verify` checks them, against the instance's root. */
static int
mig_verify(struct mig *m, store *st, const char *what)
{
	struct audit_report vr;
	int r;

	memset(&vr, 0, sizeof(vr));
	r = instance_audit_verify_store(st, m->root, m->ca, &vr);
	if (r == GP_ERR_TAMPERED)
		return gp_err_set(r, "%s: the audit log does not verify (first "
		    "bad record %lld: %s): nothing was migrated; see `govpki "
		    "audit verify --dir %s`", what, (long long)vr.first_bad_seq,
		    vr.reason, m->o->dir);
	if (r == 0)
		m->rep->verified_records = vr.records;
	return r;
}

/* The "store.migrate" record, in the target's transaction. */
static int
mig_record(struct mig *m, const char *sha256)
{
	struct audit_event ev;
	json_t *tables = NULL, *details = NULL;
	char *head = NULL;
	size_t i;
	int r = GP_ERR_INTERNAL;

	ENSURE((tables = json_object()) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < m->rep->copy.n; i++)
		ENSURE(json_object_set_new(tables, m->rep->copy.tables[i].name,
		    json_integer(m->rep->copy.tables[i].rows)) == 0,
		    GP_ERR_NOMEM);
	ENSURE((head = gp_hex(m->rep->copy.head_hash, 32)) != NULL,
	    GP_ERR_NOMEM);
	ENSURE((details = json_pack("{s:s, s:s, s:s, s:O, s:{s:I, s:s}}",
	    "from", m->db, "sha256", sha256, "to", m->o->url, "tables",
	    tables, "head", "seq", (json_int_t)m->rep->copy.head_seq, "hash",
	    head)) != NULL, GP_ERR_NOMEM);
	memset(&ev, 0, sizeof(ev));
	ev.actor = m->actor;
	ev.role = "local";
	ev.op = "store.migrate";
	ev.object = "store";
	ev.outcome = "success";
	ev.details = details;
	GUARD(audit_new(m->dst, &m->a));
	GUARD(audit_append_tx(m->a, &ev, &m->rep->record_seq));
	r = 0;
out:
	json_decref(tables);
	json_decref(details);
	free(head);
	return r;
}

/* The new configuration, written beside govpki.json (not yet in its
 * place), and the previous one kept as govpki.json.sqlite-<time> (a
 * second name of the same file: byte for byte). */
static int
mig_config_prepare(struct mig *m)
{
	json_t *root = NULL, *st = NULL;
	json_error_t jerr;
	char *text = NULL, *pwf = NULL, stamp[32];
	struct stat sb;
	struct tm tm;
	time_t now = time(NULL);
	int r = GP_ERR_INTERNAL;

	ENSURE((m->conf = gp_path_join(m->cfg->dir, "govpki.json")) != NULL,
	    GP_ERR_NOMEM);
	ENSURE(stat(m->conf, &sb) == 0, gp_err_set(GP_ERR_IO, "%s: %s",
	    m->conf, strerror(errno)));
	ENSURE((root = json_load_file(m->conf, JSON_REJECT_DUPLICATES,
	    &jerr)) != NULL, gp_err_set(GP_ERR_CONFIG, "%s: %s", m->conf,
	    jerr.text));
	if (m->o->password_file != NULL)
		ENSURE((pwf = realpath(m->o->password_file, NULL)) != NULL,
		    gp_err_set(GP_ERR_INVALID, "--to-password-file %s: %s",
		    m->o->password_file, strerror(errno)));
	ENSURE((st = json_pack("{s:s, s:s?, s:s?}", "url", m->o->url,
	    "password_file", pwf, "password_env", m->o->password_env)) !=
	    NULL, GP_ERR_NOMEM);
	ENSURE(json_object_set_new(root, "store", st) == 0, GP_ERR_NOMEM);
	ENSURE((text = json_dumps(root, JSON_INDENT(2))) != NULL,
	    GP_ERR_NOMEM);
	ENSURE(asprintf(&m->next, "%s.migrate", m->conf) > 0, GP_ERR_NOMEM);
	GUARD(gp_file_write(m->next, text, strlen(text), sb.st_mode & 0777,
	    0));
	ENSURE(gmtime_r(&now, &tm) != NULL && strftime(stamp, sizeof(stamp),
	    "%Y%m%dT%H%M%SZ", &tm) > 0, GP_ERR_INTERNAL);
	snprintf(m->rep->kept, sizeof(m->rep->kept), "%s.sqlite-%s", m->conf,
	    stamp);
	ENSURE(link(m->conf, m->rep->kept) == 0, gp_err_set(errno == EEXIST ?
	    GP_ERR_EXISTS : GP_ERR_IO, "%s: %s", m->rep->kept,
	    strerror(errno)));
	m->kept_made = 1;
	r = 0;
out:
	json_decref(root);
	free(text);
	free(pwf);
	return r;
}

static void
mig_free(struct mig *m, int committed)
{
	if (!committed && m->dst != NULL)
		store_rollback(m->dst);
	if (m->src != NULL)
		store_rollback(m->src);
	if (!committed && m->next != NULL)
		unlink(m->next);
	if (!committed && m->kept_made) {
		unlink(m->rep->kept);
		m->rep->kept[0] = '\0';
	}
	audit_free(m->a);
	store_free(m->dst);
	store_free(m->src);
	X509_free(m->root);
	X509_free(m->ca);
	gp_secret_free(m->pw);
	gp_config_free(m->cfg);
	free(m->db);
	free(m->conf);
	free(m->next);
	if (m->lock_fd >= 0)
		close(m->lock_fd);
}

int
instance_store_migrate(const struct instance_migrate_opts *o,
    struct instance_migrate_report *out)
{
	struct store_open_opts so;
	struct mig m;
	char sha_after[65];
	int64_t t0 = gp_mono_ms(), seq = 0;
	uint8_t hash[32];
	int r = GP_ERR_INTERNAL, committed = 0;

	memset(&m, 0, sizeof(m));
	memset(out, 0, sizeof(*out));
	m.o = o;
	m.rep = out;
	m.lock_fd = -1;
	instance_local_actor(m.actor, sizeof(m.actor));
	GUARD(mig_check_opts(o));
	GUARD(mig_lock(&m));
	GUARD(gp_config_load(o->dir, &m.cfg));
	ENSURE(m.cfg->store_url == NULL, gp_err_set(GP_ERR_CONFLICT, "%s: "
	    "the instance's store is on PostgreSQL already (store.url in "
	    "govpki.json)", o->dir));
	ENSURE((m.db = gp_path_join(m.cfg->dir, "govpki.db")) != NULL,
	    GP_ERR_NOMEM);
	GUARD(instance_cert_load(m.cfg->dir, "root", &m.root));
	GUARD(instance_cert_load(m.cfg->dir, "ca", &m.ca));

	/* The source, read-only, in one snapshot from here on. */
	memset(&so, 0, sizeof(so));
	so.target = m.db;
	so.readonly = 1;
	GUARD(store_open_with(&so, &m.src));
	GUARD(mig_file_sha256(m.db, out->sha256));
	GUARD(store_begin(m.src));
	GUARD(mig_verify(&m, m.src, m.db));

	GUARD(mig_password(&m));
	GUARD(mig_open_target(&m));
	GUARD(store_begin(m.dst));
	GUARD(store_copy(m.src, m.dst, o->progress, o->progress_arg,
	    &out->copy));
	GUARD(mig_record(&m, out->sha256));
	/* The target as a verifier will see it, before it is committed. */
	GUARD(mig_verify(&m, m.dst, o->url));
	GUARD(mig_config_prepare(&m));

	/* Nobody wrote to the source meanwhile (every state change comes
	 * with its record, so the head moves with it). */
	store_rollback(m.src);
	GUARD(store_audit_head(m.src, &seq, hash));
	GUARD(mig_file_sha256(m.db, sha_after));
	ENSURE(seq == out->copy.head_seq && memcmp(hash, out->copy.head_hash,
	    32) == 0 && strcmp(sha_after, out->sha256) == 0, gp_err_set(
	    GP_ERR_CONFLICT, "%s: the SQLite store changed during the "
	    "migration (a govpki command without keys wrote to it): nothing "
	    "was migrated; stop every govpki process on %s and try again",
	    m.db, o->dir));

	GUARD(store_commit(m.dst));
	committed = 1;
	if (rename(m.next, m.conf) != 0) {
		r = gp_err_set(GP_ERR_IO, "the store was moved to %s, but %s "
		    "could not be replaced (%s): rename %s to %s by hand",
		    o->url, m.conf, strerror(errno), m.next, m.conf);
		goto out;
	}
	out->ms = gp_mono_ms() - t0;
	r = 0;
out:
	mig_free(&m, committed);
	return r;
}
