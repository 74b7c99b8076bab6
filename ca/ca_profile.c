/*
 * ca_profile.c: certificate profiles. One JSON file per profile in the
 * configured profiles directory (policies/ in the source tree), read and
 * validated once at start; a file that does not parse, names an unknown
 * field, or holds a value out of range stops start-up with
 * "<file>: <field>: <reason>". Issuance then reads the parsed profile only.
 *
 * The grammar (docs/profiles.md has an example of each):
 *   name, description, issuer ("ca" | "root"), key_types [..],
 *   max_validity_days, subject_fixed [{attribute, value}],
 *   subject [{field, attribute, required, check, prefix, max_length,
 *             in_certificate, store, values}],
 *   common_name_from, key_usage [..], key_usage_critical,
 *   extended_key_usage [..], extended_key_usage_critical, ca, path_len,
 *   ocsp_nocheck, policies [OID..], crl_distribution_point, aia_ocsp,
 *   aia_ca_issuers, san {dns, ip, email: forbidden|optional|required},
 *   dual_control.
 *
 * Names: max_length (characters) stays within RFC 5280's upper bound of
 * the attribute (ub-common-name 64, ub-organization-name 64 ...), the
 * prefix included, and defaults to it; a fixed value must be text
 * (ca_text_check). The role: at most one field stores it ("store":
 * "role", an enum of sysadmin, officer, auditor), only under dual
 * control, and title, where a role once was read from, is allowed on
 * that field only.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "ca/internal.h"

#define CA_MAX_PROFILES 64

struct ca_rd {
	const char *file;       /* base name, for messages */
};

static int
ca_perr(const struct ca_rd *rd, const char *field, const char *why)
{
	return gp_err_set(GP_ERR_CONFIG, "profile %s: %s: %s", rd->file, field,
	    why);
}

static const struct {
	const char *name;
	unsigned int bit;
} ca_key_names[] = {
	{"ec-p256", CA_KEY_EC_P256},
	{"ec-p384", CA_KEY_EC_P384},
	{"rsa-2048", CA_KEY_RSA_2048},
	{"rsa-3072", CA_KEY_RSA_3072},
	{"rsa-4096", CA_KEY_RSA_4096},
};

static const struct {
	const char *name;
	unsigned int bit;
} ca_ku_names[] = {
	{"digitalSignature", KU_DIGITAL_SIGNATURE},
	{"nonRepudiation", KU_NON_REPUDIATION},
	{"keyEncipherment", KU_KEY_ENCIPHERMENT},
	{"dataEncipherment", KU_DATA_ENCIPHERMENT},
	{"keyAgreement", KU_KEY_AGREEMENT},
	{"keyCertSign", KU_KEY_CERT_SIGN},
	{"cRLSign", KU_CRL_SIGN},
};

static const struct {
	const char *name;
	int nid;
} ca_eku_names[] = {
	{"serverAuth", NID_server_auth},
	{"clientAuth", NID_client_auth},
	{"codeSigning", NID_code_sign},
	{"emailProtection", NID_email_protect},
	{"timeStamping", NID_time_stamp},
	{"OCSPSigning", NID_OCSP_sign},
};

/* RFC 5280 Appendix A.1 upper bounds, in characters, of the attributes a
 * name may hold (ub-common-name, ub-organization-name ...). An attribute
 * not listed has none there; CA_MAX_FIELD_CHARS caps it. */
static const struct {
	int nid;
	size_t ub;
	const char *name;
} ca_bounds[] = {
	{NID_commonName, 64, "ub-common-name"},
	{NID_organizationName, 64, "ub-organization-name"},
	{NID_organizationalUnitName, 64, "ub-organizational-unit-name"},
	{NID_localityName, 128, "ub-locality-name"},
	{NID_stateOrProvinceName, 128, "ub-state-name"},
	{NID_title, 64, "ub-title"},
	{NID_serialNumber, 64, "ub-serial-number"},
	{NID_countryName, 2, "country name: two letters"},
	{NID_pseudonym, 128, "ub-pseudonym"},
	{NID_pkcs9_emailAddress, 255, "ub-emailaddress-length"},
};

/* The upper bound of attribute |nid| and its RFC 5280 name. */
static size_t
ca_attr_bound(int nid, const char **out_name)
{
	size_t i;

	for (i = 0; i < sizeof(ca_bounds) / sizeof(ca_bounds[0]); i++)
		if (ca_bounds[i].nid == nid) {
			*out_name = ca_bounds[i].name;
			return ca_bounds[i].ub;
		}
	*out_name = "govpki's cap";
	return CA_MAX_FIELD_CHARS;
}

