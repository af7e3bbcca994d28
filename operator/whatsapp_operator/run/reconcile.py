"""One level-based reconcile: observe -> plan -> act -> report.

Called for creation, spec changes, resumption after a restart and the periodic
re-check alike; it never looks at what changed, only at what is and what should
be. Collaborators come in as Protocols (GREEN-API, Kubernetes Secrets, the
status recorder), so the whole cycle is testable without a network; decisions
are delegated to the pure modules `plan`, `linking`, `report` and `requeue`, and
every write to GREEN-API goes through the one gate in `effects`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import SecretStr

from whatsapp_operator import constants
from whatsapp_operator.api.resource import (
    Account,
    DeletionPolicy,
    LastApplied,
    ManagementPolicy,
    WhatsAppInstance,
    WhatsAppInstanceStatus,
)
from whatsapp_operator.decide import failures, requeue
from whatsapp_operator.decide.conditions import Failure
from whatsapp_operator.decide.events import Event
from whatsapp_operator.decide.linking import LinkingDecision, decide_linking, secret_name
from whatsapp_operator.decide.plan import (
    DesiredSettings,
    SettingsOutcome,
    SettingsPlan,
    plan_settings,
    write_failed,
    write_unconfirmed,
)
from whatsapp_operator.decide.report import Observed, build_report
from whatsapp_operator.decide.statusdiff import apply_merge_patch
from whatsapp_operator.logsetup import ObjectLogAdapter, object_logger
from whatsapp_operator.ports import (
    Effect,
    IntentNotRecorded,
    KubeError,
    Owner,
    ProvisioningFailure,
    SecretValue,
)
from whatsapp_operator.redaction import register_secret
from whatsapp_operator.run.effects import Result, SideEffects
from whatsapp_operator.run.linking_session import CodeStore, LinkingSession
from whatsapp_operator.run.provisioning import (
    LISTING_GRACE,
    Deleter,
    Identity,
    ObjectStore,
    PartnerFactory,
    Provisioner,
    owned_token_secret,
)
from whatsapp_operator.timestamps import format_time, parse_time
from whatsapp_operator.wire import errors as gerr
from whatsapp_operator.wire.models import (
    AuthorizationCode,
    InstanceState,
    QrFrame,
    Settings,
    StateReport,
    WaSettings,
)

log = logging.getLogger(__name__)


def _object_log(namespace: str, name: object) -> ObjectLogAdapter:
    return object_logger(log, namespace, str(name), kind=constants.KIND)


# Deleting with credentials gone (a namespace being deleted takes the partner and its
# token Secret too): after this many attempts the resource is let go, with a Warning
# that names the instance left behind, so namespace deletion always finishes.
DELETE_ATTEMPTS_WITHOUT_CREDENTIALS = 3

# Writes a merge patch to the object's status, durably, before a side effect.
StatusRecorder = Callable[[dict[str, Any]], Awaitable[None]]


class InstanceApi(Protocol):
    async def get_state(self) -> StateReport: ...
    async def get_settings(self) -> Settings: ...
    async def set_settings(self, settings: Settings) -> bool: ...
    async def get_wa_settings(self) -> WaSettings: ...
    async def reboot(self) -> bool: ...
    async def logout(self) -> bool: ...
    async def qr(self) -> QrFrame: ...
    def scan_qr_code(self) -> AsyncIterator[QrFrame]: ...
    async def get_authorization_code(self, phone_number: int) -> AuthorizationCode: ...


class GreenApiFactory(PartnerFactory, Protocol):
    def instance(
        self, *, api_url: str, id_instance: int, token: SecretStr | str
    ) -> InstanceApi: ...


class SecretsApi(CodeStore, ObjectStore, Protocol):
    async def read_secret_key(self, namespace: str, name: str, key: str) -> SecretValue: ...
    async def delete_secret(
        self, namespace: str, name: str, *, owner_uid: str, role: str
    ) -> bool: ...


def default_api_url(instance_id: int) -> str:
    """The dedicated-host convention: https://{first 4 digits}.api.greenapi.com."""
    return f"https://{str(instance_id)[:4]}.api.greenapi.com"


