/*
 * tender.h: sealed-bid tendering under the Measures for Electronic Bidding
 * (电子招标投标办法, 2013): tenders with a submission deadline and an
 * opening time, bids that arrive signed and encrypted, a signed receipt
 * for each at once, nothing decrypted before the opening, an opening
 * under dual control, and a signed, time-stamped opening record that
 * bidders may confirm with their own signatures.
 *
 *   tnd_der.c      DER of a bid walked and framed without holding it
 *   tnd_bid.c      the bid parser (untrusted input: tests/fuzz) and the
 *                  recipient infos of its EnvelopedData
 *   tnd_seal.c     the bidder's client: the bid package, EnvelopedData
 *                  (AES-256-CBC, RSA key transport), the signature
 *   tnd_rules.c    the rules as pure functions (deadline by the
 *                  time-stamp's time, supersession, outcomes)
 *   tnd_time.c     RFC 3339 times
 *   tnd_create.c   tenders (and the platform's opening key)
 *   tnd_submit.c   submission, receipt, withdrawal
 *   tnd_open.c     the opening: the one gate to the opening key, the
 *                  decryption of every current bid, the outcomes
 *   tnd_record.c   the opening record and the bidders' confirmations
 *   tnd_json.c     what the API and the CLI show
 *
 * Formats (docs/tender.md):
 *   - a sealed bid is a DER ContentInfo of CMS SignedData (CAdES B-B,
 *     one SignerInfo, the bidder's certificate) whose eContentType is
 *     id-data and whose eContent is a DER ContentInfo of EnvelopedData
 *     (RFC 5652 6): AES-256-CBC content encryption, one
 *     KeyTransRecipientInfo (RSAES-PKCS1-v1_5) per recipient the tender
 *     requires; its signed attributes carry TENDER_OID_TENDER, the
 *     tender id, so a bid cannot be replayed into another tender;
 *   - the encrypted content is the bid package, DER
 *       BidPackage ::= SEQUENCE { version INTEGER (1),
 *                                 summary UTF8String,   -- bid.json
 *                                 document OCTET STRING }
 *     where summary is the JSON object {"tender": id, "fields":
 *     {"price": "..." ...}} read at the opening and announced;
 *   - receipts, withdrawals and the opening record are CMS SignedData
 *     with their JSON attached (id-data).
 *
 * Privilege: the opening key lives on the instance token (tokens/),
 * generated per tender, decrypt-only, non-extractable; it is loaded in
 * one place, tender_opening_key(), which first checks the tender's
 * events (an opening requested and approved by two different persons,
 * both at or after the opening time by the instance TSA's clock) and
 * takes a fresh time-stamp. Nothing else in govpki decrypts a bid.
 */
#ifndef GOVPKI_TENDER_H
#define GOVPKI_TENDER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "audit/audit.h"
#include "ca/ca.h"
#include "core/core.h"
#include "store/store.h"
#include "tokens/tokens.h"
#include "tsa/tsa.h"

/* The signed attribute naming the tender a bid or a withdrawal is for:
 * one UTF8String, the tender id. An OID under the UUID arc 2.25 (X.667)
 * from UUID 05c6eb0f-0878-4fb2-84fd-267388f683b1. */
#define TENDER_OID_TENDER "2.25.7678982314215098628462730814609064881"

#define TENDER_ID_LEN 32            /* hex digits of tender and bid ids */
#define TENDER_MAX_FIELDS 16        /* announced fields of a tender */
#define TENDER_MAX_FIELD_NAME 32
#define TENDER_MAX_FIELD_VALUE 256  /* characters of an announced value */
#define TENDER_MAX_SUMMARY 65536    /* bytes of a bid's summary JSON */
#define TENDER_MAX_TITLE 256        /* characters */
#define TENDER_MAX_RECIPIENTS 16
#define TENDER_MAX_JSON (1024 * 1024) /* a tender's public JSON, a
                                       * withdrawal, a key release */

/* Everything tendering works with; all borrowed. The keys are used only
 * through EVP (they live on the token). */
