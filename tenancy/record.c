/* record.c - validation of key attributes and tenant records (see record.h). */
#include "tenancy/record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/envelope.h"
#include "common/errors.h"

/* Reads exactly n decimal digits at *p. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int lgw_record_parse_time(const char *s, int64_t *ms)
{
    if (!s)
        return LGW_ERR(INVALID);
    const char *p = s;
    int y, mo, d, h, mi, se;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d) ||
        (*p != 'T' && *p != 't' && *p != ' '))
        return LGW_ERR(INVALID);
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' || digits(&p, 2, &se))
        return LGW_ERR(INVALID);
    int64_t frac_ms = 0;
    if (*p == '.') {
        p++;
        int scale = 100, n = 0;
        while (*p >= '0' && *p <= '9') {
            frac_ms += (*p - '0') * scale;
            scale /= 10;
            p++;
            n++;
        }
        if (n == 0)
            return LGW_ERR(INVALID);
    }
    int off_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
            return LGW_ERR(INVALID);
        off_min = sign * (oh * 60 + om);
    } else {
        return LGW_ERR(INVALID); /* a time without a zone means nothing to instances in other zones */
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 || y < 1970)
        return LGW_ERR(INVALID);
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = se};
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return LGW_ERR(INVALID);
    *ms = ((int64_t)t - (int64_t)off_min * 60) * 1000 + frac_ms;
    return LGW_OK;
}

void lgw_record_format_time(int64_t ms, char *out, size_t outsz)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int lgw_record_check_models(const json_t *arr, char *msg, size_t msgsz)
{
    if (!json_is_array(arr)) {
        snprintf(msg, msgsz, "allow_models must be an array of model names.");
        return LGW_ERR(INVALID);
    }
    if (json_array_size(arr) > LGW_ALLOW_MODELS_MAX) {
        snprintf(msg, msgsz, "allow_models may name at most %d models.", LGW_ALLOW_MODELS_MAX);
        return LGW_ERR(INVALID);
    }
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v) {
        const char *s = json_string_value(v);
        if (!s || !s[0] || strlen(s) >= LGW_NAME_MAX) {
            snprintf(msg, msgsz, "allow_models[%zu] must be a model name of 1 to %d characters.", i,
                     LGW_NAME_MAX - 1);
            return LGW_ERR(INVALID);
        }
    }
    return LGW_OK;
}

static int fail(char *msg, size_t msgsz, const char **param, const char *field, const char *text)
{
    snprintf(msg, msgsz, "%s", text);
    if (param)
        *param = field;
    return LGW_ERR(INVALID);
}

int lgw_key_attrs_parse(const json_t *obj, bool strict, struct lgw_key_attrs *out, char *msg, size_t msgsz,
                        const char **param)
{
    static const char *const known[] = {"name", "expires", "expires_ms", "allow_models", "budget", "tenant", NULL};
    memset(out, 0, sizeof(*out));
    if (param)
        *param = NULL;
    if (!json_is_object(obj))
        return fail(msg, msgsz, param, NULL, "The key's settings must be a JSON object.");
    if (strict) {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)obj, k, v) {
            bool ok = false;
            for (const char *const *a = known; *a && !ok; a++)
                ok = strcmp(*a, k) == 0;
            if (!ok) {
                snprintf(msg, msgsz, "Unknown field '%.64s'; a key has name, expires, allow_models and budget.", k);
                if (param)
                    *param = "body";
                return LGW_ERR(INVALID);
            }
        }
    }
    const json_t *name = json_object_get(obj, "name");
    if (name && !json_is_null(name)) {
        const char *s = json_string_value(name);
        if (!s || strlen(s) >= LGW_KEY_NAME_MAX)
            return fail(msg, msgsz, param, "name", "name must be a string of at most 63 characters.");
        for (const char *c = s; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == '"' || *c == '\\')
                return fail(msg, msgsz, param, "name", "name must not contain control characters, quotes or backslashes.");
        lgw_strlcpy(out->name, s, sizeof(out->name));
    }
    const json_t *exp = json_object_get(obj, "expires");
    const json_t *exp_ms = json_object_get(obj, "expires_ms");
    if (exp && !json_is_null(exp)) {
        if (lgw_record_parse_time(json_string_value(exp), &out->expires_ms))
            return fail(msg, msgsz, param, "expires",
                        "expires must be an RFC 3339 time with a zone, e.g. 2027-01-01T00:00:00Z.");
    } else if (exp_ms && !json_is_null(exp_ms)) {
        if (!json_is_integer(exp_ms) || json_integer_value(exp_ms) < 0)
            return fail(msg, msgsz, param, "expires_ms", "expires_ms must be an integer >= 0.");
        out->expires_ms = json_integer_value(exp_ms);
    }
    const json_t *models = json_object_get(obj, "allow_models");
    if (models && !json_is_null(models)) {
        if (lgw_record_check_models(models, msg, msgsz)) {
            if (param)
                *param = "allow_models";
            return LGW_ERR(INVALID);
        }
        out->has_models = true;
        out->nmodels = json_array_size(models);
        out->models = lgw_calloc(out->nmodels + 1, sizeof(char *));
        for (size_t i = 0; i < out->nmodels; i++)
            out->models[i] = lgw_strdup(json_string_value(json_array_get(models, i)));
    }
    const json_t *budget = json_object_get(obj, "budget");
    if (budget && !json_is_null(budget) && !json_is_object(budget))
        return fail(msg, msgsz, param, "budget", "budget must be an object, e.g. {\"day_usd\": 5}.");
    return LGW_OK;
}

