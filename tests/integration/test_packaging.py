"""The install artifacts, without a cluster: Dockerfile, manifests/ and the Helm chart.

Checks that the copies agree (CRDs, RBAC rules, container settings), that the chart's
schema rejects bad values, and that the RBAC rules are no wider than an explicit
allow-list. `tests/e2e/test_install.py` applies the same artifacts to a real API server.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from whatsapp_operator import constants
from whatsapp_operator.api.partner import ClusterWhatsAppPartner
from whatsapp_operator.api.profile import WhatsAppSettingsProfile
from whatsapp_operator.api.resource import WhatsAppInstance
from whatsapp_operator.decide.actions import STAMP_PATTERN
from whatsapp_operator.devtools.binaries import BinariesNotFoundError, find_binaries

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "whatsapp-operator"
MANIFESTS = ROOT / "manifests"
DOCKERFILE = ROOT / "Dockerfile"

Permission = tuple[str, str, str]  # (apiGroup, resource, verb)

# Exactly what the operator calls (see manifests/rbac.yaml for the why of each line;
# tests/e2e/test_install.py runs the operator with these and nothing more). Anything
# wider fails; so does anything missing, so that this list stays the truth.
OPERATOR_PERMISSIONS: frozenset[Permission] = frozenset(
    {
        # A re-read after a refused fenced write, or a watch DELETED (a shard move).
        ("whatsapp-operator.io", "whatsappinstances", "get"),
        ("whatsapp-operator.io", "whatsappinstances", "list"),
        ("whatsapp-operator.io", "whatsappinstances", "watch"),
        ("whatsapp-operator.io", "whatsappinstances", "patch"),
        ("whatsapp-operator.io", "whatsappinstances/status", "patch"),
        ("whatsapp-operator.io", "whatsapppartners", "get"),
        ("whatsapp-operator.io", "whatsapppartners", "list"),
        ("whatsapp-operator.io", "whatsapppartners", "watch"),
        ("whatsapp-operator.io", "whatsapppartners", "patch"),
        ("whatsapp-operator.io", "whatsapppartners/status", "patch"),
        ("whatsapp-operator.io", "whatsappsettingsprofiles", "get"),
        ("whatsapp-operator.io", "whatsappsettingsprofiles", "list"),
        ("whatsapp-operator.io", "whatsappsettingsprofiles", "watch"),
        ("whatsapp-operator.io", "whatsappsettingsprofiles", "patch"),
        ("whatsapp-operator.io", "whatsappsettingsprofiles/status", "patch"),
        ("", "secrets", "get"),
        ("", "secrets", "list"),
        ("", "secrets", "create"),
        ("", "secrets", "patch"),
        ("", "secrets", "delete"),
        ("", "events", "create"),
    }
)
# Cluster-scoped: a ClusterRole grants them whether the operator watches all namespaces or
# some (ClusterWhatsAppPartners, and the namespace labels their selectors match).
CLUSTER_SCOPED: frozenset[Permission] = frozenset(
    {
        ("whatsapp-operator.io", "clusterwhatsapppartners", "get"),
        ("whatsapp-operator.io", "clusterwhatsapppartners", "list"),
        ("whatsapp-operator.io", "clusterwhatsapppartners", "watch"),
        ("whatsapp-operator.io", "clusterwhatsapppartners", "patch"),
        ("whatsapp-operator.io", "clusterwhatsapppartners/status", "patch"),
        ("", "namespaces", "get"),
    }
)
CRD_DISCOVERY: frozenset[Permission] = frozenset(
    {
        ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
        ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
    }
)
NAMESPACE_DISCOVERY: frozenset[Permission] = frozenset(
    {("", "namespaces", "list"), ("", "namespaces", "watch")}
)
# A Role in the operator's own namespace: the leader-election Lease (no list, watch, delete).
LEADER_ELECTION: frozenset[Permission] = frozenset(
    {
        ("coordination.k8s.io", "leases", "get"),
        ("coordination.k8s.io", "leases", "create"),
        ("coordination.k8s.io", "leases", "update"),
    }
)
LEASE_ROLE = "whatsapp-operator-leader-election"
# What must never appear, whatever the list above says: spec writes, Secret updates,
# watching Secrets (that would keep every Secret in scope; a paginated LIST after a
# restart keeps only the referenced ones), wildcards, escalation.
NEVER: frozenset[Permission] = frozenset(
    {
        ("whatsapp-operator.io", "whatsappinstances", "create"),
        ("whatsapp-operator.io", "whatsappinstances", "update"),
        ("whatsapp-operator.io", "whatsappinstances", "delete"),
        ("whatsapp-operator.io", "whatsapppartners", "create"),
        ("whatsapp-operator.io", "whatsapppartners", "update"),
        ("whatsapp-operator.io", "whatsapppartners", "delete"),
        ("", "secrets", "watch"),
        ("whatsapp-operator.io", "clusterwhatsapppartners", "create"),
        ("whatsapp-operator.io", "clusterwhatsapppartners", "update"),
        ("whatsapp-operator.io", "clusterwhatsapppartners", "delete"),
        ("", "secrets", "update"),
        ("", "secrets", "deletecollection"),
        ("apiextensions.k8s.io", "customresourcedefinitions", "create"),
        ("apiextensions.k8s.io", "customresourcedefinitions", "update"),
        ("apiextensions.k8s.io", "customresourcedefinitions", "patch"),
        ("apiextensions.k8s.io", "customresourcedefinitions", "delete"),
    }
)


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def helm() -> Path:
    try:
        return find_binaries().helm
    except BinariesNotFoundError as error:
        # Never a skip: a packaging suite that silently did not run reads as green.
        pytest.fail(f"helm is needed for the chart tests: {error}", pytrace=False)


def control_plane_version() -> str:
    """The Kubernetes version of the local control plane the e2e tests run against."""
    build = (ROOT / "tests" / "k8sbins" / "build.sh").read_text(encoding="utf-8")
    (version,) = re.findall(r"^K8S_VERSION=v(\S+)$", build, re.MULTILINE)
    return version


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if args[:1] == ("template",) and "--kube-version" not in args:
        # Without a cluster Helm checks the chart's kubeVersion against its built-in default,
        # which a helm built without the release ldflags reports as 1.20: render for the
        # version the chart is tested on instead.
        args = (*args, "--kube-version", control_plane_version())
    return subprocess.run(
        [str(helm), *args], capture_output=True, text=True, timeout=120, check=False
    )


def render(helm: Path, *values: str, namespace: str = "whatsapp-operator") -> list[dict[str, Any]]:
    """`helm template` with `--set` values; the rendered documents."""
    args = ["template", "whatsapp-operator", str(CHART), "--namespace", namespace]
    for value in values:
        args += ["--set", value]
    result = run_helm(helm, *args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def load_yaml(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def one(docs: Iterable[dict[str, Any]], kind: str, namespace: str | None = None) -> dict[str, Any]:
    """The only document of `kind` (in `namespace`, if given)."""
    found = [
        doc
        for doc in docs
        if doc["kind"] == kind
        and (namespace is None or doc["metadata"].get("namespace") == namespace)
    ]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def lease_role(docs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return one([d for d in docs if d["metadata"]["name"] == LEASE_ROLE], "Role")


def permissions(rules: Iterable[dict[str, Any]]) -> set[Permission]:
    """Every (apiGroup, resource, verb) the rules grant, ordering and grouping normalized."""
    granted: set[Permission] = set()
    for rule in rules:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, (
            f"unexpected rule fields (resourceNames, nonResourceURLs?): {rule}"
        )
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    granted.add((group, resource, verb))
    return granted


def normalized_rules(rules: Iterable[dict[str, Any]]) -> list[tuple[tuple[str, ...], ...]]:
    return sorted(
        (tuple(sorted(r["apiGroups"])), tuple(sorted(r["resources"])), tuple(sorted(r["verbs"])))
        for r in rules
    )


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not stripped or (stripped.startswith("#") and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    instructions = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


# --- Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_entrypoint() -> None:
    """The image's ENTRYPOINT, run from this venv with --help, starts the operator's CLI."""
    entrypoints = [args for keyword, args in dockerfile_instructions() if keyword == "ENTRYPOINT"]
    assert len(entrypoints) == 1
    argv = json.loads(entrypoints[0])  # the exec form, so signals reach the operator
    assert argv == ["whatsapp-operator", "run"]
    executable = Path(sys.executable).parent / argv[0]
    assert executable.exists(), f"{argv[0]} is not installed in {executable.parent}"
    result = subprocess.run(
        [str(executable), *argv[1:], "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: whatsapp-operator run" in result.stdout
    for flag in ("--namespace", "--all-namespaces", "--liveness", "--concurrency"):
        assert flag in result.stdout


def test_dockerfile_is_hardened() -> None:
    instructions = dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    froms = [args for keyword, args in instructions if keyword == "FROM"]
    assert len(froms) == 2, "a builder stage and a runtime stage"
    assert froms[0].endswith(" AS builder")
    args = dict(a.split("=", 1) for keyword, a in instructions if keyword == "ARG" and "=" in a)
    base = args["PYTHON_IMAGE"]
    assert base.startswith("python:3.11."), base
    assert base.endswith("-slim-bookworm"), base
    # The runtime stage copies the venv from the builder and nothing from the context.
    runtime = instructions[keywords.index("FROM", keywords.index("FROM") + 1) :]
    copies = [a for k, a in runtime if k == "COPY"]
    assert copies == ["--from=builder /opt/venv /opt/venv"]
    assert not [a for k, a in runtime if k == "RUN"], "nothing installed in the runtime stage"
    env = " ".join(a for k, a in runtime if k == "ENV")
    for setting in ("PYTHONDONTWRITEBYTECODE=1", "HOME=/tmp", "PATH=/opt/venv/bin:$PATH"):
        assert setting in shlex.split(env), setting
    assert [a for k, a in runtime if k == "USER"] == ["65532:65532"]
    assert [a for k, a in runtime if k == "EXPOSE"] == ["8080"]


def test_dockerfile_installs_only_locked_versions() -> None:
    """Every pip install either checks hashes against a lock or installs our wheel alone."""
    runs = [args for keyword, args in dockerfile_instructions() if keyword == "RUN"]
    installs = [
        command.strip()
        for args in runs
        for command in args.split("&&")
        if " install " in command and "pip" in command
    ]
    assert installs
    locks = set()
    for command in installs:
        words = command.split()
        assert "--upgrade" not in words, command
        assert "-U" not in words, command
        if "--require-hashes" in words:
            locks.add(words[words.index("--requirement") + 1])
        else:
            # The operator's own wheel: no index, no dependencies (the lock installed those).
            assert {"--no-deps", "--no-index"} <= set(words), command
    assert locks == {"/src/requirements/build.txt", "/src/requirements/runtime.txt"}
    wheel = [c for args in runs for c in args.split("&&") if " wheel " in c]
    assert wheel, "the wheel is built in the image"
    assert all("--no-build-isolation" in c for c in wheel), "isolation fetches unpinned backends"


def test_dockerignore_keeps_what_the_build_copies() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "**", "everything is excluded unless listed"
    included = {p[1:] for p in patterns if p.startswith("!")}
    copied = []
    for keyword, args in dockerfile_instructions():
        if keyword == "COPY" and not args.startswith("--from="):
            copied += [source.rstrip("/") for source in args.split()[:-1]]
    assert copied
    for source in copied:
        assert source in included, f"{source} is copied but excluded by .dockerignore"
        assert (ROOT / source).exists(), source


# --- manifests -----------------------------------------------------------------------------


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text(encoding="utf-8"))
    assert kustomization["resources"] == [
        "namespace.yaml",
        "serviceaccount.yaml",
        "rbac.yaml",
        "deployment.yaml",
        "admission.yaml",
    ]
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl renders the kustomization"
    result = subprocess.run(
        [kubectl, "kustomize", str(MANIFESTS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(result.stdout) if doc)
    assert kinds == sorted(
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Deployment",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ]
    )


def test_manifests_wire_the_service_account() -> None:
    rbac = load_yaml(MANIFESTS / "rbac.yaml")
    account = one(load_yaml(MANIFESTS / "serviceaccount.yaml"), "ServiceAccount")["metadata"]
    binding = one(rbac, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == one(rbac, "ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]
    deployment = one(load_yaml(MANIFESTS / "deployment.yaml"), "Deployment")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["name"]
    namespace = one(load_yaml(MANIFESTS / "namespace.yaml"), "Namespace")["metadata"]["name"]
    assert deployment["metadata"]["namespace"] == account["namespace"] == namespace
    # The Lease's Role: in the operator's namespace, bound to its account, named in the args.
    assert lease_role(rbac)["metadata"]["namespace"] == namespace
    lease_binding = one(rbac, "RoleBinding")
    assert lease_binding["metadata"]["namespace"] == namespace
    assert lease_binding["roleRef"]["name"] == LEASE_ROLE
    assert lease_binding["subjects"] == binding["subjects"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--leader-elect" in args
    assert f"--lease-namespace={namespace}" in args


def test_sample_token_secret_is_a_placeholder() -> None:
    secret = one(load_yaml(MANIFESTS / "samples" / "token-secret.yaml"), "Secret")
    instance = one(load_yaml(MANIFESTS / "samples" / "whatsappinstance.yaml"), "WhatsAppInstance")
    assert secret["metadata"]["name"] == instance["spec"]["instance"]["tokenSecretRef"]["name"]
    assert set(secret["stringData"]) == {"apiTokenInstance", "webhookUrlToken"}
    for value in secret["stringData"].values():
        assert value.startswith("REPLACE-ME"), value


# --- the chart -----------------------------------------------------------------------------


def test_helm_lint(helm: Path) -> None:
    sharded = [
        "--set",
        "replicas=2",
        "--set",
        "shards[0].name=a",
        "--set",
        "shards[0].selector=s=a",
    ]
    for values in ([], ["--set", "watchNamespaces={team-a,team-b}"], sharded):
        result = run_helm(helm, "lint", "--strict", str(CHART), *values)
        assert result.returncode == 0, result.stdout + result.stderr


def test_chart_renders_cluster_wide_by_default(helm: Path) -> None:
    docs = render(helm)
    assert sorted(doc["kind"] for doc in docs) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Pod",  # `helm test`'s, a hook: `helm install` does not create it
        "Role",
        "RoleBinding",
        "Service",  # the health port, for `helm test`
        "ServiceAccount",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ]
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "--all-namespaces" in container["args"]
    assert container["image"] == "ghcr.io/whatsapp-operator/whatsapp-operator:0.1.0"
    binding = one(docs, "ClusterRoleBinding")
    account = one(docs, "ServiceAccount")["metadata"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": "whatsapp-operator"}
    ]
    assert binding["roleRef"]["name"] == one(docs, "ClusterRole")["metadata"]["name"]


def test_chart_renders_watch_namespaces(helm: Path) -> None:
    docs = render(helm, "watchNamespaces={team-a,team-b}")
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert [a for a in container["args"] if a.startswith("--namespace")] == [
        "--namespace=team-a",
        "--namespace=team-b",
    ]
    assert "--all-namespaces" not in container["args"]
    roles = [doc for doc in docs if doc["kind"] == "Role" and doc != lease_role(docs)]
    bindings = [
        doc
        for doc in docs
        if doc["kind"] == "RoleBinding" and doc["metadata"]["name"] != LEASE_ROLE
    ]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for binding in bindings:
        assert binding["subjects"][0]["namespace"] == "whatsapp-operator"
        assert binding["roleRef"]["kind"] == "Role"
    # Cluster-wide, only discovery reads and the cluster-scoped partners remain.
    assert permissions(one(docs, "ClusterRole")["rules"]) == (
        CRD_DISCOVERY | NAMESPACE_DISCOVERY | CLUSTER_SCOPED
    )


def test_chart_crds_are_a_byte_identical_copy() -> None:
    source = sorted(p.name for p in (ROOT / "crds").glob("*.yaml"))
    copy = sorted(p.name for p in (CHART / "crds").iterdir())
    assert source, "no CRDs in crds/"
    assert copy == source
    for name in source:
        assert (CHART / "crds" / name).read_bytes() == (ROOT / "crds" / name).read_bytes(), (
            f"helm/whatsapp-operator/crds/{name} differs from crds/{name}: cp crds/*.yaml "
            "helm/whatsapp-operator/crds/"
        )


def test_admission_policy_equals_manifests_and_the_operators_check(helm: Path) -> None:
    """The chart's policy is manifests/admission.yaml's, and both refuse exactly what the
    operator refuses: the same annotations, the same expression for a timestamp."""
    manifest = load_yaml(MANIFESTS / "admission.yaml")
    chart = render(helm)
    for docs in (manifest, chart):
        policy = one(docs, "ValidatingAdmissionPolicy")
        binding = one(docs, "ValidatingAdmissionPolicyBinding")
        assert binding["spec"] == {
            "policyName": policy["metadata"]["name"],
            "validationActions": ["Deny"],
        }
        assert policy["metadata"]["name"] == "whatsapp-operator-action-annotations"
    assert (
        one(chart, "ValidatingAdmissionPolicy")["spec"]
        == (one(manifest, "ValidatingAdmissionPolicy")["spec"])
    )
    spec = one(manifest, "ValidatingAdmissionPolicy")["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["matchConstraints"]["resourceRules"] == [
        {
            "apiGroups": [constants.GROUP],
            "apiVersions": ["*"],
            "operations": ["CREATE", "UPDATE"],
            "resources": [constants.PLURAL],  # not the status subresource
            "scope": "*",
        }
    ]
    (refused,) = spec["variables"]
    expression = refused["expression"]
    assert f".matches('{STAMP_PATTERN}')" in expression
    listed = expression[expression.index("[") : expression.index("].filter") + 1]
    assert json.loads(listed.replace("'", '"')) == list(constants.ACTION_ANNOTATIONS.values())
    # On by default; a value turns it off.
    kinds = {doc["kind"] for doc in render(helm, "admissionPolicy.enabled=false")}
    assert kinds.isdisjoint({"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"})


def test_chart_rbac_equals_manifests(helm: Path) -> None:
    chart_role = one(render(helm), "ClusterRole")
    manifest_role = one(load_yaml(MANIFESTS / "rbac.yaml"), "ClusterRole")
    assert normalized_rules(chart_role["rules"]) == normalized_rules(manifest_role["rules"])
    # The namespaced mode's Role holds the same application rules.
    role = one(render(helm, "watchNamespaces={team-a}"), "Role", namespace="team-a")
    assert permissions(role["rules"]) == (
        permissions(manifest_role["rules"]) - CRD_DISCOVERY - CLUSTER_SCOPED
    )
    manifest_lease = lease_role(load_yaml(MANIFESTS / "rbac.yaml"))
    assert normalized_rules(lease_role(render(helm))["rules"]) == normalized_rules(
        manifest_lease["rules"]
    )


CONTAINER_KEYS = (
    "image",
    "imagePullPolicy",
    "args",
    "env",
    "ports",
    "startupProbe",
    "livenessProbe",
    "readinessProbe",
    "resources",
    "securityContext",
    "volumeMounts",
)
POD_KEYS = ("securityContext", "volumes", "terminationGracePeriodSeconds")


def test_chart_deployment_equals_manifests(helm: Path) -> None:
    chart = one(render(helm), "Deployment")["spec"]
    manifest = one(load_yaml(MANIFESTS / "deployment.yaml"), "Deployment")["spec"]
    for key in ("replicas", "strategy"):
        assert chart[key] == manifest[key], key
    chart_pod, manifest_pod = chart["template"]["spec"], manifest["template"]["spec"]
    for key in POD_KEYS:
        assert chart_pod[key] == manifest_pod[key], key
    (chart_container,) = chart_pod["containers"]
    (manifest_container,) = manifest_pod["containers"]
    for key in CONTAINER_KEYS:
        assert chart_container[key] == manifest_container[key], key


def test_deployment_is_restricted() -> None:
    pod = one(load_yaml(MANIFESTS / "deployment.yaml"), "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == 65532
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
    assert {"name": "WAOP_LOG_FORMAT", "value": "json"} in container["env"]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {"name": "health", "containerPort": 8080, "protocol": "TCP"} in container["ports"]
    assert "--liveness=http://0.0.0.0:8080/healthz" in container["args"]
    assert container["resources"] == {
        "requests": {"cpu": "150m", "memory": "160Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("logFormat=xml", "logFormat"),
        ("logLevel=TRACE", "logLevel"),
        ("replicaCount=2", "replicaCount"),
        ("replicas=0", "replicas"),
        ("shards[0].name=Bad_Name", "name"),
        ("shards[0].selector=shard=a", "name"),
        ("concurrency=0", "concurrency"),
        ("watchNamespaces={team-*}", "watchNamespaces"),
        ("image.pullPolicy=Sometimes", "pullPolicy"),
        ("metrics.port=8080", "metrics"),
        ("networkPolicy.egress=true", "egress"),
        ("admissionPolicy.enabled=maybe", "enabled"),
        ("admissionPolicy.mode=Warn", "mode"),
    ],
)
def test_values_schema_rejects(helm: Path, value: str, complaint: str) -> None:
    result = run_helm(helm, "template", "x", str(CHART), "--set", value)
    assert result.returncode != 0, f"{value} was accepted"
    assert complaint in result.stderr, result.stderr


def test_optional_metrics_and_network_policy(helm: Path) -> None:
    docs = render(
        helm,
        "metrics.enabled=true",
        "metrics.serviceMonitor.enabled=true",
        "networkPolicy.enabled=true",
        "networkPolicy.apiServer.cidrs={10.0.0.1/32}",
    )
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in container["ports"]
    (service,) = [d for d in docs if d["metadata"]["name"] == "whatsapp-operator-metrics"]
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert one(docs, "ServiceMonitor")["spec"]["endpoints"][0]["port"] == "metrics"
    policy = one(docs, "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["ingress"]
    assert sorted(p["port"] for p in ingress["ports"]) == ["health", "metrics"]
    egress_ports = [sorted(p["port"] for p in rule["ports"]) for rule in policy["egress"]]
    assert egress_ports == [[53, 53], [443, 6443], [443]]
    assert policy["egress"][1]["to"] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}]
    # Off by default; a ServiceMonitor without the metrics port is refused.
    default = render(helm)
    assert {doc["kind"] for doc in default}.isdisjoint({"ServiceMonitor", "NetworkPolicy"})
    assert "whatsapp-operator-metrics" not in {doc["metadata"]["name"] for doc in default}
    result = run_helm(
        helm, "template", "x", str(CHART), "--set", "metrics.serviceMonitor.enabled=true"
    )
    assert result.returncode != 0
    assert "metrics.enabled" in result.stderr


# --- least privilege -----------------------------------------------------------------------


def test_least_privilege(helm: Path) -> None:
    """Every rule anywhere grants exactly the allow-list: nothing wider, nothing unused."""
    cluster_wide = {
        "manifests/rbac.yaml": one(load_yaml(MANIFESTS / "rbac.yaml"), "ClusterRole")["rules"],
        "chart (default)": one(render(helm), "ClusterRole")["rules"],
    }
    for where, rules in cluster_wide.items():
        granted = permissions(rules)
        wanted = OPERATOR_PERMISSIONS | CRD_DISCOVERY | CLUSTER_SCOPED
        assert granted == wanted, (
            f"{where}: wider {sorted(granted - wanted)}, missing {sorted(wanted - granted)}"
        )
    for where, docs in {
        "manifests/rbac.yaml": load_yaml(MANIFESTS / "rbac.yaml"),
        "chart (default)": render(helm),
    }.items():
        assert permissions(lease_role(docs)["rules"]) == LEADER_ELECTION, where
    namespaced = render(helm, "watchNamespaces={team-a}")
    assert permissions(one(namespaced, "Role", "team-a")["rules"]) == OPERATOR_PERMISSIONS
    assert permissions(lease_role(namespaced)["rules"]) == LEADER_ELECTION
    assert permissions(one(namespaced, "ClusterRole")["rules"]) == (
        CRD_DISCOVERY | NAMESPACE_DISCOVERY | CLUSTER_SCOPED
    )
    every_rule = [
        rule
        for rules in [*cluster_wide.values(), *(d["rules"] for d in namespaced if "rules" in d)]
        for rule in rules
    ]
    every_grant = permissions(every_rule)
    assert not [g for g in every_grant if "*" in g], "no wildcards"
    assert not every_grant & NEVER, sorted(every_grant & NEVER)
    assert not [g for g in every_grant if g[2] in {"escalate", "bind", "impersonate"}]


def test_chart_without_secret_listing(helm: Path) -> None:
    """rbac.listSecrets=false: no list on Secrets anywhere, and the operator told so."""
    for values in ([], ["watchNamespaces={team-a}"]):
        docs = render(helm, "rbac.listSecrets=false", *values)
        grants = permissions(rule for d in docs if "rules" in d for rule in d["rules"])
        assert ("", "secrets", "get") in grants
        assert ("", "secrets", "list") not in grants
        container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
        env = {item["name"]: item.get("value") for item in container["env"]}
        assert env.get("WAOP_LIST_SECRETS") == "false"
    default = one(render(helm), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "WAOP_LIST_SECRETS" not in {item["name"] for item in default["env"]}


def test_every_sample_is_a_valid_resource() -> None:
    # The models are the CRDs' source: a sample they refuse would be refused at admission.
    models = {
        "WhatsAppInstance": WhatsAppInstance,
        "WhatsAppSettingsProfile": WhatsAppSettingsProfile,
        "ClusterWhatsAppPartner": ClusterWhatsAppPartner,
    }
    seen = set()
    for path in sorted((MANIFESTS / "samples").glob("*.yaml")):
        for doc in load_yaml(path):
            if doc["kind"] in models:
                models[doc["kind"]].model_validate({**doc, "status": {}})
                seen.add(doc["kind"])
    assert seen == set(models)


# --- several processes ---------------------------------------------------------------------


def deployments(docs: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}


def args_of(deployment: dict[str, Any]) -> list[str]:
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


def test_chart_standby_replicas(helm: Path) -> None:
    (deployment,) = deployments(render(helm, "replicas=2")).values()
    assert deployment["spec"]["replicas"] == 2
    # The new pod stands by until the old one releases the Lease.
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    assert args_of(deployment)[1:4] == [
        "--leader-elect",
        "--lease-name=whatsapp-operator",
        "--lease-namespace=whatsapp-operator",
    ]
    # Without leader election: no Lease Role, no flag, and no second replica.
    plain = render(helm, "leaderElection.enabled=false")
    assert not [d for d in plain if d["metadata"]["name"] == LEASE_ROLE]
    assert "--leader-elect" not in args_of(one(plain, "Deployment"))
    result = run_helm(
        helm,
        "template",
        "x",
        str(CHART),
        "--set",
        "replicas=2",
        "--set",
        "leaderElection.enabled=false",
    )
    assert result.returncode != 0
    assert "leaderElection.enabled" in result.stderr


def test_chart_shards(helm: Path) -> None:
    docs = render(
        helm,
        "replicas=2",
        "shards[0].name=a",
        "shards[0].selector=shard=a",
        "shards[1].name=b",
        "shards[1].selector=shard in (b\\,c)",
        "shards[2].name=team-x",
        "shards[2].namespaces={team-x,team-y}",
    )
    found = deployments(docs)
    assert sorted(found) == [
        "whatsapp-operator-a",
        "whatsapp-operator-b",
        "whatsapp-operator-team-x",
    ]
    a, b, x = (found[f"whatsapp-operator-{n}"] for n in ("a", "b", "team-x"))
    assert args_of(a)[:5] == [
        "--all-namespaces",
        "--shard-selector=shard=a",
        "--leader-elect",
        "--lease-name=whatsapp-operator-a",
        "--lease-namespace=whatsapp-operator",
    ]
    # ClusterWhatsAppPartners are checked by the first shard only.
    assert args_of(b)[:3] == [
        "--all-namespaces",
        "--shard-selector=shard in (b,c)",
        "--no-cluster-partners",
    ]
    assert args_of(x)[:3] == ["--namespace=team-x", "--namespace=team-y", "--no-cluster-partners"]
    assert "--lease-name=whatsapp-operator-team-x" in args_of(x)
    # Each shard's pods are its own: disjoint Deployment selectors.
    selectors = [
        d["spec"]["selector"]["matchLabels"]["whatsapp-operator.io/shard"] for d in (a, b, x)
    ]
    assert selectors == ["a", "b", "team-x"]
    for deployment in (a, b, x):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # One Lease Role serves every shard's Lease.
    assert permissions(lease_role(docs)["rules"]) == LEADER_ELECTION
    overridden = render(
        helm,
        "shards[0].name=a",
        "shards[0].clusterPartners=false",
        "shards[1].name=b",
        "shards[1].clusterPartners=true",
    )
    flags = {n: "--no-cluster-partners" in args_of(d) for n, d in deployments(overridden).items()}
    assert flags == {"whatsapp-operator-a": True, "whatsapp-operator-b": False}
