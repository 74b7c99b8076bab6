/*
 * bench_features.c: the list of feature benchmarks `make bench` runs after
 * the raw limits, in order. A feature adds its bench_<feature>.c and one
 * line here. BENCH_ONLY=name[,name] runs only those (the raw limits and
 * the HTTP baseline always run: every ratio needs them).
 */
#include <stddef.h>

#include "bench/bench.h"

int bench_ocsp(const struct bench_env *env); /* bench_ocsp.c */
int bench_ca(const struct bench_env *env);   /* bench_ca.c */
int bench_tsa(const struct bench_env *env);  /* bench_tsa.c */
int bench_signer(const struct bench_env *env); /* bench_sign.c */
int bench_tender(const struct bench_env *env); /* bench_tender.c */
int bench_est(const struct bench_env *env);  /* bench_est.c */
int bench_pg(const struct bench_env *env);   /* bench_pg.c */

const struct bench_feature bench_features[] = {
	{"ocsp", bench_ocsp},
	{"ca", bench_ca},
	{"tsa", bench_tsa},
	{"sign", bench_signer},
	{"tender", bench_tender},
	{"est", bench_est},
	{"pg", bench_pg},
	{NULL, NULL},
};
