"""The `whatsapp-operator` command: one entry point, one subcommand per job.

Each subcommand lives in the package it drives and registers itself through a
small `command` module that imports nothing heavy, so `--help` stays instant and
starting the emulator does not load the Kubernetes client (and vice versa).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from whatsapp_operator import __version__
from whatsapp_operator import commands as operator_commands
from whatsapp_operator.check import command as check_command

# The emulator's and the developer tools' subcommands: the released image leaves both
# packages out (.dockerignore), and there the command offers the operator's alone.
OPTIONAL_COMMANDS = ("whatsapp_operator.emulator.command", "whatsapp_operator.devtools.command")


def _optional_commands() -> list[ModuleType]:
    found = []
    for name in OPTIONAL_COMMANDS:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as error:
            # Only the package's own absence; a missing dependency inside it is a bug.
            if error.name is None or not name.startswith(error.name):
                raise
    return found


def build_parser() -> argparse.ArgumentParser:
    """The `whatsapp-operator` command line with all its subcommands."""
    parser = argparse.ArgumentParser(
        prog="whatsapp-operator",
        description="Run WhatsApp accounts hosted on GREEN-API from Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    operator_commands.register(commands)
    check_command.register(commands)
    for module in _optional_commands():
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the subcommand named in `argv` (default: sys.argv); return its exit code."""
    args = build_parser().parse_args(argv)
    handler = args.handler
    code: int = handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
