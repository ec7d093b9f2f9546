/* json_scan.c - a JSON checker that builds no tree, held to jansson 2.14 (json_loadb, flags 0), and lookups of
 * member and element spans in text it accepted. */
#include "common/json_scan.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "common/buf.h"
#include "common/errors.h"

typedef unsigned char uchar;

/* What a byte means inside a string. The UTF-8 rows follow the Unicode table of well-formed byte sequences
 * (Unicode 15, table 3-7): the lead byte decides the length and the range of the second byte, which is what
 * shuts out overlong forms (E0, F0), surrogates (ED) and code points above U+10FFFF (F4); C0, C1 and F5..FF
 * never lead, 80..BF never start a character. jansson's utf8_check_full refuses the same sequences. */
enum {
    S_PLAIN,   /* ASCII that stands for itself */
    S_QUOTE,   /* the string ends */
    S_ESC,     /* an escape starts */
    S_CTRL,    /* below 0x20: must be escaped */
    S_U2,      /* C2..DF 80..BF */
    S_U3_E0,   /* E0 A0..BF 80..BF */
    S_U3,      /* E1..EC or EE..EF, then 80..BF 80..BF */
    S_U3_ED,   /* ED 80..9F 80..BF */
    S_U4_F0,   /* F0 90..BF 80..BF 80..BF */
    S_U4,      /* F1..F3 80..BF 80..BF 80..BF */
    S_U4_F4,   /* F4 80..8F 80..BF 80..BF */
    S_BAD_LEAD /* never starts a character */
};

static const uchar str_class[256] = {
    3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  /* 0_ */
    3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  /* 1_ */
    0,  0,  1,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 2_ */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 3_ */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 4_ */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  2,  0,  0,  0,  /* 5_ */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 6_ */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 7_ */
    11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, /* 8_ */
    11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, /* 9_ */
    11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, /* A_ */
    11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, /* B_ */
    11, 11, 4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  /* C_ */
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  /* D_ */
    5,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  7,  6,  6,  /* E_ */
    8,  9,  9,  9,  10, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, /* F_ */
};

/* JSON's whitespace; jansson skips the same four (not \f or \v). */
static inline bool is_ws(uchar c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline const uchar *skip_ws(const uchar *p, const uchar *end)
{
    while (p < end && is_ws(*p))
        p++;
    return p;
}

static inline bool is_digit(uchar c)
{
    return (unsigned)(c - '0') < 10;
}

long lgw_json_hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = lgw_hex_digit((char)p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* Whether none of the 8 bytes in x needs a look of its own in a string: no byte below 0x20, no quote, no
 * backslash, no byte from 0x80. Each term sets a byte's top bit only when that byte, or a byte below it
 * already caught by another term, is special; so the test is exact about "any", which is all it is asked. */
static inline bool word_is_plain(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t quote = x ^ (ones * '"'), bslash = x ^ (ones * '\\');
    return (((x - ones * 0x20) | (quote - ones) | (bslash - ones) | x) & high) == 0;
}

#ifdef __SSE2__
/* word_is_plain for 16 bytes, with SSE2 (every x86-64 has it): a byte is plain when, as a signed byte, it is above
 * 0x1F (so 0x20..0x7F: the bytes from 0x80 are negative) and it is neither a quote nor a backslash. */
static inline bool block16_is_plain(const uchar *p)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i special = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\\')));
    __m128i plain = _mm_andnot_si128(special, _mm_cmpgt_epi8(x, _mm_set1_epi8(0x1F)));
    return _mm_movemask_epi8(plain) == 0xFFFF;
}
#endif

/* The escape whose backslash is at *pp: one of \" \\ \/ \b \f \n \r \t \uXXXX. A \u escape must not be \u0000
 * (jansson refuses NUL in strings and keys without JSON_ALLOW_NUL), and a surrogate must be a high one followed
 * at once by a low one. On success *pp is past the escape; on failure *bad is the backslash. */
static bool scan_escape(const uchar **pp, const uchar *end, const uchar **bad)
{
    const uchar *p = *pp;
    *bad = p;
    if (end - p < 2)
        return false;
    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        *pp = p + 2;
        return true;
    case 'u':
        break;
    default:
        return false;
    }
    if (end - p < 6)
        return false;
    long u = lgw_json_hex4((const char *)p + 2);
    if (u <= 0 || (u >= 0xDC00 && u <= 0xDFFF))
        return false;
    if (u >= 0xD800 && u <= 0xDBFF) {
        if (end - p < 12 || p[6] != '\\' || p[7] != 'u')
            return false;
        long lo = lgw_json_hex4((const char *)p + 8);
        if (lo < 0xDC00 || lo > 0xDFFF)
            return false;
        p += 6;
    }
    *pp = p + 6;
    return true;
}

