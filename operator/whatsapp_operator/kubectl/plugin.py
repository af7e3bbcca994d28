"""`kubectl-whatsapp`: the WhatsAppInstance kubectl plugin (`kubectl whatsapp ...`).

Runs with the user's own kubeconfig and context, so RBAC decides who may read the
linking codes. Subcommands: list, status, qr, pair, link, relink, reboot, logout,
reconcile, rotate-token, clear-webhooks-queue, clear-messages-queue, pause, resume, check,
completion. Every wait polls with a deadline; Ctrl-C ends a follow cleanly (exit 130).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from whatsapp_operator import constants
from whatsapp_operator.api.resource import LinkingPhase
from whatsapp_operator.decide.linking import CODE_KEY, QR_KEY, secret_name
from whatsapp_operator.kubectl import completion
from whatsapp_operator.kubectl.cluster import Kube, LinkingSecret
from whatsapp_operator.kubectl.qrterminal import PngError, render
from whatsapp_operator.kubectl.resources import (
    CLUSTER_PARTNER,
    INSTANCE,
    PARTNER,
    Kind,
    parse_target,
)
from whatsapp_operator.kubectl.tables import (
    as_list,
    dump,
    format_partner,
    format_profile,
    format_rows,
    instance_rows,
)
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
    pair_request,
    pair_request_patch,
    pairing_phone,
    pause_patch,
    phone_of,
    relink_patch,
    rotation_outcome,
)

PHONE_PATTERN = re.compile(r"^[1-9][0-9]{6,14}$")
# Phases in which no code is being handed out and the window has to be (re)started.
RESTART_PHASES = {None, "", LinkingPhase.EXPIRED, LinkingPhase.NOT_NEEDED, LinkingPhase.LINKED}
ACTIONS = (
    "reboot",
    "logout",
    "reconcile",
    "rotate-token",
    "clear-webhooks-queue",
    "clear-messages-queue",
)
# Subcommands named apart from the action they request (the actions carry GREEN-API's names).
_ACTION_OF_COMMAND = {
    "clear-webhooks-queue": constants.Action.CLEAR_WEBHOOKS_QUEUE,
    "clear-messages-queue": constants.Action.CLEAR_MESSAGES_QUEUE,
}
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
    kube: Kube,
    name: str,
    obj: dict[str, Any],
    out: Output,
    timeout: float,
    patch: Callable[[str], dict[str, Any]] = relink_patch,
) -> None:
    """Set the relink annotation (with whatever else `patch` of its value writes in the same
    request) and wait for the operator to take it."""
    value = action_value(obj, constants.Action.RELINK)
    kube.patch(name, patch(value))
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
    """`status [KIND/]NAME`: the summary and recent Events of an instance, a partner or a
    profile; or the object itself with -o json|yaml."""
    kind, name = parse_target(args.name)
    obj = kube.get_object(kind, name)
    if args.output:
        out.say(dump(obj, args.output))
        return 0
    now = datetime.now(UTC)
    events = kube.events(name, kind)
    if kind is INSTANCE:
        out.say(format_status(obj, events, now))
    elif kind in (PARTNER, CLUSTER_PARTNER):
        out.say(format_partner(obj, events, now))
    else:
        out.say(format_profile(obj, events, now))
    return 0


def cmd_list(kube: Kube, args: argparse.Namespace, out: Output) -> int:
    """`list`: one row per WhatsAppInstance (the label selector is applied by the API
    server); or the objects as a List with -o json|yaml."""
    found = kube.list_objects(INSTANCE, all_namespaces=args.all_namespaces, selector=args.selector)
    if args.output in ("json", "yaml"):
        out.say(dump(as_list(found), args.output))
        return 0
    items = list(found.get("items") or [])
    if not items:
        where = "any namespace" if args.all_namespaces else f"namespace {kube.namespace}"
        print(f"No WhatsAppInstances found in {where}.", file=sys.stderr, flush=True)
        return 0
    rows = instance_rows(
        items,
        datetime.now(UTC),
        all_namespaces=args.all_namespaces,
        wide=args.output == "wide",
    )
    out.say(format_rows(rows))
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
    if pair_request(obj) is not None:
        # The annotation is the plugin's own request (`pair`): asking for a QR code undoes it.
        out.say(f"Removing {constants.ANNOTATION_PAIR_PHONE}: back to the QR code.")
        restart_linking(
            kube, name, obj, out, args.timeout, lambda value: pair_request_patch(None, value)
        )
        obj = kube.get(name)
    if pairing_phone(obj) is not None:
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
    """`pair`: ask for pairing codes for --phone (by annotation, or in the spec with
    --edit-spec) if the operator is not pairing with it already, then show and follow the code.

    Exit 1 when the window ends while following.
    """
    name = args.name
    phone = normalize_phone(args.phone)
    obj = kube.get(name)
    if is_authorized(obj):
        out.say(f"{name} is already linked as {phone_of(obj)}; nothing to pair.")
        return 0
    if pairing_phone(obj) == phone:
        ensure_window(kube, name, obj, out, args.timeout)
    elif args.edit_spec:
        patch = pair_patch(obj, phone)
        out.say(
            f"Setting spec.authorization to PhoneNumber {phone}. This edits the resource's spec: "
            "if it is managed by GitOps (Flux, Argo CD), put it in Git instead, or the next sync "
            "reverts it."
        )
        obj = kube.patch(name, patch or {})
        restart_linking(kube, name, obj, out, args.timeout)
    else:
        out.say(
            f"Asking for pairing codes for +{phone} with annotation "
            f"{constants.ANNOTATION_PAIR_PHONE} (the spec is left as it is, so a GitOps sync "
            "does not revert it; `kubectl whatsapp qr` removes it)."
        )
        restart_linking(
            kube, name, obj, out, args.timeout, lambda value: pair_request_patch(phone, value)
        )
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
    """`reboot`, `logout`, `reconcile`, `rotate-token` or a queue clear: request it by
    annotation and wait until it is handled.

    Exit 1 when the operator has not handled it within --timeout, or refused a rotation.
    """
    name = args.name
    action = _ACTION_OF_COMMAND.get(args.command) or constants.Action(args.command)
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
    if action == constants.Action.ROTATE_TOKEN:
        done, text = rotation_outcome(obj, value)
        out.say(text)
        return 0 if done else 1
    return 0


def cmd_link(kube: Kube, args: argparse.Namespace, out: Output) -> int:
    """`link`: open a linking window if needed, then serve the local page with the live QR code."""
    from whatsapp_operator.kubectl.link import serve  # noqa: PLC0415 - only this subcommand

    name = args.name
    obj = kube.get(name)
    if not is_authorized(obj) and pairing_phone(obj) is None:
        ensure_window(kube, name, obj, out, args.timeout)
    return serve(kube, name, args.port, out)


def cmd_relink(kube: Kube, args: argparse.Namespace, out: Output) -> int:
    """`relink`: start a new linking window now and wait until the operator has taken it."""
    name = args.name
    obj = kube.get(name)
    if is_authorized(obj):
        out.say(
            f"{name} is linked as {phone_of(obj)}: codes are handed out only once no phone is "
            f"linked (`kubectl whatsapp logout {name}` first to link another)."
        )
    if constants.is_paused((obj.get("metadata") or {}).get("annotations") or {}):
        out.say(f"{name} is paused: no codes until `kubectl whatsapp resume {name}`.")
    restart_linking(kube, name, obj, out, args.timeout)
    linking = linking_of(kube.get(name))
    out.say(f"Linking: {linking.get('phase') or '-'}. {linking.get('message') or ''}".rstrip())
    return 0


def cmd_pause(kube: Kube, args: argparse.Namespace, out: Output) -> int:
    """`pause`: stop the operator's writes to GREEN-API (the paused annotation)."""
    name = args.name
    obj = kube.get(name)
    if constants.is_paused((obj.get("metadata") or {}).get("annotations") or {}):
        out.say(f"{name} is already paused.")
        return 0
    kube.patch(name, pause_patch(True))
    out.say(
        f"Paused {name} ({constants.ANNOTATION_PAUSED}=true): the operator keeps reading "
        "GREEN-API and reporting, but writes nothing (no settings, actions or linking codes); "
        "a spec that differs shows as Synced=False ReconcilePaused. Deleting it while paused "
        "leaves the GREEN-API instance in place."
    )
    return 0


