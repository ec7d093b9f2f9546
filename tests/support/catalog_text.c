/* catalog_text.c - catalog documents written as text in tests (see catalog_text.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/catalog_text.h"

/* A JSON document from a literal written with single quotes (no escaping in the tests). New reference. */
json_t *lgw_test_json(const char *text)
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
const struct lgw_model_info *lgw_test_resolve_one(const struct lgw_catalog *cat, const char *name,
                                                  enum lgw_job_kind kind)
{
    const struct lgw_model_info *found[4];
    size_t n = lgw_catalog_resolve(cat, name, kind, found, 4);
    if (n > 1)
        fail_msg("\"%s\" resolves to %zu models", name, n);
    return n == 1 ? found[0] : NULL;
}

void lgw_test_assert_contains(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("expected \"%s\" in: %s", needle, hay ? hay : "(nothing)");
}

/* Builds base (+ overrides) from text; returns the rc, the catalog in *out, the messages in errs. */
int lgw_test_build_catalog(const char *base, const char *ov, const struct lgw_config *cfg, struct lgw_catalog **out,
                           struct lgw_buf *errs)
{
    json_t *b = lgw_test_json(base);
    json_t *o = ov ? lgw_test_json(ov) : NULL;
    int rc = lgw_catalog_build(b, o, cfg, out, errs);
    json_decref(b);
    json_decref(o);
    return rc;
}
