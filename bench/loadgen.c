/* loadgen.c - the benchmark load generator: open loop (a fixed arrival rate) or closed loop (N clients),
 * HTTP/1.1 keep-alive over one libcurl multi loop, exact percentiles.
 *
 * Open loop is what a gateway sees from many independent users: request i is due at start + i/rate
 * whether or not earlier ones have come back, and its latency is measured from that due time, so time spent
 * queued (for a connection, in the server's backlog) is counted instead of hidden (the "coordinated
 * omission" of closed-loop tools such as wrk). Closed loop (--rate 0) keeps --concurrency requests in flight
 * back to back; with --concurrency 1 it measures sequential latency.
 *
 * Why our own: Debian 12 packages wrk (closed loop only) but not wrk2 or vegeta, and we also need a
 * stream's time to first event and the gaps between events. Percentiles are exact: every sample is kept and
 * sorted (p = the sample at index ceil(p*n)-1).
 *
 * A mixed load (the soak, bench/soak.sh): --vary replaces "{n}" in the body with a per-request token, unique
 * ("u<i>") except for --repeat-pct percent of requests, which take one of --repeat-pool tokens ("r<k>"), so a
 * response cache sees mostly misses and some hits; --stream-pct percent of requests send --stream-body
 * instead (also varied) and are counted as streams. A stream answered 2xx that does not end with
 * "data: [DONE]" is counted as incomplete: a failure, as a non-2xx is. --count-header "name: value" counts the
 * answers carrying that header (e.g. "x-llmgw-cache: hit"). --progress-s P prints the running counts as a JSON
 * line on stderr every P seconds. --trace-out FILE writes one line per measured answer: when it was due
 * (CLOCK_MONOTONIC, ms, the clock `perf record -k mono` stamps events with) and its latency, so a slow answer can
 * be matched to what the scheduler or a GC log saw at that moment (bench/tail.py).
 *
 * Usage: bench_loadgen --url URL [--rate R | --rate 0 --concurrency C] [--duration S | --requests N]
 *        [--warmup-s W] [--body JSON] [--header "K: V"]... [--stream] [--max-conns M] [--label L]
 *        [--vary] [--repeat-pct P] [--repeat-pool K] [--stream-pct S --stream-body JSON]
 *        [--count-header "K: V"] [--progress-s P] [--trace-out FILE]
 * Prints one JSON line; exits 1 if any request failed (transport error, non-2xx, incomplete stream). */
#include <curl/curl.h>
#include <math.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_HEADERS 16

struct samples {
    double *v;
    size_t n, cap;
};

struct xfer {
    CURL *easy;
    double due_ms;        /* when it should have been sent (open loop) or was sent (closed loop) */
    double first_ms;      /* first body byte; 0: none yet */
    double last_event_ms; /* end of the previous SSE event */
    int events;
    bool stream;          /* this request is a stream (--stream, or drawn by --stream-pct) */
    bool header_seen;     /* the answer carried --count-header */
    char tail[16];        /* the last body bytes: "\n\n" split across writes, and a stream's closing [DONE] */
    size_t tail_len;
    struct xfer *next;
};

static struct {
    const char *url, *label, *body, *stream_body, *count_header, *trace_out;
    double rate, duration_s, warmup_s, repeat_pct, stream_pct, progress_s;
    long requests, concurrency, max_conns, repeat_pool;
    bool stream, vary;
    struct curl_slist *headers;
} opt = {.label = "run", .body = "{}", .duration_s = 10, .concurrency = 1, .max_conns = 4096, .repeat_pool = 16};

static struct samples lat, ttfb, gaps;
static long sent, done_ok, non2xx, errors, inflight, max_inflight;
static long streams_ok, incomplete, header_hits;
static double t0;
static FILE *trace; /* --trace-out */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void add(struct samples *s, double v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        if (!s->v) {
            fputs("out of memory\n", stderr);
            exit(2);
        }
    }
    s->v[s->n++] = v;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void print_stats(const char *name, struct samples *s, bool comma)
{
    if (s->n == 0) {
        printf("\"%s\":null%s", name, comma ? "," : "");
        return;
    }
    qsort(s->v, s->n, sizeof(*s->v), cmp);
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->v[i];
    const double ps[] = {0.5, 0.9, 0.99, 0.999};
    const char *names[] = {"p50", "p90", "p99", "p999"};
    printf("\"%s\":{\"n\":%zu", name, s->n);
    for (int i = 0; i < 4; i++) {
        size_t idx = (size_t)ceil(ps[i] * (double)s->n);
        printf(",\"%s\":%.3f", names[i], s->v[idx > 0 ? idx - 1 : 0]);
    }
    printf(",\"max\":%.3f,\"mean\":%.3f}%s", s->v[s->n - 1], sum / (double)s->n, comma ? "," : "");
}