def cmd_resume(kube: Kube, args: argparse.Namespace, out: Output) -> int:
    """`resume`: remove the paused annotation; the operator reconciles at once."""
    name = args.name
    obj = kube.get(name)
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if constants.ANNOTATION_PAUSED not in annotations:
        out.say(f"{name} is not paused.")
        return 0
    kube.patch(name, pause_patch(False))
    out.say(f"Resumed {name}: the operator writes to GREEN-API again.")
    return 0


def check_argv(kube: Kube, args: argparse.Namespace) -> list[str]:
    """The `whatsapp-operator check` command line for the instance `args.name`."""
    argv = [sys.executable, "-m", "whatsapp_operator.cli", "check"]
    argv += ["--instance", f"{kube.namespace}/{args.name}", "-o", args.output]
    for flag, value in (("--kubeconfig", args.kubeconfig), ("--context", args.context)):
        if value:
            argv += [flag, value]
    for url in args.allowed_api_urls or ():
        argv += ["--allowed-api-url", url]
    return argv


def cmd_check(kube: Kube, args: argparse.Namespace, out: Output) -> int:
    """`check`: `whatsapp-operator check --instance` for the resource, read-only; its exit code.

    It runs as its own process: the check uses the operator's GREEN-API client, which
    the plugin does not import.
    """
    del out  # the check prints its own report
    # Our own interpreter and module, arguments as a list: no shell, nothing to inject.
    return subprocess.run(check_argv(kube, args), check=False).returncode  # noqa: S603


