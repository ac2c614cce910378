"""Bitcoin payments as the screens name them (payments/bitcoin.py runs the checkouts). Imported
only where bitcoin payments are set up: it loads the wallet and the Lightning clients."""

from __future__ import annotations

from appliance.payments.bitcoin import BitcoinPayments, Offer, PaymentUnavailable, Status
from appliance.wallet.lnurl import LnurlError

__all__ = ["BitcoinPayments", "LnurlError", "Offer", "PaymentUnavailable", "Status"]
