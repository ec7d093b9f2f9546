/* multipart.c - multipart/form-data (RFC 7578 over RFC 2046), parsed with explicit cursors and bounds.
 *
 * The body is: an optional preamble, then parts each opened by CRLF "--" boundary (the first one may start the
 * body without the CRLF), the close delimiter "--" boundary "--", and an epilogue that is ignored. A part is a
 * header block ending in an empty line, then its content up to the next delimiter. Only Content-Disposition is
 * read (the field's name and filename); other part headers are skipped. */
#include "batch/multipart.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/errors.h"

static int fail(char *why, size_t whysz, const char *msg)
{
    lgw_strlcpy(why, msg, whysz);
    return LGW_ERR(INVALID);
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* A parameter value at *pp (a token, or a quoted string with backslash escapes) into out (outsz with its NUL).
 * Returns 0, or -1 when malformed or too long. */
static int param_value(const char **pp, const char *end, char *out, size_t outsz)
{
    const char *p = *pp;
    size_t n = 0;
    if (p < end && *p == '"') {
        p++;
        while (p < end && *p != '"') {
            if (*p == '\\' && p + 1 < end)
                p++;
            if (n + 1 >= outsz)
                return -1;
            out[n++] = *p++;
        }
        if (p == end)
            return -1; /* no closing quote */
        p++;
    } else {
        while (p < end && *p != ';' && *p != ' ' && *p != '\t') {
            if (n + 1 >= outsz)
                return -1;
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    *pp = p;
    return 0;
}

/* Walks "; name=value" parameters of a header value [p, end), calling back for each. */
typedef int (*param_cb)(void *arg, const char *name, size_t nlen, const char *value);

static int each_param(const char *p, const char *end, param_cb cb, void *arg)
{
    char value[LGW_MULTIPART_NAME_MAX];
    for (;;) {
        p = skip_ws(p, end);
        if (p == end)
            return 0;
        if (*p != ';')
            return -1;
        p = skip_ws(p + 1, end);
        const char *name = p;
        while (p < end && *p != '=' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t nlen = (size_t)(p - name);
        p = skip_ws(p, end);
        if (p == end || *p != '=' || nlen == 0)
            return -1;
        p = skip_ws(p + 1, end);
        if (param_value(&p, end, value, sizeof(value)))
            return -1;
        int rc = cb(arg, name, nlen, value);
        if (rc)
            return rc;
    }
}

static int boundary_cb(void *arg, const char *name, size_t nlen, const char *value)
{
    char *boundary = arg;
    if (nlen == 8 && strncasecmp(name, "boundary", 8) == 0) {
        size_t n = strlen(value);
        if (n == 0 || n > LGW_MULTIPART_BOUNDARY_MAX)
            return -1;
        memcpy(boundary, value, n + 1);
    }
    return 0;
}

static int disposition_cb(void *arg, const char *name, size_t nlen, const char *value)
{
    struct lgw_multipart_part *part = arg;
    if (nlen == 4 && strncasecmp(name, "name", 4) == 0)
        lgw_strlcpy(part->name, value, sizeof(part->name));
    else if (nlen == 8 && strncasecmp(name, "filename", 8) == 0) {
        lgw_strlcpy(part->filename, value, sizeof(part->filename));
        part->has_filename = 1;
    }
    return 0;
}

/* The header block [p, end) of one part: lines "Name: value" separated by CRLF. */
static int part_headers(const char *p, const char *end, struct lgw_multipart_part *part, char *why, size_t whysz)
{
    int disposition = 0;
    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon)
            return fail(why, whysz, "A part of the multipart body has a header line without a colon.");
        size_t nlen = (size_t)(colon - p);
        if (nlen == 19 && strncasecmp(p, "Content-Disposition", 19) == 0) {
            const char *v = skip_ws(colon + 1, eol);
            if ((size_t)(eol - v) < 9 || strncasecmp(v, "form-data", 9) != 0)
                return fail(why, whysz, "A part of the multipart body is not Content-Disposition: form-data.");
            if (each_param(v + 9, eol, disposition_cb, part))
                return fail(why, whysz, "A part of the multipart body has a malformed Content-Disposition "
                                        "(names and filenames are at most 255 bytes).");
            disposition = 1;
        }
        p = eol + (eol < end ? 2 : 0); /* the block ends before the empty line's CRLF, so eol+1 is '\n' */
    }
    if (!disposition || !part->name[0])
        return fail(why, whysz, "A part of the multipart body has no Content-Disposition with a field name.");
    return 0;
}

int lgw_multipart_parse(const char *content_type, const char *body, size_t len, struct lgw_multipart *out,
                        char *why, size_t whysz)
{
    memset(out, 0, sizeof(*out));
    const char *ct = content_type ? content_type : "";
    const char *ctend = ct + strlen(ct);
    const char *semi = memchr(ct, ';', (size_t)(ctend - ct));
    const char *tend = semi ? semi : ctend;
    while (tend > ct && (tend[-1] == ' ' || tend[-1] == '\t'))
        tend--;
    ct = skip_ws(ct, tend);
    if ((size_t)(tend - ct) != 19 || strncasecmp(ct, "multipart/form-data", 19) != 0)
        return fail(why, whysz, "Upload the file as multipart/form-data (fields 'purpose' and 'file').");
    char boundary[LGW_MULTIPART_BOUNDARY_MAX + 1] = "";
    if (!semi || each_param(semi, ctend, boundary_cb, boundary) || !boundary[0])
        return fail(why, whysz, "The multipart/form-data Content-Type has no valid boundary (1 to 70 characters).");

    /* The delimiter as it appears between parts: CRLF "--" boundary. */
    char delim[LGW_MULTIPART_BOUNDARY_MAX + 5] = "\r\n--";
    memcpy(delim + 4, boundary, strlen(boundary) + 1);
    size_t dlen = strlen(delim);
    const char *end = body + len, *p;
    if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0)
        p = body + dlen - 2; /* the body starts with the first delimiter (no preamble) */
    else {
        p = body ? memmem(body, len, delim, dlen) : NULL;
        if (!p)
            return fail(why, whysz, "The multipart body has no part with the boundary its Content-Type names.");
        p += dlen;
    }
    /* p is just past a delimiter. */
    for (;;) {
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return 0; /* the close delimiter: the epilogue is ignored */
        while (p < end && (*p == ' ' || *p == '\t')) /* transport padding */
            p++;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return fail(why, whysz, "The multipart body ends without its closing boundary.");
        p += 2;
        if (out->nparts == LGW_MULTIPART_PARTS_MAX)
            return fail(why, whysz, "The multipart body has more than 16 parts.");
        struct lgw_multipart_part *part = &out->parts[out->nparts];
        const char *hend;
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
            hend = p; /* no headers at all: caught below as a part without a name */
        else {
            size_t look = (size_t)(end - p) < LGW_MULTIPART_HEAD_MAX + 4 ? (size_t)(end - p)
                                                                         : LGW_MULTIPART_HEAD_MAX + 4;
            hend = memmem(p, look, "\r\n\r\n", 4);
            if (!hend)
                return fail(why, whysz, (size_t)(end - p) > LGW_MULTIPART_HEAD_MAX
                                            ? "A part of the multipart body has more than 4096 bytes of headers."
                                            : "A part of the multipart body has no end to its headers.");
        }
        int rc = part_headers(p, hend, part, why, whysz);
        if (rc)
            return rc;
        p = hend + (hend == p ? 2 : 4);
        const char *next = memmem(p, (size_t)(end - p), delim, dlen);
        if (!next)
            return fail(why, whysz, "The multipart body ends without its closing boundary.");
        part->data = p;
        part->len = (size_t)(next - p);
        out->nparts++;
        p = next + dlen;
    }
}

const struct lgw_multipart_part *lgw_multipart_find(const struct lgw_multipart *mp, const char *name)
{
    for (size_t i = 0; i < mp->nparts; i++)
        if (strcmp(mp->parts[i].name, name) == 0)
            return &mp->parts[i];
    return NULL;
}
