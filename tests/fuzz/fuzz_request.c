/* fuzz_request.c - libFuzzer harness: untrusted HTTP request bodies through parse and validation. */
#include <stddef.h>
#include <stdint.h>

#include "common/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char msg[512], param[64];
    json_t *body = NULL;
    if (lgw_validate_parse((const char *)data, size, 64, &body, msg, sizeof(msg)) == 0) {
        lgw_validate_chat(body, msg, sizeof(msg), param, sizeof(param));
        lgw_validate_embeddings(body, msg, sizeof(msg), param, sizeof(param));
        json_decref(body);
    }
    return 0;
}
