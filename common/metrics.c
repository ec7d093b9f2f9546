/* metrics.c - the Prometheus registry behind /metrics: series in a chained hash table under one mutex,
 * definitions, updates, label caps folding a metric's values past its cap into "other", and collect hooks.
 * Rendering is metrics_text.c's, the snapshot for the OTLP exporter metrics_snapshot.c's. */
#include "common/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/metrics_int.h"

#define DROPPED_NAME "llmgw_metrics_dropped_series_total"
/* A label text longer than this is almost certainly unbounded input (a prompt, a URL with a query) that
 * slipped into a label; such updates are dropped like those past the series cap. */
#define MAX_LABELS_LEN 1024
/* Families come from code, not input, so a generous fixed cap only guards against a bug in a caller. */
#define MAX_FAMILIES 1024

/* Default upper bounds in seconds, chosen to cover both a cache hit (sub-millisecond) and a long completion
 * (a minute). A metric defined with its own bounds uses those instead. */
static const double default_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                    0.5,    1,     2.5,    5,     10,   30,    60};
#define DEFAULT_NBOUNDS (sizeof(default_le) / sizeof(default_le[0]))
/* What a capped label's values past the cap are recorded as. */
#define OTHER_VALUE "other"

int64_t lgw_metrics_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

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

static struct lgw_metrics_family *family_find(struct lgw_metrics *m, const char *name)
{
    for (size_t i = 0; i < m->nfams; i++)
        if (strcmp(m->fams[i]->name, name) == 0)
            return m->fams[i];
    return NULL;
}

/* Sets a family's histogram bounds (already validated) and their le texts. */
static void family_set_bounds(struct lgw_metrics_family *fam, const double *bounds, size_t nbounds)
{
    for (size_t i = 0; i <= fam->nbounds; i++) {
        free(fam->le_text[i]);
        fam->le_text[i] = NULL;
    }
    fam->nbounds = nbounds;
    for (size_t i = 0; i < nbounds; i++) {
        char text[40];
        lgw_metrics_format_double(bounds[i], text, sizeof(text));
        fam->bounds[i] = bounds[i];
        fam->le_text[i] = lgw_strdup(text);
    }
    fam->le_text[nbounds] = lgw_strdup("+Inf");
}

/* Returns the family, creating it with empty help if needed; NULL only past MAX_FAMILIES. */
static struct lgw_metrics_family *family_get(struct lgw_metrics *m, const char *name, enum lgw_metric_type type)
{
    struct lgw_metrics_family *fam = family_find(m, name);
    if (fam || m->nfams >= MAX_FAMILIES)
        return fam;
    fam = lgw_calloc(1, sizeof(*fam));
    fam->name = lgw_strdup(name);
    fam->help = lgw_strdup("");
    fam->unit = lgw_strdup("");
    fam->type = type;
    family_set_bounds(fam, default_le, DEFAULT_NBOUNDS);
    m->fams = lgw_realloc(m->fams, (m->nfams + 1) * sizeof(*m->fams));
    m->fams[m->nfams++] = fam;
    return fam;
}

static void family_free(struct lgw_metrics_family *fam)
{
    free(fam->name);
    free(fam->help);
    free(fam->otel_name);
    free(fam->unit);
    for (size_t i = 0; i <= fam->nbounds; i++)
        free(fam->le_text[i]);
    for (size_t c = 0; c < LGW_METRICS_MAX_CAPPED_LABELS; c++) {
        for (size_t i = 0; i < fam->seen[c].n; i++)
            free(fam->seen[c].vals[i]);
        free(fam->seen[c].vals);
    }
    free(fam);
}

static struct lgw_metrics_series *series_find(struct lgw_metrics *m, const char *name, const char *labels, uint32_t h)
{
    for (struct lgw_metrics_series *s = m->table[h & (m->nslots - 1)]; s; s = s->next)
        if (s->hash == h && strcmp(s->fam->name, name) == 0 && strcmp(s->labels, labels) == 0)
            return s;
    return NULL;
}

