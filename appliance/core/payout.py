"""Bitcoin refunds the merchant pays from their own wallet: where to, checked before they are
recorded, and the record that says one was paid.

A refund of Lightning or on-chain money becomes a *payout* in the refund record (``payments[i]
.payout`` = {"kind", "destination", "status": "pending"}; docs/PROTOCOL.md 1.4). The till never
sends it: it holds no spending key. So what the customer gives is checked here, while they are
still at the counter, for the mistakes that would lose their money:

- the form: a BOLT11 invoice, an LNURL or Lightning address for Lightning money; a bitcoin
  address (checksum by embit) for on-chain money; a TRON address (``T…``, base58check by embit)
  for USDT on TRON (``usdt_tron``), paid back in USDT from the merchant's TRON wallet;
- the chain: a refund address or invoice must be on the chain the customer paid on (a testnet
  invoice given to a mainnet till would never be paid);
- a BOLT11 invoice's own amount: it must be what the refund is worth in the sale's rate lock
  (at most that, and not less than ``INVOICE_MIN_SHARE`` of it), or the merchant pays too much
  or the customer gets too little without anyone seeing it. An invoice without an amount is the
  easy way: the merchant's wallet pays the refund's sats.

When the merchant has paid, a ``payout`` record (``payout_body``) names the refund, the method
and the proof (the transaction id, or the Lightning payment's preimage or hash), and the
``payouts`` view shows it as paid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

from appliance.core.btc import fiat_to_msat
from appliance.core.words import N_
from bitagora_protocol.money import Money

# The methods whose refunds are payouts from the merchant's own wallet (USDT on TRON too).
BITCOIN_METHODS = ("lightning", "onchain", "usdt_tron")
PAYOUT_LABELS = {"lightning": N_("Lightning (to pay)"), "onchain": N_("Bitcoin (to pay)")}
PAYOUT_LABELS["usdt_tron"] = N_("USDT (TRON) (to pay)")
_TRON_ADDRESS = re.compile(r"^T[1-9A-HJ-NP-Za-km-z]{33}$")
# The least an invoice with an amount may ask, as a share of the refund's worth in sats.
INVOICE_MIN_SHARE = Fraction(99, 100)

_BOLT11 = re.compile(r"^ln(bc|tb|bcrt|sb)[a-z0-9]+$", re.IGNORECASE)
_LNURL = re.compile(r"^lnurl1[a-z0-9]+$", re.IGNORECASE)
_LIGHTNING_ADDRESS = re.compile(r"^[a-z0-9._+-]+@[a-z0-9.-]+\.[a-z]{2,}$", re.IGNORECASE)
# BOLT11 human-readable part: "ln" + currency prefix + optional amount with a multiplier.
_BOLT11_HRP = re.compile(r"^ln(bcrt|bc|tbs|tb|sb)(\d+)?([munp])?$")
_MSAT_PER_BTC = 100_000_000_000
_MULTIPLIER = {"m": Fraction(1, 1000), "u": Fraction(1, 10**6), "n": Fraction(1, 10**9)}
_MULTIPLIER["p"] = Fraction(1, 10**12)
_PROOF = re.compile(r"^[0-9a-f]{64}$")
_CHAIN_NAMES = {
    "bc": "mainnet",
    "tb": "testnet",
    "tbs": "signet",
    "bcrt": "regtest",
    "sb": "simnet",
}


class PayoutError(ValueError):
    """A destination or a payout that cannot be recorded; the message says why in words."""


def payout_kind(method: str, destination: str) -> str:
    """The kind of the customer's destination for a bitcoin refund ("bolt11", "lnurl" or
    "address"), by its form only (``check_destination`` checks checksum, chain and amount).
    PayoutError, in words, for one that cannot be where ``method`` money goes."""
    text = destination.strip()
    if text.lower().startswith("lightning:"):
        text = text[len("lightning:") :]
    if method == "lightning":
        if _BOLT11.match(text):
            return "bolt11"
        if _LNURL.match(text) or _LIGHTNING_ADDRESS.match(text):
            return "lnurl"
        raise PayoutError(
            "a Lightning refund needs the customer's invoice (lnbc…), LNURL (lnurl1…) or"
            " Lightning address (name@domain)"
        )
    if method == "onchain":
        if text.lower().startswith("bitcoin:"):
            text = text[len("bitcoin:") :].split("?", 1)[0]
        if re.fullmatch(r"[a-zA-Z0-9]{14,90}", text):
            return "address"
        raise PayoutError("an on-chain refund needs the customer's bitcoin address")
    if method == "usdt_tron":
        if _TRON_ADDRESS.match(text):
            return "tron_address"
        raise PayoutError("a USDT refund needs the customer's TRON address (T…)")
    raise PayoutError(f"{method} refunds have no destination")


def clean_destination(destination: str) -> str:
    """The destination without a URI scheme or query. Bech32 (addresses, invoices, LNURLs) is
    case-insensitive and QR codes carry it in capitals (a smaller code); it is stored in the
    lowercase wallets expect. Base58 addresses are case-sensitive and kept as given."""
    text = destination.strip()
    for prefix in ("lightning:", "bitcoin:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
    text = text.split("?", 1)[0]
    if text == text.upper() and text.lower().startswith(("bc1", "tb1", "bcrt1", "ln")):
        return text.lower()
    return text


def invoice_hrp(invoice: str) -> tuple[str, int | None]:
    """A BOLT11 invoice's chain ("bc" mainnet, "tb" testnet, "tbs" signet, "bcrt" regtest) and
    amount in msat (None: the payer chooses), read from its human-readable part."""
    text = invoice.strip().lower()
    match = _BOLT11_HRP.match(text[: text.rfind("1")]) if "1" in text else None
    if match is None:
        raise PayoutError("that is not a Lightning invoice (it should start lnbc…)")
    chain, digits, unit = match.groups()
    if digits is None:
        if unit is not None:
            raise PayoutError("that Lightning invoice's amount is malformed")
        return chain, None
    msat = Fraction(int(digits)) * _MULTIPLIER.get(unit or "", Fraction(1)) * _MSAT_PER_BTC
    if msat.denominator != 1 or msat <= 0:
        raise PayoutError("that Lightning invoice asks for a fraction of a millisatoshi")
    return chain, int(msat)


def address_is_mainnet(address: str) -> bool:
    """True for a mainnet bitcoin address; PayoutError for one that does not decode."""
    from embit.script import address_to_scriptpubkey

    try:
        address_to_scriptpubkey(address)
    except Exception as err:
        raise PayoutError(
            f"{address} is not a valid bitcoin address (check it with the customer)"
        ) from err
    lower = address.lower()
    if lower.startswith(("bc1", "tb1", "bcrt1")):
        return lower.startswith("bc1")
    return address[0] in "13"  # base58: P2PKH 0x00 and P2SH 0x05 on mainnet


def check_destination(
    method: str,
    destination: str,
    amount: Money,
    paid: Mapping[str, Any],
    *,
    paid_invoice: str | None = None,
) -> dict[str, Any]:
    """The pending payout of ``amount`` going back by ``method`` to ``destination``, checked
    against the sale's ``paid`` payment entry (its on-chain address, its rate lock) and, for
    Lightning, the invoice the customer paid (``paid_invoice``: its chain). An LNURL's bech32 is
    decoded by the caller (wallet/lnurl.py)."""
    kind = payout_kind(method, destination)
    dest = clean_destination(destination)
    if kind == "address":
        on_main = address_is_mainnet(dest)
        if paid.get("address") and address_is_mainnet(str(paid["address"])) != on_main:
            raise PayoutError(_other_chain(on_main))
    elif kind == "tron_address":
        _check_tron_address(dest)
    elif kind == "bolt11":
        chain, msat = invoice_hrp(dest)
        paid_chain = invoice_hrp(paid_invoice)[0] if paid_invoice is not None else chain
        if paid_chain != chain:
            raise PayoutError(
                f"that invoice is for {_CHAIN_NAMES[chain]}, but the customer paid on"
                f" {_CHAIN_NAMES[paid_chain]}: ask again"
            )
        if msat is not None:
            _check_invoice_amount(msat, amount, paid)
    return {"kind": kind, "destination": dest, "status": "pending"}


def _check_tron_address(address: str) -> None:
    """A TRON address whose base58check checksum and 0x41 prefix hold; PayoutError if not."""
    from embit.base58 import decode_check

    try:
        raw = decode_check(address)
    except Exception as err:
        raise PayoutError(
            f"{address} is not a valid TRON address (check it with the customer)"
        ) from err
    if len(raw) != 21 or raw[0] != 0x41:
        raise PayoutError(f"{address} is not a TRON address (check it with the customer)")


def _other_chain(destination_on_main: bool) -> str:
    # Base58 addresses cannot tell testnet, signet and regtest apart: only mainnet or not.
    given, paid = ("mainnet", "a test network") if destination_on_main else ("test", "mainnet")
    return f"that is a {given} destination, but the customer paid on {paid}: ask again"


def _check_invoice_amount(msat: int, amount: Money, paid: Mapping[str, Any]) -> None:
    rate = (paid.get("rate") or {}).get("rate")
    if rate is None:
        raise PayoutError(
            "this sale has no rate lock to price an invoice amount: ask for an invoice without"
            " an amount"
        )
    worth = fiat_to_msat(amount, Decimal(str(rate)))
    sats, asked = -(-worth // 1000), msat // 1000
    if msat > worth:
        raise PayoutError(
            f"the invoice asks {asked:,} sats but the refund of {amount} is {sats:,} sats at the"
            f" sale's rate: ask for {sats:,} sats, or an invoice without an amount"
        )
    if msat < worth * INVOICE_MIN_SHARE:
        raise PayoutError(
            f"the invoice asks only {asked:,} sats for a refund worth {sats:,} sats: ask for"
            f" {sats:,} sats, or an invoice without an amount"
        )


def payout_body(
    refund: Mapping[str, Any], method: str, proof: str, by: Mapping[str, str]
) -> dict[str, Any]:
    """The ``payout`` record for the ``method`` payout of ``refund`` (a refund record's body, or
    a split sale's give-back, named by its sale id): ``proof`` is the on-chain transaction id,
    or the Lightning payment's preimage or hash (64 hex digits), as the merchant's wallet shows
    it; ``by``: who says it was paid."""
    refund_id = refund.get("refund_id", refund["sale_id"])
    entry = next((p for p in refund["payments"] if p["method"] == method and p.get("payout")), None)
    if entry is None:
        raise PayoutError(f"refund {refund_id} owes nothing by {method}")
    text = proof.strip().lower()
    if not _PROOF.match(text):
        what = "transaction id" if method != "lightning" else "payment preimage or hash"
        raise PayoutError(f"the proof must be the {what}: 64 hexadecimal digits")
    return {
        "refund_id": refund_id,
        "sale_id": refund["sale_id"],
        "method": method,
        "amount": entry["amount"],
        "currency": refund["currency"],
        "destination": entry["payout"]["destination"],
        "proof": text,
        "by": dict(by),
    }
