/* catalog.c - loading, merging and validating the model catalog (see catalog.h). */
#include "routing/catalog.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "common/log.h"
#include "providers/provider.h"
#include "routing/catalog_int.h"

/* ------------------------------------------------------------------------------------------------ merge */

static json_t *find_model(json_t *models, const char *provider, const char *id, size_t *index)
{
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m) {
        const char *p = json_string_value(json_object_get(m, "provider"));
        const char *d = json_string_value(json_object_get(m, "id"));
        if (p && d && strcmp(p, provider) == 0 && strcmp(d, id) == 0) {
            *index = i;
            return m;
        }
    }
    return NULL;
}

/* Applies the operator's document to doc (a deep copy the caller owns). */
static bool merge_overrides(json_t *doc, json_t *ov, struct lgw_buf *errs)
{
    if (!json_is_object(ov)) {
        lgw_buf_puts(errs, "overrides: the document must be a JSON object\n");
        return false;
    }
    bool ok = lgw_catalog_check_keys(ov, lgw_catalog_doc_keys, "overrides", errs);
    json_t *schema = json_object_get(ov, "schema");
    if (schema && json_integer_value(schema) != LGW_CATALOG_SCHEMA) {
        lgw_buf_printf(errs, "overrides: \"schema\" must be %d\n", LGW_CATALOG_SCHEMA);
        ok = false;
    }
    const char *base_version = json_string_value(json_object_get(doc, "catalog_version"));
    const char *ov_version = json_string_value(json_object_get(ov, "catalog_version"));
    char version[256];
    snprintf(version, sizeof(version), "%s+%s", base_version ? base_version : "?", ov_version ? ov_version : "local");
    json_object_set_new(doc, "catalog_version", json_string(version));

    const char *section[] = {"sources", "groups", "fallbacks"};
    for (size_t s = 0; s < 3; s++) {
        json_t *o = json_object_get(ov, section[s]);
        if (!o)
            continue;
        if (!json_is_object(o)) {
            lgw_buf_printf(errs, "overrides: \"%s\" must be an object\n", section[s]);
            ok = false;
            continue;
        }
        json_t *target = json_object_get(doc, section[s]);
        if (!json_is_object(target)) {
            target = json_object();
            json_object_set_new(doc, section[s], target);
        }
        json_object_update(target, o); /* a group or chain is replaced by name as a whole */
    }
    json_t *models = json_object_get(ov, "models");
    if (!models)
        return ok;
    if (!json_is_array(models)) {
        lgw_buf_puts(errs, "overrides: \"models\" must be an array\n");
        return false;
    }
    json_t *base = json_object_get(doc, "models");
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m) {
        const char *p = json_string_value(json_object_get(m, "provider"));
        const char *id = json_string_value(json_object_get(m, "id"));
        if (!json_is_object(m) || !p || !id) {
            lgw_buf_printf(errs, "overrides: models[%zu] needs \"provider\" and \"id\" to say which model it is\n", i);
            ok = false;
            continue;
        }
        size_t at;
        json_t *existing = find_model(base, p, id, &at);
        if (json_is_true(json_object_get(m, "disabled"))) {
            if (existing)
                json_array_remove(base, at);
            continue;
        }
        if (existing) /* field by field, into price and its tier too: an override names only what it changes */
            json_object_update_recursive(existing, m);
        else
            json_array_append(base, m);
    }
    return ok;
}

/* The OpenAI-compatible server's models from LLMGW_COMPAT_MODELS, unless the documents already describe
 * them. Their limits and capabilities are the server's business: no window check, every capability. */
