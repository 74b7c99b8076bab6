/*
 * inst_audit_key.c: the instance's audit key over its life. Its
 * certificate (issued by the issuing CA with the critical audit EKU, the
 * same at init, rotation and adoption: instance_audit_cert_issue), the
 * check that the key this process signs checkpoints with is the one the
 * chain has in effect (instance_audit_key_check: at server start, and
 * before any process's first checkpoint), `govpki audit rotate-key`
 * (instance_audit_rotate) and `govpki audit adopt-key`
 * (instance_audit_adopt).
 *
 * A rotation or adoption runs with the instance lock held exclusively
 * (instance_lock_exclusive), so that no other process signs checkpoints
 * meanwhile. Everything that can fail without harm comes first: the new
 * key on the token, its certificate, the files to put in place (written
 * beside their final names). Then one transaction holds the certificate's
 * row, its records, the "audit.key" record and the checkpoint sealing
 * them with the key in effect (audit_key_change / audit_key_adopt): it
 * commits or nothing of it is kept. Only then are the prepared files
 * renamed into place; should a rename fail, the error names the file to
 * move by hand (the server refuses to start until it is, since the files
 * would not name the key in effect).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "instance/instance.h"

#define INST_YEAR (365 * 24 * 3600)
#define INST_CONF_MAX (64 * 1024)
/* The prepared files' suffix: DIR/govpki.json.rotate ... */
#define INST_NEW_SUFFIX ".rotate"

int
instance_audit_cert_issue(const struct gp_config *cfg, X509 *ca_cert,
    EVP_PKEY *ca_key, EVP_PKEY *pub, int64_t now, X509 **out)
{
	struct ca_cert_spec spec;
	X509_NAME *name = NULL;
	char *crl = NULL, *ocsp = NULL, *ca_url = NULL, *serial = NULL;
	const ASN1_TIME *na;
	struct tm tm;
	int r = GP_ERR_INTERNAL;

	*out = NULL;
	ENSURE(cfg != NULL && ca_cert != NULL && ca_key != NULL && pub != NULL,
	    gp_err_set(GP_ERR_LOGIN_REQUIRED, "audit certificate: the issuing "
	    "CA's key and certificate are needed"));
	ENSURE((name = X509_NAME_new()) != NULL, GP_ERR_NOMEM);
	ENSURE(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"govpki Audit Log", -1, -1, 0) &&
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	    (const unsigned char *)cfg->instance_name, -1, -1, 0),
	    gp_err_ssl(GP_ERR_CRYPTO, "audit certificate: subject"));
	ENSURE(asprintf(&crl, "%s/crl/ca.crl", cfg->public_url) >= 0 &&
	    asprintf(&ocsp, "%s/ocsp", cfg->public_url) >= 0 &&
	    asprintf(&ca_url, "%s/certs/ca.crt", cfg->public_url) >= 0,
	    GP_ERR_NOMEM);
	memset(&spec, 0, sizeof(spec));
	spec.subject = name;
	spec.pubkey = pub;
	spec.issuer_cert = ca_cert;
	spec.issuer_key = ca_key;
	spec.not_before = now - 60;
	spec.not_after = now + 5 * INST_YEAR;
	/* RFC 5280 6.1.3 (a)(2): stay inside the issuer's validity. */
	na = X509_get0_notAfter(ca_cert);
	if (ASN1_TIME_to_tm(na, &tm) && (int64_t)timegm(&tm) < spec.not_after)
		spec.not_after = (int64_t)timegm(&tm);
	spec.path_len = -1;
	spec.key_usage = "critical,digitalSignature,nonRepudiation";
	/* Only an audit certificate carries it, so that no other certificate
	 * under the root (whose keys may be files) can stand in for it. */
	spec.ext_key_usage = "critical," AUDIT_EKU_OID;
	spec.crl_url = crl;
	spec.ocsp_url = ocsp;
	spec.ca_issuers_url = ca_url;
	GUARD(ca_cert_sign(&spec, out, &serial));
	r = 0;
out:
	X509_NAME_free(name);
	free(crl);
	free(ocsp);
	free(ca_url);
	free(serial);
	return r;
}