static const char *const ca_roles[] = {"sysadmin", "officer", "auditor",
    "agent", NULL};

unsigned int
ca_key_type(const EVP_PKEY *key)
{
	int bits = EVP_PKEY_get_bits(key);
	char group[32];
	size_t glen = 0;

	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
		return bits == 2048 ? CA_KEY_RSA_2048 : bits == 3072 ?
		    CA_KEY_RSA_3072 : bits == 4096 ? CA_KEY_RSA_4096 : 0;
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_utf8_string_param(key, "group", group,
		    sizeof(group), &glen))
			return 0;
		if (strcmp(group, "prime256v1") == 0 ||
		    strcmp(group, "P-256") == 0)
			return CA_KEY_EC_P256;
		if (strcmp(group, "secp384r1") == 0 ||
		    strcmp(group, "P-384") == 0)
			return CA_KEY_EC_P384;
		return 0;
	default:
		return 0;
	}
}

const char *
ca_key_type_name(unsigned int bit)
{
	size_t i;

	for (i = 0; i < sizeof(ca_key_names) / sizeof(ca_key_names[0]); i++)
		if (ca_key_names[i].bit == bit)
			return ca_key_names[i].name;
	return "unsupported";
}

static int
ca_str(const struct ca_rd *rd, json_t *o, const char *field, int required,
    char **out)
{
	json_t *v = json_object_get(o, field);

	*out = NULL;
	if (v == NULL) {
		if (required)
			return ca_perr(rd, field, "required");
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > 1024)
		return ca_perr(rd, field, "must be a non-empty string of at "
		    "most 1024 bytes");
	if ((*out = strdup(json_string_value(v))) == NULL)
		return GP_ERR_NOMEM;
	return 0;
}

static int
ca_bool(const struct ca_rd *rd, json_t *o, const char *field, int dflt,
    int *out)
{
	json_t *v = json_object_get(o, field);

	*out = dflt;
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return ca_perr(rd, field, "must be true or false");
	*out = json_is_true(v);
	return 0;
}

static int
ca_int(const struct ca_rd *rd, json_t *o, const char *field, int64_t min,
    int64_t max, int64_t dflt, int64_t *out)
{
	json_t *v = json_object_get(o, field);
	char why[96];

	*out = dflt;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		snprintf(why, sizeof(why), "must be an integer in [%lld, %lld]",
		    (long long)min, (long long)max);
		return ca_perr(rd, field, why);
	}
	*out = json_integer_value(v);
	return 0;
}

static int
ca_known(const struct ca_rd *rd, json_t *o, const char *where,
    const char *const *known)
{
	const char *k;
	json_t *v;
	size_t i;
	char field[160];

	json_object_foreach(o, k, v) {
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(k, known[i]) == 0)
				break;
		if (known[i] == NULL) {
			snprintf(field, sizeof(field), "%s%s%.100s", where,
			    where[0] ? "." : "", k);
			return ca_perr(rd, field, "unknown field");
		}
	}
	return 0;
}

/* An attribute name OpenSSL knows; its NID. */
static int
ca_attr_nid(const struct ca_rd *rd, const char *field, const char *attr,
    int *out)
{
	int nid = OBJ_txt2nid(attr);

	if (nid == NID_undef)
		return ca_perr(rd, field, "unknown attribute type");
	*out = nid;
	return 0;
}

static int
ca_san_rule(const struct ca_rd *rd, json_t *san, const char *kind,
    enum ca_san_rule *out)
{
	json_t *v = json_object_get(san, kind);
	const char *s;
	char field[32];

	*out = CA_SAN_FORBIDDEN;
	if (v == NULL)
		return 0;
	snprintf(field, sizeof(field), "san.%s", kind);
	s = json_string_value(v);
	if (s != NULL && strcmp(s, "forbidden") == 0)
		*out = CA_SAN_FORBIDDEN;
	else if (s != NULL && strcmp(s, "optional") == 0)
		*out = CA_SAN_OPTIONAL;
	else if (s != NULL && strcmp(s, "required") == 0)
		*out = CA_SAN_REQUIRED;
	else
		return ca_perr(rd, field, "must be forbidden, optional or "
		    "required");
	return 0;
}

static int
ca_field_parse(const struct ca_rd *rd, json_t *o, size_t idx,
    struct ca_field *f)
{
	static const char *const known[] = {"field", "attribute", "required",
	    "check", "prefix", "max_length", "in_certificate", "store",
	    "values", NULL};
	char where[32];
	char *check = NULL, *col = NULL;
	json_t *vals, *v;
	int64_t ml;
	size_t i;
	int r;

