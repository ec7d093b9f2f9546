/* input.c - reading and validating an OpenAI Batch input file, every line before anything is sent (see
 * submit.h). The input keeps its bytes and where each valid line is; the sender parses a line again when it
 * sends it, so a 200 MB input never exists as a JSON tree all at once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/submit.h"
#include "batch/submit_int.h"
#include "common/buf.h"
#include "common/errors.h"
#include "common/validate.h"
#include "routing/strategy.h"

#define CHAT_URL "/v1/chat/completions"
#define EMBEDDINGS_URL "/v1/embeddings"

/* One custom_id seen, for the duplicate check (sorted by id, then line). */
struct seen {
    const char *custom_id; /* points into the input's copy of the custom ids */
    int64_t line;
    size_t valid; /* index into in->lines */
};

static void add_error(struct lgw_batch_input *in, int64_t line, const char *code, const char *param,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void add_error(struct lgw_batch_input *in, int64_t line, const char *code, const char *param, const char *fmt,
                      ...)
{
    in->nerrors_total++;
    if (in->nerrors == LGW_BATCH_ERRORS_MAX)
        return;
    if (in->nerrors == in->errors_alloc) {
        in->errors_alloc = in->errors_alloc ? in->errors_alloc * 2 : 16;
        in->errors = lgw_realloc(in->errors, in->errors_alloc * sizeof(*in->errors));
    }
    struct lgw_batch_line_error *e = &in->errors[in->nerrors++];
    memset(e, 0, sizeof(*e));
    e->line = line;
    lgw_strlcpy(e->code, code, sizeof(e->code));
    lgw_strlcpy(e->param, param ? param : "", sizeof(e->param));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

enum lgw_job_kind lgw_batch_endpoint_kind(const char *endpoint)
{
    return strcmp(endpoint, EMBEDDINGS_URL) == 0 ? LGW_JOB_EMBEDDINGS : LGW_JOB_CHAT;
}

static bool known_url(const char *url)
{
    return strcmp(url, CHAT_URL) == 0 || strcmp(url, EMBEDDINGS_URL) == 0;
}

/* Checks one request body as the ingress would (common/validate.h), plus what a batch line cannot do. */
static int check_body(json_t *body, enum lgw_job_kind kind, char *msg, size_t msgsz, char *param, size_t paramsz)
{
    char m[256], p[48];
    p[0] = '\0';
    int rc = kind == LGW_JOB_EMBEDDINGS ? lgw_validate_embeddings(body, m, sizeof(m), p, sizeof(p))
                                        : lgw_validate_chat(body, m, sizeof(m), p, sizeof(p));
    if (rc == 0 && json_is_true(json_object_get(body, "stream"))) {
        /* A batch answer is collected later, whole; nobody is there to read a stream. */
        snprintf(m, sizeof(m), "Streaming is not available in a batch: remove 'stream' or set it to false.");
        snprintf(p, sizeof(p), "stream");
        rc = LGW_ERR(UNSUPPORTED);
    }
    json_t *ext = json_object_get(body, "llmgw");
    json_t *strategy = json_object_get(ext, "strategy");
    enum lgw_strategy s;
    if (rc == 0 && strategy && (!json_is_string(strategy) || lgw_strategy_parse(json_string_value(strategy), &s))) {
        snprintf(m, sizeof(m), "Unknown routing strategy: use cost, latency, capability or round-robin.");
        snprintf(p, sizeof(p), "llmgw.strategy");
        rc = LGW_ERR(BAD_STRATEGY);
    }
    if (rc) {
        snprintf(msg, msgsz, "%s", m);
        if (p[0])
            snprintf(param, paramsz, "body.%s", p);
        else
            snprintf(param, paramsz, "body");
    }
    return rc;
}

/* Validates line number lineno (text[0..len), no newline). Returns true when the line is valid, with its
 * custom_id copied into *custom_id (owned by the caller). */
static bool check_line(struct lgw_batch_input *in, int64_t lineno, const char *text, size_t len, char **custom_id)
{
    char msg[256], param[64] = "";
    json_t *root = NULL;
    bool ok = false;
    if ((int64_t)len > in->max_line_bytes) {
        add_error(in, lineno, "line_too_large", NULL,
                  "Line %lld is %zu bytes long; a line may have at most %lld bytes (batch_max_line_bytes).",
                  (long long)lineno, len, (long long)in->max_line_bytes);
        return false;
    }
    if (lgw_validate_parse(text, len, in->max_depth, &root, msg, sizeof(msg))) {
        add_error(in, lineno, "invalid_json", NULL, "Line %lld is not a JSON object: %s", (long long)lineno, msg);
        return false;
    }
    json_t *cid = json_object_get(root, "custom_id"), *method = json_object_get(root, "method");
    json_t *url = json_object_get(root, "url"), *body = json_object_get(root, "body");
    if (!cid) {
        add_error(in, lineno, "missing_custom_id", "custom_id", "Line %lld has no 'custom_id'.", (long long)lineno);
        goto out;
    }
    if (!json_is_string(cid) || json_string_length(cid) == 0 || json_string_length(cid) >= LGW_CUSTOM_ID_MAX) {
        add_error(in, lineno, "invalid_custom_id", "custom_id",
                  "Line %lld: 'custom_id' must be a string of 1 to %d bytes.", (long long)lineno,
                  LGW_CUSTOM_ID_MAX - 1);
        goto out;
    }
    if (!json_is_string(method) || strcmp(json_string_value(method), "POST") != 0) {
        add_error(in, lineno, "invalid_method", "method", "Line %lld: 'method' must be \"POST\".", (long long)lineno);
        goto out;
    }
    if (!json_is_string(url) || !known_url(json_string_value(url))) {
        add_error(in, lineno, "invalid_url", "url",
                  "Line %lld: 'url' must be \"" CHAT_URL "\" or \"" EMBEDDINGS_URL "\".", (long long)lineno);
        goto out;
    }
    if (!in->endpoint[0])
        lgw_strlcpy(in->endpoint, json_string_value(url), sizeof(in->endpoint));
    else if (strcmp(json_string_value(url), in->endpoint) != 0) {
        add_error(in, lineno, "mismatched_url", "url",
                  "Line %lld: 'url' is \"%s\" but the batch's endpoint is \"%s\"; every line of a batch must use it.",
                  (long long)lineno, json_string_value(url), in->endpoint);
        goto out;
    }
    if (!json_is_object(body)) {
        add_error(in, lineno, "invalid_body", "body", "Line %lld: 'body' must be a JSON object (the request).",
                  (long long)lineno);
        goto out;
    }
    if (check_body(body, lgw_batch_endpoint_kind(in->endpoint), msg, sizeof(msg), param, sizeof(param))) {
        add_error(in, lineno, "invalid_body", param, "Line %lld: %s", (long long)lineno, msg);
        goto out;
    }
    *custom_id = lgw_strdup(json_string_value(cid));
    ok = true;
out:
    json_decref(root);
    return ok;
}

static int by_custom_id(const void *a, const void *b)
{
    const struct seen *x = a, *y = b;
    int c = strcmp(x->custom_id, y->custom_id);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

static int by_line(const void *a, const void *b)
{
    const struct lgw_batch_line_error *x = a, *y = b;
    return (x->line > y->line) - (x->line < y->line);
}

/* Refuses every later line that repeats an earlier line's custom_id (output lines are told apart by it), and
 * keeps the rest in input order. */
static void drop_duplicates(struct lgw_batch_input *in, char **custom_ids)
{
    if (in->nlines < 2)
        return;
    struct seen *s = lgw_calloc(in->nlines, sizeof(*s));
    bool *dup = lgw_calloc(in->nlines, sizeof(*dup));
    for (size_t i = 0; i < in->nlines; i++)
        s[i] = (struct seen){custom_ids[i], in->lines[i].line, i};
    qsort(s, in->nlines, sizeof(*s), by_custom_id);
    for (size_t i = 1; i < in->nlines; i++) {
        size_t first = i;
        while (first > 0 && strcmp(s[first - 1].custom_id, s[i].custom_id) == 0)
            first--;
        if (first == i)
            continue;
        dup[s[i].valid] = true;
        add_error(in, s[i].line, "duplicate_custom_id", "custom_id",
                  "Line %lld: 'custom_id' \"%.64s\" is already used on line %lld; each must be unique in the batch.",
                  (long long)s[i].line, s[i].custom_id, (long long)s[first].line);
    }
    size_t kept = 0;
    for (size_t i = 0; i < in->nlines; i++)
        if (!dup[i])
            in->lines[kept++] = in->lines[i];
    in->nlines = kept;
    free(s);
    free(dup);
}

/* Splits in->data into lines and checks each. */
static void check_all(struct lgw_batch_input *in)
{
    char **custom_ids = NULL;
    size_t ids_alloc = 0;
    int64_t lineno = 0;
    bool too_many = false;
    for (size_t pos = 0; pos < in->len;) {
        const char *start = in->data + pos;
        const char *nl = memchr(start, '\n', in->len - pos);
        size_t len = nl ? (size_t)(nl - start) : in->len - pos;
        pos += len + (nl ? 1 : 0);
        lineno++;
        size_t text_len = len;
        if (text_len && start[text_len - 1] == '\r')
            text_len--;
        size_t blank = 0;
        while (blank < text_len && (start[blank] == ' ' || start[blank] == '\t'))
            blank++;
        if (blank == text_len)
            continue; /* blank lines (a trailing newline) are no request */
        if (in->nlines == (size_t)in->max_lines) {
            if (!too_many)
                add_error(in, lineno, "too_many_lines", NULL,
                          "Line %lld is past the most requests one batch may have (%lld, batch_max_lines).",
                          (long long)lineno, (long long)in->max_lines);
            too_many = true;
            continue;
        }
        char *cid = NULL;
        if (!check_line(in, lineno, start, text_len, &cid))
            continue;
        if (in->nlines == in->lines_alloc) {
            in->lines_alloc = in->lines_alloc ? in->lines_alloc * 2 : 64;
            in->lines = lgw_realloc(in->lines, in->lines_alloc * sizeof(*in->lines));
        }
        if (in->nlines == ids_alloc) {
            ids_alloc = ids_alloc ? ids_alloc * 2 : 64;
            custom_ids = lgw_realloc(custom_ids, ids_alloc * sizeof(*custom_ids));
        }
        custom_ids[in->nlines] = cid;
        in->lines[in->nlines++] = (struct lgw_batch_line){(size_t)(start - in->data), text_len, lineno};
    }
    size_t n = in->nlines;
    drop_duplicates(in, custom_ids);
    for (size_t i = 0; i < n; i++)
        free(custom_ids[i]);
    free(custom_ids);
    if (lineno == 0 || (in->nlines == 0 && in->nerrors_total == 0))
        add_error(in, 0, "empty_file", NULL, "The input has no requests.");
    if (in->nerrors > 1)
        qsort(in->errors, in->nerrors, sizeof(*in->errors), by_line);
}

static struct lgw_batch_input *input_new(const struct lgw_config *cfg, const char *endpoint)
{
    struct lgw_batch_input *in = lgw_calloc(1, sizeof(*in));
    in->max_line_bytes = cfg->batch_max_line_bytes;
    in->max_lines = cfg->batch_max_lines;
    in->max_depth = (int)cfg->max_json_depth;
    if (endpoint)
        lgw_strlcpy(in->endpoint, endpoint, sizeof(in->endpoint));
    return in;
}

int lgw_batch_input_parse(const struct lgw_config *cfg, const char *data, size_t len, const char *endpoint,
                          struct lgw_batch_input **out)
{
    *out = NULL;
    if (endpoint && !known_url(endpoint))
        return LGW_ERR(INVALID);
    struct lgw_batch_input *in = input_new(cfg, endpoint);
    if ((int64_t)len > cfg->batch_max_input_bytes) {
        add_error(in, 0, "input_too_large", NULL, "The input is %zu bytes; a batch may have at most %lld bytes "
                  "(batch_max_input_bytes).", len, (long long)cfg->batch_max_input_bytes);
        *out = in;
        return LGW_OK;
    }
    in->data = lgw_malloc(len + 1);
    if (len)
        memcpy(in->data, data, len);
    in->data[len] = '\0';
    in->len = len;
    check_all(in);
    *out = in;
    return LGW_OK;
}

int lgw_batch_input_read(const struct lgw_config *cfg, FILE *f, const char *endpoint, struct lgw_batch_input **out)
{
    *out = NULL;
    if (endpoint && !known_url(endpoint))
        return LGW_ERR(INVALID);
    /* Reads at most one byte past the limit: enough to know the input is too large. */
    size_t cap = 1 << 16, len = 0, max = (size_t)cfg->batch_max_input_bytes;
    char *data = lgw_malloc(cap);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            data = lgw_realloc(data, cap);
        }
        size_t want = cap - len;
        if (want > max + 1 - len)
            want = max + 1 - len;
        size_t got = fread(data + len, 1, want, f);
        len += got;
        if (got == 0 || len > max)
            break;
    }
    if (ferror(f)) {
        free(data);
        return LGW_ERR(INTERNAL);
    }
    int rc = lgw_batch_input_parse(cfg, data, len, endpoint, out);
    free(data);
    return rc;
}

void lgw_batch_input_free(struct lgw_batch_input *in)
{
    if (!in)
        return;
    free(in->data);
    free(in->lines);
    free(in->errors);
    free(in);
}

int64_t lgw_batch_input_lines(const struct lgw_batch_input *in) { return (int64_t)in->nlines; }
const char *lgw_batch_input_endpoint(const struct lgw_batch_input *in) { return in->endpoint; }
int64_t lgw_batch_input_error_count(const struct lgw_batch_input *in) { return in->nerrors_total; }
size_t lgw_batch_input_errors_kept(const struct lgw_batch_input *in) { return in->nerrors; }

const struct lgw_batch_line_error *lgw_batch_input_error(const struct lgw_batch_input *in, size_t i)
{
    return i < in->nerrors ? &in->errors[i] : NULL;
}
