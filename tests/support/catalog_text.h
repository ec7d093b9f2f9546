/* catalog_text.h - catalog documents written as text in tests: single-quoted JSON literals, the small models
 * the catalog tests build from, and lookups that fail the test with both values. */
#ifndef LGW_TEST_CATALOG_TEXT_H
#define LGW_TEST_CATALOG_TEXT_H

#include <jansson.h>

#include "common/buf.h"
#include "common/config.h"
#include "routing/catalog.h"

/* A document head and models to build from: m1 (chat, priced), m2 (chat), e1 (embeddings). */
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

/* A JSON document from a literal written with single quotes (no escaping in the tests). New reference. */
json_t *lgw_test_json(const char *text);
/* The model `name` resolves to for kind, which must be exactly one; NULL when none. */
const struct lgw_model_info *lgw_test_resolve_one(const struct lgw_catalog *cat, const char *name,
                                                  enum lgw_job_kind kind);
/* Fails the test unless hay contains needle. */
void lgw_test_assert_contains(const char *hay, const char *needle);
/* Builds base (+ overrides) from text; returns the rc, the catalog in *out, the messages in errs. */
int lgw_test_build_catalog(const char *base, const char *ov, const struct lgw_config *cfg, struct lgw_catalog **out,
                           struct lgw_buf *errs);

#endif
