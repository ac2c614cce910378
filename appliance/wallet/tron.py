"""Watch-only TRON accounts: receive addresses from an account-level extended public key.

A TRON wallet (TronLink, Trust Wallet, a Ledger) follows BIP44 with coin type 195: the account key
is at ``m/44'/195'/account'`` and its receive addresses at ``.../0/i``. The till is given the
account's ``xpub`` (never a private key or a seed phrase, which are refused without being echoed)
and derives ``0/i`` itself. A TRON address is the last 20 bytes of the Keccak-256 hash of the
uncompressed public key (64 bytes, without the 0x04 prefix), prefixed with 0x41 and written in
base58check: 34 characters starting with ``T``.

Keccak-256 is pycryptodome's (the original Keccak padding, not NIST SHA3-256); base58check and
BIP32 are embit's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from Crypto.Hash import keccak
from embit import base58
from embit.bip32 import HDKey
from embit.networks import NETWORKS

from appliance.wallet.descriptors import (
    MAX_INDEX,
    DescriptorError,
    PrivateKeyRefused,
    refuse_secrets,
)

ADDRESS_PREFIX = b"\x41"  # mainnet; TRON's test networks (Shasta, Nile) use the same prefix
ACCOUNT_PATH = "m/44'/195'/account'"
_ACCOUNT_DEPTH = 3


class TronAddressError(ValueError):
    """Text that is not a TRON address; the message says what is wrong with it."""


def address_of(public_key_uncompressed: bytes) -> str:
    """The ``T…`` address of an uncompressed secp256k1 public key (65 bytes, 0x04 first)."""
    if len(public_key_uncompressed) != 65 or public_key_uncompressed[0] != 4:
        raise ValueError("an uncompressed public key is 65 bytes starting with 0x04")
    digest = keccak.new(digest_bits=256, data=public_key_uncompressed[1:]).digest()
    return str(base58.encode_check(ADDRESS_PREFIX + digest[-20:]))


def check_address(text: str) -> str:
    """``text`` if it is a TRON address (base58check, 21 bytes, 0x41 first), else
    :class:`TronAddressError`."""
    try:
        raw = base58.decode_check(text)
    except Exception:
        raise TronAddressError(f"{text[:40]!r} is not a TRON address (base58check)") from None
    if len(raw) != 21 or raw[:1] != ADDRESS_PREFIX:
        raise TronAddressError(f"{text[:40]!r} is not a TRON address (21 bytes, 0x41 first)")
    return text


def hex_address(address: str) -> str:
    """The 21-byte hex form (``41…``) that TronGrid's ``/wallet`` API uses for an address."""
    raw: bytes = base58.decode_check(check_address(address))
    return raw.hex()


@dataclass(frozen=True)
class TronAccount:
    """One TRON account's public key; derives the receive addresses ``0/i``."""

    xpub: str

    @property
    def descriptor(self) -> str:
        """The index space's name for the address store (``store.addresses.wallet_id``)."""
        return f"tron({self.xpub}/0/*)"

    def receive_address(self, index: int) -> str:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= MAX_INDEX:
            raise DescriptorError(f"address index must be 0..{MAX_INDEX}, got {index!r}")
        child = _account_key(self.xpub).derive([0, index])
        child.key.compressed = False
        return address_of(child.key.sec())


def parse_tron_account(text: str) -> TronAccount:
    """A TRON account from its ``xpub`` (``m/44'/195'/account'``); private keys, seed phrases and
    keys that are not at account depth are refused with a message that never repeats them."""
    text = text.strip()
    if not text:
        raise DescriptorError("no extended public key given")
    refuse_secrets(text)
    try:
        key = HDKey.from_base58(text)
    except Exception:
        raise DescriptorError("not a valid extended public key (checksum or length)") from None
    if key.is_private:  # refuse_secrets catches these first; this is the backstop
        raise PrivateKeyRefused("refused: this holds a private key; the till is watch-only")
    if key.version != NETWORKS["main"]["xpub"]:
        raise DescriptorError(
            "a TRON account key is an xpub (other versions are bitcoin address types)"
        )
    if key.depth != _ACCOUNT_DEPTH:
        raise DescriptorError(
            f"the key is at depth {key.depth}; export the account key ({ACCOUNT_PATH}, "
            f"depth {_ACCOUNT_DEPTH}) so that the till derives the addresses your wallet shows"
        )
    return TronAccount(key.to_base58())


@lru_cache(maxsize=4)  # a till derives from one account; parsing is the slow part
def _account_key(xpub: str) -> HDKey:
    return HDKey.from_base58(xpub)
