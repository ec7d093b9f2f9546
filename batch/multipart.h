/* multipart.h - a bounded multipart/form-data parser (RFC 7578) for POST /v1/files: the parts of a request
 * body already in memory, each pointing into that body (nothing is copied but the names). Every limit is
 * explicit: parts, header bytes per part, name and filename lengths. */
#ifndef LGW_MULTIPART_H
#define LGW_MULTIPART_H

#include <stddef.h>

#define LGW_MULTIPART_PARTS_MAX 16          /* a file upload has two or three fields */
#define LGW_MULTIPART_HEAD_MAX 4096         /* the header block of one part */
#define LGW_MULTIPART_BOUNDARY_MAX 70       /* RFC 2046: 1..70 characters */
#define LGW_MULTIPART_NAME_MAX 256          /* a field name or filename, NUL included */

struct lgw_multipart_part {
    char name[LGW_MULTIPART_NAME_MAX];     /* the form field's name */
    char filename[LGW_MULTIPART_NAME_MAX]; /* "" when the part is not a file */
    int has_filename;                      /* a filename parameter was present (maybe empty) */
    const char *data;                      /* into the body; not NUL-terminated */
    size_t len;
};

struct lgw_multipart {
    struct lgw_multipart_part parts[LGW_MULTIPART_PARTS_MAX];
    size_t nparts;
};

/* Parses body[0..len) as multipart/form-data with the boundary of content_type (the request's Content-Type
 * header). Returns 0, or LGW_ERR(INVALID) with why (a sentence for the client) for a content type that is not
 * multipart/form-data with a boundary, a malformed body, or one past a limit. The parts point into body,
 * which must outlive out. Any thread. */
int lgw_multipart_parse(const char *content_type, const char *body, size_t len, struct lgw_multipart *out,
                        char *why, size_t whysz);
/* The first part named name, or NULL. */
const struct lgw_multipart_part *lgw_multipart_find(const struct lgw_multipart *mp, const char *name);

#endif
