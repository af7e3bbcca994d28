"""The running side of linking: keep the current QR code or pairing code in a Secret.

One session per instance while its linking window is open. QR codes come from the
scanqrcode WebSocket (a frame per new code); when the socket fails, the HTTP `qr`
method is polled at GREEN-API's documented cadence instead. Pairing codes are
requested once and renewed shortly before they expire. A session never writes
status: it stores the code, remembers when, and wakes the reconcile, which is
the single writer of status.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from whatsapp_operator import constants
from whatsapp_operator.api.resource import AuthorizationMethod
from whatsapp_operator.decide.linking import CODE_KEY, QR_KEY
from whatsapp_operator.logsetup import ObjectLogAdapter, object_logger
from whatsapp_operator.names import owned_secret_labels
from whatsapp_operator.ports import KubeError, Owner
from whatsapp_operator.ports.greenapi import LinkingApi
from whatsapp_operator.ports.secrets import SecretApply, SecretWriter
from whatsapp_operator.redaction import register_secret
from whatsapp_operator.run import writer
from whatsapp_operator.timestamps import format_time, utcnow
from whatsapp_operator.wire.errors import GreenApiError
from whatsapp_operator.wire.models import QrFrame, QrKind

log = logging.getLogger(__name__)

# GREEN-API: "request ... with a delay in 1 second"; the creation guide says 2 s.
QR_POLL_SECONDS = 2.0
# Pairing codes live about 2.5 minutes; renew a little before that.
PAIRING_CODE_RENEW_SECONDS = 140.0
# Back off when the socket keeps failing, so a broken socket does not spin.
RECONNECT_SECONDS = 5.0
# A QR image is scrubbed from logs this long after it was last seen (GREEN-API shows a
# new one about every 20 s), and a superseded one for a short grace: the phone may be
# scanning it at the moment it is replaced. After that the registry forgets them.
QR_SECRET_TTL = 300.0
REPLACED_QR_GRACE = 60.0


@dataclass
class SessionState:
    """What the reconcile reads from a session."""

    refreshed_at: datetime | None = None
    linked: bool = False
    last_error: str = ""


@dataclass
class LinkingSession:
    """Keeps one instance's current QR code or pairing code in its linking Secret."""

    namespace: str
    resource: str
    secret_name: str
    owner: Owner
    method: AuthorizationMethod
    phone_number: str | None
    api: LinkingApi
    store: SecretWriter
    wake: Callable[[], None]
    clock: Callable[[], datetime] = utcnow
    state: SessionState = field(default_factory=SessionState)
    _task: asyncio.Task[None] | None = None
    _last_image: str = ""

    def _log(self) -> ObjectLogAdapter:
        return object_logger(
            log, self.namespace, self.resource, kind=constants.KIND, uid=self.owner.uid
        )

    def start(self) -> None:
        """Start feeding codes into the Secret, unless already running."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"linking {self.resource}")

    @property
    def running(self) -> bool:
        """Whether the session is feeding codes now."""
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """Stop feeding codes and wait until the session has ended."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        try:
            if self.method is AuthorizationMethod.PHONE_NUMBER:
                await self._pairing_codes()
            else:
                await self._qr_codes()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a session must never take the operator down
            self.state.last_error = f"linking failed: {type(exc).__name__}"
            self._log().exception("Linking session failed")

    async def _store(self, key: str, value: bytes, kind: str) -> None:
        now = self.clock()
        labels = owned_secret_labels(self.resource, constants.ROLE_LINKING)
        annotations = {
            constants.ANNOTATION_REFRESHED_AT: format_time(now),
            f"{constants.GROUP}/kind": kind,
        }
        try:
            await writer.put_secret(
                self.store,
                SecretApply(
                    self.namespace,
                    self.secret_name,
                    data={key: value},
                    owner=self.owner,
                    labels=labels,
                    annotations=annotations,
                ),
            )
        except KubeError as exc:
            # Otherwise the status says "fetching a code" forever and nobody learns why.
            if exc.message != self.state.last_error:
                self._log().warning("Linking Secret not written: %s", exc.message)
            self.state.last_error = exc.message
            return
        self.state.refreshed_at = now
        self.state.last_error = ""
        self.wake()

    async def _on_frame(self, frame: QrFrame) -> bool:
        """Handle one QR frame; True when linking is over."""
        if frame.kind is QrKind.QR_CODE and frame.image_png_base64 is not None:
            encoded = frame.image_png_base64.get_secret_value()
            # Every sighting renews the registration: a code shown for long stays masked.
            register_secret(encoded, ttl=QR_SECRET_TTL)
            if encoded != self._last_image:
                try:
                    png = base64.b64decode(encoded, validate=True)
                except binascii.Error:
                    self.state.last_error = "GREEN-API sent a QR code that is not base64"
                    return False
                if self._last_image:
                    register_secret(self._last_image, ttl=REPLACED_QR_GRACE)
                self._last_image = encoded
                await self._store(QR_KEY, png, "qrCode")
            return False
        if frame.kind in (QrKind.ACCOUNT_DATA, QrKind.ALREADY_LOGGED):
            self.state.linked = True
            self.wake()
            return True
        if frame.kind is QrKind.ERROR:
            self.state.last_error = f"GREEN-API: {frame.message or 'QR error'}"
        return False

    async def _qr_codes(self) -> None:
        while True:
            # A socket that ends with a timeout frame (its 100 s window) is simply
            # reopened; one that fails or reports an error hands over to polling.
            use_polling = False
            frames = 0
            try:
                async for frame in self.api.scan_qr_code():
                    frames += 1
                    if await self._on_frame(frame):
                        return
                    if frame.kind is QrKind.ERROR:
                        use_polling = True
                        break
            except GreenApiError as exc:
                self.state.last_error = exc.message
                use_polling = True
                self._log().info("QR WebSocket failed (%s); polling qr instead", exc.reason)
            if use_polling and await self._poll_qr():
                return
            if not frames:
                # A socket that closes without a word must not be reopened in a tight loop.
                await asyncio.sleep(RECONNECT_SECONDS)

    async def _poll_qr(self) -> bool:
        """Poll `qr` for one socket window; True when linking is over."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 100.0
        while loop.time() < deadline:
            try:
                if await self._on_frame(await self.api.qr()):
                    return True
            except GreenApiError as exc:
                self.state.last_error = exc.message
                await asyncio.sleep(exc.retry_after or RECONNECT_SECONDS)
                continue
            await asyncio.sleep(QR_POLL_SECONDS)
        return False

    async def _pairing_codes(self) -> None:
        if not self.phone_number:
            self.state.last_error = "spec.authorization.phoneNumber is not set"
            return
        while True:
            try:
                result = await self.api.get_authorization_code(int(self.phone_number))
            except GreenApiError as exc:
                self.state.last_error = exc.message
                await asyncio.sleep(exc.retry_after or RECONNECT_SECONDS)
                continue
            if result.status:
                await self._store(CODE_KEY, result.code.get_secret_value().encode(), "pairingCode")
                await asyncio.sleep(PAIRING_CODE_RENEW_SECONDS)
            else:
                self.state.last_error = "GREEN-API refused to issue a pairing code"
                await asyncio.sleep(RECONNECT_SECONDS * 6)
