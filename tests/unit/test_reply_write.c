/* test_reply_write.c - lgw_reply_encode prints the reply envelope field by field (common/json_out.c) where it used
 * to build a jansson tree and dump it. Held to that tree encoder (tests/support/reply_encode_tree.c): for every
 * reply, random ones included, the two texts load as the same JSON, and a field the tree left out (a string
 * json_string refuses) is left out. Also the writer's own edges: escapes, integers at their limits, the buffer's
 * cap, nesting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/errors.h"
#include "common/json_out.h"
#include "common/json_scan.h"
#include "common/json_write.h"
#include "tests/support/reply_encode_tree.h"
#include "tests/support/rng.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    return lgw_test_rng_next(&rng_state);
}

/* Encodes r both ways after a prefix, and checks: the prefix kept, both texts load, and as the same JSON. */
static void same_as_tree(const struct lgw_reply *r)
{
    struct lgw_buf hand, tree;
    lgw_buf_init(&hand, 0);
    lgw_buf_init(&tree, 0);
    assert_int_equal(lgw_buf_append(&hand, "prefix", 6), 0); /* encoders append */
    assert_int_equal(lgw_reply_encode(r, &hand), 0);
    assert_int_equal(lgw_test_reply_encode_tree(r, &tree), 0);
    assert_memory_equal(hand.ptr, "prefix", 6);
    json_error_t err;
    json_t *a = json_loadb(hand.ptr + 6, hand.len - 6, JSON_REJECT_DUPLICATES, &err);
    if (!a)
        fail_msg("the written reply does not load (%s at %d): %s", err.text, err.position, hand.ptr + 6);
    json_t *b = json_loadb(tree.ptr, tree.len, 0, NULL);
    assert_non_null(b);
    if (!json_equal(a, b))
        fail_msg("written and tree replies differ:\n%s\n%s", hand.ptr + 6, tree.ptr);
    assert_int_equal(lgw_json_check(hand.ptr + 6, hand.len - 6, LGW_JSON_DEPTH_MAX, NULL), 0);
    json_decref(a);
    json_decref(b);
    lgw_buf_cleanup(&hand);
    lgw_buf_cleanup(&tree);
}

static void fill(struct lgw_reply *r)
{
    memset(r, 0, sizeof(*r));
    strcpy(r->id, "01a24dd2-8963-7e26-8ed2-d1464e05bc62");
    strcpy(r->run_id, "01a24dd2-8963-7e26-8ed2-d1464e05bc63");
    strcpy(r->tenant, "acme");
    r->seq = 3;
    r->status = 200;
    r->body = json_pack("{s:s, s:[{s:i, s:{s:s}}]}", "object", "chat.completion.chunk", "choices", "index", 0,
                        "delta", "content", "Hello \"world\"\n");
    strcpy(r->provider, "openai");
    strcpy(r->model, "gpt-4o-mini");
    strcpy(r->strategy, "cost");
    strcpy(r->route, "openai/gpt-4o-mini=200");
    r->route_attempts = 1;
    r->usage.input_tokens = 24;
    r->usage.output_tokens = 7;
    r->cost_nusd = 37800;
    r->cost_known = true;
    r->latency_ms = 412;
}

static void test_a_reply_as_the_worker_writes_it(void **state)
{
    (void)state;
    struct lgw_reply r;
    fill(&r);
    same_as_tree(&r);
    /* Every optional part on. */
    r.final = true;
    r.cache_hit = true;
    r.cost_estimated = true;
    r.simulated = true;
    r.retry_after_ms = 1500;
    strcpy(r.batch.id, "batch_0123456789abcdef0123456789abcdef");
    r.batch.index = 41;
    strcpy(r.batch.custom_id, "line-42");
    r.more_chunks = json_pack("[{s:i}, {s:i}]", "n", 1, "n", 2);
    same_as_tree(&r);
    /* And read back by the reader every role uses (more_chunks only in a chunk, not the final reply). */
    r.final = false;
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    assert_int_equal(lgw_reply_encode(&r, &out), 0);
    struct lgw_reply back;
    char why[256];
    assert_int_equal(lgw_reply_decode(out.ptr, out.len, &back, why, sizeof(why)), 0);
    assert_string_equal(back.id, r.id);
    assert_int_equal(back.retry_after_ms, 1500);
    assert_int_equal(back.batch.index, 41);
    assert_true(json_equal(back.body, r.body));
    assert_true(json_equal(back.more_chunks, r.more_chunks));
    lgw_reply_cleanup(&back);
    lgw_buf_cleanup(&out);
    /* A body of NULL is written as null, as the tree wrote it. */
    json_decref(r.body);
    r.body = NULL;
    same_as_tree(&r);
    lgw_reply_cleanup(&r);
}

