/* wire_span.h - the CLIENT span of one HTTP attempt to a provider (HTTP client semantic conventions), under
 * the candidate's span of the call: retries are attempts, each with a span of its own. wire.c owns each span
 * from the attempt's start to its end, on the loop thread. */
#ifndef LGW_WIRE_SPAN_H
#define LGW_WIRE_SPAN_H

#include <stdbool.h>

#include "telemetry/span.h"

/* Starts the span of attempt (0-based) POSTing to url, under parent (NULL: none, and NULL is returned). The
 * URL is recorded without its query values (a key may ride there) and without user info. */
struct lgw_span *lgw_wire_span_begin(const struct lgw_span *parent, const char *url, int attempt);
/* Ends *span with the attempt's outcome: the HTTP status (0: none came), the transfer's result hrc (0 or an
 * LGW_ERR) and whether the client's leaving ended it. */
void lgw_wire_span_end(struct lgw_span **span, long status, int hrc, bool cancelled);

#endif
