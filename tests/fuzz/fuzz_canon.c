/* fuzz_canon.c - libFuzzer harness: the response cache's canonicalizer over any request body. Checks its
 * two promises: the form is a fixed point of itself (canonicalizing the parsed form gives the same bytes),
 * and key order never matters (the body re-dumped with its keys sorted gives the same form). */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/canon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_form(const json_t *body, enum lgw_job_kind kind, const struct lgw_buf *want)
{
    struct lgw_buf got;
    lgw_buf_init(&got, 0);
    if (lgw_cache_canon(body, kind, &got) != 0 || got.len != want->len || memcmp(got.ptr, want->ptr, got.len) != 0)
        __builtin_trap();
    lgw_buf_cleanup(&got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!body)
        return 0;
    for (int k = 0; k < 2; k++) {
        enum lgw_job_kind kind = k ? LGW_JOB_EMBEDDINGS : LGW_JOB_CHAT;
        struct lgw_buf form;
        lgw_buf_init(&form, 0);
        if (lgw_cache_canon(body, kind, &form) == 0) {
            char key[LGW_CACHE_KEY_LEN];
            struct lgw_str s = {form.ptr, form.len};
            lgw_cache_key("t", "p/m", &s, key);
            if (strlen(key) != 64)
                __builtin_trap();
            /* The body with its keys sorted: the same form. */
            char *sorted = json_dumps(body, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
            json_t *again = sorted ? json_loads(sorted, JSON_DECODE_ANY, NULL) : NULL;
            if (again)
                same_form(again, kind, &form);
            json_decref(again);
            free(sorted);
            /* The form's JSON (after the kind line), canonicalized again: the same form. */
            const char *nl = memchr(form.ptr, '\n', form.len);
            json_t *parsed = nl ? json_loadb(nl + 1, form.len - (size_t)(nl + 1 - form.ptr), 0, NULL) : NULL;
            if (!parsed)
                __builtin_trap();
            same_form(parsed, kind, &form);
            json_decref(parsed);
        }
        lgw_buf_cleanup(&form);
    }
    json_decref(body);
    return 0;
}
