/* test_reply_text.c - lgw_reply_decode_text (common/envelope.c): a reply read with its body kept as text gives the
 * same reply as lgw_reply_decode, and refuses what it refuses. The one difference allowed: a key repeated inside
 * the body, which the text's check does not look for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/errors.h"
#include "common/json_write.h"
#include "tests/support/rng.h"

/* Decodes text both ways; returns decode's result, and checks that decode_text agrees on it and on every field. */
static int both(const char *text, size_t len)
{
    struct lgw_reply a, b;
    char why_a[256] = "", why_b[256] = "";
    /* At the end of a heap block of exactly len bytes: a read past the text is ASan's to report. */
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    int ra = lgw_reply_decode(copy, len, &a, why_a, sizeof(why_a));
    int rb = lgw_reply_decode_text(copy, len, &b, why_b, sizeof(why_b));
    if (ra == 0 && rb == 0) {
        assert_string_equal(a.id, b.id);
        assert_string_equal(a.run_id, b.run_id);
        assert_string_equal(a.tenant, b.tenant);
        assert_int_equal(a.seq, b.seq);
        assert_int_equal(a.final, b.final);
        assert_int_equal(a.status, b.status);
        assert_string_equal(a.provider, b.provider);
        assert_string_equal(a.model, b.model);
        assert_int_equal(a.cache_hit, b.cache_hit);
        assert_int_equal(a.cache_bypass, b.cache_bypass);
        assert_memory_equal(&a.usage, &b.usage, sizeof(a.usage));
        assert_int_equal(a.cost_nusd, b.cost_nusd);
        assert_int_equal(a.cost_known, b.cost_known);
        assert_int_equal(a.cost_estimated, b.cost_estimated);
        assert_int_equal(a.latency_ms, b.latency_ms);
        assert_string_equal(a.strategy, b.strategy);
        assert_int_equal(a.route_attempts, b.route_attempts);
        assert_string_equal(a.route, b.route);
        assert_int_equal(a.retry_after_ms, b.retry_after_ms);
        assert_int_equal(a.simulated, b.simulated);
        assert_memory_equal(&a.batch, &b.batch, sizeof(a.batch));
        assert_true(a.more_chunks ? b.more_chunks && json_equal(a.more_chunks, b.more_chunks) : !b.more_chunks);
        assert_null(b.body);
        assert_non_null(b.body_text);
        assert_true(b.body_text >= copy && b.body_text + b.body_len <= copy + len); /* borrowed from the payload */
        assert_int_equal(lgw_reply_parse_body(&b, why_b, sizeof(why_b)), 0);
        assert_true(json_equal(a.body, b.body));
        assert_int_equal(lgw_reply_parse_body(&b, why_b, sizeof(why_b)), 0); /* once parsed, kept */
    } else if (ra != 0 && rb == 0) {
        /* Allowed only for a key repeated inside the body: jansson reads the body once that is not refused. */
        json_t *lax = json_loadb(b.body_text, b.body_len, 0, NULL);
        json_t *strict = json_loadb(b.body_text, b.body_len, JSON_REJECT_DUPLICATES, NULL);
        if (!lax || strict)
            fail_msg("decode refused (%s) what decode_text took: %.*s", why_a, (int)len, text);
        json_decref(lax);
        json_decref(strict);
    } else if (ra == 0 && !memchr(text, 0, len)) { /* (a NUL jansson lets through after a token: json_scan.h) */
        fail_msg("decode_text refused (%s) what decode took: %.*s", why_b, (int)len, text);
    }
    lgw_reply_cleanup(&a);
    lgw_reply_cleanup(&b);
    free(copy);
    return ra;
}

static int both_s(const char *text)
{
    return both(text, strlen(text));
}

#define ENV "\"v\":1,\"id\":\"j1\",\"seq\":0,\"final\":true,\"status\":200,\"provider\":\"p\",\"model\":\"m\"," \
            "\"cache\":\"miss\",\"usage\":{\"input_tokens\":3,\"output_tokens\":4,\"cached_input_tokens\":0}," \
            "\"cost\":5,\"latency_ms\":6"

/* Replies the encoder writes: the body's text is exactly the body written compact, which the ingress hands an
 * OpenAI client as it is. */
