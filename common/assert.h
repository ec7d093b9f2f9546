/* assert.h - LGW_ASSERT: invariants about money, tenancy and state machines, checked in every build.
 *
 * Unlike assert(3) it is never compiled out: a broken invariant here means a wrong bill, one tenant's
 * answer on another's connection, or a request answered twice, and the process stops before it does harm
 * rather than carry on. Cheap by rule: a comparison or two, never a scan. Input from outside (a request, a
 * Kafka message) is validated and rejected, never asserted: an assertion failing is always llmgw's bug. */
#ifndef LGW_ASSERT_H
#define LGW_ASSERT_H

/* Logs {"level":"error","module":"assert",..,"msg":"<file>:<line> <func>: <expr>"} and aborts. */
_Noreturn void lgw_assert_fail(const char *expr, const char *file, int line, const char *func);

#define LGW_ASSERT(cond) ((cond) ? (void)0 : lgw_assert_fail(#cond, __FILE__, __LINE__, __func__))

#endif