	char file[160], why[160];
	struct ca_rd rd2;
	const char *bound_name;
	size_t bound, plen;

	snprintf(where, sizeof(where), "subject[%zu]", idx);
	ENSURE(json_is_object(o), ca_perr(rd, where, "must be an object"));
	GUARD(ca_known(rd, o, where, known));
	/* Errors below name "<file>: subject[i].<key>". */
	snprintf(file, sizeof(file), "%s: %s", rd->file, where);
	rd2.file = file;
	rd = &rd2;
	GUARD(ca_str(rd, o, "field", 1, &f->name));
	GUARD(ca_str(rd, o, "attribute", 1, &f->attribute));
	GUARD(ca_attr_nid(rd, "attribute", f->attribute, &f->nid));
	GUARD(ca_bool(rd, o, "required", 0, &f->required));
	GUARD(ca_bool(rd, o, "in_certificate", 1, &f->in_certificate));
	GUARD(ca_str(rd, o, "prefix", 0, &f->prefix));
	GUARD(ca_int(rd, o, "max_length", 1, 1024, 0, &ml));
	/* RFC 5280 Appendix A: the value, prefix included, within the
	 * attribute's upper bound. */
	bound = ca_attr_bound(f->nid, &bound_name);
	plen = f->prefix != NULL ? strlen(f->prefix) : 0;
	ENSURE(plen < bound, ca_perr(rd, "prefix", "longer than the "
	    "attribute allows"));
	if (ml == 0) {
		f->max_length = bound - plen < CA_MAX_FIELD_CHARS ?
		    bound - plen : CA_MAX_FIELD_CHARS;
	} else {
		snprintf(why, sizeof(why), "at most %zu for %s (RFC 5280 %s, "
		    "%zu%s)", bound - plen, f->attribute, bound_name, bound,
		    plen ? " with the prefix" : "");
		ENSURE((size_t)ml <= bound - plen, ca_perr(rd, "max_length",
		    why));
		f->max_length = (size_t)ml;
	}
	GUARD(ca_str(rd, o, "check", 0, &check));
	if (check == NULL || strcmp(check, "text") == 0)
		f->check = CA_CHECK_TEXT;
	else if (strcmp(check, "uscc") == 0)
		f->check = CA_CHECK_USCC;
	else if (strcmp(check, "resident_id") == 0)
		f->check = CA_CHECK_RESIDENT_ID;
	else if (strcmp(check, "enum") == 0)
		f->check = CA_CHECK_ENUM;
	else if (strcmp(check, "dns") == 0)
		f->check = CA_CHECK_DNS;
	else {
		r = ca_perr(rd, "check", "must be text, uscc, resident_id, enum or "
		    "dns");
		goto out;
	}
	GUARD(ca_str(rd, o, "store", 0, &col));
	if (col == NULL)
		f->store = CA_COL_NONE;
	else if (strcmp(col, "uscc") == 0)
		f->store = CA_COL_USCC;
	else if (strcmp(col, "id_number") == 0)
		f->store = CA_COL_ID_NUMBER;
	else if (strcmp(col, "role") == 0)
		f->store = CA_COL_ROLE;
	else {
		r = ca_perr(rd, "store", "must be uscc, id_number or role");
		goto out;
	}
	vals = json_object_get(o, "values");
	if (f->check == CA_CHECK_ENUM) {
		ENSURE(json_is_array(vals) && json_array_size(vals) > 0 &&
		    json_array_size(vals) <= CA_MAX_VALUES, ca_perr(rd, "values",
		    "an enum needs 1 to 8 values"));
		json_array_foreach(vals, i, v) {
			ENSURE(json_is_string(v) && json_string_length(v) > 0,
			    ca_perr(rd, "values", "must be strings"));
			ENSURE((f->values[i] = strdup(json_string_value(v))) !=
			    NULL, GP_ERR_NOMEM);
			f->values_len = i + 1;
		}
	} else {
		ENSURE(vals == NULL, ca_perr(rd, "values", "only for check enum"));
	}
	ENSURE(f->in_certificate || f->store != CA_COL_NONE, ca_perr(rd,
	    "in_certificate",
	    "a field kept out of the certificate must be stored"));
	if (f->store == CA_COL_ROLE) {
		ENSURE(f->check == CA_CHECK_ENUM, ca_perr(rd, "check", "a role "
		    "field is an enum of sysadmin, officer, auditor, agent"));
		for (i = 0; i < f->values_len; i++) {
			size_t k;
			for (k = 0; ca_roles[k] != NULL; k++)
				if (strcmp(ca_roles[k], f->values[i]) == 0)
					break;
			ENSURE(ca_roles[k] != NULL, ca_perr(rd, "values", "a "
			    "role is sysadmin, officer, auditor or agent"));
		}
	}
	/* The title attribute is where an administrative role used to be
	 * read from: only the field that stores the role may set it. */
	ENSURE(f->nid != NID_title || f->store == CA_COL_ROLE, ca_perr(rd,
	    "attribute", "title is for the administrative role; only a field "
	    "with \"store\": \"role\" (under dual control) may use it"));
	r = 0;
out:
	free(check);
	free(col);
	return r;
}

