/* test_catalog.c - the model catalog: the built-in document, validation of every field, operator overrides and
 * compat models from the configuration. Retirement and reloads: test_catalog_life.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "routing/catalog.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/model.h"
#include "tests/support/catalog_text.h"

/* ------------------------------------------------------------------------------------------ built-in */

static void test_builtin_loads(void **state)
{
    (void)state;
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    struct lgw_catalog *cat;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    int rc = lgw_catalog_load(&cfg, &cat, &errs);
    if (rc)
        fail_msg("built-in catalog: %s", errs.ptr ? errs.ptr : "");
    assert_non_null(cat);
    assert_true(lgw_catalog_count(cat) > 20);
    assert_non_null(lgw_catalog_version(cat));
    assert_true(strlen(lgw_catalog_version(cat)) > 0);

    /* Models without a shutdown date: served whatever day the test runs. */
    static const char *const chat[] = {"gpt-4o",           "gpt-4o-mini",      "gpt-4.1",
                                       "gpt-4.1-mini",     "claude-sonnet-4-6", "claude-haiku-4-5",
                                       "claude-sonnet-4-5", "gemini-2.5-flash-lite", "mistral-large-latest"};
    for (size_t i = 0; i < sizeof(chat) / sizeof(chat[0]); i++) {
        const struct lgw_model_info *m = lgw_test_resolve_one(cat, chat[i], LGW_JOB_CHAT);
        if (!m)
            fail_msg("built-in catalog lacks %s", chat[i]);
        assert_int_equal(m->kind, LGW_JOB_CHAT);
    }
    static const char *const emb[] = {"text-embedding-3-small", "text-embedding-3-large"};
    for (size_t i = 0; i < 2; i++) {
        const struct lgw_model_info *m = lgw_test_resolve_one(cat, emb[i], LGW_JOB_EMBEDDINGS);
        if (!m)
            fail_msg("built-in catalog lacks %s", emb[i]);
        assert_int_equal(m->kind, LGW_JOB_EMBEDDINGS);
        assert_null(lgw_test_resolve_one(cat, emb[i], LGW_JOB_CHAT)); /* an embedding model is no chat model */
    }

    const struct lgw_model_info *mini = lgw_test_resolve_one(cat, "gpt-4o-mini", LGW_JOB_CHAT);
    assert_string_equal(mini->provider, "openai");
    assert_true(mini->price.known);
    assert_int_equal(mini->price.input_nusd_per_mtok, 150000000);
    assert_int_equal(mini->price.output_nusd_per_mtok, 600000000);
    assert_int_equal(mini->price.cached_input_nusd_per_mtok, 75000000);
    assert_int_equal(mini->price.long_above_tokens, 0);
    assert_int_equal(mini->context_window, 128000);
    assert_int_equal(mini->max_output_tokens, 16384);
    unsigned want = LGW_CAP_TOOLS | LGW_CAP_VISION | LGW_CAP_JSON_MODE | LGW_CAP_STREAMING;
    assert_int_equal(mini->caps & want, want);
    assert_ptr_equal(lgw_test_resolve_one(cat, "openai/gpt-4o-mini", LGW_JOB_CHAT), mini);
    assert_null(lgw_test_resolve_one(cat, "anthropic/gpt-4o-mini", LGW_JOB_CHAT));

    const struct lgw_model_info *sonnet = lgw_test_resolve_one(cat, "claude-sonnet-4-5", LGW_JOB_CHAT);
    assert_non_null(sonnet);
    assert_string_equal(sonnet->provider, "anthropic");
    assert_string_equal(sonnet->upstream, "claude-sonnet-4-5-20250929");
    assert_ptr_equal(lgw_test_resolve_one(cat, "claude-sonnet-4-5-20250929", LGW_JOB_CHAT), sonnet);
    assert_ptr_equal(lgw_test_resolve_one(cat, "anthropic/claude-sonnet-4-5", LGW_JOB_CHAT), sonnet);
    assert_int_equal(sonnet->caps & LGW_CAP_JSON_MODE, 0); /* the Anthropic adapter has no response_format */
    assert_int_equal(sonnet->price.long_above_tokens, 200000);
    assert_int_equal(sonnet->price.long_input_nusd_per_mtok, 6000000000LL);
    assert_int_equal(sonnet->price.long_output_nusd_per_mtok, 22500000000LL);

    /* Claude 3.5 Sonnet was retired by Anthropic: no candidate by any of its names, and its successor is the
     * Sonnet of the auto group. */
    const struct lgw_model_info *sonnet46 = lgw_test_resolve_one(cat, "claude-sonnet-4-6", LGW_JOB_CHAT);
    assert_non_null(sonnet46);
    static const char *const old_sonnet[] = {"claude-3-5-sonnet", "claude-3-5-sonnet-20241022",
                                             "claude-3-5-sonnet-latest", "anthropic/claude-3-5-sonnet"};
    for (size_t i = 0; i < 4; i++) {
        struct lgw_retirement ret;
        assert_null(lgw_test_resolve_one(cat, old_sonnet[i], LGW_JOB_CHAT));
        if (!lgw_catalog_retired(cat, old_sonnet[i], LGW_JOB_CHAT, &ret))
            fail_msg("%s is not retired", old_sonnet[i]);
        assert_string_equal(ret.model->upstream, "claude-3-5-sonnet-20241022");
        assert_string_equal(ret.date, "2025-10-28");
        assert_ptr_equal(ret.successor, sonnet46);
    }
    /* The models past their provider's date on 2026-12-02 (docs/PRICES.md, Lifecycle). */
    static const char *const gone[] = {"claude-3-5-haiku",  "claude-sonnet-4-20250514", "claude-opus-4-1",
                                       "gemini-2.0-flash",  "gemini-2.0-flash-lite",    "gemini-2.5-flash",
                                       "gemini-2.5-pro",    "gpt-4.1-nano",             "o3-mini",
                                       "o4-mini"};
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
        struct lgw_retirement ret;
        if (lgw_test_resolve_one(cat, gone[i], LGW_JOB_CHAT) || !lgw_catalog_retired(cat, gone[i], LGW_JOB_CHAT, &ret))
            fail_msg("%s should be retired", gone[i]);
        assert_non_null(ret.successor);
        assert_int_equal(ret.successor->kind, LGW_JOB_CHAT);
        assert_ptr_equal(lgw_test_resolve_one(cat, ret.successor->id, LGW_JOB_CHAT), ret.successor); /* served */
    }
    struct lgw_retirement e004;
    assert_null(lgw_test_resolve_one(cat, "text-embedding-004", LGW_JOB_EMBEDDINGS));
    assert_true(lgw_catalog_retired(cat, "text-embedding-004", LGW_JOB_EMBEDDINGS, &e004));
    assert_null(e004.successor); /* Google's replacement is not in the catalog */

    /* A chat name is nothing for an embeddings job. */
    const struct lgw_model_info *found[4];
    assert_int_equal(lgw_catalog_resolve(cat, "gpt-4o", LGW_JOB_EMBEDDINGS, found, 4), 0);
    assert_int_equal(lgw_catalog_resolve(cat, "no-such-model", LGW_JOB_CHAT, found, 4), 0);

    size_t n;
    const struct lgw_model_info *const *auto_g = lgw_catalog_group(cat, "auto", &n);
    assert_non_null(auto_g);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(auto_g[i]->kind, LGW_JOB_CHAT);
    assert_string_equal(auto_g[0]->id, "gpt-4o-mini");
    /* Large requests go to a served Claude Sonnet with the largest window, priced. */
    assert_ptr_equal(auto_g[2], sonnet46);
    assert_true(sonnet46->context_window > 128000);
    assert_true(sonnet46->price.known);
    assert_null(lgw_catalog_group(cat, "no-such-group", &n));
    assert_int_equal(n, 0);
    bool saw_auto = false;
    const char *g;
    for (size_t i = 0; (g = lgw_catalog_group_name(cat, i)) != NULL; i++)
        saw_auto |= strcmp(g, "auto") == 0;
    assert_true(saw_auto);
    assert_null(lgw_catalog_fallbacks(cat, mini, &n)); /* the built-in catalog ships no chains */

    for (size_t i = 0; i < lgw_catalog_count(cat); i++) {
        const struct lgw_model_info *m = lgw_catalog_at(cat, i);
        assert_non_null(m);
        if (strcmp(m->provider, "compat") != 0 && m->context_window <= 0)
            fail_msg("%s/%s has no context window", m->provider, m->id);
        if (m->kind == LGW_JOB_CHAT && strcmp(m->provider, "compat") != 0 && m->max_output_tokens <= 0)
            fail_msg("%s/%s has no output limit", m->provider, m->id);
        assert_true(m->latency_ms > 0);
    }
    assert_null(lgw_catalog_at(cat, lgw_catalog_count(cat)));

    /* Every priced entry of the document cites a source the document describes. */
    json_error_t jerr;
    json_t *doc = json_loads((const char *)lgw_catalog_builtin_json, 0, &jerr);
    assert_non_null(doc);
    json_t *sources = json_object_get(doc, "sources");
    size_t i;
    json_t *mj;
    /* No built-in group names a retired model: the groups lose no member to retirement. */
    const char *gname;
    json_t *members;
    json_object_foreach(json_object_get(doc, "groups"), gname, members) {
        lgw_catalog_group(cat, gname, &n);
        if (n != json_array_size(members))
            fail_msg("group %s names a retired model (%zu of %zu served)", gname, n, json_array_size(members));
    }
    json_array_foreach(json_object_get(doc, "models"), i, mj) {
        if (!json_is_object(json_object_get(mj, "price")))
            continue;
        const char *src = json_string_value(json_object_get(mj, "source"));
        if (!src || !json_is_string(json_object_get(sources, src)))
            fail_msg("models[%zu] (%s) is priced without a described source", i,
                     json_string_value(json_object_get(mj, "id")));
    }
    json_decref(doc);

    struct lgw_catalog *ref = lgw_catalog_ref(cat);
    assert_ptr_equal(ref, cat);
    lgw_catalog_unref(ref);
    lgw_catalog_unref(cat);
    lgw_catalog_unref(NULL);
    lgw_buf_cleanup(&errs);
}

