"""GREEN-API's queues: undelivered notifications (incoming) and messages waiting to be sent.

Like the rest of the emulator, computed lazily from timestamps on the lifecycle clock:
every read first settles what the elapsed time did. The incoming queue grows at a set
rate while the instance's webhook receiver "fails" (an admin switch) and drains at
GREEN-API's delivery speed once it recovers; anything older than 24 h is dropped, as
GREEN-API keeps a notification for 24 h. Queued outgoing messages (enqueued through the
admin API) leave the queue once the instance is authorized, and also after 24 h.

Instance API methods (each answers as GREEN-API documents it):

* `GET getWebhooksCount` -> `{"count": n}`;
* `DELETE clearWebhooksQueue` -> `{"isCleared": true, "reason": ""}`, or, within a minute
  of the last clear, `{"isCleared": false, "reason": "Too many requests", "leftTime": s}`;
* `GET getMessagesCount` -> `{"count": n}`;
* `GET showMessagesQueue` -> `[{"messageID", "chatId", "typeMessage"}, ...]`;
* `GET clearMessagesQueue` -> `{"isCleared": true}`, with the same once-a-minute rule.

Admin routes:

* `POST /admin/instances/{id}/webhook-receiver` `{failing, ratePerSecond?, drainPerSecond?}`:
  the receiver fails (notifications accumulate at `ratePerSecond`, default 1) or works
  (the queue drains at `drainPerSecond`, default 50, GREEN-API's delivery speed);
* `POST /admin/instances/{id}/notifications` `{count}`: `count` notifications join the
  incoming queue now (delivered at once while the receiver works);
* `POST /admin/instances/{id}/messages` `{count?, chatId?, typeMessage?}`: queue outgoing
  messages (they stay while the instance is not authorized);
* `GET /admin/instances/{id}/queues`: both queues, the receiver switch and the clears.
"""

from __future__ import annotations

import math
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from whatsapp_operator.emulator.http import STATE_KEY, json_response
from whatsapp_operator.emulator.instances import Instance
from whatsapp_operator.emulator.state import EmulatorState

RETENTION_SECONDS = 24 * 3600.0
# "The method can be executed on the instance no more than once per minute."
CLEAR_INTERVAL_SECONDS = 60.0
DEFAULT_FAIL_RATE = 1.0
# GREEN-API delivers about 50 notifications a second.
DEFAULT_DRAIN_RATE = 50.0
QUEUE_LIMIT = 200_000


@dataclass
class QueuedMessage:
    """An outgoing message waiting to be sent."""

    at: float
    message_id: str
    chat_id: str
    type_message: str


@dataclass
class Queues:
    """One instance's queues, the receiver switch and when each queue was last cleared."""

    last: float
    failing: bool = False
    rate: float = DEFAULT_FAIL_RATE
    drain: float = DEFAULT_DRAIN_RATE
    # Arrival times of undelivered notifications, oldest first.
    incoming: deque[float] = field(default_factory=deque)
    # Fractions of a notification carried from one settle to the next.
    arriving: float = 0.0
    delivering: float = 0.0
    outgoing: deque[QueuedMessage] = field(default_factory=deque)
    cleared: dict[str, float] = field(default_factory=dict)
    next_message: int = 0

    def settle(self, now: float, authorized: bool) -> None:
        """Apply what the time since the last settle did to both queues."""
        elapsed = max(0.0, now - self.last)
        self.last = max(self.last, now)
        if self.failing:
            self.arriving += elapsed * self.rate
            arrived = int(self.arriving)
            self.arriving -= arrived
            for _ in range(min(arrived, QUEUE_LIMIT - len(self.incoming))):
                self.incoming.append(now)
        else:
            self.arriving = 0.0
            self.delivering += elapsed * self.drain
            sent = min(int(self.delivering), len(self.incoming))
            self.delivering = 0.0 if sent == len(self.incoming) else self.delivering - sent
            for _ in range(sent):
                self.incoming.popleft()
        horizon = now - RETENTION_SECONDS
        while self.incoming and self.incoming[0] <= horizon:
            self.incoming.popleft()
        if authorized:
            self.outgoing.clear()
        while self.outgoing and self.outgoing[0].at <= horizon:
            self.outgoing.popleft()

    def clear(self, which: str, now: float) -> int | None:
        """Clear a queue: None when done, else the whole seconds until a clear is allowed."""
        last = self.cleared.get(which)
        if last is not None and now - last < CLEAR_INTERVAL_SECONDS:
            return max(1, math.ceil(CLEAR_INTERVAL_SECONDS - (now - last)))
        self.cleared[which] = now
        if which == "webhooks":
            self.incoming.clear()
            self.delivering = 0.0
        else:
            self.outgoing.clear()
        return None


# Per emulator (tests run several in one process), kept beside its state: the queues are
# the only part of an instance that this module alone reads and writes.
_STORES: weakref.WeakKeyDictionary[EmulatorState, dict[int, Queues]] = weakref.WeakKeyDictionary()


def queues_of(st: EmulatorState, inst: Instance, now: float) -> Queues:
    """The instance's queues, settled to `now`."""
    store = _STORES.setdefault(st, {})
    queues = store.get(inst.id_instance)
    if queues is None:
        queues = store[inst.id_instance] = Queues(last=now)
    queues.settle(now, authorized=inst.state(now) == "authorized")
    return queues


# --- instance methods ---------------------------------------------------------------------


async def get_webhooks_count(
    st: EmulatorState, inst: Instance, request: web.Request, now: float
) -> web.Response:
    """getWebhooksCount: notifications waiting in the incoming queue."""
    return json_response({"count": len(queues_of(st, inst, now).incoming)})


