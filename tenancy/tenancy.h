/* tenancy.h - the tenancy directory: every tenant key with its attributes and every tenant's settings, as
 * the config gives them, overlaid with the records written through the admin API (the tenants topic).
 *
 * Precedence: a record on the topic wins over the config for the same key id or tenant, field by field of
 * the record's top level (a key record's name/expires/allow_models/budget/revoked; a tenant record's
 * limits/budget/allow_models): the admin API always writes the whole current state, so the record is what
 * the operator last said. A revoked key stays in the directory as revoked, so it is refused with a reason.
 *
 * Threads: identify and check_model run on the HTTP threads under a read lock (one SHA-256 and one
 * constant-time pass over the keys); apply runs on the topic reader's thread and changes the one entry its
 * record names under the write lock. The change callback runs on the applying thread, outside the lock. */
#ifndef LGW_TENANCY_H
#define LGW_TENANCY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/config.h"
#include "tenancy/record.h"

struct lgw_tenancy;

/* Who a tenant key belongs to. */
struct lgw_tenancy_id {
    char tenant[LGW_TENANT_MAX];
    char key_id[LGW_KEY_ID_LEN];
    char name[LGW_KEY_NAME_MAX];
};

/* A record was applied. For a tenant (key_id NULL): its effective settings {"limits":{...}, "budget":{...},
 * "allow_models":[...]} (members absent when neither config nor record sets them). For a key of tenant:
 * its public view (lgw_tenancy_key_json: "budget", "revoked", ...). settings is borrowed for the call. Reader
 * thread, outside the directory's lock. */
typedef void (*lgw_tenancy_change_cb)(void *opaque, const char *tenant, const char *key_id, const json_t *settings);

/* Builds the directory from cfg->keys and the key attributes and allow-lists of cfg->tenants
 * ("tenants": {"acme": {"allow_models": [...], "keys": {"key_...": {"name", "expires", "allow_models"}}}}).
 * cfg must outlive the directory. Returns 0 and *out (lgw_tenancy_free), or LGW_ERR(CONFIG) with every
 * problem, one per line, in errs. Start-up thread. */
int lgw_tenancy_new(const struct lgw_config *cfg, struct lgw_tenancy **out, struct lgw_buf *errs);
void lgw_tenancy_free(struct lgw_tenancy *t); /* NULL is a no-op */

/* Sets the change callback (one). Start-up thread, before records are applied. */
void lgw_tenancy_on_change(struct lgw_tenancy *t, lgw_tenancy_change_cb cb, void *opaque);

/* Applies one record of the tenants topic (value NULL: a tombstone, which drops the record so the config
 * applies again). An invalid record is logged (never its content) and ignored. Returns 0 or
 * LGW_ERR(INVALID). Has the lgw_kv_record_cb shape through lgw_tenancy_record_cb. One thread at a time. */
int lgw_tenancy_apply(struct lgw_tenancy *t, const char *key, size_t keylen, const void *value, size_t len);
void lgw_tenancy_record_cb(void *opaque, const char *key, size_t keylen, const void *value, size_t len);

/* Identifies the tenant key in an Authorization header value ("Bearer <key>"; NULL: none). Returns 0 with
 * *who filled, or LGW_ERR(UNAUTHORIZED) with msg for the client: unknown (msg ""), revoked ("API key key_...
 * was revoked."), expired ("API key key_... expired at 2026-..."); never the secret. Constant time over all
 * keys. HTTP threads. */
int lgw_tenancy_identify(struct lgw_tenancy *t, const char *authorization, struct lgw_tenancy_id *who, char *msg,
                         size_t msgsz);
/* lgw_tenancy_identify for a key already hashed (lgw_auth_digest), so a caller that also checks the digest
 * elsewhere (the admin keys) hashes once. HTTP threads. */
int lgw_tenancy_identify_digest(struct lgw_tenancy *t, const unsigned char d[32], struct lgw_tenancy_id *who,
                                char *msg, size_t msgsz);

/* May key_id of tenant use model (the name the client sent: a model, group, alias or "auto")? The key's
 * allow-list decides when it has one, else the tenant's, else anything goes. Returns 0 or LGW_ERR(FORBIDDEN)
 * with a message naming the key and the allowed models. HTTP threads. */
int lgw_tenancy_check_model(struct lgw_tenancy *t, const char *tenant, const char *key_id, const char *model,
                            char *msg, size_t msgsz);

/* The public view of one key ({"id","tenant","name","expires","allow_models","budget","revoked","source",
 * "created_ms"}: never a secret or a hash), or NULL when unknown. Caller owns the reference. Any thread. */
json_t *lgw_tenancy_key_json(struct lgw_tenancy *t, const char *id);
/* The public views of every key (of tenant; NULL: all) as a new array, by id. Any thread. */
json_t *lgw_tenancy_keys_json(struct lgw_tenancy *t, const char *tenant);
/* The effective settings of tenant (see lgw_tenancy_change_cb) plus "tenant" and "source", as a new object.
 * Any thread. */
json_t *lgw_tenancy_tenant_json(struct lgw_tenancy *t, const char *tenant);
/* A copy of the record stored under key ("key:<id>", "tenant:<name>"), or NULL. Any thread. */
json_t *lgw_tenancy_record(struct lgw_tenancy *t, const char *key);
/* The SHA-256 (hex) a key id is configured with (config or record), into hex; false when unknown. */
bool lgw_tenancy_key_sha256(struct lgw_tenancy *t, const char *id, char hex[65]);
/* True once the record under key with this "rev" has been applied (read-your-writes). Any thread. */
bool lgw_tenancy_has_rev(struct lgw_tenancy *t, const char *key, const char *rev);

#endif
