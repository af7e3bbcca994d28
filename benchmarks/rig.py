"""What the benchmarks share: a local control plane, the GREEN-API emulator as a process,
Kubernetes clients that count their own requests, seeding, and process figures.

Everything listens on 127.0.0.1. `Rig` is a context manager: on the way out it stops
whatever it started (operators it started included), control plane last.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
import tempfile
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

from kubernetes import client, config

from whatsapp_operator.devtools.controlplane import ControlPlane
from whatsapp_operator.devtools.polling import wait_until
from whatsapp_operator.devtools.process import ManagedProcess

ROOT = Path(__file__).resolve().parents[1]
GROUP, VERSION = "whatsapp-operator.io", "v1alpha1"
PLURAL = "whatsappinstances"
# Timings that keep a benchmark short but still exercise the reboot a setSettings causes.
FAST_EMULATOR = ("--starting-seconds", "1", "--settings-apply-seconds", "2")
# Seeding is a few thousand small loopback requests; a few threads keep it to seconds.
SEED_THREADS = 8

RequestKey = tuple[str, str, str]  # (verb as the apiserver counts it, resource, subresource)


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def admin(url: str, path: str, body: Any = None) -> Any:
    """One call of the emulator's admin API: POST with `body`, else GET; the decoded JSON."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{url}{path}",
        data=data,
        method="POST" if data else "GET",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def emulator_up(url: str) -> bool:
    """Whether the emulator at `url` answers its health check."""
    try:
        admin(url, "/admin/health")
    except OSError:
        return False
    return True


def emulator_calls(url: str) -> Counter[str]:
    """Instance calls so far by method (lower-cased), plus `429` for rate-limited answers."""
    totals: Counter[str] = Counter()
    for scope, methods in admin(url, "/admin/counters").items():
        if not scope.isdigit():
            continue
        for method, outcomes in methods.items():
            totals[method] += int(outcomes["total"])
            totals["429"] += int(outcomes.get("429", 0))
    return totals


def timeline(url: str, method: str, since: float, until: float) -> dict[int, int]:
    """Calls of `method` per wall-clock second in [since, until), from the emulator."""
    query = urllib.parse.urlencode({"method": method, "since": since, "until": until})
    seconds = admin(url, f"/admin/timeline?{query}")["seconds"]
    return {int(second): int(count) for second, count in seconds.items()}


def proc_status(pid: int) -> dict[str, float]:
    """A process's CPU seconds (user + system), RSS and RSS high-water mark (VmHWM), in KiB."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    figures = {"cpu": (int(fields[11]) + int(fields[12])) / ticks}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _colon, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            figures[key] = float(value.split()[0])
    return figures


def request_key(method: str, url: str, query: Sequence[tuple[str, Any]] = ()) -> RequestKey:
    """How kube-apiserver's `apiserver_request_total` labels a request to `url` with `query`."""
    parsed = urllib.parse.urlparse(url)
    query = [*urllib.parse.parse_qsl(parsed.query), *query]
    parts = [p for p in parsed.path.split("/") if p]
    # /api/v1/... or /apis/group/version/...; then [namespaces/NS/]resource[/name[/sub]]
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
        rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    verb = method.upper()
    if verb == "GET":
        watching = any(key == "watch" and str(value).lower() == "true" for key, value in query)
        verb = "WATCH" if watching else ("GET" if name else "LIST")
    return verb, resource, subresource


