/* api.c - the Files and Batch API's pool and mounts (see api.h).
 *
 * The HTTP thread only queues a call (handle_cb never blocks); a pool thread makes sure the files table
 * exists, serves the call on its own connection and completes it. The queue is bounded (QUEUE_MAX): past it
 * the call is answered 503 at once, so a burst of uploads queues neither memory nor minutes of work. */
#include "batch/api.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "batch/api_int.h"
#include "batch/store.h"
#include "batch/submit.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/http_error.h"
#include "common/log.h"

#define FILES "/v1/files"
#define BATCHES "/v1/batches"
/* Calls that may wait for a pool thread (each holds its request body: up to batch_file_max_bytes). */
#define QUEUE_MAX 64
/* The multipart framing around an uploaded file: boundaries, part headers, the purpose field. */
#define UPLOAD_FRAMING_MAX (64 * 1024)
/* A POST /v1/batches body: input_file_id, endpoint, window and up to 16 metadata pairs. */
#define BATCH_BODY_MAX (64 * 1024)
/* How often a pool thread deletes expired files (retention is in days: an hour late is nothing). */
#define EXPIRE_EVERY_S 3600
/* The longest a call may wait and run: storing or reading a 100 MiB file, submitting a large batch. */
#define CALL_TIMEOUT_MS (5 * 60 * 1000)

struct lgw_batch_api {
    const struct lgw_config *cfg;
    struct lgw_metrics *m;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct lgw_http_call *queue[QUEUE_MAX]; /* ring; guarded by lock */
    size_t qhead, qlen;
    bool stopping;
    int nthreads;
    pthread_t *threads;
    struct lgw_api_ctx *ctxs;
    atomic_bool migrated;      /* the files table exists (created once by whichever thread gets there) */
    atomic_llong next_expire_s; /* wall seconds of the next retention sweep */
    rd_kafka_t *producer;       /* batch records and lines (batch/submit.h); shared by the pool threads */
};

struct thread_arg {
    struct lgw_batch_api *api;
    int i;
};

void lgw_api_error(struct lgw_http_call *call, int rc, const char *message, const char *param)
{
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    lgw_http_error_body_param(rc, message, param, &buf);
    size_t len;
    char *body = lgw_buf_take(&buf, &len);
    lgw_http_call_done(call, lgw_err_status(rc), NULL, body, len);
}

void lgw_api_json(struct lgw_http_call *call, json_t *obj)
{
    char *body = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!body) {
        LGW_ERROR("batch", "out of memory rendering an answer");
        abort();
    }
    lgw_http_call_done(call, 200, NULL, body, strlen(body));
}

const char *lgw_api_scope(const struct lgw_http_call *call)
{
    return call->caller.admin ? "" : call->caller.tenant;
}

bool lgw_api_path_id(struct lgw_http_call *call, const char *rest, const char *sub_path, char *id, size_t idsz,
                     const char **sub)
{
    const char *start = rest + 1, *slash = strchr(start, '/');
    size_t idlen = slash ? (size_t)(slash - start) : strlen(start);
    *sub = slash ? slash : "";
    if (idlen == 0 || idlen >= idsz || ((*sub)[0] && strcmp(*sub, sub_path) != 0)) {
        lgw_api_error(call, LGW_ERR(NOT_FOUND), NULL, NULL);
        return false;
    }
    memcpy(id, start, idlen);
    id[idlen] = '\0';
    return true;
}

int lgw_api_query_int(struct lgw_http_call *call, const char *name, int64_t min, int64_t max, int64_t def,
                      int64_t *out)
{
    const char *v = lgw_http_call_query(call, name);
    long long n;
    if (!v) {
        *out = def;
        return 0;
    }
    if (lgw_parse_int64(v, strlen(v), &n) || n < min || n > max) {
        char msg[128];
        snprintf(msg, sizeof(msg), "'%s' must be an integer from %lld to %lld.", name, (long long)min,
                 (long long)max);
        lgw_api_error(call, LGW_ERR(INVALID), msg, name);
        return LGW_ERR(INVALID);
    }
    *out = n;
    return 0;
}

/* Creates the table once per process; a thread that finds the database down tries again at its next call. */
static int ensure_schema(struct lgw_batch_api *api, struct lgw_api_ctx *ctx)
{
    if (atomic_load(&api->migrated))
        return 0;
    int rc = lgw_files_migrate(ctx->db);
    if (rc == 0)
        atomic_store(&api->migrated, true);
    return rc;
}

