"""`kubectl-whatsapp` against the real API server, the operator and the GREEN-API emulator.

The plugin runs as a subprocess with the test cluster's kubeconfig, as a user would run
it. Every wait polls with a deadline.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from support.kube_helpers import wait_for
from tests.e2e.operator.harness import Emulator, Scenario, free_port
from whatsapp_operator import constants
from whatsapp_operator.decide.actions import STAMP_PATTERN
from whatsapp_operator.devtools.cluster import KubeCluster

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HALF_BLOCKS = ("▀", "▄")
PHONE = "79001112233"
BIN_DIR = Path(sys.executable).parent
PLUGIN = BIN_DIR / "kubectl-whatsapp"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def plugin_argv(kube_cluster: KubeCluster, scene: Scenario, *args: str) -> list[str]:
    command = (
        [str(PLUGIN)]
        if PLUGIN.exists()
        else [sys.executable, "-m", "whatsapp_operator.kubectl.plugin"]
    )
    return [*command, "--kubeconfig", str(kube_cluster.kubeconfig), "-n", scene.namespace, *args]


def run_plugin(
    kube_cluster: KubeCluster, scene: Scenario, *args: str, timeout: float = 150
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        plugin_argv(kube_cluster, scene, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Running:
    """A plugin subprocess whose output is collected as it comes."""

    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.reader.join(timeout=5)


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for item in started:
        item.stop()


def test_qr_no_follow_prints_the_qr_code(scenario: Scenario, kube_cluster: KubeCluster) -> None:
    name = "qrnofollow"
    scenario.seed(name)
    scenario.create(name)
    result = run_plugin(kube_cluster, scenario, "qr", name, "--no-follow")
    assert result.returncode == 0, result.stdout + result.stderr
    assert any(block in result.stdout for block in HALF_BLOCKS), result.stdout
    assert "Linked device" in result.stdout
    # Not a TTY: no screen clearing.
    assert "\x1b[2J" not in result.stdout


def test_qr_follows_until_linked(
    scenario: Scenario,
    emulator: Emulator,
    kube_cluster: KubeCluster,
    running: list[Running],
) -> None:
    name = "qrfollow"
    id_instance = scenario.seed(name)
    scenario.create(name)
    follow = Running(plugin_argv(kube_cluster, scenario, "qr", name))
    running.append(follow)
    wait_for(
        lambda: any(block in follow.output for block in HALF_BLOCKS),
        "the QR code on the plugin's output",
        150,
        describe=lambda: follow.output[-2000:],
    )
    assert follow.process.poll() is None, follow.output

    emulator.scan(id_instance, PHONE)
    wait_for(
        lambda: follow.process.poll() is not None,
        "the plugin to end after the scan",
        60,
        describe=lambda: follow.output[-2000:],
    )
    follow.reader.join(timeout=5)
    assert follow.process.returncode == 0, follow.output
    assert f"Linked as +{PHONE}" in follow.output

    # Once linked, `qr` says so and exits 0 without a code.
    again = run_plugin(kube_cluster, scenario, "qr", name)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"linked as +{PHONE}" in again.stdout
    assert not any(block in again.stdout for block in HALF_BLOCKS)


def test_reboot_is_echoed_and_status_shows_the_conditions(
    scenario: Scenario, emulator: Emulator, kube_cluster: KubeCluster
) -> None:
    name = "actions"
    id_instance = scenario.seed(name)
    scenario.create(name, settings={"stateWebhook": True})
    scenario.ready(name)
    assert emulator.calls(id_instance, "reboot") == 0

    result = run_plugin(kube_cluster, scenario, "reboot", name, "--timeout", "60")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "reboot handled" in result.stdout
    obj = scenario.instances.get(name)
    value = obj["metadata"]["annotations"][constants.ANNOTATION_REBOOT]
    assert re.fullmatch(STAMP_PATTERN, value), value
    assert value.endswith("Z"), value
    assert abs(datetime.fromisoformat(value).timestamp() - time.time()) < 300
    assert obj["status"]["handledActions"]["reboot"] == value
    assert emulator.calls(id_instance, "reboot") == 1

    # As `kubectl whatsapp`, found on PATH by kubectl itself, with the flags after the name.
    kubectl = shutil.which("kubectl")
    if kubectl is not None:
        env = {
            **os.environ,
            "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}",
            "KUBECONFIG": str(kube_cluster.kubeconfig),
        }
        shown = subprocess.run(
            [kubectl, "whatsapp", "status", name, "-n", scenario.namespace],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=env,
        )
    else:
        shown = run_plugin(kube_cluster, scenario, "status", name)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    text = shown.stdout
    assert "Conditions:" in text
    table = text[text.index("Conditions:") : text.index("Drift")]
    for kind in ("Ready", "Synced", "Authorized", "Reconciling", "Stalled"):
        assert f"  {kind} " in table, table
    # After the reboot the instance may still be starting: any of the three statuses.
    rows = {line.split()[0]: line.split()[1] for line in table.splitlines()[2:] if line.strip()}
    assert set(rows.values()) <= {"True", "False", "Unknown"}, table
    assert f"reboot={value}" in text
    assert "Events:" in text
    assert "SettingsApplied" in text[text.index("Events:") :]


def _chromium(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def no_browser() -> None:
    # Everything above ran over HTTP, but the page's script (polling /state, swapping the
    # QR code for the phone) only runs in a browser: say so instead of passing quietly.
    message = (
        "Chromium is not installed: the link page was checked over HTTP only, "
        "not rendered in a browser"
    )
    if os.environ.get("CI"):
        pytest.fail(f"{message} (.ci/run installs it)", pytrace=False)
    pytest.skip(f"{message} (apt-get install chromium, as .ci/run does)")


def ok_or_none(response: httpx.Response) -> httpx.Response | None:
    return response if response.status_code == 200 else None


def linked_or_none(state: dict[str, object]) -> dict[str, object] | None:
    return state if state["linked"] else None


def test_link_page_shows_the_qr_and_then_the_linked_phone(
    scenario: Scenario,
    emulator: Emulator,
    kube_cluster: KubeCluster,
    running: list[Running],
    tmp_path: Path,
) -> None:
    name = "linkpage"
    id_instance = scenario.seed(name)
    scenario.create(name)
    port = free_port()
    page = Running(plugin_argv(kube_cluster, scenario, "link", name, "--port", str(port)))
    running.append(page)
    url = f"http://127.0.0.1:{port}/"
    wait_for(
        lambda: url in page.output, "the page's URL", 150, describe=lambda: page.output[-2000:]
    )

    with httpx.Client(base_url=url, timeout=10) as http:
        qr = wait_for(
            lambda: ok_or_none(http.get("/qr.png")),
            "a QR code at /qr.png",
            90,
            describe=lambda: http.get("/state").text,
        )
        assert qr.content.startswith(PNG_SIGNATURE)
        assert qr.headers["cache-control"] == "no-store"
        html = http.get("/").text
        assert '<img id="qr" src="/qr.png' in html
        # Another Host (DNS rebinding) is refused.
        assert http.get("/state", headers={"Host": "evil.example:80"}).status_code == 403

        if CHROMIUM is not None:
            shot = tmp_path / "link.png"
            result = _chromium(f"--screenshot={shot}", "--window-size=600,800", url)
            assert shot.exists(), result.stderr[-3000:]
            assert shot.read_bytes().startswith(PNG_SIGNATURE)
            dom = _chromium("--virtual-time-budget=3000", "--dump-dom", url)
            assert '<img id="qr"' in dom.stdout, dom.stderr[-3000:]

        emulator.scan(id_instance, PHONE)
        state = wait_for(
            lambda: linked_or_none(http.get("/state").json()),
            "/state to say linked",
            60,
            describe=lambda: http.get("/state").text,
        )
        assert state["phone"] == f"+{PHONE}"
        assert f"Linked as +{PHONE}" in http.get("/").text
        assert http.get("/qr.png").status_code == 404  # the Secret is gone once linked

    if CHROMIUM is not None:
        dom = _chromium("--virtual-time-budget=3000", "--dump-dom", url)
        assert f"Linked as +{PHONE}" in dom.stdout, dom.stderr[-3000:]
    assert page.process.poll() is None, page.output
    if CHROMIUM is None:
        no_browser()


def test_pair_switches_to_a_pairing_code_and_follows_until_linked(
    scenario: Scenario,
    emulator: Emulator,
    kube_cluster: KubeCluster,
    running: list[Running],
) -> None:
    name = "pairing"
    id_instance = scenario.seed(name)
    scenario.create(name)
    follow = Running(
        plugin_argv(kube_cluster, scenario, "pair", name, "--phone", "+7 900 123 45 67")
    )
    running.append(follow)
    line = wait_for(
        lambda: next((x for x in follow.lines if x.startswith("Pairing code for")), None),
        "the pairing code on the plugin's output",
        150,
        describe=lambda: follow.output[-2000:],
    )
    assert "This edits the resource's spec" in follow.output
    assert "put it in Git instead" in follow.output
    assert "Link with phone number instead" in follow.output
    authorization = scenario.instances.get(name)["spec"]["authorization"]
    assert (authorization["method"], authorization["phoneNumber"]) == ("PhoneNumber", "79001234567")
    code = line.split(":", 1)[1].strip()
    scenario.leaks.add("pairing code via kubectl-whatsapp", code)

    emulator.pair(id_instance, code)
    wait_for(
        lambda: follow.process.poll() is not None,
        "the plugin to end after pairing",
        60,
        describe=lambda: follow.output[-2000:],
    )
    follow.reader.join(timeout=5)
    assert follow.process.returncode == 0, follow.output
    assert "Linked as +" in follow.output
