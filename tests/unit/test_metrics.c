/* test_metrics.c - counters, gauges, histograms, the exposition text, the series cap, thread safety, and the
 * definitions: own buckets, double values, label caps folding into "other", private metrics, snapshots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "common/metrics.h"

static void test_render_exact(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    lgw_metrics_declare(m, "b_total", LGW_METRIC_COUNTER, "B things.");
    lgw_metrics_declare(m, "a_gauge", LGW_METRIC_GAUGE, "A level.");
    lgw_metrics_add(m, "b_total", "k=\"2\"", 5);
    lgw_metrics_add(m, "b_total", "k=\"1\"", 1);
    lgw_metrics_add(m, "b_total", "k=\"1\"", 2);
    lgw_metrics_add(m, "b_total", "k=\"1\"", -4); /* counters never go down: ignored */
    lgw_metrics_gauge_set(m, "a_gauge", NULL, 7);
    lgw_metrics_gauge_add(m, "a_gauge", NULL, -2);
    assert_int_equal(lgw_metrics_value(m, "b_total", "k=\"1\""), 3);
    assert_int_equal(lgw_metrics_value(m, "a_gauge", NULL), 5);
    assert_int_equal(lgw_metrics_value(m, "nothing", NULL), 0);
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    assert_int_equal(lgw_metrics_render(m, &out), 0);
    const char *want = "# HELP a_gauge A level.\n# TYPE a_gauge gauge\na_gauge 5\n"
                       "# HELP b_total B things.\n# TYPE b_total counter\nb_total{k=\"1\"} 3\nb_total{k=\"2\"} 5\n";
    if (strncmp(out.ptr, want, strlen(want)) != 0)
        fail_msg("rendered:\n%s\nwanted to start with:\n%s", out.ptr, want);
    lgw_buf_cleanup(&out);
    lgw_metrics_free(m);
}

/* The whole text of a small registry, byte for byte: sorted by name (the built-in dropped-series counter
 * included), HELP escaped, an unlabelled histogram with le alone, the shortest exact _sum. */
static void test_render_full(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    lgw_metrics_declare(m, "z_seconds", LGW_METRIC_HISTOGRAM, "Line one\\two\nthree.");
    lgw_metrics_observe(m, "z_seconds", NULL, 0.25);
    lgw_metrics_observe(m, "z_seconds", NULL, 1.5);
    lgw_metrics_gauge_set(m, "m_undeclared", "a=\"x\"", -3); /* no HELP line when there is no help */
    lgw_metrics_declare(m, "empty_total", LGW_METRIC_COUNTER, "Declared, never updated: not rendered.");
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    assert_int_equal(lgw_metrics_render(m, &out), 0);
    const char *want =
        "# HELP llmgw_metrics_dropped_series_total Metric updates dropped because the series cap was reached "
        "or labels were too long.\n"
        "# TYPE llmgw_metrics_dropped_series_total counter\n"
        "llmgw_metrics_dropped_series_total 0\n"
        "# TYPE m_undeclared gauge\n"
        "m_undeclared{a=\"x\"} -3\n"
        "# HELP z_seconds Line one\\\\two\\nthree.\n"
        "# TYPE z_seconds histogram\n"
        "z_seconds_bucket{le=\"0.0005\"} 0\n"
        "z_seconds_bucket{le=\"0.001\"} 0\n"
        "z_seconds_bucket{le=\"0.0025\"} 0\n"
        "z_seconds_bucket{le=\"0.005\"} 0\n"
        "z_seconds_bucket{le=\"0.01\"} 0\n"
        "z_seconds_bucket{le=\"0.025\"} 0\n"
        "z_seconds_bucket{le=\"0.05\"} 0\n"
        "z_seconds_bucket{le=\"0.1\"} 0\n"
        "z_seconds_bucket{le=\"0.25\"} 1\n" /* le is inclusive */
        "z_seconds_bucket{le=\"0.5\"} 1\n"
        "z_seconds_bucket{le=\"1\"} 1\n"
        "z_seconds_bucket{le=\"2.5\"} 2\n"
        "z_seconds_bucket{le=\"5\"} 2\n"
        "z_seconds_bucket{le=\"10\"} 2\n"
        "z_seconds_bucket{le=\"30\"} 2\n"
        "z_seconds_bucket{le=\"60\"} 2\n"
        "z_seconds_bucket{le=\"+Inf\"} 2\n"
        "z_seconds_sum 1.75\n"
        "z_seconds_count 2\n";
    assert_string_equal(out.ptr, want);
    assert_int_equal(lgw_metrics_value(m, "z_seconds", NULL), 2); /* a histogram's value is its count */
    lgw_buf_cleanup(&out);
    lgw_metrics_free(m);
}

