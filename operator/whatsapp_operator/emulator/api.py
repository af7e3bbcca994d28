"""GREEN-API's instance API (`/waInstance{id}/{method}/{token}`) and partner API.

Check order for an instance call, cheapest and most generic first: OPTIONS (204), method name
(404), HTTP verb (404), the request body is read, injected faults, instance id (403), token
(401), rate limit (429), quota (466), deleted (400, or 401 when deleted long ago under the
variant), being created (per variant), then the method itself; a lost-answer fault then
withholds whatever that produced.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from whatsapp_operator.emulator.account import (
    can_scan,
    get_authorization_code,
    get_state_instance_history,
    get_wa_settings,
    qr,
    qr_rotation,
    scan_qr_code,
    update_api_token,
)
from whatsapp_operator.emulator.http import (
    ONLINE_STATES,
    STATE_KEY,
    TEXT_DELETED,
    TEXT_EXPIRED,
    TEXT_NOT_AUTHORIZED,
    TEXT_STARTING,
    BadJson,
    DropConnection,
    LostAnswer,
    Method,
    apply_fault,
    finish,
    json_response,
    read_body_first,
    read_json,
    text,
    validation_failed,
)
from whatsapp_operator.emulator.instances import (
    Instance,
    PendingSettings,
    SetSettingsCall,
)
from whatsapp_operator.emulator.partner import partner_endpoint
from whatsapp_operator.emulator.queues import QUEUE_METHODS
from whatsapp_operator.emulator.settings import SettingsValidationError, render_settings
from whatsapp_operator.emulator.state import EmulatorState

log = logging.getLogger("whatsapp_operator.emulator")

# --- instance methods -------------------------------------------------------------------------


async def get_settings(
    st: EmulatorState, inst: Instance, request: web.Request, now: float
) -> web.Response:
    """getSettings: the instance's settings in their wire form."""
    variants = st.config.variants
    forms = {"linkPreview": variants.link_preview_form, "enableLidMode": variants.lid_mode_form}
    return json_response(render_settings(inst.settings, wid=inst.wid, forms=forms))


async def set_settings(
    st: EmulatorState, inst: Instance, request: web.Request, now: float
) -> web.Response:
    """setSettings: validate, apply after the settle delay (unless dropped), and reboot."""
    # ISS#860: an empty body is accepted even though the docs ask for one field.
    body = await read_json(request, allow_empty=True)
    if not isinstance(body, dict):
        return validation_failed()
    try:
        values = st.validate(body)
    except SettingsValidationError as exc:
        return validation_failed(exc)
    timings = st.config.timings
    dropped = False
    if inst.drop_next_settings > 0:
        inst.drop_next_settings -= 1
        dropped = True
    elif st.config.drop_settings_probability and (
        st.rng.random() < st.config.drop_settings_probability
    ):
        dropped = True
    inst.set_settings_log.append(SetSettingsCall(at=now, body=dict(body), dropped=dropped))
    if dropped:
        log.info("instance %s: setSettings dropped by fault injection", inst.id_instance)
    elif values:
        inst.pending.append(PendingSettings(now + timings.settings_apply_seconds, values))
    # "When this method is requested, the instance is rebooted."
    inst.start(now, timings.starting_seconds, reason="settings")
    inst.settle(now)
    st.notify()
    return json_response({"saveSettings": True})


async def get_state_instance(
    st: EmulatorState, inst: Instance, request: web.Request, now: float
) -> web.Response:
    """getStateInstance: the instance's state."""
    return json_response({"stateInstance": inst.state(now)})


async def get_status_instance(
    st: EmulatorState, inst: Instance, request: web.Request, now: float
) -> web.Response:
    """getStatusInstance: online while authorized or on a yellow card, offline otherwise."""
    online = inst.state(now) in ONLINE_STATES
    return json_response({"statusInstance": "online" if online else "offline"})


async def reboot(
    st: EmulatorState, inst: Instance, request: web.Request, now: float
) -> web.Response:
    """reboot: enter `starting` for the configured time; a yellow card is lifted."""
    if inst.stable_state == "yellowCard":
        # A yellow card needs a reboot to continue (GetStateInstance docs).
        inst.stable_state = "authorized"
    inst.start(now, st.config.timings.starting_seconds)
    st.notify()
    return json_response({"isReboot": True})


async def logout(
    st: EmulatorState, inst: Instance, request: web.Request, now: float
) -> web.Response:
    """logout: unlink the phone (and clear unusable auth data); per variant, 400 when unlinked."""
    if (
        inst.state(now) == "notAuthorized"
        and st.config.variants.logout_when_not_authorized == "error"
    ):
        return text(400, TEXT_NOT_AUTHORIZED[st.config.variants.not_authorized_text])
    inst.set_stable(now, "notAuthorized")
    # The documented cure for unusable auth data ("You need to make log out").
    inst.stale_auth = False
    st.qr.forget(inst.id_instance)
    st.notify()
    return json_response({"isLogout": True})


_REPORTING = frozenset({"getstateinstance", "getstatusinstance", "getwasettings", "qr"})


