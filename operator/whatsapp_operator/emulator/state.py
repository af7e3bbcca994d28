"""Everything one running emulator holds, shared by the API, admin and WebSocket handlers."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from aiohttp import web

from whatsapp_operator.emulator.clients import ClientLog
from whatsapp_operator.emulator.clock import LifecycleClock
from whatsapp_operator.emulator.config import EmulatorConfig, SeedInstance
from whatsapp_operator.emulator.faults import Counters, FaultInjector
from whatsapp_operator.emulator.instances import Instance, Registry
from whatsapp_operator.emulator.qrcodes import QrCache
from whatsapp_operator.emulator.ratelimit import RateLimiter
from whatsapp_operator.emulator.settings import DELAY_FIELD, PROXY_FIELD, validate_settings
from whatsapp_operator.emulator.timeline import CallTimeline

log = logging.getLogger("whatsapp_operator.emulator")


class EmulatorState:
    """Everything an emulator holds: configuration, instances, clock, limits, faults, counters."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.clock = LifecycleClock()
        # Not for security: a fixed seed makes ids, tokens and fault dice replayable.
        self.rng = random.Random(config.random_seed)
        self.registry = Registry(self.rng, config.id_prefix)
        self.qr = QrCache()
        self.counters = Counters()
        self.timeline = CallTimeline()
        self.clients = ClientLog()
        self.partner_tokens: set[str] = set(config.partner_tokens)
        self.ws_sessions: set[int] = set()
        self.sockets: set[web.WebSocketResponse] = set()
        self.limiter = self._build_limiter(config)
        self.faults = FaultInjector(config.faults, self.rng)
        self._changed = asyncio.Event()
        for seed in config.instances:
            self.seed(seed)

    @staticmethod
    def _build_limiter(config: EmulatorConfig) -> RateLimiter:
        limits = config.rate_limits
        return RateLimiter(
            enabled=limits.enabled,
            scale=limits.scale,
            overrides=limits.overrides,
            partner_rps=limits.partner_rps,
        )

    def now(self) -> float:
        """The lifecycle clock's time."""
        return self.clock.now()

    def reconfigure(self, config: EmulatorConfig) -> None:
        """Swap timings, variants, limits and faults at run time; instances are kept."""
        self.config = config
        self.limiter = self._build_limiter(config)
        self.faults.rules = list(config.faults)
        self.partner_tokens |= set(config.partner_tokens)
        self.notify()

    def notify(self) -> None:
        """Wake every WebSocket session so it re-reads its instance (state or clock moved)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for_change(self, timeout: float) -> None:
        """Wait until `notify` is called, or `timeout` seconds pass."""
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout=max(0.0, timeout))
        except TimeoutError:
            return

    def validate(self, body: dict[str, Any]) -> dict[str, Any]:
        """The writable settings in `body`, checked as setSettings checks them under the variants.

        Raises `SettingsValidationError` for a value GREEN-API would refuse.
        """
        variants = self.config.variants
        return validate_settings(
            body,
            delay_max_ms=variants.delay_max_ms,
            reject_wid=variants.wid_in_set_settings == "reject",
        )

    def _apply_defaults(self, instance: Instance) -> None:
        variants = self.config.variants
        instance.settings[DELAY_FIELD] = variants.default_delay_ms
        instance.settings[PROXY_FIELD] = variants.default_proxy_instance

    def create(self, *, name: str, settings: dict[str, Any]) -> Instance:
        """The partner createInstance path: settings are validated by the caller."""
        now = self.now()
        timings = self.config.timings
        instance = self.registry.add(now=now, creation_seconds=timings.creation_seconds, name=name)
        if timings.listing_lag_seconds:
            instance.listed_at = now + timings.listing_lag_seconds
        self._apply_defaults(instance)
        instance.settings.update(settings)
        log.info("instance %s created", instance.id_instance)
        return instance

    def seed(self, seed: SeedInstance) -> Instance:
        """Admin/config seeding: the instance is ready at once unless `state` is `creating`."""
        now = self.now()
        settings = self.validate(seed.settings)
        creation = self.config.timings.creation_seconds if seed.state == "creating" else 0.0
        instance = self.registry.add(
            now=now,
            creation_seconds=creation,
            id_instance=seed.id_instance,
            token=seed.api_token_instance,
            name=seed.name,
        )
        self._apply_defaults(instance)
        instance.settings.update(settings)
        instance.stale_auth = seed.stale_auth
        instance.settle(now)
        if seed.state == "starting":
            instance.start(now, self.config.timings.starting_seconds, reason="forced")
        elif seed.state != "creating":
            phone = seed.phone or self.registry.new_phone(instance.id_instance)
            if seed.state != "notAuthorized":
                instance.set_stable(now, seed.state, phone)
        log.info("instance %s seeded as %s", instance.id_instance, seed.state)
        return instance

    def delete(self, instance: Instance) -> None:
        """Mark `instance` deleted now and forget its QR image and rate buckets."""
        instance.deleted_at = self.now()
        instance.version += 1
        self.qr.forget(instance.id_instance)
        self.limiter.forget(instance.id_instance)
        log.info("instance %s deleted", instance.id_instance)
        self.notify()
