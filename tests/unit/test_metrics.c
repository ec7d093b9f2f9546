/* test_metrics.c - counters, gauges, histograms, the exposition text, the series cap, thread safety. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"

static void test_render_exact(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    lgw_metrics_declare(m, "b_total", LGW_METRIC_COUNTER, "B things.");
    lgw_metrics_declare(m, "a_gauge", LGW_METRIC_GAUGE, "A level.");
    lgw_metrics_add(m, "b_total", "k=\"2\"", 5);
    lgw_metrics_add(m, "b_total", "k=\"1\"", 1);
    lgw_metrics_add(m, "b_total", "k=\"1\"", 2);
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
    assert_non_null(strstr(out.ptr, "lat_seconds_sum{route=\"/x\"} 100.003400\n"));
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
    for (int i = 0; i < 10005; i++) {
        snprintf(labels, sizeof(labels), "i=\"%d\"", i);
        lgw_metrics_add(m, "many_total", labels, 1);
    }
    assert_int_equal(lgw_metrics_value(m, "many_total", "i=\"9999\""), 1);
    assert_int_equal(lgw_metrics_value(m, "many_total", "i=\"10004\""), 0); /* dropped, not grown */
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    lgw_metrics_render(m, &out);
    assert_non_null(strstr(out.ptr, "llmgw_metrics_dropped_series_total 5\n"));
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
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_series_cap),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
