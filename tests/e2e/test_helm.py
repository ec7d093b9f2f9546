"""The Helm chart (deploy/helm/llmgw) checked statically, as no cluster runs here: `helm lint` and `helm template`
(Helm v3.22.0, scripts/helm.sh) with the default values, with every optional part enabled and with the optional
parts off; every rendered object validated with kubernetes-validate against the Kubernetes 1.30 and 1.37 schemas;
and what the chart must agree on with llmgw itself: probe paths and ports, the drain, the worker HPA's metric,
the config table, and secrets only by reference."""
import math
import re
import subprocess

import kubernetes_validate
import pytest
import yaml

from conftest import ROOT, _env

CHART = ROOT / "deploy" / "helm" / "llmgw"
# The oldest Kubernetes the chart supports (Chart.yaml's kubeVersion: the preStop sleep action) and the newest
# kubernetes-validate 1.37.0 has schemas for.
KUBE_VERSIONS = ["1.30.0", "1.37.0"]
DB = {"database": {"existingSecret": "llmgw-db"}}
# Every optional part on, and every value the templates branch on away from its default.
ALL = {
    "database": {"existingSecret": "llmgw-db", "urlKey": "url", "passwordKey": "password"},
    "redis": {"enabled": True, "existingSecret": "llmgw-redis", "urlKey": "url"},
    "kafka": {"brokers": "k1:9093,k2:9093", "sasl": {"enabled": True, "existingSecret": "llmgw-kafka"}},
    "providers": {"existingSecret": "llmgw-providers"},
    "batch": {"enabled": True},
    "config": {"LLMGW_LOG_LEVEL": "debug", "LLMGW_KAFKA_PARTITIONS": 12, "LLMGW_TOPIC_PREFIX": "prod"},
    "configFile": {"tenants": {"acme": {"rpm": 600, "budget": {"day_usd": "5.00"}}}},
    "shutdownGraceMs": 12345,
    "drainMarginSeconds": 7,
    "imagePullSecrets": [{"name": "registry"}],
    "image": {"repository": "registry.example/llmgw", "tag": "0.1.0-test"},
    "serviceAccount": {"annotations": {"example.com/role": "llmgw"}},
    "ingress": {"port": 8000, "opsPort": 9100, "preStopSleepSeconds": 3,
                "service": {"type": "LoadBalancer", "annotations": {"example.com/lb": "internal"}},
                "podAnnotations": {"example.com/team": "ai"}},
    "worker": {"opsPort": 9101, "autoscaling": {"lagTopics": ["jobs.chat", "jobs.embeddings", "batch.jobs.chat"],
                                                "targetLagPerReplica": 250}},
    "ledger": {"opsPort": 9102, "replicas": 2, "nodeSelector": {"pool": "db"}},
}
# The optional parts off: fixed replica counts instead of HPAs, no PDBs, no scrape annotations.
OFF = {
    **DB,
    "metrics": {"podAnnotations": False},
    "serviceAccount": {"create": False},
    "ingress": {"autoscaling": {"enabled": False}, "pdb": {"enabled": False}, "replicas": 3},
    "worker": {"autoscaling": {"enabled": False}, "pdb": {"enabled": False}, "replicas": 4},
    "ledger": {"pdb": {"enabled": False}},
}
VALUE_SETS = {"default": DB, "all": ALL, "off": OFF}

# What a role's probes and Prometheus use: the environment setting that opens the ops port.
OPS_ENV = {"ingress": "LLMGW_INGRESS_OPS_PORT", "worker": "LLMGW_OPS_PORT", "ledger": "LLMGW_OPS_PORT",
           "batch": "LLMGW_OPS_PORT"}
# The Kafka security settings the chart takes from kafka.sasl.existingSecret (the SASL user and password; the
# client key's password and secret librdkafka properties, optional).
KAFKA_ENV = {"LLMGW_KAFKA_SASL_USERNAME", "LLMGW_KAFKA_SASL_PASSWORD", "LLMGW_KAFKA_SSL_KEY_PASSWORD",
             "LLMGW_KAFKA_SECRET_PROPERTIES"}


