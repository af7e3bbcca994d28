"""Subcommands of the operator itself: `run` (the controller) and `crd` (print the CRD)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from whatsapp_operator import constants

if TYPE_CHECKING:
    import threading

    import kopf

    from whatsapp_operator.config import OperatorConfig
    from whatsapp_operator.run.liveness import Liveness

# The kinds the shard selector filters server-side. Not WhatsAppSettingsProfiles (every
# shard follows its instances' profiles), nor ClusterWhatsAppPartners: the one process
# with --cluster-partners checks them all, whatever its selector.
SHARDED_PLURALS = (constants.PLURAL, constants.PARTNER_PLURAL)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `run` and `crd` subcommands to `commands`."""
    run = commands.add_parser(
        "run",
        help="run the operator against the current Kubernetes context or in-cluster",
        description=(
            "Run the WhatsAppInstance controller. Flags override the WAOP_* environment "
            "variables; with no namespace given, the whole cluster is watched."
        ),
    )
    run.add_argument(
        "-n",
        "--namespace",
        action="append",
        dest="namespaces",
        default=None,
        metavar="NS",
        help="watch this namespace (repeatable; glob patterns ok)",
    )
    run.add_argument(
        "-A",
        "--all-namespaces",
        action="store_true",
        help="watch every namespace (default when none is given)",
    )
    run.add_argument(
        "--peering",
        metavar="NAME",
        help="coordinate with other replicas through this KopfPeering (default: standalone)",
    )
    run.add_argument("--log-format", choices=("text", "json"))
    run.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    run.add_argument(
        "--liveness",
        metavar="URL",
        help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz ('' disables)",
    )
    run.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="serve Prometheus metrics there, e.g. 0.0.0.0:9090 ('' disables; default off)",
    )
    run.add_argument(
        "--concurrency", type=int, metavar="N", help="reconciles running at once (default 32)"
    )
    run.add_argument(
        "--namespace-concurrency",
        type=int,
        metavar="N",
        help="reconcile slots one namespace may hold at once (default: half of --concurrency)",
    )
    run.add_argument(
        "--allowed-api-url",
        action="append",
        dest="allowed_api_urls",
        default=None,
        metavar="URL",
        help=(
            "a GREEN-API endpoint requests may go to, scheme://host[:port] ('*.' for one DNS "
            "label, ':*' for any port); repeatable, replaces the default list of GREEN-API's "
            "own https hosts"
        ),
    )
    run.add_argument("--kubeconfig", metavar="FILE")
    _add_scaling_flags(run)
    run.set_defaults(handler=_run)

    crd = commands.add_parser("crd", help="print the project's CRDs (generated from code)")
    crd.add_argument(
        "--output-dir",
        metavar="DIR",
        help="write one file per CRD into DIR (e.g. crds/) instead of printing",
    )
    crd.set_defaults(handler=_crd)


def _add_scaling_flags(run: argparse.ArgumentParser) -> None:
    """Flags for several processes: leader election (standbys) and sharding."""
    run.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="stand by until this process holds the leader-election Lease (WAOP_LEADER_ELECT)",
    )
    run.add_argument(
        "--lease-name", metavar="NAME", help="the Lease's name (default whatsapp-operator)"
    )
    run.add_argument(
        "--lease-namespace",
        metavar="NS",
        help="the Lease's namespace (default WAOP_OPERATOR_NAMESPACE, else the pod's)",
    )
    run.add_argument(
        "--lease-duration", type=int, metavar="S", dest="lease_seconds", help="default 15"
    )
    run.add_argument(
        "--lease-renew-deadline",
        type=float,
        metavar="S",
        dest="lease_renew_deadline_seconds",
        help="a leader that has not renewed for this long exits (default 10)",
    )
    run.add_argument(
        "--lease-renew-period",
        type=float,
        metavar="S",
        dest="lease_renew_seconds",
        help="default 5",
    )
    run.add_argument(
        "--lease-retry-period",
        type=float,
        metavar="S",
        dest="lease_retry_seconds",
        help="how often a standby looks and a failed renewal is retried (default 2)",
    )
    run.add_argument(
        "--shard-selector",
        metavar="SELECTOR",
        help=(
            "handle only objects with these labels, e.g. shard=a (Kubernetes label selector, "
            "applied by the API server; WAOP_SHARD_SELECTOR)"
        ),
    )
    run.add_argument(
        "--cluster-partners",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="check ClusterWhatsAppPartners here (default yes; one shard only)",
    )


_SCALING = (
    "leader_elect",
    "lease_name",
    "lease_namespace",
    "lease_seconds",
    "lease_renew_deadline_seconds",
    "lease_renew_seconds",
    "lease_retry_seconds",
    "shard_selector",
    "cluster_partners",
)


