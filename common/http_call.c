/* http_call.c - helpers over a mounted HTTP call (see http_call.h). */
#include "common/http_call.h"

#include <string.h>

const char *lgw_http_call_query(const struct lgw_http_call *call, const char *name)
{
    for (size_t i = 0; i < call->nquery; i++)
        if (strcmp(call->query[i].name, name) == 0)
            return call->query[i].value;
    return NULL;
}