/* Counts SSE event ends ("\n\n") as they arrive: the time of each is an event's delivery. */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct xfer *x = userdata;
    size_t len = size * nmemb;
    double t = now_ms();
    if (x->first_ms == 0)
        x->first_ms = t;
    if (!x->stream)
        return len;
    for (size_t i = 0; i < len; i++) {
        char prev = i > 0 ? ptr[i - 1] : x->tail_len > 0 ? x->tail[x->tail_len - 1] : '\0';
        if (ptr[i] == '\n' && prev == '\n') {
            if (x->events > 0 && x->due_ms - t0 >= opt.warmup_s * 1e3)
                add(&gaps, t - x->last_event_ms);
            x->last_event_ms = t;
            x->events++;
        }
    }
    /* Keep the last sizeof(tail) bytes of the body seen so far. */
    const size_t cap = sizeof(x->tail);
    if (len >= cap) {
        memcpy(x->tail, ptr + len - cap, cap);
        x->tail_len = cap;
    } else {
        size_t keep = x->tail_len + len > cap ? cap - len : x->tail_len;
        memmove(x->tail, x->tail + x->tail_len - keep, keep);
        memcpy(x->tail + keep, ptr, len);
        x->tail_len = keep + len;
    }
    return len;
}

/* Counts answers whose header block has --count-header (case-insensitive name and value, trailing CRLF). */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct xfer *x = userdata;
    size_t len = size * nmemb, want = strlen(opt.count_header);
    if (len >= want && strncasecmp(ptr, opt.count_header, want) == 0) {
        size_t i = want;
        while (i < len && (ptr[i] == ' ' || ptr[i] == '\r' || ptr[i] == '\n'))
            i++;
        if (i == len)
            x->header_seen = true;
    }
    return len;
}

/* The stream ended the way an OpenAI stream ends. */
static bool stream_complete(const struct xfer *x)
{
    static const char done[] = "data: [DONE]\n\n";
    size_t n = sizeof(done) - 1;
    return x->tail_len >= n && memcmp(x->tail + x->tail_len - n, done, n) == 0;
}

/* xorshift64: the draws of --repeat-pct and --stream-pct, the same sequence every run. */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double draw_pct(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng % 1000000) / 10000.0;
}

/* The body of request `idx` with every "{n}" replaced by its token, in buf (cap bytes; truncated if longer). */
static void render(const char *tmpl, long idx, char *buf, size_t cap)
{
    char token[32];
    if (opt.repeat_pct > 0 && draw_pct() < opt.repeat_pct)
        snprintf(token, sizeof(token), "r%ld", (long)(rng % (uint64_t)opt.repeat_pool));
    else
        snprintf(token, sizeof(token), "u%ld", idx);
    size_t o = 0, tl = strlen(token);
    for (const char *p = tmpl; *p && o + 1 < cap;) {
        if (p[0] == '{' && p[1] == 'n' && p[2] == '}') {
            size_t k = tl < cap - 1 - o ? tl : cap - 1 - o;
            memcpy(buf + o, token, k);
            o += k;
            p += 3;
        } else {
            buf[o++] = *p++;
        }
    }
    buf[o] = '\0';
}

static struct xfer *pool;

