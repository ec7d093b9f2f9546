/* test_limits_log.c - what the rate limiter keeps in Redis (limits.c's scripts, on the Redis LLMGW_TEST_REDIS
 * names): one log per scope that its request and token limits share, each entry carrying its tokens; the
 * waits a refusal computes from those entries; the token sum when it expired before its entries; a
 * correction after the entry left the window; an earlier version's keys; names too long for a key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/errors.h"
#include "common/redis.h"
#include "limits/limits.h"
#include "tests/support/services.h"

struct fixture {
    struct lgw_config cfg;
    struct lgw_redis *r;
    struct lgw_limits *l;
    char tenant[48];
    struct lgw_buf errs;
};

static int fx_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    *state = f;
    lgw_config_defaults(&f->cfg);
    lgw_buf_init(&f->errs, 0);
    return 0;
}

static int fx_teardown(void **state)
{
    struct fixture *f = *state;
    lgw_limits_free(f->l);
    lgw_redis_free(f->r);
    json_decref(f->cfg.tenants);
    lgw_buf_cleanup(&f->errs);
    free(f);
    return 0;
}

/* Connects to the test's Redis and makes the limiter from f->cfg (tenants: the "tenants" object or NULL).
 * The tenant is new for each case, so cases never see each other's logs. */
static void start(struct fixture *f, const char *tag, const char *tenants_json)
{
    const char *hp = lgw_test_service("LLMGW_TEST_REDIS");
    char url[256];
    snprintf(url, sizeof(url), "redis://%s", hp);
    snprintf(f->tenant, sizeof(f->tenant), "%s%d", tag, (int)getpid());
    struct lgw_redis_options opt = {.url = url, .timeout_ms = 1000, .connect_timeout_ms = 1000, .pool = 1};
    assert_int_equal(lgw_redis_new(&opt, &f->r), 0);
    if (tenants_json) {
        char json[2048];
        /* The tenant's name is the case's own: "%T" in tenants_json stands for it. */
        const char *at = strstr(tenants_json, "%T");
        assert_non_null(at);
        int len = snprintf(json, sizeof(json), "%.*s%s%s", (int)(at - tenants_json), tenants_json, f->tenant, at + 2);
        assert_true(len > 0 && (size_t)len < sizeof(json));
        json_error_t jerr;
        f->cfg.tenants = json_loads(json, 0, &jerr);
        assert_non_null(f->cfg.tenants);
    }
    assert_int_equal(lgw_limits_new(&f->cfg, f->r, NULL, &f->l, &f->errs), 0);
}

/* The name Redis keeps the case tenant's key under: "<prefix>:rl:{<tenant>}:<suffix>". */
static const char *key_of(struct fixture *f, const char *suffix, char out[512])
{
    snprintf(out, 512, "%s:rl:{%s}:%s", f->cfg.topic_prefix, f->tenant, suffix);
    return out;
}

static redisReply *cmd(struct fixture *f, int argc, const char **argv)
{
    redisReply *reply = NULL;
    assert_int_equal(lgw_redis_command(f->r, argc, argv, NULL, &reply), 0);
    return reply;
}

/* The integer answer of a one-key command (ZCARD, EXISTS, PTTL), or GET's number (-1 when absent). */
static long long key_int(struct fixture *f, const char *command, const char *suffix)
{
    char key[512];
    redisReply *reply = cmd(f, 2, (const char *[]){command, key_of(f, suffix, key)});
    long long v = reply->type == REDIS_REPLY_INTEGER ? reply->integer
                  : reply->type == REDIS_REPLY_STRING ? atoll(reply->str)
                                                       : -1;
    freeReplyObject(reply);
    return v;
}

static bool has_member(struct fixture *f, const char *suffix, const char *member)
{
    char key[512];
    redisReply *reply = cmd(f, 3, (const char *[]){"ZSCORE", key_of(f, suffix, key), member});
    bool has = reply->type == REDIS_REPLY_STRING;
    freeReplyObject(reply);
    return has;
}

static int admit(struct fixture *f, const char *id, const char *user, int64_t tokens, struct lgw_limits_ticket *t,
                 struct lgw_limits_state *st)
{
    char msg[256];
    struct lgw_limits_request rq = {.id = id, .tenant = f->tenant, .user = user, .tokens = tokens,
                                    .hold_ms = 10000};
    return lgw_limits_admit(f->l, &rq, t, st, msg, sizeof(msg));
}

/* A tenant with request, token and in-flight limits, and a user with a request limit only: one entry per
 * request in the tenant's log, carrying its tokens (corrected at the end), one in the user's log (no tokens
 * there), and nothing under the keys each limit had a log of its own in. */
