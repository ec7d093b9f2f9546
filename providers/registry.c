/* registry.c - the table of provider adapters and model lookup over it. */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

#include "common/errors.h"
#include "common/http_error.h"
#include "providers/provider.h"

/* One line per provider. */
static const struct lgw_provider *const providers[] = {
    &lgw_provider_echo,
    &lgw_provider_openai,
    &lgw_provider_anthropic,
    &lgw_provider_gemini,
    &lgw_provider_mistral,
    &lgw_provider_compat,
};

#define NPROVIDERS (sizeof(providers) / sizeof(providers[0]))

const struct lgw_provider *lgw_provider_by_name(const char *name)
{
    for (size_t p = 0; p < NPROVIDERS; p++)
        if (strcmp(providers[p]->name, name) == 0)
            return providers[p];
    return NULL;
}

bool lgw_provider_any_keys(const struct lgw_config *cfg)
{
    for (size_t p = 0; p < NPROVIDERS; p++)
        if (providers[p] != &lgw_provider_echo && providers[p]->configured(cfg))
            return true;
    return false;
}

const struct lgw_provider *lgw_provider_serving(const struct lgw_config *cfg, const char *provider)
{
    const struct lgw_provider *prov = lgw_provider_by_name(provider);
    if (prov && prov->configured(cfg))
        return prov; /* a key is set: the real provider, simulated or not */
    if (lgw_provider_sim.configured(cfg) && lgw_provider_sim_name(provider))
        return &lgw_provider_sim;
    return NULL;
}

const char *lgw_provider_served_as(const struct lgw_config *cfg, const char *provider)
{
    const struct lgw_provider *prov = lgw_provider_serving(cfg, provider);
    if (!prov)
        return NULL;
    return prov == &lgw_provider_sim ? lgw_provider_sim_name(provider) : prov->name;
}

bool lgw_provider_simulated(const struct lgw_config *cfg, const char *provider)
{
    return lgw_provider_serving(cfg, provider) == &lgw_provider_sim;
}

void lgw_prov_call_abort(struct lgw_prov_call *call)
{
    if (call->abort)
        call->abort(call);
}

void lgw_prov_result_cleanup(struct lgw_prov_result *res)
{
    json_decref(res->body);
    res->body = NULL;
}

void lgw_prov_result_error(struct lgw_prov_result *res, int rc, const char *message)
{
    json_decref(res->body);
    res->status = lgw_err_status(rc);
    res->body = lgw_http_error_json(rc, message);
}

void lgw_prov_result_upstream(struct lgw_prov_result *res, int status, json_t *error_object)
{
    int rc = lgw_err_from_status(status);
    if (!json_is_string(json_object_get(error_object, "type")))
        json_object_set_new(error_object, "type", json_string(lgw_err_type(rc)));
    if (!json_object_get(error_object, "param"))
        json_object_set_new(error_object, "param", json_null());
    if (!json_is_string(json_object_get(error_object, "code")) && !json_is_null(json_object_get(error_object, "code")))
        json_object_set_new(error_object, "code", json_string(lgw_err_code(rc)));
    json_decref(res->body);
    res->status = status;
    res->body = json_object();
    json_object_set_new(res->body, "error", error_object);
}

json_t *lgw_prov_embedding_value(json_t *numbers, bool base64)
{
    if (!base64)
        return json_incref(numbers);
    size_t n = json_array_size(numbers);
    float *v = lgw_calloc(n ? n : 1, sizeof(float));
    for (size_t i = 0; i < n; i++)
        v[i] = (float)json_number_value(json_array_get(numbers, i));
    size_t nbytes = n * sizeof(float);
    char *b64 = lgw_malloc(4 * ((nbytes + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)v, (int)nbytes);
    json_t *s = json_string(b64);
    free(b64);
    free(v);
    return s;
}
