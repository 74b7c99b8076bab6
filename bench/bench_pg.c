/*
 * bench_pg.c: the PostgreSQL store against SQLite in the same run (issue
 * 12). A throwaway cluster (tests/pg.sh: a Unix socket in its own /tmp
 * folder, no TCP, durable as PostgreSQL ships: fsync=on,
 * synchronous_commit=on) is started for the bench and stopped on every
 * path (normal end, error, SIGINT, SIGTERM; pg.sh's watchdog stops it
 * too once this process is gone). Rows:
 *
 *   audit append (durable, PostgreSQL)
 *       bench_audit() on an empty database, 1 and BENCH_AUDIT_THREADS
 *       threads, against the SQLite rows of the same run;
 *   https issue (SQLite)
 *   http POST /tsa (SQLite)
 *       a fresh SQLite instance (govpki init --dev-clock, limits.threads
 *       = BENCH_HELD_CLIENTS), one `govpki serve`: the baselines, measured
 *       exactly as the PostgreSQL rows are (the `ca` rows run on a store
 *       filled to 10k and 1M certificates with the default threads, the
 *       `tsa` rows on a copy of the bench instance);
 *   https issue (PostgreSQL, 1 node)
 *   http POST /tsa (PostgreSQL, 1 node)
 *       the same instance made with `govpki init --store URL`, one node;
 *   https issue (PostgreSQL, 3 nodes)
 *   http POST /tsa (PostgreSQL, 3 nodes)
 *       three `govpki serve --node nI` on copies of that instance
 *       directory (the same configuration and keys) and the one database,
 *       the same BENCH_HELD_CLIENTS clients spread over their ports.
 *
 * Issuance counts 201 answers (a certificate, stored and audited before
 * the answer); time-stamps count answers whose status is granted with a
 * token (a rejection is HTTP 200 too). Any failed request fails the row
 * (marked FAILED) and the bench; so does a node that died or does not
 * answer after a measurement. Each server row is followed by the CPU time
 * per operation of the govpki server(s) and of the PostgreSQL processes,
 * which share the machine's cores with the load generator.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "bench/bench.h"
#include "core/core.h"
#include "store/store.h"

int bench_pg(const struct bench_env *env);

#define BENCH_PG_NODES 3

static char pg_sh[400];         /* tests/pg.sh */
static char pg_dir[256];        /* the cluster's folder, "" when none */
static char pg_url[512];        /* its "postgres" database */
static pid_t pg_nodes[BENCH_PG_NODES] = {-1, -1, -1};

/* The bench_at_stop() hook: the nodes, then the cluster. Only fork, exec,
 * kill and wait: it may run in the signal handler. */
static void
pg_stop_all(void)
{
	pid_t pid;
	int i, st;

	for (i = 0; i < BENCH_PG_NODES; i++) {
		bench_serve_stop(pg_nodes[i]);
		pg_nodes[i] = -1;
	}
	if (pg_dir[0] == '\0')
		return;
	if ((pid = fork()) == 0) {
		execl("/bin/bash", "bash", pg_sh, "stop", pg_dir, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, &st, 0);
	pg_dir[0] = '\0';
}

/* tests/pg.sh next to the bench binary's build folder, else from the
 * current directory (make bench runs in the source tree). */
static int
pg_sh_find(void)
{
	char exe[300];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL) {
			*slash = '\0';
			snprintf(pg_sh, sizeof(pg_sh), "%s/../tests/pg.sh", exe);
			if (access(pg_sh, R_OK) == 0)
				return 0;
		}
	}
	snprintf(pg_sh, sizeof(pg_sh), "tests/pg.sh");
	if (access(pg_sh, R_OK) == 0)
		return 0;
	fprintf(stderr, "bench pg: tests/pg.sh not found (run make bench "
	    "from the source tree)\n");
	return -1;
}

