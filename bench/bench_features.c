/*
 * bench_features.c: the list of feature benchmarks `make bench` runs after
 * the raw limits, in order. A feature adds its bench_<feature>.c and one
 * line here.
 */
#include <stddef.h>

#include "bench/bench.h"

const bench_feature_fn bench_features[] = {
	NULL,
};
