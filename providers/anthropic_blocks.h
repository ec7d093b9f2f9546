/* anthropic_blocks.h - conversions between OpenAI and Anthropic message pieces that both directions of the
 * gateway need (the Anthropic adapter's requests, and answers to inbound /v1/messages clients). */
#ifndef LGW_ANTHROPIC_BLOCKS_H
#define LGW_ANTHROPIC_BLOCKS_H

#include <jansson.h>

/* Appends one Anthropic tool_use block per OpenAI tool call (arguments parsed from their JSON string;
 * unparsable arguments become {}) to blocks. tool_calls may be NULL. */
void lgw_anth_append_tool_use(json_t *tool_calls, json_t *blocks);

#endif
