/*
 * test.h: the unit-test harness. Each tests/test_<module>.c is one binary
 * whose cases call CHECK(); a case passes when none of its checks failed.
 * Every binary prints one "ok"/"not ok" line per case and, last,
 * "<module>: N passed, N failed"; tests/run.sh adds the counts up.
 *
 *   static void test_x(void) { CHECK(f() == 0); CHECK_EQ(g(), 3); }
 *   int main(void) { RUN(test_x); return test_done("store"); }
 *
 * Fixtures: a database path in a temporary directory (test_tmpdb) and,
 * for binaries that include audit/audit.h first, a store with an audit
 * log in one (test_audit_fx). After test_pg_use(), test_tmpdb is a fresh
 * database of a throwaway PostgreSQL cluster instead (tests/pg.sh), and
 * test_suffix names the backend in the "ok" lines.
 */
#ifndef GOVPKI_TEST_H
#define GOVPKI_TEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

static int test_case_failed;
static int test_passed;
static int test_failed;
static const char *test_suffix = "";

#define CHECK(cond)                                                       \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "  %s:%d: CHECK(%s) failed\n",    \
			    __FILE__, __LINE__, #cond);                   \
			test_case_failed = 1;                             \
		}                                                         \
	} while (0)

#define CHECK_EQ(a, b)                                                    \
	do {                                                              \
		long long check_a_ = (long long)(a);                      \
		long long check_b_ = (long long)(b);                      \
		if (check_a_ != check_b_) {                               \
			fprintf(stderr, "  %s:%d: %s == %lld, want %lld\n", \
			    __FILE__, __LINE__, #a, check_a_, check_b_);  \
			test_case_failed = 1;                             \
		}                                                         \
	} while (0)

#define CHECK_STR(a, b)                                                   \
	do {                                                              \
		const char *check_a_ = (a);                               \
		const char *check_b_ = (b);                               \
		if (check_a_ == NULL || check_b_ == NULL ||               \
		    strcmp(check_a_, check_b_) != 0) {                    \
			fprintf(stderr, "  %s:%d: %s == \"%s\", want \"%s\"\n", \
			    __FILE__, __LINE__, #a,                       \
			    check_a_ ? check_a_ : "(null)",               \
			    check_b_ ? check_b_ : "(null)");              \
			test_case_failed = 1;                             \
		}                                                         \
	} while (0)

/* Checks that |hay| contains |needle| (error details name the field). */
#define CHECK_CONTAINS(hay, needle)                                       \
	do {                                                              \
		const char *check_h_ = (hay);                             \
		if (check_h_ == NULL || strstr(check_h_, (needle)) == NULL) { \
			fprintf(stderr, "  %s:%d: \"%s\" lacks \"%s\"\n", \
			    __FILE__, __LINE__,                           \
			    check_h_ ? check_h_ : "(null)", (needle));    \
			test_case_failed = 1;                             \
		}                                                         \
	} while (0)

#define RUN(fn)                                                           \
	do {                                                              \
		test_case_failed = 0;                                     \
		fn();                                                     \
		if (test_case_failed) {                                   \
			test_failed++;                                    \
			printf("not ok - %s%s\n", #fn, test_suffix);      \
		} else {                                                  \
			test_passed++;                                    \
			printf("ok - %s%s\n", #fn, test_suffix);          \
		}                                                         \
		fflush(stdout);                                           \
	} while (0)

static inline int
test_done(const char *module)
{
	printf("%s: %d passed, %d failed\n", module, test_passed, test_failed);
	return test_failed == 0 ? 0 : 1;
}

/* The throwaway PostgreSQL cluster of this binary (test_pg_use). */
static struct {
	int on;
	char dir[128];          /* its folder, holding the socket */
	char url[256];          /* its "postgres" database */
	int next_db;
} test_pg;

/* Runs |sql| on the database at |url| (a URL); 0 when it succeeded. */
static inline int
test_pg_exec(const char *url, const char *sql)
{
	PGconn *c = PQconnectdb(url);
	PGresult *res = NULL;
	int ok;

	ok = PQstatus(c) == CONNECTION_OK;
	if (ok) {
		res = PQexec(c, sql);
		ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
		    PQresultStatus(res) == PGRES_TUPLES_OK;
	}
	PQclear(res);
	PQfinish(c);
	return ok ? 0 : 1;
}

static inline void
test_pg_atexit(void)
{
	char cmd[256];

	if (test_pg.dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "bash tests/pg.sh stop '%s'", test_pg.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "test: could not stop %s\n", test_pg.dir);
	test_pg.dir[0] = '\0';
}

/* Starts the cluster (once per binary; run from the source tree, as
 * tests/run.sh does) and makes test_tmpdb_new() give databases in it.
 * Exits the binary, saying why, when the cluster cannot start. */
static inline void
test_pg_use(void)
{
	char cmd[96];
	FILE *f;
	size_t n;

	if (test_pg.dir[0] == '\0') {
		snprintf(cmd, sizeof(cmd), "bash tests/pg.sh start %ld",
		    (long)getpid());
		if ((f = popen(cmd, "r")) == NULL ||
		    fgets(test_pg.dir, sizeof(test_pg.dir), f) == NULL ||
		    fgets(test_pg.url, sizeof(test_pg.url), f) == NULL) {
			fprintf(stderr, "test: no PostgreSQL cluster (%s)\n",
			    cmd);
			exit(1);
		}
		pclose(f);
		for (n = strlen(test_pg.dir); n > 0 &&
		    test_pg.dir[n - 1] == '\n'; n--)
			test_pg.dir[n - 1] = '\0';
		for (n = strlen(test_pg.url); n > 0 &&
		    test_pg.url[n - 1] == '\n'; n--)
			test_pg.url[n - 1] = '\0';
		atexit(test_pg_atexit);
	}
	test_pg.on = 1;
	test_suffix = " (PostgreSQL)";
}

/* The path of a database, <dir>/govpki.db, in a new temporary directory
 * /tmp/govpki-<binary>.XXXXXX (the file itself is not made), or after
 * test_pg_use() the URL of a new, empty database. Exits the binary when
 * the directory or database cannot be made. test_tmpdb_free() removes
 * the database, its -wal and -shm files and the directory (or drops the
 * database). */
struct test_tmpdb {
	char dir[64];
	char path[320];
	char pg_name[32];       /* the PostgreSQL database, or "" */
};

static inline void
test_tmpdb_new(struct test_tmpdb *t)
{
	char sql[64];

	memset(t, 0, sizeof(*t));
	if (test_pg.on) {
		snprintf(t->pg_name, sizeof(t->pg_name), "t%d",
		    ++test_pg.next_db);
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", t->pg_name);
		if (test_pg_exec(test_pg.url, sql) != 0) {
			fprintf(stderr, "test: %s failed\n", sql);
			exit(1);
		}
		snprintf(t->path, sizeof(t->path), "postgresql:///%s?host=%s"
		    "&user=govpki", t->pg_name, test_pg.dir);
		return;
	}
	snprintf(t->dir, sizeof(t->dir), "/tmp/govpki-%.20s.XXXXXX",
	    program_invocation_short_name);
	if (mkdtemp(t->dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(t->path, sizeof(t->path), "%s/govpki.db", t->dir);
}

static inline void
test_tmpdb_free(struct test_tmpdb *t)
{
	char p[sizeof(t->path) + 8];

	if (t->pg_name[0] != '\0') {
		snprintf(p, sizeof(p), "DROP DATABASE %s WITH (FORCE)",
		    t->pg_name);
		if (test_pg_exec(test_pg.url, p) != 0)
			fprintf(stderr, "test: %s failed\n", p);
		return;
	}
	unlink(t->path);
	snprintf(p, sizeof(p), "%s-wal", t->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", t->path);
	unlink(p);
	rmdir(t->dir);
}

#ifdef GOVPKI_AUDIT_H
/* A fresh store in a test_tmpdb with an audit log over it. Exits the
 * binary, saying why, when either cannot be made. test_audit_fx_close()
 * frees both and removes the files. */
struct test_audit_fx {
	struct test_tmpdb tmp;
	store *st;
	audit *a;
};

static inline void
test_audit_fx_open(struct test_audit_fx *f)
{
	memset(f, 0, sizeof(*f));
	test_tmpdb_new(&f->tmp);
	if (store_open(f->tmp.path, 1, &f->st) != 0 ||
	    audit_new(f->st, &f->a) != 0) {
		fprintf(stderr, "fixture: %s\n", gp_err_detail());
		exit(1);
	}
}

static inline void
test_audit_fx_close(struct test_audit_fx *f)
{
	audit_free(f->a);
	store_free(f->st);
	test_tmpdb_free(&f->tmp);
}
#endif /* GOVPKI_AUDIT_H */

#endif /* GOVPKI_TEST_H */
