/* test_digest.c - the SHA-256 looked up once (common/digest.c): the right digest, one implementation for every
 * thread, and a first call raced by several threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>

#include "common/digest.h"

static void *first_call(void *arg)
{
    (void)arg;
    return (void *)lgw_digest_sha256();
}

static void test_sha256(void **state)
{
    (void)state;
    /* Raced first: every thread gets the same implementation. */
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, first_call, NULL), 0);
    const EVP_MD *md = lgw_digest_sha256();
    assert_non_null(md);
    for (int i = 0; i < 4; i++) {
        void *got = NULL;
        assert_int_equal(pthread_join(t[i], &got), 0);
        assert_ptr_equal(got, md);
    }
    assert_int_equal(EVP_MD_get_size(md), 32);
    /* FIPS 180-2's first example: "abc" */
    static const unsigned char want[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
                                           0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
                                           0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    unsigned char d[32];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest("abc", 3, d, &n, md, NULL), 1);
    assert_int_equal(n, 32);
    assert_memory_equal(d, want, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
