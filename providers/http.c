/* http.c - libcurl wrapper for provider calls (see http.h). */
#include "providers/http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "common/errors.h"
#include "common/log.h"

/* Backoff: 250 ms doubling up to 8 s, the shape the OpenAI SDK uses. */
#define BACKOFF_BASE_MS 250
#define BACKOFF_CAP_MS 8000

int lgw_http_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? LGW_OK : LGW_ERR(INTERNAL);
}

bool lgw_http_url_allowed(const char *url)
{
    if (strncasecmp(url, "https://", 8) == 0)
        return url[8] != '\0';
    if (strncasecmp(url, "http://", 7) != 0)
        return false;
    const char *host = url + 7;
    static const char *loopback[] = {"127.", "localhost:", "localhost/", "[::1]"};
    for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++)
        if (strncasecmp(host, loopback[i], strlen(loopback[i])) == 0)
            return true;
    return strcasecmp(host, "localhost") == 0;
}

static size_t write_cb(char *data, size_t size, size_t n, void *userdata)
{
    struct lgw_http_transfer *t = userdata;
    size_t len = size * n;
    if (t->resp->status == 0)
        curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->resp->status);
    bool ok = t->resp->status >= 200 && t->resp->status < 300;
    if (ok && t->req->on_data) {
        int rc = t->req->on_data(t->req->opaque, data, len);
        if (rc == LGW_HTTP_PAUSE)
            return CURL_WRITEFUNC_PAUSE; /* the bytes come again once the transfer is resumed */
        if (rc) {
            t->resp->data_rc = rc;
            t->rc = rc;
            return 0; /* aborts the transfer */
        }
        return len;
    }
    if (lgw_buf_append(&t->resp->body, data, len)) {
        t->rc = LGW_ERR(TOO_LARGE);
        return 0;
    }
    return len;
}

static size_t header_cb(char *data, size_t size, size_t n, void *userdata)
{
    struct lgw_http_transfer *t = userdata;
    size_t len = size * n;
    /* retry-after-ms (OpenAI) wins over retry-after (seconds; an HTTP date is treated as absent) */
    if (len > 15 && strncasecmp(data, "retry-after-ms:", 15) == 0) {
        t->resp->retry_after_ms = strtoll(data + 15, NULL, 10);
    } else if (len > 15 && strncasecmp(data, "x-should-retry:", 15) == 0) {
        const char *v = data + 15;
        while (*v == ' ' || *v == '\t')
            v++;
        if (strncasecmp(v, "true", 4) == 0)
            t->resp->should_retry = 1;
        else if (strncasecmp(v, "false", 5) == 0)
            t->resp->should_retry = 0;
    } else if (len > 12 && strncasecmp(data, "retry-after:", 12) == 0 && t->resp->retry_after_ms < 0) {
        char *end;
        double secs = strtod(data + 12, &end);
        if (end != data + 12 && secs >= 0 && secs < 86400)
            t->resp->retry_after_ms = (int64_t)(secs * 1000);
    }
    return len;
}

void lgw_http_resp_init(struct lgw_http_resp *resp, size_t max_bytes)
{
    memset(resp, 0, sizeof(*resp));
    lgw_buf_init(&resp->body, max_bytes);
    resp->retry_after_ms = -1;
    resp->should_retry = -1;
}

int lgw_http_transfer_setup(struct lgw_http_transfer *t, CURL *curl, const struct lgw_http_req *req,
                            struct lgw_http_resp *resp)
{
    lgw_http_resp_init(resp, req->max_bytes);
    if (!lgw_http_url_allowed(req->url))
        return LGW_ERR(CONFIG);
    *t = (struct lgw_http_transfer){req, resp, curl, 0};
    curl_easy_setopt(curl, CURLOPT_URL, req->url);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, req->headers);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM-based DNS timeouts */
    curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, ""); /* gzip when the provider offers it */
    /* A stream's events are small and a worker holds thousands of streams: with a 1 KiB receive buffer
     * instead of libcurl's 16 KiB an open streamed transfer costs 12.2 KB instead of 15.7 KB (2,000 open
     * streams to bench_fakeprov). Whole answers keep the default: they are read once, quickly. */
    if (req->on_data)
        curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 1024L);
    return LGW_OK;
}

void lgw_http_transfer_progress(struct lgw_http_transfer *t)
{
    /* Sent means the provider got the whole body: from then on it may have run (and billed) the request,
     * whether or not an answer comes back. An answer's status proves it too. */
    curl_off_t up = 0;
    curl_easy_getinfo(t->curl, CURLINFO_SIZE_UPLOAD_T, &up);
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    t->resp->sent = status > 0 || (t->req->body_len > 0 && (size_t)up >= t->req->body_len);
}

int lgw_http_transfer_result(struct lgw_http_transfer *t, CURLcode cc)
{
    struct lgw_http_resp *resp = t->resp;
    lgw_http_transfer_progress(t);
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_easy_getinfo(t->curl, CURLINFO_NUM_CONNECTS, &resp->new_connections);
    if (t->rc)
        return t->rc;
    switch (cc) {
    case CURLE_OK:
        return LGW_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return LGW_ERR(TIMEOUT);
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
        return LGW_ERR(UNAVAILABLE);
    default:
        /* e.g. a truncated chunked body: the answer is broken, which is a bad gateway */
        LGW_WARN("http", "provider call failed: %s", curl_easy_strerror(cc));
        return resp->status ? LGW_ERR(PROVIDER) : LGW_ERR(UNAVAILABLE);
    }
}

void lgw_http_resp_cleanup(struct lgw_http_resp *resp)
{
    lgw_buf_cleanup(&resp->body);
}

bool lgw_http_retryable(const struct lgw_http_resp *resp)
{
    if (resp->should_retry >= 0)
        return resp->should_retry == 1;
    return lgw_err_retriable(lgw_err_from_status((int)resp->status));
}

int64_t lgw_http_backoff_ms(int attempt, int64_t retry_after_ms)
{
    if (retry_after_ms >= 0)
        return retry_after_ms;
    int64_t ceiling = BACKOFF_BASE_MS;
    for (int i = 0; i < attempt && ceiling < BACKOFF_CAP_MS; i++)
        ceiling *= 2;
    if (ceiling > BACKOFF_CAP_MS)
        ceiling = BACKOFF_CAP_MS;
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (uint32_t)attempt * 2654435761u; /* no entropy: any spread beats none */
    return (int64_t)(r % (uint32_t)ceiling);
}
