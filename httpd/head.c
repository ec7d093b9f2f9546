/* head.c - the request head parser (head.h). One pass over the lines; every rule that refuses says which
 * ambiguity it closes. */
#include "httpd/head.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"

/* RFC 9110 section 5.6.2: the characters of a token (a method, a field name). */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A field value's characters: visible, space, tab and obs-text; no control characters (a bare CR or a NUL
 * could end the value early in another parser). */
static bool is_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

size_t lgw_http_head_end(const char *buf, size_t len, size_t *from)
{
    size_t i = *from;
    /* Leading empty lines belong to the head; the end is the first empty line after a non-empty one. */
    size_t start = 0;
    while (start < len && (buf[start] == '\r' || buf[start] == '\n'))
        start++;
    if (i < start)
        i = start;
    for (; i < len; i++) {
        if (buf[i] != '\n' || i == start)
            continue;
        /* A line ended at i: the head ends if the line before it is empty ("\n\n" or "\n\r\n"). */
        if (i >= 1 && buf[i - 1] == '\n')
            return i + 1;
        if (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n')
            return i + 1;
    }
    *from = len > 2 ? len - 2 : 0; /* the last two bytes may start the end */
    if (*from < start)
        *from = start;
    return 0;
}

/* Decodes %XX in s in place ('+' as a space too when plus); an invalid escape is kept as it is. False: it
 * decodes to a NUL, which would cut the string short. */
static bool unescape(char *s, bool plus)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        int hi, lo;
        if (*r == '%' && (hi = lgw_hex_digit(r[1])) >= 0 && (lo = lgw_hex_digit(r[2])) >= 0) {
            int c = hi * 16 + lo;
            if (c == 0)
                return false;
            *w++ = (char)c;
            r += 2;
        } else if (plus && *r == '+') {
            *w++ = ' ';
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return true;
}

/* Splits the query (NUL-terminated, after the '?') into decoded pairs. */
static int parse_args(char *q, struct lgw_http_head *h)
{
    if (!*q)
        return 0;
    size_t n = 1;
    for (const char *p = q; *p; p++)
        n += *p == '&';
    if (n > LGW_HTTP_ARGS_MAX)
        return 414;
    h->args = lgw_calloc(n, sizeof(*h->args));
    for (char *p = q; p;) {
        char *amp = strchr(p, '&');
        if (amp)
            *amp = '\0';
        if (*p) { /* "a&&b": an empty pair is nothing */
            char *eq = strchr(p, '=');
            if (eq)
                *eq = '\0';
            if (!unescape(p, true) || (eq && !unescape(eq + 1, true)))
                return 400;
            h->args[h->nargs].name = p;
            h->args[h->nargs].value = eq ? eq + 1 : "";
            h->nargs++;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

/* Ends the line starting at p (within end) with a NUL; *next: the line after. NULL: a bare CR in the line
 * (a parser that takes CR as a line end would see another head), or a NUL (the rest of the line would be
 * read here as C strings, which stop at it, and by another parser as bytes: "Content-Length: 5\0 6"). */
static char *cut_line(char *p, char *end, char **next)
{
    char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl)
        return NULL;
    char *e = nl;
    if (e > p && e[-1] == '\r')
        e--;
    if (memchr(p, '\r', (size_t)(e - p)) || memchr(p, '\0', (size_t)(e - p)))
        return NULL;
    *e = '\0';
    *next = nl + 1;
    return p;
}

/* The path and the query, split and decoded in place (the target as sent is not kept: nothing reads it). */
static int split_target(struct lgw_http_head *h, char *t)
{
    /* absolute-form (a proxy's "http://host/path"): the path starts where the authority ends, at a '/'. The
     * authority ends at the first '/', '?' or '#': in "http://host?a=/b" the '/' is the query's, not a path. */
    if (strncasecmp(t, "http://", 7) == 0 || strncasecmp(t, "https://", 8) == 0) {
        char *auth = strchr(t, ':') + 3;
        char *slash = auth + strcspn(auth, "/?#");
        if (*slash != '/')
            return 400; /* no path to serve */
        t = slash;
    } else if (*t != '/') {
        return 400; /* origin-form or absolute-form only: no "*", no authority-form (CONNECT) */
    }
    char *q = strchr(t, '?');
    if (q)
        *q++ = '\0';
    if (!unescape(t, false))
        return 400;
    h->path = t;
    return q ? parse_args(q, h) : 0;
}

static int parse_request_line(char *line, struct lgw_http_head *h)
{
    char *sp1 = strchr(line, ' ');
    if (!sp1 || sp1 == line || sp1 - line > 32)
        return 400;
    *sp1 = '\0';
    for (const char *c = line; *c; c++)
        if (!is_tchar((unsigned char)*c))
            return 400;
    char *target = sp1 + 1;
    char *sp2 = strchr(target, ' ');
    if (!sp2 || sp2 == target)
        return 400;
    *sp2 = '\0';
    for (const unsigned char *c = (const unsigned char *)target; *c; c++)
        if (*c <= 0x20 || *c >= 0x7f) /* RFC 3986: no spaces or controls in a target */
            return 400;
    const char *version = sp2 + 1;
    if (strncmp(version, "HTTP/", 5) != 0)
        return 400;
    if (strcmp(version, "HTTP/1.1") == 0)
        h->minor = 1;
    else if (strcmp(version, "HTTP/1.0") == 0)
        h->minor = 0;
    else if (version[5] >= '0' && version[5] <= '9' && version[6] == '.' && version[7] >= '0' && version[7] <= '9' &&
             !version[8])
        return 505;
    else
        return 400;
    h->method = line;
    h->version = version;
    h->head_method = strcmp(line, "HEAD") == 0;
    return split_target(h, target);
}

static bool has_token(const char *list, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - p) == n && strncasecmp(p, token, n) == 0)
            return true;
        p = e;
    }
    return false;
}

