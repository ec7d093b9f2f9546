/* fuzz_http_body.c - libFuzzer harness: a chunked request body (httpd/body.h) decoded whole and cut in two at
 * a point taken from the first input byte. Both ways must give the same verdict, take the same bytes (those
 * after the body's end are the next request's) and decode the same data, every piece inside its input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpd/body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
    int rc;
    size_t used;
    char *out; /* the decoded data; the input's size is enough */
    size_t out_len;
};

/* Feeds in[0..len) on from b's state, as the server does: a piece handed on, the rest fed again. */
static void feed(struct lgw_http_body *b, const char *in, size_t len, struct run *r)
{
    size_t off = 0;
    while (!r->rc && off < len && !lgw_http_body_done(b)) {
        size_t used = 0, piece_len = 0;
        const char *piece = NULL;
        r->rc = lgw_http_body_next(b, in + off, len - off, &used, &piece, &piece_len);
        if (r->rc) {
            if (r->rc != 400)
                abort();
            return;
        }
        if (!used || used > len - off)
            abort(); /* no progress would loop forever; more than given is a read past it */
        if (piece_len && (piece < in + off || piece + piece_len > in + off + used))
            abort();
        memcpy(r->out + r->out_len, piece, piece_len);
        r->out_len += piece_len;
        off += used;
        r->used += used;
    }
}

/* Decodes in[0..len) cut at split (each part in a buffer of its own size). */
static bool decode(const char *in, size_t len, size_t split, struct run *r)
{
    struct lgw_http_body b;
    lgw_http_body_init(&b, true, -1);
    r->out = malloc(len ? len : 1);
    size_t cuts[2][2] = {{0, split}, {split, len - split}};
    for (int i = 0; i < 2; i++) {
        char *part = malloc(cuts[i][1] ? cuts[i][1] : 1);
        memcpy(part, in + cuts[i][0], cuts[i][1]);
        feed(&b, part, cuts[i][1], r);
        free(part);
    }
    return lgw_http_body_done(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *in = (const char *)data + 1;
    size_t len = size - 1, split = len ? data[0] % (len + 1) : 0;
    struct run whole = {0}, cut = {0};
    bool whole_done = decode(in, len, len, &whole);
    bool cut_done = decode(in, len, split, &cut);
    if (whole.rc != cut.rc || whole_done != cut_done)
        abort();
    if (!whole.rc && (whole.used != cut.used || whole.out_len != cut.out_len ||
                      memcmp(whole.out, cut.out, whole.out_len) != 0))
        abort();
    if (!whole.rc && !whole_done && whole.used != len)
        abort(); /* a body not ended takes every byte given */
    free(whole.out);
    free(cut.out);
    return 0;
}
