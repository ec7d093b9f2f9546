/* test_catalog_life.c - the model catalog over time: retired models (never routed to, answered with their
 * successor), the retirement day's boundary, overrides of dates, and the holder's reload (a bad file keeps the
 * last good catalog). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/model.h"
#include "routing/catalog.h"
#include "tests/support/catalog_text.h"

/* ------------------------------------------------------------------------------------------ retired */

/* served m1; "old" retired 2025-10-28 (successor m1); "later" retiring 2026-12-03 (successor m1); a group and
 * chains that name both. */
#define LIFE                                                                                                  \
    HEAD "'models':[" M1 "," OLD("'m1'") ",{'id':'later','provider':'openai','capabilities':['chat'],"        \
         "'context_window':1000,'retired':'2026-12-03','successor':'m1','retired_source':'s'}," E1 "],"      \
         "'groups':{'g':['openai/old','openai/m1','openai/later']},"                                         \
         "'fallbacks':{'old':['openai/m1'],'m1':['openai/old','openai/later']}}"

static void test_retired_models(void **state)
{
    (void)state;
    struct lgw_catalog *cat;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    json_t *doc = lgw_test_json(LIFE);
    int rc = lgw_catalog_build_at(doc, NULL, NULL, 20261202, &cat, &errs);
    if (rc)
        fail_msg("rejected: %s", errs.ptr ? errs.ptr : "");

    /* A retired model is no candidate by any of its names, and not among the served models. */
    assert_null(lgw_test_resolve_one(cat, "old", LGW_JOB_CHAT));
    assert_null(lgw_test_resolve_one(cat, "old-2024", LGW_JOB_CHAT));
    assert_null(lgw_test_resolve_one(cat, "openai/old", LGW_JOB_CHAT));
    assert_int_equal(lgw_catalog_count(cat), 3); /* m1, later, e1 */
    for (size_t i = 0; i < lgw_catalog_count(cat); i++)
        assert_string_not_equal(lgw_catalog_at(cat, i)->id, "old");
    assert_null(lgw_catalog_at(cat, 3));

    /* It is found as retired, with its date and successor, by id, alias and provider/name. */
    const struct lgw_model_info *m1 = lgw_test_resolve_one(cat, "m1", LGW_JOB_CHAT);
    static const char *const names[] = {"old", "old-2024", "openai/old", "openai/old-2024"};
    for (size_t i = 0; i < 4; i++) {
        struct lgw_retirement ret = {0};
        if (!lgw_catalog_retired(cat, names[i], LGW_JOB_CHAT, &ret))
            fail_msg("%s is not found as retired", names[i]);
        assert_string_equal(ret.model->id, "old");
        assert_string_equal(ret.model->upstream, "old-2024");
        assert_string_equal(ret.date, "2025-10-28");
        assert_ptr_equal(ret.successor, m1);
    }
    struct lgw_retirement ret;
    assert_false(lgw_catalog_retired(cat, "old", LGW_JOB_EMBEDDINGS, &ret)); /* a chat model */
    assert_false(lgw_catalog_retired(cat, "mistral/old", LGW_JOB_CHAT, &ret));
    assert_false(lgw_catalog_retired(cat, "m1", LGW_JOB_CHAT, &ret));     /* served */
    assert_false(lgw_catalog_retired(cat, "later", LGW_JOB_CHAT, &ret));  /* retires tomorrow */
    assert_false(lgw_catalog_retired(cat, "nope", LGW_JOB_CHAT, &ret));

    /* The group keeps its served members, in order; the chain of a retired model is dropped, and a chain
     * leaves its retired members out. */
    size_t n;
    const struct lgw_model_info *const *g = lgw_catalog_group(cat, "g", &n);
    assert_int_equal(n, 2);
    assert_ptr_equal(g[0], m1);
    assert_string_equal(g[1]->id, "later");
    const struct lgw_model_info *const *fb = lgw_catalog_fallbacks(cat, m1, &n);
    assert_non_null(fb);
    assert_int_equal(n, 1);
    assert_string_equal(fb[0]->id, "later");
    lgw_catalog_unref(cat);
    json_decref(doc);
    lgw_buf_cleanup(&errs);
}