/* ---------------------------------------------------------------------------------------- validation */


static void test_build_minimal(void **state)
{
    (void)state;
    struct lgw_catalog *cat;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    int rc = lgw_test_build_catalog(VALID, NULL, NULL, &cat, &errs);
    if (rc)
        fail_msg("valid document rejected: %s", errs.ptr ? errs.ptr : "");
    assert_string_equal(lgw_catalog_version(cat), "t1");
    assert_int_equal(lgw_catalog_count(cat), 3);
    const struct lgw_model_info *m1 = lgw_test_resolve_one(cat, "m1", LGW_JOB_CHAT);
    assert_non_null(m1);
    assert_string_equal(m1->id, "m1");
    assert_string_equal(m1->provider, "openai");
    assert_null(m1->upstream);
    assert_int_equal(m1->caps, LGW_CAP_STREAMING | LGW_CAP_TOOLS);
    assert_int_equal(m1->context_window, 1000);
    assert_int_equal(m1->max_output_tokens, 100);
    assert_int_equal(m1->latency_ms, 300);
    assert_true(m1->price.known);
    assert_int_equal(m1->price.input_nusd_per_mtok, 1000000000);
    assert_int_equal(m1->price.output_nusd_per_mtok, 2000000000);
    assert_int_equal(m1->price.cached_input_nusd_per_mtok, 500000000);
    const struct lgw_model_info *m2 = lgw_test_resolve_one(cat, "m2", LGW_JOB_CHAT);
    assert_non_null(m2);
    assert_false(m2->price.known);           /* no price: unknown, never $0 */
    assert_int_equal(m2->latency_ms, 1000);  /* the default seed */
    assert_int_equal(m2->max_output_tokens, 0);
    assert_non_null(lgw_test_resolve_one(cat, "e1", LGW_JOB_EMBEDDINGS));
    assert_null(lgw_test_resolve_one(cat, "e1", LGW_JOB_CHAT));
    size_t n;
    const struct lgw_model_info *const *g = lgw_catalog_group(cat, "g", &n);
    assert_int_equal(n, 2);
    assert_ptr_equal(g[0], m1);
    assert_ptr_equal(g[1], m2);
    const struct lgw_model_info *const *fb = lgw_catalog_fallbacks(cat, m1, &n);
    assert_int_equal(n, 1);
    assert_ptr_equal(fb[0], m2);
    assert_null(lgw_catalog_fallbacks(cat, m2, &n));
    lgw_catalog_unref(cat);

    /* The same id at two providers is two models; a bare name finds both, a prefixed one its own. */
    rc = lgw_test_build_catalog(HEAD "'models':[" M1 ",{'id':'m1','provider':'mistral','capabilities':['chat'],"
                         "'context_window':10}]}",
                    NULL, NULL, &cat, &errs);
    if (rc)
        fail_msg("rejected: %s", errs.ptr ? errs.ptr : "");
    const struct lgw_model_info *found[4];
    assert_int_equal(lgw_catalog_resolve(cat, "m1", LGW_JOB_CHAT, found, 4), 2);
    assert_int_equal(lgw_catalog_resolve(cat, "m1", LGW_JOB_CHAT, found, 1), 1); /* capped at max */
    assert_string_equal(lgw_test_resolve_one(cat, "mistral/m1", LGW_JOB_CHAT)->provider, "mistral");
    assert_string_equal(lgw_test_resolve_one(cat, "openai/m1", LGW_JOB_CHAT)->provider, "openai");
    lgw_catalog_unref(cat);

    /* A long-context tier. */
    rc = lgw_test_build_catalog(HEAD "'models':[{'id':'big','provider':'gemini','capabilities':['chat'],'context_window':"
                         "1000000,'price':{'input':'1.25','output':'10','long_context':{'above_input_tokens':"
                         "200000,'input':'2.50','output':'15'}},'source':'s'}]}",
                    NULL, NULL, &cat, &errs);
    if (rc)
        fail_msg("rejected: %s", errs.ptr ? errs.ptr : "");
    const struct lgw_model_info *big = lgw_test_resolve_one(cat, "big", LGW_JOB_CHAT);
    assert_int_equal(big->price.long_above_tokens, 200000);
    assert_int_equal(big->price.long_input_nusd_per_mtok, 2500000000LL);
    assert_int_equal(big->price.long_cached_input_nusd_per_mtok, 2500000000LL); /* defaults to the input rate */
    assert_int_equal(big->price.cached_input_nusd_per_mtok, 1250000000LL);
    lgw_catalog_unref(cat);
    lgw_buf_cleanup(&errs);
}

