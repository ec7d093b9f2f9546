/* metrics.c - the Prometheus registry behind /metrics: series in a chained hash table under one mutex,
 * rendered in text exposition format 0.0.4, sorted so that two scrapes of the same state are identical. */
#include "common/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"

#define DROPPED_NAME "llmgw_metrics_dropped_series_total"
/* A label text longer than this is almost certainly unbounded input (a prompt, a URL with a query) that
 * slipped into a label; such updates are dropped like those past the series cap. */
#define MAX_LABELS_LEN 1024
/* Families come from code, not input, so a generous fixed cap only guards against a bug in a caller. */
#define MAX_FAMILIES 1024

/* Upper bounds in seconds, chosen to cover both a cache hit (sub-millisecond) and a long completion
 * (a minute). The le strings are spelled out so the output never depends on printf's float rounding. */
static const double bucket_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                   0.5,    1,     2.5,    5,     10,   30,    60};
static const char *const bucket_le_text[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
                                             "0.05",   "0.1",   "0.25",   "0.5",   "1",    "2.5",
                                             "5",      "10",    "30",     "60",    "+Inf"};
#define NBOUNDS (sizeof(bucket_le) / sizeof(bucket_le[0]))
#define NBUCKETS (NBOUNDS + 1) /* the last one is +Inf */

struct family {
    char *name;
    char *help; /* "" when never declared with help */
    enum lgw_metric_type type;
    bool warned; /* a type mismatch was already logged once */
};

struct series {
    struct series *next; /* hash chain */
    struct family *fam;
    char *labels; /* "" for an unlabelled series */
    uint32_t hash;
    int64_t value;                /* counter and gauge */
    uint64_t buckets[NBUCKETS];   /* histogram: per-bucket (not cumulative) counts */
    uint64_t count;
    double sum;
};

struct lgw_metrics {
    pthread_mutex_t lock; /* guards everything below */
    struct series **table;
    size_t nslots, nseries;
    struct family **fams;
    size_t nfams;
    struct series *dropped; /* created with the registry, so counting a drop never needs a new series */
};