/* A model is retired from its date on: served the day before, retired on the day and after. */
static void test_retired_boundary(void **state)
{
    (void)state;
    static const struct {
        int today;
        bool old_gone, later_gone;
    } days[] = {{20251027, false, false}, {20251028, true, false}, {20251029, true, false},
                {20261202, true, false},  {20261203, true, true},  {20270101, true, true}};
    json_t *doc = lgw_test_json(LIFE);
    for (size_t i = 0; i < sizeof(days) / sizeof(days[0]); i++) {
        struct lgw_catalog *cat;
        struct lgw_buf errs;
        lgw_buf_init(&errs, 0);
        if (lgw_catalog_build_at(doc, NULL, NULL, days[i].today, &cat, &errs))
            fail_msg("%d: rejected: %s", days[i].today, errs.ptr ? errs.ptr : "");
        struct lgw_retirement ret;
        if ((lgw_test_resolve_one(cat, "old", LGW_JOB_CHAT) == NULL) != days[i].old_gone ||
            lgw_catalog_retired(cat, "old", LGW_JOB_CHAT, &ret) != days[i].old_gone)
            fail_msg("%d: old should be %s", days[i].today, days[i].old_gone ? "retired" : "served");
        if ((lgw_test_resolve_one(cat, "later", LGW_JOB_CHAT) == NULL) != days[i].later_gone ||
            lgw_catalog_retired(cat, "later", LGW_JOB_CHAT, &ret) != days[i].later_gone)
            fail_msg("%d: later should be %s", days[i].today, days[i].later_gone ? "retired" : "served");
        size_t n;
        lgw_catalog_group(cat, "g", &n);
        assert_int_equal(n, 3 - (size_t)days[i].old_gone - (size_t)days[i].later_gone);
        lgw_catalog_unref(cat);
        lgw_buf_cleanup(&errs);
    }
    json_decref(doc);
}

/* An override can retire a model, or lift a retirement with null; a group whose every member is retired
 * still loads, empty. */
static void test_retired_overrides(void **state)
{
    (void)state;
    struct lgw_catalog *cat;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    json_t *base = lgw_test_json(LIFE);
    json_t *ov = lgw_test_json("{'models':[{'provider':'openai','id':'old','retired':null,'successor':null,"
                   "'retired_source':null},{'provider':'openai','id':'m2','capabilities':['chat'],"
                   "'context_window':10,'retired':'2026-01-01','successor':'m1','retired_source':'s'}],"
                   "'groups':{'h':['openai/m2']}}");
    if (lgw_catalog_build_at(base, ov, NULL, 20261202, &cat, &errs))
        fail_msg("rejected: %s", errs.ptr ? errs.ptr : "");
    assert_non_null(lgw_test_resolve_one(cat, "old", LGW_JOB_CHAT));
    assert_null(lgw_test_resolve_one(cat, "m2", LGW_JOB_CHAT));
    struct lgw_retirement ret;
    assert_true(lgw_catalog_retired(cat, "m2", LGW_JOB_CHAT, &ret));
    assert_string_equal(ret.date, "2026-01-01");
    size_t n = 9;
    assert_non_null(lgw_catalog_group(cat, "h", &n));
    assert_int_equal(n, 0);
    lgw_catalog_unref(cat);
    json_decref(ov);

    /* Disabling the successor leaves the retired model pointing at nothing: an error, naming both. */
    ov = lgw_test_json("{'models':[{'provider':'openai','id':'m1','disabled':true}],'groups':{'g':['openai/later']},"
           "'fallbacks':{}}");
    assert_int_equal(lgw_catalog_build_at(base, ov, NULL, 20261202, &cat, &errs), LGW_ERR(CONFIG));
    assert_null(cat);
    lgw_test_assert_contains(errs.ptr, "openai/old: \"successor\" \"m1\"");
    lgw_test_assert_contains(errs.ptr, "openai/later: \"successor\" \"m1\"");
    json_decref(ov);
    json_decref(base);
    lgw_buf_cleanup(&errs);
}

