"""The image and the chart, run for real.

The image is built from the Dockerfile (`scripts/image`; `.ci/run` builds it and passes it in
`WAOP_TEST_IMAGE`). The chart is rendered with `helm template` (defaults plus
`metrics.enabled`) and installed, so its ServiceAccount, RBAC and Deployment exist. There is no
kubelet, so the Deployment's pod spec is run with podman as a kubelet would run it
(tests/support/podman_pod.py): its user, read-only root, dropped capabilities, seccomp,
limits, environment, arguments and `/tmp` emptyDir, with in-cluster credentials made the
kubelet's way, a TokenRequest token for the chart's ServiceAccount bound to the Deployment's
(unscheduled) Pod and the cluster CA from the `kube-root-ca.crt` ConfigMap, both at
/var/run/secrets/kubernetes.io/serviceaccount/, and KUBERNETES_SERVICE_HOST/PORT naming the
API server. Then the probes and metrics answer on the chart's ports and a WhatsAppInstance
goes Ready and Synced, the operator in the image doing the work with the chart's RBAC.

The container shares the host's network (it reaches the API server and the emulator on
loopback), so the chart's ports, 8080 and 9090, must be free on the host.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import tomllib
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from kubernetes import client
from packaging.utils import canonicalize_name
from prometheus_client.parser import text_string_to_metric_families

from support.emulator_process import start_emulator_process, stop_emulator_process
from support.kube_helpers import create_namespace, delete_namespace, wait_for
from support.podman_pod import (
    LIMITS,
    PodRun,
    ServiceAccountFiles,
    podman,
    podman_run_argv,
    prepare_empty_dir,
    read_cri_log,
)
from support.requirements_lock import ROOT, RUNTIME, parse_lock
from tests.e2e.operator.harness import EMULATOR_ARGS, Emulator, Scenario, Secrets, remember
from tests.e2e.test_install import CHART, DENIED, helm, run
from tests.integration.test_packaging import control_plane_version
from whatsapp_operator.devtools.cluster import KubeCluster

RELEASE = "waop-pod"
FULLNAME = f"{RELEASE}-whatsapp-operator"
VALUES = ("--set", "metrics.enabled=true")
# What the kubelet asks for when it projects a ServiceAccount token (and refreshes at 80 %).
TOKEN_SECONDS = 3607


def missing(what: str) -> NoReturn:
    # A visible skip on a developer's machine; in CI, where .ci/run installs podman, a
    # test that did not run must not read as green.
    message = f"{what}: the image and the chart's pod were not run"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(f"{message} (apt-get install podman runc mmdebstrap; .ci/run does)")


@pytest.fixture(scope="module")
def image() -> str:
    """The image reference: WAOP_TEST_IMAGE, or scripts/image run on this checkout."""
    if shutil.which("podman") is None:
        missing("podman is not installed")
    given = os.environ.get("WAOP_TEST_IMAGE")
    if given:
        podman("image", "exists", given)
        return given
    # Cached layers make this a matter of seconds unless the locks or the base changed.
    built = run([str(ROOT / "scripts" / "image")], timeout=1500)
    return built.stdout.strip().splitlines()[-1]


# --- the image ------------------------------------------------------------------------------


LIST_DISTRIBUTIONS = """
import importlib.metadata, json
print(json.dumps({d.metadata["Name"]: d.version for d in importlib.metadata.distributions()}))
"""


def test_the_image_holds_exactly_the_locked_versions(image: str) -> None:
    listed = podman(
        "run", "--rm", *LIMITS, "--network", "none", "--entrypoint", "python3", image,
        "-c", LIST_DISTRIBUTIONS,
    )  # fmt: skip
    installed = {canonicalize_name(n): v for n, v in json.loads(listed.stdout).items()}
    with (ROOT / "pyproject.toml").open("rb") as handle:
        version = tomllib.load(handle)["project"]["version"]
    locked = {name: str(pin.version) for name, pin in parse_lock(RUNTIME).items()}
    # No pip, no setuptools, nothing the lock does not name; and the operator itself.
    assert installed == {**locked, "whatsapp-operator": version}


# --- the chart's pod ------------------------------------------------------------------------


@dataclass
class RunningPod:
    """The chart's pod, run by podman; the container is ours to stop and remove."""

    container: str
    pod_name: str
    namespace: str
    spec: dict[str, Any]
    run: PodRun
    log_path: Path

    def log(self) -> str:
        return read_cri_log(self.log_path)

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_tail(self, since: int = 0, limit: int = 20_000) -> str:
        with self.log_path.open("rb") as handle:
            handle.seek(since)
            raw = handle.read()
        return "".join(
            parts[3] + "\n"
            for line in raw.decode("utf-8", errors="replace").splitlines()
            if len(parts := line.split(" ", 3)) == 4
        )[-limit:]

    def state(self) -> dict[str, Any]:
        inspected = podman("inspect", "--format", "{{json .State}}", self.container)
        state: dict[str, Any] = json.loads(inspected.stdout)
        return state

    def check_running(self) -> None:
        state = self.state()
        if not state.get("Running"):
            raise AssertionError(
                f"the container exited ({state.get('ExitCode')}):\n{self.log()[-6000:]}"
            )

    @property
    def container_spec(self) -> dict[str, Any]:
        (container,) = self.spec["containers"]
        return dict(container)

    def probe_url(self, probe: str) -> str:
        get = self.container_spec[probe]["httpGet"]
        port = get["port"]
        number = self.run.ports[port] if isinstance(port, str) else int(port)
        return f"http://127.0.0.1:{number}{get['path']}"

    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.run.ports['metrics']}/metrics"


