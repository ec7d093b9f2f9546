/* trace.c - W3C traceparent and tracestate validation, and new traceparents (see trace.h). */
#include "common/trace.h"

#include <string.h>

#include "common/random.h"

static bool hex_run(const char *s, size_t n, bool *all_zero)
{
    *all_zero = true;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        if (c != '0')
            *all_zero = false;
    }
    return true;
}

/* The fields after the version, laid out as version 00 has them: "-" trace-id "-" parent-id "-" flags,
 * lowercase hex, neither id all zeros. s has at least LGW_TRACEPARENT_LEN bytes. */
static bool fields_ok(const char *s)
{
    bool zero;
    if (s[2] != '-' || s[35] != '-' || s[52] != '-')
        return false;
    if (!hex_run(s + 3, 32, &zero) || zero) /* trace-id */
        return false;
    if (!hex_run(s + 36, 16, &zero) || zero) /* parent-id */
        return false;
    return hex_run(s + 53, 2, &zero); /* flags */
}

bool lgw_traceparent_valid(const char *s, size_t len)
{
    return s && len == LGW_TRACEPARENT_LEN && memcmp(s, "00", 2) == 0 && fields_ok(s);
}

bool lgw_traceparent_from_header(const char *s, size_t len, char out[LGW_TRACEPARENT_SIZE])
{
    bool zero;
    if (!s || len < LGW_TRACEPARENT_LEN || !hex_run(s, 2, &zero) || memcmp(s, "ff", 2) == 0)
        return false;
    if (memcmp(s, "00", 2) == 0 ? len != LGW_TRACEPARENT_LEN : len > LGW_TRACEPARENT_LEN && s[55] != '-')
        return false; /* 00 is exactly its fields; a later version may add fields after a "-" */
    if (!fields_ok(s))
        return false;
    memcpy(out, "00", 2);
    memcpy(out + 2, s + 2, LGW_TRACEPARENT_LEN - 2);
    out[LGW_TRACEPARENT_LEN] = '\0';
    return true;
}

bool lgw_trace_id_valid(const char *s, size_t len)
{
    bool zero;
    return s && len == 32 && hex_run(s, 32, &zero) && !zero;
}

void lgw_trace_id_of(const char *tp, char out[33])
{
    out[0] = '\0';
    if (tp && lgw_traceparent_valid(tp, strlen(tp))) {
        memcpy(out, tp + 3, 32);
        out[32] = '\0';
    }
}

/* tracestate's grammar (W3C Trace Context level 1, 3.3.1): keys are lowercase letters, digits and _-*\/,
 * a simple key starting with a letter (at most 256), or tenant@system (at most 241 and 14); values are 1 to
 * 256 printable ASCII characters other than ',' and '=', spaces allowed inside but not at the end. */
static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' || c == '/';
}

static bool ts_key_ok(const char *k, size_t n)
{
    const char *at = memchr(k, '@', n);
    if (!at) {
        if (n == 0 || n > 256 || !(k[0] >= 'a' && k[0] <= 'z'))
            return false;
        for (size_t i = 1; i < n; i++)
            if (!key_char(k[i]))
                return false;
        return true;
    }
    size_t tn = (size_t)(at - k), sn = n - tn - 1;
    const char *sys = at + 1;
    if (tn == 0 || tn > 241 || sn == 0 || sn > 14 || !(sys[0] >= 'a' && sys[0] <= 'z') ||
        !((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= '0' && k[0] <= '9')))
        return false;
    for (size_t i = 0; i < tn; i++)
        if (!key_char(k[i]))
            return false;
    for (size_t i = 1; i < sn; i++)
        if (!key_char(sys[i]))
            return false;
    return true;
}

static bool ts_value_ok(const char *v, size_t n)
{
    if (n == 0 || n > 256 || v[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0x20 || v[i] > 0x7e || v[i] == ',' || v[i] == '=')
            return false;
    return true;
}

bool lgw_tracestate_from_header(const char *s, size_t len, char out[LGW_TRACESTATE_SIZE])
{
    struct {
        const char *k;
        size_t n;
    } keys[LGW_TRACESTATE_MEMBERS_MAX];
    size_t nkeys = 0, o = 0;
    out[0] = '\0';
    for (size_t i = 0; s && i <= len;) {
        const char *comma = memchr(s + i, ',', len - i);
        size_t end = comma ? (size_t)(comma - s) : len, a = i, b = end;
        while (a < b && (s[a] == ' ' || s[a] == '\t')) /* OWS around the commas */
            a++;
        while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
            b--;
        i = end + 1;
        if (a == b)
            continue; /* an empty member: allowed, not carried on */
        const char *m = s + a, *eq = memchr(m, '=', b - a);
        if (!eq || nkeys == LGW_TRACESTATE_MEMBERS_MAX)
            goto drop;
        size_t kn = (size_t)(eq - m), vn = b - a - kn - 1;
        if (!ts_key_ok(m, kn) || !ts_value_ok(eq + 1, vn))
            goto drop;
        for (size_t j = 0; j < nkeys; j++)
            if (keys[j].n == kn && memcmp(keys[j].k, m, kn) == 0)
                goto drop; /* W3C: a key appears once */
        keys[nkeys].k = m;
        keys[nkeys++].n = kn;
        size_t mn = b - a;
        if (o + (o ? 1 : 0) + mn > LGW_TRACESTATE_MAX)
            goto drop;
        if (o)
            out[o++] = ',';
        memcpy(out + o, m, mn);
        o += mn;
    }
    out[o] = '\0';
    return true;
drop:
    out[0] = '\0';
    return false;
}

void lgw_traceparent_new(char out[LGW_TRACEPARENT_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[24];
    lgw_random_bytes(r, sizeof(r));
    r[0] |= 1;  /* never an all-zero trace-id */
    r[16] |= 1; /* nor parent-id */
    memcpy(out, "00-", 3);
    for (int i = 0; i < 16; i++) {
        out[3 + 2 * i] = hex[r[i] >> 4];
        out[4 + 2 * i] = hex[r[i] & 15];
    }
    out[35] = '-';
    for (int i = 0; i < 8; i++) {
        out[36 + 2 * i] = hex[r[16 + i] >> 4];
        out[37 + 2 * i] = hex[r[16 + i] & 15];
    }
    memcpy(out + 52, "-01", 4); /* sampled; the terminating NUL comes with it */
}
