/* test_strategy.c - the four routing strategies over hand-built candidates: names, the cost estimate, each
 * ordering, and breakers that refuse a candidate. Randomness comes from fixed seeds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/errors.h"
#include "routing/estimate.h"
#include "common/model.h"
#include "routing/strategy.h"

/* $1 in / $2 out per 1M tokens: 1000 and 2000 nano-USD per token. */
#define PRICE_1_2 {.input_nusd_per_mtok = 1000000000, .output_nusd_per_mtok = 2000000000, \
                   .cached_input_nusd_per_mtok = 1000000000, .known = true}

static const struct lgw_model_info mA = {.id = "a", .provider = "openai", .kind = LGW_JOB_CHAT,
                                         .price = PRICE_1_2, .context_window = 1000, .max_output_tokens = 100,
                                         .latency_ms = 100};
static const struct lgw_model_info mB = {.id = "b", .provider = "anthropic", .kind = LGW_JOB_CHAT,
                                         .price = PRICE_1_2, .context_window = 5000, .max_output_tokens = 100,
                                         .latency_ms = 100};
static const struct lgw_model_info mC = {.id = "c", .provider = "gemini", .kind = LGW_JOB_CHAT,
                                         .price = PRICE_1_2, .context_window = 3000, .max_output_tokens = 100,
                                         .latency_ms = 100};
static const struct lgw_model_info mD = {.id = "d", .provider = "mistral", .kind = LGW_JOB_CHAT,
                                         .price = PRICE_1_2, .context_window = 2000, .max_output_tokens = 100,
                                         .latency_ms = 100};

static struct lgw_candidate cand(const struct lgw_model_info *m, size_t order, int64_t cost, bool known,
                                 double latency_ms, int64_t inflight)
{
    struct lgw_candidate c = {.model = m, .est_cost_nusd = cost, .cost_known = known, .order = order};
    c.health = (struct lgw_health_view){.state = LGW_BREAKER_CLOSED, .admissible = true, .latency_ms = latency_ms,
                                        .inflight = inflight};
    return c;
}

static void refuse(struct lgw_candidate *c)
{
    c->health.state = LGW_BREAKER_OPEN;
    c->health.admissible = false;
}

static void assert_ids(const struct lgw_candidate *c, size_t n, const char *const *want)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(c[i].model->id, want[i]) != 0) {
            char got[64] = "";
            for (size_t k = 0; k < n; k++) {
                strncat(got, c[k].model->id, sizeof(got) - strlen(got) - 1);
                strncat(got, " ", sizeof(got) - strlen(got) - 1);
            }
            fail_msg("position %zu: got order [%s], want %s there", i, got, want[i]);
        }
}

/* ------------------------------------------------------------------------------------------- names */

static void test_parse_name(void **state)
{
    (void)state;
    static const enum lgw_strategy all[] = {LGW_STRATEGY_COST, LGW_STRATEGY_LATENCY, LGW_STRATEGY_CAPABILITY,
                                            LGW_STRATEGY_ROUND_ROBIN};
    for (size_t i = 0; i < 4; i++) {
        enum lgw_strategy s = (enum lgw_strategy)99;
        assert_int_equal(lgw_strategy_parse(lgw_strategy_name(all[i]), &s), 0);
        assert_int_equal(s, all[i]);
    }
    assert_string_equal(lgw_strategy_name(LGW_STRATEGY_COST), "cost");
    assert_string_equal(lgw_strategy_name(LGW_STRATEGY_LATENCY), "latency");
    assert_string_equal(lgw_strategy_name(LGW_STRATEGY_CAPABILITY), "capability");
    assert_string_equal(lgw_strategy_name(LGW_STRATEGY_ROUND_ROBIN), "round-robin");
    enum lgw_strategy s = LGW_STRATEGY_COST;
    assert_int_equal(lgw_strategy_parse("round_robin", &s), 0);
    assert_int_equal(s, LGW_STRATEGY_ROUND_ROBIN);
    s = LGW_STRATEGY_LATENCY;
    assert_int_equal(lgw_strategy_parse("bogus", &s), LGW_ERR(BAD_STRATEGY));
    assert_int_equal(s, LGW_STRATEGY_LATENCY); /* untouched on error */
    assert_int_equal(lgw_strategy_parse("", &s), LGW_ERR(BAD_STRATEGY));
    assert_int_equal(lgw_strategy_parse("cost ", &s), LGW_ERR(BAD_STRATEGY));
}

