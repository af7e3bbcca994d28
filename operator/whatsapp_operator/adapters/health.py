"""The liveness endpoint (`--liveness`), served from before the election to the end.

One server for the whole life of the process: a standby answers (without an answer the
kubelet's startup probe would restart it over and over), and a leader keeps the same
socket, so nothing is closed and re-bound on the way (kopf's own endpoint is not used).
What it answers is `check`'s (run/liveness.py).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


class HealthServer:
    """`GET <path>` answers `check()` (status, JSON body) on the liveness URL's address."""

    def __init__(self, url: str, check: Callable[[], tuple[int, dict[str, Any]]]) -> None:
        parts = urlsplit(url)
        path = parts.path or "/"

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, answer = 404, None
                if self.path.split("?", 1)[0] == path:
                    status, answer = check()
                body = json.dumps(answer).encode() if answer is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # probes every few seconds would flood the log

        self._server = ThreadingHTTPServer((parts.hostname or "0.0.0.0", parts.port or 80), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop answering and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
