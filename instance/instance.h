/*
 * instance.h: one govpki instance directory and everything opened from it.
 *
 *   DIR/govpki.json        configuration (core/core.h, struct gp_config)
 *   DIR/softhsm2.conf      SoftHSM configuration of the embedded token
 *   DIR/tokens/            SoftHSM token store
 *   DIR/secrets/           user.pin and so.pin, mode 0600 (embedded only)
 *   DIR/govpki.db          the store (SQLite)
 *   DIR/certs/             root.pem ca.pem tsa.pem ocsp.pem audit.pem
 *   DIR/tls/               server.pem (with chain) and server.key (0600)
 *   DIR/admin/             sysadmin, officer and auditor .pem and .key
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
#include "core/core.h"
#include "store/store.h"
#include "tokens/tokens.h"

struct instance {
	struct gp_config *cfg;
	store *st;
	audit *audit;
	tok_ctx *tok;                 /* NULL unless opened with INSTANCE_KEYS */
	EVP_PKEY *key[GP_KEY_COUNT];  /* NULL unless opened with INSTANCE_KEYS */
	X509 *cert[GP_KEY_COUNT];     /* always loaded from DIR/certs */
	char actor[128];              /* "local:<user>" for the CLI */
};

struct instance_init_opts {
	const char *dir;
	enum tok_algo algo;
	const char *const *hostnames; /* extra TLS names besides localhost */
	size_t hostnames_len;
	const char *module;           /* NULL: SoftHSM */
};

/* Creates a new instance. GP_ERR_EXISTS when |dir| already holds one or is
 * not empty; nothing is left behind on failure. */
int instance_init(const struct instance_init_opts *opts) GP_WUR;

#define INSTANCE_KEYS 0x1 /* log in to the token and load every key */

/* Opens the instance in |dir|. The caller frees with instance_free(). */
int instance_open(const char *dir, unsigned int flags, struct instance **out)
    GP_WUR;

/* Closes the audit writer, the store and the token. Accepts NULL. */
void instance_free(struct instance *inst);

/* Points SOFTHSM2_CONF at the instance's SoftHSM configuration, if it has
 * one, rewriting it if the instance directory moved. */
int instance_softhsm_env(const struct gp_config *cfg) GP_WUR;

/* Reads the user PIN from the configured source (file, then environment,
 * then terminal). The caller frees it with gp_secret_free(). */
int instance_pin(const struct gp_config *cfg, char **out_pin) GP_WUR;

/* "local:<login name>" of the user running this process, the actor of
 * CLI operations in the audit log. */
void instance_local_actor(char *buf, size_t len);

#endif /* GOVPKI_INSTANCE_H */
