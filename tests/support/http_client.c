/* http_client.c - the raw HTTP/1.1 test client (http_client.h). */
#include "http_client.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"

int lgw_hclient_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

void lgw_hclient_open(struct lgw_hclient *cl, int port)
{
    memset(cl, 0, sizeof(*cl));
    cl->fd = lgw_hclient_connect(port);
    if (cl->fd < 0)
        fail_msg("cannot connect to 127.0.0.1:%d: %s", port, strerror(errno));
}

void lgw_hclient_close(struct lgw_hclient *cl)
{
    if (cl->fd >= 0)
        close(cl->fd);
    cl->fd = -1;
    free(cl->buf);
    cl->buf = NULL;
    cl->len = cl->cap = 0;
}

void lgw_hclient_send(struct lgw_hclient *cl, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(cl->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fail_msg("send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

void lgw_hclient_sends(struct lgw_hclient *cl, const char *s)
{
    lgw_hclient_send(cl, s, strlen(s));
}

int lgw_hclient_fill(struct lgw_hclient *cl, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - lgw_mono_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = cl->fd, .events = POLLIN};
        int rc = poll(&p, 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return -1;
        if (cl->cap - cl->len < 16384) {
            cl->cap = cl->cap ? cl->cap * 2 : 65536;
            cl->buf = realloc(cl->buf, cl->cap);
            assert_non_null(cl->buf);
        }
        ssize_t n = recv(cl->fd, cl->buf + cl->len, cl->cap - cl->len - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0; /* closed, or reset */
        cl->len += (size_t)n;
        cl->buf[cl->len] = '\0';
        return 1;
    }
}

bool lgw_hclient_wait_for(struct lgw_hclient *cl, const char *s)
{
    int64_t deadline = lgw_mono_ms() + LGW_HCLIENT_WAIT_MS;
    while (!cl->len || !memmem(cl->buf, cl->len, s, strlen(s)))
        if (lgw_hclient_fill(cl, deadline) != 1)
            return false;
    return true;
}

/* Takes n bytes from the front of what was received, waiting for them; out (may be NULL) gets them. */
static void take(struct lgw_hclient *cl, size_t n, struct lgw_buf *out, int64_t deadline)
{
    while (cl->len < n)
        if (lgw_hclient_fill(cl, deadline) != 1)
            fail_msg("%zu bytes expected, %zu came before the %s", n, cl->len,
                     lgw_mono_ms() >= deadline ? "deadline" : "connection closed");
    if (out)
        lgw_buf_append(out, cl->buf, n);
    memmove(cl->buf, cl->buf + n, cl->len - n);
    cl->len -= n;
    if (cl->buf)
        cl->buf[cl->len] = '\0';
}

/* Takes one CRLF-ended line, without its CRLF, into line. */
static void take_line(struct lgw_hclient *cl, char *line, size_t cap, int64_t deadline)
{
    char *crlf;
    while (!cl->len || !(crlf = memmem(cl->buf, cl->len, "\r\n", 2)))
        if (lgw_hclient_fill(cl, deadline) != 1)
            fail_msg("a line expected, %zu bytes came", cl->len);
    size_t n = (size_t)(crlf - cl->buf);
    if (n >= cap)
        fail_msg("a line of %zu bytes", n);
    memcpy(line, cl->buf, n);
    line[n] = '\0';
    take(cl, n + 2, NULL, deadline);
}

bool lgw_hclient_closed(struct lgw_hclient *cl)
{
    int64_t deadline = lgw_mono_ms() + LGW_HCLIENT_WAIT_MS;
    size_t before = cl->len;
    int rc;
    while ((rc = lgw_hclient_fill(cl, deadline)) == 1) {
    }
    return rc == 0 && cl->len == before;
}

bool lgw_hclient_quiet(struct lgw_hclient *cl, int ms)
{
    struct pollfd p = {.fd = cl->fd, .events = POLLIN};
    return poll(&p, 1, ms) == 0 && cl->len == 0;
}

const char *lgw_hanswer_field_n(struct lgw_hanswer *a, const char *name, int *count)
{
    const char *found = NULL;
    int n = 0;
    size_t nlen = strlen(name);
    for (const char *line = strstr(a->head, "\r\n") + 2; *line; line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
            continue;
        if (!n++) {
            const char *v = line + nlen + 1, *e = strstr(line, "\r\n");
            while (*v == ' ')
                v++;
            snprintf(a->value, sizeof(a->value), "%.*s", (int)(e - v), v);
            found = a->value;
        }
    }
    if (count)
        *count = n;
    return found;
}

const char *lgw_hanswer_field(struct lgw_hanswer *a, const char *name)
{
    return lgw_hanswer_field_n(a, name, NULL);
}

/* A chunked body, decoded into a->body, strictly: CRLF line ends, data followed by CRLF, a last chunk and
 * the trailer section's empty line. */
static void read_chunked(struct lgw_hclient *cl, struct lgw_hanswer *a, int64_t deadline)
{
    char line[256];
    for (;;) {
        take_line(cl, line, sizeof(line), deadline);
        char *e;
        unsigned long size = strtoul(line, &e, 16);
        if (e == line || (*e && *e != ';'))
            fail_msg("not a chunk size line: %s", line);
        if (!size)
            break;
        take(cl, size, &a->body, deadline);
        take_line(cl, line, sizeof(line), deadline);
        if (*line)
            fail_msg("chunk data not followed by CRLF: %s", line);
    }
    do
        take_line(cl, line, sizeof(line), deadline);
    while (*line);
    a->last_chunk = true;
}

void lgw_hclient_read(struct lgw_hclient *cl, struct lgw_hanswer *a, bool head_request)
{
    memset(a, 0, sizeof(*a));
    lgw_buf_init(&a->body, 0);
    int64_t deadline = lgw_mono_ms() + LGW_HCLIENT_WAIT_MS;
    char *end;
    while (!cl->len || !(end = memmem(cl->buf, cl->len, "\r\n\r\n", 4)))
        if (lgw_hclient_fill(cl, deadline) != 1)
            fail_msg("no answer's head: %zu bytes came: %.*s", cl->len, (int)cl->len, cl->buf ? cl->buf : "");
    size_t hlen = (size_t)(end - cl->buf) + 4;
    if (hlen >= sizeof(a->head))
        fail_msg("an answer's head of %zu bytes", hlen);
    memcpy(a->head, cl->buf, hlen);
    a->head[hlen - 2] = '\0'; /* the last field's CRLF stays, the empty line goes */
    take(cl, hlen, NULL, deadline);
    if (strncmp(a->head, "HTTP/1.1 ", 9) != 0 || sscanf(a->head + 9, "%3d", &a->status) != 1)
        fail_msg("not a status line: %s", a->head);
    const char *te = lgw_hanswer_field(a, "Transfer-Encoding");
    a->chunked = te && strcasecmp(te, "chunked") == 0;
    if (head_request || a->status < 200 || a->status == 204 || a->status == 304)
        return;
    if (a->chunked) {
        read_chunked(cl, a, deadline);
        return;
    }
    const char *length = lgw_hanswer_field(a, "Content-Length");
    if (length) {
        take(cl, strtoul(length, NULL, 10), &a->body, deadline);
        return;
    }
    int rc;
    while ((rc = lgw_hclient_fill(cl, deadline)) == 1) {
    }
    if (rc != 0)
        fail_msg("an answer without a length did not end with its connection");
    take(cl, cl->len, &a->body, deadline);
}

const char *lgw_hanswer_body(const struct lgw_hanswer *a)
{
    return a->body.ptr ? a->body.ptr : "";
}

void lgw_hanswer_cleanup(struct lgw_hanswer *a)
{
    lgw_buf_cleanup(&a->body);
}
