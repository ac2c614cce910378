"""Backups of the device store: an online copy with a manifest, checked before it is restored.

A backup is a folder ``bitagora-<device id>-<UTC time>-seq<N>/`` holding:

- ``appliance.sqlite3``: a copy made with SQLite's online backup API in one step, so it is one
  consistent snapshot (a read transaction; in WAL mode the kiosk keeps writing meanwhile). The
  copy is switched to rollback-journal mode, so it is one self-contained file.
- ``manifest.json``: format, device id and public key, the journal head (seq and hash), the
  schema version, when it was made, by which release, the SHA-256 of the database file, and an
  Ed25519 signature by the device key over all of that. The journal signs only the journal; the
  manifest's signature covers the rest of the database too (staff and their PIN hashes, the
  catalog), so a backup altered on the stick is refused, whatever table was changed.

The device key is deliberately not in a backup (docs/ARCHITECTURE.md, "Backups"): a backup
restores onto the device whose key made it.

Restoring (under the store's exclusive lock: ``copy_in``, ``verify_backup`` of that copy, then
``swap_in``) copies the backup's database into the data directory first and checks the copy (the
checksum, the whole journal chain and its signatures, and that the manifest says what the
database holds), so what is put in place is what was checked, whatever the stick reads the next
time. The replaced database is kept in ``<data_dir>/replaced/<time>/``, never deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature

from appliance.store.db import migrations
from appliance.store.device import public_key_from_hex
from appliance.store.durable import fsync_dir, fsync_file
from appliance.store.export import VerifyError, verify_database
from appliance.store.identity import DeviceIdentity
from bitagora_protocol.journal import JournalError, canonical_json

FORMAT = "bitagora-backup/1"
MANIFEST = "manifest.json"
DATABASE = "appliance.sqlite3"
REPLACED = "replaced"
_CHUNK = 1 << 20


class BackupError(RuntimeError):
    """A backup cannot be made, read or trusted; the message says why in words."""


@dataclass(frozen=True)
class Manifest:
    device_id: str
    public_key: str
    head_seq: int
    head_hash: str | None
    schema_version: int
    created_at: str
    app_version: str
    sha256: str
    format: str = FORMAT
    signature: str = ""  # Ed25519 by the device key over signed_bytes(), hex

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def signed_bytes(self) -> bytes:
        """What the signature covers: every other field, as canonical JSON."""
        fields = {k: v for k, v in asdict(self).items() if k != "signature"}
        return canonical_json(fields)

    def signed(self, identity: DeviceIdentity) -> Manifest:
        return replace(self, signature=identity.private_key.sign(self.signed_bytes()).hex())

    def check_signature(self) -> None:
        """The manifest (so the database's checksum, so every byte of the database, staff and
        catalog included) was signed by the key it names; BackupError otherwise."""
        try:
            _, public_key = public_key_from_hex(self.public_key)
            public_key.verify(bytes.fromhex(self.signature), self.signed_bytes())
        except (ValueError, InvalidSignature):
            raise BackupError(
                f"the manifest's signature does not verify with the key of {self.device_id}: "
                "the backup was altered after it was made"
            ) from None

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BackupError(f"{path.parent} is not a backup: it has no {MANIFEST}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise BackupError(f"cannot read {path}: {err}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise BackupError(f"{path} is not a {FORMAT} manifest")
        try:
            return cls(**data)
        except TypeError as err:
            raise BackupError(f"{path}: fields missing or unknown ({err})") from None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _head(conn: sqlite3.Connection) -> tuple[str, str, int, str | None, int]:
    """(device id, public key, head seq, head hash, schema version) of a device database."""
    info = dict(conn.execute("SELECT key, value FROM device_info").fetchall())
    if "public_key" not in info:
        raise BackupError("the database has no device identity yet: nothing to back up")
    row = conn.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
    seq, hash_ = (int(row[0]), str(row[1])) if row else (0, None)
    (schema,) = conn.execute("PRAGMA user_version").fetchone()
    return str(info["device_id"]), str(info["public_key"]), seq, hash_, int(schema)


def take_backup(
    database: Path, dest: Path, app_version: str, identity: DeviceIdentity
) -> tuple[Path, Manifest]:
    """Copy the live database into a new backup folder under ``dest``, with a manifest signed by
    the device key; safe while the database is in use."""
    if not database.is_file():
        raise BackupError(f"{database} does not exist: nothing to back up")
    if not dest.is_dir():
        raise BackupError(f"{dest} is not a folder (is the USB stick mounted?)")
    staging = Path(tempfile.mkdtemp(prefix=".bitagora-backup-", dir=dest))
    try:
        copy = staging / DATABASE
        try:
            source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
            try:
                target = sqlite3.connect(copy)
                try:
                    source.backup(target)  # pages=-1: one step, one read transaction
                    target.execute("PRAGMA journal_mode = DELETE")
                    device_id, public_key, seq, hash_, schema = _head(target)
                finally:
                    target.close()
            finally:
                source.close()
        except sqlite3.Error as err:
            raise BackupError(f"cannot copy {database}: {err}") from None
        fsync_file(copy)
        created = datetime.now(UTC)
        manifest = Manifest(
            device_id=device_id,
            public_key=public_key,
            head_seq=seq,
            head_hash=hash_,
            schema_version=schema,
            created_at=created.isoformat(timespec="seconds").replace("+00:00", "Z"),
            app_version=app_version,
            sha256=sha256_file(copy),
        ).signed(identity)
        if public_key != identity.public_key_hex:
            raise BackupError(
                f"the database belongs to {device_id}, but the device key is "
                f"{identity.device_id}: a backup is signed by the key its database is bound to"
            )
        # A plain write: the folder's rename below is what makes the backup appear whole (and
        # a USB stick's FAT refuses the chmod a write-by-rename would do).
        (staging / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
        fsync_file(staging / MANIFEST)
        name = f"bitagora-{device_id}-{created:%Y%m%dT%H%M%SZ}-seq{seq}"
        final, copies = dest / name, 1
        while final.exists():  # two backups of an idle till within one second
            copies += 1
            final = dest / f"{name}-{copies}"
        staging.rename(final)  # the folder appears complete or not at all
        fsync_dir(dest)
        return final, manifest
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def verify_backup(src: Path, database: Path | None = None) -> Manifest:
    """The manifest of a backup whose checksum, journal chain and signatures all hold, and whose
    database says what the manifest says; BackupError naming the first thing that does not.
    ``database``: a copy of the backup's database to check instead of the one in ``src``."""
    manifest = Manifest.load(src / MANIFEST)
    manifest.check_signature()
    database = database or src / DATABASE
    if not database.is_file():
        raise BackupError(f"{src} has no {DATABASE}")
    if sha256_file(database) != manifest.sha256:
        raise BackupError(
            f"{database} (from {src}) does not match the checksum in its manifest:"
            " the backup is damaged"
        )
    known = len(migrations())
    if manifest.schema_version > known:
        raise BackupError(
            f"the backup has schema version {manifest.schema_version}, this release knows up to "
            f"{known}: restore it with the release that made it ({manifest.app_version}) or later"
        )
    try:
        result = verify_database(database)
    except JournalError as err:
        where = f"seq {err.seq}: " if err.seq else ""
        raise BackupError(f"the backup's journal does not verify: {where}{err.reason}") from None
    except VerifyError as err:
        raise BackupError(f"the backup's database cannot be verified: {err}") from None
    if (result.device_id, result.count, result.last_hash) != (
        manifest.device_id,
        manifest.head_seq,
        manifest.head_hash,
    ):
        raise BackupError(
            f"the manifest names {manifest.device_id} up to seq {manifest.head_seq}, but the "
            f"database holds {result.device_id} up to seq {result.count}"
        )
    return manifest