static int
ca_str_list(const struct ca_rd *rd, json_t *o, const char *field,
    json_t **out)
{
	json_t *v = json_object_get(o, field), *e;
	size_t i;

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_array(v))
		return ca_perr(rd, field, "must be an array of strings");
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			return ca_perr(rd, field, "must be an array of strings");
	}
	*out = v;
	return 0;
}

static int
ca_profile_parse(const struct ca_rd *rd, json_t *root, struct ca_profile *p)
{
	static const char *const known[] = {"name", "description", "issuer",
	    "key_types", "max_validity_days", "subject_fixed", "subject",
	    "common_name_from", "key_usage", "key_usage_critical",
	    "extended_key_usage", "extended_key_usage_critical", "ca",
	    "path_len", "ocsp_nocheck", "policies", "crl_distribution_point",
	    "aia_ocsp", "aia_ca_issuers", "san", "dual_control",
	    "encryption_twin", NULL};
	static const char *const san_known[] = {"dns", "ip", "email", NULL};
	static const char *const fixed_known[] = {"attribute", "value", NULL};
	char *issuer = NULL, fld[192];
	const char *bname;
	json_t *a, *e, *san;
	int64_t n;
	size_t i, j, k;
	int r;

	ENSURE(json_is_object(root), ca_perr(rd, "(top)", "must be an "
	    "object"));
	GUARD(ca_known(rd, root, "", known));
	GUARD(ca_str(rd, root, "name", 1, &p->name));
	for (i = 0; p->name[i]; i++)
		ENSURE((p->name[i] >= 'a' && p->name[i] <= 'z') ||
		    (p->name[i] >= '0' && p->name[i] <= '9') ||
		    p->name[i] == '-', ca_perr(rd, "name", "only a-z, 0-9 "
		    "and -"));
	GUARD(ca_str(rd, root, "description", 0, &p->description));
	GUARD(ca_str(rd, root, "issuer", 0, &issuer));
	if (issuer == NULL || strcmp(issuer, "ca") == 0)
		p->issuer = GP_KEY_CA;
	else if (strcmp(issuer, "root") == 0)
		p->issuer = GP_KEY_ROOT;
	else {
		r = ca_perr(rd, "issuer", "must be ca or root");
		goto out;
	}

	GUARD(ca_str_list(rd, root, "key_types", &a));
	ENSURE(a != NULL && json_array_size(a) > 0, ca_perr(rd, "key_types",
	    "at least one key type is required"));
	json_array_foreach(a, i, e) {
		for (k = 0; k < sizeof(ca_key_names) / sizeof(ca_key_names[0]);
		    k++)
			if (strcmp(json_string_value(e), ca_key_names[k].name)
			    == 0)
				break;
		ENSURE(k < sizeof(ca_key_names) / sizeof(ca_key_names[0]),
		    ca_perr(rd, "key_types", "unknown key type (ec-p256, "
		    "ec-p384, rsa-2048, rsa-3072, rsa-4096)"));
		p->key_types |= ca_key_names[k].bit;
	}
	GUARD(ca_int(rd, root, "max_validity_days", 1, 7300, -1, &n));
	ENSURE(n > 0, ca_perr(rd, "max_validity_days", "required"));
	p->max_validity_days = n;

	a = json_object_get(root, "subject_fixed");
	if (a != NULL) {
		ENSURE(json_is_array(a) && json_array_size(a) <= CA_MAX_FIXED,
		    ca_perr(rd, "subject_fixed", "an array of at most 4"));
		json_array_foreach(a, i, e) {
			struct ca_fixed *fx = &p->fixed[i];
			snprintf(fld, sizeof(fld), "subject_fixed[%zu]", i);
			ENSURE(json_is_object(e), ca_perr(rd, fld, "must be an "
			    "object"));
			GUARD(ca_known(rd, e, fld, fixed_known));
			p->fixed_len = i + 1;
			GUARD(ca_str(rd, e, "attribute", 1, &fx->attribute));
			GUARD(ca_str(rd, e, "value", 1, &fx->value));
			GUARD(ca_attr_nid(rd, fld, fx->attribute, &fx->nid));
			ENSURE(fx->nid != NID_title, ca_perr(rd, fld, "title is "
			    "for the administrative role, which a profile "
			    "stores from a request field, never fixes"));
			fx->max_length = ca_attr_bound(fx->nid, &bname);
			snprintf(fld, sizeof(fld), "profile %s: "
			    "subject_fixed[%zu].value", rd->file, i);
			if (strcmp(fx->value, "${instance_name}") != 0 &&
			    ca_text_check(fld, fx->value, strlen(fx->value),
			    fx->max_length) != 0) {
				r = gp_err_set(GP_ERR_CONFIG, "%s",
				    gp_err_detail());
				goto out;
			}
		}
	}
	a = json_object_get(root, "subject");
	ENSURE(json_is_array(a) && json_array_size(a) > 0 &&
	    json_array_size(a) <= CA_MAX_FIELDS, ca_perr(rd, "subject",
	    "an array of 1 to 12 fields is required"));
	json_array_foreach(a, i, e) {
		p->fields_len = i + 1;
		GUARD(ca_field_parse(rd, e, i, &p->fields[i]));
		for (j = 0; j < i; j++)
			ENSURE(strcmp(p->fields[j].name, p->fields[i].name) != 0,
			    ca_perr(rd, "subject", "a field name appears "
			    "twice"));
		if (p->fields[i].store == CA_COL_ROLE) {
			ENSURE(p->role_field == NULL, ca_perr(rd, "subject",
			    "only one field may store the role"));
			p->role_field = p->fields[i].name;
		}
	}
	GUARD(ca_str(rd, root, "common_name_from", 0, &p->cn_from));
	if (p->cn_from != NULL) {
		for (i = 0; i < p->fields_len; i++)
			if (strcmp(p->fields[i].name, p->cn_from) == 0)
				break;
		ENSURE(i < p->fields_len && p->fields[i].required,
		    ca_perr(rd, "common_name_from", "must name a required "
		    "subject field"));
		/* RFC 5280 Appendix A: ub-common-name is 64. */
		ENSURE(p->fields[i].max_length <= 64 &&
		    p->fields[i].prefix == NULL, ca_perr(rd,
		    "common_name_from", "the field may hold more than the 64 "
		    "characters of a common name (RFC 5280 ub-common-name); "
		    "give it \"max_length\": 64 at most"));
	}

	GUARD(ca_str_list(rd, root, "key_usage", &a));
	ENSURE(a != NULL && json_array_size(a) > 0, ca_perr(rd, "key_usage",
	    "at least one key usage is required (RFC 5280 4.2.1.3)"));
	json_array_foreach(a, i, e) {
		for (k = 0; k < sizeof(ca_ku_names) / sizeof(ca_ku_names[0]);
		    k++)
			if (strcmp(json_string_value(e), ca_ku_names[k].name)
			    == 0)
				break;
		ENSURE(k < sizeof(ca_ku_names) / sizeof(ca_ku_names[0]),
		    ca_perr(rd, "key_usage", "unknown key usage"));
		p->key_usage |= ca_ku_names[k].bit;
	}
	GUARD(ca_bool(rd, root, "key_usage_critical", 1,
	    &p->key_usage_critical));
	GUARD(ca_str_list(rd, root, "extended_key_usage", &a));
	if (a != NULL) {
		ENSURE(json_array_size(a) <= CA_MAX_EKU, ca_perr(rd,
		    "extended_key_usage", "at most 8"));
		json_array_foreach(a, i, e) {
			for (k = 0; k < sizeof(ca_eku_names) /
			    sizeof(ca_eku_names[0]); k++)
				if (strcmp(json_string_value(e),
				    ca_eku_names[k].name) == 0)
					break;
			ENSURE(k < sizeof(ca_eku_names) /
			    sizeof(ca_eku_names[0]), ca_perr(rd,
			    "extended_key_usage", "unknown purpose"));
			p->eku_nid[p->eku_len++] = ca_eku_names[k].nid;
		}
	}
	GUARD(ca_bool(rd, root, "extended_key_usage_critical", 0,
	    &p->eku_critical));
	GUARD(ca_bool(rd, root, "ca", 0, &p->is_ca));
	GUARD(ca_int(rd, root, "path_len", -1, 8, -1, &n));
	p->path_len = (int)n;
	/* RFC 5280 4.2.1.3: keyCertSign only with cA TRUE, and a CA
	 * certificate must be able to sign certificates. */
	ENSURE(!!p->is_ca == !!(p->key_usage & KU_KEY_CERT_SIGN),
	    ca_perr(rd, "key_usage", "keyCertSign if and only if ca is true "
	    "(RFC 5280 4.2.1.3, 4.2.1.9)"));
	ENSURE(p->is_ca || p->path_len < 0, ca_perr(rd, "path_len",
	    "only for ca profiles"));
	GUARD(ca_bool(rd, root, "ocsp_nocheck", 0, &p->ocsp_nocheck));
	GUARD(ca_str_list(rd, root, "policies", &a));
	if (a != NULL) {
		ENSURE(json_array_size(a) <= CA_MAX_POLICIES, ca_perr(rd,
		    "policies", "at most 8"));
		json_array_foreach(a, i, e) {
			ASN1_OBJECT *obj = OBJ_txt2obj(json_string_value(e), 1);
			ENSURE(obj != NULL, ca_perr(rd, "policies", "not a "
			    "dotted OID"));
			ASN1_OBJECT_free(obj);
			ENSURE((p->policies[i] = strdup(json_string_value(e)))
			    != NULL, GP_ERR_NOMEM);
			p->policies_len = i + 1;
		}
	}
	GUARD(ca_bool(rd, root, "crl_distribution_point", 1, &p->crl_dp));
	/* The OCSP responder answers for the issuing CA only (ca_ocsp.c):
	 * what the root signs names no OCSP URL. */
	GUARD(ca_bool(rd, root, "aia_ocsp", p->issuer != GP_KEY_ROOT,
	    &p->aia_ocsp));
	ENSURE(!p->aia_ocsp || p->issuer != GP_KEY_ROOT, ca_perr(rd,
	    "aia_ocsp", "must be false with issuer root: the OCSP responder "
	    "answers for the issuing CA only"));
	GUARD(ca_bool(rd, root, "aia_ca_issuers", 1, &p->aia_ca_issuers));
	san = json_object_get(root, "san");
	if (san != NULL) {
		ENSURE(json_is_object(san), ca_perr(rd, "san", "must be an "
		    "object"));
		GUARD(ca_known(rd, san, "san", san_known));
	}
	GUARD(ca_san_rule(rd, san, "dns", &p->san_dns));
	GUARD(ca_san_rule(rd, san, "ip", &p->san_ip));
	GUARD(ca_san_rule(rd, san, "email", &p->san_email));
	GUARD(ca_bool(rd, root, "dual_control", 0, &p->dual_control));
	/* An administrative role is granted by two persons, never one. */
	ENSURE(p->role_field == NULL || p->dual_control, ca_perr(rd,
	    "dual_control", "a profile that stores a role must have dual "
	    "control"));
	GUARD(ca_str(rd, root, "encryption_twin", 0, &p->twin));
	/* Dual certificates are issued to a holder who enrols alone with a
	 * one-time code (kmc/); a profile needing a second officer's
	 * approval cannot be. */
	ENSURE(p->twin == NULL || !p->dual_control, ca_perr(rd,
	    "encryption_twin", "not with dual_control"));
	r = 0;
out:
	free(issuer);
	return r;
}

