/* cli_collect.c - `llmgw batch collect ID --out FILE` (see cli.h): writes every line of a batch's output in
 * input order, as results arrive, until the batch is finished.
 *
 * Resumable without duplicates: FILE only ever holds the lines 0..n-1 in order (each pass writes the
 * contiguous run of results that follows), so after an interruption the number of complete lines in FILE is
 * the next index; a partial last line (cut mid-write) is truncated away. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch/cli.h"
#include "batch/store.h"
#include "common/clock.h"
#include "common/errors.h"

/* A non-terminal's periodic plain line: often enough to see progress in a log, rarely enough not to flood it. */
#define PLAIN_EVERY_MS 10000
#define BAR_WIDTH 30

struct collect {
    FILE *f;
    int64_t next;   /* the next index to write = complete lines in the file */
    bool gaps_ok;   /* the last pass of a finished batch: write what there is (lines never sent have none) */
    bool write_err; /* a write failed (errno says why) */
};

static int line_cb(void *opaque, int64_t index, const char *line, size_t len)
{
    struct collect *c = opaque;
    if (index != c->next && !c->gaps_ok)
        return 1; /* a line without a result yet: the file stays a prefix, so stop here */
    if (fwrite(line, 1, len, c->f) != len || fputc('\n', c->f) == EOF) {
        c->write_err = true;
        return 1;
    }
    c->next = index + 1;
    return 0;
}

/* Opens path for appending after its complete lines, which it counts into *lines. prefix: what every line of
 * this batch starts with, to refuse a file that holds another batch's output. Returns the file or NULL with a
 * message printed. */
