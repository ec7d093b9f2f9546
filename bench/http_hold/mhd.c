/* mhd.c - the bench/http_hold server (hold.h) on libmicrohttpd, set up as llmgw's ingress sets it up
 * (ingress/ingress.c start_http): epoll, an internal thread pool, suspend and resume, a 12 KiB connection pool
 * (LLMGW_HTTP_CONNECTION_MEMORY's default), a 60 s idle timeout. A request is suspended while it is held, and
 * the hold queue's thread resumes it, as the ingress's reply thread does. */
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "hold.h"

struct req {
    struct MHD_Connection *conn;
    bool held; /* suspended on the hold queue, or back from it */
};

static void due(void *p)
{
    struct req *r = p;
    MHD_resume_connection(r->conn); /* a suspended connection stays open until resumed, so conn is valid */
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    (void)cls, (void)url, (void)method, (void)version, (void)upload_data;
    struct req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        r->conn = conn;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_data_size) { /* the body is read and dropped: only its head and size matter here */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!r->held) {
        r->held = true;
        MHD_suspend_connection(conn);
        hold_put(r);
        return MHD_YES;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(HOLD_BODY_LEN, (void *)HOLD_BODY, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ok = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ok;
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls, (void)conn, (void)t;
    free(*con_cls);
    *con_cls = NULL;
}

int main(int argc, char **argv)
{
    struct hold_opts o;
    hold_parse(argc, argv, &o);
    if (hold_start(o.hold_ms, due) != 0)
        return 1;
    int lfd = hold_listen(o.port); /* one socket for the pool: libmicrohttpd spreads it over its threads */
    if (lfd < 0)
        return 1;
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL,
        NULL, access_cb, NULL, MHD_OPTION_LISTEN_SOCKET, lfd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)o.threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)o.max_conns, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)12288, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, NULL,
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "cannot start libmicrohttpd on port %d\n", o.port);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    hold_wait_for_signal();
    MHD_stop_daemon(d);
    return 0;
}