/* Doubles the table once the load factor passes 1; nslots stays a power of two for the mask. */
static void table_grow(struct lgw_metrics *m)
{
    size_t nslots = m->nslots * 2;
    struct lgw_metrics_series **table = lgw_calloc(nslots, sizeof(*table));
    for (size_t i = 0; i < m->nslots; i++) {
        struct lgw_metrics_series *s = m->table[i];
        while (s) {
            struct lgw_metrics_series *next = s->next;
            s->next = table[s->hash & (nslots - 1)];
            table[s->hash & (nslots - 1)] = s;
            s = next;
        }
    }
    free(m->table);
    m->table = table;
    m->nslots = nslots;
}

static void count_drop(struct lgw_metrics *m)
{
    if (m->dropped)
        m->dropped->value++;
}

/* Finds or creates a series of fam. Returns NULL when the update must be dropped; then the drop has already
 * been counted. Caller holds the lock. */
static struct lgw_metrics_series *series_get(struct lgw_metrics *m, struct lgw_metrics_family *fam, const char *labels)
{
    uint32_t h = hash_key(fam->name, labels);
    struct lgw_metrics_series *s = series_find(m, fam->name, labels, h);
    if (s)
        return s;
    /* The cap counts callers' series only: the dropped counter itself is created before any of them. */
    size_t own = m->dropped ? 1 : 0;
    if (m->nseries - own >= LGW_METRICS_MAX_SERIES) {
        count_drop(m);
        return NULL;
    }
    s = lgw_calloc(1, sizeof(*s));
    s->fam = fam;
    s->labels = lgw_strdup(labels);
    s->hash = h;
    s->start_unix_ns = lgw_metrics_unix_ns();
    if (fam->type == LGW_METRIC_HISTOGRAM)
        s->buckets = lgw_calloc(fam->nbounds + 1, sizeof(*s->buckets));
    if (m->nseries >= m->nslots)
        table_grow(m);
    s->next = m->table[h & (m->nslots - 1)];
    m->table[h & (m->nslots - 1)] = s;
    m->nseries++;
    fam->nseries++;
    return s;
}

/* ---- label parsing and caps ---- */

/* Parses the next pair at *p; returns false at the end or on text that is not label syntax. */
bool lgw_metrics_next_pair(const char **p, struct lgw_metrics_pair *pair)
{
    const char *c = *p;
    if (*c == ',')
        c++;
    if (!*c)
        return false;
    pair->key = c;
    while (*c && *c != '=')
        c++;
    if (*c != '=' || c[1] != '"' || c == pair->key)
        return false;
    pair->keylen = (size_t)(c - pair->key);
    c += 2;
    pair->val = c;
    while (*c && *c != '"') {
        if (*c == '\\' && c[1])
            c++;
        c++;
    }
    if (*c != '"')
        return false;
    pair->vallen = (size_t)(c - pair->val);
    *p = c + 1;
    return true;
}

/* Index of the registry cap for this key, or -1. */
static int cap_index(const struct lgw_metrics *m, const char *key, size_t keylen)
{
    for (size_t i = 0; i < m->ncaps; i++)
        if (strlen(m->caps[i].key) == keylen && memcmp(m->caps[i].key, key, keylen) == 0)
            return (int)i;
    return -1;
}

/* Whether fam may record value under cap c: already seen, or a new one below the cap (then remembered). */
static bool cap_admits(struct lgw_metrics *m, struct lgw_metrics_family *fam, size_t c, const char *val, size_t vallen)
{
    struct lgw_metrics_seen *sv = &fam->seen[c];
    for (size_t i = 0; i < sv->n; i++)
        if (strlen(sv->vals[i]) == vallen && memcmp(sv->vals[i], val, vallen) == 0)
            return true;
    if (vallen == strlen(OTHER_VALUE) && memcmp(val, OTHER_VALUE, vallen) == 0)
        return true; /* "other" is where the overflow goes; it never takes a slot of its own */
    if (sv->n >= m->caps[c].cap)
        return false;
    sv->vals = lgw_realloc(sv->vals, (sv->n + 1) * sizeof(*sv->vals));
    sv->vals[sv->n] = lgw_malloc(vallen + 1);
    memcpy(sv->vals[sv->n], val, vallen);
    sv->vals[sv->n][vallen] = '\0';
    sv->n++;
    return true;
}

