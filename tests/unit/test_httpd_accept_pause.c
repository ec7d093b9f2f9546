/* test_httpd_accept_pause.c - the HTTP server (httpd/server.h) out of file descriptors: a connection waiting
 * in the listen queue cannot be accepted, so each HTTP thread stops accepting for ACCEPT_PAUSE_MS and tries
 * again. Clients can keep a server there, so the warning each pause logs is held to one line a second for all
 * threads together, and the lines held back are counted in the next one. Once descriptors are free the server
 * accepts and answers again. The test lowers its own RLIMIT_NOFILE and reads its stderr back from a file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "tests/support/http_client.h"
#include "tests/support/httpd_fixture.h"

/* How long the server is kept out of descriptors: about 25 pauses per thread, 2 to 4 log lines. */
#define STARVED_MS 2500
#define MAX_CLIENTS 32 /* at most: the fixture closes connections over 64 */

/* The lowest descriptor number free now: RLIMIT_NOFILE caps the numbers new descriptors get, and those
 * already open above it (a test runner's, inherited) stay open. */
static int lowest_free_fd(void)
{
    int fd = dup(STDIN_FILENO);
    assert_true(fd >= 0);
    close(fd);
    return fd;
}

/* Lines of the file at path that contain s. */
static int lines_with(const char *path, const char *s)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int n = 0;
    char line[1024];
    while (fgets(line, sizeof(line), f))
        n += strstr(line, s) != NULL;
    fclose(f);
    return n;
}

static void test_pause_logged_once_a_second_then_recovers(void **state)
{
    (void)state;
    lgw_log_set_level(LGW_LOG_WARN);
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);

    /* stderr into a file of our own, opened before descriptors run short. */
    char path[] = "/tmp/llmgw-accept-pause-XXXXXX";
    int cap = mkstemp(path);
    assert_true(cap >= 0);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(cap, STDERR_FILENO) >= 0);

    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    struct rlimit low = old;
    /* Room for a few clients and their accepted ends, well under the fixture's 64 connections. */
    low.rlim_cur = (rlim_t)lowest_free_fd() + 12;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int64_t t0 = lgw_mono_ms(); /* the server may run short from here on */

    /* Connect until this process has no descriptor left (the server takes each connection as it comes, so
     * none is left waiting), then trade a placeholder for one more: that connection waits in the listen
     * queue, and the server has no descriptor to take it with. */
    int placeholder = dup(STDIN_FILENO);
    assert_true(placeholder >= 0);
    int fds[MAX_CLIENTS], n = 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    while (n < MAX_CLIENTS - 1) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            break;
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        fds[n++] = fd;
    }
    int socket_errno = errno;
    close(placeholder);
    int waiting = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(waiting >= 0);
    assert_int_equal(connect(waiting, (struct sockaddr *)&sa, sizeof(sa)), 0);
    fds[n++] = waiting;
    struct timespec ts = {STARVED_MS / 1000, (STARVED_MS % 1000) * 1000000L};
    nanosleep(&ts, NULL);

    /* Descriptors back: the queued connections are taken, and a new one is answered. */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hfix_get_hello(&cl, "1");
    lgw_hclient_close(&cl);
    int64_t t1 = lgw_mono_ms(); /* answered: every thread accepts again */

    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    close(cap);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    lgw_hfix_stop(&fx);

    int said = lines_with(path, "pausing accepts"), held = lines_with(path, "accept pause(s) not logged");
    unlink(path);
    assert_int_equal(socket_errno, EMFILE); /* the clients ran the process out, not something else */
    assert_true(n < MAX_CLIENTS);
    /* Two threads pausing 10 times a second each for 2.5 s: about 50 pauses. One line a second lets through
     * one per second the window touches (3 or 4, more only on a machine slow enough to stretch it); the held
     * ones are counted in the lines after the first. Logged at every pause, it was 50. */
    int64_t seconds = t1 / 1000 - t0 / 1000 + 1;
    if (said < 1 || said > seconds)
        fail_msg("%d accept-pause lines in %lld ms (want 1 to %lld: one a second)", said, (long long)(t1 - t0),
                 (long long)seconds);
    if (held < 1)
        fail_msg("no line counted the accept pauses held back (%d let through)", said);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pause_logged_once_a_second_then_recovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
