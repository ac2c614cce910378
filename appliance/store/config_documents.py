"""Applying central's signed configuration document (docs/PROTOCOL.md 2.6) to the device.

The same bytes arrive from ``GET /api/v1/config`` (the uplink) or on a USB stick (``bitagora
config apply FILE``) and are taken the same way:

1. verified against central's key pinned at enrollment (``uplink_state.central_key``), then read
   field by field (``bitagora_protocol.config_document``);
2. refused if it is for another merchant, not newer than the version applied (a replay), or in
   another currency than the till's; the very document applied last is ``AlreadyApplied`` (not
   an error: the uplink is sent it after a USB stick brought it);
3. applied in one transaction: the catalog through ``catalog_versions.apply`` (a ``catalog``
   record whose ``source`` names the document's version), a ``config`` record for each shop
   setting that changed (``receipt``, ``payment_methods``, ``language``, ``cash_rounding`` when
   the document has them), a ``staff`` record for each person central names whom the till has
   otherwise (``_apply_staff``), and the version applied.

A refused document changes nothing: the till keeps selling on what it had.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiosqlite

from appliance.store import catalog_versions, journal, outbox
from appliance.store import staff as staff_store
from appliance.store.db import transaction
from appliance.store.identity import DeviceIdentity
from appliance.store.staff import Staff
from bitagora_protocol.central_signature import SignedObjectError
from bitagora_protocol.config_document import ConfigDocument, verify

STATE_CENTRAL_KEY = "central_key"  # pinned at enrollment
STATE_MERCHANT_ID = "merchant_id"
STATE_CONFIG_VERSION = "config_version"  # the document version applied
STATE_CONFIG_SHA256 = "config_sha256"  # its signature's sha256
STATE_CONFIG_ETAG = "config_etag"  # its ETag, sent as If-None-Match


class Refused(Exception):
    """A document not taken; the message says why (and the till keeps what it had)."""


class AlreadyApplied(Refused):
    """The very document applied last (after a USB stick's, the uplink is sent it again):
    nothing to do, and nothing wrong."""


@dataclass(frozen=True)
class Applied:
    version: int
    catalog: catalog_versions.Applied
    settings_changed: tuple[str, ...]


async def applied_version(conn: aiosqlite.Connection) -> int:
    value = await outbox.get_state(conn, STATE_CONFIG_VERSION)
    return int(value) if value else 0


async def apply_signed(
    conn: aiosqlite.Connection,
    identity: DeviceIdentity,
    data: bytes,
    currency: str,
    by: Mapping[str, Any],
    etag: str | None = None,
) -> Applied:
    """Verify ``data`` and apply it; ``Refused`` says why not. ``by`` is how it came
    (``{"via": "uplink"}``, ``{"via": "cli"}``), written in the records it makes."""
    states = await outbox.get_states(conn, STATE_CENTRAL_KEY, STATE_MERCHANT_ID)
    if STATE_CENTRAL_KEY not in states:
        raise Refused(
            "no central key is pinned (enrolled before documents were signed, or not enrolled): "
            "enroll the device again"
        )
    try:
        document = await asyncio.to_thread(verify, data, bytes.fromhex(states[STATE_CENTRAL_KEY]))
    except SignedObjectError as err:
        raise Refused(f"{type(err).__name__}: {err.reason}") from None
    merchant = states.get(STATE_MERCHANT_ID)
    if merchant is not None and document.merchant_id != int(merchant):
        raise Refused(
            f"the document is for merchant {document.merchant_id} ({document.merchant_name!r}), "
            f"this device belongs to merchant {merchant}"
        )
    if document.currency != currency:
        raise Refused(
            f"the document's prices are in {document.currency}, this till sells in {currency} "
            "(device.currency)"
        )
    if await _is_applied(conn, document):
        if etag is not None:  # fetched with an older ETag (or none): a 304 from now on
            await outbox.set_state(conn, STATE_CONFIG_ETAG, etag)
        raise AlreadyApplied(f"version {document.version} is the one applied already")
    async with transaction(conn):
        held = await applied_version(conn)
        if document.version <= held:
            raise Refused(
                f"version {document.version} is not newer than the version applied ({held}): "
                "an old document sent again"
            )
        source = {"kind": "central", "version": document.version, "sha256": document.sha256}
        catalog = await catalog_versions.apply(conn, identity, currency, document.items, source, by)
        changed = await _apply_settings(conn, identity, document, source, by)
        await _apply_staff(conn, identity, document, source, by)
        await outbox.set_state(
            conn, STATE_CONFIG_VERSION, str(document.version), in_transaction=True
        )
        await outbox.set_state(conn, STATE_CONFIG_SHA256, document.sha256, in_transaction=True)
        if etag is not None:
            await outbox.set_state(conn, STATE_CONFIG_ETAG, etag, in_transaction=True)
    return Applied(document.version, catalog, changed)


async def _is_applied(conn: aiosqlite.Connection, document: ConfigDocument) -> bool:
    states = await outbox.get_states(conn, STATE_CONFIG_VERSION, STATE_CONFIG_SHA256)
    return states.get(STATE_CONFIG_VERSION) == str(document.version) and (
        states.get(STATE_CONFIG_SHA256) == document.sha256
    )


async def _apply_settings(
    conn: aiosqlite.Connection,
    identity: DeviceIdentity,
    document: ConfigDocument,
    source: Mapping[str, Any],
    by: Mapping[str, Any],
) -> tuple[str, ...]:
    """A ``config`` record for each setting whose value differs from its newest record (none
    for a ``language`` the document leaves out on a till central never gave one: None, the
    till's own ``device.language``, is what it has)."""
    settings = document.settings
    wanted: dict[str, Any] = {
        "receipt": {
            "header_lines": list(settings.header_lines),
            "footer_lines": list(settings.footer_lines),
        },
        "payment_methods": list(settings.payment_methods),
        "language": settings.language,
    }
    if settings.cash_rounding is not None:  # absent: the device's own setting stands
        wanted["cash_rounding"] = settings.cash_rounding
    changed = []
    for setting, value in wanted.items():
        last = await journal.last_config(conn, setting)
        if (last.body.get("value") if last is not None else None) == value:
            continue
        body = {"setting": setting, "value": value, "source": dict(source), "by": dict(by)}
        await journal.append(conn, identity, "config", body)
        changed.append(setting)
    return tuple(changed)


async def _apply_staff(
    conn: aiosqlite.Connection,
    identity: DeviceIdentity,
    document: ConfigDocument,
    source: Mapping[str, Any],
    by: Mapping[str, Any],
) -> None:
    """Central's people as central has them, each change a ``staff`` record: someone new is
    added without a PIN (a manager sets one at the till, or they use a badge); name, role,
    active flag and own language follow central; someone central reactivates has no PIN until
    one is set (their old one may have been given to someone else meanwhile); their badges are
    the ones central lists. People the till has and central does not name are left as the till
    has them."""
    for entry in document.staff:
        before = await staff_store.get(conn, entry.id)
        after = Staff(entry.id, entry.name, entry.role, entry.active, entry.language)
        extra: dict[str, Any] = {}
        if before is None:
            action = "added"
            await staff_store.insert(conn, after, None)
        elif before != after:
            await staff_store.update(conn, after)
            if before.active != after.active:
                action = "reactivated" if after.active else "deactivated"
            else:
                action = "changed"
                extra = {"previous": staff_store.previous(before)}
            if after.active and not before.active:
                await staff_store.forget_pin(conn, entry.id)
        else:
            action = ""
        await staff_store.replace_badges(conn, entry.id, entry.badges)
        if action:
            body = staff_store.record_body(action, after, by, source=dict(source), **extra)
            await journal.append(conn, identity, "staff", body)
