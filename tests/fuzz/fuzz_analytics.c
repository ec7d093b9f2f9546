/* fuzz_analytics.c - libFuzzer harness: the analytics API's query string as parsed from a client: a query of
 * "name=value" lines (one pair each) through lgw_an_query_parse (times, group_by, limit, cursor), then the
 * statement built from whatever was accepted; and the raw bytes as a time and as a cursor. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/format.h"
#include "analytics/query.h"
#include "analytics/sql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    int64_t ms;
    char id[LGW_AN_EVENT_ID_MAX];
    lgw_an_time_parse(text, &ms);
    lgw_an_cursor_decode(text, &ms, id);

    struct lgw_http_query_pair pairs[16];
    struct lgw_http_call call;
    memset(&call, 0, sizeof(call));
    call.query = pairs;
    char *line = text;
    while (line && call.nquery < 16) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *eq = strchr(line, '=');
        if (eq) {
            *eq = '\0';
            pairs[call.nquery].name = line;
            pairs[call.nquery].value = eq + 1;
            call.nquery++;
        }
        line = next;
    }
    lgw_strlcpy(call.caller.tenant, "acme", sizeof(call.caller.tenant));
    for (int kind = 0; kind < 2; kind++) {
        struct lgw_an_query q;
        char msg[256];
        const char *param;
        if (lgw_an_query_parse(&call, (enum lgw_an_kind)kind, 1796083200000LL, &q, msg, sizeof(msg), &param) == 0) {
            struct lgw_an_sql sql;
            lgw_an_sql_build(&q, kind == 0, &sql);
            lgw_an_sql_cleanup(&sql);
        }
    }
    free(text);
    return 0;
}