/* Most label pairs one series' label text is read as for caps (the text is at most MAX_LABELS_LEN). */
#define MAX_PAIRS 32

/* Applies the registry's label caps to labels for fam. Returns a heap copy with values past a cap replaced
 * by "other", or NULL when labels stand as they are (the common case, which allocates nothing). Text that is
 * not label syntax is left as given and takes no cap slot. Caller holds the lock. */
static char *apply_caps(struct lgw_metrics *m, struct lgw_metrics_family *fam, const char *labels)
{
    if (m->ncaps == 0 || !*labels)
        return NULL;
    struct lgw_metrics_pair pairs[MAX_PAIRS];
    bool fold[MAX_PAIRS];
    size_t n = 0;
    const char *p = labels;
    while (n < MAX_PAIRS && lgw_metrics_next_pair(&p, &pairs[n]))
        n++;
    if (*p) /* not label syntax, or more pairs than any caller writes */
        return NULL;
    bool changed = false;
    for (size_t i = 0; i < n; i++) {
        int c = cap_index(m, pairs[i].key, pairs[i].keylen);
        fold[i] = c >= 0 && !cap_admits(m, fam, (size_t)c, pairs[i].val, pairs[i].vallen);
        changed |= fold[i];
    }
    if (!changed)
        return NULL;
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    for (size_t i = 0; i < n; i++) {
        if (i)
            lgw_buf_puts(&out, ",");
        lgw_buf_append(&out, pairs[i].key, pairs[i].keylen);
        lgw_buf_puts(&out, "=\"");
        if (fold[i])
            lgw_buf_puts(&out, OTHER_VALUE);
        else
            lgw_buf_append(&out, pairs[i].val, pairs[i].vallen);
        lgw_buf_puts(&out, "\"");
    }
    return lgw_buf_take(&out, NULL);
}

/* Counters and gauges share the integer value, so either kind of update works on either; only a histogram
 * update against a scalar (or the reverse) is refused, since the stored data would not match the TYPE. */
static bool kind_matches(struct lgw_metrics_family *fam, enum lgw_metric_type type)
{
    bool want_hist = type == LGW_METRIC_HISTOGRAM;
    if (want_hist == (fam->type == LGW_METRIC_HISTOGRAM))
        return true;
    if (!fam->warned) {
        fam->warned = true;
        LGW_WARN("metrics", "metric %s is not a %s; update ignored", fam->name,
                 want_hist ? "histogram" : "counter or gauge");
    }
    return false;
}

/* Locks, finds or creates the series (after label caps), and checks its kind; on success returns with the
 * lock held. */
static struct lgw_metrics_series *lock_series(struct lgw_metrics *m, const char *name, const char *labels,
                                  enum lgw_metric_type type)
{
    if (!m || !name || !*name)
        return NULL;
    if (!labels)
        labels = "";
    uint32_t h = hash_key(name, labels);
    pthread_mutex_lock(&m->lock);
    /* The series most updates find: one hash and one chain, with no walk over the families and no caps. A
     * series stored under these very labels was admitted by the caps when it was made (they are set before
     * any update, metrics.h), and labels past the length limit never made one. */
    struct lgw_metrics_series *found = series_find(m, name, labels, h);
    if (found && kind_matches(found->fam, type))
        return found;
    struct lgw_metrics_family *fam = NULL;
    /* A label text longer than the limit is dropped before it can create a family or take a cap slot. */
    if (strlen(labels) <= MAX_LABELS_LEN)
        fam = family_get(m, name, type);
    if (!fam) {
        count_drop(m);
        pthread_mutex_unlock(&m->lock);
        return NULL;
    }
    struct lgw_metrics_series *s = NULL;
    if (kind_matches(fam, type)) {
        char *capped = apply_caps(m, fam, labels);
        s = series_get(m, fam, capped ? capped : labels);
        free(capped);
    }
    if (!s)
        pthread_mutex_unlock(&m->lock);
    return s;
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
    pthread_mutex_init(&m->hooks_lock, NULL);
    m->nslots = 64;
    m->table = lgw_calloc(m->nslots, sizeof(*m->table));
    lgw_metrics_declare(m, DROPPED_NAME, LGW_METRIC_COUNTER,
                        "Metric updates dropped because the series cap was reached or labels were too long.");
    pthread_mutex_lock(&m->lock);
    m->dropped = series_get(m, family_find(m, DROPPED_NAME), "");
    pthread_mutex_unlock(&m->lock);
    return m;
}

