/*
 * tender/internal.h: what the files of tender/ share: the DER source and
 * TLV walker (tnd_der.c), the parsed bid (tnd_bid.c), the envelope's
 * key and content decryption, refusal helpers, and the audit and JSON
 * helpers of the module.
 */
#ifndef GOVPKI_TENDER_INTERNAL_H
#define GOVPKI_TENDER_INTERNAL_H

#include <stdint.h>

#include <openssl/x509.h>

#include "tender/tender.h"

#define TND_IO_BUF 65536                 /* streaming buffer */
#define TND_MAX_SIGNED_META (1024 * 1024) /* certificates + signer infos */
#define TND_MAX_RECIPIENT_INFOS 65536    /* DER of the recipient infos */
#define TND_MAX_RECEIPT (256 * 1024)
#define TND_MAX_RECORD (32 * 1024 * 1024) /* a record with confirmations */

/* Where DER comes from: a buffer (|buf| set) or a file (|fd|), |len|
 * bytes either way. */
struct tnd_src {
	const uint8_t *buf;
	int fd;
	uint64_t len;
};

/* One TLV: its tag, where it starts, its header and content lengths. */
struct tnd_tlv {
	unsigned int tag;
	uint64_t off;
	uint64_t hlen;
	uint64_t len;
};
static inline uint64_t
tnd_tlv_body(const struct tnd_tlv *t)
{
	return t->off + t->hlen;
}
static inline uint64_t
tnd_tlv_end(const struct tnd_tlv *t)
{
	return t->off + t->hlen + t->len;
}

extern const uint8_t tnd_oid_data[11];
extern const uint8_t tnd_oid_signed[11];
extern const uint8_t tnd_oid_enveloped[11];
extern const uint8_t tnd_oid_auth_enveloped[13];
extern const uint8_t tnd_oid_aes256_cbc[11];

/* |n| bytes at |off| into |buf|; GP_ERR_INVALID past the end, GP_ERR_IO. */
int tnd_src_read(const struct tnd_src *s, uint64_t off, void *buf, size_t n)
    GP_WUR;
/* The TLV header at |off|, its value inside [off, end): DER only (no
 * indefinite length, shortest length form, low tag numbers). */
int tnd_der_hdr(const struct tnd_src *s, uint64_t off, uint64_t end,
    struct tnd_tlv *t) GP_WUR;
/* The TLV at |*pos| must have |tag|; |*pos| moves past it. */
int tnd_der_expect(const struct tnd_src *s, uint64_t *pos, uint64_t end,
    unsigned int tag, const char *what, struct tnd_tlv *t) GP_WUR;
/* The whole TLV |t| (header and value, at most |max| bytes) in a new
 * buffer. */
int tnd_der_load(const struct tnd_src *s, const struct tnd_tlv *t,
    size_t max, uint8_t **out, size_t *out_len) GP_WUR;
/* 1 when the TLV |t| is exactly the DER |der|. */
int tnd_der_is(const struct tnd_src *s, const struct tnd_tlv *t,
    const uint8_t *der, size_t der_len);
/* Writes a header for |tag| and |len| into |out| (at least 10 bytes);
 * returns its length. */
size_t tnd_der_put_hdr(uint8_t *out, unsigned int tag, uint64_t len);
/* The length of the header of a value of |len| bytes. */
uint64_t tnd_der_size(uint64_t len);
/* SHA-256 of |len| bytes at |off|, streamed. */
int tnd_src_sha256(const struct tnd_src *s, uint64_t off, uint64_t len,
    uint8_t md[32]) GP_WUR;

/* A ContentInfo of SignedData, as pieces (RFC 5652 5.1). */
struct tnd_signed {
	struct tnd_tlv version;
	struct tnd_tlv digest_algs;
	struct tnd_tlv econtent_type;
	struct tnd_tlv econtent;     /* the OCTET STRING, when attached */
	struct tnd_tlv certs;        /* [0], when has_certs */
	struct tnd_tlv crls;         /* [1], when has_crls */
	struct tnd_tlv signer_infos;
	int attached;
	int has_certs;
	int has_crls;
	int unsigned_envelope;       /* the input was a bare EnvelopedData */
};
/* Walks |s| as one DER ContentInfo of SignedData, nothing after it.
 * GP_ERR_INVALID naming the piece otherwise. */
