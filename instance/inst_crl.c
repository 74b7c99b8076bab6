/*
 * inst_crl.c: the CRLs an instance publishes, as DER files under
 * DIR/crl/<name>.crl that the server streams at GET /crl/<name>.crl: the
 * full CRLs of the issuing CA ("ca") and of the root ("root", listing
 * revoked sub-CAs), and the issuing CA's delta CRL ("ca-delta") when
 * crl.delta_s is set. The server's schedule and `govpki ca crl` both
 * generate through here, so both publish the same CRLs.
 *
 * Several nodes on one shared store (store_shared: PostgreSQL): each CRL
 * made is also put into the store (store_pub_*), and every node makes its
 * DIR/crl/<name>.crl the latest one there (instance_crl_sync), so that
 * all of them serve what the holder of the CRL lease made.
 * DIR/crl/<name>.number says which version the file is. A SQLite store
 * is in the instance directory, whose DIR/crl every server on it serves:
 * nothing is copied.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "instance/instance.h"

/* A delta follows the full CRL of its issuer: one pass over the table
 * (the server's schedule) issues a new base and then its first delta. */
const struct instance_crl instance_crls[INSTANCE_CRLS] = {
	{"ca", "ca", GP_KEY_CA, 0},
	{"root", "root", GP_KEY_ROOT, 0},
	{"ca-delta", "ca", GP_KEY_CA, 1},
};