def _moment(value: str) -> datetime | None:
    """An action annotation's value as a time: unix seconds or RFC 3339; else None."""
    text = value.strip()
    try:
        return datetime.fromtimestamp(float(text)).astimezone()
    except (ValueError, OverflowError, OSError):
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def requested_before_creation(value: str, created: str) -> bool:
    """True for an action stamped before the object existed: a restored or re-applied
    manifest still carrying it, not a request made to this object."""
    moment = _moment(value)
    if moment is None or not created or moment.tzinfo is None:
        return False
    try:
        return moment < parse_time(created)
    except ValueError:
        return False


@dataclass
class Memory:
    """What one object's reconciles remember between runs (in-process only).

    Everything here can be lost on restart: status and GREEN-API hold the truth.
    """

    settings: Settings | None = None
    settings_read_at: datetime | None = None
    settings_read_generation: int | None = None
    account: Account | None = None
    session: LinkingSession | None = None
    referenced_secrets: frozenset[tuple[str, str]] = frozenset()
    failures: int = 0
    # Deleting an absent Secret is still a write: remember that it is gone.
    linking_secret_removed: bool = False
    # What the connection Secret was last written with (a hash; never the values).
    connection_fingerprint: str = ""
    # The WhatsAppPartner this object uses, so a change there can wake it.
    partner: tuple[str, str] | None = None


@dataclass
class Outcome:
    status_patch: dict[str, Any] | None
    events: list[Event]
    requeue_after: float
    status: WhatsAppInstanceStatus
    settings: SettingsOutcome = SettingsOutcome.UNOBSERVED
    failure_reason: str | None = None
    # The whole status document the patch leads to (what the API server will hold).
    document: dict[str, Any] = field(default_factory=dict)


@dataclass
class Finalization:
    """What deleting a resource needs: done, or retry later with a reason."""

    done: bool
    events: list[Event]
    retry_after: float = 0.0
    message: str = ""


@dataclass
class Cycle:
    """Working state of one reconcile."""

    obj: WhatsAppInstance
    now: datetime
    generation: int
    namespace: str
    name: str
    annotations: dict[str, str]
    previous: WhatsAppInstanceStatus
    # The status as the API server holds it: the last report plus intents recorded since.
    stored: dict[str, Any]
    effects: SideEffects
    record: StatusRecorder | None
    events: list[Event] = field(default_factory=list)
    handled: dict[str, str] = field(default_factory=dict)
    failure: Failure | None = None
    retry_after: float | None = None
    state: StateReport | None = None
    plan: SettingsPlan | None = None
    last_auto_reboot: str = ""
    identity: Identity | None = None
    instance_id: int | None = None
    api_url: str = ""

    def fail(self, setback: failures.Setback) -> None:
        self.failure = setback.failure
        self.retry_after = setback.retry_after

    @property
    def deleting(self) -> bool:
        return bool(self.obj.metadata.get("deletionTimestamp"))


