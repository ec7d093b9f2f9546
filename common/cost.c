/* cost.c - exact nano-USD arithmetic (see cost.h). */
#include "common/cost.h"

#include <stdio.h>
#include <string.h>

#include "common/assert.h"
#include "common/envelope.h"
#include "common/errors.h"

/* Every product is non-negative and below 2^126, so a sum of up to four fits unsigned 128 bits (it would
 * not fit signed). */
__extension__ typedef unsigned __int128 u128;

/* The cost of n (tokens, rate per million) parts: the exact products summed in 128 bits, divided by 1e6
 * once, rounding half up. Callers have checked that counts and rates are non-negative. */
static int charge(const int64_t *tokens, const int64_t *rates, int n, int64_t *cost_nusd)
{
    u128 sum = 0, floors = 0;
    for (int i = 0; i < n; i++) {
        LGW_ASSERT(tokens[i] >= 0 && rates[i] >= 0); /* nano-USD are never negative */
        u128 part = (u128)tokens[i] * (u128)rates[i];
        sum += part;
        floors += part / 1000000;
    }
    u128 cost = (sum + 500000) / 1000000; /* round half up, once */
    /* The total adds up: one rounding of the sum lies between the parts' rounded-down costs and that plus
     * one per part, so no part was lost or counted twice on the way. */
    LGW_ASSERT(cost >= floors && cost <= floors + (u128)n);
    if (cost > (u128)INT64_MAX)
        return LGW_ERR(INVALID);
    *cost_nusd = (int64_t)cost;
    return LGW_OK;
}

int lgw_cost_compute(const struct lgw_price *p, int64_t input_tokens, int64_t output_tokens,
                     int64_t cached_input_tokens, int64_t *cost_nusd)
{
    if (!p->known) /* an unknown price is never silently $0: the caller records "unknown" */
        return LGW_ERR(INVALID);
    if (input_tokens < 0 || output_tokens < 0 || cached_input_tokens < 0 || cached_input_tokens > input_tokens ||
        p->input_nusd_per_mtok < 0 || p->output_nusd_per_mtok < 0 || p->cached_input_nusd_per_mtok < 0)
        return LGW_ERR(INVALID);
    const int64_t tokens[] = {input_tokens - cached_input_tokens, cached_input_tokens, output_tokens};
    const int64_t rates[] = {p->input_nusd_per_mtok, p->cached_input_nusd_per_mtok, p->output_nusd_per_mtok};
    return charge(tokens, rates, 3, cost_nusd);
}

int lgw_cost_format_usd(int64_t nusd, char *out, size_t outsz)
{
    /* Work in unsigned magnitude so INT64_MIN formats too. */
    unsigned long long mag = nusd < 0 ? (unsigned long long)(-(nusd + 1)) + 1ULL : (unsigned long long)nusd;
    int n = snprintf(out, outsz, "%s%llu.%09llu", nusd < 0 ? "-" : "", mag / 1000000000ULL, mag % 1000000000ULL);
    return n < 0 || (size_t)n >= outsz ? LGW_ERR(INVALID) : LGW_OK;
}

int lgw_cost_parse_usd(const char *s, int64_t *nusd)
{
    bool neg = false;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    unsigned long long whole = 0, frac = 0;
    int wdigits = 0, fdigits = 0;
    for (; *s >= '0' && *s <= '9'; s++, wdigits++) {
        if (whole > (9223372036ULL)) /* whole dollars that still fit in int64 nano-dollars */
            return LGW_ERR(INVALID);
        whole = whole * 10 + (unsigned long long)(*s - '0');
    }
    if (*s == '.') {
        s++;
        for (; *s >= '0' && *s <= '9'; s++, fdigits++) {
            if (fdigits == 9)
                return LGW_ERR(INVALID);
            frac = frac * 10 + (unsigned long long)(*s - '0');
        }
        if (fdigits == 0)
            return LGW_ERR(INVALID);
    }
    if (*s || wdigits == 0)
        return LGW_ERR(INVALID);
    for (int i = fdigits; i < 9; i++)
        frac *= 10;
    u128 v = (u128)whole * 1000000000u + frac;
    /* A negative amount may reach 2^63: INT64_MIN, which lgw_cost_format_usd prints, must read back. */
    if (v > (u128)INT64_MAX + (neg ? 1 : 0))
        return LGW_ERR(INVALID);
    *nusd = neg ? (int64_t)(0 - (uint64_t)v) : (int64_t)v;
    return LGW_OK;
}

struct lgw_price lgw_price_for_input(const struct lgw_price *p, int64_t input_tokens)
{
    struct lgw_price r = *p;
    if (p->long_above_tokens > 0 && input_tokens > p->long_above_tokens) {
        r.input_nusd_per_mtok = p->long_input_nusd_per_mtok;
        r.output_nusd_per_mtok = p->long_output_nusd_per_mtok;
        r.cached_input_nusd_per_mtok = p->long_cached_input_nusd_per_mtok;
        r.cache_write_nusd_per_mtok = p->long_cache_write_nusd_per_mtok;
    }
    r.long_input_nusd_per_mtok = r.long_output_nusd_per_mtok = 0;
    r.long_cached_input_nusd_per_mtok = r.long_cache_write_nusd_per_mtok = 0;
    return r;
}

int lgw_cost_of_usage(const struct lgw_price *base, const struct lgw_usage *u, int64_t *cost_nusd)
{
    struct lgw_price tier = lgw_price_for_input(base, u->input_tokens);
    const struct lgw_price *p = &tier;
    int64_t writes = u->cache_write_input_tokens;
    if (writes < 0 || writes + u->cached_input_tokens > u->input_tokens)
        return LGW_ERR(INVALID);
    if (writes == 0 || p->cache_write_nusd_per_mtok == 0)
        return lgw_cost_compute(p, u->input_tokens, u->output_tokens, u->cached_input_tokens, cost_nusd);
    /* The writes move from the input rate to the write rate; the sum is rounded once, as everywhere. */
    if (!p->known || u->output_tokens < 0 || u->cached_input_tokens < 0 || p->input_nusd_per_mtok < 0 ||
        p->output_nusd_per_mtok < 0 || p->cached_input_nusd_per_mtok < 0 || p->cache_write_nusd_per_mtok < 0)
        return LGW_ERR(INVALID);
    const int64_t tokens[] = {u->input_tokens - u->cached_input_tokens - writes, u->cached_input_tokens, writes,
                              u->output_tokens};
    const int64_t rates[] = {p->input_nusd_per_mtok, p->cached_input_nusd_per_mtok, p->cache_write_nusd_per_mtok,
                             p->output_nusd_per_mtok};
    return charge(tokens, rates, 4, cost_nusd);
}
