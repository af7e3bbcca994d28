"""The admin API under `/admin/`: a test tool, so it shows tokens and accepts any change.

Routes (JSON in, JSON out):

* `GET /admin/health` -> `{"status": "ok", "instances": n}`.
* `GET /admin/instances` -> every instance, full view.
* `POST /admin/instances` `{idInstance?, apiTokenInstance?, state?, settings?, name?, phone?}`
  seeds one instance, ready at once unless `state` is `creating`; 201 + view.
* `GET /admin/instances/{id}` -> state, applied settings, pending settings with their apply
  time, the journal of accepted setSettings bodies (`setSettingsLog`), history, pairing
  code, quota, counters.
* `DELETE /admin/instances/{id}` deletes it as the partner API would.
* `POST /admin/instances/{id}/scan` `{phone?}` simulates scanning the current QR code;
  409 unless the instance is `notAuthorized`.
* `POST /admin/instances/{id}/pair` `{code}` enters a pairing code; 409 if none was requested,
  400 if wrong or expired (which arms the optional wrong-code bug).
* `POST /admin/instances/{id}/state` `{state, phone?, seconds?}` forces `blocked`,
  `yellowCard`, `sleepMode`, `authorized`, `notAuthorized` or `starting` (without `seconds`,
  `starting` is stuck until a reboot, logout or another forced state).
* `POST /admin/instances/{id}/drop-settings` `{count}`: the next `count` setSettings answer
  `saveSettings: true` but never apply.
* `POST /admin/instances/{id}/quota` `{enabled, methods?, used?, total?}`: Developer-plan 466
  answers for the listed methods (all methods when the list is empty).
* `POST /admin/instances/{id}/refuse-auth-code` `{count}`: the next `count`
  getAuthorizationCode calls answer `status: false`.
* `POST /admin/instances/{id}/stale-auth` `{enabled}`: unusable auth data; qr and scanqrcode
  answer the `error` "Instance has auth. You need to make log out" until a logout.
* `GET /admin/config`, `PATCH /admin/config` (partial, nested, camelCase or snake_case).
* `GET /admin/faults`, `PUT /admin/faults` (list of
  `{method, instanceId?, errorRate, status, latencyMs, dropRate, loseAnswerRate,
  loseAnswerMs}`), `DELETE /admin/faults`.
* `GET /admin/counters`, `DELETE /admin/counters`: calls per instance, method and outcome.
  (`GET /admin/timeline`, calls per method and second, is routed by `admin_timeline`;
  `GET /admin/clients`, calls per User-Agent, by `admin_clients`.)
* `POST /admin/instances/{id}/plan` `{tariff?, expirationDate?, expiresInSeconds?}`: the
  plan getInstances lists; past it, instance methods answer 400 "expired" (`admin_plan`).
* `POST /admin/partner-tokens` `{token}` accepts another partner token.
* `POST /admin/clock` `{advanceSeconds}` moves the lifecycle clock forward.

Errors are `{"error": "..."}` with 400 (bad body), 404 (unknown instance) or 409 (wrong state).
"""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from whatsapp_operator.emulator.api import STATE_KEY, can_scan, json_response, qr_rotation
from whatsapp_operator.emulator.config import FaultRule, SeedInstance, merge_patch
from whatsapp_operator.emulator.instances import Instance, Quota, format_time
from whatsapp_operator.emulator.settings import SettingsValidationError
from whatsapp_operator.emulator.state import EmulatorState

_FAULT_LIST = TypeAdapter(list[FaultRule])
_FORCEABLE = {"blocked", "yellowCard", "sleepMode", "authorized", "notAuthorized", "starting"}


def error(status: int, message: str) -> web.Response:
    """An admin error answer: `{"error": message}` with `status`."""
    return json_response({"error": message}, status=status)


async def body_of(request: web.Request) -> Any:
    """The request's JSON body, `{}` when empty; a 400 answer when it is not JSON."""
    raw = await request.text()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"bad JSON: {exc}"}), content_type="application/json"
        ) from exc


