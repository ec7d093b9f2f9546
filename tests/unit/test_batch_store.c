/* test_batch_store.c - the batch store on SQLite (batch/store.h): records move a batch forward only, the first
 * result per line is kept, each run's spend counted once, the output lines rendered in index order in OpenAI's
 * format, reads scoped to a tenant, the expiry and cancel sweeps, retention. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch/store.h"
#include "common/buf.h"
#include "common/errors.h"

#define NOW 1800000000000LL /* ms */

static char path[64];

/* LLMGW_TEST_BATCH_STORE_URL runs the same tests on another database (a new, empty PostgreSQL database for each
 * run: the tests count rows), to check the statements there by hand; the suite runs them on SQLite. */
static int setup(void **state)
{
    snprintf(path, sizeof(path), "/tmp/test_batch_store_%d.db", (int)getpid());
    unlink(path);
    char url[512];
    const char *other = getenv("LLMGW_TEST_BATCH_STORE_URL");
    if (other && *other)
        snprintf(url, sizeof(url), "%s", other);
    else
        snprintf(url, sizeof(url), "sqlite:%s", path);
    struct lgw_batch_store *st = NULL;
    assert_int_equal(lgw_batch_store_open(url, &st), 0);
    *state = st;
    return 0;
}

static int teardown(void **state)
{
    lgw_batch_store_close(*state);
    char p[96];
    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
    return 0;
}

static void record(struct lgw_batch_store *st, const char *id, const char *tenant, enum lgw_batch_state state,
                   int64_t total, int64_t created_ms, int64_t ts_ms)
{
    struct lgw_batch_record rec = {0};
    lgw_strlcpy(rec.id, id, sizeof(rec.id));
    lgw_strlcpy(rec.tenant, tenant, sizeof(rec.tenant));
    lgw_strlcpy(rec.endpoint, "/v1/chat/completions", sizeof(rec.endpoint));
    rec.state = state;
    rec.total = total;
    rec.created_ms = created_ms;
    rec.expires_ms = created_ms + LGW_BATCH_WINDOW_MS;
    rec.ts_ms = ts_ms;
    rec.metadata = json_pack("{s:s}", "k", "v");
    if (state == LGW_BATCH_FAILED)
        lgw_strlcpy(rec.error, "Kafka went away", sizeof(rec.error));
    assert_int_equal(lgw_batch_store_apply_record(st, &rec, ts_ms), 0);
    lgw_batch_record_cleanup(&rec);
}

/* One final reply to line index of batch id: status, run id, cost. */
static void result(struct lgw_batch_store *st, const char *id, int64_t index, int status, const char *run,
                   int64_t cost, bool want_kept, bool want_counted)
{
    struct lgw_reply r = {0};
    snprintf(r.id, sizeof(r.id), "%s-%lld", id, (long long)index);
    lgw_strlcpy(r.run_id, run, sizeof(r.run_id));
    r.final = true;
    r.status = status;
    r.cost_nusd = cost;
    lgw_strlcpy(r.batch.id, id, sizeof(r.batch.id));
    r.batch.index = index;
    snprintf(r.batch.custom_id, sizeof(r.batch.custom_id), "req-%lld", (long long)index);
    r.body = status == 200 ? json_pack("{s:s, s:i}", "object", "chat.completion", "n", (int)index)
                           : json_pack("{s:{s:s, s:s}}", "error", "message", "upstream failed", "code", "bad_gateway");
    bool kept, counted;
    struct lgw_batch_delta delta = {0};
    assert_int_equal(lgw_batch_store_begin(st), 0);
    assert_int_equal(lgw_batch_store_add_result(st, &r, 1 << 20, NOW, &kept, &counted, &delta), 0);
    assert_int_equal(lgw_batch_store_add_counts(st, id, &delta, NOW), 0);
    assert_int_equal(lgw_batch_store_commit(st), 0);
    /* The counts moved by the delta are what a full recount finds. */
    struct lgw_batch_info a, b;
    if (lgw_batch_store_get(st, id, NULL, &a) == 0) {
        assert_int_equal(lgw_batch_store_begin(st), 0);
        assert_int_equal(lgw_batch_store_refresh(st, id, NOW), 0);
        assert_int_equal(lgw_batch_store_commit(st), 0);
        assert_int_equal(lgw_batch_store_get(st, id, NULL, &b), 0);
        assert_int_equal(a.completed, b.completed);
        assert_int_equal(a.failed, b.failed);
        assert_int_equal(a.cost_nusd, b.cost_nusd);
        assert_string_equal(a.status, b.status);
        lgw_batch_info_cleanup(&a);
        lgw_batch_info_cleanup(&b);
    }
    assert_int_equal(kept, want_kept);
    assert_int_equal(counted, want_counted);
    lgw_reply_cleanup(&r);
}

