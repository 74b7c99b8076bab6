/*
 * inst_init.c: `govpki init`. Builds a complete instance in a hidden sibling
 * directory and renames it into place only when every step succeeded:
 * SoftHSM token with random PINs, the five service keys generated on the
 * token, their certificates (naming the --public-url), the admin TLS and
 * role certificates (checked against their profiles), the instance's own
 * copy of the profiles, the configuration, and a store whose audit log
 * records all of it and ends with a signed checkpoint. A failure removes the sibling and touches nothing
 * else; an existing instance or a non-empty directory is refused.
 */
#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <arpa/inet.h>
#include <openssl/pem.h>

#include "ca/ca.h"
#include "instance/instance.h"
#include "kmc/kmc.h"
#include "tsa/tsa.h"

#define INIT_PIN_LEN 16
#define INIT_MAX_ISSUED 16
#define DAY (24 * 3600)
#define YEAR (365 * DAY)

/* The tender agent (tender/) is the fourth: it creates tenders and runs
 * openings, and has none of the CA's powers. */
static const char *const init_roles[] = {"sysadmin", "officer", "auditor",
    "agent"};
#define INIT_ROLES (sizeof(init_roles) / sizeof(init_roles[0]))

struct init_issued {
	X509 *cert;       /* borrowed */
	const char *issuer;
	const char *profile;
	const char *role;
};

struct init_ctx {
	const struct instance_init_opts *opts;
	char *final_dir;
	char *tmp;
	struct gp_config *cfg;
	tok_ctx *tok;
	EVP_PKEY *pub[GP_KEY_COUNT];
	EVP_PKEY *seal_pub;   /* the default seal key "seal" (signer/) */
	X509 *seal_cert;
	EVP_PKEY *key[GP_KEY_COUNT];
	X509 *cert[GP_KEY_COUNT];
	X509 *tls_cert;
	EVP_PKEY *tls_key;
	X509 *admin_cert[INIT_ROLES];
	EVP_PKEY *admin_key[INIT_ROLES];
	struct init_issued issued[INIT_MAX_ISSUED];
	size_t issued_len;
	struct ca_profiles *profiles; /* DIR/policies, loaded */
	int64_t now;
	store *st;            /* opened early: a database that cannot be
	                       * reached changes nothing */
};

