/* redis.h - the one Redis client of every role: a small pool of hiredis connections to one server, a command
 * budget, and a background thread that reconnects, so a request never waits on a connect.
 *
 * Generic on purpose (no limiter or cache logic here): callers send argv commands and read hiredis replies.
 * The server is named by a URL, `redis://[user:password@]host[:port][/db]`: AUTH with an ACL user and
 * password (or the password alone), then SELECT db. No TLS (`rediss://`): Debian 12's hiredis 0.14 has none;
 * reach a remote Redis over a private network or a TLS tunnel. The password is never logged. */
#ifndef LGW_REDIS_H
#define LGW_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct redisReply;
struct lgw_metrics;
struct lgw_redis;

/* A parsed redis:// URL. user and password are empty when the URL has none. */
struct lgw_redis_url {
    char user[128];
    char password[256]; /* secret: never logged */
    char host[256];
    int port; /* 6379 when the URL names none */
    int db;   /* 0 when the URL names none */
};

/* Parses url into *out (percent-escapes in user and password decoded). Returns 0, or LGW_ERR(CONFIG) with
 * one line in errs (when not NULL) saying what is wrong; the line never contains the password. Any thread. */
int lgw_redis_parse_url(const char *url, struct lgw_redis_url *out, struct lgw_buf *errs);

struct lgw_redis_options {
    const char *url;            /* redis://...; required */
    int64_t timeout_ms;         /* budget of one command (send and reply); past it the connection is dropped */
    int64_t connect_timeout_ms; /* budget of one connect, AUTH and SELECT (only the background thread waits) */
    int pool;                   /* connections (callers that can run commands at once); at least 1 */
    struct lgw_metrics *metrics; /* may be NULL; gets llmgw_redis_up and llmgw_redis_reconnects_total */
};

/* Makes a client and tries to connect every connection once, on the calling thread (start-up, bounded by
 * connect_timeout_ms per connection); a server that is not there yet is not an error: the background thread
 * keeps trying. Returns 0 and *out (the caller owns it, free with lgw_redis_free), or LGW_ERR(CONFIG) for a
 * bad URL. Call from the thread that starts the role. */
int lgw_redis_new(const struct lgw_redis_options *opt, struct lgw_redis **out);
/* Stops the reconnect thread and closes every connection. NULL is a no-op. No command may be running. */
void lgw_redis_free(struct lgw_redis *r);

/* True when the last command or connect succeeded (some connection is up). NULL: false. Any thread. */
bool lgw_redis_healthy(const struct lgw_redis *r);

/* Runs one command on a free connection, within the budget, and never connects: when no connection is up
 * it fails at once. argvlen may be NULL (argv are then C strings). On success returns 0 and *reply (the
 * caller frees it with freeReplyObject; a Redis error reply is a success here, of type REDIS_REPLY_ERROR).
 * On a broken or slow connection returns LGW_ERR(UNAVAILABLE), drops that connection and wakes the
 * reconnect thread. NULL r: LGW_ERR(UNAVAILABLE). Any thread. */
int lgw_redis_command(struct lgw_redis *r, int argc, const char **argv, const size_t *argvlen,
                      struct redisReply **reply);

/* Writes "host:port/db" (plus "user@" when there is one; never the password) into out, for logs. */
const char *lgw_redis_describe(const struct lgw_redis_url *url, char *out, size_t outsz);

#endif
