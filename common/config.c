/* config.c - the settings table and its parsers (JSON file, environment). */
#include "common/config.h"

#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/cost.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/redis.h"

enum opt_type { OPT_INT, OPT_STR };

struct opt {
    const char *name; /* key in the JSON file */
    const char *env;
    enum opt_type type;
    size_t off, size;
    const char *def; /* default, as text */
    int64_t min, max;
    bool secret; /* environment only */
    const char *doc;
};

#define I(field, env, def, min, max, doc)                                                                 \
    {#field, env, OPT_INT, offsetof(struct lgw_config, field), sizeof(int64_t), def, min, max, false, doc}
#define S(field, env, def, doc)                                                                           \
    {#field, env, OPT_STR, offsetof(struct lgw_config, field), sizeof(((struct lgw_config *)0)->field),   \
     def, 0, 0, false, doc}
#define SECRET(field, env, doc)                                                                           \
    {#field, env, OPT_STR, offsetof(struct lgw_config, field), sizeof(((struct lgw_config *)0)->field),   \
     "", 0, 0, true, doc}

static const struct opt opts[] = {
    S(listen_addr, "LLMGW_LISTEN_ADDR", "127.0.0.1", "Address the HTTP servers bind to."),
    I(port, "LLMGW_PORT", "8080", 1, 65535, "Ingress HTTP port (in `llmgw dev`, the only port)."),
    I(ops_port, "LLMGW_OPS_PORT", "0", 0, 65535,
      "Port on which `worker` and `ledger` serve /healthz, /readyz and /metrics (every metric, per-tenant ones "
      "included); 0 disables it."),
    I(ingress_ops_port, "LLMGW_INGRESS_OPS_PORT", "0", 0, 65535,
      "Port on which `ingress` (and `llmgw dev`) serve /healthz, /readyz and /metrics with every metric, "
      "per-tenant ones included (the public port's /metrics shows those only with the admin key); 0 disables it."),
    I(metrics_max_tenants, "LLMGW_METRICS_MAX_TENANTS", "100", 1, 10000,
      "Most distinct `tenant` label values one metric keeps; later tenants are counted under `tenant=\"other\"`."),
    I(metrics_max_models, "LLMGW_METRICS_MAX_MODELS", "50", 1, 10000,
      "Most distinct model label values (`model`, `gen_ai_request_model`, `gen_ai_response_model`) one metric "
      "keeps; later models are counted under \"other\"."),
    S(kafka_brokers, "LLMGW_KAFKA_BROKERS", "127.0.0.1:9092", "Kafka bootstrap servers (ignored by `llmgw dev`)."),
    S(ingress_id, "LLMGW_INGRESS_ID", "",
      "This ingress instance's id; its replies arrive on `<prefix>.replies.<id>`. Empty: hostname-pid."),
    S(worker_id, "LLMGW_WORKER_ID", "",
      "This worker's id, recorded in cost events and the key of its provider status. Empty: hostname-pid."),
    S(topic_prefix, "LLMGW_TOPIC_PREFIX", "llmgw", "Prefix of every Kafka topic name."),
    I(kafka_fetch_wait_ms, "LLMGW_KAFKA_FETCH_WAIT_MS", "100", 1, 10000,
      "fetch.wait.max.ms of consumers; a real broker answers as soon as data arrives."),
    I(kafka_partitions, "LLMGW_KAFKA_PARTITIONS", "4", 1, 1024,
      "Partitions of the job and cost topics when this process creates them."),
    I(kafka_cost_linger_ms, "LLMGW_KAFKA_COST_LINGER_MS", "10", 0, 1000,
      "How long a worker lets cost events (and dead letters) wait to be sent in one batch. Nobody waits on them; "
      "batching takes broker requests off the request path's broker. Replies always go at once."),
    I(kafka_replication_factor, "LLMGW_KAFKA_REPLICATION_FACTOR", "-1", -1, 32,
      "Replicas of every topic this process creates (the topic table, common/topics.c); -1: the broker's "
      "`default.replication.factor`. 3 on a three-broker cluster (docs/KAFKA.md, \"Running a cluster\")."),
    I(kafka_min_insync_replicas, "LLMGW_KAFKA_MIN_INSYNC_REPLICAS", "0", 0, 32,
      "`min.insync.replicas` of every topic this process creates: with acks=all, a write succeeds once this many "
      "replicas have it. 0: the broker's default. 2 with 3 replicas survives one broker lost without refusing "
      "writes."),
    S(kafka_security_protocol, "LLMGW_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT",
      "How clients talk to the brokers: `PLAINTEXT`, `SSL` (TLS), `SASL_PLAINTEXT` or `SASL_SSL` (SASL over "
      "TLS). Ignored by `llmgw dev` (its in-process cluster is plaintext). docs/KAFKA.md, \"Security\"."),
    S(kafka_sasl_mechanism, "LLMGW_KAFKA_SASL_MECHANISM", "",
      "SASL mechanism with the SASL_* protocols: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (required there, "
      "refused with the others)."),
    S(kafka_sasl_username, "LLMGW_KAFKA_SASL_USERNAME", "", "SASL user name (SASL_* protocols only)."),
    SECRET(kafka_sasl_password, "LLMGW_KAFKA_SASL_PASSWORD", "SASL password (SASL_* protocols only); never logged."),
    S(kafka_ssl_ca_location, "LLMGW_KAFKA_SSL_CA_LOCATION", "",
      "PEM file (or directory) of the CAs that sign the brokers' certificates (SSL and SASL_SSL); empty: the "
      "system's CA store."),
    S(kafka_ssl_certificate_location, "LLMGW_KAFKA_SSL_CERTIFICATE_LOCATION", "",
      "PEM file of this client's certificate, for brokers that require TLS client authentication (mTLS); set "
      "with `kafka_ssl_key_location`."),
    S(kafka_ssl_key_location, "LLMGW_KAFKA_SSL_KEY_LOCATION", "",
      "PEM file of the private key of `kafka_ssl_certificate_location`."),
    SECRET(kafka_ssl_key_password, "LLMGW_KAFKA_SSL_KEY_PASSWORD",
           "Password of an encrypted `kafka_ssl_key_location`; never logged."),
    S(kafka_ssl_endpoint_identification, "LLMGW_KAFKA_SSL_ENDPOINT_IDENTIFICATION", "https",
      "`https`: a broker's certificate must name the host (or IP) it was reached at; `none`: any certificate "
      "the CAs signed is accepted (not recommended)."),
    S(kafka_properties, "LLMGW_KAFKA_PROPERTIES", "",
      "Any other librdkafka property, for every Kafka client llmgw makes, after llmgw's own settings: "
      "`name=value` pairs separated by `;`, names as in librdkafka's CONFIGURATION.md "
      "(`client.rack=eu-west-1a;socket.keepalive.enable=true`). An unknown name or bad value stops the start "
      "with librdkafka's message; names llmgw sets itself (addresses, security, groups, acks, idempotence, "
      "offsets) and secrets (`*password*`, `*secret*`, ...) are refused here. docs/KAFKA.md, \"Security\"."),
    SECRET(kafka_secret_properties, "LLMGW_KAFKA_SECRET_PROPERTIES",
           "Like `kafka_properties`, for librdkafka properties that hold secrets (`ssl.keystore.password`, "
           "`sasl.oauthbearer.client.secret`, ...); applied after it; never logged."),
    I(kafka_statistics_ms, "LLMGW_KAFKA_STATISTICS_MS", "0", 0, 3600000,
      "Every this many ms, log librdkafka's latency statistics per broker connection (request round trip, "
      "producer queue, output buffer; p50/p99). 0: off."),
    I(kafka_outage_grace_ms, "LLMGW_KAFKA_OUTAGE_GRACE_MS", "5000", 0, 600000,
      "How long requests already waiting at an ingress wait for a lost message broker to come back before they "
      "are answered 503 (new requests are refused at once while it is away)."),
    I(kafka_produce_timeout_ms, "LLMGW_KAFKA_PRODUCE_TIMEOUT_MS", "10000", 100, 600000,
      "How long a produced message may wait for the broker before it fails (message.timeout.ms)."),
    S(database_url, "LLMGW_DATABASE_URL", "sqlite:llmgw-ledger.db",
      "Ledger database: `postgresql://...` or `sqlite:PATH`."),
    I(request_timeout_ms, "LLMGW_REQUEST_TIMEOUT_MS", "300000", 10, 3600000,
      "Deadline of a request from arrival to its last byte (a stream included); past it the client gets 504 "
      "(or an error event, mid-stream). Long by default: reasoning models can take minutes."),
    I(max_body_bytes, "LLMGW_MAX_BODY_BYTES", "1048576", 1024, 67108864, "Largest accepted request body (413 above)."),
    I(stream_buffer_max_bytes, "LLMGW_STREAM_BUFFER_MAX_BYTES", "1048576", 16384, 1073741824,
      "A streamed answer's bytes the ingress holds for a client that is not reading them; at the cap the client's "
      "connection is closed and the provider call cancelled (outcome cancelled)."),
    I(max_json_depth, "LLMGW_MAX_JSON_DEPTH", "64", 4, 1024, "Deepest accepted JSON nesting in a request body."),
    I(http_threads, "LLMGW_HTTP_THREADS", "2", 1, 64, "libmicrohttpd thread-pool size of the ingress."),
    I(max_connections, "LLMGW_MAX_CONNECTIONS", "4096", 16, 1000000,
      "Most concurrent client connections; a connection past it is closed as soon as it is accepted. The ingress "
      "raises its open-files soft limit (`nofile`) toward this plus 1,024 for its other files, up to the hard "
      "limit, and warns when the hard limit is lower."),
    I(max_connections_per_ip, "LLMGW_MAX_CONNECTIONS_PER_IP", "0", 0, 1000000,
      "Most concurrent connections from one client address; one past it is closed as soon as it is accepted. 0: no "
      "cap per address, the default, because behind a load balancer or proxy every client shares its address; set "
      "it where clients reach the ingress directly, so one address cannot take every slot of max_connections."),
    I(http_idle_timeout_s, "LLMGW_HTTP_IDLE_TIMEOUT_S", "60", 1, 86400,
      "A client connection with nothing received or sent for this long is closed (a kept-alive connection between "
      "requests, or a client that stopped sending mid-request). A request waiting for its answer is not idle."),
    I(http_header_timeout_ms, "LLMGW_HTTP_HEADER_TIMEOUT_MS", "20000", 100, 3600000,
      "A request head (request line and header fields) must arrive within this from the connection's opening "
      "(for a later request on a kept-alive connection: within http_idle_timeout_s plus this from the previous "
      "answer), however slowly its bytes trickle in; past it the client gets a 408 and the connection is closed "
      "(slowloris). Counted in `llmgw_http_read_timeouts_total{phase=\"head\"}`."),
    I(http_body_timeout_ms, "LLMGW_HTTP_BODY_TIMEOUT_MS", "30000", 100, 3600000,
      "A request body must arrive within this from the end of its head, plus one second for every "
      "http_body_min_rate bytes received; past it the client gets a 408 and the connection is closed (slow "
      "POST). Counted in `llmgw_http_read_timeouts_total{phase=\"body\"}`."),
    I(http_body_min_rate, "LLMGW_HTTP_BODY_MIN_RATE", "8192", 1, 1073741824,
      "Bytes per second a request body earns beyond http_body_timeout_ms: a body sent at least this fast is never "
      "cut off (a 100 MiB batch file upload at 8 KiB/s is given about 3.6 hours), one sent slower is."),
    I(max_header_bytes, "LLMGW_MAX_HEADER_BYTES", "8192", 1024, 262144,
      "Largest request head (request line and header fields) the ingress serves; above it the answer is a JSON "
      "431 (`request_headers_too_large`), sent once the body is read, and counted in "
      "`llmgw_http_headers_too_large_total`."),
    I(http_connection_memory, "LLMGW_HTTP_CONNECTION_MEMORY", "12288", 5120, 1048576,
      "libmicrohttpd's memory pool per open connection: the request head, its header records and the read buffer "
      "(bodies stream through it into our own buffer, so large bodies need no more). At least max_header_bytes + "
      "4 KiB, so a head up to the cap reaches the gateway with room for its answer; a head larger than this pool "
      "(less about 400 bytes) never does, and libmicrohttpd answers it itself (an HTML 431, or a closed "
      "connection). It sets the ingress's memory per open connection: 1,000 in-flight requests peaked at 80 MB "
      "with 64 KiB, 34 MB with 16 KiB, 26 MB with 8 KiB."),
    I(worker_concurrency, "LLMGW_WORKER_CONCURRENCY", "1024", 1, 1000000,
      "Jobs one worker process holds at once (queued, planning, or calling a provider). At the limit the worker "
      "pauses its Kafka partitions, without a rebalance, and resumes below it. Provider calls wait on an event "
      "loop, not a thread each: 1,000 in flight cost a few MB (docs/PERFORMANCE.md)."),
    I(worker_batch_share_pct, "LLMGW_WORKER_BATCH_SHARE_PCT", "50", 1, 100,
      "Percent of worker_concurrency that batch lines (<prefix>.batch.jobs.*) may hold at once, at least one slot. "
      "At the share the worker pauses its batch partitions only; interactive jobs always have the rest, so a batch "
      "of any size costs interactive traffic at most this share of slots plus CPU and provider contention "
      "(docs/BATCH.md, \"In the workers\"). The batch slots are shared equally between the batch partitions that "
      "have work. An integer percent, as every knob of the table is an integer."),
    I(worker_plan_threads, "LLMGW_WORKER_PLAN_THREADS", "2", 1, 256,
      "Threads of one worker that plan jobs (routing) before their provider calls go to the event loops."),
    I(worker_http_loops, "LLMGW_WORKER_HTTP_LOOPS", "1", 1, 64,
      "Event loops (threads) of one worker that run provider HTTP calls (libcurl multi); each holds thousands."),
    I(worker_stream_max_chunks, "LLMGW_WORKER_STREAM_MAX_CHUNKS", "256", 1, 1000000,
      "Chunks of one streamed answer produced to Kafka but not yet acknowledged. At the limit the worker stops "
      "reading that stream from the provider until Kafka catches up, so a stream's memory stays bounded."),
    I(provider_max_host_connections, "LLMGW_PROVIDER_MAX_HOST_CONNECTIONS", "10000", 1, 1000000,
      "Open connections from one event loop to one provider host; calls past it wait for a connection, so one "
      "slow provider cannot take every connection."),
    I(provider_max_connections, "LLMGW_PROVIDER_MAX_CONNECTIONS", "20000", 1, 1000000,
      "Open provider connections of one event loop in all (each streamed call holds one)."),
    I(ledger_batch_max, "LLMGW_LEDGER_BATCH_MAX", "500", 1, 100000, "Most cost events per ledger transaction."),
    I(ledger_batch_ms, "LLMGW_LEDGER_BATCH_MS", "50", 1, 60000, "Longest wait to fill a ledger batch."),
    I(batch_max_line_bytes, "LLMGW_BATCH_MAX_LINE_BYTES", "1048576", 1024, 67108864,
      "Longest line of a batch input file (one request), in bytes; a longer line is refused with its line number."),
    I(batch_max_lines, "LLMGW_BATCH_MAX_LINES", "50000", 1, 10000000,
      "Most requests in one batch (OpenAI's limit is 50,000)."),
    I(batch_max_input_bytes, "LLMGW_BATCH_MAX_INPUT_BYTES", "209715200", 1024, 4294967296LL,
      "Largest batch input file, in bytes (OpenAI's limit is 200 MB); the submitter holds it in memory."),
    I(batch_max_result_bytes, "LLMGW_BATCH_MAX_RESULT_BYTES", "1048576", 1024, 67108864,
      "Largest response body the batch role keeps for one line; a larger one is replaced by an error "
      "(result_too_large) in the batch's output."),
    I(batch_retention_days, "LLMGW_BATCH_RETENTION_DAYS", "30", 1, 3650,
      "Days the batch role keeps a finished batch and its results; older ones are deleted. Files uploaded to "
      "/v1/files are kept as long: a file's `expires_at` is its upload time plus this, then it is deleted."),
    I(batch_expiry_grace_s, "LLMGW_BATCH_EXPIRY_GRACE_S", "300", 0, 86400,
      "Seconds past a batch's expires_at the batch role waits for the workers' batch_expired answers before it "
      "marks the lines still without a result expired itself and the batch `expired`."),
    I(batch_cancel_grace_s, "LLMGW_BATCH_CANCEL_GRACE_S", "600", 0, 86400,
      "Seconds after a cancel the batch role waits for the workers to answer the lines still queued "
      "(batch_cancelled) before it marks the rest cancelled itself and the batch `cancelled`."),
    I(analytics_db_pool, "LLMGW_ANALYTICS_DB_POOL", "2", 1, 64,
      "Threads (each with its own database connection) that serve /v1/analytics/* in each ingress, off the HTTP "
      "threads; `database_url` is the ledger database they read."),
    I(analytics_timeout_ms, "LLMGW_ANALYTICS_TIMEOUT_MS", "5000", 100, 600000,
      "Longest one analytics statement may run (PostgreSQL statement_timeout, SQLite progress-handler deadline); "
      "past it the answer is 504. A call's deadline is twice this plus a second (queue wait and statement)."),
    I(analytics_queue_max, "LLMGW_ANALYTICS_QUEUE_MAX", "64", 1, 100000,
      "Analytics calls that may wait for a pool thread; beyond it the answer is 503 at once."),
    I(batch_file_max_bytes, "LLMGW_BATCH_FILE_MAX_BYTES", "104857600", 1024, 1073741824,
      "Largest file POST /v1/files takes (default 100 MiB; OpenAI allows 200 MB for batch input). The ingress "
      "buffers an upload whole in memory before storing it, so concurrent uploads can hold this much each; a "
      "declared Content-Length above it (plus 64 KiB for the multipart framing) is answered 413 before a byte is "
      "read."),
    I(batch_api_pool, "LLMGW_BATCH_API_POOL", "2", 1, 64,
      "Threads (each with its own database connection) that serve /v1/files and /v1/batches in each ingress, "
      "off the HTTP threads; up to 64 calls wait for one, beyond that the answer is 503."),
    I(shutdown_grace_ms, "LLMGW_SHUTDOWN_GRACE_MS", "10000", 0, 600000,
      "On SIGTERM, how long in-flight work may take to finish before it is cut off."),
    S(log_level, "LLMGW_LOG_LEVEL", "info", "debug, info, warn or error."),
    S(tenant_keys, "LLMGW_TENANT_KEYS", "",
      "Tenant API keys as `tenant:sha256hex` pairs, comma-separated (make one with `llmgw keys new`). A tenant "
      "name has 1 to 63 characters, each an ASCII letter, digit, `.`, `_` or `-`. A key's id is `key_` + the "
      "first 12 hex digits of its hash; its name, expiry and model allow-list go in the config file: "
      "`\"tenants\": {\"acme\": {\"allow_models\": [\"gpt-4o-mini\"], \"keys\": {\"key_ba7816bf8f01\": {\"name\": "
      "\"ci\", \"expires\": \"2027-01-01T00:00:00Z\", \"allow_models\": [\"auto\"]}}}}`. Keys made through the admin "
      "API need no entry here, and what the API sets wins over this setting and the file for the same key or "
      "tenant (docs/ADMIN.md)."),
    S(admin_keys, "LLMGW_ADMIN_KEYS", "",
      "Admin API keys as `name:sha256hex` pairs, comma-separated (`llmgw keys new --admin NAME`). An admin key "
      "reads every tenant's analytics and administers tenants and keys; it cannot make model requests. The name "
      "(same rule as a tenant's) is who the audit log says made a change."),
    S(openai_base_url, "LLMGW_OPENAI_BASE_URL", "https://api.openai.com/v1",
      "OpenAI API base URL. HTTPS only, except loopback addresses (local test servers)."),
    SECRET(openai_api_key, "LLMGW_OPENAI_API_KEY", "OpenAI API key; the OpenAI models are served only when it is set."),
    I(provider_connect_timeout_ms, "LLMGW_PROVIDER_CONNECT_TIMEOUT_MS", "5000", 100, 600000,
      "Connect timeout of one provider call attempt."),
    I(provider_timeout_ms, "LLMGW_PROVIDER_TIMEOUT_MS", "120000", 100, 3600000,
      "Whole-attempt timeout of one provider call (also bounded by the request deadline)."),
    I(provider_max_retries, "LLMGW_PROVIDER_MAX_RETRIES", "2", 0, 10,
      "Retries of a provider call on 429, 5xx and timeouts (exponential backoff with full jitter, Retry-After "
      "honoured, within the request deadline); never after part of a stream reached the client."),
    I(provider_max_response_bytes, "LLMGW_PROVIDER_MAX_RESPONSE_BYTES", "16777216", 65536, 1073741824,
      "Largest provider response body accepted (502 above)."),
    S(anthropic_base_url, "LLMGW_ANTHROPIC_BASE_URL", "https://api.anthropic.com/v1",
      "Anthropic API base URL. HTTPS only, except loopback addresses (local test servers)."),
    SECRET(anthropic_api_key, "LLMGW_ANTHROPIC_API_KEY",
           "Anthropic API key; the Claude models are served only when it is set."),
    S(gemini_base_url, "LLMGW_GEMINI_BASE_URL", "https://generativelanguage.googleapis.com/v1beta",
      "Gemini API base URL. HTTPS only, except loopback addresses (local test servers)."),
    SECRET(gemini_api_key, "LLMGW_GEMINI_API_KEY", "Gemini API key; the Gemini models are served only when it is set."),
    S(compat_base_url, "LLMGW_COMPAT_BASE_URL", "",
      "Base URL of an OpenAI-compatible server (Mistral, Groq, Together, DeepSeek, vLLM, Ollama, Azure OpenAI); "
      "`{model}` in it is replaced by the upstream model name (Azure deployment URLs). Empty: not used."),
    SECRET(compat_api_key, "LLMGW_COMPAT_API_KEY", "API key of the OpenAI-compatible server (may be empty, e.g. Ollama)."),
    S(compat_auth, "LLMGW_COMPAT_AUTH", "bearer",
      "How the compatible server takes its key: `bearer` (Authorization: Bearer), `api-key` (Azure's api-key "
      "header) or `none`."),
    S(compat_api_version, "LLMGW_COMPAT_API_VERSION", "",
      "Sent as `?api-version=` when set (Azure OpenAI, e.g. 2024-10-21)."),
    S(mistral_base_url, "LLMGW_MISTRAL_BASE_URL", "https://api.mistral.ai/v1",
      "Mistral API base URL. HTTPS only, except loopback addresses (local test servers)."),
    SECRET(mistral_api_key, "LLMGW_MISTRAL_API_KEY",
           "Mistral API key; the Mistral models are served only when it is set."),
    S(catalog_file, "LLMGW_CATALOG", "",
      "Model catalog file replacing the built-in one (`catalog/models.json`, compiled in). Empty: built-in."),
    S(catalog_overrides, "LLMGW_CATALOG_OVERRIDES", "",
      "Operator's catalog file merged over the catalog: models matched by provider and id are merged field by "
      "field (`\"disabled\": true` removes one), new ones added; groups and fallbacks replace by name. Re-read "
      "on SIGHUP; a file that fails validation stops start-up, and on reload keeps the last good catalog."),
    S(route_strategy, "LLMGW_ROUTE_STRATEGY", "cost",
      "Default routing strategy: `cost`, `latency`, `capability` or `round-robin` (a request may choose its own "
      "with the `x-llmgw-strategy` header or `\"llmgw\": {\"strategy\": ...}` in the body)."),
    I(route_max_attempts, "LLMGW_ROUTE_MAX_ATTEMPTS", "3", 1, 16,
      "Most candidates (provider/model) one request tries, the first included; each also bounded by the deadline."),
    I(breaker_failures, "LLMGW_BREAKER_FAILURES", "5", 1, 1000,
      "Consecutive failures of one provider/model that open its circuit breaker."),
    I(breaker_error_pct, "LLMGW_BREAKER_ERROR_PCT", "50", 1, 100,
      "Error percentage over the breaker window that opens the breaker (with enough requests in the window)."),
    I(breaker_window_ms, "LLMGW_BREAKER_WINDOW_MS", "30000", 100, 3600000, "Window of the breaker's error ratio."),
    I(breaker_min_requests, "LLMGW_BREAKER_MIN_REQUESTS", "20", 1, 100000,
      "Requests the window must hold before its error ratio can open the breaker."),
    I(breaker_cooldown_ms, "LLMGW_BREAKER_COOLDOWN_MS", "30000", 10, 3600000,
      "How long an open breaker skips its provider/model before one probe request is let through."),
    I(latency_decay_ms, "LLMGW_LATENCY_DECAY_MS", "10000", 10, 3600000,
      "Time constant of the latency strategy's peak-sensitive moving average."),
    /* Bounds: LGW_PSTATUS_INTERVAL_MIN_MS and _MAX_MS (common/provider_status.h), which readers enforce. */
    I(provider_status_interval_ms, "LLMGW_PROVIDER_STATUS_INTERVAL_MS", "5000", 200, 3600000,
      "How often each worker publishes its providers' status (breakers, latency, in-flight and call counts per "
      "model) to `<prefix>.providers`, which the ingress serves as `GET /v1/providers`. A breaker that changes "
      "state is published within about 200 ms whatever this says. Readers drop a worker's status three intervals "
      "after it was taken (a killed worker); a worker that stops cleanly removes its own at once."),
    S(redis_url, "LLMGW_REDIS_URL", "",
      "Redis shared by every instance (rate limits, cache): `redis://[user:password@]host[:port][/db]`; a "
      "password alone or an ACL user and password (`%`-escape `@`, `:` and `/` in them). Never logged; keep "
      "a password in the environment rather than the file. No TLS (`rediss://`): Debian 12's hiredis 0.14 has "
      "none, so reach a remote Redis over a private network or a TLS tunnel. Empty: no Redis, every limiter "
      "and cache in memory."),
    I(redis_timeout_ms, "LLMGW_REDIS_TIMEOUT_MS", "5", 1, 10000,
      "Budget of one Redis command on the request path. A command slower than it counts as Redis down: the "
      "connection is dropped, callers fall back (in-memory limiter) and a background thread reconnects."),
    I(redis_connect_timeout_ms, "LLMGW_REDIS_CONNECT_TIMEOUT_MS", "1000", 10, 60000,
      "Budget of one Redis connect with its AUTH and SELECT; only the background reconnect thread waits on it."),
    I(limit_tenant_rpm, "LLMGW_LIMIT_TENANT_RPM", "0", 0, 100000000,
      "Default requests per window of each tenant (0: no limit). Per tenant in the config file: "
      "`\"tenants\": {\"acme\": {\"rpm\": 600, \"tpm\": 200000, \"inflight\": 50, \"user\": {\"rpm\": 60}, "
      "\"models\": {\"gpt-4o\": {\"tpm\": 50000}}}}` (README, \"Rate limits\")."),
    I(limit_tenant_tpm, "LLMGW_LIMIT_TENANT_TPM", "0", 0, 100000000000,
      "Default tokens per window of each tenant (0: no limit): the estimate is reserved at admission and "
      "corrected with the provider's reported usage when the answer arrives."),
    I(limit_user_rpm, "LLMGW_LIMIT_USER_RPM", "0", 0, 100000000,
      "Default requests per window of each user of a tenant (`user`, `safety_identifier` or `x-llmgw-user`); 0: none."),
    I(limit_user_tpm, "LLMGW_LIMIT_USER_TPM", "0", 0, 100000000000, "Default tokens per window of each user; 0: none."),
    I(limit_tenant_inflight, "LLMGW_LIMIT_TENANT_INFLIGHT", "0", 0, 100000000,
      "Default requests of each tenant being served at once, across every instance (0: no limit)."),
    I(limit_window_ms, "LLMGW_LIMIT_WINDOW_MS", "60000", 100, 86400000,
      "Length of the sliding window of the rpm and tpm limits (a minute; tests shorten it)."),
    S(limit_redis_down, "LLMGW_LIMIT_REDIS_DOWN", "local",
      "What limits do while Redis is down or slower than `redis_timeout_ms`: `local` (each instance enforces "
      "every limit alone in memory, so N instances admit up to N times a limit), `open` (no limits) or "
      "`closed` (refuse with 503)."),
    I(budget_warn_pct, "LLMGW_BUDGET_WARN_PCT", "80", 1, 100,
      "Percent of a USD budget (per tenant or key, per UTC day or month) above which answers carry "
      "`x-llmgw-budget-warning` and `llmgw_budget_warnings_total` counts them. Budgets are set in the config "
      "file: `\"tenants\": {\"acme\": {\"budget\": {\"day_usd\": \"5.00\", \"month_usd\": \"100\"}, \"keys\": "
      "{\"key_ba7816bf8f01\": {\"budget\": {\"day_usd\": \"1\"}}}}}` (README, \"Budgets\")."),
    S(compat_models, "LLMGW_COMPAT_MODELS", "",
      "Models the compatible server serves, comma-separated: `[embeddings:]name[=upstream][@in/out/cached]` with "
      "prices in USD per 1M tokens (no price: served with cost marked unknown). Served as `name` and `compat/name`."),
    I(cache_ttl_s, "LLMGW_CACHE_TTL_S", "0", 0, 2592000,
      "Response cache: how long an answer is kept, in seconds; 0 (the default) leaves the cache off, except for "
      "requests that ask with `x-llmgw-cache-ttl` and tenants given a TTL in `cache_tenant_ttl`."),
    S(cache_tenant_ttl, "LLMGW_CACHE_TENANT_TTL", "",
      "Response cache TTL per tenant, overriding `cache_ttl_s`: `tenant:seconds` pairs, comma-separated; "
      "`tenant:0` opts the tenant out (its requests' own `x-llmgw-cache-ttl` included). In the config file, "
      "`\"tenants\": {\"acme\": {\"cache_ttl_s\": 600}}` says the same next to the tenant's other settings, and "
      "wins over this row for that tenant."),
    I(cache_max_ttl_s, "LLMGW_CACHE_MAX_TTL_S", "86400", 1, 2592000,
      "Longest TTL a request may ask for with `x-llmgw-cache-ttl` (a longer one is cut to this)."),
    I(cache_max_entry_bytes, "LLMGW_CACHE_MAX_ENTRY_BYTES", "1048576", 1024, 67108864,
      "Largest answer the response cache stores (a stream's chunks together); larger ones are not cached."),
    I(cache_memory_bytes, "LLMGW_CACHE_MEMORY_BYTES", "67108864", 65536, 68719476736,
      "Bound of the in-memory response cache of one worker (the `llmgw dev` backend), entries and bookkeeping "
      "counted; the least recently used entries go first."),
    I(simulate, "LLMGW_SIMULATE", "0", 0, 1,
      "Dev only (`llmgw dev --simulate` sets it): OpenAI, Anthropic, Gemini and Mistral models without a key are "
      "served by in-process simulated providers (`openai-sim`, ...) at the catalog's prices, with made-up latency "
      "and occasional failures, labelled as simulated in headers, replies, the ledger and analytics (README, "
      "\"Simulation\"). A provider with a key is always the real one. Every production role (`ingress`, `worker`, "
      "`ledger`) and `llmgw config check` refuse it."),
    I(simulate_latency_pct, "LLMGW_SIMULATE_LATENCY_PCT", "100", 0, 1000,
      "Simulated providers' latency as a percentage of their profiles (README, \"Simulation\"); 0: answer at once."),
    I(simulate_failure_pct, "LLMGW_SIMULATE_FAILURE_PCT", "5", 0, 100,
      "Percentage of simulated calls that fail as the provider's overloaded error (503, retriable: breakers and "
      "fallbacks engage)."),
    S(simulate_fail, "LLMGW_SIMULATE_FAIL", "",
      "Failure percentage per simulated provider, over `simulate_failure_pct`: `provider:pct` pairs, comma-"
      "separated, providers among openai, anthropic, gemini and mistral (`openai:100,anthropic:0`)."),
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static int set_value(struct lgw_config *cfg, const struct opt *o, const char *val, const char *from,
                     struct lgw_buf *errs)
{
    char *field = (char *)cfg + o->off;
    if (o->type == OPT_STR) {
        if (strlen(val) >= o->size) {
            lgw_buf_printf(errs, "%s (%s): longer than %zu bytes\n", o->name, from, o->size - 1);
            return LGW_ERR(CONFIG);
        }
        lgw_strlcpy(field, val, o->size);
        return LGW_OK;
    }
    long long v;
    if (lgw_parse_int64(val, strlen(val), &v) || v < o->min || v > o->max) {
        lgw_buf_printf(errs, "%s (%s): expected an integer from %lld to %lld\n", o->name, from,
                       (long long)o->min, (long long)o->max);
        return LGW_ERR(CONFIG);
    }
    *(int64_t *)(void *)field = v;
    return LGW_OK;
}

void lgw_config_defaults(struct lgw_config *cfg)
{
    struct lgw_buf ignore;
    lgw_buf_init(&ignore, 0);
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NOPTS; i++)
        set_value(cfg, &opts[i], opts[i].def, "default", &ignore);
    lgw_buf_cleanup(&ignore);
}

_Static_assert(LGW_TENANT_MAX == 64, "the length rule's message below says 63");

int lgw_config_check_tenant(const char *name, size_t len, const char **why)
{
    const char *rule = NULL;
    if (len == 0)
        rule = "a tenant name must not be empty";
    for (size_t i = 0; i < len && !rule; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.'))
            rule = "a tenant name may contain only ASCII letters, digits, '.', '_' and '-'";
    }
    /* After the character rule, so that the length counts characters: the name is ASCII by now. */
    if (!rule && len >= LGW_TENANT_MAX)
        rule = "a tenant name is at most 63 characters long";
    if (why)
        *why = rule;
    return rule ? LGW_ERR(CONFIG) : LGW_OK;
}

/* One "name:sha256hex" entry of setting, p[0..len), the n-th of the list, into k. Returns 0 or LGW_ERR(CONFIG)
 * with the reason in errs. */
static int parse_key_entry(const char *setting, const char *p, size_t len, size_t n, struct lgw_tenant_key *k,
                           struct lgw_buf *errs)
{
    /* The last colon: the digest has none, so a tenant name with one ("bad:tenant") gets the name rule's
     * message rather than a malformed-entry one. */
    const char *colon = memrchr(p, ':', len);
    if (!colon || len - (size_t)(colon - p) - 1 != 64) {
        lgw_buf_printf(errs, "%s: entry %zu is not `%s:<64 hex sha256>`\n", setting, n,
                       strcmp(setting, "tenant_keys") ? "name" : "tenant");
        return LGW_ERR(CONFIG);
    }
    size_t tlen = (size_t)(colon - p);
    const char *why;
    if (lgw_config_check_tenant(p, tlen, &why)) {
        lgw_buf_printf(errs, "%s: entry %zu: %s\n", setting, n, why);
        return LGW_ERR(CONFIG);
    }
    memset(k, 0, sizeof(*k));
    memcpy(k->tenant, p, tlen); /* fits: lgw_config_check_tenant refuses tlen >= LGW_TENANT_MAX */
    for (size_t i = 0; i < 32; i++) {
        int hi = lgw_hex_digit(colon[1 + 2 * i]), lo = lgw_hex_digit(colon[2 + 2 * i]);
        if (hi < 0 || lo < 0) {
            lgw_buf_printf(errs, "%s: entry %zu: the sha256 is not 64 hex digits\n", setting, n);
            return LGW_ERR(CONFIG);
        }
        k->sha256[i] = (unsigned char)((hi << 4) | lo);
    }
    lgw_config_key_id(k->sha256, k->id);
    return LGW_OK;
}

void lgw_config_key_id(const unsigned char sha256[32], char id[LGW_KEY_ID_LEN])
{
    static const char digits[] = "0123456789abcdef";
    memcpy(id, "key_", 4);
    for (int i = 0; i < 6; i++) {
        id[4 + 2 * i] = digits[sha256[i] >> 4];
        id[5 + 2 * i] = digits[sha256[i] & 15];
    }
    id[16] = '\0';
}

/* Parses setting's "name:sha256hex,..." spec into a new array *out (*n entries; freed first). */
static int parse_key_list(const char *setting, const char *spec, struct lgw_tenant_key **out, size_t *nout,
                          struct lgw_buf *errs)
{
    int rc = LGW_OK;
    free(*out);
    *out = NULL;
    *nout = 0;
    size_t n = 0; /* entries seen, empty ones ("a:h," and ",,") not counted */
    const char *p = spec;
    while (*p) {
        size_t len = strcspn(p, ",");
        struct lgw_tenant_key k;
        if (len == 0) {
            /* tolerated */
        } else if (parse_key_entry(setting, p, len, ++n, &k, errs)) {
            rc = LGW_ERR(CONFIG);
        } else if (*nout >= LGW_MAX_TENANT_KEYS) {
            lgw_buf_printf(errs, "%s: more than %d keys\n", setting, LGW_MAX_TENANT_KEYS);
            rc = LGW_ERR(CONFIG);
            break;
        } else {
            *out = lgw_realloc(*out, (*nout + 1) * sizeof(**out));
            (*out)[(*nout)++] = k;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return rc;
}

int lgw_config_parse_keys(struct lgw_config *cfg, const char *spec, struct lgw_buf *errs)
{
    return parse_key_list("tenant_keys", spec, &cfg->keys, &cfg->nkeys, errs);
}

static int load_file(struct lgw_config *cfg, const char *path, struct lgw_buf *errs)
{
    /* Opened here rather than by json_load_file, so that a file that cannot be read is reported with the
     * system's reason ("cannot read x.json: No such file or directory"), not as a JSON error on line -1. */
    FILE *f = fopen(path, "r");
    if (!f) {
        lgw_buf_printf(errs, "cannot read %s: %s\n", path, strerror(errno));
        return LGW_ERR(CONFIG);
    }
    json_error_t jerr;
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    int read_errno = ferror(f) ? errno : 0; /* a directory opens, then fails to read with EISDIR */
    fclose(f);
    if (!root) {
        if (read_errno)
            lgw_buf_printf(errs, "cannot read %s: %s\n", path, strerror(read_errno));
        else
            lgw_buf_printf(errs, "%s:%d: %s\n", path, jerr.line, jerr.text);
        return LGW_ERR(CONFIG);
    }
    int rc = LGW_OK;
    if (!json_is_object(root)) {
        lgw_buf_printf(errs, "%s: top level must be an object\n", path);
        rc = LGW_ERR(CONFIG);
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        const struct opt *o = NULL;
        for (size_t i = 0; i < NOPTS; i++)
            if (strcmp(opts[i].name, key) == 0)
                o = &opts[i];
        if (!o && strcmp(key, "tenants") != 0) {
            lgw_buf_printf(errs, "%s: unknown setting \"%s\"\n", path, key);
            rc = LGW_ERR(CONFIG);
            continue;
        }
        if (!o && strcmp(key, "tenants") == 0) {
            /* Per-tenant settings: an object of objects, interpreted by the layers that own them (limits/). */
            if (!json_is_object(val)) {
                lgw_buf_printf(errs, "%s: \"tenants\" must be an object\n", path);
                rc = LGW_ERR(CONFIG);
            } else {
                json_decref(cfg->tenants);
                cfg->tenants = json_incref(val);
            }
            continue;
        }
        if (o->secret) {
            lgw_buf_printf(errs, "%s: \"%s\" is a secret; set it with %s only\n", path, key, o->env);
            rc = LGW_ERR(CONFIG);
            continue;
        }
        char num[32];
        const char *text = NULL;
        if (json_is_string(val))
            text = json_string_value(val);
        else if (json_is_integer(val) && o->type == OPT_INT) {
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(val));
            text = num;
        }
        if (!text) {
            lgw_buf_printf(errs, "%s: \"%s\" has the wrong type\n", path, key);
            rc = LGW_ERR(CONFIG);
            continue;
        }
        if (set_value(cfg, o, text, path, errs))
            rc = LGW_ERR(CONFIG);
    }
out:
    json_decref(root);
    return rc;
}

/* The providers simulate_fail may name: those providers/sim.c stands in for. */
static const char *const simulated_providers[] = {"openai", "anthropic", "gemini", "mistral"};

/* Walks simulate_fail's "provider:pct" entries. With provider NULL, only checks them (a line in errs, when not
 * NULL, for the first bad one). Returns the pct of provider's entry, -1 when it has none, or -2 when the setting
 * is malformed. */
static int simulate_fail_entry(const char *spec, const char *provider, struct lgw_buf *errs)
{
    size_t n = 0;
    for (const char *p = spec; *p;) {
        size_t len = strcspn(p, ",");
        const char *colon = memchr(p, ':', len);
        size_t nlen = colon ? (size_t)(colon - p) : 0;
        bool known = false;
        for (size_t i = 0; colon && i < sizeof(simulated_providers) / sizeof(simulated_providers[0]); i++)
            known = known || (strlen(simulated_providers[i]) == nlen && memcmp(simulated_providers[i], p, nlen) == 0);
        long long pct;
        n++;
        if (!known || lgw_parse_int64(colon + 1, len - nlen - 1, &pct) || pct < 0 || pct > 100) {
            if (errs)
                lgw_buf_printf(errs, "simulate_fail: entry %zu is not `provider:pct` (openai, anthropic, gemini or "
                                     "mistral; 0 to 100)\n", n);
            return -2;
        }
        if (provider && strlen(provider) == nlen && memcmp(provider, p, nlen) == 0)
            return (int)pct;
        p += len + (p[len] == ',');
    }
    return -1;
}

int lgw_config_simulate_failure_pct(const struct lgw_config *cfg, const char *provider)
{
    int pct = simulate_fail_entry(cfg->simulate_fail, provider, NULL);
    return pct >= 0 ? pct : (int)cfg->simulate_failure_pct;
}

int lgw_config_check_role(const struct lgw_config *cfg, const char *role, struct lgw_buf *errs)
{
    if (!cfg->simulate || (role && strcmp(role, "dev") == 0))
        return LGW_OK;
    /* Simulated answers carry made-up text and real prices: never where real clients could get them. */
    lgw_buf_printf(errs, "simulate: simulated providers are for `llmgw dev --simulate` only; %s%s%s refuses them "
                         "(unset LLMGW_SIMULATE, `simulate` in the config file, or --simulate)\n",
                   role ? "the " : "", role ? role : "every production role", role ? " role" : "");
    return LGW_ERR(CONFIG);
}

/* Provider calls leave the machine only over TLS; plain HTTP is for local servers (tests, Ollama, vLLM). */
static bool outbound_url_ok(const char *url)
{
    return strncmp(url, "https://", 8) == 0 || strncmp(url, "http://127.", 11) == 0 ||
           strncmp(url, "http://localhost", 16) == 0 || strncmp(url, "http://[::1]", 12) == 0;
}

int lgw_config_load(struct lgw_config *cfg, const char *path, struct lgw_buf *errs)
{
    int rc = LGW_OK;
    if (!path)
        path = getenv("LLMGW_CONFIG");
    if (path && *path && load_file(cfg, path, errs))
        rc = LGW_ERR(CONFIG);
    for (size_t i = 0; i < NOPTS; i++) {
        const char *v = getenv(opts[i].env);
        if (v && set_value(cfg, &opts[i], v, opts[i].env, errs))
            rc = LGW_ERR(CONFIG);
    }
    int level;
    if (lgw_log_level_parse(cfg->log_level, &level)) {
        lgw_buf_printf(errs, "log_level: \"%s\" is not debug, info, warn or error\n", cfg->log_level);
        rc = LGW_ERR(CONFIG);
    } else {
        lgw_log_set_level(level);
    }
    if (lgw_config_parse_keys(cfg, cfg->tenant_keys, errs))
        rc = LGW_ERR(CONFIG);
    if (parse_key_list("admin_keys", cfg->admin_keys, &cfg->admin, &cfg->nadmin, errs))
        rc = LGW_ERR(CONFIG);
    struct lgw_redis_url rurl;
    if (cfg->redis_url[0] && lgw_redis_parse_url(cfg->redis_url, &rurl, errs))
        rc = LGW_ERR(CONFIG);
    explicit_bzero(&rurl, sizeof(rurl));
    if (strncmp(cfg->database_url, "postgresql://", 13) != 0 && strncmp(cfg->database_url, "postgres://", 11) != 0 &&
        strncmp(cfg->database_url, "sqlite:", 7) != 0) {
        lgw_buf_puts(errs, "database_url: must start with postgresql:// or sqlite:\n");
        rc = LGW_ERR(CONFIG);
    }
    if (lgw_config_parse_compat_models(cfg, cfg->compat_models, errs))
        rc = LGW_ERR(CONFIG);
    if (strcmp(cfg->limit_redis_down, "local") && strcmp(cfg->limit_redis_down, "open") &&
        strcmp(cfg->limit_redis_down, "closed")) {
        lgw_buf_printf(errs, "limit_redis_down: \"%s\" is not local, open or closed\n", cfg->limit_redis_down);
        rc = LGW_ERR(CONFIG);
    }
    if (strcmp(cfg->compat_auth, "bearer") && strcmp(cfg->compat_auth, "api-key") && strcmp(cfg->compat_auth, "none")) {
        lgw_buf_puts(errs, "compat_auth: must be bearer, api-key or none\n");
        rc = LGW_ERR(CONFIG);
    }
    if (!outbound_url_ok(cfg->openai_base_url)) {
        lgw_buf_puts(errs, "openai_base_url: must be https://, or http:// to a loopback address\n");
        rc = LGW_ERR(CONFIG);
    }
    if (!outbound_url_ok(cfg->anthropic_base_url)) {
        lgw_buf_puts(errs, "anthropic_base_url: must be https://, or http:// to a loopback address\n");
        rc = LGW_ERR(CONFIG);
    }
    if (!outbound_url_ok(cfg->gemini_base_url)) {
        lgw_buf_puts(errs, "gemini_base_url: must be https://, or http:// to a loopback address\n");
        rc = LGW_ERR(CONFIG);
    }
    if (!outbound_url_ok(cfg->mistral_base_url)) {
        lgw_buf_puts(errs, "mistral_base_url: must be https://, or http:// to a loopback address\n");
        rc = LGW_ERR(CONFIG);
    }
    if (strcmp(cfg->route_strategy, "cost") && strcmp(cfg->route_strategy, "latency") &&
        strcmp(cfg->route_strategy, "capability") && strcmp(cfg->route_strategy, "round-robin")) {
        lgw_buf_puts(errs, "route_strategy: must be cost, latency, capability or round-robin\n");
        rc = LGW_ERR(CONFIG);
    }
    if (cfg->compat_base_url[0] && !outbound_url_ok(cfg->compat_base_url)) {
        lgw_buf_puts(errs, "compat_base_url: must be https://, or http:// to a loopback address\n");
        rc = LGW_ERR(CONFIG);
    }
    if (cfg->http_connection_memory < cfg->max_header_bytes + 4096) {
        /* Measured with libmicrohttpd 0.9.75: a head reaches the access handler up to the pool size less about
         * 350 bytes (its header records); the answer's own headers need room in the same pool. */
        lgw_buf_printf(errs, "http_connection_memory: must be at least max_header_bytes + 4096 (%lld)\n",
                       (long long)(cfg->max_header_bytes + 4096));
        rc = LGW_ERR(CONFIG);
    }
    int64_t ttl;
    if (lgw_config_cache_tenant_ttl(cfg, NULL, &ttl, errs))
        rc = LGW_ERR(CONFIG);
    if (simulate_fail_entry(cfg->simulate_fail, NULL, errs) == -2)
        rc = LGW_ERR(CONFIG);
    if (cfg->kafka_replication_factor == 0) {
        lgw_buf_puts(errs, "kafka_replication_factor: -1 (the broker's default) or 1 to 32\n");
        rc = LGW_ERR(CONFIG);
    } else if (cfg->kafka_replication_factor > 0 && cfg->kafka_min_insync_replicas > cfg->kafka_replication_factor) {
        /* Every acks=all write would be refused: fewer replicas exist than must have it. */
        lgw_buf_puts(errs, "kafka_min_insync_replicas: more than kafka_replication_factor\n");
        rc = LGW_ERR(CONFIG);
    }
    for (const char *c = cfg->ingress_id; *c; c++) {
        /* The id becomes part of a topic name: Kafka allows [a-zA-Z0-9._-]. */
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
              *c == '_' || *c == '.')) {
            lgw_buf_puts(errs, "ingress_id: only letters, digits, '.', '_' and '-' are allowed\n");
            rc = LGW_ERR(CONFIG);
            break;
        }
    }
    return rc;
}

