/* test_health.c - circuit breakers (consecutive failures, error ratio, half-open probe), the peak-EWMA
 * latency estimate and the in-flight count. The clock is an argument: every time here is fixed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdbool.h>

#include "routing/health.h"
#include "common/metrics.h"
#include "common/model.h"

static const struct lgw_health_params params = {.failures = 3,
                                                .error_pct = 50,
                                                .window_ms = 10000,
                                                .min_requests = 10,
                                                .cooldown_ms = 1000,
                                                .decay_ms = 1000};

static const struct lgw_model_info mx = {.id = "x", .provider = "p", .kind = LGW_JOB_CHAT, .latency_ms = 500};
static const struct lgw_model_info my = {.id = "y", .provider = "p", .kind = LGW_JOB_CHAT, .latency_ms = 700};

#define T0 1000000 /* an arbitrary monotonic instant, ms */

/* The probe flag of the latest granted acquire, handed back by release/abandon: the tests run one call at a
 * time unless they say otherwise, so the latest acquire is the call being ended. */
static bool last_probe;

static bool acquire(struct lgw_health *h, const struct lgw_model_info *m, int64_t now)
{
    bool probe = false;
    bool go = lgw_health_acquire(h, m, now, &probe);
    if (go)
        last_probe = probe;
    return go;
}

static void release(struct lgw_health *h, const struct lgw_model_info *m, int64_t now, bool failed, int64_t ms)
{
    lgw_health_release(h, m, now, last_probe, failed, ms);
}

static void abandon(struct lgw_health *h, const struct lgw_model_info *m)
{
    lgw_health_abandon(h, m, last_probe);
}

static struct lgw_health_view view(struct lgw_health *h, const struct lgw_model_info *m, int64_t now)
{
    struct lgw_health_view v;
    lgw_health_view(h, m, now, &v);
    return v;
}

/* One whole call: acquire (which must be granted) and release. */
static void call(struct lgw_health *h, const struct lgw_model_info *m, int64_t now, bool failed)
{
    if (!acquire(h, m, now))
        fail_msg("acquire refused at %lld", (long long)now);
    release(h, m, now, failed, 100);
}

static void test_consecutive_failures(void **state)
{
    (void)state;
    struct lgw_health *h = lgw_health_new(&params, NULL);
    struct lgw_health_view v = view(h, &mx, T0);
    assert_int_equal(v.state, LGW_BREAKER_CLOSED);
    assert_true(v.admissible);

    call(h, &mx, T0, true);
    call(h, &mx, T0 + 1, true);
    assert_int_equal(view(h, &mx, T0 + 1).state, LGW_BREAKER_CLOSED);
    call(h, &mx, T0 + 2, true); /* the third in a row opens it */
    v = view(h, &mx, T0 + 2);
    assert_int_equal(v.state, LGW_BREAKER_OPEN);
    assert_false(v.admissible);
    assert_false(acquire(h, &mx, T0 + 2));
    assert_false(acquire(h, &mx, T0 + 2 + 999));
    assert_int_equal(view(h, &mx, T0 + 2 + 999).inflight, 0); /* a refused acquire takes nothing */
    /* Another model is unaffected. */
    assert_true(view(h, &my, T0 + 2).admissible);
    assert_true(acquire(h, &my, T0 + 2));
    release(h, &my, T0 + 3, false, 100);

    /* Past the cooldown: admissible (the view says so), and exactly one probe goes. */
    int64_t t = T0 + 2 + 1000;
    v = view(h, &mx, t);
    assert_int_equal(v.state, LGW_BREAKER_OPEN);
    assert_true(v.admissible);
    assert_true(acquire(h, &mx, t));
    v = view(h, &mx, t);
    assert_int_equal(v.state, LGW_BREAKER_HALF_OPEN);
    assert_false(v.admissible);
    assert_int_equal(v.inflight, 1);
    assert_false(acquire(h, &mx, t));
    assert_false(acquire(h, &mx, t + 5000)); /* however long the probe takes */
    release(h, &mx, t + 100, false, 100);     /* the probe succeeds: closed */
    v = view(h, &mx, t + 100);
    assert_int_equal(v.state, LGW_BREAKER_CLOSED);
    assert_true(v.admissible);
    assert_int_equal(v.inflight, 0);
    call(h, &mx, t + 101, false);
    /* Closed means closed: the old failures are gone, one more does not reopen it. */
    call(h, &mx, t + 102, true);
    assert_int_equal(view(h, &mx, t + 102).state, LGW_BREAKER_CLOSED);
    call(h, &mx, t + 103, false);

    /* A failed probe opens it again, with a new cooldown from the probe's end. */
    t += 200;
    call(h, &mx, t, true);
    call(h, &mx, t + 1, true);
    call(h, &mx, t + 2, true);
    assert_int_equal(view(h, &mx, t + 2).state, LGW_BREAKER_OPEN);
    assert_true(acquire(h, &mx, t + 1002));
    release(h, &mx, t + 1050, true, 100);
    v = view(h, &mx, t + 1050);
    assert_int_equal(v.state, LGW_BREAKER_OPEN);
    assert_false(v.admissible);
    assert_false(acquire(h, &mx, t + 1050 + 999));
    assert_true(acquire(h, &mx, t + 1050 + 1000));
    assert_int_equal(view(h, &mx, t + 1050 + 1000).state, LGW_BREAKER_HALF_OPEN);
    release(h, &mx, t + 2100, false, 100);
    assert_int_equal(view(h, &mx, t + 2100).state, LGW_BREAKER_CLOSED);
    lgw_health_free(h);
    lgw_health_free(NULL);
}

