/* files_store.h - the uploaded files of the Files API (POST /v1/files, purpose "batch") in their own table,
 * batch_files in `database_url` (PostgreSQL or SQLite), created at start. The bytes are kept in the row
 * (bytea / blob): a batch input file is read whole once, when its batch is created, and whole again by
 * GET /v1/files/{id}/content.
 *
 * Every read and delete takes the caller's tenant: a row of another tenant is not found (an admin passes ""
 * and reads all). */
#ifndef LGW_FILES_STORE_H
#define LGW_FILES_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch/files_db.h"
#include "common/envelope.h"

/* "file-" + 32 lowercase hex digits. */
#define LGW_FILE_ID_LEN 37
#define LGW_FILE_NAME_MAX 256
#define LGW_FILE_PURPOSE_MAX 32
/* The most files one list answers (OpenAI's limit for GET /v1/files is 10,000). */
#define LGW_FILES_LIST_MAX 10000

struct lgw_file_meta {
    char id[LGW_ID_MAX];
    char tenant[LGW_NAME_MAX];
    char filename[LGW_FILE_NAME_MAX];
    char purpose[LGW_FILE_PURPOSE_MAX];
    int64_t bytes;
    int64_t created_at; /* seconds */
    int64_t expires_at; /* seconds; when retention deletes it */
};

/* A new file id into out (size >= LGW_FILE_ID_LEN + 1). Thread-safe. */
void lgw_file_new_id(char *out);

/* Creates batch_files (and its index) if missing. Returns 0 or LGW_ERR(DB). */
int lgw_files_migrate(struct lgw_fdb *db);
/* Stores f with data[0..len). Returns 0 or LGW_ERR(DB). */
int lgw_files_insert(struct lgw_fdb *db, const struct lgw_file_meta *f, const char *data, size_t len);
/* The file id of tenant ("": any). Returns 0, LGW_ERR(NOT_FOUND) or LGW_ERR(DB). */
int lgw_files_get(struct lgw_fdb *db, const char *id, const char *tenant, struct lgw_file_meta *f);
/* Its bytes: *data malloc'd (caller frees; NUL-terminated after *len). Same returns as lgw_files_get. */
int lgw_files_content(struct lgw_fdb *db, const char *id, const char *tenant, char **data, size_t *len);
/* Deletes it. Same returns as lgw_files_get. */
int lgw_files_delete(struct lgw_fdb *db, const char *id, const char *tenant);
/* Up to limit files of tenant ("": all) with purpose (NULL: any), newest first (asc: oldest first), after the
 * file id after (NULL: from the start; an unknown id: LGW_ERR(NOT_FOUND)). *out malloc'd (caller frees),
 * limit + 1 rows at most so the caller can tell has_more. Returns 0, LGW_ERR(NOT_FOUND) or LGW_ERR(DB). */
int lgw_files_list(struct lgw_fdb *db, const char *tenant, const char *purpose, const char *after, bool asc,
                   int64_t limit, struct lgw_file_meta **out, size_t *n);
/* Deletes the files whose expires_at is before now_s; *deleted how many. Returns 0 or LGW_ERR(DB). */
int lgw_files_expire(struct lgw_fdb *db, int64_t now_s, int64_t *deleted);

#endif
