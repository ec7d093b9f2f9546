/* auth.c - tenant API keys (see auth.h). */
#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "errors.h"

static void sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 32;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

void lgw_auth_sha256_hex(const void *data, size_t len, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char d[32];
    sha256(data, len, d);
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

int lgw_auth_check(const struct lgw_tenant_key *keys, size_t nkeys, const char *authorization, char *tenant_out,
                   size_t tenant_outsz)
{
    if (!authorization)
        return LGW_ERR(UNAUTHORIZED);
    const char *p = authorization;
    while (*p == ' ')
        p++;
    if (strncasecmp(p, "Bearer ", 7) != 0)
        return LGW_ERR(UNAUTHORIZED);
    p += 7;
    while (*p == ' ')
        p++;
    size_t len = strlen(p);
    while (len && p[len - 1] == ' ')
        len--;
    if (len == 0 || len > LGW_AUTH_KEY_MAX)
        return LGW_ERR(UNAUTHORIZED);
    unsigned char d[32];
    sha256(p, len, d);
    /* Compare with every entry, remembering the match, so the time taken does not depend on which one. */
    size_t match = nkeys;
    for (size_t i = 0; i < nkeys; i++) {
        int differs = CRYPTO_memcmp(d, keys[i].sha256, sizeof(d));
        if (!differs)
            match = i;
    }
    if (match == nkeys)
        return LGW_ERR(UNAUTHORIZED);
    lgw_strlcpy(tenant_out, keys[match].tenant, tenant_outsz);
    return LGW_OK;
}
