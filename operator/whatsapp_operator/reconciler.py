"""One level-based reconcile: observe -> plan -> act -> report.

Called for creation, spec changes, resumption after a restart and the periodic
re-check alike; it never looks at what changed, only at what is and what should
be. Collaborators come in as Protocols (GREEN-API, Kubernetes Secrets), so the
whole cycle is testable without a network; decisions are delegated to the pure
modules `plan`, `conditions` and `linking`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import SecretStr

from whatsapp_operator import constants
from whatsapp_operator.conditions import Facts, Failure, desired_conditions, merge_conditions
from whatsapp_operator.events import Event, transition_events
from whatsapp_operator.greenapi import errors as gerr
from whatsapp_operator.greenapi.models import (
    AuthorizationCode,
    InstanceState,
    QrFrame,
    Settings,
    StateReport,
    WaSettings,
    parse_state,
)
from whatsapp_operator.kube import KubeError, Owner, SecretValue
from whatsapp_operator.linking import LinkingDecision, decide_linking, secret_name
from whatsapp_operator.linking_session import CodeStore, LinkingSession
from whatsapp_operator.plan import (
    DesiredSettings,
    SettingsOutcome,
    SettingsPlan,
    display,
    plan_settings,
    write_failed,
)
from whatsapp_operator.provisioning import (
    Deleter,
    Identity,
    ObjectStore,
    PartnerFactory,
    Provisioner,
    ProvisioningFailure,
    owned_token_secret,
)
from whatsapp_operator.redaction import register_secret
from whatsapp_operator.resource import (
    Account,
    DeletionPolicy,
    LastApplied,
    ManagementPolicy,
    WhatsAppInstance,
    WhatsAppInstanceStatus,
)
from whatsapp_operator.timestamps import format_time, parse_time

log = logging.getLogger(__name__)

# While a phone is being linked, the state is checked this often, so that the
# scan shows up in status promptly (GREEN-API suggests 5 s after creation).
LINKING_STATE_SECONDS = 10.0
WHILE_STARTING_SECONDS = 15.0
# GREEN-API's partner guide: poll getStateInstance every 5 s until the instance exists.
WHILE_CREATING_SECONDS = 5.0


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
    async def delete_secret(self, namespace: str, name: str) -> bool: ...


def _last_state(recorded: str) -> InstanceState | None:
    if not recorded:
        return None
    if recorded == InstanceState.CREATING.value:
        return InstanceState.CREATING
    return parse_state(recorded)


def default_api_url(instance_id: int) -> str:
    """The dedicated-host convention: https://{first 4 digits}.api.greenapi.com."""
    return f"https://{str(instance_id)[:4]}.api.greenapi.com"


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


def _failure_from_greenapi(
    error: gerr.GreenApiError, token_hint: str, api_url: str, instance_id: int
) -> Failure:
    if isinstance(error, gerr.TokenRejected):
        return Failure(
            "TokenRejected",
            f"GREEN-API rejected the token from {token_hint} (401); put the "
            f"instance's apiTokenInstance there",
            permanent=True,
        )
    if isinstance(error, gerr.InstanceRejected):
        return Failure(
            "InstanceRejected",
            f"GREEN-API rejected instance {instance_id} at {api_url} (403); check "
            f"spec.instance.id and spec.instance.apiUrl",
            permanent=True,
        )
    if isinstance(error, gerr.InstanceDeleted):
        return Failure(
            "InstanceDeleted", f"GREEN-API says instance {instance_id} is deleted", permanent=True
        )
    if isinstance(error, gerr.InstanceExpired):
        return Failure(
            "InstanceExpired",
            f"GREEN-API says the plan of instance {instance_id} has expired; renew "
            "it in the GREEN-API console",
            permanent=True,
        )
    if isinstance(error, gerr.QuotaExceeded):
        return Failure("QuotaExceeded", error.message, permanent=True)
    if isinstance(error, gerr.RequestRejected):
        return Failure(
            "SettingsRejected", f"GREEN-API rejected the settings: {error.message}", permanent=True
        )
    if isinstance(error, gerr.MethodRejected):
        return Failure(
            "ApiMismatch", f"{error.message}; check spec.instance.apiUrl", permanent=True
        )
    if isinstance(error, gerr.RateLimited):
        return Failure("RateLimited", error.message, permanent=False)
    return Failure("GreenApiUnavailable", error.message, permanent=False)


def _failure_from_partner(error: gerr.GreenApiError) -> Failure:
    if isinstance(error, gerr.PartnerTokenRejected):
        return Failure(
            "PartnerTokenRejected",
            "GREEN-API rejected the partner token of the referenced WhatsAppPartner",
            permanent=True,
        )
    if isinstance(error, gerr.PartnerError) and not error.retryable:
        return Failure("PartnerError", error.message, permanent=True)
    return Failure("GreenApiUnavailable", error.message, permanent=not error.retryable)


