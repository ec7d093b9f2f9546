/* format.c - time, cursor, CSV and money formats of the analytics API (see format.h). */
#include "analytics/format.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/cost.h"
#include "common/errors.h"

#define MS_PER_DAY 86400000LL

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil): exact integer
 * arithmetic, no timegm and no TZ environment. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int days_in_month(int y, int m)
{
    static const int n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : n[m - 1];
}

/* n digits at *p into *v, advancing *p. */
static bool digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        *v = *v * 10 + (c - '0');
    }
    *p += n;
    return true;
}

int lgw_an_time_parse(const char *s, int64_t *ms)
{
    size_t len = strlen(s);
    if (len == 0 || len > 40)
        return LGW_ERR(INVALID);
    if (strspn(s, "0123456789") == len) {
        long long v;
        if (len > 15 || lgw_parse_int64(s, len, &v)) /* 15 digits: past year 9999 */
            return LGW_ERR(INVALID);
        *ms = v;
        return LGW_OK;
    }
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' || !digits(&p, 2, &d))
        return LGW_ERR(INVALID);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return LGW_ERR(INVALID);
    int64_t offset_min = 0;
    if (*p) {
        if (*p != 'T' && *p != 't' && *p != ' ')
            return LGW_ERR(INVALID);
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' || !digits(&p, 2, &sec))
            return LGW_ERR(INVALID);
        if (h > 23 || mi > 59 || sec > 59) /* no leap seconds in a ledger that counts ms since the epoch */
            return LGW_ERR(INVALID);
        if (*p == '.') {
            p++;
            int n = 0;
            while (*p >= '0' && *p <= '9') {
                if (n < 3)
                    frac = frac * 10 + (*p - '0');
                n++;
                p++;
            }
            if (n == 0)
                return LGW_ERR(INVALID);
            for (; n < 3; n++)
                frac *= 10;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
                return LGW_ERR(INVALID);
            offset_min = sign * (oh * 60 + om);
        } else {
            return LGW_ERR(INVALID); /* RFC 3339 requires the offset */
        }
        if (*p)
            return LGW_ERR(INVALID);
    }
    int64_t t = days_from_civil(y, mo, d) * MS_PER_DAY + ((int64_t)h * 3600 + mi * 60 + sec) * 1000 + frac -
                offset_min * 60000;
    if (t < 0)
        return LGW_ERR(INVALID);
    *ms = t;
    return LGW_OK;
}

void lgw_an_time_format(int64_t ms, char *out, size_t outsz)
{
    int y, m, d;
    int64_t day = ms / MS_PER_DAY, rem = ms % MS_PER_DAY;
    civil_from_days(day, &y, &m, &d);
    int h = (int)(rem / 3600000), mi = (int)(rem / 60000 % 60), s = (int)(rem / 1000 % 60), f = (int)(rem % 1000);
    if (f)
        snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d, h, mi, s, f);
    else
        snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, h, mi, s);
}

void lgw_an_day_format(int64_t dn, char *out, size_t outsz)
{
    int y, m, d;
    civil_from_days(dn, &y, &m, &d);
    snprintf(out, outsz, "%04d-%02d-%02d", y, m, d);
}

void lgw_an_hour_format(int64_t hn, char *out, size_t outsz)
{
    int y, m, d;
    civil_from_days(hn / 24, &y, &m, &d);
    snprintf(out, outsz, "%04d-%02d-%02dT%02d:00:00Z", y, m, d, (int)(hn % 24));
}

void lgw_an_minute_format(int64_t mn, char *out, size_t outsz)
{
    int y, m, d;
    civil_from_days(mn / 1440, &y, &m, &d);
    int in_day = (int)(mn % 1440);
    snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:00Z", y, m, d, in_day / 60, in_day % 60);
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int lgw_an_cursor_encode(int64_t ts_ms, const char *event_id, char *out, size_t outsz)
{
    char raw[LGW_AN_EVENT_ID_MAX + 24];
    if (strlen(event_id) >= LGW_AN_EVENT_ID_MAX)
        return LGW_ERR(INVALID);
    int n = snprintf(raw, sizeof(raw), "%lld:%s", (long long)ts_ms, event_id);
    size_t o = 0;
    for (int i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)raw[i] << 16;
        int k = n - i < 3 ? n - i : 3;
        if (k > 1)
            v |= (uint32_t)(unsigned char)raw[i + 1] << 8;
        if (k > 2)
            v |= (unsigned char)raw[i + 2];
        for (int j = 0; j < k + 1; j++) {
            if (o + 1 >= outsz)
                return LGW_ERR(INVALID);
            out[o++] = b64url[(v >> (18 - 6 * j)) & 63];
        }
    }
    out[o] = '\0';
    return LGW_OK;
}

static int b64val(char c)
{
    const char *p = c ? strchr(b64url, c) : NULL;
    return p ? (int)(p - b64url) : -1;
}

int lgw_an_cursor_decode(const char *s, int64_t *ts_ms, char *event_id)
{
    size_t len = strlen(s);
    char raw[LGW_AN_EVENT_ID_MAX + 24];
    size_t n = 0;
    if (len == 0 || len >= LGW_AN_CURSOR_MAX || len % 4 == 1)
        return LGW_ERR(INVALID);
    for (size_t i = 0; i < len; i += 4) {
        size_t k = len - i < 4 ? len - i : 4;
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            int d = j < k ? b64val(s[i + j]) : 0;
            if (d < 0)
                return LGW_ERR(INVALID);
            v = v << 6 | (uint32_t)d;
        }
        for (size_t j = 0; j < k - 1; j++) {
            if (n + 1 >= sizeof(raw))
                return LGW_ERR(INVALID);
            raw[n++] = (char)(v >> (16 - 8 * j));
        }
    }
    raw[n] = '\0';
    if (strlen(raw) != n) /* a NUL inside */
        return LGW_ERR(INVALID);
    const char *colon = memchr(raw, ':', n);
    long long ts;
    if (!colon || colon == raw || lgw_parse_int64(raw, (size_t)(colon - raw), &ts) || ts < 0)
        return LGW_ERR(INVALID);
    size_t idlen = n - (size_t)(colon - raw) - 1;
    if (idlen == 0 || idlen >= LGW_AN_EVENT_ID_MAX)
        return LGW_ERR(INVALID);
    /* Re-encoding must give the same text: one cursor per position, and no smuggled bytes. */
    char again[LGW_AN_CURSOR_MAX];
    if (lgw_an_cursor_encode(ts, colon + 1, again, sizeof(again)) || strcmp(again, s) != 0)
        return LGW_ERR(INVALID);
    *ts_ms = ts;
    memcpy(event_id, colon + 1, idlen + 1);
    return LGW_OK;
}

int lgw_an_csv_field(struct lgw_buf *out, const char *s)
{
    if (!s)
        return LGW_OK;
    if (!s[strcspn(s, ",\"\r\n")])
        return lgw_buf_puts(out, s);
    int rc = lgw_buf_puts(out, "\"");
    for (const char *p = s; *p && !rc; p++)
        rc = *p == '"' ? lgw_buf_puts(out, "\"\"") : lgw_buf_append(out, p, 1);
    return rc ? rc : lgw_buf_puts(out, "\"");
}

void lgw_an_usd_format(int64_t nusd, char *out, size_t outsz)
{
    if (lgw_cost_format_usd(nusd, out, outsz))
        lgw_strlcpy(out, "", outsz);
}
