/* test_uuid.c - the id strings (common/uuid.c): the layout and version of both kinds, a version 7 id's time
 * fields against RFC 9562's example, that later ids sort later, and that ids of one instant still differ. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/uuid.h"

/* 8-4-4-4-12 lowercase hex, version `version`, RFC 9562's variant (10xx). */
static void assert_layout(const char *id, char version)
{
    assert_int_equal(strlen(id), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(id[i], '-');
        else
            assert_non_null(strchr("0123456789abcdef", id[i]));
    }
    assert_int_equal(id[14], version);
    assert_non_null(strchr("89ab", id[19]));
}

static int64_t unix_ns_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void test_uuid4(void **state)
{
    (void)state;
    char a[LGW_UUID_SIZE], b[LGW_UUID_SIZE];
    lgw_uuid4(a);
    lgw_uuid4(b);
    assert_layout(a, '4');
    assert_layout(b, '4');
    assert_string_not_equal(a, b);
}

/* RFC 9562, appendix A.6: 2022-02-22 19:22:22 UTC is 0x017F22E279B0 ms, so its ids begin 017f22e2-79b0-7. The
 * 12 bits after the version are the fraction of that millisecond. */
static void test_uuid7_time_fields(void **state)
{
    (void)state;
    const int64_t ms = 0x017F22E279B0LL;
    char id[LGW_UUID_SIZE];
    lgw_uuid7_at(id, ms * 1000000);
    assert_layout(id, '7');
    assert_memory_equal(id, "017f22e2-79b0-7000-", 19);
    lgw_uuid7_at(id, ms * 1000000 + 500000); /* half a millisecond: 2048 / 4096 */
    assert_memory_equal(id, "017f22e2-79b0-7800-", 19);
    lgw_uuid7_at(id, ms * 1000000 + 999999); /* the last 1/4096th */
    assert_memory_equal(id, "017f22e2-79b0-7fff-", 19);
    lgw_uuid7_at(id, (ms + 1) * 1000000);
    assert_memory_equal(id, "017f22e2-79b1-7000-", 19);
    lgw_uuid7_at(id, -1500000); /* before 1970: the epoch, its version field intact */
    assert_layout(id, '7');
    assert_memory_equal(id, "00000000-0000-7000-", 19);
}

/* From the clock: its milliseconds are the wall clock's at the call. */
static void test_uuid7_now(void **state)
{
    (void)state;
    char id[LGW_UUID_SIZE];
    int64_t before = unix_ns_now() / 1000000;
    lgw_uuid7(id);
    int64_t after = unix_ns_now() / 1000000;
    assert_layout(id, '7');
    char hex[13];
    memcpy(hex, id, 8);
    memcpy(hex + 8, id + 9, 4);
    hex[12] = '\0';
    int64_t ms = (int64_t)strtoll(hex, NULL, 16);
    assert_true(ms >= before && ms <= after);
}

/* Ids made at least one fraction (244 ns) apart sort in time order as strings, across a millisecond's
 * boundary and a carry through every byte of the timestamp. */
static void test_uuid7_sorts_by_time(void **state)
{
    (void)state;
    enum { N = 20000 };
    char prev[LGW_UUID_SIZE], id[LGW_UUID_SIZE];
    int64_t t = 0x00FFFFFFFFFFLL * 1000000 - 1000000; /* the millisecond before 48 bits carry into the top */
    lgw_uuid7_at(prev, t);
    for (int i = 0; i < N; i++) {
        t += 245;
        lgw_uuid7_at(id, t);
        assert_true(strcmp(prev, id) < 0);
        memcpy(prev, id, sizeof(id));
    }
    assert_memory_equal(id, "01000000-000", 12); /* the carry happened */
}

static int cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Ids of one instant differ in their 62 random bits: none of 100,000 repeats. */
static void test_uuid7_unique_in_one_instant(void **state)
{
    (void)state;
    enum { N = 100000 };
    char(*ids)[LGW_UUID_SIZE] = malloc(sizeof(*ids) * N);
    assert_non_null(ids);
    int64_t t = unix_ns_now();
    for (int i = 0; i < N; i++) {
        lgw_uuid7_at(ids[i], t);
        assert_memory_equal(ids[i], ids[0], 18); /* the time fields are the same */
    }
    qsort(ids, N, sizeof(*ids), cmp);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid4),
        cmocka_unit_test(test_uuid7_time_fields),
        cmocka_unit_test(test_uuid7_now),
        cmocka_unit_test(test_uuid7_sorts_by_time),
        cmocka_unit_test(test_uuid7_unique_in_one_instant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
