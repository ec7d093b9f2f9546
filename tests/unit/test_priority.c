/* test_priority.c - lgw_priority_background changes the calling thread only (and threads it starts later),
 * never makes a thread less nice than it is (which would need privilege), and 0 changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/priority.h"

struct seen {
    int ask;        /* what the thread asks for */
    int rc;         /* what lgw_priority_background returned */
    int after;      /* its nice value afterwards */
    int child;      /* the nice value of a thread it starts afterwards */
};

static void *report_nice(void *arg)
{
    *(int *)arg = lgw_priority_nice();
    return NULL;
}

static void *background(void *arg)
{
    struct seen *s = arg;
    s->rc = lgw_priority_background(s->ask);
    s->after = lgw_priority_nice();
    pthread_t t;
    if (pthread_create(&t, NULL, report_nice, &s->child) == 0)
        pthread_join(t, NULL);
    return NULL;
}

static struct seen run(int ask)
{
    struct seen s = {.ask = ask, .rc = -1, .after = -100, .child = -100};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, background, &s), 0);
    pthread_join(t, NULL);
    return s;
}

static void test_only_the_calling_thread(void **state)
{
    (void)state;
    int before = lgw_priority_nice();
    struct seen s = run(before + 7 > 19 ? 19 : before + 7);
    assert_int_equal(s.rc, LGW_OK);
    assert_int_equal(s.after, s.ask);
    assert_int_equal(s.child, s.ask); /* a thread it starts inherits it */
    assert_int_equal(lgw_priority_nice(), before); /* the rest of the process does not */
    assert_int_equal(getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid)), before);
}

static void test_zero_changes_nothing(void **state)
{
    (void)state;
    int before = lgw_priority_nice();
    struct seen s = run(0);
    assert_int_equal(s.rc, LGW_OK);
    assert_int_equal(s.after, before);
    assert_int_equal(s.child, before);
}

static void *nicest_then_ask(void *arg)
{
    struct seen *s = arg;
    lgw_priority_background(19);
    s->rc = lgw_priority_background(5);
    s->after = lgw_priority_nice();
    return NULL;
}

static void test_never_less_nice(void **state)
{
    (void)state;
    struct seen s = {.rc = -1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, nicest_then_ask, &s), 0);
    pthread_join(t, NULL);
    assert_int_equal(s.rc, LGW_OK);
    assert_int_equal(s.after, 19);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_only_the_calling_thread),
        cmocka_unit_test(test_zero_changes_nothing),
        cmocka_unit_test(test_never_less_nice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
