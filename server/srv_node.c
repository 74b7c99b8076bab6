/*
 * srv_node.c: this process among the nodes sharing a store.
 *
 * The process is "<node>/<random run id>" (s->holder): what holds leases,
 * the CRL schedule's (srv_ocsp.c) and the node's own. On a shared store
 * (PostgreSQL, store_shared) the node lease "node/<name>" makes a node name
 * one process's at a time. Two processes under one name would share the
 * TSA's genTime bound (tsa.last_gentime_us/<name>), and nothing in their
 * logs or audit records would tell them apart; two nodes on one host
 * started without --node both take the host name. A second process is
 * refused at start, and the refusal is audited ("node.lease", denied). A
 * run that died without releasing the lease (kill -9, a power cut) holds
 * it until it expires: its successor waits that long (SRV_NODE_LEASE_MS)
 * before it starts. The CRL schedule's thread renews the lease each tick
 * (srv_lease_tick); shutdown releases it.
 *
 * A SQLite store lives in one instance directory on one machine: the
 * servers sharing it (the instance lock is shared) read one clock, so one
 * genTime bound suits them all, and nothing here writes to it.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/internal.h"

/* How long a node lease lasts unless renewed (each tick renews it): a
 * node that dies holding it keeps its successor waiting this long. */
#define SRV_NODE_LEASE_MS 10000
/* Between two attempts while a dead run's lease runs out. */
#define SRV_NODE_RETRY_MS 500

static void
srv_node_lease_name(const struct srv *s, char *buf, size_t len)
{
	snprintf(buf, len, "node/%s", s->inst->node);
}

/* One attempt: takes or renews the lease in its own transaction. */
static int
srv_node_take(struct srv *s, int *out_held, struct store_lease *out_prev)
{
	store *st = s->inst->st;
	char name[80];
	int r;

	srv_node_lease_name(s, name, sizeof(name));
	GUARD(store_begin(st));
	if ((r = store_lease_take(st, name, s->holder, gp_now_ms(),
	    SRV_NODE_LEASE_MS, out_held, out_prev)) != 0) {
		store_rollback(st);
		goto out;
	}
	r = store_commit(st);
out:
	return r;
}

static void
srv_node_refused(struct srv *s, const struct store_lease *by)
{
	struct instance *inst = s->inst;
	struct audit_event ev;
	json_t *d;

	d = json_pack("{s:s, s:s, s:s, s:I}", "node", inst->node, "holder",
	    s->holder, "held_by", by->holder, "expires_ms",
	    (json_int_t)by->expires_ms);
	memset(&ev, 0, sizeof(ev));
	ev.actor = inst->actor[0] != '\0' ? inst->actor : "server";
	ev.role = "system";
	ev.op = "node.lease";
	ev.object = inst->node;
	ev.outcome = "denied";
	ev.details = d;
	if (audit_log(inst->audit, &ev) != 0)
		gp_log(GP_LOG_ERROR, "node %s: auditing the refusal: %s",
		    inst->node, gp_err_detail());
	json_decref(d);
}

int
srv_node_init(struct srv *s)
{
	struct store_lease prev;
	struct timespec ts = {0, SRV_NODE_RETRY_MS * 1000000L};
	uint8_t run[4];
	int64_t deadline;
	int r, held = 0, waited = 0;

	GUARD(gp_random(run, sizeof(run)));
	/* A node name has at most 63 bytes: keep 54 of them, then 9. */
	snprintf(s->holder, sizeof(s->holder), "%.54s/%02x%02x%02x%02x",
	    s->inst->node, run[0], run[1], run[2], run[3]);
	if (!store_shared(s->inst->st)) {
		r = 0;
		goto out;
	}
	deadline = gp_now_ms() + SRV_NODE_LEASE_MS + SRV_NODE_RETRY_MS;
	for (;;) {
		memset(&prev, 0, sizeof(prev));
		GUARD(srv_node_take(s, &held, &prev));
		if (held || gp_now_ms() > deadline)
			break;
		if (!waited)
			gp_log(GP_LOG_WARN, "node %s: %s holds the name until "
			    "its lease expires; waiting up to %d s (a run "
			    "that died does not renew it)", s->inst->node,
			    prev.holder, SRV_NODE_LEASE_MS / 1000);
		waited = 1;
		nanosleep(&ts, NULL);
	}
	if (!held) {
		srv_node_refused(s, &prev);
		r = gp_err_set(GP_ERR_EXISTS, "node %s: another process (%s) "
		    "serves as this node on the store and renews its lease; "
		    "give each node its own name (serve --node NAME or $%s)",
		    s->inst->node, prev.holder, INSTANCE_NODE_ENV);
		goto out;
	}
	s->node_leased = 1;
	r = 0;
out:
	return r;
}

void
srv_lease_tick(struct srv *s)
{
	struct store_lease prev;
	int held = 0;

	memset(&prev, 0, sizeof(prev));
	/* A store that does not answer: srv_crl_tick() logs it. */
	if (s->node_leased && srv_node_take(s, &held, &prev) == 0) {
		if (!held && !s->node_lost) {
			gp_log(GP_LOG_ERROR, "node %s: the name's lease passed "
			    "to %s (this process did not renew it in time): "
			    "two processes now serve as node %s; stop one",
			    s->inst->node, prev.holder, s->inst->node);
			s->node_lost = 1;
		} else if (held && s->node_lost) {
			gp_log(GP_LOG_INFO, "node %s: the name's lease is "
			    "this process's again", s->inst->node);
			s->node_lost = 0;
		}
	}
	srv_crl_tick(s);
}

int
srv_lease_end(struct srv *s, const char *name)
{
	store *st = s->inst->st;
	int r;

	GUARD(store_begin(st));
	if ((r = store_lease_release(st, name, s->holder, gp_now_ms())) != 0) {
		store_rollback(st);
		goto out;
	}
	r = store_commit(st);
out:
	return r;
}

void
srv_node_free(struct srv *s)
{
	char name[80];

	if (!s->node_leased)
		return;
	srv_node_lease_name(s, name, sizeof(name));
	if (srv_lease_end(s, name) != 0)
		gp_log(GP_LOG_WARN, "node %s: lease not released (a restart "
		    "waits until it expires): %s", s->inst->node,
		    gp_err_detail());
	s->node_leased = 0;
}
