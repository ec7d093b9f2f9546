/* provider_status.c - the providers topic's record (see provider_status.h). */
#include "common/provider_status.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/json_write.h"

static const char *const state_names[] = {"closed", "half_open", "open"};

const char *lgw_pstatus_state_name(enum lgw_pstatus_state s)
{
    return (unsigned)s < 3 ? state_names[s] : "closed";
}

void lgw_pstatus_init(struct lgw_pstatus *st)
{
    memset(st, 0, sizeof(*st));
}

void lgw_pstatus_cleanup(struct lgw_pstatus *st)
{
    for (size_t i = 0; i < st->nproviders; i++)
        free(st->providers[i].models);
    free(st->providers);
    lgw_pstatus_init(st);
}

/* Room for one more element in an array that grows by doubling. */
static void *grow(void *arr, size_t n, size_t elem)
{
    if (n == 0 || (n & (n - 1)) != 0)
        return arr; /* capacity is the next power of two at or above n: room left */
    return lgw_realloc(arr, 2 * n * elem);
}

struct lgw_pstatus_provider *lgw_pstatus_add_provider(struct lgw_pstatus *st, const char *provider, bool configured,
                                                      bool simulated)
{
    st->providers = st->nproviders ? grow(st->providers, st->nproviders, sizeof(*st->providers))
                                   : lgw_malloc(sizeof(*st->providers));
    struct lgw_pstatus_provider *p = &st->providers[st->nproviders++];
    *p = (struct lgw_pstatus_provider){.configured = configured, .simulated = simulated};
    lgw_strlcpy(p->provider, provider, sizeof(p->provider));
    return p;
}

struct lgw_pstatus_model *lgw_pstatus_add_model(struct lgw_pstatus_provider *p, const char *model)
{
    p->models = p->nmodels ? grow(p->models, p->nmodels, sizeof(*p->models)) : lgw_malloc(sizeof(*p->models));
    struct lgw_pstatus_model *m = &p->models[p->nmodels++];
    *m = (struct lgw_pstatus_model){.state = LGW_PSTATUS_CLOSED, .latency_ms = -1};
    lgw_strlcpy(m->model, model, sizeof(m->model));
    return m;
}

bool lgw_pstatus_fresh(const struct lgw_pstatus *st, int64_t now_ms)
{
    return now_ms - st->ts_ms <= 3 * st->interval_ms;
}

/* ---- encode */

/* Tenths of a millisecond are all a latency estimate means; clamped to what readers take (NaN counts as none). */
static json_t *latency_json(double ms)
{
    if (!(ms >= 0))
        return json_null();
    return json_real(ms > LGW_PSTATUS_LATENCY_MAX_MS ? LGW_PSTATUS_LATENCY_MAX_MS : round(ms * 10.0) / 10.0);
}

static json_t *model_json(const struct lgw_pstatus_model *m)
{
    return json_pack("{s:s, s:s, s:o, s:I, s:I, s:I}", "model", m->model, "state", lgw_pstatus_state_name(m->state),
                     "latency_ms", latency_json(m->latency_ms), "inflight", (json_int_t)m->inflight, "calls",
                     (json_int_t)m->calls, "failures", (json_int_t)m->failures);
}

static json_t *provider_json(const struct lgw_pstatus_provider *p)
{
    json_t *models = json_array();
    for (size_t i = 0; i < p->nmodels; i++)
        json_array_append_new(models, model_json(&p->models[i]));
    return json_pack("{s:s, s:b, s:b, s:o}", "provider", p->provider, "configured", p->configured, "simulated",
                     p->simulated, "models", models);
}

int lgw_pstatus_encode(const struct lgw_pstatus *st, struct lgw_buf *out)
{
    json_t *providers = json_array();
    for (size_t i = 0; i < st->nproviders; i++)
        json_array_append_new(providers, provider_json(&st->providers[i]));
    json_t *o = json_pack("{s:i, s:s, s:I, s:I, s:o}", "v", 1, "worker_id", st->worker_id, "ts_ms",
                          (json_int_t)st->ts_ms, "interval_ms", (json_int_t)st->interval_ms, "providers", providers);
    return lgw_buf_append_json(out, o, JSON_COMPACT | JSON_REAL_PRECISION(12));
}

/* ---- decode: each helper refuses with a reason, naming the field and where it is */

__attribute__((format(printf, 3, 4))) static int refuse(char *why, size_t whysz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whysz, fmt, ap);
    va_end(ap);
    return LGW_ERR(INVALID);
}

static int get_name(json_t *o, const char *field, char *dst, size_t dstsz, const char *where, char *why, size_t whysz)
{
    json_t *v = json_object_get(o, field);
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= dstsz ||
        strlen(json_string_value(v)) != json_string_length(v))
        return refuse(why, whysz, "%s: \"%s\" must be a non-empty string, shorter than its cap", where, field);
    lgw_strlcpy(dst, json_string_value(v), dstsz);
    return LGW_OK;
}

static int get_count(json_t *o, const char *field, int64_t *dst, const char *where, char *why, size_t whysz)
{
    json_t *v = json_object_get(o, field);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return refuse(why, whysz, "%s: \"%s\" must be an integer >= 0", where, field);
    *dst = json_integer_value(v);
    return LGW_OK;
}

static int get_bool(json_t *o, const char *field, bool *dst, const char *where, char *why, size_t whysz)
{
    json_t *v = json_object_get(o, field);
    if (!json_is_boolean(v))
        return refuse(why, whysz, "%s: \"%s\" must be true or false", where, field);
    *dst = json_is_true(v);
    return LGW_OK;
}

