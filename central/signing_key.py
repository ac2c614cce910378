"""Central's Ed25519 signing key: it signs the configuration documents devices apply.

Devices pin its public key at enrollment (docs/PROTOCOL.md 2.1), so losing it means enrolling
every device again, and leaking it lets anyone sign a catalog a till accepts. It is read, in this
order, from the file ``$BITAGORA_CENTRAL_SIGNING_KEY_FILE`` names (a systemd credential or a
secret mounted by the platform), else from ``<central dir>/signing_key``, made at the first start
(0600, the service user's). The file holds the 32-byte private seed as 64 hex digits.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

KEY_FILE = "signing_key"
KEY_FILE_ENV = "BITAGORA_CENTRAL_SIGNING_KEY_FILE"


class SigningKeyError(RuntimeError):
    """The key file exists but does not hold a key."""


def load_signing_key(directory: Path) -> Ed25519PrivateKey:
    """The key named by ``$BITAGORA_CENTRAL_SIGNING_KEY_FILE``, else ``directory/signing_key``
    (created with a new key if missing)."""
    given = os.environ.get(KEY_FILE_ENV)
    if given:
        return _read(Path(given))
    path = directory / KEY_FILE
    if path.exists():
        return _read(path)
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    # Written whole under a name of its own, then linked into place: two centrals starting at
    # once never each keep a key of their own (link refuses a name that exists), and neither
    # ever reads the other's file half written.
    fd, draft = tempfile.mkstemp(prefix=".signing_key.", dir=directory)  # 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(seed.hex() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            return _read(path)
    finally:
        os.unlink(draft)
    return key


def _read(path: Path) -> Ed25519PrivateKey:
    text = path.read_text(encoding="ascii").strip()
    try:
        seed = bytes.fromhex(text)
        if len(seed) != 32:
            raise ValueError("not 32 bytes")
        return Ed25519PrivateKey.from_private_bytes(seed)
    except ValueError:
        raise SigningKeyError(
            f"{path} does not hold a signing key (64 hex digits of an Ed25519 seed)"
        ) from None