/* 1 when |a| and |b| have the same DER. */
static int
inst_cert_same(X509 *a, X509 *b)
{
	uint8_t *da = NULL, *db = NULL;
	int na = i2d_X509(a, &da), nb = i2d_X509(b, &db), same;

	same = na > 0 && na == nb && memcmp(da, db, (size_t)na) == 0;
	OPENSSL_free(da);
	OPENSSL_free(db);
	return same;
}

int
instance_audit_key_check(struct instance *inst, int allow_unrecorded)
{
	struct audit_key_info info;
	X509 *cert;
	char have[65], want[65];
	const char *dir;
	int r = GP_ERR_INTERNAL;

	memset(&info, 0, sizeof(info));
	ENSURE(inst != NULL && inst->st != NULL && inst->cfg != NULL,
	    GP_ERR_INVALID);
	dir = inst->cfg->dir;
	cert = inst->cert[GP_KEY_AUDIT];
	GUARD(audit_key_in_effect(inst->st, &info));
	if (info.seq == 0) {
		if (allow_unrecorded) {
			r = 0;
			goto out;
		}
		r = gp_err_set(GP_ERR_CONFIG, "%s: the audit log records no "
		    "audit key: the instance was made before govpki recorded "
		    "its audit key in the chain, so `govpki audit verify` "
		    "cannot anchor its checkpoints. Run `govpki audit "
		    "adopt-key --dir %s` once (docs/operations.md, \"Audit key "
		    "rotation\")", dir, dir);
		goto out;
	}
	if (info.pending_seq != 0) {
		r = gp_err_set(GP_ERR_CONFIG, "%s: the audit log has an audit "
		    "key change at record %lld that no checkpoint seals: "
		    "written by an older govpki or by an editor of the file. "
		    "Nothing signs checkpoints over it; run `govpki audit "
		    "verify --dir %s` and find out why", dir,
		    (long long)info.pending_seq, dir);
		goto out;
	}
	audit_spki_hex(cert, have);
	audit_spki_hex(info.cert, want);
	if (cert == NULL || strcmp(have, want) != 0) {
		r = gp_err_set(GP_ERR_CONFIG, "%s/certs/audit.pem (key SHA-256 "
		    "%s) is not the audit key in effect in the audit log "
		    "(record %lld, key SHA-256 %s): was certs/audit.pem or "
		    "keys.audit replaced? A checkpoint signed with it would "
		    "not verify. (An interrupted `govpki audit rotate-key` "
		    "named the files to put in place.)", dir, have,
		    (long long)info.seq, want);
		goto out;
	}
	if (!inst_cert_same(cert, info.cert)) {
		r = gp_err_set(GP_ERR_CONFIG, "%s/certs/audit.pem is another "
		    "certificate for the audit key than the one the audit log "
		    "records (record %lld): witnesses would be served a "
		    "certificate the chain does not name. Put the recorded one "
		    "back (an interrupted `govpki audit adopt-key` named the "
		    "file)", dir, (long long)info.seq);
		goto out;
	}
	if (inst->key[GP_KEY_AUDIT] != NULL &&
	    (r = audit_key_pair_check(inst->key[GP_KEY_AUDIT], cert)) != 0) {
		if (r == GP_ERR_CONFLICT)
			r = gp_err_set(GP_ERR_CONFIG, "keys.audit (%s) is not the "
			    "key of %s/certs/audit.pem, the audit key in effect "
			    "(record %lld): was the key URI changed?",
			    inst->cfg->key_uri[GP_KEY_AUDIT], dir,
			    (long long)info.seq);
		goto out;
	}
	if (inst->key[GP_KEY_AUDIT] != NULL)
		inst->audit_key_checked = 1;
	r = 0;
out:
	audit_key_info_clear(&info);
	return r;
}

/* What a key change writes in its transaction besides the key record:
 * the new certificate's row and its cert.issue record (as init records
 * its certificates) and, for a rotation, the new key's key.generate
 * record (as init records its keys). */
struct inst_key_apply {
	struct instance *inst;
	X509 *cert;
	const char *key_uri;      /* a new key, or NULL (adoption) */
	const char *algo;
	int sensitive, extractable;
};

/* One record of a rotation or adoption, as the local actor: in the
 * caller's transaction (|in_tx|) or on its own. */
