"""GREEN-API's partner API: createInstance, deleteInstanceAccount, getInstances."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from whatsapp_operator.emulator.http import (
    STATE_KEY,
    TEXT_VALIDATION,
    BadJson,
    apply_fault,
    finish,
    json_response,
    read_body_first,
    read_json,
    text,
)
from whatsapp_operator.emulator.instances import (
    NOT_DELETED_TIME,
    format_time,
)
from whatsapp_operator.emulator.settings import SettingsValidationError
from whatsapp_operator.emulator.state import EmulatorState

log = logging.getLogger("whatsapp_operator.emulator")

# --- partner API ------------------------------------------------------------------------------


def partner_error(st: EmulatorState, code: int, description: str) -> web.Response:
    """A partner API error: `{code, description}` in a 200, or a plain 400 under that variant."""
    if st.config.variants.partner_error_style == "http400":
        return text(400, description)
    return json_response({"code": code, "description": description})


async def create_instance(st: EmulatorState, request: web.Request) -> web.Response:
    """createInstance: a new instance with the given name and settings; its id and token."""
    body = await read_json(request, allow_empty=True)
    if not isinstance(body, dict):
        return partner_error(st, 400, TEXT_VALIDATION)
    settings_body = dict(body)
    name = settings_body.pop("name", "")
    if not isinstance(name, str):
        return partner_error(st, 400, f"{TEXT_VALIDATION}: name must be a string")
    try:
        values = st.validate(settings_body)
    except SettingsValidationError as exc:
        return partner_error(st, 400, f"{TEXT_VALIDATION}: {exc.field} {exc.reason}")
    inst = st.create(name=name, settings=values)
    return json_response(
        {
            "idInstance": inst.id_instance,
            "apiTokenInstance": inst.token,
            "typeInstance": "whatsapp",
        }
    )


async def delete_instance_account(st: EmulatorState, request: web.Request) -> web.Response:
    """deleteInstanceAccount: mark the instance deleted; code 404 in a 200 when there is none."""
    body = await read_json(request, allow_empty=False)
    raw_id = body.get("idInstance") if isinstance(body, dict) else None
    if isinstance(raw_id, bool) or not isinstance(raw_id, int):
        return partner_error(st, 400, f"{TEXT_VALIDATION}: idInstance must be an integer")
    inst = st.registry.by_id.get(raw_id)
    if inst is None or inst.deleted_at is not None:
        # Documented after ISS#638: not-found is reported inside an HTTP 200 body.
        return json_response({"code": 404, "description": "Not found"})
    st.delete(inst)
    return json_response({"deleteInstanceAccount": True})


async def get_instances(st: EmulatorState, request: web.Request) -> web.Response:
    """getInstances: every instance, deleted ones while still visible, unless listing lags."""
    now = st.now()
    horizon = now - st.config.timings.deleted_visible_days * 86400
    rows = []
    for inst in st.registry.by_id.values():
        if inst.deleted_at is not None and inst.deleted_at < horizon:
            continue
        if inst.listed_at is not None and now < inst.listed_at:
            # The listing-lag fault: created, usable, but not listed yet.
            continue
        rows.append(
            {
                "idInstance": inst.id_instance,
                "name": inst.name,
                "typeInstance": "whatsapp",
                "typeAccount": "",
                "partnerUserUiid": "",
                "timeCreated": format_time(inst.created_at),
                "timeDeleted": format_time(inst.deleted_at)
                if inst.deleted_at is not None
                else NOT_DELETED_TIME,
                "apiTokenInstance": inst.token,
                "deleted": inst.deleted_at is not None,
                "tariff": inst.tariff,
                "isFree": False,
                "isPartner": True,
                # Partner instances auto-renew (a month ahead of "now") unless the admin API
                # set a date.
                "expirationDate": format_time(
                    inst.expires_at if inst.expires_at is not None else now + 30 * 86400
                ),
                "isExpired": inst.expired(now),
            }
        )
    return json_response(rows)


PartnerHandler = Callable[[EmulatorState, web.Request], Awaitable[web.Response]]
PARTNER_METHODS: dict[str, tuple[str, str, PartnerHandler]] = {
    "createinstance": ("createInstance", "POST", create_instance),
    "deleteinstanceaccount": ("deleteInstanceAccount", "POST", delete_instance_account),
    "getinstances": ("getInstances", "GET", get_instances),
}


async def partner_endpoint(request: web.Request) -> web.StreamResponse:
    """Serve one partner API call: injected faults, token and rate limit checked first."""
    st = request.app[STATE_KEY]
    if request.method == "OPTIONS":
        return web.Response(status=204)
    method_key = request.match_info["method"].lower()
    entry = PARTNER_METHODS.get(method_key)
    if entry is None or request.method != entry[1]:
        return text(404, "Not Found")
    await read_body_first(request)
    decision = st.faults.decide(method_key, None)
    fault = await apply_fault(decision)
    if fault is not None:
        return fault
    return await finish(request, decision, await _partner_call(st, request, method_key, entry))


async def _partner_call(
    st: EmulatorState,
    request: web.Request,
    method_key: str,
    entry: tuple[str, str, PartnerHandler],
) -> web.Response:
    token = request.match_info["token"]
    if token not in st.partner_tokens:
        return partner_error(st, 401, "Unauthorized")
    if not st.limiter.allow(token, method_key):
        return text(429, "Too Many Requests")
    try:
        return await entry[2](st, request)
    except BadJson as exc:
        return text(400, str(exc))
