/* body.c - request body framing (body.h). */
#include "httpd/body.h"

#include "common/buf.h"

enum {
    B_DONE,
    B_LENGTH,   /* Content-Length bytes */
    B_SIZE,     /* a chunk's size digits */
    B_SIZE_WS,  /* spaces after them, before ';' */
    B_EXT,      /* its extensions, up to CR */
    B_SIZE_LF,  /* the LF ending the size line */
    B_DATA,     /* the chunk's data */
    B_DATA_CR,  /* the CRLF after it */
    B_DATA_LF,
    B_TRAILER,     /* the start of a trailer line (or of the empty line that ends the body) */
    B_TRAILER_LINE,
    B_TRAILER_LF, /* the LF of a trailer line */
    B_END_LF,     /* the LF of the empty last line */
};

void lgw_http_body_init(struct lgw_http_body *b, bool chunked, int64_t content_length)
{
    *b = (struct lgw_http_body){.chunked = chunked};
    if (chunked)
        b->state = B_SIZE;
    else if (content_length > 0) {
        b->state = B_LENGTH;
        b->left = (uint64_t)content_length;
    } else
        b->state = B_DONE;
}

bool lgw_http_body_done(const struct lgw_http_body *b)
{
    return b->state == B_DONE;
}

int lgw_http_body_next(struct lgw_http_body *b, const char *data, size_t len, size_t *used, const char **piece,
                       size_t *piece_len)
{
    *piece = data;
    *piece_len = 0;
    size_t i = 0;
    while (i < len && b->state != B_DONE) {
        char c = data[i];
        switch (b->state) {
        case B_LENGTH:
        case B_DATA: {
            size_t n = len - i < b->left ? len - i : (size_t)b->left;
            *piece = data + i;
            *piece_len = n;
            b->left -= n;
            i += n;
            if (!b->left)
                b->state = b->state == B_LENGTH ? B_DONE : B_DATA_CR;
            *used += i;
            return 0;
        }
        case B_SIZE: {
            int v = lgw_hex_digit(c);
            if (v >= 0) {
                if (++b->digits > 16)
                    return 400; /* a size past 2^64: refused before it can wrap */
                b->left = b->left * 16 + (uint64_t)v;
            } else if (!b->digits) {
                return 400;
            } else if (c == ';') {
                b->state = B_EXT;
            } else if (c == ' ' || c == '\t') {
                b->state = B_SIZE_WS;
            } else if (c == '\r') {
                b->state = B_SIZE_LF;
            } else {
                return 400;
            }
            break;
        }
        case B_SIZE_WS:
            if (c == ';')
                b->state = B_EXT;
            else if (c != ' ' && c != '\t')
                return 400;
            break;
        case B_EXT:
            if (c == '\r')
                b->state = B_SIZE_LF;
            else if ((c != '\t' && (unsigned char)c < 0x20) || c == 0x7f || ++b->skipped > LGW_HTTP_CHUNK_EXT_MAX)
                return 400;
            break;
        case B_SIZE_LF:
            if (c != '\n')
                return 400;
            b->digits = 0;
            b->skipped = 0;
            b->state = b->left ? B_DATA : B_TRAILER; /* size 0: the last chunk */
            break;
        case B_DATA_CR:
            if (c != '\r')
                return 400;
            b->state = B_DATA_LF;
            break;
        case B_DATA_LF:
            if (c != '\n')
                return 400;
            b->state = B_SIZE;
            break;
        case B_TRAILER:
            if (c == '\r')
                b->state = B_END_LF;
            else if (++b->skipped > LGW_HTTP_TRAILERS_MAX || c == '\n')
                return 400;
            else
                b->state = B_TRAILER_LINE;
            break;
        case B_TRAILER_LINE:
            if (c == '\r')
                b->state = B_TRAILER_LF;
            else if (++b->skipped > LGW_HTTP_TRAILERS_MAX || c == '\n')
                return 400;
            break;
        case B_TRAILER_LF:
            if (c != '\n')
                return 400;
            b->state = B_TRAILER;
            break;
        case B_END_LF:
            if (c != '\n')
                return 400;
            b->state = B_DONE;
            break;
        default:
            return 400;
        }
        i++;
    }
    *used += i;
    return 0;
}