static int
init_rm_one(const char *path, const struct stat *sb, int flag,
    struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void
init_rm_tree(const char *path)
{
	(void)nftw(path, init_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Resolves |dir| to an absolute path whose parent exists, and refuses a
 * directory that already holds anything. */
static int
init_target(const char *dir, char **out_final, char **out_tmp)
{
	char *a = NULL, *b = NULL, *parent = NULL, *cfg = NULL;
	struct stat sb;
	DIR *d = NULL;
	struct dirent *de;
	int r = GP_ERR_INTERNAL;

	*out_final = NULL;
	*out_tmp = NULL;
	ENSURE(dir != NULL && dir[0] != '\0', gp_err_set(GP_ERR_INVALID,
	    "--dir: an instance directory is required"));
	ENSURE((a = strdup(dir)) != NULL && (b = strdup(dir)) != NULL,
	    GP_ERR_NOMEM);
	if ((parent = realpath(dirname(a), NULL)) == NULL) {
		r = gp_err_set(GP_ERR_NOT_FOUND,
		    "--dir %s: parent directory does not exist: %s", dir,
		    strerror(errno));
		goto out;
	}
	ENSURE(asprintf(out_final, "%s/%s", parent, basename(b)) >= 0,
	    GP_ERR_NOMEM);
	if (lstat(*out_final, &sb) == 0) {
		ENSURE(S_ISDIR(sb.st_mode), gp_err_set(GP_ERR_EXISTS,
		    "--dir %s exists and is not a directory; nothing changed",
		    dir));
		ENSURE((cfg = gp_path_join(*out_final, "govpki.json")) != NULL,
		    GP_ERR_NOMEM);
		ENSURE(access(cfg, F_OK) != 0, gp_err_set(GP_ERR_EXISTS,
		    "--dir %s is already a govpki instance; nothing changed "
		    "(serve it with `govpki serve --dir %s`)", dir, dir));
		ENSURE((d = opendir(*out_final)) != NULL, gp_err_set(GP_ERR_IO,
		    "--dir %s: %s", dir, strerror(errno)));
		while ((de = readdir(d)) != NULL) {
			ENSURE(strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0,
			    gp_err_set(GP_ERR_EXISTS, "--dir %s is not empty; "
			    "choose a new or empty directory; nothing changed",
			    dir));
		}
	}
	ENSURE(asprintf(out_tmp, "%s/.%s.init-%ld", parent, basename(b),
	    (long)getpid()) >= 0, GP_ERR_NOMEM);
	if (mkdir(*out_tmp, 0700) != 0) {
		r = gp_err_set(GP_ERR_IO, "--dir %s: cannot create it in %s: %s",
		    dir, parent, strerror(errno));
		goto out;
	}
	r = 0;
out:
	if (r != 0) {
		free(*out_final);
		free(*out_tmp);
		*out_final = NULL;
		*out_tmp = NULL;
	}
	if (d != NULL)
		closedir(d);
	free(a);
	free(b);
	free(parent);
	free(cfg);
	return r;
}

#ifndef GP_POLICIES_DIR
#define GP_POLICIES_DIR "/usr/local/share/govpki/policies"
#endif
#define INIT_MAX_PROFILE_BYTES (1024 * 1024)
#define INIT_MAX_PROFILES 256

/* Copies every regular *.json file of |src| into |dst| (which exists);
 * counts them in *n. |what| names the source in errors. */
static int
init_copy_json(const char *src, const char *dst, const char *what,
    size_t *n)
{
	DIR *d = NULL;
	struct dirent *de;
	struct stat sb;
	char *from = NULL, *to = NULL;
	uint8_t *buf = NULL;
	size_t len, nl;
	int r = GP_ERR_INTERNAL;

	if ((d = opendir(src)) == NULL) {
		r = gp_err_set(GP_ERR_NOT_FOUND, "%s %s: %s (give the "
		    "profiles to copy with --profiles DIR)", what, src,
		    strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		nl = strlen(de->d_name);
		if (nl < 6 || de->d_name[0] == '.' ||
		    strcmp(de->d_name + nl - 5, ".json") != 0)
			continue;
		ENSURE((from = gp_path_join(src, de->d_name)) != NULL &&
		    (to = gp_path_join(dst, de->d_name)) != NULL,
		    GP_ERR_NOMEM);
		if (stat(from, &sb) == 0 && S_ISREG(sb.st_mode)) {
			ENSURE(++*n <= INIT_MAX_PROFILES, gp_err_set(
			    GP_ERR_TOO_LARGE, "%s %s: more than %d files",
			    what, src, INIT_MAX_PROFILES));
			GUARD(gp_file_read(from, INIT_MAX_PROFILE_BYTES, &buf,
			    &len));
			GUARD(gp_file_write(to, buf, len, 0644, 1));
			free(buf);
			buf = NULL;
		}
		free(from);
		free(to);
		from = to = NULL;
	}
	r = 0;
out:
	if (d != NULL)
		closedir(d);
	free(from);
	free(to);
	free(buf);
	return r;
}

/* The instance's own profiles: DIR/policies and DIR/policies/approvals,
 * copied from the installed ones (or --profiles), named in govpki.json
 * relative to DIR, and loaded once so that a bad file stops init. */
static int
init_profiles(struct init_ctx *ic)
{
	const char *src = ic->opts->profiles != NULL ? ic->opts->profiles :
	    GP_POLICIES_DIR;
	const char *what = ic->opts->profiles != NULL ? "--profiles" :
	    "profiles";
	char *dst = NULL, *sa = NULL, *da = NULL;
	struct ca_profiles *ps = NULL;
	struct stat sb;
	size_t n = 0, na = 0;
	int r;

	ENSURE((dst = gp_path_join(ic->tmp, "policies")) != NULL &&
	    (da = gp_path_join(dst, "approvals")) != NULL &&
	    (sa = gp_path_join(src, "approvals")) != NULL, GP_ERR_NOMEM);
	GUARD(gp_mkdir(dst, 0755));
	GUARD(gp_mkdir(da, 0755));
	GUARD(init_copy_json(src, dst, what, &n));
	ENSURE(n > 0, gp_err_set(GP_ERR_NOT_FOUND, "%s %s: no *.json "
	    "profile in it", what, src));
	if (stat(sa, &sb) == 0)
		GUARD(init_copy_json(sa, da, what, &na));
	free(ic->cfg->profiles_dir);
	ic->cfg->profiles_dir = dst;
	dst = NULL; /* transferred */
	GUARD(ca_profiles_load(ic->cfg, &ps));
	ic->profiles = ps;
	ps = NULL; /* transferred */
	r = 0;
out:
	ca_profiles_free(ps);
	free(dst);
	free(da);
	free(sa);
	return r;
}

/* Checks --hostname and --public-url before anything is created; the
 * public URL, without its trailing '/', in *out_url (NULL when not given;
 * the caller frees it). */
static int
init_names(const struct instance_init_opts *opts, char **out_url)
{
	char *url = NULL;
	size_t i, n;
	int r;

	*out_url = NULL;
	for (i = 0; i < opts->hostnames_len; i++)
		GUARD(gp_hostname_check("--hostname", opts->hostnames[i]));
	if (opts->store_url != NULL)
		GUARD(gp_store_url_check("--store", opts->store_url));
	ENSURE(opts->store_url != NULL || (opts->store_password_file == NULL &&
	    opts->store_password_env == NULL), gp_err_set(GP_ERR_INVALID,
	    "--store-password-file and --store-password-env need --store"));
	if (opts->public_url != NULL) {
		ENSURE((url = strdup(opts->public_url)) != NULL, GP_ERR_NOMEM);
		n = strlen(url);
		while (n > 0 && url[n - 1] == '/' && (n < 2 ||
		    url[n - 2] != '/'))
			url[--n] = '\0';
		GUARD(gp_public_url_check("--public-url", url));
	}
	*out_url = url;
	url = NULL; /* transferred */
	r = 0;
out:
	free(url);
	return r;
}

static int
init_write(const struct init_ctx *ic, const char *name, BIO *bio,
    unsigned int mode)
{
	char *path;
	char *data;
	long len;
	int r;

	if ((path = gp_path_join(ic->tmp, name)) == NULL)
		return GP_ERR_NOMEM;
	len = BIO_get_mem_data(bio, &data);
	r = gp_file_write(path, data, (size_t)len, mode, 1);
	free(path);
	return r;
}

static int
init_write_certs(const struct init_ctx *ic, const char *name,
    X509 *const *certs, size_t n)
{
	BIO *bio;
	size_t i;
	int r = 0;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return GP_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		if (!PEM_write_bio_X509(bio, certs[i]))
			r = gp_err_ssl(GP_ERR_CRYPTO, "%s", name);
	}
	if (r == 0)
		r = init_write(ic, name, bio, 0644);
	BIO_free(bio);
	return r;
}

static int
init_write_key(const struct init_ctx *ic, const char *name, EVP_PKEY *key)
{
	BIO *bio;
	int r;

	if ((bio = BIO_new(BIO_s_secmem())) == NULL)
		return GP_ERR_NOMEM;
	if (!PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
		r = gp_err_ssl(GP_ERR_CRYPTO, "%s", name);
	else
		r = init_write(ic, name, bio, 0600);
	BIO_free(bio);
	return r;
}

static int
init_name(const char *cn, const char *org, const char *title,
    X509_NAME **out)
{
	X509_NAME *n;

	*out = NULL;
	if ((n = X509_NAME_new()) == NULL)
		return GP_ERR_NOMEM;
	if (!X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
	    (const unsigned char *)org, -1, -1, 0) ||
	    (title != NULL && !X509_NAME_add_entry_by_txt(n, "title",
	    MBSTRING_UTF8, (const unsigned char *)title, -1, -1, 0))) {
		X509_NAME_free(n);
		return gp_err_ssl(GP_ERR_CRYPTO, "name %s", cn);
	}
	*out = n;
	return 0;
}

static void
init_record(struct init_ctx *ic, X509 *cert, const char *issuer,
    const char *profile, const char *role)
{
	if (ic->issued_len < INIT_MAX_ISSUED) {
		ic->issued[ic->issued_len].cert = cert;
		ic->issued[ic->issued_len].issuer = issuer;
		ic->issued[ic->issued_len].profile = profile;
		ic->issued[ic->issued_len].role = role;
		ic->issued_len++;
	}
}

/* Issues one certificate for |pub| under |issuer| (GP_KEY_ROOT or
 * GP_KEY_CA), filling in the URLs of the configuration. */
static int
init_issue(struct init_ctx *ic, const char *cn, const char *title,
    EVP_PKEY *pub, int issuer, struct ca_cert_spec *spec, X509 **out)
{
	X509_NAME *name = NULL;
	char *serial = NULL, *crl = NULL, *ocsp = NULL, *ca_url = NULL;
	const char *iname = gp_key_names[issuer];
	int self = issuer == GP_KEY_ROOT && ic->cert[GP_KEY_ROOT] == NULL;
	int r;

	GUARD(init_name(cn, ic->cfg->instance_name, title, &name));
	spec->subject = name;
	spec->pubkey = pub;
	spec->issuer_cert = self ? NULL : ic->cert[issuer];
	spec->issuer_key = ic->key[issuer];
	spec->not_before = ic->now - 60;
	if (!self) {
		ENSURE(asprintf(&crl, "%s/crl/%s.crl", ic->cfg->public_url,
		    iname) >= 0 && asprintf(&ocsp, "%s/ocsp",
		    ic->cfg->public_url) >= 0 && asprintf(&ca_url,
		    "%s/certs/%s.crt", ic->cfg->public_url, iname) >= 0,
		    GP_ERR_NOMEM);
		spec->crl_url = crl;
		/* The OCSP responder is authorised by the issuing CA only
		 * (RFC 6960 4.2.2.2) and answers "unauthorized" for the
		 * root's certificates: those carry the root's CRL. The
		 * responder's own certificate has id-pkix-ocsp-nocheck. */
		spec->ocsp_url = spec->ocsp_nocheck || issuer == GP_KEY_ROOT ?
		    NULL : ocsp;
		spec->ca_issuers_url = ca_url;
		/* RFC 5280 6.1.3 (a)(2): stay inside the issuer's validity. */
		{
			const ASN1_TIME *na =
			    X509_get0_notAfter(ic->cert[issuer]);
			struct tm tm;
			if (ASN1_TIME_to_tm(na, &tm) &&
			    (int64_t)timegm(&tm) < spec->not_after)
				spec->not_after = (int64_t)timegm(&tm);
		}
	}
	GUARD(ca_cert_sign(spec, out, &serial));
	r = 0;
out:
	X509_NAME_free(name);
	free(serial);
	free(crl);
	free(ocsp);
	free(ca_url);
	return r;
}

static int
init_sw_key(EVP_PKEY **out)
{
	if ((*out = EVP_EC_gen("P-256")) == NULL)
		return gp_err_ssl(GP_ERR_CRYPTO, "generating a P-256 key");
	return 0;
}

static int
init_san(const struct init_ctx *ic, char **out)
{
	char *san = NULL, *next;
	unsigned char ip[16];
	size_t i;

	if ((san = strdup("DNS:localhost,IP:127.0.0.1")) == NULL)
		return GP_ERR_NOMEM;
	for (i = 0; i < ic->cfg->hostnames_len; i++) {
		const char *h = ic->cfg->hostnames[i];
		int is_ip = inet_pton(AF_INET, h, ip) == 1 ||
		    inet_pton(AF_INET6, h, ip) == 1;
		if (strcmp(h, "localhost") == 0 || strcmp(h, "127.0.0.1") == 0)
			continue;
		if (asprintf(&next, "%s,%s:%s", san, is_ip ? "IP" : "DNS",
		    h) < 0) {
			free(san);
			return GP_ERR_NOMEM;
		}
		free(san);
		san = next;
	}
	*out = san;
	return 0;
}

static int
init_certs(struct init_ctx *ic)
{
	struct ca_cert_spec spec;
	struct ca_profile_text pt = {0};
	char *san = NULL;
	size_t i;
	int r;

	/* Root: 20 years, may sign one level of CAs. */
	memset(&spec, 0, sizeof(spec));
	spec.not_after = ic->now + 20 * YEAR;
	spec.is_ca = 1;
	spec.path_len = 1;
	spec.key_usage = "critical,keyCertSign,cRLSign";
	GUARD(init_issue(ic, "govpki Root CA", NULL, ic->pub[GP_KEY_ROOT],
	    GP_KEY_ROOT, &spec, &ic->cert[GP_KEY_ROOT]));
	init_record(ic, ic->cert[GP_KEY_ROOT], "root", "root", NULL);

	memset(&spec, 0, sizeof(spec));
	spec.not_after = ic->now + 10 * YEAR;
	spec.is_ca = 1;
	spec.path_len = 0;
	spec.key_usage = "critical,keyCertSign,cRLSign";
	GUARD(init_issue(ic, "govpki Issuing CA", NULL, ic->pub[GP_KEY_CA],
	    GP_KEY_ROOT, &spec, &ic->cert[GP_KEY_CA]));
	init_record(ic, ic->cert[GP_KEY_CA], "root", "sub-ca", NULL);

	/* RFC 3161 2.3: the TSA certificate has exactly one EKU,
	 * id-kp-timeStamping, and it is critical. */
	memset(&spec, 0, sizeof(spec));
	spec.not_after = ic->now + 5 * YEAR;
	spec.path_len = -1;
	spec.key_usage = "critical,digitalSignature,nonRepudiation";
	spec.ext_key_usage = "critical,timeStamping";
	GUARD(init_issue(ic, "govpki Time-Stamping Authority", NULL,
	    ic->pub[GP_KEY_TSA], GP_KEY_CA, &spec, &ic->cert[GP_KEY_TSA]));
	init_record(ic, ic->cert[GP_KEY_TSA], "ca", "tsa", NULL);

	/* RFC 6960 4.2.2.2: a delegated responder carries id-kp-OCSPSigning;
	 * id-pkix-ocsp-nocheck so clients need not check it, hence short. */
	memset(&spec, 0, sizeof(spec));
	spec.not_after = ic->now + YEAR;
	spec.path_len = -1;
	spec.key_usage = "critical,digitalSignature";
	spec.ext_key_usage = "OCSPSigning";
	spec.ocsp_nocheck = 1;
	GUARD(init_issue(ic, "govpki OCSP Responder", NULL,
	    ic->pub[GP_KEY_OCSP], GP_KEY_CA, &spec, &ic->cert[GP_KEY_OCSP]));
	init_record(ic, ic->cert[GP_KEY_OCSP], "ca", "ocsp-signer", NULL);

	/* The audit certificate is the one rotate-key and adopt-key make
	 * too (inst_audit_key.c). */
	GUARD(instance_audit_cert_issue(ic->cfg, ic->cert[GP_KEY_CA],
	    ic->key[GP_KEY_CA], ic->pub[GP_KEY_AUDIT], ic->now,
	    &ic->cert[GP_KEY_AUDIT]));
	init_record(ic, ic->cert[GP_KEY_AUDIT], "ca", "audit", NULL);

	/* The default server seal (POST /api/v1/sign): a document-signing
	 * key, so digitalSignature and nonRepudiation only. */
	memset(&spec, 0, sizeof(spec));
	spec.not_after = ic->now + 5 * YEAR;
	spec.path_len = -1;
	spec.key_usage = "critical,digitalSignature,nonRepudiation";
	GUARD(init_issue(ic, "govpki Seal", NULL, ic->seal_pub, GP_KEY_CA,
	    &spec, &ic->seal_cert));
	init_record(ic, ic->seal_cert, "ca", "seal", NULL);

	/* The admin listener's TLS certificate: a software key, like any web
	 * server's, readable only by the instance owner. It obeys the
	 * tls-server profile it is recorded under: at most its 398 days
	 * (CA/B BR 6.3.2), its key usage, EKU and policies, checked as
	 * issuance checks. */
	GUARD(init_sw_key(&ic->tls_key));
	GUARD(init_san(ic, &san));
	memset(&spec, 0, sizeof(spec));
	spec.not_before = ic->now - 60;
	spec.not_after = ic->now + 2 * YEAR; /* cut to the profile's */
	GUARD(ca_cert_profile_spec(ic->profiles, "tls-server", &spec, &pt));
	spec.san = san;
	GUARD(init_issue(ic, "localhost", NULL, ic->tls_key, GP_KEY_CA, &spec,
	    &ic->tls_cert));
	GUARD(ca_cert_profile_check(ic->profiles, "tls-server", ic->tls_cert,
	    ic->cert[GP_KEY_CA]));
	ca_profile_text_clear(&pt);
	init_record(ic, ic->tls_cert, "ca", "tls-server", NULL);

	/* The role certificates obey the officer profile likewise. */
	for (i = 0; i < INIT_ROLES; i++) {
		char cn[64];
		snprintf(cn, sizeof(cn), "govpki %s", init_roles[i]);
		GUARD(init_sw_key(&ic->admin_key[i]));
		memset(&spec, 0, sizeof(spec));
		spec.not_before = ic->now - 60;
		spec.not_after = ic->now + YEAR;
		GUARD(ca_cert_profile_spec(ic->profiles, "officer", &spec,
		    &pt));
		GUARD(init_issue(ic, cn, init_roles[i], ic->admin_key[i],
		    GP_KEY_CA, &spec, &ic->admin_cert[i]));
		GUARD(ca_cert_profile_check(ic->profiles, "officer",
		    ic->admin_cert[i], ic->cert[GP_KEY_CA]));
		ca_profile_text_clear(&pt);
		init_record(ic, ic->admin_cert[i], "ca", "officer",
		    init_roles[i]);
	}
	r = 0;
out:
	ca_profile_text_clear(&pt);
	free(san);
	return r;
}

static int
init_files(struct init_ctx *ic)
{
	X509 *chain[3];
	char name[64];
	size_t i;
	json_t *cfg = NULL;
	char *text = NULL;
	int r;

	for (i = 0; i < GP_KEY_COUNT; i++) {
		snprintf(name, sizeof(name), "certs/%s.pem", gp_key_names[i]);
		GUARD(init_write_certs(ic, name, &ic->cert[i], 1));
		/* Certificates are written back to the token beside their
		 * keys, as a USB key holds its own. */
		GUARD(tok_cert_write(ic->tok, ic->cfg->token_label,
		    gp_key_names[i], ic->cert[i]));
	}
	GUARD(init_write_certs(ic, "certs/seal.pem", &ic->seal_cert, 1));
	GUARD(tok_cert_write(ic->tok, ic->cfg->token_label, "seal",
	    ic->seal_cert));
	chain[0] = ic->cert[GP_KEY_CA];
	chain[1] = ic->cert[GP_KEY_ROOT];
	GUARD(init_write_certs(ic, "certs/chain.pem", chain, 2));
	/* The server sends its chain: leaf, then the issuing CA. */
	chain[0] = ic->tls_cert;
	chain[1] = ic->cert[GP_KEY_CA];
	GUARD(init_write_certs(ic, "tls/server.pem", chain, 2));
	GUARD(init_write_key(ic, "tls/server.key", ic->tls_key));
	for (i = 0; i < INIT_ROLES; i++) {
		snprintf(name, sizeof(name), "admin/%s.pem", init_roles[i]);
		GUARD(init_write_certs(ic, name, &ic->admin_cert[i], 1));
		snprintf(name, sizeof(name), "admin/%s.key", init_roles[i]);
		GUARD(init_write_key(ic, name, ic->admin_key[i]));
	}
	ENSURE((cfg = gp_config_to_json(ic->cfg)) != NULL, GP_ERR_NOMEM);
	ENSURE((text = json_dumps(cfg, JSON_INDENT(2) | JSON_SORT_KEYS)) !=
	    NULL, GP_ERR_NOMEM);
	{
		char *path = gp_path_join(ic->tmp, "govpki.json");
		size_t n = strlen(text);
		ENSURE(path != NULL, GP_ERR_NOMEM);
		text[n] = '\n'; /* json_dumps leaves room only for the NUL */
		r = gp_file_write(path, text, n, 0644, 1);
		free(path);
		GUARD(r);
	}
	r = 0;
out:
	json_decref(cfg);
	free(text);
	return r;
}

static int
init_audit_event(audit *a, const char *actor, const char *op,
    const char *object, json_t *details)
{
	struct audit_event ev;
	int r;

	memset(&ev, 0, sizeof(ev));
	ev.actor = actor;
	ev.role = "local";
	ev.op = op;
	ev.object = object;
	ev.outcome = "success";
	ev.details = details;
	r = audit_append_tx(a, &ev, NULL);
	json_decref(details);
	return r;
}

/* The store, with every issued certificate and the audit trail of init, in
 * one transaction, then a signed checkpoint. */
static int
init_store(struct init_ctx *ic, const char *actor)
{
	store *st = ic->st;
	audit *a = NULL;
	char *subject = NULL;
	struct store_cert sc;
	size_t i;
	int in_tx = 0, r, sens, extr;

	GUARD(audit_new(st, &a));
	GUARD(store_begin(st));
	in_tx = 1;
	GUARD(init_audit_event(a, actor, "instance.init", ic->final_dir,
	    json_pack("{s:s, s:s}", "algo", tok_algo_name(ic->opts->algo),
	    "module", ic->cfg->module)));
	GUARD(init_audit_event(a, actor, "token.init", ic->cfg->token_label,
	    json_pack("{s:s}", "pins", "random, in secrets/")));
	for (i = 0; i < GP_KEY_COUNT; i++) {
		/* The token must say the key can never leave it. */
		GUARD(tok_key_attrs(ic->tok, ic->cfg->key_uri[i], &sens,
		    &extr));
		ENSURE(sens == 1 && extr == 0, gp_err_set(GP_ERR_DEVICE,
		    "key %s: token reports sensitive=%d extractable=%d",
		    ic->cfg->key_uri[i], sens, extr));
		GUARD(init_audit_event(a, actor, "key.generate",
		    ic->cfg->key_uri[i], json_pack("{s:s, s:b, s:b}", "algo",
		    tok_algo_name(ic->opts->algo), "sensitive", sens,
		    "extractable", extr)));
	}
	for (i = 0; i < ic->cfg->seals_len; i++) {
		GUARD(tok_key_attrs(ic->tok, ic->cfg->seals[i].key_uri, &sens,
		    &extr));
		ENSURE(sens == 1 && extr == 0, gp_err_set(GP_ERR_DEVICE,
		    "key %s: token reports sensitive=%d extractable=%d",
		    ic->cfg->seals[i].key_uri, sens, extr));
		GUARD(init_audit_event(a, actor, "key.generate",
		    ic->cfg->seals[i].key_uri, json_pack("{s:s, s:b, s:b}",
		    "algo", tok_algo_name(ic->opts->algo), "sensitive", sens,
		    "extractable", extr)));
	}
	GUARD(tok_wrapkey_attrs(ic->tok, ic->cfg->token_label, KMC_WRAP_LABEL,
	    &sens, &extr));
	ENSURE(sens == 1 && extr == 0, gp_err_set(GP_ERR_DEVICE, "KMC storage "
	    "key %s: token reports sensitive=%d extractable=%d", KMC_WRAP_LABEL,
	    sens, extr));
	GUARD(init_audit_event(a, actor, "kmc.key.generate", KMC_WRAP_LABEL,
	    json_pack("{s:s, s:b, s:b}", "algo", "aes-256", "sensitive", sens,
	    "extractable", extr)));
	for (i = 0; i < ic->issued_len; i++) {
		X509 *c = ic->issued[i].cert;
		const ASN1_TIME *t;
		struct tm tm;
		unsigned char *der = NULL;
		int len;

		memset(&sc, 0, sizeof(sc));
		ENSURE((sc.serial = ca_serial_hex(c)) != NULL, GP_ERR_NOMEM);
		subject = X509_NAME_oneline(X509_get_subject_name(c), NULL, 0);
		sc.subject = subject;
		sc.issuer = (char *)ic->issued[i].issuer;
		sc.profile = (char *)ic->issued[i].profile;
		sc.role = (char *)ic->issued[i].role;
		t = X509_get0_notBefore(c);
		sc.not_before = ASN1_TIME_to_tm(t, &tm) ? (int64_t)timegm(&tm) : 0;
		t = X509_get0_notAfter(c);
		sc.not_after = ASN1_TIME_to_tm(t, &tm) ? (int64_t)timegm(&tm) : 0;
		sc.status = (char *)"good";
		sc.reason = -1;
		sc.created_ms = gp_now_ms();
		len = i2d_X509(c, &der);
		sc.der = der;
		sc.der_len = len > 0 ? (size_t)len : 0;
		r = len > 0 ? store_cert_insert(st, &sc) : GP_ERR_CRYPTO;
		if (r == 0)
			r = init_audit_event(a, actor, "cert.issue", sc.serial,
			    json_pack("{s:s, s:s, s:s, s:s?}", "profile",
			    sc.profile, "subject", subject ? subject : "",
			    "issuer", sc.issuer, "role", sc.role));
		OPENSSL_free(der);
		OPENSSL_free(subject);
		subject = NULL;
		free(sc.serial);
		GUARD(r);
	}
	GUARD(audit_key_record_tx(a, actor, ic->cert[GP_KEY_AUDIT],
	    &ic->cert[GP_KEY_CA], 1));
	in_tx = 0;
	GUARD(store_commit(st));
	GUARD(audit_checkpoint(a, ic->key[GP_KEY_AUDIT], 1));
	r = 0;
out:
	if (in_tx)
		store_rollback(st);
	audit_free(a);
	store_free(ic->st); /* closed before the directory moves */
	ic->st = NULL;
	return r;
}

static int
init_token(struct init_ctx *ic)
{
	char *user = NULL, *so = NULL, *path = NULL;
	size_t i;
	int r;

	GUARD(tok_pin_random(INIT_PIN_LEN, &user));
	GUARD(tok_pin_random(INIT_PIN_LEN, &so));
	ENSURE((path = gp_path_join(ic->tmp, "secrets/user.pin")) != NULL,
	    GP_ERR_NOMEM);
	GUARD(gp_file_write(path, user, strlen(user), 0600, 1));
	free(path);
	ENSURE((path = gp_path_join(ic->tmp, "secrets/so.pin")) != NULL,
	    GP_ERR_NOMEM);
	GUARD(gp_file_write(path, so, strlen(so), 0600, 1));
	GUARD(tok_ctx_new(ic->cfg->module, &ic->tok));
	GUARD(tok_init_token(ic->tok, ic->cfg->token_label, so, user));
	GUARD(tok_login(ic->tok, ic->cfg->token_label, user));
	for (i = 0; i < GP_KEY_COUNT; i++) {
		GUARD(tok_keygen(ic->tok, ic->cfg->token_label, gp_key_names[i],
		    ic->opts->algo, &ic->pub[i]));
		GUARD(tok_key_load(ic->tok, ic->cfg->key_uri[i], &ic->key[i]));
	}
	/* The default seal key (see instance_init: seals[0]). */
	GUARD(tok_keygen(ic->tok, ic->cfg->token_label, "seal",
	    ic->opts->algo, &ic->seal_pub));
	/* The key management centre's storage key (kmc/kmc.h). */
	GUARD(kmc_storage_key_create(ic->tok, ic->cfg->token_label,
	    KMC_WRAP_LABEL));
	r = 0;
out:
	gp_secret_free(user);
	gp_secret_free(so);
	free(path);
	return r;
}

static void
init_ctx_clear(struct init_ctx *ic)
{
	size_t i;

	for (i = 0; i < GP_KEY_COUNT; i++) {
		EVP_PKEY_free(ic->pub[i]);
		EVP_PKEY_free(ic->key[i]);
		X509_free(ic->cert[i]);
	}
	for (i = 0; i < INIT_ROLES; i++) {
		X509_free(ic->admin_cert[i]);
		EVP_PKEY_free(ic->admin_key[i]);
	}
	X509_free(ic->tls_cert);
	EVP_PKEY_free(ic->seal_pub);
	X509_free(ic->seal_cert);
	EVP_PKEY_free(ic->tls_key);
	tok_ctx_free(ic->tok);
	store_free(ic->st);
	ca_profiles_free(ic->profiles);
	gp_config_free(ic->cfg);
	free(ic->final_dir);
	free(ic->tmp);
}

int
instance_init(const struct instance_init_opts *opts)
{
	struct init_ctx ic;
	struct gp_config *final_cfg = NULL;
	static const char *const dirs[] = {"tokens", "secrets", "certs", "tls",
	    "admin"};
	char actor[128], *p, *leftover, *url = NULL;
	size_t i;
	int r;

	memset(&ic, 0, sizeof(ic));
	ic.opts = opts;
	ic.now = (int64_t)time(NULL);
	/* The names first: a bad one changes nothing. */
	GUARD(init_names(opts, &url));
	GUARD(init_target(opts->dir, &ic.final_dir, &ic.tmp));
	GUARD(gp_config_defaults(ic.tmp, &ic.cfg));
	if (url != NULL) {
		free(ic.cfg->public_url);
		ic.cfg->public_url = url;
		url = NULL; /* transferred */
	}
	if (opts->hostnames_len > 0) {
		ENSURE((ic.cfg->hostnames = calloc(opts->hostnames_len,
		    sizeof(char *))) != NULL, GP_ERR_NOMEM);
		for (i = 0; i < opts->hostnames_len; i++) {
			ENSURE((ic.cfg->hostnames[i] =
			    strdup(opts->hostnames[i])) != NULL, GP_ERR_NOMEM);
			ic.cfg->hostnames_len = i + 1;
		}
	}
	/* ETSI EN 319 421: no time-stamp while the clock is outside the
	 * declared accuracy, so "strict" (the default) whatever the clock
	 * says now. Only --dev-clock, for development machines without NTP,
	 * writes "warn", and `govpki serve` warns about it at every start. */
	if (opts->dev_clock) {
		free(ic.cfg->tsa_clock_check);
		ENSURE((ic.cfg->tsa_clock_check = strdup("warn")) != NULL,
		    GP_ERR_NOMEM);
		gp_log(GP_LOG_WARN, "init: --dev-clock: tsa.clock_check is "
		    "\"warn\": time-stamps are issued even when the clock is "
		    "unsynchronised. DEVELOPMENT ONLY; production runs NTP "
		    "and keeps \"strict\"");
	} else if (!tsa_clock_kernel_synced()) {
		gp_log(GP_LOG_WARN, "init: the kernel reports the clock "
		    "unsynchronised: tsa.clock_check stays \"strict\", so the "
		    "TSA refuses time-stamps (timeNotAvailable) and /healthz "
		    "answers 503 until NTP (or PTP) disciplines the clock. "
		    "On a development machine, `govpki init --dev-clock` "
		    "relaxes this");
	}
	if (opts->module != NULL) {
		free(ic.cfg->module);
		ENSURE((ic.cfg->module = strdup(opts->module)) != NULL,
		    GP_ERR_NOMEM);
	}
	if (opts->store_url != NULL) {
		ENSURE((ic.cfg->store_url = strdup(opts->store_url)) != NULL,
		    GP_ERR_NOMEM);
		ENSURE(opts->store_password_file == NULL ||
		    (ic.cfg->store_password_file = realpath(
		    opts->store_password_file, NULL)) != NULL, gp_err_set(
		    GP_ERR_INVALID, "--store-password-file %s: %s",
		    opts->store_password_file, strerror(errno)));
		ENSURE(opts->store_password_env == NULL ||
		    (ic.cfg->store_password_env = strdup(
		    opts->store_password_env)) != NULL, GP_ERR_NOMEM);
	}
	/* The store before the token: a database that cannot be reached,
	 * or holds a store already, leaves nothing behind. */
	GUARD(instance_store_open(ic.cfg, 1, NULL, &ic.st));
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		ENSURE((p = gp_path_join(ic.tmp, dirs[i])) != NULL,
		    GP_ERR_NOMEM);
		r = gp_mkdir(p, strcmp(dirs[i], "certs") == 0 ? 0755 : 0700);
		free(p);
		GUARD(r);
	}
	GUARD(init_profiles(&ic));
	GUARD(instance_softhsm_env(ic.cfg));
	{
		char *seal_uri = NULL;

		ENSURE(asprintf(&seal_uri, "pkcs11:token=%s;object=seal",
		    ic.cfg->token_label) > 0, GP_ERR_NOMEM);
		r = gp_config_add_seal(ic.cfg, "seal", seal_uri,
		    "certs/seal.pem", "officer");
		free(seal_uri);
		GUARD(r);
	}
	GUARD(init_token(&ic));
	GUARD(init_certs(&ic));
	GUARD(init_files(&ic));
	instance_local_actor(actor, sizeof(actor));
	GUARD(init_store(&ic, actor));
	/* Close the token before the directory moves under SoftHSM. */
	for (i = 0; i < GP_KEY_COUNT; i++) {
		EVP_PKEY_free(ic.key[i]);
		ic.key[i] = NULL;
	}
	tok_ctx_free(ic.tok);
	ic.tok = NULL;
	if (rename(ic.tmp, ic.final_dir) != 0) {
		r = gp_err_set(GP_ERR_IO, "--dir %s: %s; nothing changed",
		    opts->dir, strerror(errno));
		goto out;
	}
	free(ic.tmp);
	ic.tmp = NULL; /* now the instance itself: never removed */
	GUARD(gp_config_load(ic.final_dir, &final_cfg));
	GUARD(instance_softhsm_env(final_cfg));
	r = 0;
out:
	free(url);
	gp_config_free(final_cfg);
	leftover = ic.tmp;
	ic.tmp = NULL;
	init_ctx_clear(&ic); /* closes the token before its files go */
	if (leftover != NULL) {
		init_rm_tree(leftover);
		free(leftover);
	}
	return r;
}