def live_head(database: Path) -> int | None:
    """The journal head of the database in use, or None if there is none or it is unreadable
    (a damaged database is a reason to restore, not a reason to refuse)."""
    if not database.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT max(seq) FROM journal").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return int(row[0] or 0)


def copy_in(src: Path, database: Path) -> Path:
    """Copy the backup's database into ``database``'s folder (``<name>.restoring``), owned like
    that folder (a restore run as root leaves a database the services' user can still write)
    and synced: the copy ``verify_backup`` checks and ``swap_in`` puts in place."""
    for name in (MANIFEST, DATABASE):
        if not (src / name).is_file():
            raise BackupError(f"{src} is not a backup: it has no {name}")
    data_dir = database.parent
    owner = data_dir.stat()
    incoming = data_dir / (database.name + ".restoring")
    shutil.copyfile(src / DATABASE, incoming)
    os.chmod(incoming, 0o600)
    if os.geteuid() == 0:
        os.chown(incoming, owner.st_uid, owner.st_gid)
    fsync_file(incoming)
    return incoming


def _checkpoint(database: Path) -> None:
    """Fold the WAL of the database in use into its file, so the file alone is the whole of it
    (a damaged one, the reason for many a restore, is left as it is)."""
    if not database.is_file():
        return
    try:
        conn = sqlite3.connect(database)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    except sqlite3.Error:
        pass


def swap_in(incoming: Path, database: Path) -> Path | None:
    """Put ``incoming`` (a checked copy in the same folder) in place of ``database``, whose
    store lock the caller holds exclusively; return the folder the replaced files are kept in,
    if there were any.

    A power cut at any point leaves the old database or the new one in place, never none (on
    none, ``open_till`` would start an empty store bound to the same key: a second chain from
    seq 1): the old files are hard-linked aside first, then the new file is renamed over the
    old one."""
    data_dir = database.parent
    _checkpoint(database)
    replaced = [
        path
        for path in (database, *(database.with_name(database.name + s) for s in ("-wal", "-shm")))
        if path.exists()
    ]
    aside: Path | None = None
    if replaced:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        aside = data_dir / REPLACED / stamp
        aside.mkdir(parents=True, mode=0o700)
        for path in replaced:
            os.link(path, aside / path.name)  # kept with its WAL, so it stays openable
        fsync_dir(aside)
        fsync_dir(aside.parent)
        fsync_dir(data_dir)
        # SQLite would apply an old WAL left beside the new file to it: it goes (it is aside,
        # and the checkpoint above put what it held into the old file).
        for path in replaced:
            if path != database:
                path.unlink()
    os.replace(incoming, database)
    fsync_dir(data_dir)
    return aside