def run(*argv):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def helm():
    out = run("bash", ROOT / "scripts" / "helm.sh", "path")
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def render(helm, tmp_path, values, kube="1.37.0"):
    """helm template with values (a dict, written as a values file); returns (returncode, objects, stderr)."""
    vf = tmp_path / "values.yaml"
    vf.write_text(yaml.safe_dump(values))
    out = run(helm, "template", "gw", CHART, "--namespace", "llm", "--kube-version", kube, "-f", vf)
    objs = [d for d in yaml.safe_load_all(out.stdout) if d] if out.returncode == 0 else []
    return out.returncode, objs, out.stderr


@pytest.fixture(scope="module", params=sorted(VALUE_SETS))
def rendered(request, helm, tmp_path_factory):
    rc, objs, err = render(helm, tmp_path_factory.mktemp(request.param), VALUE_SETS[request.param])
    assert rc == 0, err
    return request.param, objs


def table():
    """`llmgw config env` of the binary under test: ({ENV: default}, {secret ENV})."""
    out = run(_env("LLMGW_BIN"), "config", "env")
    assert out.returncode == 0, out.stderr
    defaults = dict(line.split("=", 1) for line in out.stdout.splitlines() if line.startswith("LLMGW_"))
    secrets = set(re.findall(r"^# secret: (LLMGW_\w+)$", out.stdout, re.M))
    return out.stdout, defaults, secrets


def by_kind(objs, kind):
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def role_of(obj):
    return obj["metadata"]["labels"]["app.kubernetes.io/component"]


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def port_named(container, name):
    return next(p["containerPort"] for p in container["ports"] if p["name"] == name)


# ---- the chart as Helm and Kubernetes read it


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_helm_lint(helm, tmp_path, name):
    vf = tmp_path / "values.yaml"
    vf.write_text(yaml.safe_dump(VALUE_SETS[name]))
    out = run(helm, "lint", "--strict", CHART, "--kube-version", "1.37.0", "-f", vf)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in out.stdout


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
def test_every_object_validates(helm, tmp_path, kube):
    for name, values in VALUE_SETS.items():
        rc, objs, err = render(helm, tmp_path, values, kube)
        assert rc == 0, err
        assert objs, name
        for obj in objs:
            try:
                kubernetes_validate.validate(obj, kube, strict=True)
            except kubernetes_validate.ValidationError as e:
                pytest.fail(f"{name}: {obj['kind']} {obj['metadata']['name']} on {kube}: {e.message} at {list(e.path)}")


