/* main.c - the llmgw binary: reads the command line, loads the configuration, runs the command.
 *
 * Every word of the command line is checked before any configuration is read, so a typo is reported as
 * one, never as a configuration error. Output asked for goes to stdout; every message goes to stderr.
 * Exit status: 0, 2 for a usage error (the command line or the configuration), 1 for a runtime error. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routing/catalog.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/kafka.h"
#include "common/kafka_conf.h"
#include "common/errors.h"
#include "providers/http.h"
#include "common/log.h"
#include "common/sched_slice.h"
#include "batch/cli.h"
#include "cmd/keys.h"
#include "cmd/roles.h"
#include "limits/limits.h"
#include "telemetry/otel_env.h"
#include "tenancy/tenancy.h"

/* From CMakeLists.txt: the project version and the git commit the build was configured at ("" if unknown). */
#ifndef LGW_VERSION
#error "LGW_VERSION is defined by CMakeLists.txt"
#endif
#ifndef LGW_GIT_COMMIT
#define LGW_GIT_COMMIT ""
#endif

#define EXIT_USAGE 2

/* One row per command: `llmgw help` prints every row's list lines, `llmgw help NAME` the row's usage, and
 * run gets the words after the command's name and returns the exit status. */
struct command {
    const char *name;
    const char *list;
    const char *usage;
    int (*run)(const struct command *c, int argc, char **argv);
};

static int cmd_role(const struct command *c, int argc, char **argv);
static int cmd_keys(const struct command *c, int argc, char **argv);
static int cmd_batch(const struct command *c, int argc, char **argv);
static int cmd_config(const struct command *c, int argc, char **argv);
static int cmd_help(const struct command *c, int argc, char **argv);
static int cmd_version(const struct command *c, int argc, char **argv);

