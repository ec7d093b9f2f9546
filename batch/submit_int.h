/* submit_int.h - inside batch/: the parsed input that input.c fills and submit.c sends (see submit.h). */
#ifndef LGW_BATCH_SUBMIT_INT_H
#define LGW_BATCH_SUBMIT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "common/batch_record.h"
#include "common/envelope.h"

/* A valid line: where it is in the input's bytes and its 1-based line number. Its index in the batch is its
 * position in lgw_batch_input.lines. */
struct lgw_batch_line {
    size_t off, len;
    int64_t line;
};

struct lgw_batch_line_error; /* submit.h */

struct lgw_batch_input {
    char *data; /* the input's bytes (NUL-terminated copy); owned */
    size_t len;
    struct lgw_batch_line *lines; /* the valid lines, in input order; owned */
    size_t nlines, lines_alloc;
    struct lgw_batch_line_error *errors; /* in line order, at most LGW_BATCH_ERRORS_MAX; owned */
    size_t nerrors, errors_alloc;
    int64_t nerrors_total;
    char endpoint[LGW_BATCH_ENDPOINT_MAX];
    int64_t max_line_bytes, max_lines;
    int max_depth;
};

/* The job kind of an endpoint ("/v1/embeddings": embeddings; otherwise chat). */
enum lgw_job_kind lgw_batch_endpoint_kind(const char *endpoint);

#endif
