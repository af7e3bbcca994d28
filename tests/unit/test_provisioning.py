"""Partner mode in memory: the crash-safe create (`Provisioner`) and `Deleter`.

The fakes share one `journal`, so a test can prove the order of writes across
Kubernetes and GREEN-API (the pending marker is durable before createInstance).
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from support.fakes import FakeGreenApiFactory, FakeInstanceApi, FakeSecrets, FixedClock
from whatsapp_operator import constants
from whatsapp_operator.api.resource import WhatsAppInstance
from whatsapp_operator.ports import KubeError, ProvisioningFailure
from whatsapp_operator.run.deletion import Deleter
from whatsapp_operator.run.identity import next_marker
from whatsapp_operator.run.memory import Live
from whatsapp_operator.run.provisioning import (
    TOKEN_KEY,
    Provisioner,
    instance_name,
    owned_token_secret,
)
from whatsapp_operator.run.reconcile import Memory, Reconciler
from whatsapp_operator.timestamps import format_time
from whatsapp_operator.wire import errors as gerr
from whatsapp_operator.wire.models import (
    CreatedInstance,
    InstanceState,
    PartnerInstance,
    Settings,
)

NS = "team-p"
NAME = "shop"
UID = "5f0c1d2e-aaaa-bbbb-cccc-0123456789ab"
RV = "4711"
PARTNER = "gapi"
PARTNER_SECRET = "gapi-token"
PARTNER_TOKEN = "gac.partnerSUPERSECRET0123456789abcdef"
API_URL = "https://7105.api.greenapi.com"
T0 = datetime(2025, 3, 1, 9, 0, 0, tzinfo=UTC)
MARKER = instance_name(NS, NAME, UID)
OWNED = owned_token_secret(NAME)


def token_of(id_instance: int) -> str:
    return f"tok{id_instance}SUPERSECRET"


@dataclass
class FakePartnerApi:
    """getInstances / createInstance / deleteInstanceAccount over a list of instances."""

    journal: list[tuple[str, Any]]
    listed: list[PartnerInstance] = field(default_factory=list)
    errors: dict[str, gerr.GreenApiError] = field(default_factory=dict)
    created: list[tuple[str | None, Settings | None]] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    ids: Any = field(default_factory=lambda: itertools.count(7105000101))
    # createInstance takes effect, but its answer never arrives (the client times out).
    lose_create_answer: bool = False

    def _enter(self, method: str, arg: Any = None) -> None:
        self.journal.append((method, arg))
        if method in self.errors:
            raise self.errors[method]

    def add(self, id_instance: int, name: str, *, deleted: bool = False) -> None:
        self.listed.append(
            PartnerInstance.model_validate(
                {
                    "idInstance": id_instance,
                    "name": name,
                    "apiTokenInstance": token_of(id_instance),
                    "deleted": deleted,
                }
            )
        )

    async def create_instance(
        self, *, name: str | None = None, settings: Settings | None = None
    ) -> CreatedInstance:
        self._enter("create_instance", name)
        self.created.append((name, settings))
        id_instance = next(self.ids)
        self.add(id_instance, name or "")
        if self.lose_create_answer:
            raise gerr.TransportFailure("createInstance: GREEN-API did not answer in time")
        return CreatedInstance.model_validate(
            {"idInstance": id_instance, "apiTokenInstance": token_of(id_instance)}
        )

    async def get_instances(self) -> list[PartnerInstance]:
        self._enter("get_instances")
        return list(self.listed)

    async def delete_instance(self, id_instance: int) -> bool:
        self._enter("delete_instance", id_instance)
        live = [i for i in self.listed if i.id_instance == id_instance and not i.deleted]
        if not live:
            raise gerr.PartnerInstanceNotFound(
                "deleteInstanceAccount: partner API error 404: Not found",
                code=404,
                method="deleteInstanceAccount",
            )
        self.deleted.append(id_instance)
        self.listed = [
            i.model_copy(update={"deleted": True}) if i.id_instance == id_instance else i
            for i in self.listed
        ]
        return True


@dataclass
class JournaledInstanceApi(FakeInstanceApi):
    journal: list[tuple[str, Any]] = field(default_factory=list)

    def _enter(self, method: str, *args: Any) -> None:
        self.journal.append((method, args[0] if args else None))
        super()._enter(method, *args)


@dataclass
class FakeGreenApi(FakeGreenApiFactory):
    """Instance clients (FakeGreenApiFactory) plus `partner()`."""

    partner_api: FakePartnerApi | None = None
    partner_requests: list[tuple[str, str]] = field(default_factory=list)

    def partner(self, *, api_url: str, token: SecretStr | str) -> FakePartnerApi:
        text = token.get_secret_value() if isinstance(token, SecretStr) else token
        self.partner_requests.append((api_url, text))
        assert self.partner_api is not None
        return self.partner_api


@dataclass
class FakeStore(FakeSecrets):
    """FakeSecrets plus the WhatsAppPartner read and the annotation patch."""

    journal: list[tuple[str, Any]] = field(default_factory=list)
    partners: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    cluster_partners: dict[str, dict[str, Any]] = field(default_factory=dict)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    # (annotations, resource_version) per successful patch
    patches: list[tuple[dict[str, str | None], str | None]] = field(default_factory=list)
    patch_error: KubeError | None = None

    async def read_partner(self, namespace: str, name: str) -> dict[str, Any]:
        if (namespace, name) not in self.partners:
            raise KubeError(f"WhatsAppPartner {namespace}/{name}: not found", status=404)
        return self.partners[(namespace, name)]

    async def read_cluster_partner(self, name: str) -> dict[str, Any]:
        if name not in self.cluster_partners:
            raise KubeError(f"ClusterWhatsAppPartner {name}: not found", status=404)
        return self.cluster_partners[name]

    async def namespace_labels(self, namespace: str) -> dict[str, str]:
        return dict(self.labels.get(namespace, {}))

    async def patch_annotations(
        self,
        namespace: str,
        name: str,
        annotations: dict[str, str | None],
        resource_version: str | None = None,
    ) -> None:
        self.journal.append(("patch_annotations", (dict(annotations), resource_version)))
        if self.patch_error is not None:
            raise self.patch_error
        self.patches.append((dict(annotations), resource_version))

    async def apply_secret(
        self,
        namespace: str,
        name: str,
        *,
        data: dict[str, bytes],
        owner: Any,
        labels: dict[str, str],
        annotations: dict[str, str],
    ) -> None:
        self.journal.append(("apply_secret", name))
        await super().apply_secret(
            namespace, name, data=data, owner=owner, labels=labels, annotations=annotations
        )
        # Later reads see what was written, like the API server.
        self.put(namespace, name, {k: v.decode() for k, v in data.items()})


@dataclass
class World:
    journal: list[tuple[str, Any]]
    store: FakeStore
    partner: FakePartnerApi
    green: FakeGreenApi
    instance_api: JournaledInstanceApi
    provisioner: Provisioner

    def calls(self, method: str) -> list[Any]:
        return [arg for name, arg in self.journal if name == method]


@pytest.fixture
def world() -> World:
    journal: list[tuple[str, Any]] = []
    store = FakeStore(journal=journal)
    store.put(NS, PARTNER_SECRET, {"partnerToken": PARTNER_TOKEN})
    store.partners[(NS, PARTNER)] = {
        "apiVersion": constants.API_VERSION,
        "kind": constants.PARTNER_KIND,
        "metadata": {"name": PARTNER, "namespace": NS},
        "spec": {"apiUrl": "https://partner.example", "tokenSecretRef": {"name": PARTNER_SECRET}},
    }
    partner = FakePartnerApi(journal)
    instance_api = JournaledInstanceApi(journal=journal, state=InstanceState.AUTHORIZED)
    green = FakeGreenApi(api=instance_api, partner_api=partner)
    return World(journal, store, partner, green, instance_api, Provisioner(store, green))


def body(
    *,
    annotations: dict[str, str] | None = None,
    status: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.KIND,
        "metadata": {
            "name": NAME,
            "namespace": NS,
            "uid": UID,
            "resourceVersion": RV,
            "generation": 1,
            "annotations": dict(annotations or {}),
        },
        "spec": {"instance": {"apiUrl": API_URL}, "partnerRef": {"name": PARTNER}, **spec},
        "status": dict(status or {}),
    }


async def resolve(world: World, obj: dict[str, Any], desired: Settings | None = None) -> Any:
    return await world.provisioner.resolve(
        WhatsAppInstance.model_validate(obj), namespace=NS, name=NAME, desired=desired, now=T0
    )


# ------------------------------------------------------------------ create


async def test_marker_is_written_with_the_precondition_before_create(world: World) -> None:
    desired = Settings.model_validate({"stateWebhook": "yes"})
    identity = await resolve(world, body(), desired)

    order = [name for name, _ in world.journal if name != "get_instances"]
    assert order == ["patch_annotations", "create_instance", "patch_annotations", "apply_secret"]
    marker_patch, record_patch = world.store.patches
    assert marker_patch == (
        {
            constants.ANNOTATION_CREATE_PENDING: MARKER,
            constants.ANNOTATION_CREATE_PENDING_SINCE: "2025-03-01T09:00:00Z",
            constants.ANNOTATION_CONFIRM_CREATE: None,
        },
        RV,
    )
    assert world.partner.created == [(MARKER, desired)]
    # One look for an instance of an earlier incarnation, before the marker is written.
    assert world.journal[0] == ("get_instances", None)
    assert len(world.calls("get_instances")) == 1
    id_instance = world.partner.listed[0].id_instance
    assert record_patch[0] == {
        constants.ANNOTATION_INSTANCE_ID: str(id_instance),
        constants.ANNOTATION_CREATED_AT: "2025-03-01T09:00:00Z",
        constants.ANNOTATION_CREATE_PENDING: None,
        constants.ANNOTATION_CREATE_PENDING_SINCE: None,
    }
    assert identity.instance_id == id_instance
    assert identity.token.value.get_secret_value() == token_of(id_instance)
    assert identity.created_at == T0
    written = world.store.written[(NS, OWNED)]
    assert written.data == {TOKEN_KEY: token_of(id_instance).encode()}
    assert (written.owner.name, written.owner.uid) == (NAME, UID)
    assert written.labels[constants.LABEL_SECRET_ROLE] == "token"
    assert world.green.partner_requests == [("https://partner.example", PARTNER_TOKEN)]


async def test_conflict_on_the_marker_means_no_create(world: World) -> None:
    world.store.patch_error = KubeError("changed meanwhile; retrying", status=409, retryable=True)
    with pytest.raises(KubeError) as raised:
        await resolve(world, body())
    assert raised.value.status == 409
    assert world.calls("create_instance") == []
    assert world.store.written == {}


async def test_conflict_on_the_marker_is_retried_soon_by_the_reconciler(world: World) -> None:
    world.store.patch_error = KubeError("changed meanwhile; retrying", status=409, retryable=True)
    reconciler = Reconciler(world.green, world.store, clock=FixedClock(T0))
    outcome = await reconciler.reconcile(body(), Memory(), Live(), lambda: None)
    assert world.calls("create_instance") == []
    assert outcome.requeue_after == 2.0
    stalled = next(c for c in outcome.status.conditions if c.type == "Stalled")
    assert stalled.status == "False"


async def test_restart_with_marker_adopts_the_one_listed_instance(world: World) -> None:
    world.partner.add(7105000001, "someone else's")
    world.partner.add(7105000002, MARKER, deleted=True)  # an older, deleted attempt
    world.partner.add(7105000003, MARKER)
    identity = await resolve(world, body(annotations={constants.ANNOTATION_CREATE_PENDING: MARKER}))

    assert world.calls("create_instance") == []
    assert identity.instance_id == 7105000003
    assert identity.token.value.get_secret_value() == token_of(7105000003)
    # The marker is not rewritten: only the record patch (id, created-at, marker removed).
    assert world.store.patches == [
        (
            {
                constants.ANNOTATION_INSTANCE_ID: "7105000003",
                constants.ANNOTATION_CREATED_AT: "2025-03-01T09:00:00Z",
                constants.ANNOTATION_CREATE_PENDING: None,
                constants.ANNOTATION_CREATE_PENDING_SINCE: None,
            },
            None,
        )
    ]
    assert world.store.written[(NS, OWNED)].data == {TOKEN_KEY: token_of(7105000003).encode()}


def pending(since: datetime = T0, **extra: str) -> dict[str, str]:
    return {
        constants.ANNOTATION_CREATE_PENDING: MARKER,
        constants.ANNOTATION_CREATE_PENDING_SINCE: format_time(since),
        **extra,
    }


async def test_restart_with_marker_and_nothing_listed_waits_and_never_creates(
    world: World,
) -> None:
    # Defect 4: GREEN-API may still be creating (or lists late) what the lost answer made.
    world.partner.add(7105000002, MARKER, deleted=True)
    with pytest.raises(ProvisioningFailure) as raised:
        await resolve(world, body(annotations=pending(since=T0 - timedelta(minutes=3))))
    assert raised.value.reason == "CreateResultPending"
    assert not raised.value.permanent
    assert world.calls("create_instance") == []
    assert world.store.patches == []


async def test_marker_unlisted_past_the_grace_asks_a_person(world: World) -> None:
    with pytest.raises(ProvisioningFailure) as raised:
        await resolve(world, body(annotations=pending(since=T0 - timedelta(minutes=11))))
    assert raised.value.reason == "CreateResultUnknown"
    assert raised.value.permanent
    assert MARKER in raised.value.message
    assert constants.ANNOTATION_CONFIRM_CREATE in raised.value.message
    assert world.calls("create_instance") == []


async def test_confirmed_create_anew_uses_a_fresh_marker_once(world: World) -> None:
    annotations = pending(
        since=T0 - timedelta(minutes=11), **{constants.ANNOTATION_CONFIRM_CREATE: MARKER}
    )
    identity = await resolve(world, body(annotations=annotations))
    assert [name for name, _ in world.partner.created] == [MARKER + ".2"]
    assert identity.instance_id == world.partner.listed[-1].id_instance
    marker_patch = world.store.patches[0][0]
    assert marker_patch[constants.ANNOTATION_CREATE_PENDING] == MARKER + ".2"
    assert marker_patch[constants.ANNOTATION_CONFIRM_CREATE] is None


async def test_lost_create_answer_keeps_the_marker_and_is_not_repeated(world: World) -> None:
    world.partner.lose_create_answer = True
    with pytest.raises(ProvisioningFailure) as raised:
        await resolve(world, body())
    assert raised.value.reason == "CreateResultPending"
    assert len(world.partner.created) == 1
    # The marker stays (only the first patch): the next cycle looks the name up and adopts.
    assert len(world.store.patches) == 1
    identity = await resolve(world, body(annotations=pending()))
    assert len(world.partner.created) == 1
    assert identity.instance_id == world.partner.listed[-1].id_instance


async def test_refused_create_clears_the_marker(world: World) -> None:
    world.partner.errors["create_instance"] = gerr.RateLimited("createInstance: 429")
    with pytest.raises(gerr.RateLimited):
        await resolve(world, body())
    assert world.store.patches[-1][0] == {
        constants.ANNOTATION_CREATE_PENDING: None,
        constants.ANNOTATION_CREATE_PENDING_SINCE: None,
    }


async def test_restart_with_marker_and_two_listed_is_ambiguous_and_permanent(
    world: World,
) -> None:
    world.partner.add(7105000011, MARKER)
    world.partner.add(7105000012, MARKER)
    with pytest.raises(ProvisioningFailure) as raised:
        await resolve(world, body(annotations={constants.ANNOTATION_CREATE_PENDING: MARKER}))
    failure = raised.value
    assert failure.reason == "CreateResultAmbiguous"
    assert failure.permanent
    assert "7105000011" in failure.message
    assert "7105000012" in failure.message
    assert constants.ANNOTATION_INSTANCE_ID in failure.message
    assert world.calls("create_instance") == []
    assert world.store.patches == []


async def test_ambiguous_create_result_is_stalled_in_status(world: World) -> None:
    world.partner.add(7105000011, MARKER)
    world.partner.add(7105000012, MARKER)
    reconciler = Reconciler(world.green, world.store, clock=FixedClock(T0))
    outcome = await reconciler.reconcile(
        body(annotations={constants.ANNOTATION_CREATE_PENDING: MARKER}),
        Memory(),
        Live(),
        lambda: None,
    )
    stalled = next(c for c in outcome.status.conditions if c.type == "Stalled")
    assert (stalled.status, stalled.reason) == ("True", "CreateResultAmbiguous")
    assert world.calls("create_instance") == []


async def test_id_from_the_annotation_needs_no_create(world: World) -> None:
    """A restore without status: the instance-id annotation is enough, once its marker
    (of another uid: a restored object is a new object) shows it was made for this name."""
    world.partner.add(7105000042, instance_name(NS, NAME, "0ld0b1ec7-uid"))
    world.store.put(NS, OWNED, {TOKEN_KEY: "tokRESTORED"})
    restored = body(annotations={constants.ANNOTATION_INSTANCE_ID: "7105000042"})
    identity = await resolve(world, restored)
    assert identity.instance_id == 7105000042
    assert identity.token.value.get_secret_value() == "tokRESTORED"
    assert world.calls("create_instance") == []
    assert len(world.calls("get_instances")) == 1
    assert world.store.patches == []
    # Verified once per object and process: the next reconcile asks GREEN-API nothing.
    await resolve(world, restored)
    assert len(world.calls("get_instances")) == 1


async def test_id_from_status_when_annotations_were_lost(world: World) -> None:
    world.partner.add(7105000043, MARKER)
    world.store.put(NS, OWNED, {TOKEN_KEY: "tokRESTORED"})
    identity = await resolve(world, body(status={"instanceId": 7105000043}))
    assert identity.instance_id == 7105000043
    assert world.calls("create_instance") == []


async def test_lost_owned_token_secret_is_recovered_and_rewritten(world: World) -> None:
    world.partner.add(7105000050, "other")
    world.partner.add(7105000051, MARKER)
    identity = await resolve(
        world, body(annotations={constants.ANNOTATION_INSTANCE_ID: "7105000051"})
    )
    assert identity.token.value.get_secret_value() == token_of(7105000051)
    assert world.calls("create_instance") == []
    written = world.store.written[(NS, OWNED)]
    assert written.data == {TOKEN_KEY: token_of(7105000051).encode()}
    assert (written.owner.name, written.owner.uid) == (NAME, UID)
    # Rewritten, so the next reconcile reads it instead of asking GREEN-API again.
    world.journal.clear()
    await resolve(world, body(annotations={constants.ANNOTATION_INSTANCE_ID: "7105000051"}))
    assert world.calls("get_instances") == []


async def test_lost_token_of_a_deleted_instance_is_permanent(world: World) -> None:
    world.partner.add(7105000052, MARKER, deleted=True)
    with pytest.raises(ProvisioningFailure) as raised:
        await resolve(world, body(annotations={constants.ANNOTATION_INSTANCE_ID: "7105000052"}))
    assert (raised.value.reason, raised.value.permanent) == ("InstanceNotFound", True)
    assert world.calls("create_instance") == []


async def test_missing_partner_is_permanent_and_creates_nothing(world: World) -> None:
    world.store.partners.clear()
    with pytest.raises(ProvisioningFailure) as raised:
        await resolve(world, body())
    assert (raised.value.reason, raised.value.permanent) == ("PartnerNotFound", True)
    assert world.journal == []


async def test_marker_match_without_token_is_not_created_twice(world: World) -> None:
    world.partner.listed.append(
        PartnerInstance.model_validate({"idInstance": 7105000061, "name": MARKER})
    )
    with pytest.raises(ProvisioningFailure):
        await resolve(world, body(annotations={constants.ANNOTATION_CREATE_PENDING: MARKER}))
    assert world.calls("create_instance") == []


# ------------------------------------------------------------------ re-created from Git

OLD_MARKER = instance_name(NS, NAME, "0ld0ld00-9999-8888")


async def test_recreated_resource_rebinds_to_its_earlier_live_instance(world: World) -> None:
    """No annotation, no status (what Git holds), a new uid: the instance made for an earlier
    incarnation of this namespace/name is re-bound, never a second one created."""
    world.partner.add(7105000001, "someone else's")
    world.partner.add(7105000002, instance_name(NS, NAME, "dead0000-uid"), deleted=True)
    world.partner.add(7105000003, instance_name(NS, "shop-2", "0ld0ld00-uid"))
    world.partner.add(7105000004, OLD_MARKER)
    identity = await resolve(world, body(), Settings.model_validate({"stateWebhook": "yes"}))

    assert world.calls("create_instance") == []
    assert identity.instance_id == 7105000004
    assert identity.token.value.get_secret_value() == token_of(7105000004)
    assert identity.rebound_from == OLD_MARKER
    # Recorded as a create records (id first, with the precondition), then the token.
    order = [name for name, _ in world.journal]
    assert order == ["get_instances", "patch_annotations", "apply_secret"]
    assert world.store.patches == [
        (
            {
                constants.ANNOTATION_INSTANCE_ID: "7105000004",
                constants.ANNOTATION_CREATED_AT: "2025-03-01T09:00:00Z",
                constants.ANNOTATION_CREATE_PENDING: None,
                constants.ANNOTATION_CREATE_PENDING_SINCE: None,
            },
            RV,
        )
    ]
    written = world.store.written[(NS, OWNED)]
    assert written.data == {TOKEN_KEY: token_of(7105000004).encode()}
    assert (written.owner.name, written.owner.uid) == (NAME, UID)
    # The next reconcile goes by the recorded id: no second look, no create.
    world.journal.clear()
    again = await resolve(world, body(annotations={constants.ANNOTATION_INSTANCE_ID: "7105000004"}))
    assert again.instance_id == 7105000004
    assert again.rebound_from is None
    assert world.calls("create_instance") == []


async def test_rebind_posts_a_rebound_event_without_the_token(world: World) -> None:
    world.partner.add(7105000004, OLD_MARKER)
    reconciler = Reconciler(world.green, world.store, clock=FixedClock(T0))
    outcome = await reconciler.reconcile(body(), Memory(), Live(), lambda: None)

    assert world.calls("create_instance") == []
    rebound = [e for e in outcome.events if e.reason == "Rebound"]
    assert len(rebound) == 1
    assert rebound[0].type == "Normal"
    assert "7105000004" in rebound[0].message
    assert OLD_MARKER in rebound[0].message
    assert token_of(7105000004) not in rebound[0].message
    assert outcome.status.instance_id == 7105000004


async def test_two_live_earlier_instances_stall_ambiguous_and_create_nothing(
    world: World,
) -> None:
    world.partner.add(7105000011, OLD_MARKER)
    world.partner.add(7105000012, next_marker(OLD_MARKER, OLD_MARKER))
    with pytest.raises(ProvisioningFailure) as raised:
        await resolve(world, body())
    failure = raised.value
    assert (failure.reason, failure.permanent) == ("CreateResultAmbiguous", True)
    assert "7105000011" in failure.message
    assert "7105000012" in failure.message
    assert constants.ANNOTATION_INSTANCE_ID in failure.message
    assert token_of(7105000011) not in failure.message
    assert world.calls("create_instance") == []
    assert world.store.patches == []
    assert world.store.written == {}

    reconciler = Reconciler(world.green, world.store, clock=FixedClock(T0))
    outcome = await reconciler.reconcile(body(), Memory(), Live(), lambda: None)
    stalled = next(c for c in outcome.status.conditions if c.type == "Stalled")
    assert (stalled.status, stalled.reason) == ("True", "CreateResultAmbiguous")
    assert world.calls("create_instance") == []


async def test_ambiguity_is_resolved_by_naming_one_id(world: World) -> None:
    """The way out the CreateResultAmbiguous message names: the instance-id annotation."""
    world.partner.add(7105000011, OLD_MARKER)
    world.partner.add(7105000012, next_marker(OLD_MARKER, OLD_MARKER))
    chosen = body(annotations={constants.ANNOTATION_INSTANCE_ID: "7105000012"})
    identity = await resolve(world, chosen)
    assert identity.instance_id == 7105000012
    assert identity.token.value.get_secret_value() == token_of(7105000012)
    assert world.calls("create_instance") == []


async def test_only_deleted_earlier_instances_mean_a_new_create(world: World) -> None:
    world.partner.add(7105000021, OLD_MARKER, deleted=True)
    identity = await resolve(world, body())
    assert [name for name, _ in world.partner.created] == [MARKER]
    assert identity.instance_id != 7105000021
    assert identity.rebound_from is None


async def test_rebind_from_a_stale_copy_is_refused_and_writes_no_token(world: World) -> None:
    # A newer copy of the object already holds a marker: the precondition refuses this one.
    world.partner.add(7105000004, OLD_MARKER)
    world.store.patch_error = KubeError("changed meanwhile; retrying", status=409, retryable=True)
    with pytest.raises(KubeError):
        await resolve(world, body())
    assert world.store.written == {}
    assert world.calls("create_instance") == []


async def test_rebind_to_an_instance_listed_without_token_records_it_and_waits(
    world: World,
) -> None:
    world.partner.listed.append(
        PartnerInstance.model_validate({"idInstance": 7105000031, "name": OLD_MARKER})
    )
    with pytest.raises(ProvisioningFailure) as raised:
        await resolve(world, body())
    assert (raised.value.reason, raised.value.permanent) == ("TokenUnavailable", False)
    assert world.store.patches[0][0][constants.ANNOTATION_INSTANCE_ID] == "7105000031"
    assert world.calls("create_instance") == []


# ------------------------------------------------------------------ delete


def deleter(world: World) -> Deleter:
    return Deleter(world.provisioner, world.green.instance)


async def delete(world: World, obj: dict[str, Any]) -> Any:
    return await deleter(world).delete(
        WhatsAppInstance.model_validate(obj),
        namespace=NS,
        name=NAME,
        api_url_for=lambda _id: API_URL,
        now=T0,
    )


DELETE_ANNOTATED = {constants.ANNOTATION_INSTANCE_ID: "7105000070"}


async def test_delete_logs_an_authorized_phone_out_then_deletes(world: World) -> None:
    world.partner.add(7105000070, MARKER)
    world.store.put(NS, OWNED, {TOKEN_KEY: token_of(7105000070)})
    result = await delete(world, body(annotations=DELETE_ANNOTATED, deletionPolicy="Delete"))

    assert result.done
    # Ownership is checked afresh on deletion: the instance carries this resource's marker.
    assert [name for name, _ in world.journal] == [
        "get_instances",
        "get_state",
        "logout",
        "delete_instance",
    ]
    assert world.green.requests == [(API_URL, 7105000070, token_of(7105000070))]
    assert world.partner.deleted == [7105000070]
    assert [(e.type, e.reason) for e in result.events] == [
        ("Normal", "LoggedOut"),
        ("Normal", "InstanceDeleted"),
    ]


async def test_delete_skips_logout_when_not_authorized(world: World) -> None:
    world.partner.add(7105000070, MARKER)
    world.store.put(NS, OWNED, {TOKEN_KEY: token_of(7105000070)})
    world.instance_api.state = InstanceState.NOT_AUTHORIZED
    result = await delete(world, body(annotations=DELETE_ANNOTATED, deletionPolicy="Delete"))
    assert [name for name, _ in world.journal] == ["get_instances", "get_state", "delete_instance"]
    assert [e.reason for e in result.events] == ["InstanceDeleted"]


async def test_delete_of_an_already_deleted_instance_is_done_without_event(world: World) -> None:
    world.partner.add(7105000070, MARKER, deleted=True)
    world.store.put(NS, OWNED, {TOKEN_KEY: token_of(7105000070)})
    world.instance_api.errors["get_state"] = gerr.InstanceDeleted(
        "getStateInstance: 400 Instance is deleted", method="getStateInstance", status=400
    )
    result = await delete(world, body(annotations=DELETE_ANNOTATED, deletionPolicy="Delete"))
    assert result.done
    assert result.events == ()
    assert world.calls("delete_instance") == [7105000070]
    assert world.calls("logout") == []


async def test_delete_with_marker_only_deletes_what_carries_the_marker(world: World) -> None:
    world.partner.add(7105000080, "other")
    world.partner.add(7105000081, MARKER)
    world.instance_api.state = InstanceState.NOT_AUTHORIZED
    result = await delete(
        world,
        body(annotations={constants.ANNOTATION_CREATE_PENDING: MARKER}, deletionPolicy="Delete"),
    )
    assert result.done
    assert world.partner.deleted == [7105000081]


async def test_delete_with_nothing_created_makes_no_instance_calls(world: World) -> None:
    result = await delete(world, body(deletionPolicy="Delete"))
    assert result.done
    assert world.journal == []


async def finalize(world: World, obj: dict[str, Any]) -> Any:
    reconciler = Reconciler(world.green, world.store, clock=FixedClock(T0))
    return await reconciler.finalize(obj)


async def test_orphan_policy_makes_no_calls(world: World) -> None:
    world.partner.add(7105000070, MARKER)
    world.store.put(NS, OWNED, {TOKEN_KEY: token_of(7105000070)})
    result = await finalize(world, body(annotations=DELETE_ANNOTATED))  # default: Orphan
    assert (result.done, result.events) == (True, [])
    assert world.journal == []
    assert world.green.partner_requests == []
    assert world.store.reads == []


async def test_finalize_404_is_done_without_event(world: World) -> None:
    world.partner.add(7105000070, MARKER, deleted=True)
    world.store.put(NS, OWNED, {TOKEN_KEY: token_of(7105000070)})
    world.instance_api.state = InstanceState.NOT_AUTHORIZED
    result = await finalize(world, body(annotations=DELETE_ANNOTATED, deletionPolicy="Delete"))
    assert (result.done, result.events) == (True, [])
    assert world.calls("delete_instance") == [7105000070]


async def test_finalize_failure_keeps_the_object_and_says_how_to_orphan(world: World) -> None:
    world.partner.add(7105000070, MARKER)
    world.store.put(NS, OWNED, {TOKEN_KEY: token_of(7105000070)})
    world.instance_api.state = InstanceState.NOT_AUTHORIZED
    world.partner.errors["delete_instance"] = gerr.ServiceUnavailable(
        "deleteInstanceAccount: 502", method="deleteInstanceAccount", status=502
    )
    result = await finalize(world, body(annotations=DELETE_ANNOTATED, deletionPolicy="Delete"))
    assert not result.done
    assert [(e.type, e.reason) for e in result.events] == [("Warning", "DeletionFailed")]
    assert "deletionPolicy to Orphan" in result.message
    assert result.retry_after > 0
    assert PARTNER_TOKEN not in result.message
    assert token_of(7105000070) not in result.message


async def test_deletion_waits_for_a_create_in_flight_and_deletes_what_it_made(
    world: World,
) -> None:
    # Defect 5: deleted while createInstance was in flight; the instance appeared later.
    release = asyncio.Event()
    real_create = world.partner.create_instance

    started = asyncio.Event()

    async def slow_create(**kwargs: Any) -> CreatedInstance:
        started.set()
        await release.wait()
        return await real_create(**kwargs)

    world.partner.create_instance = slow_create  # type: ignore[method-assign]
    creating = asyncio.create_task(resolve(world, body()))
    await started.wait()
    # The reconcile is cancelled (kopf stops the daemon); the call itself goes on.
    creating.cancel()
    deleting = asyncio.create_task(
        delete(world, body(annotations={constants.ANNOTATION_CREATE_PENDING: MARKER}))
    )
    await asyncio.sleep(0.01)
    assert not deleting.done(), "deletion must wait for the creation's result"
    release.set()
    result = await deleting
    created = world.partner.listed[-1].id_instance
    assert result.done
    assert world.partner.deleted == [created]
    assert ("Normal", "InstanceDeleted") in [(e.type, e.reason) for e in result.events]


async def test_deletion_with_an_unlisted_marker_waits_out_the_grace(world: World) -> None:
    fresh = {
        constants.ANNOTATION_CREATE_PENDING: MARKER,
        constants.ANNOTATION_CREATE_PENDING_SINCE: format_time(T0 - timedelta(minutes=1)),
    }
    with pytest.raises(ProvisioningFailure) as raised:
        await delete(world, body(annotations=fresh))
    assert raised.value.reason == "CreateResultPending"
    assert not raised.value.permanent

    # It shows up late: deleted.
    world.partner.add(7105000090, MARKER)
    result = await delete(world, body(annotations=fresh))
    assert world.partner.deleted == [7105000090]
    assert result.done

    old = {**fresh, constants.ANNOTATION_CREATE_PENDING_SINCE: format_time(T0 - timedelta(hours=1))}
    world.partner.listed.clear()
    result = await delete(world, body(annotations=old))
    assert result.done
    assert [(e.type, e.reason) for e in result.events] == [("Warning", "DeletionUnverified")]
    assert MARKER in result.events[0].message


async def test_deletion_with_credentials_gone_is_not_let_go_after_a_few_attempts(
    world: World,
) -> None:
    # Defect 6 of an earlier issue let go after 3 attempts (seconds): a partner briefly
    # missing must not leave a billed instance behind. The bound is time, not attempts.
    del world.store.partners[(NS, PARTNER)]
    reconciler = Reconciler(world.green, world.store, clock=FixedClock(T0))
    obj = body(annotations=DELETE_ANNOTATED, deletionPolicy="Delete")
    obj["metadata"]["deletionTimestamp"] = format_time(T0 - timedelta(seconds=10))
    for attempt in range(5):
        assert not (await reconciler.finalize(obj, attempt=attempt)).done


async def test_transient_deletion_failures_back_off(world: World) -> None:
    world.partner.add(7105000070, MARKER)
    world.store.put(NS, OWNED, {TOKEN_KEY: token_of(7105000070)})
    world.instance_api.state = InstanceState.NOT_AUTHORIZED
    world.partner.errors["delete_instance"] = gerr.ServiceUnavailable(
        "deleteInstanceAccount: 502", method="deleteInstanceAccount", status=502
    )
    reconciler = Reconciler(world.green, world.store, clock=FixedClock(T0))
    obj = body(annotations=DELETE_ANNOTATED, deletionPolicy="Delete")
    delays = [(await reconciler.finalize(obj, attempt=n)).retry_after for n in range(10)]
    assert not any(d == 2.0 for d in delays)
    assert max(delays[6:]) > 60.0
    assert max(delays) <= 300.0
    # A transient failure never lets go, however often.
    assert not (await reconciler.finalize(obj, attempt=50)).done


async def test_deletion_uses_the_credentials_last_read_when_the_partner_is_gone(
    world: World,
) -> None:
    # A namespace deletion removes the partner and its Secret before the instances.
    await world.provisioner.partner_for(
        WhatsAppInstance.model_validate(body(annotations=DELETE_ANNOTATED)), NS
    )
    del world.store.partners[(NS, PARTNER)]
    world.partner.add(7105000070, MARKER)
    result = await delete(world, body(annotations=DELETE_ANNOTATED))
    assert result.done
    assert world.partner.deleted == [7105000070]
    # Anything but a deletion still needs the partner to exist.
    with pytest.raises(ProvisioningFailure):
        await world.provisioner.partner_for(
            WhatsAppInstance.model_validate(body(annotations=DELETE_ANNOTATED)), NS
        )


# ------------------------------------------------------------------ deletion's end


def deleting(*, since: datetime = T0, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    obj = body(annotations={**DELETE_ANNOTATED, **(annotations or {})}, deletionPolicy="Delete")
    obj["metadata"]["deletionTimestamp"] = format_time(since)
    return obj


def finalizer_at(world: World, now: datetime) -> Reconciler:
    return Reconciler(
        world.green,
        world.store,
        clock=FixedClock(now),
        deletion_abandon_after=timedelta(hours=1),
    )


def condition(result: Any, kind: str) -> tuple[str, str]:
    found = [c for c in result.status["conditions"] if c["type"] == kind]
    assert len(found) == 1, result.status
    return found[0]["status"], found[0]["reason"]


@pytest.mark.parametrize(
    "error",
    [
        gerr.PartnerTokenRejected("deleteInstanceAccount: code 401", code=401),
        gerr.PartnerError("deleteInstanceAccount: code 403", code=403),
        gerr.MethodRejected("deleteInstanceAccount: 404", status=404),
        gerr.RequestRejected("deleteInstanceAccount: 400", status=400),
        gerr.ServiceUnavailable("deleteInstanceAccount: 503", status=503),
    ],
    ids=["partner-401", "partner-403", "http-404", "http-400", "5xx"],
)
async def test_a_failing_partner_call_never_lets_the_resource_go(
    world: World, error: gerr.GreenApiError
) -> None:
    # A 401 during a token rotation, a 403, a 404/400 or a 5xx: the credentials exist, so
    # the instance may still be deleted once the fault clears. Days of attempts later the
    # resource is still held, and status and events say why.
    world.partner.add(7105000070, MARKER)
    world.store.put(NS, OWNED, {TOKEN_KEY: token_of(7105000070)})
    world.instance_api.state = InstanceState.NOT_AUTHORIZED
    world.partner.errors["delete_instance"] = error
    for attempt, later in ((0, timedelta(0)), (3, timedelta(minutes=5)), (60, timedelta(days=3))):
        result = await finalizer_at(world, T0 + later).finalize(deleting(), attempt=attempt)
        assert not result.done, (attempt, later)
        assert [(e.type, e.reason) for e in result.events] == [("Warning", "DeletionFailed")]
        assert condition(result, "Reconciling") == ("True", "DeletionRetrying")
        assert condition(result, "Ready") == ("False", "DeletionRetrying")
        assert 1.0 <= result.retry_after <= 300.0
        assert PARTNER_TOKEN not in str(result.status) + result.message


async def test_an_rbac_refusal_reading_the_partner_never_lets_the_resource_go(
    world: World,
) -> None:
    async def forbidden(namespace: str, name: str) -> dict[str, Any]:
        raise KubeError("whatsapppartners is forbidden", status=403, retryable=False)

    world.store.read_partner = forbidden  # type: ignore[method-assign]
    result = await finalizer_at(world, T0 + timedelta(days=1)).finalize(deleting(), attempt=40)
    assert not result.done
    assert condition(result, "Reconciling") == ("True", "DeletionRetrying")


async def test_credentials_gone_let_the_resource_go_only_after_the_bound(world: World) -> None:
    # The partner is gone and this process never read its credentials: nothing can delete
    # the instance. Held for the bound (an hour here), then let go naming the instance.
    del world.store.partners[(NS, PARTNER)]
    early = await finalizer_at(world, T0 + timedelta(minutes=59)).finalize(deleting(), attempt=30)
    assert not early.done
    assert condition(early, "Stalled") == ("True", "DeletionCredentialsGone")
    assert [(e.type, e.reason) for e in early.events] == [("Warning", "DeletionFailed")]
    late = await finalizer_at(world, T0 + timedelta(minutes=61)).finalize(deleting(), attempt=3)
    assert late.done
    assert [(e.type, e.reason) for e in late.events] == [("Warning", "DeletionAbandoned")]
    assert "7105000070" in late.events[0].message
    assert PARTNER_TOKEN not in late.events[0].message


async def test_a_missing_partner_secret_counts_as_credentials_gone(world: World) -> None:
    del world.store.store[(NS, PARTNER_SECRET)]
    early = await finalizer_at(world, T0 + timedelta(minutes=5)).finalize(deleting(), attempt=5)
    assert not early.done
    assert condition(early, "Stalled") == ("True", "DeletionCredentialsGone")
    late = await finalizer_at(world, T0 + timedelta(hours=2)).finalize(deleting(), attempt=6)
    assert late.done


async def test_the_abandon_annotation_lets_the_resource_go_without_a_call(world: World) -> None:
    world.partner.add(7105000070, MARKER)
    world.store.put(NS, OWNED, {TOKEN_KEY: token_of(7105000070)})
    world.partner.errors["delete_instance"] = gerr.ServiceUnavailable(
        "deleteInstanceAccount: 503", status=503
    )
    obj = deleting(annotations={constants.ANNOTATION_ABANDON_DELETION: "true"})
    result = await finalizer_at(world, T0 + timedelta(seconds=5)).finalize(obj, attempt=1)
    assert result.done
    assert [(e.type, e.reason) for e in result.events] == [("Warning", "DeletionAbandoned")]
    assert "7105000070" in result.events[0].message
    assert constants.ANNOTATION_ABANDON_DELETION in result.events[0].message
    assert world.journal == []
    assert world.green.partner_requests == []
