/* json_scan.h - checks JSON text without building a tree, and finds members and elements in checked text.
 *
 * The ingress hands a Kafka message's "body" to the HTTP client byte for byte instead of parsing the whole
 * message with jansson and dumping the body again. That is only safe if the check refuses everything the old
 * path refused, so lgw_json_check accepts exactly what jansson 2.14's json_loadb(text, len, 0, &err) accepts
 * when the top-level value is an object or an array; tests/unit/test_json_scan.c and
 * tests/fuzz/fuzz_json_scan.c hold it to jansson itself. Like jansson with flags 0 it does not look for
 * duplicate keys: {"a":1,"a":2} is accepted (lgw_json_member finds the first, jansson keeps the last).
 *
 * One difference, on purpose: jansson 2.14 lets a NUL byte through right after a number or a literal ([5\0],
 * {"a":true\0}; its reader takes the NUL for the end of its buffer there), and the check refuses every NUL
 * outside a string, because a text it accepts may be passed on as it is. Found by the fuzz harness.
 *
 * Nothing here allocates or keeps state: any thread may call any function. Spans are byte offsets into the
 * caller's text, which the caller owns. */
#ifndef LGW_JSON_SCAN_H
#define LGW_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

/* Deepest nesting a checked text may have: jansson 2.14's JSON_PARSER_MAX_DEPTH. */
#define LGW_JSON_DEPTH_MAX 2048

/* Checks that text[0..len) is exactly one JSON object or array (RFC 8259), with only whitespace (space, tab,
 * CR, LF) around it, and accepted by jansson 2.14's json_loadb with flags 0: well-formed UTF-8 everywhere,
 * no \u0000, no lone surrogate escape, integers within long long, reals that do not overflow a double.
 *
 * Depth counts every value the way jansson does, scalars included: the top-level object or array is at depth
 * 1 and a value inside a container one deeper than the container. So {} and [] need depth_max 1, {"a":1} and
 * [[]] need 2, and LGW_JSON_DEPTH_MAX refuses exactly the texts jansson refuses as too deep. depth_max above
 * LGW_JSON_DEPTH_MAX counts as LGW_JSON_DEPTH_MAX (the nesting stack is fixed); below 1 refuses every text.
 *
 * Returns LGW_OK, or LGW_ERR(INVALID) with *err_at (when err_at is not NULL) set to the byte offset where the
 * text went wrong: the first byte that cannot continue it (len when it ends too soon), the first byte of a
 * malformed UTF-8 sequence or escape, or the first byte of a number out of range. Never reads outside
 * text[0..len); text need not be NUL-terminated. Allocates nothing. */
int lgw_json_check(const char *text, size_t len, int depth_max, size_t *err_at);

/* In an object text that lgw_json_check accepted: finds the first top-level member whose name, unescaped,
 * equals key (a NUL-terminated UTF-8 string), and sets *off and *vlen to its value's span (from the value's
 * first byte to its last, no surrounding whitespace). obj may be any object span inside a checked text
 * (one lgw_json_member or lgw_json_next returned), with whitespace around it. Returns false when there is
 * no such member or obj is not an object. On text that was not checked the answer means nothing, but
 * nothing outside obj[0..len) is read. */
bool lgw_json_member(const char *obj, size_t len, const char *key, size_t *off, size_t *vlen);

/* In an array text that lgw_json_check accepted (or an array span inside one): steps through its elements.
 * *pos starts at 0; each call sets *off and *vlen to the next element's span and advances *pos; returns false
 * after the last element (and on every call after that), or when arr is not an array. Like lgw_json_member,
 * it never reads outside arr[0..len). */
bool lgw_json_next(const char *arr, size_t len, size_t *pos, size_t *off, size_t *vlen);

/* Whether s[0..len) is well-formed UTF-8 as jansson 2.14's json_string takes it (its utf8_check: the same
 * sequences the check above refuses inside a string; any ASCII byte, controls included, is fine). A writer that
 * prints strings itself refuses what json_string would have refused. */
bool lgw_json_utf8_ok(const char *s, size_t len);

/* For readers of escapes in checked text (common/json_load.c): the value of the four hex digits at p (the caller
 * made sure they are inside the text), or -1; and code point cp encoded as UTF-8 into out, returning its length. */
long lgw_json_hex4(const char *p);
size_t lgw_json_utf8_put(unsigned long cp, unsigned char out[4]);

#endif
