/* config.c - the settings' parsers (defaults, JSON file, environment) over the table in config_table.c. */
#include "common/config.h"
#include "common/config_int.h"

#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/cost.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/redis.h"

static int set_value(struct lgw_config *cfg, const struct lgw_config_opt *o, const char *val, const char *from,
                     struct lgw_buf *errs)
{
    char *field = (char *)cfg + o->off;
    if (o->type == LGW_OPT_STR) {
        if (strlen(val) >= o->size) {
            lgw_buf_printf(errs, "%s (%s): longer than %zu bytes\n", o->name, from, o->size - 1);
            return LGW_ERR(CONFIG);
        }
        lgw_strlcpy(field, val, o->size);
        return LGW_OK;
    }
    long long v;
    if (lgw_parse_int64(val, strlen(val), &v) || v < o->min || v > o->max) {
        lgw_buf_printf(errs, "%s (%s): expected an integer from %lld to %lld\n", o->name, from,
                       (long long)o->min, (long long)o->max);
        return LGW_ERR(CONFIG);
    }
    *(int64_t *)(void *)field = v;
    return LGW_OK;
}

void lgw_config_defaults(struct lgw_config *cfg)
{
    struct lgw_buf ignore;
    lgw_buf_init(&ignore, 0);
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < lgw_config_nopts; i++)
        set_value(cfg, &lgw_config_opts[i], lgw_config_opts[i].def, "default", &ignore);
    lgw_buf_cleanup(&ignore);
}

_Static_assert(LGW_TENANT_MAX == 64, "the length rule's message below says 63");

int lgw_config_check_tenant(const char *name, size_t len, const char **why)
{
    const char *rule = NULL;
    if (len == 0)
        rule = "a tenant name must not be empty";
    for (size_t i = 0; i < len && !rule; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.'))
            rule = "a tenant name may contain only ASCII letters, digits, '.', '_' and '-'";
    }
    /* After the character rule, so that the length counts characters: the name is ASCII by now. */
    if (!rule && len >= LGW_TENANT_MAX)
        rule = "a tenant name is at most 63 characters long";
    if (why)
        *why = rule;
    return rule ? LGW_ERR(CONFIG) : LGW_OK;
}

/* One "name:sha256hex" entry of setting, p[0..len), the n-th of the list, into k. Returns 0 or LGW_ERR(CONFIG)
 * with the reason in errs. */
static int parse_key_entry(const char *setting, const char *p, size_t len, size_t n, struct lgw_tenant_key *k,
                           struct lgw_buf *errs)
{
    /* The last colon: the digest has none, so a tenant name with one ("bad:tenant") gets the name rule's
     * message rather than a malformed-entry one. */
    const char *colon = memrchr(p, ':', len);
    if (!colon || len - (size_t)(colon - p) - 1 != 64) {
        lgw_buf_printf(errs, "%s: entry %zu is not `%s:<64 hex sha256>`\n", setting, n,
                       strcmp(setting, "tenant_keys") ? "name" : "tenant");
        return LGW_ERR(CONFIG);
    }
    size_t tlen = (size_t)(colon - p);
    const char *why;
    if (lgw_config_check_tenant(p, tlen, &why)) {
        lgw_buf_printf(errs, "%s: entry %zu: %s\n", setting, n, why);
        return LGW_ERR(CONFIG);
    }
    memset(k, 0, sizeof(*k));
    memcpy(k->tenant, p, tlen); /* fits: lgw_config_check_tenant refuses tlen >= LGW_TENANT_MAX */
    for (size_t i = 0; i < 32; i++) {
        int hi = lgw_hex_digit(colon[1 + 2 * i]), lo = lgw_hex_digit(colon[2 + 2 * i]);
        if (hi < 0 || lo < 0) {
            lgw_buf_printf(errs, "%s: entry %zu: the sha256 is not 64 hex digits\n", setting, n);
            return LGW_ERR(CONFIG);
        }
        k->sha256[i] = (unsigned char)((hi << 4) | lo);
    }
    lgw_config_key_id(k->sha256, k->id);
    return LGW_OK;
}

void lgw_config_key_id(const unsigned char sha256[32], char id[LGW_KEY_ID_LEN])
{
    static const char digits[] = "0123456789abcdef";
    memcpy(id, "key_", 4);
    for (int i = 0; i < 6; i++) {
        id[4 + 2 * i] = digits[sha256[i] >> 4];
        id[5 + 2 * i] = digits[sha256[i] & 15];
    }
    id[16] = '\0';
}