METHODS: dict[str, Method] = {
    m.name.lower(): m
    for m in (
        Method("getSettings", "GET", get_settings),
        Method("setSettings", "POST", set_settings),
        Method("getStateInstance", "GET", get_state_instance),
        Method("getStatusInstance", "GET", get_status_instance),
        Method("reboot", "GET", reboot),
        Method("logout", "GET", logout),
        Method("qr", "GET", qr),
        Method("scanqrcode", "GET", scan_qr_code),
        Method("getAuthorizationCode", "POST", get_authorization_code),
        Method("getWaSettings", "GET", get_wa_settings),
        Method("GetStateInstanceHistory", "GET", get_state_instance_history),
        Method("updateApiToken", "GET", update_api_token),
        *(Method(name, verb, handler) for name, verb, handler in QUEUE_METHODS),
    )
}


async def instance_endpoint(request: web.Request) -> web.StreamResponse:
    """Serve one instance API call, checks and injected faults included (see the module)."""
    st = request.app[STATE_KEY]
    if request.method == "OPTIONS":
        return web.Response(status=204)
    method_key = request.match_info["method"].lower()
    method = METHODS.get(method_key)
    if method is None or request.method != method.verb:
        return text(404, "Not Found")
    raw_id = request.match_info["id_instance"]
    id_instance = int(raw_id) if raw_id.isdigit() else None
    await read_body_first(request)
    decision = st.faults.decide(method_key, id_instance)
    fault = await apply_fault(decision)
    if fault is not None:
        return fault
    response = await _instance_call(st, request, method, method_key, id_instance)
    return await finish(request, decision, response)


async def _instance_call(
    st: EmulatorState,
    request: web.Request,
    method: Method,
    method_key: str,
    id_instance: int | None,
) -> web.StreamResponse:
    inst = st.registry.by_id.get(id_instance) if id_instance is not None else None
    if inst is None:
        return text(403, "Forbidden")
    if request.match_info["token"] != inst.token:
        if request.match_info["token"] in inst.old_tokens:
            inst.stale_token_calls += 1
        return text(401, "Unauthorized")
    if not st.limiter.allow(inst.id_instance, method_key):
        return text(429, "Too Many Requests")
    if inst.quota is not None and (not inst.quota.methods or method_key in inst.quota.methods):
        return json_response(quota_body(method.name, inst), status=466)
    now = st.now()
    variants = st.config.variants
    if inst.deleted_at is not None:
        long_ago = now - inst.deleted_at >= st.config.timings.deleted_long_ago_days * 86400
        if long_ago and variants.deleted_long_ago_response == "unauthorized":
            # Forum post 397: indistinguishable from a bad token on the wire.
            return text(401, "Unauthorized")
        if variants.deleted_response == "deleted":
            return text(400, TEXT_DELETED)
        if method_key == "getstateinstance":
            return json_response({"stateInstance": "starting"})
        if method_key not in _REPORTING:
            return text(400, TEXT_STARTING)
    elif inst.creating(now):
        if variants.creation_response == "unauthorized":
            return text(401, "Unauthorized")
        if variants.creation_response == "expired":
            return text(400, TEXT_EXPIRED)
        if method_key == "getstateinstance":
            return json_response(None)
        if method_key not in ("qr", "scanqrcode"):
            return text(400, TEXT_STARTING)
    elif inst.expired(now):
        return text(400, TEXT_EXPIRED)
    elif inst.state(now) == "starting" and method_key in {
        m.lower() for m in variants.starting_rejects
    }:
        return text(400, TEXT_STARTING)
    try:
        return await method.handler(st, inst, request, now)
    except BadJson as exc:
        return text(400, str(exc))


def quota_body(method: str, inst: Instance) -> dict[str, Any]:
    """The 466 body of an exceeded Developer-plan quota for `method`."""
    assert inst.quota is not None
    return {
        "invokeStatus": {
            "method": method,
            "used": inst.quota.used,
            "total": inst.quota.total,
            "status": "QUOTE_EXCEEDED",
            "description": (
                "Monthly quota has been exceeded. The quota resets at the start of the next "
                "month. To remove restrictions, upgrade to a paid plan at "
                "https://console.green-api.com"
            ),
        },
        "correspondentsStatus": {
            "method": "correspondents",
            "used": 3,
            "total": 3,
            "status": "CORRESPONDENTS_QUOTE_EXCEEDED",
            "description": (
                "You can only send messages to 3 chats: 79001234560@c.us, "
                "79001234561@c.us, 79001234562@c.us. To remove restrictions, upgrade to a "
                "paid plan at https://console.green-api.com"
            ),
        },
    }


def add_routes(app: web.Application) -> None:
    """Route the instance and partner APIs on `app`."""
    app.router.add_route("*", "/waInstance{id_instance}/{method}/{token}", instance_endpoint)
    app.router.add_route("*", "/partner/{method}/{token}", partner_endpoint)


# The emulator's other modules and the tests reach these through `api`.
__all__ = [
    "STATE_KEY",
    "DropConnection",
    "LostAnswer",
    "add_routes",
    "can_scan",
    "json_response",
    "qr_rotation",
]
