/* test_tenancy.c - the tenancy directory: identify over config keys and admin-API records (unknown, revoked,
 * expired, a record winning over the config), the model allow-list (a key's over its tenant's), the config's
 * key attributes and the topic records' validation, the tenant change callback, RFC 3339 times, and the
 * limiter's run-time per-tenant setter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/errors.h"
#include "limits/limits.h"
#include "tenancy/record.h"
#include "tenancy/tenancy.h"

struct key {
    char key[128], hex[65], id[LGW_KEY_ID_LEN], bearer[160];
};

static void new_key(struct key *k)
{
    unsigned char sha[32];
    assert_int_equal(lgw_auth_new_key(k->key, sizeof(k->key), k->hex), 0);
    for (int i = 0; i < 32; i++)
        sha[i] = (unsigned char)(lgw_hex_digit(k->hex[2 * i]) << 4 | lgw_hex_digit(k->hex[2 * i + 1]));
    lgw_config_key_id(sha, k->id);
    snprintf(k->bearer, sizeof(k->bearer), "Bearer %s", k->key);
}

/* A config with tenant keys a (acme) and b (beta) and the "tenants" object given as JSON text (with %s for
 * a's id, used up to twice). */
static void config(struct lgw_config *cfg, const struct key *a, const struct key *b, const char *tenants_fmt)
{
    lgw_config_defaults(cfg);
    char spec[200], tenants[2048];
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    snprintf(spec, sizeof(spec), "acme:%s,beta:%s", a->hex, b->hex);
    assert_int_equal(lgw_config_parse_keys(cfg, spec, &errs), 0);
    lgw_buf_cleanup(&errs);
    if (tenants_fmt) {
        snprintf(tenants, sizeof(tenants), tenants_fmt, a->id, a->id);
        json_error_t jerr;
        cfg->tenants = json_loads(tenants, 0, &jerr);
        assert_non_null(cfg->tenants);
    }
}

static struct lgw_tenancy *directory(const struct lgw_config *cfg)
{
    struct lgw_tenancy *t;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    int rc = lgw_tenancy_new(cfg, &t, &errs);
    if (rc)
        fail_msg("lgw_tenancy_new: %s", errs.ptr ? errs.ptr : "");
    lgw_buf_cleanup(&errs);
    return t;
}

static int apply(struct lgw_tenancy *t, const char *key, const char *value)
{
    return lgw_tenancy_apply(t, key, strlen(key), value, value ? strlen(value) : 0);
}

/* A key record as the admin API writes it. extra: more members ("" for none), starting with a comma. */
static void key_record(char *out, size_t outsz, const struct key *k, const char *tenant, bool with_hash,
                       const char *extra)
{
    snprintf(out, outsz,
             "{\"v\":1,\"kind\":\"key\",\"id\":\"%s\",\"tenant\":\"%s\"%s%s%s,\"rev\":\"r1\",\"updated_ms\":1,"
             "\"updated_by\":\"ops\"%s}",
             k->id, tenant, with_hash ? ",\"sha256\":\"" : "", with_hash ? k->hex : "", with_hash ? "\"" : "", extra);
}

static void test_identify_config_keys(void **state)
{
    (void)state;
    struct key a, b, c;
    new_key(&a);
    new_key(&b);
    new_key(&c);
    struct lgw_config cfg;
    config(&cfg, &a, &b, "{\"acme\": {\"keys\": {\"%s\": {\"name\": \"ci\"}}}}");
    struct lgw_tenancy *t = directory(&cfg);
    struct lgw_tenancy_id who;
    char msg[256];
    assert_int_equal(lgw_tenancy_identify(t, a.bearer, &who, msg, sizeof(msg)), 0);
    assert_string_equal(who.tenant, "acme");
    assert_string_equal(who.key_id, a.id);
    assert_string_equal(who.name, "ci");
    assert_int_equal(lgw_tenancy_identify(t, b.bearer, &who, msg, sizeof(msg)), 0);
    assert_string_equal(who.tenant, "beta");
    /* unknown, missing, malformed: 401 with no reason (nothing to say about a key we do not know) */
    assert_int_equal(lgw_tenancy_identify(t, c.bearer, &who, msg, sizeof(msg)), LGW_ERR(UNAUTHORIZED));
    assert_string_equal(msg, "");
    assert_int_equal(lgw_tenancy_identify(t, NULL, &who, msg, sizeof(msg)), LGW_ERR(UNAUTHORIZED));
    assert_int_equal(lgw_tenancy_identify(t, "Basic abc", &who, msg, sizeof(msg)), LGW_ERR(UNAUTHORIZED));
    lgw_tenancy_free(t);
    lgw_config_cleanup(&cfg);
}

