"""An httpx client for the GREEN-API emulator's admin API (see docs/emulator.md)."""

from __future__ import annotations

from typing import Any

import httpx

# The partner token every emulator fixture accepts.
PARTNER_TOKEN = "gac.testpartnertoken0000000000000000000000000000"


class EmulatorAdmin:
    """Async, because the in-process emulator shares the test's event loop."""

    def __init__(self, base_url: str, client: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.AsyncClient(base_url=self.base_url, timeout=10.0)

    async def __aenter__(self) -> EmulatorAdmin:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(self, verb: str, path: str, body: Any = None) -> Any:
        response = await self._client.request(verb, f"/admin{path}", json=body)
        response.raise_for_status()
        return response.json()

    async def health(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/health")
        return result

    async def seed(self, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/instances", fields)
        return result

    async def instance(self, id_instance: int) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/instances/{id_instance}")
        return result

    async def instances(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("GET", "/instances")
        return result

    async def scan(self, id_instance: int, phone: str | None = None) -> dict[str, Any]:
        body = {} if phone is None else {"phone": phone}
        result: dict[str, Any] = await self._call("POST", f"/instances/{id_instance}/scan", body)
        return result

    async def pair(self, id_instance: int, code: str) -> httpx.Response:
        """Returns the raw response: a wrong code is an expected 400."""
        return await self._client.post(f"/admin/instances/{id_instance}/pair", json={"code": code})

    async def set_state(self, id_instance: int, state: str, **extra: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", f"/instances/{id_instance}/state", {"state": state, **extra}
        )
        return result

    async def drop_settings(self, id_instance: int, count: int = 1) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", f"/instances/{id_instance}/drop-settings", {"count": count}
        )
        return result

    async def quota(self, id_instance: int, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", f"/instances/{id_instance}/quota", body)
        return result

    async def refuse_auth_codes(self, id_instance: int, count: int = 1) -> dict[str, Any]:
        """The next `count` getAuthorizationCode calls answer `status: false`."""
        result: dict[str, Any] = await self._call(
            "POST", f"/instances/{id_instance}/refuse-auth-code", {"count": count}
        )
        return result

    async def stale_auth(self, id_instance: int, enabled: bool = True) -> dict[str, Any]:
        """qr answers "Instance has auth. You need to make log out" until a logout."""
        result: dict[str, Any] = await self._call(
            "POST", f"/instances/{id_instance}/stale-auth", {"enabled": enabled}
        )
        return result

    async def webhook_receiver(
        self, id_instance: int, *, failing: bool, **rates: float
    ) -> dict[str, Any]:
        """Make the instance's webhook receiver fail (notifications queue up) or work."""
        body = {"failing": failing, **rates}
        result: dict[str, Any] = await self._call(
            "POST", f"/instances/{id_instance}/webhook-receiver", body
        )
        return result

    async def queue_notifications(self, id_instance: int, count: int = 1) -> dict[str, Any]:
        """`count` notifications join the incoming queue (delivered at once while the
        receiver works; they stay while it fails)."""
        result: dict[str, Any] = await self._call(
            "POST", f"/instances/{id_instance}/notifications", {"count": count}
        )
        return result

    async def queue_messages(self, id_instance: int, count: int = 1) -> dict[str, Any]:
        """Queue `count` outgoing messages (they wait while the instance is not authorized)."""
        result: dict[str, Any] = await self._call(
            "POST", f"/instances/{id_instance}/messages", {"count": count}
        )
        return result

    async def queues(self, id_instance: int) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/instances/{id_instance}/queues")
        return result

    async def advance_clock(self, seconds: float) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/clock", {"advanceSeconds": seconds})
        return result

    async def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/counters")
        return result

    async def reset_counters(self) -> None:
        await self._call("DELETE", "/counters")

    async def timeline(self, method: str, since: float, until: float) -> dict[str, Any]:
        """Calls of `method` per wall-clock second in [since, until)."""
        response = await self._client.get(
            "/admin/timeline", params={"method": method, "since": since, "until": until}
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("GET", "/faults")
        return result

    async def set_faults(self, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("PUT", "/faults", rules)
        return result

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/faults")

    async def config(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/config")
        return result

    async def patch_config(self, patch: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("PATCH", "/config", patch)
        return result

    async def add_partner_token(self, token: str) -> None:
        await self._call("POST", "/partner-tokens", {"token": token})
