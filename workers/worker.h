/* worker.h - the worker role: a consumer group over the job topics that runs jobs on a thread pool and
 * answers on each job's reply topic, plus one cost event per job execution on <prefix>.cost.
 *
 * At-least-once: a job's offset is stored for commit only after its reply and cost event are
 * acknowledged by Kafka, in partition order (workers/offsets.h). A malformed job goes to
 * <prefix>.jobs.dlq with the reason; a job past its deadline is dropped with an "expired" cost event. */
#ifndef LGW_WORKER_H
#define LGW_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "common/config.h"
#include "common/metrics.h"

struct lgw_worker;
struct lgw_tracer;

/* Creates the clients, ensures the topics exist, starts the job threads and subscribes. tr (NULL: tracing
 * off) records each job's spans. cfg, m and tr must outlive the worker; *out is owned by the caller (lgw_worker_free). */
int lgw_worker_new(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_tracer *tr, struct lgw_worker **out);
/* Consumes until *stop is true, then drains: stops taking jobs, lets in-flight jobs finish (bounded by
 * shutdown_grace_ms), commits offsets and leaves the group. Call from one thread. */
int lgw_worker_run(struct lgw_worker *w, const atomic_bool *stop);
/* For /readyz: Kafka reachable. Thread-safe. */
bool lgw_worker_ready_cb(void *worker);
void lgw_worker_free(struct lgw_worker *w); /* NULL is a no-op */

#endif