/* `pg.sh start` owned by this process: its folder and URL. */
static int
pg_start(void)
{
	char cmd[600], line[sizeof(pg_url)];
	FILE *f;
	size_t n;
	int st;

	snprintf(cmd, sizeof(cmd), "bash '%s' start %ld", pg_sh,
	    (long)getpid());
	if ((f = popen(cmd, "r")) == NULL)
		return -1;
	if (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		snprintf(pg_dir, sizeof(pg_dir), "%.200s", line);
	}
	if (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		snprintf(pg_url, sizeof(pg_url), "%s", line);
	}
	st = pclose(f);
	n = strlen(pg_url);
	if (st != 0 || pg_dir[0] == '\0' || n == 0 ||
	    strncmp(pg_dir, "/tmp/govpki-pg.", 15) != 0) {
		fprintf(stderr, "bench pg: tests/pg.sh start failed\n");
		return -1;
	}
	return 0;
}

/* Creates database |name| and writes its URL into |url|. */
static int
pg_database(const char *name, char *url, size_t cap)
{
	char sql[128];
	char *argv[] = {(char *)"/bin/bash", pg_sh, (char *)"psql", pg_dir,
	    (char *)"-d", (char *)"postgres", (char *)"-c", sql, NULL};
	const char *q = strstr(pg_url, "/postgres?");

	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	if (q == NULL || run_cmd(argv) != 0) {
		fprintf(stderr, "bench pg: CREATE DATABASE %s failed\n", name);
		return -1;
	}
	snprintf(url, cap, "%.*s/%s%s", (int)(q - pg_url), pg_url, name,
	    q + 9);
	return 0;
}

/* User plus system CPU seconds of the cluster's processes alive now: the
 * postmaster and its children (a backend per connection of each node). */
static double
pg_cpu_s(void)
{
	char path[320], buf[1024], *p;
	unsigned long ut, st;
	long master = -1, ppid;
	double sum = 0;
	struct dirent *e;
	FILE *f;
	DIR *d;
	size_t n;

	snprintf(path, sizeof(path), "%s/data/postmaster.pid", pg_dir);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fscanf(f, "%ld", &master) != 1)
		master = -1;
	fclose(f);
	if (master <= 0 || (d = opendir("/proc")) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		/* proc(5): ppid is field 4, utime and stime 14 and 15. */
		if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 2,
		    "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
		    &ppid, &ut, &st) != 3)
			continue;
		if (ppid == master || atol(e->d_name) == master)
			sum += (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	}
	closedir(d);
	return sum;
}

/* store_ping() (SELECT 1) from one thread on the store at |target|: what
 * every statement pays at least (PostgreSQL: a round trip to the server;
 * SQLite: a call in process), a row with the ratio to |base|. */
static int
pg_ping(const char *target, const char *name, double base,
    const char *against, double *out_ops)
{
	struct bench_lat lat;
	struct bench_row *row;
	store *st = NULL;
	double t0, start, until;
	long count = 0;
	int r = -1;

	memset(&lat, 0, sizeof(lat));
	if (store_open(target, 1, &st) != 0) {
		fprintf(stderr, "bench pg: %s: %s\n", name, gp_err_detail());
		goto out;
	}
	start = now_s();
	until = start + bench_seconds;
	while ((t0 = now_s()) < until) {
		if (store_ping(st) != 0) {
			fprintf(stderr, "bench pg: %s: %s\n", name,
			    gp_err_detail());
			goto out;
		}
		lat_add(&lat, (now_s() - t0) * 1e6);
		count++;
	}
	row = row_add(name, 1);
	row->ops = count / (now_s() - start);
	row->rss_mb = rss_self_mb();
	row->ratio = base > 0 ? row->ops / base : -1;
	snprintf(row->against, sizeof(row->against), "%s",
	    against != NULL ? against : "");
	lat_finish(&lat, 1, row);
	*out_ops = row->ops;
	r = 0;
out:
	free(lat.us);
	store_free(st);
	return r;
}