def cmd_completion(args: argparse.Namespace, out: Output) -> int:
    """`completion bash|zsh`: the shell completion script."""
    out.say(completion.script(args.shell))
    return 0


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
        description=(
            "Work with WhatsAppInstances (and see partners and profiles): list, status, "
            "link a phone, actions, pause."
        ),
        epilog=(
            "GitOps: `pair` asks by annotation (whatsapp-operator.io/pair-phone-number) and "
            "leaves the spec alone, so a self-heal does not revert it; to pair for good, put "
            "spec.authorization (method PhoneNumber, phoneNumber) in Git. Actions, relink and "
            "pause are annotations too, which Flux and Argo CD leave alone."
        ),
    )
    _add_cluster_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, text: str, target: str = "the WhatsAppInstance"
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("name", metavar="NAME", help=target)
        _add_cluster_options(sub, suppress=True)
        sub.add_argument(
            "--timeout", type=float, default=120.0, help="seconds to wait for the operator"
        )
        return sub

    listing = commands.add_parser(
        "list",
        help="One row per WhatsAppInstance: state, phone, Ready, Synced, linking window, age.",
        description="One row per WhatsAppInstance: state, phone, Ready, Synced, linking "
        "window (phase, and time left while open), age.",
    )
    _add_cluster_options(listing, suppress=True)
    listing.add_argument("-A", "--all-namespaces", action="store_true", help="in every namespace")
    listing.add_argument(
        "-l", "--selector", help="label selector, applied by the API server (e.g. team=sales)"
    )
    listing.add_argument(
        "-o", "--output", choices=("wide", "json", "yaml"), help="wide columns, or the objects"
    )
    status = command(
        "status",
        "A summary: state, conditions, drift, linking, actions, recent events. "
        "partner/NAME, clusterpartner/NAME and profile/NAME show a partner's credentials and "
        "instances or a profile's rollout.",
        target="a WhatsAppInstance, or KIND/NAME (partner, clusterpartner, profile)",
    )
    status.add_argument("-o", "--output", choices=("json", "yaml"), help="print the object")
    qr = command("qr", "Show the QR code to scan in this terminal and follow it until linked.")
    qr.add_argument("--no-follow", action="store_true", help="show the current code and exit")
    pair = command(
        "pair",
        "Link with a pairing code entered on the phone. Asks by annotation "
        f"({constants.ANNOTATION_PAIR_PHONE}); the spec is not changed, so a GitOps sync "
        "leaves the request alone. `qr` goes back to the QR code.",
    )
    pair.add_argument("--phone", required=True, help="the phone's number, e.g. 79001234567")
    pair.add_argument("--no-follow", action="store_true", help="show the code and exit")
    pair.add_argument(
        "--edit-spec",
        action="store_true",
        help="set spec.authorization instead (a GitOps sync reverts it unless Git says the same)",
    )
    link = command("link", "Serve a local page (127.0.0.1) with the live QR code.")
    link.add_argument("--port", type=int, default=0, help="local port (default: any free one)")
    command(
        "relink",
        f"Start a new linking window now ({constants.ANNOTATION_RELINK}, a timestamp). "
        "qr, pair and link do this themselves when the window has ended; `link` is the local "
        "page, not an alias.",
    )
    for action, text in (
        ("reboot", "Reboot the GREEN-API instance."),
        ("logout", "Log the linked phone out."),
        ("reconcile", "Re-read GREEN-API and retry now."),
        (
            "rotate-token",
            "Issue a new instance token now (updateApiToken; partner mode with the "
            "operator's own token Secret). The new token goes to the operator's token Secret "
            "and the connection Secret; the old one stops working.",
        ),
        (
            "clear-webhooks-queue",
            "Drop the notifications waiting for delivery (clearWebhooksQueue); the QueueCleared "
            "Event says how many. GREEN-API clears at most once a minute: an earlier request "
            "waits for its leftTime.",
        ),
        (
            "clear-messages-queue",
            "Drop the messages waiting to be sent (clearMessagesQueue), as clear-webhooks-queue.",
        ),
    ):
        command(action, text + " Waits until the operator has handled it.")
    command(
        "pause",
        f"Stop writes to GREEN-API ({constants.ANNOTATION_PAUSED}=true); reads and status go on.",
    )
    command("resume", f"Remove {constants.ANNOTATION_PAUSED}: writes start again.")
    check_text = (
        "Check, read-only, that this machine reaches the instance's GREEN-API endpoint with its "
        "credentials as the operator needs (allow-list, DNS, TLS, token, state, settings and "
        "what the operator would change, partner token). Exit 1 when a step fails."
    )
    check = commands.add_parser("check", help=check_text, description=check_text)
    check.add_argument("name", metavar="NAME", help="the WhatsAppInstance")
    _add_cluster_options(check, suppress=True)
    check.add_argument("-o", "--output", choices=("text", "json"), default="text")
    check.add_argument(
        "--allowed-api-url",
        action="append",
        dest="allowed_api_urls",
        metavar="URL",
        help="the operator's allow-list entries, if it runs with its own (--allowed-api-url)",
    )
    shells = commands.add_parser(
        "completion",
        help="Print the shell completion script: bash or zsh.",
        description="Print the shell completion script. bash: "
        "`source <(kubectl-whatsapp completion bash)`; zsh: "
        "`source <(kubectl-whatsapp completion zsh)` after compinit. For `kubectl whatsapp "
        "<TAB>` (kubectl 1.26 or later) put an executable `kubectl_complete-whatsapp` on PATH "
        'that runs `kubectl-whatsapp __complete "$@"`.',
    )
    shells.add_argument("shell", choices=completion.SHELLS)
    return parser


