/* test_sched_slice.c - a thread's scheduling slice (common/sched_slice.c): the slice asked for is the one the
 * kernel reports, clamped to its bounds, where a new thread reports the kernel's default; 0 changes nothing; the thread's nice value survives (sched_setattr
 * would reset it to 0 if not passed on); only the calling thread changes. Kernels before 6.12 accept a slice
 * and ignore it: there the tests are skipped, saying so. Each case runs on a thread of its own, so that what it
 * sets dies with that thread and the main thread stays as started. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/sched_slice.h"

/* What a case saw, checked on the main thread (cmocka's assertions belong there). */
struct seen {
    int rc;
    int64_t before, after, other_after;
    int nice_before, nice_after;
};

static int thread_nice(void)
{
    errno = 0;
    int n = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
    return errno ? -100 : n;
}

static void run(void *(*fn)(void *), struct seen *s)
{
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, fn, s), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
}

static int64_t asked;
static int64_t kernel_default; /* the main thread's slice, which nothing here changes */

static void *set_case(void *arg)
{
    struct seen *s = arg;
    s->before = lgw_sched_slice_get();
    s->rc = lgw_sched_slice_set(asked);
    s->after = lgw_sched_slice_get();
    return NULL;
}

static bool slices_kept(void)
{
    struct seen s;
    asked = 300;
    run(set_case, &s);
    kernel_default = lgw_sched_slice_get();
    if (s.rc == 0 && s.after == 300 && kernel_default > 0)
        return true;
    fprintf(stderr, "this kernel does not keep a thread's slice (asked 300 us, it says %lld): skipped\n",
            (long long)s.after);
    return false;
}

static void test_slice_asked_is_kept_and_clamped(void **state)
{
    (void)state;
    if (!slices_kept())
        skip();
    const struct {
        int64_t ask, want;
    } cases[] = {{500, 500}, {100, 100}, {1, LGW_SCHED_SLICE_MIN_US}, {2000000, LGW_SCHED_SLICE_MAX_US}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct seen s;
        asked = cases[i].ask;
        run(set_case, &s);
        assert_int_equal(s.rc, 0);
        assert_int_equal(s.before, kernel_default); /* a new thread starts with the kernel's default */
        if (s.after != cases[i].want)
            fail_msg("asked %lld us: the kernel says %lld, want %lld", (long long)cases[i].ask, (long long)s.after,
                     (long long)cases[i].want);
    }
}

static void test_zero_changes_nothing(void **state)
{
    (void)state;
    struct seen s;
    asked = 0;
    run(set_case, &s);
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.after, s.before);
}

static void *nice_case(void *arg)
{
    struct seen *s = arg;
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 5);
    s->nice_before = thread_nice();
    s->rc = lgw_sched_slice_set(200);
    s->nice_after = thread_nice();
    s->after = lgw_sched_slice_get();
    return NULL;
}

static void test_nice_value_survives(void **state)
{
    (void)state;
    if (!slices_kept())
        skip();
    struct seen s;
    run(nice_case, &s);
    assert_int_equal(s.nice_before, 5);
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.nice_after, 5);
    assert_int_equal(s.after, 200);
}

/* A second thread, alive while the first sets its slice, reads its own afterwards. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool set_done;

static void *other_thread(void *arg)
{
    struct seen *s = arg;
    pthread_mutex_lock(&mu);
    while (!set_done)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    s->other_after = lgw_sched_slice_get();
    return NULL;
}

static void test_only_the_calling_thread(void **state)
{
    (void)state;
    if (!slices_kept())
        skip();
    struct seen s = {0};
    pthread_t other;
    set_done = false;
    assert_int_equal(pthread_create(&other, NULL, other_thread, &s), 0);
    asked = 400;
    run(set_case, &s);
    pthread_mutex_lock(&mu);
    set_done = true;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    assert_int_equal(pthread_join(other, NULL), 0);
    assert_int_equal(s.after, 400);
    assert_int_equal(s.other_after, kernel_default);
    assert_int_equal(lgw_sched_slice_get(), kernel_default); /* and the main thread */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slice_asked_is_kept_and_clamped),
        cmocka_unit_test(test_zero_changes_nothing),
        cmocka_unit_test(test_nice_value_survives),
        cmocka_unit_test(test_only_the_calling_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
