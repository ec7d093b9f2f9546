/* start_wait.c - a role's start waits for a service it needs (start_wait.h). */
#include "common/start_wait.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

#define FIRST_PAUSE_MS 250
#define MAX_PAUSE_MS 5000
#define LOG_EVERY_MS 30000

/* Sleeps ms, or less when *stop is set meanwhile. */
static void pause_ms(int64_t ms, const atomic_bool *stop)
{
    for (int64_t until = lgw_mono_ms() + ms; !atomic_load(stop) && lgw_mono_ms() < until;) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int lgw_start_wait(const char *role, const char *what, const char *where, enum lgw_start_probe (*probe)(void *arg),
                   void *arg, const atomic_bool *stop)
{
    int64_t since = lgw_mono_ms(), next_log = since, pause = FIRST_PAUSE_MS;
    bool waited = false;
    int rc = LGW_ERR(UNAVAILABLE);
    while (!atomic_load(stop)) {
        enum lgw_start_probe p = probe(arg);
        if (p != LGW_PROBE_NOT_YET) {
            rc = p == LGW_PROBE_UP ? LGW_OK : LGW_ERR(CONFIG);
            break;
        }
        int64_t now = lgw_mono_ms();
        if (now >= next_log) {
            LGW_WARN("start", "%s: waiting for %s at %s (%lld s so far; /readyz says starting)", role, what, where,
                     (long long)((now - since) / 1000));
            next_log = now + LOG_EVERY_MS;
        }
        waited = true;
        pause_ms(pause, stop);
        pause = pause * 2 > MAX_PAUSE_MS ? MAX_PAUSE_MS : pause * 2;
    }
    if (rc == LGW_OK && waited)
        LGW_INFO("start", "%s: %s answered after %lld s", role, what, (long long)((lgw_mono_ms() - since) / 1000));
    return rc;
}
