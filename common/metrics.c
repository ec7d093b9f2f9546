/* metrics.c - Prometheus registry (see metrics.h). */
#include "metrics.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

/* Label explosion (say, a label built from input) must not eat memory: past this, new series are dropped. */
#define MAX_SERIES 10000
#define TABLE_SIZE 4096 /* hash buckets; chains stay short for the few hundred series a process has */

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,   0.5,   1,      2.5,   5,    10,   30,    60};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct family {
    char *name, *help;
    enum lgw_metric_type type;
};

struct series {
    struct series *next;
    size_t family;
    char *labels;
    int64_t value;                   /* counter or gauge */
    uint64_t counts[NBUCKETS + 1];   /* histogram: per bucket (not cumulative), last is +Inf */
    double sum;
};

struct lgw_metrics {
    pthread_mutex_t lock;
    struct family *families;
    size_t nfamilies;
    struct series *table[TABLE_SIZE];
    size_t nseries;
    int64_t dropped;
};

struct lgw_metrics *lgw_metrics_new(void)
{
    struct lgw_metrics *m = lgw_calloc(1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void lgw_metrics_free(struct lgw_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < TABLE_SIZE; i++) {
        struct series *s = m->table[i];
        while (s) {
            struct series *next = s->next;
            free(s->labels);
            free(s);
            s = next;
        }
    }
    for (size_t i = 0; i < m->nfamilies; i++) {
        free(m->families[i].name);
        free(m->families[i].help);
    }
    free(m->families);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static size_t family_locked(struct lgw_metrics *m, const char *name, enum lgw_metric_type type, const char *help)
{
    for (size_t i = 0; i < m->nfamilies; i++) {
        if (strcmp(m->families[i].name, name) == 0) {
            if (help && !m->families[i].help[0]) {
                free(m->families[i].help);
                m->families[i].help = lgw_strdup(help);
                m->families[i].type = type;
            }
            return i;
        }
    }
    m->families = lgw_realloc(m->families, (m->nfamilies + 1) * sizeof(*m->families));
    m->families[m->nfamilies] = (struct family){lgw_strdup(name), lgw_strdup(help ? help : ""), type};
    return m->nfamilies++;
}

void lgw_metrics_declare(struct lgw_metrics *m, const char *name, enum lgw_metric_type type, const char *help)
{
    pthread_mutex_lock(&m->lock);
    family_locked(m, name, type, help);
    pthread_mutex_unlock(&m->lock);
}

static uint64_t hash2(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *a; a++)
        h = (h ^ (unsigned char)*a) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (; *b; b++)
        h = (h ^ (unsigned char)*b) * 1099511628211ULL;
    return h;
}

/* Finds or creates a series; NULL when the cap is reached. Caller holds the lock. */
static struct series *series_locked(struct lgw_metrics *m, const char *name, const char *labels,
                                    enum lgw_metric_type type)
{
    if (!labels)
        labels = "";
    size_t b = hash2(name, labels) % TABLE_SIZE;
    for (struct series *s = m->table[b]; s; s = s->next)
        if (strcmp(s->labels, labels) == 0 && strcmp(m->families[s->family].name, name) == 0)
            return s;
    if (m->nseries >= MAX_SERIES) {
        m->dropped++;
        return NULL;
    }
    struct series *s = lgw_calloc(1, sizeof(*s));
    s->family = family_locked(m, name, type, NULL);
    s->labels = lgw_strdup(labels);
    s->next = m->table[b];
    m->table[b] = s;
    m->nseries++;
    return s;
}

void lgw_metrics_add(struct lgw_metrics *m, const char *name, const char *labels, int64_t by)
{
    pthread_mutex_lock(&m->lock);
    struct series *s = series_locked(m, name, labels, LGW_METRIC_COUNTER);
    if (s)
        s->value += by;
    pthread_mutex_unlock(&m->lock);
}

void lgw_metrics_gauge_add(struct lgw_metrics *m, const char *name, const char *labels, int64_t by)
{
    pthread_mutex_lock(&m->lock);
    struct series *s = series_locked(m, name, labels, LGW_METRIC_GAUGE);
    if (s)
        s->value += by;
    pthread_mutex_unlock(&m->lock);
}

void lgw_metrics_gauge_set(struct lgw_metrics *m, const char *name, const char *labels, int64_t value)
{
    pthread_mutex_lock(&m->lock);
    struct series *s = series_locked(m, name, labels, LGW_METRIC_GAUGE);
    if (s)
        s->value = value;
    pthread_mutex_unlock(&m->lock);
}

void lgw_metrics_observe(struct lgw_metrics *m, const char *name, const char *labels, double seconds)
{
    size_t i = 0;
    while (i < NBUCKETS && seconds > buckets[i])
        i++;
    pthread_mutex_lock(&m->lock);
    struct series *s = series_locked(m, name, labels, LGW_METRIC_HISTOGRAM);
    if (s) {
        s->counts[i]++;
        s->sum += seconds;
    }
    pthread_mutex_unlock(&m->lock);
}

int64_t lgw_metrics_value(struct lgw_metrics *m, const char *name, const char *labels)
{
    int64_t v = 0;
    if (!labels)
        labels = "";
    pthread_mutex_lock(&m->lock);
    for (struct series *s = m->table[hash2(name, labels) % TABLE_SIZE]; s; s = s->next)
        if (strcmp(s->labels, labels) == 0 && strcmp(m->families[s->family].name, name) == 0)
            v = s->value;
    pthread_mutex_unlock(&m->lock);
    return v;
}

static int cmp_series(const void *a, const void *b)
{
    const struct series *x = *(const struct series *const *)a, *y = *(const struct series *const *)b;
    if (x->family != y->family)
        return x->family < y->family ? -1 : 1;
    return strcmp(x->labels, y->labels);
}

static void render_histogram(struct lgw_buf *out, const char *name, const struct series *s)
{
    const char *sep = s->labels[0] ? "," : "";
    uint64_t cum = 0;
    for (size_t i = 0; i <= NBUCKETS; i++) {
        cum += s->counts[i];
        if (i < NBUCKETS)
            lgw_buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, s->labels, sep, buckets[i],
                           (unsigned long long)cum);
        else
            lgw_buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, s->labels, sep, (unsigned long long)cum);
    }
    const char *open = s->labels[0] ? "{" : "", *close = s->labels[0] ? "}" : "";
    lgw_buf_printf(out, "%s_sum%s%s%s %.6f\n", name, open, s->labels, close, s->sum);
    lgw_buf_printf(out, "%s_count%s%s%s %llu\n", name, open, s->labels, close, (unsigned long long)cum);
}

