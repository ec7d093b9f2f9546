/* analytics.c - the analytics pool and the two endpoints (see analytics.h).
 *
 * The HTTP thread only queues a call (handle_cb never blocks); a pool thread parses it, runs one statement
 * on its own connection and completes it. The queue is bounded (analytics_queue_max): past it the call is
 * answered 503 at once, so a burst of reports queues neither memory nor minutes of work. */
#include "analytics/analytics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/db.h"
#include "analytics/query.h"
#include "analytics/render.h"
#include "analytics/sql.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/http_error.h"
#include "common/log.h"

#define PREFIX "/v1/analytics/"
/* Most summary groups one answer carries (group_by=user,hour over months can ask for millions). */
#define SUMMARY_ROWS_MAX 100000

struct lgw_analytics {
    const struct lgw_config *cfg;
    struct lgw_metrics *m;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct lgw_http_call **queue; /* ring of qcap; guarded by lock */
    size_t qcap, qhead, qlen;
    bool stopping;
    int nthreads;
    pthread_t *threads;
    struct lgw_an_db **dbs;
    struct thread_arg *args;
};

struct thread_arg {
    struct lgw_analytics *an;
    int i;
};

static void answer_error(struct lgw_http_call *call, int rc, const char *message, const char *param)
{
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    lgw_http_error_body_param(rc, message, param, &buf);
    size_t len;
    char *body = lgw_buf_take(&buf, &len);
    lgw_http_call_done(call, lgw_err_status(rc), NULL, body, len);
}

static void count(struct lgw_metrics *m, const char *endpoint, int status)
{
    char labels[96];
    snprintf(labels, sizeof(labels), "endpoint=\"%s\",status=\"%d\"", endpoint, status);
    lgw_metrics_add(m, "llmgw_analytics_queries_total", labels, 1);
}

void lgw_analytics_serve(struct lgw_an_db *db, struct lgw_metrics *m, struct lgw_http_call *call)
{
    enum lgw_an_kind kind;
    const char *endpoint = call->path + (strncmp(call->path, PREFIX, strlen(PREFIX)) ? 0 : strlen(PREFIX));
    if (strcmp(endpoint, "summary") == 0)
        kind = LGW_AN_SUMMARY;
    else if (strcmp(endpoint, "requests") == 0)
        kind = LGW_AN_REQUESTS;
    else {
        answer_error(call, LGW_ERR(NOT_FOUND), "No such analytics endpoint: use /v1/analytics/summary or "
                                               "/v1/analytics/requests.", NULL);
        return;
    }
    const char *label = kind == LGW_AN_SUMMARY ? "summary" : "requests";
    struct lgw_an_query q;
    char msg[256];
    const char *param;
    int rc = lgw_an_query_parse(call, kind, lgw_wall_ms(), &q, msg, sizeof(msg), &param);
    if (rc) {
        if (m)
            count(m, label, lgw_err_status(rc));
        answer_error(call, rc, msg, param);
        return;
    }
    struct lgw_an_sql sql;
    struct lgw_an_rows rows = {0};
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    int64_t t0 = lgw_mono_us();
    lgw_an_sql_build(&q, lgw_an_db_is_pg(db), &sql);
    rc = lgw_an_db_query(db, &sql, kind == LGW_AN_SUMMARY ? SUMMARY_ROWS_MAX : (size_t)q.limit + 1, &rows);
    if (rc == 0)
        rc = kind == LGW_AN_SUMMARY ? lgw_an_render_summary(&q, &rows, &out) : lgw_an_render_requests(&q, &rows, &out);
    if (rc == 0 && kind == LGW_AN_REQUESTS && q.csv) {
        /* CSV has no envelope: the page's position goes in headers, so a CSV export can page too. */
        char cursor[LGW_AN_CURSOR_MAX];
        if ((rc = lgw_an_next_cursor(&q, &rows, cursor, sizeof(cursor))) == 0) {
            lgw_http_call_header(call, "x-llmgw-has-more", cursor[0] ? "true" : "false");
            if (cursor[0])
                lgw_http_call_header(call, "x-llmgw-next-cursor", cursor);
        }
    }
    lgw_an_sql_cleanup(&sql);
    lgw_an_rows_cleanup(&rows);
    if (m) {
        count(m, label, rc ? lgw_err_status(rc) : 200);
        char labels[64];
        snprintf(labels, sizeof(labels), "endpoint=\"%s\"", label);
        lgw_metrics_observe(m, "llmgw_analytics_query_duration_seconds", labels, (double)(lgw_mono_us() - t0) / 1e6);
    }
    if (rc) {
        lgw_buf_cleanup(&out);
        const char *why = NULL;
        if (rc == LGW_ERR(TIMEOUT))
            why = "The query ran past analytics_timeout_ms; ask for a shorter range or fewer groups.";
        else if (rc == LGW_ERR(TOO_LARGE))
            why = "The answer has too many groups; ask for a shorter range or fewer groups.";
        else if (rc == LGW_ERR(DB))
            why = "The ledger database could not be read; try again later.";
        LGW_LOG(LGW_LOG_WARN, "analytics", call->request_id, call->caller.tenant, "%s: %s", label, lgw_err_name(rc));
        answer_error(call, rc == LGW_ERR(TOO_LARGE) ? LGW_ERR(INVALID) : rc, why, NULL);
        return;
    }
    size_t len;
    char *body = lgw_buf_take(&out, &len);
    lgw_http_call_done(call, 200, q.csv ? "text/csv; charset=utf-8" : NULL, body, len);
}

