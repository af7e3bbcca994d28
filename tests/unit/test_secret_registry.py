"""The redaction registry forgets short-lived codes and stays bounded; tokens stay.

Every QR image and pairing code used to be registered for the life of the process.
"""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from support.fakes import FakeSecrets
from whatsapp_operator import redaction
from whatsapp_operator.api.resource import AuthorizationMethod
from whatsapp_operator.ports import Owner
from whatsapp_operator.redaction import MASK, SecretRegistry
from whatsapp_operator.run.linking_session import QR_SECRET_TTL, REPLACED_QR_GRACE, LinkingSession
from whatsapp_operator.wire.models import QrFrame, QrKind

# How often GREEN-API shows a new QR code (about every 20 s).
QR_ROTATION_SECONDS = 20.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def code(index: int) -> str:
    return f"PAIR-{index:06d}-CODE"


def test_a_short_lived_value_is_masked_until_its_window_ends() -> None:
    clock = Clock()
    registry = SecretRegistry(clock=clock)
    registry.add(code(1), ttl=60.0)
    assert registry.redact(f"code {code(1)}") == f"code {MASK}"
    clock.now += 59.0
    assert registry.redact(f"code {code(1)}") == f"code {MASK}"
    clock.now += 2.0
    assert registry.redact(f"code {code(1)}") == f"code {code(1)}"
    assert registry.size() == 0


def test_forgetting_ends_a_short_lived_value_at_once() -> None:
    registry = SecretRegistry(clock=Clock())
    registry.add(code(1), ttl=600.0)
    registry.forget(code(1))
    assert registry.size() == 0
    assert code(1) in registry.redact(code(1))


def test_tokens_stay_however_many_codes_come_and_go() -> None:
    clock = Clock()
    registry = SecretRegistry(clock=clock, max_short_lived=16)
    token = "tokSUPERSECRETregistry0123456789"
    registry.add(token)
    registry.forget(token)  # forgetting is for short-lived values only
    for index in range(1000):
        registry.add(code(index), ttl=600.0)
        clock.now += 1.0
    assert registry.redact(token) == MASK
    clock.now += 10_000.0
    assert registry.redact(token) == MASK


def test_after_many_codes_the_registry_is_bounded_and_the_live_code_is_masked() -> None:
    clock = Clock()
    registry = SecretRegistry(clock=clock, max_short_lived=64)
    for index in range(10_000):
        registry.add(code(index), ttl=600.0)
        clock.now += 0.01
    assert registry.size() <= 64
    assert registry.redact(code(9_999)) == MASK


def test_re_registering_as_a_token_makes_a_value_permanent() -> None:
    clock = Clock()
    registry = SecretRegistry(clock=clock)
    value = "tokPROMOTEDsecret0123456789"
    registry.add(value, ttl=1.0)
    registry.add(value)
    clock.now += 5.0
    registry.forget(value)
    assert registry.redact(value) == MASK


def png_base64(index: int) -> str:
    return base64.b64encode(b"\x89PNG" + index.to_bytes(4, "big") + os.urandom(24)).decode()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A fresh process-wide registry on a clock the test moves."""
    fake = Clock()
    monkeypatch.setattr(redaction, "_registry", SecretRegistry(clock=fake))
    return fake


def test_module_functions_register_and_forget(clock: Clock) -> None:
    redaction.register_secret(code(1), ttl=30.0)
    redaction.register_secret("tokMODULEsecret0123456789")
    assert redaction.redact(f"{code(1)} tokMODULEsecret0123456789") == f"{MASK} {MASK}"
    redaction.forget_secret(code(1))
    assert redaction.registered_count() == 1
    assert redaction.redact(code(1)) == code(1)


async def test_a_linking_session_keeps_only_its_live_qr_codes_registered(clock: Clock) -> None:
    session = LinkingSession(
        namespace="team-r",
        resource="shop",
        secret_name="shop-linking",
        owner=Owner("shop", "uid-r"),
        method=AuthorizationMethod.QR_CODE,
        phone_number=None,
        api=None,  # type: ignore[arg-type]  # frames are handed in directly
        store=FakeSecrets(),
        wake=lambda: None,
        clock=lambda: datetime(2025, 1, 1, tzinfo=UTC),
    )
    images = [png_base64(index) for index in range(500)]
    for image in images:
        frame = QrFrame(kind=QrKind.QR_CODE, raw_type="qrCode", image_png_base64=SecretStr(image))
        await session._on_frame(frame)
        # The same image again (polling sees it until it rotates): still registered.
        clock.now += QR_SECRET_TTL / 2
        await session._on_frame(frame)
        clock.now += QR_ROTATION_SECONDS
    # The live code and at most the few superseded within their grace period.
    assert redaction.registered_count() <= 1 + REPLACED_QR_GRACE // QR_ROTATION_SECONDS
    assert redaction.redact(images[-1]) == MASK
    assert redaction.redact(images[0]) == images[0]
    clock.now += QR_SECRET_TTL + 1
    assert redaction.registered_count() == 0


def test_thousands_of_values_are_found_anywhere_in_a_line() -> None:
    """Past the scan threshold a line is scanned by window; the result must not change."""
    registry = SecretRegistry()
    values = [f"tok{index:04d}-{'x' * (index % 7)}" for index in range(2000)]
    for value in values:
        registry.add(value)
    registry.add("short-lived-code-123", ttl=60)
    line = f"a{values[1999]}b {values[3]}/{values[1999]} short-lived-code-123 tok9999"
    redacted = registry.redact(line)
    assert values[1999] not in redacted
    assert values[3] not in redacted
    assert "short-lived-code-123" not in redacted
    assert "tok9999" in redacted  # not registered
    assert redacted.count("***") == 4
