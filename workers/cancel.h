/* cancel.h - stopping the upstream call of a streamed request whose client left.
 *
 * The ingress publishes a cancel message (common/envelope.h, schemas/cancel.schema.json) on <prefix>.cancel
 * when a streaming client disconnects before the end. Every worker reads that topic (every partition the
 * topic table gives it, assign()ed at its end when the worker starts: cancels are only for running work)
 * and raises the flag of the matching running stream; the stream's emit then fails, which aborts the
 * provider transfer. Running streams register their flag for the time of the call. Thread-safe. */
#ifndef LGW_CANCEL_H
#define LGW_CANCEL_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>

#include "common/config.h"

struct lgw_cancels;
struct lgw_cancel_reg;

/* Starts the cancel consumer for this worker. cfg must outlive it. */
int lgw_cancels_start(const struct lgw_config *cfg, const char *worker_id, struct lgw_cancels **out);
/* Stops the cancel consumer (no flag is raised, no wake runs after it returns); the registry stays usable, so
 * running streams can still unregister. NULL is a no-op. */
void lgw_cancels_stop(struct lgw_cancels *c);
/* Stops (if still running) and frees everything; every stream must have ended. NULL is a no-op. */
void lgw_cancels_free(struct lgw_cancels *c);
/* flag is raised if a cancel for job_id arrives while registered, and then wake(opaque) runs (when not
 * NULL) on the cancel thread, under the registry's lock: until lgw_cancels_unregister returns, whatever
 * opaque points to is still registered. job_id is copied. Returns the registration (owned by the registry;
 * give it back to lgw_cancels_unregister). O(1); any thread. */
struct lgw_cancel_reg *lgw_cancels_register(struct lgw_cancels *c, const char *job_id, atomic_bool *flag,
                                            void (*wake)(void *opaque), void *opaque);
/* Ends a registration (NULL: no-op). O(1); any thread. */
void lgw_cancels_unregister(struct lgw_cancels *c, struct lgw_cancel_reg *reg);

#endif