static void add_compat(json_t *doc, const struct lgw_config *cfg)
{
    json_t *models = json_object_get(doc, "models");
    for (size_t i = 0; cfg && i < cfg->ncompat; i++) {
        const struct lgw_model_info *c = &cfg->compat[i];
        size_t at;
        if (find_model(models, "compat", c->id, &at))
            continue;
        json_t *m = json_pack("{s:s, s:s, s:s, s:I}", "id", c->id, "provider", "compat", "upstream",
                              c->upstream ? c->upstream : c->id, "latency_ms", (json_int_t)500);
        json_object_set_new(m, "capabilities",
                            c->kind == LGW_JOB_EMBEDDINGS
                                ? json_pack("[s]", "embeddings")
                                : json_pack("[s,s,s,s,s]", "chat", "streaming", "tools", "vision", "json_mode"));
        if (c->price.known) {
            char in[32], out[32], cached[32];
            lgw_cost_format_usd(c->price.input_nusd_per_mtok, in, sizeof(in));
            lgw_cost_format_usd(c->price.output_nusd_per_mtok, out, sizeof(out));
            lgw_cost_format_usd(c->price.cached_input_nusd_per_mtok, cached, sizeof(cached));
            json_object_set_new(m, "price", json_pack("{s:s, s:s, s:s}", "input", in, "output", out, "cached_input",
                                                      cached));
            json_object_set_new(m, "source", json_string("operator"));
        }
        json_array_append_new(models, m);
    }
    json_t *sources = json_object_get(doc, "sources");
    if (cfg && cfg->ncompat && json_is_object(sources) && !json_object_get(sources, "operator"))
        json_object_set_new(sources, "operator", json_string("The operator's configuration (LLMGW_COMPAT_MODELS)."));
}

/* ----------------------------------------------------------------------------------------------- lookup */

static bool has_name(const struct lgw_catalog *cat, size_t i, const char *name)
{
    if (strcmp(cat->models[i].id, name) == 0)
        return true;
    size_t k;
    json_t *a;
    json_array_foreach(cat->aliases[i], k, a) if (strcmp(json_string_value(a), name) == 0) return true;
    return false;
}

/* Splits "provider/name" when the prefix is a provider adapter's name. */
static const char *split_provider(const char *name, char *prov, size_t provsz)
{
    prov[0] = '\0';
    const char *slash = strchr(name, '/');
    if (!slash || (size_t)(slash - name) >= provsz)
        return name;
    memcpy(prov, name, (size_t)(slash - name));
    prov[slash - name] = '\0';
    if (!lgw_provider_by_name(prov)) {
        prov[0] = '\0';
        return name;
    }
    return slash + 1;
}

/* The models of cat->models[from, to) that name denotes. */
static size_t resolve_in(const struct lgw_catalog *cat, const char *name, size_t from, size_t to, bool any_kind,
                         enum lgw_job_kind kind, const struct lgw_model_info **out, size_t max)
{
    char prov[32];
    const char *bare = split_provider(name, prov, sizeof(prov));
    size_t n = 0;
    for (size_t i = from; i < to; i++) {
        const struct lgw_model_info *m = &cat->models[i];
        if ((!any_kind && m->kind != kind) || (prov[0] && strcmp(m->provider, prov) != 0) || !has_name(cat, i, bare))
            continue;
        if (n < max)
            out[n] = m;
        n++;
    }
    return n;
}

/* The served models name denotes (retired ones are never candidates). */
static size_t resolve_any(const struct lgw_catalog *cat, const char *name, bool any_kind, enum lgw_job_kind kind,
                          const struct lgw_model_info **out, size_t max)
{
    return resolve_in(cat, name, 0, cat->n, any_kind, kind, out, max);
}

/* The retired model name denotes (any kind), or NULL. */
static const struct lgw_model_info *find_retired(const struct lgw_catalog *cat, const char *name)
{
    const struct lgw_model_info *found[1];
    return resolve_in(cat, name, cat->n, cat->nall, true, LGW_JOB_CHAT, found, 1) ? found[0] : NULL;
}

static const struct model_life *life_of(const struct lgw_catalog *cat, const struct lgw_model_info *m)
{
    return &cat->life[m - cat->models];
}