void lgw_metrics_free(struct lgw_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nslots; i++) {
        struct lgw_metrics_series *s = m->table[i];
        while (s) {
            struct lgw_metrics_series *next = s->next;
            free(s->labels);
            free(s->buckets);
            free(s);
            s = next;
        }
    }
    for (size_t i = 0; i < m->nfams; i++)
        family_free(m->fams[i]);
    for (size_t i = 0; i < m->ncaps; i++)
        free(m->caps[i].key);
    free(m->fams);
    free(m->table);
    pthread_mutex_destroy(&m->lock);
    pthread_mutex_destroy(&m->hooks_lock);
    free(m);
}

void lgw_metrics_declare(struct lgw_metrics *m, const char *name, enum lgw_metric_type type, const char *help)
{
    if (!m || !name || !*name)
        return;
    pthread_mutex_lock(&m->lock);
    struct lgw_metrics_family *fam = family_get(m, name, type);
    if (fam && fam->type != type)
        LGW_WARN("metrics", "metric %s declared again with another type; keeping the first", name);
    if (fam && help && *help && !*fam->help) {
        free(fam->help);
        fam->help = lgw_strdup(help);
    }
    pthread_mutex_unlock(&m->lock);
}

static bool bounds_valid(const double *bounds, size_t nbounds)
{
    if (nbounds == 0 || nbounds > LGW_METRICS_MAX_BOUNDS)
        return false;
    for (size_t i = 0; i < nbounds; i++)
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
            return false;
    return true;
}

