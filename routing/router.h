/* router.h - the routing decision for one job: which provider/model serves it and, should that fail,
 * which next. Candidates come from the catalog (a concrete model, "provider/model", a group such as
 * "auto"); only providers with credentials are candidates (or, with simulate on, the simulated stand-ins of
 * those without: providers/provider.h, lgw_provider_serving), and echo is the last resort for a model nobody
 * serves when no provider has a key. Models that lack a capability the request uses, or whose context window it would not fit, are
 * never candidates. The strategy orders the rest; the operator's fallback chain for the chosen model is
 * appended. One router per worker process; thread-safe. */
#ifndef LGW_ROUTER_H
#define LGW_ROUTER_H

#include <jansson.h>

#include "routing/catalog.h"
#include "common/config.h"
#include "routing/estimate.h"
#include "routing/health.h"
#include "common/metrics.h"
#include "routing/strategy.h"

struct lgw_route_plan {
    enum lgw_strategy strategy;
    size_t n;
    const struct lgw_model_info *chain[LGW_ROUTE_MAX]; /* borrowed from the catalog the plan was made with */
    bool last_resort; /* echo, because no provider has credentials (and no simulation serves the model) */
};

struct lgw_router;

/* cfg is borrowed for the router's life; m may be NULL. */
struct lgw_router *lgw_router_new(const struct lgw_config *cfg, struct lgw_metrics *m);
void lgw_router_free(struct lgw_router *r);
/* The router's health table (owned by the router). */
struct lgw_health *lgw_router_health(struct lgw_router *r);

/* Plans the route of a request for `model` (the client's name) of kind with needs, by strategy.
 * Returns 0 with plan->n >= 1, or an LGW_ERR (MODEL_NOT_FOUND, MODEL_RETIRED, NO_CAPABLE_MODEL, CONTEXT_LENGTH)
 * with a message for the client in why. A model its provider retired (see catalog.h) is MODEL_RETIRED, naming
 * the date and the successor; it is never replaced by the successor silently. */
int lgw_router_plan(struct lgw_router *r, const struct lgw_catalog *cat, const char *model, enum lgw_job_kind kind,
                    const struct lgw_route_needs *needs, enum lgw_strategy strategy, struct lgw_route_plan *plan,
                    char *why, size_t whysz);

/* The OpenAI /v1/models list of what this deployment serves, {"id","object":"model","created":0,"owned_by"}
 * each: the catalog's models whose provider has credentials (owned_by: the provider) or is simulated
 * (owned_by "openai-sim" ...); when no provider has a key, every other catalog model echo stands in for, once
 * per name, owned_by "echo"; and the groups with a servable member (owned_by "llmgw"). New reference. */
json_t *lgw_router_models_json(const struct lgw_catalog *cat, const struct lgw_config *cfg);
/* GET /v1/models/{id}: the entry of that list with this id, or for "provider/name" that provider's model
 * when it is served here (the entry then has the id as asked). NULL when there is none. New reference. */
json_t *lgw_router_model_json(const struct lgw_catalog *cat, const struct lgw_config *cfg, const char *id);

#endif
