"""`kubectl whatsapp link NAME`: a local page with the live QR code and the state.

Bound to 127.0.0.1 only. `/qr.png` reads the linking Secret at request time (with the
user's credentials), `/state` is a small JSON the page polls every 2 s; once the
instance is Authorized the page turns into "Linked as +PHONE". Requests whose Host is
not the loopback address are refused (no DNS rebinding).
"""

from __future__ import annotations

import html
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from whatsapp_operator.decide.linking import QR_KEY
from whatsapp_operator.kubectl.cluster import Kube
from whatsapp_operator.kubectl.view import Output, PluginError, is_authorized, linking_of, phone_of

if TYPE_CHECKING:
    from collections.abc import Callable

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Link WhatsApp: {name}</title>
<style>
body {{ font-family: sans-serif; background: #f4f4f4; text-align: center; margin: 2em; }}
#qr {{ width: 320px; height: 320px; image-rendering: pixelated; background: white;
       border: 12px solid white; }}
#linked {{ font-size: 2em; color: #128c7e; }}
.hidden {{ display: none; }}
</style></head>
<body>
<h1>Link a phone to {name}</h1>
<div id="linking" class="{linking_class}">
<p>WhatsApp &gt; Linked devices &gt; Link a device, then scan:</p>
<img id="qr" src="/qr.png?v={refreshed}" alt="QR code for {name}">
<p id="message">{message}</p>
</div>
<p id="linked" class="{linked_class}">{linked_text}</p>
<p><small>State: <span id="state">{state}</span></small></p>
<script>
let shown = {refreshed_json};
async function tick() {{
  try {{
    const response = await fetch("/state", {{cache: "no-store"}});
    const s = await response.json();
    document.getElementById("state").textContent = s.state + " / " + s.phase;
    document.getElementById("message").textContent = s.message;
    if (s.linked) {{
      document.getElementById("linking").className = "hidden";
      const linked = document.getElementById("linked");
      linked.textContent = "Linked as " + s.phone;
      linked.className = "";
      return;
    }}
    if (s.refreshedAt !== shown) {{
      shown = s.refreshedAt;
      document.getElementById("qr").src = "/qr.png?v=" + encodeURIComponent(shown);
    }}
  }} catch (e) {{
    document.getElementById("message").textContent = "lost contact with kubectl whatsapp";
  }}
  setTimeout(tick, 2000);
}}
setTimeout(tick, 2000);
</script>
</body></html>
"""


def state_of(kube: Kube, name: str) -> dict[str, Any]:
    """What the page shows: a few status fields, never the code itself."""
    obj = kube.get(name)
    linking = linking_of(obj)
    linked = is_authorized(obj)
    return {
        "name": name,
        "state": (obj.get("status") or {}).get("state") or "unknown",
        "linked": linked,
        "phone": phone_of(obj) if linked else "",
        "phase": linking.get("phase") or "",
        "refreshedAt": linking.get("refreshedAt") or "",
        "windowEndsAt": linking.get("windowEndsAt") or "",
        "message": (f"Linked as {phone_of(obj)}" if linked else str(linking.get("message") or "")),
    }


def render_page(state: dict[str, Any]) -> str:
    """The link page's HTML for `state` (as `state_of` returns it), every value escaped."""
    linked = bool(state["linked"])
    return PAGE.format(
        name=html.escape(str(state["name"])),
        linking_class="hidden" if linked else "",
        linked_class="" if linked else "hidden",
        linked_text=html.escape(f"Linked as {state['phone']}") if linked else "",
        message=html.escape(str(state["message"])),
        state=html.escape(f"{state['state']} / {state['phase']}"),
        refreshed=html.escape(str(state["refreshedAt"])),
        refreshed_json=json.dumps(str(state["refreshedAt"])),
    )


def make_handler(
    kube: Kube, name: str, allowed_hosts: Callable[[], set[str]]
) -> type[BaseHTTPRequestHandler]:
    """The request handler of the link page for instance `name`: `/`, `/state` and `/qr.png`.

    Requests whose Host header is not in `allowed_hosts()` are refused with 403.
    """

    class Handler(BaseHTTPRequestHandler):
        server_version = "kubectl-whatsapp"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the terminal for the URL and the outcome

        def _send(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.headers.get("Host", "") not in allowed_hosts():
                self._send(403, "text/plain", b"forbidden host\n")
                return
            path = self.path.split("?", 1)[0]
            try:
                if path == "/":
                    page = render_page(state_of(kube, name)).encode()
                    self._send(200, "text/html; charset=utf-8", page)
                elif path == "/state":
                    body = json.dumps(state_of(kube, name)).encode()
                    self._send(200, "application/json", body)
                elif path == "/qr.png":
                    secret = kube.linking_secret(name)
                    if secret is None or QR_KEY not in secret.data:
                        self._send(404, "text/plain", b"no QR code right now\n")
                    else:
                        self._send(200, "image/png", secret.data[QR_KEY])
                else:
                    self._send(404, "text/plain", b"not found\n")
            except PluginError as exc:
                self._send(502, "text/plain", f"{exc}\n".encode())

    return Handler


def serve(kube: Kube, name: str, port: int, out: Output) -> int:
    """Serve the link page for `name` on 127.0.0.1:`port` (0: any free port) until interrupted."""
    holder: dict[str, set[str]] = {}
    server = ThreadingHTTPServer(
        ("127.0.0.1", port), make_handler(kube, name, lambda: holder["hosts"])
    )
    server.daemon_threads = True
    bound = int(server.server_address[1])
    holder["hosts"] = {f"127.0.0.1:{bound}", f"localhost:{bound}"}
    url = f"http://127.0.0.1:{bound}/"
    out.say(f"Open {url} to link a phone to {name} (Ctrl-C to stop).")
    thread = threading.Thread(target=server.serve_forever, name="link-page", daemon=True)
    thread.start()
    try:
        thread.join()
    finally:
        server.shutdown()
        server.server_close()
    return 0
