/* metrics.c - the Prometheus registry behind /metrics: series in a chained hash table under one mutex,
 * rendered in text exposition format 0.0.4, sorted so that two scrapes of the same state are identical.
 * Label caps fold a metric's values past its cap into "other"; the snapshot API hands a copy to the OTLP
 * exporter. */
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

/* Distinct values one metric has admitted for one capped label (the registry's caps[i]). */
struct seen_values {
    char **vals; /* raw (escaped) label values, as they appear in label text */
    size_t n;
};

struct family {
    char *name;
    char *help; /* "" when never declared with help */
    char *otel_name; /* NULL: same as name */
    char *unit;      /* "" when none */
    enum lgw_metric_type type;
    bool warned;   /* a type mismatch was already logged once */
    bool defined;  /* came from lgw_metrics_define (not implied by an update or a plain declare) */
    bool is_private;
    bool is_double;
    double bounds[LGW_METRICS_MAX_BOUNDS]; /* histogram upper bounds */
    char *le_text[LGW_METRICS_MAX_BOUNDS + 1]; /* their rendering, the last is "+Inf"; spelled once, so the
                                                * output never depends on printf rounding per scrape */
    size_t nbounds;
    size_t nseries;
    struct seen_values seen[LGW_METRICS_MAX_CAPPED_LABELS];
};

struct series {
    struct series *next; /* hash chain */
    struct family *fam;
    char *labels; /* "" for an unlabelled series */
    uint32_t hash;
    int64_t value;     /* integer counter and gauge */
    double dvalue;     /* double counter and gauge (fam->is_double) */
    uint64_t *buckets; /* histogram: fam->nbounds + 1 per-bucket (not cumulative) counts */
    uint64_t count;
    double sum;
    int64_t start_unix_ns;
};

struct label_cap {
    char *key;
    size_t cap;
};

struct lgw_metrics {
    pthread_mutex_t lock; /* guards everything below */
    struct series **table;
    size_t nslots, nseries;
    struct family **fams;
    size_t nfams;
    struct series *dropped; /* created with the registry, so counting a drop never needs a new series */
    struct label_cap caps[LGW_METRICS_MAX_CAPPED_LABELS];
    size_t ncaps;
    /* Collect hooks have a lock of their own: they run outside `lock` (they update metrics), and removing
     * one must wait for a run in progress. */
    pthread_mutex_t hooks_lock;
    struct {
        lgw_metrics_collect_fn fn;
        void *opaque;
    } hooks[LGW_METRICS_MAX_HOOKS];
    size_t nhooks;
};

static int64_t unix_ns(void)
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

/* Shortest decimal that reads back as the same double (what Go's client prints), so 1.75 is "1.75"
 * rather than %.17g's noise; whole numbers below 2^53 print without an exponent (1048576, not 1.048576e+06),
 * which keeps le labels readable and stable. */
static void format_double(double v, char *out, size_t outsz)
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

static struct family *family_find(struct lgw_metrics *m, const char *name)
{
    for (size_t i = 0; i < m->nfams; i++)
        if (strcmp(m->fams[i]->name, name) == 0)
            return m->fams[i];
    return NULL;
}

/* Sets a family's histogram bounds (already validated) and their le texts. */
static void family_set_bounds(struct family *fam, const double *bounds, size_t nbounds)
{
    for (size_t i = 0; i <= fam->nbounds; i++) {
        free(fam->le_text[i]);
        fam->le_text[i] = NULL;
    }
    fam->nbounds = nbounds;
    for (size_t i = 0; i < nbounds; i++) {
        char text[40];
        format_double(bounds[i], text, sizeof(text));
        fam->bounds[i] = bounds[i];
        fam->le_text[i] = lgw_strdup(text);
    }
    fam->le_text[nbounds] = lgw_strdup("+Inf");
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
    fam->unit = lgw_strdup("");
    fam->type = type;
    family_set_bounds(fam, default_le, DEFAULT_NBOUNDS);
    m->fams = lgw_realloc(m->fams, (m->nfams + 1) * sizeof(*m->fams));
    m->fams[m->nfams++] = fam;
    return fam;
}

static void family_free(struct family *fam)
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

static void count_drop(struct lgw_metrics *m)
{
    if (m->dropped)
        m->dropped->value++;
}

/* Finds or creates a series of fam. Returns NULL when the update must be dropped; then the drop has already
 * been counted. Caller holds the lock. */
