"""The User-Agent of every GREEN-API request (HTTP and the QR WebSocket)."""

from __future__ import annotations

import os

from whatsapp_operator import __version__


def user_agent() -> str:
    """`whatsapp-operator/<version> (pid <pid>)`: the process id tells two replicas' calls apart.

    The emulator counts calls per User-Agent (`GET /admin/clients`), so a test sees
    whether an old leader and a new one ever called at the same time. A pid says nothing
    about the account or its credentials.
    """
    return f"whatsapp-operator/{__version__} (pid {os.getpid()})"
