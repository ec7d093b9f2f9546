/* test_opsrv.c - the ops HTTP server of worker and ledger: routes, statuses, bodies, content types. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "opsrv.h"

static bool ready_flag;

static bool ready_cb(void *opaque)
{
    (void)opaque;
    return ready_flag;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

static size_t collect(char *data, size_t size, size_t n, void *userdata)
{
    lgw_buf_append(userdata, data, size * n);
    return size * n;
}

static long get(int port, const char *method, const char *path, struct lgw_buf *body, char **ctype)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status;
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ctype)
        *ctype = ct ? strdup(ct) : NULL;
    curl_easy_cleanup(c);
    return status;
}

static void test_routes(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    lgw_metrics_declare(m, "llmgw_jobs_total", LGW_METRIC_COUNTER, "Jobs.");
    lgw_metrics_add(m, "llmgw_jobs_total", "kind=\"chat\"", 2);
    int port = free_port();
    struct lgw_opsrv *srv;
    assert_int_equal(lgw_opsrv_start("127.0.0.1", port, m, ready_cb, NULL, &srv), 0);
    struct lgw_buf body;
    lgw_buf_init(&body, 0);
    char *ctype;

    assert_int_equal(get(port, "GET", "/healthz", &body, NULL), 200);
    assert_string_equal(body.ptr, "{\"status\":\"ok\"}");
    lgw_buf_reset(&body);
    ready_flag = false;
    assert_int_equal(get(port, "GET", "/readyz", &body, NULL), 503);
    ready_flag = true;
    lgw_buf_reset(&body);
    assert_int_equal(get(port, "GET", "/readyz", &body, NULL), 200);
    lgw_buf_reset(&body);
    assert_int_equal(get(port, "GET", "/metrics", &body, &ctype), 200);
    assert_string_equal(ctype, "text/plain; version=0.0.4; charset=utf-8");
    free(ctype);
    assert_non_null(strstr(body.ptr, "llmgw_jobs_total{kind=\"chat\"} 2\n"));

    lgw_buf_reset(&body);
    assert_int_equal(get(port, "GET", "/nope", &body, NULL), 404);
    json_t *err = json_loads(body.ptr, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(err, "error"), "code")), "not_found");
    json_decref(err);
    lgw_buf_reset(&body);
    assert_int_equal(get(port, "POST", "/metrics", &body, NULL), 405);
    err = json_loads(body.ptr, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(err, "error"), "code")),
                        "method_not_allowed");
    json_decref(err);

    /* a second server on the same port fails cleanly */
    struct lgw_opsrv *dup;
    assert_int_not_equal(lgw_opsrv_start("127.0.0.1", port, m, NULL, NULL, &dup), 0);
    assert_int_not_equal(lgw_opsrv_start("not-an-ip", port, m, NULL, NULL, &dup), 0);

    lgw_buf_cleanup(&body);
    lgw_opsrv_stop(srv);
    lgw_metrics_free(m);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
