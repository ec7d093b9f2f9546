/* fuzz_tenant_keys.c - libFuzzer harness: the tenant-key list from configuration. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *spec = malloc(size + 1);
    memcpy(spec, data, size);
    spec[size] = '\0';
    struct lgw_config cfg;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    memset(&cfg, 0, sizeof(cfg));
    lgw_config_parse_keys(&cfg, spec, &errs);
    lgw_config_cleanup(&cfg);
    lgw_buf_cleanup(&errs);
    free(spec);
    return 0;
}
