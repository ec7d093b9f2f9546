/* sim.c - simulated providers for `llmgw dev --simulate`: in-process stand-ins for OpenAI, Anthropic, Gemini
 * and Mistral, so that with no provider key the routing strategies, fallbacks, breakers and costs still differ
 * the way they would with real providers. Never in production: every production role refuses the setting
 * (common/config.h, lgw_config_check_role), and a provider with a key is always served by its real adapter
 * (providers/registry.c, lgw_provider_serving).
 *
 * Each simulated provider has a made-up latency profile (the table below) and fails now and then as its real
 * counterpart does when overloaded (503 after the adapters' mapping: retriable, so the next candidate is tried
 * and breakers hear it). Answers say they are simulated and by whom, then echo the last user message; usage is
 * estimated as echo does (providers/canned.c) and reported, so the cost is the catalog's price of the model.
 *
 * Nothing here sleeps: call() posts the answer to the call's transfer loop after the simulated delay
 * (lgw_http_loop_post), a stream's chunks follow one posted task at a time, and done runs once, on the loop
 * thread. A stream honours the sink's back-pressure (stream->full) and stops at once when the client leaves
 * (call->cancelled, lgw_prov_call_abort). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/random.h"
#include "providers/canned.h"
#include "providers/http_loop.h"
#include "providers/provider.h"

#define FINGERPRINT "llmgw-sim"
/* Most bytes of the user's message an answer echoes: answers stay short, and so do streams (a chunk a word). */
#define ECHO_MAX 240
/* How often a stream whose sink is full looks again (as wire.c does for a real stream). */
#define PAUSE_CHECK_MS 2

/* A simulated provider. Latencies are made up, of the order each real API shows (not measured): time to
 * first token ttft_ms, +- jitter_ms uniformly, then chunk_ms between streamed chunks (a word each); an answer
 * that is not streamed takes what its stream would. The failure is the provider's own "overloaded" answer as
 * its adapter maps it. */
static const struct profile {
    struct lgw_sim_profile pub; /* provider, served-as name, latencies */
    const char *fail_message;   /* the provider's own words */
    const char *fail_type;      /* OpenAI's error type as the adapter passes it on; NULL: the table's */
    const char *fail_code;      /* NULL: the table's */
} profiles[] = {
    {{"openai", "openai-sim", 350, 100, 12}, "The server is overloaded or not ready yet.", "server_error", NULL},
    /* HTTP 529 overloaded_error, which the Anthropic adapter answers as 503 */
    {{"anthropic", "anthropic-sim", 600, 150, 18}, "Overloaded", NULL, "overloaded_error"},
    {{"gemini", "gemini-sim", 250, 80, 8}, "The model is overloaded. Please try again later.", NULL, "UNAVAILABLE"},
    {{"mistral", "mistral-sim", 450, 120, 12}, "Service unavailable.", "service_unavailable", NULL},
};

#define NPROFILES (sizeof(profiles) / sizeof(profiles[0]))

static const struct profile *profile_of(const char *provider)
{
    for (size_t i = 0; i < NPROFILES; i++)
        if (strcmp(profiles[i].pub.provider, provider) == 0)
            return &profiles[i];
    return NULL;
}

const struct lgw_sim_profile *lgw_provider_sim_profile(const char *provider)
{
    const struct profile *p = profile_of(provider);
    return p ? &p->pub : NULL;
}

const char *lgw_provider_sim_name(const char *provider)
{
    const struct profile *p = profile_of(provider);
    return p ? p->pub.name : NULL;
}

/* Where a simulated stream is. */
enum phase { PH_ROLE, PH_CONTENT, PH_FINISH, PH_USAGE, PH_END };

/* One simulated call. Owned by the loop's tasks from call() on: freed by the last task to run after done. Loop
 * thread only, once posted. */
struct lgw_sim_call {
    struct lgw_prov_call *call; /* NULL once done ran */
    const struct profile *prof;
    bool fail;
    struct lgw_buf text;        /* the answer */
    size_t len, pos;            /* how much of it the answer holds, and how far the stream got */
    const char *finish;         /* "stop" or "length" */
    int n;                      /* choices */
    char id[LGW_ID_MAX + 16];
    int64_t created;
    enum phase phase;
    int64_t gap_ms;             /* between chunks */
    int tasks;                  /* posted and not yet over (the running one included) */
};

