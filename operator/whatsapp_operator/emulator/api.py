"""GREEN-API's instance API (`/waInstance{id}/{method}/{token}`) and partner API.

Check order for an instance call, cheapest and most generic first: OPTIONS (204), method name
(404), HTTP verb (404), the request body is read, injected faults, instance id (403), token
(401), rate limit (429), quota (466), deleted (400, or 401 when deleted long ago under the
variant), being created (per variant), then the method itself; a lost-answer fault then
withholds whatever that produced.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from whatsapp_operator.emulator.faults import FaultDecision
from whatsapp_operator.emulator.instances import (
    NOT_DELETED_TIME,
    Instance,
    PairingCode,
    PendingSettings,
    SetSettingsCall,
    format_time,
)
from whatsapp_operator.emulator.settings import SettingsValidationError, render_settings
from whatsapp_operator.emulator.state import EmulatorState

log = logging.getLogger("whatsapp_operator.emulator")

STATE_KEY = web.AppKey("emulator_state", EmulatorState)

TEXT_STARTING = "instance in starting process try later"
TEXT_NOT_AUTHORIZED = {
    "current": "instance is starting or not authorized",
    "old": "instance account not authorized",
}
TEXT_EXPIRED = "Instance account is expired. Renew your instance from personal area"
TEXT_DELETED = "Instance is deleted"
TEXT_VALIDATION = "Bad Request Validation failed"
TEXT_ALREADY_LOGGED = "instance account already authorized"
TEXT_HAS_AUTH = "Instance has auth. You need to make log out"
LINKED_STATES = frozenset({"authorized", "yellowCard", "sleepMode", "blocked"})
ONLINE_STATES = frozenset({"authorized", "yellowCard"})

Handler = Callable[[EmulatorState, Instance, web.Request, float], Awaitable[web.StreamResponse]]


class DropConnection(Exception):
    """Raised to close the client's connection without any response (injected fault)."""


class LostAnswer(DropConnection):
    """The call took effect, but its answer was withheld and the connection closed."""


@dataclass(frozen=True)
class Method:
    """An instance API method: its name, its HTTP verb and its handler."""

    name: str
    verb: str
    handler: Handler


def text(status: int, body: str) -> web.Response:
    """A plain-text response."""
    return web.Response(status=status, text=body)


def json_response(body: Any, status: int = 200) -> web.Response:
    """A JSON response."""
    return web.Response(
        status=status, body=json.dumps(body).encode(), content_type="application/json"
    )


class BadJson(ValueError):
    """The request body is not JSON; answered 400 with a message like GREEN-API's."""

    pass


async def read_json(request: web.Request, *, allow_empty: bool) -> Any:
    """The request's JSON body (`{}` for an empty one if `allow_empty`); BadJson otherwise."""
    raw = await request.text()
    if not raw.strip():
        if allow_empty:
            return {}
        raise BadJson("Unexpected end of JSON input")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        token = raw[exc.pos] if exc.pos < len(raw) else "end"
        raise BadJson(f"Unexpected token {token} in JSON at position {exc.pos}") from exc


def validation_failed(exc: SettingsValidationError | None = None) -> web.Response:
    """GREEN-API's 400 "Validation failed" answer, naming the field when known."""
    if exc is None:
        return text(400, TEXT_VALIDATION)
    return text(400, f"{TEXT_VALIDATION}: {exc.field} {exc.reason}")


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


def qr_while_starting(st: EmulatorState, inst: Instance, now: float) -> bool:
    """True while a setSettings restart of an unlinked instance still hands out QR codes.

    GREEN-API's scenario page: "Setting the settings may take up to 5 minutes. During this
    time, you can request a QR code." Other restarts (reboot, forced, the wrong-code bug) are
    not covered by that sentence, so they keep refusing.
    """
    return (
        st.config.variants.qr_while_starting == "allowed"
        and inst.deleted_at is None
        and inst.state(now) == "starting"
        and inst.starting_reason == "settings"
        and inst.stable_state == "notAuthorized"
    )


def can_scan(st: EmulatorState, inst: Instance, now: float) -> bool:
    """Whether a QR code is on offer, so that a phone could scan it (admin `scan`)."""
    if inst.deleted_at is not None or inst.stale_auth:
        return False
    return inst.state(now) == "notAuthorized" or qr_while_starting(st, inst, now)


def qr_frame(st: EmulatorState, inst: Instance, now: float) -> dict[str, str]:
    """The `{type, message}` answer shared by `qr` and the scanqrcode WebSocket."""
    state = inst.state(now)
    if state in LINKED_STATES:
        if st.config.variants.qr_when_authorized == "hasAuth":
            return {"type": "error", "message": TEXT_HAS_AUTH}
        return {"type": "alreadyLogged", "message": TEXT_ALREADY_LOGGED}
    if state == "creating":
        return {"type": "error", "message": "instance is being created try later"}
    if inst.deleted_at is not None:
        return {"type": "error", "message": TEXT_STARTING}
    if inst.stale_auth:
        return {"type": "error", "message": TEXT_HAS_AUTH}
    if state == "starting" and not qr_while_starting(st, inst, now):
        return {"type": "error", "message": TEXT_STARTING}
    return {
        "type": "qrCode",
        "message": st.qr.base64_png(inst.id_instance, qr_rotation(st, inst, now), inst.qr_secret),
    }


