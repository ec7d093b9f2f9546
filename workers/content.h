/* content.h - prompts and completions on a candidate's GenAI span, only for an operator who turned content
 * capture on (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, telemetry/otel_env.h; off by default).
 *
 * The chat's messages become gen_ai.input.messages and the answer gen_ai.output.messages: JSON strings shaped
 * as the GenAI semantic conventions v1.37.0 say ({"role", "parts": [{"type": "text", "content"}, {"type":
 * "tool_call", ...}, {"type": "tool_call_response", ...}], "finish_reason"}). Each attribute is at most
 * LGW_WCONTENT_MAX bytes and always valid JSON: past the cap, texts are cut (ending in "…") to the longest
 * length that fits, and when even that is not enough the oldest messages are left out; the span then says
 * so (llmgw.gen_ai.input.messages.truncated, .dropped; llmgw.gen_ai.output.messages.truncated). Parts that
 * are not text (images, audio, files) appear by their type only: their data is never copied.
 *
 * The content is the tenant's data: it never reaches a log line, only spans whose tracer captures content
 * (lgw_span_captures_content). Every function here is a no-op otherwise. Loop thread (dispatch), as the
 * candidate span's owner. */
#ifndef LGW_WORKER_CONTENT_H
#define LGW_WORKER_CONTENT_H

#include <jansson.h>
#include <stdbool.h>

#include "common/buf.h"
#include "common/envelope.h"
#include "telemetry/span.h"

#define LGW_WCONTENT_MAX LGW_SPAN_LONG_VALUE_MAX /* bytes of each attribute: 16 KiB */

/* Sets gen_ai.input.messages on span from job's chat messages (not for embeddings: their input is not a
 * conversation). */
void lgw_wcontent_input(struct lgw_span *span, const struct lgw_job *job);
/* A streamed answer's text, gathered chunk by chunk for gen_ai.output.messages: at most LGW_WCONTENT_MAX
 * bytes (cut says more came). Embedded; the dispatch of a capturing candidate owns one. */
struct lgw_wcontent_stream {
    struct lgw_buf text;
    bool cut;
};

void lgw_wcontent_stream_init(struct lgw_wcontent_stream *st);
void lgw_wcontent_stream_cleanup(struct lgw_wcontent_stream *st);
/* Appends a stream chunk's text (choices[0].delta.content) to st, up to LGW_WCONTENT_MAX bytes in all (cut on
 * a character boundary); what does not fit is left out and st->cut set. st NULL: a no-op. */
void lgw_wcontent_stream_add(struct lgw_wcontent_stream *st, const json_t *chunk);

/* Sets gen_ai.output.messages on span: from body's choices (a whole answer), or, when body has none, from a
 * stream's text (st; NULL: none gathered) with its last finish_reason ("" when none came). */
void lgw_wcontent_output(struct lgw_span *span, const json_t *body, const struct lgw_wcontent_stream *st,
                         const char *finish_reason);

#endif