static void test_rand(void **state)
{
    (void)state;
    uint64_t a = 42, b = 42;
    for (int i = 0; i < 100; i++) {
        uint64_t x = lgw_strategy_rand(&a);
        assert_true(x != 0);
        assert_true(x == lgw_strategy_rand(&b)); /* deterministic from the seed */
        assert_true(a == x);
    }
    uint64_t z = 0; /* a zero state still moves */
    assert_true(lgw_strategy_rand(&z) != 0);
    assert_true(z != 0);
}

/* ------------------------------------------------------------------------------------ cost estimate */

static void test_estimate_cost(void **state)
{
    (void)state;
    int64_t cost = -1;
    struct lgw_route_needs needs = {.input_tokens = 1000, .max_output_tokens = 0};
    /* No max in the request: the model's own maximum (100) bounds the output when it is below the common
     * assumption. */
    assert_true(lgw_strategy_estimate_cost(&mA, &needs, &cost));
    assert_int_equal(cost, 1000 * 1000 + 100 * 2000);
    /* The request's own maximum wins, below or above the model's. */
    needs.max_output_tokens = 50;
    assert_true(lgw_strategy_estimate_cost(&mA, &needs, &cost));
    assert_int_equal(cost, 1000 * 1000 + 50 * 2000);
    needs.max_output_tokens = 300;
    assert_true(lgw_strategy_estimate_cost(&mA, &needs, &cost));
    assert_int_equal(cost, 1000 * 1000 + 300 * 2000);

    /* A model with a large limit, or none, and a request with none: the common assumption, so models are
     * compared on the same work rather than on their limits. */
    struct lgw_model_info large = mA, nolimit = mA;
    large.max_output_tokens = 100000;
    nolimit.max_output_tokens = 0;
    needs.max_output_tokens = 0;
    assert_true(lgw_strategy_estimate_cost(&large, &needs, &cost));
    assert_int_equal(cost, 1000 * 1000 + (int64_t)LGW_STRATEGY_DEFAULT_OUTPUT * 2000);
    assert_true(lgw_strategy_estimate_cost(&nolimit, &needs, &cost));
    assert_int_equal(cost, 1000 * 1000 + (int64_t)LGW_STRATEGY_DEFAULT_OUTPUT * 2000);

    /* The long-context tier: above 200k input tokens every token is billed at the long rates. */
    struct lgw_model_info tiered = mA;
    tiered.price.long_above_tokens = 200000;
    tiered.price.long_input_nusd_per_mtok = 2000000000;
    tiered.price.long_output_nusd_per_mtok = 4000000000;
    tiered.price.long_cached_input_nusd_per_mtok = 2000000000;
    needs = (struct lgw_route_needs){.input_tokens = 200000};
    assert_true(lgw_strategy_estimate_cost(&tiered, &needs, &cost));
    assert_int_equal(cost, 200000LL * 1000 + 100 * 2000); /* at the threshold: base rates */
    needs.input_tokens = 300000;
    assert_true(lgw_strategy_estimate_cost(&tiered, &needs, &cost));
    assert_int_equal(cost, 300000LL * 2000 + 100 * 4000);
    needs.max_output_tokens = 1000;
    assert_true(lgw_strategy_estimate_cost(&tiered, &needs, &cost));
    assert_int_equal(cost, 300000LL * 2000 + 1000 * 4000);

    /* No price: no estimate (never a cost of 0). */
    struct lgw_model_info unpriced = mA;
    unpriced.price = (struct lgw_price){0};
    cost = 12345;
    assert_false(lgw_strategy_estimate_cost(&unpriced, &needs, &cost));

    /* A free model is known and 0. */
    struct lgw_model_info free_m = mA;
    free_m.price = (struct lgw_price){.known = true};
    assert_true(lgw_strategy_estimate_cost(&free_m, &needs, &cost));
    assert_int_equal(cost, 0);
}

/* ------------------------------------------------------------------------------------------- orders */

