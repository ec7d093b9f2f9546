/* billing.h - what one execution of a job spent, as the ledger records it: the final answer's usage (the
 * provider's count, or an estimate when it was sent the request and never reported one) and one cost event
 * for each other billed provider request (workers/dispatch.h, struct lgw_dispatch_spend).
 *
 * Estimates: input tokens come from the routing estimator over the request (routing/estimate.h: upper-
 * leaning, within about +30% of cl100k on English prose, images at 800 tokens each); output tokens from the
 * text that reached the client, by the same estimator. A figure that is partly the provider's (Anthropic
 * reports input at the start of a stream) keeps the provider's part. Pure functions; any thread. */
#ifndef LGW_BILLING_H
#define LGW_BILLING_H

#include <stdbool.h>
#include <stdint.h>

#include "common/envelope.h"
#include "workers/dispatch.h"

/* The usage to bill for the final answer d->res of job: the provider's count (BILL_REPORTED), an estimate
 * (BILL_ESTIMATED: *estimated set; streamed_output is the sink's estimate of what it passed on), or nothing
 * (BILL_NONE: not sent, or an error answer). */
void lgw_billing_final_usage(const struct lgw_dispatch *d, const struct lgw_job *job, int64_t streamed_output,
                             struct lgw_usage *out, bool *estimated);

/* Fills ev, initialised with the job's identity (lgw_results_cost_init), as the non-final event of s within
 * the execution run_id: its own event_id ("<run_id>.<provider call>"), model, status, usage (estimated
 * where the provider did not report it) and cost at the model's price. */
void lgw_billing_spend_event(const struct lgw_dispatch_spend *s, const struct lgw_job *job, const char *run_id,
                             struct lgw_cost_event *ev);

/* Prices ev->usage at model's price into ev->cost_nusd and ev->cost_known (false, with cost 0, for a model
 * without a price or usage the price cannot apply to). Returns ev->cost_known. */
bool lgw_billing_price(const struct lgw_model_info *model, struct lgw_cost_event *ev);

/* The output tokens of an OpenAI chat chunk's deltas (content, refusal, tool-call arguments), by the
 * routing estimator: what a stream sink adds up as chunks pass. */
int64_t lgw_billing_chunk_tokens(const json_t *chunk);

#endif