/* Parses setting's "name:sha256hex,..." spec into a new array *out (*n entries; freed first). */
static int parse_key_list(const char *setting, const char *spec, struct lgw_tenant_key **out, size_t *nout,
                          struct lgw_buf *errs)
{
    int rc = LGW_OK;
    free(*out);
    *out = NULL;
    *nout = 0;
    size_t n = 0; /* entries seen, empty ones ("a:h," and ",,") not counted */
    const char *p = spec;
    while (*p) {
        size_t len = strcspn(p, ",");
        struct lgw_tenant_key k;
        if (len == 0) {
            /* tolerated */
        } else if (parse_key_entry(setting, p, len, ++n, &k, errs)) {
            rc = LGW_ERR(CONFIG);
        } else if (*nout >= LGW_MAX_TENANT_KEYS) {
            lgw_buf_printf(errs, "%s: more than %d keys\n", setting, LGW_MAX_TENANT_KEYS);
            rc = LGW_ERR(CONFIG);
            break;
        } else {
            *out = lgw_realloc(*out, (*nout + 1) * sizeof(**out));
            (*out)[(*nout)++] = k;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return rc;
}

int lgw_config_parse_keys(struct lgw_config *cfg, const char *spec, struct lgw_buf *errs)
{
    return parse_key_list("tenant_keys", spec, &cfg->keys, &cfg->nkeys, errs);
}

static int load_file(struct lgw_config *cfg, const char *path, struct lgw_buf *errs)
{
    /* Opened here rather than by json_load_file, so that a file that cannot be read is reported with the
     * system's reason ("cannot read x.json: No such file or directory"), not as a JSON error on line -1. */
    FILE *f = fopen(path, "r");
    if (!f) {
        lgw_buf_printf(errs, "cannot read %s: %s\n", path, strerror(errno));
        return LGW_ERR(CONFIG);
    }
    json_error_t jerr;
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    int read_errno = ferror(f) ? errno : 0; /* a directory opens, then fails to read with EISDIR */
    fclose(f);
    if (!root) {
        if (read_errno)
            lgw_buf_printf(errs, "cannot read %s: %s\n", path, strerror(read_errno));
        else
            lgw_buf_printf(errs, "%s:%d: %s\n", path, jerr.line, jerr.text);
        return LGW_ERR(CONFIG);
    }
    int rc = LGW_OK;
    if (!json_is_object(root)) {
        lgw_buf_printf(errs, "%s: top level must be an object\n", path);
        rc = LGW_ERR(CONFIG);
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        const struct lgw_config_opt *o = NULL;
        for (size_t i = 0; i < lgw_config_nopts; i++)
            if (strcmp(lgw_config_opts[i].name, key) == 0)
                o = &lgw_config_opts[i];
        if (!o && strcmp(key, "tenants") != 0) {
            lgw_buf_printf(errs, "%s: unknown setting \"%s\"\n", path, key);
            rc = LGW_ERR(CONFIG);
            continue;
        }
        if (!o && strcmp(key, "tenants") == 0) {
            /* Per-tenant settings: an object of objects, interpreted by the layers that own them (limits/). */
            if (!json_is_object(val)) {
                lgw_buf_printf(errs, "%s: \"tenants\" must be an object\n", path);
                rc = LGW_ERR(CONFIG);
            } else {
                json_decref(cfg->tenants);
                cfg->tenants = json_incref(val);
            }
            continue;
        }
        if (o->secret) {
            lgw_buf_printf(errs, "%s: \"%s\" is a secret; set it with %s only\n", path, key, o->env);
            rc = LGW_ERR(CONFIG);
            continue;
        }
        char num[32];
        const char *text = NULL;
        if (json_is_string(val))
            text = json_string_value(val);
        else if (json_is_integer(val) && o->type == LGW_OPT_INT) {
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(val));
            text = num;
        }
        if (!text) {
            lgw_buf_printf(errs, "%s: \"%s\" has the wrong type\n", path, key);
            rc = LGW_ERR(CONFIG);
            continue;
        }
        if (set_value(cfg, o, text, path, errs))
            rc = LGW_ERR(CONFIG);
    }
out:
    json_decref(root);
    return rc;
}

/* The providers simulate_fail may name: those providers/sim.c stands in for. */
static const char *const simulated_providers[] = {"openai", "anthropic", "gemini", "mistral"};

/* Walks simulate_fail's "provider:pct" entries. With provider NULL, only checks them (a line in errs, when not
 * NULL, for the first bad one). Returns the pct of provider's entry, -1 when it has none, or -2 when the setting
 * is malformed. */
static int simulate_fail_entry(const char *spec, const char *provider, struct lgw_buf *errs)
{
    size_t n = 0;
    for (const char *p = spec; *p;) {
        size_t len = strcspn(p, ",");
        const char *colon = memchr(p, ':', len);
        size_t nlen = colon ? (size_t)(colon - p) : 0;
        bool known = false;
        for (size_t i = 0; colon && i < sizeof(simulated_providers) / sizeof(simulated_providers[0]); i++)
            known = known || (strlen(simulated_providers[i]) == nlen && memcmp(simulated_providers[i], p, nlen) == 0);
        long long pct;
        n++;
        if (!known || lgw_parse_int64(colon + 1, len - nlen - 1, &pct) || pct < 0 || pct > 100) {
            if (errs)
                lgw_buf_printf(errs, "simulate_fail: entry %zu is not `provider:pct` (openai, anthropic, gemini or "
                                     "mistral; 0 to 100)\n", n);
            return -2;
        }
        if (provider && strlen(provider) == nlen && memcmp(provider, p, nlen) == 0)
            return (int)pct;
        p += len + (p[len] == ',');
    }
    return -1;
}

int lgw_config_simulate_failure_pct(const struct lgw_config *cfg, const char *provider)
{
    int pct = simulate_fail_entry(cfg->simulate_fail, provider, NULL);
    return pct >= 0 ? pct : (int)cfg->simulate_failure_pct;
}

int lgw_config_check_role(const struct lgw_config *cfg, const char *role, struct lgw_buf *errs)
{
    if (!cfg->simulate || (role && strcmp(role, "dev") == 0))
        return LGW_OK;
    /* Simulated answers carry made-up text and real prices: never where real clients could get them. */
    lgw_buf_printf(errs, "simulate: simulated providers are for `llmgw dev --simulate` only; %s%s%s refuses them "
                         "(unset LLMGW_SIMULATE, `simulate` in the config file, or --simulate)\n",
                   role ? "the " : "", role ? role : "every production role", role ? " role" : "");
    return LGW_ERR(CONFIG);
}

/* Provider calls leave the machine only over TLS; plain HTTP is for local servers (tests, Ollama, vLLM). */
static bool outbound_url_ok(const char *url)
{
    return strncmp(url, "https://", 8) == 0 || strncmp(url, "http://127.", 11) == 0 ||
           strncmp(url, "http://localhost", 16) == 0 || strncmp(url, "http://[::1]", 12) == 0;
}

int lgw_config_load(struct lgw_config *cfg, const char *path, struct lgw_buf *errs)
{
    int rc = LGW_OK;
    if (!path)
        path = getenv("LLMGW_CONFIG");
    if (path && *path && load_file(cfg, path, errs))
        rc = LGW_ERR(CONFIG);
    for (size_t i = 0; i < lgw_config_nopts; i++) {
        const char *v = getenv(lgw_config_opts[i].env);
        if (v && set_value(cfg, &lgw_config_opts[i], v, lgw_config_opts[i].env, errs))
            rc = LGW_ERR(CONFIG);
    }
    int level;
    if (lgw_log_level_parse(cfg->log_level, &level)) {
        lgw_buf_printf(errs, "log_level: \"%s\" is not debug, info, warn or error\n", cfg->log_level);
        rc = LGW_ERR(CONFIG);
    } else {
        lgw_log_set_level(level);
    }
    if (lgw_config_parse_keys(cfg, cfg->tenant_keys, errs))
        rc = LGW_ERR(CONFIG);
    if (parse_key_list("admin_keys", cfg->admin_keys, &cfg->admin, &cfg->nadmin, errs))
        rc = LGW_ERR(CONFIG);
    struct lgw_redis_url rurl;
    if (cfg->redis_url[0] && lgw_redis_parse_url(cfg->redis_url, &rurl, errs))
        rc = LGW_ERR(CONFIG);
    explicit_bzero(&rurl, sizeof(rurl));
    if (!lgw_pg_url(cfg->database_url) && strncmp(cfg->database_url, "sqlite:", 7) != 0) {
        lgw_buf_puts(errs, "database_url: must start with postgresql:// or sqlite:\n");
        rc = LGW_ERR(CONFIG);
    }
    if (lgw_config_parse_compat_models(cfg, cfg->compat_models, errs))
        rc = LGW_ERR(CONFIG);
    if (strcmp(cfg->limit_redis_down, "local") && strcmp(cfg->limit_redis_down, "open") &&
        strcmp(cfg->limit_redis_down, "closed")) {
        lgw_buf_printf(errs, "limit_redis_down: \"%s\" is not local, open or closed\n", cfg->limit_redis_down);
        rc = LGW_ERR(CONFIG);
    }
    if (strcmp(cfg->compat_auth, "bearer") && strcmp(cfg->compat_auth, "api-key") && strcmp(cfg->compat_auth, "none")) {
        lgw_buf_puts(errs, "compat_auth: must be bearer, api-key or none\n");
        rc = LGW_ERR(CONFIG);
    }
    if (!outbound_url_ok(cfg->openai_base_url)) {
        lgw_buf_puts(errs, "openai_base_url: must be https://, or http:// to a loopback address\n");
        rc = LGW_ERR(CONFIG);
    }
    if (!outbound_url_ok(cfg->anthropic_base_url)) {
        lgw_buf_puts(errs, "anthropic_base_url: must be https://, or http:// to a loopback address\n");
        rc = LGW_ERR(CONFIG);
    }
    if (!outbound_url_ok(cfg->gemini_base_url)) {
        lgw_buf_puts(errs, "gemini_base_url: must be https://, or http:// to a loopback address\n");
        rc = LGW_ERR(CONFIG);
    }
    if (!outbound_url_ok(cfg->mistral_base_url)) {
        lgw_buf_puts(errs, "mistral_base_url: must be https://, or http:// to a loopback address\n");
        rc = LGW_ERR(CONFIG);
    }
    if (strcmp(cfg->kafka_cost_partition, "worker") && strcmp(cfg->kafka_cost_partition, "key")) {
        lgw_buf_puts(errs, "kafka_cost_partition: must be worker or key\n");
        rc = LGW_ERR(CONFIG);
    }
    if (strcmp(cfg->kafka_rebalance, "eager") && strcmp(cfg->kafka_rebalance, "cooperative")) {
        lgw_buf_puts(errs, "kafka_rebalance: must be eager or cooperative\n");
        rc = LGW_ERR(CONFIG);
    }
    if (strcmp(cfg->route_strategy, "cost") && strcmp(cfg->route_strategy, "latency") &&
        strcmp(cfg->route_strategy, "capability") && strcmp(cfg->route_strategy, "round-robin")) {
        lgw_buf_puts(errs, "route_strategy: must be cost, latency, capability or round-robin\n");
        rc = LGW_ERR(CONFIG);
    }
    if (cfg->compat_base_url[0] && !outbound_url_ok(cfg->compat_base_url)) {
        lgw_buf_puts(errs, "compat_base_url: must be https://, or http:// to a loopback address\n");
        rc = LGW_ERR(CONFIG);
    }
    if (cfg->http_connection_memory < cfg->max_header_bytes + 4096) {
        /* Measured with libmicrohttpd 0.9.75: a head reaches the access handler up to the pool size less about
         * 350 bytes (its header records); the answer's own headers need room in the same pool. */
        lgw_buf_printf(errs, "http_connection_memory: must be at least max_header_bytes + 4096 (%lld)\n",
                       (long long)(cfg->max_header_bytes + 4096));
        rc = LGW_ERR(CONFIG);
    }
    int64_t ttl;
    if (lgw_config_cache_tenant_ttl(cfg, NULL, &ttl, errs))
        rc = LGW_ERR(CONFIG);
    if (simulate_fail_entry(cfg->simulate_fail, NULL, errs) == -2)
        rc = LGW_ERR(CONFIG);
    if (cfg->kafka_replication_factor == 0) {
        lgw_buf_puts(errs, "kafka_replication_factor: -1 (the broker's default) or 1 to 32\n");
        rc = LGW_ERR(CONFIG);
    } else if (cfg->kafka_replication_factor > 0 && cfg->kafka_min_insync_replicas > cfg->kafka_replication_factor) {
        /* Every acks=all write would be refused: fewer replicas exist than must have it. */
        lgw_buf_puts(errs, "kafka_min_insync_replicas: more than kafka_replication_factor\n");
        rc = LGW_ERR(CONFIG);
    }
    for (const char *c = cfg->ingress_id; *c; c++) {
        /* The id becomes part of a topic name: Kafka allows [a-zA-Z0-9._-]. */
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
              *c == '_' || *c == '.')) {
            lgw_buf_puts(errs, "ingress_id: only letters, digits, '.', '_' and '-' are allowed\n");
            rc = LGW_ERR(CONFIG);
            break;
        }
    }
    return rc;
}

