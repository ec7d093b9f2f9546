/* redis.c - a pool of blocking hiredis connections with a per-command budget, and one background thread that
 * (re)connects them, so that no caller ever waits on a connect.
 *
 * Why blocking connections with socket timeouts rather than hiredis's async API: each command is one round
 * trip on loopback or a LAN (tens of microseconds), the caller is a thread that needs the answer before it
 * can go on (admission), and a timeout on the socket bounds the wait. A connection that timed out may still
 * get its late reply, so it is never reused: it is closed and the reconnect thread makes a new one. */
#include "common/clock.h"
#include "common/redis.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/metrics.h"

#define RECONNECT_MIN_MS 100  /* first retry after a failure: quick, a restarted server is back at once */
#define RECONNECT_MAX_MS 2000 /* backoff cap: a server down for long costs one connect attempt per 2 s */

struct slot {
    pthread_mutex_t mu; /* held for one command, or to publish a new connection */
    redisContext *ctx;  /* NULL: down, the reconnect thread owns making it */
};

struct lgw_redis {
    struct lgw_redis_url url;
    char desc[512]; /* for logs: never the password */
    int64_t timeout_ms, connect_timeout_ms;
    struct lgw_metrics *metrics;
    struct slot *slots;
    int nslots;
    atomic_uint next;  /* where the next command starts looking for a free slot */
    /* Down from a command's failure until the reconnect thread makes a connection again; set_up logs and
     * exports each transition once, not once per request. */
    atomic_bool up;

    pthread_mutex_t mu; /* guards stop and the wake-up below */
    pthread_cond_t cond;
    bool stop, wake;
    pthread_t thread;
    bool thread_started;
};

/* Copies src[0..len) into out with %XX decoded. Returns 0, or -1 on a bad escape or if it does not fit. */
static int decode(const char *src, size_t len, char *out, size_t outsz)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = lgw_hex_digit(src[i + 1]), lo = lgw_hex_digit(src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0' || n + 1 >= outsz)
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    return 0;
}

static int parse_uint(const char *s, size_t len, long long max, int *out)
{
    long long v;
    if (len == 0 || lgw_parse_int64(s, len, &v) || v < 0 || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

int lgw_redis_parse_url(const char *url, struct lgw_redis_url *out, struct lgw_buf *errs)
{
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    const char *why = NULL;
    if (strncmp(url, "rediss://", 9) == 0) {
        why = "rediss:// (TLS) is not supported: Debian 12's hiredis 0.14 has no TLS";
        goto bad;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        why = "must start with redis://";
        goto bad;
    }
    const char *p = url + 8;
    const char *at = strrchr(p, '@'); /* the host part has no '@'; a password's '@' must be written %40 */
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            if (decode(p, (size_t)(colon - p), out->user, sizeof(out->user)) ||
                decode(colon + 1, (size_t)(at - colon - 1), out->password, sizeof(out->password))) {
                why = "bad user or password (too long, or a bad %-escape)";
                goto bad;
            }
        } else if (decode(p, (size_t)(at - p), out->password, sizeof(out->password))) {
            why = "bad password (too long, or a bad %-escape)";
            goto bad;
        }
        p = at + 1;
    }
    const char *end = p + strcspn(p, "/");
    const char *host = p, *host_end, *port = NULL;
    if (*p == '[') { /* [IPv6]:port */
        host = p + 1;
        host_end = memchr(host, ']', (size_t)(end - host));
        if (!host_end) {
            why = "unclosed [ in the host";
            goto bad;
        }
        if (host_end + 1 < end) {
            if (host_end[1] != ':') {
                why = "bad host";
                goto bad;
            }
            port = host_end + 2;
        }
    } else {
        host_end = memchr(host, ':', (size_t)(end - host));
        if (host_end)
            port = host_end + 1;
        else
            host_end = end;
    }
    if (host_end == host || (size_t)(host_end - host) >= sizeof(out->host)) {
        why = "missing or too long host";
        goto bad;
    }
    memcpy(out->host, host, (size_t)(host_end - host));
    out->host[host_end - host] = '\0';
    if (port && parse_uint(port, (size_t)(end - port), 65535, &out->port)) {
        why = "bad port";
        goto bad;
    }
    if (port && out->port == 0) {
        why = "bad port";
        goto bad;
    }
    if (*end == '/' && end[1] && parse_uint(end + 1, strlen(end + 1), 1000000, &out->db)) {
        why = "bad database number (redis://host:port/N)";
        goto bad;
    }
    return LGW_OK;
bad:
    if (errs)
        lgw_buf_printf(errs, "redis_url: %s\n", why);
    memset(out, 0, sizeof(*out));
    return LGW_ERR(CONFIG);
}

