/* skip_code.c - a unit test that had a case skipped, and none failed, exits with ctest's skip code.
 *
 * cmocka's cmocka_run_group_tests() returns only the number of failed cases, so an executable whose cases were
 * skipped (a service not configured, a kernel without a feature) exited 0 and ctest counted it as passed: CI's
 * summary said "0 skipped" while cases had not run. CMake links every unit test with
 * -Wl,--wrap=_skip,--wrap=_cmocka_run_group_tests, which sends cmocka's skip() and the group run through the two
 * functions below, and sets the test's SKIP_RETURN_CODE to LGW_TEST_SKIP_CODE. A failure still wins: an
 * executable with a failed case and a skipped one fails.
 *
 * ctest counts executables, not cases: one with 12 passed cases and a skipped one is "1 skipped". With
 * LLMGW_TEST_CASES set to a directory, each group run also leaves there a file <executable>.<n>.cases holding one
 * line, "<cases> <failed> <skipped> <group>", which scripts/test_summary.py counts in place of ctest's line for
 * that executable. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ctest's SKIP_RETURN_CODE for the unit tests (CMakeLists.txt); 77 as Automake's and Meson's skip code. */
#define LGW_TEST_SKIP_CODE 77

static size_t skips; /* cases skipped so far in this process */
static unsigned groups_run;

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
    skips++; /* before the real one, which leaves the case and does not come back */
    __real__skip(file, line);
}

/* The group's counts for scripts/test_summary.py, if LLMGW_TEST_CASES names a directory. A file that cannot be
 * written fails the run: a summary that silently fell back to counting executables would hide it. */
static int record_cases(const char *group_name, size_t cases, int failed, size_t skipped)
{
    const char *dir = getenv("LLMGW_TEST_CASES");
    if (dir == NULL || *dir == '\0')
        return 0;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    const char *base = strrchr(exe, '/');
    char path[PATH_MAX];
    int len = snprintf(path, sizeof path, "%s/%s.%u.cases", dir, base ? base + 1 : exe, groups_run);
    if (len < 0 || (size_t)len >= sizeof path)
        return -1;
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    int wrote = fprintf(f, "%zu %d %zu %s\n", cases, failed, skipped, group_name ? group_name : "");
    return fclose(f) == 0 && wrote > 0 ? 0 : -1;
}

int __wrap__cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *const tests,
                                   const size_t num_tests, CMFixtureFunction group_setup,
                                   CMFixtureFunction group_teardown)
{
    size_t skips_before = skips;
    int failed = __real__cmocka_run_group_tests(group_name, tests, num_tests, group_setup, group_teardown);
    int recorded = record_cases(group_name, num_tests, failed, skips - skips_before);
    groups_run++;
    if (recorded != 0) {
        fprintf(stderr, "skip_code: cannot write the case counts to LLMGW_TEST_CASES=%s\n",
                getenv("LLMGW_TEST_CASES"));
        return 1;
    }
    /* 1 rather than the count: 77 failures must not read as a skip. */
    return failed != 0 ? 1 : skips > 0 ? LGW_TEST_SKIP_CODE : 0;
}
