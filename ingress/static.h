/* static.h - the dashboard's static files (web/), compiled into the binary and served by the ingress:
 * GET / is index.html, GET /ui/<name> any file, HEAD too, without a key (the page is public; the data calls it
 * makes carry the key). The table is generated at build time (scripts/embed_web.py): each file as it is and
 * gzip'd, with a strong ETag for each. Answers carry the ETag, honour If-None-Match (304), send the gzip
 * bytes to a client whose Accept-Encoding takes gzip, and set the page's security headers (a CSP without
 * inline scripts or styles, nosniff, no referrer). */
#ifndef LGW_STATIC_H
#define LGW_STATIC_H

#include "httpd/server.h"
#include <stdbool.h>
#include <stddef.h>

#include "ingress/request.h"

struct lgw_static_file {
    const char *name;         /* its name under /ui/ ("app.js") */
    const char *content_type; /* with a charset for text */
    const unsigned char *raw;
    size_t raw_len;
    const unsigned char *gz; /* gzip -9 -n of raw; NULL (gz_len 0) when that is not smaller */
    size_t gz_len;
    const char *etag;    /* "<16 hex of SHA-256(raw)>", quotes included */
    const char *etag_gz; /* "<same>-gz": the gzip representation's */
};

/* The generated table (static data, sorted by name). */
extern const struct lgw_static_file lgw_static_files[];
extern const size_t lgw_static_nfiles;

/* What one answer sends: the bytes, their ETag, and whether they are the gzip representation. */
struct lgw_static_choice {
    const unsigned char *body;
    size_t len;
    const char *etag;
    bool gzip;
};

/* The file named name (as under /ui/), or NULL. Any thread. */
const struct lgw_static_file *lgw_static_find(const char *name);

/* Whether an Accept-Encoding value takes gzip: "gzip" (or "x-gzip") with a q above 0, or "*" with a q above 0
 * and gzip not refused by name. NULL (no header): no, as RFC 9110 allows and curl without --compressed
 * expects. Any thread. */
bool lgw_static_accepts_gzip(const char *accept_encoding);

/* Whether an If-None-Match value matches etag: "*", or one of its comma-separated entity tags equal to etag
 * by the weak comparison (a W/ prefix ignored), as RFC 9110 asks for If-None-Match. NULL: no. Any thread. */
bool lgw_static_etag_matches(const char *if_none_match, const char *etag);

/* The representation of file for a client sending accept_encoding (NULL: none). */
void lgw_static_choose(const struct lgw_static_file *file, const char *accept_encoding, struct lgw_static_choice *out);

/* Route handlers (ingress/routes.h), HTTP thread: GET/HEAD / (index.html), GET/HEAD /ui/{name} (a 404 in
 * the error table's JSON for a name not in the table). */
enum lgw_hres lgw_static_serve_index(struct lgw_req *req);
enum lgw_hres lgw_static_serve_file(struct lgw_req *req);

#endif
