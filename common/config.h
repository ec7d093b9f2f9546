/* config.h - llmgw configuration: one table drives parsing, validation and docs/CONFIG.md.
 *
 * Sources, later wins: built-in defaults, the JSON file (--config or LLMGW_CONFIG), environment variables.
 * Settings marked secret are read only from the environment. Every error is collected and reported
 * before any socket opens. */
#ifndef LGW_CONFIG_H
#define LGW_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "common/buf.h"
#include "common/model.h"

#define LGW_TENANT_MAX 64 /* bytes of a tenant name, its NUL included: names have 1..63 characters */
#define LGW_MAX_TENANT_KEYS 4096

/* A key's id: not secret, stable, unique. A key configured by its hash alone gets "key_" and the first 12 hex
 * digits of that hash (lgw_config_key_id), so the same key has the same id in every instance and tool. */
#define LGW_KEY_ID_LEN 32

struct lgw_tenant_key {
    char tenant[LGW_TENANT_MAX];
    char id[LGW_KEY_ID_LEN];
    unsigned char sha256[32];
};

struct lgw_config {
    char listen_addr[64];
    int64_t port;
    int64_t ops_port;
    int64_t ingress_ops_port;
    int64_t metrics_max_tenants;
    int64_t metrics_max_models;
    int64_t memory_trim_interval_ms;
    int64_t memory_trim_min_bytes;
    char kafka_brokers[512];
    char ingress_id[64];
    char worker_id[64];
    char topic_prefix[64];
    int64_t kafka_fetch_wait_ms;
    int64_t kafka_follow_wait_ms;
    int64_t kafka_partitions;
    int64_t kafka_produce_timeout_ms;
    int64_t kafka_outage_grace_ms;
    int64_t kafka_statistics_ms;
    int64_t kafka_cost_linger_ms;
    char kafka_cost_partition[8]; /* "worker" or "key" */
    char kafka_rebalance[16];     /* the group consumers' protocol: "eager" or "cooperative" */
    int64_t kafka_replication_factor; /* -1: the broker's default.replication.factor */
    int64_t kafka_min_insync_replicas; /* 0: the broker's min.insync.replicas */
    /* How clients reach the cluster (common/kafka_conf.h): TLS, SASL, and librdkafka properties passed on. */
    char kafka_security_protocol[16];
    char kafka_sasl_mechanism[16];
    char kafka_sasl_username[256];
    char kafka_sasl_password[512]; /* secret */
    char kafka_ssl_ca_location[512];
    char kafka_ssl_certificate_location[512];
    char kafka_ssl_key_location[512];
    char kafka_ssl_key_password[512]; /* secret */
    char kafka_ssl_endpoint_identification[8];
    char kafka_properties[4096];
    char kafka_secret_properties[4096]; /* secret */
    char database_url[512];
    int64_t request_timeout_ms;
    int64_t max_body_bytes;
    int64_t stream_buffer_max_bytes;
    int64_t max_json_depth;
    int64_t http_threads;
    int64_t max_connections;
    int64_t max_connections_per_ip;
    int64_t http_idle_timeout_s;
    int64_t http_header_timeout_ms;
    int64_t http_body_timeout_ms;
    int64_t http_body_min_rate;
    int64_t max_header_bytes;
    int64_t http_connection_memory;
    int64_t worker_concurrency;
    int64_t worker_batch_share_pct;
    int64_t worker_plan_threads;
    int64_t worker_http_loops;
    int64_t worker_stream_max_chunks;
    int64_t stream_coalesce_ms;
    int64_t provider_max_host_connections;
    int64_t provider_max_connections;
    int64_t ledger_batch_max;
    int64_t ledger_batch_ms;
    int64_t sched_slice_us;
    /* Batches (docs/BATCH.md): input limits of a submission, and the batch role's results, grace periods and
     * retention. */
    int64_t batch_max_line_bytes;
    int64_t batch_max_lines;
    int64_t batch_max_input_bytes;
    int64_t batch_max_result_bytes;
    int64_t batch_retention_days;
    int64_t batch_expiry_grace_s;
    int64_t batch_cancel_grace_s;
    int64_t shutdown_grace_ms;
    char log_level[16];
    char openai_base_url[256];
    char openai_api_key[512]; /* secret: environment only, never logged */
    int64_t provider_connect_timeout_ms;
    int64_t provider_timeout_ms;
    int64_t provider_max_retries;
    int64_t provider_max_response_bytes;
    char anthropic_base_url[256];
    char anthropic_api_key[512]; /* secret */
    char gemini_base_url[256];
    char gemini_api_key[512]; /* secret */
    char compat_base_url[256];
    char compat_api_key[512]; /* secret */
    char compat_auth[16];
    char compat_api_version[32];
    char compat_models[4096];
    char tenant_keys[65536];
    char admin_keys[16384];
    char mistral_base_url[256];
    char mistral_api_key[512]; /* secret */
    char catalog_file[512];
    char catalog_overrides[512];
    char route_strategy[16];
    int64_t route_max_attempts;
    int64_t breaker_failures;
    int64_t breaker_error_pct;
    int64_t breaker_window_ms;
    int64_t breaker_min_requests;
    int64_t breaker_cooldown_ms;
    int64_t latency_decay_ms;
    int64_t provider_status_interval_ms;
    int64_t cache_ttl_s;
    char cache_tenant_ttl[4096];
    int64_t cache_max_ttl_s;
    int64_t cache_max_entry_bytes;
    int64_t cache_memory_bytes;
    char redis_url[512]; /* may hold a password: never logged */
    int64_t redis_timeout_ms;
    int64_t redis_connect_timeout_ms;
    int64_t limit_tenant_rpm, limit_tenant_tpm, limit_user_rpm, limit_user_tpm, limit_tenant_inflight;
    int64_t limit_window_ms;
    char limit_redis_down[16];
    int64_t budget_warn_pct;
    int64_t analytics_db_pool;
    int64_t analytics_timeout_ms;
    int64_t analytics_queue_max;
    int64_t batch_file_max_bytes;
    int64_t batch_api_pool;
    /* Simulated providers (`llmgw dev --simulate`, providers/sim.c): dev only, refused by every production role
     * (lgw_config_check_role). */
    int64_t simulate;
    int64_t simulate_latency_pct;
    int64_t simulate_failure_pct;
    char simulate_fail[256];

