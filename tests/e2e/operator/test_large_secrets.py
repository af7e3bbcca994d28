"""A restart in a namespace of large Secrets stays well inside the chart's memory limit.

Helm keeps each release revision in a Secret of up to 1 MiB. Here 300 Secrets of about
1 MiB share a namespace with 30 WhatsAppInstances; the operator starts with nothing
cached (a restart, as far as it can tell) and, once 8 token Secrets wait to be read,
reads the namespace's Secrets with one paginated LIST; reconciles that start while it
runs wait for it. A LIST page is read up to a byte bound (`adapters/kube/secrets.py`,
LIST_PAGE_BYTES), so the operator's peak RSS (VmHWM, the kernel's high-water mark over
the whole process life) stays far below the chart's 512Mi limit. Before the bound a
first page of 250 such Secrets was ~330 MB of JSON, read and parsed whole.

Size: WAOP_E2E_LARGE_SECRETS (default 300).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from support.kube_helpers import create_namespace, delete_namespace
from tests.e2e.operator.harness import Emulator, OperatorProcess, Scenario, Secrets
from whatsapp_operator.adapters.kube import LIST_AT
from whatsapp_operator.devtools.cluster import KubeCluster

COUNT = int(os.environ.get("WAOP_E2E_LARGE_SECRETS", "300"))
# The sum of a Secret's values may be 1 MiB; Helm's release Secrets come close.
SECRET_BYTES = 1_000_000
INSTANCES = 30
CHART_LIMIT_MIB = 512
# "Well under": three quarters of the limit leaves the rest for the fleet's own growth.
PEAK_BOUND_MIB = CHART_LIMIT_MIB * 3 // 4


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} line")


def metric(operator: OperatorProcess, name: str, **labels: str) -> float:
    text = httpx.get(operator.metrics, timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def create_large_secrets(api: client.ApiClient, namespace: str, count: int) -> None:
    core = client.CoreV1Api(api)

    def one(index: int) -> None:
        # Random bytes: the size on the wire and in etcd is the size of the data.
        blob = base64.b64encode(os.urandom(SECRET_BYTES)).decode()
        core.create_namespaced_secret(
            namespace,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name=f"sh.helm.release.v1.app.v{index:04d}"),
                type="helm.sh/release.v1",
                data={"release": blob},
            ),
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, range(count)))


@pytest.fixture
def scenario(
    api: client.ApiClient,
    emulator: Emulator,
    module_prefix: str,
    leaks: Secrets,
    _namespace_numbers: Iterator[int],
) -> Iterator[Scenario]:
    namespace = f"{module_prefix}-{next(_namespace_numbers)}"
    create_namespace(api, namespace)
    yield Scenario(api=api, namespace=namespace, emulator=emulator, leaks=leaks)
    delete_namespace(api, namespace)


def test_a_restart_lists_large_secrets_within_the_memory_limit(
    scenario: Scenario, kube_cluster: KubeCluster, module_prefix: str, tmp_path: Path
) -> None:
    create_large_secrets(scenario.api, scenario.namespace, COUNT)
    names = [f"shop-{i:02d}" for i in range(INSTANCES)]
    for name in names:
        scenario.seed(name, state="authorized")
        scenario.create(name)

    operator = OperatorProcess.start(
        namespace=f"{module_prefix}-*",
        kubeconfig=kube_cluster.kubeconfig,
        log_path=tmp_path / "operator.log",
    )
    try:
        for name in names:
            # Generous: the LIST of ~400 MB of Secrets goes first.
            scenario.instances.wait_condition(name, "Ready", "True", timeout=180)
        pid = operator.process.pid
        peak_kib = status_kib(pid, "VmHWM")
        now_kib = status_kib(pid, "VmRSS")
        lists = metric(operator, "whatsapp_operator_secret_reads_total", purpose="list")
        gets = metric(operator, "whatsapp_operator_secret_reads_total", purpose="reconcile")
        print(
            f"\n{COUNT} Secrets of {SECRET_BYTES} bytes, {INSTANCES} instances: operator peak "
            f"RSS (VmHWM) {peak_kib / 1024:.0f} MiB, RSS after {now_kib / 1024:.0f} MiB; "
            f"LISTs {lists:.0f}, Secret GETs by reconciles {gets:.0f}"
        )
        stuck = scenario.instances.delete_all_and_wait(timeout=60)
    finally:
        operator.stop()

    assert peak_kib < PEAK_BOUND_MIB * 1024
    assert lists >= 1  # the case under test: the tokens were read by a LIST
    # At most the first few, read before 8 were waiting, by GET.
    assert gets < LIST_AT
    assert not stuck