class Reconciler:
    """Runs the reconcile of one WhatsAppInstance and its finalization."""

    def __init__(
        self,
        green_api: GreenApiFactory,
        secrets: SecretsApi,
        clock: Callable[[], datetime],
        rng: random.Random | None = None,
        listing_grace: timedelta = LISTING_GRACE,
    ) -> None:
        self.green_api = green_api
        self.secrets = secrets
        self.clock = clock
        self.rng = rng or random.Random()
        self.provisioner = Provisioner(secrets, green_api, listing_grace=listing_grace)

    async def reconcile(
        self,
        body: dict[str, Any],
        memory: Memory,
        wake: Callable[[], None],
        record: StatusRecorder | None = None,
    ) -> Outcome:
        """Observe, plan, act through the side-effect gate, and report.

        `record` writes a status merge patch before each side effect (the intent);
        without it (unit tests) intents are only kept in the cycle.
        """
        metadata = body.get("metadata", {})
        obj = WhatsAppInstance.model_validate(body)
        namespace = str(metadata.get("namespace") or "")
        name = str(metadata.get("name") or "")
        cycle = Cycle(
            obj=obj,
            now=self.clock(),
            generation=int(metadata.get("generation") or 0),
            namespace=namespace,
            name=name,
            annotations=dict(metadata.get("annotations") or {}),
            previous=obj.status,
            stored=dict(body.get("status") or {}),
            effects=SideEffects(namespace, name),
            record=record,
            handled=dict(obj.status.handled_actions),
            last_auto_reboot=obj.status.last_auto_reboot,
        )
        memory.referenced_secrets = self._referenced(cycle)
        partner_ref = obj.spec.partner_ref
        memory.partner = (cycle.namespace, partner_ref.name) if partner_ref else None

        desired: DesiredSettings | None = None
        api: InstanceApi | None = None
        try:
            desired = await self._desired(cycle)
            identity = await self._identity(cycle, desired)
            cycle.instance_id = identity.instance_id
            cycle.api_url = self._api_url(cycle, identity.instance_id)
            cycle.identity = identity
            api = self.green_api.instance(
                api_url=cycle.api_url, id_instance=identity.instance_id, token=identity.token.value
            )
            await self._connection_secret(cycle, identity, memory)
        except KubeError as exc:
            cycle.fail(failures.from_kube(exc))
        except ProvisioningFailure as exc:
            cycle.fail(failures.from_provisioning(exc))
        except gerr.GreenApiError as exc:
            cycle.fail(failures.from_partner(exc))

        if api is not None and desired is not None and cycle.identity is not None:
            try:
                await self._cycle(cycle, api, desired, memory)
            except gerr.GreenApiError as exc:
                cycle.fail(
                    failures.from_greenapi(
                        exc, cycle.identity.token_hint, cycle.api_url, cycle.identity.instance_id
                    )
                )
            except KubeError as exc:
                cycle.fail(failures.from_kube(exc))
            except IntentNotRecorded as exc:
                cycle.fail(failures.from_intent(exc))

        linking = await self._linking(cycle, api, memory, wake)
        return self._report(cycle, memory, linking)

    async def finalize(self, body: dict[str, Any], attempt: int = 0) -> Finalization:
        """deletionPolicy Delete: remove the GREEN-API instance before the resource goes."""
        obj = WhatsAppInstance.model_validate(body)
        metadata = body.get("metadata", {})
        namespace, name = str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
        annotations = dict(metadata.get("annotations") or {})
        if obj.spec.deletion_policy is not DeletionPolicy.DELETE:
            return Finalization(True, [])
        if constants.is_paused(annotations):
            return Finalization(
                True,
                [
                    Event(
                        "Warning",
                        "DeletionOrphaned",
                        "The resource is paused: its GREEN-API instance was left in place",
                    )
                ],
            )
        deleter = Deleter(self.provisioner, self.green_api.instance)
        try:
            result = await deleter.delete(
                obj,
                namespace=namespace,
                name=name,
                api_url_for=lambda instance_id: (
                    obj.spec.instance.api_url or default_api_url(instance_id)
                ),
                now=self.clock(),
            )
        except (gerr.GreenApiError, KubeError, ProvisioningFailure) as exc:
            return self._deletion_failed(obj, annotations, exc, attempt)
        return Finalization(True, list(result.events))

    def _deletion_failed(
        self,
        obj: WhatsAppInstance,
        annotations: dict[str, str],
        exc: gerr.GreenApiError | KubeError | ProvisioningFailure,
        attempt: int,
    ) -> Finalization:
        permanent = exc.permanent if isinstance(exc, ProvisioningFailure) else not exc.retryable
        if permanent and attempt + 1 >= DELETE_ATTEMPTS_WITHOUT_CREDENTIALS:
            left = (
                obj.spec.instance.id
                or annotations.get(constants.ANNOTATION_INSTANCE_ID)
                or obj.status.instance_id
            )
            what = (
                f"instance {left}"
                if left
                else f"the instance named {annotations.get(constants.ANNOTATION_CREATE_PENDING)!r}"
                if annotations.get(constants.ANNOTATION_CREATE_PENDING)
                else "no known instance"
            )
            message = (
                f"Could not delete the GREEN-API instance after {attempt + 1} attempts "
                f"({exc.message}); {what} was left in place: delete it in the GREEN-API console"
            )
            log.warning("%s", message)
            return Finalization(True, [Event("Warning", "DeletionAbandoned", message)])
        message = (
            f"Deleting the GREEN-API instance failed ({exc.message}); retrying. "
            "Set spec.deletionPolicy to Orphan to finish the deletion without it"
        )
        retry_after = exc.retry_after if not isinstance(exc, KubeError) else None
        delay = requeue.after_failure(attempt + 1, retry_after, self.rng)
        return Finalization(
            False,
            [Event("Warning", "DeletionFailed", message)],
            retry_after=delay,
            message=message,
        )

    def _api_url(self, cycle: Cycle, instance_id: int) -> str:
        return cycle.obj.spec.instance.api_url or default_api_url(instance_id)

    async def _identity(self, cycle: Cycle, desired: DesiredSettings) -> Identity:
        spec = cycle.obj.spec
        # An object being deleted never starts a creation: its finalizer could miss it.
        may_create = (
            spec.management_policy is ManagementPolicy.MANAGE
            and not self._paused(cycle)
            and not cycle.deleting
        )
        known = spec.instance.id is not None or constants.ANNOTATION_INSTANCE_ID in (
            cycle.annotations
        )
        if not known and not may_create and not cycle.previous.instance_id:
            raise ProvisioningFailure(
                "CreationHeld",
                "No instance yet, and writes are held (paused, being deleted, or "
                "managementPolicy Observe)",
                permanent=False,
                retry_after=60.0,
            )
        settings = Settings.model_validate(desired.values) if desired.values else None
        return await self.provisioner.resolve(
            cycle.obj, namespace=cycle.namespace, name=cycle.name, desired=settings, now=cycle.now
        )

    async def _connection_secret(self, cycle: Cycle, identity: Identity, memory: Memory) -> None:
        target = cycle.obj.spec.connection_secret
        if target is None:
            return
        media_url = cycle.obj.spec.instance.media_url or cycle.api_url.replace(".api.", ".media.")
        data = {
            "idInstance": str(identity.instance_id),
            "apiUrl": cycle.api_url,
            "mediaUrl": media_url,
            "apiTokenInstance": identity.token.value.get_secret_value(),
        }
        fingerprint = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
        if memory.connection_fingerprint == fingerprint:
            return
        uid = str(cycle.obj.metadata.get("uid") or "")
        await self.secrets.apply_secret(
            cycle.namespace,
            target.name,
            data={k: v.encode() for k, v in data.items()},
            owner=Owner(cycle.name, uid),
            labels={
                constants.LABEL_MANAGED_BY: "whatsapp-operator",
                constants.LABEL_INSTANCE_NAME: cycle.name,
                constants.LABEL_SECRET_ROLE: "connection",
            },
            annotations={},
        )
        memory.connection_fingerprint = fingerprint

    # ------------------------------------------------------------------ observe + act

    def _referenced(self, cycle: Cycle) -> frozenset[tuple[str, str]]:
        token_ref = cycle.obj.spec.instance.token_secret_ref
        refs = {
            (
                cycle.namespace,
                token_ref.name if token_ref is not None else owned_token_secret(cycle.name),
            )
        }
        hook = cycle.obj.spec.settings.webhook_url_token_secret_ref
        if hook is not None:
            refs.add((cycle.namespace, hook.name))
        return frozenset(refs)

    async def _desired(self, cycle: Cycle) -> DesiredSettings:
        spec_settings = cycle.obj.spec.settings
        values = spec_settings.managed()
        version = ""
        hook = spec_settings.webhook_url_token_secret_ref
        if hook is not None:
            secret = await self.secrets.read_secret_key(cycle.namespace, hook.name, hook.key)
            values["webhook_url_token"] = secret.value
            version = secret.version
        return DesiredSettings(values=values, version=version)

    def _pending_action(self, cycle: Cycle, action: str) -> str | None:
        value = cycle.annotations.get(constants.ACTION_ANNOTATIONS[action])
        if not value or cycle.handled.get(action) == value:
            return None
        created = str(cycle.obj.metadata.get("creationTimestamp") or "")
        if requested_before_creation(value, created):
            # A restore or re-create keeps the annotation but drops status: without this,
            # a manifest in Git carrying logout-requested-at logs the phone out again.
            _object_log(cycle.namespace, cycle.name).info(
                "%s requested at %s, before the object was created: not performed",
                action,
                value,
            )
            cycle.handled[action] = value
            return None
        return value

    async def _record(self, cycle: Cycle, patch: dict[str, Any]) -> None:
        """Write an intent to status before acting; what is stored is tracked for the diff."""
        if cycle.record is not None:
            await cycle.record(patch)
            cycle.stored = apply_merge_patch(cycle.stored, patch)

    def _paused(self, cycle: Cycle) -> bool:
        return constants.is_paused(cycle.annotations)

    def _settings_due(self, cycle: Cycle, memory: Memory, force: bool) -> bool:
        if force or memory.settings is None or memory.settings_read_at is None:
            return True
        if memory.settings_read_generation != cycle.generation:
            return True
        interval = timedelta(seconds=cycle.obj.spec.intervals.settings_seconds)
        if cycle.now - memory.settings_read_at >= interval:
            return True
        last = cycle.previous.last_applied
        if last is not None and not last.confirmed:
            # Re-read as soon as GREEN-API's settle window for our last write is over.
            settle_end = parse_time(last.time) + timedelta(
                seconds=cycle.obj.spec.intervals.settle_seconds
            )
            return memory.settings_read_at < settle_end <= cycle.now
        return False

    async def _cycle(
        self, cycle: Cycle, api: InstanceApi, desired: DesiredSettings, memory: Memory
    ) -> None:
        spec = cycle.obj.spec
        paused = self._paused(cycle)
        writes_allowed = spec.management_policy is ManagementPolicy.MANAGE and not paused

        reconcile_request = self._pending_action(cycle, "reconcile")
        if reconcile_request is not None:
            cycle.handled["reconcile"] = reconcile_request
        if writes_allowed:
            await self._annotation_actions(cycle, api)

        cycle.state = await self._read_state(cycle, api)
        state = cycle.state.state
        if state in (InstanceState.CREATING, InstanceState.STARTING):
            # getSettings would fail or show stale values while the instance boots.
            if memory.settings is None:
                cycle.plan = SettingsPlan(
                    SettingsOutcome.UNOBSERVED,
                    last_applied=cycle.previous.last_applied,
                    drift=tuple(cycle.previous.drift),
                )
                await self._auto_heal(cycle, api, writes_allowed)
                return
        elif self._settings_due(cycle, memory, force=reconcile_request is not None):
            memory.settings = await api.get_settings()
            proxy = memory.settings.proxy_instance
            if proxy and proxy != "system proxy":
                register_secret(proxy)
            memory.settings_read_at = cycle.now
            memory.settings_read_generation = cycle.generation

        if state is InstanceState.AUTHORIZED:
            if memory.account is None or not memory.account.phone:
                wa = await api.get_wa_settings()
                wid = memory.settings.wid if memory.settings is not None else ""
                memory.account = Account(
                    phone=wa.phone,
                    # getSettings read before the scan has no wid yet; it is phone@c.us.
                    wid=wid or (f"{wa.phone}@c.us" if wa.phone else ""),
                    device_id=wa.device_id,
                    avatar_url=wa.avatar,
                )
        elif state is InstanceState.NOT_AUTHORIZED:
            # Only an unlinked instance loses its account; a reboot or an outage does not.
            memory.account = None

        last_applied = cycle.previous.last_applied
        if (
            reconcile_request is not None
            and last_applied is not None
            and not last_applied.confirmed
        ):
            # A person asked for a fresh attempt: forget the give-up bookkeeping.
            last_applied = None
        cycle.plan = plan_settings(
            desired=desired,
            observed=memory.settings,
            state=state,
            last_applied=last_applied,
            previous_drift=tuple(cycle.previous.drift),
            policy=spec.management_policy,
            paused=paused,
            settle=timedelta(seconds=spec.intervals.settle_seconds),
            now=cycle.now,
        )
        if cycle.plan.write is not None and writes_allowed:
            # GREEN-API applies within minutes; the cached copy is stale from now on.
            memory.settings_read_at = cycle.now
            await self._write_settings(cycle, api, last_applied)
        await self._auto_heal(cycle, api, writes_allowed)

    async def _read_state(self, cycle: Cycle, api: InstanceApi) -> StateReport:
        try:
            return await api.get_state()
        except (gerr.TokenRejected, gerr.InstanceExpired, gerr.InstanceNotAuthorized):
            # Right after createInstance GREEN-API has answered 401 and 400 "expired"
            # for a while (ISS#306, ISS#197): that is "still creating", not a bad token.
            identity = cycle.identity
            still_creating = cycle.previous.state in ("", InstanceState.CREATING.value)
            if identity is not None and still_creating and identity.recently_created(cycle.now):
                return StateReport(state=InstanceState.CREATING, raw=None)
            raise

    async def _write_settings(
        self, cycle: Cycle, api: InstanceApi, previous: LastApplied | None
    ) -> None:
        plan = cycle.plan
        assert plan is not None
        assert plan.write is not None
        assert plan.last_applied is not None
        write, intent = plan.write, plan.last_applied
        detail = (
            f"instance {cycle.instance_id}, {plan.outcome.value}, fields "
            f"{', '.join(intent.fields)}, attempt {intent.attempts}"
        )

        async def record() -> None:
            await self._record(
                cycle, {"lastApplied": intent.model_dump(mode="json", by_alias=True)}
            )

        try:
            performed = await cycle.effects.perform(
                Effect.SET_SETTINGS, lambda: api.set_settings(write), record=record, detail=detail
            )
        except IntentNotRecorded:
            cycle.plan = write_failed(plan, previous, rejected=False)
            raise
        if performed.result is Result.UNKNOWN:
            # Maybe applied: getSettings after the settle window decides, never a resend.
            cycle.plan = write_unconfirmed(plan)
            return
        if performed.error is not None:
            cycle.plan = write_failed(plan, previous, rejected=performed.result is Result.REFUSED)
            raise performed.error
        if not performed.value:
            cycle.plan = write_failed(plan, previous, rejected=False)
            raise gerr.UnexpectedResponse(
                "setSettings: GREEN-API answered saveSettings=false",
                method="setSettings",
                instance_id=cycle.instance_id,
            )

    async def _annotation_actions(self, cycle: Cycle, api: InstanceApi) -> None:
        actions = (
            ("reboot", Effect.REBOOT, api.reboot, "Rebooted", "Rebooted the instance on request"),
            (
                "logout",
                Effect.LOGOUT,
                api.logout,
                "LoggedOut",
                "Logged the linked phone out on request",
            ),
        )
        for action, effect, call, reason, message in actions:
            value = self._pending_action(cycle, action)
            if value is None:
                continue

            async def record(action: str = action, value: str = value) -> None:
                await self._record(cycle, {"handledActions": {action: value}})

            performed = await cycle.effects.perform(
                effect,
                call,
                record=record,
                detail=f"instance {cycle.instance_id}, requested {value}",
            )
            if performed.result is Result.NOT_SENT and performed.error is not None:
                raise performed.error  # not done: the next cycle tries again, after backoff
            cycle.handled[action] = value
            if performed.result is Result.DONE:
                cycle.events.append(Event("Normal", reason, message))
            else:
                error = performed.error.message if performed.error is not None else ""
                cycle.events.append(
                    Event(
                        "Warning",
                        f"{effect.value.capitalize()}Unconfirmed",
                        f"{effect.value} on request got no usable answer ({error}); "
                        "it is not sent again: set the annotation anew to retry",
                    )
                )

    async def _auto_heal(self, cycle: Cycle, api: InstanceApi, writes_allowed: bool) -> None:
        heal = cycle.obj.spec.auto_heal
        if not (heal.enabled and writes_allowed and cycle.state is not None):
            return
        if cycle.state.state is not InstanceState.STARTING or not cycle.previous.state_since:
            return
        if cycle.previous.state != InstanceState.STARTING.value:
            return
        stuck_for = cycle.now - parse_time(cycle.previous.state_since)
        if stuck_for < timedelta(minutes=heal.starting_minutes):
            return
        if cycle.last_auto_reboot and cycle.now - parse_time(cycle.last_auto_reboot) < timedelta(
            minutes=heal.cooldown_minutes
        ):
            return
        stamp = format_time(cycle.now)

        async def record() -> None:
            await self._record(cycle, {"lastAutoReboot": stamp})

        performed = await cycle.effects.perform(
            Effect.REBOOT,
            api.reboot,
            record=record,
            detail=f"instance {cycle.instance_id}, auto-heal after {stuck_for}",
        )
        if performed.result is Result.NOT_SENT and performed.error is not None:
            raise performed.error
        # Done or maybe done: the cooldown starts either way, so a lost answer is no loop.
        cycle.last_auto_reboot = stamp
        cycle.events.append(
            Event(
                "Warning",
                "AutoRebooted",
                f"The instance was starting for {int(stuck_for.total_seconds() // 60)} minutes; "
                "rebooted it as GREEN-API advises",
            )
        )

    async def _linking(
        self, cycle: Cycle, api: InstanceApi | None, memory: Memory, wake: Callable[[], None]
    ) -> LinkingDecision:
        spec = cycle.obj.spec.authorization
        relink = self._pending_action(cycle, "relink")
        if relink is not None:
            cycle.handled["relink"] = relink
        state = cycle.state.state if cycle.state is not None else None
        session = memory.session
        decision = decide_linking(
            resource=cycle.name,
            state=state,
            spec=spec,
            previous=cycle.previous.linking,
            relink_requested=relink is not None,
            refreshed_at=session.state.refreshed_at if session is not None else None,
            now=cycle.now,
        )
        wanted = decision.active and api is not None and not self._paused(cycle)
        if session is not None and (
            not wanted or relink is not None or session.method is not spec.method
        ):
            await session.stop()
            memory.session = session = None
        if wanted and session is None and api is not None:
            uid = str(cycle.obj.metadata.get("uid") or "")
            session = LinkingSession(
                namespace=cycle.namespace,
                resource=cycle.name,
                secret_name=secret_name(cycle.name),
                owner=Owner(cycle.name, uid),
                method=spec.method,
                phone_number=spec.phone_number,
                api=api,
                store=self.secrets,
                wake=wake,
                clock=self.clock,
            )
            memory.session = session
            session.start()
        if session is not None:
            memory.linking_secret_removed = False
        if decision.remove_codes and not memory.linking_secret_removed:
            try:
                await self.secrets.delete_secret(
                    cycle.namespace,
                    secret_name(cycle.name),
                    owner_uid=str(cycle.obj.metadata.get("uid") or ""),
                    role=constants.ROLE_LINKING,
                )
                memory.linking_secret_removed = True
            except KubeError as exc:
                log.warning(
                    "Could not delete linking Secret of %s/%s: %s",
                    cycle.namespace,
                    cycle.name,
                    exc.message,
                )
        return decision

    # ------------------------------------------------------------------ report

    def _report(self, cycle: Cycle, memory: Memory, linking: LinkingDecision) -> Outcome:
        seen = Observed(
            generation=cycle.generation,
            now=cycle.now,
            state=cycle.state,
            plan=cycle.plan,
            failure=cycle.failure,
            settings=memory.settings,
            account=memory.account,
            instance_id=cycle.instance_id,
            api_url=cycle.api_url,
            handled=cycle.handled,
            last_auto_reboot=cycle.last_auto_reboot,
            require_authorization=cycle.obj.spec.authorization.required_for_readiness,
        )
        report = build_report(cycle.previous, cycle.stored, seen, linking)
        return Outcome(
            report.patch,
            [*cycle.events, *report.events],
            self._requeue(cycle, memory, linking, report.plan),
            report.status,
            report.plan.outcome,
            cycle.failure.reason if cycle.failure else None,
            report.document,
        )

    def _requeue(
        self, cycle: Cycle, memory: Memory, linking: LinkingDecision, plan: SettingsPlan
    ) -> float:
        if cycle.failure is not None and not cycle.failure.permanent:
            memory.failures += 1
            cap = requeue.failure_cap(float(cycle.obj.spec.intervals.state_seconds))
            return requeue.after_failure(memory.failures, cycle.retry_after, self.rng, cap)
        memory.failures = 0
        motion = requeue.Motion(
            state_seconds=float(cycle.obj.spec.intervals.state_seconds),
            state=cycle.state.state if cycle.state is not None else None,
            linking=linking.active,
            settle_ends=plan.settle_ends,
            now=cycle.now,
        )
        return requeue.after_success(motion, self.rng)
