/* log.c - JSON-line logger. */
#include "common/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/errors.h"

int lgw_log_min_level = LGW_LOG_INFO;

static const char *level_names[] = {"debug", "info", "warn", "error"};

int lgw_log_level_parse(const char *s, int *level)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *level = i;
            return LGW_OK;
        }
    }
    return LGW_ERR(INVALID);
}

void lgw_log_set_level(int level)
{
    lgw_log_min_level = level;
}

/* A traceparent's shape, "00-<32 hex>-<16 hex>-<2 hex>": enough to print its ids without escaping. (Not
 * common/trace.h's check: trace.c draws random ids through random.c, which logs, and the logger depends on
 * nothing that logs.) */
static bool traceparent_shaped(const char *tp)
{
    if (!tp || strlen(tp) != 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
        return false;
    for (int i = 0; i < 55; i++)
        if (i != 2 && i != 35 && i != 52 && !((tp[i] >= '0' && tp[i] <= '9') || (tp[i] >= 'a' && tp[i] <= 'f')))
            return false;
    return true;
}

static void emit(int level, const char *module, const char *id, const char *tenant, const char *traceparent,
                 const char *fmt, va_list ap)
{
    char msg[1024];
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n < 0)
        return;
    size_t mlen = (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct lgw_buf line;
    lgw_buf_init(&line, 8192);
    if (level < 0 || level > 3)
        level = LGW_LOG_ERROR;
    lgw_buf_printf(&line, "{\"ts\":%lld.%03d,\"level\":\"%s\",\"module\":", (long long)tv.tv_sec,
                   (int)(tv.tv_usec / 1000), level_names[level]);
    lgw_buf_json_string(&line, module, strlen(module));
    if (id) {
        lgw_buf_puts(&line, ",\"id\":");
        lgw_buf_json_string(&line, id, strlen(id));
    }
    if (tenant) {
        lgw_buf_puts(&line, ",\"tenant\":");
        lgw_buf_json_string(&line, tenant, strlen(tenant));
    }
    if (traceparent_shaped(traceparent))
        lgw_buf_printf(&line, ",\"trace_id\":\"%.32s\",\"span_id\":\"%.16s\"", traceparent + 3, traceparent + 36);
    lgw_buf_puts(&line, ",\"msg\":");
    lgw_buf_json_string(&line, msg, mlen);
    lgw_buf_puts(&line, "}\n");
    /* One write per line so concurrent threads never interleave within a line. */
    ssize_t w = write(STDERR_FILENO, line.ptr, line.len);
    (void)w; /* nowhere to report a failed log write */
    lgw_buf_cleanup(&line);
}

void lgw_log_emit(int level, const char *module, const char *id, const char *tenant, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(level, module, id, tenant, NULL, fmt, ap);
    va_end(ap);
}

void lgw_log_emit_tp(int level, const char *module, const char *id, const char *tenant, const char *traceparent,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(level, module, id, tenant, traceparent, fmt, ap);
    va_end(ap);
}

const char *lgw_log_redact(const char *secret, char *out, size_t outsz)
{
    snprintf(out, outsz, "[redacted len=%zu]", secret ? strlen(secret) : (size_t)0);
    return out;
}
