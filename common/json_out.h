/* json_out.h - a JSON object printed field by field into a buffer, for the Kafka messages written once per
 * reply or stream chunk, where building a jansson tree only to dump it cost more than the message's transport
 * in llmgw's own code (docs/PERFORMANCE.md, twenty-sixth pass).
 *
 * It prints what jansson would for the same fields, not the same bytes: strings are escaped by
 * lgw_buf_json_string (\u00XX where jansson writes \b or \f, for one), and a string that is not well-formed
 * UTF-8 leaves its field out, as json_object_set_new(o, key, json_string(bad)) did (json_string refuses it and
 * the set does nothing). Keys are the caller's literals and are printed as they are: they must need no
 * escaping. Values jansson builds (an answer's body) are dumped by jansson into the same buffer.
 *
 * The first failure (the buffer's cap) sticks: later calls do nothing and lgw_jout_end returns it, with the
 * buffer cut back to where lgw_jout_begin found it. Nothing is allocated but the buffer's growth. */
#ifndef LGW_JSON_OUT_H
#define LGW_JSON_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct json_t;

#define LGW_JOUT_DEPTH_MAX 8

struct lgw_jout {
    struct lgw_buf *buf;
    size_t start; /* buf->len at lgw_jout_begin */
    int rc;
    int depth;                         /* open objects, the outermost at 1 */
    bool empty[LGW_JOUT_DEPTH_MAX + 1]; /* the object at that depth has no member yet */
};

/* Starts an object at the end of buf. */
void lgw_jout_begin(struct lgw_jout *w, struct lgw_buf *buf);
/* key: an integer. */
void lgw_jout_int(struct lgw_jout *w, const char *key, int64_t v);
void lgw_jout_bool(struct lgw_jout *w, const char *key, bool v);
/* key: the NUL-terminated string s; left out when s is not well-formed UTF-8 (see above). */
void lgw_jout_str(struct lgw_jout *w, const char *key, const char *s);
/* key: v as jansson dumps it, compact; null when v is NULL. */
void lgw_jout_json(struct lgw_jout *w, const char *key, const struct json_t *v);
/* key: an object, whose members follow until lgw_jout_close. */
void lgw_jout_open(struct lgw_jout *w, const char *key);
void lgw_jout_close(struct lgw_jout *w);
/* Closes every open object. Returns 0, or the first failure (LGW_ERR(TOO_LARGE) at the buffer's cap,
 * LGW_ERR(INTERNAL) for objects nested past LGW_JOUT_DEPTH_MAX or a value jansson would not dump), with the
 * buffer cut back to where lgw_jout_begin found it. */
int lgw_jout_end(struct lgw_jout *w);

#endif
