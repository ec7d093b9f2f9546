/* fuzz_envelope.c - libFuzzer harness: Kafka message payloads (anyone who can write to a topic controls
 * them) through the job, reply and cost-event decoders, and re-encoding of whatever decodes. */
#include <stddef.h>
#include <stdint.h>

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
    struct lgw_reply reply;
    if (lgw_reply_decode(data, size, &reply, why, sizeof(why)) == 0)
        lgw_reply_encode(&reply, &out);
    lgw_reply_cleanup(&reply);
    struct lgw_cost_event ev;
    if (lgw_cost_event_decode(data, size, &ev, why, sizeof(why)) == 0)
        lgw_cost_event_encode(&ev, &out);
    lgw_buf_cleanup(&out);
    return 0;
}