static void test_cost_order(void **state)
{
    (void)state;
    struct lgw_candidate c[5] = {
        cand(&mA, 0, 300, true, 100, 0), cand(&mC, 2, 0, false, 100, 0), cand(&mB, 1, 100, true, 100, 0),
        cand(&mD, 3, 100, true, 100, 0), cand(&mB, 4, 0, false, 100, 0), /* a second unknown, later */
    };
    uint64_t rng = 7;
    lgw_strategy_order(LGW_STRATEGY_COST, c, 5, 0, &rng);
    /* cheapest first (100 and 100: catalog order breaks the tie), then 300, then the unknowns by order. */
    static const char *const want[] = {"b", "d", "a", "c", "b"};
    assert_ids(c, 5, want);
    assert_int_equal(c[0].order, 1);
    assert_int_equal(c[1].order, 3);
    assert_int_equal(c[3].order, 2);
    assert_int_equal(c[4].order, 4);

    /* An unknown price is not a low one, even against an expensive known one. */
    struct lgw_candidate d[2] = {cand(&mA, 0, 0, false, 100, 0), cand(&mB, 1, INT64_MAX / 2, true, 100, 0)};
    lgw_strategy_order(LGW_STRATEGY_COST, d, 2, 0, &rng);
    assert_string_equal(d[0].model->id, "b");

    /* The same input gives the same output whatever rr and rng are: cost is deterministic. */
    for (uint64_t rr = 0; rr < 5; rr++) {
        struct lgw_candidate e[3] = {cand(&mA, 0, 30, true, 100, 0), cand(&mB, 1, 10, true, 100, 0),
                                     cand(&mC, 2, 20, true, 100, 0)};
        lgw_strategy_order(LGW_STRATEGY_COST, e, 3, rr, &rng);
        static const char *const w[] = {"b", "c", "a"};
        assert_ids(e, 3, w);
    }

    /* Nothing to order, and one candidate. */
    lgw_strategy_order(LGW_STRATEGY_COST, c, 0, 0, &rng);
    struct lgw_candidate one = cand(&mA, 0, 1, true, 100, 0);
    lgw_strategy_order(LGW_STRATEGY_LATENCY, &one, 1, 0, &rng);
    assert_ptr_equal(one.model, &mA);
}

static void test_capability_order(void **state)
{
    (void)state;
    uint64_t rng = 7;
    struct lgw_candidate c[4] = {cand(&mA, 0, 10, true, 100, 0), cand(&mB, 1, 10, true, 100, 0),
                                 cand(&mC, 2, 10, true, 100, 0), cand(&mD, 3, 10, true, 100, 0)};
    lgw_strategy_order(LGW_STRATEGY_CAPABILITY, c, 4, 0, &rng);
    static const char *const want[] = {"b", "c", "d", "a"}; /* 5000, 3000, 2000, 1000 */
    assert_ids(c, 4, want);

    /* Equal windows: the cheaper first, then catalog order. */
    struct lgw_model_info x = mB, y = mB, z = mB;
    x.id = "x";
    y.id = "y";
    z.id = "z";
    struct lgw_candidate d[3] = {cand(&x, 0, 50, true, 100, 0), cand(&y, 1, 20, true, 100, 0),
                                 cand(&z, 2, 50, true, 100, 0)};
    lgw_strategy_order(LGW_STRATEGY_CAPABILITY, d, 3, 0, &rng);
    static const char *const w2[] = {"y", "x", "z"};
    assert_ids(d, 3, w2);
}

static void test_round_robin(void **state)
{
    (void)state;
    uint64_t rng = 7;
    static const char *const first[] = {"a", "b", "c", "a"};
    for (uint64_t rr = 0; rr < 4; rr++) {
        /* Given in a scrambled position order: the rotation follows .order, not the array. */
        struct lgw_candidate c[3] = {cand(&mC, 2, 1, true, 100, 0), cand(&mA, 0, 3, true, 100, 0),
                                     cand(&mB, 1, 2, true, 100, 0)};
        lgw_strategy_order(LGW_STRATEGY_ROUND_ROBIN, c, 3, rr, &rng);
        assert_string_equal(c[0].model->id, first[rr]);
    }
    struct lgw_candidate c[3] = {cand(&mA, 0, 1, true, 100, 0), cand(&mB, 1, 1, true, 100, 0),
                                 cand(&mC, 2, 1, true, 100, 0)};
    lgw_strategy_order(LGW_STRATEGY_ROUND_ROBIN, c, 3, 1, &rng);
    static const char *const w1[] = {"b", "c", "a"}; /* the rest follow on around */
    assert_ids(c, 3, w1);

    /* A large turn counter wraps. */
    struct lgw_candidate d[3] = {cand(&mA, 0, 1, true, 100, 0), cand(&mB, 1, 1, true, 100, 0),
                                 cand(&mC, 2, 1, true, 100, 0)};
    lgw_strategy_order(LGW_STRATEGY_ROUND_ROBIN, d, 3, UINT64_MAX, &rng); /* UINT64_MAX % 3 == 0 */
    static const char *const w2[] = {"a", "b", "c"};
    assert_ids(d, 3, w2);
}