/* A "cache_ttl_s" member of the config file's tenant object: 0 to 30 days. */
static bool tenant_ttl_ok(json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 2592000;
}

int lgw_config_cache_tenant_ttl(const struct lgw_config *cfg, const char *tenant, int64_t *ttl_s,
                                struct lgw_buf *errs)
{
    *ttl_s = -1;
    /* The config file's "tenants": {"acme": {"cache_ttl_s": 600}} first: where both name a tenant, the file
     * (which holds all of a tenant's settings) wins over the environment's text row. */
    if (!tenant) {
        const char *name;
        json_t *tj;
        json_object_foreach(cfg->tenants, name, tj) {
            json_t *v = json_object_get(tj, "cache_ttl_s");
            if (v && !tenant_ttl_ok(v)) {
                if (errs)
                    lgw_buf_printf(errs, "tenants: %.64s.cache_ttl_s must be an integer from 0 to 2592000\n", name);
                return LGW_ERR(CONFIG);
            }
        }
    } else {
        json_t *v = json_object_get(json_object_get(cfg->tenants, tenant), "cache_ttl_s");
        if (v && tenant_ttl_ok(v)) {
            *ttl_s = json_integer_value(v);
            return LGW_OK;
        }
    }
    const char *p = cfg->cache_tenant_ttl;
    size_t n = 0;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        long long ttl;
        n++;
        if (!colon || lgw_config_check_tenant(p, (size_t)(colon - p), NULL) ||
            lgw_parse_int64(colon + 1, len - (size_t)(colon + 1 - p), &ttl) || ttl < 0 || ttl > 2592000) {
            if (errs)
                lgw_buf_printf(errs, "cache_tenant_ttl: entry %zu is not `tenant:seconds` (0 to 2592000)\n", n);
            return LGW_ERR(CONFIG);
        }
        if (tenant && strlen(tenant) == (size_t)(colon - p) && memcmp(tenant, p, (size_t)(colon - p)) == 0) {
            *ttl_s = ttl;
            return LGW_OK;
        }
        p += len + (end ? 1 : 0);
    }
    return LGW_OK;
}

