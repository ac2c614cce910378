"""The signed chain head: the last seq and hash of a device's journal, signed by the device.

An export or a push can be cut short and still verify record by record; the head says where the
chain ends, so an auditor (or central) can tell a truncated copy from a complete one.

    message = b"bitagora-head:" || canonical_json({"device_id", "hash", "seq"})
    head    = {"seq": N, "hash": <hash of record N>, "sig": Ed25519(device key, message) as hex}

An empty journal's head is seq 0 with the genesis hash. The domain prefix keeps a head signature
from ever being read as a record signature (those sign 32 raw bytes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bitagora_protocol.journal import JournalError, canonical_json, is_lower_hex
from bitagora_protocol.strict_json import MAX_SAFE_INTEGER

HEAD_DOMAIN = b"bitagora-head:"
HEAD_FIELDS = frozenset({"seq", "hash", "sig"})


@dataclass(frozen=True)
class ChainHead:
    seq: int
    hash: str
    sig: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "sig": self.sig}

    @classmethod
    def from_dict(cls, data: Any) -> ChainHead:
        """A head from its JSON form, refusing any other shape (``JournalError``)."""
        if not isinstance(data, Mapping) or set(data) != HEAD_FIELDS:
            raise JournalError(None, 'a chain head is exactly {"seq", "hash", "sig"}')
        seq, hash_, sig = data["seq"], data["hash"], data["sig"]
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SAFE_INTEGER:
            raise JournalError(None, "chain head seq must be an integer ≥ 0")
        if not (isinstance(hash_, str) and is_lower_hex(hash_, 64)):
            raise JournalError(None, "chain head hash must be 64 lowercase hex digits")
        if not (isinstance(sig, str) and is_lower_hex(sig, 128)):
            raise JournalError(None, "chain head sig must be 128 lowercase hex digits")
        return cls(seq, hash_, sig)


def head_message(device_id: str, seq: int, hash_: str) -> bytes:
    return HEAD_DOMAIN + canonical_json({"device_id": device_id, "hash": hash_, "seq": seq})


def sign_head(key: Ed25519PrivateKey, device_id: str, seq: int, hash_: str) -> ChainHead:
    return ChainHead(seq, hash_, key.sign(head_message(device_id, seq, hash_)).hex())


def verify_head(head: ChainHead, public_key: Ed25519PublicKey, device_id: str) -> None:
    """Raise ``JournalError`` unless the device's key signed this head."""
    try:
        public_key.verify(bytes.fromhex(head.sig), head_message(device_id, head.seq, head.hash))
    except (InvalidSignature, ValueError):
        raise JournalError(None, "the chain head's signature does not verify") from None
