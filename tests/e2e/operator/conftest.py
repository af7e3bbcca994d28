"""Fixtures for the operator's end-to-end tests.

Per module: one GREEN-API emulator subprocess (short timings, the real rate limits
on) and one operator subprocess watching the module's namespaces (`<prefix>-*`).
Per test: a fresh namespace (`scenario`), emptied and deleted afterwards, and a
check that nothing was answered 429 meanwhile: the operator must pace itself.
On failure the report carries the operator's log of that test and the emulator's.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from support.emulator_process import start_emulator_process, stop_emulator_process
from support.kube_helpers import create_namespace, delete_namespace
from tests.e2e.operator.harness import (
    EMULATOR_ARGS,
    Emulator,
    OperatorProcess,
    Scenario,
    Secrets,
    remember,
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


@pytest.fixture
def scenario(
    request: pytest.FixtureRequest,
    api: client.ApiClient,
    emulator: Emulator,
    operator: OperatorProcess,
    module_prefix: str,
    leaks: Secrets,
    _namespace_numbers: Iterator[int],
) -> Iterator[Scenario]:
    """A fresh namespace watched by the module's operator."""
    assert operator.process.poll() is None, "the operator process has exited"
    namespace = f"{module_prefix}-{next(_namespace_numbers)}"
    item = request.node
    remember(item, operator, emulator, namespace)
    throttled_before = emulator.too_many_requests()
    create_namespace(api, namespace)
    scene = Scenario(api=api, namespace=namespace, emulator=emulator, leaks=leaks)
    yield scene
    leaks.keep(api, namespace)
    stuck = scene.instances.delete_all_and_wait(timeout=30)
    delete_namespace(api, namespace)
    emulator.clear_faults()
    throttled = emulator.too_many_requests()
    assert throttled == throttled_before, f"GREEN-API answered 429: {throttled}"
    assert not stuck, f"the operator did not release (finalizer) {stuck} within 30 s"
    assert operator.process.poll() is None, "the operator process exited during the test"
