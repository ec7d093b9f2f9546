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
#define HASH_A_ID "ba7816bf8f01"

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
    /* the id is the hash's first 12 hex digits: the same key has the same id everywhere */
    assert_string_equal(cfg.keys[0].id, "key_" HASH_A_ID);
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
    setenv("LLMGW_KAFKA_COST_PARTITION", "random", 1);
    setenv("LLMGW_KAFKA_REBALANCE", "sticky", 1);
    assert_int_equal(lgw_config_load(&cfg, NULL, &errs), LGW_ERR(CONFIG));
    assert_non_null(strstr(errs.ptr, "port"));
    assert_non_null(strstr(errs.ptr, "request_timeout_ms"));
    assert_non_null(strstr(errs.ptr, "tenant_keys"));
    assert_non_null(strstr(errs.ptr, "database_url"));
    assert_non_null(strstr(errs.ptr, "kafka_cost_partition: must be worker or key"));
    assert_non_null(strstr(errs.ptr, "kafka_rebalance: must be eager or cooperative"));
    unsetenv("LLMGW_PORT");
    unsetenv("LLMGW_REQUEST_TIMEOUT_MS");
    unsetenv("LLMGW_TENANT_KEYS");
    unsetenv("LLMGW_DATABASE_URL");
    unsetenv("LLMGW_KAFKA_COST_PARTITION");
    unsetenv("LLMGW_KAFKA_REBALANCE");
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

    /* A file that cannot be read says so, with the system's reason. */
    unlink(path);
    lgw_buf_reset(&errs);
    lgw_config_defaults(&cfg);
    assert_int_equal(lgw_config_load(&cfg, path, &errs), LGW_ERR(CONFIG));
    char want[128];
    snprintf(want, sizeof(want), "cannot read %s: No such file or directory\n", path);
    assert_string_equal(errs.ptr, want);
    lgw_config_cleanup(&cfg);
    lgw_buf_cleanup(&errs);
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

/* name[0..len) breaks the rule whose message contains want (NULL: the name is valid). */
static void check_tenant(const char *name, size_t len, const char *want)
{
    const char *why = "untouched";
    int rc = lgw_config_check_tenant(name, len, &why);
    if (!want) {
        if (rc != 0)
            fail_msg("\"%.*s\" refused: %s", (int)len, name, why);
        assert_null(why);
        return;
    }
    assert_int_equal(rc, LGW_ERR(CONFIG));
    assert_non_null(why);
    if (!strstr(why, want))
        fail_msg("\"%.*s\": want a message with \"%s\", got \"%s\"", (int)len, name, want, why);
}

/* The response cache: off by default; per-tenant TTLs, 0 opting out, malformed entries refused at load. */
static void test_cache_tenant_ttl(void **state)
{
    (void)state;
    struct lgw_config cfg;
    struct lgw_buf errs;
    int64_t ttl;
    lgw_buf_init(&errs, 0);
    lgw_config_defaults(&cfg);
    assert_int_equal(cfg.cache_ttl_s, 0);
    assert_int_equal(lgw_config_cache_tenant_ttl(&cfg, "acme", &ttl, NULL), 0);
    assert_int_equal(ttl, -1);
    lgw_strlcpy(cfg.cache_tenant_ttl, "acme:600,globex:0,ac:5", sizeof(cfg.cache_tenant_ttl));
    assert_int_equal(lgw_config_cache_tenant_ttl(&cfg, "acme", &ttl, NULL), 0);
    assert_int_equal(ttl, 600);
    assert_int_equal(lgw_config_cache_tenant_ttl(&cfg, "globex", &ttl, NULL), 0);
    assert_int_equal(ttl, 0);
    assert_int_equal(lgw_config_cache_tenant_ttl(&cfg, "ac", &ttl, NULL), 0);
    assert_int_equal(ttl, 5);
    assert_int_equal(lgw_config_cache_tenant_ttl(&cfg, "a", &ttl, NULL), 0);
    assert_int_equal(ttl, -1);
    setenv("LLMGW_CACHE_TENANT_TTL", "acme:600,bad name:5,x:-1,y", 1);
    assert_int_equal(lgw_config_load(&cfg, NULL, &errs), LGW_ERR(CONFIG));
    assert_non_null(strstr(errs.ptr, "cache_tenant_ttl: entry 2"));
    unsetenv("LLMGW_CACHE_TENANT_TTL");
    lgw_config_cleanup(&cfg);
    lgw_buf_cleanup(&errs);
}

