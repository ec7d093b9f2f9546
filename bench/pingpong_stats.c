/* pingpong_stats.c - the ping-pong's clocks, CPU readings and percentiles, as JSON fields (bench/pingpong.h). */
#include "pingpong.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Exact percentile: the sample at index ceil(p*n)-1, in integer per-mille so 0.9*500 is exactly 450. */
static double pct(const double *v, long n, long permille)
{
    long idx = (permille * n + 999) / 1000 - 1;
    return v[idx < 0 ? 0 : idx];
}


/* CPU seconds (user + system, all threads) pid has used so far; -1 when it cannot be read. */
double pid_cpu_s(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}


/* CPU per unit over a measured stretch: "name_clients" (this process) and "name_broker" (cpu_of's), as JSON. */
void print_cpu(const char *unit, double self0, double cpu0, long cpu_of, long n)
{
    double cpu = cpu_of ? pid_cpu_s(cpu_of) - cpu0 : -1, self = self_cpu_s() - self0;
    printf(",\"clients_cpu_ms_per_%s\":%.4f", unit, self * 1e3 / (double)n);
    if (cpu_of)
        printf(",\"broker_cpu_ms_per_%s\":%.4f", unit, cpu >= 0 && cpu0 >= 0 ? cpu * 1e3 / (double)n : -1.0);
}

/* Sorts v and prints its percentiles as JSON fields "<prefix>p50_ms" and so on. */
void print_pcts(const char *prefix, double *v, long n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    static const long permille[] = {500, 900, 990, 999};
    static const char *const label[] = {"p50", "p90", "p99", "p999"};
    for (int k = 0; k < 4; k++)
        printf(",\"%s%s_ms\":%.3f", prefix, label[k], pct(v, n, permille[k]));
    printf(",\"%smax_ms\":%.3f", prefix, v[n - 1]);
}