static void maybe_expire(struct lgw_batch_api *api, struct lgw_api_ctx *ctx)
{
    long long now = (long long)(lgw_wall_ms() / 1000), next = atomic_load(&api->next_expire_s);
    if (now < next || !atomic_compare_exchange_strong(&api->next_expire_s, &next, now + EXPIRE_EVERY_S))
        return; /* not yet, or another thread took this sweep */
    int64_t deleted = 0;
    if (lgw_files_expire(ctx->db, now, &deleted) == 0 && deleted > 0)
        LGW_INFO("batch", "deleted %lld file(s) past batch_retention_days", (long long)deleted);
}

static void serve(struct lgw_batch_api *api, struct lgw_api_ctx *ctx, struct lgw_http_call *call)
{
    if (ensure_schema(api, ctx)) {
        lgw_api_error(call, LGW_ERR(UNAVAILABLE), "The files database cannot be reached; try again later.", NULL);
        return;
    }
    maybe_expire(api, ctx);
    const char *path = call->path;
    size_t nf = strlen(FILES), nb = strlen(BATCHES);
    /* The mount matched a prefix: "/v1/filesX" is nobody's. */
    if (strncmp(path, FILES, nf) == 0 && (path[nf] == '\0' || path[nf] == '/'))
        lgw_api_files_serve(ctx, call, path + nf);
    else if (strncmp(path, BATCHES, nb) == 0 && (path[nb] == '\0' || path[nb] == '/'))
        lgw_api_batches_serve(ctx, call, path + nb);
    else
        lgw_api_error(call, LGW_ERR(NOT_FOUND), NULL, NULL);
}

static void *thread_main(void *p)
{
    pthread_setname_np(pthread_self(), "batch-api"); /* its CPU apart in top -H, perf and /proc/<pid>/task */
    struct thread_arg *arg = p;
    struct lgw_batch_api *api = arg->api;
    struct lgw_api_ctx *ctx = &api->ctxs[arg->i];
    free(arg);
    for (;;) {
        pthread_mutex_lock(&api->lock);
        if (!api->stopping && api->qlen == 0) {
            /* Woken by a call, or at the latest each minute: a quiet gateway still deletes expired files. */
            struct timespec until = lgw_deadline_in_ms(CLOCK_REALTIME, 60 * 1000);
            pthread_cond_timedwait(&api->cond, &api->lock, &until);
        }
        if (api->stopping) {
            pthread_mutex_unlock(&api->lock);
            return NULL;
        }
        if (api->qlen == 0) {
            pthread_mutex_unlock(&api->lock);
            if (ensure_schema(api, ctx) == 0)
                maybe_expire(api, ctx);
            continue;
        }
        struct lgw_http_call *call = api->queue[api->qhead];
        api->qhead = (api->qhead + 1) % QUEUE_MAX;
        api->qlen--;
        pthread_mutex_unlock(&api->lock);
        if (lgw_mono_ms() >= call->deadline_ms) /* the client has had its 504 */
            lgw_api_error(call, LGW_ERR(TIMEOUT), NULL, NULL);
        else
            serve(api, ctx, call);
    }
}

/* The mounts' handler, on an HTTP thread: queue, or 503 when the queue is full or stopping. */
static void handle_cb(void *opaque, struct lgw_http_call *call)
{
    struct lgw_batch_api *api = opaque;
    pthread_mutex_lock(&api->lock);
    bool queued = !api->stopping && api->qlen < QUEUE_MAX;
    if (queued) {
        api->queue[(api->qhead + api->qlen) % QUEUE_MAX] = call;
        api->qlen++;
        pthread_cond_signal(&api->cond);
    }
    pthread_mutex_unlock(&api->lock);
    if (!queued) {
        lgw_metrics_add(api->m, "llmgw_batch_api_rejected_total", NULL, 1);
        lgw_api_error(call, LGW_ERR(OVERLOADED), "Too many file and batch calls are waiting; try again shortly.",
                      NULL);
    }
}