/* The config file's tenant object says the same next to the tenant's other settings, and wins over the row;
 * a bad value there is a start-up error like any other. */
static void test_cache_tenant_ttl_in_tenants(void **state)
{
    (void)state;
    char path[] = "/tmp/llmgw-config-ttl-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *doc = "{\"cache_tenant_ttl\": \"acme:600,globex:30\", \"tenants\": {\"acme\": {\"cache_ttl_s\": 0,"
                      " \"rpm\": 5}, \"initech\": {\"cache_ttl_s\": 120}}}";
    assert_int_equal(write(fd, doc, strlen(doc)), (ssize_t)strlen(doc));
    close(fd);
    struct lgw_config cfg;
    struct lgw_buf errs;
    int64_t ttl;
    lgw_buf_init(&errs, 0);
    lgw_config_defaults(&cfg);
    assert_int_equal(lgw_config_load(&cfg, path, &errs), 0);
    assert_int_equal(lgw_config_cache_tenant_ttl(&cfg, "acme", &ttl, NULL), 0);
    assert_int_equal(ttl, 0); /* the file's tenant object wins over the row's 600 */
    assert_int_equal(lgw_config_cache_tenant_ttl(&cfg, "globex", &ttl, NULL), 0);
    assert_int_equal(ttl, 30);
    assert_int_equal(lgw_config_cache_tenant_ttl(&cfg, "initech", &ttl, NULL), 0);
    assert_int_equal(ttl, 120);
    lgw_config_cleanup(&cfg);

    doc = "{\"tenants\": {\"acme\": {\"cache_ttl_s\": \"600\"}}}";
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, doc, strlen(doc)), (ssize_t)strlen(doc));
    close(fd);
    lgw_config_defaults(&cfg);
    assert_int_equal(lgw_config_load(&cfg, path, &errs), LGW_ERR(CONFIG));
    assert_non_null(strstr(errs.ptr, "tenants: acme.cache_ttl_s must be an integer"));
    lgw_config_cleanup(&cfg);
    lgw_buf_cleanup(&errs);
    unlink(path);
}

static void test_tenant_name_rules(void **state)
{
    (void)state;
    char max[LGW_TENANT_MAX + 1];
    memset(max, 'a', sizeof(max));
    check_tenant("acme", 4, NULL);
    check_tenant("A-b_c.9", 7, NULL);
    check_tenant(max, LGW_TENANT_MAX - 1, NULL); /* 63 characters: the longest allowed */
    check_tenant("", 0, "must not be empty");
    check_tenant(max, LGW_TENANT_MAX, "at most 63 characters");
    check_tenant(max, sizeof(max), "at most 63 characters");
    check_tenant("bad:tenant", 10, "only ASCII letters, digits");
    check_tenant("a,b", 3, "only ASCII letters, digits");
    check_tenant("a b", 3, "only ASCII letters, digits");
    check_tenant("caf\xc3\xa9", 5, "only ASCII letters, digits");
    check_tenant("a\0b", 3, "only ASCII letters, digits");
    check_tenant("acme:x", 4, NULL); /* only name[0..len) is read */
    assert_int_equal(lgw_config_check_tenant("", 0, NULL), LGW_ERR(CONFIG)); /* why may be NULL */
}

/* The tenant-key list applies the same rule and says which one an entry broke, numbering entries as a
 * reader counts them (a bad entry does not shift the numbers of the ones after it). */
