/* catalog_parse.c - one catalog document's fields: names, prices, capabilities, dates and lifecycles, each
 * checked strictly with every problem reported (see catalog_int.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "providers/provider.h"
#include "routing/catalog_int.h"

static const char *const model_keys[] = {"id", "provider", "upstream", "aliases", "capabilities", "context_window",
                                         "max_output_tokens", "latency_ms", "price", "source", "disabled",
                                         "retired", "successor", "retired_source", NULL};
static const char *const price_keys[] = {"input", "output", "cached_input", "cache_write", "long_context", NULL};
static const char *const tier_keys[] = {"above_input_tokens", "input", "output", "cached_input", "cache_write", NULL};
const char *const lgw_catalog_doc_keys[] = {"schema", "catalog_version", "sources", "models", "groups", "fallbacks", NULL};

static bool key_allowed(const char *const *allowed, const char *key)
{
    for (; *allowed; allowed++)
        if (strcmp(*allowed, key) == 0)
            return true;
    return false;
}

/* Every key of obj must be one of allowed: a misspelt field is an error, never silently ignored. */
bool lgw_catalog_check_keys(json_t *obj, const char *const *allowed, const char *where, struct lgw_buf *errs)
{
    bool ok = true;
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (!key_allowed(allowed, key)) {
            lgw_buf_printf(errs, "%s: unknown field \"%.64s\"\n", where, key);
            ok = false;
        }
    }
    return ok;
}

bool lgw_catalog_name_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > MAX_NAME)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == ',' || *s == '"')
            return false;
    return true;
}

/* A decimal USD-per-1M-tokens string into nano-USD per 1M tokens (the same number). */
static bool parse_rate(json_t *obj, const char *key, bool required, int64_t *out, const char *where,
                       struct lgw_buf *errs)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required)
            lgw_buf_printf(errs, "%s: price needs \"%s\"\n", where, key);
        return !required;
    }
    if (!json_is_string(v) || lgw_cost_parse_usd(json_string_value(v), out) || *out < 0) {
        lgw_buf_printf(errs, "%s: price \"%s\" must be a non-negative decimal string (USD per 1M tokens)\n", where,
                       key);
        return false;
    }
    return true;
}

static bool parse_int(json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out, const char *where,
                      struct lgw_buf *errs)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        lgw_buf_printf(errs, "%s: \"%s\" must be an integer from %lld to %lld\n", where, key, (long long)min,
                       (long long)max);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

static bool parse_price(json_t *pj, json_t *sources, json_t *source, const char *where, struct lgw_price *price,
                        struct lgw_buf *errs)
{
    memset(price, 0, sizeof(*price));
    if (!pj || json_is_null(pj))
        return true; /* no price: served, cost recorded as unknown */
    if (!json_is_object(pj)) {
        lgw_buf_printf(errs, "%s: \"price\" must be an object or null\n", where);
        return false;
    }
    bool ok = lgw_catalog_check_keys(pj, price_keys, where, errs);
    ok &= parse_rate(pj, "input", true, &price->input_nusd_per_mtok, where, errs);
    ok &= parse_rate(pj, "output", true, &price->output_nusd_per_mtok, where, errs);
    price->cached_input_nusd_per_mtok = price->input_nusd_per_mtok; /* no cached rate: billed as input */
    ok &= parse_rate(pj, "cached_input", false, &price->cached_input_nusd_per_mtok, where, errs);
    ok &= parse_rate(pj, "cache_write", false, &price->cache_write_nusd_per_mtok, where, errs);
    json_t *tier = json_object_get(pj, "long_context");
    if (tier) {
        if (!json_is_object(tier)) {
            lgw_buf_printf(errs, "%s: \"long_context\" must be an object\n", where);
            return false;
        }
        ok &= lgw_catalog_check_keys(tier, tier_keys, where, errs);
        ok &= parse_int(tier, "above_input_tokens", 1, MAX_CONTEXT, &price->long_above_tokens, where, errs);
        ok &= parse_rate(tier, "input", true, &price->long_input_nusd_per_mtok, where, errs);
        ok &= parse_rate(tier, "output", true, &price->long_output_nusd_per_mtok, where, errs);
        price->long_cached_input_nusd_per_mtok = price->long_input_nusd_per_mtok;
        ok &= parse_rate(tier, "cached_input", false, &price->long_cached_input_nusd_per_mtok, where, errs);
        ok &= parse_rate(tier, "cache_write", false, &price->long_cache_write_nusd_per_mtok, where, errs);
    }
    if (!json_is_string(source) || !json_object_get(sources, json_string_value(source))) {
        lgw_buf_printf(errs, "%s: a priced model needs \"source\", a key of the catalog's \"sources\"\n", where);
        ok = false;
    }
    price->known = ok;
    return ok;
}