static void
ca_profile_clear(struct ca_profile *p)
{
	size_t i, j;

	free(p->name);
	free(p->file);
	free(p->description);
	for (i = 0; i < CA_MAX_FIXED; i++) {
		free(p->fixed[i].attribute);
		free(p->fixed[i].value);
	}
	for (i = 0; i < CA_MAX_FIELDS; i++) {
		free(p->fields[i].name);
		free(p->fields[i].attribute);
		free(p->fields[i].prefix);
		for (j = 0; j < CA_MAX_VALUES; j++)
			free(p->fields[i].values[j]);
	}
	free(p->cn_from);
	free(p->twin);
	for (i = 0; i < CA_MAX_POLICIES; i++)
		free(p->policies[i]);
	memset(p, 0, sizeof(*p));
}

void
ca_profiles_free(struct ca_profiles *ps)
{
	size_t i;

	if (ps == NULL)
		return;
	for (i = 0; i < ps->len; i++)
		ca_profile_clear(&ps->p[i]);
	free(ps->p);
	free(ps);
}

static int
ca_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The encryption twin of |p| (dual certificates, GM/T 0034): a profile of
 * the same issuer, not itself twinned nor under dual control, whose key
 * usage is keyEncipherment or keyAgreement and never a signing one (a
 * key the KMC escrows must never sign: a copy exists outside the USB
 * key), for RSA keys (the KMC makes RSA key pairs for CMS key transport),
 * and that takes every subject field of |p|, so that one validated
 * subject serves both certificates. */
