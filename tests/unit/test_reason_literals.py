"""No reason is spelled as a string literal in decide/ or run/: each comes from the catalog.

A literal reason drifts from the catalog (and so from the reference and the tests) without a
test noticing; `Reason` members cannot. The checker reads the source, so each shape it knows is
proved on a planted snippet below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from whatsapp_operator.constants import ConditionType
from whatsapp_operator.reasons import Reason

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "whatsapp_operator"
LAYERS = ("decide", "run")

# Constructors whose reason is positional, with its position.
POSITIONAL = {"Failure": 0, "ProvisioningFailure": 0, "Event": 1}
# A condition status or an Event type: in a tuple of three or four, the text after it is a reason.
VERDICT_HEADS = {"TRUE", "FALSE", "UNKNOWN", "True", "False", "Unknown", "Normal", "Warning"}
# Reason values that are also condition types ("Ready", "Stalled"): as bare text they name a
# condition, so only the shapes above catch them.
CATALOG_VALUES = {reason.value for reason in Reason} - {kind.value for kind in ConditionType}
# Text that equals a reason and is not one: (module, text).
NOT_REASONS = {("run/token_rotation.py", "Recovered")}  # the verb of TokenRecovered's message


def _text(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _texts(node: ast.AST) -> list[str]:
    """A literal, or the literals of a tuple/list/set of them (`reason in ("A", "B")`)."""
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [t for t in map(_text, node.elts) if t is not None]
    text = _text(node)
    return [] if text is None else [text]


def _names_a_reason(node: ast.AST) -> bool:
    name = getattr(node, "id", getattr(node, "attr", None))
    return isinstance(name, str) and (name == "reason" or name.endswith("_reason"))


def _is_verdict_head(node: ast.AST) -> bool:
    return getattr(node, "id", None) in VERDICT_HEADS or _text(node) in VERDICT_HEADS


def _exempt(tree: ast.Module) -> set[int]:
    """Docstrings, and the values of other enums (SettingsOutcome.IN_SYNC is "InSync" too)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and _text(body[0].value) is not None:
                found.add(id(body[0].value))
        if isinstance(node, ast.ClassDef) and any(
            getattr(base, "id", "").endswith("Enum") for base in node.bases
        ):
            found |= {id(item.value) for item in node.body if isinstance(item, ast.Assign)}
    return found


def _hits(node: ast.AST) -> list[str]:
    hits: list[str] = []
    if isinstance(node, ast.Call):
        for keyword in node.keywords:
            if keyword.arg is not None and _names_a_reason(ast.Name(keyword.arg)):
                hits += _texts(keyword.value)
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        index = POSITIONAL.get(name)
        if index is not None and len(node.args) > index:
            hits += _texts(node.args[index])
    elif isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if node.value is not None and any(_names_a_reason(t) for t in targets):
            hits += _texts(node.value)
    elif isinstance(node, ast.Compare):
        sides = [node.left, *node.comparators]
        if any(_names_a_reason(side) for side in sides):
            hits += [text for side in sides for text in _texts(side)]
    elif isinstance(node, ast.Tuple) and len(node.elts) >= 3 and _is_verdict_head(node.elts[0]):
        # (status, reason, message[, needs a person]) or (Event type, reason, message)
        hits += [text for text in _texts(node.elts[1]) if text not in VERDICT_HEADS]
    elif isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            is_verdict = isinstance(value, ast.Tuple) and value.elts
            if key is not None and is_verdict and _is_verdict_head(value.elts[0]):
                hits += _texts(key)
    return hits


def literal_reasons(source: str, where: str) -> list[str]:
    """`where:line 'text'` for each string literal used as a reason in `source`."""
    tree = ast.parse(source)
    exempt = _exempt(tree)
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        for text in _hits(node):
            found.add((getattr(node, "lineno", 0), text))
        text = _text(node)
        if text in CATALOG_VALUES and id(node) not in exempt and (where, text) not in NOT_REASONS:
            found.add((getattr(node, "lineno", 0), text))
    return [f"{where}:{line} {text!r}" for line, text in sorted(found)]


def test_no_reason_is_spelled_as_a_string_literal_in_decide_or_run() -> None:
    found = [
        hit
        for layer in LAYERS
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for hit in literal_reasons(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE)))
    ]
    assert found == []


PLANTED = [
    ("keyword", 'Condition(type="Ready", status="True", reason="MadeUp")'),
    ("keyword, own name", 'record(failure_reason="MadeUp")'),
    ("Failure", 'Failure("MadeUp", "message", permanent=True)'),
    ("ProvisioningFailure", 'raise ProvisioningFailure("MadeUp", "message", permanent=False)'),
    ("Event", 'Event("Warning", "MadeUp", "message")'),
    ("Event, another module's", 'events.Event(kind, "MadeUp", message)'),
    ("assignment", 'reason = "MadeUp"'),
    ("class attribute", 'class Gone(KubeError):\n    reason = "MadeUp"'),
    ("annotated", 'failure_reason: str = "MadeUp"'),
    ("attribute", 'cycle.failure_reason = "MadeUp"'),
    ("comparison", 'if failure.reason == "MadeUp":\n    pass'),
    ("membership", 'if reason in ("MadeUp", Reason.TOKEN_REJECTED):\n    pass'),
    ("condition table row", 'TABLE = {Outcome.X: (TRUE, "MadeUp", "message")}'),
    ("condition verdict", 'def f():\n    return FALSE, "MadeUp", ""'),
    ("event table row", 'EVENTS = {Outcome.X: ("Normal", "MadeUp", "message")}'),
    ("table keyed by reason", 'TABLE = {"MadeUp": (FALSE, "message")}'),
    ("catalog value anywhere", 'WHY = {"token": "TokenRejected"}'),
    ("catalog value returned", 'def f():\n    return "SettingsInSync"'),
]


@pytest.mark.parametrize(("shape", "snippet"), PLANTED, ids=[shape for shape, _ in PLANTED])
def test_a_planted_literal_reason_is_reported(shape: str, snippet: str) -> None:
    assert shape
    hits = literal_reasons(snippet, "planted.py")
    assert len(hits) == 1
    assert hits[0].startswith("planted.py:")


def test_a_planted_literal_is_reported_in_a_real_module() -> None:
    conditions = PACKAGE / "decide" / "conditions.py"
    source = conditions.read_text(encoding="utf-8")
    assert literal_reasons(source, "conditions.py") == []
    planted = source + '\n_PROBE = Failure("MadeUp", "x", permanent=False)\n'
    assert literal_reasons(planted, "conditions.py") == [
        f"conditions.py:{len(planted.splitlines())} 'MadeUp'"
    ]


@pytest.mark.parametrize(
    "snippet",
    [
        'Reason.TOKEN_REJECTED\nFailure(Reason.TOKEN_REJECTED, "message", permanent=True)',
        'def f():\n    """TokenRejected, said in a docstring."""',
        'Condition(type="Ready", status="True", reason=Reason.READY, message="")',
        'if condition.type == "Ready":\n    pass',
        'return (TRUE, Reason.IN_SYNC, "Settings match spec")',
        'log.info("reason %s", failure.reason)',
        'TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"',
        'class Outcome(StrEnum):\n    IN_SYNC = "InSync"',
    ],
)
def test_catalog_members_and_other_text_are_not_reported(snippet: str) -> None:
    assert literal_reasons(snippet, "clean.py") == []
