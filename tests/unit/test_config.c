/* test_config.c - defaults, environment overrides, JSON file, tenant keys, error reporting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "common/config.h"
#include "common/topics.h"
#include "common/errors.h"

#define HASH_A "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static void test_defaults_and_env(void **state)
{
    (void)state;
    struct lgw_config cfg;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    lgw_config_defaults(&cfg);
    assert_int_equal(cfg.port, 8080);
    assert_string_equal(cfg.listen_addr, "127.0.0.1");
    setenv("LLMGW_PORT", "9999", 1);
    setenv("LLMGW_TENANT_KEYS", "acme:" HASH_A ",beta:" HASH_A, 1);
    assert_int_equal(lgw_config_load(&cfg, NULL, &errs), 0);
    assert_int_equal(cfg.port, 9999);
    assert_int_equal(cfg.nkeys, 2);
    assert_string_equal(cfg.keys[1].tenant, "beta");
    assert_int_equal(cfg.keys[0].sha256[0], 0xba);
    assert_int_equal(cfg.keys[0].sha256[31], 0xad);
    unsetenv("LLMGW_PORT");
    unsetenv("LLMGW_TENANT_KEYS");
    lgw_config_cleanup(&cfg);
    lgw_buf_cleanup(&errs);
}

static void test_all_errors_reported(void **state)
{
    (void)state;
    struct lgw_config cfg;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    lgw_config_defaults(&cfg);
    setenv("LLMGW_PORT", "70000", 1);
    setenv("LLMGW_REQUEST_TIMEOUT_MS", "soon", 1);
    setenv("LLMGW_TENANT_KEYS", "acme:nothex", 1);
    setenv("LLMGW_DATABASE_URL", "mysql://x", 1);
    assert_int_equal(lgw_config_load(&cfg, NULL, &errs), LGW_ERR(CONFIG));
    assert_non_null(strstr(errs.ptr, "port"));
    assert_non_null(strstr(errs.ptr, "request_timeout_ms"));
    assert_non_null(strstr(errs.ptr, "tenant_keys"));
    assert_non_null(strstr(errs.ptr, "database_url"));
    unsetenv("LLMGW_PORT");
    unsetenv("LLMGW_REQUEST_TIMEOUT_MS");
    unsetenv("LLMGW_TENANT_KEYS");
    unsetenv("LLMGW_DATABASE_URL");
    lgw_config_cleanup(&cfg);
    lgw_buf_cleanup(&errs);
}

static void test_file(void **state)
{
    (void)state;
    char path[] = "/tmp/llmgw-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "{\"port\": 8181, \"topic_prefix\": \"t1\", \"request_timeout_ms\": \"500\"}";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct lgw_config cfg;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    lgw_config_defaults(&cfg);
    setenv("LLMGW_TOPIC_PREFIX", "fromenv", 1); /* the environment wins over the file */
    assert_int_equal(lgw_config_load(&cfg, path, &errs), 0);
    assert_int_equal(cfg.port, 8181);
    assert_int_equal(cfg.request_timeout_ms, 500);
    assert_string_equal(cfg.topic_prefix, "fromenv");
    char topic[64];
    lgw_topic_name(&cfg, LGW_TOPIC_COST, NULL, topic, sizeof(topic));
    assert_string_equal(topic, "fromenv.cost");
    unsetenv("LLMGW_TOPIC_PREFIX");
    lgw_config_cleanup(&cfg);

    fd = open(path, O_WRONLY | O_TRUNC);
    text = "{\"port\": 1, \"no_such\": 2}";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    lgw_config_defaults(&cfg);
    assert_int_equal(lgw_config_load(&cfg, path, &errs), LGW_ERR(CONFIG));
    assert_non_null(strstr(errs.ptr, "no_such"));
    lgw_config_cleanup(&cfg);
    lgw_buf_cleanup(&errs);
    unlink(path);
}

/* The connection memory holds a head up to max_header_bytes with room for its answer (else the cap would
 * never be reached: libmicrohttpd would answer first). */
static void test_header_cap_fits_the_connection_memory(void **state)
{
    (void)state;
    struct lgw_config cfg;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    lgw_config_defaults(&cfg);
    assert_true(cfg.http_connection_memory >= cfg.max_header_bytes + 4096);
    setenv("LLMGW_MAX_HEADER_BYTES", "16384", 1);
    assert_int_equal(lgw_config_load(&cfg, NULL, &errs), LGW_ERR(CONFIG));
    assert_non_null(strstr(errs.ptr, "http_connection_memory: must be at least max_header_bytes + 4096 (20480)"));
    lgw_config_cleanup(&cfg);
    lgw_buf_reset(&errs);
    lgw_config_defaults(&cfg);
    setenv("LLMGW_HTTP_CONNECTION_MEMORY", "20480", 1);
    assert_int_equal(lgw_config_load(&cfg, NULL, &errs), 0);
    unsetenv("LLMGW_MAX_HEADER_BYTES");
    unsetenv("LLMGW_HTTP_CONNECTION_MEMORY");
    lgw_config_cleanup(&cfg);
    lgw_buf_cleanup(&errs);
}

static void test_compat_models(void **state)
{
    (void)state;
    struct lgw_config cfg;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    lgw_config_defaults(&cfg);
    assert_int_equal(lgw_config_parse_compat_models(&cfg, "llama3=llama3.1:8b,mistral-large@2/6,"
                                                          "embeddings:embed=text-embedding-3-small@0.02/0/0.01", &errs),
                     0);
    assert_int_equal(cfg.ncompat, 3);
    assert_string_equal(cfg.compat[0].id, "llama3");
    assert_string_equal(cfg.compat[0].upstream, "llama3.1:8b");
    assert_false(cfg.compat[0].price.known); /* no price: served, cost marked unknown */
    assert_string_equal(cfg.compat[1].upstream, "mistral-large");
    assert_true(cfg.compat[1].price.known);
    assert_int_equal(cfg.compat[1].price.input_nusd_per_mtok, 2000000000);
    assert_int_equal(cfg.compat[1].price.output_nusd_per_mtok, 6000000000);
    assert_int_equal(cfg.compat[1].price.cached_input_nusd_per_mtok, 2000000000); /* no cached rate: input rate */
    assert_int_equal(cfg.compat[2].kind, LGW_JOB_EMBEDDINGS);
    assert_int_equal(cfg.compat[2].price.cached_input_nusd_per_mtok, 10000000);
    assert_int_equal(lgw_config_parse_compat_models(&cfg, "a@x/y,=b,ok", &errs), LGW_ERR(CONFIG));
    assert_int_equal(cfg.ncompat, 1); /* the good entry is kept, the bad ones reported */
    assert_non_null(strstr(errs.ptr, "bad price"));
    lgw_config_cleanup(&cfg);
    lgw_buf_cleanup(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_env),
        cmocka_unit_test(test_all_errors_reported),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_compat_models),
        cmocka_unit_test(test_header_cap_fits_the_connection_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