/* The multi-byte UTF-8 sequence at *pp, whose lead byte has class cls (str_class). On success *pp is past it;
 * on failure *bad is its lead byte. */
static bool scan_utf8(const uchar **pp, const uchar *end, int cls, const uchar **bad)
{
    const uchar *p = *pp;
    uchar lo = 0x80, hi = 0xBF; /* the second byte's range */
    ptrdiff_t n;
    switch (cls) {
    case S_U2:
        n = 2;
        break;
    case S_U3_E0:
        n = 3, lo = 0xA0;
        break;
    case S_U3:
        n = 3;
        break;
    case S_U3_ED:
        n = 3, hi = 0x9F;
        break;
    case S_U4_F0:
        n = 4, lo = 0x90;
        break;
    case S_U4:
        n = 4;
        break;
    case S_U4_F4:
        n = 4, hi = 0x8F;
        break;
    default:
        *bad = p;
        return false;
    }
    if (end - p < n || p[1] < lo || p[1] > hi) {
        *bad = p;
        return false;
    }
    for (ptrdiff_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) {
            *bad = p;
            return false;
        }
    *pp = p + n;
    return true;
}

bool lgw_json_utf8_ok(const char *s, size_t len)
{
    const uchar *p = (const uchar *)s, *end = p + len, *bad;
    while (p < end) {
        if (*p < 0x80)
            p++;
        else if (!scan_utf8(&p, end, str_class[*p], &bad))
            return false;
    }
    return true;
}

/* The string whose opening quote is at *pp. On success *pp is past the closing quote. */
static bool scan_string(const uchar **pp, const uchar *end, const uchar **bad)
{
    const uchar *p = *pp + 1;
    for (;;) {
        /* Sixteen bytes at a time through the plain run (most of a chat message), then eight, then byte by
         * byte. */
#ifdef __SSE2__
        while (end - p >= 16 && block16_is_plain(p))
            p += 16;
#endif
        while (end - p >= 8) {
            uint64_t x;
            memcpy(&x, p, sizeof(x));
            if (!word_is_plain(x))
                break;
            p += 8;
        }
        while (p < end && str_class[*p] == S_PLAIN)
            p++;
        if (p == end) {
            *bad = p;
            return false;
        }
        int cls = str_class[*p];
        if (cls == S_QUOTE) {
            *pp = p + 1;
            return true;
        }
        if (cls == S_ESC) {
            if (!scan_escape(&p, end, bad))
                return false;
        } else if (cls == S_CTRL) {
            *bad = p;
            return false;
        } else if (!scan_utf8(&p, end, cls, bad)) {
            return false;
        }
    }
}

/* Bounds that keep the overflow test's arithmetic exact: an exponent is clamped to +-EXP_CLAMP, far beyond
 * anything that decides overflow, and digit counts are below any text's length, which is below 2^62 for any
 * buffer a 64-bit process can hold (so k - 1 + exponent stays inside long long). */
#define EXP_CLAMP (1LL << 60)
/* Significant digits handed to strtod. The least value that overflows, 2^1024 - 2^970 (halfway between DBL_MAX
 * and 2^1024), has 309 significant digits; a longer number is cut after KEEP_DIGITS digits and, when anything
 * nonzero was cut, one nonzero digit is put after them. That keeps it on the same side of the boundary and off
 * it, however strtod resolves the tie there, so strtod decides overflow the same way for both. */
#define KEEP_DIGITS 400

/* Whether strtod overflows (+-HUGE_VAL with ERANGE) on the real number with integer digits [i0, i1), fraction
 * digits [f0, f1) (empty if none) and exponent exp, which jansson refuses as "real number overflow". Only a
 * number whose leading digit stands for 10^308 can go either way; those are rewritten as digits and an
 * exponent (no '.', so the locale's decimal point does not matter) into a bounded buffer for strtod, however
 * long the text's number is. Underflow, to 0 or a subnormal, is accepted, as jansson accepts it. */