const char *lgw_redis_describe(const struct lgw_redis_url *url, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s%s%s:%d/%d", url->user, url->user[0] ? "@" : "", url->host, url->port, url->db);
    return out;
}

static struct timeval tv_ms(int64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

/* One command during connect; returns 0 if the reply is not an error. Never logs the arguments. */
static int setup_command(redisContext *ctx, int argc, const char **argv, const char *what, const char *desc)
{
    redisReply *reply = redisCommandArgv(ctx, argc, argv, NULL);
    int rc = LGW_OK;
    if (!reply) {
        LGW_DEBUG("redis", "%s on %s failed: %s", what, desc, ctx->errstr);
        rc = LGW_ERR(UNAVAILABLE);
    } else if (reply->type == REDIS_REPLY_ERROR) {
        /* The server's text ("WRONGPASS invalid username-password pair") names no secret. */
        LGW_WARN("redis", "%s on %s refused: %.200s", what, desc, reply->str);
        rc = LGW_ERR(UNAVAILABLE);
    }
    if (reply)
        freeReplyObject(reply);
    return rc;
}

/* Connects, authenticates and selects the database. Returns the context or NULL. Blocks up to about
 * connect_timeout_ms per step; never called on a caller's command path. */
static redisContext *connect_one(struct lgw_redis *r)
{
    redisContext *ctx = redisConnectWithTimeout(r->url.host, r->url.port, tv_ms(r->connect_timeout_ms));
    if (!ctx)
        return NULL;
    if (ctx->err) {
        LGW_DEBUG("redis", "connect to %s failed: %s", r->desc, ctx->errstr);
        goto fail;
    }
    if (redisSetTimeout(ctx, tv_ms(r->connect_timeout_ms)) != REDIS_OK)
        goto fail;
    if (r->url.password[0]) {
        const char *argv[3] = {"AUTH", r->url.user, r->url.password};
        if (r->url.user[0] ? setup_command(ctx, 3, argv, "AUTH", r->desc)
                           : setup_command(ctx, 2, (const char *[]){"AUTH", r->url.password}, "AUTH", r->desc))
            goto fail;
    }
    if (r->url.db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", r->url.db);
        if (setup_command(ctx, 2, (const char *[]){"SELECT", db}, "SELECT", r->desc))
            goto fail;
    }
    if (redisSetTimeout(ctx, tv_ms(r->timeout_ms)) != REDIS_OK)
        goto fail;
    return ctx;
fail:
    redisFree(ctx);
    return NULL;
}

static void set_up(struct lgw_redis *r, bool up)
{
    bool was = atomic_exchange(&r->up, up);
    if (was == up)
        return;
    if (r->metrics)
        lgw_metrics_gauge_set(r->metrics, "llmgw_redis_up", NULL, up ? 1 : 0);
    if (up) {
        LGW_INFO("redis", "connected to %s", r->desc);
    } else {
        LGW_WARN("redis", "lost %s; reconnecting in the background", r->desc);
    }
}

static void wake(struct lgw_redis *r)
{
    pthread_mutex_lock(&r->mu);
    r->wake = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->mu);
}

