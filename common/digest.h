/* digest.h - the SHA-256 implementation, looked up once. OpenSSL 3 finds EVP_sha256()'s implementation in its
 * provider store on every digest it starts (a locked table lookup); the tenant key of every request and every
 * cache key are hashed, so the hot paths use the one fetched here. */
#ifndef LGW_DIGEST_H
#define LGW_DIGEST_H

#include <openssl/evp.h>

/* SHA-256, fetched from the default provider on the first call (thread-safe) and kept for the process's life;
 * EVP_sha256() if that fetch fails, so a digest never has no implementation. */
const EVP_MD *lgw_digest_sha256(void);

#endif