static int get_state(json_t *o, enum lgw_pstatus_state *dst, const char *where, char *why, size_t whysz)
{
    const char *s = json_string_value(json_object_get(o, "state"));
    for (int i = 0; s && i < 3; i++)
        if (strcmp(s, state_names[i]) == 0) {
            *dst = (enum lgw_pstatus_state)i;
            return LGW_OK;
        }
    return refuse(why, whysz, "%s: \"%s\" must be \"closed\", \"half_open\" or \"open\"", where, "state");
}

static int get_latency(json_t *o, double *dst, const char *where, char *why, size_t whysz)
{
    json_t *v = json_object_get(o, "latency_ms");
    if (json_is_null(v)) {
        *dst = -1;
        return LGW_OK;
    }
    if (!json_is_number(v) || !(json_number_value(v) >= 0) || json_number_value(v) > LGW_PSTATUS_LATENCY_MAX_MS)
        return refuse(why, whysz, "%s: \"%s\" must be a number within 0..86400000, or null", where, "latency_ms");
    *dst = json_number_value(v);
    return LGW_OK;
}

static int decode_model(json_t *o, struct lgw_pstatus_provider *p, char *why, size_t whysz)
{
    char where[LGW_PSTATUS_PROVIDER_MAX + 32];
    snprintf(where, sizeof(where), "provider \"%s\", a model", p->provider);
    if (!json_is_object(o))
        return refuse(why, whysz, "%s: %s", where, "must be an object");
    char id[LGW_NAME_MAX];
    int rc = get_name(o, "model", id, sizeof(id), where, why, whysz);
    if (rc)
        return rc;
    for (size_t i = 0; i < p->nmodels; i++)
        if (strcmp(p->models[i].model, id) == 0)
            return refuse(why, whysz, "%s: \"%s\" is listed twice", where, id);
    struct lgw_pstatus_model *m = lgw_pstatus_add_model(p, id);
    if ((rc = get_state(o, &m->state, where, why, whysz)) || (rc = get_latency(o, &m->latency_ms, where, why, whysz)) ||
        (rc = get_count(o, "inflight", &m->inflight, where, why, whysz)) ||
        (rc = get_count(o, "calls", &m->calls, where, why, whysz)) ||
        (rc = get_count(o, "failures", &m->failures, where, why, whysz)))
        return rc;
    if (m->failures > m->calls)
        return refuse(why, whysz, "%s: \"%s\" must not exceed calls", where, "failures");
    return LGW_OK;
}

static int decode_provider(json_t *o, struct lgw_pstatus *st, char *why, size_t whysz)
{
    if (!json_is_object(o))
        return refuse(why, whysz, "%s: %s", "a provider", "must be an object");
    char name[LGW_PSTATUS_PROVIDER_MAX];
    bool configured = false, simulated = false;
    int rc;
    if ((rc = get_name(o, "provider", name, sizeof(name), "a provider", why, whysz)) ||
        (rc = get_bool(o, "configured", &configured, name, why, whysz)) ||
        (rc = get_bool(o, "simulated", &simulated, name, why, whysz)))
        return rc;
    for (size_t i = 0; i < st->nproviders; i++)
        if (strcmp(st->providers[i].provider, name) == 0)
            return refuse(why, whysz, "%s: provider \"%s\" is listed twice", "providers", name);
    json_t *models = json_object_get(o, "models");
    if (!json_is_array(models) || json_array_size(models) > LGW_PSTATUS_MODELS_MAX)
        return refuse(why, whysz, "provider \"%s\": \"%s\" must be an array of at most 512 models", name, "models");
    struct lgw_pstatus_provider *p = lgw_pstatus_add_provider(st, name, configured, simulated);
    for (size_t i = 0; i < json_array_size(models); i++)
        if ((rc = decode_model(json_array_get(models, i), p, why, whysz)))
            return rc;
    return LGW_OK;
}

static int decode_record(json_t *o, struct lgw_pstatus *st, char *why, size_t whysz)
{
    json_t *v = json_object_get(o, "v");
    /* The upgrade rule (schemas/README.md): this version and the next. */
    if (!json_is_integer(v) || (json_integer_value(v) != 1 && json_integer_value(v) != 2))
        return refuse(why, whysz, "%s: %s", "the record", "unsupported version");
    int rc;
    if ((rc = get_name(o, "worker_id", st->worker_id, sizeof(st->worker_id), "the record", why, whysz)) ||
        (rc = get_count(o, "ts_ms", &st->ts_ms, "the record", why, whysz)) ||
        (rc = get_count(o, "interval_ms", &st->interval_ms, "the record", why, whysz)))
        return rc;
    if (st->interval_ms < LGW_PSTATUS_INTERVAL_MIN_MS || st->interval_ms > LGW_PSTATUS_INTERVAL_MAX_MS)
        return refuse(why, whysz, "%s: \"%s\" must be within 200..3600000", "the record", "interval_ms");
    json_t *providers = json_object_get(o, "providers");
    if (!json_is_array(providers) || json_array_size(providers) > LGW_PSTATUS_PROVIDERS_MAX)
        return refuse(why, whysz, "%s: \"%s\" must be an array of at most 64 providers", "the record", "providers");
    for (size_t i = 0; i < json_array_size(providers); i++)
        if ((rc = decode_provider(json_array_get(providers, i), st, why, whysz)))
            return rc;
    return LGW_OK;
}

int lgw_pstatus_decode(const void *data, size_t len, struct lgw_pstatus *st, char *why, size_t whysz)
{
    lgw_pstatus_init(st);
    json_error_t jerr;
    json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = json_is_object(o) ? decode_record(o, st, why, whysz)
                               : refuse(why, whysz, "%s: %s", "the record", "not a JSON object");
    json_decref(o);
    return rc;
}