/* Connects every slot that is down. Returns how many are down afterwards. */
static int reconnect_pass(struct lgw_redis *r)
{
    int down = 0;
    for (int i = 0; i < r->nslots; i++) {
        struct slot *s = &r->slots[i];
        pthread_mutex_lock(&s->mu);
        bool need = s->ctx == NULL;
        pthread_mutex_unlock(&s->mu);
        if (!need)
            continue;
        /* Connect outside the slot's lock: a caller that picks this slot meanwhile fails at once rather than
         * waiting for our connect. */
        redisContext *ctx = connect_one(r);
        if (!ctx) {
            down++;
            continue;
        }
        pthread_mutex_lock(&s->mu);
        if (!s->ctx) {
            s->ctx = ctx;
            ctx = NULL;
        }
        pthread_mutex_unlock(&s->mu);
        if (ctx)
            redisFree(ctx);
        if (r->metrics)
            lgw_metrics_add(r->metrics, "llmgw_redis_reconnects_total", NULL, 1);
        set_up(r, true);
    }
    return down;
}

static void *reconnect_main(void *arg)
{
    pthread_setname_np(pthread_self(), "redis-reconnect"); /* its CPU apart in top -H, perf and /proc/<pid>/task */
    struct lgw_redis *r = arg;
    int64_t backoff = RECONNECT_MIN_MS;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        pthread_mutex_unlock(&r->mu);
        int down = reconnect_pass(r);
        backoff = down ? (backoff * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : backoff * 2) : RECONNECT_MIN_MS;
        pthread_mutex_lock(&r->mu);
        if (r->stop)
            break;
        if (!r->wake || down) {
            /* Everything up: sleep until a command fails. Something down: retry after the backoff (a wake-up
             * meanwhile changes nothing, the server is still not there). */
            struct timespec ts = lgw_deadline_in_ms(CLOCK_REALTIME, down ? backoff : 1000);
            while (!r->stop && !(r->wake && !down))
                if (pthread_cond_timedwait(&r->cond, &r->mu, &ts) == ETIMEDOUT)
                    break;
        }
        r->wake = false;
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int lgw_redis_new(const struct lgw_redis_options *opt, struct lgw_redis **out)
{
    *out = NULL;
    struct lgw_redis_url url;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 1024);
    int rc = lgw_redis_parse_url(opt->url ? opt->url : "", &url, &errs);
    if (rc) {
        LGW_ERROR("redis", "%.*s", (int)(errs.len ? errs.len - 1 : 0), errs.ptr ? errs.ptr : "");
        lgw_buf_cleanup(&errs);
        return rc;
    }
    lgw_buf_cleanup(&errs);
    struct lgw_redis *r = lgw_calloc(1, sizeof(*r));
    r->url = url;
    lgw_redis_describe(&url, r->desc, sizeof(r->desc));
    r->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : 5;
    r->connect_timeout_ms = opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : 1000;
    r->metrics = opt->metrics;
    r->nslots = opt->pool > 0 ? opt->pool : 1;
    r->slots = lgw_calloc((size_t)r->nslots, sizeof(*r->slots));
    for (int i = 0; i < r->nslots; i++)
        pthread_mutex_init(&r->slots[i].mu, NULL);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cond, NULL);
    if (r->metrics) {
        lgw_metrics_declare(r->metrics, "llmgw_redis_up", LGW_METRIC_GAUGE,
                            "1 while a connection to Redis works, 0 while it is down or slower than its budget.");
        lgw_metrics_declare(r->metrics, "llmgw_redis_reconnects_total", LGW_METRIC_COUNTER,
                            "Connections to Redis made (at start-up and after a failure).");
        lgw_metrics_gauge_set(r->metrics, "llmgw_redis_up", NULL, 0);
    }
    if (reconnect_pass(r) == r->nslots)
        LGW_WARN("redis", "cannot reach %s at start-up; retrying in the background", r->desc);
    if (pthread_create(&r->thread, NULL, reconnect_main, r) != 0) {
        LGW_ERROR("redis", "cannot start the reconnect thread");
        lgw_redis_free(r);
        return LGW_ERR(INTERNAL);
    }
    r->thread_started = true;
    *out = r;
    return LGW_OK;
}

