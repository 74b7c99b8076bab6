/*
 * inst_open.c: opens an instance directory: configuration, SoftHSM
 * environment, store, audit writer, the instance's certificates and, when
 * asked, a token login and every key, under a shared lock that a change
 * of the audit key takes exclusively (instance.h). The login is audited,
 * success or failure; the PIN is wiped right after it is used.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "instance/instance.h"

/* Attempts at loading the module and logging in (inst_token_login). */
#define INST_TOKEN_TRIES 5

#define INST_CERT_MAX (64 * 1024)
#define INST_CONF_MAX (64 * 1024)

int
instance_softhsm_env(const struct gp_config *cfg)
{
	char *want = NULL, *tokens = NULL;
	uint8_t *have = NULL;
	size_t have_len = 0;
	int r = GP_ERR_INTERNAL;

	if (cfg->softhsm_conf == NULL)
		return 0;
	ENSURE((tokens = gp_path_join(cfg->dir, "tokens")) != NULL,
	    GP_ERR_NOMEM);
	ENSURE(asprintf(&want, "# SoftHSM store of this govpki instance.\n"
	    "directories.tokendir = %s\nobjectstore.backend = file\n"
	    "log.level = ERROR\nslots.removable = false\n", tokens) >= 0,
	    GP_ERR_NOMEM);
	r = gp_file_read(cfg->softhsm_conf, INST_CONF_MAX, &have, &have_len);
	if (r != 0 && r != GP_ERR_NOT_FOUND)
		goto out;
	/* The instance directory may have moved since init: keep the token
	 * directory pointing inside it. */
	if (r == GP_ERR_NOT_FOUND || strcmp((char *)have, want) != 0)
		GUARD(gp_file_write(cfg->softhsm_conf, want, strlen(want), 0600,
		    0));
	if (setenv("SOFTHSM2_CONF", cfg->softhsm_conf, 1) != 0) {
		r = gp_err_set(GP_ERR_INTERNAL, "setenv SOFTHSM2_CONF");
		goto out;
	}
	r = 0;
out:
	free(want);
	free(tokens);
	free(have);
	return r;
}

int
instance_pin(const struct gp_config *cfg, char **out_pin)
{
	struct tok_pin_source src;
	struct stat sb;

	*out_pin = NULL;
	if (cfg->pin_file != NULL && stat(cfg->pin_file, &sb) == 0) {
		src.kind = TOK_PIN_FILE;
		src.value = cfg->pin_file;
		return tok_pin_read(&src, out_pin);
	}
	if (cfg->pin_env != NULL && getenv(cfg->pin_env) != NULL) {
		src.kind = TOK_PIN_ENV;
		src.value = cfg->pin_env;
		return tok_pin_read(&src, out_pin);
	}
	if (isatty(STDIN_FILENO)) {
		src.kind = TOK_PIN_PROMPT;
		src.value = "Token user PIN: ";
		return tok_pin_read(&src, out_pin);
	}
	return gp_err_set(GP_ERR_NO_PIN,
	    "no PIN for token \"%s\": put it in the file named by "
	    "token.pin_file, or set $%s, or run from a terminal",
	    cfg->token_label, cfg->pin_env ? cfg->pin_env : "GOVPKI_PIN");
}

int
instance_cert_load(const char *dir, const char *name, X509 **out)
{
	char *path = NULL, file[64];
	uint8_t *buf = NULL;
	size_t len;
	BIO *bio = NULL;
	int r;

	*out = NULL;
	snprintf(file, sizeof(file), "certs/%s.pem", name);
	if ((path = gp_path_join(dir, file)) == NULL)
		return GP_ERR_NOMEM;
	GUARD(gp_file_read(path, INST_CERT_MAX, &buf, &len));
	ENSURE((bio = BIO_new_mem_buf(buf, (int)len)) != NULL, GP_ERR_NOMEM);
	if ((*out = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
		r = gp_err_ssl(GP_ERR_INVALID, "%s: not a PEM certificate",
		    path);
		goto out;
	}
	r = 0;
out:
	BIO_free(bio);
	free(buf);
	free(path);
	return r;
}

void
instance_local_actor(char *buf, size_t len)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];

	if (getpwuid_r(getuid(), &pw, tmp, sizeof(tmp), &res) == 0 &&
	    res != NULL)
		snprintf(buf, len, "local:%s", pw.pw_name);
	else
		snprintf(buf, len, "local:uid=%lu", (unsigned long)getuid());
}

/* Logs in and loads every key; audits the login either way. */
/* Loads the module and logs in. SoftHSM reads its token files when the
 * module initialises; another process writing them at that moment (its
 * own login) makes the token look absent or the slot list fail for this
 * one. Those two, and only those (never a PIN error: each failed login
 * counts towards locking the token), are retried on a freshly initialised
 * module, a few times over about a second. */
