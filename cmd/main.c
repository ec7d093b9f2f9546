/* main.c - the llmgw binary: parses the subcommand and options, loads config, runs the role. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "routing/catalog.h"
#include "common/buf.h"
#include "common/config.h"
#include "providers/http.h"
#include "common/log.h"
#include "cmd/roles.h"

static const char usage[] =
    "usage: llmgw <command> [--config FILE]\n"
    "\n"
    "commands:\n"
    "  dev                  every role in one process on embedded defaults (in-process Kafka, SQLite,\n"
    "                       echo provider); listens on 127.0.0.1:8080 unless LLMGW_PORT says otherwise\n"
    "  ingress              HTTP API: validates, authenticates, queues jobs on Kafka, answers replies\n"
    "  worker               consumes jobs, calls providers, produces replies and cost events\n"
    "  ledger               writes cost events to PostgreSQL or SQLite\n"
    "  keys new --tenant T  prints a new tenant API key and the SHA-256 hash to configure\n"
    "  config docs          prints the settings table (docs/CONFIG.md)\n"
    "  config check         loads and validates the configuration, then exits\n"
    "\n"
    "Configuration: a JSON file (--config or LLMGW_CONFIG) and LLMGW_* environment variables;\n"
    "see docs/CONFIG.md.\n";

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        atomic_fetch_add(&lgw_catalog_generation, 1); /* re-read the model catalog */
    else
        atomic_store(&lgw_stop_requested, true);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client that hangs up must not kill the process */
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "keys") == 0)
        return lgw_cmd_keys(argc - 2, argv + 2);
    if (strcmp(cmd, "config") == 0 && argc >= 3 && strcmp(argv[2], "docs") == 0) {
        lgw_config_write_docs(stdout);
        return 0;
    }
    const char *config_path = NULL;
    int first_opt = strcmp(cmd, "config") == 0 ? 3 : 2;
    for (int i = first_opt; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config_path = argv[++i];
        else {
            fprintf(stderr, "llmgw: unknown option '%s'\n\n%s", argv[i], usage);
            return 2;
        }
    }

    struct lgw_config cfg;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    lgw_config_defaults(&cfg);
    if (strcmp(cmd, "dev") == 0)
        lgw_strlcpy(cfg.database_url, "sqlite:llmgw-dev.db", sizeof(cfg.database_url));
    if (lgw_config_load(&cfg, config_path, &errs)) {
        fprintf(stderr, "llmgw: invalid configuration:\n%s", errs.ptr ? errs.ptr : "");
        lgw_buf_cleanup(&errs);
        lgw_config_cleanup(&cfg);
        return 2;
    }
    lgw_buf_cleanup(&errs);

    int code;
    install_signals();
    if (lgw_http_global_init()) {
        fprintf(stderr, "llmgw: libcurl initialisation failed\n");
        lgw_config_cleanup(&cfg);
        return 1;
    }
    if (strcmp(cmd, "dev") == 0)
        code = lgw_role_dev(&cfg);
    else if (strcmp(cmd, "ingress") == 0)
        code = lgw_role_ingress(&cfg);
    else if (strcmp(cmd, "worker") == 0)
        code = lgw_role_worker(&cfg);
    else if (strcmp(cmd, "ledger") == 0)
        code = lgw_role_ledger(&cfg);
    else if (strcmp(cmd, "config") == 0 && argc >= 3 && strcmp(argv[2], "check") == 0) {
        printf("configuration is valid\n");
        code = 0;
    } else {
        fprintf(stderr, "llmgw: unknown command '%s'\n\n%s", cmd, usage);
        code = 2;
    }
    lgw_config_cleanup(&cfg);
    return code;
}
