"""Run a Kubernetes pod spec's one container with podman, the way a kubelet would.

There is no kubelet in the test setup, so this translates what the kubelet would do with the
chart's pod spec into one `podman run`: the user and groups, the read-only root, dropped
capabilities, no privilege escalation, the seccomp profile, the resource limits, the
environment and arguments, emptyDir volumes, and the ServiceAccount volume with a token, the
cluster CA and the namespace at the path client libraries read. The network is the host's,
so the container reaches the loopback API server and emulator, and its ports are the host's.

Fields this module does not know raise `Unsupported`: a chart change that needs the test to
learn something new fails loudly instead of being dropped on the floor.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# crun, podman's usual runtime, refuses hosts with the hybrid cgroup layout; runc runs there
# and everywhere else (scripts/image makes the same choice).
RUNTIME = ["--runtime", "runc"] if shutil.which("runc") else []
# Raising the open-files and process limits is refused in some sandboxes; containers get
# explicit, modest ones (scripts/image uses the same).
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
# What a kubelet does with each imagePullPolicy, in podman's words.
PULL = {"Always": "always", "IfNotPresent": "missing", "Never": "never"}

# Pod and container fields the translation handles, or that need no counterpart here.
_POD_FIELDS = {
    "serviceAccountName",  # the ServiceAccount volume's token is requested for it
    "terminationGracePeriodSeconds",
    "securityContext",
    "containers",
    "volumes",
}
_CONTAINER_FIELDS = {
    "name",
    "image",
    "imagePullPolicy",
    "args",
    "env",
    "ports",  # the host's network: containerPort is the host port
    "startupProbe",  # probes are the caller's to perform
    "livenessProbe",
    "readinessProbe",
    "resources",  # limits are enforced; requests only matter to a scheduler
    "securityContext",
    "volumeMounts",
}
_SECURITY_FIELDS = {
    "runAsNonRoot",
    "runAsUser",
    "runAsGroup",
    "fsGroup",
    "allowPrivilegeEscalation",
    "readOnlyRootFilesystem",
    "capabilities",
    "seccompProfile",
}
_BINARY_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}


class Unsupported(AssertionError):
    """The pod spec uses something this translation does not know."""


def _only(what: str, data: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise Unsupported(f"{what}: {', '.join(unknown)} (teach tests/support/podman_pod.py)")


def cpus(quantity: str) -> str:
    """A Kubernetes CPU quantity ("500m", "2") as podman's --cpus."""
    if quantity.endswith("m"):
        return f"{int(quantity[:-1]) / 1000:g}"
    return f"{float(quantity):g}"


def memory_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity ("512Mi", "1G", "1048576") in bytes."""
    match = re.fullmatch(r"(\d+)([KMG]i|[kMG])?", quantity)
    if match is None:
        raise Unsupported(f"memory quantity {quantity!r}")
    return int(match[1]) * _BINARY_SUFFIXES.get(match[2] or "", 1)


@dataclass(frozen=True)
class ServiceAccountFiles:
    """What the kubelet projects into every pod that mounts its ServiceAccount's token."""

    token: str
    ca_crt: str
    namespace: str

    def write(self, directory: Path) -> Path:
        # Readable by the container's user (the projected volume's default mode, 0644).
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o755)
        for name, text in (
            ("token", self.token),
            ("ca.crt", self.ca_crt),
            ("namespace", self.namespace),
        ):
            path = directory / name
            path.write_text(text, encoding="utf-8")
            path.chmod(0o644)
        return directory


@dataclass(frozen=True)
class PodRun:
    """`podman run` for one pod spec; `argv` is the whole command line."""

    argv: list[str]
    ports: dict[str, int]  # container port name -> port
    user: int


