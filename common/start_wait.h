/* start_wait.h - a role's start waits for a service it needs (its Kafka cluster, its database) instead of giving up.
 *
 * A whole deployment comes up at once, a broker or database restarts, a network is not there yet: a process that
 * exits because its service does not answer at its start is restarted by its supervisor after a back-off that
 * grows, so it comes back long after the service did. So the roles wait, answering /healthz 200 and /readyz 503
 * "starting" on their ops port meanwhile (common/opsrv.h), saying so in their log every 30 s, and stopping at once
 * on SIGTERM. What the wait asks is the caller's probe (common/kafka_wait.h, common/pg_wait.h). */
#ifndef LGW_START_WAIT_H
#define LGW_START_WAIT_H

#include <stdatomic.h>

/* A probe's answers: the service answered; not yet (ask again later); or never will without a change of
 * configuration (stop waiting). */
enum lgw_start_probe { LGW_PROBE_UP, LGW_PROBE_NOT_YET, LGW_PROBE_CONFIG };

/* Asks probe(arg) until it answers LGW_PROBE_UP (LGW_OK; at once when the first answer is) or LGW_PROBE_CONFIG
 * (LGW_ERR(CONFIG)), or *stop is set (LGW_ERR(UNAVAILABLE)). Asks again 0.25 s after a "not yet", the pause doubling
 * up to 5 s. role, what and where name the wait in the log ("worker: waiting for the Kafka cluster at HOST:PORT");
 * where must never hold a secret. */
int lgw_start_wait(const char *role, const char *what, const char *where, enum lgw_start_probe (*probe)(void *arg),
                   void *arg, const atomic_bool *stop);

#endif
