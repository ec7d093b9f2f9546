/* record.h - the records of tenant administration: the attributes of a key (name, expiry, model allow-list,
 * budget, revoked) and the settings of a tenant (limits, budget, model allow-list), as they appear in the
 * config file's "tenants" object, in the admin API's bodies and on the tenants topic
 * (schemas/tenant_record.schema.json). One set of validation rules for all three, so a record the API
 * accepted is one every instance applies.
 *
 * Limits and budgets are validated by their owners (limits/, the budget code); here they are only required
 * to be objects. Pure functions; any thread. */
#ifndef LGW_TENANCY_RECORD_H
#define LGW_TENANCY_RECORD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define LGW_KEY_NAME_MAX 64       /* bytes of a key's name, NUL included */
#define LGW_ALLOW_MODELS_MAX 256  /* entries of one allow-list */
#define LGW_RECORD_VERSION 1      /* "v" of the records this build writes */

/* The attributes of one key, parsed. models is owned (lgw_key_attrs_cleanup). */
struct lgw_key_attrs {
    char name[LGW_KEY_NAME_MAX];
    int64_t expires_ms; /* wall clock; 0: never */
    bool has_models;    /* an allow-list is set (it may be empty: no model at all) */
    char **models;
    size_t nmodels;
};

/* Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" into milliseconds since the epoch. Returns 0 or
 * LGW_ERR(INVALID). */
int lgw_record_parse_time(const char *s, int64_t *ms);
/* Formats ms as "YYYY-MM-DDTHH:MM:SSZ" into out (at least 24 bytes). */
void lgw_record_format_time(int64_t ms, char *out, size_t outsz);

/* Checks an allow-list (an array of 1..LGW_NAME_MAX-1 character strings, at most LGW_ALLOW_MODELS_MAX).
 * Returns 0 or LGW_ERR(INVALID) with the reason in msg. */
int lgw_record_check_models(const json_t *arr, char *msg, size_t msgsz);

/* Parses the attributes of a key from obj: "name", "expires" (RFC 3339; "expires_ms" on the topic),
 * "allow_models"; "budget" and members of other features are left alone. Unknown members are an error only
 * when strict (API bodies: a typo must not be silently ignored). Returns 0, or LGW_ERR(INVALID) with msg and
 * *param naming the field at fault (static). *out is filled either way and must be cleaned up. */
int lgw_key_attrs_parse(const json_t *obj, bool strict, struct lgw_key_attrs *out, char *msg, size_t msgsz,
                        const char **param);
void lgw_key_attrs_cleanup(struct lgw_key_attrs *a);
/* True when models (NULL: no list) allows model. */
bool lgw_key_attrs_allows(const struct lgw_key_attrs *a, const char *model);

/* Validates a record read from the tenants topic under key (e.g. "key:key_ab12..." or "tenant:acme"):
 * its kind matches the key's, required fields are present and well-formed. Returns 0 or LGW_ERR(INVALID)
 * with the reason in msg. */
int lgw_record_check(const char *key, size_t keylen, const json_t *rec, char *msg, size_t msgsz);

#endif
