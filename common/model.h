/* model.h - what the gateway knows of one model a provider serves: names, kind, price. */
#ifndef LGW_MODEL_H
#define LGW_MODEL_H

#include "cost.h"
#include "envelope.h"

struct lgw_model_info {
    const char *id;         /* what clients put in "model" (also "<provider>/<id>") */
    const char *upstream;   /* the provider's own name for it; NULL: same as id */
    enum lgw_job_kind kind;
    struct lgw_price price; /* price.known false means cost unknown: loud, never a silent 0 */
};

#endif