static bool real_overflows(const uchar *i0, const uchar *i1, const uchar *f0, const uchar *f1, long long exp)
{
    long long lead; /* the power of ten the first nonzero digit stands for */
    const uchar *first;
    if (*i0 != '0') { /* grammar: no leading zeros, so a nonzero integer part starts with its first digit */
        first = i0;
        lead = (long long)(i1 - i0) - 1 + exp;
    } else {
        first = f0;
        while (first < f1 && *first == '0')
            first++;
        if (first == f1)
            return false; /* zero */
        lead = exp - (long long)(first - f0) - 1;
    }
    if (lead != 308)
        return lead > 308;

    char buf[KEEP_DIGITS + 16];
    size_t n = 0;
    bool cut = false;
    for (const uchar *p = first; p < f1; p++) {
        if (p == i1) { /* from the integer part into the fraction */
            p = f0;
            if (p == f1)
                break;
        }
        if (n < KEEP_DIGITS)
            buf[n++] = (char)*p;
        else if (*p != '0')
            cut = true;
        if (cut)
            break;
    }
    if (cut)
        buf[n++] = '1';
    /* The digits as an integer have their first digit at 10^(n-1); it must stand for 10^308. */
    snprintf(buf + n, sizeof(buf) - n, "e%d", 308 - (int)(n - 1));

    int saved = errno;
    errno = 0;
    double v = strtod(buf, NULL);
    bool overflow = (v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE;
    errno = saved;
    return overflow;
}

/* The number at *pp (a '-' or a digit): -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?. An integer (no
 * fraction, no exponent) must fit a long long, jansson's json_int_t ("too big integer"); a real must not
 * overflow a double. On success *pp is past the number; *bad is where the grammar broke, or the number's
 * first byte when its value is out of range. */
static bool scan_number(const uchar **pp, const uchar *end, const uchar **bad)
{
    const uchar *start = *pp, *p = start;
    bool neg = *p == '-';
    if (neg)
        p++;
    const uchar *i0 = p;
    if (p == end || !is_digit(*p)) {
        *bad = p;
        return false;
    }
    if (*p++ != '0')
        while (p < end && is_digit(*p))
            p++;
    const uchar *i1 = p, *f0 = p, *f1 = p;
    bool real = false;
    long long exp = 0;
    if (p < end && *p == '.') {
        p++;
        if (p == end || !is_digit(*p)) {
            *bad = p;
            return false;
        }
        f0 = p;
        while (p < end && is_digit(*p))
            p++;
        f1 = p;
        real = true;
    }
    if (p < end && (*p | 0x20) == 'e') {
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p == end || !is_digit(*p)) {
            *bad = p;
            return false;
        }
        while (p < end && is_digit(*p)) {
            exp = exp < EXP_CLAMP / 10 ? exp * 10 + (*p - '0') : EXP_CLAMP;
            p++;
        }
        if (eneg)
            exp = -exp;
        real = true;
    }
    if (!real) {
        /* LLONG_MAX is 9223372036854775807; LLONG_MIN's magnitude one more. Integers have no leading zeros,
         * so the digit count orders them, and equal counts compare as text. */
        static const char max_pos[] = "9223372036854775807", max_neg[] = "9223372036854775808";
        size_t nd = (size_t)(i1 - i0);
        if (nd > 19 || (nd == 19 && memcmp(i0, neg ? max_neg : max_pos, 19) > 0)) {
            *bad = start;
            return false;
        }
    } else if (real_overflows(i0, i1, f0, f1, exp)) {
        *bad = start;
        return false;
    }
    *pp = p;
    return true;
}

/* The literal word (true, false, null) expected at p. */
static inline bool scan_word(const uchar **pp, const uchar *end, const char *word, size_t n)
{
    if ((size_t)(end - *pp) < n || memcmp(*pp, word, n) != 0)
        return false;
    *pp += n;
    return true;
}