static int
inst_key_record(struct instance *inst, const char *op, const char *object,
    const char *outcome, json_t *details, int in_tx)
{
	struct audit_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.actor = inst->actor;
	ev.role = "local";
	ev.op = op;
	ev.object = object;
	ev.outcome = outcome;
	ev.details = details;
	return in_tx ? audit_append_tx(inst->audit, &ev, NULL) :
	    audit_log(inst->audit, &ev);
}

static int
inst_key_apply(store *st, void *arg)
{
	struct inst_key_apply *ka = arg;
	struct store_cert sc;
	uint8_t *der = NULL;
	char *subject = NULL;
	json_t *details = NULL;
	struct tm tm;
	int r = GP_ERR_INTERNAL, len;

	memset(&sc, 0, sizeof(sc));
	if (ka->key_uri != NULL) {
		ENSURE((details = json_pack("{s:s, s:b, s:b}", "algo",
		    ka->algo, "sensitive", ka->sensitive, "extractable",
		    ka->extractable)) != NULL, GP_ERR_NOMEM);
		GUARD(inst_key_record(ka->inst, "key.generate", ka->key_uri,
		    "success", details, 1));
		json_decref(details);
		details = NULL;
	}
	ENSURE((sc.serial = ca_serial_hex(ka->cert)) != NULL &&
	    (subject = X509_NAME_oneline(X509_get_subject_name(ka->cert),
	    NULL, 0)) != NULL, GP_ERR_NOMEM);
	sc.subject = subject;
	sc.issuer = (char *)"ca";
	sc.profile = (char *)"audit";
	sc.not_before = ASN1_TIME_to_tm(X509_get0_notBefore(ka->cert), &tm) ?
	    (int64_t)timegm(&tm) : 0;
	sc.not_after = ASN1_TIME_to_tm(X509_get0_notAfter(ka->cert), &tm) ?
	    (int64_t)timegm(&tm) : 0;
	sc.status = (char *)"good";
	sc.reason = -1;
	sc.created_ms = gp_now_ms();
	ENSURE((len = i2d_X509(ka->cert, &der)) > 0, gp_err_ssl(GP_ERR_CRYPTO,
	    "audit certificate: DER"));
	sc.der = der;
	sc.der_len = (size_t)len;
	GUARD(store_cert_insert(st, &sc));
	ENSURE((details = json_pack("{s:s, s:s, s:s}", "profile", sc.profile,
	    "subject", subject, "issuer", sc.issuer)) != NULL, GP_ERR_NOMEM);
	GUARD(inst_key_record(ka->inst, "cert.issue", sc.serial, "success",
	    details, 1));
	r = 0;
out:
	json_decref(details);
	OPENSSL_free(der);
	OPENSSL_free(subject);
	free(sc.serial);
	return r;
}

/* A prepared file: DIR/<name>.rotate written now, renamed onto DIR/<name>
 * once the change committed. */
struct inst_new_file {
	char *path;
	char *tmp;
};

static void
inst_new_file_drop(struct inst_new_file *f)
{
	if (f->tmp != NULL)
		unlink(f->tmp);
	free(f->path);
	free(f->tmp);
	memset(f, 0, sizeof(*f));
}

static int
inst_new_file_write(const char *dir, const char *name, const void *buf,
    size_t len, struct inst_new_file *f)
{
	int r = GP_ERR_INTERNAL;

	memset(f, 0, sizeof(*f));
	ENSURE((f->path = gp_path_join(dir, name)) != NULL &&
	    asprintf(&f->tmp, "%s" INST_NEW_SUFFIX, f->path) >= 0,
	    GP_ERR_NOMEM);
	GUARD(gp_file_write(f->tmp, buf, len, 0644, 0));
	r = 0;
out:
	if (r != 0)
		inst_new_file_drop(f);
	return r;
}

/* Renames the prepared file into place and syncs its directory. */
static int
inst_new_file_commit(struct inst_new_file *f)
{
	char *dir = NULL, *slash;
	int fd;

	if (rename(f->tmp, f->path) != 0)
		return gp_err_set(GP_ERR_IO, "%s: %s", f->path,
		    strerror(errno));
	free(f->tmp);
	f->tmp = NULL; /* renamed: nothing to remove */
	if ((dir = strdup(f->path)) != NULL &&
	    (slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
			(void)fsync(fd);
			close(fd);
		}
	}
	free(dir);
	return 0;
}

