/* pipeline.h - one job's run, as a list of stages: plan, (response cache), dispatch along the route, price,
 * reply, cost event. A new step of the job (cache lookup and store, trace spans) is a stage.
 *
 * Threads: a job starts on a pool thread, which plans it (routing); its provider calls run on one of the
 * worker's transfer loops (providers/http_loop.h), and the stages after dispatch run there when the calls
 * are over. No thread waits on a provider. */
#ifndef LGW_PIPELINE_H
#define LGW_PIPELINE_H

#include <stdatomic.h>

#include "cache/cache.h"
#include "common/config.h"
#include "common/metrics.h"
#include "providers/http_loop.h"
#include "routing/catalog.h"
#include "routing/router.h"
#include "workers/admit.h"
#include "workers/batch_flow.h"
#include "workers/cancel.h"
#include "workers/results.h"

/* What every job's run uses; all borrowed from the worker, which keeps them alive until every run has ended
 * (lgw_pipeline_run's finished callback). */
struct lgw_pipeline {
    const struct lgw_config *cfg;
    struct lgw_metrics *m;
    struct lgw_tracer *tracer; /* NULL: tracing off */
    struct lgw_catalog_holder *catalog;
    struct lgw_router *router;
    struct lgw_cancels *cancels; /* NULL: the cancel consumer did not start; streams run to their end */
    struct lgw_results *results;
    struct lgw_cache *cache; /* the response cache; NULL: none */
    /* Admission of jobs no ingress admitted (batch lines, unmarked jobs; workers/admit.h); NULL: none. */
    struct lgw_wadmit *admit;
    /* Set when the worker drains: a line waiting for admission lets go of its ticket (uncommitted: it runs
     * again on the partition's next owner) instead of waiting on. */
    const atomic_bool *stopping;
    struct lgw_http_loop **loops; /* where provider calls run; a job takes the next one in turn */
    size_t nloops;
    atomic_size_t next_loop;
    /* Runs once per job when its run has ended (after its cost event was handed over, or its ticket was let
     * go), on whatever thread ended it, with the ticket's batch slot (NULL for an interactive job): the worker
     * counts jobs in flight with it. */
    void (*finished)(void *opaque, struct lgw_batch_slot *slot);
    void *opaque;
};

/* Starts t's job through its stages; they produce its reply (streamed chunks first, when asked for) and its
 * cost event. Takes t: it ends with the delivery reports (workers/results.h). Returns at once when the job
 * waits for a provider; p->finished runs when the run is over. A pool thread. */
void lgw_pipeline_run(struct lgw_pipeline *p, struct lgw_ticket *t);

#endif