/* What the nodes' PostgreSQL backends wait for during a measurement,
 * sampled from pg_stat_activity every 20 ms on a connection of its own:
 * "ClientRead" is a backend waiting for its node's next statement (the
 * round trip on the node's side), "advisory" for the write lock another
 * node holds, "WALSync"/"WALWrite" for the commit's flush, "-" running. */
#define PG_WAIT_KINDS 16
struct pg_waits {
	pthread_t th;
	PGconn *pg;
	char db[64];
	volatile int stop;
	int kinds;
	char name[PG_WAIT_KINDS][40];
	long count[PG_WAIT_KINDS];
	long samples;
};

static void *
pg_waits_run(void *p)
{
	struct pg_waits *w = p;
	const char *params[1] = {w->db};
	PGresult *res;
	int i, k, rows;

	while (!w->stop) {
		res = PQexecParams(w->pg, "SELECT coalesce(wait_event, '-') "
		    "FROM pg_stat_activity WHERE datname = $1 AND pid <> "
		    "pg_backend_pid() AND state <> 'idle'", 1, NULL, params,
		    NULL, NULL, 0);
		if (PQresultStatus(res) == PGRES_TUPLES_OK) {
			rows = PQntuples(res);
			for (i = 0; i < rows; i++) {
				const char *e = PQgetvalue(res, i, 0);
				for (k = 0; k < w->kinds &&
				    strcmp(w->name[k], e) != 0; k++)
					;
				if (k == w->kinds && k < PG_WAIT_KINDS)
					snprintf(w->name[w->kinds++],
					    sizeof(w->name[0]), "%s", e);
				if (k < PG_WAIT_KINDS)
					w->count[k]++;
			}
			w->samples++;
		}
		PQclear(res);
		usleep(20000);
	}
	return NULL;
}

/* Starts sampling the backends of database |db|; 0 on success. */
static int
pg_waits_start(struct pg_waits *w, const char *db)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->db, sizeof(w->db), "%s", db);
	w->pg = PQconnectdb(pg_url);
	if (PQstatus(w->pg) != CONNECTION_OK ||
	    pthread_create(&w->th, NULL, pg_waits_run, w) != 0) {
		PQfinish(w->pg);
		w->pg = NULL;
		return -1;
	}
	return 0;
}

/* Stops sampling and prints the share of each wait (of backend-samples
 * that were not idle), largest first. */
static void
pg_waits_stop(struct pg_waits *w, const char *name)
{
	long total = 0;
	int i, best, done[PG_WAIT_KINDS] = {0}, n;

	if (w->pg == NULL)
		return;
	w->stop = 1;
	pthread_join(w->th, NULL);
	PQfinish(w->pg);
	w->pg = NULL;
	for (i = 0; i < w->kinds; i++)
		total += w->count[i];
	if (total == 0)
		return;
	printf("bench: %s: PostgreSQL backends (busy, of %ld samples): ", name,
	    w->samples);
	for (n = 0; n < w->kinds; n++) {
		for (best = -1, i = 0; i < w->kinds; i++) {
			if (!done[i] && (best < 0 || w->count[i] >
			    w->count[best]))
				best = i;
		}
		done[best] = 1;
		printf("%s%s %.0f%%", n > 0 ? ", " : "", w->name[best],
		    100.0 * (double)w->count[best] / (double)total);
	}
	printf(" (\"-\": running)\n");
}

/* `govpki init --dev-clock` of DIR, on |url| (NULL: SQLite), served with
 * one thread per held client. */
static int
pg_init(const char *govpki, const char *dir, const char *url)
{
	char *argv[] = {(char *)govpki, (char *)"init", (char *)"--dir",
	    (char *)dir, (char *)"--dev-clock", (char *)"--store",
	    (char *)url, NULL};

	if (url == NULL)
		argv[5] = NULL;
	if (run_cmd(argv) != 0) {
		fprintf(stderr, "bench pg: govpki init --dir %s%s%s failed\n",
		    dir, url != NULL ? " --store " : "", url != NULL ? url : "");
		return -1;
	}
	return bench_cfg_set(dir, "limits", "threads",
	    json_integer(BENCH_HELD_CLIENTS));
}

