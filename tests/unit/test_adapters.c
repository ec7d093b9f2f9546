/* test_adapters.c - every provider adapter's translation, as data: one case per JSON file in
 * tests/data/<provider>/ (the format is in tests/data/README.md), each its own cmocka test named
 * "<provider>/<file>". A case runs the real adapter on a real transfer loop against a scripted upstream
 * (tests/support/upstream.h) and compares what went upstream and what the client got with the file.
 *
 * Run one provider or one case: an argument is a cmocka name filter ('gemini/' followed by '*', or
 * anthropic/error_529_overloaded.json). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/log.h"
#include "providers/http.h"
#include "providers/http_loop.h"
#include "routing/catalog.h"
#include "tests/support/json_match.h"
#include "tests/support/prov_call.h"
#include "tests/support/upstream.h"

/* A call that has not ended after this long is a failure (a case's own waits are milliseconds). */
#define CALL_TIMEOUT_MS 10000
#define DEADLINE_MS 30000

static struct lgw_upstream *up;
static struct lgw_http_loop *loop;

/* ---- reading a case ---- */

/* Fails with the case's name unless every key of obj is one of the NULL-terminated allowed: a typo in a case
 * file must not silently test nothing. */
static void check_keys(const char *where, json_t *obj, const char *const *allowed, struct lgw_buf *errs)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, key) == 0;
        if (!known)
            lgw_buf_printf(errs, "%s: unknown key \"%s\"\n", where, key);
    }
}

/* Settings a case may change ("config"); "{upstream}" in a string is the scripted server's URL. */
#define INT_SETTING(f) {#f, offsetof(struct lgw_config, f), 0}
#define STR_SETTING(f) {#f, offsetof(struct lgw_config, f), sizeof(((struct lgw_config *)0)->f)}
static const struct {
    const char *name;
    size_t off, size; /* size 0: an int64_t */
} settings[] = {
    INT_SETTING(provider_max_retries), INT_SETTING(provider_timeout_ms), STR_SETTING(compat_base_url),
    STR_SETTING(compat_auth),          STR_SETTING(compat_api_key),      STR_SETTING(compat_api_version),
    STR_SETTING(compat_models),
};

static void apply_config(struct lgw_config *cfg, json_t *over, struct lgw_buf *errs)
{
    const char *key;
    json_t *v;
    json_object_foreach(over, key, v) {
        size_t i = 0;
        while (i < sizeof(settings) / sizeof(settings[0]) && strcmp(settings[i].name, key))
            i++;
        if (i == sizeof(settings) / sizeof(settings[0])) {
            lgw_buf_printf(errs, "config: \"%s\" is not a setting cases may change\n", key);
            continue;
        }
        char *field = (char *)cfg + settings[i].off;
        if (settings[i].size == 0 && json_is_integer(v)) {
            *(int64_t *)(void *)field = json_integer_value(v);
        } else if (settings[i].size && json_is_string(v)) {
            struct lgw_buf text;
            lgw_buf_init(&text, 0);
            const char *s = json_string_value(v), *mark;
            while ((mark = strstr(s, "{upstream}"))) {
                lgw_buf_append(&text, s, (size_t)(mark - s));
                lgw_buf_puts(&text, lgw_upstream_url(up));
                s = mark + strlen("{upstream}");
            }
            lgw_buf_puts(&text, s);
            lgw_strlcpy(field, text.ptr, settings[i].size);
            lgw_buf_cleanup(&text);
        } else {
            lgw_buf_printf(errs, "config: \"%s\" has the wrong type\n", key);
        }
    }
}

/* One piece of a scripted stream: a string is raw bytes; {"event","data"} is an SSE event ("data" an object,
 * written as compact JSON, or a string, written as is); {"raw"} raw bytes; any of them with "delay_ms". */
