/* skip_code_probe.c - the cases tests/unit/check_skip_code.cmake runs to check tests/support/skip_code.c: with
 * argument "skip", a passed case and a skipped one (must exit 77); "fail", a skipped case and a failed one (must
 * exit 1, not 77); "pass", a passed case only (must exit 0). Linked as every unit test is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

static void passes(void **state)
{
    (void)state;
    assert_int_equal(1 + 1, 2);
}

static void skips(void **state)
{
    (void)state;
    skip();
}

static void fails(void **state)
{
    (void)state;
    fail_msg("this case fails on purpose: skip_code.c must report the failure, not the skip");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest skipped[] = {cmocka_unit_test(passes), cmocka_unit_test(skips)};
    const struct CMUnitTest failed[] = {cmocka_unit_test(skips), cmocka_unit_test(fails)};
    const struct CMUnitTest passed[] = {cmocka_unit_test(passes)};
    const char *which = argc > 1 ? argv[1] : "";
    if (strcmp(which, "skip") == 0)
        return cmocka_run_group_tests(skipped, NULL, NULL);
    if (strcmp(which, "fail") == 0)
        return cmocka_run_group_tests(failed, NULL, NULL);
    if (strcmp(which, "pass") == 0)
        return cmocka_run_group_tests(passed, NULL, NULL);
    return 2;
}
