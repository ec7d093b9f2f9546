/* metric_read.c - a role's registry read as OTLP metrics (see metric_read.h), through the registry's snapshot
 * API (lgw_metrics_snapshot): every metric with its OpenTelemetry name, unit and attribute keys from its
 * definition (common/metrics.h), its series' own start times, private (per-tenant) metrics included: the
 * collector is the operator's, like the ops port. */
#include "telemetry/metric_read.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/errors.h"

static void *keep(struct lgw_metric_read *r, void *p)
{
    r->allocs = lgw_realloc(r->allocs, (r->nallocs + 1) * sizeof(*r->allocs));
    r->allocs[r->nallocs++] = p;
    return p;
}

static const char *keep_str(struct lgw_metric_read *r, const char *s)
{
    return keep(r, lgw_strdup(s ? s : ""));
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* The GenAI semantic conventions (v1.37.0), for a metric declared without a definition that names them (the
 * registry's definitions normally do: workers/genai_metrics.c). */
static const struct {
    const char *prom, *otel, *unit;
} names[] = {
    {"gen_ai_client_token_usage", "gen_ai.client.token.usage", "{token}"},
    {"gen_ai_client_operation_duration_seconds", "gen_ai.client.operation.duration", "s"},
};

/* A metric without an OpenTelemetry name of its own keeps its Prometheus name, less a counter's _total (a
 * Sum is a counter already; a Prometheus exporter adds it back), with the unit its suffix says. */
static void name_and_unit(struct lgw_metric_read *r, const struct lgw_metric_info *info, struct lgw_otlp_metric *mt)
{
    mt->unit = keep_str(r, info->unit);
    if (strcmp(info->otel_name, info->name) != 0) {
        mt->name = keep_str(r, info->otel_name);
        return;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(info->name, names[i].prom) == 0) {
            mt->name = names[i].otel;
            mt->unit = names[i].unit;
            return;
        }
    size_t len = strlen(info->name);
    if (info->type == LGW_METRIC_COUNTER && ends_with(info->name, len, "_total"))
        len -= 6;
    mt->name = keep(r, lgw_strndup(info->name, len));
    if (!*info->unit)
        mt->unit = ends_with(info->name, len, "_seconds") ? "s" : ends_with(info->name, len, "_ratio") ? "1"
                 : ends_with(info->name, len, "_bytes")   ? "By"
                                                          : "";
}

struct visit {
    struct lgw_metric_read *r;
    size_t cap;
};

static int visit_cb(void *opaque, const struct lgw_metric_info *info, const struct lgw_metric_point *points,
                    size_t npoints)
{
    struct visit *v = opaque;
    struct lgw_metric_read *r = v->r;
    if (r->nmetrics == LGW_METRIC_READ_MAX_FAMILIES)
        return 0;
    if (r->nmetrics == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 32;
        r->metrics = lgw_realloc(r->metrics, v->cap * sizeof(*r->metrics));
    }
    struct lgw_otlp_metric *mt = &r->metrics[r->nmetrics++];
    memset(mt, 0, sizeof(*mt));
    name_and_unit(r, info, mt);
    mt->description = keep_str(r, info->help);
    mt->kind = info->type == LGW_METRIC_COUNTER ? LGW_OTLP_SUM
             : info->type == LGW_METRIC_GAUGE   ? LGW_OTLP_GAUGE
                                                : LGW_OTLP_HISTOGRAM;
    size_t nb = info->nbounds;
    if (mt->kind == LGW_OTLP_HISTOGRAM) {
        double *bounds = keep(r, lgw_malloc((nb ? nb : 1) * sizeof(*bounds)));
        memcpy(bounds, info->bounds, nb * sizeof(*bounds));
        mt->bounds = bounds;
        mt->nbounds = nb;
    }
    struct lgw_otlp_point *pts = keep(r, lgw_calloc(npoints ? npoints : 1, sizeof(*pts)));
    for (size_t i = 0; i < npoints; i++) {
        const struct lgw_metric_point *src = &points[i];
        struct lgw_otlp_point *p = &pts[i];
        struct lgw_otlp_kv *kv = keep(r, lgw_calloc(src->nlabels ? src->nlabels : 1, sizeof(*kv)));
        for (size_t k = 0; k < src->nlabels; k++)
            kv[k] = (struct lgw_otlp_kv){keep_str(r, src->labels[k].otel_key), keep_str(r, src->labels[k].value)};
        p->attrs = kv;
        p->nattrs = src->nlabels;
        p->start_ns = src->start_unix_ns;
        if (mt->kind == LGW_OTLP_HISTOGRAM) {
            uint64_t *counts = keep(r, lgw_malloc((nb + 1) * sizeof(*counts)));
            memcpy(counts, src->bucket_counts, (nb + 1) * sizeof(*counts));
            p->counts = counts;
            p->count = src->count;
            p->sum = src->sum;
        } else if (info->is_double) {
            p->d = src->value;
        } else {
            p->is_int = true;
            p->i = (int64_t)src->value;
            p->d = src->value;
        }
    }
    mt->points = pts;
    mt->npoints = npoints;
    r->npoints += npoints;
    return 0;
}

int lgw_metric_read(struct lgw_metrics *m, int64_t start_ns, struct lgw_metric_read *out)
{
    (void)start_ns; /* each series carries its own start */
    memset(out, 0, sizeof(*out));
    struct visit v = {out, 0};
    int rc = lgw_metrics_snapshot(m, true, visit_cb, &v);
    if (out->metrics)
        keep(out, out->metrics);
    if (rc)
        lgw_metric_read_cleanup(out);
    return rc;
}

void lgw_metric_read_cleanup(struct lgw_metric_read *r)
{
    for (size_t i = 0; i < r->nallocs; i++)
        free(r->allocs[i]);
    free(r->allocs);
    memset(r, 0, sizeof(*r));
}