/* xorshift64 per thread, seeded from the kernel: latencies and failures need no more. */
static uint64_t rnd(void)
{
    static _Thread_local uint64_t state;
    if (state == 0) {
        lgw_random_bytes(&state, sizeof(state));
        state |= 1;
    }
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

/* ms of the profile, scaled by simulate_latency_pct. */
static int64_t scaled(const struct lgw_config *cfg, int64_t ms)
{
    return ms * cfg->simulate_latency_pct / 100;
}

static int64_t ttft(const struct lgw_config *cfg, const struct profile *p)
{
    int64_t jitter = (int64_t)(rnd() % (uint64_t)(2 * p->pub.jitter_ms + 1)) - p->pub.jitter_ms;
    return scaled(cfg, p->pub.ttft_ms + jitter);
}

static void sim_free(struct lgw_sim_call *sc)
{
    lgw_buf_cleanup(&sc->text);
    free(sc);
}

/* While the call is live exactly one task is queued for it (each step posts the next or ends the call), so an
 * abort from outside a task always leaves one to free sc. */
static void post(struct lgw_sim_call *sc, int64_t delay_ms, lgw_http_task_cb fn)
{
    sc->tasks++;
    lgw_http_loop_post(sc->call->loop, delay_ms, fn, sc);
}

/* The call is over, res final: done runs (the caller may free the call there), once. sc stays: the task
 * running or queued frees it. */
static void finish(struct lgw_sim_call *sc)
{
    struct lgw_prov_call *call = sc->call;
    LGW_ASSERT(call && sc->tasks > 0); /* a call ends once, with a task still to free sc */
    call->sim = NULL;
    call->abort = NULL;
    sc->call = NULL;
    call->res.requests = 1;
    if (call->stream && call->res.status == 200) {
        json_decref(call->res.body);
        call->res.body = NULL; /* the chunks were the answer */
    }
    call->done(call);
}

static void step(void *opaque);

/* The provider's overloaded answer: not billed, as providers do not bill errors. */
static void fail(struct lgw_sim_call *sc)
{
    const struct profile *p = sc->prof;
    char msg[256];
    snprintf(msg, sizeof(msg), "%s (simulated failure of %s)", p->fail_message, p->pub.name);
    json_t *err = json_pack("{s:s, s:n}", "message", msg, "param");
    if (p->fail_type)
        json_object_set_new(err, "type", json_string(p->fail_type));
    json_object_set_new(err, "code", p->fail_code ? json_string(p->fail_code) : json_null());
    struct lgw_prov_result *res = &sc->call->res;
    lgw_prov_result_upstream(res, 503, err);
    res->usage = (struct lgw_usage){0};
    res->bill = LGW_BILL_NONE;
    finish(sc);
}

/* The answer did not complete: the client left, the sink refused a chunk, or the deadline passed. The
 * request was made, so it is billed; what usage lacks the caller estimates (workers/billing.h). */
static void cut(struct lgw_sim_call *sc, int rc, const char *why)
{
    struct lgw_prov_result *res = &sc->call->res;
    lgw_prov_result_error(res, rc, why);
    res->bill = LGW_BILL_ESTIMATED;
    finish(sc);
}

static bool cancelled(const struct lgw_prov_call *call)
{
    return call->cancelled && atomic_load(call->cancelled);
}

/* lgw_prov_call_abort: the client left; the call ends now, the task still queued only frees. */
static void sim_abort(struct lgw_prov_call *call)
{
    cut(call->sim, LGW_ERR(PROVIDER), "The client left before the simulated answer was complete.");
}

static int emit(struct lgw_prov_stream *stream, json_t *chunk)
{
    int rc = stream->emit(stream, chunk);
    json_decref(chunk);
    return rc;
}

/* The stream's next chunk, by phase: a role chunk, a chunk a word, the finish chunk, the usage chunk when the
 * client asked for it. */
static int emit_next(struct lgw_sim_call *sc)
{
    struct lgw_prov_call *call = sc->call;
    struct lgw_prov_stream *stream = call->stream;
    const char *model = call->model->id;
    bool un = stream->include_usage;
    switch (sc->phase) {
    case PH_ROLE:
        sc->phase = sc->len ? PH_CONTENT : PH_FINISH;
        return emit(stream, lgw_canned_chunk(sc->id, sc->created, model, FINGERPRINT, sc->n,
                                             json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL, un));
    case PH_CONTENT: {
        size_t end = lgw_canned_next_word(sc->text.ptr, sc->len, sc->pos);
        json_t *delta = json_pack("{s:s#}", "content", sc->text.ptr + sc->pos, end - sc->pos);
        sc->pos = end;
        call->res.usage.output_tokens = lgw_canned_tokens(end) * sc->n; /* what the client has had so far */
        if (end == sc->len)
            sc->phase = PH_FINISH;
        return emit(stream, lgw_canned_chunk(sc->id, sc->created, model, FINGERPRINT, sc->n, delta, NULL, un));
    }
    case PH_FINISH:
        sc->phase = un ? PH_USAGE : PH_END;
        call->res.usage.output_tokens = lgw_canned_tokens(sc->len) * sc->n;
        return emit(stream, lgw_canned_chunk(sc->id, sc->created, model, FINGERPRINT, sc->n, json_object(),
                                             sc->finish, un));
    case PH_USAGE:
        sc->phase = PH_END;
        return emit(stream, lgw_canned_usage_chunk(sc->id, sc->created, model, FINGERPRINT, &call->res.usage));
    case PH_END:
        break;
    }
    return LGW_OK;
}

/* The whole answer at once (not streamed), or the embeddings. */
static void answer(struct lgw_sim_call *sc)
{
    struct lgw_prov_call *call = sc->call;
    struct lgw_prov_result *res = &call->res;
    int rc = LGW_OK;
    if (call->model->kind == LGW_JOB_EMBEDDINGS) {
        rc = lgw_canned_embeddings(call->model, call->job, res);
    } else {
        res->usage.output_tokens = lgw_canned_tokens(sc->len) * sc->n;
        res->body = lgw_canned_completion(sc->id, call->model->id, FINGERPRINT, sc->n, sc->text.ptr, sc->len,
                                          sc->finish, &res->usage);
        res->status = res->body ? 200 : 500;
    }
    if (rc || !res->body)
        lgw_prov_result_error(res, LGW_ERR(INTERNAL), "The simulated answer could not be made.");
    res->bill = res->status == 200 ? LGW_BILL_REPORTED : LGW_BILL_NONE;
    finish(sc);
}

/* The call's next move: fail, answer, or the next chunk of its stream. */
static void advance(struct lgw_sim_call *sc)
{
    struct lgw_prov_call *call = sc->call;
    if (cancelled(call)) {
        cut(sc, LGW_ERR(PROVIDER), "The client left before the simulated answer was complete.");
        return;
    }
    if (lgw_wall_ms() >= call->job->deadline_ms) {
        cut(sc, LGW_ERR(TIMEOUT), "The simulated provider did not answer within the request's deadline.");
        return;
    }
    if (sc->fail) {
        fail(sc);
        return;
    }
    struct lgw_prov_stream *stream = call->stream;
    if (!stream) {
        answer(sc);
        return;
    }
    if (stream->full && stream->full(stream)) {
        post(sc, PAUSE_CHECK_MS, step); /* the client's side is full: this chunk waits, memory stays bounded */
        return;
    }
    int rc = emit_next(sc);
    if (!sc->call)
        return; /* the sink aborted the call (lgw_prov_call_abort) while taking the chunk: it is over */
    if (rc) {
        cut(sc, rc, "The simulated stream stopped: its chunks could not be delivered.");
        return;
    }
    if (sc->phase == PH_END) {
        call->res.status = 200;
        call->res.bill = LGW_BILL_REPORTED;
        finish(sc);
        return;
    }
    post(sc, sc->gap_ms, step);
}

/* Every task of a simulated call, on the loop thread. The task counts until it returns, so a call that ends
 * inside it (done, which may free the call) never frees sc under it. */
static void step(void *opaque)
{
    struct lgw_sim_call *sc = opaque;
    if (sc->call)
        advance(sc);
    if (--sc->tasks == 0 && !sc->call)
        sim_free(sc);
}

/* The answer's text: who made it, then the user's words (at most ECHO_MAX bytes, whole UTF-8 sequences). A
 * request for JSON output gets a JSON object. Tools are never called: a tool request gets text. */
static void make_text(struct lgw_sim_call *sc, const struct lgw_prov_call *call, const struct lgw_buf *said)
{
    const char *words = said->ptr ? said->ptr : "";
    const char *ignore;
    size_t wlen = lgw_canned_fit(words, said->len, ECHO_MAX / 4, &ignore);
    const char *fmt = json_string_value(json_object_get(json_object_get(call->job->body, "response_format"), "type"));
    if (fmt && (strcmp(fmt, "json_object") == 0 || strcmp(fmt, "json_schema") == 0)) {
        json_t *o = json_pack("{s:b, s:s, s:s, s:s#}", "simulated", 1, "provider", sc->prof->pub.name, "model",
                              call->model->id, "echo", words, wlen);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        lgw_buf_puts(&sc->text, s ? s : "{}");
        free(s);
        json_decref(o);
        return;
    }
    lgw_buf_printf(&sc->text, "[simulated %s via %s] ", call->model->id, sc->prof->pub.name);
    lgw_buf_append(&sc->text, words, wlen);
}

/* Reads the request and plans the answer: text, usage known up front, failure, timing. */
static void plan(struct lgw_sim_call *sc, struct lgw_prov_call *call)
{
    const struct lgw_config *cfg = call->cfg;
    lgw_buf_init(&sc->text, 0);
    sc->n = 1;
    sc->finish = "stop";
    int pct = lgw_config_simulate_failure_pct(cfg, sc->prof->pub.provider);
    sc->fail = pct > 0 && (int)(rnd() % 100) < pct;
    if (call->model->kind == LGW_JOB_CHAT) {
        struct lgw_buf said;
        struct lgw_canned_request req;
        lgw_buf_init(&said, 0);
        lgw_canned_read(call->job->body, &said, &req);
        make_text(sc, call, &said);
        lgw_buf_cleanup(&said);
        sc->len = lgw_canned_fit(sc->text.ptr, sc->text.len, req.max_tokens, &sc->finish);
        sc->n = req.n;
        /* Input is counted before the first token, as Anthropic and Gemini do: every chunk carries it. */
        call->res.usage.input_tokens = req.input_tokens;
    }
    snprintf(sc->id, sizeof(sc->id), "chatcmpl-%s", call->job->id);
    sc->created = lgw_wall_ms() / 1000;
    sc->gap_ms = scaled(cfg, sc->prof->pub.chunk_ms);
}

/* How long until the first step: the first token (a stream), the whole answer (not streamed: the time its
 * stream would take), or the failure (half a first token: an overloaded provider answers quickly). */
static int64_t first_delay(const struct lgw_sim_call *sc, const struct lgw_prov_call *call)
{
    int64_t first = ttft(call->cfg, sc->prof);
    if (sc->fail)
        return first / 2;
    if (call->stream || call->model->kind != LGW_JOB_CHAT)
        return first;
    size_t words = 0;
    for (size_t pos = 0; pos < sc->len; words++)
        pos = lgw_canned_next_word(sc->text.ptr, sc->len, pos);
    return first + (int64_t)words * sc->gap_ms;
}

static int sim_call(const struct lgw_provider *prov, struct lgw_prov_call *call)
{
    (void)prov;
    const struct profile *p = profile_of(call->model->provider);
    if (!p || !call->loop)
        return LGW_ERR(INTERNAL); /* the registry only hands sim.c its four providers, with a loop */
    struct lgw_sim_call *sc = lgw_calloc(1, sizeof(*sc));
    sc->call = call;
    sc->prof = p;
    lgw_strlcpy(call->res.model, call->model->id, sizeof(call->res.model));
    plan(sc, call);
    int64_t delay = first_delay(sc, call);
    call->sim = sc;
    call->abort = sim_abort;
    /* From here on the loop owns sc: nothing below may touch it. */
    post(sc, delay > 0 ? delay : 0, step);
    return LGW_OK;
}

static bool simulating(const struct lgw_config *cfg)
{
    return cfg->simulate != 0;
}

const struct lgw_provider lgw_provider_sim = {
    .name = "sim",
    .configured = simulating,
    .call = sim_call,
};
