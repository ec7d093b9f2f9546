/* providers_view.c - the GET /v1/providers answer from the workers' records (see providers_view.h). */
#include "ingress/providers_view.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "providers/provider.h"

#define UNKNOWN (-1) /* a state no record gives: below closed, so any reported state wins */

/* A mean folded one value at a time. */
struct mean {
    double sum;
    int64_t n;
};

struct agg_model {
    const char *id; /* borrowed from a record or the catalog */
    int state;      /* enum lgw_pstatus_state, or UNKNOWN */
    struct mean latency;
    int64_t inflight, calls, failures;
};

struct agg_provider {
    const char *id;
    bool reported; /* a record names it */
    bool configured, simulated;
    int64_t workers, reported_at;
    struct mean latency;
    int64_t inflight, calls, failures;
    size_t nmodels, cap;
    struct agg_model *models;
};

struct agg {
    size_t n, cap;
    struct agg_provider *providers;
};

/* Linear lookups: a few providers with a few dozen models each (the record's caps bound the worst case). */
static struct agg_provider *provider_of(struct agg *a, const char *id)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->providers[i].id, id) == 0)
            return &a->providers[i];
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 8;
        a->providers = lgw_realloc(a->providers, a->cap * sizeof(*a->providers));
    }
    a->providers[a->n] = (struct agg_provider){.id = id};
    return &a->providers[a->n++];
}

static struct agg_model *model_of(struct agg_provider *p, const char *id)
{
    for (size_t i = 0; i < p->nmodels; i++)
        if (strcmp(p->models[i].id, id) == 0)
            return &p->models[i];
    if (p->nmodels == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 16;
        p->models = lgw_realloc(p->models, p->cap * sizeof(*p->models));
    }
    p->models[p->nmodels] = (struct agg_model){.id = id, .state = UNKNOWN};
    return &p->models[p->nmodels++];
}

/* Counts are summed saturating: each is at most INT64_MAX on the wire, and any number of workers send them. */
static void add(int64_t *sum, int64_t n)
{
    *sum = n > INT64_MAX - *sum ? INT64_MAX : *sum + n;
}

static void fold_model(struct agg_provider *ap, const struct lgw_pstatus_model *m)
{
    struct agg_model *am = model_of(ap, m->model);
    if ((int)m->state > am->state)
        am->state = (int)m->state;
    if (m->latency_ms >= 0) {
        am->latency = (struct mean){am->latency.sum + m->latency_ms, am->latency.n + 1};
        ap->latency = (struct mean){ap->latency.sum + m->latency_ms, ap->latency.n + 1};
    }
    add(&am->inflight, m->inflight);
    add(&am->calls, m->calls);
    add(&am->failures, m->failures);
    add(&ap->inflight, m->inflight);
    add(&ap->calls, m->calls);
    add(&ap->failures, m->failures);
}

static void fold_record(struct agg *a, const struct lgw_pstatus *r)
{
    for (size_t i = 0; i < r->nproviders; i++) {
        const struct lgw_pstatus_provider *p = &r->providers[i];
        struct agg_provider *ap = provider_of(a, p->provider);
        ap->reported = true;
        ap->workers++;
        ap->configured |= p->configured;
        ap->simulated |= p->simulated;
        if (r->ts_ms > ap->reported_at)
            ap->reported_at = r->ts_ms;
        for (size_t j = 0; j < p->nmodels; j++)
            fold_model(ap, &p->models[j]);
    }
}

/* What the ingress's own catalog knows, for the providers no record names. */
static void fold_catalog(struct agg *a, const struct lgw_catalog *cat)
{
    for (size_t i = 0; cat && i < lgw_catalog_count(cat); i++) {
        const struct lgw_model_info *info = lgw_catalog_at(cat, i);
        struct agg_provider *ap = provider_of(a, info->provider);
        if (!ap->reported) /* the workers' list is the truth for a provider they report */
            model_of(ap, info->id);
    }
}