async def get_messages_count(
    st: EmulatorState, inst: Instance, request: web.Request, now: float
) -> web.Response:
    """getMessagesCount: messages waiting in the outgoing queue."""
    return json_response({"count": len(queues_of(st, inst, now).outgoing)})


async def show_messages_queue(
    st: EmulatorState, inst: Instance, request: web.Request, now: float
) -> web.Response:
    """showMessagesQueue: the waiting messages, their chat and kind."""
    return json_response(
        [
            {"messageID": m.message_id, "chatId": m.chat_id, "typeMessage": m.type_message}
            for m in queues_of(st, inst, now).outgoing
        ]
    )


async def clear_webhooks_queue(
    st: EmulatorState, inst: Instance, request: web.Request, now: float
) -> web.Response:
    """clearWebhooksQueue: drop the incoming queue, at most once a minute."""
    left = queues_of(st, inst, now).clear("webhooks", now)
    if left is not None:
        return json_response({"isCleared": False, "reason": "Too many requests", "leftTime": left})
    return json_response({"isCleared": True, "reason": ""})


async def clear_messages_queue(
    st: EmulatorState, inst: Instance, request: web.Request, now: float
) -> web.Response:
    """clearMessagesQueue: drop the outgoing queue, at most once a minute."""
    left = queues_of(st, inst, now).clear("messages", now)
    if left is not None:
        return json_response({"isCleared": False, "reason": "Too many requests", "leftTime": left})
    return json_response({"isCleared": True})


# (name, verb, handler) for `api.METHODS`.
QUEUE_METHODS = (
    ("getWebhooksCount", "GET", get_webhooks_count),
    ("clearWebhooksQueue", "DELETE", clear_webhooks_queue),
    ("getMessagesCount", "GET", get_messages_count),
    ("showMessagesQueue", "GET", show_messages_queue),
    ("clearMessagesQueue", "GET", clear_messages_queue),
)


# --- admin ----------------------------------------------------------------------------------


def _find(request: web.Request) -> tuple[EmulatorState, Instance]:
    st = request.app[STATE_KEY]
    raw = request.match_info["id"]
    inst = st.registry.by_id.get(int(raw)) if raw.isdigit() else None
    if inst is None:
        raise web.HTTPNotFound(
            text=f'{{"error": "no instance {raw}"}}', content_type="application/json"
        )
    return st, inst


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.text()
    if not raw.strip():
        return {}
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text='{"error": "expected a JSON object"}', content_type="application/json"
        )
    return body


def _number(body: dict[str, Any], key: str, default: float) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise web.HTTPBadRequest(
            text=f'{{"error": "{key} must be a number >= 0"}}', content_type="application/json"
        )
    return float(value)


def queues_view(queues: Queues) -> dict[str, Any]:
    """Both queues as the admin API shows them."""
    return {
        "webhookReceiverFailing": queues.failing,
        "ratePerSecond": queues.rate,
        "drainPerSecond": queues.drain,
        "incoming": len(queues.incoming),
        "outgoing": len(queues.outgoing),
        "messages": [
            {"messageID": m.message_id, "chatId": m.chat_id, "typeMessage": m.type_message}
            for m in queues.outgoing
        ],
        "lastCleared": dict(queues.cleared),
    }


async def webhook_receiver(request: web.Request) -> web.Response:
    """`POST .../webhook-receiver` `{failing, ratePerSecond?, drainPerSecond?}`."""
    st, inst = _find(request)
    body = await _body(request)
    failing = body.get("failing")
    if not isinstance(failing, bool):
        return json_response({"error": "failing must be true or false"}, status=400)
    now = st.now()
    queues = queues_of(st, inst, now)
    queues.rate = _number(body, "ratePerSecond", queues.rate)
    queues.drain = _number(body, "drainPerSecond", queues.drain)
    queues.failing = failing
    return json_response(queues_view(queues))


async def add_notifications(request: web.Request) -> web.Response:
    """`POST .../notifications` `{count}`: notifications join the incoming queue now."""
    st, inst = _find(request)
    count = int(_number(await _body(request), "count", 1))
    now = st.now()
    queues = queues_of(st, inst, now)
    for _ in range(min(count, QUEUE_LIMIT - len(queues.incoming))):
        queues.incoming.append(now)
    # A working receiver takes them at its speed, from now on.
    queues.delivering = 0.0
    return json_response(queues_view(queues))


async def add_messages(request: web.Request) -> web.Response:
    """`POST .../messages` `{count?, chatId?, typeMessage?}`: queue outgoing messages."""
    st, inst = _find(request)
    body = await _body(request)
    count = int(_number(body, "count", 1))
    now = st.now()
    queues = queues_of(st, inst, now)
    for _ in range(min(count, QUEUE_LIMIT - len(queues.outgoing))):
        queues.next_message += 1
        queues.outgoing.append(
            QueuedMessage(
                at=now,
                message_id=f"BAE5{inst.id_instance:010d}{queues.next_message:06d}",
                chat_id=str(body.get("chatId") or "79001234567@c.us"),
                type_message=str(body.get("typeMessage") or "textMessage"),
            )
        )
    return json_response(queues_view(queues))


async def get_queues(request: web.Request) -> web.Response:
    """`GET .../queues`: both queues, the receiver switch and the last clears."""
    st, inst = _find(request)
    return json_response(queues_view(queues_of(st, inst, st.now())))


def add_routes(app: web.Application) -> None:
    """Route the queue admin endpoints on `app`."""
    r = app.router
    r.add_post("/admin/instances/{id}/webhook-receiver", webhook_receiver)
    r.add_post("/admin/instances/{id}/notifications", add_notifications)
    r.add_post("/admin/instances/{id}/messages", add_messages)
    r.add_get("/admin/instances/{id}/queues", get_queues)
