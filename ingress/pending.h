/* pending.h - requests waiting for their reply, by request id.
 *
 * The ingress inserts a request and suspends its connection while holding the id's shard lock, so the
 * reply thread (the only remover besides the drain) can never resume a connection that is not yet
 * suspended. Sharded so the HTTP threads and the reply thread rarely contend. */
#ifndef LGW_PENDING_H
#define LGW_PENDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lgw_req;

struct lgw_pending;

struct lgw_pending *lgw_pending_new(void);
/* The map must be empty (everything taken) before it is freed. NULL is a no-op. */
void lgw_pending_free(struct lgw_pending *p);

/* Lock the shard of id; between lock and unlock call lgw_pending_insert_locked for that id only. */
void lgw_pending_lock(struct lgw_pending *p, const char *id);
void lgw_pending_unlock(struct lgw_pending *p, const char *id);
/* req->id must be set; req->pending_next is used as the chain link. The map does not own req. */
void lgw_pending_insert_locked(struct lgw_pending *p, struct lgw_req *req);
/* Between lock and unlock: takes a reference to req for the map, inserts it and suspends its connection
 * (req->suspended under req->lock), so whoever takes it out after unlock finds it suspended. */
void lgw_pending_suspend_locked(struct lgw_pending *p, struct lgw_req *req);

/* Removes req if it is still in the map (its completion callback does this for a client that left);
 * returns true when it was, and the caller then owns the map's reference. */
bool lgw_pending_remove(struct lgw_pending *p, struct lgw_req *req);
/* Returns the request with id with a new reference (the caller drops it), leaving it in the map; NULL
 * when absent. */
struct lgw_req *lgw_pending_ref(struct lgw_pending *p, const char *id);
/* Removes and returns the request with id, or NULL (already answered, timed out, or unknown). The caller
 * gets the map's reference. */
struct lgw_req *lgw_pending_take(struct lgw_pending *p, const char *id);
/* Removes every request whose deadline_ms (monotonic) is <= now_ms (all when now_ms is INT64_MAX) and
 * returns them chained through pending_next. */
struct lgw_req *lgw_pending_take_expired(struct lgw_pending *p, int64_t now_ms);
size_t lgw_pending_count(struct lgw_pending *p);

#endif
