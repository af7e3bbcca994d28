"""The install artifacts against a real API server, and the RBAC proof.

* `helm install` / `helm uninstall` of the chart: the objects, their security settings,
  and that the CRD stays.
* `kubectl apply -k manifests/` (and the `-f` file list) creates the same objects.
* The operator runs as the chart's ServiceAccount (a TokenRequest token, nothing else)
  through a whole WhatsAppInstance lifecycle (adopted by id, then created and deleted in
  partner mode), in both RBAC modes, without one 403.

There is no kubelet: the Deployment's pods never run, so the operator runs here as a
subprocess with the ServiceAccount's credentials instead.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from support.emulator_process import (
    EmulatorProcess,
    start_emulator_process,
    stop_emulator_process,
)
from support.kube_helpers import (
    Instances,
    conditions_summary,
    create_namespace,
    delete_namespace,
    has_condition,
    put_secret,
    read_secret,
    wait_for,
)
from support.parent_chart import build_dependencies, helm_env, parent_chart
from whatsapp_operator import constants
from whatsapp_operator.devtools.cluster import KubeCluster

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "whatsapp-operator"
MANIFESTS = ROOT / "manifests"
CRD_NAME = f"{constants.PLURAL}.{constants.GROUP}"
RELEASE = "waop"
FULLNAME = f"{RELEASE}-whatsapp-operator"
# What the operator logs when its RBAC is short of something: kopf's APIForbiddenError
# ("... is forbidden: User ... cannot ...") and fallback warnings ("Not enough permissions"),
# kube/client.py's "the operator is not allowed (403)". A bare "403" would also match ports,
# milliseconds and resourceVersions in the DEBUG log.
DENIED = re.compile(
    r"forbidden|not enough permissions|not allowed|refused the operator|\(403\)",
    re.IGNORECASE,
)


# --- helpers -------------------------------------------------------------------------------


def run(argv: list[str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"$ {' '.join(argv)}\n{result.stdout}\n{result.stderr}"
    return result


def helm(cluster: KubeCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return run([str(cluster.helm), "--kubeconfig", str(cluster.kubeconfig), *args])


def kubectl(cluster: KubeCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return run(["kubectl", "--kubeconfig", str(cluster.kubeconfig), *args])


def gone(read: Callable[[], Any]) -> bool:
    try:
        read()
    except ApiException as error:
        if error.status == 404:
            return True
        raise
    return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rules_of(role: Any) -> list[tuple[tuple[str, ...], ...]]:
    return sorted(
        (tuple(sorted(r.api_groups)), tuple(sorted(r.resources)), tuple(sorted(r.verbs)))
        for r in role.rules
    )


def file_rules(path: Path, kind: str) -> list[tuple[tuple[str, ...], ...]]:
    doc = next(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d["kind"] == kind)
    return sorted(
        (tuple(sorted(r["apiGroups"])), tuple(sorted(r["resources"])), tuple(sorted(r["verbs"])))
        for r in doc["rules"]
    )


def assert_restricted(api: client.ApiClient, namespace: str, name: str) -> None:
    """The Deployment as stored by the API server: one replica, Recreate, locked down."""
    deployment = client.AppsV1Api(api).read_namespaced_deployment(name, namespace)
    assert deployment.spec.replicas == 1
    assert deployment.spec.strategy.type == "Recreate"
    pod = deployment.spec.template.spec
    assert pod.security_context.run_as_non_root is True
    assert pod.security_context.run_as_user == 65532
    assert pod.security_context.seccomp_profile.type == "RuntimeDefault"
    (container,) = pod.containers
    context = container.security_context
    assert context.allow_privilege_escalation is False
    assert context.read_only_root_filesystem is True
    assert context.capabilities.drop == ["ALL"]
    assert context.run_as_user == 65532
    assert context.seccomp_profile.type == "RuntimeDefault"
    assert [(m.name, m.mount_path) for m in container.volume_mounts] == [("tmp", "/tmp")]
    assert container.liveness_probe.http_get.path == "/healthz"
    assert container.readiness_probe.http_get.path == "/healthz"
    assert container.resources.limits == {"cpu": "500m", "memory": "512Mi"}
    assert {(e.name, e.value) for e in container.env} >= {("WAOP_LOG_FORMAT", "json")}


@pytest.fixture(scope="module")
def api(kube_cluster: KubeCluster) -> Iterator[client.ApiClient]:
    with kube_cluster.api_client() as api_client:
        yield api_client


@pytest.fixture
def prefix() -> str:
    return f"waop-install-{secrets.token_hex(3)}"


# --- helm ----------------------------------------------------------------------------------


def test_helm_install_and_uninstall(
    kube_cluster: KubeCluster, api: client.ApiClient, prefix: str
) -> None:
    extensions = client.ApiextensionsV1Api(api)
    crd_before = extensions.read_custom_resource_definition(CRD_NAME).metadata.resource_version
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    # Without --skip-crds: the CRD from the chart's crds/ already exists, and Helm leaves it.
    helm(kube_cluster, "install", RELEASE, str(CHART), "-n", prefix, "--create-namespace")
    try:
        account = core.read_namespaced_service_account(FULLNAME, prefix)
        assert account.metadata.labels["app.kubernetes.io/managed-by"] == "Helm"
        role = rbac.read_cluster_role(FULLNAME)
        assert rules_of(role) == file_rules(MANIFESTS / "rbac.yaml", "ClusterRole")
        binding = rbac.read_cluster_role_binding(FULLNAME)
        assert [(s.kind, s.name, s.namespace) for s in binding.subjects] == [
            ("ServiceAccount", FULLNAME, prefix)
        ]
        assert_restricted(api, prefix, FULLNAME)
        admission = client.AdmissionregistrationV1Api(api)
        policy = admission.read_validating_admission_policy(f"{FULLNAME}-action-annotations")
        assert policy.spec.failure_policy == "Fail"
        binding_of_policy = admission.read_validating_admission_policy_binding(
            f"{FULLNAME}-action-annotations"
        )
        assert binding_of_policy.spec.policy_name == policy.metadata.name
        assert (
            extensions.read_custom_resource_definition(CRD_NAME).metadata.resource_version
            == crd_before
        ), "helm install must not touch an existing CRD"
    finally:
        helm(kube_cluster, "uninstall", RELEASE, "-n", prefix, "--wait", "--timeout", "60s")
    wait_for(
        lambda: all(
            gone(read)
            for read in (
                lambda: core.read_namespaced_service_account(FULLNAME, prefix),
                lambda: rbac.read_cluster_role(FULLNAME),
                lambda: rbac.read_cluster_role_binding(FULLNAME),
                lambda: client.AppsV1Api(api).read_namespaced_deployment(FULLNAME, prefix),
                lambda: client.AdmissionregistrationV1Api(api).read_validating_admission_policy(
                    f"{FULLNAME}-action-annotations"
                ),
            )
        ),
        "helm uninstall to remove the release's objects",
        30,
    )
    crd = extensions.read_custom_resource_definition(CRD_NAME)
    assert crd.metadata.deletion_timestamp is None, "helm uninstall must keep the CRD"
    delete_namespace(api, prefix)


def test_helm_install_as_a_subchart(
    kube_cluster: KubeCluster, api: client.ApiClient, prefix: str, tmp_path: Path
) -> None:
    """A platform team's umbrella chart with `global` values installs this chart for real."""
    parent = parent_chart(
        tmp_path,
        {"global": {"team": "platform"}, "whatsapp-operator": {"enabled": True, "replicas": 2}},
    )
    build_dependencies(kube_cluster.helm, parent, tmp_path)
    installed = subprocess.run(
        [str(kube_cluster.helm), "--kubeconfig", str(kube_cluster.kubeconfig), "install", "app",
         str(parent), "-n", prefix, "--create-namespace"],
        capture_output=True, text=True, timeout=120, check=False, env=helm_env(tmp_path),
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    try:
        apps, policy = client.AppsV1Api(api), client.PolicyV1Api(api)
        deployment = apps.read_namespaced_deployment("app-whatsapp-operator", prefix)
        assert deployment.spec.replicas == 2
        assert deployment.metadata.labels["app.kubernetes.io/managed-by"] == "Helm"
        budget = policy.read_namespaced_pod_disruption_budget("app-whatsapp-operator", prefix)
        assert budget.spec.max_unavailable == 1
    finally:
        helm(kube_cluster, "uninstall", "app", "-n", prefix, "--wait", "--timeout", "60s")
    delete_namespace(api, prefix)


# --- plain manifests -----------------------------------------------------------------------


def test_kubectl_apply_manifests(kube_cluster: KubeCluster, api: client.ApiClient) -> None:
    namespace = "whatsapp-operator"
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    assert gone(lambda: core.read_namespace(namespace)), "namespace whatsapp-operator is taken"
    kubectl(kube_cluster, "apply", "-k", str(MANIFESTS))
    try:
        labels = core.read_namespace(namespace).metadata.labels
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        core.read_namespaced_service_account("whatsapp-operator", namespace)
        role = rbac.read_cluster_role("whatsapp-operator")
        assert rules_of(role) == file_rules(MANIFESTS / "rbac.yaml", "ClusterRole")
        binding = rbac.read_cluster_role_binding("whatsapp-operator")
        assert [(s.kind, s.name, s.namespace) for s in binding.subjects] == [
            ("ServiceAccount", "whatsapp-operator", namespace)
        ]
        assert_restricted(api, namespace, "whatsapp-operator")
        admission = client.AdmissionregistrationV1Api(api)
        name = "whatsapp-operator-action-annotations"
        assert admission.read_validating_admission_policy_binding(name).spec.policy_name == (
            admission.read_validating_admission_policy(name).metadata.name
        )
        # The restricted Pod Security level admits the Deployment's pod (no kubelet runs it,
        # but admission does): the ReplicaSet reports no FailedCreate.
        wait_for(
            lambda: core.list_namespaced_pod(namespace).items,
            "the Deployment's pod to be admitted",
            30,
        )
        # The -f route of manifests/README.md works on the same files (no-op now).
        files = [
            "namespace.yaml",
            "serviceaccount.yaml",
            "rbac.yaml",
            "deployment.yaml",
            "admission.yaml",
        ]
        result = kubectl(
            kube_cluster, "apply", *(arg for f in files for arg in ("-f", str(MANIFESTS / f)))
        )
        documents = sum(
            1
            for f in files
            for doc in yaml.safe_load_all((MANIFESTS / f).read_text(encoding="utf-8"))
            if doc
        )
        assert result.stdout.count("unchanged") == documents, result.stdout
    finally:
        kubectl(kube_cluster, "delete", "-k", str(MANIFESTS), "--wait=false")
    wait_for(
        lambda: (
            gone(lambda: rbac.read_cluster_role("whatsapp-operator"))
            and gone(lambda: rbac.read_cluster_role_binding("whatsapp-operator"))
            and gone(
                lambda: client.AdmissionregistrationV1Api(api).read_validating_admission_policy(
                    "whatsapp-operator-action-annotations"
                )
            )
        ),
        "kubectl delete -k to remove the cluster-scoped objects",
        30,
    )


# --- the RBAC proof ------------------------------------------------------------------------


EMULATOR_ARGS = (
    "--creation-seconds",
    "1",
    "--starting-seconds",
    "1",
    "--settings-apply-seconds",
    "2",
    # A new QR code every 2 s: the operator rewrites the linking Secret (create, then patch).
    "--qr-rotate-seconds",
    "2",
    "--log-level",
    "DEBUG",
)
FAST_INTERVALS = {"stateSeconds": 10, "settingsSeconds": 60, "settleSeconds": 5}
PARTNER_TOKEN = "gac." + secrets.token_hex(24)


def service_account_kubeconfig(
    api: client.ApiClient, admin_kubeconfig: Path, namespace: str, name: str, path: Path
) -> Path:
    """A kubeconfig that authenticates as the ServiceAccount only (TokenRequest token)."""
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    token = (
        client.CoreV1Api(api)
        .create_namespaced_service_account_token(name, namespace, request)
        .status.token
    )
    admin = yaml.safe_load(admin_kubeconfig.read_text(encoding="utf-8"))
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    cluster = next(c for c in admin["clusters"] if c["name"] == context["context"]["cluster"])
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": cluster["cluster"]}],
        "users": [{"name": f"system:serviceaccount:{namespace}:{name}", "user": {"token": token}}],
        "contexts": [
            {
                "name": "operator",
                "context": {
                    "cluster": "test",
                    "user": f"system:serviceaccount:{namespace}:{name}",
                    "namespace": namespace,
                },
            }
        ],
        "current-context": "operator",
    }
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@dataclass
class Operator:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_operator(kubeconfig: Path, scope: list[str], log_path: Path) -> Operator:
    liveness = f"http://127.0.0.1:{free_port()}/healthz"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAOP_")}
    env["KUBECONFIG"] = str(kubeconfig)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "whatsapp_operator.cli",
                "run",
                *scope,
                "--liveness",
                liveness,
                "--log-level",
                "DEBUG",
                # The emulator listens on loopback at a random port.
                "--allowed-api-url",
                "http://127.0.0.1:*",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    operator = Operator(process, log_path)

    def alive() -> bool:
        if process.poll() is not None:
            raise AssertionError(
                f"the operator exited with {process.returncode}:\n{operator.log()}"
            )
        try:
            return httpx.get(liveness, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(alive, "the operator's liveness endpoint", 60)
    except BaseException:
        operator.stop()
        raise
    return operator


def strip_partner_finalizers(api: client.ApiClient, namespace: str) -> None:
    objects = client.CustomObjectsApi(api)
    partners = (constants.GROUP, constants.VERSION, namespace, constants.PARTNER_PLURAL)
    for obj in objects.list_namespaced_custom_object(*partners)["items"]:
        objects.patch_namespaced_custom_object(
            *partners, obj["metadata"]["name"], {"metadata": {"finalizers": None}}
        )


def check_partner_mode(api: client.ApiClient, namespace: str, emulator_url: str) -> None:
    objects = client.CustomObjectsApi(api)
    partners = (constants.GROUP, constants.VERSION, namespace, constants.PARTNER_PLURAL)
    put_secret(api, namespace, "partner-token", {"partnerToken": PARTNER_TOKEN})
    objects.create_namespaced_custom_object(
        *partners,
        {
            "apiVersion": constants.API_VERSION,
            "kind": constants.PARTNER_KIND,
            "metadata": {"name": "main", "namespace": namespace},
            "spec": {
                "apiUrl": emulator_url,
                "tokenSecretRef": {"name": "partner-token", "key": "partnerToken"},
                "checkSeconds": 30,
            },
        },
    )
    wait_for(
        lambda: has_condition(
            objects.get_namespaced_custom_object(*partners, "main"), "Ready", "True"
        ),
        "the WhatsAppPartner to be Ready",
        30,
        describe=lambda: conditions_summary(
            objects.get_namespaced_custom_object(*partners, "main")
        ),
    )
    instances = Instances(api, namespace)
    instances.create(
        "made",
        {
            "partnerRef": {"name": "main"},
            "instance": {"apiUrl": emulator_url},
            "deletionPolicy": "Delete",
            "connectionSecret": {"name": "made-connection"},
            "intervals": dict(FAST_INTERVALS),
        },
    )
    obj = instances.wait(
        "made",
        lambda o: has_condition(o, "Ready", "True") and has_condition(o, "Synced", "True"),
        "Ready=True and Synced=True (created through the partner API)",
        60,
    )
    assert obj["status"]["instanceId"]
    connection = read_secret(api, namespace, "made-connection")
    assert connection is not None
    assert connection["idInstance"] == str(obj["status"]["instanceId"]).encode()
    instances.delete("made")
    wait_for(
        lambda: gone(lambda: instances.get("made")),
        "the partner-created WhatsAppInstance to be deleted",
        60,
        describe=lambda: conditions_summary(instances.get("made")),
    )
    objects.delete_namespaced_custom_object(*partners, "main")
    wait_for(
        lambda: gone(lambda: objects.get_namespaced_custom_object(*partners, "main")),
        "the WhatsAppPartner to be gone (finalizer removed)",
        30,
    )


def secret_access(api: client.ApiClient, user: str, namespace: str | None) -> set[str]:
    """Which of get, list and watch on Secrets the API server allows `user`."""
    authorization = client.AuthorizationV1Api(api)
    allowed = set()
    for verb in ("get", "list", "watch"):
        review = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=user,
                groups=["system:serviceaccounts", "system:authenticated"],
                resource_attributes=client.V1ResourceAttributes(
                    verb=verb, resource="secrets", namespace=namespace
                ),
            )
        )
        if authorization.create_subject_access_review(review).status.allowed:
            allowed.add(verb)
    return allowed


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    running = start_emulator_process(*EMULATOR_ARGS, "--partner-token", PARTNER_TOKEN)
    try:
        yield running
    finally:
        stop_emulator_process(running)


