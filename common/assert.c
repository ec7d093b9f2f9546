/* assert.c - the failure path of LGW_ASSERT (see assert.h). */
#include "common/assert.h"

#include <stdlib.h>

#include "common/log.h"

_Noreturn void lgw_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    /* emitted whatever the log level: the line that explains the abort must not be filtered out */
    lgw_log_emit(LGW_LOG_ERROR, "assert", NULL, NULL, "invariant broken at %s:%d %s: %s", file, line, func, expr);
    abort();
}