static void test_one_log_per_scope(void **state)
{
    struct fixture *f = *state;
    f->cfg.limit_tenant_rpm = 100;
    f->cfg.limit_tenant_tpm = 1000;
    f->cfg.limit_tenant_inflight = 10;
    f->cfg.limit_user_rpm = 100;
    start(f, "log", NULL);
    struct lgw_limits_ticket t[3];
    struct lgw_limits_state st;
    const char *ids[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(admit(f, ids[i], "bob", 7, &t[i], &st), 0);
    assert_int_equal(st.req_remaining, 97);
    assert_int_equal(st.tok_remaining, 1000 - 21);
    lgw_limits_finish(f->l, &t[0], 3);
    assert_int_equal(key_int(f, "ZCARD", "l"), 3);
    assert_int_equal(key_int(f, "GET", "l:s"), 17);
    assert_true(has_member(f, "l", "3:a"));
    assert_false(has_member(f, "l", "7:a"));
    assert_true(has_member(f, "l", "7:b"));
    assert_int_equal(key_int(f, "ZCARD", "u:bob:l"), 3);
    assert_true(has_member(f, "u:bob:l", "0:c"));
    assert_int_equal(key_int(f, "EXISTS", "u:bob:l:s"), 0);
    assert_int_equal(key_int(f, "ZCARD", "i"), 2);
    assert_true(key_int(f, "PTTL", "l") > 0 && key_int(f, "PTTL", "l:s") > 0);
    const char *gone[] = {"r", "t", "t:h", "t:s", "u:bob:r"};
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        assert_int_equal(key_int(f, "EXISTS", gone[i]), 0);
    /* The next request sees the corrected sum: 17 + its 7. */
    struct lgw_limits_ticket d;
    assert_int_equal(admit(f, "d", "bob", 7, &d, &st), 0);
    assert_int_equal(st.tok_remaining, 1000 - 24);
    lgw_limits_finish(f->l, &d, -1);
    lgw_limits_finish(f->l, &t[1], -1);
    lgw_limits_finish(f->l, &t[2], -1);
    assert_int_equal(key_int(f, "ZCARD", "i"), 0);
}

/* A refusal's wait is read from the entries' own tokens: until enough of the oldest have left the window. */
static void test_token_wait_from_entries(void **state)
{
    struct fixture *f = *state;
    f->cfg.limit_tenant_tpm = 100;
    f->cfg.limit_window_ms = 3000;
    start(f, "wait", NULL);
    struct lgw_limits_ticket a, b, c;
    struct lgw_limits_state st;
    assert_int_equal(admit(f, "a", NULL, 40, &a, &st), 0);
    usleep(600000);
    assert_int_equal(admit(f, "b", NULL, 40, &b, &st), 0);
    /* 60 more fit once a's 40 leave: about 2.4 s from now. */
    assert_int_equal(admit(f, "c", NULL, 60, &c, &st), LGW_ERR(TOKENS_RATE_LIMITED));
    assert_true(st.retry_after_ms > 1900 && st.retry_after_ms <= 2400);
    /* 90 more need b's 40 gone too: about 3 s from now. */
    assert_int_equal(admit(f, "c", NULL, 90, &c, &st), LGW_ERR(TOKENS_RATE_LIMITED));
    assert_true(st.retry_after_ms > 2500 && st.retry_after_ms <= 3000);
    /* More than the limit itself never fits: the whole window. */
    assert_int_equal(admit(f, "c", NULL, 101, &c, &st), LGW_ERR(TOKENS_RATE_LIMITED));
    assert_int_equal(st.retry_after_ms, 3000);
    lgw_limits_finish(f->l, &a, -1);
    lgw_limits_finish(f->l, &b, -1);
}

/* The sum expires one second after the window past the last token admission. If it went while its entries
 * stayed (nothing came to drop them), dropping them later must not leave a negative sum, and a correction
 * must not make a sum anew (it would have no expiry). */
static void test_sum_gone_before_its_entries(void **state)
{
    struct fixture *f = *state;
    f->cfg.limit_tenant_tpm = 100;
    f->cfg.limit_window_ms = 300;
    start(f, "sum", NULL);
    struct lgw_limits_ticket a, b, c;
    struct lgw_limits_state st;
    assert_int_equal(admit(f, "a", NULL, 50, &a, &st), 0);
    char key[512];
    freeReplyObject(cmd(f, 2, (const char *[]){"DEL", key_of(f, "l:s", key)})); /* as its expiry would */
    lgw_limits_finish(f->l, &a, 20);
    assert_int_equal(key_int(f, "EXISTS", "l:s"), 0);
    assert_true(has_member(f, "l", "20:a"));
    usleep(350000); /* a leaves the window */
    assert_int_equal(admit(f, "b", NULL, 10, &b, &st), 0);
    assert_int_equal(st.tok_remaining, 90);
    assert_int_equal(key_int(f, "GET", "l:s"), 10);
    assert_true(key_int(f, "PTTL", "l:s") > 0);
    /* A correction after the entry left the window: the entry stays gone, the sum stays b's. */
    usleep(350000);
    assert_int_equal(admit(f, "c", NULL, 5, &c, &st), 0);
    lgw_limits_finish(f->l, &b, 80);
    assert_false(has_member(f, "l", "80:b") || has_member(f, "l", "10:b"));
    assert_int_equal(key_int(f, "ZCARD", "l"), 1);
    assert_int_equal(key_int(f, "GET", "l:s"), 5);
    lgw_limits_finish(f->l, &c, -1);
}

/* A rolling upgrade: the keys of versions before one log per scope (a set per limit, the tokens in a hash) are
 * neither read nor written, so a full old log does not refuse a new instance's request (each version counts
 * its own share for one window, as ARCHITECTURE.md says) and the old keys are left to expire. */
static void test_old_keys_left_alone(void **state)
{
    struct fixture *f = *state;
    f->cfg.limit_tenant_rpm = 2;
    f->cfg.limit_tenant_tpm = 100;
    start(f, "old", NULL);
    char r[512], t[512], h[512], s[512];
    key_of(f, "r", r);
    key_of(f, "t", t);
    key_of(f, "t:h", h);
    key_of(f, "t:s", s);
    redisReply *now = cmd(f, 1, (const char *[]){"TIME"});
    char score[32];
    snprintf(score, sizeof(score), "%s%06lld", now->element[0]->str, atoll(now->element[1]->str));
    freeReplyObject(now);
    freeReplyObject(cmd(f, 6, (const char *[]){"ZADD", r, score, "o1", score, "o2"}));
    freeReplyObject(cmd(f, 4, (const char *[]){"ZADD", t, score, "o1"}));
    freeReplyObject(cmd(f, 4, (const char *[]){"HSET", h, "o1", "100"}));
    freeReplyObject(cmd(f, 3, (const char *[]){"SET", s, "100"}));
    struct lgw_limits_ticket a;
    struct lgw_limits_state st;
    assert_int_equal(admit(f, "a", NULL, 10, &a, &st), 0);
    assert_int_equal(st.req_remaining, 1);
    assert_int_equal(st.tok_remaining, 90);
    lgw_limits_finish(f->l, &a, 5);
    assert_int_equal(key_int(f, "ZCARD", "r"), 2);
    assert_int_equal(key_int(f, "GET", "t:s"), 100);
    assert_int_equal(key_int(f, "GET", "l:s"), 5);
    const char *del[] = {"DEL", r, t, h, s};
    freeReplyObject(cmd(f, 5, del));
}

/* ... while the in-flight set kept its key and its entries' shape: a hold an older instance took still counts. */
static void test_old_inflight_shared(void **state)
{
    struct fixture *f = *state;
    f->cfg.limit_tenant_inflight = 1;
    start(f, "oldi", NULL);
    char key[512], score[32];
    redisReply *now = cmd(f, 1, (const char *[]){"TIME"});
    snprintf(score, sizeof(score), "%lld%06lld", atoll(now->element[0]->str) + 10, atoll(now->element[1]->str));
    freeReplyObject(now);
    freeReplyObject(cmd(f, 4, (const char *[]){"ZADD", key_of(f, "i", key), score, "old-hold"}));
    struct lgw_limits_ticket a;
    struct lgw_limits_state st;
    assert_int_equal(admit(f, "a", NULL, 1, &a, &st), LGW_ERR(RATE_LIMITED));
    freeReplyObject(cmd(f, 3, (const char *[]){"ZREM", key, "old-hold"})); /* the older instance's release */
    assert_int_equal(admit(f, "a", NULL, 1, &a, &st), 0);
    lgw_limits_finish(f->l, &a, -1);
    assert_int_equal(key_int(f, "ZCARD", "i"), 0);
}

/* A model name too long for a key whole: its scope is named by a hash, limits still hold, and another long
 * name with the same beginning has a limit of its own. */
static void test_long_names(void **state)
{
    struct fixture *f = *state;
    char name1[400], name2[400], tenants[1200];
    memset(name1, 'm', sizeof(name1) - 2);
    name1[sizeof(name1) - 2] = '1';
    name1[sizeof(name1) - 1] = '\0';
    memcpy(name2, name1, sizeof(name2));
    name2[sizeof(name2) - 2] = '2';
    snprintf(tenants, sizeof(tenants),
             "{\"%%T\": {\"models\": {\"%s\": {\"rpm\": 1, \"tpm\": 100}, \"%s\": {\"rpm\": 1}}}}", name1, name2);
    start(f, "long", tenants);
    char msg[256];
    struct lgw_limits_ticket t;
    struct lgw_limits_state st;
    struct lgw_limits_request rq = {.id = "a", .tenant = f->tenant, .model = name1, .tokens = 5};
    assert_int_equal(lgw_limits_admit(f->l, &rq, &t, &st, msg, sizeof(msg)), 0);
    lgw_limits_finish(f->l, &t, 2);
    rq.id = "b";
    assert_int_equal(lgw_limits_admit(f->l, &rq, &t, &st, msg, sizeof(msg)), LGW_ERR(RATE_LIMITED));
    rq.model = name2;
    assert_int_equal(lgw_limits_admit(f->l, &rq, &t, &st, msg, sizeof(msg)), 0);
    lgw_limits_finish(f->l, &t, -1);
    rq.id = "c";
    assert_int_equal(lgw_limits_admit(f->l, &rq, &t, &st, msg, sizeof(msg)), LGW_ERR(RATE_LIMITED));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_log_per_scope, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_token_wait_from_entries, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_sum_gone_before_its_entries, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_old_keys_left_alone, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_old_inflight_shared, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_long_names, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