static bool parse_caps(json_t *caps, const char *where, struct lgw_model_info *m, struct lgw_buf *errs)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"streaming", LGW_CAP_STREAMING},
                 {"tools", LGW_CAP_TOOLS},
                 {"vision", LGW_CAP_VISION},
                 {"json_mode", LGW_CAP_JSON_MODE}};
    int kinds = 0;
    size_t i;
    json_t *c;
    if (!json_is_array(caps)) {
        lgw_buf_printf(errs, "%s: \"capabilities\" must be an array\n", where);
        return false;
    }
    json_array_foreach(caps, i, c) {
        const char *s = json_string_value(c);
        bool known = false;
        if (s && strcmp(s, "chat") == 0) {
            m->kind = LGW_JOB_CHAT;
            kinds++;
            known = true;
        } else if (s && strcmp(s, "embeddings") == 0) {
            m->kind = LGW_JOB_EMBEDDINGS;
            kinds++;
            known = true;
        }
        for (size_t k = 0; s && k < sizeof(names) / sizeof(names[0]); k++)
            if (strcmp(s, names[k].name) == 0) {
                m->caps |= names[k].bit;
                known = true;
            }
        if (!known) {
            lgw_buf_printf(errs, "%s: unknown capability \"%.32s\"\n", where, s ? s : "(not a string)");
            return false;
        }
    }
    if (kinds != 1) {
        lgw_buf_printf(errs, "%s: capabilities must hold exactly one of \"chat\" and \"embeddings\"\n", where);
        return false;
    }
    return true;
}

/* "YYYY-MM-DD", a real calendar date, into the number YYYYMMDD (which orders like the dates). */
static bool parse_date(const char *s, int *out)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    int v[3] = {0, 0, 0};
    static const int at[3] = {0, 5, 8}, len[3] = {4, 2, 2};
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < len[k]; j++) {
            char c = s[at[k] + j];
            if (c < '0' || c > '9')
                return false;
            v[k] = v[k] * 10 + (c - '0');
        }
    int y = v[0], mo = v[1], d = v[2];
    if (y < 1970 || mo < 1 || mo > 12 || d < 1)
        return false;
    bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    if (d > mdays[mo - 1] + (mo == 2 && leap))
        return false;
    *out = y * 10000 + mo * 100 + d;
    return true;
}

/* The model's lifecycle fields. A retirement date needs a cited source, as a price does; a successor is
 * checked once every model is known (check_successors). JSON null counts as absent, so an override can
 * lift a retirement with "retired": null. */
static bool parse_life(json_t *mj, json_t *sources, const char *where, struct model_life *life, struct lgw_buf *errs)
{
    json_t *r = json_object_get(mj, "retired");
    json_t *succ = json_object_get(mj, "successor");
    json_t *src = json_object_get(mj, "retired_source");
    bool ok = true;
    memset(life, 0, sizeof(*life));
    if (json_is_null(r))
        r = NULL;
    if (json_is_null(succ))
        succ = NULL;
    if (json_is_null(src))
        src = NULL;
    if (!r) {
        if (succ || src) {
            lgw_buf_printf(errs, "%s: \"successor\" and \"retired_source\" belong to a retired model (one with "
                                 "\"retired\")\n", where);
            return false;
        }
        return true;
    }
    if (!json_is_string(r) || !parse_date(json_string_value(r), &life->retired_on)) {
        lgw_buf_printf(errs, "%s: \"retired\" must be a date written YYYY-MM-DD\n", where);
        ok = false;
    }
    life->retired = json_string_value(r);
    if (succ && (!json_is_string(succ) || !lgw_catalog_name_ok(json_string_value(succ)))) {
        lgw_buf_printf(errs, "%s: \"successor\" must be a model name\n", where);
        ok = false;
    }
    life->successor = json_string_value(succ);
    if (!json_is_string(src) || !json_object_get(sources, json_string_value(src))) {
        lgw_buf_printf(errs, "%s: a retired model needs \"retired_source\", a key of the catalog's \"sources\" "
                             "citing the date\n", where);
        ok = false;
    }
    return ok;
}

