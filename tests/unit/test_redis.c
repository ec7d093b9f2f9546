/* test_redis.c - the shared Redis client: URL parsing, a command budget against a server that never answers
 * (a local socket), and, when LLMGW_TEST_REDIS names a server (host:port, scripts/test.sh starts one), AUTH
 * with an ACL user, SELECT, failing AUTH, and reconnecting in the background after the server dropped our
 * connections. Without LLMGW_TEST_REDIS those are skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/metrics.h"
#include "common/redis.h"

static void test_parse_url(void **state)
{
    (void)state;
    struct lgw_redis_url u;
    assert_int_equal(lgw_redis_parse_url("redis://127.0.0.1:6390/3", &u, NULL), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6390);
    assert_int_equal(u.db, 3);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "");

    assert_int_equal(lgw_redis_parse_url("redis://app:p%40ss%3Aw%2Fd@cache.internal", &u, NULL), 0);
    assert_string_equal(u.user, "app");
    assert_string_equal(u.password, "p@ss:w/d");
    assert_string_equal(u.host, "cache.internal");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);

    assert_int_equal(lgw_redis_parse_url("redis://:secret@[::1]:7000/", &u, NULL), 0);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "secret");
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 7000);

    assert_int_equal(lgw_redis_parse_url("redis://secret@h", &u, NULL), 0); /* a password alone */
    assert_string_equal(u.password, "secret");

    char desc[256];
    assert_int_equal(lgw_redis_parse_url("redis://app:hunter2@h:1/2", &u, NULL), 0);
    assert_string_equal(lgw_redis_describe(&u, desc, sizeof(desc)), "app@h:1/2");
}

static void test_parse_url_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "http://h:1", "rediss://h:6379", "redis://", "redis://h:0", "redis://h:70000", "redis://h:x",
        "redis://h/abc", "redis://[::1", "redis://u:p%4@h", "redis://h:1/2?x=1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lgw_redis_url u;
        struct lgw_buf errs;
        lgw_buf_init(&errs, 0);
        int rc = lgw_redis_parse_url(bad[i], &u, &errs);
        if (rc != LGW_ERR(CONFIG))
            fail_msg("\"%s\": rc %d, expected an error", bad[i], rc);
        assert_non_null(strstr(errs.ptr, "redis_url: "));
        lgw_buf_cleanup(&errs);
    }
    /* The error line never repeats the password. */
    struct lgw_redis_url u;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    assert_int_equal(lgw_redis_parse_url("redis://u:hunter2@h:99999", &u, &errs), LGW_ERR(CONFIG));
    assert_null(strstr(errs.ptr, "hunter2"));
    lgw_buf_cleanup(&errs);
}

static void test_no_client(void **state)
{
    (void)state;
    redisReply *reply;
    assert_false(lgw_redis_healthy(NULL));
    assert_int_equal(lgw_redis_command(NULL, 1, (const char *[]){"PING"}, NULL, &reply), LGW_ERR(UNAVAILABLE));
    assert_null(reply);
    lgw_redis_free(NULL);
}

/* A server that accepts connections and never answers: a command must give up after its budget, and the
 * client reports itself down. */
static void test_budget(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", ntohs(sa.sin_port));

    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_redis *r;
    struct lgw_redis_options opt = {.url = url, .timeout_ms = 20, .connect_timeout_ms = 200, .pool = 1,
                                    .metrics = m};
    assert_int_equal(lgw_redis_new(&opt, &r), 0);
    assert_true(lgw_redis_healthy(r)); /* the TCP connect succeeded */
    assert_int_equal(lgw_metrics_value(m, "llmgw_redis_up", NULL), 1);
    /* Hold the connection open without ever answering, and refuse new ones, so the client stays down. */
    int cfd = accept(fd, NULL, NULL);
    assert_true(cfd >= 0);
    close(fd);
    redisReply *reply;
    assert_int_equal(lgw_redis_command(r, 1, (const char *[]){"PING"}, NULL, &reply), LGW_ERR(UNAVAILABLE));
    assert_null(reply);
    assert_false(lgw_redis_healthy(r));
    assert_int_equal(lgw_metrics_value(m, "llmgw_redis_up", NULL), 0);
    lgw_redis_free(r);
    lgw_metrics_free(m);
    close(cfd);
}

static void test_refused(void **state)
{
    (void)state;
    struct lgw_redis *r;
    struct lgw_redis_options opt = {.url = "redis://127.0.0.1:1", .timeout_ms = 5, .connect_timeout_ms = 100};
    assert_int_equal(lgw_redis_new(&opt, &r), 0);
    assert_false(lgw_redis_healthy(r));
    redisReply *reply;
    assert_int_equal(lgw_redis_command(r, 1, (const char *[]){"PING"}, NULL, &reply), LGW_ERR(UNAVAILABLE));
    lgw_redis_free(r);

    struct lgw_redis_options badopt = {.url = "rediss://h"};
    assert_int_equal(lgw_redis_new(&badopt, &r), LGW_ERR(CONFIG));
    assert_null(r);
}