/* certs/audit.pem with |cert|, prepared. */
static int
inst_new_pem(const char *dir, X509 *cert, struct inst_new_file *f)
{
	BIO *bio = NULL;
	char *data;
	long len;
	int r = GP_ERR_INTERNAL;

	ENSURE((bio = BIO_new(BIO_s_mem())) != NULL, GP_ERR_NOMEM);
	ENSURE(PEM_write_bio_X509(bio, cert) == 1, gp_err_ssl(GP_ERR_CRYPTO,
	    "certs/audit.pem"));
	len = BIO_get_mem_data(bio, &data);
	GUARD(inst_new_file_write(dir, "certs/audit.pem", data, (size_t)len,
	    f));
	r = 0;
out:
	BIO_free(bio);
	return r;
}

/* govpki.json as it is, keys.audit set to |uri|, prepared. Only that
 * field changes (the file is rewritten with sorted keys, as init writes
 * it). */
static int
inst_new_config(const struct gp_config *cfg, const char *uri,
    struct inst_new_file *f)
{
	char *path = NULL, *text = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	json_t *root = NULL, *keys;
	int r = GP_ERR_INTERNAL;

	ENSURE((path = gp_path_join(cfg->dir, "govpki.json")) != NULL,
	    GP_ERR_NOMEM);
	GUARD(gp_file_read(path, INST_CONF_MAX, &buf, &len));
	ENSURE((root = json_loadb((const char *)buf, len, 0, NULL)) != NULL &&
	    json_is_object(keys = json_object_get(root, "keys")),
	    gp_err_set(GP_ERR_CONFIG, "%s: no \"keys\" object", path));
	ENSURE(json_object_set_new(keys, gp_key_names[GP_KEY_AUDIT],
	    json_string(uri)) == 0, GP_ERR_NOMEM);
	ENSURE((text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS)) !=
	    NULL, GP_ERR_NOMEM);
	len = strlen(text);
	text[len] = '\n'; /* json_dumps leaves room only for the NUL */
	GUARD(inst_new_file_write(cfg->dir, "govpki.json", text, len + 1, f));
	r = 0;
out:
	json_decref(root);
	free(text);
	free(buf);
	free(path);
	return r;
}

/* |s| pct-encoded for an RFC 7512 attribute value: every byte but
 * unreserved ones (RFC 3986 2.3) as %XX, which pk11-pchar allows. */
static char *
inst_pct(const char *s)
{
	static const char hexd[] = "0123456789ABCDEF";
	size_t i, n = strlen(s);
	char *out, *p;

	if ((out = malloc(3 * n + 1)) == NULL)
		return NULL;
	for (p = out, i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hexd[c >> 4];
			*p++ = hexd[c & 15];
		}
	}
	*p = '\0';
	return out;
}

/* The algorithm of the key in |cert|, for its successor. */
static int
inst_key_algo(X509 *cert, enum tok_algo *out)
{
	EVP_PKEY *pub = X509_get0_pubkey(cert);
	int bits = pub != NULL ? EVP_PKEY_get_bits(pub) : 0;

	if (pub != NULL && EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC &&
	    bits == 256)
		*out = TOK_ALGO_EC_P256;
	else if (pub != NULL && EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC &&
	    bits == 384)
		*out = TOK_ALGO_EC_P384;
	else if (pub != NULL && EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA &&
	    bits == 2048)
		*out = TOK_ALGO_RSA_2048;
	else if (pub != NULL && EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA &&
	    bits == 3072)
		*out = TOK_ALGO_RSA_3072;
	else
		return gp_err_set(GP_ERR_UNSUPPORTED, "certs/audit.pem: a %d-bit "
		    "key of a kind the token cannot generate (ec-p256, "
		    "ec-p384, rsa-2048, rsa-3072)", bits);
	return 0;
}

/* How both commands start: |out| cleared, *out_details the new object
 * of their closing record (inst_key_finish: a refusal is recorded too),
 * the keys loaded, the lock held exclusively, and the key in use named
 * in out->old_spki. */