struct lines {
    struct lgw_buf text;
    int64_t idx[16];
    int n, stop_after;
};

static int collect_cb(void *opaque, int64_t index, const char *line, size_t len)
{
    struct lines *l = opaque;
    l->idx[l->n++] = index;
    lgw_buf_append(&l->text, line, len);
    lgw_buf_puts(&l->text, "\n");
    return l->stop_after && l->n == l->stop_after;
}

static void test_lifecycle(void **state)
{
    struct lgw_batch_store *st = *state;
    const char *id = "batch_0123456789abcdef0123456789abcdef";
    struct lgw_batch_info info;
    record(st, id, "acme", LGW_BATCH_SUBMITTING, 3, NOW, NOW);
    assert_int_equal(lgw_batch_store_get(st, id, "acme", &info), 0);
    assert_string_equal(info.status, "validating");
    assert_int_equal(info.created_at, NOW / 1000);
    assert_string_equal(json_string_value(json_object_get(info.metadata, "k")), "v");
    lgw_batch_info_cleanup(&info);
    /* Another tenant does not see it; an admin (NULL) does. */
    assert_int_equal(lgw_batch_store_get(st, id, "other", &info), LGW_ERR(NOT_FOUND));
    lgw_batch_info_cleanup(&info);
    assert_int_equal(lgw_batch_store_get(st, id, NULL, &info), 0);
    lgw_batch_info_cleanup(&info);

    result(st, id, 1, 500, "run-b", 7, true, true);
    record(st, id, "acme", LGW_BATCH_SUBMITTED, 3, NOW, NOW + 2000);
    record(st, id, "acme", LGW_BATCH_SUBMITTING, 3, NOW, NOW + 3000); /* replayed: no step back */
    result(st, id, 0, 200, "run-a", 10, true, true);
    result(st, id, 0, 200, "run-a", 10, false, false); /* the same reply again */
    result(st, id, 0, 500, "run-a2", 4, false, true);  /* a rerun: its spend counts, its result does not */
    assert_int_equal(lgw_batch_store_get(st, id, "acme", &info), 0);
    assert_string_equal(info.status, "in_progress");
    assert_int_equal(info.in_progress_at, (NOW + 2000) / 1000);
    assert_int_equal(info.completed, 1);
    assert_int_equal(info.failed, 1);
    assert_int_equal(info.cost_nusd, 21);
    lgw_batch_info_cleanup(&info);
    result(st, id, 2, 200, "run-c", 1, true, true);
    assert_int_equal(lgw_batch_store_get(st, id, "acme", &info), 0);
    assert_string_equal(info.status, "completed");
    assert_true(info.completed_at > 0);
    assert_int_equal(info.total, 3);
    assert_int_equal(info.completed, 2);
    lgw_batch_info_cleanup(&info);
    record(st, id, "acme", LGW_BATCH_CANCELLING, 3, NOW, NOW + 9000); /* too late: finished batches stay */
    assert_int_equal(lgw_batch_store_get(st, id, "acme", &info), 0);
    assert_string_equal(info.status, "completed");
    lgw_batch_info_cleanup(&info);

    struct lines l = {0};
    lgw_buf_init(&l.text, 0);
    assert_int_equal(lgw_batch_store_render(st, id, LGW_BATCH_LINES_ALL, 0, collect_cb, &l), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.idx[0], 0);
    assert_int_equal(l.idx[2], 2);
    /* Each line is one JSON object in OpenAI's output format. */
    char *save = NULL, *line = strtok_r(l.text.ptr, "\n", &save);
    json_t *o = json_loads(line, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "id")), "batch_req_0123456789abcdef0123456789abcdef_0");
    assert_string_equal(json_string_value(json_object_get(o, "custom_id")), "req-0");
    json_t *resp = json_object_get(o, "response");
    assert_int_equal(json_integer_value(json_object_get(resp, "status_code")), 200);
    assert_string_equal(json_string_value(json_object_get(resp, "request_id")), "batch_0123456789abcdef0123456789abcdef-0");
    assert_string_equal(json_string_value(json_object_get(json_object_get(resp, "body"), "object")), "chat.completion");
    assert_true(json_is_null(json_object_get(o, "error")));
    json_decref(o);
    lgw_buf_cleanup(&l.text);

    /* Output: the 2xx lines; errors: the rest; from an index; stopped by the callback. */
    memset(&l, 0, sizeof(l));
    lgw_buf_init(&l.text, 0);
    assert_int_equal(lgw_batch_store_render(st, id, LGW_BATCH_LINES_OUTPUT, 1, collect_cb, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.idx[0], 2);
    l.n = 0;
    assert_int_equal(lgw_batch_store_render(st, id, LGW_BATCH_LINES_ERRORS, 0, collect_cb, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.idx[0], 1);
    l.n = 0;
    l.stop_after = 1;
    assert_int_equal(lgw_batch_store_render(st, id, LGW_BATCH_LINES_ALL, 0, collect_cb, &l), 0);
    assert_int_equal(l.n, 1);
    lgw_buf_cleanup(&l.text);
    int64_t count;
    assert_int_equal(lgw_batch_store_count_lines(st, id, LGW_BATCH_LINES_OUTPUT, &count), 0);
    assert_int_equal(count, 2);
}

static void test_expiry_and_cancel(void **state)
{
    struct lgw_batch_store *st = *state;
    const char *exp = "batch_11111111111111111111111111111111", *can = "batch_22222222222222222222222222222222";
    struct lgw_batch_info info;
    record(st, exp, "acme", LGW_BATCH_SUBMITTED, 3, NOW, NOW);
    result(st, exp, 1, 200, "r1", 5, true, true);
    record(st, can, "acme", LGW_BATCH_SUBMITTED, 2, NOW, NOW);
    record(st, can, "acme", LGW_BATCH_CANCELLING, 2, NOW, NOW + 1000);
    int64_t finished;
    /* Before the deadlines plus grace: nothing. */
    assert_int_equal(lgw_batch_store_sweep(st, NOW + 60000, 300, 600, &finished), 0);
    assert_int_equal(finished, 0);
    /* The cancel grace passes first. */
    assert_int_equal(lgw_batch_store_sweep(st, NOW + 1000 + 601000, 300, 600, &finished), 0);
    assert_int_equal(finished, 1);
    assert_int_equal(lgw_batch_store_get(st, can, "acme", &info), 0);
    assert_string_equal(info.status, "cancelled");
    assert_int_equal(info.failed, 2);
    lgw_batch_info_cleanup(&info);
    assert_int_equal(lgw_batch_store_sweep(st, NOW + LGW_BATCH_WINDOW_MS + 301000, 300, 600, &finished), 0);
    assert_int_equal(finished, 1);
    assert_int_equal(lgw_batch_store_get(st, exp, "acme", &info), 0);
    assert_string_equal(info.status, "expired");
    assert_int_equal(info.completed, 1);
    assert_int_equal(info.failed, 2);
    lgw_batch_info_cleanup(&info);
    struct lines l = {0};
    lgw_buf_init(&l.text, 0);
    assert_int_equal(lgw_batch_store_render(st, exp, LGW_BATCH_LINES_ERRORS, 0, collect_cb, &l), 0);
    assert_int_equal(l.n, 2);
    json_t *o = json_loadb(l.text.ptr, strcspn(l.text.ptr, "\n"), 0, NULL);
    assert_true(json_is_null(json_object_get(o, "response")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "error"), "code")), "batch_expired");
    json_decref(o);
    lgw_buf_cleanup(&l.text);
    /* A worker's late batch_expired answer replaces the placeholder (it knows the custom_id); a second
     * answer does not. */
    result(st, exp, 0, 408, "late", 0, true, true);
    result(st, exp, 0, 200, "later", 0, false, true);

    /* Retention: both are finished; one cut-off before their creation keeps them, one after deletes them. */
    int64_t deleted;
    assert_int_equal(lgw_batch_store_purge(st, NOW - 1, &deleted), 0);
    assert_int_equal(deleted, 0);
    assert_int_equal(lgw_batch_store_purge(st, NOW + 1, &deleted), 0);
    assert_int_equal(deleted, 2);
    assert_int_equal(lgw_batch_store_get(st, exp, NULL, &info), LGW_ERR(NOT_FOUND));
    lgw_batch_info_cleanup(&info);
    assert_int_equal(lgw_batch_store_count_lines(st, exp, LGW_BATCH_LINES_ALL, &deleted), 0);
    assert_int_equal(deleted, 0);
}

