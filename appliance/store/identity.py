"""The device's Ed25519 identity: one key file under the data directory, mode 0600.

The kiosk signs journal records with it and the uplink signs requests with it; whichever process
starts first creates it. Creation is race-free: the key is written to a private temporary file and
hard-linked into place, so a second process either links first or loads the winner's key.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from bitagora_protocol.journal import device_id_for, public_key_bytes

KEY_FILE = "identity/device_key.pem"


class IdentityError(RuntimeError):
    """The key file is missing, unreadable or too widely readable."""


@dataclass(frozen=True)
class DeviceIdentity:
    private_key: Ed25519PrivateKey
    path: Path

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def public_key_hex(self) -> str:
        return public_key_bytes(self.public_key).hex()

    @property
    def device_id(self) -> str:
        return device_id_for(public_key_bytes(self.public_key))


def load_identity(data_dir: Path) -> DeviceIdentity:
    path = data_dir / KEY_FILE
    try:
        mode = path.stat().st_mode & 0o777
        pem = path.read_bytes()
    except OSError as err:
        raise IdentityError(f"cannot read device key {path}: {err.strerror}") from None
    if mode & 0o077:
        raise IdentityError(f"device key {path} is mode {mode:o}; it must be 0600")
    key = load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError(f"{path} is not an Ed25519 key")
    return DeviceIdentity(key, path)


def load_or_create_identity(data_dir: Path) -> DeviceIdentity:
    path = data_dir / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # mkstemp makes it 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process won the race; use its key
        finally:
            os.unlink(tmp)
    return load_identity(data_dir)