/* How long until a call may go: 0 while closed or once the cooldown is over, the rest of the cooldown while
 * open, -1 while the half-open probe is out (its outcome decides). */
static void test_retry_in(void **state)
{
    (void)state;
    struct lgw_health *h = lgw_health_new(&params, NULL);
    assert_int_equal(lgw_health_retry_in_ms(h, &mx, T0), 0);
    call(h, &mx, T0, true);
    call(h, &mx, T0 + 1, true);
    call(h, &mx, T0 + 2, true); /* open until T0 + 1002 */
    assert_int_equal(lgw_health_retry_in_ms(h, &mx, T0 + 2), 1000);
    assert_int_equal(lgw_health_retry_in_ms(h, &mx, T0 + 702), 300);
    assert_int_equal(lgw_health_retry_in_ms(h, &mx, T0 + 1002), 0);
    assert_true(acquire(h, &mx, T0 + 1002)); /* the probe */
    assert_int_equal(lgw_health_retry_in_ms(h, &mx, T0 + 1003), -1);
    release(h, &mx, T0 + 1100, false, 100);
    assert_int_equal(lgw_health_retry_in_ms(h, &mx, T0 + 1100), 0);
    lgw_health_free(h);
}

/* Calls that were in flight when it opened end while it is open: they do not extend the cooldown. */
static void test_stragglers_while_open(void **state)
{
    (void)state;
    struct lgw_health *h = lgw_health_new(&params, NULL);
    assert_true(acquire(h, &mx, T0));
    assert_true(acquire(h, &mx, T0));
    call(h, &mx, T0, true);
    call(h, &mx, T0, true);
    call(h, &mx, T0, true);
    assert_int_equal(view(h, &mx, T0).state, LGW_BREAKER_OPEN);
    assert_int_equal(view(h, &mx, T0).inflight, 2);
    release(h, &mx, T0 + 500, true, 100);
    release(h, &mx, T0 + 600, false, 100);
    struct lgw_health_view v = view(h, &mx, T0 + 600);
    assert_int_equal(v.state, LGW_BREAKER_OPEN);
    assert_int_equal(v.inflight, 0);
    assert_true(acquire(h, &mx, T0 + 1000)); /* the original cooldown */
    release(h, &mx, T0 + 1010, false, 100);
    assert_int_equal(view(h, &mx, T0 + 1010).state, LGW_BREAKER_CLOSED);
    lgw_health_free(h);
}

