"""The registry round trip: scripts/release -> OCI registry -> `helm install oci://` -> the pod.

A real OCI registry (CNCF Distribution's `registry`, built from its Go module on first use,
tests/support/gotools.py) listens on a random loopback port with a temporary store.
scripts/release pushes the image, its SBOM (as an OCI referrer, with oras, also built here)
and the chart into it, reusing WAOP_TEST_IMAGE when set (.ci/run builds it) and building the
image otherwise. Then the chart is installed from the registry into the local control plane,
its Deployment must name the image by the pushed digest, and the image, pulled by that
digest, runs as the chart's pod (tests/e2e/test_chart_pod.py's machinery) until a
WhatsAppInstance is Ready and Synced against the emulator.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client

from support.emulator_process import start_emulator_process, stop_emulator_process
from support.gotools import ToolUnavailable, go_tool
from support.kube_helpers import create_namespace, delete_namespace, wait_for
from support.podman_pod import LIMITS, podman
from support.requirements_lock import ROOT
from tests.e2e.operator.harness import EMULATOR_ARGS, Emulator, Scenario, Secrets, remember
from tests.e2e.test_chart_pod import RunningPod, missing, start_chart_pod
from tests.e2e.test_install import free_port, helm
from whatsapp_operator.devtools.cluster import KubeCluster

RELEASE = "waop-rel"
FULLNAME = f"{RELEASE}-whatsapp-operator"
PROJECT = "waop"  # the registry path the test releases under
CYCLONEDX = "application/vnd.cyclonedx+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def tool(name: str) -> Path:
    try:
        return go_tool(name)
    except ToolUnavailable as error:
        missing(f"{name} could not be built ({error})")


@dataclass(frozen=True)
class Registry:
    host: str  # 127.0.0.1:PORT

    def url(self, path: str) -> str:
        return f"http://{self.host}/v2/{path}"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    binary = tool("registry")
    work = tmp_path_factory.mktemp("registry")
    host = f"127.0.0.1:{free_port()}"
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(work / "data")}},
        "http": {"addr": host},
    }
    (work / "config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    log = (work / "registry.log").open("w")
    process = subprocess.Popen(
        [str(binary), "serve", str(work / "config.yml")], stdout=log, stderr=subprocess.STDOUT
    )
    served = Registry(host)
    try:

        def answers() -> bool:
            if process.poll() is not None:
                raise AssertionError((work / "registry.log").read_text(encoding="utf-8"))
            try:
                return httpx.get(served.url(""), timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(answers, "the registry to answer /v2/", 30, interval=0.2)
        yield served
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def released(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """scripts/release into the loopback registry; its JSON summary."""
    if shutil.which("podman") is None:
        missing("podman is not installed")
    out = tmp_path_factory.mktemp("dist")
    argv = [str(ROOT / "scripts" / "release"), f"{registry.host}/{PROJECT}", "--out", str(out)]
    given = os.environ.get("WAOP_TEST_IMAGE")
    if given:
        argv += ["--image", given]
    # A local cosign key pair: signing needs no transparency log or identity provider.
    cosign = str(tool("cosign"))
    keys = {**os.environ, "COSIGN_PASSWORD": "release-test"}
    subprocess.run(
        [cosign, "generate-key-pair"],
        cwd=out,
        env=keys,
        capture_output=True,
        timeout=60,
        check=True,
    )
    argv += ["--sign-key", str(out / "cosign.key")]
    env = {**keys, "WAOP_ORAS": str(tool("oras")), "WAOP_COSIGN": cosign}
    began = time.monotonic()
    result = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=1800, check=False
    )
    assert result.returncode == 0, f"$ {' '.join(argv)}\n{result.stdout}\n{result.stderr}"
    print(f"scripts/release took {time.monotonic() - began:.1f} s:\n{result.stderr}")
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return summary


def test_the_image_chart_and_sbom_are_in_the_registry(
    registry: Registry, released: dict[str, Any]
) -> None:
    version, digest = released["version"], released["image_digest"]
    repository = f"{PROJECT}/whatsapp-operator"
    assert released["image"] == f"{registry.host}/{repository}@{digest}"
    tags = httpx.get(registry.url(f"{repository}/tags/list"), timeout=10).json()["tags"]
    assert version in tags
    # The tag and the digest name the same manifest.
    head = httpx.head(
        registry.url(f"{repository}/manifests/{version}"),
        headers={"Accept": OCI_MANIFEST + ", application/vnd.docker.distribution.manifest.v2+json"},
        timeout=10,
    )
    assert head.headers["Docker-Content-Digest"] == digest
    chart = httpx.head(
        registry.url(f"{PROJECT}/charts/whatsapp-operator/manifests/{version}"),
        headers={"Accept": OCI_MANIFEST},
        timeout=10,
    )
    assert chart.headers["Docker-Content-Digest"] == released["chart_digest"]

    # The SBOM is attached to the image: its referrer's one layer is the file written locally.
    referrer = released["sbom_attached"]
    assert referrer
    discovered = subprocess.run(
        [str(tool("oras")), "discover", "--plain-http", "--format", "json", released["image"]],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert referrer in discovered
    assert CYCLONEDX in discovered
    manifest = httpx.get(
        registry.url(f"{repository}/manifests/{referrer}"),
        headers={"Accept": OCI_MANIFEST},
        timeout=10,
    ).json()
    assert manifest["subject"]["digest"] == digest
    (layer,) = manifest["layers"]
    blob = httpx.get(registry.url(f"{repository}/blobs/{layer['digest']}"), timeout=10)
    assert blob.content == Path(released["sbom"]).read_bytes()


def test_the_pushed_image_is_signed_with_the_key(released: dict[str, Any]) -> None:
    assert released["signed"]
    key = Path(released["sbom"]).parent / "cosign.pub"
    verified = subprocess.run(
        [str(tool("cosign")), "verify", "--key", str(key), "--insecure-ignore-tlog",
         "--allow-insecure-registry", "--allow-http-registry", released["image"]],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    (claim,) = json.loads(verified.stdout)
    assert claim["critical"]["image"]["docker-manifest-digest"] == released["image_digest"]


def test_the_sbom_lists_what_the_pushed_image_holds(released: dict[str, Any]) -> None:
    document = json.loads(Path(released["sbom"]).read_text(encoding="utf-8"))
    assert document["bomFormat"] == "CycloneDX"
    subject = document["metadata"]["component"]
    assert subject["hashes"] == [
        {"alg": "SHA-256", "content": released["image_digest"].removeprefix("sha256:")}
    ]
    purls = {c["purl"] for c in document["components"]}
    assert f"pkg:pypi/whatsapp-operator@{released['version']}" in purls
    assert any(p.startswith("pkg:pypi/kopf@") for p in purls)
    assert any(p.startswith("pkg:deb/debian/python3") for p in purls)
    # No dev tool slipped into the image.
    for absent in ("pip", "setuptools", "pytest", "mypy", "ruff"):
        assert not any(p.startswith(f"pkg:pypi/{absent}@") for p in purls), absent


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    running = start_emulator_process(*EMULATOR_ARGS)
    wrapped = Emulator(running)
    try:
        yield wrapped
    finally:
        wrapped.close()
        stop_emulator_process(running)


@pytest.fixture(scope="module")
def pulled(released: dict[str, Any]) -> str:
    """The released image as a kubelet pulls it: by digest, from the registry."""
    podman("pull", "--quiet", "--tls-verify=false", released["image"], timeout=600)
    return str(released["image"])


@dataclass(frozen=True)
class Installed:
    namespace: str
    pod: RunningPod


@pytest.fixture(scope="module")
def installed(
    pulled: str,
    released: dict[str, Any],
    kube_cluster: KubeCluster,
    api: client.ApiClient,
    module_prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
    emulator: Emulator,
) -> Iterator[Installed]:
    """`helm install oci://...` from the registry, and its Deployment's pod run by podman."""
    namespace = f"{module_prefix}-system"
    with ExitStack() as cleanup:
        create_namespace(api, namespace)
        cleanup.callback(delete_namespace, api, namespace)
        # As a user would: the chart from the registry, by version; CRDs are in the cluster.
        helm(
            kube_cluster, "install", RELEASE, released["chart"], "--version",
            released["chart_version"], "--plain-http", "-n", namespace, "--skip-crds",
            "--set", "metrics.enabled=true", "--set", f"allowedApiUrls={{{emulator.url}}}",
        )  # fmt: skip
        cleanup.callback(
            helm, kube_cluster, "uninstall", RELEASE, "-n", namespace, "--wait", "--timeout", "60s"
        )
        manifest = helm(kube_cluster, "get", "manifest", RELEASE, "-n", namespace).stdout
        (deployment,) = [d for d in yaml.safe_load_all(manifest) if d and d["kind"] == "Deployment"]
        work = tmp_path_factory.mktemp("release-pod")
        pod = start_chart_pod(deployment, kube_cluster, api, namespace, FULLNAME, work, cleanup)
        yield Installed(namespace, pod)


