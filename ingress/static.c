/* static.c - the dashboard's static files: lookup, content-coding and ETag choice, and the answer with its
 * cache and security headers (see static.h). */
#include "ingress/static.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/errors.h"

/* The page's policy: its own scripts, styles and images only (SVG data: URIs for the favicon), fetches to
 * this origin only, no inline script or style anywhere, no framing, no forms posted elsewhere. */
static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                          "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const struct lgw_static_file *lgw_static_find(const char *name)
{
    for (size_t i = 0; i < lgw_static_nfiles; i++)
        if (strcmp(lgw_static_files[i].name, name) == 0)
            return &lgw_static_files[i];
    return NULL;
}

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

/* [*s, end) without the optional white space around it. */
static void trim(const char **s, const char **end)
{
    while (*s < *end && ows(**s))
        (*s)++;
    while (*end > *s && ows((*end)[-1]))
        (*end)--;
}

/* Whether the parameters of one list element (";q=0.5;x=y", possibly empty) leave its q above 0. A qvalue is
 * "0", "0.", up to three digits, or 1: it is above 0 exactly when a digit other than 0 appears. */
static bool q_positive(const char *p, const char *end)
{
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *next = semi ? semi : end, *s = p, *e = next;
        trim(&s, &e);
        if (e - s >= 2 && (s[0] == 'q' || s[0] == 'Q') && s[1] == '=') {
            for (s += 2; s < e; s++)
                if (*s >= '1' && *s <= '9')
                    return true;
            return false;
        }
        p = semi ? semi + 1 : end;
    }
    return true; /* no q: 1 */
}

static bool token_is(const char *s, const char *e, const char *want)
{
    size_t n = strlen(want);
    return (size_t)(e - s) == n && strncasecmp(s, want, n) == 0;
}

bool lgw_static_accepts_gzip(const char *accept_encoding)
{
    if (!accept_encoding)
        return false;
    int gzip = -1, star = -1; /* -1: not named; else whether its q is above 0 */
    const char *p = accept_encoding, *end = p + strlen(p);
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *elem_end = comma ? comma : end;
        const char *semi = memchr(p, ';', (size_t)(elem_end - p));
        const char *s = p, *e = semi ? semi : elem_end;
        trim(&s, &e);
        bool pos = semi ? q_positive(semi + 1, elem_end) : true;
        if (token_is(s, e, "gzip") || token_is(s, e, "x-gzip"))
            gzip = gzip == 1 ? 1 : pos;
        else if (token_is(s, e, "*"))
            star = pos;
        p = comma ? comma + 1 : end;
    }
    return gzip == 1 || (gzip == -1 && star == 1);
}

bool lgw_static_etag_matches(const char *if_none_match, const char *etag)
{
    if (!if_none_match)
        return false;
    size_t want = strlen(etag);
    const char *p = if_none_match, *end = p + strlen(p);
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *s = p, *e = comma ? comma : end;
        trim(&s, &e);
        if (e - s == 1 && *s == '*')
            return true;
        if (e - s >= 2 && s[0] == 'W' && s[1] == '/')
            s += 2; /* weak comparison: a weak tag matches its strong twin */
        if ((size_t)(e - s) == want && memcmp(s, etag, want) == 0)
            return true;
        p = comma ? comma + 1 : end;
    }
    return false;
}

void lgw_static_choose(const struct lgw_static_file *file, const char *accept_encoding, struct lgw_static_choice *out)
{
    if (file->gz && lgw_static_accepts_gzip(accept_encoding))
        *out = (struct lgw_static_choice){file->gz, file->gz_len, file->etag_gz, true};
    else
        *out = (struct lgw_static_choice){file->raw, file->raw_len, file->etag, false};
}

/* The headers of a 200 and of its 304 alike (RFC 9110 asks a 304 for the ETag, Cache-Control and Vary the
 * 200 would carry). Every file is revalidated on each use (no-cache): their names carry no version, so a
 * cached app.js must never outlive the index.html it belongs to; a revalidation is one 304 without a body. */
static void add_headers(struct lgw_hresp *resp, const struct lgw_static_file *file,
                        const struct lgw_static_choice *ch)
{
    lgw_hresp_header(resp, "Content-Type", file->content_type);
    lgw_hresp_header(resp, "ETag", ch->etag);
    lgw_hresp_header(resp, "Cache-Control", "no-cache");
    lgw_hresp_header(resp, "Vary", "Accept-Encoding");
    if (ch->gzip)
        lgw_hresp_header(resp, "Content-Encoding", "gzip");
    lgw_hresp_header(resp, "Content-Security-Policy", csp);
    lgw_hresp_header(resp, "X-Content-Type-Options", "nosniff");
    lgw_hresp_header(resp, "Referrer-Policy", "no-referrer");
}

static enum lgw_hres serve(struct lgw_req *req, const struct lgw_static_file *file)
{
    struct lgw_static_choice ch;
    lgw_static_choose(file, lgw_hconn_header(req->conn, "Accept-Encoding"), &ch);
    const char *inm = lgw_hconn_header(req->conn, "If-None-Match");
    bool fresh = lgw_static_etag_matches(inm, ch.etag);
    /* The table is static data: it is sent from where it lies, without a copy. */
    struct lgw_hresp *resp = fresh ? lgw_hresp_buffer(0, "", LGW_HRESP_STATIC)
                                   : lgw_hresp_buffer(ch.len, ch.body, LGW_HRESP_STATIC);
    req->status = fresh ? 304 : 200; /* for the request metrics */
    add_headers(resp, file, &ch);
    lgw_req_route_headers(req, resp); /* x-request-id, as every answer */
    return lgw_hconn_queue(req->conn, (unsigned int)req->status, resp);
}

enum lgw_hres lgw_static_serve_index(struct lgw_req *req)
{
    const struct lgw_static_file *file = lgw_static_find("index.html");
    if (!file) /* the build always embeds web/index.html; a tree without it has no page */
        return lgw_req_answer_error(req, LGW_ERR(NOT_FOUND), "This gateway was built without its dashboard.");
    return serve(req, file);
}

enum lgw_hres lgw_static_serve_file(struct lgw_req *req)
{
    const struct lgw_static_file *file = req->path_arg[0] ? lgw_static_find(req->path_arg) : NULL;
    if (!file) {
        char msg[LGW_NAME_MAX + 64];
        snprintf(msg, sizeof(msg), "No file '%.*s' in the dashboard.", 128, req->path_arg);
        return lgw_req_answer_error(req, LGW_ERR(NOT_FOUND), msg);
    }
    return serve(req, file);
}
