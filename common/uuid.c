/* uuid.c - UUID strings (see uuid.h). */
#include "common/uuid.h"

#include <time.h>

#include "common/random.h"

/* 8-4-4-4-12 lowercase hex of the 16 bytes, as RFC 9562 writes them. */
static void format(const unsigned char b[16], char *out)
{
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 15];
    }
    *p = '\0';
}

void lgw_uuid4(char *out)
{
    unsigned char b[16];
    lgw_random_bytes(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    format(b, out);
}

void lgw_uuid7_at(char *out, int64_t unix_ns)
{
    unsigned char b[16];
    lgw_random_bytes(b + 8, 8);
    if (unix_ns < 0) /* a clock set before 1970: the earliest id rather than a broken version field */
        unix_ns = 0;
    uint64_t ms = (uint64_t)(unix_ns / 1000000);
    /* The sub-millisecond part scaled to 12 bits (RFC 9562 section 6.2, method 3): ids of one millisecond
     * keep their order too. */
    uint32_t frac = (uint32_t)((unix_ns % 1000000) * 4096 / 1000000);
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (frac >> 8));
    b[7] = (unsigned char)(frac & 0xff);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    format(b, out);
}

void lgw_uuid7(char *out)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lgw_uuid7_at(out, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}
