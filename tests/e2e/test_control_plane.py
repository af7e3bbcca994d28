"""Proof that the test control plane behaves like a real cluster in every way the
operator depends on. Each test polls with a deadline; none sleeps to wait."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from whatsapp_operator.devtools.cluster import KubeCluster
from whatsapp_operator.devtools.polling import wait_until

T = TypeVar("T")
GROUP, VERSION, PLURAL, KIND = "e2e.whatsapp-operator.test", "v1", "gadgets", "Gadget"
CRD_NAME = f"{PLURAL}.{GROUP}"
DATA_DIR = Path(__file__).parent / "data"


def wait(
    condition: Callable[[], T | None], what: str, timeout: float = 30.0, log: Path | None = None
) -> T:
    try:
        return wait_until(condition, what, timeout)
    except TimeoutError as error:
        detail = f"\n--- {log} ---\n{log.read_text(errors='replace')[-6000:]}" if log else ""
        pytest.fail(f"{error}{detail}", pytrace=False)


def gone(read: Callable[[], Any]) -> bool:
    try:
        read()
    except ApiException as error:
        if error.status == 404:
            return True
        raise
    return False


@pytest.fixture(scope="module")
def api(kube_cluster: KubeCluster) -> Iterator[client.ApiClient]:
    with kube_cluster.api_client() as api_client:
        yield api_client


@pytest.fixture
def namespace(api: client.ApiClient) -> Iterator[str]:
    name = f"e2e-{secrets.token_hex(4)}"
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    try:
        core.delete_namespace(name)
    except ApiException as error:
        if error.status != 404:
            raise


class Gadgets:
    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.objects = client.CustomObjectsApi(api)
        self.namespace = namespace

    def create(self, name: str, spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"name": name, **meta},
            "spec": spec,
        }
        result: dict[str, Any] = self.objects.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, body
        )
        return result

    def get(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.objects.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name
        )
        return result

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.objects.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name, body
        )
        return result

    def patch_status(self, name: str, status: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.objects.patch_namespaced_custom_object_status(
            GROUP, VERSION, self.namespace, PLURAL, name, {"status": status}
        )
        return result

    def delete(self, name: str) -> None:
        self.objects.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)


@pytest.fixture
def gadgets(api: client.ApiClient, namespace: str) -> Gadgets:
    return Gadgets(api, namespace)


def test_crd_is_established_and_serves_printer_columns(
    api: client.ApiClient, gadgets: Gadgets
) -> None:
    crd = client.ApiextensionsV1Api(api).read_custom_resource_definition(CRD_NAME)
    assert any(c.type == "Established" and c.status == "True" for c in crd.status.conditions)
    gadgets.create("shown", {"size": 4})
    gadgets.patch_status("shown", {"phase": "Ready"})

    request = api.param_serialize(
        "GET",
        f"/apis/{GROUP}/{VERSION}/namespaces/{gadgets.namespace}/{PLURAL}",
        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*request)
    response.read()
    table = json.loads(response.data)
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert columns == ["Name", "Size", "Phase"]
    row = dict(zip(columns, table["rows"][0]["cells"], strict=True))
    assert (row["Name"], row["Size"], row["Phase"]) == ("shown", 4, "Ready")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"minReplicas": 5, "maxReplicas": 2}, "minReplicas must not exceed maxReplicas"),
        ({"size": 0}, "should be greater than or equal to 1"),
        ({"mode": "sideways"}, "Unsupported value"),
    ],
)
def test_invalid_objects_are_rejected(gadgets: Gadgets, spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ApiException) as caught:
        gadgets.create("bad", spec)
    assert caught.value.status == 422
    assert message in caught.value.body


def test_defaults_are_applied(gadgets: Gadgets) -> None:
    created = gadgets.create("plain", {"size": 2})
    assert created["spec"] == {"size": 2, "mode": "auto", "minReplicas": 1, "maxReplicas": 3}


def test_status_only_changes_through_the_subresource(gadgets: Gadgets) -> None:
    created = gadgets.create("stat", {})
    ignored = gadgets.patch("stat", {"status": {"phase": "FromMain"}})
    assert "status" not in ignored
    assert ignored["metadata"]["generation"] == created["metadata"]["generation"]

    patched = gadgets.patch_status("stat", {"phase": "Ready", "observedGeneration": 1})
    assert patched["status"] == {"phase": "Ready", "observedGeneration": 1}
    assert patched["metadata"]["generation"] == created["metadata"]["generation"]

    gadgets.patch("stat", {"status": {"phase": "FromMainAgain"}, "spec": {"size": 3}})
    current = gadgets.get("stat")
    assert current["status"]["phase"] == "Ready"
    assert current["spec"]["size"] == 3
    assert current["metadata"]["generation"] == created["metadata"]["generation"] + 1


def test_finalizer_blocks_deletion_until_removed(gadgets: Gadgets) -> None:
    gadgets.create("held", {}, finalizers=[f"{GROUP}/hold"])
    gadgets.delete("held")
    pending = gadgets.get("held")
    assert pending["metadata"]["deletionTimestamp"]

    gadgets.patch("held", {"metadata": {"finalizers": None}})
    wait(lambda: gone(lambda: gadgets.get("held")), "the released Gadget to disappear")


def test_owned_secret_is_garbage_collected(api: client.ApiClient, gadgets: Gadgets) -> None:
    owner = gadgets.create("owner", {})
    core = client.CoreV1Api(api)
    reference = client.V1OwnerReference(
        api_version=f"{GROUP}/{VERSION}",
        kind=KIND,
        name="owner",
        uid=owner["metadata"]["uid"],
        controller=True,
        block_owner_deletion=True,
    )
    core.create_namespaced_secret(
        gadgets.namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="owned", owner_references=[reference]),
            string_data={"token": "x"},
        ),
    )
    gadgets.delete("owner")
    # 60 s covers an external cluster whose GC learns about the CRD late.
    wait(
        lambda: gone(lambda: core.read_namespaced_secret("owned", gadgets.namespace)),
        "the owned Secret to be garbage-collected",
        timeout=60,
    )


def test_namespace_with_custom_resource_is_deleted(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    name = f"e2e-doomed-{secrets.token_hex(3)}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    Gadgets(api, name).create("inside", {})
    core.delete_namespace(name)
    wait(lambda: gone(lambda: core.read_namespace(name)), f"namespace {name} to go", timeout=60)


@pytest.fixture
def mini_operator(kube_cluster: KubeCluster, namespace: str, tmp_path: Path) -> Iterator[Path]:
    log = tmp_path / "kopf.log"
    env = {**os.environ, "KUBECONFIG": str(kube_cluster.kubeconfig)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kopf",
                "run",
                "--standalone",
                "--namespace",
                namespace,
                str(DATA_DIR / "mini_operator.py"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        yield log
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_kopf_operator_handles_create_update_delete(
    api: client.ApiClient, gadgets: Gadgets, mini_operator: Path
) -> None:
    gadgets.create("watched", {"size": 2})
    ready = wait(
        lambda: gadgets.get("watched").get("status", {}).get("phase") == "Ready" or None,
        "kopf's create handler to set status",
        timeout=60,
        log=mini_operator,
    )
    assert ready
    status = gadgets.get("watched")["status"]
    assert (status["observedGeneration"], status["observedSize"]) == (1, 2)

    gadgets.patch("watched", {"spec": {"size": 5}})

    def updated() -> dict[str, Any] | None:
        current: dict[str, Any] = gadgets.get("watched").get("status", {})
        return current if current.get("phase") == "Updated" else None

    status = wait(updated, "kopf's update handler to set status", log=mini_operator)
    assert (status["observedGeneration"], status["observedSize"]) == (2, 5)

    gadgets.delete("watched")
    wait(
        lambda: gone(lambda: gadgets.get("watched")),
        "kopf to run the delete handler and release its finalizer",
        log=mini_operator,
    )
    evidence = client.CoreV1Api(api).read_namespaced_config_map(
        "watched-deleted", gadgets.namespace
    )
    assert evidence.data == {"gadget": "watched"}


def run_helm(cluster: KubeCluster, home: Path, *args: str) -> str:
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    result = subprocess.run(
        [str(cluster.helm), *args], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"helm {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
    return result.stdout


def test_helm_lint_template_install_uninstall(
    api: client.ApiClient, kube_cluster: KubeCluster, namespace: str, tmp_path: Path
) -> None:
    chart = str(DATA_DIR / "tiny-chart")
    run_helm(kube_cluster, tmp_path, "lint", "--strict", chart)

    rendered = list(
        yaml.safe_load_all(
            run_helm(kube_cluster, tmp_path, "template", "demo", chart, "--set", "greeting=hi")
        )
    )
    assert [(d["kind"], d["metadata"]["name"], d["data"]) for d in rendered if d] == [
        ("ConfigMap", "demo-greeting", {"greeting": "hi"})
    ]

    kube = ["--kubeconfig", str(kube_cluster.kubeconfig), "--namespace", namespace]
    run_helm(kube_cluster, tmp_path, "install", "demo", chart, *kube)
    core = client.CoreV1Api(api)
    installed = core.read_namespaced_config_map("demo-greeting", namespace)
    assert installed.data == {"greeting": "hello"}
    assert installed.metadata.labels["app.kubernetes.io/managed-by"] == "Helm"

    run_helm(kube_cluster, tmp_path, "uninstall", "demo", *kube)
    wait(
        lambda: gone(lambda: core.read_namespaced_config_map("demo-greeting", namespace)),
        "helm uninstall to remove the ConfigMap",
    )


def test_service_account_token_authenticates_and_rbac_limits_it(
    api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api)
    rbac = client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="reader"))
    )
    rbac.create_namespaced_role(
        namespace,
        client.V1Role(
            metadata=client.V1ObjectMeta(name="configmap-reader"),
            rules=[
                client.V1PolicyRule(
                    api_groups=[""], resources=["configmaps"], verbs=["get", "list"]
                )
            ],
        ),
    )
    rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="reader"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="Role", name="configmap-reader"
            ),
            subjects=[
                client.RbacV1Subject(kind="ServiceAccount", name="reader", namespace=namespace)
            ],
        ),
    )
    issued = core.create_namespaced_service_account_token(
        "reader",
        namespace,
        client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
        ),
    )

    config = client.Configuration()
    config.host = api.configuration.host
    config.ssl_ca_cert = api.configuration.ssl_ca_cert
    config.api_key = {"authorization": f"Bearer {issued.status.token}"}
    with client.ApiClient(config) as sa_api:
        review = client.AuthenticationV1Api(sa_api).create_self_subject_review(
            client.V1SelfSubjectReview()
        )
        assert review.status.user_info.username == f"system:serviceaccount:{namespace}:reader"

        sa_core = client.CoreV1Api(sa_api)

        def may_list() -> bool:
            try:
                sa_core.list_namespaced_config_map(namespace)
            except ApiException as error:
                if error.status == 403:
                    return False
                raise
            return True

        wait(may_list, "the RoleBinding to take effect")
        for forbidden in (
            lambda: sa_core.list_namespaced_secret(namespace),
            lambda: sa_core.list_namespaced_config_map("default"),
            lambda: sa_core.create_namespaced_config_map(
                namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="nope"))
            ),
        ):
            with pytest.raises(ApiException) as caught:
                forbidden()
            assert caught.value.status == 403
