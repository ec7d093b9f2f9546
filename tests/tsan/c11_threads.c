/* c11_threads.c - C11 threads (<threads.h>) on top of pthreads, linked into every executable of the
 * ThreadSanitizer build (-DLLMGW_TSAN=ON) and nowhere else.
 *
 * Why: librdkafka (Debian's, not instrumented) starts its threads with C11 thrd_create and locks with
 * mtx_lock / cnd_wait. glibc implements those by calling its pthread code internally, past the symbols
 * ThreadSanitizer intercepts, and TSan has no interceptors for C11 threads of its own (GCC 12's libtsan
 * exports none; google/sanitizers#1195, librdkafka#4929 report the same crash with clang's runtime). So every
 * librdkafka thread would run without TSan thread state (the first malloc on it crashes the process) and
 * its locks would be invisible: our log callback, which librdkafka runs on its own threads, and our delivery
 * reports, whose messages cross its queues, would look unordered with everything else.
 *
 * Definitions in the executable take precedence over glibc's for librdkafka's (versioned) references, so
 * these wrappers reroute exactly the C11 calls librdkafka makes through the intercepted pthread functions:
 * its threads are TSan threads and its mutexes and condition variables are happens-before edges. glibc's
 * mtx_t, cnd_t, thrd_t and once_flag are its pthread_mutex_t, pthread_cond_t, pthread_t and pthread_once_t
 * under another name (the static asserts check the sizes); glibc's own C11 functions are the same casts.
 *
 * What TSan should see of these calls is what it would see of glibc's own, had they been intercepted: the
 * synchronization, not the library's accesses to its own lock words. TSan models init and destroy as writes
 * to the lock and every other call as a read; a read cannot race with a read, but init and destroy can race
 * with a lock elsewhere when librdkafka publishes or retires the object that holds it through its own
 * atomics and rwlocks, which TSan does not see (scripts/tsan.supp: called_from_lib). So init and destroy run
 * with this thread's memory accesses ignored (__tsan_ignore_thread_begin: accesses only, a lock's
 * happens-before edges still count), and every lock, wait and signal is checked in full.
 * This is test tooling: it changes no llmgw code, and release builds never link it. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "glibc's mtx_t is a pthread_mutex_t");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "glibc's cnd_t is a pthread_cond_t");
_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "glibc's thrd_t is a pthread_t");
_Static_assert(sizeof(once_flag) == sizeof(pthread_once_t), "glibc's once_flag is a pthread_once_t");

/* libtsan's; not in <sanitizer/tsan_interface.h> of GCC 12. */
void __tsan_ignore_thread_begin(void);
void __tsan_ignore_thread_end(void);

/* glibc's mapping of pthread error numbers to thrd_* results. */
static int thrd_result(int err)
{
    switch (err) {
    case 0:
        return thrd_success;
    case ENOMEM:
        return thrd_nomem;
    case ETIMEDOUT:
        return thrd_timedout;
    case EBUSY:
        return thrd_busy;
    default:
        return thrd_error;
    }
}

struct start {
    thrd_start_t func;
    void *arg;
};

static void *start_cb(void *opaque)
{
    struct start st = *(struct start *)opaque;
    free(opaque);
    return (void *)(intptr_t)st.func(st.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t func, void *arg)
{
    struct start *st = malloc(sizeof(*st));
    if (!st)
        return thrd_nomem;
    st->func = func;
    st->arg = arg;
    int err = pthread_create(thr, NULL, start_cb, st);
    if (err)
        free(st);
    return thrd_result(err);
}

int thrd_join(thrd_t thr, int *res)
{
    void *ret;
    int err = pthread_join(thr, &ret);
    if (!err && res)
        *res = (int)(intptr_t)ret;
    return thrd_result(err);
}

int thrd_detach(thrd_t thr)
{
    return thrd_result(pthread_detach(thr));
}

int mtx_init(mtx_t *mtx, int type)
{
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    if (type & mtx_recursive)
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    __tsan_ignore_thread_begin();
    int err = pthread_mutex_init((pthread_mutex_t *)mtx, &attr);
    __tsan_ignore_thread_end();
    pthread_mutexattr_destroy(&attr);
    return thrd_result(err);
}

int mtx_lock(mtx_t *mtx)
{
    return thrd_result(pthread_mutex_lock((pthread_mutex_t *)mtx));
}

int mtx_trylock(mtx_t *mtx)
{
    return thrd_result(pthread_mutex_trylock((pthread_mutex_t *)mtx));
}

int mtx_timedlock(mtx_t *restrict mtx, const struct timespec *restrict ts)
{
    return thrd_result(pthread_mutex_timedlock((pthread_mutex_t *)mtx, ts));
}

int mtx_unlock(mtx_t *mtx)
{
    return thrd_result(pthread_mutex_unlock((pthread_mutex_t *)mtx));
}

void mtx_destroy(mtx_t *mtx)
{
    __tsan_ignore_thread_begin();
    pthread_mutex_destroy((pthread_mutex_t *)mtx);
    __tsan_ignore_thread_end();
}

int cnd_init(cnd_t *cnd)
{
    __tsan_ignore_thread_begin();
    int err = pthread_cond_init((pthread_cond_t *)cnd, NULL);
    __tsan_ignore_thread_end();
    return thrd_result(err);
}

int cnd_signal(cnd_t *cnd)
{
    return thrd_result(pthread_cond_signal((pthread_cond_t *)cnd));
}

int cnd_broadcast(cnd_t *cnd)
{
    return thrd_result(pthread_cond_broadcast((pthread_cond_t *)cnd));
}

int cnd_wait(cnd_t *cnd, mtx_t *mtx)
{
    return thrd_result(pthread_cond_wait((pthread_cond_t *)cnd, (pthread_mutex_t *)mtx));
}

/* C11's deadline is TIME_UTC, the realtime clock a default pthread condition variable waits on. */
int cnd_timedwait(cnd_t *restrict cnd, mtx_t *restrict mtx, const struct timespec *restrict ts)
{
    return thrd_result(pthread_cond_timedwait((pthread_cond_t *)cnd, (pthread_mutex_t *)mtx, ts));
}

void cnd_destroy(cnd_t *cnd)
{
    __tsan_ignore_thread_begin();
    pthread_cond_destroy((pthread_cond_t *)cnd);
    __tsan_ignore_thread_end();
}

void call_once(once_flag *flag, void (*func)(void))
{
    pthread_once((pthread_once_t *)flag, func);
}