def render_chart(kube_cluster: KubeCluster, namespace: str, values: list[str]) -> dict[str, Any]:
    """The Deployment of `helm template`, as the chart renders it for these values."""
    # The chart's kubeVersion is checked against the cluster the pod runs for.
    version = ("--kube-version", control_plane_version())
    rendered = helm(
        kube_cluster, "template", RELEASE, str(CHART), "-n", namespace, *version, *values
    )
    documents = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    assert any(d["kind"] == "Service" and d["metadata"]["name"].endswith("-metrics")
               for d in documents), "metrics.enabled renders the metrics Service"  # fmt: skip
    return dict(deployment)


def api_server_address(kubeconfig: Path) -> tuple[str, int]:
    config = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c for c in config["clusters"] if c["name"] == context["context"]["cluster"])
    server = urlsplit(cluster["cluster"]["server"])
    assert server.hostname is not None
    return server.hostname, server.port or 443


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def kubelet_credentials(
    api: client.ApiClient, namespace: str, selector: dict[str, str], account: str
) -> tuple[ServiceAccountFiles, str]:
    """The ServiceAccount volume's files for the Deployment's pod, and that pod's name."""
    core = client.CoreV1Api(api)
    labels = ",".join(f"{k}={v}" for k, v in selector.items())
    # The ReplicaSet controller creates the pod; no scheduler places it, nothing runs it.
    pod = wait_for(
        lambda: next(iter(core.list_namespaced_pod(namespace, label_selector=labels).items), None),
        "the Deployment's pod to be created",
        60,
    )
    assert pod.spec.service_account_name == account
    # Bound to the pod, as the kubelet's tokens are: deleting the pod revokes it.
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(
            audiences=[],
            expiration_seconds=TOKEN_SECONDS,
            bound_object_ref=client.V1BoundObjectReference(
                api_version="v1", kind="Pod", name=pod.metadata.name, uid=pod.metadata.uid
            ),
        )
    )
    token = core.create_namespaced_service_account_token(account, namespace, request).status.token
    # The kube-controller-manager publishes the cluster CA into every namespace.
    root_ca = wait_for(
        lambda: core.read_namespaced_config_map("kube-root-ca.crt", namespace).data,
        "the kube-root-ca.crt ConfigMap",
        30,
    )
    return ServiceAccountFiles(token, root_ca["ca.crt"], namespace), pod.metadata.name


