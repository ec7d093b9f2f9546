/* format.h - the analytics API's value formats: times (RFC 3339 or epoch ms in; UTC day, hour, minute buckets
 * out), the opaque page cursor, and RFC 4180 CSV fields. Pure functions, any thread. */
#ifndef LGW_AN_FORMAT_H
#define LGW_AN_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* The longest event_id a cursor carries (ledger ids are UUIDs, "<run id>.<n>" for non-final events). */
#define LGW_AN_EVENT_ID_MAX 128
/* Bytes of an encoded cursor, its NUL included. */
#define LGW_AN_CURSOR_MAX 200

/* Parses s as epoch milliseconds (digits only) or an RFC 3339 time ("2026-12-01T00:00:00Z",
 * "2026-12-01T01:00:00.250+01:00", 't'/'z' and a space for 'T' accepted; fractions past milliseconds are
 * truncated) or a bare date ("2026-12-01", midnight UTC). Years 1970..9999. Returns 0 or LGW_ERR(INVALID). */
int lgw_an_time_parse(const char *s, int64_t *ms);
/* "2026-12-02T13:04:05.123Z" (milliseconds only when not zero) into out (32 bytes). */
void lgw_an_time_format(int64_t ms, char *out, size_t outsz);
/* The UTC day of day number d (ms / 86400000): "2026-12-02"; out 16 bytes. */
void lgw_an_day_format(int64_t d, char *out, size_t outsz);
/* The UTC hour of hour number h (ms / 3600000): "2026-12-02T13:00:00Z"; out 32 bytes. */
void lgw_an_hour_format(int64_t h, char *out, size_t outsz);
/* The UTC minute of minute number m (ms / 60000): "2026-12-02T13:05:00Z"; out 32 bytes. */
void lgw_an_minute_format(int64_t m, char *out, size_t outsz);

/* The cursor after a row: base64url (no padding) of "<ts_ms>:<event_id>". out LGW_AN_CURSOR_MAX bytes.
 * Returns 0 or LGW_ERR(INVALID) when event_id is longer than LGW_AN_EVENT_ID_MAX - 1. */
int lgw_an_cursor_encode(int64_t ts_ms, const char *event_id, char *out, size_t outsz);
/* Decodes a cursor made by lgw_an_cursor_encode into *ts_ms and event_id (LGW_AN_EVENT_ID_MAX bytes).
 * Returns 0 or LGW_ERR(INVALID) for anything else. */
int lgw_an_cursor_decode(const char *s, int64_t *ts_ms, char *event_id);

/* Appends s as one CSV field (RFC 4180): quoted, with quotes doubled, when it holds ',', '"', CR or LF;
 * as is otherwise. s NULL: an empty field. Returns 0 or LGW_ERR(TOO_LARGE) from out's cap. */
int lgw_an_csv_field(struct lgw_buf *out, const char *s);

/* nusd as an exact decimal USD string with 9 fractional digits ("0.000012345", "-1.500000000"); out 32 bytes. */
void lgw_an_usd_format(int64_t nusd, char *out, size_t outsz);

#endif
