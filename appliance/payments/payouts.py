"""What a bitcoin refund needs to know of the payment it gives back: the Lightning invoice the
customer paid, and whether an LNURL they give decodes. The wallet is imported only when asked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiosqlite

from appliance.store import lightning as ln_store


async def paid_invoice(
    conn: aiosqlite.Connection, paid: Mapping[str, Any], sale_id: str
) -> str | None:
    """The BOLT11 a Lightning payment paid: named by hash (a split part's is its checkout's,
    not the sale's); otherwise the sale's own invoice still tells which chain it was on."""
    from appliance.wallet.lightning import sale_label

    if paid.get("payment_hash"):
        invoice = await ln_store.by_payment_hash(conn, str(paid["payment_hash"]))
    else:
        invoice = await ln_store.get(conn, sale_label(sale_id))
    return invoice.bolt11 if invoice is not None else None


def lnurl_problem(text: str) -> str | None:
    """Why a bech32 LNURL does not decode, or None when it does."""
    from appliance.wallet.lnurl import LnurlError, decode_bech32_lnurl

    try:
        decode_bech32_lnurl(text)
    except LnurlError as err:
        return str(err)
    return None
