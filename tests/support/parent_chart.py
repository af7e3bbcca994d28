"""A parent chart that uses the project's chart as a `file://` dependency (a subchart)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[2] / "helm" / "whatsapp-operator"


def helm_env(home: Path) -> dict[str, str]:
    """Helm's caches under `home`: offline, and nothing of the user's is touched."""
    return {
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        # Helm's Kubernetes client caches discovery under $HOME/.kube: without a HOME it
        # wrote that cache into the working directory (the checkout).
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
    }


def parent_chart(directory: Path, values: dict[str, Any]) -> Path:
    """Write `platform/` with the chart as a dependency under the `whatsapp-operator.enabled`
    condition, with `values`; the dependency is not built yet (`helm dependency build`)."""
    parent = directory / "platform"
    parent.mkdir()
    version = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))["version"]
    chart = {
        "apiVersion": "v2",
        "name": "platform",
        "version": "1.0.0",
        "dependencies": [
            {
                "name": "whatsapp-operator",
                "version": version,
                "repository": f"file://{CHART}",
                "condition": "whatsapp-operator.enabled",
            }
        ],
    }
    (parent / "Chart.yaml").write_text(yaml.safe_dump(chart), encoding="utf-8")
    (parent / "values.yaml").write_text(yaml.safe_dump(values), encoding="utf-8")
    return parent


def build_dependencies(helm: Path, parent: Path, home: Path) -> None:
    """`helm dependency build`, offline."""
    built = subprocess.run(
        [str(helm), "dependency", "build", str(parent)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=helm_env(home),
    )
    assert built.returncode == 0, built.stdout + built.stderr
