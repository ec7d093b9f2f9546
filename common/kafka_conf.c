/* kafka_conf.c - TLS, SASL and the pass-through librdkafka properties of every Kafka client (see
 * kafka_conf.h). */
#include "common/kafka_conf.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/errors.h"
#include "common/log.h"

/* Properties llmgw sets itself, refused in the pass-through lists: each has a setting of its own (one place to
 * set a thing, shown by `config docs`), or llmgw's guarantees rest on its value (no job lost or written twice,
 * offsets stored only once work is done). */
static const struct {
    const char *name, *why;
} owned[] = {
    {"bootstrap.servers", "set it with kafka_brokers"},
    {"metadata.broker.list", "set it with kafka_brokers"},
    {"client.id", "llmgw names each of its clients"},
    {"group.id", "llmgw names its consumer groups"},
    {"security.protocol", "set it with kafka_security_protocol"},
    {"sasl.mechanisms", "set it with kafka_sasl_mechanism"},
    {"sasl.mechanism", "set it with kafka_sasl_mechanism"},
    {"sasl.username", "set it with kafka_sasl_username"},
    {"sasl.password", "set it with LLMGW_KAFKA_SASL_PASSWORD"},
    {"ssl.ca.location", "set it with kafka_ssl_ca_location"},
    {"ssl.certificate.location", "set it with kafka_ssl_certificate_location"},
    {"ssl.key.location", "set it with kafka_ssl_key_location"},
    {"ssl.key.password", "set it with LLMGW_KAFKA_SSL_KEY_PASSWORD"},
    {"ssl.endpoint.identification.algorithm", "set it with kafka_ssl_endpoint_identification"},
    {"enable.idempotence", "producers are idempotent with acks=all, so that no job is lost or written twice"},
    {"acks", "producers are idempotent with acks=all, so that no job is lost or written twice"},
    {"request.required.acks", "producers are idempotent with acks=all, so that no job is lost or written twice"},
    {"transactional.id", "llmgw's producers are idempotent, not transactional"},
    {"enable.auto.offset.store", "offsets are stored only once the work of a message is done"},
    {"enable.auto.commit", "each consumer commits as its role's durability order says"},
    {"auto.offset.reset", "each consumer starts where its role needs"},
    {"message.timeout.ms", "set it with kafka_produce_timeout_ms"},
    {"delivery.timeout.ms", "set it with kafka_produce_timeout_ms"},
    {"linger.ms", "replies go at once; cost events wait kafka_cost_linger_ms"},
    {"queue.buffering.max.ms", "replies go at once; cost events wait kafka_cost_linger_ms"},
    {"fetch.wait.max.ms",
     "set it with kafka_fetch_wait_ms (kafka_follow_wait_ms for the followers: replies, cancels, compacted topics)"},
    {"statistics.interval.ms", "set it with kafka_statistics_ms"},
};

/* librdkafka property names: lower case, digits, '.', '_' (log_level) and '-'. */
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyz0123456789._-"

/* Whether a property's value is a secret by its name: passwords, client secrets, private keys inline, the
 * OAUTHBEARER settings (they may carry a token). Such values belong in kafka_secret_properties. */
static bool secret_name(const char *name)
{
    size_t len = strlen(name);
    return strstr(name, "password") || strstr(name, "secret") || strstr(name, "passphrase") ||
           (strstr(name, "key") && len > 4 && strcmp(name + len - 4, ".pem") == 0) ||
           strcmp(name, "sasl.oauthbearer.config") == 0;
}

typedef int (*entry_fn)(const char *setting, const char *name, const char *value, void *arg, struct lgw_buf *errs);

/* Calls fn for each "name=value" entry of list, entries separated by ';' (empty ones skipped). setting names
 * the list in messages, which quote entry numbers and names, never values. Returns 0 or LGW_ERR(CONFIG). */
