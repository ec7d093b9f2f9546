/* test_estimate.c - the token estimate of text and what a request body needs from a model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "routing/estimate.h"
#include "common/model.h"

static int64_t est(const char *s)
{
    return lgw_estimate_tokens(s, strlen(s));
}

/* A body from a literal written with single quotes. New reference. */
static json_t *J(const char *text)
{
    char *s = strdup(text);
    assert_non_null(s);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t jerr;
    json_t *doc = json_loads(s, 0, &jerr);
    if (!doc)
        fail_msg("bad test JSON (%s): %s", jerr.text, s);
    free(s);
    return doc;
}

static void needs_of(const char *body, enum lgw_job_kind kind, bool stream, struct lgw_route_needs *needs)
{
    json_t *b = J(body);
    memset(needs, 0xA5, sizeof(*needs)); /* every field must be written */
    lgw_route_needs_of(b, kind, stream, needs);
    json_decref(b);
}

static void test_tokens_basic(void **state)
{
    (void)state;
    assert_int_equal(est(""), 0);
    assert_int_equal(lgw_estimate_tokens(NULL, 0), 0);
    assert_int_equal(est("hello"), 2);    /* 5 letters: ceil(5/4) */
    assert_int_equal(est("hell"), 1);
    assert_int_equal(est("a"), 1);
    assert_int_equal(est("12345"), 2);    /* 5 digits: ceil(5/3) */
    assert_int_equal(est("123"), 1);
    assert_int_equal(est("a,b"), 3);      /* letter, symbol, letter */
    assert_int_equal(est("   \t\r\n"), 0); /* whitespace is free */
    assert_int_equal(est("hello world"), 4);
    assert_int_equal(est("abc123"), 2);   /* a letter run and a digit run */
    assert_int_equal(est("{}"), 2);
    /* Non-ASCII: each character one token, whatever its byte length; the letter runs around it as usual. */
    assert_int_equal(est("h\xc3\xa9llo"), 3); /* "h" + "é" + "llo" */
    assert_int_equal(est("\xc3\xa9"), 1);
    assert_int_equal(est("\xe6\x97\xa5\xe6\x9c\xac"), 2); /* two CJK characters, 3 bytes each */
    assert_int_equal(est("\xf0\x9f\x98\x80"), 1);         /* one emoji, 4 bytes */
    /* Only len bytes are read. */
    assert_int_equal(lgw_estimate_tokens("hello world", 5), 2);
}

/* 150,000 words of English-like prose must not look like it fits a 128k window. */
static void test_tokens_long_text(void **state)
{
    (void)state;
    static const char *const words[] = {"lorem",  "ipsum", "dolor",      "sit",        "amet,", "consectetur",
                                        "the",    "a",     "adipiscing", "elit.",      "sed",   "do",
                                        "of",     "to",    "eiusmod",    "tempor",     "in",    "and",
                                        "labore", "et",    "magna",      "incididunt", "it",    "is"};
    const size_t nwords = 150000;
    size_t cap = nwords * 16, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (size_t i = 0; i < nwords; i++) {
        const char *w = words[(i * 7 + i / 3) % (sizeof(words) / sizeof(words[0]))];
        size_t wl = strlen(w);
        assert_true(len + wl + 1 < cap);
        memcpy(text + len, w, wl);
        len += wl;
        text[len++] = ' ';
    }
    int64_t n = lgw_estimate_tokens(text, len);
    assert_true(n >= 128000);
    assert_true(n <= 600000); /* and not absurdly high: at most ~4 per word here */
    free(text);

    /* The plain "lorem " case: 2 tokens a word. */
    char *lorem = malloc(nwords * 6);
    assert_non_null(lorem);
    for (size_t i = 0; i < nwords; i++)
        memcpy(lorem + i * 6, "lorem ", 6);
    assert_int_equal(lgw_estimate_tokens(lorem, nwords * 6), 300000);
    free(lorem);
}