static void test_keys_name_the_rule(void **state)
{
    (void)state;
    char long_name[201];
    memset(long_name, 'x', 200);
    long_name[200] = '\0';
    char spec[1024];
    snprintf(spec, sizeof(spec), "ok:" HASH_A ",:" HASH_A ",%s:" HASH_A ",bad!:" HASH_A ",nohash,x:" HASH_A,
             long_name);
    struct lgw_config cfg;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(lgw_config_parse_keys(&cfg, spec, &errs), LGW_ERR(CONFIG));
    assert_int_equal(cfg.nkeys, 2); /* ok and x */
    assert_string_equal(cfg.keys[1].tenant, "x");
    assert_string_equal(errs.ptr, "tenant_keys: entry 2: a tenant name must not be empty\n"
                                  "tenant_keys: entry 3: a tenant name is at most 63 characters long\n"
                                  "tenant_keys: entry 4: a tenant name may contain only ASCII letters, digits, "
                                  "'.', '_' and '-'\n"
                                  "tenant_keys: entry 5 is not `tenant:<64 hex sha256>`\n");
    lgw_buf_reset(&errs);
    char bad_hex[] = "acme:" HASH_A;
    bad_hex[5] = 'z';
    assert_int_equal(lgw_config_parse_keys(&cfg, bad_hex, &errs), LGW_ERR(CONFIG));
    assert_int_equal(cfg.nkeys, 0);
    assert_string_equal(errs.ptr, "tenant_keys: entry 1: the sha256 is not 64 hex digits\n");
    /* A colon in the name (the line `llmgw keys new --tenant bad:tenant` once printed): the name rule, not
     * a malformed entry, since the digest never has one. */
    lgw_buf_reset(&errs);
    assert_int_equal(lgw_config_parse_keys(&cfg, "bad:tenant:" HASH_A, &errs), LGW_ERR(CONFIG));
    assert_string_equal(errs.ptr, "tenant_keys: entry 1: a tenant name may contain only ASCII letters, digits, "
                                  "'.', '_' and '-'\n");
    lgw_config_cleanup(&cfg);
    lgw_buf_cleanup(&errs);
}

/* Simulated providers are dev only: every production role, and `config check` (role NULL), refuses them with
 * a line naming the setting; dev takes them; without simulate, every role runs. */
static void test_simulate_dev_only(void **state)
{
    (void)state;
    struct lgw_config cfg;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    lgw_config_defaults(&cfg);
    assert_int_equal(cfg.simulate, 0);
    setenv("LLMGW_SIMULATE", "1", 1);
    assert_int_equal(lgw_config_load(&cfg, NULL, &errs), 0);
    unsetenv("LLMGW_SIMULATE");
    assert_int_equal(cfg.simulate, 1);
    assert_int_equal(lgw_config_check_role(&cfg, "dev", &errs), 0);
    assert_null(errs.ptr);
    const char *prod[] = {"ingress", "worker", "ledger", NULL};
    for (size_t i = 0; i < sizeof(prod) / sizeof(prod[0]); i++) {
        lgw_buf_reset(&errs);
        assert_int_equal(lgw_config_check_role(&cfg, prod[i], &errs), LGW_ERR(CONFIG));
        assert_non_null(strstr(errs.ptr, "simulate: simulated providers are for `llmgw dev --simulate` only"));
        if (prod[i])
            assert_non_null(strstr(errs.ptr, prod[i]));
        else
            assert_non_null(strstr(errs.ptr, "every production role refuses them"));
    }
    cfg.simulate = 0;
    lgw_buf_reset(&errs);
    for (size_t i = 0; i < sizeof(prod) / sizeof(prod[0]); i++)
        assert_int_equal(lgw_config_check_role(&cfg, prod[i], &errs), 0);
    assert_int_equal(errs.len, 0);
    lgw_config_cleanup(&cfg);
    lgw_buf_cleanup(&errs);
}

/* Failure percentages: the per-provider entry wins over the default; a bad entry is a load error. */
static void test_simulate_failure_pct(void **state)
{
    (void)state;
    struct lgw_config cfg;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    lgw_config_defaults(&cfg);
    assert_int_equal(cfg.simulate_failure_pct, 5);
    assert_int_equal(cfg.simulate_latency_pct, 100);
    setenv("LLMGW_SIMULATE_FAIL", "openai:100,anthropic:0", 1);
    setenv("LLMGW_SIMULATE_FAILURE_PCT", "7", 1);
    assert_int_equal(lgw_config_load(&cfg, NULL, &errs), 0);
    assert_int_equal(lgw_config_simulate_failure_pct(&cfg, "openai"), 100);
    assert_int_equal(lgw_config_simulate_failure_pct(&cfg, "anthropic"), 0);
    assert_int_equal(lgw_config_simulate_failure_pct(&cfg, "gemini"), 7);
    assert_int_equal(lgw_config_simulate_failure_pct(&cfg, "open"), 7); /* a prefix is not a name */
    const char *bad[] = {"openai:101", "compat:5", "openai", "openai:x", "mistral:5,,gemini:1", ":5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lgw_buf_reset(&errs);
        setenv("LLMGW_SIMULATE_FAIL", bad[i], 1);
        assert_int_equal(lgw_config_load(&cfg, NULL, &errs), LGW_ERR(CONFIG));
        if (!strstr(errs.ptr, "simulate_fail: entry "))
            fail_msg("%s: %s", bad[i], errs.ptr);
    }
    unsetenv("LLMGW_SIMULATE_FAIL");
    unsetenv("LLMGW_SIMULATE_FAILURE_PCT");
    lgw_config_cleanup(&cfg);
    lgw_buf_cleanup(&errs);
}

