/* keys.c - `llmgw keys new|list|revoke` (see keys.h). Offline, the configuration is the truth and the tool
 * prints what to change in it; with --admin-url the admin API is, and changes apply without restarts. Keys
 * are printed only by `keys new`, once; list and revoke never see a secret. */
#include "cmd/keys.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/errors.h"
#include "tenancy/record.h"
#include "tenancy/tenancy.h"

#define EXIT_USAGE 2
#define MAX_RESPONSE (4 << 20)

/* ---- the admin API client ---- */

static size_t collect_cb(char *data, size_t size, size_t n, void *opaque)
{
    struct lgw_buf *b = opaque;
    return lgw_buf_append(b, data, size * n) == 0 ? size * n : 0;
}

/* One admin API call: method on base + path with body (NULL: none). Returns 0 with *status and *out (the
 * parsed JSON answer, caller's), or 1 after a message on stderr. */
static int admin_call(const char *base, const char *method, const char *path, const json_t *body, long *status,
                      json_t **out)
{
    *out = NULL;
    const char *key = getenv("LLMGW_ADMIN_KEY");
    if (!key || !key[0]) {
        fprintf(stderr, "llmgw: --admin-url needs the admin key in LLMGW_ADMIN_KEY\n");
        return 1;
    }
    char url[2048], auth[LGW_AUTH_KEY_MAX + 32];
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/')
        blen--;
    snprintf(url, sizeof(url), "%.*s%s", (int)blen, base, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    CURL *curl = curl_easy_init();
    if (!curl) {
        fprintf(stderr, "llmgw: libcurl initialisation failed\n");
        return 1;
    }
    struct curl_slist *hdrs = curl_slist_append(NULL, auth);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    struct lgw_buf resp;
    lgw_buf_init(&resp, MAX_RESPONSE);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_cb);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (text)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
    CURLcode cc = curl_easy_perform(curl);
    int rc = 0;
    if (cc != CURLE_OK) {
        fprintf(stderr, "llmgw: %s %s: %s\n", method, url, curl_easy_strerror(cc));
        rc = 1;
    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
        json_error_t jerr;
        *out = json_loadb(resp.ptr ? resp.ptr : "", resp.len, 0, &jerr);
        if (!*out) {
            fprintf(stderr, "llmgw: %s %s answered %ld without JSON\n", method, url, *status);
            rc = 1;
        } else if (*status >= 300) {
            const char *msg = json_string_value(json_object_get(json_object_get(*out, "error"), "message"));
            fprintf(stderr, "llmgw: the admin API answered %ld: %s\n", *status, msg ? msg : "(no message)");
            json_decref(*out);
            *out = NULL;
            rc = 1;
        }
    }
    free(text);
    lgw_buf_cleanup(&resp);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(curl);
    return rc;
}

/* ---- shared ---- */

/* "a,b" into a JSON array; NULL for NULL. Returns 0 or EXIT_USAGE after a message. */
static int models_array(const char *spec, json_t **out)
{
    *out = NULL;
    if (!spec)
        return 0;
    json_t *arr = json_array();
    const char *p = spec;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n)
            json_array_append_new(arr, json_stringn(p, n));
        p += n;
        if (*p == ',')
            p++;
    }
    char msg[256];
    if (lgw_record_check_models(arr, msg, sizeof(msg))) {
        fprintf(stderr, "llmgw: --models: %s\n", msg);
        json_decref(arr);
        return EXIT_USAGE;
    }
    *out = arr;
    return 0;
}

static int load_config(const char *path, struct lgw_config *cfg)
{
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    lgw_config_defaults(cfg);
    int rc = lgw_config_load(cfg, path, &errs);
    if (rc)
        fprintf(stderr, "llmgw: invalid configuration:\n%s", errs.ptr ? errs.ptr : "");
    lgw_buf_cleanup(&errs);
    return rc ? EXIT_USAGE : 0;
}

static void print_keys(const json_t *list)
{
    printf("%-18s %-20s %-20s %-22s %-8s %s\n", "ID", "TENANT", "NAME", "EXPIRES", "STATE", "ALLOW_MODELS");
    size_t i;
    const json_t *k;
    json_array_foreach(list, i, k) {
        const char *name = json_string_value(json_object_get(k, "name"));
        const char *exp = json_string_value(json_object_get(k, "expires"));
        const json_t *models = json_object_get(k, "allow_models");
        char *m = json_is_array(models) ? json_dumps(models, JSON_COMPACT) : NULL;
        printf("%-18s %-20s %-20s %-22s %-8s %s\n", json_string_value(json_object_get(k, "id")),
               json_string_value(json_object_get(k, "tenant")), name ? name : "-", exp ? exp : "never",
               json_is_true(json_object_get(k, "revoked")) ? "revoked" : "active", m ? m : "(any)");
        free(m);
    }
}