int lgw_json_check(const char *text, size_t len, int depth_max, size_t *err_at)
{
    if (len == 0) { /* also keeps NULL + 0 out of the arithmetic below */
        if (err_at)
            *err_at = 0;
        return LGW_ERR(INVALID);
    }
    const uchar *const base = (const uchar *)text, *const end = base + len;
    const uchar *p, *bad;
    /* The open containers, one bit per level (set: object): all the state the grammar needs besides the
     * position, so the walk needs neither recursion nor allocation. */
    uint64_t is_obj[LGW_JSON_DEPTH_MAX / 64] = {0};
    int depth = 0; /* containers open */
    if (depth_max > LGW_JSON_DEPTH_MAX)
        depth_max = LGW_JSON_DEPTH_MAX;

    p = skip_ws(base, end);
    if (p == end || (*p != '{' && *p != '[')) { /* jansson with flags 0 takes only an object or an array */
        bad = p;
        goto fail;
    }

    /* The grammar's states are the labels below: value (a value starts at p), member (a member's name starts
     * at p) and next (a value ended just before p). */
value:
    /* This value is at depth + 1; jansson counts every value, scalars too. */
    if (p == end || depth >= depth_max) {
        bad = p;
        goto fail;
    }
    switch (*p) {
    case '{':
    case '[': {
        bool obj = *p == '{';
        if (obj)
            is_obj[depth / 64] |= 1ull << (depth % 64);
        else
            is_obj[depth / 64] &= ~(1ull << (depth % 64));
        depth++;
        p = skip_ws(p + 1, end);
        if (p < end && *p == (obj ? '}' : ']')) {
            p++;
            depth--;
            goto next;
        }
        if (obj)
            goto member;
        goto value;
    }
    case '"':
        if (!scan_string(&p, end, &bad))
            goto fail;
        goto next;
    case 't':
        if (!scan_word(&p, end, "true", 4))
            break;
        goto next;
    case 'f':
        if (!scan_word(&p, end, "false", 5))
            break;
        goto next;
    case 'n':
        if (!scan_word(&p, end, "null", 4))
            break;
        goto next;
    default:
        if (*p != '-' && !is_digit(*p))
            break;
        if (!scan_number(&p, end, &bad))
            goto fail;
        goto next;
    }
    bad = p;
    goto fail;

member:
    if (p == end || *p != '"') {
        bad = p;
        goto fail;
    }
    if (!scan_string(&p, end, &bad))
        goto fail;
    p = skip_ws(p, end);
    if (p == end || *p != ':') {
        bad = p;
        goto fail;
    }
    p = skip_ws(p + 1, end);
    goto value;

next:
    p = skip_ws(p, end);
    if (depth == 0) {
        if (p != end) {
            bad = p;
            goto fail;
        }
        return LGW_OK;
    }
    if (p < end) {
        bool obj = is_obj[(depth - 1) / 64] >> ((depth - 1) % 64) & 1;
        if (*p == ',') {
            p = skip_ws(p + 1, end);
            if (obj)
                goto member;
            goto value;
        }
        if (*p == (obj ? '}' : ']')) {
            p++;
            depth--;
            goto next;
        }
    }
    bad = p;

fail:
    if (err_at)
        *err_at = (size_t)(bad - base);
    return LGW_ERR(INVALID);
}

/* Below, the text has been checked, so these only find ends; each still stops at end, so text that was not
 * checked gives a meaningless answer but never a read outside it. */

/* Past the closing quote of the string whose opening quote is at p, or NULL when the text ends first. memchr
 * finds each quote (most of a message's bytes are string bodies); a quote is the end unless an odd run of
 * backslashes leads up to it. */
static const uchar *string_end(const uchar *p, const uchar *end)
{
    const uchar *body = p + 1;
    for (const uchar *q = body; q < end; q++) {
        q = memchr(q, '"', (size_t)(end - q));
        if (!q)
            return NULL;
        size_t bs = 0;
        while (q - bs > body && q[-1 - (ptrdiff_t)bs] == '\\')
            bs++;
        if (bs % 2 == 0)
            return q + 1;
    }
    return NULL;
}

/* Past the end of the value that starts at p, or NULL when the text ends first. */
static const uchar *value_end(const uchar *p, const uchar *end)
{
    if (p == end)
        return NULL;
    if (*p == '"')
        return string_end(p, end);
    if (*p != '{' && *p != '[') { /* a number or a literal: up to the byte that cannot be in one */
        const uchar *q = p;
        while (q < end && (is_digit(*q) || (unsigned)((*q | 0x20) - 'a') < 26 || *q == '-' || *q == '+' || *q == '.'))
            q++;
        return q > p ? q : NULL;
    }
    size_t open = 0; /* containers open; strings are skipped whole, so their brackets do not count */
    while (p < end) {
        if (*p == '"') {
            p = string_end(p, end);
            if (!p)
                return NULL;
            continue;
        }
        if (*p == '{' || *p == '[')
            open++;
        else if ((*p == '}' || *p == ']') && --open == 0)
            return p + 1;
        p++;
    }
    return NULL;
}