struct bad_case {
    const char *what;
    const char *doc;
    const char *needle[2]; /* what the message must name */
};

static const struct bad_case bad_cases[] = {
    {"unknown top-level key", HEAD "'models':[" M1 "],'modles':[]}", {"modles", NULL}},
    {"unknown model key", HEAD "'models':[{'id':'m1','provider':'openai','capabilities':['chat'],"
                               "'context_window':10,'prise':{}}]}",
     {"prise", "m1"}},
    {"unknown provider", HEAD "'models':[{'id':'m1','provider':'openia','capabilities':['chat'],"
                              "'context_window':10}]}",
     {"openia/m1", "provider"}},
    {"bad capability", HEAD "'models':[{'id':'m1','provider':'openai','capabilities':['chat','telepathy'],"
                            "'context_window':10}]}",
     {"telepathy", "m1"}},
    {"chat and embeddings", HEAD "'models':[{'id':'m1','provider':'openai','capabilities':['chat','embeddings'],"
                                 "'context_window':10}]}",
     {"m1", "capabilities"}},
    {"no kind", HEAD "'models':[{'id':'m1','provider':'openai','capabilities':['tools'],'context_window':10}]}",
     {"m1", "capabilities"}},
    {"price not a number", HEAD "'models':[{'id':'m1','provider':'openai','capabilities':['chat'],"
                                "'context_window':10,'price':{'input':'abc','output':'1'},'source':'s'}]}",
     {"m1", "\"input\""}},
    {"negative price", HEAD "'models':[{'id':'m1','provider':'openai','capabilities':['chat'],"
                            "'context_window':10,'price':{'input':'1','output':'-1'},'source':'s'}]}",
     {"m1", "\"output\""}},
    {"price as a JSON number", HEAD "'models':[{'id':'m1','provider':'openai','capabilities':['chat'],"
                                    "'context_window':10,'price':{'input':1,'output':'1'},'source':'s'}]}",
     {"m1", "\"input\""}},
    {"price without output", HEAD "'models':[{'id':'m1','provider':'openai','capabilities':['chat'],"
                                  "'context_window':10,'price':{'input':'1'},'source':'s'}]}",
     {"m1", "\"output\""}},
    {"priced without source", HEAD "'models':[{'id':'m1','provider':'openai','capabilities':['chat'],"
                                   "'context_window':10,'price':{'input':'1','output':'1'}}]}",
     {"m1", "source"}},
    {"source not in sources", HEAD "'models':[{'id':'m1','provider':'openai','capabilities':['chat'],"
                                   "'context_window':10,'price':{'input':'1','output':'1'},'source':'nope'}]}",
     {"m1", "source"}},
    {"duplicate id", HEAD "'models':[" M1 ",{'id':'m1','provider':'openai','capabilities':['chat'],"
                          "'context_window':10}]}",
     {"openai/m1", "two models"}},
    {"alias collides with an id", HEAD "'models':[{'id':'m1','provider':'openai','aliases':['m2'],"
                                       "'capabilities':['chat'],'context_window':10}," M2 "]}",
     {"openai/m2", "two models"}},
    {"alias collides with an alias", HEAD "'models':[{'id':'m1','provider':'openai','aliases':['x'],"
                                          "'capabilities':['chat'],'context_window':10},{'id':'m2','provider':"
                                          "'openai','aliases':['x'],'capabilities':['chat'],'context_window':10}]}",
     {"openai/x", "two models"}},
    {"group member missing", HEAD "'models':[" M1 "],'groups':{'grp':['openai/m1','openai/nope']}}",
     {"\"grp\"", "member 1"}},
    {"group member unprefixed", HEAD "'models':[" M1 "],'groups':{'grp':['m1']}}", {"\"grp\"", "member 0"}},
    {"group named like a model", HEAD "'models':[" M1 "," M2 "],'groups':{'m2':['openai/m1']}}",
     {"\"m2\"", "model name"}},
    {"empty group", HEAD "'models':[" M1 "],'groups':{'grp':[]}}", {"\"grp\"", "non-empty"}},
    {"group mixing kinds", HEAD "'models':[" M1 "," E1 "],'groups':{'grp':['openai/m1','openai/e1']}}",
     {"\"grp\"", "mixes"}},
    {"fallback key not a model", HEAD "'models':[" M1 "],'fallbacks':{'nope':['openai/m1']}}",
     {"\"nope\"", "fallbacks"}},
    {"fallback member missing", HEAD "'models':[" M1 "],'fallbacks':{'m1':['openai/zz']}}",
     {"\"m1\"", "member 0"}},
    {"embeddings with an output limit", HEAD "'models':[{'id':'e1','provider':'openai','capabilities':"
                                             "['embeddings'],'context_window':10,'max_output_tokens':5}]}",
     {"e1", "max_output_tokens"}},
    {"no context window", HEAD "'models':[{'id':'m1','provider':'openai','capabilities':['chat']}]}",
     {"m1", "context_window"}},
    {"context window out of range", HEAD "'models':[{'id':'m1','provider':'openai','capabilities':['chat'],"
                                         "'context_window':0}]}",
     {"m1", "context_window"}},
    {"id with a space", HEAD "'models':[{'id':'m 1','provider':'openai','capabilities':['chat'],"
                             "'context_window':10}]}",
     {"\"id\"", NULL}},
    {"schema 2", "{'schema':2,'catalog_version':'t1','sources':{},'models':[" M1 "]}", {"schema", NULL}},
    {"no version", "{'schema':1,'sources':{'s':'x'},'models':[" M1 "]}", {"catalog_version", NULL}},
    {"models not an array", HEAD "'models':{}}", {"models", NULL}},
    {"successor missing", HEAD "'models':[" M1 "," OLD("'nope'") "]}", {"openai/old", "\"nope\""}},
    {"successor at another provider", HEAD "'models':[" M1 "," OLD("'m3'") ",{'id':'m3','provider':'mistral',"
                                           "'capabilities':['chat'],'context_window':10}]}",
     {"openai/old", "\"m3\""}},
    {"successor of another kind", HEAD "'models':[" M1 "," E1 "," OLD("'e1'") "]}", {"openai/old", "\"e1\""}},
    {"successor is the model itself", HEAD "'models':[" M1 "," OLD("'old'") "]}", {"openai/old", "another"}},
    {"successor retired itself", HEAD "'models':[" M1 "," OLD("'old2'") ",{'id':'old2','provider':'openai',"
                                      "'capabilities':['chat'],'context_window':10,'retired':'2025-01-01',"
                                      "'successor':'m1','retired_source':'s'}]}",
     {"openai/old", "old2 is retired itself"}},
    /* A successor retiring in the future would make the catalog invalid on that day: refused now. */
    {"successor retiring later", HEAD "'models':[" M1 "," OLD("'old2'") ",{'id':'old2','provider':'openai',"
                                      "'capabilities':['chat'],'context_window':10,'retired':'2999-01-01',"
                                      "'successor':'m1','retired_source':'s'}]}",
     {"openai/old", "2999-01-01"}},
    {"retired not a date", HEAD "'models':[{'id':'m1','provider':'openai','capabilities':['chat'],"
                               "'context_window':10,'retired':'soon','retired_source':'s'}]}",
     {"m1", "YYYY-MM-DD"}},
    {"retired on a day that does not exist", HEAD "'models':[{'id':'m1','provider':'openai','capabilities':"
                                                   "['chat'],'context_window':10,'retired':'2025-02-29',"
                                                   "'retired_source':'s'}]}",
     {"m1", "YYYY-MM-DD"}},
    {"retired with a short month", HEAD "'models':[{'id':'m1','provider':'openai','capabilities':['chat'],"
                                        "'context_window':10,'retired':'2025-1-01','retired_source':'s'}]}",
     {"m1", "YYYY-MM-DD"}},
    {"retired as a number", HEAD "'models':[{'id':'m1','provider':'openai','capabilities':['chat'],"
                                 "'context_window':10,'retired':20251028,'retired_source':'s'}]}",
     {"m1", "YYYY-MM-DD"}},
    {"retired without a source", HEAD "'models':[{'id':'m1','provider':'openai','capabilities':['chat'],"
                                      "'context_window':10,'retired':'2025-10-28'}]}",
     {"m1", "retired_source"}},
    {"retired source not in sources", HEAD "'models':[{'id':'m1','provider':'openai','capabilities':['chat'],"
                                           "'context_window':10,'retired':'2025-10-28','retired_source':'x'}]}",
     {"m1", "retired_source"}},
    {"successor without retired", HEAD "'models':[" M1 ",{'id':'m2','provider':'openai','capabilities':['chat'],"
                                       "'context_window':10,'successor':'m1'}]}",
     {"m2", "successor"}},
    {"retired name taken by a served model", HEAD "'models':[" M1 "," OLD("'m1'") ",{'id':'m2','provider':"
                                                  "'openai','aliases':['old'],'capabilities':['chat'],"
                                                  "'context_window':10}]}",
     {"openai/old", "two models"}},
    {"group named like a retired model", HEAD "'models':[" M1 "," OLD("'m1'") "],'groups':{'old':['openai/m1']}}",
     {"\"old\"", "model name"}},
};

