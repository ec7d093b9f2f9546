/* http_call.c - helpers over a mounted HTTP call (see http_call.h). */
#include "common/http_call.h"

#include <string.h>

#include "common/buf.h"

const char *lgw_http_call_query(const struct lgw_http_call *call, const char *name)
{
    for (size_t i = 0; i < call->nquery; i++)
        if (strcmp(call->query[i].name, name) == 0)
            return call->query[i].value;
    return NULL;
}

void lgw_http_call_header(struct lgw_http_call *call, const char *name, const char *value)
{
    if (call->nheaders == LGW_HTTP_CALL_HEADERS_MAX)
        return;
    lgw_strlcpy(call->header_names[call->nheaders], name, sizeof(call->header_names[0]));
    lgw_strlcpy(call->header_values[call->nheaders], value, sizeof(call->header_values[0]));
    call->nheaders++;
}
