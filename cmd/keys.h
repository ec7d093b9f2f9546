/* keys.h - `llmgw keys new|list|revoke`: offline against the configuration (printing what to configure), or
 * through a running ingress's admin API with --admin-url (the admin key from LLMGW_ADMIN_KEY). main.c has
 * read the command line; each returns the process exit code (0, 1 runtime error, 2 usage error). */
#ifndef LGW_CMD_KEYS_H
#define LGW_CMD_KEYS_H

struct lgw_keys_opts {
    const char *tenant;      /* keys new: the tenant (or admin NULL); keys list: a filter */
    const char *admin_name;  /* keys new --admin NAME: an admin key instead of a tenant key */
    const char *name;        /* --name */
    const char *expires;     /* --expires RFC3339 */
    const char *models;      /* --models a,b */
    const char *config_path; /* --config FILE (list, revoke offline) */
    const char *admin_url;   /* --admin-url URL: go through the admin API */
    const char *id;          /* keys revoke ID */
};

int lgw_cmd_keys_new(const struct lgw_keys_opts *o);
int lgw_cmd_keys_list(const struct lgw_keys_opts *o);
int lgw_cmd_keys_revoke(const struct lgw_keys_opts *o);

#endif
