/* openai_wire.h - one call to a server that speaks OpenAI's chat/embeddings API (see openai_wire.c). */
#ifndef LGW_OPENAI_WIRE_H
#define LGW_OPENAI_WIRE_H

#include <curl/curl.h>

#include "provider.h"

/* Calls url (the full endpoint URL) with the given auth headers (taken: freed here), for `model`, with
 * retries, error mapping and, when stream is set, chunk by chunk. Same contract as lgw_provider.call. */
int lgw_oai_call(const struct lgw_config *cfg, const char *url, struct curl_slist *headers,
                 const struct lgw_model_info *model, const struct lgw_job *job, struct lgw_prov_stream *stream,
                 struct lgw_prov_result *res);

#endif