/* One server setup under test: |n| nodes. */
struct pg_setup {
	const char *label;       /* "SQLite", "PostgreSQL, 1 node", ... */
	const char *db;          /* the PostgreSQL database, or NULL */
	int n;
	uint16_t http[BENCH_PG_NODES];
	uint16_t https[BENCH_PG_NODES];
	char log[BENCH_PG_NODES][320];
};

/* The last lines of node |i|'s stderr, to say why it failed. */
static void
pg_node_tail(const struct pg_setup *s, int i)
{
	char cmd[400];

	fprintf(stderr, "bench pg: %s, node n%d: its last log lines:\n",
	    s->label, i + 1);
	snprintf(cmd, sizeof(cmd), "tail -n 5 '%s' >&2", s->log[i]);
	if (system(cmd) != 0)
		fprintf(stderr, "(none)\n");
}

/* Every node is alive and grants a time-stamp and a certificate. */
static int
pg_nodes_ok(struct pg_setup *s, SSL_CTX *ctx, const char *issue,
    const char *tsq, size_t tsq_len)
{
	int i, st;

	for (i = 0; i < s->n; i++) {
		if (waitpid(pg_nodes[i], &st, WNOHANG) != 0) {
			pg_nodes[i] = -1; /* reaped */
			fprintf(stderr, "bench pg: %s: node n%d exited\n",
			    s->label, i + 1);
			pg_node_tail(s, i);
			return -1;
		}
		if (!bench_request_once(NULL, s->http[i], tsq, tsq_len, 200,
		    bench_tsa_granted) ||
		    !bench_request_once(ctx, s->https[i], issue, strlen(issue),
		    201, NULL)) {
			fprintf(stderr, "bench pg: %s: node n%d does not grant "
			    "a time-stamp or a certificate\n", s->label, i + 1);
			pg_node_tail(s, i);
			return -1;
		}
	}
	return 0;
}

/* Runs |spec| on the nodes of |s| and prints where the CPU went. */
static int
pg_measure(struct pg_setup *s, struct bench_load_spec *spec,
    const char *unit, double *out_ops)
{
	double g0 = 0, g1 = 0, p0, p1, t0, secs, ops = 0, n, c;
	struct pg_waits w;
	int i, r, sampled;

	spec->servers = pg_nodes;
	spec->nports = s->n;
	for (i = 0; i < s->n; i++)
		g0 += (c = bench_cpu_pid_s(pg_nodes[i])) > 0 ? c : 0;
	sampled = s->db != NULL && pg_waits_start(&w, s->db) == 0;
	p0 = pg_cpu_s();
	t0 = now_s();
	r = bench_load_run(spec, &ops);
	secs = now_s() - t0;
	p1 = pg_cpu_s();
	if (sampled)
		pg_waits_stop(&w, spec->name);
	for (i = 0; i < s->n; i++)
		g1 += (c = bench_cpu_pid_s(pg_nodes[i])) > 0 ? c : 0;
	n = ops * secs;
	if (r == 0 && n > 0) {
		printf("bench: %s: %.0f/s, govpki CPU %.3f ms per %s",
		    spec->name, ops, (g1 - g0) * 1e3 / n, unit);
		if (strcmp(s->label, "SQLite") != 0 && p0 >= 0 && p1 >= 0)
			printf(", PostgreSQL CPU %.3f ms per %s", (p1 - p0) *
			    1e3 / n, unit);
		printf(" (%.0f%% of one core, %.0f%%)\n", (g1 - g0) * 100 / secs,
		    strcmp(s->label, "SQLite") != 0 && p0 >= 0 ?
		    (p1 - p0) * 100 / secs : 0.0);
		fflush(stdout);
	}
	if (out_ops != NULL)
		*out_ops = ops;
	return r;
}

