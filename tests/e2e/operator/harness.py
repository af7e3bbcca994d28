"""The pieces an operator end-to-end test drives: the operator process, the emulator's
admin API (synchronous, since the Kubernetes client is), and a per-test `Scenario`."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from support.emulator_process import EmulatorProcess
from support.greenapi_urls import instance_url
from support.kube_helpers import Instances, has_condition, list_events, put_secret, wait_for

# The test's own timings: fast polls, a short settle window; the defaults are minutes.
FAST_INTERVALS = {"stateSeconds": 10, "settingsSeconds": 60, "settleSeconds": 5}
EMULATOR_ARGS = (
    "--creation-seconds",
    "1",
    "--starting-seconds",
    "1",
    "--settings-apply-seconds",
    "2",
    "--log-level",
    "DEBUG",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


LOOPBACK_ANY_PORT = "http://127.0.0.1:*"


@contextlib.contextmanager
def module_operator(
    kubeconfig: Path,
    module_prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
    env: dict[str, str] | None = None,
) -> Iterator[OperatorProcess]:
    """The operator for one test module, watching its namespaces (`<prefix>-*`), stopped after."""
    log_path = tmp_path_factory.mktemp(module_prefix) / "operator.log"
    running = OperatorProcess.start(
        namespace=f"{module_prefix}-*", kubeconfig=kubeconfig, log_path=log_path, env=env
    )
    try:
        yield running
    finally:
        running.stop()


@dataclass
class OperatorProcess:
    """`whatsapp-operator run` as a subprocess, logging to a file."""

    process: subprocess.Popen[bytes]
    log_path: Path
    liveness: str
    metrics: str

    @classmethod
    def start(
        cls,
        *,
        namespace: str,
        kubeconfig: Path,
        log_path: Path,
        deadline: float = 60.0,
        env: dict[str, str] | None = None,
    ) -> OperatorProcess:
        """Start it and wait for its liveness endpoint; `env`: extra WAOP_* settings."""
        liveness = f"http://127.0.0.1:{free_port()}/healthz"
        metrics_port = free_port()
        # The emulators of the suite listen on loopback at random ports; the security
        # tests narrow this to one exact origin.
        allowed = {"WAOP_ALLOWED_API_URLS": LOOPBACK_ANY_PORT}
        env = {**allowed, **os.environ, **(env or {}), "KUBECONFIG": str(kubeconfig)}
        log = log_path.open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "whatsapp_operator.cli",
                "run",
                "--namespace",
                namespace,
                "--liveness",
                liveness,
                "--log-level",
                "DEBUG",
                "--metrics",
                f"127.0.0.1:{metrics_port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()
        running = cls(
            process=process,
            log_path=log_path,
            liveness=liveness,
            metrics=f"http://127.0.0.1:{metrics_port}/metrics",
        )

        def alive() -> bool:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the operator exited with {process.returncode}:\n{running.log_tail()}"
                )
            try:
                return httpx.get(liveness, timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_for(alive, "the operator's liveness endpoint", deadline, interval=0.2)
        except BaseException:
            running.stop()
            raise
        return running

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_tail(self, since: int = 0, limit: int = 20_000) -> str:
        with self.log_path.open("rb") as handle:
            handle.seek(since)
            data = handle.read().decode("utf-8", errors="replace")
        return data[-limit:]

    def stop(self) -> int:
        """SIGTERM (kopf's graceful stop), SIGKILL after 10 s; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


class Emulator:
    """The emulator subprocess plus a synchronous client for its admin and instance APIs."""

    def __init__(self, running: EmulatorProcess) -> None:
        self.running = running
        self.url = running.url
        self.http = httpx.Client(base_url=running.url, timeout=10.0)

    def close(self) -> None:
        self.http.close()

    def _call(self, verb: str, path: str, body: Any = None) -> Any:
        response = self.http.request(verb, f"/admin{path}", json=body)
        response.raise_for_status()
        return response.json()

    def seed(self, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/instances", fields)
        return result

    def instance(self, id_instance: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/instances/{id_instance}")
        return result

    def scan(self, id_instance: int, phone: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/instances/{id_instance}/scan", {"phone": phone}
        )
        return result

    def pair(self, id_instance: int, code: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/instances/{id_instance}/pair", {"code": code}
        )
        return result

    def set_plan(self, id_instance: int, **plan: Any) -> dict[str, Any]:
        """The instance's plan as getInstances lists it: tariff, expirationDate (zone-less,
        or None to renew itself) or expiresInSeconds from the emulator's clock."""
        result: dict[str, Any] = self._call("POST", f"/instances/{id_instance}/plan", plan)
        return result

    def drop_settings(self, id_instance: int, count: int = 1) -> None:
        self._call("POST", f"/instances/{id_instance}/drop-settings", {"count": count})

    def set_faults(self, rules: list[dict[str, Any]]) -> None:
        self._call("PUT", "/faults", rules)

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/counters")
        return result

    def calls(self, id_instance: int, method: str) -> int:
        """How many calls of `method` (lower case) the instance received, any outcome."""
        per_method = self.counters().get(str(id_instance), {})
        return int(per_method.get(method.lower(), {}).get("total", 0))

    def set_settings_log(self, id_instance: int) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = self.instance(id_instance)["setSettingsLog"]
        return log

    def too_many_requests(self) -> dict[str, int]:
        """429 answers per `instance/method`, over the emulator's whole life."""
        found = {}
        for scope, methods in self.counters().items():
            for method, outcomes in methods.items():
                if outcomes.get("429"):
                    found[f"{scope}/{method}"] = int(outcomes["429"])
        return found

    def user_set_settings(self, id_instance: int, token: str, body: dict[str, Any]) -> None:
        """setSettings as a person would call it: GREEN-API's own URL with the token."""
        response = self.http.post(
            instance_url(self.url, id_instance, "setSettings", token), json=body
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"saveSettings": True}

    def stderr(self) -> str:
        return "".join(self.running.stderr_lines)

    def stdout(self) -> str:
        return "".join(self.running.stdout_lines)


@dataclass
class Secrets:
    """Every secret value a module handed out or saw, to prove none of them leaks.

    `archive` keeps each finished test's Events and WhatsAppInstances (as JSON),
    since their namespaces are gone by the time the module's leak check runs.
    """

    values: dict[str, str] = field(default_factory=dict)
    archive: dict[str, str] = field(default_factory=dict)

    def add(self, label: str, value: str) -> None:
        self.values[label] = value

    def keep(self, api: client.ApiClient, namespace: str) -> None:
        objects = Instances(api, namespace).list()
        self.archive[f"Events in {namespace}"] = json.dumps(list_events(api, namespace))
        self.archive[f"WhatsAppInstances in {namespace}"] = json.dumps(objects)

    def found_in(self, places: dict[str, str]) -> list[str]:
        """`<secret> in <place>` for every secret that shows up anywhere."""
        return [
            f"{label} in {where}"
            for where, text in places.items()
            for label, value in self.values.items()
            if value in text
        ]


def assert_no_leaks(
    leaks: Secrets,
    operator: OperatorProcess,
    emulator: Emulator,
    api: client.ApiClient,
    namespace: str,
) -> None:
    """No token, pairing code or QR payload in logs, Events or WhatsAppInstances."""
    leaks.keep(api, namespace)
    assert leaks.values, "nothing to look for"
    places = {
        "the operator's log": operator.log_text(),
        "the emulator's stderr": emulator.stderr(),
        "the emulator's stdout": emulator.stdout(),
        **leaks.archive,
    }
    found = leaks.found_in(places)
    assert found == [], "secrets leaked:\n" + "\n".join(found)


def new_token() -> str:
    return secrets.token_hex(25)


def new_instance_id() -> int:
    return 7105_000_000 + secrets.randbelow(999_999)


@dataclass
class Scenario:
    """One test's namespace: creates matching emulator instances, Secrets and resources."""

    api: client.ApiClient
    namespace: str
    emulator: Emulator
    leaks: Secrets
    instances: Instances = field(init=False)
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.instances = Instances(self.api, self.namespace)

    def seed(
        self, name: str, *, state: str = "notAuthorized", settings: dict[str, str] | None = None
    ) -> int:
        """A GREEN-API instance for resource `name` (ready at once)."""
        id_instance = new_instance_id()
        token = new_token()
        fields: dict[str, Any] = {
            "idInstance": id_instance,
            "apiTokenInstance": token,
            "state": state,
            "name": name,
        }
        if settings:
            fields["settings"] = settings
        if state not in ("notAuthorized", "creating", "starting"):
            fields["phone"] = "7900" + str(id_instance)[-7:]
        self.emulator.seed(**fields)
        self.ids[name] = id_instance
        self.tokens[name] = token
        self.leaks.add(f"token of {self.namespace}/{name}", token)
        return id_instance

    def token_secret(self, name: str, token: str | None = None) -> str:
        secret = f"{name}-token"
        put_secret(
            self.api,
            self.namespace,
            secret,
            {"apiTokenInstance": token if token is not None else self.tokens[name]},
        )
        return secret

    def spec(self, name: str, **overrides: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "instance": {
                "id": self.ids[name],
                "apiUrl": self.emulator.url,
                "tokenSecretRef": {"name": f"{name}-token"},
            },
            "intervals": dict(FAST_INTERVALS),
        }
        spec.update(overrides)
        return spec

    def create(
        self,
        name: str,
        *,
        annotations: dict[str, str] | None = None,
        with_secret: bool = True,
        **spec: Any,
    ) -> dict[str, Any]:
        if with_secret:
            self.token_secret(name)
        return self.instances.create(name, self.spec(name, **spec), annotations)

    def ready(self, name: str, timeout: float = 40.0) -> dict[str, Any]:
        """Wait for Ready=True and Synced=True (settings applied and confirmed)."""
        return self.instances.wait(name, ready_and_synced, "Ready=True and Synced=True", timeout)


def ready_and_synced(obj: dict[str, Any]) -> bool:
    return has_condition(obj, "Ready", "True") and has_condition(obj, "Synced", "True")


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(operator: OperatorProcess) -> Samples:
    """The operator's /metrics, parsed: (name, sorted labels) -> value."""
    text = httpx.get(operator.metrics, timeout=5).text
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, metric: str, /, **labels: str) -> float:
    """One series' value (0 when absent); labels may include `name`."""
    return samples.get((metric, tuple(sorted(labels.items()))), 0.0)


# ------------------------------------------------------------------ failure reports

# What a failing test's report shows: its part of the operator log, the emulator's
# stderr and its namespace. The suites (operator, partner, the chart's pod) stash the same
# keys; the operator is a subprocess or, in test_chart_pod.py, a container.


class OperatorLog(Protocol):
    @property
    def log_path(self) -> Path: ...

    def log_size(self) -> int: ...

    def log_tail(self, since: int = 0, limit: int = 20_000) -> str: ...


LOG_OFFSET = pytest.StashKey[int]()
OPERATOR = pytest.StashKey[OperatorLog]()
EMULATOR = pytest.StashKey[Emulator]()
NAMESPACE = pytest.StashKey[str]()


def remember(item: pytest.Item, operator: OperatorLog, emulator: Emulator, namespace: str) -> None:
    item.stash[OPERATOR] = operator
    item.stash[EMULATOR] = emulator
    item.stash[NAMESPACE] = namespace
    item.stash[LOG_OFFSET] = operator.log_size()


def diagnostics(item: pytest.Item) -> list[tuple[str, str]]:
    sections = []
    operator = item.stash.get(OPERATOR, None)
    if operator is not None:
        since = item.stash.get(LOG_OFFSET, 0)
        sections.append((f"operator log ({operator.log_path})", operator.log_tail(since)))
    emulator = item.stash.get(EMULATOR, None)
    if emulator is not None:
        sections.append(("emulator stderr (tail)", emulator.stderr()[-6000:]))
    namespace = item.stash.get(NAMESPACE, None)
    if namespace is not None:
        sections.append(("namespace", namespace))
    return sections