static void test_build_rejects(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        struct lgw_catalog *cat = (struct lgw_catalog *)&cat; /* must be reset to NULL */
        struct lgw_buf errs;
        lgw_buf_init(&errs, 0);
        int rc = lgw_test_build_catalog(c->doc, NULL, NULL, &cat, &errs);
        if (rc != LGW_ERR(CONFIG))
            fail_msg("%s: rc %d, want LGW_ERR(CONFIG)", c->what, rc);
        assert_null(cat);
        for (size_t k = 0; k < 2 && c->needle[k]; k++)
            if (!errs.ptr || !strstr(errs.ptr, c->needle[k]))
                fail_msg("%s: expected \"%s\" in: %s", c->what, c->needle[k], errs.ptr ? errs.ptr : "(nothing)");
        lgw_buf_cleanup(&errs);
    }

    /* Not an object at all. */
    struct lgw_catalog *cat;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    json_t *arr = json_array();
    assert_int_equal(lgw_catalog_build(arr, NULL, NULL, &cat, &errs), LGW_ERR(CONFIG));
    assert_null(cat);
    json_decref(arr);
    lgw_buf_reset(&errs);

    /* Every problem is reported, one per line, not just the first. */
    assert_int_equal(lgw_test_build_catalog(HEAD "'models':[{'id':'m1','provider':'openai','capabilities':['chat'],"
                                     "'context_window':10,'prise':1},{'id':'m2','provider':'openai',"
                                     "'capabilities':['chat'],'context_window':10,'price':{'input':'abc',"
                                     "'output':'1'},'source':'s'}]}",
                                NULL, NULL, &cat, &errs),
                     LGW_ERR(CONFIG));
    lgw_test_assert_contains(errs.ptr, "prise");
    lgw_test_assert_contains(errs.ptr, "openai/m2");
    assert_non_null(strchr(strchr(errs.ptr, '\n') + 1, '\n'));
    lgw_buf_cleanup(&errs);
}