void lgw_redis_free(struct lgw_redis *r)
{
    if (!r)
        return;
    if (r->thread_started) {
        pthread_mutex_lock(&r->mu);
        r->stop = true;
        pthread_cond_signal(&r->cond);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->thread, NULL);
    }
    for (int i = 0; i < r->nslots; i++) {
        if (r->slots[i].ctx)
            redisFree(r->slots[i].ctx);
        pthread_mutex_destroy(&r->slots[i].mu);
    }
    free(r->slots);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cond);
    explicit_bzero(r->url.password, sizeof(r->url.password));
    free(r);
}

/* A connection broke (the server went away or restarted): the idle ones are as good as broken too, and each
 * would cost a request its fallback on first use; drop them all now and let the reconnect thread make new
 * ones. A connection that was only slow says nothing about the others, which are kept. */
static void drop_idle(struct lgw_redis *r)
{
    for (int i = 0; i < r->nslots; i++) {
        struct slot *s = &r->slots[i];
        if (pthread_mutex_trylock(&s->mu) != 0)
            continue; /* busy: its own command will find out */
        if (s->ctx) {
            redisFree(s->ctx);
            s->ctx = NULL;
        }
        pthread_mutex_unlock(&s->mu);
    }
}

bool lgw_redis_healthy(const struct lgw_redis *r)
{
    return r && atomic_load(&r->up);
}

int lgw_redis_command(struct lgw_redis *r, int argc, const char **argv, const size_t *argvlen,
                      struct redisReply **reply)
{
    *reply = NULL;
    if (!r)
        return LGW_ERR(UNAVAILABLE);
    /* A free, connected slot if there is one; else wait for the one we started at (another caller's command,
     * itself bounded by the budget). */
    unsigned start = atomic_fetch_add(&r->next, 1) % (unsigned)r->nslots;
    struct slot *s = NULL;
    for (int i = 0; i < r->nslots && !s; i++) {
        struct slot *c = &r->slots[(start + (unsigned)i) % (unsigned)r->nslots];
        if (pthread_mutex_trylock(&c->mu) != 0)
            continue;
        if (c->ctx)
            s = c;
        else
            pthread_mutex_unlock(&c->mu);
    }
    if (!s) {
        s = &r->slots[start];
        pthread_mutex_lock(&s->mu);
    }
    if (!s->ctx) {
        pthread_mutex_unlock(&s->mu);
        return LGW_ERR(UNAVAILABLE);
    }
    redisReply *rep = redisCommandArgv(s->ctx, argc, argv, argvlen);
    if (!rep) {
        /* Broken, or slower than the budget: a late reply could still arrive on this connection, so it is
         * never used again. */
        bool slow = s->ctx->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
        LGW_DEBUG("redis", "command on %s failed: %s", r->desc, s->ctx->errstr);
        redisFree(s->ctx);
        s->ctx = NULL;
        /* Down before the slot is given up: the reconnect thread can replace this connection only once we
         * unlock, so its "up" always lands after our "down". Marked after unlocking, a reconnect in between
         * left the client down for good with every connection working (no later pass had anything to
         * connect): every limit and the response cache then ran on this process's memory while Redis was
         * fine, which bench/soak.sh found as a worker's memory growing under load. */
        set_up(r, false);
        pthread_mutex_unlock(&s->mu);
        if (!slow)
            drop_idle(r);
        wake(r);
        return LGW_ERR(UNAVAILABLE);
    }
    pthread_mutex_unlock(&s->mu);
    *reply = rep;
    return LGW_OK;
}
