/* count_tokens.h - POST /v1/messages/count_tokens, Anthropic's token count of a Messages request, answered
 * by the ingress itself with routing's estimate (routing/estimate.h) of the request as its job would carry
 * it: {"input_tokens": N}. An estimate, not a provider's tokenizer: it leans high, as routing needs it to. */
#ifndef LGW_COUNT_TOKENS_H
#define LGW_COUNT_TOKENS_H

#include "httpd/server.h"

#include "ingress/request.h"

/* Route handler (ingress/routes.h), in the route's dialect. HTTP thread, once the body is read and the
 * caller identified. */
enum lgw_hres lgw_count_tokens(struct lgw_req *req);

#endif