size_t lgw_catalog_resolve(const struct lgw_catalog *cat, const char *name, enum lgw_job_kind kind,
                           const struct lgw_model_info **out, size_t max)
{
    size_t n = resolve_any(cat, name, false, kind, out, max);
    return n < max ? n : max;
}

static const struct named_list *find_list(const struct named_list *lists, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(lists[i].name, name) == 0)
            return &lists[i];
    return NULL;
}

const struct lgw_model_info *const *lgw_catalog_group(const struct lgw_catalog *cat, const char *name, size_t *n)
{
    const struct named_list *l = find_list(cat->groups, cat->ngroups, name);
    *n = l ? l->n : 0;
    return l ? l->members : NULL;
}

const struct lgw_model_info *const *lgw_catalog_fallbacks(const struct lgw_catalog *cat,
                                                          const struct lgw_model_info *model, size_t *n)
{
    /* A chain keyed "provider/id" is more specific than one keyed by a bare name: it wins. */
    const struct named_list *found = NULL;
    for (size_t i = 0; i < cat->nfallbacks; i++) {
        const struct named_list *l = &cat->fallbacks[i];
        for (size_t k = 0; k < l->nkeys; k++)
            if (l->keys[k] == model && (!found || strchr(l->name, '/')))
                found = l;
    }
    *n = found ? found->n : 0;
    return found ? found->members : NULL;
}

const char *lgw_catalog_group_name(const struct lgw_catalog *cat, size_t i)
{
    return i < cat->ngroups ? cat->groups[i].name : NULL;
}

bool lgw_catalog_retired(const struct lgw_catalog *cat, const char *name, enum lgw_job_kind kind,
                         struct lgw_retirement *out)
{
    const struct lgw_model_info *found[1];
    if (resolve_in(cat, name, cat->n, cat->nall, false, kind, found, 1) == 0)
        return false;
    const struct model_life *life = life_of(cat, found[0]);
    out->model = found[0];
    out->date = life->retired;
    out->successor = life->succ;
    return true;
}

const char *lgw_catalog_version(const struct lgw_catalog *cat)
{
    return cat->version;
}

size_t lgw_catalog_count(const struct lgw_catalog *cat)
{
    return cat->n;
}

const struct lgw_model_info *lgw_catalog_at(const struct lgw_catalog *cat, size_t i)
{
    return i < cat->n ? &cat->models[i] : NULL;
}

/* ------------------------------------------------------------------------------------------- validation */

/* Names must identify one model per provider: no id or alias may be another model's id or alias. */
static bool check_unique(const struct lgw_catalog *cat, struct lgw_buf *errs)
{
    bool ok = true;
    for (size_t i = 0; i < cat->nall; i++)
        for (size_t j = i + 1; j < cat->nall; j++) {
            if (strcmp(cat->models[i].provider, cat->models[j].provider) != 0)
                continue;
            const char *clash = has_name(cat, j, cat->models[i].id) ? cat->models[i].id : NULL;
            size_t k;
            json_t *a;
            json_array_foreach(cat->aliases[i], k, a) if (!clash && has_name(cat, j, json_string_value(a))) clash =
                json_string_value(a);
            if (clash) {
                lgw_buf_printf(errs, "models: \"%s/%.64s\" names two models (%s and %s)\n", cat->models[i].provider,
                               clash, cat->models[i].id, cat->models[j].id);
                ok = false;
            }
        }
    return ok;
}

/* Moves the retired models (date on or before today) behind the served ones, keeping the document's order
 * within each part. Runs before anything takes a pointer into cat->models. */