static int
inst_token_login(struct instance *inst, const char *pin)
{
	struct gp_config *cfg = inst->cfg;
	int attempt, r = GP_ERR_INTERNAL;

	for (attempt = 0; attempt < INST_TOKEN_TRIES; attempt++) {
		if (attempt > 0) {
			tok_ctx_free(inst->tok);
			inst->tok = NULL;
			usleep(50000u << attempt);
		}
		if ((r = tok_ctx_new(cfg->module, &inst->tok)) != 0) {
			if (r != GP_ERR_DEVICE)
				break;
			continue;
		}
		r = tok_login(inst->tok, cfg->token_label, pin);
		if (r != GP_ERR_TOKEN_ABSENT)
			break;
	}
	return r;
}

static int
inst_keys(struct instance *inst)
{
	struct gp_config *cfg = inst->cfg;
	struct audit_event ev;
	char *pin = NULL;
	size_t i;
	int r, ar;

	GUARD(instance_pin(cfg, &pin));
	r = inst_token_login(inst, pin);
	gp_secret_free(pin);
	pin = NULL;
	memset(&ev, 0, sizeof(ev));
	ev.actor = inst->actor;
	ev.role = "local";
	ev.op = "token.login";
	ev.object = cfg->token_label;
	ev.outcome = r == 0 ? "success" : "failure";
	ev.details = r == 0 ? NULL : json_pack("{s:s}", "error",
	    gp_err_name(r));
	ar = audit_log(inst->audit, &ev);
	json_decref(ev.details);
	GUARD(r);
	GUARD(ar);
	for (i = 0; i < GP_KEY_COUNT; i++)
		GUARD(tok_key_load(inst->tok, cfg->key_uri[i], &inst->key[i]));
	r = 0;
out:
	gp_secret_free(pin);
	return r;
}

/* The shared lock of a process that may sign checkpoints: taken before
 * govpki.json is read, so that a process started during an audit key
 * change reads the configuration the change leaves. A directory that
 * does not exist is left to gp_config_load() to report. */
static int
inst_lock_shared(struct instance *inst, const char *dir)
{
	char *path = NULL;
	int r = GP_ERR_INTERNAL, fd = -1, tries;
	struct timespec ts = {0, 100 * 1000 * 1000};

	ENSURE((path = gp_path_join(dir, INSTANCE_LOCK_FILE)) != NULL,
	    GP_ERR_NOMEM);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		r = errno == ENOENT ? 0 : gp_err_set(GP_ERR_IO, "%s: %s", path,
		    strerror(errno));
		goto out;
	}
	for (tries = 0; flock(fd, LOCK_SH | LOCK_NB) != 0; tries++) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			r = gp_err_set(GP_ERR_IO, "%s: lock: %s", path,
			    strerror(errno));
			goto out;
		}
		if (tries >= INSTANCE_LOCK_WAIT_S * 10) {
			r = gp_err_set(GP_ERR_BUSY, "%s: the audit key is being "
			    "changed (govpki audit rotate-key or adopt-key "
			    "holds the instance); try again when it is done",
			    path);
			goto out;
		}
		nanosleep(&ts, NULL);
	}
	inst->lock_fd = fd;
	inst->has_lock = 1;
	fd = -1; /* transferred */
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return r;
}

int
instance_lock_exclusive(struct instance *inst)
{
	if (inst == NULL || !inst->has_lock)
		return gp_err_set(GP_ERR_INTERNAL, "instance lock: the instance "
		    "was not opened with its keys");
	if (flock(inst->lock_fd, LOCK_EX | LOCK_NB) != 0)
		return gp_err_set(errno == EWOULDBLOCK ? GP_ERR_BUSY :
		    GP_ERR_IO, "%s/" INSTANCE_LOCK_FILE ": another govpki "
		    "process has the instance open with its keys (the server, "
		    "or a command): stop it first; the audit key changes only "
		    "while nothing else can sign checkpoints (%s)",
		    inst->cfg->dir, strerror(errno));
	return 0;
}

/* The password of store.url, or NULL: the file when it exists, else the
 * variable when it is set. */
static int
inst_store_password(const struct gp_config *cfg, char **out)
{
	struct tok_pin_source src;
	struct stat sb;
	int r;

	*out = NULL;
	memset(&src, 0, sizeof(src));
	if (cfg->store_password_file != NULL &&
	    stat(cfg->store_password_file, &sb) == 0) {
		src.kind = TOK_PIN_FILE;
		src.value = cfg->store_password_file;
	} else if (cfg->store_password_env != NULL &&
	    getenv(cfg->store_password_env) != NULL) {
		src.kind = TOK_PIN_ENV;
		src.value = cfg->store_password_env;
	} else {
		return 0;
	}
	/* The same reader as PINs: first line, capped, wiped, the
	 * variable unset so that no child inherits it. */
	if ((r = tok_pin_read(&src, out)) != 0)
		return gp_err_set(r, "store.%s: %s", src.kind == TOK_PIN_FILE ?
		    "password_file" : "password_env", gp_err_detail());
	return 0;
}