@pytest.mark.parametrize("mode", ["namespaced", "cluster-wide"])
def test_operator_lifecycle_as_the_chart_service_account(
    kube_cluster: KubeCluster,
    api: client.ApiClient,
    emulator: EmulatorProcess,
    prefix: str,
    mode: str,
    tmp_path: Path,
) -> None:
    system, apps = f"{prefix}-system", f"{prefix}-apps"
    create_namespace(api, system)
    create_namespace(api, apps)
    values = ["--set", f"watchNamespaces={{{apps}}}"] if mode == "namespaced" else []
    scope = ["--namespace", apps] if mode == "namespaced" else ["--all-namespaces"]
    # As the chart runs it: leader election on a Lease in the release namespace.
    scope += ["--leader-elect", "--lease-name", FULLNAME, "--lease-namespace", system]
    helm(kube_cluster, "install", RELEASE, str(CHART), "-n", system, "--skip-crds", *values)
    instances = Instances(api, apps)
    operator: Operator | None = None
    admin = httpx.Client(base_url=emulator.url, timeout=10.0)
    try:
        kubeconfig = service_account_kubeconfig(
            api, kube_cluster.kubeconfig, system, FULLNAME, tmp_path / "operator.kubeconfig"
        )
        operator = start_operator(kubeconfig, scope, tmp_path / "operator.log")

        id_instance = 7105_000_000 + secrets.randbelow(999_999)
        token = secrets.token_hex(25)
        admin.post(
            "/admin/instances",
            json={
                "idInstance": id_instance,
                "apiTokenInstance": token,
                "state": "notAuthorized",
                "name": "rbac",
            },
        ).raise_for_status()
        put_secret(api, apps, "rbac-token", {"apiTokenInstance": token})
        instances.create(
            "rbac",
            {
                "instance": {
                    "id": id_instance,
                    "apiUrl": emulator.url,
                    "tokenSecretRef": {"name": "rbac-token", "key": "apiTokenInstance"},
                },
                "settings": {"stateWebhook": True},
                "intervals": dict(FAST_INTERVALS),
            },
        )

        # Status (patch on /status), settings applied and confirmed. No finalizer:
        # deleting an Orphan resource leaves nothing for the operator to do.
        obj = instances.wait(
            "rbac", lambda o: has_condition(o, "Synced", "True"), "Synced=True", 60
        )
        assert not obj["metadata"].get("finalizers")
        # The linking Secret it owns (create), with the QR code.
        linking = wait_for(
            lambda: read_secret(api, apps, "rbac-linking"), "the linking Secret rbac-linking", 30
        )
        assert linking["qr.png"].startswith(b"\x89PNG")
        # The next QR code replaces it in place (patch).
        core = client.CoreV1Api(api)
        first = core.read_namespaced_secret("rbac-linking", apps).metadata.resource_version
        wait_for(
            lambda: (
                core.read_namespaced_secret("rbac-linking", apps).metadata.resource_version != first
            ),
            "the linking Secret to be refreshed with the next QR code",
            30,
        )
        admin.post(
            f"/admin/instances/{id_instance}/scan", json={"phone": "79001112233"}
        ).raise_for_status()
        instances.wait(
            "rbac", lambda o: has_condition(o, "Authorized", "True"), "Authorized=True", 60
        )
        # Linked: the linking Secret is deleted (delete).
        wait_for(
            lambda: read_secret(api, apps, "rbac-linking") is None,
            "the linking Secret to be deleted",
            30,
        )
        # Events were posted (create).
        events = client.CoreV1Api(api).list_namespaced_event(apps).items
        assert any(e.involved_object.name == "rbac" for e in events), "no events posted"
        # Deletion: the operator releases its finalizer (patch).
        instances.delete("rbac")
        wait_for(
            lambda: gone(lambda: instances.get("rbac")),
            "the WhatsAppInstance to be gone (finalizer removed)",
            30,
            describe=lambda: conditions_summary(instances.get("rbac")),
        )
        # Partner mode: the WhatsAppPartner (list/watch/patch, status patch) and an instance
        # it creates (get on the partner, annotation patches, owned token and connection
        # Secrets), deleted again through the partner API (deletionPolicy Delete).
        check_partner_mode(api, apps, emulator.url)

        # Secrets are read by name, or listed page by page after a restart: the
        # ServiceAccount cannot watch them, and a namespaced install cannot even get one
        # outside its namespaces.
        account = f"system:serviceaccount:{system}:{FULLNAME}"
        assert secret_access(api, account, apps) == {"get", "list"}
        everywhere = secret_access(api, account, None)
        assert everywhere == (set() if mode == "namespaced" else {"get", "list"})

        assert operator.process.poll() is None, "the operator exited"
        holder = client.CoordinationV1Api(api).read_namespaced_lease(FULLNAME, system)
        assert holder.spec.holder_identity, "the operator does not hold its Lease"
        log = operator.log()
        denied = [line for line in log.splitlines() if DENIED.search(line)]
        assert not denied, "the operator was refused something:\n" + "\n".join(denied[:20])
    except BaseException:
        if operator is not None:
            operator.stop()
            sys.stderr.write(f"--- operator log ({mode})\n{operator.log()[-20000:]}\n")
        raise
    finally:
        if operator is not None:
            operator.stop()
        admin.close()
        for obj in instances.list():
            instances.patch(obj["metadata"]["name"], {"metadata": {"finalizers": None}})
        strip_partner_finalizers(api, apps)
        helm(kube_cluster, "uninstall", RELEASE, "-n", system, "--wait", "--timeout", "60s")
        delete_namespace(api, apps)
        delete_namespace(api, system)
