/* replies.h - the ingress's reply thread: it reads this instance's reply topic and owns every completion of
 * a waiting request (a reply, a job Kafka did not take, the deadline), so no two completions of one request
 * can race. It also creates the ingress's topics and positions the reply consumer (readiness). */
#ifndef LGW_REPLIES_H
#define LGW_REPLIES_H

#include <librdkafka/rdkafka.h>

struct lgw_ingress;

/* Creates the reply consumer and starts the thread. Returns 0 or an LGW_ERR. Main thread. */
int lgw_replies_start(struct lgw_ingress *ing);
/* Stops and joins the thread, closes the consumer; a no-op when not started. Main thread. */
void lgw_replies_stop(struct lgw_ingress *ing);
/* Delivery-report callback for the ingress's producer (polled by the reply thread): a job Kafka did not
 * take is answered 503 at once. */
void lgw_replies_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);
/* Error callback of the job producer: when librdkafka finds every broker down, the ingress stops admitting
 * at once (readiness false until the probe reaches the cluster again) instead of at the next probe, so no new
 * request waits out the produce timeout. */
void lgw_replies_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque);
/* Answers every request still waiting with rc (the drain, after lgw_replies_stop: nothing else completes
 * requests then). Main thread. */
void lgw_replies_fail_all(struct lgw_ingress *ing, int rc, const char *message);

#endif
