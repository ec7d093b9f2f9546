/* validate.c - request body checks for /v1/chat/completions and /v1/embeddings. */
#include "common/validate.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "common/json_load.h"

/* Caps on what one request may carry; far above what providers accept, well below what hurts us. */
#define MAX_MESSAGES 4096
#define MAX_EMBED_INPUTS 2048
#define MAX_MODEL_LEN 128

int lgw_json_depth(const char *data, size_t len)
{
    int depth = 0, max = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (in_str) {
            if (c == '\\')
                i++; /* skip the escaped byte, whatever it is */
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"')
            in_str = true;
        else if (c == '{' || c == '[') {
            if (++depth > max)
                max = depth;
        } else if (c == '}' || c == ']')
            depth--;
    }
    return max;
}

int lgw_validate_parse(const char *data, size_t len, int max_depth, json_t **out, char *msg, size_t msgsz)
{
    *out = NULL;
    if (lgw_json_depth(data, len) > max_depth) {
        snprintf(msg, msgsz, "JSON nesting deeper than %d levels", max_depth);
        return LGW_ERR(TOO_DEEP);
    }
    json_error_t jerr;
    json_t *root = lgw_json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(msg, msgsz, "We could not parse the JSON body of your request: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
        return LGW_ERR(BAD_JSON);
    }
    if (!json_is_object(root)) {
        snprintf(msg, msgsz, "The request body must be a JSON object.");
        json_decref(root);
        return LGW_ERR(INVALID);
    }
    *out = root;
    return LGW_OK;
}

static int fail(int rc, char *msg, size_t msgsz, char *param, size_t paramsz, const char *p, const char *text)
{
    snprintf(msg, msgsz, "%s", text);
    snprintf(param, paramsz, "%s", p);
    return rc;
}

static int check_model(json_t *body, char *msg, size_t msgsz, char *param, size_t paramsz)
{
    json_t *model = json_object_get(body, "model");
    if (!model)
        return fail(LGW_ERR(INVALID), msg, msgsz, param, paramsz, "model", "Missing required parameter: 'model'.");
    if (!json_is_string(model) || json_string_length(model) == 0 || json_string_length(model) > MAX_MODEL_LEN)
        return fail(LGW_ERR(INVALID), msg, msgsz, param, paramsz, "model",
                    "Invalid type for 'model': expected a non-empty string of at most 128 bytes.");
    return LGW_OK;
}

/* Optional fields: when present they must have this JSON type. */
struct typed_field {
    const char *name;
    int (*is)(const json_t *);
};

static int is_number(const json_t *v) { return json_is_number(v); }
static int is_integer(const json_t *v) { return json_is_integer(v); }
static int is_boolean(const json_t *v) { return json_is_boolean(v); }
static int is_object(const json_t *v) { return json_is_object(v); }
static int is_array(const json_t *v) { return json_is_array(v); }
static int is_string(const json_t *v) { return json_is_string(v); }
static int is_string_or_array(const json_t *v) { return json_is_string(v) || json_is_array(v); }
static int is_string_or_object(const json_t *v) { return json_is_string(v) || json_is_object(v); }

static const struct typed_field chat_fields[] = {
    {"temperature", is_number},     {"top_p", is_number},           {"n", is_integer},
    {"max_tokens", is_integer},     {"max_completion_tokens", is_integer},
    {"presence_penalty", is_number}, {"frequency_penalty", is_number}, {"seed", is_integer},
    {"stream", is_boolean},         {"stream_options", is_object},  {"logit_bias", is_object},
    {"user", is_string},            {"safety_identifier", is_string}, {"stop", is_string_or_array},
    {"tools", is_array},
    {"tool_choice", is_string_or_object}, {"response_format", is_object}, {"metadata", is_object},
};

static int check_fields(json_t *body, const struct typed_field *f, size_t n, char *msg, size_t msgsz, char *param,
                        size_t paramsz)
{
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(body, f[i].name);
        if (v && !json_is_null(v) && !f[i].is(v)) {
            snprintf(msg, msgsz, "Invalid type for '%s'.", f[i].name);
            snprintf(param, paramsz, "%s", f[i].name);
            return LGW_ERR(INVALID);
        }
    }
    return LGW_OK;
}

static bool valid_role(const char *r)
{
    static const char *roles[] = {"system", "developer", "user", "assistant", "tool", "function"};
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        if (strcmp(r, roles[i]) == 0)
            return true;
    return false;
}

