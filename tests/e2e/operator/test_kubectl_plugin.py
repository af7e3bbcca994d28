"""`kubectl-whatsapp` against the real API server, the operator and the GREEN-API emulator.

The plugin runs as a subprocess with the test cluster's kubeconfig, as a user would run
it. Every wait polls with a deadline. The module's emulator accepts a partner token, so a
WhatsAppPartner here gets real credentials to check.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client

from support.emulator_process import start_emulator_process, stop_emulator_process
from support.kube_helpers import has_condition, put_secret, wait_for
from tests.e2e.operator.harness import (
    EMULATOR_ARGS,
    Emulator,
    Scenario,
    Secrets,
    free_port,
    ready_and_synced,
)
from whatsapp_operator import constants
from whatsapp_operator.decide.actions import STAMP_PATTERN
from whatsapp_operator.devtools.cluster import KubeCluster

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HALF_BLOCKS = ("▀", "▄")
PHONE = "79001112233"
BIN_DIR = Path(sys.executable).parent
PLUGIN = BIN_DIR / "kubectl-whatsapp"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def partner_token(leaks: Secrets) -> str:
    token = "gac." + secrets.token_hex(24)
    leaks.add("the partner token", token)
    return token


@pytest.fixture(scope="module")
def emulator(partner_token: str) -> Iterator[Emulator]:
    running = start_emulator_process(*EMULATOR_ARGS, "--partner-token", partner_token)
    wrapped = Emulator(running)
    try:
        yield wrapped
    finally:
        wrapped.close()
        stop_emulator_process(running)


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


def test_pair_asks_by_annotation_and_follows_until_linked(
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
    assert "Link with phone number instead" in follow.output
    assert "+79001234567" in line
    # Asked by annotation: the spec (what Git holds) is left as it was, QR code.
    obj = scenario.instances.get(name)
    assert (obj["spec"].get("authorization") or {}).get("method", "QRCode") == "QRCode"
    assert obj["metadata"]["annotations"][constants.ANNOTATION_PAIR_PHONE] == "79001234567"
    assert obj["status"]["linking"]["method"] == "PhoneNumber"
    assert emulator.calls(id_instance, "getAuthorizationCode") >= 1
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


# ---------------------------------------------------------------- list, status, actions


def label(scenario: Scenario, name: str, labels: dict[str, str]) -> None:
    scenario.instances.patch(name, {"metadata": {"labels": labels}})


def test_list_all_namespaces_by_selector_and_as_json(
    scenario: Scenario, kube_cluster: KubeCluster
) -> None:
    selector = f"waop-list={scenario.namespace}"
    scenario.seed("alpha", state="authorized")
    scenario.create("alpha")
    scenario.seed("beta")
    scenario.create("beta")
    scenario.seed("gamma")
    scenario.create("gamma")
    for name in ("alpha", "beta"):
        label(scenario, name, {"waop-list": scenario.namespace})
    alpha = scenario.ready("alpha")
    phone = alpha["status"]["account"]["phone"]
    scenario.instances.wait(
        "beta",
        lambda o: (
            (o.get("status") or {}).get("linking", {}).get("phase") in ("Waiting", "CodeReady")
        ),
        "beta's linking window",
        60,
    )

    result = run_plugin(kube_cluster, scenario, "list", "-A", "-l", selector)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "NAMESPACE",
        "NAME",
        "STATE",
        "PHONE",
        "READY",
        "SYNCED",
        "LINKING",
        "AGE",
    ]
    rows = {line.split()[1]: line.split() for line in lines[1:]}
    assert set(rows) == {"alpha", "beta"}  # gamma has no label: the selector left it out
    assert rows["alpha"][:7] == [
        scenario.namespace,
        "alpha",
        "authorized",
        f"+{phone}",
        "True",
        "True",
        "NotNeeded",
    ]
    assert rows["beta"][:4] == [scenario.namespace, "beta", "notAuthorized", "-"]
    # The window's phase and the time left in it (10 minutes at most).
    assert rows["beta"][6] in ("Waiting", "CodeReady"), lines
    assert re.fullmatch(r"\d+(s|m)", rows["beta"][7]), lines

    # In the namespace (-n): all three, no NAMESPACE column; wide adds the paused flag.
    plain = run_plugin(kube_cluster, scenario, "list", "-o", "wide")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    header, *body = plain.stdout.splitlines()
    assert header.split()[0] == "NAME"
    assert header.split()[-3:] == ["INSTANCE", "PAUSED", "REASON"]
    assert sorted(line.split()[0] for line in body) == ["alpha", "beta", "gamma"]

    as_json = run_plugin(kube_cluster, scenario, "list", "-l", selector, "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert (document["apiVersion"], document["kind"]) == ("v1", "List")
    assert sorted(i["metadata"]["name"] for i in document["items"]) == ["alpha", "beta"]
    assert all(i["kind"] == constants.KIND for i in document["items"])

    as_yaml = run_plugin(kube_cluster, scenario, "status", "alpha", "-o", "yaml")
    assert as_yaml.returncode == 0, as_yaml.stderr
    obj = yaml.safe_load(as_yaml.stdout)
    assert obj["metadata"]["name"] == "alpha"
    assert obj["status"]["account"]["phone"] == phone

    nothing = run_plugin(kube_cluster, scenario, "list", "-l", "waop-list=nobody")
    assert nothing.returncode == 0
    assert nothing.stdout == ""
    assert "No WhatsAppInstances found" in nothing.stderr


def create_partner(scenario: Scenario, token: str) -> None:
    put_secret(scenario.api, scenario.namespace, "gapi-credentials", {"partnerToken": token})
    client.CustomObjectsApi(scenario.api).create_namespaced_custom_object(
        constants.GROUP,
        constants.VERSION,
        scenario.namespace,
        constants.PARTNER_PLURAL,
        {
            "apiVersion": constants.API_VERSION,
            "kind": constants.PARTNER_KIND,
            "metadata": {"name": "gapi", "namespace": scenario.namespace},
            "spec": {
                "apiUrl": scenario.emulator.url,
                "tokenSecretRef": {"name": "gapi-credentials"},
                "checkSeconds": 30,
            },
        },
    )


def create_profile(scenario: Scenario) -> None:
    client.CustomObjectsApi(scenario.api).create_namespaced_custom_object(
        constants.GROUP,
        constants.VERSION,
        scenario.namespace,
        constants.PROFILE_PLURAL,
        {
            "apiVersion": constants.API_VERSION,
            "kind": constants.PROFILE_KIND,
            "metadata": {"name": "fleet", "namespace": scenario.namespace},
            "spec": {"settings": {"stateWebhook": True}},
        },
    )


def get_kind(scenario: Scenario, plural: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = client.CustomObjectsApi(scenario.api).get_namespaced_custom_object(
        constants.GROUP, constants.VERSION, scenario.namespace, plural, name
    )
    return found


def test_status_of_a_partner_and_a_profile(
    scenario: Scenario, kube_cluster: KubeCluster, partner_token: str
) -> None:
    create_partner(scenario, partner_token)
    create_profile(scenario)
    scenario.seed("member", state="authorized")
    scenario.create("member", settingsProfileRef={"name": "fleet"})
    scenario.ready("member", timeout=90)

    def partner_checked() -> dict[str, Any] | None:
        obj = get_kind(scenario, constants.PARTNER_PLURAL, "gapi")
        return obj if has_condition(obj, "Ready", "True", "CredentialsValid") else None

    # Generous: a just-started operator may see a new namespace's objects only after
    # kopf's watch reconnects (up to 70 s).
    wait_for(partner_checked, "the partner's credentials checked", 150)

    def rolled_out() -> dict[str, Any] | None:
        obj = get_kind(scenario, constants.PROFILE_PLURAL, "fleet")
        status = obj.get("status") or {}
        done = status.get("total") == 1 and status.get("updated") == 1
        return obj if done and has_condition(obj, "Ready", "True", "RolledOut") else None

    wait_for(rolled_out, "the profile rolled out to its one instance", 150)

    partner = run_plugin(kube_cluster, scenario, "status", "partner/gapi")
    assert partner.returncode == 0, partner.stdout + partner.stderr
    text = partner.stdout
    assert text.splitlines()[0] == f"WhatsAppPartner: gapi  (namespace {scenario.namespace})"
    assert f"API URL:    {scenario.emulator.url}" in text
    assert "Credentials: Secret gapi-credentials" in text
    assert re.search(r"^Instances:  \d+ live$", text, re.MULTILINE), text
    ready = next(x for x in text.splitlines() if x.strip().startswith("Ready "))
    assert ready.split()[:3] == ["Ready", "True", "CredentialsValid"]
    assert partner_token not in text

    profile = run_plugin(kube_cluster, scenario, "status", "profile/fleet")
    assert profile.returncode == 0, profile.stdout + profile.stderr
    text = profile.stdout
    assert "Rollout:    1/1 instances updated (done)" in text, text
    assert re.search(r"^Revision:   \S+", text, re.MULTILINE), text
    ready = next(x for x in text.splitlines() if x.strip().startswith("Ready "))
    assert ready.split()[:3] == ["Ready", "True", "RolledOut"]

    as_json = run_plugin(kube_cluster, scenario, "status", "wap/gapi", "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["kind"] == constants.PARTNER_KIND

    missing = run_plugin(kube_cluster, scenario, "status", "profile/nothing")
    assert missing.returncode == 1
    assert "not found" in missing.stderr


def test_relink_starts_a_new_window(scenario: Scenario, kube_cluster: KubeCluster) -> None:
    name = "relinked"
    scenario.seed(name)
    scenario.create(name)
    first = scenario.instances.wait(
        name,
        lambda o: bool((o.get("status") or {}).get("linking", {}).get("windowStartedAt")),
        "a linking window",
        60,
    )
    started = first["status"]["linking"]["windowStartedAt"]

    result = run_plugin(kube_cluster, scenario, "relink", name, "--timeout", "60")
    assert result.returncode == 0, result.stdout + result.stderr
    obj = scenario.instances.get(name)
    value = obj["metadata"]["annotations"][constants.ANNOTATION_RELINK]
    assert re.fullmatch(STAMP_PATTERN, value), value
    assert obj["status"]["handledActions"]["relink"] == value
    assert f"{constants.ANNOTATION_RELINK}={value}" in result.stdout
    assert "Linking: " in result.stdout
    # A fresh window: started again, at or after the request.
    renewed = obj["status"]["linking"]["windowStartedAt"]
    assert renewed > started, (started, value, renewed)


def test_pause_stops_writes_until_resume(
    scenario: Scenario, emulator: Emulator, kube_cluster: KubeCluster
) -> None:
    name = "paused"
    id_instance = scenario.seed(name, state="authorized")
    scenario.create(name, settings={"stateWebhook": True})
    scenario.ready(name)

    paused = run_plugin(kube_cluster, scenario, "pause", name)
    assert paused.returncode == 0, paused.stdout + paused.stderr
    obj = scenario.instances.get(name)
    assert obj["metadata"]["annotations"][constants.ANNOTATION_PAUSED] == "true"
    assert "Synced=False ReconcilePaused" in paused.stdout
    writes = emulator.calls(id_instance, "setSettings")

    scenario.instances.patch(name, {"spec": {"settings": {"stateWebhook": False}}})
    scenario.instances.wait(
        name,
        lambda o: has_condition(o, "Synced", "False", "ReconcilePaused"),
        "Synced=False ReconcilePaused",
        60,
    )
    # Another full cycle while paused, asked for and handled: still no write.
    again = run_plugin(kube_cluster, scenario, "reconcile", name, "--timeout", "60")
    assert again.returncode == 0, again.stdout + again.stderr
    assert emulator.calls(id_instance, "setSettings") == writes
    shown = run_plugin(kube_cluster, scenario, "status", name)
    assert "Paused:     yes" in shown.stdout
    wide = run_plugin(kube_cluster, scenario, "list", "-o", "wide")
    row = next(x.split() for x in wide.stdout.splitlines() if x.startswith(name + " "))
    assert row[-2] == "yes", wide.stdout

    resumed = run_plugin(kube_cluster, scenario, "resume", name)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    obj = scenario.instances.wait(name, ready_and_synced, "Ready and Synced after resume", 60)
    assert constants.ANNOTATION_PAUSED not in (obj["metadata"].get("annotations") or {})
    assert emulator.calls(id_instance, "setSettings") == writes + 1
    assert "is not paused" in run_plugin(kube_cluster, scenario, "resume", name).stdout


def test_completion_offers_commands_and_the_cluster_s_names(
    scenario: Scenario, kube_cluster: KubeCluster
) -> None:
    for name in ("comp-one", "comp-two"):
        scenario.seed(name)
        scenario.create(name)
    bash = shutil.which("bash")
    assert bash is not None
    script = run_plugin(kube_cluster, scenario, "completion", "bash")
    assert script.returncode == 0, script.stderr
    checked = subprocess.run(
        [bash, "-n"], input=script.stdout, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
    zsh = shutil.which("zsh")
    if zsh is not None:
        script_zsh = run_plugin(kube_cluster, scenario, "completion", "zsh").stdout
        zchecked = subprocess.run(
            [zsh, "-n"], input=script_zsh, capture_output=True, text=True, check=False
        )
        assert zchecked.returncode == 0, zchecked.stderr

    def complete(*words: str) -> list[str]:
        """Press TAB after `kubectl-whatsapp WORDS` in bash with the script loaded."""
        line = ["kubectl-whatsapp", *words]
        program = (
            f"{script.stdout}\n"
            f"COMP_WORDS=({' '.join(repr(w) for w in line)}); COMP_CWORD={len(line) - 1}\n"
            "_kubectl_whatsapp; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
        )
        env = {**os.environ, "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}"}
        done = subprocess.run(
            [bash, "-c", program], capture_output=True, text=True, env=env, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        return [x for x in done.stdout.splitlines() if x]

    cluster = ["--kubeconfig", str(kube_cluster.kubeconfig), "-n", scenario.namespace]
    assert complete(*cluster, "re") == ["relink", "reboot", "reconcile", "resume"]
    assert complete(*cluster, "reboot", "comp-") == ["comp-one", "comp-two"]
    assert complete(*cluster, "status", "") == [
        "comp-one",
        "comp-two",
        "partner/",
        "clusterpartner/",
        "profile/",
    ]
    assert complete(*cluster, "list", "-o", "") == ["wide", "json", "yaml"]
    assert scenario.namespace in complete("--kubeconfig", str(kube_cluster.kubeconfig), "-n", "")


def test_check_reads_the_resource_s_instance_and_writes_nothing(
    scenario: Scenario, emulator: Emulator, kube_cluster: KubeCluster
) -> None:
    name = "checked"
    id_instance = scenario.seed(name, state="authorized")
    scenario.create(name, settings={"stateWebhook": True})
    scenario.ready(name)
    writes_before = emulator.calls(id_instance, "setSettings")

    result = run_plugin(
        kube_cluster, scenario, "check", name, "-o", "json",
        "--allowed-api-url", "http://127.0.0.1:*", "--allowed-api-url", "http://localhost:*",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    steps = {step["name"]: step for step in document["steps"]}
    assert document["target"]["idInstance"] == id_instance
    assert f"WhatsAppInstance {scenario.namespace}/{name}" in steps["inputs"]["detail"]
    for step in ("inputs", "allow-list", "handshake", "token", "state", "settings", "managed"):
        assert steps[step]["status"] == "OK", steps[step]
    assert "managed keys match" in steps["managed"]["detail"]
    assert scenario.tokens[name] not in result.stdout + result.stderr
    assert emulator.calls(id_instance, "setSettings") == writes_before
    assert emulator.calls(id_instance, "reboot") == 0
