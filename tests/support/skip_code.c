/* skip_code.c - a unit test that had a case skipped, and none failed, exits with ctest's skip code.
 *
 * cmocka's cmocka_run_group_tests() returns only the number of failed cases, so an executable whose cases were
 * skipped (a service not configured, a kernel without a feature) exited 0 and ctest counted it as passed: CI's
 * summary said "0 skipped" while cases had not run. CMake links every unit test with
 * -Wl,--wrap=_skip,--wrap=_cmocka_run_group_tests, which sends cmocka's skip() and the group run through the two
 * functions below, and sets the test's SKIP_RETURN_CODE to LGW_TEST_SKIP_CODE. A failure still wins: an
 * executable with a failed case and a skipped one fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* ctest's SKIP_RETURN_CODE for the unit tests (CMakeLists.txt); 77 as Automake's and Meson's skip code. */
#define LGW_TEST_SKIP_CODE 77

static bool skipped;

void __real__skip(const char *const file, const int line);
int __real__cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *const tests,
                                   const size_t num_tests, CMFixtureFunction group_setup,
                                   CMFixtureFunction group_teardown);
void __wrap__skip(const char *const file, const int line);
int __wrap__cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *const tests,
                                   const size_t num_tests, CMFixtureFunction group_setup,
                                   CMFixtureFunction group_teardown);

void __wrap__skip(const char *const file, const int line)
{
    skipped = true; /* before the real one, which leaves the case and does not come back */
    __real__skip(file, line);
}

int __wrap__cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *const tests,
                                   const size_t num_tests, CMFixtureFunction group_setup,
                                   CMFixtureFunction group_teardown)
{
    int failed = __real__cmocka_run_group_tests(group_name, tests, num_tests, group_setup, group_teardown);
    /* 1 rather than the count: 77 failures must not read as a skip. */
    return failed != 0 ? 1 : skipped ? LGW_TEST_SKIP_CODE : 0;
}