/* A histogram update to a counter (or the reverse) would make the text lie about its TYPE: ignored. */
static void test_kind_mismatch(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    lgw_metrics_declare(m, "c_total", LGW_METRIC_COUNTER, "C.");
    lgw_metrics_add(m, "c_total", NULL, 2);
    lgw_metrics_observe(m, "c_total", NULL, 0.1);
    lgw_metrics_declare(m, "c_total", LGW_METRIC_HISTOGRAM, "Redeclared."); /* first type wins */
    lgw_metrics_observe(m, "h_seconds", NULL, 0.1);
    lgw_metrics_add(m, "h_seconds", NULL, 5);
    assert_int_equal(lgw_metrics_value(m, "c_total", NULL), 2);
    assert_int_equal(lgw_metrics_value(m, "h_seconds", NULL), 1);
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    assert_int_equal(lgw_metrics_render(m, &out), 0);
    assert_non_null(strstr(out.ptr, "# HELP c_total C.\n# TYPE c_total counter\nc_total 2\n"));
    assert_null(strstr(out.ptr, "c_total_bucket"));
    lgw_buf_cleanup(&out);
    lgw_metrics_free(m);
}

/* A capped output buffer makes render fail loudly instead of returning a silently truncated scrape. */
static void test_render_cap(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    lgw_metrics_observe(m, "h_seconds", "route=\"/v1/chat/completions\"", 0.1);
    struct lgw_buf out;
    lgw_buf_init(&out, 200);
    assert_int_equal(lgw_metrics_render(m, &out), LGW_ERR(TOO_LARGE));
    lgw_buf_cleanup(&out);
    lgw_metrics_free(m);
}

