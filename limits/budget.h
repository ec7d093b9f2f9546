/* budget.h - USD budgets per tenant and per key, per UTC day and per UTC month, checked at admission
 * against the running spend the ledger publishes (spend.h). A request is refused with 429
 * insufficient_quota once the spend of a budget that applies to it has reached the budget, until the budget
 * resets (next UTC midnight, or the first of next month); above budget_warn_pct of a budget it is admitted
 * with a warning. Spend arrives after the fact, so a budget can be overshot by what was admitted before the
 * total crossing it reached the ingress: docs/ARCHITECTURE.md, "Budgets", states the bound.
 *
 * A library: the ingress calls it at admission; a worker that admits batch jobs can call it too. */
#ifndef LGW_BUDGET_H
#define LGW_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/config.h"
#include "limits/spend.h"

struct lgw_budgets;
struct lgw_metrics;

/* "no budget" for lgw_budgets_set. */
#define LGW_BUDGET_NONE (-1)

/* What a check says beyond yes or no, for the response headers. */
struct lgw_budget_verdict {
    int64_t retry_after_ms; /* a refusal: until the exhausted budget that resets last resets; else 0 */
    char warning[64];       /* x-llmgw-budget-warning ("tenant day 83%"), or "" */
};

/* Parses a USD amount exactly into nano-USD: digits, optionally '.' and 1 to 9 more digits ("5", "5.00",
 * "0.000000001"); no sign, exponent or spaces. Returns 0, or LGW_ERR(INVALID) (bad shape, more than 9
 * decimals, or above the int64 range of nano-USD). Any thread. */
int lgw_budget_parse_usd(const char *s, size_t len, int64_t *nusd);
/* Formats nano-USD as dollars with at least two decimals and no trailing zeros past them ("5.00",
 * "0.125", "0.000000001") into out (32 bytes are enough). */
void lgw_budget_format_usd(int64_t nusd, char *out, size_t outsz);

/* A "budget" object ({"day_usd", "month_usd"}, both optional, nothing else; amounts as lgw_budgets_new reads
 * them) into nano-USD, LGW_BUDGET_NONE where absent. Returns 0, or LGW_ERR(CONFIG) with a line per problem in
 * errs naming where ("acme", "acme.keys.key_..."). Any thread. */
int lgw_budget_parse_json(json_t *obj, const char *where, int64_t *day_nusd, int64_t *month_nusd,
                          struct lgw_buf *errs);

/* Makes the budgets from the config file's "tenants" object (cfg keeps it): for each tenant an optional
 * "budget": {"day_usd", "month_usd"} and, under "keys": {"<key id>": {"budget": {...}}}, the same per key.
 * Amounts are strings or numbers, parsed exactly (lgw_budget_parse_usd; a number is read as the shortest
 * decimal of 15 significant digits). Other members of a tenant's or a key's object belong to other features
 * and are left alone; inside "budget" every member is ours, so a typo there is an error. The budgets borrow
 * spend (the view they check against) and m (may be NULL). On a bad object returns LGW_ERR(CONFIG) with
 * every problem in errs; else 0 and *out (lgw_budgets_free). Start-up thread. */
int lgw_budgets_new(const struct lgw_config *cfg, struct lgw_spend *spend, struct lgw_metrics *m,
                    struct lgw_budgets **out, struct lgw_buf *errs);
void lgw_budgets_free(struct lgw_budgets *b); /* NULL is a no-op */

/* Sets the budgets of a tenant (key_id NULL or "") or of one of its keys, replacing what was set before;
 * LGW_BUDGET_NONE (any negative) removes one. 0 is a budget too: nothing is admitted. For the admin API:
 * takes effect for the next check. Returns 0 or LGW_ERR(INVALID) (no tenant, or a name too long). Any
 * thread, concurrently with checks. */
int lgw_budgets_set(struct lgw_budgets *b, const char *tenant, const char *key_id, int64_t day_nusd,
                    int64_t month_nusd);
/* The budgets set for a tenant or key (LGW_BUDGET_NONE where none). Returns false when neither is set.
 * Any thread. */
bool lgw_budgets_get(struct lgw_budgets *b, const char *tenant, const char *key_id, int64_t *day_nusd,
                     int64_t *month_nusd);

/* Decides whether a request of tenant (with key_id, "" or NULL when keyless) may run at now_ms (wall
 * clock, Unix ms): refused when the spend of any budget that applies (tenant day and month, key day and
 * month) has reached it. Returns 0 (admitted; v->warning set above budget_warn_pct of a budget, the
 * highest one), LGW_ERR(QUOTA) (v->retry_after_ms, and msg names the budget and when it resets), or
 * LGW_ERR(UNAVAILABLE) while the spend view has not yet replayed the topic and a budget applies (a
 * restarted ingress does not admit blind). Counts llmgw_budget_warnings_total and
 * llmgw_budget_refused_total. Any thread. */
int lgw_budgets_check(struct lgw_budgets *b, const char *tenant, const char *key_id, int64_t now_ms,
                      struct lgw_budget_verdict *v, char *msg, size_t msgsz);

#endif
