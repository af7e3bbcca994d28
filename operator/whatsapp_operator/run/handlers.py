"""kopf wiring: the only module with kopf decorators.

kopf only watches: each watch event goes to `Instances` (WhatsAppInstances) or `Kinds`
(partners and profiles), and one scheduler runs every object's step, right away, then
again when its wait is over or when something relevant changes (the spec, an action
annotation, a referenced Secret: re-read on a timer, `secret_recheck`, since Secrets
are not watched). One step at a time per object means one writer of its status and no
overlapping GREEN-API calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast

import kopf

from whatsapp_operator import constants
from whatsapp_operator.adapters.greenapi import ClientOptions, GreenApi
from whatsapp_operator.adapters.kube import Kube, KubeTimeouts, load_api_client
from whatsapp_operator.adapters.kubecalls import KubeCalls
from whatsapp_operator.config import OperatorConfig
from whatsapp_operator.decide import shards
from whatsapp_operator.decide.events import Event
from whatsapp_operator.endpoints import AllowList
from whatsapp_operator.metrics import Metrics
from whatsapp_operator.run import namespace_listing
from whatsapp_operator.run.diff_base import LeanDiffBaseStorage
from whatsapp_operator.run.heap import trim_forever
from whatsapp_operator.run.instances import Instances
from whatsapp_operator.run.kinds import Kinds, Partners, Profiles
from whatsapp_operator.run.liveness import Liveness
from whatsapp_operator.run.partners import PartnerReconciler
from whatsapp_operator.run.profile_rollout import ProfileReconciler
from whatsapp_operator.run.reconcile import Reconciler
from whatsapp_operator.run.rollout_gate import RolloutGate
from whatsapp_operator.run.runtime import Runtime
from whatsapp_operator.run.secret_recheck import recheck_forever
from whatsapp_operator.timestamps import utcnow

log = logging.getLogger(__name__)
# Before kopf's namespace observer starts (it looks its handler up then).
namespace_listing.install()
# Connecting to the API server: a healthy one answers in milliseconds.
_CONNECT_SECONDS = 5.0
# A fleet's bodies (status and managedFields are most of them) as kopf lists them at start
# set the heap's height for the rest of the process: a fragmented heap is not given back.
# kopf lists in pages of this many objects, and its per-object worker, which holds the
# last event's body while it waits for the next, exits after this idle time (kopf: 5 s).
# Measured with 1,000 instances: 148 -> 131 MiB steady after a restart (docs/performance.md).
_LIST_PAGE = 100
_WORKER_IDLE_SECONDS = 0.5


def _runtime(memo: Any) -> Runtime:
    runtime: Runtime = memo["runtime"]
    return runtime


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Set kopf up and build the process's runtime (clients, reconcilers, metrics) into `memo`."""
    config: OperatorConfig = memo.get("config") or OperatorConfig()
    # No handler requires a finalizer any more (run/kinds.py says why); named still so
    # that kopf removes the one older versions put on partners and profiles.
    settings.persistence.finalizer = constants.FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=constants.GROUP)
    settings.persistence.diffbase_storage = LeanDiffBaseStorage(
        prefix=constants.GROUP, key="last-handled-configuration"
    )
    settings.posting.enabled = True
    settings.posting.loggers = False
    settings.watching.chunk_size = _LIST_PAGE
    settings.queueing.idle_timeout = _WORKER_IDLE_SECONDS
    # Detect silently stalled watches (load balancers) and re-list.
    settings.watching.inactivity_timeout = 70
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    # kopf's own requests (patches, events); its watches keep the timeouts above.
    settings.networking.connect_timeout = _CONNECT_SECONDS
    settings.networking.request_timeout = config.kube_timeout_seconds
    # Served since before the election (commands._serve); built here when run without it.
    metrics: Metrics = memo.get("metrics") or Metrics()
    liveness: Liveness = memo.get("liveness") or Liveness(
        KubeCalls(), config.liveness_stuck_seconds
    )
    green_api = GreenApi(
        ClientOptions(
            read_timeout=config.greenapi_read_timeout,
            deadline=config.greenapi_deadline,
            lenient_bool_style=config.lenient_bool_style,
        ),
        observer=metrics.greenapi_call,
        allowed=AllowList(config.allowed_api_urls),
    )
    kube = Kube(
        load_api_client(
            config.kubeconfig,
            timeouts=KubeTimeouts(_CONNECT_SECONDS, config.kube_timeout_seconds),
            calls=liveness.calls,
        ),
        on_secret_read=metrics.secret_read,
        list_secrets=config.list_secrets,
    )
    gate = RolloutGate()
    runtime = memo["runtime"] = Runtime(
        config=config,
        green_api=green_api,
        kube=kube,
        reconciler=Reconciler(
            green_api,
            kube,
            clock=utcnow,
            listing_grace=timedelta(seconds=config.create_listing_grace_seconds),
            profiles=kube,
            rollout=gate,
            operator_namespace=config.operator_namespace,
            deletion_abandon_after=timedelta(seconds=config.deletion_abandon_after_seconds),
        ),
        partners=PartnerReconciler(green_api, kube, operator_namespace=config.operator_namespace),
        metrics=metrics,
        profiles=ProfileReconciler(kube, gate),
    )
    instances = memo["instances"] = Instances(runtime, _post)
    memo["kinds"] = Kinds(
        runtime,
        instances.scheduler,
        _post,
        [
            Partners(runtime),
            Partners(runtime, constants.CLUSTER_PARTNER_PLURAL),
            Profiles(runtime),
        ],
    )
    trimming = asyncio.create_task(trim_forever(config.heap_trim_seconds), name="heap trim")
    runtime.background.add(trimming)
    trimming.add_done_callback(runtime.background.discard)
    runtime.secret_recheck = asyncio.create_task(
        recheck_forever(
            kube,
            runtime.rechecked_secrets,
            runtime.wake_referencing,
            config.secret_recheck_seconds,
            kept=runtime.referenced_secrets,
        ),
        name="secret recheck",
    )
    liveness.started()


