/* json_match.c - exact JSON comparison with an "<any>" wildcard (see json_match.h). */
#include "tests/support/json_match.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_any(json_t *expected)
{
    return json_is_string(expected) && strcmp(json_string_value(expected), LGW_JSON_ANY) == 0;
}

/* The value for a message, shortened: a long body is noise next to the path that says where it differs. */
static void show(json_t *v, char *out, size_t outsz)
{
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS) : NULL;
    snprintf(out, outsz, "%.300s%s", text ? text : "(missing)", text && strlen(text) > 300 ? "..." : "");
    free(text);
}

static bool differ(const char *path, json_t *expected, json_t *actual, char *why, size_t whysz)
{
    if (why) {
        char e[400], a[400];
        show(expected, e, sizeof(e));
        show(actual, a, sizeof(a));
        snprintf(why, whysz, "at %s: expected %s, got %s", path, e, a);
    }
    return false;
}

static bool match(const char *path, json_t *expected, json_t *actual, char *why, size_t whysz)
{
    if (is_any(expected))
        return actual ? true : differ(path, expected, actual, why, whysz);
    if (!expected || !actual || json_typeof(expected) != json_typeof(actual))
        return expected == actual ? true : differ(path, expected, actual, why, whysz);
    char sub[512];
    if (json_is_object(expected)) {
        const char *key;
        json_t *v;
        json_object_foreach(expected, key, v) {
            snprintf(sub, sizeof(sub), "%s.%s", path, key);
            if (!match(sub, v, json_object_get(actual, key), why, whysz))
                return false;
        }
        json_object_foreach(actual, key, v) {
            if (!json_object_get(expected, key)) {
                snprintf(sub, sizeof(sub), "%s.%s", path, key);
                return differ(sub, NULL, v, why, whysz);
            }
        }
        return true;
    }
    if (json_is_array(expected)) {
        size_t n = json_array_size(expected), m = json_array_size(actual);
        for (size_t i = 0; i < n || i < m; i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            if (!match(sub, json_array_get(expected, i), json_array_get(actual, i), why, whysz))
                return false;
        }
        return true;
    }
    return json_equal(expected, actual) ? true : differ(path, expected, actual, why, whysz);
}

bool lgw_json_match(json_t *expected, json_t *actual, char *why, size_t whysz)
{
    return match("$", expected, actual, why, whysz);
}