def remove_container(name: str) -> None:
    subprocess.run(
        ["podman", "rm", "--force", "--time", "5", name],
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    running = start_emulator_process(*EMULATOR_ARGS)
    wrapped = Emulator(running)
    try:
        yield wrapped
    finally:
        wrapped.close()
        stop_emulator_process(running)


def start_chart_pod(
    deployment: dict[str, Any],
    kube_cluster: KubeCluster,
    api: client.ApiClient,
    namespace: str,
    account: str,
    work: Path,
    cleanup: ExitStack,
) -> RunningPod:
    """Run the installed `deployment`'s pod with podman until its startup probe answers.

    `deployment` is the chart's rendering of the Deployment (not the stored object, whose
    defaulted fields the translation would refuse); `cleanup` removes the container.
    """
    spec = deployment["spec"]["template"]["spec"]
    busy = [p["containerPort"] for c in spec["containers"] for p in c["ports"]]
    busy = [port for port in busy if not port_is_free(port)]
    if busy:
        pytest.fail(f"ports {busy} are taken on this host; the chart's pod uses the host's network")
    files, pod_name = kubelet_credentials(
        api, namespace, deployment["spec"]["selector"]["matchLabels"], account
    )
    host, port = api_server_address(kube_cluster.kubeconfig)
    fs_group = (spec.get("securityContext") or {}).get("fsGroup")
    volumes = {
        v["name"]: prepare_empty_dir(work / "volumes" / v["name"], fs_group)
        for v in spec.get("volumes", [])
    }
    container = f"waop-pod-{secrets.token_hex(4)}"
    run_spec = podman_run_argv(
        spec,
        name=container,
        hostname=pod_name,
        service_account_dir=files.write(work / "serviceaccount"),
        volume_dirs=volumes,
        api_host=host,
        api_port=port,
        log_path=work / "operator.log",
    )
    started = time.monotonic()
    run(run_spec.argv, timeout=120)
    cleanup.callback(remove_container, container)
    running = RunningPod(container, pod_name, namespace, spec, run_spec, work / "operator.log")
    # The startup probe's own budget: periodSeconds x failureThreshold.
    startup = running.container_spec["startupProbe"]

    def started_up() -> bool:
        running.check_running()
        try:
            return httpx.get(running.probe_url("startupProbe"), timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(
        started_up,
        "the startup probe",
        startup["periodSeconds"] * startup["failureThreshold"],
        interval=1.0,
        describe=lambda: running.log()[-4000:],
    )
    print(f"the chart's pod answered its startup probe {time.monotonic() - started:.1f} s")
    return running


@pytest.fixture(scope="module")
def pod(
    image: str,
    kube_cluster: KubeCluster,
    api: client.ApiClient,
    module_prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
    emulator: Emulator,
) -> Iterator[RunningPod]:
    namespace = f"{module_prefix}-system"
    repository, _, tag = image.rpartition(":")
    values = [*VALUES, "--set", f"image.repository={repository}", "--set", f"image.tag={tag}"]
    # The chart's allow-list holds the emulator alone, as an administrator would list a host.
    values += ["--set", f"allowedApiUrls={{{emulator.url}}}"]
    deployment = render_chart(kube_cluster, namespace, values)
    work = tmp_path_factory.mktemp(module_prefix)
    with ExitStack() as cleanup:
        create_namespace(api, namespace)
        cleanup.callback(delete_namespace, api, namespace)
        # The chart's CRDs are already in the cluster (the e2e session applies crds/).
        helm(kube_cluster, "install", RELEASE, str(CHART), "-n", namespace, "--skip-crds", *values)
        cleanup.callback(
            helm, kube_cluster, "uninstall", RELEASE, "-n", namespace, "--wait", "--timeout", "60s"
        )
        running = start_chart_pod(deployment, kube_cluster, api, namespace, FULLNAME, work, cleanup)
        yield running


@pytest.fixture
def scenario(
    request: pytest.FixtureRequest,
    api: client.ApiClient,
    pod: RunningPod,
    emulator: Emulator,
    module_prefix: str,
    leaks: Secrets,
) -> Iterator[Scenario]:
    """A namespace for WhatsAppInstances; the pod's operator watches every namespace."""
    namespace = f"{module_prefix}-apps"
    remember(request.node, pod, emulator, namespace)
    create_namespace(api, namespace)
    scene = Scenario(api=api, namespace=namespace, emulator=emulator, leaks=leaks)
    try:
        yield scene
        stuck = scene.instances.delete_all_and_wait(timeout=30)
        assert not stuck, f"the operator in the pod did not release {stuck} within 30 s"
    finally:
        delete_namespace(api, namespace)


PROC_STATUS = """
import json
status = dict(line.split(":", 1) for line in open("/proc/1/status").read().splitlines())
writable = {}
for path in ("/", "/run", "/var/tmp", "/opt/venv", "/tmp"):
    try:
        with open(path.rstrip("/") + "/.probe", "w"):
            pass
        writable[path] = True
    except OSError:
        writable[path] = False
print(json.dumps({"status": {k: v.split() for k, v in status.items()}, "writable": writable}))
"""


def test_the_operator_runs_as_the_pod_spec_says(pod: RunningPod) -> None:
    context = pod.container_spec["securityContext"]
    seen = json.loads(
        podman("exec", pod.container, "python3", "-c", PROC_STATUS).stdout.strip().splitlines()[-1]
    )
    status = seen["status"]
    assert set(status["Uid"]) == {str(context["runAsUser"])}
    assert set(status["Gid"]) == {str(context["runAsGroup"])}
    assert str(pod.spec["securityContext"]["fsGroup"]) in status["Groups"]
    assert context["capabilities"]["drop"] == ["ALL"]
    assert status["CapEff"] == status["CapPrm"] == status["CapBnd"] == ["0000000000000000"]
    assert status["NoNewPrivs"] == ["1"]  # allowPrivilegeEscalation: false
    assert status["Seccomp"] == ["2"]  # a filter: the runtime's default profile
    # readOnlyRootFilesystem: only the emptyDir at /tmp takes writes.
    assert seen["writable"] == {"/": False, "/run": False, "/var/tmp": False,
                                "/opt/venv": False, "/tmp": True}  # fmt: skip
    limits = json.loads(podman("inspect", "--format", "{{json .HostConfig}}", pod.container).stdout)
    assert limits["Memory"] == 512 * 2**20
    assert limits["NanoCpus"] == 500_000_000


def test_probes_and_metrics_answer_on_the_charts_ports(pod: RunningPod) -> None:
    assert pod.run.ports == {"health": 8080, "metrics": 9090}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        response = httpx.get(pod.probe_url(probe), timeout=5)
        assert response.status_code == 200, f"{probe}: {response.status_code} {response.text}"
    metrics = httpx.get(pod.metrics_url(), timeout=5)
    assert metrics.status_code == 200
    families = {f.name for f in text_string_to_metric_families(metrics.text)}
    assert "whatsapp_operator_greenapi_requests" in families, sorted(families)


def test_a_whatsappinstance_becomes_ready_and_synced(
    pod: RunningPod, scenario: Scenario, emulator: Emulator
) -> None:
    name = "in-pod"
    scenario.seed(name)
    scenario.create(name, settings={"stateWebhook": True})
    scenario.ready(name, timeout=60)
    # The metrics are the operator's in the pod: they counted the settings it wrote.
    text = httpx.get(pod.metrics_url(), timeout=5).text
    writes = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "whatsapp_operator_greenapi_requests_total"
        and sample.labels == {"method": "setsettings", "outcome": "ok"}
    ]
    assert writes, text
    assert writes[0] >= 1, text
    pod.check_running()
    log = pod.log()
    # In-cluster configuration with the chart's RBAC: nothing refused, nothing leaked, and
    # one JSON object per line (the chart's logFormat).
    denied = [line for line in log.splitlines() if DENIED.search(line)]
    assert not denied, "the operator was refused something:\n" + "\n".join(denied[:20])
    assert not scenario.leaks.found_in({"the pod's log": log})
    lines = [line for line in log.splitlines() if line.strip()]
    assert lines
    for line in lines:
        assert isinstance(json.loads(line), dict), line


def test_sigterm_stops_it_within_the_grace_period(pod: RunningPod) -> None:
    grace = pod.spec["terminationGracePeriodSeconds"]
    began = time.monotonic()
    podman("stop", "--time", str(grace), pod.container, timeout=grace + 30)
    took = time.monotonic() - began
    state = pod.state()
    assert state["ExitCode"] == 0, pod.log()[-4000:]
    assert took < grace, f"took {took:.1f} s, then it would have been killed"
