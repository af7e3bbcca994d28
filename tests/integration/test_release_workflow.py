"""The release workflow (.github/workflows/release.yaml), linted by actionlint (built from its
Go module on first use, tests/support/gotools.py) and held to what scripts/release expects."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.gotools import ToolUnavailable, go_tool

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "release.yaml"


@pytest.fixture(scope="module")
def actionlint() -> Path:
    try:
        return go_tool("actionlint")
    except ToolUnavailable as error:
        # Never a skip: a workflow that was not linted must not read as green.
        pytest.fail(str(error), pytrace=False)


def lint(actionlint: Path, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(actionlint), "-no-color", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_release_workflow_passes_actionlint(actionlint: Path) -> None:
    linted = lint(actionlint, WORKFLOW)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_actionlint_catches_a_broken_workflow(actionlint: Path, tmp_path: Path) -> None:
    # The linter really reads the file: an undefined step output is an error.
    broken = WORKFLOW.read_text(encoding="utf-8").replace(
        "steps.base.outputs.image", "steps.nope.outputs.image"
    )
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    copy = tmp_path / ".github" / "workflows" / "release.yaml"
    copy.write_text(broken, encoding="utf-8")
    linted = lint(actionlint, copy)
    assert linted.returncode != 0
    assert "nope" in linted.stdout


def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return loaded


def test_it_releases_on_a_tag_with_a_pinned_base() -> None:
    flow = workflow()
    # YAML 1.1 reads the key `on` as True.
    trigger = flow.get("on", flow.get(True))
    assert trigger == {"push": {"tags": ["v*"]}}
    (job,) = flow["jobs"].values()
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert 'scripts/release "ghcr.io/${owner}" --base "$BASE"' in runs
    assert "cosign sign" in runs
    assert job["permissions"] == {"contents": "write", "packages": "write", "id-token": "write"}
    assert flow["permissions"] == {}


def test_the_workflow_uses_the_helm_the_tests_use() -> None:
    pinned = re.search(
        r"^HELM_VERSION=(\S+)$", (ROOT / "tests/k8sbins/build.sh").read_text(), re.MULTILINE
    )
    assert pinned is not None
    (job,) = workflow()["jobs"].values()
    assert job["env"]["HELM_VERSION"] == pinned[1]
