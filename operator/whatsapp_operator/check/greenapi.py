"""The GREEN-API steps: read methods only (getStateInstance, getSettings, getWaSettings,
the partner's getInstances). The check holds no side-effect gate and calls no writing
method; an error's message is the client's, which carries no URL and no token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from whatsapp_operator.adapters.greenapi.client import InstanceClient
from whatsapp_operator.adapters.greenapi.partner import PartnerClient
from whatsapp_operator.check.managed import shown
from whatsapp_operator.check.report import Status, Step
from whatsapp_operator.wire import errors
from whatsapp_operator.wire.models import InstanceState, PartnerInstance, Settings, StateReport

_STATE_WORDS = {
    InstanceState.AUTHORIZED: (Status.OK, "authorized: a phone is linked and working"),
    InstanceState.NOT_AUTHORIZED: (
        Status.WARN,
        "notAuthorized: no phone linked; the operator would hand out linking codes "
        "(kubectl whatsapp qr / pair)",
    ),
    InstanceState.BLOCKED: (Status.WARN, "blocked: WhatsApp banned the linked number"),
    InstanceState.SLEEP_MODE: (
        Status.WARN,
        "sleepMode: the phone is off or offline; GREEN-API says up to 5 minutes once it is back",
    ),
    InstanceState.STARTING: (
        Status.WARN,
        "starting: the instance is (re)starting; GREEN-API says up to 5 minutes",
    ),
    InstanceState.YELLOW_CARD: (
        Status.WARN,
        "yellowCard: sending is suspended for suspected spam; a reboot is needed to go on",
    ),
    InstanceState.CREATING: (Status.WARN, "creating: getStateInstance answered null"),
}


def _refusal(exc: errors.GreenApiError, id_instance: int) -> str:
    if isinstance(exc, errors.TokenRejected):
        return (
            f"token rejected: GREEN-API answered 401 for instance {id_instance}; the "
            "apiTokenInstance is wrong (or the instance was deleted over a month ago)"
        )
    if isinstance(exc, errors.InstanceRejected):
        return (
            f"GREEN-API answered 403 for instance {id_instance}: the idInstance is wrong, or "
            "the instance lives on another apiUrl (the console shows its apiUrl)"
        )
    return exc.message


async def state_steps(client: InstanceClient) -> tuple[list[Step], InstanceState | None]:
    """`token` and `state`: the first call, getStateInstance, tells both."""
    try:
        report: StateReport = await client.get_state()
    except (errors.TokenRejected, errors.InstanceRejected) as exc:
        return [
            Step("token", Status.FAIL, _refusal(exc, client.id_instance)),
            Step("state", Status.SKIP, "not read: the credentials were refused"),
        ], None
    except (errors.InstanceExpired, errors.InstanceDeleted) as exc:
        return [
            Step("token", Status.OK, "GREEN-API knows the instance and took the token"),
            Step("state", Status.FAIL, exc.message),
        ], None
    except errors.GreenApiError as exc:
        return [
            Step("token", Status.FAIL, f"no usable answer, token not confirmed: {exc.message}"),
            Step("state", Status.SKIP, "not read"),
        ], None
    accepted = Step("token", Status.OK, "GREEN-API accepted the token")
    status, words = _STATE_WORDS.get(
        report.state,
        (Status.WARN, f"{report.raw or report.state.value}: a state the operator does not know"),
    )
    return [accepted, Step("state", status, words)], report.state


async def settings_step(client: InstanceClient) -> tuple[Step, Settings | None]:
    """getSettings, and the two settings that decide where notifications go."""
    try:
        observed = await client.get_settings()
    except errors.GreenApiError as exc:
        return Step("settings", Status.FAIL, f"getSettings failed: {exc.message}"), None
    url = observed.webhook_url or ""
    token = shown("webhook_url_token", observed.webhook_url_token)
    where = f"webhookUrl {url}" if url else "no webhookUrl (notifications only by polling)"
    return Step(
        "settings", Status.OK, f"getSettings answered: {where}; webhookUrlToken {token}"
    ), observed


async def wa_settings_step(client: InstanceClient) -> Step:
    """getWaSettings: the linked phone, if any."""
    try:
        found = await client.get_wa_settings()
    except errors.GreenApiError as exc:
        return Step("wa-settings", Status.FAIL, f"getWaSettings failed: {exc.message}")
    if found.phone:
        device = f" (device {found.device_id})" if found.device_id else ""
        return Step("wa-settings", Status.OK, f"linked phone {found.phone}{device}")
    return Step("wa-settings", Status.OK, "getWaSettings answered: no phone linked")


Count = Callable[[], Awaitable[int]]


async def queues_step(webhooks: Count, messages: Count) -> Step:
    """getWebhooksCount and getMessagesCount.

    A growing incoming queue while webhookUrl is set means the receiver is down or
    refusing; messages waiting to go out are sent from whatever number is linked.
    """
    try:
        incoming = await webhooks()
        outgoing = await messages()
    except errors.GreenApiError as exc:
        return Step("queues", Status.FAIL, f"queue counts not read: {exc.message}")
    detail = (
        f"{incoming} notifications waiting for delivery, {outgoing} messages waiting to be sent"
    )
    if incoming:
        return Step(
            "queues",
            Status.WARN,
            f"{detail}: notifications pile up when the webhook receiver is down or refuses them",
        )
    return Step("queues", Status.OK, detail)


def _listing(found: PartnerInstance) -> str:
    plan = f"tariff {found.tariff}" if found.tariff else "no tariff named"
    ends = f", expires {found.expiration_date}" if found.expiration_date else ""
    return f"{plan}{ends}"


async def partner_step(client: PartnerClient, id_instance: int | None) -> Step:
    """getInstances: the partner token is accepted and the instance is one of its own."""
    try:
        listed = await client.get_instances()
    except errors.PartnerTokenRejected:
        return Step("partner", Status.FAIL, "partner token rejected by GREEN-API (getInstances)")
    except errors.GreenApiError as exc:
        return Step("partner", Status.FAIL, f"getInstances failed: {exc.message}")
    if id_instance is None:
        return Step("partner", Status.OK, f"partner token accepted; {len(listed)} instances listed")
    found = next((item for item in listed if item.id_instance == id_instance), None)
    if found is None:
        return Step(
            "partner",
            Status.WARN,
            f"partner token accepted, but instance {id_instance} is not among its "
            f"{len(listed)} instances: this partner cannot create, adopt or delete it",
        )
    if found.deleted:
        return Step("partner", Status.FAIL, f"instance {id_instance} is listed as deleted")
    if found.is_expired:
        return Step(
            "partner", Status.FAIL, f"instance {id_instance}'s plan has expired ({_listing(found)})"
        )
    return Step(
        "partner",
        Status.OK,
        f"partner token accepted; instance {id_instance} listed ({_listing(found)})",
    )
