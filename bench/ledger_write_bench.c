/* ledger_write_bench.c - what the ledger's database writes cost, per event and per batch, SQLite or PostgreSQL:
 * the ledger's own backend (ledger/ledger_db.h) writing batches as the ledger does (BEGIN, the batch's
 * inserts, its spend upserts, COMMIT), timed on this thread's CPU clock and on the wall clock. With
 * PostgreSQL the server does most of the work, so the CPU of every process named "postgres" is read from /proc
 * around the run too.
 *
 * Usage: bench_ledger_write URL [events [batch [ids]]]   (defaults 20000 events, batches of 20: the ledger's batch
 * at about 400 requests a second with its 50 ms window). ids is how the events' event_id and request_id are made:
 * uuid7 (the default, as the ingress and the worker make them), uuid4 (random, as they did before) or seq (a
 * counter). Each run adds its events to the table: run it twice to see a table that is not new. It also reports
 * the bytes written per event: this process's write(2) and pwrite(2) bytes (/proc/self/io's wchar: SQLite's
 * journal and pages), and PostgreSQL's write-ahead log. Not a test: it prints figures and asserts none. */
#include <dirent.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/envelope.h"
#include "common/uuid.h"
#include "ledger/ledger_db.h"

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The bytes this process has passed to write(2), pwrite(2) and the rest of their family (/proc/self/io's
 * wchar); 0 when unreadable. */
static long long self_wchar(void)
{
    char line[128];
    FILE *f = fopen("/proc/self/io", "r");
    long long v = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "wchar: %lld", &v) == 1)
            break;
    fclose(f);
    return v;
}

/* utime + stime of every process whose comm is "postgres", in clock ticks (0 when there is none). */
static long long postgres_ticks(void)
{
    long long sum = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], buf[1024];
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *open = strchr(buf, '('), *close = strrchr(buf, ')');
        if (!open || !close || close - open - 1 != 8 || strncmp(open + 1, "postgres", 8) != 0)
            continue;
        unsigned long long ut = 0, st = 0;
        /* After ") ": state, then fields 4..13; utime and stime are fields 14 and 15. */
        if (sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
            sum += (long long)(ut + st);
    }
    closedir(d);
    return sum;
}

/* Runs sql on a connection of its own to url; a one-row query's value goes into out (NULL for a command).
 * false when not PostgreSQL or it failed. */
static bool pg_value(const char *url, const char *sql, char *out, size_t size)
{
    if (strncmp(url, "postgres", 8) != 0)
        return false;
    PGconn *c = PQconnectdb(url);
    bool ok = false;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, sql);
        if (out && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
            snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
            ok = true;
        } else if (!out && PQresultStatus(r) == PGRES_COMMAND_OK) {
            ok = true;
        }
        PQclear(r);
    }
    PQfinish(c);
    return ok;
}

/* PostgreSQL's write-ahead log position in bytes (all it has written to its WAL since initdb); -1 when not
 * PostgreSQL or unreadable. Per process byte counts cannot say this: the server's processes come and go. */
