/*
 * srv_conn.c: the server's view of TCP connections, and the guard.
 *
 * libmicrohttpd limits how many connections one address holds
 * (limits.max_connections_per_ip, MHD_OPTION_PER_IP_CONNECTION_LIMIT) and
 * closes a connection idle for limits.request_timeout_s, but its timeout is
 * an idle timeout: a client that trickles its headers one byte at a time
 * keeps a connection (and its share of the connection limit) for ever. So
 * each connection here carries an absolute deadline,
 * limits.request_deadline_s after it was accepted (for its first request)
 * or after its previous request completed (for the next one), by which the
 * request's headers and body must have arrived. The deadline is off while
 * a handler runs or a reply is held or sent (srv_conn_disarm at dispatch)
 * and set again when the request completes.
 *
 * The guard (srv_guard_tick, on its own thread, srv_tick.c) runs every
 * SRV_GUARD_TICK_MS (srv_main.c): it cuts off connections past their
 * deadline (shutdown(2) of the socket: libmicrohttpd then reads
 * end-of-stream and closes the connection itself, so its state stays its
 * own; nothing can be answered, since libmicrohttpd 0.9.75 queues no reply
 * before the request's headers are complete, nor in mid-body), and it
 * writes the aggregated refusals of every minute that has ended
 * (srv_peers_flush, without waiting for the commit).
 *
 * The registry is a list under srv->conn_mu. libmicrohttpd reports a
 * connection closed (MHD_CONNECTION_NOTIFY_CLOSED) before it closes the
 * socket, and the entry leaves the list under the same mutex, so the guard
 * never shuts down a descriptor that was closed and reused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server/internal.h"

void
srv_conn_arm(struct srv *s, struct srv_conn *sc)
{
	if (sc == NULL)
		return;
	atomic_store(&sc->deadline_ms, gp_mono_ms() +
	    s->inst->cfg->request_deadline_s * 1000);
}

void
srv_conn_disarm(struct srv_conn *sc)
{
	if (sc != NULL)
		atomic_store(&sc->deadline_ms, 0);
}

void
srv_conn_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
    enum MHD_ConnectionNotificationCode toe)
{
	const struct srv_lctx *lc = cls;
	struct srv *s = lc->srv;
	const union MHD_ConnectionInfo *ci;
	struct srv_conn *sc;

	switch (toe) {
	case MHD_CONNECTION_NOTIFY_STARTED:
		/* Without memory the connection has no deadline but the idle
		 * timeout; libmicrohttpd gives no way to refuse it here. */
		if ((sc = calloc(1, sizeof(*sc))) == NULL)
			break;
		sc->listener = lc->listener;
		ci = MHD_get_connection_info(c,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		sc->fd = ci != NULL ? ci->connect_fd : MHD_INVALID_SOCKET;
		srv_client_addr(c, sc->client, sizeof(sc->client));
		srv_conn_arm(s, sc);
		pthread_mutex_lock(&s->conn_mu);
		sc->next = s->conns;
		if (s->conns != NULL)
			s->conns->prev = sc;
		s->conns = sc;
		pthread_mutex_unlock(&s->conn_mu);
		*socket_ctx = sc;
		break;
	case MHD_CONNECTION_NOTIFY_CLOSED:
		sc = *socket_ctx;
		*socket_ctx = NULL;
		if (sc == NULL)
			break;
		pthread_mutex_lock(&s->conn_mu);
		if (sc->prev != NULL)
			sc->prev->next = sc->next;
		else
			s->conns = sc->next;
		if (sc->next != NULL)
			sc->next->prev = sc->prev;
		pthread_mutex_unlock(&s->conn_mu);
		srv_ident_clear(&sc->ident);
		free(sc);
		break;
	default:
		break;
	}
}

int
srv_conn_sweep(struct srv *s, int64_t now_ms)
{
	struct srv_conn *sc;
	int64_t d;
	int n = 0;

	pthread_mutex_lock(&s->conn_mu);
	for (sc = s->conns; sc != NULL; sc = sc->next) {
		d = atomic_load(&sc->deadline_ms);
		if (sc->cut || d == 0 || now_ms < d ||
		    sc->fd == MHD_INVALID_SOCKET)
			continue;
		/* The descriptor is open: NOTIFY_CLOSED, which comes before
		 * libmicrohttpd closes it, waits for this mutex. */
		if (shutdown(sc->fd, SHUT_RDWR) != 0 && errno != ENOTCONN)
			gp_log(GP_LOG_WARN, "server: cannot cut off a "
			    "connection from %s: %s", sc->client,
			    strerror(errno));
		sc->cut = 1;
		n++;
		gp_log(GP_LOG_WARN, "server: %s connection from %s cut off: "
		    "its request was not complete within %lld s "
		    "(limits.request_deadline_s)",
		    srv_listener_name(sc->listener), sc->client,
		    (long long)s->inst->cfg->request_deadline_s);
		if (sc->listener == SRV_PUBLIC)
			srv_peers_refused(s->peers, sc->client,
			    SRV_REFUSED_DEADLINE, gp_now_ms());
	}
	pthread_mutex_unlock(&s->conn_mu);
	return n;
}

void
srv_guard_tick(struct srv *s)
{
	(void)srv_conn_sweep(s, gp_mono_ms());
	srv_test_stall_tick(s);
	/* Queued, not waited for: a slow commit must not stop the sweep.
	 * Failures are logged with the counts. */
	if (srv_peers_flush(s->peers, s->inst->audit, gp_now_ms(), 0, 0) != 0)
		gp_err_clear();
}
