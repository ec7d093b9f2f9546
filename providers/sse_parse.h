/* sse_parse.h - incremental parser of Server-Sent Events from a provider's streamed response.
 *
 * Bytes arrive in arbitrary pieces; complete events (the `data:` lines joined with "\n", and the
 * `event:` name) are handed to a callback. Each event is capped, so a provider that never ends a line
 * cannot make us buffer without bound. Untrusted input: fuzzed by tests/fuzz/fuzz_sse.c. */
#ifndef LGW_SSE_PARSE_H
#define LGW_SSE_PARSE_H

#include <stddef.h>

#include "common/buf.h"

/* Returns 0 to go on, or an LGW_ERR to stop parsing (returned by lgw_sse_parser_feed). data is
 * NUL-terminated; event is "" when the event had no `event:` line. */
typedef int (*lgw_sse_event_cb)(void *opaque, const char *event, const char *data, size_t len);

struct lgw_sse_parser {
    struct lgw_buf line;
    struct lgw_buf data;
    char event[64];
    int has_data;
    int skip_lf; /* the previous line ended in CR: a following LF belongs to it */
};

void lgw_sse_parser_init(struct lgw_sse_parser *p, size_t max_event_bytes);
void lgw_sse_parser_cleanup(struct lgw_sse_parser *p);
/* Feeds bytes; returns 0, LGW_ERR(TOO_LARGE) for an oversized line or event, or the callback's error. */
int lgw_sse_parser_feed(struct lgw_sse_parser *p, const char *bytes, size_t n, lgw_sse_event_cb cb, void *opaque);

#endif