static void test_list_and_failed(void **state)
{
    struct lgw_batch_store *st = *state;
    char id[64];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "batch_%032d", i);
        record(st, id, i == 4 ? "other" : "acme", LGW_BATCH_SUBMITTING, 1, NOW + i * 1000, NOW + i * 1000);
    }
    struct lgw_batch_info out[3];
    size_t n;
    bool more;
    assert_int_equal(lgw_batch_store_list(st, "acme", NULL, 3, out, &n, &more), 0);
    assert_int_equal(n, 3);
    assert_true(more);
    assert_string_equal(out[0].id, "batch_00000000000000000000000000000003");
    assert_string_equal(out[2].id, "batch_00000000000000000000000000000001");
    for (size_t i = 0; i < n; i++)
        lgw_batch_info_cleanup(&out[i]);
    assert_int_equal(lgw_batch_store_list(st, "acme", "batch_00000000000000000000000000000001", 3, out, &n, &more), 0);
    assert_int_equal(n, 1);
    assert_false(more);
    assert_string_equal(out[0].id, "batch_00000000000000000000000000000000");
    lgw_batch_info_cleanup(&out[0]);
    /* A cursor of another tenant is not found. */
    assert_int_equal(lgw_batch_store_list(st, "acme", "batch_00000000000000000000000000000004", 3, out, &n, &more),
                     LGW_ERR(NOT_FOUND));
    assert_int_equal(lgw_batch_store_list(st, NULL, NULL, 3, out, &n, &more), 0);
    assert_string_equal(out[0].id, "batch_00000000000000000000000000000004");
    for (size_t i = 0; i < n; i++)
        lgw_batch_info_cleanup(&out[i]);
    /* A failed submission: status failed with OpenAI's errors object. */
    record(st, "batch_00000000000000000000000000000000", "acme", LGW_BATCH_FAILED, 1, NOW, NOW + 5000);
    struct lgw_batch_info info;
    assert_int_equal(lgw_batch_store_get(st, "batch_00000000000000000000000000000000", "acme", &info), 0);
    assert_string_equal(info.status, "failed");
    json_t *e0 = json_array_get(json_object_get(info.errors, "data"), 0);
    assert_string_equal(json_string_value(json_object_get(e0, "message")), "Kafka went away");
    lgw_batch_info_cleanup(&info);
}