static void add_piece(struct lgw_upstream_answer *a, json_t *p, struct lgw_buf *errs)
{
    static const char *const keys[] = {"event", "data", "raw", "delay_ms", NULL};
    if (json_is_string(p)) {
        lgw_upstream_answer_piece(a, json_string_value(p), json_string_length(p), 0);
        return;
    }
    check_keys("answer.stream[]", p, keys, errs);
    int delay = (int)json_integer_value(json_object_get(p, "delay_ms"));
    json_t *raw = json_object_get(p, "raw"), *event = json_object_get(p, "event"), *data = json_object_get(p, "data");
    if (json_is_string(raw)) {
        lgw_upstream_answer_piece(a, json_string_value(raw), json_string_length(raw), delay);
        return;
    }
    struct lgw_buf sse;
    lgw_buf_init(&sse, 0);
    if (json_is_string(event))
        lgw_buf_printf(&sse, "event: %s\n", json_string_value(event));
    char *text = json_is_string(data) ? NULL : json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    lgw_buf_printf(&sse, "data: %s\n\n", text ? text : json_string_value(data));
    free(text);
    lgw_upstream_answer_piece(a, sse.ptr, sse.len, delay);
    lgw_buf_cleanup(&sse);
}

static struct lgw_upstream_answer *read_answer(json_t *ans, struct lgw_buf *errs)
{
    static const char *const keys[] = {"status", "headers", "body", "body_text", "stream", "cut", "delay_ms", NULL};
    check_keys("answer", ans, keys, errs);
    struct lgw_upstream_answer *a = lgw_upstream_answer_new((int)json_integer_value(json_object_get(ans, "status")));
    const char *name;
    json_t *v;
    json_object_foreach(json_object_get(ans, "headers"), name, v)
        lgw_upstream_answer_header(a, name, json_string_value(v) ? json_string_value(v) : "");
    json_t *body = json_object_get(ans, "body"), *text = json_object_get(ans, "body_text");
    if (body) {
        char *dumped = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        lgw_upstream_answer_body(a, dumped, strlen(dumped));
        free(dumped);
    } else if (json_is_string(text)) {
        lgw_upstream_answer_body(a, json_string_value(text), json_string_length(text));
    }
    size_t i;
    json_array_foreach(json_object_get(ans, "stream"), i, v)
        add_piece(a, v, errs);
    if (json_is_true(json_object_get(ans, "cut")))
        lgw_upstream_answer_cut(a);
    lgw_upstream_answer_delay(a, (int)json_integer_value(json_object_get(ans, "delay_ms")));
    return a;
}

/* ---- comparing ---- */

static void compare(struct lgw_buf *errs, const char *what, json_t *expected, json_t *actual)
{
    char why[1024];
    if (lgw_json_match(expected, actual, why, sizeof(why)))
        return;
    char *got = json_dumps(actual, JSON_INDENT(2) | JSON_ENCODE_ANY);
    lgw_buf_printf(errs, "%s differs %s\n  the whole %s was:\n%s\n", what, why, what, got ? got : "(nothing)");
    free(got);
}

static void compare_upstream(struct lgw_buf *errs, json_t *want)
{
    static const char *const keys[] = {"method", "path", "headers", "body", NULL};
    check_keys("upstream", want, keys, errs);
    size_t n = lgw_upstream_count(up);
    if (n != 1) {
        lgw_buf_printf(errs, "the adapter made %zu upstream requests, not 1\n", n);
        if (n == 0)
            return;
    }
    const struct lgw_upstream_request *req = lgw_upstream_request(up, 0);
    const char *method = json_string_value(json_object_get(want, "method"));
    if (strcmp(req->method, method ? method : "POST"))
        lgw_buf_printf(errs, "upstream method: expected %s, got %s\n", method ? method : "POST", req->method);
    const char *path = json_string_value(json_object_get(want, "path"));
    if (!path || strcmp(req->target, path))
        lgw_buf_printf(errs, "upstream path: expected %s, got %s\n", path ? path : "(none given)", req->target);
    const char *name;
    json_t *v;
    json_object_foreach(json_object_get(want, "headers"), name, v) {
        const char *got = lgw_upstream_header(req, name);
        if (json_is_null(v) && got)
            lgw_buf_printf(errs, "upstream header %s: expected none, got \"%s\"\n", name, got);
        else if (json_is_string(v) && (!got || strcmp(got, json_string_value(v))))
            lgw_buf_printf(errs, "upstream header %s: expected \"%s\", got %s%s%s\n", name, json_string_value(v),
                           got ? "\"" : "", got ? got : "none", got ? "\"" : "");
    }
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
    if (!body)
        lgw_buf_printf(errs, "upstream body is not JSON (%s): %.200s\n", jerr.text, req->body);
    else
        compare(errs, "upstream body", json_object_get(want, "body"), body);
    json_decref(body);
}

