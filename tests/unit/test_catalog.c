/* test_catalog.c - the model catalog: the built-in document, validation of every field, operator overrides,
 * compat models from the configuration, and the holder's reload (a bad file keeps the last good catalog). */
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
#include "routing/catalog.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/model.h"

/* A JSON document from a literal written with single quotes (no escaping in the tests). New reference. */
static json_t *J(const char *text)
{
    char *s = strdup(text);
    assert_non_null(s);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t jerr;
    json_t *doc = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        fail_msg("bad test JSON (%s, line %d): %s", jerr.text, jerr.line, s);
    free(s);
    return doc;
}

/* The model `name` resolves to for kind, which must be exactly one; NULL when none. */
static const struct lgw_model_info *one(const struct lgw_catalog *cat, const char *name, enum lgw_job_kind kind)
{
    const struct lgw_model_info *found[4];
    size_t n = lgw_catalog_resolve(cat, name, kind, found, 4);
    if (n > 1)
        fail_msg("\"%s\" resolves to %zu models", name, n);
    return n == 1 ? found[0] : NULL;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("expected \"%s\" in: %s", needle, hay ? hay : "(nothing)");
}

/* Builds base (+ overrides) from text; returns the rc, the catalog in *out, the messages in errs. */
static int build_text(const char *base, const char *ov, const struct lgw_config *cfg, struct lgw_catalog **out,
                      struct lgw_buf *errs)
{
    json_t *b = J(base);
    json_t *o = ov ? J(ov) : NULL;
    int rc = lgw_catalog_build(b, o, cfg, out, errs);
    json_decref(b);
    json_decref(o);
    return rc;
}

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

    static const char *const chat[] = {"gpt-4o",           "gpt-4o-mini",      "gpt-4.1",
                                       "o3",               "claude-sonnet-4-6", "claude-haiku-4-5",
                                       "claude-sonnet-4-5", "gemini-2.5-flash-lite", "mistral-large-latest"};
    for (size_t i = 0; i < sizeof(chat) / sizeof(chat[0]); i++) {
        const struct lgw_model_info *m = one(cat, chat[i], LGW_JOB_CHAT);
        if (!m)
            fail_msg("built-in catalog lacks %s", chat[i]);
        assert_int_equal(m->kind, LGW_JOB_CHAT);
    }
    static const char *const emb[] = {"text-embedding-3-small", "text-embedding-3-large"};
    for (size_t i = 0; i < 2; i++) {
        const struct lgw_model_info *m = one(cat, emb[i], LGW_JOB_EMBEDDINGS);
        if (!m)
            fail_msg("built-in catalog lacks %s", emb[i]);
        assert_int_equal(m->kind, LGW_JOB_EMBEDDINGS);
        assert_null(one(cat, emb[i], LGW_JOB_CHAT)); /* an embedding model is no chat model */
    }

    const struct lgw_model_info *mini = one(cat, "gpt-4o-mini", LGW_JOB_CHAT);
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
    assert_ptr_equal(one(cat, "openai/gpt-4o-mini", LGW_JOB_CHAT), mini);
    assert_null(one(cat, "anthropic/gpt-4o-mini", LGW_JOB_CHAT));

    const struct lgw_model_info *sonnet = one(cat, "claude-sonnet-4-5", LGW_JOB_CHAT);
    assert_non_null(sonnet);
    assert_string_equal(sonnet->provider, "anthropic");
    assert_string_equal(sonnet->upstream, "claude-sonnet-4-5-20250929");
    assert_ptr_equal(one(cat, "claude-sonnet-4-5-20250929", LGW_JOB_CHAT), sonnet);
    assert_ptr_equal(one(cat, "anthropic/claude-sonnet-4-5", LGW_JOB_CHAT), sonnet);
    assert_int_equal(sonnet->caps & LGW_CAP_JSON_MODE, 0); /* the Anthropic adapter has no response_format */
    assert_int_equal(sonnet->price.long_above_tokens, 200000);
    assert_int_equal(sonnet->price.long_input_nusd_per_mtok, 6000000000LL);
    assert_int_equal(sonnet->price.long_output_nusd_per_mtok, 22500000000LL);

    /* Claude 3.5 Sonnet was retired by Anthropic: no candidate by any of its names, and its successor is the
     * Sonnet of the auto group. */
    const struct lgw_model_info *sonnet46 = one(cat, "claude-sonnet-4-6", LGW_JOB_CHAT);
    assert_non_null(sonnet46);
    static const char *const old_sonnet[] = {"claude-3-5-sonnet", "claude-3-5-sonnet-20241022",
                                             "claude-3-5-sonnet-latest", "anthropic/claude-3-5-sonnet"};
    for (size_t i = 0; i < 4; i++) {
        struct lgw_retirement ret;
        assert_null(one(cat, old_sonnet[i], LGW_JOB_CHAT));
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
        if (one(cat, gone[i], LGW_JOB_CHAT) || !lgw_catalog_retired(cat, gone[i], LGW_JOB_CHAT, &ret))
            fail_msg("%s should be retired", gone[i]);
        assert_non_null(ret.successor);
        assert_int_equal(ret.successor->kind, LGW_JOB_CHAT);
        assert_ptr_equal(one(cat, ret.successor->id, LGW_JOB_CHAT), ret.successor); /* served */
    }
    struct lgw_retirement e004;
    assert_null(one(cat, "text-embedding-004", LGW_JOB_EMBEDDINGS));
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

