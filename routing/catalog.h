/* catalog.h - the model catalog: every model the gateway can route to, with its provider, upstream name,
 * aliases, prices (and long-context tier), context window, output limit, capabilities and typical latency;
 * plus named groups ("auto") and the fallback chains the operator allows.
 *
 * The catalog is a versioned JSON document (catalog/models.json, compiled into the binary), optionally
 * replaced by a file (LLMGW_CATALOG), with an operator's override file merged over it
 * (LLMGW_CATALOG_OVERRIDES) and the OpenAI-compatible models of LLMGW_COMPAT_MODELS added. It is validated
 * as a whole: one bad entry rejects the document with a message naming it.
 *
 * A model may carry its provider's retirement date ("retired") and the catalog model that replaces it
 * ("successor"). Retirement is decided once, when the catalog is built: a model whose date is on or before
 * that day (UTC) is retired. A retired model is never a candidate: resolve, groups, fallbacks and the model
 * list leave it out, and only lgw_catalog_retired finds it, so the router can answer "retired, use X"
 * instead of routing anywhere. A date that passes while a catalog is in use takes effect at the next load
 * (restart or SIGHUP).
 *
 * A built catalog is immutable and reference-counted; a holder swaps in a new one on reload, and a job keeps
 * the reference it took for its whole run, so a reload never changes a job mid-flight. */
#ifndef LGW_CATALOG_H
#define LGW_CATALOG_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/model.h"

#define LGW_CATALOG_SCHEMA 1

struct lgw_catalog;

/* Builds a catalog from a base document (borrowed), an optional override document (borrowed, may be NULL)
 * and cfg's compat models (cfg may be NULL). Returns 0 and *out (caller owns one reference), or
 * LGW_ERR(CONFIG) with every problem found appended to errs, one per line. Any thread. */
int lgw_catalog_build(json_t *base, json_t *overrides, const struct lgw_config *cfg, struct lgw_catalog **out,
                      struct lgw_buf *errs);
/* lgw_catalog_build with the day retirement is decided against given as today (a UTC date written as the
 * number YYYYMMDD, e.g. 20261202) instead of read from the clock: a model is retired when its "retired" date
 * is on or before today. lgw_catalog_build passes the current UTC date. Any thread. */
int lgw_catalog_build_at(json_t *base, json_t *overrides, const struct lgw_config *cfg, int today,
                         struct lgw_catalog **out, struct lgw_buf *errs);
/* Reads the documents cfg names (the built-in catalog when catalog_file is empty) and builds the catalog.
 * Returns 0 or LGW_ERR(CONFIG) with errs filled (including a file that cannot be read or parsed). */
int lgw_catalog_load(const struct lgw_config *cfg, struct lgw_catalog **out, struct lgw_buf *errs);

struct lgw_catalog *lgw_catalog_ref(struct lgw_catalog *cat);
void lgw_catalog_unref(struct lgw_catalog *cat); /* NULL: no-op */

/* The document's catalog_version (owned by cat). */
const char *lgw_catalog_version(const struct lgw_catalog *cat);
/* The models that are served (retired ones are not counted). */
size_t lgw_catalog_count(const struct lgw_catalog *cat);
/* The i-th served model (owned by cat, valid while the caller holds its reference). */
const struct lgw_model_info *lgw_catalog_at(const struct lgw_catalog *cat, size_t i);

/* The models a client's name denotes for jobs of kind: "provider/name" is that provider's model with this
 * id or alias; a bare name is every provider's model with this id or alias. Writes up to max pointers
 * (owned by cat) and returns how many matched. */
size_t lgw_catalog_resolve(const struct lgw_catalog *cat, const char *name, enum lgw_job_kind kind,
                           const struct lgw_model_info **out, size_t max);
/* The members of group `name` (e.g. "auto"), or NULL when there is no such group. *n gets the count. */
const struct lgw_model_info *const *lgw_catalog_group(const struct lgw_catalog *cat, const char *name, size_t *n);
/* The fallback chain the operator allows after `model` (keyed by "provider/id" or bare id), or NULL. */
const struct lgw_model_info *const *lgw_catalog_fallbacks(const struct lgw_catalog *cat,
                                                          const struct lgw_model_info *model, size_t *n);
/* Names of the groups, for /v1/models: the i-th name or NULL past the end (owned by cat). */
const char *lgw_catalog_group_name(const struct lgw_catalog *cat, size_t i);

/* A retired model, as lgw_catalog_retired reports it; every pointer is owned by the catalog. */
struct lgw_retirement {
    const struct lgw_model_info *model;     /* the retired model */
    const char *date;                        /* its provider's retirement date, "YYYY-MM-DD" */
    const struct lgw_model_info *successor;  /* the served model of the same provider to use instead, or NULL
                                                when the catalog names none */
};
/* Whether `name` denotes a retired model for jobs of kind, matched as lgw_catalog_resolve matches served
 * ones (id, alias, "provider/name"). Fills *out and returns true when it does. Call it when resolve found
 * nothing, to tell a retired model from an unknown one. */
bool lgw_catalog_retired(const struct lgw_catalog *cat, const char *name, enum lgw_job_kind kind,
                         struct lgw_retirement *out);

/* Holds the current catalog for a process; reload swaps it. Thread-safe. */
struct lgw_catalog_holder;
/* Loads the catalog cfg names; fails (LGW_ERR(CONFIG), errs filled) when it does not validate, which stops
 * start-up. cfg is borrowed for the holder's life. */
int lgw_catalog_holder_new(const struct lgw_config *cfg, struct lgw_catalog_holder **out, struct lgw_buf *errs);
void lgw_catalog_holder_free(struct lgw_catalog_holder *h);
/* A reference to the current catalog; the caller unrefs it. */
struct lgw_catalog *lgw_catalog_current(struct lgw_catalog_holder *h);
/* Re-reads the files; on success the new catalog replaces the old (jobs holding the old finish with it),
 * on failure the last good catalog stays and the reasons are logged. Returns 0 or LGW_ERR(CONFIG). */
int lgw_catalog_reload(struct lgw_catalog_holder *h);

/* Bumped by the SIGHUP handler (async-signal-safe: a lock-free atomic); holders reload when it moved. */
extern atomic_uint lgw_catalog_generation;
/* Reloads h when lgw_catalog_generation moved since h last looked (see lgw_catalog_reload). Thread-safe;
 * cheap when nothing changed. */
void lgw_catalog_holder_refresh(struct lgw_catalog_holder *h);

/* The built-in catalog document (catalog/models.json), NUL-terminated; generated at build time. */
extern const unsigned char lgw_catalog_builtin_json[];

#endif
