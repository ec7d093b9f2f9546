/* args.h - command-line numbers for the bench tools (bench_fakeprov, bench_kafka_pingpong). */
#ifndef LLMGW_BENCH_ARGS_H
#define LLMGW_BENCH_ARGS_H

#include <stdbool.h>

/* s as a whole base-10 number within [lo, hi] into *out; false (and *out untouched) for anything else, so a typo
 * in a bench's option stops the run instead of measuring something else. */
bool bench_parse_long(const char *s, long lo, long hi, long *out);

#endif
