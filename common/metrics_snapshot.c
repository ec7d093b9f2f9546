/* metrics_snapshot.c - lgw_metrics_snapshot (see metrics.h): a consistent copy of the registry taken under its
 * lock, handed metric by metric to a visitor (the OTLP metrics exporter) after the lock is released. */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/metrics.h"
#include "common/metrics_int.h"

/* Prometheus label names of the GenAI semantic-convention attributes, and their OpenTelemetry keys. */
static const struct {
    const char *prom, *otel;
} otel_keys[] = {
    {"gen_ai_operation_name", "gen_ai.operation.name"},
    {"gen_ai_provider_name", "gen_ai.provider.name"},
    {"gen_ai_request_model", "gen_ai.request.model"},
    {"gen_ai_response_model", "gen_ai.response.model"},
    {"gen_ai_token_type", "gen_ai.token.type"},
    {"error_type", "error.type"},
};

/* The copy of one family taken under the lock; the visitor sees it after the lock is released. */
struct snap_family {
    struct lgw_metric_info info;
    char *name, *otel_name, *help, *unit;
    double bounds[LGW_METRICS_MAX_BOUNDS];
    size_t first, npoints; /* its range in the snapshot's point array */
};

struct snap_point {
    struct lgw_metric_point pt;
    char *labels; /* the raw label text, parsed after the lock is released */
    uint64_t *buckets;
};

static struct lgw_metric_label *parse_labels(char *text, size_t *n_out)
{
    size_t n = 0, cap = 4;
    struct lgw_metric_label *labels = lgw_malloc(cap * sizeof(*labels));
    const char *p = text;
    struct lgw_metrics_pair pair;
    /* Parsing in place: the key ends at '=', the value at its closing quote; both get terminated, and
     * escapes are undone into the value's own bytes (the unescaped text is never longer). */
    while (lgw_metrics_next_pair(&p, &pair)) {
        if (n == cap) {
            cap *= 2;
            labels = lgw_realloc(labels, cap * sizeof(*labels));
        }
        char *key = (char *)pair.key, *val = (char *)pair.val;
        key[pair.keylen] = '\0';
        size_t w = 0;
        for (size_t r = 0; r < pair.vallen; r++) {
            char c = val[r];
            if (c == '\\' && r + 1 < pair.vallen) {
                c = val[++r];
                if (c == 'n')
                    c = '\n';
            }
            val[w++] = c;
        }
        val[w] = '\0';
        const char *otel = key;
        for (size_t k = 0; k < sizeof(otel_keys) / sizeof(otel_keys[0]); k++)
            if (strcmp(key, otel_keys[k].prom) == 0)
                otel = otel_keys[k].otel;
        labels[n++] = (struct lgw_metric_label){.key = key, .otel_key = otel, .value = val};
    }
    *n_out = n;
    return labels;
}

int lgw_metrics_snapshot(struct lgw_metrics *m, bool include_private, lgw_metrics_visit_fn fn, void *opaque)
{
    if (!m || !fn)
        return LGW_ERR(INVALID);
    size_t n = 0, nfams = 0;
    lgw_metrics_run_hooks(m);
    int64_t now = lgw_metrics_unix_ns();
    pthread_mutex_lock(&m->lock);
    struct lgw_metrics_series **all = lgw_metrics_collect(m, include_private, &n);
    struct snap_point *pts = lgw_calloc(n ? n : 1, sizeof(*pts));
    struct snap_family *fams = lgw_calloc(n ? n : 1, sizeof(*fams));
    for (size_t i = 0; i < n; i++) {
        const struct lgw_metrics_series *s = all[i];
        const struct lgw_metrics_family *fam = s->fam;
        if (i == 0 || fam != all[i - 1]->fam) {
            struct snap_family *sf = &fams[nfams++];
            sf->name = lgw_strdup(fam->name);
            sf->otel_name = lgw_strdup(fam->otel_name ? fam->otel_name : fam->name);
            sf->help = lgw_strdup(fam->help);
            sf->unit = lgw_strdup(fam->unit);
            memcpy(sf->bounds, fam->bounds, fam->nbounds * sizeof(double));
            sf->info = (struct lgw_metric_info){
                .type = fam->type,
                .is_private = fam->is_private,
                .is_double = fam->is_double,
                .nbounds = fam->type == LGW_METRIC_HISTOGRAM ? fam->nbounds : 0,
                .time_unix_ns = now,
            };
            sf->first = i;
        }
        fams[nfams - 1].npoints++;
        struct snap_point *sp = &pts[i];
        sp->labels = lgw_strdup(s->labels);
        sp->pt.start_unix_ns = s->start_unix_ns;
        sp->pt.value = fam->is_double ? s->dvalue : (double)s->value;
        if (fam->type == LGW_METRIC_HISTOGRAM) {
            sp->buckets = lgw_malloc((fam->nbounds + 1) * sizeof(*sp->buckets));
            memcpy(sp->buckets, s->buckets, (fam->nbounds + 1) * sizeof(*sp->buckets));
            sp->pt.count = s->count;
            sp->pt.sum = s->sum;
            sp->pt.value = 0;
        }
    }
    pthread_mutex_unlock(&m->lock);
    free(all);

    /* Outside the lock: parse labels, then visit family by family. */
    struct lgw_metric_label **parsed = lgw_calloc(n ? n : 1, sizeof(*parsed));
    struct lgw_metric_point *points = lgw_calloc(n ? n : 1, sizeof(*points));
    for (size_t i = 0; i < n; i++) {
        parsed[i] = parse_labels(pts[i].labels, &pts[i].pt.nlabels);
        pts[i].pt.labels = parsed[i];
        pts[i].pt.bucket_counts = pts[i].buckets;
        points[i] = pts[i].pt;
    }
    int rc = 0;
    for (size_t f = 0; f < nfams && rc == 0; f++) {
        struct snap_family *sf = &fams[f];
        sf->info.name = sf->name;
        sf->info.otel_name = sf->otel_name;
        sf->info.help = sf->help;
        sf->info.unit = sf->unit;
        sf->info.bounds = sf->info.type == LGW_METRIC_HISTOGRAM ? sf->bounds : NULL;
        rc = fn(opaque, &sf->info, points + sf->first, sf->npoints);
    }
    for (size_t i = 0; i < n; i++) {
        free(parsed[i]);
        free(pts[i].labels);
        free(pts[i].buckets);
    }
    for (size_t f = 0; f < nfams; f++) {
        free(fams[f].name);
        free(fams[f].otel_name);
        free(fams[f].help);
        free(fams[f].unit);
    }
    free(parsed);
    free(points);
    free(pts);
    free(fams);
    return rc;
}
