"""The GREEN-API client: the only code in the project that speaks HTTP to GREEN-API.

One `GreenApi` per process owns the pooled HTTP connections and the rate limiter;
it hands out cheap per-instance and per-partner clients. Every call has a timeout,
is paced below the documented rate, retries what is safe to retry, and raises
only `GreenApiError`s whose messages carry no URL and no secret.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from whatsapp_operator.adapters.greenapi import responses
from whatsapp_operator.adapters.greenapi.agent import user_agent
from whatsapp_operator.adapters.greenapi.partner import HttpVerb, PartnerClient
from whatsapp_operator.adapters.greenapi.proxy import ProxyPolicy
from whatsapp_operator.adapters.greenapi.qrstream import stream_qr_frames
from whatsapp_operator.adapters.greenapi.ratelimit import RateLimiter
from whatsapp_operator.adapters.greenapi.transport import AiohttpTransport
from whatsapp_operator.endpoints import AllowList, UrlRejected
from whatsapp_operator.redaction import protect_loggers, register_secret
from whatsapp_operator.wire import errors
from whatsapp_operator.wire.models import (
    AuthorizationCode,
    LogoutResult,
    NewToken,
    QrFrame,
    QueueClearResult,
    QueueCount,
    QueuedMessage,
    RebootResult,
    SaveSettingsResult,
    Settings,
    StateHistoryEntry,
    StateReport,
    WaSettings,
    WireBoolStyle,
)

# httpcore tries `import sniffio` on every request and falls back to asyncio when it is
# missing; a failed import is not cached, so each request searched sys.path again (about
# 2 ms of CPU, most of a state poll's cost). Marking it absent makes the import fail at once.
if importlib.util.find_spec("sniffio") is None:
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]

log = logging.getLogger(__name__)

# A pairing code is usable for about 2.5 minutes and replaced by the next request; it is
# scrubbed from logs with a margin, then forgotten (the registry must not grow forever).
PAIRING_CODE_SECRET_TTL = 600.0


@dataclass(frozen=True)
class ClientOptions:
    """Process-wide knobs. Defaults suit GREEN-API's documented timings."""

    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    # Total attempts for one logical call that is safe to repeat.
    max_attempts: int = 3
    # A retry that would wait longer than this is left to the caller's own requeue.
    max_inline_retry_delay: float = 5.0
    max_connections: int = 100
    lenient_bool_style: WireBoolStyle = "yesno"
    # Take HTTP(S)_PROXY/ALL_PROXY/NO_PROXY from the environment (proxy.py has the rule).
    trust_env: bool = True
    # Whole-call limit (connect, send, every byte of the answer), on top of the per-read
    # timeout: a server dripping a byte before each read timeout is cut off here.
    deadline: float = 30.0
    # GREEN-API's largest answer is a QR PNG of ~10 KB; anything near this is not GREEN-API.
    max_response_bytes: int = 1 << 20


def _secret(value: SecretStr | str) -> SecretStr:
    secret = value if isinstance(value, SecretStr) else SecretStr(value)
    register_secret(secret.get_secret_value())
    return secret


