"""Account methods: QR codes (`qr`, the `scanqrcode` WebSocket), pairing codes, WhatsApp account
data, state history and token rotation."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from aiohttp import WSMsgType, web

from whatsapp_operator.emulator.http import (
    LINKED_STATES,
    ONLINE_STATES,
    TEXT_ALREADY_LOGGED,
    TEXT_HAS_AUTH,
    TEXT_STARTING,
    TEXT_VALIDATION,
    json_response,
    read_json,
    text,
)
from whatsapp_operator.emulator.instances import (
    Instance,
    PairingCode,
)
from whatsapp_operator.emulator.state import EmulatorState

log = logging.getLogger("whatsapp_operator.emulator")


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
    """updateApiToken: replace the instance's token and answer the new one.

    The change is made before the answer is sent, so a lost-answer fault on this method
    (`loseAnswerRate`) leaves the client with a dead token and no new one.
    """
    inst.old_tokens.append(inst.token)
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


# Methods that only report, so a deleted-as-starting (ISS#637) instance can still answer them.