#define HEAD "{'schema':1,'catalog_version':'t1','sources':{'s':'test source'},"
#define M1                                                                                                   \
    "{'id':'m1','provider':'openai','capabilities':['chat','streaming','tools'],'context_window':1000,"       \
    "'max_output_tokens':100,'latency_ms':300,'price':{'input':'1','output':'2','cached_input':'0.5'},"      \
    "'source':'s'}"
#define M2 "{'id':'m2','provider':'openai','capabilities':['chat'],'context_window':2000}"
#define E1 "{'id':'e1','provider':'openai','capabilities':['embeddings'],'context_window':500}"
/* A model its provider retired on 2025-10-28, answering to "old" and "old-2024", with the given successor. */
#define OLD(succ)                                                                                             \
    "{'id':'old','provider':'openai','upstream':'old-2024','aliases':['old-2024'],'capabilities':['chat'],"  \
    "'context_window':1000,'retired':'2025-10-28','successor':" succ ",'retired_source':'s'}"
#define VALID HEAD "'models':[" M1 "," M2 "," E1 "],'groups':{'g':['openai/m1','openai/m2']},'fallbacks':{'m1':['openai/m2']}}"

static void test_build_minimal(void **state)
{
    (void)state;
    struct lgw_catalog *cat;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    int rc = build_text(VALID, NULL, NULL, &cat, &errs);
    if (rc)
        fail_msg("valid document rejected: %s", errs.ptr ? errs.ptr : "");
    assert_string_equal(lgw_catalog_version(cat), "t1");
    assert_int_equal(lgw_catalog_count(cat), 3);
    const struct lgw_model_info *m1 = one(cat, "m1", LGW_JOB_CHAT);
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
    const struct lgw_model_info *m2 = one(cat, "m2", LGW_JOB_CHAT);
    assert_non_null(m2);
    assert_false(m2->price.known);           /* no price: unknown, never $0 */
    assert_int_equal(m2->latency_ms, 1000);  /* the default seed */
    assert_int_equal(m2->max_output_tokens, 0);
    assert_non_null(one(cat, "e1", LGW_JOB_EMBEDDINGS));
    assert_null(one(cat, "e1", LGW_JOB_CHAT));
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
    rc = build_text(HEAD "'models':[" M1 ",{'id':'m1','provider':'mistral','capabilities':['chat'],"
                         "'context_window':10}]}",
                    NULL, NULL, &cat, &errs);
    if (rc)
        fail_msg("rejected: %s", errs.ptr ? errs.ptr : "");
    const struct lgw_model_info *found[4];
    assert_int_equal(lgw_catalog_resolve(cat, "m1", LGW_JOB_CHAT, found, 4), 2);
    assert_int_equal(lgw_catalog_resolve(cat, "m1", LGW_JOB_CHAT, found, 1), 1); /* capped at max */
    assert_string_equal(one(cat, "mistral/m1", LGW_JOB_CHAT)->provider, "mistral");
    assert_string_equal(one(cat, "openai/m1", LGW_JOB_CHAT)->provider, "openai");
    lgw_catalog_unref(cat);

    /* A long-context tier. */
    rc = build_text(HEAD "'models':[{'id':'big','provider':'gemini','capabilities':['chat'],'context_window':"
                         "1000000,'price':{'input':'1.25','output':'10','long_context':{'above_input_tokens':"
                         "200000,'input':'2.50','output':'15'}},'source':'s'}]}",
                    NULL, NULL, &cat, &errs);
    if (rc)
        fail_msg("rejected: %s", errs.ptr ? errs.ptr : "");
    const struct lgw_model_info *big = one(cat, "big", LGW_JOB_CHAT);
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
        int rc = build_text(c->doc, NULL, NULL, &cat, &errs);
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
    assert_int_equal(build_text(HEAD "'models':[{'id':'m1','provider':'openai','capabilities':['chat'],"
                                     "'context_window':10,'prise':1},{'id':'m2','provider':'openai',"
                                     "'capabilities':['chat'],'context_window':10,'price':{'input':'abc',"
                                     "'output':'1'},'source':'s'}]}",
                                NULL, NULL, &cat, &errs),
                     LGW_ERR(CONFIG));
    assert_contains(errs.ptr, "prise");
    assert_contains(errs.ptr, "openai/m2");
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
    int rc = build_text(VALID,
                        "{'catalog_version':'ov7','models':[{'provider':'openai','id':'m1','price':{'input':'3',"
                        "'output':'2','cached_input':'0.5'}}]}",
                        NULL, &cat, &errs);
    if (rc)
        fail_msg("override rejected: %s", errs.ptr ? errs.ptr : "");
    assert_string_equal(lgw_catalog_version(cat), "t1+ov7");
    const struct lgw_model_info *m1 = one(cat, "m1", LGW_JOB_CHAT);
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
    rc = build_text(VALID, "{'models':[{'provider':'openai','id':'m1','context_window':4000}]}", NULL, &cat, &errs);
    if (rc)
        fail_msg("override rejected: %s", errs.ptr ? errs.ptr : "");
    assert_string_equal(lgw_catalog_version(cat), "t1+local");
    m1 = one(cat, "m1", LGW_JOB_CHAT);
    assert_int_equal(m1->context_window, 4000);
    assert_int_equal(m1->price.input_nusd_per_mtok, 1000000000LL);
    assert_int_equal(m1->max_output_tokens, 100);
    lgw_catalog_unref(cat);

    /* A new model, a removed one, a group replaced by name (the others stay), a source and a chain added. */
    rc = build_text(HEAD "'models':[" M1 "," M2 "," E1 "],'groups':{'g':['openai/m1','openai/m2'],'h':['openai/m1']}}",
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
    const struct lgw_model_info *m9 = one(cat, "m9", LGW_JOB_CHAT);
    assert_non_null(m9);
    assert_string_equal(m9->provider, "mistral");
    assert_string_equal(m9->upstream, "m9-up");
    assert_int_equal(m9->price.input_nusd_per_mtok, 100000000);
    assert_ptr_equal(one(cat, "mistral/m9", LGW_JOB_CHAT), m9);
    assert_null(one(cat, "e1", LGW_JOB_EMBEDDINGS));
    assert_null(one(cat, "openai/e1", LGW_JOB_EMBEDDINGS));
    size_t n;
    const struct lgw_model_info *const *g = lgw_catalog_group(cat, "g", &n);
    assert_int_equal(n, 1);
    assert_ptr_equal(g[0], m9);
    g = lgw_catalog_group(cat, "h", &n);
    assert_int_equal(n, 1);
    assert_string_equal(g[0]->id, "m1");
    const struct lgw_model_info *const *fb = lgw_catalog_fallbacks(cat, one(cat, "m2", LGW_JOB_CHAT), &n);
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
    json_t *ov = J("{'catalog_version':'site1','models':[{'provider':'openai','id':'gpt-4o-mini','price':"
                   "{'input':'0.20','output':'0.60','cached_input':'0.075'}},{'provider':'openai','id':'o3',"
                   "'disabled':true}],'groups':{'auto':['openai/gpt-4o']}}");
    rc = lgw_catalog_build(builtin, ov, &cfg, &cat, &errs);
    if (rc)
        fail_msg("override of the built-in catalog rejected: %s", errs.ptr ? errs.ptr : "");
    char want[256];
    snprintf(want, sizeof(want), "%s+site1", base_version);
    assert_string_equal(lgw_catalog_version(cat), want);
    const struct lgw_model_info *mini = one(cat, "gpt-4o-mini", LGW_JOB_CHAT);
    assert_int_equal(mini->price.input_nusd_per_mtok, 200000000);
    assert_int_equal(mini->price.output_nusd_per_mtok, 600000000);
    assert_int_equal(mini->context_window, 128000);
    assert_null(one(cat, "o3", LGW_JOB_CHAT));
    assert_non_null(one(cat, "gpt-5-mini", LGW_JOB_CHAT));
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
    int rc = build_text(VALID, "{'models':[{'provider':'openai','id':'m1','price':{'input':'0.20'}}]}", NULL, &cat,
                        &errs);
    if (rc)
        fail_msg("override rejected: %s", errs.ptr ? errs.ptr : "");
    const struct lgw_model_info *m1 = one(cat, "m1", LGW_JOB_CHAT);
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
    int rc = build_text(HEAD "'models':[{'id':'m1','provider':'openai','aliases':['m1-alias'],'capabilities':['chat'],"
                             "'context_window':1000}," M2 ",{'id':'m3','provider':'openai','capabilities':['chat'],"
                             "'context_window':3000}],'fallbacks':{'m1-alias':['openai/m2']}}",
                        NULL, NULL, &cat, &errs);
    if (rc)
        fail_msg("rejected: %s", errs.ptr ? errs.ptr : "");
    size_t n = 0;
    const struct lgw_model_info *const *fb = lgw_catalog_fallbacks(cat, one(cat, "m1", LGW_JOB_CHAT), &n);
    assert_int_equal(n, 1);
    assert_string_equal(fb[0]->id, "m2");
    assert_null(lgw_catalog_fallbacks(cat, one(cat, "m2", LGW_JOB_CHAT), &n));
    lgw_catalog_unref(cat);
    rc = build_text(HEAD "'models':[" M1 "," M2 ",{'id':'m3','provider':'openai','capabilities':['chat'],"
                         "'context_window':3000}],'fallbacks':{'m1':['openai/m2'],'openai/m1':['openai/m3']}}",
                    NULL, NULL, &cat, &errs);
    if (rc)
        fail_msg("rejected: %s", errs.ptr ? errs.ptr : "");
    fb = lgw_catalog_fallbacks(cat, one(cat, "m1", LGW_JOB_CHAT), &n);
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
        int rc = build_text(VALID, cases[i].doc, NULL, &cat, &errs);
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
    json_t *base = J(VALID);
    json_t *arr = json_array();
    assert_int_equal(lgw_catalog_build(base, arr, NULL, &cat, &errs), LGW_ERR(CONFIG));
    assert_null(cat);
    assert_contains(errs.ptr, "overrides");
    json_decref(arr);
    json_decref(base);
    lgw_buf_cleanup(&errs);
}

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
    json_t *doc = J(LIFE);
    int rc = lgw_catalog_build_at(doc, NULL, NULL, 20261202, &cat, &errs);
    if (rc)
        fail_msg("rejected: %s", errs.ptr ? errs.ptr : "");

    /* A retired model is no candidate by any of its names, and not among the served models. */
    assert_null(one(cat, "old", LGW_JOB_CHAT));
    assert_null(one(cat, "old-2024", LGW_JOB_CHAT));
    assert_null(one(cat, "openai/old", LGW_JOB_CHAT));
    assert_int_equal(lgw_catalog_count(cat), 3); /* m1, later, e1 */
    for (size_t i = 0; i < lgw_catalog_count(cat); i++)
        assert_string_not_equal(lgw_catalog_at(cat, i)->id, "old");
    assert_null(lgw_catalog_at(cat, 3));

    /* It is found as retired, with its date and successor, by id, alias and provider/name. */
    const struct lgw_model_info *m1 = one(cat, "m1", LGW_JOB_CHAT);
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
    json_t *doc = J(LIFE);
    for (size_t i = 0; i < sizeof(days) / sizeof(days[0]); i++) {
        struct lgw_catalog *cat;
        struct lgw_buf errs;
        lgw_buf_init(&errs, 0);
        if (lgw_catalog_build_at(doc, NULL, NULL, days[i].today, &cat, &errs))
            fail_msg("%d: rejected: %s", days[i].today, errs.ptr ? errs.ptr : "");
        struct lgw_retirement ret;
        if ((one(cat, "old", LGW_JOB_CHAT) == NULL) != days[i].old_gone ||
            lgw_catalog_retired(cat, "old", LGW_JOB_CHAT, &ret) != days[i].old_gone)
            fail_msg("%d: old should be %s", days[i].today, days[i].old_gone ? "retired" : "served");
        if ((one(cat, "later", LGW_JOB_CHAT) == NULL) != days[i].later_gone ||
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
    json_t *base = J(LIFE);
    json_t *ov = J("{'models':[{'provider':'openai','id':'old','retired':null,'successor':null,"
                   "'retired_source':null},{'provider':'openai','id':'m2','capabilities':['chat'],"
                   "'context_window':10,'retired':'2026-01-01','successor':'m1','retired_source':'s'}],"
                   "'groups':{'h':['openai/m2']}}");
    if (lgw_catalog_build_at(base, ov, NULL, 20261202, &cat, &errs))
        fail_msg("rejected: %s", errs.ptr ? errs.ptr : "");
    assert_non_null(one(cat, "old", LGW_JOB_CHAT));
    assert_null(one(cat, "m2", LGW_JOB_CHAT));
    struct lgw_retirement ret;
    assert_true(lgw_catalog_retired(cat, "m2", LGW_JOB_CHAT, &ret));
    assert_string_equal(ret.date, "2026-01-01");
    size_t n = 9;
    assert_non_null(lgw_catalog_group(cat, "h", &n));
    assert_int_equal(n, 0);
    lgw_catalog_unref(cat);
    json_decref(ov);

    /* Disabling the successor leaves the retired model pointing at nothing: an error, naming both. */
    ov = J("{'models':[{'provider':'openai','id':'m1','disabled':true}],'groups':{'g':['openai/later']},"
           "'fallbacks':{}}");
    assert_int_equal(lgw_catalog_build_at(base, ov, NULL, 20261202, &cat, &errs), LGW_ERR(CONFIG));
    assert_null(cat);
    assert_contains(errs.ptr, "openai/old: \"successor\" \"m1\"");
    assert_contains(errs.ptr, "openai/later: \"successor\" \"m1\"");
    json_decref(ov);
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
    json_t *base = J(VALID);
    int rc = lgw_catalog_build(base, NULL, &cfg, &cat, &errs);
    if (rc)
        fail_msg("compat models rejected: %s", errs.ptr ? errs.ptr : "");
    assert_int_equal(lgw_catalog_count(cat), 6);

    const struct lgw_model_info *m = one(cat, "compat/my-model", LGW_JOB_CHAT);
    assert_non_null(m);
    assert_ptr_equal(one(cat, "my-model", LGW_JOB_CHAT), m);
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

    const struct lgw_model_info *plain = one(cat, "compat/plain", LGW_JOB_CHAT);
    assert_non_null(plain);
    assert_false(plain->price.known);
    assert_string_equal(plain->upstream, "plain");
    const struct lgw_model_info *vec = one(cat, "compat/vec", LGW_JOB_EMBEDDINGS);
    assert_non_null(vec);
    assert_int_equal(vec->kind, LGW_JOB_EMBEDDINGS);
    assert_null(one(cat, "compat/vec", LGW_JOB_CHAT));
    lgw_catalog_unref(cat);

    /* A document that already describes a compat model keeps its own entry. */
    json_t *withc = J(HEAD "'models':[{'id':'my-model','provider':'compat','upstream':'doc-up','capabilities':"
                           "['chat'],'context_window':77}]}");
    rc = lgw_catalog_build(withc, NULL, &cfg, &cat, &errs);
    if (rc)
        fail_msg("rejected: %s", errs.ptr ? errs.ptr : "");
    m = one(cat, "compat/my-model", LGW_JOB_CHAT);
    assert_string_equal(m->upstream, "doc-up");
    assert_int_equal(m->context_window, 77);
    lgw_catalog_unref(cat);
    json_decref(withc);

    /* A bad compat name is reported like any other entry. */
    assert_int_equal(lgw_config_parse_compat_models(&cfg, "bad\"name", &errs), 0);
    assert_int_equal(lgw_catalog_build(base, NULL, &cfg, &cat, &errs), LGW_ERR(CONFIG));
    assert_null(cat);
    assert_contains(errs.ptr, "compat/");

    json_decref(base);
    lgw_config_cleanup(&cfg);
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
    assert_int_equal(one(first, "m2", LGW_JOB_CHAT)->latency_ms, 250);
    assert_null(one(first, "m3", LGW_JOB_CHAT));

    /* A broken override file: the reload fails and the last good catalog stays. */
    write_file(ov_path, "{'models': [");
    assert_int_equal(lgw_catalog_reload(h), LGW_ERR(CONFIG));
    struct lgw_catalog *still = lgw_catalog_current(h);
    assert_ptr_equal(still, first);
    assert_string_equal(lgw_catalog_version(still), "t1+o1");
    assert_non_null(one(still, "m1", LGW_JOB_CHAT));
    lgw_catalog_unref(still);

    /* Valid JSON that does not validate: the same. */
    write_file(ov_path, "{'models':[{'provider':'openai','id':'m2','capabilities':['chat','telepathy']}]}");
    assert_int_equal(lgw_catalog_reload(h), LGW_ERR(CONFIG));
    still = lgw_catalog_current(h);
    assert_ptr_equal(still, first);
    lgw_catalog_unref(still);

    /* A good file adding a model: the reload swaps it in; `first`, taken before, stays usable. */
    const struct lgw_model_info *old_m1 = one(first, "m1", LGW_JOB_CHAT);
    write_file(ov_path, "{'catalog_version':'o2','models':[{'id':'m3','provider':'anthropic','capabilities':"
                        "['chat'],'context_window':123}]}");
    assert_int_equal(lgw_catalog_reload(h), 0);
    struct lgw_catalog *second = lgw_catalog_current(h);
    assert_ptr_not_equal(second, first);
    assert_string_equal(lgw_catalog_version(second), "t1+o2");
    const struct lgw_model_info *m3 = one(second, "m3", LGW_JOB_CHAT);
    assert_non_null(m3);
    assert_int_equal(m3->context_window, 123);
    assert_int_equal(one(second, "m2", LGW_JOB_CHAT)->latency_ms, 1000); /* the old override is gone */
    assert_null(one(first, "m3", LGW_JOB_CHAT));
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
    assert_null(one(cur, "m3", LGW_JOB_CHAT));
    lgw_catalog_unref(cur);

    lgw_catalog_holder_free(h);

    /* Start-up with a file that does not validate fails, and so does a file that is missing. */
    write_file(ov_path, "{'models':[{'provider':'openai','id':'m1','prise':1}]}");
    h = (struct lgw_catalog_holder *)&h;
    assert_int_equal(lgw_catalog_holder_new(&cfg, &h, &errs), LGW_ERR(CONFIG));
    assert_null(h);
    assert_contains(errs.ptr, "prise");
    lgw_buf_reset(&errs);
    assert_int_equal(remove(ov_path), 0);
    assert_int_equal(lgw_catalog_holder_new(&cfg, &h, &errs), LGW_ERR(CONFIG));
    assert_null(h);
    assert_contains(errs.ptr, ov_path);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_override_one_price_field),
        cmocka_unit_test(test_fallbacks_by_alias_and_specific_key),
        cmocka_unit_test(test_builtin_loads),   cmocka_unit_test(test_build_minimal),
        cmocka_unit_test(test_build_rejects),   cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_overrides_invalid), cmocka_unit_test(test_compat_models),
        cmocka_unit_test(test_holder_reload),     cmocka_unit_test(test_retired_models),
        cmocka_unit_test(test_retired_boundary),  cmocka_unit_test(test_retired_overrides),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
