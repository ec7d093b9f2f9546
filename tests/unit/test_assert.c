/* test_assert.c - LGW_ASSERT holds in every build: a broken invariant logs where and what, then aborts; a
 * kept one costs nothing and evaluates its condition once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/assert.h"

static int evaluations;

static int once(int v)
{
    evaluations++;
    return v;
}

static void test_kept(void **state)
{
    (void)state;
    LGW_ASSERT(once(1) == 1);
    assert_int_equal(evaluations, 1);
}

static void test_broken_aborts_with_a_log_line(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        signal(SIGABRT, SIG_DFL);
        long cents = -5;
        LGW_ASSERT(cents >= 0);
        _exit(0); /* not reached when the assertion works */
    }
    close(fds[1]);
    char out[4096] = "";
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(out) - 1 && (r = read(fds[0], out + n, sizeof(out) - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    if (!strstr(out, "\"module\":\"assert\"") || !strstr(out, "cents >= 0") || !strstr(out, "test_assert.c:"))
        fail_msg("the log line does not say what broke where: %s", out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kept),
        cmocka_unit_test(test_broken_aborts_with_a_log_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
