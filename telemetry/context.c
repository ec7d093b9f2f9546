/* context.c - span contexts and their traceparent text (see context.h). */
#include "telemetry/context.h"

#include <string.h>

#include "common/buf.h"
#include "common/random.h"

/* One lowercase hex digit, already validated (lgw_traceparent_valid): inline, since every consumed record's
 * traceparent is parsed, 50 digits each. */
static inline unsigned nibble(char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
}

static void unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(nibble(s[2 * i]) << 4 | nibble(s[2 * i + 1]));
}

bool lgw_span_ctx_parse(const char *s, size_t len, struct lgw_span_ctx *out)
{
    if (!lgw_traceparent_valid(s, len))
        return false;
    unhex(s + 3, out->trace_id, 16);
    unhex(s + 36, out->span_id, 8);
    uint8_t flags;
    unhex(s + 53, &flags, 1);
    out->sampled = flags & 1;
    out->remote = true;
    return true;
}

void lgw_span_ctx_hex(const uint8_t *id, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[id[i] >> 4];
        out[2 * i + 1] = hex[id[i] & 15];
    }
    out[2 * n] = '\0';
}

void lgw_span_ctx_format(const struct lgw_span_ctx *ctx, char out[LGW_TRACEPARENT_SIZE])
{
    memcpy(out, "00-", 3);
    lgw_span_ctx_hex(ctx->trace_id, 16, out + 3);
    out[35] = '-';
    lgw_span_ctx_hex(ctx->span_id, 8, out + 36);
    memcpy(out + 52, ctx->sampled ? "-01" : "-00", 4); /* with the NUL */
}

/* Each thread draws ids from its own pool of kernel randomness, refilled 256 bytes at a time: one getrandom
 * call per 32 span ids instead of one per span, on the request path. */
#define POOL_BYTES 256

void lgw_span_ctx_random_id(uint8_t *id, size_t n)
{
    static _Thread_local struct {
        uint8_t bytes[POOL_BYTES];
        size_t used;
        bool filled;
    } pool;
    if (!pool.filled || pool.used + n > POOL_BYTES) {
        lgw_random_bytes(pool.bytes, POOL_BYTES);
        pool.used = 0;
        pool.filled = true;
    }
    memcpy(id, pool.bytes + pool.used, n);
    pool.used += n;
    id[n - 1] |= 1; /* never all zero; the low bit costs the ratio sampler nothing (it reads bytes 9..15
                     * of a trace id as a number below 2^56, and one bit of 56 is no bias worth a loop) */
}
