/* fuzz_provider_status.c - libFuzzer harness: a providers-topic record (the bytes up to the first newline are
 * the record key, the rest its value) decoded, encoded again (which must decode to the same bytes), and applied
 * to an ingress's store, whose GET /v1/providers answer is then built; then its tombstone. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/buf.h"
#include "common/provider_status.h"
#include "ingress/providers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a reader accepted, a writer writes back unchanged: encode(decode(x)) is a fixed point. */
static void round_trip(const struct lgw_pstatus *st)
{
    struct lgw_buf a, b;
    lgw_buf_init(&a, 0);
    lgw_buf_init(&b, 0);
    struct lgw_pstatus back;
    char why[256];
    LGW_ASSERT(lgw_pstatus_encode(st, &a) == 0);
    LGW_ASSERT(lgw_pstatus_decode(a.ptr, a.len, &back, why, sizeof(why)) == 0);
    LGW_ASSERT(lgw_pstatus_encode(&back, &b) == 0);
    LGW_ASSERT(a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0);
    lgw_pstatus_cleanup(&back);
    lgw_buf_cleanup(&a);
    lgw_buf_cleanup(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t keylen = nl ? (size_t)(nl - data) : size;
    const char *value = nl ? (const char *)nl + 1 : NULL;
    size_t len = nl ? size - keylen - 1 : 0;
    if (value) {
        struct lgw_pstatus st;
        char why[256];
        if (lgw_pstatus_decode(value, len, &st, why, sizeof(why)) == 0)
            round_trip(&st);
        lgw_pstatus_cleanup(&st);
    }
    struct lgw_providers *p = lgw_providers_new();
    /* At time 0 every record is fresh (its ts_ms is after it), so whatever decodes is kept and folded. */
    lgw_providers_apply(p, (const char *)data, keylen, value ? value : "", len, 0);
    json_t *answer = lgw_providers_json(p, NULL, 0);
    char *text = json_dumps(answer, JSON_COMPACT);
    free(text);
    json_decref(answer);
    lgw_providers_apply(p, (const char *)data, keylen, NULL, 0, 0);
    lgw_providers_free(p);
    return 0;
}
