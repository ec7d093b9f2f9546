/* trace.c - W3C traceparent validation and creation (see trace.h). */
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