static int
inst_key_begin(struct instance *inst, struct instance_audit_key_change *out,
    json_t **out_details)
{
	int r;

	memset(out, 0, sizeof(*out));
	*out_details = NULL;
	if (inst == NULL || inst->cfg == NULL || inst->audit == NULL)
		return GP_ERR_INVALID;
	if ((*out_details = json_object()) == NULL)
		return GP_ERR_NOMEM;
	if (inst->tok == NULL || inst->key[GP_KEY_AUDIT] == NULL ||
	    inst->key[GP_KEY_CA] == NULL)
		return gp_err_set(GP_ERR_LOGIN_REQUIRED, "audit key: open the "
		    "instance with its keys");
	if ((r = instance_lock_exclusive(inst)) != 0)
		return r;
	audit_spki_hex(inst->cert[GP_KEY_AUDIT], out->old_spki);
	return 0;
}

/* The switch in memory, once the change committed: this process's last
 * checkpoint is signed with the key now in effect. */
static void
inst_key_switch(struct instance *inst, EVP_PKEY **key, X509 **cert,
    char **uri)
{
	if (*key != NULL) {
		EVP_PKEY_free(inst->key[GP_KEY_AUDIT]);
		inst->key[GP_KEY_AUDIT] = *key;
		*key = NULL; /* transferred */
	}
	X509_free(inst->cert[GP_KEY_AUDIT]);
	inst->cert[GP_KEY_AUDIT] = *cert;
	*cert = NULL; /* transferred */
	if (*uri != NULL) {
		free(inst->cfg->key_uri[GP_KEY_AUDIT]);
		inst->cfg->key_uri[GP_KEY_AUDIT] = *uri;
		*uri = NULL; /* transferred */
	}
	inst->audit_key_checked = 1;
}

/* The audit certificate for |pub| (instance_audit_cert_issue), checked
 * as verification will check it (audit_cert_check under certs/root.pem
 * with the issuing CA as intermediate), and its serial into |serial|. */
static int
inst_new_cert(struct instance *inst, EVP_PKEY *pub, X509 **out,
    char serial[68])
{
	STACK_OF(X509) *chain = NULL;
	uint8_t spki[32];
	char *ser = NULL;
	int r = GP_ERR_INTERNAL;

	GUARD(instance_audit_cert_issue(inst->cfg, inst->cert[GP_KEY_CA],
	    inst->key[GP_KEY_CA], pub, (int64_t)time(NULL), out));
	ENSURE((chain = sk_X509_new_null()) != NULL && sk_X509_push(chain,
	    inst->cert[GP_KEY_CA]) > 0, GP_ERR_NOMEM);
	GUARD(audit_cert_check(*out, chain, inst->cert[GP_KEY_ROOT],
	    gp_now_ms(), spki));
	ENSURE((ser = ca_serial_hex(*out)) != NULL, GP_ERR_NOMEM);
	snprintf(serial, 68, "%s", ser);
	r = 0;
out:
	if (r != 0) {
		X509_free(*out);
		*out = NULL;
	}
	sk_X509_free(chain);
	free(ser);
	return r;
}

/* The end of a rotation or adoption with result |r|: its record |op|
 * (success, or failure with the error, which the caller still reports),
 * then, on success, a checkpoint by the key now in effect, time-stamped. */
static int
inst_key_finish(struct instance *inst, const char *op, int r,
    json_t *details)
{
	char detail[1024];
	int lr;

	if (details == NULL)
		return r;
	snprintf(detail, sizeof(detail), "%s", gp_err_detail());
	if (r != 0)
		(void)json_object_set_new(details, "error", json_string(detail));
	lr = inst_key_record(inst, op, "audit-key", r == 0 ? "success" :
	    "failure", details, 0);
	(void)gp_err_set(0, "%s", detail);
	if (r == 0 && lr != 0)
		r = lr;
	if (r == 0)
		r = instance_checkpoint(inst, NULL, 1);
	return r;
}

int
instance_audit_rotate(struct instance *inst,
    struct instance_audit_key_change *out)
{
	struct inst_new_file conf, pem;
	struct inst_key_apply ka;
	struct audit_key_info info;
	struct gp_config *cfg;
	EVP_PKEY *pub = NULL, *key = NULL;
	X509 *cert = NULL;
	char label[64], *uri = NULL, *tok_pct = NULL;
	enum tok_algo algo = TOK_ALGO_EC_P256;
	json_t *details = NULL;
	time_t now = time(NULL);
	struct tm tm;
	int r = GP_ERR_INTERNAL, committed = 0;