size_t lgw_json_utf8_put(unsigned long cp, unsigned char out[4])
{
    if (cp < 0x80) {
        out[0] = (uchar)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uchar)(0xC0 | cp >> 6);
        out[1] = (uchar)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uchar)(0xE0 | cp >> 12);
        out[1] = (uchar)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (uchar)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uchar)(0xF0 | cp >> 18);
    out[1] = (uchar)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (uchar)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (uchar)(0x80 | (cp & 0x3F));
    return 4;
}

/* Whether the string body s[0..n) (between the quotes), unescaped, is key[0..klen). */
static bool name_equals(const uchar *s, size_t n, const char *key, size_t klen)
{
    if (!memchr(s, '\\', n)) /* the usual name: no escapes, compare the bytes */
        return n == klen && memcmp(s, key, n) == 0;
    const uchar *e = s + n, *k = (const uchar *)key, *kend = k + klen;
    while (s < e) {
        uchar out[4];
        size_t m = 1;
        if (*s != '\\') {
            out[0] = *s++;
        } else if (e - s < 2) {
            return false;
        } else if (s[1] != 'u') {
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            const char *at = memchr(from, s[1], sizeof(from) - 1);
            if (!at)
                return false;
            out[0] = (uchar)to[at - from];
            s += 2;
        } else {
            long cp = e - s >= 6 ? lgw_json_hex4((const char *)s + 2) : -1;
            if (cp < 0)
                return false;
            s += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF && e - s >= 6 && s[0] == '\\' && s[1] == 'u') {
                long lo = lgw_json_hex4((const char *)s + 2);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    s += 6;
                }
            }
            m = lgw_json_utf8_put((unsigned long)cp, out);
        }
        if ((size_t)(kend - k) < m || memcmp(k, out, m) != 0)
            return false;
        k += m;
    }
    return k == kend;
}

bool lgw_json_member(const char *obj, size_t len, const char *key, size_t *off, size_t *vlen)
{
    if (len == 0)
        return false;
    const uchar *const base = (const uchar *)obj, *const end = base + len;
    size_t klen = strlen(key);
    const uchar *p = skip_ws(base, end);
    if (p == end || *p != '{')
        return false;
    p = skip_ws(p + 1, end);
    while (p < end && *p == '"') {
        const uchar *name = p;
        p = string_end(p, end);
        if (!p)
            return false;
        bool match = name_equals(name + 1, (size_t)(p - 1 - (name + 1)), key, klen);
        p = skip_ws(p, end);
        if (p == end || *p != ':')
            return false;
        const uchar *v = skip_ws(p + 1, end);
        p = value_end(v, end);
        if (!p)
            return false;
        if (match) {
            *off = (size_t)(v - base);
            *vlen = (size_t)(p - v);
            return true;
        }
        p = skip_ws(p, end);
        if (p == end || *p != ',')
            return false;
        p = skip_ws(p + 1, end);
    }
    return false;
}

bool lgw_json_next(const char *arr, size_t len, size_t *pos, size_t *off, size_t *vlen)
{
    if (len == 0)
        return false;
    const uchar *const base = (const uchar *)arr, *const end = base + len;
    const uchar *p;
    if (*pos == 0) { /* the first call: into the array */
        p = skip_ws(base, end);
        if (p == end || *p != '[')
            return false;
        p++;
    } else { /* just past the last element, or at the ']' a call already reached */
        if (*pos > len)
            return false;
        p = skip_ws(base + *pos, end);
        if (p == end || *p != ',')
            return false;
        p++;
    }
    p = skip_ws(p, end);
    if (p == end || *p == ']') {
        *pos = (size_t)(p - base);
        return false;
    }
    const uchar *e = value_end(p, end);
    if (!e)
        return false;
    *off = (size_t)(p - base);
    *vlen = (size_t)(e - p);
    *pos = (size_t)(e - base);
    return true;
}