async def dict_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body; a 400 answer when it is not an object."""
    body = await body_of(request)
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "expected a JSON object"}), content_type="application/json"
        )
    return body


def view(st: EmulatorState, inst: Instance) -> dict[str, Any]:
    """Everything about `inst`, tokens and pairing code included (the admin view)."""
    now = st.now()
    state = inst.state(now)
    return {
        "idInstance": inst.id_instance,
        "apiTokenInstance": inst.token,
        "name": inst.name,
        "state": state,
        "stableState": inst.stable_state,
        "deleted": inst.deleted_at is not None,
        "phone": inst.phone,
        "wid": inst.wid,
        "timeCreated": format_time(inst.created_at),
        "readyAt": inst.ready_at,
        "startingUntil": inst.starting_until
        if inst.starting_until is None or math.isfinite(inst.starting_until)
        else "never",
        "startingReason": inst.starting_reason if inst.starting_until is not None else "",
        "listedAt": inst.listed_at,
        "staleAuth": inst.stale_auth,
        "refuseNextAuthCodes": inst.refuse_next_auth_codes,
        "settings": dict(inst.settings),
        "pendingSettings": [{"applyAt": p.apply_at, "values": p.values} for p in inst.pending],
        "dropNextSettings": inst.drop_next_settings,
        "setSettingsLog": [
            {"at": call.at, "body": call.body, "dropped": call.dropped}
            for call in inst.set_settings_log
        ],
        "qrRotation": qr_rotation(st, inst, now),
        "pairingCode": None
        if inst.pairing is None
        else {
            "code": inst.pairing.code,
            "phone": inst.pairing.phone,
            "expiresAt": inst.pairing.expires_at,
        },
        "quota": None
        if inst.quota is None
        else {
            "methods": sorted(inst.quota.methods),
            "used": inst.quota.used,
            "total": inst.quota.total,
        },
        "history": [
            {"stateInstance": s, "timestamp": w, "phoneNumber": p} for s, w, p in inst.history
        ],
        "counters": st.counters.snapshot(str(inst.id_instance)).get(str(inst.id_instance), {}),
        "tariff": inst.tariff,
        "expirationDate": format_time(inst.expires_at) if inst.expires_at is not None else None,
        "isExpired": inst.expired(now),
        # Calls made with a token updateApiToken replaced (the tokens are never shown).
        "tokenGeneration": len(inst.old_tokens),
        "staleTokenCalls": inst.stale_token_calls,
        "now": now,
    }


def find(request: web.Request) -> tuple[EmulatorState, Instance]:
    """The state and the instance named by the route's `{id}`; a 404 answer when there is none."""
    st = request.app[STATE_KEY]
    raw = request.match_info["id"]
    inst = st.registry.by_id.get(int(raw)) if raw.isdigit() else None
    if inst is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": f"no instance {raw}"}), content_type="application/json"
        )
    return st, inst


async def health(request: web.Request) -> web.Response:
    """`GET /admin/health`: ok, and how many instances exist."""
    st = request.app[STATE_KEY]
    return json_response({"status": "ok", "instances": len(st.registry.by_id)})


async def list_instances(request: web.Request) -> web.Response:
    """`GET /admin/instances`: every instance's view."""
    st = request.app[STATE_KEY]
    return json_response([view(st, inst) for inst in st.registry.by_id.values()])


async def seed_instance(request: web.Request) -> web.Response:
    """`POST /admin/instances`: seed one instance; 201 and its view, 409 for a taken id."""
    st = request.app[STATE_KEY]
    try:
        seed = SeedInstance.model_validate(await dict_body(request))
        inst = st.seed(seed)
    except ValidationError as exc:
        return error(400, str(exc))
    except SettingsValidationError as exc:
        return error(400, f"settings: {exc}")
    except KeyError:
        return error(409, "idInstance already exists")
    st.notify()
    return json_response(view(st, inst), status=201)


async def get_instance(request: web.Request) -> web.Response:
    """`GET /admin/instances/{id}`: the instance's view."""
    st, inst = find(request)
    return json_response(view(st, inst))


