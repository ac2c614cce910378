"""Chain sources: what the chain says about the till's receive addresses, behind one interface.

``ChainSource`` is what the on-chain payment session asks: the tip height, and per address the
money that arrived (``AddressActivity``). Two implementations:

- ``EsploraSource``: the Esplora HTTP API (Blockstream's electrs, mempool.space, a merchant's own
  mempool/electrs), over an ``httpx.AsyncClient`` the caller owns. ``base_url`` is the API root,
  e.g. ``https://mempool.space/api``, ``https://mempool.space/signet/api``,
  ``https://blockstream.info/api`` or ``http://umbrel.local:3006/api``. Paths used:
  ``GET /blocks/tip/height``, ``GET /address/:address/txs`` (mempool transactions plus the newest
  25 confirmed), ``GET /address/:address/txs/chain/:last_txid`` (older confirmed, 25 a page) and
  ``GET /tx/:txid/status``.
- ``BitcoinCoreSource``: Bitcoin Core JSON-RPC. Not implemented yet: every call raises
  ``NotImplementedError`` that says to use Esplora (a node with electrs or mempool gives one).

Errors: ``ChainUnavailable`` (network error, timeout, 429, 5xx: try again later) and
``ChainRejected`` (the source understood and refused, e.g. an address of another network, or an
answer that is not Esplora's). Amounts are integer sats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

SEQUENCE_FINAL_RBF = 0xFFFFFFFE  # BIP125: a sequence below this on any input signals RBF
ESPLORA_CHAIN_PAGE = 25  # confirmed transactions per page of /address/:a/txs(/chain/:txid)
MAX_PAGES = 40  # 1000 confirmed transactions to one fresh POS address is not a sale any more


class ChainError(Exception):
    """The chain source could not answer."""


class ChainUnavailable(ChainError):
    """Network error, timeout or an overloaded/failing server: worth retrying later."""


class ChainRejected(ChainError):
    """The source refused the question or answered something that is not its API. ``status`` is
    the HTTP status of a refusal (400 for an address of another network), None for an answer
    that is not the API's."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TxSeen:
    """One transaction paying the address."""

    txid: str
    sats: int  # paid to the address by this transaction (sum of its outputs to it)
    confirmations: int  # 0 = in the mempool
    rbf: bool  # signals replace-by-fee (BIP125): some input's nSequence < 0xfffffffe


@dataclass(frozen=True)
class AddressActivity:
    """Money that arrived at one address, as one chain source sees it now."""

    address: str
    txs: tuple[TxSeen, ...]  # newest first, as Esplora lists them

    @property
    def received_sats(self) -> int:
        """Everything paid to the address, confirmed or not."""
        return sum(tx.sats for tx in self.txs)

    @property
    def confirmed_sats(self) -> int:
        return sum(tx.sats for tx in self.txs if tx.confirmations > 0)

    @property
    def confirmations(self) -> int:
        """Confirmations of the least-confirmed paying transaction (0 if any is unconfirmed or
        nothing arrived): what a "paid with N confirmations" policy compares against."""
        return min((tx.confirmations for tx in self.txs), default=0)

    @property
    def txids(self) -> tuple[str, ...]:
        return tuple(tx.txid for tx in self.txs)

    @property
    def rbf(self) -> bool:
        """Some paying transaction signals RBF (only matters while it is unconfirmed)."""
        return any(tx.rbf for tx in self.txs)

    @property
    def unconfirmed_rbf(self) -> bool:
        """Some unconfirmed paying transaction signals RBF: it may still be replaced."""
        return any(tx.rbf and tx.confirmations == 0 for tx in self.txs)


class ChainSource(Protocol):
    async def tip_height(self) -> int: ...

    async def address_activity(self, address: str) -> AddressActivity: ...

    async def tx_confirmations(self, txid: str) -> int: ...