/* ------------------------------------------------------------------------------------------- holder */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    char *s = strdup(text);
    assert_non_null(s);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    assert_int_equal(fputs(s, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    free(s);
}

static void temp_path(char *out, size_t outsz)
{
    snprintf(out, outsz, "/tmp/llmgw_test_catalog_XXXXXX");
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    close(fd);
}

static void test_holder_reload(void **state)
{
    (void)state;
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    char cat_path[64], ov_path[64];
    temp_path(cat_path, sizeof(cat_path));
    temp_path(ov_path, sizeof(ov_path));
    write_file(cat_path, VALID);
    write_file(ov_path, "{'catalog_version':'o1','models':[{'provider':'openai','id':'m2','latency_ms':250}]}");
    snprintf(cfg.catalog_file, sizeof(cfg.catalog_file), "%s", cat_path);
    snprintf(cfg.catalog_overrides, sizeof(cfg.catalog_overrides), "%s", ov_path);

    struct lgw_catalog_holder *h;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    int rc = lgw_catalog_holder_new(&cfg, &h, &errs);
    if (rc)
        fail_msg("holder: %s", errs.ptr ? errs.ptr : "");
    struct lgw_catalog *first = lgw_catalog_current(h);
    assert_string_equal(lgw_catalog_version(first), "t1+o1");
    assert_int_equal(lgw_test_resolve_one(first, "m2", LGW_JOB_CHAT)->latency_ms, 250);
    assert_null(lgw_test_resolve_one(first, "m3", LGW_JOB_CHAT));

    /* A broken override file: the reload fails and the last good catalog stays. */
    write_file(ov_path, "{'models': [");
    assert_int_equal(lgw_catalog_reload(h), LGW_ERR(CONFIG));
    struct lgw_catalog *still = lgw_catalog_current(h);
    assert_ptr_equal(still, first);
    assert_string_equal(lgw_catalog_version(still), "t1+o1");
    assert_non_null(lgw_test_resolve_one(still, "m1", LGW_JOB_CHAT));
    lgw_catalog_unref(still);

    /* Valid JSON that does not validate: the same. */
    write_file(ov_path, "{'models':[{'provider':'openai','id':'m2','capabilities':['chat','telepathy']}]}");
    assert_int_equal(lgw_catalog_reload(h), LGW_ERR(CONFIG));
    still = lgw_catalog_current(h);
    assert_ptr_equal(still, first);
    lgw_catalog_unref(still);

    /* A good file adding a model: the reload swaps it in; `first`, taken before, stays usable. */
    const struct lgw_model_info *old_m1 = lgw_test_resolve_one(first, "m1", LGW_JOB_CHAT);
    write_file(ov_path, "{'catalog_version':'o2','models':[{'id':'m3','provider':'anthropic','capabilities':"
                        "['chat'],'context_window':123}]}");
    assert_int_equal(lgw_catalog_reload(h), 0);
    struct lgw_catalog *second = lgw_catalog_current(h);
    assert_ptr_not_equal(second, first);
    assert_string_equal(lgw_catalog_version(second), "t1+o2");
    const struct lgw_model_info *m3 = lgw_test_resolve_one(second, "m3", LGW_JOB_CHAT);
    assert_non_null(m3);
    assert_int_equal(m3->context_window, 123);
    assert_int_equal(lgw_test_resolve_one(second, "m2", LGW_JOB_CHAT)->latency_ms, 1000); /* the old override is gone */
    assert_null(lgw_test_resolve_one(first, "m3", LGW_JOB_CHAT));
    assert_string_equal(old_m1->id, "m1"); /* still readable: the job's reference keeps it alive */
    assert_int_equal(old_m1->context_window, 1000);
    assert_string_equal(lgw_catalog_version(first), "t1+o1");
    lgw_catalog_unref(first);
    lgw_catalog_unref(second);

    /* A SIGHUP (the generation moves) makes the next refresh reload; nothing moved, nothing happens. */
    write_file(ov_path, "{'catalog_version':'o3'}");
    lgw_catalog_holder_refresh(h);
    struct lgw_catalog *cur = lgw_catalog_current(h);
    assert_string_equal(lgw_catalog_version(cur), "t1+o2");
    lgw_catalog_unref(cur);
    atomic_fetch_add(&lgw_catalog_generation, 1);
    lgw_catalog_holder_refresh(h);
    cur = lgw_catalog_current(h);
    assert_string_equal(lgw_catalog_version(cur), "t1+o3");
    assert_null(lgw_test_resolve_one(cur, "m3", LGW_JOB_CHAT));
    lgw_catalog_unref(cur);

    lgw_catalog_holder_free(h);

    /* Start-up with a file that does not validate fails, and so does a file that is missing. */
    write_file(ov_path, "{'models':[{'provider':'openai','id':'m1','prise':1}]}");
    h = (struct lgw_catalog_holder *)&h;
    assert_int_equal(lgw_catalog_holder_new(&cfg, &h, &errs), LGW_ERR(CONFIG));
    assert_null(h);
    lgw_test_assert_contains(errs.ptr, "prise");
    lgw_buf_reset(&errs);
    assert_int_equal(remove(ov_path), 0);
    assert_int_equal(lgw_catalog_holder_new(&cfg, &h, &errs), LGW_ERR(CONFIG));
    assert_null(h);
    lgw_test_assert_contains(errs.ptr, ov_path);
    lgw_buf_reset(&errs);
    cfg.catalog_overrides[0] = '\0';
    assert_int_equal(lgw_catalog_holder_new(&cfg, &h, &errs), 0);
    cur = lgw_catalog_current(h);
    assert_string_equal(lgw_catalog_version(cur), "t1");
    lgw_catalog_unref(cur);
    lgw_catalog_holder_free(h);
    lgw_catalog_holder_free(NULL);

    assert_int_equal(remove(cat_path), 0);
    lgw_buf_cleanup(&errs);
}

/* The built-in catalog retires what its providers have announced, on the day itself: the gpt-5 family and o3
 * are served on 2026-12-10 and retired, with their successors, from 2026-12-11, without a catalog update. */
static void test_builtin_announced_retirements(void **state)
{
    (void)state;
    static const char *const names[][2] = {
        {"gpt-5", "gpt-4.1"}, {"gpt-5-mini", "gpt-4.1-mini"}, {"gpt-5-nano", "gpt-4.1-mini"}, {"o3", "gpt-4.1"}};
    json_error_t jerr;
    json_t *doc = json_loads((const char *)lgw_catalog_builtin_json, 0, &jerr);
    assert_non_null(doc);
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    struct lgw_catalog *before, *after;
    assert_int_equal(lgw_catalog_build_at(doc, NULL, NULL, 20261210, &before, &errs), 0);
    assert_int_equal(lgw_catalog_build_at(doc, NULL, NULL, 20261211, &after, &errs), 0);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct lgw_retirement r;
        assert_non_null(lgw_test_resolve_one(before, names[i][0], LGW_JOB_CHAT));
        assert_false(lgw_catalog_retired(before, names[i][0], LGW_JOB_CHAT, &r));
        assert_null(lgw_test_resolve_one(after, names[i][0], LGW_JOB_CHAT));
        assert_true(lgw_catalog_retired(after, names[i][0], LGW_JOB_CHAT, &r));
        assert_string_equal(r.date, "2026-12-11");
        assert_non_null(r.successor);
        assert_string_equal(r.successor->id, names[i][1]);
        assert_non_null(lgw_test_resolve_one(after, names[i][1], LGW_JOB_CHAT)); /* the advice is served */
    }
    /* the default routing group keeps every member */
    size_t n_before, n_after;
    lgw_catalog_group(before, "auto", &n_before);
    lgw_catalog_group(after, "auto", &n_after);
    assert_int_equal(n_before, n_after);
    lgw_catalog_unref(before);
    lgw_catalog_unref(after);
    json_decref(doc);
    lgw_buf_cleanup(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retired_models),   cmocka_unit_test(test_retired_boundary),
        cmocka_unit_test(test_retired_overrides), cmocka_unit_test(test_holder_reload),
        cmocka_unit_test(test_builtin_announced_retirements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