const struct instance_crl *
instance_crl_find(const char *name)
{
	const struct instance_crl *c;

	for (c = instance_crls; name != NULL && c < instance_crls +
	    INSTANCE_CRLS; c++) {
		if (strcmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

int
instance_crl_deltas(const struct instance *inst, const struct instance_crl *c)
{
	return inst->cfg->crl_delta_s > 0 && strcmp(c->issuer, "ca") == 0;
}

char *
instance_crl_path(const struct instance *inst, const struct instance_crl *c)
{
	char name[64];

	snprintf(name, sizeof(name), "crl/%s.crl", c->name);
	return gp_path_join(inst->cfg->dir, name);
}

/* DIR/crl/<name>.number: the version DIR/crl/<name>.crl is (0: unknown). */
static int64_t
inst_crl_number_read(const char *crl_path)
{
	char *p = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int64_t n = 0;

	if (asprintf(&p, "%.*s.number", (int)(strlen(crl_path) - 4),
	    crl_path) >= 0 && gp_file_read(p, 32, &buf, &len) == 0)
		n = strtoll((const char *)buf, NULL, 10);
	free(p);
	free(buf);
	return n > 0 ? n : 0;
}

static int
inst_crl_number_write(const char *crl_path, int64_t number)
{
	char *p = NULL, text[32];
	int r;

	if (asprintf(&p, "%.*s.number", (int)(strlen(crl_path) - 4),
	    crl_path) < 0)
		return GP_ERR_NOMEM;
	snprintf(text, sizeof(text), "%lld\n", (long long)number);
	r = gp_file_write(p, text, strlen(text), 0644, 0);
	free(p);
	return r;
}

/* Puts the CRL just made at |path| (version |number|) into the store, in
 * one transaction with the pruning of older versions, and notes its
 * version beside it. */
static int
inst_crl_publish(struct instance *inst, const struct instance_crl *c,
    const char *path, int64_t number)
{
	uint8_t *buf = NULL;
	ssize_t n;
	int64_t part = 0;
	int fd = -1, r, in_tx = 0;

	if (!store_shared(inst->st))
		return 0; /* its servers share DIR/crl: nothing to copy */
	ENSURE((buf = malloc(STORE_PUB_PART)) != NULL, GP_ERR_NOMEM);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ENSURE(fd >= 0, gp_err_set(GP_ERR_IO, "%s: %s", path,
	    strerror(errno)));
	GUARD(store_begin(inst->st));
	in_tx = 1;
	for (;;) {
		size_t got = 0;

		/* Whole parts: a short read is not the end of the file. */
		while (got < STORE_PUB_PART && (n = read(fd, buf + got,
		    STORE_PUB_PART - got)) != 0) {
			ENSURE(n > 0 || errno == EINTR, gp_err_set(GP_ERR_IO,
			    "%s: %s", path, strerror(errno)));
			if (n > 0)
				got += (size_t)n;
		}
		if (got == 0)
			break;
		GUARD(store_pub_put(inst->st, c->name, number, part++, buf,
		    got));
	}
	ENSURE(part > 0, gp_err_set(GP_ERR_IO, "%s: empty", path));
	GUARD(store_pub_prune(inst->st, c->name, number));
	in_tx = 0;
	GUARD(store_commit(inst->st));
	GUARD(inst_crl_number_write(path, number));
	r = 0;
out:
	if (in_tx)
		store_rollback(inst->st);
	if (fd >= 0)
		close(fd);
	free(buf);
	return r;
}

int
instance_crl_sync(struct instance *inst, const struct instance_crl *c,
    int64_t *have, int64_t *out_published)
{
	char *path = NULL, *tmp = NULL, *dir = NULL;
	uint8_t *part = NULL;
	size_t len = 0;
	int64_t number = 0, parts = 0, i;
	int fd = -1, r;

	*out_published = -1;
	if (!store_shared(inst->st))
		return 0; /* nothing is published through a SQLite store */
	ENSURE((path = instance_crl_path(inst, c)) != NULL &&
	    (dir = gp_path_join(inst->cfg->dir, "crl")) != NULL,
	    GP_ERR_NOMEM);
	if (*have == 0)
		*have = inst_crl_number_read(path);
	GUARD(store_pub_latest(inst->st, c->name, &number, &parts));
	*out_published = number;
	if (number <= *have || parts == 0) {
		r = 0; /* nothing newer */
		goto out;
	}
	GUARD(gp_mkdir(dir, 0755));
	ENSURE(asprintf(&tmp, "%s.sync.tmp", path) >= 0, GP_ERR_NOMEM);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ENSURE(fd >= 0, gp_err_set(GP_ERR_IO, "%s: %s", tmp,
	    strerror(errno)));
	for (i = 0; i < parts; i++) {
		GUARD(store_pub_get(inst->st, c->name, number, i, &part,
		    &len));
		ENSURE(write(fd, part, len) == (ssize_t)len, gp_err_set(
		    GP_ERR_IO, "%s: %s", tmp, strerror(errno)));
		free(part);
		part = NULL;
	}
	ENSURE(fsync(fd) == 0, gp_err_set(GP_ERR_IO, "%s: %s", tmp,
	    strerror(errno)));
	close(fd);
	fd = -1;
	/* Renamed over, never rewritten: a reader keeps a whole CRL. */
	ENSURE(rename(tmp, path) == 0, gp_err_set(GP_ERR_IO, "%s: %s", path,
	    strerror(errno)));
	GUARD(inst_crl_number_write(path, number));
	*have = number;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (r != 0 && tmp != NULL)
		unlink(tmp);
	free(part);
	free(tmp);
	free(dir);
	free(path);
	return r;
}

int
instance_crl_generate(struct instance *inst, const struct instance_crl *c,
    const struct instance_who *who, const struct ca_crl_lease *lease,
    struct ca_crl_info *info)
{
	struct ca_crl_spec spec;
	char *dir = NULL, *path = NULL, *fresh = NULL;
	int r;

	ENSURE(c != NULL && who != NULL, GP_ERR_INVALID);
	ENSURE(!c->delta || instance_crl_deltas(inst, c), gp_err_set(
	    GP_ERR_INVALID, "CRL %s: delta CRLs are off; set crl.delta_s in "
	    "govpki.json", c->name));
	ENSURE(inst->key[c->key] != NULL, gp_err_set(GP_ERR_LOGIN_REQUIRED,
	    "CRL %s: the key is not loaded", c->name));
	ENSURE((dir = gp_path_join(inst->cfg->dir, "crl")) != NULL &&
	    (path = instance_crl_path(inst, c)) != NULL, GP_ERR_NOMEM);
	GUARD(gp_mkdir(dir, 0755));
	memset(&spec, 0, sizeof(spec));
	spec.st = inst->st;
	spec.audit = inst->audit;
	spec.issuer = c->issuer;
	spec.issuer_cert = inst->cert[c->key];
	spec.issuer_key = inst->key[c->key];
	spec.out_path = path;
	spec.next_update_s = inst->cfg->crl_next_update_s;
	spec.delta = c->delta;
	if (c->delta) {
		/* Issued every delta_s: nextUpdate leaves one period of
		 * slack. */
		spec.next_update_s = 2 * inst->cfg->crl_delta_s;
	} else if (instance_crl_deltas(inst, c)) {
		ENSURE(asprintf(&fresh, "%s/crl/%s-delta.crl",
		    inst->cfg->public_url, c->name) >= 0, GP_ERR_NOMEM);
		spec.freshest_url = fresh;
	}
	spec.actor = who->actor;
	spec.role = who->role;
	spec.request_id = who->request_id;
	spec.client = who->client;
	spec.lease = lease;
	GUARD(ca_crl_generate(&spec, info));
	GUARD(inst_crl_publish(inst, c, path, info->number));
	r = 0;
out:
	free(fresh);
	free(dir);
	free(path);
	return r;
}