/* Strings the writer must escape, and ones json_string refuses (the field is then left out, as the tree did). */
static void test_strings_escaped_or_left_out(void **state)
{
    (void)state;
    static const char *const names[] = {
        "quote \" backslash \\ slash /",
        "\x01\x02\x07\b\t\n\v\f\r\x1b\x1f\x7f",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
        "bad \xff", "lone \x80", "cut \xc3", "surrogate \xed\xa0\x80", "overlong \xc0\xaf", "past \xf4\x90\x80\x80", "",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct lgw_reply r;
        fill(&r);
        strcpy(r.provider, names[i]);
        strcpy(r.model, names[i]);
        strcpy(r.route, names[i]);
        strcpy(r.batch.id, "batch_1");
        strcpy(r.batch.custom_id, names[i]);
        same_as_tree(&r);
        struct lgw_buf out;
        lgw_buf_init(&out, 0);
        assert_int_equal(lgw_reply_encode(&r, &out), 0);
        json_t *o = json_loads(out.ptr, 0, NULL);
        bool ok = lgw_json_utf8_ok(names[i], strlen(names[i]));
        assert_int_equal(json_object_get(o, "provider") != NULL, ok);
        assert_int_equal(json_object_get(o, "batch") != NULL, ok);
        if (ok)
            assert_string_equal(json_string_value(json_object_get(o, "model")), names[i]);
        json_decref(o);
        lgw_buf_cleanup(&out);
        lgw_reply_cleanup(&r);
    }
    /* An id that is not UTF-8 is left out too: the reader then refuses the reply (missing "id"), as before. */
    struct lgw_reply r;
    fill(&r);
    strcpy(r.id, "id-\xfe");
    same_as_tree(&r);
    lgw_reply_cleanup(&r);
}

static void test_integers_at_their_limits(void **state)
{
    (void)state;
    static const int64_t v[] = {0, 1, -1, 9, 10, -10, 999999, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN,
                                INT64_MIN + 1, INT64_MAX - 1};
    char want[32];
    struct lgw_buf b;
    lgw_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        lgw_buf_reset(&b);
        assert_int_equal(lgw_buf_int64(&b, v[i]), 0);
        snprintf(want, sizeof(want), "%" PRId64, v[i]);
        assert_string_equal(b.ptr, want);
    }
    for (int i = 0; i < 100000; i++) {
        int64_t x = (int64_t)(rnd() >> (rnd() % 64));
        x = rnd() & 1 ? -x : x;
        lgw_buf_reset(&b);
        assert_int_equal(lgw_buf_int64(&b, x), 0);
        snprintf(want, sizeof(want), "%" PRId64, x);
        assert_string_equal(b.ptr, want);
    }
    lgw_buf_cleanup(&b);
    struct lgw_reply r;
    fill(&r);
    r.cost_nusd = INT64_MAX;
    r.latency_ms = INT64_MIN;
    r.seq = INT32_MIN;
    r.usage.cached_input_tokens = INT64_MIN;
    r.batch.index = INT64_MAX;
    strcpy(r.batch.id, "b");
    same_as_tree(&r);
    lgw_reply_cleanup(&r);
}

/* At the buffer's cap the encoder fails as the tree's dump did, and leaves the buffer as it found it. */
static void test_the_cap(void **state)
{
    (void)state;
    struct lgw_reply r;
    fill(&r);
    struct lgw_buf full;
    lgw_buf_init(&full, 0);
    assert_int_equal(lgw_reply_encode(&r, &full), 0);
    for (size_t max = 1; max < full.len + 8; max++) {
        struct lgw_buf b;
        lgw_buf_init(&b, max);
        assert_int_equal(lgw_buf_append(&b, "x", 1), 0);
        int rc = lgw_reply_encode(&r, &b);
        if (max >= full.len + 1) {
            assert_int_equal(rc, 0);
            assert_memory_equal(b.ptr + 1, full.ptr, full.len);
        } else {
            assert_int_equal(rc, LGW_ERR(TOO_LARGE));
            assert_int_equal(b.len, 1);
            assert_string_equal(b.ptr, "x");
        }
        lgw_buf_cleanup(&b);
    }
    lgw_buf_cleanup(&full);
    lgw_reply_cleanup(&r);
}

static void test_the_writer_nests_and_refuses_misuse(void **state)
{
    (void)state;
    struct lgw_buf b;
    lgw_buf_init(&b, 0);
    struct lgw_jout w;
    lgw_jout_begin(&w, &b);
    lgw_jout_open(&w, "a");
    lgw_jout_open(&w, "b");
    lgw_jout_int(&w, "c", 1);
    lgw_jout_close(&w);
    lgw_jout_bool(&w, "d", false);
    lgw_jout_json(&w, "e", NULL);
    assert_int_equal(lgw_jout_end(&w), 0); /* closes "a" and the outer object */
    assert_string_equal(b.ptr, "{\"a\":{\"b\":{\"c\":1},\"d\":false,\"e\":null}}");
    /* Deeper than LGW_JOUT_DEPTH_MAX: refused, the buffer cut back. */
    lgw_buf_reset(&b);
    lgw_jout_begin(&w, &b);
    for (int i = 0; i < LGW_JOUT_DEPTH_MAX + 2; i++)
        lgw_jout_open(&w, "k");
    assert_int_equal(lgw_jout_end(&w), LGW_ERR(INTERNAL));
    assert_int_equal(b.len, 0);
    /* A close with nothing open. */
    lgw_jout_begin(&w, &b);
    lgw_jout_close(&w);
    assert_int_equal(lgw_jout_end(&w), LGW_ERR(INTERNAL));
    assert_int_equal(b.len, 0);
    /* A value jansson will not dump: one that holds itself. */
    lgw_jout_begin(&w, &b);
    json_t *arr = json_array(), *obj = json_object();
    json_object_set(obj, "a", arr);
    json_array_append(arr, obj);
    lgw_jout_json(&w, "x", arr);
    assert_int_not_equal(lgw_jout_end(&w), 0);
    assert_int_equal(b.len, 0);
    json_array_clear(arr);
    json_decref(arr);
    json_decref(obj);
    lgw_buf_cleanup(&b);
}

