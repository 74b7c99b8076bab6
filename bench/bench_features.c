/*
 * bench_features.c: the list of feature benchmarks `make bench` runs after
 * the raw limits, in order. A feature adds its bench_<feature>.c and one
 * line here.
 */
#include <stddef.h>

#include "bench/bench.h"

int bench_ocsp(const struct bench_env *env); /* bench_ocsp.c */
int bench_ca(const struct bench_env *env);   /* bench_ca.c */
int bench_tsa(const struct bench_env *env);  /* bench_tsa.c */
int bench_signer(const struct bench_env *env); /* bench_sign.c */

const bench_feature_fn bench_features[] = {
	bench_ocsp,
	bench_ca,
	bench_tsa,
	bench_signer,
	NULL,
};