static int each_entry(const char *setting, const char *list, entry_fn fn, void *arg, struct lgw_buf *errs)
{
    int rc = LGW_OK;
    size_t n = 0;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ";");
        if (len > 0 && ++n > LGW_KAFKA_PROPERTIES_MAX) {
            lgw_buf_printf(errs, "%s: more than %d entries\n", setting, LGW_KAFKA_PROPERTIES_MAX);
            return LGW_ERR(CONFIG);
        }
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t nlen = eq ? (size_t)(eq - p) : 0;
            char name[128], value[4096]; /* a value is shorter than its list, itself at most 4095 bytes */
            if (!eq || nlen == 0 || nlen >= sizeof(name) || strspn(p, NAME_CHARS) < nlen ||
                len - nlen - 1 >= sizeof(value)) {
                lgw_buf_printf(errs, "%s: entry %zu is not `name=value` with a librdkafka property name (lower "
                                     "case, no spaces)\n", setting, n);
                rc = LGW_ERR(CONFIG);
            } else {
                memcpy(name, p, nlen);
                name[nlen] = '\0';
                memcpy(value, eq + 1, len - nlen - 1);
                value[len - nlen - 1] = '\0';
                if (fn(setting, name, value, arg, errs))
                    rc = LGW_ERR(CONFIG);
                explicit_bzero(value, sizeof(value));
            }
        }
        p += len + (p[len] == ';');
    }
    return rc;
}

/* Sets one property; a refusal becomes a line in errs with librdkafka's reason, unless that reason quotes a
 * secret value (then only the property's name). */
static int set_prop(rd_kafka_conf_t *conf, const char *setting, const char *name, const char *value, bool secret,
                    struct lgw_buf *errs)
{
    char err[512];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) == RD_KAFKA_CONF_OK)
        return LGW_OK;
    if (secret && value[0] && strstr(err, value))
        lgw_buf_printf(errs, "%s: librdkafka refused the value of %s\n", setting, name);
    else
        lgw_buf_printf(errs, "%s: %s\n", setting, err);
    return LGW_ERR(CONFIG);
}

/* What set_entry needs: the conf, and whether the list's values are secrets. */
struct setter {
    rd_kafka_conf_t *conf;
    bool secret;
};

static int set_entry(const char *setting, const char *name, const char *value, void *arg, struct lgw_buf *errs)
{
    const struct setter *st = arg;
    return set_prop(st->conf, setting, name, value, st->secret, errs);
}

/* One entry of a list, checked by llmgw's rules and then by librdkafka on a scratch conf (st). */
static int check_entry(const char *setting, const char *name, const char *value, void *arg, struct lgw_buf *errs)
{
    const struct setter *st = arg;
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
        if (strcmp(owned[i].name, name) == 0) {
            lgw_buf_printf(errs, "%s: %s is set by llmgw: %s\n", setting, name, owned[i].why);
            return LGW_ERR(CONFIG);
        }
    if (!st->secret && secret_name(name)) {
        lgw_buf_printf(errs, "%s: %s holds a secret: set it in LLMGW_KAFKA_SECRET_PROPERTIES (environment only, "
                             "never logged)\n", setting, name);
        return LGW_ERR(CONFIG);
    }
    return set_prop(st->conf, setting, name, value, st->secret, errs);
}

int lgw_kafka_conf_apply_properties(const struct lgw_config *cfg, rd_kafka_conf_t *conf, struct lgw_buf *errs)
{
    struct setter plain = {conf, false}, secret = {conf, true};
    int rc = each_entry("kafka_properties", cfg->kafka_properties, set_entry, &plain, errs);
    if (each_entry("kafka_secret_properties", cfg->kafka_secret_properties, set_entry, &secret, errs))
        rc = LGW_ERR(CONFIG);
    return rc;
}

static bool uses_sasl(const char *protocol)
{
    return strncasecmp(protocol, "SASL_", 5) == 0;
}

static bool uses_tls(const char *protocol)
{
    size_t len = strlen(protocol);
    return len >= 3 && strcasecmp(protocol + len - 3, "SSL") == 0;
}

