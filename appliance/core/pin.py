"""Staff PIN hashing with scrypt (stdlib). PINs are never stored or logged in clear."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# n=2**14 keeps a check near 50 ms on a Raspberry Pi 4 while costing a brute force of 10^4 PINs
# per stolen hash real time; lockout after failed tries is what really protects a short PIN.
N, R, P = 2**14, 8, 1
PIN_LENGTHS = range(4, 9)


def check_pin_form(pin: str) -> None:
    """ValueError unless ``pin`` is 4 to 8 digits, the only PINs the till gives out."""
    if not (pin.isascii() and pin.isdigit() and len(pin) in PIN_LENGTHS):
        raise ValueError("a PIN is 4 to 8 digits")


def hash_pin(pin: str) -> str:
    check_pin_form(pin)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    return f"scrypt${N}${R}${P}${salt.hex()}${digest.hex()}"


def check_pin(pin: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        pin.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(candidate.hex(), digest)
