/* json_match.h - exact JSON comparison for tests, with one wildcard: an expected string "<any>" matches any
 * value (the key must still be there). Used to compare what an adapter sent or answered with what a test
 * case says, where fields like "created" change from run to run. Test-only code; any thread. */
#ifndef LGW_TEST_JSON_MATCH_H
#define LGW_TEST_JSON_MATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define LGW_JSON_ANY "<any>"

/* True when actual matches expected: the same type and value (integers and reals are different types),
 * objects with exactly the same keys, arrays of the same length, element by element. On a mismatch, why
 * (may be NULL) gets the JSON path of the first difference and the two values there. NULLs match NULLs. */
bool lgw_json_match(json_t *expected, json_t *actual, char *why, size_t whysz);

#endif