/* A "cache_ttl_s" member of the config file's tenant object: 0 to 30 days. */
static bool tenant_ttl_ok(json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 2592000;
}

int lgw_config_cache_tenant_ttl(const struct lgw_config *cfg, const char *tenant, int64_t *ttl_s,
                                struct lgw_buf *errs)
{
    *ttl_s = -1;
    /* The config file's "tenants": {"acme": {"cache_ttl_s": 600}} first: where both name a tenant, the file
     * (which holds all of a tenant's settings) wins over the environment's text row. */
    if (!tenant) {
        const char *name;
        json_t *tj;
        json_object_foreach(cfg->tenants, name, tj) {
            json_t *v = json_object_get(tj, "cache_ttl_s");
            if (v && !tenant_ttl_ok(v)) {
                if (errs)
                    lgw_buf_printf(errs, "tenants: %.64s.cache_ttl_s must be an integer from 0 to 2592000\n", name);
                return LGW_ERR(CONFIG);
            }
        }
    } else {
        json_t *v = json_object_get(json_object_get(cfg->tenants, tenant), "cache_ttl_s");
        if (v && tenant_ttl_ok(v)) {
            *ttl_s = json_integer_value(v);
            return LGW_OK;
        }
    }
    const char *p = cfg->cache_tenant_ttl;
    size_t n = 0;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        long long ttl;
        n++;
        if (!colon || lgw_config_check_tenant(p, (size_t)(colon - p), NULL) ||
            lgw_parse_int64(colon + 1, len - (size_t)(colon + 1 - p), &ttl) || ttl < 0 || ttl > 2592000) {
            if (errs)
                lgw_buf_printf(errs, "cache_tenant_ttl: entry %zu is not `tenant:seconds` (0 to 2592000)\n", n);
            return LGW_ERR(CONFIG);
        }
        if (tenant && strlen(tenant) == (size_t)(colon - p) && memcmp(tenant, p, (size_t)(colon - p)) == 0) {
            *ttl_s = ttl;
            return LGW_OK;
        }
        p += len + (end ? 1 : 0);
    }
    return LGW_OK;
}

