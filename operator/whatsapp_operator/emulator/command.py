"""`whatsapp-operator emulator`: run the GREEN-API emulator from the command line.

Imports nothing heavy at module level: the CLI imports this module for every subcommand.
"""

from __future__ import annotations

import argparse
from typing import Any

LISTENING_LINE = "GREEN-API emulator listening on {url}"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `emulator` subcommand to `subparsers`."""
    parser = subparsers.add_parser(
        "emulator",
        help="run the GREEN-API emulator (instance, partner and admin APIs)",
        description=(
            "Serve an emulated GREEN-API. Flags override the --config file. "
            "See docs/emulator.md for the admin API."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7010, help="0 picks any free port")
    parser.add_argument("--config", metavar="FILE", help="YAML or JSON EmulatorConfig")
    parser.add_argument(
        "--instance",
        action="append",
        default=[],
        metavar="ID:TOKEN[:STATE]",
        help="seed an instance (repeatable); STATE defaults to notAuthorized",
    )
    parser.add_argument(
        "--partner-token", action="append", default=[], metavar="TOKEN", help="repeatable"
    )
    for flag in _TIMING_FLAGS:
        parser.add_argument(f"--{flag}", type=float, default=None)
    faults = parser.add_argument_group(
        "faults and variants", "each off (or at the documented default) unless given"
    )
    faults.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KEY=VALUE[,KEY=VALUE...]",
        help=(
            "add a fault rule (repeatable), e.g. "
            "method=createInstance,loseAnswerRate=1,loseAnswerMs=60000"
        ),
    )
    faults.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set any variant switch (repeatable), e.g. qrWhileStarting=refused",
    )
    faults.add_argument("--qr-while-starting", choices=("allowed", "refused"), default=None)
    faults.add_argument("--qr-when-authorized", choices=("alreadyLogged", "hasAuth"), default=None)
    faults.add_argument(
        "--deleted-long-ago-response", choices=("deleted", "unauthorized"), default=None
    )
    faults.add_argument(
        "--auth-code-refused-probability",
        type=float,
        default=None,
        metavar="P",
        help="getAuthorizationCode answers status: false with this probability",
    )
    faults.add_argument(
        "--stale-auth",
        action="append",
        default=[],
        type=int,
        metavar="ID",
        help="give a seeded instance unusable auth data (qr: Instance has auth...)",
    )
    parser.add_argument(
        "--rate-limit-scale",
        type=float,
        default=None,
        help="multiply every documented rate (load tests)",
    )
    parser.add_argument("--no-rate-limits", action="store_true", help="disable 429 answers")
    parser.add_argument("--random-seed", type=int, default=None)
    parser.add_argument("--log-level", default="INFO")
    parser.set_defaults(handler=run)


_TIMING_FLAGS = (
    "creation-seconds",
    "starting-seconds",
    "settings-apply-seconds",
    "qr-rotate-seconds",
    "ws-timeout-seconds",
    "listing-lag-seconds",
    "deleted-long-ago-days",
)
_VARIANT_FLAGS = ("qr_while_starting", "qr_when_authorized", "deleted_long_ago_response")


def _value(raw: str) -> Any:
    """Numbers, booleans, lists and objects as JSON; anything else (even `null`) as text.

    `null` stays a string because `creationResponse: "null"` is a variant value.
    """
    import json

    if raw in ("true", "false") or raw[:1] in ("[", "{", "-") or raw[:1].isdigit():
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _pairs(spec: str, flag: str) -> dict[str, Any]:
    pairs: dict[str, Any] = {}
    for item in spec.split(","):
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag} expects KEY=VALUE, got {item!r}")
        pairs[key.strip()] = _value(raw.strip())
    return pairs


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    timings = {
        name: getattr(args, name)
        for name in (flag.replace("-", "_") for flag in _TIMING_FLAGS)
        if getattr(args, name) is not None
    }
    patch: dict[str, Any] = {}
    if timings:
        patch["timings"] = timings
    variants: dict[str, Any] = {}
    for spec in args.variant:
        # One pair per flag: a JSON list value (startingRejects) may contain commas.
        name, sep, raw = spec.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--variant expects NAME=VALUE, got {spec!r}")
        variants[name.strip()] = _value(raw.strip())
    variants.update(
        {name: getattr(args, name) for name in _VARIANT_FLAGS if getattr(args, name) is not None}
    )
    if variants:
        patch["variants"] = variants
    if args.auth_code_refused_probability is not None:
        patch["auth_code_refused_probability"] = args.auth_code_refused_probability
    limits: dict[str, Any] = {}
    if args.rate_limit_scale is not None:
        limits["scale"] = args.rate_limit_scale
    if args.no_rate_limits:
        limits["enabled"] = False
    if limits:
        patch["rate_limits"] = limits
    if args.random_seed is not None:
        patch["random_seed"] = args.random_seed
    return patch


def _parse_instance(spec: str) -> dict[str, Any]:
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0].isdigit() or not parts[1]:
        raise ValueError(f"--instance expects ID:TOKEN[:STATE], got {parts[0]}:...")
    seed: dict[str, Any] = {"idInstance": int(parts[0]), "apiTokenInstance": parts[1]}
    if len(parts) == 3:
        seed["state"] = parts[2]
    return seed


def _mark_stale_auth(seeds: list[Any], ids: list[int]) -> None:
    for id_instance in ids:
        matching = [seed for seed in seeds if seed.id_instance == id_instance]
        if not matching:
            raise ValueError(f"--stale-auth {id_instance}: no such seeded instance")
        for seed in matching:
            seed.stale_auth = True


def run(args: argparse.Namespace) -> int:
    """Serve the emulator `args` configure until SIGINT or SIGTERM; 2 for a bad configuration."""
    import asyncio
    import logging
    import signal
    import sys

    from pydantic import ValidationError

    from whatsapp_operator.emulator.app import start_emulator
    from whatsapp_operator.emulator.config import (
        EmulatorConfig,
        FaultRule,
        SeedInstance,
        load_config_file,
        merge_patch,
    )

    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = load_config_file(args.config) if args.config else EmulatorConfig()
        config = merge_patch(config, _overrides(args))
        seeds = [SeedInstance.model_validate(_parse_instance(s)) for s in args.instance]
        config.instances = [*config.instances, *seeds]
        config.partner_tokens = [*config.partner_tokens, *args.partner_token]
        rules = [FaultRule.model_validate(_pairs(s, "--fault")) for s in args.fault]
        config.faults = [*config.faults, *rules]
        _mark_stale_auth(config.instances, args.stale_auth)
    except (OSError, ValueError, ValidationError) as exc:
        print(f"emulator: invalid configuration: {exc}", file=sys.stderr)
        return 2

    async def serve() -> None:
        emulator = await start_emulator(config, host=args.host, port=args.port)
        print(f"GREEN-API emulator listening on {emulator.url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            await emulator.stop()

    asyncio.run(serve())
    return 0
