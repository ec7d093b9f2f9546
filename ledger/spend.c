/* spend.c - the ledger's running spend: deltas of a batch, their rows in spend_totals, and the records on
 * the spend topic (see spend.h). */
#include "ledger/spend.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/topics.h"
#include "common/spend_record.h"

/* One scope and period a batch touched: the cost added, then the total the database holds. */
struct row {
    struct lgw_spend_record rec; /* spend_nusd: the total, once written */
    int64_t add_nusd;
};

struct lgw_ledger_spend {
    const struct lgw_config *cfg;
    struct lgw_metrics *m;
    rd_kafka_t *producer;
    char topic[LGW_TOPIC_MAX];
    struct row *rows;
    size_t n, alloc;
};

int lgw_ledger_spend_new(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_ledger_spend **out)
{
    *out = NULL;
    struct lgw_ledger_spend *s = lgw_calloc(1, sizeof(*s));
    s->cfg = cfg;
    s->m = m;
    lgw_topic_name(cfg, LGW_TOPIC_SPEND, NULL, s->topic, sizeof(s->topic));
    /* linger 0: a total is worth most the moment it is known (every ms of delay is overshoot). */
    int rc = lgw_kafka_producer_new(cfg, "llmgw-ledger-spend", 0, NULL, NULL, &s->producer);
    if (rc) {
        free(s);
        return rc;
    }
    lgw_metrics_declare(m, "llmgw_ledger_spend_published_total", LGW_METRIC_COUNTER,
                        "Running spend totals the ledger published on the spend topic (result: queued, or failed "
                        "when the producer could not take the record).");
    *out = s;
    return LGW_OK;
}

void lgw_ledger_spend_clear(struct lgw_ledger_spend *s)
{
    s->n = 0;
}

/* Adds cost to the row of scope and period, making it if the batch has not touched it yet. Batches are
 * small and touch few tenants, so a linear search from the newest row finds it in a step or two. */
static void add_row(struct lgw_ledger_spend *s, const char *scope, const char *period, const struct lgw_cost_event *ev,
                    bool keyed)
{
    for (size_t i = s->n; i-- > 0;) {
        struct row *r = &s->rows[i];
        if (strcmp(r->rec.scope, scope) == 0 && strcmp(r->rec.period, period) == 0) {
            /* Saturating: one batch never comes near 9.2e18 nano-USD, but the bill must not wrap. */
            r->add_nusd = ev->cost_nusd > INT64_MAX - r->add_nusd ? INT64_MAX : r->add_nusd + ev->cost_nusd;
            return;
        }
    }
    if (s->n == s->alloc) {
        s->alloc = s->alloc ? s->alloc * 2 : 16;
        s->rows = lgw_realloc(s->rows, s->alloc * sizeof(*s->rows));
    }
    struct row *r = &s->rows[s->n++];
    memset(r, 0, sizeof(*r));
    lgw_strlcpy(r->rec.scope, scope, sizeof(r->rec.scope));
    lgw_strlcpy(r->rec.period, period, sizeof(r->rec.period));
    lgw_strlcpy(r->rec.tenant, ev->tenant, sizeof(r->rec.tenant));
    if (keyed)
        lgw_strlcpy(r->rec.key_id, ev->key_id, sizeof(r->rec.key_id));
    r->add_nusd = ev->cost_nusd;
}

void lgw_ledger_spend_add(struct lgw_ledger_spend *s, const struct lgw_cost_event *ev)
{
    char scope[LGW_SPEND_SCOPE_MAX], day[LGW_SPEND_PERIOD_MAX], month[LGW_SPEND_PERIOD_MAX];
    /* The event's own time, not the ledger's: an event written late still counts on the day it was spent. */
    lgw_spend_day(ev->ts_ms, day);
    lgw_spend_month(ev->ts_ms, month);
    lgw_spend_scope_tenant(ev->tenant, scope);
    add_row(s, scope, day, ev, false);
    add_row(s, scope, month, ev, false);
    if (!ev->key_id[0])
        return;
    lgw_spend_scope_key(ev->key_id, scope);
    add_row(s, scope, day, ev, true);
    add_row(s, scope, month, ev, true);
}

/* spend_totals' key order: scope, then period. */
static int row_cmp(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    int c = strcmp(x->rec.scope, y->rec.scope);
    return c ? c : strcmp(x->rec.period, y->rec.period);
}