static void start(CURLM *multi, double due)
{
    struct xfer *x = pool;
    if (x) {
        pool = x->next;
    } else {
        x = calloc(1, sizeof(*x));
        if (!x || !(x->easy = curl_easy_init())) {
            fputs("out of memory\n", stderr);
            exit(2);
        }
        curl_easy_setopt(x->easy, CURLOPT_URL, opt.url);
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, opt.body);
        curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, opt.headers);
        curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
        if (opt.count_header) {
            curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
            curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
        }
        curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
        curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(x->easy, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, 120000L);
        curl_easy_setopt(x->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    }
    x->due_ms = due;
    x->first_ms = x->last_event_ms = 0;
    x->events = 0;
    x->tail_len = 0;
    x->header_seen = false;
    x->stream = opt.stream || (opt.stream_pct > 0 && draw_pct() < opt.stream_pct);
    if (opt.vary || opt.stream_pct > 0) {
        /* 64 KiB: far above any benchmark body; COPYPOSTFIELDS keeps curl's own copy. */
        static char body[65536];
        const char *tmpl = x->stream && opt.stream_body ? opt.stream_body : opt.body;
        if (opt.vary)
            render(tmpl, sent, body, sizeof(body));
        else
            snprintf(body, sizeof(body), "%s", tmpl);
        curl_easy_setopt(x->easy, CURLOPT_COPYPOSTFIELDS, body);
    }
    curl_multi_add_handle(multi, x->easy);
    sent++;
    if (++inflight > max_inflight)
        max_inflight = inflight;
}

static void finish(CURLM *multi, CURLMsg *msg)
{
    struct xfer *x;
    double t = now_ms();
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    long status = 0;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
    bool counted = x->due_ms - t0 >= opt.warmup_s * 1e3; /* warm-up requests run but are not measured */
    if (msg->data.result != CURLE_OK)
        errors++;
    else if (status < 200 || status > 299)
        non2xx++;
    else if (x->stream && !stream_complete(x))
        incomplete++;
    else {
        done_ok++;
        streams_ok += x->stream;
        header_hits += x->header_seen;
        if (counted) {
            add(&lat, t - x->due_ms);
            if (trace)
                fprintf(trace, "%.3f %.3f\n", x->due_ms, t - x->due_ms);
            if (x->stream && x->first_ms > 0)
                add(&ttfb, x->first_ms - x->due_ms);
        }
    }
    curl_multi_remove_handle(multi, x->easy);
    inflight--;
    x->next = pool;
    pool = x;
}

static void usage(void)
{
    fputs("usage: bench_loadgen --url URL [--rate R | --rate 0 --concurrency C] [--duration S | --requests N]\n"
          "       [--warmup-s W] [--body JSON] [--header \"K: V\"]... [--stream] [--max-conns M] [--label L]\n"
          "       [--vary] [--repeat-pct P] [--repeat-pool K] [--stream-pct S --stream-body JSON]\n"
          "       [--count-header \"K: V\"] [--progress-s P] [--trace-out FILE]\n",
          stderr);
    exit(2);
}

