"""Binding a database to one device key, so its journal can be verified from the file alone."""

from __future__ import annotations

import aiosqlite
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.store.db import transaction
from appliance.store.identity import DeviceIdentity
from bitagora_protocol.journal import device_id_for, device_public_key


class DeviceMismatch(RuntimeError):
    """The database belongs to another device key: signing with this one would fork the chain."""


async def bind(conn: aiosqlite.Connection, identity: DeviceIdentity) -> None:
    stored = await read(conn)
    if stored is None:
        async with transaction(conn):
            await conn.executemany(
                "INSERT INTO device_info (key, value) VALUES (?, ?)",
                [("device_id", identity.device_id), ("public_key", identity.public_key_hex)],
            )
        return
    device_id, public_key = stored
    if public_key != identity.public_key_hex:
        raise DeviceMismatch(
            f"this database belongs to {device_id}, but the device key is "
            f"{identity.device_id}; restore the matching key or start a new data directory"
        )


async def read(conn: aiosqlite.Connection) -> tuple[str, str] | None:
    rows: dict[str, str] = {
        row[0]: row[1] for row in await conn.execute_fetchall("SELECT key, value FROM device_info")
    }
    if "public_key" not in rows:
        return None
    return rows["device_id"], rows["public_key"]


def public_key_from_hex(value: str) -> tuple[str, Ed25519PublicKey]:
    raw = bytes.fromhex(value)
    return device_id_for(raw), device_public_key(raw)
