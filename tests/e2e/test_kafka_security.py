"""Kafka as people run it (issue #18): llmgw against a real broker whose only client listener is SASL_SSL and
which requires TLS client certificates (mTLS). The certificates are made here with openssl: a CA, the broker's
(for 127.0.0.1 and localhost), and a client's with an encrypted key. SCRAM users are written at format time,
PLAIN ones into the broker's JAAS settings (scripts/kafka.sh, KAFKA_SASL_SSL).

- PLAIN over SASL_SSL with a client certificate: ingress, worker and ledger answer a request end to end, with
  its row in PostgreSQL;
- SCRAM-SHA-256 and SCRAM-SHA-512: with librdkafka 2.6.1 or later, a request goes through the gateway and back
  (ingress, worker, ledger and its row for SCRAM-SHA-512). The librdkafka before 2.6.1 (Debian 12 has 2.0.2)
  computes a SCRAM proof Kafka 4 refuses (librdkafka issue 4895): llmgw warns at start, and the test checks that
  the broker's SCRAM users work with a current librdkafka (confluent-kafka's) and that llmgw's clients are
  refused with the broker's "invalid credentials", as the warning says;
- a wrong password: the worker never becomes ready, says why (authentication failed), never logs the password;
- the librdkafka pass-through reaches librdkafka (debug=security shows its SASL and TLS debug lines), and an
  unknown property or a secret in the config file stops the start with exit 2."""
import http.client
import json
import os
import secrets
import subprocess
import time

import pytest

from conftest import ROOT, assert_ledger_complete, chat_body, free_port, two_free_ports

PASSWORD = "pw" + secrets.token_hex(12)  # the broker's user llmgw, every mechanism
KEY_PASSWORD = "kp" + secrets.token_hex(12)  # the client key's


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(d):
    """A CA; the broker's key and certificate (SAN 127.0.0.1 and localhost) as broker.pem; a client certificate
    with a key encrypted by KEY_PASSWORD."""
    d.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=llmgw test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    (d / "broker.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                  "extendedKeyUsage=serverAuth,clientAuth\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
            "-subj", "/CN=localhost", cwd=d)
    openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "broker.crt", "-days", "2", "-extfile", "broker.ext", cwd=d)
    # Kafka's PEM keystore: the PKCS#8 key, then the certificate.
    (d / "broker.pem").write_text((d / "broker.key").read_text() + (d / "broker.crt").read_text())
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    openssl("req", "-newkey", "rsa:2048", "-keyout", "client.key", "-passout", f"pass:{KEY_PASSWORD}",
            "-out", "client.csr", "-subj", "/CN=llmgw", cwd=d)
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "client.pem", "-days", "2", "-extfile", "client.ext", cwd=d)
    assert "ENCRYPTED PRIVATE KEY" in (d / "client.key").read_text()


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory):
    """One SASL_SSL broker with mTLS required for the module's tests; yields (address, certificate dir)."""
    base = tmp_path_factory.mktemp("kafka-secure")
    certs = base / "certs"
    make_certs(certs)
    kdir = base / "kafka"
    port = two_free_ports()
    env = dict(os.environ, KAFKA_SASL_SSL=str(certs), KAFKA_SASL_USERS=f"llmgw:{PASSWORD}",
               KAFKA_SSL_CLIENT_AUTH="required")
    r = subprocess.run(["bash", str(ROOT / "scripts" / "kafka.sh"), "start", str(kdir), str(port)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    pid = int((kdir / "kafka.pid").read_text())
    pids = os.environ.get("LLMGW_TEST_PIDS")
    if pids:
        with open(pids, "a") as f:
            f.write(f"{pid}\n")
    try:
        yield r.stdout.strip(), certs
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "kafka.sh"), "stop", str(kdir)], check=False)


def security_env(certs, mechanism, password=PASSWORD, **extra):
    env = {
        "LLMGW_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "LLMGW_KAFKA_SASL_MECHANISM": mechanism,
        "LLMGW_KAFKA_SASL_USERNAME": "llmgw",
        "LLMGW_KAFKA_SASL_PASSWORD": password,
        "LLMGW_KAFKA_SSL_CA_LOCATION": str(certs / "ca.pem"),
        "LLMGW_KAFKA_SSL_CERTIFICATE_LOCATION": str(certs / "client.pem"),
        "LLMGW_KAFKA_SSL_KEY_LOCATION": str(certs / "client.key"),
        "LLMGW_KAFKA_SSL_KEY_PASSWORD": KEY_PASSWORD,
    }
    env.update(extra)
    return env


def post(port, headers, content):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/v1/chat/completions", chat_body(content), headers)
    r = conn.getresponse()
    body = json.loads(r.read())
    return r.status, body, r.getheader("x-request-id")


def assert_no_secret_logged(cluster, *words):
    for proc in cluster.procs:
        text = proc.output()
        for w in words:
            assert w not in text, f"{proc.name} logged a secret"


def end_to_end(cluster, with_ledger: bool, tag: str):
    """A request through ingress and worker (and the ledger, with its row); returns the processes' logs."""
    if with_ledger:
        # The pass-through reaches librdkafka: its security debug lines appear (at llmgw's debug level).
        cluster.ledger(LLMGW_KAFKA_PROPERTIES="debug=security;socket.keepalive.enable=true", LLMGW_LOG_LEVEL="debug")
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    status, body, rid = post(port, cluster.headers(), tag)
    assert status == 200, body
    assert body["choices"][0]["message"]["content"] == tag
    if with_ledger:
        with cluster.db() as db, db.cursor() as cur:
            assert_ledger_complete(cur, [rid], timeout=30)
        ledger_log = cluster.procs[0].output()
        assert '"module":"rdkafka"' in ledger_log and "SASL" in ledger_log, ledger_log[-2000:]
    assert_no_secret_logged(cluster, PASSWORD, KEY_PASSWORD)