/* ----------------------------------------------------------------------------------------- overrides */

static void test_overrides(void **state)
{
    (void)state;
    struct lgw_catalog *cat;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);

    /* One model's price changes (input 1 -> 3); everything else about it stays. */
    int rc = lgw_test_build_catalog(VALID,
                        "{'catalog_version':'ov7','models':[{'provider':'openai','id':'m1','price':{'input':'3',"
                        "'output':'2','cached_input':'0.5'}}]}",
                        NULL, &cat, &errs);
    if (rc)
        fail_msg("override rejected: %s", errs.ptr ? errs.ptr : "");
    assert_string_equal(lgw_catalog_version(cat), "t1+ov7");
    const struct lgw_model_info *m1 = lgw_test_resolve_one(cat, "m1", LGW_JOB_CHAT);
    assert_int_equal(m1->price.input_nusd_per_mtok, 3000000000LL);
    assert_int_equal(m1->price.output_nusd_per_mtok, 2000000000LL);
    assert_int_equal(m1->price.cached_input_nusd_per_mtok, 500000000LL);
    assert_int_equal(m1->context_window, 1000);
    assert_int_equal(m1->max_output_tokens, 100);
    assert_int_equal(m1->latency_ms, 300);
    assert_int_equal(m1->caps, LGW_CAP_STREAMING | LGW_CAP_TOOLS);
    assert_int_equal(lgw_catalog_count(cat), 3);
    lgw_catalog_unref(cat);

    /* A scalar field alone; no version in the override: "+local". */
    rc = lgw_test_build_catalog(VALID, "{'models':[{'provider':'openai','id':'m1','context_window':4000}]}", NULL, &cat, &errs);
    if (rc)
        fail_msg("override rejected: %s", errs.ptr ? errs.ptr : "");
    assert_string_equal(lgw_catalog_version(cat), "t1+local");
    m1 = lgw_test_resolve_one(cat, "m1", LGW_JOB_CHAT);
    assert_int_equal(m1->context_window, 4000);
    assert_int_equal(m1->price.input_nusd_per_mtok, 1000000000LL);
    assert_int_equal(m1->max_output_tokens, 100);
    lgw_catalog_unref(cat);

    /* A new model, a removed one, a group replaced by name (the others stay), a source and a chain added. */
    rc = lgw_test_build_catalog(HEAD "'models':[" M1 "," M2 "," E1 "],'groups':{'g':['openai/m1','openai/m2'],'h':['openai/m1']}}",
                    "{'catalog_version':'x','sources':{'mine':'my contract'},"
                    "'models':[{'id':'m9','provider':'mistral','upstream':'m9-up','capabilities':['chat','tools'],"
                    "'context_window':50,'price':{'input':'0.1','output':'0.2'},'source':'mine'},"
                    "{'provider':'openai','id':'e1','disabled':true},"
                    "{'provider':'openai','id':'never-existed','disabled':true}],"
                    "'groups':{'g':['mistral/m9']},'fallbacks':{'m2':['mistral/m9','openai/m1']}}",
                    NULL, &cat, &errs);
    if (rc)
        fail_msg("override rejected: %s", errs.ptr ? errs.ptr : "");
    assert_int_equal(lgw_catalog_count(cat), 3); /* m1, m2, m9 */
    const struct lgw_model_info *m9 = lgw_test_resolve_one(cat, "m9", LGW_JOB_CHAT);
    assert_non_null(m9);
    assert_string_equal(m9->provider, "mistral");
    assert_string_equal(m9->upstream, "m9-up");
    assert_int_equal(m9->price.input_nusd_per_mtok, 100000000);
    assert_ptr_equal(lgw_test_resolve_one(cat, "mistral/m9", LGW_JOB_CHAT), m9);
    assert_null(lgw_test_resolve_one(cat, "e1", LGW_JOB_EMBEDDINGS));
    assert_null(lgw_test_resolve_one(cat, "openai/e1", LGW_JOB_EMBEDDINGS));
    size_t n;
    const struct lgw_model_info *const *g = lgw_catalog_group(cat, "g", &n);
    assert_int_equal(n, 1);
    assert_ptr_equal(g[0], m9);
    g = lgw_catalog_group(cat, "h", &n);
    assert_int_equal(n, 1);
    assert_string_equal(g[0]->id, "m1");
    const struct lgw_model_info *const *fb = lgw_catalog_fallbacks(cat, lgw_test_resolve_one(cat, "m2", LGW_JOB_CHAT), &n);
    assert_int_equal(n, 2);
    assert_ptr_equal(fb[0], m9);
    lgw_catalog_unref(cat);

    /* Overrides over the built-in catalog, as operators use them. */
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    json_error_t jerr;
    json_t *builtin = json_loads((const char *)lgw_catalog_builtin_json, 0, &jerr);
    assert_non_null(builtin);
    const char *base_version = json_string_value(json_object_get(builtin, "catalog_version"));
    size_t nbuiltin = json_array_size(json_object_get(builtin, "models"));
    json_t *ov = lgw_test_json("{'catalog_version':'site1','models':[{'provider':'openai','id':'gpt-4o-mini','price':"
                   "{'input':'0.20','output':'0.60','cached_input':'0.075'}},{'provider':'mistral',"
                   "'id':'mistral-medium-latest','disabled':true}],'groups':{'auto':['openai/gpt-4o']}}");
    rc = lgw_catalog_build(builtin, ov, &cfg, &cat, &errs);
    if (rc)
        fail_msg("override of the built-in catalog rejected: %s", errs.ptr ? errs.ptr : "");
    char want[256];
    snprintf(want, sizeof(want), "%s+site1", base_version);
    assert_string_equal(lgw_catalog_version(cat), want);
    const struct lgw_model_info *mini = lgw_test_resolve_one(cat, "gpt-4o-mini", LGW_JOB_CHAT);
    assert_int_equal(mini->price.input_nusd_per_mtok, 200000000);
    assert_int_equal(mini->price.output_nusd_per_mtok, 600000000);
    assert_int_equal(mini->context_window, 128000);
    assert_null(lgw_test_resolve_one(cat, "mistral-medium-latest", LGW_JOB_CHAT));
    assert_non_null(lgw_test_resolve_one(cat, "mistral-large-latest", LGW_JOB_CHAT));
    g = lgw_catalog_group(cat, "auto", &n);
    assert_int_equal(n, 1);
    assert_string_equal(g[0]->id, "gpt-4o");
    assert_non_null(lgw_catalog_group(cat, "fast", &n));
    lgw_catalog_unref(cat);
    /* The caller's documents are only borrowed. */
    assert_string_equal(json_string_value(json_object_get(builtin, "catalog_version")), base_version);
    assert_int_equal(json_array_size(json_object_get(builtin, "models")), nbuiltin);
    assert_int_equal(json_array_size(json_object_get(ov, "models")), 2);
    json_decref(ov);
    json_decref(builtin);
    lgw_buf_cleanup(&errs);
}

