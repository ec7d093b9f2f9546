/* fakeprov.c - a fast fake LLM provider (OpenAI chat, Anthropic messages, model list) for benchmarks, so
 * the fake is never the bottleneck: one thread per connection, and a request only ever blocks its own.
 *
 * Usage: bench_fakeprov --port P [--latency-ms N] [--jitter-ms J] [--chunks K] [--gap-ms G] [--host H]
 *                       [--hold-until N [--hold-max-ms M]]
 * Prints "ready" once listening; runs until SIGTERM or SIGINT.
 *
 * --hold-until N holds every stream's first event until N streams are being served at once (or M ms, 60,000 by
 * default, have passed since the stream began; after that it goes on alone). A test of "the client holds N calls at
 * once" then does not depend on how fast the client opens them: each stream stays open until all N are.
 *
 * POST /v1/traces and /v1/metrics are a null OTLP/HTTP sink: the body is read and dropped, the answer is 200 with
 * an empty (protobuf) ExportServiceResponse. For measuring an exporter's own cost without a collector's CPU.
 *
 * GET /_stats answers {"active": streams being served now, "max_active": the most at once, "streams": streamed
 * requests started, "aborted": streamed requests whose client went away before the stream's end}, counted since
 * start or since the last POST /_stats/reset (which zeroes streams and aborted, and sets max_active to active). */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "args.h"
#include "bench_clock.h"

static long opt_latency, opt_jitter, opt_chunks = 8, opt_gap, opt_hold_until, opt_hold_max_ms = 60000;

/* --hold-until's barrier: `held_open` turns true, for good, when stat_active first reaches opt_hold_until. */
static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;
static bool held_open;

/* What GET /_stats reports; connection threads update them without a lock. */
static atomic_long stat_active, stat_max_active, stat_streams, stat_aborted;

/* One request's state: created on its first call to the access handler, freed when it completes. */
struct req {
    bool stream;
    bool streaming; /* a streamed answer was queued: counted in stat_active until the request completes */
    char tail[16]; /* the body's last bytes, so a "stream":true split across two reads is still seen */
    size_t tail_len;
};

/* A streamed answer in progress; `step` counts events, `ev` holds the one being sent. */
struct stream {
    bool anthropic;
    long step, chunks, gap_ms;
    long long created;
    struct timespec hold_until; /* CLOCK_REALTIME: how long the first event may wait for --hold-until's count */
    char ev[512];
    size_t len, off;
};

static const char OPENAI_BODY[] =
    "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":%lld,\"model\":\"gpt-4o-mini\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello from the benchmark fake.\","
    "\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":7,\"total_tokens\":19}}";
static const char ANTHROPIC_BODY[] =
    "{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-6\","
    "\"content\":[{\"type\":\"text\",\"text\":\"Hello from the benchmark fake.\"}],\"stop_reason\":\"end_turn\","
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"output_tokens\":7,\"cache_creation_input_tokens\":0,"
    "\"cache_read_input_tokens\":0}}";
static const char MODELS_BODY[] = "{\"object\":\"list\",\"data\":[{\"id\":\"gpt-4o-mini\",\"object\":\"model\","
                                  "\"created\":0,\"owned_by\":\"bench\"}]}";
static const char NOT_FOUND_BODY[] = "{\"error\":{\"message\":\"Unknown path.\",\"type\":\"invalid_request_error\","
                                     "\"param\":null,\"code\":\"not_found\"}}";
