/* reply_text_bench.c - what llmgw spends on a worker's reply message, at both ends, each two ways.
 *
 * The ingress's read, from the message's bytes to the bytes for the client: the whole reply parsed and the answer
 * written again (lgw_reply_decode, then the OpenAI dialect's message or stream_chunk), against the body kept as the
 * text it came as (lgw_reply_decode_text, then message_text or stream_chunk_text).
 *
 * The worker's write: the envelope built as a jansson tree and dumped (tests/support/reply_encode_tree.c, the
 * encoder until the twenty-sixth pass), against printed field by field (lgw_reply_encode, common/json_out.c).
 *
 * Three replies as lgw_reply_encode writes them: a chat.completion of about 700 bytes (the benches' fake
 * provider's size), one of about 4 KB (an answer of some 800 tokens), and a stream chunk.
 *
 * Prints one JSON line per reply and way: ns per reply, the median over 200 rounds of this thread's CPU time (other
 * work on the machine moves it less). Pin it for a steady figure: taskset -c 1 ./build/bench_reply_text [replies
 * per round, default 1000]. Not a test: nothing asserts a timing. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_clock.h"
#include "common/envelope.h"
#include "ingress/dialect.h"
#include "tests/support/reply_encode_tree.h"

#define ROUNDS 200

/* What is timed: the ingress's read of a message (parsed whole, or its body kept as text) and the worker's write
 * of one (a jansson tree dumped, as until the twenty-sixth pass, or printed field by field, as now). */
enum { WAY_PARSED, WAY_TEXT, WAY_TREE, WAY_FIELDS };

/* Keeps the compiler from dropping work whose result nothing reads. */
static volatile size_t sink;

/* One reply through the ingress's path, parsed or as text; out collects what the client would get. */
static void one(const struct lgw_buf *msg, bool chunk, bool text, struct lgw_buf *out)
{
    struct lgw_reply r;
    char why[256];
    struct lgw_dialect_stream ds;
    memset(&ds, 0, sizeof(ds));
    lgw_buf_reset(out);
    int rc = text ? lgw_reply_decode_text(msg->ptr, msg->len, &r, why, sizeof(why))
                  : lgw_reply_decode(msg->ptr, msg->len, &r, why, sizeof(why));
    if (rc) {
        fprintf(stderr, "bench_reply_text: the sample reply does not decode: %s\n", why);
        exit(1);
    }
    if (chunk && text)
        lgw_dialect_openai.stream_chunk_text(&ds, r.body_text, r.body_len, out);
    else if (chunk)
        lgw_dialect_openai.stream_chunk(&ds, r.body, out);
    else if (text)
        lgw_dialect_openai.message_text(r.body_text, r.body_len, out);
    else
        lgw_dialect_openai.message(r.body, out);
    sink += out->len;
    lgw_dialect_stream_cleanup(&ds);
    lgw_reply_cleanup(&r);
}

/* The reply the worker writes for an answer whose content is content_len bytes of prose. */
static void make_reply(size_t content_len, bool chunk, struct lgw_reply *out)
{
    static const char words[] = "The capital of France is Paris, which is also its largest city. ";
    char *content = malloc(content_len + 1);
    for (size_t i = 0; i < content_len; i++)
        content[i] = words[i % (sizeof(words) - 1)];
    content[content_len] = '\0';
    struct lgw_reply r;
    memset(&r, 0, sizeof(r));
    strcpy(r.id, "01a24dd2-8963-7e26-8ed2-d1464e05bc62");
    strcpy(r.run_id, "01a24dd2-8963-7e26-8ed2-d1464e05bc63");
    strcpy(r.tenant, "acme");
    r.final = !chunk;
    r.seq = chunk ? 5 : 0;
    r.status = 200;
    if (chunk)
        r.body = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s}, s:n}]}", "id", "chatcmpl-9x2Kc7Qm1LwXyZ", "object",
                           "chat.completion.chunk", "created", (json_int_t)1767225600, "model", "gpt-4o-mini",
                           "choices", "index", 0, "delta", "content", content, "finish_reason");
    else
        r.body = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s, s:s, s:n}, s:n, s:s}], s:{s:i, s:i, s:i}, s:s}",
                           "id", "chatcmpl-9x2Kc7Qm1LwXyZ", "object", "chat.completion", "created",
                           (json_int_t)1767225600, "model", "gpt-4o-mini", "choices", "index", 0, "message", "role",
                           "assistant", "content", content, "refusal", "logprobs", "finish_reason", "stop", "usage",
                           "prompt_tokens", 24, "completion_tokens", (int)(content_len / 5), "total_tokens",
                           24 + (int)(content_len / 5), "system_fingerprint", "fp_0ba0d124f1");
    strcpy(r.provider, "openai");
    strcpy(r.model, "gpt-4o-mini");
    strcpy(r.strategy, "cost");
    strcpy(r.route, "openai/gpt-4o-mini=200");
    r.route_attempts = 1;
    r.usage.input_tokens = 24;
    r.usage.output_tokens = (int64_t)(content_len / 5);
    r.cost_nusd = 37800;
    r.cost_known = true;
    r.latency_ms = 412;
    *out = r;
    free(content);
}

