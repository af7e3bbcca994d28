"""Prepare: what a reconcile works toward, and on.

The desired settings (the built-in profile, the referenced WhatsAppSettingsProfile and
`spec.settings` layered, the webhook token read), the instance (adopted, re-bound or
created once), its plan and token rotation, and the connection Secret to write at the
end of the cycle. Before any Secret is read, a URL outside the allow-list gets nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from whatsapp_operator import constants
from whatsapp_operator.api.lifecycle import PlanStatus, TokenRotationStatus
from whatsapp_operator.api.resource import ManagementPolicy, SettingsSpec
from whatsapp_operator.decide import failures
from whatsapp_operator.decide.events import rebound_event
from whatsapp_operator.decide.plan import DesiredSettings
from whatsapp_operator.ports import IntentNotRecorded, KubeError, ProvisioningFailure
from whatsapp_operator.ports.greenapi import GreenApiFactory
from whatsapp_operator.ports.kubernetes import ProfileReader, SecretsApi
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run.connection_secret import ConnectionSecret, connection_secret
from whatsapp_operator.run.cycle import Inputs, ProfileContext, Settled, default_api_url
from whatsapp_operator.run.journal import Journal
from whatsapp_operator.run.memory import Memory
from whatsapp_operator.run.plans import PlanListings, read_plan
from whatsapp_operator.run.profile_step import layered_spec
from whatsapp_operator.run.provisioning import Identity, Provisioner, owned_token_secret
from whatsapp_operator.run.token_rotation import TokenRotation
from whatsapp_operator.wire import errors as gerr
from whatsapp_operator.wire.models import Settings


@dataclass(frozen=True)
class Prepared:
    """The desired settings and the settled identity, or what kept them from being known."""

    memory: Memory
    account_plan: PlanStatus | None
    token_rotation: TokenRotationStatus | None
    desired: DesiredSettings | None = None
    profile: ProfileContext | None = None
    settled: Settled | None = None
    setback: failures.Setback | None = None
    # The connection Secret to write at the end of the cycle, if it is to change.
    connection: ConnectionSecret | None = None


def _prepare_setback(
    exc: KubeError | ProvisioningFailure | gerr.GreenApiError | IntentNotRecorded,
) -> failures.Setback:
    if isinstance(exc, KubeError):
        return failures.from_kube(exc)
    if isinstance(exc, ProvisioningFailure):
        return failures.from_provisioning(exc)
    if isinstance(exc, gerr.GreenApiError):
        return failures.from_partner(exc)
    # A token rotation's intent: no call was made, the old token stands.
    return failures.from_intent(exc)


class Preparation:
    """The prepare stage of a reconcile, with the clients it reads through."""

    def __init__(
        self,
        green_api: GreenApiFactory,
        secrets: SecretsApi,
        profiles: ProfileReader | None,
        provisioner: Provisioner,
        plans: PlanListings,
        rotation: TokenRotation,
    ) -> None:
        self.green_api = green_api
        self.secrets = secrets
        self.profiles = profiles
        self.provisioner = provisioner
        self.plans = plans
        self.rotation = rotation

    async def prepare(self, inputs: Inputs, journal: Journal, memory: Memory) -> Prepared:
        """The desired settings, the settled identity and its client; or the setback."""
        desired: DesiredSettings | None = None
        profile: ProfileContext | None = None
        settled: Settled | None = None
        account_plan = inputs.previous.plan
        token_rotation = inputs.previous.token_rotation
        setback: failures.Setback | None = None
        connection: ConnectionSecret | None = None
        try:
            # Before any Secret is read: a URL outside the allow-list gets nothing.
            self._admit_endpoints(inputs)
            layered = await layered_spec(inputs, self.profiles)
            profile = layered.profile
            memory = self.note_secrets(inputs, memory, layered.spec)
            desired = await self._desired(inputs, layered.spec)
            identity = await self._identity(inputs, desired)
            if identity.rebound_from is not None:
                journal.note(
                    rebound_event(
                        identity.instance_id, identity.rebound_from, inputs.namespace, inputs.name
                    )
                )
            settled = Settled(identity, self._api_url(inputs, identity.instance_id))
            account_plan = await read_plan(inputs, self.plans, identity.instance_id)
            # A rotation, or the recovery of one whose answer was lost, comes before any
            # instance call: the client handed on carries the token to use from now on.
            rotation = await self.rotation.step(inputs, journal, settled, memory)
            memory, token_rotation = rotation.memory, rotation.status
            settled = replace(settled, identity=rotation.identity, api=rotation.api)
            if rotation.error is not None:
                setback = _prepare_setback(rotation.error)
            else:
                connection = connection_secret(inputs, settled, memory)
        except (KubeError, ProvisioningFailure, gerr.GreenApiError, IntentNotRecorded) as exc:
            setback = _prepare_setback(exc)
        return Prepared(
            memory, account_plan, token_rotation, desired, profile, settled, setback, connection
        )

    def note_secrets(self, inputs: Inputs, memory: Memory, settings: SettingsSpec) -> Memory:
        """The Secrets this object reads, and those of them re-read while it is idle.

        Only a webhook token's change shows nowhere else; a token Secret's change shows
        as GREEN-API refusing the old token, and a failing object's Secrets are rechecked.
        """
        hook = settings.webhook_url_token_secret_ref
        rechecked = {(inputs.namespace, hook.name)} if hook is not None else set()
        token = self._token_secret(inputs)
        if inputs.obj.spec.instance.token_secret_ref is None:
            # The operator's own token Secret (partner mode): if it goes (a restore whose
            # old Secrets were collected, a person), the operator writes it again.
            rechecked.add(token)
        referenced = frozenset({*rechecked, token})
        if referenced == memory.referenced_secrets and rechecked == memory.rechecked_secrets:
            return memory
        return replace(
            memory, referenced_secrets=referenced, rechecked_secrets=frozenset(rechecked)
        )

    def _admit_endpoints(self, inputs: Inputs) -> None:
        instance = inputs.obj.spec.instance
        for field, url in (
            ("spec.instance.apiUrl", instance.api_url),
            ("spec.instance.mediaUrl", instance.media_url),
        ):
            if url is not None:
                self.green_api.admit(url, field)

    def _api_url(self, inputs: Inputs, instance_id: int) -> str:
        return inputs.obj.spec.instance.api_url or default_api_url(instance_id)

    async def _identity(self, inputs: Inputs, desired: DesiredSettings) -> Identity:
        spec = inputs.obj.spec
        # An object being deleted never starts a creation: its finalizer could miss it.
        may_create = (
            spec.management_policy is ManagementPolicy.MANAGE
            and not inputs.paused
            and not inputs.deleting
        )
        known = spec.instance.id is not None or constants.ANNOTATION_INSTANCE_ID in (
            inputs.annotations
        )
        if not known and not may_create and not inputs.previous.instance_id:
            raise ProvisioningFailure(
                Reason.CREATION_HELD,
                "No instance yet, and writes are held (paused, being deleted, or "
                "managementPolicy Observe)",
                permanent=False,
                retry_after=60.0,
            )
        settings = Settings.model_validate(desired.values) if desired.values else None
        return await self.provisioner.resolve(
            inputs.obj,
            namespace=inputs.namespace,
            name=inputs.name,
            desired=settings,
            now=inputs.now,
        )

    def _token_secret(self, inputs: Inputs) -> tuple[str, str]:
        token_ref = inputs.obj.spec.instance.token_secret_ref
        name = token_ref.name if token_ref is not None else owned_token_secret(inputs.name)
        return (inputs.namespace, name)

    async def _desired(self, inputs: Inputs, spec_settings: SettingsSpec) -> DesiredSettings:
        values = spec_settings.managed()
        version = ""
        hook = spec_settings.webhook_url_token_secret_ref
        if hook is not None:
            secret = await self.secrets.read_secret_key(inputs.namespace, hook.name, hook.key)
            values["webhook_url_token"] = secret.value
            version = secret.version
        return DesiredSettings(values=values, version=version)
