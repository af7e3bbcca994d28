"""The import contracts in pyproject.toml (`lint-imports`) hold, and each catches what it is for.

Every case plants one import in a copy of the package and checks that exactly the contract
written for it breaks: a contract that cannot fail guards nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "whatsapp_operator"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

# (contract id, module that gets the import, the planted line)
PLANTED = [
    ("layers", "decide/plan.py", "from ..run import reconcile"),  # relative, upwards
    ("pure-decisions", "decide/plan.py", "import importlib"),
    ("pure-decisions", "decide/report.py", "import logging"),
    ("pure-decisions", "decide/requeue.py", "import asyncio"),
    ("pure-decisions", "decide/linking.py", "import os"),
    ("pure-decisions", "decide/conditions.py", "from whatsapp_operator import metrics"),
    ("pure-decisions", "decide/events.py", "from whatsapp_operator.config import OperatorConfig"),
    ("layers", "config.py", "from whatsapp_operator.run import runtime"),
    ("layers", "metrics.py", "from whatsapp_operator.run import runtime"),
    ("plugin-apart", "kubectl/view.py", "from whatsapp_operator.run import reconcile"),
    ("layers", "adapters/kube/secrets.py", "from whatsapp_operator.kubectl import view"),
    ("steps-through-ports", "run/act.py", "from whatsapp_operator.adapters import kube"),
    ("steps-through-ports", "run/observe.py", "import httpx"),
    ("emulator-apart", "emulator/app.py", "from whatsapp_operator import constants"),
    ("pure-models", "api/resource.py", "import kubernetes"),
    ("pure-models", "ports/greenapi.py", "import httpx"),
    ("layers", "ports/kubernetes.py", "from whatsapp_operator.run import cycle"),
    ("layers", "ports/secrets.py", "from whatsapp_operator.adapters import kube"),
    ("layers", "ports/errors.py", "from whatsapp_operator.decide import failures"),
    ("kopf-in-one-place", "ports/kubernetes.py", "import kopf"),
    ("kopf-in-one-place", "run/instances.py", "import kopf"),
]


def contracts() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [c["id"] for c in config["tool"]["importlinter"]["contracts"]]


def lint(source_root: Path, contract: str | None = None) -> subprocess.CompletedProcess[str]:
    args = [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"]
    if contract is not None:
        args += ["--contract", contract]
    return subprocess.run(
        args,
        cwd=source_root,
        env={"PYTHONPATH": str(source_root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_package_keeps_every_contract() -> None:
    result = lint(ROOT / "operator")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(contracts())} kept, 0 broken." in result.stdout


def test_every_contract_has_a_planted_violation() -> None:
    assert {contract for contract, _module, _line in PLANTED} == set(contracts())


def test_each_planted_violation_breaks_its_contract(tmp_path: Path) -> None:
    def run(index: int) -> tuple[str, str, str, subprocess.CompletedProcess[str]]:
        contract, module, line = PLANTED[index]
        copy = tmp_path / str(index)
        shutil.copytree(
            PACKAGE, copy / "whatsapp_operator", ignore=shutil.ignore_patterns("__pycache__")
        )
        target = copy / "whatsapp_operator" / module
        target.write_text(target.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
        return contract, module, line, lint(copy, contract)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, range(len(PLANTED))))
    missed = [
        f"{contract}: `{line}` in {module}"
        for contract, module, line, result in results
        if result.returncode == 0 or "BROKEN" not in result.stdout
    ]
    assert missed == [], "contracts that let a planted import through:\n" + "\n".join(missed)
