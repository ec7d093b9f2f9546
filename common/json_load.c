/* json_load.c - JSON text read into a jansson tree, with jansson's answers (json_load.h). */
#include "common/json_load.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json_scan.h"

/* A number token up to this long is copied on the stack for strtoll/strtod (which need a NUL); longer ones, which
 * the check let through (a real with many digits), are copied to the heap. */
#define NUMBER_STACK 64

struct reader {
    const char *p, *end;
    bool reject_duplicates;
};

static void skip_ws(struct reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

/* The string whose opening quote is at r->p, checked: *s and *n are its bytes, either inside the text (no escape:
 * *owned NULL) or unescaped into a heap copy the caller frees (*owned). r->p ends past the closing quote. */
static void read_string(struct reader *r, const char **s, size_t *n, char **owned)
{
    const char *start = r->p + 1;
    const char *quote = memchr(start, '"', (size_t)(r->end - start));
    const char *esc = memchr(start, '\\', (size_t)(quote - start));
    *owned = NULL;
    if (!esc) {
        *s = start;
        *n = (size_t)(quote - start);
        r->p = quote + 1;
        return;
    }
    /* Escapes: the unescaped string is never longer than the text, which runs at most to the text's end. */
    char *out = lgw_malloc((size_t)(r->end - start) + 1);
    size_t k = (size_t)(esc - start);
    memcpy(out, start, k);
    const char *p = esc;
    for (;;) {
        char c = *p;
        if (c == '"')
            break;
        if (c != '\\') {
            out[k++] = c;
            p++;
            continue;
        }
        char e = p[1];
        p += 2;
        switch (e) {
        case 'b': out[k++] = '\b'; break;
        case 'f': out[k++] = '\f'; break;
        case 'n': out[k++] = '\n'; break;
        case 'r': out[k++] = '\r'; break;
        case 't': out[k++] = '\t'; break;
        case 'u': {
            unsigned long cp = (unsigned long)lgw_json_hex4(p);
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) { /* the check saw its low half right after */
                unsigned long lo = (unsigned long)lgw_json_hex4(p + 2);
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            k += lgw_json_utf8_put(cp, (unsigned char *)out + k);
            break;
        }
        default: out[k++] = e; break; /* " \ / */
        }
    }
    *s = out;
    *n = k;
    *owned = out;
    r->p = p + 1;
}

static json_t *read_number(struct reader *r)
{
    const char *start = r->p;
    bool real = false;
    while (r->p < r->end) {
        char c = *r->p;
        if (c == '.' || c == 'e' || c == 'E')
            real = true;
        else if (!(c == '-' || c == '+' || (c >= '0' && c <= '9')))
            break;
        r->p++;
    }
    size_t n = (size_t)(r->p - start);
    char stack[NUMBER_STACK], *tok = n < sizeof(stack) ? stack : lgw_malloc(n + 1);
    memcpy(tok, start, n);
    tok[n] = '\0';
    /* In range: the check refused integers past long long and reals past a double, as jansson does. */
    json_t *v = real ? json_real(strtod(tok, NULL)) : json_integer((json_int_t)strtoll(tok, NULL, 10));
    if (tok != stack)
        free(tok);
    return v;
}

static json_t *read_value(struct reader *r);

static json_t *read_object(struct reader *r)
{
    json_t *o = json_object();
    r->p++;
    skip_ws(r);
    if (*r->p == '}') {
        r->p++;
        return o;
    }
    for (;;) {
        const char *key;
        size_t klen;
        char *owned;
        read_string(r, &key, &klen, &owned);
        skip_ws(r);
        r->p++; /* : */
        skip_ws(r);
        json_t *v = read_value(r);
        /* A repeated key: refused with the flag (jansson's error then comes from jansson), else the last wins. */
        bool ok = v && o && !(r->reject_duplicates && json_object_getn(o, key, klen));
        if (ok)
            ok = json_object_setn_new_nocheck(o, key, klen, v) == 0;
        else
            json_decref(v);
        free(owned);
        if (!ok) {
            json_decref(o);
            return NULL;
        }
        skip_ws(r);
        if (*r->p++ == '}')
            return o;
        skip_ws(r); /* after the comma */
    }
}

static json_t *read_array(struct reader *r)
{
    json_t *a = json_array();
    r->p++;
    skip_ws(r);
    if (*r->p == ']') {
        r->p++;
        return a;
    }
    for (;;) {
        json_t *v = read_value(r);
        if (!v || !a || json_array_append_new(a, v) != 0) {
            json_decref(a);
            return NULL;
        }
        skip_ws(r);
        if (*r->p++ == ']')
            return a;
        skip_ws(r);
    }
}

static json_t *read_value(struct reader *r)
{
    switch (*r->p) {
    case '{':
        return read_object(r);
    case '[':
        return read_array(r);
    case '"': {
        const char *s;
        size_t n;
        char *owned;
        read_string(r, &s, &n, &owned);
        json_t *v = json_stringn_nocheck(s, n);
        free(owned);
        return v;
    }
    case 't':
        r->p += 4;
        return json_true();
    case 'f':
        r->p += 5;
        return json_false();
    case 'n':
        r->p += 4;
        return json_null();
    default:
        return read_number(r);
    }
}

json_t *lgw_json_loadb(const char *text, size_t len, size_t flags, json_error_t *err)
{
    if ((flags & ~(size_t)JSON_REJECT_DUPLICATES) != 0 || lgw_json_check(text, len, LGW_JSON_DEPTH_MAX, NULL) != 0)
        return json_loadb(text, len, flags, err);
    struct reader r = {text, text + len, (flags & JSON_REJECT_DUPLICATES) != 0};
    skip_ws(&r);
    json_t *root = read_value(&r);
    if (!root) /* a repeated key refused, or out of memory: jansson says which, in its words */
        return json_loadb(text, len, flags, err);
    if (err) { /* as json_loadb leaves it on success */
        memset(err, 0, sizeof(*err));
        err->line = -1;
        err->column = -1;
        strcpy(err->source, "<buffer>");
    }
    return root;
}
