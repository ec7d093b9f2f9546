/* digest.c - the SHA-256 implementation, looked up once (digest.h). */
#include "common/digest.h"

#include <pthread.h>

static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static const EVP_MD *sha256_md;

static void fetch_sha256(void)
{
    /* Kept until exit on purpose: freeing it would race with digests still running on other threads. */
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
    sha256_md = md ? md : EVP_sha256();
}

const EVP_MD *lgw_digest_sha256(void)
{
    pthread_once(&sha256_once, fetch_sha256);
    return sha256_md;
}