def _run(args: argparse.Namespace) -> int:
    import dataclasses
    import functools

    import kopf

    from whatsapp_operator.config import OperatorConfig
    from whatsapp_operator.decide.shards import SelectorInvalid, parse_selector
    from whatsapp_operator.endpoints import AllowList, UrlRejected
    from whatsapp_operator.logsetup import configure_logging
    from whatsapp_operator.run import handlers  # noqa: F401 - registers the kopf handlers
    from whatsapp_operator.run.leadership import run_as_leader

    overrides: dict[str, Any] = {}
    if args.namespaces and not args.all_namespaces:
        overrides["namespaces"] = tuple(args.namespaces)
    elif args.all_namespaces:
        overrides["namespaces"] = ()
    if args.allowed_api_urls:
        overrides["allowed_api_urls"] = tuple(args.allowed_api_urls)
    names = ("peering", "log_format", "log_level", "concurrency", "namespace_concurrency")
    for name in (*names, *_SCALING, "kubeconfig"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    if args.liveness is not None:
        overrides["liveness"] = args.liveness or None
    if args.metrics is not None:
        overrides["metrics"] = args.metrics or None
    config = dataclasses.replace(OperatorConfig(), **overrides)
    if config.concurrency < 1:
        print("--concurrency must be at least 1", file=sys.stderr)
        return 2
    try:
        AllowList(config.allowed_api_urls)
    except UrlRejected as exc:
        print(f"--allowed-api-url: {exc}", file=sys.stderr)
        return 2
    try:
        parse_selector(config.shard_selector)
    except SelectorInvalid as exc:
        print(f"--shard-selector: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level, config.log_format, quiet_kopf=not config.verbose_kopf)
    if config.kubeconfig:
        os.environ["KUBECONFIG"] = config.kubeconfig
    memo = kopf.Memo(config=config)
    settings = kopf.OperatorSettings()
    if config.shard_selector:
        # Server-side: a shard lists and watches only its own objects, so memory splits too.
        # Profiles stay unfiltered: every shard's rollout gate needs its instances' profile
        # (decide/shards.py); the owning shard alone writes the profile's status.
        for plural in SHARDED_PLURALS:
            settings.watching.label_selectors[constants.GROUP, plural] = config.shard_selector

    liveness = _serve(config, memo)
    operate = functools.partial(_operate, config, memo, settings)
    if config.leader_elect:
        return run_as_leader(config, operate, liveness=liveness)
    operate()
    return 0


def _serve(config: OperatorConfig, memo: kopf.Memo) -> Liveness:
    """Start /metrics and /healthz before the election: standbys are scraped and probed too.

    The metrics, the Kubernetes calls in flight and the liveness go into `memo` for the
    startup handler (run/handlers.py), which only the leader runs.
    """
    from whatsapp_operator.adapters.health import HealthServer
    from whatsapp_operator.adapters.kubecalls import KubeCalls
    from whatsapp_operator.metrics import Metrics
    from whatsapp_operator.run.liveness import Liveness, Role

    metrics = Metrics()
    if config.metrics:
        host, _colon, port = config.metrics.rpartition(":")
        metrics.serve(host or "0.0.0.0", int(port))
    liveness = Liveness(
        KubeCalls(),
        config.liveness_stuck_seconds,
        role=Role.STANDBY if config.leader_elect else Role.LEADER,
        on_role=lambda role: metrics.set_leader(role is Role.LEADER),
    )
    if config.liveness:
        # Lives as long as the process (daemon thread); never closed and re-bound.
        HealthServer(config.liveness, liveness.check)
    memo["metrics"] = metrics
    memo["liveness"] = liveness
    return liveness


def _operate(
    config: OperatorConfig,
    memo: kopf.Memo,
    settings: kopf.OperatorSettings,
    stop: threading.Event | None = None,
) -> None:
    """Run kopf until a signal or `stop` (set by a signal that came before kopf listened)."""
    import asyncio
    import contextlib
    import signal

    import kopf

    from whatsapp_operator.run import handlers

    if config.cluster_partners:
        handlers.register_cluster_partners()

    async def main() -> None:
        # Until kopf installs its own signal handlers, a SIGTERM sets this flag, which
        # kopf also watches: a stop that comes while it starts is still a clean stop.
        flag = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, flag.set)
        if stop is not None and stop.is_set():
            flag.set()
        await kopf.operator(
            standalone=config.peering is None,
            peering_name=config.peering,
            clusterwide=config.clusterwide,
            namespaces=config.namespaces,
            # /healthz is served by adapters/health.py from before the election on.
            liveness_endpoint=None,
            memo=memo,
            settings=settings,
            stop_flag=flag,
        )

    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(main())


def _crd(args: argparse.Namespace) -> int:
    from pathlib import Path

    from whatsapp_operator.api.crd import crd_files

    files = crd_files()
    if args.output_dir:
        for name, content in files.items():
            (Path(args.output_dir) / name).write_text(content)
        return 0
    sys.stdout.write("---\n".join(files.values()))
    return 0
