/* fuzz_tenant_record.c - libFuzzer harness: a tenants-topic record (the bytes up to the first newline are the
 * record key, the rest its value) applied to a tenancy directory, then looked up; the same value as an admin
 * API body (strict key attributes) and as an RFC 3339 time. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "tenancy/record.h"
#include "tenancy/tenancy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t keylen = nl ? (size_t)(nl - data) : size;
    const char *value = nl ? (const char *)nl + 1 : NULL;
    size_t len = nl ? size - keylen - 1 : 0;
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    struct lgw_tenancy *t = NULL;
    if (lgw_tenancy_new(&cfg, &t, &errs) == 0) {
        lgw_tenancy_apply(t, (const char *)data, keylen, value, len);
        lgw_tenancy_apply(t, (const char *)data, keylen, value, len); /* the same record again: a replay */
        char msg[256];
        struct lgw_tenancy_id who;
        lgw_tenancy_identify(t, "Bearer lgw-x", &who, msg, sizeof(msg));
        lgw_tenancy_check_model(t, "acme", "key_0123456789ab", "gpt-4o", msg, sizeof(msg));
        json_decref(lgw_tenancy_keys_json(t, NULL));
        json_decref(lgw_tenancy_tenant_json(t, "acme"));
        lgw_tenancy_apply(t, (const char *)data, keylen, NULL, 0); /* and its tombstone */
    }
    lgw_tenancy_free(t);
    if (value) {
        json_error_t jerr;
        json_t *body = json_loadb(value, len, 0, &jerr);
        struct lgw_key_attrs a;
        char msg[256];
        const char *param;
        lgw_key_attrs_parse(body, true, &a, msg, sizeof(msg), &param);
        lgw_key_attrs_cleanup(&a);
        json_decref(body);
        char *s = malloc(len + 1);
        memcpy(s, value, len);
        s[len] = '\0';
        int64_t ms;
        lgw_record_parse_time(s, &ms);
        free(s);
    }
    lgw_buf_cleanup(&errs);
    lgw_config_cleanup(&cfg);
    return 0;
}
