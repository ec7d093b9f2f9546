/* log.c - JSON-line logger. */
#include "common/log.h"

#include <stdarg.h>
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

void lgw_log_emit(int level, const char *module, const char *id, const char *tenant, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
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
    lgw_buf_puts(&line, ",\"msg\":");
    lgw_buf_json_string(&line, msg, mlen);
    lgw_buf_puts(&line, "}\n");
    /* One write per line so concurrent threads never interleave within a line. */
    ssize_t w = write(STDERR_FILENO, line.ptr, line.len);
    (void)w; /* nowhere to report a failed log write */
    lgw_buf_cleanup(&line);
}

const char *lgw_log_redact(const char *secret, char *out, size_t outsz)
{
    snprintf(out, outsz, "[redacted len=%zu]", secret ? strlen(secret) : (size_t)0);
    return out;
}