static void test_error_ratio(void **state)
{
    (void)state;
    struct lgw_health *h = lgw_health_new(&params, NULL);
    /* ok, failed, ok, failed...: never two failures in a row. The 10th request makes 5/10 = 50%. */
    for (int i = 0; i < 9; i++)
        call(h, &mx, T0 + i * 100, i % 2 == 1);
    assert_int_equal(view(h, &mx, T0 + 900).state, LGW_BREAKER_CLOSED);
    call(h, &mx, T0 + 900, true);
    assert_int_equal(view(h, &mx, T0 + 900).state, LGW_BREAKER_OPEN);
    assert_false(acquire(h, &mx, T0 + 1000));
    lgw_health_free(h);

    /* The same pattern with fewer than min_requests: the ratio says nothing yet. */
    h = lgw_health_new(&params, NULL);
    for (int i = 0; i < 8; i++)
        call(h, &mx, T0 + i * 100, i % 2 == 1);
    assert_int_equal(view(h, &mx, T0 + 800).state, LGW_BREAKER_CLOSED);
    assert_true(view(h, &mx, T0 + 800).admissible);
    lgw_health_free(h);

    /* Below the ratio: 3 failures in 10 (one in every 3 or 4). */
    h = lgw_health_new(&params, NULL);
    for (int i = 0; i < 30; i++)
        call(h, &mx, T0 + i * 100, i % 3 == 2);
    assert_int_equal(view(h, &mx, T0 + 3000).state, LGW_BREAKER_CLOSED);
    lgw_health_free(h);

    /* Spread over time, old outcomes leave the window: 2 s apart, the 10 s window never holds 10. */
    h = lgw_health_new(&params, NULL);
    for (int i = 0; i < 40; i++)
        call(h, &mx, T0 + i * 2000, i % 2 == 1);
    assert_int_equal(view(h, &mx, T0 + 80000).state, LGW_BREAKER_CLOSED);
    lgw_health_free(h);
}

static void test_success_resets_consecutive(void **state)
{
    (void)state;
    struct lgw_health *h = lgw_health_new(&params, NULL);
    call(h, &mx, T0, true);
    call(h, &mx, T0 + 1, true);
    call(h, &mx, T0 + 2, false);
    call(h, &mx, T0 + 3, true);
    call(h, &mx, T0 + 4, true);
    assert_int_equal(view(h, &mx, T0 + 4).state, LGW_BREAKER_CLOSED); /* 2 in a row, then 2: never 3 */
    call(h, &mx, T0 + 5, true);
    assert_int_equal(view(h, &mx, T0 + 5).state, LGW_BREAKER_OPEN);
    lgw_health_free(h);
}

static void test_abandon(void **state)
{
    (void)state;
    struct lgw_health *h = lgw_health_new(&params, NULL);
    call(h, &mx, T0, true);
    call(h, &mx, T0, true);
    call(h, &mx, T0, true);
    assert_true(acquire(h, &mx, T0 + 1000)); /* the probe */
    assert_false(acquire(h, &mx, T0 + 1000));
    abandon(h, &mx); /* the client left: no verdict */
    struct lgw_health_view v = view(h, &mx, T0 + 1001);
    assert_int_equal(v.state, LGW_BREAKER_HALF_OPEN);
    assert_true(v.admissible);
    assert_int_equal(v.inflight, 0);
    assert_true(acquire(h, &mx, T0 + 1001)); /* the next request probes again */
    assert_false(acquire(h, &mx, T0 + 1001));
    release(h, &mx, T0 + 1100, false, 100);
    assert_int_equal(view(h, &mx, T0 + 1100).state, LGW_BREAKER_CLOSED);

    /* Abandoning a call of a closed breaker only drops the in-flight count, and never below zero. */
    assert_true(acquire(h, &mx, T0 + 2000));
    abandon(h, &mx);
    abandon(h, &mx);
    v = view(h, &mx, T0 + 2000);
    assert_int_equal(v.state, LGW_BREAKER_CLOSED);
    assert_int_equal(v.inflight, 0);
    lgw_health_free(h);
}