static int
ca_twin_check(const struct ca_rd *rd, const struct ca_profiles *ps,
    const struct ca_profile *p)
{
	const struct ca_profile *t;
	size_t i, j;
	int r;

	if (p->twin == NULL)
		return 0;
	ENSURE((t = ca_profile_find(ps, p->twin)) != NULL && t != p,
	    ca_perr(rd, "encryption_twin", "must name another profile of "
	    "profiles_dir"));
	ENSURE(t->twin == NULL && !t->dual_control, ca_perr(rd,
	    "encryption_twin", "the twin may have no twin and no dual "
	    "control"));
	ENSURE(t->issuer == p->issuer, ca_perr(rd, "encryption_twin",
	    "the twin must have the same issuer"));
	ENSURE((t->key_usage & (KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT)) != 0 &&
	    (t->key_usage & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION |
	    KU_KEY_CERT_SIGN | KU_CRL_SIGN)) == 0, ca_perr(rd,
	    "encryption_twin", "the twin's key_usage must be keyEncipherment "
	    "or keyAgreement, never digitalSignature, nonRepudiation, "
	    "keyCertSign or cRLSign"));
	ENSURE((t->key_types & (CA_KEY_RSA_2048 | CA_KEY_RSA_3072)) != 0,
	    ca_perr(rd, "encryption_twin", "the twin must allow rsa-2048 or "
	    "rsa-3072 (the KMC's keys)"));
	for (i = 0; i < p->fields_len; i++) {
		for (j = 0; j < t->fields_len; j++)
			if (strcmp(p->fields[i].name, t->fields[j].name) == 0)
				break;
		ENSURE(j < t->fields_len, ca_perr(rd, "encryption_twin",
		    "the twin lacks a subject field of this profile"));
	}
	r = 0;