static long long pg_wal_bytes(const char *url)
{
    char v[64];
    return pg_value(url, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint", v, sizeof(v)) ? atoll(v)
                                                                                                    : -1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(int64_t *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_i64);
    int i = (int)(p * (n - 1));
    return (double)v[i] / 1e6;
}

enum ids { IDS_UUID7, IDS_UUID4, IDS_SEQ };

static void fill_event(struct lgw_cost_event *ev, enum ids ids, int64_t run, int i, int64_t now_ms)
{
    memset(ev, 0, sizeof(*ev));
    if (ids == IDS_SEQ) {
        snprintf(ev->event_id, sizeof(ev->event_id), "bench-%" PRId64 "-%08d", run, i);
        snprintf(ev->request_id, sizeof(ev->request_id), "req-%" PRId64 "-%08d", run, i);
    } else if (ids == IDS_UUID4) {
        lgw_uuid4(ev->event_id);
        lgw_uuid4(ev->request_id);
    } else {
        lgw_uuid7(ev->request_id); /* the ingress's, a little before the worker's event */
        lgw_uuid7(ev->event_id);
    }
    snprintf(ev->tenant, sizeof(ev->tenant), "tenant%d", i % 4);
    snprintf(ev->key_id, sizeof(ev->key_id), "key_bench%d", i % 4);
    snprintf(ev->user, sizeof(ev->user), "user%d", i % 100);
    snprintf(ev->provider, sizeof(ev->provider), "openai");
    snprintf(ev->model, sizeof(ev->model), "gpt-4o-mini");
    ev->kind = LGW_JOB_CHAT;
    ev->usage.input_tokens = 120 + i % 50;
    ev->usage.output_tokens = 40 + i % 30;
    ev->cost_nusd = 30000 + i % 1000;
    ev->cost_known = true;
    ev->latency_ms = 20;
    ev->status = 200;
    snprintf(ev->outcome, sizeof(ev->outcome), "ok");
    ev->attempt = 1;
    snprintf(ev->strategy, sizeof(ev->strategy), "cost");
    snprintf(ev->worker, sizeof(ev->worker), "bench-worker");
    ev->ts_ms = now_ms;
    ev->route_attempts = 1;
    snprintf(ev->route, sizeof(ev->route), "openai/gpt-4o-mini=200");
    ev->final = true;
    ev->provider_call = 1;
    snprintf(ev->trace_id, sizeof(ev->trace_id), "%032d", i);
}

/* The batch's spend, as ledger/spend.c writes it: each tenant's and key's day and month, in one call. */
static int write_spend(struct lgw_ledger_db *db, const struct lgw_cost_event *evs, int n)
{
    static const char *const periods[] = {"day:2026-12-04", "month:2026-12"};
    char scopes[4][2][80];
    struct lgw_spend_delta d[16];
    int64_t totals[16];
    size_t k = 0;
    for (int i = 0; i < n && i < 4; i++) { /* fill_event cycles through 4 tenants and keys */
        int64_t add = 0;
        for (int j = i; j < n; j += 4)
            add += evs[j].cost_nusd;
        snprintf(scopes[i][0], sizeof(scopes[i][0]), "tenant:%s", evs[i].tenant);
        snprintf(scopes[i][1], sizeof(scopes[i][1]), "key:%s", evs[i].key_id);
        for (int p = 0; p < 2; p++) {
            d[k++] = (struct lgw_spend_delta){scopes[i][0], periods[p], evs[i].tenant, "", add, evs[i].ts_ms};
            d[k++] = (struct lgw_spend_delta){scopes[i][1], periods[p], evs[i].tenant, evs[i].key_id, add,
                                              evs[i].ts_ms};
        }
    }
    return lgw_ledger_db_spend_add_batch(db, d, k, totals) ? -1 : 0;
}

struct samples {
    int64_t *insert_cpu; /* per batch: its inserts */
    int64_t *spend_cpu;  /* per batch: the spend upserts */
    int64_t *commit_cpu; /* per batch: the commit */
    int64_t *batch_wall; /* per batch: BEGIN to COMMIT */
};

/* write_all's loop: ptrs[i] is &evs[i], inserted has room for a batch. Returns 0, or -1 with the open batch
 * rolled back. */
static int write_batches(struct lgw_ledger_db *db, int events, int batch, enum ids ids, struct lgw_cost_event *evs,
                         const struct lgw_cost_event **ptrs, bool *inserted, struct samples *s)
{
    int64_t run = clock_ns(CLOCK_REALTIME) / 1000;
    for (int done = 0, b = 0; done < events; done += batch, b++) {
        int n = events - done < batch ? events - done : batch;
        int64_t now_ms = clock_ns(CLOCK_REALTIME) / 1000000;
        for (int i = 0; i < n; i++)
            fill_event(&evs[i], ids, run, done + i, now_ms);
        int64_t w0 = clock_ns(CLOCK_MONOTONIC);
        if (lgw_ledger_db_begin(db))
            return -1;
        int64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        if (lgw_ledger_db_insert_batch(db, ptrs, (size_t)n, inserted))
            goto fail;
        for (int i = 0; i < n; i++)
            if (!inserted[i])
                goto fail;
        s->insert_cpu[b] = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
        c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        if (write_spend(db, evs, n))
            goto fail;
        int64_t c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        if (lgw_ledger_db_commit(db))
            goto fail;
        s->spend_cpu[b] = c1 - c0;
        s->commit_cpu[b] = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c1;
        s->batch_wall[b] = clock_ns(CLOCK_MONOTONIC) - w0;
        continue;
    fail:
        fprintf(stderr, "write failed in batch %d\n", b);
        lgw_ledger_db_rollback(db);
        return -1;
    }
    return 0;
}

/* Writes events in batches as the ledger does; fills s. Returns 0 or -1. */
static int write_all(struct lgw_ledger_db *db, int events, int batch, enum ids ids, struct lgw_cost_event *evs,
                     struct samples *s)
{
    const struct lgw_cost_event **ptrs = calloc((size_t)batch, sizeof(*ptrs));
    bool *inserted = calloc((size_t)batch, sizeof(*inserted));
    int rc = ptrs && inserted ? 0 : -1;
    for (int i = 0; ptrs && i < batch; i++)
        ptrs[i] = &evs[i];
    if (rc == 0)
        rc = write_batches(db, events, batch, ids, evs, ptrs, inserted, s);
    free(ptrs);
    free(inserted);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s URL [events [batch [uuid7|uuid4|seq]]]\n", argv[0]);
        return 2;
    }
    int events = argc > 2 ? atoi(argv[2]) : 20000, batch = argc > 3 ? atoi(argv[3]) : 20;
    if (events < 1 || batch < 1 || batch > 10000) {
        fprintf(stderr, "events and batch must be positive (batch at most 10000)\n");
        return 2;
    }
    static const char *const id_names[] = {"uuid7", "uuid4", "seq"};
    const char *id_arg = argc > 4 ? argv[4] : "uuid7";
    enum ids ids = IDS_UUID7;
    while (ids <= IDS_SEQ && strcmp(id_arg, id_names[ids]) != 0)
        ids++;
    if (ids > IDS_SEQ) {
        fprintf(stderr, "ids: uuid7, uuid4 or seq\n");
        return 2;
    }
    int batches = (events + batch - 1) / batch;
    struct lgw_cost_event *evs = calloc((size_t)batch, sizeof(*evs));
    struct samples s = {calloc((size_t)batches, sizeof(int64_t)), calloc((size_t)batches, sizeof(int64_t)),
                        calloc((size_t)batches, sizeof(int64_t)), calloc((size_t)batches, sizeof(int64_t))};
    struct lgw_ledger_db *db = NULL;
    int rc = 1;
    if (!evs || !s.insert_cpu || !s.spend_cpu || !s.commit_cpu || !s.batch_wall)
        fprintf(stderr, "out of memory\n");
    else if (lgw_ledger_db_open(argv[1], &db))
        fprintf(stderr, "cannot open %s\n", argv[1]);
    else {
        /* On PostgreSQL the run starts at a checkpoint, as production's writes do every checkpoint_timeout: with
         * full_page_writes on (PostgreSQL's default; the suite's throwaway server turns it off) the first change
         * to each page after one logs the whole page, so the log shows how many pages the writes touch. */
        char fpw[16] = "";
        if (pg_value(argv[1], "SHOW full_page_writes", fpw, sizeof(fpw)) && !pg_value(argv[1], "CHECKPOINT", NULL, 0))
            fprintf(stderr, "CHECKPOINT failed: the log's figure includes pages already logged since the last\n");
        long long pg0 = postgres_ticks(), wal0 = pg_wal_bytes(argv[1]), wchar0 = self_wchar();
        int64_t cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), wall0 = clock_ns(CLOCK_MONOTONIC);
        if (write_all(db, events, batch, ids, evs, &s) == 0) {
            double cpu_ms = (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0) / 1e6;
            double wall_ms = (double)(clock_ns(CLOCK_MONOTONIC) - wall0) / 1e6;
            long long wchar = self_wchar() - wchar0, wal1 = pg_wal_bytes(argv[1]);
            double pg_ms = (double)(postgres_ticks() - pg0) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
            printf("%d events in %d batches of %d, %s, ids %s\n", events, batches, batch,
                   strncmp(argv[1], "sqlite:", 7) == 0 ? "SQLite" : "PostgreSQL", id_names[ids]);
            printf("bytes written per event: this process %.0f", (double)wchar / events);
            if (wal0 >= 0 && wal1 >= wal0)
                printf(", PostgreSQL's write-ahead log %.0f (full_page_writes %s)", (double)(wal1 - wal0) / events,
                       fpw);
            printf("\n");
            printf("this process: %.4f ms CPU per event; per batch: inserts p50 %.3f p99 %.3f ms, spend p50 %.3f "
                   "p99 %.3f ms, commit p50 %.3f p99 %.3f ms\n",
                   cpu_ms / events, pct_ms(s.insert_cpu, batches, 0.5), pct_ms(s.insert_cpu, batches, 0.99),
                   pct_ms(s.spend_cpu, batches, 0.5), pct_ms(s.spend_cpu, batches, 0.99),
                   pct_ms(s.commit_cpu, batches, 0.5), pct_ms(s.commit_cpu, batches, 0.99));
            printf("postgres processes: %.4f ms CPU per event\n", pg_ms / events);
            printf("wall: %.4f ms per event; a batch p50 %.3f p99 %.3f ms\n", wall_ms / events,
                   pct_ms(s.batch_wall, batches, 0.5), pct_ms(s.batch_wall, batches, 0.99));
            rc = 0;
        }
    }
    lgw_ledger_db_close(db);
    free(evs);
    free(s.insert_cpu);
    free(s.spend_cpu);
    free(s.commit_cpu);
    free(s.batch_wall);
    return rc;
}
