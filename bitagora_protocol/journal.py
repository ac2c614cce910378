"""The journal record format: canonical bytes, hash chain and Ed25519 signatures.

This module is the reference for docs/PROTOCOL.md and is shared by the device and central:

- canonical(record) = UTF-8 JSON of {"at", "body", "device_id", "kind", "prev_hash", "seq"} with
  keys sorted at every level, separators "," and ":", no whitespace, non-ASCII characters unescaped,
  integers only (a float anywhere is refused), no NaN/Infinity.
- hash = lowercase hex SHA-256( bytes.fromhex(prev_hash) || canonical(record) )
- sig  = lowercase hex Ed25519 signature by the device key over the 32 raw bytes of hash
- the first record (seq 1) has prev_hash = genesis_prev_hash(device_id)
  = hex SHA-256( b"bitagora-genesis:" || UTF-8 device_id )
- device_id = "dev-" + the first 20 hex digits of SHA-256(raw 32-byte Ed25519 public key)
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bitagora_protocol.strict_json import MAX_SAFE_INTEGER, StrictJsonError, check_values

GENESIS_DOMAIN = b"bitagora-genesis:"
SIGNED_FIELDS = ("at", "body", "device_id", "kind", "prev_hash", "seq")
RECORD_FIELDS = frozenset({*SIGNED_FIELDS, "hash", "sig"})
KINDS = frozenset(
    {
        "sale",
        "refund",
        "void",
        "drawer_open",
        "shift_open",
        "paid_in_out",
        "z_close",
        "config",
        "reprint",
        "payment",
        "staff_lockout",
        "payout",
        "catalog",
        "approval",
        "staff",
    }
)


class JournalError(ValueError):
    """A record or chain that does not verify; ``seq`` names the first bad record."""

    def __init__(self, seq: int | None, reason: str) -> None:
        super().__init__(f"seq {seq}: {reason}" if seq is not None else reason)
        self.seq = seq
        self.reason = reason


def _check_values(value: Any, path: str) -> None:
    # Floats have no single canonical text form; amounts are integers of minor units. Integers
    # beyond ±(2^53 − 1) and strings PostgreSQL cannot store are refused as well (strict_json).
    try:
        check_values(value, path)
    except StrictJsonError as err:
        raise JournalError(None, str(err)) from None


def canonical_json(value: Any) -> bytes:
    _check_values(value, "record")
    return _dumps(value).encode("utf-8")


def _dumps(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


_LOWER_HEX = re.compile("[0-9a-f]*")


def is_lower_hex(value: str, size: int) -> bool:
    """``size`` lowercase hex digits exactly: the only spelling of a hash, key or signature."""
    return len(value) == size and _LOWER_HEX.fullmatch(value) is not None


def utc_now() -> str:
    """The record timestamp form: RFC 3339 UTC with microseconds and a Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def device_id_for(public_key: bytes) -> str:
    return "dev-" + hashlib.sha256(public_key).hexdigest()[:20]


def genesis_prev_hash(device_id: str) -> str:
    return hashlib.sha256(GENESIS_DOMAIN + device_id.encode("utf-8")).hexdigest()


_FIELD_PRIME = 2**255 - 19
# y of the order-8 points of edwards25519; with 0 (order 4), 1 (the identity) and p − 1 (order 2)
# these are every point of small order, whichever the sign of x.
_ORDER_8_Y = 0x7A03AC9277FDC74EC6CC392CFA53202A0F67100D760B3CBA4FD84D3D706A17C7
_SMALL_ORDER_Y = frozenset({0, 1, _FIELD_PRIME - 1, _ORDER_8_Y, _FIELD_PRIME - _ORDER_8_Y})