void lgw_key_attrs_cleanup(struct lgw_key_attrs *a)
{
    for (size_t i = 0; i < a->nmodels; i++)
        free(a->models[i]);
    free(a->models);
    a->models = NULL;
    a->nmodels = 0;
    a->has_models = false;
}

bool lgw_key_attrs_allows(const struct lgw_key_attrs *a, const char *model)
{
    if (!a->has_models)
        return true;
    for (size_t i = 0; i < a->nmodels; i++)
        if (strcmp(a->models[i], model) == 0)
            return true;
    return false;
}

static bool is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

int lgw_record_check(const char *key, size_t keylen, const json_t *rec, char *msg, size_t msgsz)
{
    if (!json_is_object(rec)) {
        snprintf(msg, msgsz, "not a JSON object");
        return LGW_ERR(INVALID);
    }
    const json_t *v = json_object_get(rec, "v");
    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        snprintf(msg, msgsz, "no version \"v\"");
        return LGW_ERR(INVALID);
    }
    const char *kind = json_string_value(json_object_get(rec, "kind"));
    const char *tenant = json_string_value(json_object_get(rec, "tenant"));
    if (!tenant || lgw_config_check_tenant(tenant, strlen(tenant), NULL)) {
        snprintf(msg, msgsz, "no valid \"tenant\"");
        return LGW_ERR(INVALID);
    }
    if (keylen > 4 && memcmp(key, "key:", 4) == 0) {
        const char *id = json_string_value(json_object_get(rec, "id"));
        if (!kind || strcmp(kind, "key") != 0 || !id || strlen(id) != keylen - 4 || memcmp(id, key + 4, keylen - 4) ||
            strlen(id) >= LGW_KEY_ID_LEN) {
            snprintf(msg, msgsz, "a key record must have kind \"key\" and the id of its record key");
            return LGW_ERR(INVALID);
        }
        const json_t *sha = json_object_get(rec, "sha256");
        if (sha && !is_hex64(json_string_value(sha))) {
            snprintf(msg, msgsz, "sha256 must be 64 lowercase hex digits");
            return LGW_ERR(INVALID);
        }
        const json_t *rev = json_object_get(rec, "revoked");
        if (rev && !json_is_boolean(rev)) {
            snprintf(msg, msgsz, "revoked must be a boolean");
            return LGW_ERR(INVALID);
        }
        struct lgw_key_attrs a;
        int rc = lgw_key_attrs_parse(rec, false, &a, msg, msgsz, NULL);
        lgw_key_attrs_cleanup(&a);
        return rc;
    }
    if (keylen > 7 && memcmp(key, "tenant:", 7) == 0) {
        if (!kind || strcmp(kind, "tenant") != 0 || strlen(tenant) != keylen - 7 ||
            memcmp(tenant, key + 7, keylen - 7)) {
            snprintf(msg, msgsz, "a tenant record must have kind \"tenant\" and the name of its record key");
            return LGW_ERR(INVALID);
        }
        const json_t *models = json_object_get(rec, "allow_models");
        if (models && !json_is_null(models) && lgw_record_check_models(models, msg, msgsz))
            return LGW_ERR(INVALID);
        static const char *const objs[] = {"limits", "budget", NULL};
        for (const char *const *o = objs; *o; o++) {
            const json_t *x = json_object_get(rec, *o);
            if (x && !json_is_null(x) && !json_is_object(x)) {
                snprintf(msg, msgsz, "%s must be an object", *o);
                return LGW_ERR(INVALID);
            }
        }
        return LGW_OK;
    }
    snprintf(msg, msgsz, "the record key is neither key:<id> nor tenant:<name>");
    return LGW_ERR(INVALID);
}
