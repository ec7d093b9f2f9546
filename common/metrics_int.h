/* metrics_int.h - the registry's insides, shared by metrics.c (updates), metrics_text.c (rendering) and
 * metrics_snapshot.c (the snapshot API). Nothing outside common/metrics*.c includes it. */
#ifndef LGW_METRICS_INT_H
#define LGW_METRICS_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Uses metrics.h's types and limits: include common/metrics.h before it. (Not included from here: metrics.c
 * includes both, and modules of a folder must not include each other in a circle.) */

/* Distinct values one metric has admitted for one capped label (the registry's caps[i]). */
struct lgw_metrics_seen {
    char **vals; /* raw (escaped) label values, as they appear in label text */
    size_t n;
};

struct lgw_metrics_family {
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
    struct lgw_metrics_seen seen[LGW_METRICS_MAX_CAPPED_LABELS];
};

struct lgw_metrics_series {
    struct lgw_metrics_series *next; /* hash chain */
    struct lgw_metrics_family *fam;
    char *labels; /* "" for an unlabelled series */
    uint32_t hash;
    int64_t value;     /* integer counter and gauge */
    double dvalue;     /* double counter and gauge (fam->is_double) */
    uint64_t *buckets; /* histogram: fam->nbounds + 1 per-bucket (not cumulative) counts */
    uint64_t count;
    double sum;
    int64_t start_unix_ns;
};

struct lgw_metrics_cap {
    char *key;
    size_t cap;
};

struct lgw_metrics {
    pthread_mutex_t lock; /* guards everything below */
    struct lgw_metrics_series **table;
    size_t nslots, nseries;
    struct lgw_metrics_family **fams;
    size_t nfams;
    struct lgw_metrics_series *dropped; /* created with the registry, so counting a drop never needs a new series */
    struct lgw_metrics_cap caps[LGW_METRICS_MAX_CAPPED_LABELS];
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

/* One pair in label text `k="v",k2="v2"`: spans into the text, the value still escaped. */
struct lgw_metrics_pair {
    const char *key, *val;
    size_t keylen, vallen;
};

/* Parses the next pair of label text at *p (advancing it); false at the end or on text that is not label
 * syntax. Any thread (reads only its arguments). */
bool lgw_metrics_next_pair(const char **p, struct lgw_metrics_pair *pair);

/* Wall-clock time in ns since the epoch. */
int64_t lgw_metrics_unix_ns(void);

/* Runs the collect hooks (under hooks_lock, without lock). */
void lgw_metrics_run_hooks(struct lgw_metrics *m);

/* The series to show, sorted by name then labels; caller holds m->lock and frees the array. */
struct lgw_metrics_series **lgw_metrics_collect(struct lgw_metrics *m, bool include_private, size_t *n_out);

/* Shortest decimal that reads back as v (whole numbers without an exponent), "+Inf", "-Inf" or "NaN". */
void lgw_metrics_format_double(double v, char *out, size_t outsz);

#endif
