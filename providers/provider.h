/* provider.h - the interface every provider adapter implements, and the table of adapters.
 *
 * Adding a provider is one file (providers/<name>.c defining a `const struct lgw_provider`), one line
 * in the table in providers/registry.c, and its models in catalog/models.json. Calls are made from worker threads; an adapter must be
 * thread-safe and keep no per-call state outside the result. */
#ifndef LGW_PROVIDER_H
#define LGW_PROVIDER_H

#include <jansson.h>
#include <stdbool.h>

#include <stdatomic.h>

#include "common/config.h"
#include "common/cost.h"
#include "common/model.h"
#include "common/envelope.h"
#include "telemetry/span.h"

/* What the provider may bill for a request it was sent (providers do not bill an error answer). */
enum lgw_prov_bill {
    LGW_BILL_NONE,      /* not sent, or answered with an error: nothing billed */
    LGW_BILL_REPORTED,  /* usage is the provider's own count */
    LGW_BILL_ESTIMATED, /* sent, but no usage came back (timed out, cut, abandoned, or an answer without usage):
                         * billed all the same; the caller estimates what usage lacks */
};

/* What one provider call produced. body is owned by the result (lgw_prov_result_cleanup). */
struct lgw_prov_result {
    int status;           /* HTTP status for the client: 200, or the mapped error status */
    json_t *body;         /* OpenAI-shaped response on success; {"error":{...}} otherwise */
    struct lgw_usage usage; /* the provider's count (as far as it came, for BILL_ESTIMATED) */
    char model[LGW_NAME_MAX]; /* the model that actually served the request */
    enum lgw_prov_bill bill;  /* of the attempt whose answer this is */
    int requests;         /* HTTP requests the call made (its retries counted); 0 for an adapter without I/O */
    int lost_requests;    /* of those before the last: sent, then no answer (timeouts), so billed estimated */
};

/* Where a streaming call sends its chunks as they arrive. emit takes an OpenAI chat.completion.chunk object
 * (borrowed) and returns 0, or an LGW_ERR when the stream must stop (the adapter then ends the upstream
 * call and returns). */
struct lgw_prov_stream {
    int (*emit)(struct lgw_prov_stream *stream, json_t *chunk);
    void *opaque;
    bool include_usage; /* the client asked for the final usage chunk (stream_options.include_usage) */
    int emitted;           /* chunks the sink accepted: past 0, no other provider may take over */
    int64_t first_emit_us; /* monotonic time of the first chunk of the current call; 0: none yet */
    int64_t output_tokens_estimate; /* the sink's estimate of the output emitted in the current call */
    /* True while the sink holds as many chunks as it may (they are on their way to the client): the wire
     * layer then stops reading from the provider until it is not (looked at again every few ms, on the
     * loop). NULL: never full. */
    bool (*full)(struct lgw_prov_stream *stream);
};

struct lgw_http_loop;
struct lgw_metrics;
struct lgw_wire_call;
struct lgw_sim_call;

/* One provider call: what to call, where its answer goes, and whom to tell when it is over. The caller
 * fills the inputs and owns the struct; it must stay valid until done has run. */
struct lgw_prov_call {
    const struct lgw_config *cfg;
    const struct lgw_model_info *model;
    const struct lgw_job *job;
    struct lgw_prov_stream *stream;   /* a streamed chat job's sink, or NULL */
    const atomic_bool *cancelled;     /* the client left (streams): stop at once; NULL: never */
    struct lgw_http_loop *loop;       /* where the call's HTTP transfers run */
    /* Runs exactly once, when res is final: on the loop thread, or, for an adapter with no I/O, on the
     * caller's thread before call() returns. The call may be freed from here. */
    void (*done)(struct lgw_prov_call *call);
    void *opaque; /* the caller's */
    /* The caller's span (a candidate's), under which each HTTP attempt gets a CLIENT span of its own (wire.c);
     * borrowed until done; NULL: none. */
    struct lgw_span *span;
    /* Where each HTTP attempt's latency is recorded (llmgw_provider_request_duration_seconds); borrowed,
     * NULL: nowhere. */
    struct lgw_metrics *metrics;
    struct lgw_prov_result res;       /* the answer (the caller cleans it up) */
    struct lgw_wire_call *wire;       /* the HTTP call in flight; wire.c's, loop thread only */
    struct lgw_sim_call *sim;         /* a simulated answer on its way; sim.c's, loop thread only */
    /* How the adapter ends this call at once (lgw_prov_call_abort): set by the adapter while it has something
     * to stop (wire.c: an attempt; sim.c: a simulated answer on its way), NULL otherwise. Loop thread only. */
    void (*abort)(struct lgw_prov_call *call);
};


