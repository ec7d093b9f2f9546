/* openai_wire.h - one call to a server that speaks OpenAI's chat/embeddings API (see openai_wire.c). */
#ifndef LGW_OPENAI_WIRE_H
#define LGW_OPENAI_WIRE_H

#include <curl/curl.h>

#include "providers/provider.h"

/* Request differences of servers that otherwise speak OpenAI's API. */
#define LGW_OAI_MISTRAL (1u << 0) /* max_completion_tokens->max_tokens, seed->random_seed, "required"->"any" */

/* Calls url (the full endpoint URL) with the given auth headers (taken) and dialect (0: OpenAI's own) for
 * call->model, with retries, error mapping and, when call->stream is set, chunk by chunk. Same contract as
 * lgw_provider.call. */
int lgw_oai_call(struct lgw_prov_call *call, const char *url, struct curl_slist *headers, unsigned dialect);

#endif
