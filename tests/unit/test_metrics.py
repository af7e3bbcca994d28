"""Metric label values come from a fixed set, whatever GREEN-API answers."""

from __future__ import annotations

from whatsapp_operator.metrics import Metrics
from whatsapp_operator.wire.models import InstanceState


def state_samples(metrics: Metrics) -> dict[str, float]:
    (family,) = [f for f in metrics.registry.collect() if f.name == "whatsapp_operator_instances"]
    return {sample.labels["state"]: sample.value for sample in family.samples}


def test_documented_states_are_their_own_labels() -> None:
    metrics = Metrics()
    for index, state in enumerate(InstanceState):
        if state is not InstanceState.UNKNOWN:
            metrics.set_state(f"uid-{index}", state.value)
    samples = state_samples(metrics)
    assert samples["authorized"] == 1
    assert samples["notAuthorized"] == 1
    assert samples["creating"] == 1
    assert "other" not in samples


def test_unknown_states_share_one_label() -> None:
    metrics = Metrics()
    for index in range(500):
        metrics.set_state(f"uid-{index}", f"surprise-{index}")
    metrics.set_state("uid-known", "authorized")
    metrics.set_state("uid-none", "")
    samples = state_samples(metrics)
    assert samples == {"other": 500, "authorized": 1, "unknown": 1}


def test_a_state_nobody_is_in_reads_zero() -> None:
    metrics = Metrics()
    metrics.set_state("uid-1", "surprise")
    metrics.set_state("uid-1", "authorized")
    assert state_samples(metrics) == {"other": 0, "authorized": 1}
    metrics.forget("uid-1")
    assert state_samples(metrics) == {"other": 0, "authorized": 0}