/* An override may name one field of the price: the others stay (the merge goes into nested objects). */
static void test_override_one_price_field(void **state)
{
    (void)state;
    struct lgw_catalog *cat;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    int rc = lgw_test_build_catalog(VALID, "{'models':[{'provider':'openai','id':'m1','price':{'input':'0.20'}}]}", NULL, &cat,
                        &errs);
    if (rc)
        fail_msg("override rejected: %s", errs.ptr ? errs.ptr : "");
    const struct lgw_model_info *m1 = lgw_test_resolve_one(cat, "m1", LGW_JOB_CHAT);
    assert_int_equal(m1->price.input_nusd_per_mtok, 200000000LL);
    assert_int_equal(m1->price.output_nusd_per_mtok, 2000000000LL);
    assert_int_equal(m1->price.cached_input_nusd_per_mtok, 500000000LL);
    lgw_catalog_unref(cat);
    lgw_buf_cleanup(&errs);
}

/* A chain may be keyed by an alias or by provider/id: both reach the model; provider/id wins over a bare key. */
static void test_fallbacks_by_alias_and_specific_key(void **state)
{
    (void)state;
    struct lgw_catalog *cat;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    int rc = lgw_test_build_catalog(HEAD "'models':[{'id':'m1','provider':'openai','aliases':['m1-alias'],'capabilities':['chat'],"
                             "'context_window':1000}," M2 ",{'id':'m3','provider':'openai','capabilities':['chat'],"
                             "'context_window':3000}],'fallbacks':{'m1-alias':['openai/m2']}}",
                        NULL, NULL, &cat, &errs);
    if (rc)
        fail_msg("rejected: %s", errs.ptr ? errs.ptr : "");
    size_t n = 0;
    const struct lgw_model_info *const *fb = lgw_catalog_fallbacks(cat, lgw_test_resolve_one(cat, "m1", LGW_JOB_CHAT), &n);
    assert_int_equal(n, 1);
    assert_string_equal(fb[0]->id, "m2");
    assert_null(lgw_catalog_fallbacks(cat, lgw_test_resolve_one(cat, "m2", LGW_JOB_CHAT), &n));
    lgw_catalog_unref(cat);
    rc = lgw_test_build_catalog(HEAD "'models':[" M1 "," M2 ",{'id':'m3','provider':'openai','capabilities':['chat'],"
                         "'context_window':3000}],'fallbacks':{'m1':['openai/m2'],'openai/m1':['openai/m3']}}",
                    NULL, NULL, &cat, &errs);
    if (rc)
        fail_msg("rejected: %s", errs.ptr ? errs.ptr : "");
    fb = lgw_catalog_fallbacks(cat, lgw_test_resolve_one(cat, "m1", LGW_JOB_CHAT), &n);
    assert_int_equal(n, 1);
    assert_string_equal(fb[0]->id, "m3");
    lgw_catalog_unref(cat);
    lgw_buf_cleanup(&errs);
}

