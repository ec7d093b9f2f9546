/* errors.c - lookups over the error table in errors.h. */
#include "common/errors.h"

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
    switch (status) {
    case 200: return LGW_OK;
    case 400: return LGW_ERR(INVALID);
    case 401: return LGW_ERR(UNAUTHORIZED);
    case 404: return LGW_ERR(NOT_FOUND);
    case 405: return LGW_ERR(METHOD);
    case 413: return LGW_ERR(TOO_LARGE);
    case 502: return LGW_ERR(PROVIDER);
    case 503: return LGW_ERR(UNAVAILABLE);
    case 504: return LGW_ERR(TIMEOUT);
    default: return LGW_ERR(INTERNAL);
    }
}
