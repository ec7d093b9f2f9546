/* fuzz_catalog.c - libFuzzer harness: an operator's catalog override file, merged over the built-in catalog
 * and validated; a valid result is also queried (resolve, groups, fallbacks, retirements). */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "routing/catalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *base;
    if (!base) /* parsed once: the harness is about the override, and the built-in document never changes */
        base = json_loads((const char *)lgw_catalog_builtin_json, 0, NULL);
    json_t *ov = json_loadb((const char *)data, size, 0, NULL);
    if (!ov)
        return 0;
    struct lgw_catalog *cat = NULL;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    if (lgw_catalog_build(base, ov, NULL, &cat, &errs) == 0) {
        const struct lgw_model_info *found[8];
        size_t n = lgw_catalog_resolve(cat, "gpt-4o-mini", LGW_JOB_CHAT, found, 8);
        for (size_t i = 0; i < n; i++)
            lgw_catalog_fallbacks(cat, found[i], &n);
        lgw_catalog_group(cat, "auto", &n);
        struct lgw_retirement ret;
        if (lgw_catalog_retired(cat, "gpt-4o", LGW_JOB_CHAT, &ret) && ret.successor && !ret.successor->id)
            __builtin_trap(); /* a successor always has an id */
        lgw_catalog_unref(cat);
    }
    lgw_buf_cleanup(&errs);
    json_decref(ov);
    return 0;
}
