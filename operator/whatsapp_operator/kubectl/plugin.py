"""`kubectl-whatsapp`: the WhatsAppInstance kubectl plugin (`kubectl whatsapp ...`).

Runs with the user's own kubeconfig and context, so RBAC decides who may read the
linking codes. Subcommands: status, qr, pair, reboot, logout, reconcile, link.
Every wait polls with a deadline; Ctrl-C ends a follow cleanly (exit 130).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from whatsapp_operator import constants
from whatsapp_operator.api.resource import AuthorizationMethod, LinkingPhase
from whatsapp_operator.decide.linking import CODE_KEY, QR_KEY, secret_name
from whatsapp_operator.kubectl.cluster import Kube, LinkingSecret
from whatsapp_operator.kubectl.qrterminal import PngError, render
from whatsapp_operator.kubectl.view import (
    Output,
    PluginError,
    action_patch,
    action_value,
    condition,
    format_status,
    handled,
    is_authorized,
    linking_of,
    normalize_phone,
    pair_patch,
    phone_of,
    relink_patch,
)

PHONE_PATTERN = re.compile(r"^[1-9][0-9]{6,14}$")
# Phases in which no code is being handed out and the window has to be (re)started.
RESTART_PHASES = {None, "", LinkingPhase.EXPIRED, LinkingPhase.NOT_NEEDED, LinkingPhase.LINKED}
ACTIONS = ("reboot", "logout", "reconcile")
EXIT_INTERRUPTED = 130


T = TypeVar("T")


# ---------------------------------------------------------------- waiting


def wait_until(
    probe: Callable[[], T | None],
    what: str,
    timeout: float,
    interval: float = 1.0,
) -> T:
    """Poll `probe` every `interval` seconds until it returns something truthy, and return it.

    PluginError naming `what` after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise PluginError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def restart_linking(
    kube: Kube, name: str, obj: dict[str, Any], out: Output, timeout: float
) -> None:
    """Set the relink annotation and wait for the operator to take it."""
    value = action_value(obj, constants.Action.RELINK)
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
    if linking_of(obj).get("phase") != LinkingPhase.EXPIRED:
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
        if linking.get("phase") == LinkingPhase.EXPIRED:
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
    """`status`: print the instance's summary and recent Events."""
    obj = kube.get(args.name)
    out.say(format_status(obj, kube.events(args.name)))
    return 0


def cmd_qr(kube: Kube, args: argparse.Namespace, out: Output) -> int:
    """`qr`: draw the QR code in the terminal and follow it until linked, unless --no-follow.

    Exit 1 when the instance links by pairing code, or the window ends while following.
    """
    name = args.name
    obj = kube.get(name)
    if is_authorized(obj):
        out.say(f"{name} is already linked as {phone_of(obj)}; nothing to scan.")
        return 0
    method = ((obj.get("spec") or {}).get("authorization") or {}).get(
        "method"
    ) or AuthorizationMethod.QR_CODE
    if method == AuthorizationMethod.PHONE_NUMBER:
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
    """`pair`: switch the spec to pairing with --phone if needed, then show and follow the code.

    Exit 1 when the window ends while following.
    """
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
    """`reboot`, `logout` or `reconcile`: request it by annotation and wait until it is handled.

    Exit 1 when the operator has not handled it within --timeout.
    """
    name, action = args.name, args.command
    obj = kube.get(name)
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    annotation = constants.ACTION_ANNOTATIONS[constants.Action(action)]
    value = action_value(obj, constants.Action(action))
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
    """`link`: open a linking window if needed, then serve the local page with the live QR code."""
    from whatsapp_operator.kubectl.link import serve  # noqa: PLC0415 - only this subcommand

    name = args.name
    obj = kube.get(name)
    method = ((obj.get("spec") or {}).get("authorization") or {}).get(
        "method"
    ) or AuthorizationMethod.QR_CODE
    if not is_authorized(obj) and method == AuthorizationMethod.QR_CODE:
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
    """The `kubectl whatsapp` command line with its subcommands."""
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
    """Run the subcommand named in `argv`; its exit code, 1 on a PluginError, 130 on Ctrl-C."""
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
