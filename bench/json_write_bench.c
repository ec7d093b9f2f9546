/* json_write_bench.c - JSON written and read, jansson's way against llmgw's, on the values llmgw handles per request.
 * Written: jansson's compact dump (json_dump_callback into a buffer, what lgw_buf_dump_json did until the
 * twenty-sixth pass) against llmgw's writer (lgw_json_write, what it does now). Read: json_loadb against
 * lgw_json_loadb (common/json_load.c), both with JSON_REJECT_DUPLICATES as the request's and the job's readers ask.
 * The values: a chat request's body, whose prompt is 1 KB, 8 KB or 32 KB of prose (the job the ingress writes and
 * the provider request the worker writes both carry it), and a stream chunk's body.
 *
 * Prints one JSON line per value and way: ns per dump and MB/s of text, the median over 200 rounds of this thread's
 * CPU time. Pin it for a steady figure: taskset -c 1 ./build/bench_json_write [dumps per round, default 200]. Not a
 * test: nothing asserts a timing. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_clock.h"
#include "common/json_load.h"
#include "common/json_write.h"

#define ROUNDS 200

static volatile size_t sink;

static int to_buf(const char *data, size_t len, void *opaque)
{
    return lgw_buf_append(opaque, data, len) ? -1 : 0;
}

static json_t *request(size_t prompt_len)
{
    static const char words[] = "Summarise the following report in three sentences, keeping every figure. ";
    char *prompt = malloc(prompt_len + 1);
    for (size_t i = 0; i < prompt_len; i++)
        prompt[i] = words[i % (sizeof(words) - 1)];
    prompt[prompt_len] = '\0';
    json_t *v = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}], s:f, s:i, s:b}", "model", "gpt-4o-mini", "messages",
                          "role", "system", "content", "You are a careful analyst.", "role", "user", "content", prompt,
                          "temperature", 0.2, "max_tokens", 512, "stream", 1);
    free(prompt);
    return v;
}

int main(int argc, char **argv)
{
    int per_round = argc > 1 ? atoi(argv[1]) : 200;
    if (per_round <= 0) {
        fprintf(stderr, "usage: bench_json_write [dumps per round]\n");
        return 2;
    }
    struct {
        const char *name;
        json_t *v;
    } values[] = {
        {"request_1KB", request(1024)},
        {"request_8KB", request(8192)},
        {"request_32KB", request(32768)},
        {"stream_chunk_body",
         json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s}, s:n}]}", "id", "chatcmpl-9x2Kc7Qm1LwXyZ", "object",
                   "chat.completion.chunk", "created", (json_int_t)1767225600, "model", "gpt-4o-mini", "choices",
                   "index", 0, "delta", "content", " Paris is", "finish_reason")},
    };
    static const char *const way_names[] = {"jansson", "llmgw", "jansson_parse", "llmgw_parse"};
    static double ns[ROUNDS];
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    for (size_t k = 0; k < sizeof(values) / sizeof(values[0]); k++) {
        struct lgw_buf text;
        lgw_buf_init(&text, 0);
        if (lgw_json_write(&text, values[k].v))
            return 1;
        for (int way = 0; way < 4; way++) {
            for (int pass = 0; pass < 2; pass++) { /* the first warms the caches and the allocator */
                for (int r = 0; r < ROUNDS; r++) {
                    double t0 = bench_thread_cpu_s();
                    for (int i = 0; i < per_round; i++) {
                        int rc;
                        lgw_buf_reset(&out);
                        if (way >= 2) { /* reading the same text back, jansson's way and llmgw's */
                            json_t *back = way == 2 ? json_loadb(text.ptr, text.len, JSON_REJECT_DUPLICATES, NULL)
                                                    : lgw_json_loadb(text.ptr, text.len, JSON_REJECT_DUPLICATES, NULL);
                            rc = back ? lgw_buf_append(&out, text.ptr, text.len) : -1;
                            json_decref(back);
                        } else {
                            rc = way ? lgw_json_write(&out, values[k].v)
                                     : json_dump_callback(values[k].v, to_buf, &out, JSON_COMPACT);
                        }
                        if (rc) {
                            fprintf(stderr, "bench_json_write: the dump failed\n");
                            return 1;
                        }
                        sink += out.len;
                    }
                    ns[r] = (bench_thread_cpu_s() - t0) / per_round * 1e9;
                    if (pass == 0 && r >= ROUNDS / 20)
                        break;
                }
            }
            qsort(ns, ROUNDS, sizeof(ns[0]), bench_cmp_double);
            printf("{\"bench\":\"json_write\",\"value\":\"%s\",\"bytes\":%zu,\"way\":\"%s\",\"dumps\":%d,"
                   "\"ns_per_dump\":%.0f,\"mb_per_s\":%.0f}\n",
                   values[k].name, out.len, way_names[way], ROUNDS * per_round, ns[ROUNDS / 2],
                   (double)out.len / ns[ROUNDS / 2] * 1e3);
        }
        json_decref(values[k].v);
        lgw_buf_cleanup(&text);
    }
    lgw_buf_cleanup(&out);
    return 0;
}
