/* test_static.c - the dashboard's embedded files (ingress/static.c and the table scripts/embed_web.py
 * generates): every file is found by name, its gzip bytes inflate to its raw bytes and carry no name or time,
 * its ETags are the SHA-256 of its bytes; which representation a client's Accept-Encoding gets; If-None-Match;
 * and the page itself: every file index.html and the modules refer to exists, and nothing inline that the
 * Content-Security-Policy would block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/auth.h"
#include "ingress/static.h"

static void test_table(void **state)
{
    (void)state;
    const char *must[] = {"index.html", "app.css", "main.js", "favicon.svg"};
    for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++)
        if (!lgw_static_find(must[i]))
            fail_msg("web/%s is not in the table", must[i]);
    assert_null(lgw_static_find("nope.js"));
    assert_null(lgw_static_find(""));
    assert_null(lgw_static_find("../index.html")); /* names are looked up, never paths opened */
    assert_string_equal(lgw_static_find("index.html")->content_type, "text/html; charset=utf-8");
    assert_string_equal(lgw_static_find("main.js")->content_type, "text/javascript; charset=utf-8");
    assert_string_equal(lgw_static_find("app.css")->content_type, "text/css; charset=utf-8");
    assert_string_equal(lgw_static_find("favicon.svg")->content_type, "image/svg+xml; charset=utf-8");
    for (size_t i = 1; i < lgw_static_nfiles; i++) /* sorted, no duplicates */
        assert_true(strcmp(lgw_static_files[i - 1].name, lgw_static_files[i].name) < 0);
}

static void inflate_all(const unsigned char *gz, size_t gz_len, unsigned char *out, size_t cap, size_t *len)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK); /* gzip wrapper */
    zs.next_in = (unsigned char *)gz;
    zs.avail_in = (uInt)gz_len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    int rc = inflate(&zs, Z_FINISH);
    *len = zs.total_out;
    inflateEnd(&zs);
    if (rc != Z_STREAM_END)
        fail_msg("inflate: %d", rc);
}

static void test_representations(void **state)
{
    (void)state;
    for (size_t i = 0; i < lgw_static_nfiles; i++) {
        const struct lgw_static_file *f = &lgw_static_files[i];
        char hex[65], want[32];
        lgw_auth_sha256_hex((const char *)f->raw, f->raw_len, hex);
        snprintf(want, sizeof(want), "\"%.16s\"", hex);
        if (strcmp(f->etag, want) != 0)
            fail_msg("%s: etag %s, want %s", f->name, f->etag, want);
        snprintf(want, sizeof(want), "\"%.16s-gz\"", hex);
        assert_string_equal(f->etag_gz, want);
        if (!f->gz)
            continue;
        assert_true(f->gz_len < f->raw_len);
        /* gzip -n: no file name (FLG 0) and no time (MTIME 0), so a rebuild gives the same bytes */
        assert_int_equal(f->gz[0], 0x1f);
        assert_int_equal(f->gz[1], 0x8b);
        assert_int_equal(f->gz[3], 0);
        assert_int_equal(f->gz[4] | f->gz[5] | f->gz[6] | f->gz[7], 0);
        unsigned char *out = malloc(f->raw_len + 16);
        size_t len;
        inflate_all(f->gz, f->gz_len, out, f->raw_len + 16, &len);
        if (len != f->raw_len || memcmp(out, f->raw, len) != 0)
            fail_msg("%s: the gzip bytes do not inflate to the file", f->name);
        free(out);
    }
}

