"""The Argo CD health checks in deploy/argocd, run by a real Lua interpreter.

Argo CD runs health scripts with gopher-lua, a Lua 5.1 implementation, so the scripts
run here on lupa's bundled Lua 5.1. Every case of each `health_test.yaml` (Argo CD's
resource_customizations format) is executed twice: in a bare environment holding only
`obj` (how Argo CD runs scripts pasted into `argocd-cm` without `useOpenLibs`) and with
the standard libraries open (how it runs the built-in
`resource_customizations/<group>/<Kind>/health.lua`). The testdata objects are checked
against what the operator's status code produces today, and the docs against the scripts.
"""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

ROOT = Path(__file__).resolve().parents[2]
GROUP_DIR = ROOT / "deploy" / "argocd" / "whatsapp-operator.io"
KINDS = (
    "WhatsAppInstance",
    "WhatsAppPartner",
    "ClusterWhatsAppPartner",
    "WhatsAppSettingsProfile",
)
VALID = {"Healthy", "Progressing", "Degraded", "Suspended"}

RUN_BARE = """
function(source, obj)
  local chunk = assert(loadstring(source, "=health.lua"))
  setfenv(chunk, {obj = obj})
  return chunk()
end
"""


def _cases() -> list[Any]:
    cases = []
    for kind in KINDS:
        spec = yaml.safe_load((GROUP_DIR / kind / "health_test.yaml").read_text())
        for test in spec["tests"]:
            cases.append(pytest.param(kind, test, id=f"{kind}-{Path(test['inputPath']).stem}"))
    return cases


def _to_lua(lua: lua51.LuaRuntime, value: Any) -> Any:
    if isinstance(value, dict):
        return lua.table_from({key: _to_lua(lua, item) for key, item in value.items()})
    if isinstance(value, list):
        return lua.table_from([_to_lua(lua, item) for item in value])
    return value


def _health(kind: str, obj: dict[str, Any], *, open_libs: bool) -> dict[str, str]:
    source = (GROUP_DIR / kind / "health.lua").read_text()
    lua = lua51.LuaRuntime()
    table = _to_lua(lua, obj)
    if open_libs:
        lua.globals().obj = table
        result = lua.execute(source)
    else:
        result = lua.eval(RUN_BARE)(source, table)
    assert lua51.lua_type(result) == "table", f"{kind} health.lua returned {result!r}"
    return {key: result[key] for key in ("status", "message")}


@pytest.mark.parametrize("open_libs", [False, True], ids=["argocd-cm", "builtin"])
@pytest.mark.parametrize(("kind", "test"), _cases())
def test_health_case(kind: str, test: dict[str, Any], open_libs: bool) -> None:
    obj = yaml.safe_load((GROUP_DIR / kind / test["inputPath"]).read_text())
    expected = test["healthStatus"]
    assert expected["status"] in VALID
    assert _health(kind, obj, open_libs=open_libs) == {
        "status": expected["status"],
        "message": expected["message"],
    }


@pytest.mark.parametrize("kind", KINDS)
def test_every_testdata_file_has_a_case(kind: str) -> None:
    spec = yaml.safe_load((GROUP_DIR / kind / "health_test.yaml").read_text())
    listed = sorted(test["inputPath"] for test in spec["tests"])
    present = sorted(
        path.relative_to(GROUP_DIR / kind).as_posix()
        for path in (GROUP_DIR / kind / "testdata").glob("*.yaml")
    )
    assert listed == present


def test_testdata_matches_the_operator_status_code() -> None:
    """Regenerate with deploy/argocd/generate_testdata.py when this fails."""
    spec = importlib.util.spec_from_file_location(
        "generate_testdata", ROOT / "deploy" / "argocd" / "generate_testdata.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rendered: dict[Path, str] = module.rendered()
    assert rendered
    stale = [str(path) for path, text in rendered.items() if path.read_text() != text]
    assert stale == []


@pytest.mark.parametrize("kind", KINDS)
def test_docs_carry_the_current_script(kind: str) -> None:
    docs = (ROOT / "docs" / "gitops.md").read_text()
    key = f"resource.customizations.health.whatsapp-operator.io_{kind}: |\n"
    assert key in docs
    script = (GROUP_DIR / kind / "health.lua").read_text()
    assert textwrap.indent(script, "    ", lambda line: line.strip() != "") in docs


def test_the_interpreter_is_lua_51_like_argocd() -> None:
    lua = lua51.LuaRuntime()
    assert lua.eval("_VERSION") == "Lua 5.1"
    with pytest.raises(lua51.LuaError, match="ipairs"):
        lua.eval(RUN_BARE)("return ipairs({})", lua.table())
