/* mount.h - the ingress's mount table: paths served by another role's library (analytics) through the
 * generic call interface of common/http_call.h, so the ingress never includes that library's headers.
 * A mounted call is suspended like a job: it waits in the pending map under its deadline (504 when it
 * passes, 503 at drain), and the mount's own threads answer it with done, whichever comes first. */
#ifndef LGW_MOUNT_H
#define LGW_MOUNT_H

#include "httpd/server.h"
#include <stddef.h>

#include "common/http_call.h"
#include "ingress/request.h"
#include "ingress/routes.h"

#define LGW_INGRESS_MOUNTS_MAX 8

struct lgw_mounts;

/* A table of copies of mounts[0..n) (n at most LGW_INGRESS_MOUNTS_MAX; the strings and opaques they point to
 * are not copied and must outlive the table). NULL when n is 0. Owned by the caller (lgw_mounts_free).
 * Main thread, before the server starts. */
struct lgw_mounts *lgw_mounts_new(const struct lgw_http_mount *mounts, size_t n);
void lgw_mounts_free(struct lgw_mounts *ms); /* NULL is a no-op */

/* The route of the mount serving method and path, or NULL. *same_path as in lgw_route_find (a mount of
 * this prefix whatever its method), left untouched when no prefix matches. ms may be NULL. Any thread. */
const struct lgw_route *lgw_mounts_find(const struct lgw_mounts *ms, const char *method, const char *path,
                                        const struct lgw_route **same_path);

#endif