static void test_accept_encoding(void **state)
{
    (void)state;
    const char *yes[] = {"gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.8", "GZIP", " deflate , gzip ",
                         "x-gzip", "*", "*;q=0.5", "gzip;q=0.001", "gzip;q=1", "identity, gzip;Q=0.5",
                         "gzip;q=0, gzip;q=0.5"};
    const char *no[] = {"", "identity", "deflate, br", "gzip;q=0", "gzip;q=0.0", "gzip; q=0.000",
                        "*;q=0", "*, gzip;q=0", "gzipx", "xgzip", "gzip-ish", "br;q=0.5"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (!lgw_static_accepts_gzip(yes[i]))
            fail_msg("'%s' should take gzip", yes[i]);
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (lgw_static_accepts_gzip(no[i]))
            fail_msg("'%s' should not take gzip", no[i]);
    assert_false(lgw_static_accepts_gzip(NULL));
}

static void test_choose(void **state)
{
    (void)state;
    const struct lgw_static_file *f = lgw_static_find("index.html");
    assert_non_null(f->gz); /* HTML compresses */
    struct lgw_static_choice ch;
    lgw_static_choose(f, "gzip, deflate", &ch);
    assert_true(ch.gzip);
    assert_ptr_equal(ch.body, f->gz);
    assert_int_equal(ch.len, f->gz_len);
    assert_string_equal(ch.etag, f->etag_gz);
    lgw_static_choose(f, NULL, &ch);
    assert_false(ch.gzip);
    assert_ptr_equal(ch.body, f->raw);
    assert_int_equal(ch.len, f->raw_len);
    assert_string_equal(ch.etag, f->etag);
    /* a file whose gzip was not smaller is always sent as it is */
    struct lgw_static_file tiny = {"t.txt", "text/plain; charset=utf-8", (const unsigned char *)"x", 1, NULL, 0,
                                   "\"a\"", "\"a-gz\""};
    lgw_static_choose(&tiny, "gzip", &ch);
    assert_false(ch.gzip);
    assert_string_equal(ch.etag, "\"a\"");
}

static void test_if_none_match(void **state)
{
    (void)state;
    const char *etag = "\"0123456789abcdef\"";
    const char *yes[] = {"\"0123456789abcdef\"", "W/\"0123456789abcdef\"", "\"x\", \"0123456789abcdef\"",
                         " \"0123456789abcdef\" ,\"y\"", "*"};
    const char *no[] = {"", "\"0123456789abcdef-gz\"", "0123456789abcdef", "\"0123456789abcde\"",
                        "\"x\", \"y\"", "\"0123456789ABCDEF\""};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (!lgw_static_etag_matches(yes[i], etag))
            fail_msg("'%s' should match", yes[i]);
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (lgw_static_etag_matches(no[i], etag))
            fail_msg("'%s' should not match", no[i]);
    assert_false(lgw_static_etag_matches(NULL, etag));
}

/* Every `prefix<name><end>` in file names a file of the table (index.html's /ui/ links, the modules'
 * imports). Returns how many it checked. */
static int refs_exist(const struct lgw_static_file *file, const char *prefix, char end)
{
    int n = 0;
    char *text = strndup((const char *)file->raw, file->raw_len);
    for (const char *p = strstr(text, prefix); p; p = strstr(p, prefix)) {
        p += strlen(prefix);
        const char *e = strchr(p, end);
        assert_non_null(e);
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)(e - p), p);
        if (!lgw_static_find(name))
            fail_msg("%s refers to %s%s, which is not in web/", file->name, prefix, name);
        n++;
    }
    free(text);
    return n;
}

static void test_page_refers_to_real_files(void **state)
{
    (void)state;
    assert_true(refs_exist(lgw_static_find("index.html"), "\"/ui/", '"') >= 4);
    int imports = 0;
    for (size_t i = 0; i < lgw_static_nfiles; i++) {
        const char *name = lgw_static_files[i].name;
        if (strlen(name) > 3 && strcmp(name + strlen(name) - 3, ".js") == 0)
            imports += refs_exist(&lgw_static_files[i], "from './", '\'');
    }
    assert_true(imports >= 5);
}

/* The CSP allows no inline script or style: such a thing in the page would be blocked (and reported). */
static void test_nothing_inline(void **state)
{
    (void)state;
    const struct lgw_static_file *f = lgw_static_find("index.html");
    char *html = strndup((const char *)f->raw, f->raw_len);
    assert_null(strstr(html, "<style"));
    assert_null(strstr(html, "style="));
    for (const char *p = strstr(html, " on"); p; p = strstr(p + 1, " on")) { /* onclick= and friends */
        size_t n = strspn(p + 3, "abcdefghijklmnopqrstuvwxyz");
        if (n && p[3 + n] == '=')
            fail_msg("an inline event handler in index.html: %.20s", p + 1);
    }
    for (const char *p = strstr(html, "<script"); p; p = strstr(p + 1, "<script")) {
        const char *close = strchr(p, '>');
        assert_non_null(close);
        if (!memmem(p, (size_t)(close - p), " src=", 5))
            fail_msg("an inline <script> in index.html");
    }
    free(html);
    for (size_t i = 0; i < lgw_static_nfiles; i++) { /* no style attribute set from the scripts either */
        const struct lgw_static_file *js = &lgw_static_files[i];
        char *text = strndup((const char *)js->raw, js->raw_len);
        if (strstr(text, "innerHTML") || strstr(text, "'style'") || strstr(text, "setAttribute('style"))
            fail_msg("%s writes HTML or a style attribute", js->name);
        free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_representations),
        cmocka_unit_test(test_accept_encoding),
        cmocka_unit_test(test_choose),
        cmocka_unit_test(test_if_none_match),
        cmocka_unit_test(test_page_refers_to_real_files),
        cmocka_unit_test(test_nothing_inline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