class Reconciler:
    def __init__(
        self,
        green_api: GreenApiFactory,
        secrets: SecretsApi,
        clock: Callable[[], datetime],
        rng: random.Random | None = None,
    ) -> None:
        self.green_api = green_api
        self.secrets = secrets
        self.clock = clock
        self.rng = rng or random.Random()
        self.provisioner = Provisioner(secrets, green_api)

    async def reconcile(
        self, body: dict[str, Any], memory: Memory, wake: Callable[[], None]
    ) -> Outcome:
        metadata = body.get("metadata", {})
        obj = WhatsAppInstance.model_validate(body)
        cycle = Cycle(
            obj=obj,
            now=self.clock(),
            generation=int(metadata.get("generation") or 0),
            namespace=str(metadata.get("namespace") or ""),
            name=str(metadata.get("name") or ""),
            annotations=dict(metadata.get("annotations") or {}),
            previous=obj.status,
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
            cycle.failure = Failure(exc.reason, exc.message, permanent=not exc.retryable)
            cycle.retry_after = 2.0 if exc.status == 409 else None
        except ProvisioningFailure as exc:
            cycle.failure = Failure(exc.reason, exc.message, permanent=exc.permanent)
            cycle.retry_after = exc.retry_after
        except gerr.GreenApiError as exc:
            cycle.failure = _failure_from_partner(exc)
            cycle.retry_after = exc.retry_after

        if api is not None and desired is not None and cycle.identity is not None:
            try:
                await self._cycle(cycle, api, desired, memory)
            except gerr.GreenApiError as exc:
                cycle.failure = _failure_from_greenapi(
                    exc, cycle.identity.token_hint, cycle.api_url, cycle.identity.instance_id
                )
                cycle.retry_after = exc.retry_after
            except KubeError as exc:
                cycle.failure = Failure(exc.reason, exc.message, permanent=not exc.retryable)

        linking = await self._linking(cycle, api, memory, wake)
        return self._report(cycle, memory, cycle.api_url, linking, desired)

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
            )
        except (gerr.GreenApiError, KubeError, ProvisioningFailure) as exc:
            message = (
                f"Deleting the GREEN-API instance failed ({exc.message}); retrying. "
                "Set spec.deletionPolicy to Orphan to finish the deletion without it"
            )
            delay = getattr(exc, "retry_after", None) or gerr.backoff_delay(
                attempt, base=5.0, cap=300.0, rng=self.rng
            )
            return Finalization(
                False,
                [Event("Warning", "DeletionFailed", message)],
                retry_after=delay,
                message=message,
            )
        return Finalization(True, list(result.events))

    def _api_url(self, cycle: Cycle, instance_id: int) -> str:
        return cycle.obj.spec.instance.api_url or default_api_url(instance_id)

    async def _identity(self, cycle: Cycle, desired: DesiredSettings) -> Identity:
        spec = cycle.obj.spec
        may_create = spec.management_policy is ManagementPolicy.MANAGE and not self._paused(cycle)
        known = spec.instance.id is not None or constants.ANNOTATION_INSTANCE_ID in (
            cycle.annotations
        )
        if not known and not may_create and not cycle.previous.instance_id:
            raise ProvisioningFailure(
                "CreationHeld",
                "No instance yet, and writes are held (paused or managementPolicy Observe)",
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
        if value and cycle.handled.get(action) != value:
            return value
        return None

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
            await self._write_settings(cycle, api, last_applied)
            # GREEN-API applies within minutes; the cached copy is stale from now on.
            memory.settings_read_at = cycle.now
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
        assert cycle.plan is not None
        assert cycle.plan.write is not None
        try:
            saved = await api.set_settings(cycle.plan.write)
        except gerr.GreenApiError as exc:
            # Nothing counts as sent, unless GREEN-API refused the values themselves.
            cycle.plan = write_failed(
                cycle.plan, previous, rejected=isinstance(exc, gerr.RequestRejected)
            )
            raise
        if not saved:
            cycle.plan = write_failed(cycle.plan, previous, rejected=False)
            raise gerr.UnexpectedResponse(
                "setSettings: GREEN-API answered saveSettings=false",
                method="setSettings",
                instance_id=cycle.instance_id,
            )

    async def _annotation_actions(self, cycle: Cycle, api: InstanceApi) -> None:
        reboot = self._pending_action(cycle, "reboot")
        if reboot is not None:
            await api.reboot()
            cycle.handled["reboot"] = reboot
            cycle.events.append(Event("Normal", "Rebooted", "Rebooted the instance on request"))
        logout = self._pending_action(cycle, "logout")
        if logout is not None:
            await api.logout()
            cycle.handled["logout"] = logout
            cycle.events.append(
                Event("Normal", "LoggedOut", "Logged the linked phone out on request")
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
        await api.reboot()
        cycle.last_auto_reboot = format_time(cycle.now)
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
                await self.secrets.delete_secret(cycle.namespace, secret_name(cycle.name))
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

    def _report(
        self,
        cycle: Cycle,
        memory: Memory,
        api_url: str,
        linking: LinkingDecision,
        desired: DesiredSettings | None,
    ) -> Outcome:
        previous = cycle.previous
        plan = cycle.plan or SettingsPlan(
            SettingsOutcome.UNOBSERVED,
            last_applied=previous.last_applied,
            drift=tuple(previous.drift),
        )
        state = cycle.state
        state_value = state.raw or state.state.value if state is not None else previous.state
        if state is not None and state.state is InstanceState.CREATING:
            state_value = InstanceState.CREATING.value
        state_since = previous.state_since
        if state_value != previous.state or not state_since:
            state_since = format_time(cycle.now)
        hint = linking.status.message if linking.status.secret_name else ""
        # A state that could not be read this time keeps its last known verdict.
        known_state = state.state if state is not None else _last_state(previous.state)
        account = memory.account or previous.account
        if known_state in (None, InstanceState.NOT_AUTHORIZED):
            account = memory.account if known_state is not None else previous.account
        facts = Facts(
            generation=cycle.generation,
            state=known_state,
            raw_state=state.raw if state is not None else previous.state or None,
            settings=plan.outcome,
            differing=tuple(d.field for d in plan.drift),
            failure=cycle.failure,
            require_authorization=cycle.obj.spec.authorization.required_for_readiness,
            linking_hint=hint,
            phone=account.phone if account else "",
        )
        conditions = merge_conditions(
            previous.conditions, desired_conditions(facts), cycle.generation, cycle.now
        )
        observed = {}
        if memory.settings is not None:
            for name, value in sorted(memory.settings.present().items()):
                alias = Settings.model_fields[name].alias or name
                observed[alias] = display(name, value)
        status = WhatsAppInstanceStatus(
            observed_generation=cycle.generation,
            conditions=conditions,
            instance_id=cycle.instance_id or cycle.previous.instance_id,
            api_url=api_url or previous.api_url,
            state=state_value,
            state_since=state_since,
            account=account,
            observed_settings=observed or previous.observed_settings,
            drift=list(plan.drift),
            last_applied=plan.last_applied,
            linking=linking.status,
            handled_actions=cycle.handled,
            last_auto_reboot=cycle.last_auto_reboot,
            last_error=cycle.failure.message if cycle.failure else "",
        )
        cycle.events.extend(transition_events(previous, status, plan))
        new_doc = status.model_dump(mode="json", by_alias=True, exclude_none=True)
        old_doc = previous.model_dump(mode="json", by_alias=True, exclude_none=True)
        patch = None
        if new_doc != old_doc:
            patch = dict(new_doc)
            for key in old_doc.keys() - new_doc.keys():
                patch[key] = None
        return Outcome(
            patch,
            cycle.events,
            self._requeue(cycle, memory, linking),
            status,
            plan.outcome,
            cycle.failure.reason if cycle.failure else None,
        )

    def _requeue(self, cycle: Cycle, memory: Memory, linking: LinkingDecision) -> float:
        intervals = cycle.obj.spec.intervals
        if cycle.failure is not None and not cycle.failure.permanent:
            memory.failures += 1
            base = cycle.retry_after or gerr.backoff_delay(
                memory.failures, base=5.0, cap=300.0, rng=self.rng
            )
            return max(1.0, base)
        memory.failures = 0
        delay = float(intervals.state_seconds)
        if linking.active:
            delay = min(delay, LINKING_STATE_SECONDS)
        if cycle.state is not None and cycle.state.state is InstanceState.STARTING:
            delay = min(delay, WHILE_STARTING_SECONDS)
        if cycle.state is not None and cycle.state.state is InstanceState.CREATING:
            delay = min(delay, WHILE_CREATING_SECONDS)
        plan = cycle.plan
        if plan is not None and plan.settle_ends is not None:
            until_settled = (plan.settle_ends - cycle.now).total_seconds() + 1.0
            delay = min(delay, max(1.0, until_settled))
        # Jitter spreads a fleet's polls so they do not arrive at GREEN-API together.
        return delay * self.rng.uniform(0.9, 1.1)