static void test_needs_chat_plain(void **state)
{
    (void)state;
    struct lgw_route_needs n;
    needs_of("{'model':'m','messages':[{'role':'user','content':'hello'}]}", LGW_JOB_CHAT, false, &n);
    assert_int_equal(n.input_tokens, LGW_ESTIMATE_MESSAGE_TOKENS + 2);
    assert_int_equal(n.max_output_tokens, 0);
    assert_int_equal(n.caps, 0);

    /* Each message carries its framing; a name counts too. */
    needs_of("{'messages':[{'role':'system','content':'hello'},{'role':'user','name':'bob','content':'12345'}]}",
             LGW_JOB_CHAT, false, &n);
    assert_int_equal(n.input_tokens, 2 * LGW_ESTIMATE_MESSAGE_TOKENS + 2 + 1 + 2);

    /* No messages at all: nothing, and no crash. */
    needs_of("{}", LGW_JOB_CHAT, false, &n);
    assert_int_equal(n.input_tokens, 0);
    assert_int_equal(n.caps, 0);
}

static void test_needs_caps(void **state)
{
    (void)state;
    struct lgw_route_needs n;
    needs_of("{'messages':[{'role':'user','content':'hi'}],'tools':[{'type':'function','function':{'name':'f',"
             "'parameters':{'type':'object'}}}]}",
             LGW_JOB_CHAT, false, &n);
    assert_int_equal(n.caps, LGW_CAP_TOOLS);
    assert_true(n.input_tokens > LGW_ESTIMATE_MESSAGE_TOKENS + 1); /* the tool schema is input too */

    needs_of("{'messages':[{'role':'user','content':'hi'}],'tools':[]}", LGW_JOB_CHAT, false, &n);
    assert_int_equal(n.caps, 0); /* an empty tools array uses no tools */

    /* A conversation that already holds tool calls or tool results needs tools. */
    needs_of("{'messages':[{'role':'assistant','content':null,'tool_calls':[{'id':'c1','type':'function',"
             "'function':{'name':'f','arguments':'{}'}}]}]}",
             LGW_JOB_CHAT, false, &n);
    assert_int_equal(n.caps, LGW_CAP_TOOLS);
    needs_of("{'messages':[{'role':'tool','tool_call_id':'c1','content':'42'}]}", LGW_JOB_CHAT, false, &n);
    assert_int_equal(n.caps, LGW_CAP_TOOLS);

    /* An image part: vision, and a fixed charge whatever its bytes. */
    needs_of("{'messages':[{'role':'user','content':[{'type':'text','text':'hello'},{'type':'image_url',"
             "'image_url':{'url':'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk'}}]}]}",
             LGW_JOB_CHAT, false, &n);
    assert_int_equal(n.caps, LGW_CAP_VISION);
    assert_int_equal(n.input_tokens, LGW_ESTIMATE_MESSAGE_TOKENS + 2 + LGW_ESTIMATE_IMAGE_TOKENS);
    needs_of("{'messages':[{'role':'user','content':[{'type':'image_url','image_url':{'url':'https://x/a.png'}},"
             "{'type':'image_url','image_url':{'url':'https://x/b.png'}}]}]}",
             LGW_JOB_CHAT, false, &n);
    assert_int_equal(n.input_tokens, LGW_ESTIMATE_MESSAGE_TOKENS + 2 * LGW_ESTIMATE_IMAGE_TOKENS);
    /* Text parts alone are no vision. */
    needs_of("{'messages':[{'role':'user','content':[{'type':'text','text':'hello'}]}]}", LGW_JOB_CHAT, false, &n);
    assert_int_equal(n.caps, 0);
    assert_int_equal(n.input_tokens, LGW_ESTIMATE_MESSAGE_TOKENS + 2);

    needs_of("{'messages':[{'role':'user','content':'hi'}],'response_format':{'type':'json_object'}}", LGW_JOB_CHAT,
             false, &n);
    assert_int_equal(n.caps, LGW_CAP_JSON_MODE);
    needs_of("{'messages':[{'role':'user','content':'hi'}],'response_format':{'type':'json_schema','json_schema':"
             "{'name':'x','schema':{'type':'object'}}}}",
             LGW_JOB_CHAT, false, &n);
    assert_int_equal(n.caps, LGW_CAP_JSON_MODE);
    needs_of("{'messages':[{'role':'user','content':'hi'}],'response_format':{'type':'text'}}", LGW_JOB_CHAT, false,
             &n);
    assert_int_equal(n.caps, 0);

    needs_of("{'messages':[{'role':'user','content':'hi'}]}", LGW_JOB_CHAT, true, &n);
    assert_int_equal(n.caps, LGW_CAP_STREAMING);

    /* All at once. */
    needs_of("{'messages':[{'role':'user','content':[{'type':'image_url','image_url':{'url':'https://x/a.png'}}]}],"
             "'tools':[{'type':'function','function':{'name':'f'}}],'response_format':{'type':'json_object'}}",
             LGW_JOB_CHAT, true, &n);
    assert_int_equal(n.caps, LGW_CAP_TOOLS | LGW_CAP_VISION | LGW_CAP_JSON_MODE | LGW_CAP_STREAMING);
}

