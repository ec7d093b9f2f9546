/* answer.c - answers (server.h): a buffer or a stream's reader, and the header fields the caller adds. The
 * connection writes them (conn.c). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "httpd/server_int.h"

const char *lgw_http_reason(unsigned status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

/* ---- answers ---- */

struct lgw_hresp *lgw_hresp_buffer(size_t len, const void *data, enum lgw_hresp_mem mem)
{
    struct lgw_hresp *r = lgw_calloc(1, sizeof(*r));
    r->len = len;
    if (mem == LGW_HRESP_COPY && len) {
        char *p = lgw_malloc(len);
        memcpy(p, data, len);
        r->data = p;
        r->owns_data = true;
    } else if (!len) {
        if (mem == LGW_HRESP_FREE)
            free((void *)data); /* taken, and nothing of it is sent */
        r->data = "";
    } else {
        r->data = data;
        r->owns_data = mem == LGW_HRESP_FREE;
    }
    return r;
}

struct lgw_hresp *lgw_hresp_stream(size_t block, lgw_hresp_reader_fn reader, void *cls)
{
    struct lgw_hresp *r = lgw_calloc(1, sizeof(*r));
    r->reader = reader;
    r->reader_cls = cls;
    r->block = block ? block : 4096;
    return r;
}

int lgw_hresp_header(struct lgw_hresp *r, const char *name, const char *value)
{
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n") || !*name)
        return -1;
    size_t n = strlen(name), v = strlen(value), need = r->fields_len + n + v + 4;
    if (need > r->fields_cap) { /* an answer carries a score of fields: grown in steps, not one realloc each */
        size_t cap = r->fields_cap ? r->fields_cap : 512;
        while (cap < need)
            cap *= 2;
        r->fields = lgw_realloc(r->fields, cap);
        r->fields_cap = cap;
    }
    char *p = r->fields + r->fields_len;
    memcpy(p, name, n);
    memcpy(p + n, ": ", 2);
    memcpy(p + n + 2, value, v);
    memcpy(p + n + 2 + v, "\r\n", 2);
    r->fields_len = need;
    if (strcasecmp(name, "connection") == 0 && strcasestr(value, "close"))
        r->close = true;
    return 0;
}

void lgw_hresp_free(struct lgw_hresp *r)
{
    if (!r)
        return;
    if (r->owns_data)
        free((void *)r->data);
    free(r->fields);
    free(r);
}