out:
	return r;
}

int
ca_profiles_load(const struct gp_config *cfg, struct ca_profiles **out)
{
	struct ca_profiles *ps = NULL;
	DIR *d = NULL;
	struct dirent *de;
	char *names[CA_MAX_PROFILES], *path = NULL;
	size_t n = 0, i, j, len;
	uint8_t *buf = NULL;
	size_t buf_len;
	json_t *root = NULL;
	json_error_t jerr;
	struct ca_rd rd;
	int r = GP_ERR_INTERNAL;

	*out = NULL;
	memset(names, 0, sizeof(names));
	ENSURE(cfg != NULL && cfg->profiles_dir != NULL,
	    gp_err_set(GP_ERR_CONFIG, "profiles_dir is not set"));
	ENSURE((d = opendir(cfg->profiles_dir)) != NULL,
	    gp_err_set(GP_ERR_CONFIG, "profiles_dir %s: cannot open it",
	    cfg->profiles_dir));
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 6 || de->d_name[0] == '.' ||
		    strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		ENSURE(n < CA_MAX_PROFILES, gp_err_set(GP_ERR_CONFIG,
		    "profiles_dir %s: more than %d profiles",
		    cfg->profiles_dir, CA_MAX_PROFILES));
		ENSURE((names[n++] = strdup(de->d_name)) != NULL, GP_ERR_NOMEM);
	}
	ENSURE(n > 0, gp_err_set(GP_ERR_CONFIG, "profiles_dir %s: no *.json "
	    "profile", cfg->profiles_dir));
	qsort(names, n, sizeof(names[0]), ca_name_cmp);
	ENSURE((ps = calloc(1, sizeof(*ps))) != NULL &&
	    (ps->p = calloc(n, sizeof(*ps->p))) != NULL, GP_ERR_NOMEM);
	for (i = 0; i < n; i++) {
		rd.file = names[i];
		ENSURE((path = gp_path_join(cfg->profiles_dir, names[i])) !=
		    NULL, GP_ERR_NOMEM);
		r = gp_file_read(path, CA_PROFILE_MAX_BYTES, &buf, &buf_len);
		if (r != 0) {
			r = gp_err_set(GP_ERR_CONFIG, "profile %s: %s", path,
			    gp_err_detail());
			goto out;
		}
		root = json_loadb((const char *)buf, buf_len,
		    JSON_REJECT_DUPLICATES, &jerr);
		if (root == NULL) {
			r = gp_err_set(GP_ERR_CONFIG, "profile %s: line %d: %s",
			    names[i], jerr.line, jerr.text);
			goto out;
		}
		ps->len = i + 1;
		GUARD(ca_profile_parse(&rd, root, &ps->p[i]));
		ENSURE((ps->p[i].file = strdup(names[i])) != NULL,
		    GP_ERR_NOMEM);
		/* The file is named after its profile, so that an operator
		 * finds the profile a certificate names. */
		len = strlen(names[i]) - 5;
		ENSURE(strlen(ps->p[i].name) == len &&
		    strncmp(ps->p[i].name, names[i], len) == 0,
		    ca_perr(&rd, "name", "must match the file name"));
		for (j = 0; j < i; j++)
			ENSURE(strcmp(ps->p[j].name, ps->p[i].name) != 0,
			    ca_perr(&rd, "name", "duplicate profile"));
		json_decref(root);
		root = NULL;
		free(buf);
		buf = NULL;
		free(path);
		path = NULL;
	}
	for (i = 0; i < ps->len; i++) {
		rd.file = ps->p[i].file;
		GUARD(ca_twin_check(&rd, ps, &ps->p[i]));
	}
	*out = ps;
	ps = NULL; /* transferred */
	r = 0;
