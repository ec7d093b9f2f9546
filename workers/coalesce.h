/* coalesce.h - a stream's chunks gathered into fewer reply messages.
 *
 * Every chunk of a streamed answer was one Kafka message, and each costs about 0.5 ms of CPU across the
 * worker, the broker and the ingress (docs/PERFORMANCE.md): on a busy machine the chunks queue behind each
 * other. The first chunk always goes at once (time to first token). A later chunk is held, with the ones that
 * follow it within window_ms, and they go as one reply (its more_chunks, common/envelope.h). A window of 0
 * holds a chunk only until the transfer loop's current turn ends: the chunks of one read from the provider,
 * or of one backlog, go together and none waits for time. -1 sends every chunk alone, as before.
 *
 * Only for a job whose writer said it reads more_chunks (job batched_chunks): an older ingress, or a batch
 * producer that did not say, gets one chunk a message. Not thread-safe: one stream's sink (its loop thread,
 * or the thread replaying a cache hit) owns it. */
#ifndef LLMGW_WORKERS_COALESCE_H
#define LLMGW_WORKERS_COALESCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* At most this many chunks wait: then they go at once, so a fast provider's burst is bounded in memory. */
#define LGW_COALESCE_MAX_CHUNKS 64

struct lgw_coalesce {
    int64_t window_ms; /* -1: off */
    bool sent_first;   /* the first chunk went: later ones may wait */
    bool armed;        /* a flush is scheduled */
    json_t *held;      /* chunks waiting, in order (a JSON array); NULL: none */
};

/* window_ms < 0, or a reader that does not take more_chunks: every chunk goes alone. */
void lgw_coalesce_init(struct lgw_coalesce *c, int64_t window_ms, bool reader_takes);

/* Keeps chunk (a new reference) when it may wait; false when it must go now (the stream's first chunk, or
 * coalescing is off), and then nothing is kept. After a true, lgw_coalesce_full says whether to flush now. */
bool lgw_coalesce_hold(struct lgw_coalesce *c, json_t *chunk);
bool lgw_coalesce_full(const struct lgw_coalesce *c);

/* True once per batch of held chunks: the caller schedules one flush, window_ms from now. */
bool lgw_coalesce_arm(struct lgw_coalesce *c);
int64_t lgw_coalesce_window_ms(const struct lgw_coalesce *c);

/* The held chunks, in order, handed to the caller (who owns the array); NULL when none wait. Disarms. */
json_t *lgw_coalesce_take(struct lgw_coalesce *c);

/* Drops what waits (the client left). */
void lgw_coalesce_cleanup(struct lgw_coalesce *c);

#endif
