/* openai_wire.h - one call to a server that speaks OpenAI's chat/embeddings API (see openai_wire.c). */
#ifndef LGW_OPENAI_WIRE_H
#define LGW_OPENAI_WIRE_H

#include <curl/curl.h>

#include "providers/provider.h"

/* Request differences of servers that otherwise speak OpenAI's API. */
#define LGW_OAI_MISTRAL (1u << 0) /* max_completion_tokens->max_tokens, seed->random_seed, "required"->"any" */

/* Calls url (the full endpoint URL) with the given auth headers and dialect (0: OpenAI's own) (taken: freed here), for `model`, with
 * retries, error mapping and, when stream is set, chunk by chunk. Same contract as lgw_provider.call. */
int lgw_oai_call(const struct lgw_config *cfg, const char *url, struct curl_slist *headers,
                 const struct lgw_model_info *model, const struct lgw_job *job, struct lgw_prov_stream *stream,
                 unsigned dialect, struct lgw_prov_result *res);

#endif