def _security(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    pod_context = dict(pod.get("securityContext") or {})
    container_context = dict(container.get("securityContext") or {})
    _only("pod securityContext", pod_context, _SECURITY_FIELDS)
    _only("container securityContext", container_context, _SECURITY_FIELDS)
    # The container's settings win over the pod's, field by field, as in the kubelet.
    return {**pod_context, **container_context, "fsGroup": pod_context.get("fsGroup")}


def podman_run_argv(
    pod: dict[str, Any],
    *,
    name: str,
    hostname: str,
    service_account_dir: Path,
    volume_dirs: dict[str, Path],
    api_host: str,
    api_port: int,
    log_path: Path,
) -> PodRun:
    """The podman command line that runs the pod spec's only container, detached.

    `volume_dirs` gives a host directory for each emptyDir volume (prepare them with
    `prepare_empty_dir`); the ServiceAccount files must already be in `service_account_dir`.
    """
    _only("pod spec", pod, _POD_FIELDS)
    (container,) = pod["containers"]
    _only("container", container, _CONTAINER_FIELDS)
    security = _security(pod, container)
    argv = ["podman", *RUNTIME, "run", "--detach", "--name", name, "--hostname", hostname]
    argv += ["--network", "host", *LIMITS]
    argv += ["--pull", PULL[container.get("imagePullPolicy", "IfNotPresent")]]
    argv += ["--stop-timeout", str(pod.get("terminationGracePeriodSeconds", 30))]
    # The container's output in the file format the kubelet writes (CRI logging).
    argv += ["--log-driver", "k8s-file", "--log-opt", f"path={log_path}"]

    user = security.get("runAsUser")
    if user is None:
        raise Unsupported("a pod without runAsUser (the image's user is not looked up here)")
    if security.get("runAsNonRoot") and user == 0:
        raise AssertionError("runAsNonRoot with runAsUser 0: the kubelet would refuse to start")
    group = security.get("runAsGroup", user)
    argv += ["--user", f"{user}:{group}"]
    if security.get("fsGroup") is not None:
        argv += ["--group-add", str(security["fsGroup"])]
    if security.get("readOnlyRootFilesystem"):
        # Without --read-only-tmpfs=false podman would add writable /tmp, /run and /var/tmp,
        # which a kubelet does not: only the pod's volumes may be writable.
        argv += ["--read-only", "--read-only-tmpfs=false"]
    if security.get("allowPrivilegeEscalation") is False:
        argv += ["--security-opt", "no-new-privileges"]
    capabilities = security.get("capabilities") or {}
    _only("capabilities", capabilities, {"add", "drop"})
    argv += [arg for cap in capabilities.get("drop", []) for arg in ("--cap-drop", cap)]
    argv += [arg for cap in capabilities.get("add", []) for arg in ("--cap-add", cap)]
    seccomp = (security.get("seccompProfile") or {}).get("type", "Unconfined")
    if seccomp == "Unconfined":
        argv += ["--security-opt", "seccomp=unconfined"]
    elif seccomp != "RuntimeDefault":
        raise Unsupported(f"seccompProfile {seccomp}")
    # RuntimeDefault: podman applies its default profile unless told otherwise.

    resources = container.get("resources") or {}
    _only("resources", resources, {"limits", "requests"})
    limits = resources.get("limits") or {}
    _only("resource limits", limits, {"cpu", "memory"})
    if "cpu" in limits:
        argv += ["--cpus", cpus(str(limits["cpu"]))]
    if "memory" in limits:
        argv += ["--memory", f"{memory_bytes(str(limits['memory']))}b"]

    for variable in container.get("env") or []:
        _only(f"env {variable.get('name')}", variable, {"name", "value"})
        argv += ["--env", f"{variable['name']}={variable.get('value', '')}"]
    # What the kubelet sets from the `kubernetes` Service; here the API server's own address.
    argv += ["--env", f"KUBERNETES_SERVICE_HOST={api_host}"]
    argv += ["--env", f"KUBERNETES_SERVICE_PORT={api_port}"]

    volumes = {}
    for volume in pod.get("volumes") or []:
        _only(f"volume {volume['name']}", volume, {"name", "emptyDir"})
        volumes[volume["name"]] = volume_dirs[volume["name"]]
    for mount in container.get("volumeMounts") or []:
        _only(f"volumeMount {mount['name']}", mount, {"name", "mountPath", "readOnly"})
        mode = "ro" if mount.get("readOnly") else "rw"
        argv += ["--volume", f"{volumes[mount['name']]}:{mount['mountPath']}:{mode}"]
    # The ServiceAccount volume the ServiceAccount admission plugin adds to every pod.
    argv += ["--volume", f"{service_account_dir}:{SERVICE_ACCOUNT_DIR}:ro"]

    ports = {}
    for port in container.get("ports") or []:
        _only(f"port {port.get('name')}", port, {"name", "containerPort", "protocol"})
        if port.get("protocol", "TCP") != "TCP":
            raise Unsupported(f"port protocol {port['protocol']}")
        ports[port["name"]] = int(port["containerPort"])

    # No `command`: the image's ENTRYPOINT runs with the pod's args, as in Kubernetes.
    argv += [container["image"], *container.get("args", [])]
    return PodRun(argv=argv, ports=ports, user=int(user))


def prepare_empty_dir(path: Path, fs_group: int | None) -> Path:
    """A directory as the kubelet makes an emptyDir: world-writable, or the fsGroup's."""
    path.mkdir(parents=True, exist_ok=True)
    if fs_group is None:
        path.chmod(0o777)
    else:
        # The kubelet gives the volume to the fsGroup and sets setgid, so new files stay its.
        os.chown(path, -1, fs_group)
        path.chmod(0o2777)
    return path


def podman(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """One podman command (with the runtime this host needs); raises on failure."""
    argv = ["podman", *RUNTIME, *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise AssertionError(f"$ {' '.join(argv)}\n{result.stdout}\n{result.stderr}")
    return result


def read_cri_log(path: Path) -> str:
    """The text of a CRI-format log (`<time> <stream> <P|F> <text>`), lines joined back."""
    if not path.exists():
        return ""
    out: list[str] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 4:
            continue
        out.append(parts[3] if parts[2] == "P" else parts[3] + "\n")
    return "".join(out)