async def delete_instance(request: web.Request) -> web.Response:
    """`DELETE /admin/instances/{id}`: delete it as the partner API would."""
    st, inst = find(request)
    if inst.deleted_at is None:
        st.delete(inst)
    return json_response(view(st, inst))


async def scan(request: web.Request) -> web.Response:
    """`POST .../scan`: link a phone as if it scanned the QR code; 409 when none is on offer."""
    st, inst = find(request)
    body = await dict_body(request)
    now = st.now()
    state = inst.state(now)
    if not can_scan(st, inst, now):
        return error(409, f"instance is {state} and shows no QR code to scan")
    phone = str(body.get("phone") or st.registry.new_phone(inst.id_instance))
    inst.set_stable(now, "authorized", phone)
    st.qr.forget(inst.id_instance)
    st.notify()
    return json_response(view(st, inst))


async def pair(request: web.Request) -> web.Response:
    """`POST .../pair`: enter a pairing code; 409 if none was requested, 400 if wrong or expired."""
    st, inst = find(request)
    body = await dict_body(request)
    now = st.now()
    state = inst.state(now)
    if inst.deleted_at is not None or state != "notAuthorized" or inst.pairing is None:
        return error(409, f"instance is {state} and has no pairing code requested")
    pairing = inst.pairing
    if str(body.get("code", "")).upper() != pairing.code or now > pairing.expires_at:
        inst.wrong_code_entered = True
        return error(400, "wrong or expired pairing code")
    inst.pairing = None
    inst.set_stable(now, "authorized", pairing.phone)
    st.notify()
    return json_response(view(st, inst))


async def force_state(request: web.Request) -> web.Response:
    """`POST .../state`: force a state; `starting` lasts `seconds`, else until the next change."""
    st, inst = find(request)
    body = await dict_body(request)
    state = body.get("state")
    if state not in _FORCEABLE:
        return error(400, f"state must be one of {sorted(_FORCEABLE)}")
    now = st.now()
    if state == "starting":
        seconds = body.get("seconds")
        inst.start(now, math.inf if seconds is None else float(seconds), reason="forced")
    else:
        phone = body.get("phone")
        if state != "notAuthorized" and not (phone or inst.phone):
            phone = st.registry.new_phone(inst.id_instance)
        inst.set_stable(now, state, None if phone is None else str(phone))
    st.notify()
    return json_response(view(st, inst))


async def drop_settings(request: web.Request) -> web.Response:
    """`POST .../drop-settings`: the next `count` setSettings are answered but never applied."""
    st, inst = find(request)
    body = await dict_body(request)
    count = body.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        return error(400, "count must be a non-negative integer")
    inst.drop_next_settings = count
    return json_response(view(st, inst))


async def refuse_auth_code(request: web.Request) -> web.Response:
    """`POST .../refuse-auth-code`: the next `count` getAuthorizationCode answer `status: false`."""
    st, inst = find(request)
    body = await dict_body(request)
    count = body.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        return error(400, "count must be a non-negative integer")
    inst.refuse_next_auth_codes = count
    return json_response(view(st, inst))


async def stale_auth(request: web.Request) -> web.Response:
    """`POST .../stale-auth`: give the instance unusable auth data (or take it away)."""
    st, inst = find(request)
    body = await dict_body(request)
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        return error(400, "enabled must be a boolean")
    inst.stale_auth = enabled
    st.qr.forget(inst.id_instance)
    st.notify()
    return json_response(view(st, inst))


async def quota(request: web.Request) -> web.Response:
    """`POST .../quota`: answer 466 for the listed methods (all when empty), or stop doing so."""
    st, inst = find(request)
    body = await dict_body(request)
    if not body.get("enabled", True):
        inst.quota = None
    else:
        methods = frozenset(str(m).lower() for m in body.get("methods", []))
        total = int(body.get("total", 100))
        inst.quota = Quota(methods=methods, used=int(body.get("used", total)), total=total)
    return json_response(view(st, inst))


async def get_config(request: web.Request) -> web.Response:
    """`GET /admin/config`: the configuration in force."""
    st = request.app[STATE_KEY]
    return json_response(st.config.model_dump(mode="json", by_alias=True))


