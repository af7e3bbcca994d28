"""The lazy instance model, QR codes, rate limiter, config merging and log masking."""

from __future__ import annotations

import math
import random
import time

import pytest

from whatsapp_operator.emulator.app import mask_path
from whatsapp_operator.emulator.clock import LifecycleClock
from whatsapp_operator.emulator.config import EmulatorConfig, merge_patch
from whatsapp_operator.emulator.faults import Counters, FaultInjector
from whatsapp_operator.emulator.instances import Registry, format_time
from whatsapp_operator.emulator.qrcodes import QrCache, qr_payload, render_png
from whatsapp_operator.emulator.ratelimit import RateLimiter


def make_registry() -> Registry:
    return Registry(random.Random(1), "7105")


def test_ids_and_tokens_have_the_real_shapes() -> None:
    registry = make_registry()
    instance = registry.add(now=0, creation_seconds=0)
    assert str(instance.id_instance).startswith("7105")
    assert len(str(instance.id_instance)) == 10
    assert len(instance.token) == 50
    int(instance.token, 16)


def test_state_is_computed_from_timestamps() -> None:
    instance = make_registry().add(now=100, creation_seconds=60)
    assert instance.state(120) == "creating"
    assert instance.state(160) == "notAuthorized"
    instance.start(200, 10)
    assert instance.state(205) == "starting"
    assert instance.state(210) == "notAuthorized"
    instance.set_stable(220, "authorized", "79001234567")
    assert instance.wid == "79001234567@c.us"
    instance.start(230, math.inf)
    assert instance.state(10**9) == "starting"
    assert [h[0] for h in instance.history] == [
        "notAuthorized",
        "starting",
        "notAuthorized",
        "authorized",
        "starting",
    ]


def test_clock_only_moves_forward() -> None:
    clock = LifecycleClock()
    before = clock.now()
    clock.advance(3600)
    assert clock.now() >= before + 3600
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)


def test_qr_payload_and_cache() -> None:
    assert qr_payload(1, 0, "s") != qr_payload(1, 1, "s")
    assert qr_payload(1, 0, "s") != qr_payload(1, 0, "t")
    assert render_png(qr_payload(1, 0, "s")).startswith(b"\x89PNG\r\n\x1a\n")
    cache = QrCache()
    first = cache.base64_png(1, 0, "s")
    assert cache.base64_png(1, 0, "s") is first
    assert cache.base64_png(1, 1, "s") != first


def test_rate_limiter_token_bucket() -> None:
    limiter = RateLimiter(enabled=True, scale=1.0, overrides={}, partner_rps=None)
    assert limiter.allow(1, "getsettings")
    assert not limiter.allow(1, "getsettings")
    assert limiter.allow(2, "getsettings")
    assert [limiter.allow(1, "qr") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow(1, "getstateinstancehistory")
    assert limiter.allow("gac.partner", "getinstances")
    fast = RateLimiter(enabled=True, scale=1000.0, overrides={}, partner_rps=None)
    assert all(fast.allow(1, "getsettings") for _ in range(100))
    off = RateLimiter(enabled=False, scale=1.0, overrides={}, partner_rps=None)
    assert all(off.allow(1, "getsettings") for _ in range(10))


def test_rate_limiter_refills_with_time(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    limiter = RateLimiter(enabled=True, scale=1.0, overrides={}, partner_rps=None)
    assert limiter.allow(1, "reboot")
    assert not limiter.allow(1, "reboot")
    now[0] += 1.0
    assert limiter.allow(1, "reboot")


def test_fault_rules_match_method_and_instance() -> None:
    config = EmulatorConfig.model_validate(
        {"faults": [{"method": "qr", "instanceId": 5, "errorRate": 1, "status": 503}]}
    )
    injector = FaultInjector(config.faults, random.Random(0))
    assert injector.decide("qr", 5).status == 503
    assert injector.decide("qr", 6).status is None
    assert injector.decide("getsettings", 5).status is None


def test_lost_answer_never_joins_a_drop_or_an_error() -> None:
    config = EmulatorConfig.model_validate(
        {
            "faults": [
                {"method": "setSettings", "loseAnswerRate": 1, "loseAnswerMs": 250},
                {"method": "*", "latencyMs": 10},
                {"method": "getSettings", "errorRate": 1, "loseAnswerRate": 1},
            ]
        }
    )
    injector = FaultInjector(config.faults, random.Random(0))
    lost = injector.decide("setsettings", 1)
    assert (lost.lose_answer_ms, lost.latency_ms, lost.status, lost.drop) == (250, 10, None, False)
    erred = injector.decide("getsettings", 1)
    assert (erred.status, erred.lose_answer_ms) == (500, None)
    assert config.faults[0].model_dump(by_alias=True)["loseAnswerMs"] == 250
    # Without a rate the rule only carries its default hold time.
    assert EmulatorConfig().faults == []
    assert EmulatorConfig.model_validate({"faults": [{}]}).faults[0].lose_answer_rate == 0


def test_counters_snapshot() -> None:
    counters = Counters()
    counters.count("1", "qr", "200")
    counters.count("1", "qr", "429")
    assert counters.snapshot() == {"1": {"qr": {"total": 2, "200": 1, "429": 1}}}


def test_config_accepts_both_key_styles_and_patches() -> None:
    config = EmulatorConfig.model_validate({"timings": {"creation_seconds": 1}})
    assert config.timings.creation_seconds == 1
    patched = merge_patch(
        config, {"timings": {"startingSeconds": 2}, "variants": {"lid_mode_form": "yesno"}}
    )
    assert patched.timings.creation_seconds == 1
    assert patched.timings.starting_seconds == 2
    assert patched.variants.lid_mode_form == "yesno"


def test_mask_path_hides_tokens() -> None:
    assert mask_path("/waInstance7105000001/getSettings/abc123") == (
        "/waInstance7105000001/getSettings/***"
    )
    assert mask_path("/partner/getInstances/gac.secret") == "/partner/getInstances/***"
    assert mask_path("/admin/health") == "/admin/health"


def test_time_format() -> None:
    assert format_time(1654281584) == "2022-06-03T18:39:44"
