/* catalog_int.h - what the catalog's files share inside routing/: the catalog object and the document parser
 * (catalog_parse.c) that catalog.c's build and merge steps call. */
#ifndef LGW_CATALOG_INT_H
#define LGW_CATALOG_INT_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/model.h"

#define MAX_NAME 127
#define MAX_MODELS 4096
#define MAX_CONTEXT 100000000LL /* 100M tokens: far above any model; a bigger number is a typo */

struct named_list {
    const char *name; /* owned by the document */
    const struct lgw_model_info **members;
    size_t n;
    const struct lgw_model_info **keys; /* fallbacks: the models the name denotes (id, alias, provider/id) */
    size_t nkeys;
};

/* A model's lifecycle as the document gives it (strings borrowed from the document). */
struct model_life {
    const char *retired;   /* the provider's retirement date, "YYYY-MM-DD", or NULL */
    int retired_on;        /* the same as YYYYMMDD */
    const char *successor; /* the name of the model to use instead, or NULL */
    const struct lgw_model_info *succ; /* what successor names, once validated */
};

struct lgw_catalog {
    atomic_int refs;
    json_t *doc; /* the merged document: every string in models, groups and fallbacks points into it */
    const char *version;
    /* Served models first, [0, n); retired ones after them, [n, nall). Lookups that find candidates scan only
     * the first part, so a retired model can never be routed to. */
    struct lgw_model_info *models;
    json_t **aliases; /* per model: a borrowed array of strings, or NULL */
    struct model_life *life; /* per model */
    size_t n, nall;
    struct named_list *groups, *fallbacks;
    size_t ngroups, nfallbacks;
};

/* The top-level fields a catalog document (and an overrides file) may have. */
extern const char *const lgw_catalog_doc_keys[];
/* Every key of obj must be one of allowed (NULL-terminated): a misspelt field is an error, never silently
 * ignored; each unknown one gets a line in errs, naming where. */
bool lgw_catalog_check_keys(json_t *obj, const char *const *allowed, const char *where, struct lgw_buf *errs);
/* A model, group or alias name: 1..127 bytes, no control characters, spaces, commas or quotes. */
bool lgw_catalog_name_ok(const char *s);
/* One model object of the document (the index-th, for messages) into m, its aliases and life (strings borrowed
 * from the document; sources is the document's "sources" object). False with lines in errs when invalid. */
bool lgw_catalog_parse_model(json_t *mj, json_t *sources, size_t index, struct lgw_model_info *m, json_t **aliases,
                             struct model_life *life, struct lgw_buf *errs);

#endif