	memset(&conf, 0, sizeof(conf));
	memset(&pem, 0, sizeof(pem));
	memset(&info, 0, sizeof(info));
	memset(&ka, 0, sizeof(ka));
	GUARD(inst_key_begin(inst, out, &details));
	cfg = inst->cfg;
	(void)json_object_set_new(details, "old_key_sha256",
	    json_string(out->old_spki));
	/* The key in use must be the one in effect: a rotation from another
	 * key would be refused by the change anyway, after a new key was
	 * made for nothing. */
	GUARD(instance_audit_key_check(inst, 0));
	ENSURE(strncmp(cfg->key_uri[GP_KEY_AUDIT], "pkcs11:", 7) == 0,
	    gp_err_set(GP_ERR_UNSUPPORTED, "keys.audit (%s): rotate-key "
	    "makes the new key on the instance's token; a file: key is for "
	    "development only", cfg->key_uri[GP_KEY_AUDIT]));
	GUARD(inst_key_algo(inst->cert[GP_KEY_AUDIT], &algo));

	/* The new key, on the token, named after the time it was made. */
	ENSURE(gmtime_r(&now, &tm) != NULL && strftime(label, sizeof(label),
	    "audit-%Y%m%dT%H%M%SZ", &tm) > 0, GP_ERR_INTERNAL);
	ENSURE((tok_pct = inst_pct(cfg->token_label)) != NULL &&
	    asprintf(&uri, "pkcs11:token=%s;object=%s", tok_pct, label) >= 0,
	    GP_ERR_NOMEM);
	snprintf(out->key_uri, sizeof(out->key_uri), "%s", uri);
	(void)json_object_set_new(details, "key", json_string(uri));
	r = tok_keygen(inst->tok, cfg->token_label, label, algo, &pub);
	if (r == GP_ERR_EXISTS)
		r = gp_err_set(GP_ERR_EXISTS, "token \"%s\" has a key labelled "
		    "%s already: run rotate-key again in a second",
		    cfg->token_label, label);
	GUARD(r);
	GUARD(tok_key_load(inst->tok, uri, &key));
	ka.sensitive = ka.extractable = -1;
	GUARD(tok_key_attrs(inst->tok, uri, &ka.sensitive, &ka.extractable));
	ENSURE(ka.sensitive == 1 && ka.extractable == 0,
	    gp_err_set(GP_ERR_DEVICE, "key %s: the token reports sensitive=%d "
	    "extractable=%d", uri, ka.sensitive, ka.extractable));

	/* Its certificate, checked as verification will check it. */
	GUARD(inst_new_cert(inst, pub, &cert, out->serial));
	GUARD(audit_key_pair_check(key, cert));
	audit_spki_hex(cert, out->new_spki);
	(void)json_object_set_new(details, "new_key_sha256",
	    json_string(out->new_spki));
	(void)json_object_set_new(details, "serial", json_string(out->serial));
	/* Beside its key on the token, as init writes its certificates. */
	GUARD(tok_cert_write(inst->tok, cfg->token_label, label, cert));
	GUARD(inst_new_pem(cfg->dir, cert, &pem));
	GUARD(inst_new_config(cfg, uri, &conf));

	/* The change: all or nothing. */
	ka.inst = inst;
	ka.cert = cert;
	ka.key_uri = uri;
	ka.algo = tok_algo_name(algo);
	GUARD(audit_key_change(inst->audit, inst->key[GP_KEY_AUDIT],
	    inst->actor, cert, &inst->cert[GP_KEY_CA], 1, inst_key_apply,
	    &ka));
	committed = 1;
	/* First, before anything can fail: this process signs its last
	 * checkpoint with the key now in effect. */
	inst_key_switch(inst, &key, &cert, &uri);
	if ((r = inst_new_file_commit(&pem)) != 0 ||
	    (r = inst_new_file_commit(&conf)) != 0) {
		r = gp_err_set(r, "the audit log has the new audit key in "
		    "effect, but %s; move %s" INST_NEW_SUFFIX " (and %s"
		    INST_NEW_SUFFIX ", if it is still there) onto the files "
		    "without the suffix before the server starts",
		    gp_err_detail(), pem.path, conf.path);
		goto out;
	}
	GUARD(audit_key_in_effect(inst->st, &info));
	out->key_seq = info.seq;
	(void)json_object_set_new(details, "record", json_integer(info.seq));
	r = 0;
out:
	if (r != 0 && !committed) {
		/* Nothing of the change was kept; the old key stays. */
		inst_new_file_drop(&pem);
		inst_new_file_drop(&conf);
		if (pub != NULL)
			(void)json_object_set_new(details, "unused_key",
			    json_string(out->key_uri));
	} else {
		free(pem.path);
		free(conf.path);
		free(pem.tmp);
		free(conf.tmp);
	}
	r = inst_key_finish(inst, "audit.rotate-key", r, details);
	json_decref(details);
	audit_key_info_clear(&info);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(key);
	X509_free(cert);
	free(uri);
	free(tok_pct);
	return r;
}

