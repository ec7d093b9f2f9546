/* test_multipart.c - the multipart/form-data parser of POST /v1/files (batch/multipart.c): what the openai SDK
 * (httpx) and curl send, quoting and preambles, and every malformed or oversized input refused with a reason;
 * and the File object it leads to (batch/api_int.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "batch/api_int.h"
#include "batch/multipart.h"
#include "common/errors.h"

#define CT "multipart/form-data; boundary=XyZ"

static int parse(const char *ct, const char *body, struct lgw_multipart *mp, char *why)
{
    return lgw_multipart_parse(ct, body, strlen(body), mp, why, 200);
}

static void test_sdk_body(void **state)
{
    (void)state;
    /* As httpx writes it: the purpose field, then the file with a filename and its own content type. */
    const char body[] = "--XyZ\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
                        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n"
                        "Content-Type: application/octet-stream\r\n\r\n{\"a\":1}\r\n{\"b\":2}\n\r\n--XyZ--\r\n";
    struct lgw_multipart mp;
    char why[200] = "";
    assert_int_equal(parse(CT, body, &mp, why), 0);
    assert_int_equal(mp.nparts, 2);
    const struct lgw_multipart_part *p = lgw_multipart_find(&mp, "purpose");
    assert_non_null(p);
    assert_int_equal(p->len, 5);
    assert_memory_equal(p->data, "batch", 5);
    assert_false(p->has_filename);
    const struct lgw_multipart_part *f = lgw_multipart_find(&mp, "file");
    assert_non_null(f);
    assert_true(f->has_filename);
    assert_string_equal(f->filename, "in.jsonl");
    /* The content keeps its own CRLFs and newlines; only the delimiter's CRLF is taken off. */
    assert_int_equal(f->len, strlen("{\"a\":1}\r\n{\"b\":2}\n"));
    assert_memory_equal(f->data, "{\"a\":1}\r\n{\"b\":2}\n", f->len);
    assert_null(lgw_multipart_find(&mp, "nope"));
}

static void test_quoting_and_preamble(void **state)
{
    (void)state;
    /* A quoted boundary, a preamble, transport padding, a quoted filename with an escaped quote, an empty file,
     * header names in another case and an epilogue. */
    const char body[] = "preamble to ignore\r\n--a b\t \r\ncontent-disposition: FORM-DATA; filename=\"x\\\"y.jsonl\"; "
                        "name=file\r\n\r\n\r\n--a b--\r\nepilogue";
    struct lgw_multipart mp;
    char why[200] = "";
    assert_int_equal(parse("Multipart/Form-Data ; boundary=\"a b\"", body, &mp, why), 0);
    assert_int_equal(mp.nparts, 1);
    assert_string_equal(mp.parts[0].name, "file");
    assert_string_equal(mp.parts[0].filename, "x\"y.jsonl");
    assert_int_equal(mp.parts[0].len, 0);
}

static void refused(const char *ct, const char *body, const char *expect)
{
    struct lgw_multipart mp;
    char why[200] = "";
    assert_int_equal(parse(ct, body, &mp, why), LGW_ERR(INVALID));
    if (!strstr(why, expect)) {
        printf("why: %s\nexpected: %s\n", why, expect);
        fail();
    }
}

static void test_malformed(void **state)
{
    (void)state;
    refused("application/json", "{}", "multipart/form-data");
    refused("multipart/form-data", "--x\r\n", "boundary");
    refused("multipart/form-data; boundary=", "--x\r\n", "boundary");
    refused("multipart/form-data; boundary=\"unterminated", "--x\r\n", "boundary");
    char longb[120] = "multipart/form-data; boundary=";
    memset(longb + strlen(longb), 'b', 71); /* RFC 2046: at most 70 */
    refused(longb, "--x\r\n", "boundary");
    refused(CT, "", "no part");
    refused(CT, "nothing here", "no part");
    refused(CT, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated", "closing boundary");
    refused(CT, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"", "no end to its headers");
    refused(CT, "--XyZ\r\nNoColonHere\r\n\r\nx\r\n--XyZ--", "without a colon");
    refused(CT, "--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--", "no Content-Disposition");
    refused(CT, "--XyZ\r\n\r\nx\r\n--XyZ--", "no Content-Disposition");
    refused(CT, "--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--XyZ--", "form-data");
    refused(CT, "--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--XyZ--", "malformed");
    refused(CT, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--XyZjunk", "closing boundary");
    refused(CT, "--XyZ", "closing boundary");
}

static void test_limits(void **state)
{
    (void)state;
    struct lgw_buf b;
    /* A filename of 256 bytes (255 is the most). */
    lgw_buf_init(&b, 0);
    lgw_buf_puts(&b, "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"");
    for (int i = 0; i < 256; i++)
        lgw_buf_puts(&b, "n");
    lgw_buf_puts(&b, "\"\r\n\r\nx\r\n--XyZ--");
    refused(CT, b.ptr, "255 bytes");
    lgw_buf_cleanup(&b);
    /* A header block past 4096 bytes. */
    lgw_buf_init(&b, 0);
    lgw_buf_puts(&b, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Pad: ");
    for (int i = 0; i < 5000; i++)
        lgw_buf_puts(&b, "p");
    lgw_buf_puts(&b, "\r\n\r\nx\r\n--XyZ--");
    refused(CT, b.ptr, "4096 bytes of headers");
    lgw_buf_cleanup(&b);
    /* 17 parts (16 is the most); 16 parse. */
    for (int nparts = 16; nparts <= 17; nparts++) {
        lgw_buf_init(&b, 0);
        for (int i = 0; i < nparts; i++)
            lgw_buf_printf(&b, "--XyZ\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nv\r\n", i);
        lgw_buf_puts(&b, "--XyZ--");
        struct lgw_multipart mp;
        char why[200] = "";
        int rc = parse(CT, b.ptr, &mp, why);
        if (nparts == 16) {
            assert_int_equal(rc, 0);
            assert_int_equal(mp.nparts, 16);
        } else {
            assert_int_equal(rc, LGW_ERR(INVALID));
            assert_non_null(strstr(why, "16 parts"));
        }
        lgw_buf_cleanup(&b);
    }
}

static void test_file_object(void **state)
{
    (void)state;
    struct lgw_file_meta f = {.id = "file-0123", .tenant = "acme", .filename = "in.jsonl", .purpose = "batch",
                              .bytes = 42, .created_at = 1700000000, .expires_at = 1702592000};
    json_t *o = lgw_api_file_json(&f);
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    /* OpenAI's File object; the tenant is never in it. */
    assert_string_equal(s, "{\"bytes\":42,\"created_at\":1700000000,\"expires_at\":1702592000,\"filename\":"
                           "\"in.jsonl\",\"id\":\"file-0123\",\"object\":\"file\",\"purpose\":\"batch\",\"status\":"
                           "\"processed\",\"status_details\":null}");
    free(s);
    json_decref(o);
    char id[LGW_FILE_ID_LEN + 1], id2[LGW_FILE_ID_LEN + 1];
    lgw_file_new_id(id);
    lgw_file_new_id(id2);
    assert_int_equal(strlen(id), LGW_FILE_ID_LEN);
    assert_memory_equal(id, "file-", 5);
    assert_string_not_equal(id, id2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sdk_body),   cmocka_unit_test(test_quoting_and_preamble),
        cmocka_unit_test(test_malformed),  cmocka_unit_test(test_limits),
        cmocka_unit_test(test_file_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