/* A random string for a field of size sz: ASCII, escapes, well-formed UTF-8 and, now and then, a bad byte. */
static void random_string(char *dst, size_t sz)
{
    static const char *const pieces[] = {"a", "Z", "0", "-", "/", " ", "\"", "\\", "\n", "\x01", "\x1f", "\x7f",
                                         "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xff", "\x80", "\xc3",
                                         "\xed\xa0\x80"};
    size_t n = 0, want = rnd() % (sz < 24 ? sz : 24);
    bool clean = rnd() % 4 != 0; /* most strings are well-formed */
    size_t npieces = sizeof(pieces) / sizeof(pieces[0]) - (clean ? 4 : 0);
    while (n < want) {
        const char *p = pieces[rnd() % npieces];
        size_t l = strlen(p);
        if (n + l >= sz)
            break;
        memcpy(dst + n, p, l);
        n += l;
    }
    dst[n] = '\0';
}

static json_t *random_value(int depth)
{
    char s[32];
    switch (rnd() % (depth > 3 ? 4 : 6)) {
    case 0:
        return json_integer((json_int_t)rnd());
    case 1:
        return json_boolean(rnd() & 1);
    case 2:
        return json_null();
    case 3: {
        random_string(s, sizeof(s));
        json_t *v = json_string(s); /* NULL when s is not UTF-8 */
        return v ? v : json_string("x");
    }
    case 4: {
        json_t *a = json_array();
        for (int i = (int)(rnd() % 4); i > 0; i--)
            json_array_append_new(a, random_value(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (int i = (int)(rnd() % 4); i > 0; i--) {
            random_string(s, 12);
            json_object_set_new(o, s, random_value(depth + 1)); /* a key that is not UTF-8 is not set */
        }
        return o;
    }
    }
}

static void test_random_replies_as_the_tree_wrote_them(void **state)
{
    (void)state;
    for (int i = 0; i < 20000; i++) {
        struct lgw_reply r;
        memset(&r, 0, sizeof(r));
        random_string(r.id, sizeof(r.id));
        if (rnd() & 1)
            random_string(r.run_id, sizeof(r.run_id));
        if (rnd() & 1)
            random_string(r.tenant, sizeof(r.tenant));
        r.seq = (int)rnd();
        r.final = rnd() & 1;
        r.status = (int)(rnd() % 700);
        if (rnd() % 8)
            r.body = random_value(0);
        if (rnd() % 3 == 0) {
            r.more_chunks = json_array();
            for (int k = (int)(rnd() % 3); k > 0; k--)
                json_array_append_new(r.more_chunks, random_value(1));
        }
        random_string(r.provider, sizeof(r.provider));
        random_string(r.model, sizeof(r.model));
        r.cache_hit = rnd() % 3 == 0;
        r.cache_bypass = !r.cache_hit && rnd() % 3 == 0;
        r.usage.input_tokens = (int64_t)rnd();
        r.usage.output_tokens = (int64_t)(rnd() >> (rnd() % 64));
        r.usage.cached_input_tokens = (int64_t)(rnd() % 1000);
        r.cost_nusd = (int64_t)rnd();
        r.cost_known = rnd() & 1;
        r.cost_estimated = rnd() & 1;
        r.latency_ms = (int64_t)(rnd() >> (rnd() % 64));
        if (rnd() & 1)
            random_string(r.strategy, sizeof(r.strategy));
        r.route_attempts = (int)(rnd() % 2000) - 500;
        random_string(r.route, 64);
        r.retry_after_ms = (int64_t)(rnd() % 5000) - 1000;
        r.simulated = rnd() % 5 == 0;
        if (rnd() % 3 == 0) {
            random_string(r.batch.id, sizeof(r.batch.id));
            r.batch.index = (int64_t)rnd();
            random_string(r.batch.custom_id, sizeof(r.batch.custom_id));
        }
        same_as_tree(&r);
        lgw_reply_cleanup(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_reply_as_the_worker_writes_it),
        cmocka_unit_test(test_strings_escaped_or_left_out),
        cmocka_unit_test(test_integers_at_their_limits),
        cmocka_unit_test(test_the_cap),
        cmocka_unit_test(test_the_writer_nests_and_refuses_misuse),
        cmocka_unit_test(test_random_replies_as_the_tree_wrote_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