static void test_api_keys_revoked_and_expired(void **state)
{
    (void)state;
    struct key a, b, n;
    new_key(&a);
    new_key(&b);
    new_key(&n);
    struct lgw_config cfg;
    config(&cfg, &a, &b, NULL);
    struct lgw_tenancy *t = directory(&cfg);
    struct lgw_tenancy_id who;
    char msg[256], rec[1024], rkey[64];
    /* a key made through the API works once its record is applied */
    snprintf(rkey, sizeof(rkey), "key:%s", n.id);
    assert_int_equal(lgw_tenancy_identify(t, n.bearer, &who, msg, sizeof(msg)), LGW_ERR(UNAUTHORIZED));
    key_record(rec, sizeof(rec), &n, "gamma", true, ",\"name\":\"bot\",\"revoked\":false");
    assert_int_equal(apply(t, rkey, rec), 0);
    assert_int_equal(lgw_tenancy_identify(t, n.bearer, &who, msg, sizeof(msg)), 0);
    assert_string_equal(who.tenant, "gamma");
    assert_true(lgw_tenancy_has_rev(t, rkey, "r1"));
    assert_false(lgw_tenancy_has_rev(t, rkey, "r2"));
    /* revoked: 401 naming the key id, never the secret */
    key_record(rec, sizeof(rec), &n, "gamma", true, ",\"revoked\":true");
    assert_int_equal(apply(t, rkey, rec), 0);
    assert_int_equal(lgw_tenancy_identify(t, n.bearer, &who, msg, sizeof(msg)), LGW_ERR(UNAUTHORIZED));
    char want[128];
    snprintf(want, sizeof(want), "API key %s was revoked.", n.id);
    assert_string_equal(msg, want);
    assert_null(strstr(msg, n.key));
    /* expired */
    key_record(rec, sizeof(rec), &n, "gamma", true, ",\"expires_ms\":1000");
    assert_int_equal(apply(t, rkey, rec), 0);
    assert_int_equal(lgw_tenancy_identify(t, n.bearer, &who, msg, sizeof(msg)), LGW_ERR(UNAUTHORIZED));
    snprintf(want, sizeof(want), "API key %s expired at 1970-01-01T00:00:01Z.", n.id);
    assert_string_equal(msg, want);
    /* not yet expired */
    char extra[64];
    snprintf(extra, sizeof(extra), ",\"expires_ms\":%lld", (long long)(lgw_wall_ms() + 3600000));
    key_record(rec, sizeof(rec), &n, "gamma", true, extra);
    assert_int_equal(apply(t, rkey, rec), 0);
    assert_int_equal(lgw_tenancy_identify(t, n.bearer, &who, msg, sizeof(msg)), 0);
    /* a tombstone removes the record: an API-only key is gone */
    assert_int_equal(apply(t, rkey, NULL), 0);
    assert_int_equal(lgw_tenancy_identify(t, n.bearer, &who, msg, sizeof(msg)), LGW_ERR(UNAUTHORIZED));
    assert_string_equal(msg, "");
    lgw_tenancy_free(t);
    lgw_config_cleanup(&cfg);
}