async def patch_config(request: web.Request) -> web.Response:
    """`PATCH /admin/config`: merge a partial configuration in; instances are kept."""
    st = request.app[STATE_KEY]
    body = await dict_body(request)
    if not isinstance(body, dict):
        return error(400, "expected a JSON object")
    try:
        st.reconfigure(merge_patch(st.config, body))
    except ValidationError as exc:
        return error(400, str(exc))
    return json_response(st.config.model_dump(mode="json", by_alias=True))


def _faults_json(st: EmulatorState) -> list[dict[str, Any]]:
    return [rule.model_dump(mode="json", by_alias=True) for rule in st.faults.rules]


async def get_faults(request: web.Request) -> web.Response:
    """`GET /admin/faults`: the fault rules in force."""
    return json_response(_faults_json(request.app[STATE_KEY]))


async def put_faults(request: web.Request) -> web.Response:
    """`PUT /admin/faults`: replace the fault rules (a list, one rule, or `{rules}`)."""
    st = request.app[STATE_KEY]
    body = await body_of(request)
    if isinstance(body, dict):
        body = body.get("rules", [body])
    try:
        st.faults.rules = _FAULT_LIST.validate_python(body)
    except ValidationError as exc:
        return error(400, str(exc))
    return json_response(_faults_json(st))


async def delete_faults(request: web.Request) -> web.Response:
    """`DELETE /admin/faults`: remove every fault rule."""
    st = request.app[STATE_KEY]
    st.faults.rules = []
    return json_response([])


async def get_counters(request: web.Request) -> web.Response:
    """`GET /admin/counters`: calls per instance, method and outcome."""
    return json_response(request.app[STATE_KEY].counters.snapshot())


async def delete_counters(request: web.Request) -> web.Response:
    """`DELETE /admin/counters`: reset the call counters."""
    request.app[STATE_KEY].counters.clear()
    return json_response({})


async def add_partner_token(request: web.Request) -> web.Response:
    """`POST /admin/partner-tokens`: accept another partner token."""
    st = request.app[STATE_KEY]
    body = await dict_body(request)
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        return error(400, "token must be a non-empty string")
    st.partner_tokens.add(token)
    return json_response({"partnerTokens": len(st.partner_tokens)})


async def advance_clock(request: web.Request) -> web.Response:
    """`POST /admin/clock`: move the lifecycle clock forward by `advanceSeconds`."""
    st = request.app[STATE_KEY]
    body = await dict_body(request)
    seconds = body.get("advanceSeconds") if isinstance(body, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        return error(400, "advanceSeconds must be a non-negative number")
    st.clock.advance(float(seconds))
    st.notify()
    return json_response({"now": st.now(), "offset": st.clock.offset})


def add_routes(app: web.Application) -> None:
    """Route the admin API on `app`."""
    r = app.router
    r.add_get("/admin/health", health)
    r.add_get("/admin/instances", list_instances)
    r.add_post("/admin/instances", seed_instance)
    r.add_get("/admin/instances/{id}", get_instance)
    r.add_delete("/admin/instances/{id}", delete_instance)
    r.add_post("/admin/instances/{id}/scan", scan)
    r.add_post("/admin/instances/{id}/pair", pair)
    r.add_post("/admin/instances/{id}/state", force_state)
    r.add_post("/admin/instances/{id}/drop-settings", drop_settings)
    r.add_post("/admin/instances/{id}/quota", quota)
    r.add_post("/admin/instances/{id}/refuse-auth-code", refuse_auth_code)
    r.add_post("/admin/instances/{id}/stale-auth", stale_auth)
    r.add_get("/admin/config", get_config)
    r.add_patch("/admin/config", patch_config)
    r.add_get("/admin/faults", get_faults)
    r.add_put("/admin/faults", put_faults)
    r.add_delete("/admin/faults", delete_faults)
    r.add_get("/admin/counters", get_counters)
    r.add_delete("/admin/counters", delete_counters)
    r.add_post("/admin/partner-tokens", add_partner_token)
    r.add_post("/admin/clock", advance_clock)