/* ---- keys new ---- */

static int new_admin_key(const char *name)
{
    const char *why;
    if (lgw_config_check_tenant(name, strlen(name), &why)) {
        fprintf(stderr, "llmgw: invalid admin key name '%s': %s\n", name, why);
        return EXIT_USAGE;
    }
    char key[128], hex[65];
    if (lgw_auth_new_key(key, sizeof(key), hex)) {
        fprintf(stderr, "llmgw: could not generate a key\n");
        return 1;
    }
    printf("key: %s\nsha256: %s\n", key, hex);
    fprintf(stderr,
            "Keep the admin key safe (it is shown only now); configure its hash, e.g.\n"
            "  LLMGW_ADMIN_KEYS=%s:%s\n",
            name, hex);
    return 0;
}

int lgw_cmd_keys_new(const struct lgw_keys_opts *o)
{
    if (o->admin_name) {
        if (o->tenant || o->admin_url || o->name || o->expires || o->models) {
            fprintf(stderr, "llmgw: 'keys new --admin NAME' takes no other option: admin keys are configured "
                            "(LLMGW_ADMIN_KEYS), never made through the API\n");
            return EXIT_USAGE;
        }
        return new_admin_key(o->admin_name);
    }
    const char *why;
    if (lgw_config_check_tenant(o->tenant, strlen(o->tenant), &why)) {
        fprintf(stderr, "llmgw: invalid tenant name '%s': %s\n", o->tenant, why);
        return EXIT_USAGE;
    }
    json_t *attrs = json_object(), *models;
    int code = models_array(o->models, &models);
    if (code)
        goto out;
    if (models)
        json_object_set_new(attrs, "allow_models", models);
    if (o->name)
        json_object_set_new(attrs, "name", json_string(o->name));
    if (o->expires)
        json_object_set_new(attrs, "expires", json_string(o->expires));
    char msg[256];
    const char *param;
    struct lgw_key_attrs a;
    int rc = lgw_key_attrs_parse(attrs, true, &a, msg, sizeof(msg), &param);
    lgw_key_attrs_cleanup(&a);
    if (rc) {
        fprintf(stderr, "llmgw: --%s: %s\n", param && strcmp(param, "allow_models") == 0 ? "models" : param, msg);
        code = EXIT_USAGE;
        goto out;
    }
    if (o->admin_url) {
        json_object_set_new(attrs, "tenant", json_string(o->tenant));
        long status;
        json_t *resp;
        if ((code = admin_call(o->admin_url, "POST", "/v1/admin/keys", attrs, &status, &resp)))
            goto out;
        printf("key: %s\nid: %s\n", json_string_value(json_object_get(resp, "key")),
               json_string_value(json_object_get(resp, "id")));
        fprintf(stderr, "Give the key to the tenant (it is shown only now). It works on every instance within "
                        "seconds; no configuration change is needed.\n");
        json_decref(resp);
        goto out;
    }
    char key[128], hex[65], id[LGW_KEY_ID_LEN];
    unsigned char sha[32];
    if (lgw_auth_new_key(key, sizeof(key), hex)) {
        fprintf(stderr, "llmgw: could not generate a key\n");
        code = 1;
        goto out;
    }
    for (int i = 0; i < 32; i++)
        sha[i] = (unsigned char)(lgw_hex_digit(hex[2 * i]) << 4 | lgw_hex_digit(hex[2 * i + 1]));
    lgw_config_key_id(sha, id);
    /* stdout stays the two lines scripts already read; the id (derived from the hash) goes with the advice. */
    printf("key: %s\nsha256: %s\n", key, hex);
    fprintf(stderr,
            "Give the key to the tenant (it is shown only now); configure the hash, e.g.\n"
            "  LLMGW_TENANT_KEYS=%s:%s\n"
            "Its id (not secret; logs, the ledger and `llmgw keys list` name it): %s\n",
            o->tenant, hex, id);
    if (json_object_size(attrs)) {
        json_t *snippet = json_pack("{s:{s:{s:{s:O}}}}", "tenants", o->tenant, "keys", id, attrs);
        char *text = json_dumps(snippet, JSON_INDENT(2));
        fprintf(stderr, "and its attributes in the config file (merge into \"tenants\"):\n%s\n", text);
        free(text);
        json_decref(snippet);
    }
out:
    json_decref(attrs);
    return code;
}

/* ---- keys list ---- */

