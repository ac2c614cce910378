"""BOLT11 payment requests, written and signed the way a node does (for the Lightning simulator).

Only encoding: the appliance never needs to decode its own invoices, and the tests check these
strings with an independent decoder (the ``bolt11`` package). Signing uses libsecp256k1 through
``coincurve``, which pyln-client already brings in.
"""

from __future__ import annotations

import hashlib

import coincurve

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)

# Feature bits a current node sets in its invoices: var_onion_optin (8) and payment_secret (14),
# both compulsory, and basic_mpp (17) optional.
DEFAULT_FEATURES = (1 << 8) | (1 << 14) | (1 << 17)


def _polymod(values: list[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= _GENERATOR[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def bech32_encode(hrp: str, data: list[int]) -> str:
    """Bech32 (BIP 173) without the 90-character limit, which BOLT11 lifts."""
    polymod = _polymod(_hrp_expand(hrp) + data + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in data + checksum)


def _bytes_to_u5(data: bytes) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    for byte in data:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            out.append((acc >> bits) & 31)
    if bits:
        out.append((acc << (5 - bits)) & 31)
    return out


def _u5_to_bytes(data: list[int]) -> bytes:
    """Pack 5-bit groups into bytes, zero-padding the end (what the signature covers)."""
    acc = bits = 0
    out = bytearray()
    for value in data:
        acc = (acc << 5) | value
        bits += 5
        while bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    if bits:
        out.append((acc << (8 - bits)) & 0xFF)
    return bytes(out)


def _int_to_u5(value: int, width: int | None = None) -> list[int]:
    out: list[int] = []
    while value:
        out.insert(0, value & 31)
        value >>= 5
    if width is not None:
        out = [0] * (width - len(out)) + out
    return out


def _tagged(tag: str, data: list[int]) -> list[int]:
    return [CHARSET.index(tag), len(data) >> 5, len(data) & 31, *data]


def amount_hrp(amount_msat: int) -> str:
    """The amount part of the human-readable prefix, in the shortest exact unit."""
    if amount_msat <= 0:
        raise ValueError("amount_msat must be positive")
    value, unit = amount_msat * 10, "p"  # 1 msat = 10 pico-bitcoin
    for bigger in ("n", "u", "m"):
        if value % 1000:
            break
        value, unit = value // 1000, bigger
    return f"{value}{unit}"


def encode(
    *,
    node_key: coincurve.PrivateKey,
    network: str,
    amount_msat: int | None,
    payment_hash: bytes,
    payment_secret: bytes,
    description: str,
    timestamp: int,
    expiry_s: int,
    min_final_cltv: int = 18,
    features: int = DEFAULT_FEATURES,
) -> str:
    """A signed BOLT11 string. ``network`` is the currency prefix: bc, tb, bcrt or sb."""
    hrp = "ln" + network + (amount_hrp(amount_msat) if amount_msat else "")
    data = _int_to_u5(timestamp, 7)
    data += _tagged("p", _bytes_to_u5(payment_hash))
    data += _tagged("s", _bytes_to_u5(payment_secret))
    data += _tagged("d", _bytes_to_u5(description.encode("utf-8")))
    data += _tagged("x", _int_to_u5(expiry_s))
    data += _tagged("c", _int_to_u5(min_final_cltv))
    data += _tagged("9", _int_to_u5(features))
    message = hrp.encode("ascii") + _u5_to_bytes(data)
    signature = node_key.sign_recoverable(message, hasher=lambda m: hashlib.sha256(m).digest())
    return bech32_encode(hrp, data + _bytes_to_u5(signature))
