/*
 * ca_result.c: what issuance hands out and records: the result the caller
 * gets (serial, PEM, validity), a name as the store and the audit print
 * it, and the details of the "cert.issue" record, in which a resident ID
 * number only ever appears masked.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>

#include "ca/internal.h"

void
ca_issue_result_clear(struct ca_issue_result *res)
{
	if (res == NULL)
		return;
	free(res->request_id);
	free(res->serial);
	free(res->cert_pem);
	free(res->profile);
	memset(res, 0, sizeof(*res));
}

char *
ca_name_text(const X509_NAME *name)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s = NULL;
	long len;

	if (bio == NULL)
		return NULL;
	/* RFC 2253 order, UTF-8 kept as is. */
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 &
	    ~ASN1_STRFLGS_ESC_MSB) >= 0 &&
	    (len = BIO_get_mem_data(bio, &data)) >= 0)
		s = strndup(data, (size_t)len);
	BIO_free(bio);
	return s;
}

char *
ca_pem(const unsigned char *der, size_t len)
{
	static const char head[] = "-----BEGIN CERTIFICATE-----\n";
	static const char tail[] = "-----END CERTIFICATE-----\n";
	size_t lines = (len + 47) / 48, cap, off, n;
	char *s, *p;

	if (len == 0 || len > 1 << 20)
		return NULL;
	/* RFC 7468 2: base64 lines of 64 characters (48 bytes). */
	cap = sizeof(head) - 1 + lines * 65 + sizeof(tail);
	if ((s = malloc(cap)) == NULL)
		return NULL;
	memcpy(s, head, sizeof(head) - 1);
	p = s + sizeof(head) - 1;
	for (off = 0; off < len; off += n) {
		n = len - off < 48 ? len - off : 48;
		p += EVP_EncodeBlock((unsigned char *)p, der + off, (int)n);
		*p++ = '\n';
	}
	memcpy(p, tail, sizeof(tail)); /* with its NUL */
	return s;
}

json_t *
ca_issue_details(const struct ca_profile *p, const struct ca_vals *vals,
    EVP_PKEY *key, const struct ca_approval *approval, int64_t not_after)
{
	json_t *d = json_object();
	char *masked = NULL;

	if (d == NULL)
		return NULL;
	json_object_set_new(d, "profile", json_string(p->name));
	json_object_set_new(d, "key", json_string(ca_key_type_name(
	    ca_key_type(key))));
	json_object_set_new(d, "not_after", json_integer(not_after));
	if (vals->cn != NULL)
		json_object_set_new(d, "cn", json_string(vals->cn));
	if (vals->uscc != NULL)
		json_object_set_new(d, "uscc", json_string(vals->uscc));
	if (vals->id_number != NULL &&
	    (masked = gp_mask_id(vals->id_number)) != NULL)
		json_object_set_new(d, "id_number", json_string(masked));
	if (vals->role != NULL)
		json_object_set_new(d, "role", json_string(vals->role));
	if (approval != NULL) {
		json_object_set_new(d, "request", json_string(
		    approval->request_id));
		json_object_set_new(d, "requester", json_string(
		    approval->requester));
	}
	free(masked);
	return d;
}
