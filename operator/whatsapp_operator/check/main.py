"""Run `whatsapp-operator check` from its parsed command line: read the inputs, run the
steps, print the report (scrubbed of every secret the run handled) and return the code.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import IO

from whatsapp_operator.check.inputs import (
    DEFAULT_PARTNER_API_URL,
    PARTNER_TOKEN_KEY,
    Inputs,
    UsageError,
    flag_desired,
    from_instance,
    parse_object_ref,
    parse_secret_ref,
    read_token_file,
    settings_from,
    with_partner,
    with_token,
)
from whatsapp_operator.check.kube import InputError, KubeReader
from whatsapp_operator.check.report import EXIT_USAGE, render, scrub
from whatsapp_operator.check.runner import run_check
from whatsapp_operator.config import OperatorConfig
from whatsapp_operator.endpoints import AllowList, UrlRejected
from whatsapp_operator.redaction import protect_handlers, protect_loggers
from whatsapp_operator.run.cycle import default_api_url
from whatsapp_operator.run.identity import TOKEN_KEY

_INSTANCE_ONLY_NOT = (
    "api_url",
    "id_instance",
    "token_secret",
    "token_file",
    "settings_profile",
    "settings_file",
)


def _usage(args: argparse.Namespace) -> None:
    if args.instance is not None:
        given = [name for name in _INSTANCE_ONLY_NOT if getattr(args, name) is not None]
        if given:
            flags = ", ".join(
                "--" + name.replace("_", "-").replace("id-instance", "id") for name in given
            )
            raise UsageError(f"--instance reads these from the resource; drop {flags}")
        return
    if args.id_instance is None:
        raise UsageError("give --instance NS/NAME, or --id with --token-file or --token-secret")
    if args.id_instance < 1 or args.id_instance > 9_999_999_999:
        raise UsageError("--id must be 1 to 10 digits")
    if (args.token_secret is None) == (args.token_file is None):
        raise UsageError("give exactly one of --token-file and --token-secret")
    if args.partner_token_secret is not None and args.partner_token_file is not None:
        raise UsageError("give at most one of --partner-token-file and --partner-token-secret")
    stdin = "-"
    if stdin == args.token_file == args.partner_token_file:
        raise UsageError("only one token can come from standard input")


def _needs_kube(args: argparse.Namespace) -> bool:
    return any(
        value is not None for value in (args.instance, args.token_secret, args.partner_token_secret)
    )


def resolve(args: argparse.Namespace, stdin: IO[str], reader: KubeReader | None = None) -> Inputs:
    """The inputs the command line names; UsageError for a command line that cannot run."""
    _usage(args)
    token_file = read_token_file(args.token_file, stdin) if args.token_file else None
    partner_file = (
        read_token_file(args.partner_token_file, stdin) if args.partner_token_file else None
    )
    token_ref = (
        parse_secret_ref(args.token_secret, TOKEN_KEY, "--token-secret")
        if args.token_secret
        else None
    )
    partner_ref = (
        parse_secret_ref(args.partner_token_secret, PARTNER_TOKEN_KEY, "--partner-token-secret")
        if args.partner_token_secret
        else None
    )
    instance = parse_object_ref(args.instance, "--instance") if args.instance else None
    spec = (
        settings_from(args.settings_profile, args.settings_file)
        if args.settings_profile or args.settings_file
        else None
    )
    if reader is None and _needs_kube(args):
        try:
            reader = KubeReader.connect(args.kubeconfig, args.context)
        except InputError as exc:
            return Inputs(
                args.instance or "flags", args.api_url or "", args.id_instance, problems=[str(exc)]
            )
    if instance is not None and reader is not None:
        try:
            inputs = from_instance(reader, *instance)
        except InputError as exc:
            return Inputs(f"WhatsAppInstance {args.instance}", "", None, problems=[str(exc)])
    else:
        api_url = args.api_url or default_api_url(args.id_instance)
        inputs = Inputs("flags", api_url, args.id_instance, desired=flag_desired(spec))
        with_token(inputs, reader, token_ref, token_file)
    if partner_ref is not None or partner_file is not None:
        inputs.partner = None
        with_partner(
            inputs,
            reader,
            args.partner_api_url or DEFAULT_PARTNER_API_URL,
            partner_ref,
            partner_file,
        )
    elif inputs.partner is not None and args.partner_api_url:
        inputs.partner = type(inputs.partner)(
            args.partner_api_url, inputs.partner.token, inputs.partner.source
        )
    return inputs


def main(args: argparse.Namespace, stdin: IO[str], stdout: IO[str], stderr: IO[str]) -> int:
    """The check's exit code: 0 nothing failed, 1 a step failed, 2 a usage error."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    protect_handlers(logging.getLogger().handlers)
    protect_loggers()
    try:
        entries = tuple(args.allowed_api_urls or OperatorConfig().allowed_api_urls)
        allowed = AllowList(entries)
        inputs = resolve(args, stdin)
    except (UsageError, UrlRejected) as exc:
        print(f"error: {scrub(str(exc), ())}", file=stderr, flush=True)
        return EXIT_USAGE
    try:
        report = asyncio.run(run_check(inputs, allowed, timeout=args.timeout))
    except Exception as exc:
        print(
            f"error: the check stopped: {scrub(str(exc), inputs.secrets)} ({type(exc).__name__})",
            file=stderr,
            flush=True,
        )
        return 1
    print(render(report, args.output, inputs.secrets), file=stdout, flush=True)
    return report.exit_code
