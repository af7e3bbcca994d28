"""Noticing that a referenced Secret changed, without watching Secrets.

A watch on Secrets needs list and watch on every Secret in the watched namespaces
(RBAC cannot narrow either to some names or labels), and costs memory for every
Secret there. Instead, the Secrets whose change nothing else reveals (webhook token
Secrets, partner tokens) are re-read by name every few seconds; a resourceVersion
that moved wakes the objects that read the Secret. The cost is one GET per such
Secret per interval, whatever else the cluster holds. Instance token Secrets are not
re-read while idle (at a thousand instances that alone would be dozens of GETs a
second): a rotated token shows as GREEN-API refusing the old one, and the next
attempt reads the Secret again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from whatsapp_operator.ports.secrets import SecretKey, SecretRechecker

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 15.0


async def recheck_once(
    store: SecretRechecker,
    referenced: Callable[[], set[SecretKey]],
    wake: Callable[[str, str], int],
    kept: Callable[[], set[SecretKey]] = set,
) -> int:
    """One round: re-read every rechecked Secret, wake the readers of those that moved.

    `kept` names Secrets that stay cached without being re-read. Returns how many
    objects were woken.
    """
    woken = 0
    for namespace, name in await store.recheck_secrets(referenced(), kept()):
        count = wake(namespace, name)
        log.debug("Secret %s/%s changed; woke %d object(s)", namespace, name, count)
        woken += count
    return woken


async def recheck_forever(
    store: SecretRechecker,
    referenced: Callable[[], set[SecretKey]],
    wake: Callable[[str, str], int],
    interval: float,
    kept: Callable[[], set[SecretKey]] = set,
) -> None:
    """`recheck_once` every `interval` seconds until cancelled; a failed round is logged."""
    while True:
        await asyncio.sleep(interval)
        try:
            await recheck_once(store, referenced, wake, kept)
        except asyncio.CancelledError:
            raise
        except Exception:  # the next round tries again; one bad read must not end them
            log.exception("Re-reading the referenced Secrets failed")
