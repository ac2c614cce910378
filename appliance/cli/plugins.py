"""Command groups and seeds that other installed distributions add, found through entry points:
central (this distribution's ``central`` extra) and the development tools (``devtools/``). The
appliance imports neither; a device without them loses only their commands."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from appliance.cli.common import Subparsers, fail

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

# Each entry point is a `register(subparsers) -> None`: central in pyproject.toml, `demo` and
# `sim` in devtools/pyproject.toml.
COMMANDS_GROUP = "bitagora.commands"
# Catalogs `bitagora kiosk --seed-<name>` can load: `async seed(conn, currency) -> None`.
SEEDS_GROUP = "bitagora.seeds"
# The development tools' commands, named here only to say so where they are not installed.
DEV_COMMANDS = ("demo", "sim")
DEV_TOOLS = "not installed on devices (in a checkout: pip install -e ./devtools)"


def entry_points(group: str) -> list[EntryPoint]:
    """The installed distributions' entry points of ``group`` (read from their metadata: only
    called for what the built-in commands do not cover, so they pay nothing for it)."""
    from importlib.metadata import entry_points as installed

    return list(installed(group=group))


def find_seed(name: str) -> Callable[[Any, str], Awaitable[None]] | None:
    """The seed ``name`` of the ``bitagora.seeds`` entry points, or None if none is installed."""
    for point in entry_points(SEEDS_GROUP):
        if point.name == name:
            seed: Callable[[Any, str], Awaitable[None]] = point.load()
            return seed
    return None


def add_command_groups(sub: Subparsers, command: str | None) -> None:
    """Add the ``bitagora.commands`` entry points' command groups. The one named after
    ``command`` (the command asked for) is loaded first, and the others only if it did not add
    ``command`` (or none was asked for: ``--help`` lists every one)."""
    points = sorted(entry_points(COMMANDS_GROUP), key=lambda p: p.name)
    named = [p for p in points if p.name == command]
    _register(sub, named)
    if command not in sub.choices:
        _register(sub, [p for p in points if p not in named and p.name not in sub.choices])


def _register(sub: Subparsers, points: list[EntryPoint]) -> None:
    for point in points:
        try:
            register = point.load()
        except ImportError as err:  # e.g. central on a device: its extra is not installed
            message = _not_loadable(point, err)
            parser = sub.add_parser(point.name, help=f"(not installed here: {err})")
            parser.set_defaults(func=lambda _a, message=message: fail(message))
        else:
            register(sub)


def _not_loadable(point: EntryPoint, err: ImportError) -> str:
    """What to say when a command group cannot load: its distribution's extra of the same name,
    if it has one, is what to install."""
    hint = ""
    dist = point.dist
    if dist is not None and point.name in (dist.metadata.get_all("Provides-Extra") or []):
        hint = f"; pip install '{dist.name}[{point.name}]'"
    return f"{point.name} is not installed here ({err}){hint}"