def qr_rotation(st: EmulatorState, inst: Instance, now: float) -> int:
    """How many times the instance's QR code has been replaced by `now`."""
    return int(max(0.0, now - inst.ready_at) // st.config.timings.qr_rotate_seconds)


async def qr(st: EmulatorState, inst: Instance, request: web.Request, now: float) -> web.Response:
    """qr: the current QR code, or why there is none."""
    return json_response(qr_frame(st, inst, now))


async def get_authorization_code(
    st: EmulatorState, inst: Instance, request: web.Request, now: float
) -> web.Response:
    """getAuthorizationCode: a pairing code for `phoneNumber`, unless linked or refused."""
    body = await read_json(request, allow_empty=False)
    phone = body.get("phoneNumber") if isinstance(body, dict) else None
    if isinstance(phone, bool) or not isinstance(phone, int) or not 10**6 <= phone < 10**15:
        return text(400, f"{TEXT_VALIDATION}: phoneNumber must be an integer phone number")
    state = inst.state(now)
    if state in LINKED_STATES:
        return text(400, TEXT_ALREADY_LOGGED)
    if st.config.variants.wrong_code_bug and inst.wrong_code_entered:
        # Forum RU 381: stuck in starting until logout.
        inst.wrong_code_entered = False
        inst.start(now, math.inf, reason="wrongCode")
        st.notify()
    refused = False
    if inst.refuse_next_auth_codes > 0:
        inst.refuse_next_auth_codes -= 1
        refused = True
    elif st.config.auth_code_refused_probability and (
        st.rng.random() < st.config.auth_code_refused_probability
    ):
        refused = True
    if refused:
        # Documented as a rare answer a client must retry; no code is issued.
        log.info("instance %s: getAuthorizationCode refused by fault injection", inst.id_instance)
        if st.config.variants.auth_code_refused_body == "statusOnly":
            return json_response({"status": False})
        return json_response({"status": False, "code": ""})
    code = st.registry.new_pairing_code()
    inst.pairing = PairingCode(
        code=code, phone=str(phone), expires_at=now + st.config.timings.auth_code_valid_seconds
    )
    return json_response({"status": True, "code": code})


async def get_wa_settings(
    st: EmulatorState, inst: Instance, request: web.Request, now: float
) -> web.Response:
    """getWaSettings: the linked account (phone, avatar, device id) and the state."""
    state = inst.state(now)
    linked = state in ONLINE_STATES or state == "sleepMode"
    phone = inst.phone if linked else ""
    return json_response(
        {
            "avatar": f"https://pps.whatsapp.net/v/t61.24694-24/{inst.id_instance}.jpg"
            if linked
            else "",
            "phone": phone,
            "stateInstance": state,
            "deviceId": f"{phone}:8@s.whatsapp.net" if linked else "",
        }
    )


async def get_state_instance_history(
    st: EmulatorState, inst: Instance, request: web.Request, now: float
) -> web.Response:
    """GetStateInstanceHistory: the last `count` states (default 100), newest first."""
    # PY55 sends ?count=N; the docs show a JSON body on a GET. Both are accepted.
    raw_count: Any = request.query.get("count")
    if raw_count is None and request.can_read_body:
        body = await read_json(request, allow_empty=True)
        raw_count = body.get("count") if isinstance(body, dict) else None
    try:
        count = 100 if raw_count is None else int(raw_count)
    except (TypeError, ValueError):
        return text(400, f"{TEXT_VALIDATION}: count must be an integer")
    if count < 1:
        return text(400, f"{TEXT_VALIDATION}: count must be positive")
    inst.settle(now)
    entries = list(inst.history)[-count:]
    return json_response(
        [
            {"stateInstance": state, "timestamp": int(when), "phoneNumber": phone}
            for state, when, phone in reversed(entries)
        ]
    )


async def update_api_token(
    st: EmulatorState, inst: Instance, request: web.Request, now: float
) -> web.Response:
    """updateApiToken: replace the instance's token and answer the new one."""
    inst.token = st.registry.new_token()
    log.info("instance %s: API token rotated", inst.id_instance)
    return json_response({"apiTokenInstance": inst.token})


async def scan_qr_code(
    st: EmulatorState, inst: Instance, request: web.Request, now: float
) -> web.StreamResponse:
    """scanqrcode: a WebSocket session streaming QR frames until a final one.

    Per variant, a second session on the same instance gets an error frame and is closed.
    """
    ws = web.WebSocketResponse(heartbeat=None)
    await ws.prepare(request)
    if st.config.variants.ws_single_session and inst.id_instance in st.ws_sessions:
        await ws.send_json(
            {"type": "error", "message": "only one websocket session per instance is allowed"}
        )
        await ws.close()
        return ws
    st.ws_sessions.add(inst.id_instance)
    st.sockets.add(ws)
    try:
        await _qr_session(st, inst, ws)
    finally:
        st.ws_sessions.discard(inst.id_instance)
        st.sockets.discard(ws)
        if not ws.closed:
            await ws.close()
    return ws


async def _qr_session(st: EmulatorState, inst: Instance, ws: web.WebSocketResponse) -> None:
    timings = st.config.timings
    started = st.now()
    frame = qr_frame(st, inst, started)
    await ws.send_json(frame)
    if frame["type"] != "qrCode":
        return
    sent_rotation = qr_rotation(st, inst, started)
    reader = asyncio.ensure_future(_drain(ws))
    try:
        while not reader.done():
            now = st.now()
            state = inst.state(now)
            if (
                inst.deleted_at is not None
                or state == "creating"
                or (state == "starting" and not qr_while_starting(st, inst, now))
            ):
                await ws.send_json({"type": "error", "message": TEXT_STARTING})
                return
            if state in LINKED_STATES:
                await ws.send_json(
                    {
                        "type": "accountData",
                        "message": "account authorized",
                        "wid": inst.wid,
                        "pushname": f"User {inst.phone}",
                        "webhookUrl": inst.settings.get("webhookUrl", ""),
                    }
                )
                return
            if now - started >= timings.ws_timeout_seconds:
                kind = st.config.variants.ws_timeout_type
                await ws.send_json({"type": kind, "message": "timeoutExpired"})
                return
            rotation = qr_rotation(st, inst, now)
            if rotation != sent_rotation:
                sent_rotation = rotation
                await ws.send_json(qr_frame(st, inst, now))
                continue
            next_rotation_at = inst.ready_at + (rotation + 1) * timings.qr_rotate_seconds
            wait = min(next_rotation_at, started + timings.ws_timeout_seconds) - now
            waiter = asyncio.ensure_future(st.wait_for_change(wait))
            await asyncio.wait({reader, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
    finally:
        reader.cancel()


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) client frames, so a client-side close ends the session."""
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break


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
    )
}
# Methods that only report, so a deleted-as-starting (ISS#637) instance can still answer them.
_REPORTING = frozenset({"getstateinstance", "getstatusinstance", "getwasettings", "qr"})


async def read_body_first(request: web.Request) -> None:
    """Buffer the whole body before any injected delay.

    aiohttp fails an unread body once the client hangs up, which would silently cancel the
    call; GREEN-API acts on a request it has received even if the client stopped waiting
    (its 499 "Client Closed Request"). `request.text()` later reuses this buffer.
    """
    if request.body_exists:
        await request.read()


async def apply_fault(decision: FaultDecision) -> web.Response | None:
    """Apply a fault's latency, then its drop (DropConnection) or its error response, if any."""
    if decision.latency_ms:
        await asyncio.sleep(decision.latency_ms / 1000)
    if decision.drop:
        raise DropConnection
    if decision.status is not None:
        return text(decision.status, _REASONS.get(decision.status, "Injected fault"))
    return None


async def finish(
    request: web.Request, decision: FaultDecision, response: web.StreamResponse
) -> web.StreamResponse:
    """Deliver `response`, unless a lost-answer fault holds it back.

    The hold ends after `lose_answer_ms` or as soon as the client hangs up; then the
    connection is closed without an answer. A WebSocket has already answered (its handshake),
    so it is delivered as is.
    """
    if decision.lose_answer_ms is None or response.prepared:
        return response
    loop = asyncio.get_running_loop()
    deadline = loop.time() + decision.lose_answer_ms / 1000
    while (remaining := deadline - loop.time()) > 0:
        transport = request.transport
        if transport is None or transport.is_closing():
            break
        # aiohttp does not cancel a handler whose client left, so the hold polls for it.
        await asyncio.sleep(min(0.05, remaining))
    log.info(
        "%s: answer %s withheld by fault injection",
        request.match_info.get("method", "?"),
        response.status,
    )
    raise LostAnswer


_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    429: "Too Many Requests",
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
                "tariff": "PARTNER_23",
                "isFree": False,
                "isPartner": True,
                # Partner instances auto-renew: always a month ahead of "now".
                "expirationDate": format_time(now + 30 * 86400),
                "isExpired": False,
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


def add_routes(app: web.Application) -> None:
    """Route the instance and partner APIs on `app`."""
    app.router.add_route("*", "/waInstance{id_instance}/{method}/{token}", instance_endpoint)
    app.router.add_route("*", "/partner/{method}/{token}", partner_endpoint)