static void test_encoded_replies(void **state)
{
    (void)state;
    struct lgw_reply r;
    memset(&r, 0, sizeof(r));
    strcpy(r.id, "chatcmpl-1");
    strcpy(r.run_id, "run-1");
    strcpy(r.tenant, "acme");
    r.final = true;
    r.status = 200;
    r.body = json_pack("{s:s, s:s, s:I, s:[{s:i, s:{s:s, s:s}, s:s}], s:{s:i, s:f}}", "id", "chatcmpl-1",
                       "object", "chat.completion", "created", (json_int_t)1765000000, "choices", "index", 0,
                       "message", "role", "assistant", "content", "h\xc3\xa9 \"\\\n\xf0\x9f\x98\x80 </x>",
                       "finish_reason", "stop", "usage", "prompt_tokens", 9, "ratio", 0.1);
    strcpy(r.provider, "openai");
    strcpy(r.model, "gpt-4o-mini");
    strcpy(r.strategy, "cost");
    strcpy(r.route, "openai/gpt-4o-mini=200");
    r.route_attempts = 1;
    r.usage.input_tokens = 9;
    r.cost_nusd = 1234;
    r.cost_known = true;
    struct lgw_buf buf, body;
    lgw_buf_init(&buf, 0);
    lgw_buf_init(&body, 0);
    assert_int_equal(lgw_reply_encode(&r, &buf), 0);
    assert_int_equal(both(buf.ptr, buf.len), 0);
    assert_int_equal(lgw_buf_dump_json(&body, r.body, JSON_COMPACT), 0);
    struct lgw_reply t;
    char why[256];
    assert_int_equal(lgw_reply_decode_text(buf.ptr, buf.len, &t, why, sizeof(why)), 0);
    assert_int_equal(t.body_len, body.len);
    assert_memory_equal(t.body_text, body.ptr, body.len);
    lgw_reply_cleanup(&t);

    /* A stream chunk with more chunks, an error, a batch line. */
    r.final = false;
    r.seq = 3;
    r.more_chunks = json_pack("[{s:s}, {s:[]}]", "id", "c", "choices");
    lgw_buf_reset(&buf);
    assert_int_equal(lgw_reply_encode(&r, &buf), 0);
    assert_int_equal(both(buf.ptr, buf.len), 0);
    json_decref(r.more_chunks);
    r.more_chunks = NULL;
    json_decref(r.body);
    r.body = json_pack("{s:{s:s, s:s, s:n}}", "error", "message", "m", "type", "invalid_request_error", "code");
    r.final = true;
    r.status = 404;
    strcpy(r.batch.id, "batch_0123456789abcdef0123456789abcdef");
    r.batch.index = 7;
    strcpy(r.batch.custom_id, "line-7");
    lgw_buf_reset(&buf);
    assert_int_equal(lgw_reply_encode(&r, &buf), 0);
    assert_int_equal(both(buf.ptr, buf.len), 0);

    /* A body past the stack copy's 4 KB. */
    json_decref(r.body);
    char *big = malloc(20001);
    memset(big, 'a', 20000);
    big[20000] = '\0';
    r.body = json_pack("{s:s}", "content", big);
    free(big);
    r.status = 200;
    lgw_buf_reset(&buf);
    assert_int_equal(lgw_reply_encode(&r, &buf), 0);
    assert_true(buf.len > 20000);
    assert_int_equal(both(buf.ptr, buf.len), 0);

    lgw_reply_cleanup(&r);
    lgw_buf_cleanup(&buf);
    lgw_buf_cleanup(&body);
}

/* Texts other writers may send: whitespace, a v2 with fields this reader does not know, the body's name written
 * with an escape, the body first or last. */
static void test_other_writers(void **state)
{
    (void)state;
    assert_int_equal(both_s(" \n{" ENV ",\"body\":{\"a\":[1,2.5e3,-0,true,null,{}]}}\r\n"), 0);
    assert_int_equal(both_s("{\"body\" : { \"a\" : \"b\" } , " ENV "}"), 0);
    assert_int_equal(both_s("{\"v\":2,\"future\":{\"body\":[]},\"id\":\"j1\",\"status\":200,\"body\":{}}"), 0);
    assert_int_equal(both_s("{" ENV ",\"b\\u006fdy\":{\"x\":1}}"), 0);
    assert_int_equal(both_s("{" ENV ",\"body\":{\"body\":{\"body\":1}}}"), 0);
}

