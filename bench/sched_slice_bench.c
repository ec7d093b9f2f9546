/* sched_slice_bench.c - what a scheduling slice (common/sched_slice.c) changes for a thread that wakes while
 * another runs a burst of CPU on the same core: the situation of a request-path thread beside the ledger's batch
 * write or the broker's JIT compiler.
 *
 * Two threads on one CPU: a burst thread that sleeps 7.3 ms and then runs 1.5 ms of CPU, and a waker that sleeps
 * 310 us and then runs a few us of work, 3,000 times. For each wake-up the waker measures how late it ran after
 * its timer. Each setting runs ROUNDS times, the settings in turn:
 *   default        both threads with the kernel's slice
 *   burst-short    the burst thread asks for a 100 us slice
 *   waker-short    the waker asks for a 100 us slice (what llmgw's ingress and worker do)
 * and prints the lateness p50 / p99 / max and how many wake-ups were 200 us or more late.
 *
 *   ./build/bench_sched_slice [CPU [ROUNDS]]      (CPU 1 and 3 rounds by default) */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "common/sched_slice.h"

#define WAKES 3000
#define WAKER_SLEEP_NS 310000L
#define BURST_SLEEP_NS 7300000L
#define BURST_NS 1500000ULL
#define LATE_NS 200000ULL

static int cpu = 1;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static void pin(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

struct run {
    int64_t burst_slice_us, waker_slice_us;
    atomic_bool stop;
};

static void *burst_main(void *arg)
{
    struct run *r = arg;
    pin();
    lgw_sched_slice_set(r->burst_slice_us);
    while (!atomic_load(&r->stop)) {
        struct timespec ts = {0, BURST_SLEEP_NS};
        nanosleep(&ts, NULL);
        uint64_t start = now_ns();
        while (now_ns() - start < BURST_NS) {
        }
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One round of a setting; the waker is a thread of its own so that its slice dies with it. */
static void *waker_main(void *arg)
{
    struct run *r = arg;
    pin();
    lgw_sched_slice_set(r->waker_slice_us);
    uint64_t *late = malloc(WAKES * sizeof(*late));
    if (!late)
        return NULL;
    for (int i = 0; i < WAKES; i++) {
        uint64_t due = now_ns() + WAKER_SLEEP_NS;
        struct timespec ts = {0, WAKER_SLEEP_NS};
        nanosleep(&ts, NULL);
        uint64_t t = now_ns();
        late[i] = t > due ? t - due : 0;
        volatile uint64_t sink = 0; /* a few us of work, as a request thread's turn */
        for (int k = 0; k < 20000; k++)
            sink += (uint64_t)k;
    }
    qsort(late, WAKES, sizeof(*late), cmp_u64);
    int over = 0;
    for (int i = 0; i < WAKES; i++)
        over += late[i] >= LATE_NS;
    printf("  p50 %7.1f us  p99 %7.1f us  max %7.1f us  %4d of %d wake-ups %llu us or more late\n",
           (double)late[WAKES / 2] / 1e3, (double)late[WAKES * 99 / 100] / 1e3, (double)late[WAKES - 1] / 1e3,
           over, WAKES, (unsigned long long)(LATE_NS / 1000));
    free(late);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        cpu = atoi(argv[1]);
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    prctl(PR_SET_TIMERSLACK, 1UL); /* the waker's timer fires when due, not up to 50 us later */
    printf("kernel's slice here: %lld us (the one asked for: 100 us)\n", (long long)lgw_sched_slice_get());
    static const struct {
        const char *name;
        int64_t burst, waker;
    } settings[] = {{"default", 0, 0}, {"burst-short", 100, 0}, {"waker-short", 0, 100}};
    for (int round = 1; round <= rounds; round++)
        for (size_t s = 0; s < sizeof(settings) / sizeof(settings[0]); s++) {
            struct run r = {.burst_slice_us = settings[s].burst, .waker_slice_us = settings[s].waker};
            atomic_init(&r.stop, false);
            pthread_t burst, waker;
            printf("round %d, %s:\n", round, settings[s].name);
            if (pthread_create(&burst, NULL, burst_main, &r) != 0)
                return 1;
            if (pthread_create(&waker, NULL, waker_main, &r) != 0)
                return 1;
            pthread_join(waker, NULL);
            atomic_store(&r.stop, true);
            pthread_join(burst, NULL);
        }
    return 0;
}
