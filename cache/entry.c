/* entry.c - the response cache's stored answers (see entry.h). */
#include "cache/entry.h"

#include <string.h>

#include "common/errors.h"
#include "common/json_load.h"
#include "common/json_write.h"

int lgw_cache_entry_encode(const struct lgw_usage *usage, const json_t *body, const struct lgw_str *chunks,
                           struct lgw_buf *out)
{
    int rc = lgw_buf_printf(out, "{\"v\":1,\"usage\":{\"input_tokens\":%lld,\"output_tokens\":%lld,"
                                 "\"cached_input_tokens\":%lld},",
                            (long long)usage->input_tokens, (long long)usage->output_tokens,
                            (long long)usage->cached_input_tokens);
    if (rc)
        return rc;
    if (body) {
        if ((rc = lgw_buf_puts(out, "\"body\":")))
            return rc;
        if ((rc = lgw_buf_dump_json(out, body, JSON_COMPACT)))
            return rc;
    } else {
        if ((rc = lgw_buf_puts(out, "\"chunks\":[")) || (rc = lgw_buf_append(out, chunks->ptr, chunks->len)) ||
            (rc = lgw_buf_puts(out, "]")))
            return rc;
    }
    return lgw_buf_puts(out, "}");
}

static int64_t count(const json_t *usage, const char *name)
{
    json_t *v = json_object_get(usage, name);
    return json_is_integer(v) && json_integer_value(v) >= 0 ? json_integer_value(v) : 0;
}

int lgw_cache_entry_decode(const char *data, size_t len, struct lgw_cache_entry *e)
{
    memset(e, 0, sizeof(*e));
    json_t *root = lgw_json_loadb(data, len, 0, NULL);
    json_t *v = json_object_get(root, "v");
    json_t *body = json_object_get(root, "body"), *chunks = json_object_get(root, "chunks");
    if (!json_is_integer(v) || json_integer_value(v) != 1 || !(json_is_object(body) || json_is_array(chunks))) {
        json_decref(root);
        return LGW_ERR(INVALID);
    }
    size_t i;
    json_t *c;
    json_array_foreach(chunks, i, c) {
        if (!json_is_object(c)) {
            json_decref(root);
            return LGW_ERR(INVALID);
        }
    }
    json_t *usage = json_object_get(root, "usage");
    e->usage.input_tokens = count(usage, "input_tokens");
    e->usage.output_tokens = count(usage, "output_tokens");
    e->usage.cached_input_tokens = count(usage, "cached_input_tokens");
    e->body = json_is_object(body) ? json_incref(body) : NULL;
    e->chunks = e->body ? NULL : json_incref(chunks);
    json_decref(root);
    return LGW_OK;
}

void lgw_cache_entry_cleanup(struct lgw_cache_entry *e)
{
    json_decref(e->body);
    json_decref(e->chunks);
    e->body = e->chunks = NULL;
}