class CountingApiClient(client.ApiClient):  # type: ignore[misc]
    """An ApiClient that counts its own requests, so the benchmark can subtract them.

    Watches are left to their owner: the apiserver counts a WATCH when it ends.
    """

    def __init__(self, configuration: client.Configuration) -> None:
        super().__init__(configuration)
        self.sent: Counter[RequestKey] = Counter()

    def call_api(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        """Count the request (`url` carries its query), then send it."""
        key = request_key(method, url)
        if key[0] != "WATCH":
            self.sent[key] += 1
        return super().call_api(method, url, *args, **kwargs)


class Rig:
    """A control plane with the project's CRDs, an emulator process and counting clients."""

    def __init__(self, prefix: str, emulator_args: Sequence[str] = FAST_EMULATOR) -> None:
        self.logs = Path(tempfile.mkdtemp(prefix=prefix))
        self.cluster = ControlPlane(crds=sorted((ROOT / "crds").glob("*.yaml")), log_dir=self.logs)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "whatsapp_operator.cli", "emulator", "--port", str(self.port)]
        self.emulator = ManagedProcess(
            "emulator",
            [*argv, *emulator_args, "--log-level", "WARNING"],
            self.logs / "emulator.log",
        )
        self.processes: list[ManagedProcess] = []
        self.api: CountingApiClient | None = None

    def __enter__(self) -> Rig:
        try:
            self.cluster.start()
            self.emulator.start()
            wait_until(lambda: emulator_up(self.url), "emulator", timeout=30)
        except BaseException:
            self.stop()
            raise
        configuration = client.Configuration()
        config.load_kube_config(
            config_file=str(self.cluster.kubeconfig), client_configuration=configuration
        )
        configuration.connection_pool_maxsize = SEED_THREADS * 2
        self.api = CountingApiClient(configuration)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every process started here, the control plane last."""
        for process in reversed(self.processes):
            process.stop(timeout=30)
        self.emulator.stop(timeout=10)
        self.cluster.stop()

    @property
    def core(self) -> client.CoreV1Api:
        """The core API through the counting client."""
        return client.CoreV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        """The custom-objects API through the counting client."""
        return client.CustomObjectsApi(self.api)

    def namespace(self, name: str) -> str:
        """Create the namespace `name`; return it."""
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        return name

    def process(
        self, name: str, argv: Sequence[str], env: dict[str, str] | None = None
    ) -> ManagedProcess:
        """A process with the rig's kubeconfig, logged to `<logs>/<name>.log`, stopped on exit."""
        environment = {**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig), **(env or {})}
        process = ManagedProcess(name, argv, self.logs / f"{name}.log", env=environment)
        self.processes.append(process)
        return process

    def operator(
        self,
        namespace: str,
        name: str = "operator",
        prefix: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> ManagedProcess:
        """The operator for `namespace`, allowed to call the emulator; not started yet.

        `prefix` replaces `python -m whatsapp_operator.cli` (a profiler's wrapper, say).
        """
        launcher = list(prefix) or [sys.executable, "-m", "whatsapp_operator.cli"]
        argv = [*launcher, "run", "--namespace", namespace, "--liveness", ""]
        return self.process(name, [*argv, "--allowed-api-url", self.url], env=env)

    def seed_instance(self, id_instance: int, token: str, state: str, phone: str = "") -> None:
        """An instance in the emulator with this id, token and state."""
        body = {"idInstance": id_instance, "apiTokenInstance": token, "state": state}
        if phone:
            body["phone"] = phone
        admin(self.url, "/admin/instances", body)

    def token_secret(self, namespace: str, name: str, token: str) -> None:
        """A Secret `name` holding an instance token under `apiTokenInstance`."""
        self.core.create_namespaced_secret(
            namespace,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name=name), string_data={"apiTokenInstance": token}
            ),
        )

    def instance(self, namespace: str, name: str, spec: dict[str, Any]) -> None:
        """Create the WhatsAppInstance `name` with `spec`."""
        self.custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "WhatsAppInstance",
                "metadata": {"name": name},
                "spec": spec,
            },
        )

    def adopted_fleet(
        self, namespace: str, n: int, first_id: int, spec: dict[str, Any], state: str
    ) -> list[int]:
        """N emulator instances in `state`, their token Secrets `wa-<i>` and WhatsAppInstances
        `wa-<i>` adopting them with `spec` (merged over the instance reference); the ids."""
        ids = [first_id + i for i in range(n)]

        def one(i: int) -> None:
            token = secrets.token_hex(25)
            self.seed_instance(ids[i], token, state, phone=f"7900{i:07d}")
            self.token_secret(namespace, f"wa-{i}", token)
            reference = {"id": ids[i], "apiUrl": self.url, "tokenSecretRef": {"name": f"wa-{i}"}}
            self.instance(namespace, f"wa-{i}", {**spec, "instance": reference})

        with ThreadPoolExecutor(SEED_THREADS) as pool:
            list(pool.map(one, range(n)))
        return ids