int
instance_store_open(const struct gp_config *cfg, int create,
    const char *node, store **out)
{
	struct store_open_opts o;
	char *db = NULL, *pw = NULL, app[80];
	int64_t n = 0, max = 0;
	store *st = NULL;
	int r = GP_ERR_INTERNAL;

	*out = NULL;
	memset(&o, 0, sizeof(o));
	o.create = create;
	if (cfg->store_url == NULL) {
		ENSURE((db = gp_path_join(cfg->dir, "govpki.db")) != NULL,
		    GP_ERR_NOMEM);
		o.target = db;
	} else {
		GUARD(inst_store_password(cfg, &pw));
		snprintf(app, sizeof(app), "govpki %s", node != NULL ? node :
		    "");
		o.target = cfg->store_url;
		o.password = pw;
		o.app_name = app;
	}
	GUARD(store_open_with(&o, &st));
	if (create && cfg->store_url != NULL) {
		/* A store left by a failed init (no record) may be reused;
		 * one in use never. */
		GUARD(store_audit_count(st, &n, &max));
		ENSURE(n == 0, gp_err_set(GP_ERR_EXISTS, "store.url %s: the "
		    "database holds a govpki store already (%lld audit "
		    "records); give an empty database", cfg->store_url,
		    (long long)n));
	}
	*out = st;
	st = NULL; /* transferred */
	r = 0;
out:
	store_free(st);
	gp_secret_free(pw);
	free(db);
	return r;
}

int
instance_set_node(struct instance *inst, const char *name)
{
	size_t i, n = name != NULL ? strlen(name) : 0;

	if (n == 0 || n >= sizeof(inst->node))
		return gp_err_set(GP_ERR_INVALID, "--node: 1 to %zu characters",
		    sizeof(inst->node) - 1);
	for (i = 0; i < n; i++) {
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '.' ||
		    name[i] == '_' || name[i] == '-'))
			return gp_err_set(GP_ERR_INVALID, "--node %.64s: only "
			    "letters, digits, '.', '_' and '-'", name);
	}
	memcpy(inst->node, name, n + 1);
	return 0;
}

/* $GOVPKI_NODE, else the host name (its first label), else "node". */
static int
inst_node_default(struct instance *inst)
{
	const char *env = getenv(INSTANCE_NODE_ENV);
	char host[256];
	size_t i;

	if (env != NULL && env[0] != '\0')
		return instance_set_node(inst, env) == 0 ? 0 :
		    gp_err_set(GP_ERR_INVALID, "$%s: %s", INSTANCE_NODE_ENV,
		    gp_err_detail());
	if (gethostname(host, sizeof(host)) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i] != '\0' && host[i] != '.' && i < 63; i++)
		;
	host[i] = '\0';
	if (instance_set_node(inst, host) != 0)
		return instance_set_node(inst, "node");
	return 0;
}

int
instance_open(const char *dir, unsigned int flags, struct instance **out)
{
	struct instance *inst = NULL;
	size_t i;
	int r = GP_ERR_INTERNAL;

	*out = NULL;
	ENSURE((inst = calloc(1, sizeof(*inst))) != NULL, GP_ERR_NOMEM);
	inst->lock_fd = -1;
	instance_local_actor(inst->actor, sizeof(inst->actor));
	if (flags & INSTANCE_KEYS)
		GUARD(inst_lock_shared(inst, dir));
	GUARD(gp_config_load(dir, &inst->cfg));
	GUARD(instance_softhsm_env(inst->cfg));
	GUARD(inst_node_default(inst));
	GUARD(instance_store_open(inst->cfg, 0, inst->node, &inst->st));
	GUARD(audit_new(inst->st, &inst->audit));
	for (i = 0; i < GP_KEY_COUNT; i++)
		GUARD(instance_cert_load(inst->cfg->dir, gp_key_names[i],
		    &inst->cert[i]));
	if (flags & INSTANCE_KEYS)
		GUARD(inst_keys(inst));
	*out = inst;
	inst = NULL; /* transferred */
	r = 0;
out:
	instance_free(inst);
	return r;
}

void
instance_free(struct instance *inst)
{
	size_t i;
	char detail[1024];

	if (inst == NULL)
		return;
	/* Seal what this process recorded (a CLI run, a server's last
	 * words), time-stamped: records after the last checkpoint are not
	 * covered by a signature. A no-op when nothing was added since. The
	 * caller's error detail, which it may still report, is kept. */
	snprintf(detail, sizeof(detail), "%s", gp_err_detail());
	if (inst->audit != NULL && inst->key[GP_KEY_AUDIT] != NULL &&
	    instance_checkpoint(inst, NULL, 0) != 0)
		gp_log(GP_LOG_WARN, "audit checkpoint at exit: %s",
		    gp_err_detail());
	(void)gp_err_set(0, "%s", detail);
	for (i = 0; i < GP_KEY_COUNT; i++) {
		EVP_PKEY_free(inst->key[i]);
		X509_free(inst->cert[i]);
	}
	tok_ctx_free(inst->tok);
	audit_free(inst->audit);
	store_free(inst->st);
	gp_config_free(inst->cfg);
	/* Last: the checkpoint above was signed under the lock. */
	if (inst->has_lock)
		close(inst->lock_fd);
	free(inst);
}
