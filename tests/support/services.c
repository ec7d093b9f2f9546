/* services.c - see services.h. */
#include "tests/support/services.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

const char *lgw_test_service(const char *name)
{
    const char *v = getenv(name);
    if (v && *v)
        return v;
    const char *need = getenv("LLMGW_TEST_SERVICES");
    if (need && strcmp(need, "required") == 0)
        fail_msg("%s is not set, and LLMGW_TEST_SERVICES=required: this case must not be skipped", name);
    skip();
    return NULL; /* not reached: skip() and fail_msg() leave the case */
}
