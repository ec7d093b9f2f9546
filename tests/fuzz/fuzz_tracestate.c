/* fuzz_tracestate.c - libFuzzer harness: a client's tracestate header (common/trace.h). Whatever comes in,
 * what is carried on is within W3C's limits and reads back as itself; what is refused leaves nothing. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[LGW_TRACESTATE_SIZE], again[LGW_TRACESTATE_SIZE];
    if (!lgw_tracestate_from_header((const char *)data, size, out)) {
        if (out[0])
            abort(); /* refused: nothing carried on */
        return 0;
    }
    size_t len = strlen(out), members = out[0] ? 1 : 0;
    for (size_t i = 0; i < len; i++)
        members += out[i] == ',';
    if (len > LGW_TRACESTATE_MAX || members > LGW_TRACESTATE_MEMBERS_MAX)
        abort();
    if (!lgw_tracestate_from_header(out, len, again) || strcmp(out, again) != 0)
        abort(); /* the normalised form is a fixed point: records re-read it as written */
    return 0;
}
