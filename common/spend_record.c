/* spend_record.c - the spend topic's record and its periods (see spend_record.h). */
#include "common/spend_record.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "common/json_load.h"
#include "common/json_write.h"

static void utc_tm(int64_t ts_ms, struct tm *tm)
{
    /* Floor, not truncation: a time before 1970 still names the day it falls in. */
    time_t t = (time_t)(ts_ms >= 0 ? ts_ms / 1000 : (ts_ms - 999) / 1000);
    gmtime_r(&t, tm);
}

void lgw_spend_day(int64_t ts_ms, char out[LGW_SPEND_PERIOD_MAX])
{
    struct tm tm;
    utc_tm(ts_ms, &tm);
    /* The remainders only tell the compiler the widths (years 0..9999, as the schema's pattern says). */
    snprintf(out, LGW_SPEND_PERIOD_MAX, "day:%04u-%02u-%02u", (unsigned)(tm.tm_year + 1900) % 10000u,
             (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u);
}

void lgw_spend_month(int64_t ts_ms, char out[LGW_SPEND_PERIOD_MAX])
{
    struct tm tm;
    utc_tm(ts_ms, &tm);
    snprintf(out, LGW_SPEND_PERIOD_MAX, "month:%04u-%02u", (unsigned)(tm.tm_year + 1900) % 10000u,
             (unsigned)(tm.tm_mon + 1) % 100u);
}

/* timegm normalizes out-of-range fields: day 32 of December is January 1 of the next year. */
int64_t lgw_spend_day_end_ms(int64_t ts_ms)
{
    struct tm tm;
    utc_tm(ts_ms, &tm);
    tm.tm_mday += 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    return (int64_t)timegm(&tm) * 1000;
}

int64_t lgw_spend_month_end_ms(int64_t ts_ms)
{
    struct tm tm;
    utc_tm(ts_ms, &tm);
    tm.tm_mon += 1;
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    return (int64_t)timegm(&tm) * 1000;
}

void lgw_spend_scope_tenant(const char *tenant, char out[LGW_SPEND_SCOPE_MAX])
{
    snprintf(out, LGW_SPEND_SCOPE_MAX, "tenant:%s", tenant);
}

void lgw_spend_scope_key(const char *key_id, char out[LGW_SPEND_SCOPE_MAX])
{
    snprintf(out, LGW_SPEND_SCOPE_MAX, "key:%s", key_id);
}

void lgw_spend_record_key(const struct lgw_spend_record *rec, char out[LGW_SPEND_KEY_MAX])
{
    snprintf(out, LGW_SPEND_KEY_MAX, "%s|%s", rec->scope, rec->period);
}

int lgw_spend_record_encode(const struct lgw_spend_record *rec, struct lgw_buf *out)
{
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:I}", "v", 1, "scope", rec->scope, "tenant", rec->tenant,
                          "key_id", rec->key_id, "period", rec->period, "spend_nusd", (json_int_t)rec->spend_nusd,
                          "ts_ms", (json_int_t)rec->ts_ms);
    return lgw_buf_append_json(out, o, JSON_COMPACT);
}

static int get_text(json_t *o, const char *field, char *dst, size_t dstsz, bool required, char *why, size_t whysz)
{
    json_t *v = json_object_get(o, field);
    if (!v && !required) {
        dst[0] = '\0';
        return LGW_OK;
    }
    if (!json_is_string(v) || json_string_length(v) >= dstsz || (required && json_string_length(v) == 0)) {
        snprintf(why, whysz, "field \"%s\" must be a string of 1 to %zu bytes", field, dstsz - 1);
        return LGW_ERR(INVALID);
    }
    lgw_strlcpy(dst, json_string_value(v), dstsz);
    return LGW_OK;
}

/* "day:" + YYYY-MM-DD or "month:" + YYYY-MM, digits where digits belong. */
static bool period_ok(const char *p)
{
    const char *shape;
    if (strncmp(p, "day:", 4) == 0)
        shape = "dddd-dd-dd", p += 4;
    else if (strncmp(p, "month:", 6) == 0)
        shape = "dddd-dd", p += 6;
    else
        return false;
    for (; *shape; shape++, p++)
        if (*shape == 'd' ? !(*p >= '0' && *p <= '9') : *p != *shape)
            return false;
    return *p == '\0';
}

int lgw_spend_record_decode(const void *data, size_t len, struct lgw_spend_record *rec, char *why, size_t whysz)
{
    int rc = LGW_ERR(INVALID);
    memset(rec, 0, sizeof(*rec));
    json_error_t jerr;
    json_t *o = lgw_json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(o)) {
        snprintf(why, whysz, "not a JSON object");
        goto out;
    }
    json_t *v = json_object_get(o, "v");
    /* The upgrade rule (schemas/README.md): this version and the next. */
    if (!json_is_integer(v) || (json_integer_value(v) != 1 && json_integer_value(v) != 2)) {
        snprintf(why, whysz, "unsupported version");
        goto out;
    }
    if (get_text(o, "scope", rec->scope, sizeof(rec->scope), true, why, whysz) ||
        get_text(o, "tenant", rec->tenant, sizeof(rec->tenant), true, why, whysz) ||
        get_text(o, "key_id", rec->key_id, sizeof(rec->key_id), false, why, whysz) ||
        get_text(o, "period", rec->period, sizeof(rec->period), true, why, whysz))
        goto out;
    bool key_scope = strncmp(rec->scope, "key:", 4) == 0;
    if (!(key_scope ? rec->key_id[0] && strcmp(rec->scope + 4, rec->key_id) == 0
                    : strncmp(rec->scope, "tenant:", 7) == 0 && strcmp(rec->scope + 7, rec->tenant) == 0)) {
        snprintf(why, whysz, "scope must be \"tenant:<tenant>\" or \"key:<key_id>\"");
        goto out;
    }
    if (!period_ok(rec->period)) {
        snprintf(why, whysz, "period must be \"day:YYYY-MM-DD\" or \"month:YYYY-MM\"");
        goto out;
    }
    json_t *s = json_object_get(o, "spend_nusd"), *t = json_object_get(o, "ts_ms");
    if (!json_is_integer(s) || json_integer_value(s) < 0 || (t && !json_is_integer(t))) {
        snprintf(why, whysz, "spend_nusd must be an integer >= 0 and ts_ms an integer");
        goto out;
    }
    rec->spend_nusd = json_integer_value(s);
    rec->ts_ms = t ? json_integer_value(t) : 0;
    rc = LGW_OK;
out:
    json_decref(o);
    return rc;
}
