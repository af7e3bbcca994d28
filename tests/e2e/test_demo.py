"""The README's main command, unattended: the whole product comes up, links a phone, stops."""

from __future__ import annotations

import os
import socket
import subprocess
import sys


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_demo_links_a_phone_and_shows_partner_mode() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "whatsapp_operator.cli",
            "dev",
            "demo",
            "--auto-scan",
            "--exit-when-linked",
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ),
        check=False,
    )
    output = result.stdout
    assert result.returncode == 0, output[-4000:] + result.stderr[-4000:]
    assert "▄" in output or "▀" in output  # the QR code was drawn in the terminal
    linked = output[output.index("Linked. The QR Secret is gone") :]
    assert "sales" in linked
    assert "authorized" in linked
    assert "79001234567" in linked
    partner = output[output.index("Partner mode") :]
    assert "support" in partner  # created through the partner API, then reconciled
    assert output.rstrip().endswith("Stopped.")