/* `llmgw config env`: every setting once, at its default; a secret named but never given a value; and the lines,
 * put back into the environment, load as the defaults (so the Helm chart's ConfigMap made from them is a valid
 * configuration that changes nothing). */
static void test_write_env(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    lgw_config_write_env(f);
    fclose(f);
    assert_non_null(strstr(text, "\n# Ingress HTTP port (in `llmgw dev`, the only port).\nLLMGW_PORT=8080\n"));
    assert_non_null(strstr(text, "\nLLMGW_SHUTDOWN_GRACE_MS=10000\n"));
    assert_non_null(strstr(text, "\nLLMGW_LISTEN_ADDR=127.0.0.1\n"));
    assert_non_null(strstr(text, "\nLLMGW_TENANT_KEYS=\n")); /* empty defaults are still listed */
    assert_non_null(strstr(text, "\n# secret: LLMGW_OPENAI_API_KEY\n"));
    assert_null(strstr(text, "LLMGW_OPENAI_API_KEY="));
    assert_null(strstr(text, "LLMGW_ANTHROPIC_API_KEY="));

    size_t nassign = 0, nsecret = 0;
    for (char *line = text, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        *nl = '\0'; /* every line ends with one */
        if (strncmp(line, "# secret: LLMGW_", 16) == 0) {
            nsecret++;
            continue;
        }
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *eq = strchr(line, '=');
        if (!eq || strncmp(line, "LLMGW_", 6) != 0)
            fail_msg("not a comment or an assignment: \"%s\"", line);
        *eq = '\0';
        /* Read alike by a shell, Docker's --env-file and Compose: no whitespace, quotes, '#', '$' or '\'. */
        if (strpbrk(eq + 1, " \t'\"#$\\"))
            fail_msg("%s's default \"%s\" needs quoting", line, eq + 1);
        setenv(line, eq + 1, 1);
        nassign++;
    }
    assert_true(nassign > 80);
    assert_int_equal(nsecret, 8); /* OpenAI, Anthropic, Gemini, Mistral, compat; Kafka's SASL and key passwords and secret properties */

    struct lgw_config def, cfg;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    lgw_config_defaults(&def);
    lgw_config_defaults(&cfg);
    int rc = lgw_config_load(&cfg, NULL, &errs);
    if (rc)
        fail_msg("the defaults as environment do not load: %s", errs.ptr);
    assert_int_equal(cfg.port, def.port);
    assert_int_equal(cfg.shutdown_grace_ms, def.shutdown_grace_ms);
    assert_int_equal(cfg.request_timeout_ms, def.request_timeout_ms);
    assert_string_equal(cfg.database_url, def.database_url);
    assert_string_equal(cfg.kafka_brokers, def.kafka_brokers);
    assert_string_equal(cfg.route_strategy, def.route_strategy);
    /* Unset what this test set: the walk above left each name NUL-terminated at its line's start. */
    for (char *line = text; line < text + len; line += strlen(line) + 1)
        if (strncmp(line, "LLMGW_", 6) == 0)
            unsetenv(line);
    free(text);
    lgw_config_cleanup(&cfg);
    lgw_config_cleanup(&def);
    lgw_buf_cleanup(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_env),
        cmocka_unit_test(test_all_errors_reported),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_compat_models),
        cmocka_unit_test(test_tenant_name_rules),
        cmocka_unit_test(test_cache_tenant_ttl),
        cmocka_unit_test(test_cache_tenant_ttl_in_tenants),
        cmocka_unit_test(test_keys_name_the_rule),
        cmocka_unit_test(test_header_cap_fits_the_connection_memory),
        cmocka_unit_test(test_simulate_dev_only),
        cmocka_unit_test(test_simulate_failure_pct),
        cmocka_unit_test(test_write_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
