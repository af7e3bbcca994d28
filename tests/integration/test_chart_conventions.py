"""The chart's conventions for a platform team, rendered with `helm template` (no cluster):
a subchart with `global`/`enabled`, image by digest, topology spread, extra volumes and
arguments, PodDisruptionBudgets, PodMonitor and relabelings, `helm test`, the Grafana
dashboard ConfigMap, `kubeVersion`, the CRDs named in NOTES.txt and the README, and the
README's values table (generated, checked for drift).
"""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.parent_chart import build_dependencies, helm_env, parent_chart
from tests.integration.test_packaging import (
    CHART,
    ROOT,
    control_plane_version,
    helm,
    one,
    run_helm,
)
from tests.support import chart_values_table

__all__ = ["helm"]  # the fixture, used by name

RELEASE = "whatsapp-operator"
NAMESPACE = "whatsapp-operator"
SELECTOR = {"app.kubernetes.io/name": "whatsapp-operator", "app.kubernetes.io/instance": RELEASE}
DIGEST = "sha256:" + "0123456789abcdef" * 4


def render_values(
    helm: Path, tmp_path: Path, values: dict[str, Any], *args: str
) -> list[dict[str, Any]]:
    """`helm template` with `values` as a values file (lists of objects included)."""
    result = template(helm, tmp_path, values, *args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def template(
    helm: Path, tmp_path: Path, values: dict[str, Any], *args: str
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"values-{len(list(tmp_path.glob('values-*')))}.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return run_helm(helm, "template", RELEASE, str(CHART), "-n", NAMESPACE, "-f", str(path), *args)


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def lint(helm: Path, tmp_path: Path, values: dict[str, Any]) -> None:
    path = tmp_path / "lint-values.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    result = run_helm(helm, "lint", "--strict", str(CHART), "-f", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


# --- a subchart ----------------------------------------------------------------------------


def test_installs_as_a_subchart(helm: Path, tmp_path: Path) -> None:
    """A parent chart with this one as a `file://` dependency, `global` values and the
    `whatsapp-operator.enabled` condition renders (the schema lets both keys through)."""
    parent = parent_chart(
        tmp_path,
        {
            "global": {"imageRegistry": "registry.example", "labels": {"team": "platform"}},
            "whatsapp-operator": {"enabled": True, "replicas": 2},
        },
    )
    env = helm_env(tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(helm), *args], capture_output=True, text=True, timeout=120, check=False, env=env
        )

    build_dependencies(helm, parent, tmp_path)
    assert [p.name for p in (parent / "charts").iterdir()] == ["whatsapp-operator-0.1.0.tgz"]
    linted = run("lint", "--strict", str(parent))
    assert linted.returncode == 0, linted.stdout + linted.stderr
    version = ("--kube-version", control_plane_version())  # see run_helm
    rendered = run("template", "app", str(parent), "-n", "platform", *version)
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    deployment = one(docs, "Deployment")
    assert deployment["metadata"]["name"] == "app-whatsapp-operator"
    assert deployment["spec"]["replicas"] == 2
    assert one(docs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    # The condition switches the whole dependency off.
    off = run("template", "app", str(parent), "--set", "whatsapp-operator.enabled=false", *version)
    assert off.returncode == 0, off.stderr
    assert not [d for d in yaml.safe_load_all(off.stdout) if d]
    # Still strict below the top: a typo in the subchart's values is refused.
    typo = run(
        "template", "app", str(parent), "--set", "whatsapp-operator.replicaCount=2", *version
    )
    assert typo.returncode != 0
    assert "replicaCount" in typo.stderr


def test_schema_accepts_global_and_enabled_only(helm: Path, tmp_path: Path) -> None:
    docs = render_values(helm, tmp_path, {"global": {"anything": {"x": 1}}, "enabled": True})
    assert one(docs, "Deployment")
    for values, complaint in (({"enabled": "yes"}, "enabled"), ({"global": 1}, "global")):
        result = template(helm, tmp_path, values)
        assert result.returncode != 0, values
        assert complaint in result.stderr


# --- the pod -------------------------------------------------------------------------------


def test_image_digest_wins_over_the_tag(helm: Path, tmp_path: Path) -> None:
    docs = render_values(helm, tmp_path, {"image": {"tag": "9.9.9", "digest": DIGEST}})
    expected = f"ghcr.io/whatsapp-operator/whatsapp-operator@{DIGEST}"
    assert pod_spec(one(docs, "Deployment"))["containers"][0]["image"] == expected
    assert one(docs, "Pod")["spec"]["containers"][0]["image"] == expected  # helm test's pod
    tagged = render_values(helm, tmp_path, {"image": {"tag": "9.9.9"}})
    assert pod_spec(one(tagged, "Deployment"))["containers"][0]["image"].endswith(":9.9.9")
    bad = template(helm, tmp_path, {"image": {"digest": "latest"}})
    assert bad.returncode != 0
    assert "digest" in bad.stderr


def test_topology_spread_constraints(helm: Path, tmp_path: Path) -> None:
    zone = {
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "ScheduleAnyway",
    }
    own = {**zone, "topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {}}}
    values = {
        "replicas": 2,
        "topologySpreadConstraints": [zone, own],
        "shards": [{"name": "a", "selector": "s=a"}, {"name": "b", "selector": "s=b"}],
    }
    for name, deployment in of_kind(render_values(helm, tmp_path, values), "Deployment").items():
        filled, kept = pod_spec(deployment)["topologySpreadConstraints"]
        # Without a labelSelector: this Deployment's pods only, not the other shard's.
        assert filled == {**zone, "labelSelector": deployment["spec"]["selector"]}, name
        assert filled["labelSelector"]["matchLabels"]["whatsapp-operator.io/shard"] == name[-1]
        assert kept == own, "a constraint's own labelSelector is left as it is"
    unsharded = render_values(helm, tmp_path, {"topologySpreadConstraints": [zone]})
    (filled,) = pod_spec(one(unsharded, "Deployment"))["topologySpreadConstraints"]
    assert filled["labelSelector"] == {"matchLabels": SELECTOR}
    assert "topologySpreadConstraints" not in pod_spec(
        one(render_values(helm, tmp_path, {}), "Deployment")
    )
    lint(helm, tmp_path, values)


def test_extra_volumes_mounts_env_and_args(helm: Path, tmp_path: Path) -> None:
    """The README's corporate CA bundle recipe: a volume, its mount, SSL_CERT_FILE, and
    arguments after the chart's own."""
    values = {
        "extraVolumes": [{"name": "corporate-ca", "configMap": {"name": "corporate-ca-bundle"}}],
        "extraVolumeMounts": [
            {"name": "corporate-ca", "mountPath": "/etc/ssl/corporate", "readOnly": True}
        ],
        "extraEnv": [{"name": "SSL_CERT_FILE", "value": "/etc/ssl/corporate/ca-bundle.crt"}],
        "extraArgs": ["--log-level=DEBUG"],
    }
    spec = pod_spec(one(render_values(helm, tmp_path, values), "Deployment"))
    default = pod_spec(one(render_values(helm, tmp_path, {}), "Deployment"))
    assert spec["volumes"] == [*default["volumes"], *values["extraVolumes"]]
    (container,), (plain,) = spec["containers"], default["containers"]
    assert container["volumeMounts"] == [*plain["volumeMounts"], *values["extraVolumeMounts"]]
    assert container["env"] == [*plain["env"], *values["extraEnv"]]
    assert container["args"] == [*plain["args"], "--log-level=DEBUG"]
    # The chart's own /tmp volume cannot be shadowed.
    for clash, complaint in (
        ({"extraVolumes": [{"name": "tmp", "emptyDir": {}}]}, "name"),
        ({"extraVolumeMounts": [{"name": "x", "mountPath": "/tmp"}]}, "mountPath"),
    ):
        result = template(helm, tmp_path, clash)
        assert result.returncode != 0, clash
        assert complaint in result.stderr
    lint(helm, tmp_path, values)


# --- disruption budgets --------------------------------------------------------------------


def test_a_disruption_budget_per_deployment_with_standbys(helm: Path, tmp_path: Path) -> None:
    # One replica: none (it would forbid every eviction and block drains).
    assert not of_kind(render_values(helm, tmp_path, {}), "PodDisruptionBudget")
    (budget,) = of_kind(
        render_values(helm, tmp_path, {"replicas": 2}), "PodDisruptionBudget"
    ).values()
    assert budget["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": SELECTOR}}
    values = {
        "replicas": 3,
        "shards": [
            {"name": "a", "selector": "s=a"},
            {"name": "b", "namespaces": ["team-b"]},
        ],
        "podDisruptionBudget": {"maxUnavailable": "50%"},
    }
    docs = render_values(helm, tmp_path, values)
    budgets, found = of_kind(docs, "PodDisruptionBudget"), of_kind(docs, "Deployment")
    assert sorted(budgets) == sorted(found) == ["whatsapp-operator-a", "whatsapp-operator-b"]
    for name, budget in budgets.items():
        assert budget["metadata"]["namespace"] == NAMESPACE
        assert budget["spec"]["maxUnavailable"] == "50%"
        selector = budget["spec"]["selector"]["matchLabels"]
        # Exactly its own Deployment's pods: another shard's pods are not counted.
        matched = [
            n
            for n, d in found.items()
            if selects(selector, d["spec"]["template"]["metadata"]["labels"])
        ]
        assert matched == [name]
        assert selector == found[name]["spec"]["selector"]["matchLabels"]
    off = render_values(helm, tmp_path, {"replicas": 2, "podDisruptionBudget": {"enabled": False}})
    assert not of_kind(off, "PodDisruptionBudget")
    bad = template(helm, tmp_path, {"podDisruptionBudget": {"maxUnavailable": 0}})
    assert bad.returncode != 0
    assert "maxUnavailable" in bad.stderr
    lint(helm, tmp_path, values)


# --- monitoring ----------------------------------------------------------------------------

RELABELINGS = [{"action": "replace", "targetLabel": "cluster", "replacement": "eu-1"}]
METRIC_RELABELINGS = [
    {"action": "drop", "sourceLabels": ["__name__"], "regex": "whatsapp_operator_x_total"}
]


def test_pod_monitor_and_relabelings(helm: Path, tmp_path: Path) -> None:
    monitor = {
        "enabled": True,
        "interval": "15s",
        "scrapeTimeout": "5s",
        "labels": {"release": "kube-prometheus-stack"},
        "relabelings": RELABELINGS,
        "metricRelabelings": METRIC_RELABELINGS,
    }
    docs = render_values(helm, tmp_path, {"metrics": {"enabled": True, "podMonitor": monitor}})
    assert not of_kind(docs, "ServiceMonitor")
    pod_monitor = one(docs, "PodMonitor")
    assert pod_monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert pod_monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    selector = pod_monitor["spec"]["selector"]["matchLabels"]
    assert selector == SELECTOR
    assert selects(selector, one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"])
    assert not selects(selector, one(docs, "Pod")["metadata"]["labels"]), "not the test pod"
    assert pod_monitor["spec"]["podMetricsEndpoints"] == [
        {
            "port": "metrics",
            "path": "/metrics",
            "interval": "15s",
            # Per-object series keep their object's namespace label (not exported_namespace).
            "honorLabels": True,
            "scrapeTimeout": "5s",
            "relabelings": RELABELINGS,
            "metricRelabelings": METRIC_RELABELINGS,
        }
    ]
    container = pod_spec(one(docs, "Deployment"))["containers"][0]
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in container["ports"]
    # Every shard's pods are scraped.
    sharded = render_values(
        helm,
        tmp_path,
        {
            "metrics": {"enabled": True, "podMonitor": {"enabled": True}},
            "shards": [{"name": "a"}, {"name": "b"}],
        },
    )
    for deployment in of_kind(sharded, "Deployment").values():
        assert selects(selector, deployment["spec"]["template"]["metadata"]["labels"])
    # The ServiceMonitor takes the same relabelings.
    service_monitor = dict(monitor, labels={})
    docs = render_values(
        helm, tmp_path, {"metrics": {"enabled": True, "serviceMonitor": service_monitor}}
    )
    assert not of_kind(docs, "PodMonitor")
    (endpoint,) = one(docs, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["relabelings"] == RELABELINGS
    assert endpoint["metricRelabelings"] == METRIC_RELABELINGS
    plain = render_values(
        helm, tmp_path, {"metrics": {"enabled": True, "serviceMonitor": {"enabled": True}}}
    )
    (endpoint,) = one(plain, "ServiceMonitor")["spec"]["endpoints"]
    assert set(endpoint) == {"port", "path", "interval", "honorLabels", "scrapeTimeout"}
    lint(helm, tmp_path, {"metrics": {"enabled": True, "podMonitor": monitor}})


def test_service_monitor_and_pod_monitor_are_exclusive(helm: Path, tmp_path: Path) -> None:
    both = {"enabled": True, "serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True}}
    result = template(helm, tmp_path, {"metrics": both})
    assert result.returncode != 0
    assert "choose one" in result.stderr
    assert "duplicate series" in result.stderr
    alone = template(helm, tmp_path, {"metrics": {"podMonitor": {"enabled": True}}})
    assert alone.returncode != 0
    assert "need metrics.enabled" in alone.stderr


# --- helm test -----------------------------------------------------------------------------


def test_helm_test_checks_health_through_a_service(helm: Path, tmp_path: Path) -> None:
    docs = render_values(helm, tmp_path, {"replicas": 2})
    service = of_kind(docs, "Service")["whatsapp-operator-health"]
    assert service["spec"]["ports"] == [
        {"name": "health", "port": 8080, "targetPort": "health", "protocol": "TCP"}
    ]
    deployment = one(docs, "Deployment")
    container = pod_spec(deployment)["containers"][0]
    assert {"name": "health", "containerPort": 8080, "protocol": "TCP"} in container["ports"]
    # Every operator pod (the leader and the standbys answer /healthz), never the test pod.
    pod = one(docs, "Pod")
    assert selects(
        service["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"]
    )
    assert not selects(service["spec"]["selector"], pod["metadata"]["labels"])
    assert not selects(deployment["spec"]["selector"]["matchLabels"], pod["metadata"]["labels"])
    assert pod["metadata"]["annotations"] == {
        "helm.sh/hook": "test",
        "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
    }
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["securityContext"] == pod_spec(deployment)["securityContext"]
    (checker,) = spec["containers"]
    assert checker["image"] == container["image"]
    assert checker["securityContext"] == container["securityContext"]
    assert checker["command"][:2] == ["python3", "-c"]
    assert checker["command"][3:] == ["http://whatsapp-operator-health:8080/healthz", "60"]
    # Off: neither the Service nor the pod.
    off = render_values(helm, tmp_path, {"helmTest": {"enabled": False}})
    assert "whatsapp-operator-health" not in of_kind(off, "Service")
    assert not of_kind(off, "Pod")
    lint(helm, tmp_path, {"helmTest": {"timeoutSeconds": 30}})


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_helm_test_script_passes_on_200_only(
    helm: Path, tmp_path: Path, health_server: http.server.ThreadingHTTPServer
) -> None:
    """The test pod's own command, run here: exit 0 on a 200, 1 on an error status or no
    answer within its timeout (the image's python3 has the same standard library)."""
    (checker,) = one(render_values(helm, tmp_path, {}), "Pod")["spec"]["containers"]
    script = checker["command"][2]
    port = health_server.server_address[1]

    def check(url: str, timeout: str = "1") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", script, url, timeout],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            # A proxy in the environment must not be asked: the script ignores it.
            env={"HTTP_PROXY": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"},
        )

    ok = check(f"http://127.0.0.1:{port}/healthz")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip() == f"http://127.0.0.1:{port}/healthz: 200"
    wrong_path = check(f"http://127.0.0.1:{port}/nothing")
    assert wrong_path.returncode == 1
    assert "404" in wrong_path.stdout
    _Health.status = 503
    try:
        failing = check(f"http://127.0.0.1:{port}/healthz")
    finally:
        _Health.status = 200
    assert failing.returncode == 1
    assert "503" in failing.stdout
    health_server.server_close()
    closed = check(f"http://127.0.0.1:{port}/healthz")
    assert closed.returncode == 1
    assert "no answer" in closed.stdout


def test_network_policy_lets_the_test_pod_in(helm: Path, tmp_path: Path) -> None:
    monitoring = {"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}
    values = {"networkPolicy": {"enabled": True, "ingressFrom": [monitoring]}}
    docs = render_values(helm, tmp_path, values)
    policy = one(docs, "NetworkPolicy")["spec"]
    pod_labels = one(docs, "Pod")["metadata"]["labels"]
    assert not selects(policy["podSelector"]["matchLabels"], pod_labels), "not governed by it"
    probes, test = policy["ingress"]
    assert probes["from"] == [monitoring]
    assert test["ports"] == [{"port": "health", "protocol": "TCP"}]
    (peer,) = test["from"]
    assert set(peer) == {"podSelector"}  # the release namespace's test pod, nothing else
    assert selects(peer["podSelector"]["matchLabels"], pod_labels)
    assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == RELEASE
    # Without ingressFrom the probe port is open to all, the test pod included: one rule.
    (rule,) = one(
        render_values(helm, tmp_path, {"networkPolicy": {"enabled": True}}), "NetworkPolicy"
    )["spec"]["ingress"]
    assert "from" not in rule
    lint(helm, tmp_path, values)


# --- Grafana -------------------------------------------------------------------------------

DASHBOARD = "whatsapp-operator-dashboard.json"


def test_chart_dashboard_is_a_byte_identical_copy() -> None:
    source = ROOT / "deploy" / "grafana" / DASHBOARD
    copy = CHART / "dashboards" / DASHBOARD
    assert sorted(p.name for p in (CHART / "dashboards").iterdir()) == [DASHBOARD]
    assert copy.read_bytes() == source.read_bytes(), (
        f"helm/whatsapp-operator/dashboards/{DASHBOARD} differs from deploy/grafana/{DASHBOARD}: "
        "cp deploy/grafana/*.json helm/whatsapp-operator/dashboards/"
    )


def test_grafana_dashboard_config_map(helm: Path, tmp_path: Path) -> None:
    assert not of_kind(render_values(helm, tmp_path, {}), "ConfigMap"), "off by default"
    docs = render_values(helm, tmp_path, {"grafanaDashboard": {"enabled": True}})
    config_map = one(docs, "ConfigMap")
    assert config_map["metadata"]["namespace"] == NAMESPACE
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    (key,) = config_map["data"]
    assert key == DASHBOARD
    source = json.loads((ROOT / "deploy" / "grafana" / DASHBOARD).read_text(encoding="utf-8"))
    assert json.loads(config_map["data"][key]) == source
    values = {
        "grafanaDashboard": {
            "enabled": True,
            "namespace": "monitoring",
            "labels": {"dashboards": "platform"},
            "annotations": {"grafana_folder": "Operators"},
        }
    }
    moved = one(render_values(helm, tmp_path, values), "ConfigMap")["metadata"]
    assert moved["namespace"] == "monitoring"
    assert moved["labels"]["dashboards"] == "platform"
    assert moved["labels"]["grafana_dashboard"] == "1", "Helm merges maps with the defaults"
    assert moved["annotations"] == {"grafana_folder": "Operators"}
    lint(helm, tmp_path, values)


# --- versions, NOTES.txt, README -----------------------------------------------------------


def test_kube_version(helm: Path, tmp_path: Path) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert chart["kubeVersion"] == ">=1.30.0-0"
    # The local control plane the e2e tests run against (tests/k8sbins/build.sh) is in
    # range; 1.29 lacks the admission policy's v1 API and is refused.
    tested = control_plane_version()
    assert tested.startswith("1.37."), "a new control plane: update kubeVersion's comment"
    for version, ok in ((tested, True), ("1.30.0", True), ("1.29.9", False)):
        result = template(helm, tmp_path, {}, "--kube-version", version)
        assert (result.returncode == 0) is ok, (version, result.stderr)
        if not ok:
            assert "kubeVersion" in result.stderr or "compatible" in result.stderr


def crd_kinds() -> list[str]:
    kinds = []
    for path in sorted((CHART / "crds").glob("*.yaml")):
        kinds.append(yaml.safe_load(path.read_text(encoding="utf-8"))["spec"]["names"]["kind"])
    return kinds


NOTES_PROBE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: notes
data:
  notes: |-
    {{- include "whatsapp-operator/templates/NOTES.txt" . | nindent 4 }}
"""


def rendered_notes(helm: Path, tmp_path: Path) -> str:
    """NOTES.txt as Helm renders it, without a cluster: `helm install --dry-run` connects to
    one, so a copy of the chart carries a ConfigMap that includes the NOTES template."""
    copy = tmp_path / "chart"
    shutil.copytree(CHART, copy)
    (copy / "templates" / "zz-notes-probe.yaml").write_text(NOTES_PROBE, encoding="utf-8")
    result = run_helm(
        helm, "template", RELEASE, str(copy), "-n", NAMESPACE,
        "--show-only", "templates/zz-notes-probe.yaml",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    notes: str = yaml.safe_load(result.stdout)["data"]["notes"]
    return notes


def test_notes_and_readme_name_every_crd(helm: Path, tmp_path: Path) -> None:
    kinds = crd_kinds()
    assert sorted(kinds) == sorted(
        ["WhatsAppInstance", "WhatsAppPartner", "ClusterWhatsAppPartner", "WhatsAppSettingsProfile"]
    )
    notes = rendered_notes(helm, tmp_path)
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    for kind in kinds:
        assert f" {kind} " in notes.replace("\n", " ").replace("(", " ").replace(",", " "), kind
        assert f"`{kind}`" in readme, kind
    for path in sorted((CHART / "crds").glob("*.yaml")):
        name = yaml.safe_load(path.read_text(encoding="utf-8"))["metadata"]["name"]
        assert name in notes, f"NOTES.txt's delete command misses {name}"
        assert name in readme, f"the README's delete command misses {name}"
    assert f"helm test {RELEASE} -n {NAMESPACE}" in notes


def test_readme_values_table_is_current() -> None:
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    wanted = chart_values_table.with_table(readme, chart_values_table.render_table())
    assert readme == wanted, (
        "helm/whatsapp-operator/README.md's values table differs from values.yaml: "
        f"run {chart_values_table.COMMAND}"
    )


def test_values_table_covers_every_value_with_a_description() -> None:
    values_text = (CHART / "values.yaml").read_text(encoding="utf-8")
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    rows = chart_values_table.rows(values_text, schema)
    keys = [row.key for row in rows]
    assert len(keys) == len(set(keys))
    # Walked from the parsed YAML, not from the comment parser that made the table.
    leaves = chart_values_table.leaf_paths(yaml.safe_load(values_text), schema)
    assert leaves <= set(keys), f"values without a row: {sorted(leaves - set(keys))}"
    undocumented = [row.key for row in rows if not row.description]
    assert not undocumented, f"values.yaml has no comment above {undocumented}"
    # Spot checks of the parser: an example line stays out, a default is the parsed one.
    by_key = {row.key: row for row in rows}
    assert "WAOP_GREENAPI_TIMEOUT" not in by_key["extraEnv"].description
    assert by_key["networkPolicy.apiServer.ports"].default == "`[443, 6443]`"
    assert by_key["grafanaDashboard.labels"].default == '`{"grafana_dashboard": "1"}`'


def test_values_table_parser() -> None:
    schema = {
        "properties": {
            "group": {
                "type": "object",
                "properties": {"leaf": {"type": "string"}, "free": {"type": "object"}},
            },
            "documented": {"type": "object", "properties": {"x": {"type": "integer"}}},
        }
    }
    text = (
        "# Not this: a blank line follows.\n"
        "\n"
        "group:\n"
        "  # The leaf, with a | bar\n"
        "  # and a second line.\n"
        "  #   leaf: example\n"
        "  leaf: a\n"
        "  # Free-form: one row.\n"
        "  free:\n"
        "    nested: 1\n"
        "# A documented group.\n"
        "documented:\n"
        "  # X.\n"
        "  x: 2\n"
    )
    rows = chart_values_table.rows(text, schema)
    assert [(r.key, r.default, r.description) for r in rows] == [
        ("group.leaf", '`"a"`', "The leaf, with a | bar and a second line."),
        ("group.free", '`{"nested": 1}`', "Free-form: one row."),
        ("documented", "", "A documented group."),
        ("documented.x", "`2`", "X."),
    ]
    assert chart_values_table._cell("a | b <x> *.c `<y>*`") == "a \\| b &lt;x> \\*.c `<y>*`"
    with pytest.raises(ValueError, match="values-table:begin"):
        chart_values_table.with_table("no markers", "| table |")


# --- lint ----------------------------------------------------------------------------------


def test_lint_with_every_feature_on(helm: Path, tmp_path: Path) -> None:
    lint(
        helm,
        tmp_path,
        {
            "replicas": 2,
            "image": {"digest": DIGEST},
            "shards": [{"name": "a", "selector": "s=a"}, {"name": "b", "selector": "s=b"}],
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "DoNotSchedule",
                }
            ],
            "extraArgs": ["--log-level=DEBUG"],
            "metrics": {
                "enabled": True,
                "serviceMonitor": {"enabled": True, "relabelings": RELABELINGS},
            },
            "grafanaDashboard": {"enabled": True},
            "networkPolicy": {"enabled": True, "ingressFrom": [{"podSelector": {}}]},
        },
    )