static void test_overrides_invalid(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        /* m1 is a member of group g: removing it leaves the group naming nothing. */
        {"disable a grouped model", "{'models':[{'provider':'openai','id':'m1','disabled':true}]}", {"\"g\"", NULL}},
        {"bad field value", "{'models':[{'provider':'openai','id':'m2','context_window':'big'}]}",
         {"m2", "context_window"}},
        {"misspelt field", "{'models':[{'provider':'openai','id':'m2','contxt_window':5}]}", {"contxt_window", NULL}},
        {"new model incomplete", "{'models':[{'provider':'openai','id':'m7'}]}", {"m7", NULL}},
        {"model without id", "{'models':[{'provider':'openai','context_window':5}]}", {"models[0]", NULL}},
        {"unknown top-level key", "{'model':[]}", {"overrides", "model"}},
        {"schema 2", "{'schema':2}", {"schema", NULL}},
        {"groups not an object", "{'groups':[]}", {"groups", NULL}},
        {"group member missing", "{'groups':{'g':['openai/zz']}}", {"\"g\"", NULL}},
        {"priced without source", "{'models':[{'provider':'openai','id':'m2','price':{'input':'1','output':'1'}}]}",
         {"m2", "source"}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lgw_catalog *cat = (struct lgw_catalog *)&cat;
        struct lgw_buf errs;
        lgw_buf_init(&errs, 0);
        int rc = lgw_test_build_catalog(VALID, cases[i].doc, NULL, &cat, &errs);
        if (rc != LGW_ERR(CONFIG))
            fail_msg("%s: rc %d, want LGW_ERR(CONFIG)", cases[i].what, rc);
        assert_null(cat);
        for (size_t k = 0; k < 2 && cases[i].needle[k]; k++)
            if (!errs.ptr || !strstr(errs.ptr, cases[i].needle[k]))
                fail_msg("%s: expected \"%s\" in: %s", cases[i].what, cases[i].needle[k],
                         errs.ptr ? errs.ptr : "(nothing)");
        lgw_buf_cleanup(&errs);
    }
    /* An override document that is not an object. */
    struct lgw_catalog *cat;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    json_t *base = lgw_test_json(VALID);
    json_t *arr = json_array();
    assert_int_equal(lgw_catalog_build(base, arr, NULL, &cat, &errs), LGW_ERR(CONFIG));
    assert_null(cat);
    lgw_test_assert_contains(errs.ptr, "overrides");
    json_decref(arr);
    json_decref(base);
    lgw_buf_cleanup(&errs);
}

