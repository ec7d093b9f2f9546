/* canon.h - the response cache's key: a request in canonical form, hashed with its tenant and a model.
 *
 * Two requests that a provider would answer the same way must give the same key, and two it could answer
 * differently must not: so the canonical form keeps every parameter the provider sees (tools, images,
 * provider-specific fields included), sorts object keys, fills the documented defaults (an absent
 * "temperature" is 1) and writes numbers one way (1 and 1.0 are one temperature). It leaves out only what
 * the key carries on its own (the model, which the lookup varies over the plan's candidates) and what the
 * gateway itself reads ("llmgw"). */
#ifndef LGW_CACHE_CANON_H
#define LGW_CACHE_CANON_H

#include <jansson.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/envelope.h"

/* A key as 64 lowercase hex digits and a NUL. */
#define LGW_CACHE_KEY_LEN 65

/* Writes the canonical form of body (a request of kind) into out. Returns 0, LGW_ERR(INVALID) when body is
 * not an object, or LGW_ERR(TOO_LARGE) past out's cap. Any thread. */
int lgw_cache_canon(const json_t *body, enum lgw_job_kind kind, struct lgw_buf *out);

/* The key of canon (lgw_cache_canon's output) for tenant, served by model ("provider/id"): SHA-256 over a
 * version tag, the tenant, the model and the canonical request, each length-prefixed so that no two
 * different triples run together into the same bytes. Any thread. */
void lgw_cache_key(const char *tenant, const char *model, const struct lgw_str *canon, char key[LGW_CACHE_KEY_LEN]);

#endif
