/* auth.h - tenant API keys: generation, hashing, and constant-time checks.
 *
 * Keys are random ("lgw-" + 44 base64url characters from 264 random bits); only their SHA-256 is configured, and a
 * presented key is hashed and compared against every configured hash without an early exit, so timing
 * reveals neither a key nor which tenant matched. Keys are never logged. Thread-safe. */
#ifndef LGW_AUTH_H
#define LGW_AUTH_H

#include <stddef.h>

#include "common/config.h"

/* Longest key we hash; anything longer is rejected without work. */
#define LGW_AUTH_KEY_MAX 256

/* hex receives the lowercase SHA-256 of data (64 characters + NUL). Aborts if libcrypto fails. */
void lgw_auth_sha256_hex(const void *data, size_t len, char hex[65]);
/* Writes a fresh key into key (keysz >= 48) and its SHA-256 into hex. Returns 0 or LGW_ERR(INTERNAL). */
int lgw_auth_new_key(char *key, size_t keysz, char hex[65]);
/* The SHA-256 of the key in an Authorization header value (see lgw_auth_check for the accepted forms) into d.
 * Returns 0, LGW_ERR(UNAUTHORIZED) for a missing or malformed value, or LGW_ERR(INTERNAL). Any thread. */
int lgw_auth_digest(const char *authorization, unsigned char d[32]);
/* Finds digest d among n entries of a table whose i-th 32-byte hash is at hashes + i * stride (any struct
 * with an unsigned char[32] member: pass the first entry's member and sizeof the struct). Every entry is
 * compared and the match picked with masks, not a branch, so the time depends on neither the key nor which
 * entry matched. Returns true and *match, or false. Any thread (the caller keeps the table still). */
bool lgw_auth_find(const unsigned char d[32], const unsigned char *hashes, size_t n, size_t stride, size_t *match);
/* Checks an Authorization header value ("Bearer <key>": scheme in any case, spaces or tabs around the key;
 * may be NULL) against keys[0..nkeys). On success stores the index of the matching entry in *match and
 * returns 0; otherwise LGW_ERR(UNAUTHORIZED), or LGW_ERR(INTERNAL) if hashing failed. */
int lgw_auth_check(const struct lgw_tenant_key *keys, size_t nkeys, const char *authorization, size_t *match);

#endif
