"""The pod-spec-to-podman translation of the chart's pod test, without podman.

The end-to-end test only runs where podman is installed; this keeps the translation honest
everywhere, on manifests/deployment.yaml (the chart's default rendering, by
tests/integration/test_packaging.py).
"""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.podman_pod import SERVICE_ACCOUNT_DIR, Unsupported, cpus, memory_bytes, podman_run_argv

ROOT = Path(__file__).resolve().parents[2]


def manifest_pod() -> dict[str, Any]:
    text = (ROOT / "manifests" / "deployment.yaml").read_text(encoding="utf-8")
    pod: dict[str, Any] = yaml.safe_load(text)["spec"]["template"]["spec"]
    return pod


def argv_for(pod: dict[str, Any]) -> list[str]:
    return podman_run_argv(
        pod,
        name="c",
        hostname="p",
        service_account_dir=Path("/sa"),
        volume_dirs={"tmp": Path("/vol/tmp")},
        api_host="127.0.0.1",
        api_port=6443,
        log_path=Path("/log"),
    ).argv


def pairs(argv: list[str]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(argv))


def test_quantities() -> None:
    assert cpus("500m") == "0.5"
    assert cpus("2") == "2"
    assert memory_bytes("512Mi") == 512 * 2**20
    assert memory_bytes("1G") == 10**9
    with pytest.raises(Unsupported):
        memory_bytes("1.5Gi")


def test_the_manifest_pod_becomes_a_locked_down_podman_run() -> None:
    argv = argv_for(manifest_pod())
    expected = {
        ("--user", "65532:65532"),
        ("--group-add", "65532"),
        ("--cap-drop", "ALL"),
        ("--security-opt", "no-new-privileges"),
        ("--network", "host"),
        ("--pull", "missing"),
        ("--stop-timeout", "30"),
        ("--cpus", "0.5"),
        ("--memory", f"{512 * 2**20}b"),
        ("--env", "WAOP_LOG_FORMAT=json"),
        ("--env", "KUBERNETES_SERVICE_HOST=127.0.0.1"),
        ("--env", "KUBERNETES_SERVICE_PORT=6443"),
        ("--volume", "/vol/tmp:/tmp:rw"),
        ("--volume", f"/sa:{SERVICE_ACCOUNT_DIR}:ro"),
    }
    assert expected <= pairs(argv)
    # A read-only root without podman's extra writable tmpfs mounts.
    assert "--read-only" in argv
    assert "--read-only-tmpfs=false" in argv
    # RuntimeDefault seccomp is podman's default profile: no opt-out on the line.
    assert "seccomp=unconfined" not in argv
    image = argv.index("ghcr.io/whatsapp-operator/whatsapp-operator:0.1.0")
    assert argv[image + 1 :] == [
        "--all-namespaces",
        "--leader-elect",
        "--lease-name=whatsapp-operator",
        "--lease-namespace=whatsapp-operator",
        "--liveness=http://0.0.0.0:8080/healthz",
        "--concurrency=32",
    ]


@pytest.mark.parametrize(
    "change",
    [
        lambda pod: pod.update(hostNetwork=True),
        lambda pod: pod["containers"][0].update(command=["sh"]),
        lambda pod: pod["containers"][0]["env"].append(
            {"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
        ),
        lambda pod: pod["volumes"].append({"name": "cfg", "configMap": {"name": "x"}}),
        lambda pod: pod["containers"][0]["securityContext"].update(
            seccompProfile={"type": "Localhost"}
        ),
    ],
    ids=["hostNetwork", "command", "valueFrom", "configMap", "localhost-seccomp"],
)
def test_what_it_does_not_know_fails_loudly(change: Any) -> None:
    pod = copy.deepcopy(manifest_pod())
    change(pod)
    with pytest.raises(Unsupported):
        argv_for(pod)


def test_root_is_refused_under_run_as_non_root() -> None:
    pod = copy.deepcopy(manifest_pod())
    pod["containers"][0]["securityContext"]["runAsUser"] = 0
    with pytest.raises(AssertionError, match="runAsNonRoot"):
        argv_for(pod)