static void free_compat(struct lgw_config *cfg)
{
    for (size_t i = 0; i < cfg->ncompat; i++) {
        free((char *)cfg->compat[i].id);
        free((char *)cfg->compat[i].upstream);
    }
    free(cfg->compat);
    cfg->compat = NULL;
    cfg->ncompat = 0;
}

void lgw_config_cleanup(struct lgw_config *cfg)
{
    free(cfg->keys);
    cfg->keys = NULL;
    cfg->nkeys = 0;
    free(cfg->admin);
    cfg->admin = NULL;
    cfg->nadmin = 0;
    free_compat(cfg);
    json_decref(cfg->tenants);
    cfg->tenants = NULL;
}

/* "a/b/c" USD per 1M tokens into a price; returns false when malformed. */
static bool parse_prices(const char *s, struct lgw_price *price)
{
    char part[3][32];
    int n = 0;
    const char *p = s;
    while (n < 3) {
        size_t len = strcspn(p, "/");
        if (len == 0 || len >= sizeof(part[0]))
            return false;
        memcpy(part[n], p, len);
        part[n][len] = '\0';
        n++;
        p += len;
        if (*p != '/')
            break;
        p++;
    }
    if (*p || n < 2)
        return false;
    int64_t v[3] = {0, 0, 0};
    for (int i = 0; i < n; i++)
        if (lgw_cost_parse_usd(part[i], &v[i]) || v[i] < 0)
            return false;
    /* USD per 1M tokens, parsed as nano-USD, is exactly nano-USD per 1M tokens. */
    *price = (struct lgw_price){.input_nusd_per_mtok = v[0], .output_nusd_per_mtok = v[1],
                                .cached_input_nusd_per_mtok = n == 3 ? v[2] : v[0], .known = true};
    return true;
}