/* ------------------------------------------------------------------------------------------- compat */

static void test_compat_models(void **state)
{
    (void)state;
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    assert_int_equal(lgw_config_parse_compat_models(&cfg, "my-model=up@1/2,plain,embeddings:vec", &errs), 0);
    assert_int_equal(cfg.ncompat, 3);
    struct lgw_catalog *cat;
    json_t *base = lgw_test_json(VALID);
    int rc = lgw_catalog_build(base, NULL, &cfg, &cat, &errs);
    if (rc)
        fail_msg("compat models rejected: %s", errs.ptr ? errs.ptr : "");
    assert_int_equal(lgw_catalog_count(cat), 6);

    const struct lgw_model_info *m = lgw_test_resolve_one(cat, "compat/my-model", LGW_JOB_CHAT);
    assert_non_null(m);
    assert_ptr_equal(lgw_test_resolve_one(cat, "my-model", LGW_JOB_CHAT), m);
    assert_string_equal(m->id, "my-model");
    assert_string_equal(m->provider, "compat");
    assert_string_equal(m->upstream, "up");
    assert_int_equal(m->kind, LGW_JOB_CHAT);
    assert_true(m->price.known);
    assert_int_equal(m->price.input_nusd_per_mtok, 1000000000);
    assert_int_equal(m->price.output_nusd_per_mtok, 2000000000);
    assert_int_equal(m->price.cached_input_nusd_per_mtok, 1000000000);
    assert_int_equal(m->context_window, 0); /* the server's business: no window check */
    unsigned all = LGW_CAP_STREAMING | LGW_CAP_TOOLS | LGW_CAP_VISION | LGW_CAP_JSON_MODE;
    assert_int_equal(m->caps & all, all);

    const struct lgw_model_info *plain = lgw_test_resolve_one(cat, "compat/plain", LGW_JOB_CHAT);
    assert_non_null(plain);
    assert_false(plain->price.known);
    assert_string_equal(plain->upstream, "plain");
    const struct lgw_model_info *vec = lgw_test_resolve_one(cat, "compat/vec", LGW_JOB_EMBEDDINGS);
    assert_non_null(vec);
    assert_int_equal(vec->kind, LGW_JOB_EMBEDDINGS);
    assert_null(lgw_test_resolve_one(cat, "compat/vec", LGW_JOB_CHAT));
    lgw_catalog_unref(cat);

    /* A document that already describes a compat model keeps its own entry. */
    json_t *withc = lgw_test_json(HEAD "'models':[{'id':'my-model','provider':'compat','upstream':'doc-up','capabilities':"
                           "['chat'],'context_window':77}]}");
    rc = lgw_catalog_build(withc, NULL, &cfg, &cat, &errs);
    if (rc)
        fail_msg("rejected: %s", errs.ptr ? errs.ptr : "");
    m = lgw_test_resolve_one(cat, "compat/my-model", LGW_JOB_CHAT);
    assert_string_equal(m->upstream, "doc-up");
    assert_int_equal(m->context_window, 77);
    lgw_catalog_unref(cat);
    json_decref(withc);

    /* A bad compat name is reported like any other entry. */
    assert_int_equal(lgw_config_parse_compat_models(&cfg, "bad\"name", &errs), 0);
    assert_int_equal(lgw_catalog_build(base, NULL, &cfg, &cat, &errs), LGW_ERR(CONFIG));
    assert_null(cat);
    lgw_test_assert_contains(errs.ptr, "compat/");

    json_decref(base);
    lgw_config_cleanup(&cfg);
    lgw_buf_cleanup(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_override_one_price_field),
        cmocka_unit_test(test_fallbacks_by_alias_and_specific_key),
        cmocka_unit_test(test_builtin_loads),   cmocka_unit_test(test_build_minimal),
        cmocka_unit_test(test_build_rejects),   cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_overrides_invalid), cmocka_unit_test(test_compat_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