static void free_compat(struct lgw_config *cfg)
{
    for (size_t i = 0; i < cfg->ncompat; i++) {
        free((char *)cfg->compat[i].id);
        free((char *)cfg->compat[i].upstream);
    }
    free(cfg->compat);
    cfg->compat = NULL;
    cfg->ncompat = 0;
}

void lgw_config_cleanup(struct lgw_config *cfg)
{
    free(cfg->keys);
    cfg->keys = NULL;
    cfg->nkeys = 0;
    free(cfg->admin);
    cfg->admin = NULL;
    cfg->nadmin = 0;
    free_compat(cfg);
    json_decref(cfg->tenants);
    cfg->tenants = NULL;
}

/* "a/b/c" USD per 1M tokens into a price; returns false when malformed. */
static bool parse_prices(const char *s, struct lgw_price *price)
{
    char part[3][32];
    int n = 0;
    const char *p = s;
    while (n < 3) {
        size_t len = strcspn(p, "/");
        if (len == 0 || len >= sizeof(part[0]))
            return false;
        memcpy(part[n], p, len);
        part[n][len] = '\0';
        n++;
        p += len;
        if (*p != '/')
            break;
        p++;
    }
    if (*p || n < 2)
        return false;
    int64_t v[3] = {0, 0, 0};
    for (int i = 0; i < n; i++)
        if (lgw_cost_parse_usd(part[i], &v[i]) || v[i] < 0)
            return false;
    /* USD per 1M tokens, parsed as nano-USD, is exactly nano-USD per 1M tokens. */
    *price = (struct lgw_price){.input_nusd_per_mtok = v[0], .output_nusd_per_mtok = v[1],
                                .cached_input_nusd_per_mtok = n == 3 ? v[2] : v[0], .known = true};
    return true;
}

