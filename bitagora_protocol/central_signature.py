"""Central's signature over a JSON object it sends down (a configuration document, a remote
action): ``{"alg": "ed25519", "key": <64 hex public key>, "sha256": <64 hex>, "sig": <128 hex>}``
where ``sha256`` is the SHA-256 of the object's canonical JSON (``journal.canonical_json``) and
``sig`` the Ed25519 signature of its 32 raw bytes (docs/PROTOCOL.md 2.6 and 2.7).

``check`` verifies one against the key the device pinned at enrollment; the callers read the
object's fields only afterwards, so a device never acts on a field nobody signed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bitagora_protocol.journal import canonical_json, public_key_bytes

ALG = "ed25519"
FIELDS = frozenset({"alg", "key", "sha256", "sig"})
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")


class SignedObjectError(ValueError):
    """A signed object that cannot be taken: ``reason`` says why in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignatureMismatch(SignedObjectError):
    """Signed by another key than the pinned one, or the signature does not verify."""


def object_sha256(value: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def signature_of(key: Ed25519PrivateKey, value: Mapping[str, Any]) -> dict[str, str]:
    digest = object_sha256(value)
    return {
        "alg": ALG,
        "key": public_key_bytes(key.public_key()).hex(),
        "sha256": digest,
        "sig": key.sign(bytes.fromhex(digest)).hex(),
    }


def check(signature: Any, value: Mapping[str, Any], pinned_key: bytes, what: str) -> str:
    """Verify ``signature`` over ``value`` (``what`` names it in messages: "document") with
    the pinned raw public key; return the digest. Raises ``SignatureMismatch`` or
    ``SignedObjectError``."""
    if not isinstance(signature, dict):
        raise SignedObjectError("signature must be an object")
    if set(signature) != FIELDS:
        missing, extra = sorted(FIELDS - set(signature)), sorted(set(signature) - FIELDS)
        raise SignedObjectError(f"signature: missing {missing}, unexpected {extra}")
    if signature["alg"] != ALG:
        raise SignedObjectError(f"signature alg must be {ALG!r}")
    key, sig = signature["key"], signature["sig"]
    if not isinstance(key, str) or not _HEX64.fullmatch(key):
        raise SignedObjectError("signature key must be 64 lowercase hex digits")
    if not isinstance(sig, str) or not _HEX128.fullmatch(sig):
        raise SignedObjectError("signature sig must be 128 lowercase hex digits")
    if bytes.fromhex(key) != pinned_key:
        raise SignatureMismatch(
            f"signed by key {key[:16]}…, not central's pinned key {pinned_key.hex()[:16]}…"
        )
    try:
        digest = object_sha256(value)
    except ValueError as err:
        raise SignedObjectError(f"{what} is not canonical JSON: {err}") from None
    if signature["sha256"] != digest:
        raise SignatureMismatch(f"signature sha256 is not the {what}'s SHA-256")
    try:
        Ed25519PublicKey.from_public_bytes(pinned_key).verify(
            bytes.fromhex(sig), bytes.fromhex(digest)
        )
    except (InvalidSignature, ValueError):
        raise SignatureMismatch("signature does not verify with central's pinned key") from None
    return digest
