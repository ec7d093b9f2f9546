/* strategy.c - candidate ordering for the four strategies (see strategy.h). */
#include "routing/strategy.h"

#include <string.h>

#include "common/errors.h"

int lgw_strategy_parse(const char *name, enum lgw_strategy *out)
{
    static const struct {
        const char *name;
        enum lgw_strategy s;
    } names[] = {{"cost", LGW_STRATEGY_COST},
                 {"latency", LGW_STRATEGY_LATENCY},
                 {"capability", LGW_STRATEGY_CAPABILITY},
                 {"round-robin", LGW_STRATEGY_ROUND_ROBIN},
                 {"round_robin", LGW_STRATEGY_ROUND_ROBIN}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].s;
            return LGW_OK;
        }
    return LGW_ERR(BAD_STRATEGY);
}

const char *lgw_strategy_name(enum lgw_strategy s)
{
    switch (s) {
    case LGW_STRATEGY_LATENCY:
        return "latency";
    case LGW_STRATEGY_CAPABILITY:
        return "capability";
    case LGW_STRATEGY_ROUND_ROBIN:
        return "round-robin";
    case LGW_STRATEGY_COST:
        break;
    }
    return "cost";
}

uint64_t lgw_strategy_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ULL;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

bool lgw_strategy_estimate_cost(const struct lgw_model_info *model, const struct lgw_route_needs *needs,
                                int64_t *cost_nusd)
{
    int64_t out = needs->max_output_tokens;
    if (out <= 0) /* not given: the same assumption for every model, capped by what each can produce */
        out = model->max_output_tokens > 0 && model->max_output_tokens < LGW_STRATEGY_DEFAULT_OUTPUT
                  ? model->max_output_tokens
                  : LGW_STRATEGY_DEFAULT_OUTPUT;
    struct lgw_usage u = {.input_tokens = needs->input_tokens, .output_tokens = out};
    return model->price.known && lgw_cost_of_usage(&model->price, &u, cost_nusd) == 0;
}

static double expected_ms(const struct lgw_candidate *c)
{
    double lat = c->health.latency_ms > 0.001 ? c->health.latency_ms : 0.001;
    return lat * (double)(c->health.inflight + 1);
}

/* a before b? for the given strategy (catalog order breaks ties). */
static bool before(enum lgw_strategy s, const struct lgw_candidate *a, const struct lgw_candidate *b)
{
    if (a->health.admissible != b->health.admissible)
        return a->health.admissible;
    switch (s) {
    case LGW_STRATEGY_COST:
        if (a->cost_known != b->cost_known)
            return a->cost_known; /* an unknown price is not a low one */
        if (a->cost_known && a->est_cost_nusd != b->est_cost_nusd)
            return a->est_cost_nusd < b->est_cost_nusd;
        break;
    case LGW_STRATEGY_CAPABILITY:
        if (a->model->context_window != b->model->context_window)
            return a->model->context_window > b->model->context_window;
        if (a->cost_known && b->cost_known && a->est_cost_nusd != b->est_cost_nusd)
            return a->est_cost_nusd < b->est_cost_nusd;
        break;
    case LGW_STRATEGY_LATENCY: {
        double ea = expected_ms(a), eb = expected_ms(b);
        if (ea != eb)
            return ea < eb;
        break;
    }
    case LGW_STRATEGY_ROUND_ROBIN:
        break;
    }
    return a->order < b->order;
}

/* Insertion sort: stable, and candidate lists are a handful long. */
static void sort(enum lgw_strategy s, struct lgw_candidate *c, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct lgw_candidate x = c[i];
        size_t j = i;
        for (; j > 0 && before(s, &x, &c[j - 1]); j--)
            c[j] = c[j - 1];
        c[j] = x;
    }
}

static void move_to_front(struct lgw_candidate *c, size_t i)
{
    struct lgw_candidate x = c[i];
    memmove(&c[1], &c[0], i * sizeof(*c));
    c[0] = x;
}

static size_t count_admissible(const struct lgw_candidate *c, size_t n)
{
    size_t k = 0;
    while (k < n && c[k].health.admissible)
        k++;
    return k;
}

void lgw_strategy_order(enum lgw_strategy s, struct lgw_candidate *c, size_t n, uint64_t rr, uint64_t *rng)
{
    if (n == 0)
        return;
    if (n > LGW_ROUTE_MAX)
        n = LGW_ROUTE_MAX;
    sort(s, c, n);
    size_t live = count_admissible(c, n); /* after sort, the admissible ones come first */
    if (s == LGW_STRATEGY_ROUND_ROBIN && live > 1) {
        /* Rotate the admissible ones by the turn: candidate (rr mod live) first, then on around. */
        struct lgw_candidate tmp[LGW_ROUTE_MAX];
        size_t start = (size_t)(rr % live);
        for (size_t i = 0; i < live; i++)
            tmp[i] = c[(start + i) % live];
        memcpy(c, tmp, live * sizeof(*c));
    } else if (s == LGW_STRATEGY_LATENCY && live > 1) {
        size_t a = (size_t)(lgw_strategy_rand(rng) % live);
        size_t b = (size_t)(lgw_strategy_rand(rng) % (live - 1));
        if (b >= a)
            b++;
        double ea = expected_ms(&c[a]), eb = expected_ms(&c[b]);
        double wa = 1.0 / (ea * ea), wb = 1.0 / (eb * eb);
        double u = (double)(lgw_strategy_rand(rng) >> 11) / 9007199254740992.0; /* [0, 1) */
        move_to_front(c, u * (wa + wb) < wa ? a : b);
    }
}