static void test_too_large_result(void **state)
{
    struct lgw_batch_store *st = *state;
    const char *id = "batch_33333333333333333333333333333333";
    record(st, id, "acme", LGW_BATCH_SUBMITTED, 1, NOW, NOW);
    struct lgw_reply r = {0};
    lgw_strlcpy(r.id, "x-0", sizeof(r.id));
    lgw_strlcpy(r.run_id, "rx", sizeof(r.run_id));
    r.status = 200;
    lgw_strlcpy(r.batch.id, id, sizeof(r.batch.id));
    r.body = json_pack("{s:s}", "content", "0123456789012345678901234567890123456789");
    bool kept, counted;
    struct lgw_batch_delta delta = {0};
    assert_int_equal(lgw_batch_store_add_result(st, &r, 20, NOW, &kept, &counted, &delta), 0);
    assert_true(kept);
    lgw_reply_cleanup(&r);
    struct lines l = {0};
    lgw_buf_init(&l.text, 0);
    assert_int_equal(lgw_batch_store_render(st, id, LGW_BATCH_LINES_ERRORS, 0, collect_cb, &l), 0);
    assert_int_equal(l.n, 1);
    assert_non_null(strstr(l.text.ptr, "result_too_large"));
    lgw_buf_cleanup(&l.text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry_and_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_and_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large_result, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