#define CHUNK_HEAD                                                                                                     \
    "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":%lld,\"model\":\"gpt-4o-mini\","

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Uniform in [0, max]: xorshift64 with one state per thread, so connection threads never share a lock. */
static long jitter_ms(long max)
{
    static _Thread_local uint64_t s;
    if (max <= 0)
        return 0;
    if (s == 0)
        s = ((uint64_t)(uintptr_t)&s * 0x9E3779B97F4A7C15ull) ^ (uint64_t)time(NULL) ^ 1;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return (long)(s % (uint64_t)(max + 1));
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Renders event `st->step` into st->ev; returns false when the stream is over. */
static bool next_event(struct stream *st)
{
    long k = st->chunks, i = st->step;
    int n = -1;
    if (!st->anthropic) {
        if (i < k)
            n = snprintf(st->ev, sizeof(st->ev),
                         CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok%ld \"},\"logprobs\":null,"
                                    "\"finish_reason\":null}]}\n\n",
                         st->created, i);
        else if (i == k)
            n = snprintf(st->ev, sizeof(st->ev),
                         CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                                    "\"finish_reason\":\"stop\"}]}\n\n",
                         st->created);
        else if (i == k + 1)
            n = snprintf(st->ev, sizeof(st->ev),
                         CHUNK_HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":%ld,"
                                    "\"total_tokens\":%ld}}\n\n",
                         st->created, k, 12 + k);
        else if (i == k + 2)
            n = snprintf(st->ev, sizeof(st->ev), "data: [DONE]\n\n");
    } else {
        if (i == 0)
            n = snprintf(st->ev, sizeof(st->ev),
                         "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_bench\","
                         "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-6\","
                         "\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
                         "\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n");
        else if (i == 1)
            n = snprintf(st->ev, sizeof(st->ev),
                         "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
                         "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
        else if (i < k + 2)
            n = snprintf(st->ev, sizeof(st->ev),
                         "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
                         "\"delta\":{\"type\":\"text_delta\",\"text\":\"tok%ld \"}}\n\n",
                         i - 2);
        else if (i == k + 2)
            n = snprintf(st->ev, sizeof(st->ev),
                         "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n");
        else if (i == k + 3)
            n = snprintf(st->ev, sizeof(st->ev),
                         "event: message_delta\ndata: {\"type\":\"message_delta\","
                         "\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
                         "\"usage\":{\"output_tokens\":%ld}}\n\n",
                         k);
        else if (i == k + 4)
            n = snprintf(st->ev, sizeof(st->ev), "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    }
    if (n < 0 || (size_t)n >= sizeof(st->ev))
        return false;
    /* The gap separates consecutive content events; the first comes right after the latency. */
    long first_content = st->anthropic ? 2 : 0;
    if (i > first_content && i < first_content + k)
        sleep_ms(st->gap_ms);
    st->len = (size_t)n;
    st->off = 0;
    st->step++;
    return true;
}

/* Waits on the connection's own thread until --hold-until's count is reached or the stream's wait runs out. */
static void hold_first_event(const struct stream *st)
{
    pthread_mutex_lock(&hold_lock);
    while (!held_open && pthread_cond_timedwait(&hold_cond, &hold_lock, &st->hold_until) == 0)
        ;
    pthread_mutex_unlock(&hold_lock);
}

/* Counts a stream being served; the one that reaches --hold-until's count lets every held stream go. */
static void count_active(void)
{
    long active = atomic_fetch_add(&stat_active, 1) + 1, max = atomic_load(&stat_max_active);
    while (active > max && !atomic_compare_exchange_weak(&stat_max_active, &max, active))
        ;
    if (opt_hold_until > 0 && active >= opt_hold_until) {
        pthread_mutex_lock(&hold_lock);
        held_open = true;
        pthread_cond_broadcast(&hold_cond);
        pthread_mutex_unlock(&hold_lock);
    }
}

/* Runs on the connection's own thread, so sleeping here holds up no other request. */
static ssize_t stream_reader_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream *st = cls;
    if (st->step == 0 && st->off == st->len && opt_hold_until > 0)
        hold_first_event(st);
    if (st->off == st->len && !next_event(st))
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = st->len - st->off < max ? st->len - st->off : max;
    memcpy(buf, st->ev + st->off, n);
    st->off += n;
    return (ssize_t)n;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type, const char *body)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* GET /_stats and POST /_stats/reset. */
static enum MHD_Result stats(struct MHD_Connection *conn, bool reset)
{
    if (reset) {
        atomic_store(&stat_streams, 0);
        atomic_store(&stat_aborted, 0);
        atomic_store(&stat_max_active, atomic_load(&stat_active));
    }
    char body[160];
    snprintf(body, sizeof(body), "{\"active\":%ld,\"max_active\":%ld,\"streams\":%ld,\"aborted\":%ld}",
             atomic_load(&stat_active), atomic_load(&stat_max_active), atomic_load(&stat_streams),
             atomic_load(&stat_aborted));
    return reply(conn, MHD_HTTP_OK, "application/json", body);
}

/* Scans a piece of the body for "stream":true, including a match that straddles two pieces. */
static void scan_body(struct req *r, const char *data, size_t len)
{
    static const char *const pats[] = {"\"stream\":true", "\"stream\": true"};
    char win[sizeof(r->tail) * 2];
    size_t head = len < sizeof(r->tail) ? len : sizeof(r->tail);
    memcpy(win, r->tail, r->tail_len);
    memcpy(win + r->tail_len, data, head);
    for (size_t p = 0; p < 2 && !r->stream; p++)
        r->stream = memmem(win, r->tail_len + head, pats[p], strlen(pats[p])) ||
                    memmem(data, len, pats[p], strlen(pats[p]));
    /* Keep the newest bytes seen: data's own end, or all of tail + data when data is short (then in win). */
    bool big = len >= sizeof(r->tail);
    size_t avail = big ? len : r->tail_len + len;
    r->tail_len = avail < sizeof(r->tail) ? avail : sizeof(r->tail);
    memcpy(r->tail, (big ? data + len : win + avail) - r->tail_len, r->tail_len);
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    (void)cls;
    (void)version;
    bool post = strcmp(method, "POST") == 0;
    bool openai = post && has_suffix(url, "/chat/completions");
    bool anthropic = post && has_suffix(url, "/v1/messages");
    bool otlp = post && (strcmp(url, "/v1/traces") == 0 || strcmp(url, "/v1/metrics") == 0);
    if (!openai && !anthropic && !otlp) {
        if (strcmp(method, "GET") == 0 && strcmp(url, "/v1/models") == 0)
            return reply(conn, MHD_HTTP_OK, "application/json", MODELS_BODY);
        if (strcmp(method, "GET") == 0 && strcmp(url, "/_stats") == 0)
            return stats(conn, false);
        if (post && strcmp(url, "/_stats/reset") == 0)
            return stats(conn, true);
        return reply(conn, MHD_HTTP_NOT_FOUND, "application/json", NOT_FOUND_BODY);
    }
    struct req *r = *con_cls;
    if (!r) { /* first call: headers only */
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!otlp)
            scan_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (otlp)
        return reply(conn, MHD_HTTP_OK, "application/x-protobuf", "");
    /* The whole body is in: play the provider's thinking time, then answer. */
    sleep_ms(opt_latency + jitter_ms(opt_jitter));
    long long now = (long long)time(NULL);
    if (!r->stream) {
        if (anthropic)
            return reply(conn, MHD_HTTP_OK, "application/json", ANTHROPIC_BODY);
        char body[sizeof(OPENAI_BODY) + 32];
        snprintf(body, sizeof(body), OPENAI_BODY, now);
        return reply(conn, MHD_HTTP_OK, "application/json", body);
    }
    struct stream *st = calloc(1, sizeof(*st));
    if (!st)
        return MHD_NO;
    st->anthropic = anthropic;
    st->chunks = opt_chunks;
    st->gap_ms = opt_gap;
    st->created = now;
    if (opt_hold_until > 0)
        st->hold_until = bench_after_ms(CLOCK_REALTIME, opt_hold_max_ms);
    /* A small block size: each event is handed to the socket as soon as it is rendered. */
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, stream_reader_cb, st, free);
    if (!resp) {
        free(st);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    r->streaming = true; /* from here completed_cb sees the request's end, however it ends */
    atomic_fetch_add(&stat_streams, 1);
    count_active();
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    struct req *r = *con_cls;
    if (r && r->streaming) {
        /* Anything but a clean end (the client closed, a write failed, the daemon stopped) is an abort. */
        atomic_fetch_sub(&stat_active, 1);
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
            atomic_fetch_add(&stat_aborted, 1);
    }
    free(*con_cls);
    *con_cls = NULL;
}

/* Small writes (headers, then each event) must leave at once: with Nagle on, the second waits ~40 ms for
 * the client's delayed ACK. */
static void connection_cb(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)socket_context;
    if (toe != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int one = 1;
    if (info)
        (void)setsockopt(info->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_fakeprov --port P [--latency-ms N] [--jitter-ms J] [--chunks K] [--gap-ms G] "
                    "[--host 127.0.0.1] [--hold-until N [--hold-max-ms M]]\n");
    return 2;
}

int main(int argc, char **argv)
{
    long port = 0;
    const char *host = "127.0.0.1";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = v != NULL;
        if (ok && strcmp(a, "--port") == 0)
            ok = bench_parse_long(v, 1, 65535, &port);
        else if (ok && strcmp(a, "--latency-ms") == 0)
            ok = bench_parse_long(v, 0, 3600000, &opt_latency);
        else if (ok && strcmp(a, "--jitter-ms") == 0)
            ok = bench_parse_long(v, 0, 3600000, &opt_jitter);
        else if (ok && strcmp(a, "--chunks") == 0)
            ok = bench_parse_long(v, 0, 100000, &opt_chunks);
        else if (ok && strcmp(a, "--gap-ms") == 0)
            ok = bench_parse_long(v, 0, 3600000, &opt_gap);
        else if (ok && strcmp(a, "--hold-until") == 0)
            ok = bench_parse_long(v, 0, 1000000, &opt_hold_until);
        else if (ok && strcmp(a, "--hold-max-ms") == 0)
            ok = bench_parse_long(v, 0, 3600000, &opt_hold_max_ms);
        else if (ok && strcmp(a, "--host") == 0)
            host = v;
        else
            ok = false;
        if (!ok) {
            fprintf(stderr, "bench_fakeprov: bad or unknown option %s\n", a);
            return usage();
        }
        i++;
    }
    if (!port)
        return usage();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "bench_fakeprov: --host must be an IPv4 address\n");
        return 2;
    }
    /* Block the stop signals before MHD starts its threads (they inherit the mask), so only sigwait sees them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Thread per connection: a waiting request costs one sleeping thread and nothing else. (It cannot be
     * combined with epoll; poll is what MHD uses per connection thread.) */
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG,
        (uint16_t)port, NULL, NULL, access_cb, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)20000, MHD_OPTION_THREAD_STACK_SIZE, (size_t)256 * 1024,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)4096,
        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, NULL, MHD_OPTION_NOTIFY_CONNECTION, connection_cb, NULL,
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bench_fakeprov: cannot listen on %s:%ld\n", host, port);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "bench_fakeprov: signal %d, stopping\n", sig);
    /* Streams still held by --hold-until go on, so the daemon's stop does not wait out their hold. */
    pthread_mutex_lock(&hold_lock);
    held_open = true;
    pthread_cond_broadcast(&hold_cond);
    pthread_mutex_unlock(&hold_lock);
    MHD_stop_daemon(d);
    return 0;
}