static void test_record_wins_over_config(void **state)
{
    (void)state;
    struct key a, b;
    new_key(&a);
    new_key(&b);
    struct lgw_config cfg;
    config(&cfg, &a, &b,
           "{\"acme\": {\"allow_models\": [\"gpt-4o-mini\"], \"rpm\": 10,"
           " \"keys\": {\"%s\": {\"name\": \"ci\", \"expires\": \"2999-01-01T00:00:00Z\"}}}}");
    struct lgw_tenancy *t = directory(&cfg);
    struct lgw_tenancy_id who;
    char msg[256], rec[1024], rkey[64];
    snprintf(rkey, sizeof(rkey), "key:%s", a.id);
    /* a record without the hash (a config key revoked through the API) revokes the config key */
    key_record(rec, sizeof(rec), &a, "acme", false, ",\"revoked\":true,\"name\":\"ci\"");
    assert_int_equal(apply(t, rkey, rec), 0);
    assert_int_equal(lgw_tenancy_identify(t, a.bearer, &who, msg, sizeof(msg)), LGW_ERR(UNAUTHORIZED));
    json_t *view = lgw_tenancy_key_json(t, a.id);
    assert_true(json_is_true(json_object_get(view, "revoked")));
    assert_string_equal(json_string_value(json_object_get(view, "source")), "config+api");
    /* the record's members replace the config's: no expiry in the record, none in effect */
    assert_true(json_is_null(json_object_get(view, "expires")));
    assert_null(json_object_get(view, "sha256"));
    json_decref(view);
    /* the tombstone gives the config back */
    assert_int_equal(apply(t, rkey, NULL), 0);
    assert_int_equal(lgw_tenancy_identify(t, a.bearer, &who, msg, sizeof(msg)), 0);
    view = lgw_tenancy_key_json(t, a.id);
    assert_string_equal(json_string_value(json_object_get(view, "expires")), "2999-01-01T00:00:00Z");
    json_decref(view);
    /* tenant settings: the record's limits and allow-list replace the config's; null clears */
    assert_int_equal(apply(t, "tenant:acme",
                           "{\"v\":1,\"kind\":\"tenant\",\"tenant\":\"acme\",\"rev\":\"r2\",\"updated_ms\":1,"
                           "\"updated_by\":\"ops\",\"limits\":{\"rpm\":3},\"allow_models\":null}"),
                     0);
    json_t *ts = lgw_tenancy_tenant_json(t, "acme");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(ts, "limits"), "rpm")), 3);
    assert_null(json_object_get(ts, "allow_models"));
    json_decref(ts);
    assert_int_equal(lgw_tenancy_check_model(t, "acme", a.id, "gpt-4o", msg, sizeof(msg)), 0);
    json_t *list = lgw_tenancy_keys_json(t, "acme");
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    lgw_tenancy_free(t);
    lgw_config_cleanup(&cfg);
}

static void test_allow_list(void **state)
{
    (void)state;
    struct key a, b;
    new_key(&a);
    new_key(&b);
    struct lgw_config cfg;
    config(&cfg, &a, &b,
           "{\"acme\": {\"allow_models\": [\"gpt-4o-mini\", \"auto\"],"
           " \"keys\": {\"%s\": {\"name\": \"ci\", \"allow_models\": [\"gpt-4o\"]}}},"
           " \"beta\": {\"allow_models\": [\"gpt-4o-mini\", \"auto\"]}}");
    struct lgw_tenancy *t = directory(&cfg);
    char msg[256];
    /* the key's list wins over its tenant's */
    assert_int_equal(lgw_tenancy_check_model(t, "acme", a.id, "gpt-4o", msg, sizeof(msg)), 0);
    assert_int_equal(lgw_tenancy_check_model(t, "acme", a.id, "gpt-4o-mini", msg, sizeof(msg)), LGW_ERR(FORBIDDEN));
    char want[160];
    snprintf(want, sizeof(want), "Key %s (ci) may not use model gpt-4o-mini; allowed: gpt-4o.", a.id);
    assert_string_equal(msg, want);
    /* a key without a list: its tenant's; names are checked as sent ("auto" is a name) */
    assert_int_equal(lgw_tenancy_check_model(t, "beta", b.id, "auto", msg, sizeof(msg)), 0);
    assert_int_equal(lgw_tenancy_check_model(t, "beta", b.id, "gpt-4o", msg, sizeof(msg)), LGW_ERR(FORBIDDEN));
    assert_string_equal(msg, "Tenant beta may not use model gpt-4o; allowed: gpt-4o-mini, auto.");
    /* a tenant without a list: anything */
    assert_int_equal(lgw_tenancy_check_model(t, "gamma", "", "whatever", msg, sizeof(msg)), 0);
    lgw_tenancy_free(t);
    lgw_config_cleanup(&cfg);
}