/* What lgw_reply_decode refuses, decode_text refuses: the envelope's rules, and the body's text as jansson reads
 * it. */
static void test_refusals(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "   ",
        "[]",
        "{" ENV "}",                                         /* no body */
        "{" ENV ",\"body\":[]}",                             /* not an object */
        "{" ENV ",\"body\":\"{}\"}",
        "{" ENV ",\"body\":{},\"body\":{}}",                 /* the body twice */
        "{" ENV ",\"body\":{}} x",                           /* after the message */
        "{" ENV ",\"id\":\"j2\",\"body\":{}}",               /* an envelope key twice */
        "{\"v\":3,\"id\":\"j1\",\"status\":200,\"body\":{}}", /* a version this reader does not take */
        "{" ENV ",\"status\":700,\"body\":{}}",
        "{" ENV ",\"body\":{\"a\":\"\\u0000\"}}",            /* NUL: jansson refuses it */
        "{" ENV ",\"body\":{\"a\":\"\\ud800\"}}",            /* a lone surrogate */
        "{" ENV ",\"body\":{\"a\":\"\xc3\"}}",               /* cut UTF-8 */
        "{" ENV ",\"body\":{\"a\":\"\xed\xa0\x80\"}}",       /* a surrogate in UTF-8 */
        "{" ENV ",\"body\":{\"a\":\"\t\"}}",                 /* a raw control character */
        "{" ENV ",\"body\":{\"a\":99999999999999999999}}",   /* past json_int_t */
        "{" ENV ",\"body\":{\"a\":1e999}}",                  /* past a double */
        "{" ENV ",\"body\":{\"a\":01}}",
        "{" ENV ",\"body\":{\"a\":1,}}",
        "{" ENV ",\"body\":{\"a\":tru}}",
        "{" ENV ",\"body\":{\"a\":1}",                       /* cut */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (both_s(bad[i]) == 0)
            fail_msg("case %zu was taken: %s", i, bad[i]);
    /* Nested past jansson's limit inside the body. */
    size_t depth = 2100, n = 0;
    char *deep = malloc(2 * depth + 256);
    n += (size_t)sprintf(deep, "{" ENV ",\"body\":{\"a\":");
    for (size_t i = 0; i < depth; i++)
        deep[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n++] = '}';
    assert_int_not_equal(both(deep, n), 0);
    free(deep);
}

/* Random damage to an encoded reply: the two readers agree on every text (xorshift, fixed seed). */
static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t next(void)
{
    return lgw_test_rng_next(&rng);
}

static void test_damaged_replies(void **state)
{
    (void)state;
    const char *base = "{" ENV ",\"run_id\":\"r\",\"more_chunks\":[{\"i\":1}],\"body\":{\"id\":\"c1\",\"choices\":[{"
                       "\"index\":0,\"delta\":{\"content\":\"h\xc3\xa9\\u00e9\\\"\"},\"finish_reason\":null}],"
                       "\"n\":-1.5e-3,\"ok\":[true,false,null]}}";
    const char pieces[] = "{}[]\",:\\u0123456789eE.-+ tfn\x80\xc3\xed\xf0\xff\0";
    size_t blen = strlen(base);
    char text[1024];
    int accepted = 0;
    for (int i = 0; i < 20000; i++) {
        memcpy(text, base, blen);
        size_t len = blen;
        int edits = 1 + (int)(next() % 3);
        for (int e = 0; e < edits && len > 1; e++) {
            size_t at = next() % len;
            char c = pieces[next() % (sizeof(pieces) - 1)];
            switch (next() % 4) {
            case 0: /* replace */
                text[at] = c;
                break;
            case 1: /* insert */
                if (len < sizeof(text) - 1) {
                    memmove(text + at + 1, text + at, len - at);
                    text[at] = c;
                    len++;
                }
                break;
            case 2: /* delete */
                memmove(text + at, text + at + 1, len - at - 1);
                len--;
                break;
            default: /* cut */
                len = at + 1;
                break;
            }
        }
        if (both(text, len) == 0)
            accepted++;
    }
    /* Enough damaged replies stayed readable for the fields' comparison to count (about 400 here). */
    assert_true(accepted > 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoded_replies),
        cmocka_unit_test(test_other_writers),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_damaged_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