int lgw_ledger_spend_write(struct lgw_ledger_spend *s, struct lgw_ledger_db *db)
{
    if (s->n == 0)
        return LGW_OK;
    int64_t now = lgw_wall_ms();
    /* Every ledger locks the rows it adds to in one order, the table's key order. In the order a batch met
     * them, two ledgers whose batches hold the same two tenants the other way round would each lock one row
     * and wait for the other's: PostgreSQL ends that deadlock by rolling one batch back, a second later. */
    qsort(s->rows, s->n, sizeof(*s->rows), row_cmp);
    /* All of the batch's rows at once: with PostgreSQL one round trip (ledger_db.h). */
    struct lgw_spend_delta *d = lgw_calloc(s->n, sizeof(*d));
    int64_t *totals = lgw_calloc(s->n, sizeof(*totals));
    for (size_t i = 0; i < s->n; i++) {
        const struct row *r = &s->rows[i];
        d[i] = (struct lgw_spend_delta){r->rec.scope, r->rec.period, r->rec.tenant, r->rec.key_id, r->add_nusd, now};
    }
    int rc = lgw_ledger_db_spend_add_batch(db, d, s->n, totals);
    for (size_t i = 0; rc == 0 && i < s->n; i++) {
        s->rows[i].rec.spend_nusd = totals[i];
        s->rows[i].rec.ts_ms = now;
    }
    free(d);
    free(totals);
    return rc;
}

static void publish_one(struct lgw_ledger_spend *s, const struct lgw_spend_record *rec)
{
    char key[LGW_SPEND_KEY_MAX];
    struct lgw_buf val;
    lgw_buf_init(&val, 0);
    lgw_spend_record_key(rec, key);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    int rc = lgw_spend_record_encode(rec, &val);
    if (rc == 0) {
        struct lgw_kafka_msg msg = {.topic = s->topic, .partition = RD_KAFKA_PARTITION_UA, .key = key,
                                    .value = val.ptr, .len = val.len};
        rc = lgw_kafka_produce(s->producer, &msg, &err);
    }
    if (rc)
        LGW_WARN("ledger", "spend total %s not published: %s", key, err ? rd_kafka_err2str(err) : "encoding failed");
    lgw_metrics_add(s->m, "llmgw_ledger_spend_published_total", rc ? "result=\"failed\"" : "result=\"queued\"", 1);
    lgw_buf_cleanup(&val);
}

void lgw_ledger_spend_publish(struct lgw_ledger_spend *s)
{
    for (size_t i = 0; i < s->n; i++)
        publish_one(s, &s->rows[i].rec);
    s->n = 0;
    rd_kafka_poll(s->producer, 0); /* serve the producer's events (errors, statistics) */
}

struct republish {
    struct lgw_ledger_spend *s;
    int64_t now_ms;
    size_t n;
};

static void republish_cb(void *opaque, const char *scope, const char *period, const char *tenant, const char *key_id,
                         int64_t spend_nusd)
{
    struct republish *rp = opaque;
    struct lgw_spend_record rec = {.spend_nusd = spend_nusd, .ts_ms = rp->now_ms};
    lgw_strlcpy(rec.scope, scope, sizeof(rec.scope));
    lgw_strlcpy(rec.period, period, sizeof(rec.period));
    lgw_strlcpy(rec.tenant, tenant, sizeof(rec.tenant));
    lgw_strlcpy(rec.key_id, key_id, sizeof(rec.key_id));
    publish_one(rp->s, &rec);
    rp->n++;
}

/* Asks the broker about the spend topic now: the first record to a topic the producer has not looked up yet
 * waits for that lookup (on a live broker close to a second: measured in tests/e2e/test_budgets.py), and that
 * wait would be overshoot of every budget crossed by the ledger's first batch. */
static void warm_up(struct lgw_ledger_spend *s)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(s->producer, s->topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rkt ? rd_kafka_metadata(s->producer, 0, rkt, &md, 5000) : RD_KAFKA_RESP_ERR__FAIL;
    if (err)
        LGW_WARN("ledger", "spend topic %s: %s", s->topic, rd_kafka_err2str(err));
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
}

int lgw_ledger_spend_republish(struct lgw_ledger_spend *s, struct lgw_ledger_db *db, int64_t now_ms)
{
    warm_up(s);
    char day[LGW_SPEND_PERIOD_MAX], month[LGW_SPEND_PERIOD_MAX];
    lgw_spend_day(now_ms, day);
    lgw_spend_month(now_ms, month);
    struct republish rp = {s, now_ms, 0};
    int rc = lgw_ledger_db_spend_list(db, day, month, republish_cb, &rp);
    if (rc == 0)
        LGW_INFO("ledger", "published %zu spend total(s) of %s and %s", rp.n, day, month);
    rd_kafka_poll(s->producer, 0);
    return rc;
}

void lgw_ledger_spend_free(struct lgw_ledger_spend *s)
{
    if (!s)
        return;
    if (rd_kafka_flush(s->producer, 2000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        LGW_WARN("ledger", "%d spend record(s) not delivered at exit", rd_kafka_outq_len(s->producer));
    rd_kafka_destroy(s->producer);
    free(s->rows);
    free(s);
}