static void test_config_errors(void **state)
{
    (void)state;
    struct key a, b;
    new_key(&a);
    new_key(&b);
    static const struct {
        const char *tenants, *want;
    } cases[] = {
        {"{\"acme\": {\"keys\": {\"%s\": {\"expires\": \"2027-01-01\"}}}}", "expires must be an RFC 3339 time"},
        {"{\"acme\": {\"keys\": {\"%s\": {\"colour\": \"red\"}}}}", "Unknown field 'colour'"},
        {"{\"acme\": {\"allow_models\": \"gpt-4o\"}}", "allow_models must be an array"},
        {"{\"beta\": {\"keys\": {\"%s\": {\"name\": \"x\"}}}}", "tenant_keys gives this key to tenant acme"},
        {"{\"acme\": {\"keys\": [1]}}", "acme.keys must be an object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lgw_config cfg;
        config(&cfg, &a, &b, cases[i].tenants);
        struct lgw_tenancy *t = NULL;
        struct lgw_buf errs;
        lgw_buf_init(&errs, 0);
        assert_int_equal(lgw_tenancy_new(&cfg, &t, &errs), LGW_ERR(CONFIG));
        if (!errs.ptr || !strstr(errs.ptr, cases[i].want))
            fail_msg("case %zu: want \"%s\" in \"%s\"", i, cases[i].want, errs.ptr ? errs.ptr : "");
        assert_null(t);
        lgw_buf_cleanup(&errs);
        lgw_config_cleanup(&cfg);
    }
}

static void test_records_validated(void **state)
{
    (void)state;
    struct key a, b;
    new_key(&a);
    new_key(&b);
    struct lgw_config cfg;
    config(&cfg, &a, &b, NULL);
    struct lgw_tenancy *t = directory(&cfg);
    char rec[1024], rkey[64];
    snprintf(rkey, sizeof(rkey), "key:%s", a.id);
    /* refused: not JSON, another id than the record key's, a bad hash, no version, a bad kind or key */
    assert_int_equal(apply(t, rkey, "nope"), LGW_ERR(INVALID));
    key_record(rec, sizeof(rec), &b, "acme", true, "");
    assert_int_equal(apply(t, rkey, rec), LGW_ERR(INVALID));
    assert_int_equal(apply(t, rkey, "{\"v\":1,\"kind\":\"key\",\"id\":\"x\",\"tenant\":\"acme\",\"sha256\":\"zz\"}"),
                     LGW_ERR(INVALID));
    assert_int_equal(apply(t, "tenant:acme", "{\"kind\":\"tenant\",\"tenant\":\"acme\"}"), LGW_ERR(INVALID));
    assert_int_equal(apply(t, "tenant:acme", "{\"v\":1,\"kind\":\"key\",\"tenant\":\"acme\"}"), LGW_ERR(INVALID));
    assert_int_equal(apply(t, "tenant:acme", "{\"v\":1,\"kind\":\"tenant\",\"tenant\":\"beta\"}"), LGW_ERR(INVALID));
    assert_int_equal(apply(t, "tenant:acme", "{\"v\":1,\"kind\":\"tenant\",\"tenant\":\"acme\",\"limits\":3}"),
                     LGW_ERR(INVALID));
    assert_int_equal(apply(t, "other:x", "{\"v\":1,\"tenant\":\"acme\"}"), LGW_ERR(INVALID));
    assert_int_equal(apply(t, "k", NULL), LGW_ERR(INVALID)); /* a tombstone under a key of neither kind */
    assert_int_equal(apply(t, "key:", NULL), LGW_ERR(INVALID));
    /* and nothing changed */
    assert_null(lgw_tenancy_record(t, rkey));
    assert_null(lgw_tenancy_record(t, "tenant:acme"));
    lgw_tenancy_free(t);
    lgw_config_cleanup(&cfg);
}

struct changes {
    int n, nkeys;
    char tenant[64], key_id[LGW_KEY_ID_LEN];
    long long rpm;
    bool revoked;
};

static void change_cb(void *opaque, const char *tenant, const char *key_id, const json_t *settings)
{
    struct changes *c = opaque;
    if (key_id) {
        c->nkeys++;
        snprintf(c->key_id, sizeof(c->key_id), "%s", key_id);
        snprintf(c->tenant, sizeof(c->tenant), "%s", tenant);
        c->revoked = json_is_true(json_object_get(settings, "revoked"));
        return;
    }
    c->n++;
    snprintf(c->tenant, sizeof(c->tenant), "%s", tenant);
    c->rpm = json_integer_value(json_object_get(json_object_get(settings, "limits"), "rpm"));
}

static void test_change_callback(void **state)
{
    (void)state;
    struct key a, b;
    new_key(&a);
    new_key(&b);
    struct lgw_config cfg;
    config(&cfg, &a, &b, NULL);
    struct lgw_tenancy *t = directory(&cfg);
    struct changes c = {0};
    lgw_tenancy_on_change(t, change_cb, &c);
    char rec[512], rkey[64];
    snprintf(rkey, sizeof(rkey), "key:%s", a.id);
    key_record(rec, sizeof(rec), &a, "acme", true, ",\"revoked\":true");
    assert_int_equal(apply(t, rkey, rec), 0);
    assert_int_equal(c.n, 0); /* a key: no tenant settings changed, the key's own view */
    assert_int_equal(c.nkeys, 1);
    assert_string_equal(c.key_id, a.id);
    assert_string_equal(c.tenant, "acme");
    assert_true(c.revoked);
    assert_int_equal(apply(t, "tenant:acme",
                           "{\"v\":1,\"kind\":\"tenant\",\"tenant\":\"acme\",\"rev\":\"r\",\"updated_ms\":1,"
                           "\"updated_by\":\"ops\",\"limits\":{\"rpm\":7}}"),
                     0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.tenant, "acme");
    assert_int_equal(c.rpm, 7);
    lgw_tenancy_free(t);
    lgw_config_cleanup(&cfg);
}

/* A replay at start: thousands of records, each a small step (an index, not a scan or a rebuild). */
static void test_many_records(void **state)
{
    (void)state;
    struct key a, b;
    new_key(&a);
    new_key(&b);
    struct lgw_config cfg;
    config(&cfg, &a, &b, NULL);
    struct lgw_tenancy *t = directory(&cfg);
    enum { N = 4000 };
    static struct key keys[N];
    char rec[1024], rkey[64];
    int64_t start = lgw_mono_ms();
    for (int i = 0; i < N; i++) {
        new_key(&keys[i]);
        snprintf(rkey, sizeof(rkey), "key:%s", keys[i].id);
        key_record(rec, sizeof(rec), &keys[i], i % 2 ? "acme" : "beta", true, ",\"allow_models\":[\"echo\"]");
        assert_int_equal(apply(t, rkey, rec), 0);
    }
    /* revoke every other one, then drop a few records entirely (entries move; the index must follow) */
    for (int i = 0; i < N; i += 2) {
        snprintf(rkey, sizeof(rkey), "key:%s", keys[i].id);
        key_record(rec, sizeof(rec), &keys[i], "beta", true, ",\"revoked\":true");
        assert_int_equal(apply(t, rkey, rec), 0);
    }
    for (int i = 0; i < 10; i++) {
        snprintf(rkey, sizeof(rkey), "key:%s", keys[i].id);
        assert_int_equal(apply(t, rkey, NULL), 0);
    }
    int64_t took = lgw_mono_ms() - start;
    if (took > 5000)
        fail_msg("%d records took %lld ms", N + N / 2 + 10, (long long)took);
    struct lgw_tenancy_id who;
    char msg[160];
    for (int i = 0; i < N; i++) {
        int rc = lgw_tenancy_identify(t, keys[i].bearer, &who, msg, sizeof(msg));
        if (i < 10)
            assert_int_equal(rc, LGW_ERR(UNAUTHORIZED));
        else if (i % 2 == 0)
            assert_int_equal(rc, LGW_ERR(UNAUTHORIZED));
        else {
            assert_int_equal(rc, 0);
            assert_string_equal(who.key_id, keys[i].id);
        }
    }
    assert_int_equal(lgw_tenancy_identify(t, a.bearer, &who, msg, sizeof(msg)), 0);
    json_t *list = lgw_tenancy_keys_json(t, NULL);
    assert_int_equal(json_array_size(list), N - 10 + 2);
    json_decref(list);
    lgw_tenancy_free(t);
    lgw_config_cleanup(&cfg);
}

struct hammer {
    struct lgw_tenancy *t;
    const struct key *k;
    atomic_bool stop;
    atomic_int ok, refused;
};

static void *identify_loop(void *arg)
{
    struct hammer *h = arg;
    struct lgw_tenancy_id who;
    char msg[160];
    while (!atomic_load(&h->stop)) {
        if (lgw_tenancy_identify(h->t, h->k->bearer, &who, msg, sizeof(msg)) == 0)
            atomic_fetch_add(&h->ok, 1);
        else
            atomic_fetch_add(&h->refused, 1);
        lgw_tenancy_check_model(h->t, "acme", h->k->id, "echo", msg, sizeof(msg));
    }
    return NULL;
}

/* HTTP threads identify while the reader applies records (run under TSan in the unit-tsan stage). */
static void test_identify_while_applying(void **state)
{
    (void)state;
    struct key a, b, n;
    new_key(&a);
    new_key(&b);
    new_key(&n);
    struct lgw_config cfg;
    config(&cfg, &a, &b, NULL);
    struct hammer h = {.t = directory(&cfg), .k = &n};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, identify_loop, &h), 0);
    char rec[512], rkey[64];
    snprintf(rkey, sizeof(rkey), "key:%s", n.id);
    for (int i = 0; i < 300; i++) {
        key_record(rec, sizeof(rec), &n, "acme", true, i % 2 ? ",\"revoked\":true" : ",\"allow_models\":[\"echo\"]");
        assert_int_equal(apply(h.t, rkey, rec), 0);
    }
    assert_int_equal(apply(h.t, rkey, NULL), 0);
    /* On a busy machine the threads may not have run yet: let each side have had its turn. */
    while (atomic_load(&h.ok) + atomic_load(&h.refused) < 100)
        sched_yield();
    atomic_store(&h.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_true(atomic_load(&h.ok) + atomic_load(&h.refused) > 0);
    lgw_tenancy_free(h.t);
    lgw_config_cleanup(&cfg);
}

