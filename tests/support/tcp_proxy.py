"""A threaded TCP forwarder on loopback that can stop forwarding without closing anything.

Put in front of the API server (a kubeconfig whose server is the proxy's port; TLS goes
through untouched), it makes "a hung API-server connection": after `hang()`, every byte
already sent or sent later stays in the proxy, connections stay open, new ones are
accepted and then hang too. Nothing is refused, so only timeouts can end a request.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target_host`:`target_port` until `hang()`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.connections = 0
        threading.Thread(target=self._accept, name="tcp proxy", daemon=True).start()

    def hang(self) -> None:
        """Stop forwarding in both directions; keep every connection open."""
        self._forwarding.clear()

    def resume(self) -> None:
        """Forward again (what was held is sent on)."""
        self._forwarding.set()

    def close(self) -> None:
        """Close the listener and every connection."""
        self._closed.set()
        self._forwarding.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
                self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            # Held here while hung: read (so the sender is not blocked) but not passed on.
            self._forwarding.wait()
            if not data or self._closed.is_set():
                with contextlib.suppress(OSError):
                    sink.shutdown(socket.SHUT_WR)
                return
            try:
                sink.sendall(data)
            except OSError:
                return