static int by_model_id(const void *x, const void *y)
{
    return strcmp(((const struct agg_model *)x)->id, ((const struct agg_model *)y)->id);
}

static int by_provider_id(const void *x, const void *y)
{
    return strcmp(((const struct agg_provider *)x)->id, ((const struct agg_provider *)y)->id);
}

static const char *state_name(int state)
{
    return state == UNKNOWN ? "unknown" : lgw_pstatus_state_name((enum lgw_pstatus_state)state);
}

static json_t *mean_json(struct mean m)
{
    return m.n ? json_integer((json_int_t)llround(m.sum / (double)m.n)) : json_null();
}

/* RFC 3339 in UTC with milliseconds: "2026-12-02T10:00:00.123Z"; null for none. */
static json_t *time_json(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || !gmtime_r(&t, &tm)) /* none, or a year gmtime cannot hold (a bad worker clock) */
        return json_null();
    char s[40], out[48];
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, sizeof(out), "%s.%03dZ", s, (int)(ms % 1000));
    return json_string(out);
}

static json_t *model_json(const struct agg_model *m)
{
    return json_pack("{s:s, s:s, s:o, s:I, s:I, s:I}", "id", m->id, "state", state_name(m->state), "latency_ms",
                     mean_json(m->latency), "inflight", (json_int_t)m->inflight, "calls", (json_int_t)m->calls,
                     "failures", (json_int_t)m->failures);
}

/* The provider's state: the worst of its models that were called; closed when none was. */
static const char *provider_state(const struct agg_provider *p)
{
    if (!p->reported)
        return "unknown";
    int worst = LGW_PSTATUS_CLOSED;
    for (size_t i = 0; i < p->nmodels; i++)
        if (p->models[i].calls > 0 && p->models[i].state > worst)
            worst = p->models[i].state;
    return state_name(worst);
}

static json_t *provider_json(struct agg_provider *p)
{
    if (p->nmodels) /* qsort's base must not be NULL, even for nothing */
        qsort(p->models, p->nmodels, sizeof(*p->models), by_model_id);
    json_t *models = json_array();
    for (size_t i = 0; i < p->nmodels; i++)
        json_array_append_new(models, model_json(&p->models[i]));
    const struct lgw_provider *prov = lgw_provider_by_name(p->id);
    /* Only a worker can say whether it holds the provider's key: null while none has reported. */
    json_t *configured = p->reported ? json_boolean(p->configured) : json_null();
    json_t *simulated = p->reported ? json_boolean(p->simulated) : json_null();
    return json_pack("{s:s, s:s, s:o, s:o, s:s, s:o, s:I, s:I, s:I, s:I, s:o, s:o}", "id", p->id, "name",
                     prov && prov->title ? prov->title : p->id, "configured", configured, "simulated", simulated,
                     "state", provider_state(p), "latency_ms", mean_json(p->latency), "inflight",
                     (json_int_t)p->inflight, "workers", (json_int_t)p->workers, "calls", (json_int_t)p->calls,
                     "failures", (json_int_t)p->failures, "models", models, "reported_at",
                     time_json(p->reported_at));
}

json_t *lgw_providers_view(const struct lgw_pstatus *const *recs, size_t n, const struct lgw_catalog *cat)
{
    struct agg a = {0};
    int64_t newest = 0;
    for (size_t i = 0; i < n; i++) {
        fold_record(&a, recs[i]);
        if (recs[i]->ts_ms > newest)
            newest = recs[i]->ts_ms;
    }
    fold_catalog(&a, cat);
    if (a.n)
        qsort(a.providers, a.n, sizeof(*a.providers), by_provider_id);
    json_t *data = json_array();
    for (size_t i = 0; i < a.n; i++) {
        json_array_append_new(data, provider_json(&a.providers[i]));
        free(a.providers[i].models);
    }
    free(a.providers);
    return json_pack("{s:s, s:o, s:I, s:o}", "object", "list", "data", data, "workers", (json_int_t)n, "updated_at",
                     time_json(newest));
}
