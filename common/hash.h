/* hash.h - FNV-1a over a NUL-terminated string: small, no state, well mixed for the short keys we hash
 * (request ids, provider/model names, model names). Not for anything an attacker must not steer. */
#ifndef LGW_HASH_H
#define LGW_HASH_H

#include <stdint.h>

/* The hash of s continued from h (the hash of what came before it): several strings hashed as one. */
static inline uint64_t lgw_hash_str_more(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static inline uint64_t lgw_hash_str(const char *s)
{
    return lgw_hash_str_more(1469598103934665603ULL, s);
}

#endif
