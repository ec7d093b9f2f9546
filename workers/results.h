/* results.h - everything a job sends to Kafka, and when its offset may be committed: tickets, the reply and
 * cost producers, their delivery reports, dead letters and expired jobs.
 *
 * Durability order: a job's offset is stored for commit (workers/offsets.h) only after every message the
 * job produced (reply and cost event, or its dead letter) is acknowledged by Kafka. A message that cannot be
 * delivered abandons the ticket: its offset is never committed, so the job runs again after a restart or a
 * rebalance (at-least-once; the ledger dedupes cost events on event_id). */
#ifndef LGW_RESULTS_H
#define LGW_RESULTS_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdint.h>

#include "common/config.h"
#include "common/envelope.h"
#include "common/metrics.h"
#include "common/trace.h"
#include "telemetry/span.h"
#include "workers/offsets.h"

struct lgw_results;
struct lgw_ticket;
struct lgw_batch_slot;

/* What a message is to its job: a failed cost event or dead letter is produced again, a failed reply is not. */
enum lgw_msg_role { LGW_MSG_REPLY, LGW_MSG_COST, LGW_MSG_DLQ, LGW_MSG_CHUNK };

/* One tracked message of a ticket: the delivery report's opaque. */
struct lgw_delivery {
    struct lgw_ticket *ticket;
    enum lgw_msg_role role;
};

/* One consumed job record, from consume to offset store. The consumer thread creates it; the pool thread
 * that runs the job holds it; after the job's last message is queued it belongs to the delivery reports,
 * and the last one frees it. Fields above the line are the job's, for any holder to read. */
struct lgw_ticket {
    char topic[LGW_TOPIC_MAX];
    int32_t partition;
    int64_t offset;
    struct lgw_job job; /* filled by the consumer thread (lgw_job_decode); cleaned up with the ticket */
    int64_t received_us;                     /* monotonic, when consumed */
    bool batch;                              /* consumed from a batch topic: a batch line */
    bool admitted;                           /* the record carries the ingress's LGW_KAFKA_ADMITTED_HEADER */
    struct lgw_batch_slot *batch_slot;       /* a batch line's share of the worker (workers/batch_flow.h) */
    char traceparent[LGW_TRACEPARENT_SIZE]; /* the job record's header, "" when it had none */
    char tracestate[LGW_TRACESTATE_SIZE];   /* its tracestate header, "" when none: every record of the job and
                                             * every span of it carry it on (common/trace.h) */
    /* The job's trace (workers/spans.h): its CONSUMER span (NULL when not recorded; owned by whoever holds the
     * ticket until a job run takes it), that span's context, and what the job's later records carry: reply_tp
     * on its reply and stream chunks, cost_tp on its cost events ("" for either: traceparent). Set by the
     * holder before the produce that carries it. */
    struct lgw_span *span;
    struct lgw_span_ctx span_ctx;
    char reply_tp[LGW_TRACEPARENT_SIZE], cost_tp[LGW_TRACEPARENT_SIZE];
    /* ---- results.c's delivery accounting */
    struct lgw_results *results;
    atomic_int pending; /* messages not yet acknowledged, plus one while the holder has not let go */
    struct lgw_delivery d[2];
    struct lgw_delivery chunk_d;  /* every stream chunk's delivery report points here */
    struct lgw_delivery spend_d;  /* and every non-final cost event's (lgw_results_cost_more) */
    atomic_int unacked_chunks;    /* stream chunks produced, not yet acknowledged (the stream's bound) */
    atomic_bool abandoned; /* a message could not be delivered: never commit this offset, the job runs again */
};

/* Creates the two producers and the thread that serves their delivery reports. consumer (whose offset store
 * takes finished jobs) and offsets are borrowed and must outlive the results; so must cfg and m. worker_id
 * names the worker in cost events. *out is owned by the caller (lgw_results_free). Returns 0 or an LGW_ERR.
 * Consumer thread, at start. */
int lgw_results_new(const struct lgw_config *cfg, struct lgw_metrics *m, const char *worker_id,
                    rd_kafka_t *consumer, struct lgw_offsets *offsets, struct lgw_results **out);
