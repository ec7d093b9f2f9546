/* kafka_wait.h - a role's start waits for its Kafka cluster instead of giving up.
 *
 * The worker, the ledger and the batch runner make their topics and join their groups at start, and each of those
 * steps gives up after 10 s. Started before the cluster answers, the process used to exit 1 after those 10 s. The
 * ingress already waited; now the other roles wait too (common/start_wait.h: alive and starting on the ops port
 * meanwhile, a log line every 30 s, SIGTERM stops the wait). */
#ifndef LGW_KAFKA_WAIT_H
#define LGW_KAFKA_WAIT_H

#include <stdatomic.h>

#include "common/config.h"

/* Returns LGW_OK once the cluster of cfg answers a metadata request (at once when it does already), or
 * LGW_ERR(UNAVAILABLE) when *stop was set first; an LGW_ERR(CONFIG) when no client can be made from cfg. role names
 * the caller in the log. Asks every 0.25 s at first, backing off to every 5 s. */
int lgw_kafka_wait_for_cluster(const struct lgw_config *cfg, const char *role, const atomic_bool *stop);

#endif
