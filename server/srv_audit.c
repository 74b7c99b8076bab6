/*
 * srv_audit.c: the server's side of the audit log's anchors outside the
 * database. srv_audit_checkpoint() signs a checkpoint and time-stamps it
 * with the server's own TSA (at start, every audit.checkpoint_s while
 * records are unsealed, and at shutdown: srv_main.c calls it), and
 * GET /audit/checkpoint publishes the latest signed head on the public
 * listener, so that auditors' witnesses (`govpki audit witness`) can keep
 * copies the instance's operators cannot reach. It reads public data only
 * and is not audited, like /certs and /crl.
 */
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"
#include "signer/signer.h"

int
srv_audit_checkpoint(struct srv *s, int force)
{
	return instance_checkpoint(s->inst, s->tsa, force);
}

/* |len| bytes as a base64 JSON string; NULL on allocation failure. */
static json_t *
srv_audit_b64(const uint8_t *buf, size_t len)
{
	char *b64 = sig_b64_encode(buf, len);
	json_t *j;

	if (b64 == NULL)
		return NULL;
	j = json_string(b64);
	free(b64);
	return j;
}

/* The DER of |x| as a base64 JSON string. */
static json_t *
srv_audit_cert_b64(X509 *x)
{
	uint8_t *der = NULL;
	json_t *j = NULL;
	int n;

	if (x != NULL && (n = i2d_X509(x, &der)) > 0)
		j = srv_audit_b64(der, (size_t)n);
	OPENSSL_free(der);
	return j;
}

/* GET /audit/checkpoint (public): the latest signed head of the audit log
 * as docs/api.md describes it: id, seq, hash, time, time_ms, sig, tst (or
 * null), and the audit certificate with its intermediate (cert, chain), so
 * that a witness needs only the root to check it. */
int
srv_h_audit_checkpoint(struct srv_req *rq, const char *url)
{
	int r;
	struct store_checkpoint cp;
	struct instance *inst = rq->srv->inst;
	json_t *reply = NULL, *chain = NULL;

	memset(&cp, 0, sizeof(cp));
	r = store_checkpoint_last(inst->st, &cp);
	if (r == GP_ERR_NOT_FOUND)
		r = gp_err_set(GP_ERR_NOT_FOUND, "the audit log has no "
		    "checkpoint yet");
	GUARD(r);
	ENSURE((chain = json_array()) != NULL, GP_ERR_NOMEM);
	if (inst->cert[GP_KEY_CA] != NULL)
		ENSURE(json_array_append_new(chain,
		    srv_audit_cert_b64(inst->cert[GP_KEY_CA])) == 0,
		    GP_ERR_NOMEM);
	reply = json_pack("{s:I, s:I, s:o, s:o, s:I, s:o, s:o, s:o, s:o}",
	    "id", (json_int_t)cp.id,
	    "seq", (json_int_t)cp.seq,
	    "hash", srv_audit_b64(cp.hash, sizeof(cp.hash)),
	    "time", audit_time_json(cp.time_ms),
	    "time_ms", (json_int_t)cp.time_ms,
	    "sig", srv_audit_b64(cp.sig, cp.sig_len),
	    "tst", cp.tst != NULL ? srv_audit_b64(cp.tst, cp.tst_len) :
	    json_null(),
	    "cert", srv_audit_cert_b64(inst->cert[GP_KEY_AUDIT]),
	    "chain", chain);
	chain = NULL; /* transferred, also on failure */
	ENSURE(reply != NULL, GP_ERR_NOMEM);
	r = srv_reply_json(rq, 200, reply);
	reply = NULL; /* transferred */
out:
	json_decref(chain);
	json_decref(reply);
	store_checkpoint_clear(&cp);
	return r;
}