int
instance_audit_adopt(struct instance *inst,
    struct instance_audit_key_change *out)
{
	struct inst_new_file pem;
	struct inst_key_apply ka;
	struct audit_key_info info;
	X509 *cert = NULL;
	EVP_PKEY *none = NULL;
	char *no_uri = NULL;
	json_t *details = NULL;
	int r = GP_ERR_INTERNAL, committed = 0;

	memset(&pem, 0, sizeof(pem));
	memset(&info, 0, sizeof(info));
	memset(&ka, 0, sizeof(ka));
	GUARD(inst_key_begin(inst, out, &details));
	out->adopted = 1;
	snprintf(out->key_uri, sizeof(out->key_uri), "%s",
	    inst->cfg->key_uri[GP_KEY_AUDIT]);
	snprintf(out->new_spki, sizeof(out->new_spki), "%s", out->old_spki);
	(void)json_object_set_new(details, "key", json_string(out->key_uri));
	(void)json_object_set_new(details, "key_sha256",
	    json_string(out->old_spki));
	GUARD(audit_key_in_effect(inst->st, &info));
	ENSURE(info.seq == 0, gp_err_set(GP_ERR_CONFLICT, "the audit log "
	    "records its audit key already (record %lld): there is nothing "
	    "to adopt", (long long)info.seq));
	r = audit_key_pair_check(inst->key[GP_KEY_AUDIT],
	    inst->cert[GP_KEY_AUDIT]);
	if (r == GP_ERR_CONFLICT)
		r = gp_err_set(GP_ERR_CONFLICT, "keys.audit (%s) is not the key "
		    "of %s/certs/audit.pem", out->key_uri, inst->cfg->dir);
	GUARD(r);
	/* The same key, certified again, now with the audit EKU that the
	 * certificate of an older init lacks. */
	GUARD(inst_new_cert(inst, X509_get0_pubkey(inst->cert[GP_KEY_AUDIT]),
	    &cert, out->serial));
	(void)json_object_set_new(details, "serial", json_string(out->serial));
	GUARD(inst_new_pem(inst->cfg->dir, cert, &pem));
	ka.inst = inst;
	ka.cert = cert;
	GUARD(audit_key_adopt(inst->audit, inst->key[GP_KEY_AUDIT],
	    inst->actor, cert, &inst->cert[GP_KEY_CA], 1, inst_key_apply,
	    &ka));
	committed = 1;
	inst_key_switch(inst, &none, &cert, &no_uri);
	if ((r = inst_new_file_commit(&pem)) != 0) {
		r = gp_err_set(r, "the audit log records the adopted key, but "
		    "%s; move %s" INST_NEW_SUFFIX " onto %s before the server "
		    "starts", gp_err_detail(), pem.path, pem.path);
		goto out;
	}
	audit_key_info_clear(&info);
	GUARD(audit_key_in_effect(inst->st, &info));
	out->key_seq = info.seq;
	(void)json_object_set_new(details, "record", json_integer(info.seq));
	r = 0;
out:
	if (r != 0 && !committed)
		inst_new_file_drop(&pem);
	else {
		free(pem.path);
		free(pem.tmp);
	}
	r = inst_key_finish(inst, "audit.adopt-key", r, details);
	json_decref(details);
	audit_key_info_clear(&info);
	X509_free(cert);
	return r;
}
