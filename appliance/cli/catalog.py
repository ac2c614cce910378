"""``bitagora catalog``: the shop's products, prices and taxes from a CSV file (docs/CATALOG.md).

    bitagora catalog import FILE.csv         make the file the till's catalog (a new version)
    bitagora catalog export --out FILE.csv   write the till's catalog as such a file
    bitagora catalog show [--json]           the version in force, categories and counts
                                             (--json: and every product)

    bitagora config apply FILE               verify central's signed configuration document
                                             (from a USB stick) and apply it

A file with any bad row is refused whole, every problem named by line and column on standard
error, and nothing changes. Importing while the kiosk runs is safe (it lands between two
sales). Run it as the services' user, as the other device tools:
``sudo -u bitagora /opt/bitagora/current/bin/bitagora catalog import /media/usb/catalog.csv``.
What the commands do lives in ``appliance/catalog_io.py``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from appliance.cli.common import Subparsers, add_device_options, fail, refuse_root, settings
from appliance.config import Settings

T = TypeVar("T")


def register(subparsers: Subparsers) -> None:
    catalog = subparsers.add_parser(
        "catalog",
        help="the shop's products, prices and taxes: import, export, show",
        description="The till's catalog from and to a CSV file (docs/CATALOG.md).",
    )
    add_device_options(catalog)
    sub = catalog.add_subparsers(dest="catalog_command", required=True, metavar="ACTION")

    imp = sub.add_parser(
        "import",
        help="make a CSV file the till's catalog (any bad row: nothing changes)",
        description="Read FILE (docs/CATALOG.md) and make it the whole catalog, as a new "
        "catalog version in the journal. A file with any bad row is refused whole.",
    )
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    imp.set_defaults(func=cmd_import)

    exp = sub.add_parser("export", help="write the till's catalog as a CSV file")
    exp.add_argument("--out", type=Path, required=True, metavar="FILE.csv")
    exp.set_defaults(func=cmd_export)

    show = sub.add_parser("show", help="the catalog version in force, categories and counts")
    show.add_argument("--json", action="store_true", help="as JSON, every product included")
    show.set_defaults(func=cmd_show)

    for parser in (imp, exp, show):
        add_device_options(parser, argparse.SUPPRESS)

    config = subparsers.add_parser(
        "config",
        help="central's signed configuration document from a file (USB stick): apply",
        description="Central's signed configuration document (docs/PROTOCOL.md 2.6).",
    )
    add_device_options(config)
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    apply = config_sub.add_parser(
        "apply",
        help="verify FILE against central's pinned key and apply it (catalog and settings)",
        description="Verify FILE (what GET /api/v1/config serves, saved to a USB stick) "
        "against the central key pinned at enrollment, and apply it as the uplink does. "
        "An older, foreign or malformed document changes nothing.",
    )
    apply.add_argument("file", type=Path, metavar="FILE")
    add_device_options(apply, argparse.SUPPRESS)
    apply.set_defaults(func=cmd_config_apply)


def _run(args: argparse.Namespace, what: str, work: Callable[[Settings], T]) -> T | int:
    """Run ``work(settings)`` and turn the store's refusals into words; returns the result, or
    the exit status (an int) when it failed."""
    from appliance.store.device import DeviceMismatch
    from appliance.store.identity import IdentityError
    from appliance.store.lock import StoreBusy

    device = settings(args)
    if refused := refuse_root(device):
        return fail(refused, 1)
    try:
        return work(device)
    except FileNotFoundError as err:
        if err.filename is None:  # catalog_io: there is no device store there
            return fail(
                f"{err}; a new device makes it when it enrolls (bitagora uplink enroll) or "
                "when the kiosk first starts",
                1,
            )
        return fail(f"{what}: {err.filename}: no such file", 1)
    except IsADirectoryError as err:
        return fail(f"{what}: {err.filename}: is a folder, not a file", 1)
    except PermissionError:
        raise  # main says whose the device's data is and how to run as that user
    except OSError as err:
        return fail(f"{what}: {err.filename or ''}: {err.strerror or err}", 1)
    except (StoreBusy, DeviceMismatch, IdentityError) as err:
        return fail(str(err), 1)


def cmd_import(args: argparse.Namespace) -> int:
    from appliance.catalog_io import CatalogFileError, import_file

    try:
        imported = _run(args, "cannot read the catalog file", lambda s: import_file(s, args.file))
    except CatalogFileError as err:
        return fail(f"{args.file}: {err}", 1)
    if isinstance(imported, int):
        return imported
    print(imported.summary())
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from appliance.catalog_io import export_file

    exported = _run(args, "cannot write the catalog file", lambda s: export_file(s, args.out))
    if isinstance(exported, int):
        return exported
    version = exported.version.version
    print(
        f"{exported.products} products written to {exported.path} (catalog version {version})"
        if version
        else f"{exported.products} products written to {exported.path}"
    )
    return 0


def cmd_config_apply(args: argparse.Namespace) -> int:
    from appliance.catalog_io import apply_config_file
    from appliance.store.config_documents import Refused

    try:
        applied = _run(args, "cannot read the document", lambda s: apply_config_file(s, args.file))
    except Refused as err:
        return fail(f"{args.file}: refused, nothing changed: {err}", 1)
    if isinstance(applied, int):
        return applied
    catalog = applied.catalog
    settings = ", ".join(applied.settings_changed) or "none changed"
    print(
        f"{args.file.name}: configuration version {applied.version} applied; catalog version "
        f"{catalog.version} ({catalog.products} products), settings: {settings}"
    )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from appliance.catalog_io import show

    shown = _run(args, "cannot read the catalog", lambda s: show(s, with_products=args.json))
    if isinstance(shown, int):
        return shown
    if args.json:
        print(json.dumps(shown, ensure_ascii=False, indent=2))
    else:
        print(describe(shown))
    return 0


def describe(shown: dict[str, Any]) -> str:
    """``catalog_io.show``'s answer in words."""
    if not shown["products"]:
        return (
            "no products yet: import the shop's catalog with bitagora catalog import FILE.csv "
            "(docs/CATALOG.md)"
        )
    if shown["version"]:
        version, sha256, seq = shown["version"], shown["sha256"], shown["seq"]
        head = f"catalog version {version} (sha256 {sha256}, journal #{seq})"
    else:
        head = "catalog not recorded as a version yet"
    if not shown["recorded"]:
        head += "; changed since outside an import: the kiosk records it at its next start"
    lines = [head, f"{shown['products']} products, {shown['for_sale']} for sale"]
    width = max((len(c["name"]) for c in shown["categories"]), default=0)
    lines += [f"  {c['name']:<{width}}  {c['products']}" for c in shown["categories"]]
    return "\n".join(lines)