static void test_times(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(lgw_record_parse_time("2027-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 1798761600000LL);
    assert_int_equal(lgw_record_parse_time("2027-01-01T01:30:00.250+01:30", &ms), 0);
    assert_int_equal(ms, 1798761600250LL);
    assert_int_equal(lgw_record_parse_time("2027-01-01T00:00:00", &ms), LGW_ERR(INVALID)); /* no zone */
    assert_int_equal(lgw_record_parse_time("2027-13-01T00:00:00Z", &ms), LGW_ERR(INVALID));
    assert_int_equal(lgw_record_parse_time("tomorrow", &ms), LGW_ERR(INVALID));
    assert_int_equal(lgw_record_parse_time("2027-01-01T00:00:00Zjunk", &ms), LGW_ERR(INVALID));
    char out[32];
    lgw_record_format_time(1798761600000LL, out, sizeof(out));
    assert_string_equal(out, "2027-01-01T00:00:00Z");
}

static void test_limits_runtime_setter(void **state)
{
    (void)state;
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    struct lgw_limits *l;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    assert_int_equal(lgw_limits_new(&cfg, NULL, NULL, &l, &errs), 0);
    assert_false(lgw_limits_enabled(l));
    struct lgw_limits_request rq = {.id = "r0", .tenant = "acme", .tokens = 1, .hold_ms = 1000};
    struct lgw_limits_ticket tk;
    struct lgw_limits_state st;
    char msg[256], id[16];
    /* a bad shape is refused and changes nothing */
    json_t *bad = json_pack("{s:s}", "rpm", "many");
    assert_int_equal(lgw_limits_set_tenant(l, "acme", bad, &errs), LGW_ERR(CONFIG));
    assert_int_equal(lgw_limits_check_tenant("acme", bad, &errs), LGW_ERR(CONFIG));
    json_decref(bad);
    assert_false(lgw_limits_enabled(l));
    /* rpm 2 for acme: the third request of the window is refused; beta is not limited */
    json_t *two = json_pack("{s:i}", "rpm", 2);
    assert_int_equal(lgw_limits_set_tenant(l, "acme", two, &errs), 0);
    json_decref(two);
    assert_true(lgw_limits_enabled(l));
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "a%d", i);
        rq.id = id;
        int rc = lgw_limits_admit(l, &rq, &tk, &st, msg, sizeof(msg));
        assert_int_equal(rc, i < 2 ? 0 : LGW_ERR(RATE_LIMITED));
        lgw_limits_finish(l, &tk, -1);
    }
    rq.tenant = "beta";
    rq.id = "b0";
    assert_int_equal(lgw_limits_admit(l, &rq, &tk, &st, msg, sizeof(msg)), 0);
    lgw_limits_finish(l, &tk, -1);
    /* raised at run time: admitted again at once */
    json_t *ten = json_pack("{s:i}", "rpm", 10);
    assert_int_equal(lgw_limits_set_tenant(l, "acme", ten, &errs), 0);
    json_decref(ten);
    rq.tenant = "acme";
    rq.id = "a9";
    assert_int_equal(lgw_limits_admit(l, &rq, &tk, &st, msg, sizeof(msg)), 0);
    assert_int_equal(st.req_limit, 10);
    lgw_limits_finish(l, &tk, -1);
    /* NULL: back to the defaults (none) */
    assert_int_equal(lgw_limits_set_tenant(l, "acme", NULL, &errs), 0);
    rq.id = "a10";
    assert_int_equal(lgw_limits_admit(l, &rq, &tk, &st, msg, sizeof(msg)), 0);
    assert_false(st.has_requests);
    lgw_limits_finish(l, &tk, -1);
    lgw_buf_cleanup(&errs);
    lgw_limits_free(l);
    lgw_config_cleanup(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identify_config_keys), cmocka_unit_test(test_api_keys_revoked_and_expired),
        cmocka_unit_test(test_record_wins_over_config), cmocka_unit_test(test_allow_list),
        cmocka_unit_test(test_config_errors), cmocka_unit_test(test_records_validated),
        cmocka_unit_test(test_change_callback), cmocka_unit_test(test_many_records), cmocka_unit_test(test_identify_while_applying),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_limits_runtime_setter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