static void test_latency(void **state)
{
    (void)state;
    struct lgw_health *h = lgw_health_new(&params, NULL);
    /* Seeded from the catalog. */
    assert_true(fabs(view(h, &mx, T0).latency_ms - 500.0) < 0.01);
    /* The first observation replaces the seed, even a lower one. */
    assert_true(acquire(h, &mx, T0));
    release(h, &mx, T0, false, 200);
    assert_true(fabs(view(h, &mx, T0).latency_ms - 200.0) < 0.01);
    /* A higher one replaces it at once (peak). */
    assert_true(acquire(h, &mx, T0 + 10));
    release(h, &mx, T0 + 10, false, 800);
    assert_true(fabs(view(h, &mx, T0 + 10).latency_ms - 800.0) < 0.01);
    /* A lower one 1000 ms later, decay 1000 ms: 800 e^-1 + 100 (1 - e^-1). */
    assert_true(acquire(h, &mx, T0 + 1010));
    release(h, &mx, T0 + 1010, false, 100);
    double want = 800.0 * exp(-1.0) + 100.0 * (1.0 - exp(-1.0));
    double got = view(h, &mx, T0 + 1010).latency_ms;
    if (fabs(got - want) >= 0.01)
        fail_msg("latency %.4f, want %.4f", got, want);
    /* Twice as long later it decays further: w = e^-2. */
    assert_true(acquire(h, &mx, T0 + 3010));
    release(h, &mx, T0 + 3010, false, 100);
    double want2 = want * exp(-2.0) + 100.0 * (1.0 - exp(-2.0));
    assert_true(fabs(view(h, &mx, T0 + 3010).latency_ms - want2) < 0.01);
    /* No time passed: a lower observation moves nothing. */
    assert_true(acquire(h, &mx, T0 + 3010));
    release(h, &mx, T0 + 3010, false, 1);
    assert_true(fabs(view(h, &mx, T0 + 3010).latency_ms - want2) < 0.01);

    /* A failure that came back fast does not make the provider look fast: at least twice the estimate. */
    double before = view(h, &mx, T0 + 3020).latency_ms;
    assert_true(acquire(h, &mx, T0 + 3020));
    release(h, &mx, T0 + 3020, true, 5);
    assert_true(view(h, &mx, T0 + 3020).latency_ms >= 2.0 * before - 0.01);
    /* A slow failure counts at its own latency when that is higher. */
    assert_true(acquire(h, &mx, T0 + 3030));
    release(h, &mx, T0 + 3030, false, 50000);
    assert_true(fabs(view(h, &mx, T0 + 3030).latency_ms - 50000.0) < 0.01);

    /* The other model's estimate is its own. */
    assert_true(fabs(view(h, &my, T0).latency_ms - 700.0) < 0.01);
    /* A failure as the first observation: twice the seed. */
    assert_true(acquire(h, &my, T0));
    release(h, &my, T0, true, 1);
    assert_true(view(h, &my, T0).latency_ms >= 1400.0 - 0.01);
    lgw_health_free(h);
}

/* Read through the view, an estimate decays toward zero while the model goes uncalled, so a provider that
 * was slow is tried again before long; the stored estimate itself only moves with observations. */
static void test_latency_idle_decay(void **state)
{
    (void)state;
    struct lgw_health *h = lgw_health_new(&params, NULL);
    assert_true(acquire(h, &mx, T0));
    release(h, &mx, T0, false, 800);
    assert_true(fabs(view(h, &mx, T0).latency_ms - 800.0) < 0.01);
    assert_true(fabs(view(h, &mx, T0 + 1000).latency_ms - 800.0 * exp(-1.0)) < 0.01);
    assert_true(fabs(view(h, &mx, T0 + 3000).latency_ms - 800.0 * exp(-3.0)) < 0.01);
    assert_true(fabs(view(h, &mx, T0 - 50).latency_ms - 800.0) < 0.01); /* a clock behind: no growth */
    /* A new observation starts the idle time again. */
    assert_true(acquire(h, &mx, T0 + 3000));
    release(h, &mx, T0 + 3000, false, 900);
    assert_true(fabs(view(h, &mx, T0 + 3000).latency_ms - 900.0) < 0.01);
    /* The seed of a model never called ages from when the table first saw it. */
    assert_true(fabs(view(h, &my, T0).latency_ms - 700.0) < 0.01);
    assert_true(fabs(view(h, &my, T0 + 1000).latency_ms - 700.0 * exp(-1.0)) < 0.01);
    lgw_health_free(h);
}