int tnd_signed_parse(const struct tnd_src *s, struct tnd_signed *out)
    GP_WUR;

/* A SignedData framed around content that is not in memory: the DER is
 * head || eContent (|econtent_len| bytes, when attached) || tail. */
struct tnd_frame {
	uint8_t *head;
	size_t head_len;
	size_t head_cap;
	uint8_t *tail;
	size_t tail_len;
	uint64_t total;
};
/* Frames the SignedData |p| of |s| with (|attach|) eContent of
 * |econtent_len| bytes or without (detached). */
int tnd_signed_frame(const struct tnd_src *s, const struct tnd_signed *p,
    int attach, uint64_t econtent_len, struct tnd_frame *out) GP_WUR;
void tnd_frame_clear(struct tnd_frame *f);

/* A sealed bid: the SignedData and, inside its content, the
 * EnvelopedData's pieces (RFC 5652 6.1). */
struct tnd_bid {
	struct tnd_signed sd;
	struct tnd_tlv recipient_infos;  /* SET OF RecipientInfo */
	struct tnd_tlv enc_content;      /* [0] IMPLICIT encryptedContent */
	uint8_t iv[16];                  /* AES-256-CBC */
};

/* Parses a sealed bid (the fuzzed parser). 0, or GP_ERR_INVALID with
 * |why| naming the rule: "malformed", "unsigned", "unencrypted",
 * "unsupported_encryption", "missing_recipient" (no recipient at all). */
int tnd_bid_parse(const struct tnd_src *s, struct tnd_bid *out,
    struct tender_refusal *why) GP_WUR;

/* One KeyTransRecipientInfo (RFC 5652 6.2.1). */
struct tnd_ktri {
	X509_NAME *issuer;         /* issuerAndSerialNumber, or NULL */
	ASN1_INTEGER *serial;
	ASN1_OCTET_STRING *ski;    /* subjectKeyIdentifier, or NULL */
	int rsa_pkcs1;             /* keyEncryptionAlgorithm rsaEncryption */
	uint8_t ek[1024];          /* encryptedKey */
	size_t ek_len;
};
/* The recipient infos of |b|: key transport only (others are refused as
 * "unsupported_encryption"), at most TENDER_MAX_RECIPIENTS. */
int tnd_ktri_read(const struct tnd_src *s, const struct tnd_bid *b,
    struct tnd_ktri **out, size_t *out_len, struct tender_refusal *why)
    GP_WUR;
void tnd_ktri_free(struct tnd_ktri *k, size_t n);
/* 1 when |k| names |cert| (issuer and serial, or its key identifier). */
int tnd_ktri_match(const struct tnd_ktri *k, X509 *cert);

/* Unwraps the content-encryption key of |k| with |key| (RSAES-PKCS1-v1_5,
 * RFC 3370 4.2.1; on the token through EVP): 32 bytes or GP_ERR_CRYPTO
 * (the key it was wrapped for is another; the bidder's fault). A token
 * that fails is GP_ERR_DEVICE (the platform's). */
int tnd_cek_unwrap(EVP_PKEY *key, const struct tnd_ktri *k, uint8_t cek[32])
    GP_WUR;

/* What the bid package held. */
struct tnd_package {
	json_t *summary;           /* the parsed summary object */
	uint64_t doc_off;          /* the document inside the plaintext */
	uint64_t doc_len;
	char doc_sha256[65];
};
void tnd_package_clear(struct tnd_package *p);
/* Decrypts the content of |b| (from |s|) with |cek| into the file
 * |out_path| (0600, written whole or not at all) and parses the package
 * there. GP_ERR_CRYPTO when the padding is wrong (wrong key),
 * GP_ERR_INVALID when the package does not parse (both the bidder's),
 * GP_ERR_IO when the file cannot be written (the platform's). */
int tnd_content_decrypt(const struct tnd_src *s, const struct tnd_bid *b,
    const uint8_t cek[32], const char *out_path, struct tnd_package *pkg)
    GP_WUR;
/* Parses a decrypted bid package held in |s|. */
int tnd_package_parse(const struct tnd_src *s, struct tnd_package *pkg)
    GP_WUR;

/* Fills |why| (rule, HTTP status, message) and returns GP_ERR_INVALID,
 * GP_ERR_CONFLICT, GP_ERR_DENIED, GP_ERR_NOT_FOUND or GP_ERR_TOO_LARGE as
 * the status says; the detail is the message too. */