int lgw_cmd_keys_list(const struct lgw_keys_opts *o)
{
    const char *why;
    if (o->tenant && lgw_config_check_tenant(o->tenant, strlen(o->tenant), &why)) {
        fprintf(stderr, "llmgw: invalid tenant name '%s': %s\n", o->tenant, why);
        return EXIT_USAGE;
    }
    if (o->admin_url) {
        char path[256];
        snprintf(path, sizeof(path), "/v1/admin/keys%s%s", o->tenant ? "?tenant=" : "", o->tenant ? o->tenant : "");
        long status;
        json_t *resp;
        if (admin_call(o->admin_url, "GET", path, NULL, &status, &resp))
            return 1;
        print_keys(json_object_get(resp, "data"));
        json_decref(resp);
        return 0;
    }
    struct lgw_config cfg;
    if (load_config(o->config_path, &cfg)) {
        lgw_config_cleanup(&cfg);
        return EXIT_USAGE;
    }
    struct lgw_tenancy *t = NULL;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    int code = 0;
    if (lgw_tenancy_new(&cfg, &t, &errs)) {
        fprintf(stderr, "llmgw: invalid configuration:\n%s", errs.ptr ? errs.ptr : "");
        code = EXIT_USAGE;
    } else {
        json_t *list = lgw_tenancy_keys_json(t, o->tenant);
        print_keys(list);
        json_decref(list);
        for (size_t i = 0; i < cfg.nadmin; i++)
            printf("%-18s %-20s %-20s\n", cfg.admin[i].id, "(admin)", cfg.admin[i].tenant);
        fprintf(stderr, "From the configuration only; keys made or changed through the admin API: "
                        "llmgw keys list --admin-url URL\n");
    }
    lgw_buf_cleanup(&errs);
    lgw_tenancy_free(t);
    lgw_config_cleanup(&cfg);
    return code;
}

/* ---- keys revoke ---- */

int lgw_cmd_keys_revoke(const struct lgw_keys_opts *o)
{
    /* An id goes into a URL path: the characters ids are made of, nothing that could change the path. */
    size_t idlen = strlen(o->id);
    if (idlen == 0 || idlen >= LGW_KEY_ID_LEN || strspn(o->id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                               "0123456789_-") != idlen) {
        fprintf(stderr, "llmgw: '%s' is not a key id (key_ and 12 hex digits; see 'llmgw keys list')\n", o->id);
        return EXIT_USAGE;
    }
    if (o->admin_url) {
        char path[256];
        snprintf(path, sizeof(path), "/v1/admin/keys/%s", o->id);
        long status;
        json_t *resp;
        if (admin_call(o->admin_url, "DELETE", path, NULL, &status, &resp))
            return 1;
        printf("revoked %s (tenant %s)\n", o->id, json_string_value(json_object_get(resp, "tenant")));
        json_decref(resp);
        return 0;
    }
    struct lgw_config cfg;
    if (load_config(o->config_path, &cfg)) {
        lgw_config_cleanup(&cfg);
        return EXIT_USAGE;
    }
    const struct lgw_tenant_key *k = NULL;
    for (size_t i = 0; i < cfg.nkeys && !k; i++)
        if (strcmp(cfg.keys[i].id, o->id) == 0)
            k = &cfg.keys[i];
    if (!k) {
        fprintf(stderr, "llmgw: no key %s in tenant_keys; a key made through the admin API is revoked with "
                        "--admin-url\n", o->id);
        lgw_config_cleanup(&cfg);
        return 1;
    }
    /* The entries of tenant_keys in their order, without the ones with this key's id. */
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    for (size_t i = 0; i < cfg.nkeys; i++) {
        if (strcmp(cfg.keys[i].id, o->id) == 0)
            continue;
        char hex[65];
        static const char digits[] = "0123456789abcdef";
        for (int j = 0; j < 32; j++) {
            hex[2 * j] = digits[cfg.keys[i].sha256[j] >> 4];
            hex[2 * j + 1] = digits[cfg.keys[i].sha256[j] & 15];
        }
        hex[64] = '\0';
        lgw_buf_printf(&out, "%s%s:%s", out.len ? "," : "", cfg.keys[i].tenant, hex);
    }
    printf("LLMGW_TENANT_KEYS=%s\n", out.ptr ? out.ptr : "");
    fprintf(stderr, "Set tenant_keys to the value above (key %s of tenant %s removed) and restart the ingresses.\n",
            o->id, k->tenant);
    if (json_object_get(json_object_get(json_object_get(cfg.tenants, k->tenant), "keys"), o->id))
        fprintf(stderr, "Also remove tenants.%s.keys.%s from the config file.\n", k->tenant, o->id);
    fprintf(stderr, "Without a restart: llmgw keys revoke %s --admin-url URL\n", o->id);
    lgw_buf_cleanup(&out);
    lgw_config_cleanup(&cfg);
    return 0;
}