def test_the_installed_deployment_pins_the_pushed_digest(
    installed: Installed, released: dict[str, Any], api: client.ApiClient
) -> None:
    stored = client.AppsV1Api(api).read_namespaced_deployment(FULLNAME, installed.namespace)
    (container,) = stored.spec.template.spec.containers
    assert container.image == released["image"]
    assert installed.pod.container_spec["image"] == released["image"]
    # The container runs the image pulled by the pushed digest.
    running = podman("inspect", "--format", "{{.Image}}", installed.pod.container).stdout
    pulled = podman("image", "inspect", "--format", "{{.Id}}", released["image"]).stdout
    assert running.strip() == pulled.strip()


# The released image offers the operator's commands only.
WITHOUT_DEV_PARTS = """
import importlib.util, json
print(json.dumps({m: importlib.util.find_spec(m) is not None for m in (
    "whatsapp_operator.commands", "whatsapp_operator.emulator", "whatsapp_operator.devtools")}))
"""


def test_the_image_holds_neither_the_emulator_nor_the_dev_tools(pulled: str) -> None:
    image = pulled
    base = ["run", "--rm", "--pull", "never", "--network", "none", *LIMITS]
    found = podman(*base, "--entrypoint", "python3", image, "-c", WITHOUT_DEV_PARTS).stdout
    assert json.loads(found) == {
        "whatsapp_operator.commands": True,
        "whatsapp_operator.emulator": False,
        "whatsapp_operator.devtools": False,
    }
    usage = podman(*base, "--entrypoint", "whatsapp-operator", image, "--help").stdout
    assert "run" in usage
    assert "emulator" not in usage


@pytest.fixture
def scenario(
    request: pytest.FixtureRequest,
    api: client.ApiClient,
    installed: Installed,
    emulator: Emulator,
    module_prefix: str,
    leaks: Secrets,
) -> Iterator[Scenario]:
    namespace = f"{module_prefix}-apps"
    remember(request.node, installed.pod, emulator, namespace)
    create_namespace(api, namespace)
    scene = Scenario(api=api, namespace=namespace, emulator=emulator, leaks=leaks)
    try:
        yield scene
        stuck = scene.instances.delete_all_and_wait(timeout=30)
        assert not stuck, f"the operator in the pod did not release {stuck} within 30 s"
    finally:
        delete_namespace(api, namespace)


def test_the_pulled_image_makes_an_instance_ready_and_synced(
    installed: Installed, scenario: Scenario
) -> None:
    name = "from-registry"
    scenario.seed(name)
    scenario.create(name, settings={"stateWebhook": True})
    scenario.ready(name, timeout=60)
    installed.pod.check_running()
    assert not scenario.leaks.found_in({"the pod's log": installed.pod.log()})