int tnd_refuse(struct tender_refusal *why, const char *rule,
    unsigned int status, const char *fmt, ...) GP_PRINTF(4, 5);

/* Appends |ev| (op, object, outcome, details) for |who| (actor, role,
 * request id, client) through audit_log; the details are borrowed. */
int tnd_audit(const struct tender_ctx *tc, const struct ca_actor *who,
    const char *op, const char *object, const char *outcome,
    json_t *details) GP_WUR;

/* |ev| for |who| (actor, role, request id, client; "anonymous" and
 * "public" when none), |op|, |object|, |outcome| and |details| (borrowed). */
void tnd_event_of(struct audit_event *ev, const struct ca_actor *who,
    const char *op, const char *object, const char *outcome,
    json_t *details);

/* The GP_ERR_* of an HTTP status of a refusal. */
int tnd_status_code(unsigned int status);

/* Audits the failure |r| of |op| on tender |id| with this thread's detail
 * ("denied" for a refusal, "failure" otherwise) and keeps the detail. */
void tnd_fail_audit(const struct tender_ctx *tc, const struct ca_actor *who,
    const char *op, const char *id, int r);

/* Audits the refusal |why| of |op| on tender |id|: details rule, message
 * and |extra| (borrowed, may be NULL). */
void tnd_refusal_audit(const struct tender_ctx *tc, const struct ca_actor *who,
    const char *op, const char *id, const struct tender_refusal *why,
    json_t *extra);

/* Tender |id| into |out| (the caller clears it); the "unknown_tender"
 * refusal (404) in |why| when there is none, or the store's error. */
int tnd_tender_load(const struct tender_ctx *tc, const char *id,
    struct store_tender *out, struct tender_refusal *why) GP_WUR;

/* The tender's spec (its JSON column) parsed; new reference. */
json_t *tnd_spec(const struct store_tender *t);

/* The flags of the events of |id| (TENDER_EV_*), and the request and
 * approval events (the caller clears them). */
struct tnd_events {
	unsigned int flags;
	struct store_tender_event request;
	struct store_tender_event approve;
	struct store_tender_event opened;
	struct store_tender_event window;
};
int tnd_events_load(const struct tender_ctx *tc, const char *id,
    struct tnd_events *out) GP_WUR;
void tnd_events_clear(struct tnd_events *ev);

/* A fresh time-stamp over SHA-256("govpki-tender" || |what| || |id|)
 * from the instance TSA: its genTime (the trusted now). */
int tnd_trusted_now(const struct tender_ctx *tc, const char *what,
    const char *id, int64_t *out_ms) GP_WUR;

/* Signs |doc| (JSON, attached) with the instance seal; with |stamp|, the
 * instance TSA time-stamps the signature (B-T). *out free with
 * OPENSSL_free. */
int tnd_seal_json(const struct tender_ctx *tc, json_t *doc, int stamp,
    uint8_t **out, size_t *out_len) GP_WUR;

/* The bids of |id| in arrival order, each {"bid", "bidder", "arrival",
 * "sha256", "size", "status" (current, superseded, withdrawn), "outcome",
 * "reason" (null until the opening) and what the opening found}; new
 * reference in *out. */
int tnd_bids_view(const struct tender_ctx *tc, const char *id, json_t **out)
    GP_WUR;

/* The opening record of |t| (tnd_record.c): every bid as tnd_bids_view
 * shows it after the outcomes, signed by the seal and time-stamped,
 * stored as version 1 with the "opened" event and the "tender.record"
 * record; a no-op when it exists. */
int tnd_record_make(const struct tender_ctx *tc, const struct ca_actor *who,
    const struct store_tender *t, const struct tnd_events *ev) GP_WUR;

/* Records the tender event |event| at |time_ms| for |who| and its audit
 * record |op| (details borrowed) in one transaction; GP_ERR_CONFLICT when
 * it happened already. */
int tnd_event_commit(const struct tender_ctx *tc, const struct ca_actor *who,
    const char *id, const char *event, int64_t time_ms, const char *op,
    json_t *details) GP_WUR;

/* The opening of one bid (tnd_open.c): its outcome, waiting for its
 * batch of TND_OUTCOME_BATCH. */
