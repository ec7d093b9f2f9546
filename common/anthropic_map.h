/* anthropic_map.h - Anthropic Messages API vocabulary mapped to and from OpenAI's, in one place, for the
 * two parts of llmgw that speak Anthropic: the provider adapter (providers/anthropic.c: OpenAI requests
 * out, Anthropic answers back) and the inbound route (ingress: Anthropic requests in, OpenAI answers back).
 * Pure functions over static tables or jansson values; any thread. */
#ifndef LGW_ANTHROPIC_MAP_H
#define LGW_ANTHROPIC_MAP_H

#include <jansson.h>

/* Anthropic stop_reason -> OpenAI finish_reason: max_tokens and model_context_window_exceeded -> "length",
 * tool_use -> "tool_calls", refusal -> "content_filter", anything else (end_turn, stop_sequence, pause_turn,
 * values added later) -> "stop". NULL -> NULL (not finished). */
const char *lgw_anth_finish_reason(const char *stop_reason);
/* OpenAI finish_reason -> Anthropic stop_reason: length -> max_tokens, tool_calls -> tool_use,
 * content_filter -> refusal, else (and NULL) -> end_turn. */
const char *lgw_anth_stop_reason(const char *finish_reason);

/* OpenAI tool_choice string (auto, none, required) -> Anthropic tool_choice type (auto, none, any). */
const char *lgw_anth_tool_choice_type(const char *openai_choice);
/* Anthropic tool_choice type (auto, none, any; "tool" is handled by the caller) -> OpenAI's string. */
const char *lgw_anth_openai_tool_choice(const char *anthropic_type);

/* Anthropic's error type for an HTTP status (400 invalid_request_error ... 529/503 overloaded_error); a 4xx
 * Anthropic has no type of its own for is invalid_request_error, anything else api_error. */
const char *lgw_anth_error_type(int status);
/* The status Anthropic answers an error type with (overloaded_error 529; unknown types 500). */
int lgw_anth_error_status(const char *type);

/* Appends one Anthropic tool_use block per OpenAI tool call (arguments parsed from their JSON string;
 * unparsable arguments become {}) to blocks. tool_calls may be NULL. */
void lgw_anth_append_tool_use(json_t *tool_calls, json_t *blocks);

#endif
