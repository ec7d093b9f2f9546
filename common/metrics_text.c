/* metrics_text.c - the Prometheus text exposition format (0.0.4) of a registry: sorted by name and labels, so
 * that two scrapes of the same state are identical (see metrics.h). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"
#include "common/metrics_int.h"

/* Shortest decimal that reads back as the same double (what Go's client prints), so 1.75 is "1.75"
 * rather than %.17g's noise; whole numbers below 2^53 print without an exponent (1048576, not 1.048576e+06),
 * which keeps le labels readable and stable. */
void lgw_metrics_format_double(double v, char *out, size_t outsz)
{
    if (isinf(v)) {
        snprintf(out, outsz, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (isnan(v)) {
        snprintf(out, outsz, "NaN");
        return;
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        snprintf(out, outsz, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, outsz, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static int series_cmp(const void *a, const void *b)
{
    const struct lgw_metrics_series *x = *(const struct lgw_metrics_series *const *)a;
    const struct lgw_metrics_series *y = *(const struct lgw_metrics_series *const *)b;
    int c = strcmp(x->fam->name, y->fam->name);
    return c ? c : strcmp(x->labels, y->labels);
}

/* The series to show, sorted by name then labels; caller holds the lock and frees the array. */
struct lgw_metrics_series **lgw_metrics_collect(struct lgw_metrics *m, bool include_private, size_t *n_out)
{
    struct lgw_metrics_series **all = lgw_malloc((m->nseries ? m->nseries : 1) * sizeof(*all));
    size_t n = 0;
    for (size_t i = 0; i < m->nslots; i++)
        for (struct lgw_metrics_series *s = m->table[i]; s; s = s->next)
            if (include_private || !s->fam->is_private)
                all[n++] = s;
    qsort(all, n, sizeof(*all), series_cmp);
    *n_out = n;
    return all;
}

/* HELP text escapes only backslash and newline (format 0.0.4). */
static int put_help(struct lgw_buf *out, const struct lgw_metrics_family *fam)
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

static int put_header(struct lgw_buf *out, const struct lgw_metrics_family *fam)
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
static int put_labels(struct lgw_buf *out, const struct lgw_metrics_series *s)
{
    return *s->labels ? lgw_buf_printf(out, "{%s}", s->labels) : 0;
}

static int put_histogram(struct lgw_buf *out, const struct lgw_metrics_series *s)
{
    const char *name = s->fam->name, *sep = *s->labels ? "," : "";
    uint64_t cum = 0; /* Prometheus buckets are cumulative; we store them per bucket */
    int rc = 0;
    for (size_t b = 0; rc == 0 && b <= s->fam->nbounds; b++) {
        cum += s->buckets[b];
        rc = lgw_buf_printf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, s->labels, sep, s->fam->le_text[b],
                            (unsigned long long)cum);
    }
    char sum[40];
    lgw_metrics_format_double(s->sum, sum, sizeof(sum));
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

static int put_series(struct lgw_buf *out, const struct lgw_metrics_series *s)
{
    if (s->fam->type == LGW_METRIC_HISTOGRAM)
        return put_histogram(out, s);
    int rc = lgw_buf_puts(out, s->fam->name);
    if (rc == 0)
        rc = put_labels(out, s);
    if (rc == 0 && s->fam->is_double) {
        char v[40];
        lgw_metrics_format_double(s->dvalue, v, sizeof(v));
        rc = lgw_buf_printf(out, " %s\n", v);
    } else if (rc == 0) {
        rc = lgw_buf_printf(out, " %lld\n", (long long)s->value);
    }
    return rc;
}

static int render(struct lgw_metrics *m, struct lgw_buf *out, bool include_private)
{
    int rc = 0;
    size_t n = 0;
    lgw_metrics_run_hooks(m);
    /* The whole render holds the lock: at the series cap it is a few milliseconds per scrape, and a
     * consistent snapshot (a histogram's _count matching its buckets) is worth that. */
    pthread_mutex_lock(&m->lock);
    struct lgw_metrics_series **all = lgw_metrics_collect(m, include_private, &n);
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

int lgw_metrics_render(struct lgw_metrics *m, struct lgw_buf *out)
{
    return render(m, out, true);
}

int lgw_metrics_render_public(struct lgw_metrics *m, struct lgw_buf *out)
{
    return render(m, out, false);
}

