/* object.h - a batch as OpenAI's Batch object (JSON), from the batch store's row: what `llmgw batch status
 * --json` prints and what the /v1/batches API can answer. */
#ifndef LGW_BATCH_OBJECT_H
#define LGW_BATCH_OBJECT_H

#include <jansson.h>
#include <stdbool.h>

#include "batch/store.h"

/* OpenAI's Batch object for info: id, object "batch", endpoint, errors, input_file_id, completion_window
 * "24h", status, output_file_id / error_file_id (the virtual files "file-batch-output-<id>" /
 * "file-batch-errors-<id>" once the batch is finished and has_output / has_errors say it has such lines;
 * null otherwise), the timestamps (null where 0), request_counts {total, completed, failed}, metadata; plus
 * "llmgw": {"tenant", "cost_usd"} (spend so far, a decimal string of USD). A new reference (caller owns). */
json_t *lgw_batch_info_json(const struct lgw_batch_info *info, bool has_output, bool has_errors);

#endif
