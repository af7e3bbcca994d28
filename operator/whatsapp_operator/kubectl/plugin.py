"""`kubectl-whatsapp`: the WhatsAppInstance kubectl plugin (`kubectl whatsapp ...`).

Runs with the user's own kubeconfig and context, so RBAC decides who may read the
linking codes. Subcommands: status, qr, pair, reboot, logout, reconcile, link.
Every wait polls with a deadline; Ctrl-C ends a follow cleanly (exit 130).
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO, TypeVar, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from whatsapp_operator import constants
from whatsapp_operator.decide.linking import CODE_KEY, QR_KEY, secret_name
from whatsapp_operator.kubectl.qrterminal import PngError, render

REFRESHED_ANNOTATION = f"{constants.GROUP}/refreshed-at"
PHONE_PATTERN = re.compile(r"^[1-9][0-9]{6,14}$")
# Phases in which no code is being handed out and the window has to be (re)started.
RESTART_PHASES = {None, "", "Expired", "NotNeeded", "Linked"}
ACTIONS = ("reboot", "logout", "reconcile")
EXIT_INTERRUPTED = 130


T = TypeVar("T")


class PluginError(Exception):
    """A failure explained to the user (printed without a traceback, exit 1)."""


# ---------------------------------------------------------------- cluster access


def _load_kube_config(
    kubeconfig: str | None, context: str | None, configuration: client.Configuration
) -> None:
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, context=context, client_configuration=configuration
    )


def _context_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The namespace of the chosen (or current) context, `default` when it names none."""
    contexts, current = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
        config_file=kubeconfig
    )
    chosen: dict[str, Any] | None = current
    if context is not None:
        chosen = next((c for c in contexts if c.get("name") == context), None)
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else "default"


