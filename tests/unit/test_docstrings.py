"""Every public class, function and method of `whatsapp_operator` has a docstring.

Public means a name without a leading underscore, defined at module level or in a public
class (nested classes included); functions and classes defined inside a function are not
public. A method stub of a Protocol class whose body is only `...` needs none.

Read from the source with `ast`, so nothing is imported and every module counts, the
emulator and the developer tools included.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "whatsapp_operator"

# A pydantic model's or enum's docstring becomes its description in the generated CRD
# schema (crds/, the chart's copy) and in docs/reference.md. These are described there by
# the fields that use them; a docstring here changes the published API, so adding one means
# regenerating those files in the same change, and removing the name from this list.
SCHEMA_DESCRIBED: dict[str, set[str]] = {}

Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _is_protocol(node: ast.ClassDef) -> bool:
    for base in node.bases:
        target = base.value if isinstance(base, ast.Subscript) else base
        if isinstance(target, ast.Name) and target.id == "Protocol":
            return True
        if isinstance(target, ast.Attribute) and target.attr == "Protocol":
            return True
    return False


def _is_stub(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A body that is only `...`."""
    return (
        len(node.body) == 1
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
        and node.body[0].value.value is Ellipsis
    )


def _public_definitions(
    body: list[ast.stmt], owner: ast.ClassDef | None, prefix: str = ""
) -> list[tuple[Definition, str, ast.ClassDef | None]]:
    """Public definitions in a module or class body, with qualified names and their class."""
    found: list[tuple[Definition, str, ast.ClassDef | None]] = []
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name.startswith("_"):
                continue
            name = prefix + node.name
            found.append((node, name, owner))
            if isinstance(node, ast.ClassDef):
                found += _public_definitions(node.body, node, name + ".")
        elif isinstance(node, ast.If | ast.Try | ast.With):
            # Definitions under `if TYPE_CHECKING:`, `try:` or `with` are still module-level.
            for block in ("body", "orelse", "handlers", "finalbody"):
                for part in getattr(node, block, []):
                    inner = part.body if isinstance(part, ast.ExceptHandler) else [part]
                    found += _public_definitions(inner, owner, prefix)
    return found


def undocumented(path: Path) -> list[tuple[int, str]]:
    """(line, qualified name) of every public definition in `path` without a docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    missing = []
    for node, name, owner in _public_definitions(tree.body, None):
        if ast.get_docstring(node) is not None:
            continue
        if (
            owner is not None
            and _is_protocol(owner)
            and not isinstance(node, ast.ClassDef)
            and _is_stub(node)
        ):
            continue
        missing.append((node.lineno, name))
    return missing


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_public_definition_has_a_docstring() -> None:
    assert len(modules()) > 50, f"found too few modules under {PACKAGE}"
    missing = []
    for path in modules():
        relative = path.relative_to(PACKAGE).as_posix()
        exempt = SCHEMA_DESCRIBED.get(relative, set())
        missing += [
            f"{relative}:{line}: {name}" for line, name in undocumented(path) if name not in exempt
        ]
    assert missing == [], "public definitions without a docstring:\n" + "\n".join(missing)


def test_schema_exemptions_are_still_needed() -> None:
    """Each exempted name is a class of that module and still has no docstring."""
    for relative, names in SCHEMA_DESCRIBED.items():
        tree = ast.parse((PACKAGE / relative).read_text(encoding="utf-8"))
        classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
        assert names <= set(classes), f"{relative}: no class {sorted(names - set(classes))}"
        documented = sorted(n for n in names if ast.get_docstring(classes[n]) is not None)
        assert documented == [], f"{relative}: documented now, drop from SCHEMA_DESCRIBED"


PROBE = '''
from typing import Protocol
import typing


def bare(): pass


async def bare_async(): pass


def documented():
    """Says what it does."""
    def nested(): pass
    class Local: pass


def _private(): pass


class Plain:
    attribute = 1

    def method(self): pass

    @property
    def prop(self): return 1

    def _helper(self): pass

    def __init__(self): pass

    def stub(self): ...

    class Inner:
        def deep(self): pass


class Port(Protocol):
    """A documented protocol."""

    def call(self) -> None: ...

    async def acall(self) -> None: ...

    def concrete(self) -> int:
        return 1


class Generic(typing.Protocol[T]):
    def call(self) -> None: ...


class _Hidden:
    def method(self): pass


if True:
    def conditional(): pass
'''


def test_the_checker_finds_what_is_missing(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE, encoding="utf-8")
    found = {name: line for line, name in undocumented(probe)}
    assert set(found) == {
        "bare",
        "bare_async",
        "Plain",
        "Plain.method",
        "Plain.prop",
        "Plain.stub",
        "Plain.Inner",
        "Plain.Inner.deep",
        "Port.concrete",
        "Generic",
        "conditional",
    }
    assert found["bare"] == PROBE.splitlines().index("def bare(): pass") + 1
