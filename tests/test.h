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
 * log in one (test_audit_fx).
 */
#ifndef GOVPKI_TEST_H
#define GOVPKI_TEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int test_case_failed;
static int test_passed;
static int test_failed;

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
			printf("not ok - %s\n", #fn);                     \
		} else {                                                  \
			test_passed++;                                    \
			printf("ok - %s\n", #fn);                         \
		}                                                         \
		fflush(stdout);                                           \
	} while (0)

static inline int
test_done(const char *module)
{
	printf("%s: %d passed, %d failed\n", module, test_passed, test_failed);
	return test_failed == 0 ? 0 : 1;
}

/* The path of a database, <dir>/govpki.db, in a new temporary directory
 * /tmp/govpki-<binary>.XXXXXX (the file itself is not made). Exits the
 * binary when the directory cannot be made. test_tmpdb_free() removes
 * the database, its -wal and -shm files and the directory. */
struct test_tmpdb {
	char dir[64];
	char path[128];
};

static inline void
test_tmpdb_new(struct test_tmpdb *t)
{
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
	char p[160];

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
