/* mount.c - mounted handlers (see mount.h): a route row per mount, and the call object handed to it.
 *
 * Who completes: the call holds its own reference to the request, and the request waits in the pending map
 * like a job. done takes it out of the map: if it is still there, done completes it (and the map's reference
 * is dropped); if the reply thread's deadline sweep or the drain took it first, the client has its answer
 * and done only frees. The map hands a request to exactly one taker, so the two never both complete it. */
#include "ingress/mount.h"

#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "ingress/ingress_int.h"
#include "ingress/pending.h"

/* More query pairs than this is no sane request (the head is capped by max_header_bytes anyway). */
#define QUERY_PAIRS_MAX 64

struct lgw_mounts {
    size_t n;
    struct lgw_http_mount mounts[LGW_INGRESS_MOUNTS_MAX];
    struct lgw_route routes[LGW_INGRESS_MOUNTS_MAX];
};

/* A call and what it points to, freed in one place (call_done). */
struct mcall {
    struct lgw_http_call call; /* first: done gets &mc->call */
    struct lgw_req *req;
    char *path;
    char *body;         /* the request body (mounts with body_max), NUL-terminated */
    char *content_type; /* the request's Content-Type, "" when absent */
    char request_id[LGW_ID_MAX];
};

static enum lgw_hres mount_handler(struct lgw_req *req);

struct lgw_mounts *lgw_mounts_new(const struct lgw_http_mount *mounts, size_t n)
{
    if (n == 0)
        return NULL;
    LGW_ASSERT(n <= LGW_INGRESS_MOUNTS_MAX);
    struct lgw_mounts *ms = lgw_calloc(1, sizeof(*ms));
    ms->n = n;
    for (size_t i = 0; i < n; i++) {
        LGW_ASSERT(mounts[i].method && mounts[i].prefix && mounts[i].handle);
        ms->mounts[i] = mounts[i];
        ms->routes[i] = (struct lgw_route){.method = mounts[i].method, .path = mounts[i].prefix,
                                           .handler = mount_handler, .auth = mounts[i].auth,
                                           .body = mounts[i].body_max > 0, .body_max = mounts[i].body_max,
                                           .dialect = &lgw_dialect_openai, .admin = mounts[i].admin};
    }
    return ms;
}

void lgw_mounts_free(struct lgw_mounts *ms)
{
    free(ms);
}

const struct lgw_route *lgw_mounts_find(const struct lgw_mounts *ms, const char *method, const char *path,
                                        const struct lgw_route **same_path)
{
    if (!ms)
        return NULL;
    for (size_t i = 0; i < ms->n; i++) {
        const char *prefix = ms->mounts[i].prefix;
        if (strncmp(path, prefix, strlen(prefix)) != 0)
            continue;
        *same_path = &ms->routes[i];
        if (strcmp(method, ms->mounts[i].method) == 0)
            return &ms->routes[i];
    }
    return NULL;
}

static void call_done(struct lgw_http_call *call, int status, const char *content_type, char *body, size_t len)
{
    struct mcall *mc = (struct mcall *)call;
    struct lgw_req *req = mc->req;
    struct lgw_req *taken = lgw_pending_take(req->ing->pending, req->id);
    if (taken) {
        LGW_ASSERT(taken == req); /* the map hands out the request of that id only */
        /* Before lgw_req_complete: its lock publishes the answer to the HTTP thread that queues it. */
        lgw_strlcpy(req->content_type, content_type ? content_type : "", sizeof(req->content_type));
        struct lgw_buf h;
        lgw_buf_init(&h, 0);
        for (size_t i = 0; i < call->nheaders; i++) { /* NULs included: the pairs' separators */
            lgw_buf_append(&h, call->header_names[i], strlen(call->header_names[i]) + 1);
            lgw_buf_append(&h, call->header_values[i], strlen(call->header_values[i]) + 1);
        }
        req->extra_headers = lgw_buf_take(&h, &req->extra_len);
        lgw_req_complete(req, status, body, len);
        lgw_req_unref(taken); /* the map's reference */
    } else {
        free(body); /* answered already (deadline, drain) or the client left */
    }
    for (size_t i = 0; i < call->nquery; i++) {
        free(call->query[i].name);
        free(call->query[i].value);
    }
    free(call->query);
    free(mc->path);
    free(mc->body);
    free(mc->content_type);
    lgw_req_unref(req); /* the call's reference */
    free(mc);
}

