/* pipeline.h - one job's run on a pool thread, as a list of stages: plan, (response cache), dispatch along the
 * route, price, reply, cost event. A new step of the job (cache lookup and store, trace spans) is a stage. */
#ifndef LGW_PIPELINE_H
#define LGW_PIPELINE_H

#include "common/config.h"
#include "common/metrics.h"
#include "routing/catalog.h"
#include "routing/router.h"
#include "workers/cancel.h"
#include "workers/results.h"

/* What every job's run uses; all borrowed from the worker, which keeps them alive while the pool runs. */
struct lgw_pipeline {
    const struct lgw_config *cfg;
    struct lgw_metrics *m;
    struct lgw_catalog_holder *catalog;
    struct lgw_router *router;
    struct lgw_cancels *cancels; /* NULL: the cancel consumer did not start; streams run to their end */
    struct lgw_results *results;
};

/* Runs t's job through every stage and produces its reply (streamed chunks first, when asked for) and its
 * cost event. Takes t: it ends with the delivery reports (workers/results.h). A pool thread. */
void lgw_pipeline_run(const struct lgw_pipeline *p, struct lgw_ticket *t);

#endif