struct tender_ctx {
	const struct gp_config *cfg;
	store *st;
	audit *audit;
	tok_ctx *tok;              /* the instance token: opening keys */
	const char *token_label;
	tsa *tsa;                  /* the instance TSA, in process */
	X509 *root;
	X509 *ca;                  /* issues the opening certificates */
	EVP_PKEY *ca_key;
	X509 *seal_cert;           /* signs receipts and records */
	EVP_PKEY *seal_key;
	STACK_OF(X509) *seal_chain; /* the seal's CAs up to the root */
};

/* 1 when |id| has the form of a tender or bid id (32 lower-case hex). */
int tender_id_ok(const char *id);

/* ------------------------------------------------------------------ */
/* Times (tnd_time.c). */

/* Parses an RFC 3339 date-time ("2026-05-01T09:30:00+08:00", "...Z",
 * optional fraction of up to 3 digits) into Unix ms. GP_ERR_INVALID
 * naming |field|. */
int tender_time_parse(const char *field, const char *s, int64_t *out_ms)
    GP_WUR;
/* |ms| as RFC 3339 UTC with milliseconds ("2026-05-01T01:30:00.000Z")
 * into |buf| (at least 32 bytes). */
void tender_time_fmt(int64_t ms, char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* The rules (tnd_rules.c): pure functions, unit-tested alone. */

/* Art. 28: a bid must arrive before the deadline. |arrival_ms| is the
 * genTime of the instance TSA's token over the bid, taken at receipt;
 * a bid stamped at the deadline or after is late. 0, or GP_ERR_CONFLICT
 * with a detail naming both times. */
int tender_rule_deadline(int64_t arrival_ms, int64_t deadline_ms) GP_WUR;

/* Art. 29: before the deadline a bidder may modify its bid; the new one
 * supersedes the current one of the same legal person. A bid whose
 * signing-time is earlier than the current one's is an older version
 * (a replay of what the bidder replaced): GP_ERR_CONFLICT. |cur_signing|
 * 0: no current bid. */
int tender_rule_supersede(int64_t cur_signing, int64_t new_signing) GP_WUR;

/* The opening may start (the request and the approval) at or after the
 * opening time, by the trusted time |now_ms|: 0, or GP_ERR_CONFLICT
 * naming both times. */
int tender_rule_opening(int64_t now_ms, int64_t opening_ms) GP_WUR;

/* Art. 31: whose fault a failed decryption is decides the outcome. */
enum tender_fault {
	TENDER_FAULT_NONE = 0,     /* decrypted: "opened" */
	TENDER_FAULT_BIDDER,       /* "revoked": wrong key, no release in
	                            * the window, a package that does not
	                            * parse, a summary that lacks a field */
	TENDER_FAULT_PLATFORM      /* "withdrawn": the platform's key or
	                            * storage failed */
};
/* "opened", "revoked" or "withdrawn". */
const char *tender_outcome_name(enum tender_fault f);

/* The state of a tender at |now_ms| from its events. */
enum tender_state {
	TENDER_ACCEPTING = 0,      /* before the deadline */
	TENDER_CLOSED,             /* deadline passed, no opening yet */
	TENDER_OPEN_REQUESTED,     /* one agent asked to open */
	TENDER_RELEASING,          /* bidder mode: the key-release window */
	TENDER_OPENED              /* outcomes recorded */
};
const char *tender_state_name(enum tender_state s);
/* The state from the kinds of events recorded so far (flags of
 * TENDER_EV_*) and the time. */
#define TENDER_EV_REQUEST 0x1u
#define TENDER_EV_APPROVE 0x2u
#define TENDER_EV_OPENED 0x4u
#define TENDER_EV_WINDOW 0x8u
enum tender_state tender_state_of(unsigned int events, int64_t now_ms,
    int64_t deadline_ms);

/* ------------------------------------------------------------------ */
/* Refusals. */

/* Why a submission, withdrawal, release or confirmation was refused:
 * |rule| names the rule ("late", "unsigned", "unencrypted",
 * "missing_recipient", "signer_revoked", "signer_held", "too_large",
 * "unknown_tender" ...), |status| is its HTTP status, |message| says
 * what to do. For "late", both times. */
struct tender_refusal {
	const char *rule;
	unsigned int status;
	char message[768];
	int64_t arrival_ms;
	int64_t deadline_ms;
};
/* {"error":{"code", "rule", "message"[, "arrival", "deadline"]}}; new
 * reference. */
json_t *tender_refusal_json(const struct tender_refusal *why);

/* ------------------------------------------------------------------ */
/* Tenders (tnd_create.c, tnd_json.c). */

/* Creates a tender from the JSON |req|: {"title", "deadline",
 * "opening_time" (RFC 3339), "mode" ("platform" | "bidder"), "fields"
 * (announced fields, default ["price"]), "profiles" (signer profiles
 * allowed, default ["enterprise"]), "window_s" (bidder mode: the key
 * release window, default 3600), "max_bid_bytes" (at most
 * tender.max_bid_bytes)}. In platform mode it generates the opening key
 * on the instance token (RSA-2048, decrypt-only) and issues its
 * certificate (keyEncipherment) under the issuing CA, recorded as a
 * certificate of profile "tender-opening". The tender, the certificate
 * row and their records ("cert.issue", "tender.create") commit in one
 * transaction. GP_ERR_INVALID naming the field; every failure audited
 * as "tender.create". *out: the public JSON (tender_json). */
int tender_create(const struct tender_ctx *tc, const struct ca_actor *who,
    json_t *req, json_t **out) GP_WUR;

/* The public JSON of tender |id|: {"id", "title", "mode", "deadline",
 * "opening_time" (RFC 3339), "fields", "profiles", "max_bid_bytes",
 * "window_s", "state", "recipients": [PEM ...] (platform: the opening
 * certificate; bidder: empty, each bid goes to its bidder's own
 * enterprise-encryption certificate), "chain": [PEM of the issuing CA],
 * "bids_url"}, and in bidder mode "recipient_profile" and "transport"
 * ([PEM]: where bidders release their keys). GP_ERR_NOT_FOUND. */
int tender_json(const struct tender_ctx *tc, const char *id, json_t **out)
    GP_WUR;

/* For agents: the public JSON plus "events" and, once opened, every bid
 * with its outcome; before the opening only the number of bids (who
 * bid stays sealed too). */
int tender_show(const struct tender_ctx *tc, const char *id, json_t **out)
    GP_WUR;

/* {"tenders": [summary ...], "next_after": id or null}. */
int tender_list(const struct tender_ctx *tc, const char *after,
    int64_t limit, json_t **out) GP_WUR;

/* ------------------------------------------------------------------ */
/* Submission (tnd_submit.c). */

struct tender_submission {
	const char *tender_id;
	const char *path;          /* the received bid, fsync'ed; moved into
	                            * DIR/tenders/<id>/bids/ when accepted,
	                            * removed when refused; NULL: it could not
	                            * be written (refused, "not_stored") */
	uint64_t size;
	const char *client;        /* for the audit record */
	const char *request_id;
};

struct tender_receipt {
	char bid_id[TENDER_ID_LEN + 1];
	char supersedes[TENDER_ID_LEN + 1]; /* "" when none */
	int64_t arrival_ms;
	uint8_t *der;              /* the receipt (SignedData) */
	size_t der_len;
};
void tender_receipt_clear(struct tender_receipt *rc);

/* Receives a bid: time-stamps its SHA-256 at once (instance TSA), then
 * checks, in this order, that the tender exists and accepts bids, that
 * it is one DER SignedData, signed, whose content is an EnvelopedData to
 * every required recipient, for this tender, by a signer whose
 * certificate this instance issued under an allowed profile to a legal
 * person (USCC), good at the time-stamp's time (ca_status_at), with a
 * valid signature (sig_verify), stamped before the deadline, not a
 * replay, and not older than the bid it supersedes. Then signs the
 * receipt and stores the bid, its supersession and its record in one
 * transaction. 0 with |rc| filled; otherwise a negative code with |why|
 * filled and the refusal audited ("tender.bid.refuse"). */
int tender_submit(const struct tender_ctx *tc,
    const struct tender_submission *in, struct tender_receipt *rc,
    struct tender_refusal *why) GP_WUR;

/* A bid refused before it was read whole: over the tender's cap |cap|
 * (|size|: the declared or received length). Fills |why| ("too_large")
 * and audits the refusal. */
void tender_refuse_size(const struct tender_ctx *tc, const char *tender_id,
    uint64_t size, uint64_t cap, const char *client, const char *request_id,
    struct tender_refusal *why);

/* Withdraws bid |bid_id| with |p7s|, a SignedData (attached JSON
 * {"type":"govpki-bid-withdrawal","tender":..,"bid":..}, the tender
 * attribute) by a certificate of the same legal person, time-stamped
 * before the deadline. The bid's "withdrawn" event keeps the signed
 * withdrawal. *out: a receipt (SignedData by the seal), OPENSSL_free(). */
int tender_withdraw(const struct tender_ctx *tc, const char *tender_id,
    const char *bid_id, const uint8_t *p7s, size_t p7s_len,
    const char *client, const char *request_id, uint8_t **out,
    size_t *out_len, struct tender_refusal *why) GP_WUR;

/* ------------------------------------------------------------------ */
/* The opening (tnd_open.c). */

/* Asks to open tender |id| (an agent, or the local operator): at or
 * after the opening time by a fresh time-stamp, once. Audited as
 * "tender.open.request". *out: {"tender", "state", "requested_by",
 * "requested_at"}. GP_ERR_CONFLICT before the opening time or when
 * already requested. */
int tender_open_request(const struct tender_ctx *tc,
    const struct ca_actor *who, const char *id, json_t **out) GP_WUR;

/* The second approval, by another person (ca_person_same refuses the
 * requester, GP_ERR_DENIED), at or after the opening time. In platform
 * mode it then opens: every current bid is decrypted with the opening
 * key (tender_opening_key), each outcome recorded ("tender.bid.open"),
 * and the opening record signed and time-stamped ("tender.record"). In
 * bidder mode it opens the key-release window. Audited as
 * "tender.open.approve". *out: the opening summary. */
int tender_open_approve(const struct tender_ctx *tc,
    const struct ca_actor *who, const char *id, json_t **out) GP_WUR;

/* THE gate to the opening key of tender |t|: 0 with *out (free with
 * EVP_PKEY_free) only when the tender is in platform mode, its events
 * hold an opening request and an approval by two different persons,
 * both at or after the opening time, and a fresh time-stamp of the
 * instance TSA reads at or after the deadline and the opening time.
 * GP_ERR_CONFLICT or GP_ERR_DENIED naming what is missing otherwise,
 * and the key is not loaded. Every decryption of a bid goes through it. */
int tender_opening_key(const struct tender_ctx *tc,
    const struct store_tender *t, EVP_PKEY **out) GP_WUR;

/* Bidder mode (tnd_release.c). A key release for bid |bid_id|: |der| is
 * a CMS EnvelopedData to the tender's transport certificate of a
 * SignedData (the bidder's, the tender attribute) of the JSON
 * {"type":"govpki-key-release","tender","bid","bid_sha256","cek":base64}.
 * Accepted only while the window is open by a fresh time-stamp; the
 * transport key is loaded only then. The stored bid is decrypted with the
 * key and checked; on success its "released" event (keeping |der|) and its
 * outcome "opened" are recorded ("tender.key.release") and *out says so.
 * A key that does not open the bid is refused ("wrong_key") and may be
 * released again within the window. Refusals audited. */
int tender_release(const struct tender_ctx *tc, const char *tender_id,
    const char *bid_id, const uint8_t *der, size_t der_len,
    const char *client, const char *request_id, json_t **out,
    struct tender_refusal *why) GP_WUR;

/* Closes the key-release window of bidder-mode tender |id| once it is over
 * by the trusted clock (or every current bid has its outcome): each
 * current bid without a release is "revoked" (art. 31, the bidder's
 * fault), then the opening record is made ("tender.window.close",
 * "tender.record"). GP_ERR_CONFLICT while the window runs. */
int tender_close(const struct tender_ctx *tc, const struct ca_actor *who,
    const char *id, json_t **out) GP_WUR;

/* ------------------------------------------------------------------ */
/* The opening record (tnd_record.c). */

/* The latest version of the record of |id| (the SignedData with every
 * confirmation so far), DER in *out (free()). GP_ERR_NOT_FOUND before
 * the opening. */
int tender_record_get(const struct tender_ctx *tc, const char *id,
    uint8_t **out, size_t *out_len) GP_WUR;

/* A bidder's confirmation: |p7s| must be the latest record with exactly
 * one more SignerInfo, valid, by a certificate of a legal person that
 * bid in this tender. Stored as the next version; audited as
 * "tender.record.confirm". GP_ERR_CONFLICT (rule "record_changed") when
 * another confirmation came first: fetch the record again. */
int tender_record_confirm(const struct tender_ctx *tc, const char *id,
    const uint8_t *p7s, size_t p7s_len, const char *client,
    const char *request_id, struct tender_refusal *why) GP_WUR;

/* ------------------------------------------------------------------ */
/* The bidder's client (tnd_seal.c). */

struct tender_field {
	const char *name;
	const char *value;
};

struct tender_seal_req {
	json_t *tender;            /* the tender's public JSON (borrowed) */
	X509 *root;                /* the instance root the recipients and
	                            * the receipt must chain to */
	STACK_OF(X509) *recipients; /* to encrypt to (checked here) */
	const struct tender_field *fields;
	size_t fields_len;
	const char *in;            /* the bid document */
	const char *out;           /* the sealed bid, written atomically */
	EVP_PKEY *key;             /* the bidder's signing key (USB key) */
	X509 *cert;
	STACK_OF(X509) *chain;     /* its CAs up to the root; may be NULL */
};
/* Seals |rq->in| (any size; streamed) for the tender: the bid package
 * with the summary of the announced fields (each required field
 * present), encrypted to every recipient, signed with the tender
 * attribute, written to |rq->out| (never overwriting). Each recipient
 * must chain to |rq->root| and allow keyEncipherment. *out_sha256 (may
 * be NULL) gets the hex SHA-256 of the sealed bid (free()). */
int tender_seal(const struct tender_seal_req *rq, char **out_sha256) GP_WUR;

/* The recipients a sealed bid for |tender| needs from its JSON
 * (platform: its "recipients"), verified against |root| (keyEncipherment,
 * RSA). New stack in *out. */
int tender_recipients(json_t *tender, X509 *root, STACK_OF(X509) **out)
    GP_WUR;

/* Checks a receipt |der| for the sealed bid |bid_path|: a SignedData by
 * a certificate chaining to |root| whose content names the tender
 * |tender_id|, the bid's SHA-256 and size. *out (may be NULL): the
 * receipt's JSON. */
int tender_receipt_check(const uint8_t *der, size_t der_len, X509 *root,
    const char *tender_id, const char *bid_path, json_t **out) GP_WUR;

/* The bidder's key release (`govpki bid decrypt`): from its own sealed
 * bid |bid_path|, the content-encryption key unwrapped with |enc_key|
 * (the bidder's encryption key, on its USB key) from the recipient info
 * naming |enc_cert|, signed with |key| and encrypted to the tender's
 * transport certificate (which must chain to |root| and name the tender).
 * Refused unless the tender's JSON says its window is open. *out: the DER
 * to POST to /tenders/<id>/bids/<bid>/release (OPENSSL_free). */
struct tender_release_req {
	json_t *tender;
	X509 *root;
	const char *bid_id;
	const char *bid_path;
	EVP_PKEY *enc_key;
	X509 *enc_cert;
	EVP_PKEY *key;
	X509 *cert;
	STACK_OF(X509) *chain;
};
int tender_release_make(const struct tender_release_req *rq, uint8_t **out,
    size_t *out_len) GP_WUR;

/* A signed JSON document for the API (withdrawals, key releases):
 * CMS SignedData, CAdES B-B, the JSON attached, the tender attribute
 * |tender_id|. *out free with OPENSSL_free. */
int tender_sign_json(json_t *doc, const char *tender_id, EVP_PKEY *key,
    X509 *cert, STACK_OF(X509) *chain, uint8_t **out, size_t *out_len)
    GP_WUR;

#endif /* GOVPKI_TENDER_H */
