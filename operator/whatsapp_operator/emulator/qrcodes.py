"""Real, decodable QR-code PNGs whose payload rotates like WhatsApp's linking codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io

import segno

# A version-4/level-L symbol holds the payload below; fixing version and mask skips segno's
# mask scoring, which is most of the rendering cost.
_VERSION = 4
_MASK = 2
_SCALE = 6


def qr_payload(id_instance: int, rotation: int, secret: str) -> str:
    """Shaped like WhatsApp's `2@ref,...` payload; unguessable without the instance secret."""
    digest = hmac.new(
        secret.encode(), f"{id_instance}:{rotation}".encode(), hashlib.sha256
    ).hexdigest()
    return f"2@{digest[:40]},{id_instance},{rotation}"


def render_png(payload: str) -> bytes:
    """A scannable QR-code PNG holding `payload`."""
    qr = segno.make(payload, error="l", micro=False, version=_VERSION, mask=_MASK)
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=_SCALE, border=4)
    return buffer.getvalue()


class QrCache:
    """Keeps the newest PNG per instance, so `qr` at 3 rps renders once per rotation."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[int, str]] = {}

    def base64_png(self, id_instance: int, rotation: int, secret: str) -> str:
        """The base64 PNG of the instance's QR code for `rotation`, rendered once per rotation."""
        cached = self._cache.get(id_instance)
        if cached is not None and cached[0] == rotation:
            return cached[1]
        encoded = base64.b64encode(render_png(qr_payload(id_instance, rotation, secret))).decode(
            "ascii"
        )
        self._cache[id_instance] = (rotation, encoded)
        return encoded

    def forget(self, id_instance: int) -> None:
        """Drop the instance's cached image."""
        self._cache.pop(id_instance, None)
