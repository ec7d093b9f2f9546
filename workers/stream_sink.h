/* stream_sink.h - a streamed job's chunks on their way to the reply topic: the first at once with the route
 * so far (the ingress's response headers), the rest in order, several to a message when coalescing is on
 * (workers/coalesce.h); each counted for the bill, kept for the response cache, and counted against
 * worker_stream_max_chunks until Kafka acknowledges it. Part of the pipeline (workers/run.h); the stream's
 * thread only: the job's transfer loop, or the thread replaying a cache hit. */
#ifndef LGW_WORKERS_STREAM_SINK_H
#define LGW_WORKERS_STREAM_SINK_H

#include <stdbool.h>

#include "workers/run.h"

/* Makes run->sctx the sink its provider (or a replay) emits to, through sctx.base.emit, with cfg's limits
 * (borrowed). on_loop: chunks come on run->loop, where held ones may go later; false: a replay, whose held
 * chunks go at the end. */
void lgw_stream_sink_start(struct job_run *run, const struct lgw_config *cfg, bool on_loop);

/* The stream is over: held chunks go (unless the client left or a send failed). Returns the first send
 * failure of the stream, or 0: every chunk emitted reached the reply topic. */
int lgw_stream_sink_end(struct job_run *run);

#endif
