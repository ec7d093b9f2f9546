/* strategy.h - the four routing strategies: given the candidates that may serve a request (already
 * filtered for credentials, capabilities and context window), the order in which to try them. The first
 * is the choice, the rest the fallback order. Pure functions: health and randomness come in as arguments,
 * so tests pin them. */
#ifndef LGW_STRATEGY_H
#define LGW_STRATEGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "routing/estimate.h"
#include "routing/health.h"
#include "common/model.h"

/* Most candidates one request considers (a group, its matches across providers and the fallbacks). */
#define LGW_ROUTE_MAX 32

enum lgw_strategy {
    LGW_STRATEGY_COST,       /* cheapest for this request's estimated input plus its maximum output */
    LGW_STRATEGY_LATENCY,    /* lowest expected latency: two random candidates, weighted (see below) */
    LGW_STRATEGY_CAPABILITY, /* the largest context window */
    LGW_STRATEGY_ROUND_ROBIN /* rotate */
};

/* "cost", "latency", "capability", "round-robin" (also "round_robin"). Returns 0 or LGW_ERR(BAD_STRATEGY). */
int lgw_strategy_parse(const char *name, enum lgw_strategy *out);
const char *lgw_strategy_name(enum lgw_strategy s);

struct lgw_candidate {
    const struct lgw_model_info *model; /* borrowed from the catalog */
    struct lgw_health_view health;
    int64_t est_cost_nusd; /* the request's estimated cost on this model */
    bool cost_known;
    size_t order;          /* position in the catalog/group: the tie-breaker, so equal choices are stable */
};

/* Output tokens the cost strategy assumes for a request that sets no maximum: one figure for every model
 * (capped by a model's own maximum), so candidates are compared on the same work. A model's full output
 * limit (16k for gpt-4o, 100k for o3) would rank models by their limits rather than their prices. */
#define LGW_STRATEGY_DEFAULT_OUTPUT 4096

/* The estimated cost of the request on model: needs->input_tokens of input and the request's maximum
 * output (needs->max_output_tokens; when not given LGW_STRATEGY_DEFAULT_OUTPUT, or the model's maximum if
 * smaller) at the model's price (and tier). Returns false when the model has no price. */
bool lgw_strategy_estimate_cost(const struct lgw_model_info *model, const struct lgw_route_needs *needs,
                                int64_t *cost_nusd);

/* Orders c[0..n) (n <= LGW_ROUTE_MAX) for strategy s. rr is the round-robin turn (any counter); rng a xorshift64 state (non-zero)
 * that latency draws from. Candidates whose breaker refuses them (health.admissible false) go last, in
 * the same relative order. Latency: expected cost of a candidate = latency estimate x (in-flight + 1); two
 * distinct candidates are drawn at random and one is chosen with probability proportional to 1/cost^2,
 * so a faster provider gets most of the traffic but a slower one is still sampled and its recovery seen;
 * the rest follow by expected cost. */
void lgw_strategy_order(enum lgw_strategy s, struct lgw_candidate *c, size_t n, uint64_t rr, uint64_t *rng);

/* xorshift64: the next pseudo-random number of state (non-zero). */
uint64_t lgw_strategy_rand(uint64_t *state);

#endif