int lgw_validate_chat(json_t *body, char *msg, size_t msgsz, char *param, size_t paramsz)
{
    int rc = check_model(body, msg, msgsz, param, paramsz);
    if (rc)
        return rc;
    rc = check_fields(body, chat_fields, sizeof(chat_fields) / sizeof(chat_fields[0]), msg, msgsz, param, paramsz);
    if (rc)
        return rc;
    json_t *msgs = json_object_get(body, "messages");
    if (!msgs)
        return fail(LGW_ERR(INVALID), msg, msgsz, param, paramsz, "messages",
                    "Missing required parameter: 'messages'.");
    if (!json_is_array(msgs))
        return fail(LGW_ERR(INVALID), msg, msgsz, param, paramsz, "messages",
                    "Invalid type for 'messages': expected an array of message objects.");
    size_t n = json_array_size(msgs);
    if (n == 0)
        return fail(LGW_ERR(INVALID), msg, msgsz, param, paramsz, "messages",
                    "Invalid 'messages': empty array. Expected an array with minimum length 1.");
    if (n > MAX_MESSAGES)
        return fail(LGW_ERR(INVALID), msg, msgsz, param, paramsz, "messages", "Too many messages (at most 4096).");
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(msgs, i);
        snprintf(param, paramsz, "messages[%zu]", i);
        if (!json_is_object(m)) {
            snprintf(msg, msgsz, "Invalid type for 'messages[%zu]': expected an object.", i);
            return LGW_ERR(INVALID);
        }
        json_t *role = json_object_get(m, "role");
        if (!json_is_string(role) || !valid_role(json_string_value(role))) {
            snprintf(msg, msgsz,
                     "Invalid 'messages[%zu].role': expected one of system, developer, user, assistant, tool.", i);
            snprintf(param, paramsz, "messages[%zu].role", i);
            return LGW_ERR(INVALID);
        }
        json_t *content = json_object_get(m, "content");
        bool is_assistant = strcmp(json_string_value(role), "assistant") == 0;
        /* Assistant turns may carry only tool_calls, so their content may be null or absent. */
        bool ok = json_is_string(content) || json_is_array(content) ||
                  (is_assistant && (!content || json_is_null(content)));
        if (!ok) {
            snprintf(msg, msgsz, "Invalid 'messages[%zu].content': expected a string or an array of content parts.",
                     i);
            snprintf(param, paramsz, "messages[%zu].content", i);
            return LGW_ERR(INVALID);
        }
        if (json_is_array(content)) {
            size_t j;
            json_t *part;
            json_array_foreach(content, j, part) {
                json_t *type = json_object_get(part, "type");
                if (!json_is_object(part) || !json_is_string(type)) {
                    snprintf(msg, msgsz, "Invalid 'messages[%zu].content[%zu]': expected an object with a 'type'.", i,
                             j);
                    snprintf(param, paramsz, "messages[%zu].content[%zu]", i, j);
                    return LGW_ERR(INVALID);
                }
                if (strcmp(json_string_value(type), "text") == 0 &&
                    !json_is_string(json_object_get(part, "text"))) {
                    snprintf(msg, msgsz, "Invalid 'messages[%zu].content[%zu].text': expected a string.", i, j);
                    snprintf(param, paramsz, "messages[%zu].content[%zu].text", i, j);
                    return LGW_ERR(INVALID);
                }
            }
        }
    }
    json_t *n_choices = json_object_get(body, "n");
    if (json_is_integer(n_choices) && (json_integer_value(n_choices) < 1 || json_integer_value(n_choices) > 128))
        return fail(LGW_ERR(INVALID), msg, msgsz, param, paramsz, "n", "Invalid 'n': expected 1 to 128.");
    json_t *mt = json_object_get(body, "max_tokens");
    if (json_is_integer(mt) && json_integer_value(mt) < 1)
        return fail(LGW_ERR(INVALID), msg, msgsz, param, paramsz, "max_tokens",
                    "Invalid 'max_tokens': expected a positive integer.");
    param[0] = '\0';
    return LGW_OK;
}

int lgw_validate_embeddings(json_t *body, char *msg, size_t msgsz, char *param, size_t paramsz)
{
    int rc = check_model(body, msg, msgsz, param, paramsz);
    if (rc)
        return rc;
    json_t *input = json_object_get(body, "input");
    if (!input)
        return fail(LGW_ERR(INVALID), msg, msgsz, param, paramsz, "input", "Missing required parameter: 'input'.");
    if (json_is_string(input)) {
        if (json_string_length(input) == 0)
            return fail(LGW_ERR(INVALID), msg, msgsz, param, paramsz, "input",
                        "Invalid 'input': string must not be empty.");
    } else if (json_is_array(input)) {
        size_t n = json_array_size(input);
        if (n == 0 || n > MAX_EMBED_INPUTS)
            return fail(LGW_ERR(INVALID), msg, msgsz, param, paramsz, "input",
                        "Invalid 'input': expected 1 to 2048 items.");
        size_t i;
        json_t *item;
        bool strings = json_is_string(json_array_get(input, 0));
        json_array_foreach(input, i, item) {
            /* Either all strings, or token ids (integers), or arrays of token ids. */
            bool ok = strings ? (json_is_string(item) && json_string_length(item) > 0)
                              : (json_is_integer(item) || json_is_array(item));
            if (!ok) {
                snprintf(msg, msgsz, "Invalid 'input[%zu]': expected a non-empty string or token ids.", i);
                snprintf(param, paramsz, "input[%zu]", i);
                return LGW_ERR(INVALID);
            }
        }
    } else {
        return fail(LGW_ERR(INVALID), msg, msgsz, param, paramsz, "input",
                    "Invalid type for 'input': expected a string or an array.");
    }
    json_t *dims = json_object_get(body, "dimensions");
    if (dims && !json_is_null(dims) &&
        (!json_is_integer(dims) || json_integer_value(dims) < 1 || json_integer_value(dims) > 8192))
        return fail(LGW_ERR(INVALID), msg, msgsz, param, paramsz, "dimensions",
                    "Invalid 'dimensions': expected an integer from 1 to 8192.");
    json_t *fmt = json_object_get(body, "encoding_format");
    if (fmt && !json_is_null(fmt) &&
        (!json_is_string(fmt) ||
         (strcmp(json_string_value(fmt), "float") && strcmp(json_string_value(fmt), "base64"))))
        return fail(LGW_ERR(INVALID), msg, msgsz, param, paramsz, "encoding_format",
                    "Invalid 'encoding_format': expected 'float' or 'base64'.");
    json_t *user = json_object_get(body, "user");
    if (user && !json_is_null(user) && !json_is_string(user))
        return fail(LGW_ERR(INVALID), msg, msgsz, param, paramsz, "user", "Invalid type for 'user'.");
    param[0] = '\0';
    return LGW_OK;
}