def test_plain_over_sasl_ssl_end_to_end_with_ledger_row(cluster, secure_broker):
    addr, certs = secure_broker
    cluster.kafka = addr
    cluster.extra_env.update(security_env(certs, "PLAIN"))
    # Every client of every role authenticates with PLAIN over TLS, with a client certificate (mTLS required).
    end_to_end(cluster, True, "over SASL_SSL with PLAIN")


def scram_is_broken(cluster, env) -> bool:
    """Whether llmgw's librdkafka predates the SCRAM fix: llmgw says so at start (common/kafka_conf.c)."""
    r = subprocess.run([cluster.bin, "config", "check"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return "librdkafka issue 4895" in r.stderr


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram(cluster, secure_broker, mechanism):
    addr, certs = secure_broker
    cluster.kafka = addr
    cluster.extra_env.update(security_env(certs, mechanism))
    if not scram_is_broken(cluster, cluster.env()):
        end_to_end(cluster, mechanism == "SCRAM-SHA-512", f"with {mechanism}")
        return
    # The broker's SCRAM user works with a librdkafka that has the fix (confluent-kafka's own) ...
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": addr, "security.protocol": "SASL_SSL", "sasl.mechanism": mechanism,
                         "sasl.username": "llmgw", "sasl.password": PASSWORD,
                         "ssl.ca.location": str(certs / "ca.pem"),
                         "ssl.certificate.location": str(certs / "client.pem"),
                         "ssl.key.location": str(certs / "client.key"), "ssl.key.password": KEY_PASSWORD})
    assert admin.list_topics(timeout=20).brokers
    # ... and llmgw's older one is refused as its start-up warning says, with the reason in the log.
    ops = free_port()
    worker = cluster.start("worker", "w-scram", LLMGW_WORKER_ID="w-scram", LLMGW_OPS_PORT=ops)
    wait_not_ready(worker, ops, 20, f"invalid credentials with SASL mechanism {mechanism}")
    log = worker.output()
    assert "librdkafka issue 4895" in log
    assert f"invalid credentials with SASL mechanism {mechanism}" in log, log[-3000:]
    assert_no_secret_logged(cluster, PASSWORD, KEY_PASSWORD)
    worker.stop()


def wait_not_ready(proc, ops: int, seconds: float, until: str) -> None:
    """Polls the process's /readyz until its log says until and /readyz answered at least once (or it exits, or
    seconds pass); fails if it was ever ready or never answered (its ops port serves from the start, before the
    role waits on the broker)."""
    deadline = time.monotonic() + seconds
    answers = []
    while time.monotonic() < deadline and proc.popen.poll() is None and not (answers and until in proc.output()):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", ops, timeout=1)
            conn.request("GET", "/readyz")
            answers.append(conn.getresponse().status)
            assert answers[-1] != 200, f"{proc.name} became ready"
        except OSError:
            pass
        time.sleep(0.3)
    assert answers, f"{proc.name}: /readyz never answered on {ops}"
    assert set(answers) == {503}, answers


def test_wrong_password_fails_readiness_and_is_not_logged(cluster, secure_broker):
    addr, certs = secure_broker
    cluster.kafka = addr
    wrong = "wrong" + secrets.token_hex(8)
    cluster.extra_env.update(security_env(certs, "PLAIN", password=wrong))
    ops = free_port()
    worker = cluster.start("worker", "w-bad", LLMGW_WORKER_ID="w-bad", LLMGW_OPS_PORT=ops)
    wait_not_ready(worker, ops, 15, "Authentication failed")
    log = worker.output()
    assert "Authentication failed" in log, log[-3000:]
    assert_no_secret_logged(cluster, wrong, PASSWORD, KEY_PASSWORD)
    worker.stop()


def test_bad_settings_stop_the_start_with_exit_2(cluster, tmp_path, secure_broker):
    addr, certs = secure_broker
    env = cluster.env(LLMGW_KAFKA_BROKERS=addr, **security_env(certs, "SCRAM-SHA-512"))
    # An unknown librdkafka property: librdkafka's own message, before any connection.
    r = subprocess.run([cluster.bin, "ingress"], env=dict(env, LLMGW_KAFKA_PROPERTIES="client.rack=r1;no.such.thing=1"),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stderr
    assert 'kafka_properties: No such configuration property: "no.such.thing"' in r.stderr
    # A secret in the config file (which `config docs` users share and commit): refused, value never echoed.
    conf = tmp_path / "llmgw.json"
    conf.write_text(json.dumps({"kafka_sasl_password": "in-a-file-" + PASSWORD}))
    r = subprocess.run([cluster.bin, "worker", "--config", str(conf)], env=env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2
    assert '"kafka_sasl_password" is a secret; set it with LLMGW_KAFKA_SASL_PASSWORD only' in r.stderr
    assert PASSWORD not in r.stderr + r.stdout
    # A client key that its password does not open: librdkafka refuses it at the check.
    r = subprocess.run([cluster.bin, "config", "check"], env=dict(env, LLMGW_KAFKA_SSL_KEY_PASSWORD="not-it"),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stdout
    assert "ssl.key.location" in r.stderr
    assert "not-it" not in r.stderr