int lgw_config_parse_compat_models(struct lgw_config *cfg, const char *spec, struct lgw_buf *errs)
{
    int rc = LGW_OK;
    free_compat(cfg);
    const char *p = spec;
    while (*p) {
        size_t len = strcspn(p, ",");
        char entry[512];
        if (len >= sizeof(entry)) {
            lgw_buf_puts(errs, "compat_models: an entry is longer than 511 bytes\n");
            return LGW_ERR(CONFIG);
        }
        memcpy(entry, p, len);
        entry[len] = '\0';
        p += len + (p[len] == ',');
        if (len == 0)
            continue;
        struct lgw_model_info m = {.kind = LGW_JOB_CHAT};
        char *name = entry;
        if (strncmp(name, "embeddings:", 11) == 0) {
            m.kind = LGW_JOB_EMBEDDINGS;
            name += 11;
        }
        char *at = strchr(name, '@');
        if (at) {
            *at = '\0';
            if (!parse_prices(at + 1, &m.price)) {
                lgw_buf_printf(errs, "compat_models: \"%s\" has a bad price (want in/out[/cached] USD per 1M)\n", name);
                rc = LGW_ERR(CONFIG);
                continue;
            }
        }
        char *eq = strchr(name, '=');
        if (eq)
            *eq = '\0';
        const char *upstream = eq ? eq + 1 : name;
        if (!*name || !*upstream || strlen(name) > 127 || strlen(upstream) > 127) {
            lgw_buf_puts(errs, "compat_models: every entry needs a name (and upstream name) of 1..127 bytes\n");
            rc = LGW_ERR(CONFIG);
            continue;
        }
        m.id = lgw_strdup(name);
        m.upstream = lgw_strdup(upstream);
        cfg->compat = lgw_realloc(cfg->compat, (cfg->ncompat + 1) * sizeof(*cfg->compat));
        cfg->compat[cfg->ncompat++] = m;
    }
    return rc;
}


