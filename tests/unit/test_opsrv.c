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
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/opsrv.h"

static atomic_bool ready_flag; /* read on the server's thread */

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

/* Performs one request; upload (may be NULL) is sent as the body of a POST. Returns the status, or -1
 * when the transfer failed (say, the server closed the connection). headers (may be NULL) collects them. */
static long request(int port, const char *method, const char *path, const struct lgw_str *upload,
                    struct lgw_buf *body, struct lgw_buf *headers, char **ctype)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (upload) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, upload->ptr);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)upload->len);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    if (headers) {
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, headers);
    }
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (curl_easy_perform(c) != CURLE_OK) {
        curl_easy_cleanup(c);
        return -1;
    }
    long status;
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ctype)
        *ctype = ct ? strdup(ct) : NULL;
    curl_easy_cleanup(c);
    return status;
}

static long get(int port, const char *method, const char *path, struct lgw_buf *body, char **ctype)
{
    return request(port, method, path, NULL, body, NULL, ctype);
}

/* The body must be an OpenAI-style error with the given code. */
static void assert_error_body(const char *body, const char *code)
{
    json_t *doc = json_loads(body, 0, NULL);
    assert_non_null(doc);
    json_t *err = json_object_get(doc, "error");
    assert_string_equal(json_string_value(json_object_get(err, "code")), code);
    assert_string_equal(json_string_value(json_object_get(err, "type")), "invalid_request_error");
    assert_non_null(json_string_value(json_object_get(err, "message")));
    assert_true(json_is_null(json_object_get(err, "param")));
    json_decref(doc);
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

    assert_int_equal(get(port, "GET", "/healthz", &body, &ctype), 200);
    assert_string_equal(body.ptr, "{\"status\":\"ok\"}");
    assert_string_equal(ctype, "application/json");
    free(ctype);
    lgw_buf_reset(&body);
    ready_flag = false;
    assert_int_equal(get(port, "GET", "/readyz", &body, NULL), 503);
    assert_string_equal(body.ptr, "{\"status\":\"not ready\"}");
    ready_flag = true;
    lgw_buf_reset(&body);
    assert_int_equal(get(port, "GET", "/readyz", &body, NULL), 200);
    assert_string_equal(body.ptr, "{\"status\":\"ready\"}");
    lgw_buf_reset(&body);
    assert_int_equal(get(port, "GET", "/metrics", &body, &ctype), 200);
    assert_string_equal(ctype, "text/plain; version=0.0.4; charset=utf-8");
    free(ctype);
    assert_non_null(strstr(body.ptr, "llmgw_jobs_total{kind=\"chat\"} 2\n"));

    lgw_buf_reset(&body);
    assert_int_equal(get(port, "GET", "/nope", &body, NULL), 404);
    assert_error_body(body.ptr, "not_found");
    lgw_buf_reset(&body);
    assert_int_equal(get(port, "POST", "/metrics", &body, NULL), 405);
    assert_error_body(body.ptr, "method_not_allowed");

    /* a body on a route that takes none is read and ignored; 405 says what is allowed */
    struct lgw_buf headers;
    lgw_buf_init(&headers, 0);
    struct lgw_str small = {"{\"x\":1}", 7};
    lgw_buf_reset(&body);
    assert_int_equal(request(port, "POST", "/healthz", &small, &body, &headers, &ctype), 405);
    assert_string_equal(ctype, "application/json");
    free(ctype);
    assert_non_null(strcasestr(headers.ptr, "\r\nAllow: GET, HEAD\r\n"));
    assert_error_body(body.ptr, "method_not_allowed");
    /* HEAD is GET without the body */
    lgw_buf_reset(&body);
    assert_int_equal(get(port, "HEAD", "/healthz", &body, NULL), 200);
    assert_int_equal(body.len, 0);
    /* a large body is not drained forever: either refused or the connection is cut */
    size_t bigsz = 1 << 20;
    char *big = malloc(bigsz);
    memset(big, 'a', bigsz);
    struct lgw_str bigbody = {big, bigsz};
    lgw_buf_reset(&body);
    long st = request(port, "POST", "/healthz", &bigbody, &body, NULL, NULL);
    assert_true(st == -1 || st == 405 || st == 413);
    free(big);
    lgw_buf_cleanup(&headers);
    /* still serving after that */
    lgw_buf_reset(&body);
    assert_int_equal(get(port, "GET", "/healthz", &body, NULL), 200);

    /* a second server on the same port fails cleanly */
    struct lgw_opsrv *dup;
    assert_int_not_equal(lgw_opsrv_start("127.0.0.1", port, m, NULL, NULL, &dup), 0);
    assert_int_not_equal(lgw_opsrv_start("not-an-ip", port, m, NULL, NULL, &dup), 0);

    lgw_buf_cleanup(&body);
    lgw_opsrv_stop(srv);
    lgw_metrics_free(m);
}

/* Started before its role exists: alive, its metrics served, not ready ("starting") until the role's readiness is
 * given, which is then the one asked. */
static void test_started_early(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    lgw_metrics_declare(m, "llmgw_jobs_total", LGW_METRIC_COUNTER, "Jobs.");
    lgw_metrics_add(m, "llmgw_jobs_total", "kind=\"chat\"", 3);
    int port = free_port();
    struct lgw_opsrv *srv;
    assert_int_equal(lgw_opsrv_start_early("127.0.0.1", port, m, &srv), 0);
    struct lgw_buf body;
    lgw_buf_init(&body, 0);
    assert_int_equal(get(port, "GET", "/healthz", &body, NULL), 200);
    assert_string_equal(body.ptr, "{\"status\":\"ok\"}");
    lgw_buf_reset(&body);
    assert_int_equal(get(port, "GET", "/readyz", &body, NULL), 503);
    assert_string_equal(body.ptr, "{\"status\":\"starting\"}");
    lgw_buf_reset(&body);
    assert_int_equal(get(port, "GET", "/metrics", &body, NULL), 200);
    assert_non_null(strstr(body.ptr, "llmgw_jobs_total{kind=\"chat\"} 3\n"));

    /* a second one on its port fails at once, before the role's start would have waited on anything */
    struct lgw_opsrv *dup;
    assert_int_not_equal(lgw_opsrv_start_early("127.0.0.1", port, m, &dup), 0);
    assert_null(dup);

    ready_flag = false;
    lgw_opsrv_set_ready(srv, ready_cb, NULL);
    lgw_buf_reset(&body);
    assert_int_equal(get(port, "GET", "/readyz", &body, NULL), 503);
    assert_string_equal(body.ptr, "{\"status\":\"not ready\"}");
    ready_flag = true;
    lgw_buf_reset(&body);
    assert_int_equal(get(port, "GET", "/readyz", &body, NULL), 200);
    lgw_opsrv_set_ready(NULL, ready_cb, NULL); /* no ops port: nothing to do */
    lgw_buf_cleanup(&body);
    lgw_opsrv_stop(srv);
    lgw_metrics_free(m);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_started_early),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