int lgw_metrics_define(struct lgw_metrics *m, const struct lgw_metric_def *def)
{
    if (!m || !def || !def->name || !*def->name)
        return LGW_ERR(INVALID);
    if (def->bounds && !bounds_valid(def->bounds, def->nbounds))
        return LGW_ERR(INVALID);
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    struct lgw_metrics_family *fam = family_get(m, def->name, def->type);
    if (!fam) {
        rc = LGW_ERR(TOO_LARGE);
        goto out;
    }
    if (fam->type != def->type) {
        LGW_WARN("metrics", "metric %s defined again with another type; keeping the first", def->name);
        goto out;
    }
    if (def->help && *def->help && !*fam->help) {
        free(fam->help);
        fam->help = lgw_strdup(def->help);
    }
    /* The first definition wins; a family implied earlier by an update takes the definition, but keeps its
     * buckets if it already has series (their counts were made against them). */
    if (fam->defined)
        goto out;
    fam->defined = true;
    fam->is_private = def->is_private;
    fam->is_double = def->is_double && def->type != LGW_METRIC_HISTOGRAM;
    free(fam->otel_name);
    fam->otel_name = def->otel_name ? lgw_strdup(def->otel_name) : NULL;
    free(fam->unit);
    fam->unit = lgw_strdup(def->unit ? def->unit : "");
    if (def->bounds && fam->nseries == 0)
        family_set_bounds(fam, def->bounds, def->nbounds);
out:
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int lgw_metrics_cap_label(struct lgw_metrics *m, const char *key, size_t cap)
{
    if (!m || !key || !*key)
        return LGW_ERR(INVALID);
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    int c = cap_index(m, key, strlen(key));
    if (c >= 0) {
        m->caps[c].cap = cap ? cap : SIZE_MAX;
        goto out;
    }
    if (cap == 0)
        goto out;
    if (m->ncaps >= LGW_METRICS_MAX_CAPPED_LABELS) {
        rc = LGW_ERR(TOO_LARGE);
        goto out;
    }
    m->caps[m->ncaps].key = lgw_strdup(key);
    m->caps[m->ncaps].cap = cap;
    m->ncaps++;
out:
    pthread_mutex_unlock(&m->lock);
    return rc;
}

char *lgw_metrics_escape(const char *value, char *out, size_t outsz)
{
    size_t w = 0;
    for (const char *p = value ? value : ""; *p; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        size_t len = esc ? 2 : 1;
        if (w + len >= outsz)
            break; /* never half an escape: a lone backslash would swallow the closing quote */
        if (esc)
            memcpy(out + w, esc, 2);
        else
            out[w] = *p;
        w += len;
    }
    out[w] = '\0';
    return out;
}

void lgw_metrics_remove(struct lgw_metrics *m, const char *name, const char *labels)
{
    if (!m || !name)
        return;
    if (!labels)
        labels = "";
    uint32_t h = hash_key(name, labels);
    pthread_mutex_lock(&m->lock);
    for (struct lgw_metrics_series **pp = &m->table[h & (m->nslots - 1)]; *pp; pp = &(*pp)->next) {
        struct lgw_metrics_series *s = *pp;
        if (s == m->dropped || s->hash != h || strcmp(s->fam->name, name) != 0 || strcmp(s->labels, labels) != 0)
            continue;
        *pp = s->next;
        s->fam->nseries--;
        m->nseries--;
        free(s->labels);
        free(s->buckets);
        free(s);
        break;
    }
    pthread_mutex_unlock(&m->lock);
}

int lgw_metrics_hook_add(struct lgw_metrics *m, lgw_metrics_collect_fn fn, void *opaque)
{
    if (!m || !fn)
        return LGW_ERR(INVALID);
    int rc = 0;
    pthread_mutex_lock(&m->hooks_lock);
    if (m->nhooks >= LGW_METRICS_MAX_HOOKS)
        rc = LGW_ERR(TOO_LARGE);
    else {
        m->hooks[m->nhooks].fn = fn;
        m->hooks[m->nhooks].opaque = opaque;
        m->nhooks++;
    }
    pthread_mutex_unlock(&m->hooks_lock);
    return rc;
}

void lgw_metrics_hook_remove(struct lgw_metrics *m, lgw_metrics_collect_fn fn, void *opaque)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->hooks_lock);
    for (size_t i = 0; i < m->nhooks; i++) {
        if (m->hooks[i].fn != fn || m->hooks[i].opaque != opaque)
            continue;
        memmove(&m->hooks[i], &m->hooks[i + 1], (m->nhooks - i - 1) * sizeof(m->hooks[0]));
        m->nhooks--;
        break;
    }
    pthread_mutex_unlock(&m->hooks_lock);
}

void lgw_metrics_run_hooks(struct lgw_metrics *m)
{
    pthread_mutex_lock(&m->hooks_lock);
    for (size_t i = 0; i < m->nhooks; i++)
        m->hooks[i].fn(m->hooks[i].opaque, m);
    pthread_mutex_unlock(&m->hooks_lock);
}

/* A double update on an integer metric (or the reverse) would be lost in the other field: warn once. */
static bool value_kind_matches(struct lgw_metrics_series *s, bool want_double)
{
    if (s->fam->is_double == want_double)
        return true;
    if (!s->fam->warned) {
        s->fam->warned = true;
        LGW_WARN("metrics", "metric %s holds %s values; update ignored", s->fam->name,
                 s->fam->is_double ? "double" : "integer");
    }
    return false;
}