int lgw_config_parse_compat_models(struct lgw_config *cfg, const char *spec, struct lgw_buf *errs)
{
    int rc = LGW_OK;
    free_compat(cfg);
    const char *p = spec;
    while (*p) {
        size_t len = strcspn(p, ",");
        char entry[512];
        if (len >= sizeof(entry)) {
            lgw_buf_puts(errs, "compat_models: an entry is longer than 511 bytes\n");
            return LGW_ERR(CONFIG);
        }
        memcpy(entry, p, len);
        entry[len] = '\0';
        p += len + (p[len] == ',');
        if (len == 0)
            continue;
        struct lgw_model_info m = {.kind = LGW_JOB_CHAT};
        char *name = entry;
        if (strncmp(name, "embeddings:", 11) == 0) {
            m.kind = LGW_JOB_EMBEDDINGS;
            name += 11;
        }
        char *at = strchr(name, '@');
        if (at) {
            *at = '\0';
            if (!parse_prices(at + 1, &m.price)) {
                lgw_buf_printf(errs, "compat_models: \"%s\" has a bad price (want in/out[/cached] USD per 1M)\n", name);
                rc = LGW_ERR(CONFIG);
                continue;
            }
        }
        char *eq = strchr(name, '=');
        if (eq)
            *eq = '\0';
        const char *upstream = eq ? eq + 1 : name;
        if (!*name || !*upstream || strlen(name) > 127 || strlen(upstream) > 127) {
            lgw_buf_puts(errs, "compat_models: every entry needs a name (and upstream name) of 1..127 bytes\n");
            rc = LGW_ERR(CONFIG);
            continue;
        }
        m.id = lgw_strdup(name);
        m.upstream = lgw_strdup(upstream);
        cfg->compat = lgw_realloc(cfg->compat, (cfg->ncompat + 1) * sizeof(*cfg->compat));
        cfg->compat[cfg->ncompat++] = m;
    }
    return rc;
}