class GreenApi:
    """Owns the pooled HTTP client and the rate limiter; create one per process."""

    def __init__(
        self,
        options: ClientOptions | None = None,
        *,
        limiter: RateLimiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        observer: Callable[[str, str, float], None] | None = None,
        allowed: AllowList | None = None,
    ) -> None:
        self.options = options or ClientOptions()
        # Checked before any connection: the last guard if a caller forgot to check first.
        self.allowed = allowed or AllowList()
        self.limiter = limiter or RateLimiter()
        # Told (method, outcome) for every HTTP exchange: "ok" or the error's reason.
        self.observer = observer
        protect_loggers()
        opts = self.options
        # One proxy decision for HTTP calls and the QR WebSocket alike.
        self.proxies = ProxyPolicy() if opts.trust_env else ProxyPolicy.direct()
        for proxy in self.proxies.proxies:
            log.info(
                "GREEN-API calls go through the proxy %s unless NO_PROXY names the host", proxy.url
            )
        transport = transport or AiohttpTransport(
            max_connections=opts.max_connections, proxies=self.proxies
        )
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(opts.read_timeout, connect=opts.connect_timeout),
            limits=httpx.Limits(
                max_connections=opts.max_connections,
                max_keepalive_connections=min(opts.max_connections, 20),
            ),
            headers={"User-Agent": user_agent()},
            follow_redirects=False,
            # httpx ignores environment proxies once given a transport; ours applies them.
            trust_env=False,
            # httpx's API on aiohttp's pool: a fraction of httpcore's CPU per call
            # (transport.py has the figures). Tests pass their own transport.
            transport=transport,
        )

    async def aclose(self) -> None:
        """Close the pooled HTTP connections."""
        await self._http.aclose()

    async def __aenter__(self) -> GreenApi:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    def instance(self, *, api_url: str, id_instance: int, token: SecretStr | str) -> InstanceClient:
        """A client for one instance; EndpointNotAllowed unless the allow-list admits `api_url`."""
        return InstanceClient(self, self._base_url(api_url, "apiUrl"), id_instance, _secret(token))

    def partner(self, *, api_url: str, token: SecretStr | str) -> PartnerClient:
        """A partner API client; EndpointNotAllowed unless the allow-list admits `api_url`."""
        return PartnerClient(
            self.request,
            self.options.lenient_bool_style,
            self._base_url(api_url, "partner apiUrl"),
            _secret(token),
        )

    def admit(self, url: str, field: str) -> None:
        """EndpointNotAllowed unless the allow-list admits `url`; `field` names it in the error."""
        try:
            self.allowed.check(url, field)
        except UrlRejected as exc:
            raise errors.EndpointNotAllowed(str(exc)) from None

    def _base_url(self, url: str, field: str) -> str:
        self.admit(url, field)
        return url.rstrip("/")

    async def request(
        self,
        *,
        url: str,
        verb: HttpVerb,
        method: str,
        instance_id: int | None,
        limiter_key: tuple[str, str, str],
        rate: float,
        idempotent: bool,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        retry: bool = True,
    ) -> tuple[int, str]:
        """Send one logical call; return (status, text) of a 2xx answer or raise.

        Repeats a call only when repeating cannot do harm: a safe method, or an
        answer that proves the request was not acted upon (429, connect failure);
        never when `retry` is False (the caller's own schedule retries).
        """
        attempt = 0
        while True:
            attempt += 1
            await self.limiter.acquire(limiter_key, rate)
            started = time.monotonic()
            try:
                try:
                    status, text, headers = await self._send_once(
                        url, verb, method, instance_id, body, params, timeout
                    )
                finally:
                    # The slot was booked before the request waited for a pooled
                    # connection; spacing the next one from this one's end keeps the
                    # gap at GREEN-API even when that wait was long.
                    self.limiter.completed(limiter_key, rate)
                error = responses.error_for_status(
                    method=method,
                    instance_id=instance_id,
                    status=status,
                    body=text,
                    headers=headers,
                    rate=rate,
                )
                if error is None:
                    self._observe(method, "ok", time.monotonic() - started)
                    return status, text
                raise error
            except errors.GreenApiError as error:
                self._observe(method, error.reason, time.monotonic() - started)
                delay = self._inline_retry_delay(error, attempt, idempotent) if retry else None
                if delay is None:
                    raise
                log.info("%s; retrying in %.1fs (attempt %d)", error.message, delay, attempt)
                await asyncio.sleep(delay)

    def _observe(self, method: str, outcome: str, seconds: float) -> None:
        if self.observer is not None:
            self.observer(method, outcome, seconds)

    def _inline_retry_delay(
        self, error: errors.GreenApiError, attempt: int, idempotent: bool
    ) -> float | None:
        if not error.retryable or attempt >= self.options.max_attempts:
            return None
        not_acted_upon = isinstance(error, errors.RateLimited) or (
            isinstance(error, errors.TransportFailure) and error.request_not_sent
        )
        if not (idempotent or not_acted_upon):
            return None
        if isinstance(error, errors.RateLimited):
            delay = error.retry_after or 1.0
        elif isinstance(error, errors.ServiceUnavailable | errors.TransportFailure):
            delay = errors.backoff_delay(attempt - 1, base=0.5, cap=4.0)
        else:
            return None  # state errors (starting, not authorized) outlast an inline retry
        return delay if delay <= self.options.max_inline_retry_delay else None

    async def _send_once(
        self,
        url: str,
        verb: HttpVerb,
        method: str,
        instance_id: int | None,
        body: dict[str, Any] | None,
        params: dict[str, Any] | None,
        timeout: float | None,
    ) -> tuple[int, str, httpx.Headers]:
        where = f"{method} on instance {instance_id}" if instance_id is not None else method
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = httpx.Timeout(timeout, connect=self.options.connect_timeout)
        deadline = max(self.options.deadline, timeout or 0.0)
        try:
            async with asyncio.timeout(deadline):
                status, text, headers = await self._exchange(
                    verb, url, body, params, extra, where, method, instance_id
                )
        except TimeoutError:
            raise errors.TransportFailure(
                f"{where}: GREEN-API did not finish answering within the {deadline:.0f} s "
                "request deadline",
                method=method,
                instance_id=instance_id,
            ) from None
        except httpx.ProxyError:
            raise errors.TransportFailure(
                f"{where}: the forward proxy could not be reached or refused the connection",
                method=method,
                instance_id=instance_id,
                request_not_sent=True,
            ) from None
        except httpx.ConnectError as exc:
            raise errors.TransportFailure(
                f"{where}: cannot connect to GREEN-API ({type(exc).__name__})",
                method=method,
                instance_id=instance_id,
                request_not_sent=True,
            ) from None
        except httpx.ConnectTimeout:
            raise errors.TransportFailure(
                f"{where}: connecting to GREEN-API timed out",
                method=method,
                instance_id=instance_id,
                request_not_sent=True,
            ) from None
        except httpx.TimeoutException as exc:
            raise errors.TransportFailure(
                f"{where}: GREEN-API did not answer in time ({type(exc).__name__})",
                method=method,
                instance_id=instance_id,
            ) from None
        except httpx.HTTPError as exc:
            # `from None`: httpx exceptions hold the request, whose URL holds the token.
            raise errors.TransportFailure(
                f"{where}: connection to GREEN-API failed ({type(exc).__name__})",
                method=method,
                instance_id=instance_id,
            ) from None
        return status, text, headers

    async def _exchange(
        self,
        verb: HttpVerb,
        url: str,
        body: dict[str, Any] | None,
        params: dict[str, Any] | None,
        extra: dict[str, Any],
        where: str,
        method: str,
        instance_id: int | None,
    ) -> tuple[int, str, httpx.Headers]:
        """One request, its answer read up to the size limit and no further."""
        limit = self.options.max_response_bytes
        async with self._http.stream(verb, url, json=body, params=params, **extra) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise errors.ResponseTooLarge(
                    f"{where}: the answer is {int(declared)} bytes, over the operator's "
                    f"{limit} byte limit for a GREEN-API answer",
                    method=method,
                    instance_id=instance_id,
                    status=response.status_code,
                )
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise errors.ResponseTooLarge(
                        f"{where}: the answer grew past the operator's {limit} byte limit "
                        "for a GREEN-API answer",
                        method=method,
                        instance_id=instance_id,
                        status=response.status_code,
                    )
                chunks.append(chunk)
            content = b"".join(chunks)
            text = content.decode(response.encoding or "utf-8", errors="replace")
            return response.status_code, text, response.headers


