"""Settings for a till's card reader on the Stripe simulator (no tests here)."""

from __future__ import annotations

from appliance.config import CardSettings
from appliance.sim.stripe import DEFAULT_READER


def sim_card_settings(api_base: str, api_key: str) -> CardSettings:
    """The simulator's reader with short timeouts and polls, so tests wait little."""
    return CardSettings(
        kind="stripe_terminal",
        api_key=api_key,
        reader_id=DEFAULT_READER,
        api_base=api_base,
        timeout_s=2.0,
        retries=3,
        poll_s=0.02,
    )
