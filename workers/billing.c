/* billing.c - the spend of one execution (see billing.h). */
#include "workers/billing.h"

#include <stdio.h>
#include <string.h>

#include "common/assert.h"
#include "common/cost.h"
#include "routing/estimate.h"

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t text_tokens(const json_t *s)
{
    return json_is_string(s) ? lgw_estimate_tokens(json_string_value(s), json_string_length(s)) : 0;
}

/* Output tokens of a message or delta object: its text, refusal and tool-call arguments. */
static int64_t message_tokens(const json_t *m)
{
    int64_t n = text_tokens(json_object_get(m, "content")) + text_tokens(json_object_get(m, "refusal"));
    size_t i;
    json_t *call;
    json_array_foreach(json_object_get(m, "tool_calls"), i, call) {
        const json_t *fn = json_object_get(call, "function");
        n += text_tokens(json_object_get(fn, "name")) + text_tokens(json_object_get(fn, "arguments"));
    }
    return n;
}

/* Output tokens over every choice of an answer (its "message") or a chunk (its "delta"). */
static int64_t choices_tokens(const json_t *body, const char *part)
{
    int64_t n = 0;
    size_t i;
    json_t *choice;
    json_array_foreach(json_object_get(body, "choices"), i, choice)
        n += message_tokens(json_object_get(choice, part));
    return n;
}

int64_t lgw_billing_chunk_tokens(const json_t *chunk)
{
    return choices_tokens(chunk, "delta");
}

static int64_t input_estimate(const struct lgw_job *job)
{
    struct lgw_route_needs needs;
    lgw_route_needs_of(job->body, job->kind, job->stream, &needs);
    return needs.input_tokens;
}

void lgw_billing_final_usage(const struct lgw_dispatch *d, const struct lgw_job *job, int64_t streamed_output,
                             struct lgw_usage *out, bool *estimated)
{
    const struct lgw_prov_result *res = &d->res;
    memset(out, 0, sizeof(*out));
    *estimated = false;
    if (d->attempts == 0 || res->bill == LGW_BILL_NONE)
        return;
    *out = res->usage;
    if (res->bill == LGW_BILL_REPORTED)
        return;
    *estimated = true;
    out->input_tokens = max64(out->input_tokens, input_estimate(job));
    int64_t output = streamed_output;
    if (res->status == 200 && res->body)
        output = max64(output, choices_tokens(res->body, "message")); /* a whole answer that came without usage */
    out->output_tokens = max64(out->output_tokens, output);
    LGW_ASSERT(out->input_tokens >= 0 && out->output_tokens >= 0);
}

bool lgw_billing_price(const struct lgw_model_info *model, struct lgw_cost_event *ev)
{
    ev->cost_known = model && model->price.known;
    if (ev->cost_known && lgw_cost_of_usage(&model->price, &ev->usage, &ev->cost_nusd))
        ev->cost_known = false;
    if (!ev->cost_known)
        ev->cost_nusd = 0;
    LGW_ASSERT(ev->cost_nusd >= 0);
    return ev->cost_known;
}

void lgw_billing_spend_event(const struct lgw_dispatch_spend *s, const struct lgw_job *job, const char *run_id,
                             struct lgw_cost_event *ev)
{
    snprintf(ev->event_id, sizeof(ev->event_id), "%.40s.%d", run_id, s->provider_call);
    ev->final = false;
    ev->provider_call = s->provider_call;
    ev->status = s->status;
    snprintf(ev->outcome, sizeof(ev->outcome), "error");
    const char *provider = s->provider ? s->provider : s->model->provider;
    snprintf(ev->provider, sizeof(ev->provider), "%s", provider);
    ev->simulated = s->simulated;
    snprintf(ev->model, sizeof(ev->model), "%s", s->model->id);
    snprintf(ev->route, sizeof(ev->route), "%s/%s=%d", provider, s->model->id, s->status);
    ev->route_attempts = s->requests;
    ev->usage = s->usage;
    ev->cost_estimated = !s->reported;
    if (!s->reported) /* the provider got the request (s->requests times) but never said what it used */
        ev->usage.input_tokens = max64(ev->usage.input_tokens, input_estimate(job) * s->requests);
    lgw_billing_price(s->model, ev);
}
