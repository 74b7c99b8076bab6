/*
 * test.h: the unit-test harness. Each tests/test_<module>.c is one binary
 * whose cases call CHECK(); a case passes when none of its checks failed.
 * Every binary prints one "ok"/"not ok" line per case and, last,
 * "<module>: N passed, N failed"; tests/run.sh adds the counts up.
 *
 *   static void test_x(void) { CHECK(f() == 0); CHECK_EQ(g(), 3); }
 *   int main(void) { RUN(test_x); return test_done("store"); }
 */
#ifndef GOVPKI_TEST_H
#define GOVPKI_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#endif /* GOVPKI_TEST_H */
