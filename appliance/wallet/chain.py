"""Chain sources: what the chain says about the till's receive addresses, behind one interface.

``ChainSource`` is what the on-chain payment session asks: the tip height, and per address the
money that arrived (``AddressActivity``). Two implementations, both over an ``httpx.AsyncClient``
the caller owns; ``chain_from_settings`` picks one from ``[onchain] source``:

- ``EsploraSource``: the Esplora HTTP API (Blockstream's electrs, mempool.space, a merchant's own
  mempool/electrs). ``base_url`` is the API root,
  e.g. ``https://mempool.space/api``, ``https://mempool.space/signet/api``,
  ``https://blockstream.info/api`` or ``http://umbrel.local:3006/api``. Paths used:
  ``GET /blocks/tip/height``, ``GET /address/:address/txs`` (mempool transactions plus the newest
  25 confirmed), ``GET /address/:address/txs/chain/:last_txid`` (older confirmed, 25 a page) and
  ``GET /tx/:txid/status``.
- ``BitcoinCoreSource``: Bitcoin Core's JSON-RPC (HTTP POST, basic auth from ``rpcauth`` or the
  ``.cookie`` file). At first use (``prepare``) it checks the node's chain against the wallet's
  network, loads the node's watch-only wallet (``onchain.bitcoind_wallet``) or creates it
  (``createwallet`` blank, private keys disabled, descriptors, loaded at the node's start) and
  imports the till's descriptor if the wallet lacks it. The import is two single-path descriptors
  (receive ``/0/*``, change ``/1/*``, checksums computed here): Bitcoin Core accepts the BIP389
  multipath form ``/<0;1>/*`` in ``importdescriptors`` only from 29.0, the pair in every version
  with descriptor wallets. Both are *active* (receive external, change internal), because Core
  puts a paid address in its address book, which ``listreceivedbyaddress`` reads, only for an
  active descriptor. Timestamp ``now`` (a till's fresh addresses have no history to rescan:
  money that reached the node's mempool before the import is only seen once it is mined) and
  indexes 0..999, which Core tops up past the last paid address; an address of the till the
  wallet does not watch yet (``getaddressinfo``) widens the range, doubling, up to 100000.
  Calls: ``getblockcount`` (tip), ``listreceivedbyaddress 0 true true <address>`` (txids) and per
  txid ``gettransaction <txid> true true`` (confirmations, the amounts paid to the address in
  ``details``, the inputs' nSequence in ``decoded``). An unconfirmed transaction counts only
  while it is in the node's mempool (``getmempoolentry``): Core's wallet keeps a replaced or
  dropped one at 0 confirmations, and counting it would add the same payment twice after a fee
  bump. RBF is the transaction's own signal, as with Esplora, or Core's ``bip125-replaceable``
  saying ``yes`` (an unconfirmed ancestor signals) or ``unknown`` (Core cannot tell): in doubt
  the payment is treated as replaceable and never settles unconfirmed. The field is optional
  (deprecated from Core 32). Amounts are BTC as JSON numbers: read as ``Decimal``, never float,
  and converted to whole sats exactly (``btc_to_sats``).

Errors: ``ChainUnavailable`` (network error, timeout, 429, 5xx that is not a JSON-RPC error,
bitcoind still starting (RPC error -28), no cookie file: try again later) and ``ChainRejected``
(the source understood and refused, e.g. an address of another network, a login refused (HTTP
401/403), a JSON-RPC error (``RpcError`` with its code), or an answer that is not the API's).
Amounts are integer sats.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard
from urllib.parse import quote

import httpx

from appliance.core.btc import MAX_SATS, SATS_PER_BTC

if TYPE_CHECKING:
    from appliance.config import OnchainSettings
    from appliance.wallet.descriptors import WatchOnlyWallet

log = logging.getLogger(__name__)

SEQUENCE_FINAL_RBF = 0xFFFFFFFE  # BIP125: a sequence below this on any input signals RBF
ESPLORA_CHAIN_PAGE = 25  # confirmed transactions per page of /address/:a/txs(/chain/:txid)
MAX_PAGES = 40  # 1000 confirmed transactions to one fresh POS address is not a sale any more

CORE_RANGE = 1000  # addresses per branch imported at first; Core tops up past the last paid one
CORE_RANGE_LIMIT = 100_000  # how far the import is widened to find one of the till's addresses
CORE_SLOW_TIMEOUT_S = 120.0  # loading, creating and importing into a wallet can be slow on a Pi
# Our network names → the chain names Bitcoin Core's getblockchaininfo gives.
CORE_CHAINS = {
    "mainnet": ("main",),
    "testnet": ("test", "testnet4"),
    "signet": ("signet",),
    "regtest": ("regtest",),
}
# Bitcoin Core's RPC error codes (src/rpc/protocol.h) that the source acts on.
RPC_INVALID_ADDRESS_OR_KEY = -5  # also "Transaction not in mempool", "Invalid address"
RPC_WALLET_NOT_FOUND = -18  # not loaded (a wallet call), or no such wallet (loadwallet)
RPC_IN_WARMUP = -28  # the node is starting (loading the block index, verifying blocks)
RPC_WALLET_ALREADY_LOADED = -35
RPC_METHOD_NOT_FOUND = -32601  # e.g. wallet calls on a node run with disablewallet=1


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


@dataclass(frozen=True)
class NodeInfo:
    """What ``BitcoinCoreSource.prepare`` found: the node's chain and height, and its wallet."""

    chain: str  # Bitcoin Core's name: main, test, testnet4, signet, regtest
    blocks: int
    headers: int
    syncing: bool  # initial block download: recent payments are not seen yet
    wallet: str
    created: bool  # the wallet was created now (else it was there, loaded now or already)
    imported: bool  # the descriptors were imported now (else the wallet already watched them)


