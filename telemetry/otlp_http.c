/* otlp_http.c - the OTLP/HTTP client both exporters share (see otlp_http.h). */
#include "telemetry/otlp_http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/random.h"

/* Backoff between retries of one export: 100 ms doubling to 5 s, each wait drawn from its upper half (so
 * exporters of many processes do not retry in step). A Retry-After from the collector is honoured up to
 * RETRY_AFTER_MAX_MS; all of it within the export's deadline. */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define RETRY_AFTER_MAX_MS 30000
/* Failure lines at most this often: a collector that is down must not flood the logs. */
#define LOG_PER_SEC 1

static size_t answer_cb(char *data, size_t size, size_t n, void *opaque)
{
    struct lgw_buf *answer = opaque;
    lgw_buf_append(answer, data, size * n); /* capped: only the start of an error body is kept, for the log */
    return size * n;
}

/* Retry-After in seconds (the collector's throttling advice); the HTTP-date form is read as absent. */
static size_t header_cb(char *data, size_t size, size_t n, void *opaque)
{
    struct lgw_otlp_http *h = opaque;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        const char *v = data + sizeof(name) - 1;
        size_t vlen = len - (sizeof(name) - 1);
        while (vlen && (*v == ' ' || *v == '\t'))
            v++, vlen--;
        while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
            vlen--;
        long long s;
        if (lgw_parse_int64(v, vlen, &s) == 0 && s >= 0)
            h->retry_after_ms = s * 1000 < RETRY_AFTER_MAX_MS ? s * 1000 : RETRY_AFTER_MAX_MS;
    }
    return len;
}

/* The endpoint as logs may show it: no user info, no query. */
static void safe_url(const char *url, char *out, size_t outsz)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    const char *at = strchr(host, '@'), *slash = strchr(host, '/');
    size_t scheme = (size_t)(host - url);
    if (at && (!slash || at < slash))
        host = at + 1;
    size_t len = strcspn(host, "?#");
    snprintf(out, outsz, "%.*s%.*s", (int)scheme, url, (int)len, host);
}

int lgw_otlp_http_init(struct lgw_otlp_http *h, const struct lgw_otel_signal *sig, const char *what)
{
    memset(h, 0, sizeof(*h));
    h->what = what;
    safe_url(sig->endpoint, h->url_for_logs, sizeof(h->url_for_logs));
    lgw_buf_init(&h->answer, 4096);
    lgw_log_limit_init(&h->loglim, "otel", LOG_PER_SEC);
    h->headers = curl_slist_append(NULL, sig->protocol == LGW_OTLP_HTTP_JSON ? "Content-Type: application/json"
                                                                             : "Content-Type: application/x-protobuf");
    h->headers = curl_slist_append(h->headers, "Expect:"); /* no 100-continue round trip for large bodies */
    for (int i = 0; i < sig->nheaders; i++)
        h->headers = curl_slist_append(h->headers, sig->headers[i]);
    CURL *curl = h->curl = curl_easy_init();
    if (!curl || !h->headers) {
        lgw_otlp_http_cleanup(h);
        return LGW_ERR(INTERNAL);
    }
    curl_easy_setopt(curl, CURLOPT_URL, sig->endpoint);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)sig->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, answer_cb);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &h->answer);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "llmgw-otlp-exporter");
    return LGW_OK;
}

void lgw_otlp_http_cleanup(struct lgw_otlp_http *h)
{
    if (h->curl)
        curl_easy_cleanup(h->curl);
    h->curl = NULL;
    curl_slist_free_all(h->headers);
    h->headers = NULL;
    lgw_buf_cleanup(&h->answer);
    lgw_log_limit_cleanup(&h->loglim);
}

/* One POST. Returns the HTTP status, or 0 when no answer came (not reachable, timed out); *why gets
 * libcurl's reason then. */
static long post(struct lgw_otlp_http *h, const void *body, size_t len, long timeout_ms, const char **why)
{
    h->retry_after_ms = -1;
    lgw_buf_reset(&h->answer);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    CURLcode cc = curl_easy_perform(h->curl);
    if (cc != CURLE_OK) {
        *why = curl_easy_strerror(cc);
        return 0;
    }
    long status = 0;
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    *why = NULL;
    return status;
}

static bool retryable(long status)
{
    return status == 0 || status == 429 || status == 502 || status == 503 || status == 504;
}

void lgw_otlp_http_log_failure(struct lgw_otlp_http *h, long status, const char *why, size_t n)
{
    static const char kind = 0; /* one kind: every failure line */
    uint64_t held;
    const void *held_key;
    if (!lgw_log_limit_allow(&h->loglim, &kind, lgw_mono_ms(), &held, &held_key))
        return;
    if (held)
        LGW_WARN("otel", "%llu more export failure(s) not logged", (unsigned long long)held);
    if (status)
        LGW_WARN("otel", "export to %s failed: HTTP %ld; %zu %s dropped", h->url_for_logs, status, n, h->what);
    else
        LGW_WARN("otel", "export to %s failed: %s; %zu %s dropped", h->url_for_logs, why, n, h->what);
}

bool lgw_otlp_http_export(struct lgw_otlp_http *h, const void *body, size_t len, int64_t timeout_ms,
                          int64_t until_ms, bool once, lgw_otlp_wait_cb wait, void *opaque, size_t n)
{
    long status = 0;
    const char *why = "the deadline passed before the first try";
    for (int attempt = 0;; attempt++) {
        int64_t left = until_ms - lgw_mono_ms();
        if (left <= 0)
            break;
        status = post(h, body, len, (long)(left < timeout_ms ? left : timeout_ms), &why);
        if (status >= 200 && status < 300)
            return true;
        if (!retryable(status) || once)
            break;
        int64_t pause = h->retry_after_ms;
        if (pause < 0) {
            int64_t cap = (int64_t)BACKOFF_FIRST_MS << (attempt < 6 ? attempt : 6);
            if (cap > BACKOFF_MAX_MS)
                cap = BACKOFF_MAX_MS;
            uint32_t r;
            lgw_random_bytes(&r, sizeof(r));
            pause = cap / 2 + (int64_t)(r % (uint32_t)(cap / 2 + 1));
        }
        if (lgw_mono_ms() + pause >= until_ms || !wait(opaque, pause))
            break;
    }
    lgw_otlp_http_log_failure(h, status, why, n);
    return false;
}