def test_validation_bites(helm, tmp_path):
    """A rendered Deployment made wrong in two ways the schema knows is refused, so the check above can fail."""
    rc, objs, err = render(helm, tmp_path, DB)
    dep = next(iter(by_kind(objs, "Deployment").values()))
    dep["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] = {"name": "ops"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, "1.37.0", strict=True)
    dep = next(iter(by_kind(objs, "Deployment").values()))
    dep["spec"]["template"]["spec"]["terminationGracePeriod"] = 20  # strict: an unknown field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, "1.37.0", strict=True)


def test_the_parts_each_value_set_renders(rendered):
    name, objs = rendered
    kinds = sorted((o["kind"], role_of(o)) for o in objs)
    roles = ["ingress", "ledger", "worker"] + (["batch"] if name == "all" else [])
    assert sorted(role_of(d) for d in by_kind(objs, "Deployment").values()) == sorted(roles)
    assert [k for k in kinds if k[0] == "Service"] == [("Service", "ingress")]
    assert not [o for o in objs if o["kind"] == "Secret"]  # existing Secrets only: the chart never holds one
    hpas = sorted(role_of(h) for h in by_kind(objs, "HorizontalPodAutoscaler").values())
    pdbs = sorted(role_of(p) for p in by_kind(objs, "PodDisruptionBudget").values())
    assert hpas == ([] if name == "off" else ["ingress", "worker"])
    assert pdbs == ([] if name == "off" else sorted(roles))
    # Analytics is mounted in the ingress (docs/ARCHITECTURE.md): no Deployment of its own, the ledger's database
    # given to the ingress.
    ingress = by_kind(objs, "Deployment")["gw-llmgw-ingress"]["spec"]["template"]["spec"]["containers"][0]
    assert "LLMGW_DATABASE_URL" in env_of(ingress)


# ---- what the chart must agree on with llmgw


def test_probes_on_each_roles_ops_port(rendered):
    name, objs = rendered
    for dep in by_kind(objs, "Deployment").values():
        role = role_of(dep)
        pod = dep["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        env = env_of(c)
        assert c["args"] == (["batch", "serve"] if role == "batch" else [role])
        ops = port_named(c, "ops")
        assert env[OPS_ENV[role]]["value"] == str(ops), role  # the port the role opens is the one probed
        other = {"LLMGW_OPS_PORT", "LLMGW_INGRESS_OPS_PORT"} - {OPS_ENV[role]}
        assert not other & set(env), role
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
            assert c[probe]["httpGet"] == {"path": path, "port": "ops"}, (role, probe)
        ann = dep["spec"]["template"]["metadata"]["annotations"]
        if name != "off":
            assert (ann["prometheus.io/port"], ann["prometheus.io/path"]) == (str(ops), "/metrics")
        if role == "ingress":
            http = port_named(c, "http")
            assert env["LLMGW_PORT"]["value"] == str(http) and http != ops
            svc = by_kind(objs, "Service")["gw-llmgw"]
            assert svc["spec"]["ports"][0]["targetPort"] == "http"
            assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
        assert env["LLMGW_LISTEN_ADDR"]["value"] == "0.0.0.0"
    if name == "all":
        ports = {role_of(d): port_named(d["spec"]["template"]["spec"]["containers"][0], "ops")
                 for d in by_kind(objs, "Deployment").values()}
        assert ports == {"ingress": 9100, "worker": 9101, "ledger": 9102, "batch": 9090}


def test_grace_period_is_the_drain_plus_margin(rendered):
    """terminationGracePeriodSeconds = preStop sleep + LLMGW_SHUTDOWN_GRACE_MS rounded up + the margin, from the
    one value that also sets the drain."""
    name, objs = rendered
    values = VALUE_SETS[name]
    margin = values.get("drainMarginSeconds", 5)
    for dep in by_kind(objs, "Deployment").values():
        pod = dep["spec"]["template"]["spec"]
        c = pod["containers"][0]
        drain_ms = int(env_of(c)["LLMGW_SHUTDOWN_GRACE_MS"]["value"])
        assert drain_ms == values.get("shutdownGraceMs", 10000)
        pre = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        assert pod["terminationGracePeriodSeconds"] == pre + math.ceil(drain_ms / 1000) + margin, role_of(dep)
        if role_of(dep) == "ingress":
            assert pre == (3 if name == "all" else 5)
    if name == "all":
        assert by_kind(objs, "Deployment")["gw-llmgw-ingress"]["spec"]["template"]["spec"][
            "terminationGracePeriodSeconds"] == 3 + 13 + 7


def test_worker_hpa_reads_the_workers_lag_metric(rendered):
    """The External metric's name and labels are those common/kafka_lag.c exports and docs/OBSERVABILITY.md
    documents; its topics are real job topics under the configured prefix."""
    name, objs = rendered
    if name == "off":
        return
    src = (ROOT / "common" / "kafka_lag.c").read_text()
    metric = re.search(r'#define NAME "(\w+)"', src).group(1)
    labels = set(re.findall(r'(\w+)=\\"%', re.search(r'snprintf\(labels, [^;]*;', src, re.S).group(0)))
    assert labels == {"role", "topic", "partition"}
    assert re.search(rf"^\| `{metric}` \| gauge \| `role` \(`worker`", (ROOT / "docs" / "OBSERVABILITY.md").read_text(), re.M)
    role_arg = re.search(r'lgw_kafka_lag_new\([^,]+, "(\w+)"\)', (ROOT / "workers" / "worker.c").read_text())
    assert role_arg and role_arg.group(1) == "worker"
    hpa = by_kind(objs, "HorizontalPodAutoscaler")["gw-llmgw-worker"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gw-llmgw-worker"}
    (m,) = hpa["spec"]["metrics"]
    assert m["type"] == "External"
    assert m["external"]["metric"]["name"] == metric
    sel = m["external"]["metric"]["selector"]
    assert sel["matchLabels"] == {"role": "worker"}
    (expr,) = sel["matchExpressions"]
    assert expr["key"] == "topic" and expr["operator"] == "In"
    suffixes = set(re.findall(r'LGW_TOPIC_\w+, "([\w.]+)"', (ROOT / "common" / "topics.c").read_text()))
    prefix = "prod" if name == "all" else "llmgw"
    want = ALL["worker"]["autoscaling"]["lagTopics"] if name == "all" else ["jobs.chat", "jobs.embeddings"]
    assert set(want) <= suffixes
    assert expr["values"] == [f"{prefix}.{s}" for s in want]
    assert m["external"]["target"] == {"type": "AverageValue", "averageValue": "250" if name == "all" else "100"}
    # The README's prometheus-adapter rule serves this very name.
    readme = (CHART / "README.md").read_text()
    assert f"seriesQuery: '{metric}{{" in readme and f"as: {metric}" in readme
    ing = by_kind(objs, "HorizontalPodAutoscaler")["gw-llmgw-ingress"]["spec"]["metrics"][0]
    assert ing["type"] == "Resource" and ing["resource"]["name"] == "cpu"
    for dep in by_kind(objs, "Deployment").values():  # the HPA owns the replica count
        assert ("replicas" in dep["spec"]) == (role_of(dep) in ("ledger", "batch")), role_of(dep)


def test_chart_copy_of_the_config_table_is_current():
    """files/config.env is `llmgw config env` (scripts/helm_config.sh regenerates it)."""
    text, _, _ = table()
    assert (CHART / "files" / "config.env").read_text() == text, "run scripts/helm_config.sh"


def test_configmap_is_the_table_with_overrides_and_no_secret(rendered):
    name, objs = rendered
    _, defaults, secrets = table()
    cm = by_kind(objs, "ConfigMap")["gw-llmgw-config"]["data"]
    managed = set()
    for dep in by_kind(objs, "Deployment").values():
        managed |= {n for n in env_of(dep["spec"]["template"]["spec"]["containers"][0]) if n.startswith("LLMGW_")}
    assert not set(cm) & secrets
    assert not set(cm) & managed  # set per pod, never twice
    assert {"LLMGW_DATABASE_URL", "LLMGW_REDIS_URL", "LLMGW_KAFKA_BROKERS"} - set(cm) == \
        {"LLMGW_DATABASE_URL", "LLMGW_REDIS_URL", "LLMGW_KAFKA_BROKERS"}
    assert set(cm) <= set(defaults)
    overrides = {k: str(v) for k, v in VALUE_SETS[name].get("config", {}).items()}
    assert cm == {k: overrides.get(k, v) for k, v in defaults.items() if k in cm}
    assert set(cm) | managed | {"LLMGW_DATABASE_URL", "LLMGW_REDIS_URL", "LLMGW_CONFIG", "LLMGW_INGRESS_ID",
                                "LLMGW_WORKER_ID", "LLMGW_OPS_PORT", "LLMGW_INGRESS_OPS_PORT", "LLMGW_PORT"} \
        >= set(defaults)  # every setting has a place
    if name == "all":
        assert cm["LLMGW_LOG_LEVEL"] == "debug" and cm["LLMGW_KAFKA_PARTITIONS"] == "12"
        cf = by_kind(objs, "ConfigMap")["gw-llmgw-config-file"]["data"]["config.json"]
        assert yaml.safe_load(cf) == ALL["configFile"]


def test_secrets_by_reference_only(rendered):
    """Every secret reaches a pod through secretKeyRef to the Secret its value names, never as a value; each role
    gets only the secrets it uses; every environment name the chart sets is an llmgw setting."""
    name, objs = rendered
    _, defaults, secrets = table()
    assert KAFKA_ENV <= set(defaults) | secrets, "the chart names Kafka settings llmgw does not have"
    providers = {s for s in secrets if s.endswith("_API_KEY")}
    assert secrets - providers <= KAFKA_ENV, "a secret setting the chart does not place"
    by_ref = {"LLMGW_DATABASE_URL", "LLMGW_REDIS_URL", "PGPASSWORD"} | secrets | KAFKA_ENV
    seen = {}
    for dep in by_kind(objs, "Deployment").values():
        role = role_of(dep)
        env = env_of(dep["spec"]["template"]["spec"]["containers"][0])
        for n, e in env.items():
            # LLMGW_CONFIG names the config file (docs/CONFIG.md): read by llmgw, not a row of the table.
            assert n in defaults or n in by_ref or n == "LLMGW_CONFIG", f"{role}: {n} is not an llmgw setting"
            if n in by_ref:
                assert "value" not in e and set(e["valueFrom"]) == {"secretKeyRef"}, (role, n)
                seen.setdefault(role, {})[n] = e["valueFrom"]["secretKeyRef"]
    if name != "all":
        assert all(set(s) == {"LLMGW_DATABASE_URL"} for s in seen.values()) and set(seen) == {"ingress", "ledger"}
        return
    want = {
        "ingress": {"LLMGW_DATABASE_URL", "PGPASSWORD", "LLMGW_REDIS_URL"} | providers | KAFKA_ENV,
        "worker": {"LLMGW_REDIS_URL"} | providers | KAFKA_ENV,
        "ledger": {"LLMGW_DATABASE_URL", "PGPASSWORD"} | KAFKA_ENV,
        "batch": {"LLMGW_DATABASE_URL", "PGPASSWORD"} | KAFKA_ENV,
    }
    assert {r: set(s) for r, s in seen.items()} == want
    ing = seen["ingress"]
    assert ing["LLMGW_DATABASE_URL"] == {"name": "llmgw-db", "key": "url"}
    assert ing["PGPASSWORD"] == {"name": "llmgw-db", "key": "password"}
    assert ing["LLMGW_REDIS_URL"] == {"name": "llmgw-redis", "key": "url"}
    assert ing["LLMGW_KAFKA_SASL_PASSWORD"] == {"name": "llmgw-kafka", "key": "password"}
    assert ing["LLMGW_KAFKA_SSL_KEY_PASSWORD"] == {"name": "llmgw-kafka", "key": "LLMGW_KAFKA_SSL_KEY_PASSWORD",
                                                   "optional": True}
    for s in providers:
        assert ing[s] == {"name": "llmgw-providers", "key": s, "optional": True}


def test_pods_run_locked_down(rendered):
    name, objs = rendered
    for dep in by_kind(objs, "Deployment").values():
        pod = dep["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
            assert c["resources"]["limits"]["memory"]
            assert {m["mountPath"] for m in c["volumeMounts"]} >= {"/tmp", "/var/lib/llmgw"}
    for pdb in by_kind(objs, "PodDisruptionBudget").values():
        dep = by_kind(objs, "Deployment")[pdb["metadata"]["name"]]
        pod_labels = dep["spec"]["template"]["metadata"]["labels"]
        assert pod_labels | pdb["spec"]["selector"]["matchLabels"] == pod_labels  # it selects that role's pods
        assert pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("values, message", [
    ({}, "database.existingSecret is required"),
    ({**DB, "config": {"LLMGW_OPENAI_API_KEY": "sk-planted"}}, "config.LLMGW_OPENAI_API_KEY is a secret"),
    ({**DB, "config": {"LLMGW_DATABASE_URL": "postgresql://u:pw@db/x"}}, "config.LLMGW_DATABASE_URL is set by the chart"),
    ({**DB, "config": {"LLMGW_SHUTDOWN_GRACE_MS": "1"}}, "config.LLMGW_SHUTDOWN_GRACE_MS is set by the chart"),
    ({**DB, "config": {"LLMGW_NO_SUCH": "1"}}, "config.LLMGW_NO_SUCH is not an llmgw setting"),
    ({**DB, "redis": {"enabled": True}}, "redis.enabled needs redis.existingSecret"),
    ({**DB, "kafka": {"sasl": {"enabled": True}}}, "kafka.sasl.enabled needs kafka.sasl.existingSecret"),
    ({**DB, "ingress": {"resources": {"requests": {"memory": "1Gi", "cpu": None}}}}, "set ingress.resources.requests.cpu"),
])
def test_bad_values_refused_with_the_reason(helm, tmp_path, values, message):
    rc, _, err = render(helm, tmp_path, values)
    assert rc != 0 and message in err, err
    assert "sk-planted" not in err and "pw@" not in err
