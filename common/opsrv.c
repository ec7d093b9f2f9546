/* opsrv.c - /healthz, /readyz, /metrics for the worker and ledger roles (see opsrv.h). */
#include "common/opsrv.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/http_error.h"
#include "common/log.h"

/* No route here takes a body; a client that streams more than this is cut off rather than drained forever. */
#define MAX_IGNORED_BODY (64 * 1024)

struct lgw_opsrv {
    struct MHD_Daemon *daemon;
    struct lgw_log_limit mhd_log; /* libmicrohttpd's warnings, rate-limited */
    struct lgw_metrics *m;
    bool (*ready_cb)(void *opaque);
    void *opaque;
    /* Set once, after ready_cb and opaque, by lgw_opsrv_set_ready (the role's thread); read on the server's thread,
     * which looks at the two fields only once it sees this true. */
    atomic_bool wired;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, const char *ctype, char *body,
                             size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned int status, const char *text)
{
    return reply(conn, status, "application/json", lgw_strdup(text), strlen(text));
}

static enum MHD_Result reply_error(struct MHD_Connection *conn, int rc)
{
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    lgw_http_error_body(rc, NULL, &buf);
    size_t len;
    char *body = lgw_buf_take(&buf, &len);
    unsigned int status = (unsigned int)lgw_err_status(rc);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (status == 405) /* RFC 9110 requires Allow on a 405 */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result reply_metrics(struct MHD_Connection *conn, struct lgw_metrics *m)
{
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    int rc = lgw_metrics_render(m, &buf);
    if (rc) {
        lgw_buf_cleanup(&buf);
        LGW_ERROR("opsrv", "cannot render metrics: %s", lgw_err_message(rc));
        return reply_error(conn, rc);
    }
    size_t len;
    char *body = lgw_buf_take(&buf, &len);
    return reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8", body, len);
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    (void)version;
    (void)upload_data;
    struct lgw_opsrv *srv = cls;
    /* The per-request state is only a count of body bytes seen (+1 so that the first call, which sees the
     * headers alone, leaves a non-NULL mark); it lives in the pointer itself, so there is nothing to free. */
    uintptr_t seen = (uintptr_t)*con_cls;
    if (!seen) {
        *con_cls = (void *)(uintptr_t)1;
        return MHD_YES;
    }
    if (*upload_data_size) {
        seen += *upload_data_size;
        if (seen > MAX_IGNORED_BODY + 1)
            return MHD_NO; /* closes the connection */
        *con_cls = (void *)seen;
        *upload_data_size = 0; /* these routes take no body: discard it */
        return MHD_YES;
    }
    bool known = !strcmp(url, "/healthz") || !strcmp(url, "/readyz") || !strcmp(url, "/metrics");
    if (!known)
        return reply_error(conn, LGW_ERR(NOT_FOUND));
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply_error(conn, LGW_ERR(METHOD));
    if (!strcmp(url, "/healthz"))
        return reply_text(conn, 200, "{\"status\":\"ok\"}");
    if (!strcmp(url, "/readyz")) {
        if (!atomic_load(&srv->wired))
            return reply_text(conn, 503, "{\"status\":\"starting\"}");
        return !srv->ready_cb || srv->ready_cb(srv->opaque) ? reply_text(conn, 200, "{\"status\":\"ready\"}")
                                                            : reply_text(conn, 503, "{\"status\":\"not ready\"}");
    }
    return reply_metrics(conn, srv->m);
}

int lgw_opsrv_start(const char *addr, int port, struct lgw_metrics *m, bool (*ready_cb)(void *opaque), void *opaque,
                    struct lgw_opsrv **out)
{
    int rc = lgw_opsrv_start_early(addr, port, m, out);
    if (rc == 0)
        lgw_opsrv_set_ready(*out, ready_cb, opaque);
    return rc;
}

void lgw_opsrv_set_ready(struct lgw_opsrv *srv, bool (*ready_cb)(void *opaque), void *opaque)
{
    if (!srv)
        return;
    srv->ready_cb = ready_cb;
    srv->opaque = opaque;
    atomic_store(&srv->wired, true); /* publishes the two fields above to the server's thread */
}

int lgw_opsrv_start_early(const char *addr, int port, struct lgw_metrics *m, struct lgw_opsrv **out)
{
    *out = NULL;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (!addr || port < 1 || port > 65535 || inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        LGW_ERROR("opsrv", "cannot listen on %s:%d: not an IPv4 address and port", addr ? addr : "(null)", port);
        return LGW_ERR(CONFIG);
    }
    struct lgw_opsrv *srv = lgw_calloc(1, sizeof(*srv));
    srv->m = m;
    atomic_init(&srv->wired, false);
    lgw_log_limit_init(&srv->mhd_log, "opsrv", LGW_HTTP_LOG_PER_SEC);
    srv->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
                                   (uint16_t)port, NULL, NULL, access_cb, srv, MHD_OPTION_EXTERNAL_LOGGER,
                                   lgw_http_mhd_log_cb, &srv->mhd_log, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                   MHD_OPTION_CONNECTION_LIMIT,
                                   (unsigned int)64, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10, MHD_OPTION_END);
    if (!srv->daemon) {
        LGW_ERROR("opsrv", "cannot listen on %s:%d", addr, port);
        lgw_log_limit_cleanup(&srv->mhd_log);
        free(srv);
        return LGW_ERR(IO);
    }
    LGW_INFO("opsrv", "serving /healthz /readyz /metrics on %s:%d", addr, port);
    *out = srv;
    return LGW_OK;
}

void lgw_opsrv_stop(struct lgw_opsrv *srv)
{
    if (!srv)
        return;
    MHD_stop_daemon(srv->daemon);
    lgw_http_mhd_log_flush(&srv->mhd_log);
    lgw_log_limit_cleanup(&srv->mhd_log);
    free(srv);
}
