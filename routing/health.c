/* health.c - circuit breakers and latency estimates per provider/model (see health.h). */
#include "routing/health.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/buf.h"
#include "common/hash.h"
#include "common/log.h"

#define SLOTS 1024   /* power of two; far above any catalog (a full table treats new models as healthy) */
#define BUCKETS 10   /* the error-ratio window in ten slices, so old outcomes age out smoothly */
#define KEY_MAX 160

struct bucket {
    int64_t slice; /* which window slice (now / slice length) the counts belong to */
    int64_t ok, failed;
};

struct entry {
    char key[KEY_MAX]; /* "provider/id"; empty: free slot */
    enum lgw_breaker_state state;
    int64_t open_until_ms;
    bool probe_out;
    int64_t consecutive;
    struct bucket buckets[BUCKETS];
    double latency_ms;
    int64_t last_obs_ms;
    bool observed;
    int64_t inflight;
    int64_t calls, failures; /* since the table was made (lgw_health_stats) */
};

struct lgw_health {
    struct lgw_health_params p;
    struct lgw_metrics *m;
    pthread_mutex_t lock; /* one lock: every operation is a few arithmetic steps */
    /* Bumped under the lock at every transition; atomic so the status publisher polls it without the lock. */
    atomic_uint_fast64_t changes;
    struct entry slots[SLOTS];
};

static const char *state_name(enum lgw_breaker_state s)
{
    return s == LGW_BREAKER_OPEN ? "open" : s == LGW_BREAKER_HALF_OPEN ? "half_open" : "closed";
}

struct lgw_health *lgw_health_new(const struct lgw_health_params *params, struct lgw_metrics *m)
{
    struct lgw_health *h = lgw_calloc(1, sizeof(*h));
    h->p = *params;
    h->m = m;
    atomic_init(&h->changes, 0);
    pthread_mutex_init(&h->lock, NULL);
    if (m) {
        lgw_metrics_declare(m, "llmgw_breaker_state", LGW_METRIC_GAUGE,
                            "Circuit breaker per provider/model: 0 closed, 1 open, 2 half-open.");
        lgw_metrics_declare(m, "llmgw_breaker_transitions_total", LGW_METRIC_COUNTER,
                            "Circuit breaker state changes per provider/model, by the state entered.");
    }
    return h;
}