static const struct command commands[] = {
    {"dev",
     "  dev                  every role in one process on embedded defaults (in-process Kafka, SQLite,\n"
     "                       echo provider); listens on 127.0.0.1:8080 unless LLMGW_PORT says otherwise;\n"
     "                       --simulate adds simulated OpenAI, Anthropic, Gemini and Mistral\n",
     "usage: llmgw dev [--config FILE] [--simulate]\n"
     "\n"
     "Runs every role (ingress, worker, ledger, batch) in one process on embedded defaults: librdkafka's in-process\n"
     "mock Kafka cluster, a SQLite ledger (llmgw-dev.db unless LLMGW_DATABASE_URL says otherwise) and the echo\n"
     "provider. Listens on 127.0.0.1:8080 unless LLMGW_PORT says otherwise. With no tenant keys configured it\n"
     "accepts requests without a key as tenant \"dev\". Stops on SIGTERM or SIGINT.\n"
     "\n"
     "--simulate  serve OpenAI, Anthropic, Gemini and Mistral models that have no key by simulated providers\n"
     "            (openai-sim, ...) in this process: the catalog's prices, made-up latency, occasional\n"
     "            failures, labelled as simulated everywhere (x-llmgw-simulated: true). A provider with a key\n"
     "            is always the real one. Also LLMGW_SIMULATE=1; every production role refuses it.\n",
     cmd_role},
    {"ingress", "  ingress              HTTP API: validates, authenticates, queues jobs on Kafka, answers replies\n",
     "usage: llmgw ingress [--config FILE]\n"
     "\n"
     "The HTTP API: validates and authenticates requests, queues jobs on Kafka and answers each client from\n"
     "the replies on this ingress's own reply topic (LLMGW_INGRESS_ID). Serves /healthz, /readyz and /metrics\n"
     "on the same port (per-tenant metrics only with an admin key), and all of them with every metric on\n"
     "LLMGW_INGRESS_OPS_PORT if set. On SIGTERM, drains the requests in flight and exits.\n",
     cmd_role},
    {"worker", "  worker               consumes jobs, calls providers, produces replies and cost events\n",
     "usage: llmgw worker [--config FILE]\n"
     "\n"
     "Consumes jobs from Kafka, calls the providers, produces replies and cost events. Run as many as you\n"
     "like: they share one consumer group. Serves /healthz, /readyz and /metrics on LLMGW_OPS_PORT if set.\n",
     cmd_role},
    {"ledger", "  ledger               writes cost events to PostgreSQL or SQLite\n",
     "usage: llmgw ledger [--config FILE]\n"
     "\n"
     "Writes the cost events from Kafka to PostgreSQL or SQLite (LLMGW_DATABASE_URL). Serves /healthz,\n"
     "/readyz and /metrics on LLMGW_OPS_PORT if set.\n",
     cmd_role},
    {"batch",
     "  batch submit FILE    sends an OpenAI Batch input (JSONL) as a batch; also status, cancel, collect,\n"
     "                       serve (the batch role)\n",
     "usage: llmgw batch submit FILE.jsonl --tenant TENANT [--skip-invalid] [--metadata KEY=VALUE]... [--config FILE]\n"
     "       llmgw batch status ID [--json] [--tenant TENANT] [--config FILE]\n"
     "       llmgw batch cancel ID [--tenant TENANT] [--config FILE]\n"
     "       llmgw batch collect ID --out FILE [--no-wait] [--tenant TENANT] [--config FILE]\n"
     "       llmgw batch serve [--config FILE]\n"
     "\n"
     "Batches in OpenAI's Batch format, straight to Kafka (docs/BATCH.md). Runs with the gateway's configuration\n"
     "(LLMGW_KAFKA_BROKERS, LLMGW_DATABASE_URL, ...) as a trusted producer.\n"
     "\n"
     "submit   validates every line of FILE (\"-\": stdin) first; a bad line is reported as FILE:LINE: code:\n"
     "         message and nothing is sent (exit 1) unless --skip-invalid. Then sends the batch record and one\n"
     "         job per line, waits until Kafka has them all, and prints the batch id. --metadata KEY=VALUE (up\n"
     "         to 16) is kept with the batch.\n"
     "status   prints the batch's status, request counts, cost so far and timestamps; --json: OpenAI's Batch\n"
     "         object.\n"
     "cancel   asks the workers to stop the batch: lines not run yet are answered batch_cancelled.\n"
     "collect  writes every line of the output in input order to FILE (OpenAI's Batch output format: output and\n"
     "         errors), as results arrive, until the batch is finished (or at once with --no-wait). Run it\n"
     "         again after an interruption: it continues after the complete lines already in FILE. On a\n"
     "         terminal it shows a progress bar (rate, cost so far, ETA); otherwise a line every 10 seconds.\n"
     "serve    runs the batch role: keeps every batch's status, counts, cost and results in the database\n"
     "         from Kafka, expires and finishes batches. Serves /healthz, /readyz and /metrics on\n"
     "         LLMGW_OPS_PORT if set. Stops on SIGTERM after writing what it holds.\n"
     "\n"
     "--tenant scopes status, cancel and collect to that tenant's batches (without it: any tenant's).\n"
     "Exit status: 0, 1 when something failed (bad input, no such batch, Kafka or the database), 2 for usage.\n",
     cmd_batch},
    {"keys",
     "  keys new --tenant T  prints a new tenant API key and the SHA-256 hash to configure\n"
     "  keys list            lists the keys (ids, tenants, names, expiry; never secrets)\n"
     "  keys revoke ID       revokes a key\n",
     "usage: llmgw keys new --tenant TENANT [--name NAME] [--expires RFC3339] [--models a,b] [--admin-url URL]\n"
     "       llmgw keys new --admin NAME\n"
     "       llmgw keys list [--tenant TENANT] [--config FILE] [--admin-url URL]\n"
     "       llmgw keys revoke ID [--config FILE] [--admin-url URL]\n"
     "\n"
     "new     prints a new API key for TENANT and its SHA-256 on stdout (\"key: ...\", \"sha256: ...\"), and on\n"
     "        stderr the LLMGW_TENANT_KEYS entry to configure, the key's id and, with --name, --expires or\n"
     "        --models, the \"tenants\" entry of the config file (with --admin-url: \"key:\" and \"id:\").\n"
     "        The key is shown only now: only its hash is configured. With --admin NAME: an admin key, for\n"
     "        LLMGW_ADMIN_KEYS.\n"
     "list    prints the keys of the configuration (LLMGW_TENANT_KEYS, the config file's attributes) and the\n"
     "        admin keys' names.\n"
     "revoke  prints the LLMGW_TENANT_KEYS value without the key, for a restart.\n"
     "\n"
     "With --admin-url URL (a running ingress; the admin key in LLMGW_ADMIN_KEY) new, list and revoke go\n"
     "through the admin API instead and apply to every instance within seconds, without restarts; what the\n"
     "API sets wins over the configuration for the same key or tenant (docs/ADMIN.md).\n"
     "A tenant name has 1 to 63 characters, each an ASCII letter, digit, '.', '_' or '-'.\n",
     cmd_keys},
    {"config",
     "  config docs          prints the settings table (docs/CONFIG.md)\n"
     "  config env           prints the settings as LLMGW_*=default lines (secrets named, never valued)\n"
     "  config check         loads and validates the configuration, then exits\n",
     "usage: llmgw config docs\n"
     "       llmgw config env\n"
     "       llmgw config check [--config FILE]\n"
     "\n"
     "docs   prints the table of settings as Markdown (docs/CONFIG.md).\n"
     "env    prints every setting as an environment assignment at its default (NAME=value after a comment\n"
     "       line with its description), for env files and the Helm chart's ConfigMap; a secret is only\n"
     "       named, on a \"# secret: NAME\" line.\n"
     "check  loads the configuration (defaults, the JSON file, LLMGW_* variables) and prints\n"
     "       \"configuration is valid\", or every problem on stderr and exits 2.\n",
     cmd_config},
    {"help", "  help [COMMAND]       lists the commands, or prints the usage of one\n",
     "usage: llmgw help [COMMAND]\n"
     "\n"
     "Lists the commands, or prints the usage of COMMAND. Also: llmgw --help, llmgw COMMAND --help.\n",
     cmd_help},
    {"version", "  version              prints the version (also: llmgw --version)\n",
     "usage: llmgw version\n"
     "       llmgw --version\n"
     "\n"
     "Prints the version and, when the build knew it, the git commit it was built from.\n",
     cmd_version},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void print_overview(FILE *out)
{
    fputs("usage: llmgw <command> [options]\n\ncommands:\n", out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fputs(commands[i].list, out);
    fputs("\nConfiguration: a JSON file (--config FILE or LLMGW_CONFIG) and LLMGW_* environment variables;\n"
          "see docs/CONFIG.md.\n",
          out);
}

static bool is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/* An option a command takes: with a value ("--config FILE", stored in *value), or a flag ("--simulate",
 * value NULL: *flag is set). */
struct cli_option {
    const char *name;
    const char **value;
    bool *flag;
};

/* Reads the options of command c from argv[0..argc): those in opts[0..nopts) and --help, nothing else.
 * Returns -1 to go on, or the exit status: 0 after printing c's usage for --help, EXIT_USAGE after a
 * message on stderr. A later option overrides an earlier one. */
static int parse_options(const struct command *c, int argc, char **argv, const struct cli_option *opts, size_t nopts)
{
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (is_help(arg)) {
            fputs(c->usage, stdout);
            return 0;
        }
        const struct cli_option *o = NULL;
        for (size_t j = 0; j < nopts; j++)
            if (strcmp(opts[j].name, arg) == 0)
                o = &opts[j];
        if (!o) {
            fprintf(stderr, "llmgw: %s '%s'; see 'llmgw help %s'\n",
                    arg[0] == '-' ? "unknown option" : "unexpected argument", arg, c->name);
            return EXIT_USAGE;
        }
        if (o->flag) {
            *o->flag = true;
            continue;
        }
        if (i + 1 == argc) {
            fprintf(stderr, "llmgw: option '%s' needs a value; see 'llmgw help %s'\n", arg, c->name);
            return EXIT_USAGE;
        }
        *o->value = argv[++i];
    }
    return -1;
}

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        atomic_fetch_add(&lgw_catalog_generation, 1); /* re-read the model catalog */
    else
        atomic_store(&lgw_stop_requested, true);
}