void lgw_config_write_docs(FILE *out)
{
    fprintf(out, "# llmgw configuration\n\n"
                 "Generated by `llmgw config docs` from the table in `common/config.c`; do not edit by hand.\n\n"
                 "Settings come from built-in defaults, then the JSON file named by `--config` or `LLMGW_CONFIG` "
                 "(keys as in the first column), then the environment (later wins). Secrets are read from the "
                 "environment only. `llmgw config env` prints the same table as `LLMGW_*=default` lines (secrets named, "
                 "never valued), the source of the Helm chart's ConfigMap (deploy/helm/llmgw).\n\n"
                 "| setting | environment | default | range | description |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        char range[64] = "text";
        if (o->type == OPT_INT)
            snprintf(range, sizeof(range), "%lld..%lld", (long long)o->min, (long long)o->max);
        fprintf(out, "| `%s` | `%s` | `%s` | %s | %s%s |\n", o->name, o->env, o->def, range, o->doc,
                o->secret ? " (secret)" : "");
    }
}

void lgw_config_write_env(FILE *out)
{
    fprintf(out, "# llmgw settings as environment variables, at their defaults. Generated by `llmgw config env` from "
                 "the table in\n# common/config.c (docs/CONFIG.md); do not edit by hand. Secrets have no value here: "
                 "each is named on a\n# `# secret: NAME` line, to be set from a secret store.\n");
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        /* Defaults never hold whitespace, quotes or '#' (tests/unit/test_config.c checks), so the lines read the
         * same to a shell, Docker's --env-file and Compose's .env. */
        fprintf(out, "\n# %s\n", o->doc);
        if (o->secret)
            fprintf(out, "# secret: %s\n", o->env);
        else
            fprintf(out, "%s=%s\n", o->env, o->def);
    }
}