@kopf.on.cleanup()
async def shut_down(memo: kopf.Memo, **_: Any) -> None:
    """Stop the linking sessions and close the GREEN-API and Kubernetes clients."""
    runtime = memo.get("runtime")
    if runtime is None:
        return
    if runtime.secret_recheck is not None:
        runtime.secret_recheck.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runtime.secret_recheck
    for task in list(runtime.background):
        task.cancel()
    await asyncio.gather(*runtime.background, return_exceptions=True)
    instances: Instances | None = memo.get("instances")
    if instances is not None:
        await instances.stop()
    await runtime.green_api.aclose()
    runtime.kube.close()


@kopf.on.event(constants.GROUP, constants.VERSION, constants.PLURAL)
async def instance_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """Hand a WhatsAppInstance's watch event to the scheduler (kopf keeps nothing per object)."""
    instances: Instances | None = memo.get("instances")
    if instances is not None:
        # Started from a handler, not at startup: kopf's event posting needs the context
        # its handlers run in.
        instances.start()
        instances.observe(event.get("type"), event["object"])


_KINDS = {
    constants.PLURAL: constants.KIND,
    constants.PARTNER_PLURAL: constants.PARTNER_KIND,
    constants.CLUSTER_PARTNER_PLURAL: constants.CLUSTER_PARTNER_KIND,
    constants.PROFILE_PLURAL: constants.PROFILE_KIND,
}


@kopf.on.event(constants.GROUP, constants.VERSION, constants.PLURAL)
@kopf.on.event(constants.GROUP, constants.VERSION, constants.PARTNER_PLURAL)
@kopf.on.event(constants.GROUP, constants.VERSION, constants.PROFILE_PLURAL)
async def publish_signals(
    event: kopf.RawEvent, resource: kopf.Resource, memo: kopf.Memo, **_: Any
) -> None:
    """Per-object metrics from the status the API server holds, for the objects handled here."""
    runtime: Runtime | None = memo.get("runtime")
    if runtime is None:
        return
    obj = event["object"]
    metadata = obj.get("metadata") or {}
    kind = _KINDS[resource.plural]
    namespace, name = str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
    mine = kind != constants.PROFILE_KIND or shards.owns(
        runtime.config.shard_selector, metadata.get("labels")
    )
    if event.get("type") == "DELETED" or not mine:
        # Deleted, or moved to another shard: that shard publishes it now.
        runtime.metrics.forget_object(kind, namespace, name)
        return
    runtime.metrics.observe_object(kind, namespace, name, obj.get("status"))


@kopf.on.event(constants.GROUP, constants.VERSION, constants.PARTNER_PLURAL)
@kopf.on.event(constants.GROUP, constants.VERSION, constants.PROFILE_PLURAL)
async def kind_event(
    event: kopf.RawEvent, resource: kopf.Resource, memo: kopf.Memo, **_: Any
) -> None:
    """Hand a partner's or profile's watch event to the scheduler, as `instance_event` does."""
    kinds: Kinds | None = memo.get("kinds")
    instances: Instances | None = memo.get("instances")
    if kinds is not None and instances is not None:
        instances.start()  # the one scheduler, whichever kind's event comes first
        kinds.observe(resource.plural, event.get("type"), event["object"])


def register_cluster_partners(registry: kopf.OperatorRegistry | None = None) -> None:
    """Check ClusterWhatsAppPartners in this process (`--cluster-partners`, the default).

    Registered only here, not at import: a process that registers no handler for them
    does not watch them at all, so of several shards exactly one checks each.
    """
    for handler in (kind_event, publish_signals):
        kopf.on.event(
            constants.GROUP, constants.VERSION, constants.CLUSTER_PARTNER_PLURAL, registry=registry
        )(handler)


def _post(body: Mapping[str, Any], events: list[Event]) -> None:
    for event in events:
        kopf.event(
            cast(kopf.Body, body), type=event.type, reason=event.reason, message=event.message
        )