    /* Derived by lgw_config_load (not in the table). keys is owned by the config. */
    struct lgw_tenant_key *keys;
    size_t nkeys;
    /* admin_keys parsed, owned by the config; an entry's tenant field holds the admin's name. */
    struct lgw_tenant_key *admin;
    size_t nadmin;
    /* compat_models parsed; ids and upstream names are owned by the config. */
    struct lgw_model_info *compat;
    size_t ncompat;
    /* Set by `llmgw dev`: accept requests without a key as tenant "dev" when no keys are configured. */
    bool allow_anonymous;
    /* Set by `llmgw dev`: the Kafka cluster is librdkafka's in-process mock (tunes fetch waits). */
    bool kafka_mock;
    /* The config file's "tenants" object (per-tenant settings that limits/ interprets), or NULL; one
     * reference owned by the config. */
    json_t *tenants;
};

/* Fills cfg with the built-in defaults. Never fails. */
void lgw_config_defaults(struct lgw_config *cfg);
/* Applies the JSON file at path (NULL: LLMGW_CONFIG, or none) and then the environment; validates.
 * On failure returns LGW_ERR(CONFIG) with every problem, one per line, in errs. */
int lgw_config_load(struct lgw_config *cfg, const char *path, struct lgw_buf *errs);
/* Frees what lgw_config_load derived. */
void lgw_config_cleanup(struct lgw_config *cfg);
/* Whether role ("ingress", "worker", "ledger", "dev"; NULL: `llmgw config check`, which checks for the
 * production roles) may run with cfg: simulated providers (cfg->simulate) are for `llmgw dev` only. Returns 0,
 * or LGW_ERR(CONFIG) with a line in errs. Any thread. */
int lgw_config_check_role(const struct lgw_config *cfg, const char *role, struct lgw_buf *errs);
/* The percentage of simulated calls to provider ("openai", ...) that fail: its entry in simulate_fail, else
 * simulate_failure_pct. simulate_fail is validated at load; a malformed one here counts as absent. Any thread. */
int lgw_config_simulate_failure_pct(const struct lgw_config *cfg, const char *provider);
/* Prints the settings table as Markdown (the source of docs/CONFIG.md). */
void lgw_config_write_docs(FILE *out);
/* Prints the settings table as environment assignments at their defaults, one `ENV=default` line per setting
 * after a `# description` line, for env files and the Helm chart's ConfigMap (scripts/helm_config.sh). A secret
 * gets no value and no assignment, only a `# secret: ENV` line, so the output can be stored and shipped. */
void lgw_config_write_env(FILE *out);
/* The one rule of tenant names, applied by lgw_config_parse_keys and `llmgw keys new`: 1 to 63 characters,
 * each an ASCII letter, digit, '.', '_' or '-' (so never the ':' and ',' that separate tenant_keys).
 * Checks name[0..len). Returns 0, or LGW_ERR(CONFIG) and, when why is not NULL, points *why at a static
 * sentence naming the rule the name breaks ("a tenant name must not be empty"). Any thread. */
int lgw_config_check_tenant(const char *name, size_t len, const char **why);
/* The id of the key whose SHA-256 is sha256: "key_" + its first 12 hex digits, into id (LGW_KEY_ID_LEN). */
void lgw_config_key_id(const unsigned char sha256[32], char id[LGW_KEY_ID_LEN]);
/* Parses "tenant:sha256hex,tenant:sha256hex" into cfg->keys. Returns 0 or LGW_ERR(CONFIG) with errs filled. */
int lgw_config_parse_keys(struct lgw_config *cfg, const char *spec, struct lgw_buf *errs);
/* Parses compat_models ("[embeddings:]id[=upstream][@in/out/cached USD per 1M tokens]", comma-separated)
 * into cfg->compat. Returns 0 or LGW_ERR(CONFIG) with errs filled. */
int lgw_config_parse_compat_models(struct lgw_config *cfg, const char *spec, struct lgw_buf *errs);
/* The response cache TTL the config gives tenant, into *ttl_s: its seconds (0: the tenant opted out), or -1
 * when it names no such tenant (then cache_ttl_s applies). The config file's "tenants" object
 * ({"acme": {"cache_ttl_s": 600}}) wins over the cache_tenant_ttl row. With tenant NULL, only checks the
 * setting. Returns 0, or LGW_ERR(CONFIG) (with a line in errs when errs is not NULL) when the setting is
 * malformed. Any thread. */
int lgw_config_cache_tenant_ttl(const struct lgw_config *cfg, const char *tenant, int64_t *ttl_s,
                                struct lgw_buf *errs);

#endif
