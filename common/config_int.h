/* config_int.h - the settings table (config_table.c), shared with its parsers (config.c); private to common/. */
#ifndef LGW_CONFIG_INT_H
#define LGW_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lgw_config_opt_type { LGW_OPT_INT, LGW_OPT_STR };

/* One setting: its JSON key, environment variable, field of struct lgw_config, default, bounds and doc. */
struct lgw_config_opt {
    const char *name; /* key in the JSON file */
    const char *env;
    enum lgw_config_opt_type type;
    size_t off, size;
    const char *def; /* default, as text */
    int64_t min, max;
    bool secret; /* environment only */
    const char *doc;
};

extern const struct lgw_config_opt lgw_config_opts[];
extern const size_t lgw_config_nopts;

#endif
