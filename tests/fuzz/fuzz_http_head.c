/* fuzz_http_head.c - libFuzzer harness: bytes from a client as the server reads a request head (httpd/head.h).
 * The end is found whole and in two reads (the same either way, and always just after a LF); a head found
 * is parsed from a NUL-terminated copy of its exact length, so a read past it is caught. Whatever comes in,
 * a head accepted has a method, a path starting with '/', a version, fields and arguments inside their caps
 * and inside the buffer, and never both framings; a head refused gets one of the statuses head.h names. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpd/head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_inside(const char *p, const char *buf, size_t len)
{
    if (!p || p < buf || p > buf + len || strlen(p) > len - (size_t)(p - buf))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    size_t from = 0, end = lgw_http_head_end(in, size, &from);
    if (end > size || (end && in[end - 1] != '\n'))
        abort();
    /* The same end when the bytes come in two reads, cut in the middle. */
    size_t from2 = 0, end2 = lgw_http_head_end(in, size / 2, &from2);
    if (from2 > size / 2)
        abort();
    if (!end2)
        end2 = lgw_http_head_end(in, size, &from2);
    if (end2 != end)
        abort();
    if (!end)
        return 0;
    char *buf = malloc(end + 1);
    memcpy(buf, in, end);
    buf[end] = '\0';
    struct lgw_http_head h;
    int rc = lgw_http_head_parse(buf, end, &h);
    if (rc == 0) {
        check_inside(h.method, buf, end);
        check_inside(h.path, buf, end);
        check_inside(h.version, buf, end);
        if (h.path[0] != '/' || (h.minor != 0 && h.minor != 1))
            abort();
        if (strcmp(h.version, h.minor ? "HTTP/1.1" : "HTTP/1.0") != 0)
            abort();
        if (h.nfields > LGW_HTTP_FIELDS_MAX || h.nargs > LGW_HTTP_ARGS_MAX)
            abort();
        if (h.chunked && h.content_length >= 0)
            abort();
        if (h.content_length < -1 || (h.minor == 0 && h.chunked))
            abort();
        for (size_t i = 0; i < h.nfields; i++) {
            check_inside(h.fields[i].name, buf, end);
            check_inside(h.fields[i].value, buf, end);
            if (!h.fields[i].name[0] || lgw_http_head_field(&h, h.fields[i].name) == NULL)
                abort();
        }
        for (size_t i = 0; i < h.nargs; i++) {
            check_inside(h.args[i].name, buf, end);
            if (h.args[i].value[0]) /* an argument without '=' has a static "" */
                check_inside(h.args[i].value, buf, end);
        }
        lgw_http_head_clear(&h);
        if (h.fields || h.args || h.nfields || h.nargs)
            abort();
    } else if (rc != 400 && rc != 414 && rc != 431 && rc != 501 && rc != 505) {
        abort();
    } else if (h.fields || h.args) {
        abort(); /* a refused head holds nothing to free */
    }
    free(buf);
    return 0;
}
