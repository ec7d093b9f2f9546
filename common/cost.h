/* cost.h - money arithmetic: integer nano-USD (1 USD = 1e9 nusd) end to end.
 *
 * Floats lose cents at scale; every amount in llmgw is an int64 of nano-dollars, and decimal text exists
 * only at the edges (API, SQL NUMERIC). Prices are per million tokens, also in nano-USD. */
#ifndef LGW_COST_H
#define LGW_COST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LGW_NUSD_PER_USD 1000000000LL

struct lgw_price {
    int64_t input_nusd_per_mtok;        /* e.g. $0.15 per 1M tokens = 150000000 */
    int64_t output_nusd_per_mtok;
    int64_t cached_input_nusd_per_mtok;
    bool known;                         /* false: no price; the cost is recorded as unknown, never as $0 */
    int64_t cache_write_nusd_per_mtok;  /* prompt-cache writes (Anthropic); 0: billed at the input rate */
    /* Long-context tier (Gemini 2.5 Pro, Claude Sonnet 4 above 200k): when a call's input tokens exceed
     * long_above_tokens (0: no tier), every token of that call is billed at the long_* rates. */
    int64_t long_above_tokens;
    int64_t long_input_nusd_per_mtok, long_output_nusd_per_mtok, long_cached_input_nusd_per_mtok;
    int64_t long_cache_write_nusd_per_mtok;
};

/* The rates that apply to a call with input_tokens of input: the base price, or its long-context tier
 * (with known and the tier threshold carried over, the tier cleared). Pure. */
struct lgw_price lgw_price_for_input(const struct lgw_price *p, int64_t input_tokens);

struct lgw_usage;

/* Cost of one call's usage: lgw_cost_compute at the tier the input size selects (lgw_price_for_input),
 * with the cache-write tokens (a part of input_tokens) billed at the cache-write rate.
 * Returns 0 or LGW_ERR(INVALID). */
int lgw_cost_of_usage(const struct lgw_price *p, const struct lgw_usage *u, int64_t *cost_nusd);

/* Cost of one call. input_tokens includes the cached ones (OpenAI's prompt_tokens convention): the
 * uncached part is charged at the input rate, the cached part at the cached rate, output at the output
 * rate. Exact: the three products are summed in 128 bits and divided by 1e6 once, rounding half up.
 * Returns 0, or LGW_ERR(INVALID) for an unknown price (p->known false), negative counts or prices,
 * cached > input, or a result beyond int64; *cost_nusd is untouched on error. Pure, any thread. */
int lgw_cost_compute(const struct lgw_price *p, int64_t input_tokens, int64_t output_tokens,
                     int64_t cached_input_tokens, int64_t *cost_nusd);

/* Formats nusd as a decimal USD string with 9 fractional digits ("0.000435000"). out needs 32 bytes.
 * Returns 0 or LGW_ERR(INVALID) when out is too small. */
int lgw_cost_format_usd(int64_t nusd, char *out, size_t outsz);

/* Parses a decimal USD string ("0.15", "2", "-1.5") with at most 9 fractional digits, exactly.
 * Returns 0 or LGW_ERR(INVALID). */
int lgw_cost_parse_usd(const char *s, int64_t *nusd);

#endif