int lgw_metrics_render(struct lgw_metrics *m, struct lgw_buf *out)
{
    static const char *types[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&m->lock);
    struct series **all = lgw_calloc(m->nseries + 1, sizeof(*all));
    size_t n = 0;
    for (size_t i = 0; i < TABLE_SIZE; i++)
        for (struct series *s = m->table[i]; s; s = s->next)
            all[n++] = s;
    /* Families are sorted by name through an index, series by family then labels. */
    size_t *order = lgw_calloc(m->nfamilies + 1, sizeof(*order));
    for (size_t i = 0; i < m->nfamilies; i++)
        order[i] = i;
    for (size_t i = 1; i < m->nfamilies; i++)
        for (size_t j = i; j > 0 && strcmp(m->families[order[j - 1]].name, m->families[order[j]].name) > 0; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    qsort(all, n, sizeof(*all), cmp_series);
    for (size_t f = 0; f < m->nfamilies; f++) {
        const struct family *fam = &m->families[order[f]];
        bool header = false;
        for (size_t i = 0; i < n; i++) {
            if (all[i]->family != order[f])
                continue;
            if (!header) {
                lgw_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name, types[fam->type]);
                header = true;
            }
            if (fam->type == LGW_METRIC_HISTOGRAM)
                render_histogram(out, fam->name, all[i]);
            else if (all[i]->labels[0])
                lgw_buf_printf(out, "%s{%s} %lld\n", fam->name, all[i]->labels, (long long)all[i]->value);
            else
                lgw_buf_printf(out, "%s %lld\n", fam->name, (long long)all[i]->value);
        }
    }
    lgw_buf_printf(out, "# HELP llmgw_metrics_dropped_series_total Updates dropped at the series cap.\n"
                        "# TYPE llmgw_metrics_dropped_series_total counter\nllmgw_metrics_dropped_series_total %lld\n",
                   (long long)m->dropped);
    pthread_mutex_unlock(&m->lock);
    free(order);
    free(all);
    return LGW_OK;
}
