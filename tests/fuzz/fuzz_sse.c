/* fuzz_sse.c - libFuzzer harness: a provider's SSE stream, fed in pieces split at the first input byte. */
#include <stddef.h>
#include <stdint.h>

#include "providers/sse_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_cb(void *opaque, const char *event, const char *d, size_t len)
{
    (void)event;
    (void)d;
    *(size_t *)opaque += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t split = data[0] % (size ? size : 1), total = 0;
    struct lgw_sse_parser p;
    lgw_sse_parser_init(&p, 4096);
    if (lgw_sse_parser_feed(&p, (const char *)data + 1, split > 0 ? split - 1 : 0, count_cb, &total) == 0)
        lgw_sse_parser_feed(&p, (const char *)data + (split > 0 ? split : 1), size - (split > 0 ? split : 1),
                            count_cb, &total);
    lgw_sse_parser_cleanup(&p);
    return 0;
}