int lgw_batch_api_new(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_batch_api **out)
{
    *out = NULL;
    struct lgw_batch_api *api = lgw_calloc(1, sizeof(*api));
    api->cfg = cfg;
    api->m = m;
    pthread_mutex_init(&api->lock, NULL);
    pthread_cond_init(&api->cond, NULL);
    int n = (int)cfg->batch_api_pool;
    api->threads = lgw_calloc((size_t)n, sizeof(*api->threads));
    api->ctxs = lgw_calloc((size_t)n, sizeof(*api->ctxs));
    lgw_metrics_declare(m, "llmgw_batch_api_rejected_total", LGW_METRIC_COUNTER,
                        "File and batch calls answered 503 because the queue in front of their pool was full.");
    lgw_metrics_add(m, "llmgw_batch_api_rejected_total", NULL, 0);
    if (lgw_batch_producer_new(cfg, &api->producer)) {
        LGW_ERROR("batch", "cannot create the Kafka producer of the batch API");
        lgw_batch_api_free(api);
        return LGW_ERR(CONFIG);
    }
    for (int i = 0; i < n; i++) {
        api->ctxs[i] = (struct lgw_api_ctx){.cfg = cfg, .m = m, .producer = api->producer};
        if (lgw_fdb_open(cfg->database_url, &api->ctxs[i].db)) {
            LGW_ERROR("batch", "database_url: must start with postgresql:// or sqlite:PATH");
            lgw_batch_api_free(api);
            return LGW_ERR(CONFIG);
        }
    }
    /* The table at start when the database is up (a down one is tried again at the first call). */
    if (ensure_schema(api, &api->ctxs[0]))
        LGW_WARN("batch", "the files table could not be created yet; /v1/files answers 503 until it can");
    for (int i = 0; i < n; i++) {
        struct thread_arg *arg = lgw_malloc(sizeof(*arg));
        *arg = (struct thread_arg){api, i};
        if (pthread_create(&api->threads[i], NULL, thread_main, arg)) {
            free(arg);
            lgw_batch_api_free(api);
            return LGW_ERR(INTERNAL);
        }
        api->nthreads++;
    }
    *out = api;
    return LGW_OK;
}

void lgw_batch_api_mounts(struct lgw_batch_api *api, struct lgw_http_mount *out)
{
    size_t upload = (size_t)api->cfg->batch_file_max_bytes + UPLOAD_FRAMING_MAX;
    const struct lgw_http_mount tmpl = {.auth = true, .admin = true, .timeout_ms = CALL_TIMEOUT_MS,
                                        .handle = handle_cb, .opaque = api};
    const struct {
        const char *method, *prefix;
        size_t body_max;
    } rows[LGW_BATCH_API_MOUNTS] = {
        {"POST", FILES, upload}, {"GET", FILES, 0}, {"DELETE", FILES, 0},
        {"POST", BATCHES, BATCH_BODY_MAX}, {"GET", BATCHES, 0},
    };
    for (size_t i = 0; i < LGW_BATCH_API_MOUNTS; i++) {
        out[i] = tmpl;
        out[i].method = rows[i].method;
        out[i].prefix = rows[i].prefix;
        out[i].body_max = rows[i].body_max;
    }
}

void lgw_batch_api_free(struct lgw_batch_api *api)
{
    if (!api)
        return;
    pthread_mutex_lock(&api->lock);
    api->stopping = true;
    pthread_cond_broadcast(&api->cond);
    pthread_mutex_unlock(&api->lock);
    for (int i = 0; i < api->nthreads; i++)
        pthread_join(api->threads[i], NULL);
    /* Threads are gone: what is still queued is answered here (done frees even when the client is gone). */
    while (api->qlen > 0) {
        struct lgw_http_call *call = api->queue[api->qhead];
        api->qhead = (api->qhead + 1) % QUEUE_MAX;
        api->qlen--;
        lgw_api_error(call, LGW_ERR(UNAVAILABLE), "The gateway is shutting down; retry the request.", NULL);
    }
    if (api->ctxs)
        for (int i = 0; i < (int)api->cfg->batch_api_pool; i++) {
            lgw_fdb_close(api->ctxs[i].db);
            lgw_batch_store_close(api->ctxs[i].store);
        }
    free(api->ctxs);
    free(api->threads);
    if (api->producer) {
        rd_kafka_flush(api->producer, 2000); /* a cancel's record waited for its delivery already */
        rd_kafka_destroy(api->producer);
    }
    pthread_cond_destroy(&api->cond);
    pthread_mutex_destroy(&api->lock);
    free(api);
}
