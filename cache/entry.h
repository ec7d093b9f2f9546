/* entry.h - what the response cache stores for one answer: the provider's usage and either the whole answer
 * (a chat completion or an embeddings list) or, for a streamed one, its chunks in order, so that a hit is
 * replayed as the same stream. JSON, versioned: {"v":1,"usage":{...},"body":{...}} or
 * {"v":1,"usage":{...},"chunks":[...]}. */
#ifndef LGW_CACHE_ENTRY_H
#define LGW_CACHE_ENTRY_H

#include <jansson.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/envelope.h"

struct lgw_cache_entry {
    struct lgw_usage usage;
    json_t *body;   /* owned; NULL for a stream */
    json_t *chunks; /* owned array of chunk objects; NULL for a whole answer */
};

/* Writes an entry of a whole answer (body) or, with body NULL, of a stream whose chunks are chunks: their
 * JSON texts, comma-separated. Returns 0 or LGW_ERR(TOO_LARGE) past out's cap. Any thread. */
int lgw_cache_entry_encode(const struct lgw_usage *usage, const json_t *body, const struct lgw_str *chunks,
                           struct lgw_buf *out);

/* Reads an entry (bytes from the cache: checked, never trusted to be well formed). Returns 0 with e filled
 * (release with lgw_cache_entry_cleanup), or LGW_ERR(INVALID). Any thread. */
int lgw_cache_entry_decode(const char *data, size_t len, struct lgw_cache_entry *e);
void lgw_cache_entry_cleanup(struct lgw_cache_entry *e);

#endif
