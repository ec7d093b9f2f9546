/* kafka_conf.h - how llmgw's Kafka clients reach a cluster beyond its address: TLS, SASL, and the librdkafka
 * properties a user passes through (kafka_properties, kafka_secret_properties).
 *
 * Every client llmgw makes gets these from lgw_kafka_conf_new (common/kafka.h), so producers, consumers and
 * the admin calls of every role connect alike. The settings are checked once at start (lgw_kafka_conf_check),
 * before any socket opens; what is wrong is reported with librdkafka's own words, never with a secret. */
#ifndef LGW_KAFKA_CONF_H
#define LGW_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>

#include "common/buf.h"
#include "common/config.h"

/* Most name=value entries one pass-through list holds. */
#define LGW_KAFKA_PROPERTIES_MAX 64

/* Checks cfg's Kafka security settings and pass-through lists: the protocol and mechanism are known ones,
 * what a protocol needs is there and what it would ignore is not, the lists parse, name no property llmgw sets
 * itself and (kafka_properties) no secret. Then applies them to a conf and makes a client from it with no
 * broker address (so it connects nowhere): librdkafka refuses an unknown property, a bad value or a
 * certificate it cannot load. Every problem is a line in errs; no line holds a secret's value.
 * Returns 0 or LGW_ERR(CONFIG). Main thread, at start. */
int lgw_kafka_conf_check(const struct lgw_config *cfg, struct lgw_buf *errs);

/* Sets the security properties of cfg on conf (none on the dev mock cluster, cfg->kafka_mock), then the
 * pass-through properties (lgw_kafka_conf_apply_properties). Returns 0, or LGW_ERR(CONFIG) with a line per
 * refusal in errs. Any thread. */
int lgw_kafka_conf_apply(const struct lgw_config *cfg, rd_kafka_conf_t *conf, struct lgw_buf *errs);

/* Sets kafka_properties and then kafka_secret_properties on conf. Callers that set properties of their own
 * after lgw_kafka_conf_new (producer and consumer construction) call it again last, so that the user's value
 * wins over llmgw's defaults. Returns 0, or LGW_ERR(CONFIG) with a line per refusal in errs. Any thread. */
int lgw_kafka_conf_apply_properties(const struct lgw_config *cfg, rd_kafka_conf_t *conf, struct lgw_buf *errs);

#endif