static FILE *open_resumable(const char *path, const char *prefix, int64_t *lines)
{
    FILE *f = fopen(path, "r+b");
    if (!f && errno == ENOENT)
        f = fopen(path, "w+b");
    if (!f) {
        fprintf(stderr, "llmgw: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char buf[65536], head[128] = "";
    size_t headlen = 0;
    long long end = 0, pos = 0; /* end: just after the last newline */
    int64_t n = 0;
    size_t got;
    while ((got = fread(buf, 1, sizeof(buf), f)) > 0) {
        if (headlen < sizeof(head) - 1) {
            size_t take = got < sizeof(head) - 1 - headlen ? got : sizeof(head) - 1 - headlen;
            memcpy(head + headlen, buf, take);
            headlen += take;
            head[headlen] = '\0';
        }
        for (size_t i = 0; i < got; i++)
            if (buf[i] == '\n') {
                n++;
                end = pos + (long long)i + 1;
            }
        pos += (long long)got;
    }
    if (headlen > 0 && strncmp(head, prefix, strlen(prefix)) != 0 && headlen >= strlen(prefix)) {
        fprintf(stderr, "llmgw: %s holds something else than this batch's output; choose another --out\n", path);
        fclose(f);
        return NULL;
    }
    if (pos != end) {
        fprintf(stderr, "llmgw: %s ends in a partial line (an interrupted collect); continuing after line %lld\n",
                path, (long long)n);
        if (ftruncate(fileno(f), (off_t)end)) {
            fprintf(stderr, "llmgw: cannot truncate %s: %s\n", path, strerror(errno));
            fclose(f);
            return NULL;
        }
    }
    fseek(f, 0, SEEK_END);
    *lines = n;
    return f;
}

static void fmt_duration(char *out, size_t outsz, double s)
{
    if (s < 0 || s > 1e7)
        snprintf(out, outsz, "--:--");
    else if (s >= 3600)
        snprintf(out, outsz, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
    else
        snprintf(out, outsz, "%d:%02d", (int)s / 60, (int)s % 60);
}

/* One progress report: a bar redrawn in place on a terminal, else a plain line. */
static void progress(bool tty, const struct lgw_batch_info *info, int64_t written, double rate, bool last)
{
    int64_t done = info->completed + info->failed;
    double frac = info->total > 0 ? (double)done / (double)info->total : 0;
    if (frac > 1)
        frac = 1;
    char eta[32];
    fmt_duration(eta, sizeof(eta), rate > 0 ? (double)(info->total - done) / rate : -1);
    char cost[32];
    snprintf(cost, sizeof(cost), "$%lld.%06lld", (long long)(info->cost_nusd / 1000000000),
             (long long)(info->cost_nusd % 1000000000 / 1000));
    if (tty) {
        char bar[BAR_WIDTH + 1];
        int fill = (int)(frac * BAR_WIDTH);
        for (int i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        fprintf(stderr, "\r[%s] %lld/%lld %3d%% %.0f/s %s ETA %s %-11s", bar, (long long)done, (long long)info->total,
                (int)(frac * 100), rate, cost, eta, info->status);
        if (last)
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "llmgw: batch %s %s: %lld/%lld done (%d%%), %.0f/s, cost so far %s, ETA %s, %lld line(s) written\n",
                info->id, info->status, (long long)done, (long long)info->total, (int)(frac * 100), rate, cost, eta,
                (long long)written);
    }
    fflush(stderr);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int lgw_batch_cli_collect(const struct lgw_config *cfg, const struct lgw_batch_cli_opts *o)
{
    struct lgw_batch_store *st = NULL;
    struct lgw_batch_info info = {0};
    struct collect c = {0};
    int code = 1;
    bool tty = isatty(fileno(stderr));
    int interval = o->interval_ms > 0 ? o->interval_ms : 1000;
    if (lgw_batch_store_open(cfg->database_url, &st)) {
        fprintf(stderr, "llmgw: cannot open the batch database (database_url)\n");
        return 1;
    }
    if (lgw_batch_store_get(st, o->id, o->tenant, &info)) {
        fprintf(stderr, "llmgw: no batch %s%s%s\n", o->id, o->tenant ? " of tenant " : "", o->tenant ? o->tenant : "");
        goto out;
    }
    char prefix[96];
    snprintf(prefix, sizeof(prefix), "{\"id\":\"batch_req_%s_", strncmp(o->id, "batch_", 6) == 0 ? o->id + 6 : o->id);
    if (!(c.f = open_resumable(o->out, prefix, &c.next)))
        goto out;
    if (c.next > 0)
        fprintf(stderr, "llmgw: %s has %lld line(s) of batch %s already; resuming\n", o->out, (long long)c.next, o->id);
    int64_t start_ms = lgw_mono_ms(), last_plain = 0, start_done = info.completed + info.failed;
    for (;;) {
        lgw_batch_info_cleanup(&info);
        if (lgw_batch_store_get(st, o->id, o->tenant, &info)) {
            fprintf(stderr, "%sllmgw: reading batch %s failed\n", tty ? "\n" : "", o->id);
            goto out;
        }
        /* Finished before this pass read: every result that will ever come is in (the sweep gives lines never
         * answered a result), so this pass writes to the end. */
        bool finished = lgw_batch_status_terminal(info.status);
        c.gaps_ok = finished;
        if (lgw_batch_store_render(st, o->id, LGW_BATCH_LINES_ALL, c.next, line_cb, &c) || c.write_err ||
            fflush(c.f)) {
            fprintf(stderr, "%sllmgw: collecting batch %s failed: %s\n", tty ? "\n" : "", o->id,
                    c.write_err ? strerror(errno) : "database error");
            goto out;
        }
        int64_t now = lgw_mono_ms();
        double secs = (double)(now - start_ms) / 1000.0;
        double rate = secs > 0.5 ? (double)(info.completed + info.failed - start_done) / secs : 0;
        bool last = finished || o->no_wait;
        if (tty || last || now - last_plain >= PLAIN_EVERY_MS) {
            progress(tty, &info, c.next, rate, last);
            last_plain = now;
        }
        if (last)
            break;
        sleep_ms(interval);
    }
    if (c.next < info.total && lgw_batch_status_terminal(info.status))
        fprintf(stderr, "llmgw: batch %s is %s; %lld of its %lld request(s) have no result (never sent)\n", o->id,
                info.status, (long long)(info.total - c.next), (long long)info.total);
    fprintf(stderr, "llmgw: %lld line(s) of batch %s (%s) in %s\n", (long long)c.next, o->id, info.status, o->out);
    code = 0;
out:
    if (c.f && fclose(c.f) && code == 0) {
        fprintf(stderr, "llmgw: writing %s: %s\n", o->out, strerror(errno));
        code = 1;
    }
    lgw_batch_info_cleanup(&info);
    lgw_batch_store_close(st);
    return code;
}
