"""A reconcile passes values: what a stage hands on cannot be changed by the next one.

Every dataclass a reconcile stage returns or keeps between reconciles is frozen, and no
module of `run/` assigns to a field of one (`memory.x = ...`): a new field that slips in
as mutable, or a step that writes into its input, fails here.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "operator" / "whatsapp_operator" / "run"

# The values of one reconcile, by module.
STAGE_VALUES = {
    "whatsapp_operator.run.cycle": [
        "Inputs",
        "Settled",
        "Outcome",
        "Polled",
        "ProfileContext",
        "Finalization",
    ],
    "whatsapp_operator.run.memory": ["Memory", "SettingsCache", "QueueWatch"],
    "whatsapp_operator.run.journal": ["Intent", "ActResult"],
    "whatsapp_operator.run.observe": ["Observation"],
    "whatsapp_operator.run.act": ["Written"],
    "whatsapp_operator.run.queues": ["Queues", "Watched", "Cleared"],
    "whatsapp_operator.run.token_rotation": ["Rotation"],
    "whatsapp_operator.run.profile_step": ["Layered"],
    "whatsapp_operator.run.linking_step": ["Linked"],
    "whatsapp_operator.run.connection_secret": ["ConnectionSecret"],
    "whatsapp_operator.run.prepare": ["Prepared"],
    "whatsapp_operator.run.converge": ["Converged", "Planned"],
    "whatsapp_operator.decide.intents": ["Unsent"],
}
# Names under which a stage value travels; none of their fields is assigned in `run/`.
VALUE_NAMES = {"memory", "inputs", "outcome", "settled", "prepared", "converged", "cycle"}


@pytest.mark.parametrize(
    ("module", "name"),
    [(module, name) for module, names in STAGE_VALUES.items() for name in names],
)
def test_each_stage_value_is_frozen(module: str, name: str) -> None:
    cls = getattr(importlib.import_module(module), name)
    assert dataclasses.is_dataclass(cls)
    assert cls.__dataclass_params__.frozen, f"{module}.{name} is not frozen"


def field_assignments(source: str) -> list[str]:
    """`value.field = ...` (or +=) where `value` is a name a stage value travels under."""
    found = []
    for node in ast.walk(ast.parse(source)):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            for leaf in ast.walk(target):
                if not isinstance(leaf, ast.Attribute):
                    continue
                owner = leaf.value
                if isinstance(owner, ast.Attribute):
                    owner_name = owner.attr
                elif isinstance(owner, ast.Name):
                    owner_name = owner.id
                else:
                    continue
                if owner_name in VALUE_NAMES:
                    found.append(f"{owner_name}.{leaf.attr}")
    return found


def test_no_step_writes_into_a_stage_value() -> None:
    offenders = {
        path.name: found
        for path in sorted(RUN.glob("*.py"))
        if (found := field_assignments(path.read_text()))
    }
    assert offenders == {}


def memory_kept(source: str) -> int:
    """How many times `source` replaces an object's memory (`x.memory = ...`)."""
    return sum(
        1
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Attribute) and target.attr == "memory"
    )


def test_only_the_runners_keep_an_objects_memory() -> None:
    # A reconcile returns the next memory; the runner of its kind keeps it. A step that
    # replaced it elsewhere would be a second writer of what the object remembers.
    keepers = {path.name for path in sorted(RUN.glob("*.py")) if memory_kept(path.read_text())}
    assert keepers == {"instances.py", "kinds.py"}
    assert memory_kept("entry.memory = outcome.memory") == 1
    assert memory_kept("memory = replace(memory, failures=1)") == 0


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("memory.failures += 1", ["memory.failures"]),
        ("entry.memory.session = None", ["memory.session"]),
        ("cycle.plan = plan", ["cycle.plan"]),
        ("inputs.now, x = now, 1", ["inputs.now"]),
        ("entry.memory = replace(entry.memory, failures=1)", []),
        ("self.live.session = session", []),
    ],
)
def test_the_checker_finds_each_shape_of_assignment(snippet: str, expected: list[str]) -> None:
    assert field_assignments(snippet) == expected
