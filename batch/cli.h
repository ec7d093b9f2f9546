/* cli.h - `llmgw batch submit|status|cancel|collect` (docs/BATCH.md): the command line's side of batches. It
 * runs with the gateway's configuration and talks to Kafka (lgw_kafka_produce, through batch/submit.h) and to
 * the batch store (database_url) directly, as a trusted producer (docs/KAFKA.md "trust"). Output asked for
 * goes to stdout, messages to stderr. Each returns the process exit status: 0, 1 for a failure (bad input,
 * unknown batch, Kafka or the database unavailable). */
#ifndef LGW_BATCH_CLI_H
#define LGW_BATCH_CLI_H

#include <jansson.h>
#include <stdbool.h>

#include "common/config.h"

struct lgw_batch_cli_opts {
    const char *file;     /* submit: the JSONL input ("-": stdin) */
    const char *tenant;   /* submit: required; others: NULL reads any tenant's batch (the CLI is trusted) */
    bool skip_invalid;    /* submit */
    json_t *metadata;     /* submit: NULL or an object of string pairs; borrowed */
    const char *id;       /* status, cancel, collect */
    bool json;            /* status: the batch as OpenAI's Batch object */
    const char *out;      /* collect: the output file */
    bool no_wait;         /* collect: write what there is and return */
    int interval_ms;      /* collect: how often to look for new results (0: a second) */
};

int lgw_batch_cli_submit(const struct lgw_config *cfg, const struct lgw_batch_cli_opts *o);
int lgw_batch_cli_status(const struct lgw_config *cfg, const struct lgw_batch_cli_opts *o);
int lgw_batch_cli_cancel(const struct lgw_config *cfg, const struct lgw_batch_cli_opts *o);
int lgw_batch_cli_collect(const struct lgw_config *cfg, const struct lgw_batch_cli_opts *o);

#endif