/* Copies one query argument; false (stop) past QUERY_PAIRS_MAX, which the visit's count then exceeds. */
static bool copy_pair(void *cls, const char *key, const char *value)
{
    struct lgw_http_call *call = cls;
    if (call->nquery == QUERY_PAIRS_MAX)
        return false;
    call->query[call->nquery].name = lgw_strdup(key);
    call->query[call->nquery].value = lgw_strdup(value ? value : "");
    call->nquery++;
    return true;
}

static enum lgw_hres mount_handler(struct lgw_req *req)
{
    struct lgw_ingress *ing = req->ing;
    const struct lgw_mounts *ms = ing->mounts;
    size_t i = (size_t)(req->route - ms->routes);
    LGW_ASSERT(i < ms->n);
    const struct lgw_http_mount *mount = &ms->mounts[i];

    struct mcall *mc = lgw_calloc(1, sizeof(*mc));
    struct lgw_http_call *call = &mc->call;
    mc->req = req;
    lgw_req_ref(req); /* the call's reference: done may run after the client left */
    call->query = lgw_calloc(QUERY_PAIRS_MAX, sizeof(*call->query));
    if (lgw_hconn_args(req->conn, copy_pair, call) > QUERY_PAIRS_MAX) {
        call->done = call_done;
        lgw_http_call_done(call, 0, NULL, NULL, 0); /* not in the map: only frees */
        return lgw_req_answer_error(req, LGW_ERR(INVALID), "Too many query parameters.");
    }
    /* begin() kept what follows the prefix in path_arg, as for a pattern route. */
    size_t plen = strlen(mount->prefix), alen = strlen(req->path_arg);
    mc->path = lgw_malloc(plen + alen + 1);
    memcpy(mc->path, mount->prefix, plen);
    memcpy(mc->path + plen, req->path_arg, alen + 1);
    lgw_strlcpy(mc->request_id, req->id, sizeof(mc->request_id));
    if (mount->body_max) { /* the ingress read it under the mount's cap; the call takes it */
        mc->body = lgw_buf_take(&req->body, &call->body_len);
        if (!mc->body)
            mc->body = lgw_calloc(1, 1); /* an empty body is "", never NULL, for a mount that reads one */
        call->body = mc->body;
    }
    const char *ct = lgw_hconn_header(req->conn, "Content-Type");
    mc->content_type = lgw_strdup(ct ? ct : "");
    call->content_type = mc->content_type;
    call->method = mount->method; /* matched: the request's method is the mount's */
    call->path = mc->path;
    call->request_id = mc->request_id;
    lgw_strlcpy(call->caller.tenant, req->tenant, sizeof(call->caller.tenant));
    lgw_strlcpy(call->caller.key_id, req->key_id, sizeof(call->caller.key_id));
    lgw_strlcpy(call->caller.principal, req->principal, sizeof(call->caller.principal));
    call->caller.admin = req->admin;
    int64_t timeout_ms = mount->timeout_ms > 0 ? mount->timeout_ms : ing->cfg->request_timeout_ms;
    req->deadline_ms = lgw_mono_ms() + timeout_ms;
    call->deadline_ms = req->deadline_ms;
    call->done = call_done;

    /* Insert and suspend under the id's shard lock (as jobs.c does): done, on another thread, takes the
     * request out under the same lock, so it never resumes a connection that is not suspended yet. */
    lgw_pending_lock(ing->pending, req->id);
    lgw_pending_suspend_locked(ing->pending, req);
    lgw_pending_unlock(ing->pending, req->id);
    mount->handle(mount->opaque, call);
    return LGW_HRES_YES;
}
