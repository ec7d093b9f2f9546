/* log.h - structured JSON-line logs on stderr.
 *
 * One line per event: {"ts":..,"level":..,"module":..,"id":..,"tenant":..,"trace_id":..,"span_id":..,"msg":..}. The level is checked
 * before any argument is evaluated. Never pass a key, a prompt or a completion to these macros: use
 * lgw_log_redact() for anything secret-shaped. Thread-safe: each line is one write(2). */
#ifndef LGW_LOG_H
#define LGW_LOG_H

#include <stddef.h>

enum lgw_log_level { LGW_LOG_DEBUG = 0, LGW_LOG_INFO, LGW_LOG_WARN, LGW_LOG_ERROR };

extern int lgw_log_min_level;

/* Parses "debug|info|warn|error"; returns 0 or LGW_ERR(INVALID). */
int lgw_log_level_parse(const char *s, int *level);
void lgw_log_set_level(int level);

/* id and tenant may be NULL (omitted from the line). */
void lgw_log_emit(int level, const char *module, const char *id, const char *tenant, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The same for a line about a request being handled: traceparent (NULL, "" or invalid: omitted) is the W3C
 * trace context of that work, and the line carries its trace_id and span_id, so it leads to its trace. */
void lgw_log_emit_tp(int level, const char *module, const char *id, const char *tenant, const char *traceparent,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#define LGW_LOG(level, module, id, tenant, ...)                                                           \
    do {                                                                                                   \
        if ((level) >= lgw_log_min_level)                                                                  \
            lgw_log_emit((level), (module), (id), (tenant), __VA_ARGS__);                                   \
    } while (0)

#define LGW_LOG_TP(level, module, id, tenant, traceparent, ...)                                            \
    do {                                                                                                   \
        if ((level) >= lgw_log_min_level)                                                                  \
            lgw_log_emit_tp((level), (module), (id), (tenant), (traceparent), __VA_ARGS__);                \
    } while (0)

#define LGW_DEBUG(module, ...) LGW_LOG(LGW_LOG_DEBUG, module, NULL, NULL, __VA_ARGS__)
#define LGW_INFO(module, ...) LGW_LOG(LGW_LOG_INFO, module, NULL, NULL, __VA_ARGS__)
#define LGW_WARN(module, ...) LGW_LOG(LGW_LOG_WARN, module, NULL, NULL, __VA_ARGS__)
#define LGW_ERROR(module, ...) LGW_LOG(LGW_LOG_ERROR, module, NULL, NULL, __VA_ARGS__)

/* Writes a log-safe stand-in for a secret into out: "[redacted len=N]". Returns out. */
const char *lgw_log_redact(const char *secret, char *out, size_t outsz);

#endif