/* Waits up to timeout_ms for each producer's queued messages to be acknowledged. Any thread. */
void lgw_results_flush(struct lgw_results *r, int timeout_ms);
/* Stops retries (cost events, re-produced failures) and the delivery-report thread. Shutdown, once. */
void lgw_results_stop(struct lgw_results *r);
/* Purges what is still queued (whose delivery reports run here: the tickets are released without commit),
 * then destroys the producers. Call after lgw_results_stop, before the consumer is destroyed (the reports
 * touch its offset store). NULL is a no-op. */
void lgw_results_free(struct lgw_results *r);
/* The cost topic's name (for spans), owned by r. */
/* Keeps the topics the worker writes without a job naming them, the dead letters always and the cost events of a
 * worker that served nothing yet, known past the metadata cache's age: otherwise the first write after 15 quiet
 * minutes waits for librdkafka's scan of unknown topics, up to a second (docs/KAFKA.md; reply topics are the
 * warmer's, common/topic_warm.h). After the topics exist: a topic named before is not found until that scan. */
void lgw_results_keep_topics(struct lgw_results *r);
const char *lgw_results_topic_cost(const struct lgw_results *r);
/* The linger-0 reply producer, borrowed: for admin requests and the health probe. */
rd_kafka_t *lgw_results_producer(const struct lgw_results *r);

/* A ticket for the consumed record msg: its position (entered into the offset tracker) and its traceparent
 * header. Returned to the caller (consumer thread), who hands it to exactly one of: lgw_results_dead_letter,
 * lgw_results_expired, a job run ending in lgw_results_cost, or lgw_results_ticket_drop. */
struct lgw_ticket *lgw_results_ticket_new(struct lgw_results *r, const rd_kafka_message_t *msg);
/* Frees a ticket that produced nothing; its offset stays uncommitted (the next owner of the partition runs
 * the job). Takes t. */
void lgw_results_ticket_drop(struct lgw_ticket *t);

/* A cost event for t's job run by this worker: a new event_id, the job's identity and trace id, cost known
 * until shown otherwise, now as ts_ms. Does not take t. The thread holding t. */
void lgw_results_cost_init(const struct lgw_ticket *t, struct lgw_cost_event *ev);
/* Produces one non-final stream chunk of t's job to its reply topic. Counted until Kafka acknowledges it
 * (lgw_results_unacked_chunks), so a stream that outruns Kafka can be held back; a chunk that is not
 * delivered does not hold back the job's offset (the final reply and cost event decide). Does not take t;
 * reply is borrowed. Returns 0 or LGW_ERR. The thread running the job's provider call. */
int lgw_results_chunk(struct lgw_ticket *t, const struct lgw_reply *reply);
/* Stream chunks of t produced and not yet acknowledged. Any thread. */
int lgw_results_unacked_chunks(const struct lgw_ticket *t);
/* Produces t's final reply, tracked: the ticket then also waits for its acknowledgement. A reply that cannot
 * be queued is logged and counted; the client gets its 504 and the job is still accounted for by the cost
 * event. Does not take t; reply is borrowed. Returns 0 or LGW_ERR. The pool thread running the job. */
int lgw_results_reply(struct lgw_ticket *t, const struct lgw_reply *reply);
/* Produces a non-final cost event of t's job (an earlier billed provider request), retrying like the final
 * one and tracked the same way; does not take t. ev is borrowed. Before lgw_results_cost, same thread. */
void lgw_results_cost_more(struct lgw_ticket *t, const struct lgw_cost_event *ev);
/* Produces t's cost event, retrying until it is queued or until shutdown (then the ticket is abandoned and
 * the job runs again elsewhere). Always the job's last message: takes t, which a delivery report may free at
 * any moment after the call. ev is borrowed. The pool thread running the job, or the consumer thread. */
void lgw_results_cost(struct lgw_ticket *t, const struct lgw_cost_event *ev);
/* A job past its deadline: dropped unrun, with an "expired" cost event. Takes t. Consumer thread. */
void lgw_results_expired(struct lgw_ticket *t);
/* A job that cannot be run (msg undecodable, or on the wrong topic): sends msg's bytes with the reason why to
 * the dead-letter topic; its offset is committed once that is acknowledged. Takes t; msg is borrowed.
 * Consumer thread. */
void lgw_results_dead_letter(struct lgw_ticket *t, const rd_kafka_message_t *msg, const char *why);

#endif