/* Content-Length: digits only, at most 18 of them (no sign, no list, no spaces inside). */
static int64_t parse_length(const char *v)
{
    if (!*v || strlen(v) > 18)
        return -1;
    int64_t n = 0;
    for (const char *c = v; *c; c++) {
        if (*c < '0' || *c > '9')
            return -1;
        n = n * 10 + (*c - '0');
    }
    return n;
}

/* The framing and connection fields, once every field is read. */
static int read_fields(struct lgw_http_head *h)
{
    int hosts = 0, encodings = 0;
    h->content_length = -1;
    bool close = false, keep = false;
    for (size_t i = 0; i < h->nfields; i++) {
        const char *n = h->fields[i].name, *v = h->fields[i].value;
        if (strcasecmp(n, "content-length") == 0) {
            int64_t len = parse_length(v);
            /* Two different lengths: which one a proxy used is unknowable. */
            if (len < 0 || (h->content_length >= 0 && h->content_length != len))
                return 400;
            h->content_length = len;
        } else if (strcasecmp(n, "transfer-encoding") == 0) {
            if (++encodings > 1)
                return 400;
            if (strcasecmp(v, "chunked") != 0)
                return has_token(v, "chunked") ? 400 : 501; /* "gzip, chunked": a coding we do not decode */
            h->chunked = true;
        } else if (strcasecmp(n, "host") == 0) {
            hosts++;
        } else if (strcasecmp(n, "connection") == 0) {
            close = close || has_token(v, "close");
            keep = keep || has_token(v, "keep-alive");
        } else if (strcasecmp(n, "expect") == 0) {
            h->expect_continue = strcasecmp(v, "100-continue") == 0;
        }
    }
    /* Both framings (the classic smuggling pair), chunked in HTTP/1.0 (which has no chunked), no Host or two. */
    if (h->chunked && (h->content_length >= 0 || h->minor == 0))
        return 400;
    if ((h->minor == 1 && hosts != 1) || hosts > 1)
        return 400;
    h->keep_alive = h->minor == 1 ? !close : (keep && !close);
    if (h->minor == 0)
        h->expect_continue = false;
    return 0;
}

int lgw_http_head_parse(char *buf, size_t len, struct lgw_http_head *h)
{
    memset(h, 0, sizeof(*h));
    char *p = buf, *end = buf + len, *next;
    while (p < end && (*p == '\r' || *p == '\n'))
        p++;
    char *line = cut_line(p, end, &next);
    if (!line)
        return 400;
    int rc = parse_request_line(line, h);
    if (rc) {
        lgw_http_head_clear(h);
        return rc;
    }
    size_t nmax = 0;
    for (char *c = next; c < end; c++)
        nmax += *c == '\n';
    if (nmax > LGW_HTTP_FIELDS_MAX + 1)
        rc = 431;
    else if (nmax)
        h->fields = lgw_calloc(nmax, sizeof(*h->fields));
    for (p = next; !rc && p < end; p = next) {
        line = cut_line(p, end, &next);
        if (!line) {
            rc = 400;
            break;
        }
        if (!*line) /* the empty line: the head's end */
            break;
        if (*line == ' ' || *line == '\t') { /* obs-fold: RFC 9112 section 5.2 lets a server refuse it */
            rc = 400;
            break;
        }
        char *colon = line;
        while (is_tchar((unsigned char)*colon))
            colon++;
        /* No name, or anything between name and colon ("Name : v" is the space-before-colon smuggle). */
        if (colon == line || *colon != ':') {
            rc = 400;
            break;
        }
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        char *ve = v + strlen(v);
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        *ve = '\0';
        for (const char *c = v; *c; c++)
            if (!is_value_char((unsigned char)*c)) {
                rc = 400;
                break;
            }
        if (rc)
            break;
        h->fields[h->nfields].name = line;
        h->fields[h->nfields].value = v;
        h->nfields++;
    }
    if (!rc)
        rc = read_fields(h);
    if (rc) {
        lgw_http_head_clear(h);
        return rc;
    }
    return 0;
}

void lgw_http_head_clear(struct lgw_http_head *h)
{
    free(h->fields);
    free(h->args);
    memset(h, 0, sizeof(*h));
}

const char *lgw_http_head_field(const struct lgw_http_head *h, const char *name)
{
    for (size_t i = 0; i < h->nfields; i++)
        if (strcasecmp(h->fields[i].name, name) == 0)
            return h->fields[i].value;
    return NULL;
}