static void test_inflight(void **state)
{
    (void)state;
    struct lgw_health *h = lgw_health_new(&params, NULL);
    assert_int_equal(view(h, &mx, T0).inflight, 0);
    assert_true(acquire(h, &mx, T0));
    assert_true(acquire(h, &mx, T0));
    assert_true(acquire(h, &mx, T0));
    assert_int_equal(view(h, &mx, T0).inflight, 3);
    assert_int_equal(view(h, &my, T0).inflight, 0);
    release(h, &mx, T0 + 10, false, 10);
    assert_int_equal(view(h, &mx, T0).inflight, 2);
    release(h, &mx, T0 + 10, true, 10);
    assert_int_equal(view(h, &mx, T0).inflight, 1);
    abandon(h, &mx);
    assert_int_equal(view(h, &mx, T0).inflight, 0);
    release(h, &mx, T0 + 20, false, 10); /* an unmatched release never goes negative */
    assert_int_equal(view(h, &mx, T0).inflight, 0);
    lgw_health_free(h);
}

static void test_metrics(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_health *h = lgw_health_new(&params, m);
    const char *labels = "provider=\"p\",model=\"x\"";
    assert_int_equal(lgw_metrics_value(m, "llmgw_breaker_state", labels), 0);
    call(h, &mx, T0, true);
    call(h, &mx, T0, true);
    call(h, &mx, T0, true);
    assert_int_equal(lgw_metrics_value(m, "llmgw_breaker_state", labels), 1);
    assert_int_equal(lgw_metrics_value(m, "llmgw_breaker_transitions_total", "provider=\"p\",model=\"x\",to=\"open\""),
                     1);
    assert_true(acquire(h, &mx, T0 + 1000));
    assert_int_equal(lgw_metrics_value(m, "llmgw_breaker_state", labels), 2);
    release(h, &mx, T0 + 1001, false, 10);
    assert_int_equal(lgw_metrics_value(m, "llmgw_breaker_state", labels), 0);
    assert_int_equal(
        lgw_metrics_value(m, "llmgw_breaker_transitions_total", "provider=\"p\",model=\"x\",to=\"half_open\""), 1);
    assert_int_equal(lgw_metrics_value(m, "llmgw_breaker_transitions_total", "provider=\"p\",model=\"x\",to=\"closed\""),
                     1);
    assert_int_equal(lgw_metrics_value(m, "llmgw_breaker_state", "provider=\"p\",model=\"y\""), 0);
    lgw_health_free(h);
    lgw_metrics_free(m);
}

/* A call that was out when the breaker opened and ends well while the probe is out is not the probe's
 * verdict: the breaker stays half-open until the probe itself ends. */
static void test_straggler_is_not_the_probe(void **state)
{
    (void)state;
    struct lgw_health *h = lgw_health_new(&params, NULL);
    bool straggler_probe = true, probe = false;
    assert_true(lgw_health_acquire(h, &mx, T0, &straggler_probe));
    assert_false(straggler_probe);
    call(h, &mx, T0, true);
    call(h, &mx, T0, true);
    call(h, &mx, T0, true);
    assert_true(lgw_health_acquire(h, &mx, T0 + 1000, &probe));
    assert_true(probe);
    lgw_health_release(h, &mx, T0 + 1001, straggler_probe, false, 10);
    assert_int_equal(view(h, &mx, T0 + 1001).state, LGW_BREAKER_HALF_OPEN);
    lgw_health_abandon(h, &mx, straggler_probe); /* nor does a straggler's abandon free the probe slot */
    bool again = false;
    assert_false(lgw_health_acquire(h, &mx, T0 + 1002, &again));
    lgw_health_release(h, &mx, T0 + 1003, probe, true, 10);
    assert_int_equal(view(h, &mx, T0 + 1003).state, LGW_BREAKER_OPEN);
    lgw_health_free(h);
}

