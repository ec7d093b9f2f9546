/* errors.c - lookups over the error table in errors.h. */
#include "common/errors.h"

#include <string.h>

struct err_row {
    int status;
    const char *type, *code, *msg, *name;
    bool retriable;
};

static const struct err_row rows[] = {
#define X(name, status, type, code, retriable, msg) {status, type, code, msg, #name, retriable},
    LGW_ERROR_TABLE(X)
#undef X
};

static const struct err_row *row(int rc)
{
    if (rc < 0)
        rc = -rc;
    if (rc >= (int)LGW_E__COUNT)
        rc = LGW_E_INTERNAL;
    return &rows[rc];
}

int lgw_err_status(int rc) { return row(rc)->status; }
const char *lgw_err_type(int rc) { return row(rc)->type; }
const char *lgw_err_code(int rc) { return row(rc)->code; }
const char *lgw_err_message(int rc) { return row(rc)->msg; }
const char *lgw_err_name(int rc) { return row(rc)->name; }
bool lgw_err_retriable(int rc) { return row(rc)->retriable; }

int lgw_err_from_status(int status)
{
    if (status == 200)
        return LGW_OK;
    for (int e = 1; e < (int)LGW_E__COUNT; e++)
        if (rows[e].status == status)
            return -e;
    if (status >= 400 && status < 500)
        return LGW_ERR(INVALID);
    return status >= 500 && status < 600 ? LGW_ERR(SERVER_ERROR) : LGW_ERR(INTERNAL);
}

int lgw_err_find(int status, const char *code)
{
    if (code)
        for (int e = 1; e < (int)LGW_E__COUNT; e++)
            if (rows[e].status == status && strcmp(rows[e].code, code) == 0)
                return -e;
    return lgw_err_from_status(status);
}

int lgw_err_retry_header(int rc)
{
    const struct err_row *r = row(rc);
    bool sdk_retries = r->status == 408 || r->status == 409 || r->status == 429 || r->status >= 500;
    if (r->retriable == sdk_retries)
        return -1;
    return r->retriable ? 1 : 0;
}
