"""A real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager)
as three plain processes on 127.0.0.1, for end-to-end tests and manual runs.

There is no kubelet or kube-proxy: pods never run, but every API behaviour an
operator depends on (CRDs, validation, status subresource, finalizers, garbage
collection, namespace deletion, RBAC, ServiceAccount tokens) is the real thing.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from whatsapp_operator.devtools.binaries import (
    Binaries,
    BinariesNotFoundError,
    find_binaries,
)
from whatsapp_operator.devtools.process import ManagedProcess

__all__ = [
    "CONTEXT_NAME",
    "Binaries",
    "BinariesNotFoundError",
    "ControlPlane",
    "ControlPlaneError",
    "find_binaries",
]

CONTEXT_NAME = "whatsapp-operator-local"
ADMIN_USER = "admin"
STOP_TIMEOUT = 10.0
_POLL_INTERVAL = 0.1
_SCRATCH_PREFIX = "waop-cp-"
_OWNER_FILE = "owner.pid"


class ControlPlaneError(RuntimeError):
    """A component failed to start or became unready."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _scratch_parent() -> str | None:
    # etcd fsyncs nothing with --unsafe-no-fsync, but its writes still go to
    # the page cache of the backing filesystem; tmpfs keeps them off the disk.
    shm = Path("/dev/shm")  # noqa: S108 - only a parent for mkdtemp's private dir
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _process_alive(pid: int) -> bool:
    proc = Path(f"/proc/{pid}/stat")
    if proc.parent.parent.is_dir():
        try:
            # A zombie still answers kill(pid, 0) until someone reaps it.
            return proc.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_orphaned_scratch(parent: Path) -> None:
    # Scratch dirs of a killed session outlive it (etcd preallocates a 64 MB
    # WAL, in RAM on tmpfs); remove those whose owning process is gone.
    for scratch in parent.glob(f"{_SCRATCH_PREFIX}*"):
        try:
            owner = int((scratch / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            # Not ours to judge: no owner file, half-written, or another user's.
            continue
        if not _process_alive(owner):
            shutil.rmtree(scratch, ignore_errors=True)


def _generate_rsa_key(path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ControlPlaneError(
            "the `openssl` command is needed to create the ServiceAccount signing key"
        )
    subprocess.run(  # noqa: S603 - fixed argv
        [openssl, "genrsa", "-out", str(path), "2048"],
        check=True,
        capture_output=True,
    )


def load_crd_documents(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in the given YAML/JSON files."""
    crds: list[dict[str, Any]] = []
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not doc:
                continue
            if doc.get("kind") != "CustomResourceDefinition":
                raise ControlPlaneError(f"{path}: only CustomResourceDefinitions are applied here")
            crds.append(doc)
    return crds


class ControlPlane:
    """Start with `start()` or `with ControlPlane() as cp:`; `cp.kubeconfig` is admin."""

    def __init__(
        self,
        binaries: Binaries | None = None,
        *,
        crds: Sequence[Path] = (),
        log_dir: Path | None = None,
        start_timeout: float = 120.0,
    ) -> None:
        self._binaries = binaries
        self._crds = list(crds)
        self.log_dir = log_dir
        self.start_timeout = start_timeout
        self.token = secrets.token_urlsafe(32)
        self.timings: dict[str, float] = {}
        self._scratch: Path | None = None
        self._etcd: ManagedProcess | None = None
        self._apiserver: ManagedProcess | None = None
        self._kcm: ManagedProcess | None = None
        self._apiserver_port = 0
        self._ssl: ssl.SSLContext | None = None

    # -- paths and addresses --------------------------------------------------

    @property
    def work_dir(self) -> Path:
        """The control plane's scratch directory; ControlPlaneError before `start()`."""
        if self._scratch is None:
            raise ControlPlaneError("the control plane has not been started")
        return self._scratch

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig of the running control plane."""
        return self.work_dir / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        """The CA certificate file of the running control plane."""
        return self.work_dir / "ca.crt"

    @property
    def _serving_bundle(self) -> Path:
        # Self-generated by the apiserver at start: its serving cert, then the CA.
        return self.work_dir / "certs" / "apiserver.crt"

    @property
    def server(self) -> str:
        """The kube-apiserver's URL."""
        return f"https://127.0.0.1:{self._apiserver_port}"

    @property
    def processes(self) -> list[ManagedProcess]:
        """The component processes started so far."""
        return [p for p in (self._etcd, self._apiserver, self._kcm) if p is not None]

    # -- lifecycle ------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start all three components and return once the cluster is usable.

        On any failure everything already started is stopped again, and the
        error carries the log tails.
        """
        if self._scratch is not None:
            raise ControlPlaneError("the control plane is already started")
        binaries = self._binaries or find_binaries()
        parent = Path(_scratch_parent() or tempfile.gettempdir())
        _sweep_orphaned_scratch(parent)
        self._scratch = Path(tempfile.mkdtemp(prefix=_SCRATCH_PREFIX, dir=parent))
        (self._scratch / _OWNER_FILE).write_text(str(os.getpid()))
        if self.log_dir is None:
            self.log_dir = Path(tempfile.mkdtemp(prefix="waop-cp-logs-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.start_timeout
        began = time.monotonic()
        try:
            etcd_url = self._start_etcd(binaries, deadline)
            self.timings["etcd"] = time.monotonic() - began
            self._start_apiserver(binaries, etcd_url, deadline)
            self.timings["apiserver"] = time.monotonic() - began
            if self._crds:
                self.apply_crds(self._crds, timeout=max(deadline - time.monotonic(), 1.0))
            self.timings["crds"] = time.monotonic() - began
            self._start_kcm(binaries, deadline)
            self.timings["ready"] = time.monotonic() - began
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop in dependency order: an apiserver whose etcd is gone hangs on SIGTERM."""
        for process in (self._kcm, self._apiserver, self._etcd):
            if process is not None:
                process.stop(STOP_TIMEOUT)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def check_running(self) -> None:
        """Raise with the log tail if a component has exited."""
        for process in self.processes:
            code = process.exit_code()
            if code is not None:
                raise ControlPlaneError(
                    f"{process.name} exited with code {code}; last log lines "
                    f"({process.log_path}):\n{process.tail()}"
                )

    def log_tails(self, lines: int = 40) -> dict[str, str]:
        """The last `lines` lines of each component's log, by component name."""
        return {p.name: p.tail(lines) for p in self.processes}

    def format_log_tails(self, lines: int = 40) -> str:
        """The last `lines` lines of each component's log, as one text, a header per component."""
        return "\n".join(
            f"----- {name} (last {lines} lines) -----\n{text}"
            for name, text in self.log_tails(lines).items()
        )

    # -- components -----------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> ManagedProcess:
        assert self.log_dir is not None
        process = ManagedProcess(name, argv, self.log_dir / f"{name}.log")
        process.start()
        return process

    def _wait(self, what: str, ready: Callable[[], bool], deadline: float) -> None:
        while True:
            self.check_running()
            try:
                if ready():
                    return
            except (OSError, ValueError):
                # Refused connections and half-written files mean "not yet".
                pass
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"timed out waiting for {what}\n{self.format_log_tails()}")
            time.sleep(_POLL_INTERVAL)

    def _start_etcd(self, binaries: Binaries, deadline: float) -> str:
        client = f"http://127.0.0.1:{_free_port()}"
        peer = f"http://127.0.0.1:{_free_port()}"
        self._etcd = self._spawn(
            "etcd",
            [
                str(binaries.etcd),
                "--name=waop",
                f"--data-dir={self.work_dir / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=waop={peer}",
                "--unsafe-no-fsync=true",
            ],
        )

        def healthy() -> bool:
            with urllib.request.urlopen(f"{client}/health", timeout=2) as response:  # noqa: S310
                return bool(json.load(response).get("health") == "true")

        self._wait("etcd /health", healthy, deadline)
        return client

    def _start_apiserver(self, binaries: Binaries, etcd_url: str, deadline: float) -> None:
        certs = self.work_dir / "certs"
        certs.mkdir()
        sa_key = self.work_dir / "sa.key"
        _generate_rsa_key(sa_key)
        tokens = self.work_dir / "tokens.csv"
        tokens.write_text(f'{self.token},{ADMIN_USER},{ADMIN_USER}-uid,"system:masters"\n')
        tokens.chmod(0o600)
        self._apiserver_port = _free_port()
        self._apiserver = self._spawn(
            "kube-apiserver",
            [
                str(binaries.kube_apiserver),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                # With a loopback advertise address the default reconciler
                # rejects its own `kubernetes` Endpoints every few seconds.
                "--endpoint-reconciler-type=none",
                f"--secure-port={self._apiserver_port}",
                f"--cert-dir={certs}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={self.server}",
                f"--service-account-key-file={sa_key}",
                f"--service-account-signing-key-file={sa_key}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
            ],
        )

        def ready() -> bool:
            if not self.ca_file.is_file():
                if not self._serving_bundle.is_file():
                    return False
                self._extract_ca()
            status, _ = self.request("GET", "/readyz")
            return status == 200

        self._wait("kube-apiserver /readyz", ready, deadline)
        self._write_kubeconfig()

    def _extract_ca(self) -> None:
        # The KCM publishes --root-ca-file as a ClusterTrustBundle, which must
        # hold CA certificates only; the serving cert in the bundle is not one.
        text = self._serving_bundle.read_text(encoding="ascii")
        end = "-----END CERTIFICATE-----"
        complete = text.split(end)[: text.count(end)]
        blocks = [b.strip() + "\n" + end + "\n" for b in complete if "BEGIN" in b]
        if not blocks:
            raise ValueError("the apiserver's certificate bundle is still being written")
        self.ca_file.write_text("".join(blocks[1:] or blocks), encoding="ascii")

    def _start_kcm(self, binaries: Binaries, deadline: float) -> None:
        self._kcm = self._spawn(
            "kube-controller-manager",
            [
                str(binaries.kube_controller_manager),
                f"--kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                f"--service-account-private-key-file={self.work_dir / 'sa.key'}",
                f"--root-ca-file={self.ca_file}",
            ],
        )

        # The serviceaccount controller creating `default` shows that the
        # controllers have synced their informers and are acting.
        def acting() -> bool:
            status, _ = self.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
            return status == 200

        self._wait("kube-controller-manager (the `default` ServiceAccount)", acting, deadline)

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": CONTEXT_NAME,
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": ADMIN_USER, "user": {"token": self.token}}],
            "contexts": [
                {"name": CONTEXT_NAME, "context": {"cluster": CONTEXT_NAME, "user": ADMIN_USER}}
            ],
            "current-context": CONTEXT_NAME,
        }
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        self.kubeconfig.chmod(0o600)

    # -- a minimal admin client (no dependency on the kubernetes package) -----

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One admin API call; returns (HTTP status, decoded JSON or text)."""
        if self._ssl is None:
            self._ssl = ssl.create_default_context(cafile=str(self.ca_file))
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(  # noqa: S310 - https to our own apiserver
            self.server + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10, context=self._ssl) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        text = raw.decode("utf-8", errors="replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def apply_crds(self, paths: Iterable[Path], timeout: float = 30.0) -> list[str]:
        """Create (or replace) the CRDs in `paths` and wait until each is Established.

        Applied before the controller manager starts, the garbage collector
        knows the new kinds at once; afterwards it needs up to 30 s to notice.
        """
        base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        names: list[str] = []
        for crd in load_crd_documents(paths):
            name = crd["metadata"]["name"]
            status, reply = self.request("POST", base, crd)
            if status == 409:
                _, current = self.request("GET", f"{base}/{name}")
                crd["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                status, reply = self.request("PUT", f"{base}/{name}", crd)
            if status >= 300:
                raise ControlPlaneError(f"applying CRD {name} failed ({status}): {reply}")
            names.append(name)

        def established() -> bool:
            for name in names:
                _, crd = self.request("GET", f"{base}/{name}")
                conditions = (crd.get("status") or {}).get("conditions") or []
                if not any(
                    c["type"] == "Established" and c["status"] == "True" for c in conditions
                ):
                    return False
            return True

        self._wait(f"CRDs {names} to be Established", established, time.monotonic() + timeout)
        return names
