/* roles.h - the subcommands of the llmgw binary, each a role that runs until SIGTERM/SIGINT. */
#ifndef LGW_ROLES_H
#define LGW_ROLES_H

#include <stdatomic.h>

#include "common/config.h"

/* Set by the signal handler; every role's loop watches it. */
extern atomic_bool lgw_stop_requested;

/* Each returns the process exit code: 0 after a clean drain, non-zero when it could not start. */
int lgw_role_ingress(struct lgw_config *cfg);
int lgw_role_worker(struct lgw_config *cfg);
int lgw_role_ledger(struct lgw_config *cfg);
int lgw_role_dev(struct lgw_config *cfg);
/* `llmgw keys new --tenant T` (main.c has read the command line): prints a new key and its hash on stdout,
 * the LLMGW_TENANT_KEYS entry on stderr. Returns the exit code: 2 (and the rule on stderr) for a tenant name
 * the configuration would refuse, 1 if no key could be made. */
int lgw_cmd_keys_new(const char *tenant);

#endif