/* The test server from LLMGW_TEST_REDIS ("host:port"), or skip. */
static const char *test_server(void)
{
    const char *hp = getenv("LLMGW_TEST_REDIS");
    if (!hp || !*hp)
        skip();
    return hp;
}

/* One admin command on a direct connection to the test server. */
static void admin(const char *hp, const char *fmt, const char *arg)
{
    char host[128];
    lgw_strlcpy(host, hp, sizeof(host));
    char *colon = strrchr(host, ':');
    assert_non_null(colon);
    *colon = '\0';
    redisContext *c = redisConnect(host, atoi(colon + 1));
    assert_true(c && !c->err);
    redisReply *rep = redisCommand(c, fmt, arg);
    assert_non_null(rep);
    if (rep->type == REDIS_REPLY_ERROR)
        fail_msg("%s: %s", fmt, rep->str);
    freeReplyObject(rep);
    redisFree(c);
}

static redisReply *must(struct lgw_redis *r, int argc, const char **argv)
{
    redisReply *reply = NULL;
    int rc = lgw_redis_command(r, argc, argv, NULL, &reply);
    if (rc)
        fail_msg("%s: rc %d", argv[0], rc);
    return reply;
}

static void test_acl_user_and_db(void **state)
{
    (void)state;
    const char *hp = test_server();
    char user[64], url[256];
    snprintf(user, sizeof(user), "lgwtest%d", (int)getpid());
    admin(hp, "ACL SETUSER %s on >p@ss ~* &* +@all", user);
    snprintf(url, sizeof(url), "redis://%s:p%%40ss@%s/5", user, hp);
    struct lgw_redis *r;
    struct lgw_redis_options opt = {.url = url, .timeout_ms = 1000, .connect_timeout_ms = 1000, .pool = 2};
    assert_int_equal(lgw_redis_new(&opt, &r), 0);
    assert_true(lgw_redis_healthy(r));

    redisReply *reply = must(r, 2, (const char *[]){"ACL", "WHOAMI"});
    assert_int_equal(reply->type, REDIS_REPLY_STRING);
    assert_string_equal(reply->str, user);
    freeReplyObject(reply);
    reply = must(r, 2, (const char *[]){"CLIENT", "INFO"});
    assert_non_null(strstr(reply->str, " db=5 "));
    freeReplyObject(reply);

    /* A Redis error reply is an answer, not a failure of the connection. */
    reply = must(r, 1, (const char *[]){"NOSUCHCOMMAND"});
    assert_int_equal(reply->type, REDIS_REPLY_ERROR);
    freeReplyObject(reply);
    assert_true(lgw_redis_healthy(r));
    lgw_redis_free(r);

    /* A wrong password: made, but down, and every command fails at once. */
    snprintf(url, sizeof(url), "redis://%s:wrong@%s", user, hp);
    opt.url = url;
    assert_int_equal(lgw_redis_new(&opt, &r), 0);
    assert_false(lgw_redis_healthy(r));
    assert_int_equal(lgw_redis_command(r, 1, (const char *[]){"PING"}, NULL, &reply), LGW_ERR(UNAVAILABLE));
    lgw_redis_free(r);
    admin(hp, "ACL DELUSER %s", user);
}

static void test_reconnect(void **state)
{
    (void)state;
    const char *hp = test_server();
    char url[256], id[32];
    snprintf(url, sizeof(url), "redis://%s", hp);
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_redis *r;
    struct lgw_redis_options opt = {.url = url, .timeout_ms = 1000, .connect_timeout_ms = 1000, .pool = 1,
                                    .metrics = m};
    assert_int_equal(lgw_redis_new(&opt, &r), 0);
    redisReply *reply = must(r, 2, (const char *[]){"CLIENT", "ID"});
    assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
    snprintf(id, sizeof(id), "%lld", reply->integer);
    freeReplyObject(reply);
    int64_t before = lgw_metrics_value(m, "llmgw_redis_reconnects_total", NULL);

    /* The server drops our connection: the next command fails, and the background thread reconnects. */
    admin(hp, "CLIENT KILL ID %s", id);
    assert_int_equal(lgw_redis_command(r, 1, (const char *[]){"PING"}, NULL, &reply), LGW_ERR(UNAVAILABLE));
    /* (Not asserted down here: the woken reconnect thread may already be back up.) */
    for (int i = 0; i < 500 && lgw_metrics_value(m, "llmgw_redis_reconnects_total", NULL) == before; i++)
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    assert_true(lgw_redis_healthy(r));
    assert_int_equal(lgw_metrics_value(m, "llmgw_redis_reconnects_total", NULL), before + 1);
    reply = must(r, 1, (const char *[]){"PING"});
    assert_string_equal(reply->str, "PONG");
    freeReplyObject(reply);
    lgw_redis_free(r);
    lgw_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_url),       cmocka_unit_test(test_parse_url_errors),
        cmocka_unit_test(test_no_client),       cmocka_unit_test(test_budget),
        cmocka_unit_test(test_refused),         cmocka_unit_test(test_acl_user_and_db),
        cmocka_unit_test(test_reconnect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