/* Two candidates, 10 ms and 40 ms: weights 1/100 and 1/1600, so the fast one wins 16/17 of the draws. */
static void test_latency_two(void **state)
{
    (void)state;
    uint64_t rng = 0x1234567890ABCDEFULL;
    int fast_first = 0, slow_first = 0;
    for (int i = 0; i < 10000; i++) {
        struct lgw_candidate c[2] = {cand(&mA, 0, 1, true, 40, 0), cand(&mB, 1, 1, true, 10, 0)};
        if (i % 2) { /* both input orders */
            struct lgw_candidate t = c[0];
            c[0] = c[1];
            c[1] = t;
        }
        lgw_strategy_order(LGW_STRATEGY_LATENCY, c, 2, (uint64_t)i, &rng);
        assert_ptr_not_equal(c[0].model, c[1].model);
        if (c[0].model == &mB)
            fast_first++;
        else
            slow_first++;
    }
    assert_int_equal(fast_first + slow_first, 10000);
    if (fast_first <= 9000 || slow_first <= 100)
        fail_msg("fast first %d, slow first %d of 10000", fast_first, slow_first);

    /* Load counts: 10 ms with 9 in flight (expected 100 ms) loses to an idle 40 ms most of the time. */
    int idle_first = 0;
    for (int i = 0; i < 10000; i++) {
        struct lgw_candidate c[2] = {cand(&mA, 0, 1, true, 40, 0), cand(&mB, 1, 1, true, 10, 9)};
        lgw_strategy_order(LGW_STRATEGY_LATENCY, c, 2, 0, &rng);
        if (c[0].model == &mA)
            idle_first++;
    }
    if (idle_first <= 7500 || idle_first >= 10000)
        fail_msg("idle 40 ms first %d of 10000 (want about 86%%)", idle_first);

    /* Equal latency, no load: a fair coin. */
    int a_first = 0;
    for (int i = 0; i < 10000; i++) {
        struct lgw_candidate c[2] = {cand(&mA, 0, 1, true, 20, 0), cand(&mB, 1, 1, true, 20, 0)};
        lgw_strategy_order(LGW_STRATEGY_LATENCY, c, 2, 0, &rng);
        if (c[0].model == &mA)
            a_first++;
    }
    assert_true(a_first > 4000 && a_first < 6000);

    /* A zero latency estimate does not divide by zero. */
    struct lgw_candidate z[2] = {cand(&mA, 0, 1, true, 0, 0), cand(&mB, 1, 1, true, 50, 0)};
    lgw_strategy_order(LGW_STRATEGY_LATENCY, z, 2, 0, &rng);
    assert_ptr_not_equal(z[0].model, z[1].model);
}

/* With more candidates, after the chosen one the rest come by expected latency. */
static void test_latency_many(void **state)
{
    (void)state;
    uint64_t rng = 99;
    int firsts[4] = {0, 0, 0, 0};
    const struct lgw_model_info *models[4] = {&mA, &mB, &mC, &mD};
    for (int i = 0; i < 4000; i++) {
        /* expected latency x (in flight + 1): a 40, b 10, c 30, d 10 x 2 = 20 */
        struct lgw_candidate c[4] = {cand(&mA, 0, 1, true, 40, 0), cand(&mB, 1, 1, true, 10, 0),
                                     cand(&mC, 2, 1, true, 30, 0), cand(&mD, 3, 1, true, 10, 1)};
        lgw_strategy_order(LGW_STRATEGY_LATENCY, c, 4, 0, &rng);
        for (size_t k = 2; k < 4; k++) {
            double prev = c[k - 1].health.latency_ms * (double)(c[k - 1].health.inflight + 1);
            double cur = c[k].health.latency_ms * (double)(c[k].health.inflight + 1);
            if (prev > cur)
                fail_msg("iteration %d: %s (%.0f) before %s (%.0f)", i, c[k - 1].model->id, prev, c[k].model->id, cur);
        }
        bool seen[4] = {false, false, false, false};
        for (size_t k = 0; k < 4; k++)
            for (int m = 0; m < 4; m++)
                if (c[k].model == models[m]) {
                    assert_false(seen[m]); /* a permutation: nothing lost, nothing doubled */
                    seen[m] = true;
                    if (k == 0)
                        firsts[m]++;
                }
    }
    /* The fastest leads most often; even the slowest is sampled now and then. */
    assert_true(firsts[1] > firsts[3]);
    assert_true(firsts[3] > firsts[2]);
    assert_true(firsts[2] > firsts[0]);
    assert_true(firsts[0] > 0);
}

