/*
 * internal.h: what the files of signer/ share.
 */
#ifndef GOVPKI_SIGNER_INTERNAL_H
#define GOVPKI_SIGNER_INTERNAL_H

#include <openssl/cms.h>

#include "signer/signer.h"

struct sig_rule {
	char *profile;
	char *role;
	char *organization;
};

struct sig_step {
	char *name;
	int optional;
	int repeatable;
	struct sig_rule *rules;
	size_t rules_len;
};

struct sig_policy {
	char *name;
	int require_timestamp;
	struct sig_step *steps;
	size_t steps_len;
};

/* 1 when every field |ru| gives matches. */
int sig_rule_match(const struct sig_rule *ru, const char *profile,
    const char *role, const char *organization);

/* The step attribute's OID object (static, never freed). */
const ASN1_OBJECT *sig_step_obj(void);

/* The step name of |si| into |buf| ("" when none); GP_ERR_INVALID when
 * the attribute is malformed. */
int sig_si_step(CMS_SignerInfo *si, char *buf, size_t len) GP_WUR;

/* The claimed signing-time of |si| in Unix seconds, or -1. */
int64_t sig_si_signing_time(CMS_SignerInfo *si);

/* Parses DER |der| as a SignedData ContentInfo, refusing trailing bytes
 * and more than SIG_MAX_SIGNERS SignerInfos. */
int sig_cms_parse(const uint8_t *der, size_t len, CMS_ContentInfo **out)
    GP_WUR;

/* ASN1_TIME to Unix seconds; -1 when it does not convert. */
int64_t sig_asn1_time(const ASN1_TIME *t);

#endif /* GOVPKI_SIGNER_INTERNAL_H */