int lgw_kafka_conf_apply(const struct lgw_config *cfg, rd_kafka_conf_t *conf, struct lgw_buf *errs)
{
    int rc = LGW_OK;
    /* The dev mock cluster speaks plaintext only; a production .env reused for `llmgw dev` still works. */
    if (!cfg->kafka_mock) {
        const char *proto = cfg->kafka_security_protocol;
        rc |= set_prop(conf, "kafka_security_protocol", "security.protocol", proto, false, errs);
        if (uses_sasl(proto)) {
            rc |= set_prop(conf, "kafka_sasl_mechanism", "sasl.mechanisms", cfg->kafka_sasl_mechanism, false, errs);
            rc |= set_prop(conf, "kafka_sasl_username", "sasl.username", cfg->kafka_sasl_username, false, errs);
            rc |= set_prop(conf, "kafka_sasl_password", "sasl.password", cfg->kafka_sasl_password, true, errs);
        }
        if (uses_tls(proto)) {
            rc |= set_prop(conf, "kafka_ssl_endpoint_identification", "ssl.endpoint.identification.algorithm",
                           cfg->kafka_ssl_endpoint_identification, false, errs);
            if (cfg->kafka_ssl_ca_location[0])
                rc |= set_prop(conf, "kafka_ssl_ca_location", "ssl.ca.location", cfg->kafka_ssl_ca_location, false,
                               errs);
            if (cfg->kafka_ssl_certificate_location[0])
                rc |= set_prop(conf, "kafka_ssl_certificate_location", "ssl.certificate.location",
                               cfg->kafka_ssl_certificate_location, false, errs);
            if (cfg->kafka_ssl_key_location[0])
                rc |= set_prop(conf, "kafka_ssl_key_location", "ssl.key.location", cfg->kafka_ssl_key_location, false,
                               errs);
            if (cfg->kafka_ssl_key_password[0])
                rc |= set_prop(conf, "kafka_ssl_key_password", "ssl.key.password", cfg->kafka_ssl_key_password, true,
                               errs);
        }
    }
    if (lgw_kafka_conf_apply_properties(cfg, conf, errs))
        rc = LGW_ERR(CONFIG);
    return rc ? LGW_ERR(CONFIG) : LGW_OK;
}

/* A setting that the chosen protocol would ignore is refused: it was meant to do something. */
static int unused(const char *setting, const char *value, const char *protocol, const char *needs,
                  struct lgw_buf *errs)
{
    if (!value[0])
        return LGW_OK;
    lgw_buf_printf(errs, "%s: set, but kafka_security_protocol %s does not use it (%s do)\n", setting, protocol,
                   needs);
    return LGW_ERR(CONFIG);
}

