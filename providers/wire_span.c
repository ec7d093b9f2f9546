/* wire_span.c - HTTP attempt spans (see wire_span.h). */
#include "providers/wire_span.h"

#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/errors.h"

/* url.full as recorded: scheme://host[:port]/path, and the query with every value replaced, since API keys
 * ride in query strings (Gemini's ?key=) and the conventions ask for credentials never to be recorded. */
static void redacted_url(const char *url, struct lgw_buf *out, struct lgw_span *span)
{
    const char *scheme_end = strstr(url, "://");
    const char *host = scheme_end ? scheme_end + 3 : url;
    const char *at = strchr(host, '@'), *path = host + strcspn(host, "/?#");
    if (at && at < path)
        host = at + 1; /* user info: never recorded */
    lgw_buf_append(out, url, (size_t)(scheme_end ? scheme_end + 3 - url : 0));
    lgw_buf_append(out, host, (size_t)(path - host));
    /* server.address and server.port from the authority. */
    const char *colon = memchr(host, ':', (size_t)(path - host));
    if (host[0] == '[') /* an IPv6 literal: the port, if any, follows "]" */
        colon = memchr(host, ']', (size_t)(path - host)) ? strchr(memchr(host, ']', (size_t)(path - host)), ':') : NULL;
    if (colon && colon > path)
        colon = NULL;
    lgw_span_set_strn(span, "server.address", host, (size_t)((colon ? colon : path) - host));
    long long port = 0;
    if (colon && lgw_parse_int64(colon + 1, (size_t)(path - colon - 1), &port) == 0)
        lgw_span_set_int(span, "server.port", port);
    else
        lgw_span_set_int(span, "server.port", strncmp(url, "https:", 6) == 0 ? 443 : 80);
    size_t plen = strcspn(path, "?#");
    lgw_buf_append(out, path, plen);
    if (path[plen] != '?')
        return;
    const char *q = path + plen + 1;
    lgw_buf_puts(out, "?");
    while (*q && *q != '#') {
        size_t n = strcspn(q, "&#");
        const char *eq = memchr(q, '=', n);
        lgw_buf_append(out, q, eq ? (size_t)(eq - q) : n);
        if (eq)
            lgw_buf_puts(out, "=REDACTED");
        q += n;
        if (*q == '&') {
            lgw_buf_puts(out, "&");
            q++;
        }
    }
}

struct lgw_span *lgw_wire_span_begin(const struct lgw_span *parent, const char *url, int attempt)
{
    struct lgw_span *span = lgw_span_child(parent, "POST", LGW_SPAN_CLIENT);
    if (!span)
        return NULL;
    lgw_span_set_static(span, "http.request.method", "POST");
    struct lgw_buf full;
    lgw_buf_init(&full, 0);
    redacted_url(url, &full, span);
    lgw_span_set_strn(span, "url.full", full.ptr ? full.ptr : "", full.len);
    lgw_buf_cleanup(&full);
    if (attempt > 0) /* the conventions' count of resends: 1 for the first retry */
        lgw_span_set_int(span, "http.request.resend_count", attempt);
    return span;
}

void lgw_wire_span_end(struct lgw_span **span, long status, int hrc, bool cancelled)
{
    struct lgw_span *s = *span;
    if (!s)
        return;
    if (status)
        lgw_span_set_int(s, "http.response.status_code", status);
    const char *error = NULL;
    char st[24];
    if (status >= 400) {
        snprintf(st, sizeof(st), "%ld", status);
        error = st;
    } else if (cancelled) {
        error = "cancelled"; /* the client left: the transfer was stopped */
    } else if (hrc == LGW_ERR(TIMEOUT)) {
        error = "timeout";
    } else if (hrc == LGW_ERR(UNAVAILABLE)) {
        error = "unreachable";
    } else if (hrc) {
        error = "response_incomplete"; /* a 2xx whose body broke off or could not be read */
    }
    if (error) {
        lgw_span_set_str(s, "error.type", error);
        lgw_span_set_status(s, LGW_SPAN_ERROR, NULL);
    }
    lgw_span_end(span);
}