HANDLERS: dict[str, Callable[[Kube, argparse.Namespace, Output], int]] = {
    "list": cmd_list,
    "status": cmd_status,
    "qr": cmd_qr,
    "pair": cmd_pair,
    "reboot": cmd_action,
    "logout": cmd_action,
    "reconcile": cmd_action,
    "rotate-token": cmd_action,
    "clear-webhooks-queue": cmd_action,
    "clear-messages-queue": cmd_action,
    "link": cmd_link,
    "relink": cmd_relink,
    "pause": cmd_pause,
    "resume": cmd_resume,
    "check": cmd_check,
}


def _complete(words: list[str], out: Output) -> int:
    """`__complete WORDS...`: the candidates for the last word, cobra's way (one a line, then
    `:4`, no file names), so kubectl's plugin completion can call it too."""

    def names(kind: Kind | None, options: dict[str, str]) -> list[str]:
        try:
            kube = Kube.connect(
                options.get("kubeconfig"), options.get("context"), options.get("namespace")
            )
            return kube.namespaces() if kind is None else kube.names(kind)
        except PluginError:
            return []

    for candidate in completion.complete(build_parser(), words, names):
        out.say(candidate)
    out.say(f":{completion.NO_FILE_COMPLETION}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the subcommand named in `argv`; its exit code, 1 on a PluginError, 130 on Ctrl-C."""
    words = list(sys.argv[1:] if argv is None else argv)
    out = Output(sys.stdout)
    if words[:1] == [completion.COMPLETE]:
        return _complete(words[1:], out)
    args = build_parser().parse_args(words)
    if args.command == "completion":
        return cmd_completion(args, out)
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