void lgw_metrics_add(struct lgw_metrics *m, const char *name, const char *labels, int64_t by)
{
    if (by < 0) /* counters only go up; a negative add is a caller bug that would break rate() */
        return;
    struct lgw_metrics_series *s = lock_series(m, name, labels, LGW_METRIC_COUNTER);
    if (!s)
        return;
    if (s->fam->is_double)
        s->dvalue += (double)by; /* an integer add (the 0 that makes a series visible) is exact in a double */
    else
        s->value = add_wrap(s->value, by);
    pthread_mutex_unlock(&m->lock);
}

void lgw_metrics_gauge_add(struct lgw_metrics *m, const char *name, const char *labels, int64_t by)
{
    struct lgw_metrics_series *s = lock_series(m, name, labels, LGW_METRIC_GAUGE);
    if (!s)
        return;
    if (s->fam->is_double)
        s->dvalue += (double)by;
    else
        s->value = add_wrap(s->value, by);
    pthread_mutex_unlock(&m->lock);
}

void lgw_metrics_gauge_set(struct lgw_metrics *m, const char *name, const char *labels, int64_t value)
{
    struct lgw_metrics_series *s = lock_series(m, name, labels, LGW_METRIC_GAUGE);
    if (!s)
        return;
    if (s->fam->is_double)
        s->dvalue = (double)value;
    else
        s->value = value;
    pthread_mutex_unlock(&m->lock);
}

void lgw_metrics_add_f(struct lgw_metrics *m, const char *name, const char *labels, double by)
{
    if (!(by >= 0) || isinf(by)) /* negative, NaN or infinite would break a counter for good */
        return;
    struct lgw_metrics_series *s = lock_series(m, name, labels, LGW_METRIC_COUNTER);
    if (!s)
        return;
    if (value_kind_matches(s, true))
        s->dvalue += by;
    pthread_mutex_unlock(&m->lock);
}

void lgw_metrics_gauge_set_f(struct lgw_metrics *m, const char *name, const char *labels, double value)
{
    if (isnan(value))
        return;
    struct lgw_metrics_series *s = lock_series(m, name, labels, LGW_METRIC_GAUGE);
    if (!s)
        return;
    if (value_kind_matches(s, true))
        s->dvalue = value;
    pthread_mutex_unlock(&m->lock);
}

void lgw_metrics_observe(struct lgw_metrics *m, const char *name, const char *labels, double seconds)
{
    lgw_metrics_observe_value(m, name, labels, seconds);
}

void lgw_metrics_observe_value(struct lgw_metrics *m, const char *name, const char *labels, double value)
{
    if (isnan(value)) /* would poison _sum forever */
        return;
    struct lgw_metrics_series *s = lock_series(m, name, labels, LGW_METRIC_HISTOGRAM);
    if (!s)
        return;
    size_t b = 0;
    while (b < s->fam->nbounds && value > s->fam->bounds[b]) /* le is inclusive */
        b++;
    s->buckets[b]++;
    s->count++;
    s->sum += value;
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
    struct lgw_metrics_series *s = series_find(m, name, labels, hash_key(name, labels));
    if (s)
        v = s->fam->type == LGW_METRIC_HISTOGRAM ? (int64_t)s->count
            : s->fam->is_double                  ? (int64_t)s->dvalue
                                                 : s->value;
    pthread_mutex_unlock(&m->lock);
    return v;
}

double lgw_metrics_value_f(struct lgw_metrics *m, const char *name, const char *labels)
{
    if (!m || !name)
        return 0;
    if (!labels)
        labels = "";
    double v = 0;
    pthread_mutex_lock(&m->lock);
    struct lgw_metrics_series *s = series_find(m, name, labels, hash_key(name, labels));
    if (s)
        v = s->fam->type == LGW_METRIC_HISTOGRAM ? (double)s->count
            : s->fam->is_double                  ? s->dvalue
                                                 : (double)s->value;
    pthread_mutex_unlock(&m->lock);
    return v;
}