static void partition(struct lgw_catalog *cat, int today)
{
    size_t nall = cat->n, k = 0, served = 0;
    struct lgw_model_info *models = lgw_calloc(nall + 1, sizeof(*models));
    json_t **aliases = lgw_calloc(nall + 1, sizeof(*aliases));
    struct model_life *life = lgw_calloc(nall + 1, sizeof(*life));
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < nall; i++) {
            bool gone = cat->life[i].retired && cat->life[i].retired_on <= today;
            if (gone != (pass == 1))
                continue;
            models[k] = cat->models[i];
            aliases[k] = cat->aliases[i];
            life[k++] = cat->life[i];
            served += pass == 0;
        }
    free(cat->models);
    free(cat->aliases);
    free(cat->life);
    cat->models = models;
    cat->aliases = aliases;
    cat->life = life;
    cat->n = served;
    cat->nall = nall;
}

/* Every successor names one model of the same provider and kind that carries no retirement date at all, not
 * even a future one: then no date passing can make a valid catalog invalid, and a retired model's advice
 * never points at another retired model. */
static bool check_successors(struct lgw_catalog *cat, struct lgw_buf *errs)
{
    bool ok = true;
    for (size_t i = 0; i < cat->nall; i++) {
        struct model_life *life = &cat->life[i];
        const struct lgw_model_info *m = &cat->models[i];
        if (!life->successor)
            continue;
        char ref[2 * MAX_NAME + 2];
        const struct lgw_model_info *found[2];
        snprintf(ref, sizeof(ref), "%s/%s", m->provider, life->successor);
        size_t n = resolve_in(cat, ref, 0, cat->nall, false, m->kind, found, 2);
        if (n != 1 || found[0] == m) {
            lgw_buf_printf(errs, "models: %s/%s: \"successor\" \"%.64s\" must name another %s model of provider %s "
                                 "in the catalog\n", m->provider, m->id, life->successor, lgw_job_kind_name(m->kind),
                           m->provider);
            ok = false;
            continue;
        }
        const struct model_life *sl = life_of(cat, found[0]);
        if (sl->retired) {
            lgw_buf_printf(errs, "models: %s/%s: \"successor\" %s is retired itself (\"retired\": \"%s\"); name the "
                                 "model that replaces it\n", m->provider, m->id, found[0]->id, sl->retired);
            ok = false;
            continue;
        }
        life->succ = found[0];
    }
    return ok;
}

/* A retired model named by a group or a chain is left out, with a warning, rather than rejected: the
 * catalog is decided against the date, and a deployment must not stop loading because a day passed. */
static void warn_retired(const struct lgw_catalog *cat, const char *section, const char *name,
                         const struct lgw_model_info *m, const char *what)
{
    const struct model_life *life = life_of(cat, m);
    LGW_WARN("catalog", "%s: \"%.64s\": %s/%s was retired on %s; %s%s%s", section, name, m->provider, m->id,
             life->retired, what, life->succ ? "; its successor is " : "", life->succ ? life->succ->id : "");
}

