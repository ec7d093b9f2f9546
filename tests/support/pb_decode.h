/* pb_decode.h - a minimal protobuf decoder for unit tests, written from the wire format: the fields of one
 * message in order, and helpers to pick them out and compare (OTLP's KeyValue attributes included). Every
 * malformed byte fails the test. Include after <cmocka.h>; header-only, test code only. */
#ifndef LGW_TEST_PB_DECODE_H
#define LGW_TEST_PB_DECODE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct field {
    unsigned num, wire;
    uint64_t v;         /* varint, fixed32, fixed64 */
    const uint8_t *p;   /* length-delimited */
    size_t len;
};

static inline uint64_t rd_varint(const uint8_t **p, const uint8_t *end)
{
    uint64_t v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    fail_msg("truncated varint");
    return 0;
}

/* The fields of one message, in order; returns how many (at most max). Fails the test on malformed bytes. */
static inline size_t decode(const uint8_t *p, size_t len, struct field *out, size_t max)
{
    const uint8_t *end = p + len;
    size_t n = 0;
    while (p < end) {
        assert_true(n < max);
        struct field *f = &out[n++];
        uint64_t key = rd_varint(&p, end);
        f->num = (unsigned)(key >> 3);
        f->wire = (unsigned)(key & 7);
        f->p = NULL;
        switch (f->wire) {
        case 0:
            f->v = rd_varint(&p, end);
            break;
        case 1:
            assert_true(end - p >= 8);
            f->v = 0;
            for (int i = 7; i >= 0; i--)
                f->v = f->v << 8 | p[i];
            p += 8;
            break;
        case 2:
            f->len = (size_t)rd_varint(&p, end);
            assert_true((size_t)(end - p) >= f->len);
            f->p = p;
            p += f->len;
            break;
        case 5:
            assert_true(end - p >= 4);
            f->v = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
            p += 4;
            break;
        default:
            fail_msg("wire type %u", f->wire);
        }
    }
    return n;
}

/* The only field numbered num (fails unless exactly one). */
static inline const struct field *one(const struct field *f, size_t n, unsigned num)
{
    const struct field *hit = NULL;
    for (size_t i = 0; i < n; i++)
        if (f[i].num == num) {
            assert_null(hit);
            hit = &f[i];
        }
    assert_non_null(hit);
    return hit;
}

static inline size_t count(const struct field *f, size_t n, unsigned num)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += f[i].num == num;
    return c;
}

static inline void assert_str_field(const struct field *f, const char *want)
{
    assert_int_equal(f->wire, 2);
    assert_int_equal(f->len, strlen(want));
    assert_memory_equal(f->p, want, f->len);
}

/* KeyValue kv -> key, and its AnyValue's fields. */
static inline void kv(const struct field *f, const char **key, size_t *keylen, struct field *val, size_t *nval)
{
    struct field k[4];
    size_t n = decode(f->p, f->len, k, 4);
    const struct field *kf = one(k, n, 1), *vf = one(k, n, 2);
    *key = (const char *)kf->p;
    *keylen = kf->len;
    *nval = decode(vf->p, vf->len, val, 4);
}

static inline const struct field *attr_named(const struct field *attrs, size_t n, unsigned num, const char *name,
                                      struct field *val, size_t *nval)
{
    for (size_t i = 0; i < n; i++) {
        if (attrs[i].num != num)
            continue;
        const char *k;
        size_t kl;
        kv(&attrs[i], &k, &kl, val, nval);
        if (kl == strlen(name) && memcmp(k, name, kl) == 0)
            return &attrs[i];
    }
    fail_msg("no attribute %s", name);
    return NULL;
}

#endif
