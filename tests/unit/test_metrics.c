/* test_metrics.c - counters, gauges, histograms, the exposition text, the series cap, thread safety. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
