"""Watch-only wallets: an output descriptor or an extended public key, never a spending key.

What is accepted (``parse_wallet``):

- A descriptor ``wpkh(KEY)``, ``sh(wpkh(KEY))`` or ``tr(KEY)`` (key path only), where ``KEY`` is an
  extended public key with an optional origin ``[fingerprint/84h/0h/0h]`` and a ranged path:
  ``/<0;1>/*`` (BIP389 multipath: receive and change in one), ``/0/*`` or ``/1/*`` (read as the
  same account: receive is ``/0/*``, change ``/1/*``, the way wallets export them in pairs), or
  no path at all (``/<0;1>/*`` is added). A BIP380 checksum ``#xxxxxxxx`` is verified when present.
- A bare SLIP-132 key: ``zpub``/``vpub`` → ``wpkh(...)``, ``ypub``/``upub`` → ``sh(wpkh(...))``.
  A bare ``xpub``/``tpub`` is refused: it does not say which address type the wallet uses (BIP44
  legacy, BIP84 exported as xpub, taproot...), and guessing wrong shows the customer an address
  the merchant's wallet does not scan. The error says to give a descriptor instead.

Refused with a clear error: any private material (xprv/tprv/yprv/zprv/..., WIF keys inside or
outside a descriptor, a BIP39 seed phrase), without ever echoing it; a wrong checksum; legacy
``pkh`` (out of scope: higher fees for the customer; wallets export wpkh or tr today); ``wsh``
and multisig; taproot script trees; hardened wildcards; a key whose network does not match.

The canonical form (``WatchOnlyWallet.descriptor``) is the public multipath descriptor with
``xpub``/``tpub`` keys and its checksum, as Bitcoin Core and Sparrow import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from embit.bip32 import HDKey
from embit.descriptor import Descriptor
from embit.descriptor.checksum import checksum as descriptor_checksum
from embit.networks import NETWORKS
from embit.wordlists.bip39 import WORDLIST

# Our network names → embit's.
NETWORKS_BY_NAME = {"mainnet": "main", "testnet": "test", "signet": "signet", "regtest": "regtest"}
MAX_INDEX = 2**31 - 1  # non-hardened BIP32 child numbers

_BASE58 = "1-9A-HJ-NP-Za-km-z"
_EXTENDED_PRIVATE = re.compile(rf"[xtyzuvYZUV]prv[{_BASE58}]{{20,}}")
_EXTENDED_PUBLIC = re.compile(rf"^[xtyzuvYZUV]pub[{_BASE58}]{{100,}}$")
_WIF_CANDIDATE = re.compile(rf"(?<![{_BASE58}])[59KLc][{_BASE58}]{{50,51}}(?![{_BASE58}])")
_CHECKSUM = re.compile(r"^[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{8}$")

# SLIP-132 version bytes of bare keys → (script kind, mainnet?).
_SLIP132 = {
    NETWORKS["main"]["zpub"]: ("wpkh", True),
    NETWORKS["main"]["ypub"]: ("sh-wpkh", True),
    NETWORKS["main"]["xpub"]: ("ambiguous", True),
    NETWORKS["test"]["zpub"]: ("wpkh", False),
    NETWORKS["test"]["ypub"]: ("sh-wpkh", False),
    NETWORKS["test"]["xpub"]: ("ambiguous", False),
}
_MAINNET_VERSIONS = {NETWORKS["main"][k] for k in ("xpub", "ypub", "zpub", "Ypub", "Zpub")}


class DescriptorError(ValueError):
    """The wallet text cannot be used; the message says why and never repeats a secret."""


class PrivateKeyRefused(DescriptorError):
    """The text holds a spending key or a seed phrase: the till only ever watches."""


@dataclass(frozen=True)
class WatchOnlyWallet:
    """A ranged public descriptor on one network; derives receive and change addresses."""

    descriptor: str  # canonical: public, multipath <0;1>/*, with checksum
    network: str  # mainnet | testnet | signet | regtest
    kind: str  # wpkh | sh-wpkh | tr

    def address(self, index: int, change: bool = False) -> str:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= MAX_INDEX:
            raise DescriptorError(f"address index must be 0..{MAX_INDEX}, got {index!r}")
        derived = _parse_embit(self.descriptor.split("#")[0]).derive(
            index, branch_index=1 if change else 0
        )
        return str(derived.address(NETWORKS[NETWORKS_BY_NAME[self.network]]))

    def receive_address(self, index: int) -> str:
        return self.address(index, change=False)

    def change_address(self, index: int) -> str:
        return self.address(index, change=True)

    def single_path(self) -> tuple[str, str]:
        """The receive (``/0/*``) and change (``/1/*``) descriptors, each with its checksum: the
        pair wallets that predate BIP389 multipath import (Bitcoin Core before 29.0)."""
        body = self.descriptor.split("#")[0]
        receive, change = (body.replace("/<0;1>/*", f"/{branch}/*") for branch in (0, 1))
        return (
            f"{receive}#{descriptor_checksum(receive)}",
            f"{change}#{descriptor_checksum(change)}",
        )


def parse_wallet(text: str, network: str | None = None) -> WatchOnlyWallet:
    """Turn a descriptor or a zpub/ypub/vpub/upub into a watch-only wallet (see the module doc).

    ``network`` defaults to mainnet for mainnet keys and testnet for testnet keys; signet and
    regtest use testnet keys and must be named.
    """
    if network is not None and network not in NETWORKS_BY_NAME:
        raise DescriptorError(f"unknown network {network!r} (use {', '.join(NETWORKS_BY_NAME)})")
    text = text.strip()
    if not text:
        raise DescriptorError("no descriptor or extended public key given")
    refuse_secrets(text)
    if _EXTENDED_PUBLIC.match(text):
        body, kind = _from_bare_key(text)
    else:
        body, kind = _from_descriptor(text)
    parsed = _parse_embit(body)
    key = parsed.key
    if key is None or not key.is_extended:
        raise DescriptorError(
            "the descriptor needs an extended public key (xpub/tpub) to give a fresh address "
            "per sale; a single public key would reuse one address"
        )
    if key.is_private:  # refuse_secrets catches these first; this is the backstop
        raise PrivateKeyRefused(_PRIVATE_MESSAGE)
    mainnet_key = key.key.version in _MAINNET_VERSIONS
    if network is None:
        network = "mainnet" if mainnet_key else "testnet"
    elif mainnet_key != (network == "mainnet"):
        family = "a mainnet" if mainnet_key else "a testnet"
        raise DescriptorError(f"the key is {family} key but the network is {network}")
    derivation = key.allowed_derivation
    if derivation is None or not derivation.is_wildcard:
        raise DescriptorError(
            "the descriptor must be ranged (end in /<0;1>/* or /0/*) to give a fresh address "
            "per sale"
        )
    if derivation.has_hardend:  # embit's spelling
        raise DescriptorError("hardened derivation after the key needs the private key")
    branches = derivation.indexes[-2] if len(derivation.indexes) >= 2 else None
    if not isinstance(branches, list) or len(branches) != 2:
        raise DescriptorError(
            "the descriptor needs a receive and a change branch: end the key in /<0;1>/*"
        )
    version = NETWORKS["main" if mainnet_key else "test"]["xpub"]
    canonical = _canonical(parsed, kind, key.to_string(version=version))
    return WatchOnlyWallet(f"{canonical}#{descriptor_checksum(canonical)}", network, kind)


_PRIVATE_MESSAGE = (
    "refused: this holds a private key; the till is watch-only. Export the wallet's public "
    "descriptor or zpub/xpub (never xprv, WIF or a seed phrase) and do not reuse what you typed"
)


def refuse_secrets(text: str) -> None:
    if _EXTENDED_PRIVATE.search(text):
        raise PrivateKeyRefused(_PRIVATE_MESSAGE)
    for candidate in _WIF_CANDIDATE.findall(text):
        if _is_wif(candidate):
            raise PrivateKeyRefused(_PRIVATE_MESSAGE)
    words = text.lower().split()
    if len(words) >= 12 and sum(word in _BIP39_WORDS for word in words) >= len(words) - 1:
        raise PrivateKeyRefused(_PRIVATE_MESSAGE.replace("a private key", "a seed phrase"))


_BIP39_WORDS = frozenset(WORDLIST)


def _is_wif(candidate: str) -> bool:
    from embit.ec import PrivateKey

    try:
        PrivateKey.from_wif(candidate)
    except Exception:
        return False
    return True


def _from_bare_key(text: str) -> tuple[str, str]:
    try:
        key = HDKey.from_base58(text)
    except Exception:
        raise DescriptorError("not a valid extended public key (checksum or length)") from None
    kind, _mainnet = _SLIP132.get(key.version, ("unknown", True))
    if kind == "ambiguous":
        raise DescriptorError(
            "an xpub/tpub does not say which addresses the wallet uses: give a descriptor "
            "instead, e.g. wpkh(xpub.../<0;1>/*) for native segwit or tr(xpub.../<0;1>/*) for "
            "taproot (your wallet can export it), or the zpub/ypub"
        )
    if kind == "unknown":
        raise DescriptorError("unsupported extended key version (use zpub, ypub, vpub or upub)")
    inner = f"{text}/<0;1>/*"
    return (f"wpkh({inner})" if kind == "wpkh" else f"sh(wpkh({inner}))"), kind


_KINDS = (("sh(wpkh(", "sh-wpkh", 2), ("wpkh(", "wpkh", 1), ("tr(", "tr", 1))


def _from_descriptor(text: str) -> tuple[str, str]:
    body, _, given = text.partition("#")
    if given:
        if not _CHECKSUM.match(given):
            raise DescriptorError(f"descriptor checksum #{given} is not 8 checksum characters")
        try:
            expected = descriptor_checksum(body)
        except Exception:
            raise DescriptorError("the descriptor contains characters it cannot have") from None
        if given != expected:
            raise DescriptorError(
                f"descriptor checksum #{given} does not match (the descriptor computes "
                f"#{expected}): it was mistyped or altered; copy it again from the wallet"
            )
    found = next((entry for entry in _KINDS if body.startswith(entry[0])), None)
    if found is None:
        head = body.split("(")[0][:12]
        if head in ("pkh", "sh", "wsh", "multi", "sortedmulti", "combo", "addr", "raw"):
            raise DescriptorError(
                f"{head}() descriptors are not supported: use wpkh(), sh(wpkh()) or tr()"
            )
        raise DescriptorError("not a descriptor or extended public key")
    prefix, kind, closing = found
    if not body.endswith(")" * closing):
        raise DescriptorError("the descriptor is not closed with ')'")
    inner = body[len(prefix) : len(body) - closing]
    if kind == "tr" and "," in inner:
        raise DescriptorError("taproot script trees are not supported: use tr(KEY) only")
    return prefix + _multipath(inner) + ")" * closing, kind


def _multipath(key: str) -> str:
    """``KEY/0/*`` or ``KEY/1/*`` or a bare ``KEY`` → ``KEY/<0;1>/*``; anything else unchanged."""
    for suffix in ("/0/*", "/1/*"):
        if key.endswith(suffix):
            return key[: -len(suffix)] + "/<0;1>/*"
    if _EXTENDED_PUBLIC.match(key.split("]")[-1]):
        return key + "/<0;1>/*"
    return key


@lru_cache(maxsize=16)  # a till derives from one descriptor; parsing is the slow part
def _parse_embit(body: str) -> Any:
    try:
        return Descriptor.from_string(body)
    except Exception:
        # embit's messages can quote the input; ours never do.
        raise DescriptorError(
            "the descriptor cannot be parsed (check the key and the path after it)"
        ) from None


def _canonical(parsed: Any, kind: str, key_text: str) -> str:
    if kind == "wpkh":
        return f"wpkh({key_text})"
    if kind == "sh-wpkh":
        return f"sh(wpkh({key_text}))"
    return f"tr({key_text})"
