"""`whatsapp-operator check`: registers the subcommand; the work is imported when it runs."""

from __future__ import annotations

import argparse
import sys

HELP = (
    "check, read-only, that this machine, the credentials and the operator's allow-list "
    "reach a GREEN-API instance as the operator needs"
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `check` subcommand to `commands`."""
    check = commands.add_parser(
        "check",
        help=HELP,
        description=(
            HELP[0].upper() + HELP[1:] + ". Each step prints OK, WARN, FAIL or SKIP; nothing is "
            "written to GREEN-API or Kubernetes. Exit code: 0 when nothing failed, 1 when a "
            "step failed, 2 for a command line that cannot run. Give --instance, or --id with "
            "--token-file or --token-secret."
        ),
    )
    check.add_argument(
        "--instance",
        metavar="NS/NAME",
        help="check a WhatsAppInstance: its apiUrl, id, token, settings, profile and partner",
    )
    check.add_argument(
        "--api-url",
        metavar="URL",
        help="the instance's apiUrl (default: https://{first 4 digits of id}.api.greenapi.com)",
    )
    check.add_argument("--id", type=int, dest="id_instance", metavar="ID", help="idInstance")
    check.add_argument(
        "--token-secret",
        metavar="NS/NAME[:KEY]",
        help="a Secret holding apiTokenInstance (default key apiTokenInstance)",
    )
    check.add_argument(
        "--token-file", metavar="FILE", help="a file holding apiTokenInstance ('-': stdin)"
    )
    check.add_argument(
        "--settings-profile",
        choices=("Recommended",),
        help="compare with a built-in settings profile (without --instance)",
    )
    check.add_argument(
        "--settings-file",
        metavar="FILE",
        help="compare with a spec.settings YAML file (without --instance)",
    )
    check.add_argument(
        "--partner-token-secret",
        metavar="NS/NAME[:KEY]",
        help="also check a partner token held in a Secret (default key partnerToken)",
    )
    check.add_argument(
        "--partner-token-file", metavar="FILE", help="also check a partner token in a file"
    )
    check.add_argument(
        "--partner-api-url",
        metavar="URL",
        help="the partner API (default: the partner's apiUrl, else https://api.green-api.com)",
    )
    check.add_argument(
        "--allowed-api-url",
        action="append",
        dest="allowed_api_urls",
        metavar="URL",
        help="an allow-list entry as for `run` (default: WAOP_ALLOWED_API_URLS, else "
        "GREEN-API's own https hosts)",
    )
    check.add_argument("--kubeconfig", metavar="FILE")
    check.add_argument("--context", metavar="NAME", help="kubeconfig context")
    check.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds for DNS and for connecting (default 10)",
    )
    check.add_argument("-o", "--output", choices=("text", "json"), default="text")
    check.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    from whatsapp_operator.check.main import main

    return main(args, sys.stdin, sys.stdout, sys.stderr)