static void compare_usage(struct lgw_buf *errs, json_t *want, const struct lgw_usage *got)
{
    static const char *const keys[] = {"input_tokens", "output_tokens", "cached_input_tokens",
                                       "cache_write_input_tokens", NULL};
    check_keys("expect.usage", want, keys, errs);
    const struct {
        const char *name;
        int64_t value;
    } fields[] = {{"input_tokens", got->input_tokens},
                  {"output_tokens", got->output_tokens},
                  {"cached_input_tokens", got->cached_input_tokens},
                  {"cache_write_input_tokens", got->cache_write_input_tokens}};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        int64_t expected = json_integer_value(json_object_get(want, fields[i].name)); /* absent: 0 */
        if (expected != fields[i].value)
            lgw_buf_printf(errs, "usage.%s: expected %lld, got %lld\n", fields[i].name, (long long)expected,
                           (long long)fields[i].value);
    }
}

static void compare_result(struct lgw_buf *errs, json_t *want, struct lgw_test_call *tc)
{
    static const char *const keys[] = {"status", "body", "chunks", "usage", "model", NULL};
    check_keys("expect", want, keys, errs);
    const struct lgw_prov_result *res = &tc->call.res;
    int status = (int)json_integer_value(json_object_get(want, "status"));
    if (res->status != status)
        lgw_buf_printf(errs, "status: expected %d, got %d\n", status, res->status);
    if (!json_object_get(want, "body"))
        lgw_buf_puts(errs, "expect.body is missing (null for a stream that ended well)\n");
    json_t *none = json_null();
    compare(errs, "client body", json_object_get(want, "body"), res->body ? res->body : none);
    json_t *chunks = json_object_get(want, "chunks");
    if (tc->call.stream && !chunks)
        lgw_buf_puts(errs, "expect.chunks is missing: the client asked for a stream\n");
    else if (!tc->call.stream && chunks)
        lgw_buf_puts(errs, "expect.chunks is given, but the call was not streamed\n");
    else if (chunks)
        compare(errs, "chunks", chunks, tc->chunks);
    compare_usage(errs, json_object_get(want, "usage"), &res->usage);
    json_t *model = json_object_get(want, "model");
    if (model && strcmp(json_string_value(model) ? json_string_value(model) : "", res->model))
        lgw_buf_printf(errs, "model: expected \"%s\", got \"%s\"\n", json_string_value(model), res->model);
}

/* ---- running a case ---- */

static void abort_task(void *opaque)
{
    lgw_prov_call_abort(&((struct lgw_test_call *)opaque)->call);
}

/* The model the case names: the provider's chat or embeddings model with that id in the catalog. */
static const struct lgw_model_info *find_model(struct lgw_catalog *cat, const char *provider, const char *id)
{
    char name[256];
    snprintf(name, sizeof(name), "%s/%s", provider, id ? id : "");
    const struct lgw_model_info *info = NULL;
    if (lgw_catalog_resolve(cat, name, LGW_JOB_CHAT, &info, 1) == 1 ||
        lgw_catalog_resolve(cat, name, LGW_JOB_EMBEDDINGS, &info, 1) == 1)
        return info;
    return NULL;
}