/* The median ns per call of one way of writing or reading reply's message, over ROUNDS rounds. */
static double time_way(const struct lgw_reply *r, const struct lgw_buf *msg, bool chunk, int way, int per_round,
                       struct lgw_buf *out)
{
    static double ns[ROUNDS];
    for (int pass = 0; pass < 2; pass++) { /* the first warms the caches and the allocator */
        for (int k = 0; k < ROUNDS; k++) {
            double t0 = bench_thread_cpu_s();
            for (int i = 0; i < per_round; i++) {
                if (way == WAY_PARSED || way == WAY_TEXT) {
                    one(msg, chunk, way == WAY_TEXT, out);
                    continue;
                }
                lgw_buf_reset(out);
                int rc = way == WAY_FIELDS ? lgw_reply_encode(r, out) : lgw_test_reply_encode_tree(r, out);
                if (rc || out->len == 0) {
                    fprintf(stderr, "bench_reply_text: the sample reply does not encode\n");
                    exit(1);
                }
                sink += out->len;
            }
            ns[k] = (bench_thread_cpu_s() - t0) / per_round * 1e9;
            if (pass == 0 && k >= ROUNDS / 20)
                break;
        }
    }
    qsort(ns, ROUNDS, sizeof(ns[0]), bench_cmp_double);
    return ns[ROUNDS / 2];
}

int main(int argc, char **argv)
{
    int per_round = argc > 1 ? atoi(argv[1]) : 1000;
    if (per_round <= 0) {
        fprintf(stderr, "usage: bench_reply_text [replies per round]\n");
        return 2;
    }
    static const struct {
        const char *name;
        size_t content;
        bool chunk;
    } replies[] = {{"answer_700B", 200, false}, {"answer_4KB", 3500, false}, {"stream_chunk", 12, true}};
    static const char *const way_names[] = {"parsed", "text", "tree", "fields"};
    struct lgw_buf msg, out;
    lgw_buf_init(&msg, 0);
    lgw_buf_init(&out, 0);
    for (size_t k = 0; k < sizeof(replies) / sizeof(replies[0]); k++) {
        struct lgw_reply r;
        make_reply(replies[k].content, replies[k].chunk, &r);
        lgw_buf_reset(&msg);
        if (lgw_reply_encode(&r, &msg)) {
            fprintf(stderr, "bench_reply_text: the sample reply does not encode\n");
            return 1;
        }
        for (int way = WAY_TREE; way <= WAY_FIELDS; way++)
            printf("{\"bench\":\"reply_write\",\"reply\":\"%s\",\"bytes\":%zu,\"way\":\"%s\",\"replies\":%d,"
                   "\"ns_per_reply\":%.0f}\n",
                   replies[k].name, msg.len, way_names[way], ROUNDS * per_round,
                   time_way(&r, &msg, replies[k].chunk, way, per_round, &out));
        for (int way = WAY_PARSED; way <= WAY_TEXT; way++)
            printf("{\"bench\":\"reply_text\",\"reply\":\"%s\",\"bytes\":%zu,\"way\":\"%s\",\"replies\":%d,"
                   "\"ns_per_reply\":%.0f}\n",
                   replies[k].name, msg.len, way_names[way], ROUNDS * per_round,
                   time_way(&r, &msg, replies[k].chunk, way, per_round, &out));
        lgw_reply_cleanup(&r);
    }
    lgw_buf_cleanup(&msg);
    lgw_buf_cleanup(&out);
    return 0;
}
