/* json_load.h - JSON text read into a jansson tree faster than jansson's own reader, with jansson's answers.
 *
 * jansson 2.14 reads about 70 MB/s here, one character at a time through its stream and a second pass over each
 * string, so a request with a 32 KB prompt cost about half a millisecond each time it was read: at the ingress
 * (the request) and at the worker (the job), and every provider answer and stream chunk is read the same way.
 *
 * lgw_json_loadb answers what json_loadb(text, len, flags, err) answers: the same tree (members in the text's
 * order, a repeated key's last value, integers and reals as jansson types them) or, for text jansson refuses, the
 * same NULL with the same error, because every text it does not take is handed to json_loadb itself. It first
 * checks the text with lgw_json_check (common/json_scan.h: exactly what jansson accepts, but a NUL right after a
 * number or literal, which json_loadb then decides), then builds the tree from checked text in one pass, long
 * strings with one copy. tests/unit/test_json_load.c holds it to json_loadb. */
#ifndef LGW_JSON_LOAD_H
#define LGW_JSON_LOAD_H

#include <jansson.h>
#include <stddef.h>

/* json_loadb's contract, for flags 0 and JSON_REJECT_DUPLICATES; any other flag goes to json_loadb. err may be
 * NULL. The caller owns the tree. */
json_t *lgw_json_loadb(const char *text, size_t len, size_t flags, json_error_t *err);

#endif