class EsploraSource:
    """An Esplora-compatible HTTP API (see the module doc); the caller owns ``client``."""

    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"Esplora base URL must be http(s), got {base_url!r}")
        self._client = client
        self._base = base_url.rstrip("/")

    async def tip_height(self) -> int:
        text = (await self._get("/blocks/tip/height")).text.strip()
        if not text.isdigit():
            raise ChainRejected(f"tip height is not a number: {text[:40]!r}")
        return int(text)

    async def tx_confirmations(self, txid: str) -> int:
        _check_txid(txid)
        status = self._json(await self._get(f"/tx/{txid}/status"))
        if not isinstance(status, dict):
            raise ChainRejected("tx status is not an object")
        height = _block_height(status)
        if height is None:
            return 0
        return _confirmations(await self.tip_height(), height)

    async def address_activity(self, address: str) -> AddressActivity:
        if not address.isalnum():
            raise ChainRejected("an address is letters and digits only")
        txs = await self._address_txs(address)
        tip = await self.tip_height() if any(_block_height(t["status"]) for t in txs) else 0
        seen = []
        for tx in txs:
            sats = sum(
                int(out.get("value", 0))
                for out in tx["vout"]
                if out.get("scriptpubkey_address") == address
            )
            if sats <= 0:
                continue  # it spends from the address instead of paying it
            height = _block_height(tx["status"])
            seen.append(
                TxSeen(
                    txid=str(tx["txid"]),
                    sats=sats,
                    confirmations=0 if height is None else _confirmations(tip, height),
                    rbf=any(
                        int(vin.get("sequence", 0xFFFFFFFF)) < SEQUENCE_FINAL_RBF
                        for vin in tx["vin"]
                    ),
                )
            )
        return AddressActivity(address, tuple(seen))

    async def _address_txs(self, address: str) -> list[dict[str, Any]]:
        first = self._tx_list(await self._get(f"/address/{address}/txs"))
        txs = list(first)
        confirmed = [t for t in first if t["status"].get("confirmed")]
        pages = 0
        while len(confirmed) == ESPLORA_CHAIN_PAGE and pages < MAX_PAGES:
            last = confirmed[-1]["txid"]
            confirmed = self._tx_list(await self._get(f"/address/{address}/txs/chain/{last}"))
            txs.extend(confirmed)
            pages += 1
        return txs

    def _tx_list(self, response: httpx.Response) -> list[dict[str, Any]]:
        data = self._json(response)
        if not isinstance(data, list):
            raise ChainRejected("address transactions are not a list")
        for tx in data:
            if not (
                isinstance(tx, dict)
                and isinstance(tx.get("txid"), str)
                and isinstance(tx.get("vin"), list)
                and isinstance(tx.get("vout"), list)
                and isinstance(tx.get("status"), dict)
            ):
                raise ChainRejected("a transaction lacks txid, vin, vout or status")
        return data

    async def _get(self, path: str) -> httpx.Response:
        try:
            response = await self._client.get(self._base + path)
        except httpx.TimeoutException as err:
            raise ChainUnavailable(f"{self._base}: timed out ({type(err).__name__})") from None
        except httpx.HTTPError as err:
            raise ChainUnavailable(f"{self._base}: {type(err).__name__}: {err}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise ChainUnavailable(f"{self._base}{path}: HTTP {response.status_code}")
        if response.status_code != 200:
            detail = response.text.strip()[:120]
            raise ChainRejected(
                f"{self._base}{path}: HTTP {response.status_code} {detail}", response.status_code
            )
        return response

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ChainRejected(f"{response.request.url}: answer is not JSON") from None


class BitcoinCoreSource:
    """Bitcoin Core JSON-RPC: not implemented yet (see the module doc).

    The plan: ``importdescriptors`` the watch-only descriptor into a blank, private-keys-disabled
    wallet once, then ``listreceivedbyaddress 0 true true <address>`` for amount, confirmations
    and txids, and ``gettransaction`` for ``bip125-replaceable``."""

    MESSAGE = (
        "the Bitcoin Core chain source is not implemented yet; point the till at an Esplora API "
        "(mempool.space, blockstream.info, or electrs/mempool on your own node)"
    )

    def __init__(self, url: str, wallet: str = "bitagora") -> None:
        self.url = url
        self.wallet = wallet

    async def tip_height(self) -> int:
        raise NotImplementedError(self.MESSAGE)

    async def address_activity(self, address: str) -> AddressActivity:
        raise NotImplementedError(self.MESSAGE)

    async def tx_confirmations(self, txid: str) -> int:
        raise NotImplementedError(self.MESSAGE)


def _check_txid(txid: str) -> None:
    if len(txid) != 64 or any(c not in "0123456789abcdef" for c in txid):
        raise ChainRejected("a txid is 64 lower-case hex digits")


def _block_height(status: dict[str, Any]) -> int | None:
    if not status.get("confirmed"):
        return None
    height = status.get("block_height")
    if not isinstance(height, int) or isinstance(height, bool) or height < 0:
        raise ChainRejected("a confirmed transaction has no block height")
    return height


def _confirmations(tip: int, height: int) -> int:
    return max(1, tip - height + 1)  # a tip read a moment before the block still counts it