class InstanceClient:
    """The instance API of one account: `{apiUrl}/waInstance{id}/{method}/{token}`."""

    def __init__(self, api: GreenApi, api_url: str, id_instance: int, token: SecretStr) -> None:
        self._api = api
        self.api_url = api_url
        self.id_instance = id_instance
        self._token = token

    def __repr__(self) -> str:
        return f"InstanceClient(api_url={self.api_url!r}, id_instance={self.id_instance})"

    def _url(self, method: str) -> str:
        return (
            f"{self.api_url}/waInstance{self.id_instance}/{method}/{self._token.get_secret_value()}"
        )

    async def _call(
        self,
        method: str,
        verb: HttpVerb = "GET",
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        idempotent: bool = True,
        timeout: float | None = None,
        retry: bool = True,
    ) -> tuple[int, object]:
        status, text = await self._api.request(
            url=self._url(method),
            verb=verb,
            method=method,
            instance_id=self.id_instance,
            limiter_key=(self.api_url, str(self.id_instance), method.lower()),
            rate=RateLimiter.rate_for(method),
            idempotent=idempotent,
            body=body,
            params=params,
            timeout=timeout,
            retry=retry,
        )
        return status, responses.decode_json(method, self.id_instance, status, text)

    async def get_settings(self) -> Settings:
        """getSettings: the instance's settings as they are now."""
        status, payload = await self._call("getSettings")
        result: Settings = responses.parse_model(
            "Settings", "getSettings", self.id_instance, Settings.model_validate, payload, status
        )
        return result

    async def set_settings(self, settings: Settings) -> bool:
        """Send only the fields set on `settings`. GREEN-API reboots the instance."""
        body = settings.to_wire(lenient_bool_style=self._api.options.lenient_bool_style)
        if not body:
            raise ValueError("setSettings needs at least one writable field")
        # Not idempotent in effect: every call reboots the instance.
        status, payload = await self._call("setSettings", "POST", body=body, idempotent=False)
        result: SaveSettingsResult = responses.parse_model(
            "saveSettings",
            "setSettings",
            self.id_instance,
            SaveSettingsResult.model_validate,
            payload,
            status,
        )
        return result.save_settings

    async def get_state(self) -> StateReport:
        """getStateInstance: the instance's state. Not retried here: it is the poll, and
        the poll's schedule (`decide/requeue.py`) is what retries it, at most at the rate of
        a healthy instance."""
        status, payload = await self._call("getStateInstance", retry=False)
        result: StateReport = responses.parse_model(
            "stateInstance",
            "getStateInstance",
            self.id_instance,
            StateReport.from_wire,
            payload,
            status,
        )
        return result

    async def qr(self) -> QrFrame:
        """qr: the current QR code, or why there is none (already linked, an error)."""
        status, payload = await self._call("qr")
        result: QrFrame = responses.parse_model(
            "qr", "qr", self.id_instance, QrFrame.from_wire, payload, status
        )
        return result

    async def get_authorization_code(self, phone_number: int) -> AuthorizationCode:
        """getAuthorizationCode for a phone number in international format.

        Each call replaces the previous code, so a call is repeated only if it cannot have
        taken effect. ValueError when `phone_number` is not positive.
        """
        if phone_number <= 0:
            raise ValueError("phone number must be digits in international format")
        # Each call invalidates the previous code, so it is not repeated blindly.
        status, payload = await self._call(
            "getAuthorizationCode", "POST", body={"phoneNumber": phone_number}, idempotent=False
        )
        result: AuthorizationCode = responses.parse_model(
            "authorization code",
            "getAuthorizationCode",
            self.id_instance,
            AuthorizationCode.model_validate,
            payload,
            status,
        )
        register_secret(result.code.get_secret_value(), ttl=PAIRING_CODE_SECRET_TTL)
        return result

    async def get_wa_settings(self) -> WaSettings:
        """getWaSettings: the linked account (phone, avatar, device id) and the state."""
        status, payload = await self._call("getWaSettings")
        result: WaSettings = responses.parse_model(
            "WaSettings",
            "getWaSettings",
            self.id_instance,
            WaSettings.model_validate,
            payload,
            status,
        )
        return result

    async def get_state_history(self, count: int = 100) -> list[StateHistoryEntry]:
        """getStateInstanceHistory: up to `count` of the instance's past states."""
        status, payload = await self._call("getStateInstanceHistory", params={"count": count})
        if not isinstance(payload, list):
            raise errors.UnexpectedResponse(
                "getStateInstanceHistory: answer is not a list",
                method="getStateInstanceHistory",
                instance_id=self.id_instance,
                status=status,
            )
        return [
            responses.parse_model(
                "state history",
                "getStateInstanceHistory",
                self.id_instance,
                StateHistoryEntry.model_validate,
                item,
                status,
            )
            for item in payload
        ]

    async def reboot(self) -> bool:
        """reboot: whether GREEN-API accepted it. Repeated only if it cannot have taken effect."""
        # ISS#808: reboot right after logout can take long to answer.
        status, payload = await self._call("reboot", idempotent=False, timeout=60.0)
        result: RebootResult = responses.parse_model(
            "isReboot", "reboot", self.id_instance, RebootResult.model_validate, payload, status
        )
        return result.is_reboot

    async def logout(self) -> bool:
        """logout: whether GREEN-API accepted it. Repeated only if it cannot have taken effect."""
        status, payload = await self._call("logout", idempotent=False)
        result: LogoutResult = responses.parse_model(
            "isLogout", "logout", self.id_instance, LogoutResult.model_validate, payload, status
        )
        return result.is_logout

    async def update_api_token(self) -> SecretStr:
        """updateApiToken: a new token for this instance; the old one stops working at once.

        Never repeated: a resend would need the old token, dead if the first call took effect.
        Errors come in an HTTP 200 `{code, description}` body, as in the partner API.
        """
        status, payload = await self._call("updateApiToken", idempotent=False, retry=False)
        error = responses.partner_error("updateApiToken", payload)
        if error is not None:
            raise error
        result: NewToken = responses.parse_model(
            "apiTokenInstance",
            "updateApiToken",
            self.id_instance,
            NewToken.model_validate,
            payload,
            status,
        )
        register_secret(result.api_token_instance.get_secret_value())
        return result.api_token_instance

    async def get_webhooks_count(self) -> int:
        """getWebhooksCount: notifications waiting in the incoming queue (refreshed every 10 s)."""
        return await self._count("getWebhooksCount")

    async def get_messages_count(self) -> int:
        """getMessagesCount: messages waiting in the outgoing queue."""
        return await self._count("getMessagesCount")

    async def _count(self, method: str) -> int:
        status, payload = await self._call(method)
        result: QueueCount = responses.parse_model(
            "count", method, self.id_instance, QueueCount.model_validate, payload, status
        )
        return result.count

    async def show_messages_queue(self) -> list[QueuedMessage]:
        """showMessagesQueue: the messages waiting to be sent (chat and kind only)."""
        status, payload = await self._call("showMessagesQueue")
        if not isinstance(payload, list):
            raise errors.UnexpectedResponse(
                "showMessagesQueue: answer is not a list",
                method="showMessagesQueue",
                instance_id=self.id_instance,
                status=status,
            )
        return [
            responses.parse_model(
                "queued message",
                "showMessagesQueue",
                self.id_instance,
                QueuedMessage.model_validate,
                item,
                status,
            )
            for item in payload
        ]

    async def clear_webhooks_queue(self) -> QueueClearResult:
        """clearWebhooksQueue (DELETE): drop every undelivered notification.

        At most once a minute: an earlier call is answered `cleared=False` with `left_time`.
        A write (it drops what arrived meanwhile too): never repeated here.
        """
        return await self._clear("clearWebhooksQueue", "DELETE")

    async def clear_messages_queue(self) -> QueueClearResult:
        """clearMessagesQueue: drop every message waiting to be sent; never repeated here."""
        return await self._clear("clearMessagesQueue", "GET")

    async def _clear(self, method: str, verb: HttpVerb) -> QueueClearResult:
        status, payload = await self._call(method, verb, idempotent=False)
        result: QueueClearResult = responses.parse_model(
            "isCleared", method, self.id_instance, QueueClearResult.model_validate, payload, status
        )
        return result

    def scan_qr_code(self, *, open_timeout: float = 10.0) -> AsyncIterator[QrFrame]:
        """The scanqrcode WebSocket as a stream of frames, ending after a final frame."""
        url = self._url("scanqrcode")
        ws_url = "ws" + url[len("http") :]
        return stream_qr_frames(
            ws_url,
            instance_id=self.id_instance,
            limiter=self._api.limiter,
            limiter_key=(self.api_url, str(self.id_instance), "scanqrcode"),
            open_timeout=open_timeout,
            proxy=self._api.proxies.for_url(ws_url),
        )
