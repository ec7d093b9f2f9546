/* anthropic_map.c - Anthropic <-> OpenAI vocabulary (see anthropic_map.h). */
#include "common/anthropic_map.h"

#include <string.h>

const char *lgw_anth_finish_reason(const char *stop)
{
    if (!stop)
        return NULL;
    if (strcmp(stop, "max_tokens") == 0 || strcmp(stop, "model_context_window_exceeded") == 0)
        return "length";
    if (strcmp(stop, "tool_use") == 0)
        return "tool_calls";
    if (strcmp(stop, "refusal") == 0)
        return "content_filter";
    return "stop"; /* end_turn, stop_sequence, pause_turn, and anything new */
}

const char *lgw_anth_stop_reason(const char *finish)
{
    if (!finish)
        return "end_turn";
    if (strcmp(finish, "length") == 0)
        return "max_tokens";
    if (strcmp(finish, "tool_calls") == 0)
        return "tool_use";
    if (strcmp(finish, "content_filter") == 0)
        return "refusal";
    return "end_turn";
}

const char *lgw_anth_tool_choice_type(const char *choice)
{
    if (choice && strcmp(choice, "required") == 0)
        return "any";
    if (choice && strcmp(choice, "none") == 0)
        return "none";
    return "auto";
}

const char *lgw_anth_openai_tool_choice(const char *type)
{
    if (type && strcmp(type, "any") == 0)
        return "required";
    if (type && strcmp(type, "none") == 0)
        return "none";
    return "auto";
}

const char *lgw_anth_error_type(int status)
{
    switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503:
    case 529: return "overloaded_error";
    case 504: return "timeout_error";
    default: return "api_error";
    }
}

void lgw_anth_append_tool_use(json_t *tool_calls, json_t *blocks)
{
    size_t i;
    json_t *call;
    json_array_foreach(tool_calls, i, call) {
        json_t *fn = json_object_get(call, "function");
        const char *args = json_string_value(json_object_get(fn, "arguments"));
        json_t *input = args ? json_loads(args, 0, NULL) : NULL;
        if (!json_is_object(input)) {
            json_decref(input);
            input = json_object();
        }
        json_array_append_new(blocks, json_pack("{s:s, s:O?, s:O?, s:o}", "type", "tool_use", "id",
                                                json_object_get(call, "id"), "name", json_object_get(fn, "name"),
                                                "input", input));
    }
}
