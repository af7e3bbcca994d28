"""The layers of `whatsapp_operator`, enforced: who may import whom.

    api/       resource models, CRD generation, reference docs
    decide/    pure decisions (plan, conditions, linking, events, report, requeue)
    run/       kopf wiring, the reconcile pipeline, provisioning, the side-effect gate
    adapters/  the only users of kubernetes, httpx and websockets
    wire/      GREEN-API's wire models and errors (pydantic only)
    ports.py   what run/ and decide/ need from outside, without third-party imports
    kubectl/   the kubectl plugin (its cluster access is in adapters/)
    emulator/  a stand-in for GREEN-API: imports nothing of the operator

Read from the source with `ast`, so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "whatsapp_operator"
ROOT = "whatsapp_operator"
NETWORK_LIBRARIES = {"kubernetes", "httpx", "websockets", "aiohttp", "kopf"}


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from whatsapp_operator.x import y` may import the module `x.y`.
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def runtime_imports_of(path: Path) -> set[str]:
    """Imports outside `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            skipped.update(id(child) for child in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(layer: str) -> list[Path]:
    target = PACKAGE / layer
    return sorted(target.rglob("*.py")) if target.is_dir() else [target]


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if parts[0] == ROOT and len(parts) > 1 else ""


# The reference generator documents the decision tables, so it reads decide/.
EXEMPT = {"api/apidocs.py": {"decide"}}


def offenders(
    layer: str, forbidden: set[str], libraries: frozenset[str] = frozenset()
) -> list[str]:
    bad = []
    for path in modules(layer):
        forbidden_here = forbidden - EXEMPT.get(str(path.relative_to(PACKAGE)), set())
        for module in imports_of(path):
            top = module.split(".")[0]
            if layer_of(module) in forbidden_here or (top in libraries and top != ROOT):
                bad.append(f"{path.relative_to(PACKAGE)} imports {module}")
    return sorted(set(bad))


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("decide", {"run", "adapters", "kubectl", "emulator", "devtools"}),
        ("api", {"run", "adapters", "kubectl", "emulator", "devtools", "decide"}),
        ("wire", {"run", "adapters", "kubectl", "emulator", "devtools", "decide", "api"}),
        ("run", {"kubectl", "emulator", "devtools"}),
        ("adapters", {"run", "emulator", "devtools"}),
    ],
)
def test_layer_imports_only_what_is_below_it(layer: str, forbidden: set[str]) -> None:
    assert offenders(layer, forbidden) == []


@pytest.mark.parametrize("layer", ["decide", "api", "wire", "run", "kubectl"])
def test_only_adapters_talk_to_the_network(layer: str) -> None:
    allowed = {"run": {"kopf"}}  # the kopf wiring is run/handlers.py's job
    libraries = frozenset(NETWORK_LIBRARIES - allowed.get(layer, set()))
    assert offenders(layer, set(), libraries) == []


def test_kopf_is_wired_in_one_module() -> None:
    users = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if "kopf" in {m.split(".")[0] for m in imports_of(path)}
    ]
    assert users == ["commands.py", "run/handlers.py"]


def test_ports_have_no_third_party_imports_at_run_time() -> None:
    third_party = {
        module
        for module in runtime_imports_of(PACKAGE / "ports.py")
        if module.split(".")[0] not in {"__future__", "dataclasses", "enum", "typing", ROOT}
    }
    assert third_party == set()


def test_the_emulator_imports_nothing_of_the_operator() -> None:
    bad = [
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in modules("emulator")
        for module in imports_of(path)
        if module.startswith(f"{ROOT}.") and layer_of(module) != "emulator"
    ]
    assert bad == []


def test_a_forbidden_import_is_caught(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import httpx\nfrom whatsapp_operator.run import handlers\n", encoding="utf-8")
    found = imports_of(probe)
    assert "httpx" in found
    assert layer_of("whatsapp_operator.run.handlers") == "run"