def device_public_key(raw: bytes) -> Ed25519PublicKey:
    """A device's raw Ed25519 public key, refusing what the verification rule of
    docs/PROTOCOL.md 1.3 excludes: a non-canonical encoding (y ≥ p) and a point of small order,
    for which signatures prove nothing (OpenSSL's verify accepts some forgeries for those)."""
    if len(raw) != 32:
        raise JournalError(None, "a public key is 32 bytes")
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    if y >= _FIELD_PRIME:
        raise JournalError(None, "the public key is not canonically encoded")
    if y in _SMALL_ORDER_Y:
        raise JournalError(None, "the public key is a point of small order")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise JournalError(None, "not an Ed25519 public key") from None


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Record:
    seq: int
    kind: str
    at: str
    device_id: str
    body: Mapping[str, Any]
    prev_hash: str
    hash: str = ""
    sig: str = ""

    def signed_part(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "body": self.body,
            "device_id": self.device_id,
            "kind": self.kind,
            "prev_hash": self.prev_hash,
            "seq": self.seq,
        }

    @functools.cached_property
    def body_json(self) -> str:
        """The body's canonical JSON (as central stores it), checked and encoded once."""
        try:
            check_values(self.body, "record.body", depth=1)
        except StrictJsonError as err:
            raise JournalError(None, str(err)) from None
        return _dumps(self.body)

    def canonical(self) -> bytes:
        """``canonical_json(self.signed_part())``, with the body's text spliced in from
        ``body_json`` rather than walked and encoded again: the same bytes ("body" sorts
        between "at" and "device_id", and that key cannot occur inside a JSON string)."""
        head = {k: v for k, v in self.signed_part().items() if k != "body"}
        _check_values(head, "record")
        at, rest = _dumps(head).split(',"device_id":', 1)
        return f'{at},"body":{self.body_json},"device_id":{rest}'.encode()

    def compute_hash(self) -> str:
        return hashlib.sha256(bytes.fromhex(self.prev_hash) + self.canonical()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {**self.signed_part(), "hash": self.hash, "sig": self.sig}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        """Build a record from its JSON form, refusing missing or mistyped fields."""
        try:
            seq, kind, at = data["seq"], data["kind"], data["at"]
            device_id, body = data["device_id"], data["body"]
            prev_hash, hash_, sig = data["prev_hash"], data["hash"], data["sig"]
        except KeyError as missing:
            raise JournalError(data.get("seq"), f"missing field {missing}") from None
        if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= MAX_SAFE_INTEGER:
            raise JournalError(None, f"bad seq {seq!r}")
        unsigned = sorted(set(data) - RECORD_FIELDS)
        if unsigned:
            # A field outside the signature could say anything; a record has exactly eight.
            raise JournalError(seq, f"unsigned field(s) {', '.join(unsigned)}")
        for name, value in (
            ("kind", kind),
            ("at", at),
            ("device_id", device_id),
            ("prev_hash", prev_hash),
            ("hash", hash_),
            ("sig", sig),
        ):
            if not isinstance(value, str):
                raise JournalError(seq, f"{name} must be a string")
        if not isinstance(body, Mapping):
            raise JournalError(seq, "body must be an object")
        for name, value, size in (
            ("prev_hash", prev_hash, 64),
            ("hash", hash_, 64),
            ("sig", sig, 128),
        ):
            if not is_lower_hex(value, size):
                raise JournalError(seq, f"{name} must be {size} lowercase hex digits")
        return cls(seq, kind, at, device_id, body, prev_hash, hash_, sig)


def seal(
    key: Ed25519PrivateKey,
    device_id: str,
    seq: int,
    kind: str,
    body: Mapping[str, Any],
    prev_hash: str,
    at: str | None = None,
) -> Record:
    """Make the next record of a chain: compute its hash and sign it."""
    if kind not in KINDS:
        raise JournalError(seq, f"unknown kind {kind!r}")
    unsigned = Record(seq, kind, at or utc_now(), device_id, body, prev_hash)
    digest = unsigned.compute_hash()
    sig = key.sign(bytes.fromhex(digest)).hex()
    sealed = Record(seq, kind, unsigned.at, device_id, body, prev_hash, digest, sig)
    # The same body: its canonical text, checked and encoded for the hash, is the sealed
    # record's too (where cached_property keeps it), for the store's insert.
    sealed.__dict__["body_json"] = unsigned.body_json
    return sealed


def content_error(record: Record, public_key: Ed25519PublicKey) -> JournalError | None:
    """What is wrong with the record's own hash and signature, if anything: the costly half of
    verifying a record, which needs nothing of the chain around it (so central makes it before
    taking the device's lock, docs/ARCHITECTURE.md)."""
    try:
        recomputed = record.compute_hash()
    except JournalError as err:
        return JournalError(record.seq, err.reason)
    if recomputed != record.hash:
        return JournalError(record.seq, "hash does not match the record's content")
    try:
        public_key.verify(bytes.fromhex(record.sig), bytes.fromhex(record.hash))
    except (InvalidSignature, ValueError):
        return JournalError(record.seq, "signature does not verify with the device key")
    return None


def verify_record(
    record: Record,
    public_key: Ed25519PublicKey,
    device_id: str,
    expected_seq: int,
    expected_prev_hash: str,
) -> None:
    """Check one record against its expected place in the chain; raise JournalError if bad."""
    _check_link(record, device_id, expected_seq, expected_prev_hash)
    error = content_error(record, public_key)
    if error is not None:
        raise error


def _check_link(record: Record, device_id: str, expected_seq: int, expected_prev: str) -> None:
    if record.seq != expected_seq:
        # The first bad seq is the one missing from its place (a deleted record), not the one
        # found there: docs/PROTOCOL.md 1.3.
        raise JournalError(expected_seq, f"record {expected_seq} is missing (found {record.seq})")
    if record.device_id != device_id:
        raise JournalError(record.seq, f"device_id {record.device_id} is not {device_id}")
    if record.prev_hash != expected_prev:
        raise JournalError(record.seq, "prev_hash does not match the previous record's hash")


def verify_chain(
    records: Iterable[Record],
    public_key: Ed25519PublicKey,
    device_id: str,
    first_seq: int = 1,
    prev_hash: str | None = None,
    contents: Sequence[JournalError | None] | None = None,
) -> int:
    """Verify a contiguous run of records; return how many were checked.

    ``prev_hash`` is the hash of the record before ``first_seq`` (genesis when starting at 1).
    ``contents``: each record's ``content_error``, made beforehand (else made here). Either
    way a record's link is checked before its content, as docs/PROTOCOL.md 1.3 orders them.
    """
    expected_prev = prev_hash if prev_hash is not None else genesis_prev_hash(device_id)
    expected_seq = first_seq
    for index, record in enumerate(records):
        _check_link(record, device_id, expected_seq, expected_prev)
        error = contents[index] if contents is not None else content_error(record, public_key)
        if error is not None:
            raise error
        expected_prev, expected_seq = record.hash, expected_seq + 1
    return expected_seq - first_seq