void lgw_health_free(struct lgw_health *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* The entry of model; with create, made (seeded from the catalog) on first use. NULL when there is none and
 * create is false, or the table is full. Locked. */
static struct entry *lookup(struct lgw_health *h, const struct lgw_model_info *model, int64_t now_ms, bool create)
{
    char key[KEY_MAX];
    snprintf(key, sizeof(key), "%s/%s", model->provider, model->id);
    for (uint64_t i = lgw_hash_str(key), n = 0; n < SLOTS; i++, n++) {
        struct entry *e = &h->slots[i & (SLOTS - 1)];
        if (e->key[0] == '\0') {
            if (!create)
                return NULL; /* entries are never removed: the probe sequence ends at the first free slot */
            lgw_strlcpy(e->key, key, sizeof(e->key));
            e->latency_ms = (double)(model->latency_ms > 0 ? model->latency_ms : 1000);
            e->last_obs_ms = now_ms; /* the seed ages like an observation made now */
            return e;
        }
        if (strcmp(e->key, key) == 0)
            return e;
    }
    return NULL;
}

static struct entry *find(struct lgw_health *h, const struct lgw_model_info *model, int64_t now_ms)
{
    return lookup(h, model, now_ms, true);
}

static void set_state(struct lgw_health *h, struct entry *e, enum lgw_breaker_state to, const char *why)
{
    if (e->state == to)
        return;
    enum lgw_breaker_state from = e->state;
    /* The only edges: closed -> open (failures), open -> half-open (cooldown over), half-open -> closed
     * (the probe succeeded) or -> open (it failed). Anything else would skip the probe or the cooldown. */
    LGW_ASSERT((from == LGW_BREAKER_CLOSED && to == LGW_BREAKER_OPEN) ||
               (from == LGW_BREAKER_OPEN && to == LGW_BREAKER_HALF_OPEN) || from == LGW_BREAKER_HALF_OPEN);
    e->state = to;
    atomic_fetch_add(&h->changes, 1);
    const char *slash = strchr(e->key, '/');
    char labels[KEY_MAX + 64];
    snprintf(labels, sizeof(labels), "provider=\"%.*s\",model=\"%s\"", (int)(slash - e->key), e->key, slash + 1);
    if (h->m) {
        lgw_metrics_gauge_set(h->m, "llmgw_breaker_state", labels, (int64_t)to);
        char tl[KEY_MAX + 96];
        snprintf(tl, sizeof(tl), "%s,to=\"%s\"", labels, state_name(to));
        lgw_metrics_add(h->m, "llmgw_breaker_transitions_total", tl, 1);
    }
    LGW_LOG(to == LGW_BREAKER_OPEN ? LGW_LOG_WARN : LGW_LOG_INFO, "breaker", NULL, NULL, "%s: %s -> %s (%s)", e->key,
            state_name(from), state_name(to), why);
}

static int64_t slice_ms(const struct lgw_health *h)
{
    int64_t s = h->p.window_ms / BUCKETS;
    return s > 0 ? s : 1;
}

static void window_counts(const struct lgw_health *h, const struct entry *e, int64_t now_ms, int64_t *ok,
                          int64_t *failed)
{
    int64_t now_slice = now_ms / slice_ms(h);
    *ok = *failed = 0;
    for (int b = 0; b < BUCKETS; b++)
        if (now_slice - e->buckets[b].slice < BUCKETS) {
            *ok += e->buckets[b].ok;
            *failed += e->buckets[b].failed;
        }
}

static void count(const struct lgw_health *h, struct entry *e, int64_t now_ms, bool failed)
{
    int64_t s = now_ms / slice_ms(h);
    struct bucket *b = &e->buckets[s % BUCKETS];
    if (b->slice != s)
        *b = (struct bucket){.slice = s};
    if (failed)
        b->failed++;
    else
        b->ok++;
}

static bool admissible(const struct entry *e, int64_t now_ms)
{
    if (e->state == LGW_BREAKER_CLOSED)
        return true;
    if (e->state == LGW_BREAKER_OPEN)
        return now_ms >= e->open_until_ms;
    return !e->probe_out;
}

void lgw_health_view(struct lgw_health *h, const struct lgw_model_info *model, int64_t now_ms,
                     struct lgw_health_view *out)
{
    pthread_mutex_lock(&h->lock);
    struct entry *e = find(h, model, now_ms);
    if (e) {
        out->state = e->state;
        out->admissible = admissible(e, now_ms);
        /* Read-time decay toward zero (Finagle's PeakEwma reads through observe(0)): a model nobody has
         * called for a while looks ever cheaper until one request finds out whether it still is slow. Not
         * while calls are out: a hung provider must not look fast because nothing has come back. */
        double idle = (double)(e->inflight == 0 && now_ms > e->last_obs_ms ? now_ms - e->last_obs_ms : 0);
        out->latency_ms = e->latency_ms * exp(-idle / (double)h->p.decay_ms);
        out->inflight = e->inflight;
    } else {
        *out = (struct lgw_health_view){LGW_BREAKER_CLOSED, true, (double)model->latency_ms, 0};
    }
    pthread_mutex_unlock(&h->lock);
}

void lgw_health_stats(struct lgw_health *h, const struct lgw_model_info *model, struct lgw_health_stats *out)
{
    *out = (struct lgw_health_stats){.state = LGW_BREAKER_CLOSED};
    pthread_mutex_lock(&h->lock);
    const struct entry *e = lookup(h, model, 0, false);
    if (e)
        *out = (struct lgw_health_stats){e->state, e->observed, e->latency_ms, e->inflight, e->calls, e->failures};
    pthread_mutex_unlock(&h->lock);
}

uint64_t lgw_health_changes(const struct lgw_health *h)
{
    return atomic_load(&h->changes);
}

bool lgw_health_acquire(struct lgw_health *h, const struct lgw_model_info *model, int64_t now_ms, bool *probe)
{
    bool go = true;
    *probe = false;
    pthread_mutex_lock(&h->lock);
    struct entry *e = find(h, model, now_ms);
    if (e) {
        go = admissible(e, now_ms);
        if (go && e->state != LGW_BREAKER_CLOSED) {
            set_state(h, e, LGW_BREAKER_HALF_OPEN, "cooldown over: one probe goes through");
            e->probe_out = true;
            *probe = true;
        }
        if (go)
            e->inflight++;
    }
    pthread_mutex_unlock(&h->lock);
    return go;
}

/* Peak EWMA. The first observation replaces the catalog's seed outright: one real measurement says more
 * than a typical figure. */
static void observe_latency(const struct lgw_health *h, struct entry *e, int64_t now_ms, double rtt)
{
    if (!e->observed || rtt > e->latency_ms) {
        e->latency_ms = rtt;
    } else {
        double elapsed = (double)(now_ms > e->last_obs_ms ? now_ms - e->last_obs_ms : 0);
        double w = exp(-elapsed / (double)h->p.decay_ms);
        e->latency_ms = e->latency_ms * w + rtt * (1.0 - w);
    }
    e->observed = true;
    e->last_obs_ms = now_ms;
}

void lgw_health_release(struct lgw_health *h, const struct lgw_model_info *model, int64_t now_ms, bool probe,
                        bool failed, int64_t latency_ms)
{
    pthread_mutex_lock(&h->lock);
    struct entry *e = find(h, model, now_ms);
    if (!e) {
        pthread_mutex_unlock(&h->lock);
        return;
    }
    if (e->inflight > 0)
        e->inflight--;
    double rtt = (double)(latency_ms > 0 ? latency_ms : 0);
    if (failed && rtt < 2 * e->latency_ms)
        rtt = 2 * e->latency_ms;
    observe_latency(h, e, now_ms, rtt);
    count(h, e, now_ms, failed);
    e->calls++;
    e->failures += failed ? 1 : 0;
    LGW_ASSERT(e->failures <= e->calls);
    if (probe && e->state == LGW_BREAKER_HALF_OPEN && e->probe_out) {
        e->probe_out = false;
        e->consecutive = failed ? e->consecutive + 1 : 0;
        if (failed) {
            e->open_until_ms = now_ms + h->p.cooldown_ms;
            set_state(h, e, LGW_BREAKER_OPEN, "the probe failed");
        } else {
            memset(e->buckets, 0, sizeof(e->buckets)); /* a fresh start: old errors must not reopen it */
            set_state(h, e, LGW_BREAKER_CLOSED, "the probe succeeded");
        }
    } else if (!failed) {
        e->consecutive = 0; /* a call that was out when the breaker opened says nothing about the probe */
    } else if (e->state == LGW_BREAKER_CLOSED) {
        e->consecutive++;
        int64_t ok, bad;
        window_counts(h, e, now_ms, &ok, &bad);
        bool ratio = ok + bad >= h->p.min_requests && bad * 100 >= h->p.error_pct * (ok + bad);
        if (e->consecutive >= h->p.failures || ratio) {
            e->open_until_ms = now_ms + h->p.cooldown_ms;
            set_state(h, e, LGW_BREAKER_OPEN, ratio ? "error ratio over the window" : "consecutive failures");
        }
    }
    pthread_mutex_unlock(&h->lock);
}

int64_t lgw_health_retry_in_ms(struct lgw_health *h, const struct lgw_model_info *model, int64_t now_ms)
{
    int64_t in = 0;
    pthread_mutex_lock(&h->lock);
    struct entry *e = find(h, model, now_ms);
    if (e && !admissible(e, now_ms))
        in = e->state == LGW_BREAKER_OPEN ? e->open_until_ms - now_ms : -1;
    pthread_mutex_unlock(&h->lock);
    return in;
}

void lgw_health_abandon(struct lgw_health *h, const struct lgw_model_info *model, bool probe)
{
    pthread_mutex_lock(&h->lock);
    struct entry *e = find(h, model, 0) /* acquired before: it exists */;
    if (e && e->inflight > 0)
        e->inflight--;
    if (probe && e && e->state == LGW_BREAKER_HALF_OPEN && e->probe_out)
        e->probe_out = false; /* no verdict: the next request probes again */
    pthread_mutex_unlock(&h->lock);
}
