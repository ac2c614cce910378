"""USDT-TRC20 transfers to the till's TRON addresses, from TronGrid's HTTP API.

Calls (``base_url`` e.g. ``https://api.trongrid.io``, or a Shasta/Nile or self-hosted equivalent;
every request carries the ``TRON-PRO-API-KEY`` header, which is never logged):

- ``GET /v1/accounts/:address/transactions/trc20?only_to=true&contract_address=:usdt&limit=200``
  with ``only_confirmed=true`` and again with ``only_unconfirmed=true``: the transfers of the USDT
  contract to the address, solidified or not yet (pages followed through ``meta.fingerprint``).
  Only the configured contract counts: a transfer of another token is not money for the sale
  (it is left out, and a listing entry naming another contract is ignored too).
- ``POST /walletsolidity/gettransactioninfobyid {"value": txid}`` for each solidified transfer:
  TronGrid's index lists a transfer whose transaction failed (out of energy, reverted), so a
  transfer counts as confirmed only when its solidified transaction's ``receipt.result`` is
  ``SUCCESS``. A failed one never counts. The answer never changes once solidified, so it is
  asked once per transaction; while the solidity node answers ``{}`` (the index can be a moment
  ahead of it) the transfer stays pending.
- ``POST /wallet/getcontract {"value": :usdt, "visible": true}`` (``check``, for the doctor): the
  service answers, takes the key, and knows the contract.

Amounts are integers in the token's 6-decimal units ("micro-USDT"); a listing with other decimals
is refused. ``address_activity`` gives the same answer in the chain sources' shape
(``AddressActivity``, one ``TxSeen`` per transfer: its ``sats`` field carries token units, one
confirmation means solidified, never RBF), so the on-chain settlement rules
(``core.settlement.judge`` with ``TronSettings.policy()``) and address bookkeeping apply as they
are. Errors are the chain sources' (``appliance.wallet.chain``): ``ChainUnavailable``
(network, timeout, 429, 5xx: try again) and ``ChainRejected`` (401/403: the key; 400; an answer
that is not TronGrid's).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from appliance.wallet.chain import AddressActivity, ChainRejected, ChainUnavailable, TxSeen
from appliance.wallet.tron import check_address

USDT_DECIMALS = 6
PAGE_LIMIT = 200  # TronGrid's largest page
MAX_PAGES = 10  # 2,000 transfers to one fresh POS address is not a sale any more
API_KEY_HEADER = "TRON-PRO-API-KEY"


@dataclass(frozen=True)
class Trc20Transfer:
    """One USDT transfer to the address."""

    txid: str
    units: int  # 6-decimal token units
    confirmed: bool  # solidified and succeeded


class TronGridSource:
    def __init__(
        self, client: httpx.AsyncClient, base_url: str, api_key: str, contract: str
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.contract = check_address(contract)
        self._headers = {API_KEY_HEADER: api_key, "accept": "application/json"}
        self._succeeded: dict[str, bool] = {}  # solidified transaction → succeeded

    async def transfers(self, address: str) -> tuple[Trc20Transfer, ...]:
        """Every USDT transfer to ``address`` that may still count: solidified and succeeded
        (``confirmed``) or not solidified yet; failed transactions are left out."""
        check_address(address)
        solid = await self._listing(address, "only_confirmed")
        pending = await self._listing(address, "only_unconfirmed")
        found: list[Trc20Transfer] = []
        for txid, units in solid.items():
            succeeded = await self._succeeded_once(txid)
            if succeeded is not False:  # None: the result is not known yet, still pending
                found.append(Trc20Transfer(txid, units, bool(succeeded)))
        found.extend(
            Trc20Transfer(txid, units, False)
            for txid, units in pending.items()
            if txid not in solid
        )
        return tuple(found)

    async def address_activity(self, address: str) -> AddressActivity:
        """``transfers`` as a chain source reports an address (see the module doc)."""
        return AddressActivity(
            address,
            tuple(
                TxSeen(t.txid, t.units, 1 if t.confirmed else 0, False)
                for t in await self.transfers(address)
            ),
        )

    async def check(self) -> str:
        """The contract's name as TronGrid knows it; ChainRejected if it knows no contract there."""
        answer = await self._post("/wallet/getcontract", {"value": self.contract, "visible": True})
        if not answer:
            raise ChainRejected(f"TronGrid knows no contract at {self.contract}")
        return str(answer.get("name") or "unnamed contract")

    async def _succeeded_once(self, txid: str) -> bool | None:
        """Whether the solidified transaction succeeded; None while the solidity node does not
        have it yet (the index can be a moment ahead): asked again next time."""
        known = self._succeeded.get(txid)
        if known is not None:
            return known
        info = await self._post("/walletsolidity/gettransactioninfobyid", {"value": txid})
        if not info:
            return None
        receipt = info.get("receipt")
        succeeded = (
            isinstance(receipt, dict)
            and receipt.get("result") == "SUCCESS"
            and info.get("result") != "FAILED"
        )
        self._succeeded[txid] = succeeded
        return succeeded

    async def _listing(self, address: str, which: str) -> dict[str, int]:
        """``txid → units`` of the contract's transfers to ``address`` (``which``:
        ``only_confirmed`` or ``only_unconfirmed``)."""
        params = {
            which: "true",
            "only_to": "true",
            "contract_address": self.contract,
            "limit": str(PAGE_LIMIT),
        }
        found: dict[str, int] = {}
        path = f"/v1/accounts/{quote(address, safe='')}/transactions/trc20"
        for _ in range(MAX_PAGES):
            answer = await self._get(path, params)
            data = answer.get("data")
            if answer.get("success") is not True or not isinstance(data, list):
                raise ChainRejected("TronGrid's transfer listing is not what its API returns")
            for entry in data:
                parsed = self._transfer(entry, address)
                if parsed is not None:
                    found[parsed[0]] = found.get(parsed[0], 0) + parsed[1]
            meta = answer.get("meta")
            fingerprint = meta.get("fingerprint") if isinstance(meta, dict) else None
            if not fingerprint:
                return found
            params["fingerprint"] = str(fingerprint)
        raise ChainRejected(f"more than {MAX_PAGES * PAGE_LIMIT} transfers to {address}")

    def _transfer(self, entry: Any, address: str) -> tuple[str, int] | None:
        try:
            token = entry["token_info"]
            txid, to, value = str(entry["transaction_id"]), entry["to"], entry["value"]
            contract, decimals = token["address"], token["decimals"]
        except (KeyError, TypeError):
            raise ChainRejected(
                "a TronGrid transfer lacks its id, token, recipient or value"
            ) from None
        if contract != self.contract or to != address or entry.get("type") != "Transfer":
            return None
        if int(decimals) != USDT_DECIMALS:
            raise ChainRejected(f"the contract reports {decimals} decimals, USDT has 6")
        units = Decimal(str(value))
        if units != units.to_integral_value() or units <= 0:
            raise ChainRejected(f"transfer value {str(value)[:30]!r} is not a positive integer")
        return txid, int(units)

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        return await self._send("GET", path, params=params)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._send("POST", path, json=body)

    async def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self.client.request(
                method, self.base_url + path, headers=self._headers, **kwargs
            )
        except httpx.HTTPError as err:
            raise ChainUnavailable(f"TronGrid unreachable ({type(err).__name__})") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise ChainUnavailable(f"TronGrid answered HTTP {status}")
        if status in (401, 403):
            raise ChainRejected("TronGrid refused the API key (tron.api_key)", status)
        if status != 200:
            raise ChainRejected(f"TronGrid answered HTTP {status}", status)
        try:
            answer = json.loads(response.content)
        except ValueError:
            raise ChainRejected("TronGrid's answer is not JSON") from None
        if not isinstance(answer, dict):
            raise ChainRejected("TronGrid's answer is not a JSON object")
        return answer
