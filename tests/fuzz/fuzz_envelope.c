/* fuzz_envelope.c - libFuzzer harness: Kafka message payloads (anyone who can write to a topic controls
 * them) through the job, reply and cost-event decoders, and re-encoding of whatever decodes; the reply's
 * decoder that keeps the body as text agrees with the whole one. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[256];
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    struct lgw_job job;
    if (lgw_job_decode(data, size, &job, why, sizeof(why)) == 0)
        lgw_job_encode(&job, &out);
    lgw_job_cleanup(&job);
    struct lgw_reply reply, text;
    int whole = lgw_reply_decode(data, size, &reply, why, sizeof(why));
    if (whole == 0)
        lgw_reply_encode(&reply, &out);
    /* The ingress's reader, the body kept as text, takes what the whole decode takes and nothing else but a body
     * with a key repeated in it (which the text's check does not look for). */
    int kept = lgw_reply_decode_text(data, size, &text, why, sizeof(why));
    if (kept == 0 && lgw_reply_parse_body(&text, why, sizeof(why)) == 0) {
        if (whole != 0 || !json_equal(text.body, reply.body) || text.status != reply.status)
            __builtin_trap();
    } else if (kept == 0) {
        json_t *lax = json_loadb(text.body_text, text.body_len, 0, NULL);
        if (whole == 0 || !lax)
            __builtin_trap();
        json_decref(lax);
    } else if (whole == 0 && !memchr(data, 0, size)) { /* a NUL jansson let through (json_scan.h) */
        __builtin_trap();
    }
    lgw_reply_cleanup(&text);
    lgw_reply_cleanup(&reply);
    struct lgw_cost_event ev;
    if (lgw_cost_event_decode(data, size, &ev, why, sizeof(why)) == 0)
        lgw_cost_event_encode(&ev, &out);
    lgw_buf_cleanup(&out);
    return 0;
}
