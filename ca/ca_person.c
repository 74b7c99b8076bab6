/*
 * ca_person.c: who a person is, for dual control (ca.h "Persons"). The one
 * place that says when two certificates, or a certificate and the local
 * operator, belong to the same person; the server computes an admin's
 * person on login (srv_auth.c), the CLI the local operator's, and
 * ca_request.c compares requester and approver with ca_person_same().
 *
 * From a certificate: every subject attribute except title (the role: one
 * person may hold an officer and an auditor certificate), each as
 * "<short name>=<value>", the value converted to UTF-8 and prepared as
 * RFC 5280 7.1 asks of name comparison (RFC 4518: leading and trailing
 * white space removed, inner runs folded to one space; ASCII case
 * ignored), ',' and '\' escaped, then sorted, so that the order in which a
 * profile or `govpki init` lists the attributes does not matter. RFC 5280
 * 4.1.2.6 has a CA give one subject one distinguished name, so equal
 * names are one subject.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "ca/ca.h"

#define CA_PERSON_MAX_ATTRS 32

/* Appends the prepared, escaped |utf8| to |buf| (at |*used|, |cap|). */
static int
ca_person_value(const unsigned char *utf8, int len, char *buf, size_t cap,
    size_t *used)
{
	int i, space = 0, any = 0;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = utf8[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		    c == '\f' || c == '\v') {
			space = any;
			continue;
		}
		if (space) {
			if (*used + 1 >= cap)
				return GP_ERR_INVALID;
			buf[(*used)++] = ' ';
			space = 0;
		}
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (*used + 2 >= cap)
			return GP_ERR_INVALID;
		if (c == ',' || c == '\\')
			buf[(*used)++] = '\\';
		buf[(*used)++] = (char)c;
		any = 1;
	}
	buf[*used] = '\0';
	return 0;
}

static int
ca_person_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
ca_person_of_cert(const X509 *cert, const char *id_number,
    struct ca_person *out)
{
	const X509_NAME *name;
	const X509_NAME_ENTRY *ne;
	char *attrs[CA_PERSON_MAX_ATTRS], one[CA_PERSON_MAX], sn[80];
	unsigned char *utf8 = NULL;
	size_t n = 0, i, used, len;
	int count, k, ulen, nid, r = GP_ERR_INVALID;

	memset(out, 0, sizeof(*out));
	memset(attrs, 0, sizeof(attrs));
	ENSURE(cert != NULL && (name = X509_get_subject_name(cert)) != NULL,
	    gp_err_set(GP_ERR_INVALID, "person: no certificate subject"));
	count = X509_NAME_entry_count(name);
	for (k = 0; k < count; k++) {
		ne = X509_NAME_get_entry(name, k);
		if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne)) == NID_title)
			continue;
		ENSURE(n < CA_PERSON_MAX_ATTRS, gp_err_set(GP_ERR_INVALID,
		    "person: more than %d subject attributes",
		    CA_PERSON_MAX_ATTRS));
		nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne));
		if (nid != NID_undef && OBJ_nid2sn(nid) != NULL)
			snprintf(sn, sizeof(sn), "%s", OBJ_nid2sn(nid));
		else
			ENSURE(OBJ_obj2txt(sn, sizeof(sn),
			    X509_NAME_ENTRY_get_object(ne), 1) > 0,
			    gp_err_set(GP_ERR_INVALID, "person: attribute "
			    "type"));
		ulen = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(ne));
		ENSURE(ulen >= 0 && memchr(utf8, '\0', (size_t)ulen) == NULL,
		    gp_err_set(GP_ERR_INVALID, "person: subject %s is not "
		    "text", sn));
		used = (size_t)snprintf(one, sizeof(one), "%s=", sn);
		ENSURE(used < sizeof(one) && ca_person_value(utf8, ulen, one,
		    sizeof(one), &used) == 0, gp_err_set(GP_ERR_INVALID,
		    "person: subject too long"));
		OPENSSL_free(utf8);
		utf8 = NULL;
		ENSURE((attrs[n++] = strdup(one)) != NULL, GP_ERR_NOMEM);
	}
	ENSURE(n > 0, gp_err_set(GP_ERR_INVALID, "person: the subject names "
	    "no one (no attribute besides title)"));
	qsort(attrs, n, sizeof(attrs[0]), ca_person_cmp);
	used = (size_t)snprintf(out->id, sizeof(out->id), "dn:");
	for (i = 0; i < n; i++) {
		len = strlen(attrs[i]);
		ENSURE(used + len + 2 < sizeof(out->id), gp_err_set(
		    GP_ERR_INVALID, "person: subject over %d bytes",
		    CA_PERSON_MAX));
		if (i > 0)
			out->id[used++] = ',';
		memcpy(out->id + used, attrs[i], len + 1);
		used += len;
	}
	GUARD(ca_person_set_idn(out, id_number));
	r = 0;
out:
	if (r != 0)
		memset(out, 0, sizeof(*out));
	for (i = 0; i < n; i++)
		free(attrs[i]);
	OPENSSL_free(utf8);
	return r;
}

int
ca_person_set_idn(struct ca_person *p, const char *id_number)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *mc = NULL;
	char *hex = NULL;
	int r;

	memset(p->idn, 0, sizeof(p->idn));
	if (id_number == NULL || id_number[0] == '\0')
		return 0;
	/* Domain-separated, so that the hash is of no use anywhere else;
	 * the number itself never enters an identity. */
	ENSURE((mc = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestInit_ex(mc, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(mc, "govpki-person-idn",
	    sizeof("govpki-person-idn")) == 1 &&
	    EVP_DigestUpdate(mc, id_number, strlen(id_number)) == 1 &&
	    EVP_DigestFinal_ex(mc, md, &mdlen) == 1,
	    gp_err_ssl(GP_ERR_CRYPTO, "person: hashing"));
	ENSURE((hex = gp_hex(md, mdlen)) != NULL, GP_ERR_NOMEM);
	snprintf(p->idn, sizeof(p->idn), "idn:%s", hex);
	r = 0;
out:
	EVP_MD_CTX_free(mc);
	free(hex);
	return r;
}

int
ca_person_local(const char *actor, struct ca_person *out)
{
	memset(out, 0, sizeof(*out));
	if (actor == NULL || strncmp(actor, "local:", 6) != 0 ||
	    strlen(actor) >= sizeof(out->id))
		return gp_err_set(GP_ERR_INVALID, "person: the local operator "
		    "is \"local:<user>\"");
	memcpy(out->id, actor, strlen(actor) + 1);
	return 0;
}

int
ca_person_same(const struct ca_person *a, const struct ca_person *b)
{
	/* Persons that cannot be told apart count as one: dual control
	 * then refuses rather than allows. */
	if (a == NULL || b == NULL || a->id[0] == '\0' || b->id[0] == '\0')
		return 1;
	if (strcmp(a->id, b->id) == 0)
		return 1;
	return a->idn[0] != '\0' && strcmp(a->idn, b->idn) == 0;
}
