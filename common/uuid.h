/* uuid.h - the ids llmgw gives requests, executions and records, as RFC 9562 UUID strings. */
#ifndef LGW_UUID_H
#define LGW_UUID_H

#include <stdint.h>

/* The length of a UUID string with its terminating NUL. */
#define LGW_UUID_SIZE 37

/* Fills out (size >= LGW_UUID_SIZE) with a random version 4 UUID. Thread-safe. */
void lgw_uuid4(char *out);

/* Fills out (size >= LGW_UUID_SIZE) with a version 7 UUID: the wall clock's Unix milliseconds (48 bits), its
 * fraction of a millisecond in 1/4096ths (RFC 9562's "increased clock precision", 12 bits) and 62 random bits.
 * Ids made later sort later (to the clock's precision, across processes as far as their clocks agree), so a
 * database index on them grows at its right edge instead of touching a random page for every row: what the
 * ledger's event_id and request_id indexes need. 62 random bits per 244 ns keep them unique. Thread-safe. */
void lgw_uuid7(char *out);

/* The same from a given time (Unix nanoseconds; before 1970 counts as 1970), for tests. */
void lgw_uuid7_at(char *out, int64_t unix_ns);

#endif
