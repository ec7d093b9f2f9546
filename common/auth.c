/* auth.c - tenant API keys (see auth.h). */
#include "common/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/digest.h"
#include "common/errors.h"
#include "common/log.h"

/* Returns 0 or LGW_ERR(INTERNAL); a failed digest must never leave an uninitialised hash to compare. */
static int sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 32;
    if (EVP_Digest(data, len, out, &n, lgw_digest_sha256(), NULL) != 1 || n != 32)
        return LGW_ERR(INTERNAL);
    return LGW_OK;
}

void lgw_auth_sha256_hex(const void *data, size_t len, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char d[32];
    if (sha256(data, len, d)) {
        /* Only a broken libcrypto gets here; there is no safe hash to hand back. */
        LGW_ERROR("auth", "SHA-256 failed");
        abort();
    }
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
}

int lgw_auth_new_key(char *key, size_t keysz, char hex[65])
{
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[33]; /* 256 bits of key plus one byte so the encoding needs no padding */
    if (keysz < 4 + 44 + 1 || RAND_bytes(raw, sizeof(raw)) != 1)
        return LGW_ERR(INTERNAL);
    memcpy(key, "lgw-", 4);
    size_t o = 4;
    for (size_t i = 0; i < sizeof(raw); i += 3) {
        unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];
        key[o++] = b64url[(v >> 18) & 63];
        key[o++] = b64url[(v >> 12) & 63];
        key[o++] = b64url[(v >> 6) & 63];
        key[o++] = b64url[v & 63];
    }
    key[o] = '\0';
    OPENSSL_cleanse(raw, sizeof(raw));
    lgw_auth_sha256_hex(key, o, hex);
    return LGW_OK;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

int lgw_auth_digest(const char *authorization, unsigned char d[32])
{
    if (!authorization)
        return LGW_ERR(UNAUTHORIZED);
    const char *p = authorization;
    while (is_space(*p))
        p++;
    if (strncasecmp(p, "Bearer", 6) != 0 || !is_space(p[6]))
        return LGW_ERR(UNAUTHORIZED);
    p += 6;
    while (is_space(*p))
        p++;
    size_t len = strlen(p);
    while (len && is_space(p[len - 1]))
        len--;
    if (len == 0 || len > LGW_AUTH_KEY_MAX)
        return LGW_ERR(UNAUTHORIZED);
    return sha256(p, len, d);
}

bool lgw_auth_find(const unsigned char d[32], const unsigned char *hashes, size_t n, size_t stride, size_t *match_out)
{
    size_t match = 0, found = 0;
    for (size_t i = 0; i < n; i++) {
        size_t same = (size_t)(CRYPTO_memcmp(d, hashes + i * stride, 32) == 0);
        size_t mask = (size_t)0 - same;
        match = (match & ~mask) | (i & mask);
        found |= same;
    }
    if (found)
        *match_out = match;
    return found != 0;
}

int lgw_auth_check(const struct lgw_tenant_key *keys, size_t nkeys, const char *authorization, size_t *match_out)
{
    unsigned char d[32];
    int rc = lgw_auth_digest(authorization, d);
    if (rc)
        return rc;
    bool found = nkeys > 0 && lgw_auth_find(d, keys[0].sha256, nkeys, sizeof(keys[0]), match_out);
    OPENSSL_cleanse(d, sizeof(d));
    return found ? LGW_OK : LGW_ERR(UNAUTHORIZED);
}