void lgw_config_write_docs(FILE *out)
{
    fprintf(out, "# llmgw configuration\n\n"
                 "Generated by `llmgw config docs` from the table in `common/config_table.c`; do not edit by hand.\n\n"
                 "Settings come from built-in defaults, then the JSON file named by `--config` or `LLMGW_CONFIG` "
                 "(keys as in the first column), then the environment (later wins). Secrets are read from the "
                 "environment only. `llmgw config env` prints the same table as `LLMGW_*=default` lines (secrets named, "
                 "never valued), the source of the Helm chart's ConfigMap (deploy/helm/llmgw).\n\n"
                 "| setting | environment | default | range | description |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < lgw_config_nopts; i++) {
        const struct lgw_config_opt *o = &lgw_config_opts[i];
        char range[64] = "text";
        if (o->type == LGW_OPT_INT)
            snprintf(range, sizeof(range), "%lld..%lld", (long long)o->min, (long long)o->max);
        fprintf(out, "| `%s` | `%s` | `%s` | %s | %s%s |\n", o->name, o->env, o->def, range, o->doc,
                o->secret ? " (secret)" : "");
    }
}

void lgw_config_write_env(FILE *out)
{
    fprintf(out, "# llmgw settings as environment variables, at their defaults. Generated by `llmgw config env` from "
                 "the table in\n# common/config_table.c (docs/CONFIG.md); do not edit by hand. Secrets have no value "
                 "here: each is named on a\n# `# secret: NAME` line, to be set from a secret store.\n");
    for (size_t i = 0; i < lgw_config_nopts; i++) {
        const struct lgw_config_opt *o = &lgw_config_opts[i];
        /* Defaults never hold whitespace, quotes or '#' (tests/unit/test_config.c checks), so the lines read the
         * same to a shell, Docker's --env-file and Compose's .env. */
        fprintf(out, "\n# %s\n", o->doc);
        if (o->secret)
            fprintf(out, "# secret: %s\n", o->env);
        else
            fprintf(out, "%s=%s\n", o->env, o->def);
    }
}
