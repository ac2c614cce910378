"""``bitagora``: one command for the kiosk, the uplink and the tools; a module a command group.

Each module of this package registers its commands with ``register(subparsers)``. Only the
module of the command asked for is imported (``bitagora kiosk`` starts the till without loading
the uplink's HTTP client or the tools); ``--help`` and a command that is not built in load them
all, then the command groups other distributions add (central, the dev tools: plugins.py).
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import sys
from collections.abc import Sequence

from appliance import __version__
from appliance.cli.common import Subparsers, fail
from appliance.cli.plugins import DEV_COMMANDS, DEV_TOOLS, add_command_groups
from appliance.config import ConfigError
from appliance.logs import log_to_stderr

# The built-in commands, each with the module that registers it.
BUILT_IN = {
    "kiosk": "kiosk",
    "uplink": "uplink",
    "staff": "staff",
    "doctor": "doctor",
    "journal": "journal",
    "backup": "backup",
    "restore": "backup",
    "update": "update",
    "report": "report",
    "refunds": "refunds",
    "wallet": "wallet",
    "catalog": "catalog",
    "config": "catalog",
    "provision": "provision",
    "factory-reset": "provision",
}


def command_word(argv: Sequence[str]) -> str | None:
    """The command ``argv`` asks for (its first word that is not an option), or None."""
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``bitagora`` parser for ``argv`` (default: the process's arguments): the command
    it asks for, or every command when it asks for none that is built in."""
    return _build(sys.argv[1:] if argv is None else argv)[0]


def _build(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, Subparsers]:
    parser = argparse.ArgumentParser(prog="bitagora", description="BitAgora POS appliance")
    parser.add_argument("--version", action="version", version=f"bitagora {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    command = command_word(argv)
    wanted = [BUILT_IN[command]] if command in BUILT_IN else list(dict.fromkeys(BUILT_IN.values()))
    for name in wanted:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    if command not in sub.choices:
        add_command_groups(sub, command)
    return parser, sub


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser, sub = _build(argv)
    command = command_word(argv)
    if command in DEV_COMMANDS and command not in sub.choices:
        return fail(f"`bitagora {command}` is a development command, {DEV_TOOLS}")
    args = parser.parse_args(argv)
    log_to_stderr(args.verbose)
    try:
        return int(args.func(args))
    except ConfigError as err:
        return fail(f"bad setting: {err}")
    except PermissionError as err:
        # Device state belongs to the service user (systemd/bitagora.tmpfiles): a tool run as
        # someone else cannot write it, and a traceback would not say so.
        path = f" {err.filename}" if err.filename else ""
        return fail(
            f"permission denied:{path} (running as {getpass.getuser()}). The device's data "
            "belongs to the user the services run as: run it as that user, e.g. "
            "sudo -u bitagora /opt/bitagora/current/bin/bitagora …"
        )
    except KeyboardInterrupt:
        return 130