struct lgw_provider {
    const char *name;
    const char *title; /* its name for people ("Google Gemini"), as GET /v1/providers shows it */
    /* True when this deployment can use the provider (its key is configured); echo always can. */
    bool (*configured)(const struct lgw_config *cfg);
    /* Starts call (a job of call->model's kind) against this provider. With call->stream set (a streamed
     * chat job) the answer goes out through stream->emit and res keeps only status, usage and model (body
     * stays NULL unless the call failed before the first chunk). Returns 0 when the call started: call->done
     * then runs exactly once, with res filled (provider-side errors included, as status + error body). An
     * LGW_ERR when the call could not be made: done does not run. Any thread. */
    int (*call)(const struct lgw_provider *prov, struct lgw_prov_call *call);
};

/* The client left: the call's running transfer is removed from its loop at once (the call then ends as a
 * cut stream, done runs), a call waiting to retry ends now, and so does a simulated answer (sim.c) between
 * its chunks. A no-op for a call with nothing running (echo) or one already over. Loop thread. */
void lgw_prov_call_abort(struct lgw_prov_call *call);

/* The adapter called `name` ("openai", ...), or NULL. The models each serves are in the catalog
 * (routing/catalog.h). Static; any thread. */
const struct lgw_provider *lgw_provider_by_name(const char *name);
/* True when some provider other than echo has credentials: echo is then no longer the last resort. */
bool lgw_provider_any_keys(const struct lgw_config *cfg);
/* The adapter that serves the catalog's provider `provider` in this deployment: its own when it has
 * credentials (echo always), the simulated one (lgw_provider_sim) when cfg->simulate is on and sim.c stands in
 * for it (openai, anthropic, gemini, mistral) with no key, else NULL (not served). Real keys always win. The one
 * place that decides: routing's candidates, dispatch and every label go through it. Any thread. */
const struct lgw_provider *lgw_provider_serving(const struct lgw_config *cfg, const char *provider);
/* The name provider is served as, for headers, replies, cost events and /v1/models: the provider's own name
 * when its own adapter serves it, "<provider>-sim" ("openai-sim") when simulated, NULL when not served. Static
 * string. Any thread. */
const char *lgw_provider_served_as(const struct lgw_config *cfg, const char *provider);
/* True when provider is served by the simulated adapter. Any thread. */
bool lgw_provider_simulated(const struct lgw_config *cfg, const char *provider);
/* The name sim.c serves provider as ("openai-sim"), or NULL when it does not stand in for it. Any thread. */
const char *lgw_provider_sim_name(const char *provider);
/* A simulated provider's latency profile, before simulate_latency_pct scales it: the first token after
 * ttft_ms +- jitter_ms, then a chunk every chunk_ms (an answer not streamed takes as long as its stream). */
struct lgw_sim_profile {
    const char *provider; /* the catalog's ("openai") */
    const char *name;     /* served as ("openai-sim") */
    int ttft_ms, jitter_ms, chunk_ms;
};
/* sim.c's profile for provider, or NULL when it does not stand in for it. Static; any thread. */
const struct lgw_sim_profile *lgw_provider_sim_profile(const char *provider);
/* A failed call's result: row rc of the error table (its status, type and code) with message (NULL: the
 * table's text). Replaces any body res had. */
void lgw_prov_result_error(struct lgw_prov_result *res, int rc, const char *message);
/* A provider's own error answer: status for the client and its error object as OpenAI's
 * {"message","type","param","code"} (taken); a missing type or code is the table's for that status. */
void lgw_prov_result_upstream(struct lgw_prov_result *res, int status, json_t *error_object);

void lgw_prov_result_cleanup(struct lgw_prov_result *res);

extern const struct lgw_provider lgw_provider_echo;
extern const struct lgw_provider lgw_provider_openai;
extern const struct lgw_provider lgw_provider_compat;
extern const struct lgw_provider lgw_provider_anthropic;
extern const struct lgw_provider lgw_provider_gemini;
extern const struct lgw_provider lgw_provider_mistral;
/* Simulated providers (`llmgw dev --simulate`): not in the registry's table, reached through
 * lgw_provider_serving only. */
extern const struct lgw_provider lgw_provider_sim;

/* An embedding as OpenAI returns it: the JSON array of numbers itself, or (base64) the float32 values in
 * little-endian bytes, base64-encoded. Takes a borrowed array; returns a new reference. */
json_t *lgw_prov_embedding_value(json_t *numbers, bool base64);

/* Declares the metrics the provider layer records into lgw_prov_call.metrics (the per-attempt latency
 * histogram llmgw_provider_request_duration_seconds{provider,outcome}); the worker calls it at start. */
void lgw_provider_metrics_declare(struct lgw_metrics *m);

#endif
