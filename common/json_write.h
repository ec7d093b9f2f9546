/* json_write.h - jansson values written into a buffer as JSON text: compact ones by llmgw's own writer, faster
 * than jansson's dump, the rest by jansson.
 *
 * jansson's dump walks a string one UTF-8 character at a time (about 7 ns a byte here), so writing a long prompt
 * or answer cost more than reading it. The Kafka records' encoders dump through lgw_buf_dump_json, which hands
 * compact dumps (JSON_COMPACT, with or without JSON_ENCODE_ANY) to this writer: the job a request becomes, the
 * reply and every stream chunk, the SSE records, the ledger's records. Dumps with other flags (sorted keys for
 * the cache's canonical form, a real precision, indentation) stay jansson's.
 *
 * The text is what jansson writes for the same value but for string escapes: lgw_buf_json_string writes
 * \u0008 and \u000c where jansson writes \b and \f, and lowercase hex. Members in the object's order, integers as
 * %lld, reals as jansson writes them (%.17g, ".0" added to an integral value, the exponent without '+' or leading
 * zeros). tests/unit/test_json_write.c holds it to json_dumpb. */
#ifndef LGW_JSON_WRITE_H
#define LGW_JSON_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct json_t;

/* Appends obj as JSON text (jansson's json_dumps flags, e.g. JSON_COMPACT), for the Kafka records' encoders.
 * Takes obj's reference; obj NULL (a json_pack that failed) or a dump that fails is LGW_ERR(INTERNAL). Returns
 * 0, LGW_ERR(INTERNAL) or LGW_ERR(TOO_LARGE). */
int lgw_buf_append_json(struct lgw_buf *buf, struct json_t *obj, size_t flags);
/* The same, keeping the caller's reference: obj's text is written into the buffer in one pass and without a copy
 * (json_dumps builds the whole text first; json_dumpb needs a pass to size it). Compact dumps (JSON_COMPACT, and
 * JSON_ENCODE_ANY) are written by lgw_json_write below (faster, the same JSON, escapes written their own
 * way); any other flags go to jansson's dump. On failure the buffer is as it was. */
int lgw_buf_dump_json(struct lgw_buf *buf, const struct json_t *obj, size_t flags);

/* Appends v in decimal, as printf's %lld would. */
int lgw_buf_int64(struct lgw_buf *buf, int64_t v);

/* Deepest nesting written: jansson's parser limit, which a tree built from parsed input cannot pass; a deeper
 * tree (or one that holds itself, which jansson's dump refuses) is refused. */
#define LGW_JSON_WRITE_DEPTH_MAX 2048

/* Appends v (any value, scalars included) to buf as compact JSON. Returns 0, LGW_ERR(TOO_LARGE) at the buffer's
 * cap, or LGW_ERR(INTERNAL) for v NULL or nested past LGW_JSON_WRITE_DEPTH_MAX; on failure the buffer is cut
 * back to where it was. */
int lgw_json_write(struct lgw_buf *buf, const struct json_t *v);

/* v as compact JSON in a NUL-terminated string of its own (the caller frees it with free()), what
 * json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) gives, by lgw_json_write: for the provider requests, which carry
 * the whole prompt. NULL when lgw_json_write refuses v. */
char *lgw_json_text(const struct json_t *v);

#endif
