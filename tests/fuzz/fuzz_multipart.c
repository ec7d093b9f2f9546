/* fuzz_multipart.c - libFuzzer harness: an upload to POST /v1/files (batch/multipart.h). The input's first line
 * is the Content-Type header, the rest the body (copied to a buffer of its exact size, so a read past it is
 * caught). Whatever comes in, a parsed part lies inside the body, and its names are terminated. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ctlen = nl ? (size_t)(nl - data) : size;
    char *ct = malloc(ctlen + 1);
    memcpy(ct, data, ctlen);
    ct[ctlen] = '\0';
    size_t len = nl ? size - ctlen - 1 : 0;
    char *body = malloc(len ? len : 1);
    if (len)
        memcpy(body, nl + 1, len);
    struct lgw_multipart mp;
    char why[200];
    if (lgw_multipart_parse(ct, body, len, &mp, why, sizeof(why)) == 0) {
        if (mp.nparts > LGW_MULTIPART_PARTS_MAX)
            abort();
        for (size_t i = 0; i < mp.nparts; i++) {
            const struct lgw_multipart_part *p = &mp.parts[i];
            if (p->data < body || p->len > len || p->data + p->len > body + len)
                abort();
            if (strnlen(p->name, sizeof(p->name)) == sizeof(p->name) || !p->name[0] ||
                strnlen(p->filename, sizeof(p->filename)) == sizeof(p->filename))
                abort();
        }
    } else if (strnlen(why, sizeof(why)) == 0) {
        abort(); /* a refusal always says why */
    }
    free(ct);
    free(body);
    return 0;
}