/* Starts the nodes of |s| on |dirs|, measures issuance and time-stamps
 * against |base| (the SQLite rates, NULL for SQLite itself) and stops
 * them. out[0] and out[1]: the rates of issuance and time-stamps. */
static int
pg_setup_run(const char *govpki, struct pg_setup *s, char dirs[][300],
    SSL_CTX *ctx, const char *issue, const char *tsq, size_t tsq_len,
    const double *base, double out[2])
{
	struct bench_load_spec spec;
	char name[48], node[16];
	int i, r = -1;

	for (i = 0; i < s->n; i++) {
		snprintf(s->log[i], sizeof(s->log[i]), "%s/pg-serve-%s-n%d.log",
		    bench_tmp, s->n == 1 ? (base == NULL ? "sqlite" : "pg1") :
		    "pg3", i + 1);
		snprintf(node, sizeof(node), "n%d", i + 1);
		pg_nodes[i] = bench_serve_node(govpki, dirs[i], node, s->log[i],
		    &s->http[i], &s->https[i]);
		if (pg_nodes[i] < 0) {
			fprintf(stderr, "bench pg: %s: node %s did not start\n",
			    s->label, node);
			pg_node_tail(s, i);
			goto out;
		}
	}
	if (pg_nodes_ok(s, ctx, issue, tsq, tsq_len) != 0)
		goto out;

	memset(&spec, 0, sizeof(spec));
	snprintf(name, sizeof(name), "https issue (%s)", s->label);
	spec.name = name;
	spec.ctx = ctx;
	spec.ports = s->https;
	spec.request = issue;
	spec.request_len = strlen(issue);
	spec.want_status = 201;
	spec.clients = BENCH_HELD_CLIENTS;
	spec.base_ops = base != NULL ? base[0] : -1;
	spec.against = base != NULL ? "SQLite issue x16" : NULL;
	if (pg_measure(s, &spec, "certificate", &out[0]) != 0) {
		(void)pg_nodes_ok(s, ctx, issue, tsq, tsq_len); /* which */
		goto out;
	}
	if (pg_nodes_ok(s, ctx, issue, tsq, tsq_len) != 0)
		goto out;

	memset(&spec, 0, sizeof(spec));
	snprintf(name, sizeof(name), "http POST /tsa (%s)", s->label);
	spec.name = name;
	spec.ports = s->http;
	spec.request = tsq;
	spec.request_len = tsq_len;
	spec.want_status = 200;
	spec.check = bench_tsa_granted;
	spec.clients = BENCH_HELD_CLIENTS;
	spec.base_ops = base != NULL ? base[1] : -1;
	spec.against = base != NULL ? "SQLite /tsa x16" : NULL;
	if (pg_measure(s, &spec, "token", &out[1]) != 0) {
		(void)pg_nodes_ok(s, ctx, issue, tsq, tsq_len); /* which */
		goto out;
	}
	if (pg_nodes_ok(s, ctx, issue, tsq, tsq_len) != 0)
		goto out;
	r = 0;
out:
	for (i = 0; i < BENCH_PG_NODES; i++) {
		bench_serve_stop(pg_nodes[i]);
		pg_nodes[i] = -1;
	}
	return r;
}

