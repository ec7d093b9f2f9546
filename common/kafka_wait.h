/* kafka_wait.h - a role's start waits for its Kafka cluster instead of giving up.
 *
 * The worker, the ledger and the batch runner make their topics and join their groups at start, and each of those
 * steps gives up after 10 s. Started before the cluster answers (a whole deployment coming up at once, a broker
 * restarting, a network not yet there), the process used to exit 1 after those 10 s, and its supervisor's
 * restart back-off then grew, so it came back long after the cluster did. The ingress already waits. Now the
 * other roles wait too, answering /healthz 200 and /readyz 503 "starting" on their ops port meanwhile
 * (common/opsrv.h), saying so in their log every 30 s, and stopping at once on SIGTERM. */
#ifndef LGW_KAFKA_WAIT_H
#define LGW_KAFKA_WAIT_H

#include <stdatomic.h>

#include "common/config.h"

/* Returns LGW_OK once the cluster of cfg answers a metadata request (at once when it does already), or
 * LGW_ERR(UNAVAILABLE) when *stop was set first; an LGW_ERR(CONFIG) when no client can be made from cfg. role names
 * the caller in the log. Tries every 0.25 s at first, backing off to every 5 s. */
int lgw_kafka_wait_for_cluster(const struct lgw_config *cfg, const char *role, const atomic_bool *stop);

#endif