/* The rules of the settings themselves, before librdkafka sees them. */
static int check_settings(const struct lgw_config *cfg, struct lgw_buf *errs)
{
    int rc = LGW_OK;
    const char *proto = cfg->kafka_security_protocol;
    static const char *const protocols[] = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"};
    bool known = false;
    for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++)
        known = known || strcasecmp(proto, protocols[i]) == 0;
    if (!known) {
        lgw_buf_printf(errs, "kafka_security_protocol: \"%.15s\" is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL\n",
                       proto);
        return LGW_ERR(CONFIG);
    }
    if (uses_sasl(proto)) {
        const char *m = cfg->kafka_sasl_mechanism;
        if (strcmp(m, "PLAIN") && strcmp(m, "SCRAM-SHA-256") && strcmp(m, "SCRAM-SHA-512")) {
            lgw_buf_printf(errs, "kafka_sasl_mechanism: %s%.15s%s with %s: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512\n",
                           m[0] ? "\"" : "", m[0] ? m : "required", m[0] ? "\" is not one of those llmgw supports"
                                                                    : "", proto);
            rc = LGW_ERR(CONFIG);
        }
        if (!cfg->kafka_sasl_username[0]) {
            lgw_buf_printf(errs, "kafka_sasl_username: required with %s\n", proto);
            rc = LGW_ERR(CONFIG);
        }
        if (!cfg->kafka_sasl_password[0]) {
            lgw_buf_printf(errs, "kafka_sasl_password: required with %s (set LLMGW_KAFKA_SASL_PASSWORD)\n", proto);
            rc = LGW_ERR(CONFIG);
        }
    } else {
        rc |= unused("kafka_sasl_mechanism", cfg->kafka_sasl_mechanism, proto, "SASL_PLAINTEXT and SASL_SSL", errs);
        rc |= unused("kafka_sasl_username", cfg->kafka_sasl_username, proto, "SASL_PLAINTEXT and SASL_SSL", errs);
        rc |= unused("kafka_sasl_password", cfg->kafka_sasl_password, proto, "SASL_PLAINTEXT and SASL_SSL", errs);
    }
    if (uses_tls(proto)) {
        if (!cfg->kafka_ssl_certificate_location[0] != !cfg->kafka_ssl_key_location[0]) {
            lgw_buf_puts(errs, "kafka_ssl_certificate_location, kafka_ssl_key_location: set both (TLS client "
                               "authentication) or neither\n");
            rc = LGW_ERR(CONFIG);
        }
        if (cfg->kafka_ssl_key_password[0] && !cfg->kafka_ssl_key_location[0]) {
            lgw_buf_puts(errs, "kafka_ssl_key_password: set, but kafka_ssl_key_location is empty\n");
            rc = LGW_ERR(CONFIG);
        }
    } else {
        rc |= unused("kafka_ssl_ca_location", cfg->kafka_ssl_ca_location, proto, "SSL and SASL_SSL", errs);
        rc |= unused("kafka_ssl_certificate_location", cfg->kafka_ssl_certificate_location, proto, "SSL and SASL_SSL",
                     errs);
        rc |= unused("kafka_ssl_key_location", cfg->kafka_ssl_key_location, proto, "SSL and SASL_SSL", errs);
        rc |= unused("kafka_ssl_key_password", cfg->kafka_ssl_key_password, proto, "SSL and SASL_SSL", errs);
    }
    if (strcmp(cfg->kafka_ssl_endpoint_identification, "https") &&
        strcmp(cfg->kafka_ssl_endpoint_identification, "none")) {
        lgw_buf_puts(errs, "kafka_ssl_endpoint_identification: must be https or none\n");
        rc = LGW_ERR(CONFIG);
    }
    rd_kafka_conf_t *scratch = rd_kafka_conf_new();
    struct setter plain = {scratch, false}, secret = {scratch, true};
    if (each_entry("kafka_properties", cfg->kafka_properties, check_entry, &plain, errs))
        rc = LGW_ERR(CONFIG);
    if (each_entry("kafka_secret_properties", cfg->kafka_secret_properties, check_entry, &secret, errs))
        rc = LGW_ERR(CONFIG);
    rd_kafka_conf_destroy(scratch);
    return rc ? LGW_ERR(CONFIG) : LGW_OK;
}

/* The check's client logs nothing: its only news would be that it has no broker address. */
static void quiet_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

int lgw_kafka_conf_check(const struct lgw_config *cfg, struct lgw_buf *errs)
{
    if (check_settings(cfg, errs))
        return LGW_ERR(CONFIG);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (lgw_kafka_conf_apply(cfg, conf, errs)) {
        rd_kafka_conf_destroy(conf);
        return LGW_ERR(CONFIG);
    }
    /* librdkafka loads certificates and keys (and checks that this build has the mechanism) only when a client
     * is made: make one, without bootstrap.servers, so it opens no connection. */
    rd_kafka_conf_set_log_cb(conf, quiet_log_cb);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        const char *pw[] = {cfg->kafka_sasl_password, cfg->kafka_ssl_key_password};
        bool quotes_secret = false;
        for (size_t i = 0; i < 2; i++)
            quotes_secret = quotes_secret || (pw[i][0] && strstr(errstr, pw[i]));
        lgw_buf_printf(errs, "kafka: %s\n", quotes_secret ? "librdkafka refused the TLS or SASL settings" : errstr);
        return LGW_ERR(CONFIG);
    }
    rd_kafka_destroy(rk);
    /* librdkafka before 2.6.1 computes a SCRAM proof that Kafka 4.0 and later refuse (librdkafka issue 4895:
     * the client nonce counted twice; older brokers did not check). Not refused: older brokers take it. */
    if (!cfg->kafka_mock && uses_sasl(cfg->kafka_security_protocol) &&
        strncmp(cfg->kafka_sasl_mechanism, "SCRAM-", 6) == 0 && rd_kafka_version() < 0x020601ff)
        LGW_WARN("kafka",
                 "SCRAM with librdkafka %s is refused by Apache Kafka 4.0 and later brokers (\"invalid credentials\"; "
                 "librdkafka issue 4895, fixed in 2.6.1): link librdkafka 2.6.1 or later, or use PLAIN over SASL_SSL",
                 rd_kafka_version_str());
    return LGW_OK;
}
