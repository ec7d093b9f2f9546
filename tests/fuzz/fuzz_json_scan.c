/* fuzz_json_scan.c - libFuzzer harness: the tree-less JSON checker (common/json_scan.h) against jansson 2.14
 * (json_loadb, flags 0, an object or array on top) on every input, and the member and element spans of an
 * accepted text against the values jansson parsed. The reader built on the check (lgw_json_loadb,
 * common/json_load.h) against json_loadb too, with both flags it takes: the same tree, written out the same, or the
 * same error. Any disagreement traps. */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/json_load.h"
#include "common/json_scan.h"
#include "common/json_write.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                            \
    do {                                                                                                       \
        if (!(cond))                                                                                           \
            __builtin_trap();                                                                                  \
    } while (0)

/* The depth jansson gives j: 1 for a scalar or an empty container, else one more than its deepest value. */
static int depth_of(const json_t *j)
{
    int d = 0;
    size_t i;
    const char *key;
    json_t *v;
    if (json_is_array(j)) {
        json_array_foreach(j, i, v) {
            int dv = depth_of(v);
            d = dv > d ? dv : d;
        }
    } else if (json_is_object(j)) {
        json_object_foreach((json_t *)j, key, v) {
            int dv = depth_of(v);
            d = dv > d ? dv : d;
        }
    }
    return d + 1;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The span [off, off + vlen) of text is one value with nothing around it, and it is what jansson has there (when
 * want is not NULL). A container is only checked for its brackets here: walk compares what is inside, and parsing
 * every level's span again would make a deep text quadratic. */
static void check_span(const char *text, size_t len, size_t off, size_t vlen, const json_t *want)
{
    CHECK(vlen > 0 && off <= len && vlen <= len - off);
    const char *v = text + off;
    CHECK(!is_ws(v[0]) && !is_ws(v[vlen - 1]));
    if (v[0] == '{' || v[0] == '[') {
        CHECK(v[vlen - 1] == (v[0] == '{' ? '}' : ']'));
        CHECK(!want || (v[0] == '{' ? json_is_object(want) : json_is_array(want)));
        return;
    }
    json_t *mine = json_loadb(v, vlen, JSON_DECODE_ANY, NULL);
    CHECK(mine != NULL);
    CHECK(!want || json_equal(mine, want));
    json_decref(mine);
}

/* Walks text, which has no duplicate names anywhere, alongside j, jansson's tree of it: every member jansson has
 * is found, every element is stepped to in order, and each span is jansson's value there. */
static void walk(const char *text, size_t len, const json_t *j)
{
    size_t off, vlen;
    if (json_is_array(j)) {
        size_t pos = 0, i = 0;
        while (lgw_json_next(text, len, &pos, &off, &vlen)) {
            CHECK(i < json_array_size(j));
            json_t *v = json_array_get(j, i++);
            check_span(text, len, off, vlen, v);
            walk(text + off, vlen, v);
        }
        CHECK(i == json_array_size(j));
        CHECK(!lgw_json_next(text, len, &pos, &off, &vlen));
    } else if (json_is_object(j)) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)j, key, v) {
            CHECK(lgw_json_member(text, len, key, &off, &vlen));
            check_span(text, len, off, vlen, v);
            walk(text + off, vlen, v);
        }
    }
}

/* lgw_json_loadb and json_loadb on the same text and flags: both refuse with the same error, or both give trees
 * that are equal and written out the same (member order, integer or real). */
static void check_loader(const char *text, size_t size, size_t flags)
{
    json_error_t ea, eb;
    json_t *a = json_loadb(text, size, flags, &ea), *b = lgw_json_loadb(text, size, flags, &eb);
    CHECK(!a == !b);
    if (a) {
        struct lgw_buf wa, wb;
        lgw_buf_init(&wa, 0);
        lgw_buf_init(&wb, 0);
        CHECK(lgw_json_write(&wa, a) == 0 && lgw_json_write(&wb, b) == 0);
        CHECK(wa.len == wb.len && memcmp(wa.ptr, wb.ptr, wa.len) == 0 && json_equal(a, b));
        lgw_buf_cleanup(&wa);
        lgw_buf_cleanup(&wb);
    } else {
        CHECK(strcmp(ea.text, eb.text) == 0 && ea.position == eb.position);
    }
    json_decref(a);
    json_decref(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    check_loader(text, size, 0);
    check_loader(text, size, JSON_REJECT_DUPLICATES);
    json_t *j = json_loadb(text, size, 0, NULL);
    bool jansson = j && (json_is_object(j) || json_is_array(j));
    size_t err_at = SIZE_MAX;
    int rc = lgw_json_check(text, size, LGW_JSON_DEPTH_MAX, &err_at);
    /* jansson takes a NUL right after a number or literal; the check refuses it (json_scan.h). */
    CHECK((rc == LGW_OK) == jansson || (jansson && memchr(text, 0, size)));
    size_t off, vlen, pos = 0;
    if (rc != LGW_OK) {
        CHECK(rc == LGW_ERR(INVALID) && err_at <= size);
        /* The span functions on text that was not checked: any answer, but no read outside it (ASan). */
        lgw_json_member(text, size, "a", &off, &vlen);
        for (size_t steps = 0; steps <= size && lgw_json_next(text, size, &pos, &off, &vlen); steps++)
            CHECK(off + vlen <= size);
        json_decref(j);
        return 0;
    }

    json_t *unique = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
    if (unique) {
        /* The same text with the depth limit at its own depth passes, one less fails. (Only without repeated
         * names: jansson's tree keeps the last of them, and a deeper one before it is in the text, not the tree.
         * Found by the fuzzer.) */
        int depth = depth_of(unique);
        CHECK(lgw_json_check(text, size, depth, NULL) == LGW_OK);
        CHECK(lgw_json_check(text, size, depth - 1, NULL) == LGW_ERR(INVALID));
        walk(text, size, unique);
    } else if (json_is_object(j)) {
        /* Duplicate names somewhere: jansson keeps the last, lgw_json_member finds the first, so only check that
         * every name is found at a value. */
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v) {
            CHECK(lgw_json_member(text, size, key, &off, &vlen));
            check_span(text, size, off, vlen, NULL);
        }
    }
    json_decref(unique);
    json_decref(j);
    return 0;
}
