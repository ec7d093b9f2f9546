/* coalesce.c - a stream's chunks gathered into fewer reply messages (see coalesce.h). */
#include "workers/coalesce.h"

void lgw_coalesce_init(struct lgw_coalesce *c, int64_t window_ms, bool reader_takes)
{
    c->window_ms = reader_takes ? window_ms : -1;
    c->sent_first = false;
    c->armed = false;
    c->held = NULL;
}

bool lgw_coalesce_hold(struct lgw_coalesce *c, json_t *chunk)
{
    if (c->window_ms < 0 || !c->sent_first) {
        c->sent_first = true;
        return false;
    }
    if (!c->held)
        c->held = json_array();
    if (!c->held || json_array_append(c->held, chunk) != 0)
        return false; /* out of memory: this one goes alone, after any held before it (the caller flushes) */
    return true;
}

bool lgw_coalesce_full(const struct lgw_coalesce *c)
{
    return c->held && json_array_size(c->held) >= LGW_COALESCE_MAX_CHUNKS;
}

bool lgw_coalesce_arm(struct lgw_coalesce *c)
{
    if (c->armed || !c->held)
        return false;
    c->armed = true;
    return true;
}

int64_t lgw_coalesce_window_ms(const struct lgw_coalesce *c)
{
    return c->window_ms > 0 ? c->window_ms : 0;
}

json_t *lgw_coalesce_take(struct lgw_coalesce *c)
{
    json_t *held = c->held;
    c->held = NULL;
    c->armed = false;
    return held;
}

void lgw_coalesce_cleanup(struct lgw_coalesce *c)
{
    json_decref(lgw_coalesce_take(c));
}