static struct series *series_get(struct lgw_metrics *m, struct family *fam, const char *labels)
{
    uint32_t h = hash_key(fam->name, labels);
    struct series *s = series_find(m, fam->name, labels, h);
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
    s->start_unix_ns = unix_ns();
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

/* One pair in label text `k="v",k2="v2"`: spans into the text, the value still escaped. */
struct raw_pair {
    const char *key, *val;
    size_t keylen, vallen;
};

/* Parses the next pair at *p; returns false at the end or on text that is not label syntax. */
static bool next_pair(const char **p, struct raw_pair *pair)
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
static bool cap_admits(struct lgw_metrics *m, struct family *fam, size_t c, const char *val, size_t vallen)
{
    struct seen_values *sv = &fam->seen[c];
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

/* Applies the registry's label caps to labels for fam. Returns a heap copy with values past a cap replaced
 * by "other", or NULL when labels stand as they are. Caller holds the lock. */
static char *apply_caps(struct lgw_metrics *m, struct family *fam, const char *labels)
{
    if (m->ncaps == 0 || !*labels)
        return NULL;
    struct lgw_buf out;
    bool changed = false;
    lgw_buf_init(&out, 0);
    const char *p = labels;
    struct raw_pair pair;
    while (next_pair(&p, &pair)) {
        int c = cap_index(m, pair.key, pair.keylen);
        bool fold = c >= 0 && !cap_admits(m, fam, (size_t)c, pair.val, pair.vallen);
        changed |= fold;
        if (out.len)
            lgw_buf_puts(&out, ",");
        lgw_buf_append(&out, pair.key, pair.keylen);
        lgw_buf_puts(&out, "=\"");
        if (fold)
            lgw_buf_puts(&out, OTHER_VALUE);
        else
            lgw_buf_append(&out, pair.val, pair.vallen);
        lgw_buf_puts(&out, "\"");
    }
    if (!changed || *p) { /* nothing folded, or text we could not parse: keep it as given */
        lgw_buf_cleanup(&out);
        return NULL;
    }
    return lgw_buf_take(&out, NULL);
}

/* Counters and gauges share the integer value, so either kind of update works on either; only a histogram
 * update against a scalar (or the reverse) is refused, since the stored data would not match the TYPE. */
static bool kind_matches(struct family *fam, enum lgw_metric_type type)
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
static struct series *lock_series(struct lgw_metrics *m, const char *name, const char *labels,
                                  enum lgw_metric_type type)
{
    if (!m || !name || !*name)
        return NULL;
    if (!labels)
        labels = "";
    pthread_mutex_lock(&m->lock);
    struct family *fam = NULL;
    /* A label text longer than the limit is dropped before it can create a family or take a cap slot. */
    if (strlen(labels) <= MAX_LABELS_LEN)
        fam = family_get(m, name, type);
    if (!fam) {
        count_drop(m);
        pthread_mutex_unlock(&m->lock);
        return NULL;
    }
    struct series *s = NULL;
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
        struct series *s = m->table[i];
        while (s) {
            struct series *next = s->next;
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
    struct family *fam = family_get(m, name, type);
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
    struct family *fam = family_get(m, def->name, def->type);
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
    for (struct series **pp = &m->table[h & (m->nslots - 1)]; *pp; pp = &(*pp)->next) {
        struct series *s = *pp;
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

static void run_hooks(struct lgw_metrics *m)
{
    pthread_mutex_lock(&m->hooks_lock);
    for (size_t i = 0; i < m->nhooks; i++)
        m->hooks[i].fn(m->hooks[i].opaque, m);
    pthread_mutex_unlock(&m->hooks_lock);
}

/* A double update on an integer metric (or the reverse) would be lost in the other field: warn once. */
static bool value_kind_matches(struct series *s, bool want_double)
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
    struct series *s = lock_series(m, name, labels, LGW_METRIC_COUNTER);
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
    struct series *s = lock_series(m, name, labels, LGW_METRIC_GAUGE);
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
    struct series *s = lock_series(m, name, labels, LGW_METRIC_GAUGE);
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
    struct series *s = lock_series(m, name, labels, LGW_METRIC_COUNTER);
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
    struct series *s = lock_series(m, name, labels, LGW_METRIC_GAUGE);
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
    struct series *s = lock_series(m, name, labels, LGW_METRIC_HISTOGRAM);
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
    struct series *s = series_find(m, name, labels, hash_key(name, labels));
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
    struct series *s = series_find(m, name, labels, hash_key(name, labels));
    if (s)
        v = s->fam->type == LGW_METRIC_HISTOGRAM ? (double)s->count
            : s->fam->is_double                  ? s->dvalue
                                                 : (double)s->value;
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

/* The series to show, sorted by name then labels; caller holds the lock and frees the array. */
static struct series **collect(struct lgw_metrics *m, bool include_private, size_t *n_out)
{
    struct series **all = lgw_malloc((m->nseries ? m->nseries : 1) * sizeof(*all));
    size_t n = 0;
    for (size_t i = 0; i < m->nslots; i++)
        for (struct series *s = m->table[i]; s; s = s->next)
            if (include_private || !s->fam->is_private)
                all[n++] = s;
    qsort(all, n, sizeof(*all), series_cmp);
    *n_out = n;
    return all;
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
    for (size_t b = 0; rc == 0 && b <= s->fam->nbounds; b++) {
        cum += s->buckets[b];
        rc = lgw_buf_printf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, s->labels, sep, s->fam->le_text[b],
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
    if (rc == 0 && s->fam->is_double) {
        char v[40];
        format_double(s->dvalue, v, sizeof(v));
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
    run_hooks(m);
    /* The whole render holds the lock: at the series cap it is a few milliseconds per scrape, and a
     * consistent snapshot (a histogram's _count matching its buckets) is worth that. */
    pthread_mutex_lock(&m->lock);
    struct series **all = collect(m, include_private, &n);
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

/* ---- snapshot ---- */

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
    struct raw_pair pair;
    /* Parsing in place: the key ends at '=', the value at its closing quote; both get terminated, and
     * escapes are undone into the value's own bytes (the unescaped text is never longer). */
    while (next_pair(&p, &pair)) {
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
    run_hooks(m);
    int64_t now = unix_ns();
    pthread_mutex_lock(&m->lock);
    struct series **all = collect(m, include_private, &n);
    struct snap_point *pts = lgw_calloc(n ? n : 1, sizeof(*pts));
    struct snap_family *fams = lgw_calloc(n ? n : 1, sizeof(*fams));
    for (size_t i = 0; i < n; i++) {
        const struct series *s = all[i];
        const struct family *fam = s->fam;
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
