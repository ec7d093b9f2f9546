/* pingpong_stream.c - --chunks: the worker answering each job as a stream of chunks, and the ingress measuring
 * them (bench/pingpong.h). */
#include "pingpong.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A stream the worker is answering (--chunks): its job's payload (the stream's id in its first 15 bytes; each
 * chunk is a copy with the chunk's number and send time written in), the chunks sent, when the next is due. */
struct out_stream {
    char *chunk;
    long sent;
    double due_ms;
};

/* Writes chunk k's number (6 digits at byte 15) and its send time (a double at byte CHUNK_SENT_AT) into chunk. */
static void chunk_stamp(char *chunk, long k, double sent_ms)
{
    char num[8];
    snprintf(num, sizeof(num), "%06ld", k % 1000000);
    memcpy(chunk + 15, num, 6);
    memcpy(chunk + CHUNK_SENT_AT, &sent_ms, sizeof(sent_ms));
}

/* The worker for --chunks: each job of topic A is a stream of n_chunks replies, the first work_us after the job
 * arrives, the rest gap_us apart, as a provider streams; then the job's cost event. Up to n_streams at once. */
void *stream_worker_main(void *arg)
{
    (void)arg;
    struct worker_io w;
    struct out_stream *live = calloc((size_t)n_streams, sizeof(*live));
    int n_live = 0;
    bool ok = live && worker_open(&w);
    if (!live)
        fprintf(stderr, "out of memory\n");
    while (ok && !atomic_load(&worker_stop)) {
        worker_serve(&w);
        double now = now_ms(), next = now + POLL_MS;
        for (int i = 0; i < n_live; i++)
            next = live[i].due_ms < next ? live[i].due_ms : next;
        /* librdkafka's wait is in whole ms: a chunk may go up to 1 ms late, which the ingress's measure leaves out
         * (it times each chunk from its send time, written in the chunk). */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w.c, next > now ? (int)(next - now) : 0);
        if (m && m->err) {
            fprintf(stderr, "worker consume: %s\n", rd_kafka_message_errstr(m));
        } else if (m && (m->len != msg_size || n_live == n_streams)) {
            fprintf(stderr, "worker: a job of %zu bytes, or more than %ld streams at once\n", m->len, n_streams);
            ok = false;
        } else if (m) {
            struct out_stream *st = &live[n_live];
            if (!(st->chunk = malloc(msg_size))) {
                ok = false;
            } else {
                memcpy(st->chunk, m->payload, msg_size);
                st->sent = 0, st->due_ms = now_ms() + (double)work_us / 1e3;
                n_live++;
            }
            if (with_group)
                store(w.c, m);
        }
        if (m)
            rd_kafka_message_destroy(m);
        for (int i = 0; ok && i < n_live; i++) {
            struct out_stream *st = &live[i];
            if (st->due_ms > now_ms())
                continue;
            chunk_stamp(st->chunk, st->sent, now_ms());
            ok = worker_reply(&w, st->chunk, msg_size);
            st->due_ms += (double)gap_us / 1e3;
            if (ok && ++st->sent == n_chunks) { /* the stream's end: its cost event, its slot to the last one */
                ok = worker_cost(&w, st->chunk, msg_size);
                free(st->chunk);
                live[i--] = live[--n_live];
            }
        }
    }
    if (!ok)
        atomic_store(&worker_failed, true);
    for (int i = 0; i < n_live; i++)
        free(live[i].chunk);
    free(live);
    if (live)
        worker_close(&w);
    return NULL;
}


/* A stream the ingress reads (--chunks): when its job went, the chunks come so far, the last one's transit. */
struct in_stream {
    double job_ms, last_transit_ms;
    long got;
};

/* The streams: warmup + count jobs of n_chunks chunks each, n_streams at a time (a new one as one ends). Prints,
 * over the measured streams, the time from the job to its first chunk, each chunk's transit (its arrival less
 * its send time, which it carries), and the added gap between chunks (a chunk's transit less the one before's:
 * what the way from worker to ingress adds to the provider's gap), and the CPU per chunk. 0 or 1. */
int run_streams(struct ingress_io *in, long warmup, long count, long cpu_of)
{
    long total = warmup + count, started = 0, ended = 0, chunks_in_window = 0, n_first = 0, n_transit = 0,
         n_gap = 0;
    struct in_stream *st = calloc((size_t)total, sizeof(*st));
    double *first = calloc((size_t)count, sizeof(double));
    double *transit = calloc((size_t)(count * n_chunks), sizeof(double));
    double *gap = calloc((size_t)(count * (n_chunks - 1)), sizeof(double)), cpu0 = 0, self0 = 0, last = now_ms(), t1;
    int rc = 1;
    if (!st || !first || !transit || !gap) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }
    while (ended < total) {
        for (; started < total && started - ended < n_streams; started++) {
            if (started == warmup) { /* the measured stretch starts with the first measured stream */
                cpu0 = cpu_of ? pid_cpu_s(cpu_of) : 0;
                self0 = self_cpu_s();
                chunks_in_window = 0;
            }
            st[started].job_ms = now_ms();
            if (!ingress_send(in, started))
                goto done;
        }
        int got = ingress_wait(in, &t1);
        if (got < 0)
            goto done;
        if (got == 0) {
            if (t1 - last > WAIT_MS) {
                fprintf(stderr, "no chunk within %d ms (%ld streams of %ld ended)\n", WAIT_MS, ended, total);
                goto done;
            }
            continue;
        }
        last = t1;
        char id[16], num[7];
        double sent;
        memcpy(id, in->reply, 15), id[15] = 0;
        memcpy(num, in->reply + 15, 6), num[6] = 0;
        memcpy(&sent, in->reply + CHUNK_SENT_AT, sizeof(sent));
        long i = strtol(id, NULL, 10), k = strtol(num, NULL, 10);
        if (i < 0 || i >= started || k != st[i].got % 1000000) {
            fprintf(stderr, "unexpected chunk %ld of stream %ld\n", k, i);
            goto done;
        }
        struct in_stream *s = &st[i];
        double tr = t1 - sent;
        chunks_in_window++;
        if (i >= warmup) {
            transit[n_transit++] = tr;
            if (s->got == 0)
                first[n_first++] = t1 - s->job_ms;
            else
                gap[n_gap++] = tr - s->last_transit_ms;
        }
        s->last_transit_ms = tr;
        if (++s->got == n_chunks && ++ended % 100 == 0)
            fprintf(stderr, "%ld streams done\n", ended);
    }
    printf("{\"streams\":%ld,\"chunks\":%ld,\"concurrent_streams\":%ld,\"gap_us\":%ld,\"size\":%zu", count,
           n_chunks, n_streams, gap_us, msg_size);
    print_pcts("first_chunk_", first, n_first);
    print_pcts("transit_", transit, n_transit);
    print_pcts("added_gap_", gap, n_gap);
    print_cpu("chunk", self0, cpu0, cpu_of, chunks_in_window);
    printf("}\n");
    fflush(stdout);
    rc = 0;
done:
    free(st);
    free(first);
    free(transit);
    free(gap);
    return rc;
}
