"""What ``bitagora catalog import|export|show`` do, ready for the command line to call.

    import FILE.csv   read the file (docs/CATALOG.md), refuse it whole if any row is bad, else
                      make it the catalog and journal its version (``catalog`` record)
    export --out F    write the catalog as a CSV file that imports back to the same catalog
    show [--json]     the version in force, categories and counts (and the products)
    config apply F    verify central's signed configuration document F (a USB stick's copy of
                      what the uplink fetches) and apply it: catalog and shop settings

The ``*_catalog`` coroutines work on an open store; ``import_file``, ``export_file`` and
``show`` open the device's store from its settings (as the other commands do: the device key
must be the store's, and nothing runs while a restore holds the store). Importing while the
kiosk runs is safe: the new catalog lands in one transaction, between two sales.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from appliance.config import Settings
from appliance.store import catalog, catalog_versions, config_documents
from appliance.store.catalog_versions import CLI, Applied, CatalogVersion
from appliance.store.durable import write_atomic
from appliance.store.identity import DeviceIdentity
from bitagora_protocol.catalog_csv import CatalogFileError, parse_catalog, render_catalog

__all__ = [
    "CatalogFileError",
    "apply_config_file",
    "Exported",
    "Imported",
    "export_catalog",
    "export_file",
    "import_catalog",
    "import_file",
    "show",
    "show_catalog",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Imported:
    """An import's outcome: the version in force after it and what changed."""

    path: Path
    applied: Applied
    delimiter: str
    ignored_columns: tuple[str, ...]

    def summary(self) -> str:
        a = self.applied
        if a.unchanged:
            return f"{self.path.name}: the catalog is already this one (version {a.version})"
        c = a.change
        ignored = (
            f"; columns not used: {', '.join(self.ignored_columns)}" if self.ignored_columns else ""
        )
        return (
            f"{self.path.name}: catalog version {a.version} ({a.products} products: "
            f"{c.added} added, {c.changed} changed, {c.removed} removed), "
            f"sha256 {a.sha256}, journal #{a.seq}{ignored}"
        )


@dataclass(frozen=True)
class Exported:
    path: Path
    products: int
    version: CatalogVersion


async def import_catalog(
    conn: aiosqlite.Connection,
    identity: DeviceIdentity,
    currency: str,
    path: Path,
    by: Mapping[str, Any] | None = CLI,
) -> Imported:
    """Read ``path`` and make it the catalog. Raises ``CatalogFileError`` (every bad row, by
    line and column; nothing changed) or ``OSError`` (the file cannot be read)."""
    data = await asyncio.to_thread(path.read_bytes)
    known = await catalog.tax_codes(conn)
    parsed = await asyncio.to_thread(parse_catalog, data, currency, known)
    source = {"kind": "file", "name": path.name, "sha256": hashlib.sha256(data).hexdigest()}
    applied = await catalog_versions.apply(conn, identity, currency, parsed.items, source, by)
    return Imported(path, applied, parsed.delimiter, parsed.ignored_columns)


async def export_catalog(conn: aiosqlite.Connection, currency: str, path: Path) -> Exported:
    """Write the whole catalog (inactive products too) to ``path`` (replaced atomically)."""
    version = await catalog_versions.current_version(conn)
    items = await catalog.catalog_items(conn)
    text = render_catalog(currency, items)
    await asyncio.to_thread(write_atomic, path, text.encode("utf-8"))
    return Exported(path, len(items), version)


async def show_catalog(conn: aiosqlite.Connection, with_products: bool = False) -> dict[str, Any]:
    """The version in force, how many products (``for_sale``: active ones) and the categories
    with their counts of products for sale, as JSON values; ``with_products`` adds every
    product (``CatalogItem.canonical`` form)."""
    version = await catalog_versions.current_version(conn)
    categories = await catalog.categories(conn)
    shown: dict[str, Any] = {
        "version": version.version,
        "sha256": version.sha256,
        "seq": version.seq,
        "recorded": version.recorded,
        "products": await catalog.product_count(conn),
        "for_sale": sum(categories.values()),
        "categories": [{"name": name, "products": n} for name, n in categories.items()],
    }
    if with_products:
        shown["items"] = [item.canonical() for item in await catalog.catalog_items(conn)]
    return shown


def import_file(settings: Settings, path: Path) -> Imported:
    """``bitagora catalog import PATH``."""
    return _run(
        settings,
        lambda conn, identity: import_catalog(conn, identity, settings.device.currency, path),
    )


def export_file(settings: Settings, path: Path) -> Exported:
    """``bitagora catalog export --out PATH``."""
    return _run(
        settings, lambda conn, _identity: export_catalog(conn, settings.device.currency, path)
    )


def apply_config_file(settings: Settings, path: Path) -> config_documents.Applied:
    """``bitagora config apply PATH``: ``config_documents.Refused`` says why not."""

    async def work(
        conn: aiosqlite.Connection, identity: DeviceIdentity
    ) -> config_documents.Applied:
        data = await asyncio.to_thread(path.read_bytes)
        currency = settings.device.currency
        return await config_documents.apply_signed(conn, identity, data, currency, CLI)

    return _run(settings, work)


def show(settings: Settings, with_products: bool = False) -> dict[str, Any]:
    """``bitagora catalog show [--json]``."""
    return _run(settings, lambda conn, _identity: show_catalog(conn, with_products))


def _run(
    settings: Settings,
    work: Callable[[aiosqlite.Connection, DeviceIdentity], Awaitable[T]],
) -> T:
    """Open the device's own store (never a new one: a mistyped --data-dir must not make a
    device), bound to its key, under the store lock, and run ``work`` on it."""
    from appliance.store import device, lock
    from appliance.store.db import open_db
    from appliance.store.identity import load_identity

    if not settings.database_path.is_file():
        raise FileNotFoundError(f"no device store at {settings.database_path} (check --data-dir)")

    async def run() -> T:
        identity = load_identity(settings.data_dir)
        conn = await open_db(settings.database_path)
        try:
            await device.bind(conn, identity)
            return await work(conn, identity)
        finally:
            await conn.close()

    with lock.hold(settings.data_dir):  # never in the middle of a restore
        return asyncio.run(run())