class RpcError(ChainRejected):
    """Bitcoin Core answered a JSON-RPC error object; ``code`` is its RPC error code."""

    def __init__(self, method: str, code: int | None, message: str) -> None:
        super().__init__(f"bitcoind {method}: {message} (RPC error {code})")
        self.code = code


class BitcoinCoreSource:
    """Bitcoin Core's JSON-RPC (see the module doc); the caller owns ``client``.

    ``watch`` is the till's wallet: its descriptors are what the node's watch-only wallet
    ``wallet`` holds. Log in with ``user``/``password`` (``rpcauth`` on the node) or with the
    ``cookie`` file bitcoind writes at each start (read again when a login is refused)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        watch: WatchOnlyWallet,
        *,
        wallet: str = "bitagora",
        user: str = "",
        password: str = "",
        cookie: str | Path | None = None,
        range_limit: int = CORE_RANGE_LIMIT,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"bitcoind URL must be http(s), got {url!r}")
        if not wallet:
            raise ValueError("the bitcoind wallet needs a name")
        self._client = client
        self.url = url.rstrip("/")
        self.wallet = wallet
        self._wallet_url = f"{self.url}/wallet/{quote(wallet, safe='')}"
        self._watch = watch
        self._descriptors = watch.single_path()
        self._user, self._password = user, password
        self._cookie = Path(cookie) if cookie else None
        self._cookie_login: tuple[str, str] | None = None
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._info: NodeInfo | None = None  # set once the wallet is known to watch the descriptors
        self._range_end = CORE_RANGE - 1
        self._range_limit = range_limit
        self._mine: set[str] = set()

    # -- the ChainSource protocol ----------------------------------------------------------------

    async def tip_height(self) -> int:
        height = await self._rpc("getblockcount")
        if not _is_int(height) or height < 0:
            raise ChainRejected("getblockcount is not a block height")
        return int(height)

    async def tx_confirmations(self, txid: str) -> int:
        _check_txid(txid)
        await self._ready()
        tx = await self._transaction(txid)
        confirmations = int(tx["confirmations"])
        if confirmations > 0:
            return confirmations
        if confirmations == 0 and await self._in_mempool(txid):
            return 0
        raise ChainRejected(
            f"transaction {txid} is in no block and not in bitcoind's mempool (replaced, "
            "double-spent or dropped)"
        )

    async def address_activity(self, address: str) -> AddressActivity:
        if not address.isalnum():
            raise ChainRejected("an address is letters and digits only")
        await self._ready()
        await self._watching(address)
        rows = await self._wallet_rpc("listreceivedbyaddress", [0, True, True, address])
        found: list[tuple[int, int, TxSeen]] = []
        for txid in _received_txids(rows, address):
            tx = await self._transaction(txid)
            confirmations = int(tx["confirmations"])
            if confirmations < 0:
                continue  # conflicted: a transaction spending the same coins was mined instead
            if confirmations == 0 and not await self._in_mempool(txid):
                continue  # replaced or dropped: it is not money (Esplora does not list it either)
            sats = sum(
                btc_to_sats(detail.get("amount"))
                for detail in tx["details"]
                if isinstance(detail, dict)
                and detail.get("address") == address
                and detail.get("category") == "receive"
            )
            if sats <= 0:
                continue
            rbf = _signals_rbf(tx) or (
                confirmations == 0 and tx.get("bip125-replaceable") in ("yes", "unknown")
            )
            time = tx.get("time")
            found.append(
                (
                    confirmations,
                    -time if _is_int(time) else 0,
                    TxSeen(txid, sats, confirmations, rbf),
                )
            )
        found.sort(key=lambda item: item[:2])  # mempool first, then newest first, as Esplora
        return AddressActivity(address, tuple(tx for _, _, tx in found))

    # -- the node's wallet -----------------------------------------------------------------------

    async def prepare(self) -> NodeInfo:
        """Make sure the node's wallet watches the till's descriptors: check the node's chain,
        load or create the watch-only wallet, import the descriptors if it lacks them. Done at
        first use; ``bitagora doctor`` calls it to show the result."""
        async with self._lock:
            chain = _object(await self._rpc("getblockchaininfo"), "getblockchaininfo")
            name, blocks = chain.get("chain"), chain.get("blocks")
            headers = chain.get("headers", blocks)
            if not (isinstance(name, str) and _is_int(blocks) and _is_int(headers)):
                raise ChainRejected("getblockchaininfo lacks chain, blocks or headers")
            network = self._watch.network
            if name not in CORE_CHAINS[network]:
                raise ChainRejected(
                    f"bitcoind is on {name!r} but the wallet is a {network} wallet: point "
                    f"onchain.bitcoind_url at a {network} node, or fix onchain.network"
                )
            created = await self._open_wallet()
            imported = await self._import_if_missing()
            self._info = NodeInfo(
                name,
                int(blocks),
                int(headers),
                bool(chain.get("initialblockdownload")),
                self.wallet,
                created,
                imported,
            )
            return self._info

    async def _ready(self) -> None:
        if self._info is None:
            await self.prepare()

    async def _open_wallet(self) -> bool:
        """Load the wallet, or create it blank and watch-only; True if it was created."""
        created = False
        try:
            info = await self._rpc("getwalletinfo", wallet=True)
        except RpcError as err:
            if err.code == RPC_METHOD_NOT_FOUND:
                raise ChainRejected(
                    "bitcoind runs without its wallet (disablewallet=1): the till needs it "
                    "to watch its addresses"
                ) from None
            if err.code != RPC_WALLET_NOT_FOUND:
                raise
            try:
                await self._rpc("loadwallet", [self.wallet, True], slow=True)
            except RpcError as load_err:
                if load_err.code == RPC_WALLET_NOT_FOUND:  # there is no such wallet yet
                    await self._rpc("createwallet", self._new_wallet(), slow=True)
                    created = True
                elif load_err.code != RPC_WALLET_ALREADY_LOADED:  # loaded meanwhile: fine
                    raise
            info = await self._rpc("getwalletinfo", wallet=True)
        info = _object(info, "getwalletinfo")
        if info.get("descriptors") is False:  # Core 30+ has no other kind (nor, maybe, the field)
            raise ChainRejected(
                f"bitcoind wallet {self.wallet!r} is a legacy wallet: name a new "
                "onchain.bitcoind_wallet (the till creates it)"
            )
        if info.get("private_keys_enabled") is not False:
            raise ChainRejected(
                f"bitcoind wallet {self.wallet!r} can hold private keys; the till's must be "
                "watch-only: name a new onchain.bitcoind_wallet (the till creates it)"
            )
        if created:
            log.info("created the watch-only wallet %r on bitcoind", self.wallet)
        return created

    def _new_wallet(self) -> dict[str, Any]:
        return {
            "wallet_name": self.wallet,
            "disable_private_keys": True,
            "blank": True,
            "descriptors": True,
            "load_on_startup": True,
        }

    async def _import_if_missing(self) -> bool:
        ends = await self._imported_ranges()
        if len(ends) == 2:
            self._range_end = min(ends.values())
            return False
        await self._import(CORE_RANGE - 1)
        return True

    async def _imported_ranges(self) -> dict[int, int]:
        """Branch (0 receive, 1 change) → the last index the wallet watches, for the till's
        descriptors the wallet holds as active descriptors."""
        listed = _object(await self._rpc("listdescriptors", wallet=True), "listdescriptors")
        wanted = {_comparable(desc): branch for branch, desc in enumerate(self._descriptors)}
        ends: dict[int, int] = {}
        for entry in listed.get("descriptors", ()):
            if not isinstance(entry, dict) or not isinstance(entry.get("desc"), str):
                raise ChainRejected("listdescriptors lists something that is not a descriptor")
            branch = wanted.get(_comparable(entry["desc"]))
            span = entry.get("range")
            if branch is not None and entry.get("active") and isinstance(span, list):
                if len(span) == 2 and _is_int(span[1]):
                    ends[branch] = int(span[1])
        return ends

    async def _import(self, end: int) -> None:
        """Import both branches as the wallet's active descriptors, indexes 0..``end``, from now
        on (a till's addresses have no history to rescan)."""
        requests = [
            {
                "desc": desc,
                "timestamp": "now",
                "range": [0, end],
                "active": True,  # only an active descriptor's paid addresses get listed
                "internal": branch == 1,
            }
            for branch, desc in enumerate(self._descriptors)
        ]
        results = await self._rpc("importdescriptors", [requests], wallet=True, slow=True)
        if not isinstance(results, list) or len(results) != len(requests):
            raise ChainRejected("importdescriptors answered something else than one result each")
        for result in results:
            if not isinstance(result, dict) or result.get("success") is not True:
                error = result.get("error") if isinstance(result, dict) else None
                error = error if isinstance(error, dict) else {}
                raise RpcError("importdescriptors", error.get("code"), str(error.get("message")))
        self._range_end = end
        log.info(
            "bitcoind wallet %r watches addresses 0..%d of the till's wallet", self.wallet, end
        )

    async def _watching(self, address: str) -> None:
        """The wallet watches ``address``, its range widened as far as ``range_limit`` if it
        does not yet (a till that used many addresses before it was pointed at this node)."""
        while address not in self._mine:
            info = _object(await self._wallet_rpc("getaddressinfo", [address]), "getaddressinfo")
            if info.get("ismine") is True:
                self._mine.add(address)
                return
            async with self._lock:
                ends = await self._imported_ranges()
                current = min(ends.values()) if len(ends) == 2 else self._range_end
                if current >= self._range_limit - 1:
                    raise ChainRejected(
                        f"{address} is not an address of the till's wallet (bitcoind watches "
                        f"indexes 0..{current} of it)"
                    )
                await self._import(min(self._range_limit, 2 * (current + 1)) - 1)

    # -- transactions ----------------------------------------------------------------------------

    async def _transaction(self, txid: str) -> dict[str, Any]:
        tx = await self._wallet_rpc("gettransaction", [txid, True, True])
        if not (
            isinstance(tx, dict)
            and _is_int(tx.get("confirmations"))
            and isinstance(tx.get("details"), list)
            and isinstance(tx.get("decoded"), dict)
            and isinstance(tx["decoded"].get("vin"), list)
        ):
            raise ChainRejected("gettransaction lacks confirmations, details or decoded inputs")
        return tx

    async def _in_mempool(self, txid: str) -> bool:
        try:
            await self._rpc("getmempoolentry", [txid])
        except RpcError as err:
            if err.code == RPC_INVALID_ADDRESS_OR_KEY:  # "Transaction not in mempool"
                return False
            raise
        return True

    # -- JSON-RPC over HTTP ----------------------------------------------------------------------

    async def _wallet_rpc(self, method: str, params: list[Any]) -> Any:
        """A wallet call; a wallet unloaded behind the till's back is loaded again, once."""
        try:
            return await self._rpc(method, params, wallet=True)
        except RpcError as err:
            if err.code != RPC_WALLET_NOT_FOUND:
                raise
        self._info = None
        await self.prepare()
        return await self._rpc(method, params, wallet=True)

    async def _rpc(
        self,
        method: str,
        params: list[Any] | dict[str, Any] | None = None,
        *,
        wallet: bool = False,
        slow: bool = False,
    ) -> Any:
        """One call; ``slow`` ones (wallet loading, creation, imports) may take minutes."""
        url = self._wallet_url if wallet else self.url
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or []}
        response = await self._post(url, body, await self._login(), slow)
        if response.status_code == 401 and self._cookie is not None:
            response = await self._post(url, body, await self._login(again=True), slow)
        status = response.status_code
        if status in (401, 403):
            why = "refused the login" if status == 401 else "forbids this login to call it"
            raise ChainRejected(
                f"bitcoind at {self.url} {why} (HTTP {status} on {method}): check "
                "rpcuser/rpcpassword or the cookie file"
                + ("; and the node's rpcallowip and rpcwhitelist" if status == 403 else ""),
                status,
            )
        answer = _rpc_answer(response)
        error = answer.get("error") if answer is not None else None
        if isinstance(error, dict):
            code, message = error.get("code"), str(error.get("message", ""))
            if code == RPC_IN_WARMUP:
                raise ChainUnavailable(f"bitcoind is starting: {message}")
            raise RpcError(method, code if _is_int(code) else None, message)
        if answer is None or status != 200:
            if status == 429 or status >= 500:
                raise ChainUnavailable(f"bitcoind at {self.url}: HTTP {status} on {method}")
            raise ChainRejected(
                f"{url}: HTTP {status} on {method}, not a Bitcoin Core JSON-RPC answer", status
            )
        return answer.get("result")

    async def _post(
        self, url: str, body: dict[str, Any], login: tuple[str, str], slow: bool
    ) -> httpx.Response:
        try:
            return await self._client.post(
                url,
                json=body,
                auth=httpx.BasicAuth(*login),
                timeout=CORE_SLOW_TIMEOUT_S if slow else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TimeoutException as err:
            raise ChainUnavailable(
                f"bitcoind at {self.url}: {body['method']} timed out ({type(err).__name__})"
            ) from None
        except httpx.HTTPError as err:
            raise ChainUnavailable(f"bitcoind at {self.url}: {type(err).__name__}: {err}") from None

    async def _login(self, again: bool = False) -> tuple[str, str]:
        if self._cookie is None:
            return self._user, self._password
        if again or self._cookie_login is None:
            self._cookie_login = await asyncio.to_thread(read_cookie, self._cookie)
        return self._cookie_login


def read_cookie(path: Path) -> tuple[str, str]:
    """The login in bitcoind's ``.cookie`` file (``__cookie__:<hex>``, new at each start)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ChainUnavailable(
            f"no cookie file {path}: is bitcoind running? (it writes the file as it starts)"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise ChainRejected(
            f"cannot read the cookie file {path}: {reason}; let the till's user read it "
            "(rpccookieperms=group and the node's group) or log in with rpcauth instead"
        ) from None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ChainRejected(f"the cookie file {path} is not 'user:password'")
    return user, password


def btc_to_sats(amount: Any) -> int:
    """An amount in BTC as Bitcoin Core writes it (a JSON number read as ``Decimal``, never a
    float) → whole sats, exactly; anything else is refused."""
    if isinstance(amount, bool) or not isinstance(amount, int | Decimal):
        raise ChainRejected(f"an amount is not a number: {amount!r}"[:80])
    sats = Decimal(amount) * SATS_PER_BTC
    if sats != sats.to_integral_value() or not -MAX_SATS <= sats <= MAX_SATS:
        raise ChainRejected(f"{amount} BTC is not a whole number of sats")
    return int(sats)


def chain_from_settings(onchain: OnchainSettings, client: httpx.AsyncClient) -> ChainSource:
    """The chain source ``[onchain] source`` names, over ``client`` (the caller's)."""
    if onchain.source == "bitcoind":
        return BitcoinCoreSource(
            client,
            onchain.bitcoind_url,
            onchain.watch_only(),
            wallet=onchain.bitcoind_wallet,
            user=onchain.bitcoind_user,
            password=onchain.bitcoind_password,
            cookie=onchain.bitcoind_cookie or None,
        )
    return EsploraSource(client, onchain.esplora_url)


def _rpc_answer(response: httpx.Response) -> dict[str, Any] | None:
    """The JSON-RPC answer in ``response`` (amounts as ``Decimal``), or None if it is none."""
    try:
        data = json.loads(response.content, parse_float=Decimal)
    except ValueError:
        return None
    if isinstance(data, dict) and ("result" in data or "error" in data):
        return data
    return None


def _received_txids(rows: Any, address: str) -> list[str]:
    if not isinstance(rows, list):
        raise ChainRejected("listreceivedbyaddress is not a list")
    txids: list[str] = []
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("txids"), list):
            raise ChainRejected("listreceivedbyaddress lists an entry without txids")
        if row.get("address") != address:
            continue
        for txid in row["txids"]:
            _check_txid(txid if isinstance(txid, str) else "")
            if txid not in txids:
                txids.append(txid)
    return txids


def _signals_rbf(tx: dict[str, Any]) -> bool:
    """Some input's nSequence is below 0xfffffffe (BIP125), as ``gettransaction``'s decoded
    transaction shows it."""
    sequences: list[int] = []
    for vin in tx["decoded"]["vin"]:
        sequence = vin.get("sequence") if isinstance(vin, dict) else None
        if not _is_int(sequence):
            raise ChainRejected("a decoded input has no sequence number")
        sequences.append(sequence)
    return any(s < SEQUENCE_FINAL_RBF for s in sequences)


def _comparable(descriptor: str) -> str:
    """A descriptor without its checksum and key origins, which Bitcoin Core may write back in
    another spelling (``h`` or ``'``)."""
    return re.sub(r"\[[^\]]*\]", "", descriptor.split("#")[0])


def _object(value: Any, method: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ChainRejected(f"{method} did not answer an object")
    return value


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


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
