/* anthropic_blocks.c - shared OpenAI <-> Anthropic conversions (see anthropic_blocks.h). */
#include "anthropic_blocks.h"

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