int
bench_pg(const struct bench_env *env)
{
	char govpki[300], path[400], url[600], tsq[2048], cmd[1400];
	char dirs[BENCH_PG_NODES][300], sqlite_dir[300];
	struct pg_setup s;
	SSL_CTX *ctx = NULL;
	char *issue = NULL;
	double base[2] = {0, 0}, one[2] = {0, 0}, three[2] = {0, 0}, ping = 0;
	size_t tsq_len = 0;
	ssize_t n;
	int i, r = -1;

	snprintf(path, sizeof(path), "/proc/%ld/exe", (long)server_pid);
	if ((n = readlink(path, govpki, sizeof(govpki) - 1)) <= 0)
		return -1;
	govpki[n] = '\0';
	if (pg_sh_find() != 0 || bench_at_stop(pg_stop_all) != 0 ||
	    pg_start() != 0)
		goto out;
	if ((issue = bench_ca_request()) == NULL ||
	    bench_tsa_request(tsq, sizeof(tsq), &tsq_len) != 0)
		goto out;

	/* One statement's round trip, then durable audit appends. */
	snprintf(path, sizeof(path), "%s/pg-ping.db", bench_tmp);
	if (pg_ping(path, "store round trip SELECT 1 (SQLite)", -1, NULL,
	    &ping) != 0 || pg_database("bench_ping", url, sizeof(url)) != 0 ||
	    pg_ping(url, "store round trip SELECT 1 (PostgreSQL)", -1, NULL,
	    &ping) != 0)
		goto out;
	if (pg_database("bench_audit1", url, sizeof(url)) != 0 ||
	    bench_audit(url, "audit append (durable, PostgreSQL)", 1,
	    env->audit_sqlite[0], "SQLite audit x1", NULL) != 0)
		goto out;
	if (pg_database("bench_audit8", url, sizeof(url)) != 0 ||
	    bench_audit(url, "audit append (durable, PostgreSQL)",
	    BENCH_AUDIT_THREADS, env->audit_sqlite[1], "SQLite audit x8",
	    NULL) != 0)
		goto out;

	/* The SQLite baseline. */
	snprintf(sqlite_dir, sizeof(sqlite_dir), "%s/pg-sqlite", bench_tmp);
	if (pg_init(govpki, sqlite_dir, NULL) != 0 ||
	    (ctx = bench_tls_ctx(sqlite_dir, "officer")) == NULL)
		goto out;
	memset(&s, 0, sizeof(s));
	s.label = "SQLite";
	s.n = 1;
	snprintf(dirs[0], sizeof(dirs[0]), "%s", sqlite_dir);
	if (pg_setup_run(govpki, &s, dirs, ctx, issue, tsq, tsq_len, NULL,
	    base) != 0)
		goto out;
	SSL_CTX_free(ctx);
	ctx = NULL;

	/* One instance on PostgreSQL; a directory per node. */
	snprintf(path, sizeof(path), "%s/pg-inst", bench_tmp);
	if (pg_database("bench_nodes", url, sizeof(url)) != 0 ||
	    pg_init(govpki, path, url) != 0 ||
	    (ctx = bench_tls_ctx(path, "officer")) == NULL)
		goto out;
	for (i = 0; i < BENCH_PG_NODES; i++) {
		snprintf(dirs[i], sizeof(dirs[i]), "%s/pg-node%d", bench_tmp,
		    i + 1);
		snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", path, dirs[i]);
		if (system(cmd) != 0) {
			fprintf(stderr, "bench pg: %s failed\n", cmd);
			goto out;
		}
	}
	memset(&s, 0, sizeof(s));
	s.label = "PostgreSQL, 1 node";
	s.db = "bench_nodes";
	s.n = 1;
	if (pg_setup_run(govpki, &s, dirs, ctx, issue, tsq, tsq_len, base,
	    one) != 0)
		goto out;
	memset(&s, 0, sizeof(s));
	s.label = "PostgreSQL, 3 nodes";
	s.db = "bench_nodes";
	s.n = BENCH_PG_NODES;
	if (pg_setup_run(govpki, &s, dirs, ctx, issue, tsq, tsq_len, base,
	    three) != 0)
		goto out;
	printf("bench: PostgreSQL / SQLite: issuance %.2f (1 node), %.2f (3 "
	    "nodes); time-stamps %.2f (1 node), %.2f (3 nodes)\n",
	    base[0] > 0 ? one[0] / base[0] : 0, base[0] > 0 ?
	    three[0] / base[0] : 0, base[1] > 0 ? one[1] / base[1] : 0,
	    base[1] > 0 ? three[1] / base[1] : 0);
	fflush(stdout);
	r = 0;
out:
	pg_stop_all();
	SSL_CTX_free(ctx);
	free(issue);
	return r;
}
