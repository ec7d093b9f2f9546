/* cli.c - `llmgw batch submit`, `status` and `cancel` (see cli.h); `collect` is cli_collect.c. */
#include "batch/cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "batch/object.h"
#include "batch/store.h"
#include "batch/submit.h"
#include "common/batch_record.h"
#include "common/clock.h"
#include "common/errors.h"

/* Prints every kept error as "FILE:LINE: code: message" (a compiler's form, so editors jump to the line). */
static void print_errors(const char *file, const struct lgw_batch_input *in)
{
    for (size_t i = 0; i < lgw_batch_input_errors_kept(in); i++) {
        const struct lgw_batch_line_error *e = lgw_batch_input_error(in, i);
        if (e->line)
            fprintf(stderr, "%s:%lld: %s: %s\n", file, (long long)e->line, e->code, e->message);
        else
            fprintf(stderr, "%s: %s: %s\n", file, e->code, e->message);
    }
    int64_t more = lgw_batch_input_error_count(in) - (int64_t)lgw_batch_input_errors_kept(in);
    if (more > 0)
        fprintf(stderr, "%s: ... and %lld more invalid line(s)\n", file, (long long)more);
}

int lgw_batch_cli_submit(const struct lgw_config *cfg, const struct lgw_batch_cli_opts *o)
{
    bool is_stdin = strcmp(o->file, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(o->file, "rb");
    if (!f) {
        fprintf(stderr, "llmgw: cannot open %s: %s\n", o->file, strerror(errno));
        return 1;
    }
    struct lgw_batch_input *in = NULL;
    int rc = lgw_batch_input_read(cfg, f, NULL, &in);
    int err_no = errno;
    if (!is_stdin)
        fclose(f);
    if (rc) {
        fprintf(stderr, "llmgw: cannot read %s: %s\n", o->file, strerror(err_no));
        return 1;
    }
    int64_t bad = lgw_batch_input_error_count(in);
    if (bad) {
        print_errors(o->file, in);
        if (!o->skip_invalid || lgw_batch_input_lines(in) == 0) {
            fprintf(stderr, "llmgw: %lld invalid line(s) in %s; nothing was sent%s\n", (long long)bad, o->file,
                    lgw_batch_input_lines(in) ? " (--skip-invalid sends the valid ones)" : "");
            lgw_batch_input_free(in);
            return 1;
        }
        fprintf(stderr, "llmgw: skipping %lld invalid line(s) (--skip-invalid)\n", (long long)bad);
    }
    char err[LGW_BATCH_ERROR_MAX];
    struct lgw_batch_record rec;
    struct lgw_batch_submit_opts so = {.tenant = o->tenant, .metadata = o->metadata, .skip_invalid = o->skip_invalid};
    rd_kafka_t *rk = NULL;
    struct lgw_batch_store *st = NULL;
    int code = 1;
    if (lgw_batch_submit_prepare(in, &so, &rec, err, sizeof(err))) {
        fprintf(stderr, "llmgw: %s\n", err);
        goto out;
    }
    /* The row first, so `llmgw batch status` finds the batch at once; the batch role would write it from the
     * record anyway (idempotent), so a database that is not reachable from here is only a warning. */
    if (lgw_batch_store_open(cfg->database_url, &st) == 0)
        lgw_batch_store_apply_record(st, &rec, lgw_wall_ms());
    else
        fprintf(stderr, "llmgw: warning: the batch database is not reachable from here; the batch role will "
                        "record the batch\n");
    if (lgw_batch_producer_new(cfg, &rk)) {
        fprintf(stderr, "llmgw: cannot create a Kafka producer for %s\n", cfg->kafka_brokers);
        goto out;
    }
    fprintf(stderr, "llmgw: sending %lld request(s) as batch %s\n", (long long)rec.total, rec.id);
    if (lgw_batch_submit_send(cfg, rk, in, &rec, err, sizeof(err))) {
        fprintf(stderr, "llmgw: batch %s failed: %s\n", rec.id, err);
        if (st)
            lgw_batch_store_apply_record(st, &rec, lgw_wall_ms());
        goto out;
    }
    if (st)
        lgw_batch_store_apply_record(st, &rec, lgw_wall_ms());
    printf("%s\n", rec.id);
    code = 0;
out:
    if (rk) {
        rd_kafka_flush(rk, 10000);
        rd_kafka_destroy(rk);
    }
    lgw_batch_store_close(st);
    lgw_batch_record_cleanup(&rec);
    lgw_batch_input_free(in);
    return code;
}

/* Opens the store and reads batch o->id (scoped to o->tenant when given). Prints why on failure. */
static int load(const struct lgw_config *cfg, const struct lgw_batch_cli_opts *o, struct lgw_batch_store **st,
                struct lgw_batch_info *info)
{
    memset(info, 0, sizeof(*info));
    if (lgw_batch_store_open(cfg->database_url, st)) {
        fprintf(stderr, "llmgw: cannot open the batch database (database_url)\n");
        return 1;
    }
    int rc = lgw_batch_store_get(*st, o->id, o->tenant, info);
    if (rc == LGW_ERR(NOT_FOUND)) {
        fprintf(stderr, "llmgw: no batch %s%s%s\n", o->id, o->tenant ? " of tenant " : "", o->tenant ? o->tenant : "");
        return 1;
    }
    if (rc) {
        fprintf(stderr, "llmgw: reading batch %s failed (database error)\n", o->id);
        return 1;
    }
    return 0;
}

static void print_time(const char *label, int64_t t)
{
    if (!t)
        return;
    char buf[32];
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%-14s %s\n", label, buf);
}

int lgw_batch_cli_status(const struct lgw_config *cfg, const struct lgw_batch_cli_opts *o)
{
    struct lgw_batch_store *st = NULL;
    struct lgw_batch_info info;
    int code = load(cfg, o, &st, &info);
    if (code)
        goto out;
    if (o->json) {
        int64_t nout = 0, nerr = 0;
        lgw_batch_store_count_lines(st, info.id, LGW_BATCH_LINES_OUTPUT, &nout);
        lgw_batch_store_count_lines(st, info.id, LGW_BATCH_LINES_ERRORS, &nerr);
        json_t *j = lgw_batch_info_json(&info, nout > 0, nerr > 0);
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        free(s);
        json_decref(j);
        goto out;
    }
    printf("%-14s %s\n", "id", info.id);
    printf("%-14s %s\n", "tenant", info.tenant);
    printf("%-14s %s\n", "endpoint", info.endpoint);
    printf("%-14s %s\n", "status", info.status);
    printf("%-14s %lld total, %lld completed, %lld failed, %lld pending\n", "requests", (long long)info.total,
           (long long)info.completed, (long long)info.failed,
           (long long)(info.total - info.completed - info.failed > 0 ? info.total - info.completed - info.failed : 0));
    printf("%-14s $%lld.%09lld\n", "cost so far", (long long)(info.cost_nusd / 1000000000),
           (long long)(info.cost_nusd % 1000000000));
    print_time("created", info.created_at);
    print_time("in progress", info.in_progress_at);
    print_time("cancelling", info.cancelling_at);
    print_time("completed", info.completed_at);
    print_time("failed", info.failed_at);
    print_time("expired", info.expired_at);
    print_time("cancelled", info.cancelled_at);
    print_time("expires", info.expires_at);
    json_t *e0 = json_array_get(json_object_get(info.errors, "data"), 0);
    if (e0)
        printf("%-14s %s\n", "error", json_string_value(json_object_get(e0, "message")));
out:
    lgw_batch_info_cleanup(&info);
    lgw_batch_store_close(st);
    return code;
}

int lgw_batch_cli_cancel(const struct lgw_config *cfg, const struct lgw_batch_cli_opts *o)
{
    struct lgw_batch_store *st = NULL;
    struct lgw_batch_info info;
    rd_kafka_t *rk = NULL;
    int code = load(cfg, o, &st, &info);
    if (code)
        goto out;
    if (lgw_batch_status_terminal(info.status)) {
        fprintf(stderr, "llmgw: batch %s is %s already; nothing to cancel\n", info.id, info.status);
        code = 1;
        goto out;
    }
    if (strcmp(info.status, "validating") == 0) {
        /* As over HTTP: its lines are still going out, and the submitter's last record (submitted) would
         * overwrite a cancel on the compacted topic, so the workers would never see it. */
        fprintf(stderr, "llmgw: batch %s is still being submitted; cancel it once it is in_progress\n", info.id);
        code = 1;
        goto out;
    }
    /* The whole record again, state cancelling: the topic is compacted, so the latest record of a batch is all
     * a worker replaying it sees. */
    struct lgw_batch_record rec;
    lgw_batch_store_cancel_record(&info, lgw_wall_ms(), &rec);
    char err[LGW_BATCH_ERROR_MAX];
    if (lgw_batch_producer_new(cfg, &rk) || lgw_batch_record_send(cfg, rk, &rec, err, sizeof(err))) {
        fprintf(stderr, "llmgw: cancelling batch %s failed: %s\n", info.id, rk ? err : "no Kafka producer");
        code = 1;
    } else {
        lgw_batch_store_apply_record(st, &rec, lgw_wall_ms()); /* the role does it too; status shows it now */
        printf("%s cancelling\n", info.id);
    }
    lgw_batch_record_cleanup(&rec);
out:
    if (rk)
        rd_kafka_destroy(rk);
    lgw_batch_info_cleanup(&info);
    lgw_batch_store_close(st);
    return code;
}
