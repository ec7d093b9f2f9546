/* model.h - what the gateway knows of one model a provider serves: names, kind, price, limits and
 * capabilities. Entries live in the model catalog (routing/catalog.h), which owns every string here. */
#ifndef LGW_MODEL_H
#define LGW_MODEL_H

#include <stdint.h>

#include "common/cost.h"
#include "common/envelope.h"

/* What a model can do beyond plain chat or embeddings; a request needing a capability is never routed to
 * a model without it. */
enum lgw_model_cap {
    LGW_CAP_STREAMING = 1u << 0,
    LGW_CAP_TOOLS = 1u << 1,
    LGW_CAP_VISION = 1u << 2,
    LGW_CAP_JSON_MODE = 1u << 3,
};

struct lgw_model_info {
    const char *id;         /* what clients put in "model" (also "<provider>/<id>") */
    const char *upstream;   /* the provider's own name for it; NULL: same as id */
    const char *provider;   /* the adapter that serves it ("openai", "anthropic", ...) */
    enum lgw_job_kind kind;
    struct lgw_price price; /* price.known false means cost unknown: loud, never a silent 0 */
    unsigned caps;          /* lgw_model_cap bits */
    int64_t context_window; /* max input tokens; 0: unknown (no fit check) */
    int64_t max_output_tokens; /* 0: unknown */
    int64_t latency_ms;     /* typical latency, the seed of the latency strategy's estimate */
};

#endif
