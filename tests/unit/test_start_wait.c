/* test_start_wait.c - a role's start waits for its services (common/start_wait.h, common/pg_wait.h): the probe's
 * answers end the wait or not, SIGTERM's flag ends it, and PostgreSQL's ping tells a server not there yet from a URL
 * that can never work. The live-server case needs LLMGW_TEST_PG_URL (tests/support/services.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/pg_wait.h"
#include "common/start_wait.h"
#include "tests/support/services.h"

/* A probe that answers "not yet" `not_yet` times, then `then`. */
struct scripted {
    int calls, not_yet;
    enum lgw_start_probe then;
};

static enum lgw_start_probe scripted_probe(void *arg)
{
    struct scripted *s = arg;
    return s->calls++ < s->not_yet ? LGW_PROBE_NOT_YET : s->then;
}

static void the_wait_ends_when_the_service_answers(void **state)
{
    (void)state;
    atomic_bool stop = false;
    struct scripted s = {.not_yet = 2, .then = LGW_PROBE_UP};
    assert_int_equal(lgw_start_wait("test", "the service", "here", scripted_probe, &s, &stop), LGW_OK);
    assert_int_equal(s.calls, 3);
    /* Up at once: one question, no wait. */
    s = (struct scripted){.then = LGW_PROBE_UP};
    assert_int_equal(lgw_start_wait("test", "the service", "here", scripted_probe, &s, &stop), LGW_OK);
    assert_int_equal(s.calls, 1);
}

static void a_configuration_error_ends_the_wait_as_one(void **state)
{
    (void)state;
    atomic_bool stop = false;
    struct scripted s = {.not_yet = 1, .then = LGW_PROBE_CONFIG};
    assert_int_equal(lgw_start_wait("test", "the service", "here", scripted_probe, &s, &stop), LGW_ERR(CONFIG));
    assert_int_equal(s.calls, 2);
}

struct stopper {
    atomic_bool *stop;
    int after_ms;
};

static void *stop_later(void *arg)
{
    struct stopper *st = arg;
    struct timespec ts = {st->after_ms / 1000, (long)(st->after_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    atomic_store(st->stop, true);
    return NULL;
}

static void a_stop_ends_the_wait(void **state)
{
    (void)state;
    atomic_bool stop = false;
    struct scripted s = {.not_yet = 1 << 30};
    struct stopper st = {&stop, 400};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stop_later, &st), 0);
    assert_int_equal(lgw_start_wait("test", "the service", "here", scripted_probe, &s, &stop), LGW_ERR(UNAVAILABLE));
    pthread_join(t, NULL);
    /* Asked at 0, 0.25 s, 0.75 s at most before the stop at 0.4 s ended the pause: the pauses grow. */
    assert_in_range(s.calls, 2, 3);
    /* Stopped before it began: never asked. */
    s.calls = 0;
    assert_int_equal(lgw_start_wait("test", "the service", "here", scripted_probe, &s, &stop), LGW_ERR(UNAVAILABLE));
    assert_int_equal(s.calls, 0);
}

static void a_url_naming_no_server_is_not_waited_for(void **state)
{
    (void)state;
    atomic_bool stop = true; /* it would end any wait at once: the answer must not come from there */
    assert_int_equal(lgw_pg_wait_for_server("sqlite:/tmp/x.db", "test", &stop), LGW_OK);
}

static void a_url_libpq_cannot_use_fails_at_once(void **state)
{
    (void)state;
    atomic_bool stop = false;
    assert_int_equal(lgw_pg_wait_for_server("postgresql://127.0.0.1:1/db?no_such_option=1", "test", &stop),
                     LGW_ERR(CONFIG));
}

/* A loopback port bound and never listened on: connections to it are refused while fd is open. */
static int refused_port(int *fd)
{
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(*fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

/* A server that refuses connections is waited for until the stop, and the log names its host and port, never the
 * URL's password. */
static void a_refusing_server_is_waited_for_and_its_password_never_logged(void **state)
{
    (void)state;
    int fd, port = refused_port(&fd);
    char url[128], where[64];
    snprintf(url, sizeof(url), "postgresql://llmgw:s3cr3t-pw@127.0.0.1:%d/ledger", port);
    snprintf(where, sizeof(where), "waiting for PostgreSQL at 127.0.0.1:%d", port);
    FILE *log = tmpfile();
    assert_non_null(log);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(log), STDERR_FILENO);
    atomic_bool stop = false;
    struct stopper st = {&stop, 600};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stop_later, &st), 0);
    int rc = lgw_pg_wait_for_server(url, "test", &stop);
    pthread_join(t, NULL);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char text[4096] = {0};
    rewind(log);
    size_t n = fread(text, 1, sizeof(text) - 1, log);
    fclose(log);
    close(fd);
    assert_int_equal(rc, LGW_ERR(UNAVAILABLE));
    assert_true(n > 0);
    assert_non_null(strstr(text, where));
    assert_null(strstr(text, "s3cr3t-pw"));
    assert_null(strstr(text, "llmgw:"));
}

static void a_live_server_is_not_waited_for(void **state)
{
    (void)state;
    const char *url = lgw_test_service("LLMGW_TEST_PG_URL");
    atomic_bool stop = false;
    assert_int_equal(lgw_pg_wait_for_server(url, "test", &stop), LGW_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_wait_ends_when_the_service_answers),
        cmocka_unit_test(a_configuration_error_ends_the_wait_as_one),
        cmocka_unit_test(a_stop_ends_the_wait),
        cmocka_unit_test(a_url_naming_no_server_is_not_waited_for),
        cmocka_unit_test(a_url_libpq_cannot_use_fails_at_once),
        cmocka_unit_test(a_refusing_server_is_waited_for_and_its_password_never_logged),
        cmocka_unit_test(a_live_server_is_not_waited_for),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