/* While calls are out the estimate does not decay: a hung provider must not look fast. */
static void test_no_decay_while_in_flight(void **state)
{
    (void)state;
    struct lgw_health *h = lgw_health_new(&params, NULL);
    call(h, &mx, T0, false); /* observed: 100 ms */
    bool probe;
    assert_true(lgw_health_acquire(h, &mx, T0, &probe));
    assert_true(view(h, &mx, T0 + 60000).latency_ms > 99.9);
    lgw_health_release(h, &mx, T0 + 60000, probe, false, 100);
    assert_true(view(h, &mx, T0 + 61000).latency_ms < 100 * 0.37);
    lgw_health_free(h);
}

/* What the status publisher reads: no entry is made for a model never called (closed, unobserved, zeros);
 * calls and failures count ended calls (an abandoned one is none); the latency is the last estimate, not the
 * idle-decayed one routing sees; each transition moves the change counter once. */
static void test_stats_and_changes(void **state)
{
    (void)state;
    struct lgw_health *h = lgw_health_new(&params, NULL);
    struct lgw_health_stats st;
    lgw_health_stats(h, &mx, &st);
    assert_int_equal(st.state, LGW_BREAKER_CLOSED);
    assert_false(st.observed);
    assert_int_equal(st.calls, 0);
    assert_int_equal(st.failures, 0);
    assert_int_equal(st.inflight, 0);
    assert_int_equal(lgw_health_changes(h), 0);

    call(h, &mx, T0, false);
    call(h, &mx, T0 + 1, true);
    assert_true(acquire(h, &mx, T0 + 2));
    abandon(h, &mx);
    assert_true(acquire(h, &mx, T0 + 3)); /* one call left out */
    lgw_health_stats(h, &mx, &st);
    assert_true(st.observed);
    assert_int_equal(st.calls, 2);
    assert_int_equal(st.failures, 1);
    assert_int_equal(st.inflight, 1);
    assert_int_equal(lgw_health_changes(h), 0);
    release(h, &mx, T0 + 4, true, 100);
    call(h, &mx, T0 + 5, true); /* the third failure in a row: open */
    lgw_health_stats(h, &mx, &st);
    assert_int_equal(st.state, LGW_BREAKER_OPEN);
    assert_int_equal(st.calls, 4);
    assert_int_equal(st.failures, 3);
    assert_int_equal(lgw_health_changes(h), 1);

    /* Long idle: routing's view decays toward zero, the status keeps the last estimate. */
    double last = st.latency_ms;
    assert_true(last > 0);
    assert_true(view(h, &mx, T0 + 60000).latency_ms < last / 100);
    lgw_health_stats(h, &mx, &st);
    assert_true(st.latency_ms == last);

    assert_true(acquire(h, &mx, T0 + 2000)); /* the probe: half-open */
    release(h, &mx, T0 + 2001, false, 100); /* closed */
    lgw_health_stats(h, &mx, &st);
    assert_int_equal(st.state, LGW_BREAKER_CLOSED);
    assert_int_equal(lgw_health_changes(h), 3);
    lgw_health_stats(h, &my, &st); /* another model, never called: still no entry, still zeros */
    assert_false(st.observed);
    assert_int_equal(st.calls, 0);
    lgw_health_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_straggler_is_not_the_probe),
        cmocka_unit_test(test_no_decay_while_in_flight),
        cmocka_unit_test(test_consecutive_failures),
        cmocka_unit_test(test_retry_in),
        cmocka_unit_test(test_stragglers_while_open),
        cmocka_unit_test(test_error_ratio),
        cmocka_unit_test(test_success_resets_consecutive),
        cmocka_unit_test(test_abandon),
        cmocka_unit_test(test_latency),
        cmocka_unit_test(test_latency_idle_decay),
        cmocka_unit_test(test_inflight),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_stats_and_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