out:
	if (d != NULL)
		closedir(d);
	for (i = 0; i < n; i++)
		free(names[i]);
	json_decref(root);
	free(buf);
	free(path);
	ca_profiles_free(ps);
	return r;
}

const struct ca_profile *
ca_profile_find(const struct ca_profiles *ps, const char *name)
{
	size_t i;

	if (ps == NULL || name == NULL)
		return NULL;
	for (i = 0; i < ps->len; i++)
		if (strcmp(ps->p[i].name, name) == 0)
			return &ps->p[i];
	return NULL;
}

size_t
ca_profiles_count(const struct ca_profiles *ps)
{
	return ps != NULL ? ps->len : 0;
}

const struct ca_profile *
ca_profiles_at(const struct ca_profiles *ps, size_t i)
{
	return ps != NULL && i < ps->len ? &ps->p[i] : NULL;
}

const char *
ca_profile_name(const struct ca_profile *p)
{
	return p->name;
}

int
ca_profile_dual_control(const struct ca_profile *p)
{
	return p->dual_control;
}

const char *
ca_profile_twin(const struct ca_profile *p)
{
	return p != NULL ? p->twin : NULL;
}

int
ca_profile_grants_role(const struct ca_profile *p)
{
	return p != NULL && p->role_field != NULL && p->dual_control;
}

/* Appends |name| to a comma list in |buf|. */
static int
ca_cat(char **buf, const char *name)
{
	char *n;

	if (asprintf(&n, "%s%s%s", *buf ? *buf : "", *buf ? "," : "",
	    name) < 0)
		return GP_ERR_NOMEM;
	free(*buf);
	*buf = n;
	return 0;
}

char *
ca_profile_ku_text(const struct ca_profile *p)
{
	char *s = NULL;
	size_t k;

	if (p->key_usage_critical && ca_cat(&s, "critical") != 0)
		return NULL;
	for (k = 0; k < sizeof(ca_ku_names) / sizeof(ca_ku_names[0]); k++)
		if ((p->key_usage & ca_ku_names[k].bit) &&
		    ca_cat(&s, ca_ku_names[k].name) != 0) {
			free(s);
			return NULL;
		}
	return s;
}

char *
ca_profile_eku_text(const struct ca_profile *p)
{
	char *s = NULL;
	size_t i, k;

	if (p->eku_len == 0)
		return NULL;
	if (p->eku_critical && ca_cat(&s, "critical") != 0)
		return NULL;
	for (i = 0; i < p->eku_len; i++)
		for (k = 0; k < sizeof(ca_eku_names) / sizeof(ca_eku_names[0]);
		    k++)
			if (ca_eku_names[k].nid == p->eku_nid[i] &&
			    ca_cat(&s, ca_eku_names[k].name) != 0) {
				free(s);
				return NULL;
			}
	return s;
}

json_t *
ca_profile_json(const struct ca_profile *p)
{
	json_t *o, *fields, *keys;
	size_t i, k;

	if ((o = json_object()) == NULL)
		return NULL;
	fields = json_array();
	keys = json_array();
	for (k = 0; k < sizeof(ca_key_names) / sizeof(ca_key_names[0]); k++)
		if (p->key_types & ca_key_names[k].bit)
			json_array_append_new(keys,
			    json_string(ca_key_names[k].name));
	for (i = 0; i < p->fields_len; i++)
		json_array_append_new(fields, json_pack("{s:s, s:s, s:b}",
		    "field", p->fields[i].name, "attribute",
		    p->fields[i].attribute, "required", p->fields[i].required));
	json_object_set_new(o, "name", json_string(p->name));
	json_object_set_new(o, "key_types", keys);
	json_object_set_new(o, "subject", fields);
	json_object_set_new(o, "max_validity_days",
	    json_integer(p->max_validity_days));
	json_object_set_new(o, "dual_control", json_boolean(p->dual_control));
	if (p->twin != NULL)
		json_object_set_new(o, "encryption_twin", json_string(p->twin));
	return o;
}