static void run_case(const char *path, const char *provider, struct lgw_buf *errs)
{
    static const char *const keys[] = {"why", "model", "config", "request", "upstream", "answer", "expect", NULL};
    json_error_t jerr;
    json_t *c = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!c) {
        lgw_buf_printf(errs, "line %d: %s\n", jerr.line, jerr.text);
        return;
    }
    check_keys("case", c, keys, errs);
    if (!json_is_string(json_object_get(c, "why")) || json_string_length(json_object_get(c, "why")) == 0)
        lgw_buf_puts(errs, "\"why\" is missing: say what rule or quirk the case pins, and its source\n");
    struct lgw_config cfg;
    lgw_test_config(&cfg, lgw_upstream_url(up));
    apply_config(&cfg, json_object_get(c, "config"), errs);
    struct lgw_catalog *cat = NULL;
    /* "model" names a catalog model, or is an operator's override entry for one the built-in catalog does
     * not have (any more): it is loaded as an overrides file would be. */
    json_t *model_spec = json_object_get(c, "model");
    char overrides[64] = "";
    if (json_is_object(model_spec)) {
        snprintf(overrides, sizeof(overrides), "/tmp/llmgw-adapter-model-XXXXXX");
        int fd = mkstemp(overrides);
        json_t *file = json_pack("{s:[O]}", "models", model_spec);
        json_object_set_new(json_array_get(json_object_get(file, "models"), 0), "provider", json_string(provider));
        if (fd < 0 || json_dumpfd(file, fd, 0)) {
            lgw_buf_puts(errs, "cannot write the case's model as a catalog override\n");
            overrides[0] = '\0';
        }
        json_decref(file);
        if (fd >= 0)
            close(fd);
        lgw_strlcpy(cfg.catalog_overrides, overrides, sizeof(cfg.catalog_overrides));
    }
    const char *model_id = json_is_object(model_spec) ? json_string_value(json_object_get(model_spec, "id"))
                                                      : json_string_value(model_spec);
    int loaded = errs->len ? -1
                           : (lgw_config_parse_compat_models(&cfg, cfg.compat_models, errs) ||
                              lgw_catalog_load(&cfg, &cat, errs));
    if (overrides[0])
        unlink(overrides);
    if (loaded)
        goto out;
    const struct lgw_model_info *model = model_id ? find_model(cat, provider, model_id) : NULL;
    if (!model) {
        lgw_buf_printf(errs, "model \"%s\" is not one of %s's in the catalog\n", model_id ? model_id : "?",
                       provider);
        goto out;
    }
    if (errs->len) /* the case itself is wrong: say so before running anything */
        goto out;
    lgw_upstream_reset(up);
    lgw_upstream_push(up, read_answer(json_object_get(c, "answer"), errs));
    struct lgw_test_call *tc = lgw_calloc(1, sizeof(*tc));
    lgw_test_call_init(tc, &cfg, model, loop, json_deep_copy(json_object_get(c, "request")), DEADLINE_MS);
    int rc = lgw_test_call_start(tc);
    if (rc) {
        lgw_buf_printf(errs, "the adapter refused the call: %s\n", lgw_err_name(rc));
    } else if (!lgw_test_call_wait(tc, CALL_TIMEOUT_MS)) {
        lgw_buf_printf(errs, "the call did not end within %d ms\n", CALL_TIMEOUT_MS);
        lgw_http_loop_post(loop, 0, abort_task, tc);
        if (!lgw_test_call_wait(tc, CALL_TIMEOUT_MS)) {
            lgw_buf_puts(errs, "and did not end when aborted either (its state is leaked)\n");
            tc = NULL;
        }
    } else {
        compare_upstream(errs, json_object_get(c, "upstream"));
        compare_result(errs, json_object_get(c, "expect"), tc);
        if (lgw_upstream_unused(up))
            lgw_buf_puts(errs, "the scripted answer was never asked for\n");
    }
    if (tc) {
        lgw_test_call_cleanup(tc);
        free(tc);
    }
out:
    lgw_catalog_unref(cat);
    lgw_config_cleanup(&cfg);
    json_decref(c);
}