@dataclass
class Kube:
    """The few reads and writes the plugin makes, in one namespace."""

    api: client.ApiClient
    namespace: str

    @classmethod
    def connect(cls, kubeconfig: str | None, context: str | None, namespace: str | None) -> Kube:
        configuration = client.Configuration()
        try:
            _load_kube_config(kubeconfig, context, configuration)
            chosen = namespace or _context_namespace(kubeconfig, context)
        except (config.ConfigException, OSError) as exc:
            raise PluginError(f"cannot load the kubeconfig: {exc}") from exc
        return cls(client.ApiClient(configuration), chosen)

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except ApiException as exc:
            if exc.status == 404:
                raise PluginError(f"{what}: not found in namespace {self.namespace}") from exc
            if exc.status in (401, 403):
                raise PluginError(
                    f"{what}: not allowed ({exc.status}); your RBAC does not permit this"
                ) from exc
            raise PluginError(f"{what}: {exc.status} {exc.reason}") from exc

    def get(self, name: str) -> dict[str, Any]:
        objects = client.CustomObjectsApi(self.api)
        found = self._call(
            f"whatsappinstance {name}",
            lambda: objects.get_namespaced_custom_object(
                constants.GROUP, constants.VERSION, self.namespace, constants.PLURAL, name
            ),
        )
        return cast(dict[str, Any], found)

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (the client sends merge-patch for dict bodies on custom objects)."""
        objects = client.CustomObjectsApi(self.api)
        patched = self._call(
            f"patching whatsappinstance {name}",
            lambda: objects.patch_namespaced_custom_object(
                constants.GROUP, constants.VERSION, self.namespace, constants.PLURAL, name, body
            ),
        )
        return cast(dict[str, Any], patched)

    def linking_secret(self, name: str) -> LinkingSecret | None:
        core = client.CoreV1Api(self.api)
        secret = secret_name(name)
        try:
            found = core.read_namespaced_secret(secret, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            if exc.status in (401, 403):
                raise PluginError(
                    f"reading Secret {secret}: not allowed ({exc.status}); whoever can read "
                    "it can link a phone, so RBAC must grant `get` on it"
                ) from exc
            raise PluginError(f"reading Secret {secret}: {exc.status} {exc.reason}") from exc
        data = {k: base64.b64decode(v) for k, v in (found.data or {}).items()}
        annotations = dict((found.metadata and found.metadata.annotations) or {})
        return LinkingSecret(data=data, refreshed_at=annotations.get(REFRESHED_ANNOTATION, ""))

    def events(self, name: str) -> list[dict[str, Any]]:
        core = client.CoreV1Api(self.api)
        found = self._call(
            f"events of {name}",
            lambda: core.list_namespaced_event(
                self.namespace, field_selector=f"involvedObject.name={name}"
            ),
        )
        events = [
            cast(dict[str, Any], self.api.sanitize_for_serialization(e))  # type: ignore[no-untyped-call]
            for e in found.items
        ]
        return [
            e
            for e in events
            if (e.get("involvedObject") or {}).get("kind") in (None, constants.KIND)
        ]


@dataclass(frozen=True)
class LinkingSecret:
    data: dict[str, bytes]
    refreshed_at: str


# ---------------------------------------------------------------- pure helpers


def now_value(previous: str | None = None, clock: Callable[[], float] = time.time) -> str:
    """The current unix time as an annotation value, always different from `previous`
    (each action is performed once per distinct value)."""
    value = int(clock())
    if previous is not None and previous.isdigit() and int(previous) >= value:
        value = int(previous) + 1
    return str(value)


def annotation_patch(annotation: str, value: str) -> dict[str, Any]:
    return {"metadata": {"annotations": {annotation: value}}}


def action_patch(action: str, value: str) -> dict[str, Any]:
    return annotation_patch(constants.ACTION_ANNOTATIONS[action], value)


def relink_patch(value: str) -> dict[str, Any]:
    return annotation_patch(constants.ANNOTATION_RELINK, value)


def normalize_phone(text: str) -> str:
    """Digits only, international format without + or 00, as spec.authorization wants it."""
    digits = re.sub(r"[\s\-().]", "", text).removeprefix("+")
    if digits.startswith("00"):
        digits = digits[2:]
    if not PHONE_PATTERN.match(digits):
        raise PluginError(
            f"{text!r} is not a phone number in international format (e.g. 79001234567)"
        )
    return digits


def pair_patch(obj: dict[str, Any], phone: str) -> dict[str, Any] | None:
    """The spec merge patch that selects pairing by `phone`, or None when it is already set."""
    authorization = (obj.get("spec") or {}).get("authorization") or {}
    if authorization.get("method") == "PhoneNumber" and authorization.get("phoneNumber") == phone:
        return None
    return {"spec": {"authorization": {"method": "PhoneNumber", "phoneNumber": phone}}}


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return None


def is_authorized(obj: dict[str, Any]) -> bool:
    return (condition(obj, constants.ConditionType.AUTHORIZED) or {}).get("status") == "True"


def phone_of(obj: dict[str, Any]) -> str:
    phone = str(((obj.get("status") or {}).get("account") or {}).get("phone") or "")
    return f"+{phone}" if phone else "(unknown number)"


def linking_of(obj: dict[str, Any]) -> dict[str, Any]:
    return dict((obj.get("status") or {}).get("linking") or {})


def handled(obj: dict[str, Any], action: str) -> str | None:
    value = ((obj.get("status") or {}).get("handledActions") or {}).get(action)
    return None if value is None else str(value)


def _parse(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def age(text: str | None, now: datetime) -> str:
    """`3m ago`-style age of an RFC 3339 time ('' when unknown)."""
    moment = _parse(text or "")
    if moment is None:
        return ""
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return f"in {_span(-seconds)}"
    return f"{_span(seconds)} ago"


def _span(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in rows
    ]


def _event_time(event: dict[str, Any]) -> str:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        if event.get(key):
            return str(event[key])
    return str((event.get("metadata") or {}).get("creationTimestamp") or "")


def format_status(
    obj: dict[str, Any], events: Sequence[dict[str, Any]], now: datetime | None = None
) -> str:
    """A readable summary of one WhatsAppInstance and its recent Events."""
    now = now or datetime.now(UTC)
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    lines = [f"Name:       {metadata.get('name')}  (namespace {metadata.get('namespace')})"]
    state = status.get("state") or "unknown"
    since = status.get("stateSince") or ""
    when = f" since {since} ({age(since, now)})" if since else ""
    lines.append(f"State:      {state}{when}")
    account = status.get("account") or {}
    lines.append(f"Phone:      {'+' + account['phone'] if account.get('phone') else '-'}")
    instance = status.get("instanceId") or ((obj.get("spec") or {}).get("instance") or {}).get("id")
    lines.append(f"Instance:   {instance or '-'}")
    annotations = metadata.get("annotations") or {}
    if constants.is_paused(annotations):
        lines.append("Paused:     yes (reads go on, writes to GREEN-API stop)")

    lines += _conditions_lines(status)
    lines += _drift_and_applied_lines(status, now)
    lines += _linking_lines(status, now)
    lines += _events_lines(events, now)
    return "\n".join(lines)


def _conditions_lines(status: dict[str, Any]) -> list[str]:
    lines = ["Conditions:"]
    conditions = status.get("conditions") or []
    if conditions:
        rows = [["TYPE", "STATUS", "REASON", "MESSAGE"]]
        rows += [
            [
                str(c.get("type", "")),
                str(c.get("status", "")),
                str(c.get("reason", "")),
                str(c.get("message", "")),
            ]
            for c in conditions
        ]
        lines += _table(rows)
    else:
        lines.append("  (none yet: the operator has not reported)")
    return lines


def _drift_and_applied_lines(status: dict[str, Any], now: datetime) -> list[str]:
    lines: list[str] = []
    drift = status.get("drift") or []
    if drift:
        lines.append("Drift:")
        rows = [["FIELD", "DESIRED", "OBSERVED", "SINCE"]]
        rows += [
            [
                str(d.get("field", "")),
                str(d.get("desired", "")),
                str(d.get("observed", "")),
                str(d.get("since", "")),
            ]
            for d in drift
        ]
        lines += _table(rows)
    else:
        lines.append("Drift:      none")

    applied = status.get("lastApplied")
    if applied:
        fields = ", ".join(applied.get("fields") or []) or "-"
        outcome = "confirmed" if applied.get("confirmed") else "not yet confirmed"
        if applied.get("rejected"):
            outcome = "rejected by GREEN-API"
        lines.append(
            f"Last applied: {applied.get('time', '')} ({age(applied.get('time'), now)}): "
            f"{fields}; {outcome}, attempts {applied.get('attempts', 1)}"
        )
    else:
        lines.append("Last applied: never")
    return lines


def _linking_lines(status: dict[str, Any], now: datetime) -> list[str]:
    lines: list[str] = []
    linking = status.get("linking") or {}
    if linking:
        parts = [str(linking.get("phase", ""))]
        if linking.get("method"):
            parts.append(f"method {linking['method']}")
        if linking.get("secretName"):
            parts.append(f"Secret {linking['secretName']}")
        if linking.get("refreshedAt"):
            parts.append(f"refreshed {age(linking['refreshedAt'], now)}")
        if linking.get("windowEndsAt") and linking.get("phase") in ("Waiting", "CodeReady"):
            parts.append(f"window ends {age(linking['windowEndsAt'], now)}")
        lines.append("Linking:    " + ", ".join(parts))
        if linking.get("message"):
            lines.append(f"            {linking['message']}")
    else:
        lines.append("Linking:    -")

    actions = status.get("handledActions") or {}
    if actions:
        lines.append(
            "Handled actions: " + ", ".join(f"{k}={v}" for k, v in sorted(actions.items()))
        )
    else:
        lines.append("Handled actions: none")
    if status.get("lastError"):
        lines.append(f"Last error: {status['lastError']}")
    return lines


def _events_lines(events: Sequence[dict[str, Any]], now: datetime) -> list[str]:
    recent = sorted(events, key=_event_time)[-10:]
    lines = ["Events:"]
    if recent:
        rows = [["LAST SEEN", "TYPE", "REASON", "MESSAGE"]]
        for event in recent:
            count = event.get("count") or 1
            seen = age(_event_time(event), now) + (f" (x{count})" if count > 1 else "")
            rows.append(
                [
                    seen,
                    str(event.get("type", "")),
                    str(event.get("reason", "")),
                    str(event.get("message", "")),
                ]
            )
        lines += _table(rows)
    else:
        lines.append("  (none)")
    return lines


# ---------------------------------------------------------------- waiting


def wait_until(
    probe: Callable[[], T | None],
    what: str,
    timeout: float,
    interval: float = 1.0,
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise PluginError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Output:
    stream: TextIO

    @property
    def tty(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def say(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    def clear(self) -> None:
        if self.tty:
            self.stream.write("\x1b[2J\x1b[H")
            self.stream.flush()


def restart_linking(
    kube: Kube, name: str, obj: dict[str, Any], out: Output, timeout: float
) -> None:
    """Set the relink annotation and wait for the operator to take it."""
    previous = ((obj.get("metadata") or {}).get("annotations") or {}).get(
        constants.ANNOTATION_RELINK
    )
    value = now_value(previous)
    kube.patch(name, relink_patch(value))
    out.say(f"Started a new linking window ({constants.ANNOTATION_RELINK}={value}).")
    wait_until(
        lambda: handled(kube.get(name), "relink") == value,
        "the operator to start the linking window (is it running? is the resource paused?)",
        timeout,
    )


def _needs_restart(obj: dict[str, Any]) -> bool:
    return linking_of(obj).get("phase") in RESTART_PHASES


def ensure_window(
    kube: Kube, name: str, obj: dict[str, Any], out: Output, timeout: float, grace: float = 15.0
) -> None:
    """Make sure a linking window is open: restart an expired one at once; when there is
    none yet, give the operator a moment to open one by itself (it does for a fresh
    `notAuthorized` instance) before asking with the relink annotation."""
    if not _needs_restart(obj):
        return
    if linking_of(obj).get("phase") != "Expired":
        try:
            wait_until(lambda: not _needs_restart(kube.get(name)), "a linking window", grace, 0.5)
        except PluginError:
            pass
        else:
            return
        obj = kube.get(name)
    restart_linking(kube, name, obj, out, timeout)


def _linked(out: Output, obj: dict[str, Any]) -> int:
    out.say(f"Linked as {phone_of(obj)}")
    return 0


def follow(
    kube: Kube,
    name: str,
    out: Output,
    key: str,
    show: Callable[[LinkingSecret], None],
    shown: str,
    interval: float = 1.0,
) -> int:
    """Redraw whenever the code changes; end when linked (0) or the window ends (1)."""
    while True:
        obj = kube.get(name)
        if is_authorized(obj):
            return _linked(out, obj)
        linking = linking_of(obj)
        if linking.get("phase") == "Expired":
            again = "qr" if key == QR_KEY else "pair"
            out.say(
                f"The linking window ended. Run `kubectl whatsapp {again} {name}` "
                "again to restart it."
            )
            return 1
        secret = kube.linking_secret(name)
        if secret is not None and key in secret.data and secret.refreshed_at != shown:
            show(secret)
            shown = secret.refreshed_at
        time.sleep(interval)


def _secret_with(kube: Kube, name: str, key: str) -> LinkingSecret | None:
    secret = kube.linking_secret(name)
    return secret if secret is not None and key in secret.data else None


# ---------------------------------------------------------------- subcommands


def cmd_status(kube: Kube, args: argparse.Namespace, out: Output) -> int:
    obj = kube.get(args.name)
    out.say(format_status(obj, kube.events(args.name)))
    return 0


def cmd_qr(kube: Kube, args: argparse.Namespace, out: Output) -> int:
    name = args.name
    obj = kube.get(name)
    if is_authorized(obj):
        out.say(f"{name} is already linked as {phone_of(obj)}; nothing to scan.")
        return 0
    method = ((obj.get("spec") or {}).get("authorization") or {}).get("method") or "QRCode"
    if method == "PhoneNumber":
        out.say(
            f"{name} links with a pairing code (spec.authorization.method PhoneNumber): "
            f"run `kubectl whatsapp pair {name} --phone <number>`, or set the method to QRCode."
        )
        return 1
    ensure_window(kube, name, obj, out, args.timeout)
    secret = wait_until(
        lambda: _secret_with(kube, name, QR_KEY),
        f"the QR code in Secret {secret_name(name)}",
        args.timeout,
    )

    def show(current: LinkingSecret) -> None:
        out.clear()
        try:
            drawing = render(current.data[QR_KEY])
        except PngError as exc:
            drawing = f"(cannot draw this QR code: {exc})"
        out.say(f"Scan with WhatsApp > Linked devices > Link a device ({name}):\n")
        out.say(drawing)
        out.say(f"\nrefreshed {current.refreshed_at or '?'}")

    show(secret)
    if args.no_follow:
        return 0
    out.say("Waiting for the scan; the code is redrawn when it changes (Ctrl-C to stop).")
    return follow(kube, name, out, QR_KEY, show, secret.refreshed_at)


def cmd_pair(kube: Kube, args: argparse.Namespace, out: Output) -> int:
    name = args.name
    phone = normalize_phone(args.phone)
    obj = kube.get(name)
    if is_authorized(obj):
        out.say(f"{name} is already linked as {phone_of(obj)}; nothing to pair.")
        return 0
    patch = pair_patch(obj, phone)
    if patch is not None:
        out.say(
            f"Setting spec.authorization to PhoneNumber {phone}. This edits the resource's spec: "
            "if it is managed by GitOps (Flux, Argo CD), put it in Git instead, or the next sync "
            "reverts it."
        )
        obj = kube.patch(name, patch)
    if patch is not None:
        restart_linking(kube, name, obj, out, args.timeout)
    else:
        ensure_window(kube, name, obj, out, args.timeout)
    secret = wait_until(
        lambda: _secret_with(kube, name, CODE_KEY),
        f"the pairing code in Secret {secret_name(name)}",
        args.timeout,
    )

    def show(current: LinkingSecret) -> None:
        out.clear()
        code = current.data[CODE_KEY].decode(errors="replace")
        out.say(f"Pairing code for +{phone}:  {code}")
        out.say(
            "On that phone: WhatsApp > Linked devices > Link a device > "
            "Link with phone number instead, then enter the code."
        )

    show(secret)
    if args.no_follow:
        return 0
    out.say("Waiting for the phone (Ctrl-C to stop).")
    return follow(kube, name, out, CODE_KEY, show, secret.refreshed_at)


def _if_handled(obj: dict[str, Any], action: str, value: str) -> dict[str, Any] | None:
    return obj if handled(obj, action) == value else None


def cmd_action(kube: Kube, args: argparse.Namespace, out: Output) -> int:
    name, action = args.name, args.command
    obj = kube.get(name)
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    annotation = constants.ACTION_ANNOTATIONS[action]
    value = now_value(annotations.get(annotation))
    kube.patch(name, action_patch(action, value))
    out.say(f"Requested {action} ({annotation}={value}); waiting for the operator...")
    paused = constants.is_paused(annotations)
    try:
        obj = wait_until(
            lambda: _if_handled(kube.get(name), action, value),
            f"the operator to handle the {action}"
            + (" (the resource is paused: writes to GREEN-API are stopped)" if paused else ""),
            args.timeout,
        )
    except PluginError as exc:
        out.say(str(exc))
        return 1
    status = obj.get("status") or {}
    ready = condition(obj, constants.ConditionType.READY) or {}
    detail = f" ({ready['message']})" if ready.get("message") else ""
    out.say(
        f"{action} handled. State: {status.get('state') or 'unknown'}; "
        f"Ready={ready.get('status', '?')}{detail}"
    )
    if status.get("lastError"):
        out.say(f"Last error: {status['lastError']}")
    return 0


def cmd_link(kube: Kube, args: argparse.Namespace, out: Output) -> int:
    from whatsapp_operator.kubectl.link import serve  # noqa: PLC0415 - only this subcommand

    name = args.name
    obj = kube.get(name)
    method = ((obj.get("spec") or {}).get("authorization") or {}).get("method") or "QRCode"
    if not is_authorized(obj) and method == "QRCode":
        ensure_window(kube, name, obj, out, args.timeout)
    return serve(kube, name, args.port, out)


# ---------------------------------------------------------------- entry point


def _add_cluster_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument("--kubeconfig", default=default, help="path to the kubeconfig file")
    parser.add_argument("--context", default=default, help="kubeconfig context to use")
    parser.add_argument(
        "-n", "--namespace", default=default, help="namespace (default: the context's)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubectl whatsapp",
        description="Work with WhatsAppInstances: status, link a phone, actions.",
    )
    _add_cluster_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("name", metavar="NAME", help="the WhatsAppInstance")
        _add_cluster_options(sub, suppress=True)
        sub.add_argument(
            "--timeout", type=float, default=120.0, help="seconds to wait for the operator"
        )
        return sub

    command("status", "A summary: state, conditions, drift, linking, actions, recent events.")
    qr = command("qr", "Show the QR code to scan in this terminal and follow it until linked.")
    qr.add_argument("--no-follow", action="store_true", help="show the current code and exit")
    pair = command("pair", "Link with a pairing code entered on the phone.")
    pair.add_argument("--phone", required=True, help="the phone's number, e.g. 79001234567")
    pair.add_argument("--no-follow", action="store_true", help="show the code and exit")
    for action, text in (
        ("reboot", "Reboot the GREEN-API instance."),
        ("logout", "Log the linked phone out."),
        ("reconcile", "Re-read GREEN-API and retry now."),
    ):
        command(action, text + " Waits until the operator has handled it.")
    link = command("link", "Serve a local page (127.0.0.1) with the live QR code.")
    link.add_argument("--port", type=int, default=0, help="local port (default: any free one)")
    return parser


HANDLERS: dict[str, Callable[[Kube, argparse.Namespace, Output], int]] = {
    "status": cmd_status,
    "qr": cmd_qr,
    "pair": cmd_pair,
    "reboot": cmd_action,
    "logout": cmd_action,
    "reconcile": cmd_action,
    "link": cmd_link,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Output(sys.stdout)
    try:
        kube = Kube.connect(args.kubeconfig, args.context, args.namespace)
        return HANDLERS[args.command](kube, args, out)
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        out.say("\nStopped.")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