/* A breaker that refuses a candidate sends it to the back, whatever the strategy thinks of it. */
static void test_inadmissible_last(void **state)
{
    (void)state;
    static const enum lgw_strategy all[] = {LGW_STRATEGY_COST, LGW_STRATEGY_LATENCY, LGW_STRATEGY_CAPABILITY,
                                            LGW_STRATEGY_ROUND_ROBIN};
    uint64_t rng = 5;
    for (size_t s = 0; s < 4; s++)
        for (uint64_t rr = 0; rr < 200; rr++) {
            /* b is the best by every measure: cheapest, largest window, fastest, first in order. */
            struct lgw_candidate c[4] = {cand(&mA, 1, 300, true, 80, 0), cand(&mB, 0, 1, true, 1, 0),
                                         cand(&mC, 2, 200, true, 60, 0), cand(&mD, 3, 100, true, 70, 0)};
            refuse(&c[1]);
            lgw_strategy_order(all[s], c, 4, rr, &rng);
            if (c[3].model != &mB)
                fail_msg("%s, turn %llu: the refused candidate is not last", lgw_strategy_name(all[s]),
                         (unsigned long long)rr);
            for (size_t k = 0; k < 3; k++)
                assert_true(c[k].health.admissible);
        }

    /* Two refused ones both go last; cost still orders the live ones. */
    struct lgw_candidate c[4] = {cand(&mA, 0, 10, true, 100, 0), cand(&mB, 1, 20, true, 100, 0),
                                 cand(&mC, 2, 30, true, 100, 0), cand(&mD, 3, 40, true, 100, 0)};
    refuse(&c[0]);
    refuse(&c[2]);
    lgw_strategy_order(LGW_STRATEGY_COST, c, 4, 0, &rng);
    assert_string_equal(c[0].model->id, "b");
    assert_string_equal(c[1].model->id, "d");
    assert_false(c[2].health.admissible);
    assert_false(c[3].health.admissible);

    /* Everyone refused: still every candidate, in the strategy's order (the router then reports it). */
    struct lgw_candidate d[2] = {cand(&mA, 0, 20, true, 100, 0), cand(&mB, 1, 10, true, 100, 0)};
    refuse(&d[0]);
    refuse(&d[1]);
    lgw_strategy_order(LGW_STRATEGY_LATENCY, d, 2, 0, &rng);
    assert_ptr_not_equal(d[0].model, d[1].model);
    lgw_strategy_order(LGW_STRATEGY_ROUND_ROBIN, d, 2, 1, &rng);
    assert_ptr_not_equal(d[0].model, d[1].model);

    /* A single live candidate under latency and round-robin is simply first. */
    for (uint64_t rr = 0; rr < 10; rr++) {
        struct lgw_candidate e[3] = {cand(&mA, 0, 1, true, 10, 0), cand(&mB, 1, 1, true, 20, 0),
                                     cand(&mC, 2, 1, true, 30, 0)};
        refuse(&e[0]);
        refuse(&e[2]);
        lgw_strategy_order(rr % 2 ? LGW_STRATEGY_LATENCY : LGW_STRATEGY_ROUND_ROBIN, e, 3, rr, &rng);
        assert_string_equal(e[0].model->id, "b");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_name),       cmocka_unit_test(test_rand),
        cmocka_unit_test(test_estimate_cost),    cmocka_unit_test(test_cost_order),
        cmocka_unit_test(test_capability_order), cmocka_unit_test(test_round_robin),
        cmocka_unit_test(test_latency_two),      cmocka_unit_test(test_latency_many),
        cmocka_unit_test(test_inadmissible_last),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
