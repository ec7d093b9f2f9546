/* canon.c - canonical requests and cache keys (see canon.h). */
#include "cache/canon.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#include "common/assert.h"
#include "common/digest.h"
#include "common/errors.h"
#include "common/json_write.h"

/* OpenAI's documented defaults of the sampling parameters: a request that leaves one out asks for exactly
 * what one that spells the default asks for. Numbers, written as reals so that 1 and 1.0 agree. */
static const struct {
    const char *name;
    double value;
} CHAT_DEFAULTS[] = {
    {"temperature", 1.0}, {"top_p", 1.0}, {"n", 1.0}, {"presence_penalty", 0.0}, {"frequency_penalty", 0.0},
};

/* Top-level fields that are not part of what the provider is asked: the model is in the key on its own, and
 * "llmgw" (routing strategy and the like) is the gateway's. */
static bool skipped(const char *name)
{
    return strcmp(name, "model") == 0 || strcmp(name, "llmgw") == 0;
}

/* Every number as a real: jansson keeps 1 and 1.0 apart, a provider does not. json_real refuses NaN and
 * infinities, which JSON cannot carry anyway. */
static json_t *normalized(json_t *v)
{
    /* Beyond 2^53 a double would merge neighbouring integers (two seeds): those stay integers. */
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        return i >= -(1LL << 53) && i <= (1LL << 53) ? json_real((double)i) : json_incref(v);
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
            json_t *n = normalized(x);
            if (n)
                json_object_set_new(o, k, n);
        }
        return o;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            json_t *n = normalized(x);
            json_array_append_new(a, n ? n : json_null());
        }
        return a;
    }
    return json_incref(v);
}

int lgw_cache_canon(const json_t *body, enum lgw_job_kind kind, struct lgw_buf *out)
{
    if (!json_is_object(body))
        return LGW_ERR(INVALID);
    json_t *c = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)body, k, v) {
        /* An explicit null is an absent field, as providers read it. */
        if (skipped(k) || json_is_null(v))
            continue;
        json_t *n = normalized(v);
        if (n)
            json_object_set_new(c, k, n);
    }
    if (kind == LGW_JOB_CHAT) {
        for (size_t i = 0; i < sizeof(CHAT_DEFAULTS) / sizeof(CHAT_DEFAULTS[0]); i++)
            if (!json_object_get(c, CHAT_DEFAULTS[i].name))
                json_object_set_new(c, CHAT_DEFAULTS[i].name, json_real(CHAT_DEFAULTS[i].value));
        if (!json_object_get(c, "stream"))
            json_object_set_new(c, "stream", json_false());
    } else if (!json_object_get(c, "encoding_format")) {
        json_object_set_new(c, "encoding_format", json_string("float"));
    }
    /* The kind starts the form: a chat body and an embeddings body never collide. */
    int rc = lgw_buf_printf(out, "%s\n", lgw_job_kind_name(kind));
    if (rc == 0)
        rc = lgw_buf_dump_json(out, c, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    json_decref(c);
    return rc;
}

static void update_part(EVP_MD_CTX *md, const void *data, size_t len)
{
    uint8_t n[8];
    for (int i = 0; i < 8; i++)
        n[i] = (uint8_t)((uint64_t)len >> (8 * (7 - i)));
    EVP_DigestUpdate(md, n, sizeof(n));
    EVP_DigestUpdate(md, data, len);
}

void lgw_cache_key(const char *tenant, const char *model, const struct lgw_str *canon, char key[LGW_CACHE_KEY_LEN])
{
    static const char hex[] = "0123456789abcdef";
    static const char tag[] = "llmgw-cache-v1";
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    LGW_ASSERT(md != NULL);
    EVP_DigestInit_ex(md, lgw_digest_sha256(), NULL);
    update_part(md, tag, sizeof(tag) - 1);
    /* Tenancy: the tenant is the first thing hashed, so tenants never share an entry. */
    update_part(md, tenant, strlen(tenant));
    update_part(md, model, strlen(model));
    update_part(md, canon->ptr, canon->len);
    EVP_DigestFinal_ex(md, d, &dlen);
    EVP_MD_CTX_free(md);
    LGW_ASSERT(dlen == 32);
    for (unsigned int i = 0; i < dlen; i++) {
        key[2 * i] = hex[d[i] >> 4];
        key[2 * i + 1] = hex[d[i] & 15];
    }
    key[64] = '\0';
}
