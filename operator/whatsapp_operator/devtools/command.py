"""`whatsapp-operator dev ...`: developer commands around a local control plane.

Imports nothing heavy at module level: the top-level CLI imports this for `--help`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the `dev` subcommands (cluster, build, demo) to `subparsers`."""
    dev = subparsers.add_parser("dev", help="developer tools (local Kubernetes control plane)")
    commands = dev.add_subparsers(dest="dev_command", required=True, metavar="DEV_COMMAND")

    cluster = commands.add_parser(
        "cluster",
        help="run etcd + kube-apiserver + kube-controller-manager locally until Ctrl-C",
    )
    cluster.add_argument(
        "--crd",
        action="append",
        type=Path,
        default=None,
        metavar="FILE",
        help="CRD file to apply before the controller manager starts (repeatable; "
        "default: every YAML file in the checkout's crds/ directory)",
    )
    cluster.add_argument(
        "--log-dir", type=Path, default=None, help="where component logs go (default: a temp dir)"
    )
    cluster.set_defaults(handler=run_cluster)

    build = commands.add_parser("build", help="build (or find) the binaries and print their paths")
    build.set_defaults(handler=run_build)

    demo = commands.add_parser(
        "demo",
        help="local demo: control plane, GREEN-API emulator, operator and a sample resource",
    )
    demo.add_argument("--port", type=int, default=7010, help="emulator port (default 7010)")
    demo.add_argument(
        "--auto-scan", action="store_true", help="simulate the phone scan instead of waiting"
    )
    demo.add_argument(
        "--exit-when-linked", action="store_true", help="stop once the phone is linked"
    )
    demo.set_defaults(handler=run_demo_command)


def run_demo_command(args: argparse.Namespace) -> int:
    """`dev demo`: run the local demo; its exit code."""
    from whatsapp_operator.devtools.demo import run_demo

    return run_demo(args.port, args.auto_scan, args.exit_when_linked)


def _default_crds() -> list[Path]:
    from whatsapp_operator.devtools.binaries import repo_root

    root = repo_root()
    if root is None or not (root / "crds").is_dir():
        return []
    return sorted(p for p in (root / "crds").iterdir() if p.suffix in {".yaml", ".yml"})


def run_build(args: argparse.Namespace) -> int:
    """`dev build`: find or build the binaries and print their paths; 1 when that fails."""
    from whatsapp_operator.devtools.binaries import (
        BinariesNotFoundError,
        find_binaries,
    )

    try:
        binaries = find_binaries()
    except BinariesNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    paths = vars(binaries)
    for name, path in paths.items():
        print(f"{name.replace('_', '-')}: {path}")
    parents = {path.parent for path in paths.values()}
    if len(parents) == 1:
        # Last line is the directory alone, as with build.sh, for WAOP_K8S_BIN_DIR=$(...|tail -1).
        print(parents.pop())
    return 0


def run_cluster(args: argparse.Namespace) -> int:
    """`dev cluster`: run a local control plane until SIGINT or SIGTERM; 1 when it fails."""
    from whatsapp_operator.devtools.controlplane import (
        BinariesNotFoundError,
        ControlPlane,
        ControlPlaneError,
    )

    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    # Handlers before start(): a Ctrl-C during start-up must still stop what began.
    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    crds = args.crd if args.crd is not None else _default_crds()
    plane = ControlPlane(crds=crds, log_dir=args.log_dir)
    try:
        began = time.monotonic()
        plane.start()
        print(f"control plane ready in {time.monotonic() - began:.1f} s ({plane.server})")
        print(f"component logs: {plane.log_dir}")
        if crds:
            print("CRDs applied: " + ", ".join(str(p) for p in crds))
        print(f"\n  export KUBECONFIG={plane.kubeconfig}")
        print("  kubectl get namespaces\n")
        print("No kubelet: pods are accepted but never run. Ctrl-C stops everything.", flush=True)
        while not stopping.wait(1.0):
            plane.check_running()
    except (BinariesNotFoundError, ControlPlaneError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        print("stopping kube-controller-manager, kube-apiserver, etcd ...", file=sys.stderr)
        plane.stop()
        print("stopped.", file=sys.stderr)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