static void *thread_main(void *p)
{
    pthread_setname_np(pthread_self(), "analytics"); /* its CPU apart in top -H, perf and /proc/<pid>/task */
    struct thread_arg *arg = p;
    struct lgw_analytics *an = arg->an;
    for (;;) {
        pthread_mutex_lock(&an->lock);
        while (!an->stopping && an->qlen == 0)
            pthread_cond_wait(&an->cond, &an->lock);
        if (an->stopping) {
            pthread_mutex_unlock(&an->lock);
            return NULL;
        }
        struct lgw_http_call *call = an->queue[an->qhead];
        an->qhead = (an->qhead + 1) % an->qcap;
        an->qlen--;
        pthread_mutex_unlock(&an->lock);
        if (lgw_mono_ms() >= call->deadline_ms) /* the client has had its 504: no query for nobody */
            answer_error(call, LGW_ERR(TIMEOUT), NULL, NULL);
        else
            lgw_analytics_serve(an->dbs[arg->i], an->m, call);
    }
}

/* The mount's handler, on an HTTP thread: queue, or 503 when the queue is full or stopping. */
static void handle_cb(void *opaque, struct lgw_http_call *call)
{
    struct lgw_analytics *an = opaque;
    pthread_mutex_lock(&an->lock);
    bool queued = !an->stopping && an->qlen < an->qcap;
    if (queued) {
        an->queue[(an->qhead + an->qlen) % an->qcap] = call;
        an->qlen++;
        pthread_cond_signal(&an->cond);
    }
    pthread_mutex_unlock(&an->lock);
    if (!queued) {
        lgw_metrics_add(an->m, "llmgw_analytics_rejected_total", NULL, 1);
        answer_error(call, LGW_ERR(OVERLOADED), "Too many analytics queries are waiting; try again shortly.", NULL);
    }
}

int lgw_analytics_new(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_analytics **out)
{
    *out = NULL;
    struct lgw_analytics *an = lgw_calloc(1, sizeof(*an));
    an->cfg = cfg;
    an->m = m;
    pthread_mutex_init(&an->lock, NULL);
    pthread_cond_init(&an->cond, NULL);
    an->qcap = (size_t)cfg->analytics_queue_max;
    an->queue = lgw_calloc(an->qcap, sizeof(*an->queue));
    an->dbs = lgw_calloc((size_t)cfg->analytics_db_pool, sizeof(*an->dbs));
    an->threads = lgw_calloc((size_t)cfg->analytics_db_pool, sizeof(*an->threads));
    an->args = lgw_calloc((size_t)cfg->analytics_db_pool, sizeof(*an->args));
    lgw_metrics_declare(m, "llmgw_analytics_queries_total", LGW_METRIC_COUNTER,
                        "Analytics queries by endpoint and status.");
    lgw_metrics_declare(m, "llmgw_analytics_query_duration_seconds", LGW_METRIC_HISTOGRAM,
                        "Analytics query time on its pool thread (statement and rendering).");
    lgw_metrics_declare(m, "llmgw_analytics_rejected_total", LGW_METRIC_COUNTER,
                        "Analytics calls answered 503 because analytics_queue_max were already waiting.");
    lgw_metrics_add(m, "llmgw_analytics_rejected_total", NULL, 0);
    for (int i = 0; i < (int)cfg->analytics_db_pool; i++) {
        if (lgw_an_db_open(cfg->database_url, cfg->analytics_timeout_ms, &an->dbs[i])) {
            LGW_ERROR("analytics", "database_url: must start with postgresql:// or sqlite:PATH");
            lgw_analytics_free(an);
            return LGW_ERR(CONFIG);
        }
    }
    for (int i = 0; i < (int)cfg->analytics_db_pool; i++) {
        an->args[i] = (struct thread_arg){an, i};
        if (pthread_create(&an->threads[i], NULL, thread_main, &an->args[i])) {
            lgw_analytics_free(an);
            return LGW_ERR(INTERNAL);
        }
        an->nthreads++;
    }
    LGW_INFO("analytics", "analytics on %lld thread(s), queue %lld, statement timeout %lld ms",
             (long long)cfg->analytics_db_pool, (long long)cfg->analytics_queue_max,
             (long long)cfg->analytics_timeout_ms);
    *out = an;
    return LGW_OK;
}

struct lgw_http_mount lgw_analytics_mount(struct lgw_analytics *an)
{
    /* The deadline covers a wait in the queue plus the statement: two timeouts and a second of slack. */
    return (struct lgw_http_mount){.method = "GET", .prefix = PREFIX, .auth = true, .admin = true,
                                   .timeout_ms = 2 * an->cfg->analytics_timeout_ms + 1000, .handle = handle_cb,
                                   .opaque = an};
}

void lgw_analytics_free(struct lgw_analytics *an)
{
    if (!an)
        return;
    pthread_mutex_lock(&an->lock);
    an->stopping = true;
    pthread_cond_broadcast(&an->cond);
    pthread_mutex_unlock(&an->lock);
    for (int i = 0; i < an->nthreads; i++)
        pthread_join(an->threads[i], NULL);
    /* Threads are gone: what is still queued is answered here (done frees even when the client is gone). */
    while (an->qlen > 0) {
        struct lgw_http_call *call = an->queue[an->qhead];
        an->qhead = (an->qhead + 1) % an->qcap;
        an->qlen--;
        answer_error(call, LGW_ERR(UNAVAILABLE), "The gateway is shutting down; retry the request.", NULL);
    }
    for (int i = 0; i < (int)an->cfg->analytics_db_pool; i++)
        lgw_an_db_close(an->dbs ? an->dbs[i] : NULL);
    free(an->dbs);
    free(an->threads);
    free(an->args);
    free(an->queue);
    pthread_cond_destroy(&an->cond);
    pthread_mutex_destroy(&an->lock);
    free(an);
}