static void test_histogram(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    lgw_metrics_declare(m, "lat_seconds", LGW_METRIC_HISTOGRAM, "Latency.");
    lgw_metrics_observe(m, "lat_seconds", "route=\"/x\"", 0.0004);
    lgw_metrics_observe(m, "lat_seconds", "route=\"/x\"", 0.003);
    lgw_metrics_observe(m, "lat_seconds", "route=\"/x\"", 100);
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    lgw_metrics_render(m, &out);
    assert_non_null(strstr(out.ptr, "lat_seconds_bucket{route=\"/x\",le=\"0.0005\"} 1\n"));
    assert_non_null(strstr(out.ptr, "lat_seconds_bucket{route=\"/x\",le=\"0.0025\"} 1\n"));
    assert_non_null(strstr(out.ptr, "lat_seconds_bucket{route=\"/x\",le=\"0.005\"} 2\n"));
    assert_non_null(strstr(out.ptr, "lat_seconds_bucket{route=\"/x\",le=\"60\"} 2\n"));
    assert_non_null(strstr(out.ptr, "lat_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(out.ptr, "lat_seconds_sum{route=\"/x\"} 100.0034\n"));
    assert_non_null(strstr(out.ptr, "lat_seconds_count{route=\"/x\"} 3\n"));
    assert_non_null(strstr(out.ptr, "# TYPE lat_seconds histogram\n"));
    lgw_buf_cleanup(&out);
    lgw_metrics_free(m);
}

static void test_series_cap(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    char labels[32];
    for (int i = 0; i < LGW_METRICS_MAX_SERIES + 5; i++) {
        snprintf(labels, sizeof(labels), "i=\"%d\"", i);
        lgw_metrics_add(m, "many_total", labels, 1);
    }
    assert_int_equal(lgw_metrics_value(m, "many_total", "i=\"9999\""), 1);
    assert_int_equal(lgw_metrics_value(m, "many_total", "i=\"10004\""), 0); /* dropped, not grown */
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    lgw_metrics_render(m, &out);
    assert_non_null(strstr(out.ptr, "llmgw_metrics_dropped_series_total 5\n"));
    /* an existing series still updates at the cap */
    lgw_metrics_add(m, "many_total", "i=\"0\"", 1);
    assert_int_equal(lgw_metrics_value(m, "many_total", "i=\"0\""), 2);
    /* label text that long is input leaking into a label: dropped even below the cap */
    struct lgw_metrics *m2 = lgw_metrics_new();
    char big[2048];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    lgw_metrics_add(m2, "long_total", big, 1);
    assert_int_equal(lgw_metrics_value(m2, "long_total", big), 0);
    assert_int_equal(lgw_metrics_value(m2, "llmgw_metrics_dropped_series_total", NULL), 1);
    lgw_metrics_free(m2);
    lgw_buf_cleanup(&out);
    lgw_metrics_free(m);
}

static void *hammer(void *arg)
{
    struct lgw_metrics *m = arg;
    for (int i = 0; i < 100000; i++) {
        lgw_metrics_add(m, "c_total", "t=\"x\"", 1);
        lgw_metrics_observe(m, "h_seconds", NULL, 0.001);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, m);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(lgw_metrics_value(m, "c_total", "t=\"x\""), 400000);
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    lgw_metrics_render(m, &out);
    assert_non_null(strstr(out.ptr, "h_seconds_count 400000\n"));
    lgw_buf_cleanup(&out);
    lgw_metrics_free(m);
}

static const double token_bounds[] = {1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576,
                                      4194304, 16777216, 67108864};

static char *render_all(struct lgw_metrics *m, bool public_only)
{
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    assert_int_equal(public_only ? lgw_metrics_render_public(m, &out) : lgw_metrics_render(m, &out), 0);
    return lgw_buf_take(&out, NULL);
}

static void expect_in(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("missing %s in:\n%s", want, text);
}

static void expect_not_in(const char *text, const char *unwanted)
{
    if (strstr(text, unwanted))
        fail_msg("unexpected %s in:\n%s", unwanted, text);
}

/* A histogram with its own bounds: the GenAI token buckets, le inclusive, whole numbers without exponent. */
static void test_own_buckets(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_metric_def def = {.name = "tok", .type = LGW_METRIC_HISTOGRAM, .help = "Tokens.",
                                 .bounds = token_bounds, .nbounds = 14};
    assert_int_equal(lgw_metrics_define(m, &def), 0);
    lgw_metrics_observe_value(m, "tok", "t=\"input\"", 1);
    lgw_metrics_observe_value(m, "tok", "t=\"input\"", 5);
    lgw_metrics_observe_value(m, "tok", "t=\"input\"", 1e9);
    char *text = render_all(m, false);
    expect_in(text, "# TYPE tok histogram\n");
    expect_in(text, "tok_bucket{t=\"input\",le=\"1\"} 1\n");
    expect_in(text, "tok_bucket{t=\"input\",le=\"4\"} 1\n");
    expect_in(text, "tok_bucket{t=\"input\",le=\"16\"} 2\n");
    expect_in(text, "tok_bucket{t=\"input\",le=\"1048576\"} 2\n");
    expect_in(text, "tok_bucket{t=\"input\",le=\"67108864\"} 2\n");
    expect_in(text, "tok_bucket{t=\"input\",le=\"+Inf\"} 3\n");
    expect_in(text, "tok_sum{t=\"input\"} 1000000006\n");
    expect_in(text, "tok_count{t=\"input\"} 3\n");
    expect_not_in(text, "le=\"0.0005\""); /* none of the default seconds buckets */
    free(text);
    /* Bounds must be ascending and finite. */
    static const double bad[] = {1, 1, 2};
    struct lgw_metric_def baddef = {.name = "bad", .type = LGW_METRIC_HISTOGRAM, .bounds = bad, .nbounds = 3};
    assert_int_equal(lgw_metrics_define(m, &baddef), LGW_ERR(INVALID));
    baddef.nbounds = LGW_METRICS_MAX_BOUNDS + 1;
    assert_int_equal(lgw_metrics_define(m, &baddef), LGW_ERR(INVALID));
    lgw_metrics_free(m);
}

/* The GenAI duration buckets print as written (0.01 .. 81.92). */
static void test_duration_buckets(void **state)
{
    (void)state;
    static const double dur[] = {0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                                 40.96, 81.92};
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_metric_def def = {.name = "d_seconds", .type = LGW_METRIC_HISTOGRAM, .bounds = dur, .nbounds = 14};
    assert_int_equal(lgw_metrics_define(m, &def), 0);
    lgw_metrics_observe_value(m, "d_seconds", NULL, 0.3);
    char *text = render_all(m, false);
    expect_in(text, "d_seconds_bucket{le=\"0.01\"} 0\nd_seconds_bucket{le=\"0.02\"} 0\n"
                    "d_seconds_bucket{le=\"0.04\"} 0\nd_seconds_bucket{le=\"0.08\"} 0\n"
                    "d_seconds_bucket{le=\"0.16\"} 0\nd_seconds_bucket{le=\"0.32\"} 1\n"
                    "d_seconds_bucket{le=\"0.64\"} 1\nd_seconds_bucket{le=\"1.28\"} 1\n"
                    "d_seconds_bucket{le=\"2.56\"} 1\nd_seconds_bucket{le=\"5.12\"} 1\n"
                    "d_seconds_bucket{le=\"10.24\"} 1\nd_seconds_bucket{le=\"20.48\"} 1\n"
                    "d_seconds_bucket{le=\"40.96\"} 1\nd_seconds_bucket{le=\"81.92\"} 1\n"
                    "d_seconds_bucket{le=\"+Inf\"} 1\n"
                    "d_seconds_sum 0.3\nd_seconds_count 1\n");
    free(text);
    lgw_metrics_free(m);
}

/* A double counter adds fractions exactly as doubles do; integer updates are refused on it only for _f. */
static void test_double_values(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_metric_def def = {.name = "usd_total", .type = LGW_METRIC_COUNTER, .is_double = true};
    assert_int_equal(lgw_metrics_define(m, &def), 0);
    lgw_metrics_add_f(m, "usd_total", "k=\"a\"", 0.25);
    lgw_metrics_add_f(m, "usd_total", "k=\"a\"", 0.5);
    lgw_metrics_add_f(m, "usd_total", "k=\"a\"", -1);  /* counters never go down */
    lgw_metrics_add(m, "usd_total", "k=\"b\"", 0);     /* the 0 that makes a series visible */
    lgw_metrics_add_f(m, "int_total", NULL, 1.5);      /* an integer metric ignores a double */
    assert_true(lgw_metrics_value_f(m, "usd_total", "k=\"a\"") == 0.75);
    char *text = render_all(m, false);
    expect_in(text, "usd_total{k=\"a\"} 0.75\nusd_total{k=\"b\"} 0\n");
    expect_in(text, "int_total 0\n");
    free(text);
    lgw_metrics_free(m);
}

/* Past its cap, a metric records new values of a capped label under "other"; each metric has its own slots,
 * values already admitted keep their series, and "other" itself never takes a slot. */
static void test_label_caps(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    assert_int_equal(lgw_metrics_cap_label(m, "tenant", 2), 0);
    lgw_metrics_add(m, "a_total", "tenant=\"t1\",model=\"x\"", 1);
    lgw_metrics_add(m, "a_total", "tenant=\"other\",model=\"x\"", 1);
    lgw_metrics_add(m, "a_total", "tenant=\"t2\",model=\"x\"", 1);
    lgw_metrics_add(m, "a_total", "tenant=\"t3\",model=\"x\"", 1);
    lgw_metrics_add(m, "a_total", "tenant=\"t4\",model=\"x\"", 1);
    lgw_metrics_add(m, "a_total", "tenant=\"t1\",model=\"x\"", 1);
    lgw_metrics_add(m, "b_total", "tenant=\"t3\"", 1); /* another metric: its own two slots */
    assert_int_equal(lgw_metrics_value(m, "a_total", "tenant=\"t1\",model=\"x\""), 2);
    assert_int_equal(lgw_metrics_value(m, "a_total", "tenant=\"t2\",model=\"x\""), 1);
    assert_int_equal(lgw_metrics_value(m, "a_total", "tenant=\"other\",model=\"x\""), 3);
    assert_int_equal(lgw_metrics_value(m, "a_total", "tenant=\"t3\",model=\"x\""), 0);
    assert_int_equal(lgw_metrics_value(m, "b_total", "tenant=\"t3\""), 1);
    /* A value past the cap folds on every update, not only its first: it never gets a series of its own for
     * later updates to find. */
    lgw_metrics_add(m, "a_total", "tenant=\"t4\",model=\"x\"", 1);
    lgw_metrics_add(m, "a_total", "tenant=\"t4\",model=\"x\"", 1);
    assert_int_equal(lgw_metrics_value(m, "a_total", "tenant=\"other\",model=\"x\""), 5);
    assert_int_equal(lgw_metrics_value(m, "a_total", "tenant=\"t4\",model=\"x\""), 0);
    /* Unparseable label text is left as given rather than guessed at. */
    lgw_metrics_add(m, "a_total", "tenant=t9", 1);
    assert_int_equal(lgw_metrics_value(m, "a_total", "tenant=t9"), 1);
    /* A second capped key folds independently, and an escaped value is compared as written. */
    assert_int_equal(lgw_metrics_cap_label(m, "model", 1), 0);
    lgw_metrics_add(m, "c_total", "tenant=\"a\\\"b\",model=\"m1\"", 1);
    lgw_metrics_add(m, "c_total", "tenant=\"a\\\"b\",model=\"m2\"", 1);
    assert_int_equal(lgw_metrics_value(m, "c_total", "tenant=\"a\\\"b\",model=\"other\""), 1);
    for (size_t i = 0; i < LGW_METRICS_MAX_CAPPED_LABELS - 2; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%zu", i);
        assert_int_equal(lgw_metrics_cap_label(m, key, 3), 0);
    }
    assert_int_equal(lgw_metrics_cap_label(m, "one_too_many", 3), LGW_ERR(TOO_LARGE));
    lgw_metrics_free(m);
}

/* A private metric is in the full rendering and absent from the public one. */
static void test_private(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_metric_def def = {.name = "spend_total", .type = LGW_METRIC_COUNTER, .is_private = true,
                                 .is_double = true, .help = "Per tenant."};
    assert_int_equal(lgw_metrics_define(m, &def), 0);
    lgw_metrics_add_f(m, "spend_total", "tenant=\"acme\"", 1.5);
    lgw_metrics_add(m, "public_total", NULL, 2);
    char *all = render_all(m, false), *pub = render_all(m, true);
    expect_in(all, "# HELP spend_total Per tenant.\n# TYPE spend_total counter\nspend_total{tenant=\"acme\"} 1.5\n");
    expect_in(all, "public_total 2\n");
    expect_not_in(pub, "spend_total");
    expect_not_in(pub, "acme");
    expect_in(pub, "public_total 2\n");
    free(all);
    free(pub);
    lgw_metrics_free(m);
}

struct visit_log {
    struct lgw_metrics *m;
    char text[4096];
    size_t len;
    int stop_after; /* stop the walk after this many metrics (0: never) */
    int seen;
};

static int visit_cb(void *opaque, const struct lgw_metric_info *info, const struct lgw_metric_point *points,
                    size_t npoints)
{
    struct visit_log *v = opaque;
    assert_true(info->time_unix_ns > 0);
    v->len += (size_t)snprintf(v->text + v->len, sizeof(v->text) - v->len, "%s|%s|%s|%d|%d|%zu:", info->name,
                               info->otel_name, info->unit, (int)info->type, (int)info->is_private, info->nbounds);
    for (size_t i = 0; i < npoints; i++) {
        const struct lgw_metric_point *p = &points[i];
        assert_true(p->start_unix_ns > 0 && p->start_unix_ns <= info->time_unix_ns);
        for (size_t l = 0; l < p->nlabels; l++)
            v->len += (size_t)snprintf(v->text + v->len, sizeof(v->text) - v->len, " %s/%s=%s", p->labels[l].key,
                                       p->labels[l].otel_key, p->labels[l].value);
        if (info->type == LGW_METRIC_HISTOGRAM) {
            v->len += (size_t)snprintf(v->text + v->len, sizeof(v->text) - v->len, " n=%llu s=%g b=",
                                       (unsigned long long)p->count, p->sum);
            for (size_t b = 0; b <= info->nbounds; b++)
                v->len += (size_t)snprintf(v->text + v->len, sizeof(v->text) - v->len, "%llu,",
                                           (unsigned long long)p->bucket_counts[b]);
        } else {
            v->len += (size_t)snprintf(v->text + v->len, sizeof(v->text) - v->len, " v=%g", p->value);
        }
    }
    v->len += (size_t)snprintf(v->text + v->len, sizeof(v->text) - v->len, "\n");
    /* The lock is not held: updating the registry from the visitor must not deadlock. */
    lgw_metrics_add(v->m, "visited_total", NULL, 1);
    return ++v->seen == v->stop_after ? 7 : 0;
}

/* The snapshot gives every metric with its OTel name and unit, labels unescaped with OTel keys, histogram
 * buckets NON-cumulative, and leaves private metrics out unless asked. */
static void test_snapshot(void **state)
{
    (void)state;
    static const double b3[] = {1, 10, 100};
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_metric_def tok = {.name = "gen_ai_client_token_usage", .type = LGW_METRIC_HISTOGRAM,
                                 .otel_name = "gen_ai.client.token.usage", .unit = "{token}", .bounds = b3,
                                 .nbounds = 3};
    struct lgw_metric_def cost = {.name = "cost_usd_total", .type = LGW_METRIC_COUNTER, .unit = "USD",
                                  .is_private = true, .is_double = true};
    assert_int_equal(lgw_metrics_define(m, &tok), 0);
    assert_int_equal(lgw_metrics_define(m, &cost), 0);
    const char *labels = "gen_ai_request_model=\"m\\\"1\",gen_ai_token_type=\"input\"";
    lgw_metrics_observe_value(m, "gen_ai_client_token_usage", labels, 5);
    lgw_metrics_observe_value(m, "gen_ai_client_token_usage", labels, 7);
    lgw_metrics_observe_value(m, "gen_ai_client_token_usage", labels, 500);
    lgw_metrics_add_f(m, "cost_usd_total", "tenant=\"acme\"", 0.125);
    lgw_metrics_gauge_set(m, "g", NULL, -3);

    struct visit_log v = {.m = m};
    assert_int_equal(lgw_metrics_snapshot(m, false, visit_cb, &v), 0);
    const char *want_public =
        "g|g||1|0|0: v=-3\n"
        "gen_ai_client_token_usage|gen_ai.client.token.usage|{token}|2|0|3: "
        "gen_ai_request_model/gen_ai.request.model=m\"1 gen_ai_token_type/gen_ai.token.type=input "
        "n=3 s=512 b=0,2,0,1,\n"
        "llmgw_metrics_dropped_series_total|llmgw_metrics_dropped_series_total||0|0|0: v=0\n";
    if (strcmp(v.text, want_public) != 0)
        fail_msg("public snapshot:\n%s\nwanted:\n%s", v.text, want_public);

    struct visit_log all = {.m = m};
    assert_int_equal(lgw_metrics_snapshot(m, true, visit_cb, &all), 0);
    if (!strstr(all.text, "cost_usd_total|cost_usd_total|USD|0|1|0: tenant/tenant=acme v=0.125\n"))
        fail_msg("full snapshot lacks the private metric:\n%s", all.text);
    if (!strstr(all.text, "visited_total|visited_total||0|0|0: v=3\n")) /* one per metric of the first walk */
        fail_msg("full snapshot lacks visited_total 3:\n%s", all.text);

    struct visit_log stop = {.m = m, .stop_after = 2};
    assert_int_equal(lgw_metrics_snapshot(m, true, visit_cb, &stop), 7);
    assert_int_equal(stop.seen, 2);
    lgw_metrics_free(m);
}

static void count_hook(void *opaque, struct lgw_metrics *m)
{
    int *calls = opaque;
    (*calls)++;
    lgw_metrics_gauge_set(m, "hooked", NULL, *calls); /* a hook may update the registry it is called by */
}

/* Collect hooks run before each render and snapshot; a removed one no more. Remove drops one series. */
static void test_hooks_and_remove(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    int calls = 0;
    assert_int_equal(lgw_metrics_hook_add(m, count_hook, &calls), 0);
    char *text = render_all(m, true);
    expect_in(text, "hooked 1\n");
    free(text);
    struct visit_log v = {.m = m};
    assert_int_equal(lgw_metrics_snapshot(m, false, visit_cb, &v), 0);
    assert_int_equal(calls, 2);
    lgw_metrics_hook_remove(m, count_hook, &calls);
    text = render_all(m, false);
    assert_int_equal(calls, 2);
    expect_in(text, "hooked 2\n");
    free(text);
    lgw_metrics_gauge_set(m, "lag", "partition=\"0\"", 5);
    lgw_metrics_gauge_set(m, "lag", "partition=\"1\"", 7);
    lgw_metrics_remove(m, "lag", "partition=\"0\"");
    lgw_metrics_remove(m, "lag", "partition=\"9\""); /* absent: nothing */
    lgw_metrics_remove(m, "llmgw_metrics_dropped_series_total", NULL); /* the registry's own: kept */
    text = render_all(m, false);
    expect_not_in(text, "lag{partition=\"0\"}");
    expect_in(text, "lag{partition=\"1\"} 7\n");
    expect_in(text, "llmgw_metrics_dropped_series_total 0\n");
    free(text);
    for (int i = 0; i < LGW_METRICS_MAX_HOOKS; i++)
        lgw_metrics_hook_add(m, count_hook, &calls);
    assert_int_equal(lgw_metrics_hook_add(m, count_hook, &calls), LGW_ERR(TOO_LARGE));
    for (int i = 0; i < LGW_METRICS_MAX_HOOKS; i++)
        lgw_metrics_hook_remove(m, count_hook, &calls);
    lgw_metrics_free(m);
}

/* Label values from outside are escaped, and cut before an escape rather than in the middle of one. */
static void test_escape(void **state)
{
    (void)state;
    char out[16];
    assert_string_equal(lgw_metrics_escape("a\"b\\c\nd", out, sizeof(out)), "a\\\"b\\\\c\\nd");
    assert_string_equal(lgw_metrics_escape("abcdefgh\"", out, 10), "abcdefgh");
    assert_string_equal(lgw_metrics_escape(NULL, out, sizeof(out)), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_exact),
        cmocka_unit_test(test_render_full),
        cmocka_unit_test(test_kind_mismatch),
        cmocka_unit_test(test_render_cap),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_series_cap),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_own_buckets),
        cmocka_unit_test(test_duration_buckets),
        cmocka_unit_test(test_double_values),
        cmocka_unit_test(test_label_caps),
        cmocka_unit_test(test_private),
        cmocka_unit_test(test_snapshot),
        cmocka_unit_test(test_hooks_and_remove),
        cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
