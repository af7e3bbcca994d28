"""End-to-end fixtures: one real Kubernetes control plane per test session.

`WAOP_TEST_KUBECONFIG` points the suite at an existing cluster instead, but only
one whose current context is plainly a test cluster: the tests create and
delete namespaces, CRDs and RBAC objects.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from kubernetes import client

from tests.e2e.operator.harness import OperatorProcess, Secrets, diagnostics, module_operator
from whatsapp_operator.devtools.binaries import (
    Binaries,
    BinariesNotFoundError,
    find_binaries,
    repo_root,
)
from whatsapp_operator.devtools.cluster import (
    TEST_CONTEXT_HINTS,
    KubeCluster,
    apply_crds,
    current_context,
    is_test_context,
)
from whatsapp_operator.devtools.controlplane import ControlPlane, ControlPlaneError

E2E_DIR = Path(__file__).parent
TEST_CRDS = E2E_DIR / "data" / "crds"

_cluster: KubeCluster | None = None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees the whole session's items, not just this directory's.
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


def pytest_collection_finish(session: pytest.Session) -> None:
    # Refuse before any test runs: the tests create and delete cluster objects.
    external = os.environ.get("WAOP_TEST_KUBECONFIG")
    if not external or not any(E2E_DIR in item.path.parents for item in session.items):
        return
    context = current_context(Path(external))
    allowed = os.environ.get("WAOP_TEST_ALLOW_CONTEXT")
    if not is_test_context(context, allowed):
        raise pytest.UsageError(
            f"WAOP_TEST_KUBECONFIG's current context {context!r} does not look like a test "
            f"cluster (none of {', '.join(TEST_CONTEXT_HINTS)} in its name); set "
            f"WAOP_TEST_ALLOW_CONTEXT={context} if it really is disposable."
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        # The operator suites stash their operator, emulator and namespace on the item.
        report.sections.extend(diagnostics(item))
        if _cluster is not None:
            report.sections.append(("control plane logs", _cluster.log_tails()))
    return report


def crd_files() -> list[Path]:
    """The operator's CRDs (repo `crds/`, if any) and the proof tests' CRD."""
    root = repo_root()
    dirs = [root / "crds"] if root is not None else []
    dirs.append(TEST_CRDS)
    return sorted(
        p for d in dirs if d.is_dir() for p in d.iterdir() if p.suffix in {".yaml", ".yml"}
    )


def _no_cluster(error: Exception | None) -> NoReturn:
    # Never a skip: an end-to-end suite that silently did not run reads as green.
    where = "in CI" if os.environ.get("CI") else "on this machine"
    pytest.fail(
        f"the end-to-end tests need a Kubernetes control plane and none is available {where}:\n"
        f"{error}\nLet tests/k8sbins/build.sh build one (needs Go and the Go module proxy), "
        "or point WAOP_TEST_KUBECONFIG at a test cluster; deselect knowingly with -m 'not e2e'.",
        pytrace=False,
    )


def _local_binaries(pytestconfig: pytest.Config) -> Binaries:
    # A cold build takes a quarter of an hour; show its progress instead of
    # letting the session look hung behind output capture.
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    problem: BinariesNotFoundError | None = None
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        try:
            return find_binaries()
        except BinariesNotFoundError as error:
            problem = error
    _no_cluster(problem)


def _external_cluster(kubeconfig: Path) -> KubeCluster:
    helm = os.environ.get("WAOP_HELM") or shutil.which("helm")
    problem: BinariesNotFoundError | None = None
    try:
        helm_path = Path(helm) if helm else find_binaries().helm
    except BinariesNotFoundError as error:
        problem = error
    if problem is not None:
        _no_cluster(problem)
    cluster = KubeCluster(kubeconfig=kubeconfig, helm=helm_path)
    with cluster.api_client() as api:
        cluster.crd_names = apply_crds(api, crd_files())
    return cluster


@pytest.fixture(scope="session")
def kube_cluster(pytestconfig: pytest.Config) -> Iterator[KubeCluster]:
    global _cluster  # noqa: PLW0603 - the report hook has no fixture access
    external = os.environ.get("WAOP_TEST_KUBECONFIG")
    if external:
        _cluster = _external_cluster(Path(external))
        try:
            yield _cluster
        finally:
            _cluster = None
        return
    binaries = _local_binaries(pytestconfig)
    # CRDs go in before the controller manager starts, so its garbage collector
    # knows them at once instead of after its 30 s rediscovery.
    plane = ControlPlane(binaries, crds=crd_files())
    failure: ControlPlaneError | None = None
    try:
        plane.start()
    except ControlPlaneError as error:
        failure = error
    if failure is not None:
        pytest.fail(f"the local control plane did not start:\n{failure}", pytrace=False)
    _cluster = KubeCluster(kubeconfig=plane.kubeconfig, helm=binaries.helm, control_plane=plane)
    try:
        yield _cluster
    finally:
        _cluster = None
        plane.stop()


@pytest.fixture(scope="module")
def api(kube_cluster: KubeCluster) -> Iterator[client.ApiClient]:
    """A Kubernetes client for one test module (admin credentials)."""
    with kube_cluster.api_client() as api_client:
        yield api_client


@pytest.fixture(scope="module")
def module_prefix(request: pytest.FixtureRequest) -> str:
    """A namespace prefix unique to the module, so modules never see each other's objects."""
    short = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")[:12]
    return f"waop-{short.replace('_', '-')}-{secrets.token_hex(3)}"


@pytest.fixture(scope="module")
def operator(
    kube_cluster: KubeCluster, module_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """`whatsapp-operator run` as a subprocess watching this module's namespaces."""
    with module_operator(kube_cluster.kubeconfig, module_prefix, tmp_path_factory) as running:
        yield running


@pytest.fixture(scope="module")
def leaks() -> Secrets:
    """Every secret a module hands out, for the no-leak checks."""
    return Secrets()


@pytest.fixture(scope="module")
def _namespace_numbers() -> Iterator[int]:
    return itertools.count(1)