#define TND_OUTCOME_BATCH 64
struct tnd_outcome {
	char bid[TENDER_ID_LEN + 1];
	enum tender_fault fault;
	char reason[300];
	json_t *details;     /* fields, document hash; owned */
};
/* Opens the stored bid of |entry| (tnd_bids_view): checks its SHA-256,
 * parses it, takes the content-encryption key from |given| (bidder mode)
 * or unwraps it with |key| from the recipient info naming |ocert|,
 * decrypts into DIR/tenders/<id>/opened/<bid>.pkg and checks the summary
 * for every field of |fields|; the outcome and its reason into |o|. */
void tnd_open_one(const struct tender_ctx *tc, const struct store_tender *t,
    json_t *entry, X509 *ocert, EVP_PKEY *key, const uint8_t *given,
    json_t *fields, struct tnd_outcome *o);
/* Commits |n| outcomes (bid event "outcome", record "tender.bid.open")
 * in one transaction; an outcome already recorded is kept. */
int tnd_outcomes_commit(const struct tender_ctx *tc,
    const struct ca_actor *who, const struct store_tender *t,
    struct tnd_outcome *o, size_t n, int64_t at_ms) GP_WUR;
void tnd_outcomes_free(struct tnd_outcome *o, size_t n);

/* Bidder mode (tnd_release.c): the key-release window opens at the
 * approval ("window_open"). */
int tnd_window_open(const struct tender_ctx *tc, const struct ca_actor *who,
    const struct store_tender *t, const struct tnd_events *ev) GP_WUR;

/* DIR/tenders/<id>[/<sub>], malloc'ed. */
char *tnd_path(const struct tender_ctx *tc, const char *id, const char *sub);

/* A new random id (32 lower-case hex) into |out| (33 bytes). */
int tnd_new_id(char out[TENDER_ID_LEN + 1]) GP_WUR;

/* Hex of 32 bytes into |out| (65 bytes). */
void tnd_hex32(const uint8_t md[32], char out[65]);

/* The signer of a verified SignedData |cms| (exactly one SignerInfo): its
 * certificate (new reference) and the SignerInfo's tender attribute and
 * signing-time. GP_ERR_INVALID naming what is missing. */
struct tnd_signer {
	X509 *cert;
	char serial[72];
	char tender[TENDER_ID_LEN + 1];  /* "" when absent */
	int64_t signing_time;            /* Unix s, 0 when absent */
};
struct CMS_ContentInfo_st;
int tnd_signer_of(struct CMS_ContentInfo_st *cms, struct tnd_signer *out)
    GP_WUR;
void tnd_signer_clear(struct tnd_signer *s);

/* The certificate |cert| (serial |serial|) as the store keeps it, judged
 * for bidding at |at_ms|: issued by this instance (the same DER), under
 * one of |profiles|, to a legal
 * person (USCC), good at that time (ca_status_at: RFC 5280 5.3.2). 0
 * with |out| filled (the caller clears it), or a refusal in |why|
 * ("untrusted_signer", "profile_not_allowed", "not_a_legal_person",
 * "signer_revoked", "signer_held"). */
int tnd_signer_check(const struct tender_ctx *tc, X509 *cert,
    const char *serial, json_t *profiles, int64_t at_ms,
    struct store_cert *out, struct tender_refusal *why) GP_WUR;

/* Verifies the SignedData |der| (detached when |digest| is set: the
 * SHA-256 of its content; else attached) as a document signature under
 * the instance root (sig_verify: signature, path, key usage, status);
 * GP_ERR_INVALID with |why| "bad_signature" and the reasons otherwise. */
int tnd_verify(const struct tender_ctx *tc, const uint8_t *der,
    size_t der_len, const uint8_t *digest, struct tender_refusal *why)
    GP_WUR;

/* |cert|'s subject as RFC 2253 text in UTF-8 into |buf|, or "" when it
 * does not fit. */
void tnd_subject_text(X509 *cert, char *buf, size_t len);

/* The organization (O) of |cert|'s subject into |buf|, or "". */
void tnd_org_name(X509 *cert, char *buf, size_t len);

/* Writes |s| from |off| for |len| bytes to |fd|. */
int tnd_copy_range(const struct tnd_src *s, uint64_t off, uint64_t len,
    int fd) GP_WUR;

/* Writes all of |buf| to |fd|. */
int tnd_write_all(int fd, const void *buf, size_t len) GP_WUR;

#endif /* GOVPKI_TENDER_INTERNAL_H */