static double num(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || v < 0)
        usage();
    return v;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--stream"))
            opt.stream = true;
        else if (!strcmp(a, "--vary"))
            opt.vary = true;
        else if (!has)
            usage();
        else if (!strcmp(a, "--url"))
            opt.url = argv[++i];
        else if (!strcmp(a, "--label"))
            opt.label = argv[++i];
        else if (!strcmp(a, "--body"))
            opt.body = argv[++i];
        else if (!strcmp(a, "--header"))
            opt.headers = curl_slist_append(opt.headers, argv[++i]);
        else if (!strcmp(a, "--rate"))
            opt.rate = num(argv[++i]);
        else if (!strcmp(a, "--duration"))
            opt.duration_s = num(argv[++i]);
        else if (!strcmp(a, "--warmup-s"))
            opt.warmup_s = num(argv[++i]);
        else if (!strcmp(a, "--requests"))
            opt.requests = (long)num(argv[++i]);
        else if (!strcmp(a, "--concurrency"))
            opt.concurrency = (long)num(argv[++i]);
        else if (!strcmp(a, "--max-conns"))
            opt.max_conns = (long)num(argv[++i]);
        else if (!strcmp(a, "--repeat-pct"))
            opt.repeat_pct = num(argv[++i]);
        else if (!strcmp(a, "--repeat-pool"))
            opt.repeat_pool = (long)num(argv[++i]);
        else if (!strcmp(a, "--stream-pct"))
            opt.stream_pct = num(argv[++i]);
        else if (!strcmp(a, "--stream-body"))
            opt.stream_body = argv[++i];
        else if (!strcmp(a, "--count-header"))
            opt.count_header = argv[++i];
        else if (!strcmp(a, "--progress-s"))
            opt.progress_s = num(argv[++i]);
        else if (!strcmp(a, "--trace-out"))
            opt.trace_out = argv[++i];
        else
            usage();
    }
    if (!opt.url || (opt.rate == 0 && opt.concurrency < 1) || opt.repeat_pct > 100 || opt.stream_pct > 100 ||
        opt.repeat_pool < 1 || (opt.stream_pct > 0 && !opt.stream_body))
        usage();
    opt.headers = curl_slist_append(opt.headers, "Content-Type: application/json");
    opt.headers = curl_slist_append(opt.headers, "Expect:"); /* no 100-continue round trip */
    if (opt.trace_out && !(trace = fopen(opt.trace_out, "w"))) {
        perror(opt.trace_out);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, opt.max_conns);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, opt.max_conns);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, opt.max_conns);

    t0 = now_ms();
    double end = t0 + opt.duration_s * 1e3, next_progress = t0 + opt.progress_s * 1e3;
    long next = 0; /* index of the next open-loop arrival */
    bool sending = true;
    while (sending || inflight > 0) {
        double t = now_ms();
        if (sending) {
            if (opt.rate > 0) {
                /* Every arrival that is due, even if the server is behind: that is the open loop. */
                for (double due = t0 + (double)next * 1e3 / opt.rate; due <= t && due < end;
                     due = t0 + (double)next * 1e3 / opt.rate) {
                    start(multi, due);
                    next++;
                }
                if (t0 + (double)next * 1e3 / opt.rate >= end || (opt.requests && next >= opt.requests))
                    sending = false;
            } else {
                while (inflight < opt.concurrency && (!opt.requests || sent < opt.requests))
                    start(multi, now_ms());
                if ((opt.requests && sent >= opt.requests) || (!opt.requests && t >= end))
                    sending = false;
            }
        }
        int running;
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(multi, &left)) != NULL)
            if (msg->msg == CURLMSG_DONE)
                finish(multi, msg);
        if (!sending && inflight == 0)
            break;
        if (opt.progress_s > 0 && now_ms() >= next_progress) {
            fprintf(stderr,
                    "{\"t_s\":%.1f,\"sent\":%ld,\"ok\":%ld,\"non2xx\":%ld,\"errors\":%ld,\"incomplete\":%ld,"
                    "\"streams\":%ld,\"header_hits\":%ld,\"inflight\":%ld}\n",
                    (now_ms() - t0) / 1e3, sent, done_ok, non2xx, errors, incomplete, streams_ok, header_hits,
                    inflight);
            next_progress += opt.progress_s * 1e3;
        }
        int wait_ms = 50;
        if (sending && opt.rate > 0) {
            double due = t0 + (double)next * 1e3 / opt.rate - now_ms();
            wait_ms = due <= 0 ? 0 : due < 50 ? (int)due : 50;
        } else if (sending) {
            wait_ms = inflight < opt.concurrency ? 0 : 50;
        }
        curl_multi_poll(multi, NULL, 0, wait_ms, NULL);
    }
    double elapsed_s = (now_ms() - t0) / 1e3;

    printf("{\"label\":\"%s\",\"mode\":\"%s\",\"rate\":%.1f,\"concurrency\":%ld,\"sent\":%ld,\"ok\":%ld,"
           "\"non2xx\":%ld,\"errors\":%ld,\"incomplete\":%ld,\"streams\":%ld,\"header_hits\":%ld,"
           "\"elapsed_s\":%.3f,\"achieved_rps\":%.1f,\"max_inflight\":%ld,",
           opt.label, opt.rate > 0 ? "open" : "closed", opt.rate, opt.concurrency, sent, done_ok, non2xx, errors,
           incomplete, streams_ok, header_hits, elapsed_s, (double)done_ok / elapsed_s, max_inflight);
    print_stats("latency_ms", &lat, true);
    print_stats("ttfb_ms", &ttfb, true);
    print_stats("gap_ms", &gaps, false);
    printf("}\n");

    while (pool) {
        struct xfer *x = pool;
        pool = x->next;
        curl_easy_cleanup(x->easy);
        free(x);
    }
    curl_multi_cleanup(multi);
    curl_slist_free_all(opt.headers);
    curl_global_cleanup();
    free(lat.v);
    free(ttfb.v);
    free(gaps.v);
    if (trace && fclose(trace) != 0) {
        perror(opt.trace_out);
        return 2;
    }
    return errors || non2xx || incomplete ? 1 : 0;
}