/* A cmocka test: its state is the case file's path; the provider is the folder it is in. */
static void test_case(void **state)
{
    const char *path = *state;
    char provider[64];
    const char *end = strrchr(path, '/'), *start = end;
    while (start > path && start[-1] != '/')
        start--;
    snprintf(provider, sizeof(provider), "%.*s", (int)(end - start), start);
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    run_case(path, provider, &errs);
    if (errs.len) {
        print_error("%s:\n%s", path, errs.ptr);
        lgw_buf_cleanup(&errs);
        fail();
    }
    lgw_buf_cleanup(&errs);
}

/* ---- finding the cases ---- */

struct found {
    char **paths, **names;
    size_t n;
};

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted entries of dir whose names end in suffix ("" for sub-folders: every name not starting with a
 * dot). */
static size_t list_dir(const char *dir, const char *suffix, bool dirs, char ***out)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    *out = NULL;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name), slen = strlen(suffix);
        if (e->d_name[0] == '.' || len < slen || strcmp(e->d_name + len - slen, suffix))
            continue;
        if (dirs != (e->d_type == DT_DIR))
            continue;
        *out = lgw_realloc(*out, (n + 1) * sizeof(**out));
        (*out)[n++] = lgw_strdup(e->d_name);
    }
    closedir(d);
    qsort(*out, n, sizeof(**out), by_name);
    return n;
}

static void find_cases(const char *root, struct found *f)
{
    char **providers, **files;
    size_t np = list_dir(root, "", true, &providers);
    for (size_t p = 0; p < np; p++) {
        struct lgw_buf dirbuf;
        lgw_buf_init(&dirbuf, 0);
        lgw_buf_printf(&dirbuf, "%s/%s", root, providers[p]);
        const char *dir = dirbuf.ptr;
        size_t nf = list_dir(dir, ".json", false, &files);
        for (size_t i = 0; i < nf; i++) {
            f->paths = lgw_realloc(f->paths, (f->n + 1) * sizeof(*f->paths));
            f->names = lgw_realloc(f->names, (f->n + 1) * sizeof(*f->names));
            size_t plen = strlen(dir) + strlen(files[i]) + 2, nlen = strlen(providers[p]) + strlen(files[i]) + 2;
            f->paths[f->n] = lgw_malloc(plen);
            f->names[f->n] = lgw_malloc(nlen);
            snprintf(f->paths[f->n], plen, "%s/%s", dir, files[i]);
            snprintf(f->names[f->n], nlen, "%s/%s", providers[p], files[i]);
            f->n++;
            free(files[i]);
        }
        free(files);
        lgw_buf_cleanup(&dirbuf);
        free(providers[p]);
    }
    free(providers);
}

static int setup(void **state)
{
    (void)state;
    return lgw_test_calls_setup(&up, &loop);
}

static int teardown(void **state)
{
    (void)state;
    lgw_test_calls_teardown(up, loop);
    return 0;
}

int main(int argc, char **argv)
{
    const char *src = getenv("LLMGW_SOURCE_DIR");
    char root[1024];
    snprintf(root, sizeof(root), "%s/tests/data", src ? src : ".");
    struct found f = {0};
    find_cases(root, &f);
    if (f.n == 0) {
        fprintf(stderr, "test_adapters: no cases under %s (set LLMGW_SOURCE_DIR to the source tree)\n", root);
        return 1;
    }
    struct CMUnitTest *tests = lgw_calloc(f.n, sizeof(*tests));
    for (size_t i = 0; i < f.n; i++)
        tests[i] = (struct CMUnitTest){.name = f.names[i], .test_func = test_case, .initial_state = f.paths[i]};
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    int failed = _cmocka_run_group_tests("adapters", tests, f.n, setup, teardown);
    for (size_t i = 0; i < f.n; i++) {
        free(f.paths[i]);
        free(f.names[i]);
    }
    free(f.paths);
    free(f.names);
    free(tests);
    return failed;
}
