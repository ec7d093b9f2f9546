/* config_table.c - every setting llmgw reads: one row each (config_int.h says what a row holds). A new setting
 * is one row here; docs/CONFIG.md, .env.example and the Helm chart's copy are generated from this table. */
#include "common/config.h"
#include "common/config_int.h"

#include <stddef.h>

#include "common/provider_status.h"

#define I(field, env, def, min, max, doc)                                                                     \
    {#field, env, LGW_OPT_INT, offsetof(struct lgw_config, field), sizeof(int64_t), def, min, max, false, doc}
#define S(field, env, def, doc)                                                                                \
    {#field, env, LGW_OPT_STR, offsetof(struct lgw_config, field), sizeof(((struct lgw_config *)0)->field), \
     def, 0, 0, false, doc}
#define SECRET(field, env, doc)                                                                                \
    {#field, env, LGW_OPT_STR, offsetof(struct lgw_config, field), sizeof(((struct lgw_config *)0)->field), \
     "", 0, 0, true, doc}

const struct lgw_config_opt lgw_config_opts[] = {
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
    I(memory_trim_interval_ms, "LLMGW_MEMORY_TRIM_INTERVAL_MS", "10000", 0, 3600000,
      "How often each process looks at its free heap and, when that grew by `memory_trim_min_bytes` since the "
      "last trim (a load has passed), gives it back to the system (malloc_trim); 0 never does."),
    I(memory_trim_min_bytes, "LLMGW_MEMORY_TRIM_MIN_BYTES", "4194304", 65536, 1073741824,
      "Growth of the free heap, in bytes, that makes the next look trim it."),
    S(kafka_brokers, "LLMGW_KAFKA_BROKERS", "127.0.0.1:9092", "Kafka bootstrap servers (ignored by `llmgw dev`)."),
    S(ingress_id, "LLMGW_INGRESS_ID", "",
      "This ingress instance's id; its replies arrive on `<prefix>.replies.<id>`. Empty: hostname-pid."),
    S(worker_id, "LLMGW_WORKER_ID", "",
      "This worker's id, recorded in cost events and the key of its provider status. Empty: hostname-pid."),
    S(topic_prefix, "LLMGW_TOPIC_PREFIX", "llmgw", "Prefix of every Kafka topic name."),
    I(kafka_fetch_wait_ms, "LLMGW_KAFKA_FETCH_WAIT_MS", "100", 1, 10000,
      "fetch.wait.max.ms of the consumer groups: the workers' jobs and the batch role's results and batches (the "
      "ledger's fetch waits its batch window, ledger_batch_ms). A real broker answers as soon as data arrives."),
    I(kafka_follow_wait_ms, "LLMGW_KAFKA_FOLLOW_WAIT_MS", "1000", 1, 10000,
      "fetch.wait.max.ms of the readers that follow partitions assigned once: the compacted topics (tenants, "
      "providers, spend, batches, audit), an ingress's replies and a worker's cancels. A real broker answers such "
      "a fetch as soon as a record arrives, so a longer wait is no later: it only means fewer empty fetches while "
      "nothing changes (an idle reader sends 1000 / this many a second). "
      "Dev's mock cluster answers an empty fetch only after the full wait, so there they use kafka_fetch_wait_ms."),
    I(kafka_partitions, "LLMGW_KAFKA_PARTITIONS", "4", 1, 1024,
      "Partitions of the job and cost topics when this process creates them."),
    I(kafka_cost_linger_ms, "LLMGW_KAFKA_COST_LINGER_MS", "10", 0, 1000,
      "How long a worker lets cost events (and dead letters) wait to be sent in one batch. Nobody waits on them; "
      "batching takes broker requests off the request path's broker. Replies always go at once."),
    S(kafka_cost_partition, "LLMGW_KAFKA_COST_PARTITION", "worker",
      "Which partition of the cost topic a worker's cost events go to (they are keyed by the job id either way). "
      "`worker`: all of one worker's on one partition, picked from its id, so each linger window is one batch "
      "and one broker request; `key`: by the key's hash, spread over every partition, one batch per partition "
      "a window's events hit (measured: docs/PERFORMANCE.md, \"What the broker does for llmgw\")."),
    S(kafka_rebalance, "LLMGW_KAFKA_REBALANCE", "eager",
      "The rebalance protocol of this process's consumer groups (the workers', the ledger's, the batch role's). "
      "`eager` (librdkafka's range and round-robin assignors): each rebalance revokes every partition of every "
      "member, so a worker joining or leaving stops the whole group until the longest provider call in flight "
      "ends (up to `shutdown_grace_ms`). `cooperative` (cooperative-sticky): only the partitions that move are "
      "revoked, but the assignor balances partition counts, not each topic's, so one worker may hold all of "
      "jobs.chat. Every member of a group must use the same one; switching is a rolling deploy (docs/ARCHITECTURE.md, "
      "\"Readiness, limits, shutdown\"). A `partition.assignment.strategy` in `kafka_properties` overrides it."),
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
      "producer queue, output buffer; p50/p99), and the bytes it sent and received and the requests it sent so "
      "far. 0: off."),
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
    I(http_threads, "LLMGW_HTTP_THREADS", "2", 1, 64,
      "HTTP threads of the ingress (httpd/server.h: one epoll loop each)."),
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
      "The most of a request head the ingress's HTTP server reads: a larger head is answered 431 (JSON, counted "
      "in `llmgw_http_headers_too_large_total`) at once and its connection closed, without reading its body. "
      "At least max_header_bytes + 4 KiB, so heads up to the cap and a little past it are answered after their "
      "body, on a connection that stays open. Memory is taken only while a head is arriving in pieces: a "
      "connection keeps its head sized to what came, not to this cap."),
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
    I(stream_coalesce_ms, "LLMGW_STREAM_COALESCE_MS", "-1", -1, 1000,
      "How long a streamed answer's chunks may wait to share one Kafka message with the chunks after them (the "
      "first chunk always goes at once). -1: one message per chunk. 0: only chunks that arrive together (one "
      "read from the provider, a backlog, a cache replay) share a message, and none waits for time: a fifth less "
      "CPU per stream when answers come in bursts, but a worse gap between chunks at p99 when they come steadily "
      "(docs/PERFORMANCE.md). Only for jobs whose ingress reads such messages (the job's batched_chunks)."),
    I(worker_stream_max_chunks, "LLMGW_WORKER_STREAM_MAX_CHUNKS", "256", 1, 1000000,
      "Chunks of one streamed answer produced to Kafka but not yet acknowledged. At the limit the worker stops "
      "reading that stream from the provider until Kafka catches up, so a stream's memory stays bounded."),
    I(provider_max_host_connections, "LLMGW_PROVIDER_MAX_HOST_CONNECTIONS", "10000", 1, 1000000,
      "Open connections from one event loop to one provider host; calls past it wait for a connection, so one "
      "slow provider cannot take every connection."),
    I(provider_max_connections, "LLMGW_PROVIDER_MAX_CONNECTIONS", "20000", 1, 1000000,
      "Open provider connections of one event loop in all (each streamed call holds one)."),
    I(ledger_batch_max, "LLMGW_LEDGER_BATCH_MAX", "500", 1, 100000, "Most cost events per ledger transaction."),
    I(ledger_batch_ms, "LLMGW_LEDGER_BATCH_MS", "50", 1, 60000,
      "Longest wait to fill a ledger batch. The broker holds each of the ledger's fetches this long too (unless "
      "1 MiB of cost events is there), so the ledger costs it one fetch per window, not one per cost event."),
    I(sched_slice_us, "LLMGW_SCHED_SLICE_US", "100", 0, 100000,
      "Scheduling slice asked for every thread of an ingress or worker process, in microseconds (Linux 6.12 or "
      "later, which clamps it to 100..100000; the kernel's default is 1.4 ms on two CPUs): on a core shared with "
      "other work (the broker, the ledger, Redis), a request-path thread that wakes may preempt a thread with a "
      "longer slice instead of waiting out its slice. The process's share of a busy core is unchanged. 0: the "
      "kernel's. docs/PERFORMANCE.md, \"Ninth pass\"."),
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
const size_t lgw_config_nopts = sizeof(lgw_config_opts) / sizeof(lgw_config_opts[0]);
