/* rng.h - the tests' random cases: xorshift64 from a fixed seed, so a failing case comes back on every run of the
 * test. Test-only code. */
#ifndef LGW_TEST_RNG_H
#define LGW_TEST_RNG_H

#include <stdint.h>

/* The next number from *state (any seed but 0). */
static inline uint64_t lgw_test_rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

#endif