/* One model object into m and life (strings borrowed from the document). */
bool lgw_catalog_parse_model(json_t *mj, json_t *sources, size_t index, struct lgw_model_info *m, json_t **aliases,
                             struct model_life *life, struct lgw_buf *errs)
{
    char where[192];
    const char *id = json_string_value(json_object_get(mj, "id"));
    const char *prov = json_string_value(json_object_get(mj, "provider"));
    snprintf(where, sizeof(where), "models[%zu] (%.64s/%.64s)", index, prov ? prov : "?", id ? id : "?");
    memset(m, 0, sizeof(*m));
    memset(life, 0, sizeof(*life));
    *aliases = NULL;
    if (!json_is_object(mj)) {
        lgw_buf_printf(errs, "models[%zu]: must be an object\n", index);
        return false;
    }
    bool ok = lgw_catalog_check_keys(mj, model_keys, where, errs);
    if (!id || !lgw_catalog_name_ok(id)) {
        lgw_buf_printf(errs, "%s: \"id\" must be a name of 1..%d printable bytes without spaces\n", where, MAX_NAME);
        return false;
    }
    if (!prov || !lgw_provider_by_name(prov)) {
        lgw_buf_printf(errs, "%s: \"provider\" must name a provider adapter (openai, anthropic, gemini, mistral, "
                             "compat, echo)\n", where);
        return false;
    }
    m->id = id;
    m->provider = prov;
    json_t *up = json_object_get(mj, "upstream");
    if (up && (!json_is_string(up) || !lgw_catalog_name_ok(json_string_value(up)))) {
        lgw_buf_printf(errs, "%s: \"upstream\" must be a model name\n", where);
        ok = false;
    }
    m->upstream = json_string_value(up);
    json_t *al = json_object_get(mj, "aliases");
    if (al) {
        size_t i;
        json_t *a;
        bool good = json_is_array(al);
        json_array_foreach(al, i, a) good &= json_is_string(a) && lgw_catalog_name_ok(json_string_value(a));
        if (!good) {
            lgw_buf_printf(errs, "%s: \"aliases\" must be an array of model names\n", where);
            ok = false;
        }
        *aliases = al;
    }
    if (!parse_caps(json_object_get(mj, "capabilities"), where, m, errs))
        return false;
    if (json_object_get(mj, "context_window"))
        ok &= parse_int(mj, "context_window", 1, MAX_CONTEXT, &m->context_window, where, errs);
    else if (strcmp(prov, "compat") != 0) {
        lgw_buf_printf(errs, "%s: \"context_window\" is required\n", where);
        ok = false;
    }
    json_t *mo = json_object_get(mj, "max_output_tokens");
    if (m->kind == LGW_JOB_EMBEDDINGS && mo) {
        lgw_buf_printf(errs, "%s: an embedding model has no \"max_output_tokens\"\n", where);
        ok = false;
    } else if (mo) {
        ok &= parse_int(mj, "max_output_tokens", 1, MAX_CONTEXT, &m->max_output_tokens, where, errs);
    }
    m->latency_ms = 1000;
    if (json_object_get(mj, "latency_ms"))
        ok &= parse_int(mj, "latency_ms", 1, 3600000, &m->latency_ms, where, errs);
    ok &= parse_price(json_object_get(mj, "price"), sources, json_object_get(mj, "source"), where, &m->price, errs);
    ok &= parse_life(mj, sources, where, life, errs);
    return ok;
}