/* A group or chain: a list of "provider/id" each naming exactly one model. */
static bool build_lists(struct lgw_catalog *cat, json_t *obj, const char *section, bool groups,
                        struct named_list **out, size_t *nout, struct lgw_buf *errs)
{
    bool ok = true;
    *out = NULL;
    *nout = 0;
    if (!obj)
        return true;
    if (!json_is_object(obj)) {
        lgw_buf_printf(errs, "\"%s\" must be an object\n", section);
        return false;
    }
    *out = lgw_calloc(json_object_size(obj) + 1, sizeof(**out));
    const char *name;
    json_t *arr;
    json_object_foreach(obj, name, arr) {
        const struct lgw_model_info *probe[1];
        if (!lgw_catalog_name_ok(name)) {
            lgw_buf_printf(errs, "%s: \"%.64s\" is not a valid name\n", section, name);
            ok = false;
            continue;
        }
        if (groups && (strchr(name, '/') || resolve_any(cat, name, true, LGW_JOB_CHAT, probe, 1) > 0 ||
                       find_retired(cat, name))) {
            lgw_buf_printf(errs, "groups: \"%.64s\" is also a model name; a group needs a name of its own\n", name);
            ok = false;
            continue;
        }
        size_t nkeys = groups ? 0 : resolve_any(cat, name, true, LGW_JOB_CHAT, probe, 1);
        const struct lgw_model_info *gone = !groups && nkeys == 0 ? find_retired(cat, name) : NULL;
        if (gone) { /* a request for it is answered model_retired: the chain can never run */
            warn_retired(cat, section, name, gone, "its chain is ignored");
            continue;
        }
        if (!groups && nkeys == 0) {
            lgw_buf_printf(errs, "fallbacks: \"%.64s\" is not a model in the catalog\n", name);
            ok = false;
            continue;
        }
        if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > MAX_MODELS) {
            lgw_buf_printf(errs, "%s: \"%.64s\" must be a non-empty array of \"provider/model\" names\n", section, name);
            ok = false;
            continue;
        }
        struct named_list *l = &(*out)[(*nout)++];
        l->name = name;
        if (nkeys) {
            l->keys = lgw_calloc(nkeys, sizeof(*l->keys));
            l->nkeys = resolve_any(cat, name, true, LGW_JOB_CHAT, l->keys, nkeys);
        }
        l->members = lgw_calloc(json_array_size(arr), sizeof(*l->members));
        size_t i;
        json_t *mv;
        json_array_foreach(arr, i, mv) {
            const char *ref = json_string_value(mv);
            const struct lgw_model_info *found[2];
            char prov[32];
            size_t n = 0;
            if (ref && (split_provider(ref, prov, sizeof(prov)), prov[0]))
                n = resolve_any(cat, ref, true, LGW_JOB_CHAT, found, 2);
            const struct lgw_model_info *was = n == 0 && ref && prov[0] ? find_retired(cat, ref) : NULL;
            if (was) {
                warn_retired(cat, section, name, was, "left out");
                continue;
            }
            if (n != 1) {
                lgw_buf_printf(errs, "%s: \"%.64s\" member %zu (\"%.64s\") must be \"provider/model\" naming one "
                               "catalog model\n", section, name, i, ref ? ref : "not a string");
                ok = false;
                continue;
            }
            if (l->n > 0 && found[0]->kind != l->members[0]->kind) {
                lgw_buf_printf(errs, "%s: \"%.64s\" mixes chat and embedding models\n", section, name);
                ok = false;
                continue;
            }
            l->members[l->n++] = found[0];
        }
    }
    return ok;
}

static void catalog_free(struct lgw_catalog *cat)
{
    for (size_t i = 0; i < cat->ngroups; i++)
        free(cat->groups[i].members);
    for (size_t i = 0; i < cat->nfallbacks; i++) {
        free(cat->fallbacks[i].members);
        free(cat->fallbacks[i].keys);
    }
    free(cat->groups);
    free(cat->fallbacks);
    free(cat->models);
    free(cat->aliases);
    free(cat->life);
    json_decref(cat->doc);
    free(cat);
}

/* Today's date in UTC as YYYYMMDD: providers state retirement dates as calendar days, and UTC keeps every
 * process of a deployment on the same day. */
static int today_utc(void)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

int lgw_catalog_build(json_t *base, json_t *overrides, const struct lgw_config *cfg, struct lgw_catalog **out,
                      struct lgw_buf *errs)
{
    return lgw_catalog_build_at(base, overrides, cfg, today_utc(), out, errs);
}