/* A producer's fatal error (common/kafka.h): stop as SIGTERM does; main exits 1 so a supervisor restarts it. */
static void on_kafka_fatal(const char *reason)
{
    (void)reason; /* logged by common/kafka.c */
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

static const char *getenv_cb(const char *name)
{
    return getenv(name);
}

/* Loads the configuration and runs a role, or (role NULL) only checks the configuration. simulate: the
 * command line said --simulate (it wins over the file and the environment). */
static int run_with_config(const char *role, const char *config_path, bool simulate)
{
    struct lgw_config cfg;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    lgw_config_defaults(&cfg);
    if (role && strcmp(role, "dev") == 0)
        lgw_strlcpy(cfg.database_url, "sqlite:llmgw-dev.db", sizeof(cfg.database_url));
    /* The "tenants" object is read by the layers that own it (rate limits): checked here too, so `config
     * check` and every role refuse a bad one before anything starts. */
    struct lgw_limits *limits = NULL;
    int rc = lgw_config_load(&cfg, config_path, &errs);
    if (simulate)
        cfg.simulate = 1;
    if (rc == 0)
        rc = lgw_config_check_role(&cfg, role, &errs);
    /* The request path's scheduling slice (common/sched_slice.h), before any thread exists: the checks below may
     * start some, and a sanitizer's runtime starts its own with the first; every later thread inherits it. */
    if (rc == 0 && role && (strcmp(role, "ingress") == 0 || strcmp(role, "worker") == 0))
        (void)lgw_sched_slice_set(cfg.sched_slice_us);
    /* Kafka's TLS, SASL and pass-through properties, checked by librdkafka itself (common/kafka_conf.h); dev's
     * in-process cluster is plaintext, so there only the pass-through list counts. */
    cfg.kafka_mock = role && strcmp(role, "dev") == 0;
    if (rc == 0)
        rc = lgw_kafka_conf_check(&cfg, &errs);
    if (rc == 0)
        rc = lgw_limits_new(&cfg, NULL, NULL, &limits, &errs);
    lgw_limits_free(limits);
    /* And the keys' attributes and allow-lists (tenancy/). */
    struct lgw_tenancy *tenancy = NULL;
    if (rc == 0)
        rc = lgw_tenancy_new(&cfg, &tenancy, &errs);
    lgw_tenancy_free(tenancy);
    /* And the OpenTelemetry SDK variables (telemetry/otel_env.h): grpc or a sampler llmgw lacks stops here. */
    static struct lgw_otel_config otel; /* 30 KB: not on the stack */
    if (lgw_otel_config_load(role ? role : "check", getenv_cb, &otel, &errs))
        rc = LGW_ERR(CONFIG);
    if (rc) {
        fprintf(stderr, "llmgw: invalid configuration:\n%s", errs.ptr ? errs.ptr : "");
        lgw_buf_cleanup(&errs);
        lgw_config_cleanup(&cfg);
        return EXIT_USAGE;
    }
    lgw_buf_cleanup(&errs);
    if (!role) {
        printf("configuration is valid\n");
        lgw_config_cleanup(&cfg);
        return 0;
    }

    int code;
    install_signals();
    lgw_kafka_set_fatal_hook(on_kafka_fatal);
    if (lgw_http_global_init()) {
        fprintf(stderr, "llmgw: libcurl initialisation failed\n");
        lgw_config_cleanup(&cfg);
        return 1;
    }
    const struct lgw_role_env env = {&otel, LGW_VERSION};
    if (strcmp(role, "dev") == 0)
        code = lgw_role_dev(&cfg, &env);
    else if (strcmp(role, "ingress") == 0)
        code = lgw_role_ingress(&cfg, &env);
    else if (strcmp(role, "worker") == 0)
        code = lgw_role_worker(&cfg, &env);
    else if (strcmp(role, "batch") == 0)
        code = lgw_role_batch(&cfg, &env);
    else
        code = lgw_role_ledger(&cfg, &env);
    if (lgw_kafka_fatal_seen())
        code = 1; /* stopped by a fatal Kafka error, not by a signal: not a clean exit */
    lgw_config_cleanup(&cfg);
    return code;
}

/* A word after keys or config that names none of their commands: --help, or an unknown option or command. */
static int not_a_subcommand(const struct command *c, const char *word)
{
    if (is_help(word)) {
        fputs(c->usage, stdout);
        return 0;
    }
    if (word[0] == '-')
        fprintf(stderr, "llmgw: unknown option '%s'; see 'llmgw help %s'\n", word, c->name);
    else
        fprintf(stderr, "llmgw: unknown command '%s %s'; see 'llmgw help %s'\n", c->name, word, c->name);
    return EXIT_USAGE;
}

/* dev, ingress, worker, ledger. */
static int cmd_role(const struct command *c, int argc, char **argv)
{
    const char *config_path = NULL;
    bool simulate = false;
    /* --simulate is taken by every role, so that a production role refuses it with the reason
     * (lgw_config_check_role) rather than as an unknown option. */
    const struct cli_option opts[] = {{"--config", &config_path, NULL}, {"--simulate", NULL, &simulate}};
    int code = parse_options(c, argc, argv, opts, 2);
    return code >= 0 ? code : run_with_config(c->name, config_path, simulate);
}

/* `llmgw keys new|list|revoke` (cmd/keys.c). */
static int cmd_keys(const struct command *c, int argc, char **argv)
{
    if (argc == 0) {
        fputs(c->usage, stderr);
        return EXIT_USAGE;
    }
    struct lgw_keys_opts o = {0};
    const char *sub = argv[0];
    int code;
    if (strcmp(sub, "new") == 0) {
        const struct cli_option opts[] = {{"--tenant", &o.tenant, NULL},   {"--admin", &o.admin_name, NULL},
                                          {"--name", &o.name, NULL},       {"--expires", &o.expires, NULL},
                                          {"--models", &o.models, NULL},   {"--admin-url", &o.admin_url, NULL}};
        if ((code = parse_options(c, argc - 1, argv + 1, opts, 6)) >= 0)
            return code;
        if (!o.tenant && !o.admin_name) {
            fprintf(stderr, "llmgw: 'keys new' needs --tenant TENANT; see 'llmgw help keys'\n");
            return EXIT_USAGE;
        }
        return lgw_cmd_keys_new(&o);
    }
    if (strcmp(sub, "list") == 0) {
        const struct cli_option opts[] = {{"--tenant", &o.tenant, NULL}, {"--config", &o.config_path, NULL},
                                          {"--admin-url", &o.admin_url, NULL}};
        if ((code = parse_options(c, argc - 1, argv + 1, opts, 3)) >= 0)
            return code;
        return lgw_cmd_keys_list(&o);
    }
    if (strcmp(sub, "revoke") == 0) {
        const struct cli_option opts[] = {{"--config", &o.config_path, NULL}, {"--admin-url", &o.admin_url, NULL}};
        int first = 1;
        if (argc > 1 && argv[1][0] != '-') {
            o.id = argv[1];
            first = 2;
        }
        if ((code = parse_options(c, argc - first, argv + first, opts, 2)) >= 0)
            return code;
        if (!o.id) {
            fprintf(stderr, "llmgw: 'keys revoke' needs the key's ID; see 'llmgw keys list'\n");
            return EXIT_USAGE;
        }
        return lgw_cmd_keys_revoke(&o);
    }
    return not_a_subcommand(c, sub);
}

/* Loads the configuration for a batch command (no role: no role checks). Returns 0 or EXIT_USAGE after the
 * problems on stderr. */
static int load_batch_config(const char *path, struct lgw_config *cfg)
{
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    lgw_config_defaults(cfg);
    int rc = lgw_config_load(cfg, path, &errs);
    if (rc)
        fprintf(stderr, "llmgw: invalid configuration:\n%s", errs.ptr ? errs.ptr : "");
    lgw_buf_cleanup(&errs);
    return rc ? EXIT_USAGE : 0;
}

/* Takes every "--metadata KEY=VALUE" out of argv (compacting it; *argc shrinks) into *meta. Returns -1 to go
 * on, or EXIT_USAGE after a message. */
static int take_metadata(int *argc, char **argv, json_t **meta)
{
    int kept = 0;
    for (int i = 0; i < *argc; i++) {
        if (strcmp(argv[i], "--metadata") != 0) {
            argv[kept++] = argv[i];
            continue;
        }
        const char *kv = i + 1 < *argc ? argv[++i] : NULL;
        const char *eq = kv ? strchr(kv, '=') : NULL;
        /* OpenAI's limits: 16 pairs, keys up to 64 characters, values up to 512. */
        if (!eq || eq == kv || eq - kv > 64 || strlen(eq + 1) > 512) {
            fprintf(stderr, "llmgw: --metadata needs KEY=VALUE (a key of 1 to 64 characters, a value of up to "
                            "512); see 'llmgw help batch'\n");
            return EXIT_USAGE;
        }
        if (!*meta)
            *meta = json_object();
        char key[65];
        lgw_strlcpy(key, kv, (size_t)(eq - kv) + 1);
        json_object_set_new(*meta, key, json_string(eq + 1));
        if (json_object_size(*meta) > 16) {
            fprintf(stderr, "llmgw: at most 16 --metadata pairs\n");
            return EXIT_USAGE;
        }
    }
    *argc = kept;
    return -1;
}

/* `llmgw batch submit|status|cancel|collect|serve` (batch/cli.h; serve is the batch role). */
static int cmd_batch(const struct command *c, int argc, char **argv)
{
    if (argc == 0) {
        fputs(c->usage, stderr);
        return EXIT_USAGE;
    }
    const char *sub = argv[0], *config_path = NULL, *interval = NULL;
    struct lgw_batch_cli_opts o = {0};
    json_t *meta = NULL;
    int code, first = 1;
    if (strcmp(sub, "serve") == 0) {
        const struct cli_option opts[] = {{"--config", &config_path, NULL}};
        code = parse_options(c, argc - 1, argv + 1, opts, 1);
        return code >= 0 ? code : run_with_config("batch", config_path, false);
    }
    bool is_submit = strcmp(sub, "submit") == 0, is_status = strcmp(sub, "status") == 0;
    bool is_cancel = strcmp(sub, "cancel") == 0, is_collect = strcmp(sub, "collect") == 0;
    if (!is_submit && !is_status && !is_cancel && !is_collect)
        return not_a_subcommand(c, sub);
    /* The one positional word: FILE for submit, ID for the others. */
    if (argc > 1 && argv[1][0] != '-') {
        if (is_submit)
            o.file = argv[1];
        else
            o.id = argv[1];
        first = 2;
    } else if (argc > 1 && is_submit && strcmp(argv[1], "-") == 0) {
        o.file = "-";
        first = 2;
    }
    int rest = argc - first;
    char **words = argv + first;
    if (is_submit && (code = take_metadata(&rest, words, &meta)) >= 0)
        return code;
    const struct cli_option opts[] = {
        {"--config", &config_path, NULL}, {"--tenant", &o.tenant, NULL},   {"--skip-invalid", NULL, &o.skip_invalid},
        {"--json", NULL, &o.json},        {"--out", &o.out, NULL},         {"--no-wait", NULL, &o.no_wait},
        {"--interval-ms", &interval, NULL},
    };
    /* Each subcommand takes --config, --tenant and its own options only. */
    const struct cli_option *mine[7];
    size_t n = 0;
    mine[n++] = &opts[0];
    mine[n++] = &opts[1];
    if (is_submit)
        mine[n++] = &opts[2];
    if (is_status)
        mine[n++] = &opts[3];
    if (is_collect) {
        mine[n++] = &opts[4];
        mine[n++] = &opts[5];
        mine[n++] = &opts[6];
    }
    struct cli_option chosen[7];
    for (size_t i = 0; i < n; i++)
        chosen[i] = *mine[i];
    if ((code = parse_options(c, rest, words, chosen, n)) >= 0) {
        json_decref(meta);
        return code;
    }
    const char *missing = is_submit && !o.file     ? "'batch submit' needs the input FILE"
                          : is_submit && !o.tenant ? "'batch submit' needs --tenant TENANT"
                          : !is_submit && !o.id    ? "the batch ID is missing"
                          : is_collect && !o.out   ? "'batch collect' needs --out FILE"
                                                   : NULL;
    long long iv = 0;
    if (!missing && interval && (lgw_parse_int64(interval, strlen(interval), &iv) || iv < 50 || iv > 60000))
        missing = "--interval-ms takes 50 to 60000";
    if (missing) {
        fprintf(stderr, "llmgw: %s; see 'llmgw help batch'\n", missing);
        json_decref(meta);
        return EXIT_USAGE;
    }
    o.interval_ms = (int)iv;
    o.metadata = meta;
    struct lgw_config cfg;
    if ((code = load_batch_config(config_path, &cfg))) {
        json_decref(meta);
        return code;
    }
    signal(SIGPIPE, SIG_IGN);
    code = is_submit ? lgw_batch_cli_submit(&cfg, &o)
           : is_status ? lgw_batch_cli_status(&cfg, &o)
           : is_cancel ? lgw_batch_cli_cancel(&cfg, &o)
                       : lgw_batch_cli_collect(&cfg, &o);
    json_decref(meta);
    lgw_config_cleanup(&cfg);
    return code;
}

/* `llmgw config docs|env|check`. */
static int cmd_config(const struct command *c, int argc, char **argv)
{
    if (argc == 0) {
        fputs(c->usage, stderr);
        return EXIT_USAGE;
    }
    const char *config_path = NULL;
    const struct cli_option opts[] = {{"--config", &config_path, NULL}};
    int code;
    if (strcmp(argv[0], "docs") == 0) {
        if ((code = parse_options(c, argc - 1, argv + 1, NULL, 0)) >= 0)
            return code;
        lgw_config_write_docs(stdout);
        lgw_otel_write_docs(stdout);
        return 0;
    }
    if (strcmp(argv[0], "env") == 0) {
        if ((code = parse_options(c, argc - 1, argv + 1, NULL, 0)) >= 0)
            return code;
        lgw_config_write_env(stdout);
        return 0;
    }
    if (strcmp(argv[0], "check") == 0) {
        if ((code = parse_options(c, argc - 1, argv + 1, opts, 1)) >= 0)
            return code;
        return run_with_config(NULL, config_path, false);
    }
    return not_a_subcommand(c, argv[0]);
}

/* `llmgw help [COMMAND]`. */
static int cmd_help(const struct command *c, int argc, char **argv)
{
    if (argc == 0) {
        print_overview(stdout);
        return 0;
    }
    const struct command *topic = is_help(argv[0]) ? c : find_command(argv[0]);
    if (!topic) {
        fprintf(stderr, "llmgw: unknown command '%s'; see 'llmgw help'\n", argv[0]);
        return EXIT_USAGE;
    }
    if (argc > 1) /* help takes no options: this prints its usage for --help, or refuses the word */
        return parse_options(c, argc - 1, argv + 1, NULL, 0);
    fputs(topic->usage, stdout);
    return 0;
}

static int cmd_version(const struct command *c, int argc, char **argv)
{
    int code = parse_options(c, argc, argv, NULL, 0);
    if (code >= 0)
        return code;
    if (LGW_GIT_COMMIT[0])
        printf("llmgw %s (git %s)\n", LGW_VERSION, LGW_GIT_COMMIT);
    else
        printf("llmgw %s\n", LGW_VERSION);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_overview(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (is_help(name))
        name = "help";
    else if (strcmp(name, "--version") == 0)
        name = "version";
    const struct command *c = find_command(name);
    if (!c) {
        fprintf(stderr, "llmgw: unknown %s '%s'; see 'llmgw help'\n", name[0] == '-' ? "option" : "command",
                name);
        return EXIT_USAGE;
    }
    return c->run(c, argc - 2, argv + 2);
}