static void test_needs_max_output(void **state)
{
    (void)state;
    struct lgw_route_needs n;
    needs_of("{'messages':[],'max_tokens':300}", LGW_JOB_CHAT, false, &n);
    assert_int_equal(n.max_output_tokens, 300);
    needs_of("{'messages':[],'max_completion_tokens':500}", LGW_JOB_CHAT, false, &n);
    assert_int_equal(n.max_output_tokens, 500);
    needs_of("{'messages':[],'max_tokens':300,'max_completion_tokens':500}", LGW_JOB_CHAT, false, &n);
    assert_int_equal(n.max_output_tokens, 500);
    needs_of("{'messages':[],'max_completion_tokens':500,'max_tokens':9000}", LGW_JOB_CHAT, false, &n);
    assert_int_equal(n.max_output_tokens, 500);
    needs_of("{'messages':[],'max_completion_tokens':null,'max_tokens':300}", LGW_JOB_CHAT, false, &n);
    assert_int_equal(n.max_output_tokens, 300);
    needs_of("{'messages':[],'max_tokens':'300'}", LGW_JOB_CHAT, false, &n);
    assert_int_equal(n.max_output_tokens, 0); /* not an integer: not given */
    needs_of("{'messages':[],'max_tokens':0}", LGW_JOB_CHAT, false, &n);
    assert_int_equal(n.max_output_tokens, 0);
    needs_of("{'messages':[],'max_tokens':-5}", LGW_JOB_CHAT, false, &n);
    assert_int_equal(n.max_output_tokens, 0);
}

static void test_needs_embeddings(void **state)
{
    (void)state;
    struct lgw_route_needs n;
    needs_of("{'model':'e','input':'hello world'}", LGW_JOB_EMBEDDINGS, false, &n);
    assert_int_equal(n.input_tokens, 4);
    assert_int_equal(n.max_output_tokens, 0);
    assert_int_equal(n.caps, 0);

    needs_of("{'input':['hello','12345','a,b']}", LGW_JOB_EMBEDDINGS, false, &n);
    assert_int_equal(n.input_tokens, 2 + 2 + 3);

    /* Token arrays are already tokens: one each. */
    needs_of("{'input':[[1,2,3],[4,5]]}", LGW_JOB_EMBEDDINGS, false, &n);
    assert_int_equal(n.input_tokens, 5);
    needs_of("{'input':[10,20,30,40]}", LGW_JOB_EMBEDDINGS, false, &n);
    assert_int_equal(n.input_tokens, 4);

    /* Streaming means nothing for embeddings; chat fields are ignored. */
    needs_of("{'input':'hi','max_tokens':50,'tools':[{'type':'function'}]}", LGW_JOB_EMBEDDINGS, true, &n);
    assert_int_equal(n.input_tokens, 1);
    assert_int_equal(n.max_output_tokens, 0);
    assert_int_equal(n.caps, 0);

    needs_of("{}", LGW_JOB_EMBEDDINGS, false, &n);
    assert_int_equal(n.input_tokens, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_basic),     cmocka_unit_test(test_tokens_long_text),
        cmocka_unit_test(test_needs_chat_plain), cmocka_unit_test(test_needs_caps),
        cmocka_unit_test(test_needs_max_output), cmocka_unit_test(test_needs_embeddings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