/* FNV-1a over name, a separator byte and labels: cheap, and good enough for a few thousand keys. */
static uint32_t hash_key(const char *name, const char *labels)
{
    uint32_t h = 2166136261u;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ 0xffu) * 16777619u;
    for (const char *p = labels; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

static struct family *family_find(struct lgw_metrics *m, const char *name)
{
    for (size_t i = 0; i < m->nfams; i++)
        if (strcmp(m->fams[i]->name, name) == 0)
            return m->fams[i];
    return NULL;
}

/* Returns the family, creating it with empty help if needed; NULL only past MAX_FAMILIES. */
static struct family *family_get(struct lgw_metrics *m, const char *name, enum lgw_metric_type type)
{
    struct family *fam = family_find(m, name);
    if (fam || m->nfams >= MAX_FAMILIES)
        return fam;
    fam = lgw_calloc(1, sizeof(*fam));
    fam->name = lgw_strdup(name);
    fam->help = lgw_strdup("");
    fam->type = type;
    m->fams = lgw_realloc(m->fams, (m->nfams + 1) * sizeof(*m->fams));
    m->fams[m->nfams++] = fam;
    return fam;
}

static struct series *series_find(struct lgw_metrics *m, const char *name, const char *labels, uint32_t h)
{
    for (struct series *s = m->table[h & (m->nslots - 1)]; s; s = s->next)
        if (s->hash == h && strcmp(s->fam->name, name) == 0 && strcmp(s->labels, labels) == 0)
            return s;
    return NULL;
}

/* Doubles the table once the load factor passes 1; nslots stays a power of two for the mask. */
static void table_grow(struct lgw_metrics *m)
{
    size_t nslots = m->nslots * 2;
    struct series **table = lgw_calloc(nslots, sizeof(*table));
    for (size_t i = 0; i < m->nslots; i++) {
        struct series *s = m->table[i];
        while (s) {
            struct series *next = s->next;
            s->next = table[s->hash & (nslots - 1)];
            table[s->hash & (nslots - 1)] = s;
            s = next;
        }
    }
    free(m->table);
    m->table = table;
    m->nslots = nslots;
}

/* Finds or creates a series. Returns NULL when the update must be dropped; then the drop has already
 * been counted. Caller holds the lock. */
static struct series *series_get(struct lgw_metrics *m, const char *name, const char *labels,
                                 enum lgw_metric_type type)
{
    uint32_t h = hash_key(name, labels);
    struct series *s = series_find(m, name, labels, h);
    if (s)
        return s;
    struct family *fam = NULL;
    /* The cap counts callers' series only: the dropped counter itself is created before any of them. */
    size_t own = m->dropped ? 1 : 0;
    if (m->nseries - own < LGW_METRICS_MAX_SERIES && strlen(labels) <= MAX_LABELS_LEN)
        fam = family_get(m, name, type);
    if (!fam) {
        if (m->dropped)
            m->dropped->value++;
        return NULL;
    }
    s = lgw_calloc(1, sizeof(*s));
    s->fam = fam;
    s->labels = lgw_strdup(labels);
    s->hash = h;
    if (m->nseries >= m->nslots)
        table_grow(m);
    s->next = m->table[h & (m->nslots - 1)];
    m->table[h & (m->nslots - 1)] = s;
    m->nseries++;
    return s;
}

/* Counters and gauges share the integer value, so either kind of update works on either; only a histogram
 * update against a scalar (or the reverse) is refused, since the stored data would not match the TYPE. */
static bool kind_matches(struct series *s, enum lgw_metric_type type)
{
    bool want_hist = type == LGW_METRIC_HISTOGRAM;
    if (want_hist == (s->fam->type == LGW_METRIC_HISTOGRAM))
        return true;
    if (!s->fam->warned) {
        s->fam->warned = true;
        LGW_WARN("metrics", "metric %s is not a %s; update ignored", s->fam->name,
                 want_hist ? "histogram" : "counter or gauge");
    }
    return false;
}

/* Locks, finds or creates the series, and checks its kind; on success returns with the lock held. */
static struct series *lock_series(struct lgw_metrics *m, const char *name, const char *labels,
                                  enum lgw_metric_type type)
{
    if (!m || !name || !*name)
        return NULL;
    pthread_mutex_lock(&m->lock);
    struct series *s = series_get(m, name, labels ? labels : "", type);
    if (s && kind_matches(s, type))
        return s;
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

/* Adds in unsigned arithmetic: a wrapped counter is a nuisance, signed overflow would be undefined. */
static int64_t add_wrap(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

struct lgw_metrics *lgw_metrics_new(void)
{
    struct lgw_metrics *m = lgw_calloc(1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    m->nslots = 64;
    m->table = lgw_calloc(m->nslots, sizeof(*m->table));
    lgw_metrics_declare(m, DROPPED_NAME, LGW_METRIC_COUNTER,
                        "Metric updates dropped because the series cap was reached or labels were too long.");
    pthread_mutex_lock(&m->lock);
    m->dropped = series_get(m, DROPPED_NAME, "", LGW_METRIC_COUNTER);
    pthread_mutex_unlock(&m->lock);
    return m;
}

void lgw_metrics_free(struct lgw_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nslots; i++) {
        struct series *s = m->table[i];
        while (s) {
            struct series *next = s->next;
            free(s->labels);
            free(s);
            s = next;
        }
    }
    for (size_t i = 0; i < m->nfams; i++) {
        free(m->fams[i]->name);
        free(m->fams[i]->help);
        free(m->fams[i]);
    }
    free(m->fams);
    free(m->table);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void lgw_metrics_declare(struct lgw_metrics *m, const char *name, enum lgw_metric_type type, const char *help)
{
    if (!m || !name || !*name)
        return;
    pthread_mutex_lock(&m->lock);
    struct family *fam = family_get(m, name, type);
    if (fam && fam->type != type)
        LGW_WARN("metrics", "metric %s declared again with another type; keeping the first", name);
    if (fam && help && *help && !*fam->help) {
        free(fam->help);
        fam->help = lgw_strdup(help);
    }
    pthread_mutex_unlock(&m->lock);
}

void lgw_metrics_add(struct lgw_metrics *m, const char *name, const char *labels, int64_t by)
{
    if (by < 0) /* counters only go up; a negative add is a caller bug that would break rate() */
        return;
    struct series *s = lock_series(m, name, labels, LGW_METRIC_COUNTER);
    if (!s)
        return;
    s->value = add_wrap(s->value, by);
    pthread_mutex_unlock(&m->lock);
}

void lgw_metrics_gauge_add(struct lgw_metrics *m, const char *name, const char *labels, int64_t by)
{
    struct series *s = lock_series(m, name, labels, LGW_METRIC_GAUGE);
    if (!s)
        return;
    s->value = add_wrap(s->value, by);
    pthread_mutex_unlock(&m->lock);
}

void lgw_metrics_gauge_set(struct lgw_metrics *m, const char *name, const char *labels, int64_t value)
{
    struct series *s = lock_series(m, name, labels, LGW_METRIC_GAUGE);
    if (!s)
        return;
    s->value = value;
    pthread_mutex_unlock(&m->lock);
}

void lgw_metrics_observe(struct lgw_metrics *m, const char *name, const char *labels, double seconds)
{
    if (isnan(seconds)) /* would poison _sum forever */
        return;
    size_t b = 0;
    while (b < NBOUNDS && seconds > bucket_le[b])
        b++;
    struct series *s = lock_series(m, name, labels, LGW_METRIC_HISTOGRAM);
    if (!s)
        return;
    s->buckets[b]++;
    s->count++;
    s->sum += seconds;
    pthread_mutex_unlock(&m->lock);
}

int64_t lgw_metrics_value(struct lgw_metrics *m, const char *name, const char *labels)
{
    if (!m || !name)
        return 0;
    if (!labels)
        labels = "";
    int64_t v = 0;
    pthread_mutex_lock(&m->lock);
    struct series *s = series_find(m, name, labels, hash_key(name, labels));
    if (s)
        v = s->fam->type == LGW_METRIC_HISTOGRAM ? (int64_t)s->count : s->value;
    pthread_mutex_unlock(&m->lock);
    return v;
}

/* ---- rendering ---- */

static int series_cmp(const void *a, const void *b)
{
    const struct series *x = *(const struct series *const *)a;
    const struct series *y = *(const struct series *const *)b;
    int c = strcmp(x->fam->name, y->fam->name);
    return c ? c : strcmp(x->labels, y->labels);
}

/* Shortest decimal that reads back as the same double (what Go's client prints), so 1.75 is "1.75"
 * rather than %.17g's noise. */
static void format_double(double v, char *out, size_t outsz)
{
    if (isinf(v)) {
        snprintf(out, outsz, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, outsz, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* HELP text escapes only backslash and newline (format 0.0.4). */
static int put_help(struct lgw_buf *out, const struct family *fam)
{
    int rc = lgw_buf_printf(out, "# HELP %s ", fam->name);
    for (const char *p = fam->help; rc == 0 && *p; p++) {
        if (*p == '\\')
            rc = lgw_buf_puts(out, "\\\\");
        else if (*p == '\n')
            rc = lgw_buf_puts(out, "\\n");
        else
            rc = lgw_buf_append(out, p, 1);
    }
    return rc ? rc : lgw_buf_puts(out, "\n");
}

static int put_header(struct lgw_buf *out, const struct family *fam)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    int rc = 0;
    if (*fam->help)
        rc = put_help(out, fam);
    if (rc == 0)
        rc = lgw_buf_printf(out, "# TYPE %s %s\n", fam->name, type_names[fam->type]);
    return rc;
}

/* "{labels}" or "" for the series' own samples. */
static int put_labels(struct lgw_buf *out, const struct series *s)
{
    return *s->labels ? lgw_buf_printf(out, "{%s}", s->labels) : 0;
}

static int put_histogram(struct lgw_buf *out, const struct series *s)
{
    const char *name = s->fam->name, *sep = *s->labels ? "," : "";
    uint64_t cum = 0; /* Prometheus buckets are cumulative; we store them per bucket */
    int rc = 0;
    for (size_t b = 0; rc == 0 && b < NBUCKETS; b++) {
        cum += s->buckets[b];
        rc = lgw_buf_printf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, s->labels, sep, bucket_le_text[b],
                            (unsigned long long)cum);
    }
    char sum[40];
    format_double(s->sum, sum, sizeof(sum));
    if (rc == 0)
        rc = lgw_buf_printf(out, "%s_sum", name);
    if (rc == 0)
        rc = put_labels(out, s);
    if (rc == 0)
        rc = lgw_buf_printf(out, " %s\n%s_count", sum, name);
    if (rc == 0)
        rc = put_labels(out, s);
    if (rc == 0)
        rc = lgw_buf_printf(out, " %llu\n", (unsigned long long)s->count);
    return rc;
}

static int put_series(struct lgw_buf *out, const struct series *s)
{
    if (s->fam->type == LGW_METRIC_HISTOGRAM)
        return put_histogram(out, s);
    int rc = lgw_buf_puts(out, s->fam->name);
    if (rc == 0)
        rc = put_labels(out, s);
    if (rc == 0)
        rc = lgw_buf_printf(out, " %lld\n", (long long)s->value);
    return rc;
}

int lgw_metrics_render(struct lgw_metrics *m, struct lgw_buf *out)
{
    int rc = 0;
    struct series **all = NULL;
    size_t n = 0;

    /* The whole render holds the lock: at the series cap it is a few milliseconds per scrape, and a
     * consistent snapshot (a histogram's _count matching its buckets) is worth that. */
    pthread_mutex_lock(&m->lock);
    all = lgw_malloc(m->nseries * sizeof(*all));
    for (size_t i = 0; i < m->nslots; i++)
        for (struct series *s = m->table[i]; s; s = s->next)
            all[n++] = s;
    qsort(all, n, sizeof(*all), series_cmp);
    /* Families without series are skipped: a HELP/TYPE with no samples only adds noise to a scrape. */
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || all[i]->fam != all[i - 1]->fam) {
            rc = put_header(out, all[i]->fam);
            if (rc)
                goto out;
        }
        rc = put_series(out, all[i]);
        if (rc)
            goto out;
    }
out:
    pthread_mutex_unlock(&m->lock);
    free(all);
    return rc;
}
