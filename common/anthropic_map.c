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

/* Anthropic's error types by status (platform.claude.com/docs/en/api/errors), read both ways. */
static const struct {
    int status;
    const char *type;
} anth_errors[] = {
    {400, "invalid_request_error"}, {401, "authentication_error"}, {402, "billing_error"},
    {403, "permission_error"},      {404, "not_found_error"},      {409, "conflict_error"},
    {413, "request_too_large"},     {429, "rate_limit_error"},     {500, "api_error"},
    {504, "timeout_error"},         {529, "overloaded_error"},
};

#define N_ANTH_ERRORS (sizeof(anth_errors) / sizeof(anth_errors[0]))

const char *lgw_anth_error_type(int status)
{
    if (status == 503)
        status = 529; /* the gateway's "unavailable" is what Anthropic calls overloaded */
    for (size_t i = 0; i < N_ANTH_ERRORS; i++)
        if (anth_errors[i].status == status)
            return anth_errors[i].type;
    return status >= 400 && status < 500 ? "invalid_request_error" : "api_error"; /* 405, 408, 422, 431 */
}

int lgw_anth_error_status(const char *type)
{
    for (size_t i = 0; type && i < N_ANTH_ERRORS; i++)
        if (strcmp(anth_errors[i].type, type) == 0)
            return anth_errors[i].status;
    return 500;
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