int lgw_catalog_build_at(json_t *base, json_t *overrides, const struct lgw_config *cfg, int today,
                         struct lgw_catalog **out, struct lgw_buf *errs)
{
    *out = NULL;
    if (!json_is_object(base)) {
        lgw_buf_puts(errs, "catalog: the document must be a JSON object\n");
        return LGW_ERR(CONFIG);
    }
    struct lgw_catalog *cat = lgw_calloc(1, sizeof(*cat));
    atomic_init(&cat->refs, 1);
    cat->doc = json_deep_copy(base);
    bool ok = lgw_catalog_check_keys(cat->doc, lgw_catalog_doc_keys, "catalog", errs);
    if (json_integer_value(json_object_get(cat->doc, "schema")) != LGW_CATALOG_SCHEMA) {
        lgw_buf_printf(errs, "catalog: \"schema\" must be %d\n", LGW_CATALOG_SCHEMA);
        ok = false;
    }
    if (!json_is_string(json_object_get(cat->doc, "catalog_version"))) {
        lgw_buf_puts(errs, "catalog: \"catalog_version\" (a string) is required\n");
        ok = false;
    }
    json_t *sources = json_object_get(cat->doc, "sources");
    if (!json_is_object(sources)) {
        sources = json_object();
        json_object_set_new(cat->doc, "sources", sources);
    }
    json_t *models = json_object_get(cat->doc, "models");
    if (!json_is_array(models)) {
        lgw_buf_puts(errs, "catalog: \"models\" must be an array\n");
        ok = false;
        models = json_array();
        json_object_set_new(cat->doc, "models", models);
    }
    if (overrides)
        ok &= merge_overrides(cat->doc, overrides, errs);
    add_compat(cat->doc, cfg);
    if (json_array_size(models) > MAX_MODELS) {
        lgw_buf_printf(errs, "catalog: more than %d models\n", MAX_MODELS);
        ok = false;
    }
    cat->version = json_string_value(json_object_get(cat->doc, "catalog_version"));
    if (ok) {
        size_t nm = json_array_size(models);
        cat->models = lgw_calloc(nm + 1, sizeof(*cat->models));
        cat->aliases = lgw_calloc(nm + 1, sizeof(*cat->aliases));
        cat->life = lgw_calloc(nm + 1, sizeof(*cat->life));
        size_t i;
        json_t *mj;
        json_array_foreach(models, i, mj) {
            if (json_is_true(json_object_get(mj, "disabled")))
                continue;
            if (lgw_catalog_parse_model(mj, sources, i, &cat->models[cat->n], &cat->aliases[cat->n], &cat->life[cat->n], errs))
                cat->n++;
            else
                ok = false;
        }
        cat->nall = cat->n;
        ok = ok && check_unique(cat, errs);
        if (ok)
            partition(cat, today);
        ok = ok && check_successors(cat, errs);
        ok = ok && build_lists(cat, json_object_get(cat->doc, "groups"), "groups", true, &cat->groups, &cat->ngroups,
                               errs);
        ok = ok && build_lists(cat, json_object_get(cat->doc, "fallbacks"), "fallbacks", false, &cat->fallbacks,
                               &cat->nfallbacks, errs);
    }
    if (!ok) {
        catalog_free(cat);
        return LGW_ERR(CONFIG);
    }
    *out = cat;
    return LGW_OK;
}

static json_t *load_file(const char *path, const char *what, struct lgw_buf *errs)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        lgw_buf_printf(errs, "%s %s: %s (line %d)\n", what, path, jerr.text, jerr.line);
    return doc;
}

int lgw_catalog_load(const struct lgw_config *cfg, struct lgw_catalog **out, struct lgw_buf *errs)
{
    json_error_t jerr;
    *out = NULL;
    json_t *base = cfg->catalog_file[0] ? load_file(cfg->catalog_file, "catalog", errs)
                                        : json_loads((const char *)lgw_catalog_builtin_json, JSON_REJECT_DUPLICATES, &jerr);
    if (!base) {
        if (!cfg->catalog_file[0])
            lgw_buf_printf(errs, "built-in catalog: %s (line %d)\n", jerr.text, jerr.line);
        return LGW_ERR(CONFIG);
    }
    json_t *ov = NULL;
    if (cfg->catalog_overrides[0] && !(ov = load_file(cfg->catalog_overrides, "catalog overrides", errs))) {
        json_decref(base);
        return LGW_ERR(CONFIG);
    }
    int rc = lgw_catalog_build(base, ov, cfg, out, errs);
    json_decref(base);
    json_decref(ov);
    return rc;
}

