/* limits.h - rate limits: requests and tokens per window (sliding log), per tenant, per user and per model,
 * and requests in flight per tenant; shared by every instance through one atomic Redis script per request,
 * with an in-memory limiter of the same semantics when Redis is down or slow.
 *
 * A library: the ingress calls it at admission (and when a request ends); a worker can call it for jobs that
 * never passed an ingress. The algorithm, a sliding log, and why: docs/ARCHITECTURE.md, "Rate limits". */
#ifndef LGW_LIMITS_H
#define LGW_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/envelope.h"
#include <jansson.h>

struct lgw_limits;
struct lgw_redis;
struct lgw_metrics;

/* Most limits one request can fall under: tenant rpm, tpm, in flight; user rpm, tpm; model rpm, tpm. */
#define LGW_LIMITS_MAX 7

enum lgw_limit_kind { LGW_LIMIT_REQUESTS = 'r', LGW_LIMIT_TOKENS = 't', LGW_LIMIT_INFLIGHT = 'i' };

/* What one request asks of the limiter. Strings are borrowed for the call. */
struct lgw_limits_request {
    const char *id;     /* unique per request (the request id) */
    const char *tenant; /* required */
    const char *user;   /* "" or NULL: no user limits */
    const char *model;  /* the model or group the client named; "" or NULL: no model limits */
    int64_t tokens;     /* the estimate reserved now, corrected by lgw_limits_finish */
    int64_t hold_ms;    /* how long an in-flight slot may be held at most (the request's deadline) */
};

/* What the answer's x-ratelimit-* headers say: the most restrictive request limit and token limit that
 * applied (the one with the least left). has_* false: no such limit applies (no headers). */
struct lgw_limits_state {
    bool has_requests, has_tokens;
    int64_t req_limit, req_remaining, req_reset_ms;
    int64_t tok_limit, tok_remaining, tok_reset_ms;
    int64_t retry_after_ms; /* a refusal's wait (Retry-After); 0 when admitted */
};

/* A request's hold on the limiter between admit and finish. Embedded in the caller's request object;
 * zero-initialized it holds nothing. A held ticket owns keys until lgw_limits_finish frees it: a waiting
 * request keeps only the bytes its keys need (about 40 each), not room for the longest possible ones, which
 * at 10,000 waiting clients was 22 MB. */
struct lgw_limits_ticket {
    bool held;  /* admitted with some limit applying: lgw_limits_finish has work to do */
    bool local; /* decided by the in-memory limiter (finish goes there too) */
    int n;
    char kinds[LGW_LIMITS_MAX];
    char *keys; /* held: the n Redis keys, each NUL-terminated, one after another (malloc'd); else NULL */
    char id[LGW_ID_MAX];
    int64_t tokens;      /* reserved */
    int64_t admitted_us; /* Redis's time of the admission: the score of the request's entries in its logs */
};

/* Makes the limiter from cfg's limit_* rows and the "tenants" object of the config file (cfg keeps it).
 * redis may be NULL (in memory only, as in `llmgw dev`); the limiter borrows it and m. On a bad "tenants"
 * object returns LGW_ERR(CONFIG) with every problem in errs. Otherwise 0 and *out (free with
 * lgw_limits_free). Start-up thread. */
int lgw_limits_new(const struct lgw_config *cfg, struct lgw_redis *redis, struct lgw_metrics *m,
                   struct lgw_limits **out, struct lgw_buf *errs);
void lgw_limits_free(struct lgw_limits *l);

/* Replaces tenant's own limits at run time with settings, shaped as the tenant's entry in the config file's
 * "tenants" object ({"rpm", "tpm", "inflight", "user": {"rpm", "tpm"}, "models": {...}}; NULL or {}: the
 * defaults of the limit_* rows). Requests admitted after it returns see the new limits; holds taken before
 * are released as taken. Returns 0, or LGW_ERR(CONFIG) with the problems in errs (nothing changed). Any
 * thread (the admin records' reader). */
int lgw_limits_set_tenant(struct lgw_limits *l, const char *tenant, const json_t *settings, struct lgw_buf *errs);
/* Checks settings as lgw_limits_set_tenant would, changing nothing. Returns 0 or LGW_ERR(CONFIG) with
 * errs. Any thread. */
int lgw_limits_check_tenant(const char *tenant, const json_t *settings, struct lgw_buf *errs);

/* True when some limit is configured at all (false: admit is a no-op). Any thread. */
bool lgw_limits_enabled(const struct lgw_limits *l);

/* Admits rq or not, in one atomic Redis call shared by every instance (or in memory when Redis is down,
 * slower than its budget, or absent). t must hold nothing (zeroed, refused or finished; a held
 * one's keys would leak). Returns 0 (admitted: *t holds the reservation, *st the headers),
 * LGW_ERR(RATE_LIMITED) or LGW_ERR(TOKENS_RATE_LIMITED) (refused: st->retry_after_ms, and msg says which
 * limit), or LGW_ERR(UNAVAILABLE) when Redis is down and limit_redis_down is "closed". Any thread. */
int lgw_limits_admit(struct lgw_limits *l, const struct lgw_limits_request *rq, struct lgw_limits_ticket *t,
                     struct lgw_limits_state *st, char *msg, size_t msgsz);
/* Ends t's hold: releases its in-flight slot and corrects its token reservation to used_tokens (< 0: keep the
 * estimate, e.g. the client left and nobody knows what the provider spent). Idempotent (t is cleared).
 * Any thread. */
void lgw_limits_finish(struct lgw_limits *l, struct lgw_limits_ticket *t, int64_t used_tokens);

/* Formats ms as OpenAI's reset headers do (Go durations): "250ms", "1s", "1.5s", "6m0s", "1h0m0s". */
void lgw_limits_format_reset(int64_t ms, char *out, size_t outsz);

/* True while decisions are made by the in-memory limiter (no Redis, or Redis down). Any thread. */
bool lgw_limits_is_local(const struct lgw_limits *l);

#endif
