/* sampler.c - the OpenTelemetry SDK samplers (see sampler.h). */
#include "telemetry/sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

static const char *const names[] = {
    [LGW_SAMPLER_ALWAYS_ON] = "always_on",
    [LGW_SAMPLER_ALWAYS_OFF] = "always_off",
    [LGW_SAMPLER_TRACEIDRATIO] = "traceidratio",
    [LGW_SAMPLER_PARENTBASED_ALWAYS_ON] = "parentbased_always_on",
    [LGW_SAMPLER_PARENTBASED_ALWAYS_OFF] = "parentbased_always_off",
    [LGW_SAMPLER_PARENTBASED_TRACEIDRATIO] = "parentbased_traceidratio",
};

#define TWO_56 72057594037927936.0 /* 2^56 */

const char *lgw_sampler_name(enum lgw_sampler_kind kind)
{
    return names[kind];
}

int lgw_sampler_parse(const char *name, const char *arg, struct lgw_sampler *out, char *why, size_t whysz)
{
    memset(out, 0, sizeof(*out));
    out->kind = LGW_SAMPLER_PARENTBASED_ALWAYS_ON;
    if (name && name[0]) {
        size_t i = 0;
        while (i < sizeof(names) / sizeof(names[0]) && strcmp(name, names[i]) != 0)
            i++;
        if (i == sizeof(names) / sizeof(names[0])) {
            snprintf(why, whysz,
                     "OTEL_TRACES_SAMPLER=%.64s is not a sampler llmgw has: use always_on, always_off, traceidratio, "
                     "parentbased_always_on, parentbased_always_off or parentbased_traceidratio",
                     name);
            return LGW_ERR(CONFIG);
        }
        out->kind = (enum lgw_sampler_kind)i;
    }
    out->ratio = 1.0;
    bool ratio = out->kind == LGW_SAMPLER_TRACEIDRATIO || out->kind == LGW_SAMPLER_PARENTBASED_TRACEIDRATIO;
    if (ratio && arg && arg[0]) {
        char *end;
        double v = strtod(arg, &end);
        if (*end != '\0' || end == arg || !(v >= 0.0 && v <= 1.0)) { /* NaN fails the comparison too */
            snprintf(why, whysz, "OTEL_TRACES_SAMPLER_ARG=%.64s is not a ratio between 0 and 1", arg);
            return LGW_ERR(CONFIG);
        }
        out->ratio = v;
    }
    /* v * 2^56 is exact enough in a double for any ratio people write; 1.0 must admit every id. */
    out->threshold = out->ratio >= 1.0 ? UINT64_MAX : (uint64_t)floor(out->ratio * TWO_56);
    return LGW_OK;
}

/* The trace id's last 7 bytes as a number below 2^56: the part W3C Trace Context level 2 asks to be random
 * (the first bytes of some vendors' ids hold a timestamp), so the ratio holds whoever made the id. */
static bool ratio_decides(const struct lgw_sampler *s, const uint8_t trace_id[16])
{
    uint64_t x = 0;
    for (int i = 9; i < 16; i++)
        x = x << 8 | trace_id[i];
    return x < s->threshold;
}

bool lgw_sampler_decide(const struct lgw_sampler *s, const uint8_t trace_id[16], const struct lgw_span_ctx *parent)
{
    switch (s->kind) {
    case LGW_SAMPLER_ALWAYS_ON:
        return true;
    case LGW_SAMPLER_ALWAYS_OFF:
        return false;
    case LGW_SAMPLER_TRACEIDRATIO:
        return ratio_decides(s, trace_id);
    case LGW_SAMPLER_PARENTBASED_ALWAYS_ON:
        return parent ? parent->sampled : true;
    case LGW_SAMPLER_PARENTBASED_ALWAYS_OFF:
        return parent ? parent->sampled : false;
    case LGW_SAMPLER_PARENTBASED_TRACEIDRATIO:
        return parent ? parent->sampled : ratio_decides(s, trace_id);
    }
    return false;
}
