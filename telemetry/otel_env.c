/* otel_env.c - the OpenTelemetry SDK environment variables (see otel_env.h). */
#include "telemetry/otel_env.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/errors.h"

/* The variables, for docs/CONFIG.md: what each means to llmgw. Parsing below reads them by name. */
static const struct {
    const char *name, *def, *doc;
} vars[] = {
    {"OTEL_SDK_DISABLED", "false",
     "`true` turns tracing and the OTLP metric push off altogether (nothing is recorded or exported; `/metrics` "
     "is still served)."},
    {"OTEL_TRACES_EXPORTER", "otlp", "`otlp`, or `none` (tracing off). Other exporters are refused at start."},
    {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "",
     "Full URL spans are POSTed to (`http://collector:4318/v1/traces`). Nothing is exported unless this or the "
     "next one is set."},
    {"OTEL_EXPORTER_OTLP_ENDPOINT", "",
     "Base URL of an OTLP/HTTP receiver; llmgw appends `/v1/traces` and `/v1/metrics`. `http://` or `https://` "
     "only."},
    {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "",
     "Full URL metrics are POSTed to (`http://collector:4318/v1/metrics`); else the previous one + "
     "`/v1/metrics`. No metrics are pushed unless one of them is set."},
    {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "", "Overrides the next one for traces."},
    {"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "", "Overrides the next one for metrics."},
    {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf",
     "`http/protobuf` or `http/json` (OTLP's JSON mapping). `grpc` is refused at start (exit 2): point the "
     "endpoint at the collector's OTLP/HTTP port (4318) instead."},
    {"OTEL_EXPORTER_OTLP_HEADERS", "",
     "Request headers for every export, `name=value` pairs separated by commas, values percent-decoded (an API "
     "key for a hosted backend). Secret: never logged. At most 16."},
    {"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "", "More headers, for trace exports only."},
    {"OTEL_EXPORTER_OTLP_METRICS_HEADERS", "", "More headers, for metric exports only."},
    {"OTEL_EXPORTER_OTLP_TIMEOUT", "10000", "Milliseconds one export request may take (1..600000)."},
    {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "", "Overrides the previous one for traces."},
    {"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "", "Overrides it for metrics."},
    {"OTEL_EXPORTER_OTLP_COMPRESSION", "none",
     "`gzip` is not supported: llmgw warns at start and sends bodies uncompressed. `_TRACES_` and `_METRICS_` "
     "variants override it per signal."},
    {"OTEL_METRICS_EXPORTER", "otlp",
     "`otlp` pushes every role's metrics (the series of its `/metrics`) to the metrics endpoint; `none` or "
     "`prometheus` push nothing (the Prometheus text on `/metrics` is always served, so `prometheus` means "
     "\"scrape only\"). Others are refused at start."},
    {"OTEL_METRIC_EXPORT_INTERVAL", "60000",
     "Milliseconds between two metric pushes (100..86400000). Each sends every series, cumulative."},
    {"OTEL_METRIC_EXPORT_TIMEOUT", "30000",
     "Milliseconds one metric push may take, retries included (1..600000); then it is counted in "
     "`llmgw_otel_metric_export_failures_total` and the next interval sends the totals again."},
    {"OTEL_SERVICE_NAME", "llmgw-<role>",
     "`service.name` of every span and metric push (`llmgw-ingress`, `llmgw-worker`, `llmgw-ledger`, `llmgw-dev`)."},
    {"OTEL_RESOURCE_ATTRIBUTES", "",
     "More resource attributes, `key=value` pairs separated by commas, values percent-decoded (at most 32); "
     "`service.name` here is used when `OTEL_SERVICE_NAME` is not set."},
    {"OTEL_TRACES_SAMPLER", "parentbased_always_on",
     "`always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off` or "
     "`parentbased_traceidratio`. The decision is taken where a trace starts (the ingress, or the client that "
     "sent a `traceparent`) and travels with the job in the traceparent's sampled flag."},
    {"OTEL_TRACES_SAMPLER_ARG", "1.0", "The ratio (0..1) of the `traceidratio` samplers."},
    {"OTEL_BSP_SCHEDULE_DELAY", "5000", "Milliseconds between exports of a batch that is not full (1..600000)."},
    {"OTEL_BSP_EXPORT_TIMEOUT", "30000",
     "Milliseconds one batch may take to export, retries included (1..600000); then it is dropped and counted."},
    {"OTEL_BSP_MAX_QUEUE_SIZE", "2048",
     "Spans waiting for export (1..1000000). A full queue drops new spans and counts them "
     "(`llmgw_otel_spans_dropped_total`): a slow or absent collector never holds a request."},
    {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512", "Spans per export request (1..OTEL_BSP_MAX_QUEUE_SIZE)."},
    {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "false",
     "`true` puts prompts and completions on the worker's GenAI spans (`gen_ai.input.messages`, "
     "`gen_ai.output.messages`, JSON as the GenAI conventions shape them, at most 16 KiB each, cut and marked "
     "past that); `false` never does. Also read: `span_only` and `span_and_event` (on), `no_content` and "
     "`event_only` (off: llmgw records no GenAI events). **Privacy**: the content is the tenants' data; with this "
     "on, everyone who can read the traces, and every backend they are exported to, can read every prompt and "
     "answer of every sampled request. Logs never carry it either way."},
};

static const char *var(const char *(*get)(const char *), const char *name)
{
    const char *v = get(name);
    return v && v[0] ? v : NULL;
}

/* An integer variable within [min, max], or def when unset. */
static int int_var(const char *(*get)(const char *), const char *name, int64_t def, int64_t min, int64_t max,
                   int64_t *out, struct lgw_buf *errs)
{
    const char *v = var(get, name);
    long long n;
    *out = def;
    if (!v)
        return LGW_OK;
    if (lgw_parse_int64(v, strlen(v), &n) || n < min || n > max) {
        lgw_buf_printf(errs, "%s=%.32s: expected an integer from %lld to %lld\n", name, v, (long long)min,
                       (long long)max);
        return LGW_ERR(CONFIG);
    }
    *out = n;
    return LGW_OK;
}

/* Percent-decodes s[0..len) into out (size outsz); false when it does not fit or an escape is malformed. */
static bool pct_decode(const char *s, size_t len, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return false;
            int hi = lgw_hex_digit(s[i + 1]), lo = lgw_hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (o + 1 >= outsz)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

static void trim(const char **s, size_t *len)
{
    while (*len && isspace((unsigned char)**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len && isspace((unsigned char)(*s)[*len - 1]))
        (*len)--;
}

/* Calls each(key, value) for the "key=value,key=value" list in v; false at the first malformed pair (the
 * caller reports it; values are not echoed, they may be secrets). */
static bool each_pair(const char *v, bool (*each)(void *opaque, const char *key, const char *value), void *opaque)
{
    for (const char *p = v; *p;) {
        size_t n = strcspn(p, ",");
        const char *eq = memchr(p, '=', n);
        if (!eq)
            return false;
        const char *k = p, *val = eq + 1;
        size_t klen = (size_t)(eq - p), vlen = n - klen - 1;
        trim(&k, &klen);
        trim(&val, &vlen);
        char key[LGW_OTEL_RESOURCE_KEY_MAX], value[LGW_OTEL_HEADER_MAX];
        if (klen == 0 || !pct_decode(k, klen, key, sizeof(key)) || !pct_decode(val, vlen, value, sizeof(value)) ||
            !each(opaque, key, value))
            return false;
        p += n;
        if (*p == ',')
            p++;
    }
    return true;
}

/* An HTTP header name: an RFC 9110 token. */
static bool token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || strchr("!#$%&'*+-.^_`|~", *s)))
            return false;
    return true;
}

static bool add_header(void *opaque, const char *key, const char *value)
{
    struct lgw_otel_signal *c = opaque;
    if (c->nheaders == LGW_OTEL_HEADERS_MAX || !token(key) || strpbrk(value, "\r\n"))
        return false;
    size_t n = (size_t)snprintf(c->headers[c->nheaders], LGW_OTEL_HEADER_MAX, "%s: %s", key, value);
    if (n >= LGW_OTEL_HEADER_MAX)
        return false;
    c->nheaders++;
    return true;
}

static bool add_resource(void *opaque, const char *key, const char *value)
{
    struct lgw_otel_config *c = opaque;
    if (strcmp(key, "service.name") == 0) {
        if (!c->service_name[0] && strlen(value) < sizeof(c->service_name))
            lgw_strlcpy(c->service_name, value, sizeof(c->service_name));
        return strlen(value) < sizeof(c->service_name);
    }
    if (c->nresource == LGW_OTEL_RESOURCE_MAX || strlen(key) >= LGW_OTEL_RESOURCE_KEY_MAX ||
        strlen(value) >= LGW_OTEL_RESOURCE_VALUE_MAX)
        return false;
    struct lgw_otel_resource_attr *a = &c->resource[c->nresource++];
    lgw_strlcpy(a->key, key, sizeof(a->key));
    lgw_strlcpy(a->value, value, sizeof(a->value));
    return true;
}

static bool http_url(const char *u)
{
    return strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
}

/* The signal's own variable (OTEL_EXPORTER_OTLP_<SIGNAL>_<what>) if set, else the shared one; *name gets
 * which was read, for messages. */
static const char *signal_var(const char *(*get)(const char *), const char *signal, const char *what,
                              char *name, size_t namesz)
{
    snprintf(name, namesz, "OTEL_EXPORTER_OTLP_%s_%s", signal, what);
    const char *v = var(get, name);
    if (v)
        return v;
    snprintf(name, namesz, "OTEL_EXPORTER_OTLP_%s", what);
    return var(get, name);
}

/* A problem with a shared variable is reported once, by the first signal (traces), not once per signal. */
static bool shared(const char *name)
{
    return strncmp(name, "OTEL_EXPORTER_OTLP_TRACES_", 26) != 0 && strncmp(name, "OTEL_EXPORTER_OTLP_METRICS_", 27) != 0;
}

#define REPORT(errs, quiet, name, ...)                                                                          \
    do {                                                                                                        \
        if (!((quiet) && shared(name)))                                                                         \
            lgw_buf_printf(errs, __VA_ARGS__);                                                                  \
    } while (0)

static int endpoint(const char *(*get)(const char *), const char *signal, const char *path, bool quiet,
                    struct lgw_otel_signal *sig, struct lgw_buf *errs)
{
    char name[64];
    const char *u = signal_var(get, signal, "ENDPOINT", name, sizeof(name));
    if (!u)
        return LGW_OK; /* nothing configured: nothing exported */
    if (!http_url(u)) {
        REPORT(errs, quiet, name, "%s: expected an http:// or https:// URL\n", name);
        return LGW_ERR(CONFIG);
    }
    size_t n;
    if (!shared(name)) {
        n = (size_t)snprintf(sig->endpoint, sizeof(sig->endpoint), "%s", u);
    } else {
        size_t len = strlen(u);
        while (len > 0 && u[len - 1] == '/') /* the spec's base URL may end in a slash */
            len--;
        n = (size_t)snprintf(sig->endpoint, sizeof(sig->endpoint), "%.*s%s", (int)len, u, path);
    }
    if (n >= sizeof(sig->endpoint)) {
        REPORT(errs, quiet, name, "%s: longer than %d characters\n", name, LGW_OTEL_URL_MAX - 1);
        return LGW_ERR(CONFIG);
    }
    return LGW_OK;
}

/* The GenAI content switch: the values the OpenTelemetry GenAI instrumentations read (true/false, and the
 * newer span_only ... names), in any case. Anything else stops the start: a typo must not leave an operator
 * believing content is captured, or not. */
static int capture_content(const char *(*get)(const char *), struct lgw_otel_config *c, struct lgw_buf *errs)
{
    static const char name[] = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";
    const char *v = var(get, name);
    c->capture_content = false;
    if (!v || strcasecmp(v, "false") == 0 || strcasecmp(v, "no_content") == 0 || strcasecmp(v, "event_only") == 0)
        return LGW_OK;
    if (strcasecmp(v, "true") == 0 || strcasecmp(v, "span_only") == 0 || strcasecmp(v, "span_and_event") == 0) {
        c->capture_content = true;
        return LGW_OK;
    }
    lgw_buf_printf(errs, "%s=%.32s: expected true or false (or span_only, span_and_event, no_content, event_only)\n",
                   name, v);
    return LGW_ERR(CONFIG);
}

static int protocol(const char *(*get)(const char *), const char *signal, bool quiet, struct lgw_otel_signal *sig,
                    struct lgw_buf *errs)
{
    char name[64];
    const char *p = signal_var(get, signal, "PROTOCOL", name, sizeof(name));
    sig->protocol = LGW_OTLP_HTTP_PROTOBUF;
    if (!p || strcmp(p, "http/protobuf") == 0)
        return LGW_OK;
    if (strcmp(p, "http/json") == 0) {
        sig->protocol = LGW_OTLP_HTTP_JSON;
        return LGW_OK;
    }
    if (strcmp(p, "grpc") == 0)
        REPORT(errs, quiet, name,
               "%s=grpc is not supported: llmgw exports OTLP over HTTP only; set http/protobuf (the "
               "default) or http/json and point the endpoint at the collector's OTLP/HTTP port (4318)\n",
               name);
    else
        REPORT(errs, quiet, name, "%s=%.32s: expected http/protobuf or http/json\n", name, p);
    return LGW_ERR(CONFIG);
}

/* Headers: the shared list, then the signal's own (both sent). */
static int headers(const char *(*get)(const char *), const char *signal, bool quiet, struct lgw_otel_signal *sig,
                   struct lgw_buf *errs)
{
    int bad = 0;
    const char *v = var(get, "OTEL_EXPORTER_OTLP_HEADERS");
    if (v && !each_pair(v, add_header, sig)) {
        if (!quiet)
            lgw_buf_printf(errs, "OTEL_EXPORTER_OTLP_HEADERS: expected name=value pairs separated by commas (at "
                           "most %d, header names as HTTP allows them)\n", LGW_OTEL_HEADERS_MAX);
        bad = 1;
    }
    char name[64];
    snprintf(name, sizeof(name), "OTEL_EXPORTER_OTLP_%s_HEADERS", signal);
    if ((v = var(get, name)) && !each_pair(v, add_header, sig)) {
        lgw_buf_printf(errs, "%s: expected name=value pairs separated by commas (at most %d in all, header names "
                       "as HTTP allows them)\n", name, LGW_OTEL_HEADERS_MAX);
        bad = 1;
    }
    return bad ? LGW_ERR(CONFIG) : LGW_OK;
}

/* One signal's destination (see struct lgw_otel_signal). quiet: problems with the shared variables were
 * already reported by the other signal. */
static int signal_load(const char *(*get)(const char *), const char *signal, const char *path, bool quiet,
                       struct lgw_otel_signal *sig, struct lgw_buf *errs)
{
    int bad = 0;
    char name[64];
    bad |= endpoint(get, signal, path, quiet, sig, errs);
    bad |= protocol(get, signal, quiet, sig, errs);
    bad |= headers(get, signal, quiet, sig, errs);
    const char *t = signal_var(get, signal, "TIMEOUT", name, sizeof(name));
    long long n;
    sig->timeout_ms = 10000;
    if (t && (lgw_parse_int64(t, strlen(t), &n) || n < 1 || n > 600000)) {
        REPORT(errs, quiet, name, "%s=%.32s: expected an integer from 1 to 600000\n", name, t);
        bad = 1;
    } else if (t) {
        sig->timeout_ms = n;
    }
    const char *comp = signal_var(get, signal, "COMPRESSION", name, sizeof(name));
    if (comp && strcmp(comp, "gzip") == 0) {
        sig->gzip_requested = true;
    } else if (comp && strcmp(comp, "none") != 0) {
        REPORT(errs, quiet, name, "%s=%.32s: expected none or gzip\n", name, comp);
        bad = 1;
    }
    return bad ? LGW_ERR(CONFIG) : LGW_OK;
}

/* OTEL_<SIGNAL>_EXPORTER: *off when it says not to push over OTLP. */
static int exporter_var(const char *(*get)(const char *), const char *name, const char *const *accepted,
                        const char *expected, bool *off, struct lgw_buf *errs)
{
    const char *v = var(get, name);
    *off = false;
    if (!v || strcmp(v, "otlp") == 0)
        return LGW_OK;
    for (const char *const *a = accepted; *a; a++)
        if (strcmp(v, *a) == 0) {
            *off = true;
            return LGW_OK;
        }
    lgw_buf_printf(errs, "%s=%.32s: %s\n", name, v, expected);
    return LGW_ERR(CONFIG);
}

int lgw_otel_config_load(const char *role, const char *(*get)(const char *name), struct lgw_otel_config *out,
                         struct lgw_buf *errs)
{
    struct lgw_otel_config *c = out;
    memset(c, 0, sizeof(*c));
    int bad = 0;
    char why[256];
    const char *v;

    bad |= signal_load(get, "TRACES", "/v1/traces", false, &c->traces, errs);
    bad |= signal_load(get, "METRICS", "/v1/metrics", true, &c->metrics, errs);
    static const char *const trace_off[] = {"none", NULL};
    static const char *const metric_off[] = {"none", "prometheus", NULL};
    bool traces_off, metrics_off;
    bad |= exporter_var(get, "OTEL_TRACES_EXPORTER", trace_off, "llmgw exports traces with otlp (or none)",
                        &traces_off, errs);
    bad |= exporter_var(get, "OTEL_METRICS_EXPORTER", metric_off,
                        "llmgw pushes metrics with otlp, or not at all with none or prometheus (the /metrics text is "
                        "always served)",
                        &metrics_off, errs);
    bad |= capture_content(get, c, errs);
    if ((v = var(get, "OTEL_SDK_DISABLED")) && strcasecmp(v, "true") == 0)
        traces_off = metrics_off = true;
    if ((v = var(get, "OTEL_SERVICE_NAME"))) {
        if (strlen(v) >= sizeof(c->service_name)) {
            lgw_buf_printf(errs, "OTEL_SERVICE_NAME: longer than %zu characters\n", sizeof(c->service_name) - 1);
            bad = 1;
        } else {
            lgw_strlcpy(c->service_name, v, sizeof(c->service_name));
        }
    }
    if ((v = var(get, "OTEL_RESOURCE_ATTRIBUTES")) && !each_pair(v, add_resource, c)) {
        lgw_buf_printf(errs, "OTEL_RESOURCE_ATTRIBUTES: expected key=value pairs separated by commas (at most %d, "
                       "keys below %d and values below %d bytes)\n", LGW_OTEL_RESOURCE_MAX, LGW_OTEL_RESOURCE_KEY_MAX,
                       LGW_OTEL_RESOURCE_VALUE_MAX);
        bad = 1;
    }
    if (!c->service_name[0])
        snprintf(c->service_name, sizeof(c->service_name), "llmgw-%s", role);
    if (lgw_sampler_parse(var(get, "OTEL_TRACES_SAMPLER"), var(get, "OTEL_TRACES_SAMPLER_ARG"), &c->sampler, why,
                          sizeof(why))) {
        lgw_buf_printf(errs, "%s\n", why);
        bad = 1;
    }
    bad |= int_var(get, "OTEL_BSP_SCHEDULE_DELAY", 5000, 1, 600000, &c->schedule_delay_ms, errs);
    bad |= int_var(get, "OTEL_BSP_EXPORT_TIMEOUT", 30000, 1, 600000, &c->export_timeout_ms, errs);
    bad |= int_var(get, "OTEL_BSP_MAX_QUEUE_SIZE", 2048, 1, 1000000, &c->max_queue_size, errs);
    bad |= int_var(get, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, 1, 1000000, &c->max_export_batch_size, errs);
    if (c->max_export_batch_size > c->max_queue_size) {
        lgw_buf_printf(errs, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE (%lld) is larger than OTEL_BSP_MAX_QUEUE_SIZE (%lld)\n",
                       (long long)c->max_export_batch_size, (long long)c->max_queue_size);
        bad = 1;
    }
    /* 100 ms at least: a shorter interval would spend the exporter thread on encoding, not on news. */
    bad |= int_var(get, "OTEL_METRIC_EXPORT_INTERVAL", 60000, 100, 86400000, &c->metric_interval_ms, errs);
    bad |= int_var(get, "OTEL_METRIC_EXPORT_TIMEOUT", 30000, 1, 600000, &c->metric_export_timeout_ms, errs);
    c->traces.enabled = !bad && !traces_off && c->traces.endpoint[0];
    c->metrics.enabled = !bad && !metrics_off && c->metrics.endpoint[0];
    return bad ? LGW_ERR(CONFIG) : LGW_OK;
}

void lgw_otel_write_docs(FILE *out)
{
    fprintf(out, "\n## OpenTelemetry (traces and metrics)\n\n"
                 "These are the standard OpenTelemetry SDK variables, not llmgw settings: they are read from the "
                 "environment only, by every role, and `llmgw config check` validates them too. Nothing is "
                 "exported unless an endpoint is set. What llmgw traces and how, and the metrics it pushes: "
                 "[OBSERVABILITY.md](OBSERVABILITY.md).\n\n"
                 "| environment | default | what llmgw does with it |\n|---|---|---|\n");
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        fprintf(out, "| `%s` | %s%s%s | %s |\n", vars[i].name, vars[i].def[0] ? "`" : "", vars[i].def,
                vars[i].def[0] ? "`" : "", vars[i].doc);
}
