/* estimate.c - request token estimate and capability needs (see estimate.h). */
#include "routing/estimate.h"

#include <stdlib.h>
#include <string.h>

#include "common/model.h"

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

int64_t lgw_estimate_tokens(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    int64_t tokens = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t run = 0;
        if (is_alpha(c)) {
            while (i < len && is_alpha(s[i]))
                i++, run++;
            tokens += (int64_t)((run + 3) / 4);
        } else if (is_digit(c)) {
            while (i < len && is_digit(s[i]))
                i++, run++;
            tokens += (int64_t)((run + 2) / 3);
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            i++;
        } else if (c < 0x80) {
            tokens++;
            i++;
        } else {
            if ((c & 0xC0) != 0x80) /* a leading byte: one character */
                tokens++;
            i++;
        }
    }
    return tokens;
}

static int64_t string_tokens(const json_t *v)
{
    return json_is_string(v) ? lgw_estimate_tokens(json_string_value(v), json_string_length(v)) : 0;
}

/* Any JSON value's text, as it will reach the model (tool schemas, arguments, structured content). */
static int64_t json_tokens(const json_t *v)
{
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v))
        return string_tokens(v);
    char *text = json_dumps(v, JSON_COMPACT);
    int64_t n = text ? lgw_estimate_tokens(text, strlen(text)) : 0;
    free(text);
    return n;
}

static bool is_image_part(const json_t *part)
{
    const char *type = json_string_value(json_object_get(part, "type"));
    return type && (strcmp(type, "image_url") == 0 || strcmp(type, "input_image") == 0 || strcmp(type, "image") == 0);
}

static int64_t content_tokens(const json_t *content, unsigned *caps)
{
    if (json_is_string(content))
        return string_tokens(content);
    if (!json_is_array(content))
        return json_tokens(content);
    int64_t n = 0;
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part) {
        if (is_image_part(part)) {
            *caps |= LGW_CAP_VISION;
            n += LGW_ESTIMATE_IMAGE_TOKENS;
        } else if (json_is_object(part) && json_is_string(json_object_get(part, "text"))) {
            n += string_tokens(json_object_get(part, "text"));
        } else {
            n += json_tokens(part);
        }
    }
    return n;
}

static void chat_needs(const json_t *body, struct lgw_route_needs *needs)
{
    size_t i;
    json_t *msg;
    json_array_foreach(json_object_get(body, "messages"), i, msg) {
        needs->input_tokens += LGW_ESTIMATE_MESSAGE_TOKENS;
        needs->input_tokens += content_tokens(json_object_get(msg, "content"), &needs->caps);
        needs->input_tokens += string_tokens(json_object_get(msg, "name"));
        json_t *calls = json_object_get(msg, "tool_calls");
        if (json_array_size(calls) > 0) {
            needs->caps |= LGW_CAP_TOOLS;
            needs->input_tokens += json_tokens(calls);
        }
        const char *role = json_string_value(json_object_get(msg, "role"));
        if (role && strcmp(role, "tool") == 0)
            needs->caps |= LGW_CAP_TOOLS;
    }
    json_t *tools = json_object_get(body, "tools");
    if (json_array_size(tools) > 0) {
        needs->caps |= LGW_CAP_TOOLS;
        needs->input_tokens += json_tokens(tools);
    }
    const char *rf = json_string_value(json_object_get(json_object_get(body, "response_format"), "type"));
    if (rf && (strcmp(rf, "json_object") == 0 || strcmp(rf, "json_schema") == 0)) {
        needs->caps |= LGW_CAP_JSON_MODE;
        needs->input_tokens += json_tokens(json_object_get(body, "response_format"));
    }
    json_t *max = json_object_get(body, "max_completion_tokens");
    if (!json_is_integer(max))
        max = json_object_get(body, "max_tokens");
    if (json_is_integer(max) && json_integer_value(max) > 0)
        needs->max_output_tokens = json_integer_value(max);
}

static void embedding_needs(const json_t *body, struct lgw_route_needs *needs)
{
    const json_t *input = json_object_get(body, "input");
    if (json_is_string(input)) {
        needs->input_tokens = string_tokens(input);
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(input, i, item) {
        if (json_is_string(item))
            needs->input_tokens += string_tokens(item);
        else if (json_is_integer(item))
            needs->input_tokens++; /* already token ids */
        else if (json_is_array(item))
            needs->input_tokens += (int64_t)json_array_size(item);
    }
}

void lgw_route_needs_of(const json_t *body, enum lgw_job_kind kind, bool stream, struct lgw_route_needs *needs)
{
    memset(needs, 0, sizeof(*needs));
    if (kind == LGW_JOB_EMBEDDINGS) {
        embedding_needs(body, needs);
        return;
    }
    chat_needs(body, needs);
    if (stream)
        needs->caps |= LGW_CAP_STREAMING;
}