struct lgw_catalog *lgw_catalog_ref(struct lgw_catalog *cat)
{
    atomic_fetch_add(&cat->refs, 1);
    return cat;
}

void lgw_catalog_unref(struct lgw_catalog *cat)
{
    if (cat && atomic_fetch_sub(&cat->refs, 1) == 1)
        catalog_free(cat);
}

/* ----------------------------------------------------------------------------------------------- holder */

atomic_uint lgw_catalog_generation;

struct lgw_catalog_holder {
    const struct lgw_config *cfg;
    atomic_uint seen; /* the generation this holder last loaded */
    pthread_mutex_t reload_lock; /* one reload at a time */
    pthread_mutex_t lock; /* guards cur: a reader takes its reference under it, so a swap never frees it early */
    struct lgw_catalog *cur;
};

int lgw_catalog_holder_new(const struct lgw_config *cfg, struct lgw_catalog_holder **out, struct lgw_buf *errs)
{
    struct lgw_catalog *cat;
    *out = NULL;
    int rc = lgw_catalog_load(cfg, &cat, errs);
    if (rc)
        return rc;
    struct lgw_catalog_holder *h = lgw_calloc(1, sizeof(*h));
    h->cfg = cfg;
    atomic_init(&h->seen, atomic_load(&lgw_catalog_generation));
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->reload_lock, NULL);
    h->cur = cat;
    LGW_INFO("catalog", "model catalog %s loaded: %zu models", cat->version, cat->n);
    *out = h;
    return LGW_OK;
}

void lgw_catalog_holder_free(struct lgw_catalog_holder *h)
{
    if (!h)
        return;
    lgw_catalog_unref(h->cur);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->reload_lock);
    free(h);
}

struct lgw_catalog *lgw_catalog_current(struct lgw_catalog_holder *h)
{
    pthread_mutex_lock(&h->lock);
    struct lgw_catalog *cat = lgw_catalog_ref(h->cur);
    pthread_mutex_unlock(&h->lock);
    return cat;
}

void lgw_catalog_holder_refresh(struct lgw_catalog_holder *h)
{
    unsigned gen = atomic_load(&lgw_catalog_generation);
    unsigned seen = atomic_load(&h->seen);
    /* Of the threads that notice the same SIGHUP, the one that moves `seen` reloads. */
    if (seen != gen && atomic_compare_exchange_strong(&h->seen, &seen, gen))
        lgw_catalog_reload(h);
}

int lgw_catalog_reload(struct lgw_catalog_holder *h)
{
    struct lgw_buf errs;
    struct lgw_catalog *cat;
    lgw_buf_init(&errs, 16384);
    pthread_mutex_lock(&h->reload_lock);
    int rc = lgw_catalog_load(h->cfg, &cat, &errs);
    if (rc) {
        /* Under reload_lock: only a reload replaces h->cur, so the version read here stays valid. */
        LGW_ERROR("catalog", "reload failed; keeping catalog %s: %s", h->cur->version, errs.ptr ? errs.ptr : "");
        pthread_mutex_unlock(&h->reload_lock);
        lgw_buf_cleanup(&errs);
        return rc;
    }
    lgw_buf_cleanup(&errs);
    pthread_mutex_lock(&h->lock);
    struct lgw_catalog *old = h->cur;
    h->cur = cat;
    pthread_mutex_unlock(&h->lock);
    LGW_INFO("catalog", "model catalog %s loaded: %zu models (was %s)", cat->version, cat->n, old->version);
    pthread_mutex_unlock(&h->reload_lock);
    lgw_catalog_unref(old);
    return LGW_OK;
}
